/*
 * oie leads push | get | export-bq: identities into Redis, out of Redis,
 * and into rows for BigQuery.
 */

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "oie_cli.h"
#include "oie_id.h"
#include "oie_ndjson.h"
#include "oie_redis.h"


#define OIE_TTL_DEFAULT      (90 * 86400)
#define OIE_BATCH_DEFAULT    1000
#define OIE_TIMEOUT_DEFAULT  5.0


/*
 * One lead, atomically: refuse to replace a lead of another email unless
 * forced, then DEL + HSET + EXPIRE so that a re-push leaves exactly the
 * pushed fields.  Returns 1 (created), 2 (replaced) or, for a conflict,
 * the campaign that holds the id.
 *
 * KEYS[1] the key; ARGV: force, emailHash, ttl (0: none), field, value...
 */

static const char  oie_push_script[] =
    "local cur = redis.call('HGET', KEYS[1], 'emailHash')\n"
    "if cur and cur ~= ARGV[2] and ARGV[1] ~= '1' then\n"
    "  return redis.call('HGET', KEYS[1], 'campaign') or ''\n"
    "end\n"
    "local existed = redis.call('DEL', KEYS[1])\n"
    "redis.call('HSET', KEYS[1], unpack(ARGV, 4))\n"
    "if ARGV[3] ~= '0' then\n"
    "  redis.call('EXPIRE', KEYS[1], ARGV[3])\n"
    "end\n"
    "return existed + 1\n";


/* the identity's own fields that go into the hash, besides attributes */

static const char  *oie_hash_fields[] = {
    "firstName", "lastName", "company", "title", NULL
};

static const char  *oie_hash_reserved[] = {
    "id", "campaign", "destination", "emailHash", "firstName", "lastName",
    "company", "title", "email", NULL
};


typedef struct {
    oie_redis_t      redis;
    uint64_t         ttl;
    uint64_t         batch;
    int              force;
    int              progress;
    char             sha[41];
    char             ttl_text[24];

    /* the batch: formatted commands and where each lead came from */
    char            *cmds;
    size_t           cmds_len;
    size_t           cmds_alloc;
    size_t          *lines;
    const char     **ids;
    size_t           n;
    const char      *fname;

    const char     **argv;
    size_t          *argvlen;
    size_t           argv_alloc;

    size_t           created;
    size_t           replaced;
    size_t           conflicts;
    size_t           total;
} oie_push_t;


static int oie_leads_push(int argc, char **argv);
static int oie_leads_get(int argc, char **argv);
static int oie_leads_export(int argc, char **argv);
static int oie_push_load_script(oie_push_t *ps);
static int oie_push_add(oie_push_t *ps, oie_identity_t *ident);
static int oie_push_flush(oie_push_t *ps);
static int oie_check_files(char **files, int nfiles, size_t *count);
static int oie_redis_options(oie_redis_t *r, int c, const char *arg);


static const char  oie_leads_usage[] =
    "usage: oie leads push [options] FILE.ndjson...\n"
    "       oie leads get [options] ID\n"
    "       oie leads export-bq [options] FILE.ndjson...\n"
    "\n"
    "`oie leads COMMAND --help` describes each.\n";


static const char  oie_push_usage[] =
    "usage: oie leads push [options] FILE.ndjson...\n"
    "\n"
    "Loads the identities written by `oie campaign create` into Redis, one\n"
    "hash per lead: oie:lead:<id> with id, campaign, destination, emailHash,\n"
    "firstName, lastName, company, title and every attribute (empty values\n"
    "left out; never the email itself).  Pipelined in batches; each lead is\n"
    "written atomically, replacing what an earlier push left, so pushing\n"
    "again is safe.  Every file is checked before anything is written.\n"
    "\n"
    "An id already held in Redis by a lead of another email is not\n"
    "overwritten: it is reported and the exit code is 7 (see --force).\n"
    "\n"
    "options:\n"
    "  --redis ADDR     HOST:PORT, [IPv6]:PORT or /unix/socket\n"
    "                   (default: $OIE_REDIS or 127.0.0.1:6379)\n"
    "  --db N           database number (default: 0)\n"
    "  --ttl DURATION   expiry of each lead: 90d (default), 12h, 30m, 45s\n"
    "                   or seconds; 0 keeps leads forever\n"
    "  --batch N        leads per pipelined batch (default: 1000)\n"
    "  --timeout SECS   connect and reply timeout (default: 5)\n"
    "  --force          overwrite ids held by other leads\n"
    "  --progress       report progress on stderr (default: on a terminal)\n"
    "  --quiet          no progress or summary\n"
    "  --help           this text\n"
    "\n"
    "OIE_REDIS_PASSWORD, when set, is sent with AUTH.\n"
    "Exit codes: see `oie --help`.\n";


static const char  oie_get_usage[] =
    "usage: oie leads get [options] ID\n"
    "\n"
    "Prints the lead oie:lead:<ID> as JSON: {\"key\", \"ttl\" (seconds, null\n"
    "when it never expires), \"fields\"}.  ID may be a signed id\n"
    "(<id>.<tag>); with --secret-file its tag is checked.\n"
    "\n"
    "options:\n"
    "  --redis ADDR        as for leads push\n"
    "  --db N              database number (default: 0)\n"
    "  --timeout SECS      connect and reply timeout (default: 5)\n"
    "  --secret-file FILE  check the tag of a signed id\n"
    "  --help              this text\n"
    "\n"
    "Exit code 6 when there is no such lead; see `oie --help`.\n";


static const char  oie_export_usage[] =
    "usage: oie leads export-bq [options] FILE.ndjson...\n"
    "\n"
    "Writes rows for BigQuery's outbound_sales.identity_map and\n"
    "outbound_sales.lead_profiles tables as NDJSON, ready for\n"
    "  bq load --source_format=NEWLINE_DELIMITED_JSON \\\n"
    "      outbound_sales.identity_map DIR/identity_map.ndjson\n"
    "Emails appear only as SHA-256 hashes (email_sha256).  A lead's\n"
    "profile starts cold (score 0); the scheduled queries update it.\n"
    "\n"
    "options:\n"
    "  --out DIR        where identity_map.ndjson and lead_profiles.ndjson\n"
    "                   go (default: .)\n"
    "  --table TABLE    write only TABLE's rows (identity_map or\n"
    "                   lead_profiles) to stdout\n"
    "  --quiet          no summary\n"
    "  --help           this text\n"
    "\n"
    "Exit codes: see `oie --help`.\n";


int
oie_cmd_leads(int argc, char **argv)
{
    if (argc < 2) {
        fputs(oie_leads_usage, stderr);
        return OIE_EXIT_USAGE;
    }

    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(oie_leads_usage, stdout);
        return OIE_EXIT_OK;
    }

    if (strcmp(argv[1], "push") == 0) {
        return oie_leads_push(argc - 1, argv + 1);
    }

    if (strcmp(argv[1], "get") == 0) {
        return oie_leads_get(argc - 1, argv + 1);
    }

    if (strcmp(argv[1], "export-bq") == 0) {
        return oie_leads_export(argc - 1, argv + 1);
    }

    oie_error("unknown command 'leads %s' (try: oie leads --help)", argv[1]);

    return OIE_EXIT_USAGE;
}


/* The options every Redis command shares; 0 when c is not one of them. */

static int
oie_redis_options(oie_redis_t *r, int c, const char *arg)
{
    char      *end;
    uint64_t   v;
    double     t;

    switch (c) {
    case 'r':
        r->addr = arg;
        return 1;
    case 'd':
        if (oie_parse_uint(arg, 0, 1000000, &v) != 0) {
            oie_error("--db must be a database number, not '%s'", arg);
            return -1;
        }
        r->db = (long) v;
        return 1;
    case 'T':
        t = strtod(arg, &end);
        if (*arg == '\0' || *end != '\0' || !(t > 0.0 && t <= 3600.0)) {
            oie_error("--timeout must be seconds (0-3600], not '%s'", arg);
            return -1;
        }
        r->timeout = t;
        return 1;
    }

    return 0;
}


/* Pass one: every line of every file is checked before Redis is touched. */

static int
oie_check_files(char **files, int nfiles, size_t *count)
{
    int              i, rc;
    size_t           bad;
    oie_ndjson_t     nd;
    oie_identity_t   ident;

    bad = 0;
    *count = 0;

    for (i = 0; i < nfiles; i++) {
        if (strcmp(files[i], "-") == 0) {
            oie_error("identities cannot be read from stdin here (they are "
                      "read twice: checked, then loaded); give a file");
            return OIE_EXIT_USAGE;
        }

        rc = oie_ndjson_open(&nd, files[i]);
        if (rc != OIE_EXIT_OK) {
            return rc;
        }

        for ( ;; ) {
            rc = oie_ndjson_next(&nd, &ident);

            if (rc == 0) {
                break;
            }

            if (rc == -2) {
                oie_ndjson_close(&nd);
                return OIE_EXIT_INTERNAL;
            }

            if (rc < 0) {
                if (++bad >= OIE_MAX_REPORTED) {
                    break;
                }

                continue;
            }

            (*count)++;
        }

        oie_ndjson_close(&nd);

        if (bad >= OIE_MAX_REPORTED) {
            oie_error("more errors not shown");
            break;
        }
    }

    if (bad) {
        oie_error("bad identities: nothing was loaded");
        return OIE_EXIT_DATA;
    }

    return OIE_EXIT_OK;
}


static int
oie_leads_push(int argc, char **argv)
{
    int              c, i, rc, nfiles;
    char           **files;
    double           start;
    size_t           count;
    oie_push_t       ps;
    oie_ndjson_t     nd;
    oie_identity_t   ident;
    oie_progress_t   progress;

    static const struct option  opts[] = {
        { "redis",    required_argument, NULL, 'r' },
        { "db",       required_argument, NULL, 'd' },
        { "timeout",  required_argument, NULL, 'T' },
        { "ttl",      required_argument, NULL, 't' },
        { "batch",    required_argument, NULL, 'b' },
        { "force",    no_argument,       NULL, 'f' },
        { "progress", no_argument,       NULL, 'p' },
        { "quiet",    no_argument,       NULL, 'q' },
        { "help",     no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    memset(&ps, 0, sizeof(oie_push_t));
    ps.redis.addr = oie_redis_default();
    ps.redis.timeout = OIE_TIMEOUT_DEFAULT;
    ps.ttl = OIE_TTL_DEFAULT;
    ps.batch = OIE_BATCH_DEFAULT;

    optind = 0;
    opterr = 0;

    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        rc = oie_redis_options(&ps.redis, c, optarg);
        if (rc < 0) {
            return OIE_EXIT_USAGE;
        }

        if (rc > 0) {
            continue;
        }

        switch (c) {
        case 't':
            if (oie_parse_duration(optarg, &ps.ttl) != 0) {
                oie_error("--ttl must be a duration like 90d, 12h, 30m, 45s "
                          "or seconds (at most 100 years), not '%s'", optarg);
                return OIE_EXIT_USAGE;
            }
            break;
        case 'b':
            if (oie_parse_uint(optarg, 1, 100000, &ps.batch) != 0) {
                oie_error("--batch must be 1-100000, not '%s'", optarg);
                return OIE_EXIT_USAGE;
            }
            break;
        case 'f':
            ps.force = 1;
            break;
        case 'p':
            ps.progress = 1;
            break;
        case 'q':
            oie_quiet = 1;
            ps.progress = -1;
            break;
        case 'h':
            fputs(oie_push_usage, stdout);
            return OIE_EXIT_OK;
        case ':':
            oie_error("option %s needs a value", argv[optind - 1]);
            return OIE_EXIT_USAGE;
        default:
            oie_error("unknown option '%s' (try: oie leads push --help)",
                      argv[optind - 1]);
            return OIE_EXIT_USAGE;
        }
    }

    files = argv + optind;
    nfiles = argc - optind;

    if (nfiles == 0) {
        oie_error("leads push needs an identities file (try: oie leads push "
                  "--help)");
        return OIE_EXIT_USAGE;
    }

    start = oie_now();

    rc = oie_check_files(files, nfiles, &count);
    if (rc != OIE_EXIT_OK) {
        return rc;
    }

    rc = oie_redis_connect(&ps.redis);
    if (rc != OIE_EXIT_OK) {
        return rc;
    }

    rc = oie_push_load_script(&ps);
    if (rc != OIE_EXIT_OK) {
        oie_redis_close(&ps.redis);
        return rc;
    }

    snprintf(ps.ttl_text, sizeof(ps.ttl_text), "%llu",
             (unsigned long long) ps.ttl);

    ps.lines = oie_xmalloc(ps.batch * sizeof(size_t));
    ps.ids = oie_xmalloc(ps.batch * sizeof(char *));

    oie_progress_init(&progress, "leads push", ps.progress);

    for (i = 0; i < nfiles && rc == OIE_EXIT_OK; i++) {
        rc = oie_ndjson_open(&nd, files[i]);
        if (rc != OIE_EXIT_OK) {
            break;
        }

        ps.fname = nd.fname;

        for ( ;; ) {
            rc = oie_ndjson_next(&nd, &ident);

            if (rc == 0) {
                rc = oie_push_flush(&ps);
                break;
            }

            if (rc < 0) {
                /* the file changed since it was checked */
                rc = rc == -2 ? OIE_EXIT_INTERNAL : OIE_EXIT_DATA;
                break;
            }

            rc = oie_push_add(&ps, &ident);

            if (rc == OIE_EXIT_OK && ps.n == ps.batch) {
                rc = oie_push_flush(&ps);
            }

            if (rc != OIE_EXIT_OK) {
                break;
            }

            if ((ps.total & 0x3fff) == 0) {
                oie_progress(&progress, ps.total, "leads loaded");
            }
        }

        oie_ndjson_close(&nd);
    }

    oie_progress_done(&progress);
    oie_redis_close(&ps.redis);

    free(ps.cmds);
    free(ps.lines);
    free(ps.ids);
    free(ps.argv);
    free(ps.argvlen);

    if (rc != OIE_EXIT_OK) {
        return rc;
    }

    if (ps.conflicts > OIE_MAX_REPORTED) {
        oie_error("%zu more ids held by other leads",
                  ps.conflicts - OIE_MAX_REPORTED);
    }

    oie_info("pushed %zu leads to Redis %s (%zu new, %zu replaced, %zu "
             "conflicts), TTL %llu s, in %.2f s", ps.created + ps.replaced,
             ps.redis.addr, ps.created, ps.replaced, ps.conflicts,
             (unsigned long long) ps.ttl, oie_now() - start);

    return ps.conflicts ? OIE_EXIT_CONFLICT : OIE_EXIT_OK;
}


static int
oie_push_load_script(oie_push_t *ps)
{
    redisReply  *reply;

    reply = redisCommand(ps->redis.ctx, "SCRIPT LOAD %s", oie_push_script);

    if (reply == NULL) {
        oie_error("Redis %s: %s", ps->redis.addr, ps->redis.ctx->errstr);
        return OIE_EXIT_REDIS;
    }

    if (reply->type != REDIS_REPLY_STRING || reply->len != 40) {
        oie_error("Redis %s: SCRIPT LOAD failed: %s (Redis 2.6 or later "
                  "with Lua is needed)", ps->redis.addr,
                  reply->type == REDIS_REPLY_ERROR ? reply->str : "?");
        freeReplyObject(reply);
        return OIE_EXIT_REDIS;
    }

    memcpy(ps->sha, reply->str, 40);
    ps->sha[40] = '\0';
    freeReplyObject(reply);

    return OIE_EXIT_OK;
}


static int
oie_push_add(oie_push_t *ps, oie_identity_t *ident)
{
    int              i, len;
    char            *cmd, *key;
    size_t           n, j, need, vlen;
    const char      *v;
    oie_fj_field_t  *f;

    need = 16 + 2 * ident->fj->n;

    if (need > ps->argv_alloc) {
        ps->argv_alloc = need * 2;
        ps->argv = oie_xrealloc(ps->argv, ps->argv_alloc * sizeof(char *));
        ps->argvlen = oie_xrealloc(ps->argvlen,
                                   ps->argv_alloc * sizeof(size_t));
    }

    key = oie_xasprintf(OIE_LEAD_KEY_PREFIX "%s", ident->id);

#define oie_arg(s, l)                                                         \
    do { ps->argv[n] = (s); ps->argvlen[n] = (l); n++; } while (0)

    n = 0;
    oie_arg("EVALSHA", 7);
    oie_arg(ps->sha, 40);
    oie_arg("1", 1);
    oie_arg(key, strlen(key));
    oie_arg(ps->force ? "1" : "0", 1);
    oie_arg(ident->email_hash, OIE_SHA256_HEX_LEN);
    oie_arg(ps->ttl_text, strlen(ps->ttl_text));

    oie_arg("id", 2);
    oie_arg(ident->id, strlen(ident->id));
    oie_arg("campaign", 8);
    oie_arg(ident->campaign, strlen(ident->campaign));
    oie_arg("destination", 11);
    oie_arg(ident->destination, strlen(ident->destination));
    oie_arg("emailHash", 9);
    oie_arg(ident->email_hash, OIE_SHA256_HEX_LEN);

    for (i = 0; oie_hash_fields[i] != NULL; i++) {
        v = oie_identity_str(ident, oie_hash_fields[i]);

        if (*v != '\0') {
            oie_arg(oie_hash_fields[i], strlen(oie_hash_fields[i]));
            oie_arg(v, strlen(v));
        }
    }

    for (j = 0; j < ident->fj->n && ident->attributes >= 0; j++) {
        f = &ident->fj->fields[j];

        if (f->parent != ident->attributes) {
            continue;
        }

        v = oie_attr_text(f, &vlen);
        if (v == NULL || vlen == 0) {
            continue;
        }

        for (i = 0; oie_hash_reserved[i] != NULL; i++) {
            if (strcmp(f->key, oie_hash_reserved[i]) == 0) {
                break;
            }
        }

        if (oie_hash_reserved[i] != NULL) {
            oie_warn("%s:%zu: attribute \"%s\" would overwrite the lead's "
                     "own field; left out", ps->fname, ident->line, f->key);
            continue;
        }

        oie_arg(f->key, f->key_len);
        oie_arg(v, vlen);
    }

#undef oie_arg

    len = redisFormatCommandArgv(&cmd, (int) n, ps->argv, ps->argvlen);
    free(key);

    if (len < 0) {
        oie_error("out of memory");
        return OIE_EXIT_INTERNAL;
    }

    if (ps->cmds_len + (size_t) len > ps->cmds_alloc) {
        ps->cmds_alloc = (ps->cmds_alloc + (size_t) len) * 2;
        ps->cmds = oie_xrealloc(ps->cmds, ps->cmds_alloc);
    }

    memcpy(ps->cmds + ps->cmds_len, cmd, (size_t) len);
    ps->cmds_len += (size_t) len;
    free(cmd);

    /* the id stays valid: it lives in the file buffer */
    ps->ids[ps->n] = ident->id;
    ps->lines[ps->n] = ident->line;
    ps->n++;
    ps->total++;

    return OIE_EXIT_OK;
}


/*
 * Sends the batch in one write and reads its replies.  When Redis lost the
 * script (restarted, SCRIPT FLUSH) the script is loaded again and the whole
 * batch resent: every command in it is idempotent.
 */

static int
oie_push_flush(oie_push_t *ps)
{
    int           retried, noscript, rc;
    void         *r;
    size_t        i;
    redisReply   *reply;

    if (ps->n == 0) {
        return OIE_EXIT_OK;
    }

    for (retried = 0; ; retried = 1) {
        if (redisAppendFormattedCommand(ps->redis.ctx, ps->cmds,
                                        ps->cmds_len)
            != REDIS_OK)
        {
            oie_error("Redis %s: %s", ps->redis.addr, ps->redis.ctx->errstr);
            return OIE_EXIT_REDIS;
        }

        noscript = 0;
        rc = OIE_EXIT_OK;

        for (i = 0; i < ps->n; i++) {
            if (redisGetReply(ps->redis.ctx, &r) != REDIS_OK) {
                oie_error("Redis %s: %s (the leads before %s:%zu are "
                          "loaded; pushing again is safe)", ps->redis.addr,
                          ps->redis.ctx->errstr, ps->fname, ps->lines[i]);
                return OIE_EXIT_REDIS;
            }

            reply = r;

            switch (reply->type) {

            case REDIS_REPLY_INTEGER:
                if (reply->integer == 1) {
                    ps->created++;

                } else {
                    ps->replaced++;
                }

                break;

            case REDIS_REPLY_STRING:
                ps->conflicts++;

                if (ps->conflicts <= OIE_MAX_REPORTED) {
                    oie_error("%s:%zu: id %s is held in Redis by another "
                              "lead (campaign %.*s); not overwritten (use "
                              "--force to overwrite)", ps->fname,
                              ps->lines[i], ps->ids[i], (int) reply->len,
                              reply->str);
                }

                break;

            case REDIS_REPLY_ERROR:
                if (strncmp(reply->str, "NOSCRIPT", 8) == 0) {
                    noscript = 1;
                    break;
                }

                oie_error("%s:%zu: Redis refused lead %s: %s", ps->fname,
                          ps->lines[i], ps->ids[i], reply->str);
                rc = OIE_EXIT_REDIS;
                break;

            default:
                oie_error("%s:%zu: unexpected reply from Redis for lead %s",
                          ps->fname, ps->lines[i], ps->ids[i]);
                rc = OIE_EXIT_REDIS;
            }

            freeReplyObject(reply);
        }

        if (!noscript || retried || rc != OIE_EXIT_OK) {
            break;
        }

        rc = oie_push_load_script(ps);
        if (rc != OIE_EXIT_OK) {
            break;
        }
    }

    if (noscript && rc == OIE_EXIT_OK) {
        oie_error("Redis %s: the script keeps disappearing (NOSCRIPT)",
                  ps->redis.addr);
        rc = OIE_EXIT_REDIS;
    }

    ps->n = 0;
    ps->cmds_len = 0;

    return rc;
}


static int
oie_leads_get(int argc, char **argv)
{
    int              c, n, signed_id, rc;
    char            *key;
    size_t           i, secret_len;
    json_t          *out, *fields;
    const char      *id, *secret_path;
    redisReply      *all, *ttl;
    oie_redis_t      redis;
    unsigned char   *secret;
    void            *r;

    static const struct option  opts[] = {
        { "redis",       required_argument, NULL, 'r' },
        { "db",          required_argument, NULL, 'd' },
        { "timeout",     required_argument, NULL, 'T' },
        { "secret-file", required_argument, NULL, 's' },
        { "help",        no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    memset(&redis, 0, sizeof(oie_redis_t));
    redis.addr = oie_redis_default();
    redis.timeout = OIE_TIMEOUT_DEFAULT;
    secret_path = NULL;

    optind = 0;
    opterr = 0;

    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        rc = oie_redis_options(&redis, c, optarg);
        if (rc < 0) {
            return OIE_EXIT_USAGE;
        }

        if (rc > 0) {
            continue;
        }

        switch (c) {
        case 's':
            secret_path = optarg;
            break;
        case 'h':
            fputs(oie_get_usage, stdout);
            return OIE_EXIT_OK;
        case ':':
            oie_error("option %s needs a value", argv[optind - 1]);
            return OIE_EXIT_USAGE;
        default:
            oie_error("unknown option '%s' (try: oie leads get --help)",
                      argv[optind - 1]);
            return OIE_EXIT_USAGE;
        }
    }

    if (argc - optind != 1) {
        oie_error("leads get needs one ID (try: oie leads get --help)");
        return OIE_EXIT_USAGE;
    }

    id = argv[optind];

    if (secret_path != NULL) {
        rc = oie_read_secret(secret_path, &secret, &secret_len);
        if (rc != OIE_EXIT_OK) {
            return rc;
        }

        n = oie_id_verify(secret, secret_len, (const unsigned char *) id,
                          strlen(id));
        free(secret);

        if (n == OIE_ID_BAD_SIGNATURE) {
            oie_error("'%s': the signature does not match this secret", id);
            return OIE_EXIT_DATA;
        }

    } else {
        n = oie_id_parse((const unsigned char *) id, strlen(id), &signed_id);
    }

    if (n < 0) {
        oie_error("'%s' is not an id (6-8 of 0-9, A-Z, a-z, optionally "
                  "followed by .<8-character tag>)", id);
        return OIE_EXIT_DATA;
    }

    rc = oie_redis_connect(&redis);
    if (rc != OIE_EXIT_OK) {
        return rc;
    }

    key = oie_xasprintf(OIE_LEAD_KEY_PREFIX "%.*s", n, id);

    redisAppendCommand(redis.ctx, "HGETALL %s", key);
    redisAppendCommand(redis.ctx, "TTL %s", key);

    all = NULL;
    ttl = NULL;

    if (redisGetReply(redis.ctx, &r) == REDIS_OK) {
        all = r;

        if (redisGetReply(redis.ctx, &r) == REDIS_OK) {
            ttl = r;
        }
    }

    if (all == NULL || ttl == NULL) {
        oie_error("Redis %s: %s", redis.addr, redis.ctx->errstr);
        rc = OIE_EXIT_REDIS;
        goto done;
    }

    if (all->type == REDIS_REPLY_ERROR) {
        oie_error("Redis %s: %s: %s", redis.addr, key, all->str);
        rc = OIE_EXIT_REDIS;
        goto done;
    }

    if (all->type != REDIS_REPLY_ARRAY || all->elements == 0) {
        oie_error("no lead %.*s in Redis %s (key %s)", n, id, redis.addr,
                  key);
        rc = OIE_EXIT_NOTFOUND;
        goto done;
    }

    fields = json_object();

    for (i = 0; i + 1 < all->elements; i += 2) {
        json_object_set_new(fields, all->element[i]->str,
                            json_stringn_nocheck(all->element[i + 1]->str,
                                                 all->element[i + 1]->len));
    }

    out = json_object();
    json_object_set_new(out, "key", json_string(key));
    json_object_set_new(out, "ttl",
                        (ttl->type == REDIS_REPLY_INTEGER && ttl->integer >= 0)
                        ? json_integer(ttl->integer) : json_null());
    json_object_set_new(out, "fields", fields);

    json_dumpf(out, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
    fputc('\n', stdout);
    json_decref(out);

    rc = OIE_EXIT_OK;

done:

    if (all != NULL) {
        freeReplyObject(all);
    }

    if (ttl != NULL) {
        freeReplyObject(ttl);
    }

    free(key);
    oie_redis_close(&redis);

    return rc;
}


/*
 * BigQuery rows.  The columns follow sql/schemas/identity_map.json and
 * sql/schemas/lead_profiles.json; t/cli checks every row against them.
 */

static void
oie_bq_str(FILE *fp, const char *name, const char *v, int *first)
{
    fprintf(fp, "%s\"%s\":", *first ? "{" : ",", name);
    *first = 0;

    if (v == NULL || *v == '\0') {
        fputs_unlocked("null", fp);
        return;
    }

    oie_json_string(fp, v, strlen(v));
}


static void
oie_bq_attributes(FILE *fp, oie_identity_t *ident)
{
    int              any;
    char            *text;
    size_t           j, vlen;
    FILE            *mem;
    const char      *v;
    oie_fj_field_t  *f;
    size_t           size;

    text = NULL;
    size = 0;
    mem = open_memstream(&text, &size);
    if (mem == NULL) {
        oie_error("out of memory");
        exit(OIE_EXIT_INTERNAL);
    }

    any = 0;
    fputc('{', mem);

    for (j = 0; j < ident->fj->n && ident->attributes >= 0; j++) {
        f = &ident->fj->fields[j];

        if (f->parent != ident->attributes) {
            continue;
        }

        v = oie_attr_text(f, &vlen);
        if (v == NULL) {
            continue;
        }

        if (any) {
            fputc(',', mem);
        }

        any = 1;
        oie_json_string(mem, f->key, f->key_len);
        fputc(':', mem);
        oie_json_string(mem, v, vlen);
    }

    fputc('}', mem);
    fclose(mem);

    fputs_unlocked(",\"attributes\":", fp);
    oie_json_string(fp, text, size);
    free(text);
}


static int
oie_leads_export(int argc, char **argv)
{
    int              c, i, rc, nfiles, first;
    char           **files, *map_path, *prof_path, created[32];
    size_t           count;
    FILE            *map_fp, *prof_fp;
    const char      *out_dir, *table, *created_at;
    oie_out_t        map_out, prof_out;
    oie_ndjson_t     nd;
    oie_identity_t   ident;

    static const struct option  opts[] = {
        { "out",   required_argument, NULL, 'o' },
        { "table", required_argument, NULL, 't' },
        { "quiet", no_argument,       NULL, 'q' },
        { "help",  no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    out_dir = ".";
    table = NULL;

    optind = 0;
    opterr = 0;

    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            out_dir = optarg;
            break;
        case 't':
            if (strcmp(optarg, "identity_map") != 0
                && strcmp(optarg, "lead_profiles") != 0)
            {
                oie_error("--table must be identity_map or lead_profiles, "
                          "not '%s'", optarg);
                return OIE_EXIT_USAGE;
            }
            table = optarg;
            break;
        case 'q':
            oie_quiet = 1;
            break;
        case 'h':
            fputs(oie_export_usage, stdout);
            return OIE_EXIT_OK;
        case ':':
            oie_error("option %s needs a value", argv[optind - 1]);
            return OIE_EXIT_USAGE;
        default:
            oie_error("unknown option '%s' (try: oie leads export-bq "
                      "--help)", argv[optind - 1]);
            return OIE_EXIT_USAGE;
        }
    }

    files = argv + optind;
    nfiles = argc - optind;

    if (nfiles == 0) {
        oie_error("leads export-bq needs an identities file (try: oie leads "
                  "export-bq --help)");
        return OIE_EXIT_USAGE;
    }

    memset(&map_out, 0, sizeof(oie_out_t));
    memset(&prof_out, 0, sizeof(oie_out_t));
    map_fp = NULL;
    prof_fp = NULL;
    map_path = NULL;
    prof_path = NULL;

    if (table != NULL) {
        if (strcmp(table, "identity_map") == 0) {
            map_fp = stdout;

        } else {
            prof_fp = stdout;
        }

    } else {
        rc = oie_mkdir_p(out_dir);
        if (rc != OIE_EXIT_OK) {
            return rc;
        }

        map_path = oie_xasprintf("%s/identity_map.ndjson", out_dir);
        prof_path = oie_xasprintf("%s/lead_profiles.ndjson", out_dir);

        rc = oie_out_open(&map_out, map_path);
        if (rc != OIE_EXIT_OK) {
            goto failed;
        }

        rc = oie_out_open(&prof_out, prof_path);
        if (rc != OIE_EXIT_OK) {
            goto failed;
        }

        map_fp = map_out.fp;
        prof_fp = prof_out.fp;
    }

    oie_rfc3339(oie_epoch(), created, sizeof(created));

    count = 0;
    rc = OIE_EXIT_OK;

    for (i = 0; i < nfiles; i++) {
        rc = oie_ndjson_open(&nd, files[i]);
        if (rc != OIE_EXIT_OK) {
            goto failed;
        }

        for ( ;; ) {
            rc = oie_ndjson_next(&nd, &ident);

            if (rc == 0) {
                break;
            }

            if (rc < 0) {
                oie_ndjson_close(&nd);
                rc = rc == -2 ? OIE_EXIT_INTERNAL : OIE_EXIT_DATA;
                goto failed;
            }

            created_at = oie_identity_str(&ident, "createdAt");
            if (*created_at == '\0') {
                created_at = created;
            }

            if (map_fp != NULL) {
                first = 1;
                oie_bq_str(map_fp, "lead_id", ident.id, &first);
                oie_bq_str(map_fp, "email_sha256", ident.email_hash, &first);
                oie_bq_str(map_fp, "campaign", ident.campaign, &first);
                oie_bq_str(map_fp, "first_name",
                           oie_identity_str(&ident, "firstName"), &first);
                oie_bq_str(map_fp, "last_name",
                           oie_identity_str(&ident, "lastName"), &first);
                oie_bq_str(map_fp, "company",
                           oie_identity_str(&ident, "company"), &first);
                oie_bq_str(map_fp, "title",
                           oie_identity_str(&ident, "title"), &first);
                oie_bq_str(map_fp, "destination", ident.destination, &first);
                oie_bq_str(map_fp, "created_at", created_at, &first);
                oie_bq_attributes(map_fp, &ident);
                fputs_unlocked("}\n", map_fp);
            }

            if (prof_fp != NULL) {
                first = 1;
                oie_bq_str(prof_fp, "lead_id", ident.id, &first);
                oie_bq_str(prof_fp, "email_sha256", ident.email_hash, &first);
                oie_bq_str(prof_fp, "campaign", ident.campaign, &first);
                oie_bq_str(prof_fp, "first_name",
                           oie_identity_str(&ident, "firstName"), &first);
                oie_bq_str(prof_fp, "last_name",
                           oie_identity_str(&ident, "lastName"), &first);
                oie_bq_str(prof_fp, "company",
                           oie_identity_str(&ident, "company"), &first);
                oie_bq_str(prof_fp, "title",
                           oie_identity_str(&ident, "title"), &first);
                oie_bq_str(prof_fp, "created_at", created_at, &first);
                oie_bq_str(prof_fp, "updated_at", created, &first);
                fputs_unlocked(",\"intent_score\":0,\"intent_level\":\"cold\"",
                               prof_fp);
                oie_bq_attributes(prof_fp, &ident);
                fputs_unlocked("}\n", prof_fp);
            }

            count++;
        }

        oie_ndjson_close(&nd);
    }

    if (table != NULL) {
        if (fflush(stdout) != 0) {
            oie_error("cannot write to stdout");
            return OIE_EXIT_IO;
        }

        return OIE_EXIT_OK;
    }

    rc = oie_out_commit(&map_out);
    if (rc != OIE_EXIT_OK) {
        goto failed;
    }

    rc = oie_out_commit(&prof_out);
    if (rc != OIE_EXIT_OK) {
        goto failed;
    }

    oie_info("exported %zu leads: %s, %s", count, map_path, prof_path);

    free(map_path);
    free(prof_path);

    return OIE_EXIT_OK;

failed:

    oie_out_abort(&map_out);
    oie_out_abort(&prof_out);
    free(map_path);
    free(prof_path);

    return rc;
}
