/*
 * The dsgw-audit-v1 verifier: replays each chain found in the files
 * (and, with checkpoints, proves that none of it is missing).
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ds_audit_int.h"


/* ----------------------------------------------------------- verifier */

/* a checkpoint the files must meet */
typedef struct {
    uint64_t        seq;
    uint64_t        requests;
    char            head[DS_AUDIT_MAC_HEX + 1];
    const char     *file;               /* v->files */
    size_t          line;
    unsigned        met:1;
} ds_audit_vcp_t;


typedef struct {
    char           *id;
    unsigned char   key[32];
    uint64_t        next_seq;
    char            last_mac[DS_AUDIT_MAC_HEX + 1];
    unsigned        ended:1;
    unsigned        nokey_reported:1;
    unsigned        continued:1;
    unsigned        in_files:1;         /* else known from checkpoints */
    unsigned        cps_sorted:1;
    ds_audit_vcp_t *cps;
    size_t          ncps;
    size_t          cpcap;
    uint64_t        first_seq;
    uint64_t        lost;
    uint64_t        records;
    char           *first_file;
    size_t          first_line;
} ds_audit_vchain_t;


struct ds_audit_verify_s {
    unsigned char            seed[DS_AUDIT_KEY_MAX];
    size_t                   seed_len;
    ds_audit_issue_pt        report;
    void                    *data;
    json_t                  *index;     /* chain id -> position */
    ds_audit_vchain_t       *chains;
    size_t                   nchains;
    size_t                   cap;
    char                   **files;     /* checkpoint file names */
    size_t                   nfiles;
    ds_audit_verify_stats_t  st;
};


ds_audit_verify_t *
ds_audit_verify_new(const unsigned char *seed, size_t seed_len,
    ds_audit_issue_pt report, void *data)
{
    ds_audit_verify_t  *v;

    if (seed_len > DS_AUDIT_KEY_MAX) {
        return NULL;
    }

    v = calloc(1, sizeof(*v));
    if (v == NULL) {
        return NULL;
    }

    v->index = json_object();
    if (v->index == NULL) {
        free(v);
        return NULL;
    }

    if (seed) {
        memcpy(v->seed, seed, seed_len);
        v->seed_len = seed_len;
    }

    v->report = report;
    v->data = data;

    return v;
}


static void
ds_audit_issue(ds_audit_verify_t *v, int error, const char *file,
    size_t line, const char *chain, const char *kind, const char *fmt, ...)
{
    va_list           ap;
    ds_audit_issue_t  is;

    is.error = error;
    is.file = file;
    is.line = line;
    is.chain = chain;
    is.kind = kind;

    va_start(ap, fmt);
    vsnprintf(is.msg, sizeof(is.msg), fmt, ap);
    va_end(ap);

    if (error) {
        v->st.errors++;
    } else {
        v->st.warnings++;
    }

    if (v->report) {
        v->report(v->data, &is);
    }
}


static ds_audit_vchain_t *
ds_audit_vchain(ds_audit_verify_t *v, const char *id, const char *file,
    size_t line, int *created)
{
    json_t             *pos;
    ds_audit_vchain_t  *c, *p;
    size_t              cap;

    *created = 0;
    pos = json_object_get(v->index, id);
    if (pos) {
        return &v->chains[json_integer_value(pos)];
    }

    if (v->nchains == v->cap) {
        cap = v->cap ? 2 * v->cap : 16;
        p = realloc(v->chains, cap * sizeof(*p));
        if (p == NULL) {
            return NULL;
        }
        v->chains = p;
        v->cap = cap;
    }

    c = &v->chains[v->nchains];
    memset(c, 0, sizeof(*c));
    c->id = strdup(id);
    c->first_file = strdup(file ? file : "-");
    c->first_line = line;

    if (c->id == NULL || c->first_file == NULL) {
        free(c->id);
        free(c->first_file);
        return NULL;
    }

    if (v->seed_len) {
        ds_audit_chain_key(v->seed, v->seed_len, id, c->key);
    }

    json_object_set_new(v->index, id, json_integer((json_int_t) v->nchains));
    v->nchains++;
    *created = 1;

    return c;
}


static int
ds_is_mac_hex(json_t *j)
{
    const char  *s;
    size_t       i;

    if (!json_is_string(j) || json_string_length(j) != DS_AUDIT_MAC_HEX) {
        return 0;
    }

    s = json_string_value(j);

    for (i = 0; i < DS_AUDIT_MAC_HEX; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }

    return 1;
}


/* the integrity block and the record type, native or OCSF */
static json_t *
ds_audit_find_integrity(json_t *root, const char **type, json_t **lost)
{
    json_t  *ds, *t;

    ds = root;
    t = json_object_get(root, "type");

    if (json_object_get(root, "class_uid")
        && !json_is_object(json_object_get(root, "integrity")))
    {
        ds = json_object_get(json_object_get(root, "unmapped"), "dsgw");
        t = json_object_get(ds, "type");
    }

    *type = json_is_string(t) ? json_string_value(t) : "";
    *lost = json_object_get(ds, "lost");

    return json_object_get(ds, "integrity");
}


/* a chain first met in a checkpoint file, now found in the records */
static int
ds_audit_vchain_here(ds_audit_vchain_t *c, const char *file, size_t line)
{
    char  *f;

    f = strdup(file ? file : "-");
    if (f == NULL) {
        return -1;
    }

    free(c->first_file);
    c->first_file = f;
    c->first_line = line;

    return 0;
}


static int
ds_audit_vcp_cmp(const void *a, const void *b)
{
    const ds_audit_vcp_t  *x = a, *y = b;

    return (x->seq > y->seq) - (x->seq < y->seq);
}


/* every checkpoint at seq must name this record's MAC */
static void
ds_audit_vcp_meet(ds_audit_verify_t *v, ds_audit_vchain_t *c, uint64_t seq,
    const char *mac, const char *file, size_t lineno)
{
    size_t           lo, hi, mid;
    ds_audit_vcp_t  *cp;

    if (c->ncps == 0) {
        return;
    }

    if (!c->cps_sorted) {
        qsort(c->cps, c->ncps, sizeof(ds_audit_vcp_t), ds_audit_vcp_cmp);
        c->cps_sorted = 1;
    }

    lo = 0;
    hi = c->ncps;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        if (c->cps[mid].seq < seq) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }

    for (cp = &c->cps[lo]; cp < c->cps + c->ncps && cp->seq == seq; cp++) {

        if (CRYPTO_memcmp(cp->head, mac, DS_AUDIT_MAC_HEX) != 0) {
            ds_audit_issue(v, 1, file, lineno, c->id, "rewritten",
                           "seq %llu is not the record that checkpoint "
                           "%s:%zu stated: the chain was rewritten from "
                           "here", (unsigned long long) seq, cp->file,
                           cp->line);
            continue;
        }

        if (!cp->met) {
            cp->met = 1;
            v->st.checkpoints++;
        }
    }
}


void
ds_audit_verify_line(ds_audit_verify_t *v, const char *file, size_t lineno,
    const char *line, size_t len)
{
    int                 created, keyed;
    char                mac[DS_AUDIT_MAC_HEX + 1];
    char                claimed[DS_AUDIT_MAC_HEX + 1];
    char                prev[DS_AUDIT_MAC_HEX + 1];
    const char         *type, *alg, *id;
    uint64_t            seq;
    json_t             *root, *integ, *jseq, *jalg, *lost;
    json_error_t        jerr;
    ds_buf_t            b;
    ds_audit_vchain_t  *c;

    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
        len--;
    }

    root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);

    if (!json_is_object(root)) {
        ds_audit_issue(v, 1, file, lineno, NULL, "corrupt",
                       "not a JSON object (%s): line inserted or damaged",
                       root ? "other JSON value" : jerr.text);
        json_decref(root);
        return;
    }

    integ = ds_audit_find_integrity(root, &type, &lost);
    jseq = json_object_get(integ, "seq");
    jalg = json_object_get(integ, "alg");

    if (!json_is_object(integ)
        || !json_is_string(json_object_get(integ, "chain"))
        || json_string_length(json_object_get(integ, "chain")) == 0
        || !json_is_integer(jseq) || json_integer_value(jseq) < 0
        || !ds_is_mac_hex(json_object_get(integ, "prev"))
        || !ds_is_mac_hex(json_object_get(integ, "mac"))
        || json_integer_value(json_object_get(integ, "v")) != 1
        || !json_is_integer(json_object_get(integ, "epoch"))
        || (jalg && !json_is_string(jalg)))
    {
        ds_audit_issue(v, 1, file, lineno, NULL, "corrupt",
                       "no valid integrity block: line inserted or damaged");
        json_decref(root);
        return;
    }

    if (json_integer_value(json_object_get(integ, "epoch")) != 0) {
        ds_audit_issue(v, 1, file, lineno, NULL, "corrupt",
                       "unsupported key epoch (this verifier knows 0)");
        json_decref(root);
        return;
    }

    id = json_string_value(json_object_get(integ, "chain"));
    seq = (uint64_t) json_integer_value(jseq);
    alg = jalg ? json_string_value(jalg) : "hmac-sha256";
    snprintf(claimed, sizeof(claimed), "%s",
             json_string_value(json_object_get(integ, "mac")));
    snprintf(prev, sizeof(prev), "%s",
             json_string_value(json_object_get(integ, "prev")));

    c = ds_audit_vchain(v, id, file, lineno, &created);
    if (c == NULL) {
        ds_audit_issue(v, 1, file, lineno, id, "internal", "out of memory");
        json_decref(root);
        return;
    }

    /* "created" from here on: first seen in the files */
    if (!c->in_files) {
        created = 1;
        c->in_files = 1;
        v->st.chains++;

        if (c->ncps && ds_audit_vchain_here(c, file, lineno) != 0) {
            ds_audit_issue(v, 1, file, lineno, id, "internal",
                           "out of memory");
            json_decref(root);
            return;
        }
    }

    /* the MAC first: nothing else in an altered record can be trusted */

    if (strcmp(alg, "sha256") == 0) {
        keyed = 0;
        if (v->seed_len) {
            ds_audit_issue(v, 1, file, lineno, id, "unkeyed",
                           "record carries an unkeyed SHA-256 chain but a "
                           "key was given: chain downgraded or forged");
            goto resync;
        }

    } else if (strcmp(alg, "hmac-sha256") == 0) {
        keyed = 1;
        if (v->seed_len == 0) {
            if (!c->nokey_reported) {
                c->nokey_reported = 1;
                ds_audit_issue(v, 1, file, lineno, id, "nokey",
                               "HMAC chain: cannot verify without --key");
            }
            goto resync;
        }

    } else {
        ds_audit_issue(v, 1, file, lineno, id, "corrupt",
                       "unknown integrity algorithm \"%s\"", alg);
        goto resync;
    }

    json_object_del(integ, "mac");

    if (ds_canon_mac_input(root, NULL, &b) != 0) {
        ds_audit_issue(v, 1, file, lineno, id, "corrupt",
                       "record has no canonical form (non-integer number)");
        goto resync;
    }

    if (ds_audit_mac_oneshot(c->key, keyed, b.p, b.len, mac) != 0) {
        free(b.p);
        ds_audit_issue(v, 1, file, lineno, id, "internal",
                       "cannot compute the MAC (OpenSSL)");
        goto resync;
    }

    free(b.p);

    if (CRYPTO_memcmp(mac, claimed, DS_AUDIT_MAC_HEX) != 0) {
        ds_audit_issue(v, 1, file, lineno, id, "altered",
                       "MAC mismatch at seq %llu: record altered or forged",
                       (unsigned long long) seq);
        goto resync;
    }

    /* an authentic record: what checkpoints said of it, its place */

    ds_audit_vcp_meet(v, c, seq, claimed, file, lineno);

    if (created) {
        /* reported at the end: an error only when --strict */
        c->continued = seq != 0 || strcmp(type, "chain_start") != 0;
        c->first_seq = seq;
        c->next_seq = seq;
        memcpy(c->last_mac, prev, sizeof(prev));

    } else if (c->ended) {
        ds_audit_issue(v, 1, file, lineno, id, "inserted",
                       "seq %llu after the chain's chain-end record",
                       (unsigned long long) seq);
        goto resync;
    }

    if (seq > c->next_seq) {
        ds_audit_issue(v, 1, file, lineno, id, "removed",
                       "seq %llu where %llu was expected: %llu record(s) "
                       "missing before this line (removed or reordered)",
                       (unsigned long long) seq,
                       (unsigned long long) c->next_seq,
                       (unsigned long long) (seq - c->next_seq));
        goto resync;
    }

    if (seq < c->next_seq) {
        ds_audit_issue(v, 1, file, lineno, id, "reordered",
                       "seq %llu where %llu was expected: record repeated, "
                       "inserted or out of order",
                       (unsigned long long) seq,
                       (unsigned long long) c->next_seq);
        goto resync;
    }

    if (strcmp(prev, c->last_mac) != 0) {
        ds_audit_issue(v, 1, file, lineno, id, "removed",
                       "seq %llu does not link to the previous record "
                       "(prev MAC mismatch): record replaced or removed",
                       (unsigned long long) seq);
        goto resync;
    }

    if (seq != 0 && strcmp(type, "chain_start") == 0) {
        ds_audit_issue(v, 1, file, lineno, id, "inserted",
                       "chain-start record in the middle of a chain");
    }

    c->next_seq = seq + 1;
    memcpy(c->last_mac, claimed, sizeof(claimed));
    c->records++;
    v->st.records++;

    if (strcmp(type, "request") == 0) {
        v->st.requests++;
    }

    if (strcmp(type, "chain_end") == 0) {
        c->ended = 1;
        if (json_is_integer(lost) && json_integer_value(lost) > 0) {
            c->lost = (uint64_t) json_integer_value(lost);
        }
    }

    json_decref(root);
    return;

resync:

    /* follow the claimed position so one bad line reports once */
    if (created || seq >= c->next_seq) {
        c->next_seq = seq + 1;
        memcpy(c->last_mac, claimed, sizeof(claimed));
    }

    json_decref(root);
}


/* the name of a checkpoint file, kept once for every checkpoint in it */
static const char *
ds_audit_cp_file(ds_audit_verify_t *v, const char *file)
{
    char   **p;

    file = file ? file : "-";

    if (v->nfiles && strcmp(v->files[v->nfiles - 1], file) == 0) {
        return v->files[v->nfiles - 1];
    }

    p = realloc(v->files, (v->nfiles + 1) * sizeof(char *));
    if (p == NULL) {
        return NULL;
    }

    v->files = p;
    p[v->nfiles] = strdup(file);

    if (p[v->nfiles] == NULL) {
        return NULL;
    }

    return p[v->nfiles++];
}


static int
ds_audit_cp_valid(json_t *cp)
{
    json_t  *seq, *req, *alg, *chain;

    seq = json_object_get(cp, "seq");
    req = json_object_get(cp, "requests");
    alg = json_object_get(cp, "alg");
    chain = json_object_get(cp, "chain");

    return json_integer_value(json_object_get(cp, "v")) == 1
           && json_is_string(alg)
           && json_is_string(chain)
           && json_string_length(chain) > 0
           && json_string_length(chain) < DS_AUDIT_CHAIN_MAX
           && json_is_integer(seq) && json_integer_value(seq) >= 0
           && json_is_integer(req) && json_integer_value(req) >= 0
           && json_is_string(json_object_get(cp, "event"))
           && ds_is_mac_hex(json_object_get(cp, "head"))
           && ds_is_mac_hex(json_object_get(cp, "cmac"));
}


void
ds_audit_verify_checkpoint(ds_audit_verify_t *v, const char *file,
    size_t lineno, const char *line, size_t len)
{
    int                 created, keyed;
    char                mac[DS_AUDIT_MAC_HEX + 1];
    char                claimed[DS_AUDIT_MAC_HEX + 1];
    size_t              cap;
    const char         *id, *alg, *brace, *name;
    json_t             *cp;
    ds_audit_vcp_t     *p, *e;
    ds_audit_vchain_t  *c;

    /* the SIEM's copy: a syslog header, then the JSON sent */
    brace = memchr(line, '{', len);
    if (brace == NULL) {
        v->st.ignored++;
        return;
    }

    len -= brace - line;
    while (len && (brace[len - 1] == '\n' || brace[len - 1] == '\r')) {
        len--;
    }

    cp = json_loadb(brace, len, JSON_REJECT_DUPLICATES, NULL);

    if (!json_is_object(cp)
        || !json_is_string(json_object_get(cp, "type"))
        || strcmp(json_string_value(json_object_get(cp, "type")),
                  DS_AUDIT_CHECKPOINT_TYPE) != 0)
    {
        /* other events of the same stream */
        v->st.ignored++;
        json_decref(cp);
        return;
    }

    if (!ds_audit_cp_valid(cp)) {
        ds_audit_issue(v, 1, file, lineno, NULL, "corrupt",
                       "malformed checkpoint");
        json_decref(cp);
        return;
    }

    id = json_string_value(json_object_get(cp, "chain"));
    alg = json_string_value(json_object_get(cp, "alg"));
    keyed = strcmp(alg, "hmac-sha256") == 0;

    c = ds_audit_vchain(v, id, file, lineno, &created);
    name = ds_audit_cp_file(v, file);

    if (c == NULL || name == NULL) {
        ds_audit_issue(v, 1, file, lineno, id, "internal", "out of memory");
        json_decref(cp);
        return;
    }

    if (!keyed && strcmp(alg, "sha256") != 0) {
        ds_audit_issue(v, 1, file, lineno, id, "corrupt",
                       "unknown checkpoint algorithm \"%s\"", alg);
        json_decref(cp);
        return;
    }

    if (keyed && v->seed_len == 0) {
        if (!c->nokey_reported) {
            c->nokey_reported = 1;
            ds_audit_issue(v, 1, file, lineno, id, "nokey",
                           "HMAC chain: cannot verify without --key");
        }
        json_decref(cp);
        return;
    }

    if (!keyed && v->seed_len) {
        ds_audit_issue(v, 1, file, lineno, id, "unkeyed",
                       "unkeyed checkpoint but a key was given: forged");
        json_decref(cp);
        return;
    }

    snprintf(claimed, sizeof(claimed), "%s",
             json_string_value(json_object_get(cp, "cmac")));
    json_object_del(cp, "cmac");

    if (ds_audit_checkpoint_mac(c->key, keyed, cp, mac) != 0
        || CRYPTO_memcmp(mac, claimed, DS_AUDIT_MAC_HEX) != 0)
    {
        ds_audit_issue(v, 1, file, lineno, id, "forged",
                       "checkpoint MAC mismatch: not sent by the gateway, "
                       "or altered");
        json_decref(cp);
        return;
    }

    if (c->ncps == c->cpcap) {
        cap = c->cpcap ? 2 * c->cpcap : 16;
        p = realloc(c->cps, cap * sizeof(ds_audit_vcp_t));
        if (p == NULL) {
            ds_audit_issue(v, 1, file, lineno, id, "internal",
                           "out of memory");
            json_decref(cp);
            return;
        }
        c->cps = p;
        c->cpcap = cap;
    }

    if (c->ncps == 0) {
        v->st.checkpoint_chains++;
    }

    e = &c->cps[c->ncps++];
    memset(e, 0, sizeof(*e));
    e->seq = (uint64_t) json_integer_value(json_object_get(cp, "seq"));
    e->requests = (uint64_t) json_integer_value(json_object_get(cp,
                                                               "requests"));
    snprintf(e->head, sizeof(e->head), "%s",
             json_string_value(json_object_get(cp, "head")));
    e->file = name;
    e->line = lineno;
    c->cps_sorted = 0;

    json_decref(cp);
}


/* the latest checkpoint the files did not meet, and how many */
static ds_audit_vcp_t *
ds_audit_vcp_unmet(ds_audit_vchain_t *c, size_t *n)
{
    size_t           i;
    ds_audit_vcp_t  *last;

    last = NULL;
    *n = 0;

    for (i = 0; i < c->ncps; i++) {
        if (!c->cps[i].met) {
            (*n)++;
            if (last == NULL || c->cps[i].seq >= last->seq) {
                last = &c->cps[i];
            }
        }
    }

    return last;
}


void
ds_audit_verify_end(ds_audit_verify_t *v, unsigned flags)
{
    size_t              i, n;
    ds_audit_vcp_t     *cp;
    ds_audit_vchain_t  *c;

    for (i = 0; i < v->nchains; i++) {
        c = &v->chains[i];
        cp = ds_audit_vcp_unmet(c, &n);

        if (!c->in_files) {
            if (cp && !c->nokey_reported) {
                ds_audit_issue(v, 1, cp->file, cp->line, c->id, "missing",
                               "chain absent from the files, yet this "
                               "checkpoint shows it reached seq %llu with "
                               "%llu request record(s): a whole chain was "
                               "deleted, or its files were not given",
                               (unsigned long long) cp->seq,
                               (unsigned long long) cp->requests);
            }
            continue;
        }

        if (cp) {
            ds_audit_issue(v, 1, cp->file, cp->line, c->id, "cut",
                           "%zu checkpoint(s) not met by the files, up to "
                           "seq %llu (%llu request record(s)); the files "
                           "hold this chain up to seq %llu: records "
                           "removed, or the tail cut", n,
                           (unsigned long long) cp->seq,
                           (unsigned long long) cp->requests,
                           (unsigned long long) (c->next_seq
                                                 ? c->next_seq - 1 : 0));
        }

        if (c->continued) {
            ds_audit_issue(v, !(flags & DS_AUDIT_VERIFY_CONTINUED_OK),
                           c->first_file, c->first_line, c->id,
                           "continued",
                           "chain begins at seq %llu without chain-start "
                           "(its earlier segment was not given, or was "
                           "cut; --continued-ok accepts this)",
                           (unsigned long long) c->first_seq);
        }

        if (!c->ended && !c->nokey_reported) {
            ds_audit_issue(v, !(flags & DS_AUDIT_VERIFY_OPEN_OK),
                           c->first_file, 0, c->id, "open",
                           "chain has no chain-end after seq %llu (nginx "
                           "still running, crashed, or the tail was cut; "
                           "--open-ok accepts this)",
                           (unsigned long long) (c->next_seq
                                                 ? c->next_seq - 1 : 0));
        }

        if (c->lost) {
            ds_audit_issue(v, 0, c->first_file, 0, c->id, "lost",
                           "the writer declared %llu record(s) lost to "
                           "write errors", (unsigned long long) c->lost);
        }
    }
}


void
ds_audit_verify_stats(const ds_audit_verify_t *v, ds_audit_verify_stats_t *st)
{
    *st = v->st;
}


void
ds_audit_verify_free(ds_audit_verify_t *v)
{
    size_t  i;

    if (v == NULL) {
        return;
    }

    for (i = 0; i < v->nchains; i++) {
        OPENSSL_cleanse(v->chains[i].key, sizeof(v->chains[i].key));
        free(v->chains[i].id);
        free(v->chains[i].first_file);
        free(v->chains[i].cps);
    }

    for (i = 0; i < v->nfiles; i++) {
        free(v->files[i]);
    }

    free(v->files);

    OPENSSL_cleanse(v->seed, sizeof(v->seed));
    free(v->chains);
    json_decref(v->index);
    free(v);
}
