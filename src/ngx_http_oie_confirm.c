/*
 * Click confirmation: a click on /r/ marks its lead in Redis; the first
 * pageview of the lead within oie_confirm_window takes the mark (by
 * script) and records a click_confirmed row, which the live score counts
 * too (ngx_http_oie_live.c).  Nothing here is awaited by a request.
 */

#include "ngx_http_oie_live.h"
#include "ngx_http_oie_classify.h"


#define OIE_LIVE_CLICKS_PREFIX  "oie:clicks:"
#define OIE_LIVE_BUCKET_MS      600000        /* one hash per 10 minutes */
/* the buckets that cover the longest oie_confirm_window and one more */
#define OIE_LIVE_BUCKETS_MAX                                                  \
    ((OIE_LIVE_CONFIRM_WINDOW_MAX + OIE_LIVE_BUCKET_MS - 1)                   \
     / OIE_LIVE_BUCKET_MS + 1)
#define OIE_LIVE_BUCKET_KEY_MAX (sizeof(OIE_LIVE_CLICKS_PREFIX)             \
                                 + NGX_INT64_LEN)
#define OIE_LIVE_MARKS_MAX      256
#define OIE_LIVE_MARKS_DELAY    10            /* ms marks wait, at most */


/* a pageview that may confirm a click: what its row needs */
typedef struct {
    u_char                      id[OIE_ID_MAX_LEN];
    size_t                      id_len;
    ngx_uint_t                  tries;
    ngx_str_t                   visitor_id;
    ngx_str_t                   ip;
    ngx_str_t                   user_agent;
    ngx_str_t                   traffic_class;
    ngx_str_t                   traffic_reasons;
    u_char                      data[1];
} ngx_http_oie_confirm_pending_t;


static void ngx_http_oie_confirm_mark(ngx_event_t *ev);
static void ngx_http_oie_confirm_take(ngx_http_oie_confirm_pending_t *cf);
static ngx_uint_t ngx_http_oie_confirm_buckets(void);
static void ngx_http_oie_confirm_answered(void *data, redisReply *reply,
    ngx_uint_t status);
static void ngx_http_oie_confirm_score(u_char *id, size_t len,
    const char *type, const char *traffic_class, size_t class_len,
    int64_t time_ms, ngx_log_t *log);


/*
 * KEYS: the lead hash, then the click buckets that may hold its mark.
 * ARGV: lead id, now (ms), the window.  Takes the lead's marks; answers
 * {click time, campaign} for the latest when it is within the window, else
 * nil.
 */
static const char  ngx_http_oie_confirm_script[] =
    "local t\n"
    "for i = 2, #KEYS do\n"
    "  local v = redis.call('HGET', KEYS[i], ARGV[1])\n"
    "  if v then\n"
    "    redis.call('HDEL', KEYS[i], ARGV[1])\n"
    "    if not t or tonumber(v) > tonumber(t) then t = v end\n"
    "  end\n"
    "end\n"
    "if not t or tonumber(ARGV[2]) - tonumber(t) > tonumber(ARGV[3]) then\n"
    "  return false\n"
    "end\n"
    "return {t, redis.call('HGET', KEYS[1], 'campaign') or ''}\n";


typedef struct {
    u_char                      id[OIE_ID_MAX_LEN];
    size_t                      len;
    int64_t                     ms;
} ngx_http_oie_confirm_mark_t;


static ngx_http_oie_identity_main_conf_t  *ngx_http_oie_confirm_imcf;
static ngx_http_oie_confirm_mark_t         ngx_http_oie_confirm_marks[
                                                        OIE_LIVE_MARKS_MAX];
static ngx_uint_t                          ngx_http_oie_confirm_nmarks;
static ngx_event_t                         ngx_http_oie_confirm_marks_ev;
static ngx_connection_t                    ngx_http_oie_confirm_dumb;
static int64_t                             ngx_http_oie_confirm_expired;
static int64_t                             ngx_http_oie_confirm_bucket;
static ngx_uint_t                          ngx_http_oie_confirm_use_eval;
static u_char                              ngx_http_oie_confirm_sha[41];
static ngx_uint_t                          ngx_http_oie_confirm_exiting;


ngx_int_t
ngx_http_oie_confirm_init(ngx_cycle_t *cycle,
    ngx_http_oie_identity_main_conf_t *imcf)
{
    ngx_http_oie_confirm_imcf = imcf;
    ngx_http_oie_confirm_exiting = 0;

    /* nginx's debug log takes an event's data for a connection */
    ngx_http_oie_confirm_dumb.fd = (ngx_socket_t) -1;

    if (ngx_http_oie_redis_script_sha(ngx_http_oie_confirm_script,
                                      sizeof(ngx_http_oie_confirm_script) - 1,
                                      ngx_http_oie_confirm_sha)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_oie_confirm_nmarks = 0;
    ngx_http_oie_confirm_marks_ev.handler = ngx_http_oie_confirm_mark;
    ngx_http_oie_confirm_marks_ev.data = &ngx_http_oie_confirm_dumb;
    ngx_http_oie_confirm_marks_ev.log = cycle->log;
    ngx_http_oie_confirm_marks_ev.cancelable = 1;

    return NGX_OK;
}


void
ngx_http_oie_confirm_exit(void)
{
    ngx_http_oie_confirm_exiting = 1;

    if (ngx_http_oie_confirm_marks_ev.timer_set) {
        ngx_del_timer(&ngx_http_oie_confirm_marks_ev);
    }

    ngx_http_oie_confirm_nmarks = 0;
}


/*
 * Click confirmation.  A click marks its lead in the hash of its 10-minute
 * bucket, "oie:clicks:<click time / 600000>" (field: lead id, value: click
 * time), which expires 40 minutes on.  The marks of 10 ms go in one HSET:
 * a mark costs Redis a hash insert, not a command and a round trip.
 */

void
ngx_http_oie_confirm_click(ngx_http_request_t *r, u_char *id, size_t len,
    const char *traffic_class)
{
    size_t  n;

    if (!ngx_http_oie_confirm_imcf->live || ngx_http_oie_confirm_exiting
        || len > OIE_ID_MAX_LEN)
    {
        return;
    }

    n = traffic_class ? ngx_strlen(traffic_class) : 0;

    /* a scanner's, a bot's or a prefetch's click awaits no person */
    if (!oie_score_traffic_counts(traffic_class, n)) {
        return;
    }

    /* a person's click counts at once (the definition's human clicks) */
    if (n == 5 && ngx_strncmp(traffic_class, "human", 5) == 0) {
        ngx_http_oie_confirm_score(id, len, "email_click", traffic_class, n,
                                   ngx_http_oie_now_msec(),
                                   r->connection->log);
    }

    ngx_memcpy(ngx_http_oie_confirm_marks[ngx_http_oie_confirm_nmarks].id, id,
               len);
    ngx_http_oie_confirm_marks[ngx_http_oie_confirm_nmarks].len = len;
    ngx_http_oie_confirm_marks[ngx_http_oie_confirm_nmarks].ms =
                                                     ngx_http_oie_now_msec();

    if (++ngx_http_oie_confirm_nmarks == OIE_LIVE_MARKS_MAX) {
        ngx_http_oie_confirm_mark(&ngx_http_oie_confirm_marks_ev);
        return;
    }

    /* the landing page comes much later than this: a round trip to Redis
     * every few milliseconds does for all the clicks in between */
    if (!ngx_http_oie_confirm_marks_ev.timer_set) {
        ngx_add_timer(&ngx_http_oie_confirm_marks_ev, OIE_LIVE_MARKS_DELAY);
    }
}


static void
ngx_http_oie_confirm_mark(ngx_event_t *ev)
{
    u_char       *p, key[OIE_LIVE_BUCKET_KEY_MAX], ttl[NGX_INT64_LEN];
    int          argc;
    int64_t      now, bucket;
    ngx_uint_t   i, done;
    const char  *argv[2 + 2 * OIE_LIVE_MARKS_MAX];
    size_t       argvlen[2 + 2 * OIE_LIVE_MARKS_MAX];
    u_char       buf[OIE_LIVE_MARKS_MAX * NGX_INT64_LEN];

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    /* one HSET per bucket the marks fall in: one, but at a bucket's end */
    for (done = 0; done < ngx_http_oie_confirm_nmarks; /* void */ ) {

        bucket = ngx_http_oie_confirm_marks[done].ms / OIE_LIVE_BUCKET_MS;

        argv[0] = "HSET";
        argvlen[0] = 4;
        argv[1] = (const char *) key;
        argvlen[1] = ngx_sprintf(key, OIE_LIVE_CLICKS_PREFIX "%L", bucket)
                     - key;
        argc = 2;
        p = buf;

        for (i = done; i < ngx_http_oie_confirm_nmarks; i++) {
            if (ngx_http_oie_confirm_marks[i].ms / OIE_LIVE_BUCKET_MS
                != bucket)
            {
                break;
            }

            argv[argc] = (const char *) ngx_http_oie_confirm_marks[i].id;
            argvlen[argc++] = ngx_http_oie_confirm_marks[i].len;

            argv[argc] = (const char *) p;
            argvlen[argc] = ngx_sprintf(p, "%L",
                                        ngx_http_oie_confirm_marks[i].ms)
                            - p;
            p += argvlen[argc++];
        }

        done = i;

        /* fire and forget: a lost mark only costs a confirmation */
        (void) ngx_http_oie_redis_send(NULL, NULL, 0, argc, argv, argvlen);

        /* the bucket expires when no mark in it can confirm anything; set
         * for each new bucket, and once a second (a Redis restarted
         * meanwhile gets it too) */
        now = ngx_http_oie_now_msec();

        if (bucket != ngx_http_oie_confirm_bucket
            || now - ngx_http_oie_confirm_expired >= 1000)
        {
            ngx_http_oie_confirm_bucket = bucket;
            ngx_http_oie_confirm_expired = now;

            /* the window and a bucket */
            argv[0] = "EXPIRE";
            argvlen[0] = 6;
            argv[2] = (const char *) ttl;
            argvlen[2] = ngx_sprintf(ttl, "%M",
                                     (ngx_http_oie_confirm_imcf->confirm_window
                                      + OIE_LIVE_BUCKET_MS) / 1000)
                         - ttl;

            (void) ngx_http_oie_redis_send(NULL, NULL, 0, 3, argv, argvlen);
        }
    }

    ngx_http_oie_confirm_nmarks = 0;
}


void
ngx_http_oie_confirm_pageview(ngx_http_request_t *r, u_char *id,
    size_t len, ngx_http_oie_event_t *ev)
{
    u_char                          *p;
    size_t                           ua;
    ngx_str_t                        ip, tc, tr;
    ngx_http_oie_confirm_pending_t  *cf;

    if (ngx_http_oie_client_ip(r, &ip) != NGX_OK) {
        return;
    }

    /* the confirmation is the pageview's: its class and reasons */
    tc = ngx_http_oie_live_row_str(&ev->row, "traffic_class");
    tr = ngx_http_oie_live_row_array(&ev->row, "traffic_reasons");

    ua = r->headers_in.user_agent
         ? ngx_min(r->headers_in.user_agent->value.len, 1024) : 0;

    cf = ngx_alloc(sizeof(ngx_http_oie_confirm_pending_t) + ev->visitor_id.len
                   + ip.len + ua + tc.len + tr.len,
                   r->connection->log);
    if (cf == NULL) {
        return;
    }

    ngx_memcpy(cf->id, id, len);
    cf->id_len = len;
    cf->tries = 0;

    p = cf->data;

    cf->visitor_id.data = p;
    cf->visitor_id.len = ev->visitor_id.len;

    if (ev->visitor_id.len) {
        p = ngx_cpymem(p, ev->visitor_id.data, ev->visitor_id.len);
    }

    cf->ip.data = p;
    cf->ip.len = ip.len;
    p = ngx_cpymem(p, ip.data, ip.len);

    cf->traffic_class.data = p;
    cf->traffic_class.len = tc.len;

    if (tc.len) {
        p = ngx_cpymem(p, tc.data, tc.len);
    }

    cf->traffic_reasons.data = p;
    cf->traffic_reasons.len = tr.len;

    if (tr.len) {
        p = ngx_cpymem(p, tr.data, tr.len);
    }

    cf->user_agent.data = p;
    cf->user_agent.len = ua;

    if (ua) {
        ngx_memcpy(p, r->headers_in.user_agent->value.data, ua);
    }

    ngx_http_oie_confirm_take(cf);
}


/* the click buckets a confirmation looks in: the window's, and one more */
static ngx_uint_t
ngx_http_oie_confirm_buckets(void)
{
    return (ngx_http_oie_confirm_imcf->confirm_window + OIE_LIVE_BUCKET_MS - 1)
           / OIE_LIVE_BUCKET_MS + 1;
}


/* takes the lead's mark, if any, with the confirm script */
static void
ngx_http_oie_confirm_take(ngx_http_oie_confirm_pending_t *cf)
{
    u_char       lkey[sizeof(OIE_LEAD_KEY_PREFIX) + OIE_ID_MAX_LEN];
    u_char       bkeys[OIE_LIVE_BUCKETS_MAX][OIE_LIVE_BUCKET_KEY_MAX];
    u_char       now[NGX_INT64_LEN], nkeys[NGX_INT_T_LEN];
    u_char       window[NGX_INT64_LEN];
    int          argc;
    int64_t      ms, bucket;
    ngx_uint_t   i, n;
    const char  *argv[7 + OIE_LIVE_BUCKETS_MAX];
    size_t       argvlen[7 + OIE_LIVE_BUCKETS_MAX];

    argc = ngx_http_oie_redis_script_call(argv, argvlen,
               ngx_http_oie_confirm_use_eval, ngx_http_oie_confirm_script,
               sizeof(ngx_http_oie_confirm_script) - 1,
               ngx_http_oie_confirm_sha);

    /* a mark at most the window old is in one of the n latest buckets */
    n = ngx_http_oie_confirm_buckets();

    argv[argc] = (const char *) nkeys;
    argvlen[argc++] = ngx_sprintf(nkeys, "%ui", 1 + n) - nkeys;

    argv[argc] = (const char *) lkey;
    argvlen[argc++] = ngx_cpymem(ngx_cpymem(lkey, OIE_LEAD_KEY_PREFIX,
                                            sizeof(OIE_LEAD_KEY_PREFIX) - 1),
                                 cf->id, cf->id_len)
                      - lkey;

    ms = ngx_http_oie_now_msec();
    bucket = ms / OIE_LIVE_BUCKET_MS;

    for (i = 0; i < n; i++) {
        argv[argc] = (const char *) bkeys[i];
        argvlen[argc++] = ngx_sprintf(bkeys[i], OIE_LIVE_CLICKS_PREFIX "%L",
                                      bucket - (int64_t) i)
                          - bkeys[i];
    }

    argv[argc] = (const char *) cf->id;
    argvlen[argc++] = cf->id_len;
    argv[argc] = (const char *) now;
    argvlen[argc++] = ngx_sprintf(now, "%L", ms) - now;
    argv[argc] = (const char *) window;
    argvlen[argc++] = ngx_sprintf(window, "%M",
                                  ngx_http_oie_confirm_imcf->confirm_window)
                      - window;

    if (ngx_http_oie_redis_send(ngx_http_oie_confirm_answered, cf, 0, argc,
                                argv, argvlen)
        == NULL)
    {
        ngx_free(cf);
    }
}


static void
ngx_http_oie_confirm_answered(void *data, redisReply *reply, ngx_uint_t status)
{
    ngx_http_oie_confirm_pending_t  *cf = data;

    u_char                 cls[16];
    redisReply            *camp;
    ngx_http_oie_click_t   ck;

    if (status == OIE_REDIS_REPLY && reply->type == REDIS_REPLY_ERROR
        && reply->len >= 8 && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0
        && cf->tries++ == 0 && !ngx_http_oie_confirm_exiting)
    {
        /* Redis restarted, or flushed its scripts: EVAL loads it */
        ngx_http_oie_confirm_use_eval = 1;
        ngx_http_oie_confirm_take(cf);
        return;
    }

    /* nil: no click waits for this lead */
    if (status != OIE_REDIS_REPLY || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2 || ngx_http_oie_confirm_exiting)
    {
        if (status == OIE_REDIS_REPLY && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "oie: click confirmation: redis answered \"%*s\"",
                          (size_t) reply->len, reply->str);
        }

        ngx_free(cf);
        return;
    }

    ngx_http_oie_confirm_use_eval = 0;

    ngx_memzero(&ck, sizeof(ngx_http_oie_click_t));

    ck.type = "click_confirmed";
    ck.time_ms = ngx_http_oie_now_msec();
    ck.lead_id.data = cf->id;
    ck.lead_id.len = cf->id_len;
    ck.outcome = "ok";
    ck.visitor_id = cf->visitor_id;
    ck.ip = cf->ip;
    ck.user_agent = cf->user_agent;
    ck.traffic_reasons = cf->traffic_reasons;

    /* a NUL-terminated copy of the class (it is one of five words) */
    if (cf->traffic_class.len && cf->traffic_class.len < sizeof(cls)) {
        ngx_cpystrn(cls, cf->traffic_class.data, cf->traffic_class.len + 1);
        ck.traffic_class = (const char *) cls;
    }

    camp = reply->element[1];

    if (camp->type == REDIS_REPLY_STRING) {
        ck.campaign.data = (u_char *) camp->str;
        ck.campaign.len = camp->len;
    }

    (void) ngx_http_oie_click_push(ngx_cycle->log, &ck);

    ngx_http_oie_confirm_score(cf->id, cf->id_len, "click_confirmed",
                               (const char *) cf->traffic_class.data,
                               cf->traffic_class.len, ck.time_ms,
                               ngx_cycle->log);

    ngx_free(cf);
}


/* a click (a person's) or its confirmation, for the lead's live score */
static void
ngx_http_oie_confirm_score(u_char *id, size_t len, const char *type,
    const char *traffic_class, size_t class_len, int64_t time_ms,
    ngx_log_t *log)
{
    oie_score_event_t  sev;

    ngx_memzero(&sev, sizeof(oie_score_event_t));
    sev.type.data = type;
    sev.type.len = ngx_strlen(type);
    sev.outcome.data = "ok";
    sev.outcome.len = 2;
    sev.traffic_class.data = traffic_class;
    sev.traffic_class.len = class_len;
    sev.scroll_depth = -1;
    sev.engaged_ms = -1;
    sev.time_ms = time_ms;

    ngx_http_oie_live_enqueue(id, len, &sev, log);
}
