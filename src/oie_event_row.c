/*
 * The row of a checked event (see oie_event.h): the columns of
 * sql/schemas/events.json, written by hand into the caller's buffer, with
 * the strings the client sent copied as they are (they are valid JSON
 * already) and what the edge adds escaped.
 */

#include <stdio.h>
#include <string.h>

#include "oie_event.h"
#include "oie_event_internal.h"
#include "oie_json.h"


static const char  oie_two_digits[] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";


static unsigned char *
oie_digits2(unsigned char *p, unsigned v)
{
    memcpy(p, &oie_two_digits[2 * v], 2);
    return p + 2;
}


/* by hand: sprintf and gmtime_r were a tenth of /t's user-space time */
unsigned char *
oie_iso_time(unsigned char *p, int64_t ms)
{
    int64_t   days;
    unsigned  secs, msec;
    int       era, doe, yoe, doy, mp, y, m, d;

    /* the range of BigQuery's TIMESTAMP, which the rows are for */
    if (ms < 0) {
        ms = 0;

    } else if (ms > OIE_MAX_MSEC) {
        ms = OIE_MAX_MSEC;
    }

    days = ms / 86400000;
    msec = (unsigned) (ms % 86400000);
    secs = msec / 1000;
    msec %= 1000;

    /* civil date from days since 1970-01-01 (proleptic Gregorian); the
     * times the rows take (years 0 to 9999) keep all of it in an int */
    days += 719468;
    era = (int) (days / 146097);
    doe = (int) (days - (int64_t) era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y += (m <= 2);

    p = oie_digits2(p, (unsigned) y / 100 % 100);
    p = oie_digits2(p, (unsigned) y % 100);
    *p++ = '-';
    p = oie_digits2(p, (unsigned) m);
    *p++ = '-';
    p = oie_digits2(p, (unsigned) d);
    *p++ = 'T';
    p = oie_digits2(p, secs / 3600);
    *p++ = ':';
    p = oie_digits2(p, secs / 60 % 60);
    *p++ = ':';
    p = oie_digits2(p, secs % 60);
    *p++ = '.';
    *p++ = (unsigned char) ('0' + msec / 100);
    p = oie_digits2(p, msec % 100);
    *p++ = 'Z';

    return p;
}


/*
 * The row writer: a cursor that stops (and says so) at the end of buf.
 * Keys come as their whole text, ,"name": (OIE_KEY), so that a column is
 * one bounds check and a few copies.
 */

typedef struct {
    unsigned char  *p;
    unsigned char  *end;
    int             full;
} oie_out_t;


/* a copy in line: most columns are a few bytes, below a call's cost */
static inline void
oie_copy(unsigned char *dst, const void *src, size_t n)
{
    uint64_t              a, b;
    uint32_t              c, d;
    const unsigned char  *s = src;

    if (n >= 8 && n <= 16) {
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(dst, &a, 8);
        memcpy(dst + n - 8, &b, 8);

    } else if (n >= 4 && n < 8) {
        memcpy(&c, s, 4);
        memcpy(&d, s + n - 4, 4);
        memcpy(dst, &c, 4);
        memcpy(dst + n - 4, &d, 4);

    } else if (n < 4) {
        while (n--) {
            *dst++ = *s++;
        }

    } else {
        memcpy(dst, s, n);
    }
}


static inline int
oie_room(oie_out_t *o, size_t n)
{
    if (o->full || (size_t) (o->end - o->p) < n) {
        o->full = 1;
        return 0;
    }

    return 1;
}


static inline void
oie_put(oie_out_t *o, const void *s, size_t n)
{
    if (oie_room(o, n)) {
        oie_copy(o->p, s, n);
        o->p += n;
    }
}


/* key and a string whose bytes are valid JSON string content already */
static void
oie_put_raw(oie_out_t *o, const char *key, size_t key_len,
    const unsigned char *s, size_t len)
{
    unsigned char  *p;

    if (!oie_room(o, key_len + len + 2)) {
        return;
    }

    p = o->p;
    oie_copy(p, key, key_len);
    p += key_len;
    *p++ = '"';
    oie_copy(p, s, len);
    p += len;
    *p++ = '"';
    o->p = p;
}


/* bytes from outside (headers): escaped, invalid UTF-8 made U+FFFD */
static void
oie_put_text(oie_out_t *o, const char *key, size_t key_len,
    const unsigned char *s, size_t len)
{
    size_t                n;
    const unsigned char  *end, *run;
    static const char     bad[] = "\\ufffd";

    oie_put(o, key, key_len);
    oie_put(o, "\"", 1);

    end = s + len;

    while (s < end && !o->full) {

        /* a run of bytes that need nothing goes out at once */
        run = oie_json_plain(s, end);

        if (run > s) {
            oie_put(o, s, run - s);
            s = run;
            continue;
        }

        if (*s < 0x80) {
            if (oie_room(o, 6)) {
                o->p = oie_json_escape(o->p, s, 1);
            }
            s++;
            continue;
        }

        n = oie_utf8_seq(s, end);

        if (n == 0) {
            oie_put(o, bad, sizeof(bad) - 1);
            s++;
            continue;
        }

        oie_put(o, s, n);
        s += n;
    }

    oie_put(o, "\"", 1);
}


static void
oie_put_int(oie_out_t *o, const char *key, size_t key_len, int64_t n)
{
    char  num[24];
    int   len;

    len = snprintf(num, sizeof(num), "%lld", (long long) n);
    oie_put(o, key, key_len);
    oie_put(o, num, len);
}


static void
oie_put_time(oie_out_t *o, const char *key, size_t key_len, int64_t ms)
{
    if (oie_room(o, key_len + 26)) {
        oie_copy(o->p, key, key_len);
        o->p += key_len;
        *o->p++ = '"';
        o->p = oie_iso_time(o->p, ms);
        *o->p++ = '"';
    }
}


/* JSON text of a flat object, whitespace between tokens removed, as a
 * JSON string (quotes and backslashes escaped) */
static void
oie_put_props(oie_out_t *o, const char *key, size_t key_len,
    const oie_jval_t *v)
{
    int                   in_str;
    const unsigned char  *p, *end;

    oie_put(o, key, key_len);
    oie_put(o, "\"", 1);

    in_str = 0;
    end = v->raw + v->len;

    for (p = v->raw; p < end && !o->full; p++) {
        if (!in_str && (*p == ' ' || *p == '\t' || *p == '\n'
                        || *p == '\r'))
        {
            continue;
        }

        if (*p == '"') {
            in_str = !in_str;
            oie_put(o, "\\\"", 2);
            continue;
        }

        if (*p == '\\') {
            /* an escape inside a string: both characters, escaped */
            oie_put(o, "\\\\", 2);
            p++;
            if (*p == '"') {
                oie_put(o, "\\\"", 2);
            } else if (*p == '\\') {
                oie_put(o, "\\\\", 2);
            } else {
                oie_put(o, p, 1);
            }
            continue;
        }

        oie_put(o, p, 1);
    }

    oie_put(o, "\"", 1);
}


size_t
oie_event_row(const oie_wire_event_t *ev, const oie_row_ctx_t *ctx,
    unsigned char *buf, size_t cap)
{
    int                 i;
    uint32_t            todo;
    oie_out_t           o;
    oie_jval_t          bare;
    const oie_type_t   *t;
    const oie_jval_t   *v;
    const oie_field_t  *f;

    o.p = buf;
    o.end = buf + cap;
    o.full = 0;

    for (t = oie_types; t->name && t->mask != ev->type; t++) { /* void */ }

    oie_put_raw(&o, OIE_LIT("{\"event_id\":"), ctx->event_id,
                ctx->event_id_len);
    oie_put_raw(&o, OIE_KEY("event_type"), (const unsigned char *) t->name,
                t->len);

    oie_put_time(&o, OIE_KEY("event_time"),
                 (int64_t) ev->f[OIE_F_TIMESTAMP].num);
    oie_put_time(&o, OIE_KEY("received_at"), ctx->received_ms);

    if (ctx->sent_at >= 0) {
        oie_put_time(&o, OIE_KEY("sent_at"), ctx->sent_at);
    }

    v = &ev->f[OIE_F_SESSION_ID];
    oie_put_raw(&o, OIE_KEY("session_id"), v->raw, v->len);
    v = &ev->f[OIE_F_VISITOR_ID];
    oie_put_raw(&o, OIE_KEY("visitor_id"), v->raw, v->len);
    v = &ev->f[OIE_F_URL];
    oie_put_raw(&o, OIE_KEY("url"), v->raw, v->len);

    /* the optional columns: the fields the event has and its type takes */
    todo = ev->present & oie_type_fields[__builtin_ctz(ev->type)]
           & ~((1u << OIE_F_LEAD_ID) - 1);

    for ( /* void */ ; todo; todo &= todo - 1) {
        i = __builtin_ctz(todo);
        f = &oie_fields[i];
        v = &ev->f[i];

        if (v->kind == OIE_J_NULL) {
            continue;
        }

        switch (f->kind) {

        case OIE_K_STR:
            if (i == OIE_F_LEAD_ID) {
                /* a signed id "<id>.<tag>" is stored as the bare id, the
                 * one email_clicks and the warehouse join on (ids are
                 * base62: a '.' is only ever the tag's) */
                const unsigned char   *dot;

                bare = *v;
                dot = memchr(v->raw, '.', v->len);
                if (dot) {
                    bare.len = dot - v->raw;
                }

                v = &bare;
            }

            oie_put_raw(&o, f->key, f->key_len, v->raw, v->len);
            break;

        case OIE_K_INT:
            oie_put_int(&o, f->key, f->key_len, (int64_t) v->num);
            break;

        case OIE_K_BOOL:
            oie_put(&o, f->key, f->key_len);
            if (v->kind == OIE_J_TRUE) {
                oie_put(&o, "true", 4);
            } else {
                oie_put(&o, "false", 5);
            }
            break;

        case OIE_K_STRLIST:
            /* an array of strings: valid JSON as sent, minus whitespace */
            oie_put(&o, f->key, f->key_len);
            {
                int                   in_str = 0;
                const unsigned char  *p, *end = v->raw + v->len;

                for (p = v->raw; p < end && !o.full; p++) {
                    if (!in_str && (*p == ' ' || *p == '\t' || *p == '\n'
                                    || *p == '\r'))
                    {
                        continue;
                    }
                    if (*p == '\\' && in_str) {
                        oie_put(&o, p, 2);
                        p++;
                        continue;
                    }
                    if (*p == '"') {
                        in_str = !in_str;
                    }
                    oie_put(&o, p, 1);
                }
            }
            break;

        default: /* OIE_K_PROPS */
            oie_put_props(&o, f->key, f->key_len, v);
            break;
        }
    }

    oie_put_text(&o, OIE_KEY("ip"), ctx->ip, ctx->ip_len);

    if (ctx->user_agent) {
        oie_put_text(&o, OIE_KEY("user_agent"), ctx->user_agent,
                     ctx->user_agent_len > 1024 ? 1024
                                                : ctx->user_agent_len);
    }

    if (ctx->traffic_class) {
        oie_put_raw(&o, OIE_KEY("traffic_class"),
                    (const unsigned char *) ctx->traffic_class,
                    strlen(ctx->traffic_class));

        if (ctx->traffic_reasons_len) {
            oie_put(&o, OIE_KEY("traffic_reasons"));
            oie_put(&o, ctx->traffic_reasons, ctx->traffic_reasons_len);
        }
    }

    oie_put(&o, "}", 1);

    return o.full ? 0 : (size_t) (o.p - buf);
}
