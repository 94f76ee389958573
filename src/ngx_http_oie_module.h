/*
 * Outbound Intent Engine: types shared by the module's files.
 */

#ifndef _NGX_HTTP_OIE_MODULE_H_INCLUDED_
#define _NGX_HTTP_OIE_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "oie_ring.h"


#ifndef OIE_VERSION
#define OIE_VERSION  "0.1.0"
#endif


/* BigQuery tables (and NDJSON sub-directories) rows are routed to */
#define OIE_TABLE_EVENTS        0
#define OIE_TABLE_EMAIL_CLICKS  1
#define OIE_TABLE_N             2

/* why a request to /t was refused; the status page counts each */
#define OIE_REJECT_METHOD       0
#define OIE_REJECT_ORIGIN       1
#define OIE_REJECT_TYPE         2
#define OIE_REJECT_TOO_LARGE    3
#define OIE_REJECT_JSON         4
#define OIE_REJECT_BATCH        5
#define OIE_REJECT_EVENT        6
#define OIE_REJECT_N            7

#define OIE_SINK_FILE           1
#define OIE_SINK_BIGQUERY       2

#define OIE_MAX_EVENTS          100
#define OIE_MAX_ROW             (64 * 1024)


typedef struct {
    ngx_atomic_t                requests;
    ngx_atomic_t                accepted;
    ngx_atomic_t                rejected[OIE_REJECT_N];
    ngx_atomic_t                dropped;
    ngx_atomic_t                batches;
    ngx_atomic_t                rows_delivered;
    ngx_atomic_t                bytes_delivered;
    ngx_atomic_t                sink_errors;
    ngx_atomic_t                files_completed;
    ngx_atomic_t                reloads_kept;
    /* oie_drain_process on: the helper and its last drain tick */
    ngx_atomic_t                drain_pid;
    ngx_atomic_t                drain_tick;          /* ngx_current_msec */
    /* BigQuery and the spool */
    ngx_atomic_t                uploads;
    ngx_atomic_t                upload_errors;
    ngx_atomic_t                retries;
    ngx_atomic_t                rows_accepted;
    ngx_atomic_t                rows_rejected;
    ngx_atomic_t                rows_spooled;
    ngx_atomic_t                rows_replayed;
    ngx_atomic_t                spool_bytes;
    ngx_atomic_t                spool_replayed_files;
    ngx_atomic_t                token_refreshes;
    ngx_atomic_t                token_errors;
    ngx_atomic_t                last_error_time;     /* seconds */
    u_char                      last_error[200];     /* NUL-terminated */
} ngx_http_oie_counters_t;


/* what lives in the shared zone: counters, then the ring (last, it grows) */
typedef struct {
    ngx_http_oie_counters_t     counters;
    ngx_msec_t                  started;
    u_char                      ring[];
} ngx_http_oie_shctx_t;


typedef struct {
    ngx_str_t                   dir;
    size_t                      max_size;
    ngx_msec_t                  max_age;
} ngx_http_oie_file_conf_t;


typedef struct {
    ngx_str_t                   dir;
    off_t                       max_size;
} ngx_http_oie_spool_conf_t;


typedef struct {
    ngx_shm_zone_t             *shm_zone;
    ngx_uint_t                  sink;
    ngx_http_oie_file_conf_t    file;
    void                       *bq;           /* ngx_http_oie_bq_conf_t */
    ngx_http_oie_spool_conf_t   spool;
    ngx_uint_t                  batch_rows;
    size_t                      batch_bytes;
    ngx_msec_t                  batch_interval;
    ngx_flag_t                  drain_process;
    ngx_flag_t                  enabled;      /* some location uses oie */
} ngx_http_oie_main_conf_t;


typedef struct {
    ngx_array_t                *origins;      /* of ngx_str_t; "*" = any */
    size_t                      max_body;
} ngx_http_oie_loc_conf_t;


/* what a request did, for the $oie_* variables */
typedef struct {
    ngx_uint_t                  events;
    ngx_str_t                   visitor_id;
    ngx_str_t                   lead_id;
    ngx_int_t                   reject;       /* OIE_REJECT_*, -1: none */
    ngx_str_t                   traffic_class;
} ngx_http_oie_req_ctx_t;


/* one popped row, pointing into the batch buffer */
typedef struct {
    ngx_uint_t                  table;
    u_char                     *data;
    size_t                      len;
} ngx_http_oie_row_t;


typedef struct {
    ngx_http_oie_row_t         *rows;
    ngx_uint_t                  nrows;
    size_t                      bytes;
    u_char                     *buf;
    size_t                      cap;
} ngx_http_oie_batch_t;


/* per-worker state of the process that runs the drain */
typedef struct {
    ngx_http_oie_shctx_t       *sh;
    ngx_slab_pool_t            *shpool;
    oie_ring_t                 *ring;
    ngx_http_oie_main_conf_t   *omcf;
    ngx_time_t                  last_drop_log;
    uint32_t                    id_salt;
    uint64_t                    id_seq;
} ngx_http_oie_worker_t;


extern ngx_module_t            ngx_http_oie_module;
extern ngx_http_oie_worker_t   ngx_http_oie_worker;

/*
 * The data of the module's standalone timers: nginx's debug log reads a
 * timer's data as a connection (its fd), so it must be one.
 */
extern ngx_connection_t        ngx_http_oie_timer_conn;


/* shm: the zone, the ring and pushing rows from a request */
ngx_int_t ngx_http_oie_shm_add(ngx_conf_t *cf, ngx_str_t *name, size_t size);
ngx_int_t ngx_http_oie_shm_attach(ngx_cycle_t *cycle);
ngx_int_t ngx_http_oie_push(ngx_log_t *log, ngx_uint_t table, u_char *row,
    size_t len);
ngx_int_t ngx_http_oie_push_rows(ngx_log_t *log, ngx_http_oie_row_t *rows,
    ngx_uint_t n);
ngx_int_t ngx_http_oie_pop_batch(ngx_http_oie_batch_t *b, ngx_uint_t max_rows,
    size_t max_bytes);
void ngx_http_oie_pop_done(void);
void ngx_http_oie_last_error(ngx_log_t *log, const char *fmt, ...);
#define ngx_http_oie_count(field, n)                                         \
    if (ngx_http_oie_worker.sh) {                                             \
        (void) ngx_atomic_fetch_add(&ngx_http_oie_worker.sh->counters.field, \
                                    n);                                       \
    }

/* files: shared by the file sink and the spool */
ngx_int_t ngx_http_oie_write_all(ngx_fd_t fd, u_char *buf, size_t len,
    off_t *offset);
off_t ngx_http_oie_whole_lines(u_char *path, ngx_log_t *log);
ngx_pid_t ngx_http_oie_file_pid(const char *name, const char *after);
ngx_uint_t ngx_http_oie_pid_alive(ngx_pid_t pid);

/* a process that serves requests or drains the ring, at its start */
ngx_int_t ngx_http_oie_process_start(ngx_cycle_t *cycle);

/* the drain timer and the sinks */
ngx_int_t ngx_http_oie_drain_init(ngx_cycle_t *cycle);
void ngx_http_oie_drain_exit(ngx_cycle_t *cycle);
ngx_uint_t ngx_http_oie_drains_here(void);

/* oie_drain_process: the drain in nginx's helper process */
ngx_int_t ngx_http_oie_drain_process_add(ngx_conf_t *cf,
    ngx_http_oie_main_conf_t *omcf);
ngx_int_t ngx_http_oie_sink_file_prepare(ngx_cycle_t *cycle,
    ngx_http_oie_file_conf_t *fc);
ngx_int_t ngx_http_oie_sink_file_write(ngx_http_oie_batch_t *b,
    ngx_log_t *log);
void ngx_http_oie_sink_file_tick(ngx_log_t *log, ngx_flag_t close_all);

/*
 * An accepted page event, as observers see it (live scoring, click
 * confirmation).  Strings point into request memory: copy what you keep.
 */
typedef struct {
    ngx_str_t                   row;          /* the JSON row pushed */
    ngx_str_t                   type;
    ngx_str_t                   visitor_id;
    ngx_str_t                   lead_id;      /* empty when unknown */
    ngx_str_t                   session_id;
    ngx_str_t                   url;
    int64_t                     time_ms;      /* the browser's timestamp */
    int64_t                     scroll_depth; /* -1 when absent */
    int64_t                     engaged_ms;   /* -1 when absent */
    ngx_str_t                   video_action;
    ngx_uint_t                  webdriver;
} ngx_http_oie_event_t;

typedef void (*ngx_http_oie_event_observer_pt)(ngx_http_request_t *r,
    ngx_http_oie_event_t *ev);

/* called for every event of an accepted batch, after it is in the ring */
extern ngx_http_oie_event_observer_pt  ngx_http_oie_event_observer;

/* events: validating wire events and writing their rows */
ngx_int_t ngx_http_oie_events_rows(ngx_http_request_t *r, u_char *body,
    size_t len, ngx_array_t *events, ngx_str_t *err, ngx_uint_t *reason);
void ngx_http_oie_event_id(u_char *dst);
#define OIE_EVENT_ID_LEN  32
u_char *ngx_http_oie_iso_time(u_char *p, int64_t ms);
#define OIE_ISO_TIME_LEN  26                  /* with the quotes */
int64_t ngx_http_oie_now_msec(void);

/* $oie_* variables */
ngx_int_t ngx_http_oie_add_variables(ngx_conf_t *cf);
ngx_http_oie_req_ctx_t *ngx_http_oie_req_ctx(ngx_http_request_t *r);

/* handlers */
ngx_int_t ngx_http_oie_track_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_oie_status_handler(ngx_http_request_t *r);

/* replies */
ngx_int_t ngx_http_oie_reply_json(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...);
ngx_int_t ngx_http_oie_reply_empty(ngx_http_request_t *r, ngx_uint_t status);
ngx_int_t ngx_http_oie_reply_gif(ngx_http_request_t *r);
ngx_int_t ngx_http_oie_reply_buf(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *data, size_t len);
/* the Origin rule of oie_allowed_origins (also used by /p) */
ngx_int_t ngx_http_oie_origin_allowed(ngx_http_request_t *r,
    ngx_http_oie_loc_conf_t *olcf);
ngx_int_t ngx_http_oie_cors(ngx_http_request_t *r,
    ngx_http_oie_loc_conf_t *olcf, ngx_flag_t preflight);
ngx_table_elt_t *ngx_http_oie_add_header(ngx_http_request_t *r,
    const char *key, const char *value);
/* a request header by its lower-case name */
ngx_table_elt_t *ngx_http_oie_find_header(ngx_http_request_t *r,
    const char *name);


#endif /* _NGX_HTTP_OIE_MODULE_H_INCLUDED_ */
