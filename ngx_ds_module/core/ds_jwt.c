/*
 * JWT bearer tokens: parse, verify, match (issue #15).
 *
 * Nothing in a token is trusted before its signature verifies with a key
 * the operator configured for the issuer: the header picks the key by
 * kid, never supplies one. The algorithm must be on the issuer's list
 * and fit the key (kty, crv and the key's own alg), so no RSA public key
 * can be used as an HMAC secret and no key verifies under another
 * family's algorithm.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "ds_jwt_int.h"


static const char *ds_jwt_rc_names[DS_JWT_RC_COUNT] = {
    "ok", "malformed", "too_long", "duplicate", "crit", "alg_none",
    "alg_hmac", "alg_unknown", "alg_denied", "alg_key", "key_unknown",
    "sig_length", "bad_signature", "issuer", "exp_missing", "expired",
    "not_yet_valid", "lifetime", "audience", "subject", "internal"
};

static const struct {
    const char  *name;
    unsigned     bit;
} ds_jwt_algs[] = {
    { "RS256", DS_JWT_RS256 },
    { "RS384", DS_JWT_RS384 },
    { "RS512", DS_JWT_RS512 },
    { "PS256", DS_JWT_PS256 },
    { "ES256", DS_JWT_ES256 },
    { "ES384", DS_JWT_ES384 },
    { "EdDSA", DS_JWT_EDDSA },
};

#define DS_JWT_NALGS  (sizeof(ds_jwt_algs) / sizeof(ds_jwt_algs[0]))

/* NumericDate beyond this is not a time (2^53: doubles stay exact) */
#define DS_JWT_TIME_MAX  9007199254740992.0


const char *
ds_jwt_rc_name(ds_jwt_rc_t rc)
{
    if ((unsigned) rc >= DS_JWT_RC_COUNT) {
        return "internal";
    }

    return ds_jwt_rc_names[rc];
}


unsigned
ds_jwt_alg_bit(const char *name)
{
    size_t  i;

    for (i = 0; i < DS_JWT_NALGS; i++) {
        if (strcmp(ds_jwt_algs[i].name, name) == 0) {
            return ds_jwt_algs[i].bit;
        }
    }

    return 0;
}


const char *
ds_jwt_alg_name(unsigned bit)
{
    size_t  i;

    for (i = 0; i < DS_JWT_NALGS; i++) {
        if (ds_jwt_algs[i].bit == bit) {
            return ds_jwt_algs[i].name;
        }
    }

    return NULL;
}


static int
ds_jwt_b64url_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '-' || c == '_';
}


int
ds_jwt_looks_like(const char *s, size_t len)
{
    size_t  i, dots, seg;

    if (len == 0 || len > DS_JWT_MAX_LEN) {
        return 0;
    }

    dots = 0;
    seg = 0;

    for (i = 0; i < len; i++) {
        if (s[i] == '.') {
            /* header and claims are never empty; alg none's sig is */
            if (seg == 0 || ++dots > 2) {
                return 0;
            }
            seg = 0;
            continue;
        }

        if (!ds_jwt_b64url_char((unsigned char) s[i])) {
            return 0;
        }
        seg++;
    }

    return dots == 2;
}


/* a segment decoded and read as a JSON object */
static ds_jwt_rc_t
ds_jwt_json(const char *s, size_t len, json_t **out)
{
    long            n;
    json_t         *j;
    unsigned char  *buf;
    json_error_t    jerr;

    buf = malloc(len * 3 / 4 + 1);
    if (buf == NULL) {
        return DS_JWT_INTERNAL;
    }

    n = ds_jwt_b64url_decode(s, len, buf);
    if (n <= 0) {
        free(buf);
        return DS_JWT_MALFORMED;
    }

    j = json_loadb((const char *) buf, (size_t) n, JSON_REJECT_DUPLICATES,
                   &jerr);
    free(buf);

    if (j == NULL) {
        return json_error_code(&jerr) == json_error_duplicate_key
               ? DS_JWT_DUPLICATE : DS_JWT_MALFORMED;
    }

    if (!json_is_object(j)) {
        json_decref(j);
        return DS_JWT_MALFORMED;
    }

    *out = j;
    return DS_JWT_OK;
}


/* -1 a claim that is there but not a NumericDate, 0 absent, 1 read */
static int
ds_jwt_time(json_t *claims, const char *name, int64_t *out)
{
    double   d;
    json_t  *v;

    v = json_object_get(claims, name);
    if (v == NULL) {
        return 0;
    }

    if (!json_is_number(v)) {
        return -1;
    }

    d = json_number_value(v);
    if (!(d >= 0) || d > DS_JWT_TIME_MAX) {
        return -1;
    }

    /* d >= 0: truncation is floor, and no libm */
    *out = (int64_t) d;
    return 1;
}


/* a member that must be a string when present: -1 if it is not */
static int
ds_jwt_str(json_t *obj, const char *name, const char **out)
{
    json_t  *v;

    *out = NULL;
    v = json_object_get(obj, name);
    if (v == NULL) {
        return 0;
    }

    if (!json_is_string(v)) {
        return -1;
    }

    *out = json_string_value(v);
    return 1;
}


ds_jwt_rc_t
ds_jwt_parse(const char *s, size_t len, ds_jwt_t *jwt)
{
    int          r;
    long         n;
    const char  *d1, *d2;
    ds_jwt_rc_t  rc;

    memset(jwt, 0, sizeof(ds_jwt_t));

    if (len > DS_JWT_MAX_LEN) {
        return DS_JWT_TOO_LONG;
    }

    if (!ds_jwt_looks_like(s, len)) {
        return DS_JWT_MALFORMED;
    }

    d1 = memchr(s, '.', len);
    d2 = memchr(d1 + 1, '.', len - (size_t) (d1 + 1 - s));

    rc = ds_jwt_json(s, (size_t) (d1 - s), &jwt->header);
    if (rc != DS_JWT_OK) {
        goto fail;
    }

    rc = ds_jwt_json(d1 + 1, (size_t) (d2 - d1 - 1), &jwt->claims);
    if (rc != DS_JWT_OK) {
        goto fail;
    }

    rc = DS_JWT_MALFORMED;

    if (ds_jwt_str(jwt->header, "alg", &jwt->alg) != 1
        || ds_jwt_str(jwt->header, "kid", &jwt->kid) < 0
        || ds_jwt_str(jwt->claims, "iss", &jwt->iss) < 0
        || ds_jwt_str(jwt->claims, "jti", &jwt->jti) < 0)
    {
        goto fail;
    }

    /* an extension we must understand and do not: RFC 7515 4.1.11 */
    if (json_object_get(jwt->header, "crit") != NULL) {
        rc = DS_JWT_CRIT;
        goto fail;
    }

    r = ds_jwt_time(jwt->claims, "exp", &jwt->exp);
    if (r < 0) {
        goto fail;
    }
    jwt->has_exp = r;

    r = ds_jwt_time(jwt->claims, "nbf", &jwt->nbf);
    if (r < 0) {
        goto fail;
    }
    jwt->has_nbf = r;

    r = ds_jwt_time(jwt->claims, "iat", &jwt->iat);
    if (r < 0) {
        goto fail;
    }
    jwt->has_iat = r;

    jwt->input = s;
    jwt->input_len = (size_t) (d2 - s);

    len -= (size_t) (d2 + 1 - s);
    jwt->sig = malloc(len * 3 / 4 + 1);
    if (jwt->sig == NULL) {
        rc = DS_JWT_INTERNAL;
        goto fail;
    }

    n = ds_jwt_b64url_decode(d2 + 1, len, jwt->sig);
    if (n < 0) {
        goto fail;
    }
    jwt->sig_len = (size_t) n;

    return DS_JWT_OK;

fail:

    ds_jwt_free(jwt);
    return rc;
}


void
ds_jwt_free(ds_jwt_t *jwt)
{
    json_decref(jwt->header);
    json_decref(jwt->claims);
    free(jwt->sig);
    memset(jwt, 0, sizeof(ds_jwt_t));
}


/* JOSE's raw R || S (RFC 7518 3.4) as the DER OpenSSL verifies */
static unsigned char *
ds_jwt_ecdsa_der(const unsigned char *sig, size_t half, int *der_len)
{
    BIGNUM         *r, *s;
    ECDSA_SIG      *es;
    unsigned char  *der;

    der = NULL;
    r = BN_bin2bn(sig, (int) half, NULL);
    s = BN_bin2bn(sig + half, (int) half, NULL);
    es = ECDSA_SIG_new();

    if (r == NULL || s == NULL || es == NULL || !ECDSA_SIG_set0(es, r, s)) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return NULL;
    }

    *der_len = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);

    if (*der_len <= 0) {
        OPENSSL_free(der);
        return NULL;
    }

    return der;
}


static const EVP_MD *
ds_jwt_md(unsigned alg)
{
    switch (alg) {
    case DS_JWT_RS256:
    case DS_JWT_PS256:
    case DS_JWT_ES256:
        return EVP_sha256();
    case DS_JWT_RS384:
    case DS_JWT_ES384:
        return EVP_sha384();
    case DS_JWT_RS512:
        return EVP_sha512();
    }

    /* EdDSA hashes inside the algorithm */
    return NULL;
}


static ds_jwt_rc_t
ds_jwt_signature(const ds_jwt_t *jwt, const ds_jwk_t *key, unsigned alg)
{
    int             r, der_len;
    size_t          half, sig_len;
    EVP_MD_CTX     *md;
    EVP_PKEY_CTX   *pctx;
    unsigned char  *der;
    const unsigned char  *sig;

    der = NULL;
    sig = jwt->sig;
    sig_len = jwt->sig_len;

    if (alg == DS_JWT_ES256 || alg == DS_JWT_ES384) {
        half = (alg == DS_JWT_ES256) ? 32 : 48;
        if (sig_len != 2 * half) {
            return DS_JWT_SIG_LENGTH;
        }

        der = ds_jwt_ecdsa_der(sig, half, &der_len);
        if (der == NULL) {
            return DS_JWT_INTERNAL;
        }
        sig = der;
        sig_len = (size_t) der_len;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        OPENSSL_free(der);
        return DS_JWT_INTERNAL;
    }

    r = -1;
    pctx = NULL;

    if (EVP_DigestVerifyInit(md, &pctx, ds_jwt_md(alg), NULL, key->pkey)
        != 1)
    {
        goto done;
    }

    if (alg == DS_JWT_PS256
        && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1
            || EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1
            || EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST)
               != 1))
    {
        goto done;
    }

    r = EVP_DigestVerify(md, sig, sig_len,
                         (const unsigned char *) jwt->input, jwt->input_len);

done:

    EVP_MD_CTX_free(md);
    OPENSSL_free(der);

    if (r == 1) {
        return DS_JWT_OK;
    }

    /* 0 is a wrong signature; OpenSSL says < 0 for one it cannot parse */
    return (r == -1 && pctx == NULL) ? DS_JWT_INTERNAL
                                     : DS_JWT_BAD_SIGNATURE;
}


ds_jwt_rc_t
ds_jwt_verify(const ds_jwt_t *jwt, const ds_jwks_t *ks,
    const ds_jwt_opts_t *opts, int64_t now)
{
    int64_t          leeway, start;
    unsigned         alg;
    ds_jwt_rc_t      rc;
    const ds_jwk_t  *key;

    if (strcmp(jwt->alg, "none") == 0) {
        return DS_JWT_ALG_NONE;
    }

    if (strncmp(jwt->alg, "HS", 2) == 0) {
        return DS_JWT_ALG_HMAC;
    }

    alg = ds_jwt_alg_bit(jwt->alg);
    if (alg == 0) {
        return DS_JWT_ALG_UNKNOWN;
    }

    if ((opts->algorithms & alg) == 0) {
        return DS_JWT_ALG_DENIED;
    }

    key = ds_jwks_find(ks, jwt->kid);
    if (key == NULL) {
        return DS_JWT_KEY_UNKNOWN;
    }

    if ((key->alg != 0 && key->alg != alg)
        || !ds_jwk_alg_fits(alg, key->type))
    {
        return DS_JWT_ALG_KEY;
    }

    rc = ds_jwt_signature(jwt, key, alg);
    if (rc != DS_JWT_OK) {
        return rc;
    }

    /* from here the claims are the issuer's */

    if (jwt->iss == NULL || opts->issuer == NULL
        || strcmp(jwt->iss, opts->issuer) != 0)
    {
        return DS_JWT_ISSUER;
    }

    if (!jwt->has_exp) {
        return DS_JWT_EXP_MISSING;
    }

    leeway = opts->leeway;

    /* RFC 7519 4.1.4: not accepted on or after exp */
    if (now >= jwt->exp + leeway) {
        return DS_JWT_EXPIRED;
    }

    if ((jwt->has_nbf && jwt->nbf > now + leeway)
        || (jwt->has_iat && jwt->iat > now + leeway))
    {
        return DS_JWT_NOT_YET_VALID;
    }

    if (opts->max_lifetime > 0) {
        start = jwt->has_iat ? jwt->iat : (jwt->has_nbf ? jwt->nbf : now);
        if (jwt->exp - start > opts->max_lifetime) {
            return DS_JWT_LIFETIME;
        }
    }

    return DS_JWT_OK;
}


static int
ds_jwt_in(const char *s, const char *const *values, size_t n,
    const char **matched)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (strcmp(s, values[i]) == 0) {
            if (matched != NULL) {
                *matched = values[i];
            }
            return 1;
        }
    }

    return 0;
}


int
ds_jwt_aud_match(const ds_jwt_t *jwt, const char *const *auds, size_t n)
{
    return ds_jwt_claim_match(jwt, "aud", auds, n, 1, NULL);
}


int
ds_jwt_claim_match(const ds_jwt_t *jwt, const char *claim,
    const char *const *values, size_t n, int arrays, const char **matched)
{
    size_t   i;
    json_t  *v, *m;

    v = json_object_get(jwt->claims, claim);

    if (json_is_string(v)) {
        return ds_jwt_in(json_string_value(v), values, n, matched);
    }

    if (!arrays) {
        return 0;
    }

    json_array_foreach(v, i, m) {
        if (json_is_string(m)
            && ds_jwt_in(json_string_value(m), values, n, matched))
        {
            return 1;
        }
    }

    return 0;
}


void
ds_jwt_token_id(const ds_jwt_t *jwt, const char *token, size_t len,
    char *out, size_t out_len)
{
    size_t          i, o;
    unsigned int    md_len;
    unsigned char   md[EVP_MAX_MD_SIZE];
    const char     *kid;
    unsigned char   c;
    static const char  hex[] = "0123456789abcdef";
    char            safe[33];

    if (jwt->jti != NULL) {
        token = jwt->jti;
        len = strlen(jwt->jti);
    }

    if (EVP_Digest(token, len, md, &md_len, EVP_sha256(), NULL) != 1) {
        memset(md, 0, sizeof(md));
    }

    /* the kid goes into logs and variables: only a tame subset of it */
    kid = jwt->kid != NULL ? jwt->kid : "-";
    for (i = 0, o = 0; kid[i] != '\0' && o < sizeof(safe) - 1; i++) {
        c = (unsigned char) kid[i];
        safe[o++] = (ds_jwt_b64url_char(c) || c == '.') ? (char) c : '_';
    }
    safe[o] = '\0';

    o = (size_t) snprintf(out, out_len, "jwt:%s:", safe);
    for (i = 0; i < 8 && o + 2 < out_len; i++) {
        out[o++] = hex[md[i] >> 4];
        out[o++] = hex[md[i] & 0x0f];
    }
    if (o < out_len) {
        out[o] = '\0';
    }
}
