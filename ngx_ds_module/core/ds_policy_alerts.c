/*
 * A recipient's "alerts" (docs/metrics.md#alerts): validated like every
 * other field, with the file and the JSON path in each message.
 *
 *   "alerts": [ { "metric": "requests" | "denials" | "disclosed_bytes",
 *                 "window": "1m",
 *                 "above": N            (more than N in one window)
 *                 | "factor": F, "min": N   (more than F times the
 *                                            baseline, and more than N),
 *                 "action": "alert" | "suspend",
 *                 "suspend_for": "10m" } ]
 */

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ds_policy_load.h"


static const char *const  ds_alert_metric_names[DS_ALERT_METRICS] = {
    "requests", "denials", "disclosed_bytes", "fail_open"
};


const char *
ds_alert_metric_name(ds_alert_metric_t m)
{
    return (unsigned) m < DS_ALERT_METRICS ? ds_alert_metric_names[m]
                                           : "unknown";
}


void
ds_alert_rule_text(const ds_alert_rule_t *r, char *buf, size_t size)
{
    int  n;

    if (r->factor_milli) {
        n = snprintf(buf, size, "%s over %u.%03u x baseline (min %llu) "
                     "in %llds", ds_alert_metric_name(r->metric),
                     r->factor_milli / 1000, r->factor_milli % 1000,
                     (unsigned long long) r->min,
                     (long long) (r->window_ms / 1000));
    } else {
        n = snprintf(buf, size, "%s over %llu in %llds",
                     ds_alert_metric_name(r->metric),
                     (unsigned long long) r->above,
                     (long long) (r->window_ms / 1000));
    }

    if (r->suspend && n > 0 && (size_t) n < size) {
        snprintf(buf + n, size - n, ": suspend %llds",
                 (long long) (r->suspend_ms / 1000));
    }
}


size_t
ds_policy_alerts(const ds_recipient_t *r, const ds_alert_rule_t **rules)
{
    *rules = r ? r->alerts : NULL;

    return r ? r->nalerts : 0;
}


static int
ds_ld_alert_duration(ds_ld_t *ld, json_t *o, const char *key,
    int64_t min, int64_t max, int64_t *ms, const char **text)
{
    json_t      *v;
    const char  *s;
    size_t       old;

    if (ds_ld_get(ld, o, key, JSON_STRING, 1, &v) != 0) {
        return -1;
    }

    s = json_string_value(v);
    old = ds_ld_push(ld, key, 0);

    if (ds_time_parse_duration(s, ms) != 0 || *ms < min || *ms > max
        || *ms % 1000 != 0)
    {
        return ds_ld_fail(ld, "must be whole seconds from %llds to %llds, "
                          "such as \"30s\", \"1m\" or \"1h\"",
                          (long long) (min / 1000),
                          (long long) (max / 1000));
    }

    if (text) {
        *text = ds_arena_strndup(&ld->p->arena, s, strlen(s));
        if (*text == NULL) {
            return ds_ld_fail(ld, "out of memory");
        }
    }

    ld->jlen = old;
    return 0;
}


static int
ds_ld_alert(ds_ld_t *ld, json_t *o, ds_alert_rule_t *a)
{
    static const char *const  keys[] = {
        "metric", "window", "above", "factor", "min", "action",
        "suspend_for", NULL
    };
    json_t                   *v, *above, *factor, *min;
    const char               *s;
    double                    f;
    unsigned                  i;

    if (!json_is_object(o)) {
        return ds_ld_fail(ld, "must be an object");
    }

    if (ds_ld_keys(ld, o, keys) != 0
        || ds_ld_get(ld, o, "metric", JSON_STRING, 1, &v) != 0)
    {
        return -1;
    }

    s = json_string_value(v);

    for (i = 0; i < DS_ALERT_FAIL_OPEN; i++) {
        if (strcmp(s, ds_alert_metric_names[i]) == 0) {
            break;
        }
    }

    if (i == DS_ALERT_FAIL_OPEN) {
        ds_ld_push(ld, "metric", 0);
        return ds_ld_fail(ld, "must be \"requests\", \"denials\" or "
                          "\"disclosed_bytes\"");
    }

    a->metric = (ds_alert_metric_t) i;

    if (ds_ld_alert_duration(ld, o, "window", DS_ALERT_WINDOW_MIN,
                             DS_ALERT_WINDOW_MAX, &a->window_ms,
                             &a->window) != 0)
    {
        return -1;
    }

    above = json_object_get(o, "above");
    factor = json_object_get(o, "factor");
    min = json_object_get(o, "min");

    if ((above == NULL) == (factor == NULL)) {
        return ds_ld_fail(ld, "needs one of \"above\" (a count per "
                          "window) or \"factor\" (over the baseline)");
    }

    if (above) {
        if (!json_is_integer(above) || json_integer_value(above) < 0) {
            ds_ld_push(ld, "above", 0);
            return ds_ld_fail(ld, "must be an integer, 0 or more");
        }

        if (min) {
            ds_ld_push(ld, "min", 0);
            return ds_ld_fail(ld, "goes with \"factor\" only");
        }

        a->above = (uint64_t) json_integer_value(above);

    } else {
        f = json_number_value(factor);

        if (!json_is_number(factor) || !isfinite(f) || f <= 1.0
            || f * 1000 > DS_ALERT_FACTOR_MAX)
        {
            ds_ld_push(ld, "factor", 0);
            return ds_ld_fail(ld, "must be a number above 1 and at most "
                              "%d", DS_ALERT_FACTOR_MAX / 1000);
        }

        a->factor_milli = (uint32_t) (f * 1000 + 0.5);
        a->min = 1;

        if (min) {
            if (!json_is_integer(min) || json_integer_value(min) < 1) {
                ds_ld_push(ld, "min", 0);
                return ds_ld_fail(ld, "must be an integer, 1 or more");
            }

            a->min = (uint64_t) json_integer_value(min);
        }
    }

    if (ds_ld_get(ld, o, "action", JSON_STRING, 0, &v) != 0) {
        return -1;
    }

    s = v ? json_string_value(v) : "alert";

    if (strcmp(s, "suspend") == 0) {
        a->suspend = 1;
        return ds_ld_alert_duration(ld, o, "suspend_for", 1000,
                                    DS_ALERT_SUSPEND_MAX, &a->suspend_ms,
                                    NULL);
    }

    if (strcmp(s, "alert") != 0) {
        ds_ld_push(ld, "action", 0);
        return ds_ld_fail(ld, "must be \"alert\" or \"suspend\"");
    }

    if (json_object_get(o, "suspend_for")) {
        ds_ld_push(ld, "suspend_for", 0);
        return ds_ld_fail(ld, "goes with \"action\": \"suspend\" only");
    }

    return 0;
}


int
ds_ld_alerts(ds_ld_t *ld, json_t *obj, ds_recipient_t *r)
{
    json_t  *arr, *v;
    size_t   i, old, old2;

    if (ds_ld_get(ld, obj, "alerts", JSON_ARRAY, 0, &arr) != 0) {
        return -1;
    }

    if (arr == NULL || json_array_size(arr) == 0) {
        return 0;
    }

    old = ds_ld_push(ld, "alerts", 0);

    if (json_array_size(arr) > DS_ALERT_RULES_MAX) {
        return ds_ld_fail(ld, "at most %d rules per recipient",
                          DS_ALERT_RULES_MAX);
    }

    r->nalerts = json_array_size(arr);
    r->alerts = ds_arena_alloc(&ld->p->arena,
                               r->nalerts * sizeof(ds_alert_rule_t));
    if (r->alerts == NULL) {
        return ds_ld_fail(ld, "out of memory");
    }

    memset(r->alerts, 0, r->nalerts * sizeof(ds_alert_rule_t));

    json_array_foreach(arr, i, v) {
        old2 = ds_ld_push(ld, NULL, (long) i);

        if (ds_ld_alert(ld, v, &r->alerts[i]) != 0) {
            return -1;
        }

        ld->jlen = old2;
    }

    ld->jlen = old;
    return 0;
}
