/*
 * Everything in a policy that ends on a date: contracts, attestations,
 * tokens, recertification deadlines and grant approvals. One walk that
 * "dsctl policy expiring" lists and the ds_policy_expiring gauge counts.
 */

#ifndef DS_POLICY_ENDS_H
#define DS_POLICY_ENDS_H

#include <stdint.h>

#include "ds_policy_int.h"


typedef enum {
    DS_END_CONTRACT = 0,
    DS_END_ATTESTATION,
    DS_END_TOKEN,
    DS_END_REVIEW,              /* recipient's or a grant's review_by */
    DS_END_APPROVAL             /* a grant's approval expiry */
} ds_end_kind_t;


typedef struct {
    int64_t                 ends;       /* ms since the epoch */
    ds_end_kind_t           kind;
    const ds_recipient_t   *recipient;
    const char             *id;         /* token id, contract id, type */
    const ds_grant_t       *grant;      /* for a grant's review/approval */
} ds_policy_end_t;


/* nonzero from fn stops the walk and is returned */
typedef int (*ds_policy_end_pt)(const ds_policy_end_t *end, void *ctx);

/* fn for each dated item, recipient by recipient; undated ones skipped */
int ds_policy_each_end(const ds_policy_t *p, ds_policy_end_pt fn, void *ctx);

/* "contract", "attestation", "token", "review", "approval" */
const char *ds_end_kind_name(ds_end_kind_t kind);

#endif /* DS_POLICY_ENDS_H */
