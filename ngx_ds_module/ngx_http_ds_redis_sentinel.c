/*
 * Redis Sentinel discovery (ds_redis sentinel=... master=NAME): before
 * every connection attempt the worker asks the sentinels, in turn,
 * SENTINEL get-master-addr-by-name NAME over a short-lived nginx peer
 * connection of its own (non-blocking connect, nginx events, one nginx
 * timer bounding each sentinel's exchange by ds_redis_connect_timeout,
 * hiredis' reply reader). The answer goes to the same callback a host
 * name's resolution does (ngx_http_ds_redis_resolve.c), so the primary
 * connection (conn.c) stays one code path: AUTH, SELECT, SCRIPT LOAD
 * as for a fixed address. Failover is followed because a lost
 * connection, or a -READONLY/-LOADING/-MASTERDOWN reply (conn.c),
 * leads to a new attempt, which asks the sentinels again.
 *
 * One discovery at a time per worker; the next round starts with the
 * sentinel after the one that answered last, so a dead sentinel costs
 * one refused connect, not one per attempt.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>
#include <ngx_http.h>

#include "ngx_http_ds_redis.h"
#include "ds_resp.h"


#define NGX_HTTP_DS_SENTINEL_LOG_EVERY  10000   /* ms, as conn.c */
#define NGX_HTTP_DS_SENTINEL_BUF        1024


typedef struct {
    ngx_http_ds_redis_main_conf_t  *conf;
    ngx_http_ds_redis_resolved_pt   handler;
    ngx_peer_connection_t           pc;
    ngx_connection_t               *c;
    redisReader                    *reader;
    ngx_addr_t                     *current;      /* being asked */
    ngx_uint_t                      next;         /* index to ask next */
    ngx_uint_t                      tried;        /* in this round */
    ngx_event_t                     timer;
    ngx_log_t                       quiet_log;
    ngx_msec_t                      last_logged;
    ngx_uint_t                      log_round;    /* 0: undecided */

    u_char                          out[NGX_HTTP_DS_SENTINEL_BUF];
    size_t                          out_pos;
    size_t                          out_len;

    ngx_sockaddr_t                  primary;
    socklen_t                       primary_len;
    u_char                          text[NGX_SOCKADDR_STRLEN];
    size_t                          text_len;
    unsigned                        active:1;
} ngx_http_ds_redis_sentinel_t;


static void ngx_http_ds_redis_sentinel_ask(void);
static void ngx_http_ds_redis_sentinel_fail(const char *what,
    ngx_err_t err);
static void ngx_http_ds_redis_sentinel_drop(void);
static void ngx_http_ds_redis_sentinel_write(ngx_event_t *wev);
static void ngx_http_ds_redis_sentinel_read(ngx_event_t *rev);
static void ngx_http_ds_redis_sentinel_timeout(ngx_event_t *ev);
static ngx_int_t ngx_http_ds_redis_sentinel_answer(redisReply *rep);
static ngx_uint_t ngx_http_ds_redis_sentinel_log(void);


static ngx_http_ds_redis_sentinel_t  ngx_http_ds_redis_sentinel;


ngx_int_t
ngx_http_ds_redis_sentinel_discover(ngx_http_ds_redis_main_conf_t *rmcf,
    ngx_http_ds_redis_resolved_pt handler)
{
    ngx_http_ds_redis_sentinel_t  *s = &ngx_http_ds_redis_sentinel;

    if (s->active) {
        return NGX_ERROR;
    }

    s->conf = rmcf;

    if (s->timer.handler == NULL) {
        s->quiet_log = *ngx_cycle->log;
        s->quiet_log.log_level = NGX_LOG_EMERG;
        s->timer.handler = ngx_http_ds_redis_sentinel_timeout;
        s->timer.data = s;
        s->timer.log = ngx_cycle->log;
        s->timer.cancelable = 1;
    }

    s->handler = handler;
    s->tried = 0;
    s->log_round = 0;
    s->active = 1;

    /* may call the handler before returning (every sentinel refused) */
    ngx_http_ds_redis_sentinel_ask();

    return NGX_OK;
}


/* worker exit */
void
ngx_http_ds_redis_sentinel_cancel(void)
{
    ngx_http_ds_redis_sentinel_t  *s = &ngx_http_ds_redis_sentinel;

    ngx_http_ds_redis_sentinel_drop();
    s->active = 0;
}


/* ask the next sentinel of this round, or give up */
static void
ngx_http_ds_redis_sentinel_ask(void)
{
    ngx_int_t                       rc;
    ngx_err_t                       err;
    ngx_addr_t                     *a;
    const char                     *argv[3];
    size_t                          argvlen[3];
    ngx_connection_t               *c;
    ngx_peer_connection_t          *pc;
    ngx_http_ds_redis_resolved_pt   handler;
    ngx_http_ds_redis_sentinel_t   *s = &ngx_http_ds_redis_sentinel;
    ngx_http_ds_redis_main_conf_t  *rmcf = s->conf;

    for ( ;; ) {

        if (s->tried == rmcf->sentinels->nelts) {
            if (ngx_http_ds_redis_sentinel_log()) {
                ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                              "ds_redis: no sentinel told the address of "
                              "master \"%V\"", &rmcf->sentinel_master);
            }

            s->active = 0;
            handler = s->handler;
            handler(NULL, 0);
            return;
        }

        a = rmcf->sentinels->elts;
        a = &a[s->next % rmcf->sentinels->nelts];
        s->next++;
        s->tried++;
        s->current = a;

        if (s->reader == NULL) {
            s->reader = redisReaderCreate();
            if (s->reader == NULL) {
                continue;
            }
        }

        pc = &s->pc;
        ngx_memzero(pc, sizeof(ngx_peer_connection_t));

        pc->sockaddr = a->sockaddr;
        pc->socklen = a->socklen;
        pc->name = &a->name;
        pc->get = ngx_event_get_peer;
        pc->log = &s->quiet_log;
        pc->log_error = NGX_ERROR_ERR;
        pc->tries = 1;

        rc = ngx_event_connect_peer(pc);
        err = ngx_socket_errno;

        if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
            pc->connection = NULL;
            ngx_http_ds_redis_sentinel_fail("cannot connect to", err);
            continue;
        }

        c = pc->connection;
        c->data = s;
        c->log = ngx_cycle->log;
        c->pool = NULL;
        c->read->log = c->log;
        c->write->log = c->log;
        c->read->handler = ngx_http_ds_redis_sentinel_read;
        c->write->handler = ngx_http_ds_redis_sentinel_write;
        s->c = c;

        argv[0] = "SENTINEL";
        argvlen[0] = sizeof("SENTINEL") - 1;
        argv[1] = "get-master-addr-by-name";
        argvlen[1] = sizeof("get-master-addr-by-name") - 1;
        argv[2] = (const char *) rmcf->sentinel_master.data;
        argvlen[2] = rmcf->sentinel_master.len;

        /* master= is at most 256 bytes: it fits */
        s->out_pos = 0;
        s->out_len = ds_resp_command((char *) s->out, sizeof(s->out), 3,
                                     argv, argvlen);

        ngx_add_timer(&s->timer, rmcf->connect_timeout);

        if (rc == NGX_OK) {
            ngx_http_ds_redis_sentinel_write(c->write);
        }

        return;
    }
}


static void
ngx_http_ds_redis_sentinel_write(ngx_event_t *wev)
{
    int                            err;
    ssize_t                        n;
    socklen_t                      len;
    ngx_connection_t              *c = wev->data;
    ngx_http_ds_redis_sentinel_t  *s = c->data;

    if (s->c != c || s->out_pos == s->out_len) {
        return;
    }

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        ngx_http_ds_redis_sentinel_drop();
        ngx_http_ds_redis_sentinel_fail("cannot connect to", err);
        ngx_http_ds_redis_sentinel_ask();
        return;
    }

    while (s->out_pos < s->out_len) {
        n = c->send(c, s->out + s->out_pos, s->out_len - s->out_pos);

        if (n == NGX_AGAIN) {
            (void) ngx_handle_write_event(wev, 0);
            return;
        }

        if (n == NGX_ERROR) {
            ngx_http_ds_redis_sentinel_drop();
            ngx_http_ds_redis_sentinel_fail("cannot write to", 0);
            ngx_http_ds_redis_sentinel_ask();
            return;
        }

        s->out_pos += n;
    }

    /* the reply may be there already (edge triggered) */
    if (c->read->ready) {
        ngx_post_event(c->read, &ngx_posted_events);
    }
}


static void
ngx_http_ds_redis_sentinel_read(ngx_event_t *rev)
{
    void                           *reply;
    ssize_t                         n;
    ngx_int_t                       rc;
    ngx_connection_t               *c = rev->data;
    const char                     *what;
    ngx_http_ds_redis_resolved_pt   handler;
    ngx_http_ds_redis_sentinel_t   *s = c->data;
    u_char                          buf[NGX_HTTP_DS_SENTINEL_BUF];

    if (s->c != c) {
        return;
    }

    for ( ;; ) {
        n = c->recv(c, buf, sizeof(buf));

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                break;
            }

            return;
        }

        if (n == 0 || n == NGX_ERROR) {
            break;
        }

        if (redisReaderFeed(s->reader, (const char *) buf, n) != REDIS_OK
            || redisReaderGetReply(s->reader, &reply) != REDIS_OK)
        {
            break;
        }

        if (reply == NULL) {
            continue;           /* a part of the reply */
        }

        rc = ngx_http_ds_redis_sentinel_answer(reply);
        freeReplyObject(reply);
        ngx_http_ds_redis_sentinel_drop();

        if (rc != NGX_OK) {
            ngx_http_ds_redis_sentinel_ask();
            return;
        }

        /* ask this one first next time: it answered */
        s->next--;
        s->active = 0;
        handler = s->handler;
        handler(&s->primary.sockaddr, s->primary_len);
        return;
    }

    /* an error before the command went out: the connect failed */
    what = (s->out_pos < s->out_len) ? "cannot connect to" : "no answer from";

    ngx_http_ds_redis_sentinel_drop();
    ngx_http_ds_redis_sentinel_fail(what, n == NGX_ERROR ? ngx_socket_errno
                                                         : 0);
    ngx_http_ds_redis_sentinel_ask();
}


/* an array of the primary's IP and port; nil: no such master */
static ngx_int_t
ngx_http_ds_redis_sentinel_answer(redisReply *rep)
{
    u_char                         *p;
    ngx_int_t                       port;
    ngx_addr_t                      addr;
    ngx_http_ds_redis_sentinel_t   *s = &ngx_http_ds_redis_sentinel;
    ngx_http_ds_redis_main_conf_t  *rmcf = s->conf;
    u_char                          text[NGX_SOCKADDR_STRLEN];
    size_t                          len;
    ngx_pool_t                     *pool;

    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2
        || rep->element[0]->type != REDIS_REPLY_STRING
        || rep->element[1]->type != REDIS_REPLY_STRING
        || rep->element[0]->len == 0
        || rep->element[0]->len > NGX_INET6_ADDRSTRLEN)
    {
        if (ngx_http_ds_redis_sentinel_log()) {
            if (rep->type == REDIS_REPLY_ERROR) {
                ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                              "ds_redis: sentinel %V refused: %*s",
                              &s->current->name, (size_t) rep->len,
                              rep->str);

            } else {
                ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                              "ds_redis: sentinel %V knows no master "
                              "\"%V\" (reply type %d)", &s->current->name,
                              &rmcf->sentinel_master, rep->type);
            }
        }

        return NGX_ERROR;
    }

    port = ngx_atoi((u_char *) rep->element[1]->str,
                    rep->element[1]->len);
    if (port < 1 || port > 65535) {
        return NGX_ERROR;
    }

    /* IPv6 in brackets, so that ngx_parse_addr_port() finds the port */
    p = text;
    if (ngx_strlchr((u_char *) rep->element[0]->str,
                    (u_char *) rep->element[0]->str + rep->element[0]->len,
                    ':'))
    {
        p = ngx_sprintf(p, "[%*s]:%i", rep->element[0]->len,
                        rep->element[0]->str, port);
    } else {
        p = ngx_sprintf(p, "%*s:%i", rep->element[0]->len,
                        rep->element[0]->str, port);
    }

    len = p - text;

    pool = ngx_create_pool(512, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    /* an address literal only: no lookup */
    if (ngx_parse_addr_port(pool, &addr, text, len) != NGX_OK
        || addr.socklen > sizeof(ngx_sockaddr_t))
    {
        ngx_destroy_pool(pool);
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "ds_redis: sentinel %V answered a bad address "
                      "\"%*s\"", &s->current->name, len, text);
        return NGX_ERROR;
    }

    ngx_memcpy(&s->primary, addr.sockaddr, addr.socklen);
    s->primary_len = addr.socklen;
    ngx_destroy_pool(pool);

    if (len != s->text_len || ngx_memcmp(text, s->text, len) != 0) {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "ds_redis: sentinel %V: primary of \"%V\" is %*s%s%*s",
                      &s->current->name, &rmcf->sentinel_master, len, text,
                      s->text_len ? ", was " : "", s->text_len, s->text);

        ngx_memcpy(s->text, text, len);
        s->text_len = len;

        /* conn.c's messages name the primary (this worker's copy) */
        rmcf->addr.data = s->text;
        rmcf->addr.len = s->text_len;
    }

    return NGX_OK;
}


static void
ngx_http_ds_redis_sentinel_timeout(ngx_event_t *ev)
{
    ngx_http_ds_redis_sentinel_t  *s = ev->data;

    if (s->c == NULL) {
        return;
    }

    ngx_http_ds_redis_sentinel_drop();
    ngx_http_ds_redis_sentinel_fail("timed out asking", 0);
    ngx_http_ds_redis_sentinel_ask();
}


static void
ngx_http_ds_redis_sentinel_fail(const char *what, ngx_err_t err)
{
    ngx_http_ds_redis_sentinel_t  *s = &ngx_http_ds_redis_sentinel;

    if (ngx_http_ds_redis_sentinel_log()) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, err,
                      "ds_redis: %s sentinel %V", what, &s->current->name);
    }
}


/* close the sentinel connection, if any; a half reply goes with it */
static void
ngx_http_ds_redis_sentinel_drop(void)
{
    ngx_http_ds_redis_sentinel_t  *s = &ngx_http_ds_redis_sentinel;

    if (s->timer.timer_set) {
        ngx_del_timer(&s->timer);
    }

    if (s->c) {
        ngx_close_connection(s->c);
        s->c = NULL;
    }

    if (s->reader) {
        redisReaderFree(s->reader);
        s->reader = NULL;
    }
}


/*
 * Every reconnection asks the sentinels, every 10 ms early in an outage
 * (conn.c): the failures of the first failing round are logged (each
 * sentinel's), then one round's every 10 s.
 */
static ngx_uint_t
ngx_http_ds_redis_sentinel_log(void)
{
    ngx_http_ds_redis_sentinel_t  *s = &ngx_http_ds_redis_sentinel;

    if (s->log_round) {
        return s->log_round == 1;
    }

    s->log_round = 2;

    if (s->last_logged == 0
        || ngx_current_msec - s->last_logged
           >= NGX_HTTP_DS_SENTINEL_LOG_EVERY)
    {
        s->last_logged = ngx_current_msec;
        s->log_round = 1;
        return 1;
    }

    return 0;
}
