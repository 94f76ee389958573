/*
 * The drain: a timer in every worker pops batches from the shared ring and
 * hands them to the sink.  Any worker may pop any row (pops are locked), so
 * a row is delivered by exactly one worker.  The timer is cancelable so a
 * graceful quit is not held up by it; exit_process drains what is left.
 *
 * With oie_drain_process on, the timer pops only in the helper process
 * (ngx_http_oie_drain_process.c); in a worker it just closes the spool
 * files the worker wrote when the ring was full (and ends a spool file it
 * claimed while it stood in for the helper), and the worker's exit_process
 * still spools what is in the ring when it goes.
 */

#include "ngx_http_oie_module.h"
#include "ngx_http_oie_bigquery.h"


/* batches per timer tick before yielding to the event loop */
#define OIE_DRAIN_BATCHES_PER_TICK  8

#define OIE_DRAIN_EMPTY             0
#define OIE_DRAIN_MORE              1
#define OIE_DRAIN_BUSY              2
#define OIE_DRAIN_HELD              3       /* another worker is taking */

/*
 * with oie_drain_process on, workers drain themselves when the helper has
 * not for this long (or ten oie_batch intervals, if longer), ms
 */
#define OIE_DRAIN_HELPER_STALE      5000

/* an exiting worker waits this long for another one's batch, ms */
#define OIE_DRAIN_EXIT_WAIT         2000


static void ngx_http_oie_drain_handler(ngx_event_t *ev);
static ngx_uint_t ngx_http_oie_drain_some(ngx_log_t *log, ngx_uint_t batches);
static ngx_uint_t ngx_http_oie_drain_decide(void);


static ngx_event_t           ngx_http_oie_drain_event;
/* this tick's answer: the ring (and the spool) are left to the helper */
static ngx_uint_t            ngx_http_oie_drain_aside;
static ngx_msec_t            ngx_http_oie_drain_started;
static ngx_http_oie_batch_t  ngx_http_oie_batch_buf;


ngx_int_t
ngx_http_oie_drain_init(ngx_cycle_t *cycle)
{
    ngx_http_oie_batch_t      *b = &ngx_http_oie_batch_buf;
    ngx_http_oie_main_conf_t  *omcf = ngx_http_oie_worker.omcf;

    b->rows = ngx_palloc(cycle->pool,
                         omcf->batch_rows * sizeof(ngx_http_oie_row_t));
    b->cap = omcf->batch_bytes + OIE_MAX_ROW;
    b->buf = ngx_palloc(cycle->pool, b->cap);

    if (b->rows == NULL || b->buf == NULL) {
        return NGX_ERROR;
    }

    ngx_http_oie_drain_started = ngx_current_msec;
    ngx_http_oie_drain_aside = omcf->drain_process
                               && ngx_process == NGX_PROCESS_WORKER;

    ngx_http_oie_drain_event.handler = ngx_http_oie_drain_handler;
    ngx_http_oie_drain_event.log = cycle->log;
    ngx_http_oie_drain_event.data = &ngx_http_oie_timer_conn;
    ngx_http_oie_drain_event.cancelable = 1;

    ngx_add_timer(&ngx_http_oie_drain_event, omcf->batch_interval);

    return NGX_OK;
}


static void
ngx_http_oie_drain_handler(ngx_event_t *ev)
{
    ngx_uint_t                 more;
    ngx_msec_t                 next;
    ngx_http_oie_main_conf_t  *omcf = ngx_http_oie_worker.omcf;

    if (ngx_process == NGX_PROCESS_HELPER) {
        /* oie_drain_process on: /oie/status tells how the helper is */
        ngx_http_oie_worker.sh->counters.drain_pid = ngx_pid;
        ngx_http_oie_worker.sh->counters.drain_tick = ngx_current_msec;
    }

    /*
     * An exiting worker (quit, or an old one after a reload) leaves the
     * ring to the others while it finishes; exit_process takes the rest.
     * So does one that leaves it to the drain process.
     */
    more = (ngx_exiting || !ngx_http_oie_drain_decide())
           ? OIE_DRAIN_EMPTY
           : ngx_http_oie_drain_some(ev->log, OIE_DRAIN_BATCHES_PER_TICK);

    if (omcf->sink == OIE_SINK_FILE) {
        ngx_http_oie_sink_file_tick(ev->log, 0);

    } else {
        ngx_http_oie_bq_tick(ev->log);
    }

    switch (more) {
    case OIE_DRAIN_MORE:
        /* behind: come back at once, after other events had their turn */
        next = 1;
        break;
    case OIE_DRAIN_BUSY:
    case OIE_DRAIN_HELD:
        /* the sink has all it can take in flight, or another worker is
         * taking a batch */
        next = ngx_min(omcf->batch_interval, 20);
        break;
    default:
        next = omcf->batch_interval;
    }

    ngx_add_timer(ev, next);
}


/*
 * With oie_drain_process on, a worker leaves the ring to the helper, unless
 * the helper has not drained for a while (stopped, stuck, its process busy
 * with a cache's clean-up, or not started): then the workers drain until
 * it does again.  Decided once a tick; ngx_http_oie_drains_here() tells
 * the answer.
 */
static ngx_uint_t
ngx_http_oie_drain_decide(void)
{
    ngx_msec_t                 stale, since;
    ngx_uint_t                 stand_in;
    ngx_http_oie_shctx_t      *sh = ngx_http_oie_worker.sh;
    ngx_http_oie_main_conf_t  *omcf = ngx_http_oie_worker.omcf;

    if (!omcf->drain_process || ngx_process != NGX_PROCESS_WORKER) {
        return 1;
    }

    /* the helper's last tick, but a new worker gives it time to start */
    since = ngx_http_oie_drain_started;

    if (sh->counters.drain_pid
        && (ngx_msec_int_t) (sh->counters.drain_tick - since) > 0)
    {
        since = sh->counters.drain_tick;
    }

    stale = ngx_max(OIE_DRAIN_HELPER_STALE, 10 * omcf->batch_interval);
    stand_in = (ngx_msec_int_t) (ngx_current_msec - since)
               > (ngx_msec_int_t) stale;

    if (stand_in == ngx_http_oie_drain_aside) {
        ngx_http_oie_drain_aside = !stand_in;

        if (stand_in) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "oie: the drain process has not drained for %M ms:"
                          " this worker drains until it does",
                          (ngx_msec_t) (ngx_current_msec - since));
        } else {
            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "oie: the drain process %uA drains again: this "
                          "worker leaves the ring to it",
                          sh->counters.drain_pid);
        }
    }

    return stand_in;
}


ngx_uint_t
ngx_http_oie_drains_here(void)
{
    return !ngx_http_oie_drain_aside;
}


static ngx_uint_t
ngx_http_oie_drain_some(ngx_log_t *log, ngx_uint_t batches)
{
    ngx_int_t                  rc;
    ngx_uint_t                 i;
    ngx_http_oie_batch_t      *b = &ngx_http_oie_batch_buf;
    ngx_http_oie_main_conf_t  *omcf = ngx_http_oie_worker.omcf;

    for (i = 0; i < batches; i++) {

        if (omcf->sink == OIE_SINK_BIGQUERY && !ngx_http_oie_bq_can_take()) {
            return OIE_DRAIN_BUSY;
        }

        rc = ngx_http_oie_pop_batch(b, omcf->batch_rows, omcf->batch_bytes);

        if (rc != NGX_OK) {
            return rc == NGX_BUSY ? OIE_DRAIN_HELD : OIE_DRAIN_EMPTY;
        }

        if (omcf->sink == OIE_SINK_BIGQUERY) {
            rc = ngx_http_oie_bq_take(b, log);

        } else {
            rc = ngx_http_oie_sink_file_write(b, log);
        }

        /* the rows are delivered, on disk (a file, the spool, an upload's
         * journal) or counted as lost below: out of the ring with them */
        ngx_http_oie_pop_done();

        if (rc != NGX_OK) {
            /* the sink logged why; rows neither it nor the spool could
             * take are lost, and counted */
            ngx_http_oie_count(sink_errors, 1);
            ngx_http_oie_count(dropped, b->nrows);
            continue;
        }

        ngx_http_oie_count(batches, 1);
        ngx_http_oie_count(rows_delivered, b->nrows);
        ngx_http_oie_count(bytes_delivered, b->bytes);
    }

    return OIE_DRAIN_MORE;
}


void
ngx_http_oie_drain_exit(ngx_cycle_t *cycle)
{
    ngx_uint_t                 rounds, more;
    ngx_msec_t                 waited;
    ngx_http_oie_main_conf_t  *omcf = ngx_http_oie_worker.omcf;

    if (ngx_http_oie_drain_event.timer_set) {
        ngx_del_timer(&ngx_http_oie_drain_event);
    }

    /*
     * What is in the ring now, whoever pushed it, goes out before this
     * process ends.  The bound keeps an old worker from draining forever
     * while new workers (after a reload) keep pushing; they drain the rest.
     */
    rounds = ngx_http_oie_worker.ring->records / omcf->batch_rows + 2;
    waited = 0;

    while (rounds) {
        more = ngx_http_oie_drain_some(cycle->log, 1);

        if (more == OIE_DRAIN_HELD && waited < OIE_DRAIN_EXIT_WAIT) {
            /* another worker is taking a batch: the rest may be ours */
            ngx_msleep(1);
            waited++;
            continue;
        }

        if (more != OIE_DRAIN_MORE) {
            break;
        }

        rounds--;
    }

    if (omcf->sink == OIE_SINK_BIGQUERY) {
        ngx_http_oie_bq_exit(cycle);

    } else {
        ngx_http_oie_sink_file_tick(cycle->log, 1);
    }
}
