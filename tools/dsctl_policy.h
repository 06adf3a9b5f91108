/*
 * dsctl policy subcommands split over files.
 */

#ifndef DSCTL_POLICY_H
#define DSCTL_POLICY_H

int dsctl_policy_expiring(int argc, char **argv);   /* dsctl_expiring.c */
int dsctl_policy_diff(int argc, char **argv);       /* dsctl_diff.c */

/* dsctl policy diff --fail-on-widen: access widens */
#define DSCTL_WIDENED  3

#endif /* DSCTL_POLICY_H */
