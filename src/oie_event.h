/*
 * The pixel's wire format: parsing, checking and turning events into rows.
 *
 * A strict JSON reader specialised for {"events":[...],"meta":{...}}: it
 * allocates nothing, keeps each value as a span of the request body, and
 * checks UTF-8, escapes, nesting and duplicate keys on the way.  Strings
 * are copied into rows exactly as the client escaped them (they are valid
 * JSON already), so there is no decode and re-encode on the hot path.
 *
 * Pure C: no nginx headers, so it is unit-tested and fuzzed on its own.
 */

#ifndef _OIE_EVENT_H_INCLUDED_
#define _OIE_EVENT_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>


#define OIE_EVENTS_MAX      100
#define OIE_JSON_MAX_DEPTH  32

/* value kinds */
#define OIE_J_ABSENT        0
#define OIE_J_STRING        1
#define OIE_J_NUMBER        2
#define OIE_J_TRUE          3
#define OIE_J_FALSE         4
#define OIE_J_NULL          5
#define OIE_J_OBJECT        6
#define OIE_J_ARRAY         7

/* what kind of refusal an error is */
#define OIE_EVENT_OK        0
#define OIE_EVENT_BAD_JSON  1
#define OIE_EVENT_BAD_BATCH 2
#define OIE_EVENT_BAD_EVENT 3


typedef struct {
    const unsigned char  *raw;     /* strings: between the quotes, as sent */
    size_t                len;     /* of raw */
    size_t                dlen;    /* strings: decoded bytes; arrays: items;
                                      objects: keys */
    int                   kind;
    int                   is_int;  /* numbers: no fraction or exponent */
    int                   escaped; /* strings: has a backslash */
    int                   flat;    /* objects/arrays: no nested containers */
    int                   strings; /* arrays: every item a string */
    size_t                max_item;/* arrays/objects: longest string item */
    double                num;
} oie_jval_t;


/* the fields of an event, wire names in oie_event.c */
enum {
    OIE_F_TYPE = 0,
    OIE_F_TIMESTAMP,
    OIE_F_SESSION_ID,
    OIE_F_VISITOR_ID,
    OIE_F_URL,
    OIE_F_LEAD_ID,
    OIE_F_REFERRER,
    OIE_F_TITLE,
    OIE_F_UTM_SOURCE,
    OIE_F_UTM_MEDIUM,
    OIE_F_UTM_CAMPAIGN,
    OIE_F_UTM_TERM,
    OIE_F_UTM_CONTENT,
    OIE_F_DEPTH,
    OIE_F_ENGAGED_MS,
    OIE_F_TAG,
    OIE_F_ELEMENT_ID,
    OIE_F_TEXT,
    OIE_F_HREF,
    OIE_F_LINK_TYPE,
    OIE_F_FORM_ID,
    OIE_F_FORM_NAME,
    OIE_F_FIELDS,
    OIE_F_ACTION,
    OIE_F_SRC,
    OIE_F_PERCENT,
    OIE_F_NAME,
    OIE_F_PROPS,
    OIE_F_WEBDRIVER,
    OIE_F_N
};


typedef struct {
    oie_jval_t            f[OIE_F_N];
    uint32_t              present; /* a bit for each field in f given */
    unsigned              type;    /* OIE_T_* bit, after checking */
} oie_wire_event_t;


typedef struct {
    oie_wire_event_t      ev[OIE_EVENTS_MAX];
    size_t                n;
    int64_t               sent_at;          /* -1: absent */
    int                   error;            /* OIE_EVENT_* */
    char                  message[160];
} oie_wire_batch_t;


/* what the edge adds to each row */
typedef struct {
    const unsigned char  *event_id;
    size_t                event_id_len;
    int64_t               received_ms;
    int64_t               sent_at;          /* -1: absent */
    const unsigned char  *ip;
    size_t                ip_len;
    const unsigned char  *user_agent;       /* NULL: absent */
    size_t                user_agent_len;
    const char           *traffic_class;    /* NULL: not classified */
    const unsigned char  *traffic_reasons;  /* a JSON array of strings */
    size_t                traffic_reasons_len;
} oie_row_ctx_t;


/*
 * Parses and checks a whole body.  b starts zeroed (static, or memset)
 * before its first parse; a parse resets only what the last one set.  Returns OIE_EVENT_OK, or the kind of
 * error with b->message saying what and where ("event 3: ...").
 */
int oie_event_parse(const unsigned char *body, size_t len,
    oie_wire_batch_t *b);

/*
 * Writes the row of one checked event (the columns of
 * sql/schemas/events.json, in order) into buf; returns its length, or 0
 * when it does not fit in cap.
 */
size_t oie_event_row(const oie_wire_event_t *ev, const oie_row_ctx_t *ctx,
    unsigned char *buf, size_t cap);

/* the event's type name, e.g. "scroll" */
const char *oie_event_type_name(const oie_wire_event_t *ev);

/* a string value decoded into buf (cap bytes); returns its length or -1 */
long oie_event_string(const oie_jval_t *v, unsigned char *buf, size_t cap);

/* the value as an integer (numbers only; fractions truncated) */
int64_t oie_event_int(const oie_jval_t *v);

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 bytes, no quotes) */
unsigned char *oie_iso_time(unsigned char *p, int64_t ms);

#endif /* _OIE_EVENT_H_INCLUDED_ */
