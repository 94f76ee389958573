/*
 * HTTP requests with libcurl's multi-socket API on nginx's event loop:
 * sockets become nginx connections, curl's timer an nginx timer, so no
 * request ever blocks a worker.  One multi handle per worker; connections
 * are kept alive and reused between requests to the same host.
 */

#ifndef _NGX_HTTP_OIE_CURL_H_INCLUDED_
#define _NGX_HTTP_OIE_CURL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <curl/curl.h>


typedef struct ngx_http_oie_curl_req_s  ngx_http_oie_curl_req_t;

typedef void (*ngx_http_oie_curl_done_pt)(ngx_http_oie_curl_req_t *req);


struct ngx_http_oie_curl_req_s {
    /* set by the caller before ngx_http_oie_curl_start() */
    ngx_str_t                   url;
    ngx_str_t                   method;         /* "POST" when body set */
    ngx_str_t                   body;           /* kept alive by caller */
    struct curl_slist          *headers;        /* freed by the caller */
    ngx_msec_t                  timeout;        /* whole request */
    ngx_msec_t                  connect_timeout;
    ngx_http_oie_curl_done_pt   done;
    void                       *data;
    ngx_log_t                  *log;

    /* set when done() runs */
    CURLcode                    result;         /* CURLE_OK: got an answer */
    long                        status;         /* HTTP status, 0 if none */
    u_char                     *response;       /* body, NUL-terminated */
    size_t                      response_len;
    char                        error[CURL_ERROR_SIZE];

    /* private */
    ngx_queue_t                 queue;          /* in flight */
    CURL                       *easy;
    size_t                      response_cap;
    ngx_uint_t                  cancelled;
};


/* once per worker, at init_process */
ngx_int_t ngx_http_oie_curl_init(ngx_cycle_t *cycle);
void ngx_http_oie_curl_exit(ngx_cycle_t *cycle);

/*
 * Allocates a request (heap; lives until ngx_http_oie_curl_free()).  The
 * caller fills it, starts it, and frees it in or after done().
 */
ngx_http_oie_curl_req_t *ngx_http_oie_curl_create(ngx_log_t *log);
ngx_int_t ngx_http_oie_curl_start(ngx_http_oie_curl_req_t *req);
void ngx_http_oie_curl_free(ngx_http_oie_curl_req_t *req);

/* requests in flight in this worker */
ngx_uint_t ngx_http_oie_curl_active(void);


#endif /* _NGX_HTTP_OIE_CURL_H_INCLUDED_ */
