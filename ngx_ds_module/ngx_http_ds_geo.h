/*
 * Country of the client address from a MaxMind DB (libmaxminddb),
 * opened once at configuration time, with a per-worker lookup cache.
 */

#ifndef _NGX_HTTP_DS_GEO_H_INCLUDED_
#define _NGX_HTTP_DS_GEO_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <maxminddb.h>


typedef struct {
    MMDB_s      mmdb;
    ngx_str_t   path;
    ngx_uint_t  generation;     /* tells cache entries of old DBs apart */
} ngx_http_ds_geo_t;


/* opens path (MMAP mode); closes it with a cleanup of cf->pool */
ngx_http_ds_geo_t *ngx_http_ds_geo_open(ngx_conf_t *cf, ngx_str_t *path);

/*
 * Writes the upper-case ISO 3166-1 alpha-2 code and a NUL into cc,
 * returns its length: 2, or 0 when the address has no country.
 */
size_t ngx_http_ds_geo_country(ngx_http_ds_geo_t *geo, ngx_log_t *log,
    struct sockaddr *sa, u_char cc[4]);


#endif /* _NGX_HTTP_DS_GEO_H_INCLUDED_ */
