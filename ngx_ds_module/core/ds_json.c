/*
 * A strict JSON reader that validates in place (see ds_json.h). Its
 * rules follow jansson 2.14's parser byte for byte; the list filter's
 * fuzz harness checks it against jansson on every input it makes.
 */

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "ds_json.h"


#define DS_JSON_ZEROS  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
#define DS_JSON_ONES   1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1

/* bytes a string holds as they are: printable ASCII but '"' and '\\' */
static const unsigned char  ds_json_plain[256] = {
    DS_JSON_ZEROS, DS_JSON_ZEROS,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,         /* 0x22 " */
    DS_JSON_ONES, DS_JSON_ONES,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,         /* 0x5c \ */
    DS_JSON_ONES, DS_JSON_ONES,
    DS_JSON_ZEROS, DS_JSON_ZEROS, DS_JSON_ZEROS, DS_JSON_ZEROS,
    DS_JSON_ZEROS, DS_JSON_ZEROS, DS_JSON_ZEROS, DS_JSON_ZEROS
};


typedef struct {
    const unsigned char  *t;
    size_t                len;
} ds_json_text_t;


static int ds_json_keys_unique(ds_json_t *j, size_t frame);


void
ds_json_init(ds_json_t *j, const char *buf, size_t len)
{
    memset(j, 0, sizeof(ds_json_t) - sizeof(j->keys0));

    j->start = (const unsigned char *) buf;
    j->p = j->start;
    j->end = j->start + len;
    j->keys = j->keys0;
    j->cap = sizeof(j->keys0) / sizeof(j->keys0[0]);
}


void
ds_json_done(ds_json_t *j)
{
    if (j->keys != j->keys0) {
        free(j->keys);
    }

    free(j->kbuf);

    j->keys = j->keys0;
    j->kbuf = NULL;
    j->kbuf_size = 0;
}


size_t
ds_json_offset(const ds_json_t *j)
{
    return (size_t) (j->p - j->start);
}


static int
ds_json_ws_slow(ds_json_t *j)
{
    const unsigned char  *p;

    for (p = j->p; p < j->end; p++) {
        if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') {
            j->p = p;
            return *p;
        }
    }

    j->p = p;

    return -1;
}


/* compact JSON, the common case, has no whitespace at all */
static inline int
ds_json_ws(ds_json_t *j)
{
    if (j->p < j->end && *j->p > ' ') {
        return *j->p;
    }

    return ds_json_ws_slow(j);
}


int
ds_json_peek(ds_json_t *j)
{
    return ds_json_ws(j);
}


int
ds_json_end(ds_json_t *j)
{
    return ds_json_ws(j) == -1 ? 0 : -1;
}


static int
ds_json_hex4(const unsigned char *p, unsigned *v)
{
    unsigned  i, c;

    *v = 0;

    for (i = 0; i < 4; i++) {
        c = p[i];

        if (c >= '0' && c <= '9') {
            c -= '0';

        } else {
            c |= 0x20;

            if (c < 'a' || c > 'f') {
                return -1;
            }

            c = c - 'a' + 10;
        }

        *v = (*v << 4) | c;
    }

    return 0;
}


/* one escape at p (a backslash); \u0000 and lone surrogates refused */
static const unsigned char *
ds_json_escape(const unsigned char *p, const unsigned char *end)
{
    unsigned  v, w;

    p++;

    if (p == end) {
        return NULL;
    }

    switch (*p) {

    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r':
    case 't':
        return p + 1;

    case 'u':
        break;

    default:
        return NULL;
    }

    if (end - p < 5 || ds_json_hex4(p + 1, &v) != 0) {
        return NULL;
    }

    p += 5;

    if (v == 0 || (v >= 0xdc00 && v <= 0xdfff)) {
        return NULL;
    }

    if (v >= 0xd800 && v <= 0xdbff) {
        if (end - p < 6 || p[0] != '\\' || p[1] != 'u'
            || ds_json_hex4(p + 2, &w) != 0 || w < 0xdc00 || w > 0xdfff)
        {
            return NULL;
        }

        p += 6;
    }

    return p;
}


/* one UTF-8 sequence at p (a byte >= 0x80): shortest form, no surrogate */
static const unsigned char *
ds_json_utf8(const unsigned char *p, const unsigned char *end)
{
    unsigned  c, n, i, v, min;

    c = *p;

    if (c < 0xc2) {
        return NULL;

    } else if (c < 0xe0) {
        n = 1;
        v = c & 0x1f;
        min = 0x80;

    } else if (c < 0xf0) {
        n = 2;
        v = c & 0x0f;
        min = 0x800;

    } else if (c < 0xf5) {
        n = 3;
        v = c & 0x07;
        min = 0x10000;

    } else {
        return NULL;
    }

    if ((size_t) (end - p) < n + 1) {
        return NULL;
    }

    for (i = 1; i <= n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return NULL;
        }

        v = (v << 6) | (p[i] & 0x3f);
    }

    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
        return NULL;
    }

    return p + n + 1;
}


/* the first byte from p on that is not plain string text */
static inline const unsigned char *
ds_json_skip_plain(const unsigned char *p, const unsigned char *end)
{
#if defined(__SSE2__)
    int       mask;
    __m128i   x, m;

    while (end - p >= 16) {
        x = _mm_loadu_si128((const __m128i *) (const void *) p);

        /* signed: bytes >= 0x80 compare below 0x20 too */
        m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
                                      _mm_cmpeq_epi8(x,
                                                     _mm_set1_epi8('\\'))),
                         _mm_cmplt_epi8(x, _mm_set1_epi8(0x20)));
        mask = _mm_movemask_epi8(m);

        if (mask) {
            return p + __builtin_ctz((unsigned) mask);
        }

        p += 16;
    }
#endif

    while (p < end && ds_json_plain[*p]) {
        p++;
    }

    return p;
}


/* the rest of a string from p on, which holds escapes or UTF-8 */
static const unsigned char *
ds_json_str_rest(ds_json_str_t *s, const unsigned char *p,
    const unsigned char *end)
{
    for ( ;; ) {
        if (p == end) {
            return NULL;
        }

        if (*p == '"') {
            break;
        }

        if (*p == '\\') {
            p = ds_json_escape(p, end);
            s->esc = 1;

        } else if (*p < 0x20) {
            return NULL;

        } else {
            p = ds_json_utf8(p, end);
        }

        if (p == NULL) {
            return NULL;
        }

        p = ds_json_skip_plain(p, end);
    }

    s->len = (size_t) (p - s->s);

    return p + 1;
}


/* a string whose '"' is at p: past its closing quote, or NULL */
static inline const unsigned char *
ds_json_str_at(const unsigned char *p, const unsigned char *end,
    ds_json_str_t *s)
{
    s->s = p + 1;
    s->esc = 0;

    p = ds_json_skip_plain(s->s, end);

    if (p < end && *p == '"') {
        s->len = (size_t) (p - s->s);
        return p + 1;
    }

    return ds_json_str_rest(s, p, end);
}


/* a string at the read position, which holds '"' */
static inline int
ds_json_str(ds_json_t *j, ds_json_str_t *s)
{
    const unsigned char  *p;

    p = ds_json_str_at(j->p, j->end, s);

    if (p == NULL) {
        return -1;
    }

    j->p = p;

    return 0;
}


int
ds_json_string(ds_json_t *j, ds_json_str_t *s)
{
    if (j->p == j->end || *j->p != '"') {
        return -1;
    }

    return ds_json_str(j, s);
}


static int
ds_json_digit(const unsigned char *p, const unsigned char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}


/* jansson refuses integers beyond long long and reals beyond double */
static int
ds_json_number_range(const unsigned char *s, size_t len, int real)
{
    int     rc;
    char    tmp[64], *b;
    double  d;

    b = tmp;

    if (len >= sizeof(tmp)) {
        b = malloc(len + 1);
        if (b == NULL) {
            return -2;
        }
    }

    memcpy(b, s, len);
    b[len] = '\0';

    errno = 0;
    rc = 0;

    if (real) {
        d = strtod(b, NULL);

        if ((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE) {
            rc = -1;
        }

    } else {
        (void) strtoll(b, NULL, 10);

        if (errno == ERANGE) {
            rc = -1;
        }
    }

    if (b != tmp) {
        free(b);
    }

    return rc;
}


static int
ds_json_number(ds_json_t *j)
{
    int                   rc, frac, exp;
    size_t                digits;
    const unsigned char  *p, *end, *first;

    p = j->p;
    end = j->end;

    if (*p == '-') {
        p++;
    }

    first = p;

    if (ds_json_digit(p, end) && *p == '0') {
        p++;

    } else if (ds_json_digit(p, end)) {
        while (ds_json_digit(p, end)) {
            p++;
        }

    } else {
        return -1;
    }

    digits = (size_t) (p - first);
    frac = 0;
    exp = 0;

    if (p < end && *p == '.') {
        p++;

        if (!ds_json_digit(p, end)) {
            return -1;
        }

        while (ds_json_digit(p, end)) {
            p++;
        }

        frac = 1;
    }

    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }

        if (!ds_json_digit(p, end)) {
            return -1;
        }

        while (ds_json_digit(p, end)) {
            p++;
        }

        exp = 1;
    }

    /* only these can be out of range: 18 digits fit any long long */
    if ((!frac && !exp && digits > 18) || exp || digits > 300) {
        rc = ds_json_number_range(j->p, (size_t) (p - j->p), frac || exp);

        if (rc != 0) {
            j->nomem = (rc == -2);
            return -1;
        }
    }

    j->p = p;

    return 0;
}


static int
ds_json_literal(ds_json_t *j, const char *lit, size_t n)
{
    if ((size_t) (j->end - j->p) < n || memcmp(j->p, lit, n) != 0) {
        return -1;
    }

    j->p += n;

    return 0;
}


int
ds_json_value(ds_json_t *j, unsigned depth)
{
    int            c, rc;
    size_t         frame, n;
    ds_json_str_t  s;

    if (depth > DS_JSON_MAX_DEPTH) {
        return -1;
    }

    c = ds_json_ws(j);

    switch (c) {

    case '{':
        if (ds_json_object_open(j, &frame) != 0) {
            return -1;
        }

        while ((rc = ds_json_object_key(j, frame, &s)) == 1) {
            if (ds_json_value(j, depth + 1) != 0) {
                return -1;
            }
        }

        return rc;

    case '[':
        if (ds_json_array_open(j) != 0) {
            return -1;
        }

        for (n = 0; (rc = ds_json_array_next(j, n)) == 1; n++) {
            if (ds_json_value(j, depth + 1) != 0) {
                return -1;
            }
        }

        return rc;

    case '"':
        return ds_json_str(j, &s);

    case 't':
        return ds_json_literal(j, "true", 4);

    case 'f':
        return ds_json_literal(j, "false", 5);

    case 'n':
        return ds_json_literal(j, "null", 4);

    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            return ds_json_number(j);
        }

        return -1;
    }
}


static int
ds_json_push_key(ds_json_t *j, const ds_json_str_t *key)
{
    size_t          cap;
    ds_json_str_t  *keys;

    if (j->nkeys == j->cap) {
        cap = j->cap * 2;

        if (j->keys == j->keys0) {
            keys = malloc(cap * sizeof(ds_json_str_t));
            if (keys != NULL) {
                memcpy(keys, j->keys0, sizeof(j->keys0));
            }

        } else {
            keys = realloc(j->keys, cap * sizeof(ds_json_str_t));
        }

        if (keys == NULL) {
            j->nomem = 1;
            return -1;
        }

        j->keys = keys;
        j->cap = cap;
    }

    j->keys[j->nkeys++] = *key;

    return 0;
}


int
ds_json_object_open(ds_json_t *j, size_t *frame)
{
    if (ds_json_ws(j) != '{') {
        return -1;
    }

    j->p++;
    *frame = j->nkeys;

    return 0;
}


int
ds_json_object_key(ds_json_t *j, size_t frame, ds_json_str_t *key)
{
    int  c;

    c = ds_json_ws(j);

    if (c == '}') {
        j->p++;

        if (ds_json_keys_unique(j, frame) != 0) {
            return -1;
        }

        j->nkeys = frame;
        return 0;
    }

    /* after a member, a comma and then a key must follow */
    if (j->nkeys > frame) {
        if (c != ',') {
            return -1;
        }

        j->p++;
        c = ds_json_ws(j);
    }

    if (c != '"' || ds_json_str(j, key) != 0 || ds_json_ws(j) != ':') {
        return -1;
    }

    j->p++;

    if (j->nkeys < j->cap) {
        j->keys[j->nkeys++] = *key;
        return 1;
    }

    return ds_json_push_key(j, key) == 0 ? 1 : -1;
}


int
ds_json_array_open(ds_json_t *j)
{
    if (ds_json_ws(j) != '[') {
        return -1;
    }

    j->p++;

    return 0;
}


int
ds_json_array_next(ds_json_t *j, size_t n)
{
    int  c;

    c = ds_json_ws(j);

    if (c == ']') {
        j->p++;
        return 0;
    }

    if (n > 0) {
        if (c != ',') {
            return -1;
        }

        j->p++;
        c = ds_json_ws(j);

        if (c == ']') {
            return -1;
        }
    }

    return c == -1 ? -1 : 1;
}


/* whitespace from p on: the first other byte, or end */
static inline const unsigned char *
ds_json_ws_at(const unsigned char *p, const unsigned char *end)
{
    /* compact JSON, the common case, has no whitespace at all */
    if (p < end && *p > ' ') {
        return p;
    }

    while (p < end
           && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
    {
        p++;
    }

    return p;
}


/* the wanted key this one is, or NULL */
static inline ds_json_field_t *
ds_json_pick_match(const ds_json_str_t *key, const ds_json_pick_t *want,
    size_t n, ds_json_field_t *got, uint64_t lens)
{
    size_t  i;

    /* most keys are not wanted: their length says so */
    if (!key->esc && (key->len > 63 || !((lens >> key->len) & 1))) {
        return NULL;
    }

    if (key->esc) {
        for (i = 0; i < n; i++) {
            if (ds_json_str_is_text(key, want[i].name, want[i].len)) {
                return &got[i];
            }
        }

        return NULL;
    }

    for (i = 0; i < n; i++) {
        if (key->len == want[i].len
            && memcmp(key->s, want[i].name, key->len) == 0)
        {
            return &got[i];
        }
    }

    return NULL;
}


/*
 * The grammar of ds_json_value()'s '{' case and ds_json_object_key(),
 * with the read position in a register: strings, null and the
 * punctuation are read here, other values by ds_json_value().
 */
int
ds_json_object_pick(ds_json_t *j, unsigned depth, const ds_json_pick_t *want,
    size_t n, ds_json_field_t *got)
{
    size_t                 i, frame, nk;
    uint64_t               lens;
    ds_json_str_t          key, str, *k;
    ds_json_field_t       *f;
    const unsigned char   *p, *end;

    lens = 0;

    for (i = 0; i < n; i++) {
        got[i].kind = DS_JSON_ABSENT;
        lens |= (uint64_t) 1 << want[i].len;
    }

    end = j->end;
    p = ds_json_ws_at(j->p, end);

    if (depth > DS_JSON_MAX_DEPTH || p == end || *p != '{') {
        return -1;
    }

    frame = j->nkeys;
    p = ds_json_ws_at(p + 1, end);

    if (p < end && *p == '}') {
        j->p = p + 1;
        return 0;
    }

    /* a member's value would be too deep */
    if (depth + 1 > DS_JSON_MAX_DEPTH) {
        return -1;
    }

    /* the punctuation is tried where compact JSON has it, then past ws */
    for ( ;; ) {
        if (p == end || *p != '"') {
            return -1;
        }

        p = ds_json_str_at(p, end, &key);
        if (p == NULL) {
            return -1;
        }

        if (p == end || *p != ':') {
            p = ds_json_ws_at(p, end);

            if (p == end || *p != ':') {
                return -1;
            }
        }

        p = ds_json_ws_at(p + 1, end);

        if (p == end) {
            return -1;
        }

        if (j->nkeys < j->cap) {
            j->keys[j->nkeys++] = key;

        } else if (ds_json_push_key(j, &key) != 0) {
            return -1;
        }

        f = ds_json_pick_match(&key, want, n, got, lens);

        if (*p == '"') {
            p = ds_json_str_at(p, end, f ? &f->s : &str);
            if (p == NULL) {
                return -1;
            }

            if (f) {
                f->kind = DS_JSON_STRING;
            }

        } else {
            if (f) {
                /* what starts with 'n' and parses is null */
                f->kind = (*p == 'n') ? DS_JSON_NULL : DS_JSON_OTHER;
            }

            j->p = p;

            if (ds_json_value(j, depth + 1) != 0) {
                return -1;
            }

            p = j->p;
        }

        if (p == end || *p <= ' ') {
            p = ds_json_ws_at(p, end);

            if (p == end) {
                return -1;
            }
        }

        if (*p == ',') {
            p = ds_json_ws_at(p + 1, end);
            continue;
        }

        if (*p != '}') {
            return -1;
        }

        break;
    }

    j->p = p + 1;

    nk = j->nkeys - frame;
    k = j->keys + frame;

    /* two plain keys of different lengths: the common small object */
    if (nk > 2 || (nk == 2 && (k[0].esc || k[1].esc || k[0].len == k[1].len)))
    {
        if (ds_json_keys_unique(j, frame) != 0) {
            return -1;
        }
    }

    j->nkeys = frame;

    return 0;
}


static void
ds_json_put_utf8(unsigned char **o, unsigned v)
{
    unsigned char  *p;

    p = *o;

    if (v < 0x80) {
        *p++ = (unsigned char) v;

    } else if (v < 0x800) {
        *p++ = (unsigned char) (0xc0 | (v >> 6));
        *p++ = (unsigned char) (0x80 | (v & 0x3f));

    } else if (v < 0x10000) {
        *p++ = (unsigned char) (0xe0 | (v >> 12));
        *p++ = (unsigned char) (0x80 | ((v >> 6) & 0x3f));
        *p++ = (unsigned char) (0x80 | (v & 0x3f));

    } else {
        *p++ = (unsigned char) (0xf0 | (v >> 18));
        *p++ = (unsigned char) (0x80 | ((v >> 12) & 0x3f));
        *p++ = (unsigned char) (0x80 | ((v >> 6) & 0x3f));
        *p++ = (unsigned char) (0x80 | (v & 0x3f));
    }

    *o = p;
}


/* s was validated by ds_json_string(): every escape is well formed */
size_t
ds_json_unescape(const ds_json_str_t *s, unsigned char *out)
{
    unsigned              v, w;
    unsigned char        *o;
    const unsigned char  *p, *end;

    if (!s->esc) {
        memcpy(out, s->s, s->len);
        return s->len;
    }

    p = s->s;
    end = p + s->len;
    o = out;

    while (p < end) {

        if (*p != '\\') {
            *o++ = *p++;
            continue;
        }

        p++;

        switch (*p++) {
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u':
            (void) ds_json_hex4(p, &v);
            p += 4;

            if (v >= 0xd800 && v <= 0xdbff) {
                (void) ds_json_hex4(p + 2, &w);
                p += 6;
                v = 0x10000 + ((v - 0xd800) << 10) + (w - 0xdc00);
            }

            ds_json_put_utf8(&o, v);
            break;
        default:
            *o++ = p[-1];                   /* " \ / */
            break;
        }
    }

    return (size_t) (o - out);
}


int
ds_json_str_is_text(const ds_json_str_t *s, const char *lit, size_t n)
{
    size_t         len;
    unsigned char  tmp[256];

    /* an escape writes at most 6 bytes per byte of text */
    if (s->len < n || s->len > sizeof(tmp) || s->len > 6 * n) {
        return 0;
    }

    len = ds_json_unescape(s, tmp);

    return len == n && memcmp(tmp, lit, n) == 0;
}


static unsigned char *
ds_json_kbuf(ds_json_t *j, size_t need)
{
    unsigned char  *b;

    if (need > j->kbuf_size || j->kbuf == NULL) {
        b = realloc(j->kbuf, need ? need : 1);
        if (b == NULL) {
            j->nomem = 1;
            return NULL;
        }

        j->kbuf = b;
        j->kbuf_size = need ? need : 1;
    }

    return j->kbuf;
}


/* 1 same text, 0 different, -1 out of memory */
static int
ds_json_key_same(ds_json_t *j, const ds_json_str_t *a, const ds_json_str_t *b)
{
    size_t          la, lb;
    unsigned char  *buf;

    if (!a->esc && !b->esc) {
        return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
    }

    buf = ds_json_kbuf(j, a->len + b->len);
    if (buf == NULL) {
        return -1;
    }

    la = ds_json_unescape(a, buf);
    lb = ds_json_unescape(b, buf + la);

    return la == lb && memcmp(buf, buf + la, la) == 0;
}


static int
ds_json_text_cmp(const void *one, const void *two)
{
    int                    rc;
    const ds_json_text_t  *a, *b;

    a = one;
    b = two;

    rc = memcmp(a->t, b->t, a->len < b->len ? a->len : b->len);

    if (rc != 0) {
        return rc;
    }

    return (a->len > b->len) - (a->len < b->len);
}


/*
 * Few keys: compare each pair. Many: sort their texts and look at
 * neighbours, so a hostile object costs n log n, not n squared.
 */
static int
ds_json_keys_unique(ds_json_t *j, size_t frame)
{
    int              rc;
    size_t           n, i, m, need;
    unsigned char   *arena;
    ds_json_str_t   *k;
    ds_json_text_t  *t;

    n = j->nkeys - frame;
    k = j->keys + frame;

    if (n <= 8) {
        for (i = 0; i < n; i++) {
            for (m = i + 1; m < n; m++) {
                if (k[i].len != k[m].len && !k[i].esc && !k[m].esc) {
                    continue;
                }

                rc = ds_json_key_same(j, &k[i], &k[m]);

                if (rc != 0) {
                    return -1;
                }
            }
        }

        return 0;
    }

    need = 0;

    for (i = 0; i < n; i++) {
        if (k[i].esc) {
            need += k[i].len;
        }
    }

    arena = ds_json_kbuf(j, need);
    if (arena == NULL) {
        return -1;
    }

    t = malloc(n * sizeof(ds_json_text_t));
    if (t == NULL) {
        j->nomem = 1;
        return -1;
    }

    for (i = 0; i < n; i++) {
        if (k[i].esc) {
            t[i].t = arena;
            t[i].len = ds_json_unescape(&k[i], arena);
            arena += t[i].len;

        } else {
            t[i].t = k[i].s;
            t[i].len = k[i].len;
        }
    }

    qsort(t, n, sizeof(ds_json_text_t), ds_json_text_cmp);

    rc = 0;

    for (i = 1; i < n; i++) {
        if (ds_json_text_cmp(&t[i - 1], &t[i]) == 0) {
            rc = -1;
            break;
        }
    }

    free(t);

    return rc;
}
