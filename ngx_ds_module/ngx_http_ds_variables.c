/*
 * The variables of ngx_http_ds_module ($ds_recipient, $ds_decision,
 * $ds_country, ...): what the decision found, for access_log and
 * proxy_set_header.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds_module.h"


static ngx_int_t ngx_http_ds_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static size_t ngx_http_ds_client_country(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, u_char cc[4]);


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
    NGX_HTTP_DS_VAR_POLICY_VERSION,
    NGX_HTTP_DS_VAR_JWT_ISSUER,
    NGX_HTTP_DS_VAR_JWT_SUBJECT
} ngx_http_ds_var_e;


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

    /* a JWT bearer's trusted issuer and matched subject (issue #15) */
    { ngx_string("ds_jwt_issuer"), NULL, ngx_http_ds_variable,
      NGX_HTTP_DS_VAR_JWT_ISSUER, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ds_jwt_subject"), NULL, ngx_http_ds_variable,
      NGX_HTTP_DS_VAR_JWT_SUBJECT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


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

        /* the policy's own strings: what was matched, not what was sent */
        case NGX_HTTP_DS_VAR_JWT_ISSUER:
            s = ctx->verdict.jwt.issuer;
            break;

        case NGX_HTTP_DS_VAR_JWT_SUBJECT:
            s = ctx->verdict.jwt.subject;
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


ngx_int_t
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

    return ngx_http_ds_jwks_add_variables(cf);
}
