/*
 * A table of leaky buckets, one per client, in a block of memory that may
 * be shared between processes (the caller locks): oie_miss_limit counts
 * there the ids a client asked for that did not exist, and refuses the
 * client once it guessed too many too fast.
 *
 * A bucket holds "excess" in thousandths of a miss.  Each miss adds 1000;
 * the excess drains at rate thousandths of a miss a second.  A client is
 * over the limit while its excess is above burst * 1000: burst misses may
 * come at once, then rate misses a second are allowed for ever.  No time
 * and no memory are spent on clients that never miss.
 *
 * Keys are hashed with a seed; a bucket of OIE_LIMIT_WAYS slots holds the
 * keys of one hash; when they are all taken, the slot whose excess has
 * drained the most is given to the newcomer (a forgotten client starts
 * afresh, which errs on the side of the client).
 *
 * Pure C, no nginx: unit-tested in t/unit/test_limit.c.
 */

#ifndef _OIE_LIMIT_H_INCLUDED_
#define _OIE_LIMIT_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>


#define OIE_LIMIT_WAYS              8

typedef struct oie_limit_s  oie_limit_t;

/* rate 0 is off; rate at most 10^9 and burst at most 10^6 (the directive's) */
typedef struct {
    uint64_t                  rate;        /* thousandths of a miss a second */
    uint64_t                  burst;       /* misses */
} oie_limit_conf_t;


/*
 * Makes an empty table in mem (size bytes, 8-byte aligned); returns it, or
 * NULL when size cannot hold one bucket.  seed varies the hash.
 */
oie_limit_t *oie_limit_init(void *mem, size_t size, uint64_t seed);

/* an existing table (after a reload): NULL if mem does not hold one */
oie_limit_t *oie_limit_attach(void *mem, size_t size);

/* the clients the table can hold */
unsigned oie_limit_slots(const oie_limit_t *lt);

/*
 * Milliseconds until key is under the limit again: 0 when it is under it
 * now.  Changes nothing.
 */
int64_t oie_limit_wait(oie_limit_t *lt, const oie_limit_conf_t *conf,
    const void *key, size_t len, int64_t now_ms);

/*
 * Records a miss of key at now_ms; returns what oie_limit_wait() would
 * return after it.  *crossed is set when this miss took the key over the
 * limit (it was under it before), for a log line once per crossing.
 */
int64_t oie_limit_miss(oie_limit_t *lt, const oie_limit_conf_t *conf,
    const void *key, size_t len, int64_t now_ms, int *crossed);


#endif /* _OIE_LIMIT_H_INCLUDED_ */
