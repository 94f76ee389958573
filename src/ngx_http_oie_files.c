/*
 * File helpers the file sink and the spool share: whole writes, finishing
 * a file a dead process left, and the process that wrote a file, read from
 * its "<time>-<pid>-<seq>..." name.
 */

#include "ngx_http_oie_module.h"
#include "oie_proc.h"


ngx_int_t
ngx_http_oie_write_all(ngx_fd_t fd, u_char *buf, size_t len, off_t *offset)
{
    ssize_t  n;

    while (len) {
        n = pwrite(fd, buf, len, *offset);

        if (n == -1) {
            if (ngx_errno == NGX_EINTR) {
                continue;
            }
            return NGX_ERROR;
        }

        buf += n;
        len -= n;
        *offset += n;
    }

    return NGX_OK;
}


/* cuts a file back to its last whole line; returns the new size or -1 */
off_t
ngx_http_oie_whole_lines(u_char *path, ngx_log_t *log)
{
    off_t     end;
    u_char    c;
    ngx_fd_t  fd;

    fd = ngx_open_file(path, NGX_FILE_RDWR, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        return -1;
    }

    end = lseek(fd, 0, SEEK_END);

    while (end > 0) {
        if (pread(fd, &c, 1, end - 1) != 1 || c == '\n') {
            break;
        }
        end--;
    }

    if (ftruncate(fd, end) == -1) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "oie: ftruncate(\"%s\") failed", path);
    }

    ngx_close_file(fd);

    return end;
}


/*
 * The pid in "<time>-<pid>-<seq>..." (after == NULL) or after a marker
 * such as ".claim-"; 0 when there is none.  (src/oie_proc.c: the oie CLI
 * reads the names the same way.)
 */
ngx_pid_t
ngx_http_oie_file_pid(const char *name, const char *after)
{
    return (ngx_pid_t) oie_name_pid(name, after);
}


/*
 * A process still there (or not ours to ask about).  A zombie is not: it
 * has exited and only waits to be reaped (a killed master's workers wait
 * for init, which may take its time).
 */
ngx_uint_t
ngx_http_oie_pid_alive(ngx_pid_t pid)
{
    return oie_pid_alive((long) pid);
}
