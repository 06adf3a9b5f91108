/*
 * The access phase of ngx_http_ds_module: decide once, ask the limiter,
 * deny, and, when entered again (resumed by the limiter, an internal
 * redirect), act on the request's state alone (ngx_http_ds.h has the
 * table of states and transitions).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds_module.h"
#include "ngx_http_ds_limit.h"
#include "ngx_http_ds_files.h"
#include "ngx_http_ds_metrics.h"
#include "ds_time.h"


static ngx_int_t ngx_http_ds_send_denial(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx);
static ngx_uint_t ngx_http_ds_revocation_first(ngx_http_ds_ctx_t *ctx);
static ngx_int_t ngx_http_ds_deny(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, ds_reason_t reason);
static ngx_int_t ngx_http_ds_drop_ranges(ngx_http_request_t *r);
static ngx_uint_t ngx_http_ds_same_uri(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx);


ngx_int_t
ngx_http_ds_access_handler(ngx_http_request_t *r)
{
    int64_t                   until;
    ngx_int_t                 rc;
    ngx_http_ds_ctx_t        *ctx;
    ngx_http_ds_loc_conf_t   *dlcf;
    ngx_http_ds_main_conf_t  *dmcf;

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_ds_module);

    if (!dlcf->enforce && !ngx_http_ds_files_enabled(r)) {
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

    /* a download of file proxy mode: the capability is the credential */
    if (dlcf->enforce) {
        /* a JWT whose issuer's jwks_uri is due: parked until fetched */
        rc = ngx_http_ds_jwks_check(r, dmcf, ctx);
        if (rc != NGX_DECLINED) {
            return rc;
        }

        ngx_http_ds_decide(r, dmcf, dlcf, ctx);

    } else {
        ngx_http_ds_files_decide(r, dmcf, ctx);
    }

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

    /* an alert rule's "suspend" (ds_metrics_zone), until it lapses */
    if (ngx_http_ds_metrics_suspended(r, ctx->verdict.recipient_id,
                                      &until))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ds: denied: anomaly_suspended, recipient \"%s\" "
                      "for %M ms more", ctx->verdict.recipient_id,
                      (ngx_msec_t) (until - ds_time_now_ms()));

        return ngx_http_ds_deny(r, ctx, DS_REASON_ANOMALY_SUSPENDED);
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

    if (ctx != NULL && (ngx_http_ds_decided(ctx) || ctx->entered)
        && r == r->main)
    {
        return 1;
    }

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_ds_module);

    if (dlcf->enforce || ngx_http_ds_files_enabled(r)) {
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
