/*
 * ds_disclose: what query answers hand out, read as they stream; in
 * file proxy mode, with the links replaced by capabilities.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "ds_disclose.h"


#define URL1  "https://b.s3.amazonaws.com/t/p1.parquet?X-Amz-Signature=aa"
#define URL2  "https://b.s3.amazonaws.com/t/p2.parquet?X-Amz-Signature=bb"

static const char  snapshot[] =
    "{\"protocol\":{\"minReaderVersion\":1}}\n"
    "{\"metaData\":{\"id\":\"m\",\"format\":{\"provider\":\"parquet\"},"
    "\"accessModes\":[\"url\",\"dir\"]}}\n"
    "{\"file\":{\"url\":\"" URL1 "\",\"id\":\"f1\","
    "\"partitionValues\":{\"date\":\"2024-01-01\"},\"size\":100,"
    "\"stats\":\"{\\\"numRecords\\\":10}\","
    "\"expirationTimestamp\":2000}}\n"
    "{\"file\":{\"url\":\"" URL2 "\",\"id\":\"f2\","
    "\"partitionValues\":{\"date\":\"2024-01-02\"},\"size\":200,"
    "\"stats\":\"{\\\"numRecords\\\":20,\\\"minValues\\\":{}}\","
    "\"expirationTimestamp\":1500}}\n"
    "{\"endStreamAction\":{\"minUrlExpirationTimestamp\":1500}}\n";

static const char  changes[] =
    "{\"protocol\":{\"minReaderVersion\":1}}\n"
    "{\"metaData\":{\"id\":\"m\"}}\n"
    "{\"add\":{\"url\":\"" URL1 "\",\"id\":\"a\",\"size\":5,"
    "\"partitionValues\":{},\"version\":3,\"timestamp\":1,"
    "\"stats\":\"{\\\"numRecords\\\":7}\",\"expirationTimestamp\":900}}\n"
    "{\"cdf\":{\"url\":\"" URL2 "\",\"id\":\"c\",\"size\":6,"
    "\"partitionValues\":{},\"version\":4,\"timestamp\":2,"
    "\"expirationTimestamp\":950}}\n"
    "{\"remove\":{\"url\":\"" URL2 "\",\"id\":\"r\",\"size\":7,"
    "\"partitionValues\":{},\"version\":6,\"timestamp\":3,"
    "\"expirationTimestamp\":990}}\n";

static const char  delta[] =
    "{\"protocol\":{\"deltaProtocol\":{\"minReaderVersion\":1}}}\n"
    "{\"metaData\":{\"deltaMetadata\":{\"id\":\"m\"},\"version\":9}}\n"
    "{\"file\":{\"id\":\"f1\",\"expirationTimestamp\":3000,\"version\":9,"
    "\"deltaSingleAction\":{\"add\":{\"path\":\"" URL1 "\",\"size\":40,"
    "\"partitionValues\":{\"c\":\"x\"},"
    "\"stats\":\"{\\\"numRecords\\\":4}\"}}}}\n"
    "{\"file\":{\"id\":\"f2\",\"expirationTimestamp\":3100,\"version\":9,"
    "\"deltaSingleAction\":{\"remove\":{\"path\":\"" URL2 "\","
    "\"size\":50}}}}\n";


/* the whole answer fed in pieces of step bytes; what comes out */
static int
run(const ds_disclose_conf_t *conf, const char *in, size_t step,
    ds_disclosure_t *out, char **text, size_t *text_len)
{
    int             rc;
    size_t          off, n, plen;
    const char     *p;
    char           *buf;
    size_t          len;
    ds_disclose_t  *d;

    memset(out, 0, sizeof(*out));
    d = ds_disclose_new(conf, out);
    assert_non_null(d);

    buf = NULL;
    len = 0;
    rc = 0;

    for (off = 0; off < strlen(in) && rc == 0; off += n) {
        n = strlen(in) - off < step ? strlen(in) - off : step;
        rc = ds_disclose_feed(d, in + off, n);

        p = ds_disclose_pending(d, &plen);
        buf = realloc(buf, len + plen + 1);
        memcpy(buf + len, p, plen);
        len += plen;
        ds_disclose_take(d, plen);
    }

    if (rc == 0) {
        rc = ds_disclose_finish(d);
        p = ds_disclose_pending(d, &plen);
        buf = realloc(buf, len + plen + 1);
        memcpy(buf + len, p, plen);
        len += plen;
    }

    buf = realloc(buf, len + 1);
    buf[len] = '\0';
    ds_disclose_free(d);

    *text = buf;
    *text_len = len;

    return rc;
}


static void
test_snapshot_counts(void **state)
{
    char                *text;
    size_t               len, step;
    ds_disclosure_t      o;
    ds_disclose_conf_t   conf;

    (void) state;
    memset(&conf, 0, sizeof(conf));

    /* byte by byte, odd pieces and whole: the same answer, the same sums */
    for (step = 1; step <= sizeof(snapshot); step += (step < 8 ? 1 : 61)) {
        assert_int_equal(run(&conf, snapshot, step, &o, &text, &len), 0);
        assert_int_equal(len, strlen(snapshot));
        assert_memory_equal(text, snapshot, len);
        free(text);

        assert_int_equal(o.lines, 5);
        assert_int_equal(o.files, 2);
        assert_int_equal(o.n_file, 2);
        assert_int_equal(o.bytes, 300);
        assert_true(o.has_records);
        assert_int_equal(o.records, 30);
        assert_int_equal(o.expires_first, 1500);
        assert_int_equal(o.exposed_until, 2000);
        assert_int_equal(o.format, DS_DF_PARQUET);
        assert_int_equal(o.npartitions, 2);
        assert_string_equal(o.partitions[0], "date=2024-01-01");
        assert_string_equal(o.partitions[1], "date=2024-01-02");
        assert_null(o.cut);
        assert_false(o.proxied);
    }
}


static void
test_changes_counts(void **state)
{
    char                *text;
    size_t               len;
    ds_disclosure_t      o;
    ds_disclose_conf_t   conf;

    (void) state;
    memset(&conf, 0, sizeof(conf));

    assert_int_equal(run(&conf, changes, 7, &o, &text, &len), 0);
    assert_string_equal(text, changes);
    free(text);

    assert_int_equal(o.n_add, 1);
    assert_int_equal(o.n_cdf, 1);
    assert_int_equal(o.n_remove, 1);
    assert_int_equal(o.files, 3);
    assert_int_equal(o.bytes, 18);
    assert_int_equal(o.records, 7);
    assert_true(o.has_versions);
    assert_int_equal(o.version_min, 3);
    assert_int_equal(o.version_max, 6);
    assert_int_equal(o.npartitions, 0);
}


static void
test_delta_format(void **state)
{
    char                *text;
    size_t               len;
    ds_disclosure_t      o;
    ds_disclose_conf_t   conf;

    (void) state;
    memset(&conf, 0, sizeof(conf));

    assert_int_equal(run(&conf, delta, 4096, &o, &text, &len), 0);
    assert_string_equal(text, delta);
    free(text);

    assert_int_equal(o.format, DS_DF_DELTA);
    assert_int_equal(o.n_add, 1);
    assert_int_equal(o.n_remove, 1);
    assert_int_equal(o.files, 2);
    assert_int_equal(o.bytes, 90);
    assert_int_equal(o.records, 4);
    assert_int_equal(o.exposed_until, 3100);
    assert_string_equal(o.partitions[0], "c=x");
}


/* nothing after the last good line goes out */
static void
test_cut(void **state)
{
    static const struct {
        const char  *bad;
        const char  *why;
    } cases[] = {
        { "{\"file\":{\"url\":\"x\",", "a line is not JSON" },
        { "not json", "a line is not JSON" },
        { "[1,2]", "a line is not one action" },
        { "{\"file\":{},\"add\":{}}", "a line is not one action" },
        { "{\"file\":{\"url\":\"a\",\"url\":\"b\"}}", "a line is not JSON" },
        { "{\"file\":{\"id\":\"x\"}}", "a file action without a URL" },
        { "{\"file\":{\"url\":7}}", "a file action without a URL" },
        { "{\"file\":[]}", "a file action is not an object" },
        { "{\"file\":{\"deltaSingleAction\":{\"add\":{},\"cdc\":{}}}}",
          "a deltaSingleAction is not one action" },
    };

    char                 in[1024], *text;
    size_t               i, len, good;
    ds_disclosure_t      o;
    ds_disclose_conf_t   conf;

    (void) state;
    memset(&conf, 0, sizeof(conf));

    good = strlen("{\"protocol\":{}}\n");

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(in, sizeof(in), "{\"protocol\":{}}\n%s\n"
                 "{\"file\":{\"url\":\"u\",\"id\":\"i\"}}\n", cases[i].bad);

        assert_int_equal(run(&conf, in, 3, &o, &text, &len), -1);
        assert_int_equal(len, good);
        assert_non_null(o.cut);
        assert_string_equal(o.cut, cases[i].why);
        assert_int_equal(o.files, 0);
        free(text);
    }
}


static void
test_line_limit_and_last_line(void **state)
{
    char                *text;
    size_t               len;
    ds_disclosure_t      o;
    ds_disclose_conf_t   conf;
    static const char    nonl[] = "{\"protocol\":{}}\n\n"
                                  "{\"file\":{\"url\":\"u\",\"id\":\"i\"}}";

    (void) state;
    memset(&conf, 0, sizeof(conf));

    /* a last line without '\n' is read too; a blank line passes */
    assert_int_equal(run(&conf, nonl, 5, &o, &text, &len), 0);
    assert_string_equal(text, nonl);
    assert_int_equal(o.files, 1);
    free(text);

    conf.max_line = 20;
    assert_int_equal(run(&conf, nonl, 5, &o, &text, &len), -1);
    assert_string_equal(o.cut, "a line is longer than the line limit");
    assert_int_equal(len, strlen("{\"protocol\":{}}\n\n"));
    free(text);
}


static void
test_unknown_kinds(void **state)
{
    char                *text;
    size_t               len;
    ds_disclosure_t      o;
    ds_disclose_conf_t   conf;
    static const char    in[] = "{\"futureAction\":{\"url\":\"u\"}}\n"
                                "{\"queryStatus\":{\"queryId\":\"q\"}}\n";

    (void) state;
    memset(&conf, 0, sizeof(conf));

    /* reading only: a newer server's lines pass */
    assert_int_equal(run(&conf, in, 4096, &o, &text, &len), 0);
    assert_string_equal(text, in);
    free(text);
}


/* ----------------------------------------------------- file proxy mode */

static ds_cap_key_t   keys[2];
static ds_cap_ring_t  ring = { keys, 1 };

#define PREFIX  "https://gw.example/ds/_files/"


static void
proxy_conf(ds_disclose_conf_t *conf)
{
    memset(conf, 0, sizeof(*conf));
    memset(keys, 0x5a, sizeof(keys));
    strcpy(keys[0].id, "k1");

    conf->ring = &ring;
    conf->prefix = PREFIX;
    conf->prefix_len = strlen(PREFIX);
    conf->base.recipient = "acme";
    conf->base.recipient_len = 4;
    conf->base.token_id = "t1";
    conf->base.token_id_len = 2;
    conf->base.share = "s";
    conf->base.share_len = 1;
    conf->base.schema = "c";
    conf->base.schema_len = 1;
    conf->base.table = "t";
    conf->base.table_len = 1;
    conf->now_ms = 1000;
    conf->max_ttl_ms = 800;
    conf->strip_dir = 1;
}


/* every link is a capability for its own file, none of the cloud URL */
static void
test_proxy_rewrites(void **state)
{
    char                *text, *line, *save;
    size_t               len, nfiles;
    json_t              *j, *f;
    const char          *url;
    unsigned char        buf[DS_CAP_MAX];
    ds_cap_claims_t      c;
    ds_disclosure_t      o;
    ds_disclose_conf_t   conf;

    (void) state;
    proxy_conf(&conf);

    assert_int_equal(run(&conf, snapshot, 13, &o, &text, &len), 0);
    assert_null(strstr(text, "amazonaws"));
    assert_null(strstr(text, "\"dir\""));
    assert_true(o.proxied);
    assert_int_equal(o.files, 2);
    /* capped by the TTL (1000 + 800) below the first URL's 2000 */
    assert_int_equal(o.exposed_until, 1800);
    assert_int_equal(o.expires_first, 1500);

    nfiles = 0;

    for (line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save))
    {
        j = json_loads(line, 0, NULL);
        assert_non_null(j);

        if (json_object_get(j, "endStreamAction")) {
            assert_int_equal(json_integer_value(json_object_get(
                json_object_get(j, "endStreamAction"),
                "minUrlExpirationTimestamp")), 1500);
        }

        f = json_object_get(j, "file");
        if (f) {
            url = json_string_value(json_object_get(f, "url"));
            assert_int_equal(strncmp(url, PREFIX, strlen(PREFIX)), 0);
            url += strlen(PREFIX);

            assert_int_equal(ds_cap_open(&ring, url, strlen(url), 1100, buf,
                                         sizeof(buf), &c),
                             DS_CAP_OK);
            assert_int_equal(c.expires_ms, json_integer_value(
                json_object_get(f, "expirationTimestamp")));
            assert_int_equal(c.recipient_len, 4);
            assert_memory_equal(c.recipient, "acme", 4);
            assert_memory_equal(c.file_id, nfiles ? "f2" : "f1", 2);
            assert_memory_equal(c.url, nfiles ? URL2 : URL1, c.url_len);
            nfiles++;
        }

        json_decref(j);
    }

    assert_int_equal(nfiles, 2);
    free(text);
}


static void
test_proxy_refuses(void **state)
{
    char                *text;
    size_t               len;
    ds_disclosure_t      o;
    ds_disclose_conf_t   conf;

    (void) state;
    proxy_conf(&conf);

    assert_int_equal(run(&conf, "{\"futureAction\":{\"url\":\"u\"}}\n", 64,
                         &o, &text, &len), -1);
    assert_int_equal(len, 0);
    assert_string_equal(o.cut, "a line of a kind the file proxy does not "
                        "know");
    free(text);

    assert_int_equal(run(&conf, "{\"file\":{\"url\":\"u\"}}\n", 64,
                         &o, &text, &len), -1);
    assert_string_equal(o.cut, "a file action without an id");
    free(text);

    /* delta format is rewritten too */
    assert_int_equal(run(&conf, delta, 64, &o, &text, &len), 0);
    assert_null(strstr(text, "amazonaws"));
    assert_int_equal(o.files, 2);
    free(text);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_counts),
        cmocka_unit_test(test_changes_counts),
        cmocka_unit_test(test_delta_format),
        cmocka_unit_test(test_cut),
        cmocka_unit_test(test_line_limit_and_last_line),
        cmocka_unit_test(test_unknown_kinds),
        cmocka_unit_test(test_proxy_rewrites),
        cmocka_unit_test(test_proxy_refuses),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
