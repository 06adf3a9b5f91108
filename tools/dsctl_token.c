/* placeholder until this command family lands */

#include <stdio.h>

#include "dsctl.h"


int
dsctl_token(int argc, char **argv)
{
    (void) argc;
    (void) argv;
    fprintf(stderr, "dsctl: 'token' is not built yet\n");
    return DSCTL_USAGE;
}
