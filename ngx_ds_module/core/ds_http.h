/*
 * Small request-header parsers shared by the nginx shell, the fuzzers
 * and dsctl. Pure C.
 */

#ifndef DS_HTTP_H
#define DS_HTTP_H

#include <stddef.h>

#define DS_TOKEN_MAX    4096
#define DS_PURPOSE_MAX  64


typedef enum {
    DS_AUTH_OK = 0,
    DS_AUTH_MISSING,        /* no header value */
    DS_AUTH_NOT_BEARER,     /* another scheme (Basic, ...) */
    DS_AUTH_EMPTY,          /* "Bearer" with no token */
    DS_AUTH_MALFORMED,      /* bad bytes, inner spaces, too long */
} ds_auth_err_t;


/*
 * RFC 6750 "Bearer <token>": scheme case-insensitive, surrounding
 * whitespace allowed, token is 1..DS_TOKEN_MAX visible ASCII bytes
 * (0x21-0x7E).  On success *tok points into hdr.
 */
ds_auth_err_t ds_auth_parse_bearer(const char *hdr, size_t len,
    const char **tok, size_t *tok_len);

const char *ds_auth_strerror(ds_auth_err_t err);


/*
 * A declared purpose code: 1..DS_PURPOSE_MAX bytes of [A-Za-z0-9._:-].
 * Returns 1 if valid.
 */
int ds_purpose_valid(const char *p, size_t len);

#endif /* DS_HTTP_H */
