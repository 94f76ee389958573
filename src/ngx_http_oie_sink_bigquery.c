/*
 * The BigQuery sink: batches from the drain become tabledata.insertAll
 * requests, one table each, sent with libcurl on the event loop.
 *
 * Every row keeps its event_id as insertId on every attempt, so BigQuery can
 * drop a resent duplicate.  HTTP 200 is read for insertErrors: rows refused
 * as invalid go to the dead-letter file with BigQuery's reasons, rows it
 * "stopped" because of them are sent again.  Transient failures (429, 5xx,
 * rateLimitExceeded, backendError, connection errors, timeouts) are retried
 * with exponential backoff and jitter; after max attempts, or on
 * quotaExceeded or a missing table, the rows go to the spool and the sink
 * stays "down" for a while, spooling what comes, then probes again.  While
 * up, it replays the spool, oldest file first.  The rows of an upload are in
 * a journal file until BigQuery answered for them (see the spool), so a
 * worker killed with uploads in flight loses none of them.
 */

#include "ngx_http_oie_bigquery.h"
#include "ngx_http_oie_curl.h"

#include <jansson.h>


#define OIE_BQ_BACKOFF_BASE    250
#define OIE_BQ_BACKOFF_MAX     30000
#define OIE_BQ_DOWN_MIN        2000
#define OIE_BQ_DOWN_MAX        300000
#define OIE_BQ_QUOTA_DOWN      300000
#define OIE_BQ_NO_TOKEN_WAIT   200

#define OIE_BQ_NOT_A_ROW                                                     \
    "[{\"reason\":\"invalid\",\"message\":\"the spool line is not a JSON "  \
    "object; the rest of its batch was sent\"}]"


typedef struct {
    u_char                     *data;           /* the row, in the body */
    size_t                      len;
} ngx_http_oie_bq_row_t;


typedef struct {
    ngx_queue_t                 queue;
    ngx_uint_t                  table;
    ngx_uint_t                  nrows;
    ngx_http_oie_bq_row_t      *rows;
    u_char                     *body;
    size_t                      body_len;
    ngx_uint_t                  attempt;
    ngx_uint_t                  replay;         /* rows from a spool file */
    size_t                      replay_end;     /* file offset after them */
    ngx_event_t                 timer;          /* backoff, token wait */
    ngx_http_oie_curl_req_t    *req;
    u_char                      journal[NGX_MAX_PATH];  /* "": none */
} ngx_http_oie_bq_job_t;


typedef struct {
    ngx_http_oie_bq_conf_t     *conf;
    ngx_queue_t                 jobs;
    ngx_uint_t                  njobs;
    ngx_msec_t                  down_until;
    ngx_msec_t                  down_for;
    ngx_uint_t                  down;
    ngx_http_oie_spool_file_t   replay;
    ngx_uint_t                  replaying;      /* a replay job is out */
    ngx_log_t                  *log;
} ngx_http_oie_bq_t;


static ngx_http_oie_bq_job_t *ngx_http_oie_bq_job(ngx_http_oie_row_t *rows,
    ngx_uint_t n, ngx_uint_t table, ngx_log_t *log);
static void ngx_http_oie_bq_job_free(ngx_http_oie_bq_job_t *job);
static void ngx_http_oie_bq_send(ngx_http_oie_bq_job_t *job);
static void ngx_http_oie_bq_send_handler(ngx_event_t *ev);
static void ngx_http_oie_bq_done(ngx_http_oie_curl_req_t *req);
static void ngx_http_oie_bq_retry(ngx_http_oie_bq_job_t *job,
    const char *why);
static void ngx_http_oie_bq_give_up(ngx_http_oie_bq_job_t *job,
    ngx_msec_t down_for);
static void ngx_http_oie_bq_success(ngx_http_oie_bq_job_t *job);
static void ngx_http_oie_bq_insert_errors(ngx_http_oie_bq_job_t *job,
    json_t *errors);
static ngx_uint_t ngx_http_oie_bq_is_row(u_char *data, size_t len);
static void ngx_http_oie_bq_replay_next(void);
static void ngx_http_oie_bq_token_ready(void);


static ngx_http_oie_bq_t  ngx_http_oie_bq;


static ngx_uint_t
ngx_http_oie_bq_exiting(void)
{
    return ngx_exiting || ngx_quit || ngx_terminate;
}


ngx_int_t
ngx_http_oie_bq_init(ngx_cycle_t *cycle)
{
    ngx_http_oie_bq_t  *bq = &ngx_http_oie_bq;

    bq->conf = ngx_http_oie_worker.omcf->bq;
    bq->log = cycle->log;
    ngx_queue_init(&bq->jobs);

    if (ngx_http_oie_curl_init(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_oie_oauth_on_ready(ngx_http_oie_bq_token_ready);

    return ngx_http_oie_oauth_init(cycle, bq->conf);
}


ngx_uint_t
ngx_http_oie_bq_can_take(void)
{
    ngx_http_oie_bq_t  *bq = &ngx_http_oie_bq;

    /* while up, rows wait in the ring (not in memory) until a slot frees */
    return bq->down || ngx_http_oie_bq_exiting()
           || bq->njobs < bq->conf->max_inflight;
}


static ngx_uint_t
ngx_http_oie_bq_is_down(void)
{
    ngx_http_oie_bq_t  *bq = &ngx_http_oie_bq;

    if (bq->down && (ngx_msec_int_t) (ngx_current_msec - bq->down_until) >= 0)
    {
        /* the pause is over: the next batch probes */
        bq->down = 0;
    }

    return bq->down;
}


ngx_int_t
ngx_http_oie_bq_take(ngx_http_oie_batch_t *b, ngx_log_t *log)
{
    ngx_uint_t              t, i, n;
    ngx_http_oie_row_t     *rows;
    ngx_http_oie_bq_job_t  *job;

    if (ngx_http_oie_bq_is_down() || ngx_http_oie_bq_exiting()) {
        return ngx_http_oie_spool_rows(b->rows, b->nrows, log) == NGX_OK
               ? NGX_OK : NGX_ERROR;
    }

    rows = ngx_alloc(b->nrows * sizeof(ngx_http_oie_row_t), log);
    if (rows == NULL) {
        return NGX_ERROR;
    }

    for (t = 0; t < OIE_TABLE_N; t++) {
        n = 0;

        for (i = 0; i < b->nrows; i++) {
            if (b->rows[i].table == t) {
                rows[n++] = b->rows[i];
            }
        }

        if (n == 0) {
            continue;
        }

        job = ngx_http_oie_bq_job(rows, n, t, log);

        if (job == NULL) {
            if (ngx_http_oie_spool_rows(rows, n, log) != NGX_OK) {
                ngx_http_oie_count(dropped, n);
            }
            continue;
        }

        /* out of the ring, the rows are on disk again before they go */
        (void) ngx_http_oie_spool_journal(rows, n, job->journal, log);

        ngx_http_oie_bq_send(job);
    }

    ngx_free(rows);

    return NGX_OK;
}


/* the insertAll body, with each row's place in it kept for later */
static ngx_http_oie_bq_job_t *
ngx_http_oie_bq_job(ngx_http_oie_row_t *rows, ngx_uint_t n, ngx_uint_t table,
    ngx_log_t *log)
{
    u_char                 *p, *id, *end;
    size_t                  len, idlen;
    ngx_uint_t              i;
    ngx_http_oie_bq_t      *bq = &ngx_http_oie_bq;
    ngx_http_oie_bq_job_t  *job;

    static u_char  head[] = "{\"kind\":\"bigquery#tableDataInsertAllRequest\","
                            "\"skipInvalidRows\":false,"
                            "\"ignoreUnknownValues\":false,\"rows\":[";

    len = sizeof(head) + 2;

    for (i = 0; i < n; i++) {
        len += sizeof("{\"insertId\":\"\",\"json\":},") + 64 + rows[i].len;
    }

    job = ngx_calloc(sizeof(ngx_http_oie_bq_job_t), log);
    if (job == NULL) {
        return NULL;
    }

    job->rows = ngx_alloc(n * sizeof(ngx_http_oie_bq_row_t), log);
    job->body = ngx_alloc(len, log);

    if (job->rows == NULL || job->body == NULL) {
        ngx_http_oie_bq_job_free(job);
        return NULL;
    }

    job->table = table;
    job->nrows = n;
    job->timer.handler = ngx_http_oie_bq_send_handler;
    job->timer.data = &ngx_http_oie_timer_conn;
    job->timer.log = log;
    /* a job waiting to be retried does not hold up an exiting worker:
     * exit_process spools it */
    job->timer.cancelable = 1;

    p = ngx_cpymem(job->body, head, sizeof(head) - 1);

    for (i = 0; i < n; i++) {
        /* the edge writes event_id first: {"event_id":"<id>", ... */
        id = NULL;
        idlen = 0;

        if (rows[i].len > 14
            && ngx_strncmp(rows[i].data, "{\"event_id\":\"", 13) == 0)
        {
            id = rows[i].data + 13;
            end = ngx_strlchr(id, rows[i].data + ngx_min(rows[i].len, 141),
                              '"');
            idlen = end ? (size_t) (end - id) : 0;
        }

        if (i) {
            *p++ = ',';
        }

        if (idlen) {
            p = ngx_cpymem(p, "{\"insertId\":\"", 13);
            p = ngx_cpymem(p, id, idlen);
            p = ngx_cpymem(p, "\",\"json\":", 9);

        } else {
            p = ngx_cpymem(p, "{\"json\":", 8);
        }

        job->rows[i].data = p;
        job->rows[i].len = rows[i].len;
        p = ngx_cpymem(p, rows[i].data, rows[i].len);
        *p++ = '}';
    }

    *p++ = ']';
    *p++ = '}';

    job->body_len = p - job->body;

    ngx_queue_insert_tail(&bq->jobs, &job->queue);
    bq->njobs++;

    return job;
}


static void
ngx_http_oie_bq_job_free(ngx_http_oie_bq_job_t *job)
{
    ngx_http_oie_bq_t  *bq = &ngx_http_oie_bq;

    if (job->timer.timer_set) {
        ngx_del_timer(&job->timer);
    }

    if (job->req) {
        curl_slist_free_all(job->req->headers);
        ngx_http_oie_curl_free(job->req);
    }

    if (job->queue.next) {
        ngx_queue_remove(&job->queue);
        bq->njobs--;
    }

    /* by now its rows are stored, dead-lettered, spooled, or counted as
     * dropped */
    ngx_http_oie_spool_journal_done(job->journal, bq->log);

    ngx_free(job->rows);
    ngx_free(job->body);
    ngx_free(job);
}


static void
ngx_http_oie_bq_send_handler(ngx_event_t *ev)
{
    /* the timer is inside its job */
    ngx_http_oie_bq_send((ngx_http_oie_bq_job_t *)
                         ((u_char *) ev - offsetof(ngx_http_oie_bq_job_t,
                                                   timer)));
}


static void
ngx_http_oie_bq_send(ngx_http_oie_bq_job_t *job)
{
    u_char                   *p, auth[2100];
    ngx_str_t                *token;
    ngx_http_oie_bq_t        *bq = &ngx_http_oie_bq;
    ngx_http_oie_curl_req_t  *req;

    token = ngx_http_oie_oauth_token();

    if (token == NULL) {
        if (ngx_http_oie_bq_exiting()) {
            ngx_http_oie_bq_give_up(job, 0);
            return;
        }

        /* no token yet: wait for it (token_ready() sends at once) */
        ngx_add_timer(&job->timer, OIE_BQ_NO_TOKEN_WAIT * 10);
        return;
    }

    req = ngx_http_oie_curl_create(bq->log);
    if (req == NULL) {
        ngx_http_oie_bq_retry(job, "out of memory");
        return;
    }

    req->url.len = bq->conf->endpoint.len + bq->conf->project.len
                   + bq->conf->dataset.len
                   + ngx_http_oie_table_names[job->table].len + 64;
    req->url.data = ngx_alloc(req->url.len, bq->log);
    if (req->url.data == NULL) {
        ngx_http_oie_curl_free(req);
        ngx_http_oie_bq_retry(job, "out of memory");
        return;
    }

    req->url.len = ngx_sprintf(req->url.data,
                               "%V/projects/%V/datasets/%V/tables/%V/insertAll",
                               &bq->conf->endpoint, &bq->conf->project,
                               &bq->conf->dataset,
                               &ngx_http_oie_table_names[job->table])
                   - req->url.data;

    p = ngx_snprintf(auth, sizeof(auth) - 1, "Authorization: %V", token);
    *p = '\0';

    req->headers = curl_slist_append(NULL, (char *) auth);
    req->headers = curl_slist_append(req->headers,
                                     "Content-Type: application/json");
    req->headers = curl_slist_append(req->headers, "Expect:");
    req->body.data = job->body;
    req->body.len = job->body_len;
    req->timeout = bq->conf->timeout;
    req->done = ngx_http_oie_bq_done;
    req->data = job;

    if (ngx_http_oie_curl_start(req) != NGX_OK) {
        ngx_free(req->url.data);
        curl_slist_free_all(req->headers);
        ngx_http_oie_curl_free(req);
        ngx_http_oie_bq_retry(job, "cannot start the request");
        return;
    }

    ngx_free(req->url.data);      /* curl keeps its own copy */
    req->url.data = NULL;

    job->req = req;
    ngx_http_oie_count(uploads, 1);
}


static void
ngx_http_oie_bq_token_ready(void)
{
    ngx_queue_t            *q;
    ngx_http_oie_bq_job_t  *job;
    ngx_http_oie_bq_t      *bq = &ngx_http_oie_bq;

    for (q = ngx_queue_head(&bq->jobs);
         q != ngx_queue_sentinel(&bq->jobs);
         q = ngx_queue_next(q))
    {
        job = ngx_queue_data(q, ngx_http_oie_bq_job_t, queue);

        if (job->req == NULL && job->timer.timer_set && job->attempt == 0) {
            ngx_del_timer(&job->timer);
            ngx_add_timer(&job->timer, 0);
        }
    }
}


/* the reason in Google's error JSON: {"error":{"errors":[{"reason":..}]}} */
static const char *
ngx_http_oie_bq_reason(json_t *root)
{
    json_t  *errors;

    errors = json_object_get(json_object_get(root, "error"), "errors");

    return json_string_value(json_object_get(json_array_get(errors, 0),
                                             "reason"));
}


static void
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


static void
ngx_http_oie_bq_success(ngx_http_oie_bq_job_t *job)
{
    ngx_http_oie_bq_t  *bq = &ngx_http_oie_bq;

    ngx_http_oie_count(rows_accepted, job->nrows);

    if (job->replay) {
        ngx_http_oie_count(rows_replayed, job->nrows);
        bq->replay.pos = job->replay_end;
        bq->replaying = 0;
    }

    bq->down_for = 0;
    ngx_http_oie_bq_job_free(job);

    ngx_http_oie_bq_replay_next();
}


static void
ngx_http_oie_bq_retry(ngx_http_oie_bq_job_t *job, const char *why)
{
    ngx_msec_t          delay;
    ngx_http_oie_bq_t  *bq = &ngx_http_oie_bq;

    job->attempt++;
    ngx_http_oie_count(upload_errors, 1);
    ngx_http_oie_last_error(bq->log, "insertAll of %ui rows into %V failed "
                            "(attempt %ui of %ui): %s", job->nrows,
                            &ngx_http_oie_table_names[job->table],
                            job->attempt, bq->conf->max_attempts, why);

    if (job->attempt >= bq->conf->max_attempts || ngx_http_oie_bq_exiting()) {
        bq->down_for = bq->down_for ? ngx_min(bq->down_for * 2,
                                              OIE_BQ_DOWN_MAX)
                                    : OIE_BQ_DOWN_MIN;
        ngx_http_oie_bq_give_up(job, bq->down_for);
        return;
    }

    ngx_http_oie_count(retries, 1);

    /* exponential, with full jitter around the middle */
    delay = ngx_min(OIE_BQ_BACKOFF_BASE << job->attempt, OIE_BQ_BACKOFF_MAX);
    delay = delay / 2 + (ngx_random() % (delay + 1));

    ngx_add_timer(&job->timer, delay);
}


/* BigQuery cannot take these rows now: to the spool, and pause */
static void
ngx_http_oie_bq_give_up(ngx_http_oie_bq_job_t *job, ngx_msec_t down_for)
{
    ngx_uint_t           i;
    ngx_http_oie_row_t  *rows;
    ngx_http_oie_bq_t   *bq = &ngx_http_oie_bq;

    if (down_for) {
        bq->down = 1;
        bq->down_until = ngx_current_msec + down_for;
    }

    if (job->replay) {
        /* its rows are still in the claimed file: put the file back */
        bq->replaying = 0;
        ngx_http_oie_spool_release(&bq->replay, 0, bq->log);
        ngx_http_oie_bq_job_free(job);
        return;
    }

    rows = ngx_alloc(job->nrows * sizeof(ngx_http_oie_row_t), bq->log);

    if (rows) {
        for (i = 0; i < job->nrows; i++) {
            rows[i].table = job->table;
            rows[i].data = job->rows[i].data;
            rows[i].len = job->rows[i].len;
        }
    }

    if (rows == NULL
        || ngx_http_oie_spool_rows(rows, job->nrows, bq->log) != NGX_OK)
    {
        ngx_http_oie_count(dropped, job->nrows);
        ngx_log_error(NGX_LOG_ERR, bq->log, 0,
                      "oie: %ui rows for %V lost: BigQuery and the spool "
                      "both failed", job->nrows,
                      &ngx_http_oie_table_names[job->table]);
    }

    ngx_free(rows);
    ngx_http_oie_bq_job_free(job);
}


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
static void
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
        || bq->njobs >= bq->conf->max_inflight
        || ngx_http_oie_oauth_token() == NULL)
    {
        return;
    }

    if (bq->replay.data == NULL) {
        if (ngx_http_oie_worker.sh->counters.spool_bytes == 0
            || ngx_http_oie_spool_claim(&bq->replay, bq->log) != NGX_OK)
        {
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


void
ngx_http_oie_bq_tick(ngx_log_t *log)
{
    (void) ngx_http_oie_bq_is_down();
    ngx_http_oie_spool_tick(log, 0);
    ngx_http_oie_spool_adopt(log);
    ngx_http_oie_bq_replay_next();
}


/* the worker is going: what BigQuery has not confirmed goes to the spool */
void
ngx_http_oie_bq_exit(ngx_cycle_t *cycle)
{
    ngx_queue_t            *q;
    ngx_http_oie_bq_t      *bq = &ngx_http_oie_bq;
    ngx_http_oie_bq_job_t  *job;

    while (!ngx_queue_empty(&bq->jobs)) {
        q = ngx_queue_head(&bq->jobs);
        job = ngx_queue_data(q, ngx_http_oie_bq_job_t, queue);

        if (job->req) {
            curl_slist_free_all(job->req->headers);
            ngx_http_oie_curl_free(job->req);
            job->req = NULL;
        }

        ngx_http_oie_bq_give_up(job, 0);
    }

    if (bq->replay.data) {
        ngx_http_oie_spool_release(&bq->replay, 0, cycle->log);
    }

    ngx_http_oie_spool_tick(cycle->log, 1);
    ngx_http_oie_curl_exit(cycle);
}
