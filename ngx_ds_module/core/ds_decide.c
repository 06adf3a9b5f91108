/*
 * The decision: facts in, verdict out. Default deny; the first failing
 * check wins, in the order docs/policy.md documents. A request costs
 * one SHA-256, one hash probe and a walk over the recipient's own
 * (few) grants, whatever the number of recipients.
 */

#include <stdio.h>
#include <string.h>

#include "ds_http.h"
#include "ds_policy_int.h"


/* grant checks in order; a later stage is a "better" near-miss */
typedef enum {
    DS_STAGE_WINDOW = 1,
    DS_STAGE_ATTESTATION,
    DS_STAGE_PURPOSE,
    DS_STAGE_COUNTRY,
    DS_STAGE_NETWORK
} ds_stage_t;


typedef struct {
    const ds_facts_t      *f;
    ds_facts_t             facts;       /* a copy when now_ms was 0 */
    const ds_recipient_t  *r;
    const char            *purpose;     /* effective */
    size_t                 purpose_len;
    unsigned               purpose_bad:1;
    unsigned               purpose_bound:1;    /* the token's, no header */
    char                   cc[3];       /* upper case; "" unknown */
    ds_ip_t                ip;          /* the client, after realip */
    unsigned               ip_known:1;
    const char            *missing;     /* attestation type */
} ds_ctx_t;


static void
ds_deny(ds_verdict_t *v, ds_reason_t reason)
{
    v->allow = 0;
    v->reason = reason;
    v->http_status = ds_reason_http_status(reason);
    snprintf(v->detail, sizeof(v->detail), "%s", ds_reason_message(reason));
}


/*
 * An async query (query_table with asyncQuery=true) is fetched by later
 * polls on the same table: a grant that may start one may poll it, or
 * the upstream would run a query whose result nobody may fetch.
 */
static int
ds_grant_allows(const ds_grant_t *g, ds_op_t op)
{
    uint32_t  ops;

    ops = g->ops;

    if (ops & (1u << DS_OP_QUERY_TABLE)) {
        ops |= 1u << DS_OP_QUERY_POLL;
    }

    return (ops & (1u << op)) != 0;
}


static int
ds_name_match(const ds_cstr_t *g, const char *name)
{
    if (g->len == 1 && g->str[0] == '*') {
        return 1;
    }

    if (name == NULL) {
        return 0;
    }

    return ds_name_eq(g->str, g->len, name, strlen(name));
}


/* the names a grant must match depend on the operation's level */
static int
ds_grant_names_match(const ds_grant_t *g, ds_op_t op, const char *share,
    const char *schema, const char *table)
{
    switch (op) {

    case DS_OP_LIST_SHARES:
        return 1;

    case DS_OP_GET_SHARE:
    case DS_OP_LIST_SCHEMAS:
    case DS_OP_LIST_ALL_TABLES:
        return ds_name_match(&g->share, share);

    case DS_OP_LIST_TABLES:
        return ds_name_match(&g->share, share)
               && ds_name_match(&g->schema, schema);

    default:
        return ds_name_match(&g->share, share)
               && ds_name_match(&g->schema, schema)
               && ds_name_match(&g->table, table);
    }
}


int
ds_grant_covers(const ds_grant_t *g, ds_op_t op, const char *share,
    const char *schema, const char *table)
{
    return ds_grant_allows(g, op)
           && ds_grant_names_match(g, op, share, schema, table);
}


static int
ds_country_in(const ds_country_list_t *l, const char *cc)
{
    size_t  i;

    for (i = 0; i < l->n; i++) {
        if (l->codes[i][0] == cc[0] && l->codes[i][1] == cc[1]) {
            return 1;
        }
    }

    return 0;
}


/*
 * Every rule set applies: a deny anywhere wins; each allow list present
 * must hold the country. An unknown country passes only when allow
 * lists exist and every one of them names "unknown".
 */
static ds_reason_t
ds_country_check(const ds_country_rules_t *const *rules, size_t n,
    const char *cc)
{
    size_t  i, allows;
    int     unknown;

    unknown = (cc[0] == '\0');
    allows = 0;

    for (i = 0; i < n; i++) {
        if (unknown ? rules[i]->deny.unknown
                    : ds_country_in(&rules[i]->deny, cc))
        {
            return unknown ? DS_REASON_COUNTRY_UNKNOWN
                           : DS_REASON_COUNTRY_DENIED;
        }
    }

    for (i = 0; i < n; i++) {
        if (!rules[i]->allow.present) {
            continue;
        }

        allows++;

        if (unknown ? !rules[i]->allow.unknown
                    : !ds_country_in(&rules[i]->allow, cc))
        {
            return unknown ? DS_REASON_COUNTRY_UNKNOWN
                           : DS_REASON_COUNTRY_DENIED;
        }
    }

    if (unknown && allows == 0) {
        return DS_REASON_COUNTRY_UNKNOWN;
    }

    return DS_REASON_ALLOWED;
}


/*
 * Like countries: a deny anywhere wins, each allow list present must
 * hold the address. An address we do not know (a unix socket) passes
 * no list at all: a network rule is never skipped.
 */
static ds_reason_t
ds_network_check(const ds_ctx_t *c, const ds_net_rules_t *const *rules,
    size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (!rules[i]->allow.set.present && !rules[i]->deny.set.present) {
            continue;
        }

        if (!c->ip_known
            || ds_cidr_contains(&rules[i]->deny.set, &c->ip)
            || (rules[i]->allow.set.present
                && !ds_cidr_contains(&rules[i]->allow.set, &c->ip)))
        {
            return DS_REASON_NETWORK_DENIED;
        }
    }

    return DS_REASON_ALLOWED;
}


static int
ds_attested(const ds_recipient_t *r, const char *type, int64_t now)
{
    size_t                   i;
    const ds_attestation_t  *a;

    for (i = 0; i < r->nattestations; i++) {
        a = &r->attestations[i];

        if (strcmp(a->type, type) == 0
            && (a->expires == DS_TIME_NONE || now < a->expires))
        {
            return 1;
        }
    }

    return 0;
}


static ds_reason_t
ds_purpose_check(ds_ctx_t *c, const ds_grant_t *g)
{
    size_t  i;

    if (c->purpose_bad) {
        return DS_REASON_PURPOSE_INVALID;
    }

    if (g == NULL || g->purposes == NULL) {
        return DS_REASON_ALLOWED;
    }

    if (c->purpose == NULL) {
        return DS_REASON_PURPOSE_MISSING;
    }

    for (i = 0; i < g->npurposes; i++) {
        if (g->purposes[i].len == c->purpose_len
            && memcmp(g->purposes[i].str, c->purpose, c->purpose_len) == 0)
        {
            return DS_REASON_ALLOWED;
        }
    }

    return DS_REASON_PURPOSE_DENIED;
}


static ds_reason_t
ds_grant_check(ds_ctx_t *c, const ds_grant_t *g, ds_stage_t *stage)
{
    const ds_country_rules_t  *rules[2];
    const ds_net_rules_t      *nets[1];
    ds_reason_t                reason;
    int64_t                    now;
    size_t                     i;

    now = c->f->now_ms;

    *stage = DS_STAGE_WINDOW;

    if (g->valid_from != DS_TIME_NONE && now < g->valid_from) {
        return DS_REASON_CONTRACT_INACTIVE;
    }

    if (g->valid_until != DS_TIME_NONE && now >= g->valid_until) {
        return DS_REASON_CONTRACT_EXPIRED;
    }

    /* an access review not done in time ends the grant, like its end */
    if (g->review_by != DS_TIME_NONE && now >= g->review_by) {
        return DS_REASON_REVIEW_OVERDUE;
    }

    /* a signed-off grant lasts as long as its sign-off */
    if (g->approval.present && g->approval.expires != DS_TIME_NONE
        && now >= g->approval.expires)
    {
        return DS_REASON_APPROVAL_EXPIRED;
    }

    *stage = DS_STAGE_ATTESTATION;

    for (i = 0; i < g->nattestations; i++) {
        if (!ds_attested(c->r, g->attestations[i], now)) {
            c->missing = g->attestations[i];
            return DS_REASON_ATTESTATION_MISSING;
        }
    }

    *stage = DS_STAGE_PURPOSE;

    reason = ds_purpose_check(c, g);
    if (reason != DS_REASON_ALLOWED) {
        return reason;
    }

    *stage = DS_STAGE_COUNTRY;

    if (c->f->country != NULL) {
        rules[0] = &c->r->countries;
        rules[1] = &g->countries;

        reason = ds_country_check(rules, 2, c->cc);
        if (reason != DS_REASON_ALLOWED) {
            return reason;
        }
    }

    /* the recipient's own networks were checked before any grant */
    *stage = DS_STAGE_NETWORK;
    nets[0] = &g->networks;

    return ds_network_check(c, nets, 1);
}


/* the purpose header's name, as configured in the location */
static int
ds_purpose_header(const ds_ctx_t *c, const char **name)
{
    size_t  len;

    if (c->f->purpose_header == NULL || c->f->purpose_header_len == 0) {
        *name = "X-DS-Purpose";
        return 12;
    }

    *name = c->f->purpose_header;
    len = c->f->purpose_header_len;

    /* room for the rest of the message */
    return (int) (len > 64 ? 64 : len);
}


/*
 * Partners must learn how to comply from the message alone: the stock
 * Python and Spark clients cannot add headers, so a token bound to a
 * purpose is their only way, and list_shares shows shares without any
 * purpose while their contents may need one.
 */
static void
ds_purpose_detail(ds_verdict_t *v, ds_ctx_t *c)
{
    const char  *h;
    int          hlen;

    hlen = ds_purpose_header(c, &h);

    switch (v->reason) {

    case DS_REASON_PURPOSE_MISSING:
        snprintf(v->detail, sizeof(v->detail), "A declared purpose of use "
                 "is required for this data (shares are listed without "
                 "one, their contents are not): send a permitted purpose "
                 "code in the %.*s request header, or use a token bound "
                 "to a purpose, which the data provider can issue for "
                 "clients that cannot set headers", hlen, h);
        break;

    case DS_REASON_PURPOSE_INVALID:
        snprintf(v->detail, sizeof(v->detail), "The %.*s header is not a "
                 "valid purpose code: send it once, with 1 to 64 of "
                 "A-Z a-z 0-9 . _ : -", hlen, h);
        break;

    default:
        if (c->purpose_bound) {
            snprintf(v->detail, sizeof(v->detail), "Purpose %.*s, which "
                     "your token is bound to, is not permitted for this "
                     "data; send a permitted purpose code in the %.*s "
                     "request header", (int) c->purpose_len, c->purpose,
                     hlen, h);
        } else {
            snprintf(v->detail, sizeof(v->detail), "Purpose %.*s, sent "
                     "in the %.*s header, is not permitted for this data",
                     (int) c->purpose_len, c->purpose, hlen, h);
        }
        break;
    }
}


static void
ds_detail(ds_verdict_t *v, ds_ctx_t *c, ds_op_t op)
{
    switch (v->reason) {

    case DS_REASON_ATTESTATION_MISSING:
        snprintf(v->detail, sizeof(v->detail), "The %s attestation required "
                 "for this data is missing or has expired", c->missing);
        break;

    case DS_REASON_OPERATION_DENIED:
        snprintf(v->detail, sizeof(v->detail), "Operation %s is not "
                 "permitted on the requested data", ds_op_name(op));
        break;

    case DS_REASON_PURPOSE_MISSING:
    case DS_REASON_PURPOSE_INVALID:
    case DS_REASON_PURPOSE_DENIED:
        ds_purpose_detail(v, c);
        break;

    case DS_REASON_COUNTRY_DENIED:
        snprintf(v->detail, sizeof(v->detail), "Access from country %s is "
                 "not permitted", c->cc);
        break;

    default:
        break;
    }
}


static void
ds_allow(ds_verdict_t *v, const ds_grant_t *g)
{
    v->allow = 1;
    v->reason = DS_REASON_ALLOWED;
    v->http_status = 200;
    snprintf(v->detail, sizeof(v->detail), "Allowed");

    if (g && g->rate_limit.period_ms) {
        v->rate_limit = g->rate_limit;
    }
}


/* list_shares: no names to match; the body filter hides what it must */
static void
ds_decide_list_shares(ds_ctx_t *c, ds_verdict_t *v)
{
    const ds_country_rules_t  *rules[1];
    ds_reason_t                reason;

    reason = ds_purpose_check(c, NULL);

    if (reason == DS_REASON_ALLOWED && c->f->country) {
        rules[0] = &c->r->countries;
        reason = ds_country_check(rules, 1, c->cc);
    }

    if (reason != DS_REASON_ALLOWED) {
        ds_deny(v, reason);
        ds_detail(v, c, DS_OP_LIST_SHARES);
        return;
    }

    ds_allow(v, NULL);
}


static void
ds_decide_grants(ds_ctx_t *c, ds_verdict_t *v)
{
    const ds_facts_t  *f;
    const ds_grant_t  *g;
    ds_reason_t        reason, best;
    ds_stage_t         stage, best_stage;
    int                matched, permitted;
    size_t             i;
    const char        *best_missing;

    f = c->f;
    matched = 0;
    permitted = 0;
    best = DS_REASON_NOT_ENTITLED;
    best_stage = 0;
    best_missing = NULL;

    for (i = 0; i < c->r->ngrants; i++) {
        g = &c->r->grants[i];

        if (!ds_grant_names_match(g, f->op, f->share, f->schema, f->table)) {
            continue;
        }

        matched = 1;

        if (!ds_grant_allows(g, f->op)) {
            continue;
        }

        permitted = 1;

        reason = ds_grant_check(c, g, &stage);
        if (reason == DS_REASON_ALLOWED) {
            ds_allow(v, g);
            return;
        }

        if (stage > best_stage) {
            best = reason;
            best_stage = stage;
            best_missing = c->missing;
        }
    }

    if (!matched) {
        best = DS_REASON_NOT_ENTITLED;
    } else if (!permitted) {
        best = DS_REASON_OPERATION_DENIED;
    }

    c->missing = best_missing;
    ds_deny(v, best);
    ds_detail(v, c, f->op);
}


static void
ds_effective_purpose(ds_ctx_t *c, const ds_token_t *t, ds_verdict_t *v)
{
    const ds_facts_t  *f;

    f = c->f;

    if (f->purpose) {
        if (ds_purpose_valid(f->purpose, f->purpose_len)) {
            c->purpose = f->purpose;
            c->purpose_len = f->purpose_len;
        } else {
            c->purpose_bad = 1;     /* never echoed, never logged */
        }

    } else if (t->purpose) {
        c->purpose = t->purpose;
        c->purpose_len = t->purpose_len;
        c->purpose_bound = 1;
    }

    v->purpose = c->purpose;
    v->purpose_len = c->purpose_len;
}


static void
ds_country_of(ds_ctx_t *c)
{
    const char  *s;

    s = c->f->country;
    c->cc[0] = '\0';

    if (s && strlen(s) == 2) {
        c->cc[0] = (s[0] >= 'a' && s[0] <= 'z') ? s[0] - 0x20 : s[0];
        c->cc[1] = (s[1] >= 'a' && s[1] <= 'z') ? s[1] - 0x20 : s[1];
        c->cc[2] = '\0';
    }
}


void
ds_decide(const ds_policy_t *p, const ds_facts_t *f, ds_verdict_t *v)
{
    const ds_token_t      *t;
    const ds_recipient_t  *r;
    const ds_net_rules_t  *nets[1];
    unsigned char          d[DS_DIGEST_LEN];
    ds_ctx_t               c;
    ds_token_t             jt;
    int64_t                now;
    int                    handled;

    memset(v, 0, sizeof(*v));
    memset(&c, 0, sizeof(c));

    /* 0: "now" from the core's (injectable) clock */
    if (f->now_ms == 0) {
        memcpy(&c.facts, f, sizeof(ds_facts_t));
        c.facts.now_ms = ds_time_now_ms();
        f = &c.facts;
    }

    c.f = f;
    now = f->now_ms;

    if (f->token_id) {
        t = ds_policy_find_token_id(p, f->token_id);

        /* a JWT's id: the recipient stands for the token (no exp here) */
        if (t == NULL && f->jwt_recipient != NULL
            && strncmp(f->token_id, "jwt:", 4) == 0)
        {
            r = ds_policy_find_recipient(p, f->jwt_recipient,
                                         f->jwt_recipient_len);
            if (r != NULL && r->nfederation > 0) {
                memset(&jt, 0, sizeof(jt));
                jt.id = f->token_id;
                jt.not_before = DS_TIME_NONE;
                jt.expires = DS_TIME_NONE;
                jt.recipient = r;
                t = &jt;
            }
        }

    } else if (f->token_malformed) {
        ds_deny(v, DS_REASON_TOKEN_MALFORMED);
        return;

    } else if (f->token == NULL || f->token_len == 0) {
        ds_deny(v, DS_REASON_TOKEN_MISSING);
        return;

    } else {
        if (f->token_digest != NULL) {
            memcpy(d, f->token_digest, DS_DIGEST_LEN);
        } else {
            ds_token_digest(f->token, f->token_len, d);
        }

        t = ds_policy_find_token(p, d);

        /* not a static token: perhaps a JWT of a recipient's IdP */
        if (t == NULL) {
            r = ds_decide_jwt(p, f, d, v, &handled);

            if (handled && r == NULL) {
                return;
            }

            if (handled) {
                memset(&jt, 0, sizeof(jt));
                jt.id = v->jwt.token_id;
                jt.not_before = DS_TIME_NONE;   /* exp was checked */
                jt.expires = DS_TIME_NONE;
                jt.recipient = r;
                t = &jt;
            }
        }
    }

    if (t == NULL) {
        ds_deny(v, DS_REASON_TOKEN_UNKNOWN);
        return;
    }

    /* known from here on, even when denied: the audit wants to know */
    r = t->recipient;
    c.r = r;
    v->recipient = r;
    v->recipient_id = r->id;
    v->token_id = t->id;
    v->rate_limit = r->rate_limit;

    ds_effective_purpose(&c, t, v);
    ds_country_of(&c);
    c.ip_known = (ds_ip_from_sockaddr(f->sockaddr, &c.ip) == 0);
    nets[0] = &r->networks;

    if (t->not_before != DS_TIME_NONE && now < t->not_before) {
        ds_deny(v, DS_REASON_TOKEN_NOT_YET_VALID);

    } else if (t->expires != DS_TIME_NONE && now >= t->expires) {
        ds_deny(v, DS_REASON_TOKEN_EXPIRED);

    } else if (r->suspended) {
        ds_deny(v, DS_REASON_RECIPIENT_SUSPENDED);

    } else if (r->valid_from != DS_TIME_NONE && now < r->valid_from) {
        ds_deny(v, DS_REASON_CONTRACT_INACTIVE);

    } else if (r->valid_until != DS_TIME_NONE && now >= r->valid_until) {
        ds_deny(v, DS_REASON_CONTRACT_EXPIRED);

    } else if (r->review_by != DS_TIME_NONE && now >= r->review_by) {
        ds_deny(v, DS_REASON_REVIEW_OVERDUE);

    } else if (ds_network_check(&c, nets, 1) != DS_REASON_ALLOWED) {
        ds_deny(v, DS_REASON_NETWORK_DENIED);

    } else if (f->op <= DS_OP_UNKNOWN || f->op >= DS_OP_COUNT) {
        ds_deny(v, DS_REASON_UNKNOWN_ENDPOINT);

    } else if (f->op == DS_OP_LIST_SHARES) {
        ds_decide_list_shares(&c, v);

    } else {
        ds_decide_grants(&c, v);

        if (v->allow && f->files_proxy && f->op == DS_OP_TEMP_CREDENTIALS) {
            ds_deny(v, DS_REASON_FILES_PROXY_NO_DIR);
        }
    }
}


int
ds_policy_visible(const ds_recipient_t *r, const char *share,
    const char *schema, const char *table)
{
    return ds_policy_visible_n(r, share, share ? strlen(share) : 0,
                               schema, schema ? strlen(schema) : 0,
                               table, table ? strlen(table) : 0);
}


/* a name of len bytes against a grant's ("*" or equal, case-blind) */
static int
ds_name_match_n(const ds_cstr_t *g, const char *name, size_t len)
{
    if (g->len == 1 && g->str[0] == '*') {
        return 1;
    }

    return ds_name_eq(g->str, g->len, name, len);
}


int
ds_policy_visible_n(const ds_recipient_t *r, const char *share,
    size_t share_len, const char *schema, size_t schema_len,
    const char *table, size_t table_len)
{
    size_t             i;
    const ds_grant_t  *g;

    if (r == NULL) {
        return 0;
    }

    for (i = 0; i < r->ngrants; i++) {
        g = &r->grants[i];

        if ((share == NULL || ds_name_match_n(&g->share, share, share_len))
            && (schema == NULL
                || ds_name_match_n(&g->schema, schema, schema_len))
            && (table == NULL
                || ds_name_match_n(&g->table, table, table_len)))
        {
            return 1;
        }
    }

    return 0;
}
