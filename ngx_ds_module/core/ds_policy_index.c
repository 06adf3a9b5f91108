/*
 * The policy's memory and indexes: a bump arena (one free for the whole
 * policy, no per-string malloc overhead for 100,000 recipients) and
 * open-addressing tables keyed by token digest and by recipient id.
 * Tables are kept at most half full, so a probe sequence is short and
 * a lookup costs the same for 10 or 100,000 recipients.
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ds_digest.h"
#include "ds_hex.h"
#include "ds_policy_int.h"


#define DS_ARENA_BLOCK  (64 * 1024)


struct ds_arena_block_s {
    ds_arena_block_t  *next;
    size_t             size;
    /* data follows, aligned for any type */
    max_align_t        data[];
};


void *
ds_arena_alloc(ds_arena_t *a, size_t size)
{
    ds_arena_block_t  *b;
    size_t             bsize;
    void              *p;

    size = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);

    if (a->blocks == NULL || a->size - a->used < size) {
        bsize = size > DS_ARENA_BLOCK ? size : DS_ARENA_BLOCK;
        b = malloc(sizeof(ds_arena_block_t) + bsize);
        if (b == NULL) {
            return NULL;
        }

        b->next = a->blocks;
        b->size = bsize;
        a->blocks = b;
        a->used = 0;
        a->size = bsize;
    }

    p = (char *) a->blocks->data + a->used;
    a->used += size;
    memset(p, 0, size);

    return p;
}


char *
ds_arena_strndup(ds_arena_t *a, const char *s, size_t len)
{
    char  *p;

    p = ds_arena_alloc(a, len + 1);
    if (p == NULL) {
        return NULL;
    }

    memcpy(p, s, len);
    p[len] = '\0';

    return p;
}


void
ds_arena_free(ds_arena_t *a)
{
    ds_arena_block_t  *b, *next;

    for (b = a->blocks; b; b = next) {
        next = b->next;
        free(b);
    }

    a->blocks = NULL;
}


static uint64_t
ds_digest_hash(const unsigned char *d)
{
    uint64_t  h;

    /* a SHA-256 digest is already uniformly distributed */
    memcpy(&h, d, sizeof(h));
    return h;
}


static uint64_t
ds_id_hash(const char *s, size_t len)
{
    uint64_t  h;
    size_t    i;

    h = 14695981039346656037ULL;           /* FNV-1a */

    for (i = 0; i < len; i++) {
        h ^= (unsigned char) s[i];
        h *= 1099511628211ULL;
    }

    return h;
}


typedef uint64_t (*ds_entry_hash_pt)(const void *e);


static uint64_t
ds_token_entry_hash(const void *e)
{
    return ds_digest_hash(((const ds_token_t *) e)->sha256);
}


static uint64_t
ds_token_id_entry_hash(const void *e)
{
    const char  *id = ((const ds_token_t *) e)->id;

    return ds_id_hash(id, strlen(id));
}


static uint64_t
ds_rcpt_entry_hash(const void *e)
{
    const ds_recipient_t  *r = e;

    return ds_id_hash(r->id, r->id_len);
}


static int
ds_table_init(ds_table_t *t)
{
    t->mask = 63;
    t->n = 0;
    t->slots = calloc(t->mask + 1, sizeof(void *));

    return t->slots ? 0 : -1;
}


static void
ds_table_put(const void **slots, size_t mask, const void *e, uint64_t h)
{
    size_t  i;

    for (i = h & mask; slots[i]; i = (i + 1) & mask) {
        /* void */
    }

    slots[i] = e;
}


static int
ds_table_add(ds_table_t *t, const void *e, ds_entry_hash_pt hash)
{
    size_t        i, n;
    const void  **slots;

    if ((t->n + 1) * 2 > t->mask + 1) {
        n = (t->mask + 1) * 2;
        slots = calloc(n, sizeof(void *));
        if (slots == NULL) {
            return -1;
        }

        for (i = 0; i <= t->mask; i++) {
            if (t->slots[i]) {
                ds_table_put(slots, n - 1, t->slots[i], hash(t->slots[i]));
            }
        }

        free(t->slots);
        t->slots = slots;
        t->mask = n - 1;
    }

    ds_table_put(t->slots, t->mask, e, hash(e));
    t->n++;

    return 0;
}


int
ds_index_init(ds_policy_t *p)
{
    if (ds_table_init(&p->by_digest) != 0
        || ds_table_init(&p->by_token_id) != 0
        || ds_table_init(&p->by_id) != 0)
    {
        return -1;
    }

    return 0;
}


/* returns the clashing entry, the new one itself on ENOMEM, or NULL */

const ds_token_t *
ds_index_add_token(ds_policy_t *p, const ds_token_t *t)
{
    const ds_token_t  *old;

    old = ds_policy_find_token(p, t->sha256);
    if (old) {
        return old;
    }

    return ds_table_add(&p->by_digest, t, ds_token_entry_hash) ? t : NULL;
}


const ds_token_t *
ds_index_add_token_id(ds_policy_t *p, const ds_token_t *t)
{
    const ds_token_t  *old;

    old = ds_policy_find_token_id(p, t->id);
    if (old) {
        return old;
    }

    return ds_table_add(&p->by_token_id, t, ds_token_id_entry_hash)
           ? t : NULL;
}


const ds_recipient_t *
ds_index_add_recipient(ds_policy_t *p, const ds_recipient_t *r)
{
    const ds_recipient_t  *old;

    old = ds_policy_find_recipient(p, r->id, r->id_len);
    if (old) {
        return old;
    }

    return ds_table_add(&p->by_id, r, ds_rcpt_entry_hash) ? r : NULL;
}


const ds_token_t *
ds_policy_find_token(const ds_policy_t *p,
    const unsigned char digest[DS_DIGEST_LEN])
{
    size_t             i;
    const ds_token_t  *t;

    for (i = ds_digest_hash(digest) & p->by_digest.mask;
         (t = p->by_digest.slots[i]) != NULL;
         i = (i + 1) & p->by_digest.mask)
    {
        if (CRYPTO_memcmp(t->sha256, digest, DS_DIGEST_LEN) == 0) {
            return t;
        }
    }

    return NULL;
}


const ds_token_t *
ds_policy_find_token_id(const ds_policy_t *p, const char *id)
{
    size_t             i;
    const ds_token_t  *t;

    for (i = ds_id_hash(id, strlen(id)) & p->by_token_id.mask;
         (t = p->by_token_id.slots[i]) != NULL;
         i = (i + 1) & p->by_token_id.mask)
    {
        if (strcmp(t->id, id) == 0) {
            return t;
        }
    }

    return NULL;
}


const ds_recipient_t *
ds_policy_find_recipient(const ds_policy_t *p, const char *id, size_t len)
{
    size_t                 i;
    const ds_recipient_t  *r;

    for (i = ds_id_hash(id, len) & p->by_id.mask;
         (r = p->by_id.slots[i]) != NULL;
         i = (i + 1) & p->by_id.mask)
    {
        if (r->id_len == len && memcmp(r->id, id, len) == 0) {
            return r;
        }
    }

    return NULL;
}


void
ds_token_digest(const char *token, size_t len,
    unsigned char out[DS_DIGEST_LEN])
{
    ds_sha256(token, len, out);
}


void
ds_token_digest_hex(const char *token, size_t len, char out[65])
{
    unsigned char  d[DS_DIGEST_LEN];

    ds_token_digest(token, len, d);
    ds_hex_encode(d, DS_DIGEST_LEN, out);
}


void
ds_policy_free(ds_policy_t *p)
{
    if (p == NULL) {
        return;
    }

    free(p->by_digest.slots);
    free(p->by_token_id.slots);
    free(p->by_id.slots);
    free(p->recipients);
    free(p->classes);
    ds_policy_free_issuers(p);
    ds_arena_free(&p->arena);
    free(p);
}


const char *
ds_policy_digest(const ds_policy_t *p)
{
    return p->digest;
}


size_t
ds_policy_recipient_count(const ds_policy_t *p)
{
    return p->nrecipients;
}


size_t
ds_policy_token_count(const ds_policy_t *p)
{
    return p->by_digest.n;
}


size_t
ds_policy_recipients(const ds_policy_t *p,
    const ds_recipient_t *const **list)
{
    *list = (const ds_recipient_t *const *) p->recipients;
    return p->nrecipients;
}


const char *
ds_recipient_id(const ds_recipient_t *r)
{
    return r ? r->id : NULL;
}
