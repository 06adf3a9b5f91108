/*
 * The disclosure reader (ds_disclose.h): NDJSON query answers, line by
 * line.
 *
 * Each line is parsed whole (jansson, duplicates refused: a second "url"
 * is how a parser differential would smuggle a cloud URL past the
 * rewriting) and must be one action object. Lines the reader leaves as
 * they are go out byte for byte; rewritten lines are re-serialized.
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ds_disclose.h"


struct ds_disclose_s {
    ds_disclose_conf_t   conf;
    ds_disclosure_t     *out;

    char                *line;          /* a line not ended yet */
    size_t               line_len;
    size_t               line_size;

    char                *pend;          /* checked bytes, not taken */
    size_t               pend_off;
    size_t               pend_len;
    size_t               pend_size;

    unsigned             failed:1;
};


typedef enum {
    DS_DC_SAME = 0,
    DS_DC_CHANGED,
    DS_DC_CUT
} ds_dc_rc_e;


/* what the writer of a file action must know of its wrapper */
typedef enum {
    DS_DC_FILE = 0,
    DS_DC_ADD,
    DS_DC_CDF,
    DS_DC_REMOVE
} ds_dc_kind_e;


static ds_dc_rc_e ds_dc_line(ds_disclose_t *d, json_t *root);
static ds_dc_rc_e ds_dc_action(ds_disclose_t *d, json_t *act,
    ds_dc_kind_e kind);
static ds_dc_rc_e ds_dc_seal(ds_disclose_t *d, json_t *outer, json_t *inner,
    const char *url_key, const char *url, int64_t expires);
static void ds_dc_stats(ds_disclose_t *d, json_t *stats);
static void ds_dc_partitions(ds_disclose_t *d, json_t *pv);
static ds_dc_rc_e ds_dc_metadata(ds_disclose_t *d, json_t *md);
static ds_dc_rc_e ds_dc_end_stream(ds_disclose_t *d, json_t *esa);
static int ds_dc_process(ds_disclose_t *d, const char *s, size_t len,
    int nl);
static int ds_dc_emit(ds_disclose_t *d, const char *s, size_t len, int nl);
static int ds_dc_cut(ds_disclose_t *d, const char *why);


ds_disclose_t *
ds_disclose_new(const ds_disclose_conf_t *conf, ds_disclosure_t *out)
{
    ds_disclose_t  *d;

    d = calloc(1, sizeof(ds_disclose_t));
    if (d == NULL) {
        return NULL;
    }

    d->conf = *conf;
    if (d->conf.max_line == 0) {
        d->conf.max_line = DS_DISCLOSE_LINE_DEFAULT;
    }

    d->out = out;

    return d;
}


void
ds_disclose_free(ds_disclose_t *d)
{
    if (d == NULL) {
        return;
    }

    free(d->line);
    free(d->pend);
    free(d);
}


int
ds_disclose_feed(ds_disclose_t *d, const char *p, size_t n)
{
    size_t       seg;
    const char  *nl;
    char        *line;

    if (d->failed) {
        return -1;
    }

    while (n) {
        nl = memchr(p, '\n', n);
        seg = nl ? (size_t) (nl - p) : n;

        if (d->line_len + seg > d->conf.max_line) {
            return ds_dc_cut(d, "a line is longer than the line limit");
        }

        if (nl && d->line_len == 0) {
            /* the usual case: a whole line within one buffer */
            if (ds_dc_process(d, p, seg, 1) != 0) {
                return -1;
            }

        } else {
            if (d->line_len + seg > d->line_size) {
                line = realloc(d->line, d->line_len + seg);
                if (line == NULL) {
                    return ds_dc_cut(d, "out of memory");
                }
                d->line = line;
                d->line_size = d->line_len + seg;
            }

            memcpy(d->line + d->line_len, p, seg);
            d->line_len += seg;

            if (nl == NULL) {
                return 0;
            }

            if (ds_dc_process(d, d->line, d->line_len, 1) != 0) {
                return -1;
            }

            d->line_len = 0;
        }

        p += seg + 1;
        n -= seg + 1;
    }

    return 0;
}


int
ds_disclose_finish(ds_disclose_t *d)
{
    if (d->failed) {
        return -1;
    }

    if (d->line_len == 0) {
        return 0;
    }

    if (ds_dc_process(d, d->line, d->line_len, 0) != 0) {
        return -1;
    }

    d->line_len = 0;

    return 0;
}


const char *
ds_disclose_pending(const ds_disclose_t *d, size_t *len)
{
    *len = d->pend_len - d->pend_off;

    return *len ? d->pend + d->pend_off : "";
}


void
ds_disclose_take(ds_disclose_t *d, size_t n)
{
    d->pend_off += n;

    if (d->pend_off >= d->pend_len) {
        d->pend_off = 0;
        d->pend_len = 0;
    }
}


const char *
ds_disclose_format_name(ds_disclose_format_t f)
{
    switch (f) {
    case DS_DF_PARQUET:
        return "parquet";
    case DS_DF_DELTA:
        return "delta";
    default:
        return NULL;
    }
}


/* one line, without its '\n' (nl: it had one) */
static int
ds_dc_process(ds_disclose_t *d, const char *s, size_t len, int nl)
{
    char          *text;
    size_t         i;
    json_t        *root;
    ds_dc_rc_e     rc;
    json_error_t   err;

    for (i = 0; i < len; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') {
            break;
        }
    }

    if (i == len) {
        /* blank lines carry nothing; clients skip them */
        return ds_dc_emit(d, s, len, nl);
    }

    root = json_loadb(s, len, JSON_REJECT_DUPLICATES, &err);
    if (root == NULL) {
        return ds_dc_cut(d, "a line is not JSON");
    }

    d->out->lines++;

    rc = ds_dc_line(d, root);

    if (rc == DS_DC_CUT) {
        json_decref(root);
        return -1;
    }

    if (rc == DS_DC_SAME) {
        json_decref(root);
        return ds_dc_emit(d, s, len, nl);
    }

    text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);

    if (text == NULL) {
        return ds_dc_cut(d, "out of memory");
    }

    rc = ds_dc_emit(d, text, strlen(text), nl);
    free(text);

    return rc;
}


static ds_dc_rc_e
ds_dc_line(ds_disclose_t *d, json_t *root)
{
    const char  *key;
    json_t      *v;

    if (!json_is_object(root) || json_object_size(root) != 1) {
        ds_dc_cut(d, "a line is not one action");
        return DS_DC_CUT;
    }

    key = json_object_iter_key(json_object_iter(root));
    v = json_object_get(root, key);

    if (strcmp(key, "file") == 0) {
        return ds_dc_action(d, v, DS_DC_FILE);
    }

    if (strcmp(key, "add") == 0) {
        return ds_dc_action(d, v, DS_DC_ADD);
    }

    if (strcmp(key, "cdf") == 0) {
        return ds_dc_action(d, v, DS_DC_CDF);
    }

    if (strcmp(key, "remove") == 0) {
        return ds_dc_action(d, v, DS_DC_REMOVE);
    }

    if (strcmp(key, "metaData") == 0) {
        return ds_dc_metadata(d, v);
    }

    if (strcmp(key, "endStreamAction") == 0) {
        return ds_dc_end_stream(d, v);
    }

    if (strcmp(key, "protocol") == 0) {
        if (json_is_object(v) && json_object_get(v, "deltaProtocol")) {
            d->out->format = DS_DF_DELTA;
        }
        return DS_DC_SAME;
    }

    if (strcmp(key, "queryStatus") == 0) {
        return DS_DC_SAME;
    }

    if (d->conf.ring) {
        /* it might carry a URL that would go out unreplaced */
        ds_dc_cut(d, "a line of a kind the file proxy does not know");
        return DS_DC_CUT;
    }

    return DS_DC_SAME;
}


/*
 * A file handed out. Parquet format: the action object holds "url" and
 * the rest; delta format: {"file": {"id", "expirationTimestamp",
 * "version", "deltaSingleAction": {"add"|"cdc"|"remove": {"path",
 * "size", "stats", "partitionValues"}}}}.
 */
static ds_dc_rc_e
ds_dc_action(ds_disclose_t *d, json_t *act, ds_dc_kind_e kind)
{
    int64_t           exp, ver;
    json_t           *inner, *dsa, *url, *v;
    const char       *url_key, *key;
    ds_disclosure_t  *o;

    o = d->out;

    if (!json_is_object(act)) {
        ds_dc_cut(d, "a file action is not an object");
        return DS_DC_CUT;
    }

    inner = act;
    url_key = "url";

    dsa = json_object_get(act, "deltaSingleAction");

    if (dsa) {
        if (!json_is_object(dsa) || json_object_size(dsa) != 1) {
            ds_dc_cut(d, "a deltaSingleAction is not one action");
            return DS_DC_CUT;
        }

        key = json_object_iter_key(json_object_iter(dsa));
        inner = json_object_get(dsa, key);

        if (!json_is_object(inner)) {
            ds_dc_cut(d, "a deltaSingleAction is not an object");
            return DS_DC_CUT;
        }

        if (strcmp(key, "add") == 0) {
            kind = DS_DC_ADD;
        } else if (strcmp(key, "cdc") == 0) {
            kind = DS_DC_CDF;
        } else if (strcmp(key, "remove") == 0) {
            kind = DS_DC_REMOVE;
        } else if (d->conf.ring) {
            ds_dc_cut(d, "a delta action the file proxy does not know");
            return DS_DC_CUT;
        } else {
            return DS_DC_SAME;
        }

        url_key = "path";
        o->format = DS_DF_DELTA;

    } else if (o->format == DS_DF_UNKNOWN) {
        o->format = DS_DF_PARQUET;
    }

    switch (kind) {
    case DS_DC_FILE:
        o->n_file++;
        break;
    case DS_DC_ADD:
        o->n_add++;
        break;
    case DS_DC_CDF:
        o->n_cdf++;
        break;
    default:
        o->n_remove++;
    }

    v = json_object_get(inner, "size");
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        o->bytes += json_integer_value(v);
    }

    ds_dc_stats(d, json_object_get(inner, "stats"));
    ds_dc_partitions(d, json_object_get(inner, "partitionValues"));

    v = json_object_get(act, "version");
    if (json_is_integer(v)) {
        ver = json_integer_value(v);
        if (!o->has_versions || ver < o->version_min) {
            o->version_min = ver;
        }
        if (!o->has_versions || ver > o->version_max) {
            o->version_max = ver;
        }
        o->has_versions = 1;
    }

    v = json_object_get(act, "expirationTimestamp");
    exp = json_is_integer(v) ? json_integer_value(v) : 0;

    url = json_object_get(inner, url_key);

    if (url == NULL && kind == DS_DC_REMOVE) {
        /* a removed file named without a link: nothing handed out */
        return DS_DC_SAME;
    }

    if (!json_is_string(url)) {
        ds_dc_cut(d, "a file action without a URL");
        return DS_DC_CUT;
    }

    o->files++;

    if (d->conf.ring) {
        return ds_dc_seal(d, act, inner, url_key, json_string_value(url),
                          exp);
    }

    if (exp > 0) {
        if (o->exposed_until == 0 || exp > o->exposed_until) {
            o->exposed_until = exp;
        }
        if (o->expires_first == 0 || exp < o->expires_first) {
            o->expires_first = exp;
        }
    }

    return DS_DC_SAME;
}


/* the URL becomes prefix + capability, the expiry the capability's */
static ds_dc_rc_e
ds_dc_seal(ds_disclose_t *d, json_t *outer, json_t *inner,
    const char *url_key, const char *url, int64_t expires)
{
    char             *buf;
    size_t            size, len;
    json_t           *id;
    ds_cap_claims_t   c;
    ds_cap_result_t   rc;
    ds_disclosure_t  *o;

    id = json_object_get(outer, "id");
    if (!json_is_string(id)) {
        ds_dc_cut(d, "a file action without an id");
        return DS_DC_CUT;
    }

    c = d->conf.base;
    c.file_id = json_string_value(id);
    c.file_id_len = json_string_length(id);
    c.url = url;
    c.url_len = strlen(url);
    c.expires_ms = d->conf.now_ms + d->conf.max_ttl_ms;

    if (expires > 0 && expires < c.expires_ms) {
        c.expires_ms = expires;
    }

    size = ds_cap_sealed_size(&c);
    buf = malloc(d->conf.prefix_len + size);
    if (buf == NULL) {
        ds_dc_cut(d, "out of memory");
        return DS_DC_CUT;
    }

    memcpy(buf, d->conf.prefix, d->conf.prefix_len);

    rc = ds_cap_seal(d->conf.ring, &c, buf + d->conf.prefix_len, size, &len);

    if (rc != DS_CAP_OK
        || json_object_set_new(inner, url_key,
                               json_stringn(buf, d->conf.prefix_len + len))
           != 0
        || json_object_set_new(outer, "expirationTimestamp",
                               json_integer(c.expires_ms))
           != 0)
    {
        free(buf);
        ds_dc_cut(d, "a file link could not be sealed");
        return DS_DC_CUT;
    }

    free(buf);

    o = d->out;
    o->proxied = 1;

    if (o->exposed_until == 0 || c.expires_ms > o->exposed_until) {
        o->exposed_until = c.expires_ms;
    }

    if (o->expires_first == 0 || c.expires_ms < o->expires_first) {
        o->expires_first = c.expires_ms;
    }

    return DS_DC_CHANGED;
}


/* stats is JSON in a string; numRecords is what the audit wants */
static void
ds_dc_stats(ds_disclose_t *d, json_t *stats)
{
    json_t  *j, *n;

    if (!json_is_string(stats)) {
        return;
    }

    j = json_loadb(json_string_value(stats), json_string_length(stats), 0,
                   NULL);
    if (j == NULL) {
        return;
    }

    n = json_object_get(j, "numRecords");

    if (json_is_integer(n) && json_integer_value(n) >= 0) {
        d->out->records += json_integer_value(n);
        d->out->has_records = 1;
    }

    json_decref(j);
}


static void
ds_dc_partitions(ds_disclose_t *d, json_t *pv)
{
    size_t            i, klen, vlen;
    const char       *key, *val;
    json_t           *v;
    ds_disclosure_t  *o;
    char              pair[DS_DISCLOSE_PARTITION_LEN + 1];

    if (!json_is_object(pv)) {
        return;
    }

    o = d->out;

    json_object_foreach(pv, key, v) {
        val = json_is_string(v) ? json_string_value(v) : "null";
        klen = strlen(key);
        vlen = strlen(val);

        if (klen > DS_DISCLOSE_PARTITION_LEN - 1) {
            klen = DS_DISCLOSE_PARTITION_LEN - 1;
        }
        if (vlen > DS_DISCLOSE_PARTITION_LEN - 1 - klen) {
            vlen = DS_DISCLOSE_PARTITION_LEN - 1 - klen;
        }

        memcpy(pair, key, klen);
        pair[klen] = '=';
        memcpy(pair + klen + 1, val, vlen);
        pair[klen + 1 + vlen] = '\0';

        for (i = 0; i < o->npartitions; i++) {
            if (strcmp(o->partitions[i], pair) == 0) {
                break;
            }
        }

        if (i < o->npartitions) {
            continue;
        }

        if (o->npartitions == DS_DISCLOSE_PARTITIONS_MAX) {
            o->partitions_capped = 1;
            continue;
        }

        memcpy(o->partitions[o->npartitions++], pair,
               klen + 1 + vlen + 1);
    }
}


static ds_dc_rc_e
ds_dc_metadata(ds_disclose_t *d, json_t *md)
{
    size_t   i;
    json_t  *modes, *m;
    int      changed;

    if (!json_is_object(md)) {
        return DS_DC_SAME;
    }

    if (json_object_get(md, "deltaMetadata")) {
        d->out->format = DS_DF_DELTA;
    }

    if (!d->conf.strip_dir) {
        return DS_DC_SAME;
    }

    modes = json_object_get(md, "accessModes");
    if (!json_is_array(modes)) {
        return DS_DC_SAME;
    }

    changed = 0;

    for (i = 0; i < json_array_size(modes); /* void */) {
        m = json_array_get(modes, i);

        if (json_is_string(m) && strcmp(json_string_value(m), "dir") == 0) {
            json_array_remove(modes, i);
            changed = 1;
            continue;
        }

        i++;
    }

    return changed ? DS_DC_CHANGED : DS_DC_SAME;
}


/* the page's earliest link expiry is the capabilities' */
static ds_dc_rc_e
ds_dc_end_stream(ds_disclose_t *d, json_t *esa)
{
    if (!d->conf.ring || !json_is_object(esa) || d->out->expires_first == 0
        || json_object_get(esa, "minUrlExpirationTimestamp") == NULL)
    {
        return DS_DC_SAME;
    }

    if (json_object_set_new(esa, "minUrlExpirationTimestamp",
                            json_integer(d->out->expires_first))
        != 0)
    {
        ds_dc_cut(d, "out of memory");
        return DS_DC_CUT;
    }

    return DS_DC_CHANGED;
}


static int
ds_dc_emit(ds_disclose_t *d, const char *s, size_t len, int nl)
{
    char    *p;
    size_t   need, size;

    if (d->pend_off) {
        memmove(d->pend, d->pend + d->pend_off, d->pend_len - d->pend_off);
        d->pend_len -= d->pend_off;
        d->pend_off = 0;
    }

    need = d->pend_len + len + (nl ? 1 : 0);

    if (need > d->pend_size) {
        size = d->pend_size ? d->pend_size : 4096;
        while (size < need) {
            size *= 2;
        }

        p = realloc(d->pend, size);
        if (p == NULL) {
            return ds_dc_cut(d, "out of memory");
        }

        d->pend = p;
        d->pend_size = size;
    }

    memcpy(d->pend + d->pend_len, s, len);
    d->pend_len += len;

    if (nl) {
        d->pend[d->pend_len++] = '\n';
    }

    return 0;
}


static int
ds_dc_cut(ds_disclose_t *d, const char *why)
{
    if (!d->failed) {
        d->failed = 1;
        d->out->cut = why;
    }

    return -1;
}
