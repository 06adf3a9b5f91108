/*
 * Leases of GCRA cells, spent locally by one worker. See ds_lease.h.
 */

#include <string.h>

#include "ds_lease.h"


static int
ds_lease_slot_valid(const ds_lease_slot_t *s, const ds_lease_conf_t *c,
    uint64_t now)
{
    /* a clock that went back voids the grant rather than extending it */
    return s->valid && now >= s->sent_ms
           && now - s->sent_ms < c->max_age_ms;
}


/* the valid grant sent last, for the headers; NULL if none */
static const ds_lease_slot_t *
ds_lease_newest(const ds_lease_t *l, const ds_lease_conf_t *c, uint64_t now)
{
    int                     i;
    const ds_lease_slot_t  *n;

    n = NULL;

    for (i = 0; i < DS_LEASE_SLOTS; i++) {
        if (ds_lease_slot_valid(&l->slot[i], c, now)
            && (n == NULL || l->slot[i].sent_ms > n->sent_ms))
        {
            n = &l->slot[i];
        }
    }

    return n;
}


void
ds_lease_init(ds_lease_t *l, int64_t limit, uint64_t now)
{
    memset(l, 0, sizeof(*l));
    l->limit = limit;
    l->win_start_ms = now;
}


void
ds_lease_seen(ds_lease_t *l, const ds_lease_conf_t *c, uint64_t now)
{
    uint64_t  age;

    age = now >= l->win_start_ms ? now - l->win_start_ms : c->max_age_ms;

    if (age >= c->max_age_ms) {
        /* a window of silence in between: the key went quiet */
        l->last_rate = age < 2 * c->max_age_ms ? l->win_count : 0;
        l->win_start_ms = now;
        l->win_count = 0;
    }

    if (l->win_count < UINT32_MAX) {
        l->win_count++;
    }
}


uint32_t
ds_lease_unspent(const ds_lease_t *l, const ds_lease_conf_t *c,
    uint64_t now)
{
    int       i;
    uint32_t  n;

    n = 0;

    for (i = 0; i < DS_LEASE_SLOTS; i++) {
        if (ds_lease_slot_valid(&l->slot[i], c, now)) {
            n += l->slot[i].cells;
        }
    }

    return n;
}


int
ds_lease_take(ds_lease_t *l, const ds_lease_conf_t *c, uint64_t now,
    ds_gcra_result_t *res)
{
    int                     i;
    int64_t                 remaining, reset;
    ds_lease_slot_t        *s;
    const ds_lease_slot_t  *n;

    memset(res, 0, sizeof(*res));
    res->status = DS_GCRA_ALLOWED;

    if (l->limit == 0) {
        return ds_lease_newest(l, c, now) != NULL;
    }

    s = NULL;

    for (i = 0; i < DS_LEASE_SLOTS; i++) {
        if (ds_lease_slot_valid(&l->slot[i], c, now) && l->slot[i].cells
            && (s == NULL || l->slot[i].sent_ms < s->sent_ms))
        {
            s = &l->slot[i];
        }
    }

    if (s == NULL) {
        return 0;
    }

    s->cells--;

    /*
     * What Redis had left at the newest grant, plus the cells this
     * worker still holds: both would be admitted now.
     */
    n = ds_lease_newest(l, c, now);
    remaining = n->remaining + ds_lease_unspent(l, c, now);
    reset = n->reset_ms - (int64_t) (now - n->sent_ms);

    res->limit = l->limit;
    res->remaining = remaining < l->limit ? remaining : l->limit;
    res->reset_ms = reset > 0 ? reset : 0;

    return 1;
}


uint32_t
ds_lease_cells(const ds_lease_t *l, const ds_lease_conf_t *c)
{
    uint64_t  k;

    if (l->limit <= 0) {
        return 1;
    }

    k = l->last_rate > l->win_count ? l->last_rate : l->win_count;

    if (k > c->max_cells) {
        k = c->max_cells;
    }

    /* small buckets stay exact: no worker holds much of one */
    if (k > (uint64_t) l->limit / DS_LEASE_BUCKET_DIV) {
        k = (uint64_t) l->limit / DS_LEASE_BUCKET_DIV;
    }

    return k < 2 ? 1 : (uint32_t) k;
}


int
ds_lease_wants_refresh(const ds_lease_t *l, const ds_lease_conf_t *c,
    uint64_t now)
{
    uint32_t                k;
    const ds_lease_slot_t  *n;

    if (l->refreshing) {
        return 0;
    }

    n = ds_lease_newest(l, c, now);
    if (n == NULL) {
        /* nothing valid: the request itself asks */
        return 0;
    }

    if (2 * (now - n->sent_ms) >= c->max_age_ms) {
        return l->limit == 0 || ds_lease_cells(l, c) > 1;
    }

    if (l->limit == 0) {
        return 0;
    }

    k = ds_lease_cells(l, c);

    return k > 1 && 2 * ds_lease_unspent(l, c, now) <= k;
}


void
ds_lease_void(ds_lease_t *l)
{
    memset(l->slot, 0, sizeof(l->slot));
}


void
ds_lease_grant(ds_lease_t *l, const ds_lease_conf_t *c, uint64_t sent_ms,
    const ds_gcra_result_t *res, int64_t granted, int64_t used)
{
    int               i;
    ds_lease_slot_t  *s;

    if (res->status == DS_GCRA_TOKEN_REVOKED
        || res->status == DS_GCRA_RECIPIENT_REVOKED)
    {
        ds_lease_void(l);
        return;
    }

    if (res->status != DS_GCRA_ALLOWED) {
        return;
    }

    if (res->limit != l->limit) {
        /* not the limit this lease was made for: start again */
        ds_lease_void(l);
        l->limit = res->limit;
    }

    if (l->limit != 0 && granted - used <= 0) {
        return;
    }

    /* an expired grant first, else the one sent first gives way */
    s = NULL;

    for (i = 0; i < DS_LEASE_SLOTS; i++) {
        if (!ds_lease_slot_valid(&l->slot[i], c, sent_ms)) {
            s = &l->slot[i];
            break;
        }

        if (s == NULL || l->slot[i].sent_ms < s->sent_ms) {
            s = &l->slot[i];
        }
    }

    s->valid = 1;
    s->sent_ms = sent_ms;
    s->cells = l->limit ? (uint32_t) (granted - used) : 0;
    s->remaining = res->remaining;
    s->reset_ms = res->reset_ms;
}


int
ds_lease_parse_reply(const long long *v, size_t n, uint32_t k,
    ds_gcra_result_t *res, int64_t *granted)
{
    *granted = 0;

    if (n != 5 && n != 6) {
        return -1;
    }

    if (ds_gcra_parse_reply(v, 5, res) != 0) {
        return -1;
    }

    if (n == 5) {
        /* the script names the grant only when it was asked for cells */
        if (k > 1 && res->status == DS_GCRA_ALLOWED && res->limit != 0) {
            return -1;
        }

        *granted = res->status == DS_GCRA_ALLOWED && res->limit != 0;
        return 0;
    }

    if (k < 2 || res->status != DS_GCRA_ALLOWED || res->limit == 0
        || v[5] < 1 || v[5] > (long long) k)
    {
        return -1;
    }

    *granted = v[5];

    return 0;
}
