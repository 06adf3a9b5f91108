/*
 * The one writer of audit records: values serialized once, in the
 * order their fields are cleaned, then joined along the format's
 * member table in canonical order and sealed (ds_audit_write.h).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_audit_write.h"
#include "ds_time.h"


#define DS_W_DEPTH  8


static void
ds_w_truncated_add(ds_writer_t *w, const char *field)
{
    size_t  i;

    for (i = 0; i < w->ntruncated; i++) {
        if (strcmp(w->truncated[i], field) == 0) {
            return;
        }
    }

    if (w->ntruncated < DS_W_MAX) {
        w->truncated[w->ntruncated++] = field;
    }
}


static void
ds_w_keep(ds_buf_t *clean, const char *s, size_t n)
{
    if (clean) {
        clean->len = 0;
        ds_buf_add(clean, s, n);
    }
}


void
ds_w_string(ds_writer_t *w, ds_buf_t *b, ds_audit_str_t s, size_t cap,
    const char *field, ds_buf_t *clean)
{
    char        out[DS_AUDIT_CAP_PATH + 1];
    ds_clean_t  cl;

    if (s.data == NULL) {
        ds_buf_add(b, "null", 4);
        ds_w_keep(clean, "", 0);
        return;
    }

    cap >>= w->shift;

    /* the common case: nothing to clean, cut or escape */
    if (s.len <= cap && ds_audit_plain_prefix(s.data, s.len, 1) == s.len) {
        w->bytes += s.len + 2;
        ds_buf_add(b, "\"", 1);
        ds_buf_add(b, s.data, s.len);
        ds_buf_add(b, "\"", 1);
        ds_w_keep(clean, s.data, s.len);
        return;
    }

    if (cap > DS_AUDIT_CAP_PATH) {
        cap = DS_AUDIT_CAP_PATH;
    }

    ds_audit_clean(s.data, s.len, cap, out, &cl);

    if (cl.truncated) {
        ds_w_truncated_add(w, field);
    }

    if (cl.sanitized) {
        w->sanitized = 1;
    }

    w->bytes += cl.cost + 2;

    ds_canon_string(b, out, cl.len);
    ds_w_keep(clean, out, cl.len);
}


void
ds_w_begin(ds_writer_t *w, int k)
{
    w->off[k] = (unsigned) w->v.len;
}


void
ds_w_end(ds_writer_t *w, int k)
{
    w->len[k] = (unsigned) (w->v.len - w->off[k]);
    w->set[k] = 1;
}


void
ds_w_str(ds_writer_t *w, int k, ds_audit_str_t s, size_t cap)
{
    ds_w_begin(w, k);
    ds_w_string(w, &w->v, s, cap, w->m[k].key, NULL);
    ds_w_end(w, k);
}


void
ds_w_str_keep(ds_writer_t *w, int k, ds_audit_str_t s, size_t cap,
    ds_buf_t *clean)
{
    ds_w_begin(w, k);
    ds_w_string(w, &w->v, s, cap, w->m[k].key, clean);
    ds_w_end(w, k);
}


void
ds_w_const(ds_writer_t *w, int k, const char *s)
{
    ds_w_begin(w, k);
    ds_canon_string(&w->v, s, strlen(s));
    ds_w_end(w, k);
}


/* as jansson prints integers ("%lld"), without printf's overhead */
void
ds_buf_int(ds_buf_t *b, int64_t n)
{
    char      num[24], *p;
    uint64_t  u;

    p = num + sizeof(num);
    u = n < 0 ? (uint64_t) 0 - (uint64_t) n : (uint64_t) n;

    do {
        *--p = (char) ('0' + u % 10);
        u /= 10;
    } while (u);

    if (n < 0) {
        *--p = '-';
    }

    ds_buf_add(b, p, num + sizeof(num) - p);
}


void
ds_w_int(ds_writer_t *w, int k, int64_t n)
{
    ds_w_begin(w, k);
    ds_buf_int(&w->v, n);
    ds_w_end(w, k);
}


void
ds_w_raw(ds_writer_t *w, int k, const char *s, size_t n)
{
    ds_w_begin(w, k);
    ds_buf_add(&w->v, s, n);
    ds_w_end(w, k);
}


void
ds_w_time(ds_writer_t *w, int k, int64_t ms)
{
    char  buf[DS_RFC3339_LEN];

    ds_time_format_rfc3339(ms, buf, sizeof(buf));
    ds_w_const(w, k, buf);
}


void
ds_w_open(ds_writer_t *w, int k)
{
    w->len[k] = 0;
    w->set[k] = 1;
}


void
ds_w_truncated(ds_writer_t *w, int k)
{
    size_t  i;

    ds_w_begin(w, k);
    ds_buf_add(&w->v, "[", 1);

    for (i = 0; i < w->ntruncated; i++) {
        if (i) {
            ds_buf_add(&w->v, ",", 1);
        }
        ds_canon_string(&w->v, w->truncated[i], strlen(w->truncated[i]));
    }

    ds_buf_add(&w->v, "]", 1);
    ds_w_end(w, k);
}


/* the integrity member's value; mark_at where "mac" sorts in */
static void
ds_w_integrity(ds_buf_t *b, const ds_audit_chain_t *c)
{
    ds_buf_add(b, "{", 1);

    if (!c->keyed) {
        ds_buf_add(b, "\"alg\":\"sha256\",", 15);
    }

    ds_buf_add(b, "\"chain\":", 8);
    ds_canon_string(b, c->id, strlen(c->id));
    ds_buf_add(b, ",\"epoch\":0", 10);

    b->mark_at = b->len;

    ds_buf_add(b, ",\"prev\":", 8);
    ds_canon_string(b, c->prev, strlen(c->prev));
    ds_buf_add(b, ",\"seq\":", 7);
    ds_buf_int(b, (int64_t) c->seq);
    ds_buf_add(b, ",\"v\":1}", 7);
}


static void
ds_w_close(ds_buf_t *b, const ds_wmember_t *m)
{
    if (m->kind == DS_W_ARRAY1) {
        ds_buf_add(b, "}]", 2);
    } else {
        ds_buf_add(b, "}", 1);
    }
}


/* the record in canonical order; c NULL: without what the chain adds */
static void
ds_w_join(const ds_writer_t *w, ds_buf_t *b, const ds_audit_chain_t *c)
{
    char                 uid[DS_AUDIT_CHAIN_MAX + 24];
    int                  first[DS_W_DEPTH + 1];
    short                open[DS_W_DEPTH];
    size_t               k, depth;
    const ds_wmember_t  *m;

    ds_buf_add(b, "{", 1);
    depth = 0;
    first[0] = 1;

    for (k = 0; k < w->n; k++) {
        m = &w->m[k];

        if (m->kind >= DS_W_INTEGRITY ? c == NULL : !w->set[k]) {
            continue;
        }

        if (m->parent >= 0 && !w->set[m->parent]) {
            continue;
        }

        /* the objects this member is not in are complete */
        while (depth && open[depth - 1] != m->parent) {
            ds_w_close(b, &w->m[open[--depth]]);
        }

        if (!first[depth]) {
            ds_buf_add(b, ",", 1);
        }
        first[depth] = 0;

        ds_buf_add(b, "\"", 1);
        ds_buf_add(b, m->key, m->len);
        ds_buf_add(b, "\":", 2);

        switch (m->kind) {

        case DS_W_OBJECT:
        case DS_W_ARRAY1:
            ds_buf_add(b, m->kind == DS_W_OBJECT ? "{" : "[{",
                       m->kind == DS_W_OBJECT ? 1 : 2);
            if (depth == DS_W_DEPTH) {
                b->failed = 1;
                return;
            }
            open[depth++] = (short) k;
            first[depth] = 1;
            break;

        case DS_W_INTEGRITY:
            ds_w_integrity(b, c);
            break;

        case DS_W_SEQUENCE:
            ds_buf_int(b, (int64_t) c->seq);
            break;

        case DS_W_EVENT_UID:
            /* a stable event id for shippers' de-duplication */
            snprintf(uid, sizeof(uid), "%s:%llu", c->id,
                     (unsigned long long) c->seq);
            ds_canon_string(b, uid, strlen(uid));
            break;

        default:
            ds_buf_add(b, w->v.p + w->off[k], w->len[k]);
        }
    }

    while (depth) {
        ds_w_close(b, &w->m[open[--depth]]);
    }

    ds_buf_add(b, "}", 1);
}


static int
ds_w_fits(const ds_writer_t *w)
{
    int       fits;
    ds_buf_t  t;

    /* keys, numbers and constants stay below DS_AUDIT_FIXED_MAX */
    if (w->bytes + DS_AUDIT_FIXED_MAX <= DS_AUDIT_RECORD_MAX) {
        return 1;
    }

    memset(&t, 0, sizeof(t));
    ds_w_join(w, &t, NULL);
    fits = !t.failed && t.len <= DS_AUDIT_RECORD_MAX;
    free(t.p);

    return fits;
}


char *
ds_w_line(ds_audit_chain_t *c, const ds_wmember_t *m, size_t n,
    ds_wfill_pt fill, const void *data, int request, size_t *len)
{
    char         mac[DS_AUDIT_MAC_HEX + 1];
    ds_buf_t     b;
    ds_writer_t  w;

    memset(&w, 0, sizeof(w));
    w.m = m;
    w.n = n;

    /*
     * Field caps keep ordinary records small; a record of hostile
     * maximal fields is filled again with every cap divided by 4, then
     * 16, so that the sealed line stays under DS_AUDIT_LINE_MAX.
     */
    for ( ;; ) {
        fill(&w, data);

        if (w.v.failed || w.shift == 4 || ds_w_fits(&w)) {
            break;
        }

        w.shift += 2;
        w.v.len = 0;
        w.bytes = 0;
        w.sanitized = 0;
        w.ntruncated = 0;
        memset(w.set, 0, sizeof(w.set));
    }

    if (w.v.failed) {
        free(w.v.p);
        return NULL;
    }

    memset(&b, 0, sizeof(b));

    if (ds_buf_reserve(&b, DS_AUDIT_RECORD_PREFIX + w.v.len
                           + DS_AUDIT_SEAL_MAX + 512) != 0)
    {
        free(w.v.p);
        return NULL;
    }

    ds_buf_add(&b, DS_AUDIT_RECORD_LABEL, DS_AUDIT_RECORD_PREFIX);
    ds_w_join(&w, &b, c);
    free(w.v.p);

    return ds_audit_finish(c, &b, request, len, mac);
}
