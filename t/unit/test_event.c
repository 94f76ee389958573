/*
 * Unit tests for the wire-format reader and row writer (oie_event.c):
 * valid batches to exact rows, and every kind of bad input to its message.
 */

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "oie_event.h"
#include "oie_json.h"
#include "tap.h"


static oie_wire_batch_t  b;


static int
parse(const char *body)
{
    return oie_event_parse((const unsigned char *) body, strlen(body), &b);
}


static const char *
row(size_t i)
{
    static unsigned char  buf[65536];
    oie_row_ctx_t         ctx;
    size_t                n;

    ctx.event_id = (const unsigned char *) "0123456789abcdef0123456789abcdef";
    ctx.event_id_len = 32;
    ctx.received_ms = 1732406400500LL;
    ctx.sent_at = b.sent_at;
    ctx.ip = (const unsigned char *) "10.0.0.1";
    ctx.ip_len = 8;
    ctx.user_agent = (const unsigned char *) "UA \"x\"\x01\xff";
    ctx.user_agent_len = 8;
    ctx.traffic_class = NULL;
    ctx.traffic_reasons = NULL;
    ctx.traffic_reasons_len = 0;

    n = oie_event_row(&b.ev[i], &ctx, buf, sizeof(buf) - 1);
    buf[n] = '\0';
    return (const char *) buf;
}


#define EV(extra)                                                            \
    "{\"type\":\"pageview\",\"timestamp\":1732406400000,\"sessionId\":\"s\"," \
    "\"visitorId\":\"v\",\"url\":\"https://e.com/\"" extra "}"

#define BATCH(evs)  "{\"events\":[" evs "],\"meta\":{\"sentAt\":1732406400100}}"


static void
test_rows(void)
{
    const char  *r;
    json_t      *j;

    ok(parse(BATCH(EV(""))) == OIE_EVENT_OK, "a pageview parses");
    ok(b.n == 1 && b.sent_at == 1732406400100LL, "one event, sentAt read");
    r = row(0);
    ok(strcmp(r, "{\"event_id\":\"0123456789abcdef0123456789abcdef\","
                 "\"event_type\":\"pageview\","
                 "\"event_time\":\"2024-11-24T00:00:00.000Z\","
                 "\"received_at\":\"2024-11-24T00:00:00.500Z\","
                 "\"sent_at\":\"2024-11-24T00:00:00.100Z\","
                 "\"session_id\":\"s\",\"visitor_id\":\"v\","
                 "\"url\":\"https://e.com/\",\"ip\":\"10.0.0.1\","
                 "\"user_agent\":\"UA \\\"x\\\"\\u0001\\ufffd\"}") == 0,
       "the row, byte for byte (UA escaped, bad UTF-8 replaced)");

    ok(parse(BATCH(EV(",\"title\":\"caf\\u00e9 \\\"q\\\" \\ud83d\\ude00\","
                      "\"webdriver\":true"))) == OIE_EVENT_OK,
       "escapes and a surrogate pair parse");
    j = json_loads(row(0), 0, NULL);
    ok(j && strcmp(json_string_value(json_object_get(j, "title")),
                   "caf\xc3\xa9 \"q\" \xf0\x9f\x98\x80") == 0,
       "escaped strings stay valid JSON and mean the same");
    ok(j && json_is_true(json_object_get(j, "webdriver")), "booleans");
    json_decref(j);

    ok(parse(BATCH("{\"type\":\"custom\",\"timestamp\":1.5e12,"
                   "\"sessionId\":\"s\",\"visitorId\":\"v\",\"url\":\"u\","
                   "\"name\":\"n\",\"props\":{ \"a\" : \"x \\\"y\\\"\", "
                   "\"b\": 2 , \"c\":null}}")) == OIE_EVENT_OK,
       "custom with props and an exponent timestamp");
    j = json_loads(row(0), 0, NULL);
    ok(j && strcmp(json_string_value(json_object_get(j, "properties")),
                   "{\"a\":\"x \\\"y\\\"\",\"b\":2,\"c\":null}") == 0,
       "props kept as compact JSON text");
    ok(j && strcmp(json_string_value(json_object_get(j, "event_time")),
                   "2017-07-14T02:40:00.000Z") == 0, "1.5e12 ms");
    json_decref(j);

    ok(parse(BATCH("{\"type\":\"form_submit\",\"timestamp\":1,"
                   "\"sessionId\":\"s\",\"visitorId\":\"v\",\"url\":\"u\","
                   "\"fields\":[ \"email\" , \"co\\\"mp\" ]}")) == OIE_EVENT_OK,
       "form_submit with fields");
    j = json_loads(row(0), 0, NULL);
    ok(j && json_array_size(json_object_get(j, "form_fields")) == 2
       && strcmp(json_string_value(json_array_get(json_object_get(j,
                 "form_fields"), 1)), "co\"mp") == 0,
       "form_fields is a JSON array of the names");
    json_decref(j);

    ok(parse(BATCH(EV(",\"depth\":50,\"unknown\":{\"deep\":[1,2,{}]}"))
             ) == OIE_EVENT_OK,
       "unknown fields and fields of other types are read past");
    ok(strstr(row(0), "scroll_depth") == NULL && strstr(row(0), "unknown")
       == NULL, "and not written");

    ok(parse(BATCH(EV(",\"leadId\":\"aB3dE9x.Zt9Kq2Lm\""))) == OIE_EVENT_OK
       && strstr(row(0), "\"lead_id\":\"aB3dE9x\",") != NULL,
       "a signed lead id is stored bare");

    ok(parse("{\"meta\":{\"x\":[1],\"sentAt\":5},\"other\":1,\"events\":["
             EV("") "]}") == OIE_EVENT_OK, "members in any order");
    ok(b.sent_at == 5, "sentAt after another meta member");
}


static void
test_errors(void)
{
    static const struct {
        const char  *body;
        int          kind;
        const char  *message;
    } cases[] = {
        { "", OIE_EVENT_BAD_JSON, "malformed JSON at line 1 column 1: empty "
          "body" },
        { "{\"events\":[", OIE_EVENT_BAD_JSON, "malformed JSON at line 1 "
          "column 12: unexpected end of input" },
        { "{\n\"events\" 1}", OIE_EVENT_BAD_JSON, "malformed JSON at line 2 "
          "column 10: expected ':'" },
        { "[1]", OIE_EVENT_BAD_BATCH, "the body must be a JSON object" },
        { "[1] x", OIE_EVENT_BAD_JSON, "malformed JSON at line 1 column 5: "
          "trailing characters" },
        { "{} {}", OIE_EVENT_BAD_JSON, "malformed JSON at line 1 column 4: "
          "trailing characters" },
        { "{}", OIE_EVENT_BAD_BATCH, "\"events\" must be an array" },
        { "{\"events\":{}}", OIE_EVENT_BAD_BATCH, "\"events\" must be an "
          "array" },
        { "{\"events\":[]}", OIE_EVENT_BAD_BATCH, "\"events\" must hold 1 to "
          "100 events" },
        { "{\"events\":[1]}", OIE_EVENT_BAD_EVENT, "event 0: is not an "
          "object" },
        { "{\"events\":[],\"events\":[]}", OIE_EVENT_BAD_JSON, "malformed "
          "JSON at line 1 column 23: duplicate object key" },
        { BATCH(EV(",\"type\":\"click\"")), OIE_EVENT_BAD_JSON, NULL },
        { "{\"events\":[" EV("") "],\"meta\":[]}", OIE_EVENT_BAD_BATCH,
          "\"meta\" must be an object" },
        { "{\"events\":[" EV("") "],\"meta\":{\"sentAt\":\"x\"}}",
          OIE_EVENT_BAD_BATCH, "\"meta.sentAt\" must be a time in "
          "milliseconds" },
        { BATCH("{\"type\":7}"), OIE_EVENT_BAD_EVENT, "event 0: \"type\" "
          "must be a string" },
        { BATCH("{\"type\":\"x\\u0022y\"}"), OIE_EVENT_BAD_EVENT,
          "event 0: unknown type \"x?y\"" },
        { BATCH("{\"type\":\"pageview\",\"timestamp\":-1,\"sessionId\":\"s\","
                "\"visitorId\":\"v\",\"url\":\"u\"}"), OIE_EVENT_BAD_EVENT,
          "event 0: \"timestamp\" must be a time in milliseconds" },
        { BATCH("{\"type\":\"pageview\",\"timestamp\":1,\"sessionId\":\"\","
                "\"visitorId\":\"v\",\"url\":\"u\"}"), OIE_EVENT_BAD_EVENT,
          "event 0: \"sessionId\" must be a string of 1 to 128 bytes" },
        { BATCH(EV(",\"leadId\":5")), OIE_EVENT_BAD_EVENT,
          "event 0: \"leadId\" must be a string of at most 128 bytes" },
        { BATCH(EV(",\"webdriver\":1")), OIE_EVENT_BAD_EVENT,
          "event 0: \"webdriver\" must be true or false" },
        { BATCH("{\"type\":\"scroll\",\"timestamp\":1,\"sessionId\":\"s\","
                "\"visitorId\":\"v\",\"url\":\"u\",\"depth\":30}"),
          OIE_EVENT_BAD_EVENT, "event 0: \"depth\" must be 25, 50, 75 or "
          "100" },
        { BATCH("{\"type\":\"video\",\"timestamp\":1,\"sessionId\":\"s\","
                "\"visitorId\":\"v\",\"url\":\"u\",\"action\":\"stop\"}"),
          OIE_EVENT_BAD_EVENT, "event 0: \"action\" must be play, progress "
          "or complete" },
        { BATCH("{\"type\":\"engagement\",\"timestamp\":1,\"sessionId\":\"s\","
                "\"visitorId\":\"v\",\"url\":\"u\",\"engagedMs\":null}"),
          OIE_EVENT_BAD_EVENT, "event 0: needs \"engagedMs\"" },
        { BATCH("{\"type\":\"custom\",\"timestamp\":1,\"sessionId\":\"s\","
                "\"visitorId\":\"v\",\"url\":\"u\",\"name\":\"n\","
                "\"props\":{\"a\":[1]}}"), OIE_EVENT_BAD_EVENT,
          "event 0: \"props\" must be a flat object of at most 50 keys" },
        { BATCH("{\"type\":\"form_submit\",\"timestamp\":1,\"sessionId\":\"s\","
                "\"visitorId\":\"v\",\"url\":\"u\",\"fields\":[\"a\",1]}"),
          OIE_EVENT_BAD_EVENT, "event 0: \"fields\" must be an array of at "
          "most 100 strings of at most 128 bytes" },
        { BATCH(EV(",\"title\":\"a\\u0000b\"")), OIE_EVENT_BAD_JSON, NULL },
        { BATCH(EV(",\"title\":\"\xc0\xaf\"")), OIE_EVENT_BAD_JSON, NULL },
        { BATCH(EV(",\"title\":\"\xed\xa0\x80\"")), OIE_EVENT_BAD_JSON, NULL },
        { BATCH(EV(",\"title\":\"\\ud800\"")), OIE_EVENT_BAD_JSON, NULL },
        { BATCH(EV(",\"title\":\"\\udc00\"")), OIE_EVENT_BAD_JSON, NULL },
        { BATCH(EV(",\"title\":\"\\x\"")), OIE_EVENT_BAD_JSON, NULL },
        { BATCH(EV(",\"title\":\"a\tb\"")), OIE_EVENT_BAD_JSON, NULL },
        { BATCH(EV(",\"n\":01")), OIE_EVENT_BAD_JSON, NULL },
        { BATCH(EV(",\"n\":1.")), OIE_EVENT_BAD_JSON, NULL },
        { BATCH(EV(",\"n\":tru")), OIE_EVENT_BAD_JSON, NULL },
        { BATCH(EV(",\"n\":[1,]")), OIE_EVENT_BAD_JSON, NULL },
        { BATCH(EV(",")), OIE_EVENT_BAD_JSON, NULL },
    };

    char     name[160];
    size_t   i;
    int      rc;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rc = parse(cases[i].body);
        snprintf(name, sizeof(name), "bad input %zu: %s", i,
                 cases[i].message ? cases[i].message : "malformed JSON");
        ok(rc == cases[i].kind
           && (cases[i].message == NULL
               ? strncmp(b.message, "malformed JSON", 14) == 0
               : strcmp(b.message, cases[i].message) == 0), name);
        if (rc != cases[i].kind || (cases[i].message
                                    && strcmp(b.message, cases[i].message)))
        {
            printf("#   got %d \"%s\"\n", rc, b.message);
        }
    }
}


static void
test_limits(void)
{
    static char  big[200000];
    char        *p;
    int          i;

    p = big;
    p += sprintf(p, "{\"events\":[");
    for (i = 0; i < 101; i++) {
        p += sprintf(p, "%s" EV(""), i ? "," : "");
    }
    sprintf(p, "]}");
    ok(parse(big) == OIE_EVENT_BAD_BATCH
       && strcmp(b.message, "\"events\" must hold 1 to 100 events") == 0,
       "101 events refused");

#define HEAD  "{\"events\":[{\"type\":\"pageview\",\"timestamp\":1," \
              "\"sessionId\":\"s\",\"visitorId\":\"v\",\"url\":\"u\","

    p = big;
    p += sprintf(p, HEAD "\"x\":");
    for (i = 0; i < 5000; i++) {
        *p++ = '[';
    }
    for (i = 0; i < 5000; i++) {
        *p++ = ']';
    }
    sprintf(p, "}]}");
    ok(parse(big) == OIE_EVENT_BAD_JSON && strstr(b.message, "nesting too "
       "deep"), "deep nesting refused without recursion trouble");

    p = big;
    p += sprintf(p, HEAD "\"title\":\"");
    for (i = 0; i < 513; i++) {
        *p++ = 'x';
    }
    sprintf(p, "\"}]}");
    ok(parse(big) == OIE_EVENT_BAD_EVENT
       && strstr(b.message, "\"title\" must be a string of at most 512"),
       "a 513-byte title refused");

    ok(parse(BATCH(EV(",\"title\":\"\\u00e9\\u00e9\""))) == OIE_EVENT_OK
       && b.ev[0].f[OIE_F_TITLE].dlen == 4, "lengths count decoded bytes");
}


static void
test_time(void)
{
    char           want[128];
    unsigned char  got[40];
    long long      ms;
    int            bad;
    time_t         t;
    struct tm      tm;

    bad = 0;

    for (ms = 0; ms < 253402300799999LL; ms += 7777777777LL) {
        *oie_iso_time(got, ms) = '\0';
        t = (time_t) (ms / 1000);
        gmtime_r(&t, &tm);
        snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, (int) (ms % 1000));
        bad += strcmp((char *) got, want) != 0;
    }

    ok(bad == 0, "ISO times agree with gmtime_r from 1970 to 9999");

    *oie_iso_time(got, 253402300799999LL) = '\0';
    ok(strcmp((char *) got, "9999-12-31T23:59:59.999Z") == 0,
       "the last millisecond BigQuery takes");

    *oie_iso_time(got, -1) = '\0';
    ok(strcmp((char *) got, "1970-01-01T00:00:00.000Z") == 0,
       "a time before 1970 is written as 1970");

    *oie_iso_time(got, 253402300800000LL * 100) = '\0';
    ok(strcmp((char *) got, "9999-12-31T23:59:59.999Z") == 0,
       "a time past 9999 is written as the last one");
}


/* the byte-at-a-time meaning of oie_json_plain() */
static const unsigned char *
plain_ref(const unsigned char *p, const unsigned char *end)
{
    while (p < end && *p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\') {
        p++;
    }

    return p;
}


static void
test_plain(void)
{
    int            c, bad, len, at, k;
    unsigned char  buf[40];
    unsigned       seed;

    /* every byte value at every place of runs of every length up to 33,
     * in a run of 'a' and next to the bytes where borrows and carries
     * could cross (0x00, 0x1f, 0x20, 0x7e, 0x7f, 0x80, 0xff) */
    bad = 0;

    for (len = 0; len <= 33; len++) {
        for (at = 0; at < len; at++) {
            for (c = 0; c < 256; c++) {
                for (k = 0; k < 3; k++) {
                    static const unsigned char  fill[] = { 'a', 0x7e, 0x20 };

                    memset(buf, fill[k], sizeof(buf));
                    buf[at] = (unsigned char) c;

                    bad += oie_json_plain(buf, buf + len)
                           != plain_ref(buf, buf + len);
                }
            }
        }
    }

    ok(bad == 0, "plain runs: one odd byte anywhere");

    /* random words of the awkward bytes */
    bad = 0;
    seed = 12345;

    for (k = 0; k < 200000; k++) {
        static const unsigned char  odd[] = {
            0x00, 0x01, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d,
            0x7e, 0x7f, 0x80, 0xfe, 0xff, 'a'
        };

        len = k % 33;

        for (at = 0; at < len; at++) {
            seed = seed * 1103515245 + 12345;
            buf[at] = odd[(seed >> 16) % sizeof(odd)];
            if ((seed >> 8) & 1) {
                buf[at] = 'x';
            }
        }

        bad += oie_json_plain(buf, buf + len) != plain_ref(buf, buf + len);
    }

    ok(bad == 0, "plain runs: random mixes of awkward bytes");
}


/* not a test: what parsing and writing the row of make bench's event cost
 * here (built -O1, hot in cache; under load the caches are colder) */
static void
bench(void)
{
    int                   i, n;
    double                parse, rowt;
    size_t                len;
    oie_row_ctx_t         ctx;
    struct timespec       t0, t1, t2;
    static unsigned char  buf[65536];
    static const char     body[] =
        "{\"events\":[{\"type\":\"pageview\",\"timestamp\":1732406400000,"
        "\"sessionId\":\"s_8f2k1m\",\"visitorId\":\"aB3dE9x\","
        "\"leadId\":\"aB3dE9x\",\"url\":\"https://example.com/pricing?"
        "utm_source=email&utm_medium=cold-email\",\"referrer\":"
        "\"https://mail.google.com/\",\"title\":\"Pricing - Example\","
        "\"utmSource\":\"email\",\"utmMedium\":\"cold-email\","
        "\"utmCampaign\":\"q1-outbound\"}],\"meta\":{\"sentAt\":"
        "1732406400100}}";

    memset(&ctx, 0, sizeof(ctx));
    ctx.event_id = (const unsigned char *) "0123456789abcdef0123456789abcdef";
    ctx.event_id_len = 32;
    ctx.received_ms = 1732406400123LL;
    ctx.sent_at = 1732406400100LL;
    ctx.ip = (const unsigned char *) "192.0.2.1";
    ctx.ip_len = 9;
    ctx.user_agent = (const unsigned char *) "Mozilla/5.0 (X11; Linux x86_64) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
    ctx.user_agent_len = strlen((const char *) ctx.user_agent);
    ctx.traffic_class = "human";
    ctx.traffic_reasons = (const unsigned char *) "[]";
    ctx.traffic_reasons_len = 2;

    n = 200000;
    len = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    for (i = 0; i < n; i++) {
        len += oie_event_parse((const unsigned char *) body, sizeof(body) - 1,
                               &b);
    }

    clock_gettime(CLOCK_MONOTONIC, &t1);

    for (i = 0; i < n; i++) {
        len += oie_event_row(&b.ev[0], &ctx, buf, sizeof(buf));
    }

    clock_gettime(CLOCK_MONOTONIC, &t2);

    parse = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / n;
    rowt = ((t2.tv_sec - t1.tv_sec) * 1e9 + (t2.tv_nsec - t1.tv_nsec)) / n;

    printf("# make bench's event (%zu bytes): parse %.0f ns, row %.0f ns\n",
           sizeof(body) - 1, parse, rowt);
}


int
main(void)
{
    plan(16 + 37 + 4 + 4 + 2);
    test_rows();
    test_errors();
    test_limits();
    test_time();
    test_plain();
    bench();
    return done_testing();
}
