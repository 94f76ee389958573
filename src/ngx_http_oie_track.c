/*
 * oie_track: the endpoint the pixel posts events to.  It checks, enriches
 * and pushes them into the shared ring, then answers at once; no network
 * I/O happens on this path.
 */

#include "ngx_http_oie_module.h"


static ngx_int_t ngx_http_oie_content_type_ok(ngx_http_request_t *r);
static void ngx_http_oie_track_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_oie_track_get(ngx_http_request_t *r);
static ngx_int_t ngx_http_oie_track_events(ngx_http_request_t *r,
    u_char *body, size_t len, ngx_flag_t gif);
static ngx_int_t ngx_http_oie_reject(ngx_http_request_t *r, ngx_uint_t why,
    ngx_uint_t status, const char *msg, ngx_str_t *detail);


ngx_int_t
ngx_http_oie_track_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_http_oie_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_oie_module);

    ngx_http_oie_count(requests, 1);

    if (!ngx_http_oie_origin_allowed(r, olcf)) {
        return ngx_http_oie_reject(r, OIE_REJECT_ORIGIN, NGX_HTTP_FORBIDDEN,
                                   "origin not allowed", NULL);
    }

    if (r->method == NGX_HTTP_OPTIONS) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_http_oie_cors(r, olcf, 1) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_oie_reply_empty(r, NGX_HTTP_NO_CONTENT);
    }

    if (ngx_http_oie_cors(r, olcf, 0) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_oie_track_get(r);
    }

    if (r->method != NGX_HTTP_POST) {
        if (ngx_http_oie_add_header(r, "Allow", "GET, HEAD, POST, OPTIONS")
            == NULL)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_oie_reject(r, OIE_REJECT_METHOD,
                                   NGX_HTTP_NOT_ALLOWED,
                                   "method not allowed", NULL);
    }

    if (!ngx_http_oie_content_type_ok(r)) {
        return ngx_http_oie_reject(r, OIE_REJECT_TYPE,
                                   NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                   "content type must be application/json "
                                   "or text/plain", NULL);
    }

    if (r->headers_in.content_length_n > (off_t) olcf->max_body) {
        return ngx_http_oie_reject(r, OIE_REJECT_TOO_LARGE,
                                   NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                   "body too large", NULL);
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_oie_track_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_oie_track_body(ngx_http_request_t *r)
{
    off_t                     total;
    u_char                   *body, *p;
    ssize_t                   n;
    ngx_buf_t                *b;
    ngx_int_t                 rc;
    ngx_chain_t              *cl;
    ngx_http_oie_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_oie_module);

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        rc = ngx_http_oie_reject(r, OIE_REJECT_JSON, NGX_HTTP_BAD_REQUEST,
                                 "empty body", NULL);
        ngx_http_finalize_request(r, rc);
        return;
    }

    total = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        total += ngx_buf_size(cl->buf);
    }

    /* chunked bodies have no Content-Length to check up front */
    if (total > (off_t) olcf->max_body) {
        rc = ngx_http_oie_reject(r, OIE_REJECT_TOO_LARGE,
                                 NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                 "body too large", NULL);
        ngx_http_finalize_request(r, rc);
        return;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        body = cl->buf->pos;

    } else {
        body = ngx_pnalloc(r->pool, (size_t) total + 1);
        if (body == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        p = body;

        for ( /* void */ ; cl; cl = cl->next) {
            b = cl->buf;

            if (b->in_file) {
                n = ngx_read_file(b->file, p, (size_t) (b->file_last
                                                        - b->file_pos),
                                  b->file_pos);
                if (n != b->file_last - b->file_pos) {
                    ngx_http_finalize_request(r,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
                    return;
                }
                p += n;

            } else {
                p = ngx_cpymem(p, b->pos, b->last - b->pos);
            }
        }
    }

    rc = ngx_http_oie_track_events(r, body, (size_t) total, 0);

    ngx_http_finalize_request(r, rc);
}


/* GET /t?d=<base64url JSON>: for pages or mail clients without JavaScript */
static ngx_int_t
ngx_http_oie_track_get(ngx_http_request_t *r)
{
    u_char                   *p;
    ngx_str_t                 arg, raw, json;
    ngx_http_oie_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_oie_module);

    if (ngx_http_arg(r, (u_char *) "d", 1, &arg) != NGX_OK || arg.len == 0) {
        return ngx_http_oie_reject(r, OIE_REJECT_JSON, NGX_HTTP_BAD_REQUEST,
                                   "missing \"d\" argument", NULL);
    }

    if (arg.len > olcf->max_body * 4 / 3 + 4) {
        return ngx_http_oie_reject(r, OIE_REJECT_TOO_LARGE,
                                   NGX_HTTP_REQUEST_URI_TOO_LARGE,
                                   "\"d\" too large", NULL);
    }

    raw.data = ngx_pnalloc(r->pool, arg.len);
    json.data = ngx_pnalloc(r->pool, ngx_base64_decoded_length(arg.len));
    if (raw.data == NULL || json.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = raw.data;
    ngx_unescape_uri(&p, &arg.data, arg.len, 0);
    raw.len = p - raw.data;

    /* the padding is optional in base64url */
    while (raw.len && raw.data[raw.len - 1] == '=') {
        raw.len--;
    }

    if (ngx_decode_base64url(&json, &raw) != NGX_OK) {
        return ngx_http_oie_reject(r, OIE_REJECT_JSON, NGX_HTTP_BAD_REQUEST,
                                   "\"d\" is not base64url", NULL);
    }

    return ngx_http_oie_track_events(r, json.data, json.len, 1);
}


static ngx_int_t
ngx_http_oie_track_events(ngx_http_request_t *r, u_char *body, size_t len,
    ngx_flag_t gif)
{
    ngx_int_t              rc;
    ngx_str_t              err;
    ngx_uint_t             i, reason;
    ngx_array_t            rows;
    ngx_http_oie_row_t      *out;
    ngx_http_oie_event_t    *ev;
    ngx_http_oie_req_ctx_t  *ctx;

    if (ngx_array_init(&rows, r->pool, 8, sizeof(ngx_http_oie_event_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_oie_events_rows(r, body, len, &rows, &err, &reason);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_oie_reject(r, reason, NGX_HTTP_BAD_REQUEST, NULL,
                                   &err);
    }

    ev = rows.elts;

    out = ngx_palloc(r->pool, rows.nelts * sizeof(ngx_http_oie_row_t));
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < rows.nelts; i++) {
        out[i].table = OIE_TABLE_EVENTS;
        out[i].data = ev[i].row.data;
        out[i].len = ev[i].row.len;
    }

    (void) ngx_http_oie_push_rows(r->connection->log, out, rows.nelts);

    ctx = ngx_http_oie_req_ctx(r);
    if (ctx) {
        ctx->events = rows.nelts;
        ctx->visitor_id = ev[0].visitor_id;
        ctx->lead_id = ev[0].lead_id;
    }

    if (ngx_http_oie_event_observer) {
        for (i = 0; i < rows.nelts; i++) {
            ngx_http_oie_event_observer(r, &ev[i]);
        }
    }

    if (gif) {
        return ngx_http_oie_reply_gif(r);
    }

    return ngx_http_oie_reply_empty(r, NGX_HTTP_NO_CONTENT);
}


static ngx_int_t
ngx_http_oie_reject(ngx_http_request_t *r, ngx_uint_t why, ngx_uint_t status,
    const char *msg, ngx_str_t *detail)
{
    ngx_http_oie_req_ctx_t  *ctx;

    ngx_http_oie_count(rejected[why], 1);

    ctx = ngx_http_oie_req_ctx(r);
    if (ctx) {
        ctx->reject = why;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    if (detail) {
        return ngx_http_oie_reply_json(r, status, "%V", detail);
    }

    return ngx_http_oie_reply_json(r, status, "%s", msg);
}


static ngx_int_t
ngx_http_oie_content_type_ok(ngx_http_request_t *r)
{
    u_char  *p, *end;
    size_t   n;

    if (r->headers_in.content_type == NULL) {
        return 0;
    }

    p = r->headers_in.content_type->value.data;
    end = p + r->headers_in.content_type->value.len;

    for (n = 0; p + n < end && p[n] != ';' && p[n] != ' '; n++) {
        /* void */
    }

    return (n == 16 && ngx_strncasecmp(p, (u_char *) "application/json", 16)
                       == 0)
           || (n == 10 && ngx_strncasecmp(p, (u_char *) "text/plain", 10)
                          == 0);
}


/*
 * No Origin header (a same-origin GET, curl, a server) is allowed: CORS
 * protects browsers' cross-origin requests, which always carry one.  With no
 * oie_allowed_origins only the page's own origin (same host) may post.
 */
ngx_int_t
ngx_http_oie_origin_allowed(ngx_http_request_t *r,
    ngx_http_oie_loc_conf_t *olcf)
{
    u_char           *p;
    ngx_str_t        *origin, *allowed, host;
    ngx_uint_t        i;
    ngx_table_elt_t  *h;

    h = ngx_http_oie_find_header(r, "origin");

    if (h == NULL) {
        return 1;
    }

    origin = &h->value;

    if (olcf->origins == NULL) {
        if (r->headers_in.host == NULL) {
            return 0;
        }

        host = r->headers_in.host->value;
        p = ngx_strlcasestrn(origin->data, origin->data + origin->len,
                             (u_char *) "://", 2);
        if (p == NULL) {
            return 0;
        }

        p += 3;

        return (size_t) (origin->data + origin->len - p) == host.len
               && ngx_strncasecmp(p, host.data, host.len) == 0;
    }

    allowed = olcf->origins->elts;

    for (i = 0; i < olcf->origins->nelts; i++) {
        if ((allowed[i].len == 1 && allowed[i].data[0] == '*')
            || (allowed[i].len == origin->len
                && ngx_strncasecmp(allowed[i].data, origin->data,
                                   origin->len) == 0))
        {
            return 1;
        }
    }

    return 0;
}
