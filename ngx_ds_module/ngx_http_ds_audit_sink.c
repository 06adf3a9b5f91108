/*
 * The audit sinks: a file (whole-line appends, batched per event-loop
 * iteration or buffered, repaired after ENOSPC) or syslog, each with
 * its own per-worker dsgw-audit-v1 chain, from chain-start at worker
 * start to chain-end at exit.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds_audit.h"


/* what one loop iteration's records may take before a write() */
#define NGX_HTTP_DS_AUDIT_BATCH  (64 * 1024)


static void ngx_http_ds_audit_write(ngx_http_ds_audit_sink_t *sink,
    u_char *line, size_t len, ngx_log_t *log);
static ngx_int_t ngx_http_ds_audit_write_file(ngx_http_ds_audit_sink_t *sink,
    u_char *data, size_t len, ngx_uint_t records, ngx_log_t *log);
static ngx_int_t ngx_http_ds_audit_keep(ngx_http_ds_audit_sink_t *sink,
    u_char *rest, size_t len);
static ngx_int_t ngx_http_ds_audit_complete(ngx_http_ds_audit_sink_t *sink);
static void ngx_http_ds_audit_write_error(ngx_http_ds_audit_sink_t *sink,
    ngx_log_t *log, ngx_err_t err, ssize_t n, size_t len);
static void ngx_http_ds_audit_flush_file(ngx_open_file_t *file,
    ngx_log_t *log);
static void ngx_http_ds_audit_flush_handler(ngx_event_t *ev);


/* ------------------------------------------------------------ writes */

void
ngx_http_ds_audit_emit(ngx_http_ds_audit_sink_t *sink, char *line,
    size_t len, ngx_log_t *log)
{
    sink->records++;

    if (line == NULL) {
        /* the chain did not advance: only this record is missing */
        sink->lost++;
        ngx_log_error(NGX_LOG_CRIT, log, 0,
                      "ds_audit: could not seal a record for \"%V\"",
                      &sink->name);
        return;
    }

    ngx_http_ds_audit_write(sink, (u_char *) line, len, log);
    free(line);
}


ngx_int_t
ngx_http_ds_audit_syslog(ngx_syslog_peer_t *peer, u_char *line, size_t len,
    ngx_log_t *log)
{
    u_char   *p, *msg;
    size_t    hlen;
    ssize_t   n;

    hlen = sizeof("<255>Jan 01 00:00:00 ") - 1 + ngx_cycle->hostname.len
           + 1 + peer->tag.len + 2;

    msg = ngx_alloc(hlen + len, log);
    if (msg == NULL) {
        return NGX_ERROR;
    }

    p = ngx_syslog_add_header(peer, msg);
    p = ngx_cpymem(p, line, len - 1);             /* no trailing LF */

    n = ngx_syslog_send(peer, msg, p - msg);
    ngx_free(msg);

    return (n == p - msg) ? NGX_OK : NGX_ERROR;
}


static void
ngx_http_ds_audit_write(ngx_http_ds_audit_sink_t *sink, u_char *line,
    size_t len, ngx_log_t *log)
{
    if (sink->syslog) {
        if (ngx_http_ds_audit_syslog(sink->syslog, line, len, log)
            != NGX_OK)
        {
            sink->lost++;
            if (ngx_time() != sink->err_time) {
                sink->err_time = ngx_time();
                ngx_log_error(NGX_LOG_CRIT, log, 0,
                              "ds_audit: send to \"%V\" failed, "
                              "%ui record(s) lost by this worker",
                              &sink->name, sink->lost);
            }
        }

        return;
    }

    if (sink->buf == NULL) {
        (void) ngx_http_ds_audit_write_file(sink, line, len, 1, log);
        return;
    }

    if (sink->buf_len + len > sink->buf_size) {
        ngx_http_ds_audit_flush(sink, log);
    }

    if (len > sink->buf_size) {
        (void) ngx_http_ds_audit_write_file(sink, line, len, 1, log);
        return;
    }

    ngx_memcpy(sink->buf + sink->buf_len, line, len);
    sink->buf_len += len;
    sink->buf_records++;

    if (sink->buffer_size == 0) {
        /*
         * Without buffer=, the records of one event-loop iteration go
         * out in one write() when its posted events run, before the
         * worker waits for new events: no record waits on a timer, and
         * a busy worker makes one system call per batch, not per record.
         */
        if (!sink->flush_event.posted) {
            ngx_post_event(&sink->flush_event, &ngx_posted_events);
        }

    } else if (sink->flush && !sink->flush_event.timer_set) {
        ngx_add_timer(&sink->flush_event, sink->flush);
    }
}


/*
 * One write() of whole records on the O_APPEND descriptor: lines of
 * several workers interleave but never mix. Errors never block or
 * crash: the records are counted as lost and reported once a second.
 *
 * A write() cut short (ENOSPC in the middle of a record) leaves a
 * fragment at the end of the file. Its remainder is kept and written
 * first once space is back, so the record ends up whole and the next
 * one starts on its own line; meanwhile new records are lost (counted).
 * If another process appended behind the fragment in the meantime, or
 * the file was reopened, the remainder is dropped and counted instead.
 */
static ngx_int_t
ngx_http_ds_audit_write_file(ngx_http_ds_audit_sink_t *sink, u_char *data,
    size_t len, ngx_uint_t records, ngx_log_t *log)
{
    ssize_t    n;
    ngx_err_t  err;

    if (sink->pending_len && ngx_http_ds_audit_complete(sink) != NGX_OK) {
        err = ngx_errno;
        sink->lost += records;
        ngx_http_ds_audit_write_error(sink, log, err, -1, len);
        return NGX_ERROR;
    }

    n = ngx_write_fd(sink->file->fd, data, len);

    if (n == (ssize_t) len) {
        return NGX_OK;
    }

    err = (n == -1) ? ngx_errno : 0;

    if (n > 0 && ngx_http_ds_audit_keep(sink, data + n, len - n) == NGX_OK) {
        ngx_http_ds_audit_write_error(sink, log, err, n, len);
        return NGX_ERROR;
    }

    sink->lost += records;
    ngx_http_ds_audit_write_error(sink, log, err, n, len);

    return NGX_ERROR;
}


/* the unwritten tail of a cut write(), and where the file should end */
static ngx_int_t
ngx_http_ds_audit_keep(ngx_http_ds_audit_sink_t *sink, u_char *rest,
    size_t len)
{
    off_t        end;
    size_t       size;
    ngx_uint_t   i;

    size = ngx_max(sink->buf_size, DS_AUDIT_LINE_MAX);

    if (sink->pending == NULL) {
        sink->pending = ngx_alloc(size, ngx_cycle->log);
        if (sink->pending == NULL) {
            return NGX_ERROR;
        }
    }

    end = lseek(sink->file->fd, 0, SEEK_CUR);

    if (len > size || end == -1) {
        return NGX_ERROR;
    }

    ngx_memcpy(sink->pending, rest, len);
    sink->pending_len = len;
    sink->pending_end = end;

    /* every unwritten record ends with its newline in the tail */
    sink->pending_records = 0;
    for (i = 0; i < len; i++) {
        if (rest[i] == '\n') {
            sink->pending_records++;
        }
    }

    return NGX_OK;
}


/* NGX_OK: the fragment is whole again (or given up), the file can go on */
static ngx_int_t
ngx_http_ds_audit_complete(ngx_http_ds_audit_sink_t *sink)
{
    ssize_t          n;
    ngx_file_info_t  fi;

    if (ngx_fd_info(sink->file->fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) != sink->pending_end)
    {
        /* written behind, truncated or reopened: the tail cannot fit */
        sink->lost += sink->pending_records;
        sink->pending_len = 0;
        return NGX_OK;
    }

    n = ngx_write_fd(sink->file->fd, sink->pending, sink->pending_len);

    if (n == (ssize_t) sink->pending_len) {
        sink->pending_len = 0;
        return NGX_OK;
    }

    if (n > 0) {
        (void) ngx_http_ds_audit_keep(sink, sink->pending + n,
                                      sink->pending_len - n);
    }

    return NGX_ERROR;
}


static void
ngx_http_ds_audit_write_error(ngx_http_ds_audit_sink_t *sink, ngx_log_t *log,
    ngx_err_t err, ssize_t n, size_t len)
{
    if (ngx_time() == sink->err_time) {
        return;
    }

    sink->err_time = ngx_time();

    if (n > 0) {
        ngx_log_error(NGX_LOG_CRIT, log, err,
                      "ds_audit: write() to \"%V\" was incomplete: "
                      "%z of %uz, %ui record(s) lost by this worker",
                      &sink->file->name, n, len, sink->lost);
    } else {
        ngx_log_error(NGX_LOG_CRIT, log, err,
                      "ds_audit: write() to \"%V\" failed, "
                      "%ui record(s) lost by this worker",
                      &sink->file->name, sink->lost);
    }
}


void
ngx_http_ds_audit_flush(ngx_http_ds_audit_sink_t *sink, ngx_log_t *log)
{
    if (sink->buf == NULL || sink->buf_len == 0) {
        return;
    }

    (void) ngx_http_ds_audit_write_file(sink, sink->buf, sink->buf_len,
                                        sink->buf_records, log);
    sink->buf_len = 0;
    sink->buf_records = 0;

    if (sink->flush_event.timer_set) {
        ngx_del_timer(&sink->flush_event);
    }

    if (sink->flush_event.posted) {
        ngx_delete_posted_event(&sink->flush_event);
    }
}


/* called by nginx before it reopens the file (SIGUSR1) */
static void
ngx_http_ds_audit_flush_file(ngx_open_file_t *file, ngx_log_t *log)
{
    ngx_http_ds_audit_sink_t  *sink = file->data;

    ngx_http_ds_audit_flush(sink, log);

    /* a fragment left now stays torn in the old file: count it */
    if (sink->pending_len && ngx_http_ds_audit_complete(sink) != NGX_OK) {
        sink->lost += sink->pending_records;
        sink->pending_len = 0;
    }
}


static void
ngx_http_ds_audit_flush_handler(ngx_event_t *ev)
{
    ngx_http_ds_audit_flush(ev->data, ev->log);
}


/* ----------------------------------------------------- worker life */

int64_t
ngx_http_ds_audit_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}


ngx_int_t
ngx_http_ds_audit_sinks_open(ngx_cycle_t *cycle,
    ngx_http_ds_audit_main_conf_t *amcf)
{
    char                       *line;
    size_t                      len;
    ngx_uint_t                  i;
    ngx_http_ds_audit_sink_t  **sinks, *sink;

    sinks = amcf->sinks.elts;

    for (i = 0; i < amcf->sinks.nelts; i++) {
        sink = sinks[i];

        if (ds_audit_chain_init(&sink->chain, amcf->key, amcf->key_len,
                                (const char *) amcf->instance.data,
                                (long) ngx_pid)
            != 0)
        {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "ds_audit: no randomness for the chain id");
            return NGX_ERROR;
        }

        sink->buf_size = sink->buffer_size;

        if (sink->buf_size == 0 && sink->file) {
            sink->buf_size = NGX_HTTP_DS_AUDIT_BATCH;
        }

        if (sink->buf_size) {
            sink->buf = ngx_alloc(sink->buf_size, cycle->log);
            if (sink->buf == NULL) {
                return NGX_ERROR;
            }
        }

        sink->flush_event.handler = ngx_http_ds_audit_flush_handler;
        sink->flush_event.data = sink;
        sink->flush_event.log = cycle->log;
        sink->flush_event.cancelable = 1;

        sink->chain_ok = 1;

        line = ds_audit_lifecycle_line(&sink->chain, sink->format,
                                       "chain_start",
                                       ngx_http_ds_audit_now_ms(),
                                       (const char *) amcf->instance.data,
                                       (long) ngx_pid, 0, 0, &len);
        ngx_http_ds_audit_emit(sink, line, len, cycle->log);

        ngx_http_ds_audit_checkpoint_send(amcf, sink, "start", cycle->log);
    }

    return NGX_OK;
}


void
ngx_http_ds_audit_sinks_close(ngx_cycle_t *cycle,
    ngx_http_ds_audit_main_conf_t *amcf)
{
    char                       *line;
    size_t                      len;
    ngx_uint_t                  i;
    ngx_http_ds_audit_sink_t  **sinks, *sink;

    sinks = amcf->sinks.elts;

    for (i = 0; i < amcf->sinks.nelts; i++) {
        sink = sinks[i];

        if (!sink->chain_ok) {
            continue;
        }

        ngx_time_update();

        line = ds_audit_lifecycle_line(&sink->chain, sink->format,
                                       "chain_end",
                                       ngx_http_ds_audit_now_ms(),
                                       (const char *) amcf->instance.data,
                                       (long) ngx_pid, sink->chain.requests,
                                       sink->lost, &len);
        ngx_http_ds_audit_emit(sink, line, len, cycle->log);

        ngx_http_ds_audit_flush(sink, cycle->log);

        if (sink->pending_len) {
            if (ngx_http_ds_audit_complete(sink) != NGX_OK) {
                sink->lost += sink->pending_records;
            }
            sink->pending_len = 0;
        }

        ngx_http_ds_audit_checkpoint_send(amcf, sink, "end", cycle->log);

        if (sink->pending) {
            ngx_free(sink->pending);
            sink->pending = NULL;
        }

        if (sink->lost) {
            ngx_log_error(NGX_LOG_CRIT, cycle->log, 0,
                          "ds_audit: %ui record(s) for \"%V\" lost to "
                          "write errors by this worker", sink->lost,
                          &sink->name);
        }

        sink->chain_ok = 0;
        ds_audit_chain_free(&sink->chain);

        if (sink->buf) {
            ngx_free(sink->buf);
            sink->buf = NULL;
        }
    }
}


/* ----------------------------------------------------- configuration */

static ngx_http_ds_audit_sink_t *
ngx_http_ds_audit_find_sink(ngx_http_ds_audit_main_conf_t *amcf,
    ngx_str_t *name)
{
    ngx_uint_t                  i;
    ngx_http_ds_audit_sink_t  **sinks;

    sinks = amcf->sinks.elts;

    for (i = 0; i < amcf->sinks.nelts; i++) {
        if (sinks[i]->name.len == name->len
            && ngx_strncmp(sinks[i]->name.data, name->data, name->len) == 0)
        {
            return sinks[i];
        }
    }

    return NULL;
}


char *
ngx_http_ds_audit_log(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ds_audit_loc_conf_t *alcf = conf;

    ssize_t                         size;
    ngx_str_t                      *value, s, full;
    ngx_uint_t                      i;
    ngx_msec_t                      flush;
    ds_audit_format_t               format;
    ngx_http_ds_audit_sink_t       *sink, *old, **slot;
    ngx_http_ds_audit_main_conf_t  *amcf;

    if (alcf->sink != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            return "takes no parameters after \"off\"";
        }
        alcf->sink = NULL;
        return NGX_CONF_OK;
    }

    format = DS_AUDIT_NATIVE;
    size = 0;
    flush = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "format=", 7) == 0) {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            if (s.len == 6 && ngx_strncmp(s.data, "native", 6) == 0) {
                format = DS_AUDIT_NATIVE;
            } else if (s.len == 4 && ngx_strncmp(s.data, "ocsf", 4) == 0) {
                format = DS_AUDIT_OCSF;
            } else {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "unknown audit format \"%V\" "
                                   "(native or ocsf)", &s);
                return NGX_CONF_ERROR;
            }
            continue;
        }

        if (ngx_strncmp(value[i].data, "buffer=", 7) == 0) {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;
            size = ngx_parse_size(&s);

            if (size == NGX_ERROR || size < DS_AUDIT_LINE_MAX) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid buffer size \"%V\" (at least "
                                   "%d bytes)", &s, DS_AUDIT_LINE_MAX);
                return NGX_CONF_ERROR;
            }
            continue;
        }

        if (ngx_strncmp(value[i].data, "flush=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;
            flush = ngx_parse_time(&s, 0);

            if (flush == (ngx_msec_t) NGX_ERROR || flush == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid flush time \"%V\"", &s);
                return NGX_CONF_ERROR;
            }
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (flush && size == 0) {
        return "has \"flush\" without \"buffer\"";
    }

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ds_audit_module);

    sink = ngx_pcalloc(cf->pool, sizeof(ngx_http_ds_audit_sink_t));
    if (sink == NULL) {
        return NGX_CONF_ERROR;
    }

    sink->format = format;
    sink->buffer_size = size;
    sink->flush = flush;

    if (ngx_strncmp(value[1].data, "syslog:", 7) == 0) {
        if (size) {
            return "cannot buffer a syslog destination";
        }

        sink->syslog = ngx_pcalloc(cf->pool, sizeof(ngx_syslog_peer_t));
        if (sink->syslog == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_syslog_process_conf(cf, sink->syslog) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }

        sink->name = value[1];

    } else {
        full = value[1];
        if (ngx_conf_full_name(cf->cycle, &full, 0) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
        sink->name = full;
    }

    /* the same destination named twice is one sink, one chain */
    old = ngx_http_ds_audit_find_sink(amcf, &sink->name);

    if (old) {
        if (old->format != format || old->buffer_size != (size_t) size
            || old->flush != flush)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "audit destination \"%V\" is already used "
                               "with other parameters", &sink->name);
            return NGX_CONF_ERROR;
        }

        alcf->sink = old;
        return NGX_CONF_OK;
    }

    if (sink->syslog == NULL) {
        sink->file = ngx_conf_open_file(cf->cycle, &value[1]);
        if (sink->file == NULL) {
            return NGX_CONF_ERROR;
        }

        if (sink->file->data || sink->file->flush) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "audit file \"%V\" is also used by another "
                               "log", &sink->name);
            return NGX_CONF_ERROR;
        }

        sink->file->data = sink;
        sink->file->flush = ngx_http_ds_audit_flush_file;
    }

    slot = ngx_array_push(&amcf->sinks);
    if (slot == NULL) {
        return NGX_CONF_ERROR;
    }

    *slot = sink;
    alcf->sink = sink;

    return NGX_CONF_OK;
}
