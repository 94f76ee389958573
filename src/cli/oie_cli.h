/*
 * The oie command-line tool: what its commands share.
 */

#ifndef _OIE_CLI_H_INCLUDED_
#define _OIE_CLI_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>


#ifndef OIE_VERSION
#define OIE_VERSION  "unknown"
#endif


/* exit codes: documented in src/cli/README.md and `oie --help` */

#define OIE_EXIT_OK         0
#define OIE_EXIT_INTERNAL   1    /* out of memory, a bug */
#define OIE_EXIT_USAGE      2    /* bad option or argument */
#define OIE_EXIT_DATA       3    /* input file content: CSV, NDJSON, rows */
#define OIE_EXIT_IO         4    /* cannot read or write a file */
#define OIE_EXIT_REDIS      5    /* Redis unreachable or failing */
#define OIE_EXIT_NOTFOUND   6    /* leads get: no such lead */
#define OIE_EXIT_CONFLICT   7    /* leads push: id held by another lead */
                                 /* 8, 130: spool replay (oie_spool.h) */

#define OIE_MAX_REPORTED    20   /* row errors printed before "N more" */


typedef struct {
    unsigned char  *data;      /* NUL-terminated, one spare byte */
    size_t          len;
    const char     *name;      /* as given on the command line */
} oie_file_t;


/*
 * Progress on stderr: on a terminal one line redrawn twice a second; else
 * (--progress) one line per OIE_PROGRESS_STEP items, so logs stay short
 * and the same from run to run.
 */
typedef struct {
    const char     *what;
    double          start;
    double          last;
    size_t          next;
    int             enabled;
    int             tty;
    int             shown;
} oie_progress_t;

#define OIE_PROGRESS_STEP  100000


/* A file written under a temporary name and renamed when complete. */
typedef struct {
    FILE           *fp;
    char           *path;
    char           *tmp;
    char           *buf;
} oie_out_t;


/* commands */

int oie_cmd_campaign(int argc, char **argv);
int oie_cmd_leads(int argc, char **argv);
int oie_leads_push(int argc, char **argv);
int oie_cmd_id(int argc, char **argv);
int oie_cmd_spool(int argc, char **argv);


/* messages: "oie: ..." on stderr */

void oie_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
void oie_warn(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
void oie_info(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

extern int  oie_quiet;


/* memory: these exit with OIE_EXIT_INTERNAL when out of memory */

void *oie_xmalloc(size_t size);
void *oie_xrealloc(void *p, size_t size);
char *oie_xstrdup(const char *s);
char *oie_xasprintf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));


/* files */

int oie_file_read(oie_file_t *file, const char *name);
void oie_file_free(oie_file_t *file);
int oie_read_secret(const char *path, unsigned char **secret, size_t *len);
int oie_mkdir_p(const char *dir);
int oie_out_open(oie_out_t *out, const char *path);
int oie_out_commit(oie_out_t *out);
void oie_out_abort(oie_out_t *out);


/* text */

void oie_json_string(FILE *fp, const char *s, size_t len);
void oie_csv_write(FILE *fp, const char *s, size_t len);
size_t oie_utf8_columns(const char *s, size_t len);
int oie_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *v);
int oie_parse_duration(const char *s, uint64_t *seconds);


/* time */

double oie_now(void);
int64_t oie_epoch(void);
void oie_rfc3339(int64_t t, char *buf, size_t size);

void oie_progress_init(oie_progress_t *p, const char *what, int flag);
void oie_progress(oie_progress_t *p, size_t done, const char *unit);
void oie_progress_done(oie_progress_t *p);


#endif /* _OIE_CLI_H_INCLUDED_ */
