/*
 * Policy reader: files and directories -> one JSON stream per file ->
 * recipients, one at a time, to the model builder.
 *
 * The top level ({"version": 1, "recipients": [...]}) is walked here
 * and jansson parses one recipient at a time, so a 100,000-recipient
 * policy never exists as one JSON tree: memory stays near the size of
 * the built model and allocations stay hot in the cache.
 */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "ds_hex.h"
#include "ds_policy_load.h"


#define DS_FILE_MAX    (256 * 1024 * 1024)
#define DS_JSON_FLAGS  (JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK \
                        | JSON_DECODE_ANY)

typedef struct {
    const char  *data;
    size_t       len;
    size_t       pos;
} ds_stream_t;


/* nread: bytes consumed up to and including the offending one */
static int
ds_syntax(ds_ld_t *ld, ds_stream_t *s, size_t nread, const char *msg)
{
    size_t  i, line, col;

    line = 1;
    col = 0;

    if (nread > s->len) {
        nread = s->len;
    }

    /* as jansson counts: lines from 1, characters (not bytes) from 1 */
    for (i = 0; i < nread; i++) {
        if (s->data[i] == '\n') {
            line++;
            col = 0;
        } else if (((unsigned char) s->data[i] & 0xc0) != 0x80) {
            col++;
        }
    }

    snprintf(ld->err, ld->err_size, "%s:%zu:%zu: syntax error: %s",
             ld->file, line, col, msg);

    return -1;
}


static void
ds_ws(ds_stream_t *s)
{
    while (s->pos < s->len
           && (s->data[s->pos] == ' ' || s->data[s->pos] == '\t'
               || s->data[s->pos] == '\n' || s->data[s->pos] == '\r'))
    {
        s->pos++;
    }
}


/* the next non-blank byte, or -1 at the end */
static int
ds_peek(ds_stream_t *s)
{
    ds_ws(s);
    return s->pos < s->len ? (unsigned char) s->data[s->pos] : -1;
}


static int
ds_expect(ds_ld_t *ld, ds_stream_t *s, char c, const char *msg)
{
    if (ds_peek(s) != c) {
        return ds_syntax(ld, s, s->pos + 1, msg);
    }

    s->pos++;
    return 0;
}


static json_t *
ds_value(ds_ld_t *ld, ds_stream_t *s)
{
    json_error_t   e;
    json_t        *v;

    ds_ws(s);

    v = json_loadb(s->data + s->pos, s->len - s->pos, DS_JSON_FLAGS, &e);
    if (v == NULL) {
        ds_syntax(ld, s, s->pos + e.position, e.text);
        return NULL;
    }

    s->pos += e.position;
    return v;
}


static int
ds_recipients(ds_ld_t *ld, ds_stream_t *s)
{
    ds_policy_t      *p;
    ds_recipient_t   *r, **list;
    json_t           *v;
    long              i;
    int               c, rc;
    size_t            base;

    p = ld->p;
    ld->jlen = 1;
    ds_ld_push(ld, "recipients", 0);
    base = ld->jlen;

    if (ds_peek(s) != '[') {
        return ds_ld_fail(ld, "must be an array");
    }

    s->pos++;

    if (ds_peek(s) == ']') {
        s->pos++;
        return 0;
    }

    for (i = 0; /* void */; i++) {
        v = ds_value(ld, s);
        if (v == NULL) {
            return -1;
        }

        ld->jlen = base;
        ds_ld_push(ld, NULL, i);

        if (p->nrecipients == p->cap_recipients) {
            p->cap_recipients = p->cap_recipients ? p->cap_recipients * 2
                                                  : 64;
            list = realloc(p->recipients,
                           p->cap_recipients * sizeof(ds_recipient_t *));
            if (list == NULL) {
                json_decref(v);
                return ds_ld_fail(ld, "out of memory");
            }
            p->recipients = list;
        }

        r = ds_arena_alloc(&p->arena, sizeof(ds_recipient_t));
        rc = r ? ds_ld_recipient(ld, v, r) : ds_ld_fail(ld, "out of memory");
        json_decref(v);

        if (rc != 0) {
            return -1;
        }

        p->recipients[p->nrecipients++] = r;

        c = ds_peek(s);

        if (c == ']') {
            s->pos++;
            return 0;
        }

        if (c != ',') {
            return ds_syntax(ld, s, s->pos + 1, "',' or ']' expected");
        }

        s->pos++;
    }
}


static int
ds_version(ds_ld_t *ld, ds_stream_t *s)
{
    json_t  *v;
    int      rc;

    v = ds_value(ld, s);
    if (v == NULL) {
        return -1;
    }

    ds_ld_push(ld, "version", 0);

    if (!json_is_integer(v)) {
        rc = ds_ld_fail(ld, "must be an integer");

    } else if (json_integer_value(v) != 1) {
        rc = ds_ld_fail(ld, "unsupported version %lld (this build reads 1)",
                        (long long) json_integer_value(v));
    } else {
        rc = 0;
    }

    json_decref(v);
    ld->jlen = 1;

    return rc;
}


/*
 * A policy-wide setting may sit in any file of a directory; files that
 * repeat it must agree, so no file order can change it.
 */
static int
ds_max_lifetime(ds_ld_t *ld, ds_stream_t *s)
{
    json_t       *v;
    const char   *str;
    int64_t       ms;
    int           rc;
    ds_policy_t  *p;

    v = ds_value(ld, s);
    if (v == NULL) {
        return -1;
    }

    p = ld->p;
    ds_ld_push(ld, "token_max_lifetime", 0);
    str = json_string_value(v);

    if (str == NULL || ds_time_parse_duration(str, &ms) != 0 || ms <= 0) {
        rc = ds_ld_fail(ld, "must be a duration of more than 0 such as "
                        "\"365d\", \"52w\" or \"2160h\"");

    } else if (p->token_max_lifetime && p->token_max_lifetime != ms) {
        rc = ds_ld_fail(ld, "\"%s\" differs from \"%s\" in %s", str,
                        p->token_max_lifetime_text,
                        p->token_max_lifetime_source);

    } else if (p->token_max_lifetime == 0) {
        p->token_max_lifetime = ms;
        p->token_max_lifetime_source = ld->source;
        p->token_max_lifetime_text = ds_arena_strndup(&p->arena, str,
                                                      strlen(str));
        rc = p->token_max_lifetime_text ? 0
                                        : ds_ld_fail(ld, "out of memory");
    } else {
        rc = 0;
    }

    json_decref(v);
    ld->jlen = 1;

    return rc;
}


/* "classifications", "approvals", "issuers": one JSON value each */
static int
ds_setting(ds_ld_t *ld, ds_stream_t *s, const char *key)
{
    json_t  *v;
    int      rc;

    v = ds_value(ld, s);
    if (v == NULL) {
        return -1;
    }

    rc = (*key == 'c') ? ds_ld_classifications(ld, v)
         : (*key == 'i') ? ds_ld_issuers(ld, v)
                         : ds_ld_approvals(ld, v);

    json_decref(v);
    ld->jlen = 1;

    return rc;
}


/* {"version": 1, "recipients": [...]}, keys in any order */
static int
ds_document(ds_ld_t *ld, ds_stream_t *s)
{
    json_t       *k, *v;
    const char   *key;
    int           c, rc, version, recipients, lifetime;

    ld->jpath[0] = '$';
    ld->jlen = 1;

    if (ds_peek(s) != '{') {
        /* valid JSON of another shape is a meaning error, not syntax */
        v = ds_value(ld, s);
        if (v == NULL) {
            return -1;
        }

        json_decref(v);
        return ds_ld_fail(ld, "must be an object with \"version\" and "
                          "\"recipients\"");
    }

    s->pos++;
    version = 0;
    recipients = 0;
    lifetime = 0;
    c = ds_peek(s);

    while (c != '}') {
        if (c != '"') {
            return ds_syntax(ld, s, s->pos + 1, "string or '}' expected");
        }

        k = ds_value(ld, s);
        if (k == NULL) {
            return -1;
        }

        key = json_string_value(k);

        if (strcmp(key, "token_max_lifetime") == 0 && lifetime) {
            rc = ds_syntax(ld, s, s->pos, "duplicate object key near "
                           "'\"token_max_lifetime\"'");
            json_decref(k);
            return rc;
        }

        if ((strcmp(key, "version") == 0 && version)
            || (strcmp(key, "recipients") == 0 && recipients))
        {
            rc = ds_syntax(ld, s, s->pos, version && *key == 'v'
                           ? "duplicate object key near '\"version\"'"
                           : "duplicate object key near "
                             "'\"recipients\"'");
            json_decref(k);
            return rc;
        }

        if (ds_expect(ld, s, ':', "':' expected") != 0) {
            json_decref(k);
            return -1;
        }

        if (strcmp(key, "version") == 0) {
            version = 1;
            rc = ds_version(ld, s);

        } else if (strcmp(key, "recipients") == 0) {
            recipients = 1;
            rc = ds_recipients(ld, s);
            ld->jlen = 1;

        } else if (strcmp(key, "token_max_lifetime") == 0) {
            lifetime = 1;
            rc = ds_max_lifetime(ld, s);

        } else if (strcmp(key, "classifications") == 0
                   || strcmp(key, "approvals") == 0
                   || strcmp(key, "issuers") == 0)
        {
            rc = ds_setting(ld, s, key);

        } else {
            ds_ld_push(ld, key, 0);
            rc = ds_ld_fail(ld, "unknown field");
        }

        json_decref(k);

        if (rc != 0) {
            return -1;
        }

        c = ds_peek(s);

        if (c == ',') {
            s->pos++;
            c = ds_peek(s);
            if (c == '}') {
                return ds_syntax(ld, s, s->pos + 1, "string expected");
            }
            continue;
        }

        if (c != '}') {
            return ds_syntax(ld, s, s->pos + 1, "',' or '}' expected");
        }
    }

    s->pos++;

    if (ds_peek(s) != -1) {
        return ds_syntax(ld, s, s->pos + 1, "end of file expected");
    }

    if (!version) {
        return ds_ld_fail(ld, "missing required field \"version\"");
    }

    if (!recipients) {
        return ds_ld_fail(ld, "missing required field \"recipients\"");
    }

    return 0;
}


static const char *
ds_basename(const char *path)
{
    const char  *s;

    s = strrchr(path, '/');
    return s ? s + 1 : path;
}


/* one document: hash it into the digest, parse, build */
static int
ds_ld_buffer(ds_ld_t *ld, EVP_MD_CTX *md, const char *name,
    const char *data, size_t len)
{
    ds_stream_t  s;
    char         head[300];
    int          n;

    n = snprintf(head, sizeof(head), "%s\n%zu\n", ds_basename(name), len);
    EVP_DigestUpdate(md, head, n > 0 ? (size_t) n : 0);
    EVP_DigestUpdate(md, data, len);

    ld->file = name;
    ld->source = ds_arena_strndup(&ld->p->arena, name, strlen(name));
    if (ld->source == NULL) {
        snprintf(ld->err, ld->err_size, "%s: out of memory", name);
        return -1;
    }

    s.data = data;
    s.len = len;
    s.pos = 0;

    return ds_document(ld, &s);
}


/* mapped, not copied: a large policy costs no second buffer */
static int
ds_ld_file(ds_ld_t *ld, EVP_MD_CTX *md, const char *path)
{
    int          fd, rc;
    struct stat  st;
    void        *data;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        snprintf(ld->err, ld->err_size, "%s: cannot open: %s", path,
                 strerror(errno));
        return -1;
    }

    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(ld->err, ld->err_size, "%s: not a regular file", path);
        close(fd);
        return -1;
    }

    if (st.st_size > DS_FILE_MAX) {
        snprintf(ld->err, ld->err_size, "%s: larger than %d MB", path,
                 DS_FILE_MAX >> 20);
        close(fd);
        return -1;
    }

    if (st.st_size == 0) {
        close(fd);
        return ds_ld_buffer(ld, md, path, "", 0);
    }

    data = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);

    if (data == MAP_FAILED) {
        snprintf(ld->err, ld->err_size, "%s: cannot read: %s", path,
                 strerror(errno));
        return -1;
    }

    rc = ds_ld_buffer(ld, md, path, data, (size_t) st.st_size);
    munmap(data, (size_t) st.st_size);

    return rc;
}


static int
ds_ld_is_policy_file(const char *name)
{
    size_t  len;

    len = strlen(name);

    /* hidden and editor files */
    return len > 5 && name[0] != '.'
           && strcmp(name + len - 5, ".json") == 0;
}


static int
ds_cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}


static int
ds_ld_dir(ds_ld_t *ld, EVP_MD_CTX *md, const char *path)
{
    DIR            *d;
    struct dirent  *de;
    char          **names, **nn, full[4096];
    size_t          n, cap, i, plen;
    int             rc;

    d = opendir(path);
    if (d == NULL) {
        snprintf(ld->err, ld->err_size, "%s: cannot open: %s", path,
                 strerror(errno));
        return -1;
    }

    names = NULL;
    n = 0;
    cap = 0;
    rc = 0;

    while ((de = readdir(d)) != NULL) {
        if (!ds_ld_is_policy_file(de->d_name)) {
            continue;
        }

        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            nn = realloc(names, cap * sizeof(char *));
            if (nn == NULL) {
                rc = -1;
                break;
            }
            names = nn;
        }

        names[n] = strdup(de->d_name);
        if (names[n] == NULL) {
            rc = -1;
            break;
        }
        n++;
    }

    closedir(d);

    if (rc != 0) {
        snprintf(ld->err, ld->err_size, "%s: out of memory", path);
    } else if (n == 0) {
        snprintf(ld->err, ld->err_size, "%s: no *.json policy files", path);
        rc = -1;
    }

    if (rc == 0) {
        qsort(names, n, sizeof(char *), ds_cmp_names);
        plen = strlen(path);
        while (plen > 1 && path[plen - 1] == '/') {
            plen--;
        }
    }

    for (i = 0; rc == 0 && i < n; i++) {
        if (snprintf(full, sizeof(full), "%.*s/%s", (int) plen, path,
                     names[i]) >= (int) sizeof(full))
        {
            snprintf(ld->err, ld->err_size, "%s: path too long", path);
            rc = -1;
            break;
        }

        rc = ds_ld_file(ld, md, full);
    }

    for (i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);

    return rc;
}


/*
 * After every file: token_max_lifetime may come after the tokens, or
 * in another file. Checks only what holds whatever the clock says;
 * dsctl policy check also warns about tokens ending too far from now.
 */
static int
ds_ld_lifetimes(ds_ld_t *ld)
{
    ds_policy_t           *p;
    const ds_recipient_t  *r;
    const ds_token_t      *t;
    size_t                 i, j, k, n;

    p = ld->p;

    for (i = 0; i < p->nrecipients; i++) {
        r = p->recipients[i];

        for (j = 0; j < r->ntokens; j++) {
            t = &r->tokens[j];

            if (t->expires != DS_TIME_NONE
                && (t->not_before == DS_TIME_NONE
                    || t->expires - t->not_before <= p->token_max_lifetime))
            {
                continue;
            }

            /* the recipient's index in its own file, for the path */
            for (k = 0, n = 0; k < i; k++) {
                n += (p->recipients[k]->source == r->source);
            }

            snprintf(ld->err, ld->err_size, "%s: $.recipients[%zu]"
                     ".tokens[%zu].expires: %s token_max_lifetime \"%s\" "
                     "(in %s)%s", r->source, n, j,
                     t->expires == DS_TIME_NONE ? "required, as the policy "
                                                  "sets"
                                                : "more than",
                     p->token_max_lifetime_text,
                     p->token_max_lifetime_source,
                     t->expires == DS_TIME_NONE ? "" : " after not_before");
            return -1;
        }
    }

    return 0;
}


static ds_policy_t *
ds_ld_run(const char *path, const char *data, size_t len, char *err,
    size_t err_size)
{
    ds_ld_t            ld;
    ds_policy_t       *p;
    EVP_MD_CTX        *md;
    struct stat        st;
    unsigned char      d[DS_DIGEST_LEN];
    unsigned int       dlen;
    int                rc;

    memset(&ld, 0, sizeof(ld));
    ld.err = err;
    ld.err_size = err_size;
    err[0] = '\0';

    p = calloc(1, sizeof(ds_policy_t));
    md = EVP_MD_CTX_new();

    if (p == NULL || md == NULL || ds_index_init(p) != 0
        || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
    {
        snprintf(err, err_size, "%s: out of memory", path);
        EVP_MD_CTX_free(md);
        ds_policy_free(p);
        return NULL;
    }

    ld.p = p;

    if (data) {
        rc = ds_ld_buffer(&ld, md, path, data, len);

    } else if (stat(path, &st) != 0) {
        snprintf(err, err_size, "%s: cannot open: %s", path, strerror(errno));
        rc = -1;

    } else if (S_ISDIR(st.st_mode)) {
        rc = ds_ld_dir(&ld, md, path);

    } else {
        rc = ds_ld_file(&ld, md, path);
    }

    if (rc == 0 && p->token_max_lifetime) {
        rc = ds_ld_lifetimes(&ld);
    }

    if (rc == 0) {
        rc = ds_ld_check_approvals(&ld);
    }

    if (rc == 0) {
        rc = ds_ld_check_federation(&ld);
    }

    dlen = sizeof(d);
    if (rc == 0 && EVP_DigestFinal_ex(md, d, &dlen) != 1) {
        snprintf(err, err_size, "%s: digest failed", path);
        rc = -1;
    }

    EVP_MD_CTX_free(md);

    if (rc != 0) {
        ds_policy_free(p);
        return NULL;
    }

    ds_hex_encode(d, DS_DIGEST_LEN, p->digest);

    return p;
}


ds_policy_t *
ds_policy_load(const char *path, char *err, size_t err_size)
{
    return ds_ld_run(path, NULL, 0, err, err_size);
}


ds_policy_t *
ds_policy_load_buffer(const char *name, const char *data, size_t len,
    char *err, size_t err_size)
{
    return ds_ld_run(name, data ? data : "", len, err, err_size);
}
