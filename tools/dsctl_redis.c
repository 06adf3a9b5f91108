/*
 * dsctl's Redis client: blocking (a command-line tool may wait), with
 * TLS through OpenSSL, since hiredis 0.14 has none. Commands are
 * formatted by the core (ds_resp_command), replies parsed by hiredis'
 * redisReader, as in the gateway. Connect and I/O are bounded by a
 * 5 s timeout. TLS verification is on unless asked otherwise: the
 * chain against --ca, then --server-name (also SNI), or the host name
 * of --redis, or its IP address.
 */

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <hiredis/hiredis.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "dsctl_redis.h"
#include "ds_resp.h"


#define DSCTL_REDIS_TIMEOUT_MS  5000


struct dsctl_redis_s {
    int           fd;
    SSL_CTX      *ctx;
    SSL          *ssl;
    redisReader  *reader;
    const char   *addr;
};


static int
dsctl_redis_wait(int fd, short events)
{
    int            n;
    struct pollfd  p;

    p.fd = fd;
    p.events = events;

    do {
        n = poll(&p, 1, DSCTL_REDIS_TIMEOUT_MS);
    } while (n == -1 && errno == EINTR);

    return n == 1 ? 0 : -1;
}


/* connect with a timeout; the socket stays blocking afterwards */
static int
dsctl_redis_tcp(const char *addr, char *host, size_t hsize)
{
    int               fd, err, rc;
    char              port[8];
    const char       *colon;
    socklen_t         len;
    struct addrinfo   hints, *res, *ai;
    struct timeval    tv = { DSCTL_REDIS_TIMEOUT_MS / 1000, 0 };

    colon = strrchr(addr, ':');

    if (colon == NULL || colon == addr || strlen(colon + 1) == 0
        || strlen(colon + 1) >= sizeof(port) || atoi(colon + 1) < 1
        || atoi(colon + 1) > 65535 || (size_t) (colon - addr) >= hsize)
    {
        fprintf(stderr, "dsctl: --redis wants HOST:PORT, [IPv6]:PORT "
                "or unix:/path, not \"%s\"\n", addr);
        return -1;
    }

    if (addr[0] == '[' && colon[-1] == ']') {
        memcpy(host, addr + 1, colon - addr - 2);
        host[colon - addr - 2] = '\0';

    } else {
        memcpy(host, addr, colon - addr);
        host[colon - addr] = '\0';
    }

    strcpy(port, colon + 1);

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;

    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "dsctl: cannot resolve %s: %s\n", host,
                gai_strerror(rc));
        return -1;
    }

    fd = -1;
    err = 0;

    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (fd == -1) {
            err = errno;
            continue;
        }

        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }

        err = errno;

        if (err == EINPROGRESS && dsctl_redis_wait(fd, POLLOUT) == 0) {
            len = sizeof(err);
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0
                && err == 0)
            {
                break;
            }

        } else if (err == EINPROGRESS) {
            err = ETIMEDOUT;
        }

        close(fd);
        fd = -1;
    }

    freeaddrinfo(res);

    if (fd == -1) {
        fprintf(stderr, "dsctl: cannot connect to Redis at %s: %s\n", addr,
                strerror(err));
        return -1;
    }

    /* blocking from here, with timeouts */
    (void) fcntl(fd, F_SETFL, 0);
    (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

    return fd;
}


static int
dsctl_redis_unix(const char *path)
{
    int                 fd;
    struct sockaddr_un  sun;
    struct timeval      tv = { DSCTL_REDIS_TIMEOUT_MS / 1000, 0 };

    if (strlen(path) >= sizeof(sun.sun_path)) {
        fprintf(stderr, "dsctl: unix socket path too long\n");
        return -1;
    }

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    strcpy(sun.sun_path, path);

    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd == -1
        || connect(fd, (struct sockaddr *) &sun, sizeof(sun)) == -1)
    {
        fprintf(stderr, "dsctl: cannot connect to Redis at unix:%s: %s\n",
                path, strerror(errno));
        if (fd != -1) {
            close(fd);
        }
        return -1;
    }

    (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

    return fd;
}


static void
dsctl_redis_ssl_error(const char *what, const char *addr)
{
    char  buf[256];

    ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
    fprintf(stderr, "dsctl: %s %s failed: %s\n", what, addr, buf);
}


static int
dsctl_redis_tls(dsctl_redis_t *c, const dsctl_redis_opts_t *o,
    const char *host)
{
    int               is_ip;
    long              v;
    const char       *name;
    struct in_addr    a4;
    struct in6_addr   a6;

    c->ctx = SSL_CTX_new(TLS_client_method());
    if (c->ctx == NULL) {
        dsctl_redis_ssl_error("TLS setup for", c->addr);
        return -1;
    }

    (void) SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);

    if (o->ca && SSL_CTX_load_verify_locations(c->ctx, o->ca, NULL) != 1) {
        dsctl_redis_ssl_error("loading the CA", o->ca);
        return -1;
    }

    if (o->cert
        && (SSL_CTX_use_certificate_chain_file(c->ctx, o->cert) != 1
            || SSL_CTX_use_PrivateKey_file(c->ctx, o->key, SSL_FILETYPE_PEM)
               != 1))
    {
        dsctl_redis_ssl_error("loading the client certificate", o->cert);
        return -1;
    }

    SSL_CTX_set_verify(c->ctx, o->no_verify ? SSL_VERIFY_NONE
                                            : SSL_VERIFY_PEER, NULL);

    c->ssl = SSL_new(c->ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        dsctl_redis_ssl_error("TLS setup for", c->addr);
        return -1;
    }

    is_ip = inet_pton(AF_INET, host, &a4) == 1
            || inet_pton(AF_INET6, host, &a6) == 1;
    name = o->server_name ? o->server_name : (is_ip ? NULL : host);

    if (name && SSL_set_tlsext_host_name(c->ssl, name) != 1) {
        dsctl_redis_ssl_error("SNI for", c->addr);
        return -1;
    }

    if (!o->no_verify) {
        if (name ? SSL_set1_host(c->ssl, name) != 1
                 : X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl),
                                                 host) != 1)
        {
            dsctl_redis_ssl_error("name check setup for", c->addr);
            return -1;
        }
    }

    if (SSL_connect(c->ssl) != 1) {
        v = SSL_get_verify_result(c->ssl);

        if (v != X509_V_OK) {
            fprintf(stderr, "dsctl: TLS certificate of %s refused: %s\n",
                    c->addr, X509_verify_cert_error_string(v));

        } else {
            dsctl_redis_ssl_error("TLS handshake with", c->addr);
        }

        return -1;
    }

    return 0;
}


dsctl_redis_t *
dsctl_redis_connect(const dsctl_redis_opts_t *o)
{
    char            host[256];
    dsctl_redis_t  *c;

    c = calloc(1, sizeof(dsctl_redis_t));
    if (c == NULL) {
        fprintf(stderr, "dsctl: out of memory\n");
        return NULL;
    }

    c->addr = o->addr;
    c->reader = redisReaderCreate();

    if (strncmp(o->addr, "unix:", 5) == 0) {
        c->fd = dsctl_redis_unix(o->addr + 5);

    } else {
        c->fd = dsctl_redis_tcp(o->addr, host, sizeof(host));
    }

    if (c->fd == -1 || c->reader == NULL) {
        dsctl_redis_close(c);
        return NULL;
    }

    if (o->tls && dsctl_redis_tls(c, o, host) != 0) {
        dsctl_redis_close(c);
        return NULL;
    }

    return c;
}


static int
dsctl_redis_write(dsctl_redis_t *c, const char *p, size_t len)
{
    ssize_t  n;

    while (len) {
        n = c->ssl ? SSL_write(c->ssl, p, (int) len) : write(c->fd, p, len);

        if (n <= 0) {
            if (!c->ssl && n == -1 && errno == EINTR) {
                continue;
            }
            return -1;
        }

        p += n;
        len -= (size_t) n;
    }

    return 0;
}


redisReply *
dsctl_redis_command(dsctl_redis_t *c, const char *what, int argc,
    const char **argv)
{
    int          i, rc;
    char        *cmd, buf[16384];
    void        *reply;
    size_t       len, lens[16];
    ssize_t      n;
    redisReply  *r;

    if (argc > 16) {
        return NULL;
    }

    for (i = 0; i < argc; i++) {
        lens[i] = strlen(argv[i]);
    }

    cmd = buf;
    len = ds_resp_command(buf, sizeof(buf), argc, argv, lens);

    if (len > sizeof(buf)) {
        cmd = malloc(len);
        if (cmd == NULL) {
            fprintf(stderr, "dsctl: out of memory\n");
            return NULL;
        }

        (void) ds_resp_command(cmd, len, argc, argv, lens);
    }

    rc = dsctl_redis_write(c, cmd, len);

    if (cmd != buf) {
        free(cmd);
    }

    if (rc != 0) {
        fprintf(stderr, "dsctl: %s failed: cannot write to %s\n", what,
                c->addr);
        return NULL;
    }

    for ( ;; ) {
        if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
            fprintf(stderr, "dsctl: %s failed: protocol error\n", what);
            return NULL;
        }

        if (reply) {
            break;
        }

        n = c->ssl ? SSL_read(c->ssl, buf, sizeof(buf))
                   : read(c->fd, buf, sizeof(buf));

        if (n <= 0) {
            if (!c->ssl && n == -1 && errno == EINTR) {
                continue;
            }

            fprintf(stderr, "dsctl: %s failed: %s\n", what,
                    n == 0 ? "connection closed by Redis"
                           : "no answer from Redis");
            return NULL;
        }

        (void) redisReaderFeed(c->reader, buf, (size_t) n);
    }

    r = reply;

    if (r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "dsctl: %s failed: %s\n", what, r->str);
        freeReplyObject(r);
        return NULL;
    }

    return r;
}


void
dsctl_redis_close(dsctl_redis_t *c)
{
    if (c == NULL) {
        return;
    }

    if (c->ssl) {
        SSL_free(c->ssl);
    }

    if (c->ctx) {
        SSL_CTX_free(c->ctx);
    }

    if (c->fd > 0) {
        close(c->fd);
    }

    if (c->reader) {
        redisReaderFree(c->reader);
    }

    free(c);
}
