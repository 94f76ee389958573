/*
 * The file sink, the embedded default: NDJSON files, one row a line, one
 * directory a table, ready for "bq load --source_format=NEWLINE_DELIMITED_JSON".
 *
 * Each worker writes its own "<time>-<pid>-<seq>.ndjson.part" file per table
 * and renames it to ".ndjson" once complete (by size, by age, or when the
 * worker exits), so a reader that takes only *.ndjson never sees half a file.
 * A batch is written whole or not at all: a failed write is truncated back.
 * Writes are plain blocking write()s, like nginx's own access log.
 */

#include "ngx_http_oie_module.h"

#include <dirent.h>


#define OIE_FILE_WBUF  (256 * 1024)


typedef struct {
    ngx_fd_t        fd;
    off_t           size;
    ngx_msec_t      opened;
    u_char          part[NGX_MAX_PATH];
} ngx_http_oie_file_t;


static ngx_int_t ngx_http_oie_file_open(ngx_http_oie_file_t *f,
    ngx_uint_t table, ngx_log_t *log);
static ngx_int_t ngx_http_oie_file_flush(ngx_http_oie_file_t *f, u_char *buf,
    size_t len, ngx_log_t *log);
static void ngx_http_oie_file_complete(ngx_http_oie_file_t *f,
    ngx_log_t *log);
static void ngx_http_oie_file_recover(ngx_cycle_t *cycle, u_char *dir);


static ngx_str_t  ngx_http_oie_tables[OIE_TABLE_N] = {
    ngx_string("events"),
    ngx_string("email_clicks")
};

static ngx_http_oie_file_t  ngx_http_oie_files[OIE_TABLE_N] = {
    { NGX_INVALID_FILE, 0, 0, "" },
    { NGX_INVALID_FILE, 0, 0, "" }
};

static ngx_uint_t  ngx_http_oie_file_seq;
static u_char      ngx_http_oie_wbuf[OIE_FILE_WBUF];


/* in the master, before workers start: directories, ownership, recovery */
ngx_int_t
ngx_http_oie_sink_file_prepare(ngx_cycle_t *cycle,
    ngx_http_oie_file_conf_t *fc)
{
    u_char           path[NGX_MAX_PATH];
    ngx_uint_t       i;
    ngx_core_conf_t  *ccf;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    for (i = 0; i < OIE_TABLE_N; i++) {

        if (fc->dir.len + ngx_http_oie_tables[i].len + 64 > NGX_MAX_PATH) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "oie: sink directory \"%V\" is too long", &fc->dir);
            return NGX_ERROR;
        }

        ngx_sprintf(path, "%V/%V/%Z", &fc->dir, &ngx_http_oie_tables[i]);

        if (ngx_create_full_path(path, 0755) != 0) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "oie: cannot create sink directory \"%s\"", path);
            return NGX_ERROR;
        }

        path[ngx_strlen(path) - 1] = '\0';

        /* workers drop root: they must be able to write here */
        if (geteuid() == 0 && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT) {
            if (chown((char *) path, ccf->user, ccf->group) == -1) {
                ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                              "oie: chown(\"%s\") failed", path);
                return NGX_ERROR;
            }
        }

        ngx_http_oie_file_recover(cycle, path);
    }

    return NGX_OK;
}


/*
 * A ".part" file whose writer is gone (killed, crashed) is finished here:
 * cut back to its last whole line and renamed, so its rows are not lost.
 */
static void
ngx_http_oie_file_recover(ngx_cycle_t *cycle, u_char *dir)
{
    DIR            *d;
    off_t           end;
    size_t          n;
    u_char          part[NGX_MAX_PATH], done[NGX_MAX_PATH];
    ngx_pid_t       pid;
    struct dirent  *de;

    d = opendir((char *) dir);
    if (d == NULL) {
        return;
    }

    while ((de = readdir(d)) != NULL) {

        n = ngx_strlen(de->d_name);

        if (n < 12 || ngx_strcmp(de->d_name + n - 12, ".ndjson.part") != 0) {
            continue;
        }

        /* "<time>-<pid>-<seq>.ndjson.part" */
        pid = ngx_http_oie_file_pid(de->d_name, NULL);

        if (pid == 0 || ngx_http_oie_pid_alive(pid)) {
            continue;
        }

        ngx_sprintf(part, "%s/%s%Z", dir, de->d_name);
        ngx_sprintf(done, "%s/%*s%Z", dir, n - 5, de->d_name);

        end = ngx_http_oie_whole_lines(part, cycle->log);

        if (end <= 0) {
            if (end == 0) {
                (void) ngx_delete_file(part);
            }
            continue;
        }

        if (ngx_rename_file(part, done) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                          "oie: rename(\"%s\") failed", part);
            continue;
        }

        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "oie: recovered %O bytes of rows left by process %P "
                      "in \"%s\"", end, pid, done);
    }

    closedir(d);
}


ngx_int_t
ngx_http_oie_sink_file_write(ngx_http_oie_batch_t *b, ngx_log_t *log)
{
    off_t                      start[OIE_TABLE_N];
    size_t                     used[OIE_TABLE_N], room;
    ngx_uint_t                 i, t;
    ngx_http_oie_row_t        *row;
    ngx_http_oie_file_t       *f;
    ngx_http_oie_main_conf_t  *omcf = ngx_http_oie_worker.omcf;

    /*
     * Rows of different tables interleave in a batch; the write buffer is
     * split in one half per table so each file gets one write per half.
     */
    room = OIE_FILE_WBUF / OIE_TABLE_N;

    for (t = 0; t < OIE_TABLE_N; t++) {
        used[t] = 0;
        start[t] = -1;
    }

    for (i = 0; i < b->nrows; i++) {

        row = &b->rows[i];
        t = row->table;
        f = &ngx_http_oie_files[t];

        if (f->fd == NGX_INVALID_FILE
            && ngx_http_oie_file_open(f, t, log) != NGX_OK)
        {
            goto failed;
        }

        if (start[t] == -1) {
            start[t] = f->size;
        }

        if (used[t] + row->len + 1 > room) {
            if (ngx_http_oie_file_flush(f, ngx_http_oie_wbuf + t * room,
                                        used[t], log)
                != NGX_OK)
            {
                goto failed;
            }
            used[t] = 0;
        }

        if (row->len + 1 > room) {
            /* larger than the buffer: write it straight out */
            if (ngx_http_oie_file_flush(f, row->data, row->len, log) != NGX_OK
                || ngx_http_oie_file_flush(f, (u_char *) "\n", 1, log)
                   != NGX_OK)
            {
                goto failed;
            }
            continue;
        }

        ngx_memcpy(ngx_http_oie_wbuf + t * room + used[t], row->data,
                   row->len);
        used[t] += row->len;
        ngx_http_oie_wbuf[t * room + used[t]++] = '\n';
    }

    for (t = 0; t < OIE_TABLE_N; t++) {
        f = &ngx_http_oie_files[t];

        if (used[t] && ngx_http_oie_file_flush(f, ngx_http_oie_wbuf + t * room,
                                               used[t], log)
                       != NGX_OK)
        {
            goto failed;
        }
    }

    for (t = 0; t < OIE_TABLE_N; t++) {
        f = &ngx_http_oie_files[t];

        if (f->fd != NGX_INVALID_FILE
            && f->size >= (off_t) omcf->file.max_size)
        {
            ngx_http_oie_file_complete(f, log);
        }
    }

    return NGX_OK;

failed:

    /* take back what this batch wrote, so no row is half there or twice */
    for (t = 0; t < OIE_TABLE_N; t++) {
        f = &ngx_http_oie_files[t];

        if (f->fd != NGX_INVALID_FILE && start[t] != -1) {
            if (ftruncate(f->fd, start[t]) == -1) {
                ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                              "oie: ftruncate(\"%s\") failed", f->part);
            }
            f->size = start[t];
        }
    }

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_oie_file_open(ngx_http_oie_file_t *f, ngx_uint_t table,
    ngx_log_t *log)
{
    ngx_tm_t                   tm;
    ngx_http_oie_main_conf_t  *omcf = ngx_http_oie_worker.omcf;

    ngx_gmtime(ngx_time(), &tm);

    ngx_sprintf(f->part, "%V/%V/%4d%02d%02dT%02d%02d%02dZ-%P-%ui.ndjson.part%Z",
                &omcf->file.dir, &ngx_http_oie_tables[table],
                tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec,
                ngx_pid, ngx_http_oie_file_seq++);

    f->fd = ngx_open_file(f->part, NGX_FILE_WRONLY, NGX_FILE_CREATE_OR_OPEN,
                          NGX_FILE_DEFAULT_ACCESS);

    if (f->fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "oie: cannot open sink file \"%s\"", f->part);
        return NGX_ERROR;
    }

    f->size = 0;
    f->opened = ngx_current_msec;

    return NGX_OK;
}


static ngx_int_t
ngx_http_oie_file_flush(ngx_http_oie_file_t *f, u_char *buf, size_t len,
    ngx_log_t *log)
{
    if (ngx_http_oie_write_all(f->fd, buf, len, &f->size) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "oie: write to sink file \"%s\" failed", f->part);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_oie_file_complete(ngx_http_oie_file_t *f, ngx_log_t *log)
{
    size_t  n;
    u_char  done[NGX_MAX_PATH];

    ngx_close_file(f->fd);
    f->fd = NGX_INVALID_FILE;

    if (f->size == 0) {
        (void) ngx_delete_file(f->part);
        return;
    }

    n = ngx_strlen(f->part) - 5;                 /* without ".part" */
    ngx_memcpy(done, f->part, n);
    done[n] = '\0';

    if (ngx_rename_file(f->part, done) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "oie: rename(\"%s\") failed", f->part);
        return;
    }

    ngx_http_oie_count(files_completed, 1);
}


void
ngx_http_oie_sink_file_tick(ngx_log_t *log, ngx_flag_t close_all)
{
    ngx_uint_t                 t;
    ngx_http_oie_file_t       *f;
    ngx_http_oie_main_conf_t  *omcf = ngx_http_oie_worker.omcf;

    for (t = 0; t < OIE_TABLE_N; t++) {
        f = &ngx_http_oie_files[t];

        if (f->fd == NGX_INVALID_FILE) {
            continue;
        }

        if (close_all || ngx_current_msec - f->opened >= omcf->file.max_age) {
            ngx_http_oie_file_complete(f, log);
        }
    }
}
