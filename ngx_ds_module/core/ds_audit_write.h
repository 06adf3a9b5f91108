/*
 * The one writer of audit records (internal to the core).
 *
 * A format is described by a table of its members in canonical order:
 * each object's members sorted by key, every object followed by its
 * members (depth first). A record is filled in the order its fields
 * are cleaned (that order decides the "truncated" list), each value
 * serialized once into one buffer; the line is then joined by walking
 * the table, so it comes out canonical without a tree or a sort.
 * Members the chain fills (integrity, OCSF metadata.uid/sequence) are
 * written at sealing time.
 */

#ifndef DS_AUDIT_WRITE_H
#define DS_AUDIT_WRITE_H

#include "ds_audit_int.h"


#define DS_W_MAX  128                   /* members of one format */

typedef enum {
    DS_W_VALUE = 0,                     /* any serialized JSON value */
    DS_W_OBJECT,                        /* its members follow */
    DS_W_ARRAY1,                        /* an array of one such object */
    DS_W_INTEGRITY,                     /* the chain's integrity block */
    DS_W_SEQUENCE,                      /* the record's seq */
    DS_W_EVENT_UID                      /* "<chain>:<seq>" */
} ds_wkind_e;


typedef struct {
    const char          *key;
    const char          *member;        /* ,"key": as joined */
    unsigned char        len;           /* of member */
    unsigned char        kind;
    short                parent;        /* member index, -1: top level */
} ds_wmember_t;

#define ds_wm(key, kind, parent)                                              \
    { key, ",\"" key "\":", sizeof(",\"" key "\":") - 1, kind, parent }


typedef struct {
    const ds_wmember_t  *m;
    size_t               n;
    ds_buf_t             v;             /* serialized values */
    unsigned             off[DS_W_MAX];
    unsigned             len[DS_W_MAX];
    unsigned char        set[DS_W_MAX];
    unsigned             shift;         /* caps >> shift */
    unsigned             sanitized:1;
    size_t               bytes;         /* escaped size of the strings */
    const char          *truncated[DS_W_MAX];
    size_t               ntruncated;
} ds_writer_t;


/* a fill function: the record's values for one attempt at w->shift */
typedef void (*ds_wfill_pt)(ds_writer_t *w, const void *data);


/*
 * Cleaned, capped, escaped string into b (null when absent); field names
 * it in "truncated"; clean (may be NULL) receives the cleaned bytes
 * (malloc'ed, for values other members are made of).
 */
void ds_w_string(ds_writer_t *w, ds_buf_t *b, ds_audit_str_t s, size_t cap,
    const char *field, ds_buf_t *clean);

/* member k := ... (the small ones inline: a record has ~40 members) */

static inline void
ds_w_begin(ds_writer_t *w, int k)
{
    w->off[k] = (unsigned) w->v.len;
}


static inline void
ds_w_end(ds_writer_t *w, int k)
{
    w->len[k] = (unsigned) (w->v.len - w->off[k]);
    w->set[k] = 1;
}


static inline void
ds_w_str(ds_writer_t *w, int k, ds_audit_str_t s, size_t cap)
{
    ds_w_begin(w, k);
    ds_w_string(w, &w->v, s, cap, w->m[k].key, NULL);
    ds_w_end(w, k);
}


static inline void
ds_w_raw(ds_writer_t *w, int k, const char *s, size_t n)
{
    ds_w_begin(w, k);
    ds_buf_add(&w->v, s, n);
    ds_w_end(w, k);
}


static inline void
ds_w_open(ds_writer_t *w, int k)
{
    w->len[k] = 0;
    w->set[k] = 1;
}


/* as jansson prints integers ("%lld"), without printf's overhead */
static inline void
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


static inline void
ds_w_int(ds_writer_t *w, int k, int64_t n)
{
    ds_w_begin(w, k);
    ds_buf_int(&w->v, n);
    ds_w_end(w, k);
}


void ds_w_str_keep(ds_writer_t *w, int k, ds_audit_str_t s, size_t cap,
    ds_buf_t *clean);
void ds_w_const(ds_writer_t *w, int k, const char *s);   /* not counted */
void ds_w_time(ds_writer_t *w, int k, int64_t ms);

/* the "truncated" list as a JSON array, into member k */
void ds_w_truncated(ds_writer_t *w, int k);

/* values both formats have: the query object (and its query string) */
void ds_audit_query_write(ds_writer_t *w, const ds_audit_req_t *rq,
    ds_buf_t *b, ds_buf_t *qs);
void ds_audit_rate_limit_write(ds_writer_t *w, const ds_audit_req_t *rq,
    ds_buf_t *b);
void ds_audit_list_items_write(const ds_audit_req_t *rq, ds_buf_t *b);
void ds_audit_disclosure_write(ds_writer_t *w, const ds_disclosure_t *d,
    ds_buf_t *b);
void ds_audit_file_write(ds_writer_t *w, const ds_audit_req_t *rq,
    ds_buf_t *b);
void ds_audit_jwt_write(ds_writer_t *w, const ds_audit_req_t *rq,
    ds_buf_t *b);

/*
 * Fills with caps /1, /4, /16 until the record fits DS_AUDIT_LINE_MAX,
 * then joins and seals it: the '\n'-terminated line, malloc'ed.
 */
char *ds_w_line(ds_audit_chain_t *c, const ds_wmember_t *m, size_t n,
    ds_wfill_pt fill, const void *data, int request, size_t *len);

/* tables and fills of the two formats */
extern const ds_wmember_t  ds_audit_native_members[];
extern const size_t        ds_audit_native_nmembers;
extern const ds_wmember_t  ds_audit_ocsf_members[];
extern const size_t        ds_audit_ocsf_nmembers;

void ds_audit_native_request(ds_writer_t *w, const void *rq);
void ds_audit_native_lifecycle(ds_writer_t *w, const void *lc);
void ds_audit_ocsf_request(ds_writer_t *w, const void *rq);
void ds_audit_ocsf_lifecycle(ds_writer_t *w, const void *lc);
void ds_audit_native_alert(ds_writer_t *w, const void *a);
void ds_audit_ocsf_alert(ds_writer_t *w, const void *a);

/* the "alert" object both formats have */
void ds_audit_alert_write(ds_writer_t *w, const ds_audit_alert_t *a,
    ds_buf_t *b);


/* what a lifecycle record says */
typedef struct {
    const char          *type;          /* chain_start, chain_end */
    int64_t              time_ms;
    const char          *instance;
    long                 pid;
    uint64_t             requests;
    uint64_t             lost;
} ds_audit_lc_t;

#endif /* DS_AUDIT_WRITE_H */
