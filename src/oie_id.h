/*
 * Lead ids: short, deterministic, base62, optionally signed.
 *
 * Shared by the oie CLI (which mints the ids) and the nginx module (which
 * checks them on /r/, /o/ and /p).  Pure C over OpenSSL's libcrypto; no
 * function here allocates memory: the caller passes every buffer, so the
 * module may call them on the request path.
 *
 * The algorithm is a contract: ids already in mailboxes must keep resolving,
 * so any change needs a new version tag ("oie-id-v2") and both sides updated.
 *
 * Id (oie_id_make):
 *
 *     e      = email with leading/trailing ASCII whitespace removed and
 *              ASCII letters lowercased (other bytes unchanged)
 *     input  = "oie-id-v1" 0x00 campaign 0x00 e 0x00 decimal(attempt)
 *     d      = SHA-256(input)
 *     n      = d[0..7] read as a big-endian unsigned 64-bit integer
 *     id     = the len last base62 digits of n (n mod 62^len), most
 *              significant first, alphabet 0-9 A-Z a-z
 *
 *   attempt is 0 for every lead; the CLI raises it only to move a lead off
 *   an id another lead of the same campaign already holds.
 *
 * Signed id (oie_id_sign): "<id>.<tag>" where
 *
 *     m      = HMAC-SHA256(secret, "oie-sig-v1" 0x00 id)
 *     tag    = the OIE_ID_TAG_LEN last base62 digits of m[0..7] read as a
 *              big-endian unsigned 64-bit integer
 *
 *   8 base62 characters leave 62^8 (about 2^47.6) tags to guess from.  The
 *   secret is a byte string of at least OIE_ID_SECRET_MIN_LEN bytes; read
 *   from a file, trailing ASCII whitespace is not part of it (see
 *   oie_id_secret_trim()).
 */

#ifndef _OIE_ID_H_INCLUDED_
#define _OIE_ID_H_INCLUDED_

#include <stddef.h>


#define OIE_ID_MIN_LEN          6
#define OIE_ID_MAX_LEN          8
#define OIE_ID_DEFAULT_LEN      7
#define OIE_ID_TAG_LEN          8
#define OIE_ID_SIGNED_MAX_LEN   (OIE_ID_MAX_LEN + 1 + OIE_ID_TAG_LEN)
#define OIE_ID_SECRET_MIN_LEN   16

#define OIE_EMAIL_MAX_LEN       254
#define OIE_CAMPAIGN_MAX_LEN    128

#define OIE_SHA256_HEX_LEN      64

/* Redis: one hash per lead, "oie:lead:<bare id>". */
#define OIE_LEAD_KEY_PREFIX     "oie:lead:"

#define OIE_ID_OK               0
#define OIE_ID_MALFORMED        -1
#define OIE_ID_BAD_SIGNATURE    -2
#define OIE_ID_ERROR            -3


/*
 * Writes the id (len bytes, not NUL-terminated) of email in campaign to out.
 * The email is normalized here, so callers may pass it as typed.  Returns
 * OIE_ID_OK, or OIE_ID_ERROR when len is out of 6..8, the normalized email
 * is empty or longer than OIE_EMAIL_MAX_LEN, the campaign is empty or longer
 * than OIE_CAMPAIGN_MAX_LEN, or hashing failed.
 */
int oie_id_make(const unsigned char *email, size_t email_len,
    const unsigned char *campaign, size_t campaign_len, unsigned attempt,
    size_t len, unsigned char *out);

/* 1 when s is 6..8 base62 characters, else 0. */
int oie_id_valid(const unsigned char *s, size_t len);

/*
 * Syntax only, no secret: s is "<id>" or "<id>.<tag>".  Returns the length
 * of the bare id and sets *signed_id, or OIE_ID_MALFORMED.
 */
int oie_id_parse(const unsigned char *s, size_t len, int *signed_id);

/*
 * Writes "<id>.<tag>" to out (at least OIE_ID_SIGNED_MAX_LEN bytes, not
 * NUL-terminated).  Returns the number of bytes written, OIE_ID_MALFORMED
 * for a bad id, or OIE_ID_ERROR for a short secret or a hashing failure.
 */
int oie_id_sign(const unsigned char *secret, size_t secret_len,
    const unsigned char *id, size_t id_len, unsigned char *out);

/*
 * Checks "<id>.<tag>" in constant time.  Returns the length of the bare id
 * (s[0..n) is the id) on success, OIE_ID_MALFORMED when s is not an id,
 * OIE_ID_BAD_SIGNATURE when the tag is missing or wrong, or OIE_ID_ERROR
 * for a short secret or a hashing failure.
 */
int oie_id_verify(const unsigned char *secret, size_t secret_len,
    const unsigned char *s, size_t len);

/* Length of a secret read from a file, trailing ASCII whitespace dropped. */
size_t oie_id_secret_trim(const unsigned char *s, size_t len);

/*
 * Trims and ASCII-lowercases email into out (room for len bytes) and returns
 * the normalized length (0 for an all-blank email).
 */
size_t oie_email_normalize(const unsigned char *email, size_t len,
    unsigned char *out);

/*
 * Lowercase hex SHA-256 of the normalized email into out (65 bytes, NUL
 * included).  Returns OIE_ID_OK, or OIE_ID_ERROR like oie_id_make().
 */
int oie_email_sha256_hex(const unsigned char *email, size_t len, char *out);

#endif /* _OIE_ID_H_INCLUDED_ */
