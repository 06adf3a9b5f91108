/*
 * Checkpoints: each worker sends the head of each of its chains (chain
 * id, seq and MAC of the last record, request records so far) to a
 * syslog destination at chain-start, every interval while records are
 * written, and at chain-end. That destination (the SIEM) is what the
 * gateway host cannot rewrite; "dsctl audit verify --checkpoints" then
 * proves that no chain, and no record up to its last checkpoint, is
 * missing from the files. The line is built by the core
 * (ds_audit_checkpoint.c).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds_audit.h"


#define NGX_HTTP_DS_CHECKPOINT_INTERVAL  10000
#define NGX_HTTP_DS_CHECKPOINT_MIN       1000


static void ngx_http_ds_audit_checkpoint_handler(ngx_event_t *ev);


void
ngx_http_ds_audit_checkpoint_send(ngx_http_ds_audit_main_conf_t *amcf,
    ngx_http_ds_audit_sink_t *sink, const char *event, ngx_log_t *log)
{
    char    *line;
    size_t   len;

    if (amcf->checkpoint == NULL || !sink->chain_ok
        || sink->chain.seq == sink->checkpoint_seq)
    {
        /* none wanted, or the head has not moved since the last one */
        return;
    }

    /* the records a checkpoint names are in the file before it is sent */
    ngx_http_ds_audit_flush(sink, log);

    line = ds_audit_checkpoint_line(&sink->chain, event,
                                    ngx_http_ds_audit_now_ms(), &len);
    if (line == NULL) {
        ngx_log_error(NGX_LOG_CRIT, log, 0,
                      "ds_audit: could not build a checkpoint for \"%V\"",
                      &sink->name);
        return;
    }

    if (ngx_http_ds_audit_syslog(amcf->checkpoint, (u_char *) line, len, log)
        == NGX_OK)
    {
        sink->checkpoint_seq = sink->chain.seq;

    } else if (ngx_time() != amcf->checkpoint_err_time) {
        /* the next interval sends the head again */
        amcf->checkpoint_err_time = ngx_time();
        ngx_log_error(NGX_LOG_CRIT, log, 0,
                      "ds_audit: checkpoint to \"%V\" not sent",
                      &amcf->checkpoint_name);
    }

    free(line);
}


void
ngx_http_ds_audit_checkpoint_start(ngx_cycle_t *cycle,
    ngx_http_ds_audit_main_conf_t *amcf)
{
    ngx_event_t  *ev;

    if (amcf->checkpoint == NULL || amcf->sinks.nelts == 0) {
        return;
    }

    ev = &amcf->checkpoint_event;
    ev->handler = ngx_http_ds_audit_checkpoint_handler;
    ev->data = amcf;
    ev->log = cycle->log;

    /* a graceful stop does not wait for it: chain-end sends the last */
    ev->cancelable = 1;

    ngx_add_timer(ev, amcf->checkpoint_interval);
}


static void
ngx_http_ds_audit_checkpoint_handler(ngx_event_t *ev)
{
    ngx_uint_t                      i;
    ngx_http_ds_audit_sink_t      **sinks;
    ngx_http_ds_audit_main_conf_t  *amcf;

    amcf = ev->data;
    sinks = amcf->sinks.elts;

    for (i = 0; i < amcf->sinks.nelts; i++) {
        ngx_http_ds_audit_checkpoint_send(amcf, sinks[i], "interval",
                                          ev->log);
    }

    if (!ngx_exiting) {
        ngx_add_timer(ev, amcf->checkpoint_interval);
    }
}


char *
ngx_http_ds_audit_checkpoint(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ds_audit_main_conf_t *amcf = conf;

    ngx_str_t   *value, s;
    ngx_uint_t   i;
    ngx_msec_t   interval;

    if (amcf->checkpoint) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strncmp(value[1].data, "syslog:", 7) != 0) {
        /* a local file is what an intruder on this host could rewrite */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_audit_checkpoint \"%V\": give a syslog: "
                           "destination that the gateway host cannot "
                           "rewrite (syslog:server=ADDRESS)", &value[1]);
        return NGX_CONF_ERROR;
    }

    interval = NGX_HTTP_DS_CHECKPOINT_INTERVAL;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "interval=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;
            interval = ngx_parse_time(&s, 0);

            if (interval == (ngx_msec_t) NGX_ERROR
                || interval < NGX_HTTP_DS_CHECKPOINT_MIN)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid checkpoint interval \"%V\" "
                                   "(at least 1s)", &s);
                return NGX_CONF_ERROR;
            }
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    amcf->checkpoint = ngx_pcalloc(cf->pool, sizeof(ngx_syslog_peer_t));
    if (amcf->checkpoint == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_syslog_process_conf(cf, amcf->checkpoint) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    amcf->checkpoint_name = value[1];
    amcf->checkpoint_interval = interval;

    return NGX_CONF_OK;
}
