/*
 * Host names in ds_redis, resolved through nginx's own resolver (the
 * http-level `resolver` directive): asynchronous, cached by nginx for
 * the answer's TTL (or resolver ... valid=), so a reconnection costs a
 * DNS round trip only when the cached answer expired, and a name that
 * moves to another address is followed at the next reconnection. No
 * getaddrinfo(), nothing blocks the worker.
 *
 * One resolution at a time per worker (the connection makes one attempt
 * at a time); it is bounded by ds_redis_connect_timeout, like the
 * connect it precedes. Successive attempts go round the addresses of
 * the answer.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds.h"
#include "ngx_http_ds_redis.h"


static void ngx_http_ds_redis_resolved(ngx_resolver_ctx_t *ctx);


static ngx_resolver_ctx_t             *ngx_http_ds_redis_rctx;
static ngx_http_ds_redis_resolved_pt   ngx_http_ds_redis_resolved_handler;
static ngx_uint_t                      ngx_http_ds_redis_next_addr;
static ngx_sockaddr_t                  ngx_http_ds_redis_peer;


/* at nginx -t: a name needs the http-level resolver */
char *
ngx_http_ds_redis_resolve_init(ngx_conf_t *cf,
    ngx_http_ds_redis_main_conf_t *rmcf)
{
    ngx_http_core_loc_conf_t  *clcf;

    if (rmcf->host_name.len == 0 && !rmcf->sentinel_names) {
        return NGX_CONF_OK;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /* without a resolver directive nginx puts in one with no server */
    if (clcf->resolver == NULL || clcf->resolver == NGX_CONF_UNSET_PTR
        || clcf->resolver->connections.nelts == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_redis: the host name in \"%V\" needs a "
                           "\"resolver\" in the http block (nginx "
                           "resolves it without blocking)", &rmcf->addr);
        return NGX_CONF_ERROR;
    }

    rmcf->resolver = clcf->resolver;

    return NGX_CONF_OK;
}


/*
 * Start resolving rmcf->host_name; handler gets the address (its port
 * set) or NULL, possibly before this returns (a cached answer).
 * NGX_ERROR: could not even start (handler not called).
 */
ngx_int_t
ngx_http_ds_redis_resolve(ngx_http_ds_redis_main_conf_t *rmcf,
    ngx_http_ds_redis_resolved_pt handler)
{
    ngx_resolver_ctx_t  *ctx;

    if (ngx_http_ds_redis_rctx) {
        return NGX_ERROR;
    }

    ctx = ngx_resolve_start(rmcf->resolver, NULL);
    if (ctx == NULL || ctx == NGX_NO_RESOLVER) {
        return NGX_ERROR;
    }

    ctx->name = rmcf->host_name;
    ctx->handler = ngx_http_ds_redis_resolved;
    ctx->data = rmcf;
    ctx->timeout = rmcf->connect_timeout;
    ctx->cancelable = 1;

    ngx_http_ds_redis_rctx = ctx;
    ngx_http_ds_redis_resolved_handler = handler;

    if (ngx_resolve_name(ctx) != NGX_OK) {
        /* nginx freed ctx */
        ngx_http_ds_redis_rctx = NULL;
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* worker exit */
void
ngx_http_ds_redis_resolve_cancel(void)
{
    if (ngx_http_ds_redis_rctx) {
        ngx_resolve_name_done(ngx_http_ds_redis_rctx);
        ngx_http_ds_redis_rctx = NULL;
    }
}


static void
ngx_http_ds_redis_resolved(ngx_resolver_ctx_t *ctx)
{
    socklen_t                       len;
    ngx_uint_t                      i;
    ngx_http_ds_redis_resolved_pt   handler;
    ngx_http_ds_redis_main_conf_t  *rmcf = ctx->data;

    handler = ngx_http_ds_redis_resolved_handler;
    ngx_http_ds_redis_rctx = NULL;

    if (ctx->state || ctx->naddrs == 0) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "ds_redis: cannot resolve %V: %s", &rmcf->host_name,
                      ctx->state ? ngx_resolver_strerror(ctx->state)
                                 : "no address");
        ngx_resolve_name_done(ctx);
        handler(NULL, 0);
        return;
    }

    i = ngx_http_ds_redis_next_addr++ % ctx->naddrs;
    len = ctx->addrs[i].socklen;

    /* ctx and its addresses go away with name_done: keep a copy */
    ngx_memcpy(&ngx_http_ds_redis_peer, ctx->addrs[i].sockaddr, len);
    ngx_inet_set_port(&ngx_http_ds_redis_peer.sockaddr,
                      (in_port_t) rmcf->port);

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, ngx_cycle->log, 0,
                   "ds_redis: %V resolved, %ui addresses",
                   &rmcf->host_name, ctx->naddrs);

    ngx_resolve_name_done(ctx);

    handler(&ngx_http_ds_redis_peer.sockaddr, len);
}
