/*
 * oie_personalize: GET /p?i=<id> answers the lead's listed fields as JSON,
 * plus intentLevel (cold, warm, hot, burning) from the live score, for the
 * pixel's data-personalize and data-show-if.  Only the fields configured
 * are ever answered (and never an email or a hash, which the configuration
 * refuses); an unknown, unsigned or badly signed id is a 404 like any other,
 * so ids cannot be tried one after the other to harvest leads.
 *
 * The lead and its score are asked of Redis together (pipelined) and the
 * answer waits for both at most the oie_redis timeout: a late score leaves
 * intentLevel out, a late lead is a 503.
 */

#include "ngx_http_oie_identity.h"
#include "ngx_http_oie_limit.h"
#include "oie_score.h"


#define OIE_SCORE_KEY_MAX   (sizeof(OIE_SCORE_KEY_PREFIX) + OIE_ID_MAX_LEN)


typedef struct {
    ngx_http_request_t         *r;
    ngx_str_t                   id;
    ngx_http_oie_lead_t         lead;
    ngx_uint_t                  lead_status;
    ngx_uint_t                  lead_done;
    ngx_http_oie_redis_cmd_t   *score_cmd;
    ngx_uint_t                  score_done;
    ngx_uint_t                  score_ok;
    oie_score_input_t           score;
} ngx_http_oie_personalize_ctx_t;


static void ngx_http_oie_personalize_lead(ngx_http_request_t *r,
    ngx_http_oie_lead_t *lead, ngx_uint_t status);
static void ngx_http_oie_personalize_score(void *data, redisReply *reply,
    ngx_uint_t status);
static void ngx_http_oie_personalize_cancel(void *data);
static ngx_int_t ngx_http_oie_personalize_answer(ngx_http_request_t *r,
    ngx_http_oie_personalize_ctx_t *ctx);
static ngx_int_t ngx_http_oie_personalize_limited(ngx_http_request_t *r,
    ngx_msec_t wait);


ngx_int_t
ngx_http_oie_personalize_handler(ngx_http_request_t *r)
{
    u_char                             *p, key[OIE_SCORE_KEY_MAX];
    size_t                              n;
    ngx_str_t                           arg, raw;
    ngx_uint_t                          rc;
    ngx_msec_t                          wait;
    const char                         *argv[2];
    size_t                              argvlen[2];
    ngx_pool_cleanup_t                 *cln;
    ngx_http_oie_loc_conf_t            *olcf;
    ngx_http_oie_personalize_ctx_t     *ctx;
    ngx_http_oie_identity_loc_conf_t   *ilcf;
    ngx_http_oie_identity_main_conf_t  *imcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_oie_module);
    ilcf = ngx_http_get_module_loc_conf(r, ngx_http_oie_identity_module);
    imcf = ngx_http_get_module_main_conf(r, ngx_http_oie_identity_module);

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    if (!ngx_http_oie_origin_allowed(r, olcf)) {
        return ngx_http_oie_reply_json(r, NGX_HTTP_FORBIDDEN,
                                       "origin not allowed");
    }

    if (r->method == NGX_HTTP_OPTIONS) {
        if (ngx_http_oie_cors(r, olcf, 1) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_oie_reply_empty(r, NGX_HTTP_NO_CONTENT);
    }

    if (ngx_http_oie_cors(r, olcf, 0) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        if (ngx_http_oie_add_header(r, "Allow", "GET, HEAD, OPTIONS")
            == NULL)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_oie_reply_json(r, NGX_HTTP_NOT_ALLOWED,
                                       "method not allowed");
    }

    if (ngx_http_arg(r, (u_char *) "i", 1, &arg) != NGX_OK || arg.len == 0) {
        return ngx_http_oie_reply_json(r, NGX_HTTP_BAD_REQUEST,
                                       "missing \"i\" argument");
    }

    raw.data = ngx_pnalloc(r->pool, arg.len);
    if (raw.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = raw.data;
    ngx_unescape_uri(&p, &arg.data, arg.len, 0);
    raw.len = p - raw.data;

    rc = ngx_http_oie_id_resolve(ilcf, raw.data, raw.len, &n);

    /* over oie_miss_limit: 429, unless the id is signed right */
    if (!(rc == OIE_IDR_OK && ilcf->secret.len)) {
        wait = ngx_http_oie_limit_wait(r);

        if (wait) {
            return ngx_http_oie_personalize_limited(r, wait);
        }
    }

    if (rc == OIE_IDR_MALFORMED) {
        ngx_http_oie_limit_miss(r);
        return ngx_http_oie_reply_json(r, NGX_HTTP_BAD_REQUEST,
                                       "malformed id");
    }

    if (rc == OIE_IDR_BAD_SIGNATURE) {
        ngx_http_oie_limit_miss(r);
        return ngx_http_oie_reply_json(r, NGX_HTTP_NOT_FOUND, "unknown id");
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_oie_personalize_ctx_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (ctx == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->r = r;
    ctx->id.data = raw.data;
    ctx->id.len = n;

    ngx_http_set_ctx(r, ctx, ngx_http_oie_identity_module);

    cln->handler = ngx_http_oie_personalize_cancel;
    cln->data = ctx;

    /* the score first: its reply comes after the lead's, if that is asked */
    argv[0] = "HGETALL";
    argvlen[0] = 7;
    argv[1] = (const char *) key;
    argvlen[1] = ngx_cpymem(ngx_cpymem(key, OIE_SCORE_KEY_PREFIX,
                                       sizeof(OIE_SCORE_KEY_PREFIX) - 1),
                            ctx->id.data, ctx->id.len)
                 - key;

    ctx->score_cmd = ngx_http_oie_redis_send(ngx_http_oie_personalize_score,
                                             ctx, imcf->redis.timeout, 2,
                                             argv, argvlen);

    if (ctx->score_cmd == NULL) {
        ctx->score_done = 1;
    }

    ctx->lead_status = ngx_http_oie_lead_lookup(r, ctx->id.data, ctx->id.len,
                                                &ctx->lead,
                                                ngx_http_oie_personalize_lead);

    if (ctx->lead_status == OIE_LEAD_AGAIN) {
        return NGX_DONE;
    }

    ctx->lead_done = 1;

    if (ctx->lead_status != OIE_LEAD_FOUND || ctx->score_done) {
        return ngx_http_oie_personalize_answer(r, ctx);
    }

    /* a cached lead: only the score is awaited, the lead kept meanwhile */
    if (ngx_http_oie_lead_copy(r->pool, &ctx->lead) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_oie_personalize_lead(ngx_http_request_t *r,
    ngx_http_oie_lead_t *lead, ngx_uint_t status)
{
    ngx_http_oie_personalize_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oie_identity_module);

    ctx->lead = *lead;
    ctx->lead_status = status;
    ctx->lead_done = 1;

    if (ctx->score_done || status != OIE_LEAD_FOUND) {
        ngx_http_finalize_request(r,
                                  ngx_http_oie_personalize_answer(r, ctx));
    }
}


static void
ngx_http_oie_personalize_score(void *data, redisReply *reply,
    ngx_uint_t status)
{
    ngx_http_oie_personalize_ctx_t *ctx = data;

    size_t               i;
    redisReply          *k, *v;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    ctx->score_cmd = NULL;
    ctx->score_done = 1;

    if (status == OIE_REDIS_REPLY && reply->type == REDIS_REPLY_ARRAY) {
        ctx->score_ok = 1;

        for (i = 0; i + 1 < reply->elements; i += 2) {
            k = reply->element[i];
            v = reply->element[i + 1];

            if (k->type == REDIS_REPLY_STRING
                && v->type == REDIS_REPLY_STRING)
            {
                /* fields it does not know, values it cannot read: 0 */
                (void) oie_score_input_set(&ctx->score, k->str, k->len,
                                           v->str, v->len);
            }
        }
    }

    /* the answer was given already (the lead was not found), or the lead
     * is still awaited */
    if (!ctx->lead_done || ctx->lead_status != OIE_LEAD_FOUND) {
        return;
    }

    r = ctx->r;
    c = r->connection;

    ngx_http_finalize_request(r, ngx_http_oie_personalize_answer(r, ctx));
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_oie_personalize_cancel(void *data)
{
    ngx_http_oie_personalize_ctx_t  *ctx = data;

    if (ctx->score_cmd) {
        ngx_http_oie_redis_cancel(ctx->score_cmd);
        ctx->score_cmd = NULL;
    }
}


static ngx_int_t
ngx_http_oie_personalize_answer(ngx_http_request_t *r,
    ngx_http_oie_personalize_ctx_t *ctx)
{
    u_char                             *body, *p;
    size_t                              size;
    ngx_str_t                          *fields, *v;
    ngx_str_t                           type = ngx_string("application/json");
    ngx_uint_t                          i;
    oie_score_t                         score;
    const char                         *level;
    ngx_http_oie_identity_loc_conf_t   *ilcf;

    /* the answer is final: a score still on its way is not awaited */
    if (ctx->score_cmd) {
        ngx_http_oie_redis_cancel(ctx->score_cmd);
        ctx->score_cmd = NULL;
    }

    switch (ctx->lead_status) {

    case OIE_LEAD_FOUND:
        break;

    case OIE_LEAD_UNKNOWN:
        ngx_http_oie_limit_miss(r);
        return ngx_http_oie_reply_json(r, NGX_HTTP_NOT_FOUND, "unknown id");

    case OIE_LEAD_TIMEOUT:
        return ngx_http_oie_reply_json(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "lead store timed out");

    default:
        return ngx_http_oie_reply_json(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "lead store unavailable");
    }

    ilcf = ngx_http_get_module_loc_conf(r, ngx_http_oie_identity_module);

    level = NULL;

    if (ctx->score_ok) {
        oie_score_compute(&ctx->score, ngx_http_oie_now_msec(), &score);
        level = oie_score_level_name(score.level);
    }

    fields = ilcf->fields->elts;
    size = sizeof("{,\"intentLevel\":\"burning\"}\n");

    for (i = 0; i < ilcf->fields->nelts; i++) {
        v = ngx_http_oie_lead_field(&ctx->lead, (char *) fields[i].data);

        if (v) {
            size += fields[i].len + v->len * 6 + sizeof(",\"\":\"\"");
        }
    }

    body = ngx_pnalloc(r->pool, size);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = body;
    *p++ = '{';

    for (i = 0; i < ilcf->fields->nelts; i++) {
        v = ngx_http_oie_lead_field(&ctx->lead, (char *) fields[i].data);

        if (v == NULL) {
            continue;
        }

        if (p[-1] != '{') {
            *p++ = ',';
        }

        *p++ = '"';
        p = ngx_cpymem(p, fields[i].data, fields[i].len);
        *p++ = '"';
        *p++ = ':';
        *p++ = '"';
        p = ngx_http_oie_json_text(p, v->data, v->len);
        *p++ = '"';
    }

    if (level) {
        if (p[-1] != '{') {
            *p++ = ',';
        }

        p = ngx_sprintf(p, "\"intentLevel\":\"%s\"", level);
    }

    *p++ = '}';
    *p++ = '\n';

    if (ngx_http_oie_add_header(r, "Cache-Control", "private") == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_oie_reply_buf(r, NGX_HTTP_OK, &type, body, p - body);
}


/* 429 with Retry-After in whole seconds, rounded up */
static ngx_int_t
ngx_http_oie_personalize_limited(ngx_http_request_t *r, ngx_msec_t wait)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN + 1);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    (void) ngx_sprintf(p, "%M%Z", (wait + 999) / 1000);

    if (ngx_http_oie_add_header(r, "Retry-After", (char *) p) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_oie_reply_json(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                   "too many unknown ids from this address");
}
