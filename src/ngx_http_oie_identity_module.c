/*
 * ngx_http_oie_identity_module: identity at the edge.  Its directives and
 * configuration, and the per-worker start and end of the Redis links, the
 * lead cache, live scoring and alerts.  It is the second module of the .so;
 * its rows go into ngx_http_oie_module's ring.
 *
 *     oie_redis        host:port | unix:/path [user=] [password=] [db=]
 *                      [timeout=50ms] [connect_timeout=1s] [backoff_max=2s]
 *                      [max_pending=4096] [cache=10000|off]
 *     oie_live         on | off                          (http; on)
 *     oie_alert        webhook=URL [threshold=70] [timeout=5s] [retries=3]
 *                      [pages=10]                        (http)
 *     oie_secret       FILE [previous=FILE] | off        (http, server, loc)
 *     oie_redirect     [fallback=URL]                    (location)
 *     oie_open                                           (location)
 *     oie_personalize  [fields=a,b,...]                  (location)
 *     set_oie_sign     $var <id>                         (ndk set_var)
 *     set_oie_verify   $var <signed id>                  (ndk set_var)
 */

#include "ngx_http_oie_identity.h"


static void *ngx_http_oie_identity_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_oie_identity_init_main_conf(ngx_conf_t *cf,
    void *conf);
static void *ngx_http_oie_identity_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_oie_identity_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_oie_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_oie_alert_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_oie_redirect_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_oie_open_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_oie_personalize_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_oie_identity_handler(ngx_conf_t *cf,
    ngx_http_handler_pt handler);
static ngx_int_t ngx_http_oie_identity_init_process(ngx_cycle_t *cycle);
static void ngx_http_oie_identity_exit_process(ngx_cycle_t *cycle);


static char *ngx_http_oie_confirm_window_check(ngx_conf_t *cf, void *post,
    void *data);

static ngx_conf_post_t  ngx_http_oie_confirm_window_bounds = {
    ngx_http_oie_confirm_window_check
};


static ngx_command_t  ngx_http_oie_identity_commands[] = {

    { ngx_string("oie_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_oie_redis_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oie_live"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_oie_identity_main_conf_t, live),
      NULL },

    { ngx_string("oie_confirm_window"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_oie_identity_main_conf_t, confirm_window),
      &ngx_http_oie_confirm_window_bounds },

    { ngx_string("oie_alert"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_oie_alert_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oie_secret"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_oie_secret,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oie_redirect"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_oie_redirect_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oie_open"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_oie_open_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oie_personalize"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_oie_personalize_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("set_oie_sign"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_SIF_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LIF_CONF
                       |NGX_CONF_TAKE2,
      ngx_http_oie_set_sign,
      0,
      0,
      NULL },

    { ngx_string("set_oie_verify"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_SIF_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LIF_CONF
                       |NGX_CONF_TAKE2,
      ngx_http_oie_set_verify,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_oie_identity_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_oie_identity_create_main_conf, /* create main configuration */
    ngx_http_oie_identity_init_main_conf,  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_oie_identity_create_loc_conf, /* create location configuration */
    ngx_http_oie_identity_merge_loc_conf   /* merge location configuration */
};


ngx_module_t  ngx_http_oie_identity_module = {
    NGX_MODULE_V1,
    &ngx_http_oie_identity_module_ctx,     /* module context */
    ngx_http_oie_identity_commands,        /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_oie_identity_init_process,    /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_oie_identity_exit_process,    /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_uint_t  ngx_http_oie_identity_started;


static void *
ngx_http_oie_identity_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_oie_identity_main_conf_t  *imcf;

    imcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_oie_identity_main_conf_t));
    if (imcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     imcf->redis = { 0 };
     *     imcf->redis_set = 0;
     *     imcf->alert.webhook = { 0, NULL };
     *     imcf->used = 0;
     */

    imcf->live = NGX_CONF_UNSET;
    imcf->confirm_window = NGX_CONF_UNSET_MSEC;

    return imcf;
}


static char *
ngx_http_oie_identity_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_oie_identity_main_conf_t *imcf = conf;

    ngx_conf_init_value(imcf->live, 1);
    ngx_conf_init_msec_value(imcf->confirm_window,
                             OIE_LIVE_CONFIRM_WINDOW_DEFAULT);

    if (imcf->used && !imcf->redis_set) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oie_redirect, oie_open and oie_personalize need "
                           "\"oie_redis\" in the http block");
        return NGX_CONF_ERROR;
    }

    if (imcf->alert.webhook.len && !imcf->redis_set) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"oie_alert\" needs \"oie_redis\" in the http "
                           "block");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_oie_identity_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_oie_identity_loc_conf_t  *ilcf;

    ilcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_oie_identity_loc_conf_t));
    if (ilcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     ilcf->secret = { 0, NULL };       unset
     *     ilcf->secret_prev = { 0, NULL };
     *     ilcf->fallback = { 0, NULL };     unset
     */

    ilcf->fields = NGX_CONF_UNSET_PTR;

    return ilcf;
}


static char *
ngx_http_oie_identity_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_oie_identity_loc_conf_t *prev = parent;
    ngx_http_oie_identity_loc_conf_t *conf = child;

    ngx_str_t  *f;

    if (conf->secret.data == NULL) {
        conf->secret = prev->secret;
        conf->secret_prev = prev->secret_prev;
    }

    ngx_conf_merge_str_value(conf->fallback, prev->fallback, "/");

    ngx_conf_merge_ptr_value(conf->fields, prev->fields, NULL);

    if (conf->fields == NULL) {
        conf->fields = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
        if (conf->fields == NULL) {
            return NGX_CONF_ERROR;
        }

        f = ngx_array_push_n(conf->fields, 2);
        if (f == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_str_set(&f[0], "firstName");
        ngx_str_set(&f[1], "company");
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_oie_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oie_identity_main_conf_t *imcf = conf;

    char  *rv;

    if (imcf->redis_set) {
        return "is duplicate";
    }

    rv = ngx_http_oie_redis_parse(cf, &imcf->redis);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    imcf->redis_set = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_oie_alert_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oie_identity_main_conf_t *imcf = conf;

    u_char      *eq;
    ngx_int_t    n;
    ngx_str_t   *value, k, v;
    ngx_uint_t   i;

    if (imcf->alert.webhook.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    imcf->alert.threshold = 70;
    imcf->alert.timeout = 5000;
    imcf->alert.retries = 3;
    imcf->alert.pages = 10;

    for (i = 1; i < cf->args->nelts; i++) {
        eq = (u_char *) ngx_strchr(value[i].data, '=');

        if (eq == NULL) {
            goto invalid;
        }

        k.data = value[i].data;
        k.len = eq - value[i].data;
        v.data = eq + 1;
        v.len = value[i].data + value[i].len - v.data;

        if (k.len == 7 && ngx_strncmp(k.data, "webhook", 7) == 0) {
            if (!(v.len > 7 && ngx_strncasecmp(v.data, (u_char *) "http://",
                                               7) == 0)
                && !(v.len > 8
                     && ngx_strncasecmp(v.data, (u_char *) "https://", 8)
                        == 0))
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "oie_alert: the webhook must be an "
                                   "http:// or https:// URL, not \"%V\"",
                                   &v);
                return NGX_CONF_ERROR;
            }

            imcf->alert.webhook = v;
            continue;
        }

        if (k.len == 9 && ngx_strncmp(k.data, "threshold", 9) == 0) {
            n = ngx_atoi(v.data, v.len);
            if (n < 1 || n > 100) {
                goto invalid;
            }
            imcf->alert.threshold = n;
            continue;
        }

        if (k.len == 7 && ngx_strncmp(k.data, "timeout", 7) == 0) {
            n = ngx_parse_time(&v, 0);
            if (n == NGX_ERROR || n < 1) {
                goto invalid;
            }
            imcf->alert.timeout = n;
            continue;
        }

        if (k.len == 7 && ngx_strncmp(k.data, "retries", 7) == 0) {
            n = ngx_atoi(v.data, v.len);
            if (n == NGX_ERROR || n > 20) {
                goto invalid;
            }
            imcf->alert.retries = n;
            continue;
        }

        if (k.len == 5 && ngx_strncmp(k.data, "pages", 5) == 0) {
            n = ngx_atoi(v.data, v.len);
            if (n < 1 || n > 50) {
                goto invalid;
            }
            imcf->alert.pages = n;
            continue;
        }

        goto invalid;
    }

    if (imcf->alert.webhook.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oie_alert needs webhook=URL");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "oie_alert: invalid parameter \"%V\" (expected "
                       "webhook=URL, threshold=1..100, timeout=time, "
                       "retries=0..20, pages=1..50)", &value[i]);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_oie_redirect_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_oie_identity_loc_conf_t *ilcf = conf;

    ngx_str_t  *value, v;

    value = cf->args->elts;

    if (cf->args->nelts == 2) {
        if (value[1].len <= 9
            || ngx_strncmp(value[1].data, "fallback=", 9) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "oie_redirect: invalid parameter \"%V\" "
                               "(expected fallback=URL)", &value[1]);
            return NGX_CONF_ERROR;
        }

        v.data = value[1].data + 9;
        v.len = value[1].len - 9;

        if (!(v.len > 7 && ngx_strncasecmp(v.data, (u_char *) "http://", 7)
                           == 0)
            && !(v.len > 8 && ngx_strncasecmp(v.data, (u_char *) "https://",
                                              8) == 0)
            && !(v.data[0] == '/' && (v.len == 1 || v.data[1] != '/')))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "oie_redirect: the fallback must be an "
                               "http:// or https:// URL or a path, not "
                               "\"%V\"", &v);
            return NGX_CONF_ERROR;
        }

        ilcf->fallback = v;
    }

    return ngx_http_oie_identity_handler(cf, ngx_http_oie_redirect_handler);
}


static char *
ngx_http_oie_open_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_http_oie_identity_handler(cf, ngx_http_oie_open_handler);
}


static char *
ngx_http_oie_personalize_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_oie_identity_loc_conf_t *ilcf = conf;

    u_char     *p, *end, *comma, *name;
    size_t      len, i;
    ngx_str_t  *value, *f;

    value = cf->args->elts;

    if (cf->args->nelts == 2) {
        if (value[1].len <= 7 || ngx_strncmp(value[1].data, "fields=", 7) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "oie_personalize: invalid parameter \"%V\" "
                               "(expected fields=a,b,...)", &value[1]);
            return NGX_CONF_ERROR;
        }

        ilcf->fields = ngx_array_create(cf->pool, 4, sizeof(ngx_str_t));
        if (ilcf->fields == NULL) {
            return NGX_CONF_ERROR;
        }

        p = value[1].data + 7;
        end = value[1].data + value[1].len;

        for ( /* void */ ; p <= end; p = comma + 1) {
            comma = ngx_strlchr(p, end, ',');
            if (comma == NULL) {
                comma = end;
            }

            len = comma - p;

            for (i = 0; i < len; i++) {
                if (!((p[i] >= 'a' && p[i] <= 'z')
                      || (p[i] >= 'A' && p[i] <= 'Z')
                      || (p[i] >= '0' && p[i] <= '9')
                      || p[i] == '_' || p[i] == '-'))
                {
                    break;
                }
            }

            if (len == 0 || len > 64 || i < len) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "oie_personalize: \"%*s\" is not a field "
                                   "name (letters, digits, _ and -)",
                                   len, p);
                return NGX_CONF_ERROR;
            }

            /* what identifies a person beyond the link never leaves */
            if ((len >= 5 && ngx_strncasecmp(p, (u_char *) "email", 5) == 0)
                || (len >= 4 && ngx_strncasecmp(p + len - 4,
                                                (u_char *) "hash", 4) == 0))
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "oie_personalize: the field \"%*s\" may "
                                   "not be answered (emails and hashes "
                                   "never are)", len, p);
                return NGX_CONF_ERROR;
            }

            if (len == 11 && ngx_strncmp(p, "intentLevel", 11) == 0) {
                /* always answered */
                continue;
            }

            if (ilcf->fields->nelts == 32) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "oie_personalize: at most 32 fields");
                return NGX_CONF_ERROR;
            }

            name = ngx_pnalloc(cf->pool, len + 1);
            f = ngx_array_push(ilcf->fields);
            if (name == NULL || f == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_memcpy(name, p, len);
            name[len] = '\0';

            f->data = name;
            f->len = len;
        }
    }

    return ngx_http_oie_identity_handler(cf,
                                         ngx_http_oie_personalize_handler);
}


static char *
ngx_http_oie_identity_handler(ngx_conf_t *cf, ngx_http_handler_pt handler)
{
    ngx_http_core_loc_conf_t           *clcf;
    ngx_http_oie_main_conf_t           *omcf;
    ngx_http_oie_identity_main_conf_t  *imcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate: the location already has a content handler";
    }

    clcf->handler = handler;

    /* rows go to the main module's ring: it must have its zone */
    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_oie_module);
    omcf->enabled = 1;

    imcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_oie_identity_module);
    imcf->used = 1;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_oie_identity_init_process(ngx_cycle_t *cycle)
{
    ngx_http_oie_identity_main_conf_t  *imcf;

    ngx_http_oie_identity_started = 0;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    imcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_oie_identity_module);

    if (imcf == NULL || !imcf->redis_set) {
        return NGX_OK;
    }

    /* the cache hooks are set before the links connect */
    if (ngx_http_oie_lead_init(cycle, imcf) != NGX_OK
        || ngx_http_oie_live_init(cycle, imcf) != NGX_OK
        || ngx_http_oie_alert_init(cycle, imcf) != NGX_OK
        || ngx_http_oie_redis_init(cycle, &imcf->redis) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_oie_identity_started = 1;

    return NGX_OK;
}


static void
ngx_http_oie_identity_exit_process(ngx_cycle_t *cycle)
{
    if (!ngx_http_oie_identity_started) {
        return;
    }

    /* Redis first: what waits on it is answered "down" and let go */
    ngx_http_oie_redis_exit(cycle);
    ngx_http_oie_alert_exit(cycle);
    ngx_http_oie_live_exit(cycle);
    ngx_http_oie_lead_exit(cycle);
}


/* oie_confirm_window: 1 minute to the scoring definition's 30 minutes */
static char *
ngx_http_oie_confirm_window_check(ngx_conf_t *cf, void *post, void *data)
{
    ngx_msec_t  *ms = data;

    if (*ms < 60000 || *ms > OIE_LIVE_CONFIRM_WINDOW_MAX) {
        return "must be between 1m and 30m (a longer window would let the "
               "score count a click and its confirmation twice)";
    }

    return NGX_CONF_OK;
}
