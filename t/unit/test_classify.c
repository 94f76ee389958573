/*
 * Unit tests of src/oie_classify.c with realistic requests: scanner
 * networks (from the shipped conf/scanner-networks.txt), the user agents
 * of crawlers, previews, libraries, headless and real browsers, HEAD and
 * prefetch requests, timing from the hit table, the order of reasons and
 * the precedence of classes.  The cost of a classification is printed as
 * a comment, not tested.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "oie_classify.h"
#include "tap.h"


/* the shipped list, from $OIE_ROOT (make test) or the current directory */
static const char *
shipped_networks(void)
{
    static char  path[4096];
    const char  *root;

    root = getenv("OIE_ROOT");

    snprintf(path, sizeof(path), "%s%sconf/scanner-networks.txt",
             root ? root : "", root ? "/" : "");

    return path;
}


#define CHROME                                                               \
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "          \
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
#define FIREFOX                                                              \
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 "      \
    "Firefox/125.0"
#define SAFARI_IOS                                                           \
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) "                \
    "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 "   \
    "Safari/604.1"
#define EDGE                                                                 \
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "          \
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51"
#define HEADLESS                                                             \
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like "       \
    "Gecko) HeadlessChrome/124.0.6367.60 Safari/537.36"


static oie_cidr_t           *nets;
static oie_classify_conf_t   conf;


static oie_classify_in_t
req(unsigned kind, const char *method, const char *ua, const char *ip)
{
    oie_classify_in_t         in;
    const oie_cidr_entry_t   *e;

    memset(&in, 0, sizeof(in));

    in.kind = kind;
    in.method.data = method;
    in.method.len = method ? strlen(method) : 0;
    in.user_agent.data = ua;
    in.user_agent.len = ua ? strlen(ua) : 0;
    in.since_first_ms = -1;

    if (ip) {
        if (oie_cidr_lookup_text(nets, ip, strlen(ip), &e) != 0) {
            printf("# bad address %s\n", ip);
            exit(1);
        }

        in.net = e;
    }

    return in;
}


static oie_classify_str_t
str(const char *s)
{
    oie_classify_str_t  v;

    v.data = s;
    v.len = s ? strlen(s) : 0;

    return v;
}


/* the class and the reasons (as JSON) are these */
static int
is(const oie_classify_in_t *in, const char *cls, const char *json)
{
    int                  rc;
    char                 buf[OIE_CLASSIFY_JSON_MAX];
    char                 mbuf[OIE_CLASSIFY_JSON_MAX];
    oie_classify_in_t    memo;
    oie_classify_out_t   out;

    rc = oie_classify(&conf, in, &out);

    if (rc != 0) {
        printf("# oie_classify failed\n");
        return 0;
    }

    if (oie_classify_reasons_json(&out, buf, sizeof(buf)) < 0) {
        printf("# reasons do not fit\n");
        return 0;
    }

    if (strcmp(oie_class_name(out.cls), cls) != 0 || strcmp(buf, json) != 0)
    {
        printf("# got %s %s\n# expected %s %s\n", oie_class_name(out.cls),
               buf, cls, json);
        return 0;
    }

    /* the same with the user agent matched beforehand (once a request) */
    memo = *in;
    oie_classify_memo_ua(&memo, NULL);

    if (oie_classify(&conf, &memo, &out) != 0
        || oie_classify_reasons_json(&out, mbuf, sizeof(mbuf)) < 0
        || strcmp(oie_class_name(out.cls), cls) != 0
        || strcmp(mbuf, json) != 0)
    {
        printf("# with the user agent memo: got %s %s\n",
               oie_class_name(out.cls), mbuf);
        return 0;
    }

    return 1;
}


static int
ua_is(unsigned kind, const char *ua, const char *cls, const char *json)
{
    oie_classify_in_t  in;

    in = req(kind, "GET", ua, "198.51.100.20");

    if (!is(&in, cls, json)) {
        printf("# user agent: %s\n", ua);
        return 0;
    }

    return 1;
}


/* a click of lead at now_ms from ip: its class, timing from the table */
static const char *
click(oie_timing_t *tm, const char *lead, int64_t now_ms, const char *ip,
    const char *ua, char *json, size_t size)
{
    oie_classify_in_t    in;
    oie_classify_out_t   out;
    oie_timing_facts_t   f;

    oie_timing_hit(tm, lead, strlen(lead), now_ms, &f);

    in = req(OIE_KIND_CLICK, "GET", ua, ip);
    in.hits = f.hits;
    in.since_first_ms = f.since_first_ms;

    oie_classify(&conf, &in, &out);
    oie_classify_reasons_json(&out, json, size);

    return oie_class_name(out.cls);
}


static int
timing_tests(void)
{
    int                  fails;
    void                *mem;
    size_t               size;
    oie_timing_t        *tm, *tm2;
    oie_timing_facts_t   f;

    fails = 0;

#define T_CHECK(cond, what)                                                  \
    if (!(cond)) { printf("# timing: %s\n", what); fails++; }

    size = oie_timing_size(8);
    mem = aligned_alloc(8, (size + 7) & ~(size_t) 7);
    memset(mem, 0xa5, size);

    T_CHECK(oie_timing_init(mem, 16, 2000, 60000, 1) == NULL,
            "too small for a bucket");
    T_CHECK(oie_timing_init((char *) mem + 4, size - 4, 2000, 60000, 1)
            == NULL, "misaligned");
    T_CHECK(oie_timing_init(mem, size, 0, 60000, 1) == NULL, "window 0");
    T_CHECK(oie_timing_attach(mem, size) == NULL, "attach to garbage");

    tm = oie_timing_init(mem, size, 2000, 60000, 42);
    T_CHECK(tm != NULL && oie_timing_slots(tm) == 8, "one bucket of 8");
    T_CHECK(oie_timing_attach(mem, size) == tm, "attach after init");
    T_CHECK(oie_timing_attach(mem, size + 8) == NULL, "attach, other size");

    oie_timing_hit(tm, "lead1", 5, 1000, &f);
    T_CHECK(f.hits == 1 && f.since_first_ms == -1, "first hit");
    oie_timing_hit(tm, "lead1", 5, 1500, &f);
    T_CHECK(f.hits == 2 && f.since_first_ms == 500, "second hit");
    oie_timing_hit(tm, "lead1", 5, 2999, &f);
    T_CHECK(f.hits == 3 && f.since_first_ms == 1999, "third in the window");
    oie_timing_hit(tm, "lead1", 5, 3000, &f);
    T_CHECK(f.hits == 1 && f.since_first_ms == 2000, "a new window");
    oie_timing_hit(tm, "lead1", 5, 2500, &f);
    T_CHECK(f.hits == 2 && f.since_first_ms == 2000,
            "a clock stepping back counts as no time");
    oie_timing_hit(tm, "lead2", 5, 3000, &f);
    T_CHECK(f.hits == 1 && f.since_first_ms == -1, "another key");
    oie_timing_hit(tm, "lead1", 5, 3000 + 60000, &f);
    T_CHECK(f.hits == 1 && f.since_first_ms == -1,
            "idle for idle_ms: a new run");
    oie_timing_hit(tm, "", 0, 5000, &f);
    T_CHECK(f.hits == 1, "an empty key is a key");
    T_CHECK(oie_timing_configure(tm, 100, 60000) == 0
            && oie_timing_configure(tm, 0, 60000) == -1
            && oie_timing_configure(NULL, 100, 100) == -1,
            "configure: checks its times");
    oie_timing_hit(tm, "lead2", 5, 3050, &f);
    T_CHECK(f.hits == 2, "lead2 within 100 ms");
    oie_timing_hit(tm, "lead2", 5, 3200, &f);
    T_CHECK(f.hits == 1 && f.since_first_ms == 200,
            "a window of 100 ms after configure");
    oie_timing_hit(NULL, "x", 1, 1, &f);
    T_CHECK(f.hits == 1 && f.since_first_ms == -1, "no table");

    /* eviction: 8 slots, 9 keys; the one used least recently goes */
    tm = oie_timing_init(mem, size, 2000, 600000, 7);

    {
        char      k[8];
        unsigned  i;

        for (i = 0; i < 8; i++) {
            snprintf(k, sizeof(k), "k%u", i);
            oie_timing_hit(tm, k, strlen(k), 1000 + i, &f);
        }

        oie_timing_hit(tm, "k0", 2, 2000, &f);      /* k1 is now oldest */
        T_CHECK(f.since_first_ms == 1000, "k0 kept");
        oie_timing_hit(tm, "k8", 2, 2001, &f);
        T_CHECK(f.since_first_ms == -1, "k8 new");
        oie_timing_hit(tm, "k1", 2, 2002, &f);
        T_CHECK(f.since_first_ms == -1, "k1 was evicted");
        oie_timing_hit(tm, "k0", 2, 2003, &f);
        T_CHECK(f.since_first_ms == 1003, "k0 still there");
    }

    free(mem);

    /* a big table: keys spread, none lost below its size */
    size = oie_timing_size(4096);
    mem = aligned_alloc(8, (size + 7) & ~(size_t) 7);
    tm = oie_timing_init(mem, size, 2000, 600000, 99);
    T_CHECK(oie_timing_slots(tm) >= 4096, "4096 slots");

    {
        char      k[16];
        unsigned  i, lost;

        for (i = 0; i < 2048; i++) {
            snprintf(k, sizeof(k), "lead%u", i);
            oie_timing_hit(tm, k, strlen(k), 1000, &f);
        }

        lost = 0;

        for (i = 0; i < 2048; i++) {
            snprintf(k, sizeof(k), "lead%u", i);
            oie_timing_hit(tm, k, strlen(k), 1100, &f);
            lost += (f.since_first_ms != 100);
        }

        /* half full, 8 ways: a few buckets overflow, most keys stay */
        printf("# 2048 keys in 4096 slots: %u forgotten\n", lost);
        T_CHECK(lost <= 64, "2048 keys in 4096 slots: nearly all kept");
    }

    tm2 = oie_timing_attach(mem, size);
    T_CHECK(tm2 == tm, "attach keeps the table");
    oie_timing_hit(tm2, "lead7", 5, 1200, &f);
    T_CHECK(f.since_first_ms == 200, "and its keys");

    free(mem);

#undef T_CHECK

    return fails == 0;
}


/* the first rule whose pattern the user agent holds, the slow way */
static const char *
naive_ua(const char *ua, size_t len, unsigned *cls)
{
    char         lc[OIE_CLASSIFY_UA_MAX + 1];
    size_t       i, n;
    unsigned     r;
    const char  *pat, *reason;

    n = len < OIE_CLASSIFY_UA_MAX ? len : OIE_CLASSIFY_UA_MAX;

    for (i = 0; i < n; i++) {
        lc[i] = (ua[i] >= 'A' && ua[i] <= 'Z') ? (char) (ua[i] | 0x20)
                                               : ua[i];
    }

    lc[n] = '\0';

    for (r = 0; (pat = oie_classify_ua_rule(r, cls, &reason)) != NULL; r++) {
        if (reason && strstr(lc, pat)) {
            return reason;
        }
    }

    return NULL;
}


static uint64_t  rng = 0x2545f4914f6cdd1dULL;

static uint64_t
next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}


/* the fast search agrees with the slow one on strings made of pieces of
 * the patterns, in random case, between random bytes */
static int
ua_search_agrees(void)
{
    char         ua[1400];
    size_t       n, j, k, len, nrules;
    unsigned     i, c1, c2;
    const char  *pat, *a, *b, *reason;

    for (nrules = 0; oie_classify_ua_rule(nrules, NULL, NULL); nrules++) {
        /* void */
    }

    /* each pattern: at least 4 bytes, lower case; found in upper case */
    for (i = 0; (pat = oie_classify_ua_rule(i, &c1, &reason)); i++) {
        len = strlen(pat);

        for (k = 0; k < len; k++) {
            if (pat[k] >= 'A' && pat[k] <= 'Z') {
                break;
            }
        }

        if (len < 4 || k < len) {
            printf("# rule %u \"%s\": shorter than 4 or not lower case\n", i,
                   pat);
            return 0;
        }

        snprintf(ua, sizeof(ua), "Xx %s yY", pat);

        for (k = 0; ua[k]; k++) {
            if (ua[k] >= 'a' && ua[k] <= 'z') {
                ua[k] = (char) (ua[k] - 32);
            }
        }

        a = oie_classify_ua(ua, strlen(ua), &c1);
        b = naive_ua(ua, strlen(ua), &c2);

        if (reason && (a == NULL || a != b || c1 != c2)) {
            printf("# rule %u \"%s\" not found in \"%s\"\n", i, pat, ua);
            return 0;
        }
    }

    for (i = 0; i < 20000; i++) {
        n = next_rand() % 1300;

        for (k = 0; k < n; /* void */ ) {
            if (next_rand() % 4 == 0) {
                pat = oie_classify_ua_rule((unsigned) (next_rand() % nrules),
                                           NULL, NULL);
                len = strlen(pat);

                /* a whole pattern, or a piece of one */
                if (next_rand() & 1) {
                    len = 1 + next_rand() % len;
                }

                for (j = 0; j < len && k < n; j++, k++) {
                    ua[k] = (char) ((next_rand() & 1)
                                    && pat[j] >= 'a' && pat[j] <= 'z'
                                    ? pat[j] - 32 : pat[j]);
                }

            } else {
                ua[k++] = (char) (1 + next_rand() % 255);
            }
        }

        a = oie_classify_ua(ua, n, &c1);
        b = naive_ua(ua, n, &c2);

        if (a != b || (a && c1 != c2)) {
            printf("# string %u: fast %s, slow %s\n", i, a ? a : "-",
                   b ? b : "-");
            return 0;
        }
    }

    return 1;
}


/* what the cache says is what matching says, through hits, misses and
 * evictions, for user agents of every length around the cache's limit */
static oie_ua_cache_t  ua_cache;

static int
ua_cache_agrees(unsigned count, unsigned passes, uint64_t *hits)
{
    static char        uas[3000][300];
    static size_t      lens[3000];
    unsigned           i, p, k, nrules;
    oie_classify_in_t  a, b;

    for (nrules = 0; oie_classify_ua_rule(nrules, NULL, NULL); nrules++) {
        /* void */
    }

    for (i = 0; i < count; i++) {
        lens[i] = i < 6 ? OIE_UA_CACHE_LEN - 3 + i : 1 + next_rand() % 299;

        for (k = 0; k < lens[i]; k++) {
            uas[i][k] = (char) (32 + next_rand() % 95);
        }

        /* most of them carry a rule or the browser marker somewhere */
        if (next_rand() % 4) {
            const char  *pat;
            size_t       n, at;

            pat = oie_classify_ua_rule((unsigned) (next_rand() % nrules),
                                       NULL, NULL);
            n = strlen(pat);

            if (n <= lens[i]) {
                at = next_rand() % (lens[i] - n + 1);
                memcpy(&uas[i][at], pat, n);
            }
        }
    }

    memset(&ua_cache, 0, sizeof(ua_cache));

    for (p = 0; p < passes; p++) {
        for (i = 0; i < count; i++) {
            memset(&a, 0, sizeof(a));
            a.user_agent.data = uas[i];
            a.user_agent.len = lens[i];
            b = a;

            oie_classify_memo_ua(&a, &ua_cache);
            oie_classify_memo_ua(&b, NULL);

            if (!a.ua_memo || a.ua_rule != b.ua_rule
                || a.ua_browser != b.ua_browser)
            {
                printf("# pass %u, user agent %u (%zu bytes): cached %d/%u, "
                       "matched %d/%u\n", p, i, lens[i], a.ua_rule,
                       a.ua_browser, b.ua_rule, b.ua_browser);
                return 0;
            }
        }
    }

    *hits = ua_cache.hits;

    return 1;
}


static void
bench(void)
{
    char                 json[OIE_CLASSIFY_JSON_MAX];
    void                *mem;
    size_t               size;
    unsigned             i, n;
    double               s;
    oie_timing_t        *tm;
    struct timespec      t0, t1;
    oie_classify_in_t    in;
    oie_classify_out_t   out;
    oie_timing_facts_t   f;
    unsigned char        a[4];

    size = oie_timing_size(65536);
    mem = aligned_alloc(8, (size + 7) & ~(size_t) 7);
    tm = oie_timing_init(mem, size, 2000, 86400000, 5);

    n = 500000;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    for (i = 0; i < n; i++) {
        char  lead[16];

        a[0] = (unsigned char) (i >> 24 | 80);
        a[1] = (unsigned char) (i >> 16);
        a[2] = (unsigned char) (i >> 8);
        a[3] = (unsigned char) i;

        snprintf(lead, sizeof(lead), "L%u", i & 0xffff);
        oie_timing_hit(tm, lead, strlen(lead), i, &f);

        in = req(OIE_KIND_CLICK, "GET", CHROME, NULL);
        in.net = oie_cidr_lookup4(nets, a);
        in.hits = f.hits;
        in.since_first_ms = f.since_first_ms;

        oie_classify(&conf, &in, &out);
        oie_classify_reasons_json(&out, json, sizeof(json));
    }

    clock_gettime(CLOCK_MONOTONIC, &t1);
    s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;

    printf("# a click (network lookup, timing table, a Chrome user agent, "
           "JSON reasons): %.0f ns\n", s / n * 1e9);

    free(mem);
}


int
main(void)
{
    char                 json[OIE_CLASSIFY_JSON_MAX], err[OIE_CIDR_ERR_MAX];
    char                 longua[3000];
    void                 *mem;
    size_t               size;
    unsigned             cls;
    oie_timing_t        *tm;
    oie_classify_in_t    in;
    oie_classify_out_t   out;
    oie_classify_conf_t  off;

    plan(86);

    nets = oie_cidr_create();

    if (nets == NULL
        || oie_cidr_load_file(nets, shipped_networks(), err, sizeof(err))
           != 0
        || oie_cidr_load_text(nets, "test.txt",
                              "198.18.0.0/15 probable test-probable\n", 36,
                              err, sizeof(err)) != 0)
    {
        printf("Bail out! %s\n", err);
        return 1;
    }

    oie_classify_conf_init(&conf);

    /* people */

    in = req(OIE_KIND_CLICK, "GET", CHROME, "198.51.100.20");
    ok(is(&in, "human", "[]"), "Chrome from a residential address: human");
    ok(ua_is(OIE_KIND_CLICK, FIREFOX, "human", "[]")
       && ua_is(OIE_KIND_CLICK, SAFARI_IOS, "human", "[]")
       && ua_is(OIE_KIND_CLICK, EDGE, "human", "[]"),
       "Firefox, iPhone Safari, Edge: human");
    ok(ua_is(OIE_KIND_CLICK, "Mozilla/5.0 (Linux; Android 9; CUBOT X19 "
             "Build/PPR1.180610.011) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/120.0.0.0 Mobile Safari/537.36", "human", "[]"),
       "a CUBOT phone is not a bot");
    ok(ua_is(OIE_KIND_CLICK, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) "
             "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 "
             "YaBrowser/24.4.0.0 Safari/537.36", "human", "[]"),
       "Yandex Browser is not Yandex's crawler");
    ok(ua_is(OIE_KIND_CLICK, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like "
             "Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
             "Mobile/15E148 [LinkedInApp]/9.29.1", "human", "[]")
       && ua_is(OIE_KIND_CLICK, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 "
                "like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                "Mobile/15E148 [FBAN/FBIOS;FBAV/450.0.0.38.108]", "human",
                "[]"),
       "in-app browsers of LinkedIn and Facebook are people");
    ok(ua_is(OIE_KIND_OPEN, "Microsoft Office/16.0 (Windows NT 10.0; "
             "Microsoft Outlook 16.0.17328; Pro)", "human", "[]"),
       "an open from Outlook for Windows: human");
    in = req(OIE_KIND_PAGE, "POST", CHROME, "2001:db8::1");
    ok(is(&in, "human", "[]"), "the pixel's POST from a browser: human");
    in = req(OIE_KIND_PAGE, "OPTIONS", CHROME, "198.51.100.1");
    ok(is(&in, "human", "[]"), "the pixel's CORS preflight: human");

    /* scanner networks */

    in = req(OIE_KIND_CLICK, "GET", CHROME, "40.107.22.15");
    ok(is(&in, "scanner", "[\"net:microsoft-eop:certain\"]"),
       "an EOP address with a browser user agent: scanner");
    in = req(OIE_KIND_CLICK, "GET", CHROME, "2a01:111:f403:c100::5");
    ok(is(&in, "scanner", "[\"net:microsoft-eop:certain\"]"),
       "an EOP IPv6 address: scanner");
    in = req(OIE_KIND_CLICK, "GET", CHROME, "::ffff:104.47.3.9");
    ok(is(&in, "scanner", "[\"net:microsoft-eop:certain\"]"),
       "an IPv4-mapped EOP address: scanner");
    in = req(OIE_KIND_OPEN, "GET", CHROME, "205.139.110.40");
    ok(is(&in, "scanner", "[\"net:mimecast:certain\"]"),
       "an open from Mimecast: scanner");
    in = req(OIE_KIND_CLICK, "GET", CHROME, "209.222.81.3");
    ok(is(&in, "scanner", "[\"net:barracuda:certain\"]"),
       "a click from Barracuda: scanner");

    in = req(OIE_KIND_CLICK, "GET", CHROME, "198.18.1.1");
    ok(is(&in, "unknown", "[\"net:test-probable:probable\"]"),
       "a probable network alone: unknown, never human");
    in = req(OIE_KIND_CLICK, "HEAD", CHROME, "198.18.1.1");
    ok(is(&in, "scanner", "[\"method:head\",\"net:test-probable:probable\"]"),
       "a probable network and a HEAD: scanner");
    in = req(OIE_KIND_CLICK, "GET", "Java/1.8.0_292", "67.231.150.1");
    ok(is(&in, "scanner",
          "[\"ua:http-client\",\"net:proofpoint:probable\"]"),
       "a probable network and a library user agent: scanner");
    in = req(OIE_KIND_CLICK, "GET", "LinkScan", "198.18.0.9");
    ok(is(&in, "scanner",
          "[\"ua:non-browser\",\"net:test-probable:probable\"]"),
       "a probable network and a non-browser user agent: scanner");

    /* methods */

    in = req(OIE_KIND_CLICK, "HEAD", CHROME, "198.51.100.20");
    ok(is(&in, "bot", "[\"method:head\"]"), "a HEAD to a link: bot");
    in = req(OIE_KIND_OPEN, "HEAD", NULL, "198.51.100.20");
    ok(is(&in, "bot", "[\"method:head\",\"ua:missing\"]"),
       "a HEAD to the open pixel without a user agent: bot");
    in = req(OIE_KIND_CLICK, "HEAD", CHROME, "40.92.4.4");
    ok(is(&in, "scanner", "[\"method:head\",\"net:microsoft-eop:certain\"]"),
       "a HEAD from EOP: scanner, both reasons");
    in = req(OIE_KIND_CLICK, "OPTIONS", CHROME, NULL);
    ok(is(&in, "bot", "[\"method:options\"]"), "OPTIONS to a link: bot");
    in = req(OIE_KIND_CLICK, "PROPFIND", CHROME, NULL);
    ok(is(&in, "bot", "[\"method:other\"]"), "another method: bot");
    in = req(OIE_KIND_PAGE, "HEAD", CHROME, NULL);
    ok(is(&in, "bot", "[\"method:head\"]"), "a HEAD to /t: bot");
    in = req(OIE_KIND_CLICK, "get", CHROME, NULL);
    ok(is(&in, "bot", "[\"method:other\"]"), "methods are case-sensitive");

    /* prefetch headers */

    in = req(OIE_KIND_CLICK, "GET", CHROME, NULL);
    in.sec_purpose = str("prefetch");
    ok(is(&in, "prefetch", "[\"prefetch-header\"]"), "Sec-Purpose: prefetch");
    in.sec_purpose = str("prefetch;prerender");
    ok(is(&in, "prefetch", "[\"prefetch-header\"]"),
       "Sec-Purpose: prefetch;prerender");
    in.sec_purpose = str(NULL);
    in.purpose = str("Prefetch");
    ok(is(&in, "prefetch", "[\"prefetch-header\"]"),
       "Purpose: Prefetch (any case)");
    in.purpose = str(NULL);
    in.x_moz = str("prefetch");
    ok(is(&in, "prefetch", "[\"prefetch-header\"]"), "X-Moz: prefetch");
    in.x_moz = str(NULL);
    in.x_purpose = str("preview");
    ok(is(&in, "prefetch", "[\"prefetch-header\"]"), "X-Purpose: preview");
    in.x_purpose = str("something-else");
    ok(is(&in, "human", "[]"), "another X-Purpose value is not a prefetch");
    in.x_purpose = str("");
    ok(is(&in, "human", "[]"), "an empty header is not a prefetch");

    /* user agents */

    ok(ua_is(OIE_KIND_CLICK, "Mozilla/5.0 (compatible; Googlebot/2.1; "
             "+http://www.google.com/bot.html)", "bot", "[\"ua:crawler\"]"),
       "Googlebot");
    ok(ua_is(OIE_KIND_CLICK, "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like "
             "Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
             " Chrome/116.0.1938.76 Safari/537.36", "bot",
             "[\"ua:crawler\"]"), "bingbot");
    ok(ua_is(OIE_KIND_CLICK, "MOZILLA/5.0 (COMPATIBLE; GOOGLEBOT/2.1)", "bot",
             "[\"ua:crawler\"]"), "user agents match in any case");
    ok(ua_is(OIE_KIND_CLICK, "Mozilla/5.0 (compatible; SomeNewCrawler/0.1)",
             "bot", "[\"ua:crawler\"]")
       && ua_is(OIE_KIND_CLICK, "Mozilla/5.0 (compatible; ExampleBot/1.0; "
                "+https://example.com/bot)", "bot", "[\"ua:crawler\"]"),
       "unnamed crawlers by their words");
    ok(ua_is(OIE_KIND_CLICK, HEADLESS, "bot", "[\"ua:headless-chrome\"]"),
       "HeadlessChrome");
    ok(ua_is(OIE_KIND_CLICK, "Mozilla/5.0 (Unknown; Linux x86_64) "
             "AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 "
             "Safari/538.1", "bot", "[\"ua:headless\"]"), "PhantomJS");
    ok(ua_is(OIE_KIND_CLICK, "curl/7.88.1", "bot", "[\"ua:http-client\"]")
       && ua_is(OIE_KIND_CLICK, "python-requests/2.31.0", "bot",
                "[\"ua:http-client\"]")
       && ua_is(OIE_KIND_CLICK, "Go-http-client/1.1", "bot",
                "[\"ua:http-client\"]")
       && ua_is(OIE_KIND_CLICK, "Wget/1.21.3", "bot", "[\"ua:http-client\"]"),
       "curl, python-requests, Go, Wget");
    ok(ua_is(OIE_KIND_CLICK, "Slackbot-LinkExpanding 1.0 "
             "(+https://api.slack.com/robots)", "bot",
             "[\"ua:link-preview\"]")
       && ua_is(OIE_KIND_CLICK, "facebookexternalhit/1.1 "
                "(+http://www.facebook.com/externalhit_uatext.php)", "bot",
                "[\"ua:link-preview\"]")
       && ua_is(OIE_KIND_CLICK, "Mozilla/5.0 (Windows NT 6.1; WOW64) "
                "SkypeUriPreview Preview/0.5", "bot",
                "[\"ua:link-preview\"]"),
       "Slack, Facebook and Teams link previews");
    ok(ua_is(OIE_KIND_CLICK, "Mozilla/5.0 (compatible; UptimeRobot/2.0; "
             "http://www.uptimerobot.com/)", "bot", "[\"ua:link-checker\"]"),
       "a monitor");
    ok(ua_is(OIE_KIND_CLICK, "Microsoft Office Existence Discovery",
             "prefetch", "[\"ua:office-discovery\"]")
       && ua_is(OIE_KIND_CLICK, "Mozilla/4.0 (compatible; ms-office; "
                "MSOffice 16)", "prefetch", "[\"ua:office-discovery\"]"),
       "Office's link discovery: prefetch");
    ok(ua_is(OIE_KIND_OPEN, "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko "
             "Firefox/11.0 (via ggpht.com GoogleImageProxy)", "prefetch",
             "[\"ua:image-proxy\"]")
       && ua_is(OIE_KIND_OPEN, "YahooMailProxy; "
                "https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
                "prefetch", "[\"ua:image-proxy\"]"),
       "opens through Gmail's and Yahoo's image proxies: prefetch");
    ok(ua_is(OIE_KIND_CLICK, "BarracudaCentral/1.0", "scanner",
             "[\"ua:mail-scanner\"]")
       && ua_is(OIE_KIND_CLICK, "Mozilla/5.0 Proofpoint URL Defense", "scanner",
                "[\"ua:mail-scanner\"]")
       && ua_is(OIE_KIND_CLICK, "Mimecast-LinkScan/1.0", "scanner",
                "[\"ua:mail-scanner\"]"),
       "gateways that name themselves: scanner");
    ok(ua_is(OIE_KIND_CLICK, "MyApp/2.0 (Android)", "unknown",
             "[\"ua:non-browser\"]"),
       "a click from something that is not a browser: unknown");
    ok(ua_is(OIE_KIND_OPEN, "MyMailApp/2.0", "human", "[]"),
       "an open from a mail app: human");
    in = req(OIE_KIND_CLICK, "GET", NULL, NULL);
    ok(is(&in, "bot", "[\"ua:missing\"]"), "a click without a user agent: bot");
    in = req(OIE_KIND_CLICK, "GET", " \t ", NULL);
    ok(is(&in, "bot", "[\"ua:missing\"]"), "a blank user agent is missing");
    in = req(OIE_KIND_OPEN, "GET", NULL, NULL);
    ok(is(&in, "unknown", "[\"ua:missing\"]"),
       "an open without a user agent: unknown");
    in = req(OIE_KIND_PAGE, "POST", NULL, NULL);
    ok(is(&in, "bot", "[\"ua:missing\"]"), "a page request without one: bot");

    ok(ua_is(OIE_KIND_CLICK, "x curl/", "bot", "[\"ua:http-client\"]"),
       "a pattern at the very end");
    ok(ua_is(OIE_KIND_CLICK, "curl", "unknown", "[\"ua:non-browser\"]"),
       "a pattern cut by the end does not match");
    ok(ua_is(OIE_KIND_CLICK, "Mozilla/5.0 (compatible; Googlebot/2.1) "
             "python-requests/2.0", "bot", "[\"ua:crawler\"]"),
       "of several rules, the earlier in the list (not in the string) wins");

    memset(longua, 'a', sizeof(longua));
    memcpy(longua, "Mozilla/5.0 ", 12);
    memcpy(longua + 1000, "Googlebot", 9);
    longua[2000] = '\0';
    ok(ua_is(OIE_KIND_CLICK, longua, "bot", "[\"ua:crawler\"]"),
       "a long user agent: a pattern within its first 1024 bytes");
    memcpy(longua + 1000, "aaaaaaaaa", 9);
    memcpy(longua + 1020, "Googlebot", 9);
    ok(ua_is(OIE_KIND_CLICK, longua, "human", "[]"),
       "past the first 1024 bytes nothing is looked at");

    ok(oie_classify_ua("HeadlessChrome", 14, &cls) != NULL
       && strcmp(oie_classify_ua("HeadlessChrome", 14, &cls),
                 "ua:headless-chrome") == 0 && cls == OIE_CLASS_BOT
       && oie_classify_ua(CHROME, strlen(CHROME), &cls) == NULL
       && oie_classify_ua(NULL, 0, &cls) == NULL,
       "oie_classify_ua");

    /* timing facts */

    in = req(OIE_KIND_CLICK, "GET", CHROME, "198.51.100.20");
    in.since_first_ms = 1500;
    ok(is(&in, "scanner", "[\"timing:too-fast\"]"),
       "a click 1.5 s after the message's first hit: scanner");
    in.since_first_ms = 2000;
    ok(is(&in, "human", "[]"), "2 s after: human");
    in.since_first_ms = 0;
    ok(is(&in, "scanner", "[\"timing:too-fast\"]"), "at the same ms: scanner");
    in.since_first_ms = -1;
    in.hits = 3;
    ok(is(&in, "scanner", "[\"timing:burst\"]"),
       "3 hits of the lead in the window: scanner");
    in.hits = 2;
    ok(is(&in, "human", "[]"), "2 hits (a double click): human");
    in.hits = 1;
    in.campaign_hits = 10;
    ok(is(&in, "scanner", "[\"timing:campaign-burst\"]"),
       "10 hits of the campaign in the window: scanner");

    in = req(OIE_KIND_OPEN, "GET", CHROME, NULL);
    in.since_first_ms = 100;
    ok(is(&in, "human", "[]"), "too-fast is for clicks, not opens");
    in.hits = 3;
    ok(is(&in, "scanner", "[\"timing:burst\"]"), "bursts of opens count");

    in = req(OIE_KIND_PAGE, "POST", CHROME, NULL);
    in.hits = 9;
    ok(is(&in, "human", "[]"), "9 page requests in the window: human");
    in.hits = 10;
    ok(is(&in, "bot", "[\"timing:burst\"]"), "10 page requests: bot");
    in.hits = 1;
    in.webdriver = 1;
    ok(is(&in, "bot", "[\"webdriver\"]"), "navigator.webdriver: bot");

    off = conf;
    off.too_fast_ms = 0;
    off.burst = 0;
    off.campaign_burst = 0;
    off.page_burst = 0;
    in = req(OIE_KIND_CLICK, "GET", CHROME, NULL);
    in.since_first_ms = 10;
    in.hits = 50;
    in.campaign_hits = 500;
    ok(oie_classify(&off, &in, &out) == 0 && out.cls == OIE_CLASS_HUMAN
       && out.nreasons == 0, "each timing rule can be turned off");
    ok(oie_classify(NULL, &in, &out) == 0 && out.cls == OIE_CLASS_SCANNER
       && out.nreasons == 3, "no configuration: the defaults");

    /* precedence and order */

    in = req(OIE_KIND_CLICK, "GET", "Mozilla/5.0 (compatible; Googlebot/2.1)",
             NULL);
    in.sec_purpose = str("prefetch");
    ok(is(&in, "bot", "[\"prefetch-header\",\"ua:crawler\"]"),
       "a crawler that prefetches: bot");
    in = req(OIE_KIND_CLICK, "GET", "Mimecast", NULL);
    in.sec_purpose = str("prefetch");
    ok(is(&in, "scanner", "[\"prefetch-header\",\"ua:mail-scanner\"]"),
       "a gateway that prefetches: scanner");
    in = req(OIE_KIND_OPEN, "HEAD", "GoogleImageProxy", NULL);
    ok(is(&in, "bot", "[\"method:head\",\"ua:image-proxy\"]"),
       "bot before prefetch");

    in = req(OIE_KIND_CLICK, "HEAD", "curl/8.0", "40.107.1.1");
    in.purpose = str("prefetch");
    in.hits = 4;
    in.campaign_hits = 12;
    in.since_first_ms = 5;
    in.webdriver = 1;
    ok(is(&in, "scanner", "[\"method:head\",\"prefetch-header\","
          "\"ua:http-client\",\"net:microsoft-eop:certain\","
          "\"timing:burst\",\"timing:campaign-burst\",\"timing:too-fast\","
          "\"webdriver\"]"), "every reason, in order");

    /* JSON and bad input */

    ok(oie_classify(&conf, &in, &out) == 0
       && oie_classify_reasons_json(&out, json, 20) == -1
       && oie_classify_reasons_json(&out, json, 2) == -1
       && oie_classify_reasons_json(NULL, json, sizeof(json)) == -1,
       "JSON: no room is an error");
    out.nreasons = 0;
    ok(oie_classify_reasons_json(&out, json, 3) == 2
       && strcmp(json, "[]") == 0, "JSON: no reasons");

    in.kind = 0;
    ok(oie_classify(&conf, &in, &out) == -1 && out.cls == OIE_CLASS_UNKNOWN
       && out.nreasons == 1 && strcmp(out.reasons[0], "invalid-input") == 0,
       "an unknown kind: an error, and unknown");
    ok(oie_classify(&conf, NULL, &out) == -1
       && out.cls == OIE_CLASS_UNKNOWN
       && oie_classify(&conf, &in, NULL) == -1,
       "NULL input: an error, not a crash");
    ok(oie_class_name(OIE_CLASS_SCANNER) != NULL
       && strcmp(oie_class_name(OIE_CLASS_PREFETCH), "prefetch") == 0
       && oie_class_name(5) == NULL, "class names");

    /* scripted patterns over the hit table */

    size = oie_timing_size(1024);
    mem = aligned_alloc(8, (size + 7) & ~(size_t) 7);
    tm = oie_timing_init(mem, size, 2000, 86400000, 1234);

    /* EOP detonates every link of the message within 2 s */
    ok(strcmp(click(tm, "aB3dE5f", 100000, "40.107.5.5", CHROME, json,
                    sizeof(json)), "scanner") == 0
       && strcmp(json, "[\"net:microsoft-eop:certain\"]") == 0,
       "EOP burst: the first link");
    ok(strcmp(click(tm, "aB3dE5f", 100700, "40.107.5.6", CHROME, json,
                    sizeof(json)), "scanner") == 0
       && strcmp(json, "[\"net:microsoft-eop:certain\","
                       "\"timing:too-fast\"]") == 0,
       "EOP burst: the second, too fast");
    ok(strcmp(click(tm, "aB3dE5f", 101400, "40.107.5.7", CHROME, json,
                    sizeof(json)), "scanner") == 0
       && strcmp(json, "[\"net:microsoft-eop:certain\",\"timing:burst\","
                       "\"timing:too-fast\"]") == 0,
       "EOP burst: the third, a burst");

    /* the person clicks a minute later from home: both stay, as they are */
    ok(strcmp(click(tm, "aB3dE5f", 160000, "198.51.100.77", CHROME, json,
                    sizeof(json)), "human") == 0
       && strcmp(json, "[]") == 0,
       "a real click after the scanner's, from another address: human");

    /* an unlisted scanner: the timing alone gives it away */
    ok(strcmp(click(tm, "Zz9Yy8x", 200000, "192.0.2.44", CHROME, json,
                    sizeof(json)), "human") == 0
       && strcmp(click(tm, "Zz9Yy8x", 200300, "192.0.2.44", CHROME, json,
                       sizeof(json)), "scanner") == 0
       && strcmp(json, "[\"timing:too-fast\"]") == 0,
       "an unlisted scanner's second hit within 2 s: scanner");

    free(mem);

    ok(ua_search_agrees(), "the user agent search agrees with a plain "
       "substring search: every rule, 20000 random strings");

    {
        uint64_t  hits;

        ok(ua_cache_agrees(200, 3, &hits) && hits >= 100,
           "the user agent cache: 200 user agents three times, the same "
           "answers as matching, and hits");
        printf("# the cache's hits in the two later passes: %llu of 400\n",
               (unsigned long long) hits);

        ok(ua_cache_agrees(3000, 2, &hits),
           "the user agent cache: 3000 user agents twice, through "
           "evictions, the same answers as matching");
    }

    ok(timing_tests(), "the hit table: windows, runs, idle, clock steps, "
       "eviction, attach");

    bench();

    oie_cidr_free(nets);

    return done_testing();
}
