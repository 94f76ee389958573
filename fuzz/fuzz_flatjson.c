/*
 * libFuzzer harness for src/oie_flatjson.c (the CLI's NDJSON lead reader),
 * checked against jansson: what the fast reader accepts, jansson accepts
 * with the same keys, types and string bytes; what it refuses is either
 * refused by jansson too or holds something the reader documents it does
 * not take (arrays, objects nested deeper, more than 4096 keys).
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "oie_flatjson.h"
#include "fuzz_util.h"


#define FUZZ_FJ_MAX_FIELDS  4096


/* 1 when the reader is meant to take this document */
static int
fuzz_fj_takes(json_t *v, int depth, size_t *fields)
{
    json_t      *item;
    const char  *key;

    if (!json_is_object(v)) {
        return 0;
    }

    json_object_foreach(v, key, item) {
        (*fields)++;

        if (json_is_array(item)) {
            return 0;
        }

        if (json_is_object(item)
            && (depth > 0 || !fuzz_fj_takes(item, depth + 1, fields)))
        {
            return 0;
        }
    }

    return *fields <= FUZZ_FJ_MAX_FIELDS;
}


static void
fuzz_fj_compare(oie_fj_t *fj, int parent, json_t *obj)
{
    size_t           i, n;
    json_t          *v;
    oie_fj_field_t  *f;

    n = 0;

    for (i = 0; i < fj->n; i++) {
        f = &fj->fields[i];

        if (f->parent != parent) {
            continue;
        }

        n++;

        FUZZ_CHECK(f->key[f->key_len] == '\0');
        FUZZ_CHECK(fuzz_utf8_valid((unsigned char *) f->key, f->key_len));

        v = json_object_getn(obj, f->key, f->key_len);
        FUZZ_CHECK(v != NULL);
        FUZZ_CHECK(oie_fj_get(fj, parent, f->key) == f);

        switch (f->type) {

        case OIE_FJ_STRING:
            FUZZ_CHECK(json_is_string(v));
            FUZZ_CHECK(json_string_length(v) == f->len);
            FUZZ_CHECK(memcmp(json_string_value(v), f->val, f->len) == 0);
            FUZZ_CHECK(f->val[f->len] == '\0');
            break;

        case OIE_FJ_NUMBER:
            FUZZ_CHECK(json_is_number(v));
            FUZZ_CHECK(f->len > 0);
            break;

        case OIE_FJ_TRUE:
            FUZZ_CHECK(json_is_true(v));
            break;

        case OIE_FJ_FALSE:
            FUZZ_CHECK(json_is_false(v));
            break;

        case OIE_FJ_NULL:
            FUZZ_CHECK(json_is_null(v));
            break;

        case OIE_FJ_OBJECT:
            FUZZ_CHECK(json_is_object(v));
            FUZZ_CHECK(parent == -1);
            fuzz_fj_compare(fj, (int) i, v);
            break;

        default:
            FUZZ_CHECK(0);
        }
    }

    FUZZ_CHECK(n == json_object_size(obj));
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int            rc;
    char          *text;
    size_t         fields;
    json_t        *root;
    oie_fj_t       fj;
    json_error_t   err;

    text = malloc(size + 1);
    FUZZ_CHECK(text != NULL);
    if (size) {
        memcpy(text, data, size);
    }

    memset(&fj, 0, sizeof(fj));
    rc = oie_fj_parse(&fj, text, size);

    root = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES,
                      &err);

    if (rc == 0) {
        /* jansson refuses numbers outside double and int64 range; the
         * reader passes number text through and need not */
        if (root == NULL) {
            FUZZ_CHECK(strstr(err.text, "overflow") != NULL
                       || strstr(err.text, "too big") != NULL);

        } else {
            fuzz_fj_compare(&fj, -1, root);
        }

    } else {
        FUZZ_CHECK(rc == -1 || rc == -2);

        if (rc == -1) {
            FUZZ_CHECK(fj.err[0] != '\0' && fj.err_off <= size);
        }

        /* jansson 2.14 passes over a raw NUL byte after a value
         * ({"a":1\0}); JSON has no such thing, so the reader is right */
        fields = 0;
        FUZZ_CHECK(root == NULL || memchr(data, '\0', size) != NULL
                   || !fuzz_fj_takes(root, 0, &fields));
    }

    json_decref(root);
    oie_fj_free(&fj);
    free(text);

    return 0;
}
