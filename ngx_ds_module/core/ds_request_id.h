/*
 * Request ids for audit records, in $request_id's format (32 lowercase
 * hex digits), at a fraction of RAND_bytes()' cost.
 *
 * Each id is AES-128 of (process nonce, counter) under a process key,
 * both from RAND_bytes() once: a permutation, so ids never repeat
 * within a process, and as unpredictable as RAND_bytes() output;
 * processes differ by key and nonce.
 */

#ifndef DS_REQUEST_ID_H
#define DS_REQUEST_ID_H

#define DS_REQUEST_ID_LEN  32

typedef struct ds_request_id_s  ds_request_id_t;

/* NULL when OpenSSL has no randomness or no AES */
ds_request_id_t *ds_request_id_new(void);
void ds_request_id_free(ds_request_id_t *g);

/* out receives DS_REQUEST_ID_LEN hex digits (no NUL); -1 on failure */
int ds_request_id_next(ds_request_id_t *g, char *out);

#endif /* DS_REQUEST_ID_H */
