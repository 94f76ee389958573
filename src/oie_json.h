/*
 * Writing JSON text: string escaping for rows built by hand, which is both
 * faster than a DOM round trip and keeps the column order fixed.
 */

#ifndef _OIE_JSON_H_INCLUDED_
#define _OIE_JSON_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>
#include <string.h>


/* bytes src takes once escaped, without the quotes */
size_t oie_json_escaped_len(const unsigned char *src, size_t len);

/*
 * Escapes src into dst (which has room for oie_json_escaped_len() bytes):
 * quote, backslash and control characters; bytes >= 0x80 pass through,
 * the caller having checked the text is UTF-8.  Returns the end of dst.
 */
unsigned char *oie_json_escape(unsigned char *dst, const unsigned char *src,
    size_t len);


/*
 * The end of the run at p of bytes that go into a JSON string as they are:
 * printable ASCII (0x20..0x7e) other than quote and backslash.  Eight
 * bytes a step, for the strings of every event and row.
 */
static inline const unsigned char *
oie_json_plain(const unsigned char *p, const unsigned char *end)
{
    uint64_t  w, q, b, t;

#define OIE_JSON_BYTES(c)  (0x0101010101010101ULL * (c))

    while (end - p >= 8) {
        memcpy(&w, p, 8);

        q = w ^ OIE_JSON_BYTES('"');            /* a quote is a 0 in q */
        b = w ^ OIE_JSON_BYTES('\\');           /* a backslash, in b */

        /* t has some byte's high bit set if and only if w holds a byte
         * < 0x20, a quote (0 in q), a backslash (0 in b) or a byte >=
         * 0x7f: a borrow or carry only goes past a byte that is one */
        t = ((w - OIE_JSON_BYTES(0x20)) & ~w)
            | ((q - OIE_JSON_BYTES(0x01)) & ~q)
            | ((b - OIE_JSON_BYTES(0x01)) & ~b)
            | (w + OIE_JSON_BYTES(0x01))
            | w;

        if (t & OIE_JSON_BYTES(0x80)) {
            break;
        }

        p += 8;
    }

#undef OIE_JSON_BYTES

    while (p < end && *p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\') {
        p++;
    }

    return p;
}

#endif /* _OIE_JSON_H_INCLUDED_ */
