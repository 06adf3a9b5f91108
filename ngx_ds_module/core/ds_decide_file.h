/*
 * The decision for a file download in file proxy mode: the capability
 * said who was handed the link and for what; the policy, now, says
 * whether that still holds (docs/dataplane.md).
 *
 * Pure C, no nginx headers.
 */

#ifndef DS_DECIDE_FILE_H
#define DS_DECIDE_FILE_H

#include <stdint.h>
#include <sys/socket.h>

#include "ds_capability.h"
#include "ds_policy.h"


typedef struct {
    /* decoded names of the capability, NUL-terminated, for the verdict */
    char    share[DS_NAME_MAX + 1];
    char    schema[DS_NAME_MAX + 1];
    char    table[DS_NAME_MAX + 1];
    char    token_id[DS_NAME_MAX + 1];
    char    purpose[65];
} ds_file_names_t;


/*
 * Re-check an opened capability live, as ds_decide() checks an API
 * call: the token still in the policy and in its window, its recipient
 * the one the link names, active, within contract, review and
 * attestations, a grant still covering the table for a read that hands
 * out files (query_table or query_changes), the purpose, networks, and
 * the country of the client downloading (country and sa: as in
 * ds_facts_t). A file link carries no credential a client could fix,
 * so the 401s of token denials answer 403 here. names must outlive
 * the verdict's use.
 */
void ds_decide_file(const ds_policy_t *p, const ds_cap_claims_t *c,
    const char *country, const struct sockaddr *sa, int64_t now_ms,
    ds_file_names_t *names, ds_verdict_t *v);

/* the claims' names, NUL-terminated; -1: one is empty or too long */
int ds_decide_file_names(const ds_cap_claims_t *c, ds_file_names_t *names);

/*
 * The verdict for a capability that could not be opened: malformed or
 * under a key not held (file_link_invalid, 404), tampered
 * (file_link_invalid), expired (file_link_expired, 410).
 */
void ds_decide_file_link(ds_cap_result_t rc, ds_verdict_t *v);

#endif /* DS_DECIDE_FILE_H */
