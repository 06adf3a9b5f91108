/*
 * The worker's one Redis connection, driven by nginx alone: an nginx
 * peer connection (ngx_event_connect_peer), nginx read/write handlers
 * and nginx timers; TLS, when configured, is nginx's own
 * (ngx_http_ds_redis_tls.c) on the same connection, so plaintext and TLS
 * share this one code path through c->recv and c->send. hiredis is kept
 * for what it is good at: its RESP reply parser (redisReader). Commands
 * are formatted by the core (ds_resp_command) straight into the output
 * buffer; every command queues its reply callback in a FIFO, since Redis
 * answers in order. Nothing here blocks: a host name goes through
 * nginx's resolver (ngx_http_ds_redis_resolve.c), connects and writes
 * are non-blocking.
 *
 * Writes are batched: a command queued while the connection is up posts
 * the write event, so every command queued in one event cycle goes out
 * in one send() (that batching is the pipelining). nginx runs epoll edge
 * triggered: the read handler reads until EAGAIN (yielding to the other
 * connections after a number of rounds), the write handler writes until
 * EAGAIN and then waits for the next edge.
 *
 * Connect timeout and reconnection are nginx timers; command timeouts
 * belong to the requests (ngx_http_ds_redis_check.c) and report back
 * here so a Redis that accepts connections but never answers gets its
 * connection rebuilt.
 *
 * Recovery: while Redis is down (connect refused, connection lost,
 * connect timed out) the worker probes with a plain connect attempt,
 * every 10 ms for the first second of the outage, then backing off to
 * 250 ms; a request that finds Redis down also starts a probe if none
 * ran in the last 20 ms. There is never more than one attempt in flight
 * per worker (conn.c), so a Redis that stays down sees at most 4
 * connects a second from an idle worker, and a Redis that comes back is
 * used again within about 20 ms under traffic. A Redis that answers but
 * refuses (AUTH, SELECT or SCRIPT LOAD errors, a stuck connection, a
 * failed TLS handshake) is not down but misconfigured or overloaded:
 * that keeps the slow backoff (100 ms doubling to 500 ms), since
 * reconnecting faster cannot help.
 *
 * Each connection starts with SCRIPT LOAD, pipelined after AUTH and
 * SELECT and before any request's EVALSHA: Redis answers in order, so
 * the script is cached by the time the first EVALSHA runs, also on a
 * Redis that restarted empty or a promoted replica. Requests never send
 * the script text. A NOSCRIPT can still come from a SCRIPT FLUSH under a
 * live connection: one SCRIPT LOAD is queued for all the requests that
 * met it, whatever their number.
 *
 * Closing the connection answers every queued callback with NULL, in
 * order; callbacks must not re-enter request processing (the request
 * side only posts events). A callback may close the connection (a
 * refused AUTH): the read loop notices through conn.gen and stops.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>
#include <ngx_http.h>

#include "ngx_http_ds_redis.h"
#include "ngx_http_ds_metrics.h"
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
#define NGX_HTTP_DS_REDIS_READ_BUF      16384
#define NGX_HTTP_DS_REDIS_OUT_MIN       4096
#define NGX_HTTP_DS_REDIS_QUEUE_MIN     64


typedef enum {
    NGX_HTTP_DS_REDIS_DOWN = 0,
    NGX_HTTP_DS_REDIS_CONNECTING,       /* TCP, then TLS handshake */
    NGX_HTTP_DS_REDIS_UP
} ngx_http_ds_redis_state_e;


typedef struct {
    ngx_http_ds_redis_reply_pt      fn;
    void                           *data;
} ngx_http_ds_redis_cb_t;


typedef struct {
    ngx_http_ds_redis_main_conf_t  *conf;
    ngx_peer_connection_t           pc;
    ngx_connection_t               *c;
    redisReader                    *reader;
    ngx_http_ds_redis_state_e       state;
    ngx_uint_t                      gen;          /* bumped on close */

    /* commands formatted, not yet written: out[pos..len) */
    u_char                         *out;
    size_t                          out_pos;
    size_t                          out_len;
    size_t                          out_size;

    /* reply callbacks, in the order of the commands: a ring */
    ngx_http_ds_redis_cb_t         *q;
    ngx_uint_t                      q_head;
    ngx_uint_t                      q_n;
    ngx_uint_t                      q_size;

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
    ngx_log_t                       quiet_log;    /* for connect() */
    unsigned                        exiting:1;
    unsigned                        script_loading:1;
    unsigned                        refused:1;    /* slow backoff next */
    unsigned                        answered:1;   /* a reply came on c */
    unsigned                        resolving:1;  /* the name, first */
} ngx_http_ds_redis_conn_t;


static void ngx_http_ds_redis_connect(void);
static void ngx_http_ds_redis_resolved(struct sockaddr *sockaddr,
    socklen_t socklen);
static void ngx_http_ds_redis_connect_peer(struct sockaddr *sockaddr,
    socklen_t socklen);
static void ngx_http_ds_redis_connected(ngx_http_ds_redis_conn_t *conn);
static void ngx_http_ds_redis_close(ngx_http_ds_redis_conn_t *conn);
static void ngx_http_ds_redis_schedule_retry(void);
static ngx_uint_t ngx_http_ds_redis_log_failure(void);
static ngx_int_t ngx_http_ds_redis_queue(ngx_http_ds_redis_conn_t *conn,
    ngx_http_ds_redis_reply_pt fn, void *data, int argc, const char **argv,
    const size_t *argvlen);
static void ngx_http_ds_redis_setup(ngx_http_ds_redis_conn_t *conn);
static void ngx_http_ds_redis_setup_reply(redisReply *rep, void *data);
static ngx_int_t ngx_http_ds_redis_load_script(
    ngx_http_ds_redis_conn_t *conn);
static void ngx_http_ds_redis_script_reply(redisReply *rep, void *data);
static void ngx_http_ds_redis_connect_handler(ngx_event_t *wev);
static void ngx_http_ds_redis_read_handler(ngx_event_t *rev);
static void ngx_http_ds_redis_write_handler(ngx_event_t *wev);
static void ngx_http_ds_redis_dummy_handler(ngx_event_t *ev);
static ngx_uint_t ngx_http_ds_redis_demoted(ngx_http_ds_redis_conn_t *conn,
    redisReply *rep);
static void ngx_http_ds_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_ds_redis_retry(ngx_event_t *ev);


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

    /*
     * ngx_event_connect_peer() logs a refused connect() at error level
     * itself; probing every 10 ms must not, so it gets a log that says
     * nothing and this file logs the outage (see log_failure).
     */
    conn->quiet_log = *cycle->log;
    conn->quiet_log.log_level = NGX_LOG_EMERG;

    conn->q_size = NGX_HTTP_DS_REDIS_QUEUE_MIN;
    conn->q = ngx_alloc(conn->q_size * sizeof(ngx_http_ds_redis_cb_t),
                        cycle->log);

    conn->out_size = NGX_HTTP_DS_REDIS_OUT_MIN;
    conn->out = ngx_alloc(conn->out_size, cycle->log);

    if (conn->q == NULL || conn->out == NULL) {
        return NGX_ERROR;
    }

    /* cancelable: they must not hold up a graceful worker shutdown */
    conn->connect_timer.handler = ngx_http_ds_redis_connect_timeout;
    conn->connect_timer.data = conn;
    conn->connect_timer.log = cycle->log;
    conn->connect_timer.cancelable = 1;

    conn->retry_timer.handler = ngx_http_ds_redis_retry;
    conn->retry_timer.data = conn;
    conn->retry_timer.log = cycle->log;
    conn->retry_timer.cancelable = 1;

    ngx_http_ds_metrics_redis_state(0);
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

    if (conn->resolving) {
        if (conn->conf->sentinels) {
            ngx_http_ds_redis_sentinel_cancel();

        } else {
            ngx_http_ds_redis_resolve_cancel();
        }

        conn->resolving = 0;
    }

    if (conn->c) {
        ngx_http_ds_redis_close(conn);
    }

    if (conn->reader) {
        redisReaderFree(conn->reader);
        conn->reader = NULL;
    }

    /* close() emptied the queue; nothing queues once exiting is set */
    ngx_free(conn->q);
    ngx_free(conn->out);
    conn->q = NULL;
    conn->out = NULL;
    conn->q_size = 0;
    conn->out_size = 0;

    ngx_http_ds_metrics_redis_state(-1);
}


ngx_int_t
ngx_http_ds_redis_conn_send(ngx_http_ds_redis_reply_pt fn, void *data,
    int argc, const char **argv, const size_t *argvlen)
{
    ngx_http_ds_redis_conn_t  *conn = &ngx_http_ds_redis_conn;

    /* while connecting, commands wait in the output buffer */
    if (conn->c == NULL || conn->exiting) {

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

    if (ngx_http_ds_redis_queue(conn, fn, data, argc, argv, argvlen)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    /* the reply callback (check.c) counts it out again */
    ngx_http_ds_metrics_redis_in_flight(1);

    return NGX_OK;
}


ngx_int_t
ngx_http_ds_redis_conn_reload_script(void)
{
    ngx_http_ds_redis_conn_t  *conn = &ngx_http_ds_redis_conn;

    if (conn->c == NULL || conn->exiting) {
        return NGX_DECLINED;
    }

    /* every EVALSHA that met the flush is re-sent behind this one load */
    if (conn->script_loading) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, conn->log, 0,
                  "ds_redis: script cache of %V flushed, loading the "
                  "script again", &conn->conf->addr);

    return ngx_http_ds_redis_load_script(conn);
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

    ngx_http_ds_metrics_redis_timeout();

    if (conn->c == NULL
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
    ngx_http_ds_redis_close(conn);
}


void
ngx_http_ds_redis_conn_ready(ngx_connection_t *c, ngx_int_t ok)
{
    ngx_http_ds_redis_conn_t  *conn = &ngx_http_ds_redis_conn;

    if (conn->c != c || conn->state != NGX_HTTP_DS_REDIS_CONNECTING) {
        return;
    }

    if (!ok) {
        /* a certificate or protocol problem: faster cannot help */
        conn->refused = 1;
        ngx_http_ds_redis_close(conn);
        return;
    }

    ngx_http_ds_redis_connected(conn);
}


static void
ngx_http_ds_redis_connect(void)
{
    ngx_http_ds_redis_conn_t       *conn = &ngx_http_ds_redis_conn;
    ngx_http_ds_redis_main_conf_t  *rmcf = conn->conf;

    if (conn->c || conn->resolving || conn->exiting) {
        return;
    }

    conn->last_attempt = ngx_current_msec;
    conn->attempts++;
    conn->refused = 0;

    if (conn->reader == NULL) {
        conn->reader = redisReaderCreate();
        if (conn->reader == NULL) {
            ngx_log_error(NGX_LOG_ERR, conn->log, 0,
                          "ds_redis: cannot allocate a reply reader");
            ngx_http_ds_redis_schedule_retry();
            return;
        }
    }

    /* sentinel=: ask where the primary is, at every attempt */
    if (rmcf->sentinels) {
        conn->resolving = 1;

        if (ngx_http_ds_redis_sentinel_discover(rmcf,
                                                ngx_http_ds_redis_resolved)
            != NGX_OK)
        {
            conn->resolving = 0;
            conn->refused = 1;
            ngx_http_ds_redis_schedule_retry();
        }

        return;
    }

    if (rmcf->host_name.len == 0) {
        ngx_http_ds_redis_connect_peer(rmcf->sockaddr, rmcf->socklen);
        return;
    }

    /* requests meanwhile get the failure mode: c is still NULL */
    conn->resolving = 1;

    if (ngx_http_ds_redis_resolve(rmcf, ngx_http_ds_redis_resolved)
        != NGX_OK)
    {
        conn->resolving = 0;
        ngx_log_error(NGX_LOG_ERR, conn->log, 0,
                      "ds_redis: cannot start resolving %V",
                      &rmcf->host_name);
        conn->refused = 1;
        ngx_http_ds_redis_schedule_retry();
    }
}


static void
ngx_http_ds_redis_resolved(struct sockaddr *sockaddr, socklen_t socklen)
{
    ngx_http_ds_redis_conn_t  *conn = &ngx_http_ds_redis_conn;

    conn->resolving = 0;

    if (conn->exiting) {
        return;
    }

    if (sockaddr == NULL) {
        /* logged by the resolver side; a wrong name is not an outage */
        conn->refused = 1;
        ngx_http_ds_redis_schedule_retry();
        return;
    }

    ngx_http_ds_redis_connect_peer(sockaddr, socklen);
}


static void
ngx_http_ds_redis_connect_peer(struct sockaddr *sockaddr, socklen_t socklen)
{
    ngx_int_t                       rc;
    ngx_err_t                       err;
    ngx_connection_t               *c;
    ngx_peer_connection_t          *pc;
    ngx_http_ds_redis_conn_t       *conn = &ngx_http_ds_redis_conn;
    ngx_http_ds_redis_main_conf_t  *rmcf = conn->conf;

    pc = &conn->pc;
    ngx_memzero(pc, sizeof(ngx_peer_connection_t));

    /* an address, never a name: DNS went through nginx's resolver */
    pc->sockaddr = sockaddr;
    pc->socklen = socklen;
    pc->name = &rmcf->addr;
    pc->get = ngx_event_get_peer;
    pc->log = &conn->quiet_log;
    pc->log_error = NGX_ERROR_ERR;
    pc->tries = 1;

    rc = ngx_event_connect_peer(pc);
    err = ngx_socket_errno;

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        if (ngx_http_ds_redis_log_failure()) {
            ngx_log_error(NGX_LOG_ERR, conn->log, err,
                          "ds_redis: cannot connect to %V", &rmcf->addr);
        }

        pc->connection = NULL;
        ngx_http_ds_redis_schedule_retry();
        return;
    }

    c = pc->connection;

    c->data = conn;
    c->log = conn->log;
    c->pool = NULL;

    /* TLS keeps its per-connection state in the connection's pool */
    if (rmcf->tls) {
        c->pool = ngx_create_pool(1024, conn->log);
        if (c->pool == NULL) {
            ngx_close_connection(c);
            ngx_http_ds_redis_schedule_retry();
            return;
        }
    }
    c->read->log = conn->log;
    c->write->log = conn->log;
    c->read->handler = ngx_http_ds_redis_dummy_handler;
    c->write->handler = ngx_http_ds_redis_connect_handler;

    conn->c = c;
    conn->state = NGX_HTTP_DS_REDIS_CONNECTING;
    conn->script_loading = 0;
    conn->answered = 0;
    conn->out_pos = 0;
    conn->out_len = 0;

    /* queued now, written once connected: requests queue behind them */
    ngx_http_ds_redis_setup(conn);

    ngx_add_timer(&conn->connect_timer, rmcf->connect_timeout);

    if (rc == NGX_OK) {
        /* a unix socket connects at once */
        ngx_http_ds_redis_connect_handler(c->write);
    }
}


/* the write event of a connect in progress: did it work? */
static void
ngx_http_ds_redis_connect_handler(ngx_event_t *wev)
{
    int                        err;
    ngx_connection_t          *c;
    ngx_http_ds_redis_conn_t  *conn;

    c = wev->data;
    conn = c->data;

    if (conn->c != c || conn->state != NGX_HTTP_DS_REDIS_CONNECTING) {
        return;
    }

    err = ngx_http_ds_redis_connect_error(c);

    if (err) {
        if (ngx_http_ds_redis_log_failure()) {
            ngx_log_error(NGX_LOG_ERR, conn->log, err,
                          "ds_redis: cannot connect to %V",
                          &conn->conf->addr);
        }

        ngx_http_ds_redis_close(conn);
        return;
    }

    c->write->handler = ngx_http_ds_redis_dummy_handler;

#if (NGX_SSL)
    if (conn->conf->tls) {
        /* the handshake calls ngx_http_ds_redis_conn_ready() */
        ngx_http_ds_redis_tls_start(c, conn->conf);
        return;
    }
#endif

    ngx_http_ds_redis_connected(conn);
}


static void
ngx_http_ds_redis_connected(ngx_http_ds_redis_conn_t *conn)
{
    ngx_connection_t  *c = conn->c;

    if (conn->connect_timer.timer_set) {
        ngx_del_timer(&conn->connect_timer);
    }

    conn->state = NGX_HTTP_DS_REDIS_UP;
    ngx_http_ds_metrics_redis_state(1);

    c->read->handler = ngx_http_ds_redis_read_handler;
    c->write->handler = ngx_http_ds_redis_write_handler;

    ngx_log_error(NGX_LOG_INFO, conn->log, 0,
                  "ds_redis: connected to %V%s", &conn->conf->addr,
                  conn->conf->tls ? " over TLS" : "");

    /* what waited for the connection: AUTH, SELECT, SCRIPT LOAD, ... */
    ngx_http_ds_redis_write_handler(c->write);

    /* bytes may already be there (an edge before the handler changed) */
    if (conn->c == c && c->read->ready) {
        ngx_post_event(c->read, &ngx_posted_events);
    }
}


/* format into the output buffer and queue fn for the reply */
static ngx_int_t
ngx_http_ds_redis_queue(ngx_http_ds_redis_conn_t *conn,
    ngx_http_ds_redis_reply_pt fn, void *data, int argc, const char **argv,
    const size_t *argvlen)
{
    u_char                  *p;
    size_t                   len, room, size;
    ngx_uint_t               i, n;
    ngx_http_ds_redis_cb_t  *q;

    if (conn->q_n == conn->q_size) {
        n = conn->q_size * 2;

        q = ngx_alloc(n * sizeof(ngx_http_ds_redis_cb_t), conn->log);
        if (q == NULL) {
            return NGX_DECLINED;
        }

        for (i = 0; i < conn->q_n; i++) {
            q[i] = conn->q[(conn->q_head + i) % conn->q_size];
        }

        ngx_free(conn->q);
        conn->q = q;
        conn->q_head = 0;
        conn->q_size = n;
    }

    if (conn->out_pos == conn->out_len) {
        conn->out_pos = 0;
        conn->out_len = 0;
    }

    room = conn->out_size - conn->out_len;
    len = ds_resp_command((char *) conn->out + conn->out_len, room, argc,
                          argv, argvlen);

    if (len > room) {
        /* compact, and grow if that is not enough */
        size = conn->out_len - conn->out_pos;

        if (conn->out_pos && size + len <= conn->out_size) {
            ngx_memmove(conn->out, conn->out + conn->out_pos, size);

        } else {
            n = conn->out_size;

            while (n < size + len) {
                n *= 2;
            }

            p = ngx_alloc(n, conn->log);
            if (p == NULL) {
                return NGX_DECLINED;
            }

            ngx_memcpy(p, conn->out + conn->out_pos, size);
            ngx_free(conn->out);
            conn->out = p;
            conn->out_size = n;
        }

        conn->out_pos = 0;
        conn->out_len = size;

        (void) ds_resp_command((char *) conn->out + conn->out_len, len,
                               argc, argv, argvlen);
    }

    conn->out_len += len;

    q = &conn->q[(conn->q_head + conn->q_n) % conn->q_size];
    q->fn = fn;
    q->data = data;
    conn->q_n++;

    /* write from the posted queue: this cycle's commands go together */
    if (conn->state == NGX_HTTP_DS_REDIS_UP && conn->c->write->ready
        && !conn->c->write->posted)
    {
        ngx_post_event(conn->c->write, &ngx_posted_events);
    }

    return NGX_OK;
}


/*
 * AUTH, SELECT and SCRIPT LOAD go first on the wire: pipelined, no
 * round trip; the requests' commands queue up behind them.
 */
static void
ngx_http_ds_redis_setup(ngx_http_ds_redis_conn_t *conn)
{
    int                             argc;
    const char                     *argv[3];
    size_t                          argvlen[3];
    u_char                          db[NGX_INT_T_LEN];
    ngx_http_ds_redis_main_conf_t  *rmcf = conn->conf;

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

        (void) ngx_http_ds_redis_queue(conn, ngx_http_ds_redis_setup_reply,
                                       "AUTH", argc, argv, argvlen);
    }

    if (rmcf->db) {
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = (const char *) db;
        argvlen[1] = ngx_sprintf(db, "%i", rmcf->db) - db;

        (void) ngx_http_ds_redis_queue(conn, ngx_http_ds_redis_setup_reply,
                                       "SELECT", 2, argv, argvlen);
    }

    (void) ngx_http_ds_redis_load_script(conn);
}


static ngx_int_t
ngx_http_ds_redis_load_script(ngx_http_ds_redis_conn_t *conn)
{
    const char  *argv[3];
    size_t       argvlen[3];

    argv[0] = "SCRIPT";
    argvlen[0] = sizeof("SCRIPT") - 1;
    argv[1] = "LOAD";
    argvlen[1] = sizeof("LOAD") - 1;
    argv[2] = ds_gcra_script();
    argvlen[2] = ds_gcra_script_len();

    if (ngx_http_ds_redis_queue(conn, ngx_http_ds_redis_script_reply, NULL,
                                3, argv, argvlen)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    conn->script_loading = 1;

    return NGX_OK;
}


static void
ngx_http_ds_redis_script_reply(redisReply *rep, void *data)
{
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
    ngx_http_ds_redis_close(conn);
}


static void
ngx_http_ds_redis_setup_reply(redisReply *rep, void *data)
{
    ngx_str_t                 *user;
    ngx_http_ds_redis_conn_t  *conn = &ngx_http_ds_redis_conn;

    if (rep == NULL) {
        return;                 /* the connection is going away */
    }

    if (rep->type == REDIS_REPLY_ERROR) {
        /* Redis' message never echoes the password */
        if (ngx_strcmp(data, "AUTH") == 0) {
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
                          (char *) data, &conn->conf->addr,
                          (size_t) rep->len, rep->str);
        }

        conn->refused = 1;
        ngx_http_ds_redis_close(conn);
        return;
    }

    ngx_http_ds_redis_conn_healthy();
}


static void
ngx_http_ds_redis_read_handler(ngx_event_t *rev)
{
    void                      *reply;
    ssize_t                    n;
    ngx_uint_t                 i, gen;
    ngx_connection_t          *c;
    ngx_http_ds_redis_cb_t     cb;
    ngx_http_ds_redis_conn_t  *conn;
    u_char                     buf[NGX_HTTP_DS_REDIS_READ_BUF];

    c = rev->data;
    conn = c->data;

    if (conn->c != c || conn->state != NGX_HTTP_DS_REDIS_UP) {
        return;
    }

    gen = conn->gen;

    for (i = 0; i < NGX_HTTP_DS_REDIS_READ_ROUNDS; i++) {

        n = c->recv(c, buf, sizeof(buf));

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                goto lost;
            }

            return;
        }

        if (n == 0 || n == NGX_ERROR) {
            goto lost;
        }

        if (redisReaderFeed(conn->reader, (const char *) buf, n)
            != REDIS_OK)
        {
            goto protocol;
        }

        for ( ;; ) {
            if (redisReaderGetReply(conn->reader, &reply) != REDIS_OK) {
                goto protocol;
            }

            if (reply == NULL) {
                break;
            }

            if (conn->q_n == 0) {
                /* a reply nobody asked for: out of step, start afresh */
                freeReplyObject(reply);
                ngx_log_error(NGX_LOG_ERR, conn->log, 0,
                              "ds_redis: unexpected reply from %V",
                              &conn->conf->addr);
                conn->refused = 1;
                ngx_http_ds_redis_close(conn);
                return;
            }

            cb = conn->q[conn->q_head];
            conn->q_head = (conn->q_head + 1) % conn->q_size;
            conn->q_n--;
            conn->answered = 1;

            cb.fn(reply, cb.data);

            if (conn->gen == gen && ngx_http_ds_redis_demoted(conn, reply))
            {
                freeReplyObject(reply);
                ngx_http_ds_redis_close(conn);
                return;
            }

            freeReplyObject(reply);

            if (conn->gen != gen) {
                return;         /* a callback closed the connection */
            }
        }

        if (!rev->ready) {
            return;
        }
    }

    /* still more to read: yield, come back in this same cycle */
    ngx_post_event(rev, &ngx_posted_events);
    return;

protocol:

    ngx_log_error(NGX_LOG_ERR, conn->log, 0,
                  "ds_redis: protocol error from %V: %s",
                  &conn->conf->addr, conn->reader->errstr);
    conn->refused = 1;
    ngx_http_ds_redis_close(conn);
    return;

lost:

    /*
     * Closed before the first reply: a server that takes connections
     * and drops them (a TLS client certificate it wants, maxclients) is
     * refusing, not down, and 10 ms probing would only hammer it.
     */
    if (!conn->answered) {
        conn->refused = 1;
    }

    if (ngx_http_ds_redis_log_failure()) {
        ngx_log_error(NGX_LOG_ERR, conn->log, 0,
                      "ds_redis: connection to %V lost: %s",
                      &conn->conf->addr,
                      n == 0 ? "closed by the server" : "read error");
    }

    ngx_http_ds_redis_close(conn);
}


static void
ngx_http_ds_redis_write_handler(ngx_event_t *wev)
{
    ssize_t                    n;
    ngx_connection_t          *c;
    ngx_http_ds_redis_conn_t  *conn;

    c = wev->data;
    conn = c->data;

    if (conn->c != c || conn->state != NGX_HTTP_DS_REDIS_UP) {
        return;
    }

    while (conn->out_pos < conn->out_len) {

        n = c->send(c, conn->out + conn->out_pos,
                    conn->out_len - conn->out_pos);

        if (n == NGX_AGAIN) {
            /* the next edge says when there is room again */
            if (ngx_handle_write_event(wev, 0) != NGX_OK) {
                break;
            }

            return;
        }

        if (n == NGX_ERROR) {
            if (!conn->answered) {
                conn->refused = 1;      /* as for a read, see there */
            }

            if (ngx_http_ds_redis_log_failure()) {
                ngx_log_error(NGX_LOG_ERR, conn->log, 0,
                              "ds_redis: connection to %V lost: write "
                              "error", &conn->conf->addr);
            }

            ngx_http_ds_redis_close(conn);
            return;
        }

        conn->out_pos += n;
    }

    conn->out_pos = 0;
    conn->out_len = 0;

    if (ngx_handle_write_event(wev, 0) != NGX_OK) {
        ngx_http_ds_redis_close(conn);
    }
}


/*
 * sentinel=: a sentinel published +switch-master for our master
 * (ngx_http_ds_redis_sentinel_watch.c): drop the connection to the old
 * primary before it is demoted or lost; the next attempt asks the
 * sentinels, which name the new one.
 */
void
ngx_http_ds_redis_conn_switch(void)
{
    ngx_http_ds_redis_conn_t  *conn = &ngx_http_ds_redis_conn;

    if (conn->c == NULL || conn->exiting) {
        return;         /* connecting: the sentinels are asked anyway */
    }

    ngx_log_error(NGX_LOG_WARN, conn->log, 0,
                  "ds_redis: the sentinels switched the primary from %V, "
                  "asking them for the new one", &conn->conf->addr);

    ngx_http_ds_redis_close(conn);
}


/*
 * sentinel=: a reply that says this is no longer the primary (a replica
 * now, still loading, or cut off from its primary) means a failover:
 * drop the connection, the next attempt asks the sentinels again.
 */
static ngx_uint_t
ngx_http_ds_redis_demoted(ngx_http_ds_redis_conn_t *conn, redisReply *rep)
{
    ngx_uint_t  i;

    static const char  *codes[] = { "READONLY", "LOADING", "MASTERDOWN" };

    if (conn->conf->sentinels == NULL || rep->type != REDIS_REPLY_ERROR
        || rep->str == NULL)
    {
        return 0;
    }

    /* a script's error carries the command's after its own text */
    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        if (ngx_strnstr((u_char *) rep->str, (char *) codes[i], rep->len)) {
            ngx_log_error(NGX_LOG_WARN, conn->log, 0,
                          "ds_redis: %V answered -%s, asking the "
                          "sentinels for the primary", &conn->conf->addr,
                          codes[i]);
            return 1;
        }
    }

    return 0;
}


static void
ngx_http_ds_redis_dummy_handler(ngx_event_t *ev)
{
    /* connecting or handshaking: the bytes wait for the read handler */
}


static void
ngx_http_ds_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_ds_redis_conn_t  *conn = ev->data;

    if (conn->c == NULL || conn->state != NGX_HTTP_DS_REDIS_CONNECTING) {
        return;
    }

    if (ngx_http_ds_redis_log_failure()) {
        ngx_log_error(NGX_LOG_ERR, conn->log, 0,
                      "ds_redis: connect to %V timed out after %M ms",
                      &conn->conf->addr, conn->conf->connect_timeout);
    }

    /* waiting commands get NULL replies; then the next attempt */
    ngx_http_ds_redis_close(conn);
}


/*
 * Drop the connection: every queued callback gets NULL, in order, then
 * the next attempt is planned. Safe to call from a reply callback.
 */
static void
ngx_http_ds_redis_close(ngx_http_ds_redis_conn_t *conn)
{
    ngx_pool_t              *pool;
    ngx_connection_t        *c = conn->c;
    ngx_http_ds_redis_cb_t   cb;

    conn->c = NULL;
    conn->gen++;
    conn->state = NGX_HTTP_DS_REDIS_DOWN;
    conn->script_loading = 0;
    conn->out_pos = 0;
    conn->out_len = 0;

    if (conn->connect_timer.timer_set) {
        ngx_del_timer(&conn->connect_timer);
    }

    if (c) {
        pool = c->pool;

#if (NGX_SSL)
        ngx_http_ds_redis_tls_close(c);
#endif
        ngx_close_connection(c);

        if (pool) {
            ngx_destroy_pool(pool);
        }
    }

    /* a half-read reply must not be completed by the next connection */
    if (conn->reader) {
        redisReaderFree(conn->reader);
        conn->reader = NULL;
    }

    while (conn->q_n) {
        cb = conn->q[conn->q_head];
        conn->q_head = (conn->q_head + 1) % conn->q_size;
        conn->q_n--;

        cb.fn(NULL, cb.data);
    }

    conn->q_head = 0;

    ngx_http_ds_redis_schedule_retry();
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
    ngx_http_ds_metrics_redis_state(0);

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


/* the outcome of a non-blocking connect, once its socket is writable */
ngx_err_t
ngx_http_ds_redis_connect_error(ngx_connection_t *c)
{
    int        err;
    socklen_t  len;

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    return err;
}


/*
 * Sends out[*pos..len) as far as the socket takes it: NGX_OK when all
 * is sent, NGX_AGAIN when the write event is armed for the rest.
 */
ngx_int_t
ngx_http_ds_redis_send_out(ngx_connection_t *c, u_char *out, size_t *pos,
    size_t len)
{
    ssize_t  n;

    while (*pos < len) {
        n = c->send(c, out + *pos, len - *pos);

        if (n == NGX_AGAIN) {
            (void) ngx_handle_write_event(c->write, 0);
            return NGX_AGAIN;
        }

        if (n == NGX_ERROR) {
            return NGX_ERROR;
        }

        *pos += n;
    }

    return NGX_OK;
}
