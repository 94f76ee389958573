/*
 * Leads from Redis (the hash "oie:lead:<id>" the oie CLI writes), through a
 * per-worker cache.
 *
 * The cache is only used while Redis tracks the lead keys for this worker
 * (CLIENT TRACKING ... BCAST PREFIX oie:lead:, see ngx_http_oie_redis.c):
 * every change of a lead, its expiry and FLUSHALL arrive as invalidation
 * messages and drop the entry.  A reply is cached only when nothing was
 * invalidated, and tracking did not stop, between the lookup and its reply,
 * so an answer that raced a change is never kept.  Unknown ids are cached
 * too (their key's creation is a change like any other).  The lead's email
 * hash is never kept: nothing at the edge needs it.
 */

#include "ngx_http_oie_identity.h"


#define OIE_LEAD_KEY_MAX        (sizeof(OIE_LEAD_KEY_PREFIX) + OIE_ID_MAX_LEN)
#define OIE_LEAD_ENTRY_MAX      4096


typedef struct ngx_http_oie_lead_entry_s  ngx_http_oie_lead_entry_t;

struct ngx_http_oie_lead_entry_s {
    ngx_http_oie_lead_entry_t  *next;         /* in its bucket */
    uint32_t                    hash;
    ngx_queue_t                 lru;
    u_char                      id[OIE_ID_MAX_LEN];
    size_t                      id_len;
    ngx_uint_t                  found;
    ngx_uint_t                  n;
    ngx_str_t                  *kv;
    /* kv[2n], then the bytes */
};


typedef struct {
    ngx_http_request_t             *r;
    ngx_http_oie_redis_cmd_t       *cmd;
    ngx_http_oie_lead_handler_pt    handler;
    u_char                          id[OIE_ID_MAX_LEN];
    size_t                          id_len;
    ngx_uint_t                      gen;
} ngx_http_oie_lead_ctx_t;


static void ngx_http_oie_lead_reply(void *data, redisReply *reply,
    ngx_uint_t status);
static void ngx_http_oie_lead_cancel(void *data);
static ngx_int_t ngx_http_oie_lead_from_reply(ngx_pool_t *pool,
    redisReply *reply, ngx_http_oie_lead_t *lead);
static ngx_uint_t ngx_http_oie_lead_kept(const char *name, size_t len);
static ngx_http_oie_lead_entry_t *ngx_http_oie_lead_find(u_char *id,
    size_t len, uint32_t hash);
static void ngx_http_oie_lead_insert(u_char *id, size_t len,
    ngx_http_oie_lead_t *lead, ngx_uint_t found);
static void ngx_http_oie_lead_delete(ngx_http_oie_lead_entry_t *e);
static void ngx_http_oie_lead_flush(void);
static void ngx_http_oie_lead_invalidate(u_char *key, size_t len);
static void ngx_http_oie_lead_tracking(ngx_uint_t on);


static ngx_http_oie_identity_main_conf_t  *ngx_http_oie_lead_imcf;
static ngx_http_oie_lead_entry_t         **ngx_http_oie_lead_buckets;
static ngx_uint_t                          ngx_http_oie_lead_mask;
static ngx_queue_t                         ngx_http_oie_lead_lru;
static ngx_uint_t                          ngx_http_oie_lead_count;
static ngx_uint_t                          ngx_http_oie_lead_on;
static ngx_uint_t                          ngx_http_oie_lead_gen;


ngx_int_t
ngx_http_oie_lead_init(ngx_cycle_t *cycle,
    ngx_http_oie_identity_main_conf_t *imcf)
{
    ngx_uint_t  n;

    ngx_http_oie_lead_imcf = imcf;

    ngx_queue_init(&ngx_http_oie_lead_lru);
    ngx_http_oie_lead_count = 0;
    ngx_http_oie_lead_on = 0;

    if (imcf->redis.cache) {
        /* a power of two of buckets, at least one per entry */
        for (n = 64; n < imcf->redis.cache; n <<= 1) { /* void */ }

        ngx_http_oie_lead_buckets = ngx_calloc(n * sizeof(void *),
                                               cycle->log);
        if (ngx_http_oie_lead_buckets == NULL) {
            return NGX_ERROR;
        }

        ngx_http_oie_lead_mask = n - 1;

        ngx_http_oie_redis_invalidate = ngx_http_oie_lead_invalidate;
        ngx_http_oie_redis_tracking = ngx_http_oie_lead_tracking;
    }

    return NGX_OK;
}


void
ngx_http_oie_lead_exit(ngx_cycle_t *cycle)
{
    ngx_http_oie_lead_on = 0;

    if (ngx_http_oie_lead_buckets) {
        ngx_http_oie_lead_flush();
        ngx_free(ngx_http_oie_lead_buckets);
        ngx_http_oie_lead_buckets = NULL;
    }
}


const char *
ngx_http_oie_lead_outcome(ngx_uint_t status)
{
    switch (status) {
    case OIE_LEAD_FOUND:
        return "ok";
    case OIE_LEAD_UNKNOWN:
        return "unknown_id";
    case OIE_LEAD_TIMEOUT:
        return "redis_timeout";
    default:
        return "redis_error";
    }
}


ngx_str_t *
ngx_http_oie_lead_field(ngx_http_oie_lead_t *lead, const char *name)
{
    size_t      n;
    ngx_uint_t  i;

    n = ngx_strlen(name);

    for (i = 0; i < lead->n; i++) {
        if (lead->kv[2 * i].len == n
            && ngx_strncmp(lead->kv[2 * i].data, name, n) == 0)
        {
            return &lead->kv[2 * i + 1];
        }
    }

    return NULL;
}


/* a lead of the cache made the request's own, to keep past this turn */
ngx_int_t
ngx_http_oie_lead_copy(ngx_pool_t *pool, ngx_http_oie_lead_t *lead)
{
    u_char      *p;
    size_t       size;
    ngx_str_t   *kv;
    ngx_uint_t   i;

    if (lead->n == 0) {
        return NGX_OK;
    }

    size = 0;

    for (i = 0; i < 2 * lead->n; i++) {
        size += lead->kv[i].len;
    }

    kv = ngx_palloc(pool, 2 * lead->n * sizeof(ngx_str_t) + size);
    if (kv == NULL) {
        return NGX_ERROR;
    }

    p = (u_char *) &kv[2 * lead->n];

    for (i = 0; i < 2 * lead->n; i++) {
        kv[i].data = p;
        kv[i].len = lead->kv[i].len;
        p = ngx_cpymem(p, lead->kv[i].data, lead->kv[i].len);
    }

    lead->kv = kv;

    return NGX_OK;
}


ngx_uint_t
ngx_http_oie_lead_lookup(ngx_http_request_t *r, u_char *id, size_t len,
    ngx_http_oie_lead_t *lead, ngx_http_oie_lead_handler_pt handler)
{
    u_char                      key[OIE_LEAD_KEY_MAX];
    const char                 *argv[2];
    size_t                      argvlen[2];
    ngx_pool_cleanup_t         *cln;
    ngx_http_oie_lead_ctx_t    *ctx;
    ngx_http_oie_lead_entry_t  *e;

    if (len > OIE_ID_MAX_LEN) {
        return OIE_LEAD_UNKNOWN;
    }

    if (ngx_http_oie_lead_on) {
        e = ngx_http_oie_lead_find(id, len, ngx_crc32_short(id, len));

        if (e) {
            ngx_queue_remove(&e->lru);
            ngx_queue_insert_head(&ngx_http_oie_lead_lru, &e->lru);

            /* the entry itself: it stays until the event loop turns */
            lead->n = e->n;
            lead->kv = e->kv;

            return e->found ? OIE_LEAD_FOUND : OIE_LEAD_UNKNOWN;
        }
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_oie_lead_ctx_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (ctx == NULL || cln == NULL) {
        return OIE_LEAD_ERROR;
    }

    ctx->r = r;
    ctx->handler = handler;
    ngx_memcpy(ctx->id, id, len);
    ctx->id_len = len;
    ctx->gen = ngx_http_oie_lead_gen;

    argv[0] = "HGETALL";
    argvlen[0] = 7;
    argv[1] = (const char *) key;
    argvlen[1] = ngx_cpymem(ngx_cpymem(key, OIE_LEAD_KEY_PREFIX,
                                       sizeof(OIE_LEAD_KEY_PREFIX) - 1),
                            id, len)
                 - key;

    ctx->cmd = ngx_http_oie_redis_send(ngx_http_oie_lead_reply, ctx,
                                       ngx_http_oie_lead_imcf->redis.timeout,
                                       2, argv, argvlen);

    if (ctx->cmd == NULL) {
        return OIE_LEAD_DOWN;
    }

    cln->handler = ngx_http_oie_lead_cancel;
    cln->data = ctx;

    r->main->count++;

    return OIE_LEAD_AGAIN;
}


/* the request went away first (it cannot, in practice, but be safe) */
static void
ngx_http_oie_lead_cancel(void *data)
{
    ngx_http_oie_lead_ctx_t  *ctx = data;

    if (ctx->cmd) {
        ngx_http_oie_redis_cancel(ctx->cmd);
        ctx->cmd = NULL;
    }
}


static void
ngx_http_oie_lead_reply(void *data, redisReply *reply, ngx_uint_t status)
{
    ngx_http_oie_lead_ctx_t  *ctx = data;

    ngx_uint_t           st;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;
    ngx_http_oie_lead_t  lead;

    ctx->cmd = NULL;
    r = ctx->r;
    c = r->connection;

    ngx_memzero(&lead, sizeof(ngx_http_oie_lead_t));

    switch (status) {

    case OIE_REDIS_TIMEOUT:
        st = OIE_LEAD_TIMEOUT;
        break;

    case OIE_REDIS_DOWN:
        st = OIE_LEAD_DOWN;
        break;

    default:
        if (reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "oie: redis answered \"%*s\" to a lead lookup",
                          (size_t) reply->len, reply->str);
            st = OIE_LEAD_ERROR;
            break;
        }

        if (ngx_http_oie_lead_from_reply(r->pool, reply, &lead) != NGX_OK) {
            st = OIE_LEAD_ERROR;
            break;
        }

        st = lead.n ? OIE_LEAD_FOUND : OIE_LEAD_UNKNOWN;

        if (ngx_http_oie_lead_on && ctx->gen == ngx_http_oie_lead_gen) {
            ngx_http_oie_lead_insert(ctx->id, ctx->id_len, &lead,
                                     st == OIE_LEAD_FOUND);
        }
    }

    ctx->handler(r, &lead, st);

    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_oie_lead_from_reply(ngx_pool_t *pool, redisReply *reply,
    ngx_http_oie_lead_t *lead)
{
    u_char      *p;
    size_t       i, n, size;
    redisReply  *k, *v;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2) {
        return NGX_ERROR;
    }

    n = 0;
    size = 0;

    for (i = 0; i < reply->elements; i += 2) {
        k = reply->element[i];
        v = reply->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            return NGX_ERROR;
        }

        if (!ngx_http_oie_lead_kept(k->str, k->len)) {
            continue;
        }

        n++;
        size += k->len + v->len;
    }

    lead->n = n;
    lead->kv = NULL;

    if (reply->elements == 0) {
        return NGX_OK;
    }

    if (n == 0) {
        /* a lead of nothing but hashes: still a lead */
        lead->n = 1;
        lead->kv = ngx_pcalloc(pool, 2 * sizeof(ngx_str_t));
        if (lead->kv == NULL) {
            return NGX_ERROR;
        }
        ngx_str_set(&lead->kv[0], "id");
        ngx_str_set(&lead->kv[1], "");
        return NGX_OK;
    }

    lead->kv = ngx_palloc(pool, 2 * n * sizeof(ngx_str_t) + size);
    if (lead->kv == NULL) {
        return NGX_ERROR;
    }

    p = (u_char *) &lead->kv[2 * n];
    n = 0;

    for (i = 0; i < reply->elements; i += 2) {
        k = reply->element[i];
        v = reply->element[i + 1];

        if (!ngx_http_oie_lead_kept(k->str, k->len)) {
            continue;
        }

        lead->kv[n].data = p;
        lead->kv[n].len = k->len;
        p = ngx_cpymem(p, k->str, k->len);
        n++;

        lead->kv[n].data = p;
        lead->kv[n].len = v->len;
        p = ngx_cpymem(p, v->str, v->len);
        n++;
    }

    return NGX_OK;
}


/* the email and its hashes never leave Redis through the edge */
static ngx_uint_t
ngx_http_oie_lead_kept(const char *name, size_t len)
{
    if (len >= 5 && ngx_strncasecmp((u_char *) name, (u_char *) "email", 5)
                    == 0)
    {
        return 0;
    }

    if (len >= 4 && ngx_strncasecmp((u_char *) name + len - 4,
                                    (u_char *) "hash", 4) == 0)
    {
        return 0;
    }

    return 1;
}


/* the cache */

static ngx_http_oie_lead_entry_t *
ngx_http_oie_lead_find(u_char *id, size_t len, uint32_t hash)
{
    ngx_http_oie_lead_entry_t  *e;

    for (e = ngx_http_oie_lead_buckets[hash & ngx_http_oie_lead_mask];
         e;
         e = e->next)
    {
        if (e->hash == hash && e->id_len == len
            && ngx_memcmp(e->id, id, len) == 0)
        {
            return e;
        }
    }

    return NULL;
}


static void
ngx_http_oie_lead_insert(u_char *id, size_t len, ngx_http_oie_lead_t *lead,
    ngx_uint_t found)
{
    u_char                     *p;
    size_t                      size;
    uint32_t                    hash;
    ngx_uint_t                  i;
    ngx_queue_t                *q;
    ngx_http_oie_lead_entry_t  *e;

    hash = ngx_crc32_short(id, len);

    e = ngx_http_oie_lead_find(id, len, hash);
    if (e) {
        ngx_http_oie_lead_delete(e);
    }

    size = sizeof(ngx_http_oie_lead_entry_t) + 2 * lead->n * sizeof(ngx_str_t);

    for (i = 0; i < 2 * lead->n; i++) {
        size += lead->kv[i].len;
    }

    if (size > OIE_LEAD_ENTRY_MAX) {
        return;
    }

    while (ngx_http_oie_lead_count >= ngx_http_oie_lead_imcf->redis.cache) {
        q = ngx_queue_last(&ngx_http_oie_lead_lru);
        ngx_http_oie_lead_delete(ngx_queue_data(q, ngx_http_oie_lead_entry_t,
                                                lru));
    }

    e = ngx_alloc(size, ngx_cycle->log);
    if (e == NULL) {
        return;
    }

    e->hash = hash;
    ngx_memcpy(e->id, id, len);
    e->id_len = len;
    e->found = found;
    e->n = lead->n;
    e->kv = (ngx_str_t *) &e[1];

    p = (u_char *) &e->kv[2 * lead->n];

    for (i = 0; i < 2 * lead->n; i++) {
        e->kv[i].data = p;
        e->kv[i].len = lead->kv[i].len;
        p = ngx_cpymem(p, lead->kv[i].data, lead->kv[i].len);
    }

    e->next = ngx_http_oie_lead_buckets[hash & ngx_http_oie_lead_mask];
    ngx_http_oie_lead_buckets[hash & ngx_http_oie_lead_mask] = e;
    ngx_queue_insert_head(&ngx_http_oie_lead_lru, &e->lru);
    ngx_http_oie_lead_count++;
}


static void
ngx_http_oie_lead_delete(ngx_http_oie_lead_entry_t *e)
{
    ngx_http_oie_lead_entry_t  **p;

    for (p = &ngx_http_oie_lead_buckets[e->hash & ngx_http_oie_lead_mask];
         *p != e;
         p = &(*p)->next)
    {
        /* void */
    }

    *p = e->next;
    ngx_queue_remove(&e->lru);
    ngx_http_oie_lead_count--;
    ngx_free(e);
}


static void
ngx_http_oie_lead_flush(void)
{
    ngx_queue_t  *q;

    while (!ngx_queue_empty(&ngx_http_oie_lead_lru)) {
        q = ngx_queue_head(&ngx_http_oie_lead_lru);
        ngx_http_oie_lead_delete(ngx_queue_data(q, ngx_http_oie_lead_entry_t,
                                                lru));
    }
}


static void
ngx_http_oie_lead_invalidate(u_char *key, size_t len)
{
    size_t                      n;
    ngx_http_oie_lead_entry_t  *e;

    /* replies in flight may predate the change: none of them is kept */
    ngx_http_oie_lead_gen++;

    if (key == NULL) {
        ngx_http_oie_lead_flush();
        return;
    }

    n = sizeof(OIE_LEAD_KEY_PREFIX) - 1;

    if (len <= n || ngx_strncmp(key, OIE_LEAD_KEY_PREFIX, n) != 0) {
        return;
    }

    key += n;
    len -= n;

    e = ngx_http_oie_lead_find(key, len, ngx_crc32_short(key, len));

    if (e) {
        ngx_http_oie_lead_delete(e);
    }
}


static void
ngx_http_oie_lead_tracking(ngx_uint_t on)
{
    ngx_http_oie_lead_gen++;
    ngx_http_oie_lead_on = on;
    ngx_http_oie_lead_flush();
}
