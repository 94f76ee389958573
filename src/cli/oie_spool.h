/*
 * oie spool ls|replay: the module's spool directory as the CLI sees it.
 *
 * The format is the module's (src/ngx_http_oie_spool.c): in DIR,
 * "<UTC time>-<pid>-<seq>.spool.part" (being written by worker <pid>),
 * ".spool" (complete, ready for replay) and ".spool.claim-<pid>" (claimed,
 * by renaming, by the process uploading it); one row a line as
 * "<table> <row JSON>".  A worker's "<UTC time>-<pid>-<seq>.journal" holds,
 * in the same form, the rows of an upload in flight (nginx turns the
 * journal of a process that is gone into a ".spool" file).  Rows BigQuery
 * refused are in
 * DIR/dead-letter/<table>.ndjson as {"table":..,"error":..,"row":{..}}.
 */

#ifndef _OIE_SPOOL_H_INCLUDED_
#define _OIE_SPOOL_H_INCLUDED_

#include <jansson.h>

#include "oie_cli.h"


#define OIE_EXIT_BIGQUERY     8      /* BigQuery or its token endpoint failed */
#define OIE_EXIT_INTERRUPTED  130    /* SIGINT / SIGTERM */

#define OIE_TABLES            2      /* events, email_clicks */

#define OIE_SPOOL_READY       0
#define OIE_SPOOL_WRITING     1      /* .part */
#define OIE_SPOOL_CLAIMED     2      /* .claim-<pid> */
#define OIE_SPOOL_JOURNAL     3      /* .journal: an upload in flight */
#define OIE_SPOOL_STATES      4

#define OIE_SPOOL_ERR_LEN     200


typedef struct {
    char            *name;      /* in its directory */
    char            *path;      /* dir/name */
    char            *base;      /* the ".spool" (or ".ndjson") name */
    int              state;
    int              alive;     /* the writer or claimer is there */
    int              table;     /* dead letters: the table, or -1 */
    long             pid;       /* writer (.part, .journal) or claimer;
                                   0: none */
} oie_spool_entry_t;


typedef struct {
    oie_spool_entry_t  *e;
    size_t              n;
    size_t              nalloc;
} oie_spool_list_t;


/* One line of a spool file, checked. */
typedef struct {
    int              table;     /* -1: not known */
    const char      *row;       /* the row JSON as written */
    size_t           row_len;
    json_t          *json;      /* the row parsed (caller json_decref()s) */
    size_t           column;    /* of the fault, from 1 */
    char             err[OIE_SPOOL_ERR_LEN];
} oie_spool_line_t;


/* One line of a dead-letter file, checked. */
typedef struct {
    int              table;     /* -1: not known */
    json_t          *root;      /* the line parsed, or NULL (caller
                                   json_decref()s) */
    json_t          *row;       /* its row object (in root), or NULL */
    size_t           column;    /* of the fault, from 1 */
    char             err[OIE_SPOOL_ERR_LEN];
} oie_spool_dead_t;


extern const char  *oie_spool_tables[OIE_TABLES];


/* the table's index for its name, or -1 */
int oie_spool_table(const char *name, size_t len);

/*
 * The spool files of dir (spool; with journals, the upload journals too) or
 * dir/dead-letter (dead letters), sorted by name: oldest first.  Returns
 * OIE_EXIT_OK or OIE_EXIT_IO (reported).
 */
int oie_spool_scan(const char *dir, int journals, oie_spool_list_t *list);
int oie_spool_scan_dead(const char *dir, oie_spool_list_t *list);
void oie_spool_list_free(oie_spool_list_t *list);

/* "ready", "writing (pid N)", "claimed (pid N, gone)", "journal (pid N)" */
void oie_spool_state(const oie_spool_entry_t *e, char *buf, size_t size);

/*
 * parses "<table> <row JSON>"; 0, or -1 with err and column set
 * (src/cli/oie_spoolline.c: these are pure, over jansson)
 */
int oie_spool_line(const char *text, size_t len, oie_spool_line_t *l);

/*
 * parses {"table":"events"|"email_clicks","error":..,"row":{..}}; 0, or -1
 * with err and column set (d->root is set whenever the line is JSON)
 */
int oie_spool_dead_line(const char *text, size_t len, oie_spool_dead_t *d);

/* the row's event_id (the insertId), or NULL */
const char *oie_spool_event_id(json_t *row);

/*
 * A TIMESTAMP as BigQuery takes it, in microseconds since the epoch; -1
 * when s is not one.
 */
int64_t oie_spool_time(const char *s);


int oie_spool_ls(int argc, char **argv);
int oie_spool_replay(int argc, char **argv);


#endif /* _OIE_SPOOL_H_INCLUDED_ */
