/*
 * dsctl's blocking Redis client (dsctl_redis.c): plaintext, unix socket
 * or TLS (OpenSSL), Redis 6 ACL login done by the caller with AUTH.
 */

#ifndef DSCTL_REDIS_H
#define DSCTL_REDIS_H

#include <hiredis/hiredis.h>

typedef struct {
    const char  *addr;          /* HOST:PORT, [IPv6]:PORT, unix:/path */
    int          tls;
    const char  *ca;            /* PEM CA file(s) */
    const char  *cert;          /* client certificate and key, or NULL */
    const char  *key;
    const char  *server_name;   /* SNI and name checked; default: host */
    int          no_verify;
} dsctl_redis_opts_t;

typedef struct dsctl_redis_s  dsctl_redis_t;

/* NULL on failure, said on stderr */
dsctl_redis_t *dsctl_redis_connect(const dsctl_redis_opts_t *o);

/* a reply that is not an error; prints "dsctl: WHAT failed: ..." else */
redisReply *dsctl_redis_command(dsctl_redis_t *c, const char *what,
    int argc, const char **argv);

void dsctl_redis_close(dsctl_redis_t *c);

#endif /* DSCTL_REDIS_H */
