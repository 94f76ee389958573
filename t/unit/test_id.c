/*
 * Unit tests of src/oie_id.c.  The pinned ids and tags below were computed
 * outside this code (Perl's Digest::SHA and Math::BigInt, checked with
 * sha256sum and bc), so a change of the algorithm shows here.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oie_id.h"


static int  tests;
static int  failed;


static void
ok(int cond, const char *name)
{
    tests++;

    if (!cond) {
        failed++;
    }

    printf("%sok %d - %s\n", cond ? "" : "not ", tests, name);
}


static int
id_is(const char *email, const char *campaign, unsigned attempt, size_t len,
    const char *expect)
{
    unsigned char  out[OIE_ID_MAX_LEN];

    if (oie_id_make((const unsigned char *) email, strlen(email),
                    (const unsigned char *) campaign, strlen(campaign),
                    attempt, len, out)
        != OIE_ID_OK)
    {
        printf("# oie_id_make failed for %s\n", email);
        return 0;
    }

    if (strlen(expect) != len || memcmp(out, expect, len) != 0) {
        printf("# got %.*s, expected %s\n", (int) len, out, expect);
        return 0;
    }

    return 1;
}


static int
make_rc(const char *email, size_t elen, const char *campaign, size_t clen,
    size_t len)
{
    unsigned char  out[OIE_ID_MAX_LEN];

    return oie_id_make((const unsigned char *) email, elen,
                       (const unsigned char *) campaign, clen, 0, len, out);
}


static int
verify(const char *secret, const char *s)
{
    return oie_id_verify((const unsigned char *) secret, strlen(secret),
                         (const unsigned char *) s, strlen(s));
}


static int
valid(const char *s)
{
    return oie_id_valid((const unsigned char *) s, strlen(s));
}


static int
cmp_ids(const void *a, const void *b)
{
    return memcmp(a, b, OIE_ID_DEFAULT_LEN);
}


int
main(void)
{
    int             n, signed_id, dups, bad;
    char            hex[OIE_SHA256_HEX_LEN + 1], email[64];
    size_t          i, j;
    unsigned char  *ids, out[OIE_ID_SIGNED_MAX_LEN];
    const char     *secret = "0123456789abcdef-secret";
    char            longmail[OIE_EMAIL_MAX_LEN + 2];
    char            longcamp[OIE_CAMPAIGN_MAX_LEN + 2];

    printf("1..39\n");

    /* pinned ids */

    ok(id_is("jane@acme.com", "q1-2024-outbound", 0, 7, "mNAfL0d"),
       "pinned id, 7 chars");
    ok(id_is("  Jane@ACME.com\t", "q1-2024-outbound", 0, 7, "mNAfL0d"),
       "email is trimmed and lowercased before hashing");
    ok(id_is("jane@acme.com", "q1-2024-outbound", 1, 7, "R8q6NU5"),
       "attempt 1 gives another pinned id");
    ok(id_is("jane@acme.com", "q1-2024-outbound", 0, 6, "NAfL0d"),
       "pinned id, 6 chars");
    ok(id_is("jane@acme.com", "q1-2024-outbound", 0, 8, "xmNAfL0d"),
       "pinned id, 8 chars");
    ok(id_is("bob@example.org", "spring", 0, 7, "b0xkksY"),
       "pinned id, other campaign");
    ok(id_is("bob@example.org", "spring", 12, 7, "ZzyjPiX"),
       "pinned id, attempt 12");
    ok(!id_is("jane@acme.com", "q1-2024-outbound-b", 0, 7, "mNAfL0d"),
       "another campaign gives another id");

    /* bad arguments */

    ok(make_rc("a@b.co", 6, "c", 1, 5) == OIE_ID_ERROR, "length 5 refused");
    ok(make_rc("a@b.co", 6, "c", 1, 9) == OIE_ID_ERROR, "length 9 refused");
    ok(make_rc(" \t ", 3, "c", 1, 7) == OIE_ID_ERROR, "blank email refused");
    ok(make_rc("a@b.co", 6, "", 0, 7) == OIE_ID_ERROR,
       "empty campaign refused");

    memset(longmail, 'a', sizeof(longmail));
    memset(longcamp, 'c', sizeof(longcamp));
    ok(make_rc(longmail, OIE_EMAIL_MAX_LEN + 1, "c", 1, 7) == OIE_ID_ERROR,
       "email over 254 bytes refused");
    ok(make_rc(longmail, OIE_EMAIL_MAX_LEN, "c", 1, 7) == OIE_ID_OK,
       "email of 254 bytes accepted");
    ok(make_rc("a@b.co", 6, longcamp, OIE_CAMPAIGN_MAX_LEN + 1, 7)
       == OIE_ID_ERROR, "campaign over 128 bytes refused");
    ok(make_rc("a@b.co", 6, longcamp, OIE_CAMPAIGN_MAX_LEN, 7) == OIE_ID_OK,
       "campaign of 128 bytes accepted");

    /* syntax */

    ok(valid("abc123") && valid("ABCdef12") && valid("0000000"),
       "6..8 base62 chars are valid");
    ok(!valid("abc12") && !valid("abc123456") && !valid(""),
       "wrong lengths are not valid");
    ok(!valid("abc-123") && !valid("abc 123") && !valid("abc12\xc3\xa9"),
       "non-base62 chars are not valid");

    n = oie_id_parse((const unsigned char *) "abc1234.8t38Dn6I", 16,
                     &signed_id);
    ok(n == 7 && signed_id == 1, "parse finds a signed id");
    n = oie_id_parse((const unsigned char *) "abc1234", 7, &signed_id);
    ok(n == 7 && signed_id == 0, "parse finds a bare id");
    ok(oie_id_parse((const unsigned char *) "abc1234.8t38Dn6", 15, &signed_id)
       == OIE_ID_MALFORMED
       && oie_id_parse((const unsigned char *) "abc1234.", 8, &signed_id)
          == OIE_ID_MALFORMED
       && oie_id_parse((const unsigned char *) ".8t38Dn6I", 9, &signed_id)
          == OIE_ID_MALFORMED
       && oie_id_parse((const unsigned char *) "abc1234.8t38Dn6!", 16,
                       &signed_id)
          == OIE_ID_MALFORMED,
       "parse refuses broken signed ids");

    /* signatures */

    n = oie_id_sign((const unsigned char *) secret, strlen(secret),
                    (const unsigned char *) "abc1234", 7, out);
    ok(n == 16 && memcmp(out, "abc1234.8t38Dn6I", 16) == 0,
       "pinned signed id");
    n = oie_id_sign((const unsigned char *) secret, strlen(secret),
                    (const unsigned char *) "ZZZZZZZZ", 8, out);
    ok(n == 17 && memcmp(out, "ZZZZZZZZ.qK3de27Q", 17) == 0,
       "pinned signed id, 8 chars");
    ok(verify(secret, "abc1234.8t38Dn6I") == 7, "verify returns id length");
    ok(verify(secret, "abc1234.8t38Dn6J") == OIE_ID_BAD_SIGNATURE,
       "changed tag fails");
    ok(verify(secret, "abc1235.8t38Dn6I") == OIE_ID_BAD_SIGNATURE,
       "changed id fails");
    ok(verify("0123456789abcdef-secreT", "abc1234.8t38Dn6I")
       == OIE_ID_BAD_SIGNATURE, "other secret fails");
    ok(verify(secret, "abc1234") == OIE_ID_BAD_SIGNATURE,
       "missing tag fails when a secret is set");
    ok(verify(secret, "abc-234.8t38Dn6I") == OIE_ID_MALFORMED,
       "malformed id is told apart from a bad signature");
    ok(verify("short", "abc1234.8t38Dn6I") == OIE_ID_ERROR,
       "secret under 16 bytes refused");
    ok(oie_id_sign((const unsigned char *) secret, strlen(secret),
                   (const unsigned char *) "abc12", 5, out)
       == OIE_ID_MALFORMED, "signing a malformed id refused");

    memcpy(out, "abc1234", 7);
    n = oie_id_sign((const unsigned char *) secret, strlen(secret), out, 7,
                    out);
    ok(n == 16 && memcmp(out, "abc1234.8t38Dn6I", 16) == 0,
       "signing in place works");

    /* email hash and secret files */

    ok(oie_email_sha256_hex((const unsigned char *) " JANE@acme.com\r\n", 16,
                            hex) == OIE_ID_OK
       && strcmp(hex, "7bb9e30283184c3b4bbbf2262a600be7165d7e6f50e424a611"
                      "aa64394e7ecdb5") == 0,
       "email hash is SHA-256 hex of the normalized email");
    ok(oie_email_sha256_hex((const unsigned char *) "  ", 2, hex)
       == OIE_ID_ERROR, "blank email has no hash");

    n = (int) oie_email_normalize((const unsigned char *) " \tMiX@Ex.Org \n",
                                  14, out);
    ok(n == 10 && memcmp(out, "mix@ex.org", 10) == 0, "normalize");

    ok(oie_id_secret_trim((const unsigned char *) "s3cr3t \r\n\t", 10) == 6
       && oie_id_secret_trim((const unsigned char *) " a", 2) == 2
       && oie_id_secret_trim((const unsigned char *) "\n", 1) == 0,
       "secret trim drops trailing whitespace only");

    /* spread: 200000 distinct emails, 7 chars, no or very few collisions */

    ids = malloc(200000 * OIE_ID_DEFAULT_LEN);
    if (ids == NULL) {
        printf("Bail out! out of memory\n");
        return 1;
    }

    bad = 0;

    for (i = 0; i < 200000; i++) {
        n = snprintf(email, sizeof(email), "person%zu@company%zu.com", i,
                     i % 977);
        if (oie_id_make((const unsigned char *) email, n,
                        (const unsigned char *) "spread", 6, 0,
                        OIE_ID_DEFAULT_LEN, ids + i * OIE_ID_DEFAULT_LEN)
            != OIE_ID_OK
            || !oie_id_valid(ids + i * OIE_ID_DEFAULT_LEN, OIE_ID_DEFAULT_LEN))
        {
            bad++;
        }
    }

    qsort(ids, 200000, OIE_ID_DEFAULT_LEN, cmp_ids);

    dups = 0;

    for (j = 1; j < 200000; j++) {
        if (memcmp(ids + (j - 1) * OIE_ID_DEFAULT_LEN,
                   ids + j * OIE_ID_DEFAULT_LEN, OIE_ID_DEFAULT_LEN) == 0)
        {
            dups++;
        }
    }

    free(ids);

    ok(bad == 0, "200000 ids are all valid");
    /* expected collisions: 200000^2 / (2 * 62^7) = 0.006 */
    ok(dups <= 2, "200000 ids are (nearly) all distinct");

    printf("# %d duplicate ids among 200000\n", dups);

    return failed ? 1 : 0;
}
