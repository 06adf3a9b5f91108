/*
 * JWKS: an issuer's public keys, as EVP_PKEYs (issue #15).
 *
 * Keys are built from their parameters with EVP_PKEY_fromdata (RSA n/e,
 * EC x/y on a named curve) or as raw Ed25519 public keys, and checked
 * once here: RSA at least 2048 bits, EC points on their curve. The
 * token side (ds_jwt.c) only looks keys up.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "ds_jwt_int.h"

#define DS_JWK_MAX_KEYS     64
#define DS_JWK_MAX_B64      2048    /* 8192-bit RSA modulus: 1366 */
#define DS_JWK_RSA_MIN      2048


static int
ds_b64url_value(int c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '-') {
        return 62;
    }
    if (c == '_') {
        return 63;
    }
    return -1;
}


long
ds_jwt_b64url_decode(const char *in, size_t len, unsigned char *out)
{
    size_t    i, o;
    int       v, bits;
    uint32_t  acc;

    if (len % 4 == 1) {
        return -1;
    }

    acc = 0;
    bits = 0;
    o = 0;

    for (i = 0; i < len; i++) {
        v = ds_b64url_value((unsigned char) in[i]);
        if (v < 0) {
            return -1;
        }

        acc = (acc << 6) | (uint32_t) v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char) (acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }

    /* the bits past the last byte must be zero: one encoding per value */
    if (acc != 0) {
        return -1;
    }

    return (long) o;
}


/* a base64url member into a fresh buffer; NULL if absent or bad */
static unsigned char *
ds_jwk_member(json_t *jwk, const char *name, size_t *n)
{
    long            r;
    size_t          len;
    const char     *s;
    unsigned char  *buf;

    s = json_string_value(json_object_get(jwk, name));
    if (s == NULL) {
        return NULL;
    }

    len = strlen(s);
    if (len == 0 || len > DS_JWK_MAX_B64) {
        return NULL;
    }

    buf = malloc(len * 3 / 4 + 1);
    if (buf == NULL) {
        return NULL;
    }

    r = ds_jwt_b64url_decode(s, len, buf);
    if (r <= 0) {
        free(buf);
        return NULL;
    }

    *n = (size_t) r;
    return buf;
}


static EVP_PKEY *
ds_jwk_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY      *pkey;
    OSSL_PARAM    *params;
    EVP_PKEY_CTX  *ctx;

    pkey = NULL;
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);

    if (params == NULL || ctx == NULL
        || EVP_PKEY_fromdata_init(ctx) <= 0
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
    {
        pkey = NULL;
    }

    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);

    return pkey;
}


static EVP_PKEY *
ds_jwk_rsa(json_t *jwk, const char **why)
{
    size_t           nn, ne;
    BIGNUM          *bn, *be;
    EVP_PKEY        *pkey;
    unsigned char   *n, *e;
    OSSL_PARAM_BLD  *bld;

    pkey = NULL;
    bn = NULL;
    be = NULL;
    bld = NULL;
    *why = "an RSA key needs base64url n and e";

    n = ds_jwk_member(jwk, "n", &nn);
    e = ds_jwk_member(jwk, "e", &ne);
    if (n == NULL || e == NULL || ne > 8) {
        goto done;
    }

    bn = BN_bin2bn(n, (int) nn, NULL);
    be = BN_bin2bn(e, (int) ne, NULL);
    bld = OSSL_PARAM_BLD_new();

    if (bn == NULL || be == NULL || bld == NULL) {
        goto done;
    }

    /*
     * fromdata takes any numbers; e = 1 (or an even e or n) would let
     * anyone "sign", since verification would be the identity
     */
    if (!BN_is_odd(bn) || !BN_is_odd(be) || BN_is_one(be)) {
        *why = "an RSA key needs an odd n and an odd e >= 3";
        goto done;
    }

    *why = "OpenSSL could not build the RSA key";

    if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn)
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
    {
        goto done;
    }

    pkey = ds_jwk_fromdata("RSA", bld);
    if (pkey == NULL) {
        goto done;
    }

    if (EVP_PKEY_get_bits(pkey) < DS_JWK_RSA_MIN) {
        *why = "an RSA key is shorter than 2048 bits";
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }

done:

    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    free(n);
    free(e);

    return pkey;
}


static EVP_PKEY *
ds_jwk_ec(json_t *jwk, ds_jwk_type_t type, const char **why)
{
    size_t           nx, ny, size;
    EVP_PKEY        *pkey;
    const char      *group;
    EVP_PKEY_CTX    *ctx;
    unsigned char   *x, *y, point[1 + 2 * 48];
    OSSL_PARAM_BLD  *bld;

    pkey = NULL;
    bld = NULL;
    size = (type == DS_JWK_EC_P256) ? 32 : 48;
    group = (type == DS_JWK_EC_P256) ? "P-256" : "P-384";
    *why = "an EC key needs x and y of its curve's size";

    x = ds_jwk_member(jwk, "x", &nx);
    y = ds_jwk_member(jwk, "y", &ny);
    if (x == NULL || y == NULL || nx != size || ny != size) {
        goto done;
    }

    point[0] = 0x04;    /* uncompressed */
    memcpy(point + 1, x, size);
    memcpy(point + 1 + size, y, size);

    *why = "an EC key is not a point on its curve";
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL
        || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                            group, 0)
        || !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                             point, 1 + 2 * size))
    {
        goto done;
    }

    pkey = ds_jwk_fromdata("EC", bld);
    if (pkey == NULL) {
        goto done;
    }

    /* fromdata may take any coordinates; an invalid point is an attack */
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (ctx == NULL || EVP_PKEY_public_check(ctx) != 1) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    EVP_PKEY_CTX_free(ctx);

done:

    OSSL_PARAM_BLD_free(bld);
    free(x);
    free(y);

    return pkey;
}


static EVP_PKEY *
ds_jwk_ed25519(json_t *jwk, const char **why)
{
    size_t          nx;
    EVP_PKEY       *pkey;
    unsigned char  *x;

    *why = "an Ed25519 key needs a 32-byte x";

    x = ds_jwk_member(jwk, "x", &nx);
    if (x == NULL || nx != 32) {
        free(x);
        return NULL;
    }

    pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, nx);
    free(x);

    return pkey;
}


/* the type a JWK's alg demands of its kty/crv */
int
ds_jwk_alg_fits(unsigned alg, ds_jwk_type_t type)
{
    switch (alg) {
    case DS_JWT_RS256:
    case DS_JWT_RS384:
    case DS_JWT_RS512:
    case DS_JWT_PS256:
        return type == DS_JWK_RSA;
    case DS_JWT_ES256:
        return type == DS_JWK_EC_P256;
    case DS_JWT_ES384:
        return type == DS_JWK_EC_P384;
    case DS_JWT_EDDSA:
        return type == DS_JWK_ED25519;
    }

    return 0;
}


/* 1 parsed into k, 0 skipped, -1 failed (why says how) */
static int
ds_jwk_parse(json_t *jwk, ds_jwk_t *k, const char **why)
{
    const char  *kty, *crv, *use, *alg, *kid;

    if (!json_is_object(jwk)) {
        *why = "a key is not an object";
        return -1;
    }

    kty = json_string_value(json_object_get(jwk, "kty"));
    crv = json_string_value(json_object_get(jwk, "crv"));
    use = json_string_value(json_object_get(jwk, "use"));
    alg = json_string_value(json_object_get(jwk, "alg"));
    kid = json_string_value(json_object_get(jwk, "kid"));

    if (kty == NULL) {
        *why = "a key has no kty";
        return -1;
    }

    /* encryption keys and types we do not verify with are not ours */
    if (use != NULL && strcmp(use, "sig") != 0) {
        return 0;
    }

    if (strcmp(kty, "RSA") == 0) {
        k->type = DS_JWK_RSA;

    } else if (strcmp(kty, "EC") == 0 && crv != NULL
               && strcmp(crv, "P-256") == 0)
    {
        k->type = DS_JWK_EC_P256;

    } else if (strcmp(kty, "EC") == 0 && crv != NULL
               && strcmp(crv, "P-384") == 0)
    {
        k->type = DS_JWK_EC_P384;

    } else if (strcmp(kty, "OKP") == 0 && crv != NULL
               && strcmp(crv, "Ed25519") == 0)
    {
        k->type = DS_JWK_ED25519;

    } else {
        return 0;
    }

    k->alg = 0;
    if (alg != NULL) {
        k->alg = ds_jwt_alg_bit(alg);
        if (k->alg == 0) {
            /* an HS or unknown alg on an asymmetric key: not ours */
            return 0;
        }
        if (!ds_jwk_alg_fits(k->alg, k->type)) {
            *why = "a key's alg does not fit its kty/crv";
            return -1;
        }
    }

    switch (k->type) {
    case DS_JWK_RSA:
        k->pkey = ds_jwk_rsa(jwk, why);
        break;
    case DS_JWK_EC_P256:
    case DS_JWK_EC_P384:
        k->pkey = ds_jwk_ec(jwk, k->type, why);
        break;
    case DS_JWK_ED25519:
        k->pkey = ds_jwk_ed25519(jwk, why);
        break;
    }

    if (k->pkey == NULL) {
        return -1;
    }

    k->kid = NULL;
    if (kid != NULL) {
        k->kid = strdup(kid);
        if (k->kid == NULL) {
            EVP_PKEY_free(k->pkey);
            *why = "out of memory";
            return -1;
        }
    }

    return 1;
}


ds_jwks_t *
ds_jwks_parse(const char *buf, size_t len, char *err, size_t err_len)
{
    int           r;
    size_t        i, j, n;
    json_t       *doc, *keys;
    ds_jwks_t    *ks;
    const char   *why;
    json_error_t  jerr;

    ks = NULL;
    why = NULL;

    doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        snprintf(err, err_len, "not JSON: %s (line %d)", jerr.text,
                 jerr.line);
        return NULL;
    }

    keys = json_object_get(doc, "keys");
    n = json_array_size(keys);
    if (!json_is_array(keys) || n == 0 || n > DS_JWK_MAX_KEYS) {
        snprintf(err, err_len, "\"keys\" must be an array of 1 to %d keys",
                 DS_JWK_MAX_KEYS);
        goto fail;
    }

    ks = calloc(1, sizeof(ds_jwks_t));
    if (ks == NULL || (ks->keys = calloc(n, sizeof(ds_jwk_t))) == NULL) {
        why = "out of memory";
        goto failw;
    }

    for (i = 0; i < n; i++) {
        r = ds_jwk_parse(json_array_get(keys, i), &ks->keys[ks->n], &why);
        if (r < 0) {
            snprintf(err, err_len, "key %zu: %s", i, why);
            goto fail;
        }

        if (r == 0) {
            continue;
        }

        /* a kid names one key: a duplicate would make lookup ambiguous */
        for (j = 0; j < ks->n; j++) {
            if (ks->keys[j].kid != NULL && ks->keys[ks->n].kid != NULL
                && strcmp(ks->keys[j].kid, ks->keys[ks->n].kid) == 0)
            {
                ks->n++;
                snprintf(err, err_len, "key %zu: kid \"%s\" twice", i,
                         ks->keys[j].kid);
                goto fail;
            }
        }

        ks->n++;
    }

    if (ks->n == 0) {
        snprintf(err, err_len, "no signature key we can verify with");
        goto fail;
    }

    json_decref(doc);
    return ks;

failw:

    snprintf(err, err_len, "%s", why);

fail:

    json_decref(doc);
    ds_jwks_free(ks);

    return NULL;
}


void
ds_jwks_free(ds_jwks_t *ks)
{
    size_t  i;

    if (ks == NULL) {
        return;
    }

    for (i = 0; i < ks->n; i++) {
        EVP_PKEY_free(ks->keys[i].pkey);
        free(ks->keys[i].kid);
    }

    free(ks->keys);
    free(ks);
}


size_t
ds_jwks_count(const ds_jwks_t *ks)
{
    return ks != NULL ? ks->n : 0;
}


const ds_jwk_t *
ds_jwks_find(const ds_jwks_t *ks, const char *kid)
{
    size_t  i;

    if (ks == NULL) {
        return NULL;
    }

    if (kid == NULL) {
        return ks->n == 1 ? &ks->keys[0] : NULL;
    }

    for (i = 0; i < ks->n; i++) {
        if (ks->keys[i].kid != NULL && strcmp(ks->keys[i].kid, kid) == 0) {
            return &ks->keys[i];
        }
    }

    return NULL;
}
