/*
 * The dsgw-audit-v1 chain (epoch 0): per-chain keys derived from the
 * key file, the MAC of each record over its canonical form, sealing,
 * and key files.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "ds_audit_int.h"
#include "ds_hex.h"


#define DS_AUDIT_INIT_LABEL    "dsgw-audit-v1 init"
#define DS_AUDIT_CHAIN_LABEL   "dsgw-audit-v1 chain"     /* + NUL + id */
#define DS_AUDIT_ZERO_MAC                                                     \
    "0000000000000000000000000000000000000000000000000000000000000000"


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
