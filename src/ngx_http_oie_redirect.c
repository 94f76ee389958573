/*
 * oie_redirect: GET /r/<id> answers 302 to the lead's destination with
 * i=<id> added, and records an email_click.  The click never fails: an id
 * that is malformed, badly signed or unknown goes to the fallback; so does
 * a lookup Redis could not answer within the timeout, but then with i=<id>
 * (the id is well formed and, when ids are signed, genuine), so the landing
 * page still knows who came.
 *
 * Only two places are ever redirected to: the destination stored for the
 * lead, and the configured fallback.  Nothing in the request (its query,
 * its headers) can choose the target.
 */

#include "ngx_http_oie_identity.h"
#include "ngx_http_oie_classify.h"
#include "ngx_http_oie_limit.h"


#define OIE_REDIRECT_URL_MAX    4096


typedef struct {
    ngx_str_t                   raw;          /* the id as in the link */
    ngx_str_t                   id;           /* the bare id */
} ngx_http_oie_redirect_ctx_t;


static void ngx_http_oie_redirect_done(ngx_http_request_t *r,
    ngx_http_oie_lead_t *lead, ngx_uint_t status);
static ngx_int_t ngx_http_oie_redirect_answer(ngx_http_request_t *r,
    ngx_http_oie_redirect_ctx_t *ctx, ngx_http_oie_lead_t *lead,
    ngx_uint_t status, const char *outcome);
static ngx_int_t ngx_http_oie_redirect_url_ok(ngx_str_t *url);
static ngx_int_t ngx_http_oie_redirect_with_id(ngx_pool_t *pool,
    ngx_str_t *url, ngx_str_t *id, ngx_str_t *out);


ngx_int_t
ngx_http_oie_redirect_handler(ngx_http_request_t *r)
{
    size_t                              n;
    ngx_uint_t                          rc, st;
    ngx_http_oie_lead_t                 lead;
    ngx_http_oie_redirect_ctx_t        *ctx;
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

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_oie_redirect_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_oie_identity_module);

    ngx_http_oie_uri_id(r, NULL, &ctx->raw);

    rc = ngx_http_oie_id_resolve(ilcf, ctx->raw.data, ctx->raw.len, &n);

    /* over oie_miss_limit: the fallback, unless the id is signed right */
    if (!(rc == OIE_IDR_OK && ilcf->secret.len)
        && ngx_http_oie_limit_wait(r))
    {
        return ngx_http_oie_redirect_answer(r, ctx, NULL, OIE_LEAD_UNKNOWN,
                                            "limited");
    }

    if (rc == OIE_IDR_MALFORMED) {
        return ngx_http_oie_redirect_answer(r, ctx, NULL, OIE_LEAD_UNKNOWN,
                                            "malformed_id");
    }

    ctx->id.data = ctx->raw.data;
    ctx->id.len = n;

    if (rc == OIE_IDR_BAD_SIGNATURE) {
        return ngx_http_oie_redirect_answer(r, ctx, NULL, OIE_LEAD_UNKNOWN,
                                            "bad_signature");
    }

    st = ngx_http_oie_lead_lookup(r, ctx->id.data, ctx->id.len, &lead,
                                  ngx_http_oie_redirect_done);

    if (st == OIE_LEAD_AGAIN) {
        return NGX_DONE;
    }

    return ngx_http_oie_redirect_answer(r, ctx, &lead, st,
                                        ngx_http_oie_lead_outcome(st));
}


static void
ngx_http_oie_redirect_done(ngx_http_request_t *r, ngx_http_oie_lead_t *lead,
    ngx_uint_t status)
{
    ngx_http_oie_redirect_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oie_identity_module);

    ngx_http_finalize_request(r,
        ngx_http_oie_redirect_answer(r, ctx, lead, status,
                                     ngx_http_oie_lead_outcome(status)));
}


static ngx_int_t
ngx_http_oie_redirect_answer(ngx_http_request_t *r,
    ngx_http_oie_redirect_ctx_t *ctx, ngx_http_oie_lead_t *lead,
    ngx_uint_t status, const char *outcome)
{
    ngx_str_t                          *dest, *campaign, target, fallback;
    ngx_table_elt_t                    *h;
    ngx_http_oie_click_t                ck;
    ngx_http_oie_identity_loc_conf_t   *ilcf;

    ilcf = ngx_http_get_module_loc_conf(r, ngx_http_oie_identity_module);

    fallback = ilcf->fallback;
    campaign = NULL;

    if (status == OIE_LEAD_FOUND) {
        dest = ngx_http_oie_lead_field(lead, "destination");
        campaign = ngx_http_oie_lead_field(lead, "campaign");

        if (dest == NULL || !ngx_http_oie_redirect_url_ok(dest)) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "oie: lead \"%V\" has no usable destination, "
                          "sent to the fallback", &ctx->id);
            dest = &fallback;
        }

        if (ngx_http_oie_redirect_with_id(r->pool, dest, &ctx->raw, &target)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else if (status == OIE_LEAD_UNKNOWN) {
        /* unknown, malformed or forged: no id travels on */
        target = fallback;

        if (ngx_strcmp(outcome, "limited") != 0) {
            ngx_http_oie_limit_miss(r);
        }

    } else {
        /* Redis could not say: the id is still good for the landing page */
        if (ngx_http_oie_redirect_with_id(r->pool, &fallback, &ctx->raw,
                                          &target)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ngx_http_oie_click_init(r, &ck, "email_click") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ck.lead_id = ctx->id;
    ck.outcome = outcome;
    ck.destination = target;

    if (campaign) {
        ck.campaign = *campaign;
    }

    if (status != OIE_LEAD_FOUND) {
        ck.raw_id = ctx->raw;
    }

    /* a browser following a link sends GET; HEAD is a link checker */
    ngx_http_oie_click_classify(r, &ck, OIE_KIND_CLICK, &ctx->id, campaign);

    (void) ngx_http_oie_click_push(r->connection->log, &ck);

    if (status == OIE_LEAD_FOUND && r->method == NGX_HTTP_GET) {
        ngx_http_oie_confirm_click(r, ctx->id.data, ctx->id.len,
                                   ck.traffic_class);
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Location");
    h->value = target;
    r->headers_out.location = h;

    if (ngx_http_oie_add_header(r, "Cache-Control", "no-store") == NULL
        || ngx_http_oie_add_header(r, "Referrer-Policy", "no-referrer")
           == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_oie_reply_empty(r, NGX_HTTP_MOVED_TEMPORARILY);
}


/* an absolute http(s) URL with a host */
static ngx_int_t
ngx_http_oie_redirect_url_ok(ngx_str_t *url)
{
    size_t  n;

    if (url->len > 7 && ngx_strncasecmp(url->data, (u_char *) "http://", 7)
                        == 0)
    {
        n = 7;

    } else if (url->len > 8
               && ngx_strncasecmp(url->data, (u_char *) "https://", 8) == 0)
    {
        n = 8;

    } else {
        return 0;
    }

    return url->len <= OIE_REDIRECT_URL_MAX && url->data[n] != '/'
           && url->data[n] != '?' && url->data[n] != '#';
}


/*
 * url with i=<id> in its query: the query's other parameters are kept as
 * they are, in order, any "i" among them is dropped, the fragment stays at
 * the end.  Bytes that may not appear in a Location header (controls,
 * spaces, non-ASCII) are percent-encoded.
 */
static ngx_int_t
ngx_http_oie_redirect_with_id(ngx_pool_t *pool, ngx_str_t *url,
    ngx_str_t *id, ngx_str_t *out)
{
    u_char  *p, *end, *q, *frag, *param, *amp, *eq, *dst;
    size_t   len;

    static u_char  hex[] = "0123456789ABCDEF";

    end = url->data + url->len;

    frag = ngx_strlchr(url->data, end, '#');
    if (frag == NULL) {
        frag = end;
    }

    q = ngx_strlchr(url->data, frag, '?');

    /* at worst every byte encoded, plus "?i=<id>" and "&" */
    len = url->len * 3 + id->len + 4;

    dst = ngx_pnalloc(pool, len);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    out->data = dst;
    p = dst;

    dst = ngx_cpymem(dst, url->data, (q ? q : frag) - url->data);
    *dst++ = '?';

    if (q) {
        for (param = q + 1; param < frag; param = amp + 1) {
            amp = ngx_strlchr(param, frag, '&');
            if (amp == NULL) {
                amp = frag;
            }

            eq = ngx_strlchr(param, amp, '=');
            if (eq == NULL) {
                eq = amp;
            }

            if (amp == param || (eq - param == 1 && *param == 'i')) {
                continue;
            }

            dst = ngx_cpymem(dst, param, amp - param);
            *dst++ = '&';
        }
    }

    *dst++ = 'i';
    *dst++ = '=';
    dst = ngx_cpymem(dst, id->data, id->len);
    dst = ngx_cpymem(dst, frag, end - frag);

    /* encode in place, from the end, what a header cannot carry */
    end = dst;
    len = 0;

    for (q = p; q < end; q++) {
        if (*q <= 0x20 || *q >= 0x7f) {
            len += 2;
        }
    }

    out->len = (end - p) + len;

    if (len) {
        dst = p + out->len;

        for (q = end; q > p; /* void */ ) {
            q--;

            if (*q <= 0x20 || *q >= 0x7f) {
                *--dst = hex[*q & 0x0f];
                *--dst = hex[*q >> 4];
                *--dst = '%';

            } else {
                *--dst = *q;
            }
        }
    }

    return NGX_OK;
}
