/*
 * TLS to Redis with nginx's own OpenSSL layer, on the connection of
 * ngx_http_ds_redis_conn.c: ngx_ssl_create_connection() once the TCP
 * connect succeeded, ngx_ssl_handshake() driven by nginx events (the
 * connect timeout covers it), then c->recv/c->send are nginx's TLS ones
 * and the rest of the transport does not know the difference.
 *
 * Verification is on by default and done the way proxy_ssl_verify does
 * it: the chain against ca= (SSL_get_verify_result), then the name:
 * server_name= if given (also sent as SNI), else the IP address of
 * ds_redis (the certificate needs it as an IP subjectAltName). A
 * refused certificate is a configuration problem, not an outage: the
 * connection keeps the slow backoff and logs why at error level.
 *
 * Configuration: ds_redis ADDR tls ca=FILE [cert=FILE key=FILE]
 * [server_name=NAME] [verify=on|off].
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include "ngx_http_ds.h"
#include "ngx_http_ds_redis.h"


#if (NGX_SSL)

static void ngx_http_ds_redis_tls_handshake(ngx_connection_t *c);

#endif


/* NGX_OK: taken; NGX_DECLINED: not a TLS parameter */
ngx_int_t
ngx_http_ds_redis_tls_param(ngx_conf_t *cf,
    ngx_http_ds_redis_main_conf_t *rmcf, ngx_str_t *v)
{
    ngx_str_t  *dst;

    if (v->len == 3 && ngx_strncmp(v->data, "tls", 3) == 0) {
        rmcf->tls = 1;
        return NGX_OK;
    }

    if (ngx_strncmp(v->data, "verify=", 7) == 0) {
        if (ngx_strcmp(v->data + 7, "on") == 0) {
            rmcf->tls_verify = 1;

        } else if (ngx_strcmp(v->data + 7, "off") == 0) {
            rmcf->tls_verify = 0;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ds_redis: verify= takes on or off, not "
                               "\"%V\"", v);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (ngx_strncmp(v->data, "ca=", 3) == 0) {
        dst = &rmcf->tls_ca;

    } else if (ngx_strncmp(v->data, "cert=", 5) == 0) {
        dst = &rmcf->tls_cert;

    } else if (ngx_strncmp(v->data, "key=", 4) == 0) {
        dst = &rmcf->tls_key;

    } else if (ngx_strncmp(v->data, "server_name=", 12) == 0) {
        dst = &rmcf->tls_server_name;

    } else {
        return NGX_DECLINED;
    }

    dst->data = (u_char *) ngx_strlchr(v->data, v->data + v->len, '=') + 1;
    dst->len = v->data + v->len - dst->data;

    if (dst->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_redis: empty \"%V\"", v);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* every bad combination is an nginx -t error; then the SSL context */
char *
ngx_http_ds_redis_tls_init(ngx_conf_t *cf,
    ngx_http_ds_redis_main_conf_t *rmcf)
{
#if (NGX_SSL)
    ngx_pool_cleanup_t  *cln;
#endif

    if (!rmcf->tls) {
        if (rmcf->tls_ca.len || rmcf->tls_cert.len || rmcf->tls_key.len
            || rmcf->tls_server_name.len || rmcf->tls_verify != NGX_CONF_UNSET)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ds_redis: ca=, cert=, key=, server_name= "
                               "and verify= need \"tls\"");
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

#if !(NGX_SSL)

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "ds_redis: tls needs nginx built with OpenSSL");
    return NGX_CONF_ERROR;

#else

    if (rmcf->tls_verify == NGX_CONF_UNSET) {
        rmcf->tls_verify = 1;
    }

    /* a host name is the name its certificate must carry */
    if (rmcf->tls_server_name.len == 0 && rmcf->host_name.len) {
        rmcf->tls_server_name = rmcf->host_name;
    }

    if (rmcf->sockaddr && rmcf->sockaddr->sa_family == AF_UNIX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_redis: tls is for TCP addresses, not a "
                           "unix socket");
        return NGX_CONF_ERROR;
    }

    if (rmcf->tls_verify && rmcf->tls_ca.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_redis: tls with verification needs ca=FILE "
                           "(the CA that signed Redis' certificate)");
        return NGX_CONF_ERROR;
    }

    if ((rmcf->tls_cert.len == 0) != (rmcf->tls_key.len == 0)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_redis: cert= and key= go together");
        return NGX_CONF_ERROR;
    }

    rmcf->ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (rmcf->ssl == NULL) {
        return NGX_CONF_ERROR;
    }

    rmcf->ssl->log = cf->log;

    if (ngx_ssl_create(rmcf->ssl, NGX_SSL_TLSv1_2 | NGX_SSL_TLSv1_3, NULL)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(rmcf->ssl);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = rmcf->ssl;

    /* the output buffer may move or grow between two SSL_write()s */
    SSL_CTX_set_mode(rmcf->ssl->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                                     | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

    if (rmcf->tls_cert.len
        && ngx_ssl_certificate(cf, rmcf->ssl, &rmcf->tls_cert,
                               &rmcf->tls_key, NULL)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (rmcf->tls_ca.len
        && ngx_ssl_trusted_certificate(cf, rmcf->ssl, &rmcf->tls_ca, 4)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

#endif
}


#if (NGX_SSL)

void
ngx_http_ds_redis_tls_start(ngx_connection_t *c,
    ngx_http_ds_redis_main_conf_t *rmcf)
{
    ngx_int_t  rc;

    if (ngx_ssl_create_connection(rmcf->ssl, c, NGX_SSL_CLIENT) != NGX_OK) {
        ngx_http_ds_redis_conn_ready(c, 0);
        return;
    }

    if (rmcf->tls_server_name.len) {
        /* value strings are NUL-terminated by the parser */
        if (SSL_set_tlsext_host_name(c->ssl->connection,
                                     (char *) rmcf->tls_server_name.data)
            == 0)
        {
            ngx_ssl_error(NGX_LOG_ERR, c->log, 0,
                          "ds_redis: SSL_set_tlsext_host_name(\"%V\") "
                          "failed", &rmcf->tls_server_name);
            ngx_http_ds_redis_conn_ready(c, 0);
            return;
        }
    }

    rc = ngx_ssl_handshake(c);

    if (rc == NGX_AGAIN) {
        c->ssl->handler = ngx_http_ds_redis_tls_handshake;
        return;
    }

    ngx_http_ds_redis_tls_handshake(c);
}


static void
ngx_http_ds_redis_tls_handshake(ngx_connection_t *c)
{
    ngx_http_ds_redis_main_conf_t  *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_ds_redis_module);

    if (!c->ssl->handshaked) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "ds_redis: TLS handshake with %V failed",
                      &rmcf->addr);
        ngx_http_ds_redis_conn_ready(c, 0);
        return;
    }

    if (rmcf->tls_verify
        && ngx_http_ds_redis_tls_check(c, &rmcf->tls_server_name,
                                       &rmcf->addr)
           != NGX_OK)
    {
        ngx_http_ds_redis_conn_ready(c, 0);
        return;
    }

    ngx_http_ds_redis_conn_ready(c, 1);
}


/*
 * The chain (SSL_get_verify_result against ca=), then name if given,
 * else the IP address c is connected to; who names the peer in the
 * error lines. The primary's (server_name=) and a sentinel's (its host
 * name) checks alike.
 */
ngx_int_t
ngx_http_ds_redis_tls_check(ngx_connection_t *c, ngx_str_t *name,
    ngx_str_t *who)
{
    long            rc;
    X509           *cert;
    u_char          ip[NGX_SOCKADDR_STRLEN + 1];
    size_t          len;
    socklen_t       slen;
    ngx_sockaddr_t  peer;

    rc = SSL_get_verify_result(c->ssl->connection);

    if (rc != X509_V_OK) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "ds_redis: TLS certificate of %V refused: (%l: %s)",
                      who, rc, X509_verify_cert_error_string(rc));
        return NGX_ERROR;
    }

    if (name->len) {
        if (ngx_ssl_check_host(c, name) != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "ds_redis: TLS certificate of %V does not match "
                          "server_name \"%V\"", who, name);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    /* no name: the certificate must carry the address connected to */
    slen = sizeof(ngx_sockaddr_t);

    if (getpeername(c->fd, &peer.sockaddr, &slen) == -1) {
        ngx_log_error(NGX_LOG_ERR, c->log, ngx_socket_errno,
                      "ds_redis: getpeername() of %V failed", who);
        return NGX_ERROR;
    }

    len = ngx_sock_ntop(&peer.sockaddr, slen, ip, NGX_SOCKADDR_STRLEN, 0);
    ip[len] = '\0';

    cert = SSL_get_peer_certificate(c->ssl->connection);

    rc = cert ? X509_check_ip_asc(cert, (char *) ip, 0) : 0;

    if (cert) {
        X509_free(cert);
    }

    if (rc != 1) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "ds_redis: TLS certificate of %V does not name the "
                      "address %s (set server_name= to check a name)",
                      who, ip);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* before ngx_close_connection(): no close_notify round trip */
void
ngx_http_ds_redis_tls_close(ngx_connection_t *c)
{
    if (c->ssl == NULL) {
        return;
    }

    c->ssl->no_wait_shutdown = 1;
    c->ssl->no_send_shutdown = 1;

    (void) ngx_ssl_shutdown(c);
}

#endif
