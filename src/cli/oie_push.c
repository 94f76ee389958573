/*
 * oie leads push: identities into Redis, one hash per lead.
 *
 * Leads go in groups: one EVALSHA writes OIE_PUSH_GROUP leads (the script's
 * own cost is paid once a group, which halves the time of a large push),
 * and a batch of groups goes out in one pipelined write.
 */

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "oie_cli.h"
#include "oie_id.h"
#include "oie_ndjson.h"
#include "oie_redis.h"


#define OIE_TTL_DEFAULT      (90 * 86400)
#define OIE_BATCH_DEFAULT    1000
#define OIE_PUSH_GROUP       50
#define OIE_KEY_MAX          (sizeof(OIE_LEAD_KEY_PREFIX) + OIE_ID_MAX_LEN)


/*
 * Each lead atomically: an id held by a lead of another email is left
 * alone unless forced; otherwise DEL + HSET + EXPIRE, so that a re-push
 * leaves exactly the pushed fields.  Answers, for each key, 1 (created),
 * 2 (replaced) or, for a conflict, the campaign that holds the id.
 *
 * KEYS: the leads' keys.  ARGV, for each lead in turn: n, force,
 * emailHash, ttl (0: none), then n strings: field, value, ...
 */

static const char  oie_push_script[] =
    "local res = {}\n"
    "local a = 1\n"
    "for k = 1, #KEYS do\n"
    "  local n = tonumber(ARGV[a])\n"
    "  local cur = redis.call('HGET', KEYS[k], 'emailHash')\n"
    "  if cur and cur ~= ARGV[a + 2] and ARGV[a + 1] ~= '1' then\n"
    "    res[k] = redis.call('HGET', KEYS[k], 'campaign') or ''\n"
    "  else\n"
    "    local existed = redis.call('DEL', KEYS[k])\n"
    "    redis.call('HSET', KEYS[k], unpack(ARGV, a + 4, a + 3 + n))\n"
    "    if ARGV[a + 3] ~= '0' then\n"
    "      redis.call('EXPIRE', KEYS[k], ARGV[a + 3])\n"
    "    end\n"
    "    res[k] = existed + 1\n"
    "  end\n"
    "  a = a + 4 + n\n"
    "end\n"
    "return res\n";


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
    const char      *fname;

    /* the group being built: its keys, counts and arguments */
    char             keys[OIE_PUSH_GROUP][OIE_KEY_MAX];
    char             counts[OIE_PUSH_GROUP][16];
    size_t           gn;
    const char     **args;
    size_t          *argslen;
    size_t           nargs;
    size_t           args_alloc;

    /* the batch: formatted commands, and each lead's id and line */
    char            *cmds;
    size_t           cmds_len;
    size_t           cmds_alloc;
    size_t           ncmds;
    size_t          *lines;
    const char     **ids;
    size_t           n;

    size_t           created;
    size_t           replaced;
    size_t           conflicts;
    size_t           total;
} oie_push_t;


static int oie_check_files(char **files, int nfiles, size_t *count);
static int oie_push_load_script(oie_push_t *ps);
static void oie_push_arg(oie_push_t *ps, const char *s, size_t len);
static void oie_push_add(oie_push_t *ps, oie_identity_t *ident);
static void oie_push_group(oie_push_t *ps);
static int oie_push_flush(oie_push_t *ps);
static int oie_push_reply(oie_push_t *ps, redisReply *reply, size_t first,
    int *noscript);


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
    "OIE_REDIS_PASSWORD (and OIE_REDIS_USER for an ACL user), when set,\n"
    "are sent with AUTH.\n"
    "Exit codes: see `oie --help`.\n";


int
oie_leads_push(int argc, char **argv)
{
    int              c, i, rc, nfiles;
    char           **files;
    double           start;
    size_t           count;
    oie_push_t      *ps;
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

    ps = oie_xmalloc(sizeof(oie_push_t));
    memset(ps, 0, sizeof(oie_push_t));
    ps->redis.addr = oie_redis_default();
    ps->redis.timeout = OIE_TIMEOUT_DEFAULT;
    ps->ttl = OIE_TTL_DEFAULT;
    ps->batch = OIE_BATCH_DEFAULT;
    rc = OIE_EXIT_OK;

    optind = 0;
    opterr = 0;

    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        rc = oie_redis_option(&ps->redis, c, optarg);
        if (rc < 0) {
            rc = OIE_EXIT_USAGE;
            goto done;
        }

        if (rc > 0) {
            rc = OIE_EXIT_OK;
            continue;
        }

        switch (c) {
        case 't':
            if (oie_parse_duration(optarg, &ps->ttl) != 0) {
                oie_error("--ttl must be a duration like 90d, 12h, 30m, 45s "
                          "or seconds (at most 100 years), not '%s'", optarg);
                rc = OIE_EXIT_USAGE;
                goto done;
            }
            break;
        case 'b':
            if (oie_parse_uint(optarg, 1, 100000, &ps->batch) != 0) {
                oie_error("--batch must be 1-100000, not '%s'", optarg);
                rc = OIE_EXIT_USAGE;
                goto done;
            }
            break;
        case 'f':
            ps->force = 1;
            break;
        case 'p':
            ps->progress = 1;
            break;
        case 'q':
            oie_quiet = 1;
            ps->progress = -1;
            break;
        case 'h':
            fputs(oie_push_usage, stdout);
            goto done;
        case ':':
            oie_error("option %s needs a value", argv[optind - 1]);
            rc = OIE_EXIT_USAGE;
            goto done;
        default:
            oie_error("unknown option '%s' (try: oie leads push --help)",
                      argv[optind - 1]);
            rc = OIE_EXIT_USAGE;
            goto done;
        }
    }

    files = argv + optind;
    nfiles = argc - optind;

    if (nfiles == 0) {
        oie_error("leads push needs an identities file (try: oie leads push "
                  "--help)");
        rc = OIE_EXIT_USAGE;
        goto done;
    }

    start = oie_now();

    rc = oie_check_files(files, nfiles, &count);
    if (rc != OIE_EXIT_OK) {
        goto done;
    }

    rc = oie_redis_connect(&ps->redis);
    if (rc != OIE_EXIT_OK) {
        goto done;
    }

    rc = oie_push_load_script(ps);
    if (rc != OIE_EXIT_OK) {
        goto done;
    }

    snprintf(ps->ttl_text, sizeof(ps->ttl_text), "%llu",
             (unsigned long long) ps->ttl);

    ps->lines = oie_xmalloc(ps->batch * sizeof(size_t));
    ps->ids = oie_xmalloc(ps->batch * sizeof(char *));

    oie_progress_init(&progress, "leads push", ps->progress);

    for (i = 0; i < nfiles && rc == OIE_EXIT_OK; i++) {
        rc = oie_ndjson_open(&nd, files[i]);
        if (rc != OIE_EXIT_OK) {
            break;
        }

        ps->fname = nd.fname;

        for ( ;; ) {
            rc = oie_ndjson_next(&nd, &ident);

            if (rc == 0) {
                rc = oie_push_flush(ps);
                break;
            }

            if (rc < 0) {
                /* the file changed since it was checked */
                rc = (rc == -2) ? OIE_EXIT_INTERNAL : OIE_EXIT_DATA;
                break;
            }

            oie_push_add(ps, &ident);

            if (ps->n == ps->batch) {
                rc = oie_push_flush(ps);
                if (rc != OIE_EXIT_OK) {
                    break;
                }

                oie_progress(&progress, ps->total, "leads loaded");
            }
        }

        /* the batch points into this file's buffer: it went out above */
        oie_ndjson_close(&nd);
    }

    oie_progress_done(&progress);

    if (rc != OIE_EXIT_OK) {
        goto done;
    }

    if (ps->conflicts > OIE_MAX_REPORTED) {
        oie_error("%zu more ids held by other leads",
                  ps->conflicts - OIE_MAX_REPORTED);
    }

    oie_info("pushed %zu leads to Redis %s (%zu new, %zu replaced, %zu "
             "conflicts), TTL %llu s, in %.2f s", ps->created + ps->replaced,
             ps->redis.addr, ps->created, ps->replaced, ps->conflicts,
             (unsigned long long) ps->ttl, oie_now() - start);

    rc = ps->conflicts ? OIE_EXIT_CONFLICT : OIE_EXIT_OK;

done:

    oie_redis_close(&ps->redis);
    free(ps->cmds);
    free(ps->lines);
    free(ps->ids);
    free(ps->args);
    free(ps->argslen);
    free(ps);

    return rc;
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

    if (*count == 0) {
        oie_error("no identities in %s%s", files[0],
                  nfiles > 1 ? " and the other files" : "");
        return OIE_EXIT_DATA;
    }

    return OIE_EXIT_OK;
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
        oie_error("Redis %s: SCRIPT LOAD failed: %s (Redis 2.6 or later, "
                  "with scripting, is needed)", ps->redis.addr,
                  reply->type == REDIS_REPLY_ERROR ? reply->str : "?");
        freeReplyObject(reply);
        return OIE_EXIT_REDIS;
    }

    memcpy(ps->sha, reply->str, 40);
    ps->sha[40] = '\0';
    freeReplyObject(reply);

    return OIE_EXIT_OK;
}


static void
oie_push_arg(oie_push_t *ps, const char *s, size_t len)
{
    if (ps->nargs == ps->args_alloc) {
        ps->args_alloc = ps->args_alloc ? ps->args_alloc * 2 : 1024;
        ps->args = oie_xrealloc(ps->args, ps->args_alloc * sizeof(char *));
        ps->argslen = oie_xrealloc(ps->argslen,
                                   ps->args_alloc * sizeof(size_t));
    }

    ps->args[ps->nargs] = s;
    ps->argslen[ps->nargs] = len;
    ps->nargs++;
}


/*
 * Adds one lead to the group.  Every string it points to lives in the file
 * buffer (the reader unescapes in place) or in ps, so nothing is copied.
 */

static void
oie_push_add(oie_push_t *ps, oie_identity_t *ident)
{
    int              i;
    size_t           j, vlen, count_at, fields;
    const char      *v;
    oie_fj_field_t  *f;

    snprintf(ps->keys[ps->gn], OIE_KEY_MAX, OIE_LEAD_KEY_PREFIX "%s",
             ident->id);

    count_at = ps->nargs;
    oie_push_arg(ps, "", 0);                  /* n, set below */
    oie_push_arg(ps, ps->force ? "1" : "0", 1);
    oie_push_arg(ps, ident->email_hash, OIE_SHA256_HEX_LEN);
    oie_push_arg(ps, ps->ttl_text, strlen(ps->ttl_text));

    fields = ps->nargs;

    oie_push_arg(ps, "id", 2);
    oie_push_arg(ps, ident->id, strlen(ident->id));
    oie_push_arg(ps, "campaign", 8);
    oie_push_arg(ps, ident->campaign, strlen(ident->campaign));
    oie_push_arg(ps, "destination", 11);
    oie_push_arg(ps, ident->destination, strlen(ident->destination));
    oie_push_arg(ps, "emailHash", 9);
    oie_push_arg(ps, ident->email_hash, OIE_SHA256_HEX_LEN);

    for (i = 0; oie_hash_fields[i] != NULL; i++) {
        v = oie_identity_str(ident, oie_hash_fields[i]);

        if (*v != '\0') {
            oie_push_arg(ps, oie_hash_fields[i], strlen(oie_hash_fields[i]));
            oie_push_arg(ps, v, strlen(v));
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

        oie_push_arg(ps, f->key, f->key_len);
        oie_push_arg(ps, v, vlen);
    }

    snprintf(ps->counts[ps->gn], sizeof(ps->counts[0]), "%zu",
             ps->nargs - fields);
    ps->args[count_at] = ps->counts[ps->gn];
    ps->argslen[count_at] = strlen(ps->counts[ps->gn]);
    ps->gn++;

    ps->ids[ps->n] = ident->id;
    ps->lines[ps->n] = ident->line;
    ps->n++;
    ps->total++;

    if (ps->gn == OIE_PUSH_GROUP) {
        oie_push_group(ps);
    }
}


/* Formats the group as one EVALSHA and appends it to the batch. */

static void
oie_push_group(oie_push_t *ps)
{
    int           len;
    char         *cmd, numkeys[16];
    size_t        i, n, argc;
    size_t       *argvlen;
    const char  **argv;

    if (ps->gn == 0) {
        return;
    }

    argc = 3 + ps->gn + ps->nargs;
    argv = oie_xmalloc(argc * sizeof(char *));
    argvlen = oie_xmalloc(argc * sizeof(size_t));

    snprintf(numkeys, sizeof(numkeys), "%zu", ps->gn);

    n = 0;
    argv[n] = "EVALSHA";
    argvlen[n++] = 7;
    argv[n] = ps->sha;
    argvlen[n++] = 40;
    argv[n] = numkeys;
    argvlen[n++] = strlen(numkeys);

    for (i = 0; i < ps->gn; i++) {
        argv[n] = ps->keys[i];
        argvlen[n++] = strlen(ps->keys[i]);
    }

    memcpy(argv + n, ps->args, ps->nargs * sizeof(char *));
    memcpy(argvlen + n, ps->argslen, ps->nargs * sizeof(size_t));

    len = redisFormatCommandArgv(&cmd, (int) argc, argv, argvlen);

    free(argv);
    free(argvlen);

    if (len < 0) {
        oie_error("out of memory");
        exit(OIE_EXIT_INTERNAL);
    }

    if (ps->cmds_len + (size_t) len > ps->cmds_alloc) {
        ps->cmds_alloc = (ps->cmds_alloc + (size_t) len) * 2;
        ps->cmds = oie_xrealloc(ps->cmds, ps->cmds_alloc);
    }

    memcpy(ps->cmds + ps->cmds_len, cmd, (size_t) len);
    ps->cmds_len += (size_t) len;
    free(cmd);

    ps->ncmds++;
    ps->gn = 0;
    ps->nargs = 0;
}


/*
 * Sends the batch in one write and reads its replies.  When Redis lost the
 * script (restarted, SCRIPT FLUSH) it is loaded again and the whole batch
 * resent: writing a lead twice leaves it as writing it once.
 */

static int
oie_push_flush(oie_push_t *ps)
{
    int           retried, noscript, rc, failed;
    void         *r;
    size_t        i, first;
    size_t        created, replaced, conflicts;

    oie_push_group(ps);

    if (ps->ncmds == 0) {
        return OIE_EXIT_OK;
    }

    created = ps->created;
    replaced = ps->replaced;
    conflicts = ps->conflicts;
    rc = OIE_EXIT_OK;

    for (retried = 0; ; retried = 1) {
        if (redisAppendFormattedCommand(ps->redis.ctx, ps->cmds,
                                        ps->cmds_len)
            != REDIS_OK)
        {
            oie_error("Redis %s: %s", ps->redis.addr, ps->redis.ctx->errstr);
            return OIE_EXIT_REDIS;
        }

        noscript = 0;
        failed = 0;

        for (i = 0; i < ps->ncmds; i++) {
            first = i * OIE_PUSH_GROUP;

            if (redisGetReply(ps->redis.ctx, &r) != REDIS_OK) {
                oie_error("Redis %s: %s (the leads before %s:%zu are "
                          "loaded; pushing again is safe)", ps->redis.addr,
                          ps->redis.ctx->errstr, ps->fname,
                          ps->lines[first]);
                return OIE_EXIT_REDIS;
            }

            if (oie_push_reply(ps, r, first, &noscript) != OIE_EXIT_OK) {
                failed = 1;
            }

            freeReplyObject(r);
        }

        if (failed) {
            rc = OIE_EXIT_REDIS;
            break;
        }

        if (!noscript) {
            break;
        }

        if (retried) {
            oie_error("Redis %s: the script keeps disappearing (NOSCRIPT)",
                      ps->redis.addr);
            rc = OIE_EXIT_REDIS;
            break;
        }

        /* count each lead once: the resent batch writes them all again */

        ps->created = created;
        ps->replaced = replaced;
        ps->conflicts = conflicts;

        rc = oie_push_load_script(ps);
        if (rc != OIE_EXIT_OK) {
            break;
        }

        /* the formatted commands name the script by its SHA1: unchanged */
    }

    ps->ncmds = 0;
    ps->cmds_len = 0;
    ps->n = 0;

    return rc;
}


static int
oie_push_reply(oie_push_t *ps, redisReply *reply, size_t first,
    int *noscript)
{
    size_t       j;
    redisReply  *e;

    if (reply->type == REDIS_REPLY_ERROR) {
        if (strncmp(reply->str, "NOSCRIPT", 8) == 0) {
            *noscript = 1;
            return OIE_EXIT_OK;
        }

        oie_error("%s:%zu: Redis refused the leads from here on (%zu at "
                  "most): %s", ps->fname, ps->lines[first],
                  (size_t) OIE_PUSH_GROUP, reply->str);
        return OIE_EXIT_REDIS;
    }

    if (reply->type != REDIS_REPLY_ARRAY) {
        oie_error("%s:%zu: unexpected reply from Redis", ps->fname,
                  ps->lines[first]);
        return OIE_EXIT_REDIS;
    }

    for (j = 0; j < reply->elements && first + j < ps->n; j++) {
        e = reply->element[j];

        if (e->type == REDIS_REPLY_INTEGER) {
            if (e->integer == 1) {
                ps->created++;

            } else {
                ps->replaced++;
            }

            continue;
        }

        ps->conflicts++;

        if (ps->conflicts <= OIE_MAX_REPORTED) {
            oie_error("%s:%zu: id %s is held in Redis by another lead "
                      "(campaign %.*s); not overwritten (use --force to "
                      "overwrite)", ps->fname, ps->lines[first + j],
                      ps->ids[first + j],
                      e->type == REDIS_REPLY_STRING ? (int) e->len : 1,
                      e->type == REDIS_REPLY_STRING ? e->str : "?");
        }
    }

    return OIE_EXIT_OK;
}
