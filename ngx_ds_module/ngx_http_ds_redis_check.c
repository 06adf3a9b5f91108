/*
 * The request side of ngx_http_ds_redis_module: one EVALSHA per request
 * for the rate limit and the live revocation check, without blocking a
 * worker.
 *
 * The access handler of ngx_http_ds_module calls
 * ngx_http_ds_redis_check() once the policy allowed a request. The
 * check queues one EVALSHA on the worker's connection and parks the
 * request the way limit_req delays one: NGX_AGAIN from the access phase,
 * client aborts noticed by ngx_http_test_reading. The reply (or the
 * command timeout, or the connection's loss) resumes it:
 *
 *   - allowed (or Redis unavailable with failure mode open): the module
 *     sets ctx->rl_state, moves the state to RESUMED (DENY_RESUMED for a
 *     denial that waited) and runs the phases again; the access handler
 *     is re-entered and goes on as if the check had returned
 *     NGX_DECLINED (or sends the policy's denial);
 *   - limited, revoked, or unavailable in closed mode: the module
 *     answers through ngx_http_ds_send_error() itself and never re-runs
 *     the phases.
 *
 * The check itself never answers: it returns NGX_DECLINED (go on) or
 * NGX_AGAIN (parked), never NGX_DONE. Even a 503 known at once (Redis
 * down, closed mode) is sent from a posted event, so the access handler
 * never runs on after its request was finalized and freed.
 *
 * A reply may arrive after nginx freed the request (client gone). The
 * waiting state therefore lives in a holder allocated with ngx_alloc(),
 * handed to the connection as its reply's data, and tied to the request
 * only through a pool cleanup that clears holder->r: whichever side
 * finishes last frees the holder.
 *
 * With ds_redis_lease on, a request first tries a cell of its worker's
 * lease (ngx_http_ds_redis_lease.c) and goes on at once if there is
 * one; a refresh is then sent in the background, as a holder with no
 * request. A request without a cell parks as above, its call charging
 * the lease's k cells (or 1). Reply callbacks never run request code themselves (they
 * run inside the connection's read loop or its close): they post the
 * holder's event and the request resumes from nginx's posted queue.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds_limit.h"
#include "ngx_http_ds_redis.h"
#include "ngx_http_ds_metrics.h"
#include "ds_lease.h"


#define NGX_HTTP_DS_REDIS_ARGC    13      /* the 13th: cells, leases */


typedef struct {
    ngx_http_request_t    *r;           /* NULL once gone or resumed */
    ngx_http_ds_ctx_t     *ctx;
    ngx_pool_cleanup_t    *cln;
    ngx_event_t            ev;          /* command timeout, then resume */
    ds_gcra_result_t       res;
    ngx_http_ds_redis_main_conf_t  *rmcf;
    ds_gcra_params_t       p;
    ngx_msec_t             sent;        /* lease mode: when it was sent */
    int64_t                granted;     /* cells the script charged */
    uint32_t               cells;       /* cells asked for */
    unsigned               in_flight:1; /* the connection holds it */
    unsigned               answered:1;  /* res is valid */
    unsigned               resent:1;    /* once, after a NOSCRIPT */
    unsigned               lease:1;     /* the answer feeds a lease */
    unsigned               lease_call:1;
    unsigned               refresh:1;   /* no request: a lease refresh */
    const char            *argv[NGX_HTTP_DS_REDIS_ARGC];
    size_t                 argvlen[NGX_HTTP_DS_REDIS_ARGC];
    u_char                 data[1];     /* key, ids and numbers */
} ngx_http_ds_redis_wait_t;


static ngx_int_t ngx_http_ds_redis_park(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, ngx_http_ds_redis_main_conf_t *rmcf,
    ds_gcra_params_t *p, u_char *key, size_t key_len,
    ngx_http_ds_redis_lease_ask_t *ask);
static ngx_http_ds_redis_wait_t *ngx_http_ds_redis_wait_new(
    ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ngx_http_ds_redis_main_conf_t *rmcf, ds_gcra_params_t *p, u_char *key,
    size_t key_len, uint32_t cells);
static void ngx_http_ds_redis_refresh(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, ngx_http_ds_redis_main_conf_t *rmcf,
    ds_gcra_params_t *p, u_char *key, size_t key_len, uint32_t cells);
static void ngx_http_ds_redis_lease_feed(ngx_http_ds_redis_wait_t *w,
    ngx_uint_t ok);
static ngx_int_t ngx_http_ds_redis_unavailable(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, ngx_http_ds_redis_wait_t *w);
static void ngx_http_ds_redis_hold(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, ngx_pool_cleanup_t *cln,
    ngx_http_ds_redis_wait_t *w);
static ngx_int_t ngx_http_ds_redis_send(ngx_http_ds_redis_wait_t *w);
static void ngx_http_ds_redis_reply(redisReply *rep, void *privdata);
static ngx_int_t ngx_http_ds_redis_read_reply(ngx_http_ds_redis_wait_t *w,
    redisReply *rep);
static void ngx_http_ds_redis_timeout(ngx_event_t *ev);
static void ngx_http_ds_redis_wake(ngx_event_t *ev);
static void ngx_http_ds_redis_request_gone(void *data);
static void ngx_http_ds_redis_resume(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, ds_gcra_result_t *res);
static ngx_int_t ngx_http_ds_redis_apply(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, ds_gcra_result_t *res);
static ngx_int_t ngx_http_ds_redis_deny(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, ngx_uint_t status, ds_reason_t reason,
    const char *message);
static ngx_int_t ngx_http_ds_redis_headers(ngx_http_request_t *r,
    ds_gcra_result_t *res);
static ngx_int_t ngx_http_ds_redis_push_header(ngx_http_request_t *r,
    ngx_str_t *name, int64_t value);


static ngx_str_t  ngx_http_ds_redis_h_limit = ngx_string("RateLimit-Limit");
static ngx_str_t  ngx_http_ds_redis_h_remaining =
    ngx_string("RateLimit-Remaining");
static ngx_str_t  ngx_http_ds_redis_h_reset = ngx_string("RateLimit-Reset");
static ngx_str_t  ngx_http_ds_redis_h_retry = ngx_string("Retry-After");


ngx_int_t
ngx_http_ds_redis_check(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx)
{
    size_t                          key_len;
    u_char                          key[DS_GCRA_KEY_MAX];
    ngx_int_t                       rc;
    const char                     *share;
    ds_gcra_params_t                p;
    ngx_http_ds_redis_lease_ask_t   ask;
    ngx_http_ds_redis_loc_conf_t   *rlcf;
    ngx_http_ds_redis_main_conf_t  *rmcf;

    if (ctx->state == NGX_HTTP_DS_PARKED
        || ctx->state == NGX_HTTP_DS_DENY_PARKED)
    {
        return NGX_AGAIN;
    }

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_ds_redis_module);

    if (!rmcf->enabled || ctx->verdict.recipient_id == NULL) {
        ctx->rl_state = NGX_HTTP_DS_RL_NONE;
        return NGX_DECLINED;
    }

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_ds_redis_module);

    ngx_memzero(&p, sizeof(ds_gcra_params_t));

    /* a denial waiting for the revocation check spends no quota */
    if (rlcf->rate_limit && ctx->verdict.allow
        && ds_gcra_params(&ctx->verdict.rate_limit, &p) != 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ds_redis: rate limit of recipient \"%s\" is out of "
                      "range", ctx->verdict.recipient_id);
        return ngx_http_ds_redis_unavailable(r, ctx, NULL);
    }

    share = NULL;

    if (p.emission_us
        && ctx->verdict.rate_limit.scope == DS_RL_SCOPE_SHARE
        && ctx->path.share_len)
    {
        share = ctx->path.share;
    }

    key_len = ds_gcra_limit_key((char *) key, sizeof(key),
                                (const char *) rmcf->prefix.data,
                                ctx->verdict.recipient_id, share);
    if (key_len == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ds_redis: no limit key for recipient \"%s\"",
                      ctx->verdict.recipient_id);
        return ngx_http_ds_redis_unavailable(r, ctx, NULL);
    }

    if (!rmcf->lease || !ctx->verdict.allow) {
        return ngx_http_ds_redis_park(r, ctx, rmcf, &p, key, key_len, NULL);
    }

    rc = ngx_http_ds_redis_lease_take(rmcf, &p, key, key_len,
                                      ctx->verdict.token_id
                                      ? ctx->verdict.token_id : "", &ask);

    if (ask.refresh) {
        ngx_http_ds_redis_refresh(r, ctx, rmcf, &p, key, key_len,
                                  ask.refresh);
    }

    if (rc == NGX_OK) {
        /* a cell (or a "not revoked") of the lease: no round trip */
        return ngx_http_ds_redis_apply(r, ctx, &ask.res);
    }

    return ngx_http_ds_redis_park(r, ctx, rmcf, &p, key, key_len, &ask);
}


/* the EVALSHA for ctx's request, charging cells (1: exact) */
static ngx_http_ds_redis_wait_t *
ngx_http_ds_redis_wait_new(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ngx_http_ds_redis_main_conf_t *rmcf, ds_gcra_params_t *p, u_char *key,
    size_t key_len, uint32_t cells)
{
    size_t                     tid_len, sid_len, size, rk_len[3];
    u_char                    *d;
    char                       rk[3][DS_GCRA_KEY_MAX];
    char                       sid[DS_GCRA_SUBJECT_ID_LEN + 1];
    const char                *tid, *prefix;
    ngx_uint_t                 i;
    ngx_http_ds_redis_wait_t  *w;

    prefix = (const char *) rmcf->prefix.data;

    /* the recipient's revocation keys, in the slot of its limit key */
    for (i = 0; i < 3; i++) {
        rk_len[i] = ds_gcra_revoked_key(rk[i], DS_GCRA_KEY_MAX, prefix,
                                        ctx->verdict.recipient_id,
                                        (ds_gcra_revoked_t) i);
        if (rk_len[i] == 0) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "ds_redis: no revocation key for recipient "
                          "\"%s\"", ctx->verdict.recipient_id);
            return NULL;
        }
    }

    tid = ctx->verdict.token_id ? ctx->verdict.token_id : "";
    tid_len = ngx_strlen(tid);

    /* a JWT bearer: its issuer + subject may be revoked (issue #15) */
    sid[0] = '\0';
    sid_len = 0;

    if (ctx->verdict.jwt.present
        && ds_gcra_subject_id(sid, sizeof(sid), ctx->verdict.jwt.issuer,
                              ctx->verdict.jwt.subject) == 0)
    {
        sid_len = DS_GCRA_SUBJECT_ID_LEN;
    }

    /* the key and the token id NUL-terminated too, for the lease table */
    size = sizeof(ngx_http_ds_redis_wait_t) + key_len + rk_len[0]
           + rk_len[1] + rk_len[2] + tid_len + sid_len + 2
           + 4 * NGX_INT64_LEN;

    w = ngx_alloc(size, r->connection->log);
    if (w == NULL) {
        return NULL;
    }

    ngx_memzero(w, sizeof(ngx_http_ds_redis_wait_t));

    w->rmcf = rmcf;
    w->p = *p;
    w->cells = cells;
    w->sent = ngx_current_msec;

    w->argv[0] = "EVALSHA";
    w->argv[1] = (const char *) rmcf->sha1;
    w->argv[2] = "4";
    w->argvlen[0] = sizeof("EVALSHA") - 1;
    w->argvlen[1] = DS_GCRA_SHA1_LEN;
    w->argvlen[2] = 1;

    d = w->data;

    w->argv[3] = (const char *) d;
    w->argvlen[3] = key_len;
    d = ngx_cpymem(d, key, key_len);
    *d++ = '\0';

    for (i = 0; i < 3; i++) {
        w->argv[4 + i] = (const char *) d;
        w->argvlen[4 + i] = rk_len[i];
        d = ngx_cpymem(d, rk[i], rk_len[i]);
    }

    w->argv[7] = (const char *) d;
    w->argvlen[7] = tid_len;
    d = ngx_cpymem(d, tid, tid_len);
    *d++ = '\0';

    w->argv[8] = (const char *) d;
    w->argvlen[8] = sid_len;
    d = ngx_cpymem(d, sid, sid_len);

    w->argv[9] = (const char *) d;
    w->argvlen[9] = ngx_sprintf(d, "%uL", p->emission_us) - d;
    d += w->argvlen[9];

    w->argv[10] = (const char *) d;
    w->argvlen[10] = ngx_sprintf(d, "%uL", p->tolerance_us) - d;
    d += w->argvlen[10];

    w->argv[11] = (const char *) d;
    w->argvlen[11] = ngx_sprintf(d, "%uL", p->limit) - d;
    d += w->argvlen[11];

    w->argv[12] = (const char *) d;
    w->argvlen[12] = ngx_sprintf(d, "%uD", cells) - d;

    return w;
}


/*
 * A lease taken ahead of need: no request waits for it, and its loss
 * (Redis down, a timeout) only means the next requests ask themselves.
 */
static void
ngx_http_ds_redis_refresh(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ngx_http_ds_redis_main_conf_t *rmcf, ds_gcra_params_t *p, u_char *key,
    size_t key_len, uint32_t cells)
{
    ngx_http_ds_redis_wait_t  *w;

    w = ngx_http_ds_redis_wait_new(r, ctx, rmcf, p, key, key_len, cells);

    if (w == NULL) {
        ngx_http_ds_redis_lease_answer(rmcf, p, key, key_len,
                                       ctx->verdict.token_id
                                       ? ctx->verdict.token_id : "",
                                       ngx_current_msec, 1, NULL, 0, 0);
        return;
    }

    w->lease = 1;
    w->lease_call = 1;
    w->refresh = 1;

    if (ngx_http_ds_redis_send(w) != NGX_OK) {
        ngx_http_ds_redis_lease_feed(w, 0);
        ngx_free(w);
    }
}


/* what a reply (ok) or its absence tells the lease table */
static void
ngx_http_ds_redis_lease_feed(ngx_http_ds_redis_wait_t *w, ngx_uint_t ok)
{
    ngx_http_ds_redis_lease_answer(w->rmcf, &w->p, (u_char *) w->argv[3],
                                   w->argvlen[3], w->argv[7], w->sent,
                                   w->lease_call, ok ? &w->res : NULL,
                                   w->granted, w->refresh ? 0 : 1);
}


static ngx_int_t
ngx_http_ds_redis_park(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ngx_http_ds_redis_main_conf_t *rmcf, ds_gcra_params_t *p, u_char *key,
    size_t key_len, ngx_http_ds_redis_lease_ask_t *ask)
{
    ngx_pool_cleanup_t        *cln;
    ngx_http_ds_redis_wait_t  *w;

    /* registered first: once the connection holds w, nothing may fail */
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        goto failed;
    }

    w = ngx_http_ds_redis_wait_new(r, ctx, rmcf, p, key, key_len,
                                   ask ? ask->cells : 1);
    if (w == NULL) {
        goto failed;
    }

    if (ask) {
        w->lease = 1;
        w->lease_call = ask->lease_call;
    }

    if (ngx_http_ds_redis_send(w) != NGX_OK) {
        /* reconnecting or backing off: answer now, never wait */
        if (w->lease) {
            ngx_http_ds_redis_lease_feed(w, 0);
        }

        return ngx_http_ds_redis_unavailable(r, ctx, w);
    }

    w->in_flight = 1;

    ngx_http_ds_redis_hold(r, ctx, cln, w);

    w->ev.handler = ngx_http_ds_redis_timeout;
    ngx_add_timer(&w->ev, rmcf->command_timeout);

    return NGX_AGAIN;

failed:

    if (ask && ask->lease_call) {
        ngx_http_ds_redis_lease_answer(rmcf, p, key, key_len,
                                       ctx->verdict.token_id
                                       ? ctx->verdict.token_id : "",
                                       ngx_current_msec, 1, NULL, 0, 0);
    }

    return NGX_ERROR;
}


/*
 * Redis cannot be asked. Open: go on at once. Closed: the 503 is sent
 * from a posted event, as every answer of this module is, so that the
 * access handler never has to return after its request was finalized.
 */
static ngx_int_t
ngx_http_ds_redis_unavailable(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ngx_http_ds_redis_wait_t *w)
{
    ngx_pool_cleanup_t            *cln;
    ngx_http_ds_redis_loc_conf_t  *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_ds_redis_module);

    if (rlcf->failure_mode == NGX_HTTP_DS_REDIS_OPEN) {
        if (w) {
            ngx_free(w);
        }

        ctx->rl_state = NGX_HTTP_DS_RL_UNAVAILABLE;
        return NGX_DECLINED;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        if (w) {
            ngx_free(w);
        }

        return NGX_ERROR;
    }

    if (w == NULL) {
        w = ngx_alloc(sizeof(ngx_http_ds_redis_wait_t), r->connection->log);
        if (w == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(w, sizeof(ngx_http_ds_redis_wait_t));
    }

    ngx_http_ds_redis_hold(r, ctx, cln, w);

    w->ev.handler = ngx_http_ds_redis_wake;
    ngx_post_event(&w->ev, &ngx_posted_events);

    return NGX_AGAIN;
}


static void
ngx_http_ds_redis_hold(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ngx_pool_cleanup_t *cln, ngx_http_ds_redis_wait_t *w)
{
    w->r = r;
    w->ctx = ctx;
    w->cln = cln;

    cln->handler = ngx_http_ds_redis_request_gone;
    cln->data = w;

    w->ev.data = w;
    w->ev.log = r->connection->log;

    ngx_http_ds_set_state(r, ctx, ctx->verdict.allow
                                  ? NGX_HTTP_DS_PARKED
                                  : NGX_HTTP_DS_DENY_PARKED);
    ctx->rl_wait = w;

    /* as limit_req's delay: notice a client that goes away meanwhile */
    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;
}


/* the EVALSHA of w, first or again after a NOSCRIPT */
static ngx_int_t
ngx_http_ds_redis_send(ngx_http_ds_redis_wait_t *w)
{
    return ngx_http_ds_redis_conn_send(ngx_http_ds_redis_reply, w,
                                       w->cells > 1
                                       ? NGX_HTTP_DS_REDIS_ARGC
                                       : NGX_HTTP_DS_REDIS_ARGC - 1,
                                       w->argv, w->argvlen);
}


static void
ngx_http_ds_redis_reply(redisReply *rep, void *privdata)
{
    ngx_http_ds_redis_wait_t  *w = privdata;

    /* one callback per command queued (a NOSCRIPT resend queues anew) */
    ngx_http_ds_metrics_redis_in_flight(-1);

    if (w->lease && (w->refresh || w->r == NULL)) {
        /* cells charged for a request gone are still this worker's */
        if (rep && rep->type == REDIS_REPLY_ERROR
            && ds_gcra_is_noscript(rep->str, rep->len))
        {
            /* nothing charged; the next request's call reloads it */
            ngx_http_ds_redis_lease_feed(w, 0);

        } else if (rep && ngx_http_ds_redis_read_reply(w, rep) == NGX_OK) {
            ngx_http_ds_redis_conn_healthy();
            ngx_http_ds_redis_lease_feed(w, 1);

        } else {
            ngx_http_ds_redis_lease_feed(w, 0);
        }

        ngx_free(w);
        return;
    }

    if (w->r == NULL) {
        /*
         * The request timed out or its client left: nobody reads this
         * reply, whatever it says (a NOSCRIPT is not worth a reload, the
         * script did not run and charged nothing).
         */
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "ds_redis: reply type %d for a request gone",
                       rep ? rep->type : -1);

        if (rep && rep->type != REDIS_REPLY_ERROR) {
            ngx_http_ds_redis_conn_healthy();
        }

        ngx_free(w);
        return;
    }

    if (rep && w->resent == 0 && rep->type == REDIS_REPLY_ERROR
        && ds_gcra_is_noscript(rep->str, rep->len))
    {
        /*
         * SCRIPT FLUSH under the live connection: one SCRIPT LOAD for
         * every request that met it, then this EVALSHA again behind it.
         */
        w->resent = 1;

        if (ngx_http_ds_redis_conn_reload_script() == NGX_OK
            && ngx_http_ds_redis_send(w) == NGX_OK)
        {
            return;
        }
    }

    w->in_flight = 0;

    if (rep && ngx_http_ds_redis_read_reply(w, rep) == NGX_OK) {
        ngx_http_ds_redis_conn_healthy();
        w->answered = 1;
    }

    if (w->lease) {
        ngx_http_ds_redis_lease_feed(w, w->answered);

        /* the cells this worker now holds would be admitted too */
        if (w->answered && w->granted > 1) {
            w->res.remaining += w->granted - 1;

            if (w->res.remaining > w->res.limit) {
                w->res.remaining = w->res.limit;
            }
        }

        /* fed once: a late timeout or loss must not feed it again */
        w->lease = 0;
    }

    if (w->ev.timer_set) {
        ngx_del_timer(&w->ev);
    }

    w->ev.handler = ngx_http_ds_redis_wake;
    ngx_post_event(&w->ev, &ngx_posted_events);
}


static ngx_int_t
ngx_http_ds_redis_read_reply(ngx_http_ds_redis_wait_t *w, redisReply *rep)
{
    size_t       i;
    long long    v[6];
    ngx_log_t   *log;

    log = w->r ? w->r->connection->log : ngx_cycle->log;

    if (rep->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "ds_redis: script failed: %*s",
                      (size_t) rep->len, rep->str);
        return NGX_ERROR;
    }

    if (rep->type != REDIS_REPLY_ARRAY
        || (rep->elements != 5 && rep->elements != 6))
    {
        goto invalid;
    }

    for (i = 0; i < rep->elements; i++) {
        if (rep->element[i]->type != REDIS_REPLY_INTEGER) {
            goto invalid;
        }

        v[i] = rep->element[i]->integer;
    }

    if (ds_lease_parse_reply(v, rep->elements, w->cells, &w->res,
                             &w->granted)
        == 0)
    {
        return NGX_OK;
    }

invalid:

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "ds_redis: unexpected reply from the script (type %d)",
                  rep->type);

    return NGX_ERROR;
}


static void
ngx_http_ds_redis_timeout(ngx_event_t *ev)
{
    ngx_http_request_t             *r;
    ngx_http_ds_ctx_t              *ctx;
    ngx_http_ds_redis_wait_t       *w;
    ngx_http_ds_redis_main_conf_t  *rmcf;

    w = ev->data;
    r = w->r;
    ctx = w->ctx;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_ds_redis_module);

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "ds_redis: no reply from %V within %M ms",
                  &rmcf->addr, rmcf->command_timeout);

    /* the connection holds w: its callback frees it, r stays out of it */
    w->r = NULL;
    w->cln->handler = NULL;

    /* may drop the connection, which runs (and frees) w's callback */
    ngx_http_ds_redis_conn_timed_out();

    ngx_http_ds_redis_resume(r, ctx, NULL);
}


static void
ngx_http_ds_redis_wake(ngx_event_t *ev)
{
    ds_gcra_result_t           res;
    ngx_http_request_t        *r;
    ngx_http_ds_ctx_t         *ctx;
    ngx_http_ds_redis_wait_t  *w;

    w = ev->data;
    r = w->r;
    ctx = w->ctx;
    res = w->res;

    w->cln->handler = NULL;

    if (w->answered) {
        ngx_free(w);
        ngx_http_ds_redis_resume(r, ctx, &res);
        return;
    }

    ngx_free(w);
    ngx_http_ds_redis_resume(r, ctx, NULL);
}


static void
ngx_http_ds_redis_request_gone(void *data)
{
    ngx_http_ds_redis_wait_t  *w = data;

    if (w->ev.timer_set) {
        ngx_del_timer(&w->ev);
    }

    if (w->ev.posted) {
        ngx_delete_posted_event(&w->ev);
    }

    w->r = NULL;

    if (!w->in_flight) {
        ngx_free(w);
    }
}


static void
ngx_http_ds_redis_resume(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ds_gcra_result_t *res)
{
    ngx_int_t          rc;
    ngx_connection_t  *c;

    c = r->connection;

    ctx->rl_wait = NULL;
    r->read_event_handler = ngx_http_block_reading;

    rc = ngx_http_ds_redis_apply(r, ctx, res);

    if (rc == NGX_DECLINED) {
        ngx_http_ds_set_state(r, ctx, ctx->state == NGX_HTTP_DS_PARKED
                                      ? NGX_HTTP_DS_RESUMED
                                      : NGX_HTTP_DS_DENY_RESUMED);

        r->write_event_handler = ngx_http_core_run_phases;
        ngx_http_core_run_phases(r);

    } else if (rc == NGX_ERROR) {
        ngx_http_ds_set_state(r, ctx, NGX_HTTP_DS_FAILED);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    /* NGX_DONE: ngx_http_ds_send_error() finalized the request */

    ngx_http_run_posted_requests(c);
}


/* res NULL: Redis unavailable (down, slow, error), the mode decides */
static ngx_int_t
ngx_http_ds_redis_apply(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ds_gcra_result_t *res)
{
    char                           message[64];
    ngx_http_ds_redis_loc_conf_t  *rlcf;

    if (res == NULL) {
        ctx->rl_state = NGX_HTTP_DS_RL_UNAVAILABLE;

        rlcf = ngx_http_get_module_loc_conf(r, ngx_http_ds_redis_module);

        if (rlcf->failure_mode == NGX_HTTP_DS_REDIS_OPEN) {
            return NGX_DECLINED;
        }

        /* clients retry a 503: tell them when */
        if (ngx_http_ds_redis_push_header(r, &ngx_http_ds_redis_h_retry, 1)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        return ngx_http_ds_redis_deny(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                   DS_REASON_RATE_LIMITER_UNAVAILABLE,
                   "The rate limiter is unavailable, retry later.");
    }

    ctx->rl_limit = res->limit;
    ctx->rl_remaining = res->remaining;
    ctx->rl_reset_ms = res->reset_ms;
    ctx->rl_retry_ms = res->retry_ms;

    switch (res->status) {

    case DS_GCRA_TOKEN_REVOKED:
        ctx->rl_state = NGX_HTTP_DS_RL_REVOKED;
        return ngx_http_ds_redis_deny(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                      DS_REASON_TOKEN_REVOKED,
                                      "The bearer token has been revoked.");

    case DS_GCRA_RECIPIENT_REVOKED:
        ctx->rl_state = NGX_HTTP_DS_RL_REVOKED;
        return ngx_http_ds_redis_deny(r, ctx, NGX_HTTP_FORBIDDEN,
                                      DS_REASON_RECIPIENT_REVOKED,
                                      "Access for this recipient has been "
                                      "revoked.");

    case DS_GCRA_LIMITED:
        ctx->rl_state = NGX_HTTP_DS_RL_LIMITED;

        if (ngx_http_ds_redis_headers(r, res) != NGX_OK) {
            return NGX_ERROR;
        }

        /* the same number as Retry-After: clients show only the body */
        if (ds_gcra_retry_message(message, sizeof(message),
                                  ds_gcra_retry_after(res))
            == 0)
        {
            return NGX_ERROR;
        }

        return ngx_http_ds_redis_deny(r, ctx, 429, DS_REASON_RATE_LIMITED,
                                      message);

    default: /* DS_GCRA_ALLOWED */
        if (res->limit == 0) {
            /* no limit for this recipient: only revocation was checked */
            ctx->rl_state = NGX_HTTP_DS_RL_NONE;
            return NGX_DECLINED;
        }

        ctx->rl_state = NGX_HTTP_DS_RL_ALLOWED;

        if (ngx_http_ds_redis_headers(r, res) != NGX_OK) {
            return NGX_ERROR;
        }

        return NGX_DECLINED;
    }
}


static ngx_int_t
ngx_http_ds_redis_deny(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ngx_uint_t status, ds_reason_t reason, const char *message)
{
    /* the audit record and $ds_reason tell the real outcome */
    ctx->verdict.allow = 0;
    ctx->verdict.reason = reason;
    ctx->verdict.http_status = (int) status;

    return ngx_http_ds_send_error(r, ctx, status, reason, message);
}


/*
 * Pushed during the access phase they reach the client on proxied and
 * error responses alike: upstream headers are added to the same list.
 */
static ngx_int_t
ngx_http_ds_redis_headers(ngx_http_request_t *r, ds_gcra_result_t *res)
{
    if (ngx_http_ds_redis_push_header(r, &ngx_http_ds_redis_h_limit,
                                      res->limit) != NGX_OK
        || ngx_http_ds_redis_push_header(r, &ngx_http_ds_redis_h_remaining,
                                         res->remaining) != NGX_OK
        || ngx_http_ds_redis_push_header(r, &ngx_http_ds_redis_h_reset,
                                         ds_gcra_seconds(res->reset_ms))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (res->status != DS_GCRA_LIMITED) {
        return NGX_OK;
    }

    return ngx_http_ds_redis_push_header(r, &ngx_http_ds_redis_h_retry,
                                         ds_gcra_retry_after(res));
}


static ngx_int_t
ngx_http_ds_redis_push_header(ngx_http_request_t *r, ngx_str_t *name,
    int64_t value)
{
    u_char     *p;
    ngx_str_t   v;

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v.data = p;
    v.len = ngx_sprintf(p, "%L", value) - p;

    return ngx_http_ds_push_header(r, NULL, name, &v);
}
