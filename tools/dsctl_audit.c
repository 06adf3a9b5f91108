/* placeholder until this command family lands */

#include <stdio.h>

#include "dsctl.h"


int
dsctl_audit(int argc, char **argv)
{
    (void) argc;
    (void) argv;
    fprintf(stderr, "dsctl: 'audit' is not built yet\n");
    return DSCTL_USAGE;
}
