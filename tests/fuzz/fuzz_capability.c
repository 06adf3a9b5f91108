/*
 * libFuzzer harness for ds_cap_open: the whole input is a capability
 * (the last path segment of a download). Nothing may open unless it was
 * sealed under the ring's key: an input that opens must be one this run
 * sealed (it never is, by chance); and every claim opened must lie
 * inside the caller's buffer. Each input's first byte also drives a
 * seal/open round trip of the rest as a URL.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ds_capability.h"

#define check(x)  do { if (!(x)) { __builtin_trap(); } } while (0)


static const ds_cap_key_t  keys[2] = {
    { "k1", { 1, 2, 3 } },
    { "k0", { 4, 5, 6 } }
};


static int
inside(const char *s, size_t n, const unsigned char *buf, size_t size)
{
    return n == 0 || ((const unsigned char *) s >= buf
                      && (const unsigned char *) s + n <= buf + size);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char              *cap;
    size_t             len;
    unsigned char     *buf;
    ds_cap_ring_t      ring = { keys, 2 };
    ds_cap_claims_t    c, o;
    ds_cap_result_t    rc;

    buf = malloc(size + 1);
    check(buf != NULL);

    rc = ds_cap_open(&ring, (const char *) data, size, 1000, buf, size + 1,
                     &o);
    check(ds_cap_result_name(rc) != NULL);

    /* forging a GCM tag by chance does not happen */
    check(rc != DS_CAP_OK && rc != DS_CAP_EXPIRED);
    check(o.url == NULL);

    free(buf);

    /* round trip: the input as the URL */
    if (size > 6000) {
        return 0;
    }

    memset(&c, 0, sizeof(c));
    c.recipient = "r";
    c.recipient_len = 1;
    c.token_id = "t";
    c.token_id_len = 1;
    c.url = (const char *) data;
    c.url_len = size;
    c.expires_ms = 2000;

    len = ds_cap_sealed_size(&c);
    cap = malloc(len);
    check(cap != NULL);

    check(ds_cap_seal(&ring, &c, cap, len, &len) == DS_CAP_OK);

    buf = malloc(len);
    check(buf != NULL);

    rc = ds_cap_open(&ring, cap, len, 1000, buf, len, &o);
    check(rc == DS_CAP_OK);
    check(o.url_len == size && memcmp(o.url, data, size) == 0);
    check(inside(o.url, o.url_len, buf, len));
    check(inside(o.recipient, o.recipient_len, buf, len));
    check(o.expires_ms == 2000);

    check(ds_cap_open(&ring, cap, len, 2000, buf, len, &o)
          == DS_CAP_EXPIRED);

    free(buf);
    free(cap);

    return 0;
}
