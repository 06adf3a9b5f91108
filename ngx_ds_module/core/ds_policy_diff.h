/*
 * What access changes between two policies, per recipient, in words a
 * reviewer reads: each change is a widening (someone may do more, or
 * from more places, or for longer), a narrowing, or neither.
 *
 * CI uses "any widening" to ask for a second approver; when a change is
 * ambiguous (a token's secret replaced) it counts as a widening.
 */

#ifndef DS_POLICY_DIFF_H
#define DS_POLICY_DIFF_H

#include "ds_policy.h"


typedef enum {
    DS_DIFF_WIDEN = 0,
    DS_DIFF_NARROW,
    DS_DIFF_CHANGE
} ds_diff_kind_t;


typedef struct {
    ds_diff_kind_t   kind;
    const char      *recipient;         /* NULL: policy-wide */
    const char      *subject;           /* "recipient", "token fa-1",
                                           "grant claims/adjudicated/x" */
    const char      *text;              /* "operations added: query_table" */
} ds_diff_item_t;


typedef void (*ds_diff_handler_pt)(void *data, const ds_diff_item_t *item);

/* calls handler once per change, recipients in new's order, then the
   removed ones; returns the number of widenings */
size_t ds_policy_diff(const ds_policy_t *old, const ds_policy_t *new,
    ds_diff_handler_pt handler, void *data);

const char *ds_diff_kind_name(ds_diff_kind_t kind);    /* "widen" */

#endif /* DS_POLICY_DIFF_H */
