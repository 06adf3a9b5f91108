/*
 * What the ngx_ds modules share: the per-request context, its state,
 * and the answers every module may give (ngx_http_ds_limit.h has what
 * the access handler and the limiter say to each other).
 * ngx_http_ds_module owns the context; redis, audit and filter modules
 * read or extend it.
 */

#ifndef _NGX_HTTP_DS_H_INCLUDED_
#define _NGX_HTTP_DS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ds_path.h"
#include "ds_policy.h"
#include "ds_disclose.h"


/*
 * What the limiter found, for the audit record and $ds_rate_limit_state.
 * PENDING is never stored: it is what ngx_http_ds_rl_state() reports
 * while the request is parked (a record written for a client that left
 * before the reply says "pending").
 */
typedef enum {
    NGX_HTTP_DS_RL_NONE = 0,        /* no limiter for this request */
    NGX_HTTP_DS_RL_PENDING,         /* command in flight, request parked */
    NGX_HTTP_DS_RL_ALLOWED,
    NGX_HTTP_DS_RL_LIMITED,
    NGX_HTTP_DS_RL_REVOKED,         /* recipient or token revoked live */
    NGX_HTTP_DS_RL_UNAVAILABLE      /* redis down or slow: mode applied */
} ngx_http_ds_rl_state_e;


/*
 * How far a request got: one state, changed only through
 * ngx_http_ds_set_state(), which logs an alert for a transition that is
 * not in this table (CONTRIBUTING.md, "The request state machine").
 *
 *   from          to             by
 *   NEW           DECIDED        access handler: ds_decide() judged
 *   DECIDED       PASSED         access handler: allowed, limiter said go
 *   DECIDED       PARKED         redis: allowed, EVALSHA queued (or a 503
 *                                of closed mode posted)
 *   DECIDED       DENY_PARKED    redis: denied, the live revocation check
 *                                is asked first
 *   DECIDED       ANSWERED       access handler: denial sent
 *   DECIDED       FAILED         access handler: an error of ours (500)
 *   PARKED        RESUMED        redis: reply allowed (or open mode),
 *                                phases run again
 *   DENY_PARKED   DENY_RESUMED   redis: not revoked (or open mode)
 *   PARKED,
 *   DENY_PARKED   ANSWERED       redis: 429, revoked, 503
 *   PARKED,
 *   DENY_PARKED   FAILED         redis: an error of ours on the reply
 *   RESUMED       PASSED         access handler, entered again
 *   DENY_RESUMED  ANSWERED       access handler: the policy's denial
 *   PASSED        ANSWERED       access handler: an internal redirect to
 *                                another URI is denied
 *   PASSED        HELD           list filter: the 200 waits for the body
 *   HELD          PASSED         list filter: filtered list sent
 *   HELD          ANSWERED       list filter: 502 instead of the list
 *
 * ANSWERED and FAILED are final. The access handler, entered again
 * (resumed, internal redirect), acts on the state alone: PARKED waits,
 * RESUMED passes, DENY_RESUMED denies, PASSED checks the URI, ANSWERED
 * and FAILED repeat their answer.
 */
typedef enum {
    NGX_HTTP_DS_NEW = 0,            /* no decision (yet, or ever) */
    NGX_HTTP_DS_DECIDED,            /* the policy judged */
    NGX_HTTP_DS_PARKED,             /* allowed, waiting for Redis */
    NGX_HTTP_DS_DENY_PARKED,        /* denied, waiting for revocation */
    NGX_HTTP_DS_RESUMED,            /* Redis let it go on */
    NGX_HTTP_DS_DENY_RESUMED,       /* not revoked: send the denial */
    NGX_HTTP_DS_PASSED,             /* access phase done: go on */
    NGX_HTTP_DS_HELD,               /* the list filter holds the 200 */
    NGX_HTTP_DS_FAILED,             /* access phase ended in a 500 */
    NGX_HTTP_DS_ANSWERED            /* we sent the response */
} ngx_http_ds_state_e;


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

    /*
     * The guard replaced an answer nginx made. Not a state: it happens
     * to requests in any state but ANSWERED (a 400 before routing, a 500
     * after an allow), and what was decided before still counts.
     */
    unsigned                guarded:1;

    /*
     * The main request ran the rewrite phase of an enforced location:
     * whatever answers it later is ours to check, wherever a rewrite
     * or an internal redirect sent it (ngx_http_ds_guard_module.c).
     */
    unsigned                entered:1;
    unsigned                left:1;         /* ... and left it unchecked */

    ngx_http_ds_state_e     state;
    ngx_str_t               uri;            /* r->uri the decision covers */

    /* rate limiting, filled by ngx_http_ds_redis_module */
    ngx_http_ds_rl_state_e  rl_state;       /* never PENDING, see above */
    int64_t                 rl_limit;
    int64_t                 rl_remaining;
    int64_t                 rl_reset_ms;    /* until the bucket is full */
    int64_t                 rl_retry_ms;    /* 429 only */
    void                   *rl_wait;        /* parked-request holder */

    /* list filtering, filled by ngx_http_ds_filter_module */
    ngx_uint_t              items_in;
    ngx_uint_t              items_out;

    /* what a query answer handed out (ngx_http_ds_query_filter_module) */
    ds_disclosure_t        *disclosure;

    /* a download of file proxy mode (ngx_http_ds_files_module.c) */
    void                   *file;

    /* an issuer's jwks_uri fetched first (ngx_http_ds_jwks.c) */
    void                   *jwks_issuer;    /* ds_issuer_t */
    unsigned                jwks_state:2;
    unsigned                jwks_digested:1;
    u_char                  jwks_digest[32];    /* the bearer's SHA-256 */
} ngx_http_ds_ctx_t;


#if (NGX_DEBUG)
/* indexed by the state left: a bit for each state it may go to */
extern const uint32_t  ngx_http_ds_next[];

void ngx_http_ds_illegal_state(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ngx_http_ds_state_e state);
#endif


/*
 * The one way to change ctx->state; in debug builds a transition not in
 * the table is alerted. Inline: it runs several times per request.
 */
static ngx_inline void
ngx_http_ds_set_state(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ngx_http_ds_state_e state)
{
#if (NGX_DEBUG)
    if (!(ngx_http_ds_next[ctx->state] & (1u << state))) {
        ngx_http_ds_illegal_state(r, ctx, state);
    }
#endif

    ctx->state = state;
}

/* the policy judged this request (whatever happened after) */
#define ngx_http_ds_decided(ctx)   ((ctx)->state != NGX_HTTP_DS_NEW)

/* the response is ours: a denial, a 429/503, the list filter's 502 */
#define ngx_http_ds_answered(ctx)  ((ctx)->state == NGX_HTTP_DS_ANSWERED)

/* the limiter's finding, PENDING while parked */
static ngx_inline ngx_http_ds_rl_state_e
ngx_http_ds_rl_state(ngx_http_ds_ctx_t *ctx)
{
    if (ctx->state == NGX_HTTP_DS_PARKED
        || ctx->state == NGX_HTTP_DS_DENY_PARKED)
    {
        return NGX_HTTP_DS_RL_PENDING;
    }

    return ctx->rl_state;
}

/* "none", "pending", ... indexed by ngx_http_ds_rl_state_e */
extern const ngx_str_t  ngx_http_ds_rl_names[];


/* the context, also after an internal redirect wiped r->ctx */
ngx_http_ds_ctx_t *ngx_http_ds_get_ctx(ngx_http_request_t *r);

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
void ngx_http_ds_hide_headers(ngx_http_request_t *r, ngx_str_t *keep);
ngx_table_elt_t *ngx_http_ds_find_header(ngx_http_request_t *r,
    ngx_str_t *name);

/* an allowed answer we could not check becomes a 502 (audit, $ds_reason) */
void ngx_http_ds_upstream_invalid(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, const char *why);

/* status, JSON content type and length for an error body of ours */
void ngx_http_ds_json_headers(ngx_http_request_t *r, ngx_uint_t status,
    ngx_buf_t *body);

/*
 * The log phase's reading of a request (ngx_http_ds_outcome.c): the
 * status the client got (*undelivered: a held 200 that never left, now
 * a 502) and the decision with its reason (DS_REASON_COUNT: none).
 */
typedef enum {
    NGX_HTTP_DS_OUTCOME_ALLOW = 0,
    NGX_HTTP_DS_OUTCOME_DENY,
    NGX_HTTP_DS_OUTCOME_ERROR
} ngx_http_ds_outcome_e;

ngx_int_t ngx_http_ds_log_status(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, ngx_uint_t *undelivered);
ngx_http_ds_outcome_e ngx_http_ds_outcome(ngx_http_ds_ctx_t *ctx,
    ngx_int_t status, ngx_uint_t undelivered, ds_reason_t *reason);

extern ngx_module_t  ngx_http_ds_module;
extern ngx_module_t  ngx_http_ds_redis_module;
extern ngx_module_t  ngx_http_ds_audit_module;
extern ngx_module_t  ngx_http_ds_guard_module;
extern ngx_module_t  ngx_http_ds_filter_module;
extern ngx_module_t  ngx_http_ds_query_filter_module;

/* does this location replace file links by capabilities (ds_files_proxy) */
ngx_uint_t ngx_http_ds_files_proxied(ngx_http_request_t *r);


#endif /* _NGX_HTTP_DS_H_INCLUDED_ */
