/*
 * Alerts in the shell (docs/metrics.md#alerts): at the log phase each
 * request of a recipient with its own metrics slot is added to its
 * windows and baselines (core: ds_metrics_alert.c); a breach this worker
 * is the one to see writes one audit record of type "alert" to the
 * request's sink and a line to the error log. The access phase asks
 * whether a recipient is suspended.
 *
 * A recipient past max_recipients (counted under "(other)"), or every
 * recipient with per_recipient=off, has no slot of its own: its rules
 * are not evaluated (docs/metrics.md says so), and it is never
 * suspended. The fail-open alert needs no rule.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds.h"
#include "ngx_http_ds_audit.h"
#include "ngx_http_ds_metrics.h"
#include "ds_time.h"


static void
ngx_http_ds_metrics_alert_report(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, const char *id, const ds_alert_breach_t *b)
{
    ds_audit_alert_t   a;
    const char        *metric;

    metric = ds_alert_metric_name(b->metric);

    ngx_memzero(&a, sizeof(ds_audit_alert_t));
    a.recipient = ds_audit_cstr(id);
    a.policy_version = ds_audit_cstr(ctx->policy
                                     ? ds_policy_digest(ctx->policy)
                                     : NULL);
    a.metric = metric;
    a.action = b->until_ms ? "suspend" : "alert";
    a.window = ds_audit_cstr(b->rule ? b->rule->window : "1m");
    a.window_ms = b->window_ms;
    a.observed = (int64_t) b->observed;
    a.threshold = (int64_t) b->threshold;
    a.baseline = (b->rule && b->rule->factor_milli)
                 ? (int64_t) b->baseline : -1;
    a.until_ms = b->until_ms;

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "ds_alert: recipient \"%s\": %s %uL over %uL in %s%s",
                  id, metric, b->observed, b->threshold,
                  b->rule ? b->rule->window : "1m",
                  b->until_ms ? ", suspended" : "");

    ngx_http_ds_audit_alert(r, &a);
}


void
ngx_http_ds_metrics_alert(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ds_metrics_slot_t *slot, ngx_uint_t denied, ngx_uint_t fail_open,
    ds_reason_t reason)
{
    size_t                  i, n, nrules, len;
    const char             *id;
    ds_alert_obs_t          o;
    ds_alert_breach_t       b[DS_ALERT_RULES_MAX + 1];
    const ds_alert_rule_t  *rules;

    id = ctx->verdict.recipient_id;

    if (id == NULL || ctx->verdict.recipient == NULL) {
        return;
    }

    len = ngx_strlen(id);
    nrules = ds_policy_alerts(ctx->verdict.recipient, &rules);

    /* a shared slot ("(other)", per_recipient=off): no rules */
    if (slot->name_len != len || ngx_memcmp(slot->name, id, len) != 0) {
        nrules = 0;
    }

    /* requests refused for a suspension do not extend it */
    if (reason == DS_REASON_ANOMALY_SUSPENDED) {
        nrules = 0;
    }

    if (nrules == 0 && !fail_open) {
        return;
    }

    ngx_memzero(&o, sizeof(ds_alert_obs_t));
    o.now_ms = ds_time_now_ms();
    o.n[DS_ALERT_REQUESTS] = 1;
    o.n[DS_ALERT_DENIALS] = denied ? 1 : 0;
    o.n[DS_ALERT_DISCLOSED_BYTES] = (ctx->disclosure
                                     && ctx->disclosure->bytes > 0)
                                    ? (uint64_t) ctx->disclosure->bytes : 0;
    o.n[DS_ALERT_FAIL_OPEN] = fail_open ? 1 : 0;

    n = ds_metrics_alert_observe(slot, rules, nrules, &o, b,
                                 sizeof(b) / sizeof(b[0]));

    for (i = 0; i < n; i++) {
        ngx_http_ds_metrics_alert_report(r, ctx, id, &b[i]);
    }
}


ngx_uint_t
ngx_http_ds_metrics_suspended(ngx_http_request_t *r, const char *id,
    int64_t *until)
{
    ds_metrics_t       *m;
    ds_metrics_slot_t  *slot;

    if (id == NULL) {
        return 0;
    }

    m = ngx_http_ds_metrics_current();
    if (m == NULL) {
        return 0;
    }

    slot = ds_metrics_find(m, id, ngx_strlen(id));
    if (slot == NULL) {
        return 0;
    }

    *until = ds_metrics_alert_suspended(slot, ds_time_now_ms());

    return *until != 0;
}
