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
 *
 * BigQuery's answers are read in ngx_http_oie_bq_answer.c, the spool is
 * replayed in ngx_http_oie_bq_replay.c.
 */

#include "ngx_http_oie_bigquery.h"
#include "ngx_http_oie_curl.h"


#define OIE_BQ_BACKOFF_BASE    250
#define OIE_BQ_BACKOFF_MAX     30000
#define OIE_BQ_DOWN_MIN        2000
#define OIE_BQ_NO_TOKEN_WAIT   200


static void ngx_http_oie_bq_job_free(ngx_http_oie_bq_job_t *job);
static void ngx_http_oie_bq_send_handler(ngx_event_t *ev);
static void ngx_http_oie_bq_token_ready(void);


ngx_http_oie_bq_t  ngx_http_oie_bq;


ngx_uint_t
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

    /*
     * With oie_drain_process on a worker uploads only while the drain
     * process does not drain: it fetches a token when it first needs one.
     */
    return ngx_http_oie_oauth_init(cycle, bq->conf,
                                   ngx_process == NGX_PROCESS_WORKER
                                   && ngx_http_oie_worker.omcf->drain_process);
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
ngx_http_oie_bq_job_t *
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
    job->pauses = bq->pauses;
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


void
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


void
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


void
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
        if (job->pauses != bq->pauses || ngx_http_oie_bq_exiting()) {
            /*
             * A pause began since this job was made: its failure is not
             * news.  Were it to lengthen the pause, the jobs in flight when
             * BigQuery went away would double it one after another, and
             * the sink would wait minutes after BigQuery came back.  An
             * exiting worker pauses nothing either: it spools and goes.
             */
            ngx_http_oie_bq_give_up(job, 0);
            return;
        }

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
void
ngx_http_oie_bq_give_up(ngx_http_oie_bq_job_t *job, ngx_msec_t down_for)
{
    ngx_uint_t           i;
    ngx_http_oie_row_t  *rows;
    ngx_http_oie_bq_t   *bq = &ngx_http_oie_bq;

    if (down_for && !ngx_http_oie_bq_exiting()) {
        bq->down = 1;
        bq->down_until = ngx_current_msec + down_for;
        bq->pauses++;

        ngx_log_error(NGX_LOG_NOTICE, bq->log, 0,
                      "oie: BigQuery uploads paused for %M ms, rows go to "
                      "the spool meanwhile", down_for);
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


void
ngx_http_oie_bq_tick(ngx_log_t *log)
{
    (void) ngx_http_oie_bq_is_down();
    ngx_http_oie_spool_tick(log, 0);

    /*
     * A worker that leaves the ring to the drain process leaves it the
     * spool too: it looks for no dead process's files, and replay_next()
     * only ends a file it claimed while it stood in.
     */
    if (ngx_http_oie_drains_here()) {
        ngx_http_oie_spool_adopt(log);
    }

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
