/*
 * ds_list_filter: list bodies keep only what the recipient may see.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "ds_list_filter.h"


static const char  policy_json[] =
    "{\"version\": 1, \"recipients\": [{"
    "  \"id\": \"r1\", \"status\": \"active\","
    "  \"tokens\": [{\"id\": \"t1\", \"sha256\":"
    "   \"0000000000000000000000000000000000000000000000000000000000000001\""
    "  }],"
    "  \"grants\": ["
    "    {\"share\": \"claims\", \"schema\": \"adjudicated\","
    "     \"table\": \"medical_claims\"},"
    "    {\"share\": \"directory\", \"schema\": \"*\", \"table\": \"*\"}"
    "  ]}]}";


static ds_policy_t           *policy;
static const ds_recipient_t  *recipient;


static int
setup(void **state)
{
    char  err[DS_ERR_MAX];

    (void) state;

    policy = ds_policy_load_buffer("test", policy_json, strlen(policy_json),
                                   err, sizeof(err));
    if (policy == NULL) {
        print_error("policy: %s\n", err);
        return -1;
    }

    recipient = ds_policy_find_recipient(policy, "r1", 2);

    return recipient ? 0 : -1;
}


static int
teardown(void **state)
{
    (void) state;
    ds_policy_free(policy);
    return 0;
}


/* filter and return the kept item names joined by ',' */
static char *
run(ds_op_t op, const char *share, const char *schema, const char *body,
    ds_lf_err_t want, ds_lf_stats_t *stats)
{
    char          *out, *names;
    size_t         out_len, i;
    json_t        *root, *items, *item;
    ds_lf_err_t    rc;

    rc = ds_list_filter(recipient, op, share, schema, body, strlen(body),
                        &out, &out_len, stats);
    assert_int_equal(rc, want);

    if (rc != DS_LF_OK) {
        assert_null(out);
        return NULL;
    }

    assert_int_equal(out_len, strlen(out));

    root = json_loads(out, 0, NULL);
    assert_non_null(root);

    names = calloc(1, 4096);
    items = json_object_get(root, "items");

    json_array_foreach(items, i, item) {
        if (i) {
            strcat(names, ",");
        }
        strcat(names, json_string_value(json_object_get(item, "name")));
    }

    /* every other top-level key survives */
    if (strstr(body, "nextPageToken")) {
        assert_string_equal(json_string_value(
            json_object_get(root, "nextPageToken")), "tok==");
    }

    json_decref(root);
    free(out);

    return names;
}


static void
test_shares(void **state)
{
    char           *n;
    ds_lf_stats_t   st;

    (void) state;

    n = run(DS_OP_LIST_SHARES, NULL, NULL,
            "{\"items\":[{\"name\":\"claims\"},{\"name\":\"internal\"},"
            "{\"name\":\"DIRECTORY\",\"id\":\"x\"}],"
            "\"nextPageToken\":\"tok==\"}", DS_LF_OK, &st);
    assert_string_equal(n, "claims,DIRECTORY");
    assert_int_equal(st.items_in, 3);
    assert_int_equal(st.items_out, 2);
    free(n);
}


static void
test_schemas_use_path_share(void **state)
{
    char           *n;
    ds_lf_stats_t   st;

    (void) state;

    n = run(DS_OP_LIST_SCHEMAS, "claims", NULL,
            "{\"items\":[{\"name\":\"adjudicated\",\"share\":\"claims\"},"
            "{\"name\":\"pending\",\"share\":\"claims\"},"
            "{\"name\":\"adjudicated\",\"share\":\"other\"}]}",
            DS_LF_OK, &st);
    assert_string_equal(n, "adjudicated");
    free(n);
}


static void
test_tables_and_all_tables(void **state)
{
    char           *n;
    ds_lf_stats_t   st;

    (void) state;

    n = run(DS_OP_LIST_TABLES, "claims", "adjudicated",
            "{\"items\":[{\"name\":\"medical_claims\"},"
            "{\"name\":\"pharmacy_claims\"}],\"nextPageToken\":\"tok==\"}",
            DS_LF_OK, &st);
    assert_string_equal(n, "medical_claims");
    free(n);

    n = run(DS_OP_LIST_ALL_TABLES, "claims", NULL,
            "{\"items\":[{\"name\":\"medical_claims\",\"schema\":"
            "\"adjudicated\",\"share\":\"claims\"},"
            "{\"name\":\"medical_claims\",\"schema\":\"pending\","
            "\"share\":\"claims\"},"
            "{\"name\":\"no_schema\",\"share\":\"claims\"}]}",
            DS_LF_OK, &st);
    assert_string_equal(n, "medical_claims");
    assert_int_equal(st.items_in, 3);
    assert_int_equal(st.items_out, 1);
    free(n);
}


static void
test_odd_items_dropped(void **state)
{
    char           *n;
    ds_lf_stats_t   st;

    (void) state;

    n = run(DS_OP_LIST_SHARES, NULL, NULL,
            "{\"items\":[1,\"claims\",{\"id\":\"claims\"},{\"name\":7},"
            "{\"name\":\"claims\"}]}",
            DS_LF_OK, &st);
    assert_string_equal(n, "claims");
    assert_int_equal(st.items_in, 5);
    free(n);

    n = run(DS_OP_LIST_TABLES, "claims", "adjudicated",
            "{\"items\":[{\"name\":\"medical_claims\",\"share\":5}]}",
            DS_LF_OK, &st);
    assert_string_equal(n, "");
    free(n);
}


static void
test_empty_and_missing_items(void **state)
{
    char           *n;
    ds_lf_stats_t   st;

    (void) state;

    n = run(DS_OP_LIST_SHARES, NULL, NULL, "{\"nextPageToken\":\"tok==\"}",
            DS_LF_OK, &st);
    assert_string_equal(n, "");
    free(n);

    n = run(DS_OP_LIST_SHARES, NULL, NULL, "{}", DS_LF_OK, &st);
    free(n);
}


static void
test_errors(void **state)
{
    ds_lf_stats_t  st;

    (void) state;

    run(DS_OP_LIST_SHARES, NULL, NULL, "<html>", DS_LF_NOT_JSON, &st);
    run(DS_OP_LIST_SHARES, NULL, NULL, "{\"items\":[{\"name\":\"cl",
        DS_LF_NOT_JSON, &st);
    run(DS_OP_LIST_SHARES, NULL, NULL, "{} {}", DS_LF_NOT_JSON, &st);
    run(DS_OP_LIST_SHARES, NULL, NULL,
        "{\"items\":[],\"items\":[{\"name\":\"internal\"}]}",
        DS_LF_NOT_JSON, &st);
    /* a NUL could make "claims\0x" compare as "claims": rejected */
    run(DS_OP_LIST_SHARES, NULL, NULL,
        "{\"items\":[{\"name\":\"claims\\u0000x\"}]}", DS_LF_NOT_JSON,
        &st);
    run(DS_OP_LIST_SHARES, NULL, NULL, "[]", DS_LF_BAD_SHAPE, &st);
    run(DS_OP_LIST_SHARES, NULL, NULL, "{\"items\":{}}", DS_LF_BAD_SHAPE,
        &st);
    run(DS_OP_GET_SHARE, "claims", NULL, "{}", DS_LF_NOT_LIST, &st);
    assert_string_equal(ds_lf_strerror(DS_LF_NOT_JSON),
                        "body is not valid JSON");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_shares),
        cmocka_unit_test(test_schemas_use_path_share),
        cmocka_unit_test(test_tables_and_all_tables),
        cmocka_unit_test(test_odd_items_dropped),
        cmocka_unit_test(test_empty_and_missing_items),
        cmocka_unit_test(test_errors),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
