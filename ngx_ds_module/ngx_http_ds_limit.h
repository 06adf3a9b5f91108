/*
 * Between the access handler (ngx_http_ds_module) and the limiter
 * (ngx_http_ds_redis_module): the one call each way, and the answer
 * helpers the limiter uses for its 429, 401/403 and 503.
 */

#ifndef _NGX_HTTP_DS_LIMIT_H_INCLUDED_
#define _NGX_HTTP_DS_LIMIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds.h"


/*
 * ngx_http_ds_redis_module: called by the access handler once the
 * policy allowed the request, or before a denial that waits for the live
 * revocation check. Returns NGX_DECLINED to go on (finding in
 * ctx->rl_state), NGX_AGAIN when the request is parked (the module
 * resumes the phases itself), or NGX_DONE when it answered (429/503).
 */
ngx_int_t ngx_http_ds_redis_check(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx);

/*
 * After NGX_AGAIN the redis module moves the state on (RESUMED,
 * DENY_RESUMED, ANSWERED) and, unless it answered, runs the phases
 * again: the access handler acts on the state without calling
 * ngx_http_ds_redis_check() a second time.
 */

/* answer with a Delta Sharing error body and finalize; returns NGX_DONE */
ngx_int_t ngx_http_ds_send_error(ngx_http_request_t *r,
    ngx_http_ds_ctx_t *ctx, ngx_uint_t status, ds_reason_t reason,
    const char *message);

/*
 * Add a response header (slot: the headers_out field that names it, or
 * NULL); the key and value must outlive the request's headers. Inline:
 * the limiter adds three to every request it counts.
 */
static ngx_inline ngx_int_t
ngx_http_ds_push_header(ngx_http_request_t *r, ngx_table_elt_t **slot,
    ngx_str_t *key, ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key = *key;
    h->value = *value;
    h->lowcase_key = NULL;

#if (nginx_version >= 1023000)
    /*
     * 1.23 chains same-named headers through next (the slot is the head
     * of the chain) and walks it; ngx_list_push() does not zero it
     */
    h->next = NULL;
#endif

    if (slot) {
        *slot = h;
    }

    return NGX_OK;
}


#endif /* _NGX_HTTP_DS_LIMIT_H_INCLUDED_ */
