/*
 * libFuzzer harness for ds_jwt/ds_jwk (issue #15).
 *
 * The first byte picks what the rest is:
 *   0-127    a bearer token, parsed and verified against a fixed JWKS
 *            (RSA, P-256, Ed25519 keys made at start): nothing the
 *            fuzzer writes may verify, so DS_JWT_OK is a finding;
 *   128-191  a JWKS document: parse, look up, free (leaks, overreads);
 *   192-255  a claims set, base64url-encoded and really signed with the
 *            Ed25519 key: the signature must then always hold, so only
 *            claim-level results (or malformed JSON) may come back.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "ds_jwt.h"
#include "ds_jwt_int.h"

#include "../unit/jwt_b64.h"


#define check(x)  do { if (!(x)) { __builtin_trap(); } } while (0)

#define ISS  "https://idp.example"
#define NOW  1900000000


static EVP_PKEY   *ed;
static ds_jwks_t  *ks;


static void
bn_b64(EVP_PKEY *k, const char *param, int pad, char *out)
{
    BIGNUM         *bn;
    unsigned char   buf[512];
    int             n;

    bn = NULL;
    check(EVP_PKEY_get_bn_param(k, param, &bn) == 1);
    n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
    check(n > 0);
    b64url(buf, (size_t) n, out);
    BN_free(bn);
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char            doc[4096], n[400], e[16], x[64], y[64], ex[64];
    unsigned char   raw[32];
    size_t          rl;
    EVP_PKEY       *rsa, *p256;

    (void) argc;
    (void) argv;

    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    check(rsa != NULL && p256 != NULL && ed != NULL);

    bn_b64(rsa, OSSL_PKEY_PARAM_RSA_N, 0, n);
    bn_b64(rsa, OSSL_PKEY_PARAM_RSA_E, 0, e);
    bn_b64(p256, OSSL_PKEY_PARAM_EC_PUB_X, 32, x);
    bn_b64(p256, OSSL_PKEY_PARAM_EC_PUB_Y, 32, y);
    rl = sizeof(raw);
    check(EVP_PKEY_get_raw_public_key(ed, raw, &rl) == 1);
    b64url(raw, rl, ex);

    snprintf(doc, sizeof(doc), "{\"keys\": ["
             "{\"kty\": \"RSA\", \"kid\": \"r\", \"n\": \"%s\", "
             "\"e\": \"%s\"}, "
             "{\"kty\": \"EC\", \"kid\": \"e\", \"crv\": \"P-256\", "
             "\"x\": \"%s\", \"y\": \"%s\"}, "
             "{\"kty\": \"OKP\", \"kid\": \"d\", \"crv\": \"Ed25519\", "
             "\"x\": \"%s\", \"alg\": \"EdDSA\"}]}", n, e, x, y, ex);

    ks = ds_jwks_parse(doc, strlen(doc), doc, sizeof(doc));
    check(ks != NULL && ds_jwks_count(ks) == 3);

    EVP_PKEY_free(rsa);
    EVP_PKEY_free(p256);

    return 0;
}


/* everything a caller does with a parsed token */
static ds_jwt_rc_t
use(const char *tok, size_t len)
{
    char            id[64];
    const char     *m;
    ds_jwt_t        jwt;
    ds_jwt_rc_t     rc;
    ds_jwt_opts_t   o = { ISS, DS_JWT_ALG_ALL, DS_JWT_LEEWAY, 3600 };
    static const char *const  v[] = { "ds", "svc", "g1" };

    rc = ds_jwt_parse(tok, len, &jwt);
    check(ds_jwt_rc_name(rc) != NULL);
    if (rc != DS_JWT_OK) {
        check(jwt.header == NULL && jwt.claims == NULL && jwt.sig == NULL);
        return rc;
    }

    check(jwt.alg != NULL);
    check(jwt.input == tok && jwt.input_len < len);

    rc = ds_jwt_verify(&jwt, ks, &o, NOW);
    check(ds_jwt_rc_name(rc) != NULL);

    (void) ds_jwt_aud_match(&jwt, v, 3);
    (void) ds_jwt_claim_match(&jwt, "sub", v, 3, 0, &m);
    (void) ds_jwt_claim_match(&jwt, "groups", v, 3, 1, &m);

    ds_jwt_token_id(&jwt, tok, len, id, sizeof(id));
    check(strncmp(id, "jwt:", 4) == 0 && strlen(id) < sizeof(id));

    ds_jwt_free(&jwt);
    return rc;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char           *tok, *p, err[256];
    size_t          sl;
    ds_jwks_t      *k;
    ds_jwt_rc_t     rc;
    EVP_MD_CTX     *md;
    unsigned char   sig[64];
    static const char  hdr[] = "eyJhbGciOiJFZERTQSIsImtpZCI6ImQifQ";
                            /* {"alg":"EdDSA","kid":"d"} */

    if (size == 0) {
        return 0;
    }

    if (data[0] < 128) {
        tok = malloc(size);
        check(tok != NULL);
        memcpy(tok, data + 1, size - 1);

        /* forging any of the three signatures by chance does not happen */
        check(use(tok, size - 1) != DS_JWT_OK);

        free(tok);
        return 0;
    }

    if (data[0] < 192) {
        err[0] = '\0';
        k = ds_jwks_parse((const char *) data + 1, size - 1, err,
                          sizeof(err));
        check(k != NULL || err[0] != '\0');
        if (k != NULL) {
            check(ds_jwks_count(k) >= 1);
            (void) ds_jwks_find(k, "r");
            (void) ds_jwks_find(k, NULL);
        }
        ds_jwks_free(k);
        return 0;
    }

    if (size > 3000) {
        return 0;
    }

    tok = malloc(sizeof(hdr) + 1 + (size - 1) * 4 / 3 + 4 + 1 + 90);
    check(tok != NULL);
    memcpy(tok, hdr, sizeof(hdr) - 1);
    p = tok + sizeof(hdr) - 1;
    *p++ = '.';
    b64url(data + 1, size - 1, p);
    p += strlen(p);

    md = EVP_MD_CTX_new();
    sl = sizeof(sig);
    check(md != NULL
          && EVP_DigestSignInit(md, NULL, NULL, NULL, ed) == 1
          && EVP_DigestSign(md, sig, &sl, (unsigned char *) tok,
                            (size_t) (p - tok)) == 1);
    EVP_MD_CTX_free(md);

    *p++ = '.';
    b64url(sig, sl, p);

    rc = use(tok, strlen(tok));

    /* a real signature by a configured key never fails as one */
    check(rc != DS_JWT_BAD_SIGNATURE && rc != DS_JWT_SIG_LENGTH
          && rc != DS_JWT_KEY_UNKNOWN && rc != DS_JWT_ALG_KEY
          && rc != DS_JWT_INTERNAL);

    free(tok);
    return 0;
}
