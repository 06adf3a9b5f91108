/*
 * dsctl: command dispatcher.
 */

#include <stdio.h>
#include <string.h>

#include "dsctl.h"


typedef struct {
    const char  *name;
    int        (*run)(int argc, char **argv);
    const char  *help;
} dsctl_command_t;


static const dsctl_command_t  dsctl_commands[] = {
    { "policy", dsctl_policy,
      "policy check|explain|diff|...   validate, query, compare" },
    { "token", dsctl_token,
      "token new|rotate                mint a token, digest and profile" },
    { "profile", dsctl_profile,
      "profile oauth|private-key-jwt   write a v2 (IdP) profile" },
    { "audit", dsctl_audit,
      "audit verify|report             check and summarise audit logs" },
    { "files", dsctl_files,
      "files keygen|seal               file proxy mode keys and links" },
    { "access", dsctl_access,
      "access review                   what recipients used, and did not" },
    { "revoke", dsctl_revoke,
      "revoke recipient|token ID       deny fleet-wide through Redis" },
    { "unrevoke", dsctl_unrevoke,
      "unrevoke recipient|token ID     lift a live revocation" },
    { NULL, NULL, NULL }
};


static void
dsctl_usage(FILE *out)
{
    const dsctl_command_t  *c;

    fprintf(out, "usage: dsctl COMMAND ...\n\ncommands:\n");

    for (c = dsctl_commands; c->name; c++) {
        fprintf(out, "  %s\n", c->help);
    }

    fprintf(out, "\nRun 'dsctl COMMAND --help' for a command's options.\n");
}


int
main(int argc, char **argv)
{
    const dsctl_command_t  *c;

    if (argc < 2) {
        dsctl_usage(stderr);
        return DSCTL_USAGE;
    }

    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        dsctl_usage(stdout);
        return DSCTL_OK;
    }

    for (c = dsctl_commands; c->name; c++) {
        if (strcmp(argv[1], c->name) == 0) {
            return c->run(argc - 1, argv + 1);
        }
    }

    fprintf(stderr, "dsctl: unknown command '%s'\n", argv[1]);
    dsctl_usage(stderr);
    return DSCTL_USAGE;
}
