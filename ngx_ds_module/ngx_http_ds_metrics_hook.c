/*
 * Hooks into the metrics zone for the other modules
 * (ngx_http_ds_metrics.h). Each looks the zone up in the cycle in force
 * (ngx_cycle), and does nothing without one.
 *
 * Redis: each worker owns the entry of its worker number in the zone
 * (core: ds_metrics_redis_state), so the exposition can say how many
 * workers are connected. A worker that is shutting down after a reload
 * reports nothing but its exit: the new worker of its number owns the
 * entry by then.
 *
 * Load errors: a reload whose policy does not load fails inside the
 * master's ngx_init_cycle(), while ngx_cycle is still the configuration
 * in force, whose zone stays; the count goes there. A first start has
 * no zone yet, and `nginx -t` none at all: nothing is counted.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds_metrics.h"


/* per process: the cycle looked up last and its table */
static ngx_cycle_t   *ngx_http_ds_metrics_hook_cycle;
static ds_metrics_t  *ngx_http_ds_metrics_hook_table;
static ngx_uint_t     ngx_http_ds_metrics_hook_was_up;


ds_metrics_t *
ngx_http_ds_metrics_current(void)
{
    ngx_cycle_t  *cycle;

    cycle = (ngx_cycle_t *) ngx_cycle;

    if (cycle != ngx_http_ds_metrics_hook_cycle) {
        ngx_http_ds_metrics_hook_cycle = cycle;
        ngx_http_ds_metrics_hook_table = ngx_http_ds_metrics_table(cycle);
    }

    return ngx_http_ds_metrics_hook_table;
}


void
ngx_http_ds_metrics_redis_state(ngx_int_t state)
{
    ds_metrics_t  *m;

    m = ngx_http_ds_metrics_current();

    if (m == NULL || ngx_process == NGX_PROCESS_MASTER) {
        return;
    }

    if (state >= 0 && (ngx_exiting || ngx_quit || ngx_terminate)) {
        return;
    }

    if (state > 0) {
        if (ngx_http_ds_metrics_hook_was_up) {
            ds_metrics_redis_event(m, DS_METRICS_REDIS_RECONNECT);
        }

        ngx_http_ds_metrics_hook_was_up = 1;
    }

    ds_metrics_redis_state(m, (unsigned) ngx_worker, (int64_t) ngx_pid,
                           (int) state);
}


void
ngx_http_ds_metrics_redis_in_flight(ngx_int_t delta)
{
    ds_metrics_t  *m;

    m = ngx_http_ds_metrics_current();

    if (m) {
        ds_metrics_redis_in_flight(m, (unsigned) ngx_worker,
                                   (int64_t) ngx_pid, (int) delta);
    }
}


void
ngx_http_ds_metrics_redis_timeout(void)
{
    ds_metrics_t  *m;

    m = ngx_http_ds_metrics_current();

    if (m) {
        ds_metrics_redis_event(m, DS_METRICS_REDIS_TIMEOUT);
    }
}


void
ngx_http_ds_metrics_jwks_fetch(ngx_uint_t ok)
{
    ds_metrics_t  *m;

    m = ngx_http_ds_metrics_current();

    if (m) {
        ds_metrics_jwks_fetch(m, ok ? 1 : 0);
    }
}


void
ngx_http_ds_metrics_load_error(void)
{
    ds_metrics_t  *m;

    /* not cached: the master looks once per failed reload */
    m = ngx_http_ds_metrics_table((ngx_cycle_t *) ngx_cycle);

    if (m) {
        ds_metrics_load_error(m);
    }
}
