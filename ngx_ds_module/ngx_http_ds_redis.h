/*
 * ngx_http_ds_redis_module internals shared by its files:
 * ngx_http_ds_redis_module.c (directives, variable, lifecycle),
 * ngx_http_ds_redis_check.c (the request side) and
 * ngx_http_ds_redis_conn.c (the per-worker connection: an nginx peer
 * connection, nginx timers, hiredis' reply reader) and
 * ngx_http_ds_redis_tls.c (nginx's TLS on that connection) and
 * ngx_http_ds_redis_resolve.c (host names through nginx's resolver).
 */

#ifndef _NGX_HTTP_DS_REDIS_H_INCLUDED_
#define _NGX_HTTP_DS_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>

#include "ds_gcra.h"


#define NGX_HTTP_DS_REDIS_OPEN    0
#define NGX_HTTP_DS_REDIS_CLOSED  1


typedef struct {
    ngx_uint_t      failure_mode;       /* ds_redis_failure_mode */
    ngx_flag_t      rate_limit;
} ngx_http_ds_redis_loc_conf_t;


typedef struct {
    ngx_flag_t      enabled;            /* ds_redis is configured */
    ngx_str_t       addr;               /* as written, for messages */
    struct sockaddr *sockaddr;          /* IP literal or unix path */
    socklen_t       socklen;
    ngx_str_t       host_name;          /* else: a name to resolve */
    ngx_uint_t      port;               /* ... and its port */
    ngx_resolver_t *resolver;           /* the http-level resolver */
    ngx_array_t    *sentinels;          /* sentinel=: of ngx_addr_t */
    ngx_str_t       sentinel_master;    /* master=NAME */
    ngx_flag_t      tls;                /* ds_redis ... tls */
    ngx_flag_t      tls_verify;         /* verify=, on by default */
    ngx_str_t       tls_ca;             /* ca=, cert=, key=: file names */
    ngx_str_t       tls_cert;
    ngx_str_t       tls_key;
    ngx_str_t       tls_server_name;    /* SNI and the name checked */
#if (NGX_SSL)
    ngx_ssl_t      *ssl;
#endif
    ngx_str_t       username;           /* empty: AUTH password only */
    ngx_str_t       password;           /* empty: no AUTH */
    ngx_int_t       db;
    ngx_str_t       prefix;             /* NUL-terminated */
    ngx_msec_t      connect_timeout;
    ngx_msec_t      command_timeout;
    u_char          sha1[DS_GCRA_SHA1_LEN + 1];
} ngx_http_ds_redis_main_conf_t;


/*
 * A reply, or NULL when the connection went away first; the reply is
 * freed after the call returns.
 */
typedef void (*ngx_http_ds_redis_reply_pt)(redisReply *reply, void *data);


/* the worker's connection; conf is what it was configured with */
ngx_int_t ngx_http_ds_redis_conn_init(ngx_cycle_t *cycle,
    ngx_http_ds_redis_main_conf_t *rmcf);
void ngx_http_ds_redis_conn_exit(void);

/*
 * Queue one command (pipelined behind the others). NGX_OK: fn will be
 * called exactly once, with NULL if the connection goes away first.
 * NGX_DECLINED: Redis is unavailable now (reconnecting, backing off).
 */
ngx_int_t ngx_http_ds_redis_conn_send(ngx_http_ds_redis_reply_pt fn,
    void *data, int argc, const char **argv, const size_t *argvlen);

/*
 * A NOSCRIPT reply: the script cache was flushed under a live
 * connection. Queues one SCRIPT LOAD unless one is already on the wire;
 * an EVALSHA queued after this call finds the script. NGX_DECLINED: no
 * connection to queue it on.
 */
ngx_int_t ngx_http_ds_redis_conn_reload_script(void);

/* ngx_http_ds_redis_tls.c: configuration, then per connection */
ngx_int_t ngx_http_ds_redis_tls_param(ngx_conf_t *cf,
    ngx_http_ds_redis_main_conf_t *rmcf, ngx_str_t *value);
char *ngx_http_ds_redis_tls_init(ngx_conf_t *cf,
    ngx_http_ds_redis_main_conf_t *rmcf);
#if (NGX_SSL)
void ngx_http_ds_redis_tls_start(ngx_connection_t *c,
    ngx_http_ds_redis_main_conf_t *rmcf);
void ngx_http_ds_redis_tls_close(ngx_connection_t *c);
#endif

/* ngx_http_ds_redis_resolve.c: host names through nginx's resolver */
typedef void (*ngx_http_ds_redis_resolved_pt)(struct sockaddr *sockaddr,
    socklen_t socklen);

char *ngx_http_ds_redis_resolve_init(ngx_conf_t *cf,
    ngx_http_ds_redis_main_conf_t *rmcf);
ngx_int_t ngx_http_ds_redis_resolve(ngx_http_ds_redis_main_conf_t *rmcf,
    ngx_http_ds_redis_resolved_pt handler);
void ngx_http_ds_redis_resolve_cancel(void);

/* ngx_http_ds_redis_sentinel.c: the primary's address, from sentinels */
ngx_int_t ngx_http_ds_redis_sentinel_discover(
    ngx_http_ds_redis_main_conf_t *rmcf,
    ngx_http_ds_redis_resolved_pt handler);
void ngx_http_ds_redis_sentinel_cancel(void);

/* the TLS handshake of c is over: ok, or refused (slow backoff) */
void ngx_http_ds_redis_conn_ready(ngx_connection_t *c, ngx_int_t ok);

/* feedback from replies: a good reply resets backoff, timeouts add up */
void ngx_http_ds_redis_conn_healthy(void);
void ngx_http_ds_redis_conn_timed_out(void);


#endif /* _NGX_HTTP_DS_REDIS_H_INCLUDED_ */
