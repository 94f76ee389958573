/*
 * libFuzzer harness for src/oie_limit.c (oie_miss_limit): the fuzzer's
 * bytes are a program of misses, waits, re-attaches (nginx -s reload),
 * copies of the block elsewhere, fresh tables, changes of rate and burst
 * and of the clock (forward, back, to the ends of int64), run against a
 * model written here in 128-bit arithmetic.  The model keeps every key's
 * excess and the ways of every bucket (a full bucket of OIE_LIMIT_WAYS
 * gives the way with the least excess left, the first of equals, to a
 * newcomer), so evicted keys are known too.  Checks: wait() and miss()
 * return what the model says; wait() changes no byte of the block; the
 * wait is 0 exactly while the excess is at most burst * 1000, and exact
 * (under the limit after it, a millisecond before not); a key's wait never
 * grows without a miss while the clock goes forward; crossed is set
 * exactly when a miss goes from under the limit to over it; rate 0 or a
 * NULL key with a length changes nothing; the block is never written past
 * its size (it is allocated to the byte, for ASan).  Rates and bursts are
 * those the directive takes: 0 .. 10^9 and 0 .. 10^6.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oie_hash.h"
#include "oie_limit.h"
#include "fuzz_util.h"


#define FUZZ_LIMIT_OPS       1024
#define FUZZ_LIMIT_KEYS      40
#define FUZZ_LIMIT_MAX_NB    64
#define FUZZ_LIMIT_RATE_MAX  1000000000ULL          /* 10^6 r/s */
#define FUZZ_LIMIT_BURST_MAX 1000000ULL

typedef __int128  fuzz_i128_t;


typedef struct {
    int           way;          /* -1: not in the table */
    int64_t       excess;
    int64_t       last_ms;
    int           seen;         /* a wait was asked since the last miss */
    int64_t       seen_ms;
    int64_t       seen_wait;
} fuzz_key_t;


typedef struct {
    unsigned      nb;
    uint64_t      seed;
    int           ways[FUZZ_LIMIT_MAX_NB][OIE_LIMIT_WAYS];   /* key or -1 */
    fuzz_key_t    keys[FUZZ_LIMIT_KEYS];
} fuzz_model_t;


static unsigned char  fuzz_key_bytes[FUZZ_LIMIT_KEYS][16];
static size_t         fuzz_key_len[FUZZ_LIMIT_KEYS];


/* key 0 is the empty key (also given as NULL, 0); the others differ */
static void
fuzz_keys_init(void)
{
    size_t  i, j;

    for (i = 1; i < FUZZ_LIMIT_KEYS; i++) {
        fuzz_key_len[i] = 1 + i % 16;

        for (j = 0; j < fuzz_key_len[i]; j++) {
            fuzz_key_bytes[i][j] = (unsigned char) (i * 37 + j * 11);
        }
    }
}


/* the excess at now: no drain for a clock that stepped back */
static fuzz_i128_t
fuzz_excess(const fuzz_key_t *k, const oie_limit_conf_t *conf, int64_t now)
{
    fuzz_i128_t  e;

    if (k->excess <= 0) {
        return 0;
    }

    if (now <= k->last_ms) {
        return k->excess;
    }

    e = (fuzz_i128_t) k->excess
        - (fuzz_i128_t) conf->rate * ((fuzz_i128_t) now - k->last_ms) / 1000;

    return e > 0 ? e : 0;
}


/* ms until the excess is at most burst * 1000, rounded up */
static int64_t
fuzz_wait(fuzz_i128_t e, const oie_limit_conf_t *conf)
{
    fuzz_i128_t  over;

    over = e - (fuzz_i128_t) conf->burst * 1000;

    if (over <= 0) {
        return 0;
    }

    return (int64_t) ((over * 1000 + conf->rate - 1) / conf->rate);
}


static unsigned
fuzz_bucket(fuzz_model_t *m, unsigned k)
{
    return (unsigned) (oie_hash_seeded(m->seed, fuzz_key_bytes[k],
                                       fuzz_key_len[k])
                       & (m->nb - 1));
}


static void
fuzz_model_reset(fuzz_model_t *m, unsigned nb, uint64_t seed)
{
    unsigned  i, j;

    m->nb = nb;
    m->seed = seed;

    for (i = 0; i < FUZZ_LIMIT_MAX_NB; i++) {
        for (j = 0; j < OIE_LIMIT_WAYS; j++) {
            m->ways[i][j] = -1;
        }
    }

    memset(m->keys, 0, sizeof(m->keys));

    for (i = 0; i < FUZZ_LIMIT_KEYS; i++) {
        m->keys[i].way = -1;
    }
}


/* the model of oie_limit_miss(); returns the wait, sets *crossed */
static int64_t
fuzz_model_miss(fuzz_model_t *m, const oie_limit_conf_t *conf, unsigned k,
    int64_t now, int *crossed)
{
    int           w, victim;
    unsigned      b;
    fuzz_key_t   *key;
    fuzz_i128_t   e, least, before, after;

    key = &m->keys[k];

    if (key->way < 0) {
        b = fuzz_bucket(m, k);
        victim = -1;
        least = 0;

        for (w = 0; w < OIE_LIMIT_WAYS; w++) {
            if (m->ways[b][w] < 0) {
                victim = w;
                break;
            }

            e = fuzz_excess(&m->keys[m->ways[b][w]], conf, now);

            if (victim < 0 || e < least) {
                victim = w;
                least = e;
            }
        }

        if (m->ways[b][victim] >= 0) {
            m->keys[m->ways[b][victim]].way = -1;
            m->keys[m->ways[b][victim]].seen = 0;
        }

        m->ways[b][victim] = (int) k;
        key->way = victim;
        key->excess = 0;
        key->last_ms = now;
    }

    before = fuzz_excess(key, conf, now);
    after = before + 1000;

    key->excess = (int64_t) after;
    if (now > key->last_ms) {
        key->last_ms = now;
    }
    key->seen = 0;

    *crossed = fuzz_wait(before, conf) == 0 && fuzz_wait(after, conf) > 0;

    return fuzz_wait(after, conf);
}


static int64_t
fuzz_model_wait(fuzz_model_t *m, const oie_limit_conf_t *conf, unsigned k,
    int64_t now)
{
    if (m->keys[k].way < 0) {
        return 0;
    }

    return fuzz_wait(fuzz_excess(&m->keys[k], conf, now), conf);
}


static uint64_t
fuzz_rate(fuzz_in_t *in)
{
    unsigned  b;

    b = fuzz_byte(in);

    switch (b % 8) {
    case 0:
        return 0;                               /* off */
    case 1:
        return FUZZ_LIMIT_RATE_MAX;
    case 2:
        return 1 + fuzz_byte(in);               /* 1 r/m is 16 */
    case 3:
        return 1000 * 1000 / 60;                /* 1000 r/m */
    default:
        return 1 + fuzz_u32(in) % FUZZ_LIMIT_RATE_MAX;
    }
}


static uint64_t
fuzz_burst(fuzz_in_t *in)
{
    unsigned  b;

    b = fuzz_byte(in);

    switch (b % 4) {
    case 0:
        return 0;
    case 1:
        return FUZZ_LIMIT_BURST_MAX;
    case 2:
        return fuzz_byte(in) % 8;
    default:
        return fuzz_u32(in) % (FUZZ_LIMIT_BURST_MAX + 1);
    }
}


/* the new time: forward or back a little or a lot, or to an end */
static int64_t
fuzz_time(fuzz_in_t *in, int64_t now)
{
    unsigned  b;

    b = fuzz_byte(in);

    switch (b % 10) {
    case 0:
    case 1:
    case 2:
        return (int64_t) ((uint64_t) now + fuzz_byte(in));
    case 3:
    case 4:
        return (int64_t) ((uint64_t) now + ((uint64_t) fuzz_byte(in) << 10));
    case 5:
        return (int64_t) ((uint64_t) now + ((uint64_t) fuzz_u32(in) << 8));
    case 6:
        return (int64_t) ((uint64_t) now - fuzz_byte(in));
    case 7:
        return (b & 0x80) ? INT64_MAX - fuzz_byte(in)
                          : INT64_MIN + fuzz_byte(in);
    case 8:
        return (b & 0x80) ? 0 : -1 - (int64_t) fuzz_byte(in);
    default:
        return (int64_t) fuzz_u64(in);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                crossed, mcrossed;
    void              *mem, *copy, *other;
    size_t             bytes, n;
    int64_t            now, w, mw, probe;
    unsigned           op, k, nb;
    uint64_t           seed;
    fuzz_in_t          in;
    const void        *key;
    oie_limit_t       *lt, *again;
    fuzz_model_t      *m;
    oie_limit_conf_t   conf;
    size_t             klen;

    static int  ready;

    if (!ready) {
        fuzz_keys_init();
        ready = 1;
    }

    in.p = data;
    in.left = size;

    m = malloc(sizeof(fuzz_model_t));
    FUZZ_CHECK(m != NULL);

    /* too small for one bucket, or not 8-byte aligned: refused */
    mem = malloc(64);
    FUZZ_CHECK(mem != NULL);
    FUZZ_CHECK(oie_limit_init(mem, 64, 1) == NULL);
    FUZZ_CHECK(oie_limit_init(NULL, 1 << 20, 1) == NULL);
    FUZZ_CHECK(oie_limit_attach(mem, 64) == NULL);
    free(mem);

    /* 1 to 64 buckets' worth, give or take, allocated to the byte */
    bytes = 32 + OIE_LIMIT_WAYS * 24 * (1 + fuzz_byte(&in) % 64)
            + fuzz_byte(&in) % 200;
    seed = fuzz_u64(&in);

    mem = malloc(bytes);
    copy = malloc(bytes);
    FUZZ_CHECK(mem != NULL && copy != NULL);
    memset(mem, 0xa5, bytes);

    FUZZ_CHECK(oie_limit_init((char *) mem + 4, bytes - 4, seed) == NULL);

    lt = oie_limit_init(mem, bytes, seed);
    FUZZ_CHECK(lt == mem);
    nb = oie_limit_slots(lt) / OIE_LIMIT_WAYS;
    FUZZ_CHECK(nb >= 1 && nb <= FUZZ_LIMIT_MAX_NB && (nb & (nb - 1)) == 0);
    FUZZ_CHECK(oie_limit_slots(lt) % OIE_LIMIT_WAYS == 0);
    FUZZ_CHECK(oie_limit_slots(NULL) == 0);
    fuzz_model_reset(m, nb, seed);

    conf.rate = fuzz_rate(&in);
    conf.burst = fuzz_burst(&in);
    now = fuzz_time(&in, 0);

    for (n = 0; n < FUZZ_LIMIT_OPS && in.left; n++) {
        op = fuzz_byte(&in);
        k = fuzz_byte(&in) % FUZZ_LIMIT_KEYS;

        key = fuzz_key_bytes[k];
        klen = fuzz_key_len[k];

        if (k == 0 && (op & 0x80)) {
            key = NULL;                 /* the empty key either way */
        }

        switch (op % 16) {

        case 0:
        case 1:
        case 2:
        case 3:
        case 4:
            /* a miss; rate 0 is off: nothing at all */
            if (conf.rate == 0) {
                memcpy(copy, mem, bytes);
                crossed = -1;
                w = oie_limit_miss(lt, &conf, key, klen, now, &crossed);
                FUZZ_CHECK(w == 0 && crossed == 0);
                FUZZ_CHECK(memcmp(copy, mem, bytes) == 0);
                break;
            }

            mw = fuzz_model_miss(m, &conf, k, now, &mcrossed);

            crossed = -1;
            w = oie_limit_miss(lt, &conf, key, klen, now, &crossed);

            FUZZ_CHECK(w == mw);
            FUZZ_CHECK(crossed == mcrossed);
            FUZZ_CHECK(w >= 0);
            FUZZ_CHECK(oie_limit_wait(lt, &conf, key, klen, now) == w);
            break;

        case 5:
        case 6:
        case 7:
            /* a wait: changes nothing, is exact */
            memcpy(copy, mem, bytes);
            w = oie_limit_wait(lt, &conf, key, klen, now);
            FUZZ_CHECK(memcmp(copy, mem, bytes) == 0);

            if (conf.rate == 0) {
                FUZZ_CHECK(w == 0);
                break;
            }

            FUZZ_CHECK(w == fuzz_model_wait(m, &conf, k, now));
            FUZZ_CHECK(w >= 0);

            if (m->keys[k].seen && now >= m->keys[k].seen_ms) {
                /* time forward, no miss: the wait never grows */
                FUZZ_CHECK(w <= m->keys[k].seen_wait);
            }

            /*
             * under the limit after the wait; a millisecond before, still
             * over when the key's excess is as of now (drained before now,
             * the drain is rounded down twice: the wait may be 1 ms long).
             * A clock behind the key's last miss drains nothing yet.
             */
            if (w > 0 && now <= INT64_MAX - w
                && now >= m->keys[k].last_ms)
            {
                probe = now + w;
                FUZZ_CHECK(oie_limit_wait(lt, &conf, key, klen, probe)
                           == 0);

                if (now == m->keys[k].last_ms) {
                    FUZZ_CHECK(oie_limit_wait(lt, &conf, key, klen,
                                              probe - 1) > 0);
                }

                FUZZ_CHECK(memcmp(copy, mem, bytes) == 0);
            }

            m->keys[k].seen = 1;
            m->keys[k].seen_ms = now;
            m->keys[k].seen_wait = w;
            break;

        case 8:
        case 9:
        case 10:
            now = fuzz_time(&in, now);
            break;

        case 11:
            /* a NULL key with a length: nothing */
            memcpy(copy, mem, bytes);
            crossed = -1;
            FUZZ_CHECK(oie_limit_miss(lt, &conf, NULL, 1 + k, now, &crossed)
                       == 0 && crossed == 0);
            FUZZ_CHECK(oie_limit_wait(lt, &conf, NULL, 1 + k, now) == 0);
            FUZZ_CHECK(memcmp(copy, mem, bytes) == 0);
            break;

        case 12:
            /* nginx -s reload: the same block again; or a wrong size */
            FUZZ_CHECK(oie_limit_attach(mem, bytes - 8) == NULL);
            again = oie_limit_attach(mem, bytes);
            FUZZ_CHECK(again == lt);
            FUZZ_CHECK(oie_limit_slots(again) == nb * OIE_LIMIT_WAYS);
            break;

        case 13:
            /* the block elsewhere (nothing in it points into itself) */
            other = malloc(bytes);
            FUZZ_CHECK(other != NULL);
            memcpy(other, mem, bytes);
            memset(mem, 0x5a, bytes);
            free(mem);
            mem = other;
            lt = oie_limit_attach(mem, bytes);
            FUZZ_CHECK(lt == mem);
            break;

        case 14:
            conf.rate = fuzz_rate(&in);
            conf.burst = fuzz_burst(&in);
            for (k = 0; k < FUZZ_LIMIT_KEYS; k++) {
                m->keys[k].seen = 0;
            }
            break;

        default:
            /* a fresh table (a new zone), perhaps another seed */
            if (op & 0x40) {
                seed = fuzz_u64(&in);
            }
            lt = oie_limit_init(mem, bytes, seed);
            FUZZ_CHECK(lt == mem);
            FUZZ_CHECK(oie_limit_slots(lt) == nb * OIE_LIMIT_WAYS);
            fuzz_model_reset(m, nb, seed);
            break;
        }
    }

    /* every key the model holds, at the end, as the model says */
    if (conf.rate) {
        for (k = 0; k < FUZZ_LIMIT_KEYS; k++) {
            FUZZ_CHECK(oie_limit_wait(lt, &conf, fuzz_key_bytes[k],
                                      fuzz_key_len[k], now)
                       == fuzz_model_wait(m, &conf, k, now));
        }
    }

    free(mem);
    free(copy);
    free(m);

    return 0;
}
