/*
 * Hot-lead alerts: oie_alert webhook=URL threshold=70.
 *
 * When a live score update leaves a lead at or above the threshold, the
 * first worker (of any server) to claim "oie:alerted:<id>:<UTC day>" with
 * SET NX sends the alert; so a lead is announced at most once a day, as
 * soon as it crosses.  The alert is a JSON POST to the webhook, made with
 * libcurl on the event loop (ngx_http_oie_curl.h): the lead's fields (never
 * its email or hashes), the score and level, and the pages it saw last.
 * A failure (no answer, not 2xx) is retried with exponential backoff and
 * jitter, retries= times; then the alert is logged as lost.
 */

#include "ngx_http_oie_identity.h"
#include "ngx_http_oie_curl.h"

#include <jansson.h>


#define OIE_ALERT_KEY_PREFIX    "oie:alerted:"
#define OIE_ALERT_PAGES_PREFIX  "oie:pages:"
#define OIE_ALERT_BACKOFF       1000        /* ms, the first retry */
#define OIE_ALERT_MAX_INFLIGHT  256


typedef struct {
    ngx_queue_t                 queue;
    ngx_event_t                 retry;
    ngx_http_oie_curl_req_t    *req;
    struct curl_slist          *headers;
    char                       *body;
    ngx_uint_t                  attempts;
    ngx_uint_t                  score;
    const char                 *level;
    ngx_uint_t                  waiting;      /* Redis replies to come */
    json_t                     *lead;
    json_t                     *pages;
    u_char                      id[OIE_ID_MAX_LEN];
    size_t                      id_len;
} ngx_http_oie_alert_t;


static void ngx_http_oie_alert_claimed(void *data, redisReply *reply,
    ngx_uint_t status);
static void ngx_http_oie_alert_lead(void *data, redisReply *reply,
    ngx_uint_t status);
static void ngx_http_oie_alert_pages(void *data, redisReply *reply,
    ngx_uint_t status);
static void ngx_http_oie_alert_gathered(ngx_http_oie_alert_t *a);
static void ngx_http_oie_alert_send(ngx_http_oie_alert_t *a);
static void ngx_http_oie_alert_done(ngx_http_oie_curl_req_t *req);
static void ngx_http_oie_alert_retry(ngx_event_t *ev);
static void ngx_http_oie_alert_free(ngx_http_oie_alert_t *a);


static ngx_http_oie_alert_conf_t  *ngx_http_oie_alert_conf;
static ngx_queue_t                 ngx_http_oie_alerts;
static ngx_uint_t                  ngx_http_oie_alert_n;
static ngx_uint_t                  ngx_http_oie_alert_exiting;
static ngx_log_t                  *ngx_http_oie_alert_log;


ngx_int_t
ngx_http_oie_alert_init(ngx_cycle_t *cycle,
    ngx_http_oie_identity_main_conf_t *imcf)
{
    ngx_queue_init(&ngx_http_oie_alerts);
    ngx_http_oie_alert_n = 0;
    ngx_http_oie_alert_exiting = 0;
    ngx_http_oie_alert_log = cycle->log;

    if (imcf->alert.webhook.len == 0) {
        return NGX_OK;
    }

    ngx_http_oie_alert_conf = &imcf->alert;

    return ngx_http_oie_curl_init(cycle);
}


void
ngx_http_oie_alert_exit(ngx_cycle_t *cycle)
{
    ngx_queue_t           *q;
    ngx_http_oie_alert_t  *a;

    if (ngx_http_oie_alert_conf == NULL) {
        return;
    }

    ngx_http_oie_alert_exiting = 1;

    while (!ngx_queue_empty(&ngx_http_oie_alerts)) {
        q = ngx_queue_head(&ngx_http_oie_alerts);
        a = ngx_queue_data(q, ngx_http_oie_alert_t, queue);

        if (a->waiting) {
            /* Redis answers it "down" when it goes: it is freed then */
            ngx_queue_remove(q);
            ngx_queue_init(q);
            continue;
        }

        if (a->attempts) {
            ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                          "oie: alert for lead \"%*s\" not delivered: the "
                          "worker is exiting", a->id_len, a->id);
        }

        ngx_http_oie_alert_free(a);
    }

    /* the BigQuery sink may have closed it already; this is then a no-op */
    ngx_http_oie_curl_exit(cycle);
}


/* called after a live score update left the lead at or above threshold */

void
ngx_http_oie_alert_maybe(u_char *id, size_t len, ngx_uint_t score,
    const char *level)
{
    u_char                *p, key[sizeof(OIE_ALERT_KEY_PREFIX)
                                  + OIE_ID_MAX_LEN + 16];
    u_char                 val[NGX_INT_T_LEN];
    ngx_tm_t               tm;
    const char            *argv[6];
    size_t                 argvlen[6];
    ngx_http_oie_alert_t  *a;

    if (ngx_http_oie_alert_conf == NULL || ngx_http_oie_alert_exiting
        || len > OIE_ID_MAX_LEN)
    {
        return;
    }

    if (ngx_http_oie_alert_n >= OIE_ALERT_MAX_INFLIGHT) {
        ngx_log_error(NGX_LOG_WARN, ngx_http_oie_alert_log, 0,
                      "oie: %ui alerts in flight, lead \"%*s\" not claimed "
                      "now", ngx_http_oie_alert_n, len, id);
        return;
    }

    a = ngx_calloc(sizeof(ngx_http_oie_alert_t), ngx_http_oie_alert_log);
    if (a == NULL) {
        return;
    }

    ngx_memcpy(a->id, id, len);
    a->id_len = len;
    a->score = score;
    a->level = level;

    ngx_queue_insert_tail(&ngx_http_oie_alerts, &a->queue);
    ngx_http_oie_alert_n++;

    ngx_gmtime(ngx_time(), &tm);

    p = ngx_cpymem(key, OIE_ALERT_KEY_PREFIX,
                   sizeof(OIE_ALERT_KEY_PREFIX) - 1);
    p = ngx_cpymem(p, id, len);
    p = ngx_sprintf(p, ":%04d%02d%02d", tm.ngx_tm_year, tm.ngx_tm_mon,
                    tm.ngx_tm_mday);

    argv[0] = "SET";
    argvlen[0] = 3;
    argv[1] = (const char *) key;
    argvlen[1] = p - key;
    argv[2] = (const char *) val;
    argvlen[2] = ngx_sprintf(val, "%ui", score) - val;
    argv[3] = "NX";
    argvlen[3] = 2;
    argv[4] = "EX";
    argvlen[4] = 2;
    argv[5] = "172800";
    argvlen[5] = 6;

    a->waiting = 1;

    if (ngx_http_oie_redis_send(ngx_http_oie_alert_claimed, a, 0, 6, argv,
                                argvlen)
        == NULL)
    {
        a->waiting = 0;
        ngx_http_oie_alert_free(a);
    }
}


static void
ngx_http_oie_alert_claimed(void *data, redisReply *reply, ngx_uint_t status)
{
    ngx_http_oie_alert_t  *a = data;

    u_char       lkey[sizeof(OIE_LEAD_KEY_PREFIX) + OIE_ID_MAX_LEN];
    u_char       pkey[sizeof(OIE_ALERT_PAGES_PREFIX) + OIE_ID_MAX_LEN];
    u_char       last[NGX_INT_T_LEN];
    const char  *argv[4];
    size_t       argvlen[4];

    a->waiting = 0;

    if (status != OIE_REDIS_REPLY || reply->type != REDIS_REPLY_STATUS
        || ngx_http_oie_alert_exiting)
    {
        /* nil: announced today already (here or by another server) */
        ngx_http_oie_alert_free(a);
        return;
    }

    argv[0] = "HGETALL";
    argvlen[0] = 7;
    argv[1] = (const char *) lkey;
    argvlen[1] = ngx_cpymem(ngx_cpymem(lkey, OIE_LEAD_KEY_PREFIX,
                                       sizeof(OIE_LEAD_KEY_PREFIX) - 1),
                            a->id, a->id_len)
                 - lkey;

    if (ngx_http_oie_redis_send(ngx_http_oie_alert_lead, a, 0, 2, argv,
                                argvlen)
        != NULL)
    {
        a->waiting++;
    }

    argv[0] = "LRANGE";
    argvlen[0] = 6;
    argv[1] = (const char *) pkey;
    argvlen[1] = ngx_cpymem(ngx_cpymem(pkey, OIE_ALERT_PAGES_PREFIX,
                                       sizeof(OIE_ALERT_PAGES_PREFIX) - 1),
                            a->id, a->id_len)
                 - pkey;
    argv[2] = "0";
    argvlen[2] = 1;
    argv[3] = (const char *) last;
    argvlen[3] = ngx_sprintf(last, "%i",
                             (ngx_int_t) ngx_http_oie_alert_conf->pages - 1)
                 - last;

    if (ngx_http_oie_redis_send(ngx_http_oie_alert_pages, a, 0, 4, argv,
                                argvlen)
        != NULL)
    {
        a->waiting++;
    }

    if (a->waiting == 0) {
        ngx_http_oie_alert_gathered(a);
    }
}


static void
ngx_http_oie_alert_lead(void *data, redisReply *reply, ngx_uint_t status)
{
    ngx_http_oie_alert_t  *a = data;

    size_t       i;
    json_t      *v;
    redisReply  *k, *val;

    if (status == OIE_REDIS_REPLY && reply->type == REDIS_REPLY_ARRAY) {
        a->lead = json_object();

        for (i = 0; a->lead && i + 1 < reply->elements; i += 2) {
            k = reply->element[i];
            val = reply->element[i + 1];

            if (k->type != REDIS_REPLY_STRING
                || val->type != REDIS_REPLY_STRING
                || (k->len >= 5
                    && ngx_strncasecmp((u_char *) k->str,
                                       (u_char *) "email", 5) == 0)
                || (k->len >= 4
                    && ngx_strncasecmp((u_char *) k->str + k->len - 4,
                                       (u_char *) "hash", 4) == 0))
            {
                continue;
            }

            /* NULL when the value is not UTF-8: that field is left out */
            v = json_stringn(val->str, val->len);

            if (v != NULL) {
                (void) json_object_setn_new(a->lead, k->str, k->len, v);
            }
        }
    }

    if (--a->waiting == 0) {
        ngx_http_oie_alert_gathered(a);
    }
}


static void
ngx_http_oie_alert_pages(void *data, redisReply *reply, ngx_uint_t status)
{
    ngx_http_oie_alert_t  *a = data;

    size_t  i;

    if (status == OIE_REDIS_REPLY && reply->type == REDIS_REPLY_ARRAY) {
        a->pages = json_array();

        for (i = 0; a->pages && i < reply->elements; i++) {
            if (reply->element[i]->type == REDIS_REPLY_STRING) {
                (void) json_array_append_new(a->pages,
                                 json_stringn(reply->element[i]->str,
                                              reply->element[i]->len));
            }
        }
    }

    if (--a->waiting == 0) {
        ngx_http_oie_alert_gathered(a);
    }
}


static void
ngx_http_oie_alert_gathered(ngx_http_oie_alert_t *a)
{
    u_char  *p, t[OIE_ISO_TIME_LEN];
    json_t  *root;

    if (ngx_http_oie_alert_exiting) {
        ngx_http_oie_alert_free(a);
        return;
    }

    /* a time in quotes: the closing one becomes the end of the string */
    p = ngx_http_oie_iso_time(t, ngx_http_oie_now_msec());
    p[-1] = '\0';

    root = json_pack("{s:s, s:s#, s:I, s:s, s:I, s:s, s:O?, s:O?}",
                     "type", "hot_lead",
                     "leadId", (char *) a->id, (int) a->id_len,
                     "score", (json_int_t) a->score,
                     "level", a->level,
                     "threshold",
                     (json_int_t) ngx_http_oie_alert_conf->threshold,
                     "at", (char *) t + 1,
                     "lead", a->lead,
                     "recentPages", a->pages);

    if (root == NULL) {
        ngx_log_error(NGX_LOG_ERR, ngx_http_oie_alert_log, 0,
                      "oie: cannot build the alert of lead \"%*s\"",
                      a->id_len, a->id);
        ngx_http_oie_alert_free(a);
        return;
    }

    a->body = json_dumps(root, JSON_COMPACT);
    json_decref(root);

    if (a->body == NULL) {
        ngx_http_oie_alert_free(a);
        return;
    }

    a->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (a->headers == NULL) {
        ngx_http_oie_alert_free(a);
        return;
    }

    ngx_http_oie_alert_send(a);
}


static void
ngx_http_oie_alert_send(ngx_http_oie_alert_t *a)
{
    ngx_http_oie_curl_req_t  *req;

    req = ngx_http_oie_curl_create(ngx_http_oie_alert_log);
    if (req == NULL) {
        ngx_http_oie_alert_free(a);
        return;
    }

    ngx_str_set(&req->method, "POST");
    req->url = ngx_http_oie_alert_conf->webhook;
    req->body.data = (u_char *) a->body;
    req->body.len = ngx_strlen(a->body);
    req->headers = a->headers;
    req->timeout = ngx_http_oie_alert_conf->timeout;
    req->connect_timeout = ngx_min(ngx_http_oie_alert_conf->timeout, 5000);
    req->done = ngx_http_oie_alert_done;
    req->data = a;

    a->req = req;
    a->attempts++;

    if (ngx_http_oie_curl_start(req) != NGX_OK) {
        ngx_http_oie_curl_free(req);
        a->req = NULL;
        ngx_log_error(NGX_LOG_ERR, ngx_http_oie_alert_log, 0,
                      "oie: alert for lead \"%*s\" not sent: libcurl "
                      "refused the request", a->id_len, a->id);
        ngx_http_oie_alert_free(a);
    }
}


static void
ngx_http_oie_alert_done(ngx_http_oie_curl_req_t *req)
{
    ngx_http_oie_alert_t  *a = req->data;

    ngx_msec_t  delay;

    a->req = NULL;

    if (req->result == CURLE_OK && req->status >= 200 && req->status < 300) {
        ngx_log_error(NGX_LOG_INFO, ngx_http_oie_alert_log, 0,
                      "oie: alert for lead \"%*s\" (score %ui) delivered",
                      a->id_len, a->id, a->score);
        ngx_http_oie_curl_free(req);
        ngx_http_oie_alert_free(a);
        return;
    }

    ngx_log_error(NGX_LOG_WARN, ngx_http_oie_alert_log, 0,
                  "oie: alert for lead \"%*s\", attempt %ui: %s (HTTP %l)",
                  a->id_len, a->id, a->attempts,
                  req->result == CURLE_OK ? "refused" : req->error,
                  req->status);

    ngx_http_oie_curl_free(req);

    if (ngx_http_oie_alert_exiting || ngx_exiting || ngx_quit
        || ngx_terminate || a->attempts > ngx_http_oie_alert_conf->retries)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_http_oie_alert_log, 0,
                      "oie: alert for lead \"%*s\" lost after %ui attempts",
                      a->id_len, a->id, a->attempts);
        ngx_http_oie_alert_free(a);
        return;
    }

    delay = OIE_ALERT_BACKOFF << ngx_min(a->attempts - 1, 6);
    delay = delay / 2 + (ngx_msec_t) ngx_random() % (delay / 2 + 1);

    a->retry.handler = ngx_http_oie_alert_retry;
    a->retry.data = a;
    a->retry.log = ngx_http_oie_alert_log;
    a->retry.cancelable = 1;
    ngx_add_timer(&a->retry, delay);
}


static void
ngx_http_oie_alert_retry(ngx_event_t *ev)
{
    ngx_http_oie_alert_send(ev->data);
}


static void
ngx_http_oie_alert_free(ngx_http_oie_alert_t *a)
{
    if (a->retry.timer_set) {
        ngx_del_timer(&a->retry);
    }

    if (a->req) {
        ngx_http_oie_curl_free(a->req);
    }

    if (a->headers) {
        curl_slist_free_all(a->headers);
    }

    if (a->body) {
        free(a->body);
    }

    if (a->lead) {
        json_decref(a->lead);
    }

    if (a->pages) {
        json_decref(a->pages);
    }

    ngx_queue_remove(&a->queue);
    ngx_http_oie_alert_n--;
    ngx_free(a);
}
