/*
 * Delta Sharing request paths: method + raw URI -> operation and names.
 *
 * One left-to-right pass over the raw URI: split on '/', decode each
 * segment once into a bounded buffer, check it, classify it. No
 * allocation; work is O(uri_len); nothing past uri_len is read.
 * docs/paths.md explains the rules and why they are what they are.
 */

#include <string.h>

#include "ds_hex.h"
#include "ds_path.h"


/* the longest protocol path: shares/s/schemas/sc/tables/t/queries/id */
#define DS_SEG_MAX  8

#define DS_M_GET    0x01
#define DS_M_HEAD   0x02
#define DS_M_POST   0x04
#define DS_M_OTHER  0x08


/* fixed words, at even segment positions */
typedef enum {
    DS_W_OTHER = 0,
    DS_W_SHARES,
    DS_W_SCHEMAS,
    DS_W_TABLES,
    DS_W_ALL_TABLES,
    DS_W_VERSION,
    DS_W_METADATA,
    DS_W_QUERY,
    DS_W_CHANGES,
    DS_W_QUERIES,
    DS_W_TEMP_CREDENTIALS
} ds_word_t;


typedef struct {
    const char  *text;
    size_t       len;
    ds_word_t    word;
} ds_word_def_t;


#define ds_word(s, w)  { s, sizeof(s) - 1, w }

static const ds_word_def_t  ds_words[] = {
    ds_word("shares", DS_W_SHARES),
    ds_word("schemas", DS_W_SCHEMAS),
    ds_word("tables", DS_W_TABLES),
    ds_word("all-tables", DS_W_ALL_TABLES),
    ds_word("version", DS_W_VERSION),
    ds_word("metadata", DS_W_METADATA),
    ds_word("query", DS_W_QUERY),
    ds_word("changes", DS_W_CHANGES),
    ds_word("queries", DS_W_QUERIES),
    ds_word("temporary-table-credentials", DS_W_TEMP_CREDENTIALS)
};


static const char  *ds_op_names[DS_OP_COUNT] = {
    "unknown",
    "list_shares",
    "get_share",
    "list_schemas",
    "list_tables",
    "list_all_tables",
    "table_version",
    "table_metadata",
    "query_table",
    "query_changes",
    "query_poll",
    "temporary_table_credentials"
};


static const char  *ds_op_audit_names[DS_OP_COUNT] = {
    "unknown",
    "deltaSharingListShares",
    "deltaSharingGetShare",
    "deltaSharingListSchemas",
    "deltaSharingListTables",
    "deltaSharingListAllTables",
    "deltaSharingGetTableVersion",
    "deltaSharingGetTableMetadata",
    "deltaSharingQueryTable",
    "deltaSharingQueryTableChanges",
    "deltaSharingGetQueryInfo",
    "generateTemporaryTableCredential"
};


static const char  *ds_path_errors[] = {
    "ok",
    "not under the configured prefix",
    "not a Delta Sharing endpoint",
    "method not allowed for this endpoint",
    "bad percent-encoding",
    "slash or backslash inside a path segment",
    "control character in path",
    "empty path segment",
    "\".\" or \"..\" path segment",
    "name longer than 255 bytes",
    "name not allowed by the protocol"
};


/*
 * Strict UTF-8 (Unicode 3.9, table 3-7): no overlong forms, no
 * surrogates, nothing above U+10FFFF. Upstreams in Java replace bad
 * bytes with U+FFFD, so two different byte strings could name the same
 * object there; rejecting them keeps gateway and upstream in agreement.
 */
static int
ds_utf8_valid(const unsigned char *s, size_t len)
{
    size_t         i, n, k;
    unsigned char  c, lo, hi;

    i = 0;

    while (i < len) {
        c = s[i];

        if (c < 0x80) {
            i++;
            continue;
        }

        lo = 0x80;
        hi = 0xBF;

        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;

        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            if (c == 0xE0) {
                lo = 0xA0;
            } else if (c == 0xED) {
                hi = 0x9F;
            }

        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            if (c == 0xF0) {
                lo = 0x90;
            } else if (c == 0xF4) {
                hi = 0x8F;
            }

        } else {
            return 0;
        }

        if (len - i - 1 < n) {
            return 0;
        }

        for (k = 1; k <= n; k++) {
            c = s[i + k];

            if (c < lo || c > hi) {
                return 0;
            }

            lo = 0x80;
            hi = 0xBF;
        }

        i += n + 1;
    }

    return 1;
}


/*
 * Decode one raw segment (seg, len >= 1) into buf (DS_NAME_MAX + 1
 * bytes), NUL-terminated. Checks every rule that applies to any
 * segment; the '.' rule for schema and table names is checked later,
 * once the shape says which segment is which.
 */
static ds_path_err_t
ds_segment_decode(const char *seg, size_t len, char *buf, size_t *out_len)
{
    size_t         i, n;
    int            h, l;
    unsigned char  c;

    n = 0;

    for (i = 0; i < len; i++) {
        c = (unsigned char) seg[i];

        if (c == '%') {
            if (len - i < 3) {
                return DS_PATH_BAD_PERCENT;
            }

            h = ds_hex_digit((unsigned char) seg[i + 1]);
            l = ds_hex_digit((unsigned char) seg[i + 2]);

            if (h < 0 || l < 0) {
                return DS_PATH_BAD_PERCENT;
            }

            c = (unsigned char) (h << 4 | l);
            i += 2;

            if (c == '/' || c == '\\') {
                return DS_PATH_ENCODED_SLASH;
            }

        } else if (c == '\\') {
            /* some upstreams treat a raw backslash as a separator */
            return DS_PATH_ENCODED_SLASH;

        } else if (c == '#') {
            /* a raw '#' starts a fragment for many upstreams */
            return DS_PATH_BAD_NAME;
        }

        if (c < 0x20 || c == 0x7F) {
            return DS_PATH_CONTROL_CHAR;
        }

        if (c == ' ') {
            return DS_PATH_BAD_NAME;
        }

        if (n == DS_NAME_MAX) {
            return DS_PATH_NAME_TOO_LONG;
        }

        buf[n++] = (char) c;
    }

    buf[n] = '\0';
    *out_len = n;

    if ((n == 1 && buf[0] == '.') || (n == 2 && buf[0] == '.'
                                      && buf[1] == '.'))
    {
        return DS_PATH_DOT_SEGMENT;
    }

    if (!ds_utf8_valid((const unsigned char *) buf, n)) {
        return DS_PATH_BAD_NAME;
    }

    return DS_PATH_OK;
}


static ds_word_t
ds_word_of(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < sizeof(ds_words) / sizeof(ds_words[0]); i++) {
        if (ds_words[i].len == len && memcmp(ds_words[i].text, s, len) == 0)
        {
            return ds_words[i].word;
        }
    }

    return DS_W_OTHER;
}


static unsigned
ds_method_of(const char *m, size_t len)
{
    if (m == NULL) {
        return DS_M_OTHER;
    }

    if (len == 3 && memcmp(m, "GET", 3) == 0) {
        return DS_M_GET;
    }

    if (len == 4 && memcmp(m, "HEAD", 4) == 0) {
        return DS_M_HEAD;
    }

    if (len == 4 && memcmp(m, "POST", 4) == 0) {
        return DS_M_POST;
    }

    return DS_M_OTHER;
}


/* the operation and its allowed methods for a segment shape */
static ds_op_t
ds_shape(size_t nseg, const ds_word_t *w, unsigned *methods)
{
    *methods = DS_M_GET;

    if (nseg == 0 || w[0] != DS_W_SHARES) {
        return DS_OP_UNKNOWN;
    }

    switch (nseg) {

    case 1:
        return DS_OP_LIST_SHARES;

    case 2:
        return DS_OP_GET_SHARE;

    case 3:
        if (w[1] == DS_W_SCHEMAS) {
            return DS_OP_LIST_SCHEMAS;
        }

        if (w[1] == DS_W_ALL_TABLES) {
            return DS_OP_LIST_ALL_TABLES;
        }

        return DS_OP_UNKNOWN;

    default:
        break;
    }

    if (w[1] != DS_W_SCHEMAS || nseg < 5 || w[2] != DS_W_TABLES) {
        return DS_OP_UNKNOWN;
    }

    switch (nseg) {

    case 5:
        return DS_OP_LIST_TABLES;

    case 6:
        /* the older, deprecated form of the version call */
        *methods = DS_M_HEAD;
        return DS_OP_TABLE_VERSION;

    case 7:
        switch (w[3]) {

        case DS_W_VERSION:
            *methods = DS_M_GET | DS_M_HEAD;
            return DS_OP_TABLE_VERSION;

        case DS_W_METADATA:
            return DS_OP_TABLE_METADATA;

        case DS_W_QUERY:
            *methods = DS_M_POST;
            return DS_OP_QUERY_TABLE;

        case DS_W_CHANGES:
            return DS_OP_QUERY_CHANGES;

        case DS_W_TEMP_CREDENTIALS:
            *methods = DS_M_POST;
            return DS_OP_TEMP_CREDENTIALS;

        default:
            return DS_OP_UNKNOWN;
        }

    case 8:
        if (w[3] == DS_W_QUERIES) {
            *methods = DS_M_POST;
            return DS_OP_QUERY_POLL;
        }

        return DS_OP_UNKNOWN;

    default:
        return DS_OP_UNKNOWN;
    }
}


static const char *
ds_allow_header(unsigned methods)
{
    switch (methods) {
    case DS_M_GET | DS_M_HEAD:
        return "GET, HEAD";
    case DS_M_HEAD:
        return "HEAD";
    case DS_M_POST:
        return "POST";
    default:
        return "GET";
    }
}


static void
ds_path_clear(ds_path_t *out)
{
    out->op = DS_OP_UNKNOWN;
    out->share_len = 0;
    out->schema_len = 0;
    out->table_len = 0;
    out->query_id_len = 0;
    out->share[0] = '\0';
    out->schema[0] = '\0';
    out->table[0] = '\0';
    out->query_id[0] = '\0';
    out->allow = NULL;
}


static ds_path_err_t
ds_path_fail(ds_path_t *out, ds_path_err_t err)
{
    ds_path_clear(out);
    return err;
}


ds_path_err_t
ds_path_parse(const char *method, size_t mlen, const char *uri,
    size_t uri_len, const char *prefix, size_t prefix_len, ds_path_t *out)
{
    char           *name, tmp[DS_NAME_MAX + 1];
    size_t          path_len, seg_len, dlen, nseg, *name_len;
    unsigned        methods;
    ds_op_t         op;
    ds_word_t       words[DS_SEG_MAX / 2];
    const char     *p, *end, *q, *slash;
    ds_path_err_t   rc;

    ds_path_clear(out);
    memset(words, 0, sizeof(words));

    if (uri == NULL) {
        return DS_PATH_NOT_UNDER_PREFIX;
    }

    if (prefix == NULL) {
        prefix_len = 0;
    }

    /* a configured "/delta-sharing/" means the same as "/delta-sharing" */
    while (prefix_len > 0 && prefix[prefix_len - 1] == '/') {
        prefix_len--;
    }

    q = memchr(uri, '?', uri_len);
    path_len = q ? (size_t) (q - uri) : uri_len;

    if (path_len < prefix_len
        || (prefix_len && memcmp(uri, prefix, prefix_len) != 0))
    {
        return DS_PATH_NOT_UNDER_PREFIX;
    }

    p = uri + prefix_len;
    end = uri + path_len;

    if (p == end) {
        /* the prefix itself: under it, but not a call */
        return prefix_len ? DS_PATH_UNKNOWN_ENDPOINT
                          : DS_PATH_NOT_UNDER_PREFIX;
    }

    if (*p != '/') {
        return DS_PATH_NOT_UNDER_PREFIX;      /* "/delta-sharingX/..." */
    }

    p++;
    nseg = 0;

    for ( ;; ) {
        slash = memchr(p, '/', (size_t) (end - p));
        seg_len = (size_t) ((slash ? slash : end) - p);

        if (seg_len == 0) {
            return ds_path_fail(out, DS_PATH_EMPTY_SEGMENT);
        }

        /* names go straight into out; everything else into tmp */
        name = tmp;
        name_len = &dlen;

        switch (nseg) {
        case 1:
            name = out->share;
            name_len = &out->share_len;
            break;
        case 3:
            name = out->schema;
            name_len = &out->schema_len;
            break;
        case 5:
            name = out->table;
            name_len = &out->table_len;
            break;
        case 7:
            name = out->query_id;
            name_len = &out->query_id_len;
            break;
        }

        rc = ds_segment_decode(p, seg_len, name, name_len);

        if (rc != DS_PATH_OK) {
            return ds_path_fail(out, rc);
        }

        if (nseg < DS_SEG_MAX && nseg % 2 == 0) {
            words[nseg / 2] = ds_word_of(tmp, dlen);
        }

        /* keep validating past the longest shape, but stop counting */
        if (nseg <= DS_SEG_MAX) {
            nseg++;
        }

        if (slash == NULL) {
            break;
        }

        p = slash + 1;
    }

    op = ds_shape(nseg, words, &methods);

    if (op == DS_OP_UNKNOWN) {
        return ds_path_fail(out, DS_PATH_UNKNOWN_ENDPOINT);
    }

    /* protocol name rule: '.' is allowed in share names only */
    if (memchr(out->schema, '.', out->schema_len) != NULL
        || memchr(out->table, '.', out->table_len) != NULL)
    {
        return ds_path_fail(out, DS_PATH_BAD_NAME);
    }

    out->allow = ds_allow_header(methods);

    if (!(ds_method_of(method, mlen) & methods)) {
        /* names stay filled in so the shell can log what was tried */
        return DS_PATH_METHOD_NOT_ALLOWED;
    }

    out->op = op;

    return DS_PATH_OK;
}


const char *
ds_path_strerror(ds_path_err_t err)
{
    if ((size_t) err >= sizeof(ds_path_errors) / sizeof(ds_path_errors[0]))
    {
        return "unknown path error";
    }

    return ds_path_errors[err];
}


const char *
ds_op_name(ds_op_t op)
{
    if ((unsigned) op >= DS_OP_COUNT) {
        return "unknown";
    }

    return ds_op_names[op];
}


const char *
ds_op_audit_name(ds_op_t op)
{
    if ((unsigned) op >= DS_OP_COUNT) {
        return "unknown";
    }

    return ds_op_audit_names[op];
}


ds_op_t
ds_op_from_name(const char *name, size_t len)
{
    size_t  i;

    if (name == NULL) {
        return DS_OP_UNKNOWN;
    }

    for (i = 1; i < DS_OP_COUNT; i++) {
        if (strlen(ds_op_names[i]) == len
            && memcmp(ds_op_names[i], name, len) == 0)
        {
            return (ds_op_t) i;
        }
    }

    return DS_OP_UNKNOWN;
}


int
ds_op_is_table_op(ds_op_t op)
{
    switch (op) {
    case DS_OP_TABLE_VERSION:
    case DS_OP_TABLE_METADATA:
    case DS_OP_QUERY_TABLE:
    case DS_OP_QUERY_CHANGES:
    case DS_OP_QUERY_POLL:
    case DS_OP_TEMP_CREDENTIALS:
        return 1;
    default:
        return 0;
    }
}


int
ds_op_is_list(ds_op_t op)
{
    switch (op) {
    case DS_OP_LIST_SHARES:
    case DS_OP_LIST_SCHEMAS:
    case DS_OP_LIST_TABLES:
    case DS_OP_LIST_ALL_TABLES:
        return 1;
    default:
        return 0;
    }
}


int
ds_name_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t         i;
    unsigned char  ca, cb;

    if (alen != blen) {
        return 0;
    }

    for (i = 0; i < alen; i++) {
        ca = (unsigned char) a[i];
        cb = (unsigned char) b[i];

        /* names mostly match exactly: fold only where bytes differ */
        if (ca == cb) {
            continue;
        }

        if (ca >= 'A' && ca <= 'Z') {
            ca |= 0x20;
        }

        if (cb >= 'A' && cb <= 'Z') {
            cb |= 0x20;
        }

        if (ca != cb) {
            return 0;
        }
    }

    return 1;
}
