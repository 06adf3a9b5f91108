/*
 * dsctl policy subcommands split over files.
 */

#ifndef DSCTL_POLICY_H
#define DSCTL_POLICY_H

int dsctl_policy_expiring(int argc, char **argv);   /* dsctl_expiring.c */
int dsctl_policy_diff(int argc, char **argv);       /* dsctl_diff.c */

/* dsctl policy diff --fail-on-widen: access widens */
#define DSCTL_WIDENED  3

#include <stddef.h>

#include "ds_policy.h"

/* a policy from a file, a directory or git's REV:PATH (dsctl_diff.c) */
typedef struct {
    const char   *spec;             /* as given */
    char          tmp[64];          /* "" unless read from git */
    ds_policy_t  *p;
} dsctl_side_t;

int dsctl_side_load(dsctl_side_t *side);        /* DSCTL_OK, _FAIL, _USAGE */
void dsctl_side_cleanup(dsctl_side_t *side);    /* and ds_policy_free */
int dsctl_git(char *const *argv, char **out, size_t *len);

/* dsctl_approvals.c: errors printed, their number returned */
/* each recipient's index among those of its own file (malloc'ed) */
size_t *dsctl_source_positions(const ds_policy_t *p);

int dsctl_check_approvals(const ds_policy_t *p, const ds_policy_t *base,
    const char *author);

#endif /* DSCTL_POLICY_H */
