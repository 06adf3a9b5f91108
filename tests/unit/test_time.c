/*
 * ds_time: RFC 3339 parsing and formatting, durations, the clock.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <stdio.h>
#include <time.h>

#include "ds_time.h"


static int64_t
parse(const char *s)
{
    int64_t  ms;

    if (ds_time_parse_rfc3339(s, strlen(s), &ms) != 0) {
        return -1;
    }

    return ms;
}


static void
test_parse_valid(void **state)
{
    (void) state;

    assert_int_equal(parse("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse("2030-01-01T00:00:00Z"), 1893456000000LL);
    assert_int_equal(parse("2030-01-01t00:00:00z"), 1893456000000LL);
    assert_int_equal(parse("2030-01-01T00:00:00.5Z"), 1893456000500LL);
    assert_int_equal(parse("2030-01-01T00:00:00.123456Z"),
                     1893456000123LL);
    /* an offset east of UTC is earlier in UTC */
    assert_int_equal(parse("2030-01-01T02:00:00+02:00"), 1893456000000LL);
    assert_int_equal(parse("2029-12-31T19:30:00-04:30"), 1893456000000LL);
    /* leap day */
    assert_int_equal(parse("2028-02-29T12:00:00Z"), 1835438400000LL);
    assert_int_equal(parse("2000-02-29T00:00:00Z"), 951782400000LL);
}


static void
test_parse_invalid(void **state)
{
    static const char *const  bad[] = {
        "", "2030", "2030-01-01", "2030-01-01 00:00:00Z",
        "2030-01-01T00:00:00", "2030-13-01T00:00:00Z",
        "2030-00-01T00:00:00Z", "2030-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z", "2030-04-31T00:00:00Z",
        "2030-01-01T24:00:00Z", "2030-01-01T00:60:00Z",
        "2030-01-01T00:00:60Z", "2030-01-01T00:00:00.Z",
        "2030-01-01T00:00:00+0200", "2030-01-01T00:00:00+02:00x",
        "2030-01-01T00:00:00ZZ", "20a0-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z", "tomorrow", NULL
    };
    const char *const        *s;
    int64_t                   ms;

    (void) state;

    for (s = bad; *s; s++) {
        if (ds_time_parse_rfc3339(*s, strlen(*s), &ms) == 0) {
            fail_msg("accepted \"%s\"", *s);
        }
    }
}


static void
test_format(void **state)
{
    char  buf[DS_RFC3339_LEN];

    (void) state;

    assert_int_equal(ds_time_format_rfc3339(1893456000123LL, buf,
                                            sizeof(buf)), 24);
    assert_string_equal(buf, "2030-01-01T00:00:00.123Z");

    ds_time_format_rfc3339(0, buf, sizeof(buf));
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");

    /* too small a buffer: nothing half-written */
    assert_int_equal(ds_time_format_rfc3339(0, buf, 10), 0);
    assert_string_equal(buf, "");

    /* round trip */
    assert_int_equal(parse("2031-07-04T13:14:15.678Z"), 1940937255678LL);
    ds_time_format_rfc3339(1940937255678LL, buf, sizeof(buf));
    assert_string_equal(buf, "2031-07-04T13:14:15.678Z");
}


static void
test_duration(void **state)
{
    int64_t  ms;

    (void) state;

    assert_int_equal(ds_time_parse_duration("30d", &ms), 0);
    assert_int_equal(ms, 30LL * 86400000);
    assert_int_equal(ds_time_parse_duration("12h", &ms), 0);
    assert_int_equal(ms, 12LL * 3600000);
    assert_int_equal(ds_time_parse_duration("15m", &ms), 0);
    assert_int_equal(ms, 15LL * 60000);
    assert_int_equal(ds_time_parse_duration("45s", &ms), 0);
    assert_int_equal(ms, 45000);
    assert_int_equal(ds_time_parse_duration("2w", &ms), 0);
    assert_int_equal(ms, 14LL * 86400000);
    assert_int_equal(ds_time_parse_duration("0d", &ms), 0);
    assert_int_equal(ms, 0);

    assert_int_not_equal(ds_time_parse_duration("", &ms), 0);
    assert_int_not_equal(ds_time_parse_duration("d", &ms), 0);
    assert_int_not_equal(ds_time_parse_duration("30", &ms), 0);
    assert_int_not_equal(ds_time_parse_duration("30x", &ms), 0);
    assert_int_not_equal(ds_time_parse_duration("30dd", &ms), 0);
    assert_int_not_equal(ds_time_parse_duration("-3d", &ms), 0);
    assert_int_not_equal(ds_time_parse_duration("99999999999999999d", &ms),
                         0);
    assert_int_not_equal(ds_time_parse_duration(NULL, &ms), 0);
}


static int64_t
fixed_clock(void)
{
    return 1234;
}


static void
test_clock(void **state)
{
    int64_t  now;

    (void) state;

    /* the wall clock is after this code was written */
    now = ds_time_now_ms();
    assert_true(now > 1764000000000LL);

    ds_time_set_clock(fixed_clock);
    assert_int_equal(ds_time_now_ms(), 1234);

    ds_time_set_clock(NULL);
    assert_true(ds_time_now_ms() >= now);
}


/* the hand-written fields agree with strftime() across the years */
static void
test_format_matches_strftime(void **state)
{
    char       buf[DS_RFC3339_LEN], ref[64];
    int64_t    ms, rem;
    time_t     secs;
    struct tm  tm;
    uint64_t   x;
    size_t     i, n;

    (void) state;

    x = 88172645463325252ULL;

    for (i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;

        /* years 1 to ~11000, both sides of the hand-written range */
        ms = (int64_t) (x % 400000000000000ULL) - 62000000000000LL;

        secs = (time_t) (ms / 1000);
        rem = ms % 1000;
        if (rem < 0) {
            rem += 1000;
            secs--;
        }

        assert_non_null(gmtime_r(&secs, &tm));
        n = strftime(ref, sizeof(ref), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(ref + n, sizeof(ref) - n, ".%03dZ", (int) rem);

        n = ds_time_format_rfc3339(ms, buf, sizeof(buf));

        if (strlen(ref) + 1 > sizeof(buf)) {
            assert_int_equal(n, 0);
            assert_string_equal(buf, "");
        } else {
            assert_string_equal(buf, ref);
            assert_int_equal(n, strlen(ref));
        }
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_matches_strftime),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_clock),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
