/*
 * How a lead list is read: header names, attribute names, emails, the
 * campaign slug and the URLs of a campaign.
 */

#ifndef _OIE_LEADTEXT_H_INCLUDED_
#define _OIE_LEADTEXT_H_INCLUDED_

#include <stddef.h>


#define OIE_SLUG_MAX         64

#define OIE_ROLE_ATTR        0
#define OIE_ROLE_EMAIL       1
#define OIE_ROLE_FIRST       2
#define OIE_ROLE_LAST        3
#define OIE_ROLE_COMPANY     4
#define OIE_ROLE_TITLE       5
#define OIE_ROLE_OUTPUT      6    /* a column this tool writes: replaced */
#define OIE_ROLE_PRIVATE     7    /* holds email addresses: CSV only */
#define OIE_ROLE_N           8


/* field names of the identities and the Redis hash, NULL-terminated */
extern const char  *oie_reserved[];


/* The slug of a campaign name (slug: OIE_SLUG_MAX + 1 bytes); -1: none. */
int oie_slugify(const char *name, char *slug);
int oie_slug_valid(const char *slug);

/* NULL when url is a usable http(s) URL, else why not. */
const char *oie_url_check(const char *url, int base);

/*
 * The landing URL with the utm parameters it lacks (when utm is set);
 * NULL with *err set for a landing URL that carries an "i" parameter.
 */
char *oie_destination(const char *landing, const char *slug, int utm,
    const char **err);

/* Drops spaces and tabs around, and line ends after. */
void oie_trim(const char **s, size_t *len);

/* The OIE_ROLE_* a header name stands for. */
int oie_header_role(const char *header, size_t len);

/* The camelCase attribute name of a header; "column<colno>" when empty. */
char *oie_camel(const char *s, size_t len, size_t colno);

/* NULL when e is an email address, else what is wrong with it. */
const char *oie_email_check(const char *e, size_t len);

#endif /* _OIE_LEADTEXT_H_INCLUDED_ */
