/*
 * $oie_* variables, for access-log formats: what the module made of the
 * request.
 */

#include "ngx_http_oie_module.h"


static ngx_int_t ngx_http_oie_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


#define OIE_VAR_EVENTS      0
#define OIE_VAR_VISITOR     1
#define OIE_VAR_LEAD        2
#define OIE_VAR_REJECT      3
#define OIE_VAR_CLASS       4


static ngx_http_variable_t  ngx_http_oie_vars[] = {

    { ngx_string("oie_events"), NULL, ngx_http_oie_variable,
      OIE_VAR_EVENTS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("oie_visitor_id"), NULL, ngx_http_oie_variable,
      OIE_VAR_VISITOR, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("oie_lead_id"), NULL, ngx_http_oie_variable,
      OIE_VAR_LEAD, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("oie_reject"), NULL, ngx_http_oie_variable,
      OIE_VAR_REJECT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("oie_traffic_class"), NULL, ngx_http_oie_variable,
      OIE_VAR_CLASS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static const char  *ngx_http_oie_reject_vars[OIE_REJECT_N] = {
    "method", "origin", "content_type", "too_large", "json", "batch", "event"
};


ngx_int_t
ngx_http_oie_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_oie_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


ngx_http_oie_req_ctx_t *
ngx_http_oie_req_ctx(ngx_http_request_t *r)
{
    ngx_http_oie_req_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oie_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_oie_req_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ctx->reject = -1;
        ngx_http_set_ctx(r, ctx, ngx_http_oie_module);
    }

    return ctx;
}


static ngx_int_t
ngx_http_oie_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    u_char                  *p;
    ngx_str_t               *s;
    ngx_http_oie_req_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_oie_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = NULL;

    switch (data) {

    case OIE_VAR_EVENTS:
        p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }
        v->len = ngx_sprintf(p, "%ui", ctx->events) - p;
        v->data = p;
        goto found;

    case OIE_VAR_VISITOR:
        s = &ctx->visitor_id;
        break;

    case OIE_VAR_LEAD:
        s = &ctx->lead_id;
        break;

    case OIE_VAR_REJECT:
        if (ctx->reject < 0 || ctx->reject >= OIE_REJECT_N) {
            v->not_found = 1;
            return NGX_OK;
        }
        v->data = (u_char *) ngx_http_oie_reject_vars[ctx->reject];
        v->len = ngx_strlen(v->data);
        goto found;

    default: /* OIE_VAR_CLASS */
        s = &ctx->traffic_class;
        break;
    }

    if (s->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = s->data;
    v->len = s->len;

found:

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}
