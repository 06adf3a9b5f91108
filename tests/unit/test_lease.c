/*
 * ds_lease: cells spent locally, their expiry, k's adaptation, the
 * script's 6-field reply. The script itself runs in a real Redis in
 * tests/integration/test_ratelimit_lease.py.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ds_lease.h"


static const ds_lease_conf_t  conf = { 500, 100 };


static ds_gcra_result_t
allowed(int64_t limit, int64_t remaining, int64_t reset_ms)
{
    ds_gcra_result_t  r;

    memset(&r, 0, sizeof(r));
    r.status = DS_GCRA_ALLOWED;
    r.limit = limit;
    r.remaining = remaining;
    r.reset_ms = reset_ms;

    return r;
}


static void
busy(ds_lease_t *l, uint64_t now, int n)
{
    while (n--) {
        ds_lease_seen(l, &conf, now);
    }
}


static void
test_quiet_is_exact(void **state)
{
    ds_lease_t        l;
    ds_gcra_result_t  res;

    (void) state;

    ds_lease_init(&l, 10000, 0);
    ds_lease_seen(&l, &conf, 0);
    assert_int_equal(ds_lease_cells(&l, &conf), 1);

    /* one request per window stays one cell per call */
    ds_lease_seen(&l, &conf, 600);
    assert_int_equal(ds_lease_cells(&l, &conf), 1);
    assert_int_equal(ds_lease_take(&l, &conf, 600, &res), 0);

    res = allowed(10000, 9999, 100);
    ds_lease_grant(&l, &conf, 600, &res, 1, 1);
    assert_int_equal(ds_lease_take(&l, &conf, 601, &res), 0);
    assert_int_equal(ds_lease_wants_refresh(&l, &conf, 601), 0);
}


static void
test_cells_adapt_and_cap(void **state)
{
    ds_lease_t  l;

    (void) state;

    ds_lease_init(&l, 1000000, 0);
    busy(&l, 0, 40);
    assert_int_equal(ds_lease_cells(&l, &conf), 40);

    busy(&l, 10, 200);
    assert_int_equal(ds_lease_cells(&l, &conf), 100);   /* max_cells */

    /* the previous window's rate carries into the next one */
    busy(&l, 700, 1);
    assert_int_equal(ds_lease_cells(&l, &conf), 100);

    /* a window of silence forgets it */
    busy(&l, 2000, 1);
    assert_int_equal(ds_lease_cells(&l, &conf), 1);
}


static void
test_small_bucket_stays_exact(void **state)
{
    ds_lease_t  l;

    (void) state;

    /* (N + B) / 8 < 2: never more than one cell per call */
    ds_lease_init(&l, 15, 0);
    busy(&l, 0, 100);
    assert_int_equal(ds_lease_cells(&l, &conf), 1);

    ds_lease_init(&l, 80, 0);
    busy(&l, 0, 100);
    assert_int_equal(ds_lease_cells(&l, &conf), 10);
}


static void
test_spend_and_expire(void **state)
{
    int               i;
    ds_lease_t        l;
    ds_gcra_result_t  res;

    (void) state;

    ds_lease_init(&l, 1000, 0);
    busy(&l, 0, 50);

    res = allowed(1000, 900, 60000);
    ds_lease_grant(&l, &conf, 0, &res, 20, 1);
    assert_int_equal(ds_lease_unspent(&l, &conf, 1), 19);

    assert_int_equal(ds_lease_take(&l, &conf, 10, &res), 1);
    assert_int_equal(res.status, DS_GCRA_ALLOWED);
    assert_int_equal(res.limit, 1000);
    assert_int_equal(res.remaining, 900 + 18);
    assert_int_equal(res.reset_ms, 60000 - 10);

    for (i = 0; i < 18; i++) {
        assert_int_equal(ds_lease_take(&l, &conf, 20, &res), 1);
    }

    assert_int_equal(ds_lease_take(&l, &conf, 20, &res), 0);

    /* unspent cells of a grant die with it at max_age */
    res = allowed(1000, 880, 60000);
    ds_lease_grant(&l, &conf, 100, &res, 20, 0);
    assert_int_equal(ds_lease_take(&l, &conf, 599, &res), 1);
    assert_int_equal(ds_lease_take(&l, &conf, 600, &res), 0);
    assert_int_equal(ds_lease_unspent(&l, &conf, 600), 0);
}


static void
test_refresh_ahead(void **state)
{
    ds_lease_t        l;
    ds_gcra_result_t  res;

    (void) state;

    ds_lease_init(&l, 100000, 0);
    busy(&l, 0, 40);

    res = allowed(100000, 90000, 1000);
    ds_lease_grant(&l, &conf, 0, &res, 40, 1);
    assert_int_equal(ds_lease_wants_refresh(&l, &conf, 1), 0);

    /* at half spent */
    while (ds_lease_unspent(&l, &conf, 1) > 20) {
        assert_int_equal(ds_lease_take(&l, &conf, 1, &res), 1);
    }

    assert_int_equal(ds_lease_wants_refresh(&l, &conf, 1), 1);

    l.refreshing = 1;
    assert_int_equal(ds_lease_wants_refresh(&l, &conf, 1), 0);

    /* the refresh lands in the second slot: the first keeps its cells */
    res = allowed(100000, 89960, 1000);
    ds_lease_grant(&l, &conf, 2, &res, 40, 0);
    l.refreshing = 0;
    assert_int_equal(ds_lease_unspent(&l, &conf, 3), 60);

    /* the older grant is spent first */
    assert_int_equal(ds_lease_take(&l, &conf, 3, &res), 1);
    assert_int_equal(l.slot[0].cells, 19);

    /* older than max_age / 2: refresh, whatever is left */
    assert_int_equal(ds_lease_wants_refresh(&l, &conf, 251), 0);
    assert_int_equal(ds_lease_wants_refresh(&l, &conf, 252), 1);
}


static void
test_revocation_only(void **state)
{
    ds_lease_t        l;
    ds_gcra_result_t  res;

    (void) state;

    ds_lease_init(&l, 0, 0);
    assert_int_equal(ds_lease_cells(&l, &conf), 1);
    assert_int_equal(ds_lease_take(&l, &conf, 0, &res), 0);

    res = allowed(0, 0, 0);
    ds_lease_grant(&l, &conf, 0, &res, 0, 0);

    assert_int_equal(ds_lease_take(&l, &conf, 100, &res), 1);
    assert_int_equal(res.limit, 0);
    assert_int_equal(ds_lease_take(&l, &conf, 100, &res), 1);
    assert_int_equal(ds_lease_wants_refresh(&l, &conf, 100), 0);
    assert_int_equal(ds_lease_wants_refresh(&l, &conf, 250), 1);
    assert_int_equal(ds_lease_take(&l, &conf, 500, &res), 0);

    /* a revoked answer voids it at once */
    res = allowed(0, 0, 0);
    ds_lease_grant(&l, &conf, 600, &res, 0, 0);
    assert_int_equal(ds_lease_take(&l, &conf, 601, &res), 1);
    res.status = DS_GCRA_RECIPIENT_REVOKED;
    ds_lease_grant(&l, &conf, 602, &res, 0, 0);
    assert_int_equal(ds_lease_take(&l, &conf, 603, &res), 0);
}


static void
test_revoked_and_limited_replies(void **state)
{
    ds_lease_t        l;
    ds_gcra_result_t  res;

    (void) state;

    ds_lease_init(&l, 1000, 0);
    res = allowed(1000, 900, 100);
    ds_lease_grant(&l, &conf, 0, &res, 30, 1);

    /* LIMITED stores nothing and keeps what is held */
    memset(&res, 0, sizeof(res));
    res.status = DS_GCRA_LIMITED;
    res.limit = 1000;
    res.retry_ms = 5;
    ds_lease_grant(&l, &conf, 1, &res, 0, 0);
    assert_int_equal(ds_lease_unspent(&l, &conf, 2), 29);

    res.status = DS_GCRA_TOKEN_REVOKED;
    ds_lease_grant(&l, &conf, 3, &res, 0, 0);
    assert_int_equal(ds_lease_unspent(&l, &conf, 4), 0);
    assert_int_equal(ds_lease_take(&l, &conf, 4, &res), 0);

    /* another limit for the same key (a policy change) starts over */
    res = allowed(1000, 900, 100);
    ds_lease_grant(&l, &conf, 5, &res, 30, 1);
    res = allowed(2000, 1900, 100);
    ds_lease_grant(&l, &conf, 6, &res, 1, 1);
    assert_int_equal(l.limit, 2000);
    assert_int_equal(ds_lease_unspent(&l, &conf, 7), 0);
}


static void
test_clock_back_voids(void **state)
{
    ds_lease_t        l;
    ds_gcra_result_t  res;

    (void) state;

    ds_lease_init(&l, 1000, 0);
    res = allowed(1000, 900, 100);
    ds_lease_grant(&l, &conf, 1000, &res, 30, 1);
    assert_int_equal(ds_lease_take(&l, &conf, 999, &res), 0);
}


static void
test_parse_reply(void **state)
{
    int64_t           g;
    ds_gcra_result_t  res;
    long long         five[5] = { 0, 100, 99, 10, 0 };
    long long         six[6] = { 0, 100, 70, 300, 0, 30 };
    long long         lim[5] = { 1, 100, 0, 300, 12 };
    long long         rev[5] = { 3, 0, 0, 0, 0 };
    long long         none[5] = { 0, 0, 0, 0, 0 };

    (void) state;

    /* k = 1: today's reply, one cell */
    assert_int_equal(ds_lease_parse_reply(five, 5, 1, &res, &g), 0);
    assert_int_equal(g, 1);
    assert_int_equal(res.remaining, 99);

    assert_int_equal(ds_lease_parse_reply(six, 6, 64, &res, &g), 0);
    assert_int_equal(g, 30);
    assert_int_equal(res.remaining, 70);

    /* more than asked, none, or a 6th field nobody asked for */
    assert_int_equal(ds_lease_parse_reply(six, 6, 16, &res, &g), -1);
    six[5] = 0;
    assert_int_equal(ds_lease_parse_reply(six, 6, 64, &res, &g), -1);
    six[5] = 30;
    assert_int_equal(ds_lease_parse_reply(six, 6, 1, &res, &g), -1);
    assert_int_equal(ds_lease_parse_reply(five, 5, 64, &res, &g), -1);

    /* denials and revocation-only answers keep 5 fields for any k */
    assert_int_equal(ds_lease_parse_reply(lim, 5, 64, &res, &g), 0);
    assert_int_equal(g, 0);
    assert_int_equal(res.status, DS_GCRA_LIMITED);
    assert_int_equal(ds_lease_parse_reply(rev, 5, 64, &res, &g), 0);
    assert_int_equal(g, 0);
    assert_int_equal(ds_lease_parse_reply(none, 5, 64, &res, &g), 0);
    assert_int_equal(g, 0);

    assert_int_equal(ds_lease_parse_reply(five, 4, 1, &res, &g), -1);
    assert_int_equal(ds_lease_parse_reply(five, 7, 1, &res, &g), -1);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_quiet_is_exact),
        cmocka_unit_test(test_cells_adapt_and_cap),
        cmocka_unit_test(test_small_bucket_stays_exact),
        cmocka_unit_test(test_spend_and_expire),
        cmocka_unit_test(test_refresh_ahead),
        cmocka_unit_test(test_revocation_only),
        cmocka_unit_test(test_revoked_and_limited_replies),
        cmocka_unit_test(test_clock_back_voids),
        cmocka_unit_test(test_parse_reply),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
