/*
 * Calling a Lua script in Redis by its SHA-1 (EVALSHA), or by its text
 * (EVAL) once Redis answered NOSCRIPT.  Used by the live scores and the
 * click confirmation.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/sha.h>

#include "ngx_http_oie_redis.h"


/*
 * The first words of a script's call: EVALSHA and its name, or EVAL and
 * the script itself once Redis answered NOSCRIPT.  Answers their count.
 */
int
ngx_http_oie_redis_script_call(const char **argv, size_t *argvlen,
    ngx_uint_t eval, const char *script, size_t len, const u_char *sha)
{
    if (eval) {
        argv[0] = "EVAL";
        argvlen[0] = 4;
        argv[1] = script;
        argvlen[1] = len;

    } else {
        argv[0] = "EVALSHA";
        argvlen[0] = 7;
        argv[1] = (const char *) sha;
        argvlen[1] = 40;
    }

    return 2;
}


/* EVALSHA's name for a script (its SHA-1 in hex, 40 characters) */
ngx_int_t
ngx_http_oie_redis_script_sha(const char *script, size_t len, u_char *sha)
{
    u_char  md[20];

    if (SHA1((const u_char *) script, len, md) == NULL) {
        return NGX_ERROR;
    }

    ngx_hex_dump(sha, md, 20);

    return NGX_OK;
}
