/*
 * Fleet-wide rate limits and live revocation through one Redis script.
 *
 * Pure C (OpenSSL for the script's SHA1), no nginx or hiredis headers:
 * the Lua script text, Redis key names, the limiter's parameters and
 * the parsing of the script's reply. The nginx shell sends
 *
 *   EVALSHA <sha1> 4 <limit key> <revoked flag> <revoked tokens>
 *           <revoked subjects> <token id> <subject id> <emission us>
 *           <tolerance us> <limit>
 *
 * Every key is the recipient's, with the hash tag {<recipient>}, so the
 * script touches one Redis Cluster slot (docs/redis.md, key layout).
 *
 * and the script answers {status, limit, remaining, reset_ms, retry_ms}.
 *
 * Algorithm: GCRA (generic cell rate algorithm), exact and atomic with
 * one key per limited subject holding its "theoretical arrival time"
 * (TAT) in microseconds of Redis' own clock (TIME), so clocks of the
 * nginx hosts never matter. A limit of N requests per period P with a
 * burst B admits N + B requests at once from a rested state, then one
 * request every P / N: a token bucket of N + B tokens refilled at N per
 * P. Emission interval T = ceil(P / N), tolerance = (N + B - 1) * T.
 */

#ifndef DS_GCRA_H
#define DS_GCRA_H

#include <stddef.h>
#include <stdint.h>

#include "ds_policy.h"

#define DS_GCRA_KEY_MAX     2048
#define DS_GCRA_PREFIX_MAX  64
#define DS_GCRA_ID_MAX      255       /* recipient / token id bytes */
#define DS_GCRA_SHA1_LEN    40
#define DS_GCRA_SUBJECT_ID_LEN  68   /* "sub:" + 64 hex */


/* a recipient's revocation keys */
typedef enum {
    DS_GCRA_REVOKED_RECIPIENT = 0,    /* a flag: exists = revoked */
    DS_GCRA_REVOKED_TOKENS,           /* set of token ids */
    DS_GCRA_REVOKED_SUBJECTS          /* set of subject ids */
} ds_gcra_revoked_t;


/* statuses the script answers with; values are part of the script */
typedef enum {
    DS_GCRA_ALLOWED = 0,
    DS_GCRA_LIMITED = 1,
    DS_GCRA_TOKEN_REVOKED = 2,
    DS_GCRA_RECIPIENT_REVOKED = 3
} ds_gcra_status_t;


typedef struct {
    uint64_t    emission_us;          /* 0: no limit, revocation only */
    uint64_t    tolerance_us;
    uint64_t    limit;                /* N + B, for RateLimit-Limit */
} ds_gcra_params_t;


typedef struct {
    ds_gcra_status_t  status;
    int64_t           limit;          /* 0: no limit applied */
    int64_t           remaining;
    int64_t           reset_ms;       /* until the bucket is full again */
    int64_t           retry_ms;       /* LIMITED: until the next admit */
} ds_gcra_result_t;


/* the Lua script and the lowercase hex SHA1 Redis knows it by */
const char *ds_gcra_script(void);
size_t ds_gcra_script_len(void);
int ds_gcra_script_sha1(char out[DS_GCRA_SHA1_LEN + 1]);

/* 0 and p->emission_us == 0 when rl has no limit; -1 on absurd values */
int ds_gcra_params(const ds_rate_limit_t *rl, ds_gcra_params_t *p);

/*
 * A prefix is 1..DS_GCRA_PREFIX_MAX bytes of [A-Za-z0-9._:{}-]
 * ("ds:", "{gw-eu}:"). Returns 1 if valid.
 */
int ds_gcra_prefix_valid(const char *prefix, size_t len);

/*
 * "<prefix>{<recipient>}:rl" or, share is not NULL,
 * "<prefix>{<recipient>}:rl:<share>". Both names are percent-encoded
 * outside [A-Za-z0-9._-] (so ':' cannot forge a separator, nor a brace
 * a hash tag) and the share is lowercased first (share names are
 * case-insensitive). Returns the length written (NUL-terminated) or 0
 * if it does not fit.
 */
size_t ds_gcra_limit_key(char *buf, size_t size, const char *prefix,
    const char *recipient, const char *share);

/*
 * "<prefix>{<recipient>}:revoked" (a flag), ":revoked_tokens" (set of
 * token ids), ":revoked_subjects" (set of ds_gcra_subject_id()s): in the
 * slot of the recipient's limit keys. 0 if it does not fit.
 */
size_t ds_gcra_revoked_key(char *buf, size_t size, const char *prefix,
    const char *recipient, ds_gcra_revoked_t kind);

/* "<prefix>{*}:revoked...": the SCAN MATCH pattern of one kind */
size_t ds_gcra_revoked_pattern(char *buf, size_t size, const char *prefix,
    ds_gcra_revoked_t kind);

/*
 * The recipient id (decoded) of a key ds_gcra_revoked_key() made with
 * this prefix and kind; 0 if key is not one.
 */
size_t ds_gcra_revoked_recipient(const char *key, size_t len,
    const char *prefix, ds_gcra_revoked_t kind, char *out, size_t size);

/*
 * Before the per-recipient layout: "<prefix>revoked:recipients",
 * "<prefix>revoked:tokens" (dsctl revoke migrate reads them).
 */
size_t ds_gcra_legacy_revoked_key(char *buf, size_t size,
    const char *prefix, int tokens);

/*
 * The non-secret id of a JWT identity, "sub:<hex SHA-256 of issuer,
 * NUL, subject>": what a revocation by issuer + subject stores and the
 * script looks for. size >= DS_GCRA_SUBJECT_ID_LEN + 1; 0 or -1.
 */
int ds_gcra_subject_id(char *buf, size_t size, const char *issuer,
    const char *subject);

/* "<prefix>revocations": the channel dsctl revoke announces on */
size_t ds_gcra_channel(char *buf, size_t size, const char *prefix);

/*
 * The script's reply as integers (the shell checks Redis' types). Returns
 * 0, or -1 if the reply is not one the script can give.
 */
int ds_gcra_parse_reply(const long long *v, size_t n, ds_gcra_result_t *res);

/* a Redis error reply saying the script is not cached: load it again */
int ds_gcra_is_noscript(const char *err, size_t len);

/* whole seconds, rounded up, for Retry-After and RateLimit-Reset */
int64_t ds_gcra_seconds(int64_t ms);

/*
 * Retry-After of a 429: ds_gcra_seconds(retry_ms), at least 1 (an
 * immediate retry would be refused again).
 */
int64_t ds_gcra_retry_after(const ds_gcra_result_t *res);

/*
 * The 429 message, which says how long to wait: Delta Sharing clients
 * show it but never read Retry-After. "Rate limit exceeded; retry in 3
 * seconds." Returns the length written (NUL-terminated), 0 if size is
 * too small.
 */
size_t ds_gcra_retry_message(char *buf, size_t size, int64_t seconds);

#endif /* DS_GCRA_H */
