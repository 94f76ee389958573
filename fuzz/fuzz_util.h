/*
 * What the harnesses share: a check that aborts (so libFuzzer keeps the
 * input as a crash), a reference UTF-8 validator written from RFC 3629
 * independently of the project's own, and a reader of the fuzzer's bytes.
 */

#ifndef _FUZZ_UTIL_H_INCLUDED_
#define _FUZZ_UTIL_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>


#define FUZZ_CHECK(cond)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                   \
            abort();                                                          \
        }                                                                     \
    } while (0)


/* 1 when s[0..len) is well-formed UTF-8 (RFC 3629, table 3-7) */
static inline int
fuzz_utf8_valid(const unsigned char *s, size_t len)
{
    size_t         i, n, k;
    unsigned char  c, lo, hi;

    for (i = 0; i < len; i += n) {
        c = s[i];

        if (c < 0x80) {
            n = 1;
            continue;
        }

        lo = 0x80;
        hi = 0xbf;

        if (c >= 0xc2 && c <= 0xdf) {
            n = 2;

        } else if (c >= 0xe0 && c <= 0xef) {
            n = 3;
            if (c == 0xe0) {
                lo = 0xa0;
            } else if (c == 0xed) {
                hi = 0x9f;
            }

        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 4;
            if (c == 0xf0) {
                lo = 0x90;
            } else if (c == 0xf4) {
                hi = 0x8f;
            }

        } else {
            return 0;
        }

        if (len - i < n) {
            return 0;
        }

        if (s[i + 1] < lo || s[i + 1] > hi) {
            return 0;
        }

        for (k = 2; k < n; k++) {
            if (s[i + k] < 0x80 || s[i + k] > 0xbf) {
                return 0;
            }
        }
    }

    return 1;
}


/* consumes the fuzzer's bytes front to back; reads past the end give 0 */
typedef struct {
    const uint8_t  *p;
    size_t          left;
} fuzz_in_t;


static inline unsigned
fuzz_byte(fuzz_in_t *in)
{
    if (in->left == 0) {
        return 0;
    }

    in->left--;
    return *in->p++;
}


static inline uint32_t
fuzz_u32(fuzz_in_t *in)
{
    uint32_t  v;

    v = fuzz_byte(in);
    v = v << 8 | fuzz_byte(in);
    v = v << 8 | fuzz_byte(in);
    v = v << 8 | fuzz_byte(in);

    return v;
}


static inline uint64_t
fuzz_u64(fuzz_in_t *in)
{
    uint64_t  v;

    v = fuzz_u32(in);
    return v << 32 | fuzz_u32(in);
}


/* up to max bytes, its length from the next byte; points into the input */
static inline const uint8_t *
fuzz_bytes(fuzz_in_t *in, size_t max, size_t *len)
{
    size_t          n;
    const uint8_t  *p;

    n = fuzz_byte(in);
    n = n > max ? max : n;
    n = n > in->left ? in->left : n;

    p = in->p;
    in->p += n;
    in->left -= n;
    *len = n;

    return p;
}


#endif /* _FUZZ_UTIL_H_INCLUDED_ */
