/*
 * Metrics: counters for the Prometheus endpoint (docs/metrics.md).
 *
 * The table lives in one caller-provided block of memory -- nginx's
 * shared memory zone of ds_metrics_zone -- so every worker adds to the
 * same counters and a scrape of any worker sees them all. Its layout is
 * fixed at creation: one header, a hash of recipient ids, and slots of
 * counters. Counters are updated with atomic adds and read with atomic
 * loads: the request path takes no lock. Only a recipient seen for the
 * first time takes the caller's lock, to claim a slot; when max slots
 * are taken, further recipients count in the "(other)" slot, so the
 * number of label values stays bounded whatever clients send.
 *
 * Pure C, no nginx headers.
 */

#ifndef DS_METRICS_H
#define DS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "ds_alert.h"
#include "ds_buf.h"
#include "ds_path.h"
#include "ds_policy.h"

/*
 * Dimensions of the request counters. Fixed, so a table made by one
 * build and found again after a reload by another (a newer module) is
 * recognised as different through its layout word and started afresh.
 * Room for reason codes yet to come: a reason past the table counts as
 * the last one.
 */
#define DS_METRICS_OPS          DS_OP_COUNT
#define DS_METRICS_REASONS      64          /* the last: "none" */
#define DS_METRICS_REASON_NONE  (DS_METRICS_REASONS - 1)
#define DS_METRICS_ID_MAX       128         /* DS_ID_MAX */
#define DS_METRICS_BUCKETS      14          /* plus +Inf */
#define DS_METRICS_WORKERS      64          /* Redis state of each */

/* label values that no recipient id can have (ids have no parentheses) */
#define DS_METRICS_OTHER        "(other)"   /* over max_recipients */
#define DS_METRICS_NONE         "(none)"    /* no recipient known */


typedef enum {
    DS_METRICS_ALLOW = 0,
    DS_METRICS_DENY,
    DS_METRICS_ERROR,
    DS_METRICS_DECISIONS
} ds_metrics_decision_t;


/* what the rate limiter found for a request */
typedef enum {
    DS_METRICS_RL_ALLOWED = 0,
    DS_METRICS_RL_LIMITED,
    DS_METRICS_RL_REVOKED,
    DS_METRICS_RL_ERROR,            /* Redis unavailable, request refused */
    DS_METRICS_RL_FAIL_OPEN,        /* Redis unavailable, request let by */
    DS_METRICS_RL_COUNT
} ds_metrics_rl_t;


typedef enum {
    DS_METRICS_LAT_GATEWAY = 0,     /* the request's time minus upstream */
    DS_METRICS_LAT_UPSTREAM,        /* nginx's upstream response time */
    DS_METRICS_LAT_COUNT
} ds_metrics_lat_t;


typedef struct {
    uint64_t    requests[DS_METRICS_OPS][DS_METRICS_DECISIONS]
                        [DS_METRICS_REASONS];
    uint64_t    response_bytes;
    uint64_t    disclosed_answers;
    uint64_t    disclosed_files;
    uint64_t    disclosed_bytes;
    uint64_t    disclosed_records;
    uint64_t    rl[DS_METRICS_RL_COUNT];
} ds_metrics_counters_t;


/*
 * A recipient's baselines and the state of its alert rules
 * (ds_metrics_alert.c). Window counters pack a window number (its low
 * 24 bits) and the count in it (40 bits) in one word, so that moving
 * to the next window and counting are one compare-and-swap.
 */
typedef struct {
    uint64_t    minute[DS_ALERT_METRICS];       /* this minute's count */
    uint64_t    ewma_milli[DS_ALERT_METRICS];   /* per minute, x1000 */
    uint64_t    minutes[DS_ALERT_METRICS];      /* in the baseline */
    uint64_t    win[DS_ALERT_RULES_MAX];        /* each rule's window */
    int64_t     alerted[DS_ALERT_RULES_MAX];    /* window + 1 alerted */
    int64_t     fail_open_alerted;              /* minute + 1 alerted */
    int64_t     active_until[DS_ALERT_METRICS]; /* ms; 0: never */
    int64_t     suspended_until;                /* ms; 0: never */
    uint64_t    alerts[DS_ALERT_METRICS];       /* breaches */
} ds_metrics_alerts_t;


typedef struct {
    uint32_t                name_len;   /* 0: free (published last) */
    char                    name[DS_METRICS_ID_MAX + 1];
    ds_metrics_counters_t   c;
    ds_metrics_alerts_t     a;
} ds_metrics_slot_t;


typedef struct ds_metrics_s  ds_metrics_t;


/* tokens, contracts and attestations that end within a window */
typedef struct {
    uint64_t    tokens;
    uint64_t    contracts;
    uint64_t    attestations;
} ds_metrics_expiring_t;


/* what the writer prints beside the table: this configuration's facts */
typedef struct {
    const char             *policy_version;     /* digest, NULL: none */
    uint64_t                policy_recipients;
    uint64_t                policy_tokens;
    int64_t                 loaded_ms;          /* configuration loaded */
    ds_metrics_expiring_t   expiring_7d;
    ds_metrics_expiring_t   expiring_30d;
    int64_t                 now_ms;             /* of the scrape; 0: now */
} ds_metrics_info_t;


/* an output buffer that grows (malloc); free p when done */
typedef ds_buf_t  ds_metrics_buf_t;


/* bytes a table for max_recipients needs (its "(other)" and "(none)") */
size_t ds_metrics_size(uint32_t max_recipients);

/*
 * A table in mem (size bytes, suitably aligned). Zeroes it and sets up
 * the header; -1 if size is too small. per_recipient 0: every request
 * counts in one slot and the writer prints no recipient label.
 */
ds_metrics_t *ds_metrics_init(void *mem, size_t size,
    uint32_t max_recipients, int per_recipient);

/*
 * A table init made in mem with these parameters, found again (nginx
 * reuses a zone over a reload): its counters carry on. NULL if it was
 * made otherwise (another layout, size or cap): the caller starts anew.
 */
ds_metrics_t *ds_metrics_attach(void *mem, size_t size,
    uint32_t max_recipients, int per_recipient);

/* a lock the caller owns (nginx: the zone's shmtx) */
typedef void (*ds_metrics_lock_pt)(void *data);

/*
 * The slot of a recipient (id NULL or len 0: "(none)"). Found without a
 * lock; a new id takes lock/unlock to claim a slot, or gets "(other)"
 * when the cap is reached (or the id is too long). Never NULL.
 */
ds_metrics_slot_t *ds_metrics_slot(ds_metrics_t *m, const char *id,
    size_t len, ds_metrics_lock_pt lock, ds_metrics_lock_pt unlock,
    void *data);

/* counts one request: reason DS_REASON_COUNT or beyond: none */
void ds_metrics_request(ds_metrics_slot_t *s, ds_op_t op,
    ds_metrics_decision_t decision, unsigned reason, uint64_t bytes);

void ds_metrics_disclosed(ds_metrics_slot_t *s, int64_t files,
    int64_t bytes, int64_t records);

void ds_metrics_rl(ds_metrics_slot_t *s, ds_metrics_rl_t outcome);

/* one observation, in milliseconds (nginx's resolution) */
void ds_metrics_latency(ds_metrics_t *m, ds_metrics_lat_t which,
    uint64_t ms);

/* audit records handed to a sink, and records lost to write errors */
void ds_metrics_audit(ds_metrics_t *m, uint64_t records, uint64_t lost);

/*
 * Redis connection of worker number worker (nginx's ngx_worker), process
 * pid: state up 1 / down 0 claims the entry (a new pid starts with no
 * commands in flight); state -1 gives it up (the worker exits). Workers
 * numbered DS_METRICS_WORKERS or more are not shown.
 */
void ds_metrics_redis_state(ds_metrics_t *m, unsigned worker, int64_t pid,
    int state);

/* a command sent (delta 1) or its reply callback run (delta -1) */
void ds_metrics_redis_in_flight(ds_metrics_t *m, unsigned worker,
    int64_t pid, int delta);

typedef enum {
    DS_METRICS_REDIS_TIMEOUT = 0,   /* a command got no reply in time */
    DS_METRICS_REDIS_RECONNECT      /* connected again after the first */
} ds_metrics_redis_ev_t;

void ds_metrics_redis_event(ds_metrics_t *m, ds_metrics_redis_ev_t ev);

/* ------------------------------------------------------------ alerts */

/* factor rules wait for this many minutes of baseline */
#define DS_ALERT_WARMUP_MINUTES  5

/* what one request adds to its recipient's metrics */
typedef struct {
    int64_t     now_ms;
    uint64_t    n[DS_ALERT_METRICS];    /* fail_open: 1 if it failed open */
} ds_alert_obs_t;

/* a rule breached (or the limiter failed open), once per window */
typedef struct {
    ds_alert_metric_t        metric;
    const ds_alert_rule_t   *rule;      /* NULL: the fail-open alert */
    int64_t                  window_ms;
    uint64_t                 observed;  /* in the window so far */
    uint64_t                 threshold;
    uint64_t                 baseline;  /* per window; factor rules */
    int64_t                  until_ms;  /* suspended until; 0: no */
} ds_alert_breach_t;

/*
 * Adds o to the slot's baselines (when it has rules) and windows, and
 * returns the breaches (at most nout) that this call is the first to
 * see in their window: every worker may call it, exactly one gets each
 * breach. rules: the recipient's, none for a shared slot.
 */
size_t ds_metrics_alert_observe(ds_metrics_slot_t *s,
    const ds_alert_rule_t *rules, size_t nrules, const ds_alert_obs_t *o,
    ds_alert_breach_t *out, size_t nout);

/* when the recipient's suspension lapses, or 0 if it is not suspended */
int64_t ds_metrics_alert_suspended(const ds_metrics_slot_t *s,
    int64_t now_ms);

/* the slot of a recipient that has its own, without claiming; or NULL */
ds_metrics_slot_t *ds_metrics_find(ds_metrics_t *m, const char *id,
    size_t len);

/* the baseline of a metric per minute, x1000 */
uint64_t ds_metrics_alert_baseline(const ds_metrics_slot_t *s,
    ds_alert_metric_t metric);

/* a policy that failed to load (the configuration in force stays) */
void ds_metrics_load_error(ds_metrics_t *m);

/* a jwks_uri fetch ended: ok 1 (new keys in place) or 0 (kept the old) */
void ds_metrics_jwks_fetch(ds_metrics_t *m, int ok);

/* a reload of the configuration this table lived through */
void ds_metrics_reloaded(ds_metrics_t *m, int64_t now_ms);

/* the upper bounds of the latency buckets, in milliseconds */
extern const uint64_t  ds_metrics_bucket_ms[DS_METRICS_BUCKETS];

/*
 * The whole exposition (text format 0.0.4) appended to out: HELP and
 * TYPE of each family, then its samples; request counters that are
 * still zero are left out. 0, or -1 out of memory.
 */
int ds_metrics_write(const ds_metrics_t *m, const ds_metrics_info_t *info,
    ds_metrics_buf_t *out);

/* a label value escaped (\\, \", \n) and appended */
int ds_metrics_escape(ds_metrics_buf_t *out, const char *s, size_t len);

/* counts over the policy: ends in [now_ms, now_ms + within_ms) */
void ds_metrics_expiring(const ds_policy_t *p, int64_t now_ms,
    int64_t within_ms, ds_metrics_expiring_t *out);

#endif /* DS_METRICS_H */
