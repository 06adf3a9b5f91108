/* dsctl_sentinel.c: the primary's address from Redis Sentinel */

#ifndef DSCTL_SENTINEL_H
#define DSCTL_SENTINEL_H

#include <stddef.h>

/* "IP:PORT" or "[IPv6]:PORT" into out; -1 (said on stderr) else */
int dsctl_sentinel_primary(const char *list, const char *master,
    char *out, size_t size);

#endif /* DSCTL_SENTINEL_H */
