/*
 * hiredis on nginx's event loop: the adapter, the links, command timeouts
 * and reconnection.  See ngx_http_oie_redis.h.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_oie_redis.h"


#define OIE_REDIS_READS         64          /* reads before yielding */
#define OIE_REDIS_WRITES        64
#define OIE_REDIS_FREE_CMDS     1024        /* commands kept for reuse */
#define OIE_REDIS_DEAD_AFTER    10000       /* ms without any reply */

#define OIE_REDIS_INVALIDATE    "__redis__:invalidate"
#define OIE_REDIS_LEAD_PREFIX   "oie:lead:"


typedef struct ngx_http_oie_redis_link_s  ngx_http_oie_redis_link_t;

struct ngx_http_oie_redis_link_s {
    redisAsyncContext          *ac;
    ngx_connection_t           *c;
    ngx_event_t                 connect_timer;
    ngx_event_t                 retry;
    ngx_msec_t                  backoff;
    ngx_uint_t                  gen;          /* bumped per context */
    ngx_uint_t                  failures;     /* since last connected */
    const char                 *role;
    void                      (*start)(ngx_http_oie_redis_link_t *l);
    void                      (*lost)(ngx_http_oie_redis_link_t *l);

    unsigned                    connected:1;
    unsigned                    ready:1;      /* tracking: subscribed */
    unsigned                    writing:1;
};


struct ngx_http_oie_redis_cmd_s {
    ngx_http_oie_redis_handler_pt   handler;
    void                           *data;
    ngx_event_t                     timer;
    ngx_http_oie_redis_cmd_t       *next;     /* in the free list */
};


static void ngx_http_oie_redis_connect(ngx_http_oie_redis_link_t *l);
static ngx_uint_t ngx_http_oie_redis_level(ngx_http_oie_redis_link_t *l);
static void ngx_http_oie_redis_schedule(ngx_http_oie_redis_link_t *l);
static void ngx_http_oie_redis_retry_handler(ngx_event_t *ev);
static void ngx_http_oie_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_oie_redis_read_handler(ngx_event_t *rev);
static void ngx_http_oie_redis_write_handler(ngx_event_t *wev);
static void ngx_http_oie_redis_add_read(void *privdata);
static void ngx_http_oie_redis_del_read(void *privdata);
static void ngx_http_oie_redis_add_write(void *privdata);
static void ngx_http_oie_redis_del_write(void *privdata);
static void ngx_http_oie_redis_cleanup(void *privdata);
static void ngx_http_oie_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_oie_redis_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_http_oie_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata);
static void ngx_http_oie_redis_cmd_timeout(ngx_event_t *ev);
static ngx_http_oie_redis_cmd_t *ngx_http_oie_redis_send_on(
    ngx_http_oie_redis_link_t *l, ngx_http_oie_redis_handler_pt handler,
    void *data, ngx_msec_t timeout, int argc, const char **argv,
    const size_t *argvlen);
static void ngx_http_oie_redis_start_main(ngx_http_oie_redis_link_t *l);
static void ngx_http_oie_redis_start_tracking(ngx_http_oie_redis_link_t *l);
static void ngx_http_oie_redis_auth(ngx_http_oie_redis_link_t *l);
static void ngx_http_oie_redis_setup_reply(void *data, redisReply *reply,
    ngx_uint_t status);
static void ngx_http_oie_redis_client_id(void *data, redisReply *reply,
    ngx_uint_t status);
static void ngx_http_oie_redis_message(redisAsyncContext *ac, void *reply,
    void *privdata);
static void ngx_http_oie_redis_lost(ngx_http_oie_redis_link_t *l);
static void ngx_http_oie_redis_track_check(void);
static void ngx_http_oie_redis_track_reply(void *data, redisReply *reply,
    ngx_uint_t status);
static void ngx_http_oie_redis_track_set(ngx_uint_t on);


ngx_http_oie_redis_invalidate_pt  ngx_http_oie_redis_invalidate;
ngx_http_oie_redis_tracking_pt    ngx_http_oie_redis_tracking;

static ngx_http_oie_redis_conf_t   *ngx_http_oie_redis_rc;
static ngx_log_t                   *ngx_http_oie_redis_log;
static ngx_http_oie_redis_link_t    ngx_http_oie_redis_main;
static ngx_http_oie_redis_link_t    ngx_http_oie_redis_track_link;
static ngx_http_oie_redis_stats_t   ngx_http_oie_redis_st;
static ngx_http_oie_redis_cmd_t    *ngx_http_oie_redis_free;
static ngx_uint_t                   ngx_http_oie_redis_nfree;
static ngx_uint_t                   ngx_http_oie_redis_exiting;
static ngx_msec_t                   ngx_http_oie_redis_last_reply;
static long long                    ngx_http_oie_redis_track_id;
static ngx_uint_t                   ngx_http_oie_redis_track_sent;
static ngx_uint_t                   ngx_http_oie_redis_track_on;


ngx_int_t
ngx_http_oie_redis_init(ngx_cycle_t *cycle, ngx_http_oie_redis_conf_t *rc)
{
    ngx_http_oie_redis_link_t  *l;

    ngx_http_oie_redis_rc = rc;
    ngx_http_oie_redis_log = cycle->log;
    ngx_http_oie_redis_exiting = 0;

    l = &ngx_http_oie_redis_main;
    ngx_memzero(l, sizeof(ngx_http_oie_redis_link_t));
    l->role = "main";
    l->start = ngx_http_oie_redis_start_main;
    l->lost = ngx_http_oie_redis_lost;

    l = &ngx_http_oie_redis_track_link;
    ngx_memzero(l, sizeof(ngx_http_oie_redis_link_t));
    l->role = "tracking";
    l->start = ngx_http_oie_redis_start_tracking;
    l->lost = ngx_http_oie_redis_lost;

    ngx_http_oie_redis_connect(&ngx_http_oie_redis_main);

    if (rc->cache) {
        ngx_http_oie_redis_connect(&ngx_http_oie_redis_track_link);
    }

    return NGX_OK;
}


void
ngx_http_oie_redis_exit(ngx_cycle_t *cycle)
{
    ngx_uint_t                  i;
    ngx_http_oie_redis_cmd_t   *cmd;
    ngx_http_oie_redis_link_t  *l, *links[2];

    if (ngx_http_oie_redis_rc == NULL) {
        return;
    }

    ngx_http_oie_redis_exiting = 1;

    links[0] = &ngx_http_oie_redis_main;
    links[1] = &ngx_http_oie_redis_track_link;

    for (i = 0; i < 2; i++) {
        l = links[i];

        if (l->retry.timer_set) {
            ngx_del_timer(&l->retry);
        }

        if (l->ac) {
            /* answers what is in flight with "down", then closes */
            redisAsyncFree(l->ac);
        }
    }

    while (ngx_http_oie_redis_free) {
        cmd = ngx_http_oie_redis_free;
        ngx_http_oie_redis_free = cmd->next;
        ngx_free(cmd);
    }

    ngx_http_oie_redis_nfree = 0;
}


ngx_uint_t
ngx_http_oie_redis_up(void)
{
    return ngx_http_oie_redis_main.connected;
}


ngx_http_oie_redis_stats_t *
ngx_http_oie_redis_stats(void)
{
    return &ngx_http_oie_redis_st;
}


static void
ngx_http_oie_redis_connect(ngx_http_oie_redis_link_t *l)
{
    ngx_uint_t                  level;
    ngx_connection_t           *c;
    redisAsyncContext          *ac;
    ngx_http_oie_redis_conf_t  *rc = ngx_http_oie_redis_rc;

    if (rc->path.len) {
        ac = redisAsyncConnectUnix((char *) rc->path.data);

    } else {
        ac = redisAsyncConnect((char *) rc->host.data, (int) rc->port);
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ALERT, ngx_http_oie_redis_log, 0,
                      "oie: redis %V: out of memory", &rc->name);
        ngx_http_oie_redis_schedule(l);
        return;
    }

    if (ac->err) {
        level = ngx_http_oie_redis_level(l);
        ngx_log_error(level,
                      ngx_http_oie_redis_log, 0,
                      "oie: redis %V (%s link): cannot connect: %s",
                      &rc->name, l->role, ac->errstr);
        redisAsyncFree(ac);
        ngx_http_oie_redis_schedule(l);
        return;
    }

    c = ngx_get_connection(ac->c.fd, ngx_http_oie_redis_log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_http_oie_redis_schedule(l);
        return;
    }

    c->data = l;
    c->read->handler = ngx_http_oie_redis_read_handler;
    c->write->handler = ngx_http_oie_redis_write_handler;
    c->read->log = c->log;
    c->write->log = c->log;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    l->ac = ac;
    l->c = c;
    l->gen++;
    l->connected = 0;
    l->ready = 0;
    l->writing = 0;

    ac->data = l;
    ac->ev.data = l;
    ac->ev.addRead = ngx_http_oie_redis_add_read;
    ac->ev.delRead = ngx_http_oie_redis_del_read;
    ac->ev.addWrite = ngx_http_oie_redis_add_write;
    ac->ev.delWrite = ngx_http_oie_redis_del_write;
    ac->ev.cleanup = ngx_http_oie_redis_cleanup;

    (void) redisAsyncSetConnectCallback(ac, ngx_http_oie_redis_on_connect);
    (void) redisAsyncSetDisconnectCallback(ac,
                                           ngx_http_oie_redis_on_disconnect);

    /* reads stay armed for the life of the link; the connect is done when
     * the socket first turns writable */
    if (ngx_handle_read_event(c->read, 0) != NGX_OK
        || ngx_handle_write_event(c->write, 0) != NGX_OK)
    {
        redisAsyncFree(ac);
        return;
    }

    l->connect_timer.handler = ngx_http_oie_redis_connect_timeout;
    l->connect_timer.data = l;
    l->connect_timer.log = ngx_http_oie_redis_log;
    l->connect_timer.cancelable = 1;
    ngx_add_timer(&l->connect_timer, rc->connect_timeout);

    /* queued now, sent first once connected */
    l->start(l);
}


/*
 * The first failure of an outage is an error, the retries are info.  Not
 * to be called inside ngx_log_error(): the macro evaluates its level twice.
 */
static ngx_uint_t
ngx_http_oie_redis_level(ngx_http_oie_redis_link_t *l)
{
    return l->failures++ ? NGX_LOG_INFO : NGX_LOG_ERR;
}


static void
ngx_http_oie_redis_schedule(ngx_http_oie_redis_link_t *l)
{
    ngx_msec_t  delay;

    if (ngx_http_oie_redis_exiting || ngx_exiting || ngx_quit
        || ngx_terminate || l->retry.timer_set)
    {
        return;
    }

    if (l->backoff == 0) {
        l->backoff = OIE_REDIS_BACKOFF_MIN;

    } else {
        l->backoff = ngx_min(l->backoff * 2,
                             ngx_http_oie_redis_rc->backoff_max);
    }

    /* jitter: workers that lost Redis together do not return together */
    delay = l->backoff / 2 + (ngx_msec_t) ngx_random() % (l->backoff / 2 + 1);

    l->retry.handler = ngx_http_oie_redis_retry_handler;
    l->retry.data = l;
    l->retry.log = ngx_http_oie_redis_log;
    l->retry.cancelable = 1;
    ngx_add_timer(&l->retry, delay);
}


static void
ngx_http_oie_redis_retry_handler(ngx_event_t *ev)
{
    ngx_http_oie_redis_link_t  *l = ev->data;

    if (ngx_http_oie_redis_exiting || ngx_exiting || ngx_quit
        || ngx_terminate || l->ac)
    {
        return;
    }

    ngx_http_oie_redis_connect(l);
}


static void
ngx_http_oie_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_oie_redis_link_t  *l = ev->data;

    ngx_uint_t  level;

    if (l->ac == NULL || l->connected) {
        return;
    }

    level = ngx_http_oie_redis_level(l);
    ngx_log_error(level, ngx_http_oie_redis_log, 0,
                  "oie: redis %V (%s link): connect timed out",
                  &ngx_http_oie_redis_rc->name, l->role);

    redisAsyncFree(l->ac);
}


/*
 * Edge-triggered: one event says "readable" once, so the socket is read
 * until it would block.  hiredis reads 16k a call; a peek tells whether
 * more (or the end of the stream) is waiting.  The context may be gone
 * after any call into hiredis (an error, or a handler that dropped it):
 * the link's generation says so.
 */

static void
ngx_http_oie_redis_read_handler(ngx_event_t *rev)
{
    u_char                      b;
    ssize_t                     n;
    ngx_err_t                   err;
    ngx_uint_t                  i, gen;
    ngx_connection_t           *c;
    ngx_http_oie_redis_link_t  *l;

    c = rev->data;
    l = c->data;
    gen = l->gen;

    for (i = 0; i < OIE_REDIS_READS; i++) {

        redisAsyncHandleRead(l->ac);

        if (l->gen != gen) {
            return;
        }

        if (!(l->ac->c.flags & REDIS_CONNECTED)) {
            break;
        }

        n = recv(c->fd, &b, 1, MSG_PEEK);

        if (n == -1) {
            err = ngx_socket_errno;

            if (err == NGX_EAGAIN) {
                rev->ready = 0;
                break;
            }

            /* EINTR: again; other errors: the next read reports them */
        }
    }

    if (i == OIE_REDIS_READS) {
        /* let other connections have their turn; continue this cycle */
        ngx_post_event(rev, &ngx_posted_events);
        return;
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        redisAsyncFree(l->ac);
    }
}


static void
ngx_http_oie_redis_write_handler(ngx_event_t *wev)
{
    size_t                      before, after;
    ngx_uint_t                  i, gen;
    ngx_connection_t           *c;
    redisAsyncContext          *ac;
    ngx_http_oie_redis_link_t  *l;

    c = wev->data;
    l = c->data;
    gen = l->gen;
    ac = l->ac;
    after = 0;

    l->writing = 1;

    for (i = 0; i < OIE_REDIS_WRITES; i++) {
        before = sdslen(ac->c.obuf);

        redisAsyncHandleWrite(ac);

        if (l->gen != gen) {
            return;
        }

        if (!(ac->c.flags & REDIS_CONNECTED)) {
            break;
        }

        after = sdslen(ac->c.obuf);

        if (after == 0) {
            break;
        }

        if (after == before) {
            /* nothing went: the socket buffer is full */
            wev->ready = 0;
            break;
        }
    }

    l->writing = 0;

    if (after && wev->ready) {
        ngx_post_event(wev, &ngx_posted_events);
        return;
    }

    if (ngx_handle_write_event(wev, 0) != NGX_OK) {
        redisAsyncFree(ac);
    }
}


static void
ngx_http_oie_redis_add_read(void *privdata)
{
    /* reads are always armed */
}


static void
ngx_http_oie_redis_del_read(void *privdata)
{
}


/*
 * hiredis has output: write it at the end of this event loop iteration, so
 * that the commands of all the requests handled in it go out together.
 */
static void
ngx_http_oie_redis_add_write(void *privdata)
{
    ngx_http_oie_redis_link_t *l = privdata;

    ngx_event_t  *wev;

    if (l->c == NULL || l->writing || !l->connected) {
        /* the write handler or the connect's write event will flush */
        return;
    }

    wev = l->c->write;

    if (wev->ready) {
        if (!wev->posted) {
            ngx_post_event(wev, &ngx_posted_events);
        }
        return;
    }

    if (ngx_handle_write_event(wev, 0) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, ngx_http_oie_redis_log, 0,
                      "oie: redis: cannot arm the write event");
    }
}


static void
ngx_http_oie_redis_del_write(void *privdata)
{
}


/*
 * hiredis frees the context: it calls this before it closes the socket.
 * The nginx connection is taken off the event loop and given back without
 * closing anything; the descriptor is hiredis's to close.  May be called
 * twice for one context.
 */
static void
ngx_http_oie_redis_cleanup(void *privdata)
{
    ngx_http_oie_redis_link_t *l = privdata;

    ngx_uint_t         was_connected;
    ngx_connection_t  *c;

    if (l->ac == NULL) {
        return;
    }

    if (l->connected && l->ac->err) {
        ngx_log_error(NGX_LOG_WARN, ngx_http_oie_redis_log, 0,
                      "oie: redis %V (%s link): connection lost: %s",
                      &ngx_http_oie_redis_rc->name, l->role, l->ac->errstr);
    }

    l->ac->ev.cleanup = NULL;

    c = l->c;

    if (c) {
        if (c->read->posted) {
            ngx_delete_posted_event(c->read);
        }

        if (c->write->posted) {
            ngx_delete_posted_event(c->write);
        }

        if (c->read->active) {
            (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
        }

        if (c->write->active) {
            (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
        }

        ngx_free_connection(c);
        c->fd = (ngx_socket_t) -1;
    }

    was_connected = l->connected;

    l->ac = NULL;
    l->c = NULL;
    l->gen++;
    l->connected = 0;
    l->ready = 0;
    l->writing = 0;

    if (l->connect_timer.timer_set) {
        ngx_del_timer(&l->connect_timer);
    }

    if (was_connected) {
        ngx_http_oie_redis_st.disconnects++;
        l->backoff = 0;
    }

    l->lost(l);

    ngx_http_oie_redis_schedule(l);
}


static void
ngx_http_oie_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_oie_redis_link_t  *l = ac->data;

    ngx_uint_t  level;

    if (status != REDIS_OK) {
        /* hiredis frees the context next; the cleanup schedules a retry */
        level = ngx_http_oie_redis_level(l);
        ngx_log_error(level,
                      ngx_http_oie_redis_log, 0,
                      "oie: redis %V (%s link): cannot connect: %s",
                      &ngx_http_oie_redis_rc->name, l->role, ac->errstr);
        return;
    }

    if (l->connect_timer.timer_set) {
        ngx_del_timer(&l->connect_timer);
    }

    ngx_log_error((l->failures > 0 ? NGX_LOG_NOTICE : NGX_LOG_INFO),
                  ngx_http_oie_redis_log, 0,
                  "oie: redis %V (%s link): connected",
                  &ngx_http_oie_redis_rc->name, l->role);

    l->connected = 1;
    l->failures = 0;
    ngx_http_oie_redis_st.connects++;
    ngx_http_oie_redis_last_reply = ngx_current_msec;

    if (l == &ngx_http_oie_redis_main) {
        ngx_http_oie_redis_track_check();
    }
}


static void
ngx_http_oie_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    /* the cleanup hook, called just before, did the work */
}


/* commands */

ngx_http_oie_redis_cmd_t *
ngx_http_oie_redis_send(ngx_http_oie_redis_handler_pt handler, void *data,
    ngx_msec_t timeout, int argc, const char **argv, const size_t *argvlen)
{
    ngx_http_oie_redis_link_t  *l = &ngx_http_oie_redis_main;

    if (ngx_http_oie_redis_rc == NULL || l->ac == NULL) {
        ngx_http_oie_redis_st.refused++;
        return NULL;
    }

    if (ngx_http_oie_redis_st.pending >= ngx_http_oie_redis_rc->max_pending) {
        ngx_http_oie_redis_st.refused++;
        return NULL;
    }

    return ngx_http_oie_redis_send_on(l, handler, data, timeout, argc, argv,
                                      argvlen);
}


static ngx_http_oie_redis_cmd_t *
ngx_http_oie_redis_send_on(ngx_http_oie_redis_link_t *l,
    ngx_http_oie_redis_handler_pt handler, void *data, ngx_msec_t timeout,
    int argc, const char **argv, const size_t *argvlen)
{
    ngx_http_oie_redis_cmd_t  *cmd;

    if (ngx_http_oie_redis_free) {
        cmd = ngx_http_oie_redis_free;
        ngx_http_oie_redis_free = cmd->next;
        ngx_http_oie_redis_nfree--;

    } else {
        cmd = ngx_alloc(sizeof(ngx_http_oie_redis_cmd_t),
                        ngx_http_oie_redis_log);
        if (cmd == NULL) {
            return NULL;
        }
    }

    ngx_memzero(cmd, sizeof(ngx_http_oie_redis_cmd_t));
    cmd->handler = handler;
    cmd->data = data;

    /* refused while hiredis is tearing the context down */
    if (redisAsyncCommandArgv(l->ac, ngx_http_oie_redis_reply, cmd, argc,
                              argv, argvlen)
        != REDIS_OK)
    {
        cmd->next = ngx_http_oie_redis_free;
        ngx_http_oie_redis_free = cmd;
        ngx_http_oie_redis_nfree++;
        ngx_http_oie_redis_st.refused++;
        return NULL;
    }

    ngx_http_oie_redis_st.pending++;
    ngx_http_oie_redis_st.commands++;

    if (timeout && handler) {
        cmd->timer.handler = ngx_http_oie_redis_cmd_timeout;
        cmd->timer.data = cmd;
        cmd->timer.log = ngx_http_oie_redis_log;
        /* not cancelable: a request waits on it, and a graceful exit
         * waits for the request */
        ngx_add_timer(&cmd->timer, timeout);
    }

    return cmd;
}


void
ngx_http_oie_redis_cancel(ngx_http_oie_redis_cmd_t *cmd)
{
    cmd->handler = NULL;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }
}


static void
ngx_http_oie_redis_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    ngx_http_oie_redis_cmd_t  *cmd = privdata;

    ngx_http_oie_redis_handler_pt  handler;

    ngx_http_oie_redis_st.pending--;

    if (reply) {
        ngx_http_oie_redis_last_reply = ngx_current_msec;
    }

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    handler = cmd->handler;
    cmd->handler = NULL;

    if (handler) {
        handler(cmd->data, reply, reply ? OIE_REDIS_REPLY : OIE_REDIS_DOWN);
    }

    if (ngx_http_oie_redis_nfree < OIE_REDIS_FREE_CMDS) {
        cmd->next = ngx_http_oie_redis_free;
        ngx_http_oie_redis_free = cmd;
        ngx_http_oie_redis_nfree++;

    } else {
        ngx_free(cmd);
    }
}


static void
ngx_http_oie_redis_cmd_timeout(ngx_event_t *ev)
{
    ngx_http_oie_redis_cmd_t  *cmd = ev->data;

    ngx_http_oie_redis_handler_pt   handler;
    ngx_http_oie_redis_link_t      *l;

    ngx_http_oie_redis_st.timeouts++;

    handler = cmd->handler;
    cmd->handler = NULL;

    /* the command stays hiredis's until its reply, or the end of the
     * connection, comes; it is freed then */

    if (handler) {
        handler(cmd->data, NULL, OIE_REDIS_TIMEOUT);
    }

    /*
     * A connection that has not answered anything for long is likely dead
     * (a peer gone without a word): start a new one.
     */
    l = &ngx_http_oie_redis_main;

    if (l->ac && l->connected
        && ngx_current_msec - ngx_http_oie_redis_last_reply
           > OIE_REDIS_DEAD_AFTER)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_http_oie_redis_log, 0,
                      "oie: redis %V: no reply for %M ms, reconnecting",
                      &ngx_http_oie_redis_rc->name,
                      ngx_current_msec - ngx_http_oie_redis_last_reply);
        redisAsyncFree(l->ac);
    }
}


/* what a new connection sends first */

static void
ngx_http_oie_redis_auth(ngx_http_oie_redis_link_t *l)
{
    int                         argc;
    const char                 *argv[3];
    size_t                      argvlen[3];
    ngx_http_oie_redis_conf_t  *rc = ngx_http_oie_redis_rc;

    if (rc->password.len == 0) {
        return;
    }

    argc = 0;
    argv[argc] = "AUTH";
    argvlen[argc++] = 4;

    if (rc->user.len) {
        argv[argc] = (const char *) rc->user.data;
        argvlen[argc++] = rc->user.len;
    }

    argv[argc] = (const char *) rc->password.data;
    argvlen[argc++] = rc->password.len;

    (void) ngx_http_oie_redis_send_on(l, ngx_http_oie_redis_setup_reply, l,
                                      0, argc, argv, argvlen);
}


static void
ngx_http_oie_redis_start_main(ngx_http_oie_redis_link_t *l)
{
    u_char                      db[NGX_INT_T_LEN];
    const char                 *argv[2];
    size_t                      argvlen[2];
    ngx_http_oie_redis_conf_t  *rc = ngx_http_oie_redis_rc;

    ngx_http_oie_redis_auth(l);

    if (rc->db == 0) {
        return;
    }

    argv[0] = "SELECT";
    argvlen[0] = 6;
    argv[1] = (const char *) db;
    argvlen[1] = ngx_sprintf(db, "%i", rc->db) - db;

    (void) ngx_http_oie_redis_send_on(l, ngx_http_oie_redis_setup_reply, l,
                                      0, 2, argv, argvlen);
}


static void
ngx_http_oie_redis_setup_reply(void *data, redisReply *reply,
    ngx_uint_t status)
{
    ngx_http_oie_redis_link_t  *l = data;

    if (reply == NULL || reply->type != REDIS_REPLY_ERROR) {
        return;
    }

    /* AUTH or SELECT: every command would fail the same way */
    ngx_log_error(NGX_LOG_ERR, ngx_http_oie_redis_log, 0,
                  "oie: redis %V (%s link): %*s",
                  &ngx_http_oie_redis_rc->name, l->role,
                  (size_t) reply->len, reply->str);

    /* start over, with backoff */
    if (l->ac) {
        redisAsyncFree(l->ac);
    }
}


/*
 * The tracking link: learns its client id, then listens on the channel the
 * main link's invalidations are redirected to.
 */
static void
ngx_http_oie_redis_start_tracking(ngx_http_oie_redis_link_t *l)
{
    const char  *argv[2];
    size_t       argvlen[2];

    ngx_http_oie_redis_auth(l);

    argv[0] = "CLIENT";
    argvlen[0] = 6;
    argv[1] = "ID";
    argvlen[1] = 2;

    (void) ngx_http_oie_redis_send_on(l, ngx_http_oie_redis_client_id, l, 0,
                                      2, argv, argvlen);

    argv[0] = "SUBSCRIBE";
    argvlen[0] = 9;
    argv[1] = OIE_REDIS_INVALIDATE;
    argvlen[1] = sizeof(OIE_REDIS_INVALIDATE) - 1;

    /* subscription callbacks stay registered: no command structure */
    (void) redisAsyncCommandArgv(l->ac, ngx_http_oie_redis_message, l, 2,
                                 argv, argvlen);
}


static void
ngx_http_oie_redis_client_id(void *data, redisReply *reply,
    ngx_uint_t status)
{
    if (reply && reply->type == REDIS_REPLY_INTEGER) {
        ngx_http_oie_redis_track_id = reply->integer;
    }
}


static void
ngx_http_oie_redis_message(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply                 *reply = r;
    redisReply                 *kind, *keys;
    size_t                      i;
    ngx_http_oie_redis_link_t  *l = privdata;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 3)
    {
        return;
    }

    kind = reply->element[0];

    if (kind->type != REDIS_REPLY_STRING) {
        return;
    }

    if (kind->len == 9 && ngx_strncasecmp((u_char *) kind->str,
                                          (u_char *) "subscribe", 9) == 0)
    {
        l->ready = 1;
        ngx_http_oie_redis_track_check();
        return;
    }

    if (!(kind->len == 7 && ngx_strncasecmp((u_char *) kind->str,
                                            (u_char *) "message", 7) == 0)
        || ngx_http_oie_redis_invalidate == NULL)
    {
        return;
    }

    keys = reply->element[2];

    if (keys->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < keys->elements; i++) {
            if (keys->element[i]->type == REDIS_REPLY_STRING) {
                ngx_http_oie_redis_invalidate(
                                        (u_char *) keys->element[i]->str,
                                        keys->element[i]->len);
            }
        }

        return;
    }

    if (keys->type == REDIS_REPLY_STRING) {
        ngx_http_oie_redis_invalidate((u_char *) keys->str, keys->len);
        return;
    }

    /* nil: the whole keyspace was flushed */
    ngx_http_oie_redis_invalidate(NULL, 0);
}


/*
 * Redis tells the tracking link about every change of a lead key once the
 * main link has asked for it ("broadcast" mode: by prefix, whatever the
 * link read).  Both links must be up; when either goes, so does tracking,
 * and the cache empties.
 */
static void
ngx_http_oie_redis_track_check(void)
{
    u_char                      id[NGX_INT64_LEN];
    const char                 *argv[9];
    size_t                      argvlen[9];
    ngx_http_oie_redis_link_t  *m = &ngx_http_oie_redis_main;

    if (ngx_http_oie_redis_rc->cache == 0 || ngx_http_oie_redis_track_sent
        || !m->connected || !ngx_http_oie_redis_track_link.ready
        || ngx_http_oie_redis_track_id == 0)
    {
        return;
    }

    argv[0] = "CLIENT";
    argvlen[0] = 6;
    argv[1] = "TRACKING";
    argvlen[1] = 8;
    argv[2] = "off";
    argvlen[2] = 3;

    /* off first: a new redirect target cannot replace the old while on */
    (void) ngx_http_oie_redis_send_on(m, NULL, NULL, 0, 3, argv, argvlen);

    argv[2] = "on";
    argvlen[2] = 2;
    argv[3] = "REDIRECT";
    argvlen[3] = 8;
    argv[4] = (const char *) id;
    argvlen[4] = ngx_sprintf(id, "%L", (int64_t) ngx_http_oie_redis_track_id)
                 - id;
    argv[5] = "BCAST";
    argvlen[5] = 5;
    argv[6] = "PREFIX";
    argvlen[6] = 6;
    argv[7] = OIE_REDIS_LEAD_PREFIX;
    argvlen[7] = sizeof(OIE_REDIS_LEAD_PREFIX) - 1;

    if (ngx_http_oie_redis_send_on(m, ngx_http_oie_redis_track_reply, NULL,
                                   0, 8, argv, argvlen)
        != NULL)
    {
        ngx_http_oie_redis_track_sent = 1;
    }
}


static void
ngx_http_oie_redis_track_reply(void *data, redisReply *reply,
    ngx_uint_t status)
{
    if (reply == NULL) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_WARN, ngx_http_oie_redis_log, 0,
                      "oie: redis %V: no key tracking, lead cache off: %*s",
                      &ngx_http_oie_redis_rc->name, (size_t) reply->len,
                      reply->str);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, ngx_http_oie_redis_log, 0,
                  "oie: redis %V: lead cache on (key tracking)",
                  &ngx_http_oie_redis_rc->name);

    ngx_http_oie_redis_track_set(1);
}


static void
ngx_http_oie_redis_lost(ngx_http_oie_redis_link_t *l)
{
    ngx_http_oie_redis_track_sent = 0;

    if (l == &ngx_http_oie_redis_track_link) {
        ngx_http_oie_redis_track_id = 0;
    }

    ngx_http_oie_redis_track_set(0);
}


static void
ngx_http_oie_redis_track_set(ngx_uint_t on)
{
    if (on == ngx_http_oie_redis_track_on && on) {
        return;
    }

    ngx_http_oie_redis_track_on = on;

    if (ngx_http_oie_redis_tracking) {
        ngx_http_oie_redis_tracking(on);
    }
}
