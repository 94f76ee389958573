/*
 * Outbound Intent Engine: directives, configuration and process hooks.
 */

#include "ngx_http_oie_module.h"
#include "ngx_http_oie_bigquery.h"

#include <openssl/rand.h>


static void *ngx_http_oie_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_oie_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_oie_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_oie_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_oie_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_oie_sink(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_oie_batch(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_oie_spool(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_oie_origins(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_oie_handler_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_oie_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_oie_init_process(ngx_cycle_t *cycle);
static void ngx_http_oie_exit_process(ngx_cycle_t *cycle);


#define OIE_DEFAULT_ZONE_SIZE  (32 * 1024 * 1024)


static ngx_command_t  ngx_http_oie_commands[] = {

    { ngx_string("oie_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_oie_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oie_sink"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_oie_sink,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oie_spool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_oie_spool,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oie_batch"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_oie_batch,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oie_drain_process"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_oie_main_conf_t, drain_process),
      NULL },

    { ngx_string("oie_allowed_origins"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_oie_origins,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oie_max_body"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oie_loc_conf_t, max_body),
      NULL },

    { ngx_string("oie_track"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_oie_handler_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_oie_track_handler },

    { ngx_string("oie_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_oie_handler_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_oie_status_handler },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_oie_module_ctx = {
    ngx_http_oie_add_variables,            /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_oie_create_main_conf,         /* create main configuration */
    ngx_http_oie_init_main_conf,           /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_oie_create_loc_conf,          /* create location configuration */
    ngx_http_oie_merge_loc_conf            /* merge location configuration */
};


ngx_module_t  ngx_http_oie_module = {
    NGX_MODULE_V1,
    &ngx_http_oie_module_ctx,              /* module context */
    ngx_http_oie_commands,                 /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_oie_init_module,              /* init module */
    ngx_http_oie_init_process,             /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_oie_exit_process,             /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


ngx_http_oie_worker_t  ngx_http_oie_worker;
ngx_connection_t       ngx_http_oie_timer_conn = { .fd = (ngx_socket_t) -1 };


static void *
ngx_http_oie_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_oie_main_conf_t  *omcf;

    omcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_oie_main_conf_t));
    if (omcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     omcf->shm_zone = NULL;
     *     omcf->sink = 0;
     *     omcf->file.dir = { 0, NULL };
     */

    omcf->file.max_size = NGX_CONF_UNSET_SIZE;
    omcf->spool.max_size = NGX_CONF_UNSET;
    omcf->file.max_age = NGX_CONF_UNSET_MSEC;
    omcf->batch_rows = NGX_CONF_UNSET_UINT;
    omcf->batch_bytes = NGX_CONF_UNSET_SIZE;
    omcf->batch_interval = NGX_CONF_UNSET_MSEC;
    omcf->drain_process = NGX_CONF_UNSET;
    omcf->enabled = 0;

    return omcf;
}


static char *
ngx_http_oie_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_oie_main_conf_t *omcf = conf;

    ngx_str_t  name = ngx_string("oie");

    if (omcf->shm_zone == NULL && omcf->enabled) {
        if (ngx_http_oie_shm_add(cf, &name, OIE_DEFAULT_ZONE_SIZE) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (omcf->sink == 0) {
        omcf->sink = OIE_SINK_FILE;
        ngx_str_set(&omcf->file.dir, "oie/events");
    }

    if (omcf->sink == OIE_SINK_FILE
        && ngx_conf_full_name(cf->cycle, &omcf->file.dir, 0) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (omcf->spool.dir.len == 0) {
        ngx_str_set(&omcf->spool.dir, "oie/spool");
    }

    if (ngx_conf_full_name(cf->cycle, &omcf->spool.dir, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_conf_init_value(omcf->spool.max_size, (off_t) 1024 * 1024 * 1024);

    ngx_conf_init_size_value(omcf->file.max_size, 64 * 1024 * 1024);
    ngx_conf_init_msec_value(omcf->file.max_age, 60000);
    ngx_conf_init_uint_value(omcf->batch_rows, 500);
    ngx_conf_init_size_value(omcf->batch_bytes, 4 * 1024 * 1024);
    ngx_conf_init_msec_value(omcf->batch_interval, 1000);
    ngx_conf_init_value(omcf->drain_process, 0);

    if (omcf->drain_process && omcf->shm_zone
        && ngx_http_oie_drain_process_add(cf, omcf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_oie_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_oie_loc_conf_t  *olcf;

    olcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_oie_loc_conf_t));
    if (olcf == NULL) {
        return NULL;
    }

    olcf->origins = NGX_CONF_UNSET_PTR;
    olcf->max_body = NGX_CONF_UNSET_SIZE;

    return olcf;
}


static char *
ngx_http_oie_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_oie_loc_conf_t *prev = parent;
    ngx_http_oie_loc_conf_t *conf = child;

    ngx_conf_merge_ptr_value(conf->origins, prev->origins, NULL);
    ngx_conf_merge_size_value(conf->max_body, prev->max_body, 64 * 1024);

    return NGX_CONF_OK;
}


/*
 * "key=value" parameters are shared by several directives: this splits one
 * and says whether its key matches.
 */
static ngx_int_t
ngx_http_oie_param(ngx_str_t *arg, const char *key, ngx_str_t *value)
{
    size_t  n;

    n = ngx_strlen(key);

    if (arg->len <= n || arg->data[n] != '='
        || ngx_strncmp(arg->data, key, n) != 0)
    {
        return 0;
    }

    value->data = arg->data + n + 1;
    value->len = arg->len - n - 1;

    return 1;
}


static char *
ngx_http_oie_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oie_main_conf_t *omcf = conf;

    ssize_t     size;
    ngx_str_t  *value;

    if (omcf->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[2]);

    if (size == NGX_ERROR || size < (ssize_t) (1024 * 1024)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oie_zone size \"%V\" is invalid: at least 1m",
                           &value[2]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_oie_shm_add(cf, &value[1], size) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_oie_sink(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oie_main_conf_t *omcf = conf;

    ssize_t     size;
    ngx_int_t   msec;
    ngx_str_t  *value, v;
    ngx_uint_t  i;

    if (omcf->sink) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "bigquery") == 0) {
        omcf->sink = OIE_SINK_BIGQUERY;
        omcf->bq = ngx_pcalloc(cf->pool, sizeof(ngx_http_oie_bq_conf_t));
        if (omcf->bq == NULL) {
            return NGX_CONF_ERROR;
        }

        return ngx_http_oie_bq_parse(cf, omcf->bq, &value[2],
                                     cf->args->nelts - 2);
    }

    if (ngx_strcmp(value[1].data, "file") != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown oie_sink type \"%V\" (expected \"file\" "
                           "or \"bigquery\")", &value[1]);
        return NGX_CONF_ERROR;
    }

    omcf->sink = OIE_SINK_FILE;
    omcf->file.dir = value[2];

    for (i = 3; i < cf->args->nelts; i++) {

        if (ngx_http_oie_param(&value[i], "max_size", &v)) {
            size = ngx_parse_size(&v);
            if (size == NGX_ERROR || size < 4096) {
                goto invalid;
            }
            omcf->file.max_size = size;
            continue;
        }

        if (ngx_http_oie_param(&value[i], "max_age", &v)) {
            msec = ngx_parse_time(&v, 0);
            if (msec == NGX_ERROR || msec < 1) {
                goto invalid;
            }
            omcf->file.max_age = msec;
            continue;
        }

        goto invalid;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid oie_sink parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_oie_spool(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oie_main_conf_t *omcf = conf;

    off_t       size;
    ngx_str_t  *value, v;

    if (omcf->spool.dir.len) {
        return "is duplicate";
    }

    value = cf->args->elts;
    omcf->spool.dir = value[1];

    if (cf->args->nelts == 3) {
        if (!ngx_http_oie_param(&value[2], "max_size", &v)
            || (size = ngx_parse_offset(&v)) == NGX_ERROR
            || size < 1024 * 1024)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid oie_spool parameter \"%V\" "
                               "(max_size=size, at least 1m)", &value[2]);
            return NGX_CONF_ERROR;
        }

        omcf->spool.max_size = size;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_oie_batch(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oie_main_conf_t *omcf = conf;

    ssize_t     n;
    ngx_int_t   rows, msec;
    ngx_str_t  *value, v;
    ngx_uint_t  i;

    if (omcf->batch_rows != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_http_oie_param(&value[i], "rows", &v)) {
            rows = ngx_atoi(v.data, v.len);
            /* insertAll takes up to 50,000 rows; 500 is Google's advice */
            if (rows < 1 || rows > 50000) {
                goto invalid;
            }
            omcf->batch_rows = rows;
            continue;
        }

        if (ngx_http_oie_param(&value[i], "bytes", &v)) {
            n = ngx_parse_size(&v);
            /* an insertAll request may not exceed 10 MB */
            if (n == NGX_ERROR || n < OIE_MAX_ROW || n > 9 * 1024 * 1024) {
                goto invalid;
            }
            omcf->batch_bytes = n;
            continue;
        }

        if (ngx_http_oie_param(&value[i], "interval", &v)) {
            msec = ngx_parse_time(&v, 0);
            if (msec == NGX_ERROR || msec < 1) {
                goto invalid;
            }
            omcf->batch_interval = msec;
            continue;
        }

        goto invalid;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid oie_batch parameter \"%V\" (rows=1..50000, "
                       "bytes=64k..9m, interval=time)", &value[i]);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_oie_origins(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oie_loc_conf_t *olcf = conf;

    u_char      *p;
    ngx_str_t   *value, *origin;
    ngx_uint_t   i;

    if (olcf->origins != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    olcf->origins = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                     sizeof(ngx_str_t));
    if (olcf->origins == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        p = value[i].data;

        if (!(value[i].len == 1 && p[0] == '*')
            && ngx_strncmp(p, "http://", 7) != 0
            && ngx_strncmp(p, "https://", 8) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "oie_allowed_origins: \"%V\" is not an origin "
                               "(scheme://host[:port]) or \"*\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        if (value[i].len > 1 && p[value[i].len - 1] == '/') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "oie_allowed_origins: \"%V\" has a trailing "
                               "slash; an origin has no path", &value[i]);
            return NGX_CONF_ERROR;
        }

        origin = ngx_array_push(olcf->origins);
        if (origin == NULL) {
            return NGX_CONF_ERROR;
        }

        *origin = value[i];
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_oie_handler_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;
    ngx_http_oie_main_conf_t  *omcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate: the location already has a content handler";
    }

    clcf->handler = (ngx_http_handler_pt) cmd->post;

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_oie_module);
    omcf->enabled = 1;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_oie_init_module(ngx_cycle_t *cycle)
{
    ngx_http_oie_main_conf_t  *omcf;

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_oie_module);

    if (omcf == NULL || omcf->shm_zone == NULL) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                  "oie: ngx_http_oie_module/" OIE_VERSION
                  " (nginx/" NGINX_VERSION ")");

    if (omcf->sink == OIE_SINK_FILE) {
        return ngx_http_oie_sink_file_prepare(cycle, &omcf->file);
    }

    return ngx_http_oie_spool_prepare(cycle);
}


static ngx_int_t
ngx_http_oie_init_process(ngx_cycle_t *cycle)
{
    ngx_http_oie_main_conf_t  *omcf;

    /*
     * Not in the cache manager and loader: they serve no requests.  With
     * oie_drain_process on, the cache manager starts the drain itself
     * (ngx_http_oie_drain_process.c).
     */
    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_oie_module);

    if (omcf == NULL || omcf->shm_zone == NULL) {
        return NGX_OK;
    }

    return ngx_http_oie_process_start(cycle);
}


ngx_int_t
ngx_http_oie_process_start(ngx_cycle_t *cycle)
{
    ngx_http_oie_main_conf_t  *omcf;

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_oie_module);

    ngx_http_oie_worker.omcf = omcf;

    /* event ids must not repeat across restarts or machines */
    if (RAND_bytes((u_char *) &ngx_http_oie_worker.id_salt,
                   sizeof(ngx_http_oie_worker.id_salt)) != 1)
    {
        ngx_http_oie_worker.id_salt = (uint32_t) ngx_random()
                                      ^ (uint32_t) ngx_time();
    }

    if (ngx_http_oie_shm_attach(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    /*
     * A process that replaces one that died (the master respawns it) takes
     * over what the dead one left: its .part files and spool claims.
     */
    if (omcf->sink == OIE_SINK_FILE) {
        (void) ngx_http_oie_sink_file_prepare(cycle, &omcf->file);

    } else {
        (void) ngx_http_oie_spool_prepare(cycle);
    }

    if (omcf->sink == OIE_SINK_BIGQUERY
        && ngx_http_oie_bq_init(cycle) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_oie_drain_init(cycle);
}


static void
ngx_http_oie_exit_process(ngx_cycle_t *cycle)
{
    if (ngx_http_oie_worker.ring == NULL) {
        return;
    }

    ngx_http_oie_drain_exit(cycle);
}
