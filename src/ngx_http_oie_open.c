/*
 * oie_open: GET /o/<id>.gif, the open pixel of an email.  Always a 1x1
 * transparent GIF that no one may cache (each open must reach us); the
 * email_open row says which lead, of which campaign, or why not.  The GIF
 * waits for the lead lookup at most the oie_redis timeout.
 *
 * Opens are not evidence of a person (mail clients and their privacy
 * proxies fetch images on their own): they never enter the live score.
 */

#include "ngx_http_oie_identity.h"
#include "ngx_http_oie_classify.h"


typedef struct {
    ngx_str_t                   raw;
    ngx_str_t                   id;
} ngx_http_oie_open_ctx_t;


static void ngx_http_oie_open_done(ngx_http_request_t *r,
    ngx_http_oie_lead_t *lead, ngx_uint_t status);
static ngx_int_t ngx_http_oie_open_answer(ngx_http_request_t *r,
    ngx_http_oie_open_ctx_t *ctx, ngx_http_oie_lead_t *lead,
    ngx_uint_t status, const char *outcome);


ngx_int_t
ngx_http_oie_open_handler(ngx_http_request_t *r)
{
    size_t                              n;
    ngx_uint_t                          rc, st;
    ngx_http_oie_lead_t                 lead;
    ngx_http_oie_open_ctx_t            *ctx;
    ngx_http_oie_identity_loc_conf_t   *ilcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        if (ngx_http_oie_add_header(r, "Allow", "GET, HEAD") == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_http_discard_request_body(r) != NGX_OK) {
            r->keepalive = 0;
        }

        return ngx_http_oie_reply_json(r, NGX_HTTP_NOT_ALLOWED,
                                       "method not allowed");
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ilcf = ngx_http_get_module_loc_conf(r, ngx_http_oie_identity_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_oie_open_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_oie_identity_module);

    ngx_http_oie_uri_id(r, ".gif", &ctx->raw);

    rc = ngx_http_oie_id_resolve(ilcf, ctx->raw.data, ctx->raw.len, &n);

    if (rc == OIE_IDR_MALFORMED) {
        return ngx_http_oie_open_answer(r, ctx, NULL, OIE_LEAD_UNKNOWN,
                                        "malformed_id");
    }

    ctx->id.data = ctx->raw.data;
    ctx->id.len = n;

    if (rc == OIE_IDR_BAD_SIGNATURE) {
        return ngx_http_oie_open_answer(r, ctx, NULL, OIE_LEAD_UNKNOWN,
                                        "bad_signature");
    }

    st = ngx_http_oie_lead_lookup(r, ctx->id.data, ctx->id.len, &lead,
                                  ngx_http_oie_open_done);

    if (st == OIE_LEAD_AGAIN) {
        return NGX_DONE;
    }

    return ngx_http_oie_open_answer(r, ctx, &lead, st,
                                    ngx_http_oie_lead_outcome(st));
}


static void
ngx_http_oie_open_done(ngx_http_request_t *r, ngx_http_oie_lead_t *lead,
    ngx_uint_t status)
{
    ngx_http_oie_open_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oie_identity_module);

    ngx_http_finalize_request(r,
        ngx_http_oie_open_answer(r, ctx, lead, status,
                                 ngx_http_oie_lead_outcome(status)));
}


static ngx_int_t
ngx_http_oie_open_answer(ngx_http_request_t *r, ngx_http_oie_open_ctx_t *ctx,
    ngx_http_oie_lead_t *lead, ngx_uint_t status, const char *outcome)
{
    ngx_str_t             *campaign;
    ngx_http_oie_click_t   ck;

    if (ngx_http_oie_click_init(r, &ck, "email_open") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ck.lead_id = ctx->id;
    ck.outcome = outcome;
    campaign = NULL;

    if (status == OIE_LEAD_FOUND) {
        campaign = ngx_http_oie_lead_field(lead, "campaign");

        if (campaign) {
            ck.campaign = *campaign;
        }

    } else {
        ck.raw_id = ctx->raw;
    }

    ngx_http_oie_click_classify(r, &ck, OIE_KIND_OPEN, &ctx->id, campaign);

    (void) ngx_http_oie_click_push(r->connection->log, &ck);

    /* not even a proxy may keep it: the next open must come to us */
    if (ngx_http_oie_add_header(r, "Expires", "Thu, 01 Jan 1970 00:00:00 GMT")
        == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_oie_reply_gif(r);
}
