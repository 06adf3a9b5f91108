/*
 * Geography: the country of the client address. The address is the
 * one nginx's realip module left in c->sockaddr, so set_real_ip_from
 * decides whom X-Forwarded-For is believed from. Lookups go through a
 * small direct-mapped cache per worker: a client that comes back costs
 * a hash and a memcmp, never a tree walk.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_ds_geo.h"


#define NGX_HTTP_DS_GEO_CACHE  4096     /* entries, a power of two */

#define ngx_http_ds_geo_alpha(c)                                           \
    (((c) >= 'A' && (c) <= 'Z') || ((c) >= 'a' && (c) <= 'z'))


typedef struct {
    ngx_uint_t  generation;             /* 0: empty */
    u_char      family;
    u_char      cc_len;
    u_char      cc[3];
    u_char      addr[16];
} ngx_http_ds_geo_entry_t;


static void ngx_http_ds_geo_cleanup(void *data);
static size_t ngx_http_ds_geo_lookup(ngx_http_ds_geo_t *geo, ngx_log_t *log,
    struct sockaddr *sa, u_char cc[4]);
static size_t ngx_http_ds_geo_code(MMDB_entry_s *entry, const char *key,
    u_char cc[4]);


/* each open DB gets a new number, so a reload invalidates the cache */
static ngx_uint_t                ngx_http_ds_geo_generation;
static ngx_http_ds_geo_entry_t  *ngx_http_ds_geo_cache;


ngx_http_ds_geo_t *
ngx_http_ds_geo_open(ngx_conf_t *cf, ngx_str_t *path)
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

    geo->generation = ++ngx_http_ds_geo_generation;

    return geo;
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
    u_char                   *addr;
    size_t                    len;
    uint32_t                  hash;
    ngx_http_ds_geo_entry_t  *e;

    cc[0] = '\0';

    switch (sa->sa_family) {

    case AF_INET:
        addr = (u_char *) &((struct sockaddr_in *) sa)->sin_addr;
        len = 4;
        break;

#if (NGX_HAVE_INET6)
    case AF_INET6:
        addr = (u_char *) &((struct sockaddr_in6 *) sa)->sin6_addr;
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
            return ngx_http_ds_geo_lookup(geo, log, sa, cc);
        }
    }

    hash = ngx_murmur_hash2(addr, len) & (NGX_HTTP_DS_GEO_CACHE - 1);
    e = &ngx_http_ds_geo_cache[hash];

    if (e->generation == geo->generation
        && e->family == sa->sa_family
        && ngx_memcmp(e->addr, addr, len) == 0)
    {
        ngx_memcpy(cc, e->cc, e->cc_len);
        cc[e->cc_len] = '\0';
        return e->cc_len;
    }

    e->cc_len = (u_char) ngx_http_ds_geo_lookup(geo, log, sa, cc);
    e->family = (u_char) sa->sa_family;
    ngx_memcpy(e->addr, addr, len);
    ngx_memcpy(e->cc, cc, e->cc_len);
    e->generation = geo->generation;

    return e->cc_len;
}


static size_t
ngx_http_ds_geo_lookup(ngx_http_ds_geo_t *geo, ngx_log_t *log,
    struct sockaddr *sa, u_char cc[4])
{
    int                    mmdb_error;
    size_t                 len;
    MMDB_lookup_result_s   res;

    res = MMDB_lookup_sockaddr(&geo->mmdb, sa, &mmdb_error);

    if (mmdb_error != MMDB_SUCCESS) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "ds_geoip_db: lookup in \"%V\" failed: %s",
                      &geo->path, MMDB_strerror(mmdb_error));
        cc[0] = '\0';
        return 0;
    }

    if (!res.found_entry) {
        cc[0] = '\0';
        return 0;
    }

    len = ngx_http_ds_geo_code(&res.entry, "country", cc);

    if (len == 0) {
        /* e.g. anonymous proxies carry only the registered country */
        len = ngx_http_ds_geo_code(&res.entry, "registered_country", cc);
    }

    return len;
}


static size_t
ngx_http_ds_geo_code(MMDB_entry_s *entry, const char *key, u_char cc[4])
{
    int                   status;
    const u_char         *s;
    MMDB_entry_data_s     data;

    cc[0] = '\0';

    status = MMDB_get_value(entry, &data, key, "iso_code", NULL);

    if (status != MMDB_SUCCESS
        || !data.has_data
        || data.type != MMDB_DATA_TYPE_UTF8_STRING
        || data.data_size != 2)
    {
        return 0;
    }

    s = (const u_char *) data.utf8_string;

    if (!ngx_http_ds_geo_alpha(s[0]) || !ngx_http_ds_geo_alpha(s[1])) {
        return 0;
    }

    cc[0] = ngx_toupper(s[0]);
    cc[1] = ngx_toupper(s[1]);
    cc[2] = '\0';

    return 2;
}
