/*
 * Native records (schema dsgw-audit-v1): the member table and the
 * fills of request and lifecycle records, for the one writer
 * (ds_audit_write.c). Every native request record has the same member
 * set, absent values are null.
 */

#include <stdlib.h>
#include <string.h>

#include "ds_audit_write.h"


/* the members in canonical (sorted) order */
typedef enum {
    DS_N_ACTION = 0,
    DS_N_ALERT,
    DS_N_BODY_BYTES_SENT,
    DS_N_BODY_SHA256,
    DS_N_BYTES_SENT,
    DS_N_CLIENT_IP,
    DS_N_COUNTRY,
    DS_N_DECISION,
    DS_N_DISCLOSURE,
    DS_N_DURATION_MS,
    DS_N_FILE,
    DS_N_INSTANCE,
    DS_N_INTEGRITY,
    DS_N_JWT,
    DS_N_LIST_ITEMS,
    DS_N_LOST,
    DS_N_METHOD,
    DS_N_OPERATION,
    DS_N_PATH,
    DS_N_PID,
    DS_N_POLICY_VERSION,
    DS_N_PURPOSE,
    DS_N_QUERY,
    DS_N_RATE_LIMIT,
    DS_N_REASON,
    DS_N_RECIPIENT,
    DS_N_RECORDS,
    DS_N_REQUEST_ID,
    DS_N_REQUEST_LENGTH,
    DS_N_SANITIZED,
    DS_N_SCHEMA,
    DS_N_SCHEMA_VERSION,
    DS_N_SHARE,
    DS_N_STATUS,
    DS_N_TABLE,
    DS_N_TIME,
    DS_N_TIME_MS,
    DS_N_TOKEN_ID,
    DS_N_TRUNCATED,
    DS_N_TYPE,
    DS_N_UPSTREAM_STATUS,
    DS_N_USER_AGENT,
    DS_N_MEMBERS
} ds_native_member_e;


#define ds_top(key)  ds_wm(key, DS_W_VALUE, -1)

const ds_wmember_t  ds_audit_native_members[DS_N_MEMBERS] = {
    ds_top("action"), ds_top("alert"), ds_top("body_bytes_sent"),
    ds_top("body_sha256"),
    ds_top("bytes_sent"), ds_top("client_ip"), ds_top("country"),
    ds_top("decision"), ds_top("disclosure"), ds_top("duration_ms"),
    ds_top("file"), ds_top("instance"),
    ds_wm("integrity", DS_W_INTEGRITY, -1), ds_top("jwt"),
    ds_top("list_items"),
    ds_top("lost"), ds_top("method"), ds_top("operation"), ds_top("path"),
    ds_top("pid"), ds_top("policy_version"), ds_top("purpose"),
    ds_top("query"), ds_top("rate_limit"), ds_top("reason"),
    ds_top("recipient"), ds_top("records"), ds_top("request_id"),
    ds_top("request_length"), ds_top("sanitized"), ds_top("schema"),
    ds_top("schema_version"), ds_top("share"), ds_top("status"),
    ds_top("table"), ds_top("time"), ds_top("time_ms"), ds_top("token_id"),
    ds_top("truncated"), ds_top("type"), ds_top("upstream_status"),
    ds_top("user_agent")
};

const size_t  ds_audit_native_nmembers = DS_N_MEMBERS;


typedef struct {
    const char  *name;
    size_t       off;
    size_t       len;
} ds_native_arg_t;


static int
ds_native_arg_cmp(const void *a, const void *b)
{
    return strcmp(((const ds_native_arg_t *) a)->name,
                  ((const ds_native_arg_t *) b)->name);
}


/*
 * Allow-listed arguments, first occurrence of each name, as an object
 * in sorted order into b; values cleaned in the order they were sent.
 * With qs, also "name=value&..." of the cleaned values in that order.
 */
void
ds_audit_query_write(ds_writer_t *w, const ds_audit_req_t *rq, ds_buf_t *b,
    ds_buf_t *qs)
{
    size_t            pos, i, n;
    const char       *name;
    ds_buf_t          tmp, clean;
    ds_audit_str_t    v;
    ds_native_arg_t   args[DS_AUDIT_QUERY_ARGS_MAX];

    n = 0;
    pos = 0;
    memset(&tmp, 0, sizeof(tmp));
    memset(&clean, 0, sizeof(clean));

    while ((name = ds_audit_query_next(rq->args, &pos, rq->query_allow, &v))
           != NULL)
    {
        for (i = 0; i < n; i++) {
            if (strcmp(args[i].name, name) == 0) {
                break;
            }
        }

        /* a later duplicate of the name; or a list not checked (.h) */
        if (i < n || n == DS_AUDIT_QUERY_ARGS_MAX) {
            continue;
        }

        args[n].name = name;
        args[n].off = tmp.len;
        ds_w_string(w, &tmp, v, DS_AUDIT_CAP_QUERY_VALUE, "query",
                    qs ? &clean : NULL);
        args[n].len = tmp.len - args[n].off;
        n++;

        if (qs) {
            if (qs->len) {
                ds_buf_add(qs, "&", 1);
            }
            ds_buf_add(qs, name, strlen(name));
            ds_buf_add(qs, "=", 1);
            ds_buf_add(qs, clean.p, clean.len);
        }
    }

    qsort(args, n, sizeof(ds_native_arg_t), ds_native_arg_cmp);

    ds_buf_add(b, "{", 1);

    for (i = 0; i < n; i++) {
        if (i) {
            ds_buf_add(b, ",", 1);
        }
        ds_canon_string(b, args[i].name, strlen(args[i].name));
        ds_buf_add(b, ":", 1);
        ds_buf_add(b, tmp.p + args[i].off, args[i].len);
    }

    ds_buf_add(b, "}", 1);

    if (tmp.failed || clean.failed) {
        b->failed = 1;
    }

    free(tmp.p);
    free(clean.p);
}


/* {"limit":..,"remaining":..,"state":..}, state cleaned */
void
ds_audit_rate_limit_write(ds_writer_t *w, const ds_audit_req_t *rq,
    ds_buf_t *b)
{
    ds_buf_add(b, "{\"limit\":", 9);
    ds_buf_int(b, rq->rl_limit);
    ds_buf_add(b, ",\"remaining\":", 13);
    ds_buf_int(b, rq->rl_remaining);
    ds_buf_add(b, ",\"state\":", 9);
    ds_w_string(w, b, rq->rl_state, DS_AUDIT_CAP_DEFAULT, "state", NULL);
    ds_buf_add(b, "}", 1);
}


/* a download's {"id":..,"range":..}, both cleaned, null when absent */
void
ds_audit_file_write(ds_writer_t *w, const ds_audit_req_t *rq, ds_buf_t *b)
{
    ds_buf_add(b, "{\"id\":", 6);
    ds_w_string(w, b, rq->file_id, DS_AUDIT_CAP_DEFAULT, "id", NULL);
    ds_buf_add(b, ",\"range\":", 9);
    ds_w_string(w, b, rq->file_range, DS_AUDIT_CAP_DEFAULT, "range",
                NULL);
    ds_buf_add(b, "}", 1);
}


void
ds_audit_list_items_write(const ds_audit_req_t *rq, ds_buf_t *b)
{
    ds_buf_add(b, "{\"in\":", 6);
    ds_buf_int(b, rq->items_in);
    ds_buf_add(b, ",\"out\":", 7);
    ds_buf_int(b, rq->items_out);
    ds_buf_add(b, "}", 1);
}


/*
 * a JWT bearer's {"exp":..,"issuer":..,"jti_hash":..,"kid":..,
 * "subject":..}, strings cleaned, null when absent
 */
void
ds_audit_jwt_write(ds_writer_t *w, const ds_audit_req_t *rq, ds_buf_t *b)
{
    ds_buf_add(b, "{\"exp\":", 7);

    if (rq->jwt_exp) {
        ds_buf_int(b, rq->jwt_exp);
    } else {
        ds_buf_add(b, "null", 4);
    }

    ds_buf_add(b, ",\"issuer\":", 10);
    ds_w_string(w, b, rq->jwt_issuer, DS_AUDIT_CAP_DEFAULT, "jwt", NULL);
    ds_buf_add(b, ",\"jti_hash\":", 12);
    ds_w_string(w, b, rq->jwt_jti_hash, DS_AUDIT_CAP_DEFAULT, "jwt", NULL);
    ds_buf_add(b, ",\"kid\":", 7);
    ds_w_string(w, b, rq->jwt_kid, DS_AUDIT_CAP_DEFAULT, "jwt", NULL);
    ds_buf_add(b, ",\"subject\":", 11);
    ds_w_string(w, b, rq->jwt_subject, DS_AUDIT_CAP_DEFAULT, "jwt", NULL);
    ds_buf_add(b, "}", 1);
}


/* an integer member, or null when absent */
static void
ds_audit_int_or_null(ds_buf_t *b, const char *member, size_t len, int has,
    int64_t n)
{
    ds_buf_add(b, member, len);

    if (has) {
        ds_buf_int(b, n);
    } else {
        ds_buf_add(b, "null", 4);
    }
}


/* the disclosure object, its members in canonical order */
void
ds_audit_disclosure_write(ds_writer_t *w, const ds_disclosure_t *d,
    ds_buf_t *b)
{
    size_t       i;
    const char  *fmt;

    ds_buf_add(b, "{\"actions\":{\"add\":", 18);
    ds_buf_int(b, d->n_add);
    ds_buf_add(b, ",\"cdf\":", 7);
    ds_buf_int(b, d->n_cdf);
    ds_buf_add(b, ",\"file\":", 8);
    ds_buf_int(b, d->n_file);
    ds_buf_add(b, ",\"remove\":", 10);
    ds_buf_int(b, d->n_remove);
    ds_buf_add(b, "},\"bytes\":", 10);
    ds_buf_int(b, d->bytes);
    ds_buf_add(b, ",\"cut\":", 7);
    ds_w_string(w, b, ds_audit_cstr(d->cut), DS_AUDIT_CAP_DEFAULT,
                "disclosure", NULL);
    ds_audit_int_or_null(b, ",\"expires_first\":", 17,
                         d->expires_first != 0, d->expires_first);
    ds_audit_int_or_null(b, ",\"exposed_until\":", 17,
                         d->exposed_until != 0, d->exposed_until);
    ds_buf_add(b, ",\"files\":", 9);
    ds_buf_int(b, d->files);
    ds_buf_add(b, ",\"format\":", 10);
    fmt = ds_disclose_format_name(d->format);
    ds_w_string(w, b, ds_audit_cstr(fmt), DS_AUDIT_CAP_DEFAULT,
                "disclosure", NULL);
    ds_buf_add(b, ",\"partitions\":[", 15);

    for (i = 0; i < d->npartitions; i++) {
        if (i) {
            ds_buf_add(b, ",", 1);
        }
        ds_w_string(w, b, ds_audit_cstr(d->partitions[i]),
                    DS_AUDIT_CAP_DEFAULT, "disclosure", NULL);
    }

    ds_buf_add(b, "],\"partitions_capped\":", 22);
    ds_buf_add(b, d->partitions_capped ? "true" : "false",
               d->partitions_capped ? 4 : 5);
    ds_buf_add(b, ",\"proxied\":", 11);
    ds_buf_add(b, d->proxied ? "true" : "false", d->proxied ? 4 : 5);
    ds_audit_int_or_null(b, ",\"records\":", 11, d->has_records,
                         d->records);
    ds_audit_int_or_null(b, ",\"table_version\":", 17,
                         d->has_table_version, d->table_version);
    ds_buf_add(b, ",\"versions\":", 12);

    if (d->has_versions) {
        ds_buf_add(b, "[", 1);
        ds_buf_int(b, d->version_min);
        ds_buf_add(b, ",", 1);
        ds_buf_int(b, d->version_max);
        ds_buf_add(b, "]}", 2);
    } else {
        ds_buf_add(b, "null}", 5);
    }
}


/* the values, in the order their fields are cleaned */
void
ds_audit_native_request(ds_writer_t *w, const void *data)
{
    const ds_audit_req_t  *rq = data;

    ds_w_int(w, DS_N_SCHEMA_VERSION, DS_AUDIT_SCHEMA_VERSION);
    ds_w_raw(w, DS_N_TYPE, "\"request\"", 9);
    ds_w_time(w, DS_N_TIME, rq->time_ms);
    ds_w_int(w, DS_N_TIME_MS, rq->time_ms);

    ds_w_str(w, DS_N_INSTANCE, rq->instance, DS_AUDIT_CAP_DEFAULT);
    ds_w_str(w, DS_N_REQUEST_ID, rq->request_id, DS_AUDIT_CAP_DEFAULT);
    ds_w_str(w, DS_N_RECIPIENT, rq->recipient, DS_AUDIT_CAP_DEFAULT);
    ds_w_str(w, DS_N_TOKEN_ID, rq->token_id, DS_AUDIT_CAP_DEFAULT);

    ds_w_str(w, DS_N_ACTION, rq->action, DS_AUDIT_CAP_DEFAULT);
    ds_w_str(w, DS_N_OPERATION, rq->operation, DS_AUDIT_CAP_DEFAULT);
    ds_w_str(w, DS_N_METHOD, rq->method, DS_AUDIT_CAP_DEFAULT);
    ds_w_str(w, DS_N_PATH, rq->path, DS_AUDIT_CAP_PATH);

    ds_w_begin(w, DS_N_QUERY);
    ds_audit_query_write(w, rq, &w->v, NULL);
    ds_w_end(w, DS_N_QUERY);

    ds_w_str(w, DS_N_CLIENT_IP, rq->client_ip, DS_AUDIT_CAP_DEFAULT);
    ds_w_str(w, DS_N_COUNTRY, rq->country, DS_AUDIT_CAP_DEFAULT);
    ds_w_str(w, DS_N_USER_AGENT, rq->user_agent, DS_AUDIT_CAP_UA);

    ds_w_str(w, DS_N_DECISION, rq->decision, DS_AUDIT_CAP_DEFAULT);
    ds_w_str(w, DS_N_REASON, rq->reason, DS_AUDIT_CAP_DEFAULT);
    ds_w_int(w, DS_N_STATUS, rq->status);
    ds_w_int(w, DS_N_BYTES_SENT, rq->bytes_sent);
    ds_w_int(w, DS_N_BODY_BYTES_SENT, rq->body_bytes_sent);
    ds_w_str(w, DS_N_UPSTREAM_STATUS, rq->upstream_status,
             DS_AUDIT_CAP_DEFAULT);
    ds_w_int(w, DS_N_DURATION_MS, rq->duration_ms);

    ds_w_str(w, DS_N_SHARE, rq->share, DS_AUDIT_CAP_DEFAULT);
    ds_w_str(w, DS_N_SCHEMA, rq->schema, DS_AUDIT_CAP_DEFAULT);
    ds_w_str(w, DS_N_TABLE, rq->table, DS_AUDIT_CAP_DEFAULT);
    ds_w_str(w, DS_N_PURPOSE, rq->purpose, DS_AUDIT_CAP_DEFAULT);

    ds_w_begin(w, DS_N_RATE_LIMIT);
    if (rq->rl_state.data) {
        ds_audit_rate_limit_write(w, rq, &w->v);
    } else {
        ds_buf_add(&w->v, "null", 4);
    }
    ds_w_end(w, DS_N_RATE_LIMIT);

    ds_w_begin(w, DS_N_LIST_ITEMS);
    if (rq->has_items) {
        ds_audit_list_items_write(rq, &w->v);
    } else {
        ds_buf_add(&w->v, "null", 4);
    }
    ds_w_end(w, DS_N_LIST_ITEMS);

    ds_w_begin(w, DS_N_FILE);
    if (rq->has_file) {
        ds_audit_file_write(w, rq, &w->v);
    } else {
        ds_buf_add(&w->v, "null", 4);
    }
    ds_w_end(w, DS_N_FILE);

    ds_w_str(w, DS_N_POLICY_VERSION, rq->policy_version,
             DS_AUDIT_CAP_DEFAULT);
    ds_w_int(w, DS_N_REQUEST_LENGTH, rq->request_length);
    ds_w_str(w, DS_N_BODY_SHA256, rq->body_sha256, DS_AUDIT_CAP_DEFAULT);

    ds_w_begin(w, DS_N_DISCLOSURE);
    if (rq->disclosure) {
        ds_audit_disclosure_write(w, rq->disclosure, &w->v);
    } else {
        ds_buf_add(&w->v, "null", 4);
    }
    ds_w_end(w, DS_N_DISCLOSURE);

    ds_w_begin(w, DS_N_JWT);
    if (rq->has_jwt) {
        ds_audit_jwt_write(w, rq, &w->v);
    } else {
        ds_buf_add(&w->v, "null", 4);
    }
    ds_w_end(w, DS_N_JWT);

    if (w->sanitized) {
        ds_w_raw(w, DS_N_SANITIZED, "true", 4);
    }

    if (w->ntruncated) {
        ds_w_truncated(w, DS_N_TRUNCATED);
    }
}


void
ds_audit_native_lifecycle(ds_writer_t *w, const void *data)
{
    const ds_audit_lc_t  *lc = data;

    ds_w_int(w, DS_N_SCHEMA_VERSION, DS_AUDIT_SCHEMA_VERSION);
    ds_w_const(w, DS_N_TYPE, lc->type);
    ds_w_time(w, DS_N_TIME, lc->time_ms);
    ds_w_int(w, DS_N_TIME_MS, lc->time_ms);
    ds_w_str(w, DS_N_INSTANCE, ds_audit_cstr(lc->instance),
             DS_AUDIT_CAP_DEFAULT);
    ds_w_int(w, DS_N_PID, lc->pid);

    if (strcmp(lc->type, "chain_end") == 0) {
        ds_w_int(w, DS_N_RECORDS, (int64_t) lc->requests);
        ds_w_int(w, DS_N_LOST, (int64_t) lc->lost);
    }
}


/*
 * {"action":..,"baseline":..,"metric":..,"observed":..,"threshold":..,
 *  "until_ms":..,"window":..,"window_ms":..}
 */
void
ds_audit_alert_write(ds_writer_t *w, const ds_audit_alert_t *a, ds_buf_t *b)
{
    ds_buf_add(b, "{\"action\":", 10);
    ds_canon_string(b, a->action, strlen(a->action));
    ds_audit_int_or_null(b, ",\"baseline\":", 12, a->baseline >= 0,
                         a->baseline);
    ds_buf_add(b, ",\"metric\":", 10);
    ds_canon_string(b, a->metric, strlen(a->metric));
    ds_buf_add(b, ",\"observed\":", 12);
    ds_buf_int(b, a->observed);
    ds_buf_add(b, ",\"threshold\":", 13);
    ds_buf_int(b, a->threshold);
    ds_audit_int_or_null(b, ",\"until_ms\":", 12, a->until_ms != 0,
                         a->until_ms);
    ds_buf_add(b, ",\"window\":", 10);
    ds_w_string(w, b, a->window, DS_AUDIT_CAP_DEFAULT, "alert", NULL);
    ds_buf_add(b, ",\"window_ms\":", 13);
    ds_buf_int(b, a->window_ms);
    ds_buf_add(b, "}", 1);
}


void
ds_audit_native_alert(ds_writer_t *w, const void *data)
{
    const ds_audit_alert_t  *a = data;

    ds_w_int(w, DS_N_SCHEMA_VERSION, DS_AUDIT_SCHEMA_VERSION);
    ds_w_const(w, DS_N_TYPE, "alert");
    ds_w_time(w, DS_N_TIME, a->time_ms);
    ds_w_int(w, DS_N_TIME_MS, a->time_ms);
    ds_w_str(w, DS_N_INSTANCE, ds_audit_cstr(a->instance),
             DS_AUDIT_CAP_DEFAULT);
    ds_w_int(w, DS_N_PID, a->pid);
    ds_w_str(w, DS_N_RECIPIENT, a->recipient, DS_AUDIT_CAP_DEFAULT);
    ds_w_str(w, DS_N_REQUEST_ID, a->request_id, DS_AUDIT_CAP_DEFAULT);
    ds_w_str(w, DS_N_POLICY_VERSION, a->policy_version,
             DS_AUDIT_CAP_DEFAULT);

    ds_w_begin(w, DS_N_ALERT);
    ds_audit_alert_write(w, a, &w->v);
    ds_w_end(w, DS_N_ALERT);
}


/* ------------------------------------------------------------ lines */

char *
ds_audit_request_line(ds_audit_chain_t *c, ds_audit_format_t fmt,
    const ds_audit_req_t *rq, size_t *len)
{
    if (fmt == DS_AUDIT_OCSF) {
        return ds_w_line(c, ds_audit_ocsf_members, ds_audit_ocsf_nmembers,
                         ds_audit_ocsf_request, rq, 1, len);
    }

    return ds_w_line(c, ds_audit_native_members, ds_audit_native_nmembers,
                     ds_audit_native_request, rq, 1, len);
}


char *
ds_audit_lifecycle_line(ds_audit_chain_t *c, ds_audit_format_t fmt,
    const char *type, int64_t time_ms, const char *instance, long pid,
    uint64_t requests, uint64_t lost, size_t *len)
{
    ds_audit_lc_t  lc;

    lc.type = type;
    lc.time_ms = time_ms;
    lc.instance = instance;
    lc.pid = pid;
    lc.requests = requests;
    lc.lost = lost;

    if (fmt == DS_AUDIT_OCSF) {
        return ds_w_line(c, ds_audit_ocsf_members, ds_audit_ocsf_nmembers,
                         ds_audit_ocsf_lifecycle, &lc, 0, len);
    }

    return ds_w_line(c, ds_audit_native_members, ds_audit_native_nmembers,
                     ds_audit_native_lifecycle, &lc, 0, len);
}


char *
ds_audit_alert_line(ds_audit_chain_t *c, ds_audit_format_t fmt,
    const ds_audit_alert_t *a, size_t *len)
{
    if (fmt == DS_AUDIT_OCSF) {
        return ds_w_line(c, ds_audit_ocsf_members, ds_audit_ocsf_nmembers,
                         ds_audit_ocsf_alert, a, 0, len);
    }

    return ds_w_line(c, ds_audit_native_members, ds_audit_native_nmembers,
                     ds_audit_native_alert, a, 0, len);
}
