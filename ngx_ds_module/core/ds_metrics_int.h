/*
 * The metrics table's layout, shared by its parts (ds_metrics.c,
 * ds_metrics_write.c) and the unit tests; nothing else looks inside.
 */

#ifndef DS_METRICS_INT_H
#define DS_METRICS_INT_H

#include <stdint.h>

#include "ds_metrics.h"

#define DS_METRICS_MAGIC            0x64736d32u     /* "dsm2" */
#define DS_METRICS_LAYOUT                                                     \
    (((uint32_t) DS_METRICS_OPS << 24) | (DS_METRICS_DECISIONS << 20)         \
     | (DS_METRICS_REASONS << 12) | (DS_METRICS_RL_COUNT << 8)                \
     | (DS_METRICS_LAT_COUNT << 5) | DS_METRICS_BUCKETS)

#define DS_METRICS_SLOT_OTHER       0
#define DS_METRICS_SLOT_NONE        1
#define DS_METRICS_FIXED_SLOTS      2
#define DS_METRICS_MAX_RECIPIENTS   (1u << 20)


/*
 * One worker's Redis connection, in the entry of its worker number.
 * pid says whose it is: an old worker still draining after a reload
 * leaves alone an entry a new worker of the same number has claimed.
 */
typedef struct {
    int64_t     pid;                /* 0: no worker with Redis here */
    int64_t     in_flight;          /* commands sent, reply not read */
    uint32_t    up;
    uint32_t    pad;
} ds_metrics_worker_t;


typedef struct {
    uint64_t    bucket[DS_METRICS_BUCKETS + 1];     /* the last: +Inf */
    uint64_t    sum_ms;
    uint64_t    count;
} ds_metrics_hist_t;


struct ds_metrics_s {
    uint32_t            magic;
    uint32_t            layout;
    uint32_t            slot_size;
    uint32_t            max;            /* recipient slots */
    uint32_t            used;           /* of them, claimed */
    uint32_t            hash_size;      /* a power of two */
    uint32_t            per_recipient;
    uint32_t            pad;
    uint64_t            slots_offset;

    uint64_t            reloads;
    int64_t             reloaded_ms;
    ds_metrics_hist_t   lat[DS_METRICS_LAT_COUNT];
    uint64_t            audit_records;
    uint64_t            audit_lost;

    /* Redis: each worker's connection, and what they all counted */
    ds_metrics_worker_t worker[DS_METRICS_WORKERS];
    uint64_t            redis_timeouts;
    uint64_t            redis_reconnects;

    uint64_t            load_errors;    /* policy loads refused */

    /* issuers' jwks_uri fetches (ngx_http_ds_jwks.c): good, failed */
    uint64_t            jwks_fetches;
    uint64_t            jwks_failures;

    /* then uint32_t hash[hash_size] (slot index, 0: empty), slots */
};


#define ds_metrics_hash_table(m)                                              \
    ((uint32_t *) ((char *) (m) + sizeof(ds_metrics_t)))

#define ds_metrics_slots(m)                                                   \
    ((ds_metrics_slot_t *) ((char *) (m) + (m)->slots_offset))

#endif /* DS_METRICS_INT_H */
