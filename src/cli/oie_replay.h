/*
 * oie spool replay: what its parts share (oie_replay.c: options, claims,
 * the file loop; oie_replay_rows.c: reading files, dead letters, putting
 * rows back; oie_replay_send.c: batches, retries, the summary).
 */

#ifndef _OIE_REPLAY_H_INCLUDED_
#define _OIE_REPLAY_H_INCLUDED_

#include "oie_bq.h"
#include "oie_spool.h"


#define OIE_ROW_PENDING  0      /* not sent yet, or to send again */
#define OIE_ROW_DONE     1      /* BigQuery accepted it */
#define OIE_ROW_DEAD     2      /* refused or malformed: a dead letter */
#define OIE_ROW_KEPT     3      /* --dead-letter: stays as it is */

#define OIE_REPLAY_MAX_BYTES  (9 * 1024 * 1024)


typedef struct {
    const char      *line;      /* as in the file, without its newline */
    size_t           line_len;
    const char      *row;       /* the row JSON to send */
    size_t           row_len;
    char            *row_buf;   /* dead letters: the row serialized */
    char            *insert_id;
    char            *error;     /* JSON: why it is a dead letter */
    size_t           lineno;
    int              table;     /* -1: not known */
    int              raw;       /* a malformed line: row is not JSON */
    int              state;
} oie_rrow_t;


typedef struct {
    oie_bq_t         bq;
    const char      *dir;
    size_t           batch;
    unsigned         attempts;
    int              dry_run;
    int              dead_mode;
    int              stopped;       /* BigQuery kept failing */
    int              io_failed;

    size_t           files;         /* read */
    size_t           files_deleted;
    size_t           files_back;
    size_t           skipped;
    size_t           rows[OIE_TABLES];
    size_t           accepted;
    size_t           rejected;
    size_t           malformed;
    size_t           unsent;
    size_t           requests;
    size_t           retries;
    size_t           reported;
} oie_replay_t;


oie_rrow_t *oie_replay_parse_spool(oie_replay_t *r, oie_spool_entry_t *e,
    oie_file_t *file, size_t *n);
oie_rrow_t *oie_replay_parse_dead(oie_replay_t *r, oie_spool_entry_t *e,
    oie_file_t *file, size_t *n);

/* sends the pending rows; OIE_EXIT_OK, or why it stopped */
int oie_replay_send(oie_replay_t *r, oie_rrow_t *rows, size_t n);

/* dead letters written, then the file deleted or put back */
int oie_replay_finish_spool(oie_replay_t *r, oie_spool_entry_t *e,
    const char *claim, const char *dir, oie_rrow_t *rows, size_t n, int rc);
int oie_replay_finish_dead(oie_replay_t *r, oie_spool_entry_t *e,
    const char *claim, const char *dir, oie_rrow_t *rows, size_t n,
    oie_file_t *file, int rc);

void oie_replay_dry(oie_replay_t *r, oie_spool_entry_t *e, oie_rrow_t *rows,
    size_t n);
int oie_replay_summary(oie_replay_t *r);

/* a dead letter's line: {"table":..,"error":..,"row":..}, malloc()ed */
char *oie_replay_dead_line(oie_rrow_t *row, size_t *len);


#endif /* _OIE_REPLAY_H_INCLUDED_ */
