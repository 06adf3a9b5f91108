/*
 * ngx_http_ds_redis_module: fleet-wide rate limits and live revocation
 * through Redis, one round trip per request, without blocking a worker.
 * This file holds the directives, $ds_ratelimit and the worker
 * lifecycle; the request side is ngx_http_ds_redis_check.c, the
 * connection ngx_http_ds_redis_conn.c.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds.h"
#include "ngx_http_ds_redis.h"


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
static ngx_uint_t ngx_http_ds_redis_host_name(u_char *p, size_t len);
static char *ngx_http_ds_redis_parse_sentinels(ngx_conf_t *cf,
    ngx_http_ds_redis_main_conf_t *rmcf, ngx_str_t *list);
static char *ngx_http_ds_redis_read_password(ngx_conf_t *cf,
    ngx_str_t *dst, ngx_str_t *path);
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

    { ngx_string("ds_redis_lease"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_ds_redis_lease,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
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
    rmcf->lease = NGX_CONF_UNSET;

    return rmcf;
}


static char *
ngx_http_ds_redis_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_ds_redis_main_conf_t  *rmcf = conf;

    ngx_conf_init_value(rmcf->enabled, 0);
    ngx_conf_init_msec_value(rmcf->connect_timeout, 1000);
    ngx_conf_init_msec_value(rmcf->command_timeout, 200);
    /* off: leases trade "from the next request" for "within max_age" */
    ngx_conf_init_value(rmcf->lease, 0);

    if (rmcf->lease_max_age == 0) {
        rmcf->lease_max_age = 500;
    }

    if (rmcf->lease_max_cells == 0) {
        rmcf->lease_max_cells = 64;
    }

    if (!rmcf->enabled) {
        return NGX_CONF_OK;
    }

    /* here: the resolver directive may come after ds_redis */
    if (ngx_http_ds_redis_resolve_init(cf, rmcf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
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


/*
 * ds_redis ADDRESS [username=NAME] [password_file=PATH] [db=N]
 *          [prefix=ds:] [tls ca=FILE [cert=FILE key=FILE]
 *          [server_name=NAME] [verify=on|off]]
 */
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

    if (ngx_strncmp(value[1].data, "sentinel=", 9) == 0) {
        rv = ngx_http_ds_redis_parse_sentinels(cf, rmcf, &value[1]);

    } else {
        rv = ngx_http_ds_redis_parse_addr(cf, rmcf, &value[1]);
    }

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    ngx_str_set(&rmcf->prefix, "ds:");
    rmcf->tls_verify = NGX_CONF_UNSET;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "password_file=", 14) == 0) {
            s.data = value[i].data + 14;
            s.len = value[i].len - 14;

            rv = ngx_http_ds_redis_read_password(cf, &rmcf->password, &s);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "sentinel_password_file=", 23) == 0)
        {
            s.data = value[i].data + 23;
            s.len = value[i].len - 23;

            rv = ngx_http_ds_redis_read_password(cf,
                                                 &rmcf->sentinel_password,
                                                 &s);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        if (value[i].len == 12
            && ngx_strncmp(value[i].data, "sentinel_tls", 12) == 0)
        {
            rmcf->sentinel_tls = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "sentinel_username=", 18) == 0) {
            s.data = value[i].data + 18;
            s.len = value[i].len - 18;

            if (s.len == 0 || s.len > 256) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "ds_redis: sentinel_username= takes 1 "
                                   "to 256 bytes");
                return NGX_CONF_ERROR;
            }

            rmcf->sentinel_username = s;
            continue;
        }

        if (ngx_strncmp(value[i].data, "master=", 7) == 0) {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            if (s.len == 0 || s.len > 256) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "ds_redis: master= takes 1 to 256 "
                                   "bytes");
                return NGX_CONF_ERROR;
            }

            rmcf->sentinel_master = s;
            continue;
        }

        if (ngx_strncmp(value[i].data, "username=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            /* sent as one RESP bulk string: any byte but none is fine */
            if (s.len == 0 || s.len > 256) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "ds_redis: username= takes 1 to 256 "
                                   "bytes");
                return NGX_CONF_ERROR;
            }

            rmcf->username = s;
            continue;
        }

        switch (ngx_http_ds_redis_tls_param(cf, rmcf, &value[i])) {
        case NGX_OK:
            continue;
        case NGX_DECLINED:
            break;
        default:
            return NGX_CONF_ERROR;
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

    if (rmcf->sentinels && rmcf->sentinel_master.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_redis: sentinel= needs master=NAME");
        return NGX_CONF_ERROR;
    }

    if (rmcf->sentinels == NULL && rmcf->sentinel_master.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_redis: master= goes with sentinel=");
        return NGX_CONF_ERROR;
    }

    if (rmcf->sentinels == NULL
        && (rmcf->sentinel_username.len || rmcf->sentinel_password.len
            || rmcf->sentinel_tls))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_redis: sentinel_username=, "
                           "sentinel_password_file= and sentinel_tls go "
                           "with sentinel=");
        return NGX_CONF_ERROR;
    }

    if (rmcf->sentinel_username.len && rmcf->sentinel_password.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_redis: sentinel_username=%V needs "
                           "sentinel_password_file=",
                           &rmcf->sentinel_username);
        return NGX_CONF_ERROR;
    }

    /* one CA, one client certificate: the tls settings serve both */
    if (rmcf->sentinel_tls && !rmcf->tls) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_redis: sentinel_tls needs \"tls\" (the "
                           "sentinels are reached with its ca=, cert=, "
                           "key= and verify=)");
        return NGX_CONF_ERROR;
    }

    /* an ACL user without its password would log in as "default" */
    if (rmcf->username.len && rmcf->password.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_redis: username=%V needs password_file=",
                           &rmcf->username);
        return NGX_CONF_ERROR;
    }

    rv = ngx_http_ds_redis_tls_init(cf, rmcf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    rmcf->enabled = 1;

    return NGX_CONF_OK;
}


/*
 * IP:PORT, [IPv6]:PORT or unix:/path, turned into a sockaddr once for
 * the connection's ngx_event_connect_peer(); or HOST:PORT, resolved by
 * nginx's resolver at each connection (ngx_http_ds_redis_resolve.c).
 */
static char *
ngx_http_ds_redis_parse_addr(ngx_conf_t *cf,
    ngx_http_ds_redis_main_conf_t *rmcf, ngx_str_t *addr)
{
    u_char              *colon, *host;
    size_t               host_len;
    ngx_int_t            port;
    ngx_addr_t           peer;
    struct sockaddr_un  *sun;
#if (NGX_HAVE_INET6)
    u_char      buf[16];
#endif

    rmcf->addr = *addr;

    if (addr->len > 5 && ngx_strncmp(addr->data, "unix:", 5) == 0) {
        host = addr->data + 5;
        host_len = addr->len - 5;

        if (host[0] != '/') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ds_redis: unix socket path \"%s\" must be "
                               "absolute", host);
            return NGX_CONF_ERROR;
        }

        if (host_len >= sizeof(((struct sockaddr_un *) 0)->sun_path)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ds_redis: unix socket path \"%s\" is too "
                               "long", host);
            return NGX_CONF_ERROR;
        }

        sun = ngx_pcalloc(cf->pool, sizeof(struct sockaddr_un));
        if (sun == NULL) {
            return NGX_CONF_ERROR;
        }

        sun->sun_family = AF_UNIX;
        ngx_memcpy(sun->sun_path, host, host_len);

        rmcf->sockaddr = (struct sockaddr *) sun;
        rmcf->socklen = sizeof(struct sockaddr_un);

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
        /* a host name, resolved by nginx's resolver at each connect */
        if (host_len > 253 || !ngx_http_ds_redis_host_name(host, host_len))
        {
            goto invalid;
        }

        /* NUL-terminated: it may be the TLS server_name (SNI) too */
        rmcf->host_name.data = ngx_pnalloc(cf->pool, host_len + 1);
        if (rmcf->host_name.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(rmcf->host_name.data, host, host_len);
        rmcf->host_name.data[host_len] = '\0';
        rmcf->host_name.len = host_len;
        rmcf->port = (ngx_uint_t) port;

        return NGX_CONF_OK;
    }

    /* a literal: nginx parses it without any lookup */
    if (ngx_parse_addr_port(cf->pool, &peer, addr->data, addr->len)
        != NGX_OK)
    {
        goto invalid;
    }

    rmcf->sockaddr = peer.sockaddr;
    rmcf->socklen = peer.socklen;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "ds_redis: \"%V\" is not HOST:PORT, IP:PORT, "
                       "[IPv6]:PORT or unix:/path", addr);

    return NGX_CONF_ERROR;
}


/*
 * sentinel=ADDR,ADDR,...: IP:PORT or [IPv6]:PORT literals, or HOST:PORT
 * names resolved through nginx's resolver when asked; in turn at each
 * connection (ngx_http_ds_redis_sentinel.c).
 */
static char *
ngx_http_ds_redis_parse_sentinels(ngx_conf_t *cf,
    ngx_http_ds_redis_main_conf_t *rmcf, ngx_str_t *list)
{
    u_char                             *p, *end, *comma, *colon;
    size_t                              host_len;
    ngx_int_t                           port;
    ngx_str_t                           one;
    ngx_http_ds_redis_sentinel_addr_t  *a;

    rmcf->addr = *list;

    p = list->data + 9;
    end = list->data + list->len;

    rmcf->sentinels = ngx_array_create(cf->pool, 3,
                                   sizeof(ngx_http_ds_redis_sentinel_addr_t));
    if (rmcf->sentinels == NULL) {
        return NGX_CONF_ERROR;
    }

    for ( ;; ) {
        comma = ngx_strlchr(p, end, ',');
        one.data = p;
        one.len = (comma ? comma : end) - p;

        if (one.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ds_redis: empty address in \"%V\"", list);
            return NGX_CONF_ERROR;
        }

        if (one.len > 5 && ngx_strncmp(one.data, "unix:", 5) == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ds_redis: sentinel= takes HOST:PORT "
                               "addresses, not \"%V\"", &one);
            return NGX_CONF_ERROR;
        }

        a = ngx_array_push(rmcf->sentinels);
        if (a == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(a, sizeof(ngx_http_ds_redis_sentinel_addr_t));

        /* HOST:PORT with a name (no '[', one ':'): resolved when asked */
        colon = ngx_strlchr(one.data, one.data + one.len, ':');
        host_len = colon ? (size_t) (colon - one.data) : 0;

        if (colon && one.data[0] != '['
            && ngx_strlchr(colon + 1, one.data + one.len, ':') == NULL
            && ngx_inet_addr(one.data, host_len) == INADDR_NONE)
        {
            port = ngx_atoi(colon + 1, one.data + one.len - colon - 1);

            if (port < 1 || port > 65535 || host_len > 253
                || !ngx_http_ds_redis_host_name(one.data, host_len))
            {
                goto invalid;
            }

            /* NUL-terminated: it is the TLS name (SNI) too */
            a->host.data = ngx_pnalloc(cf->pool, host_len + 1);
            if (a->host.data == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_memcpy(a->host.data, one.data, host_len);
            a->host.data[host_len] = '\0';
            a->host.len = host_len;
            a->port = (ngx_uint_t) port;
            a->addr.name = one;
            rmcf->sentinel_names = 1;

        } else {
            if (ngx_parse_addr_port(cf->pool, &a->addr, one.data, one.len)
                != NGX_OK
                || ngx_inet_get_port(a->addr.sockaddr) == 0)
            {
                goto invalid;
            }

            a->addr.name = one;
        }

        if (comma == NULL) {
            break;
        }

        p = comma + 1;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "ds_redis: sentinel \"%V\" is not HOST:PORT, "
                       "IP:PORT or [IPv6]:PORT", &one);

    return NGX_CONF_ERROR;
}


/* letters, digits, '-' and '.': what DNS names are made of */
static ngx_uint_t
ngx_http_ds_redis_host_name(u_char *p, size_t len)
{
    size_t  i;

    if (len == 0 || p[0] == '.' || p[0] == '-') {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z')
              || (p[i] >= '0' && p[i] <= '9') || p[i] == '-' || p[i] == '.'
              || p[i] == '_'))
        {
            return 0;
        }
    }

    return 1;
}


/* read once at configuration time; the secret never reaches a log */
static char *
ngx_http_ds_redis_read_password(ngx_conf_t *cf, ngx_str_t *dst,
    ngx_str_t *path)
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

    dst->data = p;
    dst->len = len;

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

    if (rmcf->sentinels) {
        ngx_http_ds_redis_sentinel_watch_cancel();
    }

    ngx_http_ds_redis_conn_exit();
    ngx_http_ds_redis_lease_exit();
}

