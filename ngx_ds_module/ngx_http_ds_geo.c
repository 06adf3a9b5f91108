/*
 * Geography: the country of the client address. The address is the
 * one nginx's realip module left in c->sockaddr, so set_real_ip_from
 * decides whom X-Forwarded-For is believed from. Lookups go through a
 * small direct-mapped cache per worker: a client that comes back costs
 * a hash and a memcmp, never a tree walk.
 *
 * Databases keep the code in different places (ds_country.h), so the
 * configuration samples real records of the file and fails when none
 * has a code where we would look: a wrong guess would otherwise make
 * every client "country unknown" with nothing in any log.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_ds_geo.h"


#define NGX_HTTP_DS_GEO_CACHE    4096     /* entries, a power of two */

/* configuration-time sample of the data records, and its bounds */
#define NGX_HTTP_DS_GEO_SAMPLES  256
#define NGX_HTTP_DS_GEO_NODES    (1 << 20)
#define NGX_HTTP_DS_GEO_STACK    256      /* > 128, the IPv6 tree depth */
#define NGX_HTTP_DS_GEO_KEYS     320      /* "a record has: ..." */
#define NGX_HTTP_DS_GEO_SHOWN    16       /* paths named in messages */
#define NGX_HTTP_DS_GEO_TYPE     64       /* database_type in messages */


typedef struct {
    ngx_uint_t  generation;             /* 0: empty */
    u_char      family;
    u_char      cc_len;
    u_char      cc[3];
    u_char      addr[16];
} ngx_http_ds_geo_entry_t;


typedef struct {
    MMDB_entry_s  entry[NGX_HTTP_DS_GEO_SAMPLES];
    size_t        n;
} ngx_http_ds_geo_sample_t;


static ngx_int_t ngx_http_ds_geo_settle(ngx_conf_t *cf,
    ngx_http_ds_geo_t *geo, ngx_str_t *args, ngx_uint_t nargs);
static ngx_int_t ngx_http_ds_geo_paths(ngx_conf_t *cf,
    ngx_http_ds_geo_t *geo, ngx_str_t *args, ngx_uint_t nargs);
static void ngx_http_ds_geo_sample(MMDB_s *mmdb,
    ngx_http_ds_geo_sample_t *s);
static void ngx_http_ds_geo_sample_record(ngx_http_ds_geo_sample_t *s,
    uint32_t *stack, size_t *top, uint8_t type, uint64_t record,
    MMDB_entry_s *entry);
static const char *ngx_http_ds_geo_value(void *data, size_t record,
    const ds_country_path_t *path, size_t *len);
static u_char *ngx_http_ds_geo_paths_text(const ds_country_path_t **paths,
    size_t npaths, u_char *p, u_char *last);
static ngx_int_t ngx_http_ds_geo_same_path(const ds_country_path_t *a,
    const ds_country_path_t *b);
static u_char *ngx_http_ds_geo_record_keys(MMDB_entry_s *entry, u_char *p,
    u_char *last);
static MMDB_entry_data_list_s *ngx_http_ds_geo_keys(
    MMDB_entry_data_list_s *l, ngx_uint_t depth, u_char **p, u_char *last);
static void ngx_http_ds_geo_safe(const char *s, u_char *buf, size_t size);
static void ngx_http_ds_geo_cleanup(void *data);
static size_t ngx_http_ds_geo_lookup(ngx_http_ds_geo_t *geo, ngx_log_t *log,
    int family, u_char *addr, u_char cc[4]);


/* each open DB gets a new number, so a reload invalidates the cache */
static ngx_uint_t                ngx_http_ds_geo_generation;
static ngx_http_ds_geo_entry_t  *ngx_http_ds_geo_cache;


ngx_http_ds_geo_t *
ngx_http_ds_geo_open(ngx_conf_t *cf, ngx_str_t *path, ngx_str_t *args,
    ngx_uint_t nargs)
{
    int                  status;
    ngx_http_ds_geo_t   *geo;
    ngx_pool_cleanup_t  *cln;

    geo = ngx_pcalloc(cf->pool, sizeof(ngx_http_ds_geo_t));
    if (geo == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    geo->path = *path;

    if (ngx_http_ds_geo_paths(cf, geo, args, nargs) != NGX_OK) {
        return NULL;
    }

    status = MMDB_open((char *) path->data, MMDB_MODE_MMAP, &geo->mmdb);

    if (status != MMDB_SUCCESS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf,
                           status == MMDB_IO_ERROR ? ngx_errno : 0,
                           "ds_geoip_db: cannot open \"%V\": %s",
                           path, MMDB_strerror(status));
        return NULL;
    }

    cln->handler = ngx_http_ds_geo_cleanup;
    cln->data = geo;

    if (ngx_http_ds_geo_settle(cf, geo, args, nargs) != NGX_OK) {
        return NULL;
    }

    geo->generation = ++ngx_http_ds_geo_generation;

    return geo;
}


/* the "path=a.b" parameters, in order */
static ngx_int_t
ngx_http_ds_geo_paths(ngx_conf_t *cf, ngx_http_ds_geo_t *geo,
    ngx_str_t *args, ngx_uint_t nargs)
{
    char        *text;
    ngx_str_t    v;
    ngx_uint_t   i;
    const char  *err;

    for (i = 0; i < nargs; i++) {

        if (args[i].len < 5
            || ngx_strncmp(args[i].data, "path=", 5) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ds_geoip_db: invalid parameter \"%V\" "
                               "(expected path=KEY.KEY, e.g. "
                               "path=country_code)", &args[i]);
            return NGX_ERROR;
        }

        if (geo->npaths == DS_COUNTRY_PATHS) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ds_geoip_db: at most %d path= parameters",
                               DS_COUNTRY_PATHS);
            return NGX_ERROR;
        }

        v.data = args[i].data + 5;
        v.len = args[i].len - 5;

        /* the keys live as long as the configuration */
        text = ngx_pnalloc(cf->pool, v.len + 1);
        if (text == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(text, v.data, v.len);
        text[v.len] = '\0';

        if (ngx_strlen(text) != v.len) {
            err = "has a NUL byte";

        } else if (ds_country_path_parse(text, &geo->paths[geo->npaths],
                                         &err)
                   == 0)
        {
            geo->npaths++;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_geoip_db: \"%V\": the path %s",
                           &args[i], err);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Configured paths: at least one sampled record must yield a code.
 * None configured: the layout under which most of them do.
 */
static ngx_int_t
ngx_http_ds_geo_settle(ngx_conf_t *cf, ngx_http_ds_geo_t *geo,
    ngx_str_t *args, ngx_uint_t nargs)
{
    u_char                     *p;
    size_t                      i, j, k, n, hits, nshown;
    ngx_http_ds_geo_sample_t   *s;
    const ds_country_layout_t  *layout, *layouts;
    u_char                      tried[NGX_HTTP_DS_GEO_KEYS];
    u_char                      keys[NGX_HTTP_DS_GEO_KEYS];
    u_char                      type[NGX_HTTP_DS_GEO_TYPE];
    const ds_country_path_t    *shown[NGX_HTTP_DS_GEO_SHOWN];

    s = ngx_palloc(cf->temp_pool, sizeof(ngx_http_ds_geo_sample_t));
    if (s == NULL) {
        return NGX_ERROR;
    }

    ngx_http_ds_geo_sample(&geo->mmdb, s);

    ngx_http_ds_geo_safe(geo->mmdb.metadata.database_type, type,
                         sizeof(type));

    if (s->n == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_geoip_db: \"%V\" (database_type \"%s\") "
                           "has no records", &geo->path, type);
        return NGX_ERROR;
    }

    layout = NULL;
    nshown = 0;

    if (geo->npaths) {
        hits = ds_country_hits(geo->paths, geo->npaths,
                               ngx_http_ds_geo_value, s->entry, s->n);

        for (i = 0; i < geo->npaths; i++) {
            shown[nshown++] = &geo->paths[i];
        }

    } else {
        layout = ds_country_detect(geo->mmdb.metadata.database_type,
                                   ngx_http_ds_geo_value, s->entry, s->n,
                                   &hits);

        /* what was tried: every known path, each once */
        layouts = ds_country_layouts(&n);

        for (i = 0; i < n; i++) {
            for (j = 0; j < layouts[i].npaths; j++) {
                for (k = 0; k < nshown; k++) {
                    if (ngx_http_ds_geo_same_path(shown[k],
                                                  &layouts[i].paths[j]))
                    {
                        break;
                    }
                }

                if (k == nshown && nshown < NGX_HTTP_DS_GEO_SHOWN) {
                    shown[nshown++] = &layouts[i].paths[j];
                }
            }
        }
    }

    p = ngx_http_ds_geo_paths_text(shown, nshown, tried,
                                   tried + sizeof(tried) - 1);
    *p = '\0';

    if (hits == 0) {
        p = ngx_http_ds_geo_record_keys(&s->entry[0], keys,
                                        keys + sizeof(keys) - 1);
        *p = '\0';

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ds_geoip_db: no country code in \"%V\" "
                           "(database_type \"%s\"): none of %uz sampled "
                           "records has a two-letter code at %s; "
                           "a record has: %s%s",
                           &geo->path, type, s->n, tried, keys,
                           nargs ? "" : "; name the field with "
                           "path=KEY.KEY");
        return NGX_ERROR;
    }

    if (layout) {
        geo->npaths = layout->npaths;
        ngx_memcpy(geo->paths, layout->paths, sizeof(geo->paths));

        for (i = 0; i < geo->npaths; i++) {
            shown[i] = &geo->paths[i];
        }

        p = ngx_http_ds_geo_paths_text(shown, geo->npaths, tried,
                                       tried + sizeof(tried) - 1);
        *p = '\0';

        ngx_conf_log_error(NGX_LOG_NOTICE, cf, 0,
                           "ds_geoip_db: \"%V\" (database_type \"%s\", "
                           "IPv%d): %s layout \"%s\", country from %s "
                           "(%uz of %uz sampled records have one)",
                           &geo->path, type,
                           (int) geo->mmdb.metadata.ip_version,
                           layout->vendor, layout->name, tried, hits,
                           s->n);
        return NGX_OK;
    }

    ngx_conf_log_error(NGX_LOG_NOTICE, cf, 0,
                       "ds_geoip_db: \"%V\" (database_type \"%s\", "
                       "IPv%d): country from %s as configured "
                       "(%uz of %uz sampled records have one)",
                       &geo->path, type,
                       (int) geo->mmdb.metadata.ip_version, tried, hits,
                       s->n);

    return NGX_OK;
}


/*
 * Distinct data records, found by walking the search tree from its
 * root (no guessed addresses), bounded in records and nodes so that
 * neither a huge nor a corrupt (cyclic) tree can hold up nginx -t.
 */
static void
ngx_http_ds_geo_sample(MMDB_s *mmdb, ngx_http_ds_geo_sample_t *s)
{
    size_t              top;
    uint32_t            stack[NGX_HTTP_DS_GEO_STACK];
    ngx_uint_t          visited;
    MMDB_search_node_s  node;

    s->n = 0;

    if (mmdb->metadata.node_count == 0) {
        return;
    }

    top = 0;
    stack[top++] = 0;

    for (visited = 0;
         top && s->n < NGX_HTTP_DS_GEO_SAMPLES
         && visited < NGX_HTTP_DS_GEO_NODES;
         visited++)
    {
        if (MMDB_read_node(mmdb, stack[--top], &node) != MMDB_SUCCESS) {
            continue;
        }

        /* right first: the left (lower) half is walked first */
        ngx_http_ds_geo_sample_record(s, stack, &top,
                                      node.right_record_type,
                                      node.right_record,
                                      &node.right_record_entry);
        ngx_http_ds_geo_sample_record(s, stack, &top,
                                      node.left_record_type,
                                      node.left_record,
                                      &node.left_record_entry);
    }
}


static void
ngx_http_ds_geo_sample_record(ngx_http_ds_geo_sample_t *s, uint32_t *stack,
    size_t *top, uint8_t type, uint64_t record, MMDB_entry_s *entry)
{
    size_t  i;

    switch (type) {

    case MMDB_RECORD_TYPE_SEARCH_NODE:
        if (*top < NGX_HTTP_DS_GEO_STACK) {
            stack[(*top)++] = (uint32_t) record;
        }
        return;

    case MMDB_RECORD_TYPE_DATA:
        if (s->n == NGX_HTTP_DS_GEO_SAMPLES) {
            return;
        }

        for (i = 0; i < s->n; i++) {
            if (s->entry[i].offset == entry->offset) {
                return;
            }
        }

        s->entry[s->n++] = *entry;
        return;

    default:
        /* empty or invalid: nothing there */
        return;
    }
}


/* ds_country_value_pt over an array of entries */
static const char *
ngx_http_ds_geo_value(void *data, size_t record,
    const ds_country_path_t *path, size_t *len)
{
    MMDB_entry_s       *entry;
    MMDB_entry_data_s   d;

    entry = (MMDB_entry_s *) data + record;

    if (MMDB_aget_value(entry, &d, path->keys) != MMDB_SUCCESS
        || !d.has_data
        || d.type != MMDB_DATA_TYPE_UTF8_STRING)
    {
        return NULL;
    }

    *len = d.data_size;

    return d.utf8_string;
}


/* "a.b, c" */
static u_char *
ngx_http_ds_geo_paths_text(const ds_country_path_t **paths, size_t npaths,
    u_char *p, u_char *last)
{
    char    buf[DS_COUNTRY_PATH_LEN];
    size_t  i;

    for (i = 0; i < npaths; i++) {
        ds_country_path_text(paths[i], buf, sizeof(buf));
        p = ngx_slprintf(p, last, "%s%s", i ? ", " : "", buf);
    }

    return p;
}


static ngx_int_t
ngx_http_ds_geo_same_path(const ds_country_path_t *a,
    const ds_country_path_t *b)
{
    size_t  i;

    for (i = 0; a->keys[i] && b->keys[i]; i++) {
        if (ngx_strcmp(a->keys[i], b->keys[i]) != 0) {
            return 0;
        }
    }

    return a->keys[i] == NULL && b->keys[i] == NULL;
}


/*
 * The record's keys, two levels deep ("continent{code names} country"),
 * so the message shows what path= could name without any values.
 */
static u_char *
ngx_http_ds_geo_record_keys(MMDB_entry_s *entry, u_char *p, u_char *last)
{
    MMDB_entry_data_list_s  *list;

    if (MMDB_get_entry_data_list(entry, &list) != MMDB_SUCCESS) {
        return ngx_slprintf(p, last, "(undecodable)");
    }

    if (list == NULL || list->entry_data.type != MMDB_DATA_TYPE_MAP) {
        p = ngx_slprintf(p, last, "(not a map)");

    } else {
        (void) ngx_http_ds_geo_keys(list, 0, &p, last);
    }

    MMDB_free_entry_data_list(list);

    return p;
}


/* prints the keys of a map value at l; returns what follows the value */
static MMDB_entry_data_list_s *
ngx_http_ds_geo_keys(MMDB_entry_data_list_s *l, ngx_uint_t depth,
    u_char **p, u_char *last)
{
    u_char                  *k;
    uint32_t                 i, n;
    ngx_uint_t               show;
    MMDB_entry_data_list_s  *key;

    n = l->entry_data.data_size;
    show = (depth < 2);

    switch (l->entry_data.type) {

    case MMDB_DATA_TYPE_MAP:
        l = l->next;

        for (i = 0; i < n && l; i++) {
            key = l;

            if (show && key->entry_data.type == MMDB_DATA_TYPE_UTF8_STRING) {
                if (i) {
                    *p = ngx_slprintf(*p, last, " ");
                }

                /* keys are the database's bytes: print them safely */
                for (k = (u_char *) key->entry_data.utf8_string;
                     k < (u_char *) key->entry_data.utf8_string
                         + key->entry_data.data_size && *p < last;
                     k++)
                {
                    *(*p)++ = (*k > ' ' && *k < 0x7f) ? *k : '?';
                }
            }

            l = key->next;
            if (l == NULL) {
                break;
            }

            if (show && depth == 0
                && l->entry_data.type == MMDB_DATA_TYPE_MAP)
            {
                *p = ngx_slprintf(*p, last, "{");
                l = ngx_http_ds_geo_keys(l, depth + 1, p, last);
                *p = ngx_slprintf(*p, last, "}");

            } else {
                l = ngx_http_ds_geo_keys(l, 2, p, last);
            }
        }

        return l;

    case MMDB_DATA_TYPE_ARRAY:
        l = l->next;

        for (i = 0; i < n && l; i++) {
            l = ngx_http_ds_geo_keys(l, 2, p, last);
        }

        return l;

    default:
        return l->next;
    }
}


/* the file's own text, fit for a log line */
static void
ngx_http_ds_geo_safe(const char *s, u_char *buf, size_t size)
{
    size_t  i;

    for (i = 0; s && s[i] && i + 1 < size; i++) {
        buf[i] = ((u_char) s[i] >= ' ' && (u_char) s[i] < 0x7f
                  && s[i] != '"') ? (u_char) s[i] : '?';
    }

    buf[i] = '\0';
}


static void
ngx_http_ds_geo_cleanup(void *data)
{
    ngx_http_ds_geo_t  *geo = data;

    MMDB_close(&geo->mmdb);
}


size_t
ngx_http_ds_geo_country(ngx_http_ds_geo_t *geo, ngx_log_t *log,
    struct sockaddr *sa, u_char cc[4])
{
    int                       family;
    u_char                   *addr, v4[4];
    size_t                    len;
    uint32_t                  hash;
    ngx_http_ds_geo_entry_t  *e;

    cc[0] = '\0';

    switch (sa->sa_family) {

    case AF_INET:
        addr = (u_char *) &((struct sockaddr_in *) sa)->sin_addr;
        family = AF_INET;
        len = 4;
        break;

#if (NGX_HAVE_INET6)
    case AF_INET6:
        addr = (u_char *) &((struct sockaddr_in6 *) sa)->sin6_addr;

        /*
         * ::ffff:a.b.c.d and 6to4 are IPv4 clients; not every database
         * aliases them to its IPv4 records (ip-location-db does not,
         * an IPv4-only one cannot), so look the IPv4 address up and
         * cache it under that, as the same client
         */
        if (ds_country_v4(addr, v4)) {
            addr = v4;
            family = AF_INET;
            len = 4;
            break;
        }

        if (geo->mmdb.metadata.ip_version == 4) {
            /* an IPv4-only database has no IPv6 networks */
            return 0;
        }

        family = AF_INET6;
        len = 16;
        break;
#endif

    default:
        /* unix sockets and the like have no country */
        return 0;
    }

    if (ngx_http_ds_geo_cache == NULL) {
        /* first lookup in this worker; without memory just skip caching */
        ngx_http_ds_geo_cache = ngx_calloc(NGX_HTTP_DS_GEO_CACHE
                                           * sizeof(ngx_http_ds_geo_entry_t),
                                           log);
        if (ngx_http_ds_geo_cache == NULL) {
            return ngx_http_ds_geo_lookup(geo, log, family, addr, cc);
        }
    }

    hash = ngx_murmur_hash2(addr, len) & (NGX_HTTP_DS_GEO_CACHE - 1);
    e = &ngx_http_ds_geo_cache[hash];

    if (e->generation == geo->generation
        && e->family == family
        && ngx_memcmp(e->addr, addr, len) == 0)
    {
        ngx_memcpy(cc, e->cc, e->cc_len);
        cc[e->cc_len] = '\0';
        return e->cc_len;
    }

    e->cc_len = (u_char) ngx_http_ds_geo_lookup(geo, log, family, addr, cc);
    e->family = (u_char) family;
    ngx_memcpy(e->addr, addr, len);
    ngx_memcpy(e->cc, cc, e->cc_len);
    e->generation = geo->generation;

    return e->cc_len;
}


static size_t
ngx_http_ds_geo_lookup(ngx_http_ds_geo_t *geo, ngx_log_t *log, int family,
    u_char *addr, u_char cc[4])
{
    int                    mmdb_error;
    size_t                 len;
    struct sockaddr       *sa;
    struct sockaddr_in     sin;
    MMDB_lookup_result_s   res;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6    sin6;
#endif

    cc[0] = '\0';

#if (NGX_HAVE_INET6)
    if (family == AF_INET6) {
        ngx_memzero(&sin6, sizeof(struct sockaddr_in6));
        sin6.sin6_family = AF_INET6;
        ngx_memcpy(&sin6.sin6_addr, addr, 16);
        sa = (struct sockaddr *) &sin6;

    } else
#endif
    {
        ngx_memzero(&sin, sizeof(struct sockaddr_in));
        sin.sin_family = AF_INET;
        ngx_memcpy(&sin.sin_addr, addr, 4);
        sa = (struct sockaddr *) &sin;
    }

    res = MMDB_lookup_sockaddr(&geo->mmdb, sa, &mmdb_error);

    if (mmdb_error != MMDB_SUCCESS) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "ds_geoip_db: lookup in \"%V\" failed: %s",
                      &geo->path, MMDB_strerror(mmdb_error));
        return 0;
    }

    if (!res.found_entry) {
        return 0;
    }

    len = ds_country_lookup(geo->paths, geo->npaths, ngx_http_ds_geo_value,
                            &res.entry, 0, (char *) cc);

    return len;
}
