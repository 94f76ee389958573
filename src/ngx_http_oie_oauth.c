/*
 * OAuth2 for BigQuery: the service-account key is read and checked at
 * configuration time (so "nginx -t" reports a bad key), then each worker
 * signs an RS256 JWT, trades it for an access token at the token endpoint
 * and refreshes it five minutes before it expires, in the background, while
 * uploads go on with the old one.  With credentials=metadata the token comes
 * from the GCE metadata server instead.
 */

#include "ngx_http_oie_bigquery.h"
#include "ngx_http_oie_curl.h"
#include "oie_jwt.h"

#include <jansson.h>
#include <openssl/pem.h>


#define OIE_OAUTH_SCOPE     "https://www.googleapis.com/auth/bigquery"
#define OIE_OAUTH_GRANT     "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3A" \
                            "jwt-bearer"
#define OIE_OAUTH_REFRESH   (5 * 60 * 1000)
#define OIE_OAUTH_LIFETIME  3600


typedef struct {
    ngx_http_oie_bq_conf_t     *bq;
    u_char                      token[2048];
    ngx_str_t                   value;          /* "Bearer <token>" */
    ngx_msec_t                  expires;        /* ngx_current_msec based */
    ngx_msec_t                  backoff;
    ngx_http_oie_curl_req_t    *req;
    ngx_event_t                 timer;
    void                      (*ready)(void);
    ngx_log_t                  *log;
} ngx_http_oie_oauth_t;


static void ngx_http_oie_oauth_fetch(ngx_event_t *ev);
static void ngx_http_oie_oauth_done(ngx_http_oie_curl_req_t *req);
static ngx_int_t ngx_http_oie_oauth_jwt(ngx_http_oie_bq_conf_t *bq,
    ngx_str_t *jwt, ngx_log_t *log);
static void ngx_http_oie_oauth_cleanup(void *data);


static ngx_http_oie_oauth_t  ngx_http_oie_oauth;


/* reads the key file; any problem is an nginx -t error naming the file */
static char *
ngx_http_oie_oauth_load_key(ngx_conf_t *cf, ngx_http_oie_bq_conf_t *bq)
{
    BIO                 *bio;
    json_t              *root, *v;
    const char          *type, *pem;
    json_error_t         err;
    ngx_pool_cleanup_t  *cln;

    root = json_load_file((char *) bq->credentials.data, JSON_REJECT_DUPLICATES,
                          &err);
    if (root == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oie_sink bigquery: cannot read credentials \"%V\":"
                           " %s (line %d)", &bq->credentials, err.text,
                           err.line);
        return NGX_CONF_ERROR;
    }

    type = json_string_value(json_object_get(root, "type"));

    if (type == NULL || ngx_strcmp(type, "service_account") != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oie_sink bigquery: \"%V\" is not a service-account"
                           " key (\"type\" must be \"service_account\")",
                           &bq->credentials);
        goto failed;
    }

    v = json_object_get(root, "client_email");
    pem = json_string_value(json_object_get(root, "private_key"));

    if (!json_is_string(v) || pem == NULL
        || !json_is_string(json_object_get(root, "private_key_id")))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oie_sink bigquery: \"%V\" lacks client_email, "
                           "private_key or private_key_id", &bq->credentials);
        goto failed;
    }

    bq->client_email.len = json_string_length(v);
    bq->client_email.data = ngx_pstrdup(cf->pool,
                                  &(ngx_str_t) { bq->client_email.len,
                                                 (u_char *) json_string_value(v) });

    v = json_object_get(root, "private_key_id");
    bq->key_id.len = json_string_length(v);
    bq->key_id.data = ngx_pstrdup(cf->pool,
                                  &(ngx_str_t) { bq->key_id.len,
                                                 (u_char *) json_string_value(v) });

    if (bq->client_email.data == NULL || bq->key_id.data == NULL) {
        goto failed;
    }

    if (bq->token_endpoint.len == 0) {
        v = json_object_get(root, "token_uri");

        if (json_is_string(v)) {
            bq->token_endpoint.len = json_string_length(v);
            bq->token_endpoint.data = ngx_pnalloc(cf->pool,
                                                  bq->token_endpoint.len + 1);
            if (bq->token_endpoint.data == NULL) {
                goto failed;
            }
            ngx_cpystrn(bq->token_endpoint.data,
                        (u_char *) json_string_value(v),
                        bq->token_endpoint.len + 1);

        } else {
            ngx_str_set(&bq->token_endpoint,
                        "https://oauth2.googleapis.com/token");
        }
    }

    bio = BIO_new_mem_buf(pem, -1);
    bq->pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);

    if (bq->pkey == NULL || EVP_PKEY_base_id(bq->pkey) != EVP_PKEY_RSA) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oie_sink bigquery: the private_key in \"%V\" is "
                           "not an RSA key in PEM form", &bq->credentials);
        goto failed;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        goto failed;
    }

    cln->handler = ngx_http_oie_oauth_cleanup;
    cln->data = bq->pkey;

    json_decref(root);
    return NGX_CONF_OK;

failed:

    json_decref(root);
    return NGX_CONF_ERROR;
}


static void
ngx_http_oie_oauth_cleanup(void *data)
{
    EVP_PKEY_free(data);
}


char *
ngx_http_oie_bq_parse(ngx_conf_t *cf, ngx_http_oie_bq_conf_t *bq,
    ngx_str_t *args, ngx_uint_t nargs)
{
    u_char      *p;
    ngx_int_t    n;
    ngx_str_t    v, *arg;
    ngx_uint_t   i;

    static struct {
        const char  *name;
        size_t       offset;
    } strs[] = {
        { "project", offsetof(ngx_http_oie_bq_conf_t, project) },
        { "dataset", offsetof(ngx_http_oie_bq_conf_t, dataset) },
        { "credentials", offsetof(ngx_http_oie_bq_conf_t, credentials) },
        { "endpoint", offsetof(ngx_http_oie_bq_conf_t, endpoint) },
        { "token_endpoint", offsetof(ngx_http_oie_bq_conf_t, token_endpoint) },
        { NULL, 0 }
    };

    bq->timeout = 30000;
    bq->max_inflight = 4;
    bq->max_attempts = 4;

    for (i = 0; i < nargs; i++) {
        arg = &args[i];
        p = (u_char *) ngx_strchr(arg->data, '=');

        if (p == NULL) {
            goto invalid;
        }

        v.data = p + 1;
        v.len = arg->data + arg->len - v.data;

        if (v.len == 0) {
            goto invalid;
        }

        for (n = 0; strs[n].name; n++) {
            if ((size_t) (p - arg->data) == ngx_strlen(strs[n].name)
                && ngx_strncmp(arg->data, strs[n].name, p - arg->data) == 0)
            {
                *(ngx_str_t *) ((u_char *) bq + strs[n].offset) = v;
                break;
            }
        }

        if (strs[n].name) {
            continue;
        }

        if (ngx_strncmp(arg->data, "timeout=", 8) == 0) {
            n = ngx_parse_time(&v, 0);
            if (n == NGX_ERROR || n < 100) {
                goto invalid;
            }
            bq->timeout = n;
            continue;
        }

        if (ngx_strncmp(arg->data, "concurrency=", 12) == 0) {
            n = ngx_atoi(v.data, v.len);
            if (n < 1 || n > 64) {
                goto invalid;
            }
            bq->max_inflight = n;
            continue;
        }

        goto invalid;
    }

    if (bq->project.len == 0 || bq->dataset.len == 0
        || bq->credentials.len == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oie_sink bigquery needs project=, dataset= and "
                           "credentials= (a key file or \"metadata\")");
        return NGX_CONF_ERROR;
    }

    if (bq->endpoint.len == 0) {
        ngx_str_set(&bq->endpoint, "https://bigquery.googleapis.com/bigquery/v2");
    }

    while (bq->endpoint.len && bq->endpoint.data[bq->endpoint.len - 1] == '/') {
        bq->endpoint.len--;
    }

    if (bq->credentials.len == 8
        && ngx_strncmp(bq->credentials.data, "metadata", 8) == 0)
    {
        bq->metadata = 1;

        if (bq->token_endpoint.len == 0) {
            ngx_str_set(&bq->token_endpoint,
                        "http://metadata.google.internal/computeMetadata/v1/"
                        "instance/service-accounts/default/token");
        }

        return NGX_CONF_OK;
    }

    if (ngx_conf_full_name(cf->cycle, &bq->credentials, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return ngx_http_oie_oauth_load_key(cf, bq);

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid oie_sink bigquery parameter \"%V\"", arg);
    return NGX_CONF_ERROR;
}


/*
 * lazy: the first token is fetched when one is first asked for (a worker
 * whose uploads the drain process makes, which may have to stand in)
 */
ngx_int_t
ngx_http_oie_oauth_init(ngx_cycle_t *cycle, ngx_http_oie_bq_conf_t *bq,
    ngx_flag_t lazy)
{
    ngx_http_oie_oauth_t  *o = &ngx_http_oie_oauth;

    o->bq = bq;
    o->log = cycle->log;
    o->timer.handler = ngx_http_oie_oauth_fetch;
    o->timer.log = cycle->log;
    o->timer.data = &ngx_http_oie_timer_conn;
    o->timer.cancelable = 1;

    if (!lazy) {
        ngx_add_timer(&o->timer, 0);
    }

    return NGX_OK;
}


ngx_str_t *
ngx_http_oie_oauth_token(void)
{
    ngx_http_oie_oauth_t  *o = &ngx_http_oie_oauth;

    if (o->value.len == 0 || (ngx_msec_int_t) (o->expires - ngx_current_msec)
                             <= 0)
    {
        if (o->bq && o->req == NULL && !o->timer.timer_set && !ngx_exiting) {
            /* lazy, and wanted now: the first fetch */
            ngx_add_timer(&o->timer, 0);
        }

        return NULL;
    }

    return &o->value;
}


void
ngx_http_oie_oauth_on_ready(void (*handler)(void))
{
    ngx_http_oie_oauth.ready = handler;
}


/* the token was refused (401): fetch a new one now */
void
ngx_http_oie_oauth_invalidate(void)
{
    ngx_http_oie_oauth_t  *o = &ngx_http_oie_oauth;

    o->value.len = 0;

    if (o->req == NULL) {
        if (o->timer.timer_set) {
            ngx_del_timer(&o->timer);
        }
        ngx_add_timer(&o->timer, 0);
    }
}


static void
ngx_http_oie_oauth_fetch(ngx_event_t *ev)
{
    u_char                   *p;
    ngx_str_t                 jwt;
    ngx_http_oie_oauth_t     *o = &ngx_http_oie_oauth;
    ngx_http_oie_curl_req_t  *req;

    if (o->req) {
        return;
    }

    req = ngx_http_oie_curl_create(o->log);
    if (req == NULL) {
        goto retry;
    }

    req->url = o->bq->token_endpoint;
    req->timeout = ngx_min(o->bq->timeout, 15000);
    req->done = ngx_http_oie_oauth_done;
    req->data = o;

    if (o->bq->metadata) {
        ngx_str_set(&req->method, "GET");
        req->headers = curl_slist_append(NULL, "Metadata-Flavor: Google");

    } else {
        if (ngx_http_oie_oauth_jwt(o->bq, &jwt, o->log) != NGX_OK) {
            ngx_http_oie_curl_free(req);
            goto retry;
        }

        req->body.len = sizeof("grant_type=" OIE_OAUTH_GRANT "&assertion=") - 1
                        + jwt.len;
        req->body.data = ngx_alloc(req->body.len + 1, o->log);
        if (req->body.data == NULL) {
            ngx_free(jwt.data);
            ngx_http_oie_curl_free(req);
            goto retry;
        }

        p = ngx_cpymem(req->body.data,
                       "grant_type=" OIE_OAUTH_GRANT "&assertion=",
                       sizeof("grant_type=" OIE_OAUTH_GRANT "&assertion=") - 1);
        p = ngx_cpymem(p, jwt.data, jwt.len);
        *p = '\0';
        ngx_free(jwt.data);

        req->headers = curl_slist_append(NULL, "Content-Type: "
                                         "application/x-www-form-urlencoded");
        req->headers = curl_slist_append(req->headers, "Expect:");
    }

    if (ngx_http_oie_curl_start(req) != NGX_OK) {
        curl_slist_free_all(req->headers);
        ngx_free(req->body.data);
        ngx_http_oie_curl_free(req);
        goto retry;
    }

    o->req = req;
    return;

retry:

    o->backoff = o->backoff ? ngx_min(o->backoff * 2, 60000) : 1000;
    ngx_add_timer(&o->timer, o->backoff);
}


static void
ngx_http_oie_oauth_done(ngx_http_oie_curl_req_t *req)
{
    u_char                *p;
    json_t                *root, *tok, *exp;
    size_t                 len;
    ngx_int_t              lifetime;
    ngx_http_oie_oauth_t  *o = req->data;

    o->req = NULL;
    root = NULL;

    if (req->result != CURLE_OK || req->status != 200) {
        ngx_log_error(NGX_LOG_ERR, o->log, 0,
                      "oie: token request to \"%V\" failed: %s%s status %l"
                      "%s%s", &o->bq->token_endpoint, req->error,
                      req->error[0] ? "," : "", req->status,
                      req->response ? ": " : "",
                      req->response ? (char *) req->response : "");
        ngx_http_oie_count(token_errors, 1);
        goto retry;
    }

    root = json_loadb((char *) req->response, req->response_len, 0, NULL);
    tok = json_object_get(root, "access_token");
    exp = json_object_get(root, "expires_in");
    len = json_string_length(tok);

    if (!json_is_string(tok) || len == 0
        || len + sizeof("Bearer ") > sizeof(o->token))
    {
        ngx_log_error(NGX_LOG_ERR, o->log, 0,
                      "oie: token endpoint \"%V\" answered without a usable "
                      "access_token", &o->bq->token_endpoint);
        ngx_http_oie_count(token_errors, 1);
        goto retry;
    }

    p = ngx_cpymem(o->token, "Bearer ", 7);
    p = ngx_cpymem(p, json_string_value(tok), len);
    o->value.data = o->token;
    o->value.len = p - o->token;

    lifetime = json_is_integer(exp) ? json_integer_value(exp) : 3600;
    /* from a server: keep it sane (and the arithmetic below in range) */
    lifetime = ngx_min(ngx_max(lifetime, 60), 86400);
    o->expires = ngx_current_msec + lifetime * 1000;
    o->backoff = 0;

    ngx_http_oie_count(token_refreshes, 1);

    /* refresh ahead of expiry; uploads keep the old token meanwhile */
    ngx_add_timer(&o->timer,
                  (ngx_msec_t) ngx_max(lifetime * 1000 - OIE_OAUTH_REFRESH,
                                       lifetime * 500));

    json_decref(root);
    curl_slist_free_all(req->headers);
    ngx_free(req->body.data);
    ngx_http_oie_curl_free(req);

    if (o->ready) {
        o->ready();
    }

    return;

retry:

    json_decref(root);
    curl_slist_free_all(req->headers);
    ngx_free(req->body.data);
    ngx_http_oie_curl_free(req);

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    o->backoff = o->backoff ? ngx_min(o->backoff * 2, 60000) : 1000;
    ngx_add_timer(&o->timer, o->backoff);
}


/* header.claims.signature, each base64url (src/oie_jwt.c); malloc()ed */
static ngx_int_t
ngx_http_oie_oauth_jwt(ngx_http_oie_bq_conf_t *bq, ngx_str_t *jwt,
    ngx_log_t *log)
{
    oie_jwt_str_t  kid, iss, scope, aud;

    kid.data = (char *) bq->key_id.data;
    kid.len = bq->key_id.len;
    iss.data = (char *) bq->client_email.data;
    iss.len = bq->client_email.len;
    scope.data = OIE_OAUTH_SCOPE;
    scope.len = sizeof(OIE_OAUTH_SCOPE) - 1;
    aud.data = (char *) bq->token_endpoint.data;
    aud.len = bq->token_endpoint.len;

    jwt->data = (u_char *) oie_jwt_rs256(bq->pkey, kid, iss, scope, aud,
                                         ngx_time(), OIE_OAUTH_LIFETIME,
                                         &jwt->len);
    if (jwt->data == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "oie: signing the JWT failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}
