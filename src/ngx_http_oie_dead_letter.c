/*
 * Dead letters: rows BigQuery refused, one JSON object a line in
 * "<spool>/dead-letter/<table>.ndjson", whatever bytes the row and the
 * error came as.
 */

#include "ngx_http_oie_bigquery.h"
#include "oie_csv.h"
#include "oie_json.h"

#include <jansson.h>


#define OIE_DEAD_ERROR_MAX     4096


static u_char *ngx_http_oie_json_text(u_char *dst, u_char *src, size_t len);


/*
 * One dead letter, one line: {"table", "error", "row"}.  The error is kept
 * as compact JSON when it is JSON (and not longer than 4 KB), else as a
 * string of its first 4 KB; the row as it is when it is JSON, else as a
 * string.  Bytes that are not UTF-8 become U+FFFD in such strings.
 */
void
ngx_http_oie_dead_letter(ngx_uint_t table, u_char *row, size_t len,
    u_char *error, size_t error_len, ngx_log_t *log)
{
    char                      *ej;
    u_char                    *buf, *p, path[NGX_MAX_PATH];
    size_t                     n, ej_len;
    json_t                    *v;
    ngx_fd_t                   fd;
    ngx_uint_t                 row_json;
    ngx_http_oie_main_conf_t  *omcf = ngx_http_oie_worker.omcf;

    ej = NULL;
    ej_len = 0;
    v = json_loadb((char *) error, error_len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
                   NULL);

    if (v) {
        ej = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(v);

        if (ej) {
            ej_len = ngx_strlen(ej);

            if (ej_len > OIE_DEAD_ERROR_MAX) {
                free(ej);
                ej = NULL;
            }
        }
    }

    if (ej == NULL) {
        error_len = ngx_min(error_len, OIE_DEAD_ERROR_MAX);
        ej_len = 6 * error_len + 2;
    }

    v = json_loadb((char *) row, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    row_json = (v != NULL);
    json_decref(v);

    n = sizeof("{\"table\":\"\",\"error\":,\"row\":}\n") + 32 + ej_len
        + (row_json ? len : 6 * len + 2);

    buf = ngx_alloc(n, log);
    if (buf == NULL) {
        free(ej);
        return;
    }

    p = ngx_sprintf(buf, "{\"table\":\"%V\",\"error\":",
                    &ngx_http_oie_table_names[table]);

    p = ej ? ngx_cpymem(p, ej, ej_len)
           : ngx_http_oie_json_text(p, error, error_len);
    free(ej);

    p = ngx_cpymem(p, ",\"row\":", 7);
    p = row_json ? ngx_cpymem(p, row, len)
                 : ngx_http_oie_json_text(p, row, len);
    *p++ = '}';
    *p++ = '\n';

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


/*
 * src as a JSON string, quotes included: dst has room for 6 * len + 2
 * bytes.  Bytes that are not UTF-8 become U+FFFD.
 */
static u_char *
ngx_http_oie_json_text(u_char *dst, u_char *src, size_t len)
{
    size_t   n;
    u_char  *end;

    end = src + len;
    *dst++ = '"';

    while (src < end) {
        n = oie_utf8_len(src, end - src);

        if (n == 0 && *src != '\0') {
            dst = ngx_cpymem(dst, "\xef\xbf\xbd", 3);
            src++;
            continue;
        }

        if (n <= 1) {
            /* ASCII, NUL included: escaped as needed */
            dst = oie_json_escape(dst, src, 1);
            src++;
            continue;
        }

        dst = ngx_cpymem(dst, src, n);
        src += n;
    }

    *dst++ = '"';

    return dst;
}
