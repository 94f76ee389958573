/*
 * Signed ids: oie_secret, checking the ids of links, and two set_var
 * directives (ngx_devel_kit) for configurations that build links or check
 * ids themselves:
 *
 *     set_oie_sign    $var <id>        $var = <id>.<tag>, or "" if id is bad
 *     set_oie_verify  $var <signed>    $var = <id> when the tag is right,
 *                                      else ""
 *
 * The tag is an HMAC (src/oie_id.h), compared in constant time.  A previous
 * secret may be kept for a while after a change, so links already sent keep
 * working: ids are signed with the current one, either is accepted.
 */

#include "ngx_http_oie_identity.h"

/* ndk is a separate module (ndk_http_module.so, loaded first), not built
 * into this nginx: its headers need to be told it is there */
#ifndef NDK
#define NDK  1
#endif
#ifndef NDK_SET_VAR
#define NDK_SET_VAR  1
#endif
#include <ndk.h>


static ngx_int_t ngx_http_oie_sign_var(ngx_http_request_t *r, ngx_str_t *val,
    ngx_http_variable_value_t *v);
static ngx_int_t ngx_http_oie_verify_var(ngx_http_request_t *r,
    ngx_str_t *val, ngx_http_variable_value_t *v);
static char *ngx_http_oie_read_secret(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *secret);


static ndk_set_var_t  ngx_http_oie_sign_filter = {
    NDK_SET_VAR_VALUE,
    (void *) ngx_http_oie_sign_var,
    1,
    NULL
};

static ndk_set_var_t  ngx_http_oie_verify_filter = {
    NDK_SET_VAR_VALUE,
    (void *) ngx_http_oie_verify_var,
    1,
    NULL
};


ngx_uint_t
ngx_http_oie_id_resolve(ngx_http_oie_identity_loc_conf_t *ilcf, u_char *s,
    size_t len, size_t *id_len)
{
    int  n, signed_id;

    if (len == 0 || len > OIE_ID_SIGNED_MAX_LEN) {
        return OIE_IDR_MALFORMED;
    }

    if (ilcf->secret.len == 0) {
        /* unsigned links; a tag, if any, is not ours to check */
        n = oie_id_parse(s, len, &signed_id);

        if (n < 0) {
            return OIE_IDR_MALFORMED;
        }

        *id_len = n;
        return OIE_IDR_OK;
    }

    n = oie_id_verify(ilcf->secret.data, ilcf->secret.len, s, len);

    if (n == OIE_ID_BAD_SIGNATURE && ilcf->secret_prev.len) {
        n = oie_id_verify(ilcf->secret_prev.data, ilcf->secret_prev.len, s,
                          len);
    }

    if (n >= 0) {
        *id_len = n;
        return OIE_IDR_OK;
    }

    if (n == OIE_ID_MALFORMED) {
        return OIE_IDR_MALFORMED;
    }

    /* the id part is well formed: the row may name it, unverified */
    n = oie_id_parse(s, len, &signed_id);
    *id_len = n > 0 ? (size_t) n : 0;

    return OIE_IDR_BAD_SIGNATURE;
}


/* oie_secret FILE [previous=FILE] | off */

char *
ngx_http_oie_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oie_identity_loc_conf_t *ilcf = conf;

    char       *rv;
    ngx_str_t  *value, name;

    if (ilcf->secret.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && value[1].len == 3
        && ngx_strncmp(value[1].data, "off", 3) == 0)
    {
        /* set, and empty: nothing inherited */
        ilcf->secret.data = (u_char *) "";
        ilcf->secret.len = 0;
        return NGX_CONF_OK;
    }

    rv = ngx_http_oie_read_secret(cf, &value[1], &ilcf->secret);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (cf->args->nelts == 3) {
        if (value[2].len <= 9
            || ngx_strncmp(value[2].data, "previous=", 9) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "oie_secret: invalid parameter \"%V\" "
                               "(expected previous=FILE)", &value[2]);
            return NGX_CONF_ERROR;
        }

        name.data = value[2].data + 9;
        name.len = value[2].len - 9;

        rv = ngx_http_oie_read_secret(cf, &name, &ilcf->secret_prev);
        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_oie_read_secret(ngx_conf_t *cf, ngx_str_t *name, ngx_str_t *secret)
{
    u_char           *buf;
    size_t            len;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_file_t        file;
    ngx_file_info_t   fi;

    if (ngx_conf_full_name(cf->cycle, name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "oie_secret: cannot open \"%V\"", name);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = *name;
    file.log = cf->log;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 4096)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oie_secret: \"%V\" is not a file of at most "
                           "4096 bytes", name);
        goto failed;
    }

    len = (size_t) ngx_file_size(&fi);

    buf = ngx_pnalloc(cf->pool, len + 1);
    if (buf == NULL) {
        goto failed;
    }

    n = ngx_read_file(&file, buf, len, 0);

    if (n != (ssize_t) len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oie_secret: cannot read \"%V\"", name);
        goto failed;
    }

    (void) ngx_close_file(fd);

    len = oie_id_secret_trim(buf, len);

    if (len < OIE_ID_SECRET_MIN_LEN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oie_secret: the secret in \"%V\" is %uz bytes; "
                           "at least %d are needed", name, len,
                           OIE_ID_SECRET_MIN_LEN);
        return NGX_CONF_ERROR;
    }

    secret->data = buf;
    secret->len = len;

    return NGX_CONF_OK;

failed:

    (void) ngx_close_file(fd);
    return NGX_CONF_ERROR;
}


char *
ngx_http_oie_set_sign(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t  *value;

    value = cf->args->elts;

    return ndk_set_var_value_core(cf, &value[1], &value[2],
                                  &ngx_http_oie_sign_filter);
}


char *
ngx_http_oie_set_verify(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t  *value;

    value = cf->args->elts;

    return ndk_set_var_value_core(cf, &value[1], &value[2],
                                  &ngx_http_oie_verify_filter);
}


static ngx_int_t
ngx_http_oie_sign_var(ngx_http_request_t *r, ngx_str_t *val,
    ngx_http_variable_value_t *v)
{
    int                                n;
    ngx_http_oie_identity_loc_conf_t  *ilcf;

    ilcf = ngx_http_get_module_loc_conf(r, ngx_http_oie_identity_module);

    val->len = 0;
    val->data = (u_char *) "";

    if (ilcf->secret.len == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "set_oie_sign: no oie_secret here");
        return NGX_OK;
    }

    val->data = ngx_pnalloc(r->pool, OIE_ID_SIGNED_MAX_LEN);
    if (val->data == NULL) {
        return NGX_ERROR;
    }

    n = oie_id_sign(ilcf->secret.data, ilcf->secret.len, v->data, v->len,
                    val->data);

    val->len = n > 0 ? (size_t) n : 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_oie_verify_var(ngx_http_request_t *r, ngx_str_t *val,
    ngx_http_variable_value_t *v)
{
    size_t                             n;
    ngx_http_oie_identity_loc_conf_t  *ilcf;

    ilcf = ngx_http_get_module_loc_conf(r, ngx_http_oie_identity_module);

    val->len = 0;
    val->data = (u_char *) "";

    if (ilcf->secret.len == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "set_oie_verify: no oie_secret here");
        return NGX_OK;
    }

    if (ngx_http_oie_id_resolve(ilcf, v->data, v->len, &n) == OIE_IDR_OK) {
        val->data = v->data;
        val->len = n;
    }

    return NGX_OK;
}
