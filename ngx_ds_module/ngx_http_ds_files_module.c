/*
 * ngx_http_ds_files_module: the download location of file proxy mode
 * (docs/dataplane.md).
 *
 * A partner in file proxy mode is handed gateway URLs whose last
 * segment is a capability (core/ds_capability.c): the original
 * pre-signed URL sealed with what it is bound to. In a location with
 * "ds_files on" the access handler of ngx_http_ds_module opens it here,
 * re-checks it live against the policy (core/ds_decide_file.c), then
 * runs the same revocation check and rate limit as for API calls. Only
 * an allowed download gets $ds_file_url, the original URL, which a
 * plain "proxy_pass $ds_file_url;" streams (Range, HEAD as nginx does).
 *
 * On the way back, nothing of the object store but the bytes and an
 * allow-list of headers reaches the client: any status other than 200,
 * 206, 304 and 416 becomes our JSON error (its XML body, naming buckets
 * and keys, never passes). The header filter runs after the guard's, so
 * nginx's own answers are already the guard's.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds_files.h"
#include "ngx_http_ds_geo.h"

#include "ds_decide_file.h"
#include "ds_http.h"


#define NGX_HTTP_DS_FILES_KEY_FILE_MAX  512
#define NGX_HTTP_DS_FILES_RANGE_MAX     128


typedef struct {
    ngx_array_t             *keys;          /* ds_cap_key_t */
    ds_cap_ring_t            ring;
    ngx_msec_t               max_ttl;
} ngx_http_ds_files_main_conf_t;


typedef struct {
    ngx_flag_t               files;
} ngx_http_ds_files_loc_conf_t;


/* one download, on ngx_http_ds_ctx_t.file (survives internal redirects) */
typedef struct {
    ngx_str_t                url;           /* empty unless opened */
    ngx_str_t                file_id;
    ngx_str_t                range;         /* as sent, capped */
    ds_file_names_t          names;
    unsigned                 opened:1;      /* claims known (also expired) */
} ngx_http_ds_file_t;


/* the replacement of an object store's refusal */
typedef struct {
    ngx_buf_t               *body;
    unsigned                 sent:1;
} ngx_http_ds_files_ctx_t;


static ngx_int_t ngx_http_ds_files_opened(ngx_http_request_t *r,
    ngx_http_ds_main_conf_t *dmcf, ngx_http_ds_ctx_t *ctx,
    ngx_http_ds_file_t *f, ds_cap_claims_t *c, ds_cap_result_t rc);
static void ngx_http_ds_files_names(ngx_http_ds_ctx_t *ctx,
    ngx_http_ds_file_t *f);
static ngx_int_t ngx_http_ds_files_url_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static void ngx_http_ds_files_keep_headers(ngx_http_request_t *r);
static ngx_int_t ngx_http_ds_files_replace(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx);
static char *ngx_http_ds_files_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_http_ds_files_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_ds_files_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_ds_files_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ds_files_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_ds_files_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_ds_files_init(ngx_conf_t *cf);


static ngx_command_t  ngx_http_ds_files_commands[] = {

    { ngx_string("ds_files_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_ds_files_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ds_files_max_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_ds_files_main_conf_t, max_ttl),
      NULL },

    { ngx_string("ds_files"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ds_files_loc_conf_t, files),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_ds_files_module_ctx = {
    ngx_http_ds_files_add_variables,       /* preconfiguration */
    ngx_http_ds_files_init,                /* postconfiguration */

    ngx_http_ds_files_create_main_conf,    /* create main configuration */
    ngx_http_ds_files_init_main_conf,      /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_ds_files_create_loc_conf,     /* create location configuration */
    ngx_http_ds_files_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_http_ds_files_module = {
    NGX_MODULE_V1,
    &ngx_http_ds_files_module_ctx,         /* module context */
    ngx_http_ds_files_commands,            /* module directives */
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


/* upstream headers a download keeps; RateLimit-* are ours */
static ngx_str_t  ngx_http_ds_files_keep[] = {
    ngx_string("content-type"),
    ngx_string("content-length"),
    ngx_string("content-range"),
    ngx_string("accept-ranges"),
    ngx_string("etag"),
    ngx_string("last-modified"),
    ngx_string("ratelimit-limit"),
    ngx_string("ratelimit-remaining"),
    ngx_string("ratelimit-reset"),
    ngx_null_string
};


/* ------------------------------------------------- for other modules */

const ds_cap_ring_t *
ngx_http_ds_files_ring(ngx_http_request_t *r)
{
    ngx_http_ds_files_main_conf_t  *fmcf;

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_ds_files_module);

    return fmcf->ring.nkeys ? &fmcf->ring : NULL;
}


ngx_uint_t
ngx_http_ds_files_keyed(ngx_conf_t *cf)
{
    ngx_http_ds_files_main_conf_t  *fmcf;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ds_files_module);

    return fmcf->keys != NULL && fmcf->keys->nelts > 0;
}


ngx_msec_t
ngx_http_ds_files_max_ttl(ngx_http_request_t *r)
{
    ngx_http_ds_files_main_conf_t  *fmcf;

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_ds_files_module);

    return fmcf->max_ttl;
}


ngx_uint_t
ngx_http_ds_files_enabled(ngx_http_request_t *r)
{
    ngx_http_ds_files_loc_conf_t  *flcf;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_ds_files_module);

    return flcf->files == 1;
}


/* ------------------------------------------------------ the decision */

void
ngx_http_ds_files_decide(ngx_http_request_t *r,
    ngx_http_ds_main_conf_t *dmcf, ngx_http_ds_ctx_t *ctx)
{
    u_char                         *p, *end, *last;
    size_t                          len;
    int64_t                         now;
    ngx_time_t                     *tp;
    ds_cap_claims_t                 c;
    ds_cap_result_t                 rc;
    unsigned char                  *buf;
    ngx_http_ds_file_t             *f;
    ngx_http_ds_files_main_conf_t  *fmcf;

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_ds_files_module);

    ctx->policy = dmcf->policy;
    ctx->path_err = DS_PATH_OK;
    ctx->path.op = DS_OP_UNKNOWN;

    f = ngx_pcalloc(r->pool, sizeof(ngx_http_ds_file_t));
    if (f == NULL) {
        ds_decide_file_link(DS_CAP_ERROR, &ctx->verdict);
        ngx_http_ds_set_state(r, ctx, NGX_HTTP_DS_DECIDED);
        return;
    }

    ctx->file = f;

    if (r->headers_in.range) {
        f->range = r->headers_in.range->value;
        f->range.len = ngx_min(f->range.len, NGX_HTTP_DS_FILES_RANGE_MAX);
    }

    /* the capability: the last segment of the raw path */
    p = r->unparsed_uri.data;
    end = p + r->unparsed_uri.len;
    last = ngx_strlchr(p, end, '?');
    end = last ? last : end;

    for (last = end; last > p && last[-1] != '/'; last--) { /* void */ }

    len = end - last;

    buf = ngx_pnalloc(r->pool, len ? len : 1);
    if (buf == NULL) {
        ds_decide_file_link(DS_CAP_ERROR, &ctx->verdict);
        ngx_http_ds_set_state(r, ctx, NGX_HTTP_DS_DECIDED);
        return;
    }

    tp = ngx_timeofday();
    now = (int64_t) tp->sec * 1000 + tp->msec;

    rc = ds_cap_open(fmcf->ring.nkeys ? &fmcf->ring : NULL,
                     (const char *) last, len, now, buf, len ? len : 1, &c);

    if (rc == DS_CAP_OK || rc == DS_CAP_EXPIRED) {
        if (ngx_http_ds_files_opened(r, dmcf, ctx, f, &c, rc) == NGX_OK) {
            ngx_http_ds_set_state(r, ctx, NGX_HTTP_DS_DECIDED);
            return;
        }

        rc = DS_CAP_ERROR;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "ds_files: file link refused: %s", ds_cap_result_name(rc));

    ds_decide_file_link(rc, &ctx->verdict);
    ngx_http_ds_set_state(r, ctx, NGX_HTTP_DS_DECIDED);
}


static ngx_int_t
ngx_http_ds_files_opened(ngx_http_request_t *r,
    ngx_http_ds_main_conf_t *dmcf, ngx_http_ds_ctx_t *ctx,
    ngx_http_ds_file_t *f, ds_cap_claims_t *c, ds_cap_result_t rc)
{
    u_char      *rid;
    ngx_time_t  *tp;

    f->file_id.data = (u_char *) c->file_id;
    f->file_id.len = c->file_id_len;

    if (rc == DS_CAP_EXPIRED) {
        ds_decide_file_link(rc, &ctx->verdict);

        /* whose link it was, for the audit; the policy is not asked */
        rid = ngx_pnalloc(r->pool, c->recipient_len + 1);
        if (rid == NULL
            || ds_decide_file_names(c, &f->names) != 0)
        {
            return NGX_ERROR;
        }

        ngx_memcpy(rid, c->recipient, c->recipient_len);
        rid[c->recipient_len] = '\0';
        ctx->verdict.recipient_id = (const char *) rid;
        ctx->verdict.token_id = f->names.token_id;

        f->opened = 1;
        ngx_http_ds_files_names(ctx, f);

        return NGX_OK;
    }

    if (r->method != NGX_HTTP_GET && r->method != NGX_HTTP_HEAD) {
        ctx->verdict.allow = 0;
        ctx->verdict.reason = DS_REASON_BAD_REQUEST;
        ctx->verdict.http_status = NGX_HTTP_NOT_ALLOWED;
        ngx_cpystrn((u_char *) ctx->verdict.detail,
                    (u_char *) "A file is downloaded with GET or HEAD",
                    sizeof(ctx->verdict.detail));
        return NGX_OK;
    }

    if (dmcf->geo) {
        ctx->geo = 1;
        ctx->country_len = ngx_http_ds_geo_country(dmcf->geo,
                                                   r->connection->log,
                                                   r->connection->sockaddr,
                                                   ctx->country);
    }

    tp = ngx_timeofday();

    ds_decide_file(dmcf->policy, c, dmcf->geo ? (const char *) ctx->country
                                              : NULL,
                   r->connection->sockaddr,
                   (int64_t) tp->sec * 1000 + tp->msec, &f->names,
                   &ctx->verdict);

    f->opened = 1;
    ngx_http_ds_files_names(ctx, f);

    if (ctx->verdict.allow) {
        f->url.data = (u_char *) c->url;
        f->url.len = c->url_len;
    }

    return NGX_OK;
}


/* the names of the link where the audit and $ds_* variables read them */
static void
ngx_http_ds_files_names(ngx_http_ds_ctx_t *ctx, ngx_http_ds_file_t *f)
{
    size_t  n;

    ctx->path.op = DS_OP_QUERY_TABLE;

    ctx->path.share_len = ngx_strlen(f->names.share);
    ngx_memcpy(ctx->path.share, f->names.share, ctx->path.share_len + 1);
    ctx->path.schema_len = ngx_strlen(f->names.schema);
    ngx_memcpy(ctx->path.schema, f->names.schema, ctx->path.schema_len + 1);
    ctx->path.table_len = ngx_strlen(f->names.table);
    ngx_memcpy(ctx->path.table, f->names.table, ctx->path.table_len + 1);

    n = ngx_strlen(f->names.purpose);

    if (n && ds_purpose_valid(f->names.purpose, n)) {
        ctx->purpose.data = (u_char *) f->names.purpose;
        ctx->purpose.len = n;

    } else if (ctx->verdict.purpose
               && ds_purpose_valid(ctx->verdict.purpose,
                                   ctx->verdict.purpose_len))
    {
        /* the token's own purpose: its text lives in the policy */
        ctx->purpose.data = (u_char *) ctx->verdict.purpose;
        ctx->purpose.len = ctx->verdict.purpose_len;
    }
}


/* ------------------------------------------------- $ds_file_url */

static ngx_int_t
ngx_http_ds_files_url_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_ds_ctx_t   *ctx;
    ngx_http_ds_file_t  *f;

    ctx = ngx_http_ds_get_ctx(r);
    f = ctx ? ctx->file : NULL;

    /* only once the limiter let the download go on */
    if (f == NULL || f->url.len == 0 || !ctx->verdict.allow
        || ctx->state != NGX_HTTP_DS_PASSED)
    {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = f->url.data;
    v->len = f->url.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/* -------------------------------------------------- on the way back */

static ngx_int_t
ngx_http_ds_files_header_filter(ngx_http_request_t *r)
{
    ngx_uint_t          status;
    ngx_http_ds_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_ds_get_ctx(r);

    /* not a download, or an answer of ours (a denial, the guard's) */
    if (ctx == NULL || ctx->file == NULL || ngx_http_ds_answered(ctx)
        || ctx->guarded)
    {
        return ngx_http_next_header_filter(r);
    }

    status = r->headers_out.status;

    if (r->err_status == 0
        && (status == NGX_HTTP_OK || status == NGX_HTTP_PARTIAL_CONTENT
            || status == NGX_HTTP_NOT_MODIFIED
            || status == NGX_HTTP_RANGE_NOT_SATISFIABLE))
    {
        ngx_http_ds_files_keep_headers(r);
        return ngx_http_next_header_filter(r);
    }

    return ngx_http_ds_files_replace(r, ctx);
}


/* hide every upstream header but the allow-list */
static void
ngx_http_ds_files_keep_headers(ngx_http_request_t *r)
{
    ngx_http_ds_hide_headers(r, ngx_http_ds_files_keep);

    /* the special ones nginx writes from their own fields */
    r->headers_out.content_encoding = NULL;
    r->headers_out.location = NULL;
    r->headers_out.refresh = NULL;
    r->headers_out.expires = NULL;
    r->headers_out.www_authenticate = NULL;

#if (nginx_version >= 1023000)
    r->headers_out.cache_control = NULL;
    r->headers_out.link = NULL;
#else
    r->headers_out.cache_control.nelts = 0;
    r->headers_out.link.nelts = 0;
#endif
}


static ngx_int_t
ngx_http_ds_files_replace(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx)
{
    ngx_http_ds_files_ctx_t  *fctx;

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "ds_files: the object store answered %ui: replaced",
                  r->err_status ? r->err_status : r->headers_out.status);

    fctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ds_files_ctx_t));
    if (fctx == NULL) {
        return NGX_ERROR;
    }

    /* the audit says why: decision error, file_store_error */
    ctx->guarded = 1;
    ctx->verdict.allow = 0;
    ctx->verdict.reason = DS_REASON_FILE_STORE_ERROR;
    ctx->verdict.http_status = ds_reason_http_status(
                                   DS_REASON_FILE_STORE_ERROR);

    fctx->body = ngx_http_ds_error_body(r, DS_REASON_FILE_STORE_ERROR, NULL);
    if (fctx->body == NULL) {
        return NGX_ERROR;
    }

    fctx->body->last_buf = 1;
    fctx->body->last_in_chain = 1;

    ngx_http_set_ctx(r, fctx, ngx_http_ds_files_module);

    ngx_http_ds_reset_headers(r);

    r->err_status = 0;
    ngx_http_ds_json_headers(r, ctx->verdict.http_status, fctx->body);
    r->allow_ranges = 0;

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_ds_files_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t              *cl, out;
    ngx_http_ds_files_ctx_t  *fctx;

    fctx = ngx_http_get_module_ctx(r, ngx_http_ds_files_module);

    if (fctx == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    /* the store's body (its XML error) is dropped */
    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    if (fctx->sent || r->header_only) {
        return (in == NULL) ? ngx_http_next_body_filter(r, NULL) : NGX_OK;
    }

    fctx->sent = 1;

    out.buf = fctx->body;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


/* ------------------------------------------------------------ audit */

void
ngx_http_ds_files_audit(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ds_audit_req_t *rq)
{
    u_char              *p, *end;
    ngx_http_ds_file_t  *f;

    f = ctx ? ctx->file : NULL;

    if (f == NULL) {
        return;
    }

    rq->action = ds_audit_cstr("deltaSharingDownloadFile");
    rq->operation = ds_audit_cstr("file_download");

    /* the capability is a bearer link until it expires: never recorded */
    if (rq->path.data) {
        p = (u_char *) rq->path.data;
        end = p + rq->path.len;

        while (end > p && end[-1] != '/') {
            end--;
        }

        rq->path.len = end - p;
    }

    rq->has_file = 1;

    if (f->opened) {
        rq->file_id.data = (const char *) f->file_id.data;
        rq->file_id.len = f->file_id.len;
    }

    if (f->range.len) {
        rq->file_range.data = (const char *) f->range.data;
        rq->file_range.len = f->range.len;
    }
}


/* ---------------------------------------------------- configuration */

static char *
ngx_http_ds_files_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ds_files_main_conf_t  *fmcf = conf;

    char           err[256];
    u_char         c, text[NGX_HTTP_DS_FILES_KEY_FILE_MAX];
    ssize_t        n;
    ngx_fd_t       fd;
    ngx_str_t     *value, name;
    ngx_uint_t     i;
    ngx_file_t     file;
    ds_cap_key_t  *k, *keys;

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > DS_CAP_KEY_ID_MAX) {
        return "has a key id of 1 to 16 characters of A-Z a-z 0-9 _ -";
    }

    for (i = 0; i < value[1].len; i++) {
        c = value[1].data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '-'))
        {
            return "has a key id of 1 to 16 characters of A-Z a-z 0-9 _ -";
        }
    }

    keys = fmcf->keys->elts;

    for (i = 0; i < fmcf->keys->nelts; i++) {
        if (ngx_strlen(keys[i].id) == value[1].len
            && ngx_strncmp(keys[i].id, value[1].data, value[1].len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ds_files_key: duplicate key id \"%V\"",
                               &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    name = value[2];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "ds_files_key \"%V\": cannot open \"%V\"",
                           &value[1], &name);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = name;
    file.log = cf->log;

    n = ngx_read_file(&file, text, sizeof(text), 0);

    ngx_close_file(fd);

    if (n == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    k = ngx_array_push(fmcf->keys);
    if (k == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(k, sizeof(ds_cap_key_t));
    ngx_memcpy(k->id, value[1].data, value[1].len);

    if (n == (ssize_t) sizeof(text)
        || ds_cap_key_parse((const char *) text, (size_t) n, k, err,
                            sizeof(err))
           != 0)
    {
        if (n == (ssize_t) sizeof(text)) {
            ngx_cpystrn((u_char *) err, (u_char *) "file too large",
                        sizeof(err));
        }

        ngx_explicit_memzero(text, sizeof(text));
        fmcf->keys->nelts--;

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_files_key \"%V\": \"%V\": %s",
                           &value[1], &name, err);
        return NGX_CONF_ERROR;
    }

    ngx_explicit_memzero(text, sizeof(text));

    return NGX_CONF_OK;
}


static void *
ngx_http_ds_files_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_ds_files_main_conf_t  *fmcf;

    fmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ds_files_main_conf_t));
    if (fmcf == NULL) {
        return NULL;
    }

    fmcf->keys = ngx_array_create(cf->pool, 2, sizeof(ds_cap_key_t));
    if (fmcf->keys == NULL) {
        return NULL;
    }

    fmcf->max_ttl = NGX_CONF_UNSET_MSEC;

    return fmcf;
}


static char *
ngx_http_ds_files_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_ds_files_main_conf_t  *fmcf = conf;

    ngx_conf_init_msec_value(fmcf->max_ttl, 3600000);

    if (fmcf->max_ttl == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_files_max_ttl must be more than 0");
        return NGX_CONF_ERROR;
    }

    fmcf->ring.keys = fmcf->keys->elts;
    fmcf->ring.nkeys = fmcf->keys->nelts;

    return NGX_CONF_OK;
}


static void *
ngx_http_ds_files_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ds_files_loc_conf_t  *flcf;

    flcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ds_files_loc_conf_t));
    if (flcf == NULL) {
        return NULL;
    }

    flcf->files = NGX_CONF_UNSET;

    return flcf;
}


static char *
ngx_http_ds_files_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ds_files_loc_conf_t  *prev = parent;
    ngx_http_ds_files_loc_conf_t  *conf = child;

    ngx_http_ds_loc_conf_t         *dlcf;
    ngx_http_ds_main_conf_t        *dmcf;
    ngx_http_core_loc_conf_t       *clcf;
    ngx_http_ds_files_main_conf_t  *fmcf;

    ngx_conf_merge_value(conf->files, prev->files, 0);

    if (!conf->files) {
        return NGX_CONF_OK;
    }

    /* http{} is parsed whole before merging: keys and policy are known */
    dmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ds_module);
    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ds_files_module);
    dlcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_ds_module);
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (dmcf->policy == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ds_files on\" requires \"ds_policy\" at the "
                           "http level");
        return NGX_CONF_ERROR;
    }

    if (fmcf->keys->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ds_files on\" requires \"ds_files_key\" at "
                           "the http level");
        return NGX_CONF_ERROR;
    }

    if (dlcf->enforce) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ds_files on\" and \"ds_enforce on\" in the "
                           "same location \"%V\": downloads have a "
                           "location of their own", &clcf->name);
        return NGX_CONF_ERROR;
    }

    if (clcf->satisfy == NGX_HTTP_SATISFY_ANY) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ds_files on\" cannot be used with "
                           "\"satisfy any\" in location \"%V\"",
                           &clcf->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_ds_files_add_variables(ngx_conf_t *cf)
{
    ngx_str_t             name = ngx_string("ds_file_url");
    ngx_http_variable_t  *var;

    var = ngx_http_add_variable(cf, &name, NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_http_ds_files_url_variable;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ds_files_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_ds_files_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_ds_files_body_filter;

    return NGX_OK;
}
