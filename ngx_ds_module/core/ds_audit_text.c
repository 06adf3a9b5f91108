/*
 * Text handling shared by every audit writer: UTF-8
 * clean-up of untrusted bytes, the query argument allow-list.
 */

#include <stdlib.h>
#include <string.h>

#include "ds_audit_int.h"


const char *const  ds_audit_default_query_args[] = {
    "maxResults",
    "pageToken",
    "startingVersion",
    "endingVersion",
    "startingTimestamp",
    "endingTimestamp",
    "includeHistoricalMetadata",
    NULL
};


ds_audit_str_t
ds_audit_cstr(const char *s)
{
    ds_audit_str_t  r;

    r.data = s;
    r.len = s ? strlen(s) : 0;

    return r;
}


/* ------------------------------------------------------ UTF-8 clean-up */

/* length of the valid UTF-8 sequence at p, 0 if invalid (NUL included) */
static size_t
ds_utf8_valid(const unsigned char *p, size_t n)
{
    unsigned  c, lo, hi;
    size_t    need, i;

    c = p[0];

    if (c < 0x80) {
        return c == 0 ? 0 : 1;
    }

    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        need = 1;

    } else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        if (c == 0xe0) {
            lo = 0xa0;              /* overlong */
        } else if (c == 0xed) {
            hi = 0x9f;              /* surrogates */
        }

    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        if (c == 0xf0) {
            lo = 0x90;
        } else if (c == 0xf4) {
            hi = 0x8f;              /* above U+10FFFF */
        }

    } else {
        return 0;
    }

    if (n < need + 1 || p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i <= need; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
    }

    return need + 1;
}



void
ds_audit_clean(const char *s, size_t n, size_t cap, char *out,
    ds_clean_t *cl)
{
    const unsigned char  *p, *end;
    size_t                k, c;

    p = (const unsigned char *) s;
    end = p + n;
    cl->len = 0;
    cl->cost = 0;
    cl->sanitized = 0;
    cl->truncated = 0;

    while (p < end) {
        k = ds_utf8_valid(p, end - p);

        /* the cap bounds the escaped size: "\u001f" costs six bytes */
        c = k ? k : 3;
        if (k == 1 && (*p < 0x20 || *p == '"' || *p == '\\')) {
            c = *p < 0x20 ? 6 : 2;
        }

        if (cl->cost + c > cap) {
            cl->truncated = 1;
            break;
        }

        cl->cost += c;

        if (k) {
            memcpy(out + cl->len, p, k);
            cl->len += k;
            p += k;
            continue;
        }

        memcpy(out + cl->len, "\xef\xbf\xbd", 3);
        cl->len += 3;
        p++;
        cl->sanitized = 1;
    }
}


int
ds_audit_query_name_ok(const char *name)
{
    const char  *p;

    for (p = name; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'
              || *p == '.'))
        {
            return 0;
        }
    }

    return p > name;
}


const char *
ds_audit_query_next(ds_audit_str_t args, size_t *pos,
    const char *const *allow, ds_audit_str_t *value)
{
    const char *const  *a;
    const char         *p, *end, *amp, *eq;
    size_t              nlen;

    if (args.data == NULL || allow == NULL) {
        return NULL;
    }

    end = args.data + args.len;

    while (*pos < args.len) {
        p = args.data + *pos;

        amp = memchr(p, '&', end - p);
        if (amp == NULL) {
            amp = end;
        }

        eq = memchr(p, '=', amp - p);
        nlen = (eq ? eq : amp) - p;
        *pos = amp - args.data + 1;

        for (a = allow; *a; a++) {
            if (strlen(*a) == nlen && memcmp(*a, p, nlen) == 0) {
                value->data = eq ? eq + 1 : amp;
                value->len = eq ? (size_t) (amp - eq - 1) : 0;
                return *a;
            }
        }
    }

    return NULL;
}
