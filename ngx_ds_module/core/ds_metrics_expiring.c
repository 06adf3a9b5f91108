/*
 * Credentials of the policy that end soon, for the ds_policy_expiring
 * gauge (what "dsctl policy expiring" lists, counted).
 */

#include "ds_metrics.h"
#include "ds_policy_ends.h"


typedef struct {
    int64_t                  now_ms;
    int64_t                  until;
    ds_metrics_expiring_t   *out;
} ds_metrics_soon_t;


static int
ds_metrics_count_end(const ds_policy_end_t *e, void *ctx)
{
    ds_metrics_soon_t  *s = ctx;

    if (e->ends < s->now_ms || e->ends >= s->until) {
        return 0;
    }

    switch (e->kind) {
    case DS_END_CONTRACT:
        s->out->contracts++;
        break;
    case DS_END_ATTESTATION:
        s->out->attestations++;
        break;
    case DS_END_TOKEN:
        s->out->tokens++;
        break;
    default:
        break;                  /* reviews and approvals: not credentials */
    }

    return 0;
}


void
ds_metrics_expiring(const ds_policy_t *p, int64_t now_ms, int64_t within_ms,
    ds_metrics_expiring_t *out)
{
    ds_metrics_soon_t  s;

    out->tokens = 0;
    out->contracts = 0;
    out->attestations = 0;

    s.now_ms = now_ms;
    s.until = now_ms + within_ms;
    s.out = out;

    (void) ds_policy_each_end(p, ds_metrics_count_end, &s);
}
