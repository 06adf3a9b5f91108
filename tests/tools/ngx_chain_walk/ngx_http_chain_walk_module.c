/*
 * Test-only header filter: walks r->headers_out.www_authenticate
 * through h->next the way nginx >= 1.23 itself does (auth_request,
 * satisfy any) and modules such as headers-more or njs do, and reports
 * the chain's length as X-Chain-WWW-Authenticate. An entry pushed with
 * a stale next pointer crashes the worker here or counts garbage.
 * Enabled per location with "chain_walk on;".
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#if (nginx_version < 1023000)
#error "ngx_http_chain_walk_module needs nginx 1.23 or later"
#endif


typedef struct {
    ngx_flag_t  enable;
} ngx_http_chain_walk_loc_conf_t;


static void *ngx_http_chain_walk_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_chain_walk_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_chain_walk_init(ngx_conf_t *cf);


static ngx_command_t  ngx_http_chain_walk_commands[] = {

    { ngx_string("chain_walk"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_chain_walk_loc_conf_t, enable),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_chain_walk_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_chain_walk_init,              /* postconfiguration */
    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */
    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */
    ngx_http_chain_walk_create_loc_conf,   /* create location configuration */
    ngx_http_chain_walk_merge_loc_conf     /* merge location configuration */
};


ngx_module_t  ngx_http_chain_walk_module = {
    NGX_MODULE_V1,
    &ngx_http_chain_walk_module_ctx,       /* module context */
    ngx_http_chain_walk_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


static ngx_int_t
ngx_http_chain_walk_header_filter(ngx_http_request_t *r)
{
    u_char                          *p;
    ngx_uint_t                       n;
    ngx_table_elt_t                 *h, *out;
    ngx_http_chain_walk_loc_conf_t  *cwlcf;

    cwlcf = ngx_http_get_module_loc_conf(r, ngx_http_chain_walk_module);

    if (!cwlcf->enable || r->headers_out.www_authenticate == NULL) {
        return ngx_http_next_header_filter(r);
    }

    n = 0;

    for (h = r->headers_out.www_authenticate; h; h = h->next) {
        n++;

        /* a loop through garbage must not hang the test either */
        if (n > 64) {
            break;
        }
    }

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    out = ngx_list_push(&r->headers_out.headers);

    if (p == NULL || out == NULL) {
        return NGX_ERROR;
    }

    out->hash = 1;
    out->next = NULL;
    out->lowcase_key = NULL;
    ngx_str_set(&out->key, "X-Chain-WWW-Authenticate");
    out->value.data = p;
    out->value.len = ngx_sprintf(p, "%ui", n) - p;

    return ngx_http_next_header_filter(r);
}


static void *
ngx_http_chain_walk_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_chain_walk_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_chain_walk_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->enable = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_chain_walk_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_chain_walk_loc_conf_t  *prev = parent;
    ngx_http_chain_walk_loc_conf_t  *conf = child;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_chain_walk_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_chain_walk_header_filter;

    return NGX_OK;
}
