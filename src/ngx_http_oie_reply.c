/*
 * Small answers shared by the endpoints: JSON errors, empty answers, the
 * 1x1 GIF, and the CORS headers.
 */

#include "ngx_http_oie_module.h"
#include "oie_json.h"


/* a 1x1 transparent GIF89a: header, screen, 2-colour table, transparency
 * extension, one image block, trailer */
static u_char  ngx_http_oie_gif[] = {
    'G', 'I', 'F', '8', '9', 'a',
    0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00,
    0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
    0x02, 0x02, 0x44, 0x01, 0x00,
    0x3b
};


ngx_table_elt_t *
ngx_http_oie_add_header(ngx_http_request_t *r, const char *key,
    const char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);

    return h;
}


ngx_table_elt_t *
ngx_http_oie_find_header(ngx_http_request_t *r, const char *name)
{
    size_t            n;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    n = ngx_strlen(name);
    part = &r->headers_in.headers.part;
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

        if (h[i].key.len == n
            && ngx_memcmp(h[i].lowcase_key, name, n) == 0)
        {
            return &h[i];
        }
    }
}


ngx_int_t
ngx_http_oie_reply_buf(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *data, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;

    if (type) {
        r->headers_out.content_type = *type;
        r->headers_out.content_type_len = type->len;
    }

    if (len == 0) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = data;
    b->last = data + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_oie_reply_empty(ngx_http_request_t *r, ngx_uint_t status)
{
    return ngx_http_oie_reply_buf(r, status, NULL, NULL, 0);
}


ngx_int_t
ngx_http_oie_reply_gif(ngx_http_request_t *r)
{
    ngx_str_t  type = ngx_string("image/gif");

    if (ngx_http_oie_add_header(r, "Cache-Control",
                                "no-store, no-cache, must-revalidate")
        == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_oie_reply_buf(r, NGX_HTTP_OK, &type, ngx_http_oie_gif,
                                  sizeof(ngx_http_oie_gif));
}


/* {"error":"<message>"}: the message is escaped, it may quote the input */
ngx_int_t
ngx_http_oie_reply_json(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...)
{
    u_char     msg[256], *body, *p, *last;
    va_list    args;
    ngx_str_t  type = ngx_string("application/json");

    va_start(args, fmt);
    last = ngx_vslprintf(msg, msg + sizeof(msg), fmt, args);
    va_end(args);

    body = ngx_pnalloc(r->pool, sizeof("{\"error\":\"\"}\n") - 1
                                + oie_json_escaped_len(msg, last - msg));
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body, "{\"error\":\"", 10);
    p = oie_json_escape(p, msg, last - msg);
    p = ngx_cpymem(p, "\"}\n", 3);

    if (ngx_http_oie_add_header(r, "Cache-Control", "no-store") == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_oie_reply_buf(r, status, &type, body, p - body);
}


/*
 * The origin was checked already; allowed cross-origin requests get it
 * echoed (never "*": sendBeacon sends credentials, and "*" does not cover
 * those).
 */
ngx_int_t
ngx_http_oie_cors(ngx_http_request_t *r, ngx_http_oie_loc_conf_t *olcf,
    ngx_flag_t preflight)
{
    ngx_table_elt_t  *origin, *h;

    origin = ngx_http_oie_find_header(r, "origin");

    if (origin == NULL) {
        return NGX_OK;
    }

    h = ngx_http_oie_add_header(r, "Access-Control-Allow-Origin", "");
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->value = origin->value;

    if (ngx_http_oie_add_header(r, "Access-Control-Allow-Credentials", "true")
        == NULL
        || ngx_http_oie_add_header(r, "Vary", "Origin") == NULL)
    {
        return NGX_ERROR;
    }

    if (!preflight) {
        return NGX_OK;
    }

    if (ngx_http_oie_add_header(r, "Access-Control-Allow-Methods",
                                "POST, GET, OPTIONS")
        == NULL
        || ngx_http_oie_add_header(r, "Access-Control-Allow-Headers",
                                   "Content-Type")
           == NULL
        || ngx_http_oie_add_header(r, "Access-Control-Max-Age", "86400")
           == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}
