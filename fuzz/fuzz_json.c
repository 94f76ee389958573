/*
 * libFuzzer harness for src/oie_json.c, the escaping every hand-built row
 * goes through (events, email_clicks, dead letters).  Checks: the length
 * estimate is exact; no raw control byte, lone quote or backslash survives;
 * for UTF-8 text, jansson reads the escaped string back to the same bytes.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "oie_json.h"
#include "fuzz_util.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t          n, i;
    json_t         *s;
    json_error_t    err;
    unsigned char  *out, *end;

    n = oie_json_escaped_len(data, size);
    FUZZ_CHECK(n >= size && n <= size * 6);

    out = malloc(n + 2);
    FUZZ_CHECK(out != NULL);

    out[0] = '"';
    end = oie_json_escape(out + 1, data, size);
    FUZZ_CHECK((size_t) (end - (out + 1)) == n);
    *end = '"';

    for (i = 1; i <= n; i++) {
        FUZZ_CHECK(out[i] >= 0x20 && out[i] != 0x7f);

        if (out[i] == '\\') {
            i++;
            FUZZ_CHECK(i <= n && strchr("\"\\nrtbfu", out[i]) != NULL);

        } else {
            FUZZ_CHECK(out[i] != '"');
        }
    }

    if (fuzz_utf8_valid(data, size)) {
        s = json_loadb((char *) out, n + 2, JSON_DECODE_ANY | JSON_ALLOW_NUL,
                       &err);
        FUZZ_CHECK(s != NULL);
        FUZZ_CHECK(json_is_string(s) && json_string_length(s) == size);
        FUZZ_CHECK(size == 0 || memcmp(json_string_value(s), data, size) == 0);
        json_decref(s);
    }

    free(out);

    return 0;
}
