/*
 * ds_gcra: limiter parameters, Redis key names, script reply parsing.
 * The script itself runs in a real Redis in tests/integration.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>

#include "ds_gcra.h"
#include "ds_resp.h"


static void
test_params_none(void **state)
{
    ds_rate_limit_t   rl;
    ds_gcra_params_t  p;

    (void) state;

    memset(&rl, 0, sizeof(rl));
    assert_int_equal(ds_gcra_params(&rl, &p), 0);
    assert_int_equal(p.emission_us, 0);
    assert_int_equal(p.limit, 0);

    rl.period_ms = 1000;
    rl.requests = 0;
    assert_int_equal(ds_gcra_params(&rl, &p), 0);
    assert_int_equal(p.emission_us, 0);

    assert_int_equal(ds_gcra_params(NULL, &p), 0);
    assert_int_equal(p.emission_us, 0);
}


static void
test_params_exact(void **state)
{
    ds_rate_limit_t   rl;
    ds_gcra_params_t  p;

    (void) state;

    /* 5 per minute, burst 2: 7 at once, then one every 12 s */
    memset(&rl, 0, sizeof(rl));
    rl.period_ms = 60000;
    rl.requests = 5;
    rl.burst = 2;
    assert_int_equal(ds_gcra_params(&rl, &p), 0);
    assert_int_equal(p.emission_us, 12000000);
    assert_int_equal(p.tolerance_us, 6 * 12000000ULL);
    assert_int_equal(p.limit, 7);

    /* no burst: N at once */
    rl.period_ms = 1000;
    rl.requests = 2;
    rl.burst = 0;
    assert_int_equal(ds_gcra_params(&rl, &p), 0);
    assert_int_equal(p.emission_us, 500000);
    assert_int_equal(p.tolerance_us, 500000);
    assert_int_equal(p.limit, 2);

    /* one per period: tolerance 0, strictly one at a time */
    rl.requests = 1;
    assert_int_equal(ds_gcra_params(&rl, &p), 0);
    assert_int_equal(p.emission_us, 1000000);
    assert_int_equal(p.tolerance_us, 0);
    assert_int_equal(p.limit, 1);

    /* uneven division rounds the interval up, never above the rate */
    rl.requests = 3;
    assert_int_equal(ds_gcra_params(&rl, &p), 0);
    assert_int_equal(p.emission_us, 333334);
    assert_true(p.emission_us * 3 >= 1000000);
}


static void
test_params_absurd(void **state)
{
    ds_rate_limit_t   rl;
    ds_gcra_params_t  p;

    (void) state;

    memset(&rl, 0, sizeof(rl));
    rl.period_ms = UINT64_MAX;
    rl.requests = 1;
    assert_int_equal(ds_gcra_params(&rl, &p), -1);

    rl.period_ms = 1000;
    rl.requests = UINT64_MAX;
    assert_int_equal(ds_gcra_params(&rl, &p), -1);

    rl.requests = 1;
    rl.burst = UINT64_MAX;
    assert_int_equal(ds_gcra_params(&rl, &p), -1);

    /* a year-long period with a huge burst overflows 2^52 us */
    rl.period_ms = 365ULL * 24 * 3600 * 1000;
    rl.requests = 1;
    rl.burst = 1000000;
    assert_int_equal(ds_gcra_params(&rl, &p), -1);
}


static void
test_key_recipient(void **state)
{
    char  buf[DS_GCRA_KEY_MAX];

    (void) state;

    assert_int_equal(ds_gcra_limit_key(buf, sizeof(buf), "ds:",
                                       "fraud-analytics", NULL),
                     strlen("ds:{fraud-analytics}:rl"));
    assert_string_equal(buf, "ds:{fraud-analytics}:rl");

    assert_true(ds_gcra_limit_key(buf, sizeof(buf), "", "a", NULL) > 0);
    assert_string_equal(buf, "{a}:rl");

    /* ids keep their case: they are exact in the policy */
    assert_true(ds_gcra_limit_key(buf, sizeof(buf), "ds:", "Acme_1.x",
                                  NULL) > 0);
    assert_string_equal(buf, "ds:{Acme_1.x}:rl");

    assert_int_equal(ds_gcra_limit_key(buf, sizeof(buf), "ds:", "", NULL),
                     0);
    assert_int_equal(ds_gcra_limit_key(buf, sizeof(buf), "ds:", NULL, NULL),
                     0);
}


static void
test_key_share(void **state)
{
    char  buf[DS_GCRA_KEY_MAX];

    (void) state;

    assert_true(ds_gcra_limit_key(buf, sizeof(buf), "ds:", "fa", "claims")
                > 0);
    assert_string_equal(buf, "ds:{fa}:rl:claims");

    /* share names are case-insensitive: one bucket for all spellings */
    assert_true(ds_gcra_limit_key(buf, sizeof(buf), "ds:", "fa", "CLaims")
                > 0);
    assert_string_equal(buf, "ds:{fa}:rl:claims");

    assert_int_equal(ds_gcra_limit_key(buf, sizeof(buf), "ds:", "fa", ""),
                     0);
}


static void
test_key_no_collision(void **state)
{
    char  a[DS_GCRA_KEY_MAX], b[DS_GCRA_KEY_MAX];

    (void) state;

    /* recipient "a:b" with share "c" vs recipient "a" with share "b:c" */
    assert_true(ds_gcra_limit_key(a, sizeof(a), "ds:", "a:b", "c") > 0);
    assert_true(ds_gcra_limit_key(b, sizeof(b), "ds:", "a", "b:c") > 0);
    assert_string_not_equal(a, b);
    assert_string_equal(a, "ds:{a%3Ab}:rl:c");
    assert_string_equal(b, "ds:{a}:rl:b%3Ac");

    /* recipient "a:b" (recipient scope) vs recipient "a", share "b" */
    assert_true(ds_gcra_limit_key(a, sizeof(a), "ds:", "a:b", NULL) > 0);
    assert_true(ds_gcra_limit_key(b, sizeof(b), "ds:", "a", "b") > 0);
    assert_string_not_equal(a, b);

    /* a literal "%3A" cannot pose as an encoded ':' */
    assert_true(ds_gcra_limit_key(a, sizeof(a), "ds:", "a%3Ab", NULL) > 0);
    assert_string_equal(a, "ds:{a%253Ab}:rl");

    /* bytes outside ASCII, spaces, braces (cluster hash tags) */
    assert_true(ds_gcra_limit_key(a, sizeof(a), "ds:", "x",
                                  "d\xc3\xa9j\xc3\xa0 {vu}") > 0);
    assert_string_equal(a, "ds:{x}:rl:d%C3%A9j%C3%A0%20%7Bvu%7D");
}


static void
test_key_bounds(void **state)
{
    char  buf[DS_GCRA_KEY_MAX];
    char  share[256], small[16];

    (void) state;

    /* the longest share the path parser lets through still fits */
    memset(share, ':', 255);
    share[255] = '\0';
    assert_int_equal(ds_gcra_limit_key(buf, sizeof(buf), "ds:", "r", share),
                     strlen("ds:{r}:rl:") + 3 * 255);

    assert_int_equal(ds_gcra_limit_key(small, sizeof(small), "ds:",
                                       "recipients", NULL), 0);
    assert_int_equal(ds_gcra_limit_key(small, sizeof(small), "ds:",
                                       "rec", NULL), 11);
    assert_string_equal(small, "ds:{rec}:rl");

    /* exactly full: the NUL needs its byte too */
    assert_int_equal(ds_gcra_limit_key(small, 11, "ds:", "rec", NULL), 0);
    assert_int_equal(ds_gcra_limit_key(small, 12, "ds:", "rec", NULL), 11);
    assert_int_equal(ds_gcra_limit_key(small, 11, "ds:", "%", NULL), 0);
}


static void
test_revoked_keys(void **state)
{
    char  buf[128], id[64];

    (void) state;

    assert_int_equal(ds_gcra_revoked_key(buf, sizeof(buf), "ds:", "acme",
                                         DS_GCRA_REVOKED_RECIPIENT),
                     strlen("ds:{acme}:revoked"));
    assert_string_equal(buf, "ds:{acme}:revoked");
    assert_true(ds_gcra_revoked_key(buf, sizeof(buf), "{ds}:", "acme",
                                    DS_GCRA_REVOKED_TOKENS) > 0);
    assert_string_equal(buf, "{ds}:{acme}:revoked_tokens");
    assert_true(ds_gcra_revoked_key(buf, sizeof(buf), "ds:", "a:b",
                                    DS_GCRA_REVOKED_SUBJECTS) > 0);
    assert_string_equal(buf, "ds:{a%3Ab}:revoked_subjects");
    assert_int_equal(ds_gcra_revoked_key(buf, sizeof(buf), "ds:", "",
                                         DS_GCRA_REVOKED_TOKENS), 0);
    assert_int_equal(ds_gcra_revoked_key(buf, sizeof(buf), "ds:", "a",
                                         (ds_gcra_revoked_t) 3), 0);
    assert_int_equal(ds_gcra_revoked_key(buf, 17, "ds:", "acme",
                                         DS_GCRA_REVOKED_RECIPIENT), 0);

    assert_true(ds_gcra_revoked_pattern(buf, sizeof(buf), "gw:",
                                        DS_GCRA_REVOKED_TOKENS) > 0);
    assert_string_equal(buf, "gw:{*}:revoked_tokens");

    /* list decodes what it finds; other keys are not revocations */
    ds_gcra_revoked_key(buf, sizeof(buf), "ds:", "a:b c",
                        DS_GCRA_REVOKED_TOKENS);
    assert_int_equal(ds_gcra_revoked_recipient(buf, strlen(buf), "ds:",
                         DS_GCRA_REVOKED_TOKENS, id, sizeof(id)), 5);
    assert_string_equal(id, "a:b c");
    assert_int_equal(ds_gcra_revoked_recipient(buf, strlen(buf), "ds:",
                         DS_GCRA_REVOKED_RECIPIENT, id, sizeof(id)), 0);
    assert_int_equal(ds_gcra_revoked_recipient(buf, strlen(buf), "gw:",
                         DS_GCRA_REVOKED_TOKENS, id, sizeof(id)), 0);
    assert_int_equal(ds_gcra_revoked_recipient("ds:{}:revoked", 13, "ds:",
                         DS_GCRA_REVOKED_RECIPIENT, id, sizeof(id)), 0);
    assert_int_equal(ds_gcra_revoked_recipient("ds:{a%0}:revoked", 16,
                         "ds:", DS_GCRA_REVOKED_RECIPIENT, id, sizeof(id)),
                     0);
    assert_int_equal(ds_gcra_revoked_recipient("ds:{a%00}:revoked", 17,
                         "ds:", DS_GCRA_REVOKED_RECIPIENT, id, sizeof(id)),
                     0);
    assert_int_equal(ds_gcra_revoked_recipient("ds:{acme}:revoked", 17,
                         "ds:", DS_GCRA_REVOKED_RECIPIENT, id, 4), 0);

    assert_true(ds_gcra_legacy_revoked_key(buf, sizeof(buf), "ds:", 0) > 0);
    assert_string_equal(buf, "ds:revoked:recipients");
    assert_true(ds_gcra_legacy_revoked_key(buf, sizeof(buf), "{ds}:", 1)
                > 0);
    assert_string_equal(buf, "{ds}:revoked:tokens");

    assert_true(ds_gcra_channel(buf, sizeof(buf), "ds:") > 0);
    assert_string_equal(buf, "ds:revocations");
    assert_int_equal(ds_gcra_channel(buf, 5, "ds:"), 0);
}


/* Redis Cluster's hash tag of a key: what decides its slot */
static void
test_hash_tag(const char *key, char *tag, size_t size)
{
    const char  *o, *c;

    o = strchr(key, '{');
    c = o ? strchr(o + 1, '}') : NULL;

    if (o == NULL || c == NULL || c == o + 1) {
        snprintf(tag, size, "%s", key);
        return;
    }

    snprintf(tag, size, "%.*s", (int) (c - o - 1), o + 1);
}


static void
test_one_slot(void **state)
{
    size_t       i, k;
    char         key[DS_GCRA_KEY_MAX], tag[DS_GCRA_KEY_MAX];
    char         first[DS_GCRA_KEY_MAX];
    const char  *prefixes[] = { "ds:", "", "{gw}:", "a{", "a}b{c", "x{y" };

    (void) state;

    /* whatever the prefix, the script's keys share one hash tag */
    for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        assert_true(ds_gcra_prefix_valid(prefixes[i], strlen(prefixes[i]))
                    || prefixes[i][0] == '\0');

        assert_true(ds_gcra_limit_key(key, sizeof(key), prefixes[i],
                                      "r:{x}", NULL) > 0);
        test_hash_tag(key, first, sizeof(first));

        assert_true(ds_gcra_limit_key(key, sizeof(key), prefixes[i],
                                      "r:{x}", "share{}") > 0);
        test_hash_tag(key, tag, sizeof(tag));
        assert_string_equal(tag, first);

        for (k = 0; k <= DS_GCRA_REVOKED_SUBJECTS; k++) {
            assert_true(ds_gcra_revoked_key(key, sizeof(key), prefixes[i],
                            "r:{x}", (ds_gcra_revoked_t) k) > 0);
            test_hash_tag(key, tag, sizeof(tag));
            assert_string_equal(tag, first);
        }
    }

    /* an empty first tag would hash whole names: refused */
    assert_int_equal(ds_gcra_prefix_valid("a{}b", 4), 0);
    assert_int_equal(ds_gcra_prefix_valid("{}", 2), 0);
    assert_int_equal(ds_gcra_prefix_valid("a}{b}", 5), 1);
}


static void
test_subject_id(void **state)
{
    char  a[DS_GCRA_SUBJECT_ID_LEN + 1], b[DS_GCRA_SUBJECT_ID_LEN + 1];

    (void) state;

    assert_int_equal(ds_gcra_subject_id(a, sizeof(a),
                                        "https://idp.example", "svc-1"), 0);
    assert_int_equal(strlen(a), DS_GCRA_SUBJECT_ID_LEN);
    assert_memory_equal(a, "sub:", 4);
    /* printf 'https://idp.example\0svc-1' | sha256sum */
    assert_string_equal(a + 4, "ce7ce5dd2aa1f3e36ce7e0a05536a8e5768675338b694b9c5ea264fd38215641");

    /* the NUL separates: ("ab", "c") is not ("a", "bc") */
    assert_int_equal(ds_gcra_subject_id(a, sizeof(a), "ab", "c"), 0);
    assert_int_equal(ds_gcra_subject_id(b, sizeof(b), "a", "bc"), 0);
    assert_string_not_equal(a, b);

    assert_int_equal(ds_gcra_subject_id(a, sizeof(a), "", "x"), -1);
    assert_int_equal(ds_gcra_subject_id(a, sizeof(a), "i", ""), -1);
    assert_int_equal(ds_gcra_subject_id(a, sizeof(a), NULL, "x"), -1);
    assert_int_equal(ds_gcra_subject_id(a, DS_GCRA_SUBJECT_ID_LEN, "i",
                                        "x"), -1);
}


static void
test_prefix(void **state)
{
    (void) state;

    assert_true(ds_gcra_prefix_valid("ds:", 3));
    assert_true(ds_gcra_prefix_valid("{ds}:prod.eu-1_", 15));
    assert_false(ds_gcra_prefix_valid("", 0));
    assert_false(ds_gcra_prefix_valid("ds :", 4));
    assert_false(ds_gcra_prefix_valid("ds\n", 3));
    assert_false(ds_gcra_prefix_valid("ds*", 3));
    assert_false(ds_gcra_prefix_valid(
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        65));
}


static void
test_reply_allowed(void **state)
{
    long long         v[5] = { 0, 7, 6, 12000, 0 };
    ds_gcra_result_t  res;

    (void) state;

    assert_int_equal(ds_gcra_parse_reply(v, 5, &res), 0);
    assert_int_equal(res.status, DS_GCRA_ALLOWED);
    assert_int_equal(res.limit, 7);
    assert_int_equal(res.remaining, 6);
    assert_int_equal(res.reset_ms, 12000);
    assert_int_equal(res.retry_ms, 0);

    /* no limit: revocation check only */
    v[1] = 0; v[2] = 0; v[3] = 0;
    assert_int_equal(ds_gcra_parse_reply(v, 5, &res), 0);
    assert_int_equal(res.status, DS_GCRA_ALLOWED);
    assert_int_equal(res.limit, 0);
}


static void
test_reply_limited(void **state)
{
    long long         v[5] = { 1, 7, 0, 84000, 11500 };
    ds_gcra_result_t  res;

    (void) state;

    assert_int_equal(ds_gcra_parse_reply(v, 5, &res), 0);
    assert_int_equal(res.status, DS_GCRA_LIMITED);
    assert_int_equal(res.retry_ms, 11500);
    assert_int_equal(res.reset_ms, 84000);
}


static void
test_reply_revoked(void **state)
{
    long long         t[5] = { 2, 0, 0, 0, 0 };
    long long         r[5] = { 3, 0, 0, 0, 0 };
    ds_gcra_result_t  res;

    (void) state;

    assert_int_equal(ds_gcra_parse_reply(t, 5, &res), 0);
    assert_int_equal(res.status, DS_GCRA_TOKEN_REVOKED);
    assert_int_equal(ds_gcra_parse_reply(r, 5, &res), 0);
    assert_int_equal(res.status, DS_GCRA_RECIPIENT_REVOKED);
}


static void
test_reply_invalid(void **state)
{
    static const long long  bad[][5] = {
        { 4, 0, 0, 0, 0 },          /* unknown status */
        { -1, 0, 0, 0, 0 },
        { 0, 7, 8, 0, 0 },          /* remaining above the limit */
        { 0, -7, 0, 0, 0 },
        { 0, 7, 1, -5, 0 },
        { 0, 7, 1, 5, 3 },          /* allowed with a retry delay */
        { 0, 0, 1, 0, 0 },          /* no limit, yet remaining */
        { 1, 7, 0, 100, 0 },        /* limited without a retry delay */
        { 1, 7, 2, 100, 50 },       /* limited with quota left */
        { 1, 0, 0, 100, 50 },       /* limited with no limit */
    };
    long long         ok[5] = { 0, 1, 0, 1, 0 };
    ds_gcra_result_t  res;
    size_t            i;

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ds_gcra_parse_reply(bad[i], 5, &res), -1);
    }

    assert_int_equal(ds_gcra_parse_reply(ok, 4, &res), -1);
    assert_int_equal(ds_gcra_parse_reply(ok, 6, &res), -1);
    assert_int_equal(ds_gcra_parse_reply(NULL, 5, &res), -1);
    assert_int_equal(ds_gcra_parse_reply(ok, 5, &res), 0);
}


static void
test_noscript(void **state)
{
    const char  *e = "NOSCRIPT No matching script. Please use EVAL.";

    (void) state;

    assert_true(ds_gcra_is_noscript(e, strlen(e)));
    assert_false(ds_gcra_is_noscript("ERR wrong", 9));
    assert_false(ds_gcra_is_noscript("NOSCRIP", 7));
    assert_false(ds_gcra_is_noscript(NULL, 0));
}


static void
test_seconds(void **state)
{
    (void) state;

    assert_int_equal(ds_gcra_seconds(0), 0);
    assert_int_equal(ds_gcra_seconds(-3), 0);
    assert_int_equal(ds_gcra_seconds(1), 1);
    assert_int_equal(ds_gcra_seconds(1000), 1);
    assert_int_equal(ds_gcra_seconds(1001), 2);
    assert_int_equal(ds_gcra_seconds(11500), 12);
}


static void
test_retry_after(void **state)
{
    char              buf[64];
    ds_gcra_result_t  res;

    (void) state;

    memset(&res, 0, sizeof(res));
    res.status = DS_GCRA_LIMITED;

    /* never 0: an immediate retry would be refused again */
    res.retry_ms = 0;
    assert_int_equal(ds_gcra_retry_after(&res), 1);
    res.retry_ms = 1;
    assert_int_equal(ds_gcra_retry_after(&res), 1);
    res.retry_ms = 2001;
    assert_int_equal(ds_gcra_retry_after(&res), 3);

    assert_int_equal(ds_gcra_retry_message(buf, sizeof(buf), 3),
                     strlen("Rate limit exceeded; retry in 3 seconds."));
    assert_string_equal(buf, "Rate limit exceeded; retry in 3 seconds.");
    ds_gcra_retry_message(buf, sizeof(buf), 1);
    assert_string_equal(buf, "Rate limit exceeded; retry in 1 second.");
    ds_gcra_retry_message(buf, sizeof(buf), 0);
    assert_string_equal(buf, "Rate limit exceeded; retry in 1 second.");
    ds_gcra_retry_message(buf, sizeof(buf), 3600);
    assert_string_equal(buf, "Rate limit exceeded; retry in 3600 seconds.");

    /* too small: nothing usable, and said so */
    assert_int_equal(ds_gcra_retry_message(buf, 10, 3), 0);
    assert_string_equal(buf, "");
}


static void
test_script(void **state)
{
    char         sha[DS_GCRA_SHA1_LEN + 1];
    const char  *s;
    size_t       i;

    (void) state;

    s = ds_gcra_script();
    assert_int_equal(strlen(s), ds_gcra_script_len());
    assert_non_null(strstr(s, "SISMEMBER"));
    assert_non_null(strstr(s, "'TIME'"));
    assert_non_null(strstr(s, "'PX'"));

    assert_int_equal(ds_gcra_script_sha1(sha), 0);
    assert_int_equal(strlen(sha), DS_GCRA_SHA1_LEN);

    for (i = 0; i < DS_GCRA_SHA1_LEN; i++) {
        assert_true((sha[i] >= '0' && sha[i] <= '9')
                    || (sha[i] >= 'a' && sha[i] <= 'f'));
    }
}


/* our RESP bytes are hiredis' own, for every length class */
static void
test_resp_matches_hiredis(void **state)
{
    static char   big[70000];
    const char   *argv[6];
    size_t        argvlen[6], n, i, sizes[] = { 0, 1, 9, 10, 99, 100,
                                                 9999, 10000, 69999 };
    char         *ref, small[8], *out;
    int           reflen, argc;

    (void) state;

    memset(big, 'x', sizeof(big));
    big[5] = '\r';
    big[6] = '\n';
    big[7] = '\0';

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        argv[0] = "EVALSHA";
        argvlen[0] = 7;
        argv[1] = "0123456789abcdef0123456789abcdef01234567";
        argvlen[1] = 40;
        argv[2] = big;
        argvlen[2] = sizes[i];
        argv[3] = "";
        argvlen[3] = 0;
        argc = (i % 2) ? 4 : 3;

        reflen = redisFormatCommandArgv(&ref, argc, argv, argvlen);
        assert_true(reflen > 0);

        /* too small: only the length comes back */
        assert_int_equal(ds_resp_command(small, sizeof(small), argc, argv,
                                         argvlen), reflen);

        out = malloc(reflen);
        n = ds_resp_command(out, reflen, argc, argv, argvlen);
        assert_int_equal(n, reflen);
        assert_memory_equal(out, ref, reflen);

        free(out);
        redisFreeCommand(ref);
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_resp_matches_hiredis),
        cmocka_unit_test(test_params_none),
        cmocka_unit_test(test_params_exact),
        cmocka_unit_test(test_params_absurd),
        cmocka_unit_test(test_key_recipient),
        cmocka_unit_test(test_key_share),
        cmocka_unit_test(test_key_no_collision),
        cmocka_unit_test(test_key_bounds),
        cmocka_unit_test(test_revoked_keys),
        cmocka_unit_test(test_one_slot),
        cmocka_unit_test(test_subject_id),
        cmocka_unit_test(test_prefix),
        cmocka_unit_test(test_reply_allowed),
        cmocka_unit_test(test_reply_limited),
        cmocka_unit_test(test_reply_revoked),
        cmocka_unit_test(test_reply_invalid),
        cmocka_unit_test(test_noscript),
        cmocka_unit_test(test_seconds),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_script),
    };

    return cmocka_run_group_tests_name("ds_gcra", tests, NULL, NULL);
}
