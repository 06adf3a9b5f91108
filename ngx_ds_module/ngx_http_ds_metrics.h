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

#include "ds_metrics.h"


extern ngx_module_t  ngx_http_ds_metrics_module;


/* the table of cycle's ds_metrics_zone, NULL without one */
ds_metrics_t *ngx_http_ds_metrics_table(ngx_cycle_t *cycle);

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


#endif /* _NGX_HTTP_DS_METRICS_H_INCLUDED_ */
