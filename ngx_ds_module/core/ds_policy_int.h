/*
 * The loaded policy model. Private to the core (ds_policy_load.c,
 * ds_policy_index.c, ds_decide.c) and dsctl; the nginx shell sees only
 * ds_policy.h. Everything here is immutable once loaded and lives in
 * one arena freed with the policy.
 */

#ifndef DS_POLICY_INT_H
#define DS_POLICY_INT_H

#include "ds_alert.h"
#include "ds_cidr.h"
#include "ds_policy.h"
#include "ds_time.h"

#define DS_DIGEST_LEN  32
#define DS_ID_MAX      128


typedef struct {
    const char         (*codes)[2];     /* "US" without NUL */
    size_t               n;
    unsigned             present:1;     /* the list exists in the policy */
    unsigned             unknown:1;     /* holds the keyword "unknown" */
} ds_country_list_t;


typedef struct {
    ds_country_list_t    allow;
    ds_country_list_t    deny;
} ds_country_rules_t;


/* one "allow" or "deny" list: the index and the entries as written */
typedef struct {
    ds_cidr_set_t        set;
    const char         **text;          /* for dsctl policy diff */
    size_t               ntext;
} ds_net_list_t;


typedef struct {
    ds_net_list_t        allow;
    ds_net_list_t        deny;
} ds_net_rules_t;


typedef struct {
    const char          *str;
    size_t               len;
} ds_cstr_t;


/* a grant's sign-off, required when it touches classified data */
typedef struct {
    const char          *approver;      /* "jane.doe@example.com" */
    const char          *ticket;        /* "SEC-1234" */
    int64_t              date;
    int64_t              expires;       /* DS_TIME_NONE: no expiry */
    unsigned             present:1;
} ds_approval_t;


/* "classifications": tags on shares, schemas or tables ("*": any) */
typedef struct {
    ds_cstr_t            share;
    ds_cstr_t            schema;
    ds_cstr_t            table;
    const char         **tags;          /* "PHI", "PII", "PCI" ... */
    size_t               ntags;
    const char          *source;        /* file it came from */
} ds_class_t;


typedef struct {
    const char          *type;          /* "BAA", "DPA" ... */
    int64_t              expires;       /* DS_TIME_NONE: never */
} ds_attestation_t;


typedef struct ds_jwks_s  ds_jwks_t;
typedef struct ds_issuer_s  ds_issuer_t;


/* a recipient's "federation" entry: whose JWTs are this recipient's */
typedef struct {
    const char          *issuer_name;
    const ds_issuer_t   *issuer;        /* resolved after every file */
    const char         **audiences;     /* any may match aud */
    size_t               naudiences;
    const char          *subject_claim; /* "sub", "azp", ..., "groups" */
    unsigned             membership:1;  /* an array claim (groups) */
    const char         **subjects;
    size_t               nsubjects;
} ds_federation_t;


/* one (recipient, entry) under its issuer, for the request path */
typedef struct {
    const ds_recipient_t   *recipient;
    const ds_federation_t  *fed;
    size_t                  ri;         /* indexes, for load messages */
    size_t                  fj;
} ds_fed_ref_t;


/* one (claim, value) of an entry: the issuer's index, sorted */
typedef struct {
    const char             *claim;
    const char             *value;
    size_t                  ref;        /* into the issuer's refs */
} ds_fed_key_t;


/* top-level "issuers": an identity provider trusted for JWTs */
struct ds_issuer_s {
    const char          *issuer;        /* exact iss */
    const char          *jwks_file;     /* as written, NULL if inline */
    ds_jwks_t           *jwks;          /* owned (OpenSSL keys) */
    const char          *jwks_uri;      /* fetched at run time, or NULL */
    int64_t              jwks_fetched_ms;   /* last good fetch (worker) */
    int64_t              jwks_tried_ms;     /* last fetch started */
    uint64_t             jwks_gen;      /* bumped at each swap: drops
                                           tokens verified before */
    unsigned             jwks_inflight:1;
    unsigned             algorithms;    /* DS_JWT_* bits */
    int64_t              leeway;        /* seconds */
    int64_t              max_lifetime;  /* seconds, 0: none */
    const char          *source;        /* file it came from */
    ds_fed_ref_t        *refs;          /* malloc'ed */
    size_t               nrefs;

    /*
     * the request path's index (malloc'ed): every (claim, value) of
     * the entries, sorted; every audience, sorted; the claims in use
     */
    ds_fed_key_t        *keys;
    size_t               nkeys;
    const char         **auds;
    size_t               nauds;
    const char          *claims[8];
    size_t               nclaims;
};


typedef struct {
    const char          *id;
    unsigned char        sha256[DS_DIGEST_LEN];
    int64_t              not_before;    /* DS_TIME_NONE: no bound */
    int64_t              expires;       /* exclusive; DS_TIME_NONE: never */
    const char          *purpose;       /* bound purpose, NULL if none */
    size_t               purpose_len;
    const ds_recipient_t *recipient;
} ds_token_t;


struct ds_grant_s {
    ds_cstr_t            share;         /* "*": any */
    ds_cstr_t            schema;
    ds_cstr_t            table;
    uint32_t             ops;           /* 1 << ds_op_t */
    ds_cstr_t           *purposes;      /* NULL: no purpose required */
    size_t               npurposes;
    const char         **attestations;  /* required types */
    size_t               nattestations;
    ds_country_rules_t   countries;
    int64_t              valid_from;    /* DS_TIME_NONE: no bound */
    int64_t              valid_until;   /* exclusive */
    ds_rate_limit_t      rate_limit;    /* period_ms 0: recipient's */
    ds_net_rules_t       networks;
    int64_t              review_by;     /* DS_TIME_NONE: no review due */
    ds_approval_t        approval;
};


struct ds_recipient_s {
    const char          *id;
    size_t               id_len;
    const char          *display_name;
    const char          *source;        /* file it came from */
    unsigned             suspended:1;

    const char          *contract_id;
    int64_t              valid_from;    /* DS_TIME_NONE: no bound */
    int64_t              valid_until;   /* exclusive */
    ds_attestation_t    *attestations;
    size_t               nattestations;

    ds_token_t          *tokens;
    size_t               ntokens;
    ds_grant_t          *grants;
    size_t               ngrants;
    ds_country_rules_t   countries;
    ds_rate_limit_t      rate_limit;
    ds_net_rules_t       networks;
    int64_t              review_by;     /* recertify before; then denied */
    ds_alert_rule_t     *alerts;        /* "alerts" */
    size_t               nalerts;

    ds_federation_t     *federation;    /* JWTs of its own IdP (#15) */
    size_t               nfederation;
};


/* open addressing, at most half full; entries are borrowed pointers */
typedef struct {
    const void         **slots;
    size_t               mask;
    size_t               n;
} ds_table_t;


typedef struct ds_arena_block_s  ds_arena_block_t;

typedef struct {
    ds_arena_block_t    *blocks;
    size_t               used;          /* in blocks (the newest) */
    size_t               size;
} ds_arena_t;


struct ds_policy_s {
    ds_arena_t           arena;
    ds_recipient_t     **recipients;    /* load order */
    size_t               nrecipients;
    size_t               cap_recipients;

    ds_table_t           by_digest;     /* ds_token_t */
    ds_table_t           by_token_id;   /* ds_token_t */
    ds_table_t           by_id;         /* ds_recipient_t */

    char                 digest[65];

    /*
     * "token_max_lifetime" (ms, 0: not set): every token must expire,
     * within this much of its not_before; dsctl token new refuses
     * longer-lived tokens (365d when the policy does not say)
     */
    int64_t              token_max_lifetime;
    const char          *token_max_lifetime_text;   /* "365d" */
    const char          *token_max_lifetime_source; /* file that set it */

    ds_class_t          *classes;       /* malloc'ed, all files */
    size_t               nclasses;
    size_t               cap_classes;

    /* "approvals": grants touching these tags need an "approval" */
    const char         **approval_tags;
    size_t               napproval_tags;
    unsigned             separate_author:1;  /* approver != author */
    const char          *approvals_source;   /* file that set it */

    /* "issuers" (ds_policy_fed.c): malloc'ed, all files */
    ds_issuer_t         *issuers;
    size_t               nissuers;
    size_t               cap_issuers;

    /*
     * verified JWTs (ds_decide_jwt.c): the one part of a loaded policy
     * that changes, allocated on first use, so each nginx worker (and
     * dsctl) has its own; freed with the policy, so never stale
     */
    struct ds_jwt_cache_s  *jwt_cache;
};


/* ds_policy_index.c */
void *ds_arena_alloc(ds_arena_t *a, size_t size);
char *ds_arena_strndup(ds_arena_t *a, const char *s, size_t len);
void ds_arena_free(ds_arena_t *a);

/* insert; return the clashing entry (not inserted) or NULL */
const ds_token_t *ds_index_add_token(ds_policy_t *p, const ds_token_t *t);
const ds_recipient_t *ds_index_add_recipient(ds_policy_t *p,
    const ds_recipient_t *r);
const ds_token_t *ds_index_add_token_id(ds_policy_t *p, const ds_token_t *t);
int ds_index_init(ds_policy_t *p);

const ds_token_t *ds_policy_find_token(const ds_policy_t *p,
    const unsigned char digest[DS_DIGEST_LEN]);
const ds_token_t *ds_policy_find_token_id(const ds_policy_t *p,
    const char *id);

void ds_token_digest(const char *token, size_t len,
    unsigned char out[DS_DIGEST_LEN]);

/*
 * The issuer of a token the verified-token cache holds under its digest,
 * unexpired at now (seconds) and verified under the issuer's current
 * keys; NULL otherwise (ds_decide_jwt.c). Changes nothing.
 */
const ds_issuer_t *ds_jwt_cache_issuer(const ds_policy_t *p,
    const unsigned char digest[DS_DIGEST_LEN], int64_t now);

/* the grant's scope and operations cover this call (ds_decide's test) */
int ds_grant_covers(const ds_grant_t *g, ds_op_t op, const char *share,
    const char *schema, const char *table);

/*
 * ds_policy_class.c: the first tag of g's scope that needs an approval
 * (NULL: none), and the classification that set it
 */
const char *ds_grant_approval_tag(const ds_policy_t *p, const ds_grant_t *g,
    const ds_class_t **cls);

/* ds_policy_fed.c */
const ds_issuer_t *ds_policy_find_issuer(const ds_policy_t *p,
    const char *iss);
int ds_fed_key_cmp(const void *a, const void *b);
int ds_fed_str_cmp(const void *a, const void *b);
void ds_policy_free_issuers(ds_policy_t *p);

/*
 * ds_decide_jwt.c: the recipient a JWT bearer maps to, or NULL with v
 * denied; *handled 0 when the bearer is not JWT-shaped at all
 */
const ds_recipient_t *ds_decide_jwt(const ds_policy_t *p,
    const ds_facts_t *f, const unsigned char digest[DS_DIGEST_LEN],
    ds_verdict_t *v, int *handled);

/* ds_country.c: ISO 3166-1 alpha-2 assigned codes (and XK) */
int ds_country_code_valid(const char *s, size_t len);

#endif /* DS_POLICY_INT_H */
