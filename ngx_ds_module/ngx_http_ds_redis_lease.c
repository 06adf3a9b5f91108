/*
 * Lease mode of the Redis limiter (ds_redis_lease, docs/redis.md "Lease
 * mode"): per worker, a table of leases keyed by (limit key, token id),
 * the cells of each spent by the worker's requests without a round
 * trip. The arithmetic is the core's (ds_lease.h); this file keeps the
 * table, reads the clock and parses the directive. The calls themselves
 * are built and sent by ngx_http_ds_redis_check.c, the one place that
 * knows the script's arguments.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds_redis.h"
#include "ds_lease.h"


#define NGX_HTTP_DS_LEASE_BUCKETS   1024
/* beyond this many live subjects a worker goes exact for new ones */
#define NGX_HTTP_DS_LEASE_ENTRIES   8192


typedef struct ngx_http_ds_lease_entry_s  ngx_http_ds_lease_entry_t;

struct ngx_http_ds_lease_entry_s {
    ngx_http_ds_lease_entry_t  *next;
    uint32_t                    hash;
    uint64_t                    emission_us;
    uint64_t                    tolerance_us;
    ngx_msec_t                  used;
    ds_lease_t                  lease;
    size_t                      len;
    u_char                      key[1];     /* limit key NUL token id */
};


static ngx_http_ds_lease_entry_t  *ngx_http_ds_lease_table[
                                       NGX_HTTP_DS_LEASE_BUCKETS];
static ngx_uint_t                  ngx_http_ds_lease_count;


static ngx_http_ds_lease_entry_t *ngx_http_ds_lease_find(
    ngx_http_ds_redis_main_conf_t *rmcf, ds_gcra_params_t *p,
    u_char *key, size_t key_len, const char *tid, ngx_uint_t create);


static void
ngx_http_ds_lease_conf(ngx_http_ds_redis_main_conf_t *rmcf,
    ds_lease_conf_t *c)
{
    c->max_age_ms = rmcf->lease_max_age;
    c->max_cells = (uint32_t) rmcf->lease_max_cells;
}


ngx_int_t
ngx_http_ds_redis_lease_take(ngx_http_ds_redis_main_conf_t *rmcf,
    ds_gcra_params_t *p, u_char *key, size_t key_len, const char *tid,
    ngx_http_ds_redis_lease_ask_t *ask)
{
    uint64_t                    now;
    ds_lease_conf_t             c;
    ngx_http_ds_lease_entry_t  *e;

    ngx_memzero(ask, sizeof(ngx_http_ds_redis_lease_ask_t));
    ask->cells = 1;

    e = ngx_http_ds_lease_find(rmcf, p, key, key_len, tid, 1);
    if (e == NULL) {
        return NGX_DECLINED;
    }

    ngx_http_ds_lease_conf(rmcf, &c);
    now = ngx_current_msec;
    e->used = ngx_current_msec;

    ds_lease_seen(&e->lease, &c, now);

    if (ds_lease_take(&e->lease, &c, now, &ask->res)) {
        if (ds_lease_wants_refresh(&e->lease, &c, now)) {
            e->lease.refreshing = 1;
            ask->refresh = ds_lease_cells(&e->lease, &c);
        }

        return NGX_OK;
    }

    ask->cells = ds_lease_cells(&e->lease, &c);

    if (e->lease.refreshing) {
        /* a lease call is on the wire already: this one goes exact */
        ask->cells = 1;
        ask->lease_call = 0;
        return NGX_DECLINED;
    }

    /* the request's own call takes the lease (or the revocation status) */
    e->lease.refreshing = 1;
    ask->lease_call = 1;

    return NGX_DECLINED;
}


void
ngx_http_ds_redis_lease_answer(ngx_http_ds_redis_main_conf_t *rmcf,
    ds_gcra_params_t *p, u_char *key, size_t key_len, const char *tid,
    ngx_msec_t sent, ngx_uint_t lease_call, ds_gcra_result_t *res,
    int64_t granted, int64_t used)
{
    ds_lease_conf_t             c;
    ngx_http_ds_lease_entry_t  *e;

    e = ngx_http_ds_lease_find(rmcf, p, key, key_len, tid, 0);
    if (e == NULL) {
        return;
    }

    if (lease_call) {
        e->lease.refreshing = 0;
    }

    if (res == NULL) {
        return;
    }

    ngx_http_ds_lease_conf(rmcf, &c);

    ds_lease_grant(&e->lease, &c, sent, res, granted, used);
}


static ngx_http_ds_lease_entry_t *
ngx_http_ds_lease_find(ngx_http_ds_redis_main_conf_t *rmcf,
    ds_gcra_params_t *p, u_char *key, size_t key_len, const char *tid,
    ngx_uint_t create)
{
    size_t                       tid_len, len;
    uint32_t                     hash;
    ngx_msec_t                   idle;
    ngx_http_ds_lease_entry_t   *e, **pe;

    tid_len = ngx_strlen(tid);
    len = key_len + 1 + tid_len;

    ngx_crc32_init(hash);
    ngx_crc32_update(&hash, key, key_len);
    ngx_crc32_update(&hash, (u_char *) "", 1);
    ngx_crc32_update(&hash, (u_char *) tid, tid_len);
    ngx_crc32_final(hash);

    /* idle leases of this chain go as the chain is walked */
    idle = 4 * rmcf->lease_max_age + 1000;

    pe = &ngx_http_ds_lease_table[hash % NGX_HTTP_DS_LEASE_BUCKETS];

    while (*pe) {
        e = *pe;

        if (e->hash == hash && e->len == len
            && e->emission_us == p->emission_us
            && e->tolerance_us == p->tolerance_us
            && ngx_memcmp(e->key, key, key_len) == 0
            && e->key[key_len] == '\0'
            && ngx_memcmp(e->key + key_len + 1, tid, tid_len) == 0)
        {
            return e;
        }

        if (ngx_current_msec - e->used > idle && !e->lease.refreshing) {
            *pe = e->next;
            ngx_free(e);
            ngx_http_ds_lease_count--;
            continue;
        }

        pe = &e->next;
    }

    if (!create || ngx_http_ds_lease_count >= NGX_HTTP_DS_LEASE_ENTRIES) {
        return NULL;
    }

    e = ngx_alloc(sizeof(ngx_http_ds_lease_entry_t) + len, ngx_cycle->log);
    if (e == NULL) {
        return NULL;
    }

    e->hash = hash;
    e->len = len;
    e->emission_us = p->emission_us;
    e->tolerance_us = p->tolerance_us;
    e->used = ngx_current_msec;
    ngx_memcpy(e->key, key, key_len);
    e->key[key_len] = '\0';
    ngx_memcpy(e->key + key_len + 1, tid, tid_len);

    ds_lease_init(&e->lease, p->emission_us ? (int64_t) p->limit : 0,
                  ngx_current_msec);

    e->next = ngx_http_ds_lease_table[hash % NGX_HTTP_DS_LEASE_BUCKETS];
    ngx_http_ds_lease_table[hash % NGX_HTTP_DS_LEASE_BUCKETS] = e;
    ngx_http_ds_lease_count++;

    return e;
}


void
ngx_http_ds_redis_lease_exit(void)
{
    ngx_uint_t                  i;
    ngx_http_ds_lease_entry_t  *e, *next;

    for (i = 0; i < NGX_HTTP_DS_LEASE_BUCKETS; i++) {
        for (e = ngx_http_ds_lease_table[i]; e; e = next) {
            next = e->next;
            ngx_free(e);
        }

        ngx_http_ds_lease_table[i] = NULL;
    }

    ngx_http_ds_lease_count = 0;
}


/* ds_redis_lease off | on [max_age=TIME] [max_cells=N] */
char *
ngx_http_ds_redis_lease(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ds_redis_main_conf_t  *rmcf = conf;

    ngx_int_t    n;
    ngx_str_t   *value, s;
    ngx_uint_t   i;

    if (rmcf->lease != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts > 2) {
            return "takes no parameters with \"off\"";
        }

        rmcf->lease = 0;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "on") != 0) {
        return "takes \"on\" or \"off\"";
    }

    rmcf->lease = 1;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max_age=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            n = ngx_parse_time(&s, 0);
            if (n == NGX_ERROR || n < 10 || n > DS_LEASE_MAX_AGE_MAX) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "ds_redis_lease: max_age= must be "
                                   "10ms to 1s (revocation applies "
                                   "within it)");
                return NGX_CONF_ERROR;
            }

            rmcf->lease_max_age = (ngx_msec_t) n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_cells=", 10) == 0) {
            n = ngx_atoi(value[i].data + 10, value[i].len - 10);
            if (n == NGX_ERROR || n < 2 || n > DS_LEASE_CELLS_MAX) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "ds_redis_lease: max_cells= must be "
                                   "2 to %d", DS_LEASE_CELLS_MAX);
                return NGX_CONF_ERROR;
            }

            rmcf->lease_max_cells = (ngx_uint_t) n;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_redis_lease: unknown parameter \"%V\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
