/*
 * The per-request context of the ngx_ds modules: finding it again after
 * an internal redirect, and the one place its state changes (the table
 * of legal transitions is in ngx_http_ds.h).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds.h"


#define NGX_HTTP_DS_TO(s)  (1u << NGX_HTTP_DS_##s)


static ngx_http_ds_ctx_t *ngx_http_ds_create_ctx(ngx_http_request_t *r);
static void ngx_http_ds_ctx_cleanup(void *data);


/* indexed by ngx_http_ds_rl_state_e */
const ngx_str_t  ngx_http_ds_rl_names[] = {
    ngx_string("none"),
    ngx_string("pending"),
    ngx_string("allowed"),
    ngx_string("limited"),
    ngx_string("revoked"),
    ngx_string("unavailable")
};


#if (NGX_DEBUG)

/* indexed by the state left: the states it may go to */
const uint32_t  ngx_http_ds_next[] = {
    /* NEW */           NGX_HTTP_DS_TO(DECIDED),
    /* DECIDED */       NGX_HTTP_DS_TO(PASSED) | NGX_HTTP_DS_TO(PARKED)
                        | NGX_HTTP_DS_TO(DENY_PARKED)
                        | NGX_HTTP_DS_TO(ANSWERED) | NGX_HTTP_DS_TO(FAILED),
    /* PARKED */        NGX_HTTP_DS_TO(RESUMED) | NGX_HTTP_DS_TO(ANSWERED)
                        | NGX_HTTP_DS_TO(FAILED),
    /* DENY_PARKED */   NGX_HTTP_DS_TO(DENY_RESUMED)
                        | NGX_HTTP_DS_TO(ANSWERED) | NGX_HTTP_DS_TO(FAILED),
    /* RESUMED */       NGX_HTTP_DS_TO(PASSED),
    /* DENY_RESUMED */  NGX_HTTP_DS_TO(ANSWERED),
    /* PASSED */        NGX_HTTP_DS_TO(ANSWERED) | NGX_HTTP_DS_TO(HELD),
    /* HELD */          NGX_HTTP_DS_TO(PASSED) | NGX_HTTP_DS_TO(ANSWERED),
    /* FAILED */        0,
    /* ANSWERED */      0
};


static const char  *ngx_http_ds_state_names[] = {
    "new", "decided", "parked", "deny_parked", "resumed", "deny_resumed",
    "passed", "held", "failed", "answered"
};

#endif


#if (NGX_DEBUG)

/*
 * A bug of ours, not of the request: say so loudly, and still move on,
 * as every caller has already acted (answered, parked) on the new state.
 */
void
ngx_http_ds_illegal_state(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ngx_http_ds_state_e state)
{
    ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                  "ds: illegal request state transition %s -> %s",
                  ngx_http_ds_state_names[ctx->state],
                  ngx_http_ds_state_names[state]);
}

#endif


ngx_http_ds_ctx_t *
ngx_http_ds_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t  *cln;
    ngx_http_ds_ctx_t   *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ds_module);

    if (ctx != NULL) {
        return ctx;
    }

    /*
     * an internal redirect zeroed r->ctx; the pool cleanup still holds
     * the context (subrequests share the pool, so they find it too)
     */
    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_ds_ctx_cleanup) {
            ctx = cln->data;

            if (r == r->main) {
                ngx_http_set_ctx(r, ctx, ngx_http_ds_module);
            }

            return ctx;
        }
    }

    return NULL;
}


ngx_http_ds_ctx_t *
ngx_http_ds_need_ctx(ngx_http_request_t *r)
{
    ngx_http_ds_ctx_t  *ctx;

    ctx = ngx_http_ds_get_ctx(r);

    return ctx ? ctx : ngx_http_ds_create_ctx(r);
}


static ngx_http_ds_ctx_t *
ngx_http_ds_create_ctx(ngx_http_request_t *r)
{
    ngx_http_ds_ctx_t   *ctx;
    ngx_pool_cleanup_t  *cln;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ds_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_ds_ctx_cleanup;
    cln->data = ctx;

    ctx->path_err = DS_PATH_UNKNOWN_ENDPOINT;
    ctx->verdict.reason = DS_REASON_UNKNOWN_ENDPOINT;

    ngx_http_set_ctx(r, ctx, ngx_http_ds_module);

    return ctx;
}


static void
ngx_http_ds_ctx_cleanup(void *data)
{
    /* a marker only: the context lives in the request pool */
}
