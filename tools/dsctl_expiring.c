/*
 * dsctl policy expiring: tokens, contracts and attestations that end
 * within a window (or have ended), soonest first, for renewal and
 * automated revocation workflows.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dsctl.h"
#include "dsctl_policy.h"
#include "ds_policy_ends.h"
#include "ds_time.h"


typedef struct {
    int64_t      ends;
    const char  *kind;          /* "token", "contract", "attestation",
                                   "review", "approval" */
    const char  *recipient;
    const char  *id;            /* token id, contract id, type */
    const ds_grant_t *grant;    /* a grant's "review" or "approval" */
} dsctl_item_t;


typedef struct {
    dsctl_item_t  *items;
    size_t         n;
    size_t         cap;
    int64_t        until;
} dsctl_items_t;


static int
dsctl_add(const ds_policy_end_t *e, void *ctx)
{
    dsctl_items_t  *l = ctx;
    dsctl_item_t   *a;

    if (e->ends >= l->until) {
        return 0;
    }

    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        a = realloc(l->items, l->cap * sizeof(dsctl_item_t));
        if (a == NULL) {
            return -1;
        }
        l->items = a;
    }

    l->items[l->n].ends = e->ends;
    l->items[l->n].kind = ds_end_kind_name(e->kind);
    l->items[l->n].recipient = e->recipient->id;
    l->items[l->n].id = e->id;
    l->items[l->n].grant = e->grant;
    l->n++;

    return 0;
}


static int
dsctl_cmp_items(const void *a, const void *b)
{
    const dsctl_item_t  *x = a, *y = b;
    int                  c;

    if (x->ends != y->ends) {
        return x->ends < y->ends ? -1 : 1;
    }

    c = strcmp(x->recipient, y->recipient);
    return c ? c : strcmp(x->kind, y->kind);
}


static int
dsctl_collect(const ds_policy_t *p, dsctl_items_t *l)
{
    int  rc;

    rc = ds_policy_each_end(p, dsctl_add, l);

    /* qsort(NULL, 0, ...) is undefined behaviour */
    if (l->n > 1) {
        qsort(l->items, l->n, sizeof(dsctl_item_t), dsctl_cmp_items);
    }

    return rc;
}


/* "grant claims/adjudicated/medical_claims" for a grant's review */
static const char *
dsctl_item_id(const dsctl_item_t *it, char *buf, size_t size)
{
    const ds_grant_t  *g;

    g = it->grant;

    if (g == NULL) {
        return it->id;
    }

    snprintf(buf, size, "grant %.*s/%.*s/%.*s", (int) g->share.len,
             g->share.str, (int) g->schema.len, g->schema.str,
             (int) g->table.len, g->table.str);

    return buf;
}


static void
dsctl_left(int64_t ends, int64_t at, char *buf, size_t size)
{
    int64_t  s;

    if (ends <= at) {
        snprintf(buf, size, "ended");
        return;
    }

    s = (ends - at) / 1000;

    if (s >= 86400) {
        snprintf(buf, size, "in %lldd", (long long) (s / 86400));
    } else if (s >= 3600) {
        snprintf(buf, size, "in %lldh", (long long) (s / 3600));
    } else {
        snprintf(buf, size, "in %lldm", (long long) (s / 60));
    }
}


static void
dsctl_print_text(const dsctl_items_t *l, int64_t at)
{
    size_t  i;
    char    ends[DS_RFC3339_LEN], left[32], until[DS_RFC3339_LEN];
    char    id[3 * DS_NAME_MAX + 16];

    if (l->n == 0) {
        ds_time_format_rfc3339(l->until, until, sizeof(until));
        printf("nothing ends before %s\n", until);
        return;
    }

    printf("%-24s  %-8s  %-11s  %-24s  %s\n", "ENDS", "WHEN", "KIND",
           "RECIPIENT", "ID");

    for (i = 0; i < l->n; i++) {
        ds_time_format_rfc3339(l->items[i].ends, ends, sizeof(ends));
        dsctl_left(l->items[i].ends, at, left, sizeof(left));
        printf("%-24s  %-8s  %-11s  %-24s  %s\n", ends, left,
               l->items[i].kind, l->items[i].recipient,
               dsctl_item_id(&l->items[i], id, sizeof(id)));
    }
}


static int
dsctl_print_json(const dsctl_items_t *l, int64_t at)
{
    json_t  *root, *arr, *o;
    size_t   i;
    char     buf[DS_RFC3339_LEN], *s, id[3 * DS_NAME_MAX + 16];

    root = json_object();
    arr = json_array();

    ds_time_format_rfc3339(at, buf, sizeof(buf));
    json_object_set_new(root, "at", json_string(buf));
    ds_time_format_rfc3339(l->until, buf, sizeof(buf));
    json_object_set_new(root, "until", json_string(buf));

    for (i = 0; i < l->n; i++) {
        o = json_object();
        ds_time_format_rfc3339(l->items[i].ends, buf, sizeof(buf));
        json_object_set_new(o, "ends", json_string(buf));
        json_object_set_new(o, "ended", json_boolean(l->items[i].ends <= at));
        json_object_set_new(o, "kind", json_string(l->items[i].kind));
        json_object_set_new(o, "recipient",
                            json_string(l->items[i].recipient));
        json_object_set_new(o, "id", json_string(dsctl_item_id(&l->items[i],
                                                   id, sizeof(id))));
        json_array_append_new(arr, o);
    }

    json_object_set_new(root, "items", arr);

    s = json_dumps(root, JSON_INDENT(2));
    json_decref(root);

    if (s == NULL) {
        return -1;
    }

    printf("%s\n", s);
    free(s);

    return 0;
}


int
dsctl_policy_expiring(int argc, char **argv)
{
    const char     *path, *within, *at_s, *format;
    int64_t         at, win;
    int             i, rc;
    ds_policy_t    *p;
    dsctl_items_t   l;
    char            err[DS_ERR_MAX];

    path = NULL;
    within = NULL;
    at_s = NULL;
    format = "text";

    for (i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) == 0 && i + 1 < argc) {
            if (strcmp(argv[i], "--within") == 0) {
                within = argv[++i];
            } else if (strcmp(argv[i], "--at") == 0) {
                at_s = argv[++i];
            } else if (strcmp(argv[i], "--format") == 0) {
                format = argv[++i];
            } else {
                break;
            }
        } else if (path == NULL && argv[i][0] != '-') {
            path = argv[i];
        } else {
            break;
        }
    }

    if (i < argc || path == NULL || within == NULL
        || (strcmp(format, "text") != 0 && strcmp(format, "json") != 0))
    {
        fprintf(stderr, "usage: dsctl policy expiring PATH --within 30d "
                "[--at RFC3339] [--format text|json]\n");
        return DSCTL_USAGE;
    }

    if (ds_time_parse_duration(within, &win) != 0) {
        fprintf(stderr, "dsctl: --within: a duration such as 30d, 12h, 2w\n");
        return DSCTL_USAGE;
    }

    at = ds_time_now_ms();

    if (at_s && ds_time_parse_rfc3339(at_s, strlen(at_s), &at) != 0) {
        fprintf(stderr, "dsctl: --at: not an RFC 3339 time: %s\n", at_s);
        return DSCTL_USAGE;
    }

    p = ds_policy_load(path, err, sizeof(err));
    if (p == NULL) {
        fprintf(stderr, "%s\n", err);
        return DSCTL_FAIL;
    }

    memset(&l, 0, sizeof(l));
    l.until = at + win;

    rc = dsctl_collect(p, &l);

    if (rc == 0) {
        if (strcmp(format, "json") == 0) {
            rc = dsctl_print_json(&l, at);
        } else {
            dsctl_print_text(&l, at);
        }
    }

    free(l.items);
    ds_policy_free(p);

    if (rc != 0) {
        fprintf(stderr, "dsctl: out of memory\n");
        return DSCTL_USAGE;
    }

    return DSCTL_OK;
}
