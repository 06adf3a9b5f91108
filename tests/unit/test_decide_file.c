/*
 * ds_decide_file: a download re-checked live against the policy, and
 * the verdicts of links that do not open.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ds_decide_file.h"
#include "ds_time.h"


#define D64  "0000000000000000000000000000000000000000000000000000000000000000"
#define D65  "1111111111111111111111111111111111111111111111111111111111111111"
#define D66  "2222222222222222222222222222222222222222222222222222222222222222"

static const char  policy_text[] =
    "{\"version\": 1, \"recipients\": ["
    " {\"id\": \"fraud\", \"status\": \"active\","
    "  \"contract\": {\"valid_until\": \"2030-06-01T00:00:00Z\","
    "    \"attestations\": [{\"type\": \"BAA\","
    "                       \"expires\": \"2030-03-01T00:00:00Z\"}]},"
    "  \"countries\": {\"allow\": [\"US\"]},"
    "  \"tokens\": [{\"id\": \"f-1\", \"sha256\": \"" D64 "\","
    "               \"expires\": \"2030-02-01T00:00:00Z\"}],"
    "  \"grants\": ["
    "   {\"share\": \"claims\", \"schema\": \"adj\", \"table\": \"*\","
    "    \"purposes\": [\"FRAUD\"], \"attestations\": [\"BAA\"]},"
    "   {\"share\": \"meta\", \"operations\": [\"table_metadata\"]},"
    "   {\"share\": \"feed\", \"operations\": [\"query_changes\"]}]},"
    " {\"id\": \"paused\", \"status\": \"suspended\","
    "  \"tokens\": [{\"id\": \"p-1\", \"sha256\": \"" D65 "\"}],"
    "  \"grants\": [{\"share\": \"claims\"}]},"
    " {\"id\": \"other\","
    "  \"tokens\": [{\"id\": \"o-1\", \"sha256\": \"" D66 "\"}],"
    "  \"grants\": [{\"share\": \"claims\"}]}"
    "]}";


static ds_policy_t  *policy;


static int64_t
T(const char *s)
{
    int64_t  ms;

    assert_int_equal(ds_time_parse_rfc3339(s, strlen(s), &ms), 0);
    return ms;
}


static int
setup(void **state)
{
    char  err[DS_ERR_MAX];

    (void) state;

    policy = ds_policy_load_buffer("file.json", policy_text,
                                   sizeof(policy_text) - 1, err,
                                   sizeof(err));
    if (policy == NULL) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }

    return 0;
}


static int
teardown(void **state)
{
    (void) state;
    ds_policy_free(policy);
    return 0;
}


static void
set(const char **s, size_t *n, const char *v)
{
    *s = v;
    *n = strlen(v);
}


static ds_cap_claims_t
link_of(const char *recipient, const char *token, const char *share,
    const char *purpose)
{
    ds_cap_claims_t  c;

    memset(&c, 0, sizeof(c));
    set(&c.recipient, &c.recipient_len, recipient);
    set(&c.token_id, &c.token_id_len, token);
    set(&c.share, &c.share_len, share);
    set(&c.schema, &c.schema_len, "adj");
    set(&c.table, &c.table_len, "t1");
    set(&c.file_id, &c.file_id_len, "f0");
    set(&c.purpose, &c.purpose_len, purpose);
    set(&c.url, &c.url_len, "http://store/x");
    c.expires_ms = T("2031-01-01T00:00:00Z");

    return c;
}


static ds_verdict_t
judge(ds_cap_claims_t c, const char *country, const char *at)
{
    ds_verdict_t     v;
    ds_file_names_t  names;

    ds_decide_file(policy, &c, country, NULL, T(at), &names, &v);

    return v;
}


#define AT   "2030-01-15T00:00:00Z"


static void
test_allowed(void **state)
{
    ds_verdict_t  v;

    (void) state;

    v = judge(link_of("fraud", "f-1", "claims", "FRAUD"), "US", AT);
    assert_true(v.allow);
    assert_string_equal(v.recipient_id, "fraud");
    assert_string_equal(v.token_id, "f-1");

    /* a grant of query_changes only: the file came from the feed */
    v = judge(link_of("fraud", "f-1", "feed", ""), "US", AT);
    assert_true(v.allow);
}


static void
test_live_checks(void **state)
{
    ds_verdict_t  v;

    (void) state;

    /* the downloader's country, not the caller's */
    v = judge(link_of("fraud", "f-1", "claims", "FRAUD"), "FR", AT);
    assert_int_equal(v.reason, DS_REASON_COUNTRY_DENIED);
    assert_int_equal(v.http_status, 403);

    v = judge(link_of("fraud", "f-1", "claims", "FRAUD"), "", AT);
    assert_int_equal(v.reason, DS_REASON_COUNTRY_UNKNOWN);

    /* the token's window ended after the link was handed out: 403 */
    v = judge(link_of("fraud", "f-1", "claims", "FRAUD"), "US",
              "2030-02-01T00:00:00Z");
    assert_int_equal(v.reason, DS_REASON_TOKEN_EXPIRED);
    assert_int_equal(v.http_status, 403);

    /* purpose no longer (or never) allowed */
    v = judge(link_of("fraud", "f-1", "claims", "TREAT"), "US", AT);
    assert_int_equal(v.reason, DS_REASON_PURPOSE_DENIED);
    v = judge(link_of("fraud", "f-1", "claims", ""), "US", AT);
    assert_int_equal(v.reason, DS_REASON_PURPOSE_MISSING);

    /* no grant for a read that hands out files */
    v = judge(link_of("fraud", "f-1", "meta", ""), "US", AT);
    assert_int_equal(v.reason, DS_REASON_OPERATION_DENIED);
    v = judge(link_of("fraud", "f-1", "gone", ""), "US", AT);
    assert_int_equal(v.reason, DS_REASON_NOT_ENTITLED);

    /* suspended since */
    v = judge(link_of("paused", "p-1", "claims", ""), NULL, AT);
    assert_int_equal(v.reason, DS_REASON_RECIPIENT_SUSPENDED);
}


static void
test_policy_changed(void **state)
{
    ds_verdict_t  v;

    (void) state;

    /* the token was removed from the policy */
    v = judge(link_of("fraud", "f-gone", "claims", "FRAUD"), "US", AT);
    assert_int_equal(v.reason, DS_REASON_TOKEN_UNKNOWN);
    assert_int_equal(v.http_status, 403);

    /* a token id that now belongs to another recipient */
    v = judge(link_of("fraud", "o-1", "claims", ""), "US", AT);
    assert_false(v.allow);
    assert_int_equal(v.reason, DS_REASON_FILE_LINK_INVALID);

    /* empty names never reach the policy */
    v = judge(link_of("fraud", "", "claims", "FRAUD"), "US", AT);
    assert_int_equal(v.reason, DS_REASON_FILE_LINK_INVALID);

}


static void
test_contract_and_attestation(void **state)
{
    ds_verdict_t  v;
    ds_policy_t  *p2;
    char          err[DS_ERR_MAX];
    static const char  text[] =
        "{\"version\": 1, \"recipients\": [{\"id\": \"r\","
        " \"contract\": {\"valid_until\": \"2030-01-15T00:00:05Z\"},"
        " \"tokens\": [{\"id\": \"r-1\", \"sha256\": \"" D64 "\"}],"
        " \"grants\": [{\"share\": \"s\"}]}]}";
    ds_cap_claims_t  c;
    ds_file_names_t  names;

    (void) state;

    /* the BAA has expired by March */
    v = judge(link_of("fraud", "f-1", "claims", "FRAUD"), "US",
              "2030-03-01T00:00:00Z");
    assert_false(v.allow);

    p2 = ds_policy_load_buffer("c.json", text, sizeof(text) - 1, err,
                               sizeof(err));
    assert_non_null(p2);

    c = link_of("r", "r-1", "s", "");

    ds_decide_file(p2, &c, NULL, NULL, T("2030-01-15T00:00:04Z"), &names,
                   &v);
    assert_true(v.allow);

    /* the contract ends at its instant, mid-way through the link's life */
    ds_decide_file(p2, &c, NULL, NULL, T("2030-01-15T00:00:05Z"), &names,
                   &v);
    assert_int_equal(v.reason, DS_REASON_CONTRACT_EXPIRED);

    ds_policy_free(p2);
}


static void
test_link_verdicts(void **state)
{
    ds_verdict_t  v;

    (void) state;

    ds_decide_file_link(DS_CAP_EXPIRED, &v);
    assert_int_equal(v.reason, DS_REASON_FILE_LINK_EXPIRED);
    assert_int_equal(v.http_status, 410);
    assert_string_equal(ds_reason_name(v.reason), "file_link_expired");

    ds_decide_file_link(DS_CAP_BAD_SEAL, &v);
    assert_int_equal(v.reason, DS_REASON_FILE_LINK_INVALID);
    assert_int_equal(v.http_status, 404);

    ds_decide_file_link(DS_CAP_UNKNOWN_KEY, &v);
    assert_int_equal(v.http_status, 404);
    assert_false(v.allow);

    assert_int_equal(ds_reason_http_status(DS_REASON_FILE_STORE_ERROR), 502);
    assert_string_equal(ds_reason_name(DS_REASON_FILES_PROXY_NO_DIR),
                        "files_proxy_no_dir");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_allowed),
        cmocka_unit_test(test_live_checks),
        cmocka_unit_test(test_policy_changed),
        cmocka_unit_test(test_contract_and_attestation),
        cmocka_unit_test(test_link_verdicts),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
