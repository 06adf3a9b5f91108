/*
 * Native request records written straight into their sealed line.
 *
 * Building a jansson tree, sorting its keys and serializing it cost
 * about half of the gateway's per-request instructions (callgrind,
 * bench/README.md). The member set of a native request record is
 * fixed, so its canonical order is known in advance: every value is
 * serialized once, in the order the jansson builder cleans its fields
 * (that order decides the "truncated" list), and the members are then
 * joined in sorted key order. The result must be byte-identical to
 * ds_audit_seal(ds_audit_request_record()); tests/unit/test_audit.c
 * and tests/fuzz/fuzz_audit.c compare the two.
 */

#include <stdlib.h>
#include <string.h>

#include "ds_audit_int.h"
#include "ds_time.h"


/* the members of a native request record, in canonical (sorted) order */
typedef enum {
    DS_N_ACTION = 0,
    DS_N_BODY_BYTES_SENT,
    DS_N_BODY_SHA256,
    DS_N_BYTES_SENT,
    DS_N_CLIENT_IP,
    DS_N_COUNTRY,
    DS_N_DECISION,
    DS_N_DURATION_MS,
    DS_N_INSTANCE,
    DS_N_INTEGRITY,
    DS_N_LIST_ITEMS,
    DS_N_METHOD,
    DS_N_OPERATION,
    DS_N_PATH,
    DS_N_POLICY_VERSION,
    DS_N_PURPOSE,
    DS_N_QUERY,
    DS_N_RATE_LIMIT,
    DS_N_REASON,
    DS_N_RECIPIENT,
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


typedef struct {
    const char  *name;
    size_t       len;
} ds_native_key_t;

#define ds_key(s)  { s, sizeof(s) - 1 }

static const ds_native_key_t  ds_audit_native_keys[DS_N_MEMBERS] = {
    ds_key("action"), ds_key("body_bytes_sent"), ds_key("body_sha256"),
    ds_key("bytes_sent"), ds_key("client_ip"), ds_key("country"),
    ds_key("decision"), ds_key("duration_ms"), ds_key("instance"),
    ds_key("integrity"), ds_key("list_items"), ds_key("method"),
    ds_key("operation"), ds_key("path"), ds_key("policy_version"),
    ds_key("purpose"), ds_key("query"), ds_key("rate_limit"),
    ds_key("reason"), ds_key("recipient"), ds_key("request_id"),
    ds_key("request_length"), ds_key("sanitized"), ds_key("schema"),
    ds_key("schema_version"), ds_key("share"), ds_key("status"),
    ds_key("table"), ds_key("time"), ds_key("time_ms"), ds_key("token_id"),
    ds_key("truncated"), ds_key("type"), ds_key("upstream_status"),
    ds_key("user_agent")
};


typedef struct {
    const char  *name;
    size_t       off;
    size_t       len;
} ds_native_arg_t;


typedef struct {
    ds_buf_t      v;                    /* serialized values */
    size_t        off[DS_N_MEMBERS];
    size_t        len[DS_N_MEMBERS];
    unsigned char set[DS_N_MEMBERS];
    unsigned      shift;
    unsigned      sanitized:1;
    size_t        bytes;                /* as ds_audit_flags_t.bytes */
    const char   *truncated[DS_N_MEMBERS];
    size_t        ntruncated;
} ds_native_t;


static void
ds_native_begin(ds_native_t *w, ds_native_member_e k)
{
    w->off[k] = w->v.len;
}


static void
ds_native_end(ds_native_t *w, ds_native_member_e k)
{
    w->len[k] = w->v.len - w->off[k];
    w->set[k] = 1;
}


static void
ds_native_truncated(ds_native_t *w, const char *field)
{
    size_t  i;

    for (i = 0; i < w->ntruncated; i++) {
        if (strcmp(w->truncated[i], field) == 0) {
            return;
        }
    }

    if (w->ntruncated < DS_N_MEMBERS) {
        w->truncated[w->ntruncated++] = field;
    }
}


/* a cleaned, capped, escaped string value, or null (as ds_set_str) */
static void
ds_native_string(ds_native_t *w, ds_buf_t *b, ds_audit_str_t s, size_t cap,
    const char *field)
{
    char        out[DS_AUDIT_CAP_PATH + 1];
    ds_clean_t  cl;

    if (s.data == NULL) {
        ds_buf_add(b, "null", 4);
        return;
    }

    cap >>= w->shift;

    /* the common case: nothing to clean, cut or escape */
    if (s.len <= cap && ds_audit_plain_prefix(s.data, s.len, 1) == s.len) {
        w->bytes += s.len + 2;
        ds_buf_add(b, "\"", 1);
        ds_buf_add(b, s.data, s.len);
        ds_buf_add(b, "\"", 1);
        return;
    }

    ds_audit_clean(s.data, s.len, cap, out, &cl);

    if (cl.truncated) {
        ds_native_truncated(w, field);
    }

    if (cl.sanitized) {
        w->sanitized = 1;
    }

    w->bytes += cl.cost + 2;

    ds_canon_string(b, out, cl.len);
}


static void
ds_native_str(ds_native_t *w, ds_native_member_e k, ds_audit_str_t s,
    size_t cap)
{
    ds_native_begin(w, k);
    ds_native_string(w, &w->v, s, cap, ds_audit_native_keys[k].name);
    ds_native_end(w, k);
}


/* as jansson prints integers ("%lld"), without printf's overhead */
static void
ds_buf_int(ds_buf_t *b, int64_t n)
{
    char      num[24], *p;
    uint64_t  u;

    p = num + sizeof(num);
    u = n < 0 ? (uint64_t) 0 - (uint64_t) n : (uint64_t) n;

    do {
        *--p = (char) ('0' + u % 10);
        u /= 10;
    } while (u);

    if (n < 0) {
        *--p = '-';
    }

    ds_buf_add(b, p, num + sizeof(num) - p);
}


static void
ds_native_int(ds_native_t *w, ds_native_member_e k, int64_t n)
{
    ds_native_begin(w, k);
    ds_buf_int(&w->v, n);
    ds_native_end(w, k);
}


static void
ds_native_raw(ds_native_t *w, ds_native_member_e k, const char *s, size_t n)
{
    ds_native_begin(w, k);
    ds_buf_add(&w->v, s, n);
    ds_native_end(w, k);
}


static int
ds_native_arg_cmp(const void *a, const void *b)
{
    return strcmp(((const ds_native_arg_t *) a)->name,
                  ((const ds_native_arg_t *) b)->name);
}


/* allow-listed arguments, first occurrence of each name, sorted */
static void
ds_native_query(ds_native_t *w, const ds_audit_req_t *rq, ds_buf_t *tmp)
{
    size_t            pos, i, n;
    const char       *name;
    ds_audit_str_t    v;
    ds_native_arg_t   args[DS_AUDIT_QUERY_ARGS_MAX];

    n = 0;
    pos = 0;
    tmp->len = 0;

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
        args[n].off = tmp->len;
        ds_native_string(w, tmp, v, DS_AUDIT_CAP_QUERY_VALUE, "query");
        args[n].len = tmp->len - args[n].off;
        n++;
    }

    qsort(args, n, sizeof(ds_native_arg_t), ds_native_arg_cmp);

    ds_native_begin(w, DS_N_QUERY);
    ds_buf_add(&w->v, "{", 1);

    for (i = 0; i < n; i++) {
        if (i) {
            ds_buf_add(&w->v, ",", 1);
        }
        ds_canon_string(&w->v, args[i].name, strlen(args[i].name));
        ds_buf_add(&w->v, ":", 1);
        ds_buf_add(&w->v, tmp->p + args[i].off, args[i].len);
    }

    ds_buf_add(&w->v, "}", 1);
    ds_native_end(w, DS_N_QUERY);
}


/* the values, cleaned in the jansson builder's order */
static void
ds_native_values(ds_native_t *w, const ds_audit_req_t *rq, ds_buf_t *tmp)
{
    char    buf[DS_RFC3339_LEN];
    size_t  i;

    ds_native_int(w, DS_N_SCHEMA_VERSION, DS_AUDIT_SCHEMA_VERSION);
    ds_native_raw(w, DS_N_TYPE, "\"request\"", 9);

    ds_time_format_rfc3339(rq->time_ms, buf, sizeof(buf));
    ds_native_begin(w, DS_N_TIME);
    ds_canon_string(&w->v, buf, strlen(buf));
    ds_native_end(w, DS_N_TIME);
    ds_native_int(w, DS_N_TIME_MS, rq->time_ms);

    ds_native_str(w, DS_N_INSTANCE, rq->instance, DS_AUDIT_CAP_DEFAULT);
    ds_native_str(w, DS_N_REQUEST_ID, rq->request_id, DS_AUDIT_CAP_DEFAULT);
    ds_native_str(w, DS_N_RECIPIENT, rq->recipient, DS_AUDIT_CAP_DEFAULT);
    ds_native_str(w, DS_N_TOKEN_ID, rq->token_id, DS_AUDIT_CAP_DEFAULT);

    ds_native_str(w, DS_N_ACTION, rq->action, DS_AUDIT_CAP_DEFAULT);
    ds_native_str(w, DS_N_OPERATION, rq->operation, DS_AUDIT_CAP_DEFAULT);
    ds_native_str(w, DS_N_METHOD, rq->method, DS_AUDIT_CAP_DEFAULT);
    ds_native_str(w, DS_N_PATH, rq->path, DS_AUDIT_CAP_PATH);
    ds_native_query(w, rq, tmp);

    ds_native_str(w, DS_N_CLIENT_IP, rq->client_ip, DS_AUDIT_CAP_DEFAULT);
    ds_native_str(w, DS_N_COUNTRY, rq->country, DS_AUDIT_CAP_DEFAULT);
    ds_native_str(w, DS_N_USER_AGENT, rq->user_agent, DS_AUDIT_CAP_UA);

    ds_native_str(w, DS_N_DECISION, rq->decision, DS_AUDIT_CAP_DEFAULT);
    ds_native_str(w, DS_N_REASON, rq->reason, DS_AUDIT_CAP_DEFAULT);
    ds_native_int(w, DS_N_STATUS, rq->status);
    ds_native_int(w, DS_N_BYTES_SENT, rq->bytes_sent);
    ds_native_int(w, DS_N_BODY_BYTES_SENT, rq->body_bytes_sent);
    ds_native_str(w, DS_N_UPSTREAM_STATUS, rq->upstream_status,
                  DS_AUDIT_CAP_DEFAULT);
    ds_native_int(w, DS_N_DURATION_MS, rq->duration_ms);

    ds_native_str(w, DS_N_SHARE, rq->share, DS_AUDIT_CAP_DEFAULT);
    ds_native_str(w, DS_N_SCHEMA, rq->schema, DS_AUDIT_CAP_DEFAULT);
    ds_native_str(w, DS_N_TABLE, rq->table, DS_AUDIT_CAP_DEFAULT);
    ds_native_str(w, DS_N_PURPOSE, rq->purpose, DS_AUDIT_CAP_DEFAULT);

    ds_native_begin(w, DS_N_RATE_LIMIT);
    if (rq->rl_state.data) {
        ds_buf_add(&w->v, "{\"limit\":", 9);
        ds_buf_int(&w->v, rq->rl_limit);
        ds_buf_add(&w->v, ",\"remaining\":", 13);
        ds_buf_int(&w->v, rq->rl_remaining);
        ds_buf_add(&w->v, ",\"state\":", 9);
        ds_native_string(w, &w->v, rq->rl_state, DS_AUDIT_CAP_DEFAULT,
                         "state");
        ds_buf_add(&w->v, "}", 1);
    } else {
        ds_buf_add(&w->v, "null", 4);
    }
    ds_native_end(w, DS_N_RATE_LIMIT);

    ds_native_begin(w, DS_N_LIST_ITEMS);
    if (rq->has_items) {
        ds_buf_add(&w->v, "{\"in\":", 6);
        ds_buf_int(&w->v, rq->items_in);
        ds_buf_add(&w->v, ",\"out\":", 7);
        ds_buf_int(&w->v, rq->items_out);
        ds_buf_add(&w->v, "}", 1);
    } else {
        ds_buf_add(&w->v, "null", 4);
    }
    ds_native_end(w, DS_N_LIST_ITEMS);

    ds_native_str(w, DS_N_POLICY_VERSION, rq->policy_version,
                  DS_AUDIT_CAP_DEFAULT);
    ds_native_int(w, DS_N_REQUEST_LENGTH, rq->request_length);
    ds_native_str(w, DS_N_BODY_SHA256, rq->body_sha256,
                  DS_AUDIT_CAP_DEFAULT);

    if (w->sanitized) {
        ds_native_raw(w, DS_N_SANITIZED, "true", 4);
    }

    if (w->ntruncated) {
        ds_native_begin(w, DS_N_TRUNCATED);
        ds_buf_add(&w->v, "[", 1);
        for (i = 0; i < w->ntruncated; i++) {
            if (i) {
                ds_buf_add(&w->v, ",", 1);
            }
            ds_canon_string(&w->v, w->truncated[i],
                            strlen(w->truncated[i]));
        }
        ds_buf_add(&w->v, "]", 1);
        ds_native_end(w, DS_N_TRUNCATED);
    }
}


/* the canonical record's length without the integrity member */
static size_t
ds_native_length(const ds_native_t *w)
{
    size_t  k, n, members;

    n = 2;
    members = 0;

    for (k = 0; k < DS_N_MEMBERS; k++) {
        if (w->set[k] && k != DS_N_INTEGRITY) {
            n += ds_audit_native_keys[k].len + 3 + w->len[k];
            members++;
        }
    }

    return n + (members ? members - 1 : 0);
}


/* the integrity member's value; mark_at where "mac" sorts in */
static void
ds_native_integrity(ds_buf_t *b, const ds_audit_chain_t *c)
{
    ds_buf_add(b, "{", 1);

    if (!c->keyed) {
        ds_buf_add(b, "\"alg\":\"sha256\",", 15);
    }

    ds_buf_add(b, "\"chain\":", 8);
    ds_canon_string(b, c->id, strlen(c->id));
    ds_buf_add(b, ",\"epoch\":0", 10);

    b->mark_at = b->len;

    ds_buf_add(b, ",\"prev\":", 8);
    ds_canon_string(b, c->prev, strlen(c->prev));
    ds_buf_add(b, ",\"seq\":", 7);
    ds_buf_int(b, (int64_t) c->seq);
    ds_buf_add(b, ",\"v\":1}", 7);
}


static char *
ds_audit_jansson_line(ds_audit_chain_t *c, ds_audit_format_t fmt,
    const ds_audit_req_t *rq, size_t *len)
{
    char    *line;
    json_t  *rec;

    rec = ds_audit_request_record(fmt, rq);
    if (rec == NULL) {
        return NULL;
    }

    line = ds_audit_seal(c, rec, len);
    json_decref(rec);

    return line;
}


char *
ds_audit_request_line(ds_audit_chain_t *c, ds_audit_format_t fmt,
    const ds_audit_req_t *rq, size_t *len)
{
    char         mac[DS_AUDIT_MAC_HEX + 1], *line;
    size_t       k, first;
    ds_buf_t     b, tmp;
    ds_native_t  w;

    if (fmt != DS_AUDIT_NATIVE) {
        return ds_audit_jansson_line(c, fmt, rq, len);
    }

    memset(&w, 0, sizeof(w));
    memset(&tmp, 0, sizeof(tmp));

    /* the jansson builder's caps: /1, then /4, then /16 (see there) */
    for ( ;; ) {
        ds_native_values(&w, rq, &tmp);

        if (w.v.failed || tmp.failed || w.shift == 4
            || w.bytes + DS_AUDIT_FIXED_MAX <= DS_AUDIT_RECORD_MAX
            || ds_native_length(&w) <= DS_AUDIT_RECORD_MAX)
        {
            break;
        }

        w.shift += 2;
        w.v.len = 0;
        w.bytes = 0;
        w.sanitized = 0;
        w.ntruncated = 0;
        memset(w.set, 0, sizeof(w.set));
    }

    free(tmp.p);

    if (w.v.failed) {
        free(w.v.p);
        return NULL;
    }

    memset(&b, 0, sizeof(b));

    if (ds_buf_reserve(&b, DS_AUDIT_RECORD_PREFIX + w.v.len
                           + DS_AUDIT_SEAL_MAX + 512) != 0)
    {
        free(w.v.p);
        return NULL;
    }

    ds_buf_add(&b, DS_AUDIT_RECORD_LABEL, DS_AUDIT_RECORD_PREFIX);
    ds_buf_add(&b, "{", 1);

    w.set[DS_N_INTEGRITY] = 1;
    first = 1;

    for (k = 0; k < DS_N_MEMBERS; k++) {
        if (!w.set[k]) {
            continue;
        }

        if (!first) {
            ds_buf_add(&b, ",", 1);
        }
        first = 0;

        ds_buf_add(&b, "\"", 1);
        ds_buf_add(&b, ds_audit_native_keys[k].name,
                   ds_audit_native_keys[k].len);
        ds_buf_add(&b, "\":", 2);

        if (k == DS_N_INTEGRITY) {
            ds_native_integrity(&b, c);
        } else {
            ds_buf_add(&b, w.v.p + w.off[k], w.len[k]);
        }
    }

    ds_buf_add(&b, "}", 1);
    free(w.v.p);

    line = ds_audit_finish(c, &b, 1, len, mac);

    return line;
}
