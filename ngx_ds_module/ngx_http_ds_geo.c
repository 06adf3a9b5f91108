/* ngx_http_ds_geo.c: placeholder until geography lands. */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
