/*
 * libFuzzer harness for ds_purpose_valid, checked against a plain
 * reference implementation of the documented rule:
 * 1..DS_PURPOSE_MAX bytes of [A-Za-z0-9._:-].
 */

#include <stdint.h>
#include <string.h>

#include "ds_http.h"

#define check(x)  do { if (!(x)) { __builtin_trap(); } } while (0)


static int
reference(const uint8_t *p, size_t len)
{
    static const char  ok[] = "abcdefghijklmnopqrstuvwxyz"
                              "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-";
    size_t             i;

    if (len == 0 || len > DS_PURPOSE_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (p[i] == '\0' || memchr(ok, p[i], sizeof(ok) - 1) == NULL) {
            return 0;
        }
    }

    return 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(ds_purpose_valid((const char *) data, size)
          == reference(data, size));

    return 0;
}
