/*
 * Policy-as-code: model, loader and the allow/deny decision.
 *
 * Pure C (jansson, OpenSSL), no nginx headers. A loaded policy is
 * immutable and indexed: the token digest leads to its recipient in
 * O(1), so a decision costs the same for 10 or 100,000 recipients.
 */

#ifndef DS_POLICY_H
#define DS_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ds_alert.h"
#include "ds_path.h"

#define DS_ERR_MAX  1024


typedef struct ds_policy_s     ds_policy_t;
typedef struct ds_recipient_s  ds_recipient_t;
typedef struct ds_grant_s      ds_grant_t;


/*
 * Stable reason codes: they appear in audit records, $ds_reason and
 * error bodies. Never renumber or rename; append only.
 */
typedef enum {
    DS_REASON_ALLOWED = 0,
    DS_REASON_TOKEN_MISSING,
    DS_REASON_TOKEN_MALFORMED,
    DS_REASON_TOKEN_UNKNOWN,
    DS_REASON_TOKEN_NOT_YET_VALID,
    DS_REASON_TOKEN_EXPIRED,
    DS_REASON_TOKEN_REVOKED,
    DS_REASON_RECIPIENT_SUSPENDED,
    DS_REASON_RECIPIENT_REVOKED,
    DS_REASON_CONTRACT_INACTIVE,
    DS_REASON_CONTRACT_EXPIRED,
    DS_REASON_ATTESTATION_MISSING,
    DS_REASON_NOT_ENTITLED,
    DS_REASON_OPERATION_DENIED,
    DS_REASON_PURPOSE_MISSING,
    DS_REASON_PURPOSE_INVALID,
    DS_REASON_PURPOSE_DENIED,
    DS_REASON_COUNTRY_DENIED,
    DS_REASON_COUNTRY_UNKNOWN,
    DS_REASON_RATE_LIMITED,
    DS_REASON_RATE_LIMITER_UNAVAILABLE,
    DS_REASON_UNKNOWN_ENDPOINT,
    DS_REASON_BAD_REQUEST,
    DS_REASON_UPSTREAM_INVALID,         /* list body could not be filtered */
    DS_REASON_NOT_CHECKED,              /* left an enforced location
                                           without a decision of ours */
    DS_REASON_URI_REWRITTEN,            /* URI changed after/before check */
    DS_REASON_UPSTREAM_UNAVAILABLE,     /* nginx: 502 */
    DS_REASON_UPSTREAM_TIMEOUT,         /* nginx: 504 */
    DS_REASON_BODY_TOO_LARGE,           /* nginx: 413 */
    DS_REASON_URI_TOO_LONG,             /* nginx: 414 */
    DS_REASON_SERVER_DENIED,            /* nginx: other 4xx of its own */
    DS_REASON_SERVER_ERROR,             /* nginx: other 5xx of its own */
    DS_REASON_NETWORK_DENIED,           /* client address not allowed */
    DS_REASON_REVIEW_OVERDUE,           /* access review (review_by) due */
    DS_REASON_APPROVAL_EXPIRED,         /* the grant's approval ended */
    DS_REASON_FILE_LINK_INVALID,        /* file proxy: not a capability,
                                           unknown key, tampered */
    DS_REASON_FILE_LINK_EXPIRED,        /* file proxy: capability ended */
    DS_REASON_FILE_STORE_ERROR,         /* file proxy: the store refused */
    DS_REASON_FILES_PROXY_NO_DIR,       /* file proxy: no directory-wide
                                           temporary credentials */
    DS_REASON_ANOMALY_SUSPENDED,        /* an alert rule's "suspend" */
    /* JWT bearers from a recipient's identity provider (issue #15) */
    DS_REASON_JWT_MALFORMED,            /* JSON, members, crit, no exp */
    DS_REASON_JWT_EXPIRED,
    DS_REASON_JWT_NOT_YET_VALID,        /* nbf or iat in the future */
    DS_REASON_JWT_BAD_SIGNATURE,
    DS_REASON_JWT_ISSUER_UNKNOWN,       /* iss not in the policy */
    DS_REASON_JWT_AUDIENCE,             /* no federation entry's aud */
    DS_REASON_JWT_SUBJECT,              /* no (or >1) recipient matches */
    DS_REASON_JWT_ALG,                  /* none, HS*, off the list, or
                                           not the key's */
    DS_REASON_JWT_KEY_UNKNOWN,          /* no key with that kid */
    DS_REASON_JWT_LIFETIME,             /* exp too far after iat/nbf */
    DS_REASON_JWKS_UNAVAILABLE,         /* jwks_uri keys never fetched */
    DS_REASON_COUNT
} ds_reason_t;


typedef enum {
    DS_RL_SCOPE_RECIPIENT = 0,
    DS_RL_SCOPE_SHARE                   /* recipient x share */
} ds_rl_scope_t;


typedef struct {
    uint64_t        period_ms;          /* 0: no limit */
    uint64_t        requests;           /* per period */
    uint64_t        burst;              /* extra requests allowed at once */
    ds_rl_scope_t   scope;
} ds_rate_limit_t;


/* what the nginx shell (or dsctl explain) knows about one request */
typedef struct {
    ds_op_t         op;
    const char     *share;              /* decoded names, NUL-terminated */
    const char     *schema;
    const char     *table;
    const char     *token;              /* raw bearer token, NULL if none */
    size_t          token_len;
    int             token_malformed;    /* Authorization present but bad */
    const char     *token_id;           /* dsctl explain: by id, no secret */
    int64_t         now_ms;             /* 0: ds_time_now_ms() */
    const char     *country;            /* "US"; "" unknown; NULL no geo */
    const char     *purpose;            /* header value, NULL if absent */
    size_t          purpose_len;
    /*
     * the header's name as configured (ds_purpose_header), for the
     * messages that tell a client how to declare a purpose; NULL:
     * the default, "X-DS-Purpose"
     */
    const char     *purpose_header;
    size_t          purpose_header_len;
    /*
     * the client address as nginx sees it after realip; NULL or not
     * AF_INET/AF_INET6: unknown, which no network list admits
     */
    const struct sockaddr *sockaddr;
    /*
     * file proxy mode (ds_files_proxy): files go through the gateway,
     * so directory-wide cloud credentials, which would bypass it, are
     * never handed out
     */
    int             files_proxy;
    /*
     * a file link handed to a JWT recipient (issue #15) names its token
     * id, jwt:..., which no policy holds: with token_id so, the
     * recipient the link names, if it still has federation entries
     */
    const char     *jwt_recipient;
    size_t          jwt_recipient_len;
    /*
     * the SHA-256 of token, when the caller has it already (the nginx
     * shell's JWKS check, ds_jwks_due): not computed twice; NULL: the
     * decision computes it
     */
    const unsigned char *token_digest;
} ds_facts_t;


typedef struct {
    int                     allow;
    ds_reason_t             reason;
    int                     http_status;    /* 200, 401, 403, 404 */
    /*
     * set as soon as the token is known, also when it is then denied
     * (expired, suspended...) so the audit can name it; NULL when the
     * token is missing, malformed or unknown. Only allow == 1 means
     * authenticated.
     */
    const ds_recipient_t   *recipient;
    const char             *recipient_id;
    const char             *token_id;
    const char             *purpose;        /* effective, NULL if none */
    size_t                  purpose_len;
    ds_rate_limit_t         rate_limit;     /* what applies to this call */
    char                    detail[384];    /* safe for the client to see */

    /*
     * a JWT bearer (issue #15), as far as it was read: present once it
     * parsed; issuer once its iss is a configured issuer (the policy's
     * copy); subject once a federation entry matched (the policy's
     * value). token_id above then points to token_id here. The token
     * itself is never kept.
     */
    struct {
        unsigned            present:1;
        const char         *issuer;
        const char         *subject;
        const char         *subject_claim;  /* "sub", "groups" ... */
        char                kid[33];        /* tame subset; "" none */
        char                jti_hash[17];   /* of jti, or the token */
        int64_t             exp;            /* seconds; 0 none */
        char                token_id[64];   /* jwt:<kid>:<jti_hash> */
    } jwt;
} ds_verdict_t;


/*
 * path: a file, or a directory whose *.json files are merged (in name
 * order). On error returns NULL and writes "file:line:col: reason" or
 * "file: $.recipients[2].tokens[0].sha256: reason" into err.
 */
ds_policy_t *ds_policy_load(const char *path, char *err, size_t err_size);

/* same from memory (fuzzing, tests); name is used in messages */
ds_policy_t *ds_policy_load_buffer(const char *name, const char *data,
    size_t len, char *err, size_t err_size);

void ds_policy_free(ds_policy_t *p);

/* hex SHA-256 over the policy sources: the "policy version" */
const char *ds_policy_digest(const ds_policy_t *p);
size_t ds_policy_recipient_count(const ds_policy_t *p);

void ds_decide(const ds_policy_t *p, const ds_facts_t *f, ds_verdict_t *v);

/*
 * Body filter: may this recipient see this list item? share/schema/table
 * may be NULL for list levels above them.
 */
int ds_policy_visible(const ds_recipient_t *r, const char *share,
    const char *schema, const char *table);

/* the same with names of given lengths (not NUL-terminated) */
int ds_policy_visible_n(const ds_recipient_t *r, const char *share,
    size_t share_len, const char *schema, size_t schema_len,
    const char *table, size_t table_len);

const char *ds_reason_name(ds_reason_t reason);   /* "token_expired" */

/* Delta Sharing errorCode for a denial: "UNAUTHENTICATED", ... */
const char *ds_reason_error_code(ds_reason_t reason);

const char *ds_recipient_id(const ds_recipient_t *r);

/* iterate (dsctl policy expiring / explain) */
size_t ds_policy_recipients(const ds_policy_t *p,
    const ds_recipient_t *const **list);

/* SHA-256 of a token as lowercase hex (65 bytes with NUL) */
void ds_token_digest_hex(const char *token, size_t len, char out[65]);

size_t ds_policy_token_count(const ds_policy_t *p);

/* by exact id (dsctl explain, live revocation by recipient id) */
const ds_recipient_t *ds_policy_find_recipient(const ds_policy_t *p,
    const char *id, size_t len);

/* the recipient's alert rules ("alerts"); 0: none */
size_t ds_policy_alerts(const ds_recipient_t *r,
    const ds_alert_rule_t **rules);

/* the HTTP status a denial with this reason answers with */
int ds_reason_http_status(ds_reason_t reason);

/* generic client-safe message for a reason (verdict.detail is finer) */
const char *ds_reason_message(ds_reason_t reason);

/*
 * The reason for an answer nginx made itself (an error page, a redirect)
 * in an enforced location, and the status the gateway answers with in
 * its place: nginx's 4xx and 5xx keep their status; a redirect would
 * send the client elsewhere with nothing checked, so it is a 404.
 */
ds_reason_t ds_reason_for_status(int status, int *answer_status);

#endif /* DS_POLICY_H */
