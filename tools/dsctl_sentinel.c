/*
 * dsctl --sentinel LIST --master NAME: the primary's address, asked of
 * the sentinels in turn (SENTINEL get-master-addr-by-name), as the
 * gateway does at each connection (ngx_http_ds_redis_sentinel.c):
 * over TLS with --sentinel-tls (the --tls options; the name checked is
 * the sentinel's HOST), after AUTH with --sentinel-password-file.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsctl_redis.h"
#include "dsctl_sentinel.h"


int
dsctl_sentinel_primary(const char *list, const char *master,
    const dsctl_sentinel_opts_t *so, char *out, size_t size)
{
    int                  n, argc;
    char                *copy, *one, *save;
    const char          *argv[3];
    redisReply          *r;
    dsctl_redis_t       *c;
    dsctl_redis_opts_t   o;

    copy = strdup(list);
    if (copy == NULL) {
        fprintf(stderr, "dsctl: out of memory\n");
        return -1;
    }

    for (one = strtok_r(copy, ",", &save); one;
         one = strtok_r(NULL, ",", &save))
    {
        if (strncmp(one, "unix:", 5) == 0) {
            fprintf(stderr, "dsctl: --sentinel takes HOST:PORT addresses, "
                    "not \"%s\"\n", one);
            free(copy);
            return -1;
        }

        memset(&o, 0, sizeof(o));

        if (so->tls) {
            o = *so->tls;
            o.server_name = NULL;       /* the sentinel's own HOST */
        }

        o.addr = one;

        c = dsctl_redis_connect(&o);
        if (c == NULL) {
            continue;           /* said on stderr; the next one */
        }

        if (so->password) {
            argc = 0;
            argv[argc++] = "AUTH";
            if (so->username) {
                argv[argc++] = so->username;
            }
            argv[argc++] = so->password;

            r = dsctl_redis_command(c, "AUTH to the sentinel", argc, argv);
            if (r == NULL) {
                dsctl_redis_close(c);
                continue;
            }

            freeReplyObject(r);
        }

        argv[0] = "SENTINEL";
        argv[1] = "get-master-addr-by-name";
        argv[2] = master;
        r = dsctl_redis_command(c, "SENTINEL get-master-addr-by-name", 3,
                                argv);
        dsctl_redis_close(c);

        if (r == NULL) {
            continue;
        }

        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
            || r->element[0]->type != REDIS_REPLY_STRING
            || r->element[1]->type != REDIS_REPLY_STRING)
        {
            fprintf(stderr, "dsctl: sentinel %s knows no master \"%s\"\n",
                    one, master);
            freeReplyObject(r);
            continue;
        }

        n = snprintf(out, size,
                     strchr(r->element[0]->str, ':') ? "[%s]:%s" : "%s:%s",
                     r->element[0]->str, r->element[1]->str);
        freeReplyObject(r);

        if (n > 0 && (size_t) n < size) {
            free(copy);
            return 0;
        }
    }

    free(copy);
    fprintf(stderr, "dsctl: no sentinel told the address of master "
            "\"%s\"\n", master);

    return -1;
}
