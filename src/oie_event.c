/*
 * See oie_event.h.  The reader follows RFC 8259: one value, objects,
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


#define OIE_T_PAGEVIEW     0x01
#define OIE_T_SCROLL       0x02
#define OIE_T_CLICK        0x04
#define OIE_T_FORM         0x08
#define OIE_T_VIDEO        0x10
#define OIE_T_FOCUS        0x20
#define OIE_T_ENGAGEMENT   0x40
#define OIE_T_CUSTOM       0x80
#define OIE_T_ALL          0xff

/* how a field is checked and written */
#define OIE_K_STR          1
#define OIE_K_INT          2
#define OIE_K_BOOL         3
#define OIE_K_STRLIST      4
#define OIE_K_PROPS        5
#define OIE_K_MSEC         6

/* 9999-12-31, the last day BigQuery's TIMESTAMP takes */
#define OIE_MAX_MSEC       253402300799999LL

#define OIE_MAX_LIST       100
#define OIE_MAX_PROPS      50
#define OIE_MAX_PROP_STR   1024


typedef struct {
    const char  *name;
    size_t       len;
    unsigned     mask;
} oie_type_t;


/* a literal and its length */
#define OIE_LIT(s)         s, sizeof(s) - 1
/* the text that opens a column after the first: ,"name": */
#define OIE_KEY(s)         OIE_LIT(",\"" s "\":")


typedef struct {
    const char  *wire;
    size_t       wire_len;
    const char  *key;            /* ,"column": -- NULL: written by hand */
    size_t       key_len;
    int          kind;
    int64_t      min;            /* strings: shortest length */
    int64_t      max;            /* bytes for strings, value for numbers */
    unsigned     types;          /* event types the field belongs to */
    unsigned     required;       /* event types that must carry it */
} oie_field_t;


typedef struct {
    const unsigned char  *start;
    const unsigned char  *p;
    const unsigned char  *end;
    int                   depth;
    const char           *error;
} oie_reader_t;


static const oie_type_t  oie_types[] = {
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
static const oie_field_t  oie_fields[OIE_F_N] = {
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
static uint32_t       oie_type_fields[8];
static uint32_t       oie_type_required[8];
static int            oie_fields_ready;


static int oie_read_value(oie_reader_t *r, oie_jval_t *v);


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


static void
oie_skip_ws(oie_reader_t *r)
{
    while (r->p < r->end
           && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n'
               || *r->p == '\r'))
    {
        r->p++;
    }
}


static int
oie_fail(oie_reader_t *r, const char *why)
{
    if (r->error == NULL) {
        r->error = why;
    }
    return -1;
}


static int
oie_hex4(const unsigned char *p, unsigned *cp)
{
    int       i;
    unsigned  c, v;

    v = 0;

    for (i = 0; i < 4; i++) {
        c = p[i];
        v <<= 4;

        if (c >= '0' && c <= '9') {
            v |= c - '0';
        } else if (c >= 'a' && c <= 'f') {
            v |= c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            v |= c - 'A' + 10;
        } else {
            return -1;
        }
    }

    *cp = v;
    return 0;
}


static size_t
oie_utf8_len(unsigned cp)
{
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}


/* one UTF-8 sequence at p (lead byte >= 0x80); its length, or 0 if bad */
static size_t
oie_utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned  c, cp;
    size_t    n, i;

    c = p[0];

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }

    if ((size_t) (end - p) < n) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (p[i] & 0x3f);
    }

    /* overlong, surrogate, beyond Unicode */
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)
        || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
    {
        return 0;
    }

    return n;
}


/* at the opening quote; leaves r->p after the closing one */
static int
oie_read_string(oie_reader_t *r, oie_jval_t *v)
{
    size_t                n, dlen;
    unsigned              cp, lo;
    const unsigned char  *p;

    p = r->p + 1;
    dlen = 0;
    v->escaped = 0;

    for ( ;; ) {
        /* the common case: a run of printable ASCII */
        n = oie_json_plain(p, r->end) - p;
        p += n;
        dlen += n;

        if (p >= r->end) {
            r->p = p;
            return oie_fail(r, "unterminated string");
        }

        if (*p == '"') {
            break;
        }

        if (*p < 0x20) {
            r->p = p;
            return oie_fail(r, "control character in a string");
        }

        if (*p == '\\') {
            v->escaped = 1;

            if (p + 1 >= r->end) {
                r->p = p;
                return oie_fail(r, "unterminated string");
            }

            switch (p[1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n':
            case 'r': case 't':
                p += 2;
                dlen++;
                continue;

            case 'u':
                if (r->end - p < 6 || oie_hex4(p + 2, &cp) != 0) {
                    r->p = p;
                    return oie_fail(r, "bad \\u escape");
                }

                p += 6;

                if (cp == 0) {
                    r->p = p;
                    return oie_fail(r, "\\u0000 is not allowed");
                }

                if (cp >= 0xdc00 && cp <= 0xdfff) {
                    r->p = p;
                    return oie_fail(r, "lone low surrogate");
                }

                if (cp >= 0xd800 && cp <= 0xdbff) {
                    if (r->end - p < 6 || p[0] != '\\' || p[1] != 'u'
                        || oie_hex4(p + 2, &lo) != 0
                        || lo < 0xdc00 || lo > 0xdfff)
                    {
                        r->p = p;
                        return oie_fail(r, "lone high surrogate");
                    }

                    p += 6;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }

                dlen += oie_utf8_len(cp);
                continue;

            default:
                r->p = p;
                return oie_fail(r, "bad escape");
            }
        }

        if (*p < 0x80) {
            p++;
            dlen++;
            continue;
        }

        n = oie_utf8_seq(p, r->end);

        if (n == 0) {
            r->p = p;
            return oie_fail(r, "invalid UTF-8");
        }

        p += n;
        dlen += n;
    }

    v->kind = OIE_J_STRING;
    v->raw = r->p + 1;
    v->len = p - (r->p + 1);
    v->dlen = dlen;
    r->p = p + 1;

    return 0;
}


static int
oie_read_number(oie_reader_t *r, oie_jval_t *v)
{
    int                   neg;
    char                  buf[64];
    int64_t               n;
    const unsigned char  *p, *q, *start;

    p = start = r->p;
    v->is_int = 1;

    if (p < r->end && *p == '-') {
        p++;
    }

    if (p < r->end && *p == '0') {
        p++;

    } else if (p < r->end && *p >= '1' && *p <= '9') {
        while (p < r->end && *p >= '0' && *p <= '9') {
            p++;
        }

    } else {
        r->p = p;
        return oie_fail(r, "bad number");
    }

    if (p < r->end && *p == '.') {
        v->is_int = 0;
        p++;

        if (p >= r->end || *p < '0' || *p > '9') {
            r->p = p;
            return oie_fail(r, "bad number");
        }

        while (p < r->end && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p < r->end && (*p == 'e' || *p == 'E')) {
        v->is_int = 0;
        p++;

        if (p < r->end && (*p == '+' || *p == '-')) {
            p++;
        }

        if (p >= r->end || *p < '0' || *p > '9') {
            r->p = p;
            return oie_fail(r, "bad number");
        }

        while (p < r->end && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    v->kind = OIE_J_NUMBER;
    v->raw = start;
    v->len = p - start;

    if (v->is_int && v->len <= 15) {
        /* exact in a double: no strtod for timestamps and counts */
        q = start;
        neg = (*q == '-');
        q += neg;

        for (n = 0; q < p; q++) {
            n = n * 10 + (*q - '0');
        }

        v->num = neg ? -(double) n : (double) n;

    } else if (v->len < sizeof(buf)) {
        memcpy(buf, start, v->len);
        buf[v->len] = '\0';
        v->num = strtod(buf, NULL);

    } else {
        /* absurdly long: a number, but not one any field takes */
        v->num = 1e300;
    }

    r->p = p;
    return 0;
}


static int
oie_read_literal(oie_reader_t *r, const char *word, int kind, oie_jval_t *v)
{
    size_t  n;

    n = strlen(word);

    if ((size_t) (r->end - r->p) < n || memcmp(r->p, word, n) != 0) {
        return oie_fail(r, "unexpected character");
    }

    v->kind = kind;
    v->raw = r->p;
    v->len = n;
    r->p += n;

    return 0;
}


/*
 * Objects and arrays read generically (values no field takes apart): the
 * span, how many members, whether they are flat, whether an array holds
 * only strings, and the longest string member.
 */
static int
oie_read_container(oie_reader_t *r, oie_jval_t *v)
{
    int                   object;
    oie_jval_t            item, key;
    const unsigned char  *start;

    object = (*r->p == '{');
    start = r->p;

    if (++r->depth > OIE_JSON_MAX_DEPTH) {
        return oie_fail(r, "nesting too deep");
    }

    r->p++;
    v->dlen = 0;
    v->flat = 1;
    v->strings = 1;
    v->max_item = 0;

    oie_skip_ws(r);

    if (r->p < r->end && *r->p == (object ? '}' : ']')) {
        r->p++;
        goto done;
    }

    for ( ;; ) {
        oie_skip_ws(r);

        if (object) {
            if (r->p >= r->end || *r->p != '"') {
                return oie_fail(r, "expected a key");
            }

            memset(&key, 0, sizeof(key));

            if (oie_read_string(r, &key) != 0) {
                return -1;
            }

            oie_skip_ws(r);

            if (r->p >= r->end || *r->p != ':') {
                return oie_fail(r, "expected ':'");
            }

            r->p++;
            oie_skip_ws(r);
        }

        memset(&item, 0, sizeof(item));

        if (oie_read_value(r, &item) != 0) {
            return -1;
        }

        v->dlen++;

        if (item.kind == OIE_J_OBJECT || item.kind == OIE_J_ARRAY) {
            v->flat = 0;
        }

        if (item.kind != OIE_J_STRING) {
            v->strings = 0;

        } else if (item.dlen > v->max_item) {
            v->max_item = item.dlen;
        }

        oie_skip_ws(r);

        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }

        if (r->p < r->end && *r->p == (object ? '}' : ']')) {
            r->p++;
            break;
        }

        return oie_fail(r, object ? "expected ',' or '}'"
                                  : "expected ',' or ']'");
    }

done:

    r->depth--;
    v->kind = object ? OIE_J_OBJECT : OIE_J_ARRAY;
    v->raw = start;
    v->len = r->p - start;

    return 0;
}


static int
oie_read_value(oie_reader_t *r, oie_jval_t *v)
{
    if (r->p >= r->end) {
        return oie_fail(r, "unexpected end of input");
    }

    switch (*r->p) {
    case '"':
        return oie_read_string(r, v);
    case '{':
    case '[':
        return oie_read_container(r, v);
    case 't':
        return oie_read_literal(r, "true", OIE_J_TRUE, v);
    case 'f':
        return oie_read_literal(r, "false", OIE_J_FALSE, v);
    case 'n':
        return oie_read_literal(r, "null", OIE_J_NULL, v);
    default:
        return oie_read_number(r, v);
    }
}


/* a key compared with a plain ASCII name, escapes and all */
static int
oie_key_is(const oie_jval_t *key, const char *name, size_t len)
{
    uint64_t       a, b, c, d;
    unsigned char  buf[32];
    long           n;

    if (!key->escaped) {
        if (key->len != len) {
            return 0;
        }

        /* names of 8 to 16 bytes: two words that may overlap, in line */
        if (len >= 8 && len <= 16) {
            memcpy(&a, key->raw, 8);
            memcpy(&b, name, 8);
            memcpy(&c, key->raw + len - 8, 8);
            memcpy(&d, name + len - 8, 8);
            return a == b && c == d;
        }

        return memcmp(key->raw, name, len) == 0;
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

        if (r->p >= r->end || *r->p != '"') {
            return oie_fail(r, "expected a key");
        }

        memset(&key, 0, sizeof(key));

        if (oie_read_string(r, &key) != 0) {
            return -1;
        }

        oie_skip_ws(r);

        if (r->p >= r->end || *r->p != ':') {
            return oie_fail(r, "expected ':'");
        }

        r->p++;
        oie_skip_ws(r);

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

        if (r.p >= r.end || *r.p != '"') {
            r.error = "expected a key";
            return oie_json_error(b, &r);
        }

        memset(&key, 0, sizeof(key));

        if (oie_read_string(&r, &key) != 0) {
            return oie_json_error(b, &r);
        }

        oie_skip_ws(&r);

        if (r.p >= r.end || *r.p != ':') {
            r.error = "expected ':'";
            return oie_json_error(b, &r);
        }

        r.p++;
        oie_skip_ws(&r);

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


long
oie_event_string(const oie_jval_t *v, unsigned char *buf, size_t cap)
{
    size_t                n;
    unsigned              cp, lo;
    const unsigned char  *p, *end;

    if (v->kind != OIE_J_STRING) {
        return -1;
    }

    if (!v->escaped) {
        if (v->len > cap) {
            return -1;
        }
        memcpy(buf, v->raw, v->len);
        return (long) v->len;
    }

    p = v->raw;
    end = p + v->len;
    n = 0;

    while (p < end) {
        if (*p != '\\') {
            if (n >= cap) {
                return -1;
            }
            buf[n++] = *p++;
            continue;
        }

        switch (p[1]) {
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u':
            (void) oie_hex4(p + 2, &cp);
            if (cp >= 0xd800 && cp <= 0xdbff) {
                (void) oie_hex4(p + 8, &lo);
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;
            }
            p += 4;
            break;
        default:  cp = p[1];
        }

        p += 2;

        if (n + oie_utf8_len(cp) > cap) {
            return -1;
        }

        if (cp < 0x80) {
            buf[n++] = (unsigned char) cp;
        } else if (cp < 0x800) {
            buf[n++] = 0xc0 | (cp >> 6);
            buf[n++] = 0x80 | (cp & 0x3f);
        } else if (cp < 0x10000) {
            buf[n++] = 0xe0 | (cp >> 12);
            buf[n++] = 0x80 | ((cp >> 6) & 0x3f);
            buf[n++] = 0x80 | (cp & 0x3f);
        } else {
            buf[n++] = 0xf0 | (cp >> 18);
            buf[n++] = 0x80 | ((cp >> 12) & 0x3f);
            buf[n++] = 0x80 | ((cp >> 6) & 0x3f);
            buf[n++] = 0x80 | (cp & 0x3f);
        }
    }

    return (long) n;
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
