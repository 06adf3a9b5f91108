/*
 * sentinel=: follow a failover as the sentinels announce it. After a
 * discovery (ngx_http_ds_redis_sentinel.c) the worker keeps one
 * long-lived nginx peer connection to the sentinel that answered,
 * SUBSCRIBEd to +switch-master (after AUTH, over TLS, as that exchange
 * is). A "+switch-master NAME OLD-IP OLD-PORT NEW-IP NEW-PORT" for our
 * master drops the primary connection (conn.c), and the reconnection
 * asks the sentinels, which now name the new primary: the limiter moves
 * before the old primary is demoted (no -READONLY) or lost.
 *
 * Best effort on top of the reconnection, which finds a switch anyway:
 * a lost subscription is retried after a second, or at the next
 * discovery; nothing waits on it. The connection is idle to nginx, so
 * a graceful shutdown closes it.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>
#include <ngx_http.h>

#include "ngx_http_ds_redis.h"
#include "ds_resp.h"


#define NGX_HTTP_DS_WATCH_RETRY  1000   /* ms */
#define NGX_HTTP_DS_WATCH_OUT    8192   /* AUTH and SUBSCRIBE */
#define NGX_HTTP_DS_WATCH_BUF    4096


typedef struct {
    ngx_http_ds_redis_main_conf_t      *conf;
    ngx_http_ds_redis_sentinel_addr_t  *sentinel;
    ngx_sockaddr_t                      peer;
    socklen_t                           peer_len;
    ngx_peer_connection_t               pc;
    ngx_connection_t                   *c;
    redisReader                        *reader;
    ngx_event_t                         timer;    /* connect, or retry */
    ngx_log_t                           quiet_log;
    u_char                              out[NGX_HTTP_DS_WATCH_OUT];
    size_t                              out_pos;
    size_t                              out_len;
    unsigned                            connected:1;
    unsigned                            auth:1;   /* AUTH reply due */
    unsigned                            up:1;     /* subscribed */
    unsigned                            logged:1; /* a failure, once */
} ngx_http_ds_redis_watch_t;


static void ngx_http_ds_redis_watch_connect(void);
static void ngx_http_ds_redis_watch_write(ngx_event_t *wev);
static void ngx_http_ds_redis_watch_read(ngx_event_t *rev);
static void ngx_http_ds_redis_watch_timer(ngx_event_t *ev);
static void ngx_http_ds_redis_watch_lost(const char *why);
static void ngx_http_ds_redis_watch_drop(void);
static ngx_int_t ngx_http_ds_redis_watch_reply(redisReply *rep);
#if (NGX_SSL)
static void ngx_http_ds_redis_watch_tls(ngx_connection_t *c);
static void ngx_http_ds_redis_watch_handshake(ngx_connection_t *c);
#endif


static ngx_http_ds_redis_watch_t  ngx_http_ds_redis_watch;


/* a sentinel answered: watch it, unless a subscription is up already */
void
ngx_http_ds_redis_sentinel_watch(ngx_http_ds_redis_main_conf_t *rmcf,
    ngx_http_ds_redis_sentinel_addr_t *a, struct sockaddr *sa,
    socklen_t len)
{
    ngx_http_ds_redis_watch_t  *w = &ngx_http_ds_redis_watch;

    if (w->c || ngx_exiting || ngx_terminate || ngx_quit
        || len > sizeof(ngx_sockaddr_t))
    {
        return;
    }

    if (w->timer.handler == NULL) {
        w->quiet_log = *ngx_cycle->log;
        w->quiet_log.log_level = NGX_LOG_EMERG;
        w->timer.handler = ngx_http_ds_redis_watch_timer;
        w->timer.data = w;
        w->timer.log = ngx_cycle->log;
        w->timer.cancelable = 1;
    }

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }

    w->conf = rmcf;
    w->sentinel = a;
    ngx_memcpy(&w->peer, sa, len);
    w->peer_len = len;

    ngx_http_ds_redis_watch_connect();
}


static void
ngx_http_ds_redis_watch_connect(void)
{
    ngx_int_t                       rc;
    const char                     *argv[3];
    size_t                          argvlen[3];
    ngx_connection_t               *c;
    ngx_peer_connection_t          *pc;
    ngx_http_ds_redis_watch_t      *w = &ngx_http_ds_redis_watch;
    ngx_http_ds_redis_main_conf_t  *rmcf = w->conf;

    w->reader = redisReaderCreate();
    if (w->reader == NULL) {
        return;
    }

    pc = &w->pc;
    ngx_memzero(pc, sizeof(ngx_peer_connection_t));

    pc->sockaddr = &w->peer.sockaddr;
    pc->socklen = w->peer_len;
    pc->name = &w->sentinel->addr.name;
    pc->get = ngx_event_get_peer;
    pc->log = &w->quiet_log;
    pc->log_error = NGX_ERROR_ERR;
    pc->tries = 1;

    rc = ngx_event_connect_peer(pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        pc->connection = NULL;
        ngx_http_ds_redis_watch_lost("cannot connect");
        return;
    }

    c = pc->connection;
    c->data = w;
    c->log = ngx_cycle->log;
    c->pool = NULL;
    c->read->log = c->log;
    c->write->log = c->log;
    c->read->handler = ngx_http_ds_redis_watch_read;
    c->write->handler = ngx_http_ds_redis_watch_write;
    w->c = c;
    w->connected = 0;
    w->up = 0;
    w->auth = 0;
    w->out_pos = 0;
    w->out_len = 0;

    if (rmcf->sentinel_tls) {
        c->pool = ngx_create_pool(1024, ngx_cycle->log);
        if (c->pool == NULL) {
            ngx_http_ds_redis_watch_lost("no memory");
            return;
        }
    }

    w->out_len = ngx_http_ds_redis_sentinel_auth_cmd(rmcf, w->out,
                                                 sizeof(w->out));
    w->auth = (w->out_len != 0);

    argv[0] = "SUBSCRIBE";
    argvlen[0] = sizeof("SUBSCRIBE") - 1;
    argv[1] = "+switch-master";
    argvlen[1] = sizeof("+switch-master") - 1;

    w->out_len += ds_resp_command((char *) w->out + w->out_len,
                                  sizeof(w->out) - w->out_len, 2, argv,
                                  argvlen);

    /* until subscribed; then no timer: the connection may stay quiet */
    ngx_add_timer(&w->timer, rmcf->connect_timeout);

    if (rc == NGX_OK) {
        ngx_http_ds_redis_watch_write(c->write);
    }
}


static void
ngx_http_ds_redis_watch_write(ngx_event_t *wev)
{
    int                         err;
    ngx_int_t                   rc;
    ngx_connection_t           *c = wev->data;
    ngx_http_ds_redis_watch_t  *w = c->data;

    if (w->c != c || w->out_pos == w->out_len) {
        return;
    }

    if (!w->connected) {
        err = ngx_http_ds_redis_connect_error(c);

        if (err) {
            ngx_http_ds_redis_watch_lost("cannot connect");
            return;
        }

#if (NGX_SSL)
        if (w->conf->sentinel_tls) {
            ngx_http_ds_redis_watch_tls(c);
            return;
        }
#endif

        w->connected = 1;
    }

    rc = ngx_http_ds_redis_send_out(c, w->out, &w->out_pos, w->out_len);

    if (rc == NGX_AGAIN) {
        return;
    }

    if (rc == NGX_ERROR) {
        ngx_http_ds_redis_watch_lost("cannot write");
        return;
    }

    if (c->read->ready) {
        ngx_post_event(c->read, &ngx_posted_events);
    }
}


static void
ngx_http_ds_redis_watch_read(ngx_event_t *rev)
{
    void                       *reply;
    ssize_t                     n;
    ngx_int_t                   rc;
    ngx_connection_t           *c = rev->data;
    ngx_http_ds_redis_watch_t  *w = c->data;
    u_char                      buf[NGX_HTTP_DS_WATCH_BUF];

    if (w->c != c) {
        return;
    }

    /* a graceful shutdown closes idle connections */
    if (c->close) {
        ngx_http_ds_redis_watch_drop();
        return;
    }

    for ( ;; ) {
        n = c->recv(c, buf, sizeof(buf));

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_http_ds_redis_watch_lost("read event failed");
            }

            return;
        }

        if (n == 0 || n == NGX_ERROR) {
            ngx_http_ds_redis_watch_lost("connection lost");
            return;
        }

        if (redisReaderFeed(w->reader, (const char *) buf, n) != REDIS_OK) {
            ngx_http_ds_redis_watch_lost("protocol error");
            return;
        }

        for ( ;; ) {
            if (redisReaderGetReply(w->reader, &reply) != REDIS_OK) {
                ngx_http_ds_redis_watch_lost("protocol error");
                return;
            }

            if (reply == NULL) {
                break;
            }

            rc = ngx_http_ds_redis_watch_reply(reply);
            freeReplyObject(reply);

            if (rc != NGX_OK) {
                ngx_http_ds_redis_watch_lost("refused");
                return;
            }
        }
    }
}


/* NGX_OK: go on (a switch is handed to conn.c); NGX_ERROR: drop */
static ngx_int_t
ngx_http_ds_redis_watch_reply(redisReply *rep)
{
    u_char                         *p, *end, *port, *ip, *last, *q;
    redisReply                     *kind, *text;
    u_char                          addr[NGX_SOCKADDR_STRLEN + 8];
    ngx_http_ds_redis_watch_t      *w = &ngx_http_ds_redis_watch;
    ngx_http_ds_redis_main_conf_t  *rmcf = w->conf;

    /* said once per outage of the watch, as its other failures */
    if (rep->type == REDIS_REPLY_ERROR && !w->logged) {
        w->logged = 1;
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "ds_redis: sentinel %V refused the +switch-master "
                      "watch: %*s", &w->sentinel->addr.name,
                      (size_t) rep->len, rep->str);
        return NGX_ERROR;
    }

    if (w->auth) {
        w->auth = 0;

        if (rep->type == REDIS_REPLY_STATUS && rep->len == 2
            && ngx_strncmp(rep->str, "OK", 2) == 0)
        {
            return NGX_OK;
        }

        return NGX_ERROR;
    }

    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3
        || rep->element[0]->type != REDIS_REPLY_STRING)
    {
        return NGX_ERROR;
    }

    kind = rep->element[0];

    if (!w->up) {
        if (kind->len != 9 || ngx_strncmp(kind->str, "subscribe", 9) != 0) {
            return NGX_ERROR;
        }

        w->up = 1;
        w->logged = 0;

        if (w->timer.timer_set) {
            ngx_del_timer(&w->timer);
        }

        w->c->idle = 1;

        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "ds_redis: watching sentinel %V for +switch-master",
                      &w->sentinel->addr.name);
        return NGX_OK;
    }

    text = rep->element[2];

    if (kind->len != 7 || ngx_strncmp(kind->str, "message", 7) != 0
        || text->type != REDIS_REPLY_STRING)
    {
        return NGX_OK;
    }

    /* "NAME OLD-IP OLD-PORT NEW-IP NEW-PORT": ours? */
    p = (u_char *) text->str;
    end = p + text->len;
    last = p;

    if ((size_t) (end - p) <= rmcf->sentinel_master.len
        || ngx_strncmp(p, rmcf->sentinel_master.data,
                       rmcf->sentinel_master.len) != 0
        || p[rmcf->sentinel_master.len] != ' ')
    {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "ds_redis: sentinel %V: +switch-master %*s",
                  &w->sentinel->addr.name, (size_t) text->len, text->str);

    /* the last two words: NEW-IP NEW-PORT; already there (a reconnection
     * after a lost primary was faster): keep the good connection */
    port = ngx_strlchr(p, end, ' ');
    ip = NULL;

    while (port) {
        ip = last;
        last = port + 1;
        port = ngx_strlchr(last, end, ' ');
    }

    if (ip && last > ip && (size_t) (end - ip) < sizeof(addr) - 2) {
        q = ngx_strlchr(ip, last - 1, ':')
            ? ngx_sprintf(addr, "[%*s]:%*s", (size_t) (last - 1 - ip), ip,
                          (size_t) (end - last), last)
            : ngx_sprintf(addr, "%*s:%*s", (size_t) (last - 1 - ip), ip,
                          (size_t) (end - last), last);

        if (ngx_http_ds_redis_sentinel_is_primary(addr, q - addr)) {
            return NGX_OK;
        }
    }

    /* may start a discovery, which finds this watch up: no recursion */
    ngx_http_ds_redis_conn_switch();

    return NGX_OK;
}


#if (NGX_SSL)

static void
ngx_http_ds_redis_watch_tls(ngx_connection_t *c)
{
    ngx_int_t                   rc;
    ngx_http_ds_redis_watch_t  *w = c->data;

    c->log = &w->quiet_log;
    c->read->log = c->log;
    c->write->log = c->log;
    c->write->handler = ngx_http_ds_redis_watch_write;

    if (ngx_ssl_create_connection(w->conf->ssl, c, NGX_SSL_CLIENT)
        != NGX_OK)
    {
        ngx_http_ds_redis_watch_lost("TLS failed");
        return;
    }

    if (w->sentinel->host.len
        && SSL_set_tlsext_host_name(c->ssl->connection,
                                    (char *) w->sentinel->host.data)
           == 0)
    {
        ngx_http_ds_redis_watch_lost("TLS failed");
        return;
    }

    rc = ngx_ssl_handshake(c);

    if (rc == NGX_AGAIN) {
        c->ssl->handler = ngx_http_ds_redis_watch_handshake;
        return;
    }

    ngx_http_ds_redis_watch_handshake(c);
}


/* the discovery checked this sentinel's certificate a moment ago */
static void
ngx_http_ds_redis_watch_handshake(ngx_connection_t *c)
{
    ngx_http_ds_redis_watch_t  *w = c->data;

    if (w->c != c) {
        return;
    }

    if (!c->ssl->handshaked
        || (w->conf->tls_verify
            && ngx_http_ds_redis_tls_check(c, &w->sentinel->host,
                                           &w->sentinel->addr.name)
               != NGX_OK))
    {
        ngx_http_ds_redis_watch_lost("TLS refused");
        return;
    }

    c->log = ngx_cycle->log;
    c->read->log = c->log;
    c->write->log = c->log;
    w->connected = 1;
    c->read->handler = ngx_http_ds_redis_watch_read;
    c->write->handler = ngx_http_ds_redis_watch_write;

    ngx_http_ds_redis_watch_write(c->write);
}

#endif


static void
ngx_http_ds_redis_watch_timer(ngx_event_t *ev)
{
    ngx_http_ds_redis_watch_t  *w = ev->data;

    if (w->c) {
        ngx_http_ds_redis_watch_lost("timed out");
        return;
    }

    if (!ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_http_ds_redis_watch_connect();
    }
}


/* drop the subscription; try the same sentinel again in a second */
static void
ngx_http_ds_redis_watch_lost(const char *why)
{
    ngx_http_ds_redis_watch_t  *w = &ngx_http_ds_redis_watch;

    if (!w->logged) {
        w->logged = 1;
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "ds_redis: no +switch-master watch on sentinel %V "
                      "(%s), retrying", &w->sentinel->addr.name, why);
    }

    ngx_http_ds_redis_watch_drop();

    if (!ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(&w->timer, NGX_HTTP_DS_WATCH_RETRY);
    }
}


static void
ngx_http_ds_redis_watch_drop(void)
{
    ngx_pool_t                 *pool;
    ngx_http_ds_redis_watch_t  *w = &ngx_http_ds_redis_watch;

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }

    if (w->c) {
        pool = w->c->pool;
#if (NGX_SSL)
        ngx_http_ds_redis_tls_close(w->c);
#endif
        ngx_close_connection(w->c);
        w->c = NULL;

        if (pool) {
            ngx_destroy_pool(pool);
        }
    }

    if (w->reader) {
        redisReaderFree(w->reader);
        w->reader = NULL;
    }

    w->up = 0;
}


/* worker exit */
void
ngx_http_ds_redis_sentinel_watch_cancel(void)
{
    ngx_http_ds_redis_watch_drop();
}
