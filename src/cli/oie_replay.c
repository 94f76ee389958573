/*
 * oie spool replay: sends the rows of the module's spool (or, with
 * --dead-letter, its dead letters) to BigQuery's insertAll.
 *
 * A spool file is claimed the way a worker claims it, by renaming it to
 * ".spool.claim-<own pid>", so replay never races a running nginx; files
 * being written (.part) or claimed by a live process are left alone, claims
 * of processes that are gone are taken.  Each row keeps its event_id as
 * insertId, so BigQuery drops what it already has.  A file is deleted once
 * every row was accepted or refused (refused rows go to the dead-letter
 * file); when BigQuery keeps failing, the rows not taken go back under the
 * file's own ".spool" name and replay stops.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "oie_bq.h"
#include "oie_replay.h"
#include "oie_spool.h"


static const char  oie_replay_usage[] =
    "usage: oie spool replay DIR --project P --dataset D "
    "--credentials KEY.json\n"
    "                        [options]\n"
    "\n"
    "Sends the rows of the spool directory DIR to BigQuery's insertAll,\n"
    "oldest file first, each row with its event_id as insertId (BigQuery\n"
    "drops rows it already has).  Each file is claimed as nginx's workers\n"
    "claim it (renamed to .spool.claim-<pid>), so this may run while nginx\n"
    "does: files being written (.part) or claimed by a live process are\n"
    "skipped; claims of processes that are gone are taken.  A file is\n"
    "deleted once every row was accepted; rows BigQuery refuses as invalid\n"
    "and malformed lines go to DIR/dead-letter/.  On 429, 5xx or a\n"
    "connection failure a request is retried with backoff; when it keeps\n"
    "failing, the rows not sent go back as a .spool file and replay stops\n"
    "(exit 8).\n"
    "\n"
    "options:\n"
    "  --project P             BigQuery project id\n"
    "  --dataset D             dataset (e.g. outbound_sales)\n"
    "  --credentials KEY.json  service-account key (JSON, from Google Cloud)\n"
    "  --endpoint URL          BigQuery API root (default:\n"
    "                          https://bigquery.googleapis.com/bigquery/v2)\n"
    "  --token-endpoint URL    OAuth2 token URL (default: the key's "
    "token_uri)\n"
    "  --batch N               rows per insertAll request, 1-50000 "
    "(default:\n"
    "                          500; requests also stay under 9 MB)\n"
    "  --attempts N            tries per request before stopping, 1-20\n"
    "                          (default: 5; waits 0.5 s, 1 s, 2 s... "
    "between)\n"
    "  --timeout SECS          per request (default: 60)\n"
    "  --dead-letter           replay DIR/dead-letter/<table>.ndjson "
    "instead\n"
    "                          (once the cause is fixed): rows accepted "
    "leave\n"
    "                          the file, rows refused again stay, with the\n"
    "                          new reason\n"
    "  --dry-run               read and check only: no claim, no upload, no\n"
    "                          file changed\n"
    "  --quiet                 only errors and the summary\n"
    "  --help                  this text\n"
    "\n"
    "Progress and a summary go to stderr.  Exit codes: 0 every row\n"
    "accepted; 3 some rows went to (or stayed in) the dead-letter files;\n"
    "4 a file cannot be read or written; 8 BigQuery or its token endpoint\n"
    "kept failing (unsent rows put back); 130 interrupted (rows put back);\n"
    "2 usage; see `oie --help`.\n";


static void
oie_replay_signal(int signo)
{
    (void) signo;

    oie_bq_interrupted = 1;
}


static int
oie_replay_name_ok(const char *s, const char *extra)
{
    size_t  n;

    n = strlen(s);

    if (n == 0 || n > 1024) {
        return 0;
    }

    for ( /* void */ ; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
              || (*s >= '0' && *s <= '9') || *s == '_' || strchr(extra, *s)))
        {
            return 0;
        }
    }

    return 1;
}


static char *
oie_replay_url(const char *opt, const char *url)
{
    size_t  n;

    if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) {
        oie_error("%s '%s': must start with https:// or http://", opt, url);
        return NULL;
    }

    n = strlen(url);

    while (n > 8 && url[n - 1] == '/') {
        n--;
    }

    return oie_xasprintf("%.*s", (int) n, url);
}


static int
oie_replay_options(oie_replay_t *r, int argc, char **argv)
{
    int          c;
    uint64_t     v;
    const char  *endpoint, *token;

    static const struct option  opts[] = {
        { "project",        required_argument, NULL, 'p' },
        { "dataset",        required_argument, NULL, 'd' },
        { "credentials",    required_argument, NULL, 'c' },
        { "endpoint",       required_argument, NULL, 'e' },
        { "token-endpoint", required_argument, NULL, 't' },
        { "batch",          required_argument, NULL, 'b' },
        { "attempts",       required_argument, NULL, 'a' },
        { "timeout",        required_argument, NULL, 'T' },
        { "dead-letter",    no_argument,       NULL, 'D' },
        { "dry-run",        no_argument,       NULL, 'n' },
        { "quiet",          no_argument,       NULL, 'q' },
        { "help",           no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    endpoint = "https://bigquery.googleapis.com/bigquery/v2";
    token = NULL;
    optind = 0;
    opterr = 0;

    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            r->bq.project = optarg;
            break;
        case 'd':
            r->bq.dataset = optarg;
            break;
        case 'c':
            r->bq.credentials = optarg;
            break;
        case 'e':
            endpoint = optarg;
            break;
        case 't':
            token = optarg;
            break;
        case 'b':
            if (oie_parse_uint(optarg, 1, 50000, &v) != 0) {
                oie_error("--batch must be a number from 1 to 50000");
                return OIE_EXIT_USAGE;
            }
            r->batch = (size_t) v;
            break;
        case 'a':
            if (oie_parse_uint(optarg, 1, 20, &v) != 0) {
                oie_error("--attempts must be a number from 1 to 20");
                return OIE_EXIT_USAGE;
            }
            r->attempts = (unsigned) v;
            break;
        case 'T':
            if (oie_parse_uint(optarg, 1, 3600, &v) != 0) {
                oie_error("--timeout must be 1 to 3600 seconds");
                return OIE_EXIT_USAGE;
            }
            r->bq.timeout = (long) v;
            break;
        case 'D':
            r->dead_mode = 1;
            break;
        case 'n':
            r->dry_run = 1;
            break;
        case 'q':
            oie_quiet = 1;
            break;
        case 'h':
            fputs(oie_replay_usage, stdout);
            return -1;
        case ':':
            oie_error("option %s needs a value", argv[optind - 1]);
            return OIE_EXIT_USAGE;
        default:
            oie_error("unknown option '%s' (try: oie spool replay --help)",
                      argv[optind - 1]);
            return OIE_EXIT_USAGE;
        }
    }

    if (argc - optind != 1) {
        oie_error("spool replay needs one DIR (try: oie spool replay "
                  "--help)");
        return OIE_EXIT_USAGE;
    }

    r->dir = argv[optind];

    if (r->bq.project == NULL || r->bq.dataset == NULL
        || r->bq.credentials == NULL)
    {
        oie_error("spool replay needs --project, --dataset and "
                  "--credentials (try: oie spool replay --help)");
        return OIE_EXIT_USAGE;
    }

    if (!oie_replay_name_ok(r->bq.project, "-.:")) {
        oie_error("--project '%s' is not a project id (letters, digits, "
                  "'-', '.', ':')", r->bq.project);
        return OIE_EXIT_USAGE;
    }

    if (!oie_replay_name_ok(r->bq.dataset, "")) {
        oie_error("--dataset '%s' is not a dataset id (letters, digits, "
                  "'_')", r->bq.dataset);
        return OIE_EXIT_USAGE;
    }

    r->bq.endpoint = oie_replay_url("--endpoint", endpoint);
    if (r->bq.endpoint == NULL) {
        return OIE_EXIT_USAGE;
    }

    if (token) {
        r->bq.token_endpoint = oie_replay_url("--token-endpoint", token);
        if (r->bq.token_endpoint == NULL) {
            return OIE_EXIT_USAGE;
        }
    }

    return OIE_EXIT_OK;
}


/* skipped, or claimed: the path to read (malloc()ed), or NULL */
static char *
oie_replay_claim(oie_replay_t *r, oie_spool_entry_t *e, const char *dir)
{
    char  *claim;
    long   me;

    me = (long) getpid();

    switch (e->state) {

    case OIE_SPOOL_WRITING:
        if (e->alive) {
            oie_info("%s: being written by pid %ld: skipped", e->path,
                     e->pid);
        } else {
            oie_info("%s: left by pid %ld, which is gone: skipped (nginx "
                     "finishes it at its next start or reload)", e->path,
                     e->pid);
        }
        r->skipped++;
        return NULL;

    case OIE_SPOOL_CLAIMED:
        if (e->pid != me && e->alive) {
            oie_info("%s: claimed by pid %ld, which is running: skipped",
                     e->path, e->pid);
            r->skipped++;
            return NULL;
        }
        break;

    default:
        if (r->dead_mode && e->table < 0) {
            oie_info("%s: not a table's dead letters: skipped (fix its rows "
                     "and move them to events.ndjson or "
                     "email_clicks.ndjson)", e->path);
            r->skipped++;
            return NULL;
        }
    }

    if (r->dry_run || (e->state == OIE_SPOOL_CLAIMED && e->pid == me)) {
        return oie_xstrdup(e->path);
    }

    claim = oie_xasprintf("%s/%s.claim-%ld", dir, e->base, me);

    if (rename(e->path, claim) == -1) {
        if (errno == ENOENT) {
            oie_info("%s: taken by another process meanwhile: skipped",
                     e->path);
            r->skipped++;

        } else {
            oie_error("cannot claim %s: rename: %s", e->path,
                      strerror(errno));
            r->io_failed = 1;
        }

        free(claim);
        return NULL;
    }

    if (e->state == OIE_SPOOL_CLAIMED) {
        oie_info("%s: taken over from pid %ld, which is gone", e->path,
                 e->pid);
    }

    return claim;
}


static int
oie_replay_file(oie_replay_t *r, oie_spool_entry_t *e, const char *dir)
{
    int          rc;
    char        *claim;
    size_t       i, n;
    oie_file_t   file;
    oie_rrow_t  *rows;

    claim = oie_replay_claim(r, e, dir);
    if (claim == NULL) {
        return OIE_EXIT_OK;
    }

    rc = oie_file_read(&file, claim);
    if (rc != OIE_EXIT_OK) {
        free(claim);
        r->io_failed = 1;
        return rc;
    }

    r->files++;

    rows = r->dead_mode ? oie_replay_parse_dead(r, e, &file, &n)
                        : oie_replay_parse_spool(r, e, &file, &n);

    rc = OIE_EXIT_OK;

    if (!r->dry_run) {
        rc = oie_replay_send(r, rows, n);
        rc = r->dead_mode ? oie_replay_finish_dead(r, e, claim, dir, rows, n,
                                                   &file, rc)
                          : oie_replay_finish_spool(r, e, claim, dir, rows, n,
                                                    rc);
    } else {
        oie_replay_dry(r, e, rows, n);
    }

    for (i = 0; i < n; i++) {
        free(rows[i].row_buf);
        free(rows[i].insert_id);
        free(rows[i].error);
    }

    free(rows);
    oie_file_free(&file);
    free(claim);

    return rc;
}


int
oie_spool_replay(int argc, char **argv)
{
    int                rc, frc;
    char              *dead_dir;
    size_t             i;
    oie_replay_t       r;
    struct sigaction   sa;
    oie_spool_list_t   list;

    memset(&r, 0, sizeof(oie_replay_t));
    r.batch = 500;
    r.attempts = 5;
    r.bq.timeout = 60;

    rc = oie_replay_options(&r, argc, argv);
    if (rc != OIE_EXIT_OK) {
        free(r.bq.endpoint);
        free(r.bq.token_endpoint);
        return rc < 0 ? OIE_EXIT_OK : rc;
    }

    rc = oie_bq_load_key(&r.bq, r.bq.credentials);
    if (rc != OIE_EXIT_OK) {
        oie_bq_free(&r.bq);
        return rc;
    }

    dead_dir = oie_xasprintf("%s/dead-letter", r.dir);

    rc = r.dead_mode ? oie_spool_scan_dead(r.dir, &list)
                     : oie_spool_scan(r.dir, 0, &list);

    if (rc == OIE_EXIT_OK && r.dead_mode) {
        struct stat  st;

        errno = 0;

        if (stat(r.dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
            oie_error("cannot read the spool directory %s: %s", r.dir,
                      errno ? strerror(errno) : "not a directory");
            rc = OIE_EXIT_IO;
        }
    }

    if (rc != OIE_EXIT_OK) {
        free(dead_dir);
        oie_bq_free(&r.bq);
        return rc;
    }

    memset(&sa, 0, sizeof(struct sigaction));
    sa.sa_handler = oie_replay_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    srand((unsigned) (getpid() ^ time(NULL)));

    for (i = 0; i < list.n; i++) {
        if (oie_bq_interrupted || r.stopped) {
            break;
        }

        frc = oie_replay_file(&r, &list.e[i], r.dead_mode ? dead_dir : r.dir);

        if (frc != OIE_EXIT_OK && frc != OIE_EXIT_DATA) {
            break;
        }
    }

    oie_spool_list_free(&list);
    free(dead_dir);

    rc = oie_replay_summary(&r);

    oie_bq_free(&r.bq);

    return rc;
}
