/*
 * Recertification: review_by on recipients and grants ends access at
 * the instant (review_overdue), is a bad timestamp error at load, and
 * moves in dsctl policy diff as a widening when postponed.
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


/* sha256("tok-r") is computed at setup */
static const char  *review_policy =
    "{\"version\": 1, \"recipients\": [\n"
    " {\"id\": \"r\", \"review_by\": \"2030-04-01T00:00:00Z\",\n"
    "  \"tokens\": [{\"id\": \"r1\", \"sha256\": \"%s\"}],\n"
    "  \"grants\": [\n"
    "   {\"share\": \"quarterly\", \"review_by\": \"2030-01-01T00:00:00Z\"},\n"
    "   {\"share\": \"both\", \"review_by\": \"2030-01-01T00:00:00Z\"},\n"
    "   {\"share\": \"both\"},\n"
    "   {\"share\": \"open\"}]}]}\n";


static int64_t
ms_of(const char *s)
{
    int64_t  ms;

    if (ds_time_parse_rfc3339(s, strlen(s), &ms) != 0) {
        fail_msg("bad time %s", s);
    }

    return ms;
}


static ds_policy_t *
load_review(void)
{
    char          text[2048], hex[65], err[DS_ERR_MAX];
    ds_policy_t  *p;

    ds_token_digest_hex("tok-r", 5, hex);
    snprintf(text, sizeof(text), review_policy, hex);

    p = ds_policy_load_buffer("review.json", text, strlen(text), err,
                              sizeof(err));
    if (p == NULL) {
        fail_msg("%s", err);
    }

    return p;
}


static ds_verdict_t
decide(ds_policy_t *p, ds_op_t op, const char *share, const char *at)
{
    ds_facts_t    f;
    ds_verdict_t  v;

    memset(&f, 0, sizeof(f));
    f.op = op;
    f.share = share;
    f.token = "tok-r";
    f.token_len = 5;
    f.now_ms = ms_of(at);

    ds_decide(p, &f, &v);
    return v;
}


static void
test_review_overdue(void **state)
{
    ds_policy_t   *p;
    ds_verdict_t   v;

    (void) state;

    p = load_review();

    /* a grant's review: up to the instant, then review_overdue */
    v = decide(p, DS_OP_GET_SHARE, "quarterly", "2029-12-31T23:59:59.999Z");
    assert_int_equal(v.reason, DS_REASON_ALLOWED);
    v = decide(p, DS_OP_GET_SHARE, "quarterly", "2030-01-01T00:00:00Z");
    assert_int_equal(v.reason, DS_REASON_REVIEW_OVERDUE);
    assert_int_equal(v.http_status, 403);
    assert_false(v.allow);
    assert_string_equal(ds_reason_name(v.reason), "review_overdue");
    assert_string_equal(ds_reason_error_code(v.reason), "PERMISSION_DENIED");
    assert_string_equal(v.recipient_id, "r");

    /* other grants are not affected; another grant may still allow */
    v = decide(p, DS_OP_GET_SHARE, "open", "2030-01-01T00:00:00Z");
    assert_int_equal(v.reason, DS_REASON_ALLOWED);
    v = decide(p, DS_OP_GET_SHARE, "both", "2030-02-01T00:00:00Z");
    assert_int_equal(v.reason, DS_REASON_ALLOWED);

    /* the recipient's review ends all of its access, list_shares too */
    v = decide(p, DS_OP_LIST_SHARES, NULL, "2030-03-31T23:59:59.999Z");
    assert_int_equal(v.reason, DS_REASON_ALLOWED);
    v = decide(p, DS_OP_LIST_SHARES, NULL, "2030-04-01T00:00:00Z");
    assert_int_equal(v.reason, DS_REASON_REVIEW_OVERDUE);
    v = decide(p, DS_OP_GET_SHARE, "open", "2030-04-01T00:00:00Z");
    assert_int_equal(v.reason, DS_REASON_REVIEW_OVERDUE);
    v = decide(p, DS_OP_GET_SHARE, "nosuch", "2030-04-01T00:00:00Z");
    assert_int_equal(v.reason, DS_REASON_REVIEW_OVERDUE);

    ds_policy_free(p);
}


static void
test_review_by_load_error(void **state)
{
    static const char  *bad =
        "{\"version\": 1, \"recipients\": [{\"id\": \"r\", \"grants\": "
        "[{\"share\": \"s\", \"review_by\": \"next quarter\"}]}]}";
    char                err[DS_ERR_MAX];

    (void) state;

    assert_null(ds_policy_load_buffer("p.json", bad, strlen(bad), err,
                                      sizeof(err)));
    assert_string_equal(err, "p.json: $.recipients[0].grants[0].review_by: "
                        "bad timestamp \"next quarter\": must be RFC 3339, "
                        "e.g. \"2030-01-01T00:00:00Z\"");
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
test_review_by_diff(void **state)
{
    static const char  *a =
        "{\"version\": 1, \"recipients\": [{\"id\": \"r\", "
        "\"review_by\": \"2030-01-01T00:00:00Z\", \"grants\": "
        "[{\"share\": \"s\", \"review_by\": \"2030-01-01T00:00:00Z\"}]}]}";
    static const char  *b =
        "{\"version\": 1, \"recipients\": [{\"id\": \"r\", "
        "\"review_by\": \"2030-04-01T00:00:00Z\", \"grants\": "
        "[{\"share\": \"s\"}, {\"share\": \"t\", "
        "\"review_by\": \"2029-01-01T00:00:00Z\"}]}]}";
    char                err[DS_ERR_MAX];
    ds_policy_t        *pa, *pb;
    seen_t              s;

    (void) state;

    memset(&s, 0, sizeof(s));
    pa = ds_policy_load_buffer("a", a, strlen(a), err, sizeof(err));
    pb = ds_policy_load_buffer("b", b, strlen(b), err, sizeof(err));
    assert_non_null(pa);
    assert_non_null(pb);

    assert_int_equal(ds_policy_diff(pa, pb, collect, &s), 3);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.line[0], "widen|recipient|review_by "
                        "2030-01-01T00:00:00.000Z -> "
                        "2030-04-01T00:00:00.000Z");
    assert_string_equal(s.line[1], "widen|grant s/*/*|review_by "
                        "2030-01-01T00:00:00.000Z -> none");
    assert_string_equal(s.line[2], "widen|grant t/*/*|grant added: "
                        "list_shares, get_share, list_schemas, list_tables, "
                        "list_all_tables, table_version, table_metadata, "
                        "query_table, query_changes, query_poll");

    /* and back: narrowings */
    memset(&s, 0, sizeof(s));
    assert_int_equal(ds_policy_diff(pb, pa, collect, &s), 0);
    assert_string_equal(s.line[0], "narrow|recipient|review_by "
                        "2030-04-01T00:00:00.000Z -> "
                        "2030-01-01T00:00:00.000Z");

    ds_policy_free(pa);
    ds_policy_free(pb);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_review_overdue),
        cmocka_unit_test(test_review_by_load_error),
        cmocka_unit_test(test_review_by_diff),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
