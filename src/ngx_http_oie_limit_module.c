/*
 * ngx_http_oie_limit_module: oie_miss_limit, a limit on the ids a client
 * may guess.  limit_req counts requests; enumeration is told apart from a
 * visitor by what it finds: nothing.  So the ids a client asks /r/ or /p
 * for that are malformed, badly signed or unknown count as misses, per
 * client address (an IPv6 client by its /64, which one machine usually
 * owns whole), in leaky buckets (oie_limit.c) in a shared zone.
 *
 *     oie_miss_limit  off | RATE [burst=N] [zone=SIZE]     (http; off)
 *
 * RATE is "Nr/s" or "Nr/m".  A client over the limit gets 429 with
 * Retry-After from /p, and the fallback from /r/ without a lookup (a click
 * never fails, and an enumerator learns nothing); /o/ answers its GIF to
 * anyone and tells nothing, so it neither counts nor is limited.  Hits
 * never count: a lead clicking its own links is never limited.
 *
 * The zone ("oie_miss_limit") survives a reload of the same size.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oie_limit.h"
#include "oie_limit.h"


#define OIE_LIMIT_ZONE_NAME     "oie_miss_limit"
#define OIE_LIMIT_ZONE_SIZE     (1024 * 1024)


typedef struct {
    oie_limit_conf_t            conf;         /* rate 0: off */
    size_t                      zone_size;
    ngx_shm_zone_t             *zone;         /* NULL: off */
    ngx_flag_t                  set;
} ngx_http_oie_limit_main_conf_t;


static void *ngx_http_oie_limit_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_oie_miss_limit(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_oie_limit_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static oie_limit_t *ngx_http_oie_limit_table(ngx_http_request_t *r,
    ngx_http_oie_limit_main_conf_t **lmcf, u_char *key, size_t *len);


static ngx_command_t  ngx_http_oie_limit_commands[] = {

    { ngx_string("oie_miss_limit"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_oie_miss_limit,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_oie_limit_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_oie_limit_create_main_conf,   /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_oie_limit_module = {
    NGX_MODULE_V1,
    &ngx_http_oie_limit_module_ctx,        /* module context */
    ngx_http_oie_limit_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_oie_limit_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_oie_limit_main_conf_t  *lmcf;

    /*
     * set by ngx_pcalloc():
     *
     *     lmcf->conf.rate = 0;
     *     lmcf->zone = NULL;
     *     lmcf->set = 0;
     */

    lmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_oie_limit_main_conf_t));
    if (lmcf == NULL) {
        return NULL;
    }

    lmcf->zone_size = OIE_LIMIT_ZONE_SIZE;

    return lmcf;
}


/* oie_miss_limit off | RATE [burst=N] [zone=SIZE] */
static char *
ngx_http_oie_miss_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oie_limit_main_conf_t *lmcf = conf;

    u_char      *p;
    size_t       len;
    ssize_t      size;
    ngx_int_t    n, scale;
    ngx_str_t   *value, name;
    ngx_uint_t   i, burst;

    if (lmcf->set) {
        return "is duplicate";
    }

    lmcf->set = 1;

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts > 2) {
            return "takes no parameters after \"off\"";
        }

        return NGX_CONF_OK;
    }

    len = value[1].len;
    p = value[1].data;
    scale = 1;

    if (len > 3 && ngx_strcmp(p + len - 3, "r/s") == 0) {
        len -= 3;

    } else if (len > 3 && ngx_strcmp(p + len - 3, "r/m") == 0) {
        len -= 3;
        scale = 60;

    } else {
        len = 0;
    }

    n = len ? ngx_atoi(p, len) : NGX_ERROR;

    if (n <= 0 || n > 1000000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oie_miss_limit: invalid rate \"%V\" (expected "
                           "a number of misses, then r/s or r/m, e.g. 10r/m)",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    burst = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "burst=", 6) == 0) {
            n = ngx_atoi(value[i].data + 6, value[i].len - 6);

            if (n < 0 || n > 1000000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "oie_miss_limit: invalid burst \"%V\"",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            burst = (ngx_uint_t) n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            name.data = value[i].data + 5;
            name.len = value[i].len - 5;

            size = ngx_parse_size(&name);

            if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "oie_miss_limit: invalid zone size "
                                   "\"%V\" (at least %uz)",
                                   &value[i], 8 * ngx_pagesize);
                return NGX_CONF_ERROR;
            }

            lmcf->zone_size = (size_t) size;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oie_miss_limit: unknown parameter \"%V\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    lmcf->conf.rate = (uint64_t) ngx_atoi(p, len) * 1000 / scale;
    lmcf->conf.burst = burst;

    if (lmcf->conf.rate == 0) {
        lmcf->conf.rate = 1;
    }

    ngx_str_set(&name, OIE_LIMIT_ZONE_NAME);

    lmcf->zone = ngx_shared_memory_add(cf, &name, lmcf->zone_size,
                                       &ngx_http_oie_limit_module);
    if (lmcf->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (lmcf->zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oie_miss_limit: zone \"%V\" is already used",
                           &name);
        return NGX_CONF_ERROR;
    }

    lmcf->zone->init = ngx_http_oie_limit_init_zone;
    lmcf->zone->data = lmcf;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_oie_limit_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    size_t            bytes;
    uint64_t          seed;
    oie_limit_t      *lt;
    ngx_slab_pool_t  *shpool;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (data || shm_zone->shm.exists) {
        /* a reload, the same size: the clients over the limit stay so */
        return NGX_OK;
    }

    /* one allocation takes all free pages but a couple, for the slab's own */
    bytes = (shpool->pfree - 2) * ngx_pagesize;

    lt = ngx_slab_alloc(shpool, bytes);
    if (lt == NULL) {
        return NGX_ERROR;
    }

    seed = (uint64_t) ngx_random() << 32 ^ (uint64_t) ngx_random()
           ^ (uint64_t) ngx_time() ^ (uint64_t) ngx_pid << 16;

    lt = oie_limit_init(lt, bytes, seed);
    if (lt == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "oie: zone \"%V\" is too small for oie_miss_limit",
                      &shm_zone->shm.name);
        return NGX_ERROR;
    }

    shpool->data = lt;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, shm_zone->shm.log, 0,
                   "oie miss limit: %ud clients in %uz bytes",
                   oie_limit_slots(lt), bytes);

    return NGX_OK;
}


ngx_msec_t
ngx_http_oie_limit_wait(ngx_http_request_t *r)
{
    u_char                           key[9];
    size_t                           len;
    int64_t                          wait;
    oie_limit_t                     *lt;
    ngx_slab_pool_t                 *shpool;
    ngx_http_oie_limit_main_conf_t  *lmcf;

    lt = ngx_http_oie_limit_table(r, &lmcf, key, &len);
    if (lt == NULL) {
        return 0;
    }

    shpool = (ngx_slab_pool_t *) lmcf->zone->shm.addr;

    ngx_shmtx_lock(&shpool->mutex);
    wait = oie_limit_wait(lt, &lmcf->conf, key, len,
                          (int64_t) ngx_current_msec);
    ngx_shmtx_unlock(&shpool->mutex);

    return (ngx_msec_t) wait;
}


void
ngx_http_oie_limit_miss(ngx_http_request_t *r)
{
    int                              crossed;
    u_char                           key[9];
    size_t                           len;
    int64_t                          wait;
    oie_limit_t                     *lt;
    ngx_slab_pool_t                 *shpool;
    ngx_http_oie_limit_main_conf_t  *lmcf;

    lt = ngx_http_oie_limit_table(r, &lmcf, key, &len);
    if (lt == NULL) {
        return;
    }

    shpool = (ngx_slab_pool_t *) lmcf->zone->shm.addr;

    ngx_shmtx_lock(&shpool->mutex);
    wait = oie_limit_miss(lt, &lmcf->conf, key, len,
                          (int64_t) ngx_current_msec, &crossed);
    ngx_shmtx_unlock(&shpool->mutex);

    if (crossed) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oie: client %V went over oie_miss_limit (%uL misses "
                      "at once, then %uL.%03uL a second): its ids are "
                      "refused for %L ms",
                      &r->connection->addr_text, lmcf->conf.burst,
                      lmcf->conf.rate / 1000, lmcf->conf.rate % 1000, wait);
    }
}


/*
 * The table, or NULL when oie_miss_limit is off; the client's key: "4" and
 * an IPv4 address (also one mapped into IPv6), "6" and the /64 of an IPv6
 * one, "u" for a UNIX socket.
 */
static oie_limit_t *
ngx_http_oie_limit_table(ngx_http_request_t *r,
    ngx_http_oie_limit_main_conf_t **lmcf, u_char *key, size_t *len)
{
    struct sockaddr_in               *sin;
    ngx_slab_pool_t                  *shpool;
#if (NGX_HAVE_INET6)
    u_char                           *a;
    struct sockaddr_in6              *sin6;
#endif

    *lmcf = ngx_http_get_module_main_conf(r, ngx_http_oie_limit_module);

    if ((*lmcf)->zone == NULL) {
        return NULL;
    }

    switch (r->connection->sockaddr->sa_family) {

    case AF_INET:
        sin = (struct sockaddr_in *) r->connection->sockaddr;
        key[0] = '4';
        ngx_memcpy(key + 1, &sin->sin_addr, 4);
        *len = 5;
        break;

#if (NGX_HAVE_INET6)
    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) r->connection->sockaddr;
        a = sin6->sin6_addr.s6_addr;

        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            key[0] = '4';
            ngx_memcpy(key + 1, a + 12, 4);
            *len = 5;

        } else {
            key[0] = '6';
            ngx_memcpy(key + 1, a, 8);
            *len = 9;
        }

        break;
#endif

    default:
        key[0] = 'u';
        *len = 1;
        break;
    }

    shpool = (ngx_slab_pool_t *) (*lmcf)->zone->shm.addr;

    return shpool->data;
}
