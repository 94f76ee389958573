/*
 * Replay of the spool while BigQuery is up: the oldest spool file is
 * claimed and sent in order, one upload at a time; a line that is not one
 * we wrote is skipped, one that is not a JSON object becomes a dead letter.
 */

#include "ngx_http_oie_bigquery.h"

#include <jansson.h>


#define OIE_BQ_NOT_A_ROW                                                     \
    "[{\"reason\":\"invalid\",\"message\":\"the spool line is not a JSON "  \
    "object; the rest of its batch was sent\"}]"


/* a row BigQuery can take: one JSON object (rows from the spool are checked:
 * a single bad one would have BigQuery refuse its whole batch) */
static ngx_uint_t
ngx_http_oie_bq_is_row(u_char *data, size_t len)
{
    json_t      *v;
    ngx_uint_t   ok;

    v = json_loadb((char *) data, len, JSON_ALLOW_NUL, NULL);
    ok = json_is_object(v);
    json_decref(v);

    return ok;
}


/*
 * Replay: one job at a time from the oldest spool file, each a run of lines
 * of one table up to the batch limits, so the file is sent in order.
 */
void
ngx_http_oie_bq_replay_next(void)
{
    u_char                    *p, *end, *nl, *sp;
    size_t                     bytes;
    ngx_uint_t                 n, t, table;
    ngx_http_oie_row_t        *rows;
    ngx_http_oie_bq_t         *bq = &ngx_http_oie_bq;
    ngx_http_oie_bq_job_t     *job;
    ngx_http_oie_main_conf_t  *omcf = ngx_http_oie_worker.omcf;

    if (bq->replaying || bq->down || ngx_http_oie_bq_exiting()
        || bq->njobs >= bq->conf->max_inflight)
    {
        return;
    }

    /*
     * A new file only where the ring is drained: a worker that leaves it to
     * the drain process (oie_drain_process on) ends the file it claimed
     * while it stood in, and claims no other.  Asked before the token, which
     * such a worker fetches only when it needs one.
     */
    if (bq->replay.data == NULL
        && (!ngx_http_oie_drains_here()
            || ngx_http_oie_worker.sh->counters.spool_bytes == 0))
    {
        return;
    }

    if (ngx_http_oie_oauth_token() == NULL) {
        return;
    }

    if (bq->replay.data == NULL) {
        if (ngx_http_oie_spool_claim(&bq->replay, bq->log) != NGX_OK) {
            return;
        }

        ngx_log_error(NGX_LOG_NOTICE, bq->log, 0,
                      "oie: replaying spool file \"%s\" (%uz bytes)",
                      bq->replay.path, bq->replay.len);
    }

    rows = ngx_alloc(omcf->batch_rows * sizeof(ngx_http_oie_row_t), bq->log);
    if (rows == NULL) {
        return;
    }

    p = bq->replay.data + bq->replay.pos;
    end = bq->replay.data + bq->replay.len;
    n = 0;
    bytes = 0;
    table = OIE_TABLE_N;

    while (p < end && n < omcf->batch_rows) {
        nl = ngx_strlchr(p, end, '\n');
        if (nl == NULL) {
            nl = end;
        }

        sp = ngx_strlchr(p, nl, ' ');

        for (t = 0; sp && t < OIE_TABLE_N; t++) {
            if ((size_t) (sp - p) == ngx_http_oie_table_names[t].len
                && ngx_strncmp(p, ngx_http_oie_table_names[t].data, sp - p)
                   == 0)
            {
                break;
            }
        }

        if (sp == NULL || t == OIE_TABLE_N) {
            /* not a line we wrote: skip it, loudly */
            ngx_log_error(NGX_LOG_ERR, bq->log, 0,
                          "oie: skipping a malformed line at offset %uz of "
                          "spool file \"%s\"", p - bq->replay.data,
                          bq->replay.path);
            if (n == 0) {
                bq->replay.pos = (nl < end ? nl + 1 : end) - bq->replay.data;
            }
            p = nl < end ? nl + 1 : end;
            continue;
        }

        if ((table != OIE_TABLE_N && t != table)
            || (n && bytes + (nl - sp) > omcf->batch_bytes))
        {
            break;
        }

        if (!ngx_http_oie_bq_is_row(sp + 1, nl - sp - 1)) {
            if (n) {
                /* it ends this batch: alone, it is a dead letter once,
                 * whatever becomes of the batch */
                break;
            }

            ngx_log_error(NGX_LOG_ERR, bq->log, 0,
                          "oie: the line at offset %uz of spool file \"%s\" "
                          "is not a JSON object: kept as a dead letter",
                          p - bq->replay.data, bq->replay.path);

            ngx_http_oie_dead_letter(t, sp + 1, nl - sp - 1, (u_char *)
                                     OIE_BQ_NOT_A_ROW,
                                     sizeof(OIE_BQ_NOT_A_ROW) - 1, bq->log);
            ngx_http_oie_count(rows_rejected, 1);

            p = nl < end ? nl + 1 : end;
            bq->replay.pos = p - bq->replay.data;
            continue;
        }

        table = t;
        rows[n].table = t;
        rows[n].data = sp + 1;
        rows[n].len = nl - sp - 1;
        bytes += rows[n].len;
        n++;

        p = nl < end ? nl + 1 : end;
    }

    if (n == 0) {
        ngx_free(rows);
        ngx_http_oie_spool_release(&bq->replay, 1, bq->log);
        /* next file, if any */
        ngx_http_oie_bq_replay_next();
        return;
    }

    job = ngx_http_oie_bq_job(rows, n, table, bq->log);
    ngx_free(rows);

    if (job == NULL) {
        return;
    }

    job->replay = 1;
    job->replay_end = p - bq->replay.data;
    bq->replaying = 1;

    ngx_http_oie_bq_send(job);
}
