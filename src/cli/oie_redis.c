/*
 * The oie tool's Redis connection.
 */

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "oie_cli.h"
#include "oie_redis.h"


static int oie_redis_simple(oie_redis_t *r, const char *what, int argc,
    const char **argv);


const char *
oie_redis_default(void)
{
    const char  *s;

    s = getenv("OIE_REDIS");

    return (s != NULL && *s != '\0') ? s : OIE_REDIS_DEFAULT;
}


int
oie_redis_option(oie_redis_t *r, int c, const char *arg)
{
    char      *end;
    uint64_t   v;
    double     t;

    switch (c) {
    case 'r':
        r->addr = arg;
        return 1;
    case 'd':
        if (oie_parse_uint(arg, 0, 1000000, &v) != 0) {
            oie_error("--db must be a database number, not '%s'", arg);
            return -1;
        }
        r->db = (long) v;
        return 1;
    case 'T':
        t = strtod(arg, &end);
        if (*arg == '\0' || *end != '\0' || !(t > 0.0 && t <= 3600.0)) {
            oie_error("--timeout must be seconds (0-3600], not '%s'", arg);
            return -1;
        }
        r->timeout = t;
        return 1;
    }

    return 0;
}


int
oie_redis_connect(oie_redis_t *r)
{
    int             n;
    char            host[256], db[32];
    size_t          len;
    uint64_t        port;
    const char     *colon, *h, *pw, *user, *argv[3];
    struct timeval  tv;

    tv.tv_sec = (time_t) r->timeout;
    tv.tv_usec = (suseconds_t) ((r->timeout - (double) tv.tv_sec) * 1e6);

    if (r->addr[0] == '/') {
        r->ctx = redisConnectUnixWithTimeout(r->addr, tv);

    } else {
        colon = strrchr(r->addr, ':');

        if (colon == NULL
            || oie_parse_uint(colon + 1, 1, 65535, &port) != 0)
        {
            oie_error("--redis '%s': expected HOST:PORT, [IPv6]:PORT or a "
                      "unix socket path", r->addr);
            return OIE_EXIT_USAGE;
        }

        h = r->addr;
        len = (size_t) (colon - r->addr);

        if (len >= 2 && h[0] == '[' && h[len - 1] == ']') {
            h++;
            len -= 2;
        }

        if (len == 0 || len >= sizeof(host)) {
            oie_error("--redis '%s': no host", r->addr);
            return OIE_EXIT_USAGE;
        }

        memcpy(host, h, len);
        host[len] = '\0';

        r->ctx = redisConnectWithTimeout(host, (int) port, tv);
    }

    if (r->ctx == NULL) {
        oie_error("Redis %s: out of memory", r->addr);
        return OIE_EXIT_INTERNAL;
    }

    if (r->ctx->err) {
        oie_error("Redis %s: cannot connect: %s", r->addr, r->ctx->errstr);
        oie_redis_close(r);
        return OIE_EXIT_REDIS;
    }

    if (redisSetTimeout(r->ctx, tv) != REDIS_OK) {
        oie_error("Redis %s: cannot set the timeout", r->addr);
        oie_redis_close(r);
        return OIE_EXIT_REDIS;
    }

    /* Redis 6 ACL users: AUTH user password; else AUTH password */

    pw = getenv("OIE_REDIS_PASSWORD");
    user = getenv("OIE_REDIS_USER");

    if (pw != NULL && *pw != '\0') {
        argv[0] = "AUTH";
        n = 1;

        if (user != NULL && *user != '\0') {
            argv[n++] = user;
        }

        argv[n++] = pw;

        if (oie_redis_simple(r, "AUTH", n, argv) != OIE_EXIT_OK) {
            return OIE_EXIT_REDIS;
        }
    }

    if (r->db != 0) {
        snprintf(db, sizeof(db), "%ld", r->db);
        argv[0] = "SELECT";
        argv[1] = db;

        if (oie_redis_simple(r, "SELECT", 2, argv) != OIE_EXIT_OK) {
            return OIE_EXIT_REDIS;
        }
    }

    return OIE_EXIT_OK;
}


static int
oie_redis_simple(oie_redis_t *r, const char *what, int argc,
    const char **argv)
{
    redisReply  *reply;

    reply = redisCommandArgv(r->ctx, argc, argv, NULL);

    if (reply == NULL) {
        oie_error("Redis %s: %s failed: %s", r->addr, what, r->ctx->errstr);
        oie_redis_close(r);
        return OIE_EXIT_REDIS;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        oie_error("Redis %s: %s failed: %s", r->addr, what, reply->str);
        freeReplyObject(reply);
        oie_redis_close(r);
        return OIE_EXIT_REDIS;
    }

    freeReplyObject(reply);

    return OIE_EXIT_OK;
}


void
oie_redis_close(oie_redis_t *r)
{
    if (r->ctx != NULL) {
        redisFree(r->ctx);
        r->ctx = NULL;
    }
}
