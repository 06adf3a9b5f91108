/*
 * Keys of an issuer's "jwks_uri" (issue #15), fetched the nginx way: an
 * in-memory subrequest to the internal location named by ds_jwks_fetch,
 * which proxy_passes to $ds_jwks_uri, so nginx's resolver, TLS
 * verification and timeouts apply and no worker ever blocks. The request
 * that needs the keys parks in the access phase until the subrequest
 * ends (at most the location's proxy timeouts); requests that need the
 * same issuer's keys meanwhile park beside it, in this worker's waiting
 * queue, and are resumed (posted events) when that fetch ends, however
 * it ends. The core (ds_jwks_live.c) decides when a fetch is due and
 * keeps the last good keys when one fails.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds_module.h"
#include "ngx_http_ds_metrics.h"
#include "ds_http.h"
#include "ds_jwks_live.h"


#define NGX_HTTP_DS_JWKS_NONE       0
#define NGX_HTTP_DS_JWKS_FETCHING   1
#define NGX_HTTP_DS_JWKS_DONE       2
#define NGX_HTTP_DS_JWKS_WAITING    3

#define NGX_HTTP_DS_JWKS_TTL        300000
#define NGX_HTTP_DS_JWKS_GAP        10000


/* a request parked beside another's fetch of its issuer's keys */
typedef struct {
    ngx_queue_t          queue;
    ngx_http_request_t  *r;
    ngx_http_ds_ctx_t   *ctx;
    ds_issuer_t         *issuer;
    ngx_event_t          ev;
    unsigned             queued:1;
} ngx_http_ds_jwks_wait_t;


static ngx_int_t ngx_http_ds_jwks_park(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, ds_issuer_t *is);
static void ngx_http_ds_jwks_wake(ds_issuer_t *is);
static void ngx_http_ds_jwks_resume(ngx_event_t *ev);
static void ngx_http_ds_jwks_wait_gone(void *data);
static ngx_int_t ngx_http_ds_jwks_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc);
static void ngx_http_ds_jwks_cleanup(void *data);
static ngx_int_t ngx_http_ds_jwks_uri_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_str_t  ngx_http_ds_jwks_uri_name = ngx_string("ds_jwks_uri");

/* this worker's parked requests (each worker has its own policy copy) */
static ngx_queue_t  ngx_http_ds_jwks_waiting;


ngx_int_t
ngx_http_ds_jwks_check(ngx_http_request_t *r, ngx_http_ds_main_conf_t *dmcf,
    ngx_http_ds_ctx_t *ctx)
{
    char                        err[128];
    size_t                      tlen;
    int64_t                     now;
    ngx_msec_t                  ttl, gap;
    ngx_time_t                 *tp;
    const char                 *tok;
    int                         digested;
    ds_issuer_t                *is, *wait;
    ngx_table_elt_t            *h;
    ngx_pool_cleanup_t         *cln;
    ngx_http_request_t         *sr;
    ngx_http_post_subrequest_t *ps;

    switch (ctx->jwks_state) {
    case NGX_HTTP_DS_JWKS_FETCHING:
    case NGX_HTTP_DS_JWKS_WAITING:
        return NGX_AGAIN;
    case NGX_HTTP_DS_JWKS_DONE:
        return NGX_DECLINED;
    }

    h = r->headers_in.authorization;

    if (dmcf->jwks_fetch.len == 0 || h == NULL || r != r->main
        || ds_auth_parse_bearer((const char *) h->value.data, h->value.len,
                                &tok, &tlen) != DS_AUTH_OK)
    {
        return NGX_DECLINED;
    }

    ttl = (dmcf->jwks_ttl == NGX_CONF_UNSET_MSEC) ? NGX_HTTP_DS_JWKS_TTL
                                                  : dmcf->jwks_ttl;
    gap = (dmcf->jwks_gap == NGX_CONF_UNSET_MSEC) ? NGX_HTTP_DS_JWKS_GAP
                                                  : dmcf->jwks_gap;

    tp = ngx_timeofday();
    now = (int64_t) tp->sec * 1000 + tp->msec;

    is = ds_jwks_due(dmcf->policy, tok, tlen, now, (int64_t) ttl,
                     (int64_t) gap, &wait, ctx->jwks_digest, &digested);

    /* the decision reuses it (ngx_http_ds_decide) */
    ctx->jwks_digested = digested ? 1 : 0;

    if (is == NULL) {
        return (wait == NULL) ? NGX_DECLINED
                              : ngx_http_ds_jwks_park(r, ctx, wait);
    }

    ctx->jwks_issuer = is;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));

    if (cln == NULL || ps == NULL
        || ngx_http_subrequest(r, &dmcf->jwks_fetch, NULL, &sr, ps,
                               NGX_HTTP_SUBREQUEST_IN_MEMORY
                               |NGX_HTTP_SUBREQUEST_WAITED)
           != NGX_OK)
    {
        (void) ds_jwks_fetched(is, NULL, 0, now, err, sizeof(err));
        ngx_http_ds_jwks_wake(is);
        ctx->jwks_state = NGX_HTTP_DS_JWKS_DONE;
        return NGX_DECLINED;
    }

    ps->handler = ngx_http_ds_jwks_done;
    ps->data = ctx;

    cln->handler = ngx_http_ds_jwks_cleanup;
    cln->data = ctx;

    /*
     * The IdP sees none of the client's request: not its bearer (the
     * JWT), cookies or body. proxy_pass sends the Host of the URI.
     */
    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));
    sr->headers_in.server = r->headers_in.server;
    sr->headers_in.content_length_n = -1;
    sr->headers_in.keep_alive_n = -1;

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 1,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->request_body = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (sr->request_body == NULL) {
        return NGX_ERROR;
    }

    ctx->jwks_state = NGX_HTTP_DS_JWKS_FETCHING;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "ds: fetching the JWKS of issuer \"%s\"",
                  ds_jwks_issuer(is));

    return NGX_AGAIN;
}


/*
 * Another request of this worker fetches is's keys, which this one
 * needs: wait for that fetch (bounded by its proxy timeouts) rather
 * than answer jwks_unavailable, and rather than fetch them twice.
 */
static ngx_int_t
ngx_http_ds_jwks_park(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ds_issuer_t *is)
{
    ngx_pool_cleanup_t       *cln;
    ngx_http_ds_jwks_wait_t  *w;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    w = ngx_pcalloc(r->pool, sizeof(ngx_http_ds_jwks_wait_t));

    if (cln == NULL || w == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_ds_jwks_waiting.next == NULL) {
        ngx_queue_init(&ngx_http_ds_jwks_waiting);
    }

    w->r = r;
    w->ctx = ctx;
    w->issuer = is;
    w->ev.data = w;
    w->ev.handler = ngx_http_ds_jwks_resume;
    w->ev.log = r->connection->log;

    ngx_queue_insert_tail(&ngx_http_ds_jwks_waiting, &w->queue);
    w->queued = 1;

    cln->handler = ngx_http_ds_jwks_wait_gone;
    cln->data = w;

    ctx->jwks_state = NGX_HTTP_DS_JWKS_WAITING;

    /* as limit_req's delay: notice a client that goes away meanwhile */
    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ds: waiting for the JWKS fetch of issuer \"%s\"",
                   ds_jwks_issuer(is));

    return NGX_AGAIN;
}


/* is's fetch ended (keys or not): resume the requests parked for it */
static void
ngx_http_ds_jwks_wake(ds_issuer_t *is)
{
    ngx_queue_t              *q, *next;
    ngx_http_ds_jwks_wait_t  *w;

    if (ngx_http_ds_jwks_waiting.next == NULL) {
        return;
    }

    for (q = ngx_queue_head(&ngx_http_ds_jwks_waiting);
         q != ngx_queue_sentinel(&ngx_http_ds_jwks_waiting);
         q = next)
    {
        next = ngx_queue_next(q);
        w = ngx_queue_data(q, ngx_http_ds_jwks_wait_t, queue);

        if (w->issuer != is) {
            continue;
        }

        ngx_queue_remove(q);
        w->queued = 0;

        /* judged with what the fetch left: never parked twice */
        w->ctx->jwks_state = NGX_HTTP_DS_JWKS_DONE;

        ngx_post_event(&w->ev, &ngx_posted_events);
    }
}


/* a posted event: out of the fetch's finalization, the request runs on */
static void
ngx_http_ds_jwks_resume(ngx_event_t *ev)
{
    ngx_connection_t         *c;
    ngx_http_request_t       *r;
    ngx_http_ds_jwks_wait_t  *w;

    w = ev->data;
    r = w->r;
    c = r->connection;

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


/* the parked request went away (its client closed): forget it */
static void
ngx_http_ds_jwks_wait_gone(void *data)
{
    ngx_http_ds_jwks_wait_t  *w = data;

    if (w->queued) {
        ngx_queue_remove(&w->queue);
        w->queued = 0;
    }

    if (w->ev.posted) {
        ngx_delete_posted_event(&w->ev);
    }
}


static ngx_int_t
ngx_http_ds_jwks_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    char                err[256];
    size_t              len;
    int64_t             now;
    ngx_buf_t          *b;
    ngx_time_t         *tp;
    const char         *buf;
    ngx_http_ds_ctx_t  *ctx;

    ctx = data;

    if (ctx->jwks_state != NGX_HTTP_DS_JWKS_FETCHING) {
        return rc;
    }

    ctx->jwks_state = NGX_HTTP_DS_JWKS_DONE;

    buf = NULL;
    len = 0;

    if (rc == NGX_OK && sr->headers_out.status == NGX_HTTP_OK
        && sr->out != NULL && sr->out->buf != NULL)
    {
        b = sr->out->buf;
        buf = (const char *) b->pos;
        len = b->last - b->pos;
    }

    tp = ngx_timeofday();
    now = (int64_t) tp->sec * 1000 + tp->msec;

    if (ds_jwks_fetched(ctx->jwks_issuer, buf, len, now, err, sizeof(err))
        == 0)
    {
        ngx_http_ds_metrics_jwks_fetch(1);
        ngx_log_error(NGX_LOG_INFO, sr->connection->log, 0,
                      "ds: JWKS of issuer \"%s\" fetched",
                      ds_jwks_issuer(ctx->jwks_issuer));

    } else {
        ngx_http_ds_metrics_jwks_fetch(0);
        ngx_log_error(NGX_LOG_ERR, sr->connection->log, 0,
                      "ds: JWKS of issuer \"%s\" not updated (status %ui, "
                      "rc %i): %s; the last good keys are kept",
                      ds_jwks_issuer(ctx->jwks_issuer),
                      sr->headers_out.status, rc, err);
    }

    ngx_http_ds_jwks_wake(ctx->jwks_issuer);

    return rc;
}


/* the request went away before its fetch ended: let another one fetch */
static void
ngx_http_ds_jwks_cleanup(void *data)
{
    char                err[64];
    ngx_http_ds_ctx_t  *ctx;

    ctx = data;

    if (ctx->jwks_state == NGX_HTTP_DS_JWKS_FETCHING) {
        ctx->jwks_state = NGX_HTTP_DS_JWKS_DONE;
        (void) ds_jwks_fetched(ctx->jwks_issuer, NULL, 0, 0, err,
                               sizeof(err));
        ngx_http_ds_jwks_wake(ctx->jwks_issuer);
    }
}


/* $ds_jwks_uri: in the fetch subrequest, the URI of the issuer fetched */
static ngx_int_t
ngx_http_ds_jwks_uri_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    const char         *uri;
    ngx_http_ds_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_ds_module);

    if (ctx == NULL || ctx->jwks_issuer == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    uri = ds_jwks_uri(ctx->jwks_issuer);

    v->data = (u_char *) uri;
    v->len = ngx_strlen(uri);
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


ngx_int_t
ngx_http_ds_jwks_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var;

    var = ngx_http_add_variable(cf, &ngx_http_ds_jwks_uri_name,
                                NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_http_ds_jwks_uri_variable;

    return NGX_OK;
}


char *
ngx_http_ds_jwks_fetch(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ds_main_conf_t *dmcf = conf;

    ngx_str_t  *value;

    if (dmcf->jwks_fetch.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len < 2 || value[1].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "ds_jwks_fetch: \"%V\" "
                           "must be a location's URI, such as /_ds_jwks",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    dmcf->jwks_fetch = value[1];

    return NGX_CONF_OK;
}


/* at the first enforced location: the policy and http{} are complete */
char *
ngx_http_ds_jwks_conf_check(ngx_conf_t *cf, ngx_http_ds_main_conf_t *dmcf)
{
    if (ds_jwks_any_uri(dmcf->policy) && dmcf->jwks_fetch.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_policy: an issuer names \"jwks_uri\": "
                           "\"ds_jwks_fetch\" must name the internal "
                           "location that fetches it");
        return NGX_CONF_ERROR;
    }

    if (dmcf->jwks_ttl != NGX_CONF_UNSET_MSEC && dmcf->jwks_ttl < 1000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ds_jwks_ttl\" must be at least 1s");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
