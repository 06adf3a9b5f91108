/*
 * The test oracle: audit records built as jansson trees and sealed
 * through the canonical serializer, the way the first gateway wrote
 * them. The product writes every record with the one writer
 * (ngx_ds_module/core/ds_audit_write.c); the unit tests and the fuzz
 * harness hold its lines against these, byte for byte.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_audit_int.h"
#include "ds_audit_oracle.h"
#include "ds_time.h"




typedef struct {
    int       sanitized;
    unsigned  shift;                    /* caps >> shift: oversized records */
    size_t    bytes;                    /* escaped size of the strings */
    json_t   *truncated;                /* array of field names */
} ds_audit_flags_t;


/* ------------------------------------------------------------ strings */

static int
ds_audit_listed(json_t *arr, const char *name)
{
    size_t  i;

    for (i = 0; i < json_array_size(arr); i++) {
        if (strcmp(json_string_value(json_array_get(arr, i)), name) == 0) {
            return 1;
        }
    }

    return 0;
}

/* a JSON string from untrusted bytes, cleaned and capped */
static json_t *
ds_audit_string(ds_audit_str_t s, size_t cap, const char *field,
    ds_audit_flags_t *fl)
{
    char        *out, local[DS_AUDIT_CAP_PATH + 1];
    json_t      *j;
    ds_clean_t   cl;

    if (s.data == NULL) {
        return json_null();
    }

    cap >>= fl->shift;
    out = local;

    if (cap >= sizeof(local)) {
        out = malloc(cap + 1);
        if (out == NULL) {
            return NULL;
        }
    }

    ds_audit_clean(s.data, s.len, cap, out, &cl);

    if (cl.truncated && fl->truncated
        && !ds_audit_listed(fl->truncated, field))
    {
        json_array_append_new(fl->truncated, json_string(field));
    }

    if (cl.sanitized) {
        fl->sanitized = 1;
    }

    fl->bytes += cl.cost + 2;

    j = json_stringn_nocheck(out, cl.len);

    if (out != local) {
        free(out);
    }

    return j;
}


static void
ds_set_str(json_t *o, const char *key, ds_audit_str_t s, size_t cap,
    ds_audit_flags_t *fl)
{
    json_object_set_new(o, key, ds_audit_string(s, cap, key, fl));
}


/* allow-listed query arguments as an object; values kept as sent */
static json_t *
ds_int_or_null(int has, int64_t n)
{
    return has ? json_integer(n) : json_null();
}


static json_t *
ds_audit_disclosure(const ds_disclosure_t *d, ds_audit_flags_t *fl)
{
    size_t   i;
    json_t  *o, *a, *p, *v;

    o = json_object();
    a = json_object();
    json_object_set_new(a, "file", json_integer(d->n_file));
    json_object_set_new(a, "add", json_integer(d->n_add));
    json_object_set_new(a, "cdf", json_integer(d->n_cdf));
    json_object_set_new(a, "remove", json_integer(d->n_remove));
    json_object_set_new(o, "actions", a);
    json_object_set_new(o, "bytes", json_integer(d->bytes));
    json_object_set_new(o, "cut", ds_audit_string(ds_audit_cstr(d->cut),
                        DS_AUDIT_CAP_DEFAULT, "disclosure", fl));
    json_object_set_new(o, "expires_first",
                        ds_int_or_null(d->expires_first != 0,
                                       d->expires_first));
    json_object_set_new(o, "exposed_until",
                        ds_int_or_null(d->exposed_until != 0,
                                       d->exposed_until));
    json_object_set_new(o, "files", json_integer(d->files));
    json_object_set_new(o, "format", ds_audit_string(
                        ds_audit_cstr(ds_disclose_format_name(d->format)),
                        DS_AUDIT_CAP_DEFAULT, "disclosure", fl));

    p = json_array();
    for (i = 0; i < d->npartitions; i++) {
        json_array_append_new(p, ds_audit_string(
                              ds_audit_cstr(d->partitions[i]),
                              DS_AUDIT_CAP_DEFAULT, "disclosure", fl));
    }
    json_object_set_new(o, "partitions", p);
    json_object_set_new(o, "partitions_capped",
                        json_boolean(d->partitions_capped));
    json_object_set_new(o, "proxied", json_boolean(d->proxied));
    json_object_set_new(o, "records",
                        ds_int_or_null(d->has_records, d->records));
    json_object_set_new(o, "table_version",
                        ds_int_or_null(d->has_table_version,
                                       d->table_version));

    v = json_null();
    if (d->has_versions) {
        v = json_pack("[II]", (json_int_t) d->version_min,
                      (json_int_t) d->version_max);
    }
    json_object_set_new(o, "versions", v);

    return o;
}


static json_t *
ds_audit_jwt(const ds_audit_req_t *rq, ds_audit_flags_t *fl)
{
    json_t  *o;

    o = json_object();
    json_object_set_new(o, "exp", ds_int_or_null(rq->jwt_exp != 0,
                                                  rq->jwt_exp));
    json_object_set_new(o, "issuer", ds_audit_string(rq->jwt_issuer,
                        DS_AUDIT_CAP_DEFAULT, "jwt", fl));
    json_object_set_new(o, "jti_hash", ds_audit_string(rq->jwt_jti_hash,
                        DS_AUDIT_CAP_DEFAULT, "jwt", fl));
    json_object_set_new(o, "kid", ds_audit_string(rq->jwt_kid,
                        DS_AUDIT_CAP_DEFAULT, "jwt", fl));
    json_object_set_new(o, "subject", ds_audit_string(rq->jwt_subject,
                        DS_AUDIT_CAP_DEFAULT, "jwt", fl));

    return o;
}


static json_t *
ds_audit_query(const ds_audit_req_t *rq, ds_audit_flags_t *fl)
{
    size_t           pos;
    json_t          *q;
    const char      *name;
    ds_audit_str_t   v;

    q = json_object();
    if (q == NULL) {
        return NULL;
    }

    pos = 0;

    while ((name = ds_audit_query_next(rq->args, &pos, rq->query_allow, &v))
           != NULL)
    {
        if (json_object_get(q, name) == NULL) {
            json_object_set_new(q, name,
                ds_audit_string(v, DS_AUDIT_CAP_QUERY_VALUE, "query", fl));
        }
    }

    return q;
}


static void
ds_set_flags(json_t *o, ds_audit_flags_t *fl)
{
    if (fl->sanitized) {
        json_object_set_new(o, "sanitized", json_true());
    }

    if (json_array_size(fl->truncated)) {
        json_object_set(o, "truncated", fl->truncated);
    }
}


static int
ds_present(ds_audit_str_t s)
{
    return s.data != NULL && s.len > 0;
}


static void
ds_set_time(json_t *o, const char *dt_key, const char *ms_key, int64_t ms)
{
    char  buf[DS_RFC3339_LEN];

    ds_time_format_rfc3339(ms, buf, sizeof(buf));
    json_object_set_new(o, dt_key, json_string(buf));
    json_object_set_new(o, ms_key, json_integer(ms));
}


/* ------------------------------------------------------------ native */

static json_t *
ds_audit_native(const ds_audit_req_t *rq, ds_audit_flags_t *fl)
{
    json_t  *o, *rl, *it;

    o = json_object();
    if (o == NULL) {
        return NULL;
    }

    json_object_set_new(o, "schema_version",
                        json_integer(DS_AUDIT_SCHEMA_VERSION));
    json_object_set_new(o, "type", json_string("request"));
    ds_set_time(o, "time", "time_ms", rq->time_ms);

    ds_set_str(o, "instance", rq->instance, DS_AUDIT_CAP_DEFAULT, fl);
    ds_set_str(o, "request_id", rq->request_id, DS_AUDIT_CAP_DEFAULT, fl);
    ds_set_str(o, "recipient", rq->recipient, DS_AUDIT_CAP_DEFAULT, fl);
    ds_set_str(o, "token_id", rq->token_id, DS_AUDIT_CAP_DEFAULT, fl);

    ds_set_str(o, "action", rq->action, DS_AUDIT_CAP_DEFAULT, fl);
    ds_set_str(o, "operation", rq->operation, DS_AUDIT_CAP_DEFAULT, fl);
    ds_set_str(o, "method", rq->method, DS_AUDIT_CAP_DEFAULT, fl);
    ds_set_str(o, "path", rq->path, DS_AUDIT_CAP_PATH, fl);
    json_object_set_new(o, "query", ds_audit_query(rq, fl));

    ds_set_str(o, "client_ip", rq->client_ip, DS_AUDIT_CAP_DEFAULT, fl);
    ds_set_str(o, "country", rq->country, DS_AUDIT_CAP_DEFAULT, fl);
    ds_set_str(o, "user_agent", rq->user_agent, DS_AUDIT_CAP_UA, fl);

    ds_set_str(o, "decision", rq->decision, DS_AUDIT_CAP_DEFAULT, fl);
    ds_set_str(o, "reason", rq->reason, DS_AUDIT_CAP_DEFAULT, fl);
    json_object_set_new(o, "status", json_integer(rq->status));
    json_object_set_new(o, "bytes_sent", json_integer(rq->bytes_sent));
    json_object_set_new(o, "body_bytes_sent",
                        json_integer(rq->body_bytes_sent));
    ds_set_str(o, "upstream_status", rq->upstream_status,
               DS_AUDIT_CAP_DEFAULT, fl);
    json_object_set_new(o, "duration_ms", json_integer(rq->duration_ms));

    ds_set_str(o, "share", rq->share, DS_AUDIT_CAP_DEFAULT, fl);
    ds_set_str(o, "schema", rq->schema, DS_AUDIT_CAP_DEFAULT, fl);
    ds_set_str(o, "table", rq->table, DS_AUDIT_CAP_DEFAULT, fl);
    ds_set_str(o, "purpose", rq->purpose, DS_AUDIT_CAP_DEFAULT, fl);

    rl = json_null();
    if (rq->rl_state.data) {
        rl = json_object();
        ds_set_str(rl, "state", rq->rl_state, DS_AUDIT_CAP_DEFAULT, fl);
        json_object_set_new(rl, "limit", json_integer(rq->rl_limit));
        json_object_set_new(rl, "remaining", json_integer(rq->rl_remaining));
    }
    json_object_set_new(o, "rate_limit", rl);

    it = json_null();
    if (rq->has_items) {
        it = json_object();
        json_object_set_new(it, "in", json_integer(rq->items_in));
        json_object_set_new(it, "out", json_integer(rq->items_out));
    }
    json_object_set_new(o, "list_items", it);

    it = json_null();
    if (rq->has_file) {
        it = json_object();
        ds_set_str(it, "id", rq->file_id, DS_AUDIT_CAP_DEFAULT, fl);
        ds_set_str(it, "range", rq->file_range, DS_AUDIT_CAP_DEFAULT, fl);
    }
    json_object_set_new(o, "file", it);

    ds_set_str(o, "policy_version", rq->policy_version,
               DS_AUDIT_CAP_DEFAULT, fl);

    json_object_set_new(o, "request_length",
                        json_integer(rq->request_length));
    ds_set_str(o, "body_sha256", rq->body_sha256, DS_AUDIT_CAP_DEFAULT, fl);

    json_object_set_new(o, "disclosure", rq->disclosure
                        ? ds_audit_disclosure(rq->disclosure, fl)
                        : json_null());

    json_object_set_new(o, "jwt", rq->has_jwt ? ds_audit_jwt(rq, fl)
                                              : json_null());

    ds_set_flags(o, fl);

    return o;
}


/* -------------------------------------------------------------- OCSF */

static int
ds_streq(ds_audit_str_t s, const char *c)
{
    return s.data && s.len == strlen(c) && memcmp(s.data, c, s.len) == 0;
}


static json_t *
ds_ocsf_base(int activity_id, int64_t time_ms)
{
    json_t  *o;

    o = json_object();
    if (o == NULL) {
        return NULL;
    }

    json_object_set_new(o, "activity_id", json_integer(activity_id));
    json_object_set_new(o, "activity_name",
                        json_string(activity_id == 2 ? "Read" : "Other"));
    json_object_set_new(o, "category_uid", json_integer(6));
    json_object_set_new(o, "category_name",
                        json_string("Application Activity"));
    json_object_set_new(o, "class_uid", json_integer(6003));
    json_object_set_new(o, "class_name", json_string("API Activity"));
    json_object_set_new(o, "type_uid", json_integer(600300 + activity_id));
    json_object_set_new(o, "type_name",
                        json_string(activity_id == 2 ? "API Activity: Read"
                                                     : "API Activity: Other"));
    ds_set_time(o, "time_dt", "time", time_ms);

    return o;
}


static json_t *
ds_ocsf_metadata(ds_audit_str_t instance, ds_audit_str_t request_id,
    ds_audit_flags_t *fl)
{
    json_t  *m, *prod, *profiles;

    m = json_object();
    prod = json_object();
    profiles = json_array();

    json_object_set_new(prod, "name", json_string("ngx_ds"));
    json_object_set_new(prod, "vendor_name", json_string("ngx_ds"));
    ds_set_str(prod, "uid", instance, DS_AUDIT_CAP_DEFAULT, fl);

    json_array_append_new(profiles, json_string("security_control"));
    json_array_append_new(profiles, json_string("datetime"));

    json_object_set_new(m, "version", json_string("1.8.0"));
    json_object_set_new(m, "product", prod);
    json_object_set_new(m, "log_name", json_string("ds-audit"));
    json_object_set_new(m, "profiles", profiles);

    if (request_id.data) {
        ds_set_str(m, "correlation_uid", request_id, DS_AUDIT_CAP_DEFAULT,
                   fl);
    }

    return m;
}


static void
ds_ocsf_outcome(json_t *o, const ds_audit_req_t *rq)
{
    int          allow, deny, sev, disp, status_id, action_id;
    const char  *status, *action, *dispname, *sevname;
    char         code[16];

    allow = ds_streq(rq->decision, "allow");
    deny = ds_streq(rq->decision, "deny");

    if (rq->status == 499) {
        status_id = 99;
        status = "Other";
    } else if (rq->status > 0 && rq->status < 400) {
        status_id = 1;
        status = "Success";
    } else {
        status_id = 2;
        status = "Failure";
    }

    if (allow) {
        action_id = 1;
        action = "Allowed";
        disp = 1;
        dispname = "Allowed";
        sev = (rq->status >= 400 && rq->status != 499) ? 2 : 1;

    } else if (deny) {
        action_id = 2;
        action = "Denied";
        if (rq->status == 401) {
            disp = 26;
            dispname = "Unauthorized";
            sev = 2;
        } else if (rq->status == 429 || rq->status == 503) {
            disp = 2;
            dispname = "Blocked";
            sev = 2;
        } else {
            disp = 2;
            dispname = "Blocked";
            sev = 3;
        }

    } else {
        action_id = 99;
        action = "Other";
        disp = 27;
        dispname = "Error";
        sev = 2;
    }

    sevname = sev == 1 ? "Informational" : sev == 2 ? "Low" : "Medium";

    snprintf(code, sizeof(code), "%d", rq->status);

    json_object_set_new(o, "severity_id", json_integer(sev));
    json_object_set_new(o, "severity", json_string(sevname));
    json_object_set_new(o, "status_id", json_integer(status_id));
    json_object_set_new(o, "status", json_string(status));
    json_object_set_new(o, "status_code", json_string(code));
    json_object_set_new(o, "action_id", json_integer(action_id));
    json_object_set_new(o, "action", json_string(action));
    json_object_set_new(o, "disposition_id", json_integer(disp));
    json_object_set_new(o, "disposition", json_string(dispname));
}


/* "share.schema.table" from what is present */
static void
ds_ocsf_resource(json_t *o, const ds_audit_req_t *rq, ds_audit_flags_t *fl)
{
    ds_buf_t        uid, ns;
    ds_audit_str_t  s;
    const char     *type;
    json_t         *res, *arr;

    if (!ds_present(rq->share)) {
        return;
    }

    memset(&uid, 0, sizeof(uid));
    memset(&ns, 0, sizeof(ns));

    ds_buf_add(&uid, rq->share.data, rq->share.len);
    type = "delta_sharing.share";

    if (ds_present(rq->schema)) {
        ds_buf_add(&ns, uid.p, uid.len);
        ds_buf_add(&uid, ".", 1);
        ds_buf_add(&uid, rq->schema.data, rq->schema.len);
        type = "delta_sharing.schema";
    }

    if (ds_present(rq->table)) {
        free(ns.p);
        memset(&ns, 0, sizeof(ns));
        ds_buf_add(&ns, uid.p, uid.len);
        ds_buf_add(&uid, ".", 1);
        ds_buf_add(&uid, rq->table.data, rq->table.len);
        type = "delta_sharing.table";
    }

    res = json_object();
    json_object_set_new(res, "type", json_string(type));

    s.data = uid.p;
    s.len = uid.len;
    ds_set_str(res, "uid", s, 3 * DS_AUDIT_CAP_DEFAULT + 2, fl);

    s = ds_present(rq->table) ? rq->table
        : ds_present(rq->schema) ? rq->schema : rq->share;
    ds_set_str(res, "name", s, DS_AUDIT_CAP_DEFAULT, fl);

    if (ns.p) {
        s.data = ns.p;
        s.len = ns.len;
        ds_set_str(res, "namespace", s, 2 * DS_AUDIT_CAP_DEFAULT + 1, fl);
    }

    arr = json_array();
    json_array_append_new(arr, res);
    json_object_set_new(o, "resources", arr);

    free(uid.p);
    free(ns.p);
}


/* allow-listed arguments, re-joined as a query string */
static json_t *
ds_ocsf_query_string(json_t *q)
{
    const char  *k;
    json_t      *v, *r;
    ds_buf_t     b;

    memset(&b, 0, sizeof(b));

    json_object_foreach(q, k, v) {
        if (b.len) {
            ds_buf_add(&b, "&", 1);
        }
        ds_buf_add(&b, k, strlen(k));
        ds_buf_add(&b, "=", 1);
        ds_buf_add(&b, json_string_value(v), json_string_length(v));
    }

    r = b.len ? json_stringn_nocheck(b.p, b.len) : NULL;
    free(b.p);

    return r;
}


/* one-line summary for humans, no secrets */
static void
ds_ocsf_message(json_t *o, const ds_audit_req_t *rq, ds_audit_flags_t *fl)
{
    char            tail[48];
    json_t         *uid, *op;
    ds_buf_t        m;
    ds_audit_str_t  s;

    uid = json_object_get(json_object_get(json_object_get(o, "actor"),
                                          "user"), "uid");
    op = json_object_get(json_object_get(o, "api"), "operation");

    snprintf(tail, sizeof(tail), " %s %d",
             ds_streq(rq->decision, "allow") ? "allowed"
             : ds_streq(rq->decision, "deny") ? "denied" : "error",
             rq->status);

    memset(&m, 0, sizeof(m));
    ds_buf_add(&m, json_string_value(uid), json_string_length(uid));
    ds_buf_add(&m, " ", 1);
    ds_buf_add(&m, json_string_value(op), json_string_length(op));
    ds_buf_add(&m, tail, strlen(tail));

    s.data = m.p;
    s.len = m.len;
    ds_set_str(o, "message", s, DS_AUDIT_CAP_PATH, fl);
    free(m.p);
}


static json_t *
ds_audit_ocsf(const ds_audit_req_t *rq, ds_audit_flags_t *fl)
{
    int             known;
    char            buf[64];
    json_t         *o, *actor, *user, *creds, *cred, *api, *svc, *req,
                   *resp, *src, *loc, *hreq, *url, *hresp, *unm, *ds, *q,
                   *qs, *rl, *it, *pol;
    ds_audit_str_t  s;

    known = rq->action.data && !ds_streq(rq->action, "unknown");

    o = ds_ocsf_base(known ? 2 : 99, rq->time_ms);
    if (o == NULL) {
        return NULL;
    }

    ds_ocsf_outcome(o, rq);

    if (ds_present(rq->reason) && !ds_streq(rq->reason, "allowed")) {
        ds_set_str(o, "status_detail", rq->reason, DS_AUDIT_CAP_DEFAULT, fl);
    }

    json_object_set_new(o, "metadata",
                        ds_ocsf_metadata(rq->instance, rq->request_id, fl));

    /* actor: the recipient, its token by id */
    actor = json_object();
    user = json_object();
    if (ds_present(rq->recipient)) {
        ds_set_str(user, "uid", rq->recipient, DS_AUDIT_CAP_DEFAULT, fl);
    } else {
        json_object_set_new(user, "uid", json_string("anonymous"));
    }
    json_object_set_new(user, "type_id", json_integer(4));
    json_object_set_new(user, "type", json_string("Service"));
    if (ds_present(rq->token_id)) {
        creds = json_array();
        cred = json_object();
        ds_set_str(cred, "uid", rq->token_id, DS_AUDIT_CAP_DEFAULT, fl);
        json_object_set_new(cred, "type", json_string("Access Token"));
        json_array_append_new(creds, cred);
        json_object_set_new(user, "programmatic_credentials", creds);
    }
    json_object_set_new(actor, "user", user);
    json_object_set_new(o, "actor", actor);

    /* api */
    api = json_object();
    if (known) {
        ds_set_str(api, "operation", rq->action, DS_AUDIT_CAP_DEFAULT, fl);
    } else {
        snprintf(buf, sizeof(buf), "unknown:%.*s",
                 (int) (rq->method.len < 32 ? rq->method.len : 32),
                 rq->method.data ? rq->method.data : "");
        s = ds_audit_cstr(buf);
        ds_set_str(api, "operation", s, DS_AUDIT_CAP_DEFAULT, fl);
    }
    svc = json_object();
    json_object_set_new(svc, "name", json_string("delta-sharing"));
    json_object_set_new(api, "service", svc);
    json_object_set_new(api, "version", json_string("v1"));
    if (rq->request_id.data) {
        req = json_object();
        ds_set_str(req, "uid", rq->request_id, DS_AUDIT_CAP_DEFAULT, fl);
        json_object_set_new(api, "request", req);
    }
    resp = json_object();
    json_object_set_new(resp, "code", json_integer(rq->status));
    if (!ds_streq(rq->decision, "allow") && ds_present(rq->reason)) {
        ds_set_str(resp, "error", rq->reason, DS_AUDIT_CAP_DEFAULT, fl);
    }
    json_object_set_new(api, "response", resp);
    json_object_set_new(o, "api", api);

    /* where from */
    src = json_object();
    ds_set_str(src, "ip", rq->client_ip, DS_AUDIT_CAP_DEFAULT, fl);
    if (ds_present(rq->country)) {
        loc = json_object();
        ds_set_str(loc, "country", rq->country, DS_AUDIT_CAP_DEFAULT, fl);
        json_object_set_new(src, "location", loc);
    }
    json_object_set_new(o, "src_endpoint", src);

    hreq = json_object();
    ds_set_str(hreq, "http_method", rq->method, DS_AUDIT_CAP_DEFAULT, fl);
    url = json_object();
    ds_set_str(url, "path", rq->path, DS_AUDIT_CAP_PATH, fl);
    q = ds_audit_query(rq, fl);
    qs = ds_ocsf_query_string(q);
    if (qs) {
        json_object_set_new(url, "query_string", qs);
    }
    json_decref(q);
    json_object_set_new(hreq, "url", url);
    if (rq->user_agent.data) {
        ds_set_str(hreq, "user_agent", rq->user_agent, DS_AUDIT_CAP_UA, fl);
    }
    if (rq->request_id.data) {
        ds_set_str(hreq, "uid", rq->request_id, DS_AUDIT_CAP_DEFAULT, fl);
    }
    json_object_set_new(o, "http_request", hreq);

    hresp = json_object();
    json_object_set_new(hresp, "code", json_integer(rq->status));
    json_object_set_new(hresp, "body_length",
                        json_integer(rq->body_bytes_sent));
    json_object_set_new(hresp, "latency", json_integer(rq->duration_ms));
    json_object_set_new(o, "http_response", hresp);

    ds_ocsf_resource(o, rq, fl);

    if (ds_present(rq->policy_version)) {
        pol = json_object();
        json_object_set_new(pol, "name", json_string("ds_policy"));
        ds_set_str(pol, "uid", rq->policy_version, DS_AUDIT_CAP_DEFAULT, fl);
        json_object_set_new(pol, "is_applied",
                            json_boolean(!ds_streq(rq->decision, "error")));
        json_object_set_new(o, "policy", pol);
    }

    ds_ocsf_message(o, rq, fl);

    /* what OCSF has no attribute for */
    ds = json_object();
    json_object_set_new(ds, "type", json_string("request"));
    ds_set_str(ds, "decision", rq->decision, DS_AUDIT_CAP_DEFAULT, fl);
    ds_set_str(ds, "reason", rq->reason, DS_AUDIT_CAP_DEFAULT, fl);
    ds_set_str(ds, "operation", rq->operation, DS_AUDIT_CAP_DEFAULT, fl);
    ds_set_str(ds, "token_id", rq->token_id, DS_AUDIT_CAP_DEFAULT, fl);
    ds_set_str(ds, "share", rq->share, DS_AUDIT_CAP_DEFAULT, fl);
    ds_set_str(ds, "schema", rq->schema, DS_AUDIT_CAP_DEFAULT, fl);
    ds_set_str(ds, "table", rq->table, DS_AUDIT_CAP_DEFAULT, fl);
    ds_set_str(ds, "purpose_of_use", rq->purpose, DS_AUDIT_CAP_DEFAULT, fl);
    json_object_set_new(ds, "bytes_sent", json_integer(rq->bytes_sent));
    json_object_set_new(ds, "request_length",
                        json_integer(rq->request_length));
    if (rq->body_sha256.data) {
        ds_set_str(ds, "body_sha256", rq->body_sha256, DS_AUDIT_CAP_DEFAULT,
                   fl);
    }
    ds_set_str(ds, "upstream_status", rq->upstream_status,
               DS_AUDIT_CAP_DEFAULT, fl);
    ds_set_str(ds, "instance", rq->instance, DS_AUDIT_CAP_DEFAULT, fl);

    if (rq->rl_state.data) {
        rl = json_object();
        ds_set_str(rl, "state", rq->rl_state, DS_AUDIT_CAP_DEFAULT, fl);
        json_object_set_new(rl, "limit", json_integer(rq->rl_limit));
        json_object_set_new(rl, "remaining", json_integer(rq->rl_remaining));
        json_object_set_new(ds, "rate_limit", rl);
    }

    if (rq->has_items) {
        it = json_object();
        json_object_set_new(it, "in", json_integer(rq->items_in));
        json_object_set_new(it, "out", json_integer(rq->items_out));
        json_object_set_new(ds, "list_items", it);
    }

    if (rq->disclosure) {
        json_object_set_new(ds, "disclosure",
                            ds_audit_disclosure(rq->disclosure, fl));
    }

    if (rq->has_file) {
        it = json_object();
        ds_set_str(it, "id", rq->file_id, DS_AUDIT_CAP_DEFAULT, fl);
        ds_set_str(it, "range", rq->file_range, DS_AUDIT_CAP_DEFAULT, fl);
        json_object_set_new(ds, "file", it);
    }

    if (rq->has_jwt) {
        json_object_set_new(ds, "jwt", ds_audit_jwt(rq, fl));
    }

    ds_set_flags(ds, fl);

    if (fl->sanitized || json_array_size(fl->truncated)) {
        json_object_set_new(json_object_get(o, "metadata"), "is_truncated",
                            json_boolean(json_array_size(fl->truncated)));
    }

    unm = json_object();
    json_object_set_new(unm, "dsgw", ds);
    json_object_set_new(o, "unmapped", unm);

    return o;
}


json_t *
ds_audit_request_record(ds_audit_format_t fmt, const ds_audit_req_t *rq)
{
    char              *line;
    size_t             len;
    json_t            *o;
    unsigned           shift;
    ds_audit_flags_t   fl;

    /*
     * Field caps keep ordinary records small; a record of hostile
     * maximal fields is rebuilt with every cap divided by 4, then 16,
     * so that the sealed line stays under DS_AUDIT_LINE_MAX.
     */
    for (shift = 0; ; shift += 2) {
        fl.sanitized = 0;
        fl.shift = shift;
        fl.truncated = json_array();
        if (fl.truncated == NULL) {
            return NULL;
        }

        fl.bytes = 0;

        o = (fmt == DS_AUDIT_OCSF) ? ds_audit_ocsf(rq, &fl)
                                   : ds_audit_native(rq, &fl);
        json_decref(fl.truncated);

        if (o == NULL || shift == 4) {
            return o;
        }

        /* keys, numbers and constants stay below DS_AUDIT_FIXED_MAX */
        if (fl.bytes + DS_AUDIT_FIXED_MAX
            <= DS_AUDIT_LINE_MAX - DS_AUDIT_SEAL_MAX)
        {
            return o;
        }

        line = ds_audit_canonical(o, &len);
        free(line);

        if (line && len <= DS_AUDIT_LINE_MAX - DS_AUDIT_SEAL_MAX) {
            return o;
        }

        json_decref(o);
    }
}


json_t *
ds_audit_lifecycle_record(ds_audit_format_t fmt, const char *type,
    int64_t time_ms, const char *instance, long pid, uint64_t requests,
    uint64_t lost)
{
    int               end;
    json_t           *o, *ds, *actor, *src, *unm;
    ds_audit_flags_t  fl;

    end = strcmp(type, "chain_end") == 0;
    fl.sanitized = 0;
    fl.shift = 0;
    fl.truncated = NULL;

    if (fmt == DS_AUDIT_NATIVE) {
        o = json_object();
        if (o == NULL) {
            return NULL;
        }
        json_object_set_new(o, "schema_version",
                            json_integer(DS_AUDIT_SCHEMA_VERSION));
        json_object_set_new(o, "type", json_string(type));
        ds_set_time(o, "time", "time_ms", time_ms);
        ds_set_str(o, "instance", ds_audit_cstr(instance),
                   DS_AUDIT_CAP_DEFAULT, &fl);
        json_object_set_new(o, "pid", json_integer(pid));
        ds = o;

    } else {
        o = ds_ocsf_base(99, time_ms);
        if (o == NULL) {
            return NULL;
        }
        json_object_set_new(o, "severity_id", json_integer(1));
        json_object_set_new(o, "severity", json_string("Informational"));
        json_object_set_new(o, "status_id", json_integer(1));
        json_object_set_new(o, "status", json_string("Success"));
        json_object_set_new(o, "message",
                            json_string(end ? "audit chain ended"
                                            : "audit chain started"));
        json_object_set_new(o, "metadata",
                            ds_ocsf_metadata(ds_audit_cstr(instance),
                                             ds_audit_cstr(NULL), &fl));
        actor = json_object();
        json_object_set_new(actor, "app_name", json_string("ngx_ds"));
        json_object_set_new(o, "actor", actor);
        ds = json_object();
        json_object_set_new(ds, "operation",
                            json_string(end ? "dsAuditChainEnd"
                                            : "dsAuditChainStart"));
        json_object_set_new(o, "api", ds);
        src = json_object();
        ds_set_str(src, "hostname", ds_audit_cstr(instance),
                   DS_AUDIT_CAP_DEFAULT, &fl);
        json_object_set_new(o, "src_endpoint", src);

        ds = json_object();
        json_object_set_new(ds, "type", json_string(type));
        json_object_set_new(ds, "pid", json_integer(pid));
        unm = json_object();
        json_object_set_new(unm, "dsgw", ds);
        json_object_set_new(o, "unmapped", unm);
    }

    if (end) {
        json_object_set_new(ds, "records", json_integer(requests));
        json_object_set_new(ds, "lost", json_integer(lost));
    }

    return o;
}


static json_t *
ds_audit_alert_object(const ds_audit_alert_t *a, ds_audit_flags_t *fl)
{
    json_t  *o;

    o = json_object();
    json_object_set_new(o, "action", json_string(a->action));
    json_object_set_new(o, "baseline", ds_int_or_null(a->baseline >= 0,
                                                      a->baseline));
    json_object_set_new(o, "metric", json_string(a->metric));
    json_object_set_new(o, "observed", json_integer(a->observed));
    json_object_set_new(o, "threshold", json_integer(a->threshold));
    json_object_set_new(o, "until_ms", ds_int_or_null(a->until_ms != 0,
                                                      a->until_ms));
    json_object_set_new(o, "window",
                        ds_audit_string(a->window, DS_AUDIT_CAP_DEFAULT,
                                        "alert", fl));
    json_object_set_new(o, "window_ms", json_integer(a->window_ms));

    return o;
}


json_t *
ds_audit_alert_record(ds_audit_format_t fmt, const ds_audit_alert_t *a)
{
    int               high, fail_open;
    json_t           *o, *ds, *actor, *user, *api, *src, *pol, *unm;
    ds_audit_flags_t  fl;

    fl.sanitized = 0;
    fl.shift = 0;
    fl.bytes = 0;
    fl.truncated = NULL;

    if (fmt == DS_AUDIT_NATIVE) {
        o = json_object();
        if (o == NULL) {
            return NULL;
        }
        json_object_set_new(o, "schema_version",
                            json_integer(DS_AUDIT_SCHEMA_VERSION));
        json_object_set_new(o, "type", json_string("alert"));
        ds_set_time(o, "time", "time_ms", a->time_ms);
        ds_set_str(o, "instance", ds_audit_cstr(a->instance),
                   DS_AUDIT_CAP_DEFAULT, &fl);
        json_object_set_new(o, "pid", json_integer(a->pid));
        ds_set_str(o, "recipient", a->recipient, DS_AUDIT_CAP_DEFAULT, &fl);
        ds_set_str(o, "request_id", a->request_id, DS_AUDIT_CAP_DEFAULT,
                   &fl);
        ds_set_str(o, "policy_version", a->policy_version,
                   DS_AUDIT_CAP_DEFAULT, &fl);
        json_object_set_new(o, "alert", ds_audit_alert_object(a, &fl));
        return o;
    }

    fail_open = strcmp(a->metric, "fail_open") == 0;
    high = strcmp(a->action, "suspend") == 0 || fail_open;

    o = ds_ocsf_base(99, a->time_ms);
    if (o == NULL) {
        return NULL;
    }
    json_object_set_new(o, "severity_id", json_integer(high ? 4 : 3));
    json_object_set_new(o, "severity", json_string(high ? "High"
                                                        : "Medium"));
    json_object_set_new(o, "message", json_string(
        fail_open ? "access alert: the rate limiter failed open"
        : high ? "access alert: recipient suspended"
               : "access alert: threshold exceeded"));
    json_object_set_new(o, "metadata",
                        ds_ocsf_metadata(ds_audit_cstr(a->instance),
                                         a->request_id, &fl));

    actor = json_object();
    json_object_set_new(actor, "app_name", json_string("ngx_ds"));
    user = json_object();
    ds_set_str(user, "uid", a->recipient, DS_AUDIT_CAP_DEFAULT, &fl);
    json_object_set_new(actor, "user", user);
    json_object_set_new(o, "actor", actor);

    api = json_object();
    json_object_set_new(api, "operation", json_string("dsAccessAlert"));
    json_object_set_new(o, "api", api);

    src = json_object();
    ds_set_str(src, "hostname", ds_audit_cstr(a->instance),
               DS_AUDIT_CAP_DEFAULT, &fl);
    json_object_set_new(o, "src_endpoint", src);

    if (ds_present(a->policy_version)) {
        pol = json_object();
        json_object_set_new(pol, "name", json_string("ds_policy"));
        ds_set_str(pol, "uid", a->policy_version, DS_AUDIT_CAP_DEFAULT,
                   &fl);
        json_object_set_new(pol, "is_applied", json_true());
        json_object_set_new(o, "policy", pol);
    }

    ds = json_object();
    json_object_set_new(ds, "type", json_string("alert"));
    json_object_set_new(ds, "pid", json_integer(a->pid));
    json_object_set_new(ds, "alert", ds_audit_alert_object(a, &fl));
    unm = json_object();
    json_object_set_new(unm, "dsgw", ds);
    json_object_set_new(o, "unmapped", unm);

    return o;
}


/* ------------------------------------------------------------- seal */

static json_t *
ds_obj_child(json_t *o, const char *key)
{
    json_t  *c;

    c = json_object_get(o, key);
    if (json_is_object(c)) {
        return c;
    }

    c = json_object();
    json_object_set_new(o, key, c);

    return c;
}


char *
ds_audit_seal(ds_audit_chain_t *c, json_t *rec, size_t *len)
{
    char      mac[DS_AUDIT_MAC_HEX + 1], *line;
    char      uid[DS_AUDIT_CHAIN_MAX + 24];
    json_t   *integ, *type;
    ds_buf_t  b;

    integ = json_object();
    if (integ == NULL) {
        return NULL;
    }

    json_object_set_new(integ, "v", json_integer(1));
    json_object_set_new(integ, "chain", json_string(c->id));
    json_object_set_new(integ, "epoch", json_integer(0));
    json_object_set_new(integ, "seq", json_integer((json_int_t) c->seq));
    json_object_set_new(integ, "prev", json_string(c->prev));
    if (!c->keyed) {
        json_object_set_new(integ, "alg", json_string("sha256"));
    }

    if (json_object_get(rec, "class_uid")) {
        /* metadata.uid: a stable event id for shippers' de-duplication */
        snprintf(uid, sizeof(uid), "%s:%llu", c->id,
                 (unsigned long long) c->seq);
        json_object_set_new(ds_obj_child(rec, "metadata"), "uid",
                            json_string(uid));
        json_object_set_new(ds_obj_child(rec, "metadata"), "sequence",
                            json_integer((json_int_t) c->seq));
        json_object_set_new(ds_obj_child(ds_obj_child(rec, "unmapped"),
                                         "dsgw"),
                            "integrity", integ);
        type = json_object_get(json_object_get(json_object_get(rec,
                               "unmapped"), "dsgw"), "type");
    } else {
        json_object_set_new(rec, "integrity", integ);
        type = json_object_get(rec, "type");
    }

    if (ds_canon_mac_input(rec, integ, &b) != 0) {
        return NULL;
    }

    /* b.mark_at is set: "prev" and "seq" always sort after "mac" */
    line = ds_audit_finish(c, &b,
                           json_is_string(type)
                           && strcmp(json_string_value(type), "request") == 0,
                           len, mac);
    if (line) {
        json_object_set_new(integ, "mac", json_string(mac));
    }

    return line;
}
