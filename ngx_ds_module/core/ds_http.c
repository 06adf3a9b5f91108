/*
 * Authorization: Bearer and purpose header parsing. Pure C; the same
 * code runs in the nginx shell, dsctl and the fuzzers.
 */

#include "ds_http.h"


static const char  *ds_auth_errors[] = {
    "ok",
    "no Authorization header",
    "Authorization scheme is not Bearer",
    "Bearer token is empty",
    "Authorization header is malformed"
};


static int
ds_is_ws(unsigned char c)
{
    return c == ' ' || c == '\t';
}


/* locale-free: the scheme is ASCII whatever LC_CTYPE says */
static int
ds_is_bearer(const char *s, size_t len)
{
    static const char  bearer[] = "bearer";
    size_t             i;

    if (len != sizeof(bearer) - 1) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((s[i] | 0x20) != bearer[i]) {
            return 0;
        }
    }

    return 1;
}


ds_auth_err_t
ds_auth_parse_bearer(const char *hdr, size_t len, const char **tok,
    size_t *tok_len)
{
    size_t         i, start, end;
    unsigned char  c;

    *tok = NULL;
    *tok_len = 0;

    if (hdr == NULL) {
        return DS_AUTH_MISSING;
    }

    /*
     * Any byte a token can never hold (NUL, other controls, non-ASCII)
     * makes the whole value malformed, whatever the scheme: it is an
     * attack or a broken client, never a credential.
     */
    for (i = 0; i < len; i++) {
        c = (unsigned char) hdr[i];

        if ((c < 0x20 && c != '\t') || c >= 0x7F) {
            return DS_AUTH_MALFORMED;
        }
    }

    i = 0;

    while (i < len && ds_is_ws((unsigned char) hdr[i])) {
        i++;
    }

    if (i == len) {
        return DS_AUTH_MISSING;
    }

    start = i;

    while (i < len && !ds_is_ws((unsigned char) hdr[i])) {
        i++;
    }

    if (!ds_is_bearer(hdr + start, i - start)) {
        return DS_AUTH_NOT_BEARER;
    }

    while (i < len && ds_is_ws((unsigned char) hdr[i])) {
        i++;
    }

    if (i == len) {
        return DS_AUTH_EMPTY;
    }

    start = i;

    while (i < len && !ds_is_ws((unsigned char) hdr[i])) {
        i++;
    }

    end = i;

    while (i < len && ds_is_ws((unsigned char) hdr[i])) {
        i++;
    }

    if (i != len) {
        return DS_AUTH_MALFORMED;            /* "Bearer a b" */
    }

    if (end - start > DS_TOKEN_MAX) {
        return DS_AUTH_MALFORMED;
    }

    *tok = hdr + start;
    *tok_len = end - start;

    return DS_AUTH_OK;
}


const char *
ds_auth_strerror(ds_auth_err_t err)
{
    if ((size_t) err >= sizeof(ds_auth_errors) / sizeof(ds_auth_errors[0]))
    {
        return "unknown Authorization error";
    }

    return ds_auth_errors[err];
}


int
ds_purpose_valid(const char *p, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (p == NULL || len == 0 || len > DS_PURPOSE_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) p[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9')
            || c == '.' || c == '_' || c == ':' || c == '-')
        {
            continue;
        }

        return 0;
    }

    return 1;
}
