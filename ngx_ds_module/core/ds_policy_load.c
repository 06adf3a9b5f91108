/*
 * Policy loader, the model half: one recipient's JSON -> validated,
 * indexed structures (ds_policy_read.c feeds it, one at a time).
 *
 * Messages name the file and either line:column (syntax) or the JSON
 * path (meaning), so a reviewer can fix a policy from the CI log alone.
 * Every field is checked and unknown fields are errors: a typo such as
 * "contries" must never silently widen or narrow access.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ds_http.h"
#include "ds_policy_int.h"
#include "ds_policy_load.h"


#define DS_OPS_READ                                                        \
    (((1u << DS_OP_COUNT) - 1) & ~(1u << DS_OP_UNKNOWN)                    \
     & ~(1u << DS_OP_TEMP_CREDENTIALS))
#define DS_OPS_ALL     (DS_OPS_READ | (1u << DS_OP_TEMP_CREDENTIALS))


int
ds_ld_fail(ds_ld_t *ld, const char *fmt, ...)
{
    va_list  ap;
    int      n;

    n = snprintf(ld->err, ld->err_size, "%s: %.*s: ", ld->file,
                 (int) ld->jlen, ld->jpath);

    if (n >= 0 && (size_t) n < ld->err_size) {
        va_start(ap, fmt);
        vsnprintf(ld->err + n, ld->err_size - n, fmt, ap);
        va_end(ap);
    }

    return -1;
}


size_t
ds_ld_push(ds_ld_t *ld, const char *key, long index)
{
    size_t  old;
    int     n;

    old = ld->jlen;

    if (key) {
        n = snprintf(ld->jpath + old, DS_JPATH_MAX - old, ".%s", key);
    } else {
        n = snprintf(ld->jpath + old, DS_JPATH_MAX - old, "[%ld]", index);
    }

    if (n > 0 && old + n < DS_JPATH_MAX) {
        ld->jlen = old + n;
    }

    return old;
}


int
ds_ld_keys(ds_ld_t *ld, json_t *obj, const char *const *allowed)
{
    const char          *key;
    json_t              *v;
    const char *const   *a;

    json_object_foreach(obj, key, v) {
        for (a = allowed; *a; a++) {
            if (strcmp(key, *a) == 0) {
                break;
            }
        }

        if (*a == NULL) {
            ds_ld_push(ld, key, 0);
            return ds_ld_fail(ld, "unknown field");
        }
    }

    return 0;
}


/* obj[key] checked for type; NULL when absent (and not required) */
int
ds_ld_get(ds_ld_t *ld, json_t *obj, const char *key, json_type type,
    int required, json_t **out)
{
    static const char *const  names[] = {
        "an object", "an array", "a string", "an integer", "a number",
        "true or false", "true or false", "null"
    };
    json_t  *v;
    size_t   old;

    v = json_object_get(obj, key);
    *out = NULL;

    if (v == NULL) {
        if (required) {
            return ds_ld_fail(ld, "missing required field \"%s\"", key);
        }
        return 0;
    }

    if (json_typeof(v) != type
        && !(type == JSON_TRUE && json_is_boolean(v)))
    {
        old = ds_ld_push(ld, key, 0);
        ds_ld_fail(ld, "must be %s", names[type]);
        ld->jlen = old;
        return -1;
    }

    *out = v;
    return 0;
}


static int
ds_ld_str(ds_ld_t *ld, json_t *obj, const char *key, int required,
    const char **out, size_t *len)
{
    json_t  *v;

    *out = NULL;
    if (len) {
        *len = 0;
    }

    if (ds_ld_get(ld, obj, key, JSON_STRING, required, &v) != 0) {
        return -1;
    }

    if (v) {
        *out = ds_arena_strndup(&ld->p->arena, json_string_value(v),
                                json_string_length(v));
        if (*out == NULL) {
            return ds_ld_fail(ld, "out of memory");
        }

        if (len) {
            *len = json_string_length(v);
        }
    }

    return 0;
}


/* ids are logged and used in Redis keys: keep them plain */
static int
ds_ld_id_valid(const char *s, size_t len)
{
    size_t  i;
    char    c;

    if (len == 0 || len > DS_ID_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9')
              || c == '.' || c == '_' || c == ':' || c == '@' || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


static int
ds_ld_id(ds_ld_t *ld, json_t *obj, const char *key, int required,
    const char **out, size_t *len)
{
    size_t  l, old;

    if (ds_ld_str(ld, obj, key, required, out, &l) != 0) {
        return -1;
    }

    if (*out && !ds_ld_id_valid(*out, l)) {
        old = ds_ld_push(ld, key, 0);
        ds_ld_fail(ld, "must be 1 to %d characters of A-Z a-z 0-9 . _ : @ -",
                   DS_ID_MAX);
        ld->jlen = old;
        return -1;
    }

    if (len) {
        *len = l;
    }

    return 0;
}


int
ds_ld_time(ds_ld_t *ld, json_t *obj, const char *key, int64_t *ms)
{
    json_t  *v;
    size_t   old;

    *ms = DS_TIME_NONE;

    if (ds_ld_get(ld, obj, key, JSON_STRING, 0, &v) != 0) {
        return -1;
    }

    if (v && ds_time_parse_rfc3339(json_string_value(v),
                                   json_string_length(v), ms) != 0)
    {
        old = ds_ld_push(ld, key, 0);
        ds_ld_fail(ld, "bad timestamp \"%.40s\": must be RFC 3339, "
                   "e.g. \"2030-01-01T00:00:00Z\"", json_string_value(v));
        ld->jlen = old;
        return -1;
    }

    return 0;
}


/* from < until when both are set */
static int
ds_ld_window(ds_ld_t *ld, json_t *obj, const char *from_key,
    const char *until_key, int64_t *from, int64_t *until)
{
    size_t  old;

    if (ds_ld_time(ld, obj, from_key, from) != 0
        || ds_ld_time(ld, obj, until_key, until) != 0)
    {
        return -1;
    }

    if (*from != DS_TIME_NONE && *until != DS_TIME_NONE && *from >= *until) {
        old = ds_ld_push(ld, until_key, 0);
        ds_ld_fail(ld, "must be later than %s", from_key);
        ld->jlen = old;
        return -1;
    }

    return 0;
}


static int
ds_ld_country_list(ds_ld_t *ld, json_t *obj, const char *key,
    ds_country_list_t *list)
{
    json_t   *arr, *v;
    size_t    i, old, len;
    char    (*codes)[2];
    const char *s;

    if (ds_ld_get(ld, obj, key, JSON_ARRAY, 0, &arr) != 0) {
        return -1;
    }

    if (arr == NULL) {
        return 0;
    }

    old = ds_ld_push(ld, key, 0);

    codes = ds_arena_alloc(&ld->p->arena, json_array_size(arr) * 2 + 1);
    if (codes == NULL) {
        return ds_ld_fail(ld, "out of memory");
    }

    list->present = 1;

    json_array_foreach(arr, i, v) {
        s = json_string_value(v);
        len = s ? json_string_length(v) : 0;

        if (s && len == 7 && strcmp(s, "unknown") == 0) {
            list->unknown = 1;
            continue;
        }

        if (s == NULL || !ds_country_code_valid(s, len)) {
            ds_ld_push(ld, NULL, (long) i);
            return ds_ld_fail(ld, "bad country code: must be an ISO 3166-1 "
                              "alpha-2 code in upper case (\"US\") or "
                              "\"unknown\"");
        }

        memcpy(codes[list->n++], s, 2);
    }

    list->codes = (const char (*)[2]) codes;
    ld->jlen = old;

    return 0;
}


static int
ds_ld_countries(ds_ld_t *ld, json_t *obj, ds_country_rules_t *rules)
{
    static const char *const  keys[] = { "allow", "deny", NULL };
    json_t                   *c;
    size_t                    old;
    int                       rc;

    if (ds_ld_get(ld, obj, "countries", JSON_OBJECT, 0, &c) != 0) {
        return -1;
    }

    if (c == NULL) {
        return 0;
    }

    old = ds_ld_push(ld, "countries", 0);

    rc = ds_ld_keys(ld, c, keys);
    if (rc == 0) {
        rc = ds_ld_country_list(ld, c, "allow", &rules->allow);
    }
    if (rc == 0) {
        rc = ds_ld_country_list(ld, c, "deny", &rules->deny);
    }

    if (rc == 0) {
        ld->jlen = old;
    }

    return rc;
}


static int
ds_ld_rate_limit(ds_ld_t *ld, json_t *obj, ds_rate_limit_t *rl)
{
    static const char *const  keys[] = {
        "requests", "per", "burst", "scope", NULL
    };
    json_t                   *o, *v;
    const char               *s;
    size_t                    old;

    if (ds_ld_get(ld, obj, "rate_limit", JSON_OBJECT, 0, &o) != 0) {
        return -1;
    }

    if (o == NULL) {
        return 0;
    }

    old = ds_ld_push(ld, "rate_limit", 0);

    if (ds_ld_keys(ld, o, keys) != 0
        || ds_ld_get(ld, o, "requests", JSON_INTEGER, 1, &v) != 0)
    {
        return -1;
    }

    if (json_integer_value(v) < 1) {
        ds_ld_push(ld, "requests", 0);
        return ds_ld_fail(ld, "bad rate limit: must be a positive integer");
    }

    rl->requests = (uint64_t) json_integer_value(v);
    rl->period_ms = 1000;

    if (ds_ld_get(ld, o, "per", JSON_STRING, 0, &v) != 0) {
        return -1;
    }

    if (v) {
        s = json_string_value(v);

        if (strcmp(s, "second") == 0) {
            rl->period_ms = 1000;
        } else if (strcmp(s, "minute") == 0) {
            rl->period_ms = 60000;
        } else if (strcmp(s, "hour") == 0) {
            rl->period_ms = 3600000;
        } else {
            ds_ld_push(ld, "per", 0);
            return ds_ld_fail(ld, "bad rate limit: must be \"second\", "
                              "\"minute\" or \"hour\"");
        }
    }

    if (ds_ld_get(ld, o, "burst", JSON_INTEGER, 0, &v) != 0) {
        return -1;
    }

    if (v) {
        if (json_integer_value(v) < 0) {
            ds_ld_push(ld, "burst", 0);
            return ds_ld_fail(ld, "bad rate limit: must be 0 or more");
        }
        rl->burst = (uint64_t) json_integer_value(v);
    }

    if (ds_ld_get(ld, o, "scope", JSON_STRING, 0, &v) != 0) {
        return -1;
    }

    if (v) {
        s = json_string_value(v);

        if (strcmp(s, "recipient") == 0) {
            rl->scope = DS_RL_SCOPE_RECIPIENT;
        } else if (strcmp(s, "share") == 0) {
            rl->scope = DS_RL_SCOPE_SHARE;
        } else {
            ds_ld_push(ld, "scope", 0);
            return ds_ld_fail(ld, "bad rate limit: must be \"recipient\" "
                              "or \"share\"");
        }
    }

    ld->jlen = old;
    return 0;
}


/* a non-empty array of strings, each checked by valid() */
int
ds_ld_str_array(ds_ld_t *ld, json_t *obj, const char *key, int required,
    int (*valid)(const char *s, size_t len), const char *what,
    ds_cstr_t **out, size_t *n)
{
    json_t     *arr, *v;
    size_t      i, old;
    ds_cstr_t  *a;

    *out = NULL;
    *n = 0;

    if (ds_ld_get(ld, obj, key, JSON_ARRAY, required, &arr) != 0) {
        return -1;
    }

    if (arr == NULL) {
        return 0;
    }

    old = ds_ld_push(ld, key, 0);

    if (json_array_size(arr) == 0) {
        return ds_ld_fail(ld, "must not be empty");
    }

    a = ds_arena_alloc(&ld->p->arena, json_array_size(arr) * sizeof(*a));
    if (a == NULL) {
        return ds_ld_fail(ld, "out of memory");
    }

    json_array_foreach(arr, i, v) {
        if (!json_is_string(v)
            || !valid(json_string_value(v), json_string_length(v)))
        {
            ds_ld_push(ld, NULL, (long) i);
            return ds_ld_fail(ld, "must be %s", what);
        }

        a[i].len = json_string_length(v);
        a[i].str = ds_arena_strndup(&ld->p->arena, json_string_value(v),
                                    a[i].len);
        if (a[i].str == NULL) {
            return ds_ld_fail(ld, "out of memory");
        }
    }

    *out = a;
    *n = json_array_size(arr);
    ld->jlen = old;

    return 0;
}


static int
ds_ld_name_valid(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > DS_NAME_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f || s[i] == '/') {
            return 0;
        }
    }

    return 1;
}


int
ds_ld_name(ds_ld_t *ld, json_t *obj, const char *key, int required,
    ds_cstr_t *name)
{
    size_t  old;

    if (ds_ld_str(ld, obj, key, required, &name->str, &name->len) != 0) {
        return -1;
    }

    if (name->str == NULL) {
        name->str = "*";
        name->len = 1;
        return 0;
    }

    if (!ds_ld_name_valid(name->str, name->len)) {
        old = ds_ld_push(ld, key, 0);
        ds_ld_fail(ld, "must be \"*\" or a name of 1 to %d bytes without "
                   "'/' or control characters", DS_NAME_MAX);
        ld->jlen = old;
        return -1;
    }

    return 0;
}


static int
ds_ld_operations(ds_ld_t *ld, json_t *obj, uint32_t *ops)
{
    json_t      *arr, *v;
    size_t       i, old;
    const char  *s;
    ds_op_t      op;

    *ops = DS_OPS_READ;

    if (ds_ld_get(ld, obj, "operations", JSON_ARRAY, 0, &arr) != 0) {
        return -1;
    }

    if (arr == NULL) {
        return 0;
    }

    old = ds_ld_push(ld, "operations", 0);

    if (json_array_size(arr) == 0) {
        return ds_ld_fail(ld, "must not be empty");
    }

    *ops = 0;

    json_array_foreach(arr, i, v) {
        s = json_string_value(v);

        if (s && strcmp(s, "read") == 0) {
            *ops |= DS_OPS_READ;
            continue;
        }

        if (s && strcmp(s, "all") == 0) {
            *ops |= DS_OPS_ALL;
            continue;
        }

        op = s ? ds_op_from_name(s, json_string_length(v)) : DS_OP_UNKNOWN;

        if (op == DS_OP_UNKNOWN) {
            ds_ld_push(ld, NULL, (long) i);
            return ds_ld_fail(ld, "unknown operation \"%.64s\"",
                              s ? s : "(not a string)");
        }

        *ops |= 1u << op;
    }

    ld->jlen = old;
    return 0;
}


static int
ds_ld_attest_type_valid(const char *s, size_t len)
{
    return ds_ld_id_valid(s, len);
}


static int
ds_ld_grant(ds_ld_t *ld, json_t *g, ds_grant_t *grant)
{
    static const char *const  keys[] = {
        "share", "schema", "table", "operations", "purposes", "countries",
        "attestations", "valid_from", "valid_until", "rate_limit",
        "networks", "review_by", "approval", NULL
    };
    ds_cstr_t                *att;
    size_t                    i;

    if (!json_is_object(g)) {
        return ds_ld_fail(ld, "must be an object");
    }

    if (ds_ld_keys(ld, g, keys) != 0
        || ds_ld_name(ld, g, "share", 1, &grant->share) != 0
        || ds_ld_name(ld, g, "schema", 0, &grant->schema) != 0
        || ds_ld_name(ld, g, "table", 0, &grant->table) != 0
        || ds_ld_operations(ld, g, &grant->ops) != 0
        || ds_ld_str_array(ld, g, "purposes", 0, ds_purpose_valid,
                           "a purpose code (1 to 64 of A-Z a-z 0-9 . _ : -)",
                           &grant->purposes, &grant->npurposes) != 0
        || ds_ld_countries(ld, g, &grant->countries) != 0
        || ds_ld_str_array(ld, g, "attestations", 0,
                           ds_ld_attest_type_valid,
                           "an attestation type such as \"BAA\"",
                           &att, &grant->nattestations) != 0
        || ds_ld_window(ld, g, "valid_from", "valid_until",
                        &grant->valid_from, &grant->valid_until) != 0
        || ds_ld_rate_limit(ld, g, &grant->rate_limit) != 0
        || ds_ld_networks(ld, g, &grant->networks) != 0
        || ds_ld_time(ld, g, "review_by", &grant->review_by) != 0
        || ds_ld_approval(ld, g, grant) != 0)
    {
        return -1;
    }

    if (grant->nattestations) {
        grant->attestations = ds_arena_alloc(&ld->p->arena,
                              grant->nattestations * sizeof(char *));
        if (grant->attestations == NULL) {
            return ds_ld_fail(ld, "out of memory");
        }

        for (i = 0; i < grant->nattestations; i++) {
            grant->attestations[i] = att[i].str;
        }
    }

    return 0;
}


static int
ds_ld_hexdigit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


static int
ds_ld_token(ds_ld_t *ld, json_t *o, ds_recipient_t *r, ds_token_t *t)
{
    static const char *const  keys[] = {
        "id", "sha256", "not_before", "expires", "purpose", NULL
    };
    const char               *hex;
    size_t                    len, i, old;
    int                       hi, lo;
    const ds_token_t         *clash;

    if (!json_is_object(o)) {
        return ds_ld_fail(ld, "must be an object");
    }

    if (ds_ld_keys(ld, o, keys) != 0
        || ds_ld_id(ld, o, "id", 1, &t->id, NULL) != 0
        || ds_ld_str(ld, o, "sha256", 1, &hex, &len) != 0
        || ds_ld_window(ld, o, "not_before", "expires",
                        &t->not_before, &t->expires) != 0
        || ds_ld_str(ld, o, "purpose", 0, &t->purpose, &t->purpose_len)
           != 0)
    {
        return -1;
    }

    if (strncmp(t->id, "jwt:", 4) == 0) {
        ds_ld_push(ld, "id", 0);
        return ds_ld_fail(ld, "must not begin with \"jwt:\", the ids of "
                          "JWT bearers (docs/oidc.md)");
    }

    old = ds_ld_push(ld, "sha256", 0);

    if (len != 64) {
        return ds_ld_fail(ld, "must be 64 lowercase hex digits");
    }

    for (i = 0; i < DS_DIGEST_LEN; i++) {
        hi = ds_ld_hexdigit(hex[2 * i]);
        lo = ds_ld_hexdigit(hex[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return ds_ld_fail(ld, "must be 64 lowercase hex digits");
        }

        t->sha256[i] = (unsigned char) (hi << 4 | lo);
    }

    ld->jlen = old;

    if (t->purpose && !ds_purpose_valid(t->purpose, t->purpose_len)) {
        ds_ld_push(ld, "purpose", 0);
        return ds_ld_fail(ld, "must be a purpose code "
                          "(1 to 64 of A-Z a-z 0-9 . _ : -)");
    }

    t->recipient = r;

    clash = ds_index_add_token(ld->p, t);
    if (clash) {
        ds_ld_push(ld, "sha256", 0);
        if (clash == t) {
            return ds_ld_fail(ld, "out of memory");
        }
        return ds_ld_fail(ld, "duplicate token digest (also token \"%s\" "
                          "of recipient \"%s\" in %s)", clash->id,
                          clash->recipient->id, clash->recipient->source);
    }

    clash = ds_index_add_token_id(ld->p, t);
    if (clash) {
        ds_ld_push(ld, "id", 0);
        if (clash == t) {
            return ds_ld_fail(ld, "out of memory");
        }
        return ds_ld_fail(ld, "duplicate token id \"%s\" (also in "
                          "recipient \"%s\" in %s)", t->id,
                          clash->recipient->id, clash->recipient->source);
    }

    return 0;
}


static int
ds_ld_contract(ds_ld_t *ld, json_t *obj, ds_recipient_t *r)
{
    static const char *const  keys[] = {
        "id", "valid_from", "valid_until", "attestations", NULL
    };
    static const char *const  akeys[] = { "type", "expires", NULL };
    json_t                   *c, *arr, *a;
    size_t                    i, old, old2;

    r->valid_from = DS_TIME_NONE;
    r->valid_until = DS_TIME_NONE;

    if (ds_ld_get(ld, obj, "contract", JSON_OBJECT, 0, &c) != 0) {
        return -1;
    }

    if (c == NULL) {
        return 0;
    }

    old = ds_ld_push(ld, "contract", 0);

    if (ds_ld_keys(ld, c, keys) != 0
        || ds_ld_str(ld, c, "id", 0, &r->contract_id, NULL) != 0
        || ds_ld_window(ld, c, "valid_from", "valid_until",
                        &r->valid_from, &r->valid_until) != 0
        || ds_ld_get(ld, c, "attestations", JSON_ARRAY, 0, &arr) != 0)
    {
        return -1;
    }

    if (arr) {
        ds_ld_push(ld, "attestations", 0);

        r->nattestations = json_array_size(arr);
        r->attestations = ds_arena_alloc(&ld->p->arena,
                              r->nattestations * sizeof(ds_attestation_t));
        if (r->attestations == NULL && r->nattestations) {
            return ds_ld_fail(ld, "out of memory");
        }

        json_array_foreach(arr, i, a) {
            old2 = ds_ld_push(ld, NULL, (long) i);

            if (!json_is_object(a)) {
                return ds_ld_fail(ld, "must be an object");
            }

            if (ds_ld_keys(ld, a, akeys) != 0
                || ds_ld_id(ld, a, "type", 1, &r->attestations[i].type,
                            NULL) != 0
                || ds_ld_time(ld, a, "expires", &r->attestations[i].expires)
                   != 0)
            {
                return -1;
            }

            ld->jlen = old2;
        }
    }

    ld->jlen = old;
    return 0;
}


int
ds_ld_recipient(ds_ld_t *ld, json_t *o, ds_recipient_t *r)
{
    static const char *const  keys[] = {
        "id", "display_name", "status", "contract", "tokens", "countries",
        "rate_limit", "grants", "networks", "review_by", "alerts",
        "federation", NULL
    };
    const char               *status;
    json_t                   *arr, *v;
    size_t                    i, old, old2;
    const ds_recipient_t     *clash;

    if (!json_is_object(o)) {
        return ds_ld_fail(ld, "must be an object");
    }

    r->source = ld->source;

    if (ds_ld_keys(ld, o, keys) != 0
        || ds_ld_id(ld, o, "id", 1, &r->id, &r->id_len) != 0
        || ds_ld_str(ld, o, "display_name", 0, &r->display_name, NULL) != 0
        || ds_ld_str(ld, o, "status", 0, &status, NULL) != 0)
    {
        return -1;
    }

    if (status && strcmp(status, "suspended") == 0) {
        r->suspended = 1;

    } else if (status && strcmp(status, "active") != 0) {
        ds_ld_push(ld, "status", 0);
        return ds_ld_fail(ld, "must be \"active\" or \"suspended\"");
    }

    clash = ds_index_add_recipient(ld->p, r);
    if (clash) {
        ds_ld_push(ld, "id", 0);
        if (clash == r) {
            return ds_ld_fail(ld, "out of memory");
        }
        return ds_ld_fail(ld, "duplicate recipient id \"%s\" (first in %s)",
                          r->id, clash->source);
    }

    if (ds_ld_contract(ld, o, r) != 0
        || ds_ld_countries(ld, o, &r->countries) != 0
        || ds_ld_rate_limit(ld, o, &r->rate_limit) != 0
        || ds_ld_networks(ld, o, &r->networks) != 0
        || ds_ld_time(ld, o, "review_by", &r->review_by) != 0
        || ds_ld_alerts(ld, o, r) != 0
        || ds_ld_federation(ld, o, r) != 0
        || ds_ld_get(ld, o, "tokens", JSON_ARRAY, 0, &arr) != 0)
    {
        return -1;
    }

    if (arr && json_array_size(arr)) {
        old = ds_ld_push(ld, "tokens", 0);

        r->ntokens = json_array_size(arr);
        r->tokens = ds_arena_alloc(&ld->p->arena,
                                   r->ntokens * sizeof(ds_token_t));
        if (r->tokens == NULL) {
            return ds_ld_fail(ld, "out of memory");
        }

        json_array_foreach(arr, i, v) {
            old2 = ds_ld_push(ld, NULL, (long) i);

            if (ds_ld_token(ld, v, r, &r->tokens[i]) != 0) {
                return -1;
            }

            ld->jlen = old2;
        }

        ld->jlen = old;
    }

    if (ds_ld_get(ld, o, "grants", JSON_ARRAY, 0, &arr) != 0) {
        return -1;
    }

    if (arr && json_array_size(arr)) {
        old = ds_ld_push(ld, "grants", 0);

        r->ngrants = json_array_size(arr);
        r->grants = ds_arena_alloc(&ld->p->arena,
                                   r->ngrants * sizeof(ds_grant_t));
        if (r->grants == NULL) {
            return ds_ld_fail(ld, "out of memory");
        }

        json_array_foreach(arr, i, v) {
            old2 = ds_ld_push(ld, NULL, (long) i);

            if (ds_ld_grant(ld, v, &r->grants[i]) != 0) {
                return -1;
            }

            ld->jlen = old2;
        }

        ld->jlen = old;
    }

    return 0;
}
