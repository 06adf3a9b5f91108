/*
 * Country of the client address from a MaxMind DB (libmaxminddb),
 * opened once at configuration time, with a per-worker lookup cache.
 */

#ifndef _NGX_HTTP_DS_GEO_H_INCLUDED_
#define _NGX_HTTP_DS_GEO_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <maxminddb.h>

#include "ds_country.h"


typedef struct {
    MMDB_s              mmdb;
    ngx_str_t           path;
    ngx_uint_t          generation; /* tells cache entries of old DBs apart */
    size_t              npaths;
    ds_country_path_t   paths[DS_COUNTRY_PATHS];  /* tried in order */
} ngx_http_ds_geo_t;


/*
 * Opens path (MMAP mode; closed by a cleanup of cf->pool) and settles
 * where its records keep the country: args are the directive's
 * "path=a.b" parameters (none: detect the layout). Samples records and
 * fails when none yields a code under those paths.
 */
ngx_http_ds_geo_t *ngx_http_ds_geo_open(ngx_conf_t *cf, ngx_str_t *path,
    ngx_str_t *args, ngx_uint_t nargs);

/*
 * Writes the upper-case ISO 3166-1 alpha-2 code and a NUL into cc,
 * returns its length: 2, or 0 when the address has no country.
 */
size_t ngx_http_ds_geo_country(ngx_http_ds_geo_t *geo, ngx_log_t *log,
    struct sockaddr *sa, u_char cc[4]);


#endif /* _NGX_HTTP_DS_GEO_H_INCLUDED_ */
