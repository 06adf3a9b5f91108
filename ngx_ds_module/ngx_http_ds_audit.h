/*
 * Shared by the parts of ngx_http_ds_audit_module: the record filler
 * (ngx_http_ds_audit_module.c), the sinks and their per-worker chains
 * (ngx_http_ds_audit_sink.c) and the checkpoints of those chains
 * (ngx_http_ds_audit_checkpoint.c).
 */

#ifndef NGX_HTTP_DS_AUDIT_H
#define NGX_HTTP_DS_AUDIT_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ds_audit.h"
#include "ds_request_id.h"



typedef struct ngx_http_ds_audit_sink_s  ngx_http_ds_audit_sink_t;

struct ngx_http_ds_audit_sink_s {
    ngx_str_t                 name;
    ngx_open_file_t          *file;         /* file sink */
    ngx_syslog_peer_t        *syslog;       /* or syslog sink */
    ds_audit_format_t         format;
    size_t                    buffer_size;  /* 0: written per loop */
    ngx_msec_t                flush;

    /* per worker process, set up in init_process */
    ds_audit_chain_t          chain;
    unsigned                  chain_ok:1;
    u_char                   *buf;
    size_t                    buf_size;
    size_t                    buf_len;
    ngx_uint_t                buf_records;
    ngx_event_t               flush_event;  /* timer, or posted */
    ngx_uint_t                lost;
    ngx_uint_t                records;      /* handed to the sink: the
                                               metrics count them */
    time_t                    err_time;

    /* the rest of a write() that ENOSPC cut short, see write_file */
    u_char                   *pending;
    size_t                    pending_len;
    off_t                     pending_end;
    ngx_uint_t                pending_records;

    uint64_t                  checkpoint_seq;  /* next seq when sent */
};


typedef struct {
    ngx_array_t               sinks;        /* ngx_http_ds_audit_sink_t * */
    u_char                   *key;          /* NULL: unkeyed chains */
    size_t                    key_len;
    ngx_str_t                 instance;
    const char              **query_args;   /* NULL-terminated */
    ngx_int_t                 request_id_index;
    ds_request_id_t          *ids;          /* per worker */
    ngx_int_t                 upstream_status_index;

    ngx_syslog_peer_t        *checkpoint;   /* NULL: none */
    ngx_str_t                 checkpoint_name;
    ngx_msec_t                checkpoint_interval;
    ngx_event_t               checkpoint_event;   /* per worker */
    time_t                    checkpoint_err_time;
} ngx_http_ds_audit_main_conf_t;


typedef struct {
    ngx_http_ds_audit_sink_t *sink;         /* NULL: off */
} ngx_http_ds_audit_loc_conf_t;


extern ngx_module_t  ngx_http_ds_audit_module;

/* "ds_audit_log" */
char *ngx_http_ds_audit_log(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* a sealed line to the sink, then freed; NULL: it could not be sealed */
void ngx_http_ds_audit_emit(ngx_http_ds_audit_sink_t *sink, char *line,
    size_t len, ngx_log_t *log);

/* what the sink holds back goes out now */
void ngx_http_ds_audit_flush(ngx_http_ds_audit_sink_t *sink, ngx_log_t *log);

/* a line without its LF to a syslog peer; NGX_ERROR: not sent */
ngx_int_t ngx_http_ds_audit_syslog(ngx_syslog_peer_t *peer, u_char *line,
    size_t len, ngx_log_t *log);

/* per worker: chains begin (chain-start) and end (chain-end) */
ngx_int_t ngx_http_ds_audit_sinks_open(ngx_cycle_t *cycle,
    ngx_http_ds_audit_main_conf_t *amcf);
void ngx_http_ds_audit_sinks_close(ngx_cycle_t *cycle,
    ngx_http_ds_audit_main_conf_t *amcf);

int64_t ngx_http_ds_audit_now_ms(void);

/*
 * An alert record to r's sink (none: not written); a's time, instance,
 * pid and request id are filled in here.
 */
void ngx_http_ds_audit_alert(ngx_http_request_t *r, ds_audit_alert_t *a);

/* "ds_audit_checkpoint" */
char *ngx_http_ds_audit_checkpoint(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* the sink's chain head to the checkpoint sink, if it moved */
void ngx_http_ds_audit_checkpoint_send(ngx_http_ds_audit_main_conf_t *amcf,
    ngx_http_ds_audit_sink_t *sink, const char *event, ngx_log_t *log);

/* per worker: the interval timer */
void ngx_http_ds_audit_checkpoint_start(ngx_cycle_t *cycle,
    ngx_http_ds_audit_main_conf_t *amcf);

#endif /* NGX_HTTP_DS_AUDIT_H */
