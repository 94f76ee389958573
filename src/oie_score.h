/*
 * The intent score, live at the edge.
 *
 * The definition lives in sql/scoring/definition.json and is described in
 * sql/scoring/README.md; the warehouse computes the same score in SQL
 * (sql/udf/scoring.sql).  The tables in oie_score.c are a transcription of
 * that file: t/unit/test_score.c checks them against it and against the
 * shared vectors in sql/scoring/vectors.json, so a change of the definition
 * fails the C tests until this code follows.
 *
 * Per lead the edge keeps the counters of oie_score_input_t in the Redis
 * hash "oie:score:<lead id>", one hash field per struct member, under the
 * same name (oie_score_field_names[]).  Each accepted event is folded into
 * the counters by oie_score_apply(); oie_score_compute() turns counters into
 * the five components, the total and the level.
 *
 * Pure C: no allocation, no I/O, no nginx headers.
 */

#ifndef _OIE_SCORE_H_INCLUDED_
#define _OIE_SCORE_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>


#define OIE_SCORE_KEY_PREFIX            "oie:score:"

#define OIE_SCORE_MAX                   100
#define OIE_SCORE_SESSION_GAP_MS        1800000
#define OIE_SCORE_CONFIRM_WINDOW_MS     1800000
#define OIE_SCORE_ENGAGED_MS_MAX        1800000
#define OIE_SCORE_WINDOW_DAYS           90

#define OIE_SCORE_OK                    0
#define OIE_SCORE_IGNORED               1
#define OIE_SCORE_UNKNOWN_FIELD         -1
#define OIE_SCORE_BAD_VALUE             -2


typedef enum {
    OIE_SCORE_COLD = 0,
    OIE_SCORE_WARM,
    OIE_SCORE_HOT,
    OIE_SCORE_BURNING
} oie_score_level_e;


/*
 * Counters of one lead.  Times are Unix milliseconds (server clock), 0 when
 * never.  last_page_ms and last_human_click_ms are bookkeeping for
 * oie_score_apply() (session and click de-duplication); they do not enter
 * the score themselves.
 */
typedef struct {
    int64_t     last_seen_ms;
    int64_t     sessions;
    int64_t     pageviews;
    int64_t     engaged_ms;
    int64_t     max_scroll_depth;
    int64_t     high_intent_pageviews;
    int64_t     form_submits;
    int64_t     confirmed_clicks;
    int64_t     video_completes;
    int64_t     downloads;
    int64_t     contact_clicks;
    int64_t     conversion_events;
    int64_t     last_page_ms;
    int64_t     last_human_click_ms;
} oie_score_input_t;


typedef struct {
    int                 recency;
    int                 frequency;
    int                 engagement;
    int                 high_intent;
    int                 conversions;
    int                 total;
    oie_score_level_e   level;
} oie_score_t;


typedef struct {
    const char  *data;
    size_t       len;
} oie_score_str_t;


/*
 * One event as the edge sees it, from events (pageview, scroll, click,
 * form_submit, video, focus, engagement, custom) or from email_clicks
 * (email_click, email_open, click_confirmed).  Absent strings have
 * len == 0; absent numbers are -1.
 */
typedef struct {
    oie_score_str_t   type;
    oie_score_str_t   url;
    oie_score_str_t   link_type;
    oie_score_str_t   video_action;
    oie_score_str_t   custom_name;
    oie_score_str_t   traffic_class;
    oie_score_str_t   outcome;
    int64_t           scroll_depth;
    int64_t           engaged_ms;
    int64_t           time_ms;          /* received_at, Unix ms */
    unsigned          webdriver:1;
} oie_score_event_t;


typedef enum {
    OIE_SCORE_MATCH_EXACT = 0,
    OIE_SCORE_MATCH_PREFIX,
    OIE_SCORE_MATCH_SEGMENT,
    OIE_SCORE_MATCH_CONTAINS
} oie_score_match_e;


typedef struct {
    oie_score_match_e   match;
    const char         *pattern;        /* lowercase, NUL-terminated */
} oie_score_pattern_t;


/* The high-intent URL patterns and conversion event names in force. */
typedef struct {
    const oie_score_pattern_t  *patterns;
    size_t                      npatterns;
    const char *const          *conversion_events;
    size_t                      nconversion_events;
} oie_score_conf_t;


/* The Redis hash field names, in struct order; OIE_SCORE_NFIELDS of them. */
#define OIE_SCORE_NFIELDS  14
extern const char *const  oie_score_field_names[OIE_SCORE_NFIELDS];

/* The built-in patterns and conversion events (definition.json's). */
extern const oie_score_conf_t  oie_score_default_conf;


/*
 * Fills out from the counters as of now_ms (Unix ms).  A lead never seen,
 * or last seen in the future, is scored as the definition says: no recency
 * points for never, full recency for a future time.  Negative counters
 * count as 0.
 */
void oie_score_compute(const oie_score_input_t *in, int64_t now_ms,
    oie_score_t *out);

/*
 * Components from features, as sql/scoring/vectors.json states them:
 * seconds_since_last_activity < 0 means no activity.
 */
int oie_score_recency_points(int64_t seconds_since_last_activity);
int oie_score_frequency_points(int64_t sessions, int64_t confirmed_clicks);
int oie_score_engagement_points(int64_t engaged_ms, int64_t max_scroll_depth,
    int64_t pageviews, int64_t video_completes, int64_t downloads);
int oie_score_high_intent_points(int64_t high_intent_pageviews);
int oie_score_conversion_points(int64_t form_submits, int64_t contact_clicks,
    int64_t conversion_events);

oie_score_level_e oie_score_level(int score);
const char *oie_score_level_name(oie_score_level_e level);

/*
 * Folds one event into the counters.  Returns OIE_SCORE_OK when the event
 * counted, OIE_SCORE_IGNORED when the definition leaves it out (non-human
 * traffic, failed email clicks, opens, unknown types).  conf may be NULL for
 * oie_score_default_conf.
 */
int oie_score_apply(const oie_score_conf_t *conf, oie_score_input_t *in,
    const oie_score_event_t *ev);

/* 1 when the traffic class counts (human, unknown, or absent), else 0. */
int oie_score_traffic_counts(const char *cls, size_t len);

/*
 * Where the path of a URL is: scheme and host skipped, query and fragment
 * cut.  Sets *start and *plen (0 when the URL has no path, which matches as
 * "/").  Matching is ASCII case-insensitive, as the warehouse lowercases.
 */
void oie_score_url_path(const char *url, size_t len, size_t *start,
    size_t *plen);

/* 1 when the URL's path matches one of conf's patterns, else 0. */
int oie_score_url_high_intent(const oie_score_conf_t *conf, const char *url,
    size_t len);

/* 1 when path (as oie_score_url_path() finds it) matches, else 0. */
int oie_score_path_matches(oie_score_match_e match, const char *pattern,
    const char *path, size_t len);

/* 1 when name is one of conf's conversion events, else 0. */
int oie_score_is_conversion(const oie_score_conf_t *conf, const char *name,
    size_t len);

/*
 * Sets one counter from a Redis hash field (HGETALL's field and value).
 * Returns OIE_SCORE_OK, OIE_SCORE_UNKNOWN_FIELD, or OIE_SCORE_BAD_VALUE when
 * value is not a decimal integer in int64 range (the counter is untouched).
 */
int oie_score_input_set(oie_score_input_t *in, const char *field,
    size_t field_len, const char *value, size_t value_len);

/* The counter called name, or NULL. */
int64_t *oie_score_input_field(oie_score_input_t *in, const char *name,
    size_t len);

#endif /* _OIE_SCORE_H_INCLUDED_ */
