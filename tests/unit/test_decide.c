/*
 * ds_decide: every reason code, the order of checks, names, wildcards,
 * rotation, windows at the exact instant, countries, purposes, list
 * visibility. Time is always given (facts.now_ms): nothing sleeps.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ds_policy.h"
#include "ds_time.h"


/* "@name@" in the fixture becomes sha256("tok-name") */
#define FIXTURE  "tests/unit/data/decide.json"


#define T(s)  ms_of(s)
#define T0    T("2030-01-15T00:00:00Z")

static ds_policy_t  *policy;


static int64_t
ms_of(const char *s)
{
    int64_t  ms;

    if (ds_time_parse_rfc3339(s, strlen(s), &ms) != 0) {
        fail_msg("bad time %s", s);
    }

    return ms;
}


static int
setup(void **state)
{
    char         src[8192], text[16384], name[32], tok[40], hex[65];
    char         err[DS_ERR_MAX];
    size_t       i, o, n;
    const char  *end;
    FILE        *f;

    (void) state;

    f = fopen(FIXTURE, "r");
    if (f == NULL) {
        perror(FIXTURE);
        return -1;
    }

    n = fread(src, 1, sizeof(src) - 1, f);
    fclose(f);
    src[n] = '\0';

    for (i = 0, o = 0; src[i] && o + 65 < sizeof(text); ) {
        end = (src[i] == '@') ? strchr(src + i + 1, '@') : NULL;

        if (end == NULL) {
            text[o++] = src[i++];
            continue;
        }

        snprintf(name, sizeof(name), "%.*s", (int) (end - src - i - 1),
                 src + i + 1);
        snprintf(tok, sizeof(tok), "tok-%s", name);
        ds_token_digest_hex(tok, strlen(tok), hex);
        memcpy(text + o, hex, 64);
        o += 64;
        i = end - src + 1;
    }

    text[o] = '\0';

    policy = ds_policy_load_buffer(FIXTURE, text, o, err, sizeof(err));
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


typedef struct {
    const char  *token;         /* "f1" -> "tok-f1"; NULL none */
    ds_op_t      op;
    const char  *share;
    const char  *schema;
    const char  *table;
    const char  *purpose;
    const char  *country;
    int64_t      now;
} req_t;


static ds_verdict_t
decide(req_t q)
{
    ds_facts_t    f;
    ds_verdict_t  v;
    char          tok[40];

    memset(&f, 0, sizeof(f));
    f.op = q.op;
    f.share = q.share;
    f.schema = q.schema;
    f.table = q.table;
    f.country = q.country;
    f.now_ms = q.now ? q.now : T0;

    if (q.token) {
        snprintf(tok, sizeof(tok), "tok-%s", q.token);
        f.token = tok;
        f.token_len = strlen(tok);
    }

    if (q.purpose) {
        f.purpose = q.purpose;
        f.purpose_len = strlen(q.purpose);
    }

    ds_decide(policy, &f, &v);

    /* nothing the client sees may carry the token */
    if (q.token && strstr(v.detail, tok)) {
        fail_msg("detail leaks the token: %s", v.detail);
    }

    return v;
}


/* a table read on claims/adjudicated/medical_claims, allowed at T0 */
#define CLAIMS(tok)                                                       \
    .token = tok, .op = DS_OP_QUERY_TABLE, .share = "claims",             \
    .schema = "adjudicated", .table = "medical_claims"

#define assert_reason(v, r)                                               \
    do {                                                                  \
        ds_verdict_t  _v = (v);                                           \
        if (_v.reason != (r)) {                                           \
            fail_msg("reason %s, expected %s (%s)",                       \
                     ds_reason_name(_v.reason), ds_reason_name(r),        \
                     _v.detail);                                          \
        }                                                                 \
        assert_int_equal(_v.allow, (r) == DS_REASON_ALLOWED);             \
        assert_int_equal(_v.http_status, ds_reason_http_status(r));       \
    } while (0)


static void
test_token_checks(void **state)
{
    ds_facts_t    f;
    ds_verdict_t  v;

    (void) state;

    v = decide((req_t) { CLAIMS(NULL) });
    assert_reason(v, DS_REASON_TOKEN_MISSING);
    assert_int_equal(v.http_status, 401);
    assert_null(v.recipient_id);

    memset(&f, 0, sizeof(f));
    f.op = DS_OP_LIST_SHARES;
    f.token_malformed = 1;
    f.now_ms = T0;
    ds_decide(policy, &f, &v);
    assert_reason(v, DS_REASON_TOKEN_MALFORMED);

    v = decide((req_t) { CLAIMS("nobody"), .purpose = "FRAUD" });
    assert_reason(v, DS_REASON_TOKEN_UNKNOWN);
    assert_null(v.recipient_id);
    assert_null(v.token_id);

    /* an unknown token is unknown even for a path that does not exist */
    v = decide((req_t) { .token = "nobody", .op = DS_OP_UNKNOWN });
    assert_reason(v, DS_REASON_TOKEN_UNKNOWN);
}


static void
test_rotation(void **state)
{
    ds_verdict_t  v;

    (void) state;

    /* two live tokens for one recipient, a third one expired */
    v = decide((req_t) { CLAIMS("f1"), .purpose = "FRAUD" });
    assert_reason(v, DS_REASON_ALLOWED);
    assert_string_equal(v.recipient_id, "fraud");
    assert_string_equal(v.token_id, "f-1");

    v = decide((req_t) { CLAIMS("f2"), .purpose = "FRAUD" });
    assert_reason(v, DS_REASON_ALLOWED);
    assert_string_equal(v.recipient_id, "fraud");
    assert_string_equal(v.token_id, "f-2");

    v = decide((req_t) { CLAIMS("fold"), .purpose = "FRAUD" });
    assert_reason(v, DS_REASON_TOKEN_EXPIRED);
    assert_int_equal(v.http_status, 401);
    /* identified, though denied: the audit record names it */
    assert_string_equal(v.token_id, "f-old");
}


static void
test_token_window_instant(void **state)
{
    ds_verdict_t  v;
    int64_t       exp;

    (void) state;

    exp = T("2030-02-01T00:00:00Z");

    v = decide((req_t) { CLAIMS("f2"), .purpose = "FRAUD", .now = exp - 1 });
    assert_reason(v, DS_REASON_ALLOWED);

    /* expires is exclusive: at the instant the token is expired */
    v = decide((req_t) { CLAIMS("f2"), .purpose = "FRAUD", .now = exp });
    assert_reason(v, DS_REASON_TOKEN_EXPIRED);

    /* not_before is inclusive */
    v = decide((req_t) { CLAIMS("f2"), .purpose = "FRAUD",
                         .now = T("2029-12-01T00:00:00Z") - 1 });
    assert_reason(v, DS_REASON_TOKEN_NOT_YET_VALID);

    v = decide((req_t) { CLAIMS("f2"), .purpose = "FRAUD",
                         .now = T("2029-12-01T00:00:00Z") });
    assert_reason(v, DS_REASON_ALLOWED);

    v = decide((req_t) { CLAIMS("ffut"), .purpose = "FRAUD" });
    assert_reason(v, DS_REASON_TOKEN_NOT_YET_VALID);
    assert_int_equal(v.http_status, 401);
}


static void
test_recipient_and_contract(void **state)
{
    ds_verdict_t  v;
    int64_t       end;

    (void) state;

    v = decide((req_t) { .token = "s", .op = DS_OP_GET_SHARE,
                         .share = "claims" });
    assert_reason(v, DS_REASON_RECIPIENT_SUSPENDED);
    assert_int_equal(v.http_status, 403);
    assert_string_equal(v.recipient_id, "paused");

    v = decide((req_t) { .token = "early", .op = DS_OP_GET_SHARE,
                         .share = "claims" });
    assert_reason(v, DS_REASON_CONTRACT_INACTIVE);

    v = decide((req_t) { .token = "late", .op = DS_OP_GET_SHARE,
                         .share = "claims" });
    assert_reason(v, DS_REASON_CONTRACT_EXPIRED);

    /* access ends at the instant the contract does, with no reload */
    end = T("2031-01-01T00:00:00Z");
    v = decide((req_t) { .token = "f1", .op = DS_OP_GET_SHARE,
                         .share = "mixed_case", .now = end - 1 });
    assert_reason(v, DS_REASON_ALLOWED);
    v = decide((req_t) { .token = "f1", .op = DS_OP_GET_SHARE,
                         .share = "mixed_case", .now = end });
    assert_reason(v, DS_REASON_CONTRACT_EXPIRED);

    v = decide((req_t) { .token = "f1", .op = DS_OP_GET_SHARE,
                         .share = "mixed_case",
                         .now = T("2029-01-01T00:00:00Z") - 1 });
    assert_reason(v, DS_REASON_CONTRACT_INACTIVE);
}


static int64_t  fake_now;


static int64_t
fake_clock(void)
{
    return fake_now;
}


/* facts without a time use the core's clock, which tests can set */
static void
test_injected_clock(void **state)
{
    ds_facts_t    f;
    ds_verdict_t  v;

    (void) state;

    memset(&f, 0, sizeof(f));
    f.op = DS_OP_GET_SHARE;
    f.share = "mixed_case";
    f.token = "tok-f1";
    f.token_len = 6;

    ds_time_set_clock(fake_clock);

    fake_now = T("2031-01-01T00:00:00Z") - 1;
    ds_decide(policy, &f, &v);
    assert_reason(v, DS_REASON_ALLOWED);

    /* the contract ends: the next call is denied, nothing reloaded */
    fake_now += 1;
    ds_decide(policy, &f, &v);
    assert_reason(v, DS_REASON_CONTRACT_EXPIRED);

    fake_now = T("2030-06-01T00:00:00Z");
    f.op = DS_OP_QUERY_TABLE;
    f.share = "claims";
    f.schema = "adjudicated";
    f.table = "pharmacy_claims";
    f.purpose = "FRAUD";
    f.purpose_len = 5;
    ds_decide(policy, &f, &v);
    assert_reason(v, DS_REASON_ATTESTATION_MISSING);

    fake_now -= 1;
    ds_decide(policy, &f, &v);
    assert_reason(v, DS_REASON_ALLOWED);

    ds_time_set_clock(NULL);
}


static void
test_unknown_endpoint(void **state)
{
    ds_verdict_t  v;

    (void) state;

    v = decide((req_t) { .token = "f1", .op = DS_OP_UNKNOWN });
    assert_reason(v, DS_REASON_UNKNOWN_ENDPOINT);
    assert_int_equal(v.http_status, 404);
    assert_string_equal(ds_reason_error_code(v.reason),
                        "RESOURCE_DOES_NOT_EXIST");

    /* the recipient's state is checked first */
    v = decide((req_t) { .token = "s", .op = DS_OP_UNKNOWN });
    assert_reason(v, DS_REASON_RECIPIENT_SUSPENDED);
}


static void
test_entitlement(void **state)
{
    ds_verdict_t  v;

    (void) state;

    /* another recipient's share looks like a share that does not exist */
    v = decide((req_t) { .token = "open", .op = DS_OP_LIST_SCHEMAS,
                         .share = "claims" });
    assert_reason(v, DS_REASON_NOT_ENTITLED);
    assert_int_equal(v.http_status, 404);
    assert_null(strstr(v.detail, "claims"));
    assert_null(strstr(v.detail, "pub"));

    v = decide((req_t) { .token = "f1", .op = DS_OP_GET_SHARE,
                         .share = "internal_finance" });
    assert_reason(v, DS_REASON_NOT_ENTITLED);
    assert_null(strstr(v.detail, "internal_finance"));

    /* table level: only prior_auth is granted in claims.pending */
    v = decide((req_t) { .token = "f1", .op = DS_OP_TABLE_METADATA,
                         .share = "claims", .schema = "pending",
                         .table = "prior_auth" });
    assert_reason(v, DS_REASON_ALLOWED);

    v = decide((req_t) { .token = "f1", .op = DS_OP_TABLE_METADATA,
                         .share = "claims", .schema = "pending",
                         .table = "other" });
    assert_reason(v, DS_REASON_NOT_ENTITLED);

    v = decide((req_t) { .token = "f1", .op = DS_OP_TABLE_METADATA,
                         .share = "claims", .schema = "nope",
                         .table = "prior_auth" });
    assert_reason(v, DS_REASON_NOT_ENTITLED);

    /* names match, the operation is not granted */
    v = decide((req_t) { .token = "f1", .op = DS_OP_QUERY_TABLE,
                         .share = "claims", .schema = "pending",
                         .table = "prior_auth" });
    assert_reason(v, DS_REASON_OPERATION_DENIED);
    assert_int_equal(v.http_status, 403);
    assert_non_null(strstr(v.detail, "query_table"));

    /* list_tables on claims.pending: names match, op not granted */
    v = decide((req_t) { .token = "f1", .op = DS_OP_LIST_TABLES,
                         .share = "claims", .schema = "pending" });
    assert_reason(v, DS_REASON_OPERATION_DENIED);
}


static void
test_temporary_credentials(void **state)
{
    ds_verdict_t  v;

    (void) state;

    /* "read" never includes directory-wide cloud credentials */
    v = decide((req_t) { .token = "f1", .op = DS_OP_TEMP_CREDENTIALS,
                         .share = "mixed_case", .schema = "s",
                         .table = "t" });
    assert_reason(v, DS_REASON_OPERATION_DENIED);

    v = decide((req_t) { .token = "f1", .op = DS_OP_TEMP_CREDENTIALS,
                         .share = "creds", .schema = "s", .table = "t" });
    assert_reason(v, DS_REASON_ALLOWED);
}


static void
test_names_case_and_wildcards(void **state)
{
    ds_verdict_t  v;
    static const ds_op_t  ops[] = {
        DS_OP_GET_SHARE, DS_OP_LIST_SCHEMAS, DS_OP_LIST_TABLES,
        DS_OP_LIST_ALL_TABLES, DS_OP_TABLE_VERSION, DS_OP_TABLE_METADATA,
        DS_OP_QUERY_TABLE, DS_OP_QUERY_CHANGES, DS_OP_QUERY_POLL
    };
    size_t  i;

    (void) state;

    v = decide((req_t) { .token = "f1", .op = DS_OP_QUERY_TABLE,
                         .share = "CLAIMS", .schema = "Adjudicated",
                         .table = "MEDICAL_claims", .purpose = "FRAUD" });
    assert_reason(v, DS_REASON_ALLOWED);

    /* Mixed_Case has schema "*" and table "*": every read op, any name */
    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        v = decide((req_t) { .token = "f1", .op = ops[i],
                             .share = "mIXED_cASE", .schema = "any",
                             .table = "thing" });
        if (v.reason != DS_REASON_ALLOWED) {
            fail_msg("%s denied: %s", ds_op_name(ops[i]),
                     ds_reason_name(v.reason));
        }
    }

    /* a similar but different name is not a match */
    v = decide((req_t) { .token = "f1", .op = DS_OP_GET_SHARE,
                         .share = "mixed_cases" });
    assert_reason(v, DS_REASON_NOT_ENTITLED);
}


static void
test_attestations(void **state)
{
    ds_verdict_t  v;
    int64_t       baa;

    (void) state;

    baa = T("2030-06-01T00:00:00Z");

    v = decide((req_t) { CLAIMS("f1"), .purpose = "FRAUD", .now = baa - 1 });
    assert_reason(v, DS_REASON_ALLOWED);

    v = decide((req_t) { CLAIMS("f1"), .purpose = "FRAUD", .now = baa });
    assert_reason(v, DS_REASON_ATTESTATION_MISSING);
    assert_int_equal(v.http_status, 403);
    assert_non_null(strstr(v.detail, "BAA"));

    v = decide((req_t) { .token = "f1", .op = DS_OP_GET_SHARE,
                         .share = "needs_soc2" });
    assert_reason(v, DS_REASON_ATTESTATION_MISSING);
    assert_non_null(strstr(v.detail, "SOC2"));
}


static void
test_grant_window(void **state)
{
    ds_verdict_t  v;

    (void) state;

    v = decide((req_t) { .token = "f1", .op = DS_OP_GET_SHARE,
                         .share = "windowed" });
    assert_reason(v, DS_REASON_CONTRACT_INACTIVE);

    v = decide((req_t) { .token = "f1", .op = DS_OP_GET_SHARE,
                         .share = "windowed",
                         .now = T("2030-02-01T00:00:00Z") });
    assert_reason(v, DS_REASON_ALLOWED);

    v = decide((req_t) { .token = "f1", .op = DS_OP_GET_SHARE,
                         .share = "windowed",
                         .now = T("2030-03-01T00:00:00Z") });
    assert_reason(v, DS_REASON_CONTRACT_EXPIRED);
}


static void
test_purpose(void **state)
{
    ds_verdict_t  v;

    (void) state;

    v = decide((req_t) { CLAIMS("f1"), .purpose = "HPAYMT" });
    assert_reason(v, DS_REASON_ALLOWED);
    assert_int_equal(v.purpose_len, 6);
    assert_memory_equal(v.purpose, "HPAYMT", 6);

    v = decide((req_t) { CLAIMS("f1") });
    assert_reason(v, DS_REASON_PURPOSE_MISSING);
    assert_int_equal(v.http_status, 403);
    assert_null(v.purpose);

    v = decide((req_t) { CLAIMS("f1"), .purpose = "TREAT" });
    assert_reason(v, DS_REASON_PURPOSE_DENIED);
    assert_non_null(strstr(v.detail, "TREAT"));

    /* codes are exact: "fraud" is not "FRAUD" */
    v = decide((req_t) { CLAIMS("f1"), .purpose = "fraud" });
    assert_reason(v, DS_REASON_PURPOSE_DENIED);

    v = decide((req_t) { CLAIMS("f1"), .purpose = "FRAUD; DROP" });
    assert_reason(v, DS_REASON_PURPOSE_INVALID);
    assert_int_equal(v.http_status, 400);
    assert_string_equal(ds_reason_error_code(v.reason),
                        "INVALID_PARAMETER_VALUE");
    assert_null(v.purpose);
    assert_null(strstr(v.detail, "DROP"));

    v = decide((req_t) { CLAIMS("f1"), .purpose = "" });
    assert_reason(v, DS_REASON_PURPOSE_INVALID);

    /* a token bound to a purpose declares it when the header is absent */
    v = decide((req_t) { CLAIMS("fbound") });
    assert_reason(v, DS_REASON_ALLOWED);
    assert_memory_equal(v.purpose, "FRAUD", 5);

    /* the header wins over the binding */
    v = decide((req_t) { CLAIMS("fbound"), .purpose = "HPAYMT" });
    assert_reason(v, DS_REASON_ALLOWED);
    assert_memory_equal(v.purpose, "HPAYMT", 6);

    v = decide((req_t) { CLAIMS("fbound"), .purpose = "TREAT" });
    assert_reason(v, DS_REASON_PURPOSE_DENIED);

    /* grants without purposes need none */
    v = decide((req_t) { .token = "f1", .op = DS_OP_GET_SHARE,
                         .share = "mixed_case" });
    assert_reason(v, DS_REASON_ALLOWED);
    v = decide((req_t) { .token = "f1", .op = DS_OP_GET_SHARE,
                         .share = "mixed_case", .purpose = "ANY" });
    assert_reason(v, DS_REASON_ALLOWED);
}


/* the message tells how to comply: which header, or a bound token */
static void
test_purpose_messages(void **state)
{
    ds_facts_t    f;
    ds_verdict_t  v;

    (void) state;

    v = decide((req_t) { CLAIMS("f1") });
    assert_reason(v, DS_REASON_PURPOSE_MISSING);
    assert_non_null(strstr(v.detail, "X-DS-Purpose request header"));
    assert_non_null(strstr(v.detail, "token bound to a purpose"));
    assert_non_null(strstr(v.detail, "shares are listed without one"));
    /* never the names */
    assert_null(strstr(v.detail, "claims"));
    assert_null(strstr(v.detail, "adjudicated"));

    /* a share-level call on a share whose data needs a purpose */
    v = decide((req_t) { .token = "f1", .op = DS_OP_LIST_SCHEMAS,
                         .share = "treat_only" });
    assert_reason(v, DS_REASON_PURPOSE_MISSING);
    assert_non_null(strstr(v.detail, "shares are listed without one"));
    assert_null(strstr(v.detail, "treat_only"));

    v = decide((req_t) { CLAIMS("f1"), .purpose = "TREAT" });
    assert_reason(v, DS_REASON_PURPOSE_DENIED);
    assert_string_equal(v.detail, "Purpose TREAT, sent in the X-DS-Purpose "
                        "header, is not permitted for this data");

    /* bound to the token: the header is the way out */
    v = decide((req_t) { .token = "fbound", .op = DS_OP_GET_SHARE,
                         .share = "treat_only" });
    assert_reason(v, DS_REASON_PURPOSE_DENIED);
    assert_non_null(strstr(v.detail, "Purpose FRAUD, which your token is "
                           "bound to"));
    assert_non_null(strstr(v.detail, "X-DS-Purpose request header"));

    v = decide((req_t) { CLAIMS("f1"), .purpose = "FRAUD; DROP" });
    assert_reason(v, DS_REASON_PURPOSE_INVALID);
    assert_non_null(strstr(v.detail, "The X-DS-Purpose header"));
    assert_null(strstr(v.detail, "DROP"));

    /* the location's header name, as the shell passes it */
    memset(&f, 0, sizeof(f));
    f.op = DS_OP_QUERY_TABLE;
    f.share = "claims";
    f.schema = "adjudicated";
    f.table = "medical_claims";
    f.token = "tok-f1";
    f.token_len = 6;
    f.now_ms = T0;
    f.purpose_header = "x-purpose-of-usexxxx";
    f.purpose_header_len = 16;

    ds_decide(policy, &f, &v);
    assert_reason(v, DS_REASON_PURPOSE_MISSING);
    assert_non_null(strstr(v.detail, "in the x-purpose-of-use request "
                           "header,"));
    assert_null(strstr(v.detail, "X-DS-Purpose"));

    /* a very long name still leaves a whole message */
    f.purpose_header = "x-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    f.purpose_header_len = strlen(f.purpose_header);
    ds_decide(policy, &f, &v);
    assert_non_null(strstr(v.detail, "clients that cannot set headers"));
}


/* query_table implies the async poll on the same table, nothing more */
static void
test_query_poll(void **state)
{
    ds_verdict_t  v;

    (void) state;

    v = decide((req_t) { .token = "open", .op = DS_OP_QUERY_TABLE,
                         .share = "qonly", .schema = "s", .table = "t" });
    assert_reason(v, DS_REASON_ALLOWED);

    v = decide((req_t) { .token = "open", .op = DS_OP_QUERY_POLL,
                         .share = "qonly", .schema = "s", .table = "t" });
    assert_reason(v, DS_REASON_ALLOWED);

    v = decide((req_t) { .token = "open", .op = DS_OP_TABLE_METADATA,
                         .share = "qonly", .schema = "s", .table = "t" });
    assert_reason(v, DS_REASON_OPERATION_DENIED);

    /* changes and metadata do not start async queries */
    v = decide((req_t) { .token = "open", .op = DS_OP_QUERY_POLL,
                         .share = "conly", .schema = "s", .table = "t" });
    assert_reason(v, DS_REASON_OPERATION_DENIED);

    v = decide((req_t) { .token = "open", .op = DS_OP_QUERY_CHANGES,
                         .share = "conly", .schema = "s", .table = "t" });
    assert_reason(v, DS_REASON_ALLOWED);

    /* only on tables the grant covers */
    v = decide((req_t) { .token = "open", .op = DS_OP_QUERY_POLL,
                         .share = "other", .schema = "s", .table = "t" });
    assert_reason(v, DS_REASON_NOT_ENTITLED);
}


static void
test_country(void **state)
{
    ds_verdict_t  v;

    (void) state;

    /* no geo database: no country rule applies */
    v = decide((req_t) { CLAIMS("f1"), .purpose = "FRAUD" });
    assert_reason(v, DS_REASON_ALLOWED);

    v = decide((req_t) { CLAIMS("f1"), .purpose = "FRAUD",
                         .country = "US" });
    assert_reason(v, DS_REASON_ALLOWED);

    v = decide((req_t) { CLAIMS("f1"), .purpose = "FRAUD",
                         .country = "us" });
    assert_reason(v, DS_REASON_ALLOWED);

    /* recipient-level allow list */
    v = decide((req_t) { CLAIMS("f1"), .purpose = "FRAUD",
                         .country = "FR" });
    assert_reason(v, DS_REASON_COUNTRY_DENIED);
    assert_int_equal(v.http_status, 403);
    assert_non_null(strstr(v.detail, "FR"));

    v = decide((req_t) { CLAIMS("f1"), .purpose = "FRAUD", .country = "" });
    assert_reason(v, DS_REASON_COUNTRY_UNKNOWN);

    /* grant-level deny wins over the recipient's allow */
    v = decide((req_t) { .token = "f1", .op = DS_OP_GET_SHARE,
                         .share = "mixed_case", .country = "CA" });
    assert_reason(v, DS_REASON_COUNTRY_DENIED);
    v = decide((req_t) { .token = "f1", .op = DS_OP_GET_SHARE,
                         .share = "mixed_case", .country = "US" });
    assert_reason(v, DS_REASON_ALLOWED);

    /* "unknown" must be allowed in every applicable allow list */
    v = decide((req_t) { .token = "f1", .op = DS_OP_GET_SHARE,
                         .share = "geo_open", .country = "" });
    assert_reason(v, DS_REASON_COUNTRY_UNKNOWN);

    /* no rules at all: known countries pass, unknown is denied */
    v = decide((req_t) { .token = "open", .op = DS_OP_GET_SHARE,
                         .share = "pub", .country = "JP" });
    assert_reason(v, DS_REASON_ALLOWED);
    v = decide((req_t) { .token = "open", .op = DS_OP_GET_SHARE,
                         .share = "pub", .country = "" });
    assert_reason(v, DS_REASON_COUNTRY_UNKNOWN);

    v = decide((req_t) { .token = "open", .op = DS_OP_GET_SHARE,
                         .share = "anyplace", .country = "" });
    assert_reason(v, DS_REASON_ALLOWED);
    v = decide((req_t) { .token = "open", .op = DS_OP_GET_SHARE,
                         .share = "anyplace", .country = "FR" });
    assert_reason(v, DS_REASON_ALLOWED);
    v = decide((req_t) { .token = "open", .op = DS_OP_GET_SHARE,
                         .share = "anyplace", .country = "US" });
    assert_reason(v, DS_REASON_COUNTRY_DENIED);

    v = decide((req_t) { .token = "open", .op = DS_OP_GET_SHARE,
                         .share = "blocked", .country = "" });
    assert_reason(v, DS_REASON_COUNTRY_UNKNOWN);
    v = decide((req_t) { .token = "open", .op = DS_OP_GET_SHARE,
                         .share = "blocked", .country = "DE" });
    assert_reason(v, DS_REASON_ALLOWED);
}


static void
test_best_failure(void **state)
{
    ds_verdict_t  v;

    (void) state;

    /*
     * "twice" has two grants: one wants purpose TREAT, one allows only
     * FR. From US with purpose TREAT the first fails on country (later
     * stage) and the second on country too; with no purpose the first
     * fails on purpose and the second on country: country is reported.
     */
    v = decide((req_t) { .token = "f1", .op = DS_OP_GET_SHARE,
                         .share = "twice", .country = "US" });
    assert_reason(v, DS_REASON_COUNTRY_DENIED);

    /* either grant is enough */
    v = decide((req_t) { .token = "f1", .op = DS_OP_GET_SHARE,
                         .share = "twice", .purpose = "TREAT",
                         .country = "CA" });
    assert_reason(v, DS_REASON_ALLOWED);

    /* without geo, the grant without purposes allows */
    v = decide((req_t) { .token = "f1", .op = DS_OP_GET_SHARE,
                         .share = "twice" });
    assert_reason(v, DS_REASON_ALLOWED);
}


static void
test_list_shares(void **state)
{
    ds_verdict_t  v;

    (void) state;

    v = decide((req_t) { .token = "f1", .op = DS_OP_LIST_SHARES });
    assert_reason(v, DS_REASON_ALLOWED);
    assert_int_equal(v.rate_limit.requests, 100);

    v = decide((req_t) { .token = "f1", .op = DS_OP_LIST_SHARES,
                         .country = "CA" });
    assert_reason(v, DS_REASON_ALLOWED);

    v = decide((req_t) { .token = "f1", .op = DS_OP_LIST_SHARES,
                         .country = "DE" });
    assert_reason(v, DS_REASON_COUNTRY_DENIED);

    v = decide((req_t) { .token = "f1", .op = DS_OP_LIST_SHARES,
                         .purpose = "bad purpose" });
    assert_reason(v, DS_REASON_PURPOSE_INVALID);

    v = decide((req_t) { .token = "s", .op = DS_OP_LIST_SHARES });
    assert_reason(v, DS_REASON_RECIPIENT_SUSPENDED);

    v = decide((req_t) { .token = "late", .op = DS_OP_LIST_SHARES });
    assert_reason(v, DS_REASON_CONTRACT_EXPIRED);
}


static void
test_rate_limit(void **state)
{
    ds_verdict_t  v;

    (void) state;

    /* the grant's own limit */
    v = decide((req_t) { CLAIMS("f1"), .purpose = "FRAUD" });
    assert_reason(v, DS_REASON_ALLOWED);
    assert_int_equal(v.rate_limit.requests, 5);
    assert_int_equal(v.rate_limit.period_ms, 60000);
    assert_int_equal(v.rate_limit.burst, 0);
    assert_int_equal(v.rate_limit.scope, DS_RL_SCOPE_SHARE);

    /* else the recipient's */
    v = decide((req_t) { .token = "f1", .op = DS_OP_GET_SHARE,
                         .share = "mixed_case" });
    assert_int_equal(v.rate_limit.requests, 100);
    assert_int_equal(v.rate_limit.period_ms, 1000);
    assert_int_equal(v.rate_limit.burst, 20);
    assert_int_equal(v.rate_limit.scope, DS_RL_SCOPE_RECIPIENT);

    /* none at all */
    v = decide((req_t) { .token = "open", .op = DS_OP_GET_SHARE,
                         .share = "pub" });
    assert_int_equal(v.rate_limit.period_ms, 0);
}


static void
test_token_id_facts(void **state)
{
    ds_facts_t    f;
    ds_verdict_t  v;

    (void) state;

    memset(&f, 0, sizeof(f));
    f.op = DS_OP_GET_SHARE;
    f.share = "mixed_case";
    f.now_ms = T0;
    f.token_id = "f-1";
    ds_decide(policy, &f, &v);
    assert_reason(v, DS_REASON_ALLOWED);
    assert_string_equal(v.token_id, "f-1");

    f.token_id = "f-old";
    ds_decide(policy, &f, &v);
    assert_reason(v, DS_REASON_TOKEN_EXPIRED);

    f.token_id = "nope";
    ds_decide(policy, &f, &v);
    assert_reason(v, DS_REASON_TOKEN_UNKNOWN);
}


static void
test_visible(void **state)
{
    const ds_recipient_t  *r, *o;

    (void) state;

    r = ds_policy_find_recipient(policy, "fraud", 5);
    o = ds_policy_find_recipient(policy, "open", 4);
    assert_non_null(r);
    assert_non_null(o);

    assert_true(ds_policy_visible(r, "claims", NULL, NULL));
    assert_true(ds_policy_visible(r, "CLAIMS", NULL, NULL));
    assert_true(ds_policy_visible(r, "claims", "adjudicated", NULL));
    assert_true(ds_policy_visible(r, "claims", "adjudicated", "anything"));
    assert_true(ds_policy_visible(r, "claims", "pending", NULL));
    assert_true(ds_policy_visible(r, "claims", "pending", "prior_auth"));
    assert_false(ds_policy_visible(r, "claims", "pending", "other"));
    assert_false(ds_policy_visible(r, "claims", "other", NULL));
    assert_false(ds_policy_visible(r, "internal_finance", NULL, NULL));
    assert_true(ds_policy_visible(r, "mixed_case", "x", "y"));
    /* all-tables lists share + schema + table */
    assert_true(ds_policy_visible(r, "claims", "pending", "Prior_Auth"));

    assert_false(ds_policy_visible(o, "claims", NULL, NULL));
    assert_true(ds_policy_visible(o, "pub", NULL, NULL));
    assert_false(ds_policy_visible(NULL, "pub", NULL, NULL));
}


static void
test_reason_tables(void **state)
{
    static const struct {
        ds_reason_t   r;
        const char   *name;
        int           status;
        const char   *code;
    } t[] = {
        { DS_REASON_ALLOWED, "allowed", 200, "OK" },
        { DS_REASON_TOKEN_MISSING, "token_missing", 401, "UNAUTHENTICATED" },
        { DS_REASON_TOKEN_MALFORMED, "token_malformed", 401,
          "UNAUTHENTICATED" },
        { DS_REASON_TOKEN_UNKNOWN, "token_unknown", 401, "UNAUTHENTICATED" },
        { DS_REASON_TOKEN_NOT_YET_VALID, "token_not_yet_valid", 401,
          "UNAUTHENTICATED" },
        { DS_REASON_TOKEN_EXPIRED, "token_expired", 401, "UNAUTHENTICATED" },
        { DS_REASON_TOKEN_REVOKED, "token_revoked", 401, "UNAUTHENTICATED" },
        { DS_REASON_RECIPIENT_SUSPENDED, "recipient_suspended", 403,
          "PERMISSION_DENIED" },
        { DS_REASON_RECIPIENT_REVOKED, "recipient_revoked", 403,
          "PERMISSION_DENIED" },
        { DS_REASON_CONTRACT_INACTIVE, "contract_inactive", 403,
          "PERMISSION_DENIED" },
        { DS_REASON_CONTRACT_EXPIRED, "contract_expired", 403,
          "PERMISSION_DENIED" },
        { DS_REASON_ATTESTATION_MISSING, "attestation_missing", 403,
          "PERMISSION_DENIED" },
        { DS_REASON_NOT_ENTITLED, "not_entitled", 404,
          "RESOURCE_DOES_NOT_EXIST" },
        { DS_REASON_OPERATION_DENIED, "operation_denied", 403,
          "PERMISSION_DENIED" },
        { DS_REASON_PURPOSE_MISSING, "purpose_missing", 403,
          "PERMISSION_DENIED" },
        { DS_REASON_PURPOSE_INVALID, "purpose_invalid", 400,
          "INVALID_PARAMETER_VALUE" },
        { DS_REASON_PURPOSE_DENIED, "purpose_denied", 403,
          "PERMISSION_DENIED" },
        { DS_REASON_COUNTRY_DENIED, "country_denied", 403,
          "PERMISSION_DENIED" },
        { DS_REASON_COUNTRY_UNKNOWN, "country_unknown", 403,
          "PERMISSION_DENIED" },
        { DS_REASON_RATE_LIMITED, "rate_limited", 429, "RESOURCE_EXHAUSTED" },
        { DS_REASON_RATE_LIMITER_UNAVAILABLE, "rate_limiter_unavailable",
          503, "TEMPORARILY_UNAVAILABLE" },
        { DS_REASON_UNKNOWN_ENDPOINT, "unknown_endpoint", 404,
          "RESOURCE_DOES_NOT_EXIST" },
        { DS_REASON_BAD_REQUEST, "bad_request", 400,
          "INVALID_PARAMETER_VALUE" },
        { DS_REASON_UPSTREAM_INVALID, "upstream_invalid", 502,
          "INTERNAL_ERROR" },
        { DS_REASON_NOT_CHECKED, "not_checked", 500, "INTERNAL_ERROR" },
        { DS_REASON_URI_REWRITTEN, "uri_rewritten", 500, "INTERNAL_ERROR" },
        { DS_REASON_UPSTREAM_UNAVAILABLE, "upstream_unavailable", 502,
          "TEMPORARILY_UNAVAILABLE" },
        { DS_REASON_UPSTREAM_TIMEOUT, "upstream_timeout", 504,
          "TEMPORARILY_UNAVAILABLE" },
        { DS_REASON_BODY_TOO_LARGE, "body_too_large", 413,
          "INVALID_PARAMETER_VALUE" },
        { DS_REASON_URI_TOO_LONG, "uri_too_long", 414,
          "INVALID_PARAMETER_VALUE" },
        { DS_REASON_SERVER_DENIED, "server_denied", 403,
          "PERMISSION_DENIED" },
        { DS_REASON_SERVER_ERROR, "server_error", 500, "INTERNAL_ERROR" },
        { DS_REASON_NETWORK_DENIED, "network_denied", 403,
          "PERMISSION_DENIED" },
        { DS_REASON_REVIEW_OVERDUE, "review_overdue", 403,
          "PERMISSION_DENIED" },
        { DS_REASON_APPROVAL_EXPIRED, "approval_expired", 403,
          "PERMISSION_DENIED" },
        { DS_REASON_FILE_LINK_INVALID, "file_link_invalid", 404,
          "RESOURCE_DOES_NOT_EXIST" },
        { DS_REASON_FILE_LINK_EXPIRED, "file_link_expired", 410,
          "RESOURCE_DOES_NOT_EXIST" },
        { DS_REASON_FILE_STORE_ERROR, "file_store_error", 502,
          "TEMPORARILY_UNAVAILABLE" },
        { DS_REASON_FILES_PROXY_NO_DIR, "files_proxy_no_dir", 403,
          "PERMISSION_DENIED" },
        { DS_REASON_ANOMALY_SUSPENDED, "anomaly_suspended", 403,
          "PERMISSION_DENIED" },
        { DS_REASON_JWT_MALFORMED, "jwt_malformed", 401, "UNAUTHENTICATED" },
        { DS_REASON_JWT_EXPIRED, "jwt_expired", 401, "UNAUTHENTICATED" },
        { DS_REASON_JWT_NOT_YET_VALID, "jwt_not_yet_valid", 401,
          "UNAUTHENTICATED" },
        { DS_REASON_JWT_BAD_SIGNATURE, "jwt_bad_signature", 401,
          "UNAUTHENTICATED" },
        { DS_REASON_JWT_ISSUER_UNKNOWN, "jwt_issuer_unknown", 401,
          "UNAUTHENTICATED" },
        { DS_REASON_JWT_AUDIENCE, "jwt_audience", 401, "UNAUTHENTICATED" },
        { DS_REASON_JWT_SUBJECT, "jwt_subject", 401, "UNAUTHENTICATED" },
        { DS_REASON_JWT_ALG, "jwt_alg", 401, "UNAUTHENTICATED" },
        { DS_REASON_JWT_KEY_UNKNOWN, "jwt_key_unknown", 401,
          "UNAUTHENTICATED" },
        { DS_REASON_JWT_LIFETIME, "jwt_lifetime", 401, "UNAUTHENTICATED" },
        { DS_REASON_JWKS_UNAVAILABLE, "jwks_unavailable", 503,
          "TEMPORARILY_UNAVAILABLE" },
    };
    size_t  i;

    (void) state;

    assert_int_equal(sizeof(t) / sizeof(t[0]), DS_REASON_COUNT);

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        assert_int_equal(t[i].r, i);
        assert_string_equal(ds_reason_name(t[i].r), t[i].name);
        assert_int_equal(ds_reason_http_status(t[i].r), t[i].status);
        assert_string_equal(ds_reason_error_code(t[i].r), t[i].code);
        assert_true(strlen(ds_reason_message(t[i].r)) > 0);
    }

    assert_string_equal(ds_reason_name(DS_REASON_COUNT), "unknown");
}



/* nginx's own answers in an enforced location */
static void
test_reason_for_status(void **state)
{
    static const struct {
        int          in;
        ds_reason_t  reason;
        int          out;
    } t[] = {
        { 400, DS_REASON_BAD_REQUEST, 400 },
        { 403, DS_REASON_SERVER_DENIED, 403 },
        { 404, DS_REASON_UNKNOWN_ENDPOINT, 404 },
        { 405, DS_REASON_SERVER_DENIED, 405 },
        { 413, DS_REASON_BODY_TOO_LARGE, 413 },
        { 414, DS_REASON_URI_TOO_LONG, 414 },
        { 429, DS_REASON_RATE_LIMITED, 429 },
        { 500, DS_REASON_SERVER_ERROR, 500 },
        { 502, DS_REASON_UPSTREAM_UNAVAILABLE, 502 },
        { 503, DS_REASON_SERVER_ERROR, 503 },
        { 504, DS_REASON_UPSTREAM_TIMEOUT, 504 },
        { 301, DS_REASON_UNKNOWN_ENDPOINT, 404 },
        { 302, DS_REASON_UNKNOWN_ENDPOINT, 404 },
        { 200, DS_REASON_NOT_CHECKED, 500 },
        { 204, DS_REASON_NOT_CHECKED, 500 },
        { 0, DS_REASON_NOT_CHECKED, 500 },
    };
    size_t  i;
    int     status;

    (void) state;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        status = -1;
        assert_int_equal(ds_reason_for_status(t[i].in, &status), t[i].reason);
        assert_int_equal(status, t[i].out);
    }
}

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_token_checks),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_token_window_instant),
        cmocka_unit_test(test_recipient_and_contract),
        cmocka_unit_test(test_injected_clock),
        cmocka_unit_test(test_unknown_endpoint),
        cmocka_unit_test(test_entitlement),
        cmocka_unit_test(test_temporary_credentials),
        cmocka_unit_test(test_names_case_and_wildcards),
        cmocka_unit_test(test_attestations),
        cmocka_unit_test(test_grant_window),
        cmocka_unit_test(test_purpose),
        cmocka_unit_test(test_purpose_messages),
        cmocka_unit_test(test_query_poll),
        cmocka_unit_test(test_country),
        cmocka_unit_test(test_best_failure),
        cmocka_unit_test(test_list_shares),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_token_id_facts),
        cmocka_unit_test(test_visible),
        cmocka_unit_test(test_reason_tables),
        cmocka_unit_test(test_reason_for_status),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
