/*
 * A text buffer that grows with malloc: the audit record writer and the
 * Prometheus writer build their output from many short pieces. Once an
 * allocation fails, failed stays set and further adds do nothing; the
 * text is kept NUL-terminated. free(p) when done.
 */

#ifndef DS_BUF_H
#define DS_BUF_H

#include <stddef.h>
#include <string.h>


typedef struct {
    char          *p;
    size_t         len;
    size_t         cap;
    int            failed;
    const void    *mark;        /* audit: object where "mac" sorts in */
    size_t         mark_at;     /* ... at this offset (0: not yet) */
} ds_buf_t;


/* room for n more bytes and a NUL; -1 (and b->failed) without memory */
int ds_buf_reserve(ds_buf_t *b, size_t n);
void ds_buf_grow_add(ds_buf_t *b, const char *s, size_t n);


/* the common case inline */
static inline void
ds_buf_add(ds_buf_t *b, const char *s, size_t n)
{
    if (b->len + n < b->cap && !b->failed) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
        return;
    }

    ds_buf_grow_add(b, s, n);
}

#endif /* DS_BUF_H */
