/*
 * A blocking BigQuery client for the CLI: key, token, insertAll.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/pem.h>

#include "oie_bq.h"
#include "oie_jwt.h"


#define OIE_BQ_SCOPE     "https://www.googleapis.com/auth/bigquery"
#define OIE_BQ_GRANT     "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3A" \
                         "jwt-bearer"
#define OIE_BQ_TOKEN     "https://oauth2.googleapis.com/token"
#define OIE_BQ_LIFETIME  3600
#define OIE_BQ_MAX_BODY  (4 * 1024 * 1024)


volatile sig_atomic_t  oie_bq_interrupted;


int
oie_bq_load_key(oie_bq_t *bq, const char *path)
{
    BIO           *bio;
    json_t        *root, *email, *kid, *uri;
    const char    *type, *pem;
    json_error_t   err;

    root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);

    if (root == NULL) {
        if (err.line < 1) {
            oie_error("cannot read the credentials %s: %s", path, err.text);
            return OIE_EXIT_IO;
        }

        oie_error("%s:%d:%d: the credentials are not JSON: %s", path,
                  err.line, err.column > 0 ? err.column : 1, err.text);
        return OIE_EXIT_DATA;
    }

    type = json_string_value(json_object_get(root, "type"));
    email = json_object_get(root, "client_email");
    kid = json_object_get(root, "private_key_id");
    uri = json_object_get(root, "token_uri");
    pem = json_string_value(json_object_get(root, "private_key"));

    if (type == NULL || strcmp(type, "service_account") != 0) {
        oie_error("%s is not a service-account key (\"type\" must be "
                  "\"service_account\")", path);
        goto failed;
    }

    if (!json_is_string(email) || !json_is_string(kid) || pem == NULL) {
        oie_error("%s lacks client_email, private_key or private_key_id",
                  path);
        goto failed;
    }

    bio = BIO_new_mem_buf(pem, -1);
    bq->pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);

    if (bq->pkey == NULL || EVP_PKEY_base_id(bq->pkey) != EVP_PKEY_RSA) {
        oie_error("the private_key in %s is not an RSA key in PEM form",
                  path);
        EVP_PKEY_free(bq->pkey);
        bq->pkey = NULL;
        goto failed;
    }

    bq->credentials = path;
    bq->client_email = oie_xstrdup(json_string_value(email));
    bq->key_id = oie_xstrdup(json_string_value(kid));

    if (bq->token_endpoint == NULL) {
        bq->token_endpoint = oie_xstrdup(json_is_string(uri)
                                         ? json_string_value(uri)
                                         : OIE_BQ_TOKEN);
    }

    json_decref(root);

    return OIE_EXIT_OK;

failed:

    json_decref(root);

    return OIE_EXIT_DATA;
}


static size_t
oie_bq_write(char *data, size_t size, size_t n, void *ctx)
{
    size_t       len;
    oie_http_t  *res = ctx;

    len = size * n;

    if (res->len + len > OIE_BQ_MAX_BODY) {
        return 0;
    }

    res->body = oie_xrealloc(res->body, res->len + len + 1);
    memcpy(res->body + res->len, data, len);
    res->len += len;
    res->body[res->len] = '\0';

    return len;
}


static int
oie_bq_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
    (void) ctx;
    (void) dltotal;
    (void) dlnow;
    (void) ultotal;
    (void) ulnow;

    return oie_bq_interrupted ? 1 : 0;
}


static int
oie_bq_post(oie_bq_t *bq, const char *url, struct curl_slist *headers,
    const char *body, size_t len, oie_http_t *res)
{
    CURL      *curl;
    CURLcode   rc;

    memset(res, 0, sizeof(oie_http_t));

    if (bq->curl == NULL) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        bq->curl = curl_easy_init();

        if (bq->curl == NULL) {
            oie_error("out of memory (curl)");
            exit(OIE_EXIT_INTERNAL);
        }
    }

    curl = bq->curl;
    curl_easy_reset(curl);

    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, oie_bq_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, res);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, res->error);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, bq->timeout);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, oie_bq_progress);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "oie/" OIE_VERSION);
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");

    rc = curl_easy_perform(curl);

    if (rc != CURLE_OK) {
        res->failed = 1;

        if (res->error[0] == '\0') {
            snprintf(res->error, sizeof(res->error), "%s",
                     curl_easy_strerror(rc));
        }

        return -1;
    }

    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res->status);

    if (res->body == NULL) {
        res->body = oie_xstrdup("");
    }

    return 0;
}


int
oie_bq_token(oie_bq_t *bq, oie_http_t *res)
{
    int                 rc;
    char               *jwt, *body;
    size_t              jwt_len;
    json_t             *root, *tok, *exp;
    json_int_t          lifetime;
    oie_jwt_str_t       kid, iss, scope, aud;
    struct curl_slist  *headers;

    memset(res, 0, sizeof(oie_http_t));

    if (bq->auth != NULL && bq->expires - oie_now() > 60) {
        return 0;
    }

    kid.data = bq->key_id;
    kid.len = strlen(bq->key_id);
    iss.data = bq->client_email;
    iss.len = strlen(bq->client_email);
    scope.data = OIE_BQ_SCOPE;
    scope.len = sizeof(OIE_BQ_SCOPE) - 1;
    aud.data = bq->token_endpoint;
    aud.len = strlen(bq->token_endpoint);

    jwt = oie_jwt_rs256(bq->pkey, kid, iss, scope, aud, (int64_t) time(NULL),
                        OIE_BQ_LIFETIME, &jwt_len);
    if (jwt == NULL) {
        oie_error("signing the JWT with the key of %s failed",
                  bq->credentials);
        exit(OIE_EXIT_INTERNAL);
    }

    body = oie_xasprintf("grant_type=%s&assertion=%s", OIE_BQ_GRANT, jwt);
    free(jwt);

    headers = curl_slist_append(NULL, "Content-Type: "
                                "application/x-www-form-urlencoded");
    headers = curl_slist_append(headers, "Expect:");

    rc = oie_bq_post(bq, bq->token_endpoint, headers, body, strlen(body),
                     res);

    curl_slist_free_all(headers);
    free(body);

    if (rc != 0 || res->status != 200) {
        return -1;
    }

    root = json_loadb(res->body, res->len, 0, NULL);
    tok = json_object_get(root, "access_token");
    exp = json_object_get(root, "expires_in");

    if (!json_is_string(tok) || json_string_length(tok) == 0
        || json_string_length(tok) > 4096)
    {
        json_decref(root);
        snprintf(res->error, sizeof(res->error),
                 "the answer has no usable access_token");
        res->status = 0;
        res->failed = 1;
        return -1;
    }

    free(bq->auth);
    bq->auth = oie_xasprintf("Authorization: Bearer %s",
                             json_string_value(tok));

    lifetime = json_is_integer(exp) ? json_integer_value(exp) : 3600;
    lifetime = lifetime < 60 ? 60 : lifetime > 86400 ? 86400 : lifetime;
    bq->expires = oie_now() + (double) lifetime;

    json_decref(root);
    oie_http_free(res);

    return 0;
}


void
oie_bq_token_forget(oie_bq_t *bq)
{
    free(bq->auth);
    bq->auth = NULL;
}


int
oie_bq_insert(oie_bq_t *bq, const char *table, const char *body, size_t len,
    oie_http_t *res)
{
    int                 rc;
    char               *url;
    struct curl_slist  *headers;

    url = oie_xasprintf("%s/projects/%s/datasets/%s/tables/%s/insertAll",
                        bq->endpoint, bq->project, bq->dataset, table);

    headers = curl_slist_append(NULL, bq->auth);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");

    rc = oie_bq_post(bq, url, headers, body, len, res);

    curl_slist_free_all(headers);
    free(url);

    return rc;
}


const char *
oie_bq_reason(oie_http_t *res, char *buf, size_t size)
{
    json_t      *root, *errors;
    const char  *reason;

    buf[0] = '\0';

    if (res->body == NULL) {
        return buf;
    }

    root = json_loadb(res->body, res->len, 0, NULL);
    errors = json_object_get(json_object_get(root, "error"), "errors");
    reason = json_string_value(json_object_get(json_array_get(errors, 0),
                                               "reason"));

    if (reason == NULL) {
        /* OAuth: {"error":"invalid_grant","error_description":..} */
        reason = json_string_value(json_object_get(root, "error"));
    }

    snprintf(buf, size, "%s", reason ? reason : "");
    json_decref(root);

    return buf;
}


void
oie_http_free(oie_http_t *res)
{
    free(res->body);
    res->body = NULL;
    res->len = 0;
}


void
oie_bq_free(oie_bq_t *bq)
{
    if (bq->curl) {
        curl_easy_cleanup(bq->curl);
        curl_global_cleanup();
        bq->curl = NULL;
    }

    EVP_PKEY_free(bq->pkey);
    free(bq->client_email);
    free(bq->key_id);
    free(bq->token_endpoint);
    free(bq->endpoint);
    free(bq->auth);
    bq->pkey = NULL;
    bq->client_email = NULL;
    bq->key_id = NULL;
    bq->token_endpoint = NULL;
    bq->endpoint = NULL;
    bq->auth = NULL;
}
