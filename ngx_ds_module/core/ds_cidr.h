/*
 * IPv4/IPv6 CIDR sets for network allow/deny lists.
 *
 * Every address lives in one 128-bit space: IPv4 a.b.c.d is the
 * IPv4-mapped ::ffff:a.b.c.d, so "10.0.0.0/8", "::ffff:10.0.0.0/104"
 * and a client arriving on a dual-stack socket as ::ffff:10.1.2.3 all
 * meet. A set is sorted, merged ranges: a lookup is a binary search,
 * so a 1,000-entry list costs about ten comparisons.
 */

#ifndef DS_CIDR_H
#define DS_CIDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>


typedef struct {
    uint64_t             hi;
    uint64_t             lo;
} ds_ip_t;


typedef struct {
    ds_ip_t              first;
    ds_ip_t              last;          /* inclusive */
} ds_ip_range_t;


typedef struct {
    const ds_ip_range_t *ranges;        /* sorted, disjoint, not adjacent */
    size_t               n;
    unsigned             present:1;     /* the list exists in the policy */
} ds_cidr_set_t;


#define DS_CIDR_TEXT_MAX  64

/*
 * "10.0.0.0/8", "2001:db8::/32", or an address alone (/32, /128).
 * Returns 0, or -1 with a reason ("host bits set: ... 10.0.0.0/8")
 * written into why.
 */
int ds_cidr_parse(const char *s, size_t len, ds_ip_range_t *out,
    char *why, size_t why_size);

/* sorts and merges in place; returns the new count */
size_t ds_cidr_normalize(ds_ip_range_t *r, size_t n);

int ds_cidr_contains(const ds_cidr_set_t *set, const ds_ip_t *ip);

/* every address of sub is in set (diff: did an allow list widen?) */
int ds_cidr_covers(const ds_cidr_set_t *set, const ds_cidr_set_t *sub);

/* AF_INET, AF_INET6; -1 for anything else (unix sockets) */
int ds_ip_from_sockaddr(const struct sockaddr *sa, ds_ip_t *out);

/* one address, IPv4 or IPv6 text (dsctl explain --ip) */
int ds_ip_parse(const char *s, ds_ip_t *out);

#endif /* DS_CIDR_H */
