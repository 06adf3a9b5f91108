/*
 * Policy diff of identity federation (issue #15), for ds_policy_diff.c:
 * a federation entry or a subject or an audience added lets more tokens
 * in (a widening), as does an issuer key added or replaced, an
 * algorithm allowed, more leeway or a longer max_lifetime; the reverse
 * narrows. Entries are matched by (issuer, subject_claim).
 */

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "ds_jwt_int.h"
#include "ds_policy_diff_int.h"


#define DS_FED_TEXT  480


/* a's strings that b lacks, ", "-separated into buf; 0 if none */
static int
ds_fed_minus(const char *const *a, size_t na, const char *const *b,
    size_t nb, char *buf, size_t size)
{
    size_t  i, j, o;
    int     n;

    o = 0;
    buf[0] = '\0';

    for (i = 0; i < na; i++) {
        for (j = 0; j < nb; j++) {
            if (strcmp(a[i], b[j]) == 0) {
                break;
            }
        }

        if (j < nb) {
            continue;
        }

        n = snprintf(buf + o, size - o, "%s%s", o ? ", " : "", a[i]);
        if (n < 0 || (size_t) n >= size - o) {
            break;
        }
        o += (size_t) n;
    }

    return o > 0;
}


static const ds_federation_t *
ds_fed_find(const ds_recipient_t *r, const ds_federation_t *fe)
{
    size_t  i;

    for (i = 0; i < r->nfederation; i++) {
        if (strcmp(r->federation[i].issuer_name, fe->issuer_name) == 0
            && strcmp(r->federation[i].subject_claim, fe->subject_claim)
               == 0)
        {
            return &r->federation[i];
        }
    }

    return NULL;
}


void
ds_diff_federation(const ds_recipient_t *o, const ds_recipient_t *n,
    ds_fed_emit_pt emit, void *d)
{
    char                    subj[600], text[DS_FED_TEXT], list[400];
    size_t                  i;
    const ds_federation_t  *nf, *of;

    for (i = 0; i < n->nfederation; i++) {
        nf = &n->federation[i];
        of = ds_fed_find(o, nf);
        snprintf(subj, sizeof(subj), "federation %.300s %s", nf->issuer_name,
                 nf->subject_claim);

        if (of == NULL) {
            ds_fed_minus(nf->subjects, nf->nsubjects, NULL, 0, list,
                         sizeof(list));
            snprintf(text, sizeof(text), "federation entry added: %s %s",
                     nf->subject_claim, list);
            emit(d, DS_DIFF_WIDEN, subj, text);
            continue;
        }

        if (ds_fed_minus(nf->subjects, nf->nsubjects, of->subjects,
                         of->nsubjects, list, sizeof(list)))
        {
            snprintf(text, sizeof(text), "subjects added: %s", list);
            emit(d, DS_DIFF_WIDEN, subj, text);
        }

        if (ds_fed_minus(of->subjects, of->nsubjects, nf->subjects,
                         nf->nsubjects, list, sizeof(list)))
        {
            snprintf(text, sizeof(text), "subjects removed: %s", list);
            emit(d, DS_DIFF_NARROW, subj, text);
        }

        if (ds_fed_minus(nf->audiences, nf->naudiences, of->audiences,
                         of->naudiences, list, sizeof(list)))
        {
            snprintf(text, sizeof(text), "audiences added: %s", list);
            emit(d, DS_DIFF_WIDEN, subj, text);
        }

        if (ds_fed_minus(of->audiences, of->naudiences, nf->audiences,
                         nf->naudiences, list, sizeof(list)))
        {
            snprintf(text, sizeof(text), "audiences removed: %s", list);
            emit(d, DS_DIFF_NARROW, subj, text);
        }
    }

    for (i = 0; i < o->nfederation; i++) {
        of = &o->federation[i];

        if (ds_fed_find(n, of) == NULL) {
            snprintf(subj, sizeof(subj), "federation %.300s %s",
                     of->issuer_name, of->subject_claim);
            emit(d, DS_DIFF_NARROW, subj, "federation entry removed");
        }
    }
}


static const ds_jwk_t *
ds_key_find(const ds_jwks_t *ks, const ds_jwk_t *k)
{
    size_t  i;

    for (i = 0; i < ks->n; i++) {
        if ((ks->keys[i].kid == NULL) == (k->kid == NULL)
            && (k->kid == NULL || strcmp(ks->keys[i].kid, k->kid) == 0))
        {
            return &ks->keys[i];
        }
    }

    return NULL;
}


/* the keys: one added or replaced under its kid trusts a new signer */
static void
ds_diff_keys(const ds_issuer_t *oi, const ds_issuer_t *ni,
    const char *subj, ds_fed_emit_pt emit, void *d)
{
    char             text[DS_FED_TEXT];
    size_t           i;
    const ds_jwk_t  *ok;

    /* keys from a jwks_uri only are fetched at run time: nothing to say */
    if (oi->jwks == NULL || ni->jwks == NULL) {
        return;
    }

    for (i = 0; i < ni->jwks->n; i++) {
        ok = ds_key_find(oi->jwks, &ni->jwks->keys[i]);

        if (ok == NULL) {
            snprintf(text, sizeof(text), "key %.64s added",
                     ni->jwks->keys[i].kid ? ni->jwks->keys[i].kid : "-");
            emit(d, DS_DIFF_WIDEN, subj, text);

        } else if (EVP_PKEY_eq(ok->pkey, ni->jwks->keys[i].pkey) != 1
                   || ok->alg != ni->jwks->keys[i].alg)
        {
            snprintf(text, sizeof(text), "key %.64s replaced",
                     ok->kid ? ok->kid : "-");
            emit(d, DS_DIFF_WIDEN, subj, text);
        }
    }

    for (i = 0; i < oi->jwks->n; i++) {
        if (ds_key_find(ni->jwks, &oi->jwks->keys[i]) == NULL) {
            snprintf(text, sizeof(text), "key %.64s removed",
                     oi->jwks->keys[i].kid ? oi->jwks->keys[i].kid : "-");
            emit(d, DS_DIFF_NARROW, subj, text);
        }
    }
}


static void
ds_alg_names(unsigned bits, char *buf, size_t size)
{
    unsigned  b;
    size_t    o;
    int       n;

    o = 0;
    buf[0] = '\0';

    for (b = 1; b <= DS_JWT_ALG_ALL; b <<= 1) {
        if ((bits & b) == 0) {
            continue;
        }
        n = snprintf(buf + o, size - o, "%s%s", o ? ", " : "",
                     ds_jwt_alg_name(b));
        if (n < 0 || (size_t) n >= size - o) {
            break;
        }
        o += (size_t) n;
    }
}


void
ds_diff_issuers(const ds_policy_t *old, const ds_policy_t *new,
    ds_fed_emit_pt emit, void *d)
{
    char               subj[600], text[DS_FED_TEXT], list[128];
    size_t             i;
    const ds_issuer_t  *oi, *ni;

    for (i = 0; i < new->nissuers; i++) {
        ni = &new->issuers[i];
        oi = ds_policy_find_issuer(old, ni->issuer);
        snprintf(subj, sizeof(subj), "issuer %.500s", ni->issuer);

        if (oi == NULL) {
            /* no recipient's by itself: its federation entries say */
            snprintf(text, sizeof(text), "issuer added (%zu key(s))",
                     ni->jwks ? ni->jwks->n : 0);
            emit(d, DS_DIFF_CHANGE, subj, text);
            continue;
        }

        ds_diff_keys(oi, ni, subj, emit, d);

        if (ni->algorithms & ~oi->algorithms) {
            ds_alg_names(ni->algorithms & ~oi->algorithms, list,
                         sizeof(list));
            snprintf(text, sizeof(text), "algorithms added: %s", list);
            emit(d, DS_DIFF_WIDEN, subj, text);
        }

        if (oi->algorithms & ~ni->algorithms) {
            ds_alg_names(oi->algorithms & ~ni->algorithms, list,
                         sizeof(list));
            snprintf(text, sizeof(text), "algorithms removed: %s", list);
            emit(d, DS_DIFF_NARROW, subj, text);
        }

        if (oi->leeway != ni->leeway) {
            snprintf(text, sizeof(text), "leeway %llds -> %llds",
                     (long long) oi->leeway, (long long) ni->leeway);
            emit(d, ni->leeway > oi->leeway ? DS_DIFF_WIDEN : DS_DIFF_NARROW,
                 subj, text);
        }

        if (oi->max_lifetime != ni->max_lifetime) {
            snprintf(text, sizeof(text), "max_lifetime %llds -> %llds",
                     (long long) oi->max_lifetime,
                     (long long) ni->max_lifetime);
            emit(d, ni->max_lifetime == 0
                    || (oi->max_lifetime && ni->max_lifetime
                                            > oi->max_lifetime)
                    ? DS_DIFF_WIDEN : DS_DIFF_NARROW, subj, text);
        }
    }

    for (i = 0; i < old->nissuers; i++) {
        if (ds_policy_find_issuer(new, old->issuers[i].issuer) == NULL) {
            snprintf(subj, sizeof(subj), "issuer %.500s",
                     old->issuers[i].issuer);
            emit(d, DS_DIFF_NARROW, subj, "issuer removed");
        }
    }
}
