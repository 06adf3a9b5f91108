/*
 * A strict JSON reader for filters that pass most bytes through as they
 * came: it validates the input where it lies and hands out spans of it,
 * instead of building a tree and printing it again.
 *
 * It accepts exactly what jansson's json_loadb(JSON_REJECT_DUPLICATES)
 * accepts -- an object or array at the top, UTF-8 only, no NUL inside
 * strings, no lone surrogates, duplicate keys (after unescaping)
 * refused, at most 2048 levels, integers within long long and reals
 * within double -- so what the gateway decides on and what a client's
 * parser reads are one document. Pure C, no allocation unless an object
 * holds many keys or a key carries escapes.
 */

#ifndef DS_JSON_H
#define DS_JSON_H

#include <stddef.h>
#include <string.h>


#define DS_JSON_MAX_DEPTH  2048


/* a string as it stands in the input, between its quotes */
typedef struct {
    const unsigned char  *s;
    size_t                len;
    unsigned              esc;      /* holds backslash escapes */
} ds_json_str_t;


typedef struct {
    const unsigned char  *start;
    const unsigned char  *p;
    const unsigned char  *end;
    ds_json_str_t        *keys;     /* keys of the open objects */
    size_t                nkeys;
    size_t                cap;
    unsigned char        *kbuf;     /* unescaped keys, to compare */
    size_t                kbuf_size;
    unsigned              nomem:1;
    ds_json_str_t         keys0[32];
} ds_json_t;


void ds_json_init(ds_json_t *j, const char *buf, size_t len);
void ds_json_done(ds_json_t *j);

/* skip whitespace; the next byte, or -1 at the end */
int ds_json_peek(ds_json_t *j);

/* offset of the read position in the input */
size_t ds_json_offset(const ds_json_t *j);

/*
 * The calls below return 0 (or 1, see each) on success and -1 on bad
 * input; j->nomem tells an allocation failure from bad input.
 */

/* any value at this depth (the top level is depth 1) */
int ds_json_value(ds_json_t *j, unsigned depth);

/* a string at the read position */
int ds_json_string(ds_json_t *j, ds_json_str_t *s);

/* consume '{'; *frame marks the object for ds_json_object_key() */
int ds_json_object_open(ds_json_t *j, size_t *frame);

/*
 * The next key of the object and its ':'; 1 with *key set, 0 when the
 * object closed (its keys were then checked for duplicates). Between
 * keys the caller reads each value.
 */
int ds_json_object_key(ds_json_t *j, size_t frame, ds_json_str_t *key);

/* what ds_json_object_pick() saw for a wanted key */
typedef enum {
    DS_JSON_ABSENT = 0,         /* no such key */
    DS_JSON_STRING,             /* a string: see s */
    DS_JSON_NULL,
    DS_JSON_OTHER               /* a number, literal, object or array */
} ds_json_kind_t;


typedef struct {
    ds_json_kind_t        kind;
    ds_json_str_t         s;
} ds_json_field_t;


/* a key to look for, as text (compared after unescaping) */
typedef struct {
    const char           *name;
    size_t                len;          /* at most 40 */
} ds_json_pick_t;


/*
 * A whole object at the read position, at this depth, as
 * ds_json_value() would read it; got[i] tells what the value of key
 * want[i] was. One call instead of one per member: the hot loop of a
 * filter that looks at a few keys of many small objects.
 */
int ds_json_object_pick(ds_json_t *j, unsigned depth,
    const ds_json_pick_t *want, size_t n, ds_json_field_t *got);

/* consume '[' */
int ds_json_array_open(ds_json_t *j);

/*
 * 1 when element number n (from 0) follows, the read position then at
 * its first byte; 0 when ']' was consumed
 */
int ds_json_array_next(ds_json_t *j, size_t n);

/* only whitespace is left */
int ds_json_end(ds_json_t *j);

/* the string's text, unescaped into out (s->len bytes suffice) */
size_t ds_json_unescape(const ds_json_str_t *s, unsigned char *out);

/* the text of a string with escapes equals the n bytes of lit */
int ds_json_str_is_text(const ds_json_str_t *s, const char *lit, size_t n);

/* the string's text equals the n bytes of lit (n <= 40) */
static inline int
ds_json_str_is(const ds_json_str_t *s, const char *lit, size_t n)
{
    if (!s->esc) {
        return s->len == n && memcmp(s->s, lit, n) == 0;
    }

    return ds_json_str_is_text(s, lit, n);
}

#endif /* DS_JSON_H */
