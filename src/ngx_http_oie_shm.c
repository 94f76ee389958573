/*
 * The shared zone: counters and the event ring that every worker pushes
 * into and drains from.  One lock (the zone's slab mutex, which nginx frees
 * if its holder dies) serializes ring access; the critical sections are a
 * memcpy of a few hundred bytes per row.
 */

#include "ngx_http_oie_module.h"
#include "ngx_http_oie_bigquery.h"


static ngx_int_t ngx_http_oie_init_zone(ngx_shm_zone_t *shm_zone, void *data);


ngx_int_t
ngx_http_oie_shm_add(ngx_conf_t *cf, ngx_str_t *name, size_t size)
{
    ngx_shm_zone_t            *zone;
    ngx_http_oie_main_conf_t  *omcf;

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_oie_module);

    zone = ngx_shared_memory_add(cf, name, size, &ngx_http_oie_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    if (zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oie_zone \"%V\" is already defined", name);
        return NGX_ERROR;
    }

    zone->init = ngx_http_oie_init_zone;
    zone->data = omcf;
    omcf->shm_zone = zone;

    return NGX_OK;
}


static ngx_int_t
ngx_http_oie_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_oie_shctx_t *osh = data;

    int                    kept;
    size_t                 bytes;
    oie_ring_t            *ring;
    ngx_slab_pool_t       *shpool;
    ngx_http_oie_shctx_t  *sh;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (osh) {
        /* reload with the same zone: the ring and counters carry on */
        shm_zone->data = osh;
        ring = (oie_ring_t *) osh->ring;
        (void) ngx_atomic_fetch_add(&osh->counters.reloads_kept, 1);
        ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                      "oie: zone \"%V\" kept across reload with %uL events",
                      &shm_zone->shm.name, (uint64_t) ring->records);
        return NGX_OK;
    }

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    /* one allocation takes all free pages but a couple, for the slab's own */
    bytes = (shpool->pfree - 2) * ngx_pagesize;

    sh = ngx_slab_alloc(shpool, bytes);
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(sh, sizeof(ngx_http_oie_shctx_t));
    sh->started = ngx_current_msec;

    ring = oie_ring_init(sh->ring, bytes - sizeof(ngx_http_oie_shctx_t),
                         &kept);
    if (ring == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "oie: zone \"%V\" is too small for a ring",
                      &shm_zone->shm.name);
        return NGX_ERROR;
    }

    shpool->data = sh;
    shm_zone->data = sh;

    return NGX_OK;
}


ngx_int_t
ngx_http_oie_shm_attach(ngx_cycle_t *cycle)
{
    ngx_http_oie_worker_t  *w = &ngx_http_oie_worker;

    w->sh = w->omcf->shm_zone->data;
    w->shpool = (ngx_slab_pool_t *) w->omcf->shm_zone->shm.addr;
    w->ring = (oie_ring_t *) w->sh->ring;

    return NGX_OK;
}


ngx_int_t
ngx_http_oie_push(ngx_log_t *log, ngx_uint_t table, u_char *row, size_t len)
{
    ngx_http_oie_row_t  r;

    r.table = table;
    r.data = row;
    r.len = len;

    return ngx_http_oie_push_rows(log, &r, 1);
}


/*
 * One lock for all the rows of a request.  Rows the ring cannot hold go
 * to the spool together, one write and one fsync (BigQuery sink), or are
 * dropped (file sink, or spool full): counted, and logged once a second.
 */
ngx_int_t
ngx_http_oie_push_rows(ngx_log_t *log, ngx_http_oie_row_t *rows, ngx_uint_t n)
{
    int                     rc;
    ngx_uint_t              i, over, toolarge;
    ngx_time_t             *tp;
    ngx_http_oie_row_t     *spill;
    ngx_http_oie_worker_t  *w = &ngx_http_oie_worker;

    spill = NULL;
    over = 0;
    toolarge = 0;

    ngx_shmtx_lock(&w->shpool->mutex);

    for (i = 0; i < n; i++) {
        rc = oie_ring_push(w->ring, (unsigned) rows[i].table, rows[i].data,
                           rows[i].len);

        if (rc == OIE_RING_OK) {
            continue;
        }

        if (rc != OIE_RING_FULL) {
            toolarge++;
            continue;
        }

        /* rows stay in request memory: just remember which ones */
        if (spill == NULL) {
            spill = rows + i;       /* full now: the rest will not fit */
            over = n - i;
            break;
        }
    }

    ngx_shmtx_unlock(&w->shpool->mutex);

    ngx_http_oie_count(accepted, n - over - toolarge);

    if (over && w->omcf->sink == OIE_SINK_BIGQUERY
        && ngx_http_oie_spool_rows(spill, over, log) == NGX_OK)
    {
        /* with BigQuery, a full ring overflows into the spool */
        ngx_http_oie_count(accepted, over);
        over = 0;
    }

    if (over + toolarge == 0) {
        return NGX_OK;
    }

    ngx_http_oie_count(dropped, over + toolarge);

    /* a full ring could flood the log: say it at most once a second */
    tp = ngx_timeofday();

    if (tp->sec != w->last_drop_log.sec) {
        w->last_drop_log = *tp;
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "oie: event dropped: %s (%uA dropped so far)",
                      toolarge ? "row too large"
                      : w->omcf->sink == OIE_SINK_BIGQUERY
                        ? "ring and spool full" : "ring full",
                      w->sh->counters.dropped);
    }

    return NGX_DECLINED;
}


/*
 * Takes a batch from the ring in two steps: the rows are copied out but
 * held in the ring for this process (ngx_http_oie_pop_done() removes them
 * once the sink has them on disk or delivered), so a worker killed in
 * between loses none: the next one to pop finds their holder gone and
 * takes them again.  NGX_BUSY: another live worker holds rows now.
 */
ngx_int_t
ngx_http_oie_pop_batch(ngx_http_oie_batch_t *b, ngx_uint_t max_rows,
    size_t max_bytes)
{
    long                    n;
    size_t                  next;
    unsigned                tag;
    uint64_t                gone;
    ngx_pid_t               holder;
    ngx_http_oie_row_t     *row;
    ngx_http_oie_worker_t  *w = &ngx_http_oie_worker;

    b->nrows = 0;
    b->bytes = 0;
    gone = 0;
    holder = 0;

    ngx_shmtx_lock(&w->shpool->mutex);

    if (w->ring->holder) {
        holder = (ngx_pid_t) w->ring->holder;

        if (holder != ngx_pid && ngx_http_oie_pid_alive(holder)) {
            ngx_shmtx_unlock(&w->shpool->mutex);
            return NGX_BUSY;
        }

        /* its taker died before they were safe: they are taken again */
        gone = w->ring->held_records;
        oie_ring_release(w->ring, 0);
    }

    while (b->nrows < max_rows) {

        next = oie_ring_next_len(w->ring);

        if (next == 0) {
            break;
        }

        /* a batch always takes its first row, however large */
        if (b->nrows > 0 && b->bytes + next > max_bytes) {
            break;
        }

        if (b->bytes + next > b->cap) {
            break;
        }

        n = oie_ring_take(w->ring, (uint64_t) ngx_pid, &tag,
                          b->buf + b->bytes, b->cap - b->bytes);
        if (n <= 0) {
            break;
        }

        row = &b->rows[b->nrows++];
        row->table = tag < OIE_TABLE_N ? tag : OIE_TABLE_EVENTS;
        row->data = b->buf + b->bytes;
        row->len = (size_t) n;
        b->bytes += (size_t) n;
    }

    ngx_shmtx_unlock(&w->shpool->mutex);

    if (gone) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "oie: %uL rows taken from the ring by process %P, "
                      "which ended before they were delivered or on disk, "
                      "are taken again", gone, holder);
    }

    return b->nrows ? NGX_OK : NGX_DONE;
}


/* the rows of the last batch are delivered, spooled or counted as lost */
void
ngx_http_oie_pop_done(void)
{
    ngx_http_oie_worker_t  *w = &ngx_http_oie_worker;

    ngx_shmtx_lock(&w->shpool->mutex);

    if (w->ring->holder == (uint64_t) ngx_pid) {
        oie_ring_release(w->ring, 1);
    }

    ngx_shmtx_unlock(&w->shpool->mutex);
}


/* the last delivery error, for oie_status; also logged */
void
ngx_http_oie_last_error(ngx_log_t *log, const char *fmt, ...)
{
    u_char                 *p, msg[200];
    va_list                 args;
    ngx_http_oie_worker_t  *w = &ngx_http_oie_worker;

    va_start(args, fmt);
    p = ngx_vslprintf(msg, msg + sizeof(msg) - 1, fmt, args);
    va_end(args);
    *p = '\0';

    ngx_log_error(NGX_LOG_ERR, log, 0, "oie: %s", msg);

    if (w->sh == NULL) {
        return;
    }

    ngx_shmtx_lock(&w->shpool->mutex);
    ngx_memcpy(w->sh->counters.last_error, msg, p - msg + 1);
    w->sh->counters.last_error_time = ngx_time();
    ngx_shmtx_unlock(&w->shpool->mutex);
}
