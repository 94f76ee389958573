/*
 * oie spool replay: reading spool and dead-letter files into rows, writing
 * dead letters in the module's format, and deleting a file or putting the
 * rows not sent back.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oie_replay.h"


#define OIE_DEAD_TARGETS  (OIE_TABLES + 1)      /* + malformed.ndjson */


static void
oie_replay_report(oie_replay_t *r, const char *path, size_t line,
    size_t column, const char *what, const char *then)
{
    if (r->reported++ < OIE_MAX_REPORTED) {
        oie_error("%s:%zu:%zu: %s (%s)", path, line, column, what, then);
    }
}


/* JSON wants UTF-8: bytes outside printable ASCII become '?' */
static void
oie_replay_printable(char *s)
{
    for ( /* void */ ; *s; s++) {
        if ((unsigned char) *s < 0x20 || (unsigned char) *s >= 0x7f) {
            *s = '?';
        }
    }
}


static oie_rrow_t *
oie_replay_row(oie_rrow_t **rows, size_t *n, size_t *nalloc)
{
    oie_rrow_t  *row;

    if (*n == *nalloc) {
        *nalloc = *nalloc ? *nalloc * 2 : 256;
        *rows = oie_xrealloc(*rows, *nalloc * sizeof(oie_rrow_t));
    }

    row = &(*rows)[(*n)++];
    memset(row, 0, sizeof(oie_rrow_t));

    return row;
}


/*
 * The next line of a file, empty ones skipped, as a new row holding the
 * line and its number; NULL at the end.  *p walks the file.
 */
static oie_rrow_t *
oie_replay_next_row(char **p, char *end, size_t *lineno, oie_rrow_t **rows,
    size_t *n, size_t *nalloc)
{
    char        *nl;
    oie_rrow_t  *row;

    for ( /* void */ ; *p < end; (*lineno)++, *p = nl + 1) {
        nl = memchr(*p, '\n', end - *p);
        if (nl == NULL) {
            nl = end;
        }

        if (nl == *p) {
            continue;
        }

        row = oie_replay_row(rows, n, nalloc);
        row->line = *p;
        row->line_len = nl - *p;
        row->lineno = (*lineno)++;
        *p = nl + 1;

        return row;
    }

    return NULL;
}


static void
oie_replay_insert_id(oie_rrow_t *row, json_t *json)
{
    const char  *id;

    id = oie_spool_event_id(json);
    row->insert_id = id ? oie_xstrdup(id) : NULL;
}


oie_rrow_t *
oie_replay_parse_spool(oie_replay_t *r, oie_spool_entry_t *e,
    oie_file_t *file, size_t *n)
{
    char              *p, *end, *loc;
    json_t            *err;
    size_t             lineno, nalloc;
    oie_rrow_t        *rows, *row;
    oie_spool_line_t   l;

    rows = NULL;
    *n = 0;
    nalloc = 0;
    lineno = 1;

    p = (char *) file->data;
    end = p + file->len;

    while ((row = oie_replay_next_row(&p, end, &lineno, &rows, n, &nalloc))) {

        if (oie_spool_line(row->line, row->line_len, &l) == 0) {
            row->table = l.table;
            row->row = l.row;
            row->row_len = l.row_len;
            oie_replay_insert_id(row, l.json);
            json_decref(l.json);
            r->rows[l.table]++;
            continue;
        }

        /* a line nginx did not write: a dead letter, with where and why */
        row->table = l.table;
        row->raw = 1;
        row->row = l.table >= 0 ? l.row : row->line;
        row->row_len = l.table >= 0 ? l.row_len : row->line_len;
        row->state = OIE_ROW_DEAD;

        loc = oie_xasprintf("%s:%zu:%zu", e->name, row->lineno, l.column);
        oie_replay_printable(loc);
        oie_replay_printable(l.err);
        err = json_pack("[{s:s, s:s, s:s}]", "reason", "malformed",
                        "location", loc, "message", l.err);
        free(loc);

        row->error = json_dumps(err, JSON_COMPACT);
        json_decref(err);

        if (row->error == NULL) {
            oie_error("out of memory");
            exit(OIE_EXIT_INTERNAL);
        }

        r->malformed++;
        oie_replay_report(r, e->path, row->lineno, l.column, l.err,
                          r->dry_run ? "would go to dead letter"
                                     : "to dead letter");
    }

    return rows;
}


oie_rrow_t *
oie_replay_parse_dead(oie_replay_t *r, oie_spool_entry_t *e,
    oie_file_t *file, size_t *n)
{
    char              *p, *end;
    size_t             lineno, nalloc;
    oie_rrow_t        *rows, *row;
    oie_spool_dead_t   d;

    rows = NULL;
    *n = 0;
    nalloc = 0;
    lineno = 1;

    p = (char *) file->data;
    end = p + file->len;

    while ((row = oie_replay_next_row(&p, end, &lineno, &rows, n, &nalloc))) {
        row->table = -1;

        if (oie_spool_dead_line(row->line, row->line_len, &d) == 0) {
            row->table = d.table;
            row->row_buf = json_dumps(d.row, JSON_COMPACT);

            if (row->row_buf == NULL) {
                oie_error("out of memory");
                exit(OIE_EXIT_INTERNAL);
            }

            row->row = row->row_buf;
            row->row_len = strlen(row->row_buf);
            oie_replay_insert_id(row, d.row);
            r->rows[d.table]++;
            json_decref(d.root);
            continue;
        }

        json_decref(d.root);

        row->state = OIE_ROW_KEPT;
        r->malformed++;
        oie_replay_report(r, e->path, row->lineno, d.column, d.err, "kept");
    }

    return rows;
}


char *
oie_replay_dead_line(oie_rrow_t *row, size_t *len)
{
    FILE    *fp;
    char    *buf, *text;
    size_t   i;
    json_t  *s;

    fp = open_memstream(&buf, len);
    if (fp == NULL) {
        oie_error("out of memory");
        exit(OIE_EXIT_INTERNAL);
    }

    fputs("{\"table\":", fp);

    if (row->table >= 0) {
        fprintf(fp, "\"%s\"", oie_spool_tables[row->table]);
    } else {
        fputs("null", fp);
    }

    fprintf(fp, ",\"error\":%s,\"row\":", row->error ? row->error : "null");

    if (row->raw) {
        /* the line as text; bytes that are not UTF-8 become '?' */
        s = json_stringn(row->row, row->row_len);

        if (s == NULL) {
            text = oie_xmalloc(row->row_len + 1);
            memcpy(text, row->row, row->row_len);
            text[row->row_len] = '\0';

            for (i = 0; i < row->row_len; i++) {
                if ((unsigned char) text[i] >= 0x80) {
                    text[i] = '?';
                }
            }

            s = json_stringn(text, row->row_len);
            free(text);
        }

        text = json_dumps(s, JSON_ENCODE_ANY);
        json_decref(s);

        if (text == NULL) {
            oie_error("out of memory");
            exit(OIE_EXIT_INTERNAL);
        }

        fputs(text, fp);
        free(text);

    } else {
        fwrite(row->row, 1, row->row_len, fp);
    }

    fputs("}\n", fp);

    if (fclose(fp) != 0) {
        oie_error("out of memory");
        exit(OIE_EXIT_INTERNAL);
    }

    return buf;
}


/*
 * Writes buf to path and syncs it: appended (O_APPEND, as the module's
 * writes), or as the whole of a fresh file, removed again on failure.
 */
static int
oie_replay_write(const char *path, const char *buf, size_t len, int append)
{
    int      fd;
    ssize_t  w;

    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC
                    | (append ? O_APPEND : O_TRUNC), 0644);
    if (fd == -1) {
        oie_error("cannot write %s: %s", path, strerror(errno));
        return -1;
    }

    while (len) {
        w = write(fd, buf, len);

        if (w == -1) {
            if (errno == EINTR) {
                continue;
            }
            goto failed;
        }

        buf += w;
        len -= w;
    }

    if (fsync(fd) == -1) {
        goto failed;
    }

    return close(fd);

failed:

    oie_error("cannot write %s: %s", path, strerror(errno));
    close(fd);

    if (!append) {
        unlink(path);
    }

    return -1;
}


/* the dead letters of a spool file, each to its table's file */
static int
oie_replay_dead_letters(oie_replay_t *r, oie_rrow_t *rows, size_t n)
{
    int     t, rc;
    FILE   *fp[OIE_DEAD_TARGETS];
    char   *buf[OIE_DEAD_TARGETS], *line, *dir, *path;
    size_t  len[OIE_DEAD_TARGETS], i, l;

    rc = 0;

    for (t = 0; t < OIE_DEAD_TARGETS; t++) {
        fp[t] = NULL;
        buf[t] = NULL;
        len[t] = 0;
    }

    for (i = 0; i < n; i++) {
        if (rows[i].state != OIE_ROW_DEAD) {
            continue;
        }

        t = rows[i].table >= 0 ? rows[i].table : OIE_TABLES;

        if (fp[t] == NULL) {
            fp[t] = open_memstream(&buf[t], &len[t]);
            if (fp[t] == NULL) {
                oie_error("out of memory");
                exit(OIE_EXIT_INTERNAL);
            }
        }

        line = oie_replay_dead_line(&rows[i], &l);
        fwrite(line, 1, l, fp[t]);
        free(line);
    }

    dir = oie_xasprintf("%s/dead-letter", r->dir);

    for (t = 0; t < OIE_DEAD_TARGETS; t++) {
        if (fp[t] == NULL) {
            continue;
        }

        if (fclose(fp[t]) != 0) {
            oie_error("out of memory");
            exit(OIE_EXIT_INTERNAL);
        }

        if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
            oie_error("cannot make %s: %s", dir, strerror(errno));
            rc = -1;

        } else {
            path = oie_xasprintf("%s/%s.ndjson", dir,
                                 t < OIE_TABLES ? oie_spool_tables[t]
                                                : "malformed");
            if (oie_replay_write(path, buf[t], len[t], 1) != 0) {
                rc = -1;
            }
            free(path);
        }

        free(buf[t]);
    }

    free(dir);

    return rc;
}


static void
oie_replay_counts(oie_rrow_t *rows, size_t n, size_t *count)
{
    size_t  i;

    memset(count, 0, 4 * sizeof(size_t));

    for (i = 0; i < n; i++) {
        count[rows[i].state]++;
    }
}


int
oie_replay_finish_spool(oie_replay_t *r, oie_spool_entry_t *e,
    const char *claim, const char *dir, oie_rrow_t *rows, size_t n, int rc)
{
    FILE    *fp;
    char    *tmp, *back, *buf;
    size_t   i, len, count[4];

    if (oie_replay_dead_letters(r, rows, n) != 0) {
        /* they are not safe elsewhere: they stay in the file */
        r->io_failed = 1;

        for (i = 0; i < n; i++) {
            if (rows[i].state == OIE_ROW_DEAD) {
                rows[i].state = OIE_ROW_PENDING;
            }
        }
    }

    oie_replay_counts(rows, n, count);

    if (count[OIE_ROW_PENDING] == 0) {
        if (unlink(claim) == -1) {
            oie_error("cannot delete %s: %s", claim, strerror(errno));
            r->io_failed = 1;
            return OIE_EXIT_IO;
        }

        r->files_deleted++;
        oie_info("%s: %zu lines: %zu accepted, %zu to dead letter; deleted",
                 e->path, n, count[OIE_ROW_DONE], count[OIE_ROW_DEAD]);

        return rc;
    }

    /* the rows not taken go back, under the file's own name */
    fp = open_memstream(&buf, &len);
    if (fp == NULL) {
        oie_error("out of memory");
        exit(OIE_EXIT_INTERNAL);
    }

    for (i = 0; i < n; i++) {
        if (rows[i].state == OIE_ROW_PENDING) {
            fwrite(rows[i].line, 1, rows[i].line_len, fp);
            fputc('\n', fp);
        }
    }

    if (fclose(fp) != 0) {
        oie_error("out of memory");
        exit(OIE_EXIT_INTERNAL);
    }

    /* not a ".spool" name: nginx never takes it for a spool file */
    tmp = oie_xasprintf("%s/.oie-replay-%ld.tmp", dir, (long) getpid());
    back = oie_xasprintf("%s/%s", dir, e->base);

    if (oie_replay_write(tmp, buf, len, 0) != 0
        || rename(tmp, claim) == -1)
    {
        /* the claimed file still holds every row: back it goes, whole
         * (rows BigQuery has are dropped again by their insertId) */
        r->io_failed = 1;
        unlink(tmp);
    }

    if (rename(claim, back) == -1) {
        oie_error("cannot put %s back as %s: %s", claim, back,
                  strerror(errno));
        r->io_failed = 1;
        rc = OIE_EXIT_IO;

    } else {
        r->files_back++;
        r->unsent += count[OIE_ROW_PENDING];
        oie_info("%s: %zu lines: %zu accepted, %zu to dead letter, %zu put "
                 "back", e->path, n, count[OIE_ROW_DONE], count[OIE_ROW_DEAD],
                 count[OIE_ROW_PENDING]);
    }

    free(buf);
    free(tmp);
    free(back);

    return rc;
}


int
oie_replay_finish_dead(oie_replay_t *r, oie_spool_entry_t *e,
    const char *claim, const char *dir, oie_rrow_t *rows, size_t n,
    oie_file_t *file, int rc)
{
    int          fd;
    FILE        *fp;
    char        *buf, *line, *path, *more;
    size_t       i, len, l, count[4];
    ssize_t      got;
    struct stat  st;

    oie_replay_counts(rows, n, count);

    fp = open_memstream(&buf, &len);
    if (fp == NULL) {
        oie_error("out of memory");
        exit(OIE_EXIT_INTERNAL);
    }

    for (i = 0; i < n; i++) {
        switch (rows[i].state) {

        case OIE_ROW_DONE:
            break;

        case OIE_ROW_DEAD:
            line = oie_replay_dead_line(&rows[i], &l);
            fwrite(line, 1, l, fp);
            free(line);
            break;

        default:
            fwrite(rows[i].line, 1, rows[i].line_len, fp);
            fputc('\n', fp);
        }
    }

    /* a dead letter nginx appended while the file was being renamed */
    if (stat(claim, &st) == 0 && (size_t) st.st_size > file->len) {
        more = oie_xmalloc(st.st_size - file->len);
        fd = open(claim, O_RDONLY | O_CLOEXEC);
        got = fd == -1 ? -1 : pread(fd, more, st.st_size - file->len,
                                    file->len);
        if (fd != -1) {
            close(fd);
        }

        if (got > 0) {
            if (file->len && file->data[file->len - 1] != '\n') {
                fputc('\n', fp);
            }
            fwrite(more, 1, got, fp);
        }

        free(more);
    }

    if (fclose(fp) != 0) {
        oie_error("out of memory");
        exit(OIE_EXIT_INTERNAL);
    }

    path = oie_xasprintf("%s/%s", dir, e->base);

    if (len && oie_replay_write(path, buf, len, 1) != 0) {
        /* the claim keeps every line; the next run takes it over */
        r->io_failed = 1;
        free(buf);
        free(path);
        return OIE_EXIT_IO;
    }

    if (unlink(claim) == -1) {
        oie_error("cannot delete %s: %s", claim, strerror(errno));
        r->io_failed = 1;
        rc = OIE_EXIT_IO;
    }

    r->unsent += count[OIE_ROW_PENDING];
    r->files_deleted += (len == 0);

    oie_info("%s: %zu lines: %zu accepted, %zu refused again, %zu kept "
             "as they were, %zu not sent", e->path, n, count[OIE_ROW_DONE],
             count[OIE_ROW_DEAD], count[OIE_ROW_KEPT],
             count[OIE_ROW_PENDING]);

    free(buf);
    free(path);

    return rc;
}


void
oie_replay_dry(oie_replay_t *r, oie_spool_entry_t *e, oie_rrow_t *rows,
    size_t n)
{
    size_t  i, count[4], tables[OIE_TABLES];

    (void) r;

    oie_replay_counts(rows, n, count);
    memset(tables, 0, sizeof(tables));

    for (i = 0; i < n; i++) {
        if (rows[i].state == OIE_ROW_PENDING) {
            tables[rows[i].table]++;
        }
    }

    oie_info("%s: would send %zu rows (events %zu, email_clicks %zu); "
             "%zu malformed", e->path, count[OIE_ROW_PENDING], tables[0],
             tables[1], count[OIE_ROW_DEAD] + count[OIE_ROW_KEPT]);
}
