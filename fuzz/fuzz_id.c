/*
 * libFuzzer harness for src/oie_id.c: the ids that arrive in /r/<id>,
 * /o/<id> and /p?i=<id> (parse, verify) and the ids the CLI mints (make,
 * sign, email normalization).  Checks: parse and verify agree with each
 * other and with sign; a signed id verifies and any changed tag does not;
 * ids are deterministic, of the asked length and base62; normalizing an
 * email twice changes nothing.
 */

#include <stdint.h>
#include <string.h>

#include "oie_id.h"
#include "fuzz_util.h"


static const unsigned char  fuzz_secret[] = "fuzz-secret-0123456789";


static int
fuzz_base62(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')
           || (c >= 'a' && c <= 'z');
}


static void
fuzz_id_incoming(const unsigned char *s, size_t len,
    const unsigned char *secret, size_t secret_len)
{
    int            n, v, signed_id, again;
    size_t         i;
    unsigned char  out[OIE_ID_SIGNED_MAX_LEN];

    n = oie_id_parse(s, len, &signed_id);
    v = oie_id_verify(secret, secret_len, s, len);

    if (n < 0) {
        FUZZ_CHECK(n == OIE_ID_MALFORMED);
        FUZZ_CHECK(v == OIE_ID_MALFORMED);
        FUZZ_CHECK(!oie_id_valid(s, len));
        return;
    }

    FUZZ_CHECK(n >= OIE_ID_MIN_LEN && n <= OIE_ID_MAX_LEN);
    FUZZ_CHECK(oie_id_valid(s, n));

    if (!signed_id) {
        FUZZ_CHECK((size_t) n == len);
        FUZZ_CHECK(v == OIE_ID_BAD_SIGNATURE || v == OIE_ID_ERROR);
        return;
    }

    FUZZ_CHECK(len == (size_t) n + 1 + OIE_ID_TAG_LEN && s[n] == '.');

    for (i = n + 1; i < len; i++) {
        FUZZ_CHECK(fuzz_base62(s[i]));
    }

    if (secret_len < OIE_ID_SECRET_MIN_LEN) {
        FUZZ_CHECK(v == OIE_ID_ERROR);
        return;
    }

    /* verify says yes exactly when signing the bare id gives this text */
    FUZZ_CHECK(oie_id_sign(secret, secret_len, s, n, out) == (int) len);
    again = memcmp(out, s, len) == 0;
    FUZZ_CHECK(again ? v == n : v == OIE_ID_BAD_SIGNATURE);
}


static void
fuzz_id_roundtrip(const unsigned char *id, size_t id_len,
    const unsigned char *secret, size_t secret_len, unsigned flip)
{
    int            n, signed_id;
    size_t         at;
    unsigned char  out[OIE_ID_SIGNED_MAX_LEN], c;

    n = oie_id_sign(secret, secret_len, id, id_len, out);

    if (!oie_id_valid(id, id_len)) {
        FUZZ_CHECK(n == OIE_ID_MALFORMED);
        return;
    }

    if (secret_len < OIE_ID_SECRET_MIN_LEN) {
        FUZZ_CHECK(n == OIE_ID_ERROR);
        return;
    }

    FUZZ_CHECK(n == (int) (id_len + 1 + OIE_ID_TAG_LEN));
    FUZZ_CHECK(memcmp(out, id, id_len) == 0 && out[id_len] == '.');
    FUZZ_CHECK(oie_id_parse(out, n, &signed_id) == (int) id_len && signed_id);
    FUZZ_CHECK(oie_id_verify(secret, secret_len, out, n) == (int) id_len);

    /* any other tag is refused */
    at = id_len + 1 + flip % OIE_ID_TAG_LEN;
    c = out[at];
    out[at] = c == 'z' ? '0' : (c == '9' ? 'A' : (c == 'Z' ? 'a' : c + 1));
    FUZZ_CHECK(oie_id_verify(secret, secret_len, out, n)
               == OIE_ID_BAD_SIGNATURE);

    /* the bare id alone is not enough where ids are signed */
    FUZZ_CHECK(oie_id_verify(secret, secret_len, id, id_len)
               == OIE_ID_BAD_SIGNATURE);
}


static void
fuzz_id_make(const unsigned char *email, size_t email_len,
    const unsigned char *campaign, size_t campaign_len, unsigned attempt,
    size_t len)
{
    int            rc;
    char           hex1[OIE_SHA256_HEX_LEN + 1], hex2[OIE_SHA256_HEX_LEN + 1];
    size_t         n, m, i;
    unsigned char  id1[OIE_ID_MAX_LEN], id2[OIE_ID_MAX_LEN];
    unsigned char  norm[OIE_EMAIL_MAX_LEN + 64], norm2[OIE_EMAIL_MAX_LEN + 64];

    rc = oie_id_make(email, email_len, campaign, campaign_len, attempt, len,
                     id1);

    if (len < OIE_ID_MIN_LEN || len > OIE_ID_MAX_LEN || campaign_len == 0
        || campaign_len > OIE_CAMPAIGN_MAX_LEN)
    {
        FUZZ_CHECK(rc == OIE_ID_ERROR);
        return;
    }

    if (email_len > sizeof(norm)) {
        return;
    }

    n = oie_email_normalize(email, email_len, norm);
    FUZZ_CHECK(n <= email_len);

    m = oie_email_normalize(norm, n, norm2);
    FUZZ_CHECK(m == n && memcmp(norm, norm2, n) == 0);

    for (i = 0; i < n; i++) {
        FUZZ_CHECK(norm[i] < 'A' || norm[i] > 'Z');
    }

    if (n == 0 || n > OIE_EMAIL_MAX_LEN) {
        FUZZ_CHECK(rc == OIE_ID_ERROR);
        FUZZ_CHECK(oie_email_sha256_hex(email, email_len, hex1)
                   == OIE_ID_ERROR);
        return;
    }

    FUZZ_CHECK(rc == OIE_ID_OK);
    FUZZ_CHECK(oie_id_valid(id1, len));

    /* the same person in the same campaign: the same id, typed any way */
    FUZZ_CHECK(oie_id_make(norm, n, campaign, campaign_len, attempt, len, id2)
               == OIE_ID_OK);
    FUZZ_CHECK(memcmp(id1, id2, len) == 0);

    FUZZ_CHECK(oie_email_sha256_hex(email, email_len, hex1) == OIE_ID_OK);
    FUZZ_CHECK(oie_email_sha256_hex(norm, n, hex2) == OIE_ID_OK);
    FUZZ_CHECK(strlen(hex1) == OIE_SHA256_HEX_LEN && strcmp(hex1, hex2) == 0);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t          secret_len, a_len, b_len;
    unsigned        mode, flip, attempt, len;
    fuzz_in_t       in;
    const uint8_t  *a, *b;

    /* the whole input as it would come in a URL */
    fuzz_id_incoming(data, size, fuzz_secret, sizeof(fuzz_secret) - 1);

    in.p = data;
    in.left = size;

    mode = fuzz_byte(&in);
    flip = fuzz_byte(&in);
    attempt = fuzz_byte(&in);
    len = fuzz_byte(&in) % 12;

    /* a secret of the fuzzer's choosing, short ones included */
    a = fuzz_bytes(&in, 64, &secret_len);
    b = fuzz_bytes(&in, 32, &b_len);

    fuzz_id_incoming(b, b_len, a, secret_len);
    fuzz_id_roundtrip(b, b_len, mode & 1 ? a : fuzz_secret,
                      mode & 1 ? secret_len : sizeof(fuzz_secret) - 1, flip);
    fuzz_id_roundtrip(in.p, in.left > OIE_ID_MAX_LEN ? OIE_ID_MAX_LEN
                                                     : in.left,
                      fuzz_secret, sizeof(fuzz_secret) - 1, flip);

    b = fuzz_bytes(&in, 255, &b_len);
    a = fuzz_bytes(&in, 255, &a_len);
    fuzz_id_make(a, a_len, b, b_len, attempt, len);
    fuzz_id_make(in.p, in.left, (const unsigned char *) "c1", 2, attempt,
                 OIE_ID_DEFAULT_LEN);

    FUZZ_CHECK(oie_id_secret_trim(data, size) <= size);

    return 0;
}
