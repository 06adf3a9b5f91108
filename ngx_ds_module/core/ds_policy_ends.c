/*
 * The dated items of a policy, walked once (ds_policy_ends.h).
 */

#include "ds_policy_ends.h"
#include "ds_time.h"


static const char  *ds_end_kinds[] = {
    "contract", "attestation", "token", "review", "approval"
};


const char *
ds_end_kind_name(ds_end_kind_t kind)
{
    if ((size_t) kind >= sizeof(ds_end_kinds) / sizeof(ds_end_kinds[0])) {
        return "unknown";
    }

    return ds_end_kinds[kind];
}


static int
ds_end(ds_policy_end_pt fn, void *ctx, int64_t ends, ds_end_kind_t kind,
    const ds_recipient_t *r, const char *id, const ds_grant_t *g)
{
    ds_policy_end_t  e;

    if (ends == DS_TIME_NONE) {
        return 0;
    }

    e.ends = ends;
    e.kind = kind;
    e.recipient = r;
    e.id = id;
    e.grant = g;

    return fn(&e, ctx);
}


int
ds_policy_each_end(const ds_policy_t *p, ds_policy_end_pt fn, void *ctx)
{
    int                           rc;
    size_t                        i, j, n;
    const ds_grant_t             *g;
    const ds_recipient_t         *r;
    const ds_recipient_t *const  *rs;

    if (p == NULL) {
        return 0;
    }

    n = ds_policy_recipients(p, &rs);

    for (i = 0; i < n; i++) {
        r = rs[i];

        rc = ds_end(fn, ctx, r->valid_until, DS_END_CONTRACT, r,
                    r->contract_id ? r->contract_id : "-", NULL);

        for (j = 0; rc == 0 && j < r->nattestations; j++) {
            rc = ds_end(fn, ctx, r->attestations[j].expires,
                        DS_END_ATTESTATION, r, r->attestations[j].type, NULL);
        }

        for (j = 0; rc == 0 && j < r->ntokens; j++) {
            rc = ds_end(fn, ctx, r->tokens[j].expires, DS_END_TOKEN, r,
                        r->tokens[j].id, NULL);
        }

        /* recertification: past review_by, access ends */
        if (rc == 0) {
            rc = ds_end(fn, ctx, r->review_by, DS_END_REVIEW, r, "recipient",
                        NULL);
        }

        for (j = 0; rc == 0 && j < r->ngrants; j++) {
            g = &r->grants[j];

            rc = ds_end(fn, ctx, g->review_by, DS_END_REVIEW, r, "grant", g);

            if (rc == 0 && g->approval.present) {
                rc = ds_end(fn, ctx, g->approval.expires, DS_END_APPROVAL, r,
                            "grant", g);
            }
        }

        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}
