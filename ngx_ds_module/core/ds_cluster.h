/*
 * Redis Cluster, the pure parts (issue #16): key slots (CRC16 and hash
 * tags), the slot map a CLUSTER SLOTS answer fills, and the MOVED / ASK
 * redirections. No nginx or hiredis headers: the gateway's transport
 * and dsctl share it, and tests/unit/test_cluster.c checks it.
 */

#ifndef DS_CLUSTER_H
#define DS_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#define DS_CLUSTER_SLOTS      16384
#define DS_CLUSTER_NODES_MAX  64        /* primaries a map can name */
#define DS_CLUSTER_HOST_MAX   255


/* CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0), Redis' key hash */
uint16_t ds_cluster_crc16(const char *buf, size_t len);

/*
 * The slot of a key: CRC16 of its hash tag (the bytes between the first
 * '{' and the first '}' after it, if not empty), else of the whole key,
 * modulo 16384.
 */
unsigned ds_cluster_key_slot(const char *key, size_t len);


typedef enum {
    DS_CLUSTER_MOVED = 1,     /* the slot lives elsewhere: update the map */
    DS_CLUSTER_ASK            /* this once: ASKING + resend, map as is */
} ds_cluster_redirect_kind_t;


typedef struct {
    ds_cluster_redirect_kind_t  kind;
    unsigned                    slot;
    char                        host[DS_CLUSTER_HOST_MAX + 1]; /* "" same */
    unsigned                    port;
} ds_cluster_redirect_t;

/*
 * An error reply "MOVED <slot> <host>:<port>" or "ASK ..." (err without
 * the leading '-'; host may be an IPv6 address, split at the last ':',
 * or empty, meaning the endpoint asked). Returns 1 and fills r, 0 if
 * err is another error, -1 if it is a malformed redirection.
 */
int ds_cluster_parse_redirect(const char *err, size_t len,
    ds_cluster_redirect_t *r);


typedef struct {
    char        host[DS_CLUSTER_HOST_MAX + 1];
    unsigned    port;
} ds_cluster_node_t;


/* which primary serves each slot; 0xffff: nobody (yet) */
typedef struct {
    uint16_t            owner[DS_CLUSTER_SLOTS];
    ds_cluster_node_t   nodes[DS_CLUSTER_NODES_MAX];
    size_t              nnodes;
} ds_cluster_map_t;

#define DS_CLUSTER_NOBODY  0xffff

void ds_cluster_map_init(ds_cluster_map_t *m);

/*
 * One range of a CLUSTER SLOTS answer (its primary, the first address
 * of the entry). Returns the node's index, -1 on a bad range, port or
 * host, or too many nodes.
 */
int ds_cluster_map_add(ds_cluster_map_t *m, unsigned start, unsigned end,
    const char *host, size_t host_len, unsigned port);

/* a MOVED: slot now served by host:port; the node's index or -1 */
int ds_cluster_map_moved(ds_cluster_map_t *m, unsigned slot,
    const char *host, unsigned port);

/* the node serving slot, NULL if none: ask CLUSTER SLOTS again */
const ds_cluster_node_t *ds_cluster_map_node(const ds_cluster_map_t *m,
    unsigned slot);

/* 1 if every slot has a primary */
int ds_cluster_map_complete(const ds_cluster_map_t *m);

#endif /* DS_CLUSTER_H */
