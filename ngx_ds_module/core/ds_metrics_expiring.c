/*
 * Credentials of the policy that end soon, for the ds_policy_expiring
 * gauge (what "dsctl policy expiring" lists, counted).
 */

#include "ds_metrics.h"
#include "ds_policy_int.h"
#include "ds_time.h"


static int
ds_metrics_ends_within(int64_t ends, int64_t now_ms, int64_t until)
{
    return ends != DS_TIME_NONE && ends >= now_ms && ends < until;
}


void
ds_metrics_expiring(const ds_policy_t *p, int64_t now_ms, int64_t within_ms,
    ds_metrics_expiring_t *out)
{
    const ds_recipient_t *const  *rs;
    const ds_recipient_t         *r;
    size_t                        i, j, n;
    int64_t                       until;

    out->tokens = 0;
    out->contracts = 0;
    out->attestations = 0;

    if (p == NULL) {
        return;
    }

    until = now_ms + within_ms;
    n = ds_policy_recipients(p, &rs);

    for (i = 0; i < n; i++) {
        r = rs[i];

        out->contracts += ds_metrics_ends_within(r->valid_until, now_ms,
                                                 until);

        for (j = 0; j < r->nattestations; j++) {
            out->attestations += ds_metrics_ends_within(
                                     r->attestations[j].expires, now_ms,
                                     until);
        }

        for (j = 0; j < r->ntokens; j++) {
            out->tokens += ds_metrics_ends_within(r->tokens[j].expires,
                                                  now_ms, until);
        }
    }
}
