/*
 * ds_policy loader: accepted shapes, every error kind with the exact
 * location text, directories, the policy digest, and a scale run
 * (100,000 recipients) that prints load time and memory.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <cmocka.h>

#include "ds_policy_int.h"


#define DATA  "tests/unit/data/"

/* sha256("tok-a") and sha256("tok-b") */
#define DA  "4f66a4283f8bc9768c3cb97fd06d267b79315aee941c9c1727b9354509242ffe"
#define DB  "efa1cd32d437a4dd30463a379503cadfb2b13481660f6345110f3bde01f2e773"

#define DOC(recipients)  "{\"version\": 1, \"recipients\": [" recipients "]}"
#define TOK(id, d)       "{\"id\": \"" id "\", \"sha256\": \"" d "\"}"


static char  err[DS_ERR_MAX];


static ds_policy_t *
load(const char *json)
{
    err[0] = '\0';
    return ds_policy_load_buffer("p.json", json, strlen(json), err,
                                 sizeof(err));
}


/* the policy must be rejected with exactly this message */
static void
expect_error(const char *json, const char *msg)
{
    ds_policy_t  *p;

    p = load(json);
    if (p != NULL) {
        ds_policy_free(p);
        fail_msg("accepted, expected: %s", msg);
    }

    assert_string_equal(err, msg);
}


static void
test_minimal(void **state)
{
    ds_policy_t  *p;

    (void) state;

    p = load(DOC(""));
    assert_non_null(p);
    assert_int_equal(ds_policy_recipient_count(p), 0);
    assert_int_equal(strlen(ds_policy_digest(p)), 64);
    ds_policy_free(p);

    p = load(DOC("{\"id\": \"r\", \"tokens\": [" TOK("t", DA) "]}"));
    assert_non_null(p);
    assert_int_equal(ds_policy_recipient_count(p), 1);
    assert_int_equal(ds_policy_token_count(p), 1);
    assert_non_null(ds_policy_find_recipient(p, "r", 1));
    assert_null(ds_policy_find_recipient(p, "R", 1));
    assert_string_equal(ds_recipient_id(ds_policy_find_recipient(p, "r", 1)),
                        "r");
    ds_policy_free(p);
}


static void
test_full_recipient(void **state)
{
    ds_policy_t  *p;

    (void) state;

    p = load(DOC(
        "{\"id\": \"fraud-analytics\", \"display_name\": \"Acme\","
        " \"status\": \"active\","
        " \"contract\": {\"id\": \"DSA-1\","
        "   \"valid_from\": \"2029-01-01T00:00:00Z\","
        "   \"valid_until\": \"2031-01-01T00:00:00+01:00\","
        "   \"attestations\": [{\"type\": \"BAA\","
        "                      \"expires\": \"2030-06-01T00:00:00Z\"},"
        "                     {\"type\": \"DPA\"}]},"
        " \"tokens\": [{\"id\": \"fa-1\", \"sha256\": \"" DA "\","
        "   \"not_before\": \"2029-01-01T00:00:00Z\","
        "   \"expires\": \"2030-01-01T00:00:00.500Z\", \"purpose\": \"FRAUD\"},"
        "   " TOK("fa-2", DB) "],"
        " \"countries\": {\"allow\": [\"US\", \"CA\", \"unknown\"],"
        "                 \"deny\": [\"CN\"]},"
        " \"rate_limit\": {\"requests\": 100, \"per\": \"second\","
        "                  \"burst\": 20, \"scope\": \"recipient\"},"
        " \"grants\": [{\"share\": \"claims\", \"schema\": \"*\","
        "   \"table\": \"*\", \"operations\": [\"read\"],"
        "   \"purposes\": [\"FRAUD\", \"HPAYMT\"],"
        "   \"countries\": {\"allow\": [\"US\"]},"
        "   \"attestations\": [\"BAA\"],"
        "   \"valid_from\": \"2029-01-01T00:00:00Z\","
        "   \"valid_until\": \"2031-01-01T00:00:00Z\","
        "   \"rate_limit\": {\"requests\": 5, \"per\": \"minute\","
        "                    \"scope\": \"share\"}},"
        "  {\"share\": \"x\", \"operations\": [\"all\"]},"
        "  {\"share\": \"y\", \"operations\": [\"list_shares\","
        "     \"query_table\", \"temporary_table_credentials\"]}]}"));

    if (p == NULL) {
        fail_msg("%s", err);
    }

    assert_int_equal(ds_policy_token_count(p), 2);
    ds_policy_free(p);
}


static void
test_syntax_errors(void **state)
{
    (void) state;

    expect_error("{\"version\": 1,\n \"recipients\": [\n  x ]}",
                 "p.json:3:3: syntax error: invalid token near 'x'");
    expect_error("", "p.json:1:0: syntax error: unexpected token "
                 "near end of file");
    expect_error("{\"version\": 1, \"version\": 1, \"recipients\": []}",
                 "p.json:1:24: syntax error: duplicate object key "
                 "near '\"version\"'");
}


static void
test_structure_errors(void **state)
{
    (void) state;

    expect_error("[]", "p.json: $: must be an object with \"version\" "
                 "and \"recipients\"");
    expect_error("{\"recipients\": []}",
                 "p.json: $: missing required field \"version\"");
    expect_error("{\"version\": 2, \"recipients\": []}",
                 "p.json: $.version: unsupported version 2 "
                 "(this build reads 1)");
    expect_error("{\"version\": \"1\", \"recipients\": []}",
                 "p.json: $.version: must be an integer");
    expect_error("{\"version\": 1}",
                 "p.json: $: missing required field \"recipients\"");
    expect_error("{\"version\": 1, \"recipients\": {}}",
                 "p.json: $.recipients: must be an array");
    expect_error("{\"version\": 1, \"recipients\": [], \"extra\": 1}",
                 "p.json: $.extra: unknown field");
    expect_error(DOC("1"), "p.json: $.recipients[0]: must be an object");
    expect_error(DOC("{}"), "p.json: $.recipients[0]: missing required "
                 "field \"id\"");
    expect_error(DOC("{\"id\": \"a\"}, {\"id\": \"b\", \"contries\": {}}"),
                 "p.json: $.recipients[1].contries: unknown field");
    expect_error(DOC("{\"id\": \"a b\"}"),
                 "p.json: $.recipients[0].id: must be 1 to 128 characters "
                 "of A-Z a-z 0-9 . _ : @ -");
    expect_error(DOC("{\"id\": \"a\", \"status\": \"paused\"}"),
                 "p.json: $.recipients[0].status: must be \"active\" or "
                 "\"suspended\"");
    expect_error(DOC("{\"id\": \"a\", \"tokens\": {}}"),
                 "p.json: $.recipients[0].tokens: must be an array");
}


static void
test_token_errors(void **state)
{
    (void) state;

    expect_error(DOC("{\"id\": \"a\", \"tokens\": [{\"id\": \"t\"}]}"),
                 "p.json: $.recipients[0].tokens[0]: missing required "
                 "field \"sha256\"");
    expect_error(DOC("{\"id\": \"a\", \"tokens\": [{\"sha256\": \"" DA
                     "\"}]}"),
                 "p.json: $.recipients[0].tokens[0]: missing required "
                 "field \"id\"");
    expect_error(DOC("{\"id\": \"a\", \"tokens\": [" TOK("t", "abc") "]}"),
                 "p.json: $.recipients[0].tokens[0].sha256: must be 64 "
                 "lowercase hex digits");
    /* upper case hex is a different spelling: reject, do not guess */
    expect_error(DOC("{\"id\": \"a\", \"tokens\": [" TOK("t",
        "4F66A4283F8BC9768C3CB97FD06D267B79315AEE941C9C1727B9354509242FFE")
        "]}"),
                 "p.json: $.recipients[0].tokens[0].sha256: must be 64 "
                 "lowercase hex digits");
    expect_error(DOC("{\"id\": \"a\", \"tokens\": [" TOK("t", DA) ","
                     TOK("u", DB) ", {\"id\": \"v\", \"sha256\": \"" DA
                     "\", \"secret\": \"x\"}]}"),
                 "p.json: $.recipients[0].tokens[2].secret: unknown field");
    expect_error(DOC("{\"id\": \"a\", \"tokens\": [" TOK("t", DA) ","
                     TOK("u", DA) "]}"),
                 "p.json: $.recipients[0].tokens[1].sha256: duplicate token "
                 "digest (also token \"t\" of recipient \"a\" in p.json)");
    expect_error(DOC("{\"id\": \"a\", \"tokens\": [" TOK("t", DA) "]},"
                     "{\"id\": \"b\", \"tokens\": [" TOK("u", DA) "]}"),
                 "p.json: $.recipients[1].tokens[0].sha256: duplicate token "
                 "digest (also token \"t\" of recipient \"a\" in p.json)");
    expect_error(DOC("{\"id\": \"a\", \"tokens\": [" TOK("t", DA) "]},"
                     "{\"id\": \"b\", \"tokens\": [" TOK("t", DB) "]}"),
                 "p.json: $.recipients[1].tokens[0].id: duplicate token id "
                 "\"t\" (also in recipient \"a\" in p.json)");
    expect_error(DOC("{\"id\": \"a\", \"tokens\": [{\"id\": \"t\","
                     " \"sha256\": \"" DA "\", \"expires\": \"2030-02-30\"}]}"),
                 "p.json: $.recipients[0].tokens[0].expires: bad timestamp "
                 "\"2030-02-30\": must be RFC 3339, e.g. "
                 "\"2030-01-01T00:00:00Z\"");
    expect_error(DOC("{\"id\": \"a\", \"tokens\": [{\"id\": \"t\","
                     " \"sha256\": \"" DA "\","
                     " \"not_before\": \"2030-01-01T00:00:00Z\","
                     " \"expires\": \"2030-01-01T00:00:00Z\"}]}"),
                 "p.json: $.recipients[0].tokens[0].expires: must be later "
                 "than not_before");
    expect_error(DOC("{\"id\": \"a\", \"tokens\": [{\"id\": \"t\","
                     " \"sha256\": \"" DA "\", \"purpose\": \"A B\"}]}"),
                 "p.json: $.recipients[0].tokens[0].purpose: must be a "
                 "purpose code (1 to 64 of A-Z a-z 0-9 . _ : -)");
}


#define LT(v, recipients)                                                 \
    "{\"version\": 1, \"token_max_lifetime\": " v ", \"recipients\": ["   \
    recipients "]}"
#define TOKW(id, d, nb, exp)                                              \
    "{\"id\": \"" id "\", \"sha256\": \"" d "\", \"not_before\": \"" nb   \
    "\", \"expires\": \"" exp "\"}"


static void
test_max_lifetime(void **state)
{
    ds_policy_t  *p;
    const char   *doc;

    (void) state;

    /* exactly the maximum after not_before; and after "recipients" */
    doc = "{\"version\": 1, \"recipients\": [{\"id\": \"a\", \"tokens\": ["
          TOKW("t", DA, "2030-01-01T00:00:00Z", "2030-01-31T00:00:00Z")
          ", {\"id\": \"u\", \"sha256\": \"" DB "\", \"expires\": "
          "\"2099-01-01T00:00:00Z\"}]}], \"token_max_lifetime\": \"30d\"}";
    p = load(doc);
    if (p == NULL) {
        fail_msg("%s", err);
    }
    assert_int_equal(p->token_max_lifetime, 30LL * 86400000);
    assert_string_equal(p->token_max_lifetime_text, "30d");
    assert_string_equal(p->token_max_lifetime_source, "p.json");
    ds_policy_free(p);

    /* absent: no limit, tokens need no expiry */
    p = load(DOC("{\"id\": \"a\", \"tokens\": [" TOK("t", DA) "]}"));
    assert_non_null(p);
    assert_int_equal(p->token_max_lifetime, 0);
    ds_policy_free(p);

    expect_error(LT("\"30d\"", "{\"id\": \"a\", \"tokens\": ["
                    TOKW("t", DA, "2030-01-01T00:00:00Z",
                         "2030-01-31T00:00:00.001Z") "]}"),
                 "p.json: $.recipients[0].tokens[0].expires: more than "
                 "token_max_lifetime \"30d\" (in p.json) after not_before");
    expect_error(LT("\"30d\"", "{\"id\": \"a\"}, {\"id\": \"b\", "
                    "\"tokens\": [" TOKW("t", DA, "2030-01-01T00:00:00Z",
                                         "2030-01-02T00:00:00Z") ", "
                    TOK("u", DB) "]}"),
                 "p.json: $.recipients[1].tokens[1].expires: required, as "
                 "the policy sets token_max_lifetime \"30d\" (in p.json)");
    expect_error(LT("\"0d\"", ""),
                 "p.json: $.token_max_lifetime: must be a duration of more "
                 "than 0 such as \"365d\", \"52w\" or \"2160h\"");
    expect_error(LT("\"1y\"", ""),
                 "p.json: $.token_max_lifetime: must be a duration of more "
                 "than 0 such as \"365d\", \"52w\" or \"2160h\"");
    expect_error(LT("365", ""),
                 "p.json: $.token_max_lifetime: must be a duration of more "
                 "than 0 such as \"365d\", \"52w\" or \"2160h\"");
    expect_error("{\"version\": 1, \"token_max_lifetime\": \"1d\", "
                 "\"token_max_lifetime\": \"1d\", \"recipients\": []}",
                 "p.json:1:63: syntax error: duplicate object key near "
                 "'\"token_max_lifetime\"'");
}


static void
test_recipient_id_duplicate(void **state)
{
    (void) state;

    expect_error(DOC("{\"id\": \"a\"}, {\"id\": \"a\"}"),
                 "p.json: $.recipients[1].id: duplicate recipient id \"a\" "
                 "(first in p.json)");
}


static void
test_grant_errors(void **state)
{
    (void) state;

    expect_error(DOC("{\"id\": \"a\", \"grants\": [{}]}"),
                 "p.json: $.recipients[0].grants[0]: missing required field "
                 "\"share\"");
    expect_error(DOC("{\"id\": \"a\", \"grants\": [{\"share\": \"s\","
                     " \"operations\": [\"read\", \"delete_table\"]}]}"),
                 "p.json: $.recipients[0].grants[0].operations[1]: unknown "
                 "operation \"delete_table\"");
    expect_error(DOC("{\"id\": \"a\", \"grants\": [{\"share\": \"s\","
                     " \"operations\": []}]}"),
                 "p.json: $.recipients[0].grants[0].operations: must not be "
                 "empty");
    expect_error(DOC("{\"id\": \"a\", \"grants\": [{\"share\": \"a/b\"}]}"),
                 "p.json: $.recipients[0].grants[0].share: must be \"*\" or "
                 "a name of 1 to 255 bytes without '/' or control "
                 "characters");
    expect_error(DOC("{\"id\": \"a\", \"grants\": [{\"share\": \"s\","
                     " \"purposes\": [\"FRAUD\", \"\"]}]}"),
                 "p.json: $.recipients[0].grants[0].purposes[1]: must be a "
                 "purpose code (1 to 64 of A-Z a-z 0-9 . _ : -)");
    expect_error(DOC("{\"id\": \"a\", \"grants\": [{\"share\": \"s\","
                     " \"tables\": \"*\"}]}"),
                 "p.json: $.recipients[0].grants[0].tables: unknown field");
    expect_error(DOC("{\"id\": \"a\", \"grants\": [{\"share\": \"s\","
                     " \"valid_from\": \"2031-01-01T00:00:00Z\","
                     " \"valid_until\": \"2030-01-01T00:00:00Z\"}]}"),
                 "p.json: $.recipients[0].grants[0].valid_until: must be "
                 "later than valid_from");
}


static void
test_country_errors(void **state)
{
    (void) state;

    expect_error(DOC("{\"id\": \"a\", \"countries\": {\"allow\": [\"us\"]}}"),
                 "p.json: $.recipients[0].countries.allow[0]: bad country "
                 "code: must be an ISO 3166-1 alpha-2 code in upper case "
                 "(\"US\") or \"unknown\"");
    /* "UK" is not assigned: Great Britain is GB */
    expect_error(DOC("{\"id\": \"a\", \"grants\": [{\"share\": \"s\","
                     " \"countries\": {\"deny\": [\"CN\", \"UK\"]}}]}"),
                 "p.json: $.recipients[0].grants[0].countries.deny[1]: bad "
                 "country code: must be an ISO 3166-1 alpha-2 code in upper "
                 "case (\"US\") or \"unknown\"");
    expect_error(DOC("{\"id\": \"a\", \"countries\": {\"only\": []}}"),
                 "p.json: $.recipients[0].countries.only: unknown field");
}


static void
test_rate_limit_errors(void **state)
{
    (void) state;

    expect_error(DOC("{\"id\": \"a\", \"rate_limit\": {\"per\": \"hour\"}}"),
                 "p.json: $.recipients[0].rate_limit: missing required "
                 "field \"requests\"");
    expect_error(DOC("{\"id\": \"a\", \"rate_limit\": {\"requests\": 0}}"),
                 "p.json: $.recipients[0].rate_limit.requests: bad rate "
                 "limit: must be a positive integer");
    expect_error(DOC("{\"id\": \"a\", \"rate_limit\": {\"requests\": 1,"
                     " \"per\": \"day\"}}"),
                 "p.json: $.recipients[0].rate_limit.per: bad rate limit: "
                 "must be \"second\", \"minute\" or \"hour\"");
    expect_error(DOC("{\"id\": \"a\", \"rate_limit\": {\"requests\": 1,"
                     " \"burst\": -1}}"),
                 "p.json: $.recipients[0].rate_limit.burst: bad rate limit: "
                 "must be 0 or more");
    expect_error(DOC("{\"id\": \"a\", \"grants\": [{\"share\": \"s\","
                     " \"rate_limit\": {\"requests\": 1,"
                     " \"scope\": \"table\"}}]}"),
                 "p.json: $.recipients[0].grants[0].rate_limit.scope: bad "
                 "rate limit: must be \"recipient\" or \"share\"");
}


static void
test_contract_errors(void **state)
{
    (void) state;

    expect_error(DOC("{\"id\": \"a\", \"contract\": {\"attestations\":"
                     " [{\"type\": \"BAA\", \"expires\": \"soon\"}]}}"),
                 "p.json: $.recipients[0].contract.attestations[0].expires: "
                 "bad timestamp \"soon\": must be RFC 3339, e.g. "
                 "\"2030-01-01T00:00:00Z\"");
    expect_error(DOC("{\"id\": \"a\", \"contract\": {\"attestations\":"
                     " [{\"expires\": \"2030-01-01T00:00:00Z\"}]}}"),
                 "p.json: $.recipients[0].contract.attestations[0]: missing "
                 "required field \"type\"");
    expect_error(DOC("{\"id\": \"a\", \"contract\": {\"signed\": true}}"),
                 "p.json: $.recipients[0].contract.signed: unknown field");
}


static void
test_directory(void **state)
{
    ds_policy_t  *p;
    ds_policy_t  *q;

    (void) state;

    /* hidden files and non-*.json are not read */
    p = ds_policy_load(DATA "multi", err, sizeof(err));
    if (p == NULL) {
        fail_msg("%s", err);
    }

    assert_int_equal(ds_policy_recipient_count(p), 2);
    assert_non_null(ds_policy_find_recipient(p, "alpha", 5));
    assert_non_null(ds_policy_find_recipient(p, "beta", 4));

    /* the digest does not depend on how the directory is spelled */
    q = ds_policy_load(DATA "multi/", err, sizeof(err));
    assert_non_null(q);
    assert_string_equal(ds_policy_digest(p), ds_policy_digest(q));
    ds_policy_free(q);

    /* a single file of the set is a different policy */
    q = ds_policy_load(DATA "multi/10-alpha.json", err, sizeof(err));
    assert_non_null(q);
    assert_int_equal(ds_policy_recipient_count(q), 1);
    assert_string_not_equal(ds_policy_digest(p), ds_policy_digest(q));
    ds_policy_free(q);
    ds_policy_free(p);

    p = ds_policy_load(DATA "dup-recipient", err, sizeof(err));
    assert_null(p);
    assert_string_equal(err, DATA "dup-recipient/b.json: $.recipients[0].id: "
                        "duplicate recipient id \"same\" (first in "
                        DATA "dup-recipient/a.json)");

    p = ds_policy_load(DATA "dup-digest/", err, sizeof(err));
    assert_null(p);
    assert_string_equal(err, DATA "dup-digest/b.json: "
                        "$.recipients[1].tokens[0].sha256: duplicate token "
                        "digest (also token \"a-1\" of recipient \"one\" in "
                        DATA "dup-digest/a.json)");

    p = ds_policy_load(DATA "empty", err, sizeof(err));
    assert_null(p);
    assert_string_equal(err, DATA "empty: no *.json policy files");

    p = ds_policy_load(DATA "nope.json", err, sizeof(err));
    assert_null(p);
    assert_string_equal(err, DATA "nope.json: cannot open: No such file or "
                        "directory");
}


static void
test_digest(void **state)
{
    ds_policy_t  *a, *b;
    char          da[65];
    const char   *doc1 = DOC("{\"id\": \"a\"}");
    const char   *doc2 = DOC("{\"id\": \"b\"}");

    (void) state;

    a = load(doc1);
    b = load(doc1);
    assert_string_equal(ds_policy_digest(a), ds_policy_digest(b));
    strcpy(da, ds_policy_digest(a));
    ds_policy_free(b);

    b = load(doc2);
    assert_string_not_equal(da, ds_policy_digest(b));
    ds_policy_free(a);
    ds_policy_free(b);

    ds_token_digest_hex("tok-a", 5, da);
    assert_string_equal(da, DA);
}


static double
now_s(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


/* no assertion on time: this prints what docs/policy.md reports */
static void
test_scale(void **state)
{
    const char    *path = "/tmp/ds-policy-scale.json";
    FILE          *f;
    size_t         i, n;
    char           tok[32], hex[65], share[32], id[32];
    double         t0, t1;
    struct rusage  ru0, ru1;
    ds_policy_t   *p;
    ds_verdict_t   v;
    ds_facts_t     fa;

    (void) state;

    n = getenv("DS_SCALE") ? strtoul(getenv("DS_SCALE"), NULL, 10) : 100000;

    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "{\"version\": 1, \"recipients\": [\n");

    for (i = 0; i < n; i++) {
        snprintf(tok, sizeof(tok), "tok-%zu", i);
        ds_token_digest_hex(tok, strlen(tok), hex);
        fprintf(f, "%s{\"id\": \"r%zu\", \"status\": \"active\","
                " \"contract\": {\"valid_until\": \"2031-01-01T00:00:00Z\"},"
                " \"tokens\": [{\"id\": \"t%zu\", \"sha256\": \"%s\","
                " \"expires\": \"2031-01-01T00:00:00Z\"}],"
                " \"grants\": [{\"share\": \"s%zu\", \"schema\": \"*\","
                " \"table\": \"*\", \"purposes\": [\"FRAUD\"]}]}\n",
                i ? "," : "", i, i, hex, i % 100);
    }

    fprintf(f, "]}\n");
    fclose(f);

    getrusage(RUSAGE_SELF, &ru0);
    t0 = now_s();
    p = ds_policy_load(path, err, sizeof(err));
    t1 = now_s();
    getrusage(RUSAGE_SELF, &ru1);

    if (p == NULL) {
        fail_msg("%s", err);
    }

    assert_int_equal(ds_policy_recipient_count(p), n);

    /* a recipient near the end decides like any other */
    i = n > 100 ? n - 93 : 0;
    snprintf(tok, sizeof(tok), "tok-%zu", i);
    snprintf(share, sizeof(share), "S%zu", i % 100);
    snprintf(id, sizeof(id), "r%zu", i);

    memset(&fa, 0, sizeof(fa));
    fa.op = DS_OP_LIST_SCHEMAS;
    fa.share = share;
    fa.token = tok;
    fa.token_len = strlen(tok);
    fa.purpose = "FRAUD";
    fa.purpose_len = 5;
    fa.now_ms = 1893456000000LL;
    ds_decide(p, &fa, &v);
    assert_true(v.allow);
    assert_string_equal(v.recipient_id, id);

    printf("scale: %zu recipients loaded in %.3f s, peak RSS grew by "
           "%ld MB (max RSS %ld MB)\n", n, t1 - t0,
           (ru1.ru_maxrss - ru0.ru_maxrss) / 1024, ru1.ru_maxrss / 1024);

    ds_policy_free(p);
    if (getenv("DS_SCALE_KEEP") == NULL) {
        remove(path);
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_minimal),
        cmocka_unit_test(test_full_recipient),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_structure_errors),
        cmocka_unit_test(test_token_errors),
        cmocka_unit_test(test_max_lifetime),
        cmocka_unit_test(test_recipient_id_duplicate),
        cmocka_unit_test(test_grant_errors),
        cmocka_unit_test(test_country_errors),
        cmocka_unit_test(test_rate_limit_errors),
        cmocka_unit_test(test_contract_errors),
        cmocka_unit_test(test_directory),
        cmocka_unit_test(test_digest),
        cmocka_unit_test(test_scale),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
