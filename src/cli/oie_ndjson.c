/*
 * Reading identities files: one JSON object a line, checked field by field
 * so that a bad line is reported as FILE:LINE:COLUMN before anything is
 * loaded anywhere.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "oie_id.h"
#include "oie_ndjson.h"


static int oie_ndjson_fail(oie_ndjson_t *nd, size_t line, const char *text,
    size_t off, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int oie_is_hex64(const char *s, size_t len);
static const char *oie_ndjson_string(oie_ndjson_t *nd, const char *key,
    size_t *len);


static const char  *oie_ndjson_strings[] = {
    "firstName", "lastName", "company", "title", "campaignName", "email",
    "signedId", "createdAt", "trackingUrl", "openPixelUrl", NULL
};


int
oie_ndjson_open(oie_ndjson_t *nd, const char *path)
{
    int  rc;

    memset(nd, 0, sizeof(oie_ndjson_t));

    rc = oie_file_read(&nd->file, path);
    if (rc != OIE_EXIT_OK) {
        return rc;
    }

    nd->fname = strcmp(path, "-") == 0 ? "<stdin>" : path;
    nd->pos = nd->file.data;
    nd->next_line = 1;

    return OIE_EXIT_OK;
}


void
oie_ndjson_close(oie_ndjson_t *nd)
{
    oie_fj_free(&nd->fj);
    oie_file_free(&nd->file);
}


/* off: byte offset in the line; the column counts characters from 1 */

static int
oie_ndjson_fail(oie_ndjson_t *nd, size_t line, const char *text, size_t off,
    const char *fmt, ...)
{
    char     msg[512];
    va_list  args;

    va_start(args, fmt);
    vsnprintf(msg, sizeof(msg), fmt, args);
    va_end(args);

    oie_error("%s:%zu:%zu: %s", nd->fname, line,
              oie_utf8_columns(text, off) + 1, msg);

    return -1;
}


static int
oie_is_hex64(const char *s, size_t len)
{
    size_t  i;

    if (len != OIE_SHA256_HEX_LEN) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }

    return 1;
}


static const char *
oie_ndjson_string(oie_ndjson_t *nd, const char *key, size_t *len)
{
    oie_fj_field_t  *f;

    f = oie_fj_get(&nd->fj, -1, key);

    if (f == NULL || f->type != OIE_FJ_STRING) {
        return NULL;
    }

    *len = f->len;

    return f->val;
}


int
oie_ndjson_next(oie_ndjson_t *nd, oie_identity_t *ident)
{
    int              rc;
    char            *text;
    size_t           i, len, line, off;
    const char      *s;
    unsigned char   *p, *end, *data_end;
    oie_fj_field_t  *f, *a;

    data_end = nd->file.data + nd->file.len;

    for ( ;; ) {
        p = nd->pos;

        if (p >= data_end) {
            return 0;
        }

        end = memchr(p, '\n', (size_t) (data_end - p));
        if (end == NULL) {
            end = data_end;
        }

        line = nd->next_line++;
        nd->pos = end + 1;
        len = (size_t) (end - p);

        if (len > 0 && p[len - 1] == '\r') {
            len--;
        }

        for (i = 0; i < len; i++) {
            if (p[i] != ' ' && p[i] != '\t') {
                break;
            }
        }

        if (i < len) {
            break;
        }
    }

    text = (char *) p;

    /* the column of a fault is found before the text is unescaped */

    rc = oie_fj_parse(&nd->fj, text, len);

    if (rc == -2) {
        oie_error("out of memory");
        return -2;
    }

    if (rc != 0) {
        off = nd->fj.err_off;
        return oie_ndjson_fail(nd, line, text, off, "invalid JSON: %s",
                               nd->fj.err);
    }

    /* a parsed line is no longer the text it was: no columns from here */

    memset(ident, 0, sizeof(oie_identity_t));
    ident->line = line;
    ident->fj = &nd->fj;
    ident->attributes = -1;

    s = oie_ndjson_string(nd, "id", &len);

    if (s == NULL || !oie_id_valid((const unsigned char *) s, len)) {
        return oie_ndjson_fail(nd, line, "", 0, "\"id\" is missing or not "
                               "an id (6-8 of 0-9, A-Z, a-z)");
    }

    ident->id = s;

    s = oie_ndjson_string(nd, "campaign", &len);

    if (s == NULL || len == 0 || len > OIE_CAMPAIGN_MAX_LEN) {
        return oie_ndjson_fail(nd, line, "", 0, "\"campaign\" is missing, "
                               "empty or over %d bytes",
                               OIE_CAMPAIGN_MAX_LEN);
    }

    ident->campaign = s;

    s = oie_ndjson_string(nd, "emailHash", &len);

    if (s == NULL || !oie_is_hex64(s, len)) {
        return oie_ndjson_fail(nd, line, "", 0, "\"emailHash\" is missing "
                               "or not 64 lowercase hex digits (SHA-256)");
    }

    ident->email_hash = s;

    s = oie_ndjson_string(nd, "destination", &len);

    if (s == NULL || (strncmp(s, "https://", 8) != 0
                      && strncmp(s, "http://", 7) != 0))
    {
        return oie_ndjson_fail(nd, line, "", 0, "\"destination\" is missing "
                               "or not an http(s) URL");
    }

    ident->destination = s;

    for (i = 0; oie_ndjson_strings[i] != NULL; i++) {
        f = oie_fj_get(&nd->fj, -1, oie_ndjson_strings[i]);

        if (f != NULL && f->type != OIE_FJ_STRING && f->type != OIE_FJ_NULL)
        {
            return oie_ndjson_fail(nd, line, "", 0, "\"%s\" must be a string",
                                   oie_ndjson_strings[i]);
        }
    }

    a = oie_fj_get(&nd->fj, -1, "attributes");

    if (a != NULL && a->type != OIE_FJ_NULL) {
        if (a->type != OIE_FJ_OBJECT) {
            return oie_ndjson_fail(nd, line, "", 0, "\"attributes\" must be "
                                   "an object");
        }

        ident->attributes = (int) (a - nd->fj.fields);

        for (i = 0; i < nd->fj.n; i++) {
            f = &nd->fj.fields[i];

            if (f->parent == ident->attributes && f->key_len == 0) {
                return oie_ndjson_fail(nd, line, "", 0, "an attribute has "
                                       "an empty name");
            }
        }
    }

    /* the other objects are not ours: nothing in them is used */

    return 1;
}


const char *
oie_identity_str(const oie_identity_t *ident, const char *name)
{
    oie_fj_field_t  *f;

    f = oie_fj_get(ident->fj, -1, name);

    return (f != NULL && f->type == OIE_FJ_STRING) ? f->val : "";
}


const char *
oie_attr_text(const oie_fj_field_t *f, size_t *len)
{
    if (f->type == OIE_FJ_NULL || f->type == OIE_FJ_OBJECT) {
        return NULL;
    }

    *len = f->len;

    return f->val;
}
