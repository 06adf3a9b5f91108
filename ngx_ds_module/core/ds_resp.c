/*
 * RESP arrays of bulk strings, the only form Redis commands take.
 */

#include <string.h>

#include "ds_resp.h"


static size_t
ds_resp_digits(size_t n)
{
    size_t  d;

    for (d = 1; n >= 10; n /= 10) {
        d++;
    }

    return d;
}


static char *
ds_resp_head(char *p, char type, size_t n)
{
    size_t  d, i;

    *p++ = type;
    d = ds_resp_digits(n);

    for (i = d; i > 0; i--) {
        p[i - 1] = (char) ('0' + n % 10);
        n /= 10;
    }

    p += d;
    *p++ = '\r';
    *p++ = '\n';

    return p;
}


size_t
ds_resp_command(char *out, size_t size, int argc, const char **argv,
    const size_t *argvlen)
{
    int     i;
    char   *p;
    size_t  need;

    need = 1 + ds_resp_digits((size_t) argc) + 2;

    for (i = 0; i < argc; i++) {
        need += 1 + ds_resp_digits(argvlen[i]) + 2 + argvlen[i] + 2;
    }

    if (need > size) {
        return need;
    }

    p = ds_resp_head(out, '*', (size_t) argc);

    for (i = 0; i < argc; i++) {
        p = ds_resp_head(p, '$', argvlen[i]);
        memcpy(p, argv[i], argvlen[i]);
        p += argvlen[i];
        *p++ = '\r';
        *p++ = '\n';
    }

    return need;
}
