/*
 * A blocking BigQuery client for the CLI: a service-account key, OAuth2
 * tokens (the RS256 JWT of src/oie_jwt.c) and tabledata.insertAll, over one
 * libcurl easy handle (keep-alive).
 */

#ifndef _OIE_BQ_H_INCLUDED_
#define _OIE_BQ_H_INCLUDED_

#include <signal.h>

#include <openssl/evp.h>

#include "oie_cli.h"


typedef struct {
    long             status;        /* HTTP status, 0: no answer */
    int              failed;        /* connection, timeout, interrupted */
    char            *body;          /* NUL-terminated */
    size_t           len;
    char             error[256];    /* curl's message when failed */
} oie_http_t;


typedef struct {
    const char      *project;
    const char      *dataset;
    char            *endpoint;        /* .../bigquery/v2, no trailing / */
    char            *token_endpoint;
    const char      *credentials;
    char            *client_email;
    char            *key_id;
    EVP_PKEY        *pkey;
    long             timeout;         /* seconds, per request */
    void            *curl;
    char            *auth;            /* "Authorization: Bearer ..." */
    double           expires;         /* oie_now() based */
} oie_bq_t;


extern volatile sig_atomic_t  oie_bq_interrupted;


/*
 * Reads and checks the key (type service_account, client_email,
 * private_key_id, an RSA private_key); token_endpoint is the key's
 * token_uri unless set already.  Returns OIE_EXIT_OK, OIE_EXIT_IO (cannot
 * read) or OIE_EXIT_DATA (not such a key), reported.
 */
int oie_bq_load_key(oie_bq_t *bq, const char *path);

/*
 * A token for the next requests, fetched when there is none (or it
 * expires within a minute).  Returns 0, or -1 with res telling why (the
 * caller decides whether to retry).
 */
int oie_bq_token(oie_bq_t *bq, oie_http_t *res);

/* the token was refused (401): fetch a new one next time */
void oie_bq_token_forget(oie_bq_t *bq);

/* POST body to insertAll of table; 0 when an answer came, -1 if not */
int oie_bq_insert(oie_bq_t *bq, const char *table, const char *body,
    size_t len, oie_http_t *res);

/* Google's error reason ({"error":{"errors":[{"reason":..}]}}), or "" */
const char *oie_bq_reason(oie_http_t *res, char *buf, size_t size);

void oie_http_free(oie_http_t *res);
void oie_bq_free(oie_bq_t *bq);


#endif /* _OIE_BQ_H_INCLUDED_ */
