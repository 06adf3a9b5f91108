/* placeholder until live revocation lands */

#include <stdio.h>

#include "dsctl.h"


int
dsctl_revoke(int argc, char **argv)
{
    (void) argc;
    (void) argv;
    fprintf(stderr, "dsctl: 'revoke' is not built yet\n");
    return DSCTL_USAGE;
}


int
dsctl_unrevoke(int argc, char **argv)
{
    return dsctl_revoke(argc, argv);
}
