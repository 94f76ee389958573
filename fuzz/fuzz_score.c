/*
 * libFuzzer harness for src/oie_score.c, the live score: counters as they
 * come from a Redis hash (oie_score_input_set(), any text), then events
 * folded in (oie_score_apply()) with URLs, types and numbers of the fuzzer's
 * choosing, then the score.  Checks: the counter parser takes exactly the
 * decimal int64 texts; counters never go down; every component stays in
 * its range and the total in 0..100 with the matching level; URL paths lie
 * inside the URL; exact matches are prefix matches are "contains" matches.
 */

#include <stdint.h>
#include <string.h>

#include "oie_score.h"
#include "fuzz_util.h"


#define FUZZ_SCORE_EVENTS  64


static const char  *fuzz_types[] = {
    "pageview", "scroll", "click", "form_submit", "video", "focus",
    "engagement", "custom", "email_click", "email_open", "click_confirmed",
    "bogus"
};

static const char  *fuzz_words[] = {
    "", "human", "unknown", "scanner", "ok", "failed", "download", "mailto",
    "tel", "complete", "play", "demo_request", "signup", "/pricing"
};


/* the reference: an optional '-', 1 to 19 digits, inside int64 */
static int
fuzz_parse_int64(const char *s, size_t len, int64_t *out)
{
    size_t   i;
    int64_t  v;
    int      neg;

    i = 0;
    neg = len > 0 && s[0] == '-';
    i = neg;

    if (i == len || len - i > 19) {
        return 0;
    }

    v = 0;

    for ( /* void */ ; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }

        if (__builtin_mul_overflow(v, 10, &v)
            || __builtin_sub_overflow(v, s[i] - '0', &v))
        {
            return 0;
        }
    }

    if (!neg && __builtin_mul_overflow(v, -1, &v)) {
        return 0;
    }

    *out = v;
    return 1;
}


static void
fuzz_str(fuzz_in_t *in, oie_score_str_t *s)
{
    unsigned  b;
    size_t    len;

    b = fuzz_byte(in);

    if (b < 0xc0) {
        s->data = fuzz_words[b % (sizeof(fuzz_words) / sizeof(char *))];
        s->len = strlen(s->data);

        if (s->len == 0) {
            s->data = NULL;     /* absent, as the module passes it */
        }

        return;
    }

    s->data = (const char *) fuzz_bytes(in, 64, &len);
    s->len = len;
}


static int64_t
fuzz_num(fuzz_in_t *in)
{
    unsigned  b;

    b = fuzz_byte(in);

    switch (b % 4) {
    case 0:
        return -1;
    case 1:
        return (int64_t) fuzz_byte(in) * 25 % 125;
    case 2:
        return (int64_t) fuzz_u32(in);
    default:
        return (int64_t) fuzz_u64(in);
    }
}


static void
fuzz_check_score(const oie_score_input_t *in, int64_t now)
{
    oie_score_t  s;

    oie_score_compute(in, now, &s);

    FUZZ_CHECK(s.recency >= 0 && s.recency <= 30);
    FUZZ_CHECK(s.frequency >= 0 && s.frequency <= 20);
    FUZZ_CHECK(s.engagement >= 0 && s.engagement <= 25);
    FUZZ_CHECK(s.high_intent >= 0 && s.high_intent <= 25);
    FUZZ_CHECK(s.conversions >= 0 && s.conversions <= 20);
    FUZZ_CHECK(s.total >= 0 && s.total <= OIE_SCORE_MAX);
    FUZZ_CHECK(s.total == (s.recency + s.frequency + s.engagement
                           + s.high_intent + s.conversions > 100
                           ? 100
                           : s.recency + s.frequency + s.engagement
                             + s.high_intent + s.conversions));
    FUZZ_CHECK(s.level == oie_score_level(s.total));
    FUZZ_CHECK(s.level == (s.total >= 80 ? OIE_SCORE_BURNING
                           : s.total >= 60 ? OIE_SCORE_HOT
                           : s.total >= 40 ? OIE_SCORE_WARM
                           : OIE_SCORE_COLD));
    FUZZ_CHECK(oie_score_level_name(s.level) != NULL);
}


static void
fuzz_check_url(const char *url, size_t len, const char *pat, size_t plen)
{
    int     exact, prefix, segment, contains;
    char    lower[65];
    size_t  start, n, i;

    oie_score_url_path(url, len, &start, &n);
    FUZZ_CHECK(start <= len && n <= len - start);
    FUZZ_CHECK(memchr(url + start, '?', n) == NULL);
    FUZZ_CHECK(memchr(url + start, '#', n) == NULL);

    (void) oie_score_url_high_intent(NULL, url, len);

    /* patterns are lowercase C strings */
    for (i = 0; i < plen && i < 64 && pat[i]; i++) {
        lower[i] = (pat[i] >= 'A' && pat[i] <= 'Z') ? pat[i] | 0x20 : pat[i];
    }
    lower[i] = '\0';

    exact = oie_score_path_matches(OIE_SCORE_MATCH_EXACT, lower, url + start,
                                   n);
    prefix = oie_score_path_matches(OIE_SCORE_MATCH_PREFIX, lower,
                                    url + start, n);
    segment = oie_score_path_matches(OIE_SCORE_MATCH_SEGMENT, lower,
                                     url + start, n);
    contains = oie_score_path_matches(OIE_SCORE_MATCH_CONTAINS, lower,
                                      url + start, n);

    FUZZ_CHECK(!exact || prefix);
    FUZZ_CHECK(!prefix || contains);
    FUZZ_CHECK(!segment || contains);
    FUZZ_CHECK(!exact || segment);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                 rc;
    size_t              i, k, flen, vlen, ulen, plen;
    int64_t             now, v, *field, before[OIE_SCORE_NFIELDS];
    unsigned            b, nset;
    fuzz_in_t           in;
    const char         *name;
    const uint8_t      *fp, *vp, *up, *pp;
    oie_score_input_t   input;
    oie_score_event_t   ev;

    in.p = data;
    in.left = size;

    memset(&input, 0, sizeof(input));
    now = (int64_t) fuzz_u64(&in);

    /* counters from a Redis hash */
    nset = fuzz_byte(&in) % 20;

    for (i = 0; i < nset; i++) {
        b = fuzz_byte(&in);

        if (b < 0xf0) {
            name = oie_score_field_names[b % OIE_SCORE_NFIELDS];
            fp = (const uint8_t *) name;
            flen = strlen(name);

        } else {
            fp = fuzz_bytes(&in, 32, &flen);
        }

        vp = fuzz_bytes(&in, 24, &vlen);

        field = oie_score_input_field(&input, (const char *) fp, flen);
        v = field ? *field : 0;
        rc = oie_score_input_set(&input, (const char *) fp, flen,
                                 (const char *) vp, vlen);

        if (field == NULL) {
            FUZZ_CHECK(rc == OIE_SCORE_UNKNOWN_FIELD);
            continue;
        }

        if (fuzz_parse_int64((const char *) vp, vlen, &v)) {
            FUZZ_CHECK(rc == OIE_SCORE_OK && *field == v);

        } else {
            FUZZ_CHECK(rc == OIE_SCORE_BAD_VALUE && *field == v);
        }
    }

    fuzz_check_score(&input, now);

    /* events */
    for (k = 0; k < FUZZ_SCORE_EVENTS && in.left; k++) {
        memset(&ev, 0, sizeof(ev));

        b = fuzz_byte(&in);

        if (b < 0xf0) {
            ev.type.data = fuzz_types[b % (sizeof(fuzz_types)
                                           / sizeof(char *))];
            ev.type.len = strlen(ev.type.data);

        } else {
            fuzz_str(&in, &ev.type);
        }

        up = fuzz_bytes(&in, 128, &ulen);
        ev.url.data = ulen ? (const char *) up : NULL;
        ev.url.len = ulen;

        fuzz_str(&in, &ev.link_type);
        fuzz_str(&in, &ev.video_action);
        fuzz_str(&in, &ev.custom_name);
        fuzz_str(&in, &ev.traffic_class);
        fuzz_str(&in, &ev.outcome);
        ev.scroll_depth = fuzz_num(&in);
        ev.engaged_ms = fuzz_num(&in);
        ev.time_ms = (fuzz_byte(&in) & 1) ? (int64_t) fuzz_u64(&in)
                                          : 1732406400000LL
                                            + (int64_t) fuzz_u32(&in);
        ev.webdriver = fuzz_byte(&in) & 1;

        for (i = 0; i < OIE_SCORE_NFIELDS; i++) {
            before[i] = *oie_score_input_field(&input,
                                               oie_score_field_names[i],
                                               strlen(oie_score_field_names[i]));
        }

        rc = oie_score_apply(NULL, &input, &ev);
        FUZZ_CHECK(rc == OIE_SCORE_OK || rc == OIE_SCORE_IGNORED);

        /* counts only go up; the bookkeeping times may move either way
         * only when an event is older, so they are left out */
        for (i = 1; i < 12; i++) {
            if (i == 4) {
                continue;       /* max_scroll_depth is clamped to 0..100 */
            }

            FUZZ_CHECK(*oie_score_input_field(&input,
                                              oie_score_field_names[i],
                                              strlen(oie_score_field_names[i]))
                       >= before[i]);
        }

        if (rc == OIE_SCORE_IGNORED) {
            FUZZ_CHECK(memcmp(before, &input, sizeof(before)) == 0);
        }

        fuzz_check_score(&input, now);

        pp = fuzz_bytes(&in, 16, &plen);
        fuzz_check_url((const char *) up, ulen, (const char *) pp, plen);
    }

    return 0;
}
