/*
 * ngx_http_ds_module: the nginx shell around the ngx_ds core; this file
 * holds its definition and configuration.
 *
 * At configuration time it loads the policy and the MaxMind DB, so a
 * bad file fails "nginx -t" and a failed reload keeps the running
 * cycle. Per request the access handler (ngx_http_ds_access.c) has the
 * facts gathered (ngx_http_ds_facts.c), lets ds_decide() judge, answers
 * denials with the Delta Sharing error JSON (ngx_http_ds_answer.c) and
 * hands allowed requests to the rate limiter. The verdict stays in a
 * context that survives internal redirects (ngx_http_ds_ctx.c), for the
 * variables (ngx_http_ds_variables.c), the list filter and the audit
 * log.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ds_module.h"
#include "ngx_http_ds_metrics.h"

#include "ds_digest.h"
#include "ds_http.h"


#define NGX_HTTP_DS_DEFAULT_PREFIX          "/delta-sharing"
#define NGX_HTTP_DS_DEFAULT_PURPOSE_HEADER  "X-DS-Purpose"


static void *ngx_http_ds_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_ds_create_srv_conf(ngx_conf_t *cf);
static char *ngx_http_ds_note_prefix(ngx_conf_t *cf,
    ngx_http_ds_loc_conf_t *dlcf);
static void *ngx_http_ds_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ds_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_ds_policy(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_ds_policy_cleanup(void *data);
static char *ngx_http_ds_geoip_db(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ds_prefix(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ds_purpose_header(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_ds_init(ngx_conf_t *cf);
static void ngx_http_ds_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_ds_commands[] = {

    { ngx_string("ds_policy"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_ds_policy,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ds_geoip_db"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_ds_geoip_db,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ds_enforce"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ds_loc_conf_t, enforce),
      NULL },

    /* issuers' jwks_uri (ngx_http_ds_jwks.c) */
    { ngx_string("ds_jwks_fetch"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_ds_jwks_fetch,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ds_jwks_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_ds_main_conf_t, jwks_ttl),
      NULL },

    { ngx_string("ds_jwks_refetch_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_ds_main_conf_t, jwks_gap),
      NULL },

    { ngx_string("ds_prefix"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ds_prefix,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ds_purpose_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ds_purpose_header,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_ds_module_ctx = {
    ngx_http_ds_add_variables,             /* preconfiguration */
    ngx_http_ds_init,                      /* postconfiguration */

    ngx_http_ds_create_main_conf,          /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_http_ds_create_srv_conf,           /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_ds_create_loc_conf,           /* create location configuration */
    ngx_http_ds_merge_loc_conf             /* merge location configuration */
};


ngx_module_t  ngx_http_ds_module = {
    NGX_MODULE_V1,
    &ngx_http_ds_module_ctx,               /* module context */
    ngx_http_ds_commands,                  /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_ds_exit_process,              /* exit process */
    ngx_http_ds_exit_process,              /* exit master */
    NGX_MODULE_V1_PADDING
};


/* --------------------------------------------------- configuration */


static void *
ngx_http_ds_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_ds_main_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ds_main_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->policy = NULL;
     *     conf->policy_path = { 0, NULL };
     *     conf->geo = NULL;
     *     conf->jwks_fetch = { 0, NULL };
     */

    conf->jwks_ttl = NGX_CONF_UNSET_MSEC;
    conf->jwks_gap = NGX_CONF_UNSET_MSEC;

    return conf;
}


static void *
ngx_http_ds_create_srv_conf(ngx_conf_t *cf)
{
    /* set by ngx_pcalloc(): prefixes = NULL */
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_ds_srv_conf_t));
}


/* the guard answers for URIs under it before routing, too */
static char *
ngx_http_ds_note_prefix(ngx_conf_t *cf, ngx_http_ds_loc_conf_t *dlcf)
{
    ngx_str_t               *prefix;
    ngx_uint_t               i;
    ngx_http_ds_srv_conf_t  *dscf;

    dscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_ds_module);

    if (dscf->prefixes == NULL) {
        dscf->prefixes = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
        if (dscf->prefixes == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    prefix = dscf->prefixes->elts;

    for (i = 0; i < dscf->prefixes->nelts; i++) {
        if (prefix[i].len == dlcf->prefix.len
            && ngx_strncmp(prefix[i].data, dlcf->prefix.data,
                           dlcf->prefix.len) == 0)
        {
            return NGX_CONF_OK;
        }
    }

    prefix = ngx_array_push(dscf->prefixes);
    if (prefix == NULL) {
        return NGX_CONF_ERROR;
    }

    *prefix = dlcf->prefix;

    return NGX_CONF_OK;
}


static void *
ngx_http_ds_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ds_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ds_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->prefix = { 0, NULL };
     *     conf->purpose_header = { 0, NULL };
     */

    conf->enforce = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_ds_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ds_loc_conf_t *prev = parent;
    ngx_http_ds_loc_conf_t *conf = child;

    ngx_http_ds_main_conf_t   *dmcf;
    ngx_http_core_srv_conf_t  *cscf;
    ngx_http_core_loc_conf_t  *clcf;

    ngx_conf_merge_value(conf->enforce, prev->enforce, 0);
    ngx_conf_merge_str_value(conf->prefix, prev->prefix,
                             NGX_HTTP_DS_DEFAULT_PREFIX);

    if (conf->purpose_header.data == NULL) {
        if (prev->purpose_header.data) {
            conf->purpose_header = prev->purpose_header;

        } else {
            ngx_str_set(&conf->purpose_header,
                        NGX_HTTP_DS_DEFAULT_PURPOSE_HEADER);

            conf->purpose_header.data = ngx_pstrdup(cf->pool,
                                                    &conf->purpose_header);
            if (conf->purpose_header.data == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_strlow(conf->purpose_header.data, conf->purpose_header.data,
                       conf->purpose_header.len);
        }
    }

    /* http{} is parsed whole before merging: ds_policy is known by now */
    dmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ds_module);

    if (!conf->enforce) {
        return NGX_CONF_OK;
    }

    if (dmcf->policy == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ds_enforce on\" requires \"ds_policy\" "
                           "at the http level");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_ds_jwks_conf_check(cf, dmcf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    /* the core module's location settings are merged by now */
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->satisfy == NGX_HTTP_SATISFY_ANY) {
        /* another access module's NGX_OK would skip the check */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ds_enforce on\" cannot be used with "
                           "\"satisfy any\" in location \"%V\"",
                           &clcf->name);
        return NGX_CONF_ERROR;
    }

    /*
     * nginx drops request headers with "_" in their names unless told
     * otherwise: such a purpose header would never be seen, and every
     * grant with purposes would deny. The core module's server
     * settings are merged before ours, so they are final here.
     */
    cscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);

    if (ngx_strlchr(conf->purpose_header.data,
                    conf->purpose_header.data + conf->purpose_header.len, '_')
        && !cscf->underscores_in_headers && cscf->ignore_invalid_headers)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "ds_purpose_header \"%V\" in location \"%V\" "
                      "has \"_\" in its name: nginx ignores such request "
                      "headers unless \"underscores_in_headers on\" is "
                      "set in the server (the default server of its "
                      "listen address); use \"-\" instead",
                      &conf->purpose_header, &clcf->name);
        return NGX_CONF_ERROR;
    }

    return ngx_http_ds_note_prefix(cf, conf);
}


static char *
ngx_http_ds_policy(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ds_main_conf_t *dmcf = conf;

    char                 err[DS_ERR_MAX];
    ngx_str_t           *value, path;
    ds_policy_t         *policy;
    ngx_pool_cleanup_t  *cln;

    if (dmcf->policy) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (path.len == 0) {
        return "requires a file or directory name";
    }

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    err[0] = '\0';

    /* path comes from ngx_conf_full_name(): NUL-terminated */
    policy = ds_policy_load((const char *) path.data, err, sizeof(err));

    if (policy == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "ds_policy: %s",
                           err[0] ? err : "cannot load the policy");
        ngx_http_ds_metrics_load_error();
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_ds_policy_cleanup;
    cln->data = policy;

    dmcf->policy = policy;
    dmcf->policy_path = path;

    ngx_conf_log_error(NGX_LOG_INFO, cf, 0,
                       "ds_policy: \"%V\" loaded: %uz recipients, %uz tokens, "
                       "version %s", &path, ds_policy_recipient_count(policy),
                       ds_policy_token_count(policy),
                       ds_policy_digest(policy));

    return NGX_CONF_OK;
}


static void
ngx_http_ds_policy_cleanup(void *data)
{
    ds_policy_free(data);
}


static char *
ngx_http_ds_geoip_db(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ds_main_conf_t *dmcf = conf;

    ngx_str_t  *value, path;

    if (dmcf->geo) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (path.len == 0) {
        return "requires a file name";
    }

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    dmcf->geo = ngx_http_ds_geo_open(cf, &path, &value[2],
                                     cf->args->nelts - 2);
    if (dmcf->geo == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_ds_prefix(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ds_loc_conf_t *dlcf = conf;

    u_char     *p, *last;
    ngx_str_t  *value;

    if (dlcf->prefix.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    /* "" mounts the API at the root; otherwise "/a/b", no trailing '/' */
    if (value[1].len) {
        if (value[1].data[0] != '/' || value[1].data[value[1].len - 1] == '/')
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ds_prefix \"%V\" must start with \"/\" and "
                               "must not end with \"/\"", &value[1]);
            return NGX_CONF_ERROR;
        }

        last = value[1].data + value[1].len;

        for (p = value[1].data; p < last; p++) {
            /* the raw URI is compared byte for byte: no encodings */
            if (*p <= 0x20 || *p >= 0x7f || *p == '%' || *p == '?'
                || *p == '#' || (*p == '/' && p + 1 < last && p[1] == '/'))
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "ds_prefix \"%V\" has an invalid "
                                   "character", &value[1]);
                return NGX_CONF_ERROR;
            }
        }
    }

    dlcf->prefix = value[1];

    if (dlcf->prefix.data == NULL) {
        /* an empty ngx_str_t may carry no data: mark it as set */
        dlcf->prefix.data = (u_char *) "";
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_ds_purpose_header(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ds_loc_conf_t *dlcf = conf;

    u_char     *p, *last;
    ngx_str_t  *value;

    if (dlcf->purpose_header.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "requires a header name";
    }

    last = value[1].data + value[1].len;

    /* an RFC 9110 token */
    for (p = value[1].data; p < last; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ds_purpose_header \"%V\" is not a valid "
                               "header name", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    dlcf->purpose_header.len = value[1].len;
    dlcf->purpose_header.data = ngx_pnalloc(cf->pool, value[1].len);
    if (dlcf->purpose_header.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_strlow(dlcf->purpose_header.data, value[1].data, value[1].len);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_ds_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ds_access_handler;

    return NGX_OK;
}


/* the token digest's OpenSSL objects, kept per process by the core */
static void
ngx_http_ds_exit_process(ngx_cycle_t *cycle)
{
    ds_digest_cleanup();
}

