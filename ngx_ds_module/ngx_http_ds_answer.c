/*
 * Answers of ours: the Delta Sharing error body, its headers
 * (WWW-Authenticate, Allow), replacing what nginx or the upstream set.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds.h"
#include "ngx_http_ds_limit.h"


static ngx_buf_t *ngx_http_ds_error_body_code(ngx_http_request_t *r,
    const char *code, const char *message);
static ngx_str_t *ngx_http_ds_bearer_jwt(ngx_http_request_t *r,
    ds_reason_t reason);


static ngx_str_t  ngx_http_ds_json_type =
    ngx_string("application/json; charset=utf-8");

static ngx_str_t  ngx_http_ds_www_authenticate =
    ngx_string("WWW-Authenticate");
static ngx_str_t  ngx_http_ds_bearer =
    ngx_string("Bearer realm=\"delta-sharing\"");
static ngx_str_t  ngx_http_ds_bearer_invalid =
    ngx_string("Bearer realm=\"delta-sharing\", error=\"invalid_token\"");
static ngx_str_t  ngx_http_ds_allow = ngx_string("Allow");


/*
 * What the audit record and $ds_reason say of an allowed answer the
 * gateway could not check (a list not filterable, a query answer not
 * readable): the client gets a 502 instead, or a cut answer.
 */
void
ngx_http_ds_upstream_invalid(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    const char *why)
{
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "ds: %s response from upstream not filtered (%s): "
                  "answering 502",
                  ds_op_is_list(ctx->path.op) ? "list" : "query", why);

    ctx->verdict.allow = 0;
    ctx->verdict.reason = DS_REASON_UPSTREAM_INVALID;
    ctx->verdict.http_status = NGX_HTTP_BAD_GATEWAY;
}


void
ngx_http_ds_json_headers(ngx_http_request_t *r, ngx_uint_t status,
    ngx_buf_t *body)
{
    r->headers_out.status = status;
    r->headers_out.content_type = ngx_http_ds_json_type;
    r->headers_out.content_type_len = ngx_http_ds_json_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = body->last - body->pos;
}


/*
 * One walk over the header list for every filter that hides or looks
 * up upstream headers: keep, if not NULL, is an allow-list ending with
 * an empty name; without it every header is hidden.
 */
void
ngx_http_ds_hide_headers(ngx_http_request_t *r, ngx_str_t *keep)
{
    ngx_str_t        *k;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0 || keep == NULL) {
            h[i].hash = 0;
            continue;
        }

        for (k = keep; k->len; k++) {
            if (h[i].key.len == k->len
                && ngx_strncasecmp(h[i].key.data, k->data, k->len) == 0)
            {
                break;
            }
        }

        if (k->len == 0) {
            h[i].hash = 0;
        }
    }
}


ngx_table_elt_t *
ngx_http_ds_find_header(ngx_http_request_t *r, ngx_str_t *name)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash != 0
            && h[i].key.len == name->len
            && ngx_strncasecmp(h[i].key.data, name->data, name->len) == 0)
        {
            return &h[i];
        }
    }
}


void
ngx_http_ds_reset_headers(ngx_http_request_t *r)
{
    ngx_http_ds_hide_headers(r, NULL);

    r->headers_out.content_encoding = NULL;
    r->headers_out.location = NULL;
    r->headers_out.refresh = NULL;
    r->headers_out.expires = NULL;
    r->headers_out.www_authenticate = NULL;
    r->headers_out.last_modified_time = -1;
    r->headers_out.last_modified = NULL;
    r->headers_out.etag = NULL;
    r->headers_out.accept_ranges = NULL;
    r->headers_out.content_range = NULL;
    r->headers_out.content_length = NULL;
    r->headers_out.status_line.len = 0;
    r->headers_out.charset.len = 0;

    /* nginx >= 1.23 walks these as chains of the hidden entries */
#if (nginx_version >= 1023000)
    r->headers_out.cache_control = NULL;
    r->headers_out.link = NULL;
#else
    r->headers_out.cache_control.nelts = 0;
    r->headers_out.link.nelts = 0;
#endif
}


ngx_buf_t *
ngx_http_ds_error_body(ngx_http_request_t *r, ds_reason_t reason,
    const char *message)
{
    if (message == NULL) {
        message = ds_reason_message(reason);
    }

    return ngx_http_ds_error_body_code(r, ds_reason_error_code(reason),
                                       message);
}


static ngx_buf_t *
ngx_http_ds_error_body_code(ngx_http_request_t *r, const char *code,
    const char *message)
{
    size_t       len, mlen, clen;
    u_char      *p;
    ngx_buf_t   *b;

    clen = ngx_strlen(code);
    mlen = ngx_strlen(message);

    len = sizeof("{\"errorCode\":\"\",\"message\":\"\"}") - 1
          + clen + ngx_escape_json(NULL, (u_char *) code, clen)
          + mlen + ngx_escape_json(NULL, (u_char *) message, mlen);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    p = ngx_cpymem(b->last, "{\"errorCode\":\"", 14);
    p = (u_char *) ngx_escape_json(p, (u_char *) code, clen);
    p = ngx_cpymem(p, "\",\"message\":\"", 13);
    p = (u_char *) ngx_escape_json(p, (u_char *) message, mlen);
    *p++ = '"';
    *p++ = '}';

    b->last = p;

    return b;
}


/*
 * A JWT refused (issue #15): RFC 6750 3's error_description, the
 * reason's fixed message (never the token, never a claim), so OAuth
 * clients can show why; the reason code is in the JSON body. Only
 * %x20-21 / %x23-5B / %x5D-7E may appear there.
 */
static ngx_str_t *
ngx_http_ds_bearer_jwt(ngx_http_request_t *r, ds_reason_t reason)
{
    size_t       mlen;
    u_char      *p;
    ngx_str_t   *v;
    const char  *m;

    if (reason < DS_REASON_JWT_MALFORMED || reason > DS_REASON_JWT_LIFETIME)
    {
        return &ngx_http_ds_bearer_invalid;
    }

    m = ds_reason_message(reason);
    mlen = ngx_strlen(m);

    v = ngx_palloc(r->pool, sizeof(ngx_str_t));
    p = ngx_pnalloc(r->pool, ngx_http_ds_bearer_invalid.len
                             + sizeof(", error_description=\"\"") - 1 + mlen);
    if (v == NULL || p == NULL) {
        return &ngx_http_ds_bearer_invalid;
    }

    v->data = p;
    p = ngx_cpymem(p, ngx_http_ds_bearer_invalid.data,
                   ngx_http_ds_bearer_invalid.len);
    p = ngx_cpymem(p, ", error_description=\"",
                   sizeof(", error_description=\"") - 1);

    for ( /* void */ ; *m; m++) {
        *p++ = (*m < 0x20 || *m > 0x7e || *m == '"' || *m == '\\')
               ? ' ' : (u_char) *m;
    }

    *p++ = '"';
    v->len = p - v->data;

    return v;
}


ngx_int_t
ngx_http_ds_send_error(ngx_http_request_t *r, ngx_http_ds_ctx_t *ctx,
    ngx_uint_t status, ds_reason_t reason, const char *message)
{
    ngx_int_t     rc;
    ngx_str_t     allow;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    /* first: the request may be freed once the answer is sent */
    if (ctx != NULL) {
        ngx_http_ds_set_state(r, ctx, NGX_HTTP_DS_ANSWERED);
    }

    /*
     * the client may still be sending a body we will never read; one
     * that waits for "100 Continue" is not invited to send it
     */
    r->expect_tested = 1;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    /* docs/paths.md: a known endpoint with the wrong method */
    if (message == NULL) {
        message = ds_reason_message(reason);
    }

    b = ngx_http_ds_error_body_code(r, status == NGX_HTTP_NOT_ALLOWED
                                    ? "UNSUPPORTED_OPERATION"
                                    : ds_reason_error_code(reason),
                                    message);
    if (b == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }

    ngx_http_ds_json_headers(r, status, b);

    if (status == NGX_HTTP_UNAUTHORIZED) {
        /* RFC 6750 3.1: no error code when no credentials were sent */
        if (ngx_http_ds_push_header(r, &r->headers_out.www_authenticate,
                                   &ngx_http_ds_www_authenticate,
                                   reason == DS_REASON_TOKEN_MISSING
                                   ? &ngx_http_ds_bearer
                                   : ngx_http_ds_bearer_jwt(r, reason))
            != NGX_OK)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return NGX_DONE;
        }
    }

    if (status == NGX_HTTP_NOT_ALLOWED && ctx != NULL && ctx->path.allow) {
        allow.data = (u_char *) ctx->path.allow;
        allow.len = ngx_strlen(ctx->path.allow);

        if (ngx_http_ds_push_header(r, NULL, &ngx_http_ds_allow, &allow)
            != NGX_OK)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return NGX_DONE;
        }
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    ngx_http_finalize_request(r, ngx_http_output_filter(r, &out));

    return NGX_DONE;
}
