/*
 * libFuzzer harness for the list body filter (ds_list_filter).
 * requires: ds_list_filter ds_policy_load_buffer ds_policy_visible
 *
 * Input: byte 0 is a selector, the rest is the upstream body (exactly
 * sized, so ASan sees any overread). Selector bits: 0-1 the list
 * operation (shares, schemas, tables, all-tables), 2 the recipient,
 * 3-4 the share/schema the request path named; the printable range
 * '@' + op + 4 * recipient + 8 * path spells them all ("B" = list
 * tables, vendor, claims/adjudicated). Seeds are a selector byte and a
 * body shaped like tests/upstream/ds_upstream.py's.
 *
 * Beyond "no crash, no leak", it checks what the filter promises:
 * - the reader accepts exactly what jansson accepts (but for a NUL
 *   byte, which it always refuses), and filtering in place gives the
 *   same bytes as filtering into a copy;
 * - on failure there is no output, and the error matches what jansson
 *   and the body's shape say;
 * - on success the output is one JSON object; "items" holds, in order,
 *   exactly the input items the recipient may see (each checked again
 *   with ds_policy_visible); items_out <= items_in; every other
 *   top-level key (nextPageToken...) is unchanged;
 * - filtering the output again changes nothing.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ds_list_filter.h"

#define check(x)  do { if (!(x)) { __builtin_trap(); } } while (0)


/* grants mix exact names (in other letter cases) and '*' */
static const char  policy_json[] =
    "{\"version\": 1, \"recipients\": ["
    " {\"id\": \"vendor\", \"status\": \"active\","
    "  \"tokens\": [{\"id\": \"v1\", \"sha256\":"
    "   \"0000000000000000000000000000000000000000000000000000000000000001\""
    "  }],"
    "  \"grants\": ["
    "   {\"share\": \"claims\", \"schema\": \"adjudicated\","
    "    \"table\": \"medical_claims\"},"
    "   {\"share\": \"directory\", \"schema\": \"*\", \"table\": \"*\"}"
    "  ]},"
    " {\"id\": \"partner\", \"status\": \"active\","
    "  \"tokens\": [{\"id\": \"p1\", \"sha256\":"
    "   \"0000000000000000000000000000000000000000000000000000000000000002\""
    "  }],"
    "  \"grants\": ["
    "   {\"share\": \"*\", \"schema\": \"public\", \"table\": \"providers\"},"
    "   {\"share\": \"Claims\", \"schema\": \"RAW\"}"
    "  ]}"
    "]}";

static const ds_op_t  ops[] = {
    DS_OP_LIST_SHARES, DS_OP_LIST_SCHEMAS, DS_OP_LIST_TABLES,
    DS_OP_LIST_ALL_TABLES
};

/* what the request path named: {share, schema} */
static const char  *paths[][2] = {
    { "claims", "adjudicated" },
    { "directory", "public" },
    { "CLAIMS", "raw" },
    { NULL, NULL }
};

static ds_policy_t           *policy;
static const ds_recipient_t  *recipients[2];


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char  err[DS_ERR_MAX];

    (void) argc;
    (void) argv;

    policy = ds_policy_load_buffer("fuzz-policy", policy_json,
                                   sizeof(policy_json) - 1, err, sizeof(err));
    check(policy != NULL);

    recipients[0] = ds_policy_find_recipient(policy, "vendor", 6);
    recipients[1] = ds_policy_find_recipient(policy, "partner", 7);
    check(recipients[0] != NULL && recipients[1] != NULL);

    return 0;
}


/* an item's string for key, the path's if absent or null; -1 if bad */
static int
field(json_t *item, const char *key, const char *path, const char **v)
{
    json_t  *j;

    j = json_object_get(item, key);

    if (j == NULL || json_is_null(j)) {
        *v = (path && path[0]) ? path : NULL;
        return 0;
    }

    if (!json_is_string(j)
        || strlen(json_string_value(j)) != json_string_length(j))
    {
        return -1;
    }

    *v = json_string_value(j);
    return 0;
}


/*
 * The header's contract, written out again: the item needs a string
 * name; schemas must belong to the path's share; tables need a share
 * and schema (theirs or the path's); a non-string share/schema drops
 * the item at the levels that read it.
 */
static int
visible(const ds_recipient_t *r, ds_op_t op, json_t *item,
    const char *share, const char *schema)
{
    const char  *name, *s, *sc;

    if (!json_is_object(item)
        || field(item, "name", NULL, &name) != 0 || name == NULL)
    {
        return 0;
    }

    if (op == DS_OP_LIST_SHARES) {
        return ds_policy_visible(r, name, NULL, NULL);
    }

    if (field(item, "share", share, &s) != 0 || s == NULL) {
        return 0;
    }

    if (op == DS_OP_LIST_SCHEMAS) {
        return share != NULL
               && ds_name_eq(s, strlen(s), share, strlen(share))
               && ds_policy_visible(r, share, name, NULL);
    }

    if (field(item, "schema", schema, &sc) != 0 || sc == NULL) {
        return 0;
    }

    return ds_policy_visible(r, s, sc, name);
}


static void
check_failure(ds_lf_err_t rc, const uint8_t *body, size_t len)
{
    json_t        *root, *items;
    json_error_t   jerr;

    root = json_loadb((const char *) body, len, JSON_REJECT_DUPLICATES,
                      &jerr);

    if (rc == DS_LF_NOT_JSON) {
        /*
         * A NUL byte is never valid JSON, but jansson drops one that
         * follows a number or a literal (its lexer's unget): there the
         * reader is the stricter of the two, as a client's parser is.
         */
        check(root == NULL || memchr(body, '\0', len) != NULL);
        json_decref(root);
        return;
    }

    check(root != NULL);

    if (rc == DS_LF_BAD_SHAPE) {
        items = json_object_get(root, "items");
        check(!json_is_object(root)
              || (items != NULL && !json_is_null(items)
                  && !json_is_array(items)));
    } else {
        check(rc == DS_LF_NO_MEMORY);
    }

    json_decref(root);
}


static void
check_success(const ds_recipient_t *r, ds_op_t op, const char *share,
    const char *schema, const uint8_t *body, size_t len, const char *out,
    size_t out_len, const ds_lf_stats_t *st)
{
    size_t          i, k;
    json_t         *in, *res, *in_items, *out_items, *item, *v;
    const char     *key;
    json_error_t    jerr;

    check(out != NULL && strlen(out) == out_len);
    check(memchr(body, '\0', len) == NULL);

    in = json_loadb((const char *) body, len, JSON_REJECT_DUPLICATES, &jerr);
    check(json_is_object(in));

    res = json_loadb(out, out_len, JSON_REJECT_DUPLICATES, &jerr);
    check(json_is_object(res));

    check(st->items_out <= st->items_in);
    check(json_object_size(res) == json_object_size(in));

    in_items = json_object_get(in, "items");
    out_items = json_object_get(res, "items");

    if (in_items == NULL || json_is_null(in_items)) {
        check(st->items_in == 0 && st->items_out == 0);
        check(json_equal(in_items, out_items) || in_items == out_items);

    } else {
        check(json_is_array(in_items) && json_is_array(out_items));
        check(st->items_in == json_array_size(in_items));
        check(st->items_out == json_array_size(out_items));

        /* kept items are the visible ones, in order, unchanged */
        k = 0;

        json_array_foreach(in_items, i, item) {
            if (visible(r, op, item, share, schema)) {
                check(k < json_array_size(out_items));
                check(json_equal(item, json_array_get(out_items, k)));
                k++;
            }
        }

        check(k == json_array_size(out_items));

        json_array_foreach(out_items, i, item) {
            check(visible(r, op, item, share, schema));
        }
    }

    json_object_foreach(in, key, v) {
        if (strcmp(key, "items") != 0) {
            check(json_equal(v, json_object_get(res, key)));
        }
    }

    v = json_object_get(in, "nextPageToken");

    if (json_is_string(v)) {
        check(json_is_string(json_object_get(res, "nextPageToken")));
        check(strcmp(json_string_value(v),
                     json_string_value(json_object_get(res, "nextPageToken")))
              == 0);
    }

    json_decref(res);
    json_decref(in);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                  *out, *again, *inplace;
    size_t                 out_len, again_len, in_len;
    ds_op_t                op;
    ds_lf_err_t            rc, rc2;
    const char            *share, *schema;
    ds_lf_stats_t          st, st2;
    const uint8_t         *body;
    const ds_recipient_t  *r;

    if (size < 1) {
        return 0;
    }

    op = ops[data[0] & 3];
    r = recipients[(data[0] >> 2) & 1];
    share = paths[(data[0] >> 3) & 3][0];
    schema = paths[(data[0] >> 3) & 3][1];
    body = data + 1;
    size--;

    out = malloc(size + 1);
    inplace = malloc(size + 1);
    again = malloc(size + 1);
    check(out != NULL && inplace != NULL && again != NULL);
    memcpy(inplace, body, size);
    out_len = 12345;

    rc = ds_list_filter(r, op, share, schema, (const char *) body, size,
                        out, &out_len, &st);

    check(ds_lf_strerror(rc) != NULL);

    /* in place (the shell's way) gives the same answer, byte for byte */
    rc2 = ds_list_filter(r, op, share, schema, inplace, size, inplace,
                         &in_len, &st2);
    check(rc2 == rc);

    if (rc != DS_LF_OK) {
        check(out_len == 0 && in_len == 0);
        check(st.items_out <= st.items_in);
        check_failure(rc, body, size);
        goto done;
    }

    check(out_len <= size);
    check(in_len == out_len && memcmp(inplace, out, out_len) == 0);
    check(st2.items_in == st.items_in && st2.items_out == st.items_out);

    out[out_len] = '\0';
    check_success(r, op, share, schema, body, size, out, out_len, &st);

    /* what was kept stays kept */
    rc = ds_list_filter(r, op, share, schema, out, out_len, again,
                        &again_len, &st2);
    check(rc == DS_LF_OK);
    check(st2.items_in == st.items_out && st2.items_out == st.items_out);
    check(again_len == out_len && memcmp(again, out, out_len) == 0);

    /* a non-list operation is refused whatever the body */
    rc = ds_list_filter(r, DS_OP_QUERY_TABLE, share, schema,
                        (const char *) body, size, out, &out_len, &st);
    check(rc == DS_LF_NOT_LIST && out_len == 0);

done:

    free(again);
    free(inplace);
    free(out);

    return 0;
}
