/*
 * Rows of email_clicks (email_click, email_open, click_confirmed), in the
 * column order of sql/schemas/email_clicks.json.  Header values are the
 * client's bytes: anything that is not UTF-8 becomes U+FFFD, so a row is
 * always valid JSON.
 */

#include "ngx_http_oie_identity.h"
#include "ngx_http_oie_classify.h"
#include "oie_json.h"


#define OIE_CLICK_ROW_MAX       OIE_MAX_ROW
#define OIE_CLICK_RAW_ID_MAX    64
#define OIE_CLICK_UA_MAX        1024
#define OIE_CLICK_URL_MAX       2048


typedef struct {
    u_char                     *p;
    u_char                     *end;
    ngx_uint_t                  overflow;
} ngx_http_oie_click_w_t;


static void ngx_http_oie_click_key(ngx_http_oie_click_w_t *w,
    const char *key);
static void ngx_http_oie_click_str(ngx_http_oie_click_w_t *w,
    const char *key, ngx_str_t *s, size_t max);
static void ngx_http_oie_click_raw(ngx_http_oie_click_w_t *w,
    const char *key, u_char *s, size_t len);
static size_t ngx_http_oie_click_utf8(u_char *p, size_t n);


static u_char  ngx_http_oie_click_buf[OIE_CLICK_ROW_MAX];


/* the request's side of a row: time, method, address (as oie_ip_anonymize
 * says), user agent, referrer */
ngx_int_t
ngx_http_oie_click_init(ngx_http_request_t *r, ngx_http_oie_click_t *ck,
    const char *type)
{
    ngx_memzero(ck, sizeof(ngx_http_oie_click_t));

    ck->type = type;
    ck->time_ms = ngx_http_oie_now_msec();
    ck->method = r->method_name;

    if (ngx_http_oie_client_ip(r, &ck->ip) != NGX_OK) {
        return NGX_ERROR;
    }

    if (r->headers_in.user_agent) {
        ck->user_agent = r->headers_in.user_agent->value;
    }

    if (r->headers_in.referer) {
        ck->referrer = r->headers_in.referer->value;
    }

    return NGX_OK;
}


/*
 * Who clicked or opened: ngx_http_oie_classify_module's answer, once per
 * request (it also counts the hit for its timing rules).  With "oie_classify
 * off" a HEAD is still no person.  The reasons point into t's buffer, which
 * the caller keeps until the row is pushed.
 */
void
ngx_http_oie_click_classify(ngx_http_request_t *r, ngx_http_oie_click_t *ck,
    ngx_uint_t kind, ngx_str_t *id, ngx_str_t *campaign)
{
    ngx_http_oie_traffic_t  *t;

    t = ngx_palloc(r->pool, sizeof(ngx_http_oie_traffic_t));

    if (t && ngx_http_oie_classify_request(r, kind, id, campaign, 0, t)
             == NGX_OK)
    {
        ck->traffic_class = t->name;
        ck->traffic_reasons = t->reasons;
        return;
    }

    if (r->method == NGX_HTTP_HEAD) {
        ck->traffic_class = "bot";
        ngx_str_set(&ck->traffic_reasons, "[\"method:head\"]");
    }
}


ngx_int_t
ngx_http_oie_click_push(ngx_log_t *log, ngx_http_oie_click_t *ck)
{
    u_char                  id[OIE_EVENT_ID_LEN], t[OIE_ISO_TIME_LEN];
    size_t                  tlen;
    ngx_str_t               s;
    ngx_http_oie_click_w_t  w;

    w.p = ngx_http_oie_click_buf;
    w.end = ngx_http_oie_click_buf + sizeof(ngx_http_oie_click_buf);
    w.overflow = 0;

    *w.p++ = '{';

    ngx_http_oie_event_id(id);
    s.data = id;
    s.len = OIE_EVENT_ID_LEN;
    ngx_http_oie_click_str(&w, "event_id", &s, s.len);

    s.data = (u_char *) ck->type;
    s.len = ngx_strlen(ck->type);
    ngx_http_oie_click_str(&w, "event_type", &s, s.len);

    tlen = ngx_http_oie_iso_time(t, ck->time_ms) - t;
    ngx_http_oie_click_raw(&w, "event_time", t, tlen);
    ngx_http_oie_click_raw(&w, "received_at", t, tlen);

    ngx_http_oie_click_str(&w, "lead_id", &ck->lead_id, OIE_ID_MAX_LEN);
    ngx_http_oie_click_str(&w, "raw_id", &ck->raw_id, OIE_CLICK_RAW_ID_MAX);
    ngx_http_oie_click_str(&w, "campaign", &ck->campaign, 256);
    ngx_http_oie_click_str(&w, "destination", &ck->destination,
                           OIE_CLICK_URL_MAX);

    s.data = (u_char *) ck->outcome;
    s.len = ngx_strlen(ck->outcome);
    ngx_http_oie_click_str(&w, "outcome", &s, s.len);

    ngx_http_oie_click_str(&w, "method", &ck->method, 16);
    ngx_http_oie_click_str(&w, "visitor_id", &ck->visitor_id, 128);
    ngx_http_oie_click_str(&w, "ip", &ck->ip, NGX_SOCKADDR_STRLEN);
    ngx_http_oie_click_str(&w, "user_agent", &ck->user_agent,
                           OIE_CLICK_UA_MAX);
    ngx_http_oie_click_str(&w, "referrer", &ck->referrer, OIE_CLICK_URL_MAX);

    if (ck->traffic_class) {
        s.data = (u_char *) ck->traffic_class;
        s.len = ngx_strlen(ck->traffic_class);
        ngx_http_oie_click_str(&w, "traffic_class", &s, s.len);
    }

    if (ck->traffic_reasons.len) {
        /* JSON already, from the classifier */
        ngx_http_oie_click_raw(&w, "traffic_reasons", ck->traffic_reasons.data,
                               ck->traffic_reasons.len);
    }

    if (w.overflow || w.p == w.end) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "oie: %s row too large, not recorded", ck->type);
        return NGX_ERROR;
    }

    *w.p++ = '}';

    return ngx_http_oie_push(log, OIE_TABLE_EMAIL_CLICKS,
                             ngx_http_oie_click_buf,
                             w.p - ngx_http_oie_click_buf);
}


static void
ngx_http_oie_click_key(ngx_http_oie_click_w_t *w, const char *key)
{
    size_t  n;

    n = ngx_strlen(key);

    if (w->overflow || (size_t) (w->end - w->p) < n + 4) {
        w->overflow = 1;
        return;
    }

    if (w->p[-1] != '{') {
        *w->p++ = ',';
    }

    *w->p++ = '"';
    w->p = ngx_cpymem(w->p, key, n);
    *w->p++ = '"';
    *w->p++ = ':';
}


/*
 * A string column; empty strings are left out (null).  At most max bytes of
 * the input are taken, never cutting a character in two; bytes that are
 * not UTF-8 are written as U+FFFD.
 */
static void
ngx_http_oie_click_str(ngx_http_oie_click_w_t *w, const char *key,
    ngx_str_t *s, size_t max)
{
    u_char  *p, *end;

    if (s->len == 0) {
        return;
    }

    ngx_http_oie_click_key(w, key);

    if (w->overflow) {
        return;
    }

    p = s->data;
    end = s->data + ngx_min(s->len, max);

    /* worst case: every byte a 6-byte escape, plus the quotes */
    if ((size_t) (w->end - w->p) < (size_t) (end - p) * 6 + 2) {
        w->overflow = 1;
        return;
    }

    *w->p++ = '"';
    w->p = ngx_http_oie_json_text(w->p, p, end - p);
    *w->p++ = '"';
}


/*
 * JSON string text (no quotes) of len bytes of src: escapes as
 * oie_json_escape() does, and U+FFFD for every byte that does not belong to
 * well-formed UTF-8.  dst has room for 6 * len bytes.
 */
u_char *
ngx_http_oie_json_text(u_char *dst, u_char *src, size_t len)
{
    u_char  *end, *run;
    size_t   n;

    end = src + len;

    while (src < end) {

        /* most of it needs nothing: copy runs of plain ASCII at once */
        for (run = src;
             src < end && *src >= 0x20 && *src < 0x7f
             && *src != '"' && *src != '\\';
             src++)
        {
            /* void */
        }

        dst = ngx_cpymem(dst, run, src - run);

        if (src == end) {
            break;
        }

        if (*src < 0x80) {
            dst = oie_json_escape(dst, src, 1);
            src++;
            continue;
        }

        n = ngx_http_oie_click_utf8(src, end - src);

        if (n == 0) {
            dst = ngx_cpymem(dst, "\xef\xbf\xbd", 3);
            src++;
            continue;
        }

        dst = ngx_cpymem(dst, src, n);
        src += n;
    }

    return dst;
}


/*
 * The length of the well-formed UTF-8 sequence (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF) that starts at p, or 0.
 */
static size_t
ngx_http_oie_click_utf8(u_char *p, size_t n)
{
    size_t    len, i;
    uint32_t  u, min;

    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2;
        u = p[0] & 0x1f;
        min = 0x80;

    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3;
        u = p[0] & 0x0f;
        min = 0x800;

    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4;
        u = p[0] & 0x07;
        min = 0x10000;

    } else {
        return 0;
    }

    if (n < len) {
        return 0;
    }

    for (i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }

        u = (u << 6) | (p[i] & 0x3f);
    }

    if (u < min || u > 0x10ffff || (u >= 0xd800 && u <= 0xdfff)) {
        return 0;
    }

    return len;
}


/* a value that is JSON already (a time in quotes) */
static void
ngx_http_oie_click_raw(ngx_http_oie_click_w_t *w, const char *key, u_char *s,
    size_t len)
{
    ngx_http_oie_click_key(w, key);

    if (w->overflow || (size_t) (w->end - w->p) < len) {
        w->overflow = 1;
        return;
    }

    w->p = ngx_cpymem(w->p, s, len);
}


/*
 * The id of /r/<id>, /o/<id>.gif: the last segment of the (decoded) URI,
 * without the extension.
 */
void
ngx_http_oie_uri_id(ngx_http_request_t *r, const char *ext, ngx_str_t *id)
{
    u_char  *p, *end;
    size_t   n;

    end = r->uri.data + r->uri.len;

    for (p = end; p > r->uri.data && p[-1] != '/'; p--) {
        /* void */
    }

    id->data = p;
    id->len = end - p;

    if (ext) {
        n = ngx_strlen(ext);

        if (id->len > n
            && ngx_strncasecmp(end - n, (u_char *) ext, n) == 0)
        {
            id->len -= n;
        }
    }
}
