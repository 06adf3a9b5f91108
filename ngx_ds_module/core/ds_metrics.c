/*
 * The metrics table (ds_metrics.h): layout, slots, atomic updates.
 * The exposition writer is in ds_metrics_write.c.
 */

#include <string.h>

#include "ds_metrics.h"
#include "ds_metrics_int.h"


const uint64_t  ds_metrics_bucket_ms[DS_METRICS_BUCKETS] = {
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000
};


static uint32_t
ds_metrics_hash_size(uint32_t max_recipients)
{
    uint32_t  n;

    /* at most half full: probes stay short */
    n = 8;
    while (n < 2 * (uint64_t) max_recipients) {
        n <<= 1;
    }

    return n;
}


static size_t
ds_metrics_slots_offset(uint32_t hash_size)
{
    size_t  off;

    off = sizeof(ds_metrics_t) + hash_size * sizeof(uint32_t);

    return (off + 63) & ~(size_t) 63;
}


size_t
ds_metrics_size(uint32_t max_recipients)
{
    return ds_metrics_slots_offset(ds_metrics_hash_size(max_recipients))
           + (DS_METRICS_FIXED_SLOTS + (size_t) max_recipients)
             * sizeof(ds_metrics_slot_t);
}


ds_metrics_t *
ds_metrics_init(void *mem, size_t size, uint32_t max_recipients,
    int per_recipient)
{
    ds_metrics_t  *m;

    if (!per_recipient) {
        max_recipients = 0;
    }

    if (mem == NULL || size < ds_metrics_size(max_recipients)
        || max_recipients > DS_METRICS_MAX_RECIPIENTS)
    {
        return NULL;
    }

    memset(mem, 0, ds_metrics_size(max_recipients));

    m = mem;
    m->magic = DS_METRICS_MAGIC;
    m->layout = DS_METRICS_LAYOUT;
    m->slot_size = sizeof(ds_metrics_slot_t);
    m->max = max_recipients;
    m->hash_size = ds_metrics_hash_size(max_recipients);
    m->per_recipient = per_recipient ? 1 : 0;
    m->slots_offset = ds_metrics_slots_offset(m->hash_size);

    memcpy(ds_metrics_slots(m)[DS_METRICS_SLOT_OTHER].name, DS_METRICS_OTHER,
           sizeof(DS_METRICS_OTHER));
    ds_metrics_slots(m)[DS_METRICS_SLOT_OTHER].name_len =
        sizeof(DS_METRICS_OTHER) - 1;
    memcpy(ds_metrics_slots(m)[DS_METRICS_SLOT_NONE].name, DS_METRICS_NONE,
           sizeof(DS_METRICS_NONE));
    ds_metrics_slots(m)[DS_METRICS_SLOT_NONE].name_len =
        sizeof(DS_METRICS_NONE) - 1;

    return m;
}


ds_metrics_t *
ds_metrics_attach(void *mem, size_t size, uint32_t max_recipients,
    int per_recipient)
{
    ds_metrics_t  *m;

    if (!per_recipient) {
        max_recipients = 0;
    }

    m = mem;

    if (m == NULL || size < sizeof(ds_metrics_t)
        || m->magic != DS_METRICS_MAGIC
        || m->layout != DS_METRICS_LAYOUT
        || m->slot_size != sizeof(ds_metrics_slot_t)
        || m->max != max_recipients
        || m->per_recipient != (per_recipient ? 1u : 0u)
        || size < ds_metrics_size(max_recipients))
    {
        return NULL;
    }

    return m;
}


static uint32_t
ds_metrics_hash(const char *s, size_t len)
{
    uint32_t  h;
    size_t    i;

    /* FNV-1a: ids are short and chosen by the provider, not by clients */
    h = 2166136261u;
    for (i = 0; i < len; i++) {
        h ^= (unsigned char) s[i];
        h *= 16777619u;
    }

    return h;
}


/*
 * Probe for id. Entries are never removed and a slot's name is written
 * before its index is published (release), so a reader that sees the
 * index (acquire) sees the name. Returns the slot index, or 0 with
 * *free the first empty entry.
 */
static uint32_t
ds_metrics_probe(ds_metrics_t *m, const char *id, size_t len,
    uint32_t *free)
{
    uint32_t            i, idx, mask, *hash;
    ds_metrics_slot_t  *s;

    hash = ds_metrics_hash_table(m);
    mask = m->hash_size - 1;

    for (i = ds_metrics_hash(id, len) & mask; /* void */; i = (i + 1) & mask)
    {
        idx = __atomic_load_n(&hash[i], __ATOMIC_ACQUIRE);

        if (idx == 0) {
            *free = i;
            return 0;
        }

        s = &ds_metrics_slots(m)[idx];

        if (s->name_len == len && memcmp(s->name, id, len) == 0) {
            return idx;
        }
    }
}


ds_metrics_slot_t *
ds_metrics_slot(ds_metrics_t *m, const char *id, size_t len,
    ds_metrics_lock_pt lock, ds_metrics_lock_pt unlock, void *data)
{
    uint32_t            idx, free, used;
    ds_metrics_slot_t  *slots, *s;

    slots = ds_metrics_slots(m);

    if (id == NULL || len == 0 || !m->per_recipient) {
        return &slots[DS_METRICS_SLOT_NONE];
    }

    if (len > DS_METRICS_ID_MAX) {
        return &slots[DS_METRICS_SLOT_OTHER];
    }

    idx = ds_metrics_probe(m, id, len, &free);

    if (idx) {
        return &slots[idx];
    }

    if (__atomic_load_n(&m->used, __ATOMIC_ACQUIRE) >= m->max) {
        return &slots[DS_METRICS_SLOT_OTHER];
    }

    if (lock) {
        lock(data);
    }

    /* another worker may have claimed it, or the last slot, meanwhile */
    idx = ds_metrics_probe(m, id, len, &free);
    used = m->used;

    if (idx == 0 && used < m->max) {
        idx = DS_METRICS_FIXED_SLOTS + used;
        s = &slots[idx];
        memcpy(s->name, id, len);
        s->name[len] = '\0';
        s->name_len = (uint32_t) len;

        __atomic_store_n(&m->used, used + 1, __ATOMIC_RELEASE);
        __atomic_store_n(&ds_metrics_hash_table(m)[free], idx,
                         __ATOMIC_RELEASE);
    }

    if (unlock) {
        unlock(data);
    }

    return &slots[idx ? idx : DS_METRICS_SLOT_OTHER];
}


#define ds_metrics_add(p, n)                                                  \
    (void) __atomic_fetch_add((p), (uint64_t) (n), __ATOMIC_RELAXED)


void
ds_metrics_request(ds_metrics_slot_t *s, ds_op_t op,
    ds_metrics_decision_t decision, unsigned reason, uint64_t bytes)
{
    if ((unsigned) op >= DS_METRICS_OPS) {
        op = DS_OP_UNKNOWN;
    }

    if ((unsigned) decision >= DS_METRICS_DECISIONS) {
        decision = DS_METRICS_ERROR;
    }

    if (reason >= DS_REASON_COUNT || reason >= DS_METRICS_REASON_NONE) {
        reason = DS_METRICS_REASON_NONE;
    }

    ds_metrics_add(&s->c.requests[op][decision][reason], 1);

    if (bytes) {
        ds_metrics_add(&s->c.response_bytes, bytes);
    }
}


void
ds_metrics_disclosed(ds_metrics_slot_t *s, int64_t files, int64_t bytes,
    int64_t records)
{
    ds_metrics_add(&s->c.disclosed_answers, 1);

    if (files > 0) {
        ds_metrics_add(&s->c.disclosed_files, files);
    }

    if (bytes > 0) {
        ds_metrics_add(&s->c.disclosed_bytes, bytes);
    }

    if (records > 0) {
        ds_metrics_add(&s->c.disclosed_records, records);
    }
}


void
ds_metrics_rl(ds_metrics_slot_t *s, ds_metrics_rl_t outcome)
{
    if ((unsigned) outcome < DS_METRICS_RL_COUNT) {
        ds_metrics_add(&s->c.rl[outcome], 1);
    }
}


void
ds_metrics_latency(ds_metrics_t *m, ds_metrics_lat_t which, uint64_t ms)
{
    unsigned  b;

    if ((unsigned) which >= DS_METRICS_LAT_COUNT) {
        return;
    }

    for (b = 0; b < DS_METRICS_BUCKETS; b++) {
        if (ms <= ds_metrics_bucket_ms[b]) {
            break;
        }
    }

    /* per bucket, not cumulative: the writer sums them up */
    ds_metrics_add(&m->lat[which].bucket[b], 1);
    ds_metrics_add(&m->lat[which].sum_ms, ms);
    ds_metrics_add(&m->lat[which].count, 1);
}


void
ds_metrics_audit(ds_metrics_t *m, uint64_t records, uint64_t lost)
{
    if (records) {
        ds_metrics_add(&m->audit_records, records);
    }

    if (lost) {
        ds_metrics_add(&m->audit_lost, lost);
    }
}


void
ds_metrics_reloaded(ds_metrics_t *m, int64_t now_ms)
{
    ds_metrics_add(&m->reloads, 1);
    __atomic_store_n(&m->reloaded_ms, now_ms, __ATOMIC_RELAXED);
}


void
ds_metrics_redis_state(ds_metrics_t *m, unsigned worker, int64_t pid,
    int state)
{
    int64_t               mine;
    ds_metrics_worker_t  *w;

    if (worker >= DS_METRICS_WORKERS || pid <= 0) {
        return;
    }

    w = &m->worker[worker];

    if (state < 0) {
        /* only if still ours: a new worker may have taken the number */
        mine = pid;
        (void) __atomic_compare_exchange_n(&w->pid, &mine, 0, 0,
                                           __ATOMIC_RELEASE,
                                           __ATOMIC_RELAXED);
        return;
    }

    if (__atomic_load_n(&w->pid, __ATOMIC_ACQUIRE) != pid) {
        /* a new process of this number: what the last one left is gone */
        __atomic_store_n(&w->in_flight, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&w->pid, pid, __ATOMIC_RELEASE);
    }

    __atomic_store_n(&w->up, state ? 1u : 0u, __ATOMIC_RELAXED);
}


void
ds_metrics_redis_in_flight(ds_metrics_t *m, unsigned worker, int64_t pid,
    int delta)
{
    ds_metrics_worker_t  *w;

    if (worker >= DS_METRICS_WORKERS
        || __atomic_load_n(&m->worker[worker].pid, __ATOMIC_ACQUIRE) != pid)
    {
        return;
    }

    w = &m->worker[worker];
    (void) __atomic_fetch_add(&w->in_flight, (int64_t) delta,
                              __ATOMIC_RELAXED);
}


void
ds_metrics_redis_event(ds_metrics_t *m, ds_metrics_redis_ev_t ev)
{
    switch (ev) {
    case DS_METRICS_REDIS_TIMEOUT:
        ds_metrics_add(&m->redis_timeouts, 1);
        break;
    case DS_METRICS_REDIS_RECONNECT:
        ds_metrics_add(&m->redis_reconnects, 1);
        break;
    }
}


void
ds_metrics_load_error(ds_metrics_t *m)
{
    ds_metrics_add(&m->load_errors, 1);
}


void
ds_metrics_jwks_fetch(ds_metrics_t *m, int ok)
{
    ds_metrics_add(ok ? &m->jwks_fetches : &m->jwks_failures, 1);
}


ds_metrics_slot_t *
ds_metrics_find(ds_metrics_t *m, const char *id, size_t len)
{
    uint32_t  idx, free;

    if (id == NULL || len == 0 || len > DS_METRICS_ID_MAX
        || !m->per_recipient)
    {
        return NULL;
    }

    idx = ds_metrics_probe(m, id, len, &free);

    return idx ? &ds_metrics_slots(m)[idx] : NULL;
}
