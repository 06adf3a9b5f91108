/*
 * ngx_http_ds_module: the nginx shell around the ngx_ds core.
 *
 * At configuration time it loads the policy and the MaxMind DB, so a
 * bad file fails "nginx -t" and a failed reload keeps the running
 * cycle. Per request the access handler gathers the facts (path,
 * method, bearer token, purpose header, country of the realip-rewritten
 * client address, time), lets ds_decide() judge, answers denials with
 * the Delta Sharing error JSON and hands allowed requests to the rate
 * limiter. The verdict stays in a context that survives internal
 * redirects, for the variables, the list filter and the audit log.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds.h"
#include "ngx_http_ds_geo.h"

#include "ds_digest.h"
#include "ds_http.h"


#define NGX_HTTP_DS_DEFAULT_PREFIX          "/delta-sharing"
#define NGX_HTTP_DS_DEFAULT_PURPOSE_HEADER  "X-DS-Purpose"


typedef struct {
    ds_policy_t             *policy;
    ngx_str_t                policy_path;
    ngx_http_ds_geo_t       *geo;
} ngx_http_ds_main_conf_t;


typedef struct {
    ngx_array_t             *prefixes;      /* ngx_str_t: ds_prefix of
                                               each enforced location */
} ngx_http_ds_srv_conf_t;


typedef struct {
    ngx_flag_t               enforce;
    ngx_str_t                prefix;
    ngx_str_t                purpose_header;    /* lower case */
} ngx_http_ds_loc_conf_t;


typedef enum {
    NGX_HTTP_DS_VAR_RECIPIENT = 0,
    NGX_HTTP_DS_VAR_TOKEN_ID,
    NGX_HTTP_DS_VAR_SHARE,
    NGX_HTTP_DS_VAR_SCHEMA,
    NGX_HTTP_DS_VAR_TABLE,
    NGX_HTTP_DS_VAR_OPERATION,
    NGX_HTTP_DS_VAR_PURPOSE,
    NGX_HTTP_DS_VAR_COUNTRY,
    NGX_HTTP_DS_VAR_DECISION,
    NGX_HTTP_DS_VAR_REASON,
    NGX_HTTP_DS_VAR_POLICY_VERSION
} ngx_http_ds_var_e;


static ngx_int_t ngx_http_ds_access_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_ds_send_denial(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx);
static ngx_uint_t ngx_http_ds_revocation_first(ngx_http_ds_ctx_t *ctx);
static ngx_int_t ngx_http_ds_deny(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, ds_reason_t reason);
static ngx_int_t ngx_http_ds_drop_ranges(ngx_http_request_t *r);
static ngx_uint_t ngx_http_ds_same_uri(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx);
static void ngx_http_ds_decide(ngx_http_request_t *r,
    ngx_http_ds_main_conf_t *dmcf, ngx_http_ds_loc_conf_t *dlcf,
    ngx_http_ds_ctx_t *ctx);
static ngx_int_t ngx_http_ds_find_purpose(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *value);
static void ngx_http_ds_map_path_error(ngx_http_ds_ctx_t *ctx);
static ngx_buf_t *ngx_http_ds_error_body_code(ngx_http_request_t *r,
    const char *code, const char *message);
static ngx_int_t ngx_http_ds_add_header(ngx_http_request_t *r,
    ngx_table_elt_t **slot, ngx_str_t *key, ngx_str_t *value);

static ngx_int_t ngx_http_ds_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static size_t ngx_http_ds_client_country(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, u_char cc[4]);

static ngx_int_t ngx_http_ds_add_variables(ngx_conf_t *cf);
static void *ngx_http_ds_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_ds_create_srv_conf(ngx_conf_t *cf);
static char *ngx_http_ds_note_prefix(ngx_conf_t *cf,
    ngx_http_ds_loc_conf_t *dlcf);
static void *ngx_http_ds_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ds_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_ds_policy(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_ds_policy_cleanup(void *data);
static char *ngx_http_ds_geoip_db(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ds_prefix(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ds_purpose_header(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_ds_init(ngx_conf_t *cf);
static void ngx_http_ds_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_ds_commands[] = {

    { ngx_string("ds_policy"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_ds_policy,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ds_geoip_db"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_ds_geoip_db,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ds_enforce"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ds_loc_conf_t, enforce),
      NULL },

    { ngx_string("ds_prefix"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ds_prefix,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ds_purpose_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ds_purpose_header,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_ds_module_ctx = {
    ngx_http_ds_add_variables,             /* preconfiguration */
    ngx_http_ds_init,                      /* postconfiguration */

    ngx_http_ds_create_main_conf,          /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_http_ds_create_srv_conf,           /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_ds_create_loc_conf,           /* create location configuration */
    ngx_http_ds_merge_loc_conf             /* merge location configuration */
};


ngx_module_t  ngx_http_ds_module = {
    NGX_MODULE_V1,
    &ngx_http_ds_module_ctx,               /* module context */
    ngx_http_ds_commands,                  /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_ds_exit_process,              /* exit process */
    ngx_http_ds_exit_process,              /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_ds_vars[] = {

    { ngx_string("ds_recipient"), NULL, ngx_http_ds_variable,
      NGX_HTTP_DS_VAR_RECIPIENT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ds_token_id"), NULL, ngx_http_ds_variable,
      NGX_HTTP_DS_VAR_TOKEN_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ds_share"), NULL, ngx_http_ds_variable,
      NGX_HTTP_DS_VAR_SHARE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ds_schema"), NULL, ngx_http_ds_variable,
      NGX_HTTP_DS_VAR_SCHEMA, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ds_table"), NULL, ngx_http_ds_variable,
      NGX_HTTP_DS_VAR_TABLE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ds_operation"), NULL, ngx_http_ds_variable,
      NGX_HTTP_DS_VAR_OPERATION, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ds_purpose"), NULL, ngx_http_ds_variable,
      NGX_HTTP_DS_VAR_PURPOSE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ds_country"), NULL, ngx_http_ds_variable,
      NGX_HTTP_DS_VAR_COUNTRY, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ds_decision"), NULL, ngx_http_ds_variable,
      NGX_HTTP_DS_VAR_DECISION, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ds_reason"), NULL, ngx_http_ds_variable,
      NGX_HTTP_DS_VAR_REASON, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ds_policy_version"), NULL, ngx_http_ds_variable,
      NGX_HTTP_DS_VAR_POLICY_VERSION, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_ds_json_type =
    ngx_string("application/json; charset=utf-8");

static ngx_str_t  ngx_http_ds_www_authenticate = ngx_string("WWW-Authenticate");
static ngx_str_t  ngx_http_ds_bearer = ngx_string("Bearer realm=\"delta-sharing\"");
static ngx_str_t  ngx_http_ds_bearer_invalid =
    ngx_string("Bearer realm=\"delta-sharing\", error=\"invalid_token\"");
static ngx_str_t  ngx_http_ds_allow = ngx_string("Allow");


/* ---------------------------------------------------------- access */


static ngx_int_t
ngx_http_ds_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_http_ds_ctx_t        *ctx;
    ngx_http_ds_loc_conf_t   *dlcf;
    ngx_http_ds_main_conf_t  *dmcf;

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_ds_module);

    if (!dlcf->enforce) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_ds_need_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* entered again: resumed by the limiter, or an internal redirect */
    switch (ctx->state) {

    case NGX_HTTP_DS_NEW:
        break;

    case NGX_HTTP_DS_PASSED:
        /*
         * an internal redirect: never decide or charge twice, and never
         * let the decision cover another URI (an error page keeps
         * r->err_status, and the guard answers it)
         */
        if (r->err_status == 0 && !ngx_http_ds_same_uri(r, ctx)) {
            return ngx_http_ds_deny(r, ctx, DS_REASON_URI_REWRITTEN);
        }

        return NGX_DECLINED;

    case NGX_HTTP_DS_PARKED:
    case NGX_HTTP_DS_DENY_PARKED:
        return NGX_AGAIN;

    case NGX_HTTP_DS_RESUMED:
        ngx_http_ds_set_state(r, ctx, NGX_HTTP_DS_PASSED);
        return NGX_DECLINED;

    case NGX_HTTP_DS_DENY_RESUMED:
        return ngx_http_ds_send_denial(r, ctx);

    case NGX_HTTP_DS_ANSWERED:
        return NGX_DONE;

    default: /* FAILED; DECIDED and HELD never reach here */
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    dmcf = ngx_http_get_module_main_conf(r, ngx_http_ds_module);

    ngx_http_ds_decide(r, dmcf, dlcf, ctx);

    ctx->uri = r->uri;

    if (!r->valid_unparsed_uri) {
        /*
         * the decision is made on the URI the client sent; nginx would
         * proxy another one (rewrite, an internal redirect here from
         * elsewhere, "set $args")
         */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ds: the URI was changed before the check (rewrite, "
                      "internal redirect or $args) in a location with "
                      "\"ds_enforce on\": denied");

        return ngx_http_ds_deny(r, ctx, DS_REASON_URI_REWRITTEN);
    }

    if (!ctx->verdict.allow) {

        if (ngx_http_ds_revocation_first(ctx)) {
            /*
             * a live-revoked token gets one answer whatever it asks
             * for, not details of its old grants: ask Redis first
             */
            rc = ngx_http_ds_redis_check(r, ctx);

            if (rc == NGX_AGAIN || rc == NGX_DONE) {
                return rc;
            }
        }

        return ngx_http_ds_send_denial(r, ctx);
    }

    if (ds_op_is_list(ctx->path.op)
        && ngx_http_ds_drop_ranges(r) != NGX_OK)
    {
        ngx_http_ds_set_state(r, ctx, NGX_HTTP_DS_FAILED);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_ds_redis_check(r, ctx);

    switch (rc) {

    case NGX_DECLINED:
        /*
         * not NGX_OK: under "satisfy any" that would skip the other
         * access checks; our denials never reach the phase checker
         */
        ngx_http_ds_set_state(r, ctx, NGX_HTTP_DS_PASSED);
        return NGX_DECLINED;

    case NGX_AGAIN:
        return NGX_AGAIN;

    case NGX_DONE:
        /*
         * the limiter answered and finalized the request, which may be
         * freed by now: ctx must not be touched (it is ANSWERED)
         */
        return NGX_DONE;

    default:
        /* an error of the limiter itself */
        ngx_http_ds_set_state(r, ctx, NGX_HTTP_DS_FAILED);
        return rc;
    }
}


/* the policy's denial, once Redis said the token is not revoked */
static ngx_int_t
ngx_http_ds_send_denial(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx)
{
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "ds: denied: %s, recipient \"%s\"",
                  ds_reason_name(ctx->verdict.reason),
                  ctx->verdict.recipient_id ? ctx->verdict.recipient_id
                                            : "-");

    return ngx_http_ds_send_error(r, ctx, ctx->verdict.http_status,
                                  ctx->verdict.reason, ctx->verdict.detail);
}


/*
 * Denials of an authenticated caller for what it asked (not for its
 * credentials) wait for the live revocation check.
 */
static ngx_uint_t
ngx_http_ds_revocation_first(ngx_http_ds_ctx_t *ctx)
{
    if (ctx->verdict.recipient_id == NULL) {
        return 0;
    }

    switch (ctx->verdict.reason) {

    case DS_REASON_TOKEN_MISSING:
    case DS_REASON_TOKEN_MALFORMED:
    case DS_REASON_TOKEN_UNKNOWN:
    case DS_REASON_TOKEN_NOT_YET_VALID:
    case DS_REASON_TOKEN_EXPIRED:
    case DS_REASON_TOKEN_REVOKED:
    case DS_REASON_RECIPIENT_SUSPENDED:
    case DS_REASON_RECIPIENT_REVOKED:
        return 0;

    default:
        return 1;
    }
}


/* a denial of ours after the policy's verdict (not the policy's own) */
static ngx_int_t
ngx_http_ds_deny(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ds_reason_t reason)
{
    ctx->verdict.allow = 0;
    ctx->verdict.reason = reason;
    ctx->verdict.http_status = ds_reason_http_status(reason);
    ctx->verdict.detail[0] = '\0';

    return ngx_http_ds_send_error(r, ctx, ctx->verdict.http_status, reason,
                                  NULL);
}


/*
 * A list is filtered whole: a slice of the upstream's (a 206 for the
 * client's Range) could not be. The upstream is never asked for one;
 * nginx's range filter may still slice the filtered body.
 */
static ngx_int_t
ngx_http_ds_drop_ranges(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_t        headers;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *copy;

    if (r->headers_in.range == NULL && r->headers_in.if_range == NULL) {
        return NGX_OK;
    }

    /* proxy_pass sends the list as it is: build it anew without them */
    if (ngx_list_init(&headers, r->pool, r->headers_in.headers.nalloc,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if ((h[i].key.len == sizeof("range") - 1
             && ngx_strncasecmp(h[i].key.data, (u_char *) "range",
                                sizeof("range") - 1) == 0)
            || (h[i].key.len == sizeof("if-range") - 1
                && ngx_strncasecmp(h[i].key.data, (u_char *) "if-range",
                                   sizeof("if-range") - 1) == 0))
        {
            continue;
        }

        copy = ngx_list_push(&headers);
        if (copy == NULL) {
            return NGX_ERROR;
        }

        *copy = h[i];
    }

    /* the old elements stay in the pool: pointers into them hold */
    r->headers_in.headers = headers;
    r->headers_in.range = NULL;
    r->headers_in.if_range = NULL;

    return NGX_OK;
}


/* the URI nginx would proxy now is the one the decision was made on */
static ngx_uint_t
ngx_http_ds_same_uri(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx)
{
    return r->uri.len == ctx->uri.len
           && ngx_memcmp(r->uri.data, ctx->uri.data, r->uri.len) == 0;
}


ngx_uint_t
ngx_http_ds_enforced(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx)
{
    u_char                    *p;
    ngx_str_t                 *prefix;
    ngx_uint_t                 i;
    ngx_http_ds_srv_conf_t    *dscf;
    ngx_http_ds_loc_conf_t    *dlcf;
    ngx_http_core_srv_conf_t  *cscf;

    if (ctx != NULL && ngx_http_ds_decided(ctx) && r == r->main) {
        return 1;
    }

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_ds_module);

    if (dlcf->enforce) {
        return 1;
    }

    cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);

    if (r != r->main || r->loc_conf != cscf->ctx->loc_conf) {
        return 0;
    }

    /* not routed yet: a 400, 413 or 414 nginx answered while reading */
    dscf = ngx_http_get_module_srv_conf(r, ngx_http_ds_module);

    if (dscf->prefixes == NULL || r->uri.len == 0) {
        return 0;
    }

    prefix = dscf->prefixes->elts;

    for (i = 0; i < dscf->prefixes->nelts; i++) {

        if (r->uri.len < prefix[i].len
            || ngx_strncmp(r->uri.data, prefix[i].data, prefix[i].len) != 0)
        {
            continue;
        }

        p = r->uri.data + prefix[i].len;

        if (p == r->uri.data + r->uri.len || *p == '/') {
            return 1;
        }
    }

    return 0;
}


void
ngx_http_ds_json_headers(ngx_http_request_t *r, ngx_uint_t status,
    ngx_buf_t *body)
{
    r->headers_out.status = status;
    r->headers_out.content_type = ngx_http_ds_json_type;
    r->headers_out.content_type_len = ngx_http_ds_json_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = body->last - body->pos;
}


void
ngx_http_ds_reset_headers(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        h[i].hash = 0;
    }

    r->headers_out.content_encoding = NULL;
    r->headers_out.location = NULL;
    r->headers_out.refresh = NULL;
    r->headers_out.expires = NULL;
    r->headers_out.www_authenticate = NULL;
    r->headers_out.last_modified_time = -1;
    r->headers_out.last_modified = NULL;
    r->headers_out.etag = NULL;
    r->headers_out.accept_ranges = NULL;
    r->headers_out.content_range = NULL;
    r->headers_out.content_length = NULL;
    r->headers_out.status_line.len = 0;
    r->headers_out.charset.len = 0;

    /* nginx >= 1.23 walks these as chains of the hidden entries */
#if (nginx_version >= 1023000)
    r->headers_out.cache_control = NULL;
    r->headers_out.link = NULL;
#else
    r->headers_out.cache_control.nelts = 0;
    r->headers_out.link.nelts = 0;
#endif
}


static void
ngx_http_ds_decide(ngx_http_request_t *r, ngx_http_ds_main_conf_t *dmcf,
    ngx_http_ds_loc_conf_t *dlcf, ngx_http_ds_ctx_t *ctx)
{
    size_t            tlen;
    ngx_str_t         purpose;
    ngx_int_t         rc;
    ds_facts_t        facts;
    ngx_time_t       *tp;
    const char       *tok;
    ds_auth_err_t     auth;
    ngx_table_elt_t  *h;

    ngx_memzero(&facts, sizeof(ds_facts_t));

    ctx->policy = dmcf->policy;

    ctx->path_err = ds_path_parse((const char *) r->method_name.data,
                                  r->method_name.len,
                                  (const char *) r->unparsed_uri.data,
                                  r->unparsed_uri.len,
                                  (const char *) dlcf->prefix.data,
                                  dlcf->prefix.len, &ctx->path);

    facts.op = (ctx->path_err == DS_PATH_OK) ? ctx->path.op : DS_OP_UNKNOWN;
    facts.share = ctx->path.share_len ? ctx->path.share : NULL;
    facts.schema = ctx->path.schema_len ? ctx->path.schema : NULL;
    facts.table = ctx->path.table_len ? ctx->path.table : NULL;

    h = r->headers_in.authorization;

    if (h != NULL) {
        auth = ds_auth_parse_bearer((const char *) h->value.data,
                                    h->value.len, &tok, &tlen);

        if (auth == DS_AUTH_OK) {
            facts.token = tok;
            facts.token_len = tlen;

        } else if (auth != DS_AUTH_MISSING) {
            /* another scheme, "Bearer" alone, bad bytes: never logged */
            facts.token_malformed = 1;
        }
    }

    facts.purpose_header = (const char *) dlcf->purpose_header.data;
    facts.purpose_header_len = dlcf->purpose_header.len;

    rc = ngx_http_ds_find_purpose(r, &dlcf->purpose_header, &purpose);

    if (rc == NGX_OK) {
        facts.purpose = (const char *) purpose.data;
        facts.purpose_len = purpose.len;

    } else if (rc == NGX_DECLINED) {
        /* sent twice: ambiguous, so invalid */
        facts.purpose = "";
        facts.purpose_len = 0;
    }

    if (dmcf->geo) {
        ctx->geo = 1;
        ctx->country_len = ngx_http_ds_geo_country(dmcf->geo,
                                                   r->connection->log,
                                                   r->connection->sockaddr,
                                                   ctx->country);
        facts.country = (const char *) ctx->country;
    }

    tp = ngx_timeofday();
    facts.now_ms = (int64_t) tp->sec * 1000 + tp->msec;

    ds_decide(dmcf->policy, &facts, &ctx->verdict);

    ngx_http_ds_set_state(r, ctx, NGX_HTTP_DS_DECIDED);

    ngx_http_ds_map_path_error(ctx);

    /* keep a validated copy only: $ds_purpose and the audit use it */
    if (ctx->verdict.purpose
        && ds_purpose_valid(ctx->verdict.purpose, ctx->verdict.purpose_len))
    {
        ctx->purpose.len = ctx->verdict.purpose_len;
        ctx->purpose.data = ngx_pnalloc(r->pool, ctx->purpose.len);

        if (ctx->purpose.data == NULL) {
            ctx->purpose.len = 0;

        } else {
            ngx_memcpy(ctx->purpose.data, ctx->verdict.purpose,
                       ctx->purpose.len);
        }

        ctx->verdict.purpose = (const char *) ctx->purpose.data;
        ctx->verdict.purpose_len = ctx->purpose.len;

    } else {
        ctx->verdict.purpose = NULL;
        ctx->verdict.purpose_len = 0;
    }
}


/*
 * NGX_OK: found once; NGX_DECLINED: sent more than once;
 * NGX_ABORT: absent
 */
static ngx_int_t
ngx_http_ds_find_purpose(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
    ngx_uint_t        i, n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    n = 0;
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != name->len
            || ngx_strncmp(h[i].lowcase_key, name->data, name->len) != 0)
        {
            continue;
        }

        if (n++ == 0) {
            *value = h[i].value;
        }
    }

    if (n == 0) {
        return NGX_ABORT;
    }

    return (n == 1) ? NGX_OK : NGX_DECLINED;
}


/*
 * ds_decide() judged an authenticated request on a path that is not a
 * protocol call as unknown_endpoint; name the precise problem now that
 * the caller is known (anonymous callers learn nothing about paths).
 */
static void
ngx_http_ds_map_path_error(ngx_http_ds_ctx_t *ctx)
{
    ds_verdict_t  *v;

    v = &ctx->verdict;

    if (v->allow || v->reason != DS_REASON_UNKNOWN_ENDPOINT) {
        return;
    }

    switch (ctx->path_err) {

    case DS_PATH_OK:
    case DS_PATH_NOT_UNDER_PREFIX:
    case DS_PATH_UNKNOWN_ENDPOINT:
        return;

    case DS_PATH_METHOD_NOT_ALLOWED:
        v->reason = DS_REASON_BAD_REQUEST;
        v->http_status = NGX_HTTP_NOT_ALLOWED;
        ngx_cpystrn((u_char *) v->detail,
                    (u_char *) "The method is not allowed for this endpoint",
                    sizeof(v->detail));
        return;

    default:
        v->reason = DS_REASON_BAD_REQUEST;
        v->http_status = NGX_HTTP_BAD_REQUEST;
        ngx_snprintf((u_char *) v->detail, sizeof(v->detail) - 1,
                     "Invalid request path: %s%Z",
                     ds_path_strerror(ctx->path_err));
        return;
    }
}


ngx_buf_t *
ngx_http_ds_error_body(ngx_http_request_t *r, ds_reason_t reason,
    const char *message)
{
    if (message == NULL) {
        message = ds_reason_message(reason);
    }

    return ngx_http_ds_error_body_code(r, ds_reason_error_code(reason),
                                       message);
}


static ngx_buf_t *
ngx_http_ds_error_body_code(ngx_http_request_t *r, const char *code,
    const char *message)
{
    size_t       len, mlen, clen;
    u_char      *p;
    ngx_buf_t   *b;

    clen = ngx_strlen(code);
    mlen = ngx_strlen(message);

    len = sizeof("{\"errorCode\":\"\",\"message\":\"\"}") - 1
          + clen + ngx_escape_json(NULL, (u_char *) code, clen)
          + mlen + ngx_escape_json(NULL, (u_char *) message, mlen);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    p = ngx_cpymem(b->last, "{\"errorCode\":\"", 14);
    p = (u_char *) ngx_escape_json(p, (u_char *) code, clen);
    p = ngx_cpymem(p, "\",\"message\":\"", 13);
    p = (u_char *) ngx_escape_json(p, (u_char *) message, mlen);
    *p++ = '"';
    *p++ = '}';

    b->last = p;

    return b;
}


ngx_int_t
ngx_http_ds_send_error(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ngx_uint_t status, ds_reason_t reason, const char *message)
{
    ngx_int_t     rc;
    ngx_str_t     allow;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    /* first: the request may be freed once the answer is sent */
    if (ctx != NULL) {
        ngx_http_ds_set_state(r, ctx, NGX_HTTP_DS_ANSWERED);
    }

    /*
     * the client may still be sending a body we will never read; one
     * that waits for "100 Continue" is not invited to send it
     */
    r->expect_tested = 1;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    /* docs/paths.md: a known endpoint with the wrong method */
    if (message == NULL) {
        message = ds_reason_message(reason);
    }

    b = ngx_http_ds_error_body_code(r, status == NGX_HTTP_NOT_ALLOWED
                                    ? "UNSUPPORTED_OPERATION"
                                    : ds_reason_error_code(reason),
                                    message);
    if (b == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }

    ngx_http_ds_json_headers(r, status, b);

    if (status == NGX_HTTP_UNAUTHORIZED) {
        /* RFC 6750 3.1: no error code when no credentials were sent */
        if (ngx_http_ds_add_header(r, &r->headers_out.www_authenticate,
                                   &ngx_http_ds_www_authenticate,
                                   reason == DS_REASON_TOKEN_MISSING
                                   ? &ngx_http_ds_bearer
                                   : &ngx_http_ds_bearer_invalid)
            != NGX_OK)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return NGX_DONE;
        }
    }

    if (status == NGX_HTTP_NOT_ALLOWED && ctx != NULL && ctx->path.allow) {
        allow.data = (u_char *) ctx->path.allow;
        allow.len = ngx_strlen(ctx->path.allow);

        if (ngx_http_ds_add_header(r, NULL, &ngx_http_ds_allow, &allow)
            != NGX_OK)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return NGX_DONE;
        }
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    ngx_http_finalize_request(r, ngx_http_output_filter(r, &out));

    return NGX_DONE;
}


static ngx_int_t
ngx_http_ds_add_header(ngx_http_request_t *r, ngx_table_elt_t **slot,
    ngx_str_t *key, ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key = *key;
    h->value = *value;
    h->lowcase_key = NULL;

#if (nginx_version >= 1023000)
    /*
     * 1.23 chains same-named headers through next (the slot is the head
     * of the chain) and walks it; ngx_list_push() does not zero it
     */
    h->next = NULL;
#endif

    if (slot) {
        *slot = h;
    }

    return NGX_OK;
}


/* ------------------------------------------------------- variables */


static ngx_int_t
ngx_http_ds_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    u_char                   *p;
    size_t                    len;
    const char               *s;
    ngx_http_ds_ctx_t        *ctx;
    ngx_http_ds_main_conf_t  *dmcf;

    ctx = ngx_http_ds_get_ctx(r);
    s = NULL;
    len = 0;

    switch (data) {

    case NGX_HTTP_DS_VAR_COUNTRY:
        p = ngx_pnalloc(r->pool, 4);
        if (p == NULL) {
            return NGX_ERROR;
        }

        len = ngx_http_ds_client_country(r, ctx, p);

        if (len == (size_t) -1) {
            v->not_found = 1;
            return NGX_OK;
        }

        v->data = p;
        v->len = len;
        v->valid = 1;
        v->no_cacheable = 0;
        v->not_found = 0;
        return NGX_OK;

    case NGX_HTTP_DS_VAR_POLICY_VERSION:
        if (ctx && ctx->policy) {
            s = ds_policy_digest(ctx->policy);

        } else {
            dmcf = ngx_http_get_module_main_conf(r, ngx_http_ds_module);
            s = dmcf->policy ? ds_policy_digest(dmcf->policy) : NULL;
        }

        break;

    default:
        if (ctx == NULL || !ngx_http_ds_decided(ctx)) {
            break;
        }

        switch (data) {

        case NGX_HTTP_DS_VAR_RECIPIENT:
            s = ctx->verdict.recipient_id;
            break;

        case NGX_HTTP_DS_VAR_TOKEN_ID:
            s = ctx->verdict.token_id;
            break;

        case NGX_HTTP_DS_VAR_SHARE:
            s = ctx->path.share_len ? ctx->path.share : NULL;
            break;

        case NGX_HTTP_DS_VAR_SCHEMA:
            s = ctx->path.schema_len ? ctx->path.schema : NULL;
            break;

        case NGX_HTTP_DS_VAR_TABLE:
            s = ctx->path.table_len ? ctx->path.table : NULL;
            break;

        case NGX_HTTP_DS_VAR_OPERATION:
            s = ctx->path.op != DS_OP_UNKNOWN ? ds_op_name(ctx->path.op)
                                              : NULL;
            break;

        case NGX_HTTP_DS_VAR_PURPOSE:
            if (ctx->purpose.len) {
                v->data = ctx->purpose.data;
                v->len = ctx->purpose.len;
                v->valid = 1;
                v->no_cacheable = 0;
                v->not_found = 0;
                return NGX_OK;
            }

            break;

        case NGX_HTTP_DS_VAR_DECISION:
            s = ctx->verdict.allow ? "allow" : "deny";
            break;

        case NGX_HTTP_DS_VAR_REASON:
            s = ds_reason_name(ctx->verdict.reason);
            break;
        }
    }

    if (s == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    /*
     * names were percent-decoded and may hold any byte but '/' and
     * controls; the variable carries them as they are, like $uri
     */
    v->data = (u_char *) s;
    v->len = ngx_strlen(s);
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/* -1: no geo DB configured */
static size_t
ngx_http_ds_client_country(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    u_char cc[4])
{
    ngx_http_ds_main_conf_t  *dmcf;

    if (ctx && ngx_http_ds_decided(ctx) && ctx->geo) {
        ngx_memcpy(cc, ctx->country, ctx->country_len);
        cc[ctx->country_len] = '\0';
        return ctx->country_len;
    }

    dmcf = ngx_http_get_module_main_conf(r, ngx_http_ds_module);

    if (dmcf->geo == NULL) {
        return (size_t) -1;
    }

    /* an unenforced location: look the address up now */
    return ngx_http_ds_geo_country(dmcf->geo, r->connection->log,
                                   r->connection->sockaddr, cc);
}


/* --------------------------------------------------- configuration */


static ngx_int_t
ngx_http_ds_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_ds_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static void *
ngx_http_ds_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_ds_main_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ds_main_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->policy = NULL;
     *     conf->policy_path = { 0, NULL };
     *     conf->geo = NULL;
     */

    return conf;
}


static void *
ngx_http_ds_create_srv_conf(ngx_conf_t *cf)
{
    /* set by ngx_pcalloc(): prefixes = NULL */
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_ds_srv_conf_t));
}


/* the guard answers for URIs under it before routing, too */
static char *
ngx_http_ds_note_prefix(ngx_conf_t *cf, ngx_http_ds_loc_conf_t *dlcf)
{
    ngx_str_t               *prefix;
    ngx_uint_t               i;
    ngx_http_ds_srv_conf_t  *dscf;

    dscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_ds_module);

    if (dscf->prefixes == NULL) {
        dscf->prefixes = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
        if (dscf->prefixes == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    prefix = dscf->prefixes->elts;

    for (i = 0; i < dscf->prefixes->nelts; i++) {
        if (prefix[i].len == dlcf->prefix.len
            && ngx_strncmp(prefix[i].data, dlcf->prefix.data,
                           dlcf->prefix.len) == 0)
        {
            return NGX_CONF_OK;
        }
    }

    prefix = ngx_array_push(dscf->prefixes);
    if (prefix == NULL) {
        return NGX_CONF_ERROR;
    }

    *prefix = dlcf->prefix;

    return NGX_CONF_OK;
}


static void *
ngx_http_ds_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ds_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ds_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->prefix = { 0, NULL };
     *     conf->purpose_header = { 0, NULL };
     */

    conf->enforce = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_ds_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ds_loc_conf_t *prev = parent;
    ngx_http_ds_loc_conf_t *conf = child;

    ngx_http_ds_main_conf_t   *dmcf;
    ngx_http_core_srv_conf_t  *cscf;
    ngx_http_core_loc_conf_t  *clcf;

    ngx_conf_merge_value(conf->enforce, prev->enforce, 0);
    ngx_conf_merge_str_value(conf->prefix, prev->prefix,
                             NGX_HTTP_DS_DEFAULT_PREFIX);

    if (conf->purpose_header.data == NULL) {
        if (prev->purpose_header.data) {
            conf->purpose_header = prev->purpose_header;

        } else {
            ngx_str_set(&conf->purpose_header,
                        NGX_HTTP_DS_DEFAULT_PURPOSE_HEADER);

            conf->purpose_header.data = ngx_pstrdup(cf->pool,
                                                    &conf->purpose_header);
            if (conf->purpose_header.data == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_strlow(conf->purpose_header.data, conf->purpose_header.data,
                       conf->purpose_header.len);
        }
    }

    /* http{} is parsed whole before merging: ds_policy is known by now */
    dmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ds_module);

    if (!conf->enforce) {
        return NGX_CONF_OK;
    }

    if (dmcf->policy == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ds_enforce on\" requires \"ds_policy\" "
                           "at the http level");
        return NGX_CONF_ERROR;
    }

    /* the core module's location settings are merged by now */
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->satisfy == NGX_HTTP_SATISFY_ANY) {
        /* another access module's NGX_OK would skip the check */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ds_enforce on\" cannot be used with "
                           "\"satisfy any\" in location \"%V\"",
                           &clcf->name);
        return NGX_CONF_ERROR;
    }

    /*
     * nginx drops request headers with "_" in their names unless told
     * otherwise: such a purpose header would never be seen, and every
     * grant with purposes would deny. The core module's server
     * settings are merged before ours, so they are final here.
     */
    cscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);

    if (ngx_strlchr(conf->purpose_header.data,
                    conf->purpose_header.data + conf->purpose_header.len, '_')
        && !cscf->underscores_in_headers && cscf->ignore_invalid_headers)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "ds_purpose_header \"%V\" in location \"%V\" "
                      "has \"_\" in its name: nginx ignores such request "
                      "headers unless \"underscores_in_headers on\" is "
                      "set in the server (the default server of its "
                      "listen address); use \"-\" instead",
                      &conf->purpose_header, &clcf->name);
        return NGX_CONF_ERROR;
    }

    return ngx_http_ds_note_prefix(cf, conf);
}


static char *
ngx_http_ds_policy(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ds_main_conf_t *dmcf = conf;

    char                 err[DS_ERR_MAX];
    ngx_str_t           *value, path;
    ds_policy_t         *policy;
    ngx_pool_cleanup_t  *cln;

    if (dmcf->policy) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (path.len == 0) {
        return "requires a file or directory name";
    }

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    err[0] = '\0';

    /* path comes from ngx_conf_full_name(): NUL-terminated */
    policy = ds_policy_load((const char *) path.data, err, sizeof(err));

    if (policy == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "ds_policy: %s",
                           err[0] ? err : "cannot load the policy");
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_ds_policy_cleanup;
    cln->data = policy;

    dmcf->policy = policy;
    dmcf->policy_path = path;

    ngx_conf_log_error(NGX_LOG_INFO, cf, 0,
                       "ds_policy: \"%V\" loaded: %uz recipients, %uz tokens, "
                       "version %s", &path, ds_policy_recipient_count(policy),
                       ds_policy_token_count(policy),
                       ds_policy_digest(policy));

    return NGX_CONF_OK;
}


static void
ngx_http_ds_policy_cleanup(void *data)
{
    ds_policy_free(data);
}


static char *
ngx_http_ds_geoip_db(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ds_main_conf_t *dmcf = conf;

    ngx_str_t  *value, path;

    if (dmcf->geo) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (path.len == 0) {
        return "requires a file name";
    }

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    dmcf->geo = ngx_http_ds_geo_open(cf, &path, &value[2],
                                     cf->args->nelts - 2);
    if (dmcf->geo == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_ds_prefix(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ds_loc_conf_t *dlcf = conf;

    u_char     *p, *last;
    ngx_str_t  *value;

    if (dlcf->prefix.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    /* "" mounts the API at the root; otherwise "/a/b", no trailing '/' */
    if (value[1].len) {
        if (value[1].data[0] != '/' || value[1].data[value[1].len - 1] == '/')
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ds_prefix \"%V\" must start with \"/\" and "
                               "must not end with \"/\"", &value[1]);
            return NGX_CONF_ERROR;
        }

        last = value[1].data + value[1].len;

        for (p = value[1].data; p < last; p++) {
            /* the raw URI is compared byte for byte: no encodings */
            if (*p <= 0x20 || *p >= 0x7f || *p == '%' || *p == '?'
                || *p == '#' || (*p == '/' && p + 1 < last && p[1] == '/'))
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "ds_prefix \"%V\" has an invalid "
                                   "character", &value[1]);
                return NGX_CONF_ERROR;
            }
        }
    }

    dlcf->prefix = value[1];

    if (dlcf->prefix.data == NULL) {
        /* an empty ngx_str_t may carry no data: mark it as set */
        dlcf->prefix.data = (u_char *) "";
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_ds_purpose_header(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ds_loc_conf_t *dlcf = conf;

    u_char     *p, *last;
    ngx_str_t  *value;

    if (dlcf->purpose_header.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "requires a header name";
    }

    last = value[1].data + value[1].len;

    /* an RFC 9110 token */
    for (p = value[1].data; p < last; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ds_purpose_header \"%V\" is not a valid "
                               "header name", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    dlcf->purpose_header.len = value[1].len;
    dlcf->purpose_header.data = ngx_pnalloc(cf->pool, value[1].len);
    if (dlcf->purpose_header.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_strlow(dlcf->purpose_header.data, value[1].data, value[1].len);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_ds_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ds_access_handler;

    return NGX_OK;
}


/* the token digest's OpenSSL objects, kept per process by the core */
static void
ngx_http_ds_exit_process(ngx_cycle_t *cycle)
{
    ds_digest_cleanup();
}
