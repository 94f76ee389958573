/*
 * Live intent scores, in Redis, off the request's path.
 *
 * Every accepted page event of a known lead, and every confirmed click, is
 * folded into the lead's counters ("oie:score:<id>", the fields of
 * oie_score_input_t) by oie_score_apply(), the same code and definition the
 * warehouse uses; the score (oie_score_compute()) goes into the sorted set
 * "oie:hot".  A round trip reads the counters (HGETALL), applies the events
 * here, and writes with a script that first checks nobody changed them in
 * between (another worker, another server), else the round starts again.
 * The script also refuses ids that are not leads.  Within a worker the
 * rounds of one lead never overlap: events that come meanwhile wait for the
 * next round and go in together.  Nothing here is awaited by a request;
 * what cannot be written (Redis down, too much waiting) is counted, logged
 * and let go: the warehouse scores from the events themselves.
 *
 * Click confirmation (a click on /r/ marked in Redis, taken by the lead's
 * next pageview, recorded as a click_confirmed row) is in
 * ngx_http_oie_confirm.c; its rows are folded in here too.
 */

#include "ngx_http_oie_live.h"
#include "ngx_http_oie_classify.h"


#define OIE_LIVE_MAX_EVENTS     10000       /* waiting, per worker */
#define OIE_LIVE_MAX_TRIES      8
#define OIE_LIVE_TTL            (OIE_SCORE_WINDOW_DAYS * 86400)
#define OIE_LIVE_STR_MAX        2048
#define OIE_LIVE_HOT_KEY        "oie:hot"
#define OIE_LIVE_PAGES_PREFIX   "oie:pages:"
#define OIE_LIVE_PAGES_MAX      50
#define OIE_LIVE_ARGS           (9 + 3 * OIE_SCORE_NFIELDS + 2         \
                                 + OIE_LIVE_PAGES_MAX)


typedef struct ngx_http_oie_live_ev_s  ngx_http_oie_live_ev_t;

struct ngx_http_oie_live_ev_s {
    ngx_http_oie_live_ev_t     *next;
    oie_score_event_t           ev;           /* strings in data[] */
    u_char                      data[1];
};


typedef struct {
    ngx_rbtree_node_t           node;
    ngx_queue_t                 ready;        /* waiting for a round */
    u_char                      id[OIE_ID_MAX_LEN];
    size_t                      id_len;
    ngx_http_oie_live_ev_t     *queue;
    ngx_http_oie_live_ev_t    **last;
    ngx_http_oie_live_ev_t     *batch;        /* in this round */
    ngx_uint_t                  nevents;
    ngx_uint_t                  tries;
    ngx_uint_t                  score;        /* computed this round */
    unsigned                    busy:1;
    unsigned                    in_ready:1;
} ngx_http_oie_live_lead_t;


static void ngx_http_oie_live_observe(ngx_http_request_t *r,
    ngx_http_oie_event_t *ev);
static void ngx_http_oie_live_kick(ngx_event_t *ev);
static void ngx_http_oie_live_round(ngx_http_oie_live_lead_t *ll);
static void ngx_http_oie_live_fetched(void *data, redisReply *reply,
    ngx_uint_t status);
static void ngx_http_oie_live_written(void *data, redisReply *reply,
    ngx_uint_t status);
static void ngx_http_oie_live_finish(ngx_http_oie_live_lead_t *ll,
    const char *failure);
static ngx_http_oie_live_lead_t *ngx_http_oie_live_find(u_char *id,
    size_t len, uint32_t hash);
static void ngx_http_oie_live_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);


/*
 * KEYS: score hash, oie:hot, lead hash, recent pages list.  ARGV: lead id,
 * score, ttl, n, then n triples: field, value read (empty when absent),
 * value to write; then m, m page URLs (oldest first) and how many pages
 * the list keeps.  Answers 1 (written), 0 (changed since read: read
 * again), -1 (no such lead: nothing written).
 */
static const char  ngx_http_oie_live_script[] =
    "if redis.call('EXISTS', KEYS[3]) == 0 then return -1 end\n"
    "local n = tonumber(ARGV[4])\n"
    "local names = {}\n"
    "for i = 0, n - 1 do names[i + 1] = ARGV[5 + i * 3] end\n"
    "local cur = redis.call('HMGET', KEYS[1], unpack(names))\n"
    "local set = {}\n"
    "for i = 0, n - 1 do\n"
    "  if (cur[i + 1] or '') ~= ARGV[6 + i * 3] then return 0 end\n"
    "  set[#set + 1] = ARGV[5 + i * 3]\n"
    "  set[#set + 1] = ARGV[7 + i * 3]\n"
    "end\n"
    "redis.call('HSET', KEYS[1], unpack(set))\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[3])\n"
    "redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])\n"
    "local a = 5 + n * 3\n"
    "local m = tonumber(ARGV[a])\n"
    "if m > 0 then\n"
    "  for i = 1, m do redis.call('LPUSH', KEYS[4], ARGV[a + i]) end\n"
    "  redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[a + m + 1]) - 1)\n"
    "  redis.call('EXPIRE', KEYS[4], ARGV[3])\n"
    "end\n"
    "return 1\n";


static ngx_http_oie_identity_main_conf_t  *ngx_http_oie_live_imcf;
static ngx_connection_t                    ngx_http_oie_live_dumb;
static ngx_rbtree_t                        ngx_http_oie_live_tree;
static ngx_rbtree_node_t                   ngx_http_oie_live_sentinel;
static ngx_queue_t                         ngx_http_oie_live_ready;
static ngx_event_t                         ngx_http_oie_live_kick_ev;
static ngx_uint_t                          ngx_http_oie_live_events;
static ngx_uint_t                          ngx_http_oie_live_exiting;
static ngx_uint_t                          ngx_http_oie_live_use_eval;
static ngx_uint_t                          ngx_http_oie_live_dropped;
static time_t                              ngx_http_oie_live_logged;
static u_char                              ngx_http_oie_live_sha[41];


ngx_int_t
ngx_http_oie_live_init(ngx_cycle_t *cycle,
    ngx_http_oie_identity_main_conf_t *imcf)
{
    ngx_http_oie_live_imcf = imcf;
    ngx_http_oie_live_exiting = 0;
    ngx_http_oie_live_events = 0;

    ngx_rbtree_init(&ngx_http_oie_live_tree, &ngx_http_oie_live_sentinel,
                    ngx_http_oie_live_rbtree_insert);
    ngx_queue_init(&ngx_http_oie_live_ready);

    /* nginx's debug log takes an event's data for a connection */
    ngx_http_oie_live_dumb.fd = (ngx_socket_t) -1;

    ngx_http_oie_live_kick_ev.handler = ngx_http_oie_live_kick;
    ngx_http_oie_live_kick_ev.data = &ngx_http_oie_live_dumb;
    ngx_http_oie_live_kick_ev.log = cycle->log;

    if (ngx_http_oie_redis_script_sha(ngx_http_oie_live_script,
                                      sizeof(ngx_http_oie_live_script) - 1,
                                      ngx_http_oie_live_sha)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_oie_confirm_init(cycle, imcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (imcf->live) {
        ngx_http_oie_event_observer = ngx_http_oie_live_observe;
    }

    return NGX_OK;
}


void
ngx_http_oie_live_exit(ngx_cycle_t *cycle)
{
    ngx_queue_t               *q;
    ngx_http_oie_live_ev_t    *e, *next;
    ngx_http_oie_live_lead_t  *ll;

    ngx_http_oie_live_exiting = 1;

    if (ngx_http_oie_event_observer == ngx_http_oie_live_observe) {
        ngx_http_oie_event_observer = NULL;
    }

    ngx_http_oie_confirm_exit();

    if (ngx_http_oie_live_kick_ev.posted) {
        ngx_delete_posted_event(&ngx_http_oie_live_kick_ev);
    }

    /* rounds in flight were answered "down" when Redis went first */
    while (!ngx_queue_empty(&ngx_http_oie_live_ready)) {
        q = ngx_queue_head(&ngx_http_oie_live_ready);
        ll = ngx_queue_data(q, ngx_http_oie_live_lead_t, ready);

        ngx_queue_remove(q);
        ngx_rbtree_delete(&ngx_http_oie_live_tree, &ll->node);

        for (e = ll->queue; e; e = next) {
            next = e->next;
            ngx_free(e);
        }

        ngx_free(ll);
    }
}


/* the observer oie_track calls for each accepted event */

static void
ngx_http_oie_live_observe(ngx_http_request_t *r, ngx_http_oie_event_t *ev)
{
    size_t                              n;
    ngx_str_t                           lt, cn, tc;
    oie_score_event_t                   sev;
    oie_score_input_t                   scratch;
    ngx_http_oie_identity_loc_conf_t   *ilcf;

    if (ev->lead_id.len == 0) {
        return;
    }

    ilcf = ngx_http_get_module_loc_conf(r, ngx_http_oie_identity_module);

    /* an id the pixel took from a link: signed as the links are */
    if (ngx_http_oie_id_resolve(ilcf, ev->lead_id.data, ev->lead_id.len, &n)
        != OIE_IDR_OK)
    {
        return;
    }

    ngx_memzero(&sev, sizeof(oie_score_event_t));

    sev.type.data = (const char *) ev->type.data;
    sev.type.len = ev->type.len;
    sev.url.data = (const char *) ev->url.data;
    sev.url.len = ev->url.len;
    sev.video_action.data = (const char *) ev->video_action.data;
    sev.video_action.len = ev->video_action.len;
    sev.scroll_depth = ev->scroll_depth;
    sev.engaged_ms = ev->engaged_ms;
    sev.webdriver = ev->webdriver ? 1 : 0;

    /* the server's clock, as the warehouse's received_at */
    sev.time_ms = ngx_http_oie_now_msec();

    /* what the observer does not carry is in the row */
    lt = ngx_http_oie_live_row_str(&ev->row, "link_type");
    cn = ngx_http_oie_live_row_str(&ev->row, "custom_name");
    tc = ngx_http_oie_live_row_str(&ev->row, "traffic_class");

    sev.link_type.data = (const char *) lt.data;
    sev.link_type.len = lt.len;
    sev.custom_name.data = (const char *) cn.data;
    sev.custom_name.len = cn.len;
    sev.traffic_class.data = (const char *) tc.data;
    sev.traffic_class.len = tc.len;

    if (ev->type.len == 8 && ngx_strncmp(ev->type.data, "pageview", 8) == 0
        && !ev->webdriver
        && oie_score_traffic_counts(sev.traffic_class.data,
                                    sev.traffic_class.len))
    {
        ngx_http_oie_confirm_pageview(r, ev->lead_id.data, n, ev);
    }

    /* events the definition leaves out cost no round trip */
    ngx_memzero(&scratch, sizeof(oie_score_input_t));

    if (oie_score_apply(NULL, &scratch, &sev) != OIE_SCORE_OK) {
        return;
    }

    ngx_http_oie_live_enqueue(ev->lead_id.data, n, &sev, r->connection->log);
}


/*
 * The value of "key":"..." in a row the edge wrote (compact, its own
 * escaping).  An escaped value is returned as written: the names compared
 * against (link types, conversion events) have no escapes.
 */
ngx_str_t
ngx_http_oie_live_row_str(ngx_str_t *row, const char *key)
{
    u_char     *p, *end, *q;
    u_char      pat[40];
    size_t      n;
    ngx_str_t   s;

    s.len = 0;
    s.data = NULL;

    n = ngx_strlen(key);

    if (n + 5 > sizeof(pat)) {
        return s;
    }

    pat[0] = '"';
    q = ngx_cpymem(pat + 1, key, n);
    *q++ = '"';
    *q++ = ':';
    *q++ = '"';
    n = q - pat;

    end = row->data + row->len;
    p = ngx_strlcasestrn(row->data, end, pat, n - 1);

    if (p == NULL) {
        return s;
    }

    p += n;

    for (q = p; q < end && *q != '"'; q++) {
        if (*q == '\\') {
            q++;
        }
    }

    if (q >= end) {
        return s;
    }

    s.data = p;
    s.len = q - p;

    return s;
}


static u_char *
ngx_http_oie_live_copy(oie_score_str_t *dst, oie_score_str_t *src, u_char *p)
{
    dst->len = ngx_min(src->len, OIE_LIVE_STR_MAX);
    dst->data = (const char *) p;

    /* an absent string may have no pointer at all */
    return dst->len ? ngx_cpymem(p, src->data, dst->len) : p;
}


/* the text of "key":[...] in a row the edge wrote (an array of strings) */
ngx_str_t
ngx_http_oie_live_row_array(ngx_str_t *row, const char *key)
{
    u_char     *p, *end, *q;
    u_char      pat[40];
    size_t      n;
    ngx_str_t   s;

    s.len = 0;
    s.data = NULL;

    n = ngx_strlen(key);

    if (n + 5 > sizeof(pat)) {
        return s;
    }

    pat[0] = '"';
    q = ngx_cpymem(pat + 1, key, n);
    *q++ = '"';
    *q++ = ':';
    *q++ = '[';
    n = q - pat;

    end = row->data + row->len;
    p = ngx_strlcasestrn(row->data, end, pat, n - 1);

    if (p == NULL) {
        return s;
    }

    p += n - 1;

    /* to the closing bracket outside any string */
    for (q = p + 1; q < end && *q != ']'; q++) {
        if (*q != '"') {
            continue;
        }

        for (q++; q < end && *q != '"'; q++) {
            if (*q == '\\') {
                q++;
            }
        }
    }

    if (q >= end) {
        return s;
    }

    s.data = p;
    s.len = q + 1 - p;

    return s;
}


void
ngx_http_oie_live_enqueue(u_char *id, size_t len, oie_score_event_t *sev,
    ngx_log_t *log)
{
    u_char                    *p;
    size_t                     size;
    uint32_t                   hash;
    ngx_time_t                *tp;
    ngx_http_oie_live_ev_t    *e;
    ngx_http_oie_live_lead_t  *ll;

    if (ngx_http_oie_live_exiting || len > OIE_ID_MAX_LEN) {
        return;
    }

    if (ngx_http_oie_live_events >= OIE_LIVE_MAX_EVENTS) {
        ngx_http_oie_live_dropped++;

        tp = ngx_timeofday();

        if (tp->sec != ngx_http_oie_live_logged) {
            ngx_http_oie_live_logged = tp->sec;
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "oie: live score: %ui events waiting for Redis, "
                          "newer ones not scored live (%ui so far)",
                          ngx_http_oie_live_events,
                          ngx_http_oie_live_dropped);
        }

        return;
    }

    size = sizeof(ngx_http_oie_live_ev_t)
           + ngx_min(sev->type.len, OIE_LIVE_STR_MAX)
           + ngx_min(sev->url.len, OIE_LIVE_STR_MAX)
           + ngx_min(sev->link_type.len, OIE_LIVE_STR_MAX)
           + ngx_min(sev->video_action.len, OIE_LIVE_STR_MAX)
           + ngx_min(sev->custom_name.len, OIE_LIVE_STR_MAX)
           + ngx_min(sev->traffic_class.len, OIE_LIVE_STR_MAX);

    e = ngx_alloc(size, log);
    if (e == NULL) {
        return;
    }

    e->next = NULL;
    e->ev = *sev;

    p = e->data;
    p = ngx_http_oie_live_copy(&e->ev.type, &sev->type, p);
    p = ngx_http_oie_live_copy(&e->ev.url, &sev->url, p);
    p = ngx_http_oie_live_copy(&e->ev.link_type, &sev->link_type, p);
    p = ngx_http_oie_live_copy(&e->ev.video_action, &sev->video_action, p);
    p = ngx_http_oie_live_copy(&e->ev.custom_name, &sev->custom_name, p);
    (void) ngx_http_oie_live_copy(&e->ev.traffic_class, &sev->traffic_class,
                                  p);

    hash = ngx_crc32_short(id, len);
    ll = ngx_http_oie_live_find(id, len, hash);

    if (ll == NULL) {
        ll = ngx_calloc(sizeof(ngx_http_oie_live_lead_t), log);
        if (ll == NULL) {
            ngx_free(e);
            return;
        }

        ll->node.key = hash;
        ngx_memcpy(ll->id, id, len);
        ll->id_len = len;
        ll->last = &ll->queue;

        ngx_rbtree_insert(&ngx_http_oie_live_tree, &ll->node);
    }

    *ll->last = e;
    ll->last = &e->next;
    ll->nevents++;
    ngx_http_oie_live_events++;

    if (!ll->busy && !ll->in_ready) {
        ll->in_ready = 1;
        ngx_queue_insert_tail(&ngx_http_oie_live_ready, &ll->ready);
    }

    /* rounds start once the request's events are all queued */
    if (!ngx_http_oie_live_kick_ev.posted) {
        ngx_post_event(&ngx_http_oie_live_kick_ev, &ngx_posted_events);
    }
}


static void
ngx_http_oie_live_kick(ngx_event_t *ev)
{
    ngx_queue_t               *q;
    ngx_http_oie_live_lead_t  *ll;

    while (!ngx_queue_empty(&ngx_http_oie_live_ready)) {
        q = ngx_queue_head(&ngx_http_oie_live_ready);
        ll = ngx_queue_data(q, ngx_http_oie_live_lead_t, ready);

        ngx_queue_remove(q);
        ll->in_ready = 0;

        ll->batch = ll->queue;
        ll->queue = NULL;
        ll->last = &ll->queue;
        ll->busy = 1;
        ll->tries = 0;

        ngx_http_oie_live_round(ll);
    }
}


static void
ngx_http_oie_live_round(ngx_http_oie_live_lead_t *ll)
{
    u_char       key[sizeof(OIE_SCORE_KEY_PREFIX) + OIE_ID_MAX_LEN];
    const char  *argv[2];
    size_t       argvlen[2];

    argv[0] = "HGETALL";
    argvlen[0] = 7;
    argv[1] = (const char *) key;
    argvlen[1] = ngx_cpymem(ngx_cpymem(key, OIE_SCORE_KEY_PREFIX,
                                       sizeof(OIE_SCORE_KEY_PREFIX) - 1),
                            ll->id, ll->id_len)
                 - key;

    if (ngx_http_oie_redis_send(ngx_http_oie_live_fetched, ll, 0, 2, argv,
                                argvlen)
        == NULL)
    {
        ngx_http_oie_live_finish(ll, "Redis is unavailable");
    }
}


static void
ngx_http_oie_live_fetched(void *data, redisReply *reply, ngx_uint_t status)
{
    ngx_http_oie_live_lead_t  *ll = data;

    u_char                    *p;
    size_t                     i, k;
    int                        argc;
    ngx_uint_t                 m, keep, skip;
    redisReply                *f, *v;
    oie_score_t                score;
    oie_score_input_t          in;
    ngx_http_oie_live_ev_t    *e;
    const char                *argv[OIE_LIVE_ARGS];
    size_t                     argvlen[OIE_LIVE_ARGS];
    ngx_str_t                  old[OIE_SCORE_NFIELDS];
    u_char                     buf[OIE_SCORE_NFIELDS * NGX_INT64_LEN
                                   + 5 * NGX_INT64_LEN];
    u_char                     pkey[sizeof(OIE_LIVE_PAGES_PREFIX)
                                    + OIE_ID_MAX_LEN];
    u_char                     lkey[sizeof(OIE_LEAD_KEY_PREFIX)
                                    + OIE_ID_MAX_LEN];
    u_char                     skey[sizeof(OIE_SCORE_KEY_PREFIX)
                                    + OIE_ID_MAX_LEN];
    int64_t                   *counter;

    if (status != OIE_REDIS_REPLY || reply->type != REDIS_REPLY_ARRAY) {
        ngx_http_oie_live_finish(ll, "cannot read the counters");
        return;
    }

    ngx_memzero(&in, sizeof(oie_score_input_t));
    ngx_memzero(old, sizeof(old));

    for (i = 0; i + 1 < reply->elements; i += 2) {
        f = reply->element[i];
        v = reply->element[i + 1];

        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }

        for (k = 0; k < OIE_SCORE_NFIELDS; k++) {
            if (ngx_strlen(oie_score_field_names[k]) == f->len
                && ngx_strncmp(oie_score_field_names[k], f->str, f->len)
                   == 0)
            {
                /* compared as read; a value that is no number counts 0 */
                old[k].data = (u_char *) v->str;
                old[k].len = v->len;
                (void) oie_score_input_set(&in, f->str, f->len, v->str,
                                           v->len);
                break;
            }
        }
    }

    for (e = ll->batch; e; e = e->next) {
        (void) oie_score_apply(NULL, &in, &e->ev);
    }

    oie_score_compute(&in, ngx_http_oie_now_msec(), &score);

    argc = ngx_http_oie_redis_script_call(argv, argvlen,
                                          ngx_http_oie_live_use_eval,
                                          ngx_http_oie_live_script,
                                          sizeof(ngx_http_oie_live_script) - 1,
                                          ngx_http_oie_live_sha);

    argv[argc] = "4";
    argvlen[argc++] = 1;

    argv[argc] = (const char *) skey;
    argvlen[argc++] = ngx_cpymem(ngx_cpymem(skey, OIE_SCORE_KEY_PREFIX,
                                            sizeof(OIE_SCORE_KEY_PREFIX) - 1),
                                 ll->id, ll->id_len)
                      - skey;

    argv[argc] = OIE_LIVE_HOT_KEY;
    argvlen[argc++] = sizeof(OIE_LIVE_HOT_KEY) - 1;

    argv[argc] = (const char *) lkey;
    argvlen[argc++] = ngx_cpymem(ngx_cpymem(lkey, OIE_LEAD_KEY_PREFIX,
                                            sizeof(OIE_LEAD_KEY_PREFIX) - 1),
                                 ll->id, ll->id_len)
                      - lkey;

    argv[argc] = (const char *) pkey;
    argvlen[argc++] = ngx_cpymem(ngx_cpymem(pkey, OIE_LIVE_PAGES_PREFIX,
                                            sizeof(OIE_LIVE_PAGES_PREFIX) - 1),
                                 ll->id, ll->id_len)
                      - pkey;

    argv[argc] = (const char *) ll->id;
    argvlen[argc++] = ll->id_len;

    p = buf;

    argv[argc] = (const char *) p;
    argvlen[argc++] = ngx_sprintf(p, "%d", score.total) - p;
    p += argvlen[argc - 1];

    argv[argc] = (const char *) p;
    argvlen[argc++] = ngx_sprintf(p, "%d", OIE_LIVE_TTL) - p;
    p += argvlen[argc - 1];

    argv[argc] = (const char *) p;
    argvlen[argc++] = ngx_sprintf(p, "%d", OIE_SCORE_NFIELDS) - p;
    p += argvlen[argc - 1];

    for (k = 0; k < OIE_SCORE_NFIELDS; k++) {
        argv[argc] = oie_score_field_names[k];
        argvlen[argc++] = ngx_strlen(oie_score_field_names[k]);

        argv[argc] = old[k].data ? (const char *) old[k].data : "";
        argvlen[argc++] = old[k].len;

        counter = oie_score_input_field(&in, oie_score_field_names[k],
                                        ngx_strlen(oie_score_field_names[k]));

        argv[argc] = (const char *) p;
        argvlen[argc++] = ngx_sprintf(p, "%L", *counter) - p;
        p += argvlen[argc - 1];
    }

    /* the pages an alert lists: kept only when alerts are on */
    keep = ngx_http_oie_live_imcf->alert.webhook.len
           ? ngx_http_oie_live_imcf->alert.pages : 0;
    m = 0;

    if (keep) {
        for (e = ll->batch; e; e = e->next) {
            if (e->ev.type.len == 8
                && ngx_strncmp(e->ev.type.data, "pageview", 8) == 0)
            {
                m++;
            }
        }
    }

    skip = m > keep ? m - keep : 0;
    m -= skip;

    argv[argc] = (const char *) p;
    argvlen[argc++] = ngx_sprintf(p, "%ui", m) - p;
    p += argvlen[argc - 1];

    for (e = ll->batch; m && e; e = e->next) {
        if (e->ev.type.len != 8
            || ngx_strncmp(e->ev.type.data, "pageview", 8) != 0)
        {
            continue;
        }

        if (skip) {
            skip--;
            continue;
        }

        argv[argc] = e->ev.url.data;
        argvlen[argc++] = e->ev.url.len;
    }

    argv[argc] = (const char *) p;
    argvlen[argc++] = ngx_sprintf(p, "%ui", keep) - p;

    /* the reply (and the strings in old[]) are freed when this returns;
     * hiredis has copied the command by then */
    if (ngx_http_oie_redis_send(ngx_http_oie_live_written, ll, 0, argc, argv,
                                argvlen)
        == NULL)
    {
        ngx_http_oie_live_finish(ll, "Redis is unavailable");
        return;
    }

    /* remembered for the alert, once written */
    ll->score = score.total;
}


static void
ngx_http_oie_live_written(void *data, redisReply *reply, ngx_uint_t status)
{
    ngx_http_oie_live_lead_t  *ll = data;

    const char  *level;

    if (status != OIE_REDIS_REPLY) {
        ngx_http_oie_live_finish(ll, "no answer to the score update");
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        if (reply->len >= 8 && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0
            && ll->tries++ < OIE_LIVE_MAX_TRIES)
        {
            /* Redis restarted, or flushed its scripts: EVAL loads it */
            ngx_http_oie_live_use_eval = 1;
            ngx_http_oie_live_round(ll);
            return;
        }

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "oie: live score of \"%*s\": redis answered \"%*s\"",
                      ll->id_len, ll->id, (size_t) reply->len, reply->str);
        ngx_http_oie_live_finish(ll, NULL);
        return;
    }

    ngx_http_oie_live_use_eval = 0;

    if (reply->type != REDIS_REPLY_INTEGER) {
        ngx_http_oie_live_finish(ll, "unexpected answer to the update");
        return;
    }

    if (reply->integer == 0) {
        /* written by someone else since we read: read again */
        if (ll->tries++ < OIE_LIVE_MAX_TRIES) {
            ngx_http_oie_live_round(ll);
            return;
        }

        ngx_http_oie_live_finish(ll, "counters kept changing");
        return;
    }

    if (reply->integer == 1
        && ngx_http_oie_live_imcf->alert.webhook.len
        && ll->score >= ngx_http_oie_live_imcf->alert.threshold)
    {
        level = oie_score_level_name(oie_score_level((int) ll->score));
        ngx_http_oie_alert_maybe(ll->id, ll->id_len, ll->score, level);
    }

    /* -1: no such lead; nothing was written */
    ngx_http_oie_live_finish(ll, NULL);
}


static void
ngx_http_oie_live_finish(ngx_http_oie_live_lead_t *ll, const char *failure)
{
    ngx_uint_t               n;
    ngx_time_t              *tp;
    ngx_http_oie_live_ev_t  *e, *next;

    n = 0;

    for (e = ll->batch; e; e = next) {
        next = e->next;
        ngx_free(e);
        n++;
    }

    ll->batch = NULL;
    ll->busy = 0;
    ll->nevents -= n;
    ngx_http_oie_live_events -= n;

    if (failure) {
        ngx_http_oie_live_dropped += n;

        tp = ngx_timeofday();

        if (tp->sec != ngx_http_oie_live_logged) {
            ngx_http_oie_live_logged = tp->sec;
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "oie: live score of \"%*s\" not updated: %s "
                          "(%ui events so far)", ll->id_len, ll->id, failure,
                          ngx_http_oie_live_dropped);
        }
    }

    if (ll->queue && !ngx_http_oie_live_exiting) {
        ll->in_ready = 1;
        ngx_queue_insert_tail(&ngx_http_oie_live_ready, &ll->ready);

        if (!ngx_http_oie_live_kick_ev.posted) {
            ngx_post_event(&ngx_http_oie_live_kick_ev, &ngx_posted_events);
        }

        return;
    }

    for (e = ll->queue; e; e = next) {
        next = e->next;
        ngx_free(e);
        ngx_http_oie_live_events--;
    }

    ngx_rbtree_delete(&ngx_http_oie_live_tree, &ll->node);
    ngx_free(ll);
}


static ngx_http_oie_live_lead_t *
ngx_http_oie_live_find(u_char *id, size_t len, uint32_t hash)
{
    ngx_int_t                  rc;
    ngx_rbtree_node_t         *node, *sentinel;
    ngx_http_oie_live_lead_t  *ll;

    node = ngx_http_oie_live_tree.root;
    sentinel = ngx_http_oie_live_tree.sentinel;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        ll = (ngx_http_oie_live_lead_t *) node;
        rc = ngx_memn2cmp(id, ll->id, len, ll->id_len);

        if (rc == 0) {
            return ll;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_oie_live_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t         **p;
    ngx_http_oie_live_lead_t   *a, *b;

    for ( ;; ) {

        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;

        } else {
            a = (ngx_http_oie_live_lead_t *) node;
            b = (ngx_http_oie_live_lead_t *) temp;
            p = (ngx_memn2cmp(a->id, b->id, a->id_len, b->id_len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}
