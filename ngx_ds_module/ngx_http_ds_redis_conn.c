/*
 * The worker's one Redis connection: hiredis' async API driven by nginx
 * events and timers.
 *
 * hiredis 0.14 has no timeouts and never touches the event loop itself:
 * it asks for read/write interest through the ev hooks below, which map
 * them onto an nginx connection wrapping hiredis' socket. nginx runs
 * epoll edge-triggered, so a read handler must drain the socket (hiredis
 * reads at most 16 KB per call) and a write interest raised while the
 * socket is already writable must be served without waiting for an edge
 * that will never come. Connect timeout and reconnection with capped
 * exponential backoff are nginx timers; command timeouts belong to the
 * requests (ngx_http_ds_redis_check.c) and report back here so a Redis
 * that accepts connections but never answers gets its connection
 * rebuilt.
 *
 * Recovery: while Redis is down (connect refused, connection lost,
 * connect timed out) the worker probes with a plain connect attempt,
 * every 10 ms for the first second of the outage, then backing off to
 * 250 ms; a request that finds Redis down also starts a probe if none
 * ran in the last 20 ms. There is never more than one attempt in flight
 * per worker (conn.ac), so a Redis that stays down sees at most 4
 * connects a second from an idle worker, and a Redis that comes back is
 * used again within about 20 ms under traffic. A Redis that answers but
 * refuses (AUTH, SELECT or SCRIPT LOAD errors, a stuck connection) is
 * not down but misconfigured or overloaded: that keeps the slow backoff
 * (100 ms doubling to 500 ms), since reconnecting faster cannot help.
 *
 * Each connection starts with SCRIPT LOAD, pipelined after AUTH and
 * SELECT and before any request's EVALSHA: Redis answers in order, so
 * the script is cached by the time the first EVALSHA runs, also on a
 * Redis that restarted empty or a promoted replica. Requests never send
 * the script text (an EVAL per queued request after a failover was
 * megabytes of script for nothing). A NOSCRIPT can still come from a
 * SCRIPT FLUSH under a live connection: one SCRIPT LOAD is queued for
 * all the requests that met it, whatever their number.
 *
 * hiredis frees a context on any error and then runs every pending
 * reply callback with a NULL reply: the callbacks must not re-enter
 * request processing (the request side only posts events), and nothing
 * here may touch a context after a call that can free it; the cleanup
 * hook, which hiredis runs on every free, clears conn.ac.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include <hiredis/sds.h>

#include "ngx_http_ds_redis.h"
#include "ds_resp.h"


#define NGX_HTTP_DS_REDIS_BACKOFF_MIN   100
#define NGX_HTTP_DS_REDIS_BACKOFF_MAX   500     /* recover within 1 s */
#define NGX_HTTP_DS_REDIS_MAX_TIMEOUTS  3

/* probing a Redis that is down (see the top of the file) */
#define NGX_HTTP_DS_REDIS_PROBE_FAST    10      /* ms, first second */
#define NGX_HTTP_DS_REDIS_PROBE_PERIOD  1000    /* ms of fast probing */
#define NGX_HTTP_DS_REDIS_PROBE_MIN     20      /* ms, then doubling */
#define NGX_HTTP_DS_REDIS_PROBE_MAX     250
#define NGX_HTTP_DS_REDIS_PROBE_ON_USE  20      /* ms between request probes */
#define NGX_HTTP_DS_REDIS_LOG_EVERY     10000   /* ms between repeated logs */

/* reads per event before yielding to the other connections */
#define NGX_HTTP_DS_REDIS_READ_ROUNDS   64


typedef enum {
    NGX_HTTP_DS_REDIS_DOWN = 0,
    NGX_HTTP_DS_REDIS_CONNECTING,
    NGX_HTTP_DS_REDIS_UP
} ngx_http_ds_redis_state_e;


typedef struct {
    ngx_http_ds_redis_main_conf_t  *conf;
    redisAsyncContext              *ac;
    ngx_connection_t               *c;
    ngx_http_ds_redis_state_e       state;
    ngx_msec_t                      backoff;
    ngx_msec_t                      probe;        /* next probe delay */
    ngx_msec_t                      down_since;   /* 0: not down */
    ngx_msec_t                      last_attempt;
    ngx_msec_t                      last_logged;
    ngx_uint_t                      attempts;     /* in this outage */
    ngx_uint_t                      timeouts;     /* in a row */
    ngx_event_t                     connect_timer;
    ngx_event_t                     retry_timer;
    ngx_log_t                      *log;
    unsigned                        exiting:1;
    unsigned                        script_loading:1;
    unsigned                        refused:1;    /* slow backoff next */
} ngx_http_ds_redis_conn_t;


static void ngx_http_ds_redis_connect(void);
static void ngx_http_ds_redis_schedule_retry(void);
static ngx_uint_t ngx_http_ds_redis_log_failure(void);
static ngx_int_t ngx_http_ds_redis_attach(redisAsyncContext *ac);
static void ngx_http_ds_redis_setup(redisAsyncContext *ac);
static void ngx_http_ds_redis_setup_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static ngx_int_t ngx_http_ds_redis_load_script(redisAsyncContext *ac);
static void ngx_http_ds_redis_script_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_ds_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_ds_redis_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_http_ds_redis_read_handler(ngx_event_t *rev);
static void ngx_http_ds_redis_write_handler(ngx_event_t *wev);
static void ngx_http_ds_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_ds_redis_retry(ngx_event_t *ev);
static void ngx_http_ds_redis_add_read(void *privdata);
static void ngx_http_ds_redis_del_read(void *privdata);
static void ngx_http_ds_redis_add_write(void *privdata);
static void ngx_http_ds_redis_del_write(void *privdata);
static void ngx_http_ds_redis_cleanup(void *privdata);


/* one per worker process */
static ngx_http_ds_redis_conn_t  ngx_http_ds_redis_conn;

static ngx_str_t  ngx_http_ds_redis_default = ngx_string("default");


ngx_int_t
ngx_http_ds_redis_conn_init(ngx_cycle_t *cycle,
    ngx_http_ds_redis_main_conf_t *rmcf)
{
    ngx_http_ds_redis_conn_t  *conn = &ngx_http_ds_redis_conn;

    ngx_memzero(conn, sizeof(ngx_http_ds_redis_conn_t));

    conn->conf = rmcf;
    conn->log = cycle->log;
    conn->backoff = NGX_HTTP_DS_REDIS_BACKOFF_MIN;
    conn->probe = NGX_HTTP_DS_REDIS_PROBE_FAST;

    /* cancelable: they must not hold up a graceful worker shutdown */
    conn->connect_timer.handler = ngx_http_ds_redis_connect_timeout;
    conn->connect_timer.data = conn;
    conn->connect_timer.log = cycle->log;
    conn->connect_timer.cancelable = 1;

    conn->retry_timer.handler = ngx_http_ds_redis_retry;
    conn->retry_timer.data = conn;
    conn->retry_timer.log = cycle->log;
    conn->retry_timer.cancelable = 1;

    ngx_http_ds_redis_connect();

    return NGX_OK;
}


void
ngx_http_ds_redis_conn_exit(void)
{
    ngx_http_ds_redis_conn_t  *conn = &ngx_http_ds_redis_conn;

    conn->exiting = 1;

    if (conn->retry_timer.timer_set) {
        ngx_del_timer(&conn->retry_timer);
    }

    if (conn->ac) {
        redisAsyncFree(conn->ac);
    }
}


ngx_int_t
ngx_http_ds_redis_conn_send(redisCallbackFn *fn, void *privdata, int argc,
    const char **argv, const size_t *argvlen)
{
    int                        rc;
    char                       buf[1024], *cmd;
    size_t                     len;
    ngx_http_ds_redis_conn_t  *conn = &ngx_http_ds_redis_conn;

    /* while connecting, commands wait in hiredis' buffer */
    if (conn->ac == NULL || conn->exiting) {

        /*
         * Down: this request gets the failure mode (a connect to a
         * blackholed host could take the whole connect timeout), but
         * it may start the next probe early, so that under traffic a
         * Redis that came back is found within tens of milliseconds.
         */
        if (!conn->exiting && !conn->refused && conn->down_since
            && conn->retry_timer.timer_set
            && ngx_current_msec - conn->last_attempt
               >= NGX_HTTP_DS_REDIS_PROBE_ON_USE)
        {
            ngx_del_timer(&conn->retry_timer);
            ngx_http_ds_redis_connect();
        }

        return NGX_DECLINED;
    }

    cmd = buf;
    len = ds_resp_command(buf, sizeof(buf), argc, argv, argvlen);

    if (len > sizeof(buf)) {
        cmd = ngx_alloc(len, ngx_cycle->log);
        if (cmd == NULL) {
            return NGX_DECLINED;
        }

        (void) ds_resp_command(cmd, len, argc, argv, argvlen);
    }

    /* hiredis copies the bytes into its output buffer */
    rc = redisAsyncFormattedCommand(conn->ac, fn, privdata, cmd, len);

    if (cmd != buf) {
        ngx_free(cmd);
    }

    return rc == REDIS_OK ? NGX_OK : NGX_DECLINED;
}


ngx_int_t
ngx_http_ds_redis_conn_reload_script(void)
{
    ngx_http_ds_redis_conn_t  *conn = &ngx_http_ds_redis_conn;

    if (conn->ac == NULL || conn->exiting) {
        return NGX_DECLINED;
    }

    /* every EVALSHA that met the flush is re-sent behind this one load */
    if (conn->script_loading) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, conn->log, 0,
                  "ds_redis: script cache of %V flushed, loading the "
                  "script again", &conn->conf->addr);

    return ngx_http_ds_redis_load_script(conn->ac);
}


void
ngx_http_ds_redis_conn_healthy(void)
{
    ngx_http_ds_redis_conn_t  *conn = &ngx_http_ds_redis_conn;

    conn->timeouts = 0;
    conn->backoff = NGX_HTTP_DS_REDIS_BACKOFF_MIN;

    if (conn->down_since) {
        ngx_log_error(NGX_LOG_INFO, conn->log, 0,
                      "ds_redis: %V answers again after %M ms down, "
                      "%ui connect attempts", &conn->conf->addr,
                      ngx_current_msec - conn->down_since, conn->attempts);
    }

    conn->down_since = 0;
    conn->attempts = 0;
    conn->last_logged = 0;
    conn->probe = NGX_HTTP_DS_REDIS_PROBE_FAST;
}


void
ngx_http_ds_redis_conn_timed_out(void)
{
    ngx_http_ds_redis_conn_t  *conn = &ngx_http_ds_redis_conn;

    if (conn->ac == NULL
        || ++conn->timeouts < NGX_HTTP_DS_REDIS_MAX_TIMEOUTS)
    {
        return;
    }

    /*
     * Replies come in order: after this many timeouts in a row the
     * connection is stuck (a paused or wedged server). Dropping it
     * answers the requests still queued on it and starts afresh.
     */
    ngx_log_error(NGX_LOG_WARN, conn->log, 0,
                  "ds_redis: %ui commands to %V timed out in a row, "
                  "reconnecting", conn->timeouts, &conn->conf->addr);

    conn->timeouts = 0;
    conn->refused = 1;
    redisAsyncFree(conn->ac);
}


static void
ngx_http_ds_redis_connect(void)
{
    ngx_http_ds_redis_conn_t       *conn = &ngx_http_ds_redis_conn;
    ngx_http_ds_redis_main_conf_t  *rmcf = conn->conf;
    redisAsyncContext              *ac;

    if (conn->ac || conn->exiting) {
        return;
    }

    conn->last_attempt = ngx_current_msec;
    conn->attempts++;
    conn->refused = 0;

    /* IP literals only (checked at configuration): no blocking DNS */
    if (rmcf->port) {
        ac = redisAsyncConnect((char *) rmcf->host, rmcf->port);

    } else {
        ac = redisAsyncConnectUnix((char *) rmcf->host);
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ERR, conn->log, 0,
                      "ds_redis: cannot allocate a connection to %V",
                      &rmcf->addr);
        ngx_http_ds_redis_schedule_retry();
        return;
    }

    if (ac->err) {
        if (ngx_http_ds_redis_log_failure()) {
            ngx_log_error(NGX_LOG_ERR, conn->log, 0,
                          "ds_redis: cannot connect to %V: %s",
                          &rmcf->addr, ac->errstr);
        }

        redisAsyncFree(ac);
        ngx_http_ds_redis_schedule_retry();
        return;
    }

    if (ngx_http_ds_redis_attach(ac) != NGX_OK) {
        redisAsyncFree(ac);
        ngx_http_ds_redis_schedule_retry();
        return;
    }

    /* from here on the cleanup hook owns failure handling */
    conn->ac = ac;
    conn->state = NGX_HTTP_DS_REDIS_CONNECTING;
    conn->script_loading = 0;

    redisAsyncSetConnectCallback(ac, ngx_http_ds_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, ngx_http_ds_redis_on_disconnect);

    ngx_add_timer(&conn->connect_timer, rmcf->connect_timeout);

    ngx_http_ds_redis_setup(ac);
}


static ngx_int_t
ngx_http_ds_redis_attach(redisAsyncContext *ac)
{
    ngx_int_t                  rc;
    ngx_uint_t                 flag;
    ngx_connection_t          *c;
    ngx_http_ds_redis_conn_t  *conn = &ngx_http_ds_redis_conn;

    c = ngx_get_connection(ac->c.fd, conn->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = conn;
    c->log = conn->log;
    c->read->log = conn->log;
    c->write->log = conn->log;
    c->read->handler = ngx_http_ds_redis_read_handler;
    c->write->handler = ngx_http_ds_redis_write_handler;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    if (ngx_add_conn && (ngx_event_flags & NGX_USE_CLEAR_EVENT)) {
        /* epoll: both directions, edge-triggered, once for good */
        rc = ngx_add_conn(c);

    } else {
        flag = (ngx_event_flags & NGX_USE_CLEAR_EVENT) ? NGX_CLEAR_EVENT
                                                       : NGX_LEVEL_EVENT;
        rc = ngx_add_event(c->read, NGX_READ_EVENT, flag);

        /* the first writable event tells hiredis it is connected */
        if (rc == NGX_OK) {
            rc = ngx_add_event(c->write, NGX_WRITE_EVENT, flag);
        }
    }

    if (rc != NGX_OK) {
        ngx_free_connection(c);
        c->fd = (ngx_socket_t) -1;
        return NGX_ERROR;
    }

    conn->c = c;

    ac->ev.data = conn;
    ac->ev.addRead = ngx_http_ds_redis_add_read;
    ac->ev.delRead = ngx_http_ds_redis_del_read;
    ac->ev.addWrite = ngx_http_ds_redis_add_write;
    ac->ev.delWrite = ngx_http_ds_redis_del_write;
    ac->ev.cleanup = ngx_http_ds_redis_cleanup;

    return NGX_OK;
}


/*
 * AUTH, SELECT and SCRIPT LOAD go first on the wire: pipelined, no
 * round trip; the requests' commands queue up behind them.
 */
static void
ngx_http_ds_redis_setup(redisAsyncContext *ac)
{
    int                             argc;
    const char                     *argv[3];
    size_t                          argvlen[3];
    u_char                          db[NGX_INT_T_LEN];
    ngx_http_ds_redis_main_conf_t  *rmcf = ngx_http_ds_redis_conn.conf;

    if (rmcf->password.len) {
        argc = 0;
        argv[argc] = "AUTH";
        argvlen[argc++] = 4;

        /* Redis 6 ACL: AUTH username password */
        if (rmcf->username.len) {
            argv[argc] = (const char *) rmcf->username.data;
            argvlen[argc++] = rmcf->username.len;
        }

        argv[argc] = (const char *) rmcf->password.data;
        argvlen[argc++] = rmcf->password.len;

        (void) redisAsyncCommandArgv(ac, ngx_http_ds_redis_setup_reply,
                                     "AUTH", argc, argv, argvlen);
    }

    if (rmcf->db) {
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = (const char *) db;
        argvlen[1] = ngx_sprintf(db, "%i", rmcf->db) - db;

        (void) redisAsyncCommandArgv(ac, ngx_http_ds_redis_setup_reply,
                                     "SELECT", 2, argv, argvlen);
    }

    (void) ngx_http_ds_redis_load_script(ac);
}


static ngx_int_t
ngx_http_ds_redis_load_script(redisAsyncContext *ac)
{
    const char  *argv[3];
    size_t       argvlen[3];

    argv[0] = "SCRIPT";
    argvlen[0] = sizeof("SCRIPT") - 1;
    argv[1] = "LOAD";
    argvlen[1] = sizeof("LOAD") - 1;
    argv[2] = ds_gcra_script();
    argvlen[2] = ds_gcra_script_len();

    if (redisAsyncCommandArgv(ac, ngx_http_ds_redis_script_reply, NULL,
                              3, argv, argvlen)
        != REDIS_OK)
    {
        return NGX_DECLINED;
    }

    ngx_http_ds_redis_conn.script_loading = 1;

    return NGX_OK;
}


static void
ngx_http_ds_redis_script_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply                *rep = reply;
    ngx_http_ds_redis_conn_t  *conn = &ngx_http_ds_redis_conn;

    if (rep == NULL) {
        return;                 /* the connection is going away */
    }

    conn->script_loading = 0;

    if (rep->type == REDIS_REPLY_STRING && rep->len == DS_GCRA_SHA1_LEN
        && ngx_strncasecmp((u_char *) rep->str, conn->conf->sha1,
                           DS_GCRA_SHA1_LEN)
           == 0)
    {
        ngx_http_ds_redis_conn_healthy();
        return;
    }

    /*
     * Refused (an ACL without SCRIPT, a read-only proxy) or not our
     * script: every EVALSHA would fail. Start afresh after the backoff,
     * as for a refused AUTH, rather than reload once per request.
     */
    if (rep->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, conn->log, 0,
                      "ds_redis: SCRIPT LOAD on %V failed: %*s",
                      &conn->conf->addr, (size_t) rep->len, rep->str);

    } else {
        ngx_log_error(NGX_LOG_ERR, conn->log, 0,
                      "ds_redis: SCRIPT LOAD on %V did not answer the "
                      "script's SHA1 (reply type %d)",
                      &conn->conf->addr, rep->type);
    }

    conn->refused = 1;
    redisAsyncFree(ac);
}


static void
ngx_http_ds_redis_setup_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    ngx_str_t                 *user;
    redisReply                *rep = reply;
    ngx_http_ds_redis_conn_t  *conn = &ngx_http_ds_redis_conn;

    if (rep == NULL) {
        return;                 /* the connection is going away */
    }

    if (rep->type == REDIS_REPLY_ERROR) {
        /* Redis' message never echoes the password */
        if (ngx_strcmp(privdata, "AUTH") == 0) {
            user = conn->conf->username.len ? &conn->conf->username
                                            : &ngx_http_ds_redis_default;

            ngx_log_error(NGX_LOG_ERR, conn->log, 0,
                          "ds_redis: AUTH on %V failed, authentication "
                          "as user \"%V\" refused: %*s",
                          &conn->conf->addr, user, (size_t) rep->len,
                          rep->str);

        } else {
            ngx_log_error(NGX_LOG_ERR, conn->log, 0,
                          "ds_redis: %s on %V failed: %*s",
                          (char *) privdata, &conn->conf->addr,
                          (size_t) rep->len, rep->str);
        }

        /* inside a callback hiredis defers the free until we return */
        conn->refused = 1;
        redisAsyncFree(ac);
        return;
    }

    ngx_http_ds_redis_conn_healthy();
}


static void
ngx_http_ds_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_ds_redis_conn_t  *conn = &ngx_http_ds_redis_conn;

    if (status != REDIS_OK) {
        /* hiredis frees the context right after: cleanup hook retries */
        if (ngx_http_ds_redis_log_failure()) {
            ngx_log_error(NGX_LOG_ERR, conn->log, 0,
                          "ds_redis: cannot connect to %V: %s",
                          &conn->conf->addr, ac->errstr);
        }

        return;
    }

    if (conn->connect_timer.timer_set) {
        ngx_del_timer(&conn->connect_timer);
    }

    conn->state = NGX_HTTP_DS_REDIS_UP;

    ngx_log_error(NGX_LOG_INFO, conn->log, 0,
                  "ds_redis: connected to %V", &conn->conf->addr);
}


static void
ngx_http_ds_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    ngx_http_ds_redis_conn_t  *conn = &ngx_http_ds_redis_conn;

    if (status != REDIS_OK && ngx_http_ds_redis_log_failure()) {
        ngx_log_error(NGX_LOG_ERR, conn->log, 0,
                      "ds_redis: connection to %V lost: %s",
                      &conn->conf->addr,
                      ac->errstr ? ac->errstr : "unknown error");
    }
}


static void
ngx_http_ds_redis_read_handler(ngx_event_t *rev)
{
    u_char                     byte;
    ssize_t                    n;
    ngx_uint_t                 i;
    ngx_connection_t          *c;
    redisAsyncContext         *ac;
    ngx_http_ds_redis_conn_t  *conn;

    c = rev->data;
    conn = c->data;

    for (i = 0; i < NGX_HTTP_DS_REDIS_READ_ROUNDS; i++) {

        ac = conn->ac;

        if (ac == NULL || conn->c != c) {
            return;
        }

        redisAsyncHandleRead(ac);

        if (conn->ac != ac) {
            return;             /* freed while handling */
        }

        if (!(ac->c.flags & REDIS_CONNECTED)) {
            return;
        }

        /*
         * Edge-triggered: no new event comes for bytes already there.
         * A peeked EOF or error is left for hiredis to find next round.
         */
        n = recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

        if (n == -1) {
            if (ngx_socket_errno == NGX_EAGAIN) {
                return;
            }

            if (ngx_socket_errno == NGX_EINTR) {
                continue;
            }
        }
    }

    /* still more to read: yield, come back in this same cycle */
    ngx_post_event(rev, &ngx_posted_events);
}


static void
ngx_http_ds_redis_write_handler(ngx_event_t *wev)
{
    size_t                     before, after;
    ngx_uint_t                 was_connected;
    ngx_connection_t          *c;
    redisAsyncContext         *ac;
    ngx_http_ds_redis_conn_t  *conn;

    c = wev->data;
    conn = c->data;
    ac = conn->ac;

    if (ac == NULL || conn->c != c) {
        return;
    }

    for ( ;; ) {
        was_connected = ac->c.flags & REDIS_CONNECTED;
        before = sdslen(ac->c.obuf);

        redisAsyncHandleWrite(ac);

        if (conn->ac != ac) {
            return;             /* freed: connect or write failed */
        }

        if (!(ac->c.flags & REDIS_CONNECTED)) {
            return;             /* connect still in progress */
        }

        after = sdslen(ac->c.obuf);

        if (after == 0) {
            return;
        }

        if (was_connected && after == before) {
            /* EAGAIN: the next edge says when there is room again */
            wev->ready = 0;
            return;
        }
    }
}


static void
ngx_http_ds_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_ds_redis_conn_t  *conn = ev->data;

    if (conn->ac == NULL || conn->state != NGX_HTTP_DS_REDIS_CONNECTING) {
        return;
    }

    if (ngx_http_ds_redis_log_failure()) {
        ngx_log_error(NGX_LOG_ERR, conn->log, 0,
                      "ds_redis: connect to %V timed out after %M ms",
                      &conn->conf->addr, conn->conf->connect_timeout);
    }

    /* waiting commands get NULL replies; the cleanup hook retries */
    redisAsyncFree(conn->ac);
}


static void
ngx_http_ds_redis_retry(ngx_event_t *ev)
{
    ngx_http_ds_redis_connect();
}


static void
ngx_http_ds_redis_schedule_retry(void)
{
    ngx_http_ds_redis_conn_t  *conn = &ngx_http_ds_redis_conn;

    conn->state = NGX_HTTP_DS_REDIS_DOWN;

    if (conn->exiting || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (conn->retry_timer.timer_set) {
        return;
    }

    if (conn->refused) {
        /* Redis answered, and said no: reconnecting faster cannot help */
        ngx_add_timer(&conn->retry_timer, conn->backoff);

        conn->backoff = ngx_min(conn->backoff * 2,
                                NGX_HTTP_DS_REDIS_BACKOFF_MAX);
        return;
    }

    if (conn->down_since == 0) {
        conn->down_since = ngx_current_msec;
        conn->probe = NGX_HTTP_DS_REDIS_PROBE_FAST;
    }

    if (ngx_current_msec - conn->down_since < NGX_HTTP_DS_REDIS_PROBE_PERIOD)
    {
        ngx_add_timer(&conn->retry_timer, NGX_HTTP_DS_REDIS_PROBE_FAST);
        return;
    }

    conn->probe = (conn->probe < NGX_HTTP_DS_REDIS_PROBE_MIN)
                  ? NGX_HTTP_DS_REDIS_PROBE_MIN
                  : ngx_min(conn->probe * 2, NGX_HTTP_DS_REDIS_PROBE_MAX);

    ngx_add_timer(&conn->retry_timer, conn->probe);
}


/*
 * Probing every 10 ms must not write 100 error lines a second: the
 * first failure of an outage is logged, then one every 10 s while it
 * lasts (the "answers again" info line gives the outage's length).
 */
static ngx_uint_t
ngx_http_ds_redis_log_failure(void)
{
    ngx_http_ds_redis_conn_t  *conn = &ngx_http_ds_redis_conn;

    if (conn->down_since == 0 || conn->last_logged == 0
        || ngx_current_msec - conn->last_logged
           >= NGX_HTTP_DS_REDIS_LOG_EVERY)
    {
        conn->last_logged = ngx_current_msec;
        return 1;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, conn->log, 0,
                   "ds_redis: connect attempt %ui failed", conn->attempts);

    return 0;
}


/* event hooks hiredis calls; privdata is the conn */

static void
ngx_http_ds_redis_add_read(void *privdata)
{
    ngx_http_ds_redis_conn_t  *conn = privdata;
    ngx_connection_t          *c = conn->c;

    if (c == NULL || c->read->active) {
        return;
    }

    (void) ngx_add_event(c->read, NGX_READ_EVENT,
                         (ngx_event_flags & NGX_USE_CLEAR_EVENT)
                         ? NGX_CLEAR_EVENT : NGX_LEVEL_EVENT);
}


static void
ngx_http_ds_redis_del_read(void *privdata)
{
    ngx_http_ds_redis_conn_t  *conn = privdata;
    ngx_connection_t          *c = conn->c;

    /* edge-triggered interest costs nothing: keep it, hiredis re-adds */
    if (c == NULL || (ngx_event_flags & NGX_USE_CLEAR_EVENT)
        || !c->read->active)
    {
        return;
    }

    (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
}


static void
ngx_http_ds_redis_add_write(void *privdata)
{
    ngx_http_ds_redis_conn_t  *conn = privdata;
    ngx_connection_t          *c = conn->c;

    if (c == NULL) {
        return;
    }

    /*
     * Writable already: no edge will come, so write from the posted
     * queue, after this cycle's handlers have queued their commands too
     * (that batching is the pipelining).
     */
    if (c->write->ready) {
        if (!c->write->posted) {
            ngx_post_event(c->write, &ngx_posted_events);
        }

        return;
    }

    if (!c->write->active) {
        (void) ngx_add_event(c->write, NGX_WRITE_EVENT,
                             (ngx_event_flags & NGX_USE_CLEAR_EVENT)
                             ? NGX_CLEAR_EVENT : NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_ds_redis_del_write(void *privdata)
{
    ngx_http_ds_redis_conn_t  *conn = privdata;
    ngx_connection_t          *c = conn->c;

    /* level-triggered only: an idle writable socket would spin */
    if (c == NULL || (ngx_event_flags & NGX_USE_CLEAR_EVENT)
        || !c->write->active)
    {
        return;
    }

    (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
}


/*
 * hiredis runs this on every free, after the pending callbacks and just
 * before it closes the socket itself: release the nginx connection
 * without closing the fd, and plan the next attempt.
 */
static void
ngx_http_ds_redis_cleanup(void *privdata)
{
    ngx_http_ds_redis_conn_t  *conn = privdata;
    ngx_connection_t          *c = conn->c;

    if (c) {
        if (c->read->posted) {
            ngx_delete_posted_event(c->read);
        }

        if (c->write->posted) {
            ngx_delete_posted_event(c->write);
        }

        if (ngx_del_conn) {
            (void) ngx_del_conn(c, NGX_CLOSE_EVENT);

        } else {
            if (c->read->active) {
                (void) ngx_del_event(c->read, NGX_READ_EVENT,
                                     NGX_CLOSE_EVENT);
            }

            if (c->write->active) {
                (void) ngx_del_event(c->write, NGX_WRITE_EVENT,
                                     NGX_CLOSE_EVENT);
            }
        }

        c->read->closed = 1;
        c->write->closed = 1;

        ngx_free_connection(c);

        /* stale events for this slot are recognised by fd == -1 */
        c->fd = (ngx_socket_t) -1;

        conn->c = NULL;
    }

    if (conn->connect_timer.timer_set) {
        ngx_del_timer(&conn->connect_timer);
    }

    conn->ac = NULL;
    conn->script_loading = 0;

    ngx_http_ds_redis_schedule_retry();
}
