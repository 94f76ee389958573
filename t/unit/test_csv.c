/*
 * Unit tests of src/oie_csv.c: records, quoting, line ends and the line and
 * column of every fault.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oie_csv.h"


static int  tests;
static int  failed;


static void
ok(int cond, const char *name)
{
    tests++;

    if (!cond) {
        failed++;
    }

    printf("%sok %d - %s\n", cond ? "" : "not ", tests, name);
}


/*
 * Parses text and renders it as "a|b/c|d/" (records end with '/'), or
 * "ERR line:col" on a fault.
 */

static char *
render(const char *text, size_t len)
{
    int             rc;
    size_t          i;
    oie_csv_t       csv;
    static char     out[4096];
    unsigned char  *buf;

    buf = malloc(len + 1);
    if (buf == NULL) {
        return "nomem";
    }

    memcpy(buf, text, len);
    oie_csv_init(&csv, buf, len);
    out[0] = '\0';

    while ((rc = oie_csv_next(&csv)) == 1) {
        for (i = 0; i < csv.nfields; i++) {
            if (strlen(csv.fields[i].data) != csv.fields[i].len) {
                strcat(out, "<len mismatch>");
            }

            strcat(out, csv.fields[i].data);
            strcat(out, i + 1 < csv.nfields ? "|" : "/");
        }
    }

    if (rc < 0) {
        snprintf(out, sizeof(out), "ERR %zu:%zu %s", csv.err_line,
                 csv.err_col, csv.err);
    }

    oie_csv_free(&csv);
    free(buf);

    return out;
}


static int
is(const char *text, const char *expect)
{
    char  *got;

    got = render(text, strlen(text));

    if (strcmp(got, expect) != 0) {
        printf("# input:    %s\n# got:      %s\n# expected: %s\n", text, got,
               expect);
        return 0;
    }

    return 1;
}


static int
err_at(const char *text, size_t len, const char *prefix)
{
    char  *got;

    got = render(text, len);

    if (strncmp(got, prefix, strlen(prefix)) != 0) {
        printf("# got:      %s\n# expected: %s...\n", got, prefix);
        return 0;
    }

    printf("# %s\n", got);
    return 1;
}


/*
 * Every record of a mutated file: fields NUL-terminated at their length,
 * positions never going back, a fault placed at a line and column >= 1.
 */

static int
fuzz(size_t rounds)
{
    int              rc;
    size_t           i, k, len, pos, line;
    uint64_t         seed;
    oie_csv_t        csv;
    unsigned char    buf[512];

    static const char  base[] =
        "\xef\xbb\xbf" "email,name,\"quoted, \"\"x\"\"\"\r\n"
        "a@b.co,J\xc3\xa9r\xc3\xb4me,\"multi\nline\"\r\n"
        "\r\n\"c@d.co\",\xe6\x9d\xb1,5'11\"\rz,,\n";
    static const char  alphabet[] = ",\"\r\n a\xc3\xa9\xe6\xf0\x80\xbf\xff";

    seed = 0x2545f4914f6cdd1dULL;

    for (i = 0; i < rounds; i++) {
        len = sizeof(base) - 1;
        memcpy(buf, base, len);

        for (k = 0; k < 1 + i % 4; k++) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            pos = (size_t) (seed % len);

            if ((seed >> 33) % 2 == 0 || len > 400) {
                buf[pos] = (unsigned char)
                           alphabet[(seed >> 40) % (sizeof(alphabet) - 1)];

            } else {
                memmove(buf + pos + 1, buf + pos, len - pos);
                buf[pos] = (unsigned char)
                           alphabet[(seed >> 40) % (sizeof(alphabet) - 1)];
                len++;
            }
        }

        oie_csv_init(&csv, buf, len);
        line = 0;

        while ((rc = oie_csv_next(&csv)) == 1) {
            if (csv.record_line < line || csv.nfields == 0) {
                printf("# round %zu: record line went back\n", i);
                return 0;
            }

            line = csv.record_line;

            for (k = 0; k < csv.nfields; k++) {
                if (strlen(csv.fields[k].data) != csv.fields[k].len
                    || csv.fields[k].line < line || csv.fields[k].col < 1)
                {
                    printf("# round %zu: field %zu broken\n", i, k);
                    return 0;
                }
            }
        }

        if (rc < 0 && (csv.err_line < 1 || csv.err_col < 1
                       || csv.err[0] == '\0'))
        {
            printf("# round %zu: fault without a place\n", i);
            return 0;
        }

        oie_csv_free(&csv);
    }

    return 1;
}


int
main(void)
{
    int              rc;
    size_t           i, n, len;
    oie_csv_t        csv;
    unsigned char   *big;

    printf("1..28\n");

    ok(is("a,b\nc,d\n", "a|b/c|d/"), "plain records");
    ok(is("a,b\r\nc,d\r\n", "a|b/c|d/"), "CRLF line ends");
    ok(is("a,b\rc,d", "a|b/c|d/"), "lone CR line ends, no final line end");
    ok(is("\xef\xbb\xbf" "email\nx\n", "email/x/"), "byte order mark dropped");
    ok(is("a,b\n\n\r\n\nc,d\n\n", "a|b/c|d/"), "blank lines skipped");
    ok(is("a,,\n,b,\n", "a||/|b|/"), "empty fields kept");
    ok(is("\"a,b\",\"c\"\"d\"\"\"\n", "a,b|c\"d\"/"),
       "quoted comma and doubled quotes");
    ok(is("\"line1\r\nline2\",x\n", "line1\r\nline2|x/"),
       "line break inside quotes kept");
    ok(is("\"\",\"\"\n", "|/"), "empty quoted fields");
    ok(is("5'11\",x\n", "5'11\"|x/"), "quote inside an unquoted field is text");
    ok(is("J\xc3\xa9r\xc3\xb4me,\xe6\x9d\xb1\xe4\xba\xac,\xf0\x9f\x9a\x80\n",
          "J\xc3\xa9r\xc3\xb4me|\xe6\x9d\xb1\xe4\xba\xac|\xf0\x9f\x9a\x80/"),
       "UTF-8 of 2, 3 and 4 bytes");
    ok(is("x\n,", "x/|/"), "trailing comma without line end");

    /* faults, with line:column */

    ok(err_at("a,b\nc,\"open\nd,e\n", 16, "ERR 2:3 quoted field is never"),
       "unbalanced quote: line and column of the opening quote");
    ok(err_at("a,\"b\"x\n", 7, "ERR 1:6 unexpected 'x' after a closing"),
       "text after a closing quote");
    ok(err_at("ab,c\nd\xe9,f\n", 10, "ERR 2:2 invalid UTF-8 (byte 0xe9)"),
       "Latin-1 byte");
    ok(err_at("\xc3\xa9\xc3\xa9,\xc0\xaf\n", 8, "ERR 1:4 invalid UTF-8"),
       "overlong form, column counts characters");
    ok(err_at("a\n\xed\xa0\x80\n", 5, "ERR 2:1 invalid UTF-8"),
       "UTF-16 surrogate");
    ok(err_at("a\n\xf4\x90\x80\x80\n", 6, "ERR 2:1 invalid UTF-8"),
       "code point past U+10FFFF");
    ok(err_at("a\n\xe6\x9d", 4, "ERR 2:1 invalid UTF-8"),
       "truncated sequence at the end");
    ok(err_at("e\x00m\x00", 4, "ERR 1:2 NUL byte"), "UTF-16 file");
    ok(err_at("\"a\nb\nc\"\xff\n", 9, "ERR 3:3 unexpected byte 0xff"),
       "binary after a closing quote, lines inside quotes counted");

    ok(is("", ""), "empty input has no record");

    /* field positions */

    len = 13;
    big = malloc(len + 1);
    memcpy(big, "\"x\ny\",\"\"\"\",z\n", len);
    oie_csv_init(&csv, big, len);
    rc = oie_csv_next(&csv);
    ok(rc == 1 && csv.nfields == 3 && csv.record_line == 1
       && csv.fields[1].line == 2 && csv.fields[1].col == 4
       && csv.fields[2].line == 2 && csv.fields[2].col == 9,
       "field line and column");
    ok(oie_csv_next(&csv) == 0 && csv.line == 3, "line count after the end");
    oie_csv_free(&csv);
    free(big);

    /* a wide record and many records */

    n = 100000;
    len = n * 2;
    big = malloc(len + 1);
    for (i = 0; i < n; i++) {
        big[2 * i] = 'v';
        big[2 * i + 1] = (i + 1 < n) ? ',' : '\n';
    }

    oie_csv_init(&csv, big, len);
    rc = oie_csv_next(&csv);
    ok(rc == 1 && csv.nfields == n, "100000 fields in one record");
    oie_csv_free(&csv);

    for (i = 0; i < n; i++) {
        big[2 * i] = 'v';
        big[2 * i + 1] = '\n';
    }

    oie_csv_init(&csv, big, len);
    i = 0;
    while ((rc = oie_csv_next(&csv)) == 1) {
        i++;
    }

    ok(rc == 0 && i == n && csv.line == n + 1, "100000 records");
    oie_csv_free(&csv);
    free(big);

    ok(is("a\r\n\"b\r\n\",c\r\n", "a/b\r\n|c/"),
       "CRLF inside and after quotes");

    /* 100000 mutated files: no crash, and the invariants hold */

    ok(fuzz(100000), "100000 mutated inputs keep the invariants");

    return failed ? 1 : 0;
}
