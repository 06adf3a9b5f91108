/*
 * dsctl policy check, approvals: what the loader cannot check because
 * it depends on the clock or on who wrote the change. An expired
 * approval fails CI (the gateway already denies, approval_expired); an
 * approval by the change's author fails it when the policy asks for
 * separate approvers. With --base, only approvals new or changed since
 * the base are held against the author: an old sign-off by today's
 * author was someone else's change.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dsctl.h"
#include "dsctl_policy.h"
#include "ds_path.h"
#include "ds_policy_int.h"
#include "ds_time.h"


static int
dsctl_same_scope(const ds_grant_t *a, const ds_grant_t *b)
{
    return ds_name_eq(a->share.str, a->share.len, b->share.str, b->share.len)
           && ds_name_eq(a->schema.str, a->schema.len, b->schema.str,
                         b->schema.len)
           && ds_name_eq(a->table.str, a->table.len, b->table.str,
                         b->table.len);
}


/* the same sign-off on the same grant of the same recipient in base */
static int
dsctl_in_base(const ds_policy_t *base, const ds_recipient_t *r,
    const ds_grant_t *g)
{
    const ds_recipient_t  *br;
    const ds_approval_t   *a, *b;
    size_t                 i;

    if (base == NULL) {
        return 0;
    }

    br = ds_policy_find_recipient(base, r->id, r->id_len);
    if (br == NULL) {
        return 0;
    }

    a = &g->approval;

    for (i = 0; i < br->ngrants; i++) {
        b = &br->grants[i].approval;

        if (b->present && dsctl_same_scope(&br->grants[i], g)
            && strcmp(a->approver, b->approver) == 0
            && strcmp(a->ticket, b->ticket) == 0 && a->date == b->date)
        {
            return 1;
        }
    }

    return 0;
}


int
dsctl_check_approvals(const ds_policy_t *p, const ds_policy_t *base,
    const char *author)
{
    const ds_recipient_t  *r;
    const ds_grant_t      *g;
    const ds_approval_t   *a;
    size_t                 i, j, n, *pos;
    int64_t                now;
    int                    errors;
    char                   when[DS_RFC3339_LEN];

    now = ds_time_now_ms();
    errors = 0;

    if (p->separate_author && author == NULL) {
        fprintf(stderr, "%s: warning: approvals.separate_author is set: "
                "give --author EMAIL or --author-from-git to check that "
                "approvers did not write the change\n", p->approvals_source);
    }

    pos = dsctl_source_positions(p);
    if (pos == NULL) {
        fprintf(stderr, "dsctl: out of memory\n");
        return 1;
    }

    for (i = 0; i < p->nrecipients; i++) {
        r = p->recipients[i];
        n = pos[i];

        for (j = 0; j < r->ngrants; j++) {
            g = &r->grants[j];
            a = &g->approval;

            if (!a->present) {
                continue;
            }

            if (a->expires != DS_TIME_NONE && now >= a->expires) {
                ds_time_format_rfc3339(a->expires, when, sizeof(when));
                fprintf(stderr, "%s: $.recipients[%zu].grants[%zu].approval"
                        ".expires: the approval (ticket %s, by %s) expired "
                        "at %s: the grant allows nothing "
                        "(approval_expired) until it is renewed\n",
                        r->source, n, j, a->ticket, a->approver, when);
                errors++;
            }

            if (p->separate_author && author
                && strcasecmp(a->approver, author) == 0
                && !dsctl_in_base(base, r, g))
            {
                fprintf(stderr, "%s: $.recipients[%zu].grants[%zu].approval"
                        ".approver: \"%s\" wrote this change; the policy "
                        "requires another approver (approvals"
                        ".separate_author in %s)\n", r->source, n, j,
                        a->approver, p->approvals_source);
                errors++;
            }
        }
    }

    free(pos);

    return errors;
}
