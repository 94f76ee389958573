/*
 * A fast in-place reader for flat JSON objects; see oie_flatjson.h.
 */

#include <stdlib.h>
#include <string.h>

#include "oie_csv.h"
#include "oie_flatjson.h"


#define OIE_FJ_MAX_FIELDS  4096


typedef struct {
    char      *p;
    char      *end;
    char      *start;
    oie_fj_t  *fj;
} oie_fj_state_t;


static int oie_fj_fail(oie_fj_state_t *st, const char *at, const char *msg);
static void oie_fj_ws(oie_fj_state_t *st);
static int oie_fj_hex4(const char *p, unsigned *v);
static int oie_fj_string(oie_fj_state_t *st, char **out, size_t *len);
static int oie_fj_number(oie_fj_state_t *st);
static int oie_fj_object(oie_fj_state_t *st, int parent, int depth);


static int
oie_fj_fail(oie_fj_state_t *st, const char *at, const char *msg)
{
    st->fj->err_off = (size_t) (at - st->start);
    strncpy(st->fj->err, msg, OIE_FJ_ERR_LEN - 1);
    st->fj->err[OIE_FJ_ERR_LEN - 1] = '\0';

    return -1;
}


static void
oie_fj_ws(oie_fj_state_t *st)
{
    while (st->p < st->end
           && (*st->p == ' ' || *st->p == '\t' || *st->p == '\n'
               || *st->p == '\r'))
    {
        st->p++;
    }
}


static int
oie_fj_hex4(const char *p, unsigned *v)
{
    int       i;
    unsigned  n;
    char      c;

    n = 0;

    for (i = 0; i < 4; i++) {
        c = p[i];
        n <<= 4;

        if (c >= '0' && c <= '9') {
            n |= (unsigned) (c - '0');

        } else if (c >= 'a' && c <= 'f') {
            n |= (unsigned) (c - 'a' + 10);

        } else if (c >= 'A' && c <= 'F') {
            n |= (unsigned) (c - 'A' + 10);

        } else {
            return -1;
        }
    }

    *v = n;

    return 0;
}


static int
oie_fj_string(oie_fj_state_t *st, char **out, size_t *len)
{
    char           *r, *w, *end;
    size_t          n;
    unsigned        cp, lo;
    unsigned char   c;

    r = st->p + 1;
    w = r;
    end = st->end;
    *out = r;

    for ( ;; ) {
        if (r >= end) {
            return oie_fj_fail(st, st->p, "string is never closed");
        }

        c = (unsigned char) *r;

        if (c == '"') {
            break;
        }

        if (c < 0x20) {
            return oie_fj_fail(st, r, "control character in a string "
                               "(write it as \\n, \\t or \\u00XX)");
        }

        if (c < 0x80 && c != '\\') {
            *w++ = *r++;
            continue;
        }

        if (c >= 0x80) {
            n = oie_utf8_len((const unsigned char *) r, (size_t) (end - r));
            if (n == 0) {
                return oie_fj_fail(st, r, "invalid UTF-8 in a string");
            }

            while (n--) {
                *w++ = *r++;
            }

            continue;
        }

        /* an escape */

        if (r + 1 >= end) {
            return oie_fj_fail(st, st->p, "string is never closed");
        }

        switch (r[1]) {
        case '"':
        case '\\':
        case '/':
            *w++ = r[1];
            r += 2;
            continue;
        case 'b':
            *w++ = '\b';
            r += 2;
            continue;
        case 'f':
            *w++ = '\f';
            r += 2;
            continue;
        case 'n':
            *w++ = '\n';
            r += 2;
            continue;
        case 'r':
            *w++ = '\r';
            r += 2;
            continue;
        case 't':
            *w++ = '\t';
            r += 2;
            continue;
        case 'u':
            break;
        default:
            return oie_fj_fail(st, r, "unknown escape in a string");
        }

        if (end - r < 6 || oie_fj_hex4(r + 2, &cp) != 0) {
            return oie_fj_fail(st, r, "\\u needs four hex digits");
        }

        if (cp == 0) {
            return oie_fj_fail(st, r, "\\u0000 is not allowed in a string");
        }

        if (cp >= 0xdc00 && cp <= 0xdfff) {
            return oie_fj_fail(st, r, "lone low surrogate in a string");
        }

        if (cp >= 0xd800 && cp <= 0xdbff) {
            if (end - r < 12 || r[6] != '\\' || r[7] != 'u'
                || oie_fj_hex4(r + 8, &lo) != 0
                || lo < 0xdc00 || lo > 0xdfff)
            {
                return oie_fj_fail(st, r, "high surrogate without a low one "
                                   "in a string");
            }

            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            r += 6;
        }

        r += 6;

        /* the UTF-8 form is never longer than the escape it replaces */

        if (cp < 0x80) {
            *w++ = (char) cp;

        } else if (cp < 0x800) {
            *w++ = (char) (0xc0 | (cp >> 6));
            *w++ = (char) (0x80 | (cp & 0x3f));

        } else if (cp < 0x10000) {
            *w++ = (char) (0xe0 | (cp >> 12));
            *w++ = (char) (0x80 | ((cp >> 6) & 0x3f));
            *w++ = (char) (0x80 | (cp & 0x3f));

        } else {
            *w++ = (char) (0xf0 | (cp >> 18));
            *w++ = (char) (0x80 | ((cp >> 12) & 0x3f));
            *w++ = (char) (0x80 | ((cp >> 6) & 0x3f));
            *w++ = (char) (0x80 | (cp & 0x3f));
        }
    }

    *len = (size_t) (w - *out);
    *w = '\0';
    st->p = r + 1;

    return 0;
}


static int
oie_fj_number(oie_fj_state_t *st)
{
    char  *p, *end;

    p = st->p;
    end = st->end;

    if (p < end && *p == '-') {
        p++;
    }

    if (p < end && *p == '0') {
        p++;

    } else if (p < end && *p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }

    } else {
        return oie_fj_fail(st, p, "invalid number");
    }

    if (p < end && *p == '.') {
        p++;

        if (p >= end || *p < '0' || *p > '9') {
            return oie_fj_fail(st, p, "invalid number: digits expected "
                               "after '.'");
        }

        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }

        if (p >= end || *p < '0' || *p > '9') {
            return oie_fj_fail(st, p, "invalid number: digits expected in "
                               "the exponent");
        }

        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    st->p = p;

    return 0;
}


static int
oie_fj_object(oie_fj_state_t *st, int parent, int depth)
{
    int              idx;
    char            *key, *at;
    size_t           key_len, i, n;
    oie_fj_t        *fj;
    oie_fj_field_t  *f;

    fj = st->fj;

    st->p++;    /* '{' */
    oie_fj_ws(st);

    if (st->p < st->end && *st->p == '}') {
        st->p++;
        return 0;
    }

    for ( ;; ) {
        if (st->p >= st->end) {
            return oie_fj_fail(st, st->p, "object is never closed");
        }

        if (*st->p != '"') {
            return oie_fj_fail(st, st->p, "a key (a string) expected");
        }

        at = st->p;

        if (oie_fj_string(st, &key, &key_len) != 0) {
            return -1;
        }

        for (i = 0; i < fj->n; i++) {
            if (fj->fields[i].parent == parent
                && fj->fields[i].key_len == key_len
                && memcmp(fj->fields[i].key, key, key_len) == 0)
            {
                return oie_fj_fail(st, at, "duplicate key");
            }
        }

        oie_fj_ws(st);

        if (st->p >= st->end || *st->p != ':') {
            return oie_fj_fail(st, st->p, "':' expected after a key");
        }

        st->p++;
        oie_fj_ws(st);

        if (fj->n == fj->nalloc) {
            if (fj->n >= OIE_FJ_MAX_FIELDS) {
                return oie_fj_fail(st, at, "too many keys");
            }

            n = fj->nalloc ? fj->nalloc * 2 : 32;
            f = realloc(fj->fields, n * sizeof(oie_fj_field_t));
            if (f == NULL) {
                return -2;
            }

            fj->fields = f;
            fj->nalloc = n;
        }

        idx = (int) fj->n++;
        f = &fj->fields[idx];
        f->key = key;
        f->key_len = key_len;
        f->parent = parent;
        f->val = st->p;

        if (st->p >= st->end) {
            return oie_fj_fail(st, st->p, "a value expected");
        }

        switch (*st->p) {

        case '"':
            f->type = OIE_FJ_STRING;
            if (oie_fj_string(st, &f->val, &f->len) != 0) {
                return -1;
            }
            break;

        case '{':
            if (depth > 0) {
                return oie_fj_fail(st, st->p, "objects nested this deep "
                                   "are not supported");
            }

            f->type = OIE_FJ_OBJECT;
            f->len = 0;
            if (oie_fj_object(st, idx, depth + 1) != 0) {
                return -1;
            }

            /* the children may have moved the array */
            f = &fj->fields[idx];
            break;

        case '[':
            return oie_fj_fail(st, st->p, "arrays are not supported here");

        case 't':
        case 'f':
        case 'n':
            if (st->end - st->p >= 4 && memcmp(st->p, "true", 4) == 0) {
                f->type = OIE_FJ_TRUE;
                f->len = 4;

            } else if (st->end - st->p >= 5
                       && memcmp(st->p, "false", 5) == 0)
            {
                f->type = OIE_FJ_FALSE;
                f->len = 5;

            } else if (st->end - st->p >= 4
                       && memcmp(st->p, "null", 4) == 0)
            {
                f->type = OIE_FJ_NULL;
                f->len = 4;

            } else {
                return oie_fj_fail(st, st->p, "invalid literal");
            }

            st->p += f->len;
            break;

        case '-': case '0': case '1': case '2': case '3':
        case '4': case '5': case '6': case '7': case '8':
        case '9':
            f->type = OIE_FJ_NUMBER;
            if (oie_fj_number(st) != 0) {
                return -1;
            }

            f->len = (size_t) (st->p - f->val);
            break;

        default:
            return oie_fj_fail(st, st->p, "a value expected");
        }

        oie_fj_ws(st);

        if (st->p >= st->end) {
            return oie_fj_fail(st, st->p, "object is never closed");
        }

        if (*st->p == ',') {
            st->p++;
            oie_fj_ws(st);
            continue;
        }

        if (*st->p == '}') {
            st->p++;
            return 0;
        }

        return oie_fj_fail(st, st->p, "',' or '}' expected");
    }
}


int
oie_fj_parse(oie_fj_t *fj, char *text, size_t len)
{
    int             rc;
    oie_fj_state_t  st;

    fj->n = 0;
    fj->err[0] = '\0';
    fj->err_off = 0;

    st.p = text;
    st.start = text;
    st.end = text + len;
    st.fj = fj;

    oie_fj_ws(&st);

    if (st.p >= st.end || *st.p != '{') {
        return oie_fj_fail(&st, st.p, "a JSON object expected");
    }

    rc = oie_fj_object(&st, -1, 0);
    if (rc != 0) {
        return rc;
    }

    oie_fj_ws(&st);

    if (st.p != st.end) {
        return oie_fj_fail(&st, st.p, "text after the object");
    }

    return 0;
}


oie_fj_field_t *
oie_fj_get(oie_fj_t *fj, int parent, const char *key)
{
    size_t  i, len;

    len = strlen(key);

    for (i = 0; i < fj->n; i++) {
        if (fj->fields[i].parent == parent && fj->fields[i].key_len == len
            && memcmp(fj->fields[i].key, key, len) == 0)
        {
            return &fj->fields[i];
        }
    }

    return NULL;
}


void
oie_fj_free(oie_fj_t *fj)
{
    free(fj->fields);
    fj->fields = NULL;
    fj->n = 0;
    fj->nalloc = 0;
}
