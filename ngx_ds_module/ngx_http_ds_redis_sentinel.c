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
 *
 * A sentinel written as HOST:PORT is resolved through nginx's resolver
 * when its turn comes (cached by nginx for the answer's TTL). With
 * sentinel_password_file= the question goes out pipelined behind an
 * AUTH [sentinel_username] PASSWORD, whose +OK is checked first. With
 * sentinel_tls the exchange runs over nginx's TLS with the ssl context
 * of tls (ca=, cert=, key=, verify=); the certificate is checked
 * against the sentinel's host name, or its IP address.
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
/* AUTH: a 256-byte user, a 4096-byte password; the question */
#define NGX_HTTP_DS_SENTINEL_OUT        8192


typedef struct {
    ngx_http_ds_redis_main_conf_t  *conf;
    ngx_http_ds_redis_resolved_pt   handler;
    ngx_peer_connection_t           pc;
    ngx_connection_t               *c;
    redisReader                    *reader;
    ngx_http_ds_redis_sentinel_addr_t  *current;  /* being asked */
    ngx_resolver_ctx_t             *rctx;         /* resolving current */
    ngx_uint_t                      next_addr;    /* of a name's answer */
    ngx_sockaddr_t                  peer;         /* current, resolved */
    struct sockaddr                *current_sa;   /* current's address */
    socklen_t                       current_len;
    ngx_uint_t                      next;         /* index to ask next */
    ngx_uint_t                      tried;        /* in this round */
    ngx_event_t                     timer;
    ngx_log_t                       quiet_log;
    ngx_msec_t                      last_logged;
    ngx_uint_t                      log_round;    /* 0: undecided */

    u_char                          out[NGX_HTTP_DS_SENTINEL_OUT];
    size_t                          out_pos;
    size_t                          out_len;

    ngx_sockaddr_t                  primary;
    socklen_t                       primary_len;
    u_char                          text[NGX_SOCKADDR_STRLEN];
    size_t                          text_len;
    unsigned                        active:1;
    unsigned                        connected:1;  /* TCP (and TLS) up */
    unsigned                        auth:1;       /* AUTH reply due */
} ngx_http_ds_redis_sentinel_t;


static void ngx_http_ds_redis_sentinel_ask(void);
static ngx_int_t ngx_http_ds_redis_sentinel_connect(struct sockaddr *sa,
    socklen_t len);
static void ngx_http_ds_redis_sentinel_resolved(ngx_resolver_ctx_t *ctx);
static ngx_int_t ngx_http_ds_redis_sentinel_auth(redisReply *rep);
#if (NGX_SSL)
static void ngx_http_ds_redis_sentinel_tls(ngx_connection_t *c);
static void ngx_http_ds_redis_sentinel_handshake(ngx_connection_t *c);
#endif
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
    ngx_resolver_ctx_t                 *ctx;
    ngx_http_ds_redis_resolved_pt       handler;
    ngx_http_ds_redis_sentinel_addr_t  *a;
    ngx_http_ds_redis_sentinel_t       *s = &ngx_http_ds_redis_sentinel;
    ngx_http_ds_redis_main_conf_t      *rmcf = s->conf;

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

        if (a->host.len == 0) {
            if (ngx_http_ds_redis_sentinel_connect(a->addr.sockaddr,
                                                   a->addr.socklen)
                == NGX_OK)
            {
                return;
            }

            continue;
        }

        /* a name: nginx's resolver, bounded as the connect is */
        ctx = ngx_resolve_start(rmcf->resolver, NULL);
        if (ctx == NULL || ctx == NGX_NO_RESOLVER) {
            ngx_http_ds_redis_sentinel_fail("cannot resolve", 0);
            continue;
        }

        ctx->name = a->host;
        ctx->handler = ngx_http_ds_redis_sentinel_resolved;
        ctx->data = s;
        ctx->timeout = rmcf->connect_timeout;
        ctx->cancelable = 1;

        s->rctx = ctx;

        /* a cached answer calls the handler before this returns */
        if (ngx_resolve_name(ctx) != NGX_OK) {
            s->rctx = NULL;     /* nginx freed ctx */
            ngx_http_ds_redis_sentinel_fail("cannot resolve", 0);
            continue;
        }

        return;
    }
}


static void
ngx_http_ds_redis_sentinel_resolved(ngx_resolver_ctx_t *ctx)
{
    socklen_t                      len;
    ngx_uint_t                     i;
    ngx_http_ds_redis_sentinel_t  *s = ctx->data;

    s->rctx = NULL;

    if (ctx->state || ctx->naddrs == 0) {
        if (ngx_http_ds_redis_sentinel_log()) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "ds_redis: cannot resolve sentinel %V: %s",
                          &s->current->addr.name,
                          ctx->state ? ngx_resolver_strerror(ctx->state)
                                     : "no address");
        }

        ngx_resolve_name_done(ctx);
        ngx_http_ds_redis_sentinel_ask();
        return;
    }

    i = s->next_addr++ % ctx->naddrs;
    len = ctx->addrs[i].socklen;

    /* ctx and its addresses go away with name_done: keep a copy */
    ngx_memcpy(&s->peer, ctx->addrs[i].sockaddr, len);
    ngx_inet_set_port(&s->peer.sockaddr, (in_port_t) s->current->port);

    ngx_resolve_name_done(ctx);

    if (ngx_http_ds_redis_sentinel_connect(&s->peer.sockaddr, len)
        != NGX_OK)
    {
        ngx_http_ds_redis_sentinel_ask();
    }
}


/* NGX_OK: the exchange is under way; NGX_ERROR: said, ask the next */
static ngx_int_t
ngx_http_ds_redis_sentinel_connect(struct sockaddr *sa, socklen_t len)
{
    size_t                          n;
    ngx_int_t                       rc;
    ngx_err_t                       err;
    const char                     *argv[3];
    size_t                          argvlen[3];
    ngx_connection_t               *c;
    ngx_peer_connection_t          *pc;
    ngx_http_ds_redis_sentinel_t   *s = &ngx_http_ds_redis_sentinel;
    ngx_http_ds_redis_main_conf_t  *rmcf = s->conf;

    if (s->reader == NULL) {
        s->reader = redisReaderCreate();
        if (s->reader == NULL) {
            return NGX_ERROR;
        }
    }

    s->current_sa = sa;
    s->current_len = len;

    pc = &s->pc;
    ngx_memzero(pc, sizeof(ngx_peer_connection_t));

    pc->sockaddr = sa;
    pc->socklen = len;
    pc->name = &s->current->addr.name;
    pc->get = ngx_event_get_peer;
    pc->log = &s->quiet_log;
    pc->log_error = NGX_ERROR_ERR;
    pc->tries = 1;

    rc = ngx_event_connect_peer(pc);
    err = ngx_socket_errno;

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        pc->connection = NULL;
        ngx_http_ds_redis_sentinel_fail("cannot connect to", err);
        return NGX_ERROR;
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

    /* TLS keeps its per-connection state in the connection's pool */
    if (rmcf->sentinel_tls) {
        c->pool = ngx_create_pool(1024, ngx_cycle->log);
        if (c->pool == NULL) {
            ngx_http_ds_redis_sentinel_drop();
            return NGX_ERROR;
        }
    }
    s->connected = 0;
    s->out_pos = 0;
    s->out_len = 0;
    s->auth = 0;

    s->out_len = ngx_http_ds_redis_sentinel_auth_cmd(rmcf, s->out,
                                                 sizeof(s->out));
    s->auth = (s->out_len != 0);

    argv[0] = "SENTINEL";
    argvlen[0] = sizeof("SENTINEL") - 1;
    argv[1] = "get-master-addr-by-name";
    argvlen[1] = sizeof("get-master-addr-by-name") - 1;
    argv[2] = (const char *) rmcf->sentinel_master.data;
    argvlen[2] = rmcf->sentinel_master.len;

    /* master= <= 256, user <= 256, password <= 4096 bytes: it fits */
    n = ds_resp_command((char *) s->out + s->out_len,
                        sizeof(s->out) - s->out_len, 3, argv, argvlen);
    s->out_len += n;

    ngx_add_timer(&s->timer, rmcf->connect_timeout);

    if (rc == NGX_OK) {
        ngx_http_ds_redis_sentinel_write(c->write);
    }

    return NGX_OK;
}


static void
ngx_http_ds_redis_sentinel_write(ngx_event_t *wev)
{
    int                            err;
    ngx_int_t                      rc;
    ngx_connection_t              *c = wev->data;
    ngx_http_ds_redis_sentinel_t  *s = c->data;

    if (s->c != c || s->out_pos == s->out_len) {
        return;
    }

    if (!s->connected) {
        err = ngx_http_ds_redis_connect_error(c);

        if (err) {
            ngx_http_ds_redis_sentinel_drop();
            ngx_http_ds_redis_sentinel_fail("cannot connect to", err);
            ngx_http_ds_redis_sentinel_ask();
            return;
        }

#if (NGX_SSL)
        if (s->conf->sentinel_tls) {
            /* the handshake comes back to this handler when done */
            ngx_http_ds_redis_sentinel_tls(c);
            return;
        }
#endif

        s->connected = 1;
    }

    rc = ngx_http_ds_redis_send_out(c, s->out, &s->out_pos, s->out_len);

    if (rc == NGX_AGAIN) {
        return;
    }

    if (rc == NGX_ERROR) {
        ngx_http_ds_redis_sentinel_drop();
        ngx_http_ds_redis_sentinel_fail("cannot write to", 0);
        ngx_http_ds_redis_sentinel_ask();
        return;
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

        if (reply && s->auth) {
            s->auth = 0;
            rc = ngx_http_ds_redis_sentinel_auth(reply);
            freeReplyObject(reply);

            if (rc != NGX_OK) {
                ngx_http_ds_redis_sentinel_drop();
                ngx_http_ds_redis_sentinel_ask();
                return;
            }

            /* the answer may have come in the same read */
            if (redisReaderGetReply(s->reader, &reply) != REDIS_OK) {
                break;
            }
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

        /* ask this one first next time: it answered; and listen to it */
        s->next--;
        s->active = 0;
        ngx_http_ds_redis_sentinel_watch(s->conf, s->current, s->current_sa,
                                         s->current_len);
        handler = s->handler;
        handler(&s->primary.sockaddr, s->primary_len);
        return;
    }

    /* an error before the command went out: the connect failed */
    what = (s->out_pos < s->out_len && !s->connected) ? "cannot connect to"
                                                      : "no answer from";

    ngx_http_ds_redis_sentinel_drop();
    ngx_http_ds_redis_sentinel_fail(what, n == NGX_ERROR ? ngx_socket_errno
                                                         : 0);
    ngx_http_ds_redis_sentinel_ask();
}


/* the primary the last discovery named is text ("IP:PORT", "[IP6]:PORT") */
ngx_uint_t
ngx_http_ds_redis_sentinel_is_primary(u_char *text, size_t len)
{
    ngx_http_ds_redis_sentinel_t  *s = &ngx_http_ds_redis_sentinel;

    return len == s->text_len && ngx_memcmp(text, s->text, len) == 0;
}


/* the reply to AUTH: +OK, else a wrong password or user (said why) */
static ngx_int_t
ngx_http_ds_redis_sentinel_auth(redisReply *rep)
{
    ngx_http_ds_redis_sentinel_t  *s = &ngx_http_ds_redis_sentinel;

    if (rep->type == REDIS_REPLY_STATUS && rep->len == 2
        && ngx_strncmp(rep->str, "OK", 2) == 0)
    {
        return NGX_OK;
    }

    if (ngx_http_ds_redis_sentinel_log()) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "ds_redis: sentinel %V refused AUTH: %*s",
                      &s->current->addr.name,
                      rep->type == REDIS_REPLY_ERROR ? (size_t) rep->len : 0,
                      rep->str);
    }

    return NGX_ERROR;
}


#if (NGX_SSL)

static void
ngx_http_ds_redis_sentinel_tls(ngx_connection_t *c)
{
    ngx_int_t                           rc;
    ngx_http_ds_redis_sentinel_t       *s = c->data;
    ngx_http_ds_redis_sentinel_addr_t  *a = s->current;

    c->write->handler = ngx_http_ds_redis_sentinel_write;

    /*
     * nginx's TLS errors and the certificate check log on c->log: quiet
     * unless this round logs (a wrong CA fails every round, every 10 ms
     * early in an outage)
     */
    if (!ngx_http_ds_redis_sentinel_log()) {
        c->log = &s->quiet_log;
        c->read->log = c->log;
        c->write->log = c->log;
    }

    if (ngx_ssl_create_connection(s->conf->ssl, c, NGX_SSL_CLIENT)
        != NGX_OK)
    {
        goto failed;
    }

    /* host.data is NUL-terminated */
    if (a->host.len
        && SSL_set_tlsext_host_name(c->ssl->connection,
                                    (char *) a->host.data)
           == 0)
    {
        goto failed;
    }

    rc = ngx_ssl_handshake(c);

    if (rc == NGX_AGAIN) {
        c->ssl->handler = ngx_http_ds_redis_sentinel_handshake;
        return;
    }

    ngx_http_ds_redis_sentinel_handshake(c);
    return;

failed:

    ngx_http_ds_redis_sentinel_drop();
    ngx_http_ds_redis_sentinel_fail("cannot start TLS with", 0);
    ngx_http_ds_redis_sentinel_ask();
}


static void
ngx_http_ds_redis_sentinel_handshake(ngx_connection_t *c)
{
    ngx_http_ds_redis_sentinel_t  *s = c->data;

    if (s->c != c) {
        return;
    }

    /* a refused certificate is said once per round, as the others */
    if (!c->ssl->handshaked) {
        ngx_http_ds_redis_sentinel_drop();
        ngx_http_ds_redis_sentinel_fail("TLS handshake failed with", 0);
        ngx_http_ds_redis_sentinel_ask();
        return;
    }

    if (s->conf->tls_verify
        && ngx_http_ds_redis_tls_check(c, &s->current->host,
                                       &s->current->addr.name)
           != NGX_OK)
    {
        ngx_http_ds_redis_sentinel_drop();
        ngx_http_ds_redis_sentinel_ask();
        return;
    }

    s->connected = 1;
    c->read->handler = ngx_http_ds_redis_sentinel_read;
    c->write->handler = ngx_http_ds_redis_sentinel_write;

    ngx_http_ds_redis_sentinel_write(c->write);
}

#endif


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
                              &s->current->addr.name, (size_t) rep->len,
                              rep->str);

            } else {
                ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                              "ds_redis: sentinel %V knows no master "
                              "\"%V\" (reply type %d)", &s->current->addr.name,
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
                      "\"%*s\"", &s->current->addr.name, len, text);
        return NGX_ERROR;
    }

    ngx_memcpy(&s->primary, addr.sockaddr, addr.socklen);
    s->primary_len = addr.socklen;
    ngx_destroy_pool(pool);

    if (len != s->text_len || ngx_memcmp(text, s->text, len) != 0) {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "ds_redis: sentinel %V: primary of \"%V\" is %*s%s%*s",
                      &s->current->addr.name, &rmcf->sentinel_master, len, text,
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
                      "ds_redis: %s sentinel %V", what, &s->current->addr.name);
    }
}


/* close the sentinel connection, if any; a half reply goes with it */
static void
ngx_http_ds_redis_sentinel_drop(void)
{
    ngx_pool_t                    *pool;
    ngx_http_ds_redis_sentinel_t  *s = &ngx_http_ds_redis_sentinel;

    if (s->timer.timer_set) {
        ngx_del_timer(&s->timer);
    }

    if (s->rctx) {
        ngx_resolve_name_done(s->rctx);
        s->rctx = NULL;
    }

    if (s->c) {
        pool = s->c->pool;
#if (NGX_SSL)
        ngx_http_ds_redis_tls_close(s->c);
#endif
        ngx_close_connection(s->c);
        s->c = NULL;

        if (pool) {
            ngx_destroy_pool(pool);
        }
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


/*
 * "AUTH [user] password" for a sentinel, RESP-formatted into out; 0 when
 * the sentinels take no password. The password never reaches a log:
 * only a reply's text does.
 */
size_t
ngx_http_ds_redis_sentinel_auth_cmd(ngx_http_ds_redis_main_conf_t *rmcf,
    u_char *out, size_t size)
{
    int          argc;
    size_t       argvlen[3];
    const char  *argv[3];

    if (rmcf->sentinel_password.len == 0) {
        return 0;
    }

    argc = 0;
    argv[argc] = "AUTH";
    argvlen[argc++] = sizeof("AUTH") - 1;

    if (rmcf->sentinel_username.len) {
        argv[argc] = (const char *) rmcf->sentinel_username.data;
        argvlen[argc++] = rmcf->sentinel_username.len;
    }

    argv[argc] = (const char *) rmcf->sentinel_password.data;
    argvlen[argc++] = rmcf->sentinel_password.len;

    return ds_resp_command((char *) out, size, argc, argv, argvlen);
}
