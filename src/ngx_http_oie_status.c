/*
 * oie_status: the module's counters, as JSON or (?format=prometheus) in
 * Prometheus' text format.  Counters live in the shared zone, so any worker
 * answers for all of them.
 */

#include "ngx_http_oie_bigquery.h"
#include "oie_json.h"


#define OIE_STATUS_MAX  8192


static const char  *ngx_http_oie_reject_names[OIE_REJECT_N] = {
    "method", "origin", "content_type", "too_large", "json", "batch", "event"
};


typedef struct {
    ngx_http_oie_counters_t  c;
    uint64_t                 ring_size;
    uint64_t                 ring_used;
    uint64_t                 ring_records;
    uint64_t                 ring_high_water;
    ngx_msec_t               uptime;
    ngx_uint_t               spool_files;
    off_t                    spool_bytes;
    time_t                   spool_oldest;   /* mtime, 0: none */
} ngx_http_oie_snapshot_t;


static void
ngx_http_oie_snapshot(ngx_http_oie_snapshot_t *s)
{
    ngx_http_oie_worker_t       *w = &ngx_http_oie_worker;
    ngx_http_oie_spool_usage_t   u;

    s->spool_files = 0;
    s->spool_bytes = 0;
    s->spool_oldest = 0;

    ngx_shmtx_lock(&w->shpool->mutex);
    /* under the lock: last_error is written under it too */
    ngx_memcpy(&s->c, &w->sh->counters, sizeof(ngx_http_oie_counters_t));
    s->ring_size = w->ring->size;
    s->ring_used = oie_ring_used(w->ring);
    s->ring_records = w->ring->records;
    s->ring_high_water = w->ring->high_water;
    ngx_shmtx_unlock(&w->shpool->mutex);

    s->uptime = ngx_current_msec - w->sh->started;

    if (w->omcf->sink == OIE_SINK_BIGQUERY) {
        /* the spool as it is on disk (an admin endpoint may read a
         * directory) */
        if (ngx_http_oie_spool_usage(&u) == NGX_OK) {
            s->spool_files = u.files;
            s->spool_bytes = u.bytes;
            s->spool_oldest = u.oldest;
        }
    }
}


/* this process's clock may lag the helper's by a tick: never below 0 */
static ngx_msec_t
ngx_http_oie_drain_idle(ngx_http_oie_snapshot_t *s)
{
    ngx_msec_int_t  idle;

    idle = (ngx_msec_int_t) (ngx_current_msec - s->c.drain_tick);

    return idle > 0 ? (ngx_msec_t) idle : 0;
}


static u_char *
ngx_http_oie_status_json(u_char *p, u_char *end, ngx_http_oie_snapshot_t *s)
{
    ngx_uint_t  i;

    p = ngx_slprintf(p, end,
                     "{\"version\":\"" OIE_VERSION "\",\"uptime_ms\":%M,"
                     "\"requests\":%uA,\"accepted\":%uA,\"dropped\":%uA,"
                     "\"rejected\":{",
                     s->uptime, s->c.requests, s->c.accepted, s->c.dropped);

    for (i = 0; i < OIE_REJECT_N; i++) {
        p = ngx_slprintf(p, end, "%s\"%s\":%uA", i ? "," : "",
                         ngx_http_oie_reject_names[i], s->c.rejected[i]);
    }

    p = ngx_slprintf(p, end,
                     "},\"ring\":{\"size\":%uL,\"used\":%uL,\"events\":%uL,"
                     "\"high_water\":%uL,\"reloads_kept\":%uA},",
                     s->ring_size, s->ring_used, s->ring_records,
                     s->ring_high_water, s->c.reloads_kept);

    if (ngx_http_oie_worker.omcf->drain_process) {
        /* the helper's pid, and how long since it last drained */
        p = s->c.drain_pid
            ? ngx_slprintf(p, end,
                           "\"drain\":{\"process\":%uA,\"idle_ms\":%M},",
                           s->c.drain_pid, ngx_http_oie_drain_idle(s))
            : ngx_slprintf(p, end,
                           "\"drain\":{\"process\":null,\"idle_ms\":null},");
    }

    p = ngx_slprintf(p, end,
                     "\"sink\":{\"type\":\"%s\",\"batches\":%uA,"
                     "\"rows\":%uA,\"bytes\":%uA,\"errors\":%uA",
                     ngx_http_oie_worker.omcf->sink == OIE_SINK_BIGQUERY
                     ? "bigquery" : "file", s->c.batches,
                     s->c.rows_delivered, s->c.bytes_delivered,
                     s->c.sink_errors);

    if (ngx_http_oie_worker.omcf->sink != OIE_SINK_BIGQUERY) {
        return ngx_slprintf(p, end, ",\"files\":%uA}}\n",
                            s->c.files_completed);
    }

    p = ngx_slprintf(p, end,
                     ",\"uploads\":%uA,\"upload_errors\":%uA,"
                     "\"retries\":%uA,\"rows_accepted\":%uA,"
                     "\"rows_rejected\":%uA,\"token_refreshes\":%uA,"
                     "\"token_errors\":%uA,\"last_error\":",
                     s->c.uploads, s->c.upload_errors, s->c.retries,
                     s->c.rows_accepted, s->c.rows_rejected,
                     s->c.token_refreshes, s->c.token_errors);

    if (s->c.last_error[0]
        && end - p > (ssize_t) (6 * sizeof(s->c.last_error) + 64))
    {
        p = ngx_slprintf(p, end, "{\"at\":%uA,\"message\":\"",
                         s->c.last_error_time);
        p = oie_json_escape(p, s->c.last_error,
                            ngx_strnlen(s->c.last_error,
                                        sizeof(s->c.last_error)));
        p = ngx_slprintf(p, end, "\"}");

    } else {
        p = ngx_slprintf(p, end, "null");
    }

    return ngx_slprintf(p, end,
                        "},\"spool\":{\"rows_spooled\":%uA,"
                        "\"rows_replayed\":%uA,\"files_replayed\":%uA,"
                        "\"files\":%ui,\"bytes\":%O,"
                        "\"oldest_age_s\":%T}}\n",
                        s->c.rows_spooled, s->c.rows_replayed,
                        s->c.spool_replayed_files, s->spool_files,
                        s->spool_bytes,
                        s->spool_oldest ? ngx_time() - s->spool_oldest
                                        : (time_t) 0);
}


static u_char *
ngx_http_oie_status_prometheus(u_char *p, u_char *end,
    ngx_http_oie_snapshot_t *s)
{
    ngx_uint_t  i;

    p = ngx_slprintf(p, end,
        "# HELP oie_requests_total Requests to oie_track locations.\n"
        "# TYPE oie_requests_total counter\n"
        "oie_requests_total %uA\n"
        "# HELP oie_events_accepted_total Events pushed into the ring.\n"
        "# TYPE oie_events_accepted_total counter\n"
        "oie_events_accepted_total %uA\n"
        "# HELP oie_events_dropped_total Events lost: ring full or sink "
        "failed.\n"
        "# TYPE oie_events_dropped_total counter\n"
        "oie_events_dropped_total %uA\n"
        "# HELP oie_requests_rejected_total Requests refused, by reason.\n"
        "# TYPE oie_requests_rejected_total counter\n",
        s->c.requests, s->c.accepted, s->c.dropped);

    for (i = 0; i < OIE_REJECT_N; i++) {
        p = ngx_slprintf(p, end,
                         "oie_requests_rejected_total{reason=\"%s\"} %uA\n",
                         ngx_http_oie_reject_names[i], s->c.rejected[i]);
    }

    p = ngx_slprintf(p, end,
        "# HELP oie_ring_size_bytes Capacity of the shared-memory ring.\n"
        "# TYPE oie_ring_size_bytes gauge\n"
        "oie_ring_size_bytes %uL\n"
        "# HELP oie_ring_used_bytes Bytes waiting in the ring.\n"
        "# TYPE oie_ring_used_bytes gauge\n"
        "oie_ring_used_bytes %uL\n"
        "# HELP oie_ring_events Events waiting in the ring.\n"
        "# TYPE oie_ring_events gauge\n"
        "oie_ring_events %uL\n"
        "# HELP oie_sink_batches_total Batches delivered to the sink.\n"
        "# TYPE oie_sink_batches_total counter\n"
        "oie_sink_batches_total %uA\n"
        "# HELP oie_sink_rows_total Rows delivered to the sink.\n"
        "# TYPE oie_sink_rows_total counter\n"
        "oie_sink_rows_total %uA\n"
        "# HELP oie_sink_bytes_total Row bytes delivered to the sink.\n"
        "# TYPE oie_sink_bytes_total counter\n"
        "oie_sink_bytes_total %uA\n"
        "# HELP oie_sink_errors_total Batches the sink failed to take.\n"
        "# TYPE oie_sink_errors_total counter\n"
        "oie_sink_errors_total %uA\n",
        s->ring_size, s->ring_used, s->ring_records, s->c.batches,
        s->c.rows_delivered, s->c.bytes_delivered, s->c.sink_errors);

    if (ngx_http_oie_worker.omcf->drain_process && s->c.drain_pid) {
        p = ngx_slprintf(p, end,
            "# HELP oie_drain_idle_seconds Time since the drain process "
            "last drained the ring.\n"
            "# TYPE oie_drain_idle_seconds gauge\n"
            "oie_drain_idle_seconds %.3f\n",
            (double) ngx_http_oie_drain_idle(s) / 1000);
    }

    if (ngx_http_oie_worker.omcf->sink != OIE_SINK_BIGQUERY) {
        return p;
    }

    return ngx_slprintf(p, end,
        "# HELP oie_bigquery_uploads_total insertAll requests sent.\n"
        "# TYPE oie_bigquery_uploads_total counter\n"
        "oie_bigquery_uploads_total %uA\n"
        "# HELP oie_bigquery_upload_errors_total insertAll requests failed.\n"
        "# TYPE oie_bigquery_upload_errors_total counter\n"
        "oie_bigquery_upload_errors_total %uA\n"
        "# HELP oie_bigquery_retries_total insertAll retries.\n"
        "# TYPE oie_bigquery_retries_total counter\n"
        "oie_bigquery_retries_total %uA\n"
        "# HELP oie_bigquery_rows_accepted_total Rows BigQuery stored.\n"
        "# TYPE oie_bigquery_rows_accepted_total counter\n"
        "oie_bigquery_rows_accepted_total %uA\n"
        "# HELP oie_bigquery_rows_rejected_total Rows refused as invalid "
        "(dead letters).\n"
        "# TYPE oie_bigquery_rows_rejected_total counter\n"
        "oie_bigquery_rows_rejected_total %uA\n"
        "# HELP oie_bigquery_token_refreshes_total Access tokens fetched.\n"
        "# TYPE oie_bigquery_token_refreshes_total counter\n"
        "oie_bigquery_token_refreshes_total %uA\n"
        "# HELP oie_spool_rows_total Rows written to the spool.\n"
        "# TYPE oie_spool_rows_total counter\n"
        "oie_spool_rows_total %uA\n"
        "# HELP oie_spool_replayed_rows_total Rows replayed from the spool.\n"
        "# TYPE oie_spool_replayed_rows_total counter\n"
        "oie_spool_replayed_rows_total %uA\n"
        "# HELP oie_spool_bytes Bytes in spool files now.\n"
        "# TYPE oie_spool_bytes gauge\n"
        "oie_spool_bytes %O\n"
        "# HELP oie_spool_files Spool files now.\n"
        "# TYPE oie_spool_files gauge\n"
        "oie_spool_files %ui\n"
        "# HELP oie_spool_oldest_age_seconds Age of the oldest spool file.\n"
        "# TYPE oie_spool_oldest_age_seconds gauge\n"
        "oie_spool_oldest_age_seconds %T\n",
        s->c.uploads, s->c.upload_errors, s->c.retries, s->c.rows_accepted,
        s->c.rows_rejected, s->c.token_refreshes, s->c.rows_spooled,
        s->c.rows_replayed, s->spool_bytes, s->spool_files,
        s->spool_oldest ? ngx_time() - s->spool_oldest : (time_t) 0);
}


ngx_int_t
ngx_http_oie_status_handler(ngx_http_request_t *r)
{
    u_char                   *buf, *p;
    ngx_str_t                 type, fmt;
    ngx_http_oie_snapshot_t   s;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_oie_worker.sh == NULL) {
        return ngx_http_oie_reply_json(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "not running in a worker");
    }

    buf = ngx_pnalloc(r->pool, OIE_STATUS_MAX);
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_oie_snapshot(&s);

    if (ngx_http_arg(r, (u_char *) "format", 6, &fmt) == NGX_OK
        && fmt.len == 10 && ngx_strncmp(fmt.data, "prometheus", 10) == 0)
    {
        ngx_str_set(&type, "text/plain; version=0.0.4");
        p = ngx_http_oie_status_prometheus(buf, buf + OIE_STATUS_MAX, &s);

    } else {
        ngx_str_set(&type, "application/json");
        p = ngx_http_oie_status_json(buf, buf + OIE_STATUS_MAX, &s);
    }

    if (ngx_http_oie_add_header(r, "Cache-Control", "no-store") == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_oie_reply_buf(r, NGX_HTTP_OK, &type, buf, p - buf);
}
