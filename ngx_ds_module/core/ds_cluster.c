/*
 * Redis Cluster, the pure parts: slots, slot map, redirections. See
 * ds_cluster.h.
 */

#include <string.h>

#include "ds_cluster.h"


uint16_t
ds_cluster_crc16(const char *buf, size_t len)
{
    size_t    i;
    int       b;
    uint16_t  crc;

    crc = 0;

    /* bit by bit: keys are short, and no table to get wrong */
    for (i = 0; i < len; i++) {
        crc ^= (uint16_t) ((unsigned char) buf[i] << 8);

        for (b = 0; b < 8; b++) {
            crc = (crc & 0x8000) ? (uint16_t) ((crc << 1) ^ 0x1021)
                                 : (uint16_t) (crc << 1);
        }
    }

    return crc;
}


unsigned
ds_cluster_key_slot(const char *key, size_t len)
{
    size_t  open, close;

    for (open = 0; open < len; open++) {
        if (key[open] == '{') {
            break;
        }
    }

    if (open < len) {
        for (close = open + 1; close < len; close++) {
            if (key[close] == '}') {
                break;
            }
        }

        if (close < len && close > open + 1) {
            return ds_cluster_crc16(key + open + 1, close - open - 1)
                   & (DS_CLUSTER_SLOTS - 1);
        }
    }

    return ds_cluster_crc16(key, len) & (DS_CLUSTER_SLOTS - 1);
}


/* a decimal in [0, max] from s[0..len); -1 if not */
static long
ds_cluster_number(const char *s, size_t len, long max)
{
    size_t  i;
    long    n;

    if (len == 0 || len > 5) {
        return -1;
    }

    n = 0;

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        n = n * 10 + (s[i] - '0');
    }

    return n <= max ? n : -1;
}


int
ds_cluster_parse_redirect(const char *err, size_t len,
    ds_cluster_redirect_t *r)
{
    size_t       skip, i, sp, colon;
    long         n;
    const char  *p;

    memset(r, 0, sizeof(*r));

    if (len >= 6 && memcmp(err, "MOVED ", 6) == 0) {
        r->kind = DS_CLUSTER_MOVED;
        skip = 6;

    } else if (len >= 4 && memcmp(err, "ASK ", 4) == 0) {
        r->kind = DS_CLUSTER_ASK;
        skip = 4;

    } else {
        return 0;
    }

    p = err + skip;
    len -= skip;

    for (sp = 0; sp < len && p[sp] != ' '; sp++) { /* void */ }

    n = ds_cluster_number(p, sp, DS_CLUSTER_SLOTS - 1);
    if (n < 0 || sp == len) {
        return -1;
    }

    r->slot = (unsigned) n;
    p += sp + 1;
    len -= sp + 1;

    colon = len;

    for (i = 0; i < len; i++) {
        if (p[i] == ' ' || p[i] == '\r' || p[i] == '\n') {
            return -1;
        }

        if (p[i] == ':') {
            colon = i;
        }
    }

    if (colon == len || colon > DS_CLUSTER_HOST_MAX) {
        return -1;
    }

    n = ds_cluster_number(p + colon + 1, len - colon - 1, 65535);
    if (n <= 0) {
        return -1;
    }

    memcpy(r->host, p, colon);
    r->host[colon] = '\0';
    r->port = (unsigned) n;

    return 1;
}


void
ds_cluster_map_init(ds_cluster_map_t *m)
{
    memset(m->owner, 0xff, sizeof(m->owner));
    m->nnodes = 0;
}


static int
ds_cluster_map_node_index(ds_cluster_map_t *m, const char *host,
    size_t host_len, unsigned port)
{
    size_t  i;

    if (host_len == 0 || host_len > DS_CLUSTER_HOST_MAX || port == 0
        || port > 65535 || memchr(host, '\0', host_len) != NULL)
    {
        return -1;
    }

    for (i = 0; i < m->nnodes; i++) {
        if (m->nodes[i].port == port
            && strlen(m->nodes[i].host) == host_len
            && memcmp(m->nodes[i].host, host, host_len) == 0)
        {
            return (int) i;
        }
    }

    if (m->nnodes == DS_CLUSTER_NODES_MAX) {
        return -1;
    }

    memcpy(m->nodes[m->nnodes].host, host, host_len);
    m->nodes[m->nnodes].host[host_len] = '\0';
    m->nodes[m->nnodes].port = port;

    return (int) m->nnodes++;
}


int
ds_cluster_map_add(ds_cluster_map_t *m, unsigned start, unsigned end,
    const char *host, size_t host_len, unsigned port)
{
    int       k;
    unsigned  s;

    if (start > end || end >= DS_CLUSTER_SLOTS) {
        return -1;
    }

    k = ds_cluster_map_node_index(m, host, host_len, port);
    if (k < 0) {
        return -1;
    }

    for (s = start; s <= end; s++) {
        m->owner[s] = (uint16_t) k;
    }

    return k;
}


int
ds_cluster_map_moved(ds_cluster_map_t *m, unsigned slot, const char *host,
    unsigned port)
{
    return ds_cluster_map_add(m, slot, slot, host, strlen(host), port);
}


const ds_cluster_node_t *
ds_cluster_map_node(const ds_cluster_map_t *m, unsigned slot)
{
    if (slot >= DS_CLUSTER_SLOTS || m->owner[slot] == DS_CLUSTER_NOBODY) {
        return NULL;
    }

    return &m->nodes[m->owner[slot]];
}


int
ds_cluster_map_complete(const ds_cluster_map_t *m)
{
    size_t  s;

    for (s = 0; s < DS_CLUSTER_SLOTS; s++) {
        if (m->owner[s] == DS_CLUSTER_NOBODY) {
            return 0;
        }
    }

    return 1;
}
