/*
 * The cost of a JWT bearer in ds_decide() against a static token, on
 * the same recipient and grant (issue #15): microseconds per decision
 * for a static token, the same JWT again and again (the per-worker
 * cache of verified tokens), and a new JWT each time (a signature
 * verification each). RS256 with a 2048-bit key and ES256.
 *
 *   make bench-jwt          (build/jwt_cost N)
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "ds_policy.h"
#include "jwt_b64.h"

#define ISS  "https://idp.example"


static double
now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}


static void
bn_b64(EVP_PKEY *k, const char *param, int pad, char *out)
{
    BIGNUM         *bn;
    unsigned char   buf[512];
    int             n;

    bn = NULL;
    EVP_PKEY_get_bn_param(k, param, &bn);
    n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
    b64url(buf, (size_t) n, out);
    BN_free(bn);
}


static char *
sign(EVP_PKEY *k, const char *alg, const char *kid, long exp, int jti)
{
    char            hdr[128], cl[256], *out, *p;
    size_t          sl;
    unsigned char   sig[512], raw[64];
    EVP_MD_CTX     *md;
    ECDSA_SIG      *es;
    const BIGNUM   *r, *s;
    const unsigned char  *sp;

    snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"kid\":\"%s\"}", alg, kid);
    snprintf(cl, sizeof(cl), "{\"iss\":\"" ISS "\",\"sub\":\"svc\","
             "\"aud\":\"ds\",\"exp\":%ld,\"jti\":\"j%d\"}", exp, jti);

    out = malloc(2048);
    b64url((unsigned char *) hdr, strlen(hdr), out);
    p = out + strlen(out);
    *p++ = '.';
    b64url((unsigned char *) cl, strlen(cl), p);
    p += strlen(p);

    md = EVP_MD_CTX_new();
    sl = sizeof(sig);
    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k);
    EVP_DigestSign(md, sig, &sl, (unsigned char *) out, (size_t) (p - out));
    EVP_MD_CTX_free(md);

    *p++ = '.';

    if (alg[0] == 'E') {
        sp = sig;
        es = d2i_ECDSA_SIG(NULL, &sp, (long) sl);
        ECDSA_SIG_get0(es, &r, &s);
        BN_bn2binpad(r, raw, 32);
        BN_bn2binpad(s, raw + 32, 32);
        ECDSA_SIG_free(es);
        b64url(raw, 64, p);
    } else {
        b64url(sig, sl, p);
    }

    return out;
}


static double
run(const ds_policy_t *p, char **toks, size_t ntoks, long n,
    ds_reason_t *reason)
{
    long          i;
    double        t0;
    ds_facts_t    f;
    ds_verdict_t  v;

    memset(&f, 0, sizeof(f));
    f.op = DS_OP_LIST_SCHEMAS;
    f.share = "sales";
    f.now_ms = (int64_t) time(NULL) * 1000;

    t0 = now_us();
    for (i = 0; i < n; i++) {
        f.token = toks[(size_t) i % ntoks];
        f.token_len = strlen(f.token);
        ds_decide(p, &f, &v);
    }

    *reason = v.reason;
    return (now_us() - t0) / (double) n;
}


int
main(int argc, char **argv)
{
    long          n, i, exp;
    char          nb[400], eb[16], xb[64], yb[64], hex[65], err[DS_ERR_MAX];
    char         *pol, *stat[1], **fresh, *same[1];
    double        us;
    EVP_PKEY     *rsa, *ec;
    ds_policy_t  *p;
    ds_reason_t   reason;
    const char   *algs[] = { "RS256", "ES256" };
    EVP_PKEY     *keys[2];
    const char   *kids[] = { "r1", "e1" };
    size_t        a;

    n = argc > 1 ? atol(argv[1]) : 20000;
    exp = (long) time(NULL) + 3600;

    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    keys[0] = rsa;
    keys[1] = ec;
    bn_b64(rsa, OSSL_PKEY_PARAM_RSA_N, 0, nb);
    bn_b64(rsa, OSSL_PKEY_PARAM_RSA_E, 0, eb);
    bn_b64(ec, OSSL_PKEY_PARAM_EC_PUB_X, 32, xb);
    bn_b64(ec, OSSL_PKEY_PARAM_EC_PUB_Y, 32, yb);
    ds_token_digest_hex("dst_static_bench_token", 22, hex);

    pol = malloc(8192);
    snprintf(pol, 8192, "{\"version\": 1, \"issuers\": {\"" ISS "\": "
             "{\"jwks\": {\"keys\": [{\"kty\": \"RSA\", \"kid\": \"r1\", "
             "\"n\": \"%s\", \"e\": \"%s\"}, {\"kty\": \"EC\", \"kid\": "
             "\"e1\", \"crv\": \"P-256\", \"x\": \"%s\", \"y\": \"%s\"}]}}}, "
             "\"recipients\": [{\"id\": \"acme\", \"tokens\": [{\"id\": "
             "\"t1\", \"sha256\": \"%s\"}], \"federation\": [{\"issuer\": "
             "\"" ISS "\", \"audiences\": [\"ds\"], \"subjects\": "
             "[\"svc\"]}], \"grants\": [{\"share\": \"sales\"}]}]}",
             nb, eb, xb, yb, hex);
    p = ds_policy_load_buffer("bench.json", pol, strlen(pol), err,
                              sizeof(err));
    if (p == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }

    stat[0] = "dst_static_bench_token";
    us = run(p, stat, 1, n, &reason);
    printf("static token        %8.2f us/decision (%s)\n", us,
           ds_reason_name(reason));

    for (a = 0; a < 2; a++) {
        same[0] = sign(keys[a], algs[a], kids[a], exp, 0);
        us = run(p, same, 1, n, &reason);
        printf("%s, same token   %8.2f us/decision (%s)\n", algs[a], us,
               ds_reason_name(reason));

        /* a new token per decision: nothing to reuse */
        fresh = malloc(sizeof(char *) * 2000);
        for (i = 0; i < 2000; i++) {
            fresh[i] = sign(keys[a], algs[a], kids[a], exp, (int) i + 1);
        }
        us = run(p, fresh, 2000, n < 2000 ? n : 2000, &reason);
        printf("%s, new tokens   %8.2f us/decision (%s)\n", algs[a], us,
               ds_reason_name(reason));

        for (i = 0; i < 2000; i++) {
            free(fresh[i]);
        }
        free(fresh);
        free(same[0]);
    }

    ds_policy_free(p);
    free(pol);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    return 0;
}
