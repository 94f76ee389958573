/*
 * The strict JSON reader under the wire format (see oie_event.h): RFC 8259
 * values, kept as spans of the body, with UTF-8, escapes and nesting
 * checked on the way; and the decoding of a string value.
 */

#include <stdlib.h>
#include <string.h>

#include "oie_event.h"
#include "oie_event_internal.h"
#include "oie_json.h"


void
oie_skip_ws(oie_reader_t *r)
{
    while (r->p < r->end
           && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n'
               || *r->p == '\r'))
    {
        r->p++;
    }
}


int
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
size_t
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
int
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


/* one or more digits at *pp (a fraction's, an exponent's) */
static int
oie_read_digits(oie_reader_t *r, const unsigned char **pp)
{
    const unsigned char  *p = *pp;

    if (p >= r->end || *p < '0' || *p > '9') {
        r->p = p;
        return oie_fail(r, "bad number");
    }

    while (p < r->end && *p >= '0' && *p <= '9') {
        p++;
    }

    *pp = p;
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

        if (oie_read_digits(r, &p) != 0) {
            return -1;
        }
    }

    if (p < r->end && (*p == 'e' || *p == 'E')) {
        v->is_int = 0;
        p++;

        if (p < r->end && (*p == '+' || *p == '-')) {
            p++;
        }

        if (oie_read_digits(r, &p) != 0) {
            return -1;
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
            if (oie_read_key(r, &key) != 0) {
                return -1;
            }
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


int
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


int
oie_read_key(oie_reader_t *r, oie_jval_t *key)
{
    if (r->p >= r->end || *r->p != '"') {
        return oie_fail(r, "expected a key");
    }

    memset(key, 0, sizeof(oie_jval_t));

    if (oie_read_string(r, key) != 0) {
        return -1;
    }

    oie_skip_ws(r);

    if (r->p >= r->end || *r->p != ':') {
        return oie_fail(r, "expected ':'");
    }

    r->p++;
    oie_skip_ws(r);

    return 0;
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
