/*
 * The facts of a request as ds_decide() needs them: the parsed path,
 * the bearer token, the purpose header, the client's country, the time;
 * then the verdict, with the path errors named for known callers.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds_module.h"

#include "ds_http.h"


static ngx_int_t ngx_http_ds_find_purpose(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *value);
static void ngx_http_ds_map_path_error(ngx_http_ds_ctx_t *ctx);


void
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

            /* the JWKS check digested this same bearer already */
            if (ctx->jwks_digested) {
                facts.token_digest = ctx->jwks_digest;
            }

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

    /* after realip, as the geo lookup sees it */
    facts.sockaddr = r->connection->sockaddr;

    tp = ngx_timeofday();
    facts.now_ms = (int64_t) tp->sec * 1000 + tp->msec;

    facts.files_proxy = ngx_http_ds_files_proxied(r) ? 1 : 0;

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
