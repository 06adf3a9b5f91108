/*
 * ds_path: every endpoint shape, every error, hostile encodings.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ds_path.h"

#define PREFIX  "/delta-sharing"


static ds_path_err_t
parse_len(const char *m, const char *uri, size_t len, ds_path_t *out)
{
    return ds_path_parse(m, strlen(m), uri, len, PREFIX,
                         sizeof(PREFIX) - 1, out);
}


static ds_path_err_t
parse(const char *m, const char *uri, ds_path_t *out)
{
    return parse_len(m, uri, strlen(uri), out);
}


static void
expect_err(const char *m, const char *uri, ds_path_err_t want)
{
    ds_path_t      out;
    ds_path_err_t  rc;

    rc = parse(m, uri, &out);

    if (rc != want) {
        print_error("%s %s: got %s, want %s\n", m, uri,
                    ds_path_strerror(rc), ds_path_strerror(want));
    }

    assert_int_equal(rc, want);
    assert_int_equal(out.op, DS_OP_UNKNOWN);
}


/* parse OK, and return the result for further checks */
static void
expect_ok(const char *m, const char *uri, ds_path_t *out)
{
    ds_path_err_t  rc;

    rc = parse(m, uri, out);

    if (rc != DS_PATH_OK) {
        print_error("%s %s: %s\n", m, uri, ds_path_strerror(rc));
    }

    assert_int_equal(rc, DS_PATH_OK);
}


static void
expect_share(const char *uri, const char *share)
{
    ds_path_t  out;

    expect_ok("GET", uri, &out);
    assert_int_equal(out.op, DS_OP_GET_SHARE);
    assert_string_equal(out.share, share);
    assert_int_equal(out.share_len, strlen(share));
}


typedef struct {
    const char  *method;
    const char  *path;
    ds_op_t      op;
    const char  *share;
    const char  *schema;
    const char  *table;
    const char  *query_id;
} shape_t;


#define T  "/shares/s1/schemas/sc1/tables/t1"

static const shape_t  shapes[] = {
    { "GET",  "/shares", DS_OP_LIST_SHARES, "", "", "", "" },
    { "GET",  "/shares/s1", DS_OP_GET_SHARE, "s1", "", "", "" },
    { "GET",  "/shares/s1/schemas", DS_OP_LIST_SCHEMAS, "s1", "", "", "" },
    { "GET",  "/shares/s1/schemas/sc1/tables", DS_OP_LIST_TABLES,
      "s1", "sc1", "", "" },
    { "GET",  "/shares/s1/all-tables", DS_OP_LIST_ALL_TABLES,
      "s1", "", "", "" },
    { "GET",  T "/version", DS_OP_TABLE_VERSION, "s1", "sc1", "t1", "" },
    { "HEAD", T "/version", DS_OP_TABLE_VERSION, "s1", "sc1", "t1", "" },
    { "HEAD", T, DS_OP_TABLE_VERSION, "s1", "sc1", "t1", "" },
    { "GET",  T "/metadata", DS_OP_TABLE_METADATA, "s1", "sc1", "t1", "" },
    { "POST", T "/query", DS_OP_QUERY_TABLE, "s1", "sc1", "t1", "" },
    { "GET",  T "/changes", DS_OP_QUERY_CHANGES, "s1", "sc1", "t1", "" },
    { "POST", T "/queries/q-42", DS_OP_QUERY_POLL,
      "s1", "sc1", "t1", "q-42" },
    { "POST", T "/temporary-table-credentials", DS_OP_TEMP_CREDENTIALS,
      "s1", "sc1", "t1", "" },
};


static void
test_every_shape(void **state)
{
    size_t     i;
    char       uri[512];
    ds_path_t  out;

    (void) state;

    for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        /* bare, and with a query string that must be ignored */
        snprintf(uri, sizeof(uri), PREFIX "%s", shapes[i].path);
        expect_ok(shapes[i].method, uri, &out);

        assert_int_equal(out.op, shapes[i].op);
        assert_string_equal(out.share, shapes[i].share);
        assert_string_equal(out.schema, shapes[i].schema);
        assert_string_equal(out.table, shapes[i].table);
        assert_string_equal(out.query_id, shapes[i].query_id);
        assert_int_equal(out.share_len, strlen(shapes[i].share));
        assert_int_equal(out.schema_len, strlen(shapes[i].schema));
        assert_int_equal(out.table_len, strlen(shapes[i].table));
        assert_int_equal(out.query_id_len, strlen(shapes[i].query_id));
        assert_non_null(out.allow);
        assert_non_null(strstr(out.allow, shapes[i].method));

        snprintf(uri, sizeof(uri), PREFIX "%s?maxResults=10&pageToken=a/b",
                 shapes[i].path);
        expect_ok(shapes[i].method, uri, &out);
        assert_int_equal(out.op, shapes[i].op);
    }
}


static void
test_wrong_method(void **state)
{
    static const char  *methods[] = {
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS",
        "get", "post", "GETX", ""
    };

    size_t          i, j;
    int             allowed;
    char            uri[512];
    ds_path_t       out;
    ds_path_err_t   rc;

    (void) state;

    for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        snprintf(uri, sizeof(uri), PREFIX "%s", shapes[i].path);

        for (j = 0; j < sizeof(methods) / sizeof(methods[0]); j++) {
            size_t  k;

            allowed = 0;

            for (k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++) {
                if (strcmp(shapes[k].path, shapes[i].path) == 0
                    && strcmp(shapes[k].method, methods[j]) == 0)
                {
                    allowed = 1;
                }
            }

            rc = parse(methods[j], uri, &out);

            if (allowed) {
                assert_int_equal(rc, DS_PATH_OK);
                continue;
            }

            if (rc != DS_PATH_METHOD_NOT_ALLOWED) {
                print_error("%s %s: %s\n", methods[j], uri,
                            ds_path_strerror(rc));
            }

            assert_int_equal(rc, DS_PATH_METHOD_NOT_ALLOWED);
            assert_int_equal(out.op, DS_OP_UNKNOWN);
            assert_non_null(out.allow);
            assert_non_null(strstr(out.allow, shapes[i].method));
            /* names stay for the audit record */
            assert_string_equal(out.share, shapes[i].share);
            assert_string_equal(out.table, shapes[i].table);
        }
    }

    /* a NULL method is never allowed */
    rc = ds_path_parse(NULL, 0, PREFIX "/shares", 21, PREFIX,
                       sizeof(PREFIX) - 1, &out);
    assert_int_equal(rc, DS_PATH_METHOD_NOT_ALLOWED);
}


static void
test_allow(void **state)
{
    ds_path_t  out;

    (void) state;

    assert_int_equal(parse("POST", PREFIX "/shares", &out),
                     DS_PATH_METHOD_NOT_ALLOWED);
    assert_string_equal(out.allow, "GET");

    assert_int_equal(parse("POST", PREFIX T "/version", &out),
                     DS_PATH_METHOD_NOT_ALLOWED);
    assert_string_equal(out.allow, "GET, HEAD");

    assert_int_equal(parse("GET", PREFIX T, &out),
                     DS_PATH_METHOD_NOT_ALLOWED);
    assert_string_equal(out.allow, "HEAD");

    assert_int_equal(parse("GET", PREFIX T "/query", &out),
                     DS_PATH_METHOD_NOT_ALLOWED);
    assert_string_equal(out.allow, "POST");

    assert_int_equal(parse("GET", PREFIX T "/queries/q", &out),
                     DS_PATH_METHOD_NOT_ALLOWED);
    assert_string_equal(out.allow, "POST");
    assert_string_equal(out.query_id, "q");

    assert_int_equal(parse("GET", PREFIX "/nope", &out),
                     DS_PATH_UNKNOWN_ENDPOINT);
    assert_null(out.allow);

    assert_int_equal(parse("GET", PREFIX "/shares/s/schemas/a.b/tables",
                           &out),
                     DS_PATH_BAD_NAME);
    assert_null(out.allow);
}


static void
test_unknown_endpoint(void **state)
{
    (void) state;

    expect_err("GET", PREFIX, DS_PATH_UNKNOWN_ENDPOINT);
    expect_err("GET", PREFIX "?x=1", DS_PATH_UNKNOWN_ENDPOINT);
    expect_err("GET", PREFIX "/share", DS_PATH_UNKNOWN_ENDPOINT);
    expect_err("GET", PREFIX "/Shares", DS_PATH_UNKNOWN_ENDPOINT);
    expect_err("GET", PREFIX "/SHARES/s", DS_PATH_UNKNOWN_ENDPOINT);
    expect_err("GET", PREFIX "/foo", DS_PATH_UNKNOWN_ENDPOINT);
    expect_err("GET", PREFIX "/admin/config", DS_PATH_UNKNOWN_ENDPOINT);
    expect_err("GET", PREFIX "/shares/s/Schemas", DS_PATH_UNKNOWN_ENDPOINT);
    expect_err("GET", PREFIX "/shares/s/tables", DS_PATH_UNKNOWN_ENDPOINT);
    expect_err("GET", PREFIX "/shares/s/schemas/sc",
               DS_PATH_UNKNOWN_ENDPOINT);
    expect_err("GET", PREFIX "/shares/s/schemas/sc/all-tables",
               DS_PATH_UNKNOWN_ENDPOINT);
    expect_err("GET", PREFIX "/shares/s/all-tables/x",
               DS_PATH_UNKNOWN_ENDPOINT);
    expect_err("GET", PREFIX "/shares/s/schemas/sc/views/v",
               DS_PATH_UNKNOWN_ENDPOINT);
    expect_err("GET", PREFIX T "/history", DS_PATH_UNKNOWN_ENDPOINT);
    expect_err("GET", PREFIX T "/VERSION", DS_PATH_UNKNOWN_ENDPOINT);
    expect_err("POST", PREFIX T "/queries", DS_PATH_UNKNOWN_ENDPOINT);
    expect_err("POST", PREFIX T "/query/x", DS_PATH_UNKNOWN_ENDPOINT);
    expect_err("POST", PREFIX T "/queries/q/x", DS_PATH_UNKNOWN_ENDPOINT);
    expect_err("POST", PREFIX T "/queries/q/x/y/z/w",
               DS_PATH_UNKNOWN_ENDPOINT);
    expect_err("GET", PREFIX "/s1/shares", DS_PATH_UNKNOWN_ENDPOINT);
}


static void
test_prefix(void **state)
{
    ds_path_t      out;
    ds_path_err_t  rc;

    (void) state;

    expect_err("GET", "/delta-sharingX/shares", DS_PATH_NOT_UNDER_PREFIX);
    expect_err("GET", "/delta-sharing-x/shares", DS_PATH_NOT_UNDER_PREFIX);
    expect_err("GET", "/delta/shares", DS_PATH_NOT_UNDER_PREFIX);
    expect_err("GET", "/shares", DS_PATH_NOT_UNDER_PREFIX);
    expect_err("GET", "", DS_PATH_NOT_UNDER_PREFIX);
    expect_err("GET", "/", DS_PATH_NOT_UNDER_PREFIX);
    expect_err("GET", "delta-sharing/shares", DS_PATH_NOT_UNDER_PREFIX);
    expect_err("GET", "/Delta-Sharing/shares", DS_PATH_NOT_UNDER_PREFIX);
    /* the prefix is matched on raw bytes: no decoding, no normalising */
    expect_err("GET", "/delta%2Dsharing/shares", DS_PATH_NOT_UNDER_PREFIX);
    expect_err("GET", "/x/../delta-sharing/shares",
               DS_PATH_NOT_UNDER_PREFIX);
    expect_err("GET", "//delta-sharing/shares", DS_PATH_NOT_UNDER_PREFIX);
    expect_err("GET", "?/delta-sharing/shares", DS_PATH_NOT_UNDER_PREFIX);
    expect_err("GET", "/delta-shar?ing/shares", DS_PATH_NOT_UNDER_PREFIX);
    expect_err("GET", PREFIX "/", DS_PATH_EMPTY_SEGMENT);

    /* empty prefix; "/" and trailing slashes mean the same */
    rc = ds_path_parse("GET", 3, "/shares/a", 9, "", 0, &out);
    assert_int_equal(rc, DS_PATH_OK);
    assert_int_equal(out.op, DS_OP_GET_SHARE);

    rc = ds_path_parse("GET", 3, "/shares/a", 9, NULL, 0, &out);
    assert_int_equal(rc, DS_PATH_OK);

    rc = ds_path_parse("GET", 3, "/shares/a", 9, "/", 1, &out);
    assert_int_equal(rc, DS_PATH_OK);
    assert_string_equal(out.share, "a");

    rc = ds_path_parse("GET", 3, "/ds/shares", 10, "/ds//", 5, &out);
    assert_int_equal(rc, DS_PATH_OK);
    assert_int_equal(out.op, DS_OP_LIST_SHARES);

    rc = ds_path_parse("GET", 3, "", 0, "", 0, &out);
    assert_int_equal(rc, DS_PATH_NOT_UNDER_PREFIX);

    rc = ds_path_parse("GET", 3, "shares", 6, "", 0, &out);
    assert_int_equal(rc, DS_PATH_NOT_UNDER_PREFIX);

    rc = ds_path_parse("GET", 3, NULL, 0, "", 0, &out);
    assert_int_equal(rc, DS_PATH_NOT_UNDER_PREFIX);

    /* a deeper prefix */
    rc = ds_path_parse("GET", 3, "/api/v1/ds/shares/x", 19, "/api/v1/ds", 10,
                       &out);
    assert_int_equal(rc, DS_PATH_OK);
    assert_string_equal(out.share, "x");
}


static void
test_query_string(void **state)
{
    ds_path_t  out;

    (void) state;

    expect_ok("GET", PREFIX "/shares?", &out);
    assert_int_equal(out.op, DS_OP_LIST_SHARES);

    /* anything after '?' is not the parser's business */
    expect_ok("GET", PREFIX "/shares/a?x=%zz/../%00//", &out);
    assert_string_equal(out.share, "a");

    expect_ok("GET", PREFIX T "/changes?startingVersion=0&endingVersion=3",
              &out);
    assert_int_equal(out.op, DS_OP_QUERY_CHANGES);

    /* "?" ends the path, so the trailing slash check sees "/shares/" */
    expect_err("GET", PREFIX "/shares/?x", DS_PATH_EMPTY_SEGMENT);
    expect_err("GET", PREFIX "/shares/a/?x", DS_PATH_EMPTY_SEGMENT);
}


static void
test_bad_percent(void **state)
{
    (void) state;

    expect_err("GET", PREFIX "/shares/%", DS_PATH_BAD_PERCENT);
    expect_err("GET", PREFIX "/shares/%4", DS_PATH_BAD_PERCENT);
    expect_err("GET", PREFIX "/shares/a%4", DS_PATH_BAD_PERCENT);
    expect_err("GET", PREFIX "/shares/%zz", DS_PATH_BAD_PERCENT);
    expect_err("GET", PREFIX "/shares/%g0", DS_PATH_BAD_PERCENT);
    expect_err("GET", PREFIX "/shares/%0g", DS_PATH_BAD_PERCENT);
    expect_err("GET", PREFIX "/shares/%%41", DS_PATH_BAD_PERCENT);
    expect_err("GET", PREFIX "/shares/%-1", DS_PATH_BAD_PERCENT);
    expect_err("GET", PREFIX "/shares/a%/b", DS_PATH_BAD_PERCENT);
    expect_err("GET", PREFIX "/shares/a%4/b", DS_PATH_BAD_PERCENT);
    expect_err("GET", PREFIX "/shares/a%?b=1", DS_PATH_BAD_PERCENT);
    expect_err("GET", PREFIX "/shar%es", DS_PATH_BAD_PERCENT);
}


static void
test_encoded_slash(void **state)
{
    (void) state;

    expect_err("GET", PREFIX "/shares/a%2Fb", DS_PATH_ENCODED_SLASH);
    expect_err("GET", PREFIX "/shares/a%2fb", DS_PATH_ENCODED_SLASH);
    expect_err("GET", PREFIX "/shares/%2F", DS_PATH_ENCODED_SLASH);
    expect_err("GET", PREFIX "/shares/a%5Cb", DS_PATH_ENCODED_SLASH);
    expect_err("GET", PREFIX "/shares/a%5cb", DS_PATH_ENCODED_SLASH);
    expect_err("GET", PREFIX "/shares/a\\b", DS_PATH_ENCODED_SLASH);
    expect_err("GET", PREFIX "/shares/..%2F..%2Fadmin", DS_PATH_ENCODED_SLASH);
    expect_err("GET", PREFIX "/shares%2Fs/schemas", DS_PATH_ENCODED_SLASH);
    expect_err("GET", PREFIX "/shares/s/schemas/a%2Fb/tables",
               DS_PATH_ENCODED_SLASH);
    expect_err("POST", PREFIX T "/queries/x%2F..", DS_PATH_ENCODED_SLASH);
}


static void
test_control_char(void **state)
{
    ds_path_t  out;
    char       uri[64];

    (void) state;

    expect_err("GET", PREFIX "/shares/a%00", DS_PATH_CONTROL_CHAR);
    expect_err("GET", PREFIX "/shares/%00a", DS_PATH_CONTROL_CHAR);
    expect_err("GET", PREFIX "/shares/a%0a", DS_PATH_CONTROL_CHAR);
    expect_err("GET", PREFIX "/shares/a%0D%0AX-Y:%20z", DS_PATH_CONTROL_CHAR);
    expect_err("GET", PREFIX "/shares/a%1f", DS_PATH_CONTROL_CHAR);
    expect_err("GET", PREFIX "/shares/a%7F", DS_PATH_CONTROL_CHAR);
    expect_err("GET", PREFIX "/shares/a%09", DS_PATH_CONTROL_CHAR);
    expect_err("GET", PREFIX "/shares/a\x01", DS_PATH_CONTROL_CHAR);
    expect_err("GET", PREFIX "/shares/a\t", DS_PATH_CONTROL_CHAR);
    expect_err("GET", PREFIX "/shares/a\x7f", DS_PATH_CONTROL_CHAR);
    expect_err("GET", PREFIX "/shares/a\x1b[0m", DS_PATH_CONTROL_CHAR);

    /* a raw NUL inside uri_len is a byte like any other */
    memcpy(uri, PREFIX "/shares/a\0b", sizeof(PREFIX "/shares/a\0b"));
    assert_int_equal(parse_len("GET", uri, sizeof(PREFIX "/shares/a\0b") - 1,
                               &out),
                     DS_PATH_CONTROL_CHAR);
    assert_int_equal(out.op, DS_OP_UNKNOWN);
    assert_string_equal(out.share, "");
}


static void
test_empty_segment(void **state)
{
    (void) state;

    expect_err("GET", PREFIX "//shares", DS_PATH_EMPTY_SEGMENT);
    expect_err("GET", PREFIX "/shares/", DS_PATH_EMPTY_SEGMENT);
    expect_err("GET", PREFIX "/shares//a", DS_PATH_EMPTY_SEGMENT);
    expect_err("GET", PREFIX "/shares/a/", DS_PATH_EMPTY_SEGMENT);
    expect_err("GET", PREFIX "/shares/a//schemas", DS_PATH_EMPTY_SEGMENT);
    expect_err("GET", PREFIX "/shares/a/schemas/", DS_PATH_EMPTY_SEGMENT);
    expect_err("GET", PREFIX T "/version/", DS_PATH_EMPTY_SEGMENT);
    expect_err("HEAD", PREFIX T "/", DS_PATH_EMPTY_SEGMENT);
    expect_err("POST", PREFIX T "/queries//", DS_PATH_EMPTY_SEGMENT);
    expect_err("GET", PREFIX "///", DS_PATH_EMPTY_SEGMENT);
}


static void
test_dot_segment(void **state)
{
    (void) state;

    expect_err("GET", PREFIX "/shares/.", DS_PATH_DOT_SEGMENT);
    expect_err("GET", PREFIX "/shares/..", DS_PATH_DOT_SEGMENT);
    expect_err("GET", PREFIX "/shares/%2e", DS_PATH_DOT_SEGMENT);
    expect_err("GET", PREFIX "/shares/%2E%2e", DS_PATH_DOT_SEGMENT);
    expect_err("GET", PREFIX "/shares/.%2E", DS_PATH_DOT_SEGMENT);
    expect_err("GET", PREFIX "/shares/%2e.", DS_PATH_DOT_SEGMENT);
    expect_err("GET", PREFIX "/./shares", DS_PATH_DOT_SEGMENT);
    expect_err("GET", PREFIX "/../shares", DS_PATH_DOT_SEGMENT);
    expect_err("GET", PREFIX "/shares/a/../../admin", DS_PATH_DOT_SEGMENT);
    expect_err("GET", PREFIX "/shares/s/schemas/../schemas/x/tables",
               DS_PATH_DOT_SEGMENT);
    expect_err("GET", PREFIX T "/..", DS_PATH_DOT_SEGMENT);
    expect_err("POST", PREFIX T "/queries/..", DS_PATH_DOT_SEGMENT);

    /* longer runs of dots are names; shares may hold '.' */
    expect_share(PREFIX "/shares/...", "...");
    expect_share(PREFIX "/shares/.a", ".a");
    expect_share(PREFIX "/shares/a..b", "a..b");
    expect_share(PREFIX "/shares/%2e%2e%2e", "...");
}


static void
fill(char *buf, const char *unit, size_t n)
{
    size_t  i, ul;

    ul = strlen(unit);

    for (i = 0; i < n; i++) {
        memcpy(buf + i * ul, unit, ul);
    }

    buf[n * ul] = '\0';
}


static void
test_name_length(void **state)
{
    char       name[DS_NAME_MAX + 2], enc[3 * DS_NAME_MAX + 4];
    char       uri[1024];
    ds_path_t  out;

    (void) state;

    /* exactly 255 bytes: the largest legal name */
    fill(name, "a", 255);
    snprintf(uri, sizeof(uri), PREFIX "/shares/%s", name);
    expect_ok("GET", uri, &out);
    assert_int_equal(out.share_len, 255);
    assert_string_equal(out.share, name);

    snprintf(uri, sizeof(uri), PREFIX "/shares/a/schemas/%s/tables/%s/"
             "queries/%s", name, name, name);
    expect_ok("POST", uri, &out);
    assert_int_equal(out.schema_len, 255);
    assert_int_equal(out.table_len, 255);
    assert_int_equal(out.query_id_len, 255);

    /* 256 bytes */
    fill(name, "a", 256);
    snprintf(uri, sizeof(uri), PREFIX "/shares/%s", name);
    expect_err("GET", uri, DS_PATH_NAME_TOO_LONG);

    snprintf(uri, sizeof(uri), PREFIX "/shares/a/schemas/b/tables/c/"
             "queries/%s", name);
    expect_err("POST", uri, DS_PATH_NAME_TOO_LONG);

    /* fixed-word positions too */
    snprintf(uri, sizeof(uri), PREFIX "/%s", name);
    expect_err("GET", uri, DS_PATH_NAME_TOO_LONG);

    /* the limit is on decoded bytes, not on the raw text */
    fill(enc, "%41", 255);
    snprintf(uri, sizeof(uri), PREFIX "/shares/%s", enc);
    expect_ok("GET", uri, &out);
    assert_int_equal(out.share_len, 255);
    assert_int_equal(out.share[0], 'A');
    assert_int_equal(out.share[254], 'A');
    assert_int_equal(out.share[255], '\0');

    fill(enc, "%41", 256);
    snprintf(uri, sizeof(uri), PREFIX "/shares/%s", enc);
    expect_err("GET", uri, DS_PATH_NAME_TOO_LONG);

    /* bytes, not characters: 128 two-byte characters are 256 bytes */
    fill(name, "\xc3\xa9", 127);
    snprintf(uri, sizeof(uri), PREFIX "/shares/%sa", name);
    expect_ok("GET", uri, &out);
    assert_int_equal(out.share_len, 255);

    fill(name, "\xc3\xa9", 128);
    snprintf(uri, sizeof(uri), PREFIX "/shares/%s", name);
    expect_err("GET", uri, DS_PATH_NAME_TOO_LONG);
}


static void
test_bad_name(void **state)
{
    (void) state;

    /* space, raw or encoded ('+' is not a space: see test_plus) */
    expect_err("GET", PREFIX "/shares/a b", DS_PATH_BAD_NAME);
    expect_err("GET", PREFIX "/shares/a%20b", DS_PATH_BAD_NAME);
    expect_err("GET", PREFIX "/shares/%20", DS_PATH_BAD_NAME);

    /* '.' in schema and table names, raw or encoded */
    expect_err("GET", PREFIX "/shares/s/schemas/a.b/tables",
               DS_PATH_BAD_NAME);
    expect_err("GET", PREFIX "/shares/s/schemas/a%2Eb/tables",
               DS_PATH_BAD_NAME);
    expect_err("GET", PREFIX "/shares/s/schemas/sc/tables/t.x/version",
               DS_PATH_BAD_NAME);
    expect_err("HEAD", PREFIX "/shares/s/schemas/sc/tables/t%2e",
               DS_PATH_BAD_NAME);
    expect_err("GET", PREFIX "/shares/s/schemas/.sc/tables",
               DS_PATH_BAD_NAME);

    /* invalid UTF-8 */
    expect_err("GET", PREFIX "/shares/%C3", DS_PATH_BAD_NAME);
    expect_err("GET", PREFIX "/shares/a%C3b", DS_PATH_BAD_NAME);
    expect_err("GET", PREFIX "/shares/%C0%AF", DS_PATH_BAD_NAME);
    expect_err("GET", PREFIX "/shares/%C1%81", DS_PATH_BAD_NAME);
    expect_err("GET", PREFIX "/shares/%E0%80%AF", DS_PATH_BAD_NAME);
    expect_err("GET", PREFIX "/shares/%ED%A0%80", DS_PATH_BAD_NAME);
    expect_err("GET", PREFIX "/shares/%F0%80%80%AF", DS_PATH_BAD_NAME);
    expect_err("GET", PREFIX "/shares/%F4%90%80%80", DS_PATH_BAD_NAME);
    expect_err("GET", PREFIX "/shares/%F5%80%80%80", DS_PATH_BAD_NAME);
    expect_err("GET", PREFIX "/shares/%FF", DS_PATH_BAD_NAME);
    expect_err("GET", PREFIX "/shares/%80", DS_PATH_BAD_NAME);
    expect_err("GET", PREFIX "/shares/\xff", DS_PATH_BAD_NAME);
    expect_err("GET", PREFIX "/shares/\xe2\x82", DS_PATH_BAD_NAME);

    /* a raw '#' would start a fragment upstream */
    expect_err("GET", PREFIX "/shares/a#b", DS_PATH_BAD_NAME);
}


static void
test_precedence(void **state)
{
    ds_path_t  out;

    (void) state;

    /* the first problem from the left wins */
    expect_err("GET", PREFIX "/shares/%zz/a%2Fb", DS_PATH_BAD_PERCENT);
    expect_err("GET", PREFIX "/shares/a%2Fb/%zz", DS_PATH_ENCODED_SLASH);
    expect_err("GET", PREFIX "/x/%00", DS_PATH_CONTROL_CHAR);
    expect_err("GET", PREFIX "/a/b/c/d/e/f/g/h/i/j/k/%00",
               DS_PATH_CONTROL_CHAR);
    expect_err("GET", PREFIX "/a/b/c/d/e/f/g/h/i/j/k/",
               DS_PATH_EMPTY_SEGMENT);

    /* shape before method: an unknown path is unknown whatever method */
    expect_err("DELETE", PREFIX "/shares/s/x", DS_PATH_UNKNOWN_ENDPOINT);

    /* name rules before method */
    expect_err("DELETE", PREFIX "/shares/s/schemas/a.b/tables",
               DS_PATH_BAD_NAME);

    /* errors other than the method one leave no names behind */
    assert_int_equal(parse("GET", PREFIX "/shares/abc/schemas/x%00", &out),
                     DS_PATH_CONTROL_CHAR);
    assert_string_equal(out.share, "");
    assert_int_equal(out.share_len, 0);

    assert_int_equal(parse("GET", PREFIX "/shares/abc/x", &out),
                     DS_PATH_UNKNOWN_ENDPOINT);
    assert_string_equal(out.share, "");
}


static void
test_double_encoding(void **state)
{
    ds_path_t  out;

    (void) state;

    /* decoded exactly once: "%252F" is the three-byte name "%2F" */
    expect_share(PREFIX "/shares/%252F", "%2F");
    expect_share(PREFIX "/shares/a%252fb", "a%2fb");
    expect_share(PREFIX "/shares/%252e%252e", "%2e%2e");
    expect_share(PREFIX "/shares/%2500", "%00");
    expect_share(PREFIX "/shares/%255C", "%5C");
    expect_share(PREFIX "/shares/%25", "%");

    expect_ok("GET", PREFIX "/shares/s/schemas/%2525/tables", &out);
    assert_string_equal(out.schema, "%25");
}


static void
test_plus_and_form_encoding(void **state)
{
    ds_path_t  out;

    (void) state;

    /* '+' stays '+': python sends it raw, Scala sends %2B */
    expect_share(PREFIX "/shares/a+b", "a+b");
    expect_share(PREFIX "/shares/a%2Bb", "a+b");
    expect_share(PREFIX "/shares/+", "+");

    /* java.net.URLEncoder output, as the Scala client sends names */
    expect_ok("POST", PREFIX "/shares/claims%2Bproviders/schemas/"
              "q%24_2024/tables/caf%C3%A9-%E2%82%AC/query", &out);
    assert_int_equal(out.op, DS_OP_QUERY_TABLE);
    assert_string_equal(out.share, "claims+providers");
    assert_string_equal(out.schema, "q$_2024");
    assert_string_equal(out.table, "caf\xc3\xa9-\xe2\x82\xac");

    /* characters the protocol allows in names */
    expect_share(PREFIX "/shares/%23%3F%25%26%3A%40%24", "#?%&:@$");
    expect_share(PREFIX "/shares/a;b=c", "a;b=c");
    expect_share(PREFIX "/shares/a*b", "a*b");
    expect_share(PREFIX "/shares/a.b.c", "a.b.c");
    expect_share(PREFIX "/shares/~user", "~user");

    /* a Scala-encoded queryId */
    expect_ok("POST", PREFIX T "/queries/id%3D42%2Bx", &out);
    assert_string_equal(out.query_id, "id=42+x");
}


static void
test_utf8_names(void **state)
{
    ds_path_t  out;

    (void) state;

    /* python sends names raw, Scala percent-encodes: same result */
    expect_share(PREFIX "/shares/caf\xc3\xa9", "caf\xc3\xa9");
    expect_share(PREFIX "/shares/caf%C3%A9", "caf\xc3\xa9");
    expect_share(PREFIX "/shares/caf%c3%a9", "caf\xc3\xa9");
    expect_share(PREFIX "/shares/\xe6\x97\xa5\xe6\x9c\xac",
                 "\xe6\x97\xa5\xe6\x9c\xac");
    expect_share(PREFIX "/shares/%F0%9F%93%8A", "\xf0\x9f\x93\x8a");
    expect_share(PREFIX "/shares/%EF%BF%BF", "\xef\xbf\xbf");
    expect_share(PREFIX "/shares/%F4%8F%BF%BF", "\xf4\x8f\xbf\xbf");

    expect_ok("GET", PREFIX "/shares/s/schemas/\xd0\xb4\xd0\xb0/tables",
              &out);
    assert_string_equal(out.schema, "\xd0\xb4\xd0\xb0");
}


static void
test_case(void **state)
{
    ds_path_t  out;

    (void) state;

    /* names keep their case; matching is the caller's, via ds_name_eq */
    expect_ok("GET", PREFIX "/shares/MyShare/schemas/Claims/tables/PAID/"
              "metadata", &out);
    assert_string_equal(out.share, "MyShare");
    assert_string_equal(out.schema, "Claims");
    assert_string_equal(out.table, "PAID");

    assert_true(ds_name_eq("MyShare", 7, "myshare", 7));
    assert_true(ds_name_eq("MYSHARE", 7, "myShare", 7));
    assert_true(ds_name_eq("a-b_1", 5, "A-B_1", 5));
    assert_true(ds_name_eq("", 0, "", 0));
    assert_false(ds_name_eq("share", 5, "shares", 6));
    assert_false(ds_name_eq("share", 5, "shard", 5));
    /* '@' and '`' differ from letters by the case bit only */
    assert_false(ds_name_eq("@", 1, "`", 1));
    assert_false(ds_name_eq("[", 1, "{", 1));
    /* non-ASCII is compared byte for byte: fails closed */
    assert_false(ds_name_eq("\xc3\x89", 2, "\xc3\xa9", 2));
    assert_true(ds_name_eq("caf\xc3\xa9", 5, "CAF\xc3\xa9", 5));
    /* a length, not a NUL, ends the name */
    assert_true(ds_name_eq("abX", 2, "ABY", 2));
}


static void
test_encoded_fixed_words(void **state)
{
    ds_path_t  out;

    (void) state;

    /* fixed words are compared after decoding, case-sensitively */
    expect_ok("GET", PREFIX "/%73hares", &out);
    assert_int_equal(out.op, DS_OP_LIST_SHARES);

    expect_ok("POST", PREFIX T "/%71uery", &out);
    assert_int_equal(out.op, DS_OP_QUERY_TABLE);

    expect_err("GET", PREFIX "/%53hares", DS_PATH_UNKNOWN_ENDPOINT);
}


static void
test_uri_len_bound(void **state)
{
    ds_path_t      out;
    ds_path_err_t  rc;
    char          *heap;
    const char     raw[] = PREFIX "/shares/abc/schemas";
    size_t         len;

    (void) state;

    /* only uri_len bytes count, whatever follows */
    rc = parse_len("GET", PREFIX "/shares/abcXYZ", sizeof(PREFIX) - 1 + 11,
                   &out);
    assert_int_equal(rc, DS_PATH_OK);
    assert_string_equal(out.share, "abc");

    /* an exact-size heap copy with no NUL: ASan would see an overread */
    len = sizeof(raw) - 1;
    heap = malloc(len);
    assert_non_null(heap);
    memcpy(heap, raw, len);
    rc = parse_len("GET", heap, len, &out);
    assert_int_equal(rc, DS_PATH_OK);
    assert_int_equal(out.op, DS_OP_LIST_SCHEMAS);
    assert_string_equal(out.share, "abc");

    /* a percent escape cut short by uri_len */
    memcpy(heap, PREFIX "/shares/ab%4", sizeof(PREFIX) - 1 + 12);
    rc = parse_len("GET", heap, sizeof(PREFIX) - 1 + 12, &out);
    assert_int_equal(rc, DS_PATH_BAD_PERCENT);
    free(heap);

    /* the prefix longer than the URI */
    rc = parse_len("GET", "/delta", 6, &out);
    assert_int_equal(rc, DS_PATH_NOT_UNDER_PREFIX);
}


static void
test_strerror(void **state)
{
    int          i, j;
    const char  *a, *b;

    (void) state;

    for (i = DS_PATH_OK; i <= DS_PATH_BAD_NAME; i++) {
        a = ds_path_strerror((ds_path_err_t) i);
        assert_non_null(a);
        assert_true(strlen(a) > 0);

        for (j = DS_PATH_OK; j < i; j++) {
            b = ds_path_strerror((ds_path_err_t) j);
            assert_string_not_equal(a, b);
        }
    }

    assert_string_equal(ds_path_strerror((ds_path_err_t) 999),
                        "unknown path error");
    assert_string_equal(ds_path_strerror((ds_path_err_t) -1),
                        "unknown path error");
}


static void
test_op_names(void **state)
{
    static const struct {
        ds_op_t      op;
        const char  *name;
        const char  *audit;
        int          table;
        int          list;
    } ops[] = {
        { DS_OP_LIST_SHARES, "list_shares", "deltaSharingListShares", 0, 1 },
        { DS_OP_GET_SHARE, "get_share", "deltaSharingGetShare", 0, 0 },
        { DS_OP_LIST_SCHEMAS, "list_schemas", "deltaSharingListSchemas",
          0, 1 },
        { DS_OP_LIST_TABLES, "list_tables", "deltaSharingListTables", 0, 1 },
        { DS_OP_LIST_ALL_TABLES, "list_all_tables",
          "deltaSharingListAllTables", 0, 1 },
        { DS_OP_TABLE_VERSION, "table_version",
          "deltaSharingGetTableVersion", 1, 0 },
        { DS_OP_TABLE_METADATA, "table_metadata",
          "deltaSharingGetTableMetadata", 1, 0 },
        { DS_OP_QUERY_TABLE, "query_table", "deltaSharingQueryTable", 1, 0 },
        { DS_OP_QUERY_CHANGES, "query_changes",
          "deltaSharingQueryTableChanges", 1, 0 },
        { DS_OP_QUERY_POLL, "query_poll", "deltaSharingGetQueryInfo", 1, 0 },
        { DS_OP_TEMP_CREDENTIALS, "temporary_table_credentials",
          "generateTemporaryTableCredential", 1, 0 },
    };

    size_t  i;

    (void) state;

    assert_int_equal(sizeof(ops) / sizeof(ops[0]), DS_OP_COUNT - 1);

    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        assert_string_equal(ds_op_name(ops[i].op), ops[i].name);
        assert_string_equal(ds_op_audit_name(ops[i].op), ops[i].audit);
        assert_int_equal(ds_op_from_name(ops[i].name, strlen(ops[i].name)),
                         ops[i].op);
        assert_int_equal(ds_op_is_table_op(ops[i].op), ops[i].table);
        assert_int_equal(ds_op_is_list(ops[i].op), ops[i].list);
    }

    assert_string_equal(ds_op_name(DS_OP_UNKNOWN), "unknown");
    assert_string_equal(ds_op_name(DS_OP_COUNT), "unknown");
    assert_string_equal(ds_op_name((ds_op_t) 12345), "unknown");
    assert_string_equal(ds_op_audit_name(DS_OP_COUNT), "unknown");
    assert_false(ds_op_is_table_op(DS_OP_UNKNOWN));
    assert_false(ds_op_is_list(DS_OP_UNKNOWN));

    assert_int_equal(ds_op_from_name("unknown", 7), DS_OP_UNKNOWN);
    assert_int_equal(ds_op_from_name("LIST_SHARES", 11), DS_OP_UNKNOWN);
    assert_int_equal(ds_op_from_name("list_share", 10), DS_OP_UNKNOWN);
    assert_int_equal(ds_op_from_name("list_sharesX", 11), DS_OP_LIST_SHARES);
    assert_int_equal(ds_op_from_name("", 0), DS_OP_UNKNOWN);
    assert_int_equal(ds_op_from_name(NULL, 0), DS_OP_UNKNOWN);
    assert_int_equal(ds_op_from_name("deltaSharingListShares", 22),
                     DS_OP_UNKNOWN);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_every_shape),
        cmocka_unit_test(test_wrong_method),
        cmocka_unit_test(test_allow),
        cmocka_unit_test(test_unknown_endpoint),
        cmocka_unit_test(test_prefix),
        cmocka_unit_test(test_query_string),
        cmocka_unit_test(test_bad_percent),
        cmocka_unit_test(test_encoded_slash),
        cmocka_unit_test(test_control_char),
        cmocka_unit_test(test_empty_segment),
        cmocka_unit_test(test_dot_segment),
        cmocka_unit_test(test_name_length),
        cmocka_unit_test(test_bad_name),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_double_encoding),
        cmocka_unit_test(test_plus_and_form_encoding),
        cmocka_unit_test(test_utf8_names),
        cmocka_unit_test(test_case),
        cmocka_unit_test(test_encoded_fixed_words),
        cmocka_unit_test(test_uri_len_bound),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_op_names),
    };

    return cmocka_run_group_tests_name("ds_path", tests, NULL, NULL);
}
