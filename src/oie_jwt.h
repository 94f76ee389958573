/*
 * The JWT of Google's OAuth2 service-account grant (RFC 7523 JWT bearer),
 * signed RS256 with the key's private key.
 *
 * Shared by the nginx module's token fetcher and the oie CLI (oie spool
 * replay).  Pure C over OpenSSL's libcrypto.
 */

#ifndef _OIE_JWT_H_INCLUDED_
#define _OIE_JWT_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>


typedef struct {
    const char  *data;
    size_t       len;
} oie_jwt_str_t;


/*
 * header  {"alg":"RS256","typ":"JWT","kid":<kid>}
 * claims  {"iss":<iss>,"scope":<scope>,"aud":<aud>,"iat":now,
 *          "exp":now+lifetime}
 *
 * Returns "<header>.<claims>.<signature>", each base64url without padding,
 * malloc()ed and NUL-terminated (*len, when not NULL, gets its length), or
 * NULL when out of memory or the key cannot sign.
 */
char *oie_jwt_rs256(EVP_PKEY *pkey, oie_jwt_str_t kid, oie_jwt_str_t iss,
    oie_jwt_str_t scope, oie_jwt_str_t aud, int64_t now, int64_t lifetime,
    size_t *len);

/* base64url of src, no padding, into dst (room for 4 * ceil(n / 3) + 1) */
size_t oie_base64url(char *dst, const unsigned char *src, size_t n);


#endif /* _OIE_JWT_H_INCLUDED_ */
