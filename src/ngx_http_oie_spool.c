/*
 * The spool: rows BigQuery has not taken yet, on disk, so that an outage, a
 * full ring or a restart loses nothing.
 *
 * A worker appends batches to its own "<time>-<pid>-<seq>.spool.part" file,
 * one row a line as "<table> <row JSON>", fsync()ing after each batch; a
 * second later the file is renamed to ".spool" and may be replayed.  Replay
 * claims the oldest ".spool" file by renaming it to ".spool.claim-<pid>", so
 * one worker alone uploads it; the file is deleted once BigQuery took every
 * row, or put back holding only the rows not yet taken.  At start-up the
 * master finishes the ".part" files and returns the claims of processes that
 * are gone, so a crash or kill -9 loses nothing either.
 */

#include "ngx_http_oie_bigquery.h"

#include <dirent.h>


#define OIE_SPOOL_ROTATE_MS    1000
#define OIE_SPOOL_ROTATE_SIZE  (8 * 1024 * 1024)


typedef struct {
    ngx_fd_t        fd;
    off_t           size;
    ngx_msec_t      opened;
    u_char          part[NGX_MAX_PATH];
} ngx_http_oie_spool_out_t;


static ngx_int_t ngx_http_oie_spool_write(u_char *buf, size_t len,
    ngx_log_t *log);
static void ngx_http_oie_spool_complete(ngx_log_t *log);
static ngx_int_t ngx_http_oie_spool_reserve(size_t len, ngx_log_t *log);


ngx_str_t  ngx_http_oie_table_names[OIE_TABLE_N] = {
    ngx_string("events"),
    ngx_string("email_clicks")
};

static ngx_http_oie_spool_out_t  ngx_http_oie_spool_out = {
    NGX_INVALID_FILE, 0, 0, ""
};

static ngx_uint_t  ngx_http_oie_spool_seq;


ngx_int_t
ngx_http_oie_spool_prepare(ngx_cycle_t *cycle)
{
    DIR                       *d;
    off_t                      size, total;
    size_t                     n;
    u_char                     path[NGX_MAX_PATH], to[NGX_MAX_PATH], *p;
    ngx_pid_t                  pid;
    ngx_uint_t                 files;
    struct dirent             *de;
    ngx_file_info_t            fi;
    ngx_core_conf_t           *ccf;
    ngx_http_oie_shctx_t      *sh;
    ngx_http_oie_main_conf_t  *omcf;

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_oie_module);
    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    if (omcf->spool.dir.len + 64 > NGX_MAX_PATH) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "oie: spool directory \"%V\" is too long",
                      &omcf->spool.dir);
        return NGX_ERROR;
    }

    ngx_sprintf(path, "%V/dead-letter/%Z", &omcf->spool.dir);

    if (ngx_create_full_path(path, 0755) != 0) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "oie: cannot create spool directory \"%s\"", path);
        return NGX_ERROR;
    }

    ngx_sprintf(path, "%V%Z", &omcf->spool.dir);

    if (geteuid() == 0 && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT) {
        /* workers drop root: the spool and its dead letters are theirs */
        ngx_sprintf(path, "%V%Z", &omcf->spool.dir);
        ngx_sprintf(to, "%V/dead-letter%Z", &omcf->spool.dir);

        if (chown((char *) path, ccf->user, ccf->group) == -1
            || chown((char *) to, ccf->user, ccf->group) == -1)
        {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "oie: chown(\"%V\") failed", &omcf->spool.dir);
            return NGX_ERROR;
        }
    }

    ngx_sprintf(path, "%V%Z", &omcf->spool.dir);

    d = opendir((char *) path);
    if (d == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "oie: opendir(\"%s\") failed", path);
        return NGX_ERROR;
    }

    total = 0;
    files = 0;

    while ((de = readdir(d)) != NULL) {

        n = ngx_strlen(de->d_name);

        if (n < 6 || ngx_strstr(de->d_name, ".spool") == NULL) {
            continue;
        }

        ngx_sprintf(path, "%V/%s%Z", &omcf->spool.dir, de->d_name);

        if (n > 11 && ngx_strcmp(de->d_name + n - 11, ".spool.part") == 0) {
            pid = ngx_http_oie_file_pid(de->d_name, NULL);

            if (!ngx_http_oie_pid_alive(pid)) {
                /* the writer is gone: finish its file for replay */
                size = ngx_http_oie_whole_lines(path, cycle->log);
                ngx_sprintf(to, "%V/%*s%Z", &omcf->spool.dir, n - 5,
                            de->d_name);

                if (size == 0) {
                    (void) ngx_delete_file(path);
                    continue;
                }

                if (ngx_rename_file(path, to) == NGX_FILE_ERROR) {
                    continue;
                }

                ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                              "oie: spool file \"%s\" of process %P "
                              "finished for replay", to, pid);
                ngx_cpystrn(path, to, NGX_MAX_PATH);
            }

        } else if (ngx_strstr(de->d_name, ".spool.claim-")) {
            pid = ngx_http_oie_file_pid(de->d_name, ".claim-");

            if (!ngx_http_oie_pid_alive(pid)) {
                p = (u_char *) ngx_strstr(de->d_name, ".claim-");
                ngx_sprintf(to, "%V/%*s%Z", &omcf->spool.dir,
                            p - (u_char *) de->d_name, de->d_name);

                if (ngx_rename_file(path, to) != NGX_FILE_ERROR) {
                    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                                  "oie: spool file \"%s\" claimed by "
                                  "process %P returned for replay", to, pid);
                    ngx_cpystrn(path, to, NGX_MAX_PATH);
                }
            }
        }

        if (ngx_file_info(path, &fi) != NGX_FILE_ERROR) {
            total += ngx_file_size(&fi);
            files++;
        }
    }

    closedir(d);

    sh = omcf->shm_zone->data;
    sh->counters.spool_bytes = total;

    if (files && ngx_process != NGX_PROCESS_WORKER) {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "oie: %ui spool files, %O bytes, waiting for replay",
                      files, total);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_oie_spool_reserve(size_t len, ngx_log_t *log)
{
    ngx_time_t                *tp;
    ngx_atomic_uint_t          now;
    ngx_http_oie_main_conf_t  *omcf = ngx_http_oie_worker.omcf;

    static ngx_time_t          last_log;

    now = ngx_http_oie_worker.sh->counters.spool_bytes;

    if (now + len <= (ngx_atomic_uint_t) omcf->spool.max_size) {
        return NGX_OK;
    }

    tp = ngx_timeofday();

    if (tp->sec != last_log.sec) {
        last_log = *tp;
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "oie: spool full (%uA of %O bytes): rows dropped", now,
                      omcf->spool.max_size);
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_http_oie_spool_rows(ngx_http_oie_row_t *rows, ngx_uint_t n,
    ngx_log_t *log)
{
    u_char      *buf, *p;
    size_t       len;
    ngx_int_t    rc;
    ngx_uint_t   i;

    len = 0;

    for (i = 0; i < n; i++) {
        len += ngx_http_oie_table_names[rows[i].table].len + 2 + rows[i].len;
    }

    if (ngx_http_oie_spool_reserve(len, log) != NGX_OK) {
        return NGX_DECLINED;
    }

    buf = ngx_alloc(len, log);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    p = buf;

    for (i = 0; i < n; i++) {
        p = ngx_cpymem(p, ngx_http_oie_table_names[rows[i].table].data,
                       ngx_http_oie_table_names[rows[i].table].len);
        *p++ = ' ';
        p = ngx_cpymem(p, rows[i].data, rows[i].len);
        *p++ = '\n';
    }

    rc = ngx_http_oie_spool_write(buf, len, log);

    ngx_free(buf);

    if (rc == NGX_OK) {
        ngx_http_oie_count(rows_spooled, n);
    }

    return rc;
}


ngx_int_t
ngx_http_oie_spool_row(ngx_uint_t table, u_char *row, size_t len,
    ngx_log_t *log)
{
    ngx_http_oie_row_t  r;

    r.table = table;
    r.data = row;
    r.len = len;

    return ngx_http_oie_spool_rows(&r, 1, log);
}


static ngx_int_t
ngx_http_oie_spool_write(u_char *buf, size_t len, ngx_log_t *log)
{
    off_t                      start;
    ngx_tm_t                   tm;
    ngx_http_oie_spool_out_t  *out = &ngx_http_oie_spool_out;
    ngx_http_oie_main_conf_t  *omcf = ngx_http_oie_worker.omcf;

    if (out->fd == NGX_INVALID_FILE) {
        ngx_gmtime(ngx_time(), &tm);

        ngx_sprintf(out->part,
                    "%V/%4d%02d%02dT%02d%02d%02dZ-%P-%06ui.spool.part%Z",
                    &omcf->spool.dir, tm.ngx_tm_year, tm.ngx_tm_mon,
                    tm.ngx_tm_mday, tm.ngx_tm_hour, tm.ngx_tm_min,
                    tm.ngx_tm_sec, ngx_pid, ngx_http_oie_spool_seq++);

        out->fd = ngx_open_file(out->part, NGX_FILE_WRONLY,
                                NGX_FILE_CREATE_OR_OPEN,
                                NGX_FILE_DEFAULT_ACCESS);
        if (out->fd == NGX_INVALID_FILE) {
            ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                          "oie: cannot open spool file \"%s\"", out->part);
            return NGX_ERROR;
        }

        out->size = 0;
        out->opened = ngx_current_msec;
    }

    start = out->size;

    if (ngx_http_oie_write_all(out->fd, buf, len, &out->size) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "oie: write to spool file \"%s\" failed", out->part);
        goto failed;
    }

    /* the batch is on disk before anyone is told it is safe */
    if (fsync(out->fd) == -1) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "oie: fsync(\"%s\") failed", out->part);
        goto failed;
    }

    ngx_http_oie_count(spool_bytes, out->size - start);

    if (out->size >= OIE_SPOOL_ROTATE_SIZE) {
        ngx_http_oie_spool_complete(log);
    }

    return NGX_OK;

failed:

    if (ftruncate(out->fd, start) == -1) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "oie: ftruncate(\"%s\") failed", out->part);
    }

    out->size = start;

    return NGX_ERROR;
}


static void
ngx_http_oie_spool_complete(ngx_log_t *log)
{
    size_t                     n;
    u_char                     done[NGX_MAX_PATH];
    ngx_http_oie_spool_out_t  *out = &ngx_http_oie_spool_out;

    ngx_close_file(out->fd);
    out->fd = NGX_INVALID_FILE;

    if (out->size == 0) {
        (void) ngx_delete_file(out->part);
        return;
    }

    n = ngx_strlen(out->part) - 5;
    ngx_memcpy(done, out->part, n);
    done[n] = '\0';

    if (ngx_rename_file(out->part, done) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "oie: rename(\"%s\") failed", out->part);
    }
}


void
ngx_http_oie_spool_tick(ngx_log_t *log, ngx_flag_t close_all)
{
    ngx_http_oie_spool_out_t  *out = &ngx_http_oie_spool_out;

    if (out->fd != NGX_INVALID_FILE
        && (close_all
            || ngx_current_msec - out->opened >= OIE_SPOOL_ROTATE_MS))
    {
        ngx_http_oie_spool_complete(log);
    }
}


ngx_int_t
ngx_http_oie_spool_claim(ngx_http_oie_spool_file_t *f, ngx_log_t *log)
{
    DIR                       *d;
    size_t                     n;
    ssize_t                    got;
    u_char                     best[256], path[NGX_MAX_PATH];
    ngx_fd_t                   fd;
    struct dirent             *de;
    ngx_file_info_t            fi;
    ngx_http_oie_main_conf_t  *omcf = ngx_http_oie_worker.omcf;

    for ( ;; ) {
        ngx_sprintf(path, "%V%Z", &omcf->spool.dir);

        d = opendir((char *) path);
        if (d == NULL) {
            return NGX_DECLINED;
        }

        best[0] = '\0';

        while ((de = readdir(d)) != NULL) {
            n = ngx_strlen(de->d_name);

            if (n < 7 || n >= sizeof(best)
                || ngx_strcmp(de->d_name + n - 6, ".spool") != 0)
            {
                continue;
            }

            /* names start with the UTC time: the smallest is the oldest */
            if (best[0] == '\0' || ngx_strcmp(de->d_name, best) < 0) {
                ngx_cpystrn(best, (u_char *) de->d_name, sizeof(best));
            }
        }

        closedir(d);

        if (best[0] == '\0') {
            return NGX_DECLINED;
        }

        ngx_sprintf(path, "%V/%s%Z", &omcf->spool.dir, best);
        ngx_sprintf(f->path, "%V/%s.claim-%P%Z", &omcf->spool.dir, best,
                    ngx_pid);

        if (ngx_rename_file(path, f->path) == NGX_FILE_ERROR) {
            if (ngx_errno == NGX_ENOENT) {
                continue;               /* another worker took it first */
            }
            return NGX_ERROR;
        }

        break;
    }

    fd = ngx_open_file(f->path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE || ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        goto failed;
    }

    f->len = ngx_file_size(&fi);
    f->pos = 0;
    f->data = ngx_alloc(f->len + 1, log);
    if (f->data == NULL) {
        goto failed;
    }

    got = f->len ? pread(fd, f->data, f->len, 0) : 0;
    ngx_close_file(fd);

    if (got != (ssize_t) f->len) {
        ngx_free(f->data);
        f->data = NULL;
        fd = NGX_INVALID_FILE;
        goto failed;
    }

    f->data[f->len] = '\0';

    return NGX_OK;

failed:

    ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                  "oie: cannot read spool file \"%s\"", f->path);
    if (fd != NGX_INVALID_FILE) {
        ngx_close_file(fd);
    }
    ngx_http_oie_spool_release(f, 0, log);
    return NGX_ERROR;
}


/*
 * done: every row was taken, the file goes.  Otherwise the rows before pos
 * were taken and the rest goes back, under the file's own name, for later.
 */
void
ngx_http_oie_spool_release(ngx_http_oie_spool_file_t *f, ngx_flag_t done,
    ngx_log_t *log)
{
    u_char    back[NGX_MAX_PATH], *p;
    ssize_t   n;
    ngx_fd_t  fd;

    p = (u_char *) ngx_strstr(f->path, ".claim-");
    ngx_cpystrn(back, f->path, p - f->path + 1);

    if (done || (f->data && f->pos >= f->len)) {
        (void) ngx_delete_file(f->path);
        ngx_http_oie_count(spool_bytes, -(ngx_atomic_int_t) f->len);
        ngx_http_oie_count(spool_replayed_files, 1);
        goto free;
    }

    if (f->data && f->pos > 0) {
        /* keep only what BigQuery has not taken: write, sync, swap */
        fd = ngx_open_file(f->path, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                           NGX_FILE_DEFAULT_ACCESS);
        if (fd != NGX_INVALID_FILE) {
            n = ngx_write_fd(fd, f->data + f->pos, f->len - f->pos);
            if (n == (ssize_t) (f->len - f->pos) && fsync(fd) == 0) {
                ngx_http_oie_count(spool_bytes,
                                   -(ngx_atomic_int_t) f->pos);
            }
            ngx_close_file(fd);
        }
    }

    if (ngx_rename_file(f->path, back) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "oie: rename(\"%s\") failed", f->path);
    }

free:

    if (f->data) {
        ngx_free(f->data);
        f->data = NULL;
    }
}


void
ngx_http_oie_dead_letter(ngx_uint_t table, u_char *row, size_t len,
    u_char *error, size_t error_len, ngx_log_t *log)
{
    u_char                    *buf, *p, path[NGX_MAX_PATH];
    size_t                     n;
    ngx_fd_t                   fd;
    ngx_http_oie_main_conf_t  *omcf = ngx_http_oie_worker.omcf;

    n = sizeof("{\"table\":\"\",\"error\":,\"row\":}\n") + 32 + error_len
        + len;

    buf = ngx_alloc(n, log);
    if (buf == NULL) {
        return;
    }

    p = ngx_sprintf(buf, "{\"table\":\"%V\",\"error\":%*s,\"row\":%*s}\n",
                    &ngx_http_oie_table_names[table], error_len, error, len,
                    row);

    ngx_sprintf(path, "%V/dead-letter/%V.ndjson%Z", &omcf->spool.dir,
                &ngx_http_oie_table_names[table]);

    fd = ngx_open_file(path, NGX_FILE_APPEND, NGX_FILE_CREATE_OR_OPEN,
                       NGX_FILE_DEFAULT_ACCESS);

    if (fd == NGX_INVALID_FILE || ngx_write_fd(fd, buf, p - buf) != p - buf) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "oie: cannot write dead-letter file \"%s\"", path);
    }

    if (fd != NGX_INVALID_FILE) {
        ngx_close_file(fd);
    }

    ngx_free(buf);
}
