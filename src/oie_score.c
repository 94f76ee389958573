/*
 * The intent score, live at the edge: a transcription of
 * sql/scoring/definition.json (see oie_score.h).
 */

#include <string.h>

#include "oie_score.h"


typedef struct {
    int64_t     value;
    int         points;
} oie_score_tier_t;


#define oie_score_ntiers(t)  (sizeof(t) / sizeof((t)[0]))
#define oie_score_str_is(s, lit)                                             \
    ((s)->len == sizeof(lit) - 1 && memcmp((s)->data, lit, (s)->len) == 0)


/* recency: seconds since last activity, at most value */
static const oie_score_tier_t  oie_score_recency_tiers[] = {
    { 3600,     30 },
    { 86400,    25 },
    { 259200,   20 },
    { 604800,   15 },
    { 1209600,  10 },
    { 2592000,  5 }
};

/* the others: counter at least value */
static const oie_score_tier_t  oie_score_sessions_tiers[] = {
    { 1, 5 }, { 2, 10 }, { 3, 14 }, { 5, 17 }
};

static const oie_score_tier_t  oie_score_clicks_tiers[] = {
    { 1, 3 }, { 2, 5 }
};

static const oie_score_tier_t  oie_score_engaged_tiers[] = {
    { 30000, 4 }, { 120000, 8 }, { 300000, 12 }
};

static const oie_score_tier_t  oie_score_scroll_tiers[] = {
    { 50, 2 }, { 75, 4 }, { 100, 5 }
};

static const oie_score_tier_t  oie_score_pageviews_tiers[] = {
    { 3, 2 }, { 5, 4 }, { 10, 5 }
};

static const oie_score_tier_t  oie_score_video_tiers[] = {
    { 1, 4 }
};

static const oie_score_tier_t  oie_score_downloads_tiers[] = {
    { 1, 3 }
};

static const oie_score_tier_t  oie_score_high_intent_tiers[] = {
    { 1, 10 }, { 2, 15 }, { 3, 20 }, { 5, 25 }
};

static const oie_score_tier_t  oie_score_forms_tiers[] = {
    { 1, 15 }, { 2, 20 }
};

static const oie_score_tier_t  oie_score_contact_tiers[] = {
    { 1, 5 }
};

static const oie_score_tier_t  oie_score_conversion_tiers[] = {
    { 1, 20 }
};

#define OIE_SCORE_RECENCY_MAX       30
#define OIE_SCORE_FREQUENCY_MAX     20
#define OIE_SCORE_ENGAGEMENT_MAX    25
#define OIE_SCORE_HIGH_INTENT_MAX   25
#define OIE_SCORE_CONVERSIONS_MAX   20

#define OIE_SCORE_BURNING_MIN       80
#define OIE_SCORE_HOT_MIN           60
#define OIE_SCORE_WARM_MIN          40


static const oie_score_pattern_t  oie_score_default_patterns[] = {
    { OIE_SCORE_MATCH_SEGMENT,  "/pricing" },
    { OIE_SCORE_MATCH_SEGMENT,  "/plans" },
    { OIE_SCORE_MATCH_SEGMENT,  "/demo" },
    { OIE_SCORE_MATCH_SEGMENT,  "/book-a-demo" },
    { OIE_SCORE_MATCH_SEGMENT,  "/contact" },
    { OIE_SCORE_MATCH_SEGMENT,  "/contact-sales" },
    { OIE_SCORE_MATCH_SEGMENT,  "/trial" },
    { OIE_SCORE_MATCH_SEGMENT,  "/signup" },
    { OIE_SCORE_MATCH_SEGMENT,  "/get-started" },
    { OIE_SCORE_MATCH_SEGMENT,  "/case-studies" },
    { OIE_SCORE_MATCH_SEGMENT,  "/customers" },
    { OIE_SCORE_MATCH_PREFIX,   "/compar" },
    { OIE_SCORE_MATCH_CONTAINS, "-vs-" },
    { OIE_SCORE_MATCH_SEGMENT,  "/security" },
    { OIE_SCORE_MATCH_SEGMENT,  "/integrations" }
};

static const char *const  oie_score_default_conversions[] = {
    "demo_booked",
    "meeting_booked",
    "trial_started",
    "signup_completed",
    "quote_requested"
};

const oie_score_conf_t  oie_score_default_conf = {
    oie_score_default_patterns,
    oie_score_ntiers(oie_score_default_patterns),
    oie_score_default_conversions,
    oie_score_ntiers(oie_score_default_conversions)
};

const char *const  oie_score_field_names[OIE_SCORE_NFIELDS] = {
    "last_seen_ms",
    "sessions",
    "pageviews",
    "engaged_ms",
    "max_scroll_depth",
    "high_intent_pageviews",
    "form_submits",
    "confirmed_clicks",
    "video_completes",
    "downloads",
    "contact_clicks",
    "conversion_events",
    "last_page_ms",
    "last_human_click_ms"
};


static int
oie_score_at_least(const oie_score_tier_t *t, size_t n, int64_t v)
{
    int     points;
    size_t  i;

    points = 0;

    for (i = 0; i < n; i++) {
        if (v >= t[i].value) {
            points = t[i].points;
        }
    }

    return points;
}


static int
oie_score_cap(int points, int max)
{
    return points > max ? max : points;
}


int
oie_score_recency_points(int64_t seconds)
{
    size_t  i;

    if (seconds < 0) {
        return 0;
    }

    for (i = 0; i < oie_score_ntiers(oie_score_recency_tiers); i++) {
        if (seconds <= oie_score_recency_tiers[i].value) {
            return oie_score_cap(oie_score_recency_tiers[i].points,
                                 OIE_SCORE_RECENCY_MAX);
        }
    }

    return 0;
}


int
oie_score_frequency_points(int64_t sessions, int64_t confirmed_clicks)
{
    int  p;

    p = oie_score_at_least(oie_score_sessions_tiers,
                           oie_score_ntiers(oie_score_sessions_tiers),
                           sessions)
        + oie_score_at_least(oie_score_clicks_tiers,
                             oie_score_ntiers(oie_score_clicks_tiers),
                             confirmed_clicks);

    return oie_score_cap(p, OIE_SCORE_FREQUENCY_MAX);
}


int
oie_score_engagement_points(int64_t engaged_ms, int64_t max_scroll_depth,
    int64_t pageviews, int64_t video_completes, int64_t downloads)
{
    int  p;

    p = oie_score_at_least(oie_score_engaged_tiers,
                           oie_score_ntiers(oie_score_engaged_tiers),
                           engaged_ms)
        + oie_score_at_least(oie_score_scroll_tiers,
                             oie_score_ntiers(oie_score_scroll_tiers),
                             max_scroll_depth)
        + oie_score_at_least(oie_score_pageviews_tiers,
                             oie_score_ntiers(oie_score_pageviews_tiers),
                             pageviews)
        + oie_score_at_least(oie_score_video_tiers,
                             oie_score_ntiers(oie_score_video_tiers),
                             video_completes)
        + oie_score_at_least(oie_score_downloads_tiers,
                             oie_score_ntiers(oie_score_downloads_tiers),
                             downloads);

    return oie_score_cap(p, OIE_SCORE_ENGAGEMENT_MAX);
}


int
oie_score_high_intent_points(int64_t high_intent_pageviews)
{
    return oie_score_cap(
               oie_score_at_least(oie_score_high_intent_tiers,
                                  oie_score_ntiers(oie_score_high_intent_tiers),
                                  high_intent_pageviews),
               OIE_SCORE_HIGH_INTENT_MAX);
}


int
oie_score_conversion_points(int64_t form_submits, int64_t contact_clicks,
    int64_t conversion_events)
{
    int  p;

    p = oie_score_at_least(oie_score_forms_tiers,
                           oie_score_ntiers(oie_score_forms_tiers),
                           form_submits)
        + oie_score_at_least(oie_score_contact_tiers,
                             oie_score_ntiers(oie_score_contact_tiers),
                             contact_clicks)
        + oie_score_at_least(oie_score_conversion_tiers,
                             oie_score_ntiers(oie_score_conversion_tiers),
                             conversion_events);

    return oie_score_cap(p, OIE_SCORE_CONVERSIONS_MAX);
}


oie_score_level_e
oie_score_level(int score)
{
    if (score >= OIE_SCORE_BURNING_MIN) {
        return OIE_SCORE_BURNING;
    }

    if (score >= OIE_SCORE_HOT_MIN) {
        return OIE_SCORE_HOT;
    }

    if (score >= OIE_SCORE_WARM_MIN) {
        return OIE_SCORE_WARM;
    }

    return OIE_SCORE_COLD;
}


const char *
oie_score_level_name(oie_score_level_e level)
{
    switch (level) {
    case OIE_SCORE_BURNING:
        return "burning";
    case OIE_SCORE_HOT:
        return "hot";
    case OIE_SCORE_WARM:
        return "warm";
    default:
        return "cold";
    }
}


void
oie_score_compute(const oie_score_input_t *in, int64_t now_ms,
    oie_score_t *out)
{
    int64_t  seconds;

    if (in->last_seen_ms <= 0) {
        seconds = -1;

    } else if (in->last_seen_ms >= now_ms) {
        seconds = 0;

    } else {
        /* whole seconds, truncated, as TIMESTAMP_DIFF(..., SECOND) */
        seconds = (now_ms - in->last_seen_ms) / 1000;
    }

    out->recency = oie_score_recency_points(seconds);
    out->frequency = oie_score_frequency_points(in->sessions,
                                                in->confirmed_clicks);
    out->engagement = oie_score_engagement_points(in->engaged_ms,
                                                  in->max_scroll_depth,
                                                  in->pageviews,
                                                  in->video_completes,
                                                  in->downloads);
    out->high_intent = oie_score_high_intent_points(
                                                 in->high_intent_pageviews);
    out->conversions = oie_score_conversion_points(in->form_submits,
                                                   in->contact_clicks,
                                                   in->conversion_events);

    out->total = out->recency + out->frequency + out->engagement
                 + out->high_intent + out->conversions;

    if (out->total > OIE_SCORE_MAX) {
        out->total = OIE_SCORE_MAX;
    }

    out->level = oie_score_level(out->total);
}


static unsigned char
oie_score_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char) (c | 0x20) : c;
}


static int
oie_score_is_alpha(unsigned char c)
{
    c = oie_score_lower(c);
    return c >= 'a' && c <= 'z';
}


void
oie_score_url_path(const char *url, size_t len, size_t *start, size_t *plen)
{
    size_t         i, s;
    unsigned char  c;

    s = 0;

    /* [a-z][a-z0-9+.-]*:// then the host, up to / ? or # */
    if (len > 0 && oie_score_is_alpha((unsigned char) url[0])) {
        for (i = 1; i < len; i++) {
            c = (unsigned char) url[i];
            if (!oie_score_is_alpha(c) && !(c >= '0' && c <= '9')
                && c != '+' && c != '.' && c != '-')
            {
                break;
            }
        }

        if (len - i >= 3 && memcmp(url + i, "://", 3) == 0) {
            for (i += 3; i < len; i++) {
                c = (unsigned char) url[i];
                if (c == '/' || c == '?' || c == '#') {
                    break;
                }
            }

            s = i;
        }
    }

    for (i = s; i < len; i++) {
        if (url[i] == '?' || url[i] == '#') {
            break;
        }
    }

    *start = s;
    *plen = i - s;
}


static int
oie_score_eq_at(const char *path, size_t len, size_t at, const char *pat,
    size_t plen)
{
    size_t  i;

    if (at > len || len - at < plen) {
        return 0;
    }

    for (i = 0; i < plen; i++) {
        if (oie_score_lower((unsigned char) path[at + i])
            != (unsigned char) pat[i])
        {
            return 0;
        }
    }

    return 1;
}


int
oie_score_path_matches(oie_score_match_e match, const char *pattern,
    const char *path, size_t len)
{
    size_t  plen, at;

    plen = strlen(pattern);

    if (plen == 0) {
        return 0;
    }

    if (len == 0) {
        path = "/";
        len = 1;
    }

    switch (match) {

    case OIE_SCORE_MATCH_EXACT:
        return len == plen && oie_score_eq_at(path, len, 0, pattern, plen);

    case OIE_SCORE_MATCH_PREFIX:
        return oie_score_eq_at(path, len, 0, pattern, plen);

    case OIE_SCORE_MATCH_SEGMENT:
    case OIE_SCORE_MATCH_CONTAINS:
        for (at = 0; at + plen <= len; at++) {
            if (!oie_score_eq_at(path, len, at, pattern, plen)) {
                continue;
            }

            if (match == OIE_SCORE_MATCH_CONTAINS
                || at + plen == len || path[at + plen] == '/')
            {
                return 1;
            }
        }

        return 0;
    }

    return 0;
}


int
oie_score_url_high_intent(const oie_score_conf_t *conf, const char *url,
    size_t len)
{
    size_t  i, start, plen;

    if (conf == NULL) {
        conf = &oie_score_default_conf;
    }

    if (url == NULL) {
        /* an absent URL: no arithmetic on a null pointer */
        url = "";
        len = 0;
    }

    oie_score_url_path(url, len, &start, &plen);

    for (i = 0; i < conf->npatterns; i++) {
        if (oie_score_path_matches(conf->patterns[i].match,
                                   conf->patterns[i].pattern,
                                   url + start, plen))
        {
            return 1;
        }
    }

    return 0;
}


int
oie_score_is_conversion(const oie_score_conf_t *conf, const char *name,
    size_t len)
{
    size_t  i;

    if (conf == NULL) {
        conf = &oie_score_default_conf;
    }

    for (i = 0; i < conf->nconversion_events; i++) {
        if (strlen(conf->conversion_events[i]) == len
            && memcmp(conf->conversion_events[i], name, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


int
oie_score_traffic_counts(const char *cls, size_t len)
{
    oie_score_str_t  s;

    if (len == 0) {
        return 1;
    }

    s.data = cls;
    s.len = len;

    return oie_score_str_is(&s, "human") || oie_score_str_is(&s, "unknown");
}


static int64_t
oie_score_clamp(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}


/* counters come from Redis and may hold any int64: they stop at the top */
static void
oie_score_add(int64_t *counter, int64_t n)
{
    *counter = (*counter > INT64_MAX - n) ? INT64_MAX : *counter + n;
}


static void
oie_score_seen(oie_score_input_t *in, int64_t t)
{
    if (t > in->last_seen_ms) {
        in->last_seen_ms = t;
    }
}


static int
oie_score_apply_click(oie_score_input_t *in, const oie_score_event_t *ev)
{
    if (!oie_score_str_is(&ev->outcome, "ok")) {
        return OIE_SCORE_IGNORED;
    }

    if (oie_score_str_is(&ev->type, "email_click")) {

        /* only clicks the edge judged human: scanners click everything */
        if (!oie_score_str_is(&ev->traffic_class, "human")) {
            return OIE_SCORE_IGNORED;
        }

        oie_score_add(&in->confirmed_clicks, 1);

        if (ev->time_ms > in->last_human_click_ms) {
            in->last_human_click_ms = ev->time_ms;
        }

        oie_score_seen(in, ev->time_ms);

        return OIE_SCORE_OK;
    }

    /* click_confirmed: counts unless its click already counted as human */

    if (!oie_score_traffic_counts(ev->traffic_class.data,
                                  ev->traffic_class.len))
    {
        return OIE_SCORE_IGNORED;
    }

    if (in->last_human_click_ms > 0
        && ev->time_ms >= in->last_human_click_ms
        && ev->time_ms - in->last_human_click_ms <= OIE_SCORE_CONFIRM_WINDOW_MS)
    {
        /* the same click, already counted when it came in */
        return OIE_SCORE_IGNORED;
    }

    oie_score_add(&in->confirmed_clicks, 1);
    oie_score_seen(in, ev->time_ms);

    return OIE_SCORE_OK;
}


int
oie_score_apply(const oie_score_conf_t *conf, oie_score_input_t *in,
    const oie_score_event_t *ev)
{
    const oie_score_str_t  *t;

    if (conf == NULL) {
        conf = &oie_score_default_conf;
    }

    t = &ev->type;

    if (oie_score_str_is(t, "email_click")
        || oie_score_str_is(t, "click_confirmed"))
    {
        return oie_score_apply_click(in, ev);
    }

    if (!(oie_score_str_is(t, "pageview") || oie_score_str_is(t, "scroll")
          || oie_score_str_is(t, "click")
          || oie_score_str_is(t, "form_submit")
          || oie_score_str_is(t, "video") || oie_score_str_is(t, "focus")
          || oie_score_str_is(t, "engagement")
          || oie_score_str_is(t, "custom")))
    {
        /* email_open (machine opens are the rule), unknown types */
        return OIE_SCORE_IGNORED;
    }

    if (ev->webdriver
        || !oie_score_traffic_counts(ev->traffic_class.data,
                                     ev->traffic_class.len))
    {
        return OIE_SCORE_IGNORED;
    }

    /* the difference in unsigned: the counters may hold any int64 */
    if (in->last_page_ms <= 0
        || (ev->time_ms > in->last_page_ms
            && (uint64_t) ev->time_ms - (uint64_t) in->last_page_ms
               > OIE_SCORE_SESSION_GAP_MS))
    {
        oie_score_add(&in->sessions, 1);
    }

    if (ev->time_ms > in->last_page_ms) {
        in->last_page_ms = ev->time_ms;
    }

    oie_score_seen(in, ev->time_ms);

    if (oie_score_str_is(t, "pageview")) {
        oie_score_add(&in->pageviews, 1);

        if (oie_score_url_high_intent(conf, ev->url.data, ev->url.len)) {
            oie_score_add(&in->high_intent_pageviews, 1);
        }

    } else if (oie_score_str_is(t, "scroll")) {
        if (ev->scroll_depth > in->max_scroll_depth) {
            in->max_scroll_depth = oie_score_clamp(ev->scroll_depth, 0, 100);
        }

    } else if (oie_score_str_is(t, "click")) {
        if (oie_score_str_is(&ev->link_type, "download")) {
            oie_score_add(&in->downloads, 1);

        } else if (oie_score_str_is(&ev->link_type, "mailto")
                   || oie_score_str_is(&ev->link_type, "tel"))
        {
            oie_score_add(&in->contact_clicks, 1);
        }

    } else if (oie_score_str_is(t, "form_submit")) {
        oie_score_add(&in->form_submits, 1);

    } else if (oie_score_str_is(t, "video")) {
        if (oie_score_str_is(&ev->video_action, "complete")) {
            oie_score_add(&in->video_completes, 1);
        }

    } else if (oie_score_str_is(t, "focus")
               || oie_score_str_is(t, "engagement"))
    {
        if (ev->engaged_ms > 0) {
            oie_score_add(&in->engaged_ms,
                          oie_score_clamp(ev->engaged_ms, 0,
                                          OIE_SCORE_ENGAGED_MS_MAX));
        }

    } else {
        /* custom */
        if (oie_score_is_conversion(conf, ev->custom_name.data,
                                    ev->custom_name.len))
        {
            oie_score_add(&in->conversion_events, 1);
        }
    }

    return OIE_SCORE_OK;
}


int64_t *
oie_score_input_field(oie_score_input_t *in, const char *name, size_t len)
{
    size_t    i;
    int64_t  *fields[OIE_SCORE_NFIELDS];

    fields[0] = &in->last_seen_ms;
    fields[1] = &in->sessions;
    fields[2] = &in->pageviews;
    fields[3] = &in->engaged_ms;
    fields[4] = &in->max_scroll_depth;
    fields[5] = &in->high_intent_pageviews;
    fields[6] = &in->form_submits;
    fields[7] = &in->confirmed_clicks;
    fields[8] = &in->video_completes;
    fields[9] = &in->downloads;
    fields[10] = &in->contact_clicks;
    fields[11] = &in->conversion_events;
    fields[12] = &in->last_page_ms;
    fields[13] = &in->last_human_click_ms;

    for (i = 0; i < OIE_SCORE_NFIELDS; i++) {
        if (strlen(oie_score_field_names[i]) == len
            && memcmp(oie_score_field_names[i], name, len) == 0)
        {
            return fields[i];
        }
    }

    return NULL;
}


int
oie_score_input_set(oie_score_input_t *in, const char *field,
    size_t field_len, const char *value, size_t value_len)
{
    size_t    i;
    int64_t  *p, v, d;
    int       neg;

    p = oie_score_input_field(in, field, field_len);

    if (p == NULL) {
        return OIE_SCORE_UNKNOWN_FIELD;
    }

    i = 0;
    neg = 0;

    if (value_len > 0 && value[0] == '-') {
        neg = 1;
        i = 1;
    }

    if (i == value_len || value_len - i > 19) {
        return OIE_SCORE_BAD_VALUE;
    }

    v = 0;

    for ( /* void */ ; i < value_len; i++) {
        if (value[i] < '0' || value[i] > '9') {
            return OIE_SCORE_BAD_VALUE;
        }

        d = value[i] - '0';

        /* accumulate negatively: INT64_MIN has no positive twin */
        if (v < (INT64_MIN + d) / 10) {
            return OIE_SCORE_BAD_VALUE;
        }

        v = v * 10 - d;
    }

    if (!neg) {
        if (v == INT64_MIN) {
            return OIE_SCORE_BAD_VALUE;
        }

        v = -v;
    }

    *p = v;

    return OIE_SCORE_OK;
}
