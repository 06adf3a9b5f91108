/*
 * List-response filtering. The upstream answers every list call with
 * everything it holds; the gateway keeps the items the recipient's
 * grants make visible, at the level the operation lists.
 */

#include <stdlib.h>
#include <string.h>

#include "ds_json.h"
#include "ds_list_filter.h"


static const char  *ds_lf_errors[] = {
    "ok",
    "body is not valid JSON",
    "body is not a Delta Sharing list object",
    "not a list operation",
    "out of memory"
};


typedef ds_json_field_t  ds_lf_field_t;


/* the members of an item that decide whether it is shown */
enum {
    DS_LF_NAME = 0,
    DS_LF_SHARE,
    DS_LF_SCHEMA,
    DS_LF_NFIELDS
};


/* in the order above */
static const ds_json_pick_t  ds_lf_keys[] = {
    { "name", 4 },
    { "share", 5 },
    { "schema", 6 }
};


typedef struct {
    const ds_recipient_t  *r;
    ds_op_t                op;
    const char            *share;
    size_t                 share_len;
    const char            *schema;
    size_t                 schema_len;
    const char            *body;
    size_t                 len;
    char                  *out;
    size_t                 w;           /* bytes written to out */
    size_t                 rb;          /* offset of the items' ']' */
    unsigned char         *text;        /* an item's names, unescaped */
    size_t                 text_size;
    ds_lf_stats_t         *stats;
    ds_json_t              j;
} ds_lf_t;


/* a name as the item or the path gives it: not NUL-terminated */
typedef struct {
    const char  *s;
    size_t       len;
} ds_lf_text_t;


/*
 * An item's own name for a member, or the path's when the item has
 * none. Returns 0 and sets *t (t->s NULL if neither), -1 for a
 * non-string. Only a name with escapes is copied (unescaped) to *o.
 */
static int
ds_lf_name(const ds_lf_field_t *f, const char *fallback, size_t fallback_len,
    unsigned char **o, ds_lf_text_t *t)
{
    if (f->kind == DS_JSON_OTHER) {
        return -1;
    }

    if (f->kind != DS_JSON_STRING) {            /* missing or null */
        t->s = fallback_len ? fallback : NULL;
        t->len = fallback_len;
        return 0;
    }

    if (!f->s.esc) {
        t->s = (const char *) f->s.s;
        t->len = f->s.len;
        return 0;
    }

    /* no NUL can be inside: ds_json refuses \u0000 and raw controls */
    t->s = (const char *) *o;
    t->len = ds_json_unescape(&f->s, *o);
    *o += t->len;

    return 0;
}


/* room the field's unescaped text needs in lf->text */
static size_t
ds_lf_escaped(const ds_lf_field_t *f)
{
    return (f->kind == DS_JSON_STRING && f->s.esc) ? f->s.len : 0;
}


static int
ds_lf_decide(ds_lf_t *lf, const ds_lf_field_t *it)
{
    size_t          need;
    unsigned char  *o;
    ds_lf_text_t    name, s, sc;

    need = ds_lf_escaped(&it[DS_LF_NAME]) + ds_lf_escaped(&it[DS_LF_SHARE])
           + ds_lf_escaped(&it[DS_LF_SCHEMA]);

    if (need > lf->text_size) {
        o = realloc(lf->text, need);
        if (o == NULL) {
            lf->j.nomem = 1;
            return -1;
        }

        lf->text = o;
        lf->text_size = need;
    }

    o = lf->text;

    if (ds_lf_name(&it[DS_LF_NAME], NULL, 0, &o, &name) != 0
        || name.s == NULL)
    {
        return 0;
    }

    switch (lf->op) {

    case DS_OP_LIST_SHARES:
        return ds_policy_visible_n(lf->r, name.s, name.len, NULL, 0, NULL, 0);

    case DS_OP_LIST_SCHEMAS:
        /* the path's share was authorized; items must belong to it */
        if (ds_lf_name(&it[DS_LF_SHARE], lf->share, lf->share_len, &o, &s) != 0
            || s.s == NULL || lf->share_len == 0
            || !ds_name_eq(s.s, s.len, lf->share, lf->share_len))
        {
            return 0;
        }

        return ds_policy_visible_n(lf->r, lf->share, lf->share_len,
                                   name.s, name.len, NULL, 0);

    case DS_OP_LIST_TABLES:
    case DS_OP_LIST_ALL_TABLES:
        if (ds_lf_name(&it[DS_LF_SHARE], lf->share, lf->share_len, &o, &s)
               != 0
            || ds_lf_name(&it[DS_LF_SCHEMA], lf->schema, lf->schema_len, &o,
                          &sc) != 0
            || s.s == NULL || sc.s == NULL)
        {
            return 0;
        }

        return ds_policy_visible_n(lf->r, s.s, s.len, sc.s, sc.len,
                                   name.s, name.len);

    default:
        return 0;
    }
}


/*
 * One element of "items", at its first byte (ds_json_array_next() put
 * the read position there): 1 shown, 0 dropped, -1 bad input.
 */
static int
ds_lf_item(ds_lf_t *lf)
{
    ds_lf_field_t  it[DS_LF_NFIELDS];

    if (*lf->j.p != '{') {
        return ds_json_value(&lf->j, 3) == 0 ? 0 : -1;
    }

    /* no member was given twice (refused), so the one seen decides */
    if (ds_json_object_pick(&lf->j, 3, ds_lf_keys, DS_LF_NFIELDS, it) != 0) {
        return -1;
    }

    return ds_lf_decide(lf, it);
}


/*
 * The items array, at '['. Kept items move to out as they stand; out
 * never overtakes the read position, so out may be the body itself.
 */
static int
ds_lf_items(ds_lf_t *lf)
{
    int                   rc;
    size_t                n, lb, size;
    const unsigned char  *start;

    lb = ds_json_offset(&lf->j);

    if (lf->out != lf->body) {
        memcpy(lf->out, lf->body, lb + 1);
    }

    lf->w = lb + 1;

    (void) ds_json_array_open(&lf->j);

    for (n = 0; (rc = ds_json_array_next(&lf->j, n)) == 1; n++) {

        start = lf->j.p;

        rc = ds_lf_item(lf);
        if (rc < 0) {
            return -1;
        }

        lf->stats->items_in++;

        if (rc == 0) {
            continue;
        }

        if (lf->stats->items_out++) {
            lf->out[lf->w++] = ',';
        }

        size = (size_t) (lf->j.p - start);
        memmove(lf->out + lf->w, start, size);
        lf->w += size;
    }

    lf->rb = ds_json_offset(&lf->j) - 1;

    return rc;
}


static ds_lf_err_t
ds_lf_fail(ds_lf_t *lf)
{
    return lf->j.nomem ? DS_LF_NO_MEMORY : DS_LF_NOT_JSON;
}


static ds_lf_err_t
ds_lf_root(ds_lf_t *lf)
{
    int             c, rc, shape, items, seen;
    size_t          frame, size;
    ds_json_str_t   key;

    c = ds_json_peek(&lf->j);

    if (c == '[') {
        if (ds_json_value(&lf->j, 1) != 0 || ds_json_end(&lf->j) != 0) {
            return ds_lf_fail(lf);
        }

        return DS_LF_BAD_SHAPE;
    }

    if (ds_json_object_open(&lf->j, &frame) != 0) {
        return DS_LF_NOT_JSON;
    }

    shape = 1;
    items = 0;
    seen = 0;

    while ((rc = ds_json_object_key(&lf->j, frame, &key)) == 1) {

        if (!ds_json_str_is(&key, "items", 5)) {
            rc = ds_json_value(&lf->j, 2);

        } else if (seen++) {
            return DS_LF_NOT_JSON;              /* a duplicate key */

        } else {
            c = ds_json_peek(&lf->j);

            if (c == '[') {
                rc = ds_lf_items(lf);
                items = 1;

            } else {
                shape = (c == 'n');             /* null: nothing listed */
                rc = ds_json_value(&lf->j, 2);
            }
        }

        if (rc != 0) {
            return ds_lf_fail(lf);
        }
    }

    if (rc != 0 || ds_json_end(&lf->j) != 0) {
        return ds_lf_fail(lf);
    }

    if (!shape) {
        return DS_LF_BAD_SHAPE;
    }

    if (items) {
        size = lf->len - lf->rb;
        memmove(lf->out + lf->w, lf->body + lf->rb, size);
        lf->w += size;

    } else {
        if (lf->out != lf->body) {
            memcpy(lf->out, lf->body, lf->len);
        }

        lf->w = lf->len;
    }

    return DS_LF_OK;
}


ds_lf_err_t
ds_list_filter(const ds_recipient_t *r, ds_op_t op, const char *share,
    const char *schema, const char *body, size_t len, char *out,
    size_t *out_len, ds_lf_stats_t *stats)
{
    ds_lf_t      lf;
    ds_lf_err_t  rc;

    *out_len = 0;
    stats->items_in = 0;
    stats->items_out = 0;

    if (!ds_op_is_list(op)) {
        return DS_LF_NOT_LIST;
    }

    lf.r = r;
    lf.op = op;
    lf.share = share;
    lf.share_len = share ? strlen(share) : 0;
    lf.schema = schema;
    lf.schema_len = schema ? strlen(schema) : 0;
    lf.body = body;
    lf.len = len;
    lf.out = out;
    lf.w = 0;
    lf.rb = 0;
    lf.text = NULL;
    lf.text_size = 0;
    lf.stats = stats;

    ds_json_init(&lf.j, body, len);

    rc = ds_lf_root(&lf);

    ds_json_done(&lf.j);
    free(lf.text);

    if (rc == DS_LF_OK) {
        *out_len = lf.w;
    }

    return rc;
}


const char *
ds_lf_strerror(ds_lf_err_t err)
{
    if ((size_t) err >= sizeof(ds_lf_errors) / sizeof(ds_lf_errors[0])) {
        return "unknown error";
    }

    return ds_lf_errors[err];
}
