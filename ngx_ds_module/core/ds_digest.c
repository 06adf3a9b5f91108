/*
 * Cached OpenSSL contexts for SHA-256 and HMAC-SHA256.
 *
 * Measured with callgrind on the gateway: EVP_Digest() on a 40-byte
 * token cost ~4k instructions, almost all of it the implicit fetch;
 * HMAC() on a 1 KB audit record ~14k more than the hashing itself.
 */

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/sha.h>

#include "ds_digest.h"


struct ds_mac_s {
    EVP_MAC_CTX  *hmac;         /* keyed */
    EVP_MD_CTX   *md;           /* unkeyed */
    EVP_MD       *sha256;       /* its own: outlives ds_digest_cleanup() */
};


/* per process, until ds_digest_cleanup() */
static EVP_MD      *ds_sha256_fetched;
static EVP_MD_CTX  *ds_sha256_ctx;


static EVP_MD *
ds_sha256_md(void)
{
    if (ds_sha256_fetched == NULL) {
        ds_sha256_fetched = EVP_MD_fetch(NULL, "SHA256", NULL);
    }

    return ds_sha256_fetched;
}


void
ds_digest_cleanup(void)
{
    EVP_MD_CTX_free(ds_sha256_ctx);
    ds_sha256_ctx = NULL;
    EVP_MD_free(ds_sha256_fetched);
    ds_sha256_fetched = NULL;
}


void
ds_sha256(const void *data, size_t len, unsigned char out[DS_SHA256_LEN])
{
    EVP_MD_CTX  *ctx;

    if (ds_sha256_ctx == NULL) {
        ds_sha256_ctx = EVP_MD_CTX_new();
    }

    ctx = ds_sha256_ctx;

    if (ctx != NULL && ds_sha256_md() != NULL
        && EVP_DigestInit_ex2(ctx, ds_sha256_md(), NULL) == 1
        && EVP_DigestUpdate(ctx, data, len) == 1
        && EVP_DigestFinal_ex(ctx, out, NULL) == 1)
    {
        return;
    }

    if (SHA256(data, len, out) == NULL) {
        memset(out, 0, DS_SHA256_LEN);
    }
}


ds_mac_t *
ds_mac_new(const unsigned char *key, size_t key_len)
{
    EVP_MAC     *mac;
    ds_mac_t    *m;
    OSSL_PARAM   params[2];

    m = OPENSSL_zalloc(sizeof(ds_mac_t));
    if (m == NULL) {
        return NULL;
    }

    if (key == NULL) {
        m->md = EVP_MD_CTX_new();
        m->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
        if (m->md == NULL || m->sha256 == NULL) {
            ds_mac_free(m);
            return NULL;
        }

        return m;
    }

    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL) {
        ds_mac_free(m);
        return NULL;
    }

    m->hmac = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);                  /* the context holds a reference */

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();

    if (m->hmac == NULL || EVP_MAC_init(m->hmac, key, key_len, params) != 1) {
        ds_mac_free(m);
        return NULL;
    }

    return m;
}


void
ds_mac_free(ds_mac_t *m)
{
    if (m == NULL) {
        return;
    }

    EVP_MAC_CTX_free(m->hmac);          /* cleanses the key schedule */
    EVP_MD_CTX_free(m->md);
    EVP_MD_free(m->sha256);
    OPENSSL_free(m);
}


int
ds_mac_begin(ds_mac_t *m)
{
    if (m->hmac) {
        /* a NULL key restarts with the key given at creation */
        return EVP_MAC_init(m->hmac, NULL, 0, NULL) == 1 ? 0 : -1;
    }

    return EVP_DigestInit_ex2(m->md, m->sha256, NULL) == 1 ? 0 : -1;
}


int
ds_mac_update(ds_mac_t *m, const void *data, size_t len)
{
    if (m->hmac) {
        return EVP_MAC_update(m->hmac, data, len) == 1 ? 0 : -1;
    }

    return EVP_DigestUpdate(m->md, data, len) == 1 ? 0 : -1;
}


int
ds_mac_end(ds_mac_t *m, unsigned char out[DS_SHA256_LEN])
{
    size_t  n;

    if (m->hmac) {
        return (EVP_MAC_final(m->hmac, out, &n, DS_SHA256_LEN) == 1
                && n == DS_SHA256_LEN) ? 0 : -1;
    }

    return EVP_DigestFinal_ex(m->md, out, NULL) == 1 ? 0 : -1;
}
