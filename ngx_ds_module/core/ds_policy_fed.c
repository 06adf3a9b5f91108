/*
 * Policy: identity federation (issue #15). The top-level "issuers" name
 * the identity providers whose JWTs are trusted, each with its keys (a
 * JWKS file read here, at load time: a reload rotates them) and its
 * rules; a recipient's "federation" entries say which of their tokens
 * are this recipient's (issuer, audiences, a subject claim and values).
 *
 * As everywhere in the loader, every field is checked and unknown ones
 * are errors. Entries are resolved to their issuer after every file, as
 * an issuer may be set in another file of a policy directory.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <jansson.h>

#include "ds_jwt.h"
#include "ds_policy_int.h"
#include "ds_policy_load.h"

#define DS_ISSUER_MAX       512
#define DS_CLAIM_VALUE_MAX  512
#define DS_JWKS_FILE_MAX    (1024 * 1024)
#define DS_LEEWAY_MAX       600


/* printable, no control characters: these reach the audit log */
static int
ds_fed_text_valid(const char *s, size_t len, size_t max)
{
    size_t  i;

    if (len == 0 || len > max) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
            return 0;
        }
    }

    return 1;
}


static int
ds_fed_issuer_valid(const char *s, size_t len)
{
    return ds_fed_text_valid(s, len, DS_ISSUER_MAX);
}


static int
ds_fed_value_valid(const char *s, size_t len)
{
    return ds_fed_text_valid(s, len, DS_CLAIM_VALUE_MAX);
}


/* a non-empty array of strings into the arena, as C strings */
static int
ds_fed_strings(ds_ld_t *ld, json_t *obj, const char *key, int required,
    int (*valid)(const char *s, size_t len), const char *what,
    const char ***out, size_t *n)
{
    size_t        i;
    ds_cstr_t    *cs;
    const char  **a;

    *out = NULL;

    if (ds_ld_str_array(ld, obj, key, required, valid, what, &cs, n) != 0) {
        return -1;
    }

    if (*n == 0) {
        return 0;
    }

    a = ds_arena_alloc(&ld->p->arena, *n * sizeof(*a));
    if (a == NULL) {
        return ds_ld_fail(ld, "out of memory");
    }

    for (i = 0; i < *n; i++) {
        a[i] = cs[i].str;
    }

    *out = a;

    return 0;
}


/* a JWKS file, relative to the policy file's directory */
static ds_jwks_t *
ds_fed_jwks_file(ds_ld_t *ld, const char *name)
{
    int          fd;
    char         path[4096], why[256], *buf;
    ssize_t      n;
    size_t       got, dlen;
    ds_jwks_t   *ks;
    const char  *slash;
    struct stat  st;

    if (name[0] == '/') {
        snprintf(path, sizeof(path), "%s", name);

    } else {
        slash = strrchr(ld->file, '/');
        dlen = slash ? (size_t) (slash - ld->file) : 1;
        if (snprintf(path, sizeof(path), "%.*s/%s", (int) dlen,
                     slash ? ld->file : ".", name) >= (int) sizeof(path))
        {
            ds_ld_fail(ld, "path too long");
            return NULL;
        }
    }

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd == -1) {
        ds_ld_fail(ld, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }

    /* a FIFO or a device would block the loader or never end */
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)
        || st.st_size > DS_JWKS_FILE_MAX)
    {
        ds_ld_fail(ld, "%s: not a regular file of at most 1 MB", path);
        close(fd);
        return NULL;
    }

    buf = malloc((size_t) st.st_size + 1);
    if (buf == NULL) {
        close(fd);
        ds_ld_fail(ld, "out of memory");
        return NULL;
    }

    for (got = 0; got < (size_t) st.st_size; got += (size_t) n) {
        n = read(fd, buf + got, (size_t) st.st_size - got);
        if (n <= 0) {
            break;
        }
    }

    close(fd);

    ks = NULL;
    if (got != (size_t) st.st_size) {
        ds_ld_fail(ld, "cannot read %s", path);

    } else {
        ks = ds_jwks_parse(buf, got, why, sizeof(why));
        if (ks == NULL) {
            ds_ld_fail(ld, "%s: %s", path, why);
        }
    }

    free(buf);
    return ks;
}


static int
ds_fed_algorithms(ds_ld_t *ld, json_t *obj, unsigned *algs)
{
    json_t      *arr, *v;
    size_t       i, old;
    unsigned     bit;
    const char  *s;

    *algs = DS_JWT_ALG_ALL;

    if (ds_ld_get(ld, obj, "algorithms", JSON_ARRAY, 0, &arr) != 0) {
        return -1;
    }

    if (arr == NULL) {
        return 0;
    }

    old = ds_ld_push(ld, "algorithms", 0);

    if (json_array_size(arr) == 0) {
        return ds_ld_fail(ld, "must not be empty");
    }

    *algs = 0;

    json_array_foreach(arr, i, v) {
        s = json_string_value(v);
        bit = s ? ds_jwt_alg_bit(s) : 0;

        if (bit == 0) {
            ds_ld_push(ld, NULL, (long) i);
            return ds_ld_fail(ld, "must be one of RS256, RS384, RS512, "
                              "PS256, ES256, ES384, EdDSA (never none or "
                              "HS*: a shared secret is not a recipient's)");
        }

        *algs |= bit;
    }

    ld->jlen = old;
    return 0;
}


/* an integer number of seconds in [min, max], or def when absent */
static int
ds_fed_seconds(ds_ld_t *ld, json_t *obj, const char *key, int64_t min,
    int64_t max, int64_t def, int64_t *out)
{
    json_t  *v;

    *out = def;

    if (ds_ld_get(ld, obj, key, JSON_INTEGER, 0, &v) != 0) {
        return -1;
    }

    if (v == NULL) {
        return 0;
    }

    if (json_integer_value(v) < min || json_integer_value(v) > max) {
        ds_ld_push(ld, key, 0);
        return ds_ld_fail(ld, "must be %lld to %lld seconds",
                          (long long) min, (long long) max);
    }

    *out = json_integer_value(v);
    return 0;
}


/* a URL the fetch location can proxy_pass to: scheme, host, no junk */
static int
ds_fed_uri_ok(const char *u)
{
    const char  *h;

    if (strncmp(u, "https://", 8) == 0) {
        h = u + 8;

    } else if (strncmp(u, "http://", 7) == 0) {
        h = u + 7;

    } else {
        return -1;
    }

    if (*h == '\0' || *h == '/' || strlen(u) > 2048) {
        return -1;
    }

    for ( ; *u; u++) {
        if ((unsigned char) *u <= 0x20 || (unsigned char) *u >= 0x7f) {
            return -1;
        }
    }

    return 0;
}


static int
ds_fed_issuer(ds_ld_t *ld, const char *name, json_t *o, ds_issuer_t *is)
{
    static const char *const  keys[] = {
        "jwks_file", "jwks", "jwks_uri", "algorithms", "leeway",
        "max_lifetime", NULL
    };
    char      *doc, why[256];
    json_t    *file, *inl, *uri;
    size_t     old;

    if (!json_is_object(o)) {
        return ds_ld_fail(ld, "must be an object");
    }

    if (ds_ld_keys(ld, o, keys) != 0
        || ds_ld_get(ld, o, "jwks_file", JSON_STRING, 0, &file) != 0
        || ds_ld_get(ld, o, "jwks", JSON_OBJECT, 0, &inl) != 0
        || ds_ld_get(ld, o, "jwks_uri", JSON_STRING, 0, &uri) != 0
        || ds_fed_algorithms(ld, o, &is->algorithms) != 0
        || ds_fed_seconds(ld, o, "leeway", 0, DS_LEEWAY_MAX, DS_JWT_LEEWAY,
                          &is->leeway) != 0
        || ds_fed_seconds(ld, o, "max_lifetime", 1, 366 * 86400, 0,
                          &is->max_lifetime) != 0)
    {
        return -1;
    }

    if (file != NULL && inl != NULL) {
        return ds_ld_fail(ld, "needs at most one of \"jwks_file\" (a JWKS "
                          "document's path) or \"jwks\" (the document)");
    }

    if (file == NULL && inl == NULL && uri == NULL) {
        return ds_ld_fail(ld, "needs \"jwks_file\", \"jwks\" or "
                          "\"jwks_uri\" (or \"jwks_uri\" with one of the "
                          "others as the first keys)");
    }

    is->issuer = ds_arena_strndup(&ld->p->arena, name, strlen(name));
    is->source = ld->source;
    if (is->issuer == NULL) {
        return ds_ld_fail(ld, "out of memory");
    }

    if (uri != NULL) {
        old = ds_ld_push(ld, "jwks_uri", 0);
        is->jwks_uri = ds_arena_strndup(&ld->p->arena,
                                        json_string_value(uri),
                                        json_string_length(uri));
        if (is->jwks_uri == NULL
            || strlen(is->jwks_uri) != json_string_length(uri)
            || ds_fed_uri_ok(is->jwks_uri) != 0)
        {
            return ds_ld_fail(ld, "must be an https:// (or http://) URL "
                              "without spaces or control characters");
        }
        ld->jlen = old;

        if (file == NULL && inl == NULL) {
            return 0;           /* no keys until the first fetch */
        }
    }

    if (file) {
        old = ds_ld_push(ld, "jwks_file", 0);
        is->jwks_file = ds_arena_strndup(&ld->p->arena,
                                         json_string_value(file),
                                         json_string_length(file));
        if (is->jwks_file == NULL || json_string_length(file) == 0
            || strlen(is->jwks_file) != json_string_length(file))
        {
            return ds_ld_fail(ld, "must be a file name");
        }

        is->jwks = ds_fed_jwks_file(ld, is->jwks_file);
        if (is->jwks == NULL) {
            return -1;
        }

        ld->jlen = old;
        return 0;
    }

    old = ds_ld_push(ld, "jwks", 0);
    doc = json_dumps(inl, JSON_COMPACT);
    if (doc == NULL) {
        return ds_ld_fail(ld, "out of memory");
    }

    is->jwks = ds_jwks_parse(doc, strlen(doc), why, sizeof(why));
    free(doc);

    if (is->jwks == NULL) {
        return ds_ld_fail(ld, "%s", why);
    }

    ld->jlen = old;
    return 0;
}


int
ds_ld_issuers(ds_ld_t *ld, json_t *v)
{
    size_t        old, i;
    json_t       *o;
    const char   *name;
    ds_policy_t  *p;
    ds_issuer_t  *list;

    p = ld->p;
    ds_ld_push(ld, "issuers", 0);

    if (!json_is_object(v)) {
        return ds_ld_fail(ld, "must be an object: issuer -> its keys and "
                          "rules");
    }

    json_object_foreach(v, name, o) {
        old = ds_ld_push(ld, name, 0);

        if (!ds_fed_issuer_valid(name, strlen(name))) {
            return ds_ld_fail(ld, "an issuer is 1 to %d characters without "
                              "control characters", DS_ISSUER_MAX);
        }

        for (i = 0; i < p->nissuers; i++) {
            if (strcmp(p->issuers[i].issuer, name) == 0) {
                return ds_ld_fail(ld, "issuer set twice (first in %s)",
                                  p->issuers[i].source);
            }
        }

        if (p->nissuers == p->cap_issuers) {
            p->cap_issuers = p->cap_issuers ? p->cap_issuers * 2 : 8;
            list = realloc(p->issuers,
                           p->cap_issuers * sizeof(ds_issuer_t));
            if (list == NULL) {
                return ds_ld_fail(ld, "out of memory");
            }
            p->issuers = list;
        }

        memset(&p->issuers[p->nissuers], 0, sizeof(ds_issuer_t));

        /* counted before it is filled: a half-built one is still freed */
        if (ds_fed_issuer(ld, name, o, &p->issuers[p->nissuers++]) != 0) {
            return -1;
        }

        ld->jlen = old;
    }

    return 0;
}


static int
ds_fed_entry(ds_ld_t *ld, json_t *o, ds_federation_t *fe)
{
    static const char *const  keys[] = {
        "issuer", "audiences", "subject_claim", "subjects", NULL
    };
    static const char *const  claims[] = {
        "sub", "azp", "oid", "appid", "client_id", "groups", NULL
    };
    json_t       *v;
    size_t        i;
    const char   *claim;

    if (!json_is_object(o)) {
        return ds_ld_fail(ld, "must be an object");
    }

    if (ds_ld_keys(ld, o, keys) != 0
        || ds_ld_get(ld, o, "issuer", JSON_STRING, 1, &v) != 0)
    {
        return -1;
    }

    fe->issuer_name = ds_arena_strndup(&ld->p->arena, json_string_value(v),
                                       json_string_length(v));
    if (fe->issuer_name == NULL) {
        return ds_ld_fail(ld, "out of memory");
    }

    if (ds_fed_strings(ld, o, "audiences", 1, ds_fed_value_valid,
                       "an audience (1 to 512 characters)",
                       &fe->audiences, &fe->naudiences) != 0
        || ds_fed_strings(ld, o, "subjects", 1, ds_fed_value_valid,
                          "a claim value (1 to 512 characters)",
                          &fe->subjects, &fe->nsubjects) != 0
        || ds_ld_get(ld, o, "subject_claim", JSON_STRING, 0, &v) != 0)
    {
        return -1;
    }

    claim = v ? json_string_value(v) : "sub";

    for (i = 0; claims[i] != NULL; i++) {
        if (strcmp(claim, claims[i]) == 0) {
            break;
        }
    }

    if (claims[i] == NULL) {
        ds_ld_push(ld, "subject_claim", 0);
        return ds_ld_fail(ld, "must be \"sub\", \"azp\", \"oid\", "
                          "\"appid\", \"client_id\" or \"groups\"");
    }

    fe->subject_claim = claims[i];
    fe->membership = (strcmp(claim, "groups") == 0);

    return 0;
}


int
ds_ld_federation(ds_ld_t *ld, json_t *obj, ds_recipient_t *r)
{
    json_t  *arr, *v;
    size_t   i, old, old2;

    if (ds_ld_get(ld, obj, "federation", JSON_ARRAY, 0, &arr) != 0) {
        return -1;
    }

    if (arr == NULL) {
        return 0;
    }

    old = ds_ld_push(ld, "federation", 0);

    if (json_array_size(arr) == 0) {
        return ds_ld_fail(ld, "must not be empty");
    }

    r->nfederation = json_array_size(arr);
    r->federation = ds_arena_alloc(&ld->p->arena,
                                   r->nfederation * sizeof(ds_federation_t));
    if (r->federation == NULL) {
        return ds_ld_fail(ld, "out of memory");
    }

    memset(r->federation, 0, r->nfederation * sizeof(ds_federation_t));

    json_array_foreach(arr, i, v) {
        old2 = ds_ld_push(ld, NULL, (long) i);

        if (ds_fed_entry(ld, v, &r->federation[i]) != 0) {
            return -1;
        }

        ld->jlen = old2;
    }

    ld->jlen = old;
    return 0;
}


const ds_issuer_t *
ds_policy_find_issuer(const ds_policy_t *p, const char *iss)
{
    size_t  i;

    if (iss == NULL) {
        return NULL;
    }

    for (i = 0; i < p->nissuers; i++) {
        if (strcmp(p->issuers[i].issuer, iss) == 0) {
            return &p->issuers[i];
        }
    }

    return NULL;
}


static int
ds_fed_overlap(const char *const *a, size_t na, const char *const *b,
    size_t nb, const char **which)
{
    size_t  i, j;

    for (i = 0; i < na; i++) {
        for (j = 0; j < nb; j++) {
            if (strcmp(a[i], b[j]) == 0) {
                *which = a[i];
                return 1;
            }
        }
    }

    return 0;
}


/* "file: $.recipients[n].federation[j]: msg" for recipient index i */
static int
ds_fed_fail(ds_ld_t *ld, size_t i, size_t j, const char *msg)
{
    size_t                 k, n;
    const ds_recipient_t  *r;

    r = ld->p->recipients[i];

    for (k = 0, n = 0; k < i; k++) {
        n += (ld->p->recipients[k]->source == r->source);
    }

    snprintf(ld->err, ld->err_size, "%s: $.recipients[%zu].federation[%zu]"
             ": %s", r->source, n, j, msg);
    return -1;
}


int
ds_fed_key_cmp(const void *a, const void *b)
{
    int                  c;
    const ds_fed_key_t  *x = a, *y = b;

    c = strcmp(x->claim, y->claim);
    if (c == 0) {
        c = strcmp(x->value, y->value);
    }
    if (c == 0) {
        /* load order within one (claim, value): messages name the first */
        c = (x->ref > y->ref) - (x->ref < y->ref);
    }

    return c;
}


int
ds_fed_str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}


/*
 * The issuer's index: every (claim, value) of its entries and every
 * audience, sorted, so a token costs a few binary searches however
 * many recipients share the issuer; and so is the load-time check that
 * no two recipients claim one (claim, value) for a common audience (or
 * one token would be two recipients'), which compares only entries
 * with equal keys. (Entries on different claims can still both match a
 * token: the request path denies that as ambiguous.)
 */
static int
ds_fed_index(ds_ld_t *ld, ds_issuer_t *is)
{
    char                   msg[768];
    size_t                 i, j, k, n, na;
    const char            *aud, *sub;
    const ds_fed_ref_t    *a, *b;
    const ds_federation_t *fe;

    for (i = 0, n = 0, na = 0; i < is->nrefs; i++) {
        n += is->refs[i].fed->nsubjects;
        na += is->refs[i].fed->naudiences;
    }

    is->keys = malloc((n ? n : 1) * sizeof(ds_fed_key_t));
    is->auds = malloc((na ? na : 1) * sizeof(char *));
    if (is->keys == NULL || is->auds == NULL) {
        snprintf(ld->err, ld->err_size, "out of memory");
        return -1;
    }

    for (i = 0; i < is->nrefs; i++) {
        fe = is->refs[i].fed;

        for (j = 0; j < fe->nsubjects; j++) {
            is->keys[is->nkeys].claim = fe->subject_claim;
            is->keys[is->nkeys].value = fe->subjects[j];
            is->keys[is->nkeys].ref = i;
            is->nkeys++;
        }

        for (j = 0; j < fe->naudiences; j++) {
            is->auds[is->nauds++] = fe->audiences[j];
        }

        for (k = 0; k < is->nclaims; k++) {
            if (strcmp(is->claims[k], fe->subject_claim) == 0) {
                break;
            }
        }

        if (k == is->nclaims
            && is->nclaims < sizeof(is->claims) / sizeof(is->claims[0]))
        {
            is->claims[is->nclaims++] = fe->subject_claim;
        }
    }

    qsort(is->keys, is->nkeys, sizeof(ds_fed_key_t), ds_fed_key_cmp);
    qsort(is->auds, is->nauds, sizeof(char *), ds_fed_str_cmp);

    for (i = 0; i < is->nkeys; i = j) {
        for (j = i + 1; j < is->nkeys
                        && strcmp(is->keys[j].claim, is->keys[i].claim) == 0
                        && strcmp(is->keys[j].value, is->keys[i].value) == 0;
             j++)
        {
            /* void */
        }

        /* one (claim, value): two recipients with a common audience? */
        for (k = i + 1; k < j; k++) {
            for (n = i; n < k; n++) {
                a = &is->refs[is->keys[n].ref];
                b = &is->refs[is->keys[k].ref];

                if (a->recipient != b->recipient
                    && ds_fed_overlap(b->fed->audiences, b->fed->naudiences,
                                      a->fed->audiences, a->fed->naudiences,
                                      &aud))
                {
                    sub = is->keys[k].value;
                    snprintf(msg, sizeof(msg), "%s \"%.200s\" for "
                             "audience \"%.100s\" is also recipient "
                             "\"%s\"'s: one token would be two "
                             "recipients'", b->fed->subject_claim, sub, aud,
                             a->recipient->id);
                    return ds_fed_fail(ld, b->ri, b->fj, msg);
                }
            }
        }
    }

    return 0;
}


/* after every file: each entry's issuer is configured; then the index */
int
ds_ld_check_federation(ds_ld_t *ld)
{
    char                    msg[768];
    size_t                  i, j;
    ds_policy_t            *p;
    ds_issuer_t            *is;
    ds_fed_ref_t           *ref;
    ds_federation_t        *fe;

    p = ld->p;

    for (i = 0; i < p->nrecipients; i++) {
        for (j = 0; j < p->recipients[i]->nfederation; j++) {
            fe = &p->recipients[i]->federation[j];
            is = (ds_issuer_t *) ds_policy_find_issuer(p, fe->issuer_name);

            if (is == NULL) {
                snprintf(msg, sizeof(msg), "issuer \"%.200s\" is not in "
                         "the policy's \"issuers\"", fe->issuer_name);
                return ds_fed_fail(ld, i, j, msg);
            }

            fe->issuer = is;

            /* powers of two: realloc when nrefs is 0, 1, 2, 4, 8 ... */
            if ((is->nrefs & (is->nrefs - 1)) == 0) {
                ref = realloc(is->refs, (is->nrefs ? is->nrefs * 2 : 1)
                                        * sizeof(ds_fed_ref_t));
                if (ref == NULL) {
                    snprintf(ld->err, ld->err_size, "out of memory");
                    return -1;
                }
                is->refs = ref;
            }

            is->refs[is->nrefs].recipient = p->recipients[i];
            is->refs[is->nrefs].fed = fe;
            is->refs[is->nrefs].ri = i;
            is->refs[is->nrefs].fj = j;
            is->nrefs++;
        }
    }

    for (i = 0; i < p->nissuers; i++) {
        if (ds_fed_index(ld, &p->issuers[i]) != 0) {
            return -1;
        }
    }

    return 0;
}


void
ds_policy_free_issuers(ds_policy_t *p)
{
    size_t  i;

    for (i = 0; i < p->nissuers; i++) {
        ds_jwks_free(p->issuers[i].jwks);
        free(p->issuers[i].refs);
        free(p->issuers[i].keys);
        free(p->issuers[i].auds);
    }

    free(p->issuers);
    p->issuers = NULL;
    p->nissuers = 0;

    free(p->jwt_cache);
    p->jwt_cache = NULL;
}
