/*
 * What the spool holds on disk: its files (".spool", ".spool.part",
 * ".spool.claim-<pid>"; journals are in-flight rows, not the spool), their
 * bytes and the oldest one's time.  oie_status shows it; the spool's
 * byte counter in shared memory is set from it when it says "full", since
 * files may have gone without the counter knowing (oie spool replay from
 * the command line, an operator's rm).
 */

#include "ngx_http_oie_bigquery.h"

#include <dirent.h>


#define OIE_SPOOL_RECOUNT_MS    1000


ngx_int_t
ngx_http_oie_spool_usage(ngx_http_oie_spool_usage_t *u)
{
    DIR                       *d;
    u_char                     path[NGX_MAX_PATH];
    struct dirent             *de;
    ngx_file_info_t            fi;
    ngx_http_oie_main_conf_t  *omcf = ngx_http_oie_worker.omcf;

    u->files = 0;
    u->bytes = 0;
    u->oldest = 0;

    ngx_sprintf(path, "%V%Z", &omcf->spool.dir);

    d = opendir((char *) path);
    if (d == NULL) {
        return NGX_ERROR;
    }

    while ((de = readdir(d)) != NULL) {
        if (ngx_strstr(de->d_name, ".spool") == NULL
            || omcf->spool.dir.len + ngx_strlen(de->d_name) + 2
               > NGX_MAX_PATH)
        {
            continue;
        }

        ngx_sprintf(path, "%V/%s%Z", &omcf->spool.dir, de->d_name);

        if (ngx_file_info(path, &fi) == NGX_FILE_ERROR) {
            continue;
        }

        u->files++;
        u->bytes += ngx_file_size(&fi);

        if (u->oldest == 0 || ngx_file_mtime(&fi) < u->oldest) {
            u->oldest = ngx_file_mtime(&fi);
        }
    }

    closedir(d);

    return NGX_OK;
}


/*
 * The counter says the spool is full: count again from the files, at most
 * once a second, and set the counter to what they hold.  Returns the new
 * count.  Bytes other workers append while the directory is read may be
 * left out for a moment; the next recount puts them back.
 */
ngx_atomic_uint_t
ngx_http_oie_spool_recount(ngx_log_t *log)
{
    ngx_atomic_uint_t            was;
    ngx_http_oie_spool_usage_t   u;

    static ngx_msec_t            last;

    was = ngx_http_oie_worker.sh->counters.spool_bytes;

    if (last && ngx_current_msec - last < OIE_SPOOL_RECOUNT_MS) {
        return was;
    }

    last = ngx_current_msec;

    if (ngx_http_oie_spool_usage(&u) != NGX_OK) {
        return was;
    }

    if ((ngx_atomic_uint_t) u.bytes < was) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "oie: the spool holds %O bytes, not %uA: files went "
                      "without the module (oie spool replay?)", u.bytes,
                      was);

        ngx_http_oie_worker.sh->counters.spool_bytes =
                                                   (ngx_atomic_t) u.bytes;
    }

    return ngx_http_oie_worker.sh->counters.spool_bytes;
}
