/*
 * Audit records: building, canonical form, the HMAC chain
 * ("dsgw-audit-v1", epoch 0) and the verifier used by dsctl.
 *
 * Pure C (jansson, OpenSSL), no nginx headers. The nginx shell fills a
 * ds_audit_req_t from the request, asks for a native or OCSF record and
 * seals it with its chain; dsctl feeds lines back to the verifier.
 */

#ifndef DS_AUDIT_H
#define DS_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ds_digest.h"
#include "ds_disclose.h"

#define DS_AUDIT_SCHEMA_VERSION  1
#define DS_AUDIT_KEY_MIN         32      /* seed bytes */
#define DS_AUDIT_KEY_MAX         1024
#define DS_AUDIT_MAC_HEX         64
#define DS_AUDIT_CHAIN_MAX       160     /* chain id bytes with NUL */
#define DS_AUDIT_LINE_MAX        8192    /* caps keep records under this */

/* field caps in bytes, after UTF-8 clean-up */
#define DS_AUDIT_CAP_PATH        2048
#define DS_AUDIT_CAP_UA          512
#define DS_AUDIT_CAP_QUERY_VALUE 256
#define DS_AUDIT_CAP_DEFAULT     256


typedef enum {
    DS_AUDIT_NATIVE = 0,
    DS_AUDIT_OCSF
} ds_audit_format_t;


/* a byte string that may be absent (data == NULL: JSON null) */
typedef struct {
    const char  *data;
    size_t       len;
} ds_audit_str_t;


/* what the shell knows about one finished request */
typedef struct {
    int64_t             time_ms;        /* completion time, epoch ms */
    ds_audit_str_t      instance;
    ds_audit_str_t      request_id;

    ds_audit_str_t      recipient;
    ds_audit_str_t      token_id;

    ds_audit_str_t      action;         /* deltaSharingQueryTable */
    ds_audit_str_t      operation;      /* query_table */
    ds_audit_str_t      method;
    ds_audit_str_t      path;           /* without the query string */
    ds_audit_str_t      args;           /* raw query string, filtered */
    const char *const  *query_allow;    /* NULL-terminated arg names */

    ds_audit_str_t      client_ip;
    ds_audit_str_t      country;
    ds_audit_str_t      user_agent;

    ds_audit_str_t      decision;       /* allow, deny, error */
    ds_audit_str_t      reason;
    int                 status;
    int64_t             bytes_sent;     /* header and body */
    int64_t             body_bytes_sent;
    ds_audit_str_t      upstream_status;
    int64_t             duration_ms;

    ds_audit_str_t      share;
    ds_audit_str_t      schema;
    ds_audit_str_t      table;
    ds_audit_str_t      purpose;

    ds_audit_str_t      rl_state;       /* absent: no limiter */
    int64_t             rl_limit;
    int64_t             rl_remaining;

    int                 has_items;
    int64_t             items_in;
    int64_t             items_out;

    ds_audit_str_t      policy_version;

    int                 has_file;       /* a download (file proxy mode) */
    ds_audit_str_t      file_id;        /* absent: link not opened */
    ds_audit_str_t      file_range;     /* the Range header; absent: none */

    int64_t             request_length; /* bytes received, headers too */
    ds_audit_str_t      body_sha256;    /* hex; absent: no body seen */

    /* what a query answer handed out; NULL: not a query answer */
    const ds_disclosure_t  *disclosure;

    /*
     * a JWT bearer (issue #15): the issuer and subject the policy
     * matched, the kid, a hash of the jti (or of the token), exp in
     * seconds (0: none); never the token or other claims
     */
    int                 has_jwt;
    ds_audit_str_t      jwt_issuer;
    ds_audit_str_t      jwt_subject;
    ds_audit_str_t      jwt_kid;
    ds_audit_str_t      jwt_jti_hash;
    int64_t             jwt_exp;
} ds_audit_req_t;


/* the per-sink, per-worker chain */
typedef struct {
    unsigned char       key[32];        /* per-chain HMAC key */
    int                 keyed;          /* 0: unkeyed SHA-256 chain */
    char                id[DS_AUDIT_CHAIN_MAX];
    uint64_t            seq;            /* of the next record */
    char                prev[DS_AUDIT_MAC_HEX + 1];
    uint64_t            requests;       /* request records sealed */
    ds_mac_t           *mac;            /* keyed with key, reused */
} ds_audit_chain_t;


/* default query argument allow-list (Delta Sharing paging/versions) */
#define DS_AUDIT_QUERY_ARGS_MAX  32

/*
 * An allow-listed name: letters, digits, '_', '-', '.' (Delta Sharing
 * spells them maxResults). Lists of at most DS_AUDIT_QUERY_ARGS_MAX
 * such names are what ds_audit_request_line() expects, checked once
 * at configuration time; with others its record may differ from the
 * test oracle's (tests/oracle/; never unsafe: extra names are ignored).
 */
int ds_audit_query_name_ok(const char *name);

extern const char *const  ds_audit_default_query_args[];

/* ds_audit_str_t from a C string (NULL stays absent) */
ds_audit_str_t ds_audit_cstr(const char *s);

/*
 * Canonical serialization (sorted keys, no whitespace, JCS escaping,
 * integers only). Returns a malloc'ed NUL-terminated string or NULL
 * (reals, or out of memory).
 */
char *ds_audit_canonical(const json_t *j, size_t *len);

/*
 * seed: the key file contents' decoded bytes (NULL/0: unkeyed chain).
 * The chain id is "<instance>.<pid>.<32 hex random>"; returns -1 when
 * randomness is unavailable.
 */
int ds_audit_chain_init(ds_audit_chain_t *c, const unsigned char *seed,
    size_t seed_len, const char *instance, long pid);

/* same with a given id (tests, vectors) */
void ds_audit_chain_init_id(ds_audit_chain_t *c, const unsigned char *seed,
    size_t seed_len, const char *id);

/* frees the MAC context and wipes the key */
void ds_audit_chain_free(ds_audit_chain_t *c);

/*
 * The sealed, '\n'-terminated line (malloc'ed) of a request record,
 * and of a lifecycle record (type "chain_start" or "chain_end";
 * requests and lost: what chain-end reports). NULL without memory. The
 * chain advances only on success.
 */
char *ds_audit_request_line(ds_audit_chain_t *c, ds_audit_format_t fmt,
    const ds_audit_req_t *rq, size_t *len);
char *ds_audit_lifecycle_line(ds_audit_chain_t *c, ds_audit_format_t fmt,
    const char *type, int64_t time_ms, const char *instance, long pid,
    uint64_t requests, uint64_t lost, size_t *len);

/*
 * An alert record (type "alert", docs/metrics.md#alerts): a recipient's
 * alert rule breached, or the rate limiter failed open. Its strings come
 * from the policy and the gateway; they are cleaned like any other, and
 * the record has no "sanitized" or "truncated" members.
 */
typedef struct {
    int64_t             time_ms;
    const char         *instance;
    long                pid;
    ds_audit_str_t      recipient;
    ds_audit_str_t      request_id;     /* the request that breached it */
    ds_audit_str_t      policy_version;
    const char         *metric;         /* requests, denials, ... */
    const char         *action;         /* alert, suspend */
    ds_audit_str_t      window;         /* as the rule says: "1m" */
    int64_t             window_ms;
    int64_t             observed;       /* in the window so far */
    int64_t             threshold;
    int64_t             baseline;       /* per window; -1: none (null) */
    int64_t             until_ms;       /* suspended until; 0: null */
} ds_audit_alert_t;

char *ds_audit_alert_line(ds_audit_chain_t *c, ds_audit_format_t fmt,
    const ds_audit_alert_t *a, size_t *len);

/*
 * Key files: 64 or more hex digits (surrounding whitespace ignored), or
 * raw bytes; at least DS_AUDIT_KEY_MIN bytes once decoded.
 */
int ds_audit_key_parse(const unsigned char *buf, size_t len,
    unsigned char *out, size_t *out_len, char *err, size_t err_size);
int ds_audit_key_load(const char *path, unsigned char *out, size_t *out_len,
    char *err, size_t err_size);


/* ------------------------------------------------------- checkpoints */

#define DS_AUDIT_CHECKPOINT_TYPE   "dsgw_checkpoint"
#define DS_AUDIT_CHECKPOINT_LABEL  "dsgw-audit-v1 checkpoint"  /* + NUL */

/*
 * The chain's head as one '\n'-terminated canonical JSON line
 * (malloc'ed): event is "start", "interval" or "end". NULL when no
 * record is sealed yet, or without memory.
 */
char *ds_audit_checkpoint_line(const ds_audit_chain_t *c, const char *event,
    int64_t time_ms, size_t *len);

/* the checkpoint's own MAC over cp without "cmac" */
int ds_audit_checkpoint_mac(const unsigned char *key, int keyed,
    const json_t *cp, char out[DS_AUDIT_MAC_HEX + 1]);


/* ---------------------------------------------------------- verifier */

typedef struct ds_audit_verify_s  ds_audit_verify_t;

typedef struct {
    int          error;                 /* 0: warning */
    const char  *file;
    size_t       line;                  /* 0: not tied to a line */
    const char  *chain;                 /* may be NULL */
    const char  *kind;                  /* altered, removed, ... */
    char         msg[512];
} ds_audit_issue_t;

typedef void (*ds_audit_issue_pt)(void *data, const ds_audit_issue_t *is);

typedef struct {
    uint64_t     chains;
    uint64_t     records;               /* lines that verified */
    uint64_t     requests;              /* of which request records */
    uint64_t     errors;
    uint64_t     warnings;
    uint64_t     checkpoints;           /* checkpoints met by the files */
    uint64_t     checkpoint_chains;     /* chains they covered */
    uint64_t     ignored;               /* checkpoint-file lines skipped */
} ds_audit_verify_stats_t;

/* seed NULL: only unkeyed (SHA-256) chains can verify */
ds_audit_verify_t *ds_audit_verify_new(const unsigned char *seed,
    size_t seed_len, ds_audit_issue_pt report, void *data);

/* lines in file order, files in rotation order (oldest first) */
void ds_audit_verify_line(ds_audit_verify_t *v, const char *file,
    size_t lineno, const char *line, size_t len);

/*
 * A checkpoint line (as the second sink stores it: a syslog header
 * before the JSON is skipped), given before the records. Lines that
 * are not checkpoints are ignored and counted; a malformed or forged
 * checkpoint is an error. Each checkpoint must then be met by the
 * files: its chain present, the record at its seq there, with its MAC.
 */
void ds_audit_verify_checkpoint(ds_audit_verify_t *v, const char *file,
    size_t lineno, const char *line, size_t len);

/*
 * By default every chain must run from its chain-start to its
 * chain-end: an auditor's default run treats a cut head or tail as
 * missing records. The flags accept what is legitimately so.
 */
#define DS_AUDIT_VERIFY_OPEN_OK       0x01  /* chains still being written */
#define DS_AUDIT_VERIFY_CONTINUED_OK  0x02  /* older segments not given */

void ds_audit_verify_end(ds_audit_verify_t *v, unsigned flags);

void ds_audit_verify_stats(const ds_audit_verify_t *v,
    ds_audit_verify_stats_t *st);
void ds_audit_verify_free(ds_audit_verify_t *v);

#endif /* DS_AUDIT_H */
