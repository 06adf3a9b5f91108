/*
 * JWT bearer tokens from a recipient's own identity provider (issue #15).
 *
 * Compact JWS only (no JWE, no JSON serialisation), signed with an
 * asymmetric algorithm from a per-issuer allow-list; keys come from a
 * JWKS the operator configured, never from the token (jku, x5u, jwk and
 * x5c headers are ignored). Plain C on OpenSSL 3 EVP and jansson, shared
 * by the module and dsctl.
 *
 * Use: ds_jwt_looks_like() on the bearer; ds_jwt_parse() decodes it
 * without trusting it, which gives the issuer to look up; then
 * ds_jwt_verify() with that issuer's keys and options; then
 * ds_jwt_aud_match() and ds_jwt_claim_match() against the recipients'
 * federation entries.
 */

#ifndef DS_JWT_H
#define DS_JWT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* a bearer longer than this is not read as a JWT at all */
#define DS_JWT_MAX_LEN      4096    /* DS_TOKEN_MAX: the bearer cap */
#define DS_JWT_LEEWAY       60

/* algorithms, as bits of an allow-list */
#define DS_JWT_RS256        0x01u
#define DS_JWT_RS384        0x02u
#define DS_JWT_RS512        0x04u
#define DS_JWT_PS256        0x08u
#define DS_JWT_ES256        0x10u
#define DS_JWT_ES384        0x20u
#define DS_JWT_EDDSA        0x40u
#define DS_JWT_ALG_ALL      0x7fu


/* every way a token fails, distinct */
typedef enum {
    DS_JWT_OK = 0,
    DS_JWT_MALFORMED,       /* not three strict base64url parts of JSON */
    DS_JWT_TOO_LONG,        /* over DS_JWT_MAX_LEN */
    DS_JWT_DUPLICATE,       /* a member twice in header or claims */
    DS_JWT_CRIT,            /* a crit header: no extension is understood */
    DS_JWT_ALG_NONE,        /* alg none */
    DS_JWT_ALG_HMAC,        /* HS256/384/512: a shared secret */
    DS_JWT_ALG_UNKNOWN,     /* an alg name not implemented */
    DS_JWT_ALG_DENIED,      /* a known alg outside the issuer's list */
    DS_JWT_ALG_KEY,         /* the key's kty/alg/crv/use disagree */
    DS_JWT_KEY_UNKNOWN,     /* no key with that kid (or no kid, many keys) */
    DS_JWT_SIG_LENGTH,      /* ES signature not 2 * the curve's size */
    DS_JWT_BAD_SIGNATURE,
    DS_JWT_ISSUER,          /* iss missing or not the expected one */
    DS_JWT_EXP_MISSING,     /* exp is required */
    DS_JWT_EXPIRED,
    DS_JWT_NOT_YET_VALID,   /* nbf (or iat) later than now + leeway */
    DS_JWT_LIFETIME,        /* longer-lived than the issuer allows */
    DS_JWT_AUDIENCE,        /* no aud matches */
    DS_JWT_SUBJECT,         /* the subject claim matches no value */
    DS_JWT_INTERNAL,        /* OpenSSL or memory failed */
    DS_JWT_RC_COUNT
} ds_jwt_rc_t;

/* a short stable name ("expired", "bad_signature", ...) */
const char *ds_jwt_rc_name(ds_jwt_rc_t rc);


/* "RS256" ... "EdDSA" to its bit, 0 if not one we implement */
unsigned ds_jwt_alg_bit(const char *name);
const char *ds_jwt_alg_name(unsigned bit);


/* a key set; keys are immutable once parsed */
typedef struct ds_jwks_s  ds_jwks_t;

/*
 * Parse a JWKS document ({"keys": [...]}). Keys with "use": "enc" and
 * key types not implemented (oct, ...) are skipped; a key of a type we
 * do implement that is malformed, an RSA key under 2048 bits, or an EC
 * point off its curve fails the whole set: the operator must hear of it.
 * NULL with a message in err on failure; an empty set is a failure.
 */
ds_jwks_t *ds_jwks_parse(const char *buf, size_t len, char *err,
    size_t err_len);
void ds_jwks_free(ds_jwks_t *ks);
size_t ds_jwks_count(const ds_jwks_t *ks);


/* a decoded token: what ds_jwt_parse read, untrusted until verified */
typedef struct {
    json_t         *header;
    json_t         *claims;
    const char     *alg;        /* into header */
    const char     *kid;        /* into header, NULL if absent */
    const char     *iss;        /* into claims, NULL if absent */
    const char     *jti;        /* into claims, NULL if absent */
    int64_t         exp;        /* seconds; 0 if absent */
    int64_t         nbf;
    int64_t         iat;
    unsigned        has_exp:1;
    unsigned        has_nbf:1;
    unsigned        has_iat:1;

    /* the signing input and the decoded signature */
    const char     *input;
    size_t          input_len;
    unsigned char  *sig;
    size_t          sig_len;
} ds_jwt_t;

/* three base64url segments separated by two dots, at most MAX_LEN */
int ds_jwt_looks_like(const char *s, size_t len);

/* DS_JWT_OK and a token to ds_jwt_free(), or an error and nothing held */
ds_jwt_rc_t ds_jwt_parse(const char *s, size_t len, ds_jwt_t *jwt);
void ds_jwt_free(ds_jwt_t *jwt);


typedef struct {
    const char     *issuer;         /* exact match of iss */
    unsigned        algorithms;     /* allow-list bits */
    int64_t         leeway;         /* seconds, for exp, nbf and iat */
    int64_t         max_lifetime;   /* seconds, 0 for no limit */
} ds_jwt_opts_t;

/*
 * Algorithm, key, signature, then iss and the times, at now (seconds).
 * The audience and the subject are the caller's (per recipient).
 */
ds_jwt_rc_t ds_jwt_verify(const ds_jwt_t *jwt, const ds_jwks_t *ks,
    const ds_jwt_opts_t *opts, int64_t now);

/* 1 if aud (a string or an array of strings) holds one of auds */
int ds_jwt_aud_match(const ds_jwt_t *jwt, const char *const *auds,
    size_t n);

/*
 * 1 if the claim named holds one of values: a string claim equal to a
 * value, or, only if arrays (aud, groups), an array claim with a string
 * member equal to one; a subject such as sub is one string, so an
 * array there matches nothing. The matched value is stored in *matched.
 */
int ds_jwt_claim_match(const ds_jwt_t *jwt, const char *claim,
    const char *const *values, size_t n, int arrays, const char **matched);

/* jwt:<kid or ->:<16 hex of sha256(jti or the whole token)>, out >= 64 */
void ds_jwt_token_id(const ds_jwt_t *jwt, const char *token, size_t len,
    char *out, size_t out_len);

#endif /* DS_JWT_H */
