#include "oie_json.h"


static const char  oie_json_hex[] = "0123456789abcdef";


size_t
oie_json_escaped_len(const unsigned char *src, size_t len)
{
    size_t  n;

    for (n = len; len--; src++) {
        if (*src == '"' || *src == '\\' || *src == '\n' || *src == '\r'
            || *src == '\t' || *src == '\b' || *src == '\f')
        {
            n += 1;

        } else if (*src < 0x20 || *src == 0x7f) {
            n += 5;
        }
    }

    return n;
}


unsigned char *
oie_json_escape(unsigned char *dst, const unsigned char *src, size_t len)
{
    unsigned char  c;

    while (len--) {
        c = *src++;

        switch (c) {
        case '"':  *dst++ = '\\'; *dst++ = '"';  break;
        case '\\': *dst++ = '\\'; *dst++ = '\\'; break;
        case '\n': *dst++ = '\\'; *dst++ = 'n';  break;
        case '\r': *dst++ = '\\'; *dst++ = 'r';  break;
        case '\t': *dst++ = '\\'; *dst++ = 't';  break;
        case '\b': *dst++ = '\\'; *dst++ = 'b';  break;
        case '\f': *dst++ = '\\'; *dst++ = 'f';  break;

        default:
            if (c < 0x20 || c == 0x7f) {
                *dst++ = '\\';
                *dst++ = 'u';
                *dst++ = '0';
                *dst++ = '0';
                *dst++ = oie_json_hex[c >> 4];
                *dst++ = oie_json_hex[c & 0xf];

            } else {
                *dst++ = c;
            }
        }
    }

    return dst;
}
