/*
 * The decision's first step for a JWT bearer (issue #15): which
 * recipient, if any, the token is. ds_decide() asks here only when the
 * bearer is no static token of the policy; everything after the
 * recipient (status, contract, grants, purpose, country, networks, the
 * rate limit and live revocation) is the same as for static tokens.
 *
 * The token is read untrusted for its iss, which picks the issuer and
 * so the keys; after the signature and the times verify, the issuer's
 * federation entries are matched on aud and the subject claim. One
 * recipient must match: none is jwt_audience or jwt_subject, two is
 * ambiguous and also jwt_subject (fail closed).
 *
 * A token that verified and matched is kept, by the SHA-256 of its
 * bytes, in a per-process cache until its exp (+ leeway): a client
 * sends the same access token for up to an hour, and a signature
 * verification costs 50-100 times a static token's decision. Only
 * successes are kept; a cached token is still refused once expired.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ds_jwt.h"
#include "ds_policy_int.h"

#define DS_JWT_CACHE_SIZE  512      /* entries, a power of two */


typedef struct {
    unsigned char          digest[DS_DIGEST_LEN];
    const ds_issuer_t     *issuer;      /* NULL: a free slot */
    const ds_recipient_t  *recipient;
    const char            *subject;
    const char            *subject_claim;
    int64_t                exp;
    uint64_t               jwks_gen;    /* the issuer's keys it verified
                                           under (jwks_uri swaps them) */
    char                   kid[33];
    char                   jti_hash[17];
    char                   token_id[64];
} ds_jwt_cached_t;

struct ds_jwt_cache_s {
    ds_jwt_cached_t        e[DS_JWT_CACHE_SIZE];
};


static void
ds_jwt_deny(ds_verdict_t *v, ds_reason_t reason, const char *detail)
{
    v->allow = 0;
    v->reason = reason;
    v->http_status = ds_reason_http_status(reason);
    snprintf(v->detail, sizeof(v->detail), "%s",
             detail ? detail : ds_reason_message(reason));
}


/* every ds_jwt_rc_t to a reason and a message safe for the client */
static void
ds_jwt_deny_rc(ds_verdict_t *v, ds_jwt_rc_t rc)
{
    ds_reason_t  reason;
    const char  *d;

    d = NULL;

    switch (rc) {
    case DS_JWT_TOO_LONG:
    case DS_JWT_MALFORMED:
        reason = DS_REASON_JWT_MALFORMED;
        d = "The JWT is not three strict base64url parts of JSON objects "
            "with a string alg and NumericDate times";
        break;
    case DS_JWT_DUPLICATE:
        reason = DS_REASON_JWT_MALFORMED;
        d = "The JWT has a member twice in its header or claims";
        break;
    case DS_JWT_CRIT:
        reason = DS_REASON_JWT_MALFORMED;
        d = "The JWT has a crit header, which is not supported";
        break;
    case DS_JWT_EXP_MISSING:
        reason = DS_REASON_JWT_MALFORMED;
        d = "The JWT has no exp claim, which is required";
        break;
    case DS_JWT_ALG_NONE:
        reason = DS_REASON_JWT_ALG;
        d = "Unsigned JWTs (alg none) are not accepted";
        break;
    case DS_JWT_ALG_HMAC:
        reason = DS_REASON_JWT_ALG;
        d = "HMAC-signed JWTs (HS256, HS384, HS512) are not accepted";
        break;
    case DS_JWT_ALG_UNKNOWN:
    case DS_JWT_ALG_DENIED:
        reason = DS_REASON_JWT_ALG;
        d = "The JWT signing algorithm is not accepted for this issuer";
        break;
    case DS_JWT_ALG_KEY:
        reason = DS_REASON_JWT_ALG;
        d = "The JWT signing algorithm does not fit the key its kid names";
        break;
    case DS_JWT_KEY_UNKNOWN:
        reason = DS_REASON_JWT_KEY_UNKNOWN;
        d = "No key of the issuer has the JWT's kid (or there is no kid "
            "and the issuer has several keys)";
        break;
    case DS_JWT_SIG_LENGTH:
    case DS_JWT_BAD_SIGNATURE:
        reason = DS_REASON_JWT_BAD_SIGNATURE;
        break;
    case DS_JWT_ISSUER:
        reason = DS_REASON_JWT_ISSUER_UNKNOWN;
        break;
    case DS_JWT_EXPIRED:
        reason = DS_REASON_JWT_EXPIRED;
        break;
    case DS_JWT_NOT_YET_VALID:
        reason = DS_REASON_JWT_NOT_YET_VALID;
        d = "The JWT is not valid yet (nbf or iat is in the future)";
        break;
    case DS_JWT_LIFETIME:
        reason = DS_REASON_JWT_LIFETIME;
        d = "The JWT lives longer (exp after iat or nbf) than the data "
            "provider accepts for this issuer";
        break;
    case DS_JWT_AUDIENCE:
        reason = DS_REASON_JWT_AUDIENCE;
        break;
    case DS_JWT_SUBJECT:
        reason = DS_REASON_JWT_SUBJECT;
        break;
    default:
        reason = DS_REASON_SERVER_ERROR;
        break;
    }

    ds_jwt_deny(v, reason, d);
}


/* the kid and the jti hash for the audit, from jwt:<kid>:<hash> */
static void
ds_jwt_ids(ds_verdict_t *v, const ds_jwt_t *jwt, const char *tok,
    size_t len)
{
    const char  *colon;
    size_t       n;

    ds_jwt_token_id(jwt, tok, len, v->jwt.token_id, sizeof(v->jwt.token_id));

    colon = strrchr(v->jwt.token_id, ':');
    if (colon == NULL) {
        return;
    }

    snprintf(v->jwt.jti_hash, sizeof(v->jwt.jti_hash), "%s", colon + 1);

    if (jwt->kid != NULL) {
        n = (size_t) (colon - (v->jwt.token_id + 4));
        if (n >= sizeof(v->jwt.kid)) {
            n = sizeof(v->jwt.kid) - 1;
        }
        memcpy(v->jwt.kid, v->jwt.token_id + 4, n);
        v->jwt.kid[n] = '\0';
    }
}


static ds_jwt_cached_t *
ds_jwt_slot(const ds_policy_t *p, const unsigned char *digest, int create)
{
    size_t        i;
    ds_policy_t  *mp;

    if (p->jwt_cache == NULL) {
        if (!create) {
            return NULL;
        }

        /* the policy is immutable but for this (see ds_policy_int.h) */
        mp = (ds_policy_t *) p;
        mp->jwt_cache = calloc(1, sizeof(struct ds_jwt_cache_s));
        if (mp->jwt_cache == NULL) {
            return NULL;
        }
    }

    /* the digest is uniform: its first bytes index the table */
    i = ((size_t) digest[0] << 8 | digest[1]) & (DS_JWT_CACHE_SIZE - 1);

    return &p->jwt_cache->e[i];
}


/* a verified token seen before and not expired: its recipient */
static const ds_recipient_t *
ds_jwt_cached(const ds_policy_t *p, const unsigned char *digest,
    int64_t now, ds_verdict_t *v)
{
    ds_jwt_cached_t  *c;

    c = ds_jwt_slot(p, digest, 0);

    if (c == NULL || c->issuer == NULL
        || CRYPTO_memcmp(c->digest, digest, DS_DIGEST_LEN) != 0)
    {
        return NULL;
    }

    if (now >= c->exp + c->issuer->leeway
        || c->jwks_gen != c->issuer->jwks_gen)
    {
        /* verified again, and refused as expired, on the full path */
        c->issuer = NULL;
        return NULL;
    }

    v->jwt.present = 1;
    v->jwt.issuer = c->issuer->issuer;
    v->jwt.subject = c->subject;
    v->jwt.subject_claim = c->subject_claim;
    v->jwt.exp = c->exp;
    memcpy(v->jwt.kid, c->kid, sizeof(c->kid));
    memcpy(v->jwt.jti_hash, c->jti_hash, sizeof(c->jti_hash));
    memcpy(v->jwt.token_id, c->token_id, sizeof(c->token_id));

    return c->recipient;
}


const ds_issuer_t *
ds_jwt_cache_issuer(const ds_policy_t *p,
    const unsigned char digest[DS_DIGEST_LEN], int64_t now)
{
    ds_jwt_cached_t  *c;

    c = ds_jwt_slot(p, digest, 0);

    if (c == NULL || c->issuer == NULL
        || CRYPTO_memcmp(c->digest, digest, DS_DIGEST_LEN) != 0
        || now >= c->exp + c->issuer->leeway
        || c->jwks_gen != c->issuer->jwks_gen)
    {
        return NULL;
    }

    return c->issuer;
}


static void
ds_jwt_keep(const ds_policy_t *p, const unsigned char *digest,
    const ds_issuer_t *is, const ds_recipient_t *r, const ds_verdict_t *v)
{
    ds_jwt_cached_t  *c;

    c = ds_jwt_slot(p, digest, 1);
    if (c == NULL) {
        return;
    }

    /* a newer token takes the slot: the old one verifies again */
    memcpy(c->digest, digest, DS_DIGEST_LEN);
    c->issuer = is;
    c->recipient = r;
    c->subject = v->jwt.subject;
    c->subject_claim = v->jwt.subject_claim;
    c->exp = v->jwt.exp;
    c->jwks_gen = is->jwks_gen;
    memcpy(c->kid, v->jwt.kid, sizeof(c->kid));
    memcpy(c->jti_hash, v->jwt.jti_hash, sizeof(c->jti_hash));
    memcpy(c->token_id, v->jwt.token_id, sizeof(c->token_id));
}


typedef struct {
    const ds_recipient_t  *r;
    const char            *claim;
    const char            *matched;     /* the policy's value */
    int                    ambiguous;
} ds_jwt_match_t;


/* the entries holding (claim, value) whose audience the token has */
static void
ds_jwt_lookup(const ds_issuer_t *is, const ds_jwt_t *jwt, const char *claim,
    const char *value, ds_jwt_match_t *m)
{
    int                  cmp;
    size_t               lo, hi, mid;
    const ds_fed_key_t  *key;
    const ds_fed_ref_t  *ref;

    lo = 0;
    hi = is->nkeys;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        cmp = strcmp(is->keys[mid].claim, claim);
        if (cmp == 0) {
            cmp = strcmp(is->keys[mid].value, value);
        }
        if (cmp < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }

    for ( /* void */ ; lo < is->nkeys; lo++) {
        key = &is->keys[lo];

        if (strcmp(key->claim, claim) != 0 || strcmp(key->value, value) != 0)
        {
            break;
        }

        ref = &is->refs[key->ref];

        if (!ds_jwt_aud_match(jwt, ref->fed->audiences,
                              ref->fed->naudiences))
        {
            continue;
        }

        if (m->r != NULL && m->r != ref->recipient) {
            m->ambiguous = 1;
            return;
        }

        if (m->r == NULL) {
            m->r = ref->recipient;
            m->claim = ref->fed->subject_claim;
            m->matched = key->value;
        }
    }
}


/* some entry of the issuer accepts one of the token's audiences */
static int
ds_jwt_aud_known(const ds_issuer_t *is, const ds_jwt_t *jwt)
{
    size_t       i;
    json_t      *aud, *e;
    const char  *s;

    aud = json_object_get(jwt->claims, "aud");

    if (json_is_string(aud)) {
        s = json_string_value(aud);
        return bsearch(&s, is->auds, is->nauds, sizeof(char *),
                       ds_fed_str_cmp) != NULL;
    }

    json_array_foreach(aud, i, e) {
        s = json_string_value(e);
        if (s != NULL && bsearch(&s, is->auds, is->nauds, sizeof(char *),
                                 ds_fed_str_cmp) != NULL)
        {
            return 1;
        }
    }

    return 0;
}


const ds_recipient_t *
ds_decide_jwt(const ds_policy_t *p, const ds_facts_t *f,
    const unsigned char digest[DS_DIGEST_LEN], ds_verdict_t *v,
    int *handled)
{
    size_t                 i, k;
    json_t                *c, *e;
    ds_jwt_t               jwt;
    ds_jwt_rc_t            rc;
    ds_jwt_opts_t          opts;
    const char            *claim;
    ds_jwt_match_t         m;
    const ds_issuer_t     *is;
    const ds_recipient_t  *r;
    int                    aud_ok;

    *handled = 0;

    if (!ds_jwt_looks_like(f->token, f->token_len)) {
        return NULL;
    }

    /* three dotted base64url parts: no static token is made like that */
    *handled = 1;

    r = ds_jwt_cached(p, digest, f->now_ms / 1000, v);
    if (r != NULL) {
        return r;
    }

    rc = ds_jwt_parse(f->token, f->token_len, &jwt);
    if (rc != DS_JWT_OK) {
        ds_jwt_deny_rc(v, rc);
        return NULL;
    }

    v->jwt.present = 1;
    v->jwt.exp = jwt.has_exp ? jwt.exp : 0;
    ds_jwt_ids(v, &jwt, f->token, f->token_len);

    is = ds_policy_find_issuer(p, jwt.iss);
    if (is == NULL) {
        ds_jwt_deny(v, DS_REASON_JWT_ISSUER_UNKNOWN, jwt.iss == NULL
                    ? "The JWT has no iss claim"
                    : "The JWT issuer is not trusted by this data provider");
        ds_jwt_free(&jwt);
        return NULL;
    }

    v->jwt.issuer = is->issuer;

    opts.issuer = is->issuer;
    opts.algorithms = is->algorithms;
    opts.leeway = is->leeway;
    opts.max_lifetime = is->max_lifetime;

    if (is->jwks == NULL) {
        /* a jwks_uri not fetched yet, or every fetch failed: fail closed */
        ds_jwt_deny(v, DS_REASON_JWKS_UNAVAILABLE, "The keys of the JWT "
                    "issuer could not be fetched; try again later");
        ds_jwt_free(&jwt);
        return NULL;
    }

    rc = ds_jwt_verify(&jwt, is->jwks, &opts, f->now_ms / 1000);
    if (rc != DS_JWT_OK) {
        ds_jwt_deny_rc(v, rc);
        ds_jwt_free(&jwt);
        return NULL;
    }

    memset(&m, 0, sizeof(m));

    for (k = 0; k < is->nclaims && !m.ambiguous; k++) {
        c = json_object_get(jwt.claims, is->claims[k]);

        if (json_is_string(c)) {
            ds_jwt_lookup(is, &jwt, is->claims[k], json_string_value(c), &m);
            continue;
        }

        /* membership for group claims; a subject is one string */
        if (strcmp(is->claims[k], "groups") != 0) {
            continue;
        }

        json_array_foreach(c, i, e) {
            if (json_is_string(e) && !m.ambiguous) {
                ds_jwt_lookup(is, &jwt, is->claims[k], json_string_value(e),
                              &m);
            }
        }
    }

    if (m.ambiguous) {
        ds_jwt_deny(v, DS_REASON_JWT_SUBJECT, "The JWT matches more than "
                    "one recipient; the data provider must make its "
                    "federation entries distinct");
        ds_jwt_free(&jwt);
        return NULL;
    }

    r = m.r;
    claim = m.claim;
    v->jwt.subject = m.matched;
    aud_ok = (r != NULL) || ds_jwt_aud_known(is, &jwt);

    ds_jwt_free(&jwt);

    if (r == NULL) {
        ds_jwt_deny(v, aud_ok ? DS_REASON_JWT_SUBJECT
                              : DS_REASON_JWT_AUDIENCE, NULL);
        return NULL;
    }

    v->jwt.subject_claim = claim;

    ds_jwt_keep(p, digest, is, r, v);

    return r;
}
