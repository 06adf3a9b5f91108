/*
 * What a request came to, as the log phase tells it: the status the
 * client got and the decision (allow, deny, error) with its reason. One
 * reading for the audit record and the metrics alike.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds.h"


ngx_int_t
ngx_http_ds_log_status(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ngx_uint_t *undelivered)
{
    ngx_int_t  status;

    status = r->err_status ? (ngx_int_t) r->err_status
                           : (ngx_int_t) r->headers_out.status;
    if (status == 0 && r->connection->error) {
        status = 499;
    }

    /*
     * The list filter still held the 200 back when the request ended:
     * the upstream hung up (or timed out) in the middle of the body.
     * nginx counts the held header as sent, closes the connection and
     * logs $status 200, but the client got nothing; the gateway failed
     * as with any list body it could not filter.
     */
    *undelivered = (ctx != NULL && ctx->state == NGX_HTTP_DS_HELD
                    && status == NGX_HTTP_OK);
    if (*undelivered) {
        status = NGX_HTTP_BAD_GATEWAY;
    }

    return status;
}


ngx_http_ds_outcome_e
ngx_http_ds_outcome(ngx_http_ds_ctx_t *ctx, ngx_int_t status,
    ngx_uint_t undelivered, ds_reason_t *reason)
{
    ngx_uint_t  denied;

    *reason = DS_REASON_COUNT;

    if (ctx == NULL) {
        /* nginx answered before routing: a malformed request, or none */
        if (status >= 400 && status < 500 && status != 404 && status != 499)
        {
            *reason = DS_REASON_BAD_REQUEST;
        }
        return NGX_HTTP_DS_OUTCOME_ERROR;
    }

    if (ctx->guarded) {
        /* the guard answered in place of nginx (or of nothing of ours) */
        *reason = ctx->verdict.reason;
        return NGX_HTTP_DS_OUTCOME_ERROR;
    }

    if (undelivered || ctx->verdict.reason == DS_REASON_UPSTREAM_INVALID) {
        /* allowed, but the upstream failed to produce a filterable list */
        *reason = DS_REASON_UPSTREAM_INVALID;
        return NGX_HTTP_DS_OUTCOME_ERROR;
    }

    *reason = ctx->verdict.reason;
    denied = ngx_http_ds_answered(ctx)
             || (ngx_http_ds_decided(ctx) && !ctx->verdict.allow);

    if (denied && *reason == DS_REASON_ALLOWED) {
        /* the limiter or the path parser answered, not the policy */
        switch (ngx_http_ds_rl_state(ctx)) {
        case NGX_HTTP_DS_RL_LIMITED:
            *reason = DS_REASON_RATE_LIMITED;
            break;
        case NGX_HTTP_DS_RL_REVOKED:
            *reason = DS_REASON_TOKEN_REVOKED;
            break;
        case NGX_HTTP_DS_RL_UNAVAILABLE:
            *reason = DS_REASON_RATE_LIMITER_UNAVAILABLE;
            break;
        default:
            *reason = (ctx->path_err == DS_PATH_OK
                       || ctx->path_err == DS_PATH_UNKNOWN_ENDPOINT
                       || ctx->path_err == DS_PATH_METHOD_NOT_ALLOWED
                       || ctx->path_err == DS_PATH_NOT_UNDER_PREFIX)
                      ? DS_REASON_UNKNOWN_ENDPOINT : DS_REASON_BAD_REQUEST;
        }
    }

    if (denied) {
        return NGX_HTTP_DS_OUTCOME_DENY;
    }

    if (ngx_http_ds_decided(ctx)) {
        return NGX_HTTP_DS_OUTCOME_ALLOW;
    }

    /* the request ended before the policy could decide */
    *reason = ctx->path_err == DS_PATH_OK ? DS_REASON_COUNT
                                          : DS_REASON_BAD_REQUEST;

    return NGX_HTTP_DS_OUTCOME_ERROR;
}
