/*
 * ds_jwt, ds_jwk: JWKS parsing and JWT validation, with keys generated
 * and tokens signed here (OpenSSL), so every rejection is a real token.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include "ds_jwt.h"
#include "ds_jwt_int.h"
#include "jwt_b64.h"

#define NOW     1900000000
#define ISS     "https://idp.example"


static EVP_PKEY  *rsa, *rsa2, *rsa1024, *p256, *p384, *ed;


static void
b64s(const char *s, char *out)
{
    b64url((const unsigned char *) s, strlen(s), out);
}


static void
bn_b64(EVP_PKEY *k, const char *param, size_t pad, char *out)
{
    BIGNUM         *bn;
    unsigned char   buf[1024];
    int             n;

    bn = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(k, param, &bn), 1);
    n = pad ? BN_bn2binpad(bn, buf, (int) pad) : BN_bn2bin(bn, buf);
    assert_true(n > 0);
    b64url(buf, (size_t) n, out);
    BN_free(bn);
}


/* a JWK for k; extra is more members ("" or ", \"alg\": ...") */
static char *
jwk(EVP_PKEY *k, const char *kid, const char *extra)
{
    char            a[1500], b[1500], *out;
    unsigned char   raw[32];
    size_t          rl;
    char            kidm[128];

    out = malloc(4096);
    assert_non_null(out);
    kidm[0] = '\0';
    if (kid != NULL) {
        snprintf(kidm, sizeof(kidm), "\"kid\": \"%s\", ", kid);
    }

    if (EVP_PKEY_is_a(k, "RSA")) {
        bn_b64(k, OSSL_PKEY_PARAM_RSA_N, 0, a);
        bn_b64(k, OSSL_PKEY_PARAM_RSA_E, 0, b);
        snprintf(out, 4096, "{%s\"kty\": \"RSA\", \"n\": \"%s\", "
                 "\"e\": \"%s\"%s}", kidm, a, b, extra);

    } else if (EVP_PKEY_is_a(k, "EC")) {
        rl = EVP_PKEY_get_bits(k) == 256 ? 32 : 48;
        bn_b64(k, OSSL_PKEY_PARAM_EC_PUB_X, rl, a);
        bn_b64(k, OSSL_PKEY_PARAM_EC_PUB_Y, rl, b);
        snprintf(out, 4096, "{%s\"kty\": \"EC\", \"crv\": \"%s\", "
                 "\"x\": \"%s\", \"y\": \"%s\"%s}", kidm,
                 rl == 32 ? "P-256" : "P-384", a, b, extra);

    } else {
        rl = sizeof(raw);
        assert_int_equal(EVP_PKEY_get_raw_public_key(k, raw, &rl), 1);
        b64url(raw, rl, a);
        snprintf(out, 4096, "{%s\"kty\": \"OKP\", \"crv\": \"Ed25519\", "
                 "\"x\": \"%s\"%s}", kidm, a, extra);
    }

    return out;
}


static ds_jwks_t *
jwks1(EVP_PKEY *k, const char *kid, const char *extra)
{
    char        doc[5000], err[256], *j;
    ds_jwks_t  *ks;

    j = jwk(k, kid, extra);
    snprintf(doc, sizeof(doc), "{\"keys\": [%s]}", j);
    free(j);
    ks = ds_jwks_parse(doc, strlen(doc), err, sizeof(err));
    if (ks == NULL) {
        fail_msg("jwks: %s", err);
    }
    return ks;
}


/* header and claims as given, signed by k under alg (NULL k: no sig) */
static char *
sign(EVP_PKEY *k, const char *alg, const char *header, const char *claims)
{
    char            *out, *p;
    size_t           sl;
    EVP_MD_CTX      *md;
    EVP_PKEY_CTX    *pctx;
    const EVP_MD    *h;
    unsigned char    sig[1024], raw[96];
    const unsigned char  *sp;
    ECDSA_SIG       *es;
    const BIGNUM    *r, *s;
    int              half;

    out = malloc(8192);
    assert_non_null(out);
    b64s(header, out);
    p = out + strlen(out);
    *p++ = '.';
    b64s(claims, p);
    p += strlen(p);
    *p++ = '.';
    *p = '\0';

    if (k == NULL) {
        return out;
    }

    h = NULL;
    if (strcmp(alg, "RS256") == 0 || strcmp(alg, "PS256") == 0
        || strcmp(alg, "ES256") == 0)
    {
        h = EVP_sha256();
    } else if (strcmp(alg, "RS384") == 0 || strcmp(alg, "ES384") == 0) {
        h = EVP_sha384();
    } else if (strcmp(alg, "RS512") == 0) {
        h = EVP_sha512();
    }

    md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(md, &pctx, h, NULL, k), 1);
    if (strcmp(alg, "PS256") == 0) {
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
    }
    sl = sizeof(sig);
    assert_int_equal(EVP_DigestSign(md, sig, &sl, (unsigned char *) out,
                                    (size_t) (p - 1 - out)), 1);
    EVP_MD_CTX_free(md);

    if (alg[0] == 'E' && alg[1] == 'S') {
        half = strcmp(alg, "ES256") == 0 ? 32 : 48;
        sp = sig;
        es = d2i_ECDSA_SIG(NULL, &sp, (long) sl);
        assert_non_null(es);
        ECDSA_SIG_get0(es, &r, &s);
        BN_bn2binpad(r, raw, half);
        BN_bn2binpad(s, raw + half, half);
        ECDSA_SIG_free(es);
        b64url(raw, (size_t) (2 * half), p);
    } else {
        b64url(sig, sl, p);
    }

    return out;
}


static const char *
claims_ok(void)
{
    static char  c[512];

    snprintf(c, sizeof(c), "{\"iss\": \"" ISS "\", \"sub\": \"svc-1\", "
             "\"aud\": \"ds\", \"exp\": %d, \"iat\": %d, \"jti\": \"j1\"}",
             NOW + 600, NOW - 10);
    return c;
}


/* parse and verify; the result code */
static ds_jwt_rc_t
check(const char *tok, const ds_jwks_t *ks, unsigned algs)
{
    ds_jwt_t       jwt;
    ds_jwt_rc_t    rc;
    ds_jwt_opts_t  o = { ISS, algs, DS_JWT_LEEWAY, 0 };

    rc = ds_jwt_parse(tok, strlen(tok), &jwt);
    if (rc != DS_JWT_OK) {
        return rc;
    }
    rc = ds_jwt_verify(&jwt, ks, &o, NOW);
    ds_jwt_free(&jwt);
    return rc;
}


static int
setup(void **state)
{
    (void) state;

    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    rsa2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024);
    p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

    return (rsa && rsa2 && rsa1024 && p256 && p384 && ed) ? 0 : -1;
}


static int
teardown(void **state)
{
    (void) state;

    EVP_PKEY_free(rsa);
    EVP_PKEY_free(rsa2);
    EVP_PKEY_free(rsa1024);
    EVP_PKEY_free(p256);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(ed);
    return 0;
}


static void
test_b64url_strict(void **state)
{
    unsigned char  out[16];

    (void) state;

    assert_int_equal(ds_jwt_b64url_decode("QQ", 2, out), 1);
    assert_int_equal(out[0], 'A');
    /* the same byte with non-zero spare bits: a second encoding */
    assert_int_equal(ds_jwt_b64url_decode("QR", 2, out), -1);
    assert_int_equal(ds_jwt_b64url_decode("QQ==", 4, out), -1);
    assert_int_equal(ds_jwt_b64url_decode("Q", 1, out), -1);
    assert_int_equal(ds_jwt_b64url_decode("a+b/", 4, out), -1);
    assert_int_equal(ds_jwt_b64url_decode("-_-_", 4, out), 3);
}


static void
test_looks_like(void **state)
{
    (void) state;

    assert_true(ds_jwt_looks_like("a.b.c", 5));
    assert_true(ds_jwt_looks_like("a.b.", 4));
    assert_false(ds_jwt_looks_like(".b.c", 4));
    assert_false(ds_jwt_looks_like("a..c", 4));
    assert_false(ds_jwt_looks_like("a.b.c.d", 7));
    assert_false(ds_jwt_looks_like("a.b", 3));
    assert_false(ds_jwt_looks_like("a.b=.c", 6));
    assert_false(ds_jwt_looks_like("dst_0123456789abcdef", 20));
}


/* every algorithm, with its key type, verifies */
static void
test_each_alg(void **state)
{
    static const struct {
        const char  *alg;
        EVP_PKEY   **key;
    } t[] = {
        { "RS256", &rsa }, { "RS384", &rsa }, { "RS512", &rsa },
        { "PS256", &rsa }, { "ES256", &p256 }, { "ES384", &p384 },
        { "EdDSA", &ed },
    };
    size_t      i;
    char        hdr[128], *tok;
    ds_jwks_t  *ks;

    (void) state;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        ks = jwks1(*t[i].key, "k1", "");
        snprintf(hdr, sizeof(hdr), "{\"alg\": \"%s\", \"kid\": \"k1\"}",
                 t[i].alg);
        tok = sign(*t[i].key, t[i].alg, hdr, claims_ok());

        assert_int_equal(check(tok, ks, DS_JWT_ALG_ALL), DS_JWT_OK);
        /* off the issuer's list */
        assert_int_equal(check(tok, ks, DS_JWT_ALG_ALL
                                        & ~ds_jwt_alg_bit(t[i].alg)),
                         DS_JWT_ALG_DENIED);

        /* one flipped bit in the signature */
        tok[strlen(tok) - 3] ^= tok[strlen(tok) - 3] == 'A' ? 2 : 1;
        assert_int_equal(check(tok, ks, DS_JWT_ALG_ALL) == DS_JWT_OK, 0);

        free(tok);
        ds_jwks_free(ks);
    }
}


static void
test_alg_none_and_hmac(void **state)
{
    char            *tok, *j, *n, secret[4096], sig[128];
    unsigned char    mac[64];
    unsigned int     ml;
    ds_jwks_t       *ks;

    (void) state;

    ks = jwks1(rsa, "k1", "");

    tok = sign(NULL, NULL, "{\"alg\": \"none\", \"kid\": \"k1\"}",
               claims_ok());
    assert_int_equal(check(tok, ks, DS_JWT_ALG_ALL), DS_JWT_ALG_NONE);
    free(tok);

    /* HS256 keyed with the RSA public key's JWK text, the classic */
    tok = sign(NULL, NULL, "{\"alg\": \"HS256\", \"kid\": \"k1\"}",
               claims_ok());
    j = jwk(rsa, "k1", "");
    snprintf(secret, sizeof(secret), "%s", j);
    HMAC(EVP_sha256(), secret, (int) strlen(secret),
         (unsigned char *) tok, strlen(tok) - 1, mac, &ml);
    b64url(mac, ml, sig);
    n = malloc(strlen(tok) + strlen(sig) + 1);
    sprintf(n, "%s%s", tok, sig);
    assert_int_equal(check(n, ks, DS_JWT_ALG_ALL), DS_JWT_ALG_HMAC);
    free(n);
    free(j);
    free(tok);

    tok = sign(rsa, "RS256", "{\"alg\": \"XS256\", \"kid\": \"k1\"}",
               claims_ok());
    assert_int_equal(check(tok, ks, DS_JWT_ALG_ALL), DS_JWT_ALG_UNKNOWN);
    free(tok);

    ds_jwks_free(ks);
}


/* a key verifies only under its own family and its own alg */
static void
test_alg_key_confusion(void **state)
{
    char       *tok;
    ds_jwks_t  *ks;

    (void) state;

    /* ES256 header against an RSA key */
    ks = jwks1(rsa, "k1", "");
    tok = sign(p256, "ES256", "{\"alg\": \"ES256\", \"kid\": \"k1\"}",
               claims_ok());
    assert_int_equal(check(tok, ks, DS_JWT_ALG_ALL), DS_JWT_ALG_KEY);
    free(tok);
    ds_jwks_free(ks);

    /* the key says RS256; a PS256 token under it is refused */
    ks = jwks1(rsa, "k1", ", \"alg\": \"RS256\", \"use\": \"sig\"");
    tok = sign(rsa, "PS256", "{\"alg\": \"PS256\", \"kid\": \"k1\"}",
               claims_ok());
    assert_int_equal(check(tok, ks, DS_JWT_ALG_ALL), DS_JWT_ALG_KEY);
    free(tok);
    ds_jwks_free(ks);

    /* ES384 header, P-256 key */
    ks = jwks1(p256, "k1", "");
    tok = sign(p384, "ES384", "{\"alg\": \"ES384\", \"kid\": \"k1\"}",
               claims_ok());
    assert_int_equal(check(tok, ks, DS_JWT_ALG_ALL), DS_JWT_ALG_KEY);
    free(tok);
    ds_jwks_free(ks);
}


static void
test_kid(void **state)
{
    char        doc[9000], err[256], *a, *b, *tok;
    ds_jwks_t  *ks;

    (void) state;

    ks = jwks1(rsa, "k1", "");
    tok = sign(rsa, "RS256", "{\"alg\": \"RS256\", \"kid\": \"k2\"}",
               claims_ok());
    assert_int_equal(check(tok, ks, DS_JWT_ALG_ALL), DS_JWT_KEY_UNKNOWN);
    free(tok);

    /* no kid, one key: that key */
    tok = sign(rsa, "RS256", "{\"alg\": \"RS256\"}", claims_ok());
    assert_int_equal(check(tok, ks, DS_JWT_ALG_ALL), DS_JWT_OK);
    ds_jwks_free(ks);

    /* no kid, two keys: ambiguous */
    a = jwk(rsa, "k1", "");
    b = jwk(rsa2, "k2", "");
    snprintf(doc, sizeof(doc), "{\"keys\": [%s, %s]}", a, b);
    ks = ds_jwks_parse(doc, strlen(doc), err, sizeof(err));
    assert_non_null(ks);
    assert_int_equal(ds_jwks_count(ks), 2);
    assert_int_equal(check(tok, ks, DS_JWT_ALG_ALL), DS_JWT_KEY_UNKNOWN);
    free(tok);

    /* the right kid of two; the wrong key under a known kid */
    tok = sign(rsa2, "RS256", "{\"alg\": \"RS256\", \"kid\": \"k2\"}",
               claims_ok());
    assert_int_equal(check(tok, ks, DS_JWT_ALG_ALL), DS_JWT_OK);
    free(tok);
    tok = sign(rsa2, "RS256", "{\"alg\": \"RS256\", \"kid\": \"k1\"}",
               claims_ok());
    assert_int_equal(check(tok, ks, DS_JWT_ALG_ALL), DS_JWT_BAD_SIGNATURE);
    free(tok);
    ds_jwks_free(ks);

    /* one kid twice fails the set */
    snprintf(doc, sizeof(doc), "{\"keys\": [%s, %s]}", a, a);
    assert_null(ds_jwks_parse(doc, strlen(doc), err, sizeof(err)));
    assert_non_null(strstr(err, "twice"));
    free(a);
    free(b);
}


static void
test_jwks_rejects(void **state)
{
    char         doc[5000], err[256], *j;
    size_t       i;
    ds_jwks_t   *ks;
    static const char *const  bad[] = {
        "", "[]", "{}", "{\"keys\": []}", "{\"keys\": {}}",
        "{\"keys\": [1]}", "{\"keys\": [{\"n\": \"AQAB\"}]}",
        "{\"keys\": [{\"kty\": \"RSA\", \"n\": \"AQAB\"}]}",
        "{\"keys\": [{\"kty\": \"oct\", \"k\": \"AQAB\"}]}",
        "{\"keys\": [{\"kty\": \"OKP\", \"crv\": \"Ed25519\", "
        "\"x\": \"AQAB\"}]}",
        "{\"keys\": [{\"kty\": \"EC\", \"crv\": \"P-256\", "
        "\"x\": \"" "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" "\", "
        "\"y\": \"" "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE" "\"}]}",
    };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ks = ds_jwks_parse(bad[i], strlen(bad[i]), err, sizeof(err));
        if (ks != NULL) {
            fail_msg("accepted: %s", bad[i]);
        }
        assert_true(err[0] != '\0');
    }

    /* a 1024-bit RSA key fails the set, with a reason */
    j = jwk(rsa1024, "k1", "");
    snprintf(doc, sizeof(doc), "{\"keys\": [%s]}", j);
    free(j);
    assert_null(ds_jwks_parse(doc, strlen(doc), err, sizeof(err)));
    assert_non_null(strstr(err, "2048"));

    /* e = 1 makes verification the identity; an even e is no RSA key */
    {
        char         nb[1024];
        const char  *es[] = { "AQ", "Ag", "AAAB" };

        bn_b64(rsa, OSSL_PKEY_PARAM_RSA_N, 0, nb);
        for (i = 0; i < sizeof(es) / sizeof(es[0]); i++) {
            snprintf(doc, sizeof(doc), "{\"keys\": [{\"kty\": \"RSA\", "
                     "\"n\": \"%s\", \"e\": \"%s\"}]}", nb, es[i]);
            ks = ds_jwks_parse(doc, strlen(doc), err, sizeof(err));
            if (i < 2) {
                assert_null(ks);
                assert_non_null(strstr(err, "odd"));
            } else {
                /* a leading zero byte in e: the value 1 again */
                assert_null(ks);
            }
        }
    }

    /* an encryption key is skipped; alone it leaves nothing */
    j = jwk(rsa, "k1", ", \"use\": \"enc\"");
    snprintf(doc, sizeof(doc), "{\"keys\": [%s]}", j);
    free(j);
    assert_null(ds_jwks_parse(doc, strlen(doc), err, sizeof(err)));

    /* a key whose alg does not fit its type */
    j = jwk(p256, "k1", ", \"alg\": \"RS256\"");
    snprintf(doc, sizeof(doc), "{\"keys\": [%s]}", j);
    free(j);
    assert_null(ds_jwks_parse(doc, strlen(doc), err, sizeof(err)));
}


static void
test_times(void **state)
{
    char        c[512], *tok;
    ds_jwks_t  *ks;
    ds_jwt_t    jwt;
    ds_jwt_opts_t  o = { ISS, DS_JWT_ALG_ALL, 60, 3600 };
    static const char  *hdr = "{\"alg\": \"RS256\", \"kid\": \"k1\"}";

    (void) state;

    ks = jwks1(rsa, "k1", "");

#define TRY(claims, want)                                                \
    do {                                                                 \
        tok = sign(rsa, "RS256", hdr, claims);                           \
        assert_int_equal(ds_jwt_parse(tok, strlen(tok), &jwt),           \
                         DS_JWT_OK);                                     \
        assert_int_equal(ds_jwt_verify(&jwt, ks, &o, NOW), want);        \
        ds_jwt_free(&jwt);                                               \
        free(tok);                                                       \
    } while (0)

    snprintf(c, sizeof(c), "{\"iss\": \"" ISS "\"}");
    TRY(c, DS_JWT_EXP_MISSING);

    snprintf(c, sizeof(c), "{\"iss\": \"" ISS "\", \"exp\": %d}", NOW - 61);
    TRY(c, DS_JWT_EXPIRED);
    /* within the leeway */
    snprintf(c, sizeof(c), "{\"iss\": \"" ISS "\", \"exp\": %d}", NOW - 59);
    TRY(c, DS_JWT_OK);

    snprintf(c, sizeof(c), "{\"iss\": \"" ISS "\", \"exp\": %d, "
             "\"nbf\": %d}", NOW + 600, NOW + 61);
    TRY(c, DS_JWT_NOT_YET_VALID);
    snprintf(c, sizeof(c), "{\"iss\": \"" ISS "\", \"exp\": %d, "
             "\"nbf\": %d}", NOW + 600, NOW + 59);
    TRY(c, DS_JWT_OK);
    snprintf(c, sizeof(c), "{\"iss\": \"" ISS "\", \"exp\": %d, "
             "\"iat\": %d}", NOW + 600, NOW + 120);
    TRY(c, DS_JWT_NOT_YET_VALID);

    /* longer-lived than max_lifetime */
    snprintf(c, sizeof(c), "{\"iss\": \"" ISS "\", \"exp\": %d, "
             "\"iat\": %d}", NOW + 3600, NOW - 10);
    TRY(c, DS_JWT_LIFETIME);
    snprintf(c, sizeof(c), "{\"iss\": \"" ISS "\", \"exp\": %d}",
             NOW + 7200);
    TRY(c, DS_JWT_LIFETIME);

    /* iss exact */
    snprintf(c, sizeof(c), "{\"iss\": \"" ISS "/\", \"exp\": %d}",
             NOW + 60);
    TRY(c, DS_JWT_ISSUER);
    snprintf(c, sizeof(c), "{\"exp\": %d}", NOW + 60);
    TRY(c, DS_JWT_ISSUER);

    ds_jwks_free(ks);
#undef TRY
}


static void
test_malformed(void **state)
{
    char        c[512], *tok, big[DS_JWT_MAX_LEN + 2];
    ds_jwks_t  *ks;
    ds_jwt_t    jwt;
    size_t      i;
    static const char *const  hdrs[] = {
        "[]", "{\"alg\": 5}", "{}", "not json",
    };

    (void) state;

    ks = jwks1(rsa, "k1", "");

    for (i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
        tok = sign(rsa, "RS256", hdrs[i], claims_ok());
        assert_int_equal(ds_jwt_parse(tok, strlen(tok), &jwt),
                         DS_JWT_MALFORMED);
        free(tok);
    }

    tok = sign(rsa, "RS256", "{\"alg\": \"RS256\", \"alg\": \"none\"}",
               claims_ok());
    assert_int_equal(ds_jwt_parse(tok, strlen(tok), &jwt), DS_JWT_DUPLICATE);
    free(tok);

    snprintf(c, sizeof(c), "{\"iss\": \"" ISS "\", \"sub\": \"a\", "
             "\"sub\": \"b\", \"exp\": %d}", NOW + 60);
    tok = sign(rsa, "RS256", "{\"alg\": \"RS256\"}", c);
    assert_int_equal(ds_jwt_parse(tok, strlen(tok), &jwt), DS_JWT_DUPLICATE);
    free(tok);

    tok = sign(rsa, "RS256", "{\"alg\": \"RS256\", \"crit\": [\"b64\"]}",
               claims_ok());
    assert_int_equal(ds_jwt_parse(tok, strlen(tok), &jwt), DS_JWT_CRIT);
    free(tok);

    snprintf(c, sizeof(c), "{\"iss\": \"" ISS "\", \"exp\": \"soon\"}");
    tok = sign(rsa, "RS256", "{\"alg\": \"RS256\"}", c);
    assert_int_equal(ds_jwt_parse(tok, strlen(tok), &jwt), DS_JWT_MALFORMED);
    free(tok);

    /* truncated: each cut of a good token fails, none verifies */
    tok = sign(rsa, "RS256", "{\"alg\": \"RS256\", \"kid\": \"k1\"}",
               claims_ok());
    assert_int_equal(check(tok, ks, DS_JWT_ALG_ALL), DS_JWT_OK);
    for (i = 1; i < strlen(tok); i += 7) {
        if (ds_jwt_parse(tok, i, &jwt) == DS_JWT_OK) {
            ds_jwt_opts_t  o = { ISS, DS_JWT_ALG_ALL, 60, 0 };

            assert_int_not_equal(ds_jwt_verify(&jwt, ks, &o, NOW),
                                 DS_JWT_OK);
            ds_jwt_free(&jwt);
        }
    }
    /* padding, a fourth part */
    {
        char  *t2 = malloc(strlen(tok) + 4);

        sprintf(t2, "%s=", tok);
        assert_int_equal(ds_jwt_parse(t2, strlen(t2), &jwt),
                         DS_JWT_MALFORMED);
        sprintf(t2, "%s.e", tok);
        assert_int_equal(ds_jwt_parse(t2, strlen(t2), &jwt),
                         DS_JWT_MALFORMED);
        free(t2);
    }
    free(tok);

    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    big[10] = '.';
    big[20] = '.';
    assert_int_equal(ds_jwt_parse(big, strlen(big), &jwt), DS_JWT_TOO_LONG);

    ds_jwks_free(ks);
}


static void
test_es_sig_length(void **state)
{
    char        *tok, *p, saved, last;
    ds_jwks_t   *ks;

    (void) state;

    ks = jwks1(p256, "k1", "");
    tok = sign(p256, "ES256", "{\"alg\": \"ES256\", \"kid\": \"k1\"}",
               claims_ok());
    assert_int_equal(check(tok, ks, DS_JWT_ALG_ALL), DS_JWT_OK);

    /*
     * 64 bytes are 86 digits: 21 quanta and 2 digits for the last byte.
     * Cutting those 2 leaves a clean 63 bytes, one short; a cut inside
     * a quantum leaves spare bits set, which strict base64url refuses
     * before the length is ever looked at.
     */
    assert_int_equal(strlen(strrchr(tok, '.') + 1), 86);
    p = tok + strlen(tok) - 4;
    saved = *p;
    last = p[-1];
    *p = '\0';
    /*
     * the last digit of a 2-digit group must leave its 4 spare bits 0;
     * the signature's own digit might, so set one (the test was flaky)
     */
    p[-1] = 'B';
    assert_int_equal(check(tok, ks, DS_JWT_ALG_ALL), DS_JWT_MALFORMED);
    p[-1] = last;
    *p = saved;
    p = tok + strlen(tok) - 2;
    *p = '\0';
    assert_int_equal(check(tok, ks, DS_JWT_ALG_ALL), DS_JWT_SIG_LENGTH);
    /* 66 bytes: two over */
    strcpy(p, "AAAAA");
    assert_int_equal(check(tok, ks, DS_JWT_ALG_ALL), DS_JWT_MALFORMED);
    strcpy(p, "AAAA");
    assert_int_equal(check(tok, ks, DS_JWT_ALG_ALL), DS_JWT_SIG_LENGTH);
    free(tok);

    /* a DER signature (what OpenSSL makes) is not JOSE's R || S */
    {
        char            hdr_claims[1024], der64[256];
        unsigned char   der[128];
        size_t          dl;
        EVP_MD_CTX     *md;

        tok = sign(NULL, NULL, "{\"alg\": \"ES256\", \"kid\": \"k1\"}",
                   claims_ok());
        snprintf(hdr_claims, sizeof(hdr_claims), "%s", tok);
        md = EVP_MD_CTX_new();
        dl = sizeof(der);
        assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL,
                                            p256), 1);
        assert_int_equal(EVP_DigestSign(md, der, &dl,
                         (unsigned char *) hdr_claims,
                         strlen(hdr_claims) - 1), 1);
        EVP_MD_CTX_free(md);
        b64url(der, dl, der64);
        free(tok);
        tok = malloc(strlen(hdr_claims) + strlen(der64) + 1);
        sprintf(tok, "%s%s", hdr_claims, der64);
        assert_int_equal(check(tok, ks, DS_JWT_ALG_ALL), DS_JWT_SIG_LENGTH);
        free(tok);
    }

    ds_jwks_free(ks);
}


static void
test_match_and_id(void **state)
{
    char        c[512], *tok, id[64], id2[64];
    ds_jwt_t    jwt;
    const char *m;
    static const char *const  auds[] = { "other", "ds" };
    static const char *const  nope[] = { "x" };
    static const char *const  grp[] = { "g2", "g9" };
    static const char *const  subs[] = { "svc-1" };

    (void) state;

    snprintf(c, sizeof(c), "{\"iss\": \"" ISS "\", \"sub\": \"svc-1\", "
             "\"aud\": [\"a\", \"ds\"], \"groups\": [\"g1\", 7, \"g2\"], "
             "\"exp\": %d}", NOW + 60);
    tok = sign(rsa, "RS256", "{\"alg\": \"RS256\", \"kid\": \"k/1\"}", c);
    assert_int_equal(ds_jwt_parse(tok, strlen(tok), &jwt), DS_JWT_OK);

    assert_true(ds_jwt_aud_match(&jwt, auds, 2));
    assert_false(ds_jwt_aud_match(&jwt, nope, 1));
    assert_true(ds_jwt_claim_match(&jwt, "groups", grp, 2, 1, &m));
    assert_string_equal(m, "g2");
    /* membership is for group claims only */
    assert_false(ds_jwt_claim_match(&jwt, "groups", grp, 2, 0, &m));
    assert_true(ds_jwt_claim_match(&jwt, "sub", subs, 1, 0, &m));
    assert_false(ds_jwt_claim_match(&jwt, "azp", subs, 1, 0, &m));

    /* no jti: the whole token's hash, and the kid made tame */
    ds_jwt_token_id(&jwt, tok, strlen(tok), id, sizeof(id));
    assert_int_equal(strncmp(id, "jwt:k_1:", 8), 0);
    assert_int_equal(strlen(id), 8 + 16);
    ds_jwt_free(&jwt);
    free(tok);

    tok = sign(rsa, "RS256", "{\"alg\": \"RS256\", \"kid\": \"k1\"}",
               claims_ok());
    assert_int_equal(ds_jwt_parse(tok, strlen(tok), &jwt), DS_JWT_OK);
    ds_jwt_token_id(&jwt, tok, strlen(tok), id, sizeof(id));
    ds_jwt_free(&jwt);
    free(tok);
    /* the jti decides: another token with the same jti, the same id */
    tok = sign(rsa2, "RS256", "{\"alg\": \"RS256\", \"kid\": \"k1\"}",
               claims_ok());
    assert_int_equal(ds_jwt_parse(tok, strlen(tok), &jwt), DS_JWT_OK);
    ds_jwt_token_id(&jwt, tok, strlen(tok), id2, sizeof(id2));
    assert_string_equal(id, id2);
    /* sha256("j1") begins 0x8f 0x... : the id is that prefix in hex */
    assert_int_equal(strlen(id), strlen("jwt:k1:") + 16);
    ds_jwt_free(&jwt);
    free(tok);
}


static void
test_rc_names(void **state)
{
    int  i, j;

    (void) state;

    for (i = 0; i < DS_JWT_RC_COUNT; i++) {
        assert_non_null(ds_jwt_rc_name((ds_jwt_rc_t) i));
        for (j = 0; j < i; j++) {
            assert_string_not_equal(ds_jwt_rc_name((ds_jwt_rc_t) i),
                                    ds_jwt_rc_name((ds_jwt_rc_t) j));
        }
    }
    assert_int_equal(ds_jwt_alg_bit("HS256"), 0);
    assert_string_equal(ds_jwt_alg_name(DS_JWT_PS256), "PS256");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_b64url_strict),
        cmocka_unit_test(test_looks_like),
        cmocka_unit_test(test_each_alg),
        cmocka_unit_test(test_alg_none_and_hmac),
        cmocka_unit_test(test_alg_key_confusion),
        cmocka_unit_test(test_kid),
        cmocka_unit_test(test_jwks_rejects),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_es_sig_length),
        cmocka_unit_test(test_match_and_id),
        cmocka_unit_test(test_rc_names),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
