/*
 * The spool: rows BigQuery has not taken yet, on disk, so that an outage, a
 * full ring or a restart loses nothing.
 *
 * A worker appends batches to its own "<time>-<pid>-<seq>.spool.part" file,
 * one row a line as "<table> <row JSON>", fsync()ing after each batch; a
 * second later the file is renamed to ".spool" and may be replayed.  Replay
 * claims the oldest ".spool" file by renaming it to ".spool.claim-<pid>", so
 * one worker alone uploads it; the file is deleted once BigQuery took every
 * row, or put back holding only the rows not yet taken.
 *
 * Rows popped from the ring for an upload are first written, in the same
 * form, to a journal "<time>-<pid>-<seq>.journal", deleted once they are
 * stored, dead-lettered or spooled.  It is not fsync()ed: it guards against
 * a killed worker (the page cache survives SIGKILL), not a lost machine.
 *
 * What a process that is gone left (its ".part" files, its claims, its
 * journals) is taken over: by the master at start-up and reload, by a worker
 * when it starts (the master respawns a killed one), and by any worker
 * that finds such a file twice in a row in its periodic look (a worker that
 * was not respawned).  So a crash or kill -9 loses nothing either.
 */

#include "ngx_http_oie_bigquery.h"

#include <dirent.h>


#define OIE_SPOOL_ROTATE_MS    1000
#define OIE_SPOOL_ROTATE_SIZE  (8 * 1024 * 1024)
#define OIE_SPOOL_ADOPT_MS     5000
#define OIE_SPOOL_ADOPT_PIDS   16


typedef struct {
    ngx_fd_t        fd;
    off_t           size;
    ngx_msec_t      opened;
    u_char          part[NGX_MAX_PATH];
} ngx_http_oie_spool_out_t;


/*
 * The pids a worker's periodic look found gone: a file of such a process
 * is taken over only when the next look finds it still there, so a worker
 * the master respawns (which takes over at its start, counting the spool
 * afresh) has done it first.
 */
typedef struct {
    ngx_pid_t       prev[OIE_SPOOL_ADOPT_PIDS];
    ngx_uint_t      nprev;
    ngx_pid_t       next[OIE_SPOOL_ADOPT_PIDS];
    ngx_uint_t      nnext;
} ngx_http_oie_spool_look_t;


static off_t ngx_http_oie_spool_take_over(ngx_str_t *dir, const char *name,
    ngx_http_oie_spool_look_t *look, off_t *added, ngx_log_t *log);
static u_char *ngx_http_oie_spool_lines(ngx_http_oie_row_t *rows,
    ngx_uint_t n, size_t *len, ngx_log_t *log);
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


/*
 * Raises the spool's byte count to at least what the files were found to
 * hold, never lowers it.  Other processes may be at work (a worker
 * respawned in place of a dead one, the master at a reload, a worker that
 * returned a journal after this one read the directory), and a count too
 * low keeps the spool from being replayed: replay waits for a count above
 * 0.  A count too high comes down when it makes the spool look full: the
 * recount before any refusal (ngx_http_oie_spool_recount).
 */
static void
ngx_http_oie_spool_at_least(ngx_http_oie_shctx_t *sh, off_t total)
{
    ngx_atomic_uint_t  was;

    for ( ;; ) {
        was = sh->counters.spool_bytes;

        if ((off_t) was >= total
            || ngx_atomic_cmp_set(&sh->counters.spool_bytes, was,
                                  (ngx_atomic_uint_t) total))
        {
            return;
        }
    }
}


ngx_int_t
ngx_http_oie_spool_prepare(ngx_cycle_t *cycle)
{
    DIR                       *d;
    off_t                      size, total, added;
    u_char                     path[NGX_MAX_PATH], to[NGX_MAX_PATH];
    ngx_uint_t                 files;
    struct dirent             *de;
    ngx_core_conf_t           *ccf;
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
    added = 0;

    while ((de = readdir(d)) != NULL) {
        size = ngx_http_oie_spool_take_over(&omcf->spool.dir, de->d_name,
                                            NULL, &added, cycle->log);
        if (size >= 0) {
            total += size;
            files++;
        }
    }

    closedir(d);

    ngx_http_oie_spool_at_least(omcf->shm_zone->data, total);

    if (files && ngx_process != NGX_PROCESS_WORKER) {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "oie: %ui spool files, %O bytes, waiting for replay",
                      files, total);
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_oie_spool_gone(ngx_pid_t pid, ngx_http_oie_spool_look_t *look)
{
    ngx_uint_t  i;

    if (ngx_http_oie_pid_alive(pid)) {
        return 0;
    }

    if (look == NULL) {
        return 1;
    }

    for (i = 0; i < look->nprev; i++) {
        if (look->prev[i] == pid) {
            return 1;
        }
    }

    for (i = 0; i < look->nnext; i++) {
        if (look->next[i] == pid) {
            return 0;
        }
    }

    if (look->nnext < OIE_SPOOL_ADOPT_PIDS) {
        look->next[look->nnext++] = pid;
    }

    return 0;
}


/*
 * One directory entry.  A ".part" file or a journal whose writer is gone
 * is cut back to its last whole line and becomes a ".spool" file; a claim
 * whose replayer is gone is returned under its ".spool" name.  Returns the
 * bytes the file holds for the spool (-1: none of its files), and adds to
 * *added the bytes that entered the spool now (a journal's: its rows were
 * in flight, not counted).
 */
static off_t
ngx_http_oie_spool_take_over(ngx_str_t *dir, const char *name,
    ngx_http_oie_spool_look_t *look, off_t *added, ngx_log_t *log)
{
    off_t            size;
    size_t           n;
    u_char           path[NGX_MAX_PATH], to[NGX_MAX_PATH], *p;
    ngx_pid_t        pid;
    ngx_uint_t       journal;
    ngx_file_info_t  fi;

    n = ngx_strlen(name);

    if (dir->len + n + 16 > NGX_MAX_PATH) {
        return -1;
    }

    journal = n > 8 && ngx_strcmp(name + n - 8, ".journal") == 0;

    if (!journal && (n < 6 || ngx_strstr(name, ".spool") == NULL)) {
        return -1;
    }

    ngx_sprintf(path, "%V/%s%Z", dir, name);

    if (journal
        || (n > 11 && ngx_strcmp(name + n - 11, ".spool.part") == 0))
    {
        pid = ngx_http_oie_file_pid(name, NULL);

        if (!ngx_http_oie_spool_gone(pid, look)) {
            /* a live journal holds rows in flight, not spooled ones */
            return journal ? -1 : ngx_file_info(path, &fi) == NGX_FILE_ERROR
                                  ? -1 : ngx_file_size(&fi);
        }

        /* the writer is gone: finish its file for replay (a cut line was
         * never counted: a batch is counted once it is written whole) */
        size = ngx_http_oie_whole_lines(path, log);

        if (size <= 0) {
            if (size == 0) {
                (void) ngx_delete_file(path);
            }
            return -1;
        }

        ngx_sprintf(to, "%V/%*s.spool%Z", dir,
                    n - (journal ? 8 : 11), name);

        if (ngx_rename_file(path, to) == NGX_FILE_ERROR) {
            /* another process took it first */
            return -1;
        }

        if (journal) {
            *added += size;
        }

        if (journal) {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "oie: upload journal of process %P returned for "
                          "replay as \"%s\"", pid, to);

        } else {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "oie: spool file \"%s\" of process %P finished "
                          "for replay", to, pid);
        }

        return size;
    }

    if (ngx_strstr(name, ".spool.claim-")) {
        pid = ngx_http_oie_file_pid(name, ".claim-");

        if (ngx_http_oie_spool_gone(pid, look)) {
            p = (u_char *) ngx_strstr(name, ".claim-");
            ngx_sprintf(to, "%V/%*s%Z", dir, p - (u_char *) name, name);

            if (ngx_rename_file(path, to) == NGX_FILE_ERROR) {
                return -1;
            }

            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "oie: spool file \"%s\" claimed by process %P "
                          "returned for replay", to, pid);
            ngx_cpystrn(path, to, NGX_MAX_PATH);
        }
    }

    if (ngx_file_info(path, &fi) == NGX_FILE_ERROR) {
        return -1;
    }

    return ngx_file_size(&fi);
}


/*
 * A worker's periodic look for what a process that is gone left, for when
 * the master did not start a worker in its place (one killed while it was
 * exiting after a reload, or one that could not be respawned).
 */
void
ngx_http_oie_spool_adopt(ngx_log_t *log)
{
    DIR                       *d;
    off_t                      added, size, total;
    u_char                     path[NGX_MAX_PATH];
    struct dirent             *de;
    ngx_http_oie_main_conf_t  *omcf = ngx_http_oie_worker.omcf;

    static ngx_msec_t                 last;
    static ngx_http_oie_spool_look_t  look;

    if (ngx_current_msec - last < OIE_SPOOL_ADOPT_MS) {
        return;
    }

    last = ngx_current_msec;

    ngx_sprintf(path, "%V%Z", &omcf->spool.dir);

    d = opendir((char *) path);
    if (d == NULL) {
        return;
    }

    look.nnext = 0;
    added = 0;
    total = 0;

    while ((de = readdir(d)) != NULL) {
        size = ngx_http_oie_spool_take_over(&omcf->spool.dir, de->d_name,
                                            &look, &added, log);
        if (size > 0) {
            total += size;
        }
    }

    closedir(d);

    ngx_memcpy(look.prev, look.next, look.nnext * sizeof(ngx_pid_t));
    look.nprev = look.nnext;

    if (added) {
        ngx_http_oie_count(spool_bytes, (ngx_atomic_int_t) added);
    }

    /*
     * Files but a count of 0 (see ngx_http_oie_spool_at_least): replay
     * would never start.  Only then: a count above 0 is left alone, as a
     * writer's batch may be in the files before it is in the count.
     */
    if (ngx_http_oie_worker.sh->counters.spool_bytes == 0 && total > 0) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "oie: the spool holds %O bytes, counted 0", total);
        ngx_http_oie_spool_at_least(ngx_http_oie_worker.sh, total);
    }
}


static ngx_int_t
ngx_http_oie_spool_reserve(size_t len, ngx_log_t *log)
{
    ngx_time_t                *tp;
    ngx_atomic_uint_t          now;
    ngx_http_oie_main_conf_t  *omcf = ngx_http_oie_worker.omcf;

    static ngx_time_t          last_log;

    now = ngx_http_oie_worker.sh->counters.spool_bytes;

    if (now + len <= (ngx_atomic_uint_t) omcf->spool.max_size
        || (now = ngx_http_oie_spool_recount(log)) + len
           <= (ngx_atomic_uint_t) omcf->spool.max_size)
    {
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


/* rows as spool lines, "<table> <row JSON>\n" each */
static u_char *
ngx_http_oie_spool_lines(ngx_http_oie_row_t *rows, ngx_uint_t n, size_t *len,
    ngx_log_t *log)
{
    u_char      *buf, *p;
    ngx_uint_t   i;

    *len = 0;

    for (i = 0; i < n; i++) {
        *len += ngx_http_oie_table_names[rows[i].table].len + 2 + rows[i].len;
    }

    buf = ngx_alloc(*len ? *len : 1, log);
    if (buf == NULL) {
        return NULL;
    }

    p = buf;

    for (i = 0; i < n; i++) {
        p = ngx_cpymem(p, ngx_http_oie_table_names[rows[i].table].data,
                       ngx_http_oie_table_names[rows[i].table].len);
        *p++ = ' ';
        p = ngx_cpymem(p, rows[i].data, rows[i].len);
        *p++ = '\n';
    }

    return buf;
}


ngx_int_t
ngx_http_oie_spool_rows(ngx_http_oie_row_t *rows, ngx_uint_t n,
    ngx_log_t *log)
{
    u_char     *buf;
    size_t      len;
    ngx_int_t   rc;
    ngx_uint_t  i;

    len = 0;

    for (i = 0; i < n; i++) {
        len += ngx_http_oie_table_names[rows[i].table].len + 2 + rows[i].len;
    }

    if (ngx_http_oie_spool_reserve(len, log) != NGX_OK) {
        return NGX_DECLINED;
    }

    buf = ngx_http_oie_spool_lines(rows, n, &len, log);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_oie_spool_write(buf, len, log);

    ngx_free(buf);

    if (rc == NGX_OK) {
        ngx_http_oie_count(rows_spooled, n);
    }

    return rc;
}


/*
 * The journal of an upload: its rows, written (not synced) before it is
 * sent, in a file of this worker's that is taken over for replay if the
 * worker dies; path is "" when there is none.
 */
ngx_int_t
ngx_http_oie_spool_journal(ngx_http_oie_row_t *rows, ngx_uint_t n,
    u_char *path, ngx_log_t *log)
{
    off_t                      off;
    u_char                    *buf;
    size_t                     len;
    ngx_fd_t                   fd;
    ngx_tm_t                   tm;
    ngx_int_t                  rc;
    ngx_time_t                *tp;
    ngx_http_oie_main_conf_t  *omcf = ngx_http_oie_worker.omcf;

    static ngx_time_t          last_log;

    path[0] = '\0';

    buf = ngx_http_oie_spool_lines(rows, n, &len, log);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    ngx_gmtime(ngx_time(), &tm);

    ngx_sprintf(path, "%V/%4d%02d%02dT%02d%02d%02dZ-%P-%06ui.journal%Z",
                &omcf->spool.dir, tm.ngx_tm_year, tm.ngx_tm_mon,
                tm.ngx_tm_mday, tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec,
                ngx_pid, ngx_http_oie_spool_seq++);

    rc = NGX_ERROR;
    off = 0;

    fd = ngx_open_file(path, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                       NGX_FILE_DEFAULT_ACCESS);

    if (fd != NGX_INVALID_FILE) {
        rc = ngx_http_oie_write_all(fd, buf, len, &off);
        ngx_close_file(fd);

        if (rc != NGX_OK) {
            (void) ngx_delete_file(path);
        }
    }

    ngx_free(buf);

    if (rc != NGX_OK) {
        tp = ngx_timeofday();

        if (tp->sec != last_log.sec) {
            last_log = *tp;
            ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                          "oie: cannot write upload journal \"%s\": rows "
                          "in flight would be lost if this worker died",
                          path);
        }

        path[0] = '\0';
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the upload is over: its rows are stored, dead-lettered or spooled */
void
ngx_http_oie_spool_journal_done(u_char *path, ngx_log_t *log)
{
    if (path[0] == '\0') {
        return;
    }

    if (ngx_delete_file(path) == NGX_FILE_ERROR && ngx_errno != NGX_ENOENT) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "oie: cannot delete upload journal \"%s\"", path);
    }

    path[0] = '\0';
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
