/*
 * Identity at the edge: what the files of ngx_http_oie_identity_module
 * share (leads from Redis, email_clicks rows, signed ids, live scores).
 */

#ifndef _NGX_HTTP_OIE_IDENTITY_H_INCLUDED_
#define _NGX_HTTP_OIE_IDENTITY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oie_module.h"
#include "ngx_http_oie_redis.h"
#include "oie_id.h"


typedef struct {
    ngx_str_t                   webhook;      /* empty: no alerts */
    ngx_uint_t                  threshold;
    ngx_msec_t                  timeout;
    ngx_uint_t                  retries;
    ngx_uint_t                  pages;        /* recent pages sent */
} ngx_http_oie_alert_conf_t;


/*
 * oie_confirm_window: at most the scoring definition's click window
 * (OIE_SCORE_CONFIRM_WINDOW_MS, click_confirm_window_ms), within which the
 * score and the warehouse count a human click and its confirmation once
 */
#define OIE_LIVE_CONFIRM_WINDOW_DEFAULT  1800000       /* 30 minutes */
#define OIE_LIVE_CONFIRM_WINDOW_MAX      1800000


typedef struct {
    ngx_http_oie_redis_conf_t   redis;
    ngx_flag_t                  redis_set;
    ngx_flag_t                  live;
    ngx_msec_t                  confirm_window;
    ngx_http_oie_alert_conf_t   alert;
    ngx_flag_t                  used;         /* a location needs Redis */
} ngx_http_oie_identity_main_conf_t;


typedef struct {
    ngx_str_t                   secret;       /* empty: ids are unsigned */
    ngx_str_t                   secret_prev;  /* still accepted */
    ngx_str_t                   fallback;     /* oie_redirect */
    ngx_array_t                *fields;       /* oie_personalize */
} ngx_http_oie_identity_loc_conf_t;


extern ngx_module_t  ngx_http_oie_identity_module;


/* a lead: its hash's fields, name and value in turn */
typedef struct {
    ngx_uint_t                  n;            /* pairs */
    ngx_str_t                  *kv;
} ngx_http_oie_lead_t;


#define OIE_LEAD_FOUND          0
#define OIE_LEAD_UNKNOWN        1
#define OIE_LEAD_DOWN           2             /* no Redis, or lost */
#define OIE_LEAD_TIMEOUT        3
#define OIE_LEAD_ERROR          4             /* Redis answered an error */
#define OIE_LEAD_AGAIN          5             /* the handler will say */

typedef void (*ngx_http_oie_lead_handler_pt)(ngx_http_request_t *r,
    ngx_http_oie_lead_t *lead, ngx_uint_t status);


/*
 * Looks the lead up: from the cache (the answer is returned at once; lead
 * points into the cache, valid until the event loop turns again: keep it
 * longer with ngx_http_oie_lead_copy()) or from Redis (OIE_LEAD_AGAIN; the
 * handler runs later with r and a lead in r's pool, within the oie_redis
 * timeout, and r->main->count was raised: the handler must finalize r).
 * OIE_LEAD_DOWN when Redis cannot be asked now.
 */
ngx_uint_t ngx_http_oie_lead_lookup(ngx_http_request_t *r, u_char *id,
    size_t len, ngx_http_oie_lead_t *lead,
    ngx_http_oie_lead_handler_pt handler);
ngx_str_t *ngx_http_oie_lead_field(ngx_http_oie_lead_t *lead,
    const char *name);
ngx_int_t ngx_http_oie_lead_copy(ngx_pool_t *pool, ngx_http_oie_lead_t *lead);
ngx_int_t ngx_http_oie_lead_init(ngx_cycle_t *cycle,
    ngx_http_oie_identity_main_conf_t *imcf);
void ngx_http_oie_lead_exit(ngx_cycle_t *cycle);
const char *ngx_http_oie_lead_outcome(ngx_uint_t status);


/*
 * Ids in links: signed or not, as oie_secret says.  OK and BAD_SIGNATURE
 * set *id_len to the length of the bare id at the start of s (for the
 * latter it is well formed but not genuine).
 */
#define OIE_IDR_OK              0
#define OIE_IDR_MALFORMED       1
#define OIE_IDR_BAD_SIGNATURE   2

ngx_uint_t ngx_http_oie_id_resolve(ngx_http_oie_identity_loc_conf_t *ilcf,
    u_char *s, size_t len, size_t *id_len);
char *ngx_http_oie_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_oie_set_sign(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_oie_set_verify(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


/* one row of email_clicks (sql/schemas/email_clicks.json) */
typedef struct {
    const char                 *type;         /* email_click, ... */
    int64_t                     time_ms;
    ngx_str_t                   lead_id;      /* empty: null */
    ngx_str_t                   raw_id;
    ngx_str_t                   campaign;
    ngx_str_t                   destination;
    const char                 *outcome;
    ngx_str_t                   method;
    ngx_str_t                   visitor_id;
    ngx_str_t                   ip;
    ngx_str_t                   user_agent;
    ngx_str_t                   referrer;
    const char                 *traffic_class;   /* NULL: none */
    ngx_str_t                   traffic_reasons; /* a JSON array */
} ngx_http_oie_click_t;

ngx_int_t ngx_http_oie_click_init(ngx_http_request_t *r,
    ngx_http_oie_click_t *ck, const char *type);
void ngx_http_oie_click_classify(ngx_http_request_t *r,
    ngx_http_oie_click_t *ck, ngx_uint_t kind, ngx_str_t *id,
    ngx_str_t *campaign);
ngx_int_t ngx_http_oie_click_push(ngx_log_t *log, ngx_http_oie_click_t *ck);
u_char *ngx_http_oie_json_text(u_char *dst, u_char *src, size_t len);


/* the last path segment of the URI, an extension cut ("/o/<id>.gif") */
void ngx_http_oie_uri_id(ngx_http_request_t *r, const char *ext,
    ngx_str_t *id);


/* handlers */
ngx_int_t ngx_http_oie_redirect_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_oie_open_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_oie_personalize_handler(ngx_http_request_t *r);


/* live scores, click confirmation, alerts */
ngx_int_t ngx_http_oie_live_init(ngx_cycle_t *cycle,
    ngx_http_oie_identity_main_conf_t *imcf);
void ngx_http_oie_live_exit(ngx_cycle_t *cycle);
void ngx_http_oie_confirm_click(ngx_http_request_t *r, u_char *id,
    size_t len, const char *traffic_class);
ngx_int_t ngx_http_oie_alert_init(ngx_cycle_t *cycle,
    ngx_http_oie_identity_main_conf_t *imcf);
void ngx_http_oie_alert_exit(ngx_cycle_t *cycle);
void ngx_http_oie_alert_maybe(u_char *id, size_t len, ngx_uint_t score,
    const char *level);


#endif /* _NGX_HTTP_OIE_IDENTITY_H_INCLUDED_ */
