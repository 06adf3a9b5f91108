/*
 * Between ds_policy_diff.c and ds_policy_diff_fed.c (identity
 * federation, issue #15); not for callers.
 */

#ifndef DS_POLICY_DIFF_INT_H
#define DS_POLICY_DIFF_INT_H

#include "ds_policy_diff.h"
#include "ds_policy_int.h"


/* one change: subject ("federation <issuer> sub") and text */
typedef void (*ds_fed_emit_pt)(void *d, ds_diff_kind_t kind,
    const char *subject, const char *text);

void ds_diff_federation(const ds_recipient_t *o, const ds_recipient_t *n,
    ds_fed_emit_pt emit, void *d);
void ds_diff_issuers(const ds_policy_t *old, const ds_policy_t *new,
    ds_fed_emit_pt emit, void *d);

#endif /* DS_POLICY_DIFF_INT_H */
