/*
 * Page events: the pixel's wire format in, one compact JSON row per event
 * out (the columns of sql/schemas/events.json).  A request's events are all
 * checked before any is accepted, so a bad batch is refused whole and the
 * pixel can tell the user's page nothing was half recorded.
 */

#include "ngx_http_oie_module.h"
#include "oie_json.h"

#include <jansson.h>


#define OIE_T_PAGEVIEW     0x01
#define OIE_T_SCROLL       0x02
#define OIE_T_CLICK        0x04
#define OIE_T_FORM         0x08
#define OIE_T_VIDEO        0x10
#define OIE_T_FOCUS        0x20
#define OIE_T_ENGAGEMENT   0x40
#define OIE_T_CUSTOM       0x80
#define OIE_T_ALL          0xff

#define OIE_F_STR          1
#define OIE_F_INT          2
#define OIE_F_BOOL         3
#define OIE_F_STRLIST      4
#define OIE_F_PROPS        5

/* 9999-12-31, the last day BigQuery's TIMESTAMP takes */
#define OIE_MAX_MSEC       253402300799999LL

#define OIE_MAX_LIST       100
#define OIE_MAX_PROPS      50


typedef struct {
    const char   *name;
    ngx_uint_t    mask;
} ngx_http_oie_type_t;


typedef struct {
    const char   *wire;
    const char   *column;
    ngx_uint_t    kind;
    int64_t       max;          /* bytes for strings, value for integers */
    ngx_uint_t    types;        /* event types the field belongs to */
    ngx_uint_t    required;     /* event types that must carry it */
} ngx_http_oie_field_t;


typedef struct {
    u_char       *p;
    u_char       *end;
    ngx_uint_t    overflow;
} ngx_http_oie_writer_t;


static ngx_http_oie_type_t  ngx_http_oie_types[] = {
    { "pageview",    OIE_T_PAGEVIEW },
    { "scroll",      OIE_T_SCROLL },
    { "click",       OIE_T_CLICK },
    { "form_submit", OIE_T_FORM },
    { "video",       OIE_T_VIDEO },
    { "focus",       OIE_T_FOCUS },
    { "engagement",  OIE_T_ENGAGEMENT },
    { "custom",      OIE_T_CUSTOM },
    { NULL, 0 }
};


/* the optional fields, in column order; see README "Event schema" */
static ngx_http_oie_field_t  ngx_http_oie_fields[] = {
    { "leadId",     "lead_id",       OIE_F_STR,  128,  OIE_T_ALL, 0 },
    { "referrer",   "referrer",      OIE_F_STR,  2048, OIE_T_ALL, 0 },
    { "title",      "title",         OIE_F_STR,  512,  OIE_T_ALL, 0 },
    { "utmSource",  "utm_source",    OIE_F_STR,  256,  OIE_T_ALL, 0 },
    { "utmMedium",  "utm_medium",    OIE_F_STR,  256,  OIE_T_ALL, 0 },
    { "utmCampaign", "utm_campaign", OIE_F_STR,  256,  OIE_T_ALL, 0 },
    { "utmTerm",    "utm_term",      OIE_F_STR,  256,  OIE_T_ALL, 0 },
    { "utmContent", "utm_content",   OIE_F_STR,  256,  OIE_T_ALL, 0 },
    { "depth",      "scroll_depth",  OIE_F_INT,  100,  OIE_T_SCROLL,
                                                       OIE_T_SCROLL },
    { "engagedMs",  "engaged_ms",    OIE_F_INT,  86400000,
                                     OIE_T_FOCUS|OIE_T_ENGAGEMENT,
                                                       OIE_T_ENGAGEMENT },
    { "tag",        "element_tag",   OIE_F_STR,  32,   OIE_T_CLICK, 0 },
    { "elementId",  "element_id",    OIE_F_STR,  128,  OIE_T_CLICK, 0 },
    { "text",       "element_text",  OIE_F_STR,  400,  OIE_T_CLICK, 0 },
    { "href",       "link_url",      OIE_F_STR,  2048, OIE_T_CLICK, 0 },
    { "linkType",   "link_type",     OIE_F_STR,  16,   OIE_T_CLICK, 0 },
    { "formId",     "form_id",       OIE_F_STR,  128,  OIE_T_FORM, 0 },
    { "formName",   "form_name",     OIE_F_STR,  128,  OIE_T_FORM, 0 },
    { "fields",     "form_fields",   OIE_F_STRLIST, 128, OIE_T_FORM, 0 },
    { "action",     "video_action",  OIE_F_STR,  16,   OIE_T_VIDEO,
                                                       OIE_T_VIDEO },
    { "src",        "video_src",     OIE_F_STR,  2048, OIE_T_VIDEO, 0 },
    { "percent",    "video_percent", OIE_F_INT,  100,  OIE_T_VIDEO, 0 },
    { "name",       "custom_name",   OIE_F_STR,  128,  OIE_T_CUSTOM,
                                                       OIE_T_CUSTOM },
    { "props",      "properties",    OIE_F_PROPS, 4096, OIE_T_CUSTOM, 0 },
    { "webdriver",  "webdriver",     OIE_F_BOOL, 0,    OIE_T_ALL, 0 },
    { NULL, NULL, 0, 0, 0, 0 }
};


static ngx_int_t ngx_http_oie_event_row(ngx_http_request_t *r, json_t *ev,
    ngx_uint_t idx, int64_t sent_at, ngx_http_oie_event_t *out,
    ngx_str_t *err);
static void ngx_http_oie_event_info(ngx_http_request_t *r, json_t *ev,
    ngx_http_oie_event_t *out);
static ngx_int_t ngx_http_oie_check_field(ngx_http_oie_field_t *f,
    json_t *v, ngx_uint_t mask, char *why, size_t len);
static ngx_int_t ngx_http_oie_get_msec(json_t *v, int64_t *ms);
static void ngx_http_oie_put_key(ngx_http_oie_writer_t *w, const char *key);
static void ngx_http_oie_put_str(ngx_http_oie_writer_t *w, const char *key,
    const u_char *s, size_t len);
static void ngx_http_oie_put_raw(ngx_http_oie_writer_t *w, const char *key,
    const u_char *s, size_t len);
static void ngx_http_oie_put_field(ngx_http_oie_writer_t *w,
    ngx_http_oie_field_t *f, json_t *v);


static u_char  ngx_http_oie_row_buf[OIE_MAX_ROW];

ngx_http_oie_event_observer_pt  ngx_http_oie_event_observer;


ngx_int_t
ngx_http_oie_events_rows(ngx_http_request_t *r, u_char *body, size_t len,
    ngx_array_t *rows, ngx_str_t *err)
{
    size_t                 n;
    int64_t                sent_at;
    json_t                *root, *events, *meta, *ev;
    ngx_http_oie_event_t  *row;
    ngx_uint_t     i;
    json_error_t   jerr;

    root = json_loadb((const char *) body, len, JSON_REJECT_DUPLICATES, &jerr);

    if (root == NULL) {
        err->data = ngx_pnalloc(r->pool, 200);
        if (err->data == NULL) {
            return NGX_ERROR;
        }
        err->len = ngx_snprintf(err->data, 200,
                                "malformed JSON at line %d column %d: %s",
                                jerr.line, jerr.column, jerr.text)
                   - err->data;
        return NGX_DECLINED;
    }

    if (!json_is_object(root)) {
        ngx_str_set(err, "the body must be a JSON object");
        goto invalid;
    }

    events = json_object_get(root, "events");

    if (!json_is_array(events)) {
        ngx_str_set(err, "\"events\" must be an array");
        goto invalid;
    }

    n = json_array_size(events);

    if (n == 0 || n > OIE_MAX_EVENTS) {
        ngx_str_set(err, "\"events\" must hold 1 to 100 events");
        goto invalid;
    }

    sent_at = -1;
    meta = json_object_get(root, "meta");

    if (meta != NULL) {
        if (!json_is_object(meta)) {
            ngx_str_set(err, "\"meta\" must be an object");
            goto invalid;
        }

        ev = json_object_get(meta, "sentAt");

        if (ev != NULL && ngx_http_oie_get_msec(ev, &sent_at) != NGX_OK) {
            ngx_str_set(err, "\"meta.sentAt\" must be a time in milliseconds");
            goto invalid;
        }
    }

    for (i = 0; i < n; i++) {
        row = ngx_array_push(rows);
        if (row == NULL) {
            json_decref(root);
            return NGX_ERROR;
        }

        if (ngx_http_oie_event_row(r, json_array_get(events, i), i, sent_at,
                                   row, err)
            != NGX_OK)
        {
            goto invalid;
        }
    }

    json_decref(root);
    return NGX_OK;

invalid:

    json_decref(root);
    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_oie_event_row(ngx_http_request_t *r, json_t *ev, ngx_uint_t idx,
    int64_t sent_at, ngx_http_oie_event_t *out, ngx_str_t *err)
{
    ngx_str_t              *row = &out->row;
    char                    why[128];
    u_char                  id[OIE_EVENT_ID_LEN], tbuf[OIE_ISO_TIME_LEN];
    size_t                  len;
    int64_t                 ms;
    json_t                 *v;
    ngx_uint_t              mask, i;
    const char             *type;
    ngx_http_oie_field_t   *f;
    ngx_http_oie_writer_t   w;

    static const char      *ids[] = { "sessionId", "visitorId", NULL };

    why[0] = '\0';

    if (!json_is_object(ev)) {
        ngx_snprintf((u_char *) why, sizeof(why), "is not an object%Z");
        goto invalid;
    }

    v = json_object_get(ev, "type");
    type = json_string_value(v);

    if (type == NULL) {
        ngx_snprintf((u_char *) why, sizeof(why),
                     "\"type\" must be a string%Z");
        goto invalid;
    }

    mask = 0;

    for (i = 0; ngx_http_oie_types[i].name; i++) {
        if (ngx_strcmp(type, ngx_http_oie_types[i].name) == 0) {
            mask = ngx_http_oie_types[i].mask;
            break;
        }
    }

    if (mask == 0) {
        ngx_snprintf((u_char *) why, sizeof(why), "unknown type \"%*s\"%Z",
                     ngx_min(json_string_length(v), 32), type);
        goto invalid;
    }

    if (ngx_http_oie_get_msec(json_object_get(ev, "timestamp"), &ms)
        != NGX_OK)
    {
        ngx_snprintf((u_char *) why, sizeof(why),
                     "\"timestamp\" must be a time in milliseconds%Z");
        goto invalid;
    }

    for (i = 0; ids[i]; i++) {
        v = json_object_get(ev, ids[i]);
        len = json_string_length(v);

        if (!json_is_string(v) || len == 0 || len > 128) {
            ngx_snprintf((u_char *) why, sizeof(why),
                         "\"%s\" must be a string of 1 to 128 bytes%Z",
                         ids[i]);
            goto invalid;
        }
    }

    v = json_object_get(ev, "url");
    len = json_string_length(v);

    if (!json_is_string(v) || len == 0 || len > 2048) {
        ngx_snprintf((u_char *) why, sizeof(why),
                     "\"url\" must be a string of 1 to 2048 bytes%Z");
        goto invalid;
    }

    for (f = ngx_http_oie_fields; f->wire; f++) {
        if (ngx_http_oie_check_field(f, json_object_get(ev, f->wire), mask,
                                     why, sizeof(why))
            != NGX_OK)
        {
            goto invalid;
        }
    }

    /* the row, in the column order of sql/schemas/events.json */

    w.p = ngx_http_oie_row_buf;
    w.end = ngx_http_oie_row_buf + sizeof(ngx_http_oie_row_buf);
    w.overflow = 0;

    *w.p++ = '{';

    ngx_http_oie_event_id(id);
    ngx_http_oie_put_str(&w, "event_id", id, OIE_EVENT_ID_LEN);
    ngx_http_oie_put_str(&w, "event_type", (u_char *) type,
                         ngx_strlen(type));

    ngx_http_oie_put_raw(&w, "event_time", tbuf,
                         ngx_http_oie_iso_time(tbuf, ms) - tbuf);
    ngx_http_oie_put_raw(&w, "received_at", tbuf,
                         ngx_http_oie_iso_time(tbuf, ngx_http_oie_now_msec())
                         - tbuf);

    if (sent_at >= 0) {
        ngx_http_oie_put_raw(&w, "sent_at", tbuf,
                             ngx_http_oie_iso_time(tbuf, sent_at) - tbuf);
    }

    for (i = 0; ids[i]; i++) {
        v = json_object_get(ev, ids[i]);
        ngx_http_oie_put_str(&w, i == 0 ? "session_id" : "visitor_id",
                             (u_char *) json_string_value(v),
                             json_string_length(v));
    }

    v = json_object_get(ev, "url");
    ngx_http_oie_put_str(&w, "url", (u_char *) json_string_value(v),
                         json_string_length(v));

    for (f = ngx_http_oie_fields; f->wire; f++) {
        v = json_object_get(ev, f->wire);

        if (v != NULL && !json_is_null(v) && (f->types & mask)) {
            ngx_http_oie_put_field(&w, f, v);
        }
    }

    ngx_http_oie_put_str(&w, "ip", r->connection->addr_text.data,
                         r->connection->addr_text.len);

    if (r->headers_in.user_agent) {
        ngx_http_oie_put_str(&w, "user_agent",
                             r->headers_in.user_agent->value.data,
                             ngx_min(r->headers_in.user_agent->value.len,
                                     1024));
    }

    if (w.overflow || w.p == w.end) {
        ngx_snprintf((u_char *) why, sizeof(why), "is too large%Z");
        goto invalid;
    }

    *w.p++ = '}';

    row->len = w.p - ngx_http_oie_row_buf;
    row->data = ngx_pnalloc(r->pool, row->len);
    if (row->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(row->data, ngx_http_oie_row_buf, row->len);

    if (ngx_http_oie_event_observer) {
        ngx_http_oie_event_info(r, ev, out);
    }

    return NGX_OK;

invalid:

    err->data = ngx_pnalloc(r->pool, 160);
    if (err->data == NULL) {
        return NGX_ERROR;
    }

    err->len = ngx_snprintf(err->data, 160, "event %ui: %s", idx, why)
               - err->data;

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_oie_copy_str(ngx_http_request_t *r, json_t *v, ngx_str_t *dst)
{
    dst->len = json_is_string(v) ? json_string_length(v) : 0;

    if (dst->len == 0) {
        dst->data = NULL;
        return NGX_OK;
    }

    dst->data = ngx_pnalloc(r->pool, dst->len);
    if (dst->data == NULL) {
        dst->len = 0;
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, json_string_value(v), dst->len);

    return NGX_OK;
}


/* what observers get; the JSON tree is gone by the time they run */
static void
ngx_http_oie_event_info(ngx_http_request_t *r, json_t *ev,
    ngx_http_oie_event_t *out)
{
    json_t  *v;

    (void) ngx_http_oie_copy_str(r, json_object_get(ev, "type"), &out->type);
    (void) ngx_http_oie_copy_str(r, json_object_get(ev, "visitorId"),
                                 &out->visitor_id);
    (void) ngx_http_oie_copy_str(r, json_object_get(ev, "leadId"),
                                 &out->lead_id);
    (void) ngx_http_oie_copy_str(r, json_object_get(ev, "sessionId"),
                                 &out->session_id);
    (void) ngx_http_oie_copy_str(r, json_object_get(ev, "url"), &out->url);
    (void) ngx_http_oie_copy_str(r, json_object_get(ev, "action"),
                                 &out->video_action);

    if (ngx_http_oie_get_msec(json_object_get(ev, "timestamp"), &out->time_ms)
        != NGX_OK)
    {
        out->time_ms = 0;
    }

    v = json_object_get(ev, "depth");
    out->scroll_depth = json_is_number(v) ? (int64_t) json_number_value(v)
                                          : -1;

    v = json_object_get(ev, "engagedMs");
    out->engaged_ms = json_is_number(v) ? (int64_t) json_number_value(v)
                                        : -1;

    out->webdriver = json_is_true(json_object_get(ev, "webdriver"));
}


static ngx_int_t
ngx_http_oie_check_field(ngx_http_oie_field_t *f, json_t *v, ngx_uint_t mask,
    char *why, size_t len)
{
    size_t       i, n;
    int64_t      num;
    json_t      *item;
    const char  *key;

    if (!(f->types & mask)) {
        return NGX_OK;
    }

    if (v == NULL || json_is_null(v)) {
        if (f->required & mask) {
            ngx_snprintf((u_char *) why, len, "needs \"%s\"%Z", f->wire);
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    switch (f->kind) {

    case OIE_F_STR:
        if (!json_is_string(v) || json_string_length(v) > (size_t) f->max) {
            ngx_snprintf((u_char *) why, len,
                         "\"%s\" must be a string of at most %L bytes%Z",
                         f->wire, f->max);
            return NGX_DECLINED;
        }

        if (ngx_strcmp(f->wire, "action") == 0
            && ngx_strcmp(json_string_value(v), "play") != 0
            && ngx_strcmp(json_string_value(v), "progress") != 0
            && ngx_strcmp(json_string_value(v), "complete") != 0)
        {
            ngx_snprintf((u_char *) why, len, "\"action\" must be play, "
                         "progress or complete%Z");
            return NGX_DECLINED;
        }

        return NGX_OK;

    case OIE_F_INT:
        if (!json_is_number(v)) {
            goto bad_int;
        }

        num = json_is_integer(v) ? json_integer_value(v)
                                 : (int64_t) json_real_value(v);

        if (num < 0 || num > f->max) {
            goto bad_int;
        }

        if (ngx_strcmp(f->wire, "depth") == 0
            && num != 25 && num != 50 && num != 75 && num != 100)
        {
            ngx_snprintf((u_char *) why, len,
                         "\"depth\" must be 25, 50, 75 or 100%Z");
            return NGX_DECLINED;
        }

        return NGX_OK;

    bad_int:
        ngx_snprintf((u_char *) why, len,
                     "\"%s\" must be a number from 0 to %L%Z", f->wire, f->max);
        return NGX_DECLINED;

    case OIE_F_BOOL:
        if (!json_is_boolean(v)) {
            ngx_snprintf((u_char *) why, len, "\"%s\" must be true or false%Z",
                         f->wire);
            return NGX_DECLINED;
        }

        return NGX_OK;

    case OIE_F_STRLIST:
        n = json_array_size(v);

        if (!json_is_array(v) || n > OIE_MAX_LIST) {
            goto bad_list;
        }

        for (i = 0; i < n; i++) {
            item = json_array_get(v, i);
            if (!json_is_string(item)
                || json_string_length(item) > (size_t) f->max)
            {
                goto bad_list;
            }
        }

        return NGX_OK;

    bad_list:
        ngx_snprintf((u_char *) why, len, "\"%s\" must be an array of at most "
                     "%d strings of at most %L bytes%Z",
                     f->wire, OIE_MAX_LIST, f->max);
        return NGX_DECLINED;

    default: /* OIE_F_PROPS */
        if (!json_is_object(v) || json_object_size(v) > OIE_MAX_PROPS) {
            goto bad_props;
        }

        json_object_foreach(v, key, item) {
            if (json_is_object(item) || json_is_array(item)
                || (json_is_string(item) && json_string_length(item) > 1024))
            {
                goto bad_props;
            }
        }

        return NGX_OK;

    bad_props:
        ngx_snprintf((u_char *) why, len, "\"%s\" must be a flat object of at "
                     "most %d keys%Z", f->wire, OIE_MAX_PROPS);
        return NGX_DECLINED;
    }
}


static ngx_int_t
ngx_http_oie_get_msec(json_t *v, int64_t *ms)
{
    double  d;

    if (json_is_integer(v)) {
        *ms = json_integer_value(v);

    } else if (json_is_real(v)) {
        d = json_real_value(v);
        if (!(d >= 0 && d <= (double) OIE_MAX_MSEC)) {
            return NGX_ERROR;
        }
        *ms = (int64_t) d;

    } else {
        return NGX_ERROR;
    }

    return (*ms >= 0 && *ms <= OIE_MAX_MSEC) ? NGX_OK : NGX_ERROR;
}


static void
ngx_http_oie_put_key(ngx_http_oie_writer_t *w, const char *key)
{
    size_t  n;

    n = ngx_strlen(key);

    if (w->end - w->p < (ssize_t) n + 4) {
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


static void
ngx_http_oie_put_str(ngx_http_oie_writer_t *w, const char *key,
    const u_char *s, size_t len)
{
    ngx_http_oie_put_key(w, key);

    if (w->overflow || (size_t) (w->end - w->p) < oie_json_escaped_len(s, len)
                                                  + 2)
    {
        w->overflow = 1;
        return;
    }

    *w->p++ = '"';
    w->p = oie_json_escape(w->p, s, len);
    *w->p++ = '"';
}


/* a value that is already JSON (a number, or a time in quotes) */
static void
ngx_http_oie_put_raw(ngx_http_oie_writer_t *w, const char *key,
    const u_char *s, size_t len)
{
    ngx_http_oie_put_key(w, key);

    if (w->overflow || (size_t) (w->end - w->p) < len) {
        w->overflow = 1;
        return;
    }

    w->p = ngx_cpymem(w->p, s, len);
}


static void
ngx_http_oie_put_field(ngx_http_oie_writer_t *w, ngx_http_oie_field_t *f,
    json_t *v)
{
    char     *text;
    u_char    num[NGX_INT64_LEN];
    size_t    i, n;
    json_t   *item;

    switch (f->kind) {

    case OIE_F_STR:
        ngx_http_oie_put_str(w, f->column, (u_char *) json_string_value(v),
                             json_string_length(v));
        return;

    case OIE_F_INT:
        n = ngx_sprintf(num, "%L", json_is_integer(v)
                                   ? json_integer_value(v)
                                   : (int64_t) json_real_value(v))
            - num;
        ngx_http_oie_put_raw(w, f->column, num, n);
        return;

    case OIE_F_BOOL:
        if (json_is_true(v)) {
            ngx_http_oie_put_raw(w, f->column, (u_char *) "true", 4);
        } else {
            ngx_http_oie_put_raw(w, f->column, (u_char *) "false", 5);
        }
        return;

    case OIE_F_STRLIST:
        ngx_http_oie_put_key(w, f->column);

        if (w->overflow || w->p == w->end) {
            w->overflow = 1;
            return;
        }

        *w->p++ = '[';

        n = json_array_size(v);

        for (i = 0; i < n; i++) {
            item = json_array_get(v, i);

            if ((size_t) (w->end - w->p)
                < oie_json_escaped_len((u_char *) json_string_value(item),
                                       json_string_length(item)) + 4)
            {
                w->overflow = 1;
                return;
            }

            if (i) {
                *w->p++ = ',';
            }

            *w->p++ = '"';
            w->p = oie_json_escape(w->p, (u_char *) json_string_value(item),
                                   json_string_length(item));
            *w->p++ = '"';
        }

        if (w->p == w->end) {
            w->overflow = 1;
            return;
        }

        *w->p++ = ']';
        return;

    default: /* OIE_F_PROPS: kept as JSON text in a STRING column */
        text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);

        if (text == NULL) {
            w->overflow = 1;
            return;
        }

        n = ngx_strlen(text);

        if (n > (size_t) f->max) {
            n = 0;
            w->overflow = 1;
        }

        if (n) {
            ngx_http_oie_put_str(w, f->column, (u_char *) text, n);
        }

        free(text);
        return;
    }
}


void
ngx_http_oie_event_id(u_char *dst)
{
    ngx_http_oie_worker_t  *w = &ngx_http_oie_worker;

    /* time, process, a random salt per process start, a sequence */
    ngx_sprintf(dst, "%012xL%06xD%08xD%06xD",
                (uint64_t) ngx_http_oie_now_msec() & 0xffffffffffffULL,
                (uint32_t) ngx_pid & 0xffffff, w->id_salt,
                (uint32_t) (w->id_seq++ & 0xffffff));
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
    ngx_tm_t  tm;

    ngx_gmtime((time_t) (ms / 1000), &tm);

    return ngx_sprintf(p, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"",
                       tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                       tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec,
                       (int) (ms % 1000));
}
