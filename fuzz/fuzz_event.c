/*
 * libFuzzer harness for src/oie_event.c, the /t body (and GET d=, once
 * decoded): the bytes a stranger's browser sends.  The input is the body;
 * the same bytes are also the User-Agent, so raw header bytes (invalid
 * UTF-8, controls, quotes) reach the row writer too.
 *
 * Checked against jansson: a body the reader accepts is JSON, with the same
 * number of events and the same decoded ids, URL and type; a body it calls
 * malformed is refused by jansson too, unless the reader's documented limits
 * explain it (nesting deeper than OIE_JSON_MAX_DEPTH, a key the edge reads
 * given twice).  Every row written is one valid JSON object in UTF-8 whose
 * columns hold what was sent.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "oie_event.h"
#include "fuzz_util.h"


#define FUZZ_ROW_CAP  (64 * 1024)


static const char  *fuzz_wire_ids[] = { "sessionId", "visitorId", "url" };
static const char  *fuzz_row_ids[] = { "session_id", "visitor_id", "url" };
static const int    fuzz_id_fields[] = { OIE_F_SESSION_ID, OIE_F_VISITOR_ID,
                                         OIE_F_URL };


static void
fuzz_check_row(const oie_wire_event_t *ev, json_t *wire,
    const uint8_t *ua, size_t ua_len)
{
    int             i;
    long            n;
    size_t          len;
    json_t         *row, *v;
    json_error_t    err;
    oie_row_ctx_t   ctx;
    unsigned char   dec[4096];

    static unsigned char  buf[FUZZ_ROW_CAP];

    memset(&ctx, 0, sizeof(ctx));
    ctx.event_id = (const unsigned char *) "0123456789abcdef0123456789abcdef";
    ctx.event_id_len = 32;
    ctx.received_ms = 1732406400123LL;
    ctx.sent_at = 1732406400100LL;
    ctx.ip = (const unsigned char *) "127.0.0.1";
    ctx.ip_len = 9;
    ctx.user_agent = ua;
    ctx.user_agent_len = ua_len;

    len = oie_event_row(ev, &ctx, buf, sizeof(buf));

    /* limits on every field keep a row far below 64 KB */
    FUZZ_CHECK(len > 0 && len < sizeof(buf));
    FUZZ_CHECK(fuzz_utf8_valid(buf, len));

    row = json_loadb((char *) buf, len, JSON_REJECT_DUPLICATES, &err);
    if (row == NULL) {
        fprintf(stderr, "row is not JSON (%s at %d): %.*s\n", err.text,
                err.position, (int) len, buf);
        FUZZ_CHECK(row != NULL);
    }

    FUZZ_CHECK(json_is_object(row));
    FUZZ_CHECK(strcmp(json_string_value(json_object_get(row, "event_type")),
                      oie_event_type_name(ev)) == 0);
    FUZZ_CHECK(json_is_string(json_object_get(row, "user_agent")));
    FUZZ_CHECK(json_is_string(json_object_get(row, "event_time")));

    for (i = 0; i < 3; i++) {
        /* the reader's decoding, jansson's and the row's agree */
        n = oie_event_string(&ev->f[fuzz_id_fields[i]], dec, sizeof(dec));
        FUZZ_CHECK(n > 0);

        v = json_object_get(wire, fuzz_wire_ids[i]);
        FUZZ_CHECK(json_is_string(v) && json_string_length(v) == (size_t) n);
        FUZZ_CHECK(memcmp(json_string_value(v), dec, n) == 0);

        v = json_object_get(row, fuzz_row_ids[i]);
        FUZZ_CHECK(json_is_string(v) && json_string_length(v) == (size_t) n);
        FUZZ_CHECK(memcmp(json_string_value(v), dec, n) == 0);
    }

    v = json_object_get(row, "properties");

    if (v != NULL) {
        /* a flat object kept as JSON text: it must read back as one, with
         * the keys and values that were sent */
        json_t  *props, *sent;

        FUZZ_CHECK(json_is_string(v));
        props = json_loadb(json_string_value(v), json_string_length(v), 0,
                           &err);
        FUZZ_CHECK(props != NULL && json_is_object(props));
        sent = json_object_get(wire, "props");
        FUZZ_CHECK(json_equal(props, sent));
        json_decref(props);
    }

    v = json_object_get(row, "form_fields");

    if (v != NULL) {
        FUZZ_CHECK(json_equal(v, json_object_get(wire, "fields")));
    }

    json_decref(row);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                rc;
    size_t             i;
    json_t            *root, *events, *strict;
    json_error_t       err;

    static oie_wire_batch_t  b;

    rc = oie_event_parse(data, size, &b);

    FUZZ_CHECK(rc == b.error);
    FUZZ_CHECK(memchr(b.message, '\0', sizeof(b.message)) != NULL);

    /* the message goes out in a JSON error reply */
    for (i = 0; b.message[i]; i++) {
        FUZZ_CHECK((unsigned char) b.message[i] >= 0x20
                   && (unsigned char) b.message[i] < 0x7f);
    }

    root = json_loadb((const char *) data, size, JSON_DECODE_ANY, &err);

    switch (rc) {

    case OIE_EVENT_OK:
        if (root == NULL) {
            /* numbers past double or int64 are JSON; jansson gives up */
            FUZZ_CHECK(strstr(err.text, "overflow") != NULL
                       || strstr(err.text, "too big") != NULL);
            break;
        }

        FUZZ_CHECK(b.message[0] == '\0');
        FUZZ_CHECK(b.n >= 1 && b.n <= OIE_EVENTS_MAX);

        events = json_object_get(root, "events");
        FUZZ_CHECK(json_is_array(events) && json_array_size(events) == b.n);

        for (i = 0; i < b.n; i++) {
            fuzz_check_row(&b.ev[i], json_array_get(events, i), data,
                           size > 2048 ? 2048 : size);
        }

        break;

    case OIE_EVENT_BAD_JSON:
        FUZZ_CHECK(strncmp(b.message, "malformed JSON at line ", 23) == 0);

        if (root == NULL || memchr(data, '\0', size) != NULL) {
            break;
        }

        if (strstr(b.message, "nesting too deep")) {
            break;
        }

        /* a key the edge reads, twice: jansson can be told to refuse it */
        FUZZ_CHECK(strstr(b.message, "duplicate object key") != NULL);
        strict = json_loadb((const char *) data, size,
                            JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
        FUZZ_CHECK(strict == NULL);
        break;

    case OIE_EVENT_BAD_BATCH:
    case OIE_EVENT_BAD_EVENT:
        /* well-formed JSON of the wrong shape */
        FUZZ_CHECK(b.message[0] != '\0');
        FUZZ_CHECK(root != NULL || strstr(err.text, "overflow") != NULL
                   || strstr(err.text, "too big") != NULL);
        break;

    default:
        FUZZ_CHECK(0);
    }

    json_decref(root);

    return 0;
}
