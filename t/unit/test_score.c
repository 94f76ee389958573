/*
 * Unit tests of src/oie_score.c against the shared definition of the
 * intent score: sql/scoring/definition.json (every tier boundary, the
 * levels, the Redis fields, patterns and constants), sql/scoring/vectors.json
 * (features -> components, total, level), sql/scoring/url-cases.json, and
 * sql/test/fixtures/activity.json (raw events folded in by oie_score_apply,
 * as the edge does, must give the features and scores the warehouse's SQL
 * reaches in sql/test/pipeline.test.mjs).
 *
 * The repository root is found from $OIE_ROOT, the working directory, or
 * the executable's place (build/unit/).
 */

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "oie_score.h"


#define NFEATURES  12

static const char *feature_names[NFEATURES] = {
    "seconds_since_last_activity",
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
    "conversion_events"
};

/* a feature vector; has[i] == 0 is JSON null (never active) */
typedef struct {
    int64_t  v[NFEATURES];
    int      has[NFEATURES];
} features_t;


static int   tests;
static int   failed;
static char  root[PATH_MAX];


static void
ok(int cond, const char *fmt, ...)
{
    va_list  ap;

    tests++;

    if (!cond) {
        failed++;
    }

    printf("%sok %d - ", cond ? "" : "not ", tests);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}


static void
diag(const char *fmt, ...)
{
    va_list  ap;

    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}


static int
find_root(void)
{
    char         exe[PATH_MAX], probe[PATH_MAX + 64];
    const char  *env;
    char        *slash;
    ssize_t      n;

    env = getenv("OIE_ROOT");
    if (env != NULL) {
        snprintf(root, sizeof(root), "%s", env);
        return 0;
    }

    if (access("sql/scoring/definition.json", R_OK) == 0) {
        snprintf(root, sizeof(root), ".");
        return 0;
    }

    /* build/unit/test_score: the root is two levels up */
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0 || n > PATH_MAX - 64) {
        return -1;
    }

    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (slash == NULL) {
        return -1;
    }

    memcpy(slash, "/../..", sizeof("/../.."));
    snprintf(probe, sizeof(probe), "%s/sql/scoring/definition.json", exe);

    if (access(probe, R_OK) != 0) {
        return -1;
    }

    memcpy(root, exe, strlen(exe) + 1);

    return 0;
}


static json_t *
load(const char *rel)
{
    char          path[PATH_MAX + 128];
    json_t       *j;
    json_error_t  err;

    snprintf(path, sizeof(path), "%s/%s", root, rel);

    j = json_load_file(path, 0, &err);
    if (j == NULL) {
        diag("%s:%d:%d: %s", path, err.line, err.column, err.text);
    }

    return j;
}


static int
feature_index(const char *name)
{
    int  i;

    for (i = 0; i < NFEATURES; i++) {
        if (strcmp(feature_names[i], name) == 0) {
            return i;
        }
    }

    return -1;
}


static int
read_features(json_t *obj, features_t *f)
{
    int      i;
    json_t  *v;

    for (i = 0; i < NFEATURES; i++) {
        v = json_object_get(obj, feature_names[i]);

        if (v == NULL) {
            diag("feature %s missing", feature_names[i]);
            return -1;
        }

        f->has[i] = !json_is_null(v);
        f->v[i] = f->has[i] ? json_integer_value(v) : 0;
    }

    return 0;
}


/* The C scorer, component by component, on a feature vector. */
static void
c_components(const features_t *f, oie_score_t *s)
{
    const int64_t  *v = f->v;

    s->recency = oie_score_recency_points(f->has[0] ? v[0] : -1);
    s->frequency = oie_score_frequency_points(v[1], v[7]);
    s->engagement = oie_score_engagement_points(v[3], v[4], v[2], v[8], v[9]);
    s->high_intent = oie_score_high_intent_points(v[5]);
    s->conversions = oie_score_conversion_points(v[6], v[10], v[11]);
    s->total = s->recency + s->frequency + s->engagement + s->high_intent
               + s->conversions;
    if (s->total > OIE_SCORE_MAX) {
        s->total = OIE_SCORE_MAX;
    }
    s->level = oie_score_level(s->total);
}


/* The same features through oie_score_compute(), as the edge scores. */
static void
c_compute(const features_t *f, int64_t now_ms, oie_score_t *s)
{
    oie_score_input_t  in;

    memset(&in, 0, sizeof(in));

    in.last_seen_ms = (f->has[0] && f->v[0] >= 0)
                      ? now_ms - f->v[0] * 1000 : 0;
    in.sessions = f->v[1];
    in.pageviews = f->v[2];
    in.engaged_ms = f->v[3];
    in.max_scroll_depth = f->v[4];
    in.high_intent_pageviews = f->v[5];
    in.form_submits = f->v[6];
    in.confirmed_clicks = f->v[7];
    in.video_completes = f->v[8];
    in.downloads = f->v[9];
    in.contact_clicks = f->v[10];
    in.conversion_events = f->v[11];

    oie_score_compute(&in, now_ms, s);
}


/* The definition read as data: an interpreter independent of oie_score.c. */
static int
def_rule_points(json_t *rule, const features_t *f)
{
    int          idx, points;
    size_t       i;
    int64_t      x;
    json_t      *tiers, *t;
    const char  *cmp;

    idx = feature_index(json_string_value(json_object_get(rule, "feature")));
    if (idx < 0 || !f->has[idx]) {
        return 0;
    }

    x = f->v[idx];
    cmp = json_string_value(json_object_get(rule, "compare"));
    tiers = json_object_get(rule, "tiers");
    points = 0;

    if (strcmp(cmp, "at_most") == 0) {
        if (x < 0) {
            return 0;
        }
        json_array_foreach(tiers, i, t) {
            if (x <= json_integer_value(json_object_get(t, "value"))) {
                return (int) json_integer_value(json_object_get(t, "points"));
            }
        }
        return 0;
    }

    json_array_foreach(tiers, i, t) {
        if (x >= json_integer_value(json_object_get(t, "value"))) {
            points = (int) json_integer_value(json_object_get(t, "points"));
        }
    }

    return points;
}


static int
def_component(json_t *comp, const features_t *f)
{
    int      sum, max;
    size_t   i;
    json_t  *rule;

    sum = 0;
    json_array_foreach(json_object_get(comp, "rules"), i, rule) {
        sum += def_rule_points(rule, f);
    }

    max = (int) json_integer_value(json_object_get(comp, "max"));

    return sum > max ? max : sum;
}


static const char *
def_level(json_t *def, int total)
{
    size_t   i;
    json_t  *l;

    json_array_foreach(json_object_get(def, "levels"), i, l) {
        if (total >= json_integer_value(json_object_get(l, "min"))) {
            return json_string_value(json_object_get(l, "name"));
        }
    }

    return "?";
}


static int
component_of(const oie_score_t *s, const char *name)
{
    if (strcmp(name, "recency") == 0) {
        return s->recency;
    }
    if (strcmp(name, "frequency") == 0) {
        return s->frequency;
    }
    if (strcmp(name, "engagement") == 0) {
        return s->engagement;
    }
    if (strcmp(name, "high_intent") == 0) {
        return s->high_intent;
    }
    if (strcmp(name, "conversions") == 0) {
        return s->conversions;
    }
    return -1;
}


/* Compares a C score with {recency, ..., total, level} JSON. */
static int
score_is(const oie_score_t *s, json_t *want, const char *what)
{
    const char  *names[] = { "recency", "frequency", "engagement",
                             "high_intent", "conversions" };
    const char  *level;
    size_t       i;
    int          good;

    good = 1;

    for (i = 0; i < 5; i++) {
        if (component_of(s, names[i])
            != json_integer_value(json_object_get(want, names[i])))
        {
            diag("%s: %s is %d, expected %lld", what, names[i],
                 component_of(s, names[i]),
                 (long long) json_integer_value(json_object_get(want,
                                                                names[i])));
            good = 0;
        }
    }

    if (s->total != json_integer_value(json_object_get(want, "total"))) {
        diag("%s: total is %d, expected %lld", what, s->total,
             (long long) json_integer_value(json_object_get(want, "total")));
        good = 0;
    }

    level = json_string_value(json_object_get(want, "level"));
    if (level == NULL
        || strcmp(oie_score_level_name(s->level), level) != 0)
    {
        diag("%s: level is %s, expected %s", what,
             oie_score_level_name(s->level), level ? level : "(none)");
        good = 0;
    }

    return good;
}


static void
test_definition(json_t *def)
{
    size_t              i, n;
    json_t             *a, *p;
    const char         *m;
    int                 good;
    oie_score_match_e   want;

    a = json_object_get(def, "redis_fields");
    good = json_array_size(a) == OIE_SCORE_NFIELDS;
    for (i = 0; good && i < OIE_SCORE_NFIELDS; i++) {
        if (strcmp(json_string_value(json_array_get(a, i)),
                   oie_score_field_names[i]) != 0)
        {
            diag("field %zu: %s vs %s", i,
                 json_string_value(json_array_get(a, i)),
                 oie_score_field_names[i]);
            good = 0;
        }
    }
    ok(good, "Redis hash fields are definition.json redis_fields, in order");

    a = json_object_get(def, "features");
    good = json_array_size(a) == NFEATURES;
    for (i = 0; good && i < NFEATURES; i++) {
        good = strcmp(json_string_value(json_array_get(a, i)),
                      feature_names[i]) == 0;
    }
    ok(good, "the features are definition.json features");

    ok(json_integer_value(json_object_get(def, "max_score")) == OIE_SCORE_MAX
       && json_integer_value(json_object_get(def, "session_gap_ms"))
          == OIE_SCORE_SESSION_GAP_MS
       && json_integer_value(json_object_get(def, "click_confirm_window_ms"))
          == OIE_SCORE_CONFIRM_WINDOW_MS
       && json_integer_value(json_object_get(def, "engaged_ms_max_per_event"))
          == OIE_SCORE_ENGAGED_MS_MAX
       && json_integer_value(json_object_get(def, "window_days"))
          == OIE_SCORE_WINDOW_DAYS,
       "constants match definition.json");

    a = json_object_get(def, "high_intent_patterns");
    n = json_array_size(a);
    good = n == oie_score_default_conf.npatterns;
    for (i = 0; good && i < n; i++) {
        p = json_array_get(a, i);
        m = json_string_value(json_object_get(p, "match"));
        want = strcmp(m, "exact") == 0 ? OIE_SCORE_MATCH_EXACT
               : strcmp(m, "prefix") == 0 ? OIE_SCORE_MATCH_PREFIX
               : strcmp(m, "segment") == 0 ? OIE_SCORE_MATCH_SEGMENT
               : OIE_SCORE_MATCH_CONTAINS;
        if (want != oie_score_default_conf.patterns[i].match
            || strcmp(json_string_value(json_object_get(p, "pattern")),
                      oie_score_default_conf.patterns[i].pattern) != 0)
        {
            diag("pattern %zu differs", i);
            good = 0;
        }
    }
    ok(good, "built-in high-intent patterns are definition.json's (%zu)", n);

    a = json_object_get(def, "conversion_events");
    n = json_array_size(a);
    good = n == oie_score_default_conf.nconversion_events;
    for (i = 0; good && i < n; i++) {
        good = strcmp(json_string_value(json_array_get(a, i)),
                      oie_score_default_conf.conversion_events[i]) == 0;
    }
    ok(good, "built-in conversion events are definition.json's (%zu)", n);

    good = 1;
    for (i = 0; i <= 100; i++) {
        if (strcmp(oie_score_level_name(oie_score_level((int) i)),
                   def_level(def, (int) i)) != 0)
        {
            diag("score %zu: %s vs %s", i,
                 oie_score_level_name(oie_score_level((int) i)),
                 def_level(def, (int) i));
            good = 0;
        }
    }
    ok(good, "levels of every score 0..100 are the definition's");
}


/* tier value -1, value, value +1 of every rule, and a few fixed values */
static size_t
probe_values(json_t *def, int feature, int64_t *out, size_t max)
{
    size_t       n, i, j, k;
    json_t      *comp, *rule, *t;
    int64_t      fixed[] = { -1, 0, 1, 1000000000000LL };
    int64_t      v;
    const char  *name;

    n = 0;

    for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        out[n++] = fixed[i];
    }

    json_array_foreach(json_object_get(def, "components"), i, comp) {
        json_array_foreach(json_object_get(comp, "rules"), j, rule) {
            name = json_string_value(json_object_get(rule, "feature"));
            if (feature_index(name) != feature) {
                continue;
            }
            json_array_foreach(json_object_get(rule, "tiers"), k, t) {
                for (v = -1; v <= 1 && n < max; v++) {
                    out[n++] = json_integer_value(json_object_get(t, "value"))
                               + v;
                }
            }
        }
    }

    return n;
}


static int
check_probe(json_t *def, const features_t *f, const char *what)
{
    size_t       i;
    json_t      *comp;
    oie_score_t  s;
    int          total, want, good;

    c_components(f, &s);

    good = 1;
    total = 0;

    json_array_foreach(json_object_get(def, "components"), i, comp) {
        want = def_component(comp, f);
        total += want;
        if (component_of(&s, json_string_value(json_object_get(comp, "name")))
            != want)
        {
            good = 0;
        }
    }

    if (total > OIE_SCORE_MAX) {
        total = OIE_SCORE_MAX;
    }

    if (s.total != total
        || strcmp(oie_score_level_name(s.level), def_level(def, total)) != 0)
    {
        good = 0;
    }

    if (!good) {
        diag("%s: C gives %d/%d/%d/%d/%d = %d, the definition %d", what,
             s.recency, s.frequency, s.engagement, s.high_intent,
             s.conversions, s.total, total);
    }

    return good;
}


static void
test_boundaries(json_t *def)
{
    int64_t     probes[NFEATURES][64];
    size_t      nprobes[NFEATURES], i, j, k, count;
    features_t  f;
    uint32_t    seed;
    int         good;
    char        what[64];

    for (i = 0; i < NFEATURES; i++) {
        nprobes[i] = probe_values(def, (int) i, probes[i], 64);
    }

    good = 1;
    count = 0;

    /* each value alone, the others 0; and "never active" */
    for (i = 0; i < NFEATURES; i++) {
        for (j = 0; j < nprobes[i]; j++) {
            memset(&f, 0, sizeof(f));
            for (k = 0; k < NFEATURES; k++) {
                f.has[k] = 1;
            }
            f.v[i] = probes[i][j];
            snprintf(what, sizeof(what), "%s=%lld", feature_names[i],
                     (long long) probes[i][j]);
            good &= check_probe(def, &f, what);
            count++;
        }
    }

    memset(&f, 0, sizeof(f));
    good &= check_probe(def, &f, "never active");
    count++;

    /* a deterministic spread of combinations */
    seed = 20241124;
    for (i = 0; i < 2000; i++) {
        for (k = 0; k < NFEATURES; k++) {
            seed = seed * 1103515245u + 12345u;
            f.v[k] = probes[k][(seed >> 8) % nprobes[k]];
            f.has[k] = !(k == 0 && ((seed >> 4) & 15) == 0);
        }
        snprintf(what, sizeof(what), "combination %zu", i);
        good &= check_probe(def, &f, what);
        count++;
    }

    ok(good, "C agrees with the definition at every tier boundary "
       "(%zu probes)", count);
}


static void
test_vectors(json_t *vectors)
{
    size_t       i;
    json_t      *v;
    features_t   f;
    oie_score_t  s, c;
    const char  *name;
    int64_t      now;

    now = 1732449600000LL;

    json_array_foreach(json_object_get(vectors, "vectors"), i, v) {
        name = json_string_value(json_object_get(v, "name"));

        if (read_features(json_object_get(v, "features"), &f) != 0) {
            ok(0, "vector %s", name);
            continue;
        }

        c_components(&f, &s);
        c_compute(&f, now, &c);

        ok(score_is(&s, json_object_get(v, "expected"), name)
           && score_is(&c, json_object_get(v, "expected"), name),
           "vector: %s", name);
    }
}


static void
test_url_cases(json_t *cases)
{
    size_t       i, start, plen, k;
    json_t      *c;
    const char  *url, *want;
    char         got[512];
    int          hi, want_hi;

    json_array_foreach(json_object_get(cases, "cases"), i, c) {
        url = json_string_value(json_object_get(c, "url"));
        want = json_string_value(json_object_get(c, "path"));
        want_hi = json_is_true(json_object_get(c, "high_intent"));

        oie_score_url_path(url, strlen(url), &start, &plen);

        if (plen == 0) {
            snprintf(got, sizeof(got), "/");

        } else {
            for (k = 0; k < plen && k < sizeof(got) - 1; k++) {
                got[k] = (url[start + k] >= 'A' && url[start + k] <= 'Z')
                         ? (char) (url[start + k] | 0x20) : url[start + k];
            }
            got[k] = '\0';
        }

        hi = oie_score_url_high_intent(NULL, url, strlen(url));

        if (strcmp(got, want) != 0 || hi != want_hi) {
            diag("path \"%s\" high %d, expected \"%s\" %d", got, hi, want,
                 want_hi);
        }

        ok(strcmp(got, want) == 0 && hi == want_hi, "url: \"%s\"", url);
    }
}


static oie_score_str_t
jstr(json_t *obj, const char *key)
{
    oie_score_str_t  s;
    json_t          *v;

    v = json_object_get(obj, key);

    if (json_is_string(v)) {
        s.data = json_string_value(v);
        s.len = json_string_length(v);

    } else {
        s.data = "";
        s.len = 0;
    }

    return s;
}


static int64_t
jint(json_t *obj, const char *key)
{
    json_t  *v;

    v = json_object_get(obj, key);

    return json_is_integer(v) ? json_integer_value(v) : -1;
}


static void
test_fixture(json_t *fx)
{
    const char         *lead, *id, *prev;
    json_t             *want, *a, *exp, *edge;
    size_t              i, j;
    int64_t             run_ms;
    oie_score_input_t   in;
    oie_score_event_t   ev;
    oie_score_t         s;
    features_t          f, wf;
    int                 good, applied;

    run_ms = json_integer_value(json_object_get(fx, "run_time_ms"));

    json_object_foreach(json_object_get(fx, "expected"), lead, want) {
        memset(&in, 0, sizeof(in));
        applied = 0;

        json_array_foreach(json_object_get(fx, "activity"), i, a) {
            if (!json_is_string(json_object_get(a, "lead_id"))
                || strcmp(json_string_value(json_object_get(a, "lead_id")),
                          lead) != 0)
            {
                /* the edge knows the lead only from the event itself */
                continue;
            }

            /* a replayed upload repeats a row; the edge saw it once */
            id = json_string_value(json_object_get(a, "event_id"));
            for (j = 0; j < i; j++) {
                prev = json_string_value(json_object_get(
                           json_array_get(json_object_get(fx, "activity"), j),
                           "event_id"));
                if (strcmp(prev, id) == 0) {
                    break;
                }
            }
            if (j < i) {
                continue;
            }

            memset(&ev, 0, sizeof(ev));
            ev.type = jstr(a, "event_type");
            ev.url = jstr(a, "url");
            ev.link_type = jstr(a, "link_type");
            ev.video_action = jstr(a, "video_action");
            ev.custom_name = jstr(a, "custom_name");
            ev.traffic_class = jstr(a, "traffic_class");
            ev.outcome = jstr(a, "outcome");
            ev.scroll_depth = jint(a, "scroll_depth");
            ev.engaged_ms = jint(a, "engaged_ms");
            ev.webdriver = json_is_true(json_object_get(a, "webdriver"));
            ev.time_ms = run_ms - jint(a, "ago_s") * 1000;

            if (oie_score_apply(NULL, &in, &ev) == OIE_SCORE_OK) {
                applied++;
            }
        }

        oie_score_compute(&in, run_ms, &s);

        f.has[0] = in.last_seen_ms > 0;
        f.v[0] = f.has[0] ? (run_ms - in.last_seen_ms) / 1000 : 0;
        f.v[1] = in.sessions;
        f.v[2] = in.pageviews;
        f.v[3] = in.engaged_ms;
        f.v[4] = in.max_scroll_depth;
        f.v[5] = in.high_intent_pageviews;
        f.v[6] = in.form_submits;
        f.v[7] = in.confirmed_clicks;
        f.v[8] = in.video_completes;
        f.v[9] = in.downloads;
        f.v[10] = in.contact_clicks;
        f.v[11] = in.conversion_events;
        for (i = 1; i < NFEATURES; i++) {
            f.has[i] = 1;
        }

        edge = json_object_get(want, "edge");
        exp = edge ? edge : want;

        good = read_features(json_object_get(exp, "features"), &wf) == 0;
        for (i = 0; good && i < NFEATURES; i++) {
            if (f.has[i] != wf.has[i] || (f.has[i] && f.v[i] != wf.v[i])) {
                diag("%s: %s is %lld, expected %lld", lead, feature_names[i],
                     f.has[i] ? (long long) f.v[i] : -1LL,
                     wf.has[i] ? (long long) wf.v[i] : -1LL);
                good = 0;
            }
        }

        good = score_is(&s, json_object_get(exp, "score"), lead) && good;

        ok(good, "fixture: %s from %d counted events%s", lead, applied,
           edge ? " (the edge's own result)" : ", as the warehouse");
    }
}


static oie_score_event_t
event(const char *type, const char *cls, const char *outcome, int64_t t)
{
    oie_score_event_t  ev;

    memset(&ev, 0, sizeof(ev));
    ev.type.data = type;
    ev.type.len = strlen(type);
    ev.traffic_class.data = cls;
    ev.traffic_class.len = strlen(cls);
    ev.outcome.data = outcome;
    ev.outcome.len = strlen(outcome);
    ev.url.data = "https://example.com/pricing";
    ev.url.len = strlen(ev.url.data);
    ev.scroll_depth = -1;
    ev.engaged_ms = -1;
    ev.time_ms = t;

    return ev;
}


static void
test_apply(void)
{
    oie_score_input_t  in;
    oie_score_event_t  ev;
    int                rc;

    memset(&in, 0, sizeof(in));

    ev = event("email_open", "human", "ok", 1000);
    ok(oie_score_apply(NULL, &in, &ev) == OIE_SCORE_IGNORED
       && in.last_seen_ms == 0, "apply: email_open is not activity");

    ev = event("email_click", "scanner", "ok", 1000);
    rc = oie_score_apply(NULL, &in, &ev);
    ev = event("email_click", "prefetch", "ok", 1000);
    rc |= oie_score_apply(NULL, &in, &ev);
    ev = event("email_click", "unknown", "ok", 1000);
    rc |= oie_score_apply(NULL, &in, &ev);
    ok(rc == OIE_SCORE_IGNORED && in.confirmed_clicks == 0,
       "apply: scanner, prefetch and unclassified clicks do not count");

    ev = event("email_click", "human", "unknown_id", 1000);
    ok(oie_score_apply(NULL, &in, &ev) == OIE_SCORE_IGNORED,
       "apply: a click that failed to resolve does not count");

    ev = event("click_confirmed", "human", "ok", 2000);
    ok(oie_score_apply(NULL, &in, &ev) == OIE_SCORE_OK
       && in.confirmed_clicks == 1 && in.last_seen_ms == 2000,
       "apply: a confirmed click counts");

    ev = event("email_click", "human", "ok", 5000);
    oie_score_apply(NULL, &in, &ev);
    ev = event("click_confirmed", "human", "ok", 5000 + 1800000);
    ok(oie_score_apply(NULL, &in, &ev) == OIE_SCORE_IGNORED
       && in.confirmed_clicks == 2 && in.last_human_click_ms == 5000,
       "apply: the confirmation of a human click counts once");

    ev = event("click_confirmed", "human", "ok", 5000 + 1800001);
    ok(oie_score_apply(NULL, &in, &ev) == OIE_SCORE_OK
       && in.confirmed_clicks == 3,
       "apply: a confirmation after the 30-minute window is another click");

    memset(&in, 0, sizeof(in));

    ev = event("pageview", "bot", "", 1000);
    rc = oie_score_apply(NULL, &in, &ev);
    ev = event("pageview", "scanner", "", 1000);
    rc |= oie_score_apply(NULL, &in, &ev);
    ev = event("pageview", "human", "", 1000);
    ev.webdriver = 1;
    rc |= oie_score_apply(NULL, &in, &ev);
    ok(rc == OIE_SCORE_IGNORED && in.pageviews == 0 && in.sessions == 0,
       "apply: bot, scanner and webdriver page traffic does not count");

    ev = event("teleport", "human", "", 1000);
    ok(oie_score_apply(NULL, &in, &ev) == OIE_SCORE_IGNORED,
       "apply: an unknown event type is ignored");

    ev = event("pageview", "", "", 1000);
    ok(oie_score_apply(NULL, &in, &ev) == OIE_SCORE_OK && in.sessions == 1
       && in.pageviews == 1 && in.high_intent_pageviews == 1,
       "apply: unclassified pageview of /pricing counts, high intent");

    ev = event("scroll", "unknown", "", 1000 + 1800000);
    ev.scroll_depth = 250;
    oie_score_apply(NULL, &in, &ev);
    ok(in.sessions == 1 && in.max_scroll_depth == 100,
       "apply: 30 minutes exactly is the same session; depth clamped");

    ev = event("engagement", "human", "", 1000 + 3600001);
    ev.engaged_ms = 99999999;
    oie_score_apply(NULL, &in, &ev);
    ok(in.sessions == 2 && in.engaged_ms == OIE_SCORE_ENGAGED_MS_MAX,
       "apply: a gap over 30 minutes starts a session; engaged_ms capped");

    ev = event("engagement", "human", "", 1000 + 3600002);
    ev.engaged_ms = -5;
    oie_score_apply(NULL, &in, &ev);
    ok(in.engaged_ms == OIE_SCORE_ENGAGED_MS_MAX,
       "apply: negative engaged_ms adds nothing");

    ev = event("custom", "human", "", 1000 + 3600003);
    ev.custom_name.data = "demo_booked";
    ev.custom_name.len = 11;
    oie_score_apply(NULL, &in, &ev);
    ev.custom_name.data = "demo_booked_not";
    ev.custom_name.len = 15;
    oie_score_apply(NULL, &in, &ev);
    ev.custom_name.len = 4;
    oie_score_apply(NULL, &in, &ev);
    ok(in.conversion_events == 1,
       "apply: only conversion names, compared whole, are conversions");
}


static void
test_input_set(void)
{
    oie_score_input_t  in;
    size_t             i;
    int                good;
    int64_t           *p;

#define SET(f, v)  oie_score_input_set(&in, f, strlen(f), v, strlen(v))

    memset(&in, 0, sizeof(in));

    ok(SET("sessions", "42") == OIE_SCORE_OK && in.sessions == 42,
       "input_set: decimal");
    ok(SET("pageviews", "-7") == OIE_SCORE_OK && in.pageviews == -7,
       "input_set: negative");
    ok(SET("last_seen_ms", "9223372036854775807") == OIE_SCORE_OK
       && in.last_seen_ms == INT64_MAX
       && SET("engaged_ms", "-9223372036854775808") == OIE_SCORE_OK
       && in.engaged_ms == INT64_MIN,
       "input_set: int64 limits");
    ok(SET("sessions", "9223372036854775808") == OIE_SCORE_BAD_VALUE
       && SET("sessions", "-9223372036854775809") == OIE_SCORE_BAD_VALUE
       && SET("sessions", "99999999999999999999") == OIE_SCORE_BAD_VALUE
       && in.sessions == 42,
       "input_set: out of range is refused, the counter kept");
    ok(SET("sessions", "") == OIE_SCORE_BAD_VALUE
       && SET("sessions", "-") == OIE_SCORE_BAD_VALUE
       && SET("sessions", "12a") == OIE_SCORE_BAD_VALUE
       && SET("sessions", " 1") == OIE_SCORE_BAD_VALUE
       && SET("sessions", "+1") == OIE_SCORE_BAD_VALUE
       && in.sessions == 42,
       "input_set: not a number is refused");
    ok(SET("score", "1") == OIE_SCORE_UNKNOWN_FIELD
       && oie_score_input_set(&in, "sessionsX", 8, "1", 1) == OIE_SCORE_OK
       && in.sessions == 1,
       "input_set: unknown field refused; lengths, not NULs, delimit");

    good = 1;
    for (i = 0; i < OIE_SCORE_NFIELDS; i++) {
        memset(&in, 0, sizeof(in));
        p = oie_score_input_field(&in, oie_score_field_names[i],
                                  strlen(oie_score_field_names[i]));
        if (p == NULL || SET(oie_score_field_names[i], "12345") != OIE_SCORE_OK
            || *p != 12345)
        {
            good = 0;
        }
    }
    ok(good, "input_set: every field name sets its own counter");

#undef SET
}


static void
test_paths(void)
{
    ok(!oie_score_path_matches(OIE_SCORE_MATCH_CONTAINS, "", "/x", 2),
       "path: an empty pattern matches nothing");
    ok(oie_score_path_matches(OIE_SCORE_MATCH_EXACT, "/", "", 0)
       && !oie_score_path_matches(OIE_SCORE_MATCH_SEGMENT, "/pricing", "", 0),
       "path: an empty path is /");
    ok(oie_score_path_matches(OIE_SCORE_MATCH_SEGMENT, "/a/b", "/X/A/B/c", 8)
       && !oie_score_path_matches(OIE_SCORE_MATCH_SEGMENT, "/a/b", "/a/bc",
                                  5)
       && oie_score_path_matches(OIE_SCORE_MATCH_SEGMENT, "/pricing",
                                 "/pricing-x/pricing", 18),
       "path: segment matches whole segments, any occurrence, any case");
    ok(!oie_score_url_high_intent(NULL, "https://example.com/pricing", 20),
       "path: only len bytes of the URL are read");
}


int
main(void)
{
    json_t  *def, *vectors, *cases, *fx;

    if (find_root() != 0) {
        printf("not ok 1 - find the repository (set OIE_ROOT)\n1..1\n");
        return 1;
    }

    def = load("sql/scoring/definition.json");
    vectors = load("sql/scoring/vectors.json");
    cases = load("sql/scoring/url-cases.json");
    fx = load("sql/test/fixtures/activity.json");

    ok(def && vectors && cases && fx, "read the shared definition, vectors, "
       "URL cases and fixture");

    if (def && vectors && cases && fx) {
        test_definition(def);
        test_boundaries(def);
        test_vectors(vectors);
        test_url_cases(cases);
        test_fixture(fx);
    }

    test_apply();
    test_input_set();
    test_paths();

    printf("1..%d\n", tests);

    json_decref(def);
    json_decref(vectors);
    json_decref(cases);
    json_decref(fx);

    return failed ? 1 : 0;
}
