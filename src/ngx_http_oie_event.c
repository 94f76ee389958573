/*
 * Page events: the pixel's wire format in, one compact JSON row per event
 * out (the columns of sql/schemas/events.json).  The parsing and checking
 * are in oie_event.c (pure C, fuzzed); this file adds what only nginx knows:
 * the time, the client's address and user agent, and a unique event id.
 * A request's events are all checked before any is accepted, so a bad batch
 * is refused whole.
 */

#include "ngx_http_oie_module.h"
#include "ngx_http_oie_classify.h"
#include "oie_event.h"


static ngx_int_t ngx_http_oie_event_info(ngx_http_request_t *r,
    oie_wire_event_t *wev, ngx_http_oie_event_t *out);
static ngx_int_t ngx_http_oie_copy_str(ngx_http_request_t *r, oie_jval_t *v,
    ngx_str_t *dst);
static u_char *ngx_http_oie_hex(u_char *dst, uint64_t v, ngx_uint_t n);


/* per worker: a batch is parsed and written before the next one starts */
static oie_wire_batch_t        ngx_http_oie_wire;
static u_char                  ngx_http_oie_row_buf[OIE_MAX_ROW];
static ngx_http_oie_traffic_t  ngx_http_oie_traffic;
static ngx_http_oie_traffic_t  ngx_http_oie_traffic_ev;

ngx_http_oie_event_observer_pt  ngx_http_oie_event_observer;


ngx_int_t
ngx_http_oie_events_rows(ngx_http_request_t *r, u_char *body, size_t len,
    ngx_array_t *rows, ngx_str_t *err, ngx_uint_t *reason)
{
    u_char                  id[OIE_EVENT_ID_LEN];
    size_t                  n;
    ngx_int_t               classified;
    ngx_str_t               vid, ip;
    ngx_uint_t              i;
    oie_row_ctx_t           ctx;
    oie_wire_batch_t       *b = &ngx_http_oie_wire;
    ngx_http_oie_event_t   *ev;
    ngx_http_oie_traffic_t *tr = &ngx_http_oie_traffic;
    ngx_http_oie_traffic_t *etr = &ngx_http_oie_traffic_ev;

    switch (oie_event_parse(body, len, b)) {

    case OIE_EVENT_OK:
        break;

    case OIE_EVENT_BAD_JSON:
        *reason = OIE_REJECT_JSON;
        goto invalid;

    case OIE_EVENT_BAD_BATCH:
        *reason = OIE_REJECT_BATCH;
        goto invalid;

    default:
        *reason = OIE_REJECT_EVENT;
        goto invalid;
    }

    ctx.event_id = id;
    ctx.event_id_len = OIE_EVENT_ID_LEN;
    ctx.received_ms = ngx_http_oie_now_msec();
    ctx.sent_at = b->sent_at;
    /* one classification per request (and one timing hit), keyed by the
     * first event's visitor; each event adds its own webdriver flag */
    if (ngx_http_oie_copy_str(r, &b->ev[0].f[OIE_F_VISITOR_ID], &vid)
        != NGX_OK
        || ngx_http_oie_client_ip(r, &ip) != NGX_OK)
    {
        return NGX_ERROR;
    }

    classified = ngx_http_oie_classify_request(r, OIE_KIND_PAGE, &vid, NULL,
                                               0, tr);

    ctx.ip = ip.data;
    ctx.ip_len = ip.len;
    ctx.traffic_class = NULL;
    ctx.traffic_reasons = NULL;
    ctx.traffic_reasons_len = 0;

    if (r->headers_in.user_agent) {
        ctx.user_agent = r->headers_in.user_agent->value.data;
        ctx.user_agent_len = r->headers_in.user_agent->value.len;

    } else {
        ctx.user_agent = NULL;
        ctx.user_agent_len = 0;
    }

    for (i = 0; i < b->n; i++) {
        ev = ngx_array_push(rows);
        if (ev == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(ev, sizeof(ngx_http_oie_event_t));

        ngx_http_oie_event_id(id);

        if (classified == NGX_OK) {
            ngx_http_oie_classify_event(tr, b->ev[i].f[OIE_F_WEBDRIVER].kind
                                            == OIE_J_TRUE, etr);
            ctx.traffic_class = etr->name;
            ctx.traffic_reasons = etr->reasons.data;
            ctx.traffic_reasons_len = etr->reasons.len;
        }

        n = oie_event_row(&b->ev[i], &ctx, ngx_http_oie_row_buf,
                          sizeof(ngx_http_oie_row_buf));
        if (n == 0) {
            *reason = OIE_REJECT_EVENT;
            err->data = ngx_pnalloc(r->pool, 64);
            if (err->data == NULL) {
                return NGX_ERROR;
            }
            err->len = ngx_sprintf(err->data, "event %ui: is too large", i)
                       - err->data;
            return NGX_DECLINED;
        }

        ev->row.data = ngx_pnalloc(r->pool, n);
        if (ev->row.data == NULL) {
            return NGX_ERROR;
        }

        ev->row.len = n;
        ngx_memcpy(ev->row.data, ngx_http_oie_row_buf, n);

        if (ngx_http_oie_event_observer) {
            if (ngx_http_oie_event_info(r, &b->ev[i], ev) != NGX_OK) {
                return NGX_ERROR;
            }

        } else if (i == 0) {
            /* for $oie_visitor_id and $oie_lead_id */
            if (ngx_http_oie_copy_str(r, &b->ev[0].f[OIE_F_VISITOR_ID],
                                      &ev->visitor_id)
                != NGX_OK
                || ngx_http_oie_copy_str(r, &b->ev[0].f[OIE_F_LEAD_ID],
                                         &ev->lead_id)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;

invalid:

    err->len = ngx_strlen(b->message);
    err->data = ngx_pnalloc(r->pool, err->len);
    if (err->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(err->data, b->message, err->len);

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_oie_copy_str(ngx_http_request_t *r, oie_jval_t *v, ngx_str_t *dst)
{
    long  n;

    dst->len = 0;
    dst->data = NULL;

    if (v->kind != OIE_J_STRING || v->dlen == 0) {
        return NGX_OK;
    }

    dst->data = ngx_pnalloc(r->pool, v->dlen);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    n = oie_event_string(v, dst->data, v->dlen);
    dst->len = n > 0 ? (size_t) n : 0;

    return NGX_OK;
}


/* what observers get, decoded, in request memory */
static ngx_int_t
ngx_http_oie_event_info(ngx_http_request_t *r, oie_wire_event_t *wev,
    ngx_http_oie_event_t *out)
{
    const char  *type;

    type = oie_event_type_name(wev);
    out->type.data = (u_char *) type;
    out->type.len = ngx_strlen(type);

    if (ngx_http_oie_copy_str(r, &wev->f[OIE_F_VISITOR_ID], &out->visitor_id)
        != NGX_OK
        || ngx_http_oie_copy_str(r, &wev->f[OIE_F_LEAD_ID], &out->lead_id)
           != NGX_OK
        || ngx_http_oie_copy_str(r, &wev->f[OIE_F_SESSION_ID],
                                 &out->session_id)
           != NGX_OK
        || ngx_http_oie_copy_str(r, &wev->f[OIE_F_URL], &out->url) != NGX_OK
        || ngx_http_oie_copy_str(r, &wev->f[OIE_F_ACTION], &out->video_action)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    out->time_ms = oie_event_int(&wev->f[OIE_F_TIMESTAMP]);
    out->scroll_depth = oie_event_int(&wev->f[OIE_F_DEPTH]);
    out->engaged_ms = oie_event_int(&wev->f[OIE_F_ENGAGED_MS]);
    out->webdriver = (wev->f[OIE_F_WEBDRIVER].kind == OIE_J_TRUE);

    return NGX_OK;
}


void
ngx_http_oie_event_id(u_char *dst)
{
    ngx_http_oie_worker_t  *w = &ngx_http_oie_worker;

    /* time, process, a random salt per process start, a sequence: 12, 6,
     * 8 and 6 hex digits (by hand: ngx_sprintf showed in /t's profile) */
    dst = ngx_http_oie_hex(dst, (uint64_t) ngx_http_oie_now_msec(), 12);
    dst = ngx_http_oie_hex(dst, (uint64_t) ngx_pid, 6);
    dst = ngx_http_oie_hex(dst, (uint64_t) w->id_salt, 8);
    (void) ngx_http_oie_hex(dst, (uint64_t) w->id_seq++, 6);
}


/* the low n hex digits of v, lower case */
static u_char *
ngx_http_oie_hex(u_char *dst, uint64_t v, ngx_uint_t n)
{
    ngx_uint_t           i;
    static const u_char  hex[] = "0123456789abcdef";

    for (i = n; i > 0; i--) {
        dst[i - 1] = hex[v & 0xf];
        v >>= 4;
    }

    return dst + n;
}


int64_t
ngx_http_oie_now_msec(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}


u_char *
ngx_http_oie_iso_time(u_char *p, int64_t ms)
{
    *p++ = '"';
    p = oie_iso_time(p, ms);
    *p++ = '"';

    return p;
}
