/*
 * What the ngx_ds modules share: the per-request context and the few
 * functions one module calls in another. ngx_http_ds_module owns the
 * context; redis, audit and filter modules read or extend it.
 */

#ifndef _NGX_HTTP_DS_H_INCLUDED_
#define _NGX_HTTP_DS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ds_path.h"
#include "ds_policy.h"


typedef enum {
    NGX_HTTP_DS_RL_NONE = 0,        /* no limiter for this request */
    NGX_HTTP_DS_RL_PENDING,         /* command in flight, request parked */
    NGX_HTTP_DS_RL_ALLOWED,
    NGX_HTTP_DS_RL_LIMITED,
    NGX_HTTP_DS_RL_REVOKED,         /* recipient or token revoked live */
    NGX_HTTP_DS_RL_UNAVAILABLE      /* redis down or slow: mode applied */
} ngx_http_ds_rl_state_e;


typedef struct {
    const ds_policy_t      *policy;         /* the one that decided */
    ds_path_t               path;
    ds_path_err_t           path_err;
    ds_verdict_t            verdict;

    ngx_str_t               purpose;        /* effective purpose: the
                                               validated header value, else
                                               the token's; empty if none */
    u_char                  country[4];     /* "US", "" when unknown */
    size_t                  country_len;
    unsigned                geo:1;          /* a geo DB is configured */

    unsigned                enforced:1;     /* our access check ran */
    unsigned                decided:1;      /* policy decision made */
    unsigned                deny_pending:1; /* denial waits for the live
                                               revocation check */
    unsigned                guarded:1;      /* the guard replaced an
                                               answer nginx made */
    unsigned                answered:1;     /* we sent the response */
    unsigned                done:1;         /* access phase finished */
    ngx_int_t               access_rc;      /* what access phase returned */
    ngx_str_t               uri;            /* r->uri the decision covers */

    /* rate limiting, filled by ngx_http_ds_redis_module */
    ngx_http_ds_rl_state_e  rl_state;
    int64_t                 rl_limit;
    int64_t                 rl_remaining;
    int64_t                 rl_reset_ms;    /* until the bucket is full */
    int64_t                 rl_retry_ms;    /* 429 only */
    void                   *rl_wait;        /* parked-request holder */

    /* list filtering, filled by ngx_http_ds_filter_module */
    ngx_uint_t              items_in;
    ngx_uint_t              items_out;
    unsigned                list_held:1;    /* the filter holds the 200
                                               back and has not passed on
                                               any response yet */
} ngx_http_ds_ctx_t;


/* the context, also after an internal redirect wiped r->ctx */
ngx_http_ds_ctx_t *ngx_http_ds_get_ctx(ngx_http_request_t *r);

/* answer with a Delta Sharing error body and finalize; returns NGX_DONE */
ngx_int_t ngx_http_ds_send_error(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, ngx_uint_t status, ds_reason_t reason,
    const char *message);

/*
 * The Delta Sharing error body {"errorCode": ..., "message": ...} for a
 * reason, JSON-escaped, in a buffer of r->pool (caller sets last_buf).
 */
ngx_buf_t *ngx_http_ds_error_body(ngx_http_request_t *r, ds_reason_t reason,
    const char *message);

/*
 * Does the fail-closed guard own this response? A request our access
 * check ran for, one in a location with "ds_enforce on", or one nginx
 * answered before routing whose URI is under an enforced ds_prefix of
 * its server.
 */
ngx_uint_t ngx_http_ds_enforced(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx);

/* the context, created if the access check never ran */
ngx_http_ds_ctx_t *ngx_http_ds_need_ctx(ngx_http_request_t *r);

/*
 * Hide every response header (an answer of ours replaces the upstream's
 * or nginx's); status, type and length are the caller's to set.
 */
void ngx_http_ds_reset_headers(ngx_http_request_t *r);

/* status, JSON content type and length for an error body of ours */
void ngx_http_ds_json_headers(ngx_http_request_t *r, ngx_uint_t status,
    ngx_buf_t *body);

/*
 * ngx_http_ds_redis_module: called by the access handler once the
 * policy allowed the request. Returns NGX_DECLINED to go on (state in
 * ctx->rl_state), NGX_AGAIN when the request is parked (the module
 * resumes the phases itself), or NGX_DONE when it answered (429/503).
 */
ngx_int_t ngx_http_ds_redis_check(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx);

/*
 * After NGX_AGAIN the redis module sets ctx->rl_state and resumes the
 * phases: the access handler is entered again and, seeing ctx->decided
 * with rl_state no longer PENDING, lets the request go on (NGX_DECLINED)
 * without calling ngx_http_ds_redis_check() a second time. If the redis
 * module answered (ngx_http_ds_send_error sets ctx->answered) the handler
 * returns NGX_DONE.
 */


extern ngx_module_t  ngx_http_ds_module;
extern ngx_module_t  ngx_http_ds_redis_module;
extern ngx_module_t  ngx_http_ds_audit_module;
extern ngx_module_t  ngx_http_ds_guard_module;
extern ngx_module_t  ngx_http_ds_filter_module;


#endif /* _NGX_HTTP_DS_H_INCLUDED_ */
