/*
 * libFuzzer harness for the audit verifier (dsctl audit verify reads
 * files an attacker may have written): the input is an audit file,
 * fed line by line; lines that begin with '#' are fed as checkpoints
 * (a SIEM's export, which an attacker may also have written). Only
 * "no crash, no leak, no hang" is checked.
 * requires: ds_audit_verify_new ds_audit_verify_line
 * requires: ds_audit_verify_checkpoint
 */

#include <stdint.h>
#include <string.h>

#include "ds_audit.h"


static void
ignore(void *data, const ds_audit_issue_t *is)
{
    (void) data;
    (void) is;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned char  seed[32] = "fuzz-fuzz-fuzz-fuzz-fuzz-fuzz-f";

    size_t               lineno;
    const char          *p, *end, *nl;
    ds_audit_verify_t   *v;
    ds_audit_verify_stats_t  st;

    v = ds_audit_verify_new((size && data[0] & 1) ? seed : NULL,
                            sizeof(seed), ignore, NULL);
    if (v == NULL) {
        return 0;
    }

    p = (const char *) data;
    end = p + size;
    lineno = 0;

    while (p < end) {
        nl = memchr(p, '\n', (size_t) (end - p));
        if (*p == '#') {
            ds_audit_verify_checkpoint(v, "fuzz.cp", ++lineno, p + 1,
                                       (size_t) ((nl ? nl : end) - p - 1));
        } else {
            ds_audit_verify_line(v, "fuzz.log", ++lineno, p,
                                 (size_t) ((nl ? nl : end) - p));
        }
        p = nl ? nl + 1 : end;
    }

    ds_audit_verify_end(v, lineno & 3);
    ds_audit_verify_stats(v, &st);
    ds_audit_verify_free(v);

    return 0;
}
