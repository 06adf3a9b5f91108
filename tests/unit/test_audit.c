/*
 * Unit tests for ds_audit: record builder, canonical form, the
 * dsgw-audit-v1 test vectors and the verifier against each tamper kind.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/hmac.h>

#include "ds_audit.h"
#include "ds_audit_int.h"
#include "ds_audit_oracle.h"
#include "ds_audit_write.h"


#define MAX_LINES  64

static const unsigned char  seed[32] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
    0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
    0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f
};

static const char  *secret_token =
    "dst_fraud_analytics_token_000000000000000000000001";


typedef struct {
    int     errors;
    int     warnings;
    size_t  first_error_line;
    char    first_error_kind[32];
    char    first_error_file[64];
    char    first_warning_kind[32];
} collect_t;


static void
collect(void *data, const ds_audit_issue_t *is)
{
    collect_t  *c = data;

    if (is->error) {
        if (c->errors++ == 0) {
            c->first_error_line = is->line;
            snprintf(c->first_error_kind, sizeof(c->first_error_kind), "%s",
                     is->kind);
            snprintf(c->first_error_file, sizeof(c->first_error_file), "%s",
                     is->file ? is->file : "");
        }
    } else if (c->warnings++ == 0) {
        snprintf(c->first_warning_kind, sizeof(c->first_warning_kind), "%s",
                 is->kind);
    }
}


static void
hex(const unsigned char *in, size_t n, char *out)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        sprintf(out + 2 * i, "%02x", in[i]);
    }
}


static ds_audit_req_t
sample_request(void)
{
    static const char  ua[] = "Delta-Sharing-Python/1.1.0";
    ds_audit_req_t     rq;

    memset(&rq, 0, sizeof(rq));
    rq.time_ms = 1767225600123LL;
    rq.instance = ds_audit_cstr("gw-a");
    rq.request_id = ds_audit_cstr("8f14e45fceea167a5a36dedd4bea2543");
    rq.recipient = ds_audit_cstr("fraud-analytics");
    rq.token_id = ds_audit_cstr("fa-1");
    rq.action = ds_audit_cstr("deltaSharingQueryTable");
    rq.operation = ds_audit_cstr("query_table");
    rq.method = ds_audit_cstr("POST");
    rq.path = ds_audit_cstr(
        "/delta-sharing/shares/claims/schemas/y2025/tables/enc/query");
    rq.args = ds_audit_cstr("maxResults=10&secret=x&pageToken=abc");
    rq.query_allow = ds_audit_default_query_args;
    rq.client_ip = ds_audit_cstr("203.0.113.7");
    rq.country = ds_audit_cstr("US");
    rq.user_agent.data = ua;
    rq.user_agent.len = sizeof(ua) - 1;
    rq.decision = ds_audit_cstr("allow");
    rq.reason = ds_audit_cstr("allowed");
    rq.status = 200;
    rq.bytes_sent = 1200;
    rq.body_bytes_sent = 1000;
    rq.upstream_status = ds_audit_cstr("200");
    rq.duration_ms = 42;
    rq.share = ds_audit_cstr("claims");
    rq.schema = ds_audit_cstr("y2025");
    rq.table = ds_audit_cstr("enc");
    rq.purpose = ds_audit_cstr("FRAUD");
    rq.rl_state = ds_audit_cstr("allowed");
    rq.rl_limit = 100;
    rq.rl_remaining = 99;
    rq.policy_version = ds_audit_cstr("abcdef");

    return rq;
}


/* a chain: start, n requests, end (if closed); lines malloc'ed */
static size_t
make_chain(ds_audit_format_t fmt, const unsigned char *key, size_t klen,
    const char *id, size_t n, int closed, char **lines)
{
    ds_audit_chain_t  c;
    ds_audit_req_t    rq;
    json_t           *rec;
    size_t            i, k, len;

    ds_audit_chain_init_id(&c, key, klen, id);
    k = 0;

    rec = ds_audit_lifecycle_record(fmt, "chain_start", 1, "gw-a", 42, 0, 0);
    lines[k++] = ds_audit_seal(&c, rec, &len);
    json_decref(rec);

    for (i = 0; i < n; i++) {
        rq = sample_request();
        rq.status = 200 + (int) i;
        rec = ds_audit_request_record(fmt, &rq);
        lines[k++] = ds_audit_seal(&c, rec, &len);
        json_decref(rec);
    }

    if (closed) {
        rec = ds_audit_lifecycle_record(fmt, "chain_end", 9, "gw-a", 42,
                                        c.requests, 0);
        lines[k++] = ds_audit_seal(&c, rec, &len);
        json_decref(rec);
    }

    /* every sealed line is the canonical form of itself */
    for (i = 0; i < k; i++) {
        json_t  *j;
        char    *canon;

        assert_non_null(lines[i]);
        j = json_loads(lines[i], 0, NULL);
        assert_non_null(j);
        canon = ds_audit_canonical(j, &len);
        assert_non_null(canon);
        assert_int_equal(len + 1, strlen(lines[i]));
        assert_memory_equal(canon, lines[i], len);
        assert_int_equal(lines[i][len], '\n');
        free(canon);
        json_decref(j);
    }

    ds_audit_chain_free(&c);

    return k;
}


static collect_t
verify(const unsigned char *key, size_t klen, char **lines, size_t n,
    int strict)
{
    ds_audit_verify_t  *v;
    collect_t           c;
    size_t              i;

    memset(&c, 0, sizeof(c));
    v = ds_audit_verify_new(key, klen, collect, &c);
    assert_non_null(v);

    for (i = 0; i < n; i++) {
        ds_audit_verify_line(v, "audit.log", i + 1, lines[i],
                             strlen(lines[i]));
    }

    ds_audit_verify_end(v, strict ? 0 : DS_AUDIT_VERIFY_OPEN_OK
                                     | DS_AUDIT_VERIFY_CONTINUED_OK);
    ds_audit_verify_free(v);

    return c;
}


static void
free_lines(char **lines, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        free(lines[i]);
    }
}


/* ------------------------------------------------------------ vectors */

static const char  *vector_c =
    "{\"activity_id\":2,\"actor\":{\"user\":{\"uid\":\"rcpt_7f3a9c\"}},"
    "\"api\":{\"operation\":\"deltaSharingQueryTable\"},\"class_uid\":6003,"
    "\"integrity\":{\"chain\":\"gw-use1-a.w0.0190c3e2\",\"epoch\":0,"
    "\"prev\":\"0000000000000000000000000000000000000000000000000000000000"
    "000000\",\"seq\":0,\"v\":1},\"src_endpoint\":{\"ip\":\"203.0.113.7\"},"
    "\"status_id\":1,\"time\":1767225600123}";

static const char  *vector_mac =
    "493f746c5e0a7b4526238331f5d43f8943fd2f37e4ae870539d864c2e8104be7";


static void
test_vector_key_and_mac(void **state)
{
    ds_audit_chain_t  c;
    json_t           *j;
    char             *canon, out[65], *msg;
    unsigned char     md[32];
    unsigned int      mdlen;
    size_t            len, plen;

    (void) state;

    ds_audit_chain_init_id(&c, seed, sizeof(seed), "gw-use1-a.w0.0190c3e2");
    hex(c.key, 32, out);
    assert_string_equal(out, "8b91387a593dc1e16b6c43d721cbbb7f"
                             "0da987cca3757136c4383644d39ce2b7");

    /* the canonical form of the parsed vector is the vector itself */
    j = json_loads(vector_c, 0, NULL);
    assert_non_null(j);
    canon = ds_audit_canonical(j, &len);
    assert_non_null(canon);
    assert_string_equal(canon, vector_c);

    plen = sizeof("dsgw-audit-v1 record");
    msg = malloc(plen + len);
    memcpy(msg, "dsgw-audit-v1 record", plen);
    memcpy(msg + plen, canon, len);
    HMAC(EVP_sha256(), c.key, 32, (unsigned char *) msg, plen + len, md,
         &mdlen);
    hex(md, 32, out);
    assert_string_equal(out, vector_mac);

    free(msg);
    free(canon);
    json_decref(j);
    ds_audit_chain_free(&c);
}


static void
test_vector_verifies(void **state)
{
    json_t     *j;
    char       *line[1];
    collect_t   c;

    (void) state;

    j = json_loads(vector_c, 0, NULL);
    json_object_set_new(json_object_get(j, "integrity"), "mac",
                        json_string(vector_mac));
    line[0] = ds_audit_canonical(j, NULL);

    c = verify(seed, sizeof(seed), line, 1, 0);
    assert_int_equal(c.errors, 0);

    /* the reference's own negative vector: another source address */
    json_object_set_new(json_object_get(j, "src_endpoint"), "ip",
                        json_string("203.0.113.8"));
    free(line[0]);
    line[0] = ds_audit_canonical(j, NULL);

    c = verify(seed, sizeof(seed), line, 1, 0);
    assert_int_equal(c.errors, 1);
    assert_string_equal(c.first_error_kind, "altered");
    assert_int_equal(c.first_error_line, 1);

    free(line[0]);
    json_decref(j);
}


/* ------------------------------------------------------------ records */

static void
test_native_fields(void **state)
{
    ds_audit_req_t   rq;
    json_t          *r, *q;
    char            *s;

    (void) state;

    rq = sample_request();
    r = ds_audit_request_record(DS_AUDIT_NATIVE, &rq);
    assert_non_null(r);

    assert_int_equal(json_integer_value(json_object_get(r, "schema_version")),
                     1);
    assert_string_equal(json_string_value(json_object_get(r, "type")),
                        "request");
    assert_string_equal(json_string_value(json_object_get(r, "time")),
                        "2026-01-01T00:00:00.123Z");
    assert_int_equal(json_integer_value(json_object_get(r, "time_ms")),
                     1767225600123LL);
    assert_string_equal(json_string_value(json_object_get(r, "recipient")),
                        "fraud-analytics");
    assert_string_equal(json_string_value(json_object_get(r, "token_id")),
                        "fa-1");
    assert_string_equal(json_string_value(json_object_get(r, "action")),
                        "deltaSharingQueryTable");
    assert_string_equal(json_string_value(json_object_get(r, "table")),
                        "enc");
    assert_int_equal(json_integer_value(json_object_get(r, "status")), 200);
    assert_int_equal(json_integer_value(json_object_get(r, "duration_ms")),
                     42);
    assert_int_equal(json_integer_value(json_object_get(
        json_object_get(r, "rate_limit"), "remaining")), 99);
    assert_true(json_is_null(json_object_get(r, "list_items")));
    assert_null(json_object_get(r, "sanitized"));
    assert_null(json_object_get(r, "truncated"));

    /* query: only allow-listed arguments */
    q = json_object_get(r, "query");
    assert_int_equal(json_object_size(q), 2);
    assert_string_equal(json_string_value(json_object_get(q, "maxResults")),
                        "10");
    assert_string_equal(json_string_value(json_object_get(q, "pageToken")),
                        "abc");
    assert_null(json_object_get(q, "secret"));

    s = ds_audit_canonical(r, NULL);
    assert_null(strstr(s, "secret"));
    free(s);
    json_decref(r);

    /* absent values are null, not empty strings */
    memset(&rq, 0, sizeof(rq));
    rq.decision = ds_audit_cstr("error");
    rq.status = 400;
    r = ds_audit_request_record(DS_AUDIT_NATIVE, &rq);
    assert_true(json_is_null(json_object_get(r, "recipient")));
    assert_true(json_is_null(json_object_get(r, "rate_limit")));
    assert_int_equal(json_object_size(json_object_get(r, "query")), 0);
    json_decref(r);
}


static void
test_no_token_anywhere(void **state)
{
    ds_audit_req_t    rq;
    ds_audit_chain_t  c;
    json_t           *r;
    char             *line, args[256];
    size_t            len;
    int               f;

    (void) state;

    /* a token smuggled in a non-allow-listed argument never shows */
    snprintf(args, sizeof(args), "access_token=%s&bearer=%s", secret_token,
             secret_token);

    for (f = 0; f < 2; f++) {
        rq = sample_request();
        rq.args = ds_audit_cstr(args);
        ds_audit_chain_init_id(&c, seed, sizeof(seed), "t");
        r = ds_audit_request_record(f ? DS_AUDIT_OCSF : DS_AUDIT_NATIVE, &rq);
        line = ds_audit_seal(&c, r, &len);
        assert_non_null(line);
        assert_null(strstr(line, secret_token));
        assert_null(strstr(line, "access_token"));
        free(line);
        json_decref(r);
        ds_audit_chain_free(&c);
    }
}


static void
test_caps_and_utf8(void **state)
{
    ds_audit_req_t  rq;
    json_t         *r, *t;
    char           *ua, bad[] = "ok\xff\xc0\xaf\xed\xa0\x80z\xe2\x82";
    const char     *s;
    size_t          i;

    (void) state;

    /* a user agent of 300 two-byte characters: cut at 512, on a boundary */
    ua = malloc(601);
    for (i = 0; i < 300; i++) {
        memcpy(ua + 2 * i, "\xc3\xa9", 2);
    }
    ua[600] = '\0';

    rq = sample_request();
    rq.user_agent = ds_audit_cstr(ua);
    r = ds_audit_request_record(DS_AUDIT_NATIVE, &rq);
    s = json_string_value(json_object_get(r, "user_agent"));
    assert_int_equal(strlen(s), 512);
    t = json_object_get(r, "truncated");
    assert_int_equal(json_array_size(t), 1);
    assert_string_equal(json_string_value(json_array_get(t, 0)),
                        "user_agent");
    assert_null(json_object_get(r, "sanitized"));
    json_decref(r);
    free(ua);

    /* invalid bytes, overlong "/", surrogate, truncated sequence */
    rq = sample_request();
    rq.user_agent.data = bad;
    rq.user_agent.len = sizeof(bad) - 1;
    r = ds_audit_request_record(DS_AUDIT_NATIVE, &rq);
    s = json_string_value(json_object_get(r, "user_agent"));
    assert_string_equal(s, "ok\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                           "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                           "z\xef\xbf\xbd\xef\xbf\xbd");
    assert_true(json_is_true(json_object_get(r, "sanitized")));
    json_decref(r);

    /* NUL inside a value is replaced too */
    rq = sample_request();
    rq.path.data = "/a\0b";
    rq.path.len = 4;
    r = ds_audit_request_record(DS_AUDIT_NATIVE, &rq);
    assert_string_equal(json_string_value(json_object_get(r, "path")),
                        "/a\xef\xbf\xbd" "b");
    json_decref(r);

    /* a long path is capped at 2048 */
    ua = malloc(5001);
    memset(ua, 'a', 5000);
    ua[5000] = '\0';
    rq = sample_request();
    rq.path = ds_audit_cstr(ua);
    r = ds_audit_request_record(DS_AUDIT_OCSF, &rq);
    s = json_string_value(json_object_get(json_object_get(
        json_object_get(r, "http_request"), "url"), "path"));
    assert_int_equal(strlen(s), DS_AUDIT_CAP_PATH);
    assert_true(json_is_true(json_object_get(json_object_get(r, "metadata"),
                                             "is_truncated")));
    json_decref(r);
    free(ua);
}


static void
test_line_cap(void **state)
{
    ds_audit_req_t    rq;
    ds_audit_chain_t  c;
    ds_audit_str_t    big;
    json_t           *r;
    char             *junk, *line[1];
    size_t            len;
    collect_t         col;
    int               f;

    (void) state;

    /* every field at 5000 control characters: 6 bytes each escaped */
    junk = malloc(5000);
    memset(junk, 0x01, 5000);
    big.data = junk;
    big.len = 5000;

    for (f = 0; f < 2; f++) {
        memset(&rq, 0, sizeof(rq));
        rq.instance = rq.request_id = rq.recipient = rq.token_id = big;
        rq.action = rq.operation = rq.method = rq.path = big;
        rq.client_ip = rq.country = rq.user_agent = rq.decision = big;
        rq.reason = rq.upstream_status = rq.share = rq.schema = big;
        rq.table = rq.purpose = rq.rl_state = rq.policy_version = big;

        r = ds_audit_request_record(f ? DS_AUDIT_OCSF : DS_AUDIT_NATIVE, &rq);
        assert_non_null(r);
        ds_audit_chain_init_id(&c, seed, sizeof(seed), "cap");
        line[0] = ds_audit_seal(&c, r, &len);
        assert_non_null(line[0]);
        assert_true(len <= DS_AUDIT_LINE_MAX);
        assert_null(strchr(line[0], '\n') + 1 == line[0] + len
                    ? NULL : "newline inside the record");
        json_decref(r);

        col = verify(seed, sizeof(seed), line, 1, 0);
        assert_int_equal(col.errors, 0);
        free(line[0]);
        ds_audit_chain_free(&c);
    }

    free(junk);
}


static void
test_canonical(void **state)
{
    json_t  *j;
    char    *s;

    (void) state;

    j = json_loads("{\"b\":[1,true,null,\"x\\ty\"],\"a\":{\"z\":\"\\u0001\","
                   "\"y\":\"\\\"\\\\/\\u00e9\\u007f\"}}", 0, NULL);
    assert_non_null(j);
    s = ds_audit_canonical(j, NULL);
    assert_string_equal(s, "{\"a\":{\"y\":\"\\\"\\\\/\xc3\xa9\x7f\","
                           "\"z\":\"\\u0001\"},\"b\":[1,true,null,"
                           "\"x\\ty\"]}");
    free(s);
    json_decref(j);

    /* reals have no canonical form here */
    j = json_loads("{\"a\":1.5}", 0, NULL);
    assert_null(ds_audit_canonical(j, NULL));
    json_decref(j);
}


static void
test_ocsf_record(void **state)
{
    ds_audit_req_t    rq;
    ds_audit_chain_t  c;
    json_t           *r, *ds;
    char             *line;
    size_t            len;

    (void) state;

    rq = sample_request();
    rq.decision = ds_audit_cstr("deny");
    rq.reason = ds_audit_cstr("country_denied");
    rq.status = 403;
    r = ds_audit_request_record(DS_AUDIT_OCSF, &rq);

    assert_int_equal(json_integer_value(json_object_get(r, "class_uid")),
                     6003);
    assert_int_equal(json_integer_value(json_object_get(r, "type_uid")),
                     600302);
    assert_int_equal(json_integer_value(json_object_get(r, "time")),
                     1767225600123LL);
    assert_int_equal(json_integer_value(json_object_get(r, "action_id")), 2);
    assert_int_equal(json_integer_value(json_object_get(r, "disposition_id")),
                     2);
    assert_string_equal(json_string_value(json_object_get(r, "status_code")),
                        "403");
    assert_string_equal(json_string_value(json_object_get(r,
                        "status_detail")), "country_denied");
    assert_string_equal(json_string_value(json_object_get(json_object_get(
                        json_object_get(r, "actor"), "user"), "uid")),
                        "fraud-analytics");
    assert_string_equal(json_string_value(json_object_get(json_object_get(
                        r, "api"), "operation")), "deltaSharingQueryTable");
    assert_string_equal(json_string_value(json_object_get(json_array_get(
                        json_object_get(r, "resources"), 0), "uid")),
                        "claims.y2025.enc");

    ds_audit_chain_init_id(&c, seed, sizeof(seed), "o");
    line = ds_audit_seal(&c, r, &len);
    assert_non_null(line);
    json_decref(r);
    ds_audit_chain_free(&c);

    r = json_loads(line, 0, NULL);
    ds = json_object_get(json_object_get(r, "unmapped"), "dsgw");
    assert_string_equal(json_string_value(json_object_get(ds,
                        "purpose_of_use")), "FRAUD");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(ds,
                     "integrity"), "seq")), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r,
                     "metadata"), "sequence")), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r,
                        "metadata"), "uid")), "o:0");
    assert_null(json_object_get(r, "integrity"));
    json_decref(r);
    free(line);

    /* unknown route: activity 99, operation unknown:METHOD */
    rq = sample_request();
    rq.action = ds_audit_cstr("unknown");
    rq.method = ds_audit_cstr("DELETE");
    r = ds_audit_request_record(DS_AUDIT_OCSF, &rq);
    assert_int_equal(json_integer_value(json_object_get(r, "activity_id")),
                     99);
    assert_string_equal(json_string_value(json_object_get(json_object_get(
                        r, "api"), "operation")), "unknown:DELETE");
    json_decref(r);
}


static void
test_key_parse(void **state)
{
    unsigned char  out[DS_AUDIT_KEY_MAX];
    char           err[128];
    size_t         n;
    const char    *h = "000102030405060708090a0b0c0d0e0f"
                       "101112131415161718191A1B1C1D1E1F\n";

    (void) state;

    assert_int_equal(ds_audit_key_parse((const unsigned char *) h, strlen(h),
                                        out, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 32);
    assert_memory_equal(out, seed, 32);

    /* raw bytes */
    assert_int_equal(ds_audit_key_parse(seed, 32, out, &n, err,
                                        sizeof(err)), 0);
    assert_int_equal(n, 32);

    /* too short, in either form */
    assert_int_equal(ds_audit_key_parse((const unsigned char *) "abcd", 4,
                                        out, &n, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "shorter"));
}


/* ---------------------------------------------------------- verifier */

static void
test_chain_verifies(void **state)
{
    char       *lines[MAX_LINES];
    size_t      n;
    collect_t   c;
    int         f;

    (void) state;

    for (f = 0; f < 2; f++) {
        n = make_chain(f ? DS_AUDIT_OCSF : DS_AUDIT_NATIVE, seed,
                       sizeof(seed), "gw-a.42.00ff", 10, 1, lines);
        assert_int_equal(n, 12);
        c = verify(seed, sizeof(seed), lines, n, 1);
        assert_int_equal(c.errors, 0);
        assert_int_equal(c.warnings, 0);
        free_lines(lines, n);
    }
}


static void
test_tamper_edit_byte(void **state)
{
    char       *lines[MAX_LINES], *p;
    size_t      n;
    collect_t   c;

    (void) state;

    n = make_chain(DS_AUDIT_NATIVE, seed, sizeof(seed), "c", 6, 1, lines);
    p = strstr(lines[4], "\"status\":203");
    assert_non_null(p);
    p[11] = '4';                        /* 203 -> 204 */

    c = verify(seed, sizeof(seed), lines, n, 0);
    assert_int_equal(c.errors, 1);
    assert_int_equal(c.first_error_line, 5);
    assert_string_equal(c.first_error_kind, "altered");
    free_lines(lines, n);
}


static void
test_tamper_delete(void **state)
{
    char       *lines[MAX_LINES];
    size_t      n;
    collect_t   c;

    (void) state;

    n = make_chain(DS_AUDIT_NATIVE, seed, sizeof(seed), "c", 6, 1, lines);
    free(lines[3]);
    memmove(&lines[3], &lines[4], (n - 4) * sizeof(char *));
    n--;

    c = verify(seed, sizeof(seed), lines, n, 0);
    assert_int_equal(c.errors, 1);
    assert_int_equal(c.first_error_line, 4);    /* where the gap shows */
    assert_string_equal(c.first_error_kind, "removed");
    free_lines(lines, n);
}


static void
test_tamper_swap(void **state)
{
    char       *lines[MAX_LINES], *t;
    size_t      n;
    collect_t   c;

    (void) state;

    n = make_chain(DS_AUDIT_NATIVE, seed, sizeof(seed), "c", 6, 1, lines);
    t = lines[2];
    lines[2] = lines[3];
    lines[3] = t;

    c = verify(seed, sizeof(seed), lines, n, 0);
    assert_true(c.errors >= 1);
    assert_int_equal(c.first_error_line, 3);
    free_lines(lines, n);
}


static void
test_tamper_insert(void **state)
{
    char       *lines[MAX_LINES], *forged, *dup;
    size_t      n;
    collect_t   c;

    (void) state;

    /* a forged copy of a record (other status, same integrity block) */
    n = make_chain(DS_AUDIT_NATIVE, seed, sizeof(seed), "c", 6, 1, lines);
    forged = strdup(lines[3]);
    memcpy(strstr(forged, "\"status\":202") + 9, "500", 3);
    memmove(&lines[4], &lines[3], (n - 3) * sizeof(char *));
    lines[3] = forged;
    n++;

    c = verify(seed, sizeof(seed), lines, n, 0);
    assert_int_equal(c.first_error_line, 4);
    assert_string_equal(c.first_error_kind, "altered");
    free_lines(lines, n);

    /* a replayed genuine record */
    n = make_chain(DS_AUDIT_NATIVE, seed, sizeof(seed), "c", 6, 1, lines);
    dup = strdup(lines[2]);
    memmove(&lines[6], &lines[5], (n - 5) * sizeof(char *));
    lines[5] = dup;
    n++;

    c = verify(seed, sizeof(seed), lines, n, 0);
    assert_int_equal(c.errors, 1);
    assert_int_equal(c.first_error_line, 6);
    assert_string_equal(c.first_error_kind, "reordered");
    free_lines(lines, n);

    /* garbage */
    n = make_chain(DS_AUDIT_NATIVE, seed, sizeof(seed), "c", 2, 1, lines);
    lines[n++] = strdup("{\"hello\":1}");
    c = verify(seed, sizeof(seed), lines, n, 0);
    assert_int_equal(c.first_error_line, 5);
    assert_string_equal(c.first_error_kind, "corrupt");
    free_lines(lines, n);
}


static void
test_tamper_truncate_and_keys(void **state)
{
    char            *lines[MAX_LINES];
    unsigned char    other[32];
    size_t           n;
    collect_t        c;

    (void) state;

    /* tail cut: an open chain is a warning, an error with strict */
    n = make_chain(DS_AUDIT_NATIVE, seed, sizeof(seed), "c", 4, 0, lines);
    c = verify(seed, sizeof(seed), lines, n, 0);
    assert_int_equal(c.errors, 0);
    assert_int_equal(c.warnings, 1);
    assert_string_equal(c.first_warning_kind, "open");
    c = verify(seed, sizeof(seed), lines, n, 1);
    assert_int_equal(c.errors, 1);
    assert_string_equal(c.first_error_kind, "open");

    /* wrong key: the very first line fails */
    memset(other, 7, sizeof(other));
    c = verify(other, sizeof(other), lines, n, 0);
    assert_int_equal(c.first_error_line, 1);
    assert_string_equal(c.first_error_kind, "altered");

    /* keyed chain, no key given */
    c = verify(NULL, 0, lines, n, 0);
    assert_int_equal(c.errors, 1);
    assert_string_equal(c.first_error_kind, "nokey");
    free_lines(lines, n);

    /* unkeyed chain: verifies without a key, refused with one */
    n = make_chain(DS_AUDIT_NATIVE, NULL, 0, "u", 4, 1, lines);
    assert_non_null(strstr(lines[1], "\"alg\":\"sha256\""));
    c = verify(NULL, 0, lines, n, 1);
    assert_int_equal(c.errors, 0);
    c = verify(seed, sizeof(seed), lines, n, 0);
    assert_int_equal(c.first_error_line, 1);
    assert_string_equal(c.first_error_kind, "unkeyed");
    free_lines(lines, n);
}


static void
test_interleaved_and_segments(void **state)
{
    char       *a[MAX_LINES], *b[MAX_LINES], *mix[2 * MAX_LINES];
    size_t      na, nb, i, j, k;
    collect_t   c;

    (void) state;

    na = make_chain(DS_AUDIT_NATIVE, seed, sizeof(seed), "w1", 5, 1, a);
    nb = make_chain(DS_AUDIT_NATIVE, seed, sizeof(seed), "w2", 7, 1, b);

    for (i = j = k = 0; i < na || j < nb; ) {
        if (i < na) {
            mix[k++] = a[i++];
        }
        if (j < nb) {
            mix[k++] = b[j++];
        }
        if (j < nb) {
            mix[k++] = b[j++];
        }
    }

    c = verify(seed, sizeof(seed), mix, k, 1);
    assert_int_equal(c.errors, 0);

    /* only the second segment of chain w1: a warning, no error */
    c = verify(seed, sizeof(seed), a + 3, na - 3, 0);
    assert_int_equal(c.errors, 0);
    assert_string_equal(c.first_warning_kind, "continued");

    /* strict: all segments claimed, so a cut head is an error */
    c = verify(seed, sizeof(seed), a + 3, na - 3, 1);
    assert_int_equal(c.errors, 1);
    assert_int_equal(c.first_error_line, 1);
    assert_string_equal(c.first_error_kind, "continued");

    free_lines(a, na);
    free_lines(b, nb);
}


/* ------------------------------------------------------- checkpoints */

/*
 * A closed chain of n requests in lines, and in cps its checkpoints:
 * at chain-start, after the second request, at chain-end.
 */
static size_t
make_chain_cp(const unsigned char *key, size_t klen, const char *id,
    size_t n, char **lines, char **cps, size_t *ncp)
{
    ds_audit_chain_t  c;
    ds_audit_req_t    rq;
    json_t           *rec;
    size_t            i, k, len;

    ds_audit_chain_init_id(&c, key, klen, id);
    k = 0;
    *ncp = 0;

    assert_null(ds_audit_checkpoint_line(&c, "start", 1, &len));

    rec = ds_audit_lifecycle_record(DS_AUDIT_NATIVE, "chain_start", 1,
                                    "gw-a", 42, 0, 0);
    lines[k++] = ds_audit_seal(&c, rec, &len);
    json_decref(rec);
    cps[(*ncp)++] = ds_audit_checkpoint_line(&c, "start", 1, &len);

    for (i = 0; i < n; i++) {
        rq = sample_request();
        rec = ds_audit_request_record(DS_AUDIT_NATIVE, &rq);
        lines[k++] = ds_audit_seal(&c, rec, &len);
        json_decref(rec);

        if (i == 1) {
            cps[(*ncp)++] = ds_audit_checkpoint_line(&c, "interval", 5,
                                                     &len);
        }
    }

    rec = ds_audit_lifecycle_record(DS_AUDIT_NATIVE, "chain_end", 9, "gw-a",
                                    42, c.requests, 0);
    lines[k++] = ds_audit_seal(&c, rec, &len);
    json_decref(rec);
    cps[(*ncp)++] = ds_audit_checkpoint_line(&c, "end", 9, &len);

    for (i = 0; i < *ncp; i++) {
        assert_non_null(cps[i]);
    }

    ds_audit_chain_free(&c);

    return k;
}


static collect_t
verify_cp(char **lines, size_t n, char **cps, size_t ncp, unsigned flags,
    ds_audit_verify_stats_t *st)
{
    ds_audit_verify_t  *v;
    collect_t           c;
    size_t              i;

    memset(&c, 0, sizeof(c));
    v = ds_audit_verify_new(seed, sizeof(seed), collect, &c);
    assert_non_null(v);

    for (i = 0; i < ncp; i++) {
        ds_audit_verify_checkpoint(v, "siem.log", i + 1, cps[i],
                                   strlen(cps[i]));
    }

    for (i = 0; i < n; i++) {
        ds_audit_verify_line(v, "audit.log", i + 1, lines[i],
                             strlen(lines[i]));
    }

    ds_audit_verify_end(v, flags);
    ds_audit_verify_stats(v, st);
    ds_audit_verify_free(v);

    return c;
}


static void
test_checkpoint_line(void **state)
{
    char    *lines[MAX_LINES], *cps[8];
    size_t   n, ncp;
    json_t  *j;

    (void) state;

    n = make_chain_cp(seed, sizeof(seed), "w1", 4, lines, cps, &ncp);
    assert_int_equal(ncp, 3);

    /* the interval checkpoint names the second request's seq and MAC */
    j = json_loads(cps[1], 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "type")),
                        "dsgw_checkpoint");
    assert_int_equal(json_integer_value(json_object_get(j, "seq")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "requests")), 2);
    assert_string_equal(json_string_value(json_object_get(j, "event")),
                        "interval");
    assert_non_null(strstr(lines[2], json_string_value(json_object_get(j,
                                                                 "head"))));
    json_decref(j);

    free_lines(lines, n);
    free_lines(cps, ncp);
}


static void
test_checkpoint_verify(void **state)
{
    char                    *lines[MAX_LINES], *cps[8], *b[MAX_LINES];
    char                    *bcps[8], *all[16], buf[1024];
    size_t                   n, ncp, nb, nbcp, i;
    collect_t                c;
    ds_audit_verify_stats_t  st;

    (void) state;

    n = make_chain_cp(seed, sizeof(seed), "w1", 4, lines, cps, &ncp);
    nb = make_chain_cp(seed, sizeof(seed), "w2", 3, b, bcps, &nbcp);

    /* whole: every checkpoint met */
    c = verify_cp(lines, n, cps, ncp, 0, &st);
    assert_int_equal(c.errors, 0);
    assert_int_equal(st.checkpoints, 3);
    assert_int_equal(st.checkpoint_chains, 1);

    /* as a SIEM stores it: a syslog header first; other lines skipped */
    snprintf(buf, sizeof(buf), "<134>Dec  2 14:00:00 gw ngx_ds: %s",
             cps[1]);
    all[0] = "<134>Dec  2 14:00:00 gw sshd: session opened";
    all[1] = buf;
    c = verify_cp(lines, n, all, 2, 0, &st);
    assert_int_equal(c.errors, 0);
    assert_int_equal(st.checkpoints, 1);
    assert_int_equal(st.ignored, 1);

    /*
     * the tail cut while running, chain-end and all: --open-ok accepts
     * a chain without its end, the checkpoint does not
     */
    c = verify_cp(lines, 2, cps, 2, DS_AUDIT_VERIFY_OPEN_OK, &st);
    assert_int_equal(c.errors, 1);
    assert_string_equal(c.first_error_kind, "cut");
    assert_string_equal(c.first_error_file, "siem.log");
    assert_int_equal(c.first_error_line, 2);

    /* without checkpoints that cut is invisible with --open-ok ... */
    c = verify_cp(lines, 2, cps, 0, DS_AUDIT_VERIFY_OPEN_OK, &st);
    assert_int_equal(c.errors, 0);
    assert_string_equal(c.first_warning_kind, "open");

    /* ... and an error by default */
    c = verify_cp(lines, 2, cps, 0, 0, &st);
    assert_int_equal(c.errors, 1);
    assert_string_equal(c.first_error_kind, "open");

    /* a whole chain deleted: only its checkpoints know it existed */
    for (i = 0; i < ncp; i++) {
        all[i] = cps[i];
    }
    for (i = 0; i < nbcp; i++) {
        all[ncp + i] = bcps[i];
    }
    c = verify_cp(lines, n, all, ncp + nbcp, 0, &st);
    assert_int_equal(c.errors, 1);
    assert_string_equal(c.first_error_kind, "missing");
    assert_int_equal(c.first_error_line, ncp + nbcp);

    /* both chains given: clean */
    for (i = 0; i < nb; i++) {
        lines[n + i] = b[i];
    }
    c = verify_cp(lines, n + nb, all, ncp + nbcp, 0, &st);
    assert_int_equal(c.errors, 0);
    assert_int_equal(st.checkpoints, 6);
    assert_int_equal(st.checkpoint_chains, 2);

    /* a checkpoint altered without the key */
    snprintf(buf, sizeof(buf), "%s", cps[1]);
    *strstr(buf, "\"requests\":2") = '\0';
    snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
             "\"requests\":1%s", strstr(cps[1], "\"requests\":2") + 12);
    all[0] = buf;
    c = verify_cp(lines, n, all, 1, 0, &st);
    assert_int_equal(c.errors, 1);
    assert_string_equal(c.first_error_kind, "forged");

    /* a checkpoint in the wrong place is not met */
    all[0] = cps[1];
    c = verify_cp(lines, 2, all, 1, DS_AUDIT_VERIFY_OPEN_OK, &st);
    assert_string_equal(c.first_error_kind, "cut");

    /* malformed */
    all[0] = "{\"type\":\"dsgw_checkpoint\",\"v\":1}";
    c = verify_cp(lines, n, all, 1, 0, &st);
    assert_int_equal(c.errors, 1);
    assert_string_equal(c.first_error_kind, "corrupt");

    free_lines(lines, n + nb);
    free_lines(cps, ncp);
    free_lines(bcps, nbcp);
}


/* ------------------------------------------- direct writer vs jansson */

static uint64_t  rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}


/*
 * absent, empty, plain, hostile bytes, or long enough to be capped;
 * big: always long (a record of such fields is re-capped smaller)
 */
static ds_audit_str_t
rng_str(char *buf, size_t size, int big)
{
    static const char  alphabet[] = "abcXYZ019 _-./\"\\\t\n\x01\x1f\x7f"
                                    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                                    "\xff\xc0\xed\xa0\x80\x00";
    ds_audit_str_t     s;
    size_t             i, n;

    switch (big ? 5 : rng() % 6) {
    case 0:
        s.data = NULL;
        s.len = 0;
        return s;
    case 1:
        n = 0;
        break;
    case 2:
        n = rng() % 16;
        break;
    case 3:
        n = rng() % 300;
        break;
    default:
        n = big ? size : rng() % size;
    }

    for (i = 0; i < n; i++) {
        buf[i] = alphabet[rng() % (sizeof(alphabet) - 1)];
    }

    s.data = buf;
    s.len = n;
    return s;
}


static ds_audit_str_t
rng_args(char *buf, size_t size)
{
    static const char *const  names[] = {
        "maxResults", "pageToken", "startingVersion", "version", "x",
        "maxResults", "endingTimestamp", ""
    };
    char            val[512];
    ds_audit_str_t  s, v;
    size_t          n, k, i;

    n = rng() % 8;
    s.data = buf;
    s.len = 0;

    for (k = 0; k < n; k++) {
        v = rng_str(val, sizeof(val), 0);
        i = snprintf(buf + s.len, size - s.len, "%s%s%s",
                     k ? "&" : "", names[rng() % 8],
                     v.data ? "=" : "");
        s.len += i;
        if (s.len + v.len < size) {
            memcpy(buf + s.len, v.data ? v.data : "", v.len);
            s.len += v.len;
        }
    }

    if (rng() % 8 == 0) {
        s.data = NULL;
        s.len = 0;
    }

    return s;
}


/* a disclosure with random numbers and partitions of any bytes but NUL */
static const ds_disclosure_t *
rng_disclosure(void)
{
    static ds_disclosure_t  d;
    size_t                  i, j, n;

    memset(&d, 0, sizeof(d));
    d.lines = (int64_t) (rng() % 20000);
    d.files = (int64_t) (rng() % 10000);
    d.bytes = (int64_t) rng();
    d.records = (int64_t) rng();
    d.has_records = rng() & 1;
    d.n_file = (int64_t) (rng() % 100);
    d.n_add = (int64_t) (rng() % 100);
    d.n_cdf = (int64_t) (rng() % 100);
    d.n_remove = (int64_t) (rng() % 100);
    d.exposed_until = (int64_t) (rng() % 3 ? rng() % 4102444800000ULL : 0);
    d.expires_first = (int64_t) (rng() % 3 ? rng() % 4102444800000ULL : 0);
    d.has_versions = rng() & 1;
    d.version_min = (int64_t) (rng() % 50);
    d.version_max = d.version_min + (int64_t) (rng() % 50);
    d.has_table_version = rng() & 1;
    d.table_version = (int64_t) (rng() % 1000);
    d.proxied = rng() & 1;
    d.partitions_capped = rng() & 1;
    d.format = (ds_disclose_format_t) (rng() % 3);
    d.cut = rng() % 4 ? NULL : "a line is not JSON";
    d.npartitions = rng() % (DS_DISCLOSE_PARTITIONS_MAX + 1);

    for (i = 0; i < d.npartitions; i++) {
        n = rng() % (DS_DISCLOSE_PARTITION_LEN + 1);
        for (j = 0; j < n; j++) {
            d.partitions[i][j] = (char) (rng() % 2 ? 'a' + rng() % 26
                                                   : 1 + rng() % 255);
        }
        d.partitions[i][n] = '\0';
    }

    return &d;
}


static void
rng_request(ds_audit_req_t *rq, char bufs[][6000], size_t size)
{
    static const char *const  custom[] = {
        "version", "maxResults", "version", "x", NULL
    };
    static const char *const  none[] = { NULL };
    ds_audit_str_t           *f[] = {
        &rq->instance, &rq->request_id, &rq->recipient, &rq->token_id,
        &rq->action, &rq->operation, &rq->method, &rq->path,
        &rq->client_ip, &rq->country, &rq->user_agent, &rq->decision,
        &rq->reason, &rq->upstream_status, &rq->share, &rq->schema,
        &rq->table, &rq->purpose, &rq->rl_state, &rq->policy_version,
        &rq->body_sha256, &rq->file_id, &rq->file_range,
        &rq->jwt_issuer, &rq->jwt_subject, &rq->jwt_kid, &rq->jwt_jti_hash
    };
    int                       big;
    size_t                    i;

    memset(rq, 0, sizeof(*rq));
    big = rng() % 8 == 0;

    for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        *f[i] = rng_str(bufs[i], size, big);
    }

    rq->args = rng_args(bufs[i], size);
    rq->query_allow = (rng() % 4 == 0) ? custom
                      : (rng() % 8 == 0) ? none
                      : (rng() % 8 == 0) ? NULL
                      : ds_audit_default_query_args;

    rq->time_ms = (int64_t) (rng() % 4 ? rng() % 4102444800000ULL : rng());
    rq->status = (int) (rng() % 4 ? 100 + rng() % 500 : rng());
    rq->bytes_sent = (int64_t) rng();
    rq->body_bytes_sent = (int64_t) (rng() % 100000);
    rq->duration_ms = (int64_t) (rng() % 3 ? rng() % 5000 : rng());
    rq->rl_limit = (int64_t) rng();
    rq->rl_remaining = -(int64_t) (rng() % 10);
    rq->has_items = (int) (rng() & 1);
    rq->items_in = (int64_t) (rng() % 100);
    rq->items_out = (int64_t) rng();
    rq->has_file = (int) (rng() & 1);
    rq->request_length = (int64_t) (rng() % 20000);
    rq->disclosure = rng() % 3 ? NULL : rng_disclosure();
    rq->has_jwt = (int) (rng() & 1);
    rq->jwt_exp = (int64_t) (rng() % 4 ? rng() % 4102444800ULL : 0);
}


static void
test_direct_line_matches_jansson(void **state)
{
    static char       bufs[28][6000];
    int               fmt, keyed, truncated, sanitized, capped;
    char             *direct, *tree, id[64];
    size_t            i, k, dlen, tlen;
    json_t           *rec;
    ds_audit_req_t    rq;
    ds_audit_chain_t  a, b;

    (void) state;

    truncated = 0;
    sanitized = 0;
    capped = 0;

    for (i = 0; i < 3000; i++) {
        fmt = (i & 2) ? DS_AUDIT_OCSF : DS_AUDIT_NATIVE;
        keyed = i & 1;
        snprintf(id, sizeof(id), "gw-diff.%zu.00112233445566778899aabbccdd",
                 i);

        ds_audit_chain_init_id(&a, keyed ? seed : NULL,
                               keyed ? sizeof(seed) : 0, id);
        ds_audit_chain_init_id(&b, keyed ? seed : NULL,
                               keyed ? sizeof(seed) : 0, id);

        /* a few records per chain: seq and prev must advance alike */
        for (k = 0; k < 3; k++) {
            rng_request(&rq, bufs, sizeof(bufs[0]));

            direct = ds_audit_request_line(&a, (ds_audit_format_t) fmt, &rq,
                                           &dlen);
            rec = ds_audit_request_record((ds_audit_format_t) fmt, &rq);
            assert_non_null(rec);
            tree = ds_audit_seal(&b, rec, &tlen);
            json_decref(rec);

            assert_non_null(direct);
            assert_non_null(tree);
            if (dlen != tlen || memcmp(direct, tree, dlen) != 0) {
                print_error("iteration %zu.%zu differs:\n direct %s\n "
                            "jansson %s\n", i, k, direct, tree);
                fail();
            }

            assert_true(dlen <= DS_AUDIT_LINE_MAX);
            assert_int_equal(a.seq, b.seq);
            assert_int_equal(a.requests, b.requests);
            assert_string_equal(a.prev, b.prev);

            truncated += strstr(direct, "\"truncated\":[") != NULL;
            sanitized += strstr(direct, "\"sanitized\":true") != NULL;
            /* 8 KB of fields cannot fit unless re-capped */
            capped += rq.path.len == 6000 && rq.user_agent.len == 6000
                      && rq.recipient.len == 6000;

            free(direct);
            free(tree);
        }

        ds_audit_chain_free(&a);
        ds_audit_chain_free(&b);
    }

    /* the generator reaches the cut, clean-up and re-cap paths */
    assert_true(truncated > 100);
    assert_true(sanitized > 100);
    assert_true(capped > 10);
}


/* chain-start and chain-end: the writer against the oracle too */
static void
test_lifecycle_line_matches_jansson(void **state)
{
    static const char *const  instances[] = {
        "gw-a", "", "g\xffw\x01\"x", NULL
    };

    int               fmt, keyed, end;
    char             *direct, *tree;
    size_t            i, dlen, tlen;
    json_t           *rec;
    ds_audit_chain_t  a, b;

    (void) state;

    for (i = 0; instances[i]; i++) {
        for (fmt = 0; fmt < 2; fmt++) {
            for (keyed = 0; keyed < 2; keyed++) {
                ds_audit_chain_init_id(&a, keyed ? seed : NULL,
                                       keyed ? sizeof(seed) : 0, "lc");
                ds_audit_chain_init_id(&b, keyed ? seed : NULL,
                                       keyed ? sizeof(seed) : 0, "lc");

                for (end = 0; end < 2; end++) {
                    const char  *type = end ? "chain_end" : "chain_start";

                    direct = ds_audit_lifecycle_line(&a,
                                 (ds_audit_format_t) fmt, type, 1234,
                                 instances[i], 42, 7, 3, &dlen);
                    rec = ds_audit_lifecycle_record((ds_audit_format_t) fmt,
                                                    type, 1234, instances[i],
                                                    42, 7, 3);
                    tree = ds_audit_seal(&b, rec, &tlen);
                    json_decref(rec);

                    assert_non_null(direct);
                    assert_non_null(tree);
                    assert_int_equal(dlen, tlen);
                    assert_memory_equal(direct, tree, dlen);
                    free(direct);
                    free(tree);
                }

                assert_int_equal(a.requests, 0);
                ds_audit_chain_free(&a);
                ds_audit_chain_free(&b);
            }
        }
    }
}


/* alert records: the writer against the oracle, and what they hold */
static void
test_alert_line_matches_jansson(void **state)
{
    static const char *const  recipients[] = {
        "fraud-analytics", "", "r\xffx\x01\"y", NULL
    };
    static const char *const  metrics[] = {
        "requests", "denials", "disclosed_bytes", "fail_open"
    };

    int               fmt, keyed;
    char             *direct, *tree;
    size_t            i, k, dlen, tlen;
    json_t           *rec, *j, *al;
    ds_audit_alert_t  al_in;
    ds_audit_chain_t  a, b;

    (void) state;

    for (i = 0; recipients[i]; i++) {
        for (k = 0; k < 4; k++) {
            for (fmt = 0; fmt < 2; fmt++) {
                for (keyed = 0; keyed < 2; keyed++) {
                    memset(&al_in, 0, sizeof(al_in));
                    al_in.time_ms = 1700000000123LL;
                    al_in.instance = "gw-a";
                    al_in.pid = 42;
                    al_in.recipient = ds_audit_cstr(recipients[i]);
                    al_in.request_id = ds_audit_cstr(k == 1 ? NULL
                                                            : "req-1");
                    al_in.policy_version = ds_audit_cstr(k == 2 ? NULL
                                                                : "ab12");
                    al_in.metric = metrics[k];
                    al_in.action = (k == 1) ? "suspend" : "alert";
                    al_in.window = ds_audit_cstr(k == 3 ? "1m" : "10s");
                    al_in.window_ms = k == 3 ? 60000 : 10000;
                    al_in.observed = 6 + (int64_t) k;
                    al_in.threshold = 5;
                    al_in.baseline = k == 0 ? 2 : -1;
                    al_in.until_ms = k == 1 ? 1700000600123LL : 0;

                    ds_audit_chain_init_id(&a, keyed ? seed : NULL,
                                           keyed ? sizeof(seed) : 0, "al");
                    ds_audit_chain_init_id(&b, keyed ? seed : NULL,
                                           keyed ? sizeof(seed) : 0, "al");

                    direct = ds_audit_alert_line(&a,
                                 (ds_audit_format_t) fmt, &al_in, &dlen);
                    rec = ds_audit_alert_record((ds_audit_format_t) fmt,
                                                &al_in);
                    tree = ds_audit_seal(&b, rec, &tlen);
                    json_decref(rec);

                    assert_non_null(direct);
                    assert_non_null(tree);
                    assert_int_equal(dlen, tlen);
                    assert_memory_equal(direct, tree, dlen);

                    /* what a SIEM reads off it */
                    j = json_loadb(direct, dlen, 0, NULL);
                    assert_non_null(j);
                    al = fmt == DS_AUDIT_NATIVE
                         ? json_object_get(j, "alert")
                         : json_object_get(json_object_get(
                               json_object_get(j, "unmapped"), "dsgw"),
                               "alert");
                    assert_non_null(al);
                    assert_string_equal(json_string_value(
                        json_object_get(al, "metric")), metrics[k]);
                    assert_int_equal(json_integer_value(
                        json_object_get(al, "observed")), 6 + (int) k);
                    assert_int_equal(json_integer_value(
                        json_object_get(al, "threshold")), 5);
                    assert_true(k == 1
                        ? json_integer_value(json_object_get(al, "until_ms"))
                          == 1700000600123LL
                        : json_is_null(json_object_get(al, "until_ms")));
                    if (fmt == DS_AUDIT_NATIVE) {
                        assert_string_equal(json_string_value(
                            json_object_get(j, "type")), "alert");
                    } else {
                        assert_int_equal(json_integer_value(
                            json_object_get(j, "severity_id")),
                            (k == 1 || k == 3) ? 4 : 3);
                    }
                    json_decref(j);

                    free(direct);
                    free(tree);

                    /* not a request record: chain-end does not count it */
                    assert_int_equal(a.requests, 0);
                    ds_audit_chain_free(&a);
                    ds_audit_chain_free(&b);
                }
            }
        }
    }
}


/*
 * The member tables are what makes the writer's lines canonical: each
 * object's members sorted bytewise, and each object's members right
 * after it (with their own members), so one pass can join them.
 */
static void
check_table(const ds_wmember_t *m, size_t n)
{
    size_t  k, j, prev;

    assert_true(n <= DS_W_MAX);

    for (k = 0; k < n; k++) {
        assert_non_null(m[k].key);
        assert_int_equal(strlen(m[k].key) + 4, m[k].len);
        assert_int_equal(strlen(m[k].member), m[k].len);

        if (m[k].parent >= 0) {
            assert_true((size_t) m[k].parent < k);
            assert_true(m[m[k].parent].kind == DS_W_OBJECT
                        || m[m[k].parent].kind == DS_W_ARRAY1);
            /* nothing between the parent and k leaves the parent */
            for (j = (size_t) m[k].parent + 1; j < k; j++) {
                size_t  a = j;

                while (m[a].parent >= 0 && m[a].parent != m[k].parent) {
                    a = (size_t) m[a].parent;
                }
                assert_int_equal(m[a].parent, m[k].parent);
            }
        }

        /* the previous sibling sorts before it */
        prev = k;
        for (j = k; j-- > 0; ) {
            if (m[j].parent == m[k].parent) {
                prev = j;
                break;
            }
        }
        if (prev != k) {
            assert_true(strcmp(m[prev].key, m[k].key) < 0);
        }
    }
}


static void
test_member_tables_canonical(void **state)
{
    (void) state;

    check_table(ds_audit_native_members, ds_audit_native_nmembers);
    check_table(ds_audit_ocsf_members, ds_audit_ocsf_nmembers);
}


/* the 8-bytes-at-a-time scan stops exactly where a byte loop would */
static void
test_plain_prefix(void **state)
{
    char           buf[40];
    size_t         i, k, n, len, ref;
    int            ascii;
    unsigned char  c;

    (void) state;

    for (i = 0; i < 20000; i++) {
        len = rng() % sizeof(buf);
        for (k = 0; k < len; k++) {
            /* mostly plain, now and then one byte of any value */
            buf[k] = (char) (rng() % 6 ? 'a' + rng() % 26 : rng() % 256);
        }

        for (ascii = 0; ascii < 2; ascii++) {
            for (ref = 0; ref < len; ref++) {
                c = (unsigned char) buf[ref];
                if (c < 0x20 || c == '"' || c == '\\'
                    || (ascii && c >= 0x80))
                {
                    break;
                }
            }

            n = ds_audit_plain_prefix(buf, len, ascii);
            assert_int_equal(n, ref);
        }
    }

    /* every byte value at every offset of a 16-byte string */
    for (k = 0; k < 16; k++) {
        for (i = 0; i < 256; i++) {
            memset(buf, 'x', 16);
            buf[k] = (char) i;
            c = (unsigned char) i;
            ref = (c < 0x20 || c == '"' || c == '\\') ? k : 16;
            assert_int_equal(ds_audit_plain_prefix(buf, 16, 0), ref);
            ref = (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) ? k : 16;
            assert_int_equal(ds_audit_plain_prefix(buf, 16, 1), ref);
        }
    }
}


static void
test_query_name_rule(void **state)
{
    (void) state;

    assert_true(ds_audit_query_name_ok("maxResults"));
    assert_true(ds_audit_query_name_ok("a.b-c_9"));
    assert_false(ds_audit_query_name_ok(""));
    assert_false(ds_audit_query_name_ok("a\"b"));
    assert_false(ds_audit_query_name_ok("a b"));
    assert_false(ds_audit_query_name_ok("caf\xc3\xa9"));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_vector_key_and_mac),
        cmocka_unit_test(test_vector_verifies),
        cmocka_unit_test(test_native_fields),
        cmocka_unit_test(test_no_token_anywhere),
        cmocka_unit_test(test_caps_and_utf8),
        cmocka_unit_test(test_line_cap),
        cmocka_unit_test(test_canonical),
        cmocka_unit_test(test_ocsf_record),
        cmocka_unit_test(test_key_parse),
        cmocka_unit_test(test_chain_verifies),
        cmocka_unit_test(test_tamper_edit_byte),
        cmocka_unit_test(test_tamper_delete),
        cmocka_unit_test(test_tamper_swap),
        cmocka_unit_test(test_tamper_insert),
        cmocka_unit_test(test_tamper_truncate_and_keys),
        cmocka_unit_test(test_interleaved_and_segments),
        cmocka_unit_test(test_checkpoint_line),
        cmocka_unit_test(test_checkpoint_verify),
        cmocka_unit_test(test_direct_line_matches_jansson),
        cmocka_unit_test(test_lifecycle_line_matches_jansson),
        cmocka_unit_test(test_alert_line_matches_jansson),
        cmocka_unit_test(test_member_tables_canonical),
        cmocka_unit_test(test_plain_prefix),
        cmocka_unit_test(test_query_name_rule),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
