/*
 * ngx_http_ds_audit_module: one sealed audit record per request to an
 * enforced location, filled at the log phase from what the request
 * did and handed to its sink (ngx_http_ds_audit_sink.c). The record
 * itself is built by the core (ds_audit.c).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ngx_http_ds.h"
#include "ngx_http_ds_audit.h"
#include "ngx_http_ds_files.h"


/*
 * Per request, in a pool cleanup so that it survives internal redirects
 * (which wipe r->ctx): the destination of the first audited location
 * and the SHA-256 of the request body as it streams in.
 */
typedef struct {
    ngx_http_ds_audit_sink_t *sink;
    EVP_MD_CTX               *md;
    u_char                    digest[32];
    unsigned                  hashed:1;     /* digest complete */
    unsigned                  unhashable:1;
} ngx_http_ds_audit_req_t;


static ngx_int_t ngx_http_ds_audit_stash(ngx_http_request_t *r);
static ngx_http_ds_audit_req_t *ngx_http_ds_audit_state(
    ngx_http_request_t *r);
static void ngx_http_ds_audit_state_cleanup(void *data);
static ngx_int_t ngx_http_ds_audit_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_ds_audit_handler(ngx_http_request_t *r);
static void ngx_http_ds_audit_fill(ngx_http_request_t *r,
    ngx_http_ds_audit_main_conf_t *amcf, ngx_http_ds_ctx_t *ctx,
    ds_audit_req_t *rq);


static ngx_int_t ngx_http_ds_audit_init_process(ngx_cycle_t *cycle);
static void ngx_http_ds_audit_exit_process(ngx_cycle_t *cycle);

static void *ngx_http_ds_audit_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_ds_audit_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_ds_audit_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ds_audit_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_ds_audit_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ds_audit_query_args(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_ds_audit_postconfiguration(ngx_conf_t *cf);


static ngx_command_t  ngx_http_ds_audit_commands[] = {

    { ngx_string("ds_audit_log"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_ds_audit_log,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ds_audit_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_ds_audit_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ds_audit_instance"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_ds_audit_main_conf_t, instance),
      NULL },

    { ngx_string("ds_audit_checkpoint"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_ds_audit_checkpoint,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ds_audit_query_args"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_ds_audit_query_args,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_ds_audit_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_ds_audit_postconfiguration,   /* postconfiguration */

    ngx_http_ds_audit_create_main_conf,    /* create main configuration */
    ngx_http_ds_audit_init_main_conf,      /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_ds_audit_create_loc_conf,     /* create location configuration */
    ngx_http_ds_audit_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_http_ds_audit_module = {
    NGX_MODULE_V1,
    &ngx_http_ds_audit_module_ctx,         /* module context */
    ngx_http_ds_audit_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_ds_audit_init_process,        /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_ds_audit_exit_process,        /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* ---------------------------------------------------- rewrite phase */

static ngx_http_request_body_filter_pt  ngx_http_ds_audit_next_body_filter;


/*
 * Remember the destination of the first audited location the request
 * reached: an error_page or X-Accel-Redirect may end it in a location
 * that has no ds_audit_log, and its record must not be lost.
 */
static ngx_int_t
ngx_http_ds_audit_stash(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t            *cln;
    ngx_http_ds_audit_req_t       *st;
    ngx_http_ds_audit_loc_conf_t  *alcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_ds_audit_module);

    if (alcf->sink == NULL || ngx_http_ds_audit_state(r) != NULL) {
        return NGX_DECLINED;
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_ds_audit_req_t));
    if (cln == NULL) {
        return NGX_DECLINED;
    }

    st = cln->data;
    ngx_memzero(st, sizeof(ngx_http_ds_audit_req_t));
    st->sink = alcf->sink;

    cln->handler = ngx_http_ds_audit_state_cleanup;

    return NGX_DECLINED;
}


static ngx_http_ds_audit_req_t *
ngx_http_ds_audit_state(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t  *cln;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_ds_audit_state_cleanup) {
            return cln->data;
        }
    }

    return NULL;
}


static void
ngx_http_ds_audit_state_cleanup(void *data)
{
    ngx_http_ds_audit_req_t  *st = data;

    if (st->md) {
        EVP_MD_CTX_free(st->md);
        st->md = NULL;
    }
}


/*
 * Request body filter: hash the body as it passes on its way to the
 * upstream (before nginx may spool it to a temporary file). Only the
 * digest is kept; any failure just leaves the record without it.
 */
static ngx_int_t
ngx_http_ds_audit_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t                *b;
    ngx_chain_t              *cl;
    ngx_http_ds_audit_req_t  *st;

    st = (r == r->main) ? ngx_http_ds_audit_state(r) : NULL;

    if (st == NULL || st->hashed || st->unhashable) {
        return ngx_http_ds_audit_next_body_filter(r, in);
    }

    if (st->md == NULL) {
        st->md = EVP_MD_CTX_new();

        if (st->md == NULL
            || EVP_DigestInit_ex(st->md, EVP_sha256(), NULL) != 1)
        {
            st->unhashable = 1;
            return ngx_http_ds_audit_next_body_filter(r, in);
        }
    }

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            if (b->last > b->pos
                && EVP_DigestUpdate(st->md, b->pos, b->last - b->pos) != 1)
            {
                st->unhashable = 1;
                break;
            }

        } else if (b->in_file) {
            st->unhashable = 1;
            break;
        }

        if (b->last_buf) {
            if (EVP_DigestFinal_ex(st->md, st->digest, NULL) == 1) {
                st->hashed = 1;
            } else {
                st->unhashable = 1;
            }
            break;
        }
    }

    if (st->hashed || st->unhashable) {
        EVP_MD_CTX_free(st->md);
        st->md = NULL;
    }

    return ngx_http_ds_audit_next_body_filter(r, in);
}


/* -------------------------------------------------------- log phase */

/*
 * A request without a context is recorded when nginx answered it before
 * routing (a 400 on a bad request line, a 414, a URI no location
 * matches). Every answer out of an enforced location has a context: the
 * access check makes it, and the guard makes one for each answer of
 * nginx's it replaces (a 413 while the location was being chosen, a
 * redirect), so requests of unenforced locations stay out.
 */
static ngx_int_t
ngx_http_ds_audit_unrouted(ngx_http_request_t *r)
{
    ngx_http_core_srv_conf_t  *cscf;

    cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);

    return r->loc_conf == cscf->ctx->loc_conf;
}


static ngx_int_t
ngx_http_ds_audit_handler(ngx_http_request_t *r)
{
    char                           *line;
    size_t                          len;
    ds_audit_req_t                  rq;
    u_char                          hex[64];
    ngx_http_ds_ctx_t              *ctx;
    ngx_http_ds_audit_req_t        *st;
    ngx_http_ds_audit_sink_t       *sink;
    ngx_http_ds_audit_loc_conf_t   *alcf;
    ngx_http_ds_audit_main_conf_t  *amcf;

    if (r != r->main) {
        return NGX_OK;
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_ds_audit_module);

    st = ngx_http_ds_audit_state(r);
    sink = st ? st->sink : alcf->sink;

    if (sink == NULL || !sink->chain_ok) {
        return NGX_OK;
    }

    ctx = ngx_http_ds_get_ctx(r);

    if (ctx == NULL && !ngx_http_ds_audit_unrouted(r)) {
        return NGX_OK;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_ds_audit_module);

    ngx_http_ds_audit_fill(r, amcf, ctx, &rq);

    if (st && st->hashed) {
        ngx_hex_dump(hex, st->digest, sizeof(st->digest));
        rq.body_sha256.data = (const char *) hex;
        rq.body_sha256.len = sizeof(hex);
    }

    line = ds_audit_request_line(&sink->chain, sink->format, &rq, &len);
    ngx_http_ds_audit_emit(sink, line, len, r->connection->log);

    return NGX_OK;
}


static ds_audit_str_t
ngx_http_ds_audit_ngx_str(ngx_str_t *s)
{
    ds_audit_str_t  v;

    v.data = s->len ? (const char *) s->data : NULL;
    v.len = s->len;

    return v;
}


static ds_audit_str_t
ngx_http_ds_audit_var(ngx_http_request_t *r, ngx_int_t index)
{
    ds_audit_str_t              v;
    ngx_http_variable_value_t  *vv;

    v.data = NULL;
    v.len = 0;

    if (index == NGX_ERROR) {
        return v;
    }

    vv = ngx_http_get_indexed_variable(r, index);

    if (vv && !vv->not_found && vv->len) {
        v.data = (const char *) vv->data;
        v.len = vv->len;
    }

    return v;
}


/*
 * $request_id, given a value if nothing asked for it before the log
 * phase. nginx fills it from RAND_bytes(), which costs ~1.8 us here, as
 * much as building and sealing the whole record; ds_request_id gives an
 * id of the same form for ~35 ns. Stored as the variable's cached
 * value, it is also what the access log and later users of $request_id
 * see; an id that was already used (headers to the upstream) is kept.
 */
static ds_audit_str_t
ngx_http_ds_audit_request_id(ngx_http_request_t *r,
    ngx_http_ds_audit_main_conf_t *amcf)
{
    u_char                     *p;
    ngx_http_variable_value_t  *vv;

    if (amcf->request_id_index == NGX_ERROR || amcf->ids == NULL) {
        return ngx_http_ds_audit_var(r, amcf->request_id_index);
    }

    vv = &r->variables[amcf->request_id_index];

    if (!vv->valid && !vv->not_found) {
        p = ngx_pnalloc(r->pool, DS_REQUEST_ID_LEN);

        if (p && ds_request_id_next(amcf->ids, (char *) p) == 0) {
            vv->len = DS_REQUEST_ID_LEN;
            vv->data = p;
            vv->valid = 1;
            vv->no_cacheable = 0;
            vv->not_found = 0;
        }
    }

    return ngx_http_ds_audit_var(r, amcf->request_id_index);
}


static ds_audit_str_t
ngx_http_ds_audit_name(const char *s, size_t len)
{
    ds_audit_str_t  v;

    v.data = len ? s : NULL;
    v.len = len;

    return v;
}


static void
ngx_http_ds_audit_outcome(ngx_http_ds_ctx_t *ctx, ds_audit_req_t *rq,
    ngx_uint_t undelivered)
{
    static const char *const  decisions[] = { "allow", "deny", "error" };

    ds_reason_t            reason;
    ngx_http_ds_outcome_e  o;

    o = ngx_http_ds_outcome(ctx, rq->status, undelivered, &reason);

    rq->decision = ds_audit_cstr(decisions[o]);
    rq->reason = ds_audit_cstr(reason == DS_REASON_COUNT
                               ? NULL : ds_reason_name(reason));
}


static void
ngx_http_ds_audit_fill(ngx_http_request_t *r,
    ngx_http_ds_audit_main_conf_t *amcf, ngx_http_ds_ctx_t *ctx,
    ds_audit_req_t *rq)
{
    off_t            sent;
    u_char          *q;
    ngx_uint_t       undelivered, rl;
    ngx_msec_int_t   ms;
    ngx_time_t      *tp;
    ngx_str_t       *uri;

    ngx_memzero(rq, sizeof(ds_audit_req_t));

    tp = ngx_timeofday();
    rq->time_ms = (int64_t) tp->sec * 1000 + tp->msec;

    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));
    rq->duration_ms = ngx_max(ms, 0);

    rq->instance = ngx_http_ds_audit_ngx_str(&amcf->instance);
    rq->request_id = ngx_http_ds_audit_request_id(r, amcf);
    rq->upstream_status = ngx_http_ds_audit_var(r,
                                                amcf->upstream_status_index);

    rq->method = ngx_http_ds_audit_ngx_str(&r->method_name);

    /* the raw URI as the client sent it, split off the query string */
    uri = &r->unparsed_uri;
    q = uri->len ? ngx_strlchr(uri->data, uri->data + uri->len, '?') : NULL;
    rq->path.data = uri->len ? (const char *) uri->data : NULL;
    rq->path.len = q ? (size_t) (q - uri->data) : uri->len;
    if (q) {
        rq->args.data = (const char *) q + 1;
        rq->args.len = uri->data + uri->len - q - 1;
    }
    rq->query_allow = amcf->query_args;

    rq->client_ip = ngx_http_ds_audit_ngx_str(&r->connection->addr_text);
    if (r->headers_in.user_agent) {
        rq->user_agent = ngx_http_ds_audit_ngx_str(
                             &r->headers_in.user_agent->value);
    }

    rq->status = (int) ngx_http_ds_log_status(r, ctx, &undelivered);

    rq->request_length = r->request_length;

    sent = r->connection->sent;
    rq->bytes_sent = sent;
    sent -= r->header_size;
    rq->body_bytes_sent = ngx_max(sent, 0);

    ngx_http_ds_audit_outcome(ctx, rq, undelivered);

    if (ctx == NULL) {
        return;
    }

    rq->recipient = ds_audit_cstr(ctx->verdict.recipient_id);
    rq->token_id = ds_audit_cstr(ctx->verdict.token_id);

    if (ctx->path_err == DS_PATH_OK || ctx->path.op != DS_OP_UNKNOWN) {
        rq->action = ds_audit_cstr(ds_op_audit_name(ctx->path.op));
        rq->operation = ds_audit_cstr(ds_op_name(ctx->path.op));
    } else {
        rq->action = ds_audit_cstr(ds_op_audit_name(DS_OP_UNKNOWN));
    }

    rq->share = ngx_http_ds_audit_name(ctx->path.share, ctx->path.share_len);
    rq->schema = ngx_http_ds_audit_name(ctx->path.schema,
                                        ctx->path.schema_len);
    rq->table = ngx_http_ds_audit_name(ctx->path.table, ctx->path.table_len);
    rq->purpose = ngx_http_ds_audit_ngx_str(&ctx->purpose);
    rq->country = ngx_http_ds_audit_name((const char *) ctx->country,
                                         ctx->country_len);

    rl = ngx_http_ds_rl_state(ctx);

    if (rl != NGX_HTTP_DS_RL_NONE) {
        rq->rl_state = ngx_http_ds_audit_name(
                           (const char *) ngx_http_ds_rl_names[rl].data,
                           ngx_http_ds_rl_names[rl].len);
        rq->rl_limit = ctx->rl_limit;
        rq->rl_remaining = ctx->rl_remaining;
    }

    if (ds_op_is_list(ctx->path.op) && ngx_http_ds_decided(ctx)
        && ctx->verdict.allow
        && rq->status == NGX_HTTP_OK)
    {
        rq->has_items = 1;
        rq->items_in = ctx->items_in;
        rq->items_out = ctx->items_out;
    }

    if (ctx->policy) {
        rq->policy_version = ds_audit_cstr(ds_policy_digest(ctx->policy));
    }

    rq->disclosure = ctx->disclosure;
    ngx_http_ds_files_audit(r, ctx, rq);

    /* what the verdict kept of a JWT bearer; never the token itself */
    if (ngx_http_ds_decided(ctx) && ctx->verdict.jwt.present) {
        rq->has_jwt = 1;
        rq->jwt_issuer = ds_audit_cstr(ctx->verdict.jwt.issuer);
        rq->jwt_subject = ds_audit_cstr(ctx->verdict.jwt.subject);
        rq->jwt_kid = ds_audit_cstr(ctx->verdict.jwt.kid[0]
                                    ? ctx->verdict.jwt.kid : NULL);
        rq->jwt_jti_hash = ds_audit_cstr(ctx->verdict.jwt.jti_hash);
        rq->jwt_exp = ctx->verdict.jwt.exp;
    }
}


/* ----------------------------------------------------- worker life */

static ngx_int_t
ngx_http_ds_audit_init_process(ngx_cycle_t *cycle)
{
    ngx_http_ds_audit_main_conf_t  *amcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    amcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_ds_audit_module);
    if (amcf == NULL) {
        return NGX_OK;
    }

    /* NULL is not fatal: $request_id then comes from nginx itself */
    amcf->ids = ds_request_id_new();

    if (ngx_http_ds_audit_sinks_open(cycle, amcf) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_ds_audit_checkpoint_start(cycle, amcf);

    /* the chains hold their derived keys: the seed is no longer needed */
    if (ngx_process == NGX_PROCESS_WORKER && amcf->key) {
        OPENSSL_cleanse(amcf->key, amcf->key_len);
    }

    return NGX_OK;
}


static void
ngx_http_ds_audit_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_ds_audit_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_ds_audit_module);
    if (amcf == NULL) {
        return;
    }

    ds_request_id_free(amcf->ids);
    amcf->ids = NULL;

    ngx_http_ds_audit_sinks_close(cycle, amcf);
}


/* ----------------------------------------------------- configuration */

static void *
ngx_http_ds_audit_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_ds_audit_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ds_audit_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&amcf->sinks, cf->pool, 4,
                       sizeof(ngx_http_ds_audit_sink_t *))
        != NGX_OK)
    {
        return NULL;
    }

    amcf->request_id_index = NGX_ERROR;
    amcf->upstream_status_index = NGX_ERROR;

    return amcf;
}


static void
ngx_http_ds_audit_cleanse_key(void *data)
{
    ngx_http_ds_audit_main_conf_t  *amcf = data;

    OPENSSL_cleanse(amcf->key, amcf->key_len);
}


static char *
ngx_http_ds_audit_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_ds_audit_main_conf_t  *amcf = conf;

    u_char      c;
    ngx_str_t   name;
    ngx_uint_t  i;

    if (amcf->instance.len == 0) {
        amcf->instance = cf->cycle->hostname;
    }

    for (i = 0; i < amcf->instance.len; i++) {
        c = amcf->instance.data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ds_audit_instance \"%V\": use letters, "
                               "digits, \".\", \"-\" and \"_\"",
                               &amcf->instance);
            return NGX_CONF_ERROR;
        }
    }

    /* NUL-terminated: the core takes C strings */
    name.data = ngx_pnalloc(cf->pool, amcf->instance.len + 1);
    if (name.data == NULL) {
        return NGX_CONF_ERROR;
    }
    *ngx_cpymem(name.data, amcf->instance.data, amcf->instance.len) = '\0';
    amcf->instance.data = name.data;

    if (amcf->query_args == NULL) {
        amcf->query_args = (const char **) ds_audit_default_query_args;
    }

    if (amcf->sinks.nelts && amcf->key == NULL) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "ds_audit_log without ds_audit_key: records are "
                           "chained with unkeyed SHA-256, which shows "
                           "accidents but not deliberate tampering");
    }

    ngx_str_set(&name, "request_id");
    amcf->request_id_index = ngx_http_get_variable_index(cf, &name);

    ngx_str_set(&name, "upstream_status");
    amcf->upstream_status_index = ngx_http_get_variable_index(cf, &name);

    return NGX_CONF_OK;
}


static void *
ngx_http_ds_audit_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ds_audit_loc_conf_t  *alcf;

    alcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ds_audit_loc_conf_t));
    if (alcf == NULL) {
        return NULL;
    }

    alcf->sink = NGX_CONF_UNSET_PTR;

    return alcf;
}


static char *
ngx_http_ds_audit_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ds_audit_loc_conf_t  *prev = parent;
    ngx_http_ds_audit_loc_conf_t  *conf = child;

    ngx_conf_merge_ptr_value(conf->sink, prev->sink, NULL);

    return NGX_CONF_OK;
}


static char *
ngx_http_ds_audit_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ds_audit_main_conf_t *amcf = conf;

    char                 err[256];
    u_char               key[DS_AUDIT_KEY_MAX];
    size_t               len;
    ngx_str_t           *value, path;
    ngx_pool_cleanup_t  *cln;

    if (amcf->key) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ds_audit_key_load((const char *) path.data, key, &len, err,
                          sizeof(err))
        != 0)
    {
        /* the message names the file and the problem, never the bytes */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "ds_audit_key: %s", err);
        return NGX_CONF_ERROR;
    }

    amcf->key = ngx_pnalloc(cf->pool, len);
    if (amcf->key == NULL) {
        OPENSSL_cleanse(key, sizeof(key));
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(amcf->key, key, len);
    amcf->key_len = len;
    OPENSSL_cleanse(key, sizeof(key));

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_ds_audit_cleanse_key;
    cln->data = amcf;

    return NGX_CONF_OK;
}


static char *
ngx_http_ds_audit_query_args(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ds_audit_main_conf_t *amcf = conf;

    ngx_str_t    *value;
    ngx_uint_t    i, n;
    const char  **list;

    if (amcf->query_args) {
        return "is duplicate";
    }

    value = cf->args->elts;
    n = cf->args->nelts - 1;

    list = ngx_pcalloc(cf->pool, (n + 1) * sizeof(char *));
    if (list == NULL) {
        return NGX_CONF_ERROR;
    }

    if (n == 1 && ngx_strcmp(value[1].data, "off") == 0) {
        amcf->query_args = list;          /* empty: no argument logged */
        return NGX_CONF_OK;
    }

    if (n > DS_AUDIT_QUERY_ARGS_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_audit_query_args: at most %d names",
                           DS_AUDIT_QUERY_ARGS_MAX);
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < n; i++) {
        /* directive arguments are NUL-terminated by the parser */
        if (!ds_audit_query_name_ok((const char *) value[i + 1].data)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ds_audit_query_args \"%V\": use letters, "
                               "digits, \"_\", \"-\" and \".\"",
                               &value[i + 1]);
            return NGX_CONF_ERROR;
        }

        list[i] = (const char *) value[i + 1].data;
    }

    amcf->query_args = list;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_ds_audit_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ds_audit_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ds_audit_stash;

    ngx_http_ds_audit_next_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_ds_audit_body_filter;

    return NGX_OK;
}


/*
 * An alert record (ngx_http_ds_metrics_alert.c) to the sink the request
 * that raised it writes to, with that request's id, so an auditor finds
 * the request next to it.
 */
void
ngx_http_ds_audit_alert(ngx_http_request_t *r, ds_audit_alert_t *a)
{
    char                           *line;
    size_t                          len;
    ngx_http_ds_audit_req_t        *st;
    ngx_http_ds_audit_sink_t       *sink;
    ngx_http_ds_audit_loc_conf_t   *alcf;
    ngx_http_ds_audit_main_conf_t  *amcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_ds_audit_module);

    st = ngx_http_ds_audit_state(r);
    sink = st ? st->sink : alcf->sink;

    if (sink == NULL || !sink->chain_ok) {
        return;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_ds_audit_module);

    a->time_ms = ngx_http_ds_audit_now_ms();
    a->instance = (const char *) amcf->instance.data;
    a->pid = (long) ngx_pid;
    a->request_id = ngx_http_ds_audit_request_id(r, amcf);

    line = ds_audit_alert_line(&sink->chain, sink->format, a, &len);
    ngx_http_ds_audit_emit(sink, line, len, r->connection->log);
}
