/*
 * libFuzzer harness for the audit record writer and sealer.
 * requires: ds_audit_request_line ds_audit_lifecycle_line
 * requires: ds_audit_verify_line
 *
 * The input fills every field of a ds_audit_req_t (hostile bytes,
 * absent fields, extreme integers). Each sealed line must be one line
 * of valid JSON under DS_AUDIT_LINE_MAX, and a chain_start + request +
 * chain_end sequence must verify without a single issue. The product's
 * writer (ds_audit_request_line) must produce the very same bytes as
 * the jansson oracle (tests/oracle/) on a twin chain.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ds_audit.h"
#include "ds_audit_oracle.h"

#define check(x)  do { if (!(x)) { __builtin_trap(); } } while (0)


typedef struct {
    const uint8_t  *p;
    size_t          left;
} input_t;


static uint64_t
take_u64(input_t *in, size_t n)
{
    uint64_t  v;

    v = 0;

    while (n-- && in->left) {
        v = v << 8 | *in->p++;
        in->left--;
    }

    return v;
}


/* 2-byte length (0xFFFF: absent), then that many bytes, clipped */
static ds_audit_str_t
take_str(input_t *in)
{
    size_t          len;
    ds_audit_str_t  s;

    len = (size_t) take_u64(in, 2);

    if (len == 0xFFFF) {
        s.data = NULL;
        s.len = 0;
        return s;
    }

    if (len > in->left) {
        len = in->left;
    }

    s.data = (const char *) in->p;
    s.len = len;
    in->p += len;
    in->left -= len;

    return s;
}


static void
collect(void *data, const ds_audit_issue_t *is)
{
    (void) is;
    (*(int *) data)++;
}


static char *
seal(ds_audit_chain_t *c, json_t *rec)
{
    char          *line;
    size_t         len, i;
    json_t        *back;
    json_error_t   err;

    check(rec != NULL);

    line = ds_audit_seal(c, rec, &len);
    json_decref(rec);

    check(line != NULL);
    check(len > 0 && len == strlen(line));
    check(len <= DS_AUDIT_LINE_MAX);
    check(line[len - 1] == '\n');

    for (i = 0; i + 1 < len; i++) {
        check((unsigned char) line[i] >= 0x20);
    }

    back = json_loadb(line, len, 0, &err);
    check(back != NULL && json_is_object(back));
    json_decref(back);

    return line;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned char  seed[32] = "fuzz-fuzz-fuzz-fuzz-fuzz-fuzz-f";
    static const char *const    allow[] = { "maxResults", "version", NULL };

    int                  issues, keyed;
    char                *lines[3], *direct;
    size_t               i, len;
    input_t              in;
    ds_audit_req_t       rq;
    ds_audit_chain_t     c, twin;
    ds_audit_format_t    fmt;
    ds_audit_verify_t   *v;

    if (size < 2) {
        return 0;
    }

    fmt = (data[0] & 1) ? DS_AUDIT_OCSF : DS_AUDIT_NATIVE;
    keyed = (data[0] & 2) != 0;
    in.p = data + 1;
    in.left = size - 1;

    memset(&rq, 0, sizeof(rq));
    rq.time_ms = (int64_t) take_u64(&in, 8);
    rq.status = (int) take_u64(&in, 4);
    rq.bytes_sent = (int64_t) take_u64(&in, 8);
    rq.body_bytes_sent = (int64_t) take_u64(&in, 8);
    rq.duration_ms = (int64_t) take_u64(&in, 8);
    rq.rl_limit = (int64_t) take_u64(&in, 8);
    rq.rl_remaining = (int64_t) take_u64(&in, 8);
    rq.has_items = (int) take_u64(&in, 1) & 1;
    rq.items_in = (int64_t) take_u64(&in, 8);
    rq.items_out = (int64_t) take_u64(&in, 8);
    rq.request_length = (int64_t) take_u64(&in, 8);
    rq.query_allow = (data[0] & 4) ? allow : ds_audit_default_query_args;

    rq.instance = take_str(&in);
    rq.request_id = take_str(&in);
    rq.recipient = take_str(&in);
    rq.token_id = take_str(&in);
    rq.action = take_str(&in);
    rq.operation = take_str(&in);
    rq.method = take_str(&in);
    rq.path = take_str(&in);
    rq.args = take_str(&in);
    rq.client_ip = take_str(&in);
    rq.country = take_str(&in);
    rq.user_agent = take_str(&in);
    rq.decision = take_str(&in);
    rq.reason = take_str(&in);
    rq.upstream_status = take_str(&in);
    rq.share = take_str(&in);
    rq.schema = take_str(&in);
    rq.table = take_str(&in);
    rq.purpose = take_str(&in);
    rq.rl_state = take_str(&in);
    rq.policy_version = take_str(&in);
    rq.body_sha256 = take_str(&in);
    rq.has_jwt = (data[0] & 8) != 0;
    rq.jwt_exp = (int64_t) take_u64(&in, 8);
    rq.jwt_issuer = take_str(&in);
    rq.jwt_subject = take_str(&in);
    rq.jwt_kid = take_str(&in);
    rq.jwt_jti_hash = take_str(&in);

    ds_audit_chain_init_id(&c, keyed ? seed : NULL, keyed ? sizeof(seed) : 0,
                           "gw-fuzz.1.00112233445566778899aabbccddeeff");

    ds_audit_chain_init_id(&twin, keyed ? seed : NULL,
                           keyed ? sizeof(seed) : 0, c.id);

    lines[0] = seal(&c, ds_audit_lifecycle_record(fmt, "chain_start", 1,
                                                  "gw-fuzz", 1, 0, 0));
    free(seal(&twin, ds_audit_lifecycle_record(fmt, "chain_start", 1,
                                               "gw-fuzz", 1, 0, 0)));
    lines[1] = seal(&c, ds_audit_request_record(fmt, &rq));

    direct = ds_audit_request_line(&twin, fmt, &rq, &len);
    check(direct != NULL);
    check(len == strlen(lines[1]) && memcmp(direct, lines[1], len) == 0);
    check(twin.seq == c.seq && twin.requests == c.requests);
    free(direct);
    ds_audit_chain_free(&twin);
    lines[2] = seal(&c, ds_audit_lifecycle_record(fmt, "chain_end", 2,
                                                  "gw-fuzz", 1, c.requests,
                                                  0));

    issues = 0;
    /* with a key, the verifier rightly refuses unkeyed chains */
    v = ds_audit_verify_new(keyed ? seed : NULL, keyed ? sizeof(seed) : 0,
                            collect, &issues);
    check(v != NULL);

    for (i = 0; i < 3; i++) {
        ds_audit_verify_line(v, "fuzz.log", i + 1, lines[i],
                             strlen(lines[i]));
        free(lines[i]);
    }

    ds_audit_verify_end(v, 0);
    ds_audit_verify_free(v);
    ds_audit_chain_free(&c);

    check(issues == 0);

    return 0;
}
