/*
 * What other ngx_ds modules tell the metrics zone (docs/metrics.md):
 * hooks that do nothing without a ds_metrics_zone. The Redis connection
 * (ngx_http_ds_redis_conn.c, _check.c) reports its state, commands and
 * timeouts; the policy loader reports a policy it refused at a reload.
 */

#ifndef _NGX_HTTP_DS_METRICS_H_INCLUDED_
#define _NGX_HTTP_DS_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds.h"
#include "ds_metrics.h"


extern ngx_module_t  ngx_http_ds_metrics_module;


/* the table of cycle's ds_metrics_zone, NULL without one */
ds_metrics_t *ngx_http_ds_metrics_table(ngx_cycle_t *cycle);

/* the same for ngx_cycle, looked up once per cycle (the request path) */
ds_metrics_t *ngx_http_ds_metrics_current(void);

/* this worker's connection: 1 up, 0 down or connecting, -1 exiting */
void ngx_http_ds_metrics_redis_state(ngx_int_t state);

/* a command queued (1), its reply callback run (-1) */
void ngx_http_ds_metrics_redis_in_flight(ngx_int_t delta);

/* a command that timed out */
void ngx_http_ds_metrics_redis_timeout(void);

/*
 * A policy refused while loading a configuration: counted in the zone of
 * the configuration in force (the master's, at a reload), if any.
 */
void ngx_http_ds_metrics_load_error(void);

void ngx_http_ds_metrics_jwks_fetch(ngx_uint_t ok);


/*
 * Alerts (ngx_http_ds_metrics_alert.c): the request counted in slot goes
 * into its recipient's windows; breaches are reported (audit record,
 * error log). fail_open: the limiter let it by without Redis.
 */
void ngx_http_ds_metrics_alert(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ds_metrics_slot_t *slot, ngx_uint_t denied, ngx_uint_t fail_open,
    ds_reason_t reason);

/* the recipient is suspended by an alert rule, until *until (epoch ms) */
ngx_uint_t ngx_http_ds_metrics_suspended(ngx_http_request_t *r,
    const char *id, int64_t *until);


#endif /* _NGX_HTTP_DS_METRICS_H_INCLUDED_ */
