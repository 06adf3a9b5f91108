/*
 * ngx_http_ds_query_filter_module: the data a query answer hands out.
 *
 * Query, changes and query-poll answers (NDJSON) stream through the
 * disclosure reader (core/ds_disclose.c): the audit record learns which
 * files, bytes and records left and until when their links work; with
 * "ds_files_proxy" each cloud URL is replaced by a gateway capability
 * (docs/dataplane.md). The answer is not held: checked lines go out as
 * they complete, in a bounded set of buffers (as the gzip filter does),
 * so a slow client holds the upstream back instead of filling memory.
 * A line the reader refuses cuts the answer there: nothing after the
 * last checked line reaches the client, and the connection closes
 * without the end of the chunked body, so clients see a failure, never
 * a short answer that looks whole.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds.h"
#include "ngx_http_ds_files.h"

#include "ds_disclose.h"


/* the reader's output is copied into at most this many buffers */
#define NGX_HTTP_DS_QUERY_BUFS      8
#define NGX_HTTP_DS_QUERY_BUF_SIZE  (32 * 1024)

/*
 * Input held while all buffers are out: the request must not end before
 * it is sent. r->buffered has four bits, all named by nginx's filters;
 * this is the image filter's, which never runs on a query answer.
 */
#define NGX_HTTP_DS_QUERY_BUFFERED  0x08


typedef struct {
    size_t                      line_max;
    ngx_http_complex_value_t   *files_proxy;    /* NULL: off */
} ngx_http_ds_query_conf_t;


typedef struct {
    ngx_flag_t                  files_proxy;    /* some location has it */
} ngx_http_ds_query_main_conf_t;


typedef struct {
    ds_disclose_t              *reader;
    ngx_chain_t                *in;
    ngx_chain_t                *out;
    ngx_chain_t               **last_out;
    ngx_chain_t                *free;
    ngx_chain_t                *busy;
    ngx_buf_t                  *buf;            /* being filled */
    ngx_uint_t                  nbufs;
    unsigned                    last:1;
    unsigned                    flush:1;
    unsigned                    done:1;
    unsigned                    cut:1;
} ngx_http_ds_query_ctx_t;


static ngx_int_t ngx_http_ds_query_start(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, ngx_http_ds_query_conf_t *conf,
    ngx_uint_t disclose);
static ngx_int_t ngx_http_ds_query_proxy_conf(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, ngx_http_ds_query_conf_t *conf,
    ds_disclose_conf_t *dc);
static void ngx_http_ds_query_table_version(ngx_http_request_t *r,
    ds_disclosure_t *d);
static ngx_int_t ngx_http_ds_query_read(ngx_http_request_t *r,
    ngx_http_ds_query_ctx_t *qctx);
static ngx_int_t ngx_http_ds_query_drain(ngx_http_request_t *r,
    ngx_http_ds_query_ctx_t *qctx);
static ngx_int_t ngx_http_ds_query_push(ngx_http_request_t *r,
    ngx_http_ds_query_ctx_t *qctx, ngx_uint_t last);
static ngx_int_t ngx_http_ds_query_cut(ngx_http_request_t *r,
    ngx_http_ds_query_ctx_t *qctx, const char *why);
static void ngx_http_ds_query_cleanup(void *data);
static ngx_int_t ngx_http_ds_query_add_variables(ngx_conf_t *cf);
static char *ngx_http_ds_files_proxy(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_http_ds_query_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_ds_query_create_conf(ngx_conf_t *cf);
static char *ngx_http_ds_query_merge_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_ds_query_init(ngx_conf_t *cf);


static ngx_command_t  ngx_http_ds_query_commands[] = {

    { ngx_string("ds_query_line_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ds_query_conf_t, line_max),
      NULL },

    { ngx_string("ds_files_proxy"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ds_files_proxy,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_ds_query_filter_module_ctx = {
    ngx_http_ds_query_add_variables,       /* preconfiguration */
    ngx_http_ds_query_init,                /* postconfiguration */

    ngx_http_ds_query_create_main_conf,    /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_ds_query_create_conf,         /* create location configuration */
    ngx_http_ds_query_merge_conf           /* merge location configuration */
};


ngx_module_t  ngx_http_ds_query_filter_module = {
    NGX_MODULE_V1,
    &ngx_http_ds_query_filter_module_ctx,  /* module context */
    ngx_http_ds_query_commands,            /* module directives */
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


ngx_uint_t
ngx_http_ds_files_proxied(ngx_http_request_t *r)
{
    ngx_http_ds_query_conf_t  *conf;

    conf = ngx_http_get_module_loc_conf(r, ngx_http_ds_query_filter_module);

    return conf->files_proxy != NULL;
}


static ngx_int_t
ngx_http_ds_query_header_filter(ngx_http_request_t *r)
{
    ngx_uint_t                 disclose;
    ngx_table_elt_t           *ce;
    ngx_http_ds_ctx_t         *ctx;
    ngx_http_ds_query_conf_t  *conf;

    if (r != r->main || r->header_only) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_ds_get_ctx(r);

    if (ctx == NULL
        || !ngx_http_ds_decided(ctx)
        || ngx_http_ds_answered(ctx)
        || !ctx->verdict.allow
        || ctx->file != NULL            /* a download is data, not NDJSON */
        || r->err_status)
    {
        return ngx_http_next_header_filter(r);
    }

    conf = ngx_http_get_module_loc_conf(r, ngx_http_ds_query_filter_module);

    disclose = (ctx->path.op == DS_OP_QUERY_TABLE
                || ctx->path.op == DS_OP_QUERY_CHANGES
                || ctx->path.op == DS_OP_QUERY_POLL);

    /* in file proxy mode metadata answers lose "dir" access too */
    if (!disclose
        && !(conf->files_proxy && ctx->path.op == DS_OP_TABLE_METADATA))
    {
        return ngx_http_next_header_filter(r);
    }

    if (r->headers_out.status != NGX_HTTP_OK) {
        if (r->headers_out.status > NGX_HTTP_OK
            && r->headers_out.status < NGX_HTTP_MOVED_PERMANENTLY)
        {
            /* a part of an answer cannot be read line by line */
            ngx_http_ds_upstream_invalid(r, ctx, "the answer is not a 200");
            return ngx_http_filter_finalize_request(r,
                       &ngx_http_ds_query_filter_module,
                       NGX_HTTP_BAD_GATEWAY);
        }

        return ngx_http_next_header_filter(r);
    }

    ce = r->headers_out.content_encoding;

    if (ce && ce->hash && ce->value.len
        && !(ce->value.len == 8
             && ngx_strncasecmp(ce->value.data, (u_char *) "identity", 8)
                == 0))
    {
        ngx_http_ds_upstream_invalid(r, ctx, "the answer is content-encoded");
        return ngx_http_filter_finalize_request(r,
                   &ngx_http_ds_query_filter_module, NGX_HTTP_BAD_GATEWAY);
    }

    if (ngx_http_ds_query_start(r, ctx, conf, disclose) != NGX_OK) {
        return NGX_ERROR;
    }

    if (conf->files_proxy) {
        /* the links change, so does the body */
        ngx_http_clear_content_length(r);
        ngx_http_clear_etag(r);
        ngx_http_clear_last_modified(r);
    }

    ngx_http_clear_accept_ranges(r);
    r->allow_ranges = 0;
    r->filter_need_in_memory = 1;

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_ds_query_start(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ngx_http_ds_query_conf_t *conf, ngx_uint_t disclose)
{
    ds_disclosure_t          *d;
    ngx_pool_cleanup_t       *cln;
    ds_disclose_conf_t        dc;
    ngx_http_ds_query_ctx_t  *qctx;

    qctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ds_query_ctx_t));
    d = ngx_pcalloc(r->pool, sizeof(ds_disclosure_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (qctx == NULL || d == NULL || cln == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(&dc, sizeof(ds_disclose_conf_t));
    dc.max_line = conf->line_max;

    if (conf->files_proxy
        && ngx_http_ds_query_proxy_conf(r, ctx, conf, &dc) != NGX_OK)
    {
        return NGX_ERROR;
    }

    qctx->reader = ds_disclose_new(&dc, d);
    if (qctx->reader == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_ds_query_cleanup;
    cln->data = qctx->reader;

    qctx->last_out = &qctx->out;

    if (disclose) {
        ngx_http_ds_query_table_version(r, d);
        ctx->disclosure = d;
    }

    ngx_http_set_ctx(r, qctx, ngx_http_ds_query_filter_module);

    return NGX_OK;
}


/* what each capability of this answer is bound to */
static ngx_int_t
ngx_http_ds_query_proxy_conf(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ngx_http_ds_query_conf_t *conf, ds_disclose_conf_t *dc)
{
    ngx_str_t   prefix;
    ngx_time_t *tp;

    dc->ring = ngx_http_ds_files_ring(r);
    if (dc->ring == NULL) {
        /* refused at configuration time; never proxy without a key */
        return NGX_ERROR;
    }

    if (ngx_http_complex_value(r, conf->files_proxy, &prefix) != NGX_OK) {
        return NGX_ERROR;
    }

    dc->prefix = (const char *) prefix.data;
    dc->prefix_len = prefix.len;

    dc->base.recipient = ctx->verdict.recipient_id;
    dc->base.recipient_len = ngx_strlen(ctx->verdict.recipient_id);
    dc->base.token_id = ctx->verdict.token_id;
    dc->base.token_id_len = ngx_strlen(ctx->verdict.token_id);
    dc->base.share = ctx->path.share;
    dc->base.share_len = ctx->path.share_len;
    dc->base.schema = ctx->path.schema;
    dc->base.schema_len = ctx->path.schema_len;
    dc->base.table = ctx->path.table;
    dc->base.table_len = ctx->path.table_len;
    dc->base.purpose = (const char *) ctx->purpose.data;
    dc->base.purpose_len = ctx->purpose.len;

    tp = ngx_timeofday();
    dc->now_ms = (int64_t) tp->sec * 1000 + tp->msec;
    dc->max_ttl_ms = ngx_http_ds_files_max_ttl(r);
    dc->strip_dir = 1;

    return NGX_OK;
}


static void
ngx_http_ds_query_table_version(ngx_http_request_t *r, ds_disclosure_t *d)
{
    ngx_int_t         n;
    ngx_table_elt_t  *h;

    static ngx_str_t  name = ngx_string("Delta-Table-Version");

    h = ngx_http_ds_find_header(r, &name);
    if (h == NULL) {
        return;
    }

    n = ngx_atoi(h->value.data, h->value.len);

    if (n != NGX_ERROR) {
        d->table_version = n;
        d->has_table_version = 1;
    }
}


static ngx_int_t
ngx_http_ds_query_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_int_t                 rc;
    ngx_chain_t              *none;
    ngx_http_ds_query_ctx_t  *qctx;

    qctx = ngx_http_get_module_ctx(r, ngx_http_ds_query_filter_module);

    if (qctx == NULL || qctx->done) {
        if (qctx && qctx->cut) {
            /* nothing after a refused line, ever */
            return NGX_ERROR;
        }

        return ngx_http_next_body_filter(r, in);
    }

    if (in && ngx_chain_add_copy(r->pool, &qctx->in, in) != NGX_OK) {
        return NGX_ERROR;
    }

    /* buffers the client has taken since the last call are free again */
    none = NULL;
    ngx_chain_update_chains(r->pool, &qctx->free, &qctx->busy, &none,
                            (ngx_buf_tag_t) &ngx_http_ds_query_filter_module);

    rc = ngx_http_ds_query_read(r, qctx);

    if (rc == NGX_ERROR) {
        r->buffered &= ~NGX_HTTP_DS_QUERY_BUFFERED;
        return NGX_ERROR;
    }

    if (rc == NGX_AGAIN) {
        r->buffered |= NGX_HTTP_DS_QUERY_BUFFERED;
    } else {
        r->buffered &= ~NGX_HTTP_DS_QUERY_BUFFERED;
    }

    if (qctx->out == NULL && !qctx->flush) {
        return qctx->busy ? NGX_AGAIN : NGX_OK;
    }

    qctx->flush = 0;

    rc = ngx_http_next_body_filter(r, qctx->out);

    ngx_chain_update_chains(r->pool, &qctx->free, &qctx->busy, &qctx->out,
                            (ngx_buf_tag_t) &ngx_http_ds_query_filter_module);
    qctx->last_out = &qctx->out;

    return rc;
}


/* input through the reader into qctx->out, while buffers last */
static ngx_int_t
ngx_http_ds_query_read(ngx_http_request_t *r, ngx_http_ds_query_ctx_t *qctx)
{
    ngx_int_t   rc;
    ngx_buf_t  *b;

    for ( ;; ) {
        rc = ngx_http_ds_query_drain(r, qctx);

        if (rc != NGX_OK) {
            /* NGX_AGAIN: all buffers out; the input waits, and with it
             * the upstream */
            return rc;
        }

        if (qctx->in == NULL) {
            break;
        }

        b = qctx->in->buf;
        qctx->in = qctx->in->next;

        if (b->flush) {
            qctx->flush = 1;
        }

        if (ngx_buf_size(b)) {
            if (!ngx_buf_in_memory(b)) {
                return ngx_http_ds_query_cut(r, qctx,
                                             "the answer is not in memory");
            }

            if (ds_disclose_feed(qctx->reader, (const char *) b->pos,
                                 b->last - b->pos)
                != 0)
            {
                return ngx_http_ds_query_cut(r, qctx, NULL);
            }

            b->pos = b->last;
        }

        if (b->in_file) {
            b->file_pos = b->file_last;
        }

        if (b->last_buf) {
            if (ds_disclose_finish(qctx->reader) != 0) {
                return ngx_http_ds_query_cut(r, qctx, NULL);
            }

            qctx->last = 1;
        }
    }

    /* all read and copied: what is filled goes now, the end with it */
    return ngx_http_ds_query_push(r, qctx, qctx->last);
}


static ngx_int_t
ngx_http_ds_query_drain(ngx_http_request_t *r, ngx_http_ds_query_ctx_t *qctx)
{
    size_t        len, n;
    const char   *p;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    for ( ;; ) {
        p = ds_disclose_pending(qctx->reader, &len);

        if (len == 0) {
            return NGX_OK;
        }

        b = qctx->buf;

        if (b == NULL) {
            if (qctx->free) {
                cl = qctx->free;
                qctx->free = cl->next;
                b = cl->buf;
                ngx_free_chain(r->pool, cl);

                b->pos = b->start;
                b->last = b->start;
                b->flush = 0;
                b->last_buf = 0;

            } else if (qctx->nbufs < NGX_HTTP_DS_QUERY_BUFS) {
                b = ngx_create_temp_buf(r->pool, NGX_HTTP_DS_QUERY_BUF_SIZE);
                if (b == NULL) {
                    return NGX_ERROR;
                }

                b->tag = (ngx_buf_tag_t) &ngx_http_ds_query_filter_module;
                b->recycled = 1;
                qctx->nbufs++;

            } else {
                return NGX_AGAIN;
            }

            qctx->buf = b;
        }

        n = ngx_min(len, (size_t) (b->end - b->last));
        b->last = ngx_cpymem(b->last, p, n);
        ds_disclose_take(qctx->reader, n);

        if (b->last == b->end && ngx_http_ds_query_push(r, qctx, 0)
                                 != NGX_OK)
        {
            return NGX_ERROR;
        }
    }
}


/* the buffer being filled joins the output; last: the answer ends */
static ngx_int_t
ngx_http_ds_query_push(ngx_http_request_t *r, ngx_http_ds_query_ctx_t *qctx,
    ngx_uint_t last)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    b = qctx->buf;

    if (b == NULL && !last && !qctx->flush) {
        return NGX_OK;
    }

    if (b == NULL) {
        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->tag = (ngx_buf_tag_t) &ngx_http_ds_query_filter_module;
    }

    qctx->buf = NULL;

    if (last) {
        b->last_buf = (r == r->main) ? 1 : 0;
        b->last_in_chain = 1;
        qctx->done = 1;
    }

    if (qctx->flush) {
        b->flush = 1;
    }

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;
    *qctx->last_out = cl;
    qctx->last_out = &cl->next;

    return NGX_OK;
}


/*
 * The reader refused a line (why NULL: it says why): the lines before
 * it went out, nothing else will, and the audit says so.
 */
static ngx_int_t
ngx_http_ds_query_cut(ngx_http_request_t *r, ngx_http_ds_query_ctx_t *qctx,
    const char *why)
{
    ngx_http_ds_ctx_t  *ctx;

    ctx = ngx_http_ds_get_ctx(r);

    if (ctx && ctx->disclosure) {
        if (why) {
            ctx->disclosure->cut = why;
        }
        why = ctx->disclosure->cut;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "ds: query answer from upstream cut (%s)",
                  why ? why : "unreadable");

    if (ctx) {
        ctx->verdict.reason = DS_REASON_UPSTREAM_INVALID;
    }

    qctx->done = 1;
    qctx->cut = 1;

    return NGX_ERROR;
}


static void
ngx_http_ds_query_cleanup(void *data)
{
    ds_disclose_free(data);
}


/* ------------------------------------------------------- variables */

typedef enum {
    NGX_HTTP_DS_DV_FILES = 0,
    NGX_HTTP_DS_DV_BYTES,
    NGX_HTTP_DS_DV_RECORDS,
    NGX_HTTP_DS_DV_EXPOSED_UNTIL,
    NGX_HTTP_DS_DV_TABLE_VERSION
} ngx_http_ds_dv_e;


static ngx_int_t
ngx_http_ds_disclosed_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    int64_t             n;
    u_char             *p;
    ds_disclosure_t    *d;
    ngx_http_ds_ctx_t  *ctx;

    ctx = ngx_http_ds_get_ctx(r);
    d = ctx ? ctx->disclosure : NULL;

    switch (data) {
    case NGX_HTTP_DS_DV_FILES:
        n = d ? d->files : -1;
        break;
    case NGX_HTTP_DS_DV_BYTES:
        n = d ? d->bytes : -1;
        break;
    case NGX_HTTP_DS_DV_RECORDS:
        n = (d && d->has_records) ? d->records : -1;
        break;
    case NGX_HTTP_DS_DV_EXPOSED_UNTIL:
        n = (d && d->exposed_until) ? d->exposed_until : -1;
        break;
    default:
        n = (d && d->has_table_version) ? d->table_version : -1;
    }

    if (n < 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_sprintf(p, "%L", n) - p;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


static ngx_http_variable_t  ngx_http_ds_query_vars[] = {

    { ngx_string("ds_disclosed_files"), NULL,
      ngx_http_ds_disclosed_variable, NGX_HTTP_DS_DV_FILES,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ds_disclosed_bytes"), NULL,
      ngx_http_ds_disclosed_variable, NGX_HTTP_DS_DV_BYTES,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ds_disclosed_records"), NULL,
      ngx_http_ds_disclosed_variable, NGX_HTTP_DS_DV_RECORDS,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ds_exposed_until"), NULL,
      ngx_http_ds_disclosed_variable, NGX_HTTP_DS_DV_EXPOSED_UNTIL,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ds_table_version"), NULL,
      ngx_http_ds_disclosed_variable, NGX_HTTP_DS_DV_TABLE_VERSION,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_ds_query_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_ds_query_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/* --------------------------------------------------- configuration */

/* ds_files_proxy URL | off: the gateway URL capabilities are put under */
static char *
ngx_http_ds_files_proxy(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ds_query_conf_t  *qcf = conf;

    ngx_str_t                         *value;
    ngx_http_compile_complex_value_t   ccv;
    ngx_http_ds_query_main_conf_t     *qmcf;

    if (qcf->files_proxy != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        qcf->files_proxy = NULL;
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value[1].data, "https://", 8) != 0
        && ngx_strncmp(value[1].data, "http://", 7) != 0
        && value[1].data[0] != '$')
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ds_files_proxy\" needs the absolute URL the "
                           "partner downloads from (\"https://...\"), "
                           "not \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (value[1].data[value[1].len - 1] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ds_files_proxy\" URL must end with \"/\": "
                           "the capability is its last path segment");
        return NGX_CONF_ERROR;
    }

    qcf->files_proxy = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (qcf->files_proxy == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = qcf->files_proxy;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    qmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_ds_query_filter_module);
    qmcf->files_proxy = 1;

    (void) cmd;

    return NGX_CONF_OK;
}


static void *
ngx_http_ds_query_create_main_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_ds_query_main_conf_t));
}


static void *
ngx_http_ds_query_create_conf(ngx_conf_t *cf)
{
    ngx_http_ds_query_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ds_query_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->line_max = NGX_CONF_UNSET_SIZE;
    conf->files_proxy = NGX_CONF_UNSET_PTR;

    return conf;
}


static char *
ngx_http_ds_query_merge_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ds_query_conf_t *prev = parent;
    ngx_http_ds_query_conf_t *conf = child;

    ngx_conf_merge_size_value(conf->line_max, prev->line_max,
                              DS_DISCLOSE_LINE_DEFAULT);
    ngx_conf_merge_ptr_value(conf->files_proxy, prev->files_proxy, NULL);

    if (conf->line_max < 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ds_query_line_max_size\" must be at least 1k");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_ds_query_init(ngx_conf_t *cf)
{
    ngx_http_ds_query_main_conf_t  *qmcf;

    qmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_ds_query_filter_module);

    if (qmcf->files_proxy && !ngx_http_ds_files_keyed(cf)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ds_files_proxy\" requires \"ds_files_key\": "
                           "capabilities are sealed with it");
        return NGX_ERROR;
    }

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_ds_query_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_ds_query_body_filter;

    return NGX_OK;
}
