/*
 * Audit records, their canonical form and the dsgw-audit-v1 chain.
 *
 * The MAC covers the canonical serialization of the record with the
 * "mac" member removed: keys sorted, no whitespace, JCS string escaping,
 * integers only. The emitted line is that same serialization with "mac"
 * put back, so a verifier can either strip the member from the bytes or
 * (as ours does) parse and re-serialize: a SIEM that reorders keys does
 * not break verification.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "ds_audit_int.h"
#include "ds_digest.h"
#include "ds_hex.h"
#include "ds_time.h"


#define DS_AUDIT_INIT_LABEL    "dsgw-audit-v1 init"
#define DS_AUDIT_CHAIN_LABEL   "dsgw-audit-v1 chain"     /* + NUL + id */
#define DS_AUDIT_ZERO_MAC                                                     \
    "0000000000000000000000000000000000000000000000000000000000000000"


const char *const  ds_audit_default_query_args[] = {
    "maxResults",
    "pageToken",
    "startingVersion",
    "endingVersion",
    "startingTimestamp",
    "endingTimestamp",
    "includeHistoricalMetadata",
    NULL
};


typedef struct {
    const char    *key;
    json_t        *value;
} ds_member_t;


typedef struct {
    int       sanitized;
    unsigned  shift;                    /* caps >> shift: oversized records */
    size_t    bytes;                    /* escaped size of the strings */
    json_t   *truncated;                /* array of field names */
} ds_audit_flags_t;


/* ------------------------------------------------------------ buffers */

int
ds_buf_reserve(ds_buf_t *b, size_t n)
{
    size_t   cap;
    char    *p;

    if (b->failed) {
        return -1;
    }

    if (b->len + n + 1 > b->cap) {
        cap = b->cap ? b->cap : 4096;

        while (cap < b->len + n + 1) {
            cap *= 2;
        }

        p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = 1;
            return -1;
        }

        b->p = p;
        b->cap = cap;
    }

    return 0;
}


void
ds_buf_grow_add(ds_buf_t *b, const char *s, size_t n)
{
    if (ds_buf_reserve(b, n) != 0) {
        return;
    }

    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}


ds_audit_str_t
ds_audit_cstr(const char *s)
{
    ds_audit_str_t  r;

    r.data = s;
    r.len = s ? strlen(s) : 0;

    return r;
}


/* ------------------------------------------------------ UTF-8 clean-up */

/* length of the valid UTF-8 sequence at p, 0 if invalid (NUL included) */
static size_t
ds_utf8_valid(const unsigned char *p, size_t n)
{
    unsigned  c, lo, hi;
    size_t    need, i;

    c = p[0];

    if (c < 0x80) {
        return c == 0 ? 0 : 1;
    }

    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        need = 1;

    } else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        if (c == 0xe0) {
            lo = 0xa0;              /* overlong */
        } else if (c == 0xed) {
            hi = 0x9f;              /* surrogates */
        }

    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        if (c == 0xf0) {
            lo = 0x90;
        } else if (c == 0xf4) {
            hi = 0x8f;              /* above U+10FFFF */
        }

    } else {
        return 0;
    }

    if (n < need + 1 || p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i <= need; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
    }

    return need + 1;
}


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


void
ds_audit_clean(const char *s, size_t n, size_t cap, char *out,
    ds_clean_t *cl)
{
    const unsigned char  *p, *end;
    size_t                k, c;

    p = (const unsigned char *) s;
    end = p + n;
    cl->len = 0;
    cl->cost = 0;
    cl->sanitized = 0;
    cl->truncated = 0;

    while (p < end) {
        k = ds_utf8_valid(p, end - p);

        /* the cap bounds the escaped size: "\u001f" costs six bytes */
        c = k ? k : 3;
        if (k == 1 && (*p < 0x20 || *p == '"' || *p == '\\')) {
            c = *p < 0x20 ? 6 : 2;
        }

        if (cl->cost + c > cap) {
            cl->truncated = 1;
            break;
        }

        cl->cost += c;

        if (k) {
            memcpy(out + cl->len, p, k);
            cl->len += k;
            p += k;
            continue;
        }

        memcpy(out + cl->len, "\xef\xbf\xbd", 3);
        cl->len += 3;
        p++;
        cl->sanitized = 1;
    }
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


int
ds_audit_query_name_ok(const char *name)
{
    const char  *p;

    for (p = name; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'
              || *p == '.'))
        {
            return 0;
        }
    }

    return p > name;
}


const char *
ds_audit_query_next(ds_audit_str_t args, size_t *pos,
    const char *const *allow, ds_audit_str_t *value)
{
    const char *const  *a;
    const char         *p, *end, *amp, *eq;
    size_t              nlen;

    if (args.data == NULL || allow == NULL) {
        return NULL;
    }

    end = args.data + args.len;

    while (*pos < args.len) {
        p = args.data + *pos;

        amp = memchr(p, '&', end - p);
        if (amp == NULL) {
            amp = end;
        }

        eq = memchr(p, '=', amp - p);
        nlen = (eq ? eq : amp) - p;
        *pos = amp - args.data + 1;

        for (a = allow; *a; a++) {
            if (strlen(*a) == nlen && memcmp(*a, p, nlen) == 0) {
                value->data = eq ? eq + 1 : amp;
                value->len = eq ? (size_t) (amp - eq - 1) : 0;
                return *a;
            }
        }
    }

    return NULL;
}


/* allow-listed query arguments as an object; values kept as sent */
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

    ds_set_str(o, "policy_version", rq->policy_version,
               DS_AUDIT_CAP_DEFAULT, fl);

    json_object_set_new(o, "request_length",
                        json_integer(rq->request_length));
    ds_set_str(o, "body_sha256", rq->body_sha256, DS_AUDIT_CAP_DEFAULT, fl);

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


/* --------------------------------------------------------- canonical */

/* SWAR: any of the 8 bytes below 0x20, '"' or '\\' (or >= 0x80) */
#define DS_ONES        0x0101010101010101ULL
#define DS_HIGHS       0x8080808080808080ULL
#define ds_has_zero(x) (((x) - DS_ONES) & ~(x) & DS_HIGHS)
#define ds_has_less(x, n)  (((x) - DS_ONES * (n)) & ~(x) & DS_HIGHS)


size_t
ds_audit_plain_prefix(const char *s, size_t n, int ascii)
{
    size_t         i;
    uint64_t       x;
    unsigned char  c;

    for (i = 0; i + 8 <= n; i += 8) {
        memcpy(&x, s + i, 8);

        if (ds_has_less(x, 0x20) || ds_has_zero(x ^ (DS_ONES * '"'))
            || ds_has_zero(x ^ (DS_ONES * '\\')) || (ascii && (x & DS_HIGHS)))
        {
            break;
        }
    }

    for ( /* void */ ; i < n; i++) {
        c = (unsigned char) s[i];

        if (c < 0x20 || c == '"' || c == '\\' || (ascii && c >= 0x80)) {
            break;
        }
    }

    return i;
}


void
ds_canon_string(ds_buf_t *b, const char *s, size_t n)
{
    static const char  digits[] = "0123456789abcdef";
    char               esc[6];
    unsigned char      c;
    size_t             i, run;

    ds_buf_add(b, "\"", 1);

    for (i = 0; i < n; i++) {
        run = ds_audit_plain_prefix(s + i, n - i, 0);
        ds_buf_add(b, s + i, run);
        i += run;

        if (i == n) {
            break;
        }

        c = (unsigned char) s[i];

        switch (c) {
        case '"':  ds_buf_add(b, "\\\"", 2); break;
        case '\\': ds_buf_add(b, "\\\\", 2); break;
        case '\b': ds_buf_add(b, "\\b", 2); break;
        case '\f': ds_buf_add(b, "\\f", 2); break;
        case '\n': ds_buf_add(b, "\\n", 2); break;
        case '\r': ds_buf_add(b, "\\r", 2); break;
        case '\t': ds_buf_add(b, "\\t", 2); break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = digits[c >> 4];
            esc[5] = digits[c & 0xf];
            ds_buf_add(b, esc, 6);
        }
    }

    ds_buf_add(b, "\"", 1);
}


static int
ds_member_cmp(const void *a, const void *b)
{
    return strcmp(((const ds_member_t *) a)->key,
                  ((const ds_member_t *) b)->key);
}


static int
ds_canon_value(ds_buf_t *b, const json_t *j, int depth)
{
    size_t        n, i;
    char          num[32];
    const char   *k;
    json_t       *v;
    ds_member_t  *m, local[48];

    if (depth > 32) {
        return -1;
    }

    switch (json_typeof(j)) {

    case JSON_OBJECT:
        n = json_object_size(j);
        m = local;

        if (n > sizeof(local) / sizeof(local[0])) {
            m = malloc(n * sizeof(ds_member_t));
            if (m == NULL) {
                return -1;
            }
        }

        i = 0;
        json_object_foreach((json_t *) j, k, v) {
            m[i].key = k;
            m[i].value = v;
            i++;
        }

        qsort(m, n, sizeof(ds_member_t), ds_member_cmp);

        ds_buf_add(b, "{", 1);
        for (i = 0; i < n; i++) {
            if (j == b->mark && b->mark_at == 0 && i > 0
                && strcmp(m[i].key, "mac") > 0)
            {
                b->mark_at = b->len;
            }
            if (i) {
                ds_buf_add(b, ",", 1);
            }
            ds_canon_string(b, m[i].key, strlen(m[i].key));
            ds_buf_add(b, ":", 1);
            if (ds_canon_value(b, m[i].value, depth + 1) != 0) {
                if (m != local) {
                    free(m);
                }
                return -1;
            }
        }
        ds_buf_add(b, "}", 1);
        if (m != local) {
            free(m);
        }
        return 0;

    case JSON_ARRAY:
        ds_buf_add(b, "[", 1);
        for (i = 0; i < json_array_size(j); i++) {
            if (i) {
                ds_buf_add(b, ",", 1);
            }
            if (ds_canon_value(b, json_array_get(j, i), depth + 1) != 0) {
                return -1;
            }
        }
        ds_buf_add(b, "]", 1);
        return 0;

    case JSON_STRING:
        ds_canon_string(b, json_string_value(j), json_string_length(j));
        return 0;

    case JSON_INTEGER:
        n = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(j));
        ds_buf_add(b, num, n);
        return 0;

    case JSON_TRUE:
        ds_buf_add(b, "true", 4);
        return 0;

    case JSON_FALSE:
        ds_buf_add(b, "false", 5);
        return 0;

    case JSON_NULL:
        ds_buf_add(b, "null", 4);
        return 0;

    default:
        /* reals have no single canonical spelling we rely on */
        return -1;
    }
}


char *
ds_audit_canonical(const json_t *j, size_t *len)
{
    ds_buf_t  b;

    memset(&b, 0, sizeof(b));

    if (ds_canon_value(&b, j, 0) != 0 || b.failed || b.p == NULL) {
        free(b.p);
        return NULL;
    }

    if (len) {
        *len = b.len;
    }

    return b.p;
}


/*
 * The MAC input: label, NUL, canonical record. With mark, the offset
 * where "mac" sorts into that object is noted, so the sealed line can be
 * spliced from the same bytes instead of serialized a second time.
 */
int
ds_canon_mac_input(const json_t *rec, const json_t *mark, ds_buf_t *b)
{
    memset(b, 0, sizeof(*b));
    b->mark = mark;
    ds_buf_add(b, DS_AUDIT_RECORD_LABEL, DS_AUDIT_RECORD_PREFIX);

    if (ds_canon_value(b, rec, 0) != 0 || b->failed) {
        free(b->p);
        b->p = NULL;
        return -1;
    }

    return 0;
}


/* ------------------------------------------------------------- chain */

void
ds_audit_chain_key(const unsigned char *seed, size_t seed_len,
    const char *id, unsigned char out[32])
{
    unsigned char  k0[32], *msg;
    unsigned int   n;
    size_t         llen, ilen;

    HMAC(EVP_sha256(), seed, (int) seed_len,
         (const unsigned char *) DS_AUDIT_INIT_LABEL,
         sizeof(DS_AUDIT_INIT_LABEL) - 1, k0, &n);

    llen = sizeof(DS_AUDIT_CHAIN_LABEL);        /* with the NUL */
    ilen = strlen(id);
    msg = malloc(llen + ilen);

    if (msg == NULL) {
        /* a zero key would verify nothing: make it obvious */
        memset(out, 0, 32);
        OPENSSL_cleanse(k0, sizeof(k0));
        return;
    }

    memcpy(msg, DS_AUDIT_CHAIN_LABEL, llen);
    memcpy(msg + llen, id, ilen);

    HMAC(EVP_sha256(), k0, sizeof(k0), msg, llen + ilen, out, &n);

    OPENSSL_cleanse(k0, sizeof(k0));
    free(msg);
}


void
ds_audit_chain_init_id(ds_audit_chain_t *c, const unsigned char *seed,
    size_t seed_len, const char *id)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->id, sizeof(c->id), "%s", id);
    memcpy(c->prev, DS_AUDIT_ZERO_MAC, DS_AUDIT_MAC_HEX + 1);

    if (seed && seed_len) {
        ds_audit_chain_key(seed, seed_len, c->id, c->key);
        c->keyed = 1;
    }

    /* NULL is not fatal: ds_audit_mac() falls back to one-shot calls */
    c->mac = ds_mac_new(c->keyed ? c->key : NULL, sizeof(c->key));
}


void
ds_audit_chain_free(ds_audit_chain_t *c)
{
    ds_mac_free(c->mac);
    c->mac = NULL;
    OPENSSL_cleanse(c->key, sizeof(c->key));
}


int
ds_audit_chain_init(ds_audit_chain_t *c, const unsigned char *seed,
    size_t seed_len, const char *instance, long pid)
{
    unsigned char  rnd[16];
    char           hex[33], id[DS_AUDIT_CHAIN_MAX];

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return -1;
    }

    ds_hex_encode(rnd, sizeof(rnd), hex);
    snprintf(id, sizeof(id), "%.100s.%ld.%s", instance, pid, hex);
    ds_audit_chain_init_id(c, seed, seed_len, id);

    return 0;
}


/* the verifier's MAC: a key per chain found in the files */
int
ds_audit_mac_oneshot(const unsigned char *key, int keyed, const char *data,
    size_t len, char out[DS_AUDIT_MAC_HEX + 1])
{
    unsigned char  md[32];
    unsigned int   n;

    if (keyed) {
        if (HMAC(EVP_sha256(), key, 32, (const unsigned char *) data, len,
                 md, &n) == NULL)
        {
            return -1;
        }

    } else if (SHA256((const unsigned char *) data, len, md) == NULL) {
        return -1;
    }

    ds_hex_encode(md, sizeof(md), out);

    return 0;
}


/* the writer's MAC: the chain's context, reused for every record */
static int
ds_audit_mac(ds_audit_chain_t *c, const char *data, size_t len,
    char out[DS_AUDIT_MAC_HEX + 1])
{
    unsigned char  md[32];

    if (c->mac == NULL) {
        return ds_audit_mac_oneshot(c->key, c->keyed, data, len, out);
    }

    if (ds_mac_begin(c->mac) != 0
        || ds_mac_update(c->mac, data, len) != 0
        || ds_mac_end(c->mac, md) != 0)
    {
        return -1;
    }

    ds_hex_encode(md, sizeof(md), out);

    return 0;
}


char *
ds_audit_finish(ds_audit_chain_t *c, ds_buf_t *b, int request, size_t *len,
    char mac[DS_AUDIT_MAC_HEX + 1])
{
    static const char  member[] = ",\"mac\":\"";
    size_t             gap, n;
    char              *p;

    gap = sizeof(member) - 1 + DS_AUDIT_MAC_HEX + 1;

    /* room for the member and the newline after the MAC input */
    if (ds_buf_reserve(b, gap + 1) != 0
        || b->failed || b->mark_at == 0
        || ds_audit_mac(c, b->p, b->len, mac) != 0)
    {
        free(b->p);
        b->p = NULL;
        return NULL;
    }

    /* C(R) with ,"mac":"..." spliced in at the mark, then a newline */
    p = b->p;
    memmove(p + b->mark_at + gap, p + b->mark_at, b->len - b->mark_at);
    memcpy(p + b->mark_at, member, sizeof(member) - 1);
    memcpy(p + b->mark_at + sizeof(member) - 1, mac, DS_AUDIT_MAC_HEX);
    p[b->mark_at + gap - 1] = '"';

    n = b->len + gap - DS_AUDIT_RECORD_PREFIX;
    memmove(p, p + DS_AUDIT_RECORD_PREFIX, n);
    p[n] = '\n';
    p[n + 1] = '\0';

    memcpy(c->prev, mac, DS_AUDIT_MAC_HEX + 1);
    c->seq++;
    c->requests += request != 0;

    *len = n + 1;
    return p;
}


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


/* --------------------------------------------------------------- keys */

int
ds_audit_key_parse(const unsigned char *buf, size_t len, unsigned char *out,
    size_t *out_len, char *err, size_t err_size)
{
    size_t  s, e, i, n;
    int     hex, hi, lo;

    s = 0;
    e = len;

    while (s < e && (buf[s] == ' ' || buf[s] == '\t' || buf[s] == '\n'
                     || buf[s] == '\r'))
    {
        s++;
    }

    while (e > s && (buf[e - 1] == ' ' || buf[e - 1] == '\t'
                     || buf[e - 1] == '\n' || buf[e - 1] == '\r'))
    {
        e--;
    }

    hex = (e - s) >= 2 * DS_AUDIT_KEY_MIN && (e - s) % 2 == 0;

    for (i = s; hex && i < e; i++) {
        if (ds_hex_digit(buf[i]) < 0) {
            hex = 0;
        }
    }

    if (hex) {
        n = (e - s) / 2;
        if (n > DS_AUDIT_KEY_MAX) {
            snprintf(err, err_size, "key longer than %d bytes",
                     DS_AUDIT_KEY_MAX);
            return -1;
        }

        for (i = 0; i < n; i++) {
            hi = ds_hex_digit(buf[s + 2 * i]);
            lo = ds_hex_digit(buf[s + 2 * i + 1]);
            out[i] = (unsigned char) (hi << 4 | lo);
        }

        *out_len = n;
        return 0;
    }

    if (len < DS_AUDIT_KEY_MIN) {
        snprintf(err, err_size, "key shorter than %d bytes (use "
                 "\"openssl rand -hex 32\")", DS_AUDIT_KEY_MIN);
        return -1;
    }

    if (len > DS_AUDIT_KEY_MAX) {
        snprintf(err, err_size, "key longer than %d bytes", DS_AUDIT_KEY_MAX);
        return -1;
    }

    memcpy(out, buf, len);
    *out_len = len;

    return 0;
}


int
ds_audit_key_load(const char *path, unsigned char *out, size_t *out_len,
    char *err, size_t err_size)
{
    unsigned char  buf[2 * DS_AUDIT_KEY_MAX + 64];
    size_t         n;
    FILE          *f;
    int            rc;

    f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return -1;
    }

    n = fread(buf, 1, sizeof(buf), f);

    if (ferror(f) || !feof(f)) {
        snprintf(err, err_size, "%s: %s", path,
                 ferror(f) ? "read error" : "file too large for a key");
        fclose(f);
        OPENSSL_cleanse(buf, sizeof(buf));
        return -1;
    }

    fclose(f);

    rc = ds_audit_key_parse(buf, n, out, out_len, err, err_size);
    OPENSSL_cleanse(buf, sizeof(buf));

    return rc;
}
