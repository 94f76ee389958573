/*
 * Traffic classification at the edge (ngx_http_oie_classify_module): what
 * the redirect, open and track code calls to label a request human,
 * unknown, prefetch, bot or scanner, and to store the client address as
 * oie_ip_anonymize says.  The rules are in oie_classify.h.
 */

#ifndef _NGX_HTTP_OIE_CLASSIFY_H_INCLUDED_
#define _NGX_HTTP_OIE_CLASSIFY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "oie_classify.h"


/* what a request is, for its rows */
typedef struct {
    const char                 *name;         /* "human"...; NULL: off */
    ngx_uint_t                  cls;          /* OIE_CLASS_* */
    oie_classify_out_t          out;          /* the reasons */
    ngx_str_t                   reasons;      /* out as a JSON array */
    oie_classify_in_t           in;           /* for ..._event() */
    const oie_classify_conf_t  *conf;
    u_char                      json[OIE_CLASSIFY_JSON_MAX];
} ngx_http_oie_traffic_t;


extern ngx_module_t  ngx_http_oie_classify_module;


/*
 * Classifies r, a click (OIE_KIND_CLICK: /r/), an open (OIE_KIND_OPEN:
 * /o/) or a page request (OIE_KIND_PAGE: /t), and records its hit for the
 * timing rules: key is the lead id (click, open) or the visitor id (page),
 * campaign the lead's campaign (clicks and opens; NULL or empty when
 * unknown).  webdriver: the pixel reported navigator.webdriver.
 *
 * Returns NGX_OK with t filled (t->reasons is the JSON array for the
 * traffic_reasons column, ["net:microsoft-eop:certain"]), or NGX_DECLINED
 * when "oie_classify off" applies to r (t->name is NULL: write no
 * traffic_class).  Never fails otherwise; never blocks (the timing table
 * is shared memory under its own lock).  Also sets $oie_traffic_class.
 */
ngx_int_t ngx_http_oie_classify_request(ngx_http_request_t *r,
    ngx_uint_t kind, ngx_str_t *key, ngx_str_t *campaign,
    ngx_uint_t webdriver, ngx_http_oie_traffic_t *t);

/*
 * One page event of a request classified above, with the event's own
 * navigator.webdriver flag: req's facts, no second hit.  ev may be req.
 */
void ngx_http_oie_classify_event(ngx_http_oie_traffic_t *req,
    ngx_uint_t webdriver, ngx_http_oie_traffic_t *ev);

/*
 * The client address to store in rows: r's address as text, anonymized
 * (last IPv4 octet, last 80 IPv6 bits zeroed) when "oie_ip_anonymize on"
 * applies to r.  Classification has seen the full address before.
 */
ngx_int_t ngx_http_oie_client_ip(ngx_http_request_t *r, ngx_str_t *ip);


#endif /* _NGX_HTTP_OIE_CLASSIFY_H_INCLUDED_ */
