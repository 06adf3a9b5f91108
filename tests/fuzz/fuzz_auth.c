/*
 * libFuzzer harness for ds_auth_parse_bearer: the whole input is the
 * Authorization header value. Checks that an accepted token lies
 * inside the input, is bounded, holds only visible ASCII, and parses
 * back to itself from a canonical "Bearer <token>" header.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ds_http.h"

#define check(x)  do { if (!(x)) { __builtin_trap(); } } while (0)


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char           *canon;
    size_t          tok_len, tok_len2, i;
    const char     *hdr, *tok, *tok2;
    ds_auth_err_t   rc;

    hdr = (const char *) data;
    rc = ds_auth_parse_bearer(hdr, size, &tok, &tok_len);

    check(ds_auth_strerror(rc) != NULL);

    if (rc != DS_AUTH_OK) {
        check(tok == NULL && tok_len == 0);
        return 0;
    }

    check(tok >= hdr && tok_len > 0 && tok_len <= DS_TOKEN_MAX);
    check(tok + tok_len <= hdr + size);

    for (i = 0; i < tok_len; i++) {
        check(tok[i] >= 0x21 && tok[i] <= 0x7E);
    }

    canon = malloc(7 + tok_len);
    check(canon != NULL);
    memcpy(canon, "Bearer ", 7);
    memcpy(canon + 7, tok, tok_len);

    rc = ds_auth_parse_bearer(canon, 7 + tok_len, &tok2, &tok_len2);
    check(rc == DS_AUTH_OK);
    check(tok_len2 == tok_len && memcmp(tok2, tok, tok_len) == 0);

    free(canon);

    return 0;
}
