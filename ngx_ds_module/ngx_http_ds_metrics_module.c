/*
 * ngx_http_ds_metrics_module: Prometheus metrics (docs/metrics.md).
 *
 *   ds_metrics_zone name size [per_recipient=on|off] [max_recipients=N];
 *   ds_metrics;                  (location: serves the text format)
 *
 * The counters live in a shared memory zone (core/ds_metrics.c), so all
 * workers count into one table and any worker's scrape sees them all;
 * nginx keeps a zone of the same name and size over a reload, and the
 * counters carry on. The log phase reads each request of an enforced
 * location through the same outcome as the audit record
 * (ngx_http_ds_outcome.c) and adds to its recipient's slot with atomic
 * adds; only a recipient's first request takes the zone's mutex.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds.h"
#include "ngx_http_ds_module.h"
#include "ngx_http_ds_audit.h"
#include "ngx_http_ds_metrics.h"
#include "ds_time.h"


#define NGX_HTTP_DS_METRICS_MAX_DEFAULT  100
#define NGX_HTTP_DS_METRICS_DAY_MS       (86400 * 1000LL)


typedef struct {
    ds_metrics_t            *table;
    ngx_slab_pool_t         *shpool;
    ngx_uint_t               max_recipients;
    ngx_flag_t               per_recipient;
} ngx_http_ds_metrics_zone_t;


typedef struct {
    ngx_shm_zone_t          *zone;          /* NULL: no metrics */
    ds_metrics_info_t        info;

    /* per worker: the audit counts already added to the zone */
    uint64_t                 audit_records;
    uint64_t                 audit_lost;
} ngx_http_ds_metrics_main_conf_t;


typedef struct {
    ngx_flag_t               serve;         /* ds_metrics */
} ngx_http_ds_metrics_loc_conf_t;


static char *ngx_http_ds_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ds_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_ds_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_ds_metrics_log_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_ds_metrics_handler(ngx_http_request_t *r);
static void *ngx_http_ds_metrics_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_ds_metrics_create_loc_conf(ngx_conf_t *cf);
static ngx_int_t ngx_http_ds_metrics_postconfiguration(ngx_conf_t *cf);


static ngx_command_t  ngx_http_ds_metrics_commands[] = {

    { ngx_string("ds_metrics_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_ds_metrics_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ds_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_ds_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_ds_metrics_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_ds_metrics_postconfiguration, /* postconfiguration */

    ngx_http_ds_metrics_create_main_conf,  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_ds_metrics_create_loc_conf,   /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_ds_metrics_module = {
    NGX_MODULE_V1,
    &ngx_http_ds_metrics_module_ctx,       /* module context */
    ngx_http_ds_metrics_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


ds_metrics_t *
ngx_http_ds_metrics_table(ngx_cycle_t *cycle)
{
    ngx_uint_t                        i;
    ngx_http_ds_metrics_zone_t       *z;
    ngx_http_ds_metrics_main_conf_t  *mmcf;

    if (cycle == NULL || cycle->conf_ctx == NULL || cycle->modules == NULL
        || cycle->conf_ctx[ngx_http_module.index] == NULL)
    {
        return NULL;
    }

    /* a cycle from before this module was loaded has no conf for it */
    for (i = 0; cycle->modules[i]; i++) {
        if (cycle->modules[i] == &ngx_http_ds_metrics_module) {
            break;
        }
    }

    if (cycle->modules[i] == NULL) {
        return NULL;
    }

    mmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_ds_metrics_module);
    if (mmcf == NULL || mmcf->zone == NULL) {
        return NULL;
    }

    z = mmcf->zone->data;

    return z ? z->table : NULL;
}


/* ------------------------------------------------------------ log phase */

static void
ngx_http_ds_metrics_lock(void *data)
{
    ngx_shmtx_lock(&((ngx_slab_pool_t *) data)->mutex);
}


static void
ngx_http_ds_metrics_unlock(void *data)
{
    ngx_shmtx_unlock(&((ngx_slab_pool_t *) data)->mutex);
}


/* this worker's audit records and losses since it last told the zone */
static void
ngx_http_ds_metrics_audit(ngx_http_ds_metrics_main_conf_t *mmcf,
    ds_metrics_t *table)
{
    uint64_t                        records, lost;
    ngx_uint_t                      i;
    ngx_http_ds_audit_sink_t      **sinks;
    ngx_http_ds_audit_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_ds_audit_module);
    if (amcf == NULL) {
        return;
    }

    records = 0;
    lost = 0;
    sinks = amcf->sinks.elts;

    for (i = 0; i < amcf->sinks.nelts; i++) {
        records += sinks[i]->records;
        lost += sinks[i]->lost;
    }

    if (records > mmcf->audit_records || lost > mmcf->audit_lost) {
        ds_metrics_audit(table, records - mmcf->audit_records,
                         lost - mmcf->audit_lost);
        mmcf->audit_records = records;
        mmcf->audit_lost = lost;
    }
}


static ngx_msec_int_t
ngx_http_ds_metrics_upstream_ms(ngx_http_request_t *r)
{
    ngx_uint_t                  i;
    ngx_msec_int_t              ms;
    ngx_http_upstream_state_t  *st;

    if (r->upstream_states == NULL || r->upstream_states->nelts == 0) {
        return -1;
    }

    ms = -1;
    st = r->upstream_states->elts;

    /* every try counts (next_upstream): the client waited for them all */
    for (i = 0; i < r->upstream_states->nelts; i++) {
        if (st[i].status == 0 || st[i].response_time == (ngx_msec_t) -1) {
            continue;
        }

        ms = (ms < 0 ? 0 : ms) + (ngx_msec_int_t) st[i].response_time;
    }

    return ms;
}


static ds_metrics_rl_t
ngx_http_ds_metrics_rl(ngx_http_ds_ctx_t *ctx, ngx_http_ds_outcome_e o)
{
    switch (ngx_http_ds_rl_state(ctx)) {
    case NGX_HTTP_DS_RL_ALLOWED:
        return DS_METRICS_RL_ALLOWED;
    case NGX_HTTP_DS_RL_LIMITED:
        return DS_METRICS_RL_LIMITED;
    case NGX_HTTP_DS_RL_REVOKED:
        return DS_METRICS_RL_REVOKED;
    case NGX_HTTP_DS_RL_UNAVAILABLE:
        /* open mode let an allowed request by without the limiter */
        return o == NGX_HTTP_DS_OUTCOME_ALLOW ? DS_METRICS_RL_FAIL_OPEN
                                              : DS_METRICS_RL_ERROR;
    case NGX_HTTP_DS_RL_PENDING:
        /* the client left while the command was in flight */
        return DS_METRICS_RL_ERROR;
    default:
        return DS_METRICS_RL_COUNT;
    }
}


static ngx_int_t
ngx_http_ds_metrics_log_handler(ngx_http_request_t *r)
{
    off_t                             sent;
    ngx_int_t                         status;
    ngx_uint_t                        undelivered;
    ngx_time_t                       *tp;
    ds_reason_t                       reason;
    const char                       *id;
    ngx_msec_int_t                    ms, up;
    ds_metrics_rl_t                   rl;
    ngx_http_ds_ctx_t                *ctx;
    ds_metrics_slot_t                *slot;
    ngx_http_ds_outcome_e             o;
    ngx_http_ds_metrics_zone_t       *z;
    ngx_http_ds_metrics_main_conf_t  *mmcf;

    if (r != r->main) {
        return NGX_OK;
    }

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_ds_metrics_module);

    if (mmcf->zone == NULL) {
        return NGX_OK;
    }

    z = mmcf->zone->data;
    ngx_http_ds_metrics_audit(mmcf, z->table);

    /* requests of enforced locations only: the scrape itself is not one */
    ctx = ngx_http_ds_get_ctx(r);
    if (ctx == NULL) {
        return NGX_OK;
    }

    status = ngx_http_ds_log_status(r, ctx, &undelivered);
    o = ngx_http_ds_outcome(ctx, status, undelivered, &reason);

    id = ctx->verdict.recipient_id;
    slot = ds_metrics_slot(z->table, id, id ? ngx_strlen(id) : 0,
                           ngx_http_ds_metrics_lock,
                           ngx_http_ds_metrics_unlock, z->shpool);

    sent = r->connection->sent;
    ds_metrics_request(slot, ctx->path.op, (ds_metrics_decision_t) o,
                       (unsigned) reason, sent > 0 ? (uint64_t) sent : 0);

    if (ctx->disclosure) {
        ds_metrics_disclosed(slot, ctx->disclosure->files,
                             ctx->disclosure->bytes,
                             ctx->disclosure->has_records
                             ? ctx->disclosure->records : 0);
    }

    rl = ngx_http_ds_metrics_rl(ctx, o);
    if (rl != DS_METRICS_RL_COUNT) {
        ds_metrics_rl(slot, rl);
    }

    ngx_http_ds_metrics_alert(r, ctx, slot, o == NGX_HTTP_DS_OUTCOME_DENY,
                              rl == DS_METRICS_RL_FAIL_OPEN, reason);

    tp = ngx_timeofday();
    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));
    ms = ngx_max(ms, 0);

    up = ngx_http_ds_metrics_upstream_ms(r);
    if (up >= 0) {
        ds_metrics_latency(z->table, DS_METRICS_LAT_UPSTREAM,
                           (uint64_t) up);
        ms = ngx_max(ms - up, 0);
    }

    ds_metrics_latency(z->table, DS_METRICS_LAT_GATEWAY, (uint64_t) ms);

    return NGX_OK;
}


/* ----------------------------------------------------- content handler */

static void
ngx_http_ds_metrics_free(void *data)
{
    free(data);
}


static ngx_int_t
ngx_http_ds_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_buf_t                        *b;
    ngx_chain_t                       out;
    ds_metrics_buf_t                  text;
    ngx_pool_cleanup_t               *cln;
    ngx_http_ds_metrics_zone_t       *z;
    ngx_http_ds_metrics_main_conf_t  *mmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_ds_metrics_module);

    if (mmcf->zone == NULL) {
        return NGX_HTTP_NOT_FOUND;
    }

    z = mmcf->zone->data;
    ngx_http_ds_metrics_audit(mmcf, z->table);
    mmcf->info.now_ms = ds_time_now_ms();

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&text, sizeof(ds_metrics_buf_t));

    rc = ds_metrics_write(z->table, &mmcf->info, &text);

    cln->handler = ngx_http_ds_metrics_free;
    cln->data = text.p;

    if (rc != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ds_metrics: out of memory writing the metrics");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = text.len;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/plain") - 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = (u_char *) text.p;
    b->last = b->pos + text.len;
    b->memory = 1;
    b->last_buf = (r == r->main);
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* ------------------------------------------------------- configuration */

static ngx_int_t
ngx_http_ds_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    size_t                       need;
    ngx_slab_pool_t             *shpool;
    ngx_http_ds_metrics_zone_t  *z, *oz;

    z = shm_zone->data;
    oz = data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    z->shpool = shpool;

    if (oz && oz->table) {
        /* a reload kept the zone: the counters carry on if they fit */
        z->table = ds_metrics_attach(oz->table, ds_metrics_size(
                                         z->per_recipient
                                         ? z->max_recipients : 0),
                                     z->max_recipients, z->per_recipient);
        if (z->table) {
            ds_metrics_reloaded(z->table, ds_time_now_ms());
            return NGX_OK;
        }

        ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                      "ds_metrics_zone \"%V\": per_recipient or "
                      "max_recipients changed, the counters start anew",
                      &shm_zone->shm.name);
        ngx_slab_free(shpool, oz->table);
    }

    need = ds_metrics_size(z->per_recipient ? z->max_recipients : 0);

    shpool->data = ngx_slab_alloc(shpool, need);
    if (shpool->data == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "ds_metrics_zone \"%V\" is too small for "
                      "max_recipients=%ui: it needs about %uzk",
                      &shm_zone->shm.name, z->max_recipients,
                      need / 1024 + 64);
        return NGX_ERROR;
    }

    z->table = ds_metrics_init(shpool->data, need, z->max_recipients,
                               z->per_recipient);

    return z->table ? NGX_OK : NGX_ERROR;
}


static char *
ngx_http_ds_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ds_metrics_main_conf_t  *mmcf = conf;

    ssize_t                      size;
    ngx_int_t                    n;
    ngx_str_t                   *value, s;
    ngx_uint_t                   i;
    ngx_http_ds_metrics_zone_t  *z;

    if (mmcf->zone) {
        return "is duplicate";
    }

    if (cf->args->nelts > 5) {
        return "has too many parameters";
    }

    value = cf->args->elts;

    z = ngx_pcalloc(cf->pool, sizeof(ngx_http_ds_metrics_zone_t));
    if (z == NULL) {
        return NGX_CONF_ERROR;
    }

    z->per_recipient = 1;
    z->max_recipients = NGX_HTTP_DS_METRICS_MAX_DEFAULT;

    size = ngx_parse_size(&value[2]);
    if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_metrics_zone: invalid size \"%V\"", &value[2]);
        return NGX_CONF_ERROR;
    }

    for (i = 3; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "per_recipient=on") == 0) {
            z->per_recipient = 1;
            continue;
        }

        if (ngx_strcmp(value[i].data, "per_recipient=off") == 0) {
            z->per_recipient = 0;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_recipients=", 15) == 0) {
            s.data = value[i].data + 15;
            s.len = value[i].len - 15;
            n = ngx_atoi(s.data, s.len);

            if (n == NGX_ERROR || n < 1 || n > 1000000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "ds_metrics_zone: invalid \"%V\" "
                                   "(1 to 1000000)", &value[i]);
                return NGX_CONF_ERROR;
            }

            z->max_recipients = n;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_metrics_zone: invalid parameter \"%V\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    /* the table and the slab allocator's own pages must fit */
    if ((size_t) size < ds_metrics_size(z->per_recipient
                                        ? z->max_recipients : 0)
                        + 16 * ngx_pagesize)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_metrics_zone \"%V\" is too small for "
                           "max_recipients=%ui: it needs at least %uzk",
                           &value[1], z->max_recipients,
                           (ds_metrics_size(z->per_recipient
                                            ? z->max_recipients : 0)
                            + 16 * ngx_pagesize) / 1024 + 1);
        return NGX_CONF_ERROR;
    }

    mmcf->zone = ngx_shared_memory_add(cf, &value[1], size,
                                       &ngx_http_ds_metrics_module);
    if (mmcf->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (mmcf->zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_metrics_zone \"%V\" is already defined",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    mmcf->zone->init = ngx_http_ds_metrics_init_zone;
    mmcf->zone->data = z;

    return NGX_CONF_OK;
}


static char *
ngx_http_ds_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ds_metrics_loc_conf_t  *mlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (mlcf->serve != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    mlcf->serve = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_ds_metrics_handler;

    return NGX_CONF_OK;
}


static void *
ngx_http_ds_metrics_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_ds_metrics_main_conf_t  *mmcf;

    /* zone = NULL, info zeroed, audit counts 0 */
    mmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ds_metrics_main_conf_t));

    return mmcf;
}


static void *
ngx_http_ds_metrics_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ds_metrics_loc_conf_t  *mlcf;

    mlcf = ngx_palloc(cf->pool, sizeof(ngx_http_ds_metrics_loc_conf_t));
    if (mlcf == NULL) {
        return NULL;
    }

    mlcf->serve = NGX_CONF_UNSET;

    return mlcf;
}


static ngx_int_t
ngx_http_ds_metrics_postconfiguration(ngx_conf_t *cf)
{
    int64_t                           now;
    ngx_http_handler_pt              *h;
    ngx_http_ds_main_conf_t          *dmcf;
    ngx_http_core_main_conf_t        *cmcf;
    ngx_http_ds_metrics_main_conf_t  *mmcf;

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ds_metrics_module);

    if (mmcf->zone == NULL) {
        return NGX_OK;
    }

    /* what the policy says now; it does not change until the next load */
    dmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ds_module);
    now = ds_time_now_ms();

    mmcf->info.loaded_ms = now;

    if (dmcf->policy) {
        mmcf->info.policy_version = ds_policy_digest(dmcf->policy);
        mmcf->info.policy_recipients = ds_policy_recipient_count(
                                           dmcf->policy);
        mmcf->info.policy_tokens = ds_policy_token_count(dmcf->policy);
        ds_metrics_expiring(dmcf->policy, now,
                            7 * NGX_HTTP_DS_METRICS_DAY_MS,
                            &mmcf->info.expiring_7d);
        ds_metrics_expiring(dmcf->policy, now,
                            30 * NGX_HTTP_DS_METRICS_DAY_MS,
                            &mmcf->info.expiring_30d);
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ds_metrics_log_handler;

    return NGX_OK;
}
