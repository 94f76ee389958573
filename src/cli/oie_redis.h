/*
 * The oie tool's Redis connection (hiredis, synchronous: a CLI may block).
 */

#ifndef _OIE_REDIS_H_INCLUDED_
#define _OIE_REDIS_H_INCLUDED_

#include <hiredis/hiredis.h>


#define OIE_REDIS_DEFAULT   "127.0.0.1:6379"
#define OIE_TIMEOUT_DEFAULT  5.0


typedef struct {
    const char     *addr;      /* as given: HOST:PORT, [V6]:PORT or /path */
    long            db;
    double          timeout;   /* seconds, connect and each reply */
    redisContext   *ctx;
} oie_redis_t;


/*
 * Connects, authenticates (OIE_REDIS_PASSWORD, and OIE_REDIS_USER for an
 * ACL user) and selects the database.
 * Returns OIE_EXIT_OK, OIE_EXIT_USAGE for a bad address, OIE_EXIT_REDIS.
 */
int oie_redis_connect(oie_redis_t *r);
void oie_redis_close(oie_redis_t *r);

/* The default address: $OIE_REDIS or 127.0.0.1:6379. */
const char *oie_redis_default(void);

/*
 * The options every Redis command shares, as getopt_long codes: 'r'
 * (--redis), 'd' (--db), 'T' (--timeout).  Returns 1 when c was one of
 * them, 0 when it was not, -1 (reported) for a bad value.
 */
int oie_redis_option(oie_redis_t *r, int c, const char *arg);

#endif /* _OIE_REDIS_H_INCLUDED_ */
