/*
 * Unit tests of src/oie_flatjson.c: fixed cases, then a differential test
 * against jansson on 200000 mutations of an identity line: whatever the
 * reader accepts, jansson must accept with the same values, and whatever
 * jansson refuses, the reader must refuse.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "oie_flatjson.h"


static int  tests;
static int  failed;


static void
ok(int cond, const char *name)
{
    tests++;

    if (!cond) {
        failed++;
    }

    printf("%sok %d - %s\n", cond ? "" : "not ", tests, name);
}


static int
parse(oie_fj_t *fj, const char *text, char *buf, size_t size)
{
    size_t  len;

    len = strlen(text);
    if (len + 1 > size) {
        return -3;
    }

    memcpy(buf, text, len + 1);

    return oie_fj_parse(fj, buf, len);
}


static int
fails_at(const char *text, size_t off, const char *msg)
{
    int       rc;
    char      buf[512];
    oie_fj_t  fj;

    memset(&fj, 0, sizeof(oie_fj_t));
    rc = parse(&fj, text, buf, sizeof(buf));
    oie_fj_free(&fj);

    if (rc != -1 || fj.err_off != off || strstr(fj.err, msg) == NULL) {
        printf("# %s: rc %d, offset %zu, \"%s\"\n", text, rc, fj.err_off,
               fj.err);
        return 0;
    }

    return 1;
}


/* 1 when every field the reader found is in j with the same value */

static int
same(oie_fj_t *fj, int parent, json_t *j)
{
    size_t           i, n;
    json_t          *v;
    const char      *s;
    oie_fj_field_t  *f;
    char             num[64];

    n = 0;

    for (i = 0; i < fj->n; i++) {
        f = &fj->fields[i];

        if (f->parent != parent) {
            continue;
        }

        n++;
        v = json_object_getn(j, f->key, f->key_len);

        if (v == NULL) {
            return 0;
        }

        switch (f->type) {
        case OIE_FJ_STRING:
            s = json_string_value(v);
            if (s == NULL || json_string_length(v) != f->len
                || memcmp(s, f->val, f->len) != 0)
            {
                return 0;
            }
            break;
        case OIE_FJ_NUMBER:
            if (!json_is_number(v) || f->len >= sizeof(num)) {
                return 0;
            }
            memcpy(num, f->val, f->len);
            num[f->len] = '\0';
            if (json_is_integer(v)
                ? strtoll(num, NULL, 10) != json_integer_value(v)
                : strtod(num, NULL) != json_real_value(v))
            {
                return 0;
            }
            break;
        case OIE_FJ_TRUE:
            if (!json_is_true(v)) {
                return 0;
            }
            break;
        case OIE_FJ_FALSE:
            if (!json_is_false(v)) {
                return 0;
            }
            break;
        case OIE_FJ_NULL:
            if (!json_is_null(v)) {
                return 0;
            }
            break;
        case OIE_FJ_OBJECT:
            if (!json_is_object(v) || !same(fj, (int) i, v)) {
                return 0;
            }
            break;
        }
    }

    return n == json_object_size(j);
}


int
main(void)
{
    int              rc, jok, agree, accepted, refused_both, ours_only;
    char             buf[1024], text[1024];
    size_t           i, k, len, pos;
    json_t          *j;
    uint64_t         seed;
    oie_fj_t         fj;
    json_error_t     err;
    oie_fj_field_t  *f;

    static const char  base[] =
        "{\"id\":\"mNAfL0d\",\"campaign\":\"q1\",\"n\":-12.5e3,"
        "\"ok\":true,\"no\":false,\"none\":null,"
        "\"attributes\":{\"jobLevel\":\"VP \\\"x\\\"\",\"k\":7},"
        "\"s\":\"a\\u00e9\\ud83d\\ude80\\n\\/\"}";
    static const char  alphabet[] = "{}[]\":,\\u0123456789eE.-+ tfnlrsaxdc"
                                    "\xc3\xa9\xff\x01";

    printf("1..18\n");

    memset(&fj, 0, sizeof(oie_fj_t));

    rc = parse(&fj, base, buf, sizeof(buf));
    ok(rc == 0 && fj.n == 10, "an identity line parses");

    f = oie_fj_get(&fj, -1, "s");
    ok(f != NULL && f->len == 9
       && memcmp(f->val, "a\xc3\xa9\xf0\x9f\x9a\x80\n/", 9) == 0
       && f->val[9] == '\0',
       "escapes, \\u and a surrogate pair become UTF-8, NUL-terminated");

    f = oie_fj_get(&fj, -1, "attributes");
    ok(f != NULL && f->type == OIE_FJ_OBJECT, "nested object found");
    f = oie_fj_get(&fj, (int) (f - fj.fields), "jobLevel");
    ok(f != NULL && strcmp(f->val, "VP \"x\"") == 0, "nested value found");
    f = oie_fj_get(&fj, -1, "n");
    ok(f != NULL && f->type == OIE_FJ_NUMBER && f->len == 7
       && memcmp(f->val, "-12.5e3", 7) == 0, "number kept as text");
    ok(oie_fj_get(&fj, -1, "jobLevel") == NULL,
       "nested keys are not top-level keys");

    ok(fails_at("{\"a\":1,\"a\":2}", 7, "duplicate key"), "duplicate key");
    ok(fails_at("{\"a\":[1]}", 5, "arrays"), "arrays refused");
    ok(fails_at("{\"a\":{\"b\":{}}}", 10, "nested"), "depth 3 refused");
    ok(fails_at("{\"a\":\"x\\u0000\"}", 7, "\\u0000"), "\\u0000 refused");
    ok(fails_at("{\"a\":\"\xe9t\xe9\"}", 6, "UTF-8"), "Latin-1 refused");
    ok(fails_at("{\"a\":\"\\ud83d\"}", 6, "surrogate"),
       "lone high surrogate refused");
    ok(fails_at("{\"a\":01}", 6, "',' or '}'"), "leading zero refused");
    ok(fails_at("{\"a\":1} x", 8, "text after"), "trailing text refused");
    ok(fails_at("{\"a\":\"b", 5, "never closed"), "open string refused");
    ok(fails_at("{\"a\":\"b\tc\"}", 7, "control"), "raw tab refused");

    /* differential test against jansson */

    seed = 88172645463325252ULL;
    agree = 1;
    accepted = 0;
    refused_both = 0;
    ours_only = 0;

    for (i = 0; i < 200000 && agree; i++) {
        len = strlen(base);
        memcpy(text, base, len + 1);

        for (k = 0; k < 1 + i % 3; k++) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;

            pos = (size_t) (seed % len);

            switch ((seed >> 32) % 3) {
            case 0:
                text[pos] = alphabet[(seed >> 40) % (sizeof(alphabet) - 1)];
                break;
            case 1:
                memmove(text + pos, text + pos + 1, len - pos);
                len--;
                break;
            default:
                memmove(text + pos + 1, text + pos, len - pos + 1);
                text[pos] = alphabet[(seed >> 40) % (sizeof(alphabet) - 1)];
                len++;
            }

            text[len] = '\0';
        }

        j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
        jok = (j != NULL && json_is_object(j));

        memcpy(buf, text, len + 1);
        rc = oie_fj_parse(&fj, buf, len);

        if (rc == 0) {
            accepted++;

            if (!jok || !same(&fj, -1, j)) {
                printf("# accepted, jansson %s: %s\n",
                       jok ? "disagrees on values" : "refuses", text);
                agree = 0;
            }

        } else if (!jok) {
            refused_both++;

        } else {
            /* jansson takes arrays, deeper nesting and \u0000 */
            ours_only++;
        }

        json_decref(j);
    }

    oie_fj_free(&fj);

    printf("# %d accepted by both, %d refused by both, %d refused only "
           "here\n", accepted, refused_both, ours_only);

    ok(agree, "200000 mutations: accepted lines agree with jansson");
    ok(accepted > 1000 && refused_both > 1000,
       "the mutations exercise both outcomes");

    return failed ? 1 : 0;
}
