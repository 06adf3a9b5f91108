/*
 * The growing text buffer (ds_buf.h).
 */

#include <stdlib.h>
#include <string.h>

#include "ds_buf.h"


int
ds_buf_reserve(ds_buf_t *b, size_t n)
{
    size_t   cap;
    char    *p;

    if (b->failed) {
        return -1;
    }

    if (b->len + n + 1 > b->cap) {
        cap = b->cap ? b->cap : 4096;

        while (cap < b->len + n + 1) {
            cap *= 2;
        }

        p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = 1;
            return -1;
        }

        b->p = p;
        b->cap = cap;
    }

    return 0;
}


void
ds_buf_grow_add(ds_buf_t *b, const char *s, size_t n)
{
    if (ds_buf_reserve(b, n) != 0) {
        return;
    }

    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}
