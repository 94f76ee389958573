/*
 * A bounded ring of variable-length records in one flat block of memory.
 *
 * The ring holds only offsets, so the same block can be mapped at different
 * addresses (nginx shared memory across reloads).  It does no locking of its
 * own: the caller serializes push and pop (nginx uses the zone's shmtx, the
 * unit tests a pthread mutex), which keeps this file free of nginx headers.
 */

#ifndef _OIE_RING_H_INCLUDED_
#define _OIE_RING_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>


#define OIE_RING_MAGIC      0x4f494552494e4731ULL    /* "OIERING1" */
#define OIE_RING_MIN_SIZE   4096
#define OIE_RING_MAX_RECORD (1024 * 1024)

#define OIE_RING_OK         0
#define OIE_RING_FULL       -1
#define OIE_RING_BAD_LEN    -2    /* empty, or larger than the ring takes */


typedef struct {
    uint64_t        magic;
    uint64_t        size;        /* bytes in data[], a multiple of 8 */
    uint64_t        head;        /* bytes ever written, wraps included */
    uint64_t        tail;        /* bytes ever consumed */
    uint64_t        records;     /* records held now */
    uint64_t        high_water;  /* most bytes ever held at once */
    unsigned char   data[];
} oie_ring_t;


/*
 * Lays a ring over mem[0..bytes).  A block that already holds a ring of the
 * same size keeps its records (nginx reload); *kept tells which happened.
 */
oie_ring_t *oie_ring_init(void *mem, size_t bytes, int *kept);

/*
 * Appends one record of 1..OIE_RING_MAX_RECORD bytes with a small tag;
 * OIE_RING_FULL leaves the ring as it was.
 */
int oie_ring_push(oie_ring_t *ring, unsigned tag, const void *data,
    size_t len);

/*
 * Removes the oldest record into buf (at most cap bytes).  Returns its
 * length, 0 when the ring is empty, or -1 (record kept) when cap is too small.
 */
long oie_ring_pop(oie_ring_t *ring, unsigned *tag, void *buf, size_t cap);

/* Length of the oldest record, 0 when empty. */
size_t oie_ring_peek_len(const oie_ring_t *ring);

size_t oie_ring_used(const oie_ring_t *ring);

/* The space one record of len bytes takes, header and padding included. */
size_t oie_ring_record_size(size_t len);

#endif /* _OIE_RING_H_INCLUDED_ */
