/*
 * oie spool ls: what the module's spool directory holds: every spool file
 * and upload journal with its state, rows per table, bytes and event times,
 * the dead letters, and the malformed lines (FILE:LINE:COLUMN).  (oie spool
 * replay is in oie_replay.c.)
 */

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "oie_spool.h"


typedef struct {
    size_t           rows[OIE_TABLES];
    size_t           other;         /* dead letters of no table */
    size_t           malformed;
    size_t           bytes;
    int              gone;          /* vanished before it could be read */
    int64_t          oldest;
    int64_t          newest;
    char             oldest_s[48];
    char             newest_s[48];
} oie_ls_stat_t;


typedef struct {
    size_t           files[OIE_SPOOL_STATES];   /* by state */
    size_t           rows[OIE_TABLES];
    size_t           malformed;
    size_t           bytes;
    size_t           dead_files;
    size_t           dead_rows[OIE_TABLES + 1];   /* last: other */
    size_t           dead_malformed;
    size_t           dead_bytes;
    size_t           reported;
} oie_ls_totals_t;


static const char  *oie_ls_states[OIE_SPOOL_STATES] = {
    "ready", "writing", "claimed", "journal"
};


static const char  oie_spool_usage[] =
    "usage: oie spool ls DIR [--json]\n"
    "       oie spool replay DIR --project P --dataset D "
    "--credentials KEY.json\n"
    "                        [options]\n"
    "\n"
    "DIR is the module's oie_spool directory: rows BigQuery has not taken\n"
    "yet, and (DIR/dead-letter) rows it refused.\n"
    "`oie spool COMMAND --help` describes each.\n";


static const char  oie_ls_usage[] =
    "usage: oie spool ls DIR [--json]\n"
    "\n"
    "Lists the spool files and upload journals of DIR, oldest first, each\n"
    "with its state:\n"
    "  ready                  complete, waiting for replay\n"
    "  writing (pid N)        being written by nginx worker N\n"
    "  writing (pid N, gone)  left by a worker that died; nginx finishes it\n"
    "                         at its next start or reload\n"
    "  claimed (pid N)        being uploaded by process N\n"
    "  claimed (pid N, gone)  its uploader died; replay (or nginx's next\n"
    "                         start) takes it\n"
    "  journal (pid N)        rows of worker N's uploads in flight, until\n"
    "                         BigQuery answers for them\n"
    "  journal (pid N, gone)  left by a worker that died; nginx returns its\n"
    "                         rows to the spool\n"
    "with its rows per table, bytes and the event_time of its oldest and\n"
    "newest row; then the dead-letter files with their rows, and totals.\n"
    "Malformed lines are counted and reported as FILE:LINE:COLUMN on\n"
    "stderr.\n"
    "\n"
    "options:\n"
    "  --json   one JSON document on stdout instead of the table\n"
    "  --help   this text\n"
    "\n"
    "Exit codes: 0; 3 when some lines are malformed; 4 when DIR cannot be\n"
    "read; see `oie --help`.\n";


int
oie_cmd_spool(int argc, char **argv)
{
    if (argc < 2) {
        fputs(oie_spool_usage, stderr);
        return OIE_EXIT_USAGE;
    }

    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(oie_spool_usage, stdout);
        return OIE_EXIT_OK;
    }

    if (strcmp(argv[1], "ls") == 0) {
        return oie_spool_ls(argc - 1, argv + 1);
    }

    if (strcmp(argv[1], "replay") == 0) {
        return oie_spool_replay(argc - 1, argv + 1);
    }

    oie_error("unknown command 'spool %s' (try: oie spool --help)", argv[1]);

    return OIE_EXIT_USAGE;
}


static void
oie_ls_malformed(oie_ls_totals_t *tot, const char *path, size_t line,
    size_t column, const char *what)
{
    if (tot->reported++ < OIE_MAX_REPORTED) {
        oie_error("%s:%zu:%zu: %s", path, line, column, what);
    }
}


static void
oie_ls_time(oie_ls_stat_t *st, json_t *row)
{
    int64_t      t;
    const char  *s;

    s = json_string_value(json_object_get(row, "event_time"));
    t = oie_spool_time(s);

    if (t < 0) {
        return;
    }

    if (st->oldest_s[0] == '\0' || t < st->oldest) {
        st->oldest = t;
        snprintf(st->oldest_s, sizeof(st->oldest_s), "%s", s);
    }

    if (st->newest_s[0] == '\0' || t > st->newest) {
        st->newest = t;
        snprintf(st->newest_s, sizeof(st->newest_s), "%s", s);
    }
}


/* a file of the listing read whole, its stat zeroed; -1 (and st->gone)
 * when it went meanwhile (replayed or renamed), quietly */
static int
oie_ls_read(oie_spool_entry_t *e, oie_ls_stat_t *st, oie_file_t *file)
{
    int  rc;

    memset(st, 0, sizeof(oie_ls_stat_t));

    oie_quiet++;
    rc = oie_file_read(file, e->path);
    oie_quiet--;

    if (rc != OIE_EXIT_OK) {
        st->gone = 1;
        return -1;
    }

    return 0;
}


/* the lines of one spool file, counted and checked */
static void
oie_ls_spool_file(oie_spool_entry_t *e, oie_ls_stat_t *st,
    oie_ls_totals_t *tot)
{
    char              *p, *end, *nl;
    size_t             line;
    oie_file_t         file;
    oie_spool_line_t   l;

    if (oie_ls_read(e, st, &file) != 0) {
        return;
    }

    st->bytes = file.len;
    p = (char *) file.data;
    end = p + file.len;

    for (line = 1; p < end; line++, p = nl + 1) {
        nl = memchr(p, '\n', end - p);

        if (nl == NULL) {
            if ((e->state == OIE_SPOOL_WRITING
                 || e->state == OIE_SPOOL_JOURNAL)
                && e->alive)
            {
                break;          /* the line being written */
            }
            nl = end;
        }

        if (nl == p) {
            continue;
        }

        if (oie_spool_line(p, nl - p, &l) != 0) {
            st->malformed++;
            oie_ls_malformed(tot, e->path, line, l.column, l.err);
            continue;
        }

        st->rows[l.table]++;
        oie_ls_time(st, l.json);
        json_decref(l.json);
    }

    oie_file_free(&file);
}


static void
oie_ls_dead_file(oie_spool_entry_t *e, oie_ls_stat_t *st,
    oie_ls_totals_t *tot)
{
    int           t;
    char         *p, *end, *nl, what[OIE_SPOOL_ERR_LEN];
    size_t        line;
    json_t       *root, *row, *table;
    oie_file_t    file;
    json_error_t  jerr;

    if (oie_ls_read(e, st, &file) != 0) {
        return;
    }

    st->bytes = file.len;
    p = (char *) file.data;
    end = p + file.len;

    for (line = 1; p < end; line++, p = nl + 1) {
        nl = memchr(p, '\n', end - p);
        if (nl == NULL) {
            nl = end;
        }

        if (nl == p) {
            continue;
        }

        root = json_loadb(p, nl - p, 0, &jerr);
        row = json_object_get(root, "row");
        table = json_object_get(root, "table");

        /* null: a line of no table, as replay keeps them (malformed.ndjson);
         * any other table replay calls malformed too */
        t = json_is_null(table) ? OIE_TABLES
            : json_is_string(table)
              ? oie_spool_table(json_string_value(table),
                                json_string_length(table))
              : -1;

        if (root == NULL) {
            st->malformed++;
            oie_ls_malformed(tot, e->path, line,
                             jerr.column > 0 ? (size_t) jerr.column : 1,
                             jerr.text);

        } else if (!json_is_object(root) || row == NULL) {
            st->malformed++;
            oie_ls_malformed(tot, e->path, line, 1,
                             "not a dead letter "
                             "({\"table\",\"error\",\"row\"})");

        } else if (t < 0) {
            if (json_is_string(table)) {
                snprintf(what, sizeof(what), "unknown table '%.40s' (events "
                         "or email_clicks)", json_string_value(table));
            } else {
                snprintf(what, sizeof(what), "not a dead letter: \"table\" "
                         "is not \"events\" or \"email_clicks\"");
            }

            st->malformed++;
            oie_ls_malformed(tot, e->path, line, 1, what);

        } else {
            if (t < OIE_TABLES) {
                st->rows[t]++;
            } else {
                st->other++;
            }

            tot->dead_rows[t]++;

            if (json_is_object(row)) {
                oie_ls_time(st, row);
            }
        }

        json_decref(root);
    }

    oie_file_free(&file);
}


static json_t *
oie_ls_json_file(oie_spool_entry_t *e, oie_ls_stat_t *st, int dead)
{
    int      t;
    char     state[64];
    json_t  *o, *rows;

    oie_spool_state(e, state, sizeof(state));

    o = json_object();
    json_object_set_new(o, "name", json_string(e->name));
    json_object_set_new(o, "path", json_string(e->path));
    json_object_set_new(o, "state", json_string(oie_ls_states[e->state]));
    json_object_set_new(o, "pid", e->pid ? json_integer(e->pid)
                                         : json_null());
    json_object_set_new(o, "pid_alive", e->state == OIE_SPOOL_READY
                                        ? json_null()
                                        : json_boolean(e->alive));
    json_object_set_new(o, "gone", json_boolean(st->gone));
    json_object_set_new(o, "bytes", json_integer((json_int_t) st->bytes));

    if (dead) {
        json_object_set_new(o, "table", e->table >= 0
                            ? json_string(oie_spool_tables[e->table])
                            : json_null());
        json_object_set_new(o, "rows",
                            json_integer((json_int_t) (st->rows[0]
                                                       + st->rows[1]
                                                       + st->other)));
    } else {
        rows = json_object();
        for (t = 0; t < OIE_TABLES; t++) {
            json_object_set_new(rows, oie_spool_tables[t],
                                json_integer((json_int_t) st->rows[t]));
        }
        json_object_set_new(o, "rows", rows);
    }

    json_object_set_new(o, "malformed",
                        json_integer((json_int_t) st->malformed));
    json_object_set_new(o, "oldest_event_time", st->oldest_s[0]
                        ? json_string(st->oldest_s) : json_null());
    json_object_set_new(o, "newest_event_time", st->newest_s[0]
                        ? json_string(st->newest_s) : json_null());

    return o;
}


static size_t
oie_ls_width(oie_spool_list_t *list, oie_spool_list_t *dead)
{
    size_t  i, w, n;

    w = sizeof("FILE") - 1;

    for (i = 0; i < list->n; i++) {
        n = strlen(list->e[i].name);
        w = n > w ? n : w;
    }

    for (i = 0; i < dead->n; i++) {
        n = strlen(dead->e[i].name) + sizeof("dead-letter/") - 1;
        w = n > w ? n : w;
    }

    return w;
}


static void
oie_ls_print_row(int width, const char *name, const char *state,
    oie_ls_stat_t *st, int dead)
{
    if (st->gone) {
        printf("%-*s  %-28s  (gone before it could be read)\n", width, name,
               state);
        return;
    }

    if (dead) {
        printf("%-*s  %-28s  %10zu  %12s  %9zu  %10zu  %-24s  %s\n", width,
               name, state, st->rows[0] + st->rows[1] + st->other, "",
               st->malformed,
               st->bytes, st->oldest_s[0] ? st->oldest_s : "-",
               st->newest_s[0] ? st->newest_s : "-");
        return;
    }

    printf("%-*s  %-28s  %10zu  %12zu  %9zu  %10zu  %-24s  %s\n", width,
           name, state, st->rows[0], st->rows[1], st->malformed, st->bytes,
           st->oldest_s[0] ? st->oldest_s : "-",
           st->newest_s[0] ? st->newest_s : "-");
}


int
oie_spool_ls(int argc, char **argv)
{
    int                c, as_json, rc, t, width;
    char               state[64], *name;
    size_t             i, dead_total, nfiles;
    json_t            *doc, *files, *dead_files, *tot_json, *rows;
    const char        *dir;
    oie_ls_stat_t      st;
    oie_ls_totals_t    tot;
    oie_spool_list_t   list, dead;

    static const struct option  opts[] = {
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    as_json = 0;
    optind = 0;
    opterr = 0;

    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            as_json = 1;
            break;
        case 'h':
            fputs(oie_ls_usage, stdout);
            return OIE_EXIT_OK;
        default:
            oie_error("unknown option '%s' (try: oie spool ls --help)",
                      argv[optind - 1]);
            return OIE_EXIT_USAGE;
        }
    }

    if (argc - optind != 1) {
        oie_error("spool ls needs one DIR (try: oie spool ls --help)");
        return OIE_EXIT_USAGE;
    }

    dir = argv[optind];

    rc = oie_spool_scan(dir, 1, &list);
    if (rc != OIE_EXIT_OK) {
        return rc;
    }

    rc = oie_spool_scan_dead(dir, &dead);
    if (rc != OIE_EXIT_OK) {
        oie_spool_list_free(&list);
        return rc;
    }

    memset(&tot, 0, sizeof(oie_ls_totals_t));

    doc = json_object();
    files = json_array();
    dead_files = json_array();
    width = (int) oie_ls_width(&list, &dead);

    if (!as_json) {
        printf("%-*s  %-28s  %10s  %12s  %9s  %10s  %-24s  %s\n", width,
               "FILE", "STATE", "EVENTS", "EMAIL_CLICKS", "MALFORMED",
               "BYTES", "OLDEST EVENT", "NEWEST EVENT");
    }

    for (i = 0; i < list.n; i++) {
        oie_ls_spool_file(&list.e[i], &st, &tot);

        if (!st.gone) {
            tot.files[list.e[i].state]++;
            tot.bytes += st.bytes;
            tot.malformed += st.malformed;

            for (t = 0; t < OIE_TABLES; t++) {
                tot.rows[t] += st.rows[t];
            }
        }

        if (as_json) {
            json_array_append_new(files, oie_ls_json_file(&list.e[i], &st,
                                                          0));
        } else {
            oie_spool_state(&list.e[i], state, sizeof(state));
            oie_ls_print_row(width, list.e[i].name, state, &st, 0);
        }
    }

    for (i = 0; i < dead.n; i++) {
        oie_ls_dead_file(&dead.e[i], &st, &tot);

        if (!st.gone) {
            tot.dead_files++;
            tot.dead_bytes += st.bytes;
            tot.dead_malformed += st.malformed;
        }

        if (as_json) {
            json_array_append_new(dead_files,
                                  oie_ls_json_file(&dead.e[i], &st, 1));
        } else {
            oie_spool_state(&dead.e[i], state, sizeof(state));
            name = oie_xasprintf("dead-letter/%s", dead.e[i].name);
            oie_ls_print_row(width, name,
                             dead.e[i].state == OIE_SPOOL_READY
                             ? "dead letters" : state, &st, 1);
            free(name);
        }
    }

    dead_total = tot.dead_rows[0] + tot.dead_rows[1] + tot.dead_rows[2];
    nfiles = 0;

    for (t = 0; t < OIE_SPOOL_STATES; t++) {
        nfiles += tot.files[t];
    }

    if (as_json) {
        tot_json = json_object();
        json_object_set_new(tot_json, "files",
                            json_integer((json_int_t) nfiles));

        for (t = 0; t < OIE_SPOOL_STATES; t++) {
            json_object_set_new(tot_json, oie_ls_states[t],
                                json_integer((json_int_t) tot.files[t]));
        }

        rows = json_object();
        for (t = 0; t < OIE_TABLES; t++) {
            json_object_set_new(rows, oie_spool_tables[t],
                                json_integer((json_int_t) tot.rows[t]));
        }
        json_object_set_new(tot_json, "rows", rows);
        json_object_set_new(tot_json, "malformed",
                            json_integer((json_int_t) tot.malformed));
        json_object_set_new(tot_json, "bytes",
                            json_integer((json_int_t) tot.bytes));
        json_object_set_new(tot_json, "dead_letter_files",
                            json_integer((json_int_t) tot.dead_files));
        json_object_set_new(tot_json, "dead_letter_rows",
                            json_integer((json_int_t) dead_total));
        json_object_set_new(tot_json, "dead_letter_malformed",
                            json_integer((json_int_t) tot.dead_malformed));

        json_object_set_new(doc, "dir", json_string(dir));
        json_object_set_new(doc, "files", files);
        json_object_set_new(doc, "dead_letters", dead_files);
        json_object_set_new(doc, "totals", tot_json);

        json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);

    } else {
        printf("total: %zu spool files (%zu ready, %zu being written, "
               "%zu claimed, %zu journals), %zu rows (events %zu, "
               "email_clicks %zu), %zu malformed lines, %zu bytes; "
               "dead letters: %zu rows in %zu files\n",
               nfiles, tot.files[OIE_SPOOL_READY], tot.files[OIE_SPOOL_WRITING],
               tot.files[OIE_SPOOL_CLAIMED], tot.files[OIE_SPOOL_JOURNAL],
               tot.rows[0] + tot.rows[1],
               tot.rows[0], tot.rows[1], tot.malformed + tot.dead_malformed,
               tot.bytes, dead_total, tot.dead_files);

        json_decref(files);
        json_decref(dead_files);
    }

    json_decref(doc);

    if (tot.reported > OIE_MAX_REPORTED) {
        oie_error("... and %zu more malformed lines",
                  tot.reported - OIE_MAX_REPORTED);
    }

    oie_spool_list_free(&list);
    oie_spool_list_free(&dead);

    if (fflush(stdout) != 0) {
        oie_error("cannot write the listing: %s", strerror(errno));
        return OIE_EXIT_IO;
    }

    return (tot.malformed || tot.dead_malformed) ? OIE_EXIT_DATA
                                                 : OIE_EXIT_OK;
}
