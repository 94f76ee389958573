/*
 * Lead ids: see oie_id.h for the algorithm, which is a contract.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "oie_id.h"


#define OIE_ID_DOMAIN    "oie-id-v1"
#define OIE_SIG_DOMAIN   "oie-sig-v1"


static const char  oie_base62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";


static void oie_id_base62(const unsigned char *digest, size_t len,
    unsigned char *out);
static int oie_id_tag(const unsigned char *secret, size_t secret_len,
    const unsigned char *id, size_t id_len, unsigned char *tag);
static int oie_is_space(unsigned char c);
static int oie_is_base62(unsigned char c);


/* The len last base62 digits of the big-endian uint64 in digest[0..7]. */

static void
oie_id_base62(const unsigned char *digest, size_t len, unsigned char *out)
{
    size_t    i;
    uint64_t  n;

    n = 0;

    for (i = 0; i < 8; i++) {
        n = (n << 8) | digest[i];
    }

    for (i = len; i > 0; i--) {
        out[i - 1] = (unsigned char) oie_base62[n % 62];
        n /= 62;
    }
}


static int
oie_is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f'
           || c == '\v';
}


static int
oie_is_base62(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')
           || (c >= 'a' && c <= 'z');
}


size_t
oie_email_normalize(const unsigned char *email, size_t len,
    unsigned char *out)
{
    size_t          i, n;
    unsigned char   c;

    while (len > 0 && oie_is_space(email[0])) {
        email++;
        len--;
    }

    while (len > 0 && oie_is_space(email[len - 1])) {
        len--;
    }

    n = 0;

    for (i = 0; i < len; i++) {
        c = email[i];

        if (c >= 'A' && c <= 'Z') {
            c = (unsigned char) (c - 'A' + 'a');
        }

        out[n++] = c;
    }

    return n;
}


int
oie_id_make(const unsigned char *email, size_t email_len,
    const unsigned char *campaign, size_t campaign_len, unsigned attempt,
    size_t len, unsigned char *out)
{
    int            n;
    size_t         pos, elen;
    unsigned char  buf[sizeof(OIE_ID_DOMAIN) + OIE_CAMPAIGN_MAX_LEN + 1
                       + OIE_EMAIL_MAX_LEN + 1 + 16];
    unsigned char  digest[SHA256_DIGEST_LENGTH];

    if (len < OIE_ID_MIN_LEN || len > OIE_ID_MAX_LEN
        || campaign_len == 0 || campaign_len > OIE_CAMPAIGN_MAX_LEN)
    {
        return OIE_ID_ERROR;
    }

    /* the blanks around an email are at most the whole input */

    while (email_len > 0 && oie_is_space(email[0])) {
        email++;
        email_len--;
    }

    while (email_len > 0 && oie_is_space(email[email_len - 1])) {
        email_len--;
    }

    if (email_len == 0 || email_len > OIE_EMAIL_MAX_LEN) {
        return OIE_ID_ERROR;
    }

    /* sizeof includes the NUL, which is the first separator */

    memcpy(buf, OIE_ID_DOMAIN, sizeof(OIE_ID_DOMAIN));
    pos = sizeof(OIE_ID_DOMAIN);

    memcpy(buf + pos, campaign, campaign_len);
    pos += campaign_len;
    buf[pos++] = '\0';

    elen = oie_email_normalize(email, email_len, buf + pos);
    pos += elen;
    buf[pos++] = '\0';

    n = snprintf((char *) buf + pos, 16, "%u", attempt);
    if (n < 0 || n >= 16) {
        return OIE_ID_ERROR;
    }

    pos += n;

    if (SHA256(buf, pos, digest) == NULL) {
        return OIE_ID_ERROR;
    }

    oie_id_base62(digest, len, out);

    return OIE_ID_OK;
}


int
oie_id_valid(const unsigned char *s, size_t len)
{
    size_t  i;

    if (len < OIE_ID_MIN_LEN || len > OIE_ID_MAX_LEN) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!oie_is_base62(s[i])) {
            return 0;
        }
    }

    return 1;
}


int
oie_id_parse(const unsigned char *s, size_t len, int *signed_id)
{
    const unsigned char  *dot;

    dot = memchr(s, '.', len);

    if (dot == NULL) {
        if (!oie_id_valid(s, len)) {
            return OIE_ID_MALFORMED;
        }

        *signed_id = 0;
        return (int) len;
    }

    if (!oie_id_valid(s, dot - s)
        || len - (dot - s) - 1 != OIE_ID_TAG_LEN)
    {
        return OIE_ID_MALFORMED;
    }

    for (dot++; dot < s + len; dot++) {
        if (!oie_is_base62(*dot)) {
            return OIE_ID_MALFORMED;
        }
    }

    *signed_id = 1;
    return (int) (len - OIE_ID_TAG_LEN - 1);
}


static int
oie_id_tag(const unsigned char *secret, size_t secret_len,
    const unsigned char *id, size_t id_len, unsigned char *tag)
{
    size_t         pos;
    unsigned int   mac_len;
    unsigned char  buf[sizeof(OIE_SIG_DOMAIN) + OIE_ID_MAX_LEN];
    unsigned char  mac[EVP_MAX_MD_SIZE];

    if (secret_len < OIE_ID_SECRET_MIN_LEN || secret_len > INT32_MAX) {
        return OIE_ID_ERROR;
    }

    memcpy(buf, OIE_SIG_DOMAIN, sizeof(OIE_SIG_DOMAIN));
    pos = sizeof(OIE_SIG_DOMAIN);
    memcpy(buf + pos, id, id_len);
    pos += id_len;

    if (HMAC(EVP_sha256(), secret, (int) secret_len, buf, pos, mac, &mac_len)
        == NULL || mac_len < 8)
    {
        return OIE_ID_ERROR;
    }

    oie_id_base62(mac, OIE_ID_TAG_LEN, tag);

    return OIE_ID_OK;
}


int
oie_id_sign(const unsigned char *secret, size_t secret_len,
    const unsigned char *id, size_t id_len, unsigned char *out)
{
    if (!oie_id_valid(id, id_len)) {
        return OIE_ID_MALFORMED;
    }

    if (oie_id_tag(secret, secret_len, id, id_len, out + id_len + 1)
        != OIE_ID_OK)
    {
        return OIE_ID_ERROR;
    }

    memmove(out, id, id_len);
    out[id_len] = '.';

    return (int) (id_len + 1 + OIE_ID_TAG_LEN);
}


int
oie_id_verify(const unsigned char *secret, size_t secret_len,
    const unsigned char *s, size_t len)
{
    int            n, signed_id;
    unsigned char  tag[OIE_ID_TAG_LEN];

    n = oie_id_parse(s, len, &signed_id);

    if (n < 0) {
        return OIE_ID_MALFORMED;
    }

    if (oie_id_tag(secret, secret_len, s, n, tag) != OIE_ID_OK) {
        return OIE_ID_ERROR;
    }

    if (!signed_id) {
        return OIE_ID_BAD_SIGNATURE;
    }

    if (CRYPTO_memcmp(tag, s + n + 1, OIE_ID_TAG_LEN) != 0) {
        return OIE_ID_BAD_SIGNATURE;
    }

    return n;
}


size_t
oie_id_secret_trim(const unsigned char *s, size_t len)
{
    while (len > 0 && oie_is_space(s[len - 1])) {
        len--;
    }

    return len;
}


int
oie_email_sha256_hex(const unsigned char *email, size_t len, char *out)
{
    size_t         i, n;
    unsigned char  norm[OIE_EMAIL_MAX_LEN];
    unsigned char  digest[SHA256_DIGEST_LENGTH];

    while (len > 0 && oie_is_space(email[0])) {
        email++;
        len--;
    }

    while (len > 0 && oie_is_space(email[len - 1])) {
        len--;
    }

    if (len == 0 || len > OIE_EMAIL_MAX_LEN) {
        return OIE_ID_ERROR;
    }

    n = oie_email_normalize(email, len, norm);

    if (SHA256(norm, n, digest) == NULL) {
        return OIE_ID_ERROR;
    }

    for (i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        out[2 * i] = "0123456789abcdef"[digest[i] >> 4];
        out[2 * i + 1] = "0123456789abcdef"[digest[i] & 0x0f];
    }

    out[OIE_SHA256_HEX_LEN] = '\0';

    return OIE_ID_OK;
}
