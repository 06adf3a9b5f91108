/*
 * JWT recipients end to end in the core (issue #15): the policy's
 * "issuers" and "federation" as the loader checks them, and ds_decide()
 * on real tokens signed here: which recipient, every rejection's reason,
 * the audit facts in the verdict, and the same downstream checks as for
 * static tokens.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "ds_decide_file.h"
#include "ds_jwks_live.h"
#include "ds_policy.h"
#include "ds_policy_diff.h"
#include "ds_time.h"
#include "jwt_b64.h"

#define ISS     "https://idp.example"
#define ISS2    "https://login.other.example/tenant/v2.0"
#define NOW     1900000000


static EVP_PKEY     *rsa, *rsa_other;
static ds_policy_t  *policy;
static char          jwks_path[64], jwk_text[2048];


static void
jwk_of(EVP_PKEY *k, const char *kid, char *out, size_t len)
{
    BIGNUM         *bn;
    unsigned char   buf[512];
    char            n[400], e[16];
    int             l;

    bn = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &bn), 1);
    l = BN_bn2bin(bn, buf);
    b64url(buf, (size_t) l, n);
    BN_free(bn);
    bn = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &bn), 1);
    l = BN_bn2bin(bn, buf);
    b64url(buf, (size_t) l, e);
    BN_free(bn);

    snprintf(out, len, "{\"kty\": \"RSA\", \"kid\": \"%s\", \"use\": \"sig\", "
             "\"n\": \"%s\", \"e\": \"%s\"}", kid, n, e);
}


/* RS256 over header.claims with k */
static char *
sign(EVP_PKEY *k, const char *header, const char *claims)
{
    char           *out, *p;
    size_t          sl;
    unsigned char   sig[512];
    EVP_MD_CTX     *md;

    out = malloc(8192);
    assert_non_null(out);
    b64url((const unsigned char *) header, strlen(header), out);
    p = out + strlen(out);
    *p++ = '.';
    b64url((const unsigned char *) claims, strlen(claims), p);
    p += strlen(p);

    md = EVP_MD_CTX_new();
    sl = sizeof(sig);
    assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k), 1);
    assert_int_equal(EVP_DigestSign(md, sig, &sl, (unsigned char *) out,
                                    (size_t) (p - out)), 1);
    EVP_MD_CTX_free(md);

    *p++ = '.';
    b64url(sig, sl, p);

    return out;
}


static char *
tok(const char *claims)
{
    return sign(rsa, "{\"alg\": \"RS256\", \"kid\": \"k1\"}", claims);
}


static void
decide(const char *token, ds_op_t op, const char *share, ds_verdict_t *v)
{
    ds_facts_t  f;

    memset(&f, 0, sizeof(f));
    f.op = op;
    f.share = share;
    f.schema = share ? "s" : NULL;
    f.table = share ? "t" : NULL;
    f.token = token;
    f.token_len = strlen(token);
    f.now_ms = (int64_t) NOW * 1000;
    ds_decide(policy, &f, v);
}


/* the reason for claims signed by k1 under the test policy */
static ds_reason_t
reason_of(const char *claims)
{
    char          *t;
    ds_verdict_t   v;

    t = tok(claims);
    decide(t, DS_OP_LIST_SHARES, NULL, &v);
    free(t);

    if (v.reason != DS_REASON_ALLOWED) {
        assert_int_equal(v.allow, 0);
        assert_int_equal(v.http_status, 401);
        assert_null(v.recipient);
    }

    return v.reason;
}


static const char *
policy_text(void)
{
    static char  p[8192];

    snprintf(p, sizeof(p),
        "{\"version\": 1,\n"
        " \"issuers\": {\n"
        "   \"" ISS "\": {\"jwks_file\": \"%s\", \"max_lifetime\": 3600,\n"
        "                \"algorithms\": [\"RS256\", \"ES256\"]},\n"
        "   \"" ISS2 "\": {\"jwks\": {\"keys\": [%s]}, \"leeway\": 0}\n"
        " },\n"
        " \"recipients\": [\n"
        "  {\"id\": \"acme\", \"federation\": [\n"
        "     {\"issuer\": \"" ISS "\", \"audiences\": [\"ds\"],\n"
        "      \"subjects\": [\"svc-acme\"]}],\n"
        "   \"grants\": [{\"share\": \"sales\"}]},\n"
        "  {\"id\": \"beta\", \"federation\": [\n"
        "     {\"issuer\": \"" ISS "\", \"audiences\": [\"ds\", \"ds2\"],\n"
        "      \"subject_claim\": \"groups\", \"subjects\": [\"beta-team\"]},\n"
        "     {\"issuer\": \"" ISS2 "\", \"audiences\": [\"api://ds\"],\n"
        "      \"subject_claim\": \"azp\", \"subjects\": [\"app-1\"]}],\n"
        "   \"tokens\": [{\"id\": \"beta-static\", \"sha256\": \"%s\"}],\n"
        "   \"grants\": [{\"share\": \"beta\"}]},\n"
        "  {\"id\": \"gone\", \"status\": \"suspended\", \"federation\": [\n"
        "     {\"issuer\": \"" ISS "\", \"audiences\": [\"ds\"],\n"
        "      \"subjects\": [\"svc-gone\"]}]}\n"
        " ]}\n", jwks_path, jwk_text,
        /* sha256("static-beta") */
        "0000000000000000000000000000000000000000000000000000000000000000");

    return p;
}


static int
setup(void **state)
{
    char    k1[2048], doc[4096], err[DS_ERR_MAX], hex[65], *p;
    FILE   *f;
    int     fd;

    (void) state;

    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    rsa_other = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    if (rsa == NULL || rsa_other == NULL) {
        return -1;
    }

    jwk_of(rsa, "k1", k1, sizeof(k1));
    jwk_of(rsa_other, "o1", jwk_text, sizeof(jwk_text));

    snprintf(jwks_path, sizeof(jwks_path), "/tmp/ds-test-jwks-XXXXXX");
    fd = mkstemp(jwks_path);
    if (fd == -1) {
        return -1;
    }
    f = fdopen(fd, "w");
    snprintf(doc, sizeof(doc), "{\"keys\": [%s]}", k1);
    fputs(doc, f);
    fclose(f);

    p = strdup(policy_text());
    ds_token_digest_hex("static-beta", 11, hex);
    memcpy(strstr(p, "000000000000"), hex, 64);

    policy = ds_policy_load_buffer("jwt.json", p, strlen(p), err,
                                   sizeof(err));
    free(p);
    if (policy == NULL) {
        fprintf(stderr, "policy: %s\n", err);
        return -1;
    }

    return 0;
}


static int
teardown(void **state)
{
    (void) state;

    ds_policy_free(policy);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(rsa_other);
    unlink(jwks_path);
    return 0;
}


static void
test_maps_to_recipient(void **state)
{
    char          c[512], *t, *t2;
    ds_verdict_t  v, v2;

    (void) state;

    snprintf(c, sizeof(c), "{\"iss\": \"" ISS "\", \"sub\": \"svc-acme\", "
             "\"aud\": [\"other\", \"ds\"], \"exp\": %d, \"iat\": %d, "
             "\"jti\": \"abc\"}", NOW + 600, NOW - 5);
    t = tok(c);

    decide(t, DS_OP_LIST_SHARES, NULL, &v);
    assert_int_equal(v.reason, DS_REASON_ALLOWED);
    assert_string_equal(v.recipient_id, "acme");
    assert_true(v.jwt.present);
    assert_string_equal(v.jwt.issuer, ISS);
    assert_string_equal(v.jwt.subject, "svc-acme");
    assert_string_equal(v.jwt.subject_claim, "sub");
    assert_string_equal(v.jwt.kid, "k1");
    assert_int_equal(v.jwt.exp, NOW + 600);
    assert_int_equal(strlen(v.jwt.jti_hash), 16);
    assert_ptr_equal(v.token_id, v.jwt.token_id);
    assert_int_equal(strncmp(v.token_id, "jwt:k1:", 7), 0);
    assert_string_equal(v.token_id + 7, v.jwt.jti_hash);
    /* the token never reaches the verdict */
    assert_null(strstr(v.detail, t));

    /* the same grants as a static token: sales yes, beta no */
    decide(t, DS_OP_QUERY_TABLE, "sales", &v);
    assert_int_equal(v.reason, DS_REASON_ALLOWED);
    decide(t, DS_OP_QUERY_TABLE, "beta", &v);
    assert_int_equal(v.reason, DS_REASON_NOT_ENTITLED);
    assert_string_equal(v.recipient_id, "acme");

    /* the same jti, re-signed: the same id (revocation by jti) */
    t2 = tok(c);
    decide(t2, DS_OP_LIST_SHARES, NULL, &v2);
    assert_string_equal(v.token_id, v2.token_id);
    free(t2);
    free(t);

    /* group membership; the static token of the same recipient */
    snprintf(c, sizeof(c), "{\"iss\": \"" ISS "\", \"sub\": \"u-1\", "
             "\"aud\": \"ds2\", \"groups\": [\"x\", \"beta-team\"], "
             "\"exp\": %d}", NOW + 600);
    t = tok(c);
    decide(t, DS_OP_QUERY_TABLE, "beta", &v);
    assert_int_equal(v.reason, DS_REASON_ALLOWED);
    assert_string_equal(v.recipient_id, "beta");
    assert_string_equal(v.jwt.subject, "beta-team");
    assert_string_equal(v.jwt.subject_claim, "groups");
    assert_string_equal(v.jwt.kid, "k1");
    free(t);

    decide("static-beta", DS_OP_QUERY_TABLE, "beta", &v);
    assert_int_equal(v.reason, DS_REASON_ALLOWED);
    assert_string_equal(v.token_id, "beta-static");
    assert_false(v.jwt.present);

    /* a second issuer, its own key, azp, no leeway */
    snprintf(c, sizeof(c), "{\"iss\": \"" ISS2 "\", \"azp\": \"app-1\", "
             "\"aud\": \"api://ds\", \"exp\": %d}", NOW + 1);
    t = sign(rsa_other, "{\"alg\": \"RS256\", \"kid\": \"o1\"}", c);
    decide(t, DS_OP_LIST_SHARES, NULL, &v);
    assert_int_equal(v.reason, DS_REASON_ALLOWED);
    assert_string_equal(v.recipient_id, "beta");
    free(t);
    snprintf(c, sizeof(c), "{\"iss\": \"" ISS2 "\", \"azp\": \"app-1\", "
             "\"aud\": \"api://ds\", \"exp\": %d}", NOW);
    t = sign(rsa_other, "{\"alg\": \"RS256\", \"kid\": \"o1\"}", c);
    decide(t, DS_OP_LIST_SHARES, NULL, &v);
    assert_int_equal(v.reason, DS_REASON_JWT_EXPIRED);
    free(t);
}


static void
test_rejections(void **state)
{
    char          c[512], *t, *n;
    ds_verdict_t  v;

    (void) state;

#define CL(fmt, ...)  (snprintf(c, sizeof(c), fmt, __VA_ARGS__), c)

    assert_int_equal(reason_of(CL("{\"iss\": \"" ISS "\", \"sub\": "
        "\"svc-acme\", \"aud\": \"ds\", \"exp\": %d}", NOW - 61)),
        DS_REASON_JWT_EXPIRED);
    assert_int_equal(reason_of(CL("{\"iss\": \"" ISS "\", \"sub\": "
        "\"svc-acme\", \"aud\": \"ds\", \"exp\": %d, \"nbf\": %d}",
        NOW + 600, NOW + 120)), DS_REASON_JWT_NOT_YET_VALID);
    assert_int_equal(reason_of(CL("{\"iss\": \"" ISS "\", \"sub\": "
        "\"svc-acme\", \"aud\": \"ds\", \"exp\": %d, \"iat\": %d}",
        NOW + 7200, NOW)), DS_REASON_JWT_LIFETIME);
    assert_int_equal(reason_of(CL("{\"iss\": \"https://evil.example\", "
        "\"sub\": \"svc-acme\", \"aud\": \"ds\", \"exp\": %d}", NOW + 60)),
        DS_REASON_JWT_ISSUER_UNKNOWN);
    assert_int_equal(reason_of(CL("{\"sub\": \"svc-acme\", \"aud\": "
        "\"ds\", \"exp\": %d}", NOW + 60)), DS_REASON_JWT_ISSUER_UNKNOWN);
    assert_int_equal(reason_of(CL("{\"iss\": \"" ISS "\", \"sub\": "
        "\"svc-acme\", \"aud\": \"nope\", \"exp\": %d}", NOW + 60)),
        DS_REASON_JWT_AUDIENCE);
    assert_int_equal(reason_of(CL("{\"iss\": \"" ISS "\", \"sub\": "
        "\"svc-acme\", \"exp\": %d}", NOW + 60)), DS_REASON_JWT_AUDIENCE);
    assert_int_equal(reason_of(CL("{\"iss\": \"" ISS "\", \"sub\": "
        "\"svc-other\", \"aud\": \"ds\", \"exp\": %d}", NOW + 60)),
        DS_REASON_JWT_SUBJECT);
    assert_int_equal(reason_of(CL("{\"iss\": \"" ISS "\", \"aud\": \"ds\", "
        "\"exp\": %d}", NOW + 60)), DS_REASON_JWT_SUBJECT);
    /* sub is one string: an array holding it is no match */
    assert_int_equal(reason_of(CL("{\"iss\": \"" ISS "\", \"sub\": "
        "[\"svc-acme\"], \"aud\": \"ds\", \"exp\": %d}", NOW + 60)),
        DS_REASON_JWT_SUBJECT);
    assert_int_equal(reason_of(CL("{\"iss\": \"" ISS "\", \"sub\": "
        "\"svc-acme\", \"aud\": \"ds\"}%s", "")), DS_REASON_JWT_MALFORMED);
    assert_int_equal(reason_of(CL("{\"iss\": \"" ISS "\", \"sub\": "
        "\"svc-acme\", \"sub\": \"svc-acme\", \"aud\": \"ds\", \"exp\": %d}",
        NOW + 60)), DS_REASON_JWT_MALFORMED);
    /* acme by sub and beta by group: which? neither */
    assert_int_equal(reason_of(CL("{\"iss\": \"" ISS "\", \"sub\": "
        "\"svc-acme\", \"groups\": [\"beta-team\"], \"aud\": \"ds\", "
        "\"exp\": %d}", NOW + 60)), DS_REASON_JWT_SUBJECT);

    snprintf(c, sizeof(c), "{\"iss\": \"" ISS "\", \"sub\": \"svc-acme\", "
             "\"aud\": \"ds\", \"exp\": %d}", NOW + 60);

    /* signed by another key under k1; an unknown kid; ES256 alg */
    t = sign(rsa_other, "{\"alg\": \"RS256\", \"kid\": \"k1\"}", c);
    decide(t, DS_OP_LIST_SHARES, NULL, &v);
    assert_int_equal(v.reason, DS_REASON_JWT_BAD_SIGNATURE);
    assert_string_equal(v.jwt.issuer, ISS);
    assert_null(v.jwt.subject);
    free(t);
    t = sign(rsa, "{\"alg\": \"RS256\", \"kid\": \"k9\"}", c);
    decide(t, DS_OP_LIST_SHARES, NULL, &v);
    assert_int_equal(v.reason, DS_REASON_JWT_KEY_UNKNOWN);
    assert_string_equal(v.jwt.kid, "k9");
    free(t);
    t = sign(rsa, "{\"alg\": \"ES256\", \"kid\": \"k1\"}", c);
    decide(t, DS_OP_LIST_SHARES, NULL, &v);
    assert_int_equal(v.reason, DS_REASON_JWT_ALG);
    free(t);
    /* RS384 is a fine algorithm, but not on this issuer's list */
    t = sign(rsa, "{\"alg\": \"RS384\", \"kid\": \"k1\"}", c);
    decide(t, DS_OP_LIST_SHARES, NULL, &v);
    assert_int_equal(v.reason, DS_REASON_JWT_ALG);
    free(t);

    /* alg none: the signing input and an empty signature */
    t = sign(rsa, "{\"alg\": \"none\"}", c);
    *(strrchr(t, '.') + 1) = '\0';
    decide(t, DS_OP_LIST_SHARES, NULL, &v);
    assert_int_equal(v.reason, DS_REASON_JWT_ALG);
    free(t);

    /* a good token with a bit of its signature flipped */
    t = tok(c);
    decide(t, DS_OP_LIST_SHARES, NULL, &v);
    assert_int_equal(v.reason, DS_REASON_ALLOWED);
    n = t + strlen(t) - 5;
    *n = (*n == 'A') ? 'B' : 'A';
    decide(t, DS_OP_LIST_SHARES, NULL, &v);
    assert_int_equal(v.reason, DS_REASON_JWT_BAD_SIGNATURE);
    free(t);

    /* JWT-shaped garbage; a bearer of another shape stays token_unknown */
    decide("eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.AAAA", DS_OP_LIST_SHARES,
           NULL, &v);
    assert_int_equal(v.reason, DS_REASON_JWT_MALFORMED);
    decide("dst_unknown", DS_OP_LIST_SHARES, NULL, &v);
    assert_int_equal(v.reason, DS_REASON_TOKEN_UNKNOWN);
    assert_false(v.jwt.present);

#undef CL
}


/* the recipient's own checks apply as to a static token */
static void
test_downstream(void **state)
{
    char          c[512], *t;
    ds_verdict_t  v;

    (void) state;

    snprintf(c, sizeof(c), "{\"iss\": \"" ISS "\", \"sub\": \"svc-gone\", "
             "\"aud\": \"ds\", \"exp\": %d}", NOW + 60);
    t = tok(c);
    decide(t, DS_OP_LIST_SHARES, NULL, &v);
    assert_int_equal(v.reason, DS_REASON_RECIPIENT_SUSPENDED);
    assert_string_equal(v.recipient_id, "gone");
    assert_string_equal(v.jwt.subject, "svc-gone");
    free(t);
}


/* the per-process cache of verified tokens changes no answer */
static void
test_cache(void **state)
{
    char          c[512], *t;
    ds_facts_t    f;
    ds_verdict_t  v1, v2;

    (void) state;

    snprintf(c, sizeof(c), "{\"iss\": \"" ISS "\", \"sub\": \"svc-acme\", "
             "\"aud\": \"ds\", \"exp\": %d, \"jti\": \"cache-1\"}",
             NOW + 100);
    t = tok(c);

    decide(t, DS_OP_QUERY_TABLE, "sales", &v1);
    decide(t, DS_OP_QUERY_TABLE, "sales", &v2);      /* a hit */
    assert_int_equal(v1.reason, DS_REASON_ALLOWED);
    assert_int_equal(v2.reason, DS_REASON_ALLOWED);
    assert_string_equal(v2.recipient_id, "acme");
    assert_ptr_equal(v2.token_id, v2.jwt.token_id);
    assert_string_equal(v1.token_id, v2.token_id);
    assert_string_equal(v2.jwt.issuer, ISS);
    assert_string_equal(v2.jwt.subject, "svc-acme");
    assert_string_equal(v2.jwt.kid, "k1");
    assert_int_equal(v2.jwt.exp, NOW + 100);

    /* the grants still apply on a hit */
    decide(t, DS_OP_QUERY_TABLE, "beta", &v2);
    assert_int_equal(v2.reason, DS_REASON_NOT_ENTITLED);

    /* a cached token expires like any other: exp + the 60 s leeway */
    memset(&f, 0, sizeof(f));
    f.op = DS_OP_LIST_SHARES;
    f.token = t;
    f.token_len = strlen(t);
    f.now_ms = (int64_t) (NOW + 159) * 1000;
    ds_decide(policy, &f, &v2);
    assert_int_equal(v2.reason, DS_REASON_ALLOWED);
    f.now_ms = (int64_t) (NOW + 160) * 1000;
    ds_decide(policy, &f, &v2);
    assert_int_equal(v2.reason, DS_REASON_JWT_EXPIRED);
    f.now_ms = (int64_t) NOW * 1000;
    ds_decide(policy, &f, &v2);
    assert_int_equal(v2.reason, DS_REASON_ALLOWED);

    /* one byte changed is another token: verified, and refused */
    t[strlen(t) - 3] = t[strlen(t) - 3] == 'A' ? 'B' : 'A';
    decide(t, DS_OP_LIST_SHARES, NULL, &v2);
    assert_int_equal(v2.reason, DS_REASON_JWT_BAD_SIGNATURE);
    free(t);
}


/* file proxy mode: a link handed to a JWT recipient is re-checked live */
static void
test_file_link(void **state)
{
    ds_verdict_t      v;
    ds_cap_claims_t   c;
    ds_file_names_t   names;
    static const char  tid[] = "jwt:k1:0123456789abcdef";

    (void) state;

    memset(&c, 0, sizeof(c));
    c.recipient = "acme";
    c.recipient_len = 4;
    c.token_id = tid;
    c.token_id_len = sizeof(tid) - 1;
    c.share = "sales";
    c.share_len = 5;
    c.schema = "s";
    c.schema_len = 1;
    c.table = "t";
    c.table_len = 1;

    ds_decide_file(policy, &c, NULL, NULL, (int64_t) NOW * 1000, &names, &v);
    assert_int_equal(v.reason, DS_REASON_ALLOWED);
    assert_string_equal(v.recipient_id, "acme");
    assert_string_equal(v.token_id, tid);

    /* the grant is what decides, as for a static token's link */
    c.share = "beta";
    c.share_len = 4;
    ds_decide_file(policy, &c, NULL, NULL, (int64_t) NOW * 1000, &names, &v);
    assert_int_equal(v.reason, DS_REASON_NOT_ENTITLED);

    /* a suspended recipient; one that does not exist */
    c.share = "sales";
    c.share_len = 5;
    c.recipient = "gone";
    ds_decide_file(policy, &c, NULL, NULL, (int64_t) NOW * 1000, &names, &v);
    assert_int_equal(v.reason, DS_REASON_RECIPIENT_SUSPENDED);
    c.recipient = "nope";
    ds_decide_file(policy, &c, NULL, NULL, (int64_t) NOW * 1000, &names, &v);
    assert_int_equal(v.reason, DS_REASON_TOKEN_UNKNOWN);
    assert_int_equal(v.http_status, 403);
}


typedef struct {
    char    lines[32][700];
    size_t  n;
} seen_t;


static void
collect(void *data, const ds_diff_item_t *it)
{
    seen_t  *s = data;

    if (s->n < 32) {
        snprintf(s->lines[s->n++], sizeof(s->lines[0]), "%s|%s|%s|%s",
                 ds_diff_kind_name(it->kind),
                 it->recipient ? it->recipient : "-", it->subject,
                 it->text);
    }
}


static int
seen(const seen_t *s, const char *line)
{
    size_t  i;

    for (i = 0; i < s->n; i++) {
        if (strcmp(s->lines[i], line) == 0) {
            return 1;
        }
    }

    fprintf(stderr, "not seen: %s\n", line);
    for (i = 0; i < s->n; i++) {
        fprintf(stderr, "  %s\n", s->lines[i]);
    }
    return 0;
}


/* dsctl policy diff: more tokens let in is a widening */
static void
test_diff(void **state)
{
    char          a[8192], b[8192], err[DS_ERR_MAX], k1[2048];
    size_t        w;
    seen_t        s;
    ds_policy_t  *pa, *pb;

    (void) state;

    jwk_of(rsa, "k1", k1, sizeof(k1));

#define DOC(buf, keys, extra, fed)                                         \
    snprintf(buf, sizeof(buf), "{\"version\": 1, \"issuers\": {\"" ISS     \
             "\": {\"jwks\": {\"keys\": [" keys "]}" extra "}}, "          \
             "\"recipients\": [{\"id\": \"a\", \"federation\": [" fed    \
             "]}]}", jwk_text, k1)

    DOC(a, "%s%.0s", "", "{\"issuer\": \"" ISS "\", \"audiences\": "
        "[\"ds\", \"x\"], \"subjects\": [\"s1\", \"s2\"]}");
    DOC(b, "%s, %s", ", \"algorithms\": [\"RS256\"], \"leeway\": 120",
        "{\"issuer\": \"" ISS "\", \"audiences\": [\"ds\", \"y\"], "
        "\"subjects\": [\"s1\", \"s3\"]}, {\"issuer\": \"" ISS "\", "
        "\"audiences\": [\"ds\"], \"subject_claim\": \"groups\", "
        "\"subjects\": [\"g\"]}");

    pa = ds_policy_load_buffer("old.json", a, strlen(a), err, sizeof(err));
    pb = ds_policy_load_buffer("new.json", b, strlen(b), err, sizeof(err));
    if (pa == NULL || pb == NULL) {
        fail_msg("%s", err);
    }

    memset(&s, 0, sizeof(s));
    w = ds_policy_diff(pa, pb, collect, &s);

    assert_true(seen(&s, "widen|-|issuer " ISS "|key k1 added"));
    assert_true(seen(&s, "narrow|-|issuer " ISS "|algorithms removed: "
                     "RS384, RS512, PS256, ES256, ES384, EdDSA"));
    assert_true(seen(&s, "widen|-|issuer " ISS "|leeway 60s -> 120s"));
    assert_true(seen(&s, "widen|a|federation " ISS " sub|subjects added: "
                     "s3"));
    assert_true(seen(&s, "narrow|a|federation " ISS " sub|subjects "
                     "removed: s2"));
    assert_true(seen(&s, "widen|a|federation " ISS " sub|audiences added: "
                     "y"));
    assert_true(seen(&s, "narrow|a|federation " ISS " sub|audiences "
                     "removed: x"));
    assert_true(seen(&s, "widen|a|federation " ISS " groups|federation "
                     "entry added: groups g"));
    assert_int_equal(w, 5);

    /* and back: the reverse of each */
    memset(&s, 0, sizeof(s));
    w = ds_policy_diff(pb, pa, collect, &s);
    assert_true(seen(&s, "narrow|-|issuer " ISS "|key k1 removed"));
    assert_true(seen(&s, "narrow|a|federation " ISS " groups|federation "
                     "entry removed"));
    assert_true(seen(&s, "widen|-|issuer " ISS "|algorithms added: RS384, "
                     "RS512, PS256, ES256, ES384, EdDSA"));

    /* the same policy: nothing */
    memset(&s, 0, sizeof(s));
    assert_int_equal(ds_policy_diff(pa, pa, collect, &s), 0);
    assert_int_equal(s.n, 0);

    ds_policy_free(pa);
    ds_policy_free(pb);
    (void) w;
#undef DOC
}


/* many recipients on one issuer: each token finds its own (indexed) */
static void
test_many_recipients(void **state)
{
    char          *doc, *o, err[DS_ERR_MAX], c[512], *t;
    size_t         i, n, cap;
    ds_policy_t   *big, *saved;
    ds_verdict_t   v;

    (void) state;

    n = 30000;
    cap = 200 + strlen(jwk_text) + n * 256;
    doc = malloc(cap);
    assert_non_null(doc);
    o = doc + snprintf(doc, cap, "{\"version\": 1, \"issuers\": {\"" ISS2
                       "\": {\"jwks\": {\"keys\": [%s]}}}, \"recipients\": [",
                       jwk_text);
    for (i = 0; i < n; i++) {
        o += snprintf(o, cap - (size_t) (o - doc), "%s{\"id\": \"r%zu\", "
                      "\"federation\": [{\"issuer\": \"" ISS2 "\", "
                      "\"audiences\": [\"ds\"], \"subjects\": "
                      "[\"svc-%zu\"]}], \"grants\": [{\"share\": \"s\"}]}",
                      i ? ", " : "", i, i);
    }
    snprintf(o, cap - (size_t) (o - doc), "]}");

    big = ds_policy_load_buffer("big.json", doc, strlen(doc), err,
                                sizeof(err));
    free(doc);
    if (big == NULL) {
        fail_msg("%s", err);
    }

    saved = policy;
    policy = big;

    for (i = 0; i < n; i += 9999) {
        snprintf(c, sizeof(c), "{\"iss\": \"" ISS2 "\", \"sub\": "
                 "\"svc-%zu\", \"aud\": \"ds\", \"exp\": %d}", i,
                 NOW + 60);
        t = sign(rsa_other, "{\"alg\": \"RS256\", \"kid\": \"o1\"}", c);
        decide(t, DS_OP_LIST_SHARES, NULL, &v);
        assert_int_equal(v.reason, DS_REASON_ALLOWED);
        snprintf(c, sizeof(c), "r%zu", i);
        assert_string_equal(v.recipient_id, c);
        free(t);
    }

    snprintf(c, sizeof(c), "{\"iss\": \"" ISS2 "\", \"sub\": \"svc-x\", "
             "\"aud\": \"ds\", \"exp\": %d}", NOW + 60);
    t = sign(rsa_other, "{\"alg\": \"RS256\", \"kid\": \"o1\"}", c);
    decide(t, DS_OP_LIST_SHARES, NULL, &v);
    assert_int_equal(v.reason, DS_REASON_JWT_SUBJECT);
    free(t);

    policy = saved;
    ds_policy_free(big);
}


/* keys from jwks_uri: when a fetch is due, and what one leaves behind */
static void
test_jwks_uri(void **state)
{
    char           doc[4096], err[DS_ERR_MAX], c[256], *t, *t2, k1[2048];
    int64_t        now;
    ds_issuer_t   *is, *w;
    int            digested;
    unsigned char  d[32];
    char           hex[65], hex2[65];
    size_t         i;
    ds_policy_t   *p, *saved;
    ds_verdict_t   v;

    (void) state;

    snprintf(doc, sizeof(doc), "{\"version\": 1, \"issuers\": {\"" ISS
             "\": {\"jwks_uri\": \"https://idp.example/keys\"}}, "
             "\"recipients\": [{\"id\": \"a\", \"federation\": "
             "[{\"issuer\": \"" ISS "\", \"audiences\": [\"ds\"], "
             "\"subjects\": [\"s\"]}], \"grants\": [{\"share\": \"s\"}]}]}");
    p = ds_policy_load_buffer("uri.json", doc, strlen(doc), err, sizeof(err));
    if (p == NULL) {
        fail_msg("%s", err);
    }
    assert_int_equal(ds_jwks_any_uri(p), 1);
    assert_int_equal(ds_jwks_any_uri(policy), 0);

    saved = policy;
    policy = p;
    now = (int64_t) NOW * 1000;

    snprintf(c, sizeof(c), "{\"iss\": \"" ISS "\", \"sub\": \"s\", "
             "\"aud\": \"ds\", \"exp\": %d}", NOW + 600);
    t = tok(c);
    t2 = sign(rsa, "{\"alg\": \"RS256\", \"kid\": \"k9\"}", c);

    /* no keys: fail closed, and a fetch is due */
    decide(t, DS_OP_LIST_SHARES, NULL, &v);
    assert_false(v.allow);
    assert_int_equal(v.reason, DS_REASON_JWKS_UNAVAILABLE);
    assert_int_equal(v.http_status, 503);

    assert_null(ds_jwks_wanted(p, "not-a-jwt", 9, now, 300000, 10000));
    is = ds_jwks_wanted(p, t, strlen(t), now, 300000, 10000);
    assert_non_null(is);
    assert_string_equal(ds_jwks_uri(is), "https://idp.example/keys");
    assert_string_equal(ds_jwks_issuer(is), ISS);
    /* one in flight at a time; a token needing its keys waits for it */
    assert_null(ds_jwks_wanted(p, t, strlen(t), now, 300000, 10000));
    assert_null(ds_jwks_due(p, t, strlen(t), now, 300000, 10000, &w, NULL,
                            NULL));
    assert_ptr_equal(w, is);
    assert_null(ds_jwks_due(p, "not-a-jwt", 9, now, 300000, 10000, &w, NULL,
                            NULL));
    assert_null(w);

    /* garbage keeps nothing (there was nothing); the gap holds */
    assert_int_equal(ds_jwks_fetched(is, "{\"keys\": 1}", 12, now, err,
                                     sizeof(err)), -1);
    assert_int_equal(ds_jwks_fetched(is, NULL, 0, now, err, sizeof(err)),
                     -1);
    assert_null(ds_jwks_wanted(p, t, strlen(t), now + 9999, 300000, 10000));
    decide(t, DS_OP_LIST_SHARES, NULL, &v);
    assert_int_equal(v.reason, DS_REASON_JWKS_UNAVAILABLE);

    /* after the gap, a good document */
    now += 10000;
    assert_ptr_equal(ds_jwks_wanted(p, t, strlen(t), now, 300000, 10000),
                     is);
    jwk_of(rsa, "k1", k1, sizeof(k1));
    snprintf(doc, sizeof(doc), "{\"keys\": [%s]}", k1);
    assert_int_equal(ds_jwks_fetched(is, doc, strlen(doc), now, err,
                                     sizeof(err)), 0);
    decide(t, DS_OP_LIST_SHARES, NULL, &v);
    assert_true(v.allow);

    /* fresh keys holding the kid: nothing due; an unknown kid waits */
    assert_null(ds_jwks_wanted(p, t, strlen(t), now + 1, 300000, 10000));
    assert_null(ds_jwks_wanted(p, t2, strlen(t2), now + 1, 300000, 10000));
    assert_ptr_equal(ds_jwks_wanted(p, t2, strlen(t2), now + 10000, 300000,
                                    10000), is);
    /* while that refetch runs: the unknown kid waits, the known passes */
    assert_null(ds_jwks_due(p, t2, strlen(t2), now + 10000, 300000, 10000,
                            &w, NULL, NULL));
    assert_ptr_equal(w, is);
    assert_null(ds_jwks_due(p, t, strlen(t), now + 10000, 300000, 10000,
                            &w, NULL, NULL));
    assert_null(w);

    /* a failed refresh keeps the last good keys */
    assert_int_equal(ds_jwks_fetched(is, "nonsense", 8, now, err,
                                     sizeof(err)), -1);
    decide(t, DS_OP_LIST_SHARES, NULL, &v);
    assert_true(v.allow);

    /*
     * t is in the verified-token cache: no fetch is due while the keys
     * are fresh, and its digest is handed on for the decision
     */
    assert_null(ds_jwks_due(p, t, strlen(t), now + 1, 300000, 10000, &w, d,
                            &digested));
    assert_null(w);
    assert_int_equal(digested, 1);
    ds_token_digest_hex(t, strlen(t), hex);
    for (i = 0; i < sizeof(d); i++) {
        snprintf(hex2 + 2 * i, 3, "%02x", d[i]);
    }
    assert_string_equal(hex, hex2);

    /* stale keys refresh, at the gap (cached tokens too) */
    assert_null(ds_jwks_wanted(p, t, strlen(t), now + 15000, 20000, 10000));
    assert_ptr_equal(ds_jwks_due(p, t, strlen(t), now + 20000, 20000,
                                 10000, &w, d, &digested), is);
    /* a swap drops the verified-token cache: the new keys lack k1 */
    jwk_of(rsa, "k7", k1, sizeof(k1));
    snprintf(doc, sizeof(doc), "{\"keys\": [%s]}", k1);
    assert_int_equal(ds_jwks_fetched(is, doc, strlen(doc), now + 20000, err,
                                     sizeof(err)), 0);
    decide(t, DS_OP_LIST_SHARES, NULL, &v);
    assert_false(v.allow);
    assert_int_equal(v.reason, DS_REASON_JWT_KEY_UNKNOWN);

    free(t);
    free(t2);
    policy = saved;
    ds_policy_free(p);
}


static void
load_fails(const char *text, const char *want)
{
    char          err[DS_ERR_MAX];
    ds_policy_t  *p;

    p = ds_policy_load_buffer("bad.json", text, strlen(text), err,
                              sizeof(err));
    if (p != NULL) {
        ds_policy_free(p);
        fail_msg("accepted: %s", text);
    }

    if (strstr(err, want) == NULL) {
        fail_msg("error \"%s\" lacks \"%s\"", err, want);
    }
}


static void
test_loader(void **state)
{
    char  p[8192];

    (void) state;

#define JWKS  "{\"keys\": [%s]}"
#define POL(iss, rcp)                                                      \
    snprintf(p, sizeof(p), "{\"version\": 1, \"issuers\": {" iss "}, "    \
             "\"recipients\": [" rcp "]}", jwk_text)
#define FED(extra)                                                         \
    "{\"id\": \"a\", \"federation\": [{\"issuer\": \"" ISS "\", "          \
    "\"audiences\": [\"ds\"], \"subjects\": [\"s\"]" extra "}]}"
#define ISSUER(extra)                                                      \
    "\"" ISS "\": {\"jwks\": " JWKS extra "}"

    POL(ISSUER(""), "{\"id\": \"a\", \"federation\": [{\"issuer\": "
        "\"https://nope\", \"audiences\": [\"ds\"], \"subjects\": "
        "[\"s\"]}]}");
    load_fails(p, "$.recipients[0].federation[0]: issuer \"https://nope\" "
               "is not in the policy's \"issuers\"");

    POL(ISSUER(", \"algorithms\": [\"HS256\"]"), FED(""));
    load_fails(p, "$.issuers.https://idp.example.algorithms[0]: must be "
               "one of");
    POL(ISSUER(", \"algorithms\": [\"none\"]"), FED(""));
    load_fails(p, "never none or HS*");
    POL(ISSUER(", \"leeway\": 3600"), FED(""));
    load_fails(p, "leeway: must be 0 to 600 seconds");
    POL(ISSUER(", \"jwks_file\": \"x\""), FED(""));
    load_fails(p, "needs at most one of");
    POL(ISSUER(", \"jwks_uri\": \"ftp://idp.example/keys\""), FED(""));
    load_fails(p, "jwks_uri: must be an https:// (or http://) URL");
    POL(ISSUER(", \"jwks_uri\": \"https:///keys\""), FED(""));
    load_fails(p, "jwks_uri: must be an https://");
    POL(ISSUER(", \"jwks_uri\": \"https://idp.example/a b\""), FED(""));
    load_fails(p, "jwks_uri: must be an https://");
    POL("\"" ISS "\": {\"algorithms\": [\"RS256\"]}%.0s", FED(""));
    load_fails(p, "needs \"jwks_file\", \"jwks\" or \"jwks_uri\"");
    POL(ISSUER(", \"colour\": 1"), FED(""));
    load_fails(p, "colour: unknown field");
    POL("\"" ISS "\": {\"jwks_file\": \"/nonexistent/jwks.json\"}%.0s",
        FED(""));
    load_fails(p, "cannot open /nonexistent/jwks.json");
    POL("\"" ISS "\": {\"jwks_file\": \"/dev/zero\"}%.0s", FED(""));
    load_fails(p, "not a regular file");
    POL("\"" ISS "\": {\"jwks\": {\"keys\": []}}%.0s", FED(""));
    load_fails(p, "jwks: \"keys\" must be an array");
    POL(ISSUER(""), FED(", \"subject_claim\": \"email\""));
    load_fails(p, "subject_claim: must be \"sub\"");
    POL(ISSUER(""), "{\"id\": \"a\", \"federation\": [{\"issuer\": \"" ISS
        "\", \"subjects\": [\"s\"]}]}");
    load_fails(p, "missing required field \"audiences\"");
    POL(ISSUER(""), "{\"id\": \"a\", \"federation\": [{\"issuer\": \"" ISS
        "\", \"audiences\": [], \"subjects\": [\"s\"]}]}");
    load_fails(p, "audiences: must not be empty");
    POL(ISSUER(""), "{\"id\": \"a\", \"federation\": []}");
    load_fails(p, "federation: must not be empty");
    /* two recipients, one (issuer, sub, aud): one token, two recipients */
    POL(ISSUER(""), FED("") ", {\"id\": \"b\", \"federation\": [{\"issuer\": "
        "\"" ISS "\", \"audiences\": [\"x\", \"ds\"], \"subjects\": "
        "[\"t\", \"s\"]}]}");
    load_fails(p, "$.recipients[1].federation[0]: sub \"s\" for audience "
               "\"ds\" is also recipient \"a\"'s");

    /* the same issuer with distinct subjects is fine */
    {
        char          err[DS_ERR_MAX];
        ds_policy_t  *pol;

        POL(ISSUER(""), FED("") ", {\"id\": \"b\", \"federation\": [{"
            "\"issuer\": \"" ISS "\", \"audiences\": [\"ds\"], "
            "\"subjects\": [\"t\"]}]}");
        pol = ds_policy_load_buffer("ok.json", p, strlen(p), err,
                                    sizeof(err));
        if (pol == NULL) {
            fail_msg("%s", err);
        }
        ds_policy_free(pol);
    }

    /* static token ids cannot pose as JWT ids */
    POL(ISSUER(""), "{\"id\": \"a\", \"tokens\": [{\"id\": \"jwt:x\", "
        "\"sha256\": \"" "0000000000000000000000000000000000000000000000"
        "000000000000000000\"}]}");
    load_fails(p, "$.recipients[0].tokens[0].id: must not begin with "
               "\"jwt:\"");

    /* an issuer twice across two documents is caught */
    snprintf(p, sizeof(p), "{\"version\": 1, \"issuers\": {" ISSUER("") ", "
             ISSUER("") "}, \"recipients\": []}", jwk_text, jwk_text);
    load_fails(p, "duplicate object key");

#undef POL
#undef FED
#undef ISSUER
#undef JWKS
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_maps_to_recipient),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_downstream),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_file_link),
        cmocka_unit_test(test_diff),
        cmocka_unit_test(test_many_recipients),
        cmocka_unit_test(test_loader),
        cmocka_unit_test(test_jwks_uri),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
