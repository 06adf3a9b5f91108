/*
 * RFC 3339 timestamps and durations as milliseconds since the epoch.
 *
 * The calendar arithmetic is done by hand (days from a civil date) so
 * parsing never depends on the process time zone or on timegm().
 */

#include <time.h>

#include "ds_time.h"


static ds_clock_pt  ds_clock;


static int
ds_digits(const char *s, size_t n, int *out)
{
    size_t  i;
    int     v;

    v = 0;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        v = v * 10 + (s[i] - '0');
    }

    *out = v;
    return 0;
}


static int
ds_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}


static int
ds_month_days(int y, int m)
{
    static const int  days[12] = { 31, 28, 31, 30, 31, 30,
                                   31, 31, 30, 31, 30, 31 };

    return (m == 2 && ds_leap(y)) ? 29 : days[m - 1];
}


/* days since 1970-01-01 of a proleptic Gregorian date */
static int64_t
ds_days_from_civil(int y, int m, int d)
{
    int64_t  era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}


int
ds_time_parse_rfc3339(const char *s, size_t len, int64_t *ms)
{
    int      y, mo, d, h, mi, sec, oh, om, frac, scale;
    size_t   i;
    int64_t  t, off;

    /* YYYY-MM-DDTHH:MM:SS */
    if (len < 20
        || s[4] != '-' || s[7] != '-'
        || (s[10] != 'T' && s[10] != 't')
        || s[13] != ':' || s[16] != ':')
    {
        return -1;
    }

    if (ds_digits(s, 4, &y) || ds_digits(s + 5, 2, &mo)
        || ds_digits(s + 8, 2, &d) || ds_digits(s + 11, 2, &h)
        || ds_digits(s + 14, 2, &mi) || ds_digits(s + 17, 2, &sec))
    {
        return -1;
    }

    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > ds_month_days(y, mo)
        || h > 23 || mi > 59 || sec > 59)
    {
        return -1;
    }

    i = 19;
    frac = 0;

    if (s[i] == '.') {
        i++;
        scale = 100;

        if (i >= len || s[i] < '0' || s[i] > '9') {
            return -1;
        }

        /* milliseconds; finer digits are accepted and truncated */
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            frac += (s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
    }

    if (i >= len) {
        return -1;
    }

    off = 0;

    if (s[i] == 'Z' || s[i] == 'z') {
        i++;

    } else if (s[i] == '+' || s[i] == '-') {
        if (len - i != 6 || s[i + 3] != ':'
            || ds_digits(s + i + 1, 2, &oh) || ds_digits(s + i + 4, 2, &om)
            || oh > 23 || om > 59)
        {
            return -1;
        }

        off = (int64_t) (oh * 60 + om) * 60000;

        if (s[i] == '-') {
            off = -off;
        }

        i += 6;

    } else {
        return -1;
    }

    if (i != len) {
        return -1;
    }

    t = ds_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    *ms = t * 1000 + frac - off;

    return 0;
}


/* n zero-padded decimal digits of v (0 <= v < 10^n) */
static size_t
ds_time_digits(char *p, int v, size_t n)
{
    size_t  i;

    for (i = n; i > 0; i--) {
        p[i - 1] = (char) ('0' + v % 10);
        v /= 10;
    }

    return n;
}


size_t
ds_time_format_rfc3339(int64_t ms, char *buf, size_t size)
{
    time_t     secs;
    int64_t    rem;
    struct tm  tm;
    size_t     n;

    secs = (time_t) (ms / 1000);
    rem = ms % 1000;

    if (rem < 0) {
        rem += 1000;
        secs--;
    }

    if (size < DS_RFC3339_LEN || gmtime_r(&secs, &tm) == NULL) {
        if (size) {
            buf[0] = '\0';
        }
        return 0;
    }

    if (tm.tm_year >= 1000 - 1900 && tm.tm_year <= 9999 - 1900) {
        /* what strftime() writes for 4-digit years, at a tenth the cost */
        n = ds_time_digits(buf, tm.tm_year + 1900, 4);
        buf[n++] = '-';
        n += ds_time_digits(buf + n, tm.tm_mon + 1, 2);
        buf[n++] = '-';
        n += ds_time_digits(buf + n, tm.tm_mday, 2);
        buf[n++] = 'T';
        n += ds_time_digits(buf + n, tm.tm_hour, 2);
        buf[n++] = ':';
        n += ds_time_digits(buf + n, tm.tm_min, 2);
        buf[n++] = ':';
        n += ds_time_digits(buf + n, tm.tm_sec, 2);

    } else {
        n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    }

    if (n == 0 || n + 6 > size) {
        buf[0] = '\0';
        return 0;
    }

    buf[n++] = '.';
    buf[n++] = (char) ('0' + rem / 100);
    buf[n++] = (char) ('0' + rem / 10 % 10);
    buf[n++] = (char) ('0' + rem % 10);
    buf[n++] = 'Z';
    buf[n] = '\0';

    return n;
}


int
ds_time_parse_duration(const char *s, int64_t *ms)
{
    int64_t  v, unit;

    if (s == NULL || *s < '0' || *s > '9') {
        return -1;
    }

    v = 0;

    while (*s >= '0' && *s <= '9') {
        if (v > INT64_MAX / 10 / 1000 / 86400 / 7) {
            return -1;
        }
        v = v * 10 + (*s++ - '0');
    }

    switch (*s++) {
    case 'w': unit = 7 * 86400000LL; break;
    case 'd': unit = 86400000LL; break;
    case 'h': unit = 3600000LL; break;
    case 'm': unit = 60000LL; break;
    case 's': unit = 1000LL; break;
    default: return -1;
    }

    if (*s != '\0') {
        return -1;
    }

    *ms = v * unit;
    return 0;
}


int64_t
ds_time_now_ms(void)
{
    struct timespec  ts;

    if (ds_clock) {
        return ds_clock();
    }

    clock_gettime(CLOCK_REALTIME, &ts);

    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


void
ds_time_set_clock(ds_clock_pt clock)
{
    ds_clock = clock;
}
