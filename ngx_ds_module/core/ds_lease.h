/*
 * Leases of GCRA cells: a worker charges k cells of a busy limit in one
 * script call (ds_gcra.h, ARGV[6]) and spends them locally, so Redis
 * sees one call per k requests instead of one per request.
 *
 * Pure C, no nginx headers; times are milliseconds of any monotonic
 * clock (the shell passes ngx_current_msec). What a lease guarantees:
 *
 *   - cells are charged in Redis when leased, so the fleet never admits
 *     more than the limit charged; a cell is spent at most max_age
 *     after the call that charged it was sent, else it expires unused;
 *   - every lease reply carries the revocation status, and a lease is
 *     void max_age after its call was sent: a revocation takes effect
 *     fleet-wide within max_age;
 *   - k adapts to the rate seen (requests per max_age), is at most
 *     max_cells and at most (N + B) / DS_LEASE_BUCKET_DIV, and a quiet
 *     or small limit gets k = 1: exact, one call per request.
 *
 * A lease holds DS_LEASE_SLOTS grants so a refresh taken ahead of need
 * never throws away the cells of the grant before it.
 */

#ifndef DS_LEASE_H
#define DS_LEASE_H

#include <stddef.h>
#include <stdint.h>

#include "ds_gcra.h"

#define DS_LEASE_SLOTS         2
#define DS_LEASE_BUCKET_DIV    8
#define DS_LEASE_MAX_AGE_MAX   1000       /* ms: revocation within 1 s */
#define DS_LEASE_CELLS_MAX     10000


typedef struct {
    uint64_t    max_age_ms;
    uint32_t    max_cells;
} ds_lease_conf_t;


typedef struct {
    uint32_t    cells;              /* unspent; unused if unlimited */
    uint64_t    sent_ms;            /* when the charging call was sent */
    int64_t     remaining;          /* Redis' answer at the grant */
    int64_t     reset_ms;
    unsigned    valid:1;
} ds_lease_slot_t;


typedef struct {
    ds_lease_slot_t  slot[DS_LEASE_SLOTS];
    int64_t          limit;         /* N + B; 0: revocation only */
    uint64_t         win_start_ms;  /* rate: requests per max_age */
    uint32_t         win_count;
    uint32_t         last_rate;
    unsigned         refreshing:1;  /* a lease call is on the wire */
} ds_lease_t;


/* limit: N + B of the limit, 0 for a revocation-only lease */
void ds_lease_init(ds_lease_t *l, int64_t limit, uint64_t now);

/* counts one request in the rate window */
void ds_lease_seen(ds_lease_t *l, const ds_lease_conf_t *c, uint64_t now);

/*
 * Spends one cell of a valid grant (the oldest first), or, for a
 * revocation-only lease, uses a valid "not revoked". Returns 1 and fills
 * res (ALLOWED, and the RateLimit-* values derived from the lease) or 0:
 * no valid cell, the request asks Redis.
 */
int ds_lease_take(ds_lease_t *l, const ds_lease_conf_t *c, uint64_t now,
    ds_gcra_result_t *res);

/* cells to charge in the next call: 1 when quiet or small (exact) */
uint32_t ds_lease_cells(const ds_lease_t *l, const ds_lease_conf_t *c);

/*
 * 1 when a refresh should be sent now, ahead of need: none on the wire,
 * and the valid cells are at most half of k, or the newest grant is
 * older than max_age / 2. A quiet limit (k = 1) never refreshes.
 */
int ds_lease_wants_refresh(const ds_lease_t *l, const ds_lease_conf_t *c,
    uint64_t now);

/*
 * A reply to a call sent at sent_ms that charged granted cells, of which
 * used were spent by the request that made the call (0 for a refresh).
 * A revocation voids the lease; LIMITED stores nothing.
 */
void ds_lease_grant(ds_lease_t *l, const ds_lease_conf_t *c,
    uint64_t sent_ms, const ds_gcra_result_t *res, int64_t granted,
    int64_t used);

/* drops every grant (a revocation seen, a reload of the limit) */
void ds_lease_void(ds_lease_t *l);

/* unspent valid cells (also what RateLimit-Remaining adds) */
uint32_t ds_lease_unspent(const ds_lease_t *l, const ds_lease_conf_t *c,
    uint64_t now);

/*
 * The script's reply with or without the 6th field (granted cells).
 * granted is 1 for a 5-field ALLOWED reply with a limit, 0 otherwise.
 * Returns 0, or -1 if the reply is not one the script can give for
 * cells k.
 */
int ds_lease_parse_reply(const long long *v, size_t n, uint32_t k,
    ds_gcra_result_t *res, int64_t *granted);

#endif /* DS_LEASE_H */
