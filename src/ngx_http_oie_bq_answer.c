/*
 * BigQuery's answer to an insertAll upload: success, a retry, a pause with
 * the rows spooled, or dead letters for the rows it refused as invalid and
 * a new upload for the ones it held back because of them.
 */

#include "ngx_http_oie_bigquery.h"
#include "ngx_http_oie_curl.h"

#include <jansson.h>


#define OIE_BQ_QUOTA_DOWN      300000


static void ngx_http_oie_bq_insert_errors(ngx_http_oie_bq_job_t *job,
    json_t *errors);


/* the reason in Google's error JSON: {"error":{"errors":[{"reason":..}]}} */
static const char *
ngx_http_oie_bq_reason(json_t *root)
{
    json_t  *errors;

    errors = json_object_get(json_object_get(root, "error"), "errors");

    return json_string_value(json_object_get(json_array_get(errors, 0),
                                             "reason"));
}


void
ngx_http_oie_bq_done(ngx_http_oie_curl_req_t *req)
{
    char                   why[160];
    json_t                *root, *errors;
    const char            *reason;
    ngx_http_oie_bq_t     *bq = &ngx_http_oie_bq;
    ngx_http_oie_bq_job_t *job = req->data;

    job->req = NULL;
    root = NULL;

    if (req->result != CURLE_OK) {
        ngx_snprintf((u_char *) why, sizeof(why), "%s%Z", req->error);
        goto retry;
    }

    if (req->response) {
        root = json_loadb((char *) req->response, req->response_len, 0, NULL);
    }

    reason = ngx_http_oie_bq_reason(root);
    if (reason == NULL) {
        reason = "";
    }

    ngx_snprintf((u_char *) why, sizeof(why), "HTTP %l %s%Z", req->status,
                 reason);

    switch (req->status) {

    case 200:
        errors = json_object_get(root, "insertErrors");

        if (root == NULL || (errors && !json_is_array(errors))) {
            goto retry;
        }

        if (json_array_size(errors)) {
            ngx_http_oie_bq_insert_errors(job, errors);
            break;
        }

        ngx_http_oie_bq_success(job);
        break;

    case 401:
        /* the token went stale or was revoked: fetch a new one */
        ngx_http_oie_oauth_invalidate();
        goto retry;

    case 403:
        if (ngx_strcmp(reason, "rateLimitExceeded") == 0) {
            goto retry;
        }

        ngx_http_oie_last_error(bq->log, "insertAll into %V: %s",
                                &ngx_http_oie_table_names[job->table], why);
        ngx_http_oie_count(upload_errors, 1);

        /* quotaExceeded and accessDenied do not pass in seconds */
        ngx_http_oie_bq_give_up(job, ngx_strcmp(reason, "quotaExceeded") == 0
                                     ? OIE_BQ_QUOTA_DOWN : OIE_BQ_DOWN_MAX / 5);
        break;

    case 404:
        ngx_http_oie_last_error(bq->log, "insertAll into %V: %s (does the "
                                "table exist? see sql/README.md)",
                                &ngx_http_oie_table_names[job->table], why);
        ngx_http_oie_count(upload_errors, 1);
        ngx_http_oie_bq_give_up(job, OIE_BQ_DOWN_MAX / 5);
        break;

    case 400:
        /* BigQuery refused the request as a whole: nothing will change
         * on resending, so its rows are kept as dead letters */
        ngx_http_oie_last_error(bq->log, "insertAll into %V refused a batch "
                                "of %ui rows: %s; rows kept as dead letters",
                                &ngx_http_oie_table_names[job->table],
                                job->nrows, why);
        ngx_http_oie_count(upload_errors, 1);
        {
            ngx_uint_t  i;

            for (i = 0; i < job->nrows; i++) {
                ngx_http_oie_dead_letter(job->table, job->rows[i].data,
                                         job->rows[i].len,
                                         req->response ? req->response
                                                       : (u_char *) "null",
                                         req->response ? req->response_len : 4,
                                         bq->log);
            }
            ngx_http_oie_count(rows_rejected, job->nrows);
        }
        job->nrows = 0;
        ngx_http_oie_bq_success(job);
        break;

    default:
        /* 429, 500, 502, 503, 504 and anything unexpected */
        goto retry;
    }

    json_decref(root);
    curl_slist_free_all(req->headers);
    ngx_http_oie_curl_free(req);
    return;

retry:

    json_decref(root);
    curl_slist_free_all(req->headers);
    ngx_http_oie_curl_free(req);
    ngx_http_oie_bq_retry(job, why);
}


/*
 * HTTP 200 with insertErrors.  The request says skipInvalidRows=false, so
 * BigQuery stored none of its rows: it names the invalid ones (to the
 * dead letters) and "stopped" the others (sent again).  An entry whose
 * index is not an integer naming a row of the batch is ignored; a row no
 * valid entry names is sent again like a stopped one (its insertId drops
 * the copy should it have been stored after all).  An answer that names no
 * invalid row is not one BigQuery gives: the batch is retried whole.
 */
static void
ngx_http_oie_bq_insert_errors(ngx_http_oie_bq_job_t *job, json_t *errors)
{
    char                   *text;
    size_t                  i, j, nerr;
    json_t                 *e, *list, *jindex;
    json_int_t              index;
    ngx_uint_t             *state, again_n, invalid, bad;
    const char             *reason;
    ngx_http_oie_row_t     *again;
    ngx_http_oie_bq_t      *bq = &ngx_http_oie_bq;
    ngx_http_oie_bq_job_t  *next;

    /* 0: not named, 1: stopped (both sent again), 2: invalid */
    state = ngx_calloc(job->nrows * sizeof(ngx_uint_t), bq->log);
    if (state == NULL) {
        ngx_http_oie_bq_retry(job, "out of memory");
        return;
    }

    nerr = json_array_size(errors);
    bad = 0;

    for (i = 0; i < nerr; i++) {
        e = json_array_get(errors, i);
        jindex = json_object_get(e, "index");

        if (!json_is_integer(jindex)) {
            bad++;
            continue;
        }

        index = json_integer_value(jindex);

        if (index < 0 || (ngx_uint_t) index >= job->nrows) {
            bad++;
            continue;
        }

        if (state[index] == 0) {
            state[index] = 1;
        }

        list = json_object_get(e, "errors");

        for (j = 0; j < json_array_size(list); j++) {
            reason = json_string_value(json_object_get(json_array_get(list, j),
                                                       "reason"));
            if (reason == NULL || ngx_strcmp(reason, "stopped") != 0) {
                state[index] = 2;
            }
        }
    }

    invalid = 0;

    for (i = 0; i < job->nrows; i++) {
        invalid += state[i] == 2;
    }

    if (bad) {
        ngx_log_error(NGX_LOG_WARN, bq->log, 0,
                      "oie: insertAll answer for %V: %ui of %uz insertErrors "
                      "entries name no row of the batch of %ui; ignored",
                      &ngx_http_oie_table_names[job->table], bad, nerr,
                      job->nrows);
    }

    if (invalid == 0) {
        ngx_free(state);
        ngx_http_oie_bq_retry(job, "insertErrors name no invalid row");
        return;
    }

    for (i = 0; i < job->nrows; i++) {
        if (state[i] != 2) {
            continue;
        }

        /* every entry naming the row, its reasons as BigQuery gave them */
        list = json_array();

        for (j = 0; list && j < nerr; j++) {
            e = json_array_get(errors, j);
            jindex = json_object_get(e, "index");

            if (json_is_integer(jindex)
                && json_integer_value(jindex) == (json_int_t) i)
            {
                json_array_extend(list, json_object_get(e, "errors"));
            }
        }

        text = list ? json_dumps(list, JSON_COMPACT) : NULL;
        json_decref(list);

        ngx_http_oie_dead_letter(job->table, job->rows[i].data,
                                 job->rows[i].len,
                                 (u_char *) (text ? text : "null"),
                                 text ? ngx_strlen(text) : 4, bq->log);
        free(text);
    }

    again_n = job->nrows - invalid;

    ngx_http_oie_count(rows_rejected, invalid);

    ngx_log_error(NGX_LOG_WARN, bq->log, 0,
                  "oie: BigQuery refused %ui of %ui rows for %V as "
                  "invalid; kept in the dead-letter file", invalid,
                  job->nrows, &ngx_http_oie_table_names[job->table]);

    if (again_n) {
        /* rows held back because of the invalid ones: send them again */
        again = ngx_alloc(again_n * sizeof(ngx_http_oie_row_t), bq->log);
        next = NULL;

        if (again) {
            for (i = 0, j = 0; i < job->nrows; i++) {
                if (state[i] != 2) {
                    again[j].table = job->table;
                    again[j].data = job->rows[i].data;
                    again[j].len = job->rows[i].len;
                    j++;
                }
            }

            next = ngx_http_oie_bq_job(again, again_n, job->table, bq->log);

            if (next && !job->replay) {
                (void) ngx_http_oie_spool_journal(again, again_n,
                                                  next->journal, bq->log);
            }

            ngx_free(again);
        }

        if (next == NULL) {
            /* the dead letters are written: they would be again */
            ngx_free(state);
            ngx_http_oie_bq_retry(job, "out of memory");
            return;
        }

        next->replay = job->replay;
        next->replay_end = job->replay_end;
        next->attempt = job->attempt;
        job->replay = 0;            /* the follow-up finishes the replay */

        ngx_http_oie_bq_send(next);
    }

    ngx_free(state);

    job->nrows = 0;                 /* counted above */
    ngx_http_oie_bq_success(job);
}
