/*
 * When an issuer's jwks_uri is fetched, and what a fetch leaves behind
 * (ds_jwks_live.h). Per worker state lives in the issuer itself: each
 * worker has its own copy of the policy, so nothing here is shared.
 */

#include <stdio.h>
#include <string.h>

#include "ds_jwks_live.h"
#include "ds_jwt.h"
#include "ds_jwt_int.h"
#include "ds_policy_int.h"


int
ds_jwks_any_uri(const ds_policy_t *p)
{
    size_t  i;

    for (i = 0; p != NULL && i < p->nissuers; i++) {
        if (p->issuers[i].jwks_uri != NULL) {
            return 1;
        }
    }

    return 0;
}


ds_issuer_t *
ds_jwks_wanted(const ds_policy_t *p, const char *tok, size_t len,
    int64_t now_ms, int64_t ttl_ms, int64_t gap_ms)
{
    return ds_jwks_due(p, tok, len, now_ms, ttl_ms, gap_ms, NULL, NULL,
                       NULL);
}


ds_issuer_t *
ds_jwks_due(const ds_policy_t *p, const char *tok, size_t len,
    int64_t now_ms, int64_t ttl_ms, int64_t gap_ms, ds_issuer_t **wait,
    unsigned char digest[32], int *digested)
{
    int                 due;
    ds_jwt_t            jwt;
    ds_issuer_t        *is;
    const ds_issuer_t  *cached;

    if (wait != NULL) {
        *wait = NULL;
    }

    if (digested != NULL) {
        *digested = 0;
    }

    if (tok == NULL || !ds_jwt_looks_like(tok, len)) {
        return NULL;
    }

    if (digest != NULL) {
        ds_token_digest(tok, len, digest);
        *digested = 1;

        /*
         * verified before under this issuer's current keys and not
         * expired: its kid is among them; only their age may call for
         * a fetch (at most once per ttl), else no JSON is read here
         */
        cached = ds_jwt_cache_issuer(p, digest, now_ms / 1000);

        if (cached != NULL
            && (cached->jwks_uri == NULL || cached->jwks_inflight
                || (cached->jwks_fetched_ms != 0
                    && now_ms - cached->jwks_fetched_ms < ttl_ms)))
        {
            return NULL;
        }
    }

    if (ds_jwt_parse(tok, len, &jwt) != DS_JWT_OK) {
        return NULL;
    }

    is = (ds_issuer_t *) ds_policy_find_issuer(p, jwt.iss);

    if (is == NULL || is->jwks_uri == NULL) {
        ds_jwt_free(&jwt);
        return NULL;
    }

    if (is->jwks_inflight) {
        /*
         * keys this token cannot be judged without (none yet, or not
         * its kid) are on their way: wait for them; stale keys that
         * hold the kid serve meanwhile
         */
        if (wait != NULL
            && (is->jwks == NULL || ds_jwks_find(is->jwks, jwt.kid) == NULL))
        {
            *wait = is;
        }

        ds_jwt_free(&jwt);
        return NULL;
    }

    if (is->jwks == NULL) {
        due = 1;

    } else if (is->jwks_fetched_ms == 0
               || now_ms - is->jwks_fetched_ms >= ttl_ms)
    {
        /* keys from jwks_file/jwks only, or stale: refresh them */
        due = 1;

    } else {
        due = (ds_jwks_find(is->jwks, jwt.kid) == NULL);
    }

    ds_jwt_free(&jwt);

    if (!due
        || (is->jwks_tried_ms != 0 && now_ms - is->jwks_tried_ms < gap_ms))
    {
        return NULL;
    }

    is->jwks_tried_ms = now_ms;
    is->jwks_inflight = 1;

    return is;
}


const char *
ds_jwks_uri(const ds_issuer_t *is)
{
    return is->jwks_uri;
}


const char *
ds_jwks_issuer(const ds_issuer_t *is)
{
    return is->issuer;
}


int
ds_jwks_fetched(ds_issuer_t *is, const char *buf, size_t len,
    int64_t now_ms, char *err, size_t err_len)
{
    ds_jwks_t  *ks;

    is->jwks_inflight = 0;

    if (buf == NULL) {
        snprintf(err, err_len, "the fetch failed");
        return -1;
    }

    /* the same parser and checks as jwks_file: garbage keeps old keys */
    ks = ds_jwks_parse(buf, len, err, err_len);
    if (ks == NULL) {
        return -1;
    }

    ds_jwks_free(is->jwks);
    is->jwks = ks;
    is->jwks_gen++;
    is->jwks_fetched_ms = now_ms;

    return 0;
}
