/*
 * See oie_event.h: the events of a body read and checked.  The JSON under
 * them (oie_event_json.c) follows RFC 8259: one value, objects,
 * arrays, strings with the standard escapes, numbers in JSON's grammar,
 * true/false/null, whitespace; plus UTF-8 that is valid and has no
 * surrogates or overlong forms, no "\u0000", a nesting limit, and no key
 * twice among the ones the edge reads.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oie_event.h"
#include "oie_json.h"
#include "oie_event_internal.h"


const oie_type_t  oie_types[] = {
    { OIE_LIT("pageview"),    OIE_T_PAGEVIEW },
    { OIE_LIT("scroll"),      OIE_T_SCROLL },
    { OIE_LIT("click"),       OIE_T_CLICK },
    { OIE_LIT("form_submit"), OIE_T_FORM },
    { OIE_LIT("video"),       OIE_T_VIDEO },
    { OIE_LIT("focus"),       OIE_T_FOCUS },
    { OIE_LIT("engagement"),  OIE_T_ENGAGEMENT },
    { OIE_LIT("custom"),      OIE_T_CUSTOM },
    { NULL, 0, 0 }
};


/* indexed by OIE_F_*; the optional ones are written in this order */
const oie_field_t  oie_fields[OIE_F_N] = {
    { OIE_LIT("type"), NULL, 0,
      OIE_K_STR, 1, 32, OIE_T_ALL, OIE_T_ALL },
    { OIE_LIT("timestamp"), NULL, 0,
      OIE_K_MSEC, 0, OIE_MAX_MSEC, OIE_T_ALL, OIE_T_ALL },
    { OIE_LIT("sessionId"), NULL, 0,
      OIE_K_STR, 1, 128, OIE_T_ALL, OIE_T_ALL },
    { OIE_LIT("visitorId"), NULL, 0,
      OIE_K_STR, 1, 128, OIE_T_ALL, OIE_T_ALL },
    { OIE_LIT("url"), NULL, 0,
      OIE_K_STR, 1, 2048, OIE_T_ALL, OIE_T_ALL },
    { OIE_LIT("leadId"), OIE_KEY("lead_id"),
      OIE_K_STR, 0, 128, OIE_T_ALL, 0 },
    { OIE_LIT("referrer"), OIE_KEY("referrer"),
      OIE_K_STR, 0, 2048, OIE_T_ALL, 0 },
    { OIE_LIT("title"), OIE_KEY("title"),
      OIE_K_STR, 0, 512, OIE_T_ALL, 0 },
    { OIE_LIT("utmSource"), OIE_KEY("utm_source"),
      OIE_K_STR, 0, 256, OIE_T_ALL, 0 },
    { OIE_LIT("utmMedium"), OIE_KEY("utm_medium"),
      OIE_K_STR, 0, 256, OIE_T_ALL, 0 },
    { OIE_LIT("utmCampaign"), OIE_KEY("utm_campaign"),
      OIE_K_STR, 0, 256, OIE_T_ALL, 0 },
    { OIE_LIT("utmTerm"), OIE_KEY("utm_term"),
      OIE_K_STR, 0, 256, OIE_T_ALL, 0 },
    { OIE_LIT("utmContent"), OIE_KEY("utm_content"),
      OIE_K_STR, 0, 256, OIE_T_ALL, 0 },
    { OIE_LIT("depth"), OIE_KEY("scroll_depth"),
      OIE_K_INT, 0, 100, OIE_T_SCROLL, OIE_T_SCROLL },
    { OIE_LIT("engagedMs"), OIE_KEY("engaged_ms"),
      OIE_K_INT, 0, 86400000, OIE_T_FOCUS|OIE_T_ENGAGEMENT, OIE_T_ENGAGEMENT },
    { OIE_LIT("tag"), OIE_KEY("element_tag"),
      OIE_K_STR, 0, 32, OIE_T_CLICK, 0 },
    { OIE_LIT("elementId"), OIE_KEY("element_id"),
      OIE_K_STR, 0, 128, OIE_T_CLICK, 0 },
    { OIE_LIT("text"), OIE_KEY("element_text"),
      OIE_K_STR, 0, 400, OIE_T_CLICK, 0 },
    { OIE_LIT("href"), OIE_KEY("link_url"),
      OIE_K_STR, 0, 2048, OIE_T_CLICK, 0 },
    { OIE_LIT("linkType"), OIE_KEY("link_type"),
      OIE_K_STR, 0, 16, OIE_T_CLICK, 0 },
    { OIE_LIT("formId"), OIE_KEY("form_id"),
      OIE_K_STR, 0, 128, OIE_T_FORM, 0 },
    { OIE_LIT("formName"), OIE_KEY("form_name"),
      OIE_K_STR, 0, 128, OIE_T_FORM, 0 },
    { OIE_LIT("fields"), OIE_KEY("form_fields"),
      OIE_K_STRLIST, 0, 128, OIE_T_FORM, 0 },
    { OIE_LIT("action"), OIE_KEY("video_action"),
      OIE_K_STR, 0, 16, OIE_T_VIDEO, OIE_T_VIDEO },
    { OIE_LIT("src"), OIE_KEY("video_src"),
      OIE_K_STR, 0, 2048, OIE_T_VIDEO, 0 },
    { OIE_LIT("percent"), OIE_KEY("video_percent"),
      OIE_K_INT, 0, 100, OIE_T_VIDEO, 0 },
    { OIE_LIT("name"), OIE_KEY("custom_name"),
      OIE_K_STR, 0, 128, OIE_T_CUSTOM, OIE_T_CUSTOM },
    { OIE_LIT("props"), OIE_KEY("properties"),
      OIE_K_PROPS, 0, 4096, OIE_T_CUSTOM, 0 },
    { OIE_LIT("webdriver"), OIE_KEY("webdriver"),
      OIE_K_BOOL, 0, 0, OIE_T_ALL, 0 },
};


/* the fields by a hash of their wire names, chained; built once, by the
 * first parse (single-threaded callers: nginx, the tests) */
#define OIE_FIELD_BUCKETS  64
#define OIE_FIELD_HASH(p, n)                                                 \
    (((p)[0] + 3 * (unsigned) (n) + 5 * (p)[(n) - 1])                        \
     & (OIE_FIELD_BUCKETS - 1))

static unsigned char  oie_field_head[OIE_FIELD_BUCKETS];   /* index + 1 */
static unsigned char  oie_field_next[OIE_F_N];
/* by type bit: the fields the type has, and the ones it must carry */
uint32_t              oie_type_fields[8];
static uint32_t       oie_type_required[8];
static int            oie_fields_ready;


static void
oie_fields_init(void)
{
    int       i;
    unsigned  h;

    for (i = OIE_F_N - 1; i >= 0; i--) {
        h = OIE_FIELD_HASH((const unsigned char *) oie_fields[i].wire,
                           oie_fields[i].wire_len);
        oie_field_next[i] = oie_field_head[h];
        oie_field_head[h] = (unsigned char) (i + 1);

        for (h = 0; h < 8; h++) {
            if (oie_fields[i].types & (1u << h)) {
                oie_type_fields[h] |= 1u << i;
            }

            if (oie_fields[i].required & (1u << h)) {
                oie_type_required[h] |= 1u << i;
            }
        }
    }

    oie_fields_ready = 1;
}


/* a key compared with a plain ASCII name, escapes and all */
static int
oie_key_is(const oie_jval_t *key, const char *name, size_t len)
{
    unsigned char  buf[32];
    long           n;

    if (!key->escaped) {
        return key->len == len && memcmp(key->raw, name, len) == 0;
    }

    n = oie_event_string(key, buf, sizeof(buf));

    return n >= 0 && (size_t) n == len && memcmp(buf, name, len) == 0;
}


static int
oie_read_event(oie_reader_t *r, oie_wire_event_t *ev)
{
    int         i;
    unsigned    h;
    oie_jval_t  key, skip;

    /* only the kinds of the fields the event's last use set: a value's
     * other members are read only for the kind the reader gave it, and set
     * with it */
    while (ev->present) {
        ev->f[__builtin_ctz(ev->present)].kind = OIE_J_ABSENT;
        ev->present &= ev->present - 1;
    }

    ev->type = 0;

    if (++r->depth > OIE_JSON_MAX_DEPTH) {
        return oie_fail(r, "nesting too deep");
    }

    r->p++;                                     /* '{' */
    oie_skip_ws(r);

    if (r->p < r->end && *r->p == '}') {
        r->p++;
        r->depth--;
        return 0;
    }

    for ( ;; ) {
        oie_skip_ws(r);

        if (oie_read_key(r, &key) != 0) {
            return -1;
        }

        /* an unescaped key is compared only with the fields of its hash;
         * an escaped one (rare) with all */
        if (key.escaped) {
            for (i = 0; i < OIE_F_N; i++) {
                if (oie_key_is(&key, oie_fields[i].wire,
                               oie_fields[i].wire_len))
                {
                    break;
                }
            }

        } else {
            i = OIE_F_N;

            if (key.len) {
                for (h = oie_field_head[OIE_FIELD_HASH(key.raw, key.len)];
                     h; h = oie_field_next[h - 1])
                {
                    if (oie_key_is(&key, oie_fields[h - 1].wire,
                                   oie_fields[h - 1].wire_len))
                    {
                        i = (int) h - 1;
                        break;
                    }
                }
            }
        }

        if (i < OIE_F_N) {
            if (ev->f[i].kind != OIE_J_ABSENT) {
                return oie_fail(r, "duplicate object key");
            }

            ev->present |= 1u << i;

            if (oie_read_value(r, &ev->f[i]) != 0) {
                return -1;
            }

        } else {
            memset(&skip, 0, sizeof(skip));

            if (oie_read_value(r, &skip) != 0) {
                return -1;
            }
        }

        oie_skip_ws(r);

        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }

        if (r->p < r->end && *r->p == '}') {
            r->p++;
            break;
        }

        return oie_fail(r, "expected ',' or '}'");
    }

    r->depth--;
    return 0;
}


static int
oie_batch_error(oie_wire_batch_t *b, int kind, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    vsnprintf(b->message, sizeof(b->message), fmt, args);
    va_end(args);

    b->error = kind;
    return kind;
}


static int
oie_json_error(oie_wire_batch_t *b, oie_reader_t *r)
{
    int                   line, column;
    const unsigned char  *p;

    line = 1;
    column = 1;

    for (p = r->start; p < r->p && p < r->end; p++) {
        if (*p == '\n') {
            line++;
            column = 1;
        } else {
            column++;
        }
    }

    return oie_batch_error(b, OIE_EVENT_BAD_JSON,
                           "malformed JSON at line %d column %d: %s",
                           line, column, r->error ? r->error : "bad syntax");
}


static int
oie_check_event(oie_wire_batch_t *b, size_t idx)
{
    int                 i, t;
    long                n;
    uint32_t            todo;
    unsigned            mask;
    unsigned char       name[33];
    oie_wire_event_t   *ev;
    const oie_jval_t   *v;
    const oie_field_t  *f;

    ev = &b->ev[idx];
    v = &ev->f[OIE_F_TYPE];

    if (v->kind != OIE_J_STRING) {
        return oie_batch_error(b, OIE_EVENT_BAD_EVENT,
                               "event %zu: \"type\" must be a string", idx);
    }

    n = oie_event_string(v, name, sizeof(name) - 1);
    mask = 0;

    for (i = 0; n > 0 && oie_types[i].name; i++) {
        if ((size_t) n == oie_types[i].len
            && memcmp(name, oie_types[i].name, n) == 0)
        {
            mask = oie_types[i].mask;
            break;
        }
    }

    if (mask == 0) {
        if (n < 0) {
            n = 32;
            memcpy(name, v->raw, v->len < 32 ? v->len : 32);
            n = v->len < 32 ? (long) v->len : 32;
        }
        name[n] = '\0';
        /* the name is echoed in a JSON error: keep it printable */
        for (i = 0; i < n; i++) {
            if (name[i] < 0x20 || name[i] == '"' || name[i] == '\\'
                || name[i] >= 0x7f)
            {
                name[i] = '?';
            }
        }
        return oie_batch_error(b, OIE_EVENT_BAD_EVENT,
                               "event %zu: unknown type \"%s\"", idx, name);
    }

    ev->type = mask;
    t = __builtin_ctz(mask);

    /* in field order: the ones the event has and its type takes, and the
     * ones its type needs */
    todo = ((ev->present & oie_type_fields[t]) | oie_type_required[t])
           & ~1u;

    for ( /* void */ ; todo; todo &= todo - 1) {
        i = __builtin_ctz(todo);
        f = &oie_fields[i];
        v = &ev->f[i];

        if (v->kind == OIE_J_ABSENT || v->kind == OIE_J_NULL) {
            if (!(f->required & mask)) {
                continue;
            }

            if (i <= OIE_F_URL) {
                goto bad;                   /* the common fields' message */
            }

            return oie_batch_error(b, OIE_EVENT_BAD_EVENT,
                                   "event %zu: needs \"%s\"", idx, f->wire);
        }

        switch (f->kind) {

        case OIE_K_STR:
            if (v->kind != OIE_J_STRING || v->dlen > (size_t) f->max
                || v->dlen < (size_t) f->min)
            {
                goto bad;
            }
            break;

        case OIE_K_MSEC:
            if (v->kind != OIE_J_NUMBER || !(v->num >= 0)
                || v->num > (double) OIE_MAX_MSEC)
            {
                goto bad;
            }
            break;

        case OIE_K_INT:
            if (v->kind != OIE_J_NUMBER || !(v->num >= 0)
                || v->num > (double) f->max)
            {
                goto bad;
            }
            break;

        case OIE_K_BOOL:
            if (v->kind != OIE_J_TRUE && v->kind != OIE_J_FALSE) {
                goto bad;
            }
            break;

        case OIE_K_STRLIST:
            if (v->kind != OIE_J_ARRAY || v->dlen > OIE_MAX_LIST
                || (v->dlen && (!v->strings || v->max_item > (size_t) f->max)))
            {
                goto bad;
            }
            break;

        default: /* OIE_K_PROPS */
            if (v->kind != OIE_J_OBJECT || !v->flat || v->dlen > OIE_MAX_PROPS
                || v->max_item > OIE_MAX_PROP_STR || v->len > (size_t) f->max)
            {
                goto bad;
            }
            break;
        }
    }

    /* the closed sets */
    v = &ev->f[OIE_F_DEPTH];

    if ((mask & OIE_T_SCROLL) && v->num != 25 && v->num != 50
        && v->num != 75 && v->num != 100)
    {
        return oie_batch_error(b, OIE_EVENT_BAD_EVENT,
                               "event %zu: \"depth\" must be 25, 50, 75 or "
                               "100", idx);
    }

    v = &ev->f[OIE_F_ACTION];

    if (mask & OIE_T_VIDEO) {
        n = oie_event_string(v, name, sizeof(name) - 1);

        if (!((n == 4 && memcmp(name, "play", 4) == 0)
              || (n == 8 && memcmp(name, "progress", 8) == 0)
              || (n == 8 && memcmp(name, "complete", 8) == 0)))
        {
            return oie_batch_error(b, OIE_EVENT_BAD_EVENT,
                                   "event %zu: \"action\" must be play, "
                                   "progress or complete", idx);
        }
    }

    return OIE_EVENT_OK;

bad:

    switch (f->kind) {
    case OIE_K_STR:
        if (f->min) {
            return oie_batch_error(b, OIE_EVENT_BAD_EVENT,
                                   "event %zu: \"%s\" must be a string of %d "
                                   "to %d bytes", idx, f->wire, (int) f->min,
                                   (int) f->max);
        }
        return oie_batch_error(b, OIE_EVENT_BAD_EVENT,
                               "event %zu: \"%s\" must be a string of at most "
                               "%d bytes", idx, f->wire, (int) f->max);
    case OIE_K_MSEC:
        return oie_batch_error(b, OIE_EVENT_BAD_EVENT,
                               "event %zu: \"%s\" must be a time in "
                               "milliseconds", idx, f->wire);
    case OIE_K_INT:
        return oie_batch_error(b, OIE_EVENT_BAD_EVENT,
                               "event %zu: \"%s\" must be a number from 0 to "
                               "%lld", idx, f->wire, (long long) f->max);
    case OIE_K_BOOL:
        return oie_batch_error(b, OIE_EVENT_BAD_EVENT,
                               "event %zu: \"%s\" must be true or false",
                               idx, f->wire);
    case OIE_K_STRLIST:
        return oie_batch_error(b, OIE_EVENT_BAD_EVENT,
                               "event %zu: \"%s\" must be an array of at most "
                               "%d strings of at most %d bytes", idx, f->wire,
                               OIE_MAX_LIST, (int) f->max);
    default:
        return oie_batch_error(b, OIE_EVENT_BAD_EVENT,
                               "event %zu: \"%s\" must be a flat object of at "
                               "most %d keys", idx, f->wire, OIE_MAX_PROPS);
    }
}


int
oie_event_parse(const unsigned char *body, size_t len, oie_wire_batch_t *b)
{
    size_t        i;
    oie_jval_t    key, skip, sent;
    oie_reader_t  r;
    int           seen_events, seen_meta;

    if (!oie_fields_ready) {
        oie_fields_init();
    }

    b->n = 0;
    b->sent_at = -1;
    b->error = OIE_EVENT_OK;
    b->message[0] = '\0';

    r.start = r.p = body;
    r.end = body + len;
    r.depth = 0;
    r.error = NULL;

    oie_skip_ws(&r);

    if (r.p >= r.end) {
        r.error = "empty body";
        return oie_json_error(b, &r);
    }

    if (*r.p != '{') {
        /* still tell malformed text from a JSON value of the wrong kind */
        memset(&skip, 0, sizeof(skip));
        if (oie_read_value(&r, &skip) != 0) {
            return oie_json_error(b, &r);
        }
        oie_skip_ws(&r);
        if (r.p != r.end) {
            r.error = "trailing characters";
            return oie_json_error(b, &r);
        }
        return oie_batch_error(b, OIE_EVENT_BAD_BATCH,
                               "the body must be a JSON object");
    }

    r.p++;
    r.depth = 1;
    seen_events = 0;
    seen_meta = 0;

    oie_skip_ws(&r);

    if (r.p < r.end && *r.p == '}') {
        r.p++;
        goto end;
    }

    for ( ;; ) {
        oie_skip_ws(&r);

        if (oie_read_key(&r, &key) != 0) {
            return oie_json_error(b, &r);
        }

        if (oie_key_is(&key, OIE_LIT("events"))) {
            if (seen_events++) {
                r.error = "duplicate object key";
                return oie_json_error(b, &r);
            }

            if (r.p >= r.end || *r.p != '[') {
                memset(&skip, 0, sizeof(skip));
                if (oie_read_value(&r, &skip) != 0) {
                    return oie_json_error(b, &r);
                }
                b->n = (size_t) -1;          /* not an array */
                goto next;
            }

            r.p++;
            r.depth++;
            oie_skip_ws(&r);

            if (r.p < r.end && *r.p == ']') {
                r.p++;
                r.depth--;
                goto next;
            }

            for ( ;; ) {
                oie_skip_ws(&r);

                if (b->n < OIE_EVENTS_MAX && r.p < r.end && *r.p == '{') {
                    if (oie_read_event(&r, &b->ev[b->n]) != 0) {
                        return oie_json_error(b, &r);
                    }
                    b->n++;

                } else {
                    memset(&skip, 0, sizeof(skip));
                    if (oie_read_value(&r, &skip) != 0) {
                        return oie_json_error(b, &r);
                    }

                    if (b->n >= OIE_EVENTS_MAX) {
                        b->n = OIE_EVENTS_MAX + 1;
                    } else {
                        /* not an object: the event is refused below */
                        memset(&b->ev[b->n], 0, sizeof(oie_wire_event_t));
                        b->ev[b->n].type = (unsigned) -1;
                        b->n++;
                    }
                }

                oie_skip_ws(&r);

                if (r.p < r.end && *r.p == ',') {
                    r.p++;
                    continue;
                }

                if (r.p < r.end && *r.p == ']') {
                    r.p++;
                    r.depth--;
                    break;
                }

                r.error = "expected ',' or ']'";
                return oie_json_error(b, &r);
            }

        } else if (oie_key_is(&key, OIE_LIT("meta"))) {
            if (seen_meta++) {
                r.error = "duplicate object key";
                return oie_json_error(b, &r);
            }

            memset(&skip, 0, sizeof(skip));

            if (r.p < r.end && *r.p == '{') {
                /*
                 * meta is checked as a whole first, then walked again
                 * (already known to be valid) for its one member we use
                 */
                oie_reader_t  rr = r;

                if (oie_read_value(&r, &skip) != 0) {
                    return oie_json_error(b, &r);
                }

                rr.p++;
                for ( ;; ) {
                    oie_skip_ws(&rr);
                    if (rr.p >= rr.end || *rr.p != '"') {
                        break;
                    }
                    memset(&key, 0, sizeof(key));
                    if (oie_read_string(&rr, &key) != 0) {
                        break;
                    }
                    oie_skip_ws(&rr);
                    rr.p++;                         /* ':' */
                    oie_skip_ws(&rr);
                    memset(&sent, 0, sizeof(sent));
                    if (oie_read_value(&rr, &sent) != 0) {
                        break;
                    }
                    if (oie_key_is(&key, OIE_LIT("sentAt"))) {
                        if (sent.kind != OIE_J_NUMBER || !(sent.num >= 0)
                            || sent.num > (double) OIE_MAX_MSEC)
                        {
                            b->sent_at = -2;
                        } else {
                            b->sent_at = (int64_t) sent.num;
                        }
                    }
                    oie_skip_ws(&rr);
                    if (rr.p < rr.end && *rr.p == ',') {
                        rr.p++;
                        continue;
                    }
                    break;
                }

            } else {
                if (oie_read_value(&r, &skip) != 0) {
                    return oie_json_error(b, &r);
                }
                b->sent_at = -3;                 /* meta not an object */
            }

        } else {
            memset(&skip, 0, sizeof(skip));
            if (oie_read_value(&r, &skip) != 0) {
                return oie_json_error(b, &r);
            }
        }

    next:

        oie_skip_ws(&r);

        if (r.p < r.end && *r.p == ',') {
            r.p++;
            continue;
        }

        if (r.p < r.end && *r.p == '}') {
            r.p++;
            break;
        }

        r.error = "expected ',' or '}'";
        return oie_json_error(b, &r);
    }

end:

    oie_skip_ws(&r);

    if (r.p != r.end) {
        r.error = "trailing characters";
        return oie_json_error(b, &r);
    }

    /* the shape of the batch */

    if (!seen_events || b->n == (size_t) -1) {
        return oie_batch_error(b, OIE_EVENT_BAD_BATCH,
                               "\"events\" must be an array");
    }

    if (b->n == 0 || b->n > OIE_EVENTS_MAX) {
        return oie_batch_error(b, OIE_EVENT_BAD_BATCH,
                               "\"events\" must hold 1 to 100 events");
    }

    if (b->sent_at == -3) {
        return oie_batch_error(b, OIE_EVENT_BAD_BATCH,
                               "\"meta\" must be an object");
    }

    if (b->sent_at == -2) {
        return oie_batch_error(b, OIE_EVENT_BAD_BATCH,
                               "\"meta.sentAt\" must be a time in "
                               "milliseconds");
    }

    for (i = 0; i < b->n; i++) {
        if (b->ev[i].type == (unsigned) -1) {
            return oie_batch_error(b, OIE_EVENT_BAD_EVENT,
                                   "event %zu: is not an object", i);
        }

        if (oie_check_event(b, i) != OIE_EVENT_OK) {
            return b->error;
        }
    }

    return OIE_EVENT_OK;
}


int64_t
oie_event_int(const oie_jval_t *v)
{
    return v->kind == OIE_J_NUMBER ? (int64_t) v->num : -1;
}


const char *
oie_event_type_name(const oie_wire_event_t *ev)
{
    int  i;

    for (i = 0; oie_types[i].name; i++) {
        if (oie_types[i].mask == ev->type) {
            return oie_types[i].name;
        }
    }

    return "";
}
