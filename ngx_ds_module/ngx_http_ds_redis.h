/*
 * ngx_http_ds_redis_module internals shared by its files:
 * ngx_http_ds_redis_module.c (directives, variable, lifecycle),
 * ngx_http_ds_redis_check.c (the request side) and
 * ngx_http_ds_redis_conn.c (the per-worker connection: an nginx peer
 * connection, nginx timers, hiredis' reply reader) and
 * ngx_http_ds_redis_tls.c (nginx's TLS on that connection) and
 * ngx_http_ds_redis_resolve.c (host names through nginx's resolver),
 * ngx_http_ds_redis_sentinel.c (the primary's address from sentinels),
 * ngx_http_ds_redis_sentinel_watch.c (their +switch-master) and
 * ngx_http_ds_redis_lease.c (lease mode's per-worker table).
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


/* one address of sentinel=: a literal (sockaddr set) or a host name */
typedef struct {
    ngx_addr_t      addr;               /* name: as written */
    ngx_str_t       host;               /* NUL-terminated, or empty */
    ngx_uint_t      port;
} ngx_http_ds_redis_sentinel_addr_t;


typedef struct {
    ngx_flag_t      enabled;            /* ds_redis is configured */
    ngx_str_t       addr;               /* as written, for messages */
    struct sockaddr *sockaddr;          /* IP literal or unix path */
    socklen_t       socklen;
    ngx_str_t       host_name;          /* else: a name to resolve */
    ngx_uint_t      port;               /* ... and its port */
    ngx_resolver_t *resolver;           /* the http-level resolver */
    ngx_array_t    *sentinels;          /* sentinel=: of ..._sentinel_t */
    ngx_str_t       sentinel_master;    /* master=NAME */
    ngx_flag_t      sentinel_names;     /* a sentinel is a host name */
    ngx_str_t       sentinel_username;  /* sentinel_username= */
    ngx_str_t       sentinel_password;  /* sentinel_password_file= */
    ngx_flag_t      sentinel_tls;       /* sentinel_tls: tls's settings */
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
    ngx_flag_t      lease;              /* ds_redis_lease */
    ngx_msec_t      lease_max_age;
    ngx_uint_t      lease_max_cells;
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
ngx_int_t ngx_http_ds_redis_tls_check(ngx_connection_t *c, ngx_str_t *name,
    ngx_str_t *who);
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
ngx_uint_t ngx_http_ds_redis_sentinel_is_primary(u_char *text, size_t len);
size_t ngx_http_ds_redis_sentinel_auth_cmd(ngx_http_ds_redis_main_conf_t *rmcf,
    u_char *out, size_t size);

/* ngx_http_ds_redis_sentinel_watch.c: +switch-master from a sentinel */
void ngx_http_ds_redis_sentinel_watch(ngx_http_ds_redis_main_conf_t *rmcf,
    ngx_http_ds_redis_sentinel_addr_t *a, struct sockaddr *sa,
    socklen_t len);
void ngx_http_ds_redis_sentinel_watch_cancel(void);
void ngx_http_ds_redis_conn_switch(void);

/* ngx_http_ds_redis_conn.c: for every peer connection of the module */
ngx_err_t ngx_http_ds_redis_connect_error(ngx_connection_t *c);
ngx_int_t ngx_http_ds_redis_send_out(ngx_connection_t *c, u_char *out,
    size_t *pos, size_t len);

/* the TLS handshake of c is over: ok, or refused (slow backoff) */
void ngx_http_ds_redis_conn_ready(ngx_connection_t *c, ngx_int_t ok);

/* feedback from replies: a good reply resets backoff, timeouts add up */
void ngx_http_ds_redis_conn_healthy(void);
void ngx_http_ds_redis_conn_timed_out(void);


/* ngx_http_ds_redis_lease.c: lease mode, docs/redis.md "Lease mode" */
typedef struct {
    ds_gcra_result_t  res;              /* NGX_OK: the lease's answer */
    uint32_t          cells;            /* NGX_DECLINED: cells to ask */
    uint32_t          refresh;          /* > 0: send a refresh for it */
    ngx_uint_t        lease_call;       /* the request's call leases */
} ngx_http_ds_redis_lease_ask_t;

char *ngx_http_ds_redis_lease(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_ds_redis_lease_take(ngx_http_ds_redis_main_conf_t *rmcf,
    ds_gcra_params_t *p, u_char *key, size_t key_len, const char *tid,
    ngx_http_ds_redis_lease_ask_t *ask);
void ngx_http_ds_redis_lease_answer(ngx_http_ds_redis_main_conf_t *rmcf,
    ds_gcra_params_t *p, u_char *key, size_t key_len, const char *tid,
    ngx_msec_t sent, ngx_uint_t lease_call, ds_gcra_result_t *res,
    int64_t granted, int64_t used);
void ngx_http_ds_redis_lease_exit(void);


#endif /* _NGX_HTTP_DS_REDIS_H_INCLUDED_ */
