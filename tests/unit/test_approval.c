/*
 * Classifications and approvals: which grants need a sign-off (scope
 * overlap with a classified share/schema/table), the loader's messages,
 * approval_expired at the instant, and the diff's wording.
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
#include "ds_policy_diff.h"
#include "ds_time.h"


#define APPROVAL                                                           \
    "\"approval\": {\"approver\": \"kim@example.com\", "                   \
    "\"ticket\": \"SEC-7\", \"date\": \"2030-01-01T00:00:00Z\", "          \
    "\"expires\": \"2030-07-01T00:00:00Z\"}"

#define HEAD                                                               \
    "{\"version\": 1,\n"                                                   \
    " \"classifications\": [\n"                                            \
    "  {\"share\": \"claims\", \"schema\": \"adjudicated\", "              \
    "\"tags\": [\"PHI\"]},\n"                                              \
    "  {\"share\": \"directory\", \"schema\": \"public\", "                \
    "\"table\": \"providers\", \"tags\": [\"PII\", \"PUBLIC\"]}],\n"       \
    " \"approvals\": {\"required_for\": [\"PHI\", \"PII\"], "              \
    "\"separate_author\": true},\n"


static char         err[DS_ERR_MAX];


static ds_policy_t *
load(const char *text)
{
    return ds_policy_load_buffer("a.json", text, strlen(text), err,
                                 sizeof(err));
}


/* one recipient with one grant: GRANT is its JSON body */
static ds_policy_t *
load_grant(const char *grant)
{
    char  text[4096];

    snprintf(text, sizeof(text), HEAD " \"recipients\": [{\"id\": \"r\", "
             "\"tokens\": [{\"id\": \"r1\", \"sha256\": \"%s\"}], "
             "\"grants\": [{\"share\": \"open\"}, {%s}]}]}",
             "1111111111111111111111111111111111111111111111111111111111111111",
             grant);

    return load(text);
}


static void
test_which_grants_need_approval(void **state)
{
    static const struct {
        const char  *grant;
        int          needs;
    } t[] = {
        { "\"share\": \"claims\"", 1 },                 /* claims/x/x */
        { "\"share\": \"*\"", 1 },
        { "\"share\": \"CLAIMS\", \"schema\": \"adjudicated\", "
          "\"table\": \"med\"", 1 },
        { "\"share\": \"claims\", \"schema\": \"pending\"", 0 },
        { "\"share\": \"directory\"", 1 },
        { "\"share\": \"directory\", \"schema\": \"public\", "
          "\"table\": \"facilities\"", 0 },
        { "\"share\": \"directory\", \"table\": \"providers\"", 1 },
        { "\"share\": \"other\"", 0 },
    };
    char          g[512];
    size_t        i;
    ds_policy_t  *p;

    (void) state;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        p = load_grant(t[i].grant);
        if (t[i].needs) {
            assert_null(p);
            assert_non_null(strstr(err, "an \"approval\" is required"));
        } else {
            assert_non_null(p);
        }
        ds_policy_free(p);

        /* with one, every grant loads */
        snprintf(g, sizeof(g), "%s, " APPROVAL, t[i].grant);
        p = load_grant(g);
        if (p == NULL) {
            fail_msg("%s: %s", t[i].grant, err);
        }
        ds_policy_free(p);
    }
}


static void
test_messages(void **state)
{
    (void) state;

    assert_null(load_grant("\"share\": \"claims\""));
    assert_string_equal(err, "a.json: $.recipients[0].grants[1]: an "
        "\"approval\" is required: the grant touches claims/adjudicated/*, "
        "classified PHI (in a.json), and \"approvals\" requires one for "
        "PHI (in a.json)");

    assert_null(load_grant("\"share\": \"open\", \"approval\": "
                           "{\"approver\": \"kim\", \"ticket\": \"T\"}"));
    assert_string_equal(err, "a.json: $.recipients[0].grants[1].approval: "
                        "missing required field \"date\"");

    assert_null(load_grant("\"share\": \"open\", \"approval\": "
                           "{\"ticket\": \"T\", \"date\": "
                           "\"2030-01-01T00:00:00Z\"}"));
    assert_string_equal(err, "a.json: $.recipients[0].grants[1].approval: "
                        "missing required field \"approver\"");

    assert_null(load_grant("\"share\": \"open\", \"approval\": "
                           "{\"approver\": \"kim\", \"ticket\": \"T\", "
                           "\"date\": \"2030-01-01T00:00:00Z\", "
                           "\"expires\": \"2029-01-01T00:00:00Z\"}"));
    assert_string_equal(err, "a.json: $.recipients[0].grants[1].approval"
                        ".expires: must be later than date");

    assert_null(load_grant("\"share\": \"open\", \"approval\": "
                           "{\"approver\": \"kim\", \"ticket\": \"T\", "
                           "\"date\": \"2030-01-01T00:00:00Z\", "
                           "\"by\": \"x\"}"));
    assert_string_equal(err, "a.json: $.recipients[0].grants[1].approval.by: "
                        "unknown field");

    assert_null(load("{\"version\": 1, \"recipients\": [], "
                     "\"classifications\": [{\"share\": \"s\", "
                     "\"tags\": [\"P H I\"]}]}"));
    assert_string_equal(err, "a.json: $.classifications[0].tags[0]: must be "
                        "a tag such as \"PHI\" (1 to 32 of A-Z a-z 0-9 _ -)");

    assert_null(load("{\"version\": 1, \"recipients\": [], "
                     "\"approvals\": {\"required_for\": []}}"));
    assert_string_equal(err, "a.json: $.approvals.required_for: must not be "
                        "empty");

    assert_null(load("{\"version\": 1, \"recipients\": [], "
                     "\"approvals\": {\"required_for\": [\"PHI\"], "
                     "\"separate_author\": \"yes\"}}"));
    assert_string_equal(err, "a.json: $.approvals.separate_author: must be "
                        "true or false");
}


static void
test_approval_expired(void **state)
{
    ds_policy_t   *p;
    ds_facts_t     f;
    ds_verdict_t   v;

    (void) state;

    p = load_grant("\"share\": \"claims\", " APPROVAL);
    assert_non_null(p);

    memset(&f, 0, sizeof(f));
    f.op = DS_OP_GET_SHARE;
    f.share = "claims";
    f.token_id = "r1";

    assert_int_equal(ds_time_parse_rfc3339("2030-06-30T23:59:59.999Z", 24,
                                           &f.now_ms), 0);
    ds_decide(p, &f, &v);
    assert_int_equal(v.reason, DS_REASON_ALLOWED);

    assert_int_equal(ds_time_parse_rfc3339("2030-07-01T00:00:00Z", 20,
                                           &f.now_ms), 0);
    ds_decide(p, &f, &v);
    assert_int_equal(v.reason, DS_REASON_APPROVAL_EXPIRED);
    assert_int_equal(v.http_status, 403);
    assert_string_equal(ds_reason_name(v.reason), "approval_expired");

    /* another grant of the recipient is not affected */
    f.share = "open";
    ds_decide(p, &f, &v);
    assert_int_equal(v.reason, DS_REASON_ALLOWED);

    ds_policy_free(p);
}


typedef struct {
    char    line[8][300];
    size_t  n;
} seen_t;


static void
collect(void *data, const ds_diff_item_t *it)
{
    seen_t  *s = data;

    if (s->n < 8) {
        snprintf(s->line[s->n++], sizeof(s->line[0]), "%s|%s|%s",
                 ds_diff_kind_name(it->kind), it->subject, it->text);
    }
}


static void
test_diff(void **state)
{
    ds_policy_t  *a, *b;
    seen_t        s;

    (void) state;

    a = load_grant("\"share\": \"claims\", " APPROVAL);
    b = load_grant("\"share\": \"claims\", \"approval\": {\"approver\": "
                   "\"lee@example.com\", \"ticket\": \"SEC-9\", \"date\": "
                   "\"2030-06-01T00:00:00Z\", \"expires\": "
                   "\"2031-01-01T00:00:00Z\"}");
    assert_non_null(a);
    assert_non_null(b);

    memset(&s, 0, sizeof(s));
    assert_int_equal(ds_policy_diff(a, b, collect, &s), 1);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.line[0], "change|grant claims/*/*|approval: "
                        "lee@example.com, ticket SEC-9, on "
                        "2030-06-01T00:00:00.000Z");
    assert_string_equal(s.line[1], "widen|grant claims/*/*|approval expires "
                        "2030-07-01T00:00:00.000Z -> "
                        "2031-01-01T00:00:00.000Z");

    ds_policy_free(a);
    ds_policy_free(b);
}


static void
test_diff_rules(void **state)
{
    static const char  *a =
        "{\"version\": 1, \"recipients\": [],\n"
        " \"classifications\": [{\"share\": \"claims\", "
        "\"tags\": [\"PHI\", \"FIN\"]},\n"
        "  {\"share\": \"dir\", \"tags\": [\"PII\"]}],\n"
        " \"approvals\": {\"required_for\": [\"PHI\", \"PII\"], "
        "\"separate_author\": true}}";
    static const char  *b =
        "{\"version\": 1, \"recipients\": [],\n"
        " \"classifications\": [{\"share\": \"CLAIMS\", "
        "\"tags\": [\"FIN\"]},\n"
        "  {\"share\": \"dir\", \"tags\": [\"PII\", \"PCI\"]},\n"
        "  {\"share\": \"pay\", \"tags\": [\"PCI\"]}],\n"
        " \"approvals\": {\"required_for\": [\"PII\", \"PCI\"]}}";
    ds_policy_t        *pa, *pb;
    seen_t              s;

    (void) state;

    pa = load(a);
    assert_non_null(pa);
    pb = load(b);
    assert_non_null(pb);

    memset(&s, 0, sizeof(s));
    assert_int_equal(ds_policy_diff(pa, pb, collect, &s), 3);
    assert_int_equal(s.n, 6);
    assert_string_equal(s.line[0], "widen|classification CLAIMS/*/*|tags "
                        "removed: PHI");
    assert_string_equal(s.line[1], "narrow|classification dir/*/*|tags "
                        "added: PCI");
    assert_string_equal(s.line[2], "narrow|classification pay/*/*|tags "
                        "added: PCI");
    assert_string_equal(s.line[3], "widen|approvals|no longer required "
                        "for: PHI");
    assert_string_equal(s.line[4], "narrow|approvals|now required for: PCI");
    assert_string_equal(s.line[5], "widen|approvals|separate_author true "
                        "-> false");

    ds_policy_free(pa);
    ds_policy_free(pb);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_which_grants_need_approval),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_approval_expired),
        cmocka_unit_test(test_diff),
        cmocka_unit_test(test_diff_rules),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
