/*
 * ngx_http_ds_guard_module: nothing leaves an enforced location that
 * does not carry a decision of ours.
 *
 * The access check answers its own denials; what remains are answers it
 * never saw: the ones nginx makes itself (an upstream that is down or
 * slow, a body too large, a bad request, the redirect to a location's
 * trailing slash, error pages) and content produced where the check did
 * not run (a "return" in the rewrite phase, an access module that let
 * the request skip it). The header filter replaces each of them with the
 * Delta Sharing error JSON, and the body filter swaps nginx's page for
 * that body, so partners' clients get a message they can show and the
 * audit record says why. A subrequest into an enforced location has no
 * check of its own (nginx skips the access phase for subrequests): it
 * only runs when it fetches the very URI the main request was allowed
 * for (what the slice module does); anything else ends the request
 * before the subrequest reaches the upstream. A main request that
 * enters an enforced location and leaves it before the check (a
 * "rewrite ... last", "try_files" or "error_page" of the rewrite phase
 * into a location without ngx_ds) is ended as well: the guard follows
 * the request, not the location.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds.h"


typedef struct {
    ngx_buf_t               *body;          /* the answer that replaces */
    unsigned                 sent:1;
} ngx_http_ds_guard_ctx_t;


static ngx_int_t ngx_http_ds_guard_subrequest(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx);
static ds_reason_t ngx_http_ds_guard_reason(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, int *status);
static ngx_int_t ngx_http_ds_guard_replace(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, ds_reason_t reason, int status);
static ngx_int_t ngx_http_ds_guard_rewrite_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_ds_guard_moved(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx);
static ngx_int_t ngx_http_ds_guard_preaccess_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_ds_guard_init(ngx_conf_t *cf);


static ngx_http_module_t  ngx_http_ds_guard_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_ds_guard_init,                /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_ds_guard_module = {
    NGX_MODULE_V1,
    &ngx_http_ds_guard_module_ctx,         /* module context */
    NULL,                                  /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


static ngx_int_t
ngx_http_ds_guard_header_filter(ngx_http_request_t *r)
{
    int                 status;
    ds_reason_t         reason;
    ngx_http_ds_ctx_t  *ctx;

    ctx = ngx_http_ds_get_ctx(r);

    if (!ngx_http_ds_enforced(r, ctx)) {
        return ngx_http_next_header_filter(r);
    }

    if (r != r->main) {
        if (ngx_http_ds_guard_subrequest(r, ctx) != NGX_OK) {
            return NGX_ERROR;
        }

        return ngx_http_next_header_filter(r);
    }

    if (ctx != NULL && ngx_http_ds_answered(ctx)) {
        /* a denial of ours, or the list filter's own answer */
        return ngx_http_next_header_filter(r);
    }

    reason = ngx_http_ds_guard_reason(r, ctx, &status);

    if (reason == DS_REASON_ALLOWED) {
        return ngx_http_next_header_filter(r);
    }

    return ngx_http_ds_guard_replace(r, ctx, reason, status);
}


/* DS_REASON_ALLOWED: the response may go out as it is */
static ds_reason_t
ngx_http_ds_guard_reason(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    int *status)
{
    ngx_uint_t  allowed;

    if (ctx != NULL && ctx->left) {
        *status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return DS_REASON_NOT_CHECKED;
    }

    allowed = (ctx != NULL && ngx_http_ds_decided(ctx) && ctx->verdict.allow);

    if (r->err_status == 0) {
        /* a handler's answer: an upstream's, after our allow */
        if (allowed) {
            return DS_REASON_ALLOWED;
        }

        *status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return DS_REASON_NOT_CHECKED;
    }

    /* nginx's own answer (special response or error page) */
    if (allowed
        && (r->err_status == NGX_HTTP_NO_CONTENT
            || r->err_status == NGX_HTTP_CREATED))
    {
        return DS_REASON_ALLOWED;
    }

    if (ctx != NULL && ngx_http_ds_decided(ctx) && !ctx->verdict.allow
        && ctx->verdict.reason != DS_REASON_ALLOWED)
    {
        /* refused by one of our filters (a list it cannot filter) */
        *status = ctx->verdict.http_status;
        return ctx->verdict.reason;
    }

    return ds_reason_for_status((int) r->err_status, status);
}


static ngx_int_t
ngx_http_ds_guard_replace(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ds_reason_t reason, int status)
{
    ngx_uint_t                level;
    ngx_http_ds_guard_ctx_t  *gctx;

    ctx = ngx_http_ds_need_ctx(r);
    gctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ds_guard_ctx_t));

    if (ctx == NULL || gctx == NULL) {
        return NGX_ERROR;
    }

    level = (reason == DS_REASON_NOT_CHECKED) ? NGX_LOG_ERR : NGX_LOG_INFO;

    ngx_log_error(level, r->connection->log, 0,
                  "ds: answer %ui in an enforced location replaced: %s",
                  r->err_status ? r->err_status : r->headers_out.status,
                  ds_reason_name(reason));

    /* what the audit record and $ds_reason say */
    ctx->guarded = 1;
    ctx->verdict.allow = 0;
    ctx->verdict.reason = reason;
    ctx->verdict.http_status = status;

    gctx->body = ngx_http_ds_error_body(r, reason, NULL);
    if (gctx->body == NULL) {
        return NGX_ERROR;
    }

    gctx->body->last_buf = (r == r->main) ? 1 : 0;
    gctx->body->last_in_chain = 1;

    ngx_http_set_ctx(r, gctx, ngx_http_ds_guard_module);

    ngx_http_ds_reset_headers(r);

    r->err_status = 0;
    ngx_http_ds_json_headers(r, status, gctx->body);

    r->allow_ranges = 0;

    return ngx_http_next_header_filter(r);
}


/*
 * Subrequests skip the access phase: the preaccess handler stops one
 * before its content handler runs, the header filter before anything of
 * it goes out.
 */
static ngx_int_t
ngx_http_ds_guard_subrequest(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx)
{
    if (ctx != NULL && ngx_http_ds_decided(ctx) && ctx->verdict.allow
        && !ds_op_is_list(ctx->path.op)
        && r->uri.len == ctx->uri.len
        && ngx_memcmp(r->uri.data, ctx->uri.data, r->uri.len) == 0)
    {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "ds: subrequest \"%V\" into a location with "
                  "\"ds_enforce on\" was not checked: request ended",
                  &r->uri);

    if (ctx != NULL) {
        ctx->guarded = 1;
        ctx->verdict.allow = 0;
        ctx->verdict.reason = DS_REASON_NOT_CHECKED;
        ctx->verdict.http_status = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_ERROR;
}


/*
 * Registered after ngx_http_rewrite_module (a dynamic module's
 * postconfiguration runs later), so it runs before the location's
 * "rewrite", "return" and "if": the mark is set before they can move
 * the request on.
 */
static ngx_int_t
ngx_http_ds_guard_rewrite_handler(ngx_http_request_t *r)
{
    ngx_http_ds_ctx_t  *ctx;

    if (r != r->main || !ngx_http_ds_enforced(r, NULL)) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_ds_need_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->entered = 1;

    return NGX_DECLINED;
}


/*
 * A main request of ours in a location without ngx_ds: it was moved
 * there by the configuration (rewrite, try_files, error_page, a named
 * location), and what that location answers no check of ours covers.
 * It is ended before that location's handler runs (its upstream never
 * sees the partner's request), except where the upstream that answered
 * after an allow sent it there (X-Accel-Redirect: the Delta Sharing
 * server's own choice). An error page keeps its status for the guard.
 */
static ngx_int_t
ngx_http_ds_guard_moved(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx)
{
    if (ctx == NULL || ngx_http_ds_enforced(r, NULL)) {
        return NGX_DECLINED;
    }

    if (!ngx_http_ds_decided(ctx)) {
        if (!ctx->entered) {
            return NGX_DECLINED;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ds: request moved to \"%V\" out of an enforced "
                      "location before its check (rewrite): ended",
                      &r->uri);

        ctx->left = 1;
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->upstream != NULL
        && r->upstream->headers_in.x_accel_redirect != NULL
        && ctx->verdict.allow && !ctx->guarded)
    {
        return NGX_DECLINED;
    }

    if (r->err_status) {
        /* nginx's page of that status, which the guard replaces */
        return r->err_status;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "ds: request moved to \"%V\" out of an enforced location "
                  "after its check (try_files, error_page =, a named "
                  "location): ended", &r->uri);

    ctx->left = 1;
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


static ngx_int_t
ngx_http_ds_guard_preaccess_handler(ngx_http_request_t *r)
{
    ngx_http_ds_ctx_t  *ctx;

    ctx = ngx_http_ds_get_ctx(r);

    if (r == r->main) {
        return ngx_http_ds_guard_moved(r, ctx);
    }

    if (!ngx_http_ds_enforced(r, ctx)
        || ngx_http_ds_guard_subrequest(r, ctx) == NGX_OK)
    {
        return NGX_DECLINED;
    }

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_ds_guard_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t              *cl, out;
    ngx_http_ds_guard_ctx_t  *gctx;

    gctx = ngx_http_get_module_ctx(r, ngx_http_ds_guard_module);

    if (gctx == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    /* nginx's page, or whatever came with the replaced answer, is dropped */
    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    if (gctx->sent || r->header_only) {
        return (in == NULL) ? ngx_http_next_body_filter(r, NULL) : NGX_OK;
    }

    gctx->sent = 1;

    out.buf = gctx->body;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


static ngx_int_t
ngx_http_ds_guard_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ds_guard_preaccess_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ds_guard_rewrite_handler;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_ds_guard_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_ds_guard_body_filter;

    return NGX_OK;
}
