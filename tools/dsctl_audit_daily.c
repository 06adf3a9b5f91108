/*
 * dsctl audit report --csv: a chart-ready table, one row per day (UTC)
 * and recipient, every day of the period present for every recipient
 * (zeros where nothing happened), so a spreadsheet or a plotting tool
 * can draw it as it is. Counts request records, and alert records
 * (docs/metrics.md#alerts) in their own column.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dsctl.h"
#include "ds_time.h"


#define DSCTL_DAY_MS    86400000LL
#define DSCTL_DAYS_MAX  3660            /* ten years of rows a recipient */


struct dsctl_daily_s {
    json_t      *cells;                 /* "day\trecipient" -> counts */
    json_t      *recipients;            /* set */
    int64_t      first;                 /* day numbers seen */
    int64_t      last;
};


static int64_t
dsctl_day(int64_t ms)
{
    return ms >= 0 ? ms / DSCTL_DAY_MS : -((-ms + DSCTL_DAY_MS - 1)
                                           / DSCTL_DAY_MS);
}


dsctl_daily_t *
dsctl_daily_new(void)
{
    dsctl_daily_t  *d;

    d = calloc(1, sizeof(dsctl_daily_t));
    if (d == NULL) {
        return NULL;
    }

    d->cells = json_object();
    d->recipients = json_object();
    d->first = INT64_MAX;
    d->last = INT64_MIN;

    if (d->cells == NULL || d->recipients == NULL) {
        dsctl_daily_free(d);
        return NULL;
    }

    return d;
}


void
dsctl_daily_free(dsctl_daily_t *d)
{
    if (d) {
        json_decref(d->cells);
        json_decref(d->recipients);
        free(d);
    }
}


static json_t *
dsctl_daily_cell(dsctl_daily_t *d, int64_t time_ms, const char *recipient)
{
    char     key[32 + 512];
    int64_t  day;
    json_t  *c;

    day = dsctl_day(time_ms);
    d->first = day < d->first ? day : d->first;
    d->last = day > d->last ? day : d->last;

    json_object_set_new(d->recipients, recipient, json_true());

    snprintf(key, sizeof(key), "%lld\t%s", (long long) day, recipient);

    c = json_object_get(d->cells, key);
    if (c == NULL) {
        c = json_pack("[I,I,I,I,I,I,I]", (json_int_t) 0, (json_int_t) 0,
                      (json_int_t) 0, (json_int_t) 0, (json_int_t) 0,
                      (json_int_t) 0, (json_int_t) 0);
        json_object_set_new(d->cells, key, c);
    }

    return c;
}


static void
dsctl_daily_add(json_t *c, size_t i, int64_t n)
{
    json_t  *j;

    j = json_array_get(c, i);
    if (j && n) {
        json_integer_set(j, json_integer_value(j) + n);
    }
}


void
dsctl_daily_request(dsctl_daily_t *d, int64_t time_ms, const char *recipient,
    int allow, int64_t bytes, int64_t files, int64_t file_bytes)
{
    json_t  *c;

    c = dsctl_daily_cell(d, time_ms, recipient);
    dsctl_daily_add(c, 0, 1);
    dsctl_daily_add(c, allow ? 1 : 2, 1);
    dsctl_daily_add(c, 3, bytes);
    dsctl_daily_add(c, 4, files);
    dsctl_daily_add(c, 5, file_bytes);
}


int
dsctl_daily_alert(dsctl_daily_t *d, json_t *r, int64_t from, int64_t to)
{
    json_t      *ds, *user;
    int64_t      t;
    const char  *recipient;

    if (json_object_get(r, "class_uid")) {
        ds = json_object_get(json_object_get(r, "unmapped"), "dsgw");
        user = json_object_get(json_object_get(r, "actor"), "user");
        t = json_integer_value(json_object_get(r, "time"));
        recipient = json_string_value(json_object_get(user, "uid"));

    } else {
        ds = r;
        t = json_integer_value(json_object_get(r, "time_ms"));
        recipient = json_string_value(json_object_get(r, "recipient"));
    }

    if (!json_is_string(json_object_get(ds, "type"))
        || strcmp(json_string_value(json_object_get(ds, "type")), "alert")
           != 0)
    {
        return 0;
    }

    if (t < from || t >= to) {
        return 1;
    }

    dsctl_daily_add(dsctl_daily_cell(d, t, recipient && recipient[0]
                                           ? recipient : "anonymous"),
                    6, 1);
    return 1;
}


static int
dsctl_daily_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}


int
dsctl_daily_print(dsctl_daily_t *d, int64_t from, int64_t to)
{
    char         key[32 + 512], date[DS_RFC3339_LEN];
    int64_t      first, last, day;
    size_t       n, k, i;
    json_t      *c, *v;
    const char  *name, **names;

    printf("day,recipient,calls,allowed,denied,bytes,files,file_bytes,"
           "alerts\n");

    n = json_object_size(d->recipients);
    if (n == 0) {
        return DSCTL_OK;
    }

    /* the period asked for, else the days the records span */
    first = from != INT64_MIN ? dsctl_day(from) : d->first;
    last = to != INT64_MAX ? dsctl_day(to - 1) : d->last;

    if (last - first + 1 > DSCTL_DAYS_MAX) {
        fprintf(stderr, "dsctl: audit report --csv: more than %d days; "
                "give --from and --to\n", DSCTL_DAYS_MAX);
        return DSCTL_USAGE;
    }

    names = malloc(n * sizeof(char *));
    if (names == NULL) {
        return DSCTL_USAGE;
    }

    k = 0;
    json_object_foreach(d->recipients, name, v) {
        names[k++] = name;
    }
    qsort(names, n, sizeof(char *), dsctl_daily_cmp);

    for (day = first; day <= last; day++) {
        ds_time_format_rfc3339(day * DSCTL_DAY_MS, date, sizeof(date));
        date[10] = '\0';

        for (k = 0; k < n; k++) {
            snprintf(key, sizeof(key), "%lld\t%s", (long long) day,
                     names[k]);
            c = json_object_get(d->cells, key);

            printf("%s,", date);
            dsctl_csv_field(names[k]);

            for (i = 0; i < 7; i++) {
                printf(",%lld", c ? (long long) json_integer_value(
                                        json_array_get(c, i))
                                  : 0LL);
            }

            putchar('\n');
        }
    }

    free(names);

    return DSCTL_OK;
}
