/*
 * File downloads (ds_decide_file.h): one decision, ds_decide()'s, on
 * the facts a capability carries; nothing is decided twice in two ways.
 */

#include <stdio.h>
#include <string.h>

#include "ds_decide_file.h"


static int
ds_file_copy(char *dst, size_t size, const char *s, size_t len)
{
    if (len >= size || memchr(s, '\0', len) != NULL) {
        return -1;
    }

    memcpy(dst, s, len);
    dst[len] = '\0';

    return 0;
}


static void
ds_file_deny(ds_verdict_t *v, ds_reason_t reason)
{
    memset(v, 0, sizeof(ds_verdict_t));
    v->allow = 0;
    v->reason = reason;
    v->http_status = ds_reason_http_status(reason);
    snprintf(v->detail, sizeof(v->detail), "%s", ds_reason_message(reason));
}


int
ds_decide_file_names(const ds_cap_claims_t *c, ds_file_names_t *names)
{
    if (ds_file_copy(names->share, sizeof(names->share), c->share,
                     c->share_len) != 0
        || ds_file_copy(names->schema, sizeof(names->schema), c->schema,
                        c->schema_len) != 0
        || ds_file_copy(names->table, sizeof(names->table), c->table,
                        c->table_len) != 0
        || ds_file_copy(names->token_id, sizeof(names->token_id),
                        c->token_id, c->token_id_len) != 0
        || ds_file_copy(names->purpose, sizeof(names->purpose), c->purpose,
                        c->purpose_len) != 0
        || c->share_len == 0 || c->schema_len == 0 || c->table_len == 0
        || c->token_id_len == 0)
    {
        return -1;
    }

    return 0;
}


void
ds_decide_file_link(ds_cap_result_t rc, ds_verdict_t *v)
{
    ds_file_deny(v, rc == DS_CAP_EXPIRED ? DS_REASON_FILE_LINK_EXPIRED
                                         : DS_REASON_FILE_LINK_INVALID);
}


void
ds_decide_file(const ds_policy_t *p, const ds_cap_claims_t *c,
    const char *country, const struct sockaddr *sa, int64_t now_ms,
    ds_file_names_t *names, ds_verdict_t *v)
{
    ds_facts_t  f;

    memset(&f, 0, sizeof(ds_facts_t));

    if (ds_decide_file_names(c, names) != 0 || c->recipient_len == 0) {
        ds_file_deny(v, DS_REASON_FILE_LINK_INVALID);
        return;
    }

    f.op = DS_OP_QUERY_TABLE;
    f.share = names->share;
    f.schema = names->schema;
    f.table = names->table;
    f.token_id = names->token_id;
    f.now_ms = now_ms;

    /* handed to a JWT recipient: the link's recipient vouches */
    if (strncmp(names->token_id, "jwt:", 4) == 0) {
        f.jwt_recipient = c->recipient;
        f.jwt_recipient_len = c->recipient_len;
    }
    f.country = country;
    f.sockaddr = sa;

    if (c->purpose_len) {
        f.purpose = names->purpose;
        f.purpose_len = c->purpose_len;
    }

    ds_decide(p, &f, v);

    /* the file may come from a changes answer as well as a query's */
    if (!v->allow && v->reason == DS_REASON_OPERATION_DENIED) {
        f.op = DS_OP_QUERY_CHANGES;
        ds_decide(p, &f, v);
    }

    /*
     * token ids are unique in a policy; a link naming another recipient
     * than the token's now is one the policy no longer backs
     */
    if (v->recipient_id != NULL
        && (strlen(v->recipient_id) != c->recipient_len
            || memcmp(v->recipient_id, c->recipient, c->recipient_len) != 0))
    {
        ds_file_deny(v, DS_REASON_FILE_LINK_INVALID);
        return;
    }

    if (!v->allow && v->http_status == 401) {
        v->http_status = 403;
    }
}
