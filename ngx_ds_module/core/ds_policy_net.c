/*
 * Policy loader: "networks" lists (recipient and grant) into indexed
 * CIDR sets (ds_cidr.c), keeping each entry as written for
 * dsctl policy diff.
 */

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ds_policy_load.h"


#define DS_NET_LIST_MAX  65536


static int
ds_ld_net_list(ds_ld_t *ld, json_t *obj, const char *key,
    ds_net_list_t *list)
{
    json_t         *arr, *v;
    size_t          i, old, n;
    ds_ip_range_t  *r;
    char            why[128];

    if (ds_ld_get(ld, obj, key, JSON_ARRAY, 0, &arr) != 0) {
        return -1;
    }

    if (arr == NULL) {
        return 0;
    }

    old = ds_ld_push(ld, key, 0);
    n = json_array_size(arr);

    /* omitting the list admits any address; [] would admit none */
    if (n == 0) {
        return ds_ld_fail(ld, "must not be empty (omit \"%s\" instead)",
                          key);
    }

    if (n > DS_NET_LIST_MAX) {
        return ds_ld_fail(ld, "more than %d entries", DS_NET_LIST_MAX);
    }

    r = ds_arena_alloc(&ld->p->arena, n * sizeof(ds_ip_range_t));
    list->text = ds_arena_alloc(&ld->p->arena, n * sizeof(char *));
    if (r == NULL || list->text == NULL) {
        return ds_ld_fail(ld, "out of memory");
    }

    json_array_foreach(arr, i, v) {
        if (!json_is_string(v)) {
            ds_ld_push(ld, NULL, (long) i);
            return ds_ld_fail(ld, "must be an IPv4 or IPv6 CIDR such as "
                              "\"192.0.2.0/24\" or \"2001:db8::/32\"");
        }

        if (ds_cidr_parse(json_string_value(v), json_string_length(v),
                          &r[i], why, sizeof(why)) != 0)
        {
            ds_ld_push(ld, NULL, (long) i);
            return ds_ld_fail(ld, "bad network \"%.64s\": %s",
                              json_string_value(v), why);
        }

        list->text[i] = ds_arena_strndup(&ld->p->arena,
                                         json_string_value(v),
                                         json_string_length(v));
        if (list->text[i] == NULL) {
            return ds_ld_fail(ld, "out of memory");
        }
    }

    list->ntext = n;
    list->set.ranges = r;
    list->set.n = ds_cidr_normalize(r, n);
    list->set.present = 1;
    ld->jlen = old;

    return 0;
}


int
ds_ld_networks(ds_ld_t *ld, json_t *obj, ds_net_rules_t *rules)
{
    static const char *const  keys[] = { "allow", "deny", NULL };
    json_t                   *c;
    size_t                    old;

    if (ds_ld_get(ld, obj, "networks", JSON_OBJECT, 0, &c) != 0) {
        return -1;
    }

    if (c == NULL) {
        return 0;
    }

    old = ds_ld_push(ld, "networks", 0);

    if (ds_ld_keys(ld, c, keys) != 0
        || ds_ld_net_list(ld, c, "allow", &rules->allow) != 0
        || ds_ld_net_list(ld, c, "deny", &rules->deny) != 0)
    {
        return -1;
    }

    ld->jlen = old;
    return 0;
}
