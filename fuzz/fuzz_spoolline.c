/*
 * libFuzzer harness for src/cli/oie_spoolline.c: the lines of spool files
 * ("<table> <row JSON>") and dead-letter files ({"table","error","row"}) as
 * oie spool ls and replay read them.  The input is a file: its lines (cut
 * at '\n' as the CLI cuts them) go to both parsers.  Checks, against a
 * verdict reached here with jansson alone: a spool line is taken exactly
 * when it is a known table, one space, and a JSON object (the row given
 * back is those bytes, parsed to the same value); a dead letter is taken
 * exactly when it is an object whose "table" names a table and whose "row"
 * is an object (the one in the line); every refusal has a message (text,
 * inside its buffer) and a column inside the line, as file:line:column
 * wants.  Also: the event id is a string of 1 to 128 bytes or none, and a
 * TIMESTAMP text read as time is written back to the same instant.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "oie_spool.h"
#include "fuzz_util.h"


/* the table of name[0..len): its index, or -1; written apart from the CLI */
static int
fuzz_table(const char *name, size_t len)
{
    if (len == 6 && memcmp(name, "events", 6) == 0) {
        return 0;
    }

    if (len == 12 && memcmp(name, "email_clicks", 12) == 0) {
        return 1;
    }

    return -1;
}


static void
fuzz_err_ok(const char *err, size_t column, size_t len)
{
    size_t  n;

    n = strnlen(err, OIE_SPOOL_ERR_LEN);
    FUZZ_CHECK(n > 0 && n < OIE_SPOOL_ERR_LEN);
    FUZZ_CHECK(column >= 1 && column <= len + 1);
}


static void
fuzz_spool_line(const char *p, size_t len)
{
    int                rc, want;
    json_t            *ref;
    const char        *sp;
    oie_spool_line_t   l;

    memset(&l, 0x5a, sizeof(l));
    rc = oie_spool_line(p, len, &l);

    /* the verdict: "<known table> <JSON object>" */
    sp = memchr(p, ' ', len);
    ref = NULL;
    want = sp != NULL && fuzz_table(p, sp - p) >= 0;

    if (want) {
        ref = json_loadb(sp + 1, len - (sp + 1 - p), 0, NULL);
        want = json_is_object(ref);
    }

    if (rc == 0) {
        FUZZ_CHECK(want);
        FUZZ_CHECK(l.table == fuzz_table(p, sp - p));
        FUZZ_CHECK(l.row == sp + 1 && l.row_len == len - (size_t) (sp + 1 - p));
        FUZZ_CHECK(json_is_object(l.json) && json_equal(l.json, ref));

        /* the insertId: a string of 1..128 bytes or none */
        if (oie_spool_event_id(l.json) != NULL) {
            json_t  *id = json_object_get(l.json, "event_id");

            FUZZ_CHECK(json_is_string(id));
            FUZZ_CHECK(json_string_length(id) >= 1
                       && json_string_length(id) <= 128);
            FUZZ_CHECK(oie_spool_event_id(l.json) == json_string_value(id));
        }

        json_decref(l.json);

    } else {
        FUZZ_CHECK(rc == -1);
        FUZZ_CHECK(!want);
        FUZZ_CHECK(l.json == NULL);
        FUZZ_CHECK(l.table == (sp ? fuzz_table(p, sp - p) : -1));
        fuzz_err_ok(l.err, l.column, len);
    }

    json_decref(ref);
}


static void
fuzz_dead_line(const char *p, size_t len)
{
    int                rc, want, t;
    json_t            *ref, *row;
    const char        *name;
    oie_spool_dead_t   d;

    memset(&d, 0x5a, sizeof(d));
    rc = oie_spool_dead_line(p, len, &d);

    ref = json_loadb(p, len, 0, NULL);
    row = json_object_get(ref, "row");
    name = json_string_value(json_object_get(ref, "table"));
    t = name ? fuzz_table(name, strlen(name)) : -1;
    want = json_is_object(ref) && json_is_object(row) && t >= 0;

    FUZZ_CHECK((d.root != NULL) == (ref != NULL));

    if (rc == 0) {
        FUZZ_CHECK(want);
        FUZZ_CHECK(d.table == t);
        FUZZ_CHECK(d.row == json_object_get(d.root, "row"));
        FUZZ_CHECK(json_equal(d.row, row));

    } else {
        FUZZ_CHECK(rc == -1);
        FUZZ_CHECK(!want);
        FUZZ_CHECK(d.table == -1 && d.row == NULL);
        fuzz_err_ok(d.err, d.column, len);

        if (ref != NULL && json_is_string(row)) {
            FUZZ_CHECK(strstr(d.err, "kept as text") != NULL);
        }
    }

    json_decref(d.root);
    json_decref(ref);
}


/* a time read is written back (as UTC, microseconds) to the same instant */
static void
fuzz_time(const char *p, size_t len)
{
    char       buf[128], again[64];
    time_t     sec;
    int64_t    us, us2;
    struct tm  tm;

    if (len >= sizeof(buf)) {
        return;
    }

    memcpy(buf, p, len);
    buf[len] = '\0';

    us = oie_spool_time(buf);
    if (us == -1) {
        return;
    }

    sec = (time_t) (us >= 0 ? us / 1000000 : (us - 999999) / 1000000);

    if (gmtime_r(&sec, &tm) == NULL || tm.tm_year + 1900 < 0
        || tm.tm_year + 1900 > 9999)
    {
        return;
    }

    snprintf(again, sizeof(again), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int) (us - (int64_t) sec * 1000000));

    us2 = oie_spool_time(again);
    FUZZ_CHECK(us2 == us);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char        *copy;
    const char  *p, *end, *nl;

    FUZZ_CHECK(oie_spool_table("events", 6) == 0);
    FUZZ_CHECK(oie_spool_table("email_clicks", 12) == 1);
    FUZZ_CHECK(oie_spool_table("events ", 7) == -1);

    /* a copy of its own size: ASan sees any read past a line */
    copy = malloc(size ? size : 1);
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, data, size);

    p = copy;
    end = copy + size;

    for ( /* void */ ; p < end; p = nl + 1) {
        nl = memchr(p, '\n', end - p);
        if (nl == NULL) {
            nl = end;
        }

        if (nl == p) {
            continue;
        }

        fuzz_spool_line(p, nl - p);
        fuzz_dead_line(p, nl - p);
        fuzz_time(p, nl - p);
    }

    free(copy);

    return 0;
}
