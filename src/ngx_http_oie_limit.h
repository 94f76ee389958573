/*
 * oie_miss_limit (ngx_http_oie_limit_module.c): what /r/ and /p ask of it.
 */

#ifndef _NGX_HTTP_OIE_LIMIT_H_INCLUDED_
#define _NGX_HTTP_OIE_LIMIT_H_INCLUDED_

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* milliseconds until the client may look ids up again; 0: it may now */
ngx_msec_t ngx_http_oie_limit_wait(ngx_http_request_t *r);

/* the client asked for an id that is malformed, badly signed or unknown */
void ngx_http_oie_limit_miss(ngx_http_request_t *r);


extern ngx_module_t  ngx_http_oie_limit_module;


#endif /* _NGX_HTTP_OIE_LIMIT_H_INCLUDED_ */
