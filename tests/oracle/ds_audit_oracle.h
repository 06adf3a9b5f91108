/*
 * The test oracle's API: jansson-built records (tests/oracle/).
 */

#ifndef DS_AUDIT_ORACLE_H
#define DS_AUDIT_ORACLE_H

#include "ds_audit.h"

/* records without integrity; NULL on allocation failure */
json_t *ds_audit_request_record(ds_audit_format_t fmt,
    const ds_audit_req_t *rq);

/* type: "chain_start" or "chain_end"; lost: records lost to write errors */
json_t *ds_audit_lifecycle_record(ds_audit_format_t fmt, const char *type,
    int64_t time_ms, const char *instance, long pid, uint64_t requests,
    uint64_t lost);

/* an alert record (ds_audit_alert_t), without integrity */
json_t *ds_audit_alert_record(ds_audit_format_t fmt,
    const ds_audit_alert_t *a);

/*
 * Adds the integrity block to rec (top-level "integrity", or
 * unmapped.dsgw.integrity plus metadata.sequence for OCSF records),
 * computes the MAC and returns the line, '\n'-terminated, malloc'ed.
 * The chain advances only on success.
 */
char *ds_audit_seal(ds_audit_chain_t *c, json_t *rec, size_t *len);

#endif /* DS_AUDIT_ORACLE_H */
