/*
 * Leaky buckets per client in shared memory: see oie_limit.h.
 */

#include <string.h>

#include "oie_hash.h"
#include "oie_limit.h"


#define OIE_LIMIT_MAGIC         0x6f69652d6c696d31ULL   /* "oie-lim1" */
#define OIE_LIMIT_MAX_SLOTS     (1u << 24)
#define OIE_LIMIT_MISS          1000                    /* one miss */
#define OIE_LIMIT_MAX_EXCESS    ((int64_t) 1 << 50)


typedef struct {
    uint64_t                    key;            /* hash; 0: free */
    int64_t                     excess;         /* thousandths of a miss */
    int64_t                     last_ms;        /* when excess was right */
} oie_limit_slot_t;


struct oie_limit_s {
    uint64_t                    magic;
    uint64_t                    seed;
    uint64_t                    size;           /* bytes of the block */
    uint32_t                    nbuckets;       /* a power of 2 */
    uint32_t                    reserved;
    oie_limit_slot_t            slots[];
};


static oie_limit_slot_t *oie_limit_find(oie_limit_t *lt, const void *key,
    size_t len, uint64_t *hash, oie_limit_slot_t **victim, int64_t now_ms,
    const oie_limit_conf_t *conf);
static int64_t oie_limit_excess(const oie_limit_slot_t *s,
    const oie_limit_conf_t *conf, int64_t now_ms);
static int64_t oie_limit_wait_ms(int64_t excess,
    const oie_limit_conf_t *conf);
static uint64_t oie_limit_hash(const oie_limit_t *lt, const void *key,
    size_t len);


oie_limit_t *
oie_limit_init(void *mem, size_t size, uint64_t seed)
{
    size_t        bucket;
    uint32_t      nb;
    oie_limit_t  *lt;

    bucket = OIE_LIMIT_WAYS * sizeof(oie_limit_slot_t);

    nb = oie_hash_buckets(size, sizeof(oie_limit_t), bucket,
                          OIE_LIMIT_MAX_SLOTS / OIE_LIMIT_WAYS);

    if (mem == NULL || ((uintptr_t) mem & 7) || nb == 0) {
        return NULL;
    }

    lt = mem;

    memset(lt, 0, sizeof(oie_limit_t) + (size_t) nb * bucket);

    lt->seed = seed;
    lt->size = size;
    lt->nbuckets = nb;
    lt->magic = OIE_LIMIT_MAGIC;

    return lt;
}


oie_limit_t *
oie_limit_attach(void *mem, size_t size)
{
    oie_limit_t  *lt;

    if (mem == NULL || ((uintptr_t) mem & 7) || size < sizeof(oie_limit_t)) {
        return NULL;
    }

    lt = mem;

    if (lt->magic != OIE_LIMIT_MAGIC || lt->size != size
        || lt->nbuckets == 0 || (lt->nbuckets & (lt->nbuckets - 1))
        || sizeof(oie_limit_t) + (size_t) lt->nbuckets * OIE_LIMIT_WAYS
                                 * sizeof(oie_limit_slot_t) > size)
    {
        return NULL;
    }

    return lt;
}


unsigned
oie_limit_slots(const oie_limit_t *lt)
{
    return lt ? lt->nbuckets * OIE_LIMIT_WAYS : 0;
}


int64_t
oie_limit_wait(oie_limit_t *lt, const oie_limit_conf_t *conf,
    const void *key, size_t len, int64_t now_ms)
{
    uint64_t           h;
    oie_limit_slot_t  *s, *victim;

    if (lt == NULL || conf->rate == 0 || (key == NULL && len)) {
        return 0;
    }

    s = oie_limit_find(lt, key, len, &h, &victim, now_ms, conf);

    if (s == NULL) {
        return 0;
    }

    return oie_limit_wait_ms(oie_limit_excess(s, conf, now_ms), conf);
}


int64_t
oie_limit_miss(oie_limit_t *lt, const oie_limit_conf_t *conf,
    const void *key, size_t len, int64_t now_ms, int *crossed)
{
    int64_t            before, excess;
    uint64_t           h;
    oie_limit_slot_t  *s, *victim;

    *crossed = 0;

    if (lt == NULL || conf->rate == 0 || (key == NULL && len)) {
        return 0;
    }

    s = oie_limit_find(lt, key, len, &h, &victim, now_ms, conf);

    if (s == NULL) {
        s = victim;
        s->key = h;
        s->excess = 0;
        s->last_ms = now_ms;
    }

    before = oie_limit_excess(s, conf, now_ms);
    excess = before + OIE_LIMIT_MISS;

    if (excess > OIE_LIMIT_MAX_EXCESS) {
        excess = OIE_LIMIT_MAX_EXCESS;
    }

    /* a clock that steps back counts as no time passed */
    if (now_ms > s->last_ms) {
        s->last_ms = now_ms;
    }

    s->excess = excess;

    if (oie_limit_wait_ms(before, conf) == 0
        && oie_limit_wait_ms(excess, conf) > 0)
    {
        *crossed = 1;
    }

    return oie_limit_wait_ms(excess, conf);
}


/*
 * The slot of key, or NULL; then *victim is where it would go: a free
 * slot, else the one with the least excess left.
 */
static oie_limit_slot_t *
oie_limit_find(oie_limit_t *lt, const void *key, size_t len, uint64_t *hash,
    oie_limit_slot_t **victim, int64_t now_ms, const oie_limit_conf_t *conf)
{
    int64_t            e, least;
    unsigned           i;
    uint64_t           h;
    oie_limit_slot_t  *b;

    h = oie_limit_hash(lt, key, len);
    *hash = h;

    b = &lt->slots[(h & (lt->nbuckets - 1)) * OIE_LIMIT_WAYS];

    *victim = NULL;
    least = 0;

    for (i = 0; i < OIE_LIMIT_WAYS; i++) {
        if (b[i].key == h) {
            return &b[i];
        }

        if (*victim && (*victim)->key == 0) {
            continue;
        }

        if (b[i].key == 0) {
            *victim = &b[i];
            continue;
        }

        e = oie_limit_excess(&b[i], conf, now_ms);

        if (*victim == NULL || e < least) {
            *victim = &b[i];
            least = e;
        }
    }

    return NULL;
}


/* the excess of s at now_ms, drained since it was last right */
static int64_t
oie_limit_excess(const oie_limit_slot_t *s, const oie_limit_conf_t *conf,
    int64_t now_ms)
{
    uint64_t  elapsed;

    if (now_ms <= s->last_ms || s->excess <= 0) {
        return s->excess > 0 ? s->excess : 0;
    }

    /* in unsigned: now_ms - last_ms may not fit an int64_t */
    elapsed = (uint64_t) now_ms - (uint64_t) s->last_ms;

    /* drained whole: also keeps rate * elapsed from overflowing */
    if (elapsed >= (uint64_t) s->excess * 1000 / conf->rate + 1) {
        return 0;
    }

    return s->excess - (int64_t) (conf->rate * elapsed / 1000);
}


static int64_t
oie_limit_wait_ms(int64_t excess, const oie_limit_conf_t *conf)
{
    int64_t  over;

    over = excess - (int64_t) (conf->burst * OIE_LIMIT_MISS);

    if (over <= 0) {
        return 0;
    }

    /* rounded up: at that time the excess is at most burst */
    return (int64_t) (((uint64_t) over * 1000 + conf->rate - 1) / conf->rate);
}


static uint64_t
oie_limit_hash(const oie_limit_t *lt, const void *key, size_t len)
{
    return oie_hash_seeded(lt->seed, key, len);
}
