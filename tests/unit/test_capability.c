/*
 * ds_capability: round trip, every byte tampered, wrong and unknown
 * keys, rotation, expiry, limits, key files.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ds_capability.h"


#define NOW  1893456000000LL            /* 2030-01-01T00:00:00Z */


static ds_cap_key_t  k1 = { "k1", { 1, 2, 3, 4, 5, 6, 7, 8 } };
static ds_cap_key_t  k2 = { "k2-2031", { 9, 9, 9 } };
static ds_cap_key_t  k1_other = { "k1", { 7, 7, 7 } };

static const char  url[] =
    "https://bucket.s3.amazonaws.com/t/part-0001.parquet"
    "?X-Amz-Signature=abcdef0123456789&X-Amz-Expires=3600";


static ds_cap_claims_t
claims(void)
{
    ds_cap_claims_t  c;

    memset(&c, 0, sizeof(c));
    c.recipient = "fraud-analytics";
    c.recipient_len = strlen(c.recipient);
    c.token_id = "fa-2026a";
    c.token_id_len = strlen(c.token_id);
    c.share = "claims";
    c.share_len = 6;
    c.schema = "adjudicated";
    c.schema_len = 11;
    c.table = "medical_claims";
    c.table_len = 14;
    c.file_id = "f-0001";
    c.file_id_len = 6;
    c.purpose = "FRAUD";
    c.purpose_len = 5;
    c.url = url;
    c.url_len = sizeof(url) - 1;
    c.expires_ms = NOW + 3600000;

    return c;
}


static size_t
seal(const ds_cap_ring_t *ring, const ds_cap_claims_t *c, char *out,
    size_t size)
{
    size_t  len;

    assert_int_equal(ds_cap_seal(ring, c, out, size, &len), DS_CAP_OK);
    assert_true(len <= ds_cap_sealed_size(c));

    return len;
}


#define assert_field(a, b)                                                  \
    do {                                                                    \
        assert_int_equal(a##_len, b##_len);                                 \
        assert_memory_equal(a, b, b##_len);                                 \
    } while (0)


static void
test_round_trip(void **state)
{
    char             cap[DS_CAP_MAX];
    size_t           len, i;
    unsigned char    buf[DS_CAP_MAX];
    ds_cap_ring_t    ring = { &k1, 1 };
    ds_cap_claims_t  c, o;

    (void) state;

    c = claims();
    len = seal(&ring, &c, cap, sizeof(cap));

    /* one path segment: base64url, nothing else */
    for (i = 0; i < len; i++) {
        assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                               "qrstuvwxyz0123456789-_", cap[i]));
    }

    assert_int_equal(ds_cap_open(&ring, cap, len, NOW, buf, sizeof(buf), &o),
                     DS_CAP_OK);
    assert_field(o.recipient, c.recipient);
    assert_field(o.token_id, c.token_id);
    assert_field(o.share, c.share);
    assert_field(o.schema, c.schema);
    assert_field(o.table, c.table);
    assert_field(o.file_id, c.file_id);
    assert_field(o.purpose, c.purpose);
    assert_field(o.url, c.url);
    assert_int_equal(o.expires_ms, c.expires_ms);

    /* a fresh nonce each time: two seals of the same claims differ */
    {
        char    cap2[DS_CAP_MAX];
        size_t  len2;

        len2 = seal(&ring, &c, cap2, sizeof(cap2));
        assert_int_equal(len, len2);
        assert_true(memcmp(cap, cap2, len) != 0);
    }

    /* an empty purpose */
    c.purpose = NULL;
    c.purpose_len = 0;
    len = seal(&ring, &c, cap, sizeof(cap));
    assert_int_equal(ds_cap_open(&ring, cap, len, NOW, buf, sizeof(buf), &o),
                     DS_CAP_OK);
    assert_int_equal(o.purpose_len, 0);
}


static void
test_tamper_every_byte(void **state)
{
    char              cap[DS_CAP_MAX], t[DS_CAP_MAX];
    size_t            len, i, j;
    unsigned char     buf[DS_CAP_MAX];
    ds_cap_ring_t     ring = { &k1, 1 };
    ds_cap_claims_t   c, o;
    ds_cap_result_t   rc;
    static const char alt[] = "AQgz-_";

    (void) state;

    c = claims();
    len = seal(&ring, &c, cap, sizeof(cap));

    for (i = 0; i < len; i++) {
        for (j = 0; alt[j]; j++) {
            if (alt[j] == cap[i]) {
                continue;
            }

            memcpy(t, cap, len);
            t[i] = alt[j];

            rc = ds_cap_open(&ring, t, len, NOW, buf, sizeof(buf), &o);

            if (rc == DS_CAP_OK || rc == DS_CAP_EXPIRED) {
                fail_msg("byte %zu changed to %c opened", i, alt[j]);
            }

            assert_null(o.url);
        }
    }

    /* cut anywhere, or extended */
    for (i = 0; i < len; i++) {
        rc = ds_cap_open(&ring, cap, i, NOW, buf, sizeof(buf), &o);
        assert_true(rc != DS_CAP_OK && rc != DS_CAP_EXPIRED);
    }

    memcpy(t, cap, len);
    memcpy(t + len, "AAAA", 4);
    rc = ds_cap_open(&ring, t, len + 4, NOW, buf, sizeof(buf), &o);
    assert_true(rc != DS_CAP_OK && rc != DS_CAP_EXPIRED);

    /* not base64url at all */
    assert_int_equal(ds_cap_open(&ring, "a+b/c=", 6, NOW, buf, sizeof(buf),
                                 &o), DS_CAP_MALFORMED);
    assert_int_equal(ds_cap_open(&ring, "", 0, NOW, buf, sizeof(buf), &o),
                     DS_CAP_MALFORMED);
}


static void
test_keys(void **state)
{
    char              cap[DS_CAP_MAX];
    size_t            len;
    unsigned char     buf[DS_CAP_MAX];
    ds_cap_key_t      old_first[2], new_first[2];
    ds_cap_ring_t     ring1 = { &k1, 1 }, ring2 = { &k2, 1 };
    ds_cap_ring_t     other = { &k1_other, 1 }, rotated, before;
    ds_cap_claims_t   c, o;

    (void) state;

    c = claims();
    len = seal(&ring1, &c, cap, sizeof(cap));

    /* same key id, another key: the tag fails */
    assert_int_equal(ds_cap_open(&other, cap, len, NOW, buf, sizeof(buf),
                                 &o), DS_CAP_BAD_SEAL);

    /* a key id the ring does not hold */
    assert_int_equal(ds_cap_open(&ring2, cap, len, NOW, buf, sizeof(buf),
                                 &o), DS_CAP_UNKNOWN_KEY);
    assert_int_equal(ds_cap_open(NULL, cap, len, NOW, buf, sizeof(buf), &o),
                     DS_CAP_UNKNOWN_KEY);

    /* rotation: a new first key seals, the old one still opens */
    new_first[0] = k2;
    new_first[1] = k1;
    rotated.keys = new_first;
    rotated.nkeys = 2;

    assert_int_equal(ds_cap_open(&rotated, cap, len, NOW, buf, sizeof(buf),
                                 &o), DS_CAP_OK);
    assert_field(o.url, c.url);

    len = seal(&rotated, &c, cap, sizeof(cap));
    assert_memory_equal(cap, "AQdrMi0yMDMx", 12);     /* v1, "k2-2031" */
    assert_int_equal(ds_cap_open(&ring1, cap, len, NOW, buf, sizeof(buf),
                                 &o), DS_CAP_UNKNOWN_KEY);

    /* the ring before rotation, with k2 added second, already opens it */
    old_first[0] = k1;
    old_first[1] = k2;
    before.keys = old_first;
    before.nkeys = 2;
    assert_int_equal(ds_cap_open(&before, cap, len, NOW, buf, sizeof(buf),
                                 &o), DS_CAP_OK);
}


static void
test_expiry(void **state)
{
    char              cap[DS_CAP_MAX];
    size_t            len;
    unsigned char     buf[DS_CAP_MAX];
    ds_cap_ring_t     ring = { &k1, 1 };
    ds_cap_claims_t   c, o;

    (void) state;

    c = claims();
    len = seal(&ring, &c, cap, sizeof(cap));

    assert_int_equal(ds_cap_open(&ring, cap, len, c.expires_ms - 1, buf,
                                 sizeof(buf), &o), DS_CAP_OK);

    /* at the instant: expired, and the audit still learns whose it was */
    assert_int_equal(ds_cap_open(&ring, cap, len, c.expires_ms, buf,
                                 sizeof(buf), &o), DS_CAP_EXPIRED);
    assert_field(o.recipient, c.recipient);
    assert_field(o.file_id, c.file_id);

    /* no expiry: refused at sealing */
    c.expires_ms = 0;
    assert_int_equal(ds_cap_seal(&ring, &c, cap, sizeof(cap), &len),
                     DS_CAP_ERROR);
}


static void
test_limits(void **state)
{
    static char       big[DS_CAP_MAX];
    char              cap[DS_CAP_MAX + 64];
    size_t            len;
    unsigned char     buf[DS_CAP_MAX];
    ds_cap_ring_t     ring = { &k1, 1 }, empty = { &k1, 0 };
    ds_cap_claims_t   c, o;

    (void) state;

    c = claims();
    memset(big, 'a', sizeof(big));

    /* a URL that would not fit DS_CAP_MAX */
    c.url = big;
    c.url_len = sizeof(big);
    assert_int_equal(ds_cap_seal(&ring, &c, cap, sizeof(cap), &len),
                     DS_CAP_ERROR);

    /* one that does */
    c.url_len = 5000;
    len = seal(&ring, &c, cap, sizeof(cap));
    assert_true(len <= DS_CAP_MAX);
    assert_int_equal(ds_cap_open(&ring, cap, len, NOW, buf, sizeof(buf), &o),
                     DS_CAP_OK);
    assert_int_equal(o.url_len, 5000);

    /* the output buffer too small */
    assert_int_equal(ds_cap_seal(&ring, &c, cap, 100, &len), DS_CAP_ERROR);

    /* no key to seal with */
    assert_int_equal(ds_cap_seal(&empty, &c, cap, sizeof(cap), &len),
                     DS_CAP_ERROR);

    /* longer than any capability */
    assert_int_equal(ds_cap_open(&ring, big, sizeof(big), NOW, buf,
                                 sizeof(buf), &o), DS_CAP_MALFORMED);

    assert_string_equal(ds_cap_result_name(DS_CAP_BAD_SEAL), "bad_seal");
}


static void
test_key_parse(void **state)
{
    char          err[256];
    ds_cap_key_t  k;
    static const char  hex[] =
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    static const char  b64[] =
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    (void) state;

    memset(&k, 0, sizeof(k));
    assert_int_equal(ds_cap_key_parse(hex, sizeof(hex) - 1, &k, err,
                                      sizeof(err)), 0);
    assert_int_equal(k.key[0], 0);
    assert_int_equal(k.key[31], 0x1f);

    memset(&k, 0, sizeof(k));
    assert_int_equal(ds_cap_key_parse(" " "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX"
                                      "GBkaGxwdHh8=\n", 46, &k, err,
                                      sizeof(err)), 0);
    assert_int_equal(k.key[31], 0x1f);
    assert_int_equal(ds_cap_key_parse(b64, 43, &k, err, sizeof(err)), 0);

    assert_int_equal(ds_cap_key_parse("abc", 3, &k, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "32 bytes"));
    assert_int_equal(ds_cap_key_parse(hex, 62, &k, err, sizeof(err)), -1);
    assert_int_equal(ds_cap_key_parse("zz0102030405060708090a0b0c0d0e0f"
                                      "101112131415161718191a1b1c1d1e1f",
                                      64, &k, err, sizeof(err)), -1);
    /* the error never quotes the key */
    assert_null(strstr(err, "zz01"));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_tamper_every_byte),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_key_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
