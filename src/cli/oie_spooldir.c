/*
 * The spool directory as oie spool ls and replay see it: which files there
 * are, in which state, and what a line holds.
 */

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "oie_proc.h"
#include "oie_spool.h"


const char  *oie_spool_tables[OIE_TABLES] = { "events", "email_clicks" };


static int oie_spool_entry_cmp(const void *a, const void *b);
static void oie_spool_add(oie_spool_list_t *list, const char *dir,
    const char *name, size_t base_len, int state, long pid);


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


/* ".claim-<digits>" at the end of name: the position of the dot, or NULL */
static const char *
oie_spool_claim_suffix(const char *name)
{
    const char  *p, *q;

    p = strstr(name, ".claim-");
    if (p == NULL) {
        return NULL;
    }

    q = p + sizeof(".claim-") - 1;

    if (*q == '\0') {
        return NULL;
    }

    for ( /* void */ ; *q; q++) {
        if (*q < '0' || *q > '9') {
            return NULL;
        }
    }

    return p;
}


static int
oie_spool_ends(const char *name, size_t len, const char *suffix)
{
    size_t  n;

    n = strlen(suffix);

    return len > n && memcmp(name + len - n, suffix, n) == 0;
}


static void
oie_spool_add(oie_spool_list_t *list, const char *dir, const char *name,
    size_t base_len, int state, long pid)
{
    oie_spool_entry_t  *e;

    if (list->n == list->nalloc) {
        list->nalloc = list->nalloc ? list->nalloc * 2 : 16;
        list->e = oie_xrealloc(list->e,
                               list->nalloc * sizeof(oie_spool_entry_t));
    }

    e = &list->e[list->n++];

    e->name = oie_xstrdup(name);
    e->path = oie_xasprintf("%s/%s", dir, name);
    e->base = oie_xasprintf("%.*s", (int) base_len, name);
    e->state = state;
    e->pid = pid;
    e->alive = (state == OIE_SPOOL_READY) ? 0 : oie_pid_alive(pid);
    e->table = -1;
}


static int
oie_spool_entry_cmp(const void *a, const void *b)
{
    int                       rc;
    const oie_spool_entry_t  *x = a, *y = b;

    rc = strcmp(x->base, y->base);

    return rc ? rc : strcmp(x->name, y->name);
}


int
oie_spool_scan(const char *dir, oie_spool_list_t *list)
{
    DIR            *d;
    size_t          len;
    const char     *claim;
    struct dirent  *de;

    memset(list, 0, sizeof(oie_spool_list_t));

    d = opendir(dir);
    if (d == NULL) {
        oie_error("cannot read the spool directory %s: %s", dir,
                  strerror(errno));
        return OIE_EXIT_IO;
    }

    while ((de = readdir(d)) != NULL) {
        len = strlen(de->d_name);

        if (oie_spool_ends(de->d_name, len, ".spool")) {
            oie_spool_add(list, dir, de->d_name, len, OIE_SPOOL_READY,
                          oie_name_pid(de->d_name, NULL));

        } else if (oie_spool_ends(de->d_name, len, ".spool.part")) {
            oie_spool_add(list, dir, de->d_name, len - 5, OIE_SPOOL_WRITING,
                          oie_name_pid(de->d_name, NULL));

        } else {
            claim = oie_spool_claim_suffix(de->d_name);

            if (claim && oie_spool_ends(de->d_name, claim - de->d_name,
                                        ".spool"))
            {
                oie_spool_add(list, dir, de->d_name, claim - de->d_name,
                              OIE_SPOOL_CLAIMED,
                              oie_name_pid(claim, ".claim-"));
            }
        }
    }

    closedir(d);

    if (list->n) {
        qsort(list->e, list->n, sizeof(oie_spool_entry_t),
              oie_spool_entry_cmp);
    }

    return OIE_EXIT_OK;
}


int
oie_spool_scan_dead(const char *dir, oie_spool_list_t *list)
{
    DIR                *d;
    char               *path;
    size_t              len, base, i;
    const char         *claim;
    struct dirent      *de;
    oie_spool_entry_t  *e;

    memset(list, 0, sizeof(oie_spool_list_t));

    path = oie_xasprintf("%s/dead-letter", dir);

    d = opendir(path);
    if (d == NULL) {
        if (errno == ENOENT) {
            free(path);
            return OIE_EXIT_OK;
        }

        oie_error("cannot read %s: %s", path, strerror(errno));
        free(path);
        return OIE_EXIT_IO;
    }

    while ((de = readdir(d)) != NULL) {
        len = strlen(de->d_name);
        claim = oie_spool_claim_suffix(de->d_name);

        if (claim) {
            base = claim - de->d_name;

            if (!oie_spool_ends(de->d_name, base, ".ndjson")) {
                continue;
            }

            oie_spool_add(list, path, de->d_name, base, OIE_SPOOL_CLAIMED,
                          oie_name_pid(claim, ".claim-"));

        } else if (oie_spool_ends(de->d_name, len, ".ndjson")) {
            oie_spool_add(list, path, de->d_name, len, OIE_SPOOL_READY, 0);

        } else {
            continue;
        }

        e = &list->e[list->n - 1];
        e->table = oie_spool_table(e->base,
                                   strlen(e->base) - sizeof(".ndjson") + 1);
    }

    closedir(d);
    free(path);

    if (list->n) {
        qsort(list->e, list->n, sizeof(oie_spool_entry_t),
              oie_spool_entry_cmp);
    }

    /* ready entries carry no writer */
    for (i = 0; i < list->n; i++) {
        if (list->e[i].state == OIE_SPOOL_READY) {
            list->e[i].pid = 0;
        }
    }

    return OIE_EXIT_OK;
}


void
oie_spool_list_free(oie_spool_list_t *list)
{
    size_t  i;

    for (i = 0; i < list->n; i++) {
        free(list->e[i].name);
        free(list->e[i].path);
        free(list->e[i].base);
    }

    free(list->e);
    memset(list, 0, sizeof(oie_spool_list_t));
}


void
oie_spool_state(const oie_spool_entry_t *e, char *buf, size_t size)
{
    switch (e->state) {

    case OIE_SPOOL_WRITING:
        snprintf(buf, size, "writing (pid %ld%s)", e->pid,
                 e->alive ? "" : ", gone");
        break;

    case OIE_SPOOL_CLAIMED:
        snprintf(buf, size, "claimed (pid %ld%s)", e->pid,
                 e->alive ? "" : ", gone");
        break;

    default:
        snprintf(buf, size, "ready");
    }
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
