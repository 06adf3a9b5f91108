/*
 * The Prometheus text exposition (format 0.0.4) of the metrics table
 * and of the configuration's facts; metric names and labels are listed
 * in docs/metrics.md.
 */

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_metrics.h"
#include "ds_metrics_int.h"
#include "ds_time.h"


/* the writers below chain their results with | */
static int
ds_mb_add(ds_metrics_buf_t *b, const char *s, size_t n)
{
    ds_buf_add(b, s, n);

    return b->failed ? -1 : 0;
}


static int
ds_mb_str(ds_metrics_buf_t *b, const char *s)
{
    return ds_mb_add(b, s, strlen(s));
}


static int
ds_mb_u64(ds_metrics_buf_t *b, uint64_t v)
{
    char  num[24];
    int   n;

    n = snprintf(num, sizeof(num), "%" PRIu64, v);

    return ds_mb_add(b, num, (size_t) n);
}


/* milliseconds as seconds, shortest form: 2500 -> "2.5", 1 -> "0.001" */
static int
ds_mb_seconds(ds_metrics_buf_t *b, uint64_t ms)
{
    char      frac[4];
    unsigned  f, n;

    if (ds_mb_u64(b, ms / 1000) != 0) {
        return -1;
    }

    f = (unsigned) (ms % 1000);
    if (f == 0) {
        return 0;
    }

    frac[0] = (char) ('0' + f / 100);
    frac[1] = (char) ('0' + f / 10 % 10);
    frac[2] = (char) ('0' + f % 10);

    for (n = 3; frac[n - 1] == '0'; n--) { /* void */ }

    return ds_mb_add(b, ".", 1) | ds_mb_add(b, frac, n);
}


int
ds_metrics_escape(ds_metrics_buf_t *out, const char *s, size_t len)
{
    size_t  i, start;

    for (i = 0, start = 0; i < len; i++) {
        if (s[i] != '\\' && s[i] != '"' && s[i] != '\n') {
            continue;
        }

        if (ds_mb_add(out, s + start, i - start) != 0
            || ds_mb_add(out, s[i] == '\n' ? "\\n"
                              : s[i] == '"' ? "\\\"" : "\\\\", 2) != 0)
        {
            return -1;
        }

        start = i + 1;
    }

    return ds_mb_add(out, s + start, len - start);
}


static int
ds_mb_family(ds_metrics_buf_t *b, const char *name, const char *type,
    const char *help)
{
    return ds_mb_str(b, "# HELP ") | ds_mb_str(b, name) | ds_mb_add(b, " ", 1)
           | ds_mb_str(b, help) | ds_mb_str(b, "\n# TYPE ")
           | ds_mb_str(b, name) | ds_mb_add(b, " ", 1) | ds_mb_str(b, type)
           | ds_mb_add(b, "\n", 1);
}


/*
 * One sample line: name{recipient="..",k="v",..} value. The recipient
 * label is left out when the table counts without it (rslot NULL).
 * labels: NULL-terminated pairs of name and (already safe) value.
 */
static int
ds_mb_sample_as(ds_metrics_buf_t *b, const char *name,
    const ds_metrics_slot_t *rslot, const char *const *labels,
    uint64_t value, int milli)
{
    int   rc, first;

    rc = ds_mb_str(b, name);
    first = 1;

    if (rslot || (labels && labels[0])) {
        rc |= ds_mb_add(b, "{", 1);

        if (rslot) {
            rc |= ds_mb_str(b, "recipient=\"");
            rc |= ds_metrics_escape(b, rslot->name, rslot->name_len);
            rc |= ds_mb_add(b, "\"", 1);
            first = 0;
        }

        for (/* void */; labels && labels[0]; labels += 2) {
            rc |= first ? 0 : ds_mb_add(b, ",", 1);
            rc |= ds_mb_str(b, labels[0]) | ds_mb_str(b, "=\"");
            rc |= ds_metrics_escape(b, labels[1], strlen(labels[1]));
            rc |= ds_mb_add(b, "\"", 1);
            first = 0;
        }

        rc |= ds_mb_add(b, "}", 1);
    }

    rc |= ds_mb_add(b, " ", 1)
          | (milli ? ds_mb_seconds(b, value) : ds_mb_u64(b, value))
          | ds_mb_add(b, "\n", 1);

    return rc;
}


static int
ds_mb_sample(ds_metrics_buf_t *b, const char *name,
    const ds_metrics_slot_t *rslot, const char *const *labels,
    uint64_t value)
{
    return ds_mb_sample_as(b, name, rslot, labels, value, 0);
}


#define ds_load(p)  __atomic_load_n((p), __ATOMIC_RELAXED)


typedef struct {
    const ds_metrics_t  *m;
    ds_metrics_slot_t   *slots;
    uint32_t             n;             /* slots to print */
} ds_mw_t;


static const ds_metrics_slot_t *
ds_mw_label(const ds_mw_t *w, uint32_t i)
{
    return w->m->per_recipient ? &w->slots[i] : NULL;
}


static int
ds_mw_requests(ds_mw_t *w, ds_metrics_buf_t *b)
{
    static const char *const  decisions[DS_METRICS_DECISIONS] = {
        "allow", "deny", "error"
    };

    const char  *labels[9];
    uint32_t     i;
    unsigned     op, d, r;
    uint64_t     v;
    int          rc;

    rc = ds_mb_family(b, "ds_requests_total", "counter",
                      "Requests to enforced locations by recipient, "
                      "operation, decision and reason.");

    labels[0] = "operation";
    labels[2] = "decision";
    labels[4] = "reason";
    labels[6] = NULL;

    for (i = 0; i < w->n; i++) {
        for (op = 0; op < DS_METRICS_OPS; op++) {
            for (d = 0; d < DS_METRICS_DECISIONS; d++) {
                for (r = 0; r < DS_METRICS_REASONS; r++) {
                    v = ds_load(&w->slots[i].c.requests[op][d][r]);
                    if (v == 0) {
                        continue;
                    }

                    labels[1] = ds_op_name((ds_op_t) op);
                    labels[3] = decisions[d];
                    labels[5] = r == DS_METRICS_REASON_NONE
                                ? "" : ds_reason_name((ds_reason_t) r);

                    rc |= ds_mb_sample(b, "ds_requests_total",
                                       ds_mw_label(w, i), labels, v);
                }
            }
        }
    }

    return rc;
}


/* a counter of each slot, by its offset in the counters */
static int
ds_mw_per_slot(ds_mw_t *w, ds_metrics_buf_t *b, const char *name,
    const char *help, size_t off)
{
    uint32_t   i;
    uint64_t   v;
    int        rc;

    rc = ds_mb_family(b, name, "counter", help);

    for (i = 0; i < w->n; i++) {
        v = ds_load((uint64_t *) ((char *) &w->slots[i].c + off));

        /* a recipient's line once it has a slot; "(other)" once used */
        if (v || i >= DS_METRICS_FIXED_SLOTS
            || (i == DS_METRICS_SLOT_NONE && !w->m->per_recipient))
        {
            rc |= ds_mb_sample(b, name, ds_mw_label(w, i), NULL, v);
        }
    }

    return rc;
}


static int
ds_mw_rl(ds_mw_t *w, ds_metrics_buf_t *b)
{
    static const char *const  outcomes[DS_METRICS_RL_COUNT] = {
        "allowed", "limited", "revoked", "error", "fail_open"
    };

    const char  *labels[3];
    uint32_t     i;
    unsigned     o;
    uint64_t     v;
    int          rc;

    rc = ds_mb_family(b, "ds_ratelimit_total", "counter",
                      "Rate-limiter outcomes by recipient: allowed, "
                      "limited, revoked, error (Redis unavailable, "
                      "refused), fail_open (Redis unavailable, let by).");

    labels[0] = "outcome";
    labels[2] = NULL;

    for (i = 0; i < w->n; i++) {
        for (o = 0; o < DS_METRICS_RL_COUNT; o++) {
            v = ds_load(&w->slots[i].c.rl[o]);
            if (v) {
                labels[1] = outcomes[o];
                rc |= ds_mb_sample(b, "ds_ratelimit_total",
                                   ds_mw_label(w, i), labels, v);
            }
        }
    }

    return rc;
}


static int
ds_mw_hist(const ds_metrics_t *m, ds_metrics_buf_t *b, const char *name,
    const char *help, const ds_metrics_hist_t *h)
{
    unsigned   i;
    uint64_t   cum;
    int        rc;

    (void) m;

    rc = ds_mb_family(b, name, "histogram", help);

    for (cum = 0, i = 0; i <= DS_METRICS_BUCKETS; i++) {
        cum += ds_load(&h->bucket[i]);

        rc |= ds_mb_str(b, name) | ds_mb_str(b, "_bucket{le=\"");
        if (i < DS_METRICS_BUCKETS) {
            rc |= ds_mb_seconds(b, ds_metrics_bucket_ms[i]);
        } else {
            rc |= ds_mb_str(b, "+Inf");
        }
        rc |= ds_mb_str(b, "\"} ") | ds_mb_u64(b, cum) | ds_mb_add(b, "\n", 1);
    }

    rc |= ds_mb_str(b, name) | ds_mb_str(b, "_sum ")
          | ds_mb_seconds(b, ds_load(&h->sum_ms)) | ds_mb_add(b, "\n", 1);
    rc |= ds_mb_str(b, name) | ds_mb_str(b, "_count ")
          | ds_mb_u64(b, ds_load(&h->count)) | ds_mb_add(b, "\n", 1);

    return rc;
}


static int
ds_mw_single(ds_metrics_buf_t *b, const char *name, const char *type,
    const char *help, uint64_t v)
{
    return ds_mb_family(b, name, type, help)
           | ds_mb_sample(b, name, NULL, NULL, v);
}


static int
ds_mw_expiring(ds_metrics_buf_t *b, const ds_metrics_info_t *info)
{
    static const char *const  kinds[3] = {
        "token", "contract", "attestation"
    };

    const char                   *labels[5];
    const ds_metrics_expiring_t  *e;
    uint64_t                      v[3];
    unsigned                      w, k;
    int                           rc;

    rc = ds_mb_family(b, "ds_policy_expiring", "gauge",
                      "Tokens, contracts and attestations of the policy "
                      "that end within 7 or 30 days, counted when the "
                      "configuration was loaded.");

    labels[0] = "kind";
    labels[2] = "within";
    labels[4] = NULL;

    for (w = 0; w < 2; w++) {
        e = w ? &info->expiring_30d : &info->expiring_7d;
        labels[3] = w ? "30d" : "7d";
        v[0] = e->tokens;
        v[1] = e->contracts;
        v[2] = e->attestations;

        for (k = 0; k < 3; k++) {
            labels[1] = kinds[k];
            rc |= ds_mb_sample(b, "ds_policy_expiring", NULL, labels, v[k]);
        }
    }

    return rc;
}


static int
ds_mw_info(const ds_metrics_t *m, ds_metrics_buf_t *b,
    const ds_metrics_info_t *info)
{
    const char  *labels[3];
    int          rc;

    rc = ds_mb_family(b, "ds_policy_info", "gauge",
                      "The policy in force: its version (SHA-256 of its "
                      "sources) as a label, value 1.");
    labels[0] = "version";
    labels[1] = info->policy_version ? info->policy_version : "";
    labels[2] = NULL;
    rc |= ds_mb_sample(b, "ds_policy_info", NULL, labels, 1);

    rc |= ds_mw_single(b, "ds_policy_recipients", "gauge",
                       "Recipients in the policy in force.",
                       info->policy_recipients);
    rc |= ds_mw_single(b, "ds_policy_tokens", "gauge",
                       "Tokens in the policy in force.",
                       info->policy_tokens);

    rc |= ds_mb_family(b, "ds_config_loaded_timestamp_seconds", "gauge",
                       "When the configuration in force (and its policy) "
                       "was loaded, Unix time.");
    rc |= ds_mb_str(b, "ds_config_loaded_timestamp_seconds ")
          | ds_mb_seconds(b, info->loaded_ms > 0 ? (uint64_t) info->loaded_ms
                                                 : 0)
          | ds_mb_add(b, "\n", 1);

    rc |= ds_mw_single(b, "ds_config_reloads_total", "counter",
                       "Reloads of the configuration the counters lived "
                       "through (they start at 0 when the zone is made).",
                       ds_load(&m->reloads));

    rc |= ds_mw_expiring(b, info);

    return rc;
}


static int
ds_mw_alerts(ds_mw_t *w, ds_metrics_buf_t *b, int64_t now)
{
    const char                 *labels[3];
    uint32_t                    i;
    unsigned                    k;
    int64_t                     until;
    uint64_t                    v;
    int                         rc;
    const ds_metrics_alerts_t  *a;

    labels[0] = "metric";
    labels[2] = NULL;

    rc = ds_mb_family(b, "ds_alert_active", "gauge",
                      "1 while a recipient's alert of this metric is in "
                      "force (its window, or its suspension, has not "
                      "ended); 0 after. Only recipients that had one.");

    for (i = 0; i < w->n; i++) {
        a = &w->slots[i].a;

        for (k = 0; k < DS_ALERT_METRICS; k++) {
            until = ds_load(&a->active_until[k]);
            if (until == 0) {
                continue;
            }

            labels[1] = ds_alert_metric_name((ds_alert_metric_t) k);
            rc |= ds_mb_sample(b, "ds_alert_active", ds_mw_label(w, i),
                               labels, until > now ? 1 : 0);
        }
    }

    rc |= ds_mb_family(b, "ds_alerts_total", "counter",
                       "Alerts raised: alert rules breached (once per "
                       "window) and fail-open minutes, by recipient and "
                       "metric.");

    for (i = 0; i < w->n; i++) {
        a = &w->slots[i].a;

        for (k = 0; k < DS_ALERT_METRICS; k++) {
            v = ds_load(&a->alerts[k]);
            if (v == 0) {
                continue;
            }

            labels[1] = ds_alert_metric_name((ds_alert_metric_t) k);
            rc |= ds_mb_sample(b, "ds_alerts_total", ds_mw_label(w, i),
                               labels, v);
        }
    }

    rc |= ds_mb_family(b, "ds_alert_baseline_per_minute", "gauge",
                       "A recipient's baseline: the moving average of "
                       "its count per minute (recipients with alert "
                       "rules; as of its last request).");

    for (i = 0; i < w->n; i++) {
        a = &w->slots[i].a;

        for (k = 0; k < DS_ALERT_FAIL_OPEN; k++) {
            if (ds_load(&a->minutes[k]) == 0) {
                continue;
            }

            labels[1] = ds_alert_metric_name((ds_alert_metric_t) k);
            rc |= ds_mb_sample_as(b, "ds_alert_baseline_per_minute",
                                  ds_mw_label(w, i), labels,
                                  ds_load(&a->ewma_milli[k]), 1);
        }
    }

    return rc;
}


static int
ds_mw_redis(const ds_metrics_t *m, ds_metrics_buf_t *b)
{
    const char  *labels[3];
    int64_t      in_flight, n;
    uint64_t     up, down;
    unsigned     i;
    int          rc;

    up = 0;
    down = 0;
    in_flight = 0;

    for (i = 0; i < DS_METRICS_WORKERS; i++) {
        if (__atomic_load_n(&m->worker[i].pid, __ATOMIC_ACQUIRE) == 0) {
            continue;
        }

        if (ds_load(&m->worker[i].up)) {
            up++;

        } else {
            down++;
        }

        n = ds_load(&m->worker[i].in_flight);
        in_flight += n > 0 ? n : 0;
    }

    rc = ds_mb_family(b, "ds_redis_connections", "gauge",
                      "Workers whose connection to Redis is up, and "
                      "those whose is not (connecting, or down).");
    labels[0] = "state";
    labels[1] = "up";
    labels[2] = NULL;
    rc |= ds_mb_sample(b, "ds_redis_connections", NULL, labels, up);
    labels[1] = "down";
    rc |= ds_mb_sample(b, "ds_redis_connections", NULL, labels, down);

    rc |= ds_mw_single(b, "ds_redis_commands_in_flight", "gauge",
                       "Rate-limit commands sent to Redis whose reply has "
                       "not been read yet, all workers.",
                       (uint64_t) in_flight);
    rc |= ds_mw_single(b, "ds_redis_command_timeouts_total", "counter",
                       "Rate-limit commands that got no reply within "
                       "ds_redis_timeout.",
                       ds_load(&m->redis_timeouts));
    rc |= ds_mw_single(b, "ds_redis_reconnects_total", "counter",
                       "Connections to Redis made again by a worker after "
                       "its first one was lost or refused.",
                       ds_load(&m->redis_reconnects));

    return rc;
}


int
ds_metrics_write(const ds_metrics_t *m, const ds_metrics_info_t *info,
    ds_metrics_buf_t *out)
{
    ds_mw_t  w;
    int      rc;

    w.m = m;
    w.slots = ds_metrics_slots(m);
    w.n = DS_METRICS_FIXED_SLOTS + __atomic_load_n(&m->used,
                                                   __ATOMIC_ACQUIRE);

    rc = ds_mw_requests(&w, out);

    rc |= ds_mw_per_slot(&w, out, "ds_response_bytes_total",
                         "Bytes sent to clients (headers and body) by "
                         "recipient.",
                         offsetof(ds_metrics_counters_t, response_bytes));
    rc |= ds_mw_per_slot(&w, out, "ds_disclosed_answers_total",
                         "Query answers read by the disclosure reader, by "
                         "recipient.",
                         offsetof(ds_metrics_counters_t, disclosed_answers));
    rc |= ds_mw_per_slot(&w, out, "ds_disclosed_files_total",
                         "Data files handed out in query answers, by "
                         "recipient.",
                         offsetof(ds_metrics_counters_t, disclosed_files));
    rc |= ds_mw_per_slot(&w, out, "ds_disclosed_bytes_total",
                         "Sum of the sizes of the data files handed out, by "
                         "recipient.",
                         offsetof(ds_metrics_counters_t, disclosed_bytes));
    rc |= ds_mw_per_slot(&w, out, "ds_disclosed_records_total",
                         "Sum of the record counts of the data files "
                         "handed out (where the answer has them), by "
                         "recipient.",
                         offsetof(ds_metrics_counters_t, disclosed_records));

    rc |= ds_mw_rl(&w, out);

    rc |= ds_mw_hist(m, out, "ds_gateway_latency_seconds",
                     "Time the gateway added to a request: its duration "
                     "less the upstream's response time.",
                     &m->lat[DS_METRICS_LAT_GATEWAY]);
    rc |= ds_mw_hist(m, out, "ds_upstream_latency_seconds",
                     "Upstream response time of requests that reached the "
                     "upstream.",
                     &m->lat[DS_METRICS_LAT_UPSTREAM]);

    rc |= ds_mw_single(out, "ds_audit_records_total", "counter",
                       "Audit records handed to a sink.",
                       ds_load(&m->audit_records));
    rc |= ds_mw_single(out, "ds_audit_records_lost_total", "counter",
                       "Audit records lost to write errors.",
                       ds_load(&m->audit_lost));

    rc |= ds_mw_alerts(&w, out, (info && info->now_ms > 0)
                                ? info->now_ms : ds_time_now_ms());

    rc |= ds_mw_redis(m, out);

    rc |= ds_mw_single(out, "ds_config_load_errors_total", "counter",
                       "Policy loads refused at a reload (the "
                       "configuration in force stayed).",
                       ds_load(&m->load_errors));

    rc |= ds_mw_single(out, "ds_jwks_fetches_total", "counter",
                       "Fetches of an issuer's jwks_uri that put new keys "
                       "in place.", ds_load(&m->jwks_fetches));

    rc |= ds_mw_single(out, "ds_jwks_fetch_failures_total", "counter",
                       "Fetches of an issuer's jwks_uri that failed or "
                       "returned an invalid JWKS (the last good keys "
                       "stayed).", ds_load(&m->jwks_failures));

    rc |= ds_mw_single(out, "ds_metrics_recipients", "gauge",
                       "Recipients with their own label values; the rest "
                       "count as \"(other)\".", w.n
                       - DS_METRICS_FIXED_SLOTS);
    rc |= ds_mw_single(out, "ds_metrics_recipients_max", "gauge",
                       "The cap on recipients with their own label values "
                       "(ds_metrics_zone max_recipients=).", m->max);

    if (info) {
        rc |= ds_mw_info(m, out, info);
    }

    return (rc || out->failed) ? -1 : 0;
}
