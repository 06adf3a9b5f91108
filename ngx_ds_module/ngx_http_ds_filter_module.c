/*
 * ngx_http_ds_filter_module: list responses show a recipient only what
 * it is entitled to.
 *
 * The upstream answers list calls (shares, schemas, tables, all tables)
 * with everything it holds. For an allowed list call with a 200 the
 * header filter holds the response headers back (as the xslt filter
 * does), the body filter collects the whole body, ds_list_filter()
 * keeps the visible items, and only then do headers and the new body
 * go out. Whatever cannot be filtered -- not JSON, truncated, encoded,
 * too big -- becomes a 502 with the Delta Sharing error body: the
 * unfiltered body never reaches the client.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds.h"

#include "ds_list_filter.h"


/*
 * Real pages are far smaller (the reference server caps a page at 500
 * items, ~35 KB); filtering parses the whole body on the event loop, so
 * the bound is also the worst case of CPU one list call may take.
 */
#define NGX_HTTP_DS_LIST_MAX_SIZE  (1024 * 1024)


typedef struct {
    size_t                   max_size;
} ngx_http_ds_filter_conf_t;


typedef struct {
    u_char                  *buf;
    size_t                   len;
    size_t                   size;
    const char              *failed;        /* why it cannot be filtered */
    unsigned                 done:1;
} ngx_http_ds_filter_ctx_t;


static ngx_int_t ngx_http_ds_filter_append(ngx_http_request_t *r,
    ngx_http_ds_filter_ctx_t *fctx, ngx_buf_t *b, size_t max);
static ngx_int_t ngx_http_ds_filter_send(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, ngx_http_ds_filter_ctx_t *fctx);
static ngx_int_t ngx_http_ds_filter_refuse(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, const char *why);
static ngx_int_t ngx_http_ds_filter_fail(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, const char *why);
static ngx_int_t ngx_http_ds_filter_release(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, ngx_buf_t *b);
static void *ngx_http_ds_filter_create_conf(ngx_conf_t *cf);
static char *ngx_http_ds_filter_merge_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_ds_filter_init(ngx_conf_t *cf);


static ngx_command_t  ngx_http_ds_filter_commands[] = {

    { ngx_string("ds_list_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ds_filter_conf_t, max_size),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_ds_filter_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_ds_filter_init,               /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_ds_filter_create_conf,        /* create location configuration */
    ngx_http_ds_filter_merge_conf          /* merge location configuration */
};


ngx_module_t  ngx_http_ds_filter_module = {
    NGX_MODULE_V1,
    &ngx_http_ds_filter_module_ctx,        /* module context */
    ngx_http_ds_filter_commands,           /* module directives */
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
ngx_http_ds_header_filter(ngx_http_request_t *r)
{
    off_t                       len;
    ngx_uint_t                  status;
    ngx_http_ds_ctx_t          *ctx;
    ngx_table_elt_t            *ce;
    ngx_http_ds_filter_ctx_t   *fctx;
    ngx_http_ds_filter_conf_t  *conf;

    if (r != r->main || r->header_only) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_ds_get_ctx(r);

    if (ctx == NULL
        || !ngx_http_ds_decided(ctx)
        || ngx_http_ds_answered(ctx)
        || !ctx->verdict.allow
        || !ds_op_is_list(ctx->path.op)
        || r->err_status)
    {
        return ngx_http_next_header_filter(r);
    }

    status = r->headers_out.status;

    if (status != NGX_HTTP_OK) {
        if (status > NGX_HTTP_OK && status < NGX_HTTP_MOVED_PERMANENTLY) {
            /* 206 (a Range the upstream honoured), 203...: a list
             * that is not whole cannot be filtered */
            return ngx_http_ds_filter_refuse(r, ctx,
                                             "the answer is not a 200");
        }

        /* redirects and errors carry no list */
        return ngx_http_next_header_filter(r);
    }

    conf = ngx_http_get_module_loc_conf(r, ngx_http_ds_filter_module);

    ce = r->headers_out.content_encoding;

    if (ce && ce->hash && ce->value.len
        && !(ce->value.len == 8
             && ngx_strncasecmp(ce->value.data, (u_char *) "identity", 8)
                == 0))
    {
        /* a compressed list cannot be read: set Accept-Encoding "" */
        return ngx_http_ds_filter_refuse(r, ctx,
                                         "the body is content-encoded");
    }

    len = r->headers_out.content_length_n;

    if (len > (off_t) conf->max_size) {
        return ngx_http_ds_filter_refuse(r, ctx, "the body is larger than "
                                         "ds_list_max_size");
    }

    fctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ds_filter_ctx_t));
    if (fctx == NULL) {
        return NGX_ERROR;
    }

    ngx_http_set_ctx(r, fctx, ngx_http_ds_filter_module);

    if (len > 0) {
        fctx->size = (size_t) len;
    }

    /* the body changes: everything describing the old one goes */
    ngx_http_clear_content_length(r);
    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_etag(r);
    ngx_http_clear_last_modified(r);

    r->filter_need_in_memory = 1;
    r->main_filter_need_in_memory = 1;
    r->allow_ranges = 0;

    /*
     * headers wait for the filtered body (see the body filter); if the
     * body never completes, the audit record must not show a 200
     */
    ngx_http_ds_set_state(r, ctx, NGX_HTTP_DS_HELD);

    return NGX_OK;
}


static ngx_int_t
ngx_http_ds_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_uint_t                  last;
    ngx_chain_t                *cl;
    ngx_http_ds_ctx_t          *ctx;
    ngx_http_ds_filter_ctx_t   *fctx;
    ngx_http_ds_filter_conf_t  *conf;

    fctx = ngx_http_get_module_ctx(r, ngx_http_ds_filter_module);

    if (fctx == NULL || fctx->done) {
        return ngx_http_next_body_filter(r, in);
    }

    if (in == NULL) {
        /* nothing went out yet, so there is nothing to flush */
        return NGX_OK;
    }

    conf = ngx_http_get_module_loc_conf(r, ngx_http_ds_filter_module);

    last = 0;

    for (cl = in; cl; cl = cl->next) {

        if (fctx->failed == NULL
            && ngx_http_ds_filter_append(r, fctx, cl->buf, conf->max_size)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* consumed: the upstream may reuse its buffers */
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;

        if (cl->buf->last_buf) {
            last = 1;
        }
    }

    if (!last) {
        return NGX_OK;
    }

    fctx->done = 1;

    ctx = ngx_http_ds_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (fctx->failed) {
        return ngx_http_ds_filter_fail(r, ctx, fctx->failed);
    }

    return ngx_http_ds_filter_send(r, ctx, fctx);
}


static ngx_int_t
ngx_http_ds_filter_append(ngx_http_request_t *r,
    ngx_http_ds_filter_ctx_t *fctx, ngx_buf_t *b, size_t max)
{
    u_char  *p;
    size_t   n, size;

    if (!ngx_buf_in_memory(b)) {
        if (ngx_buf_size(b) > 0) {
            fctx->failed = "the body is not in memory";
        }

        return NGX_OK;
    }

    n = b->last - b->pos;

    if (n == 0) {
        return NGX_OK;
    }

    if (n > max - fctx->len) {
        fctx->failed = "the body is larger than ds_list_max_size";
        return NGX_OK;
    }

    if (fctx->len + n > fctx->size || fctx->buf == NULL) {
        size = ngx_max(fctx->size, 4096);

        while (size < fctx->len + n) {
            size *= 2;
        }

        size = ngx_min(size, max);

        p = ngx_palloc(r->pool, size);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (fctx->len) {
            ngx_memcpy(p, fctx->buf, fctx->len);
        }

        if (fctx->buf) {
            ngx_pfree(r->pool, fctx->buf);
        }

        fctx->buf = p;
        fctx->size = size;
    }

    ngx_memcpy(fctx->buf + fctx->len, b->pos, n);
    fctx->len += n;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ds_filter_send(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ngx_http_ds_filter_ctx_t *fctx)
{
    size_t          out_len;
    ngx_buf_t      *b;
    ds_lf_err_t     err;
    ds_lf_stats_t   stats;

    /* in place: the kept items move down over the dropped ones */
    err = ds_list_filter(ctx->verdict.recipient, ctx->path.op,
                         ctx->path.share_len ? ctx->path.share : NULL,
                         ctx->path.schema_len ? ctx->path.schema : NULL,
                         (const char *) fctx->buf, fctx->len,
                         (char *) fctx->buf, &out_len, &stats);

    if (err != DS_LF_OK) {
        return ngx_http_ds_filter_fail(r, ctx, ds_lf_strerror(err));
    }

    ctx->items_in = stats.items_in;
    ctx->items_out = stats.items_out;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = fctx->buf;
    b->last = fctx->buf + out_len;
    b->start = b->pos;
    b->end = b->last;
    b->memory = out_len ? 1 : 0;
    b->last_buf = 1;
    b->last_in_chain = 1;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ds list filter: %uz of %uz items, %uz bytes",
                   stats.items_out, stats.items_in, out_len);

    return ngx_http_ds_filter_release(r, ctx, b);
}


/*
 * Known bad from the headers alone: answer now and stop reading the
 * upstream (as the xslt and image filters do), instead of draining a
 * body that will never be sent. The guard turns nginx's 502 page into
 * the Delta Sharing error.
 */
static ngx_int_t
ngx_http_ds_filter_refuse(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    const char *why)
{
    ngx_http_ds_upstream_invalid(r, ctx, why);

    return ngx_http_filter_finalize_request(r, &ngx_http_ds_filter_module,
                                            NGX_HTTP_BAD_GATEWAY);
}


/* the held-back response becomes a 502: nothing of the body leaks */
static ngx_int_t
ngx_http_ds_filter_fail(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    const char *why)
{
    ngx_buf_t  *b;

    ngx_http_ds_upstream_invalid(r, ctx, why);
    ngx_http_ds_set_state(r, ctx, NGX_HTTP_DS_ANSWERED);

    b = ngx_http_ds_error_body(r, DS_REASON_UPSTREAM_INVALID, NULL);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last_buf = 1;
    b->last_in_chain = 1;

    /* the upstream's headers described a body that is not sent */
    ngx_http_ds_reset_headers(r);
    ngx_http_ds_json_headers(r, NGX_HTTP_BAD_GATEWAY, b);

    return ngx_http_ds_filter_release(r, ctx, b);
}


/* the held-back headers go out, with b as the whole body */
static ngx_int_t
ngx_http_ds_filter_release(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ngx_buf_t *b)
{
    ngx_int_t    rc;
    ngx_chain_t  cl;

    r->headers_out.content_length_n = b->last - b->pos;

    if (ctx->state == NGX_HTTP_DS_HELD) {
        ngx_http_ds_set_state(r, ctx, NGX_HTTP_DS_PASSED);
    }

    rc = ngx_http_next_header_filter(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    cl.buf = b;
    cl.next = NULL;

    return ngx_http_next_body_filter(r, &cl);
}


static void *
ngx_http_ds_filter_create_conf(ngx_conf_t *cf)
{
    ngx_http_ds_filter_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ds_filter_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->max_size = NGX_CONF_UNSET_SIZE;

    return conf;
}


static char *
ngx_http_ds_filter_merge_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ds_filter_conf_t *prev = parent;
    ngx_http_ds_filter_conf_t *conf = child;

    ngx_conf_merge_size_value(conf->max_size, prev->max_size,
                              NGX_HTTP_DS_LIST_MAX_SIZE);

    if (conf->max_size == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ds_list_max_size\" must be more than 0");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_ds_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_ds_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_ds_body_filter;

    return NGX_OK;
}
