/*
 * CIDR parsing and sets (see ds_cidr.h). inet_pton does the address
 * syntax; the prefix and the host bits are ours, because a list entry
 * such as "10.1.2.3/8" is almost always a typo for a narrower range
 * and must not silently mean 10.0.0.0/8.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "ds_cidr.h"


static int
ds_ip_cmp(const ds_ip_t *a, const ds_ip_t *b)
{
    if (a->hi != b->hi) {
        return a->hi < b->hi ? -1 : 1;
    }

    if (a->lo != b->lo) {
        return a->lo < b->lo ? -1 : 1;
    }

    return 0;
}


static void
ds_ip_from_bytes(const unsigned char b[16], ds_ip_t *ip)
{
    int  i;

    ip->hi = 0;
    ip->lo = 0;

    for (i = 0; i < 8; i++) {
        ip->hi = ip->hi << 8 | b[i];
        ip->lo = ip->lo << 8 | b[8 + i];
    }
}


static void
ds_ip_from_v4(const unsigned char b[4], ds_ip_t *ip)
{
    ip->hi = 0;
    ip->lo = 0xffff00000000ULL
             | (uint64_t) b[0] << 24 | (uint64_t) b[1] << 16
             | (uint64_t) b[2] << 8 | b[3];
}


/* the host part of a /bits prefix: ones where the host bits are */
static void
ds_ip_hostmask(unsigned bits, ds_ip_t *m)
{
    if (bits == 0) {
        m->hi = ~0ULL;
        m->lo = ~0ULL;

    } else if (bits < 64) {
        m->hi = ~0ULL >> bits;
        m->lo = ~0ULL;

    } else if (bits == 64) {
        m->hi = 0;
        m->lo = ~0ULL;

    } else if (bits < 128) {
        m->hi = 0;
        m->lo = ~0ULL >> (bits - 64);

    } else {
        m->hi = 0;
        m->lo = 0;
    }
}


int
ds_ip_parse(const char *s, ds_ip_t *out)
{
    unsigned char  b[16];

    if (inet_pton(AF_INET, s, b) == 1) {
        ds_ip_from_v4(b, out);
        return 0;
    }

    if (inet_pton(AF_INET6, s, b) == 1) {
        ds_ip_from_bytes(b, out);
        return 0;
    }

    return -1;
}


int
ds_cidr_parse(const char *s, size_t len, ds_ip_range_t *out, char *why,
    size_t why_size)
{
    char           addr[DS_CIDR_TEXT_MAX], net[DS_CIDR_TEXT_MAX];
    const char    *slash;
    unsigned char  b[16];
    unsigned       bits, max, v4;
    size_t         alen, i;
    ds_ip_t        m;

    slash = memchr(s, '/', len);
    alen = slash ? (size_t) (slash - s) : len;

    if (alen == 0 || alen >= sizeof(addr) || memchr(s, '\0', len)) {
        snprintf(why, why_size, "not an IPv4 or IPv6 address");
        return -1;
    }

    memcpy(addr, s, alen);
    addr[alen] = '\0';

    if (inet_pton(AF_INET, addr, b) == 1) {
        v4 = 1;
        max = 32;
        ds_ip_from_v4(b, &out->first);

    } else if (inet_pton(AF_INET6, addr, b) == 1) {
        v4 = 0;
        max = 128;
        ds_ip_from_bytes(b, &out->first);

    } else {
        snprintf(why, why_size, "not an IPv4 or IPv6 address");
        return -1;
    }

    bits = max;

    if (slash) {
        i = alen + 1;

        /* 1 to 3 digits, no sign, no leading zero: "/08" is a typo */
        if (i == len || len - i > 3 || (s[i] == '0' && len - i > 1)) {
            snprintf(why, why_size, "bad prefix length: must be 0 to %u",
                     max);
            return -1;
        }

        for (bits = 0; i < len; i++) {
            if (s[i] < '0' || s[i] > '9') {
                snprintf(why, why_size, "bad prefix length: must be 0 to %u",
                         max);
                return -1;
            }
            bits = bits * 10 + (unsigned) (s[i] - '0');
        }

        if (bits > max) {
            snprintf(why, why_size, "bad prefix length: must be 0 to %u",
                     max);
            return -1;
        }
    }

    ds_ip_hostmask(v4 ? bits + 96 : bits, &m);

    if ((out->first.hi & m.hi) || (out->first.lo & m.lo)) {
        out->first.hi &= ~m.hi;
        out->first.lo &= ~m.lo;

        if (v4) {
            snprintf(net, sizeof(net), "%u.%u.%u.%u",
                     (unsigned) (out->first.lo >> 24 & 0xff),
                     (unsigned) (out->first.lo >> 16 & 0xff),
                     (unsigned) (out->first.lo >> 8 & 0xff),
                     (unsigned) (out->first.lo & 0xff));
        } else {
            for (i = 0; i < 8; i++) {
                b[i] = (unsigned char) (out->first.hi >> (56 - 8 * i));
                b[8 + i] = (unsigned char) (out->first.lo >> (56 - 8 * i));
            }
            inet_ntop(AF_INET6, b, net, sizeof(net));
        }

        snprintf(why, why_size, "host bits set: the network is %s/%u",
                 net, bits);
        return -1;
    }

    out->last.hi = out->first.hi | m.hi;
    out->last.lo = out->first.lo | m.lo;

    return 0;
}


static int
ds_range_cmp(const void *a, const void *b)
{
    return ds_ip_cmp(&((const ds_ip_range_t *) a)->first,
                     &((const ds_ip_range_t *) b)->first);
}


/* last + 1 == next, without overflow at the top of the space */
static int
ds_ip_adjacent(const ds_ip_t *last, const ds_ip_t *next)
{
    ds_ip_t  n;

    if (last->hi == ~0ULL && last->lo == ~0ULL) {
        return 0;
    }

    n.lo = last->lo + 1;
    n.hi = last->hi + (n.lo == 0);

    return ds_ip_cmp(&n, next) == 0;
}


size_t
ds_cidr_normalize(ds_ip_range_t *r, size_t n)
{
    size_t  i, k;

    if (n == 0) {
        return 0;
    }

    qsort(r, n, sizeof(ds_ip_range_t), ds_range_cmp);

    for (k = 0, i = 1; i < n; i++) {
        if (ds_ip_cmp(&r[i].first, &r[k].last) <= 0
            || ds_ip_adjacent(&r[k].last, &r[i].first))
        {
            if (ds_ip_cmp(&r[i].last, &r[k].last) > 0) {
                r[k].last = r[i].last;
            }
            continue;
        }

        r[++k] = r[i];
    }

    return k + 1;
}


/* the index of the range holding ip, or -1 */
static long
ds_cidr_find(const ds_cidr_set_t *set, const ds_ip_t *ip)
{
    size_t  lo, hi, mid;

    lo = 0;
    hi = set->n;

    /* the last range whose first <= ip */
    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (ds_ip_cmp(&set->ranges[mid].first, ip) <= 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }

    if (lo == 0 || ds_ip_cmp(ip, &set->ranges[lo - 1].last) > 0) {
        return -1;
    }

    return (long) lo - 1;
}


int
ds_cidr_contains(const ds_cidr_set_t *set, const ds_ip_t *ip)
{
    return ds_cidr_find(set, ip) >= 0;
}


/* merged ranges: each of sub's must sit inside one of set's */
int
ds_cidr_covers(const ds_cidr_set_t *set, const ds_cidr_set_t *sub)
{
    size_t  i;
    long    k;

    for (i = 0; i < sub->n; i++) {
        k = ds_cidr_find(set, &sub->ranges[i].first);

        if (k < 0
            || ds_ip_cmp(&sub->ranges[i].last, &set->ranges[k].last) > 0)
        {
            return 0;
        }
    }

    return 1;
}


int
ds_ip_from_sockaddr(const struct sockaddr *sa, ds_ip_t *out)
{
    const struct sockaddr_in   *sin;
    const struct sockaddr_in6  *sin6;

    if (sa == NULL) {
        return -1;
    }

    switch (sa->sa_family) {

    case AF_INET:
        sin = (const struct sockaddr_in *) sa;
        ds_ip_from_v4((const unsigned char *) &sin->sin_addr, out);
        return 0;

    case AF_INET6:
        sin6 = (const struct sockaddr_in6 *) sa;
        ds_ip_from_bytes(sin6->sin6_addr.s6_addr, out);
        return 0;
    }

    return -1;
}
