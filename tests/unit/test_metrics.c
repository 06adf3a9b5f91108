/*
 * ds_metrics: the table in a block of memory, slots and the cap,
 * atomic counting across processes, the exposition text.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ds_metrics.h"
#include "ds_time.h"


static int  locks, unlocks;


static void
lock(void *data)
{
    (void) data;
    locks++;
}


static void
unlock(void *data)
{
    (void) data;
    unlocks++;
}


static void *
block(size_t size)
{
    void  *p;

    p = aligned_alloc(64, (size + 63) & ~(size_t) 63);
    assert_non_null(p);
    memset(p, 0xa5, size);      /* init must not rely on zeroed memory */

    return p;
}


/* the exposition text as a NUL-terminated string (caller frees) */
static char *
text(const ds_metrics_t *m, const ds_metrics_info_t *info)
{
    ds_metrics_buf_t  b;

    memset(&b, 0, sizeof(b));
    assert_int_equal(ds_metrics_write(m, info, &b), 0);
    assert_int_equal(ds_metrics_escape(&b, "", 1), 0);   /* the NUL */

    return b.p;
}


static void
expect_line(const char *t, const char *line)
{
    const char  *p;
    size_t       n;

    n = strlen(line);

    for (p = t; (p = strstr(p, line)) != NULL; p += n) {
        if ((p == t || p[-1] == '\n') && p[n] == '\n') {
            return;
        }
    }

    fail_msg("no line \"%s\" in:\n%s", line, t);
}


static void
expect_no(const char *t, const char *s)
{
    if (strstr(t, s) != NULL) {
        fail_msg("\"%s\" found in:\n%s", s, t);
    }
}


static void
test_init_attach(void **state)
{
    size_t              size;
    void               *mem;
    ds_metrics_t       *m;
    ds_metrics_slot_t  *s;
    char               *t;

    (void) state;

    size = ds_metrics_size(4);
    assert_true(size > ds_metrics_size(1));

    mem = block(size);

    assert_null(ds_metrics_init(mem, size - 1, 4, 1));
    assert_null(ds_metrics_attach(mem, size, 4, 1));

    m = ds_metrics_init(mem, size, 4, 1);
    assert_non_null(m);

    s = ds_metrics_slot(m, "acme", 4, lock, unlock, NULL);
    ds_metrics_request(s, DS_OP_QUERY_TABLE, DS_METRICS_ALLOW,
                       DS_REASON_ALLOWED, 100);

    /* what a reload finds: the same parameters carry the counts on */
    assert_null(ds_metrics_attach(mem, size, 3, 1));
    assert_null(ds_metrics_attach(mem, size, 4, 0));
    assert_ptr_equal(ds_metrics_attach(mem, size, 4, 1), m);

    assert_ptr_equal(ds_metrics_slot(m, "acme", 4, lock, unlock, NULL), s);

    t = text(m, NULL);
    expect_line(t, "ds_requests_total{recipient=\"acme\","
                   "operation=\"query_table\",decision=\"allow\","
                   "reason=\"allowed\"} 1");
    expect_line(t, "ds_response_bytes_total{recipient=\"acme\"} 100");
    free(t);

    /* started afresh: nothing counted */
    m = ds_metrics_init(mem, size, 4, 1);
    t = text(m, NULL);
    expect_no(t, "acme");
    free(t);

    free(mem);
}


static void
test_slots_cap(void **state)
{
    size_t              size;
    void               *mem;
    char                id[16], *t;
    ds_metrics_t       *m;
    ds_metrics_slot_t  *a, *b, *s;
    int                 i;
    char                longid[DS_METRICS_ID_MAX + 2];

    (void) state;

    size = ds_metrics_size(3);
    mem = block(size);
    m = ds_metrics_init(mem, size, 3, 1);
    assert_non_null(m);

    locks = unlocks = 0;

    a = ds_metrics_slot(m, "a", 1, lock, unlock, NULL);
    b = ds_metrics_slot(m, "b", 1, lock, unlock, NULL);
    assert_ptr_not_equal(a, b);
    assert_int_equal(locks, 2);

    /* a known recipient takes no lock */
    assert_ptr_equal(ds_metrics_slot(m, "a", 1, lock, unlock, NULL), a);
    assert_ptr_equal(ds_metrics_slot(m, "b", 1, lock, unlock, NULL), b);
    assert_int_equal(locks, 2);
    assert_int_equal(unlocks, 2);

    /* no recipient: the "(none)" slot, and no lock either */
    s = ds_metrics_slot(m, NULL, 0, lock, unlock, NULL);
    assert_ptr_equal(ds_metrics_slot(m, "", 0, lock, unlock, NULL), s);
    assert_int_equal(locks, 2);
    ds_metrics_request(s, DS_OP_UNKNOWN, DS_METRICS_DENY,
                       DS_REASON_TOKEN_UNKNOWN, 0);

    /* a third fits; past the cap everyone is "(other)", lock-free */
    assert_ptr_not_equal(ds_metrics_slot(m, "c", 1, lock, unlock, NULL), a);

    for (i = 0; i < 100; i++) {
        snprintf(id, sizeof(id), "x%d", i);
        s = ds_metrics_slot(m, id, strlen(id), lock, unlock, NULL);
        ds_metrics_request(s, DS_OP_LIST_SHARES, DS_METRICS_DENY,
                           DS_REASON_TOKEN_EXPIRED, 10);
    }
    assert_int_equal(locks, 3);

    memset(longid, 'l', sizeof(longid));
    s = ds_metrics_slot(m, longid, sizeof(longid), lock, unlock, NULL);
    ds_metrics_request(s, DS_OP_LIST_SHARES, DS_METRICS_DENY,
                       DS_REASON_TOKEN_EXPIRED, 10);

    t = text(m, NULL);
    expect_line(t, "ds_requests_total{recipient=\"(other)\","
                   "operation=\"list_shares\",decision=\"deny\","
                   "reason=\"token_expired\"} 101");
    expect_line(t, "ds_requests_total{recipient=\"(none)\","
                   "operation=\"unknown\",decision=\"deny\","
                   "reason=\"token_unknown\"} 1");
    expect_line(t, "ds_response_bytes_total{recipient=\"(other)\"} 1010");
    /* recipients with a slot show from the start, at zero */
    expect_line(t, "ds_response_bytes_total{recipient=\"c\"} 0");
    expect_line(t, "ds_metrics_recipients 3");
    expect_line(t, "ds_metrics_recipients_max 3");
    expect_no(t, "x0");
    expect_no(t, "lll");
    free(t);

    free(mem);
}


static void
test_per_recipient_off(void **state)
{
    size_t              size;
    void               *mem;
    char               *t;
    ds_metrics_t       *m;
    ds_metrics_slot_t  *s;

    (void) state;

    size = ds_metrics_size(0);
    mem = block(size);
    m = ds_metrics_init(mem, size, 1000, 0);
    assert_non_null(m);

    locks = 0;
    s = ds_metrics_slot(m, "a", 1, lock, unlock, NULL);
    assert_ptr_equal(ds_metrics_slot(m, "b", 1, lock, unlock, NULL), s);
    assert_ptr_equal(ds_metrics_slot(m, NULL, 0, lock, unlock, NULL), s);
    assert_int_equal(locks, 0);

    ds_metrics_request(s, DS_OP_GET_SHARE, DS_METRICS_ALLOW,
                       DS_REASON_ALLOWED, 5);
    ds_metrics_request(s, DS_OP_GET_SHARE, DS_METRICS_ALLOW,
                       DS_REASON_ALLOWED, 5);
    ds_metrics_rl(s, DS_METRICS_RL_FAIL_OPEN);

    t = text(m, NULL);
    expect_line(t, "ds_requests_total{operation=\"get_share\","
                   "decision=\"allow\",reason=\"allowed\"} 2");
    expect_line(t, "ds_response_bytes_total 10");
    expect_line(t, "ds_ratelimit_total{outcome=\"fail_open\"} 1");
    expect_no(t, "recipient=");
    free(t);

    free(mem);
}


static void
test_counters_text(void **state)
{
    size_t              size;
    void               *mem;
    char               *t;
    ds_metrics_t       *m;
    ds_metrics_slot_t  *s;
    ds_metrics_info_t   info;

    (void) state;

    size = ds_metrics_size(8);
    mem = block(size);
    m = ds_metrics_init(mem, size, 8, 1);

    s = ds_metrics_slot(m, "fraud-analytics", 15, NULL, NULL, NULL);
    ds_metrics_request(s, DS_OP_QUERY_TABLE, DS_METRICS_ALLOW,
                       DS_REASON_ALLOWED, 1000);
    ds_metrics_disclosed(s, 3, 3000, 42);
    ds_metrics_disclosed(s, 0, 0, -1);
    ds_metrics_rl(s, DS_METRICS_RL_ALLOWED);
    ds_metrics_rl(s, DS_METRICS_RL_LIMITED);
    ds_metrics_rl(s, DS_METRICS_RL_LIMITED);

    /* an error with no reason; an out-of-range reason is "none" too */
    ds_metrics_request(s, DS_OP_QUERY_TABLE, DS_METRICS_ERROR,
                       DS_REASON_COUNT, 0);
    ds_metrics_request(s, DS_OP_QUERY_TABLE, DS_METRICS_ERROR, 1000, 0);

    ds_metrics_latency(m, DS_METRICS_LAT_GATEWAY, 0);
    ds_metrics_latency(m, DS_METRICS_LAT_GATEWAY, 1);
    ds_metrics_latency(m, DS_METRICS_LAT_GATEWAY, 3);
    ds_metrics_latency(m, DS_METRICS_LAT_GATEWAY, 2500);
    ds_metrics_latency(m, DS_METRICS_LAT_GATEWAY, 99999);
    ds_metrics_latency(m, DS_METRICS_LAT_UPSTREAM, 7);

    ds_metrics_audit(m, 5, 0);
    ds_metrics_audit(m, 1, 2);
    ds_metrics_reloaded(m, 1000);

    memset(&info, 0, sizeof(info));
    info.policy_version = "ab\"c\\d\ne";
    info.policy_recipients = 3;
    info.policy_tokens = 4;
    info.loaded_ms = 1700000000123LL;
    info.expiring_7d.tokens = 1;
    info.expiring_30d.tokens = 2;
    info.expiring_30d.attestations = 1;

    t = text(m, &info);

    expect_line(t, "# HELP ds_requests_total Requests to enforced locations "
                   "by recipient, operation, decision and reason.");
    expect_line(t, "# TYPE ds_requests_total counter");
    expect_line(t, "ds_requests_total{recipient=\"fraud-analytics\","
                   "operation=\"query_table\",decision=\"error\","
                   "reason=\"\"} 2");
    expect_line(t, "ds_disclosed_answers_total{recipient=\"fraud-analytics\"}"
                   " 2");
    expect_line(t, "ds_disclosed_files_total{recipient=\"fraud-analytics\"}"
                   " 3");
    expect_line(t, "ds_disclosed_bytes_total{recipient=\"fraud-analytics\"}"
                   " 3000");
    expect_line(t, "ds_disclosed_records_total"
                   "{recipient=\"fraud-analytics\"} 42");
    expect_line(t, "ds_ratelimit_total{recipient=\"fraud-analytics\","
                   "outcome=\"limited\"} 2");
    expect_line(t, "ds_ratelimit_total{recipient=\"fraud-analytics\","
                   "outcome=\"allowed\"} 1");

    /* buckets are cumulative; +Inf is the count; sum in seconds */
    expect_line(t, "# TYPE ds_gateway_latency_seconds histogram");
    expect_line(t, "ds_gateway_latency_seconds_bucket{le=\"0.001\"} 2");
    expect_line(t, "ds_gateway_latency_seconds_bucket{le=\"0.002\"} 2");
    expect_line(t, "ds_gateway_latency_seconds_bucket{le=\"0.005\"} 3");
    expect_line(t, "ds_gateway_latency_seconds_bucket{le=\"2.5\"} 4");
    expect_line(t, "ds_gateway_latency_seconds_bucket{le=\"30\"} 4");
    expect_line(t, "ds_gateway_latency_seconds_bucket{le=\"+Inf\"} 5");
    expect_line(t, "ds_gateway_latency_seconds_sum 102.503");
    expect_line(t, "ds_gateway_latency_seconds_count 5");
    expect_line(t, "ds_upstream_latency_seconds_bucket{le=\"0.005\"} 0");
    expect_line(t, "ds_upstream_latency_seconds_bucket{le=\"0.01\"} 1");
    expect_line(t, "ds_upstream_latency_seconds_sum 0.007");

    expect_line(t, "ds_audit_records_total 6");
    expect_line(t, "ds_audit_records_lost_total 2");
    expect_line(t, "ds_config_reloads_total 1");

    /* label values escaped as the format says */
    expect_line(t, "ds_policy_info{version=\"ab\\\"c\\\\d\\ne\"} 1");
    expect_line(t, "ds_policy_recipients 3");
    expect_line(t, "ds_policy_tokens 4");
    expect_line(t, "ds_config_loaded_timestamp_seconds 1700000000.123");
    expect_line(t, "ds_policy_expiring{kind=\"token\",within=\"7d\"} 1");
    expect_line(t, "ds_policy_expiring{kind=\"token\",within=\"30d\"} 2");
    expect_line(t, "ds_policy_expiring{kind=\"attestation\",within=\"30d\"}"
                   " 1");
    expect_line(t, "ds_policy_expiring{kind=\"contract\",within=\"7d\"} 0");

    /* zero request counters are left out */
    expect_no(t, "decision=\"deny\"");

    free(t);
    free(mem);
}


/*
 * Two processes counting into one shared mapping, as nginx workers do:
 * atomic adds lose nothing, and both find the same slot for an id.
 */
static void
test_shared_processes(void **state)
{
    enum { N = 200000 };

    size_t              size;
    void               *mem;
    char               *t, line[160];
    pid_t               pid[2];
    int                 i, k, st;
    ds_metrics_t       *m;
    ds_metrics_slot_t  *s;

    (void) state;

    size = ds_metrics_size(16);
    mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
               -1, 0);
    assert_true(mem != MAP_FAILED);

    m = ds_metrics_init(mem, size, 16, 1);
    assert_non_null(m);

    for (k = 0; k < 2; k++) {
        pid[k] = fork();
        assert_true(pid[k] >= 0);

        if (pid[k] == 0) {
            for (i = 0; i < N; i++) {
                s = ds_metrics_slot(m, "shared", 6, NULL, NULL, NULL);
                ds_metrics_request(s, DS_OP_LIST_SHARES, DS_METRICS_ALLOW,
                                   DS_REASON_ALLOWED, 1);
                ds_metrics_latency(m, DS_METRICS_LAT_GATEWAY, 1);
            }
            _exit(0);
        }
    }

    for (k = 0; k < 2; k++) {
        assert_int_equal(waitpid(pid[k], &st, 0), pid[k]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }

    t = text(m, NULL);
    snprintf(line, sizeof(line),
             "ds_requests_total{recipient=\"shared\",operation=\"list_shares\""
             ",decision=\"allow\",reason=\"allowed\"} %d", 2 * N);
    expect_line(t, line);
    snprintf(line, sizeof(line), "ds_gateway_latency_seconds_count %d", 2 * N);
    expect_line(t, line);
    expect_line(t, "ds_metrics_recipients 1");
    free(t);

    munmap(mem, size);
}


static void
test_escape(void **state)
{
    ds_metrics_buf_t  b;

    (void) state;

    memset(&b, 0, sizeof(b));
    assert_int_equal(ds_metrics_escape(&b, "a\\b\"c\nd", 7), 0);
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.p, "a\\\\b\\\"c\\nd", 10);
    free(b.p);
}


#define TOKEN(id, digest, exp)                                                \
    "{\"id\": \"" id "\", \"sha256\": \"" digest "\""                         \
    exp "}"

static void
test_expiring(void **state)
{
    char                    err[DS_ERR_MAX], doc[2048];
    int64_t                 now;
    ds_policy_t            *p;
    ds_metrics_expiring_t   e;

    (void) state;

    /* 2030-01-01: one token in 3 days, one in 20, one past, one never */
    now = 1893456000000LL;

    snprintf(doc, sizeof(doc),
        "{\"version\": 1, \"recipients\": [{\"id\": \"r\","
        " \"contract\": {\"id\": \"C\","
        "   \"valid_until\": \"2030-01-06T00:00:00Z\","
        "   \"attestations\": [{\"type\": \"BAA\","
        "                      \"expires\": \"2030-01-25T00:00:00Z\"}]},"
        " \"tokens\": [%s, %s, %s, %s],"
        " \"grants\": [{\"share\": \"s\"}]}]}",
        TOKEN("t1", "4f66a4283f8bc9768c3cb97fd06d267b79315aee941c9c1727b9354"
              "509242ffe", ", \"expires\": \"2030-01-04T00:00:00Z\""),
        TOKEN("t2", "efa1cd32d437a4dd30463a379503cadfb2b13481660f6345110f3bd"
              "e01f2e773", ", \"expires\": \"2030-01-21T00:00:00Z\""),
        TOKEN("t3", "0000000000000000000000000000000000000000000000000000000"
              "000000001", ", \"expires\": \"2029-12-01T00:00:00Z\""),
        TOKEN("t4", "0000000000000000000000000000000000000000000000000000000"
              "000000002", ""));

    p = ds_policy_load_buffer("p.json", doc, strlen(doc), err, sizeof(err));
    if (p == NULL) {
        fail_msg("%s", err);
    }

    ds_metrics_expiring(p, now, 7 * 86400000LL, &e);
    assert_int_equal(e.tokens, 1);
    assert_int_equal(e.contracts, 1);
    assert_int_equal(e.attestations, 0);

    ds_metrics_expiring(p, now, 30 * 86400000LL, &e);
    assert_int_equal(e.tokens, 2);
    assert_int_equal(e.contracts, 1);
    assert_int_equal(e.attestations, 1);

    ds_metrics_expiring(NULL, now, 1, &e);
    assert_int_equal(e.tokens, 0);

    ds_policy_free(p);
}


/* workers' Redis entries: claim, reload takeover, release, counts */
static void
test_redis(void **state)
{
    size_t         size;
    char          *t;
    void          *mem;
    ds_metrics_t  *m;

    (void) state;

    size = ds_metrics_size(4);
    mem = block(size);
    m = ds_metrics_init(mem, size, 4, 1);
    assert_non_null(m);

    t = text(m, NULL);
    assert_non_null(strstr(t, "ds_redis_connections{state=\"up\"} 0\n"));
    assert_non_null(strstr(t, "ds_redis_connections{state=\"down\"} 0\n"));
    assert_non_null(strstr(t, "ds_config_load_errors_total 0\n"));
    assert_non_null(strstr(t, "ds_jwks_fetches_total 0\n"));
    assert_non_null(strstr(t, "ds_jwks_fetch_failures_total 0\n"));
    free(t);

    /* two workers; one connects, sends 3, reads 1 reply */
    ds_metrics_redis_state(m, 0, 100, 0);
    ds_metrics_redis_state(m, 1, 101, 0);
    ds_metrics_redis_state(m, 0, 100, 1);
    ds_metrics_redis_in_flight(m, 0, 100, 1);
    ds_metrics_redis_in_flight(m, 0, 100, 1);
    ds_metrics_redis_in_flight(m, 0, 100, 1);
    ds_metrics_redis_in_flight(m, 0, 100, -1);
    ds_metrics_redis_event(m, DS_METRICS_REDIS_TIMEOUT);
    ds_metrics_redis_event(m, DS_METRICS_REDIS_RECONNECT);
    ds_metrics_redis_event(m, DS_METRICS_REDIS_RECONNECT);
    ds_metrics_load_error(m);
    ds_metrics_jwks_fetch(m, 1);
    ds_metrics_jwks_fetch(m, 0);
    ds_metrics_jwks_fetch(m, 0);
    /* out of range: ignored */
    ds_metrics_redis_state(m, DS_METRICS_WORKERS, 102, 1);

    t = text(m, NULL);
    assert_non_null(strstr(t, "ds_redis_connections{state=\"up\"} 1\n"));
    assert_non_null(strstr(t, "ds_redis_connections{state=\"down\"} 1\n"));
    assert_non_null(strstr(t, "ds_redis_commands_in_flight 2\n"));
    assert_non_null(strstr(t, "ds_redis_command_timeouts_total 1\n"));
    assert_non_null(strstr(t, "ds_redis_reconnects_total 2\n"));
    assert_non_null(strstr(t, "ds_config_load_errors_total 1\n"));
    assert_non_null(strstr(t, "ds_jwks_fetches_total 1\n"));
    assert_non_null(strstr(t, "ds_jwks_fetch_failures_total 2\n"));
    free(t);

    /* a reload: worker 0's successor takes the entry, in flight anew */
    ds_metrics_redis_state(m, 0, 200, 0);
    /* the old one's late replies and its exit leave it alone */
    ds_metrics_redis_in_flight(m, 0, 100, -1);
    ds_metrics_redis_state(m, 0, 100, -1);
    ds_metrics_redis_in_flight(m, 0, 200, 1);
    /* worker 1 exits for good */
    ds_metrics_redis_state(m, 1, 101, -1);

    t = text(m, NULL);
    assert_non_null(strstr(t, "ds_redis_connections{state=\"up\"} 0\n"));
    assert_non_null(strstr(t, "ds_redis_connections{state=\"down\"} 1\n"));
    assert_non_null(strstr(t, "ds_redis_commands_in_flight 1\n"));
    free(t);

    free(mem);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_init_attach),
        cmocka_unit_test(test_slots_cap),
        cmocka_unit_test(test_per_recipient_off),
        cmocka_unit_test(test_counters_text),
        cmocka_unit_test(test_shared_processes),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_expiring),
        cmocka_unit_test(test_redis),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
