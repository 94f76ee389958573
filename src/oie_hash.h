/*
 * The seeded 64-bit hash of the shared-memory tables (hit timing,
 * oie_miss_limit): FNV-1a from a seeded basis, then a 64-bit finalizer so
 * the low bits (the bucket) depend on every byte.  Never 0, which the
 * tables use for a free slot.
 */

#ifndef _OIE_HASH_H_INCLUDED_
#define _OIE_HASH_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>


static inline uint64_t
oie_hash_seeded(uint64_t seed, const void *key, size_t len)
{
    size_t                i;
    uint64_t              h;
    const unsigned char  *p;

    p = key;
    h = 0xcbf29ce484222325ULL ^ seed;

    for (i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }

    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;

    return h ? h : 1;
}


/*
 * How many buckets of bucket bytes a table of size bytes holds after its
 * header: the largest power of 2, at most max; 0 when not even one fits.
 */
static inline uint32_t
oie_hash_buckets(size_t size, size_t header, size_t bucket, uint32_t max)
{
    uint32_t  nb;

    if (size < header + bucket) {
        return 0;
    }

    for (nb = 1; nb < max && header + (size_t) nb * 2 * bucket <= size;
         nb *= 2)
    {
        /* void */
    }

    return nb;
}


#endif /* _OIE_HASH_H_INCLUDED_ */
