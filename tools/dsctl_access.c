/*
 * dsctl access review: per recipient, grant and token of a policy, the
 * calls the audit logs show in a window and the last one; what was
 * never used is a least-privilege candidate for the next review.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dsctl.h"
#include "ds_policy_int.h"
#include "ds_time.h"


typedef struct {
    uint64_t     calls;
    uint64_t     allowed;
    uint64_t     denied;
    int64_t      last;                  /* 0: never */
} dsctl_use_t;


typedef struct {
    const ds_policy_t  *p;
    json_t             *index;          /* recipient id -> position */
    dsctl_use_t        *recipients;
    dsctl_use_t       **grants;         /* per recipient, per grant */
    dsctl_use_t       **tokens;
    int64_t             from, to;
    uint64_t            lines, in_window, other, foreign;
} dsctl_review_t;


static void
dsctl_access_usage(FILE *out)
{
    fprintf(out,
        "usage: dsctl access review POLICY AUDIT... [--since 90d] "
        "[--at TIME]\n"
        "                           [--format text|json]\n"
        "\n"
        "Per recipient, grant and token of POLICY: the calls the audit\n"
        "files (native or OCSF) record from --since before --at (default\n"
        "now) up to it, and the last one. Grants, tokens and recipients\n"
        "never used in that window are listed as least-privilege\n"
        "candidates. A call is counted for the first grant whose scope\n"
        "and operations cover it (records do not name the grant).\n");
}


static void
dsctl_use(dsctl_use_t *u, int allowed, int64_t t)
{
    u->calls++;
    u->allowed += allowed != 0;
    u->denied += allowed == 0;

    if (t > u->last) {
        u->last = t;
    }
}


static const char *
dsctl_str(json_t *o, const char *key)
{
    json_t  *v;

    v = json_object_get(o, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}


/* one record, native or OCSF (whose own fields are under unmapped.dsgw) */
static void
dsctl_review_record(dsctl_review_t *rv, json_t *rec)
{
    int                    allowed;
    size_t                 i, j;
    int64_t                t;
    json_t                *ds, *pos, *jt;
    ds_op_t                op;
    const char            *rid, *tid, *decision, *opname, *type;
    const ds_recipient_t  *r;

    ds = rec;
    jt = json_object_get(rec, "time_ms");
    rid = dsctl_str(rec, "recipient");

    if (json_object_get(rec, "class_uid")) {
        ds = json_object_get(json_object_get(rec, "unmapped"), "dsgw");
        jt = json_object_get(rec, "time");
        rid = dsctl_str(json_object_get(json_object_get(rec, "actor"),
                                        "user"), "uid");
    }

    type = dsctl_str(ds, "type");

    if (type == NULL || strcmp(type, "request") != 0
        || !json_is_integer(jt))
    {
        rv->other++;
        return;
    }

    t = json_integer_value(jt);

    if (t < rv->from || t > rv->to) {
        return;
    }

    rv->in_window++;

    pos = rid ? json_object_get(rv->index, rid) : NULL;
    if (pos == NULL) {
        /* anonymous, unknown tokens, recipients no longer in the policy */
        rv->foreign++;
        return;
    }

    i = (size_t) json_integer_value(pos);
    r = rv->p->recipients[i];
    decision = dsctl_str(ds, "decision");
    allowed = decision && strcmp(decision, "allow") == 0;

    dsctl_use(&rv->recipients[i], allowed, t);

    tid = dsctl_str(ds, "token_id");

    for (j = 0; tid && j < r->ntokens; j++) {
        if (strcmp(r->tokens[j].id, tid) == 0) {
            dsctl_use(&rv->tokens[i][j], allowed, t);
            break;
        }
    }

    opname = dsctl_str(ds, "operation");
    op = opname ? ds_op_from_name(opname, strlen(opname)) : DS_OP_UNKNOWN;

    /* every grant lets a recipient list shares: that names none */
    if (!allowed || op == DS_OP_UNKNOWN || op == DS_OP_LIST_SHARES) {
        return;
    }

    for (j = 0; j < r->ngrants; j++) {
        if (ds_grant_covers(&r->grants[j], op, dsctl_str(ds, "share"),
                            dsctl_str(ds, "schema"), dsctl_str(ds, "table")))
        {
            dsctl_use(&rv->grants[i][j], allowed, t);
            break;
        }
    }
}


static int
dsctl_review_file(dsctl_review_t *rv, const char *path)
{
    FILE     *f;
    char     *line;
    size_t    cap;
    ssize_t   n;
    json_t   *rec;

    f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        return -1;
    }

    line = NULL;
    cap = 0;

    while ((n = getline(&line, &cap, f)) != -1) {
        rv->lines++;
        rec = json_loadb(line, (size_t) n, 0, NULL);

        if (json_is_object(rec)) {
            dsctl_review_record(rv, rec);
        } else {
            rv->other++;
        }

        json_decref(rec);
    }

    free(line);
    fclose(f);

    return 0;
}


static void
dsctl_when(int64_t t, char *buf, size_t size)
{
    if (t == 0) {
        snprintf(buf, size, "never");
        return;
    }

    ds_time_format_rfc3339(t, buf, size);
}


static void
dsctl_grant_name(const ds_grant_t *g, char *buf, size_t size)
{
    snprintf(buf, size, "%.*s/%.*s/%.*s", (int) g->share.len, g->share.str,
             (int) g->schema.len, g->schema.str, (int) g->table.len,
             g->table.str);
}


static json_t *
dsctl_use_json(const dsctl_use_t *u)
{
    char  when[DS_RFC3339_LEN];

    dsctl_when(u->last, when, sizeof(when));

    return json_pack("{sIsIsIss?}", "calls", (json_int_t) u->calls,
                     "allowed", (json_int_t) u->allowed,
                     "denied", (json_int_t) u->denied,
                     "last", u->last ? when : NULL);
}


static void
dsctl_review_json(const dsctl_review_t *rv)
{
    char                   name[800];
    size_t                 i, j;
    json_t                *out, *list, *o, *arr, *x;
    const ds_recipient_t  *r;

    out = json_object();
    list = json_array();

    for (i = 0; i < rv->p->nrecipients; i++) {
        r = rv->p->recipients[i];
        o = dsctl_use_json(&rv->recipients[i]);
        json_object_set_new(o, "id", json_string(r->id));

        arr = json_array();
        for (j = 0; j < r->ngrants; j++) {
            dsctl_grant_name(&r->grants[j], name, sizeof(name));
            x = dsctl_use_json(&rv->grants[i][j]);
            json_object_set_new(x, "grant", json_string(name));
            json_object_set_new(x, "index", json_integer((json_int_t) j));
            json_array_append_new(arr, x);
        }
        json_object_set_new(o, "grants", arr);

        arr = json_array();
        for (j = 0; j < r->ntokens; j++) {
            x = dsctl_use_json(&rv->tokens[i][j]);
            json_object_set_new(x, "token_id", json_string(r->tokens[j].id));
            json_array_append_new(arr, x);
        }
        json_object_set_new(o, "tokens", arr);

        json_array_append_new(list, o);
    }

    json_object_set_new(out, "recipients", list);
    json_object_set_new(out, "from_ms", json_integer(rv->from));
    json_object_set_new(out, "to_ms", json_integer(rv->to));
    json_object_set_new(out, "records_in_window",
                        json_integer((json_int_t) rv->in_window));
    json_object_set_new(out, "records_not_in_policy",
                        json_integer((json_int_t) rv->foreign));

    json_dumpf(out, stdout, JSON_INDENT(2));
    printf("\n");
    json_decref(out);
}


static void
dsctl_review_text(const dsctl_review_t *rv)
{
    char                   when[DS_RFC3339_LEN], from[DS_RFC3339_LEN];
    char                   to[DS_RFC3339_LEN], name[800];
    size_t                 i, j, unused_g, unused_t, unused_r;
    const dsctl_use_t     *u;
    const ds_recipient_t  *r;

    ds_time_format_rfc3339(rv->from, from, sizeof(from));
    ds_time_format_rfc3339(rv->to, to, sizeof(to));
    printf("access review %s .. %s: %llu record(s) in the window, %llu of "
           "callers not in the policy\n", from, to,
           (unsigned long long) rv->in_window,
           (unsigned long long) rv->foreign);

    unused_g = unused_t = unused_r = 0;

    for (i = 0; i < rv->p->nrecipients; i++) {
        r = rv->p->recipients[i];
        u = &rv->recipients[i];
        dsctl_when(u->last, when, sizeof(when));

        if (u->calls == 0) {
            printf("\nrecipient %s: never used -- least-privilege "
                   "candidate\n", r->id);
            unused_r++;
        } else {
            printf("\nrecipient %s: %llu call(s) (%llu allowed, %llu "
                   "denied), last %s\n", r->id,
                   (unsigned long long) u->calls,
                   (unsigned long long) u->allowed,
                   (unsigned long long) u->denied, when);
        }

        for (j = 0; j < r->ngrants; j++) {
            u = &rv->grants[i][j];
            dsctl_grant_name(&r->grants[j], name, sizeof(name));
            dsctl_when(u->last, when, sizeof(when));

            if (u->calls == 0) {
                printf("  grant %zu %s: never used -- least-privilege "
                       "candidate\n", j, name);
                unused_g++;
            } else {
                printf("  grant %zu %s: %llu call(s), last %s\n", j, name,
                       (unsigned long long) u->calls, when);
            }
        }

        for (j = 0; j < r->ntokens; j++) {
            u = &rv->tokens[i][j];
            dsctl_when(u->last, when, sizeof(when));

            if (u->calls == 0) {
                printf("  token %s: never used\n", r->tokens[j].id);
                unused_t++;
            } else {
                printf("  token %s: %llu call(s), last %s\n",
                       r->tokens[j].id, (unsigned long long) u->calls,
                       when);
            }
        }
    }

    printf("\nnever used: %zu recipient(s), %zu grant(s), %zu token(s)\n",
           unused_r, unused_g, unused_t);
}


static void
dsctl_review_free(dsctl_review_t *rv)
{
    size_t  i;

    for (i = 0; rv->grants && i < rv->p->nrecipients; i++) {
        free(rv->grants[i]);
        free(rv->tokens[i]);
    }

    free(rv->grants);
    free(rv->tokens);
    free(rv->recipients);
    json_decref(rv->index);
}


static int
dsctl_review_init(dsctl_review_t *rv, const ds_policy_t *p)
{
    size_t  i, n;

    memset(rv, 0, sizeof(*rv));
    rv->p = p;
    n = p->nrecipients;

    rv->index = json_object();
    rv->recipients = calloc(n + 1, sizeof(dsctl_use_t));
    rv->grants = calloc(n + 1, sizeof(dsctl_use_t *));
    rv->tokens = calloc(n + 1, sizeof(dsctl_use_t *));

    if (rv->index == NULL || rv->recipients == NULL || rv->grants == NULL
        || rv->tokens == NULL)
    {
        return -1;
    }

    for (i = 0; i < n; i++) {
        rv->grants[i] = calloc(p->recipients[i]->ngrants + 1,
                               sizeof(dsctl_use_t));
        rv->tokens[i] = calloc(p->recipients[i]->ntokens + 1,
                               sizeof(dsctl_use_t));

        if (rv->grants[i] == NULL || rv->tokens[i] == NULL
            || json_object_set_new(rv->index, p->recipients[i]->id,
                                   json_integer((json_int_t) i)) != 0)
        {
            return -1;
        }
    }

    return 0;
}


static int
dsctl_access_review(int argc, char **argv)
{
    int              i, json, rc;
    char             err[DS_ERR_MAX];
    int64_t          since, at;
    const char      *path, *sin, *atx, *fmt;
    ds_policy_t     *p;
    dsctl_review_t   rv;

    path = NULL;
    sin = "90d";
    atx = NULL;
    fmt = "text";

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--since") == 0 && i + 1 < argc) {
            sin = argv[++i];
        } else if (strcmp(argv[i], "--at") == 0 && i + 1 < argc) {
            atx = argv[++i];
        } else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
            fmt = argv[++i];
        } else if (argv[i][0] == '-') {
            dsctl_access_usage(stderr);
            return DSCTL_USAGE;
        } else if (path == NULL) {
            path = argv[i];
        }
    }

    json = strcmp(fmt, "json") == 0;

    if (path == NULL || (!json && strcmp(fmt, "text") != 0)) {
        dsctl_access_usage(stderr);
        return DSCTL_USAGE;
    }

    if (ds_time_parse_duration(sin, &since) != 0 || since <= 0) {
        fprintf(stderr, "dsctl: --since %s: a duration such as 90d\n", sin);
        return DSCTL_USAGE;
    }

    at = ds_time_now_ms();

    if (atx && ds_time_parse_rfc3339(atx, strlen(atx), &at) != 0) {
        fprintf(stderr, "dsctl: --at %s: an RFC 3339 time\n", atx);
        return DSCTL_USAGE;
    }

    p = ds_policy_load(path, err, sizeof(err));
    if (p == NULL) {
        fprintf(stderr, "%s\n", err);
        return DSCTL_FAIL;
    }

    rc = DSCTL_OK;

    if (dsctl_review_init(&rv, p) != 0) {
        fprintf(stderr, "dsctl: out of memory\n");
        rc = DSCTL_USAGE;
    }

    rv.from = at - since;
    rv.to = at;

    for (i = 1; rc == DSCTL_OK && i < argc; i++) {
        if (argv[i][0] == '-') {
            i++;                        /* an option and its value */
            continue;
        }

        if (argv[i] != path && dsctl_review_file(&rv, argv[i]) != 0) {
            rc = DSCTL_USAGE;
        }
    }

    if (rc == DSCTL_OK) {
        if (json) {
            dsctl_review_json(&rv);
        } else {
            dsctl_review_text(&rv);
        }
    }

    dsctl_review_free(&rv);
    ds_policy_free(p);

    return rc;
}


int
dsctl_access(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "review") == 0) {
        return dsctl_access_review(argc - 1, argv + 1);
    }

    if (argc >= 2
        && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
    {
        dsctl_access_usage(stdout);
        return DSCTL_OK;
    }

    dsctl_access_usage(stderr);
    return DSCTL_USAGE;
}
