/*
 * oie leads get | export-bq: a lead out of Redis, identities into rows for
 * BigQuery.  (oie leads push is in oie_push.c.)
 */

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "oie_cli.h"
#include "oie_id.h"
#include "oie_ndjson.h"
#include "oie_redis.h"


static int oie_leads_get(int argc, char **argv);
static int oie_leads_export(int argc, char **argv);


static const char  oie_leads_usage[] =
    "usage: oie leads push [options] FILE.ndjson...\n"
    "       oie leads get [options] ID\n"
    "       oie leads export-bq [options] FILE.ndjson...\n"
    "\n"
    "`oie leads COMMAND --help` describes each.\n";


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
    "outbound_sales.lead_imports tables as NDJSON, ready for\n"
    "  bq load --source_format=NEWLINE_DELIMITED_JSON \\\n"
    "      outbound_sales.identity_map DIR/identity_map.ndjson\n"
    "  bq load --source_format=NEWLINE_DELIMITED_JSON \\\n"
    "      outbound_sales.lead_imports DIR/lead_imports.ndjson\n"
    "Emails appear only as SHA-256 hashes (email_sha256).  The hourly\n"
    "profile update merges lead_imports into lead_profiles (newest row of\n"
    "each lead wins), so loading a file twice does no harm.\n"
    "\n"
    "options:\n"
    "  --out DIR        where identity_map.ndjson and lead_imports.ndjson\n"
    "                   go (default: .)\n"
    "  --table TABLE    write only TABLE's rows (identity_map or\n"
    "                   lead_imports) to stdout\n"
    "\n"
    "SOURCE_DATE_EPOCH, when set, is the lead_imports created_at time.\n"
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
        rc = oie_redis_option(&redis, c, optarg);
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
 * sql/schemas/lead_imports.json (sql/ddl: the hourly profile update merges
 * lead_imports into lead_profiles); t/cli checks every row against them.
 */

static int
oie_is_rfc3339(const char *s)
{
    int        n;
    struct tm  tm;

    /* YYYY-MM-DDTHH:MM:SSZ, as oie campaign create writes it */

    n = 0;
    memset(&tm, 0, sizeof(struct tm));

    if (strlen(s) != 20 || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n",
                                  &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n)
                           != 6
        || n != 20)
    {
        return 0;
    }

    return tm.tm_year >= 1970 && tm.tm_mon >= 1 && tm.tm_mon <= 12
           && tm.tm_mday >= 1 && tm.tm_mday <= 31 && tm.tm_hour <= 23
           && tm.tm_min <= 59 && tm.tm_sec <= 59 && s[4] == '-'
           && s[7] == '-' && s[10] == 'T' && s[13] == ':' && s[16] == ':';
}

static void
oie_bq_str(FILE *fp, const char *name, const char *v, int *first)
{
    putc_unlocked(*first ? '{' : ',', fp);
    putc_unlocked('"', fp);
    fputs_unlocked(name, fp);
    fputs_unlocked("\":", fp);
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
    char           **files, *map_path, *imp_path, now[32];
    size_t           count;
    FILE            *map_fp, *imp_fp;
    const char      *out_dir, *table, *created_at;
    oie_out_t        map_out, imp_out;
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
                && strcmp(optarg, "lead_imports") != 0)
            {
                oie_error("--table must be identity_map or lead_imports, "
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
    memset(&imp_out, 0, sizeof(oie_out_t));
    map_fp = NULL;
    imp_fp = NULL;
    map_path = NULL;
    imp_path = NULL;

    if (table != NULL) {
        if (strcmp(table, "identity_map") == 0) {
            map_fp = stdout;

        } else {
            imp_fp = stdout;
        }

    } else {
        rc = oie_mkdir_p(out_dir);
        if (rc != OIE_EXIT_OK) {
            return rc;
        }

        map_path = oie_xasprintf("%s/identity_map.ndjson", out_dir);
        imp_path = oie_xasprintf("%s/lead_imports.ndjson", out_dir);

        rc = oie_out_open(&map_out, map_path);
        if (rc != OIE_EXIT_OK) {
            goto failed;
        }

        rc = oie_out_open(&imp_out, imp_path);
        if (rc != OIE_EXIT_OK) {
            goto failed;
        }

        map_fp = map_out.fp;
        imp_fp = imp_out.fp;
    }

    oie_rfc3339(oie_epoch(), now, sizeof(now));

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
                created_at = now;

            } else if (!oie_is_rfc3339(created_at)) {
                oie_error("%s:%zu:1: \"createdAt\" must be a UTC time like "
                          "2024-01-15T10:00:00Z, not '%s'", nd.fname,
                          ident.line, created_at);
                oie_ndjson_close(&nd);
                rc = OIE_EXIT_DATA;
                goto failed;
            }

            if (map_fp != NULL) {
                first = 1;
                oie_bq_str(map_fp, "lead_id", ident.id, &first);
                oie_bq_str(map_fp, "visitor_id", NULL, &first);
                oie_bq_str(map_fp, "email_sha256", ident.email_hash, &first);
                oie_bq_str(map_fp, "campaign", ident.campaign, &first);
                oie_bq_str(map_fp, "source", "campaign", &first);
                oie_bq_str(map_fp, "created_at", created_at, &first);
                fputs_unlocked("}\n", map_fp);
            }

            if (imp_fp != NULL) {
                first = 1;
                oie_bq_str(imp_fp, "lead_id", ident.id, &first);
                oie_bq_str(imp_fp, "email_sha256", ident.email_hash, &first);
                oie_bq_str(imp_fp, "campaign", ident.campaign, &first);
                oie_bq_str(imp_fp, "first_name",
                           oie_identity_str(&ident, "firstName"), &first);
                oie_bq_str(imp_fp, "last_name",
                           oie_identity_str(&ident, "lastName"), &first);
                oie_bq_str(imp_fp, "company",
                           oie_identity_str(&ident, "company"), &first);
                oie_bq_str(imp_fp, "title",
                           oie_identity_str(&ident, "title"), &first);
                oie_bq_attributes(imp_fp, &ident);
                oie_bq_str(imp_fp, "created_at", now, &first);
                fputs_unlocked("}\n", imp_fp);
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

    rc = oie_out_commit(&imp_out);
    if (rc != OIE_EXIT_OK) {
        goto failed;
    }

    oie_info("exported %zu leads: %s, %s", count, map_path, imp_path);

    free(map_path);
    free(imp_path);

    return OIE_EXIT_OK;

failed:

    oie_out_abort(&map_out);
    oie_out_abort(&imp_out);
    free(map_path);
    free(imp_path);

    return rc;
}
