/*
 * oie_drain_process on: one helper process drains the ring and uploads,
 * so the workers' CPU goes to requests alone.
 *
 * nginx gives a module no process of its own, but it runs a helper for
 * every cycle that has a path with a "manager": the cache manager process,
 * which calls each path's manager from its event loop (with nginx's events
 * and timers, as a worker has them).  The module registers the directory
 * it writes to (the spool, or the file sink's) as such a path; the manager
 * starts the drain in that process on its first call and then leaves it to
 * the drain's own timer.  The master respawns the helper if it dies, and
 * starts a new one on reload.
 *
 * The cache manager leaves with exit(0) on quit and on reload, without
 * exit_process: an atexit() handler there spools what it holds (uploads in
 * flight, the ring's rows), as a worker's exit_process does.
 */

#include "ngx_http_oie_module.h"


/* what the manager asks for between calls: the drain has its own timer */
#define OIE_DRAIN_MANAGER_NEXT  (60 * 60 * 1000)


static ngx_msec_t ngx_http_oie_drain_manager(void *data);
static void ngx_http_oie_drain_process_exit(void);


static ngx_uint_t  ngx_http_oie_drain_process_started;


ngx_int_t
ngx_http_oie_drain_process_add(ngx_conf_t *cf, ngx_http_oie_main_conf_t *omcf)
{
    ngx_str_t   *dir;
    ngx_path_t  *path;

    dir = (omcf->sink == OIE_SINK_FILE) ? &omcf->file.dir : &omcf->spool.dir;

    path = ngx_pcalloc(cf->pool, sizeof(ngx_path_t));
    if (path == NULL) {
        return NGX_ERROR;
    }

    /* "<dir>/" and its NUL: nginx reads the name as a C string */
    path->name.len = dir->len;
    path->name.data = ngx_pnalloc(cf->pool, dir->len + 2);
    if (path->name.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(path->name.data, dir->data, dir->len);
    path->name.data[dir->len] = '/';
    path->name.data[dir->len + 1] = '\0';

    /*
     * nginx creates a path's last directory alone, mode 0700; the module
     * creates the whole of it, as it would without this directive.
     */
    (void) ngx_create_full_path(path->name.data, 0755);
    path->name.data[dir->len] = '\0';

    path->manager = ngx_http_oie_drain_manager;
    path->data = omcf;
    path->conf_file = cf->conf_file->file.name.data;
    path->line = cf->conf_file->line;

    return ngx_add_path(cf, &path);
}


static ngx_msec_t
ngx_http_oie_drain_manager(void *data)
{
    ngx_cycle_t  *cycle = (ngx_cycle_t *) ngx_cycle;

    if (ngx_http_oie_drain_process_started || ngx_process != NGX_PROCESS_HELPER) {
        return OIE_DRAIN_MANAGER_NEXT;
    }

    ngx_http_oie_drain_process_started = 1;

    if (ngx_http_oie_process_start(cycle) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "oie: the drain process could not start: rows wait "
                      "in the ring and the spool");
        return OIE_DRAIN_MANAGER_NEXT;
    }

    if (atexit(ngx_http_oie_drain_process_exit) != 0) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "oie: atexit() failed: uploads in flight when this "
                      "process quits are replayed from their journals");
    }

    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                  "oie: the ring is drained in this process "
                  "(oie_drain_process on)");

    return OIE_DRAIN_MANAGER_NEXT;
}


static void
ngx_http_oie_drain_process_exit(void)
{
    if (ngx_http_oie_worker.ring == NULL) {
        return;
    }

    ngx_http_oie_drain_exit((ngx_cycle_t *) ngx_cycle);
}
