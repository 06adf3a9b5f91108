/*
 * Alerts (docs/metrics.md#alerts): per-recipient baselines and the
 * recipient's rules, evaluated as each request is counted, in the
 * metrics zone shared by all workers.
 *
 * Windows are fixed ("tumbling"): window k of a rule covers
 * [k * window, (k + 1) * window) in Unix time. A rule is breached when
 * the count in its window goes over the threshold; of all the workers
 * that see it over, the one that moves the rule's "alerted" word to this
 * window reports it, so a breach makes exactly one alert per window.
 *
 * The baseline of a metric is an exponentially weighted moving average
 * of its count per minute (weight 1/8 for the newest minute: about the
 * last 8 minutes), folded in by the worker that starts the next minute;
 * idle minutes count as zeros. The minute being counted is not in it, so
 * a spike does not raise its own threshold. Factor rules wait for
 * DS_ALERT_WARMUP_MINUTES of baseline.
 */

#include <string.h>

#include "ds_metrics.h"


#define DS_PK_BITS      40
#define DS_PK_COUNT     ((1ULL << DS_PK_BITS) - 1)
#define DS_PK_INDEX     0xffffffULL
#define DS_MINUTE_MS    60000


/*
 * Adds n to the packed counter *p in window idx. Returns the count in
 * that window; *rolled: the word held another window (old: its word).
 */
static uint64_t
ds_alert_add(uint64_t *p, uint64_t idx, uint64_t n, int *rolled,
    uint64_t *old)
{
    uint64_t  v, nv, cnt;

    idx &= DS_PK_INDEX;
    v = __atomic_load_n(p, __ATOMIC_RELAXED);

    for ( ;; ) {
        if ((v >> DS_PK_BITS) == idx) {
            *rolled = 0;

            if (n == 0) {
                return v & DS_PK_COUNT;
            }

            cnt = (v & DS_PK_COUNT) + n;

        } else {
            *rolled = 1;
            cnt = n;
        }

        if (cnt > DS_PK_COUNT) {
            cnt = DS_PK_COUNT;
        }

        nv = (idx << DS_PK_BITS) | cnt;

        if (__atomic_compare_exchange_n(p, &v, nv, 1, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED))
        {
            *old = v;
            return cnt;
        }
    }
}


/* the minute that ended (word old) into the baseline; now: this one */
static void
ds_alert_fold(ds_metrics_alerts_t *a, unsigned k, uint64_t old,
    uint64_t minute)
{
    uint64_t  gap, n, i;
    int64_t   e;

    if (old == 0) {
        return;                         /* the first minute seen */
    }

    gap = (minute - (old >> DS_PK_BITS)) & DS_PK_INDEX;
    n = (old & DS_PK_COUNT) * 1000;

    if (__atomic_load_n(&a->minutes[k], __ATOMIC_RELAXED) == 0) {
        e = (int64_t) n;

    } else {
        e = (int64_t) __atomic_load_n(&a->ewma_milli[k], __ATOMIC_RELAXED);
        e += ((int64_t) n - e) / 8;
    }

    /* the minutes between without a request: zeros */
    for (i = 1; i < gap && e > 0 && i < 256; i++) {
        e -= e / 8 + (e < 8 ? e : 0);
    }

    if (i >= 256) {
        e = 0;
    }

    __atomic_store_n(&a->ewma_milli[k], (uint64_t) (e > 0 ? e : 0),
                     __ATOMIC_RELAXED);
    (void) __atomic_fetch_add(&a->minutes[k], gap ? gap : 1,
                              __ATOMIC_RELAXED);
}


static void
ds_alert_max(int64_t *p, int64_t v)
{
    int64_t  cur;

    cur = __atomic_load_n(p, __ATOMIC_RELAXED);

    while (cur < v
           && !__atomic_compare_exchange_n(p, &cur, v, 1, __ATOMIC_RELAXED,
                                           __ATOMIC_RELAXED))
    {
        /* cur reloaded */
    }
}


/* moves *p from anything but v to v; 1 if this call did */
static int
ds_alert_claim(int64_t *p, int64_t v)
{
    int64_t  cur;

    cur = __atomic_load_n(p, __ATOMIC_RELAXED);

    while (cur != v) {
        if (__atomic_compare_exchange_n(p, &cur, v, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED))
        {
            return 1;
        }
    }

    return 0;
}


/* the rule's threshold now; 0 with *skip: a factor rule still warming */
static uint64_t
ds_alert_threshold(const ds_metrics_alerts_t *a, const ds_alert_rule_t *r,
    uint64_t *baseline, int *skip)
{
    double    b, t;
    unsigned  k;

    *baseline = 0;
    *skip = 0;

    if (r->factor_milli == 0) {
        return r->above;
    }

    k = (unsigned) r->metric;

    if (__atomic_load_n(&a->minutes[k], __ATOMIC_RELAXED)
        < DS_ALERT_WARMUP_MINUTES)
    {
        *skip = 1;
        return 0;
    }

    b = (double) __atomic_load_n(&a->ewma_milli[k], __ATOMIC_RELAXED)
        / 1000.0 * (double) r->window_ms / DS_MINUTE_MS;
    t = b * r->factor_milli / 1000.0;

    *baseline = (uint64_t) (b + 0.5);

    if (t > 1e18) {
        t = 1e18;
    }

    return (uint64_t) t > r->min ? (uint64_t) t : r->min;
}


size_t
ds_metrics_alert_observe(ds_metrics_slot_t *s, const ds_alert_rule_t *rules,
    size_t nrules, const ds_alert_obs_t *o, ds_alert_breach_t *out,
    size_t nout)
{
    int                    rolled, skip;
    size_t                 i, nb;
    int64_t                now, w, end;
    uint64_t               minute, old, cnt, t, base;
    unsigned               k;
    ds_alert_breach_t     *b;
    ds_metrics_alerts_t   *a;
    const ds_alert_rule_t *r;

    a = &s->a;
    now = o->now_ms > 0 ? o->now_ms : 0;
    minute = (uint64_t) now / DS_MINUTE_MS;
    nb = 0;

    if (o->n[DS_ALERT_FAIL_OPEN]) {
        cnt = ds_alert_add(&a->minute[DS_ALERT_FAIL_OPEN], minute, 1,
                           &rolled, &old);

        if (nb < nout
            && ds_alert_claim(&a->fail_open_alerted, (int64_t) minute + 1))
        {
            end = (int64_t) (minute + 1) * DS_MINUTE_MS;
            ds_alert_max(&a->active_until[DS_ALERT_FAIL_OPEN], end);
            (void) __atomic_fetch_add(&a->alerts[DS_ALERT_FAIL_OPEN], 1,
                                      __ATOMIC_RELAXED);

            b = &out[nb++];
            memset(b, 0, sizeof(*b));
            b->metric = DS_ALERT_FAIL_OPEN;
            b->window_ms = DS_MINUTE_MS;
            b->observed = cnt;
        }
    }

    if (nrules == 0) {
        return nb;
    }

    /* baselines: every metric, also when this request adds nothing */
    for (k = 0; k < DS_ALERT_FAIL_OPEN; k++) {
        (void) ds_alert_add(&a->minute[k], minute, o->n[k], &rolled, &old);

        if (rolled) {
            ds_alert_fold(a, k, old, minute);
        }
    }

    for (i = 0; i < nrules && i < DS_ALERT_RULES_MAX; i++) {
        r = &rules[i];
        k = (unsigned) r->metric;

        if (k >= DS_ALERT_FAIL_OPEN || o->n[k] == 0 || r->window_ms <= 0) {
            continue;
        }

        w = now / r->window_ms;
        cnt = ds_alert_add(&a->win[i], (uint64_t) w, o->n[k], &rolled,
                           &old);
        t = ds_alert_threshold(a, r, &base, &skip);

        if (skip || cnt <= t || nb == nout
            || !ds_alert_claim(&a->alerted[i], w + 1))
        {
            continue;
        }

        end = (w + 1) * r->window_ms;

        b = &out[nb++];
        memset(b, 0, sizeof(*b));
        b->metric = r->metric;
        b->rule = r;
        b->window_ms = r->window_ms;
        b->observed = cnt;
        b->threshold = t;
        b->baseline = base;

        if (r->suspend) {
            b->until_ms = now + r->suspend_ms;
            ds_alert_max(&a->suspended_until, b->until_ms);
            end = end > b->until_ms ? end : b->until_ms;
        }

        ds_alert_max(&a->active_until[k], end);
        (void) __atomic_fetch_add(&a->alerts[k], 1, __ATOMIC_RELAXED);
    }

    return nb;
}


int64_t
ds_metrics_alert_suspended(const ds_metrics_slot_t *s, int64_t now_ms)
{
    int64_t  until;

    until = __atomic_load_n(&s->a.suspended_until, __ATOMIC_RELAXED);

    return until > now_ms ? until : 0;
}


uint64_t
ds_metrics_alert_baseline(const ds_metrics_slot_t *s,
    ds_alert_metric_t metric)
{
    if ((unsigned) metric >= DS_ALERT_FAIL_OPEN) {
        return 0;
    }

    return __atomic_load_n(&s->a.ewma_milli[metric], __ATOMIC_RELAXED);
}
