/*
 * What a line of a spool or dead-letter file holds, as oie spool ls and
 * replay read it: pure functions over jansson, no files (fuzzed by
 * fuzz/fuzz_spoolline.c).
 */

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "oie_spool.h"


const char  *oie_spool_tables[OIE_TABLES] = { "events", "email_clicks" };


int
oie_spool_table(const char *name, size_t len)
{
    int  t;

    for (t = 0; t < OIE_TABLES; t++) {
        if (len == strlen(oie_spool_tables[t])
            && memcmp(name, oie_spool_tables[t], len) == 0)
        {
            return t;
        }
    }

    return -1;
}


int
oie_spool_line(const char *text, size_t len, oie_spool_line_t *l)
{
    const char    *sp;
    json_error_t   jerr;

    l->table = -1;
    l->row = NULL;
    l->row_len = 0;
    l->json = NULL;
    l->column = 1;
    l->err[0] = '\0';

    sp = memchr(text, ' ', len);

    if (sp == NULL) {
        snprintf(l->err, sizeof(l->err),
                 "not \"<table> <row JSON>\": no space after a table name");
        return -1;
    }

    l->table = oie_spool_table(text, sp - text);

    if (l->table < 0) {
        snprintf(l->err, sizeof(l->err),
                 "unknown table '%.*s' (events or email_clicks)",
                 (int) (sp - text > 40 ? 40 : sp - text), text);
        return -1;
    }

    l->row = sp + 1;
    l->row_len = text + len - l->row;
    l->column = (sp - text) + 2;

    l->json = json_loadb(l->row, l->row_len, 0, &jerr);

    if (l->json == NULL) {
        l->column += jerr.column > 0 ? (size_t) jerr.column - 1 : 0;
        snprintf(l->err, sizeof(l->err), "the row is not JSON: %s",
                 jerr.text);
        return -1;
    }

    if (!json_is_object(l->json)) {
        json_decref(l->json);
        l->json = NULL;
        snprintf(l->err, sizeof(l->err), "the row is not a JSON object");
        return -1;
    }

    return 0;
}


int
oie_spool_dead_line(const char *text, size_t len, oie_spool_dead_t *d)
{
    json_t        *row;
    const char    *name;
    json_error_t   jerr;

    d->table = -1;
    d->row = NULL;
    d->column = 1;
    d->err[0] = '\0';

    d->root = json_loadb(text, len, 0, &jerr);

    if (d->root == NULL) {
        d->column = jerr.column > 0 ? (size_t) jerr.column : 1;
        snprintf(d->err, sizeof(d->err), "not JSON: %s", jerr.text);
        return -1;
    }

    name = json_string_value(json_object_get(d->root, "table"));
    row = json_object_get(d->root, "row");

    if (json_is_string(row)) {
        snprintf(d->err, sizeof(d->err), "the row is a malformed spool line "
                 "kept as text: replace it with the row's JSON object");
        return -1;
    }

    d->table = name ? oie_spool_table(name, strlen(name)) : -1;

    if (!json_is_object(row) || d->table < 0) {
        d->table = -1;
        snprintf(d->err, sizeof(d->err), "not a dead letter "
                 "({\"table\":\"events\"|\"email_clicks\",\"error\":..,"
                 "\"row\":{..}})");
        return -1;
    }

    d->row = row;

    return 0;
}


const char *
oie_spool_event_id(json_t *row)
{
    json_t  *id;

    id = json_object_get(row, "event_id");

    if (!json_is_string(id) || json_string_length(id) == 0
        || json_string_length(id) > 128)
    {
        return NULL;
    }

    return json_string_value(id);
}


/* YYYY-MM-DD[T ]HH:MM:SS[.ffffff](Z|UTC|+HH:MM|-HH:MM) */
int64_t
oie_spool_time(const char *s)
{
    int         n, frac_digits, sign, oh, om;
    int64_t     us, frac;
    struct tm   tm;
    const char *p;

    if (s == NULL) {
        return -1;
    }

    memset(&tm, 0, sizeof(struct tm));
    n = 0;

    if (sscanf(s, "%4d-%2d-%2d%*1[T ]%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6
        || n != 19)
    {
        return -1;
    }

    p = s + n;
    frac = 0;
    frac_digits = 0;

    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++) {
            if (frac_digits < 6) {
                frac = frac * 10 + (*p - '0');
                frac_digits++;
            }
        }
    }

    while (frac_digits++ < 6) {
        frac *= 10;
    }

    sign = 0;
    oh = 0;
    om = 0;

    if (strcmp(p, "Z") == 0 || strcmp(p, "UTC") == 0 || strcmp(p, " UTC") == 0)
    {
        /* UTC */

    } else if ((*p == '+' || *p == '-')
               && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2 && strlen(p) == 6)
    {
        sign = (*p == '+') ? 1 : -1;

    } else {
        return -1;
    }

    tm.tm_year -= 1900;
    tm.tm_mon -= 1;

    us = (int64_t) timegm(&tm) * 1000000 + frac;
    us -= (int64_t) sign * (oh * 3600 + om * 60) * 1000000;

    return us;
}
