/*
 * GCRA rate limiting and live revocation: the Redis script and the
 * pure parts around it (keys, parameters, reply). See ds_gcra.h.
 */

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "ds_hex.h"
#include "ds_gcra.h"


static size_t ds_gcra_join(char *buf, size_t size, const char *prefix,
    const char *name);


/*
 * KEYS: limit key, recipient's revoked flag, its revoked token ids (set),
 * its revoked subject ids (set): all four carry the hash tag {<recipient>}
 * so the script touches one Redis Cluster slot.
 * ARGV: token id, subject id ('' none), emission us, tolerance us, limit
 * and, optionally, cells k (a lease, ds_lease.h). Without k (or k = 1)
 * the reply is the 5 fields of one request, as before leases existed;
 * with k > 1 it grants as many of the k cells as fit (0 is LIMITED) and
 * adds the granted count as a 6th field. Denials and revocations answer
 * 5 fields whatever k is.
 * Revocation is checked first so a revoked caller never spends quota.
 * Numbers are doubles in Lua: microsecond timestamps (~2^51) stay exact,
 * and string.format('%.0f') keeps tostring()'s 14 digits from rounding
 * the stored TAT. Redis 5+ replicates a script by its effects, so TIME
 * before a write is allowed; replicate_commands() covers Redis 3.2-4.
 */
static const char  ds_gcra_lua[] =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "if redis.call('EXISTS', KEYS[2]) == 1 then\n"
    "  return {3, 0, 0, 0, 0}\n"
    "end\n"
    "if ARGV[1] ~= '' and redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1"
    " then\n"
    "  return {2, 0, 0, 0, 0}\n"
    "end\n"
    "if ARGV[2] ~= '' and redis.call('SISMEMBER', KEYS[4], ARGV[2]) == 1"
    " then\n"
    "  return {2, 0, 0, 0, 0}\n"
    "end\n"
    "local t = tonumber(ARGV[3])\n"
    "if not t or t <= 0 then\n"
    "  return {0, 0, 0, 0, 0}\n"
    "end\n"
    "local tau = tonumber(ARGV[4])\n"
    "local limit = tonumber(ARGV[5])\n"
    "local now = redis.call('TIME')\n"
    "now = tonumber(now[1]) * 1000000 + tonumber(now[2])\n"
    "local tat = tonumber(redis.call('GET', KEYS[1]))\n"
    "if not tat or tat < now then\n"
    "  tat = now\n"
    "end\n"
    "if tat - now > tau then\n"
    "  return {1, limit, 0, math.ceil((tat - now) / 1000),\n"
    "          math.ceil((tat - tau - now) / 1000)}\n"
    "end\n"
    "local k = tonumber(ARGV[6]) or 1\n"
    "local g = 1\n"
    "if k > 1 then\n"
    "  g = math.min(k, math.floor((tau - (tat - now)) / t) + 1)\n"
    "end\n"
    "tat = tat + g * t\n"
    "redis.call('SET', KEYS[1], string.format('%.0f', tat),\n"
    "           'PX', math.ceil((tat - now) / 1000))\n"
    "if k > 1 then\n"
    "  return {0, limit, math.floor((tau - (tat - now)) / t) + 1,\n"
    "          math.ceil((tat - now) / 1000), 0, g}\n"
    "end\n"
    "return {0, limit, math.floor((tau - (tat - now)) / t) + 1,\n"
    "        math.ceil((tat - now) / 1000), 0}\n";


/* bounds that keep every product below 2^53 (exact in Lua doubles) */
#define DS_GCRA_PERIOD_MAX_MS   (366ULL * 24 * 3600 * 1000)
#define DS_GCRA_LIMIT_MAX       1000000000ULL
#define DS_GCRA_US_MAX          (1ULL << 52)


const char *
ds_gcra_script(void)
{
    return ds_gcra_lua;
}


size_t
ds_gcra_script_len(void)
{
    return sizeof(ds_gcra_lua) - 1;
}


int
ds_gcra_script_sha1(char out[DS_GCRA_SHA1_LEN + 1])
{
    unsigned char      md[EVP_MAX_MD_SIZE];
    unsigned int       len;

    if (EVP_Digest(ds_gcra_lua, sizeof(ds_gcra_lua) - 1, md, &len,
                   EVP_sha1(), NULL) != 1
        || len * 2 != DS_GCRA_SHA1_LEN)
    {
        return -1;
    }

    ds_hex_encode(md, len, out);

    return 0;
}


int
ds_gcra_params(const ds_rate_limit_t *rl, ds_gcra_params_t *p)
{
    uint64_t  limit;

    memset(p, 0, sizeof(*p));

    if (rl == NULL || rl->period_ms == 0 || rl->requests == 0) {
        return 0;
    }

    if (rl->period_ms > DS_GCRA_PERIOD_MAX_MS
        || rl->requests > DS_GCRA_LIMIT_MAX
        || rl->burst > DS_GCRA_LIMIT_MAX)
    {
        return -1;
    }

    limit = rl->requests + rl->burst;

    /* rounded up: the fleet never admits more than the configured rate */
    p->emission_us = (rl->period_ms * 1000 + rl->requests - 1)
                     / rl->requests;
    p->limit = limit;

    if ((limit - 1) > DS_GCRA_US_MAX / p->emission_us) {
        return -1;
    }

    p->tolerance_us = (limit - 1) * p->emission_us;

    return 0;
}


int
ds_gcra_prefix_valid(const char *prefix, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (len == 0 || len > DS_GCRA_PREFIX_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) prefix[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_'
              || c == '-' || c == ':' || c == '{' || c == '}'))
        {
            return 0;
        }
    }

    /*
     * an empty first hash tag ("a{}b") makes Redis Cluster hash whole
     * key names: a recipient's keys would no longer share a slot
     */
    for (i = 0; i < len; i++) {
        if (prefix[i] == '{') {
            return !(i + 1 < len && prefix[i + 1] == '}');
        }
    }

    return 1;
}


static int
ds_gcra_plain(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}


/* appends s percent-encoded; returns the new length or 0 on overflow */
static size_t
ds_gcra_put_name(char *buf, size_t size, size_t n, const char *s,
    int lower)
{
    static const char  hex[] = "0123456789ABCDEF";
    unsigned char      c;

    for ( /* void */ ; *s; s++) {
        c = (unsigned char) *s;

        if (lower && c >= 'A' && c <= 'Z') {
            c |= 0x20;
        }

        if (ds_gcra_plain(c)) {
            if (n + 1 >= size) {
                return 0;
            }

            buf[n++] = (char) c;
            continue;
        }

        if (n + 3 >= size) {
            return 0;
        }

        buf[n++] = '%';
        buf[n++] = hex[c >> 4];
        buf[n++] = hex[c & 0x0f];
    }

    return n;
}


static size_t
ds_gcra_put(char *buf, size_t size, size_t n, const char *s)
{
    size_t  len;

    len = strlen(s);

    if (n + len >= size) {
        return 0;
    }

    memcpy(buf + n, s, len);

    return n + len;
}


/* "<prefix>{<recipient>}": the part every key of the recipient shares */
static size_t
ds_gcra_tagged(char *buf, size_t size, const char *prefix,
    const char *recipient)
{
    size_t  n;

    if (recipient == NULL || recipient[0] == '\0') {
        return 0;
    }

    n = ds_gcra_put(buf, size, 0, prefix);

    if (n == 0 && prefix[0] != '\0') {
        return 0;
    }

    n = ds_gcra_put(buf, size, n, "{");
    if (n == 0) {
        return 0;
    }

    n = ds_gcra_put_name(buf, size, n, recipient, 0);
    if (n == 0) {
        return 0;
    }

    return ds_gcra_put(buf, size, n, "}");
}


size_t
ds_gcra_limit_key(char *buf, size_t size, const char *prefix,
    const char *recipient, const char *share)
{
    size_t  n;

    n = ds_gcra_tagged(buf, size, prefix, recipient);
    if (n == 0) {
        return 0;
    }

    n = ds_gcra_put(buf, size, n, ":rl");
    if (n == 0) {
        return 0;
    }

    if (share != NULL) {
        if (share[0] == '\0') {
            return 0;
        }

        n = ds_gcra_put(buf, size, n, ":");
        if (n == 0) {
            return 0;
        }

        n = ds_gcra_put_name(buf, size, n, share, 1);
        if (n == 0) {
            return 0;
        }
    }

    buf[n] = '\0';

    return n;
}


static const char  *ds_gcra_revoked_suffix[] = {
    ":revoked", ":revoked_tokens", ":revoked_subjects"
};


size_t
ds_gcra_revoked_key(char *buf, size_t size, const char *prefix,
    const char *recipient, ds_gcra_revoked_t kind)
{
    size_t  n;

    if ((unsigned) kind > DS_GCRA_REVOKED_SUBJECTS) {
        return 0;
    }

    n = ds_gcra_tagged(buf, size, prefix, recipient);
    if (n == 0) {
        return 0;
    }

    n = ds_gcra_put(buf, size, n, ds_gcra_revoked_suffix[kind]);
    if (n == 0) {
        return 0;
    }

    buf[n] = '\0';

    return n;
}


size_t
ds_gcra_revoked_pattern(char *buf, size_t size, const char *prefix,
    ds_gcra_revoked_t kind)
{
    size_t  n;

    if ((unsigned) kind > DS_GCRA_REVOKED_SUBJECTS) {
        return 0;
    }

    /* the prefix alphabet has none of glob's *?[]\ */
    n = ds_gcra_join(buf, size, prefix, "{*}");
    if (n == 0) {
        return 0;
    }

    n = ds_gcra_put(buf, size, n, ds_gcra_revoked_suffix[kind]);
    if (n == 0) {
        return 0;
    }

    buf[n] = '\0';

    return n;
}


static int
ds_gcra_unhex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


size_t
ds_gcra_revoked_recipient(const char *key, size_t len, const char *prefix,
    ds_gcra_revoked_t kind, char *out, size_t size)
{
    size_t       plen, slen, i, n;
    const char  *suffix;
    int          h, l;

    if ((unsigned) kind > DS_GCRA_REVOKED_SUBJECTS || size == 0) {
        return 0;
    }

    suffix = ds_gcra_revoked_suffix[kind];
    plen = strlen(prefix);
    slen = strlen(suffix);

    if (len < plen + 3 + slen
        || memcmp(key, prefix, plen) != 0 || key[plen] != '{'
        || key[len - slen - 1] != '}'
        || memcmp(key + len - slen, suffix, slen) != 0)
    {
        return 0;
    }

    n = 0;

    for (i = plen + 1; i < len - slen - 1; i++) {
        if (n + 1 >= size) {
            return 0;
        }

        if (key[i] != '%') {
            if (!ds_gcra_plain((unsigned char) key[i])) {
                return 0;
            }

            out[n++] = key[i];
            continue;
        }

        if (i + 2 >= len - slen - 1) {
            return 0;
        }

        h = ds_gcra_unhex((unsigned char) key[i + 1]);
        l = ds_gcra_unhex((unsigned char) key[i + 2]);

        if (h < 0 || l < 0 || (h == 0 && l == 0)) {
            return 0;
        }

        out[n++] = (char) (h << 4 | l);
        i += 2;
    }

    out[n] = '\0';

    return n;
}


int
ds_gcra_subject_id(char *buf, size_t size, const char *issuer,
    const char *subject)
{
    size_t          ilen, slen;
    unsigned int    mdlen;
    unsigned char   md[EVP_MAX_MD_SIZE];
    EVP_MD_CTX     *c;
    int             ok;

    if (issuer == NULL || subject == NULL || issuer[0] == '\0'
        || subject[0] == '\0' || size < DS_GCRA_SUBJECT_ID_LEN + 1)
    {
        return -1;
    }

    ilen = strlen(issuer);
    slen = strlen(subject);

    c = EVP_MD_CTX_new();
    if (c == NULL) {
        return -1;
    }

    /* the NUL keeps ("ab", "c") and ("a", "bc") apart */
    ok = EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1
         && EVP_DigestUpdate(c, issuer, ilen + 1) == 1
         && EVP_DigestUpdate(c, subject, slen) == 1
         && EVP_DigestFinal_ex(c, md, &mdlen) == 1
         && mdlen == 32;

    EVP_MD_CTX_free(c);

    if (!ok) {
        return -1;
    }

    memcpy(buf, "sub:", 4);
    ds_hex_encode(md, mdlen, buf + 4);
    buf[DS_GCRA_SUBJECT_ID_LEN] = '\0';

    return 0;
}


static size_t
ds_gcra_join(char *buf, size_t size, const char *prefix, const char *name)
{
    size_t  n;

    n = ds_gcra_put(buf, size, 0, prefix);

    if (n == 0 && prefix[0] != '\0') {
        return 0;
    }

    n = ds_gcra_put(buf, size, n, name);
    if (n == 0) {
        return 0;
    }

    buf[n] = '\0';

    return n;
}


size_t
ds_gcra_legacy_revoked_key(char *buf, size_t size, const char *prefix,
    int tokens)
{
    return ds_gcra_join(buf, size, prefix,
                        tokens ? "revoked:tokens" : "revoked:recipients");
}


size_t
ds_gcra_channel(char *buf, size_t size, const char *prefix)
{
    return ds_gcra_join(buf, size, prefix, "revocations");
}


int
ds_gcra_parse_reply(const long long *v, size_t n, ds_gcra_result_t *res)
{
    memset(res, 0, sizeof(*res));

    if (v == NULL || n != 5) {
        return -1;
    }

    if (v[0] < DS_GCRA_ALLOWED || v[0] > DS_GCRA_RECIPIENT_REVOKED
        || v[1] < 0 || v[2] < 0 || v[3] < 0 || v[4] < 0
        || v[2] > v[1])
    {
        return -1;
    }

    switch (v[0]) {

    case DS_GCRA_LIMITED:
        /* a limited answer always says when to come back */
        if (v[1] == 0 || v[2] != 0 || v[4] == 0) {
            return -1;
        }
        break;

    case DS_GCRA_ALLOWED:
        if (v[4] != 0 || (v[1] == 0 && (v[2] != 0 || v[3] != 0))) {
            return -1;
        }
        break;

    default:
        break;
    }

    res->status = (ds_gcra_status_t) v[0];
    res->limit = v[1];
    res->remaining = v[2];
    res->reset_ms = v[3];
    res->retry_ms = v[4];

    return 0;
}


int
ds_gcra_is_noscript(const char *err, size_t len)
{
    return err != NULL && len >= 8 && memcmp(err, "NOSCRIPT", 8) == 0;
}


int64_t
ds_gcra_seconds(int64_t ms)
{
    if (ms <= 0) {
        return 0;
    }

    return (ms + 999) / 1000;
}


int64_t
ds_gcra_retry_after(const ds_gcra_result_t *res)
{
    int64_t  s;

    s = ds_gcra_seconds(res->retry_ms);

    return s < 1 ? 1 : s;
}


size_t
ds_gcra_retry_message(char *buf, size_t size, int64_t seconds)
{
    int  n;

    if (seconds < 1) {
        seconds = 1;
    }

    n = snprintf(buf, size, "Rate limit exceeded; retry in %lld second%s.",
                 (long long) seconds, seconds == 1 ? "" : "s");

    if (n < 0 || (size_t) n >= size) {
        if (size) {
            buf[0] = '\0';
        }

        return 0;
    }

    return (size_t) n;
}
