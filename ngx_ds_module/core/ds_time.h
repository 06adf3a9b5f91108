/*
 * Time helpers: RFC 3339 in and out, milliseconds since the epoch.
 * The clock is injectable so tests never sleep.
 */

#ifndef DS_TIME_H
#define DS_TIME_H

#include <stddef.h>
#include <stdint.h>

#define DS_TIME_NONE   INT64_MIN     /* "no bound" */
#define DS_RFC3339_LEN 30            /* "2026-11-25T06:16:51.123Z" + NUL */


/* "2026-01-01T00:00:00Z", fractions and +hh:mm offsets accepted */
int ds_time_parse_rfc3339(const char *s, size_t len, int64_t *ms);

/* always UTC with milliseconds: "2026-01-01T00:00:00.000Z" */
size_t ds_time_format_rfc3339(int64_t ms, char *buf, size_t size);

/* durations such as "30d", "12h", "15m", "45s" -> milliseconds */
int ds_time_parse_duration(const char *s, int64_t *ms);

typedef int64_t (*ds_clock_pt)(void);

/* wall clock in ms, or the injected clock when one is set */
int64_t ds_time_now_ms(void);
void ds_time_set_clock(ds_clock_pt clock);

#endif /* DS_TIME_H */
