/*
 * Unit tests for the shared-memory ring: ordering, wrap-around, full and
 * oversized records, reuse across a "reload", and several producers at once.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oie_ring.h"
#include "tap.h"


static void
test_basic(void)
{
    static uint64_t  mem[(sizeof(oie_ring_t) + 8192) / 8];
    oie_ring_t      *ring;
    unsigned         tag;
    char             buf[64];
    int              kept;
    long             n;

    ring = oie_ring_init(mem, sizeof(mem), &kept);
    ok(ring != NULL && !kept, "init a fresh block");
    ok(oie_ring_pop(ring, &tag, buf, sizeof(buf)) == 0, "empty ring pops 0");
    ok(oie_ring_push(ring, 3, "hello", 5) == OIE_RING_OK, "push");
    ok(oie_ring_push(ring, 4, "world!", 6) == OIE_RING_OK, "push again");
    ok(ring->records == 2, "two records held");
    ok(oie_ring_next_len(ring) == 5, "length of the oldest");
    ok(oie_ring_pop(ring, &tag, buf, 4) == -1, "pop into a short buffer fails");
    ok(ring->records == 2, "and keeps the record");
    n = oie_ring_pop(ring, &tag, buf, sizeof(buf));
    ok(n == 5 && tag == 3 && memcmp(buf, "hello", 5) == 0, "FIFO order 1");
    n = oie_ring_pop(ring, &tag, buf, sizeof(buf));
    ok(n == 6 && tag == 4 && memcmp(buf, "world!", 6) == 0, "FIFO order 2");
    ok(oie_ring_used(ring) == 0 && ring->records == 0, "empty again");
    ok(oie_ring_push(ring, 0, "", 0) == OIE_RING_BAD_LEN, "empty record refused");
    ok(oie_ring_init(mem, 100, &kept) == NULL, "too small a block refused");
}


static void
test_wrap_and_full(void)
{
    static uint64_t  mem[(sizeof(oie_ring_t) + 4096) / 8];
    oie_ring_t      *ring;
    unsigned         tag, i, pushed, popped, bad;
    char             rec[700], buf[4096];
    int              kept, rc;
    long             n;

    ring = oie_ring_init(mem, sizeof(mem), &kept);

    ok(oie_ring_push(ring, 1, rec, 5000) == OIE_RING_BAD_LEN,
       "record larger than the ring refused");

    /* fill until full, with records of varying size */
    pushed = 0;
    for ( ;; ) {
        memset(rec, 'a' + pushed % 26, sizeof(rec));
        rc = oie_ring_push(ring, pushed, rec, 100 + (pushed * 37) % 500);
        if (rc != OIE_RING_OK) {
            break;
        }
        pushed++;
    }
    ok(rc == OIE_RING_FULL, "ring reports full");
    ok(oie_ring_used(ring) <= ring->size, "never holds more than its size");

    /* many rounds of partial drain + refill force wraps at every offset */
    popped = 0;
    bad = 0;
    for (i = 0; i < 2000; i++) {
        n = oie_ring_pop(ring, &tag, buf, sizeof(buf));
        if (n <= 0 || tag != popped
            || n != (long) (100 + (popped * 37) % 500)
            || buf[0] != (char) ('a' + popped % 26) || buf[n - 1] != buf[0])
        {
            bad++;
        }
        popped++;

        while (pushed - popped < 3) {
            memset(rec, 'a' + pushed % 26, sizeof(rec));
            if (oie_ring_push(ring, pushed, rec, 100 + (pushed * 37) % 500)
                != OIE_RING_OK)
            {
                break;
            }
            pushed++;
        }
    }
    ok(bad == 0, "2000 records across wraps come out whole and in order");

    while (oie_ring_pop(ring, &tag, buf, sizeof(buf)) > 0) {
        popped++;
    }
    ok(popped == pushed, "everything pushed was popped once");
    ok(ring->records == 0 && oie_ring_used(ring) == 0, "ring empty at the end");

    /* an empty ring whose write offset sits near the end still takes a
     * record as large as the whole ring allows */
    rc = oie_ring_push(ring, 9, rec, 600);
    (void) oie_ring_pop(ring, &tag, buf, sizeof(buf));
    ok(oie_ring_push(ring, 9, buf, ring->size - 8) == OIE_RING_OK,
       "empty ring takes a record of its full size at any offset");
}


static void
test_reload(void)
{
    static uint64_t  mem[(sizeof(oie_ring_t) + 8192) / 8];
    oie_ring_t      *ring;
    unsigned         tag;
    char             buf[64];
    int              kept;

    ring = oie_ring_init(mem, sizeof(mem), &kept);
    oie_ring_push(ring, 7, "kept", 4);

    ring = oie_ring_init(mem, sizeof(mem), &kept);
    ok(kept, "re-init of the same block keeps the ring");
    ok(oie_ring_pop(ring, &tag, buf, sizeof(buf)) == 4 && tag == 7,
       "record survives re-init");

    oie_ring_push(ring, 7, "gone", 4);
    ring = oie_ring_init(mem, sizeof(mem) - 64, &kept);
    ok(!kept && ring->records == 0, "a different size starts empty");

    oie_ring_push(ring, 7, "gone", 4);
    ring->tail = ring->head + 8;     /* corrupted offsets */
    ring = oie_ring_init(mem, sizeof(mem) - 64, &kept);
    ok(!kept && ring->records == 0, "corrupt offsets start empty");
}


/* two-step taking: held records stay in the ring until released */
static void
test_take(void)
{
    static uint64_t  mem[(sizeof(oie_ring_t) + 4096) / 8];
    static uint64_t  big[(sizeof(oie_ring_t) + 8192) / 8];
    oie_ring_t      *ring;
    unsigned         tag, seq, want, next, bad, lost, rounds, k, i;
    char             buf[700], rec[700];
    size_t           used;
    long             n;
    int              kept, rc;

    ring = oie_ring_init(mem, sizeof(mem), &kept);

    oie_ring_push(ring, 1, "one", 3);
    oie_ring_push(ring, 2, "two!", 4);
    oie_ring_push(ring, 3, "three", 5);
    used = oie_ring_used(ring);

    ok(oie_ring_take(ring, 11, &tag, buf, sizeof(buf)) == 3 && tag == 1
       && oie_ring_take(ring, 11, &tag, buf, sizeof(buf)) == 4 && tag == 2
       && memcmp(buf, "two!", 4) == 0,
       "take copies the oldest records in order");
    ok(ring->holder == 11 && ring->held_records == 2 && ring->records == 3
       && oie_ring_used(ring) == used,
       "taken records are held: still in the ring, still counted");
    ok(oie_ring_take(ring, 12, &tag, buf, sizeof(buf)) == OIE_RING_HELD
       && oie_ring_pop(ring, &tag, buf, sizeof(buf)) == OIE_RING_HELD,
       "no one else takes or pops while a hold is on");
    ok(oie_ring_next_len(ring) == 5,
       "next_len is the length of the first record past the held ones");
    ok(oie_ring_take(ring, 11, &tag, buf, 4) == -1 && ring->held_records == 2,
       "a take into a short buffer fails and holds nothing more");

    oie_ring_release(ring, 0);
    ok(ring->holder == 0 && ring->records == 3 && oie_ring_used(ring) == used,
       "released unconsumed: the records stay");
    ok(oie_ring_take(ring, 12, &tag, buf, sizeof(buf)) == 3 && tag == 1
       && memcmp(buf, "one", 3) == 0,
       "and the next taker gets them again, from the oldest");

    oie_ring_release(ring, 1);
    ok(ring->holder == 0 && ring->records == 2
       && oie_ring_next_len(ring) == 4,
       "released consumed: the held record is gone, the rest stay");
    ok(oie_ring_take(ring, 0, &tag, buf, sizeof(buf)) == OIE_RING_HELD,
       "owner 0 is refused");
    oie_ring_take(ring, 13, &tag, buf, sizeof(buf));
    oie_ring_take(ring, 13, &tag, buf, sizeof(buf));
    ok(oie_ring_take(ring, 13, &tag, buf, sizeof(buf)) == 0
       && ring->held_records == 2,
       "take at the end of the ring returns 0");
    oie_ring_release(ring, 1);
    ok(ring->records == 0 && oie_ring_used(ring) == 0, "ring empty");

    /* held space is not reused: pushes fill up around a hold */
    memset(rec, 'r', sizeof(rec));
    for (seq = 0; oie_ring_push(ring, seq, rec, 300) == OIE_RING_OK; seq++) {
        /* void */
    }
    for (i = 0; i < seq / 2; i++) {
        oie_ring_take(ring, 21, &tag, buf, sizeof(buf));
    }
    ok(oie_ring_push(ring, 99, rec, 300) == OIE_RING_FULL,
       "a hold keeps its space: the ring stays full");
    oie_ring_release(ring, 1);
    ok(oie_ring_push(ring, 99, rec, 300) == OIE_RING_OK,
       "consumed, the space takes new records");

    /*
     * Takers that die (release 0) or finish (release 1) at random, with
     * pushes between, over many wraps: every record is consumed once, in
     * order, and none is lost.
     */
    ring = oie_ring_init(big, sizeof(big), &kept);
    srand(7);
    seq = 0;        /* next to push */
    next = 0;       /* next expected to be consumed */
    bad = 0;
    lost = 0;

    for (rounds = 0; rounds < 20000; rounds++) {
        while (rand() % 3) {
            snprintf(rec, sizeof(rec), "%u", seq);
            if (oie_ring_push(ring, seq & 0xff, rec,
                              16 + (seq * 53) % 600) != OIE_RING_OK)
            {
                break;
            }
            seq++;
        }

        k = 1 + rand() % 5;
        want = next;

        for (i = 0; i < k; i++) {
            n = oie_ring_take(ring, 1 + rounds % 3, &tag, buf, sizeof(buf));
            if (n <= 0) {
                break;
            }
            buf[n] = '\0';
            if ((unsigned) atoi(buf) != want || tag != (want & 0xff)) {
                bad++;
            }
            want++;
        }

        rc = rand() % 4 == 0;       /* the taker died */
        oie_ring_release(ring, !rc);

        if (!rc) {
            next = want;
        }
    }

    while ((n = oie_ring_pop(ring, &tag, buf, sizeof(buf) - 1)) > 0) {
        buf[n] = '\0';
        if ((unsigned) atoi(buf) != next) {
            lost++;
        }
        next++;
    }

    ok(bad == 0 && lost == 0 && next == seq && seq > 20000,
       "20000 takes, a quarter of them by takers that die: every record "
       "consumed once, in order");

    /* a hold survives a reload; impossible hold figures start empty */
    oie_ring_push(ring, 5, "held", 4);
    oie_ring_take(ring, 31, &tag, buf, sizeof(buf));
    ring = oie_ring_init(big, sizeof(big), &kept);
    ok(kept && ring->holder == 31 && ring->held_records == 1,
       "re-init keeps the hold");
    ring->held = ring->head - ring->tail + 8;
    ring = oie_ring_init(big, sizeof(big), &kept);
    ok(!kept && ring->records == 0 && ring->holder == 0,
       "a hold larger than the ring's contents starts empty");
}


#define PRODUCERS  4
#define PER_PROD   50000

static oie_ring_t       *mt_ring;
static pthread_mutex_t   mt_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int      mt_done;


static void *
producer(void *arg)
{
    unsigned  id, seq, len;
    char      rec[64];

    id = (unsigned) (uintptr_t) arg;

    for (seq = 0; seq < PER_PROD; /* void */) {
        len = (unsigned) snprintf(rec, sizeof(rec), "%u:%u:%*s", id, seq,
                                  (int) (seq % 30), "");
        pthread_mutex_lock(&mt_lock);
        if (oie_ring_push(mt_ring, id, rec, len) == OIE_RING_OK) {
            seq++;
        }
        pthread_mutex_unlock(&mt_lock);
    }

    return NULL;
}


static void
test_producers(void)
{
    static uint64_t  mem[(sizeof(oie_ring_t) + 65536) / 8];
    pthread_t        th[PRODUCERS];
    unsigned         next[PRODUCERS], tag, id, seq, total, bad, i;
    char             buf[128];
    int              kept;
    long             n;

    mt_ring = oie_ring_init(mem, sizeof(mem), &kept);

    for (i = 0; i < PRODUCERS; i++) {
        next[i] = 0;
        pthread_create(&th[i], NULL, producer, (void *) (uintptr_t) i);
    }

    total = 0;
    bad = 0;
    while (total < PRODUCERS * PER_PROD) {
        pthread_mutex_lock(&mt_lock);
        n = oie_ring_pop(mt_ring, &tag, buf, sizeof(buf) - 1);
        pthread_mutex_unlock(&mt_lock);
        if (n <= 0) {
            continue;
        }
        buf[n] = '\0';
        if (sscanf(buf, "%u:%u:", &id, &seq) != 2 || id != tag
            || id >= PRODUCERS || seq != next[id])
        {
            bad++;
            continue;
        }
        next[id]++;
        total++;
    }

    for (i = 0; i < PRODUCERS; i++) {
        pthread_join(th[i], NULL);
    }

    ok(bad == 0, "4 producers x 50000: every record once, in per-producer "
       "order");
    ok(mt_ring->records == 0, "nothing left behind");
}


int
main(void)
{
    plan(42);
    test_basic();
    test_wrap_and_full();
    test_reload();
    test_take();
    test_producers();
    return done_testing();
}
