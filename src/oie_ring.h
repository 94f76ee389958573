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


#define OIE_RING_MAGIC      0x4f494552494e4732ULL    /* "OIERING2" */
#define OIE_RING_MIN_SIZE   4096
#define OIE_RING_MAX_RECORD (1024 * 1024)

#define OIE_RING_OK         0
#define OIE_RING_FULL       -1
#define OIE_RING_BAD_LEN    -2    /* empty, or larger than the ring takes */
#define OIE_RING_HELD       -3    /* records are held by a take */


typedef struct {
    uint64_t        magic;
    uint64_t        size;        /* bytes in data[], a multiple of 8 */
    uint64_t        head;        /* bytes ever written, wraps included */
    uint64_t        tail;        /* bytes ever consumed */
    uint64_t        records;     /* records held now */
    uint64_t        high_water;  /* most bytes ever held at once */
    uint64_t        holder;      /* who holds taken records, 0: none */
    uint64_t        held;        /* bytes taken, from tail on */
    uint64_t        held_records;
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
 * length, 0 when the ring is empty, -1 (record kept) when cap is too small,
 * or OIE_RING_HELD while a take holds records.
 */
long oie_ring_pop(oie_ring_t *ring, unsigned *tag, void *buf, size_t cap);

/*
 * Taking records in two steps, so that a taker killed between them loses
 * none.  oie_ring_take() copies the oldest record not yet taken into buf
 * and holds it for owner (not 0): it stays in the ring, counted as used,
 * and no one else takes or pops while records are held.  Returns as
 * oie_ring_pop() does, and OIE_RING_HELD when another owner holds records.
 * oie_ring_release() ends the hold: consume 1 removes the held records
 * (they are safe elsewhere now), consume 0 leaves them to be taken again
 * (their taker died first).
 */
long oie_ring_take(oie_ring_t *ring, uint64_t owner, unsigned *tag, void *buf,
    size_t cap);
void oie_ring_release(oie_ring_t *ring, int consume);

/* Length of the oldest record not yet taken, 0 when there is none. */
size_t oie_ring_next_len(const oie_ring_t *ring);

size_t oie_ring_used(const oie_ring_t *ring);

/* The space one record of len bytes takes, header and padding included. */
size_t oie_ring_record_size(size_t len);

#endif /* _OIE_RING_H_INCLUDED_ */
