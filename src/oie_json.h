/*
 * Writing JSON text: string escaping for rows built by hand, which is both
 * faster than a DOM round trip and keeps the column order fixed.
 */

#ifndef _OIE_JSON_H_INCLUDED_
#define _OIE_JSON_H_INCLUDED_

#include <stddef.h>


/* bytes src takes once escaped, without the quotes */
size_t oie_json_escaped_len(const unsigned char *src, size_t len);

/*
 * Escapes src into dst (which has room for oie_json_escaped_len() bytes):
 * quote, backslash and control characters; bytes >= 0x80 pass through,
 * the caller having checked the text is UTF-8.  Returns the end of dst.
 */
unsigned char *oie_json_escape(unsigned char *dst, const unsigned char *src,
    size_t len);

#endif /* _OIE_JSON_H_INCLUDED_ */
