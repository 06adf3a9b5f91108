/*
 * SHA-256 and HMAC-SHA256 on the hot path.
 *
 * OpenSSL 3's one-shot calls (EVP_Digest, HMAC, SHA256) fetch the
 * algorithm and build a context on every call, which costs more than
 * hashing a bearer token or an audit record. These keep the fetched
 * algorithm and the context for the life of the process (nginx workers
 * and dsctl are single-threaded) and fall back to the one-shot calls
 * when a context cannot be had.
 */

#ifndef DS_DIGEST_H
#define DS_DIGEST_H

#include <stddef.h>

#define DS_SHA256_LEN  32


/* out is all zeroes if OpenSSL fails: no token hashes to that */
void ds_sha256(const void *data, size_t len, unsigned char out[DS_SHA256_LEN]);

/*
 * Frees what ds_sha256() keeps. nginx unloads the module at exit, so
 * anything still held then would be reported as leaked.
 */
void ds_digest_cleanup(void);


/* HMAC-SHA256 with a key fixed at creation, or plain SHA-256 (key NULL) */
typedef struct ds_mac_s  ds_mac_t;

ds_mac_t *ds_mac_new(const unsigned char *key, size_t key_len);
void ds_mac_free(ds_mac_t *m);

/* begin, update any number of times, end; each returns 0 or -1 */
int ds_mac_begin(ds_mac_t *m);
int ds_mac_update(ds_mac_t *m, const void *data, size_t len);
int ds_mac_end(ds_mac_t *m, unsigned char out[DS_SHA256_LEN]);

#endif /* DS_DIGEST_H */
