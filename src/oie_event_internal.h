/*
 * Inside the wire-format code, shared by its three files: the strict JSON
 * reader (oie_event_json.c), the event reader and checker (oie_event.c)
 * and the row writer (oie_event_row.c).  Not for other callers: see
 * oie_event.h.
 */

#ifndef _OIE_EVENT_INTERNAL_H_INCLUDED_
#define _OIE_EVENT_INTERNAL_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>

#include "oie_event.h"


#define OIE_T_PAGEVIEW     0x01
#define OIE_T_SCROLL       0x02
#define OIE_T_CLICK        0x04
#define OIE_T_FORM         0x08
#define OIE_T_VIDEO        0x10
#define OIE_T_FOCUS        0x20
#define OIE_T_ENGAGEMENT   0x40
#define OIE_T_CUSTOM       0x80
#define OIE_T_ALL          0xff

/* how a field is checked and written */
#define OIE_K_STR          1
#define OIE_K_INT          2
#define OIE_K_BOOL         3
#define OIE_K_STRLIST      4
#define OIE_K_PROPS        5
#define OIE_K_MSEC         6

/* 9999-12-31, the last day BigQuery's TIMESTAMP takes */
#define OIE_MAX_MSEC       253402300799999LL

#define OIE_MAX_LIST       100
#define OIE_MAX_PROPS      50
#define OIE_MAX_PROP_STR   1024


typedef struct {
    const char  *name;
    size_t       len;
    unsigned     mask;
} oie_type_t;


/* a literal and its length */
#define OIE_LIT(s)         s, sizeof(s) - 1
/* the text that opens a column after the first: ,"name": */
#define OIE_KEY(s)         OIE_LIT(",\"" s "\":")


typedef struct {
    const char  *wire;
    size_t       wire_len;
    const char  *key;            /* ,"column": -- NULL: written by hand */
    size_t       key_len;
    int          kind;
    int64_t      min;            /* strings: shortest length */
    int64_t      max;            /* bytes for strings, value for numbers */
    unsigned     types;          /* event types the field belongs to */
    unsigned     required;       /* event types that must carry it */
} oie_field_t;


/* the types, ended by a NULL name */
extern const oie_type_t   oie_types[];

/* indexed by OIE_F_*; the optional ones are written in this order */
extern const oie_field_t  oie_fields[OIE_F_N];

/* by type bit: the fields the type has (built by the first parse) */
extern uint32_t           oie_type_fields[8];

/* the JSON reader: a cursor over the body, and the first error met */
typedef struct {
    const unsigned char  *start;
    const unsigned char  *p;
    const unsigned char  *end;
    int                   depth;
    const char           *error;
} oie_reader_t;

void oie_skip_ws(oie_reader_t *r);

/* sets r->error if none is set yet; returns -1 */
int oie_fail(oie_reader_t *r, const char *why);

/* one value at r->p (a string at its opening quote); leaves r->p after
 * it; 0, or -1 with r->error set */
int oie_read_value(oie_reader_t *r, oie_jval_t *v);
int oie_read_string(oie_reader_t *r, oie_jval_t *v);

/* a member's key and its colon, at the key's opening quote; leaves r->p at
 * the value */
int oie_read_key(oie_reader_t *r, oie_jval_t *key);

/* one UTF-8 sequence at p (lead byte >= 0x80); its length, or 0 if bad */
size_t oie_utf8_seq(const unsigned char *p, const unsigned char *end);

#endif /* _OIE_EVENT_INTERNAL_H_INCLUDED_ */
