/*
 * libFuzzer harness for src/oie_classify.c: the traffic class of a request
 * from what a stranger controls (method, User-Agent, Purpose and friends,
 * webdriver) and what the edge measured (network, timing), and the hit
 * timing table in shared memory.  Checks: a known class with 1..10 known
 * reasons, each once; the reasons' JSON is an array of those strings; the
 * class follows the documented precedence (a "certain" network is always a
 * scanner, HEAD is never human); the user agent rule alone agrees with the
 * full answer; the timing table counts hits of a key from 1 and never says
 * a later hit came first.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "oie_classify.h"
#include "fuzz_util.h"


static void
fuzz_str(fuzz_in_t *in, oie_classify_str_t *s, size_t max)
{
    unsigned  b;
    size_t    len;

    b = fuzz_byte(in);

    if (b < 0x40) {
        s->data = NULL;         /* absent header */
        s->len = 0;
        return;
    }

    s->data = (const char *) fuzz_bytes(in, max, &len);
    s->len = len;
}


/* s[0..len) holds the lowercase word w, in any case */
static int
fuzz_has_ci(const char *s, size_t len, const char *w)
{
    size_t  i, j, n;

    n = strlen(w);

    for (i = 0; i + n <= len; i++) {
        for (j = 0; j < n; j++) {
            if ((s[i + j] | (s[i + j] >= 'A' && s[i + j] <= 'Z' ? 0x20 : 0))
                != w[j])
            {
                break;
            }
        }

        if (j == n) {
            return 1;
        }
    }

    return 0;
}


static void
fuzz_check_out(const oie_classify_in_t *in, const oie_classify_out_t *out)
{
    int           n;
    char          json[OIE_CLASSIFY_JSON_MAX];
    size_t        i, j;
    json_t       *arr;
    json_error_t  err;

    FUZZ_CHECK(oie_class_name(out->cls) != NULL);
    FUZZ_CHECK(out->nreasons <= OIE_CLASSIFY_MAX_REASONS);

    for (i = 0; i < out->nreasons; i++) {
        FUZZ_CHECK(out->reasons[i] != NULL && out->reasons[i][0] != '\0');

        for (j = 0; j < i; j++) {
            FUZZ_CHECK(strcmp(out->reasons[i], out->reasons[j]) != 0);
        }
    }

    n = oie_classify_reasons_json(out, json, sizeof(json));
    FUZZ_CHECK(n > 0 && (size_t) n == strlen(json));

    arr = json_loads(json, 0, &err);
    FUZZ_CHECK(json_is_array(arr) && json_array_size(arr) == out->nreasons);

    for (i = 0; i < out->nreasons; i++) {
        FUZZ_CHECK(strcmp(json_string_value(json_array_get(arr, i)),
                          out->reasons[i]) == 0);
    }

    json_decref(arr);

    /* a little too small never overflows */
    FUZZ_CHECK(oie_classify_reasons_json(out, json, (size_t) n) == -1);

    if (in->net && in->net->confidence == OIE_CIDR_CERTAIN) {
        FUZZ_CHECK(out->cls == OIE_CLASS_SCANNER);
    }

    if (in->method.data && in->method.len == 4
        && memcmp(in->method.data, "HEAD", 4) == 0)
    {
        FUZZ_CHECK(out->cls != OIE_CLASS_HUMAN);
    }

    if (out->cls == OIE_CLASS_HUMAN) {
        /* a person: no webdriver, and a browser's user agent on clicks
         * and pages */
        FUZZ_CHECK(!in->webdriver || in->kind != OIE_KIND_PAGE);

        if (in->kind != OIE_KIND_OPEN) {
            FUZZ_CHECK(in->user_agent.data != NULL
                       && fuzz_has_ci(in->user_agent.data, in->user_agent.len,
                                      "mozilla/"));
        }
    }
}


static void
fuzz_timing(fuzz_in_t *in)
{
    size_t               size, klen, i;
    int64_t              now, window, idle;
    unsigned             hits[4];
    oie_timing_t        *tm;
    const uint8_t       *key;
    oie_timing_facts_t   f;

    static uint64_t      mem[4096];

    window = 1 + fuzz_byte(in) * 100;
    idle = 1 + fuzz_byte(in) * 100;
    size = oie_timing_size(1 + fuzz_byte(in) % 64);
    FUZZ_CHECK(size <= sizeof(mem));

    tm = oie_timing_init(mem, size, window, idle, fuzz_u64(in));
    FUZZ_CHECK(tm != NULL);
    FUZZ_CHECK(oie_timing_attach(mem, size) == tm);
    FUZZ_CHECK(oie_timing_slots(tm) >= 1);

    memset(hits, 0, sizeof(hits));
    now = 1732406400000LL;

    for (i = 0; i < 200 && in->left; i++) {
        now += fuzz_byte(in) * 7;
        key = fuzz_bytes(in, 3, &klen);
        klen = klen % 4;

        oie_timing_hit(tm, key, klen, now, &f);

        FUZZ_CHECK(f.hits >= 1);
        FUZZ_CHECK(f.since_first_ms >= -1 && f.since_first_ms <= now);
        FUZZ_CHECK(f.since_first_ms == -1 || f.since_first_ms >= 0);
    }

    FUZZ_CHECK(oie_timing_configure(tm, window + 1, idle + 1) == 0);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                  rc;
    unsigned             b, cls;
    fuzz_in_t            in;
    const char          *reason;
    oie_cidr_entry_t     net;
    oie_classify_in_t    ci;
    oie_classify_out_t   out;
    oie_classify_conf_t  conf;

    static const char   *methods[] = { "GET", "HEAD", "OPTIONS", "POST" };

    in.p = data;
    in.left = size;

    oie_classify_conf_init(&conf);
    memset(&ci, 0, sizeof(ci));

    b = fuzz_byte(&in);
    ci.kind = b % 4;                        /* 0 is not a kind */

    if (b & 0x10) {
        fuzz_str(&in, &ci.method, 16);
    } else {
        ci.method.data = methods[(b >> 5) % 4];
        ci.method.len = strlen(ci.method.data);
    }

    fuzz_str(&in, &ci.user_agent, 2048);
    fuzz_str(&in, &ci.purpose, 32);
    fuzz_str(&in, &ci.sec_purpose, 32);
    fuzz_str(&in, &ci.x_moz, 32);
    fuzz_str(&in, &ci.x_purpose, 32);

    b = fuzz_byte(&in);
    memset(&net, 0, sizeof(net));
    net.label = "fuzz-net";
    net.reason = (b & 2) ? "net:fuzz-net:certain" : "net:fuzz-net:probable";
    net.confidence = (b & 2) ? OIE_CIDR_CERTAIN : OIE_CIDR_PROBABLE;
    net.family = 4;
    net.prefix = 24;
    ci.net = (b & 1) ? &net : NULL;
    ci.since_first_ms = (b & 4) ? -1 : (int64_t) (fuzz_u32(&in) % 100000);
    ci.hits = fuzz_byte(&in);
    ci.campaign_hits = fuzz_byte(&in);
    ci.webdriver = (b >> 3) & 1;

    /* the user agent cache (kept across inputs, as a worker keeps it)
     * answers what matching answers */
    {
        static oie_ua_cache_t  cache;
        oie_classify_in_t      cached, plain;

        cached = ci;
        plain = ci;
        oie_classify_memo_ua(&cached, &cache);
        oie_classify_memo_ua(&plain, NULL);

        FUZZ_CHECK(cached.ua_memo == plain.ua_memo);
        FUZZ_CHECK(!plain.ua_memo
                   || (cached.ua_rule == plain.ua_rule
                       && cached.ua_browser == plain.ua_browser));

        /* a second time, now from the cache */
        oie_classify_memo_ua(&cached, &cache);
        FUZZ_CHECK(!plain.ua_memo
                   || (cached.ua_rule == plain.ua_rule
                       && cached.ua_browser == plain.ua_browser));
    }

    rc = oie_classify((b & 0x80) ? NULL : &conf, &ci, &out);

    if (ci.kind == 0) {
        FUZZ_CHECK(rc == -1 && out.cls == OIE_CLASS_UNKNOWN
                   && out.nreasons == 1
                   && strcmp(out.reasons[0], "invalid-input") == 0);

    } else {
        FUZZ_CHECK(rc == 0);
        fuzz_check_out(&ci, &out);
    }

    if (ci.user_agent.data) {
        reason = oie_classify_ua(ci.user_agent.data, ci.user_agent.len, &cls);
        FUZZ_CHECK(reason == NULL || oie_class_name(cls) != NULL);
    }

    fuzz_timing(&in);

    return 0;
}
