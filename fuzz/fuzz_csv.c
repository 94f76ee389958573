/*
 * libFuzzer harness for src/oie_csv.c, the CLI's lead-list reader: every
 * input is parsed to the end or to its fault.  Beyond "no crash" it checks
 * what the reader promises: fields lie inside the buffer, are NUL-terminated
 * at their length, hold only UTF-8 without NUL, faults have a line, a column
 * and a message, and a list that parsed, written back fully quoted, parses
 * to the same records.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oie_csv.h"
#include "fuzz_util.h"


#define FUZZ_CSV_MAX_RECORDS  4096


typedef struct {
    unsigned char  *out;
    size_t          len;
    size_t          cap;
} fuzz_buf_t;


static void
fuzz_buf_put(fuzz_buf_t *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->out = realloc(b->out, b->cap);
        FUZZ_CHECK(b->out != NULL);
    }

    memcpy(b->out + b->len, p, n);
    b->len += n;
}


/* every field quoted, quotes doubled: the reader's own input form */
static void
fuzz_csv_write_record(fuzz_buf_t *b, oie_csv_t *csv)
{
    size_t  i, j;

    for (i = 0; i < csv->nfields; i++) {
        if (i) {
            fuzz_buf_put(b, ",", 1);
        }

        fuzz_buf_put(b, "\"", 1);

        for (j = 0; j < csv->fields[i].len; j++) {
            if (csv->fields[i].data[j] == '"') {
                fuzz_buf_put(b, "\"", 1);
            }
            fuzz_buf_put(b, &csv->fields[i].data[j], 1);
        }

        fuzz_buf_put(b, "\"", 1);
    }

    fuzz_buf_put(b, "\r\n", 2);
}


/* parses buf; fills out (when not NULL) with the records written back */
static int
fuzz_csv_parse(unsigned char *buf, size_t len, fuzz_buf_t *out,
    size_t *nrecords)
{
    int         rc;
    size_t      i, records;
    oie_csv_t   csv;
    oie_csv_field_t  *f;

    oie_csv_init(&csv, buf, len);
    records = 0;

    while ((rc = oie_csv_next(&csv)) == 1) {
        FUZZ_CHECK(++records <= len + 1);
        FUZZ_CHECK(csv.nfields >= 1);
        FUZZ_CHECK(csv.record_line >= 1);

        for (i = 0; i < csv.nfields; i++) {
            f = &csv.fields[i];

            FUZZ_CHECK((unsigned char *) f->data >= buf);
            FUZZ_CHECK((unsigned char *) f->data + f->len <= buf + len);
            FUZZ_CHECK(f->data[f->len] == '\0');
            FUZZ_CHECK(memchr(f->data, '\0', f->len) == NULL);
            FUZZ_CHECK(fuzz_utf8_valid((unsigned char *) f->data, f->len));
            FUZZ_CHECK(f->line >= csv.record_line && f->col >= 1);
        }

        if (out && records <= FUZZ_CSV_MAX_RECORDS) {
            fuzz_csv_write_record(out, &csv);
        }
    }

    if (rc == -1) {
        FUZZ_CHECK(csv.err[0] != '\0');
        FUZZ_CHECK(csv.err_line >= 1 && csv.err_col >= 1);
        FUZZ_CHECK(memchr(csv.err, '\0', sizeof(csv.err)) != NULL);

    } else {
        FUZZ_CHECK(rc == 0 || rc == -2);
    }

    oie_csv_free(&csv);
    *nrecords = records;

    return rc;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             rc;
    size_t          n1, n2;
    fuzz_buf_t      out, again;
    unsigned char  *buf, *copy;

    buf = malloc(size + 1);
    FUZZ_CHECK(buf != NULL);
    memcpy(buf, data, size);

    memset(&out, 0, sizeof(out));
    rc = fuzz_csv_parse(buf, size, &out, &n1);

    if (rc == 0 && n1 <= FUZZ_CSV_MAX_RECORDS) {
        /* what was read, written back, reads the same */
        copy = malloc(out.len + 1);
        FUZZ_CHECK(copy != NULL);
        if (out.len) {
            memcpy(copy, out.out, out.len);
        }

        memset(&again, 0, sizeof(again));
        FUZZ_CHECK(fuzz_csv_parse(copy, out.len, &again, &n2) == 0);
        FUZZ_CHECK(n2 == n1);
        FUZZ_CHECK(again.len == out.len);
        FUZZ_CHECK(out.len == 0 || memcmp(again.out, out.out, out.len) == 0);

        free(again.out);
        free(copy);
    }

    free(out.out);
    free(buf);

    return 0;
}
