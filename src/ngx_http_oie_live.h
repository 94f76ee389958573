/*
 * What live scores (ngx_http_oie_live.c) and click confirmation
 * (ngx_http_oie_confirm.c) share.
 */

#ifndef _NGX_HTTP_OIE_LIVE_H_INCLUDED_
#define _NGX_HTTP_OIE_LIVE_H_INCLUDED_


#include "ngx_http_oie_identity.h"
#include "oie_score.h"


/* ngx_http_oie_live.c */
void ngx_http_oie_live_enqueue(u_char *id, size_t len, oie_score_event_t *sev,
    ngx_log_t *log);
ngx_str_t ngx_http_oie_live_row_str(ngx_str_t *row, const char *key);
ngx_str_t ngx_http_oie_live_row_array(ngx_str_t *row, const char *key);

/* ngx_http_oie_confirm.c */
ngx_int_t ngx_http_oie_confirm_init(ngx_cycle_t *cycle,
    ngx_http_oie_identity_main_conf_t *imcf);
void ngx_http_oie_confirm_exit(void);
void ngx_http_oie_confirm_pageview(ngx_http_request_t *r, u_char *id,
    size_t len, ngx_http_oie_event_t *ev);


#endif /* _NGX_HTTP_OIE_LIVE_H_INCLUDED_ */
