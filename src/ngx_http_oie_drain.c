/*
 * The drain: a timer in every worker pops batches from the shared ring and
 * hands them to the sink.  Any worker may pop any row (pops are locked), so
 * a row is delivered by exactly one worker.  The timer is cancelable so a
 * graceful quit is not held up by it; exit_process drains what is left.
 */

#include "ngx_http_oie_module.h"


/* batches per timer tick before yielding to the event loop */
#define OIE_DRAIN_BATCHES_PER_TICK  8


static void ngx_http_oie_drain_handler(ngx_event_t *ev);
static ngx_uint_t ngx_http_oie_drain_some(ngx_log_t *log, ngx_uint_t batches);


static ngx_event_t           ngx_http_oie_drain_event;
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

    ngx_http_oie_drain_event.handler = ngx_http_oie_drain_handler;
    ngx_http_oie_drain_event.log = cycle->log;
    ngx_http_oie_drain_event.data = b;
    ngx_http_oie_drain_event.cancelable = 1;

    ngx_add_timer(&ngx_http_oie_drain_event, omcf->batch_interval);

    return NGX_OK;
}


static void
ngx_http_oie_drain_handler(ngx_event_t *ev)
{
    ngx_uint_t                 full;
    ngx_http_oie_main_conf_t  *omcf = ngx_http_oie_worker.omcf;

    full = ngx_http_oie_drain_some(ev->log, OIE_DRAIN_BATCHES_PER_TICK);

    ngx_http_oie_sink_file_tick(ev->log, 0);

    /* behind: come back at once, after other events had their turn */
    ngx_add_timer(ev, full ? 1 : omcf->batch_interval);
}


/* returns 1 when it stopped with rows still waiting */
static ngx_uint_t
ngx_http_oie_drain_some(ngx_log_t *log, ngx_uint_t batches)
{
    ngx_uint_t                 i;
    ngx_http_oie_batch_t      *b = &ngx_http_oie_batch_buf;
    ngx_http_oie_main_conf_t  *omcf = ngx_http_oie_worker.omcf;

    for (i = 0; i < batches; i++) {

        if (ngx_http_oie_pop_batch(b, omcf->batch_rows, omcf->batch_bytes)
            != NGX_OK)
        {
            return 0;
        }

        if (ngx_http_oie_sink_file_write(b, log) != NGX_OK) {
            ngx_http_oie_count(sink_errors, 1);
            /* the file sink logged why; rows it could not write are lost
             * until the spool exists, so they are counted as dropped */
            ngx_http_oie_count(dropped, b->nrows);
            continue;
        }

        ngx_http_oie_count(batches, 1);
        ngx_http_oie_count(rows_delivered, b->nrows);
        ngx_http_oie_count(bytes_delivered, b->bytes);
    }

    return 1;
}


void
ngx_http_oie_drain_exit(ngx_cycle_t *cycle)
{
    ngx_uint_t                 rounds;
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

    while (rounds-- && ngx_http_oie_drain_some(cycle->log, 1)) {
        /* void */
    }

    ngx_http_oie_sink_file_tick(cycle->log, 1);
}
