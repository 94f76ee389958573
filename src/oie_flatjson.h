/*
 * A fast reader for one JSON object of scalars, with at most one level of
 * objects inside (an identity and its "attributes").  Used for NDJSON files
 * of a million lines, where a general DOM costs more than the rest of the
 * work together.
 *
 * It parses in place: strings are unescaped where they lie (\uXXXX and
 * surrogate pairs become UTF-8) and NUL-terminated.  It checks all of JSON's
 * grammar for what it accepts and refuses, with the byte offset of the
 * fault: arrays, deeper objects, duplicate keys, invalid UTF-8, \u0000, and
 * anything after the object but white space.
 */

#ifndef _OIE_FLATJSON_H_INCLUDED_
#define _OIE_FLATJSON_H_INCLUDED_

#include <stddef.h>


#define OIE_FJ_STRING   1
#define OIE_FJ_NUMBER   2
#define OIE_FJ_TRUE     3
#define OIE_FJ_FALSE    4
#define OIE_FJ_NULL     5
#define OIE_FJ_OBJECT   6

#define OIE_FJ_ERR_LEN  96


typedef struct {
    char        *key;       /* NUL-terminated */
    size_t       key_len;
    char        *val;       /* strings NUL-terminated; numbers: text, len */
    size_t       len;
    int          type;
    int          parent;    /* index of the enclosing object field, or -1 */
} oie_fj_field_t;


typedef struct {
    oie_fj_field_t  *fields;
    size_t           n;
    size_t           nalloc;
    size_t           err_off;
    char             err[OIE_FJ_ERR_LEN];
} oie_fj_t;


/*
 * Parses text[0..len) (writable; text[len] must be writable too).  Returns
 * 0, -1 on a fault (fj->err, fj->err_off), -2 when out of memory.
 */
int oie_fj_parse(oie_fj_t *fj, char *text, size_t len);

/* The field key directly inside parent (-1: the top object), or NULL. */
oie_fj_field_t *oie_fj_get(oie_fj_t *fj, int parent, const char *key);

void oie_fj_free(oie_fj_t *fj);

#endif /* _OIE_FLATJSON_H_INCLUDED_ */
