/*
 * File capabilities (ds_capability.h): AES-256-GCM over the claims.
 *
 * Layout before base64url (no padding):
 *
 *   version (1) | key id length (1) | key id | nonce (12)   clear, AAD
 *   ciphertext of the claims                                 secret
 *   GCM tag (16)
 *
 * The claims: expires_ms (8, big endian), then recipient, token id,
 * share, schema, table, file id, purpose and url, each a 2-byte big
 * endian length and its bytes. The key id and the nonce are in clear so
 * that the opener finds its key; they are authenticated as AAD, so a
 * capability moved to another key id fails its tag.
 */

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ds_capability.h"
#include "ds_hex.h"


#define DS_CAP_VERSION     1
#define DS_CAP_NONCE_LEN   12
#define DS_CAP_TAG_LEN     16
#define DS_CAP_NFIELDS     8
#define DS_CAP_FIELD_MAX   0xffff
#define DS_CAP_HEAD_MAX    (2 + DS_CAP_KEY_ID_MAX + DS_CAP_NONCE_LEN)
#define DS_CAP_RAW_MAX     (DS_CAP_MAX / 4 * 3 + 2)


static const char  ds_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


static int
ds_cap_key_id_ok(const char *id, size_t len)
{
    size_t  i;
    char    c;

    if (len == 0 || len > DS_CAP_KEY_ID_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = id[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '_' || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


/* 0-63 for either alphabet (standard or url), -1 otherwise */
static int
ds_b64_value(int c, int url)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == (url ? '-' : '+')) {
        return 62;
    }

    if (c == (url ? '_' : '/')) {
        return 63;
    }

    return -1;
}


/* unpadded input; -1 on a bad character or a length of 4n + 1 */
static long
ds_b64_decode(const char *in, size_t len, int url, unsigned char *out)
{
    size_t         i;
    unsigned long  acc;
    int            v, bits;
    unsigned char *p;

    if (len % 4 == 1) {
        return -1;
    }

    p = out;
    acc = 0;
    bits = 0;

    for (i = 0; i < len; i++) {
        v = ds_b64_value((unsigned char) in[i], url);
        if (v < 0) {
            return -1;
        }

        acc = (acc << 6) | (unsigned long) v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            *p++ = (unsigned char) (acc >> bits);
        }

        acc &= (1ul << bits) - 1;
    }

    /* the unused low bits of the last character must be zero */
    if (acc != 0) {
        return -1;
    }

    return (long) (p - out);
}


static size_t
ds_b64url_encode(const unsigned char *in, size_t len, char *out)
{
    size_t         i;
    unsigned long  acc;
    int            bits;
    char          *p;

    p = out;
    acc = 0;
    bits = 0;

    for (i = 0; i < len; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;

        while (bits >= 6) {
            bits -= 6;
            *p++ = ds_b64url[(acc >> bits) & 0x3f];
        }

        acc &= (1ul << bits) - 1;
    }

    if (bits > 0) {
        *p++ = ds_b64url[(acc << (6 - bits)) & 0x3f];
    }

    return (size_t) (p - out);
}


static void
ds_cap_fields(const ds_cap_claims_t *c, const char **s, size_t *n)
{
    s[0] = c->recipient;  n[0] = c->recipient_len;
    s[1] = c->token_id;   n[1] = c->token_id_len;
    s[2] = c->share;      n[2] = c->share_len;
    s[3] = c->schema;     n[3] = c->schema_len;
    s[4] = c->table;      n[4] = c->table_len;
    s[5] = c->file_id;    n[5] = c->file_id_len;
    s[6] = c->purpose;    n[6] = c->purpose_len;
    s[7] = c->url;        n[7] = c->url_len;
}


static size_t
ds_cap_plain_size(const ds_cap_claims_t *c)
{
    size_t       n[DS_CAP_NFIELDS], i, size;
    const char  *s[DS_CAP_NFIELDS];

    ds_cap_fields(c, s, n);

    size = 8;

    for (i = 0; i < DS_CAP_NFIELDS; i++) {
        size += 2 + n[i];
    }

    return size;
}


size_t
ds_cap_sealed_size(const ds_cap_claims_t *c)
{
    size_t  raw;

    raw = DS_CAP_HEAD_MAX + ds_cap_plain_size(c) + DS_CAP_TAG_LEN;

    return (raw * 4 + 2) / 3;
}


/*
 * One AES-256-GCM pass: enc 1 seals in into out and writes the tag,
 * enc 0 opens and checks it (in constant time, inside OpenSSL).
 * in and out may be the same buffer.
 */
static int
ds_cap_gcm(int enc, const unsigned char *key, const unsigned char *nonce,
    const unsigned char *aad, size_t aad_len, const unsigned char *in,
    size_t len, unsigned char *out, unsigned char *tag)
{
    int              ok, n;
    EVP_CIPHER_CTX  *cx;

    cx = EVP_CIPHER_CTX_new();
    if (cx == NULL) {
        return -1;
    }

    ok = EVP_CipherInit_ex(cx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc)
         && EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_SET_IVLEN,
                                DS_CAP_NONCE_LEN, NULL)
         && EVP_CipherInit_ex(cx, NULL, NULL, key, nonce, enc)
         && EVP_CipherUpdate(cx, NULL, &n, aad, (int) aad_len)
         && (len == 0 || EVP_CipherUpdate(cx, out, &n, in, (int) len));

    if (ok && !enc) {
        ok = EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_SET_TAG, DS_CAP_TAG_LEN,
                                 tag);
    }

    if (ok) {
        ok = EVP_CipherFinal_ex(cx, out + len, &n);

        if (ok == 0 && !enc) {
            EVP_CIPHER_CTX_free(cx);
            return 1;                   /* the tag does not match */
        }
    }

    if (ok && enc) {
        ok = EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_GET_TAG, DS_CAP_TAG_LEN,
                                 tag);
    }

    EVP_CIPHER_CTX_free(cx);

    return ok ? 0 : -1;
}


ds_cap_result_t
ds_cap_seal(const ds_cap_ring_t *ring, const ds_cap_claims_t *c, char *out,
    size_t out_size, size_t *out_len)
{
    size_t               n[DS_CAP_NFIELDS], i, kid_len, head, plain, total;
    unsigned char       *p, raw[DS_CAP_RAW_MAX];
    const char          *s[DS_CAP_NFIELDS];
    const ds_cap_key_t  *k;
    uint64_t             e;
    ds_cap_result_t      rc;

    *out_len = 0;

    if (ring == NULL || ring->nkeys == 0 || c->expires_ms <= 0) {
        return DS_CAP_ERROR;
    }

    k = &ring->keys[0];
    kid_len = strlen(k->id);

    if (!ds_cap_key_id_ok(k->id, kid_len)) {
        return DS_CAP_ERROR;
    }

    ds_cap_fields(c, s, n);

    for (i = 0; i < DS_CAP_NFIELDS; i++) {
        if (n[i] > DS_CAP_FIELD_MAX || (n[i] && s[i] == NULL)) {
            return DS_CAP_ERROR;
        }
    }

    head = 2 + kid_len + DS_CAP_NONCE_LEN;
    plain = ds_cap_plain_size(c);
    total = head + plain + DS_CAP_TAG_LEN;

    if (total > sizeof(raw) || (total * 4 + 2) / 3 > DS_CAP_MAX
        || (total * 4 + 2) / 3 > out_size)
    {
        return DS_CAP_ERROR;
    }

    raw[0] = DS_CAP_VERSION;
    raw[1] = (unsigned char) kid_len;
    memcpy(raw + 2, k->id, kid_len);

    if (RAND_bytes(raw + 2 + kid_len, DS_CAP_NONCE_LEN) != 1) {
        return DS_CAP_ERROR;
    }

    p = raw + head;
    e = (uint64_t) c->expires_ms;

    for (i = 0; i < 8; i++) {
        *p++ = (unsigned char) (e >> (56 - 8 * i));
    }

    for (i = 0; i < DS_CAP_NFIELDS; i++) {
        *p++ = (unsigned char) (n[i] >> 8);
        *p++ = (unsigned char) n[i];

        if (n[i]) {
            memcpy(p, s[i], n[i]);
            p += n[i];
        }
    }

    rc = DS_CAP_OK;

    if (ds_cap_gcm(1, k->key, raw + 2 + kid_len, raw, head, raw + head,
                   plain, raw + head, raw + head + plain)
        != 0)
    {
        rc = DS_CAP_ERROR;

    } else {
        *out_len = ds_b64url_encode(raw, total, out);
    }

    OPENSSL_cleanse(raw, total);

    return rc;
}


static int
ds_cap_get_field(const unsigned char **p, const unsigned char *end,
    const char **s, size_t *n)
{
    size_t  len;

    if (end - *p < 2) {
        return -1;
    }

    len = ((size_t) (*p)[0] << 8) | (*p)[1];
    *p += 2;

    if ((size_t) (end - *p) < len) {
        return -1;
    }

    *s = (const char *) *p;
    *n = len;
    *p += len;

    return 0;
}


static int
ds_cap_parse_claims(const unsigned char *p, size_t len, ds_cap_claims_t *c)
{
    size_t               i, *n[DS_CAP_NFIELDS];
    uint64_t             e;
    const char         **s[DS_CAP_NFIELDS];
    const unsigned char *end;

    if (len < 8) {
        return -1;
    }

    end = p + len;
    e = 0;

    for (i = 0; i < 8; i++) {
        e = (e << 8) | *p++;
    }

    if (e == 0 || e > (uint64_t) INT64_MAX) {
        return -1;
    }

    c->expires_ms = (int64_t) e;

    s[0] = &c->recipient;  n[0] = &c->recipient_len;
    s[1] = &c->token_id;   n[1] = &c->token_id_len;
    s[2] = &c->share;      n[2] = &c->share_len;
    s[3] = &c->schema;     n[3] = &c->schema_len;
    s[4] = &c->table;      n[4] = &c->table_len;
    s[5] = &c->file_id;    n[5] = &c->file_id_len;
    s[6] = &c->purpose;    n[6] = &c->purpose_len;
    s[7] = &c->url;        n[7] = &c->url_len;

    for (i = 0; i < DS_CAP_NFIELDS; i++) {
        if (ds_cap_get_field(&p, end, s[i], n[i]) != 0) {
            return -1;
        }
    }

    return (p == end) ? 0 : -1;
}


ds_cap_result_t
ds_cap_open(const ds_cap_ring_t *ring, const char *cap, size_t len,
    int64_t now_ms, unsigned char *buf, size_t buf_size,
    ds_cap_claims_t *out)
{
    int                  rc;
    long                 raw_len;
    size_t               i, kid_len, head, body;
    unsigned char       *tag;
    ds_cap_claims_t      c;
    const ds_cap_key_t  *k;

    memset(out, 0, sizeof(ds_cap_claims_t));

    if (len == 0 || len > DS_CAP_MAX) {
        return DS_CAP_MALFORMED;
    }

    if (buf_size < len) {
        return DS_CAP_ERROR;
    }

    raw_len = ds_b64_decode(cap, len, 1, buf);

    if (raw_len < 2 || buf[0] != DS_CAP_VERSION) {
        return DS_CAP_MALFORMED;
    }

    kid_len = buf[1];
    head = 2 + kid_len + DS_CAP_NONCE_LEN;

    if (!ds_cap_key_id_ok((const char *) buf + 2, kid_len)
        || (size_t) raw_len < head + 8 + 2 * DS_CAP_NFIELDS + DS_CAP_TAG_LEN)
    {
        return DS_CAP_MALFORMED;
    }

    k = NULL;

    for (i = 0; ring != NULL && i < ring->nkeys; i++) {
        if (strlen(ring->keys[i].id) == kid_len
            && memcmp(ring->keys[i].id, buf + 2, kid_len) == 0)
        {
            k = &ring->keys[i];
            break;
        }
    }

    if (k == NULL) {
        return DS_CAP_UNKNOWN_KEY;
    }

    body = (size_t) raw_len - head - DS_CAP_TAG_LEN;
    tag = buf + head + body;

    rc = ds_cap_gcm(0, k->key, buf + 2 + kid_len, buf, head, buf + head,
                    body, buf + head, tag);

    if (rc != 0) {
        OPENSSL_cleanse(buf + head, body);
        return (rc > 0) ? DS_CAP_BAD_SEAL : DS_CAP_ERROR;
    }

    memset(&c, 0, sizeof(ds_cap_claims_t));

    /* authentic but not ours to read: a format this code does not know */
    if (ds_cap_parse_claims(buf + head, body, &c) != 0) {
        return DS_CAP_MALFORMED;
    }

    *out = c;

    return (now_ms >= c.expires_ms) ? DS_CAP_EXPIRED : DS_CAP_OK;
}


const char *
ds_cap_result_name(ds_cap_result_t rc)
{
    switch (rc) {
    case DS_CAP_OK:
        return "ok";
    case DS_CAP_MALFORMED:
        return "malformed";
    case DS_CAP_UNKNOWN_KEY:
        return "unknown_key";
    case DS_CAP_BAD_SEAL:
        return "bad_seal";
    case DS_CAP_EXPIRED:
        return "expired";
    case DS_CAP_ERROR:
        return "error";
    }

    return "unknown";
}


int
ds_cap_key_parse(const char *text, size_t len, ds_cap_key_t *key,
    char *err, size_t err_size)
{
    int            hi, lo;
    long           n;
    size_t         i;
    unsigned char  tmp[DS_CAP_KEY_LEN + 3];

    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'
                   || text[len - 1] == ' ' || text[len - 1] == '\t'))
    {
        len--;
    }

    while (len && (text[0] == ' ' || text[0] == '\t' || text[0] == '\n'
                   || text[0] == '\r'))
    {
        text++;
        len--;
    }

    if (len == 2 * DS_CAP_KEY_LEN) {
        for (i = 0; i < DS_CAP_KEY_LEN; i++) {
            hi = ds_hex_digit((unsigned char) text[2 * i]);
            lo = ds_hex_digit((unsigned char) text[2 * i + 1]);

            if (hi < 0 || lo < 0) {
                goto bad;
            }

            key->key[i] = (unsigned char) (hi << 4 | lo);
        }

        return 0;
    }

    /* base64 of 32 bytes: 43 characters, and "=" */
    if (len == 44 && text[43] == '=') {
        len = 43;
    }

    if (len == 43) {
        n = ds_b64_decode(text, len, 0, tmp);
        if (n < 0) {
            n = ds_b64_decode(text, len, 1, tmp);
        }

        if (n == DS_CAP_KEY_LEN) {
            memcpy(key->key, tmp, DS_CAP_KEY_LEN);
            OPENSSL_cleanse(tmp, sizeof(tmp));
            return 0;
        }

        OPENSSL_cleanse(tmp, sizeof(tmp));
    }

bad:

    OPENSSL_cleanse(key->key, DS_CAP_KEY_LEN);

    if (err && err_size) {
        /* never the key's text: it is a secret, even when wrong */
        strncpy(err, "a key file holds 32 bytes as 64 hex digits or as "
                "base64 on one line", err_size - 1);
        err[err_size - 1] = '\0';
    }

    return -1;
}
