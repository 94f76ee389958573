/*
 * A module with memory errors on request, for t/san/canary.t: proof that
 * make test SAN=1 (ASan, UBSan) and the valgrind mode catch what they are
 * there to catch.  t/san/canary.t compiles it against the nginx tree of
 * the build under test (build-san/nginx: instrumented) and loads it.
 * Never part of the real module.
 *
 *   location = /canary { oie_canary; }
 *
 *   GET /canary?heap     reads one byte past a heap buffer (ASan)
 *   GET /canary?ubsan    overflows a signed int (UBSan)
 *   GET /canary          204, no error
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


static char *ngx_http_oie_canary(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_oie_canary_handler(ngx_http_request_t *r);


static ngx_command_t  ngx_http_oie_canary_commands[] = {

    { ngx_string("oie_canary"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_oie_canary,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_oie_canary_module_ctx = {
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
};


ngx_module_t  ngx_http_oie_canary_module = {
    NGX_MODULE_V1,
    &ngx_http_oie_canary_module_ctx,
    ngx_http_oie_canary_commands,
    NGX_HTTP_MODULE,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NGX_MODULE_V1_PADDING
};


/* what configure generates for a dynamic module */
ngx_module_t  *ngx_modules[] = { &ngx_http_oie_canary_module, NULL };
char          *ngx_module_names[] = { "ngx_http_oie_canary_module", NULL };
char          *ngx_module_order[] = { NULL };


static ngx_int_t
ngx_http_oie_canary_handler(ngx_http_request_t *r)
{
    u_char        *buf;
    ngx_int_t      rc;
    volatile int   n;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (r->args.len == 4 && ngx_strncmp(r->args.data, "heap", 4) == 0) {
        buf = ngx_alloc(8, r->connection->log);
        if (buf == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memzero(buf, 8);
        n = buf[8 + r->args.len - 4];
        ngx_free(buf);

        r->headers_out.status = NGX_HTTP_NO_CONTENT + n;

    } else if (r->args.len == 5
               && ngx_strncmp(r->args.data, "ubsan", 5) == 0)
    {
        n = NGX_MAX_INT32_VALUE;
        n = n + (int) r->args.len;
        r->headers_out.status = NGX_HTTP_NO_CONTENT + (n != 0);

    } else {
        r->headers_out.status = NGX_HTTP_NO_CONTENT;
    }

    r->header_only = 1;
    r->headers_out.content_length_n = 0;

    return ngx_http_send_header(r);
}


static char *
ngx_http_oie_canary(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_oie_canary_handler;

    return NGX_CONF_OK;
}
