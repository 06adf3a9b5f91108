/*
 * ds_http: Authorization Bearer parsing and purpose validation.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ds_http.h"


static ds_auth_err_t
auth_len(const char *hdr, size_t len, const char **tok, size_t *tok_len)
{
    return ds_auth_parse_bearer(hdr, len, tok, tok_len);
}


static void
expect_token(const char *hdr, const char *want)
{
    const char     *tok;
    size_t          tok_len;
    ds_auth_err_t   rc;

    rc = auth_len(hdr, strlen(hdr), &tok, &tok_len);

    if (rc != DS_AUTH_OK) {
        print_error("\"%s\": %s\n", hdr, ds_auth_strerror(rc));
    }

    assert_int_equal(rc, DS_AUTH_OK);
    assert_int_equal(tok_len, strlen(want));
    assert_memory_equal(tok, want, tok_len);
    /* the token points into the header, no copy */
    assert_true(tok >= hdr && tok + tok_len <= hdr + strlen(hdr));
}


static void
expect_auth_len(const char *hdr, size_t len, ds_auth_err_t want)
{
    const char     *tok;
    size_t          tok_len;
    ds_auth_err_t   rc;

    tok = hdr;
    tok_len = 99;

    rc = auth_len(hdr, len, &tok, &tok_len);

    if (rc != want) {
        print_error("\"%.*s\": got %s, want %s\n", (int) len,
                    hdr ? hdr : "(null)", ds_auth_strerror(rc),
                    ds_auth_strerror(want));
    }

    assert_int_equal(rc, want);
    assert_null(tok);
    assert_int_equal(tok_len, 0);
}


static void
expect_auth(const char *hdr, ds_auth_err_t want)
{
    expect_auth_len(hdr, strlen(hdr), want);
}


static void
test_bearer_ok(void **state)
{
    (void) state;

    expect_token("Bearer abc", "abc");
    expect_token("bearer abc", "abc");
    expect_token("BEARER abc", "abc");
    expect_token("bEaReR abc", "abc");
    expect_token("Bearer\tabc", "abc");
    expect_token("  Bearer \t abc \t ", "abc");
    expect_token("Bearer    dapi0123456789abcdef", "dapi0123456789abcdef");
    expect_token("Bearer a.b-c_d~e+f/g=", "a.b-c_d~e+f/g=");
    /* every visible ASCII byte is a token byte */
    expect_token("Bearer !\"#$%&'()*+,-./0123456789:;<=>?@AZ[\\]^_`az{|}~",
                 "!\"#$%&'()*+,-./0123456789:;<=>?@AZ[\\]^_`az{|}~");
    expect_token("Bearer x", "x");
}


static void
test_bearer_length(void **state)
{
    char           *hdr;
    const char     *tok;
    size_t          tok_len, n;
    ds_auth_err_t   rc;

    (void) state;

    n = 7 + DS_TOKEN_MAX + 1;
    hdr = malloc(n);
    assert_non_null(hdr);
    memcpy(hdr, "Bearer ", 7);
    memset(hdr + 7, 'a', DS_TOKEN_MAX + 1);

    /* DS_TOKEN_MAX bytes: accepted; the header is not NUL-terminated */
    rc = auth_len(hdr, n - 1, &tok, &tok_len);
    assert_int_equal(rc, DS_AUTH_OK);
    assert_int_equal(tok_len, DS_TOKEN_MAX);
    assert_ptr_equal(tok, hdr + 7);

    /* one more: malformed */
    expect_auth_len(hdr, n, DS_AUTH_MALFORMED);

    free(hdr);

    /* an 8 KB token */
    n = 7 + 8192;
    hdr = malloc(n);
    assert_non_null(hdr);
    memcpy(hdr, "Bearer ", 7);
    memset(hdr + 7, 'z', 8192);
    expect_auth_len(hdr, n, DS_AUTH_MALFORMED);
    free(hdr);
}


static void
test_bearer_missing(void **state)
{
    (void) state;

    expect_auth_len(NULL, 0, DS_AUTH_MISSING);
    expect_auth_len(NULL, 10, DS_AUTH_MISSING);
    expect_auth("", DS_AUTH_MISSING);
    expect_auth("   ", DS_AUTH_MISSING);
    expect_auth("\t \t", DS_AUTH_MISSING);
}


static void
test_bearer_not_bearer(void **state)
{
    (void) state;

    expect_auth("Basic dXNlcjpwYXNz", DS_AUTH_NOT_BEARER);
    expect_auth("Token abc", DS_AUTH_NOT_BEARER);
    expect_auth("Digest username=\"a\"", DS_AUTH_NOT_BEARER);
    expect_auth("Bearerabc", DS_AUTH_NOT_BEARER);
    expect_auth("Bearer-x abc", DS_AUTH_NOT_BEARER);
    expect_auth("Bear abc", DS_AUTH_NOT_BEARER);
    expect_auth("Bearers abc", DS_AUTH_NOT_BEARER);
    expect_auth("abc", DS_AUTH_NOT_BEARER);
    expect_auth("\"Bearer\" abc", DS_AUTH_NOT_BEARER);
    expect_auth("Bearer,abc", DS_AUTH_NOT_BEARER);
    /* the scheme name is ASCII: no byte folds onto a letter but itself */
    expect_auth("\x02\x05\x01\x12\x05\x12 abc", DS_AUTH_MALFORMED);
    expect_auth("Bearer: abc", DS_AUTH_NOT_BEARER);
}


static void
test_bearer_empty(void **state)
{
    (void) state;

    expect_auth("Bearer", DS_AUTH_EMPTY);
    expect_auth("bearer", DS_AUTH_EMPTY);
    expect_auth("Bearer ", DS_AUTH_EMPTY);
    expect_auth("  Bearer \t\t  ", DS_AUTH_EMPTY);
}


static void
test_bearer_malformed(void **state)
{
    (void) state;

    expect_auth("Bearer a b", DS_AUTH_MALFORMED);
    expect_auth("Bearer abc def ", DS_AUTH_MALFORMED);
    expect_auth("Bearer abc, Bearer def", DS_AUTH_MALFORMED);
    expect_auth_len("Bearer a\0b", 10, DS_AUTH_MALFORMED);
    expect_auth_len("Bearer abc\0", 11, DS_AUTH_MALFORMED);
    expect_auth_len("\0Bearer abc", 11, DS_AUTH_MALFORMED);
    expect_auth("Bearer caf\xc3\xa9", DS_AUTH_MALFORMED);
    expect_auth("Bearer \xff", DS_AUTH_MALFORMED);
    expect_auth("Bearer a\x7f", DS_AUTH_MALFORMED);
    expect_auth("Bearer a\r\nX-Evil: 1", DS_AUTH_MALFORMED);
    expect_auth("Bearer a\n", DS_AUTH_MALFORMED);
    expect_auth("Bearer a\x0b", DS_AUTH_MALFORMED);
    expect_auth("Bearer a\x0c", DS_AUTH_MALFORMED);
    /* bad bytes win over the scheme check */
    expect_auth("Basic \x80", DS_AUTH_MALFORMED);
    expect_auth("B\xc3\xa9" "arer abc", DS_AUTH_MALFORMED);
}


static void
test_auth_strerror(void **state)
{
    int          i, j;
    const char  *a;

    (void) state;

    for (i = DS_AUTH_OK; i <= DS_AUTH_MALFORMED; i++) {
        a = ds_auth_strerror((ds_auth_err_t) i);
        assert_non_null(a);
        assert_true(strlen(a) > 0);

        for (j = DS_AUTH_OK; j < i; j++) {
            assert_string_not_equal(a, ds_auth_strerror((ds_auth_err_t) j));
        }
    }

    assert_string_equal(ds_auth_strerror((ds_auth_err_t) 77),
                        "unknown Authorization error");
}


static void
test_purpose(void **state)
{
    char  buf[DS_PURPOSE_MAX + 2];

    (void) state;

    assert_true(ds_purpose_valid("fraud-detection", 15));
    assert_true(ds_purpose_valid("a", 1));
    assert_true(ds_purpose_valid("Z", 1));
    assert_true(ds_purpose_valid("0", 1));
    assert_true(ds_purpose_valid("hipaa:treatment.v2_x-y", 22));
    assert_true(ds_purpose_valid("._:-", 4));

    memset(buf, 'p', sizeof(buf));
    assert_true(ds_purpose_valid(buf, DS_PURPOSE_MAX));
    assert_false(ds_purpose_valid(buf, DS_PURPOSE_MAX + 1));

    assert_false(ds_purpose_valid(NULL, 0));
    assert_false(ds_purpose_valid(NULL, 5));
    assert_false(ds_purpose_valid("", 0));
    assert_false(ds_purpose_valid("a b", 3));
    assert_false(ds_purpose_valid(" a", 2));
    assert_false(ds_purpose_valid("a/b", 3));
    assert_false(ds_purpose_valid("a,b", 3));
    assert_false(ds_purpose_valid("a;b", 3));
    assert_false(ds_purpose_valid("a\"b", 3));
    assert_false(ds_purpose_valid("a\0b", 3));
    assert_false(ds_purpose_valid("a\tb", 3));
    assert_false(ds_purpose_valid("a\r\n", 3));
    assert_false(ds_purpose_valid("caf\xc3\xa9", 5));
    assert_false(ds_purpose_valid("\x7f", 1));
    assert_false(ds_purpose_valid("@", 1));
    assert_false(ds_purpose_valid("[", 1));
    assert_false(ds_purpose_valid("`", 1));
    assert_false(ds_purpose_valid("{", 1));
    assert_false(ds_purpose_valid("/", 1));
    assert_false(ds_purpose_valid(";", 1));
    /* only len bytes are read */
    assert_true(ds_purpose_valid("ok!!", 2));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_bearer_ok),
        cmocka_unit_test(test_bearer_length),
        cmocka_unit_test(test_bearer_missing),
        cmocka_unit_test(test_bearer_not_bearer),
        cmocka_unit_test(test_bearer_empty),
        cmocka_unit_test(test_bearer_malformed),
        cmocka_unit_test(test_auth_strerror),
        cmocka_unit_test(test_purpose),
    };

    return cmocka_run_group_tests_name("ds_http", tests, NULL, NULL);
}
