/*
 * Keys of an issuer with a "jwks_uri" (issue #15): fetched at run time
 * by the nginx shell (a subrequest), kept per worker in the worker's
 * copy of the policy. The core decides when a fetch is due and swaps a
 * good document in; a failed or garbled fetch keeps the last good keys.
 */

#ifndef DS_JWKS_LIVE_H
#define DS_JWKS_LIVE_H

#include <stddef.h>
#include <stdint.h>

#include "ds_policy.h"

typedef struct ds_issuer_s  ds_issuer_t;

/* 1 if some issuer of the policy names a jwks_uri */
int ds_jwks_any_uri(const ds_policy_t *p);

/*
 * The issuer whose keys must be fetched before this bearer is judged,
 * marked in flight, or NULL: not a JWT, no such issuer, no jwks_uri, a
 * fetch already in flight, or keys that are fresh (younger than ttl_ms)
 * and hold the token's kid. A fetch is started at most once per gap_ms
 * per issuer (missing keys, an unknown kid or stale keys alike).
 */
ds_issuer_t *ds_jwks_wanted(const ds_policy_t *p, const char *tok,
    size_t len, int64_t now_ms, int64_t ttl_ms, int64_t gap_ms);

/*
 * ds_jwks_wanted(), and, when it returns NULL because that issuer's
 * fetch is in flight and the token needs its keys (none yet, or not
 * the token's kid), the issuer in *wait (else NULL): the caller waits
 * for that fetch to end rather than judge the token without its keys.
 *
 * digest, when not NULL, receives the token's SHA-256 (*digested = 1)
 * for ds_facts_t.token_digest: a token the verified-token cache holds
 * under keys still fresh needs no fetch and is not parsed here.
 */
ds_issuer_t *ds_jwks_due(const ds_policy_t *p, const char *tok,
    size_t len, int64_t now_ms, int64_t ttl_ms, int64_t gap_ms,
    ds_issuer_t **wait, unsigned char digest[32], int *digested);

const char *ds_jwks_uri(const ds_issuer_t *is);
const char *ds_jwks_issuer(const ds_issuer_t *is);

/*
 * The fetch ended: buf is the document (NULL: the fetch failed). 0 and
 * the new keys in place, or -1 with why in err and the old keys kept.
 */
int ds_jwks_fetched(ds_issuer_t *is, const char *buf, size_t len,
    int64_t now_ms, char *err, size_t err_len);

#endif /* DS_JWKS_LIVE_H */
