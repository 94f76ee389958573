/*
 * The RS256 JWT of Google's OAuth2 service-account grant.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oie_jwt.h"


static const char  oie_b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


size_t
oie_base64url(char *dst, const unsigned char *src, size_t n)
{
    char      *p;
    uint32_t   v;

    p = dst;

    while (n >= 3) {
        v = (uint32_t) src[0] << 16 | (uint32_t) src[1] << 8 | src[2];
        *p++ = oie_b64url_alphabet[v >> 18];
        *p++ = oie_b64url_alphabet[(v >> 12) & 63];
        *p++ = oie_b64url_alphabet[(v >> 6) & 63];
        *p++ = oie_b64url_alphabet[v & 63];
        src += 3;
        n -= 3;
    }

    if (n) {
        v = (uint32_t) src[0] << 16 | (n == 2 ? (uint32_t) src[1] << 8 : 0);
        *p++ = oie_b64url_alphabet[v >> 18];
        *p++ = oie_b64url_alphabet[(v >> 12) & 63];

        if (n == 2) {
            *p++ = oie_b64url_alphabet[(v >> 6) & 63];
        }
    }

    *p = '\0';

    return p - dst;
}


/* s as a JSON string (quotes, backslashes and control bytes escaped) */
static char *
oie_jwt_json_string(char *p, oie_jwt_str_t s)
{
    size_t  i;

    *p++ = '"';

    for (i = 0; i < s.len; i++) {
        unsigned char  c = (unsigned char) s.data[i];

        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char) c;

        } else if (c < 0x20) {
            p += sprintf(p, "\\u%04x", c);

        } else {
            *p++ = (char) c;
        }
    }

    *p++ = '"';

    return p;
}


char *
oie_jwt_rs256(EVP_PKEY *pkey, oie_jwt_str_t kid, oie_jwt_str_t iss,
    oie_jwt_str_t scope, oie_jwt_str_t aud, int64_t now, int64_t lifetime,
    size_t *len)
{
    char           *json, *jwt, *p, *q;
    size_t          n, siglen;
    EVP_MD_CTX     *md;
    unsigned char  *sig;

    json = NULL;
    jwt = NULL;
    sig = NULL;
    md = NULL;

    /* escaped strings take at most 6 bytes per byte */
    n = 128 + 6 * (kid.len + iss.len + scope.len + aud.len);

    json = malloc(n);
    if (json == NULL) {
        goto failed;
    }

    siglen = (size_t) EVP_PKEY_get_size(pkey);
    n = 4 * ((n + 2) / 3) * 2 + 4 * ((siglen + 2) / 3) + 8;

    jwt = malloc(n);
    sig = malloc(siglen ? siglen : 1);
    if (jwt == NULL || sig == NULL) {
        goto failed;
    }

    p = json;
    p += sprintf(p, "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":");
    p = oie_jwt_json_string(p, kid);
    *p++ = '}';

    q = jwt + oie_base64url(jwt, (unsigned char *) json, p - json);
    *q++ = '.';

    p = json;
    p += sprintf(p, "{\"iss\":");
    p = oie_jwt_json_string(p, iss);
    p += sprintf(p, ",\"scope\":");
    p = oie_jwt_json_string(p, scope);
    p += sprintf(p, ",\"aud\":");
    p = oie_jwt_json_string(p, aud);
    p += sprintf(p, ",\"iat\":%lld,\"exp\":%lld}", (long long) now,
                 (long long) (now + lifetime));

    q += oie_base64url(q, (unsigned char *) json, p - json);

    md = EVP_MD_CTX_new();

    if (md == NULL
        || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1
        || EVP_DigestSign(md, sig, &siglen, (unsigned char *) jwt, q - jwt)
           != 1)
    {
        goto failed;
    }

    *q++ = '.';
    q += oie_base64url(q, sig, siglen);

    if (len != NULL) {
        *len = q - jwt;
    }

    EVP_MD_CTX_free(md);
    free(json);
    free(sig);

    return jwt;

failed:

    EVP_MD_CTX_free(md);
    free(json);
    free(sig);
    free(jwt);

    return NULL;
}
