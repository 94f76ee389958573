/*
 * oie spool replay: rows into insertAll requests, the answers read as the
 * module reads them (src/ngx_http_oie_bq_answer.c), retries with
 * backoff, and the summary.
 */

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "oie_replay.h"


#define OIE_REPLAY_OK       0
#define OIE_REPLAY_RETRY    1
#define OIE_REPLAY_STOP     2

#define OIE_BACKOFF_BASE    0.5
#define OIE_BACKOFF_MAX     30.0


static const char  oie_replay_head[] =
    "{\"kind\":\"bigquery#tableDataInsertAllRequest\","
    "\"skipInvalidRows\":false,\"ignoreUnknownValues\":false,\"rows\":[";


static void
oie_replay_sleep(double seconds)
{
    double           end, left;
    struct timespec  ts;

    end = oie_now() + seconds;

    while (!oie_bq_interrupted && (left = end - oie_now()) > 0) {
        left = left > 0.1 ? 0.1 : left;
        ts.tv_sec = 0;
        ts.tv_nsec = (long) (left * 1e9);
        nanosleep(&ts, NULL);
    }
}


/* the insertAll body for the rows of send[] */
static char *
oie_replay_body(oie_rrow_t *rows, size_t *send, size_t k, size_t *len)
{
    FILE        *fp;
    char        *buf;
    size_t       i;
    oie_rrow_t  *row;

    fp = open_memstream(&buf, len);
    if (fp == NULL) {
        oie_error("out of memory");
        exit(OIE_EXIT_INTERNAL);
    }

    fputs(oie_replay_head, fp);

    for (i = 0; i < k; i++) {
        row = &rows[send[i]];

        fputs(i ? ",{" : "{", fp);

        if (row->insert_id) {
            fputs("\"insertId\":", fp);
            oie_json_string(fp, row->insert_id, strlen(row->insert_id));
            fputc(',', fp);
        }

        fputs("\"json\":", fp);
        fwrite(row->row, 1, row->row_len, fp);
        fputc('}', fp);
    }

    fputs("]}", fp);

    if (fclose(fp) != 0) {
        oie_error("out of memory");
        exit(OIE_EXIT_INTERNAL);
    }

    return buf;
}


/* 200 with insertErrors: invalid rows dead, stopped rows again, the rest in */
static int
oie_replay_insert_errors(oie_replay_t *r, oie_rrow_t *rows, size_t *send,
    size_t k, json_t *errors)
{
    char        *text;
    size_t       i, j, index, invalid, stopped;
    json_t      *e, *list;
    const char  *reason;
    int         *state;

    state = oie_xmalloc(k * sizeof(int));

    for (i = 0; i < k; i++) {
        state[i] = OIE_ROW_DONE;
    }

    for (i = 0; i < json_array_size(errors); i++) {
        e = json_array_get(errors, i);
        list = json_object_get(e, "errors");

        if (!json_is_integer(json_object_get(e, "index"))) {
            continue;
        }

        index = (size_t) json_integer_value(json_object_get(e, "index"));

        if (index >= k) {
            continue;
        }

        state[index] = OIE_ROW_PENDING;

        for (j = 0; j < json_array_size(list); j++) {
            reason = json_string_value(
                         json_object_get(json_array_get(list, j), "reason"));

            if (reason == NULL || strcmp(reason, "stopped") != 0) {
                state[index] = OIE_ROW_DEAD;
            }
        }

        if (state[index] == OIE_ROW_DEAD) {
            text = json_dumps(list, JSON_COMPACT);
            free(rows[send[index]].error);
            rows[send[index]].error = text;
        }
    }

    invalid = 0;
    stopped = 0;

    for (i = 0; i < k; i++) {
        rows[send[i]].state = state[i];
        invalid += state[i] == OIE_ROW_DEAD;
        stopped += state[i] == OIE_ROW_PENDING;
        r->accepted += state[i] == OIE_ROW_DONE;
    }

    r->rejected += invalid;
    free(state);

    if (invalid) {
        oie_warn("BigQuery refused %zu of %zu rows as invalid%s", invalid, k,
                 r->dead_mode ? "" : "; kept in the dead-letter file");
    }

    /* stopped rows without an invalid one: BigQuery did not say why */
    return (stopped && !invalid) ? OIE_REPLAY_RETRY : OIE_REPLAY_OK;
}


/* one answer to insertAll, read; why tells what went wrong */
static int
oie_replay_answer(oie_replay_t *r, oie_rrow_t *rows, size_t *send, size_t k,
    oie_http_t *res, char *why, size_t size)
{
    int          rc;
    char         reason[64], *text;
    size_t       i;
    json_t      *root, *errors;

    oie_bq_reason(res, reason, sizeof(reason));
    snprintf(why, size, "HTTP %ld%s%s", res->status, reason[0] ? " " : "",
             reason);

    switch (res->status) {

    case 200:
        root = json_loadb(res->body, res->len, 0, NULL);
        errors = json_object_get(root, "insertErrors");

        if (root == NULL || (errors && !json_is_array(errors))) {
            json_decref(root);
            snprintf(why, size, "HTTP 200 with an answer that is not "
                     "insertAll's");
            return OIE_REPLAY_RETRY;
        }

        if (json_array_size(errors)) {
            rc = oie_replay_insert_errors(r, rows, send, k, errors);
            json_decref(root);
            snprintf(why, size, "rows stopped without an invalid row");
            return rc;
        }

        json_decref(root);

        for (i = 0; i < k; i++) {
            rows[send[i]].state = OIE_ROW_DONE;
        }

        r->accepted += k;
        return OIE_REPLAY_OK;

    case 400:
        /* the request refused as a whole: its rows are dead letters, with
         * BigQuery's answer as the reason */
        root = json_loadb(res->body, res->len, 0, NULL);
        text = root ? json_dumps(root, JSON_COMPACT) : NULL;
        json_decref(root);

        if (text == NULL) {
            root = json_stringn(res->body, res->len);
            text = root ? json_dumps(root, JSON_ENCODE_ANY)
                        : oie_xstrdup("null");
            json_decref(root);
        }

        for (i = 0; i < k; i++) {
            free(rows[send[i]].error);
            rows[send[i]].error = oie_xstrdup(text);
            rows[send[i]].state = OIE_ROW_DEAD;
        }

        free(text);
        r->rejected += k;
        oie_warn("BigQuery refused a request of %zu rows: %s", k, why);
        return OIE_REPLAY_OK;

    case 401:
        oie_bq_token_forget(&r->bq);
        return OIE_REPLAY_RETRY;

    case 403:
        return strcmp(reason, "rateLimitExceeded") == 0 ? OIE_REPLAY_RETRY
                                                        : OIE_REPLAY_STOP;

    case 404:
        snprintf(why + strlen(why), size - strlen(why),
                 " (does the table exist? see sql/README.md)");
        return OIE_REPLAY_STOP;

    case 413:
        snprintf(why + strlen(why), size - strlen(why),
                 " (try a smaller --batch)");
        return OIE_REPLAY_STOP;

    case 408:
    case 429:
        return OIE_REPLAY_RETRY;

    default:
        return res->status >= 500 ? OIE_REPLAY_RETRY : OIE_REPLAY_STOP;
    }
}


/* sends one batch until every row is in, dead, or BigQuery keeps failing */
static int
oie_replay_batch(oie_replay_t *r, oie_rrow_t *rows, size_t *idx, size_t n,
    int table)
{
    int          rc;
    char        *body, why[512], reason[64];
    size_t       i, k, len, *send;
    double       delay;
    unsigned     failures;
    oie_http_t   res;

    send = oie_xmalloc(n * sizeof(size_t));
    failures = 0;

    for ( ;; ) {
        for (i = 0, k = 0; i < n; i++) {
            if (rows[idx[i]].state == OIE_ROW_PENDING) {
                send[k++] = idx[i];
            }
        }

        if (k == 0) {
            free(send);
            return OIE_EXIT_OK;
        }

        if (oie_bq_interrupted) {
            free(send);
            return OIE_EXIT_INTERRUPTED;
        }

        if (oie_bq_token(&r->bq, &res) != 0) {
            if (res.failed) {
                snprintf(why, sizeof(why), "token endpoint %s: %s",
                         r->bq.token_endpoint, res.error);
                rc = OIE_REPLAY_RETRY;

            } else {
                oie_bq_reason(&res, reason, sizeof(reason));
                snprintf(why, sizeof(why), "token endpoint %s: HTTP %ld%s%s",
                         r->bq.token_endpoint, res.status,
                         reason[0] ? " " : "", reason);
                rc = (res.status >= 500 || res.status == 429
                      || res.status == 408) ? OIE_REPLAY_RETRY
                                            : OIE_REPLAY_STOP;
            }

            oie_http_free(&res);
            goto failed;
        }

        body = oie_replay_body(rows, send, k, &len);

        r->requests++;
        rc = oie_bq_insert(&r->bq, oie_spool_tables[table], body, len, &res);
        free(body);

        if (rc != 0) {
            snprintf(why, sizeof(why), "%s", res.error);
            rc = OIE_REPLAY_RETRY;

        } else {
            rc = oie_replay_answer(r, rows, send, k, &res, why, sizeof(why));
        }

        oie_http_free(&res);

        if (rc == OIE_REPLAY_OK) {
            failures = 0;
            continue;
        }

    failed:

        if (oie_bq_interrupted) {
            free(send);
            return OIE_EXIT_INTERRUPTED;
        }

        if (rc == OIE_REPLAY_STOP || ++failures >= r->attempts) {
            oie_error("insertAll of %zu rows into %s failed%s: %s", k,
                      oie_spool_tables[table],
                      rc == OIE_REPLAY_STOP ? "" : " on every attempt", why);
            r->stopped = 1;
            free(send);
            return OIE_EXIT_BIGQUERY;
        }

        /* exponential, with jitter from half to the whole */
        delay = OIE_BACKOFF_BASE * (double) (1u << (failures - 1));
        delay = delay > OIE_BACKOFF_MAX ? OIE_BACKOFF_MAX : delay;
        delay = delay / 2 + delay / 2 * ((double) rand() / RAND_MAX);

        r->retries++;
        oie_info("insertAll of %zu rows into %s: %s; again in %.1f s "
                 "(attempt %u of %u)", k, oie_spool_tables[table], why,
                 delay, failures + 1, r->attempts);

        oie_replay_sleep(delay);
    }
}


int
oie_replay_send(oie_replay_t *r, oie_rrow_t *rows, size_t n)
{
    int      t, rc;
    size_t   i, k, bytes, *idx;

    idx = oie_xmalloc((n ? n : 1) * sizeof(size_t));

    for (t = 0; t < OIE_TABLES; t++) {
        k = 0;
        bytes = 0;

        for (i = 0; i <= n; i++) {
            if (i < n && (rows[i].state != OIE_ROW_PENDING
                          || rows[i].table != t))
            {
                continue;
            }

            if (k && (i == n || k == r->batch
                      || bytes + rows[i].row_len + 64 > OIE_REPLAY_MAX_BYTES))
            {
                rc = oie_replay_batch(r, rows, idx, k, t);

                if (rc != OIE_EXIT_OK) {
                    free(idx);
                    return rc;
                }

                k = 0;
                bytes = 0;
            }

            if (i < n) {
                idx[k++] = i;
                bytes += rows[i].row_len + 64;
            }
        }
    }

    free(idx);

    return OIE_EXIT_OK;
}


int
oie_replay_summary(oie_replay_t *r)
{
    size_t  rows;

    rows = r->rows[0] + r->rows[1];

    if (r->reported > OIE_MAX_REPORTED) {
        oie_error("... and %zu more malformed lines",
                  r->reported - OIE_MAX_REPORTED);
    }

    if (r->dry_run) {
        fprintf(stderr, "oie: spool replay --dry-run%s: %zu files, "
                "%zu skipped; would send %zu rows (events %zu, email_clicks "
                "%zu); %zu malformed lines; nothing changed\n",
                r->dead_mode ? " --dead-letter" : "", r->files, r->skipped,
                rows, r->rows[0], r->rows[1], r->malformed);

        return r->io_failed ? OIE_EXIT_IO
               : r->malformed ? OIE_EXIT_DATA : OIE_EXIT_OK;
    }

    fprintf(stderr, "oie: spool replay%s: %zu files (%zu emptied, %zu put "
            "back, %zu skipped); %zu rows (events %zu, email_clicks %zu): "
            "%zu accepted, %zu rejected%s, %zu malformed%s, %zu not sent; "
            "%zu requests, %zu retries%s\n",
            r->dead_mode ? " --dead-letter" : "", r->files, r->files_deleted,
            r->files_back, r->skipped, rows, r->rows[0], r->rows[1],
            r->accepted, r->rejected,
            r->dead_mode ? " (kept)" : " (dead letter)", r->malformed,
            r->dead_mode ? " (kept)" : " (dead letter)", r->unsent,
            r->requests, r->retries,
            oie_bq_interrupted ? "; interrupted" : "");

    if (oie_bq_interrupted) {
        return OIE_EXIT_INTERRUPTED;
    }

    if (r->stopped) {
        return OIE_EXIT_BIGQUERY;
    }

    if (r->io_failed) {
        return OIE_EXIT_IO;
    }

    return (r->rejected || r->malformed) ? OIE_EXIT_DATA : OIE_EXIT_OK;
}
