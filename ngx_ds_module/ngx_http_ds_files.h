/*
 * ngx_http_ds_files_module (file proxy mode, docs/dataplane.md): what
 * the rest of ngx_ds asks of it. The key ring and the longest life of a
 * capability, for whoever seals one (the query-answer rewriting); the
 * download location's hooks for the access handler and the audit.
 */

#ifndef _NGX_HTTP_DS_FILES_H_INCLUDED_
#define _NGX_HTTP_DS_FILES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds_module.h"
#include "ds_audit.h"
#include "ds_capability.h"


/* the ds_files_key ring (keys[0] seals); NULL when none is configured */
const ds_cap_ring_t *ngx_http_ds_files_ring(ngx_http_request_t *r);

/* configuration time: is a ds_files_key configured (ds_files_proxy needs one) */
ngx_uint_t ngx_http_ds_files_keyed(ngx_conf_t *cf);

/* ds_files_max_ttl: no capability lives longer from its sealing */
ngx_msec_t ngx_http_ds_files_max_ttl(ngx_http_request_t *r);

/* "ds_files on" here: the access handler decides with the next call */
ngx_uint_t ngx_http_ds_files_enabled(ngx_http_request_t *r);

/*
 * Open the capability in the last segment of the raw URI and re-check
 * it live (ds_decide_file()): fills ctx as ngx_http_ds_decide() does
 * for API calls (verdict, names, purpose, country), state DECIDED.
 */
void ngx_http_ds_files_decide(ngx_http_request_t *r,
    ngx_http_ds_main_conf_t *dmcf, ngx_http_ds_ctx_t *ctx);

/* the download's own members of the audit record (log phase) */
void ngx_http_ds_files_audit(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ds_audit_req_t *rq);

extern ngx_module_t  ngx_http_ds_files_module;


#endif /* _NGX_HTTP_DS_FILES_H_INCLUDED_ */
