/*
 * Country codes and where geography databases keep them. The nginx
 * shell reads the MaxMind DB (libmaxminddb); this part decides which
 * record path holds the country, what counts as a code and which IPv6
 * addresses are really IPv4 clients, so it can be tested without one.
 */

#ifndef DS_COUNTRY_H
#define DS_COUNTRY_H

#include <stddef.h>


#define DS_COUNTRY_PATH_KEYS   8    /* components of one record path */
#define DS_COUNTRY_PATHS       4    /* paths tried per record */
#define DS_COUNTRY_PATH_LEN    128  /* "country.iso_code" and the like */


/* one record path, e.g. {"country", "iso_code", NULL} */
typedef struct {
    const char   *keys[DS_COUNTRY_PATH_KEYS + 1];   /* NULL-terminated */
} ds_country_path_t;

/* a database family and the paths (tried in order) it keeps codes at */
typedef struct {
    const char          *name;          /* "geoip2", "ip-location-db" */
    const char          *vendor;        /* for messages */
    const char          *types;         /* database_type prefixes, '|' */
    size_t               npaths;
    ds_country_path_t    paths[DS_COUNTRY_PATHS];
} ds_country_layout_t;

/*
 * The string at path in record `record` (the caller's numbering), NULL
 * when the record has none there or it is not a string.
 */
typedef const char *(*ds_country_value_pt)(void *data, size_t record,
    const ds_country_path_t *path, size_t *len);


/* ISO 3166-1 alpha-2 assigned codes (and XK): 1 or 0 */
int ds_country_code_valid(const char *s, size_t len);

/*
 * A code as databases write it: two ASCII letters, either case. Writes
 * the upper-case code and a NUL into cc; returns 2, or 0 (cc = "").
 */
size_t ds_country_code(const char *s, size_t len, char cc[3]);

/*
 * IPv6 addresses that stand for an IPv4 client: IPv4-mapped
 * (::ffff:a.b.c.d) and 6to4 (2002:AABB:CCDD::/48 is a.b.c.d). Writes
 * the IPv4 address to v4 and returns 1; 0 for any other address.
 */
int ds_country_v4(const unsigned char a6[16], unsigned char v4[4]);

/*
 * Parses "country.iso_code" in place (the dots become NULs) into path.
 * Returns 0, or -1 with *err saying why.
 */
int ds_country_path_parse(char *text, ds_country_path_t *path,
    const char **err);

/* "country.iso_code" into buf (always terminated); returns buf */
char *ds_country_path_text(const ds_country_path_t *path, char *buf,
    size_t size);

/* the known layouts, in the order auto-detection prefers on a tie */
const ds_country_layout_t *ds_country_layouts(size_t *n);

/*
 * The code of one record: the first of paths that yields one (as
 * ds_country_code). Returns 2, or 0 with cc = "".
 */
size_t ds_country_lookup(const ds_country_path_t *paths, size_t npaths,
    ds_country_value_pt value, void *data, size_t record, char cc[3]);

/* how many of records 0..nrecords-1 yield a code under paths */
size_t ds_country_hits(const ds_country_path_t *paths, size_t npaths,
    ds_country_value_pt value, void *data, size_t nrecords);

/*
 * Which known layout a database is: the one under which most sampled
 * records yield a code; on a tie, the one database_type (may be NULL)
 * names, then table order. NULL when no layout yields any code. *hits
 * gets the winner's count.
 */
const ds_country_layout_t *ds_country_detect(const char *database_type,
    ds_country_value_pt value, void *data, size_t nrecords, size_t *hits);


#endif /* DS_COUNTRY_H */
