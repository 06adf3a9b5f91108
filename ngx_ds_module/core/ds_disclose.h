/*
 * The disclosure reader: query answers (NDJSON) read as they stream,
 * line by line, into what was handed out -- files, bytes, records,
 * partitions, until when the links work -- and, in file proxy mode,
 * with each cloud URL replaced by a gateway capability
 * (docs/dataplane.md).
 *
 * Memory is bounded by the longest line allowed, whatever the length of
 * the answer: bytes go in, checked lines come out, in order. A line the
 * reader cannot read stops it (the answer is cut): nothing after the
 * last good line is handed out.
 *
 * Pure C (jansson, OpenSSL), no nginx headers.
 */

#ifndef DS_DISCLOSE_H
#define DS_DISCLOSE_H

#include <stddef.h>
#include <stdint.h>

#include "ds_capability.h"

#define DS_DISCLOSE_PARTITIONS_MAX  16
#define DS_DISCLOSE_PARTITION_LEN   128     /* "column=value", capped */
#define DS_DISCLOSE_LINE_DEFAULT    (1024 * 1024)


typedef enum {
    DS_DF_UNKNOWN = 0,
    DS_DF_PARQUET,
    DS_DF_DELTA
} ds_disclose_format_t;


/* what one answer handed out */
typedef struct {
    int64_t         lines;
    int64_t         files;              /* actions with a URL */
    int64_t         bytes;              /* sum of their "size" */
    int64_t         records;            /* sum of stats.numRecords */
    int64_t         n_file;             /* snapshot files */
    int64_t         n_add;
    int64_t         n_cdf;
    int64_t         n_remove;
    int64_t         exposed_until;      /* latest link expiry, Unix ms */
    int64_t         expires_first;      /* earliest link expiry */
    int64_t         version_min;        /* of the actions, for changes */
    int64_t         version_max;
    int64_t         table_version;      /* Delta-Table-Version (shell) */

    unsigned        has_records:1;      /* some file carried numRecords */
    unsigned        has_versions:1;
    unsigned        has_table_version:1;
    unsigned        proxied:1;          /* URLs replaced by capabilities */
    unsigned        partitions_capped:1;

    ds_disclose_format_t  format;

    size_t          npartitions;
    char            partitions[DS_DISCLOSE_PARTITIONS_MAX]
                              [DS_DISCLOSE_PARTITION_LEN + 1];

    const char     *cut;                /* why the answer was cut, static */
} ds_disclosure_t;


typedef struct {
    size_t               max_line;      /* 0: DS_DISCLOSE_LINE_DEFAULT */

    /*
     * File proxy mode when ring is set: each URL becomes prefix +
     * capability, sealed with base's bindings and the file's id; its
     * expiry is the URL's, but at most now_ms + max_ttl_ms. Lines of a
     * kind the reader does not know are refused then (they might carry
     * URLs it would not replace).
     */
    const ds_cap_ring_t *ring;
    const char          *prefix;
    size_t               prefix_len;
    ds_cap_claims_t      base;          /* recipient, token, table, purpose */
    int64_t              now_ms;
    int64_t              max_ttl_ms;

    unsigned             strip_dir:1;   /* "dir" out of accessModes */
} ds_disclose_conf_t;


typedef struct ds_disclose_s  ds_disclose_t;


/* NULL without memory; conf is copied, out is the caller's (zeroed) */
ds_disclose_t *ds_disclose_new(const ds_disclose_conf_t *conf,
    ds_disclosure_t *out);
void ds_disclose_free(ds_disclose_t *d);

/*
 * Bytes of the answer in. 0, or -1 when the answer is cut (out->cut
 * says why; everything fed after is ignored). The lines checked so far
 * are waiting in ds_disclose_pending().
 */
int ds_disclose_feed(ds_disclose_t *d, const char *p, size_t n);

/* the end of the answer: a last line without '\n' is read too */
int ds_disclose_finish(ds_disclose_t *d);

/* the checked bytes not taken yet, and taking n of them */
const char *ds_disclose_pending(const ds_disclose_t *d, size_t *len);
void ds_disclose_take(ds_disclose_t *d, size_t n);

const char *ds_disclose_format_name(ds_disclose_format_t f);

#endif /* DS_DISCLOSE_H */
