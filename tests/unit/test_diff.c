/*
 * ds_policy_diff: each kind of change is reported once, classified as
 * a widening or a narrowing, and equal access (reordered, rewritten)
 * is no change at all.
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


#define H1  "1111111111111111111111111111111111111111111111111111111111111111"
#define H2  "2222222222222222222222222222222222222222222222222222222222222222"
#define H3  "3333333333333333333333333333333333333333333333333333333333333333"


typedef struct {
    char    lines[64][600];
    size_t  n;
} seen_t;


static void
collect(void *data, const ds_diff_item_t *it)
{
    seen_t  *s;

    s = data;

    if (s->n < 64) {
        snprintf(s->lines[s->n++], sizeof(s->lines[0]), "%s|%s|%s|%s",
                 ds_diff_kind_name(it->kind),
                 it->recipient ? it->recipient : "-", it->subject,
                 it->text);
    }
}


static ds_policy_t *
load(const char *name, const char *text)
{
    char          err[DS_ERR_MAX];
    ds_policy_t  *p;

    p = ds_policy_load_buffer(name, text, strlen(text), err, sizeof(err));
    if (p == NULL) {
        fail_msg("%s", err);
    }

    return p;
}


/* diff, and the number of widenings */
static size_t
diff(const char *a, const char *b, seen_t *s)
{
    ds_policy_t  *pa, *pb;
    size_t        w, i;

    memset(s, 0, sizeof(*s));
    pa = load("old.json", a);
    pb = load("new.json", b);
    w = ds_policy_diff(pa, pb, collect, s);

    if (getenv("TEST_DIFF_VERBOSE")) {
        for (i = 0; i < s->n; i++) {
            print_message("  %s\n", s->lines[i]);
        }
    }
    ds_policy_free(pa);
    ds_policy_free(pb);

    return w;
}


static void
assert_seen(const seen_t *s, const char *line)
{
    size_t  i;

    for (i = 0; i < s->n; i++) {
        if (strcmp(s->lines[i], line) == 0) {
            return;
        }
    }

    for (i = 0; i < s->n; i++) {
        print_message("  got: %s\n", s->lines[i]);
    }

    fail_msg("missing: %s", line);
}


static void
assert_count(const seen_t *s, size_t n)
{
    size_t  i;

    if (s->n != n) {
        for (i = 0; i < s->n; i++) {
            print_message("  got: %s\n", s->lines[i]);
        }
        fail_msg("%zu changes, expected %zu", s->n, n);
    }
}


#define POLICY(recipients) \
    "{\"version\": 1, \"recipients\": [" recipients "]}"

#define BASE_R                                                             \
    "{\"id\": \"acme\", \"contract\": {\"id\": \"C-1\",                     \
       \"valid_until\": \"2030-01-01T00:00:00Z\",                          \
       \"attestations\": [{\"type\": \"BAA\"}]},                           \
     \"countries\": {\"allow\": [\"US\"], \"deny\": [\"unknown\"]},        \
     \"networks\": {\"allow\": [\"192.0.2.0/24\"],                         \
                    \"deny\": [\"192.0.2.128/25\"]},                       \
     \"rate_limit\": {\"requests\": 10, \"per\": \"second\"},              \
     \"tokens\": [{\"id\": \"a1\", \"sha256\": \"" H1 "\",                 \
                   \"expires\": \"2029-01-01T00:00:00Z\"}],                \
     \"grants\": [                                                         \
       {\"share\": \"claims\", \"schema\": \"adj\", \"table\": \"med\",    \
        \"purposes\": [\"FRAUD\", \"AUDIT\"], \"attestations\": [\"BAA\"]},\
       {\"share\": \"ref\", \"operations\": [\"get_share\"]}]}"

#define OTHER_R                                                            \
    "{\"id\": \"other\", \"tokens\": [{\"id\": \"o1\", \"sha256\": \""     \
    H2 "\"}], \"grants\": [{\"share\": \"pub\"}]}"


static void
test_no_change(void **state)
{
    seen_t  s;

    (void) state;

    assert_int_equal(diff(POLICY(BASE_R "," OTHER_R),
                          POLICY(BASE_R "," OTHER_R), &s), 0);
    assert_count(&s, 0);

    /* other order of recipients, grants and list entries; "read" and
       its operations; a CIDR split in two halves: the same access */
    assert_int_equal(diff(
        POLICY("{\"id\": \"x\", \"tokens\": [{\"id\": \"x1\", \"sha256\": \""
               H3 "\"}], \"networks\": {\"allow\": [\"10.0.0.0/8\", "
               "\"2001:db8::/32\"]}, \"grants\": [{\"share\": \"a\"}, "
               "{\"share\": \"b\", \"operations\": [\"read\"]}]},"
               OTHER_R),
        POLICY(OTHER_R ", {\"id\": \"x\", \"tokens\": [{\"id\": \"x1\", "
               "\"sha256\": \"" H3 "\"}], \"networks\": {\"allow\": "
               "[\"2001:db8::/32\", \"10.0.0.0/9\", \"10.128.0.0/9\"]}, "
               "\"grants\": [{\"share\": \"B\", \"operations\": "
               "[\"list_shares\", \"get_share\", \"list_schemas\", "
               "\"list_tables\", "
               "\"list_all_tables\", \"table_version\", "
               "\"table_metadata\", \"query_table\", \"query_changes\", "
               "\"query_poll\"]}, {\"share\": \"a\"}]}"), &s), 0);
    assert_count(&s, 0);
}


static void
test_recipients_and_tokens(void **state)
{
    seen_t  s;

    (void) state;

    assert_int_equal(diff(POLICY(BASE_R), POLICY(BASE_R "," OTHER_R), &s),
                     1);
    assert_seen(&s, "widen|other|recipient|recipient added: 1 token(s), "
                "1 grant(s)");

    assert_int_equal(diff(POLICY(BASE_R "," OTHER_R), POLICY(BASE_R), &s),
                     0);
    assert_seen(&s, "narrow|other|recipient|recipient removed");

    /* a token added, one replaced under its id, one with a longer life */
    assert_int_equal(diff(
        POLICY("{\"id\": \"t\", \"tokens\": ["
               "{\"id\": \"t1\", \"sha256\": \"" H1 "\"},"
               "{\"id\": \"t2\", \"sha256\": \"" H2 "\", "
               "\"expires\": \"2028-01-01T00:00:00Z\"}]}"),
        POLICY("{\"id\": \"t\", \"tokens\": ["
               "{\"id\": \"t1\", \"sha256\": \"" H3 "\"},"
               "{\"id\": \"t2\", \"sha256\": \"" H2 "\", "
               "\"expires\": \"2029-01-01T00:00:00Z\"},"
               "{\"id\": \"t9\", \"sha256\": \"4444444444444444444444444444"
               "444444444444444444444444444444444444\"}]}"), &s), 3);
    assert_seen(&s, "widen|t|token t1|secret replaced (sha256 changed)");
    assert_seen(&s, "widen|t|token t2|validity end "
                "2028-01-01T00:00:00.000Z -> 2029-01-01T00:00:00.000Z");
    assert_seen(&s, "widen|t|token t9|token added (expires never)");
    assert_count(&s, 3);

    assert_int_equal(diff(
        POLICY("{\"id\": \"t\", \"tokens\": [{\"id\": \"t1\", \"sha256\": \""
               H1 "\"}]}"),
        POLICY("{\"id\": \"t\", \"status\": \"suspended\", \"tokens\": []}"),
        &s), 0);
    assert_seen(&s, "narrow|t|recipient|status active -> suspended");
    assert_seen(&s, "narrow|t|token t1|token removed");
}


static void
test_grants(void **state)
{
    seen_t  s;

    (void) state;

    /* table -> "*", operations, purposes, attestations, in words */
    assert_int_equal(diff(POLICY(BASE_R), POLICY(
        "{\"id\": \"acme\", \"contract\": {\"id\": \"C-1\","
        " \"valid_until\": \"2030-01-01T00:00:00Z\","
        " \"attestations\": [{\"type\": \"BAA\"}]},"
        " \"countries\": {\"allow\": [\"US\"], \"deny\": [\"unknown\"]},"
        " \"networks\": {\"allow\": [\"192.0.2.0/24\"],"
        "                \"deny\": [\"192.0.2.128/25\"]},"
        " \"rate_limit\": {\"requests\": 10, \"per\": \"second\"},"
        " \"tokens\": [{\"id\": \"a1\", \"sha256\": \"" H1 "\","
        "  \"expires\": \"2029-01-01T00:00:00Z\"}],"
        " \"grants\": ["
        "  {\"share\": \"ref\", \"operations\": [\"list_schemas\"]},"
        "  {\"share\": \"claims\", \"schema\": \"adj\", \"table\": \"*\","
        "   \"operations\": [\"read\", \"temporary_table_credentials\"],"
        "   \"purposes\": [\"FRAUD\", \"RESEARCH\"]},"
        "  {\"share\": \"lab\", \"valid_until\": \"2027-01-01T00:00:00Z\"}"
        "]}"), &s), 6);

    assert_seen(&s, "widen|acme|grant claims/adj/*|scope claims/adj/med -> "
                "claims/adj/*");
    assert_seen(&s, "widen|acme|grant claims/adj/*|operations added: "
                "temporary_table_credentials");
    assert_seen(&s, "widen|acme|grant claims/adj/*|purposes added: "
                "RESEARCH");
    assert_seen(&s, "narrow|acme|grant claims/adj/*|purposes removed: "
                "AUDIT");
    assert_seen(&s, "widen|acme|grant claims/adj/*|attestations no longer "
                "required: BAA");
    assert_seen(&s, "widen|acme|grant ref/*/*|operations added: "
                "list_schemas");
    assert_seen(&s, "narrow|acme|grant ref/*/*|operations removed: "
                "get_share");
    assert_seen(&s, "widen|acme|grant lab/*/*|grant added: list_shares, "
                "get_share, "
                "list_schemas, list_tables, list_all_tables, table_version, "
                "table_metadata, query_table, query_changes, query_poll");
    assert_count(&s, 8);

    /* the other way round: each is a narrowing */
    assert_int_equal(diff(POLICY(
        "{\"id\": \"g\", \"grants\": [{\"share\": \"s\"}]}"), POLICY(
        "{\"id\": \"g\", \"grants\": [{\"share\": \"s\", \"schema\": \"x\","
        " \"purposes\": [\"FRAUD\"]}]}"), &s), 0);
    assert_seen(&s, "narrow|g|grant s/x/*|scope s/*/* -> s/x/*");
    assert_seen(&s, "narrow|g|grant s/x/*|purpose now required: one of "
                "FRAUD");

    assert_int_equal(diff(POLICY(
        "{\"id\": \"g\", \"grants\": [{\"share\": \"s\", "
        "\"purposes\": [\"FRAUD\"]}, {\"share\": \"t\"}]}"), POLICY(
        "{\"id\": \"g\", \"grants\": [{\"share\": \"s\"}]}"), &s), 1);
    assert_seen(&s, "widen|g|grant s/*/*|no purpose required any more");
    assert_seen(&s, "narrow|g|grant t/*/*|grant removed");
}


/* alert rules: a suspension gone widens, a new one narrows */
static void
test_alert_rules(void **state)
{
    seen_t  s;

    (void) state;

#define ALERTS(a) \
    POLICY("{\"id\": \"acme\", \"alerts\": [" a "]}")
#define R_ALERT \
    "{\"metric\": \"requests\", \"window\": \"1m\", \"above\": 600}"
#define R_SUSP \
    "{\"metric\": \"denials\", \"window\": \"5m\", \"factor\": 2.5," \
    " \"min\": 20, \"action\": \"suspend\", \"suspend_for\": \"15m\"}"

    /* the same rules in another order: no change */
    assert_int_equal(diff(ALERTS(R_ALERT "," R_SUSP),
                          ALERTS(R_SUSP "," R_ALERT), &s), 0);
    assert_count(&s, 0);

    assert_int_equal(diff(ALERTS(R_ALERT "," R_SUSP), ALERTS(""), &s), 1);
    assert_seen(&s, "change|acme|alerts|alert rule removed: requests over "
                "600 in 60s");
    assert_seen(&s, "widen|acme|alerts|alert rule removed: denials over "
                "2.500 x baseline (min 20) in 300s: suspend 900s");
    assert_count(&s, 2);

    assert_int_equal(diff(ALERTS(""), ALERTS(R_SUSP), &s), 0);
    assert_seen(&s, "narrow|acme|alerts|alert rule added: denials over "
                "2.500 x baseline (min 20) in 300s: suspend 900s");

    /* a suspension's threshold raised: it goes and another comes */
    assert_int_equal(diff(ALERTS(R_SUSP), ALERTS(
        "{\"metric\": \"denials\", \"window\": \"5m\", \"factor\": 5,"
        " \"min\": 20, \"action\": \"suspend\", \"suspend_for\": \"15m\"}"),
        &s), 1);
    assert_count(&s, 2);

#undef ALERTS
#undef R_ALERT
#undef R_SUSP
}


static void
test_places_and_limits(void **state)
{
    seen_t  s;

    (void) state;

    assert_int_equal(diff(POLICY(BASE_R), POLICY(
        "{\"id\": \"acme\", \"contract\": {\"id\": \"C-2\","
        " \"valid_until\": \"2031-01-01T00:00:00Z\"},"
        " \"countries\": {\"allow\": [\"US\", \"CA\"]},"
        " \"networks\": {\"allow\": [\"192.0.2.0/25\", \"198.51.100.0/24\"]},"
        " \"tokens\": [{\"id\": \"a1\", \"sha256\": \"" H1 "\","
        "  \"expires\": \"2029-01-01T00:00:00Z\"}],"
        " \"grants\": ["
        "  {\"share\": \"claims\", \"schema\": \"adj\", \"table\": \"med\","
        "   \"purposes\": [\"FRAUD\", \"AUDIT\"], \"attestations\": [\"BAA\"],"
        "   \"networks\": {\"allow\": [\"192.0.2.7\"]},"
        "   \"rate_limit\": {\"requests\": 5, \"per\": \"second\"}},"
        "  {\"share\": \"ref\", \"operations\": [\"get_share\"],"
        "   \"countries\": {\"deny\": [\"CA\"]}}]}"), &s), 6);

    assert_seen(&s, "widen|acme|recipient|countries allowed: + CA");
    assert_seen(&s, "widen|acme|recipient|countries no longer denied: "
                "unknown");
    assert_seen(&s, "widen|acme|recipient|networks allowed: + "
                "198.51.100.0/24");
    assert_seen(&s, "widen|acme|recipient|networks no longer denied: "
                "192.0.2.128/25");
    assert_seen(&s, "widen|acme|recipient|rate limit 10/second burst 0 per "
                "recipient -> none");
    assert_seen(&s, "change|acme|contract|contract id C-1 -> C-2");
    assert_seen(&s, "widen|acme|contract|contract end "
                "2030-01-01T00:00:00.000Z -> 2031-01-01T00:00:00.000Z");
    assert_seen(&s, "narrow|acme|contract|attestation BAA no longer on "
                "file");
    assert_seen(&s, "narrow|acme|grant claims/adj/med|network allow list "
                "added: only 192.0.2.7");
    assert_seen(&s, "narrow|acme|grant claims/adj/med|rate limit 10/second "
                "burst 0 per recipient -> 5/second burst 0 per recipient");
    assert_seen(&s, "narrow|acme|grant ref/*/*|countries denied: + CA");

    /* 192.0.2.0/25 is inside the old /24: not a widening of its own */
    assert_seen(&s, "narrow|acme|recipient|networks allowed: - "
                "192.0.2.0/24");
    assert_count(&s, 12);

    assert_int_equal(diff(
        "{\"version\": 1, \"token_max_lifetime\": \"90d\", "
        "\"recipients\": []}",
        "{\"version\": 1, \"token_max_lifetime\": \"180d\", "
        "\"recipients\": []}", &s), 1);
    assert_seen(&s, "widen|-|policy|token_max_lifetime 90d -> 180d");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_no_change),
        cmocka_unit_test(test_recipients_and_tokens),
        cmocka_unit_test(test_grants),
        cmocka_unit_test(test_places_and_limits),
        cmocka_unit_test(test_alert_rules),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
