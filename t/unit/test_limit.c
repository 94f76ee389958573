/*
 * Unit tests for the leaky buckets of oie_miss_limit (src/oie_limit.c):
 * the burst, the drain at the rate, the wait, crossing once, keys apart,
 * a full bucket, a clock stepping back, attach after a "reload".
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oie_limit.h"
#include "tap.h"


static uint64_t  mem[(64 + 4096 * 24) / 8];


static void
test_burst_and_rate(void)
{
    int               crossed, crossings;
    int64_t           w, now;
    unsigned          i;
    oie_limit_t      *lt;
    oie_limit_conf_t  conf;

    /* 10 misses a minute, a burst of 5 */
    conf.rate = 10 * 1000 / 60;
    conf.burst = 5;

    lt = oie_limit_init(mem, sizeof(mem), 42);
    ok(lt != NULL, "init");
    ok(oie_limit_slots(lt) >= 2048, "a 96 KB block holds 2048+ clients",
       oie_limit_slots(lt));

    now = 1000000;
    ok(oie_limit_wait(lt, &conf, "a", 1, now) == 0, "an unknown key waits 0");

    crossings = 0;

    for (i = 0; i < 5; i++) {
        w = oie_limit_miss(lt, &conf, "a", 1, now, &crossed);
        crossings += crossed;
        ok(w == 0, "a miss of the burst: still under the limit");
    }

    w = oie_limit_miss(lt, &conf, "a", 1, now, &crossed);
    ok(w > 0 && crossed, "the 6th miss at once crosses the limit",
       (long long) w);
    crossings += crossed;

    /* one miss over: 1000 / 166 a second = 6.03 s, rounded up in ms */
    ok(w == (1000 * 1000 + 165) / 166, "the wait is one miss at the rate");
    ok(oie_limit_wait(lt, &conf, "a", 1, now) == w, "wait() says the same");
    ok(oie_limit_wait(lt, &conf, "a", 1, now + w - 1) > 0,
       "a millisecond before, still over");
    ok(oie_limit_wait(lt, &conf, "a", 1, now + w) == 0,
       "under the limit again after the wait");
    ok(oie_limit_wait(lt, &conf, "a", 1, now) == w,
       "wait() changed nothing");

    w = oie_limit_miss(lt, &conf, "a", 1, now + 1000, &crossed);
    ok(w > 0 && !crossed, "another miss while over: over, not a new crossing");
    crossings += crossed;
    ok(crossings == 1, "one crossing in all");

    ok(oie_limit_wait(lt, &conf, "b", 1, now + 1000) == 0,
       "another key is not limited");

    /* a long time later: drained whole, a full burst again */
    now += 86400LL * 1000 * 365;
    for (i = 0; i < 5; i++) {
        w = oie_limit_miss(lt, &conf, "a", 1, now, &crossed);
        if (w != 0) {
            break;
        }
    }
    ok(i == 5, "a year later the whole burst is back");

    /* steady misses at the rate never cross */
    lt = oie_limit_init(mem, sizeof(mem), 43);
    now = 5000;
    crossings = 0;
    for (i = 0; i < 600; i++) {
        (void) oie_limit_miss(lt, &conf, "steady", 6, now, &crossed);
        crossings += crossed;
        now += 6100;    /* a little slower than 10 a minute */
    }
    ok(crossings == 0, "600 misses a little slower than the rate: never over");

    now += 100000;
    crossings = 0;
    for (i = 0; i < 60; i++) {
        (void) oie_limit_miss(lt, &conf, "fast", 4, now, &crossed);
        crossings += crossed;
        now += 1000;    /* 60 a minute */
    }
    ok(crossings >= 1, "misses six times the rate do cross");
}


static void
test_clock_and_zero(void)
{
    int               crossed;
    int64_t           w;
    unsigned          i;
    oie_limit_t      *lt;
    oie_limit_conf_t  conf;

    conf.rate = 1000;
    conf.burst = 0;

    lt = oie_limit_init(mem, sizeof(mem), 7);

    w = oie_limit_miss(lt, &conf, "z", 1, 10000, &crossed);
    ok(w == 1000 && crossed, "burst 0: the first miss is over, for 1 s");

    w = oie_limit_miss(lt, &conf, "z", 1, 5000, &crossed);
    ok(w == 2000, "a clock stepping back drains nothing",
       (long long) w);
    ok(oie_limit_wait(lt, &conf, "z", 1, 12000) == 0,
       "and time going on again drains");

    /* the clock from the one end of int64 to the other (fuzz/regress/limit) */
    w = oie_limit_miss(lt, &conf, "ends", 4, INT64_MIN + 3, &crossed);
    ok(w == 1000 && crossed, "a miss at the far past");
    ok(oie_limit_wait(lt, &conf, "ends", 4, INT64_MAX) == 0,
       "drained whole at the far future (no overflow)");

    conf.rate = 0;
    ok(oie_limit_miss(lt, &conf, "z", 1, 1, &crossed) == 0 && !crossed,
       "rate 0: off");

    conf.rate = 1000;
    conf.burst = 1000000;
    for (i = 0; i < 100000; i++) {
        (void) oie_limit_miss(lt, &conf, "big", 3, 1, &crossed);
    }
    ok(oie_limit_wait(lt, &conf, "big", 3, 1) == 0,
       "a burst of a million: 100000 misses at once are under it");

    ok(oie_limit_miss(lt, &conf, NULL, 0, 1, &crossed) == 0,
       "an empty key is a key like another");
    ok(oie_limit_init(mem, 100, 1) == NULL, "a block too small is refused");
    ok(oie_limit_init((char *) mem + 4, sizeof(mem) - 8, 1) == NULL,
       "a misaligned block is refused");
}


static void
test_full_and_attach(void)
{
    int               crossed, over;
    char              key[32];
    int64_t           w;
    unsigned          i, n;
    oie_limit_t      *lt, *again;
    oie_limit_conf_t  conf;
    static uint64_t   small[(64 + 8 * 24) / 8];

    conf.rate = 1000;
    conf.burst = 2;

    /* one bucket of 8 slots: the 9th client evicts the most drained one */
    lt = oie_limit_init(small, sizeof(small), 9);
    ok(lt != NULL && oie_limit_slots(lt) == 8, "one bucket: 8 slots");

    for (i = 0; i < 3; i++) {
        (void) oie_limit_miss(lt, &conf, "hot", 3, 1000, &crossed);
    }
    ok(oie_limit_wait(lt, &conf, "hot", 3, 1000) > 0, "hot is over");

    for (n = 0; n < 50; n++) {
        snprintf(key, sizeof(key), "cold-%u", n);
        (void) oie_limit_miss(lt, &conf, key, strlen(key), 1000, &crossed);
    }
    ok(oie_limit_wait(lt, &conf, "hot", 3, 1000) > 0,
       "50 one-miss clients through a full bucket do not evict the one over");

    /* attach: same block, same size */
    again = oie_limit_attach(small, sizeof(small));
    ok(again == lt, "attach finds the table");
    ok(oie_limit_wait(again, &conf, "hot", 3, 1000) > 0, "and what it held");
    ok(oie_limit_attach(small, sizeof(small) + 8) == NULL,
       "attach with another size fails");
    memset(mem, 0, 64);
    ok(oie_limit_attach(mem, sizeof(mem)) == NULL,
       "attach to an empty block fails");

    /* many keys in a big table: all kept, each limited alone */
    lt = oie_limit_init(mem, sizeof(mem), 11);
    over = 0;
    for (n = 0; n < 1000; n++) {
        snprintf(key, sizeof(key), "10.0.%u.%u", n / 256, n % 256);
        for (i = 0; i < (n % 2 ? 3u : 1u); i++) {
            w = oie_limit_miss(lt, &conf, key, strlen(key), 50, &crossed);
        }
        over += w > 0;
    }
    ok(over == 500, "1000 clients, the 500 with 3 misses are over", over);
}


int
main(void)
{
    plan(38);

    test_burst_and_rate();
    test_clock_and_zero();
    test_full_and_attach();

    return done_testing();
}
