/*
 * List-response filtering. The upstream answers every list call with
 * everything it holds; the gateway keeps the items the recipient's
 * grants make visible, at the level the operation lists.
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ds_list_filter.h"


static const char  *ds_lf_errors[] = {
    "ok",
    "body is not valid JSON",
    "body is not a Delta Sharing list object",
    "not a list operation",
    "out of memory"
};


/*
 * An item's own name for a key, or the path's when the item has none.
 * Returns 0 and sets *name (NULL if neither), -1 for a non-string.
 */
static int
ds_lf_name(json_t *item, const char *key, const char *fallback,
    const char **name)
{
    json_t  *v;

    v = json_object_get(item, key);

    if (v == NULL || json_is_null(v)) {
        *name = (fallback && fallback[0]) ? fallback : NULL;
        return 0;
    }

    if (!json_is_string(v)) {
        return -1;
    }

    /* a NUL inside would compare as a shorter name */
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        return -1;
    }

    *name = json_string_value(v);
    return 0;
}


static int
ds_lf_item_visible(const ds_recipient_t *r, ds_op_t op, json_t *item,
    const char *share, const char *schema)
{
    const char  *name, *s, *sc;

    if (!json_is_object(item)) {
        return 0;
    }

    if (ds_lf_name(item, "name", NULL, &name) != 0 || name == NULL) {
        return 0;
    }

    switch (op) {

    case DS_OP_LIST_SHARES:
        return ds_policy_visible(r, name, NULL, NULL);

    case DS_OP_LIST_SCHEMAS:
        /* the path's share was authorized; items must belong to it */
        if (ds_lf_name(item, "share", share, &s) != 0 || s == NULL
            || share == NULL
            || !ds_name_eq(s, strlen(s), share, strlen(share)))
        {
            return 0;
        }

        return ds_policy_visible(r, share, name, NULL);

    case DS_OP_LIST_TABLES:
    case DS_OP_LIST_ALL_TABLES:
        if (ds_lf_name(item, "share", share, &s) != 0
            || ds_lf_name(item, "schema", schema, &sc) != 0
            || s == NULL || sc == NULL)
        {
            return 0;
        }

        return ds_policy_visible(r, s, sc, name);

    default:
        return 0;
    }
}


ds_lf_err_t
ds_list_filter(const ds_recipient_t *r, ds_op_t op, const char *share,
    const char *schema, const char *body, size_t len, char **out,
    size_t *out_len, ds_lf_stats_t *stats)
{
    json_t        *root, *items, *kept, *item;
    json_error_t   jerr;
    size_t         i;
    char          *text;
    ds_lf_err_t    rc;

    *out = NULL;
    *out_len = 0;
    stats->items_in = 0;
    stats->items_out = 0;

    if (!ds_op_is_list(op)) {
        return DS_LF_NOT_LIST;
    }

    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        return DS_LF_NOT_JSON;
    }

    rc = DS_LF_BAD_SHAPE;
    kept = NULL;

    if (!json_is_object(root)) {
        goto done;
    }

    items = json_object_get(root, "items");

    if (items != NULL && !json_is_null(items)) {

        if (!json_is_array(items)) {
            goto done;
        }

        kept = json_array();
        if (kept == NULL) {
            rc = DS_LF_NO_MEMORY;
            goto done;
        }

        json_array_foreach(items, i, item) {
            stats->items_in++;

            if (!ds_lf_item_visible(r, op, item, share, schema)) {
                continue;
            }

            if (json_array_append(kept, item) != 0) {
                rc = DS_LF_NO_MEMORY;
                goto done;
            }

            stats->items_out++;
        }

        /* json_object_set keeps the key's place in the object */
        if (json_object_set(root, "items", kept) != 0) {
            rc = DS_LF_NO_MEMORY;
            goto done;
        }
    }

    text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text == NULL) {
        rc = DS_LF_NO_MEMORY;
        goto done;
    }

    *out = text;
    *out_len = strlen(text);
    rc = DS_LF_OK;

done:

    json_decref(kept);
    json_decref(root);

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
