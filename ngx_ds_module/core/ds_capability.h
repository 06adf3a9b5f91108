/*
 * File capabilities: the gateway URLs that stand in for pre-signed
 * cloud URLs in file proxy mode (docs/dataplane.md).
 *
 * A capability is self-contained: the original URL and what it is bound
 * to (recipient, token id, table, file id, purpose, expiry), sealed with
 * AES-256-GCM under a key named by a short id, so keys rotate without
 * breaking live links (a ring opens any of its keys, seals with the
 * first). It is opaque to the partner: nothing but the key id and the
 * nonce travels in clear. Encoded base64url, it fits one path segment.
 *
 * Pure C (OpenSSL), no nginx headers.
 */

#ifndef DS_CAPABILITY_H
#define DS_CAPABILITY_H

#include <stddef.h>
#include <stdint.h>

#define DS_CAP_KEY_LEN      32
#define DS_CAP_KEY_ID_MAX   16          /* [A-Za-z0-9_-]{1,16} */
#define DS_CAP_MAX          8192        /* longest capability accepted */


typedef struct {
    char            id[DS_CAP_KEY_ID_MAX + 1];
    unsigned char   key[DS_CAP_KEY_LEN];
} ds_cap_key_t;


typedef struct {
    const ds_cap_key_t  *keys;          /* keys[0] seals */
    size_t               nkeys;
} ds_cap_ring_t;


/*
 * What a capability carries. Strings are not NUL-terminated; when
 * opened they point into the caller's buffer.
 */
typedef struct {
    const char     *recipient;
    size_t          recipient_len;
    const char     *token_id;
    size_t          token_id_len;
    const char     *share;
    size_t          share_len;
    const char     *schema;
    size_t          schema_len;
    const char     *table;
    size_t          table_len;
    const char     *file_id;
    size_t          file_id_len;
    const char     *purpose;            /* may be empty */
    size_t          purpose_len;
    const char     *url;                /* the original pre-signed URL */
    size_t          url_len;
    int64_t         expires_ms;         /* Unix ms; the capability's end */
} ds_cap_claims_t;


typedef enum {
    DS_CAP_OK = 0,
    DS_CAP_MALFORMED,                   /* not a capability at all */
    DS_CAP_UNKNOWN_KEY,                 /* sealed under a key not held */
    DS_CAP_BAD_SEAL,                    /* tampered, or another key */
    DS_CAP_EXPIRED,
    DS_CAP_ERROR                        /* OpenSSL or buffer failure */
} ds_cap_result_t;


/* an upper bound of the sealed, encoded length of these claims */
size_t ds_cap_sealed_size(const ds_cap_claims_t *c);

/*
 * Seal c under ring->keys[0] into out (base64url, no padding, not
 * NUL-terminated); *out_len gets its length.
 */
ds_cap_result_t ds_cap_seal(const ds_cap_ring_t *ring,
    const ds_cap_claims_t *c, char *out, size_t out_size, size_t *out_len);

/*
 * Open a capability: decode, find its key, authenticate and decrypt
 * into buf (buf_size >= len is enough), check the expiry against now_ms.
 * On DS_CAP_EXPIRED the claims are filled (the audit names whose link
 * it was); on other failures they are not.
 */
ds_cap_result_t ds_cap_open(const ds_cap_ring_t *ring, const char *cap,
    size_t len, int64_t now_ms, unsigned char *buf, size_t buf_size,
    ds_cap_claims_t *out);

const char *ds_cap_result_name(ds_cap_result_t rc);

/*
 * Read a key file: 32 bytes as 64 hex digits or base64 (one line,
 * surrounding whitespace ignored). 0 or -1 with err filled.
 */
int ds_cap_key_parse(const char *text, size_t len, ds_cap_key_t *key,
    char *err, size_t err_size);

#endif /* DS_CAPABILITY_H */
