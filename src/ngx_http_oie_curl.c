/*
 * libcurl's multi-socket API driven by nginx's event loop.
 *
 * We open and close curl's sockets ourselves (OPENSOCKET/CLOSESOCKET
 * callbacks), each wrapped in an nginx connection from the moment it is
 * opened to the moment curl is done with it, so an fd is closed exactly once
 * and never behind nginx's back.  curl's socket callback only turns level-
 * triggered read/write interest on and off; curl's timer is one nginx timer.
 */

#include "ngx_http_oie_module.h"
#include "ngx_http_oie_curl.h"


#define OIE_CURL_MAX_RESPONSE  (4 * 1024 * 1024)


typedef struct ngx_http_oie_curl_sock_s  ngx_http_oie_curl_sock_t;

struct ngx_http_oie_curl_sock_s {
    ngx_connection_t           *c;
    ngx_http_oie_curl_sock_t   *next;
};


static curl_socket_t ngx_http_oie_curl_open(void *data, curlsocktype purpose,
    struct curl_sockaddr *addr);
static int ngx_http_oie_curl_close(void *data, curl_socket_t s);
static int ngx_http_oie_curl_socket(CURL *easy, curl_socket_t s, int what,
    void *userp, void *socketp);
static int ngx_http_oie_curl_timer(CURLM *multi, long timeout_ms,
    void *userp);
static void ngx_http_oie_curl_timer_handler(ngx_event_t *ev);
static void ngx_http_oie_curl_event_handler(ngx_event_t *ev);
static void ngx_http_oie_curl_action(curl_socket_t s, int mask);
static void ngx_http_oie_curl_finished(void);
static size_t ngx_http_oie_curl_write(char *ptr, size_t size, size_t n,
    void *data);
static void ngx_http_oie_curl_abort_all(void);


static CURLM                     *ngx_http_oie_multi;
static ngx_event_t                ngx_http_oie_curl_timer_ev;
static ngx_http_oie_curl_sock_t  *ngx_http_oie_curl_socks;
static ngx_uint_t                 ngx_http_oie_curl_running;
static ngx_log_t                 *ngx_http_oie_curl_log;
static ngx_uint_t                 ngx_http_oie_curl_in_action;
static ngx_queue_t                ngx_http_oie_curl_inflight;


ngx_int_t
ngx_http_oie_curl_init(ngx_cycle_t *cycle)
{
    if (ngx_http_oie_multi) {
        return NGX_OK;
    }

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "oie: curl_global_init() failed");
        return NGX_ERROR;
    }

    ngx_http_oie_multi = curl_multi_init();
    if (ngx_http_oie_multi == NULL) {
        return NGX_ERROR;
    }

    ngx_http_oie_curl_log = cycle->log;
    ngx_queue_init(&ngx_http_oie_curl_inflight);

    curl_multi_setopt(ngx_http_oie_multi, CURLMOPT_SOCKETFUNCTION,
                      ngx_http_oie_curl_socket);
    curl_multi_setopt(ngx_http_oie_multi, CURLMOPT_TIMERFUNCTION,
                      ngx_http_oie_curl_timer);
    curl_multi_setopt(ngx_http_oie_multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      8L);

    ngx_http_oie_curl_timer_ev.handler = ngx_http_oie_curl_timer_handler;
    ngx_http_oie_curl_timer_ev.log = cycle->log;
    ngx_http_oie_curl_timer_ev.data = &ngx_http_oie_timer_conn;
    ngx_http_oie_curl_timer_ev.cancelable = 1;

    return NGX_OK;
}


void
ngx_http_oie_curl_exit(ngx_cycle_t *cycle)
{
    if (ngx_http_oie_multi == NULL) {
        return;
    }

    ngx_http_oie_curl_abort_all();

    if (ngx_http_oie_curl_timer_ev.timer_set) {
        ngx_del_timer(&ngx_http_oie_curl_timer_ev);
    }

    /* closes the pooled keep-alive sockets through our close callback */
    curl_multi_cleanup(ngx_http_oie_multi);
    ngx_http_oie_multi = NULL;
}


ngx_http_oie_curl_req_t *
ngx_http_oie_curl_create(ngx_log_t *log)
{
    ngx_http_oie_curl_req_t  *req;

    req = ngx_calloc(sizeof(ngx_http_oie_curl_req_t), log);
    if (req == NULL) {
        return NULL;
    }

    req->log = log;
    req->timeout = 30000;
    req->connect_timeout = 5000;

    return req;
}


void
ngx_http_oie_curl_free(ngx_http_oie_curl_req_t *req)
{
    if (req == NULL) {
        return;
    }

    if (req->easy) {
        /* freed while in flight: forget it without calling done() */
        if (ngx_http_oie_multi) {
            curl_multi_remove_handle(ngx_http_oie_multi, req->easy);
        }
        curl_easy_cleanup(req->easy);
        ngx_queue_remove(&req->queue);
        ngx_http_oie_curl_running--;
    }

    if (req->response) {
        ngx_free(req->response);
    }

    ngx_free(req);
}


ngx_int_t
ngx_http_oie_curl_start(ngx_http_oie_curl_req_t *req)
{
    CURL  *e;
    char  *url;

    if (ngx_http_oie_multi == NULL) {
        return NGX_ERROR;
    }

    e = curl_easy_init();
    if (e == NULL) {
        return NGX_ERROR;
    }

    req->easy = e;
    req->status = 0;
    req->result = CURLE_OK;
    req->error[0] = '\0';
    req->response_len = 0;

    /* curl wants a C string */
    url = ngx_alloc(req->url.len + 1, req->log);
    if (url == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(url, req->url.data, req->url.len);
    url[req->url.len] = '\0';

    curl_easy_setopt(e, CURLOPT_URL, url);
    ngx_free(url);          /* curl copies it */

    curl_easy_setopt(e, CURLOPT_PRIVATE, req);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long) req->timeout);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long) req->connect_timeout);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->error);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, ngx_http_oie_curl_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, ngx_http_oie_curl_open);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, ngx_http_oie_curl_close);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "ngx_http_oie_module/" OIE_VERSION);

    if (req->headers) {
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers);
    }

    if (req->body.data) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body.data);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t) req->body.len);
    }

    if (req->method.len) {
        /* GET with no body, or another verb */
        if (req->method.len == 3
            && ngx_strncmp(req->method.data, "GET", 3) == 0)
        {
            curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        }
    }

    if (curl_multi_add_handle(ngx_http_oie_multi, e) != CURLM_OK) {
        return NGX_ERROR;
    }

    ngx_http_oie_curl_running++;
    ngx_queue_insert_tail(&ngx_http_oie_curl_inflight, &req->queue);

    /* uploads in flight hold a graceful quit until they end (bounded) */
    ngx_http_oie_curl_timer_ev.cancelable = 0;

    return NGX_OK;
}


ngx_uint_t
ngx_http_oie_curl_active(void)
{
    return ngx_http_oie_curl_running;
}


static size_t
ngx_http_oie_curl_write(char *ptr, size_t size, size_t n, void *data)
{
    ngx_http_oie_curl_req_t *req = data;

    u_char  *p;
    size_t   len, cap;

    len = size * n;

    if (req->response_len + len > OIE_CURL_MAX_RESPONSE) {
        return 0;                       /* makes curl fail the transfer */
    }

    if (req->response_len + len + 1 > req->response_cap) {
        cap = ngx_max(req->response_cap * 2, req->response_len + len + 1);
        cap = ngx_max(cap, 4096);

        p = ngx_alloc(cap, req->log);
        if (p == NULL) {
            return 0;
        }

        if (req->response) {
            ngx_memcpy(p, req->response, req->response_len);
            ngx_free(req->response);
        }

        req->response = p;
        req->response_cap = cap;
    }

    ngx_memcpy(req->response + req->response_len, ptr, len);
    req->response_len += len;
    req->response[req->response_len] = '\0';

    return len;
}


static curl_socket_t
ngx_http_oie_curl_open(void *data, curlsocktype purpose,
    struct curl_sockaddr *addr)
{
    ngx_socket_t               s;
    ngx_connection_t          *c;
    ngx_http_oie_curl_sock_t  *sock;

    s = ngx_socket(addr->family, addr->socktype, addr->protocol);

    if (s == (ngx_socket_t) -1) {
        return CURL_SOCKET_BAD;
    }

    sock = ngx_alloc(sizeof(ngx_http_oie_curl_sock_t), ngx_http_oie_curl_log);
    c = ngx_get_connection(s, ngx_http_oie_curl_log);

    if (sock == NULL || c == NULL) {
        if (sock) {
            ngx_free(sock);
        }
        ngx_close_socket(s);
        return CURL_SOCKET_BAD;
    }

    c->data = NULL;
    c->read->handler = ngx_http_oie_curl_event_handler;
    c->write->handler = ngx_http_oie_curl_event_handler;
    c->read->log = ngx_http_oie_curl_log;
    c->write->log = ngx_http_oie_curl_log;

    sock->c = c;
    sock->next = ngx_http_oie_curl_socks;
    ngx_http_oie_curl_socks = sock;

    return s;
}


static int
ngx_http_oie_curl_close(void *data, curl_socket_t s)
{
    ngx_http_oie_curl_sock_t  **pp, *sock;

    for (pp = &ngx_http_oie_curl_socks; *pp; pp = &(*pp)->next) {
        sock = *pp;

        if (sock->c->fd == (ngx_socket_t) s) {
            *pp = sock->next;
            /* removes its events and closes the fd, once */
            ngx_close_connection(sock->c);
            ngx_free(sock);
            return 0;
        }
    }

    /* not one of ours (should not happen): close it as curl would */
    ngx_close_socket(s);

    return 0;
}


static ngx_connection_t *
ngx_http_oie_curl_conn(curl_socket_t s)
{
    ngx_http_oie_curl_sock_t  *sock;

    for (sock = ngx_http_oie_curl_socks; sock; sock = sock->next) {
        if (sock->c->fd == (ngx_socket_t) s) {
            return sock->c;
        }
    }

    return NULL;
}


static void
ngx_http_oie_curl_want(ngx_event_t *ev, ngx_int_t event, ngx_uint_t on)
{
    if (on && !ev->active) {
        (void) ngx_add_event(ev, event, NGX_LEVEL_EVENT);

    } else if (!on && ev->active) {
        (void) ngx_del_event(ev, event, 0);
    }
}


static int
ngx_http_oie_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp,
    void *socketp)
{
    ngx_connection_t  *c;

    c = ngx_http_oie_curl_conn(s);

    if (c == NULL) {
        /* REMOVE for a socket already closed: nothing to do */
        return 0;
    }

    switch (what) {

    case CURL_POLL_IN:
        ngx_http_oie_curl_want(c->write, NGX_WRITE_EVENT, 0);
        ngx_http_oie_curl_want(c->read, NGX_READ_EVENT, 1);
        break;

    case CURL_POLL_OUT:
        ngx_http_oie_curl_want(c->read, NGX_READ_EVENT, 0);
        ngx_http_oie_curl_want(c->write, NGX_WRITE_EVENT, 1);
        break;

    case CURL_POLL_INOUT:
        ngx_http_oie_curl_want(c->read, NGX_READ_EVENT, 1);
        ngx_http_oie_curl_want(c->write, NGX_WRITE_EVENT, 1);
        break;

    default: /* CURL_POLL_REMOVE: curl may keep the socket for reuse */
        ngx_http_oie_curl_want(c->read, NGX_READ_EVENT, 0);
        ngx_http_oie_curl_want(c->write, NGX_WRITE_EVENT, 0);
        break;
    }

    return 0;
}


static int
ngx_http_oie_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    if (timeout_ms < 0) {
        if (ngx_http_oie_curl_timer_ev.timer_set) {
            ngx_del_timer(&ngx_http_oie_curl_timer_ev);
        }
        return 0;
    }

    /* never run curl from inside its own callback: 0 means "next turn" */
    ngx_add_timer(&ngx_http_oie_curl_timer_ev, (ngx_msec_t) timeout_ms);

    return 0;
}


static void
ngx_http_oie_curl_timer_handler(ngx_event_t *ev)
{
    ngx_http_oie_curl_action(CURL_SOCKET_TIMEOUT, 0);
}


static void
ngx_http_oie_curl_event_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    if (c->close) {
        /* worker_shutdown_timeout: give up on every transfer now */
        ngx_http_oie_curl_abort_all();
        return;
    }

    ngx_http_oie_curl_action(c->fd, ev->write ? CURL_CSELECT_OUT
                                              : CURL_CSELECT_IN);
}


static void
ngx_http_oie_curl_action(curl_socket_t s, int mask)
{
    int  running;

    if (ngx_http_oie_multi == NULL || ngx_http_oie_curl_in_action) {
        return;
    }

    ngx_http_oie_curl_in_action = 1;
    (void) curl_multi_socket_action(ngx_http_oie_multi, s, mask, &running);
    ngx_http_oie_curl_in_action = 0;

    ngx_http_oie_curl_finished();
}


/* hands every completed transfer to its owner */
static void
ngx_http_oie_curl_finished(void)
{
    int                       left;
    CURL                     *e;
    CURLMsg                  *msg;
    ngx_http_oie_curl_req_t  *req;

    while ((msg = curl_multi_info_read(ngx_http_oie_multi, &left)) != NULL) {

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }

        e = msg->easy_handle;
        req = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **) &req);

        curl_multi_remove_handle(ngx_http_oie_multi, e);

        if (req == NULL) {
            curl_easy_cleanup(e);
            continue;
        }

        req->result = msg->data.result;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &req->status);

        if (req->result != CURLE_OK && req->error[0] == '\0') {
            ngx_cpystrn((u_char *) req->error,
                        (u_char *) curl_easy_strerror(req->result),
                        CURL_ERROR_SIZE);
        }

        curl_easy_cleanup(e);
        req->easy = NULL;

        ngx_queue_remove(&req->queue);
        ngx_http_oie_curl_running--;

        if (ngx_http_oie_curl_running == 0) {
            ngx_http_oie_curl_timer_ev.cancelable = 1;
        }

        req->done(req);
    }
}


static void
ngx_http_oie_curl_abort_all(void)
{
    ngx_queue_t              *q;
    ngx_http_oie_curl_req_t  *req;

    if (ngx_http_oie_multi == NULL) {
        return;
    }

    while (!ngx_queue_empty(&ngx_http_oie_curl_inflight)) {
        q = ngx_queue_head(&ngx_http_oie_curl_inflight);
        req = ngx_queue_data(q, ngx_http_oie_curl_req_t, queue);

        ngx_queue_remove(q);
        curl_multi_remove_handle(ngx_http_oie_multi, req->easy);
        curl_easy_cleanup(req->easy);
        req->easy = NULL;
        ngx_http_oie_curl_running--;

        req->result = CURLE_ABORTED_BY_CALLBACK;
        req->status = 0;
        ngx_cpystrn((u_char *) req->error,
                    (u_char *) "aborted: worker exiting", CURL_ERROR_SIZE);
        req->done(req);
    }

    ngx_http_oie_curl_timer_ev.cancelable = 1;
}
