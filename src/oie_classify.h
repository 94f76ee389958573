/*
 * Who is behind a click (/r/), an open (/o/) or a page request (/t): a
 * person, an email security scanner, a bot, a prefetch, or no one can
 * say; and why.  Pure C: the caller hands in the request's facts (method,
 * headers, the scanner network of the client address, timing it keeps),
 * oie_classify() answers a class and its reasons.  Nothing here allocates
 * or blocks; a call costs well under a microsecond.
 *
 * Classes (oie_class_name()):
 *
 *   human     nothing below matched, and for clicks and pages the user
 *             agent is a browser's ("Mozilla/...").  Opens come from mail
 *             clients whose user agents vary: any user agent will do.
 *   unknown   nothing marked it as automated, but it does not look like a
 *             person either: a click or page request whose user agent is
 *             not a browser's (ua:non-browser), an open without a user
 *             agent (ua:missing), or only a "probable" scanner network.
 *   prefetch  fetched ahead of, or on behalf of, a person: prefetch and
 *             prerender requests (Purpose, Sec-Purpose, X-Moz, X-Purpose
 *             headers), mail image proxies (GoogleImageProxy,
 *             YahooMailProxy: an open through them may be real, but says
 *             nothing of the reader's device), Office's link discovery
 *             (ms-office, "Microsoft Office Existence Discovery").
 *   bot       automation: HEAD and OPTIONS requests to a link or pixel,
 *             other methods, crawlers, link previews (Slackbot,
 *             facebookexternalhit, ...), link checkers and monitors, HTTP
 *             libraries (curl, python-requests, ...), headless browsers,
 *             no user agent on a click or page, navigator.webdriver, and
 *             page requests in a burst.
 *   scanner   an email security gateway: a client address in a "certain"
 *             scanner network, a gateway's own user agent (Barracuda,
 *             Proofpoint, Mimecast, IronPort), a "probable" network
 *             together with any other reason, or click and open timing no
 *             person produces (many hits of a lead or campaign within
 *             seconds, a click within seconds of the message's first hit).
 *
 * When several match, the class is the first of: scanner, bot, prefetch,
 * unknown, human (a HEAD from a certain scanner network is a scanner; a
 * crawler that prefetches is a bot).  Every reason found is listed, in
 * this order: method, prefetch header, user agent (the most specific
 * rule only), network, timing, webdriver.
 *
 * Reasons:
 *
 *   method:head method:options method:other
 *   prefetch-header
 *   ua:missing ua:non-browser ua:mail-scanner ua:headless-chrome
 *   ua:headless ua:crawler ua:link-preview ua:link-checker ua:http-client
 *   ua:image-proxy ua:office-discovery
 *   net:<label>:certain net:<label>:probable    (from the networks file)
 *   timing:burst timing:campaign-burst timing:too-fast
 *   webdriver
 *
 * User agents are matched without regard to case, on their first
 * OIE_CLASSIFY_UA_MAX bytes.
 *
 * Timing: the caller keeps, per lead (and per campaign), when it was hit,
 * for example with oie_timing_hit() below in shared memory, and passes
 * what it found.  For clicks and opens, OIE_CLASSIFY_BURST hits of the
 * same lead within the tracker's window make timing:burst; for clicks, a
 * click less than too_fast_ms after the first open or click of the lead
 * (in this run: see oie_timing_hit) makes timing:too-fast.  For pages the
 * hits are the visitor's requests within the window.
 */

#ifndef _OIE_CLASSIFY_H_INCLUDED_
#define _OIE_CLASSIFY_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>

#include "oie_cidr.h"


#define OIE_CLASS_HUMAN             0
#define OIE_CLASS_UNKNOWN           1
#define OIE_CLASS_PREFETCH          2
#define OIE_CLASS_BOT               3
#define OIE_CLASS_SCANNER           4

#define OIE_KIND_CLICK              1
#define OIE_KIND_OPEN               2
#define OIE_KIND_PAGE               3

#define OIE_CLASSIFY_MAX_REASONS    10
#define OIE_CLASSIFY_UA_MAX         1024

/* defaults of oie_classify_conf_t */
#define OIE_CLASSIFY_TOO_FAST_MS    2000
#define OIE_CLASSIFY_BURST          3
#define OIE_CLASSIFY_CAMPAIGN_BURST 10
#define OIE_CLASSIFY_PAGE_BURST     10

/* ["r1","r2",...]: room for the JSON array of any result */
#define OIE_CLASSIFY_JSON_MAX                                                \
    (2 + OIE_CLASSIFY_MAX_REASONS * (OIE_CIDR_REASON_MAX + 3))


typedef struct {
    int64_t                   too_fast_ms;      /* 0: no too-fast rule */
    unsigned                  burst;            /* hits; 0: no rule */
    unsigned                  campaign_burst;
    unsigned                  page_burst;
} oie_classify_conf_t;


/* a string that may be absent (NULL) */
typedef struct {
    const char               *data;
    size_t                    len;
} oie_classify_str_t;


typedef struct {
    unsigned                  kind;             /* OIE_KIND_* */
    oie_classify_str_t        method;           /* "GET" */
    oie_classify_str_t        user_agent;       /* NULL: no header */
    oie_classify_str_t        purpose;          /* Purpose */
    oie_classify_str_t        sec_purpose;      /* Sec-Purpose */
    oie_classify_str_t        x_moz;            /* X-Moz */
    oie_classify_str_t        x_purpose;        /* X-Purpose */
    const oie_cidr_entry_t   *net;              /* NULL: in no network */
    int64_t                   since_first_ms;   /* -1: first, or unknown */
    unsigned                  hits;             /* in the window; 0: ? */
    unsigned                  campaign_hits;    /* 0: unknown */
    unsigned                  webdriver;        /* 1: the pixel said so */
    /* the user agent's match, kept by oie_classify_memo_ua() */
    int                       ua_rule;          /* -1: no rule */
    unsigned                  ua_browser;
    unsigned                  ua_memo;          /* 1: the two above hold */
} oie_classify_in_t;


typedef struct {
    unsigned                  cls;              /* OIE_CLASS_* */
    unsigned                  nreasons;
    const char               *reasons[OIE_CLASSIFY_MAX_REASONS];
} oie_classify_out_t;


/* the defaults above */
void oie_classify_conf_init(oie_classify_conf_t *conf);

/*
 * Builds the user agent tables; idempotent.  oie_classify() calls it when
 * needed, but that first call is not thread-safe: a threaded caller calls
 * it once before.
 */
void oie_classify_init(void);

/*
 * Classifies.  Returns 0, or -1 for bad input (a NULL argument, an
 * unknown kind): then out says unknown with the one reason
 * "invalid-input".  conf NULL means the defaults.
 */
int oie_classify(const oie_classify_conf_t *conf,
    const oie_classify_in_t *in, oie_classify_out_t *out);

/*
 * What user agents matched, for a caller that sees the same few of them
 * again and again (nginx: one cache per worker).  A user agent of up to
 * OIE_UA_CACHE_LEN bytes is kept in one of the OIE_UA_CACHE_WAYS slots of
 * the set its hash picks, replacing the one used least recently; a longer
 * one is matched each time.  Memory the caller owns, zeroed before first
 * use.
 */
#define OIE_UA_CACHE_SLOTS          256
#define OIE_UA_CACHE_WAYS           4
#define OIE_UA_CACHE_LEN            256

typedef struct {
    uint64_t                  hash;
    uint32_t                  used;             /* the cache's clock */
    uint16_t                  len;              /* 0: empty */
    int16_t                   rule;             /* -1: no rule */
    uint8_t                   browser;
    char                      ua[OIE_UA_CACHE_LEN];
} oie_ua_cache_slot_t;

typedef struct {
    oie_ua_cache_slot_t       slot[OIE_UA_CACHE_SLOTS];
    uint32_t                  clock;
    uint64_t                  hits;
    uint64_t                  misses;
} oie_ua_cache_t;

/*
 * Matches in->user_agent once and keeps the result in in, so that
 * oie_classify() of several events of one request (the same user agent)
 * does not match it again; with a cache (may be NULL), looks there first
 * and keeps the result there.  Any later change of in->user_agent must
 * clear in->ua_memo.
 */
void oie_classify_memo_ua(oie_classify_in_t *in, oie_ua_cache_t *cache);

/* "human", "unknown", "prefetch", "bot", "scanner"; NULL if none */
const char *oie_class_name(unsigned cls);

/*
 * The reasons as a JSON array, ["method:head","ua:crawler"], with a
 * terminating NUL; returns its length, or -1 when size is too small
 * (OIE_CLASSIFY_JSON_MAX always suffices).
 */
int oie_classify_reasons_json(const oie_classify_out_t *out, char *buf,
    size_t size);

/* one user agent alone: the reason of the rule it matches, or NULL */
const char *oie_classify_ua(const char *ua, size_t len, unsigned *cls);

/*
 * The user agent rules, most specific first: the lower-case substring of
 * rule i, its class and reason (NULL for the "mozilla/" marker of
 * browsers, not a rule); NULL past the last.
 */
const char *oie_classify_ua_rule(unsigned i, unsigned *cls,
    const char **reason);


/*
 * Hit timing for many keys (lead ids, campaigns, visitors) in a table of
 * fixed size in memory the caller provides (nginx: shared memory; it holds
 * no pointers, so any process may map it anywhere).  The caller
 * serializes calls on one table (nginx: the zone's mutex).
 *
 * A key's run starts with its first hit and lasts while hits come less
 * than idle_ms apart; the window counts hits less than window_ms after
 * the one that opened it.  When the table is full, the key used least
 * recently in its bucket is forgotten: its next hit starts a new run.
 */

#define OIE_TIMING_WAYS             8

typedef struct oie_timing_s  oie_timing_t;

typedef struct {
    unsigned                  hits;             /* in the window, >= 1 */
    int64_t                   since_first_ms;   /* -1: this one is first */
} oie_timing_facts_t;

/* bytes for a table of at least slots keys (at most 2^24) */
size_t oie_timing_size(unsigned slots);

/*
 * Makes an empty table in mem (size bytes, 8-byte aligned); returns it,
 * or NULL when size is too small for one bucket or the times are not
 * positive.  seed varies the hash (pass random bytes).
 */
oie_timing_t *oie_timing_init(void *mem, size_t size, int64_t window_ms,
    int64_t idle_ms, uint64_t seed);

/* an existing table (after a reload): NULL if mem does not hold one */
oie_timing_t *oie_timing_attach(void *mem, size_t size);

/* new window and idle times for an existing table (a reload) */
int oie_timing_configure(oie_timing_t *tm, int64_t window_ms,
    int64_t idle_ms);

/* records a hit of key at now_ms and says what came before */
void oie_timing_hit(oie_timing_t *tm, const void *key, size_t len,
    int64_t now_ms, oie_timing_facts_t *facts);

/* keys the table can hold */
unsigned oie_timing_slots(const oie_timing_t *tm);


#endif /* _OIE_CLASSIFY_H_INCLUDED_ */
