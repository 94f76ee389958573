/*
 * Traffic classification (see oie_classify.h for the classes, the rules
 * and their order) and the hit-timing table.
 *
 * User agents are matched against a list of lower-case substrings.  The
 * list is long and the check runs on every click, so it is not searched
 * pattern by pattern: the first four bytes of every pattern go into a
 * small hash table, and one pass over the lower-cased user agent looks up
 * the four bytes at each position; only the (rare) hits are compared in
 * full.  Rules earlier in the list are more specific and win.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE                     /* memmem() */
#endif

#include <string.h>

#include "oie_classify.h"
#include "oie_hash.h"


typedef struct {
    const char         *pattern;        /* lower case, >= 4 bytes */
    unsigned            cls;
    const char         *reason;
} oie_ua_rule_t;


#define OIE_UA_SCANNER      OIE_CLASS_SCANNER, "ua:mail-scanner"
#define OIE_UA_HEADLESS     OIE_CLASS_BOT, "ua:headless"
#define OIE_UA_OFFICE       OIE_CLASS_PREFETCH, "ua:office-discovery"
#define OIE_UA_PROXY        OIE_CLASS_PREFETCH, "ua:image-proxy"
#define OIE_UA_PREVIEW      OIE_CLASS_BOT, "ua:link-preview"
#define OIE_UA_CHECKER      OIE_CLASS_BOT, "ua:link-checker"
#define OIE_UA_CRAWLER      OIE_CLASS_BOT, "ua:crawler"
#define OIE_UA_CLIENT       OIE_CLASS_BOT, "ua:http-client"


static const oie_ua_rule_t  oie_ua_rules[] = {

    /* not a rule: browsers (and much else) call themselves so */
    { "mozilla/", OIE_CLASS_HUMAN, NULL },

    /* email security gateways that say who they are */
    { "barracuda", OIE_UA_SCANNER },
    { "proofpoint", OIE_UA_SCANNER },
    { "mimecast", OIE_UA_SCANNER },
    { "ironport", OIE_UA_SCANNER },

    /* browsers driven by programs */
    { "headlesschrome", OIE_CLASS_BOT, "ua:headless-chrome" },
    { "phantomjs", OIE_UA_HEADLESS },
    { "slimerjs", OIE_UA_HEADLESS },
    { "htmlunit", OIE_UA_HEADLESS },
    { "selenium", OIE_UA_HEADLESS },
    { "puppeteer", OIE_UA_HEADLESS },
    { "playwright", OIE_UA_HEADLESS },

    /* fetched for a person: Office's link check, mail image proxies */
    { "microsoft office existence discovery", OIE_UA_OFFICE },
    { "ms-office", OIE_UA_OFFICE },
    { "googleimageproxy", OIE_UA_PROXY },
    { "ggpht.com", OIE_UA_PROXY },
    { "yahoomailproxy", OIE_UA_PROXY },

    /* link previews in chats and social networks */
    { "slackbot", OIE_UA_PREVIEW },
    { "slack-imgproxy", OIE_UA_PREVIEW },
    { "facebookexternalhit", OIE_UA_PREVIEW },
    { "facebookcatalog", OIE_UA_PREVIEW },
    { "twitterbot", OIE_UA_PREVIEW },
    { "linkedinbot", OIE_UA_PREVIEW },
    { "whatsapp", OIE_UA_PREVIEW },
    { "telegrambot", OIE_UA_PREVIEW },
    { "discordbot", OIE_UA_PREVIEW },
    { "skypeuripreview", OIE_UA_PREVIEW },
    { "bingpreview", OIE_UA_PREVIEW },
    { "pinterestbot", OIE_UA_PREVIEW },
    { "redditbot", OIE_UA_PREVIEW },
    { "embedly", OIE_UA_PREVIEW },
    { "iframely", OIE_UA_PREVIEW },
    { "vkshare", OIE_UA_PREVIEW },
    { "mastodon/", OIE_UA_PREVIEW },

    /* link checkers and uptime monitors */
    { "w3c-checklink", OIE_UA_CHECKER },
    { "linkchecker", OIE_UA_CHECKER },
    { "xenu", OIE_UA_CHECKER },
    { "uptimerobot", OIE_UA_CHECKER },
    { "pingdom", OIE_UA_CHECKER },
    { "statuscake", OIE_UA_CHECKER },
    { "site24x7", OIE_UA_CHECKER },
    { "check_http", OIE_UA_CHECKER },
    { "newrelicpinger", OIE_UA_CHECKER },
    { "updown.io", OIE_UA_CHECKER },

    /* search engines, SEO and AI crawlers */
    { "googlebot", OIE_UA_CRAWLER },
    { "google-inspectiontool", OIE_UA_CRAWLER },
    { "adsbot-google", OIE_UA_CRAWLER },
    { "mediapartners-google", OIE_UA_CRAWLER },
    { "apis-google", OIE_UA_CRAWLER },
    { "feedfetcher-google", OIE_UA_CRAWLER },
    { "storebot-google", OIE_UA_CRAWLER },
    { "bingbot", OIE_UA_CRAWLER },
    { "msnbot", OIE_UA_CRAWLER },
    { "adidxbot", OIE_UA_CRAWLER },
    { "yandex.com/bots", OIE_UA_CRAWLER },
    { "baiduspider", OIE_UA_CRAWLER },
    { "duckduckbot", OIE_UA_CRAWLER },
    { "slurp", OIE_UA_CRAWLER },
    { "applebot", OIE_UA_CRAWLER },
    { "sogou", OIE_UA_CRAWLER },
    { "exabot", OIE_UA_CRAWLER },
    { "ahrefsbot", OIE_UA_CRAWLER },
    { "semrushbot", OIE_UA_CRAWLER },
    { "mj12bot", OIE_UA_CRAWLER },
    { "dotbot", OIE_UA_CRAWLER },
    { "petalbot", OIE_UA_CRAWLER },
    { "bytespider", OIE_UA_CRAWLER },
    { "gptbot", OIE_UA_CRAWLER },
    { "chatgpt-user", OIE_UA_CRAWLER },
    { "oai-searchbot", OIE_UA_CRAWLER },
    { "ccbot", OIE_UA_CRAWLER },
    { "claudebot", OIE_UA_CRAWLER },
    { "perplexitybot", OIE_UA_CRAWLER },
    { "amazonbot", OIE_UA_CRAWLER },
    { "facebookbot", OIE_UA_CRAWLER },
    { "meta-externalagent", OIE_UA_CRAWLER },
    { "seznambot", OIE_UA_CRAWLER },
    { "ia_archiver", OIE_UA_CRAWLER },
    { "archive.org_bot", OIE_UA_CRAWLER },
    { "dataforseobot", OIE_UA_CRAWLER },
    { "blexbot", OIE_UA_CRAWLER },
    { "serpstatbot", OIE_UA_CRAWLER },
    { "zoominfobot", OIE_UA_CRAWLER },
    { "qwantify", OIE_UA_CRAWLER },
    { "coccocbot", OIE_UA_CRAWLER },

    /* HTTP libraries and command-line tools */
    { "curl/", OIE_UA_CLIENT },
    { "libcurl", OIE_UA_CLIENT },
    { "wget/", OIE_UA_CLIENT },
    { "python-requests", OIE_UA_CLIENT },
    { "python-urllib", OIE_UA_CLIENT },
    { "python-httpx", OIE_UA_CLIENT },
    { "aiohttp", OIE_UA_CLIENT },
    { "go-http-client", OIE_UA_CLIENT },
    { "java/", OIE_UA_CLIENT },
    { "okhttp", OIE_UA_CLIENT },
    { "apache-httpclient", OIE_UA_CLIENT },
    { "commons-httpclient", OIE_UA_CLIENT },
    { "libwww-perl", OIE_UA_CLIENT },
    { "lwp::", OIE_UA_CLIENT },
    { "http-tiny", OIE_UA_CLIENT },
    { "axios/", OIE_UA_CLIENT },
    { "node-fetch", OIE_UA_CLIENT },
    { "undici", OIE_UA_CLIENT },
    { "postmanruntime", OIE_UA_CLIENT },
    { "insomnia/", OIE_UA_CLIENT },
    { "scrapy", OIE_UA_CLIENT },
    { "httpie", OIE_UA_CLIENT },
    { "powershell", OIE_UA_CLIENT },
    { "winhttp", OIE_UA_CLIENT },
    { "guzzlehttp", OIE_UA_CLIENT },
    { "faraday", OIE_UA_CLIENT },
    { "rest-client", OIE_UA_CLIENT },
    { "http.rb", OIE_UA_CLIENT },
    { "reqwest", OIE_UA_CLIENT },
    { "dart:io", OIE_UA_CLIENT },

    /* what is left that says it is a robot */
    { "headless", OIE_UA_HEADLESS },
    { "crawler", OIE_UA_CRAWLER },
    { "spider", OIE_UA_CRAWLER },
    { "bot/", OIE_UA_CRAWLER },
    { "bot;", OIE_UA_CRAWLER },
    { "bot)", OIE_UA_CRAWLER },
    { "+http", OIE_UA_CRAWLER }
};

#define OIE_UA_NRULES                                                        \
    (sizeof(oie_ua_rules) / sizeof(oie_ua_rules[0]))

#define OIE_UA_BUCKETS      256
#define OIE_UA_PAIR(a, b)   ((((unsigned) (a) << 4) ^ (unsigned) (b)) & 4095)
#define OIE_UA_LOWER(c)     oie_ua_lower[(unsigned char) (c)]
#define OIE_UA_WORD(a, b, c, d)                                              \
    ((uint32_t) (a) | (uint32_t) (b) << 8 | (uint32_t) (c) << 16            \
     | (uint32_t) (d) << 24)

/* rule indexes + 1 are kept in bytes */
typedef char  oie_ua_nrules_fit[OIE_UA_NRULES < 255 ? 1 : -1];


/*
 * The search is Wu-Manber's: every pattern has at least 4 bytes, so a
 * window of 4 bytes slides over the user agent, and the last 2 bytes of
 * the window say how far it may move without passing over the start of a
 * pattern (3 for pairs no pattern has in its first 4 bytes, which is most
 * of them).  Where it may not move, the 4 bytes are looked up in a hash
 * table of the patterns' first 4 bytes: heads and chains of rule indexes
 * + 1 (0 ends a chain).  Pairs are hashed into the shift table; a
 * collision only makes a shift smaller.
 */
static unsigned char  oie_ua_lower[256];
static unsigned char  oie_ua_shift[4096];
static unsigned char  oie_ua_head[OIE_UA_BUCKETS];
static unsigned char  oie_ua_next[OIE_UA_NRULES];
static uint32_t       oie_ua_first[OIE_UA_NRULES];
static unsigned char  oie_ua_len[OIE_UA_NRULES];
static unsigned       oie_ua_ready;


static const char  *oie_class_names[] = {
    "human", "unknown", "prefetch", "bot", "scanner"
};


typedef struct {
    oie_classify_out_t     *out;
    unsigned                others;     /* reasons besides the network */
} oie_classify_acc_t;


static void oie_classify_add(oie_classify_acc_t *acc, const char *reason,
    unsigned cls, unsigned other);
static int oie_classify_str_is(const oie_classify_str_t *s,
    const char *lit);
static int oie_classify_prefetch(const oie_classify_str_t *s);
static int oie_ua_match(const char *ua, size_t len, unsigned *browser);
static unsigned oie_ua_hash(uint32_t w);


void
oie_classify_conf_init(oie_classify_conf_t *conf)
{
    conf->too_fast_ms = OIE_CLASSIFY_TOO_FAST_MS;
    conf->burst = OIE_CLASSIFY_BURST;
    conf->campaign_burst = OIE_CLASSIFY_CAMPAIGN_BURST;
    conf->page_burst = OIE_CLASSIFY_PAGE_BURST;
}


void
oie_classify_init(void)
{
    size_t                i, j, n;
    unsigned              h;
    const unsigned char  *p;

    if (oie_ua_ready) {
        return;
    }

    for (i = 0; i < 256; i++) {
        oie_ua_lower[i] = (unsigned char)
                          ((i >= 'A' && i <= 'Z') ? (i | 0x20) : i);
    }

    memset(oie_ua_shift, 3, sizeof(oie_ua_shift));
    memset(oie_ua_head, 0, sizeof(oie_ua_head));

    /* chained from the last, so each chain runs in list order */
    for (i = OIE_UA_NRULES; i > 0; i--) {
        p = (const unsigned char *) oie_ua_rules[i - 1].pattern;
        n = strlen(oie_ua_rules[i - 1].pattern);

        oie_ua_len[i - 1] = (unsigned char) n;
        oie_ua_first[i - 1] = OIE_UA_WORD(p[0], p[1], p[2], p[3]);

        /* the pair ending at byte j of a pattern: the window may move
         * 3 - j bytes before its end reaches that byte */
        for (j = 1; j < 4; j++) {
            h = OIE_UA_PAIR(p[j - 1], p[j]);

            if (oie_ua_shift[h] > 3 - j) {
                oie_ua_shift[h] = (unsigned char) (3 - j);
            }
        }

        h = oie_ua_hash(oie_ua_first[i - 1]);
        oie_ua_next[i - 1] = oie_ua_head[h];
        oie_ua_head[h] = (unsigned char) i;
    }

    oie_ua_ready = 1;
}


const char *
oie_class_name(unsigned cls)
{
    if (cls >= sizeof(oie_class_names) / sizeof(oie_class_names[0])) {
        return NULL;
    }

    return oie_class_names[cls];
}


int
oie_classify(const oie_classify_conf_t *conf, const oie_classify_in_t *in,
    oie_classify_out_t *out)
{
    int                  rule;
    size_t               i;
    unsigned             browser, page, blank;
    oie_classify_acc_t   acc;
    oie_classify_conf_t  defaults;

    if (out == NULL) {
        return -1;
    }

    out->cls = OIE_CLASS_HUMAN;
    out->nreasons = 0;

    if (in == NULL
        || (in->kind != OIE_KIND_CLICK && in->kind != OIE_KIND_OPEN
            && in->kind != OIE_KIND_PAGE))
    {
        out->cls = OIE_CLASS_UNKNOWN;
        out->reasons[0] = "invalid-input";
        out->nreasons = 1;
        return -1;
    }

    if (conf == NULL) {
        oie_classify_conf_init(&defaults);
        conf = &defaults;
    }

    oie_classify_init();

    acc.out = out;
    acc.others = 0;

    page = (in->kind == OIE_KIND_PAGE);

    /* method: a browser following a link or loading an image sends GET;
     * the pixel sends POST (and its CORS preflight, OPTIONS) */
    if (in->method.data && in->method.len) {

        if (oie_classify_str_is(&in->method, "GET")
            || (page && (oie_classify_str_is(&in->method, "POST")
                         || oie_classify_str_is(&in->method, "OPTIONS"))))
        {
            /* as expected */

        } else if (oie_classify_str_is(&in->method, "HEAD")) {
            oie_classify_add(&acc, "method:head", OIE_CLASS_BOT, 1);

        } else if (oie_classify_str_is(&in->method, "OPTIONS")) {
            oie_classify_add(&acc, "method:options", OIE_CLASS_BOT, 1);

        } else {
            oie_classify_add(&acc, "method:other", OIE_CLASS_BOT, 1);
        }
    }

    if (oie_classify_prefetch(&in->purpose)
        || oie_classify_prefetch(&in->sec_purpose)
        || oie_classify_prefetch(&in->x_moz)
        || oie_classify_prefetch(&in->x_purpose))
    {
        oie_classify_add(&acc, "prefetch-header", OIE_CLASS_PREFETCH, 1);
    }

    /* user agent */
    blank = 1;

    if (in->user_agent.data) {
        for (i = 0; i < in->user_agent.len; i++) {
            if (in->user_agent.data[i] != ' '
                && in->user_agent.data[i] != '\t')
            {
                blank = 0;
                break;
            }
        }
    }

    if (blank) {
        /* mail clients fetching images may send none; browsers always do */
        oie_classify_add(&acc, "ua:missing",
                         in->kind == OIE_KIND_OPEN ? OIE_CLASS_UNKNOWN
                                                   : OIE_CLASS_BOT, 1);

    } else {
        if (in->ua_memo) {
            rule = in->ua_rule;
            browser = in->ua_browser;

        } else {
            rule = oie_ua_match(in->user_agent.data, in->user_agent.len,
                                &browser);
        }

        if (rule >= 0) {
            oie_classify_add(&acc, oie_ua_rules[rule].reason,
                             oie_ua_rules[rule].cls, 1);

        } else if (!browser && in->kind != OIE_KIND_OPEN) {
            oie_classify_add(&acc, "ua:non-browser", OIE_CLASS_UNKNOWN, 1);
        }
    }

    /* the client's network */
    if (in->net) {
        oie_classify_add(&acc, in->net->reason,
                         in->net->confidence == OIE_CIDR_CERTAIN
                         ? OIE_CLASS_SCANNER : OIE_CLASS_UNKNOWN, 0);
    }

    /* timing */
    if (page) {
        if (conf->page_burst && in->hits >= conf->page_burst) {
            oie_classify_add(&acc, "timing:burst", OIE_CLASS_BOT, 1);
        }

    } else {
        if (conf->burst && in->hits >= conf->burst) {
            oie_classify_add(&acc, "timing:burst", OIE_CLASS_SCANNER, 1);
        }

        if (conf->campaign_burst
            && in->campaign_hits >= conf->campaign_burst)
        {
            oie_classify_add(&acc, "timing:campaign-burst",
                             OIE_CLASS_SCANNER, 1);
        }

        if (in->kind == OIE_KIND_CLICK && conf->too_fast_ms > 0
            && in->since_first_ms >= 0
            && in->since_first_ms < conf->too_fast_ms)
        {
            oie_classify_add(&acc, "timing:too-fast", OIE_CLASS_SCANNER, 1);
        }
    }

    if (in->webdriver) {
        oie_classify_add(&acc, "webdriver", OIE_CLASS_BOT, 1);
    }

    /* a probable scanner network and anything else: a scanner */
    if (in->net && in->net->confidence == OIE_CIDR_PROBABLE && acc.others) {
        out->cls = OIE_CLASS_SCANNER;
    }

    return 0;
}


int
oie_classify_reasons_json(const oie_classify_out_t *out, char *buf,
    size_t size)
{
    size_t    n, len;
    unsigned  i;

    if (out == NULL || buf == NULL || size < 3) {
        return -1;
    }

    n = 0;
    buf[n++] = '[';

    for (i = 0; i < out->nreasons && i < OIE_CLASSIFY_MAX_REASONS; i++) {
        len = strlen(out->reasons[i]);

        /* the reasons are ours or labels of a-z A-Z 0-9 . _ - and ":" */
        if (n + len + 3 + 2 > size) {
            return -1;
        }

        if (i) {
            buf[n++] = ',';
        }

        buf[n++] = '"';
        memcpy(buf + n, out->reasons[i], len);
        n += len;
        buf[n++] = '"';
    }

    buf[n++] = ']';
    buf[n] = '\0';

    return (int) n;
}


const char *
oie_classify_ua(const char *ua, size_t len, unsigned *cls)
{
    int       rule;
    unsigned  browser;

    if (ua == NULL) {
        return NULL;
    }

    oie_classify_init();

    rule = oie_ua_match(ua, len, &browser);
    if (rule < 0) {
        return NULL;
    }

    if (cls) {
        *cls = oie_ua_rules[rule].cls;
    }

    return oie_ua_rules[rule].reason;
}


/* a hash of a user agent, 8 bytes a step */
static uint64_t
oie_ua_cache_hash(const char *p, size_t len)
{
    size_t    i;
    uint64_t  h, w;

    h = 0x9e3779b97f4a7c15ULL ^ len;

    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 29;
    }

    if (i < len) {
        w = 0;
        memcpy(&w, p + i, len - i);
        h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
        h ^= h >> 29;
    }

    return h;
}


void
oie_classify_memo_ua(oie_classify_in_t *in, oie_ua_cache_t *cache)
{
    size_t                len;
    uint64_t              h;
    unsigned              i;
    oie_ua_cache_slot_t  *set, *s;

    in->ua_memo = 0;

    if (in->user_agent.data == NULL) {
        return;
    }

    oie_classify_init();

    len = in->user_agent.len;

    if (cache == NULL || len == 0 || len > OIE_UA_CACHE_LEN) {
        in->ua_rule = oie_ua_match(in->user_agent.data, len,
                                   &in->ua_browser);
        in->ua_memo = 1;
        return;
    }

    h = oie_ua_cache_hash(in->user_agent.data, len);
    set = &cache->slot[h % (OIE_UA_CACHE_SLOTS / OIE_UA_CACHE_WAYS)
                       * OIE_UA_CACHE_WAYS];
    s = set;
    cache->clock++;

    for (i = 0; i < OIE_UA_CACHE_WAYS; i++) {
        if (set[i].hash == h && set[i].len == len
            && memcmp(set[i].ua, in->user_agent.data, len) == 0)
        {
            set[i].used = cache->clock;
            cache->hits++;
            in->ua_rule = set[i].rule;
            in->ua_browser = set[i].browser;
            in->ua_memo = 1;
            return;
        }

        /* the one to replace: empty, or used least recently (the clock
         * wraps: ages are differences) */
        if (set[i].len == 0
            || (s->len && cache->clock - set[i].used
                          > cache->clock - s->used))
        {
            s = &set[i];
        }
    }

    cache->misses++;

    in->ua_rule = oie_ua_match(in->user_agent.data, len, &in->ua_browser);
    in->ua_memo = 1;

    s->hash = h;
    s->used = cache->clock;
    s->len = (uint16_t) len;
    s->rule = (int16_t) in->ua_rule;
    s->browser = (uint8_t) in->ua_browser;
    memcpy(s->ua, in->user_agent.data, len);
}


const char *
oie_classify_ua_rule(unsigned i, unsigned *cls, const char **reason)
{
    if (i >= OIE_UA_NRULES) {
        return NULL;
    }

    if (cls) {
        *cls = oie_ua_rules[i].cls;
    }

    if (reason) {
        *reason = oie_ua_rules[i].reason;
    }

    return oie_ua_rules[i].pattern;
}


static void
oie_classify_add(oie_classify_acc_t *acc, const char *reason, unsigned cls,
    unsigned other)
{
    oie_classify_out_t  *out;

    out = acc->out;

    if (out->nreasons < OIE_CLASSIFY_MAX_REASONS) {
        out->reasons[out->nreasons++] = reason;
    }

    if (cls > out->cls) {
        out->cls = cls;
    }

    acc->others += other;
}


static int
oie_classify_str_is(const oie_classify_str_t *s, const char *lit)
{
    size_t  n;

    n = strlen(lit);

    return s->data && s->len == n && memcmp(s->data, lit, n) == 0;
}


/* a header value naming a prefetch, prerender or preview */
static int
oie_classify_prefetch(const oie_classify_str_t *s)
{
    char         lc[64];
    size_t       i, n;

    if (s->data == NULL || s->len == 0) {
        return 0;
    }

    n = s->len < sizeof(lc) ? s->len : sizeof(lc);

    for (i = 0; i < n; i++) {
        lc[i] = (s->data[i] >= 'A' && s->data[i] <= 'Z')
                ? (char) (s->data[i] | 0x20) : s->data[i];
    }

    return memmem(lc, n, "prefetch", 8) != NULL
           || memmem(lc, n, "prerender", 9) != NULL
           || memmem(lc, n, "preview", 7) != NULL;
}


/*
 * The index of the most specific rule the user agent matches, or -1; sets
 * *browser when it names itself "Mozilla/".
 */
static int
oie_ua_match(const char *ua, size_t len, unsigned *browser)
{
    size_t                i, k, n;
    uint32_t              w;
    unsigned              r, best, shift;
    const char           *pat;
    const unsigned char  *p;

    p = (const unsigned char *) ua;
    n = len < OIE_CLASSIFY_UA_MAX ? len : OIE_CLASSIFY_UA_MAX;

    *browser = 0;
    best = OIE_UA_NRULES;

    for (i = 0; i + 4 <= n; /* void */ ) {

        shift = oie_ua_shift[OIE_UA_PAIR(OIE_UA_LOWER(p[i + 2]),
                                         OIE_UA_LOWER(p[i + 3]))];

        if (shift) {
            i += shift;
            continue;
        }

        w = OIE_UA_WORD(OIE_UA_LOWER(p[i]), OIE_UA_LOWER(p[i + 1]),
                        OIE_UA_LOWER(p[i + 2]), OIE_UA_LOWER(p[i + 3]));

        for (r = oie_ua_head[oie_ua_hash(w)]; r; r = oie_ua_next[r - 1]) {
            if (r - 1 >= best) {
                break;
            }

            if (oie_ua_first[r - 1] != w || i + oie_ua_len[r - 1] > n) {
                continue;
            }

            pat = oie_ua_rules[r - 1].pattern;

            for (k = 4; k < oie_ua_len[r - 1]; k++) {
                if (OIE_UA_LOWER(p[i + k]) != (unsigned char) pat[k]) {
                    break;
                }
            }

            if (k < oie_ua_len[r - 1]) {
                continue;
            }

            if (oie_ua_rules[r - 1].reason == NULL) {
                *browser = 1;
                continue;
            }

            best = r - 1;
            break;
        }

        i++;
    }

    return best < OIE_UA_NRULES ? (int) best : -1;
}


static unsigned
oie_ua_hash(uint32_t w)
{
    return (unsigned) ((w * 2654435761u) >> 24) & (OIE_UA_BUCKETS - 1);
}


/* hit timing */

#define OIE_TIMING_MAGIC        0x6f69652d74696d31ULL   /* "oie-tim1" */
#define OIE_TIMING_MAX_SLOTS    (1u << 24)


typedef struct {
    uint64_t                    key;            /* hash; 0: free */
    int64_t                     first_ms;       /* the run's first hit */
    int64_t                     last_ms;
    int64_t                     window_ms;      /* the window's first hit */
    uint32_t                    hits;           /* in the window */
    uint32_t                    reserved;
} oie_timing_slot_t;


struct oie_timing_s {
    uint64_t                    magic;
    uint64_t                    seed;
    int64_t                     window_ms;
    int64_t                     idle_ms;
    uint64_t                    size;           /* bytes of the table */
    uint32_t                    nbuckets;       /* a power of 2 */
    uint32_t                    reserved;
    oie_timing_slot_t           slots[];
};


static uint64_t oie_timing_hash(const oie_timing_t *tm, const void *key,
    size_t len);


size_t
oie_timing_size(unsigned slots)
{
    uint32_t  nb;

    if (slots > OIE_TIMING_MAX_SLOTS) {
        slots = OIE_TIMING_MAX_SLOTS;
    }

    for (nb = 1; (uint64_t) nb * OIE_TIMING_WAYS < slots; nb *= 2) {
        /* void */
    }

    return sizeof(oie_timing_t)
           + (size_t) nb * OIE_TIMING_WAYS * sizeof(oie_timing_slot_t);
}


oie_timing_t *
oie_timing_init(void *mem, size_t size, int64_t window_ms, int64_t idle_ms,
    uint64_t seed)
{
    size_t         bucket;
    uint32_t       nb;
    oie_timing_t  *tm;

    bucket = OIE_TIMING_WAYS * sizeof(oie_timing_slot_t);

    nb = oie_hash_buckets(size, sizeof(oie_timing_t), bucket,
                          OIE_TIMING_MAX_SLOTS / OIE_TIMING_WAYS);

    if (mem == NULL || ((uintptr_t) mem & 7) || window_ms <= 0
        || idle_ms <= 0 || nb == 0)
    {
        return NULL;
    }

    tm = mem;

    memset(tm, 0, sizeof(oie_timing_t) + (size_t) nb * bucket);

    tm->seed = seed;
    tm->window_ms = window_ms;
    tm->idle_ms = idle_ms;
    tm->size = size;
    tm->nbuckets = nb;
    tm->magic = OIE_TIMING_MAGIC;

    return tm;
}


oie_timing_t *
oie_timing_attach(void *mem, size_t size)
{
    oie_timing_t  *tm;

    if (mem == NULL || ((uintptr_t) mem & 7) || size < sizeof(oie_timing_t))
    {
        return NULL;
    }

    tm = mem;

    if (tm->magic != OIE_TIMING_MAGIC || tm->size != size
        || tm->nbuckets == 0 || (tm->nbuckets & (tm->nbuckets - 1))
        || sizeof(oie_timing_t) + (size_t) tm->nbuckets * OIE_TIMING_WAYS
                                  * sizeof(oie_timing_slot_t) > size)
    {
        return NULL;
    }

    return tm;
}


int
oie_timing_configure(oie_timing_t *tm, int64_t window_ms, int64_t idle_ms)
{
    if (tm == NULL || window_ms <= 0 || idle_ms <= 0) {
        return -1;
    }

    tm->window_ms = window_ms;
    tm->idle_ms = idle_ms;

    return 0;
}


unsigned
oie_timing_slots(const oie_timing_t *tm)
{
    return tm ? tm->nbuckets * OIE_TIMING_WAYS : 0;
}


void
oie_timing_hit(oie_timing_t *tm, const void *key, size_t len,
    int64_t now_ms, oie_timing_facts_t *facts)
{
    unsigned            i;
    uint64_t            h;
    oie_timing_slot_t  *b, *s, *victim;

    facts->hits = 1;
    facts->since_first_ms = -1;

    if (tm == NULL || (key == NULL && len)) {
        return;
    }

    h = oie_timing_hash(tm, key, len);

    b = &tm->slots[(h & (tm->nbuckets - 1)) * OIE_TIMING_WAYS];

    s = NULL;
    victim = &b[0];

    for (i = 0; i < OIE_TIMING_WAYS; i++) {
        if (b[i].key == h) {
            s = &b[i];
            break;
        }

        /* a free slot, else the one idle the longest */
        if (victim->key != 0
            && (b[i].key == 0 || b[i].last_ms < victim->last_ms))
        {
            victim = &b[i];
        }
    }

    /* a clock that steps back counts as no time passed */
    if (s && now_ms < s->last_ms) {
        now_ms = s->last_ms;
    }

    if (s && now_ms - s->last_ms < tm->idle_ms) {
        facts->since_first_ms = now_ms - s->first_ms;

        if (now_ms - s->window_ms < tm->window_ms) {
            if (s->hits < UINT32_MAX) {
                s->hits++;
            }

        } else {
            s->window_ms = now_ms;
            s->hits = 1;
        }

        s->last_ms = now_ms;
        facts->hits = s->hits;
        return;
    }

    if (s == NULL) {
        s = victim;
    }

    s->key = h;
    s->first_ms = now_ms;
    s->last_ms = now_ms;
    s->window_ms = now_ms;
    s->hits = 1;
}


static uint64_t
oie_timing_hash(const oie_timing_t *tm, const void *key, size_t len)
{
    return oie_hash_seeded(tm->seed, key, len);
}
