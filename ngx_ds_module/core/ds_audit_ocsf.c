/*
 * OCSF 1.8 API Activity (6003) records: the member table and the
 * fills of request and lifecycle records, for the one writer
 * (ds_audit_write.c). What OCSF has no attribute for goes under
 * unmapped.dsgw; the mapping is documented in docs/audit.md.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_audit_write.h"


/* the members in canonical order: sorted keys, each object's follow it */
typedef enum {
    DS_O_ACTION = 0,
    DS_O_ACTION_ID,
    DS_O_ACTIVITY_ID,
    DS_O_ACTIVITY_NAME,
    DS_O_ACTOR,
    DS_O_ACTOR_APP_NAME,
    DS_O_USER,
    DS_O_USER_CREDS,
    DS_O_CRED_TYPE,
    DS_O_CRED_UID,
    DS_O_USER_TYPE,
    DS_O_USER_TYPE_ID,
    DS_O_USER_UID,
    DS_O_API,
    DS_O_API_OPERATION,
    DS_O_API_REQUEST,
    DS_O_API_REQUEST_UID,
    DS_O_API_RESPONSE,
    DS_O_API_RESPONSE_CODE,
    DS_O_API_RESPONSE_ERROR,
    DS_O_API_SERVICE,
    DS_O_API_SERVICE_NAME,
    DS_O_API_VERSION,
    DS_O_CATEGORY_NAME,
    DS_O_CATEGORY_UID,
    DS_O_CLASS_NAME,
    DS_O_CLASS_UID,
    DS_O_DISPOSITION,
    DS_O_DISPOSITION_ID,
    DS_O_HREQ,
    DS_O_HREQ_METHOD,
    DS_O_HREQ_UID,
    DS_O_HREQ_URL,
    DS_O_URL_PATH,
    DS_O_URL_QUERY_STRING,
    DS_O_HREQ_USER_AGENT,
    DS_O_HRESP,
    DS_O_HRESP_BODY_LENGTH,
    DS_O_HRESP_CODE,
    DS_O_HRESP_LATENCY,
    DS_O_MESSAGE,
    DS_O_METADATA,
    DS_O_MD_CORRELATION_UID,
    DS_O_MD_IS_TRUNCATED,
    DS_O_MD_LOG_NAME,
    DS_O_MD_PRODUCT,
    DS_O_PRODUCT_NAME,
    DS_O_PRODUCT_UID,
    DS_O_PRODUCT_VENDOR_NAME,
    DS_O_MD_PROFILES,
    DS_O_MD_SEQUENCE,
    DS_O_MD_UID,
    DS_O_MD_VERSION,
    DS_O_POLICY,
    DS_O_POLICY_IS_APPLIED,
    DS_O_POLICY_NAME,
    DS_O_POLICY_UID,
    DS_O_RESOURCES,
    DS_O_RES_NAME,
    DS_O_RES_NAMESPACE,
    DS_O_RES_TYPE,
    DS_O_RES_UID,
    DS_O_SEVERITY,
    DS_O_SEVERITY_ID,
    DS_O_SRC,
    DS_O_SRC_HOSTNAME,
    DS_O_SRC_IP,
    DS_O_SRC_LOCATION,
    DS_O_LOCATION_COUNTRY,
    DS_O_STATUS,
    DS_O_STATUS_CODE,
    DS_O_STATUS_DETAIL,
    DS_O_STATUS_ID,
    DS_O_TIME,
    DS_O_TIME_DT,
    DS_O_TYPE_NAME,
    DS_O_TYPE_UID,
    DS_O_UNMAPPED,
    DS_O_DSGW,
    DS_O_G_ALERT,
    DS_O_G_BODY_SHA256,
    DS_O_G_BYTES_SENT,
    DS_O_G_DECISION,
    DS_O_G_DISCLOSURE,
    DS_O_G_FILE,
    DS_O_G_INSTANCE,
    DS_O_G_INTEGRITY,
    DS_O_G_JWT,
    DS_O_G_LIST_ITEMS,
    DS_O_G_LOST,
    DS_O_G_OPERATION,
    DS_O_G_PID,
    DS_O_G_PURPOSE_OF_USE,
    DS_O_G_RATE_LIMIT,
    DS_O_G_REASON,
    DS_O_G_RECORDS,
    DS_O_G_REQUEST_LENGTH,
    DS_O_G_SANITIZED,
    DS_O_G_SCHEMA,
    DS_O_G_SHARE,
    DS_O_G_TABLE,
    DS_O_G_TOKEN_ID,
    DS_O_G_TRUNCATED,
    DS_O_G_TYPE,
    DS_O_G_UPSTREAM_STATUS,
    DS_O_MEMBERS
} ds_ocsf_member_e;


#define V  DS_W_VALUE
#define O  DS_W_OBJECT

const ds_wmember_t  ds_audit_ocsf_members[DS_O_MEMBERS] = {
    [DS_O_ACTION] = ds_wm("action", V, -1),
    [DS_O_ACTION_ID] = ds_wm("action_id", V, -1),
    [DS_O_ACTIVITY_ID] = ds_wm("activity_id", V, -1),
    [DS_O_ACTIVITY_NAME] = ds_wm("activity_name", V, -1),
    [DS_O_ACTOR] = ds_wm("actor", O, -1),
    [DS_O_ACTOR_APP_NAME] = ds_wm("app_name", V, DS_O_ACTOR),
    [DS_O_USER] = ds_wm("user", O, DS_O_ACTOR),
    [DS_O_USER_CREDS] = ds_wm("programmatic_credentials", DS_W_ARRAY1,
                              DS_O_USER),
    [DS_O_CRED_TYPE] = ds_wm("type", V, DS_O_USER_CREDS),
    [DS_O_CRED_UID] = ds_wm("uid", V, DS_O_USER_CREDS),
    [DS_O_USER_TYPE] = ds_wm("type", V, DS_O_USER),
    [DS_O_USER_TYPE_ID] = ds_wm("type_id", V, DS_O_USER),
    [DS_O_USER_UID] = ds_wm("uid", V, DS_O_USER),
    [DS_O_API] = ds_wm("api", O, -1),
    [DS_O_API_OPERATION] = ds_wm("operation", V, DS_O_API),
    [DS_O_API_REQUEST] = ds_wm("request", O, DS_O_API),
    [DS_O_API_REQUEST_UID] = ds_wm("uid", V, DS_O_API_REQUEST),
    [DS_O_API_RESPONSE] = ds_wm("response", O, DS_O_API),
    [DS_O_API_RESPONSE_CODE] = ds_wm("code", V, DS_O_API_RESPONSE),
    [DS_O_API_RESPONSE_ERROR] = ds_wm("error", V, DS_O_API_RESPONSE),
    [DS_O_API_SERVICE] = ds_wm("service", O, DS_O_API),
    [DS_O_API_SERVICE_NAME] = ds_wm("name", V, DS_O_API_SERVICE),
    [DS_O_API_VERSION] = ds_wm("version", V, DS_O_API),
    [DS_O_CATEGORY_NAME] = ds_wm("category_name", V, -1),
    [DS_O_CATEGORY_UID] = ds_wm("category_uid", V, -1),
    [DS_O_CLASS_NAME] = ds_wm("class_name", V, -1),
    [DS_O_CLASS_UID] = ds_wm("class_uid", V, -1),
    [DS_O_DISPOSITION] = ds_wm("disposition", V, -1),
    [DS_O_DISPOSITION_ID] = ds_wm("disposition_id", V, -1),
    [DS_O_HREQ] = ds_wm("http_request", O, -1),
    [DS_O_HREQ_METHOD] = ds_wm("http_method", V, DS_O_HREQ),
    [DS_O_HREQ_UID] = ds_wm("uid", V, DS_O_HREQ),
    [DS_O_HREQ_URL] = ds_wm("url", O, DS_O_HREQ),
    [DS_O_URL_PATH] = ds_wm("path", V, DS_O_HREQ_URL),
    [DS_O_URL_QUERY_STRING] = ds_wm("query_string", V, DS_O_HREQ_URL),
    [DS_O_HREQ_USER_AGENT] = ds_wm("user_agent", V, DS_O_HREQ),
    [DS_O_HRESP] = ds_wm("http_response", O, -1),
    [DS_O_HRESP_BODY_LENGTH] = ds_wm("body_length", V, DS_O_HRESP),
    [DS_O_HRESP_CODE] = ds_wm("code", V, DS_O_HRESP),
    [DS_O_HRESP_LATENCY] = ds_wm("latency", V, DS_O_HRESP),
    [DS_O_MESSAGE] = ds_wm("message", V, -1),
    [DS_O_METADATA] = ds_wm("metadata", O, -1),
    [DS_O_MD_CORRELATION_UID] = ds_wm("correlation_uid", V, DS_O_METADATA),
    [DS_O_MD_IS_TRUNCATED] = ds_wm("is_truncated", V, DS_O_METADATA),
    [DS_O_MD_LOG_NAME] = ds_wm("log_name", V, DS_O_METADATA),
    [DS_O_MD_PRODUCT] = ds_wm("product", O, DS_O_METADATA),
    [DS_O_PRODUCT_NAME] = ds_wm("name", V, DS_O_MD_PRODUCT),
    [DS_O_PRODUCT_UID] = ds_wm("uid", V, DS_O_MD_PRODUCT),
    [DS_O_PRODUCT_VENDOR_NAME] = ds_wm("vendor_name", V, DS_O_MD_PRODUCT),
    [DS_O_MD_PROFILES] = ds_wm("profiles", V, DS_O_METADATA),
    [DS_O_MD_SEQUENCE] = ds_wm("sequence", DS_W_SEQUENCE, DS_O_METADATA),
    [DS_O_MD_UID] = ds_wm("uid", DS_W_EVENT_UID, DS_O_METADATA),
    [DS_O_MD_VERSION] = ds_wm("version", V, DS_O_METADATA),
    [DS_O_POLICY] = ds_wm("policy", O, -1),
    [DS_O_POLICY_IS_APPLIED] = ds_wm("is_applied", V, DS_O_POLICY),
    [DS_O_POLICY_NAME] = ds_wm("name", V, DS_O_POLICY),
    [DS_O_POLICY_UID] = ds_wm("uid", V, DS_O_POLICY),
    [DS_O_RESOURCES] = ds_wm("resources", DS_W_ARRAY1, -1),
    [DS_O_RES_NAME] = ds_wm("name", V, DS_O_RESOURCES),
    [DS_O_RES_NAMESPACE] = ds_wm("namespace", V, DS_O_RESOURCES),
    [DS_O_RES_TYPE] = ds_wm("type", V, DS_O_RESOURCES),
    [DS_O_RES_UID] = ds_wm("uid", V, DS_O_RESOURCES),
    [DS_O_SEVERITY] = ds_wm("severity", V, -1),
    [DS_O_SEVERITY_ID] = ds_wm("severity_id", V, -1),
    [DS_O_SRC] = ds_wm("src_endpoint", O, -1),
    [DS_O_SRC_HOSTNAME] = ds_wm("hostname", V, DS_O_SRC),
    [DS_O_SRC_IP] = ds_wm("ip", V, DS_O_SRC),
    [DS_O_SRC_LOCATION] = ds_wm("location", O, DS_O_SRC),
    [DS_O_LOCATION_COUNTRY] = ds_wm("country", V, DS_O_SRC_LOCATION),
    [DS_O_STATUS] = ds_wm("status", V, -1),
    [DS_O_STATUS_CODE] = ds_wm("status_code", V, -1),
    [DS_O_STATUS_DETAIL] = ds_wm("status_detail", V, -1),
    [DS_O_STATUS_ID] = ds_wm("status_id", V, -1),
    [DS_O_TIME] = ds_wm("time", V, -1),
    [DS_O_TIME_DT] = ds_wm("time_dt", V, -1),
    [DS_O_TYPE_NAME] = ds_wm("type_name", V, -1),
    [DS_O_TYPE_UID] = ds_wm("type_uid", V, -1),
    [DS_O_UNMAPPED] = ds_wm("unmapped", O, -1),
    [DS_O_DSGW] = ds_wm("dsgw", O, DS_O_UNMAPPED),
    [DS_O_G_ALERT] = ds_wm("alert", V, DS_O_DSGW),
    [DS_O_G_BODY_SHA256] = ds_wm("body_sha256", V, DS_O_DSGW),
    [DS_O_G_BYTES_SENT] = ds_wm("bytes_sent", V, DS_O_DSGW),
    [DS_O_G_DECISION] = ds_wm("decision", V, DS_O_DSGW),
    [DS_O_G_DISCLOSURE] = ds_wm("disclosure", V, DS_O_DSGW),
    [DS_O_G_FILE] = ds_wm("file", V, DS_O_DSGW),
    [DS_O_G_INSTANCE] = ds_wm("instance", V, DS_O_DSGW),
    [DS_O_G_INTEGRITY] = ds_wm("integrity", DS_W_INTEGRITY, DS_O_DSGW),
    [DS_O_G_JWT] = ds_wm("jwt", V, DS_O_DSGW),
    [DS_O_G_LIST_ITEMS] = ds_wm("list_items", V, DS_O_DSGW),
    [DS_O_G_LOST] = ds_wm("lost", V, DS_O_DSGW),
    [DS_O_G_OPERATION] = ds_wm("operation", V, DS_O_DSGW),
    [DS_O_G_PID] = ds_wm("pid", V, DS_O_DSGW),
    [DS_O_G_PURPOSE_OF_USE] = ds_wm("purpose_of_use", V, DS_O_DSGW),
    [DS_O_G_RATE_LIMIT] = ds_wm("rate_limit", V, DS_O_DSGW),
    [DS_O_G_REASON] = ds_wm("reason", V, DS_O_DSGW),
    [DS_O_G_RECORDS] = ds_wm("records", V, DS_O_DSGW),
    [DS_O_G_REQUEST_LENGTH] = ds_wm("request_length", V, DS_O_DSGW),
    [DS_O_G_SANITIZED] = ds_wm("sanitized", V, DS_O_DSGW),
    [DS_O_G_SCHEMA] = ds_wm("schema", V, DS_O_DSGW),
    [DS_O_G_SHARE] = ds_wm("share", V, DS_O_DSGW),
    [DS_O_G_TABLE] = ds_wm("table", V, DS_O_DSGW),
    [DS_O_G_TOKEN_ID] = ds_wm("token_id", V, DS_O_DSGW),
    [DS_O_G_TRUNCATED] = ds_wm("truncated", V, DS_O_DSGW),
    [DS_O_G_TYPE] = ds_wm("type", V, DS_O_DSGW),
    [DS_O_G_UPSTREAM_STATUS] = ds_wm("upstream_status", V, DS_O_DSGW)
};

#undef V
#undef O

const size_t  ds_audit_ocsf_nmembers = DS_O_MEMBERS;


static int
ds_streq(ds_audit_str_t s, const char *c)
{
    return s.data && s.len == strlen(c) && memcmp(s.data, c, s.len) == 0;
}


static int
ds_present(ds_audit_str_t s)
{
    return s.data != NULL && s.len > 0;
}


static void
ds_ocsf_base(ds_writer_t *w, int activity_id, int64_t time_ms)
{
    ds_w_int(w, DS_O_ACTIVITY_ID, activity_id);
    ds_w_const(w, DS_O_ACTIVITY_NAME, activity_id == 2 ? "Read" : "Other");
    ds_w_int(w, DS_O_CATEGORY_UID, 6);
    ds_w_const(w, DS_O_CATEGORY_NAME, "Application Activity");
    ds_w_int(w, DS_O_CLASS_UID, 6003);
    ds_w_const(w, DS_O_CLASS_NAME, "API Activity");
    ds_w_int(w, DS_O_TYPE_UID, 600300 + activity_id);
    ds_w_const(w, DS_O_TYPE_NAME, activity_id == 2 ? "API Activity: Read"
                                                   : "API Activity: Other");
    ds_w_time(w, DS_O_TIME_DT, time_ms);
    ds_w_int(w, DS_O_TIME, time_ms);
}


static void
ds_ocsf_metadata(ds_writer_t *w, ds_audit_str_t instance,
    ds_audit_str_t request_id)
{
    ds_w_open(w, DS_O_METADATA);
    ds_w_open(w, DS_O_MD_PRODUCT);
    ds_w_const(w, DS_O_PRODUCT_NAME, "ngx_ds");
    ds_w_const(w, DS_O_PRODUCT_VENDOR_NAME, "ngx_ds");
    ds_w_str(w, DS_O_PRODUCT_UID, instance, DS_AUDIT_CAP_DEFAULT);

    ds_w_const(w, DS_O_MD_VERSION, "1.8.0");
    ds_w_const(w, DS_O_MD_LOG_NAME, "ds-audit");
    ds_w_raw(w, DS_O_MD_PROFILES, "[\"security_control\",\"datetime\"]",
             sizeof("[\"security_control\",\"datetime\"]") - 1);

    if (request_id.data) {
        ds_w_str(w, DS_O_MD_CORRELATION_UID, request_id,
                 DS_AUDIT_CAP_DEFAULT);
    }

    /* the chain fills metadata.uid and .sequence when it seals */
}


static void
ds_ocsf_outcome(ds_writer_t *w, const ds_audit_req_t *rq)
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
        disp = 2;
        dispname = "Blocked";
        sev = (rq->status == 429 || rq->status == 503) ? 2 : 3;

        if (rq->status == 401) {
            disp = 26;
            dispname = "Unauthorized";
            sev = 2;
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

    ds_w_int(w, DS_O_SEVERITY_ID, sev);
    ds_w_const(w, DS_O_SEVERITY, sevname);
    ds_w_int(w, DS_O_STATUS_ID, status_id);
    ds_w_const(w, DS_O_STATUS, status);
    ds_w_const(w, DS_O_STATUS_CODE, code);
    ds_w_int(w, DS_O_ACTION_ID, action_id);
    ds_w_const(w, DS_O_ACTION, action);
    ds_w_int(w, DS_O_DISPOSITION_ID, disp);
    ds_w_const(w, DS_O_DISPOSITION, dispname);
}


/* the recipient, its token by id; uid: what actor.user.uid says */
static void
ds_ocsf_actor(ds_writer_t *w, const ds_audit_req_t *rq, ds_buf_t *uid)
{
    ds_w_open(w, DS_O_ACTOR);
    ds_w_open(w, DS_O_USER);

    if (ds_present(rq->recipient)) {
        ds_w_str_keep(w, DS_O_USER_UID, rq->recipient, DS_AUDIT_CAP_DEFAULT,
                      uid);
    } else {
        ds_w_const(w, DS_O_USER_UID, "anonymous");
        uid->len = 0;
        ds_buf_add(uid, "anonymous", 9);
    }

    ds_w_int(w, DS_O_USER_TYPE_ID, 4);
    ds_w_const(w, DS_O_USER_TYPE, "Service");

    if (ds_present(rq->token_id)) {
        ds_w_open(w, DS_O_USER_CREDS);
        ds_w_str(w, DS_O_CRED_UID, rq->token_id, DS_AUDIT_CAP_DEFAULT);
        ds_w_const(w, DS_O_CRED_TYPE, "Access Token");
    }
}


/* op: what api.operation says */
static void
ds_ocsf_api(ds_writer_t *w, const ds_audit_req_t *rq, int known,
    ds_buf_t *op)
{
    char  buf[64];

    ds_w_open(w, DS_O_API);

    if (known) {
        ds_w_str_keep(w, DS_O_API_OPERATION, rq->action,
                      DS_AUDIT_CAP_DEFAULT, op);
    } else {
        snprintf(buf, sizeof(buf), "unknown:%.*s",
                 (int) (rq->method.len < 32 ? rq->method.len : 32),
                 rq->method.data ? rq->method.data : "");
        ds_w_str_keep(w, DS_O_API_OPERATION, ds_audit_cstr(buf),
                      DS_AUDIT_CAP_DEFAULT, op);
    }

    ds_w_open(w, DS_O_API_SERVICE);
    ds_w_const(w, DS_O_API_SERVICE_NAME, "delta-sharing");
    ds_w_const(w, DS_O_API_VERSION, "v1");

    if (rq->request_id.data) {
        ds_w_open(w, DS_O_API_REQUEST);
        ds_w_str(w, DS_O_API_REQUEST_UID, rq->request_id,
                 DS_AUDIT_CAP_DEFAULT);
    }

    ds_w_open(w, DS_O_API_RESPONSE);
    ds_w_int(w, DS_O_API_RESPONSE_CODE, rq->status);

    if (!ds_streq(rq->decision, "allow") && ds_present(rq->reason)) {
        ds_w_str(w, DS_O_API_RESPONSE_ERROR, rq->reason,
                 DS_AUDIT_CAP_DEFAULT);
    }
}


static void
ds_ocsf_http(ds_writer_t *w, const ds_audit_req_t *rq)
{
    ds_buf_t  q, qs;

    ds_w_open(w, DS_O_SRC);
    ds_w_str(w, DS_O_SRC_IP, rq->client_ip, DS_AUDIT_CAP_DEFAULT);

    if (ds_present(rq->country)) {
        ds_w_open(w, DS_O_SRC_LOCATION);
        ds_w_str(w, DS_O_LOCATION_COUNTRY, rq->country,
                 DS_AUDIT_CAP_DEFAULT);
    }

    ds_w_open(w, DS_O_HREQ);
    ds_w_str(w, DS_O_HREQ_METHOD, rq->method, DS_AUDIT_CAP_DEFAULT);
    ds_w_open(w, DS_O_HREQ_URL);
    ds_w_str(w, DS_O_URL_PATH, rq->path, DS_AUDIT_CAP_PATH);

    /* allow-listed arguments, re-joined as a query string */
    memset(&q, 0, sizeof(q));
    memset(&qs, 0, sizeof(qs));
    ds_audit_query_write(w, rq, &q, &qs);

    if (q.failed || qs.failed) {
        w->v.failed = 1;
    }

    if (qs.len) {
        ds_w_begin(w, DS_O_URL_QUERY_STRING);
        ds_canon_string(&w->v, qs.p, qs.len);
        ds_w_end(w, DS_O_URL_QUERY_STRING);
    }

    free(q.p);
    free(qs.p);

    if (rq->user_agent.data) {
        ds_w_str(w, DS_O_HREQ_USER_AGENT, rq->user_agent, DS_AUDIT_CAP_UA);
    }

    if (rq->request_id.data) {
        ds_w_str(w, DS_O_HREQ_UID, rq->request_id, DS_AUDIT_CAP_DEFAULT);
    }

    ds_w_open(w, DS_O_HRESP);
    ds_w_int(w, DS_O_HRESP_CODE, rq->status);
    ds_w_int(w, DS_O_HRESP_BODY_LENGTH, rq->body_bytes_sent);
    ds_w_int(w, DS_O_HRESP_LATENCY, rq->duration_ms);
}


/* "share.schema.table" from what is present */
static void
ds_ocsf_resource(ds_writer_t *w, const ds_audit_req_t *rq)
{
    ds_buf_t        uid, ns;
    ds_audit_str_t  s;
    const char     *type;

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
        ns.len = 0;
        ds_buf_add(&ns, uid.p, uid.len);
        ds_buf_add(&uid, ".", 1);
        ds_buf_add(&uid, rq->table.data, rq->table.len);
        type = "delta_sharing.table";
    }

    ds_w_open(w, DS_O_RESOURCES);
    ds_w_const(w, DS_O_RES_TYPE, type);

    s.data = uid.p;
    s.len = uid.len;
    ds_w_str(w, DS_O_RES_UID, s, 3 * DS_AUDIT_CAP_DEFAULT + 2);

    s = ds_present(rq->table) ? rq->table
        : ds_present(rq->schema) ? rq->schema : rq->share;
    ds_w_str(w, DS_O_RES_NAME, s, DS_AUDIT_CAP_DEFAULT);

    if (ns.p) {
        s.data = ns.p;
        s.len = ns.len;
        ds_w_str(w, DS_O_RES_NAMESPACE, s, 2 * DS_AUDIT_CAP_DEFAULT + 1);
    }

    if (uid.failed || ns.failed) {
        w->v.failed = 1;
    }

    free(uid.p);
    free(ns.p);
}


/* one-line summary for humans, no secrets */
static void
ds_ocsf_message(ds_writer_t *w, const ds_audit_req_t *rq, ds_buf_t *uid,
    ds_buf_t *op)
{
    char            tail[48];
    ds_buf_t        m;
    ds_audit_str_t  s;

    snprintf(tail, sizeof(tail), " %s %d",
             ds_streq(rq->decision, "allow") ? "allowed"
             : ds_streq(rq->decision, "deny") ? "denied" : "error",
             rq->status);

    memset(&m, 0, sizeof(m));
    ds_buf_add(&m, uid->p, uid->len);
    ds_buf_add(&m, " ", 1);
    ds_buf_add(&m, op->p, op->len);
    ds_buf_add(&m, tail, strlen(tail));

    if (m.failed) {
        w->v.failed = 1;
    }

    s.data = m.p;
    s.len = m.len;
    ds_w_str(w, DS_O_MESSAGE, s, DS_AUDIT_CAP_PATH);
    free(m.p);
}


/* what OCSF has no attribute for */
static void
ds_ocsf_unmapped(ds_writer_t *w, const ds_audit_req_t *rq)
{
    ds_w_open(w, DS_O_UNMAPPED);
    ds_w_open(w, DS_O_DSGW);
    ds_w_raw(w, DS_O_G_TYPE, "\"request\"", 9);
    ds_w_str(w, DS_O_G_DECISION, rq->decision, DS_AUDIT_CAP_DEFAULT);
    ds_w_str(w, DS_O_G_REASON, rq->reason, DS_AUDIT_CAP_DEFAULT);
    ds_w_str(w, DS_O_G_OPERATION, rq->operation, DS_AUDIT_CAP_DEFAULT);
    ds_w_str(w, DS_O_G_TOKEN_ID, rq->token_id, DS_AUDIT_CAP_DEFAULT);
    ds_w_str(w, DS_O_G_SHARE, rq->share, DS_AUDIT_CAP_DEFAULT);
    ds_w_str(w, DS_O_G_SCHEMA, rq->schema, DS_AUDIT_CAP_DEFAULT);
    ds_w_str(w, DS_O_G_TABLE, rq->table, DS_AUDIT_CAP_DEFAULT);
    ds_w_str(w, DS_O_G_PURPOSE_OF_USE, rq->purpose, DS_AUDIT_CAP_DEFAULT);
    ds_w_int(w, DS_O_G_BYTES_SENT, rq->bytes_sent);
    ds_w_int(w, DS_O_G_REQUEST_LENGTH, rq->request_length);

    if (rq->body_sha256.data) {
        ds_w_str(w, DS_O_G_BODY_SHA256, rq->body_sha256,
                 DS_AUDIT_CAP_DEFAULT);
    }

    ds_w_str(w, DS_O_G_UPSTREAM_STATUS, rq->upstream_status,
             DS_AUDIT_CAP_DEFAULT);
    ds_w_str(w, DS_O_G_INSTANCE, rq->instance, DS_AUDIT_CAP_DEFAULT);

    if (rq->rl_state.data) {
        ds_w_begin(w, DS_O_G_RATE_LIMIT);
        ds_audit_rate_limit_write(w, rq, &w->v);
        ds_w_end(w, DS_O_G_RATE_LIMIT);
    }

    if (rq->has_items) {
        ds_w_begin(w, DS_O_G_LIST_ITEMS);
        ds_audit_list_items_write(rq, &w->v);
        ds_w_end(w, DS_O_G_LIST_ITEMS);
    }

    if (rq->disclosure) {
        ds_w_begin(w, DS_O_G_DISCLOSURE);
        ds_audit_disclosure_write(w, rq->disclosure, &w->v);
        ds_w_end(w, DS_O_G_DISCLOSURE);
    }

    if (rq->has_file) {
        ds_w_begin(w, DS_O_G_FILE);
        ds_audit_file_write(w, rq, &w->v);
        ds_w_end(w, DS_O_G_FILE);
    }

    if (rq->has_jwt) {
        ds_w_begin(w, DS_O_G_JWT);
        ds_audit_jwt_write(w, rq, &w->v);
        ds_w_end(w, DS_O_G_JWT);
    }

    if (w->sanitized) {
        ds_w_raw(w, DS_O_G_SANITIZED, "true", 4);
    }

    if (w->ntruncated) {
        ds_w_truncated(w, DS_O_G_TRUNCATED);
    }

    if (w->sanitized || w->ntruncated) {
        ds_w_raw(w, DS_O_MD_IS_TRUNCATED, w->ntruncated ? "true" : "false",
                 w->ntruncated ? 4 : 5);
    }
}


/* the values, in the order their fields are cleaned */
void
ds_audit_ocsf_request(ds_writer_t *w, const void *data)
{
    const ds_audit_req_t  *rq = data;

    int        known;
    ds_buf_t   uid, op;

    known = rq->action.data && !ds_streq(rq->action, "unknown");

    memset(&uid, 0, sizeof(uid));
    memset(&op, 0, sizeof(op));

    ds_ocsf_base(w, known ? 2 : 99, rq->time_ms);
    ds_ocsf_outcome(w, rq);

    if (ds_present(rq->reason) && !ds_streq(rq->reason, "allowed")) {
        ds_w_str(w, DS_O_STATUS_DETAIL, rq->reason, DS_AUDIT_CAP_DEFAULT);
    }

    ds_ocsf_metadata(w, rq->instance, rq->request_id);
    ds_ocsf_actor(w, rq, &uid);
    ds_ocsf_api(w, rq, known, &op);
    ds_ocsf_http(w, rq);
    ds_ocsf_resource(w, rq);

    if (ds_present(rq->policy_version)) {
        ds_w_open(w, DS_O_POLICY);
        ds_w_const(w, DS_O_POLICY_NAME, "ds_policy");
        ds_w_str(w, DS_O_POLICY_UID, rq->policy_version,
                 DS_AUDIT_CAP_DEFAULT);
        if (ds_streq(rq->decision, "error")) {
            ds_w_raw(w, DS_O_POLICY_IS_APPLIED, "false", 5);
        } else {
            ds_w_raw(w, DS_O_POLICY_IS_APPLIED, "true", 4);
        }
    }

    ds_ocsf_message(w, rq, &uid, &op);
    ds_ocsf_unmapped(w, rq);

    if (uid.failed || op.failed) {
        w->v.failed = 1;
    }

    free(uid.p);
    free(op.p);
}


void
ds_audit_ocsf_lifecycle(ds_writer_t *w, const void *data)
{
    const ds_audit_lc_t  *lc = data;

    int  end;

    end = strcmp(lc->type, "chain_end") == 0;

    ds_ocsf_base(w, 99, lc->time_ms);
    ds_w_int(w, DS_O_SEVERITY_ID, 1);
    ds_w_const(w, DS_O_SEVERITY, "Informational");
    ds_w_int(w, DS_O_STATUS_ID, 1);
    ds_w_const(w, DS_O_STATUS, "Success");
    ds_w_const(w, DS_O_MESSAGE, end ? "audit chain ended"
                                    : "audit chain started");
    ds_ocsf_metadata(w, ds_audit_cstr(lc->instance), ds_audit_cstr(NULL));

    ds_w_open(w, DS_O_ACTOR);
    ds_w_const(w, DS_O_ACTOR_APP_NAME, "ngx_ds");
    ds_w_open(w, DS_O_API);
    ds_w_const(w, DS_O_API_OPERATION, end ? "dsAuditChainEnd"
                                          : "dsAuditChainStart");
    ds_w_open(w, DS_O_SRC);
    ds_w_str(w, DS_O_SRC_HOSTNAME, ds_audit_cstr(lc->instance),
             DS_AUDIT_CAP_DEFAULT);

    ds_w_open(w, DS_O_UNMAPPED);
    ds_w_open(w, DS_O_DSGW);
    ds_w_const(w, DS_O_G_TYPE, lc->type);
    ds_w_int(w, DS_O_G_PID, lc->pid);

    if (end) {
        ds_w_int(w, DS_O_G_RECORDS, (int64_t) lc->requests);
        ds_w_int(w, DS_O_G_LOST, (int64_t) lc->lost);
    }
}


void
ds_audit_ocsf_alert(ds_writer_t *w, const void *data)
{
    const ds_audit_alert_t  *a = data;

    int  high;

    /* a suspension, or requests let by without the limiter */
    high = strcmp(a->action, "suspend") == 0
           || strcmp(a->metric, "fail_open") == 0;

    ds_ocsf_base(w, 99, a->time_ms);
    ds_w_int(w, DS_O_SEVERITY_ID, high ? 4 : 3);
    ds_w_const(w, DS_O_SEVERITY, high ? "High" : "Medium");
    ds_w_const(w, DS_O_MESSAGE,
               strcmp(a->metric, "fail_open") == 0
               ? "access alert: the rate limiter failed open"
               : high ? "access alert: recipient suspended"
                      : "access alert: threshold exceeded");
    ds_ocsf_metadata(w, ds_audit_cstr(a->instance), a->request_id);

    ds_w_open(w, DS_O_ACTOR);
    ds_w_const(w, DS_O_ACTOR_APP_NAME, "ngx_ds");
    ds_w_open(w, DS_O_USER);
    ds_w_str(w, DS_O_USER_UID, a->recipient, DS_AUDIT_CAP_DEFAULT);
    ds_w_open(w, DS_O_API);
    ds_w_const(w, DS_O_API_OPERATION, "dsAccessAlert");
    ds_w_open(w, DS_O_SRC);
    ds_w_str(w, DS_O_SRC_HOSTNAME, ds_audit_cstr(a->instance),
             DS_AUDIT_CAP_DEFAULT);

    if (ds_present(a->policy_version)) {
        ds_w_open(w, DS_O_POLICY);
        ds_w_const(w, DS_O_POLICY_NAME, "ds_policy");
        ds_w_str(w, DS_O_POLICY_UID, a->policy_version,
                 DS_AUDIT_CAP_DEFAULT);
        ds_w_raw(w, DS_O_POLICY_IS_APPLIED, "true", 4);
    }

    ds_w_open(w, DS_O_UNMAPPED);
    ds_w_open(w, DS_O_DSGW);
    ds_w_const(w, DS_O_G_TYPE, "alert");
    ds_w_int(w, DS_O_G_PID, a->pid);

    ds_w_begin(w, DS_O_G_ALERT);
    ds_audit_alert_write(w, a, &w->v);
    ds_w_end(w, DS_O_G_ALERT);
}
