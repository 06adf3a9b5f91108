/*
 * base64url without padding, for the JWT tests (test_jwt.c,
 * test_decide_jwt.c, fuzz_jwt.c): an encoder independent of the decoder.
 */

#ifndef JWT_B64_H
#define JWT_B64_H

#include <stddef.h>
#include <stdint.h>


static void
b64url(const unsigned char *in, size_t len, char *out)
{
    static const char  a[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t    i, o;
    uint32_t  v;

    for (i = 0, o = 0; i + 2 < len; i += 3) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = a[(v >> 6) & 63];
        out[o++] = a[v & 63];
    }

    if (len - i == 1) {
        v = (uint32_t) in[i] << 16;
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];

    } else if (len - i == 2) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8;
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = a[(v >> 6) & 63];
    }

    out[o] = '\0';
}

#endif /* JWT_B64_H */
