/*
 * The canonical form of a record (dsgw-audit-v1): keys sorted, no
 * whitespace, JCS string escaping, integers only. The MAC covers the
 * canonical serialization of the record with the "mac" member removed;
 * the emitted line is that same serialization with "mac" put back, so
 * a verifier can either strip the member from the bytes or (as ours
 * does) parse and re-serialize: a SIEM that reorders keys does not
 * break verification.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ds_audit_int.h"


typedef struct {
    const char    *key;
    json_t        *value;
} ds_member_t;


/* --------------------------------------------------------- canonical */

/* SWAR: any of the 8 bytes below 0x20, '"' or '\\' (or >= 0x80) */
#define DS_ONES        0x0101010101010101ULL
#define DS_HIGHS       0x8080808080808080ULL
#define ds_has_zero(x) (((x) - DS_ONES) & ~(x) & DS_HIGHS)
#define ds_has_less(x, n)  (((x) - DS_ONES * (n)) & ~(x) & DS_HIGHS)


size_t
ds_audit_plain_prefix(const char *s, size_t n, int ascii)
{
    size_t         i;
    uint64_t       x;
    unsigned char  c;

    for (i = 0; i + 8 <= n; i += 8) {
        memcpy(&x, s + i, 8);

        if (ds_has_less(x, 0x20) || ds_has_zero(x ^ (DS_ONES * '"'))
            || ds_has_zero(x ^ (DS_ONES * '\\')) || (ascii && (x & DS_HIGHS)))
        {
            break;
        }
    }

    for ( /* void */ ; i < n; i++) {
        c = (unsigned char) s[i];

        if (c < 0x20 || c == '"' || c == '\\' || (ascii && c >= 0x80)) {
            break;
        }
    }

    return i;
}


void
ds_canon_string(ds_buf_t *b, const char *s, size_t n)
{
    static const char  digits[] = "0123456789abcdef";
    char               esc[6];
    unsigned char      c;
    size_t             i, run;

    ds_buf_add(b, "\"", 1);

    for (i = 0; i < n; i++) {
        run = ds_audit_plain_prefix(s + i, n - i, 0);
        ds_buf_add(b, s + i, run);
        i += run;

        if (i == n) {
            break;
        }

        c = (unsigned char) s[i];

        switch (c) {
        case '"':  ds_buf_add(b, "\\\"", 2); break;
        case '\\': ds_buf_add(b, "\\\\", 2); break;
        case '\b': ds_buf_add(b, "\\b", 2); break;
        case '\f': ds_buf_add(b, "\\f", 2); break;
        case '\n': ds_buf_add(b, "\\n", 2); break;
        case '\r': ds_buf_add(b, "\\r", 2); break;
        case '\t': ds_buf_add(b, "\\t", 2); break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = digits[c >> 4];
            esc[5] = digits[c & 0xf];
            ds_buf_add(b, esc, 6);
        }
    }

    ds_buf_add(b, "\"", 1);
}


static int
ds_member_cmp(const void *a, const void *b)
{
    return strcmp(((const ds_member_t *) a)->key,
                  ((const ds_member_t *) b)->key);
}


static int
ds_canon_value(ds_buf_t *b, const json_t *j, int depth)
{
    size_t        n, i;
    char          num[32];
    const char   *k;
    json_t       *v;
    ds_member_t  *m, local[48];

    if (depth > 32) {
        return -1;
    }

    switch (json_typeof(j)) {

    case JSON_OBJECT:
        n = json_object_size(j);
        m = local;

        if (n > sizeof(local) / sizeof(local[0])) {
            m = malloc(n * sizeof(ds_member_t));
            if (m == NULL) {
                return -1;
            }
        }

        i = 0;
        json_object_foreach((json_t *) j, k, v) {
            m[i].key = k;
            m[i].value = v;
            i++;
        }

        qsort(m, n, sizeof(ds_member_t), ds_member_cmp);

        ds_buf_add(b, "{", 1);
        for (i = 0; i < n; i++) {
            if (j == b->mark && b->mark_at == 0 && i > 0
                && strcmp(m[i].key, "mac") > 0)
            {
                b->mark_at = b->len;
            }
            if (i) {
                ds_buf_add(b, ",", 1);
            }
            ds_canon_string(b, m[i].key, strlen(m[i].key));
            ds_buf_add(b, ":", 1);
            if (ds_canon_value(b, m[i].value, depth + 1) != 0) {
                if (m != local) {
                    free(m);
                }
                return -1;
            }
        }
        ds_buf_add(b, "}", 1);
        if (m != local) {
            free(m);
        }
        return 0;

    case JSON_ARRAY:
        ds_buf_add(b, "[", 1);
        for (i = 0; i < json_array_size(j); i++) {
            if (i) {
                ds_buf_add(b, ",", 1);
            }
            if (ds_canon_value(b, json_array_get(j, i), depth + 1) != 0) {
                return -1;
            }
        }
        ds_buf_add(b, "]", 1);
        return 0;

    case JSON_STRING:
        ds_canon_string(b, json_string_value(j), json_string_length(j));
        return 0;

    case JSON_INTEGER:
        n = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(j));
        ds_buf_add(b, num, n);
        return 0;

    case JSON_TRUE:
        ds_buf_add(b, "true", 4);
        return 0;

    case JSON_FALSE:
        ds_buf_add(b, "false", 5);
        return 0;

    case JSON_NULL:
        ds_buf_add(b, "null", 4);
        return 0;

    default:
        /* reals have no single canonical spelling we rely on */
        return -1;
    }
}


char *
ds_audit_canonical(const json_t *j, size_t *len)
{
    ds_buf_t  b;

    memset(&b, 0, sizeof(b));

    if (ds_canon_value(&b, j, 0) != 0 || b.failed || b.p == NULL) {
        free(b.p);
        return NULL;
    }

    if (len) {
        *len = b.len;
    }

    return b.p;
}


/*
 * The MAC input: label, NUL, canonical record. With mark, the offset
 * where "mac" sorts into that object is noted, so the sealed line can be
 * spliced from the same bytes instead of serialized a second time.
 */
int
ds_canon_mac_input(const json_t *rec, const json_t *mark, ds_buf_t *b)
{
    memset(b, 0, sizeof(*b));
    b->mark = mark;
    ds_buf_add(b, DS_AUDIT_RECORD_LABEL, DS_AUDIT_RECORD_PREFIX);

    if (ds_canon_value(b, rec, 0) != 0 || b->failed) {
        free(b->p);
        b->p = NULL;
        return -1;
    }

    return 0;
}
