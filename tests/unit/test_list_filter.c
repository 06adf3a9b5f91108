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


/*
 * filter into a fresh buffer and in place (the shell's way): both give
 * the same bytes; return the kept item names joined by ','
 */
static char *
run(ds_op_t op, const char *share, const char *schema, const char *body,
    ds_lf_err_t want, ds_lf_stats_t *stats)
{
    char          *out, *inplace, *names;
    size_t         len, out_len, in_len, i;
    json_t        *root, *items, *item;
    ds_lf_err_t    rc;
    ds_lf_stats_t  st2;

    len = strlen(body);
    out = malloc(len + 1);
    inplace = malloc(len + 1);
    assert_non_null(out);
    assert_non_null(inplace);
    memcpy(inplace, body, len);

    rc = ds_list_filter(recipient, op, share, schema, body, len, out,
                        &out_len, stats);
    assert_int_equal(rc, want);
    assert_int_equal(ds_list_filter(recipient, op, share, schema, inplace,
                                    len, inplace, &in_len, &st2), want);

    if (rc != DS_LF_OK) {
        assert_int_equal(out_len, 0);
        free(inplace);
        free(out);
        return NULL;
    }

    assert_true(out_len <= len);
    assert_int_equal(in_len, out_len);
    assert_memory_equal(inplace, out, out_len);
    free(inplace);
    out[out_len] = '\0';

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


/* kept items and everything around them leave as the upstream wrote them */
static void
test_verbatim(void **state)
{
    char           *out;
    size_t          out_len;
    ds_lf_stats_t   st;
    const char     *body, *want;

    (void) state;

    body = "{\"items\": [ {\"name\":\"claims\", \"id\":\"x\\/y\"} ,"
           " {\"name\":\"internal\"} ,{\"name\":\"DIRECTORY\"}\n],"
           " \"nextPageToken\" : \"t\"}\n";
    want = "{\"items\": [{\"name\":\"claims\", \"id\":\"x\\/y\"},"
           "{\"name\":\"DIRECTORY\"}], \"nextPageToken\" : \"t\"}\n";

    out = malloc(strlen(body));
    assert_non_null(out);

    assert_int_equal(ds_list_filter(recipient, DS_OP_LIST_SHARES, NULL, NULL,
                                    body, strlen(body), out, &out_len, &st),
                     DS_LF_OK);
    assert_int_equal(out_len, strlen(want));
    assert_memory_equal(out, want, out_len);

    body = " { \"nextPageToken\" : null } ";
    assert_int_equal(ds_list_filter(recipient, DS_OP_LIST_SHARES, NULL, NULL,
                                    body, strlen(body), out, &out_len, &st),
                     DS_LF_OK);
    assert_int_equal(out_len, strlen(body));
    assert_memory_equal(out, body, out_len);

    free(out);
}


/* names are compared as text: escapes in keys and values count */
static void
test_escaped_names(void **state)
{
    char           *n;
    ds_lf_stats_t   st;

    (void) state;

    n = run(DS_OP_LIST_SHARES, NULL, NULL,
            "{\"it\\u0065ms\":[{\"n\\u0061me\":\"cl\\u0061ims\"},"
            "{\"name\":\"intern\\u0061l\"}]}", DS_LF_OK, &st);
    assert_string_equal(n, "claims");
    assert_int_equal(st.items_in, 2);
    free(n);

    /* the same member twice, once escaped: which would a client read? */
    run(DS_OP_LIST_SHARES, NULL, NULL,
        "{\"items\":[{\"name\":\"claims\",\"n\\u0061me\":\"internal\"}]}",
        DS_LF_NOT_JSON, &st);
    run(DS_OP_LIST_SHARES, NULL, NULL,
        "{\"items\":[],\"\\u0069tems\":[{\"name\":\"internal\"}]}",
        DS_LF_NOT_JSON, &st);
}


/*
 * The reader accepts what jansson accepts and nothing else, so a client
 * parsing the kept bytes sees the document the gateway decided on.
 */
static void
test_same_grammar_as_jansson(void **state)
{
    char          *out, *b;
    size_t         i, n, len, out_len;
    json_t        *root;
    ds_lf_err_t    rc;
    json_error_t   jerr;
    ds_lf_stats_t  st;

    static const char  *bodies[] = {
        "{\"items\":[{\"name\":\"claims\",\"x\":\"\\ud800\"}]}",
        "{\"items\":[{\"name\":\"claims\",\"x\":\"\\udc00\"}]}",
        "{\"items\":[{\"name\":\"claims\",\"x\":\"\\ud83d\\ude00\"}]}",
        "{\"items\":[{\"name\":\"claims\",\"x\":\"\\ud83d\\u0041\"}]}",
        "{\"items\":[{\"name\":\"claims\",\"x\":\"\xc0\x80\"}]}",
        "{\"items\":[{\"name\":\"claims\",\"x\":\"\xed\xa0\x80\"}]}",
        "{\"items\":[{\"name\":\"claims\",\"x\":\"\xf4\x90\x80\x80\"}]}",
        "{\"items\":[{\"name\":\"claims\",\"x\":\"\xe2\x82\xac\x7f\"}]}",
        "{\"items\":[{\"name\":\"claims\",\"x\":\"\t\"}]}",
        "{\"items\":[{\"name\":\"claims\",\"x\":\"\\U0041\"}]}",
        "{\"items\":[{\"name\":\"claims\",\"x\":\"\\u00e9\\b\\f\"}]}",
        "{\"items\":[{\"name\":\"claims\",\"x\":1e400}]}",
        "{\"items\":[{\"name\":\"claims\",\"x\":-1e-400}]}",
        "{\"items\":[{\"name\":\"claims\",\"x\":9223372036854775808}]}",
        "{\"items\":[{\"name\":\"claims\",\"x\":-9223372036854775808}]}",
        "{\"items\":[{\"name\":\"claims\",\"x\":01}]}",
        "{\"items\":[{\"name\":\"claims\",\"x\":1.}]}",
        "{\"items\":[{\"name\":\"claims\",\"x\":-}]}",
        "{\"items\":[{\"name\":\"claims\",\"x\":-0.5E+3}]}",
        "{\"items\":[{\"name\":\"claims\",\"x\":truex}]}",
        "{\"items\":[{\"name\":\"claims\",\"x\":[1,]}]}",
        "{\"items\":[{\"name\":\"claims\",}]}",
        "{\"items\":[{\"name\":\"claims\"},]}",
        "{\"items\":[{\"name\":\"claims\"}],}",
        "{\"items\":[{\"name\":\"claims\" \"id\":1}]}",
        "\xef\xbb\xbf{\"items\":[]}",
        "{\"items\":[{\"name\":null}]}",
        "{\"items\":nul}",
        "{\"items\":5}",
        "5",
        "",
        " \r\n\t{ }\t\n",
    };

    (void) state;

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        len = strlen(bodies[i]);
        out = malloc(len + 1);
        assert_non_null(out);

        rc = ds_list_filter(recipient, DS_OP_LIST_SHARES, NULL, NULL,
                            bodies[i], len, out, &out_len, &st);
        root = json_loadb(bodies[i], len, JSON_REJECT_DUPLICATES, &jerr);

        if ((rc == DS_LF_NOT_JSON) != (root == NULL)) {
            fail_msg("body %zu: ds_list_filter %s, jansson %s", i,
                     ds_lf_strerror(rc), root ? "accepts" : jerr.text);
        }

        json_decref(root);
        free(out);
    }

    /* nesting: jansson's 2048 levels, in an item's member */
    for (n = 2047; n <= 2049; n++) {
        len = 2 * n + 64;
        b = malloc(len);
        assert_non_null(b);
        out = malloc(len);
        assert_non_null(out);

        len = (size_t) sprintf(b, "{\"items\":[{\"name\":\"claims\",\"x\":");
        memset(b + len, '[', n - 3);
        len += n - 3;
        memset(b + len, ']', n - 3);
        len += n - 3;
        len += (size_t) sprintf(b + len, "}]}");

        rc = ds_list_filter(recipient, DS_OP_LIST_SHARES, NULL, NULL, b, len,
                            out, &out_len, &st);
        root = json_loadb(b, len, JSON_REJECT_DUPLICATES, &jerr);
        assert_int_equal(rc == DS_LF_NOT_JSON, root == NULL);
        json_decref(root);
        free(out);
        free(b);
    }
}


/* many keys are checked for duplicates by sorting, not pair by pair */
static void
test_many_keys(void **state)
{
    char           *b;
    size_t          i, len;
    ds_lf_stats_t   st;

    (void) state;

    b = malloc(64 * 1024);
    assert_non_null(b);

    len = (size_t) sprintf(b, "{\"items\":[{\"name\":\"claims\"");

    for (i = 0; i < 2000; i++) {
        len += (size_t) sprintf(b + len, ",\"k%zu\":%zu", i, i);
    }

    strcpy(b + len, "}]}");
    free(run(DS_OP_LIST_SHARES, NULL, NULL, b, DS_LF_OK, &st));
    assert_int_equal(st.items_out, 1);

    /* k7 again, spelt with an escape, among 2000 others */
    strcpy(b + len, ",\"\\u006b7\":0}]}");
    run(DS_OP_LIST_SHARES, NULL, NULL, b, DS_LF_NOT_JSON, &st);

    free(b);
}


/* 1 when ds_list_filter() and jansson agree on accepting body */
static int
same_verdict(const char *body, size_t len)
{
    char          *out;
    size_t         out_len;
    json_t        *root;
    ds_lf_err_t    rc;
    ds_lf_stats_t  st;

    out = malloc(len + 1);
    assert_non_null(out);

    rc = ds_list_filter(recipient, DS_OP_LIST_SHARES, NULL, NULL, body, len,
                        out, &out_len, &st);
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);

    json_decref(root);
    free(out);

    return (rc == DS_LF_NOT_JSON) == (root == NULL);
}


/* bytes behind the piece, so that it is read 16 at a time, not one by one */
#define TAIL  "\"t\":\"0123456789abcdef0123456789abcdef\"}]}"


/*
 * Strings are scanned 16 bytes at a time: every escape, backslash run,
 * UTF-8 sequence and bad byte is put at every offset of a 64-byte
 * span, inside a wanted key's value, a skipped value and a key, so
 * each one meets a block boundary in each of its positions.
 */
static void
test_block_boundaries(void **state)
{
    char           b[512], *names;
    size_t         i, k, f, len;
    ds_lf_stats_t  st;

    static const char  *pieces[] = {
        "", "\\\"", "\\\\", "\\\\\\\\", "\\\\\\\"", "\\\\\\\\\\\"", "\\/",
        "\\u00e9", "\\ud83d\\ude00", "\xc3\xa9", "\xe2\x82\xac",
        "\xf0\x9f\x98\x80", "\\b\\f\\n\\r\\t",
        /* refused, each alone */
        "\\", "\\u00", "\\ud83d", "\\ude00", "\\u0000", "\\x", "\x01",
        "\x7f\x80", "\xc3", "\xe2\x82", "\xf0\x9f\x98", "\xc0\x80",
        "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff", "\\ud83d\\u0041"
    };

    static const char  *forms[] = {
        /* the kept name itself, behind a pad that moves it */
        "{\"items\":[{\"pad\":\"%.*s\",\"name\":\"claims%s\"," TAIL,
        /* a value nobody looks at */
        "{\"items\":[{\"name\":\"claims\",\"x%.*s\":\"%s\"," TAIL,
        /* a key */
        "{\"items\":[{\"name\":\"claims\",\"%.*sk%s\":1," TAIL,
    };

    static const char  pad[] =
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    (void) state;

    for (f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
        for (i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
            for (k = 0; k < 64; k++) {
                len = (size_t) snprintf(b, sizeof(b), forms[f], (int) k,
                                        pad, pieces[i]);

                if (!same_verdict(b, len)) {
                    fail_msg("form %zu piece %zu offset %zu: %s", f, i, k,
                             b);
                }
            }
        }
    }

    /* kept bytes and decisions, not only the verdict, across offsets */
    for (k = 0; k < 64; k++) {
        snprintf(b, sizeof(b),
                 "{\"items\":[{\"id\":\"%.*s\\\"\",\"name\":\"claims\"},"
                 "{\"name\":\"cl\\u0061ims\",\"x\":\"%.*s\xe2\x82\xac\"},"
                 "{\"name\":\"other\",\"y\":\"\\\\\\\\%.*s\"}]}",
                 (int) k, pad, (int) k, pad, (int) k, pad);

        names = run(DS_OP_LIST_SHARES, NULL, NULL, b, DS_LF_OK, &st);
        assert_string_equal(names, "claims,claims");
        assert_int_equal(st.items_in, 3);
        free(names);
    }
}


/* what an item's deciding members may be, read in one call per item */
static void
test_item_members(void **state)
{
    char           *names;
    ds_lf_stats_t   st;

    (void) state;

    names = run(DS_OP_LIST_SHARES, NULL, NULL,
                "{\"items\":["
                "{\"name\":null},"
                "{\"name\":5,\"x\":\"claims\"},"
                "{\"name\":[\"claims\"]},"
                "{},"
                "{\"nam\":\"claims\",\"names\":\"claims\"},"
                "{ \"ab\" : 1 , \"name\" :\t\"claims\" , \"cd\" : {} },"
                "{\"share\":{\"name\":\"claims\"}}"
                "]}", DS_LF_OK, &st);
    assert_string_equal(names, "claims");
    assert_int_equal(st.items_in, 7);
    free(names);

    /* two keys of one length, equal or not; a duplicate spelt anew */
    names = run(DS_OP_LIST_SHARES, NULL, NULL,
                "{\"items\":[{\"name\":\"claims\",\"abcd\":1}]}",
                DS_LF_OK, &st);
    assert_string_equal(names, "claims");
    free(names);

    run(DS_OP_LIST_SHARES, NULL, NULL,
        "{\"items\":[{\"abcd\":1,\"abcd\":2,\"name\":\"claims\"}]}",
        DS_LF_NOT_JSON, &st);
    run(DS_OP_LIST_SHARES, NULL, NULL,
        "{\"items\":[{\"ab\":1,\"ab\":2}]}", DS_LF_NOT_JSON, &st);
    run(DS_OP_LIST_SHARES, NULL, NULL,
        "{\"items\":[{\"name\":\"claims\",\"n\\u0061me\":\"x\"}]}",
        DS_LF_NOT_JSON, &st);
    run(DS_OP_LIST_SHARES, NULL, NULL,
        "{\"items\":[{\"name\":\"claims\"", DS_LF_NOT_JSON, &st);
    run(DS_OP_LIST_SHARES, NULL, NULL,
        "{\"items\":[{\"name\":\"claims\":1}]}", DS_LF_NOT_JSON, &st);
    run(DS_OP_LIST_SHARES, NULL, NULL,
        "{\"items\":[{\"name\" \"claims\"}]}", DS_LF_NOT_JSON, &st);
    run(DS_OP_LIST_SHARES, NULL, NULL,
        "{\"items\":[{,\"name\":\"claims\"}]}", DS_LF_NOT_JSON, &st);
    run(DS_OP_LIST_SHARES, NULL, NULL,
        "{\"items\":[{\"name\":nul}]}", DS_LF_NOT_JSON, &st);

    /* what ends an item is '}', nothing else */
    run(DS_OP_LIST_SHARES, NULL, NULL,
        "{\"items\":[{\"name\":\"claims\"x]}", DS_LF_NOT_JSON, &st);
    run(DS_OP_LIST_SHARES, NULL, NULL,
        "{\"items\":[{\"name\":\"claims\",\"a\":1 x]}", DS_LF_NOT_JSON,
        &st);
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
        cmocka_unit_test(test_verbatim),
        cmocka_unit_test(test_escaped_names),
        cmocka_unit_test(test_same_grammar_as_jansson),
        cmocka_unit_test(test_many_keys),
        cmocka_unit_test(test_block_boundaries),
        cmocka_unit_test(test_item_members),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
