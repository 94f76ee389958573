/*
 * libFuzzer harness for src/oie_ring.c: the fuzzer's bytes are a program of
 * pushes, pops, peeks and re-attaches (what nginx -s reload does) on a small
 * ring, run against a plain FIFO model.  Every pop must give back the oldest
 * record pushed, byte for byte with its tag; the ring never holds more than
 * its size; an empty ring takes any record that fits at all; re-attaching
 * keeps everything.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oie_ring.h"
#include "fuzz_util.h"


#define FUZZ_RING_OPS      2048
#define FUZZ_RING_MAX_REC  (3 * OIE_RING_MIN_SIZE)


typedef struct {
    size_t      len;
    unsigned    tag;
    uint32_t    seed;
} fuzz_rec_t;


typedef struct {
    fuzz_rec_t  *q;
    size_t       head;      /* next to pop */
    size_t       tail;      /* next free */
    size_t       cap;
} fuzz_model_t;


/* record contents follow from (seed, len), so the model keeps no bytes */
static void
fuzz_fill(unsigned char *p, size_t len, uint32_t seed)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (unsigned char) (seed >> 16);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             kept, rc;
    long            got;
    size_t          bytes, len, used, i, n, cap;
    unsigned        op, tag;
    uint32_t        seed;
    fuzz_in_t       in;
    oie_ring_t     *ring, *again;
    fuzz_model_t    m;
    unsigned char  *mem;

    static unsigned char  rec[FUZZ_RING_MAX_REC], buf[FUZZ_RING_MAX_REC];

    in.p = data;
    in.left = size;

    /* a ring of 4 KB to 20 KB, not always a multiple of 8 */
    bytes = sizeof(oie_ring_t) + OIE_RING_MIN_SIZE
            + (fuzz_byte(&in) << 6) + fuzz_byte(&in) % 8;

    mem = calloc(1, bytes);
    FUZZ_CHECK(mem != NULL);

    ring = oie_ring_init(mem, bytes, &kept);
    FUZZ_CHECK(ring != NULL && !kept);
    FUZZ_CHECK(ring->size % 8 == 0 && ring->size + sizeof(oie_ring_t)
                                      <= bytes);

    memset(&m, 0, sizeof(m));
    m.cap = FUZZ_RING_OPS + 1;
    m.q = calloc(m.cap, sizeof(fuzz_rec_t));
    FUZZ_CHECK(m.q != NULL);

    for (n = 0; n < FUZZ_RING_OPS && in.left; n++) {
        op = fuzz_byte(&in);

        switch (op % 5) {

        case 0:
        case 1:
            /* push: small records mostly, sometimes large or empty */
            len = fuzz_byte(&in);
            if (op & 0x80) {
                len = len << 5 | fuzz_byte(&in) % 32;
            }
            if (op & 0x40) {
                len = FUZZ_RING_MAX_REC - fuzz_byte(&in);
            }

            tag = fuzz_byte(&in) % 4;
            seed = fuzz_u32(&in);
            fuzz_fill(rec, len, seed);

            used = oie_ring_used(ring);
            rc = oie_ring_push(ring, tag, rec, len);

            if (len == 0 || oie_ring_record_size(len) > ring->size) {
                FUZZ_CHECK(rc == OIE_RING_BAD_LEN);
                break;
            }

            if (used == 0) {
                /* an empty ring takes any record that fits at all */
                FUZZ_CHECK(rc == OIE_RING_OK);
            }

            if (rc == OIE_RING_FULL) {
                FUZZ_CHECK(oie_ring_used(ring) == used);
                FUZZ_CHECK(used + oie_ring_record_size(len) > ring->size
                           || used > 0);
                break;
            }

            FUZZ_CHECK(rc == OIE_RING_OK);
            FUZZ_CHECK(m.tail < m.cap);
            m.q[m.tail].len = len;
            m.q[m.tail].tag = tag;
            m.q[m.tail].seed = seed;
            m.tail++;
            break;

        case 2:
        case 3:
            /* pop, sometimes into a buffer that is too small */
            cap = (op & 0x80) ? fuzz_byte(&in) : FUZZ_RING_MAX_REC;
            got = oie_ring_pop(ring, &tag, buf, cap);

            if (m.head == m.tail) {
                FUZZ_CHECK(got == 0);
                FUZZ_CHECK(oie_ring_used(ring) == 0 || ring->records == 0);
                break;
            }

            if (m.q[m.head].len > cap) {
                FUZZ_CHECK(got == -1);
                FUZZ_CHECK(oie_ring_next_len(ring) == m.q[m.head].len);
                break;
            }

            FUZZ_CHECK(got == (long) m.q[m.head].len);
            FUZZ_CHECK(tag == m.q[m.head].tag);
            fuzz_fill(rec, m.q[m.head].len, m.q[m.head].seed);
            FUZZ_CHECK(memcmp(buf, rec, m.q[m.head].len) == 0);
            m.head++;
            break;

        default:
            /* nginx -s reload: the zone is attached again */
            again = oie_ring_init(mem, bytes, &kept);
            FUZZ_CHECK(again == ring && kept);
            break;
        }

        FUZZ_CHECK(oie_ring_used(ring) <= ring->size);
        FUZZ_CHECK(ring->records == m.tail - m.head);
        FUZZ_CHECK(ring->high_water >= oie_ring_used(ring));
        FUZZ_CHECK(oie_ring_next_len(ring)
                   == (m.head < m.tail ? m.q[m.head].len : 0));
    }

    /* what is left comes out in order */
    for (i = m.head; i < m.tail; i++) {
        got = oie_ring_pop(ring, &tag, buf, FUZZ_RING_MAX_REC);
        FUZZ_CHECK(got == (long) m.q[i].len && tag == m.q[i].tag);
        fuzz_fill(rec, m.q[i].len, m.q[i].seed);
        FUZZ_CHECK(memcmp(buf, rec, m.q[i].len) == 0);
    }

    FUZZ_CHECK(oie_ring_pop(ring, &tag, buf, FUZZ_RING_MAX_REC) == 0);
    FUZZ_CHECK(oie_ring_used(ring) == 0);

    free(m.q);
    free(mem);

    return 0;
}
