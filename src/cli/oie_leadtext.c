/*
 * How a lead list is read: header names, attribute names, emails, the
 * campaign slug and the URLs of a campaign.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "oie_cli.h"
#include "oie_id.h"
#include "oie_leadtext.h"


/* names that the Redis hash and the identities use for their own fields */

const char  *oie_reserved[] = {
    "id", "signedId", "campaign", "campaignName", "destination",
    "firstName", "lastName", "company", "title", "email", "emailHash",
    "trackingUrl", "openPixelUrl", "leadId", "createdAt", "line",
    "attributes", NULL
};


static const struct {
    const char  *key;
    int          role;
} oie_known_headers[] = {
    { "email", OIE_ROLE_EMAIL },
    { "emailaddress", OIE_ROLE_EMAIL },
    { "workemail", OIE_ROLE_EMAIL },
    { "businessemail", OIE_ROLE_EMAIL },
    { "mail", OIE_ROLE_EMAIL },
    { "firstname", OIE_ROLE_FIRST },
    { "first", OIE_ROLE_FIRST },
    { "fname", OIE_ROLE_FIRST },
    { "givenname", OIE_ROLE_FIRST },
    { "forename", OIE_ROLE_FIRST },
    { "lastname", OIE_ROLE_LAST },
    { "last", OIE_ROLE_LAST },
    { "lname", OIE_ROLE_LAST },
    { "surname", OIE_ROLE_LAST },
    { "familyname", OIE_ROLE_LAST },
    { "company", OIE_ROLE_COMPANY },
    { "companyname", OIE_ROLE_COMPANY },
    { "organization", OIE_ROLE_COMPANY },
    { "organisation", OIE_ROLE_COMPANY },
    { "account", OIE_ROLE_COMPANY },
    { "accountname", OIE_ROLE_COMPANY },
    { "title", OIE_ROLE_TITLE },
    { "jobtitle", OIE_ROLE_TITLE },
    { "position", OIE_ROLE_TITLE },
    { "trackingurl", OIE_ROLE_OUTPUT },
    { "openpixelurl", OIE_ROLE_OUTPUT },
    { "leadid", OIE_ROLE_OUTPUT },
    { NULL, 0 }
};


/* Lowercase ASCII letters and digits, every other run becomes one '-'. */

int
oie_slugify(const char *name, char *slug)
{
    size_t         n;
    int            dash;
    unsigned char  c;

    n = 0;
    dash = 0;

    for ( ; *name && n < OIE_SLUG_MAX; name++) {
        c = (unsigned char) *name;

        if (c >= 'A' && c <= 'Z') {
            c = (unsigned char) (c - 'A' + 'a');
        }

        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            if (dash && n > 0) {
                slug[n++] = '-';
                if (n == OIE_SLUG_MAX) {
                    break;
                }
            }

            slug[n++] = (char) c;
            dash = 0;

        } else {
            dash = 1;
        }
    }

    while (n > 0 && slug[n - 1] == '-') {
        n--;
    }

    slug[n] = '\0';

    return n == 0 ? -1 : 0;
}


int
oie_slug_valid(const char *slug)
{
    size_t  i, len;

    len = strlen(slug);

    if (len == 0 || len > OIE_SLUG_MAX || slug[0] == '-'
        || slug[len - 1] == '-')
    {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((slug[i] >= 'a' && slug[i] <= 'z')
              || (slug[i] >= '0' && slug[i] <= '9')
              || slug[i] == '-' || slug[i] == '_'))
        {
            return 0;
        }
    }

    return 1;
}


const char *
oie_url_check(const char *url, int base)
{
    const char  *p, *host;

    if (strncasecmp(url, "https://", 8) == 0) {
        host = url + 8;

    } else if (strncasecmp(url, "http://", 7) == 0) {
        host = url + 7;

    } else {
        return "must start with https:// or http://";
    }

    for (p = url; *p; p++) {
        if ((unsigned char) *p <= 0x20 || (unsigned char) *p >= 0x7f
            || strchr("\"<>\\^`{|}", *p) != NULL)
        {
            return "holds a space, a control or non-ASCII character, or one "
                   "of \"<>\\^`{|}; percent-encode it";
        }
    }

    if (*host == '\0' || *host == '/' || *host == '?' || *host == '#'
        || *host == ':')
    {
        return "has no host";
    }

    if (base && strpbrk(url, "?#") != NULL) {
        return "must not have a query or a fragment";
    }

    return NULL;
}


/*
 * The landing URL with utm_source=email, utm_medium=cold-email and
 * utm_campaign=<slug> added where the URL does not set them already.  An
 * "i" parameter is refused: the redirect adds it.
 */

char *
oie_destination(const char *landing, const char *slug, int utm,
    const char **err)
{
    int          have_source, have_medium, have_campaign;
    char        *out, params[128 + OIE_SLUG_MAX];
    size_t       base_len, name_len, n;
    const char  *frag, *q, *param, *end, *sep;

    frag = strchr(landing, '#');
    base_len = frag ? (size_t) (frag - landing) : strlen(landing);

    q = memchr(landing, '?', base_len);

    have_source = 0;
    have_medium = 0;
    have_campaign = 0;

    if (q != NULL) {
        for (param = q + 1; param < landing + base_len; param = end + 1) {
            end = memchr(param, '&', landing + base_len - param);
            if (end == NULL) {
                end = landing + base_len;
            }

            name_len = strcspn(param, "=&#");
            if (param + name_len > end) {
                name_len = (size_t) (end - param);
            }

            if (name_len == 1 && param[0] == 'i') {
                *err = "must not have an 'i' parameter: the redirect adds "
                       "i=<id> itself";
                return NULL;
            }

            if (name_len == 10 && strncmp(param, "utm_source", 10) == 0) {
                have_source = 1;

            } else if (name_len == 10
                       && strncmp(param, "utm_medium", 10) == 0)
            {
                have_medium = 1;

            } else if (name_len == 12
                       && strncmp(param, "utm_campaign", 12) == 0)
            {
                have_campaign = 1;
            }
        }
    }

    n = 0;
    params[0] = '\0';

    if (utm && !have_source) {
        n += (size_t) sprintf(params + n, "&utm_source=email");
    }

    if (utm && !have_medium) {
        n += (size_t) sprintf(params + n, "&utm_medium=cold-email");
    }

    if (utm && !have_campaign) {
        n += (size_t) sprintf(params + n, "&utm_campaign=%s", slug);
    }

    if (n == 0) {
        return oie_xstrdup(landing);
    }

    if (q == NULL) {
        sep = "?";

    } else if (landing[base_len - 1] == '?' || landing[base_len - 1] == '&') {
        sep = "";

    } else {
        sep = "&";
    }

    out = oie_xasprintf("%.*s%s%s%s", (int) base_len, landing, sep,
                        params + 1, frag ? frag : "");

    return out;
}


void
oie_trim(const char **s, size_t *len)
{
    while (*len > 0 && ((*s)[0] == ' ' || (*s)[0] == '\t')) {
        (*s)++;
        (*len)--;
    }

    while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'
                        || (*s)[*len - 1] == '\r' || (*s)[*len - 1] == '\n'))
    {
        (*len)--;
    }
}


int
oie_header_role(const char *header, size_t len)
{
    size_t  i, n;
    char    key[64];

    n = 0;

    for (i = 0; i < len && n < sizeof(key) - 1; i++) {
        if (header[i] >= 'A' && header[i] <= 'Z') {
            key[n++] = (char) (header[i] - 'A' + 'a');

        } else if ((header[i] >= 'a' && header[i] <= 'z')
                   || (header[i] >= '0' && header[i] <= '9'))
        {
            key[n++] = header[i];
        }
    }

    key[n] = '\0';

    for (i = 0; oie_known_headers[i].key != NULL; i++) {
        if (strcmp(key, oie_known_headers[i].key) == 0) {
            return oie_known_headers[i].role;
        }
    }

    return OIE_ROLE_ATTR;
}


/*
 * "Job Level" -> jobLevel, "annual_revenue" -> annualRevenue,
 * "LinkedIn URL" -> linkedInUrl, "ID" -> id.  Words are split on ASCII
 * characters other than letters and digits; other UTF-8 is kept.
 */

char *
oie_camel(const char *s, size_t len, size_t colno)
{
    int            upper, first;
    char          *out;
    size_t         i, j, n, w;
    unsigned char  c;

    out = oie_xmalloc(len + 32);
    n = 0;
    first = 1;

    for (i = 0; i < len; i = j) {
        c = (unsigned char) s[i];

        if (c < 0x80 && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                          || (c >= '0' && c <= '9')))
        {
            j = i + 1;
            continue;
        }

        /* one word: s[i..j) */

        upper = 1;

        for (j = i; j < len; j++) {
            c = (unsigned char) s[j];

            if (c < 0x80 && !((c >= 'a' && c <= 'z')
                              || (c >= 'A' && c <= 'Z')
                              || (c >= '0' && c <= '9')))
            {
                break;
            }

            if (c >= 'a' && c <= 'z') {
                upper = 0;
            }
        }

        for (w = i; w < j; w++) {
            c = (unsigned char) s[w];

            if (w == i) {
                if (first && c >= 'A' && c <= 'Z') {
                    c = (unsigned char) (c - 'A' + 'a');

                } else if (!first && c >= 'a' && c <= 'z') {
                    c = (unsigned char) (c - 'a' + 'A');
                }

            } else if (upper && c >= 'A' && c <= 'Z') {
                c = (unsigned char) (c - 'A' + 'a');
            }

            out[n++] = (char) c;
        }

        first = 0;
    }

    if (n == 0) {
        n = (size_t) sprintf(out, "column%zu", colno);
    }

    out[n] = '\0';

    return out;
}


const char *
oie_email_check(const char *e, size_t len)
{
    size_t       i;
    const char  *at, *dom;

    if (len == 0) {
        return "empty email";
    }

    if (len > OIE_EMAIL_MAX_LEN) {
        return "email longer than 254 characters";
    }

    if (memchr(e, '<', len) != NULL && memchr(e, '>', len) != NULL) {
        return "looks like 'Name <address>': write only the address";
    }

    at = NULL;

    for (i = 0; i < len; i++) {
        if ((unsigned char) e[i] <= 0x20 || e[i] == 0x7f) {
            return "space or control character in the email";
        }

        if (strchr("<>()[],;:\\\"", e[i]) != NULL) {
            return "character not allowed in an email address";
        }

        if (e[i] == '@') {
            if (at != NULL) {
                return "more than one '@' in the email";
            }

            at = e + i;
        }
    }

    if (at == NULL) {
        return "no '@' in the email";
    }

    if (at == e) {
        return "nothing before '@' in the email";
    }

    if (at - e > 64) {
        return "more than 64 characters before '@' in the email";
    }

    dom = at + 1;
    len -= (size_t) (dom - e);

    if (len == 0) {
        return "nothing after '@' in the email";
    }

    if (memchr(dom, '.', len) == NULL || dom[0] == '.' || dom[len - 1] == '.'
        || memmem(dom, len, "..", 2) != NULL)
    {
        return "the email's domain is not a domain name";
    }

    return NULL;
}
