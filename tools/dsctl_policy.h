/*
 * dsctl policy subcommands split over files.
 */

#ifndef DSCTL_POLICY_H
#define DSCTL_POLICY_H

int dsctl_policy_expiring(int argc, char **argv);   /* dsctl_expiring.c */

#endif /* DSCTL_POLICY_H */
