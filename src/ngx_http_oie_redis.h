/*
 * hiredis on nginx's event loop.
 *
 * Each worker keeps one pipelined connection to Redis (the "main" link) and,
 * when the lead cache is on, a second one subscribed to Redis's key
 * invalidation channel (the "tracking" link).  The socket of a link is an
 * nginx connection: hiredis asks for reads and writes through the adapter's
 * hooks, the adapter answers from nginx's read and write events.  Writes are
 * deferred to the end of the event loop iteration (a posted event), so the
 * commands of every request handled in one iteration leave in one write().
 *
 * Every command may carry its own timeout, an nginx timer: when it fires the
 * caller is answered OIE_REDIS_TIMEOUT at once and the late reply, whenever
 * it comes, is dropped.  A lost connection answers every command in flight
 * OIE_REDIS_DOWN and is re-established with exponential backoff and jitter,
 * never while the worker is exiting.  hiredis owns the socket and closes it;
 * the adapter only lends nginx's connection structure, so no descriptor is
 * ever closed twice.
 */

#ifndef _NGX_HTTP_OIE_REDIS_H_INCLUDED_
#define _NGX_HTTP_OIE_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


/* how a command ended, as its handler is told */
#define OIE_REDIS_REPLY     0       /* reply is set (it may be an error) */
#define OIE_REDIS_DOWN      1       /* no connection, or it was lost */
#define OIE_REDIS_TIMEOUT   2       /* no reply within the timeout */

#define OIE_REDIS_BACKOFF_MIN  50   /* ms, the first reconnect */


typedef struct {
    ngx_str_t                   name;          /* as configured, for logs */
    ngx_str_t                   host;          /* numeric, NUL-terminated */
    ngx_uint_t                  port;
    ngx_str_t                   path;          /* unix socket, or empty */
    ngx_str_t                   user;
    ngx_str_t                   password;
    ngx_int_t                   db;
    ngx_msec_t                  timeout;       /* each request's lookup */
    ngx_msec_t                  connect_timeout;
    ngx_msec_t                  backoff_max;
    ngx_uint_t                  max_pending;
    ngx_uint_t                  cache;         /* entries; 0: no cache */
} ngx_http_oie_redis_conf_t;


typedef void (*ngx_http_oie_redis_handler_pt)(void *data, redisReply *reply,
    ngx_uint_t status);

typedef struct ngx_http_oie_redis_cmd_s  ngx_http_oie_redis_cmd_t;


/* counters of this worker, for the logs and the tests */
typedef struct {
    ngx_uint_t                  connects;
    ngx_uint_t                  disconnects;
    ngx_uint_t                  commands;
    ngx_uint_t                  timeouts;
    ngx_uint_t                  refused;       /* not sent: down or full */
    ngx_uint_t                  pending;
} ngx_http_oie_redis_stats_t;


/* ngx_http_oie_redis_conf.c: the oie_redis directive's arguments */
char *ngx_http_oie_redis_parse(ngx_conf_t *cf, ngx_http_oie_redis_conf_t *rc);

/* once per worker */
ngx_int_t ngx_http_oie_redis_init(ngx_cycle_t *cycle,
    ngx_http_oie_redis_conf_t *rc);
void ngx_http_oie_redis_exit(ngx_cycle_t *cycle);

/*
 * Queues a command on the main link.  The handler is called exactly once,
 * later (never from inside this call), unless the command is cancelled.
 * timeout 0: no timer of its own.  handler NULL: fire and forget.  Returns
 * NULL, without calling anything, when Redis is down, too many commands
 * are waiting, or memory ran out.
 */
ngx_http_oie_redis_cmd_t *ngx_http_oie_redis_send(
    ngx_http_oie_redis_handler_pt handler, void *data, ngx_msec_t timeout,
    int argc, const char **argv, const size_t *argvlen);

/* the handler will not be called; the reply, when it comes, is dropped */
void ngx_http_oie_redis_cancel(ngx_http_oie_redis_cmd_t *cmd);

/* 1 when the main link is connected */
ngx_uint_t ngx_http_oie_redis_up(void);

ngx_http_oie_redis_stats_t *ngx_http_oie_redis_stats(void);

/* ngx_http_oie_redis_script.c: a script's name for EVALSHA (40 hex
 * digits), and the first two words of its call (EVALSHA and the name, or
 * EVAL and the text when eval is set); answers their count */
ngx_int_t ngx_http_oie_redis_script_sha(const char *script, size_t len,
    u_char *sha);
int ngx_http_oie_redis_script_call(const char **argv, size_t *argvlen,
    ngx_uint_t eval, const char *script, size_t len, const u_char *sha);

/*
 * Lead cache support: called when keys of leads change (name is the key;
 * NULL means "everything may have changed"), and when tracking starts or
 * stops.  Set by the lead cache before ngx_http_oie_redis_init().
 */
typedef void (*ngx_http_oie_redis_invalidate_pt)(u_char *key, size_t len);
typedef void (*ngx_http_oie_redis_tracking_pt)(ngx_uint_t on);

extern ngx_http_oie_redis_invalidate_pt  ngx_http_oie_redis_invalidate;
extern ngx_http_oie_redis_tracking_pt    ngx_http_oie_redis_tracking;


#endif /* _NGX_HTTP_OIE_REDIS_H_INCLUDED_ */
