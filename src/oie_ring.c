/*
 * Records are an 8-byte header (length, tag) followed by the payload padded
 * to 8 bytes.  A record never wraps: when it does not fit before the end of
 * the block, a wrap marker fills the rest and the record starts at offset 0.
 * head and tail only grow, so used bytes are head - tail and the write offset
 * is head % size.  head moves only after a record is complete, so a process
 * that dies halfway through a push leaves the ring as it was.  Records
 * taken (oie_ring_take) lie from tail to tail + held; tail passes them only
 * when their taker has put them somewhere safe.
 */

#include <string.h>

#include "oie_ring.h"


#define OIE_RING_WRAP   0xffffffffU
#define OIE_RING_ALIGN  8


typedef struct {
    uint32_t    len;
    uint32_t    tag;
} oie_ring_hdr_t;


static size_t
oie_ring_align(size_t n)
{
    return (n + (OIE_RING_ALIGN - 1)) & ~((size_t) OIE_RING_ALIGN - 1);
}


size_t
oie_ring_record_size(size_t len)
{
    return sizeof(oie_ring_hdr_t) + oie_ring_align(len);
}


oie_ring_t *
oie_ring_init(void *mem, size_t bytes, int *kept)
{
    size_t       size;
    oie_ring_t  *ring;

    *kept = 0;

    if (bytes < sizeof(oie_ring_t) + OIE_RING_MIN_SIZE) {
        return NULL;
    }

    ring = mem;
    size = (bytes - sizeof(oie_ring_t)) & ~((size_t) OIE_RING_ALIGN - 1);

    if (ring->magic == OIE_RING_MAGIC
        && ring->size == size
        && ring->tail <= ring->head
        && ring->head - ring->tail <= size
        && ring->held <= ring->head - ring->tail
        && ring->held_records <= ring->records)
    {
        *kept = 1;
        return ring;
    }

    memset(ring, 0, sizeof(oie_ring_t));
    ring->size = size;
    ring->magic = OIE_RING_MAGIC;

    return ring;
}


size_t
oie_ring_used(const oie_ring_t *ring)
{
    return (size_t) (ring->head - ring->tail);
}


int
oie_ring_push(oie_ring_t *ring, unsigned tag, const void *data, size_t len)
{
    size_t          need, off, room, skip, used;
    oie_ring_hdr_t  hdr;

    if (len == 0 || len > OIE_RING_MAX_RECORD) {
        return OIE_RING_BAD_LEN;
    }

    need = oie_ring_record_size(len);

    if (need > ring->size) {
        return OIE_RING_BAD_LEN;
    }

    off = (size_t) (ring->head % ring->size);
    room = ring->size - off;

    if (ring->head == ring->tail && off != 0) {
        /* empty: start over at offset 0 so a large record always fits */
        ring->head += room;
        ring->tail = ring->head;
        off = 0;
        room = ring->size;
    }
    skip = (room < need) ? room : 0;
    used = oie_ring_used(ring);

    if (used + skip + need > ring->size) {
        return OIE_RING_FULL;
    }

    if (skip) {
        hdr.len = OIE_RING_WRAP;
        hdr.tag = 0;
        memcpy(ring->data + off, &hdr, sizeof(hdr));
        off = 0;
    }

    hdr.len = (uint32_t) len;
    hdr.tag = tag;
    memcpy(ring->data + off, &hdr, sizeof(hdr));
    memcpy(ring->data + off + sizeof(hdr), data, len);

    /* publish only once the record is whole */
    ring->head += skip + need;
    ring->records++;

    used = oie_ring_used(ring);
    if (used > ring->high_water) {
        ring->high_water = used;
    }

    return OIE_RING_OK;
}


/* the record at pos (tail <= pos < head); *skip: a wrap marker's bytes */
static const oie_ring_hdr_t *
oie_ring_at(const oie_ring_t *ring, uint64_t pos, size_t *skip)
{
    size_t                 off;
    const oie_ring_hdr_t  *hdr;

    *skip = 0;

    if (pos >= ring->head) {
        return NULL;
    }

    off = (size_t) (pos % ring->size);
    hdr = (const oie_ring_hdr_t *) (ring->data + off);

    if (hdr->len == OIE_RING_WRAP) {
        *skip = ring->size - off;
        hdr = (const oie_ring_hdr_t *) ring->data;
    }

    return hdr;
}


size_t
oie_ring_next_len(const oie_ring_t *ring)
{
    size_t                 skip;
    const oie_ring_hdr_t  *hdr;

    hdr = oie_ring_at(ring, ring->tail + ring->held, &skip);

    return hdr ? hdr->len : 0;
}


long
oie_ring_take(oie_ring_t *ring, uint64_t owner, unsigned *tag, void *buf,
    size_t cap)
{
    size_t                 skip;
    const oie_ring_hdr_t  *hdr;

    if (owner == 0 || (ring->holder && ring->holder != owner)) {
        return OIE_RING_HELD;
    }

    hdr = oie_ring_at(ring, ring->tail + ring->held, &skip);

    if (hdr == NULL) {
        return 0;
    }

    if (hdr->len > cap) {
        return -1;
    }

    memcpy(buf, (const unsigned char *) hdr + sizeof(oie_ring_hdr_t),
           hdr->len);
    *tag = hdr->tag;

    ring->holder = owner;
    ring->held += skip + oie_ring_record_size(hdr->len);
    ring->held_records++;

    return (long) hdr->len;
}


void
oie_ring_release(oie_ring_t *ring, int consume)
{
    if (consume) {
        ring->tail += ring->held;
        ring->records -= ring->held_records;
    }

    ring->holder = 0;
    ring->held = 0;
    ring->held_records = 0;
}


/* a take consumed at once: for a single consumer (the unit tests) */
long
oie_ring_pop(oie_ring_t *ring, unsigned *tag, void *buf, size_t cap)
{
    long  n;

    if (ring->holder) {
        return OIE_RING_HELD;
    }

    n = oie_ring_take(ring, 1, tag, buf, cap);

    if (n > 0) {
        oie_ring_release(ring, 1);
    }

    return n;
}
