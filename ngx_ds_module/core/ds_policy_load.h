/*
 * Between the policy reader (files, JSON stream, digest) and the model
 * builder (one recipient at a time). Private to the loader.
 */

#ifndef DS_POLICY_LOAD_H
#define DS_POLICY_LOAD_H

#include <jansson.h>

#include "ds_policy_int.h"

#define DS_JPATH_MAX  256


typedef struct {
    ds_policy_t  *p;
    const char   *file;             /* as shown in messages */
    const char   *source;           /* arena copy, kept in recipients */
    char         *err;
    size_t        err_size;
    char          jpath[DS_JPATH_MAX];   /* "$.recipients[2].tokens" */
    size_t        jlen;
} ds_ld_t;


/* "file: $.path: message"; returns -1 */
int ds_ld_fail(ds_ld_t *ld, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* appends ".key" (key != NULL) or "[index]"; returns the old length */
size_t ds_ld_push(ds_ld_t *ld, const char *key, long index);

int ds_ld_keys(ds_ld_t *ld, json_t *obj, const char *const *allowed);
int ds_ld_get(ds_ld_t *ld, json_t *obj, const char *key, json_type type,
    int required, json_t **out);

/* a non-empty array of strings into the arena, each checked by valid() */
int ds_ld_str_array(ds_ld_t *ld, json_t *obj, const char *key, int required,
    int (*valid)(const char *s, size_t len), const char *what,
    ds_cstr_t **out, size_t *n);

int ds_ld_recipient(ds_ld_t *ld, json_t *o, ds_recipient_t *r);

/* ds_policy_alerts.c */
int ds_ld_alerts(ds_ld_t *ld, json_t *obj, ds_recipient_t *r);

/* ds_policy_net.c */
int ds_ld_networks(ds_ld_t *ld, json_t *obj, ds_net_rules_t *rules);

/* ds_policy_class.c */
int ds_ld_classifications(ds_ld_t *ld, json_t *v);
int ds_ld_approvals(ds_ld_t *ld, json_t *v);
int ds_ld_approval(ds_ld_t *ld, json_t *grant, ds_grant_t *g);
int ds_ld_check_approvals(ds_ld_t *ld);

/* ds_policy_fed.c */
int ds_ld_issuers(ds_ld_t *ld, json_t *v);
int ds_ld_federation(ds_ld_t *ld, json_t *obj, ds_recipient_t *r);
int ds_ld_check_federation(ds_ld_t *ld);

/* ds_policy_load.c, for ds_policy_class.c */
int ds_ld_time(ds_ld_t *ld, json_t *obj, const char *key, int64_t *ms);
int ds_ld_name(ds_ld_t *ld, json_t *obj, const char *key, int required,
    ds_cstr_t *name);

#endif /* DS_POLICY_LOAD_H */
