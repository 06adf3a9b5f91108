/*
 * Policy diff over two loaded models (see ds_policy_diff.h). Comparing
 * the models, not the JSON, means a reordered file or a reformatted
 * list is no change, "read" and its operations compare as sets, and a
 * CIDR entry split in two is no widening.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_http.h"
#include "ds_policy_diff_int.h"


#define DS_DIFF_TEXT  512


typedef struct {
    ds_diff_handler_pt    handler;
    void                 *data;
    const char           *recipient;
    char                  subject[3 * DS_NAME_MAX + 64];
    size_t                widened;
} ds_diff_t;


static void
ds_emit(ds_diff_t *d, ds_diff_kind_t kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));


static void
ds_emit(ds_diff_t *d, ds_diff_kind_t kind, const char *fmt, ...)
{
    va_list         ap;
    char            text[DS_DIFF_TEXT];
    ds_diff_item_t  it;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);

    it.kind = kind;
    it.recipient = d->recipient;
    it.subject = d->subject;
    it.text = text;

    d->widened += (kind == DS_DIFF_WIDEN);
    d->handler(d->data, &it);
}


static void
ds_subject(ds_diff_t *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));


static void
ds_subject(ds_diff_t *d, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(d->subject, sizeof(d->subject), fmt, ap);
    va_end(ap);
}


/* for ds_policy_diff_fed.c */
static void
ds_fed_emit(void *data, ds_diff_kind_t kind, const char *subject,
    const char *text)
{
    ds_diff_t  *d = data;

    ds_subject(d, "%s", subject);
    ds_emit(d, kind, "%s", text);
}


const char *
ds_diff_kind_name(ds_diff_kind_t kind)
{
    switch (kind) {
    case DS_DIFF_WIDEN:
        return "widen";
    case DS_DIFF_NARROW:
        return "narrow";
    default:
        return "change";
    }
}


static const char *
ds_when(int64_t t, char *buf, size_t size)
{
    if (t == DS_TIME_NONE) {
        return "never";
    }

    ds_time_format_rfc3339(t, buf, size);
    return buf;
}


/* a window's two ends: a later end or an earlier start widens */
static void
ds_diff_window(ds_diff_t *d, const char *what, int64_t of, int64_t ou,
    int64_t nf, int64_t nu)
{
    char  a[DS_RFC3339_LEN], b[DS_RFC3339_LEN];

    if (of != nf) {
        ds_emit(d, (nf == DS_TIME_NONE || (of != DS_TIME_NONE && nf < of))
                   ? DS_DIFF_WIDEN : DS_DIFF_NARROW,
                "%s start %s -> %s", what,
                of == DS_TIME_NONE ? "none" : ds_when(of, a, sizeof(a)),
                nf == DS_TIME_NONE ? "none" : ds_when(nf, b, sizeof(b)));
    }

    if (ou != nu) {
        ds_emit(d, (nu == DS_TIME_NONE || (ou != DS_TIME_NONE && nu > ou))
                   ? DS_DIFF_WIDEN : DS_DIFF_NARROW,
                "%s end %s -> %s", what, ds_when(ou, a, sizeof(a)),
                ds_when(nu, b, sizeof(b)));
    }
}


/* a review postponed or dropped gives access for longer */
static void
ds_diff_deadline(ds_diff_t *d, const char *what, int64_t o, int64_t n)
{
    char  a[DS_RFC3339_LEN], b[DS_RFC3339_LEN];

    if (o == n) {
        return;
    }

    ds_emit(d, (n == DS_TIME_NONE || (o != DS_TIME_NONE && n > o))
               ? DS_DIFF_WIDEN : DS_DIFF_NARROW,
            "%s %s -> %s", what,
            o == DS_TIME_NONE ? "none" : ds_when(o, a, sizeof(a)),
            n == DS_TIME_NONE ? "none" : ds_when(n, b, sizeof(b)));
}


/* ---------------------------------------------------------- countries */

static int
ds_cc_in(const ds_country_list_t *l, const char *cc)
{
    size_t  i;

    for (i = 0; i < l->n; i++) {
        if (l->codes[i][0] == cc[0] && l->codes[i][1] == cc[1]) {
            return 1;
        }
    }

    return 0;
}


/* entries of a not in b, as "US, DE, unknown" */
static int
ds_cc_minus(const ds_country_list_t *a, const ds_country_list_t *b,
    char *buf, size_t size)
{
    size_t  i, len;
    int     n;

    len = 0;
    n = 0;
    buf[0] = '\0';

    for (i = 0; i < a->n && len + 8 < size; i++) {
        if (!ds_cc_in(b, a->codes[i])) {
            len += snprintf(buf + len, size - len, "%s%.2s", n ? ", " : "",
                            a->codes[i]);
            n++;
        }
    }

    if (a->unknown && !b->unknown && len + 10 < size) {
        snprintf(buf + len, size - len, "%sunknown", n ? ", " : "");
        n++;
    }

    return n;
}


static void
ds_diff_countries(ds_diff_t *d, const ds_country_rules_t *o,
    const ds_country_rules_t *n)
{
    char  buf[DS_DIFF_TEXT - 64];

    if (o->allow.present && !n->allow.present) {
        ds_emit(d, DS_DIFF_WIDEN, "country allow list removed: any "
                "country");

    } else if (!o->allow.present && n->allow.present) {
        ds_cc_minus(&n->allow, &o->allow, buf, sizeof(buf));
        ds_emit(d, DS_DIFF_NARROW, "country allow list added: only %s",
                *buf ? buf : "(none)");

    } else if (n->allow.present) {
        if (ds_cc_minus(&n->allow, &o->allow, buf, sizeof(buf))) {
            ds_emit(d, DS_DIFF_WIDEN, "countries allowed: + %s", buf);
        }
        if (ds_cc_minus(&o->allow, &n->allow, buf, sizeof(buf))) {
            ds_emit(d, DS_DIFF_NARROW, "countries allowed: - %s", buf);
        }
    }

    if (ds_cc_minus(&o->deny, &n->deny, buf, sizeof(buf))) {
        ds_emit(d, DS_DIFF_WIDEN, "countries no longer denied: %s", buf);
    }

    if (ds_cc_minus(&n->deny, &o->deny, buf, sizeof(buf))) {
        ds_emit(d, DS_DIFF_NARROW, "countries denied: + %s", buf);
    }
}


/* ----------------------------------------------------------- networks */

/* entries of a not covered by b's set, as "10.0.0.0/8, ..." */
static int
ds_net_minus(const ds_net_list_t *a, const ds_net_list_t *b, char *buf,
    size_t size)
{
    size_t         i, len;
    int            n;
    ds_ip_range_t  r;
    ds_cidr_set_t  one;
    char           why[128];

    len = 0;
    n = 0;
    buf[0] = '\0';

    for (i = 0; i < a->ntext; i++) {
        if (ds_cidr_parse(a->text[i], strlen(a->text[i]), &r, why,
                          sizeof(why)) != 0)
        {
            continue;       /* the loader refused these already */
        }

        one.ranges = &r;
        one.n = 1;

        if (ds_cidr_covers(&b->set, &one)) {
            continue;
        }

        if (len + strlen(a->text[i]) + 8 < size) {
            len += snprintf(buf + len, size - len, "%s%s", n ? ", " : "",
                            a->text[i]);
        } else if (len + 5 < size && (len == 0 || buf[len - 1] != '.')) {
            len += snprintf(buf + len, size - len, ", ...");
        }

        n++;
    }

    return n;
}


static void
ds_diff_networks(ds_diff_t *d, const ds_net_rules_t *o,
    const ds_net_rules_t *n)
{
    char  buf[DS_DIFF_TEXT - 64];

    if (o->allow.set.present && !n->allow.set.present) {
        ds_emit(d, DS_DIFF_WIDEN, "network allow list removed: any "
                "address");

    } else if (!o->allow.set.present && n->allow.set.present) {
        ds_net_minus(&n->allow, &o->allow, buf, sizeof(buf));
        ds_emit(d, DS_DIFF_NARROW, "network allow list added: only %s",
                buf);

    } else if (n->allow.set.present) {
        if (ds_net_minus(&n->allow, &o->allow, buf, sizeof(buf))) {
            ds_emit(d, DS_DIFF_WIDEN, "networks allowed: + %s", buf);
        }
        if (ds_net_minus(&o->allow, &n->allow, buf, sizeof(buf))) {
            ds_emit(d, DS_DIFF_NARROW, "networks allowed: - %s", buf);
        }
    }

    if (ds_net_minus(&o->deny, &n->deny, buf, sizeof(buf))) {
        ds_emit(d, DS_DIFF_WIDEN, "networks no longer denied: %s", buf);
    }

    if (ds_net_minus(&n->deny, &o->deny, buf, sizeof(buf))) {
        ds_emit(d, DS_DIFF_NARROW, "networks denied: + %s", buf);
    }
}


/* --------------------------------------------------------- rate limit */

static void
ds_rl_text(const ds_rate_limit_t *rl, char *buf, size_t size)
{
    if (rl->period_ms == 0) {
        snprintf(buf, size, "none");
        return;
    }

    snprintf(buf, size, "%llu/%s burst %llu per %s",
             (unsigned long long) rl->requests,
             rl->period_ms == 1000 ? "second"
             : rl->period_ms == 60000 ? "minute" : "hour",
             (unsigned long long) rl->burst,
             rl->scope == DS_RL_SCOPE_SHARE ? "share" : "recipient");
}


/* more requests per time, a larger burst, a budget per share: wider */
static void
ds_diff_rate(ds_diff_t *d, const char *what, const ds_rate_limit_t *o,
    const ds_rate_limit_t *n)
{
    char            a[96], b[96];
    ds_diff_kind_t  kind;
    int             wider, narrower;
    __int128        ro, rn;

    if (o->period_ms == n->period_ms && o->requests == n->requests
        && o->burst == n->burst && o->scope == n->scope)
    {
        return;
    }

    if (n->period_ms == 0) {
        wider = 1;
        narrower = 0;

    } else if (o->period_ms == 0) {
        wider = 0;
        narrower = 1;

    } else {
        /* requests per ms, cross-multiplied */
        ro = (__int128) o->requests * n->period_ms;
        rn = (__int128) n->requests * o->period_ms;
        wider = rn > ro || n->burst > o->burst
                || (n->scope == DS_RL_SCOPE_SHARE
                    && o->scope == DS_RL_SCOPE_RECIPIENT);
        narrower = rn < ro || n->burst < o->burst
                   || (n->scope == DS_RL_SCOPE_RECIPIENT
                       && o->scope == DS_RL_SCOPE_SHARE);
    }

    kind = wider ? DS_DIFF_WIDEN : narrower ? DS_DIFF_NARROW
                                            : DS_DIFF_CHANGE;

    ds_rl_text(o, a, sizeof(a));
    ds_rl_text(n, b, sizeof(b));
    ds_emit(d, kind, "%s %s -> %s", what, a, b);
}


/* ------------------------------------------------------------- grants */

static int
ds_cstr_eq(const ds_cstr_t *a, const ds_cstr_t *b)
{
    return ds_name_eq(a->str, a->len, b->str, b->len);
}


static int
ds_star(const ds_cstr_t *a)
{
    return a->len == 1 && a->str[0] == '*';
}


/* a's names cover b's: equal, or "*" */
static int
ds_scope_covers(const ds_grant_t *a, const ds_grant_t *b)
{
    return (ds_star(&a->share) || ds_cstr_eq(&a->share, &b->share))
           && (ds_star(&a->schema) || ds_cstr_eq(&a->schema, &b->schema))
           && (ds_star(&a->table) || ds_cstr_eq(&a->table, &b->table));
}


static int
ds_scope_eq(const ds_grant_t *a, const ds_grant_t *b)
{
    return ds_cstr_eq(&a->share, &b->share)
           && ds_cstr_eq(&a->schema, &b->schema)
           && ds_cstr_eq(&a->table, &b->table);
}


static void
ds_grant_subject(ds_diff_t *d, const ds_grant_t *g)
{
    ds_subject(d, "grant %.*s/%.*s/%.*s", (int) g->share.len, g->share.str,
               (int) g->schema.len, g->schema.str, (int) g->table.len,
               g->table.str);
}


static int
ds_ops_text(uint32_t ops, char *buf, size_t size)
{
    size_t  len;
    int     op, n;

    len = 0;
    n = 0;
    buf[0] = '\0';

    for (op = DS_OP_UNKNOWN + 1; op < DS_OP_COUNT; op++) {
        if ((ops & (1u << op)) && len + 24 < size) {
            len += snprintf(buf + len, size - len, "%s%s", n ? ", " : "",
                            ds_op_name((ds_op_t) op));
            n++;
        }
    }

    return n;
}


static int
ds_purpose_in(const ds_grant_t *g, const ds_cstr_t *p)
{
    size_t  i;

    for (i = 0; i < g->npurposes; i++) {
        if (g->purposes[i].len == p->len
            && memcmp(g->purposes[i].str, p->str, p->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static int
ds_purposes_minus(const ds_grant_t *a, const ds_grant_t *b, char *buf,
    size_t size)
{
    size_t  i, len;
    int     n;

    len = 0;
    n = 0;
    buf[0] = '\0';

    for (i = 0; i < a->npurposes; i++) {
        if (!ds_purpose_in(b, &a->purposes[i])
            && len + a->purposes[i].len + 8 < size)
        {
            len += snprintf(buf + len, size - len, "%s%.*s", n ? ", " : "",
                            (int) a->purposes[i].len, a->purposes[i].str);
            n++;
        }
    }

    return n;
}


static int
ds_str_in(const char *const *list, size_t n, const char *s)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (strcmp(list[i], s) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
ds_att_minus(const ds_grant_t *a, const ds_grant_t *b, char *buf,
    size_t size)
{
    size_t  i, len;
    int     n;

    len = 0;
    n = 0;
    buf[0] = '\0';

    for (i = 0; i < a->nattestations; i++) {
        if (!ds_str_in(b->attestations, b->nattestations, a->attestations[i])
            && len + strlen(a->attestations[i]) + 8 < size)
        {
            len += snprintf(buf + len, size - len, "%s%s", n ? ", " : "",
                            a->attestations[i]);
            n++;
        }
    }

    return n;
}


/* a new sign-off is for the reviewer to see; a longer one widens */
static void
ds_diff_approval(ds_diff_t *d, const ds_approval_t *o, const ds_approval_t *n)
{
    char  when[DS_RFC3339_LEN];

    if (!o->present && !n->present) {
        return;
    }

    if (!o->present || !n->present || strcmp(o->approver, n->approver) != 0
        || strcmp(o->ticket, n->ticket) != 0 || o->date != n->date)
    {
        if (n->present) {
            ds_emit(d, DS_DIFF_CHANGE, "approval: %s, ticket %s, on %s",
                    n->approver, n->ticket, ds_when(n->date, when,
                                                     sizeof(when)));
        } else {
            ds_emit(d, DS_DIFF_CHANGE, "approval removed");
        }
    }

    if (o->present && n->present) {
        ds_diff_deadline(d, "approval expires", o->expires, n->expires);
    }
}


static void
ds_diff_grant(ds_diff_t *d, const ds_recipient_t *or,
    const ds_recipient_t *nr, const ds_grant_t *o, const ds_grant_t *n)
{
    char              buf[DS_DIFF_TEXT - 64];
    const ds_rate_limit_t  *orl, *nrl;

    ds_grant_subject(d, n);

    if (!ds_scope_eq(o, n)) {
        ds_emit(d, ds_scope_covers(n, o) ? DS_DIFF_WIDEN
                   : ds_scope_covers(o, n) ? DS_DIFF_NARROW : DS_DIFF_CHANGE,
                "scope %.*s/%.*s/%.*s -> %.*s/%.*s/%.*s",
                (int) o->share.len, o->share.str, (int) o->schema.len,
                o->schema.str, (int) o->table.len, o->table.str,
                (int) n->share.len, n->share.str, (int) n->schema.len,
                n->schema.str, (int) n->table.len, n->table.str);
    }

    if (ds_ops_text(n->ops & ~o->ops, buf, sizeof(buf))) {
        ds_emit(d, DS_DIFF_WIDEN, "operations added: %s", buf);
    }

    if (ds_ops_text(o->ops & ~n->ops, buf, sizeof(buf))) {
        ds_emit(d, DS_DIFF_NARROW, "operations removed: %s", buf);
    }

    if (o->purposes && n->purposes == NULL) {
        ds_emit(d, DS_DIFF_WIDEN, "no purpose required any more");

    } else if (o->purposes == NULL && n->purposes) {
        ds_purposes_minus(n, o, buf, sizeof(buf));
        ds_emit(d, DS_DIFF_NARROW, "purpose now required: one of %s", buf);

    } else if (n->purposes) {
        if (ds_purposes_minus(n, o, buf, sizeof(buf))) {
            ds_emit(d, DS_DIFF_WIDEN, "purposes added: %s", buf);
        }
        if (ds_purposes_minus(o, n, buf, sizeof(buf))) {
            ds_emit(d, DS_DIFF_NARROW, "purposes removed: %s", buf);
        }
    }

    if (ds_att_minus(o, n, buf, sizeof(buf))) {
        ds_emit(d, DS_DIFF_WIDEN, "attestations no longer required: %s",
                buf);
    }

    if (ds_att_minus(n, o, buf, sizeof(buf))) {
        ds_emit(d, DS_DIFF_NARROW, "attestations now required: %s", buf);
    }

    ds_diff_countries(d, &o->countries, &n->countries);
    ds_diff_networks(d, &o->networks, &n->networks);
    ds_diff_window(d, "grant window", o->valid_from, o->valid_until,
                   n->valid_from, n->valid_until);
    ds_diff_deadline(d, "review_by", o->review_by, n->review_by);
    ds_diff_approval(d, &o->approval, &n->approval);

    /* what applies to calls this grant allows: its own or the recipient's */
    orl = o->rate_limit.period_ms ? &o->rate_limit : &or->rate_limit;
    nrl = n->rate_limit.period_ms ? &n->rate_limit : &nr->rate_limit;

    if (orl != &or->rate_limit || nrl != &nr->rate_limit) {
        ds_diff_rate(d, "rate limit", orl, nrl);
    }
}


static void
ds_grant_alone(ds_diff_t *d, const ds_grant_t *g, int added)
{
    char  ops[DS_DIFF_TEXT - 64];

    ds_grant_subject(d, g);
    ds_ops_text(g->ops, ops, sizeof(ops));

    if (added) {
        ds_emit(d, DS_DIFF_WIDEN, "grant added: %s%s", ops,
                g->purposes ? " (purpose required)" : "");
    } else {
        ds_emit(d, DS_DIFF_NARROW, "grant removed");
    }
}


/*
 * Pairs grants: same names first (in order), then a new grant with an
 * old one it covers or is covered by ("table" -> "*" is a widened
 * grant, not a removed and an added one); the rest are added/removed.
 */
static void
ds_diff_grants(ds_diff_t *d, const ds_recipient_t *o, const ds_recipient_t *n)
{
    unsigned char  *oused, *nused;
    size_t          i, j, no, nn;
    int             pass;

    no = o->ngrants;
    nn = n->ngrants;
    oused = calloc(no + nn + 1, 1);

    if (oused == NULL) {
        /* never a silent "no change" */
        ds_subject(d, "grants");
        ds_emit(d, DS_DIFF_WIDEN, "not compared: out of memory");
        return;
    }

    nused = oused + no;

    for (pass = 0; pass < 2; pass++) {
        for (j = 0; j < nn; j++) {
            if (nused[j]) {
                continue;
            }

            for (i = 0; i < no; i++) {
                if (oused[i]) {
                    continue;
                }

                if (pass == 0 ? ds_scope_eq(&o->grants[i], &n->grants[j])
                    : (ds_scope_covers(&n->grants[j], &o->grants[i])
                       || ds_scope_covers(&o->grants[i], &n->grants[j])))
                {
                    oused[i] = 1;
                    nused[j] = 1;
                    ds_diff_grant(d, o, n, &o->grants[i], &n->grants[j]);
                    break;
                }
            }
        }
    }

    for (j = 0; j < nn; j++) {
        if (!nused[j]) {
            ds_grant_alone(d, &n->grants[j], 1);
        }
    }

    for (i = 0; i < no; i++) {
        if (!oused[i]) {
            ds_grant_alone(d, &o->grants[i], 0);
        }
    }

    free(oused);
}


/* ------------------------------------------------------------- tokens */

static const ds_token_t *
ds_find_token(const ds_recipient_t *r, const char *id)
{
    size_t  i;

    for (i = 0; i < r->ntokens; i++) {
        if (strcmp(r->tokens[i].id, id) == 0) {
            return &r->tokens[i];
        }
    }

    return NULL;
}


static void
ds_diff_tokens(ds_diff_t *d, const ds_recipient_t *o, const ds_recipient_t *n)
{
    const ds_token_t  *ot, *nt;
    size_t             i;
    char               when[DS_RFC3339_LEN];

    for (i = 0; i < n->ntokens; i++) {
        nt = &n->tokens[i];
        ot = ds_find_token(o, nt->id);
        ds_subject(d, "token %s", nt->id);

        if (ot == NULL) {
            ds_emit(d, DS_DIFF_WIDEN, "token added (expires %s)",
                    ds_when(nt->expires, when, sizeof(when)));
            continue;
        }

        /* a new secret under the same id is a new credential */
        if (memcmp(ot->sha256, nt->sha256, DS_DIGEST_LEN) != 0) {
            ds_emit(d, DS_DIFF_WIDEN, "secret replaced (sha256 changed)");
        }

        ds_diff_window(d, "validity", ot->not_before, ot->expires,
                       nt->not_before, nt->expires);

        if ((ot->purpose == NULL) != (nt->purpose == NULL)
            || (ot->purpose && strcmp(ot->purpose, nt->purpose) != 0))
        {
            ds_emit(d, DS_DIFF_CHANGE, "bound purpose %s -> %s",
                    ot->purpose ? ot->purpose : "none",
                    nt->purpose ? nt->purpose : "none");
        }
    }

    for (i = 0; i < o->ntokens; i++) {
        if (ds_find_token(n, o->tokens[i].id) == NULL) {
            ds_subject(d, "token %s", o->tokens[i].id);
            ds_emit(d, DS_DIFF_NARROW, "token removed");
        }
    }
}


/* ---------------------------------------------------------- contracts */

static const ds_attestation_t *
ds_find_att(const ds_recipient_t *r, const char *type)
{
    size_t  i;

    for (i = 0; i < r->nattestations; i++) {
        if (strcmp(r->attestations[i].type, type) == 0) {
            return &r->attestations[i];
        }
    }

    return NULL;
}


static void
ds_diff_contract(ds_diff_t *d, const ds_recipient_t *o,
    const ds_recipient_t *n)
{
    const ds_attestation_t  *oa, *na;
    size_t                   i;
    char                     what[DS_ID_MAX + 32];

    ds_subject(d, "contract");

    if ((o->contract_id == NULL) != (n->contract_id == NULL)
        || (o->contract_id && strcmp(o->contract_id, n->contract_id) != 0))
    {
        ds_emit(d, DS_DIFF_CHANGE, "contract id %s -> %s",
                o->contract_id ? o->contract_id : "none",
                n->contract_id ? n->contract_id : "none");
    }

    ds_diff_window(d, "contract", o->valid_from, o->valid_until,
                   n->valid_from, n->valid_until);

    for (i = 0; i < n->nattestations; i++) {
        na = &n->attestations[i];
        oa = ds_find_att(o, na->type);

        if (oa == NULL) {
            ds_emit(d, DS_DIFF_WIDEN, "attestation %s on file", na->type);
            continue;
        }

        snprintf(what, sizeof(what), "attestation %s", na->type);
        ds_diff_window(d, what, DS_TIME_NONE, oa->expires, DS_TIME_NONE,
                       na->expires);
    }

    for (i = 0; i < o->nattestations; i++) {
        if (ds_find_att(n, o->attestations[i].type) == NULL) {
            ds_emit(d, DS_DIFF_NARROW, "attestation %s no longer on file",
                    o->attestations[i].type);
        }
    }
}


/*
 * Alert rules compare as sets of their texts. A "suspend" rule that goes
 * (or changes: it goes, another comes) may let a recipient do more than
 * before, so it is a widening; a new one a narrowing; rules that only
 * alert change no access.
 */
static int
ds_alert_in(const ds_recipient_t *r, const char *text)
{
    char    buf[160];
    size_t  i;

    for (i = 0; i < r->nalerts; i++) {
        ds_alert_rule_text(&r->alerts[i], buf, sizeof(buf));
        if (strcmp(buf, text) == 0) {
            return 1;
        }
    }

    return 0;
}


static void
ds_diff_alerts(ds_diff_t *d, const ds_recipient_t *o,
    const ds_recipient_t *n)
{
    char    buf[160];
    size_t  i;

    ds_subject(d, "alerts");

    for (i = 0; i < o->nalerts; i++) {
        ds_alert_rule_text(&o->alerts[i], buf, sizeof(buf));
        if (!ds_alert_in(n, buf)) {
            ds_emit(d, o->alerts[i].suspend ? DS_DIFF_WIDEN : DS_DIFF_CHANGE,
                    "alert rule removed: %s", buf);
        }
    }

    for (i = 0; i < n->nalerts; i++) {
        ds_alert_rule_text(&n->alerts[i], buf, sizeof(buf));
        if (!ds_alert_in(o, buf)) {
            ds_emit(d, n->alerts[i].suspend ? DS_DIFF_NARROW : DS_DIFF_CHANGE,
                    "alert rule added: %s", buf);
        }
    }
}


/* --------------------------------------------------------- recipients */

static void
ds_diff_recipient(ds_diff_t *d, const ds_recipient_t *o,
    const ds_recipient_t *n)
{
    d->recipient = n->id;
    ds_subject(d, "recipient");

    if (o->suspended != n->suspended) {
        ds_emit(d, n->suspended ? DS_DIFF_NARROW : DS_DIFF_WIDEN,
                "status %s -> %s", o->suspended ? "suspended" : "active",
                n->suspended ? "suspended" : "active");
    }

    ds_diff_countries(d, &o->countries, &n->countries);
    ds_diff_networks(d, &o->networks, &n->networks);
    ds_diff_rate(d, "rate limit", &o->rate_limit, &n->rate_limit);
    ds_diff_deadline(d, "review_by", o->review_by, n->review_by);

    ds_diff_contract(d, o, n);
    ds_diff_tokens(d, o, n);
    ds_diff_federation(o, n, ds_fed_emit, d);
    ds_diff_grants(d, o, n);
    ds_diff_alerts(d, o, n);
}


static void
ds_recipient_alone(ds_diff_t *d, const ds_recipient_t *r, int added)
{
    d->recipient = r->id;
    ds_subject(d, "recipient");

    if (added && r->nfederation) {
        ds_emit(d, DS_DIFF_WIDEN, "recipient added%s: %zu token(s), %zu "
                "federation entr%s, %zu grant(s)",
                r->suspended ? " (suspended)" : "", r->ntokens,
                r->nfederation, r->nfederation == 1 ? "y" : "ies",
                r->ngrants);

    } else if (added) {
        ds_emit(d, DS_DIFF_WIDEN, "recipient added%s: %zu token(s), %zu "
                "grant(s)", r->suspended ? " (suspended)" : "",
                r->ntokens, r->ngrants);
    } else {
        ds_emit(d, DS_DIFF_NARROW, "recipient removed");
    }
}


/* ----------------------------------------------- classifications */

static int
ds_tag_in(const char *const *tags, size_t n, const char *tag)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (strcmp(tags[i], tag) == 0) {
            return 1;
        }
    }

    return 0;
}


/* tags of a not in b, as "PHI, PII" */
static int
ds_tags_minus(const char *const *a, size_t na, const char *const *b,
    size_t nb, char *buf, size_t size)
{
    size_t  i, len;
    int     n;

    len = 0;
    n = 0;
    buf[0] = '\0';

    for (i = 0; i < na; i++) {
        if (!ds_tag_in(b, nb, a[i]) && len + strlen(a[i]) + 8 < size) {
            len += snprintf(buf + len, size - len, "%s%s", n ? ", " : "",
                            a[i]);
            n++;
        }
    }

    return n;
}


static int
ds_class_scope_eq(const ds_class_t *a, const ds_class_t *b)
{
    return ds_cstr_eq(&a->share, &b->share)
           && ds_cstr_eq(&a->schema, &b->schema)
           && ds_cstr_eq(&a->table, &b->table);
}


/* every tag a classification of this scope has in p; -1: over max */
static int
ds_class_tags(const ds_policy_t *p, const ds_class_t *c,
    const char **tags, size_t *n, size_t max)
{
    size_t  i, j;

    *n = 0;

    for (i = 0; i < p->nclasses; i++) {
        if (!ds_class_scope_eq(&p->classes[i], c)) {
            continue;
        }

        for (j = 0; j < p->classes[i].ntags; j++) {
            if (ds_tag_in(tags, *n, p->classes[i].tags[j])) {
                continue;
            }

            if (*n == max) {
                return -1;
            }

            tags[(*n)++] = p->classes[i].tags[j];
        }
    }

    return 0;
}


/*
 * A tag that needs an approval, taken off data, or no longer needing
 * one, means less sign-off: a widening; other tag changes are for the
 * reviewer to read.
 */
static void
ds_diff_classes(ds_diff_t *d, const ds_policy_t *old, const ds_policy_t *new)
{
    const ds_policy_t  *p;
    const ds_class_t   *c;
    const char         *ot[64], *nt[64];
    char                buf[DS_DIFF_TEXT - 64];
    size_t              i, k, on, nn;
    int                 side, seen, gated;

    d->recipient = NULL;

    for (side = 0; side < 2; side++) {
        p = side ? old : new;

        for (i = 0; i < p->nclasses; i++) {
            c = &p->classes[i];

            /* each scope once, at its first appearance in new, then old */
            for (k = 0, seen = 0; k < i && !seen; k++) {
                seen = ds_class_scope_eq(&p->classes[k], c);
            }
            for (k = 0; side && k < new->nclasses && !seen; k++) {
                seen = ds_class_scope_eq(&new->classes[k], c);
            }
            if (seen) {
                continue;
            }

            ds_subject(d, "classification %.*s/%.*s/%.*s",
                       (int) c->share.len, c->share.str, (int) c->schema.len,
                       c->schema.str, (int) c->table.len, c->table.str);

            /* never a silent "no change" */
            if (ds_class_tags(old, c, ot, &on, 64) != 0
                || ds_class_tags(new, c, nt, &nn, 64) != 0)
            {
                ds_emit(d, DS_DIFF_WIDEN, "not compared: more than 64 "
                        "tags");
                continue;
            }

            for (k = 0, gated = 0; k < on; k++) {
                gated |= !ds_tag_in(nt, nn, ot[k])
                         && ds_tag_in(old->approval_tags,
                                      old->napproval_tags, ot[k]);
            }

            if (ds_tags_minus(ot, on, nt, nn, buf, sizeof(buf))) {
                ds_emit(d, gated ? DS_DIFF_WIDEN : DS_DIFF_CHANGE,
                        "tags removed: %s", buf);
            }

            for (k = 0, gated = 0; k < nn; k++) {
                gated |= !ds_tag_in(ot, on, nt[k])
                         && ds_tag_in(new->approval_tags,
                                      new->napproval_tags, nt[k]);
            }

            if (ds_tags_minus(nt, nn, ot, on, buf, sizeof(buf))) {
                ds_emit(d, gated ? DS_DIFF_NARROW : DS_DIFF_CHANGE,
                        "tags added: %s", buf);
            }
        }
    }

    ds_subject(d, "approvals");

    if (ds_tags_minus(old->approval_tags, old->napproval_tags,
                      new->approval_tags, new->napproval_tags, buf,
                      sizeof(buf)))
    {
        ds_emit(d, DS_DIFF_WIDEN, "no longer required for: %s", buf);
    }

    if (ds_tags_minus(new->approval_tags, new->napproval_tags,
                      old->approval_tags, old->napproval_tags, buf,
                      sizeof(buf)))
    {
        ds_emit(d, DS_DIFF_NARROW, "now required for: %s", buf);
    }

    if (old->separate_author != new->separate_author) {
        ds_emit(d, new->separate_author ? DS_DIFF_NARROW : DS_DIFF_WIDEN,
                "separate_author %s -> %s",
                old->separate_author ? "true" : "false",
                new->separate_author ? "true" : "false");
    }
}


size_t
ds_policy_diff(const ds_policy_t *old, const ds_policy_t *new,
    ds_diff_handler_pt handler, void *data)
{
    ds_diff_t              d;
    const ds_recipient_t  *o, *n;
    size_t                 i;

    memset(&d, 0, sizeof(d));
    d.handler = handler;
    d.data = data;

    if (old->token_max_lifetime != new->token_max_lifetime) {
        ds_subject(&d, "policy");
        ds_emit(&d, (new->token_max_lifetime == 0
                     || (old->token_max_lifetime
                         && new->token_max_lifetime
                            > old->token_max_lifetime))
                    ? DS_DIFF_WIDEN : DS_DIFF_NARROW,
                "token_max_lifetime %s -> %s",
                old->token_max_lifetime ? old->token_max_lifetime_text
                                        : "none",
                new->token_max_lifetime ? new->token_max_lifetime_text
                                        : "none");
    }

    ds_diff_classes(&d, old, new);
    ds_diff_issuers(old, new, ds_fed_emit, &d);

    for (i = 0; i < new->nrecipients; i++) {
        n = new->recipients[i];
        o = ds_policy_find_recipient(old, n->id, n->id_len);

        if (o == NULL) {
            ds_recipient_alone(&d, n, 1);
        } else {
            ds_diff_recipient(&d, o, n);
        }
    }

    for (i = 0; i < old->nrecipients; i++) {
        o = old->recipients[i];

        if (ds_policy_find_recipient(new, o->id, o->id_len) == NULL) {
            ds_recipient_alone(&d, o, 0);
        }
    }

    return d.widened;
}
