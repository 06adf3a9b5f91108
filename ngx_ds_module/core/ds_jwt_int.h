/*
 * Between ds_jwk.c (key sets) and ds_jwt.c (tokens); not for callers.
 */

#ifndef DS_JWT_INT_H
#define DS_JWT_INT_H

#include <openssl/evp.h>

#include "ds_jwt.h"

/* what a key is for, from kty and crv */
typedef enum {
    DS_JWK_RSA = 1,
    DS_JWK_EC_P256,
    DS_JWK_EC_P384,
    DS_JWK_ED25519
} ds_jwk_type_t;

typedef struct {
    char           *kid;        /* NULL if the JWK has none */
    unsigned        alg;        /* the JWK's alg bit, 0 if it names none */
    ds_jwk_type_t   type;
    EVP_PKEY       *pkey;
} ds_jwk_t;

struct ds_jwks_s {
    ds_jwk_t       *keys;
    size_t          n;
};

/*
 * Strict base64url without padding: only [A-Za-z0-9_-], no length of
 * 4k+1, and the unused low bits of the last digit zero, so each value
 * has one encoding. out needs len * 3 / 4 + 1 bytes; returns the length
 * decoded or -1.
 */
long ds_jwt_b64url_decode(const char *in, size_t len, unsigned char *out);

/* 1 if a key of type may verify alg */
int ds_jwk_alg_fits(unsigned alg, ds_jwk_type_t type);

/* the key for kid (NULL: only if the set holds exactly one) */
const ds_jwk_t *ds_jwks_find(const ds_jwks_t *ks, const char *kid);

#endif /* DS_JWT_INT_H */
