/*
 * Alerts: the policy's "alerts" (accepted, and refused with file, path
 * and reason), and the engine in the metrics table: windows, exactly one
 * breach per window, factor rules over the baseline, suspension, the
 * fail-open alert, the exposition's alert families.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "ds_metrics.h"
#include "ds_policy.h"


#define DOC(r)  "{\"version\": 1, \"recipients\": [" r "]}"

static char  err[DS_ERR_MAX];


static ds_policy_t *
load(const char *json)
{
    err[0] = '\0';
    return ds_policy_load_buffer("p.json", json, strlen(json), err,
                                 sizeof(err));
}


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
test_rules_loaded(void **state)
{
    ds_policy_t            *p;
    const ds_recipient_t   *r;
    const ds_alert_rule_t  *a;

    (void) state;

    p = load(DOC("{\"id\": \"a\", \"alerts\": ["
                 "{\"metric\": \"requests\", \"window\": \"1m\","
                 " \"above\": 100},"
                 "{\"metric\": \"denials\", \"window\": \"10s\","
                 " \"factor\": 3.5, \"min\": 20, \"action\": \"suspend\","
                 " \"suspend_for\": \"10m\"},"
                 "{\"metric\": \"disclosed_bytes\", \"window\": \"1h\","
                 " \"above\": 0, \"action\": \"alert\"}]},"
                 "{\"id\": \"b\"}"));
    assert_non_null(p);

    r = ds_policy_find_recipient(p, "a", 1);
    assert_int_equal(ds_policy_alerts(r, &a), 3);
    assert_int_equal(a[0].metric, DS_ALERT_REQUESTS);
    assert_int_equal(a[0].window_ms, 60000);
    assert_string_equal(a[0].window, "1m");
    assert_int_equal(a[0].above, 100);
    assert_int_equal(a[0].factor_milli, 0);
    assert_false(a[0].suspend);
    assert_int_equal(a[1].metric, DS_ALERT_DENIALS);
    assert_int_equal(a[1].factor_milli, 3500);
    assert_int_equal(a[1].min, 20);
    assert_true(a[1].suspend);
    assert_int_equal(a[1].suspend_ms, 600000);
    assert_int_equal(a[2].metric, DS_ALERT_DISCLOSED_BYTES);
    assert_int_equal(a[2].window_ms, 3600000);

    r = ds_policy_find_recipient(p, "b", 1);
    assert_int_equal(ds_policy_alerts(r, &a), 0);

    assert_string_equal(ds_alert_metric_name(DS_ALERT_FAIL_OPEN),
                        "fail_open");

    ds_policy_free(p);
}


static void
test_rule_errors(void **state)
{
    (void) state;

    expect_error(DOC("{\"id\": \"a\", \"alerts\": {}}"),
                 "p.json: $.recipients[0].alerts: must be an array");
    expect_error(DOC("{\"id\": \"a\", \"alerts\": [{\"metric\": \"x\","
                     " \"window\": \"1m\", \"above\": 1}]}"),
                 "p.json: $.recipients[0].alerts[0].metric: must be "
                 "\"requests\", \"denials\" or \"disclosed_bytes\"");
    expect_error(DOC("{\"id\": \"a\", \"alerts\": [{\"metric\":"
                     " \"fail_open\", \"window\": \"1m\", \"above\": 1}]}"),
                 "p.json: $.recipients[0].alerts[0].metric: must be "
                 "\"requests\", \"denials\" or \"disclosed_bytes\"");
    expect_error(DOC("{\"id\": \"a\", \"alerts\": [{\"metric\":"
                     " \"requests\", \"above\": 1}]}"),
                 "p.json: $.recipients[0].alerts[0]: missing required "
                 "field \"window\"");
    expect_error(DOC("{\"id\": \"a\", \"alerts\": [{\"metric\":"
                     " \"requests\", \"window\": \"2d\", \"above\": 1}]}"),
                 "p.json: $.recipients[0].alerts[0].window: must be whole "
                 "seconds from 1s to 86400s, such as \"30s\", \"1m\" or "
                 "\"1h\"");
    expect_error(DOC("{\"id\": \"a\", \"alerts\": [{\"metric\":"
                     " \"requests\", \"window\": \"1m\"}]}"),
                 "p.json: $.recipients[0].alerts[0]: needs one of "
                 "\"above\" (a count per window) or \"factor\" (over the "
                 "baseline)");
    expect_error(DOC("{\"id\": \"a\", \"alerts\": [{\"metric\":"
                     " \"requests\", \"window\": \"1m\", \"above\": 1,"
                     " \"factor\": 2}]}"),
                 "p.json: $.recipients[0].alerts[0]: needs one of "
                 "\"above\" (a count per window) or \"factor\" (over the "
                 "baseline)");
    expect_error(DOC("{\"id\": \"a\", \"alerts\": [{\"metric\":"
                     " \"requests\", \"window\": \"1m\", \"above\": -1}]}"),
                 "p.json: $.recipients[0].alerts[0].above: must be an "
                 "integer, 0 or more");
    expect_error(DOC("{\"id\": \"a\", \"alerts\": [{\"metric\":"
                     " \"requests\", \"window\": \"1m\", \"factor\": 1}]}"),
                 "p.json: $.recipients[0].alerts[0].factor: must be a "
                 "number above 1 and at most 1000");
    expect_error(DOC("{\"id\": \"a\", \"alerts\": [{\"metric\":"
                     " \"requests\", \"window\": \"1m\", \"above\": 5,"
                     " \"min\": 2}]}"),
                 "p.json: $.recipients[0].alerts[0].min: goes with "
                 "\"factor\" only");
    expect_error(DOC("{\"id\": \"a\", \"alerts\": [{\"metric\":"
                     " \"requests\", \"window\": \"1m\", \"above\": 5,"
                     " \"action\": \"block\"}]}"),
                 "p.json: $.recipients[0].alerts[0].action: must be "
                 "\"alert\" or \"suspend\"");
    expect_error(DOC("{\"id\": \"a\", \"alerts\": [{\"metric\":"
                     " \"requests\", \"window\": \"1m\", \"above\": 5,"
                     " \"action\": \"suspend\"}]}"),
                 "p.json: $.recipients[0].alerts[0]: missing required "
                 "field \"suspend_for\"");
    expect_error(DOC("{\"id\": \"a\", \"alerts\": [{\"metric\":"
                     " \"requests\", \"window\": \"1m\", \"above\": 5,"
                     " \"suspend_for\": \"1m\"}]}"),
                 "p.json: $.recipients[0].alerts[0].suspend_for: goes "
                 "with \"action\": \"suspend\" only");
    expect_error(DOC("{\"id\": \"a\", \"alerts\": [{\"metric\":"
                     " \"requests\", \"window\": \"1m\", \"above\": 5,"
                     " \"treshold\": 1}]}"),
                 "p.json: $.recipients[0].alerts[0].treshold: unknown "
                 "field");
    expect_error(DOC("{\"id\": \"a\", \"alerts\": ["
                     "{\"metric\": \"requests\", \"window\": \"1m\","
                     " \"above\": 1}, {\"metric\": \"requests\","
                     " \"window\": \"1m\", \"above\": 1}, {\"metric\":"
                     " \"requests\", \"window\": \"1m\", \"above\": 1},"
                     " {\"metric\": \"requests\", \"window\": \"1m\","
                     " \"above\": 1}, {\"metric\": \"requests\","
                     " \"window\": \"1m\", \"above\": 1}, {\"metric\":"
                     " \"requests\", \"window\": \"1m\", \"above\": 1},"
                     " {\"metric\": \"requests\", \"window\": \"1m\","
                     " \"above\": 1}, {\"metric\": \"requests\","
                     " \"window\": \"1m\", \"above\": 1}, {\"metric\":"
                     " \"requests\", \"window\": \"1m\", \"above\": 1}]}"),
                 "p.json: $.recipients[0].alerts: at most 8 rules per "
                 "recipient");
}


/* ---------------------------------------------------------- engine */

static ds_metrics_t *
table(void **mem)
{
    size_t         size;
    ds_metrics_t  *m;

    size = ds_metrics_size(4);
    *mem = aligned_alloc(64, (size + 63) & ~(size_t) 63);
    assert_non_null(*mem);
    m = ds_metrics_init(*mem, size, 4, 1);
    assert_non_null(m);

    return m;
}


/* one request at t: n requests, d denials, b bytes, fail-open fo */
static size_t
obs(ds_metrics_slot_t *s, const ds_alert_rule_t *r, size_t nr, int64_t t,
    uint64_t d, uint64_t b, int fo, ds_alert_breach_t *out)
{
    ds_alert_obs_t  o;

    memset(&o, 0, sizeof(o));
    o.now_ms = t;
    o.n[DS_ALERT_REQUESTS] = 1;
    o.n[DS_ALERT_DENIALS] = d;
    o.n[DS_ALERT_DISCLOSED_BYTES] = b;
    o.n[DS_ALERT_FAIL_OPEN] = fo ? 1 : 0;

    return ds_metrics_alert_observe(s, r, nr, &o, out, 4);
}


#define T0  (1700000000000LL / 600000 * 600000)     /* a 10 minute mark */


static void
test_above_once_per_window(void **state)
{
    int                  i, n;
    void                *mem;
    char                *buf;
    ds_metrics_t        *m;
    ds_metrics_buf_t     out;
    ds_metrics_slot_t   *s;
    ds_alert_rule_t      r[2];
    ds_alert_breach_t    b[4];
    ds_metrics_info_t    info;

    (void) state;

    m = table(&mem);
    s = ds_metrics_slot(m, "acme", 4, NULL, NULL, NULL);
    assert_ptr_equal(ds_metrics_find(m, "acme", 4), s);
    assert_null(ds_metrics_find(m, "beta", 4));

    memset(r, 0, sizeof(r));
    r[0].metric = DS_ALERT_REQUESTS;
    r[0].window_ms = 10000;
    r[0].window = "10s";
    r[0].above = 5;
    r[1].metric = DS_ALERT_DISCLOSED_BYTES;
    r[1].window_ms = 60000;
    r[1].window = "1m";
    r[1].above = 1000;

    /* 5 in the window: quiet; the 6th breaches; the rest do not again */
    for (i = 0; i < 5; i++) {
        assert_int_equal(obs(s, r, 2, T0 + i, 0, 0, 0, b), 0);
    }

    n = 0;
    for (i = 5; i < 40; i++) {
        if (obs(s, r, 2, T0 + i, 0, 0, 0, b)) {
            n++;
            assert_int_equal(b[0].metric, DS_ALERT_REQUESTS);
            assert_ptr_equal(b[0].rule, &r[0]);
            assert_int_equal(b[0].observed, 6);
            assert_int_equal(b[0].threshold, 5);
            assert_int_equal(b[0].until_ms, 0);
        }
    }
    assert_int_equal(n, 1);

    /* the next window starts from 0 */
    for (i = 0; i < 5; i++) {
        assert_int_equal(obs(s, r, 2, T0 + 10000 + i, 0, 0, 0, b), 0);
    }
    assert_int_equal(obs(s, r, 2, T0 + 10005, 0, 0, 0, b), 1);

    /* bytes: 600 + 600 goes over 1000 once */
    assert_int_equal(obs(s, r, 2, T0 + 20000, 0, 600, 0, b), 0);
    assert_int_equal(obs(s, r, 2, T0 + 20001, 0, 600, 0, b), 1);
    assert_int_equal(b[0].metric, DS_ALERT_DISCLOSED_BYTES);
    assert_int_equal(b[0].observed, 1200);
    assert_int_equal(obs(s, r, 2, T0 + 20002, 0, 600, 0, b), 0);

    /* the exposition: active while the window lasts, then 0 */
    memset(&info, 0, sizeof(info));
    info.now_ms = T0 + 20003;
    memset(&out, 0, sizeof(out));
    assert_int_equal(ds_metrics_write(m, &info, &out), 0);
    buf = calloc(1, out.len + 1);
    assert_non_null(buf);
    memcpy(buf, out.p, out.len);
    free(out.p);
    assert_non_null(strstr(buf, "ds_alert_active{recipient=\"acme\","
                                "metric=\"requests\"} 0\n"));
    assert_non_null(strstr(buf, "ds_alert_active{recipient=\"acme\","
                                "metric=\"disclosed_bytes\"} 1\n"));
    assert_non_null(strstr(buf, "ds_alerts_total{recipient=\"acme\","
                                "metric=\"requests\"} 2\n"));
    assert_null(strstr(buf, "metric=\"denials\"} "));
    free(buf);

    free(mem);
}


static void
test_suspend_and_fail_open(void **state)
{
    void                *mem;
    ds_metrics_t        *m;
    ds_metrics_slot_t   *s;
    ds_alert_rule_t      r;
    ds_alert_breach_t    b[4];

    (void) state;

    m = table(&mem);
    s = ds_metrics_slot(m, "acme", 4, NULL, NULL, NULL);

    memset(&r, 0, sizeof(r));
    r.metric = DS_ALERT_DENIALS;
    r.window_ms = 60000;
    r.window = "1m";
    r.above = 2;
    r.suspend = 1;
    r.suspend_ms = 5000;

    assert_int_equal(ds_metrics_alert_suspended(s, T0), 0);
    /* allowed requests add no denials */
    assert_int_equal(obs(s, &r, 1, T0, 0, 0, 0, b), 0);
    assert_int_equal(obs(s, &r, 1, T0 + 1, 1, 0, 0, b), 0);
    assert_int_equal(obs(s, &r, 1, T0 + 2, 1, 0, 0, b), 0);
    assert_int_equal(obs(s, &r, 1, T0 + 3, 1, 0, 0, b), 1);
    assert_int_equal(b[0].until_ms, T0 + 5003);
    assert_int_equal(ds_metrics_alert_suspended(s, T0 + 4), T0 + 5003);
    assert_int_equal(ds_metrics_alert_suspended(s, T0 + 5003), 0);

    /* fail-open: one alert a minute, with or without rules */
    assert_int_equal(obs(s, NULL, 0, T0 + 10, 0, 0, 1, b), 1);
    assert_int_equal(b[0].metric, DS_ALERT_FAIL_OPEN);
    assert_null(b[0].rule);
    assert_int_equal(b[0].window_ms, 60000);
    assert_int_equal(b[0].observed, 1);
    assert_int_equal(obs(s, NULL, 0, T0 + 20, 0, 0, 1, b), 0);
    assert_int_equal(obs(s, NULL, 0, T0 + 60000, 0, 0, 1, b), 1);

    free(mem);
}


/* factor rules: quiet while warming up, then over F times the baseline */
static void
test_factor_over_baseline(void **state)
{
    int                  min, i, n;
    void                *mem;
    int64_t              t;
    ds_metrics_t        *m;
    ds_metrics_slot_t   *s;
    ds_alert_rule_t      r;
    ds_alert_breach_t    b[4];

    (void) state;

    m = table(&mem);
    s = ds_metrics_slot(m, "acme", 4, NULL, NULL, NULL);

    memset(&r, 0, sizeof(r));
    r.metric = DS_ALERT_REQUESTS;
    r.window_ms = 60000;
    r.window = "1m";
    r.factor_milli = 3000;
    r.min = 5;

    /* 10 a minute for 8 minutes: the baseline settles at 10 */
    for (min = 0; min < 8; min++) {
        for (i = 0; i < 10; i++) {
            t = T0 + min * 60000LL + i * 1000;
            assert_int_equal(obs(s, &r, 1, t, 0, 0, 0, b), 0);
        }
    }

    assert_int_equal(ds_metrics_alert_baseline(s, DS_ALERT_REQUESTS),
                     10000);

    /* a spike: 3 x 10 = 30 allowed, the 31st breaches, once */
    n = 0;
    for (i = 0; i < 100; i++) {
        t = T0 + 8 * 60000LL + i * 100;
        if (obs(s, &r, 1, t, 0, 0, 0, b)) {
            n++;
            assert_int_equal(b[0].observed, 31);
            assert_int_equal(b[0].threshold, 30);
            assert_int_equal(b[0].baseline, 10);
        }
    }
    assert_int_equal(n, 1);

    /* the spike minute raises the baseline only once it is over */
    assert_int_equal(ds_metrics_alert_baseline(s, DS_ALERT_REQUESTS),
                     10000);
    (void) obs(s, &r, 1, T0 + 9 * 60000LL, 0, 0, 0, b);
    assert_int_equal(ds_metrics_alert_baseline(s, DS_ALERT_REQUESTS),
                     10000 + (100000 - 10000) / 8);

    /* idle minutes decay it: 20 of them, by (7/8)^20 */
    (void) obs(s, &r, 1, T0 + 30 * 60000LL, 0, 0, 0, b);
    assert_in_range(ds_metrics_alert_baseline(s, DS_ALERT_REQUESTS),
                    1100, 1400);

    free(mem);
}


/* a new recipient's factor rule waits for its baseline */
static void
test_factor_warmup(void **state)
{
    int                  i;
    void                *mem;
    ds_metrics_t        *m;
    ds_metrics_slot_t   *s;
    ds_alert_rule_t      r;
    ds_alert_breach_t    b[4];

    (void) state;

    m = table(&mem);
    s = ds_metrics_slot(m, "new", 3, NULL, NULL, NULL);

    memset(&r, 0, sizeof(r));
    r.metric = DS_ALERT_REQUESTS;
    r.window_ms = 10000;
    r.window = "10s";
    r.factor_milli = 2000;
    r.min = 1;

    for (i = 0; i < 500; i++) {
        assert_int_equal(obs(s, &r, 1, T0 + i * 100, 0, 0, 0, b), 0);
    }

    free(mem);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_rules_loaded),
        cmocka_unit_test(test_rule_errors),
        cmocka_unit_test(test_above_once_per_window),
        cmocka_unit_test(test_suspend_and_fail_open),
        cmocka_unit_test(test_factor_over_baseline),
        cmocka_unit_test(test_factor_warmup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
