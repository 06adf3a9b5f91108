/*
 * Alert rules of a recipient (the policy's "alerts", docs/metrics.md):
 * a metric counted over a window, a threshold (absolute, or a factor over
 * the recipient's baseline), and what a breach does.
 *
 * Pure C, no nginx headers.
 */

#ifndef DS_ALERT_H
#define DS_ALERT_H

#include <stddef.h>
#include <stdint.h>

#define DS_ALERT_RULES_MAX      8           /* per recipient */
#define DS_ALERT_WINDOW_MIN     1000        /* ms */
#define DS_ALERT_WINDOW_MAX     86400000    /* 24 h */
#define DS_ALERT_SUSPEND_MAX    (30 * 86400000LL)
#define DS_ALERT_FACTOR_MAX     1000000     /* x1000: 1000 times */


typedef enum {
    DS_ALERT_REQUESTS = 0,
    DS_ALERT_DENIALS,
    DS_ALERT_DISCLOSED_BYTES,
    DS_ALERT_FAIL_OPEN,                     /* always on, not in rules */
    DS_ALERT_METRICS
} ds_alert_metric_t;


typedef struct {
    ds_alert_metric_t   metric;
    int64_t             window_ms;
    const char         *window;             /* as written: "1m" */
    uint64_t            above;              /* absolute threshold */
    uint32_t            factor_milli;       /* 0: absolute; else x1000 */
    uint64_t            min;                /* with factor: the floor */
    unsigned            suspend:1;
    int64_t             suspend_ms;
} ds_alert_rule_t;


/* "requests", "denials", "disclosed_bytes", "fail_open" */
const char *ds_alert_metric_name(ds_alert_metric_t m);

/*
 * The rule in words, the same for equal rules ("requests over 600 in
 * 1m: suspend 15m"): what dsctl policy diff compares and shows.
 */
void ds_alert_rule_text(const ds_alert_rule_t *r, char *buf, size_t size);

#endif /* DS_ALERT_H */
