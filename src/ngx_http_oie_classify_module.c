/*
 * ngx_http_oie_classify_module: clicks, opens and page requests labelled
 * human, unknown, prefetch, bot or scanner (oie_classify.c), from the
 * scanner networks (oie_cidr.c, a trie built once at configuration time)
 * and hit timing kept in a shared zone; and the client address as rows
 * store it.
 *
 *     oie_scanner_networks  FILE                  (http; repeatable)
 *     oie_classify          on | off              (http, server, location;
 *                                                  on)
 *     oie_classify_timing   off | [zone=1m] [window=2s] [idle=1h]
 *                           [too_fast=2s] [burst=3] [campaign_burst=10]
 *                           [page_burst=10]       (http)
 *     oie_ip_anonymize      on | off              (http, server, location;
 *                                                  off)
 *     oie_classify_check                          (location)
 *
 * oie_classify_check answers what the edge makes of the request itself:
 * {"class":"scanner","reasons":["net:microsoft-eop:certain"],
 * "ip":"40.107.1.0"}, and the headers X-OIE-Traffic-Class and
 * X-OIE-Traffic-Reasons (for HEAD).  Arguments: kind=click|open|page
 * (click), key=<lead or visitor id>, campaign=<name>, webdriver=1.  Its
 * hits count for timing like any other.  For operators checking a list
 * or a user agent; keep it behind allow/deny like oie_status.
 *
 * Timing keys: "l" + lead id for clicks and opens, "c" + campaign for the
 * campaign's hits, "v" + visitor id for page requests.  The zone
 * ("oie_classify") exists when some location uses oie, unless
 * oie_classify_timing is off; it survives a reload of the same size.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oie_module.h"
#include "ngx_http_oie_classify.h"


#define OIE_CLASSIFY_ZONE_NAME  "oie_classify"
#define OIE_CLASSIFY_ZONE_SIZE  (1024 * 1024)
#define OIE_CLASSIFY_KEY_MAX    256


typedef struct {
    oie_cidr_t                 *nets;         /* NULL: no networks */
    oie_classify_conf_t         conf;
    ngx_flag_t                  timing;
    size_t                      zone_size;
    ngx_msec_t                  window;
    ngx_msec_t                  idle;
    ngx_msec_t                  too_fast;
    ngx_uint_t                  burst;
    ngx_uint_t                  campaign_burst;
    ngx_uint_t                  page_burst;
    ngx_shm_zone_t             *zone;
    ngx_flag_t                  used;         /* oie_classify_check */
} ngx_http_oie_classify_main_conf_t;


typedef struct {
    ngx_flag_t                  enable;
    ngx_flag_t                  anonymize;
} ngx_http_oie_classify_loc_conf_t;


static void *ngx_http_oie_classify_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_oie_classify_init_main_conf(ngx_conf_t *cf,
    void *conf);
static void *ngx_http_oie_classify_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_oie_classify_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_oie_scanner_networks(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_oie_classify_timing(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_oie_classify_check(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_oie_classify_check_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_oie_classify_arg(ngx_http_request_t *r,
    const char *name, ngx_str_t *value);
static void ngx_http_oie_classify_free_nets(void *data);
static ngx_int_t ngx_http_oie_classify_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_oie_classify_headers(ngx_http_request_t *r,
    oie_classify_in_t *in);
static void ngx_http_oie_classify_hits(ngx_http_oie_classify_main_conf_t
    *cmcf, u_char prefix, ngx_str_t *key, ngx_str_t *campaign,
    oie_timing_facts_t *f, oie_timing_facts_t *fc);
static void ngx_http_oie_classify_result(ngx_http_oie_traffic_t *t);


/* per worker: what the user agents seen lately matched (70 KB) */
static oie_ua_cache_t  ngx_http_oie_ua_cache;


static ngx_command_t  ngx_http_oie_classify_commands[] = {

    { ngx_string("oie_scanner_networks"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_oie_scanner_networks,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oie_classify"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oie_classify_loc_conf_t, enable),
      NULL },

    { ngx_string("oie_classify_timing"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_oie_classify_timing,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oie_ip_anonymize"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oie_classify_loc_conf_t, anonymize),
      NULL },

    { ngx_string("oie_classify_check"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_oie_classify_check,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_oie_classify_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_oie_classify_create_main_conf, /* create main configuration */
    ngx_http_oie_classify_init_main_conf,  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_oie_classify_create_loc_conf, /* create location configuration */
    ngx_http_oie_classify_merge_loc_conf   /* merge location configuration */
};


ngx_module_t  ngx_http_oie_classify_module = {
    NGX_MODULE_V1,
    &ngx_http_oie_classify_module_ctx,     /* module context */
    ngx_http_oie_classify_commands,        /* module directives */
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
ngx_http_oie_classify_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_oie_classify_main_conf_t  *cmcf;

    cmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_oie_classify_main_conf_t));
    if (cmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     cmcf->nets = NULL;
     *     cmcf->zone = NULL;
     */

    cmcf->timing = NGX_CONF_UNSET;
    cmcf->zone_size = NGX_CONF_UNSET_SIZE;
    cmcf->window = NGX_CONF_UNSET_MSEC;
    cmcf->idle = NGX_CONF_UNSET_MSEC;
    cmcf->too_fast = NGX_CONF_UNSET_MSEC;
    cmcf->burst = NGX_CONF_UNSET_UINT;
    cmcf->campaign_burst = NGX_CONF_UNSET_UINT;
    cmcf->page_burst = NGX_CONF_UNSET_UINT;

    /* the tables of the user agent search, once, before any fork */
    oie_classify_init();

    return cmcf;
}


static char *
ngx_http_oie_classify_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_oie_classify_main_conf_t *cmcf = conf;

    ngx_str_t                  name;
    ngx_http_oie_main_conf_t  *omcf;

    ngx_conf_init_value(cmcf->timing, 1);
    ngx_conf_init_size_value(cmcf->zone_size, OIE_CLASSIFY_ZONE_SIZE);
    ngx_conf_init_msec_value(cmcf->window, 2000);
    ngx_conf_init_msec_value(cmcf->idle, 3600000);
    ngx_conf_init_msec_value(cmcf->too_fast, OIE_CLASSIFY_TOO_FAST_MS);
    ngx_conf_init_uint_value(cmcf->burst, OIE_CLASSIFY_BURST);
    ngx_conf_init_uint_value(cmcf->campaign_burst,
                             OIE_CLASSIFY_CAMPAIGN_BURST);
    ngx_conf_init_uint_value(cmcf->page_burst, OIE_CLASSIFY_PAGE_BURST);

    cmcf->conf.too_fast_ms = (int64_t) cmcf->too_fast;
    cmcf->conf.burst = (unsigned) cmcf->burst;
    cmcf->conf.campaign_burst = (unsigned) cmcf->campaign_burst;
    cmcf->conf.page_burst = (unsigned) cmcf->page_burst;

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_oie_module);

    /* no oie location, no zone */
    if (!cmcf->timing
        || !(cmcf->used || (omcf && omcf->enabled)))
    {
        return NGX_CONF_OK;
    }

    ngx_str_set(&name, OIE_CLASSIFY_ZONE_NAME);

    cmcf->zone = ngx_shared_memory_add(cf, &name, cmcf->zone_size,
                                       &ngx_http_oie_classify_module);
    if (cmcf->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    cmcf->zone->init = ngx_http_oie_classify_init_zone;
    cmcf->zone->data = cmcf;

    return NGX_CONF_OK;
}


static void *
ngx_http_oie_classify_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_oie_classify_loc_conf_t  *clcf;

    clcf = ngx_palloc(cf->pool, sizeof(ngx_http_oie_classify_loc_conf_t));
    if (clcf == NULL) {
        return NULL;
    }

    clcf->enable = NGX_CONF_UNSET;
    clcf->anonymize = NGX_CONF_UNSET;

    return clcf;
}


static char *
ngx_http_oie_classify_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_oie_classify_loc_conf_t *prev = parent;
    ngx_http_oie_classify_loc_conf_t *conf = child;

    ngx_conf_merge_value(conf->enable, prev->enable, 1);
    ngx_conf_merge_value(conf->anonymize, prev->anonymize, 0);

    return NGX_CONF_OK;
}


/*
 * oie_scanner_networks FILE: the file's networks join the trie; an error
 * names the file and its line ("nginx -t" prints it and fails).
 */
static char *
ngx_http_oie_scanner_networks(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_oie_classify_main_conf_t *cmcf = conf;

    char                 err[OIE_CIDR_ERR_MAX];
    size_t               before;
    ngx_str_t           *value, path;
    ngx_pool_cleanup_t  *cln;

    value = cf->args->elts;
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (cmcf->nets == NULL) {
        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            return NGX_CONF_ERROR;
        }

        cmcf->nets = oie_cidr_create();
        if (cmcf->nets == NULL) {
            return NGX_CONF_ERROR;
        }

        /* the trie is the cycle's: freed with its pool */
        cln->handler = ngx_http_oie_classify_free_nets;
        cln->data = cmcf->nets;
    }

    before = oie_cidr_count(cmcf->nets);

    if (oie_cidr_load_file(cmcf->nets, (char *) path.data, err, sizeof(err))
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "oie_scanner_networks: %s",
                           err);
        return NGX_CONF_ERROR;
    }

    ngx_conf_log_error(NGX_LOG_DEBUG, cf, 0,
                       "oie: %uz scanner networks from \"%V\"",
                       oie_cidr_count(cmcf->nets) - before, &path);

    return NGX_CONF_OK;
}


static char *
ngx_http_oie_classify_check(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t           *core;
    ngx_http_oie_classify_main_conf_t  *cmcf;

    core = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    core->handler = ngx_http_oie_classify_check_handler;

    cmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_oie_classify_module);
    cmcf->used = 1;

    return NGX_CONF_OK;
}


static void
ngx_http_oie_classify_free_nets(void *data)
{
    oie_cidr_free(data);
}


static char *
ngx_http_oie_classify_timing(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oie_classify_main_conf_t *cmcf = conf;

    ssize_t     size;
    ngx_int_t   n;
    ngx_str_t  *value, v;
    ngx_uint_t  i;

    if (cmcf->timing != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        cmcf->timing = 0;
        return NGX_CONF_OK;
    }

    cmcf->timing = 1;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            v.data = value[i].data + 5;
            v.len = value[i].len - 5;

            size = ngx_parse_size(&v);

            /* the slab pool takes a few pages; one bucket is 320 bytes */
            if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "oie_classify_timing: invalid zone size "
                                   "\"%V\" (at least %uz)", &v,
                                   8 * ngx_pagesize);
                return NGX_CONF_ERROR;
            }

            cmcf->zone_size = (size_t) size;
            continue;
        }

        if (ngx_strncmp(value[i].data, "window=", 7) == 0
            || ngx_strncmp(value[i].data, "idle=", 5) == 0
            || ngx_strncmp(value[i].data, "too_fast=", 9) == 0)
        {
            v.data = (u_char *) ngx_strchr(value[i].data, '=') + 1;
            v.len = value[i].data + value[i].len - v.data;

            n = ngx_parse_time(&v, 0);

            /* too_fast=0 turns that rule off; windows must be some time */
            if (n == NGX_ERROR || (n == 0 && value[i].data[0] != 't')) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "oie_classify_timing: invalid time in "
                                   "\"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            switch (value[i].data[0]) {
            case 'w':
                cmcf->window = (ngx_msec_t) n;
                break;
            case 'i':
                cmcf->idle = (ngx_msec_t) n;
                break;
            default:
                cmcf->too_fast = (ngx_msec_t) n;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "burst=", 6) == 0
            || ngx_strncmp(value[i].data, "campaign_burst=", 15) == 0
            || ngx_strncmp(value[i].data, "page_burst=", 11) == 0)
        {
            v.data = (u_char *) ngx_strchr(value[i].data, '=') + 1;
            v.len = value[i].data + value[i].len - v.data;

            n = ngx_atoi(v.data, v.len);

            if (n == NGX_ERROR || n > 1000000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "oie_classify_timing: invalid number in "
                                   "\"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            switch (value[i].data[0]) {
            case 'b':
                cmcf->burst = (ngx_uint_t) n;
                break;
            case 'c':
                cmcf->campaign_burst = (ngx_uint_t) n;
                break;
            default:
                cmcf->page_burst = (ngx_uint_t) n;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oie_classify_timing: unknown parameter \"%V\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_oie_classify_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_oie_classify_main_conf_t  *ocmcf = data;

    size_t                              bytes;
    uint64_t                            seed;
    oie_timing_t                       *tm;
    ngx_slab_pool_t                    *shpool;
    ngx_http_oie_classify_main_conf_t  *cmcf;

    cmcf = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (ocmcf) {
        /* a reload, the same size: the hits of the last seconds stay */
        tm = shpool->data;
        (void) oie_timing_configure(tm, (int64_t) cmcf->window,
                                    (int64_t) cmcf->idle);
        return NGX_OK;
    }

    if (shm_zone->shm.exists) {
        return NGX_OK;
    }

    /* one allocation takes all free pages but a couple, for the slab's own */
    bytes = (shpool->pfree - 2) * ngx_pagesize;

    tm = ngx_slab_alloc(shpool, bytes);
    if (tm == NULL) {
        return NGX_ERROR;
    }

    seed = (uint64_t) ngx_random() << 32 ^ (uint64_t) ngx_random()
           ^ (uint64_t) ngx_time() ^ (uint64_t) ngx_pid << 16;

    tm = oie_timing_init(tm, bytes, (int64_t) cmcf->window,
                         (int64_t) cmcf->idle, seed);
    if (tm == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "oie: zone \"%V\" is too small for the hit timing",
                      &shm_zone->shm.name);
        return NGX_ERROR;
    }

    shpool->data = tm;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, shm_zone->shm.log, 0,
                   "oie classify: timing of %ud keys in %uz bytes",
                   oie_timing_slots(tm), bytes);

    return NGX_OK;
}


ngx_int_t
ngx_http_oie_classify_request(ngx_http_request_t *r, ngx_uint_t kind,
    ngx_str_t *key, ngx_str_t *campaign, ngx_uint_t webdriver,
    ngx_http_oie_traffic_t *t)
{
    ngx_http_oie_req_ctx_t             *ctx;
    oie_timing_facts_t                  f, fc;
    ngx_http_oie_classify_loc_conf_t   *clcf;
    ngx_http_oie_classify_main_conf_t  *cmcf;

    t->name = NULL;
    t->cls = OIE_CLASS_UNKNOWN;
    t->reasons.data = t->json;
    t->reasons.len = 0;
    t->out.nreasons = 0;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_oie_classify_module);
    cmcf = ngx_http_get_module_main_conf(r, ngx_http_oie_classify_module);

    if (!clcf->enable) {
        return NGX_DECLINED;
    }

    ngx_memzero(&t->in, sizeof(oie_classify_in_t));

    t->in.kind = (unsigned) kind;
    t->in.method.data = (const char *) r->method_name.data;
    t->in.method.len = r->method_name.len;

    if (r->headers_in.user_agent) {
        t->in.user_agent.data =
                          (const char *) r->headers_in.user_agent->value.data;
        t->in.user_agent.len = r->headers_in.user_agent->value.len;
    }

    ngx_http_oie_classify_headers(r, &t->in);

    /* matched once: the events of the request share the user agent */
    oie_classify_memo_ua(&t->in, &ngx_http_oie_ua_cache);

    /* the full address: oie_ip_anonymize applies only to what is stored */
    t->in.net = oie_cidr_lookup_sockaddr(cmcf->nets, r->connection->sockaddr);

    t->in.since_first_ms = -1;
    t->in.webdriver = webdriver ? 1 : 0;

    if (cmcf->zone && key && key->len) {
        fc.hits = 0;

        ngx_http_oie_classify_hits(cmcf, kind == OIE_KIND_PAGE ? 'v' : 'l',
                                   key, kind == OIE_KIND_PAGE ? NULL
                                                              : campaign,
                                   &f, &fc);

        t->in.hits = f.hits;
        t->in.since_first_ms = f.since_first_ms;
        t->in.campaign_hits = fc.hits;
    }

    t->conf = &cmcf->conf;

    ngx_http_oie_classify_result(t);

    ctx = ngx_http_oie_req_ctx(r);
    if (ctx) {
        ctx->traffic_class.data = (u_char *) t->name;
        ctx->traffic_class.len = ngx_strlen(t->name);
    }

    return NGX_OK;
}


void
ngx_http_oie_classify_event(ngx_http_oie_traffic_t *req, ngx_uint_t webdriver,
    ngx_http_oie_traffic_t *ev)
{
    if (req->name == NULL) {
        if (ev != req) {
            ev->name = NULL;
            ev->reasons.data = ev->json;
            ev->reasons.len = 0;
        }

        return;
    }

    if (ev != req) {
        ev->in = req->in;
        ev->conf = req->conf;
    }

    ev->in.webdriver = webdriver ? 1 : 0;

    ngx_http_oie_classify_result(ev);
}


ngx_int_t
ngx_http_oie_client_ip(ngx_http_request_t *r, ngx_str_t *ip)
{
    int                                 n;
    u_char                             *p;
    ngx_http_oie_classify_loc_conf_t   *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_oie_classify_module);

    *ip = r->connection->addr_text;

    if (!clcf->anonymize) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_SOCKADDR_STRLEN + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    n = oie_ip_anonymize_text((const char *) r->connection->addr_text.data,
                              r->connection->addr_text.len, (char *) p,
                              NGX_SOCKADDR_STRLEN + 1);

    if (n < 0) {
        /* not an IP address (a unix socket): nothing to hide */
        return NGX_OK;
    }

    ip->data = p;
    ip->len = (size_t) n;

    return NGX_OK;
}


static ngx_int_t
ngx_http_oie_classify_check_handler(ngx_http_request_t *r)
{
    u_char                 *body, *p;
    size_t                  len;
    ngx_str_t               kind_arg, key, campaign, wd, ip, cls;
    ngx_uint_t              kind;
    ngx_table_elt_t        *h;
    ngx_http_oie_traffic_t  t;

    static ngx_str_t  type = ngx_string("application/json");

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    kind = OIE_KIND_CLICK;

    if (ngx_http_oie_classify_arg(r, "kind", &kind_arg) != NGX_OK
        || ngx_http_oie_classify_arg(r, "key", &key) != NGX_OK
        || ngx_http_oie_classify_arg(r, "campaign", &campaign) != NGX_OK
        || ngx_http_oie_classify_arg(r, "webdriver", &wd) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (kind_arg.len == 4 && ngx_strncmp(kind_arg.data, "open", 4) == 0) {
        kind = OIE_KIND_OPEN;

    } else if (kind_arg.len == 4
               && ngx_strncmp(kind_arg.data, "page", 4) == 0)
    {
        kind = OIE_KIND_PAGE;

    } else if (kind_arg.len
               && !(kind_arg.len == 5
                    && ngx_strncmp(kind_arg.data, "click", 5) == 0))
    {
        return ngx_http_oie_reply_json(r, NGX_HTTP_BAD_REQUEST,
                                       "kind must be click, open or page");
    }

    (void) ngx_http_oie_classify_request(r, kind, &key, &campaign,
                                         wd.len == 1 && wd.data[0] == '1',
                                         &t);

    if (ngx_http_oie_client_ip(r, &ip) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (t.name) {
        cls.data = (u_char *) t.name;
        cls.len = ngx_strlen(t.name);

    } else {
        ngx_str_set(&cls, "off");
    }

    len = sizeof("{\"class\":\"\",\"reasons\":,\"ip\":\"\"}\n") - 1
          + cls.len + (t.reasons.len ? t.reasons.len : 2) + ip.len * 6;

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "{\"class\":\"%V\",\"reasons\":", &cls);

    if (t.reasons.len) {
        p = ngx_cpymem(p, t.reasons.data, t.reasons.len);

    } else {
        p = ngx_cpymem(p, "[]", 2);
    }

    p = ngx_cpymem(p, ",\"ip\":\"", 7);
    p = (u_char *) ngx_escape_json(p, ip.data, ip.len);
    p = ngx_cpymem(p, "\"}\n", 3);

    h = ngx_http_oie_add_header(r, "X-OIE-Traffic-Class", "");
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->value = cls;

    h = ngx_http_oie_add_header(r, "X-OIE-Traffic-Reasons", "");
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->value = t.reasons;

    if (ngx_http_oie_add_header(r, "Cache-Control", "no-store") == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_oie_reply_buf(r, NGX_HTTP_OK, &type, body, p - body);
}


/* a query argument, unescaped into the request's pool; empty if absent */
static ngx_int_t
ngx_http_oie_classify_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   raw;

    value->len = 0;
    value->data = NULL;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &raw) != NGX_OK) {
        return NGX_OK;
    }

    dst = ngx_pnalloc(r->pool, raw.len + 1);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    value->data = dst;
    src = raw.data;

    ngx_unescape_uri(&dst, &src, raw.len, NGX_UNESCAPE_URI);

    value->len = dst - value->data;

    return NGX_OK;
}


/* Purpose, Sec-Purpose, X-Moz and X-Purpose in one pass over the headers */
static void
ngx_http_oie_classify_headers(ngx_http_request_t *r, oie_classify_in_t *in)
{
    ngx_uint_t           i;
    ngx_list_part_t     *part;
    ngx_table_elt_t     *h;
    oie_classify_str_t  *s;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        switch (h[i].key.len) {

        case 5:
            if (ngx_memcmp(h[i].lowcase_key, "x-moz", 5) != 0) {
                continue;
            }

            s = &in->x_moz;
            break;

        case 7:
            if (ngx_memcmp(h[i].lowcase_key, "purpose", 7)
                != 0)
            {
                continue;
            }

            s = &in->purpose;
            break;

        case 9:
            if (ngx_memcmp(h[i].lowcase_key, "x-purpose", 9)
                != 0)
            {
                continue;
            }

            s = &in->x_purpose;
            break;

        case 11:
            if (ngx_memcmp(h[i].lowcase_key, "sec-purpose", 11)
                != 0)
            {
                continue;
            }

            s = &in->sec_purpose;
            break;

        default:
            continue;
        }

        s->data = (const char *) h[i].value.data;
        s->len = h[i].value.len;
    }
}


/* the hits of the key and of the campaign (if any), under one lock */
static void
ngx_http_oie_classify_hits(ngx_http_oie_classify_main_conf_t *cmcf,
    u_char prefix, ngx_str_t *key, ngx_str_t *campaign,
    oie_timing_facts_t *f, oie_timing_facts_t *fc)
{
    u_char            k[OIE_CLASSIFY_KEY_MAX], c[OIE_CLASSIFY_KEY_MAX];
    size_t            n, m;
    oie_timing_t     *tm;
    ngx_slab_pool_t  *shpool;

    shpool = (ngx_slab_pool_t *) cmcf->zone->shm.addr;
    tm = shpool->data;

    n = ngx_min(key->len, sizeof(k) - 1);
    k[0] = prefix;
    ngx_memcpy(k + 1, key->data, n);

    m = 0;

    if (campaign && campaign->len) {
        m = ngx_min(campaign->len, sizeof(c) - 1);
        c[0] = 'c';
        ngx_memcpy(c + 1, campaign->data, m);
    }

    ngx_shmtx_lock(&shpool->mutex);

    oie_timing_hit(tm, k, n + 1, (int64_t) ngx_current_msec, f);

    if (m) {
        oie_timing_hit(tm, c, m + 1, (int64_t) ngx_current_msec, fc);
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


static void
ngx_http_oie_classify_result(ngx_http_oie_traffic_t *t)
{
    int  n;

    (void) oie_classify(t->conf, &t->in, &t->out);

    t->cls = t->out.cls;
    t->name = oie_class_name(t->out.cls);

    n = oie_classify_reasons_json(&t->out, (char *) t->json,
                                  sizeof(t->json));

    t->reasons.data = t->json;
    t->reasons.len = n > 0 ? (size_t) n : 0;
}
