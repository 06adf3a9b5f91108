/*
 * Shared by the two audit record writers: the jansson one (every
 * record kind, both formats) and the direct one for native request
 * records (ds_audit_native.c), which must produce the same bytes; and
 * by the verifier and the checkpoints, which compute the same MACs.
 */

#ifndef DS_AUDIT_INT_H
#define DS_AUDIT_INT_H

#include <string.h>

#include "ds_audit.h"
#include "ds_buf.h"


#define DS_AUDIT_RECORD_LABEL  "dsgw-audit-v1 record"    /* + NUL + C(R) */
#define DS_AUDIT_RECORD_PREFIX sizeof(DS_AUDIT_RECORD_LABEL)

/* the integrity block, metadata.uid and .sequence, with room to spare */
#define DS_AUDIT_SEAL_MAX      (2 * DS_AUDIT_CHAIN_MAX                      \
                                + 2 * DS_AUDIT_MAC_HEX + 256)

/* a record's bytes besides its variable strings, with room to spare */
#define DS_AUDIT_FIXED_MAX     3072

/* a record whose canonical form is longer is rebuilt with smaller caps */
#define DS_AUDIT_RECORD_MAX    (DS_AUDIT_LINE_MAX - DS_AUDIT_SEAL_MAX)


/* what cleaning one string found */
typedef struct {
    size_t         len;         /* bytes written to out */
    size_t         cost;        /* escaped size, quotes excluded */
    unsigned       sanitized:1; /* invalid UTF-8 or NUL replaced */
    unsigned       truncated:1; /* cut at the cap */
} ds_clean_t;


/*
 * Untrusted bytes to valid UTF-8 (invalid sequences and NUL become
 * U+FFFD), cut on a character boundary so that the escaped string
 * stays within cap bytes; out has room for cap bytes.
 */
void ds_audit_clean(const char *s, size_t n, size_t cap, char *out,
    ds_clean_t *cl);

/*
 * The next argument from *pos on whose name is in allow: returns the
 * allow list's entry and sets value (as sent); NULL when none is left.
 */
const char *ds_audit_query_next(ds_audit_str_t args, size_t *pos,
    const char *const *allow, ds_audit_str_t *value);

/*
 * How many leading bytes need no JSON escaping (no control character,
 * '"' or '\\'); ascii: and are below 0x80, so need no UTF-8 check.
 */
size_t ds_audit_plain_prefix(const char *s, size_t n, int ascii);

/* a JSON string in canonical (JCS) escaping, quotes included */
void ds_canon_string(ds_buf_t *b, const char *s, size_t n);

/*
 * b holds the MAC input (label, NUL, canonical record) and b->mark_at
 * the offset where the "mac" member goes. Computes the MAC, turns b
 * into the '\n'-terminated line in place, advances the chain and
 * returns the line (b->p); NULL (and b freed) on failure.
 */
char *ds_audit_finish(ds_audit_chain_t *c, ds_buf_t *b, int request,
    size_t *len, char mac[DS_AUDIT_MAC_HEX + 1]);

/*
 * b: the MAC input of rec (label, NUL, canonical form), where the
 * "mac" member of object mark would be sorted in noted; -1: no
 * canonical form (reals) or no memory.
 */
int ds_canon_mac_input(const json_t *rec, const json_t *mark, ds_buf_t *b);

/* a chain's own key, derived from the key file's bytes and its id */
void ds_audit_chain_key(const unsigned char *seed, size_t seed_len,
    const char *id, unsigned char out[32]);

/* keyed: HMAC-SHA256 with key; else plain SHA-256 (unkeyed chains) */
int ds_audit_mac_oneshot(const unsigned char *key, int keyed,
    const char *data, size_t len, char out[DS_AUDIT_MAC_HEX + 1]);

#endif /* DS_AUDIT_INT_H */
