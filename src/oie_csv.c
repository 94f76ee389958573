/*
 * A strict, in-place CSV reader; see oie_csv.h for what it accepts.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oie_csv.h"


static int oie_csv_push(oie_csv_t *csv, unsigned char *data, size_t len,
    size_t line, size_t col);
static int oie_csv_fail(oie_csv_t *csv, size_t line, size_t col,
    const char *fmt, unsigned c);
static int oie_csv_bad_utf8(oie_csv_t *csv, const unsigned char *p);


void
oie_csv_init(oie_csv_t *csv, unsigned char *buf, size_t len)
{
    memset(csv, 0, sizeof(oie_csv_t));

    csv->pos = buf;
    csv->end = buf + len;
    csv->line = 1;
    csv->col = 1;

    if (len >= 3 && buf[0] == 0xef && buf[1] == 0xbb && buf[2] == 0xbf) {
        csv->pos += 3;
    }
}


void
oie_csv_free(oie_csv_t *csv)
{
    free(csv->fields);
    csv->fields = NULL;
    csv->nalloc = 0;
    csv->nfields = 0;
}


size_t
oie_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char  c;

    c = s[0];

    if (c < 0x80) {
        return c == 0 ? 0 : 1;
    }

    if (c >= 0xc2 && c <= 0xdf) {
        if (n < 2 || (s[1] & 0xc0) != 0x80) {
            return 0;
        }

        return 2;
    }

    if (c >= 0xe0 && c <= 0xef) {
        if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80) {
            return 0;
        }

        /* overlong forms and UTF-16 surrogates */

        if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f)) {
            return 0;
        }

        return 3;
    }

    if (c >= 0xf0 && c <= 0xf4) {
        if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80
            || (s[3] & 0xc0) != 0x80)
        {
            return 0;
        }

        /* overlong forms and code points past U+10FFFF */

        if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f)) {
            return 0;
        }

        return 4;
    }

    return 0;
}


static int
oie_csv_fail(oie_csv_t *csv, size_t line, size_t col, const char *fmt,
    unsigned c)
{
    csv->err_line = line;
    csv->err_col = col;
    snprintf(csv->err, OIE_CSV_ERR_LEN, fmt, c);

    return -1;
}


static int
oie_csv_bad_utf8(oie_csv_t *csv, const unsigned char *p)
{
    if (*p == 0) {
        return oie_csv_fail(csv, csv->line, csv->col,
                            "NUL byte (is this a UTF-16 file?)", 0);
    }

    return oie_csv_fail(csv, csv->line, csv->col,
                        "invalid UTF-8 (byte 0x%02x); save the file as UTF-8",
                        *p);
}


static int
oie_csv_push(oie_csv_t *csv, unsigned char *data, size_t len, size_t line,
    size_t col)
{
    size_t            n;
    oie_csv_field_t  *f;

    if (csv->nfields == csv->nalloc) {
        n = csv->nalloc ? csv->nalloc * 2 : 16;

        f = realloc(csv->fields, n * sizeof(oie_csv_field_t));
        if (f == NULL) {
            return -2;
        }

        csv->fields = f;
        csv->nalloc = n;
    }

    f = &csv->fields[csv->nfields++];
    f->data = (char *) data;
    f->len = len;
    f->line = line;
    f->col = col;

    return 0;
}


int
oie_csv_next(oie_csv_t *csv)
{
    size_t          n, line, col;
    unsigned char   c, *p, *end, *w, *start;

    p = csv->pos;
    end = csv->end;

    /* blank lines between records are not records */

    while (p < end && (*p == '\n' || *p == '\r')) {
        if (*p == '\r' && p + 1 < end && p[1] == '\n') {
            p++;
        }

        p++;
        csv->line++;
        csv->col = 1;
    }

    if (p == end) {
        csv->pos = p;
        return 0;
    }

    csv->nfields = 0;
    csv->record_line = csv->line;

    for ( ;; ) {
        line = csv->line;
        col = csv->col;

        if (p < end && *p == '"') {
            p++;
            csv->col++;
            start = p;
            w = p;

            for ( ;; ) {
                if (p == end) {
                    csv->pos = p;
                    return oie_csv_fail(csv, line, col,
                               "quoted field is never closed "
                               "(unbalanced quotes)", 0);
                }

                c = *p;

                if (c == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        *w++ = '"';
                        p += 2;
                        csv->col += 2;
                        continue;
                    }

                    p++;
                    csv->col++;
                    break;
                }

                if (c == '\n' || c == '\r') {
                    *w++ = c;
                    p++;

                    if (c == '\r' && p < end && *p == '\n') {
                        *w++ = *p++;
                    }

                    csv->line++;
                    csv->col = 1;
                    continue;
                }

                if (c < 0x80 && c != 0) {
                    *w++ = c;
                    p++;
                    csv->col++;
                    continue;
                }

                n = oie_utf8_len(p, end - p);
                if (n == 0) {
                    csv->pos = p;
                    return oie_csv_bad_utf8(csv, p);
                }

                while (n--) {
                    *w++ = *p++;
                }

                csv->col++;
            }

            if (p < end && *p != ',' && *p != '\n' && *p != '\r') {
                csv->pos = p;

                if (*p >= 0x20 && *p < 0x7f) {
                    return oie_csv_fail(csv, csv->line, csv->col,
                                        "unexpected '%c' after a closing "
                                        "quote (a quote inside a quoted "
                                        "field is written \"\")", *p);
                }

                return oie_csv_fail(csv, csv->line, csv->col,
                                    "unexpected byte 0x%02x after a closing "
                                    "quote", *p);
            }

        } else {
            start = p;

            while (p < end) {
                c = *p;

                if (c == ',' || c == '\n' || c == '\r') {
                    break;
                }

                if (c < 0x80 && c != 0) {
                    p++;
                    csv->col++;
                    continue;
                }

                n = oie_utf8_len(p, end - p);
                if (n == 0) {
                    csv->pos = p;
                    return oie_csv_bad_utf8(csv, p);
                }

                p += n;
                csv->col++;
            }

            w = p;
        }

        /* w is where the value ends, p is at the delimiter */

        if (oie_csv_push(csv, start, w - start, line, col) != 0) {
            csv->pos = p;
            return -2;
        }

        if (p == end) {
            *w = '\0';
            csv->pos = p;
            return 1;
        }

        c = *p;
        *w = '\0';
        p++;

        if (c == ',') {
            csv->col++;
            continue;
        }

        if (c == '\r' && p < end && *p == '\n') {
            p++;
        }

        csv->line++;
        csv->col = 1;
        csv->pos = p;

        return 1;
    }
}
