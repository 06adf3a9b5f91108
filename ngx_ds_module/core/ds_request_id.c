/*
 * AES-128-ECB over one block at a time: (8-byte nonce, 8-byte counter)
 * in, the id out. ECB is right here: each block is distinct by
 * construction, and the output is an identifier, not a ciphertext.
 */

#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ds_hex.h"
#include "ds_request_id.h"


struct ds_request_id_s {
    EVP_CIPHER_CTX  *ctx;
    unsigned char    nonce[8];
    uint64_t         counter;
};


ds_request_id_t *
ds_request_id_new(void)
{
    unsigned char     key[16];
    ds_request_id_t  *g;

    g = OPENSSL_zalloc(sizeof(ds_request_id_t));
    if (g == NULL) {
        return NULL;
    }

    g->ctx = EVP_CIPHER_CTX_new();

    if (g->ctx == NULL
        || RAND_bytes(key, sizeof(key)) != 1
        || RAND_bytes(g->nonce, sizeof(g->nonce)) != 1
        || EVP_EncryptInit_ex(g->ctx, EVP_aes_128_ecb(), NULL, key, NULL)
           != 1
        || EVP_CIPHER_CTX_set_padding(g->ctx, 0) != 1)
    {
        OPENSSL_cleanse(key, sizeof(key));
        ds_request_id_free(g);
        return NULL;
    }

    OPENSSL_cleanse(key, sizeof(key));

    return g;
}


void
ds_request_id_free(ds_request_id_t *g)
{
    if (g == NULL) {
        return;
    }

    EVP_CIPHER_CTX_free(g->ctx);
    OPENSSL_free(g);
}


int
ds_request_id_next(ds_request_id_t *g, char *out)
{
    int            n;
    char           hex[DS_REQUEST_ID_LEN + 1];
    uint64_t       c;
    unsigned char  in[16], id[16];
    size_t         i;

    c = g->counter++;

    memcpy(in, g->nonce, 8);
    for (i = 0; i < 8; i++) {
        in[8 + i] = (unsigned char) (c >> (56 - 8 * i));
    }

    if (EVP_EncryptUpdate(g->ctx, id, &n, in, sizeof(in)) != 1
        || n != (int) sizeof(id))
    {
        return -1;
    }

    ds_hex_encode(id, sizeof(id), hex);
    memcpy(out, hex, DS_REQUEST_ID_LEN);

    return 0;
}
