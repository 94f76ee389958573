/*
 * Reading identities files (NDJSON written by `oie campaign create`).
 */

#ifndef _OIE_NDJSON_H_INCLUDED_
#define _OIE_NDJSON_H_INCLUDED_

#include "oie_cli.h"
#include "oie_flatjson.h"


typedef struct {
    oie_file_t       file;
    const char      *fname;
    unsigned char   *pos;
    size_t           next_line;
    oie_fj_t         fj;
} oie_ndjson_t;


/* One identity; its strings live in the file buffer until the next read. */
typedef struct {
    const char      *id;
    const char      *campaign;
    const char      *email_hash;
    const char      *destination;
    int              attributes;  /* index of the object field, or -1 */
    size_t           line;
    oie_fj_t        *fj;
} oie_identity_t;


int oie_ndjson_open(oie_ndjson_t *nd, const char *path);
void oie_ndjson_close(oie_ndjson_t *nd);

/*
 * Reads and checks the next identity.  Returns 1, 0 at the end, -1 after
 * printing FILE:LINE:COLUMN and what is wrong (the next call goes on with
 * the next line), -2 when out of memory.
 */
int oie_ndjson_next(oie_ndjson_t *nd, oie_identity_t *ident);

/* The string field name of an identity, "" when absent or null. */
const char *oie_identity_str(const oie_identity_t *ident, const char *name);

/*
 * An attribute as text: strings as they are, numbers and booleans as
 * written; NULL for null.  *len receives the length.
 */
const char *oie_attr_text(const oie_fj_field_t *f, size_t *len);

#endif /* _OIE_NDJSON_H_INCLUDED_ */
