/*
 * ngx_http_ds_redis_module: fleet-wide rate limits and live revocation
 * through Redis, one round trip per request, without blocking a worker.
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
 * handed to hiredis as privdata, and tied to the request only through a
 * pool cleanup that clears holder->r: whichever side finishes last frees
 * the holder. Reply callbacks never run request code themselves (they
 * run inside hiredis, which may be freeing its context): they post the
 * holder's event and the request resumes from nginx's posted queue.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds_limit.h"
#include "ngx_http_ds_redis.h"


#define NGX_HTTP_DS_REDIS_OPEN    0
#define NGX_HTTP_DS_REDIS_CLOSED  1

#define NGX_HTTP_DS_REDIS_ARGC    11


typedef struct {
    ngx_uint_t      failure_mode;
    ngx_flag_t      rate_limit;
} ngx_http_ds_redis_loc_conf_t;


typedef struct {
    ngx_http_request_t    *r;           /* NULL once gone or resumed */
    ngx_http_ds_ctx_t     *ctx;
    ngx_pool_cleanup_t    *cln;
    ngx_event_t            ev;          /* command timeout, then resume */
    ds_gcra_result_t       res;
    unsigned               in_flight:1; /* hiredis holds it as privdata */
    unsigned               answered:1;  /* res is valid */
    unsigned               resent:1;    /* once, after a NOSCRIPT */
    const char            *argv[NGX_HTTP_DS_REDIS_ARGC];
    size_t                 argvlen[NGX_HTTP_DS_REDIS_ARGC];
    u_char                 data[1];     /* key, ids and numbers */
} ngx_http_ds_redis_wait_t;


static ngx_int_t ngx_http_ds_redis_park(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, ngx_http_ds_redis_main_conf_t *rmcf,
    ds_gcra_params_t *p, u_char *key, size_t key_len);
static ngx_int_t ngx_http_ds_redis_unavailable(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, ngx_http_ds_redis_wait_t *w);
static void ngx_http_ds_redis_hold(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, ngx_pool_cleanup_t *cln,
    ngx_http_ds_redis_wait_t *w);
static ngx_int_t ngx_http_ds_redis_send(ngx_http_ds_redis_wait_t *w);
static void ngx_http_ds_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata);
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

static ngx_int_t ngx_http_ds_redis_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_ds_redis_add_variables(ngx_conf_t *cf);
static void *ngx_http_ds_redis_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_ds_redis_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_ds_redis_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ds_redis_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_ds_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ds_redis_parse_addr(ngx_conf_t *cf,
    ngx_http_ds_redis_main_conf_t *rmcf, ngx_str_t *addr);
static char *ngx_http_ds_redis_read_password(ngx_conf_t *cf,
    ngx_http_ds_redis_main_conf_t *rmcf, ngx_str_t *path);
static ngx_int_t ngx_http_ds_redis_init_process(ngx_cycle_t *cycle);
static void ngx_http_ds_redis_exit_process(ngx_cycle_t *cycle);


static ngx_conf_enum_t  ngx_http_ds_redis_failure_modes[] = {
    { ngx_string("open"), NGX_HTTP_DS_REDIS_OPEN },
    { ngx_string("closed"), NGX_HTTP_DS_REDIS_CLOSED },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_ds_redis_commands[] = {

    { ngx_string("ds_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_ds_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ds_redis_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_ds_redis_main_conf_t, connect_timeout),
      NULL },

    { ngx_string("ds_redis_command_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_ds_redis_main_conf_t, command_timeout),
      NULL },

    { ngx_string("ds_redis_failure_mode"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ds_redis_loc_conf_t, failure_mode),
      &ngx_http_ds_redis_failure_modes },

    { ngx_string("ds_rate_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ds_redis_loc_conf_t, rate_limit),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_ds_redis_module_ctx = {
    ngx_http_ds_redis_add_variables,       /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_ds_redis_create_main_conf,    /* create main configuration */
    ngx_http_ds_redis_init_main_conf,      /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_ds_redis_create_loc_conf,     /* create location configuration */
    ngx_http_ds_redis_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_http_ds_redis_module = {
    NGX_MODULE_V1,
    &ngx_http_ds_redis_module_ctx,         /* module context */
    ngx_http_ds_redis_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_ds_redis_init_process,        /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_ds_redis_exit_process,        /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


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
    const char                     *share;
    ds_gcra_params_t                p;
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

    return ngx_http_ds_redis_park(r, ctx, rmcf, &p, key, key_len);
}


static ngx_int_t
ngx_http_ds_redis_park(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ngx_http_ds_redis_main_conf_t *rmcf, ds_gcra_params_t *p, u_char *key,
    size_t key_len)
{
    size_t                     rid_len, tid_len, size;
    u_char                    *d;
    const char                *tid;
    ngx_pool_cleanup_t        *cln;
    ngx_http_ds_redis_wait_t  *w;

    rid_len = ngx_strlen(ctx->verdict.recipient_id);
    tid = ctx->verdict.token_id ? ctx->verdict.token_id : "";
    tid_len = ngx_strlen(tid);

    size = sizeof(ngx_http_ds_redis_wait_t) + key_len + rid_len + tid_len
           + 3 * NGX_INT64_LEN;

    /* registered first: once hiredis holds w, nothing may fail */
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    w = ngx_alloc(size, r->connection->log);
    if (w == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(w, sizeof(ngx_http_ds_redis_wait_t));

    w->argv[0] = "EVALSHA";
    w->argv[1] = (const char *) rmcf->sha1;
    w->argv[2] = "3";
    w->argv[4] = (const char *) rmcf->revoked_recipients.data;
    w->argv[5] = (const char *) rmcf->revoked_tokens.data;
    w->argvlen[0] = sizeof("EVALSHA") - 1;
    w->argvlen[1] = DS_GCRA_SHA1_LEN;
    w->argvlen[2] = 1;
    w->argvlen[4] = rmcf->revoked_recipients.len;
    w->argvlen[5] = rmcf->revoked_tokens.len;

    d = w->data;

    w->argv[3] = (const char *) d;
    w->argvlen[3] = key_len;
    d = ngx_cpymem(d, key, key_len);

    w->argv[6] = (const char *) d;
    w->argvlen[6] = rid_len;
    d = ngx_cpymem(d, ctx->verdict.recipient_id, rid_len);

    w->argv[7] = (const char *) d;
    w->argvlen[7] = tid_len;
    d = ngx_cpymem(d, tid, tid_len);

    w->argv[8] = (const char *) d;
    w->argvlen[8] = ngx_sprintf(d, "%uL", p->emission_us) - d;
    d += w->argvlen[8];

    w->argv[9] = (const char *) d;
    w->argvlen[9] = ngx_sprintf(d, "%uL", p->tolerance_us) - d;
    d += w->argvlen[9];

    w->argv[10] = (const char *) d;
    w->argvlen[10] = ngx_sprintf(d, "%uL", p->limit) - d;

    if (ngx_http_ds_redis_send(w) != NGX_OK) {
        /* reconnecting or backing off: answer now, never wait */
        return ngx_http_ds_redis_unavailable(r, ctx, w);
    }

    w->in_flight = 1;

    ngx_http_ds_redis_hold(r, ctx, cln, w);

    w->ev.handler = ngx_http_ds_redis_timeout;
    ngx_add_timer(&w->ev, rmcf->command_timeout);

    return NGX_AGAIN;
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
                                       NGX_HTTP_DS_REDIS_ARGC, w->argv,
                                       w->argvlen);
}


static void
ngx_http_ds_redis_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    redisReply                *rep = reply;
    ngx_http_ds_redis_wait_t  *w = privdata;

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
    long long    v[5];
    ngx_log_t   *log;

    log = w->r->connection->log;

    if (rep->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "ds_redis: script failed: %*s",
                      (size_t) rep->len, rep->str);
        return NGX_ERROR;
    }

    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 5) {
        goto invalid;
    }

    for (i = 0; i < 5; i++) {
        if (rep->element[i]->type != REDIS_REPLY_INTEGER) {
            goto invalid;
        }

        v[i] = rep->element[i]->integer;
    }

    if (ds_gcra_parse_reply(v, 5, &w->res) == 0) {
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

    /* hiredis still holds w: its callback frees it, r stays out of it */
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


static ngx_int_t
ngx_http_ds_redis_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_ds_ctx_t       *ctx;
    ngx_http_ds_rl_state_e   state;

    ctx = ngx_http_ds_get_ctx(r);

    state = ctx ? ngx_http_ds_rl_state(ctx) : NGX_HTTP_DS_RL_NONE;

    v->len = ngx_http_ds_rl_names[state].len;
    v->data = ngx_http_ds_rl_names[state].data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ds_redis_add_variables(ngx_conf_t *cf)
{
    ngx_str_t             name = ngx_string("ds_ratelimit");
    ngx_http_variable_t  *var;

    var = ngx_http_add_variable(cf, &name, NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_http_ds_redis_variable;

    return NGX_OK;
}


static void *
ngx_http_ds_redis_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_ds_redis_main_conf_t  *rmcf;

    rmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ds_redis_main_conf_t));
    if (rmcf == NULL) {
        return NULL;
    }

    rmcf->enabled = NGX_CONF_UNSET;
    rmcf->connect_timeout = NGX_CONF_UNSET_MSEC;
    rmcf->command_timeout = NGX_CONF_UNSET_MSEC;

    return rmcf;
}


static char *
ngx_http_ds_redis_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_ds_redis_main_conf_t  *rmcf = conf;

    u_char      buf[DS_GCRA_KEY_MAX];
    size_t      n;
    ngx_str_t  *key;
    ngx_uint_t  i;

    ngx_conf_init_value(rmcf->enabled, 0);
    ngx_conf_init_msec_value(rmcf->connect_timeout, 1000);
    ngx_conf_init_msec_value(rmcf->command_timeout, 200);

    if (!rmcf->enabled) {
        return NGX_CONF_OK;
    }

    if (rmcf->connect_timeout == 0 || rmcf->command_timeout == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_redis timeouts must be above zero");
        return NGX_CONF_ERROR;
    }

    if (ds_gcra_script_sha1((char *) rmcf->sha1) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_redis: cannot compute the script's SHA1");
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < 2; i++) {
        key = i ? &rmcf->revoked_tokens : &rmcf->revoked_recipients;

        n = ds_gcra_revoked_key((char *) buf, sizeof(buf),
                                (const char *) rmcf->prefix.data, (int) i);

        key->data = ngx_pnalloc(cf->pool, n + 1);
        if (key->data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(key->data, buf, n + 1);
        key->len = n;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_ds_redis_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ds_redis_loc_conf_t  *rlcf;

    rlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ds_redis_loc_conf_t));
    if (rlcf == NULL) {
        return NULL;
    }

    rlcf->failure_mode = NGX_CONF_UNSET_UINT;
    rlcf->rate_limit = NGX_CONF_UNSET;

    return rlcf;
}


static char *
ngx_http_ds_redis_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ds_redis_loc_conf_t  *prev = parent;
    ngx_http_ds_redis_loc_conf_t  *conf = child;

    /* closed: a Redis outage must not reopen revoked access (docs) */
    ngx_conf_merge_uint_value(conf->failure_mode, prev->failure_mode,
                              NGX_HTTP_DS_REDIS_CLOSED);
    ngx_conf_merge_value(conf->rate_limit, prev->rate_limit, 1);

    return NGX_CONF_OK;
}


/* ds_redis ADDRESS [password_file=PATH] [db=N] [prefix=ds:] */
static char *
ngx_http_ds_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ds_redis_main_conf_t  *rmcf = conf;

    char        *rv;
    ngx_str_t   *value, s;
    ngx_uint_t   i;

    if (rmcf->enabled != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    rv = ngx_http_ds_redis_parse_addr(cf, rmcf, &value[1]);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    ngx_str_set(&rmcf->prefix, "ds:");

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "password_file=", 14) == 0) {
            s.data = value[i].data + 14;
            s.len = value[i].len - 14;

            rv = ngx_http_ds_redis_read_password(cf, rmcf, &s);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            rmcf->db = ngx_atoi(value[i].data + 3, value[i].len - 3);

            if (rmcf->db == NGX_ERROR || rmcf->db > 65535) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid database number \"%V\"",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "prefix=", 7) == 0) {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            if (!ds_gcra_prefix_valid((const char *) s.data, s.len)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid key prefix \"%V\": use 1 to %d "
                                   "of [A-Za-z0-9._:{}-]", &s,
                                   DS_GCRA_PREFIX_MAX);
                return NGX_CONF_ERROR;
            }

            /* value[] strings are NUL-terminated by the parser */
            rmcf->prefix = s;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    rmcf->enabled = 1;

    return NGX_CONF_OK;
}


/*
 * IP:PORT, [IPv6]:PORT or unix:/path. Host names are refused: hiredis
 * 0.14 resolves them with a blocking getaddrinfo() inside connect, which
 * would stall the worker on every reconnect.
 */
static char *
ngx_http_ds_redis_parse_addr(ngx_conf_t *cf,
    ngx_http_ds_redis_main_conf_t *rmcf, ngx_str_t *addr)
{
    u_char     *colon, *host;
    size_t      host_len;
    ngx_int_t   port;
#if (NGX_HAVE_INET6)
    u_char      buf[16];
#endif

    rmcf->addr = *addr;

    if (addr->len > 5 && ngx_strncmp(addr->data, "unix:", 5) == 0) {
        /* value strings are NUL-terminated: the path can be used as is */
        rmcf->host = addr->data + 5;
        rmcf->port = 0;

        if (rmcf->host[0] != '/') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ds_redis: unix socket path \"%s\" must be "
                               "absolute", rmcf->host);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    colon = ngx_strlchr(addr->data, addr->data + addr->len, ']');
    if (colon == NULL) {
        colon = addr->data;
    }

    colon = (u_char *) ngx_strlchr(colon, addr->data + addr->len, ':');
    while (colon) {
        /* the last ':' separates the port */
        u_char  *next = ngx_strlchr(colon + 1, addr->data + addr->len, ':');

        if (next == NULL) {
            break;
        }

        colon = next;
    }

    if (colon == NULL || colon == addr->data) {
        goto invalid;
    }

    port = ngx_atoi(colon + 1, addr->data + addr->len - colon - 1);
    if (port < 1 || port > 65535) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_redis: invalid port in \"%V\"", addr);
        return NGX_CONF_ERROR;
    }

    host = addr->data;
    host_len = colon - addr->data;

    if (host[0] == '[') {
#if (NGX_HAVE_INET6)
        if (host_len < 3 || host[host_len - 1] != ']'
            || ngx_inet6_addr(host + 1, host_len - 2, buf) != NGX_OK)
        {
            goto invalid;
        }

        host++;
        host_len -= 2;
#else
        goto invalid;
#endif

    } else if (ngx_inet_addr(host, host_len) == INADDR_NONE) {
        goto invalid;
    }

    rmcf->host = ngx_pnalloc(cf->pool, host_len + 1);
    if (rmcf->host == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(rmcf->host, host, host_len);
    rmcf->host[host_len] = '\0';
    rmcf->port = (int) port;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "ds_redis: \"%V\" is not IP:PORT, [IPv6]:PORT or "
                       "unix:/path; host names are not accepted because "
                       "hiredis would resolve them blocking the worker",
                       addr);

    return NGX_CONF_ERROR;
}


/* read once at configuration time; the secret never reaches a log */
static char *
ngx_http_ds_redis_read_password(ngx_conf_t *cf,
    ngx_http_ds_redis_main_conf_t *rmcf, ngx_str_t *path)
{
    u_char           *p;
    size_t            len;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_str_t         name;
    ngx_file_info_t   fi;

    name = *path;

    if (name.len == 0 || ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_redis: invalid password_file");
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "ds_redis: cannot open password_file \"%V\"",
                           &name);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 4096)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_redis: password_file \"%V\" is unreadable "
                           "or larger than 4096 bytes", &name);
        (void) ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    len = (size_t) ngx_file_size(&fi);

    p = ngx_pnalloc(cf->pool, len + 1);
    if (p == NULL) {
        (void) ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_fd(fd, p, len);

    (void) ngx_close_file(fd);

    if (n != (ssize_t) len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "ds_redis: cannot read password_file \"%V\"",
                           &name);
        return NGX_CONF_ERROR;
    }

    /* a trailing newline is an editor's, not the password's */
    while (len && (p[len - 1] == '\n' || p[len - 1] == '\r')) {
        len--;
    }

    if (len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_redis: password_file \"%V\" is empty",
                           &name);
        return NGX_CONF_ERROR;
    }

    p[len] = '\0';

    rmcf->password.data = p;
    rmcf->password.len = len;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_ds_redis_init_process(ngx_cycle_t *cycle)
{
    ngx_http_ds_redis_main_conf_t  *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_ds_redis_module);

    if (rmcf == NULL || !rmcf->enabled) {
        return NGX_OK;
    }

    return ngx_http_ds_redis_conn_init(cycle, rmcf);
}


static void
ngx_http_ds_redis_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_ds_redis_main_conf_t  *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_ds_redis_module);

    if (rmcf == NULL || !rmcf->enabled) {
        return;
    }

    ngx_http_ds_redis_conn_exit();
}
