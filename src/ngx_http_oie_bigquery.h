/*
 * The BigQuery sink: OAuth2 tokens, insertAll uploads, retries, the spool.
 */

#ifndef _NGX_HTTP_OIE_BIGQUERY_H_INCLUDED_
#define _NGX_HTTP_OIE_BIGQUERY_H_INCLUDED_


#include "ngx_http_oie_module.h"
#include "ngx_http_oie_curl.h"

#include <openssl/evp.h>


typedef struct {
    ngx_str_t                   project;
    ngx_str_t                   dataset;
    ngx_str_t                   endpoint;        /* .../bigquery/v2 */
    ngx_str_t                   token_endpoint;
    ngx_str_t                   credentials;     /* path, or "metadata" */
    ngx_flag_t                  metadata;
    ngx_str_t                   client_email;
    ngx_str_t                   key_id;
    EVP_PKEY                   *pkey;
    ngx_msec_t                  timeout;
    ngx_uint_t                  max_inflight;
    ngx_uint_t                  max_attempts;
} ngx_http_oie_bq_conf_t;


/* config: "oie_sink bigquery ..." parameters, checked at nginx -t */
char *ngx_http_oie_bq_parse(ngx_conf_t *cf, ngx_http_oie_bq_conf_t *bq,
    ngx_str_t *args, ngx_uint_t nargs);

/* OAuth2: a worker's access token, fetched and refreshed in the background */
ngx_int_t ngx_http_oie_oauth_init(ngx_cycle_t *cycle,
    ngx_http_oie_bq_conf_t *bq, ngx_flag_t lazy);
ngx_str_t *ngx_http_oie_oauth_token(void);      /* NULL while none */
void ngx_http_oie_oauth_invalidate(void);
void ngx_http_oie_oauth_on_ready(void (*handler)(void));

/* the sink, driven by the drain */
ngx_int_t ngx_http_oie_bq_init(ngx_cycle_t *cycle);
ngx_uint_t ngx_http_oie_bq_can_take(void);
ngx_int_t ngx_http_oie_bq_take(ngx_http_oie_batch_t *b, ngx_log_t *log);
void ngx_http_oie_bq_tick(ngx_log_t *log);
void ngx_http_oie_bq_exit(ngx_cycle_t *cycle);

/* the spool: rows BigQuery has not taken yet, on disk */
ngx_int_t ngx_http_oie_spool_prepare(ngx_cycle_t *cycle);
ngx_int_t ngx_http_oie_spool_rows(ngx_http_oie_row_t *rows, ngx_uint_t n,
    ngx_log_t *log);
ngx_int_t ngx_http_oie_spool_row(ngx_uint_t table, u_char *row, size_t len,
    ngx_log_t *log);
void ngx_http_oie_spool_tick(ngx_log_t *log, ngx_flag_t close_all);
void ngx_http_oie_spool_adopt(ngx_log_t *log);

/* the journal of an upload in flight: its rows, until BigQuery answered */
ngx_int_t ngx_http_oie_spool_journal(ngx_http_oie_row_t *rows, ngx_uint_t n,
    u_char *path, ngx_log_t *log);
void ngx_http_oie_spool_journal_done(u_char *path, ngx_log_t *log);

/* what the spool holds on disk (ngx_http_oie_spool_usage.c) */
typedef struct {
    ngx_uint_t                  files;
    off_t                       bytes;
    time_t                      oldest;       /* mtime, 0: none */
} ngx_http_oie_spool_usage_t;

ngx_int_t ngx_http_oie_spool_usage(ngx_http_oie_spool_usage_t *u);
ngx_atomic_uint_t ngx_http_oie_spool_recount(ngx_log_t *log);

/* replay: claim the oldest spool file and read its rows */
typedef struct {
    u_char                      path[NGX_MAX_PATH];
    u_char                     *data;           /* whole file */
    size_t                      len;
    size_t                      pos;            /* next unsent line */
} ngx_http_oie_spool_file_t;

ngx_int_t ngx_http_oie_spool_claim(ngx_http_oie_spool_file_t *f,
    ngx_log_t *log);
void ngx_http_oie_spool_release(ngx_http_oie_spool_file_t *f, ngx_flag_t done,
    ngx_log_t *log);

/* rows BigQuery refused as invalid, kept with the reason (any bytes: the
 * line written is JSON whatever they are) */
void ngx_http_oie_dead_letter(ngx_uint_t table, u_char *row, size_t len,
    u_char *error, size_t error_len, ngx_log_t *log);

extern ngx_str_t  ngx_http_oie_table_names[OIE_TABLE_N];


/*
 * The sink's insides, shared by its files: the uploads
 * (ngx_http_oie_sink_bigquery.c), BigQuery's answers to them
 * (ngx_http_oie_bq_answer.c) and the replay of the spool
 * (ngx_http_oie_bq_replay.c).
 */

/* the longest pause of the sink after failed uploads, ms (a fifth of it
 * after a 403 other than quotaExceeded, or a 404) */
#define OIE_BQ_DOWN_MAX        300000

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
    ngx_uint_t                  pauses;         /* bq->pauses when made */
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
    ngx_uint_t                  pauses;         /* how many so far */
    ngx_http_oie_spool_file_t   replay;
    ngx_uint_t                  replaying;      /* a replay job is out */
    ngx_log_t                  *log;
} ngx_http_oie_bq_t;


extern ngx_http_oie_bq_t  ngx_http_oie_bq;      /* the worker's sink */

ngx_uint_t ngx_http_oie_bq_exiting(void);
ngx_http_oie_bq_job_t *ngx_http_oie_bq_job(ngx_http_oie_row_t *rows,
    ngx_uint_t n, ngx_uint_t table, ngx_log_t *log);
void ngx_http_oie_bq_send(ngx_http_oie_bq_job_t *job);
void ngx_http_oie_bq_retry(ngx_http_oie_bq_job_t *job, const char *why);
void ngx_http_oie_bq_give_up(ngx_http_oie_bq_job_t *job, ngx_msec_t down_for);
void ngx_http_oie_bq_success(ngx_http_oie_bq_job_t *job);
void ngx_http_oie_bq_done(ngx_http_oie_curl_req_t *req);
void ngx_http_oie_bq_replay_next(void);


#endif /* _NGX_HTTP_OIE_BIGQUERY_H_INCLUDED_ */
