/*
 * Classifications and approvals: the policy tags shares, schemas and
 * tables (PHI, PII, PCI...), and a grant whose scope touches a tag the
 * policy names in "approvals" must carry an "approval" (who signed it
 * off, under which ticket, when, until when). The loader refuses a
 * grant without one, so nginx -t and dsctl policy check agree; an
 * expired approval ends the grant at its instant (approval_expired),
 * like any other end, without a reload.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ds_http.h"
#include "ds_policy_load.h"


#define DS_TAG_MAX       32
#define DS_APPROVER_MAX  256


static int
ds_tag_valid(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > DS_TAG_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}


/* a non-empty array of tags into the arena */
static int
ds_ld_tags(ds_ld_t *ld, json_t *obj, const char *key, const char ***out,
    size_t *n)
{
    json_t       *arr, *v;
    size_t        i, old;
    const char  **tags;

    if (ds_ld_get(ld, obj, key, JSON_ARRAY, 1, &arr) != 0) {
        return -1;
    }

    old = ds_ld_push(ld, key, 0);

    if (json_array_size(arr) == 0) {
        return ds_ld_fail(ld, "must not be empty");
    }

    tags = ds_arena_alloc(&ld->p->arena, json_array_size(arr) * sizeof(char *));
    if (tags == NULL) {
        return ds_ld_fail(ld, "out of memory");
    }

    json_array_foreach(arr, i, v) {
        if (!json_is_string(v)
            || !ds_tag_valid(json_string_value(v), json_string_length(v)))
        {
            ds_ld_push(ld, NULL, (long) i);
            return ds_ld_fail(ld, "must be a tag such as \"PHI\" (1 to %d "
                              "of A-Z a-z 0-9 _ -)", DS_TAG_MAX);
        }

        tags[i] = ds_arena_strndup(&ld->p->arena, json_string_value(v),
                                   json_string_length(v));
        if (tags[i] == NULL) {
            return ds_ld_fail(ld, "out of memory");
        }
    }

    *out = tags;
    *n = json_array_size(arr);
    ld->jlen = old;

    return 0;
}


int
ds_ld_classifications(ds_ld_t *ld, json_t *v)
{
    static const char *const  keys[] = {
        "share", "schema", "table", "tags", NULL
    };
    ds_policy_t              *p;
    ds_class_t               *c, *nc;
    json_t                   *o;
    size_t                    i, old;

    p = ld->p;
    ds_ld_push(ld, "classifications", 0);

    if (!json_is_array(v)) {
        return ds_ld_fail(ld, "must be an array");
    }

    json_array_foreach(v, i, o) {
        old = ds_ld_push(ld, NULL, (long) i);

        if (!json_is_object(o)) {
            return ds_ld_fail(ld, "must be an object");
        }

        if (p->nclasses == p->cap_classes) {
            p->cap_classes = p->cap_classes ? p->cap_classes * 2 : 16;
            nc = realloc(p->classes, p->cap_classes * sizeof(ds_class_t));
            if (nc == NULL) {
                return ds_ld_fail(ld, "out of memory");
            }
            p->classes = nc;
        }

        c = &p->classes[p->nclasses];
        memset(c, 0, sizeof(ds_class_t));
        c->source = ld->source;

        if (ds_ld_keys(ld, o, keys) != 0
            || ds_ld_name(ld, o, "share", 1, &c->share) != 0
            || ds_ld_name(ld, o, "schema", 0, &c->schema) != 0
            || ds_ld_name(ld, o, "table", 0, &c->table) != 0
            || ds_ld_tags(ld, o, "tags", &c->tags, &c->ntags) != 0)
        {
            return -1;
        }

        p->nclasses++;
        ld->jlen = old;
    }

    return 0;
}


int
ds_ld_approvals(ds_ld_t *ld, json_t *v)
{
    static const char *const  keys[] = {
        "required_for", "separate_author", NULL
    };
    ds_policy_t              *p;
    json_t                   *b;

    p = ld->p;
    ds_ld_push(ld, "approvals", 0);

    if (p->approvals_source) {
        return ds_ld_fail(ld, "also set in %s: set it in one file",
                          p->approvals_source);
    }

    if (!json_is_object(v)) {
        return ds_ld_fail(ld, "must be an object");
    }

    if (ds_ld_keys(ld, v, keys) != 0
        || ds_ld_tags(ld, v, "required_for", &p->approval_tags,
                      &p->napproval_tags) != 0
        || ds_ld_get(ld, v, "separate_author", JSON_TRUE, 0, &b) != 0)
    {
        return -1;
    }

    p->separate_author = (b != NULL && json_is_true(b));
    p->approvals_source = ld->source;

    return 0;
}


static int
ds_ld_text(ds_ld_t *ld, json_t *obj, const char *key, const char **out)
{
    json_t       *v;
    const char   *s;
    size_t        i, len, old;

    if (ds_ld_get(ld, obj, key, JSON_STRING, 1, &v) != 0) {
        return -1;
    }

    s = json_string_value(v);
    len = json_string_length(v);

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
            break;
        }
    }

    if (len == 0 || len > DS_APPROVER_MAX || i < len) {
        old = ds_ld_push(ld, key, 0);
        ds_ld_fail(ld, "must be 1 to %d characters without control "
                   "characters", DS_APPROVER_MAX);
        ld->jlen = old;
        return -1;
    }

    *out = ds_arena_strndup(&ld->p->arena, s, len);

    return *out ? 0 : ds_ld_fail(ld, "out of memory");
}


int
ds_ld_approval(ds_ld_t *ld, json_t *grant, ds_grant_t *g)
{
    static const char *const  keys[] = {
        "approver", "ticket", "date", "expires", NULL
    };
    ds_approval_t            *a;
    json_t                   *o;
    size_t                    old;

    a = &g->approval;
    a->date = DS_TIME_NONE;
    a->expires = DS_TIME_NONE;

    if (ds_ld_get(ld, grant, "approval", JSON_OBJECT, 0, &o) != 0) {
        return -1;
    }

    if (o == NULL) {
        return 0;
    }

    old = ds_ld_push(ld, "approval", 0);

    if (ds_ld_keys(ld, o, keys) != 0
        || ds_ld_text(ld, o, "approver", &a->approver) != 0
        || ds_ld_text(ld, o, "ticket", &a->ticket) != 0
        || ds_ld_time(ld, o, "date", &a->date) != 0
        || ds_ld_time(ld, o, "expires", &a->expires) != 0)
    {
        return -1;
    }

    if (a->date == DS_TIME_NONE) {
        return ds_ld_fail(ld, "missing required field \"date\"");
    }

    if (a->expires != DS_TIME_NONE && a->expires <= a->date) {
        ds_ld_push(ld, "expires", 0);
        return ds_ld_fail(ld, "must be later than date");
    }

    a->present = 1;
    ld->jlen = old;

    return 0;
}


static int
ds_level_overlaps(const ds_cstr_t *a, const ds_cstr_t *b)
{
    if ((a->len == 1 && a->str[0] == '*') || (b->len == 1 && b->str[0] == '*'))
    {
        return 1;
    }

    return ds_name_eq(a->str, a->len, b->str, b->len);
}


const char *
ds_grant_approval_tag(const ds_policy_t *p, const ds_grant_t *g,
    const ds_class_t **cls)
{
    const ds_class_t  *c;
    size_t             i, j, k;

    for (i = 0; i < p->nclasses; i++) {
        c = &p->classes[i];

        /* a wildcard on either side overlaps any name at its level */
        if (!ds_level_overlaps(&c->share, &g->share)
            || !ds_level_overlaps(&c->schema, &g->schema)
            || !ds_level_overlaps(&c->table, &g->table))
        {
            continue;
        }

        for (j = 0; j < c->ntags; j++) {
            for (k = 0; k < p->napproval_tags; k++) {
                if (strcmp(c->tags[j], p->approval_tags[k]) == 0) {
                    if (cls) {
                        *cls = c;
                    }
                    return c->tags[j];
                }
            }
        }
    }

    return NULL;
}


/* after every file: tags and rules may sit in other files than grants */
int
ds_ld_check_approvals(ds_ld_t *ld)
{
    ds_policy_t           *p;
    const ds_recipient_t  *r;
    const ds_class_t      *c;
    const char            *tag;
    size_t                 i, j, k, n;

    p = ld->p;

    if (p->napproval_tags == 0) {
        return 0;
    }

    for (i = 0; i < p->nrecipients; i++) {
        r = p->recipients[i];

        for (j = 0; j < r->ngrants; j++) {
            if (r->grants[j].approval.present) {
                continue;
            }

            tag = ds_grant_approval_tag(p, &r->grants[j], &c);
            if (tag == NULL) {
                continue;
            }

            for (k = 0, n = 0; k < i; k++) {
                n += (p->recipients[k]->source == r->source);
            }

            snprintf(ld->err, ld->err_size, "%s: $.recipients[%zu]"
                     ".grants[%zu]: an \"approval\" is required: the grant "
                     "touches %.*s/%.*s/%.*s, classified %s (in %s), and "
                     "\"approvals\" requires one for %s (in %s)", r->source,
                     n, j, (int) c->share.len, c->share.str,
                     (int) c->schema.len, c->schema.str, (int) c->table.len,
                     c->table.str, tag, c->source, tag,
                     p->approvals_source);
            return -1;
        }
    }

    return 0;
}
