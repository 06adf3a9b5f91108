/*
 * libFuzzer harness for the policy loader: the input is one policy
 * file.
 * requires: ds_policy_load_buffer ds_decide ds_policy_visible
 *
 * A rejected policy must come back as NULL with a NUL-terminated,
 * non-empty message; an accepted one must survive every read-only
 * call the shell and dsctl make, then be freed (LeakSanitizer checks
 * that everything is).
 */

#include <stdint.h>
#include <string.h>

#include "ds_policy.h"

#define check(x)  do { if (!(x)) { __builtin_trap(); } } while (0)


static void
decide(const ds_policy_t *p, const char *token, const char *token_id,
    ds_op_t op)
{
    ds_facts_t    f;
    ds_verdict_t  v;

    memset(&f, 0, sizeof(f));
    f.op = op;
    f.share = "claims";
    f.schema = "public";
    f.table = "paid";
    f.token = token;
    f.token_len = token ? strlen(token) : 0;
    f.token_id = token_id;
    f.now_ms = 1767225600000;           /* 2026-01-01T00:00:00Z */
    f.country = "US";
    f.purpose = "fraud-detection";
    f.purpose_len = strlen(f.purpose);

    ds_decide(p, &f, &v);

    check(ds_reason_name(v.reason) != NULL);
    check(ds_reason_error_code(v.reason) != NULL);
    check(memchr(v.detail, '\0', sizeof(v.detail)) != NULL);
    check(!v.allow || v.reason == DS_REASON_ALLOWED);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                      err[DS_ERR_MAX];
    size_t                    i, n;
    ds_policy_t              *p;
    const char               *id, *digest;
    const ds_recipient_t     *const *list;

    memset(err, 0x55, sizeof(err));

    p = ds_policy_load_buffer("fuzz.json", (const char *) data, size,
                              err, sizeof(err));

    if (p == NULL) {
        check(memchr(err, '\0', sizeof(err)) != NULL);
        check(err[0] != '\0');
        return 0;
    }

    digest = ds_policy_digest(p);
    check(digest != NULL && strlen(digest) == 64);

    n = ds_policy_recipients(p, &list);
    check(n == ds_policy_recipient_count(p));

    for (i = 0; i < n; i++) {
        id = ds_recipient_id(list[i]);
        check(id != NULL);

        (void) ds_policy_visible(list[i], "claims", NULL, NULL);
        (void) ds_policy_visible(list[i], "claims", "public", NULL);
        (void) ds_policy_visible(list[i], "claims", "public", "paid");
    }

    decide(p, NULL, NULL, DS_OP_LIST_SHARES);
    decide(p, "not-a-real-token", NULL, DS_OP_QUERY_TABLE);

    for (i = 0; i < n && i < 4; i++) {
        /* dsctl explain looks tokens up by id; ids are not secret */
        decide(p, NULL, "t1", DS_OP_QUERY_TABLE);
        decide(p, NULL, ds_recipient_id(list[i]), DS_OP_TABLE_VERSION);
    }

    ds_policy_free(p);

    return 0;
}
