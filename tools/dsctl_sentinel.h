/* dsctl_sentinel.c: the primary's address from Redis Sentinel */

#ifndef DSCTL_SENTINEL_H
#define DSCTL_SENTINEL_H

#include <stddef.h>

#include "dsctl_redis.h"

/* how the sentinels are reached */
typedef struct {
    const dsctl_redis_opts_t  *tls;      /* NULL: plaintext; else its ca */
    const char                *username; /* AUTH [username] password */
    const char                *password; /* NULL: no AUTH */
} dsctl_sentinel_opts_t;

/* "IP:PORT" or "[IPv6]:PORT" into out; -1 (said on stderr) else */
int dsctl_sentinel_primary(const char *list, const char *master,
    const dsctl_sentinel_opts_t *so, char *out, size_t size);

#endif /* DSCTL_SENTINEL_H */
