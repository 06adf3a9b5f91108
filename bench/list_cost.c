/*
 * The list filter's worst case on the event loop: CPU time of one
 * ds_list_filter() call (one pass, kept items copied) over /tables bodies
 * of growing size, up to the ds_list_max_size default. A measurement,
 * not a test: bench/run_list_cost.sh prints the table for
 * bench/README.md.
 *
 *   list_cost SIZE...      sizes in bytes
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ds_list_filter.h"


static const char  policy_json[] =
    "{\"version\": 1, \"recipients\": ["
    " {\"id\": \"vendor\", \"status\": \"active\","
    "  \"tokens\": [{\"id\": \"v1\", \"sha256\":"
    "   \"0000000000000000000000000000000000000000000000000000000000000001\""
    "  }],"
    "  \"grants\": [{\"share\": \"claims\", \"schema\": \"adjudicated\","
    "               \"table\": \"table_00001\"}]}]}";


/* a /tables page of items like the reference server's, ~size bytes */
static char *
make_body(size_t size, size_t *len, size_t *items)
{
    char    *b;
    size_t   n, cap;

    cap = size + 256;
    b = malloc(cap);
    if (b == NULL) {
        return NULL;
    }

    n = (size_t) snprintf(b, cap, "{\"items\":[");
    *items = 0;

    while (n + 128 < size) {
        n += (size_t) snprintf(b + n, cap - n,
                               "%s{\"name\":\"table_%05zu\",\"schema\":"
                               "\"adjudicated\",\"share\":\"claims\","
                               "\"shareId\":\"7f0c\",\"id\":\"%08zx\"}",
                               *items ? "," : "", *items, *items);
        (*items)++;
    }

    n += (size_t) snprintf(b + n, cap - n,
                           "],\"nextPageToken\":\"CgE0Eg==\"}");
    *len = n;

    return b;
}


int
main(int argc, char **argv)
{
    int                    i, round;
    char                  *body, *out, *copy, err[DS_ERR_MAX];
    size_t                 len, out_len, items;
    double                 best, t;
    ds_policy_t           *policy;
    ds_lf_stats_t          stats;
    struct timespec        t0, t1;
    const ds_recipient_t  *rcpt;

    policy = ds_policy_load_buffer("bench", policy_json,
                                   sizeof(policy_json) - 1, err,
                                   sizeof(err));
    if (policy == NULL) {
        fprintf(stderr, "policy: %s\n", err);
        return 1;
    }

    rcpt = ds_policy_find_recipient(policy, "vendor", 6);

    printf("| body | items | CPU per call (best of 5) |\n|---:|---:|---:|\n");

    for (i = 1; i < argc; i++) {
        body = make_body(strtoul(argv[i], NULL, 10), &len, &items);
        if (body == NULL) {
            return 1;
        }

        best = 1e9;
        copy = malloc(len);
        if (copy == NULL) {
            return 1;
        }

        /* in place, as the shell filters the body it collected */
        for (round = 0; round < 5; round++) {
            memcpy(copy, body, len);
            out = copy;

            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);

            if (ds_list_filter(rcpt, DS_OP_LIST_TABLES, "claims",
                               "adjudicated", copy, len, out, &out_len,
                               &stats)
                != DS_LF_OK)
            {
                fprintf(stderr, "filter failed at %zu bytes\n", len);
                return 1;
            }

            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);

            t = (t1.tv_sec - t0.tv_sec) * 1e6
                + (t1.tv_nsec - t0.tv_nsec) / 1e3;
            best = t < best ? t : best;
        }

        printf("| %zu KB | %zu | %.1f us |\n", len / 1024, items, best);
        free(copy);
        free(body);
    }

    ds_policy_free(policy);

    return 0;
}
