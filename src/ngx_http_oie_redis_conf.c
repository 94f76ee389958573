/*
 * The oie_redis directive's arguments: where Redis is, how to log in, and
 * the links' timeouts and limits.  The links themselves are in
 * ngx_http_oie_redis.c.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_oie_redis.h"


/* oie_redis host:port | unix:/path  [user=] [password=] [db=] [timeout=]
 * [connect_timeout=] [backoff_max=] [max_pending=] [cache=] */

char *
ngx_http_oie_redis_parse(ngx_conf_t *cf, ngx_http_oie_redis_conf_t *rc)
{
    u_char      *p;
    ngx_str_t   *value, v;
    ngx_int_t    n;
    ngx_url_t    u;
    ngx_uint_t   i;

    value = cf->args->elts;

    rc->name = value[1];
    rc->db = 0;
    rc->timeout = 50;
    rc->connect_timeout = 1000;
    rc->backoff_max = 2000;
    rc->max_pending = 4096;
    rc->cache = 10000;

    if (value[1].len > 5 && ngx_strncmp(value[1].data, "unix:", 5) == 0) {
        rc->path.len = value[1].len - 5;
        rc->path.data = ngx_pnalloc(cf->pool, rc->path.len + 1);
        if (rc->path.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(rc->path.data, value[1].data + 5, rc->path.len);
        rc->path.data[rc->path.len] = '\0';

    } else {
        ngx_memzero(&u, sizeof(ngx_url_t));

        u.url = value[1];
        u.default_port = 6379;

        /* a host name is resolved here, once: hiredis would block on it */
        if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "oie_redis: %s in \"%V\"",
                               u.err ? u.err : "invalid address", &u.url);
            return NGX_CONF_ERROR;
        }

        if (u.naddrs == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "oie_redis: no address in \"%V\"", &u.url);
            return NGX_CONF_ERROR;
        }

        rc->port = u.port ? u.port : 6379;
        rc->host.data = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
        if (rc->host.data == NULL) {
            return NGX_CONF_ERROR;
        }

        rc->host.len = ngx_sock_ntop(u.addrs[0].sockaddr,
                                     u.addrs[0].socklen, rc->host.data,
                                     NGX_SOCKADDR_STRLEN, 0);
        rc->host.data[rc->host.len] = '\0';
    }

    for (i = 2; i < cf->args->nelts; i++) {
        p = (u_char *) ngx_strchr(value[i].data, '=');

        if (p == NULL) {
            goto invalid;
        }

        v.data = p + 1;
        v.len = value[i].data + value[i].len - v.data;

#define oie_key_is(k)                                                         \
        ((size_t) (p - value[i].data) == sizeof(k) - 1                        \
         && ngx_strncmp(value[i].data, k, sizeof(k) - 1) == 0)

        if (oie_key_is("user")) {
            rc->user = v;
            continue;
        }

        if (oie_key_is("password")) {
            rc->password = v;
            continue;
        }

        if (oie_key_is("db")) {
            rc->db = ngx_atoi(v.data, v.len);
            if (rc->db == NGX_ERROR) {
                goto invalid;
            }
            continue;
        }

        if (oie_key_is("timeout") || oie_key_is("connect_timeout")
            || oie_key_is("backoff_max"))
        {
            n = ngx_parse_time(&v, 0);
            if (n == NGX_ERROR || n < 1) {
                goto invalid;
            }

            if (oie_key_is("timeout")) {
                rc->timeout = n;
            } else if (oie_key_is("connect_timeout")) {
                rc->connect_timeout = n;
            } else {
                rc->backoff_max = ngx_max(n, OIE_REDIS_BACKOFF_MIN);
            }
            continue;
        }

        if (oie_key_is("max_pending")) {
            n = ngx_atoi(v.data, v.len);
            if (n < 1) {
                goto invalid;
            }
            rc->max_pending = n;
            continue;
        }

        if (oie_key_is("cache")) {
            if (v.len == 3 && ngx_strncmp(v.data, "off", 3) == 0) {
                rc->cache = 0;
                continue;
            }

            n = ngx_atoi(v.data, v.len);
            if (n == NGX_ERROR || n > 10000000) {
                goto invalid;
            }
            rc->cache = n;
            continue;
        }

#undef oie_key_is

        goto invalid;
    }

    if (rc->user.len && rc->password.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oie_redis: \"user=\" needs \"password=\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "oie_redis: invalid parameter \"%V\" (expected "
                       "user=, password=, db=N, timeout=time, "
                       "connect_timeout=time, backoff_max=time, "
                       "max_pending=N, cache=N|off)", &value[i]);
    return NGX_CONF_ERROR;
}
