/*
 * ngx_http_ds_module internals shared by its files: the configuration
 * (ngx_http_ds_module.c) and what reads it per request (access, facts,
 * variables).
 */

#ifndef _NGX_HTTP_DS_MODULE_H_INCLUDED_
#define _NGX_HTTP_DS_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds.h"
#include "ngx_http_ds_geo.h"


typedef struct {
    ds_policy_t             *policy;
    ngx_str_t                policy_path;
    ngx_http_ds_geo_t       *geo;
    ngx_str_t                jwks_fetch;    /* ds_jwks_fetch location */
    ngx_msec_t               jwks_ttl;      /* ds_jwks_ttl */
    ngx_msec_t               jwks_gap;      /* ds_jwks_refetch_interval */
} ngx_http_ds_main_conf_t;


typedef struct {
    ngx_array_t             *prefixes;      /* ngx_str_t: ds_prefix of
                                               each enforced location */
} ngx_http_ds_srv_conf_t;


typedef struct {
    ngx_flag_t               enforce;
    ngx_str_t                prefix;
    ngx_str_t                purpose_header;    /* lower case */
} ngx_http_ds_loc_conf_t;


/* the access-phase handler: drives ctx->state (ngx_http_ds_access.c) */
ngx_int_t ngx_http_ds_access_handler(ngx_http_request_t *r);

/* gathers the request's facts and lets ds_decide() judge: DECIDED */
void ngx_http_ds_decide(ngx_http_request_t *r,
    ngx_http_ds_main_conf_t *dmcf, ngx_http_ds_loc_conf_t *dlcf,
    ngx_http_ds_ctx_t *ctx);

/*
 * Before deciding: fetch the keys of the bearer's issuer from its
 * jwks_uri if due (ngx_http_ds_jwks.c). NGX_DECLINED: decide now;
 * NGX_AGAIN: parked until the fetch subrequest ends.
 */
ngx_int_t ngx_http_ds_jwks_check(ngx_http_request_t *r,
    ngx_http_ds_main_conf_t *dmcf, ngx_http_ds_ctx_t *ctx);
char *ngx_http_ds_jwks_conf_check(ngx_conf_t *cf,
    ngx_http_ds_main_conf_t *dmcf);
ngx_int_t ngx_http_ds_jwks_add_variables(ngx_conf_t *cf);
char *ngx_http_ds_jwks_fetch(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* $ds_recipient, $ds_decision, ... (preconfiguration) */
ngx_int_t ngx_http_ds_add_variables(ngx_conf_t *cf);


#endif /* _NGX_HTTP_DS_MODULE_H_INCLUDED_ */
