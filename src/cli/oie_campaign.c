/*
 * oie campaign create: a lead CSV becomes one id per lead, a CSV for email
 * tools (the original columns plus the tracking links) and an identities
 * file (NDJSON) for `oie leads push` and `oie leads export-bq`.
 */

#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "oie_cli.h"
#include "oie_csv.h"
#include "oie_id.h"
#include "oie_leadtext.h"


#define OIE_MAX_ATTEMPTS     64
#define OIE_MAX_COLUMNS      4096


typedef struct {
    char            *header;     /* as in the file */
    char            *attr;       /* attribute name, for OIE_ROLE_ATTR */
    int              role;
    size_t           line;
    size_t           col;
} oie_column_t;


typedef struct {
    size_t           cells;      /* first of its ncols cells */
    size_t           email;      /* offset in the email arena */
    uint32_t         line;
    uint32_t         attempt;
    unsigned char    hash[SHA256_DIGEST_LENGTH];
    char             id[OIE_ID_MAX_LEN + 1];
    char             sid[OIE_ID_SIGNED_MAX_LEN + 1];
} oie_lead_t;


typedef struct {
    uint32_t        *slots;      /* lead index + 1, 0 when free */
    size_t           mask;
    size_t           used;
} oie_table_t;


typedef struct {
    /* options */
    const char      *name;
    const char      *slug_opt;
    const char      *leads_path;
    const char      *base_url;
    const char      *landing;
    const char      *secret_path;
    const char      *out_dir;
    size_t           id_len;
    int              utm;
    int              skip_bad;
    int              progress;

    char             slug[OIE_SLUG_MAX + 1];
    char            *base;       /* base URL without a trailing slash */
    char            *destination;
    unsigned char   *secret;
    size_t           secret_len;

    oie_file_t       file;
    const char      *fname;

    oie_column_t    *cols;
    size_t           ncols;
    int              role_col[OIE_ROLE_N];

    char           **cells;
    size_t           ncells;
    size_t           cells_alloc;

    char            *emails;     /* NUL-separated normalized emails */
    size_t           emails_len;
    size_t           emails_alloc;

    oie_lead_t      *leads;
    size_t           nleads;
    size_t           leads_alloc;

    oie_table_t      by_email;

    size_t           bad_rows;
    size_t           empty_rows;
    size_t           moved;
} oie_campaign_t;


static int oie_campaign_create(int argc, char **argv);
static int oie_campaign_options(oie_campaign_t *cp, int argc, char **argv);
static int oie_campaign_header(oie_campaign_t *cp, oie_csv_t *csv);
static int oie_campaign_rows(oie_campaign_t *cp, oie_csv_t *csv);
static void oie_campaign_private(oie_campaign_t *cp);
static int oie_campaign_ids(oie_campaign_t *cp);
static int oie_campaign_write_csv(oie_campaign_t *cp, const char *path);
static int oie_campaign_write_ndjson(oie_campaign_t *cp, const char *path);
static void oie_campaign_free(oie_campaign_t *cp);
static int oie_row_problem(oie_campaign_t *cp, size_t line, size_t col,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));


static void oie_table_init(oie_table_t *t, size_t n);
static uint64_t oie_id_hash(const char *id, size_t len);
static int oie_cmp_email(const void *a, const void *b);


static const char  oie_campaign_usage[] =
    "usage: oie campaign create --name NAME --leads FILE.csv\n"
    "           --base-url URL --landing URL [options]\n"
    "\n"
    "Gives every lead in FILE.csv a short deterministic id and writes, in\n"
    "--out DIR:\n"
    "  SLUG-urls.csv           the original columns + trackingUrl,\n"
    "                          openPixelUrl, leadId (import it into\n"
    "                          Smartlead, Instantly or lemlist)\n"
    "  SLUG-identities.ndjson  one lead per line, for `oie leads push` and\n"
    "                          `oie leads export-bq`\n"
    "\n"
    "The CSV needs a header row with an email column; first name, last\n"
    "name, company and title are recognized under their usual names, and\n"
    "every other column is kept as an attribute (\"Job Level\" -> jobLevel).\n"
    "\n"
    "options:\n"
    "  --name NAME         campaign name (its slug names the campaign)\n"
    "  --slug SLUG         campaign slug instead of the one made from NAME\n"
    "                      ([a-z0-9_-], at most 64 characters)\n"
    "  --leads FILE        the lead CSV, UTF-8 (\"-\" reads stdin)\n"
    "  --base-url URL      where the module serves /r/ and /o/,\n"
    "                      e.g. https://track.example.com\n"
    "  --landing URL       where a click lands, e.g. https://example.com/demo\n"
    "  --secret-file FILE  sign the ids (<id>.<tag>) with this secret\n"
    "                      (at least 16 bytes; the module needs the same)\n"
    "  --out DIR           output directory (default: .)\n"
    "  --id-length N       6, 7 or 8 characters (default: 7)\n"
    "  --no-utm            do not add utm_source, utm_medium, utm_campaign\n"
    "  --skip-bad-rows     skip invalid or duplicate rows with a warning\n"
    "                      instead of failing\n"
    "  --progress          report progress on stderr (default: when stderr\n"
    "                      is a terminal)\n"
    "  --quiet             no warnings, progress or summary\n"
    "  --help              this text\n"
    "\n"
    "SOURCE_DATE_EPOCH, when set, is used as the createdAt time.\n"
    "Exit codes: see `oie --help`.\n";


static const char  oie_campaign_top_usage[] =
    "usage: oie campaign create [options]   (oie campaign create --help)\n";


/* for qsort: the email arena of the campaign being sorted */
static const oie_campaign_t  *oie_sorting;


int
oie_cmd_campaign(int argc, char **argv)
{
    if (argc < 2) {
        fputs(oie_campaign_top_usage, stderr);
        return OIE_EXIT_USAGE;
    }

    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(oie_campaign_usage, stdout);
        return OIE_EXIT_OK;
    }

    if (strcmp(argv[1], "create") == 0) {
        return oie_campaign_create(argc - 1, argv + 1);
    }

    oie_error("unknown command 'campaign %s' (try: oie campaign --help)",
              argv[1]);

    return OIE_EXIT_USAGE;
}


static int
oie_campaign_create(int argc, char **argv)
{
    int              rc;
    char            *csv_path, *ndjson_path;
    double           start;
    oie_csv_t        csv;
    oie_campaign_t   cp;

    memset(&cp, 0, sizeof(oie_campaign_t));
    memset(&csv, 0, sizeof(oie_csv_t));
    csv_path = NULL;
    ndjson_path = NULL;

    start = oie_now();

    rc = oie_campaign_options(&cp, argc, argv);
    if (rc != OIE_EXIT_OK) {
        goto done;
    }

    if (cp.name == NULL) {      /* --help */
        goto done;
    }

    if (cp.secret_path != NULL) {
        rc = oie_read_secret(cp.secret_path, &cp.secret, &cp.secret_len);
        if (rc != OIE_EXIT_OK) {
            goto done;
        }
    }

    rc = oie_file_read(&cp.file, cp.leads_path);
    if (rc != OIE_EXIT_OK) {
        goto done;
    }

    cp.fname = strcmp(cp.leads_path, "-") == 0 ? "<stdin>" : cp.leads_path;

    oie_csv_init(&csv, cp.file.data, cp.file.len);

    rc = oie_campaign_header(&cp, &csv);
    if (rc != OIE_EXIT_OK) {
        goto done;
    }

    rc = oie_campaign_rows(&cp, &csv);
    if (rc != OIE_EXIT_OK) {
        goto done;
    }

    oie_campaign_private(&cp);

    rc = oie_campaign_ids(&cp);
    if (rc != OIE_EXIT_OK) {
        goto done;
    }

    rc = oie_mkdir_p(cp.out_dir);
    if (rc != OIE_EXIT_OK) {
        goto done;
    }

    csv_path = oie_xasprintf("%s/%s-urls.csv", cp.out_dir, cp.slug);
    ndjson_path = oie_xasprintf("%s/%s-identities.ndjson", cp.out_dir,
                                cp.slug);

    rc = oie_campaign_write_csv(&cp, csv_path);
    if (rc != OIE_EXIT_OK) {
        goto done;
    }

    rc = oie_campaign_write_ndjson(&cp, ndjson_path);
    if (rc != OIE_EXIT_OK) {
        goto done;
    }

    oie_info("campaign %s: %zu leads, %zu ids moved off a collision, "
             "%zu rows skipped; wrote %s and %s in %.2f s",
             cp.slug, cp.nleads, cp.moved, cp.bad_rows + cp.empty_rows,
             csv_path, ndjson_path, oie_now() - start);

done:

    oie_csv_free(&csv);
    free(csv_path);
    free(ndjson_path);
    oie_campaign_free(&cp);

    return rc;
}


static int
oie_campaign_options(oie_campaign_t *cp, int argc, char **argv)
{
    int              c;
    size_t           i, n, len;
    uint64_t         v;
    const char      *err;

    static const struct option  opts[] = {
        { "name",          required_argument, NULL, 'n' },
        { "slug",          required_argument, NULL, 'S' },
        { "leads",         required_argument, NULL, 'l' },
        { "base-url",      required_argument, NULL, 'b' },
        { "landing",       required_argument, NULL, 'L' },
        { "secret-file",   required_argument, NULL, 's' },
        { "out",           required_argument, NULL, 'o' },
        { "id-length",     required_argument, NULL, 'i' },
        { "no-utm",        no_argument,       NULL, 'U' },
        { "skip-bad-rows", no_argument,       NULL, 'k' },
        { "progress",      no_argument,       NULL, 'p' },
        { "quiet",         no_argument,       NULL, 'q' },
        { "help",          no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    cp->out_dir = ".";
    cp->id_len = OIE_ID_DEFAULT_LEN;
    cp->utm = 1;

    optind = 0;
    opterr = 0;

    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            cp->name = optarg;
            break;
        case 'S':
            cp->slug_opt = optarg;
            break;
        case 'l':
            cp->leads_path = optarg;
            break;
        case 'b':
            cp->base_url = optarg;
            break;
        case 'L':
            cp->landing = optarg;
            break;
        case 's':
            cp->secret_path = optarg;
            break;
        case 'o':
            cp->out_dir = optarg;
            break;
        case 'i':
            if (oie_parse_uint(optarg, OIE_ID_MIN_LEN, OIE_ID_MAX_LEN, &v)
                != 0)
            {
                oie_error("--id-length must be 6, 7 or 8, not '%s'", optarg);
                return OIE_EXIT_USAGE;
            }
            cp->id_len = (size_t) v;
            break;
        case 'U':
            cp->utm = 0;
            break;
        case 'k':
            cp->skip_bad = 1;
            break;
        case 'p':
            cp->progress = 1;
            break;
        case 'q':
            oie_quiet = 1;
            cp->progress = -1;
            break;
        case 'h':
            fputs(oie_campaign_usage, stdout);
            cp->name = NULL;
            return OIE_EXIT_OK;
        case ':':
            oie_error("option %s needs a value (try: oie campaign create "
                      "--help)", argv[optind - 1]);
            return OIE_EXIT_USAGE;
        default:
            oie_error("unknown option '%s' (try: oie campaign create "
                      "--help)", argv[optind - 1]);
            return OIE_EXIT_USAGE;
        }
    }

    if (optind < argc) {
        oie_error("unexpected argument '%s' (try: oie campaign create "
                  "--help)", argv[optind]);
        return OIE_EXIT_USAGE;
    }

    if (cp->name == NULL || cp->leads_path == NULL || cp->base_url == NULL
        || cp->landing == NULL)
    {
        oie_error("campaign create needs --name, --leads, --base-url and "
                  "--landing (try: oie campaign create --help)");
        cp->name = NULL;
        return OIE_EXIT_USAGE;
    }

    for (i = 0, len = strlen(cp->name); i < len; i += n) {
        n = oie_utf8_len((const unsigned char *) cp->name + i, len - i);

        if (n == 0 || (unsigned char) cp->name[i] < 0x20
            || cp->name[i] == 0x7f)
        {
            break;
        }
    }

    if (i < len || len == 0 || len > 256) {
        oie_error("--name must be 1-256 bytes of UTF-8 text without control "
                  "characters");
        cp->name = NULL;
        return OIE_EXIT_USAGE;
    }

    if (cp->slug_opt != NULL) {
        if (!oie_slug_valid(cp->slug_opt)) {
            oie_error("--slug '%s' must be 1-64 of a-z, 0-9, '_' and '-', "
                      "not starting or ending with '-'", cp->slug_opt);
            cp->name = NULL;
            return OIE_EXIT_USAGE;
        }

        strcpy(cp->slug, cp->slug_opt);

    } else if (oie_slugify(cp->name, cp->slug) != 0) {
        oie_error("--name '%s' has no ASCII letter or digit to make a slug "
                  "from; give one with --slug", cp->name);
        cp->name = NULL;
        return OIE_EXIT_USAGE;
    }

    err = oie_url_check(cp->base_url, 1);
    if (err != NULL) {
        oie_error("--base-url '%s': %s", cp->base_url, err);
        cp->name = NULL;
        return OIE_EXIT_USAGE;
    }

    err = oie_url_check(cp->landing, 0);
    if (err != NULL) {
        oie_error("--landing '%s': %s", cp->landing, err);
        cp->name = NULL;
        return OIE_EXIT_USAGE;
    }

    cp->base = oie_xstrdup(cp->base_url);
    while (cp->base[strlen(cp->base) - 1] == '/') {
        cp->base[strlen(cp->base) - 1] = '\0';
    }

    cp->destination = oie_destination(cp->landing, cp->slug, cp->utm, &err);
    if (cp->destination == NULL) {
        oie_error("--landing '%s': %s", cp->landing, err);
        cp->name = NULL;
        return OIE_EXIT_USAGE;
    }

    return OIE_EXIT_OK;
}


static int
oie_campaign_header(oie_campaign_t *cp, oie_csv_t *csv)
{
    int            rc, role, clash;
    char          *name, *alt;
    size_t         i, j, n, len;
    const char    *h;
    oie_column_t  *col;

    rc = oie_csv_next(csv);

    if (rc == 0) {
        oie_error("%s:1:1: empty file: expected a header row with an email "
                  "column", cp->fname);
        return OIE_EXIT_DATA;
    }

    if (rc == -2) {
        oie_error("out of memory");
        return OIE_EXIT_INTERNAL;
    }

    if (rc < 0) {
        oie_error("%s:%zu:%zu: %s", cp->fname, csv->err_line, csv->err_col,
                  csv->err);
        return OIE_EXIT_DATA;
    }

    if (csv->nfields > OIE_MAX_COLUMNS) {
        oie_error("%s:%zu:1: the header has %zu columns; at most %d are "
                  "read", cp->fname, csv->record_line, csv->nfields,
                  OIE_MAX_COLUMNS);
        return OIE_EXIT_DATA;
    }

    for (i = 0; i < OIE_ROLE_N; i++) {
        cp->role_col[i] = -1;
    }

    cp->ncols = csv->nfields;
    cp->cols = oie_xmalloc(cp->ncols * sizeof(oie_column_t));
    memset(cp->cols, 0, cp->ncols * sizeof(oie_column_t));

    for (i = 0; i < cp->ncols; i++) {
        col = &cp->cols[i];
        col->header = csv->fields[i].data;
        col->line = csv->fields[i].line;
        col->col = csv->fields[i].col;

        h = col->header;
        len = csv->fields[i].len;
        oie_trim(&h, &len);

        role = oie_header_role(h, len);

        if (role == OIE_ROLE_OUTPUT) {
            col->role = role;
            continue;
        }

        if (role != OIE_ROLE_ATTR && cp->role_col[role] == -1) {
            col->role = role;
            cp->role_col[role] = (int) i;
            continue;
        }

        /* an attribute; its name must not clash with ours or another's */

        col->role = OIE_ROLE_ATTR;
        name = oie_camel(h, len, i + 1);

        for (j = 0; oie_reserved[j] != NULL; j++) {
            if (strcmp(name, oie_reserved[j]) == 0) {
                alt = oie_xasprintf("csv%c%s", name[0] - 'a' + 'A', name + 1);
                free(name);
                name = alt;
                break;
            }
        }

        for (n = 2, alt = oie_xstrdup(name); ; n++) {
            clash = 0;

            for (j = 0; j < i; j++) {
                if (cp->cols[j].attr != NULL
                    && strcmp(cp->cols[j].attr, alt) == 0)
                {
                    clash = 1;
                    break;
                }
            }

            if (!clash) {
                break;
            }

            free(alt);
            alt = oie_xasprintf("%s%zu", name, n);
        }

        free(name);
        col->attr = alt;
    }

    if (cp->role_col[OIE_ROLE_EMAIL] == -1) {
        oie_error("%s:%zu:1: no email column in the header (looked for "
                  "Email, Email Address, Work Email, Business Email, Mail)",
                  cp->fname, csv->record_line);
        return OIE_EXIT_DATA;
    }

    return OIE_EXIT_OK;
}


static int
oie_row_problem(oie_campaign_t *cp, size_t line, size_t col,
    const char *fmt, ...)
{
    char     msg[512];
    va_list  args;

    cp->bad_rows++;

    if (cp->bad_rows <= OIE_MAX_REPORTED) {
        va_start(args, fmt);
        vsnprintf(msg, sizeof(msg), fmt, args);
        va_end(args);

        if (cp->skip_bad) {
            oie_warn("%s:%zu:%zu: %s; row skipped", cp->fname, line, col,
                     msg);

        } else {
            oie_error("%s:%zu:%zu: %s", cp->fname, line, col, msg);
        }
    }

    return 0;
}


static void
oie_table_init(oie_table_t *t, size_t n)
{
    size_t  size;

    for (size = 1024; size < n * 2; size *= 2) {
        /* void */
    }

    t->slots = oie_xmalloc(size * sizeof(uint32_t));
    memset(t->slots, 0, size * sizeof(uint32_t));
    t->mask = size - 1;
    t->used = 0;
}


static int
oie_campaign_rows(oie_campaign_t *cp, oie_csv_t *csv)
{
    int                  rc;
    char                *email;
    size_t               i, len, slot, nf, extra, ecol;
    uint64_t             h;
    uint32_t            *old;
    oie_lead_t          *lead, *first;
    const char          *e, *err;
    oie_csv_field_t     *f;
    oie_progress_t       progress;

    first = NULL;
    oie_progress_init(&progress, cp->fname, cp->progress);
    oie_table_init(&cp->by_email, 0);

    ecol = (size_t) cp->role_col[OIE_ROLE_EMAIL];

    for ( ;; ) {
        rc = oie_csv_next(csv);

        if (rc == 0) {
            break;
        }

        if (rc == -2) {
            oie_error("out of memory");
            return OIE_EXIT_INTERNAL;
        }

        if (rc < 0) {
            oie_progress_done(&progress);
            oie_error("%s:%zu:%zu: %s", cp->fname, csv->err_line,
                      csv->err_col, csv->err);
            return OIE_EXIT_DATA;
        }

        oie_progress(&progress, csv->record_line, "lines read");

        nf = csv->nfields;

        /* a row of empty cells (spreadsheet leftovers) is no lead */

        for (i = 0; i < nf; i++) {
            if (csv->fields[i].len != 0) {
                break;
            }
        }

        if (i == nf) {
            cp->empty_rows++;
            continue;
        }

        if (nf > cp->ncols) {
            for (extra = cp->ncols; extra < nf; extra++) {
                if (csv->fields[extra].len != 0) {
                    break;
                }
            }

            if (extra < nf) {
                oie_row_problem(cp, csv->fields[extra].line,
                                csv->fields[extra].col,
                                "%zu fields, but the header has %zu "
                                "columns", nf, cp->ncols);
                continue;
            }

            nf = cp->ncols;
        }

        if (ecol >= nf) {
            oie_row_problem(cp, csv->record_line, 1, "no email (the row has "
                            "%zu fields, the email is column %zu)", nf,
                            ecol + 1);
            continue;
        }

        f = &csv->fields[ecol];
        e = f->data;
        len = f->len;
        oie_trim(&e, &len);

        /* normalized copy, kept for ordering and the identities file */

        if (cp->emails_len + len + 1 > cp->emails_alloc) {
            cp->emails_alloc = (cp->emails_alloc + len + 1) * 2;
            cp->emails = oie_xrealloc(cp->emails, cp->emails_alloc);
        }

        email = cp->emails + cp->emails_len;
        len = oie_email_normalize((const unsigned char *) e, len,
                                  (unsigned char *) email);
        email[len] = '\0';

        err = oie_email_check(email, len);
        if (err != NULL) {
            if (len == 0) {
                oie_row_problem(cp, f->line, f->col, "%s", err);

            } else {
                oie_row_problem(cp, f->line, f->col, "%s: '%.*s'", err,
                                (int) (len > 80 ? 80 : len), e);
            }

            continue;
        }

        if (cp->nleads == cp->leads_alloc) {
            cp->leads_alloc = cp->leads_alloc ? cp->leads_alloc * 2 : 4096;
            cp->leads = oie_xrealloc(cp->leads,
                                     cp->leads_alloc * sizeof(oie_lead_t));
        }

        if (cp->nleads >= UINT32_MAX - 1) {
            oie_error("%s: more than %u leads in one campaign", cp->fname,
                      UINT32_MAX - 2);
            return OIE_EXIT_DATA;
        }

        lead = &cp->leads[cp->nleads];
        memset(lead, 0, sizeof(oie_lead_t));
        lead->line = (uint32_t) csv->record_line;
        lead->email = cp->emails_len;

        SHA256((unsigned char *) email, len, lead->hash);

        /* duplicate emails: an open-addressing table on the hash */

        memcpy(&h, lead->hash, sizeof(h));

        for (slot = h & cp->by_email.mask;
             cp->by_email.slots[slot] != 0;
             slot = (slot + 1) & cp->by_email.mask)
        {
            first = &cp->leads[cp->by_email.slots[slot] - 1];

            if (memcmp(first->hash, lead->hash, SHA256_DIGEST_LENGTH) == 0) {
                break;
            }
        }

        if (cp->by_email.slots[slot] != 0) {
            oie_row_problem(cp, f->line, f->col,
                            "duplicate email '%s' (first on line %u)",
                            email, first->line);
            continue;
        }

        cp->by_email.slots[slot] = (uint32_t) cp->nleads + 1;
        cp->by_email.used++;

        /* the row's cells, short rows padded with empty ones */

        if (cp->ncells + cp->ncols > cp->cells_alloc) {
            cp->cells_alloc = (cp->cells_alloc + cp->ncols) * 2;
            cp->cells = oie_xrealloc(cp->cells,
                                     cp->cells_alloc * sizeof(char *));
        }

        lead->cells = cp->ncells;

        for (i = 0; i < cp->ncols; i++) {
            cp->cells[cp->ncells++] = i < nf ? csv->fields[i].data : "";
        }

        cp->emails_len += len + 1;
        cp->nleads++;

        if (cp->by_email.used * 2 > cp->by_email.mask) {
            old = cp->by_email.slots;
            len = cp->by_email.mask + 1;
            oie_table_init(&cp->by_email, len);

            for (i = 0; i < len; i++) {
                if (old[i] == 0) {
                    continue;
                }

                memcpy(&h, cp->leads[old[i] - 1].hash, sizeof(h));

                for (slot = h & cp->by_email.mask;
                     cp->by_email.slots[slot] != 0;
                     slot = (slot + 1) & cp->by_email.mask)
                {
                    /* void */
                }

                cp->by_email.slots[slot] = old[i];
                cp->by_email.used++;
            }

            free(old);
        }
    }

    oie_progress_done(&progress);

    if (cp->bad_rows > OIE_MAX_REPORTED) {
        if (cp->skip_bad) {
            oie_warn("%s: %zu more rows skipped", cp->fname,
                     cp->bad_rows - OIE_MAX_REPORTED);

        } else {
            oie_error("%s: %zu more bad rows", cp->fname,
                      cp->bad_rows - OIE_MAX_REPORTED);
        }
    }

    if (cp->bad_rows && !cp->skip_bad) {
        oie_error("%s: %zu bad rows, nothing written (fix them, or pass "
                  "--skip-bad-rows to leave them out)", cp->fname,
                  cp->bad_rows);
        return OIE_EXIT_DATA;
    }

    if (cp->nleads == 0) {
        oie_error("%s: no leads after the header row", cp->fname);
        return OIE_EXIT_DATA;
    }

    return OIE_EXIT_OK;
}


/*
 * A column that holds email addresses (say "Personal Email") stays in the
 * CSV for the email tool but goes neither to Redis nor to BigQuery.
 */

static void
oie_campaign_private(oie_campaign_t *cp)
{
    size_t        c, i, len;
    const char   *v;

    for (c = 0; c < cp->ncols; c++) {
        if (cp->cols[c].role != OIE_ROLE_ATTR) {
            continue;
        }

        for (i = 0; i < cp->nleads; i++) {
            v = cp->cells[cp->leads[i].cells + c];

            if (strchr(v, '@') == NULL) {
                continue;
            }

            len = strlen(v);
            oie_trim(&v, &len);

            if (oie_email_check(v, len) == NULL) {
                cp->cols[c].role = OIE_ROLE_PRIVATE;
                oie_warn("%s: column '%s' holds email addresses: kept in "
                         "the CSV, left out of the identities (Redis, "
                         "BigQuery)", cp->fname, cp->cols[c].header);
                break;
            }
        }
    }
}


static uint64_t
oie_id_hash(const char *id, size_t len)
{
    size_t    i;
    uint64_t  h;

    h = 14695981039346656037ULL;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char) id[i];
        h *= 1099511628211ULL;
    }

    return h;
}


static int
oie_cmp_email(const void *a, const void *b)
{
    const oie_lead_t  *la, *lb;

    la = &oie_sorting->leads[*(const uint32_t *) a];
    lb = &oie_sorting->leads[*(const uint32_t *) b];

    return strcmp(oie_sorting->emails + la->email,
                  oie_sorting->emails + lb->email);
}


/*
 * Ids: every lead takes its attempt-0 id; where several leads want one id
 * the smallest normalized email keeps it and the others try again with the
 * next attempt, in email order.  So a lead's id depends only on the set of
 * leads, not on their order in the file.
 */

static int
oie_campaign_ids(oie_campaign_t *cp)
{
    int            n;
    size_t         i, k, slot, npending, nnext;
    uint32_t      *pending, *next, *tmp, holder;
    oie_lead_t    *lead;
    oie_table_t    ids;

    oie_table_init(&ids, cp->nleads);

    pending = oie_xmalloc(cp->nleads * sizeof(uint32_t));
    next = oie_xmalloc(cp->nleads * sizeof(uint32_t));
    npending = 0;

    for (k = 0; k < OIE_MAX_ATTEMPTS; k++) {
        nnext = 0;

        if (k > 0) {
            oie_sorting = cp;
            qsort(pending, npending, sizeof(uint32_t), oie_cmp_email);
        }

        for (i = 0; i < (k == 0 ? cp->nleads : npending); i++) {
            holder = (uint32_t) (k == 0 ? i : pending[i]);
            lead = &cp->leads[holder];
            lead->attempt = (uint32_t) k;

            if (oie_id_make((unsigned char *) cp->emails + lead->email,
                            strlen(cp->emails + lead->email),
                            (unsigned char *) cp->slug, strlen(cp->slug),
                            (unsigned) k, cp->id_len,
                            (unsigned char *) lead->id)
                != OIE_ID_OK)
            {
                oie_error("%s:%u: cannot make an id", cp->fname, lead->line);
                free(pending);
                free(next);
                free(ids.slots);
                return OIE_EXIT_INTERNAL;
            }

            lead->id[cp->id_len] = '\0';

            for (slot = oie_id_hash(lead->id, cp->id_len) & ids.mask;
                 ids.slots[slot] != 0;
                 slot = (slot + 1) & ids.mask)
            {
                if (memcmp(cp->leads[ids.slots[slot] - 1].id, lead->id,
                           cp->id_len) == 0)
                {
                    break;
                }
            }

            if (ids.slots[slot] == 0) {
                ids.slots[slot] = holder + 1;
                continue;
            }

            /* taken: in round 0 the smaller email wins it */

            if (k == 0
                && strcmp(cp->emails + lead->email,
                          cp->emails + cp->leads[ids.slots[slot] - 1].email)
                   < 0)
            {
                next[nnext++] = ids.slots[slot] - 1;
                ids.slots[slot] = holder + 1;

            } else {
                next[nnext++] = holder;
            }
        }

        cp->moved += (k == 0) ? nnext : 0;

        tmp = pending;
        pending = next;
        next = tmp;
        npending = nnext;

        if (npending == 0) {
            break;
        }
    }

    free(pending);
    free(next);
    free(ids.slots);

    if (npending != 0) {
        oie_error("%s: %zu leads found no free id in %d attempts; use a "
                  "longer --id-length", cp->fname, npending,
                  OIE_MAX_ATTEMPTS);
        return OIE_EXIT_DATA;
    }

    if (cp->secret == NULL) {
        return OIE_EXIT_OK;
    }

    for (i = 0; i < cp->nleads; i++) {
        lead = &cp->leads[i];

        n = oie_id_sign(cp->secret, cp->secret_len,
                        (unsigned char *) lead->id, cp->id_len,
                        (unsigned char *) lead->sid);
        if (n < 0) {
            oie_error("cannot sign id %s", lead->id);
            return OIE_EXIT_INTERNAL;
        }

        lead->sid[n] = '\0';
    }

    return OIE_EXIT_OK;
}


static int
oie_campaign_write_csv(oie_campaign_t *cp, const char *path)
{
    int          rc;
    size_t       i, c;
    FILE        *fp;
    oie_out_t    out;
    oie_lead_t  *lead;
    const char  *cell;

    rc = oie_out_open(&out, path);
    if (rc != OIE_EXIT_OK) {
        return rc;
    }

    fp = out.fp;

    for (c = 0; c < cp->ncols; c++) {
        if (cp->cols[c].role == OIE_ROLE_OUTPUT) {
            continue;
        }

        oie_csv_write(fp, cp->cols[c].header, strlen(cp->cols[c].header));
        putc_unlocked(',', fp);
    }

    fputs_unlocked("trackingUrl,openPixelUrl,leadId\r\n", fp);

    for (i = 0; i < cp->nleads; i++) {
        lead = &cp->leads[i];

        for (c = 0; c < cp->ncols; c++) {
            if (cp->cols[c].role == OIE_ROLE_OUTPUT) {
                continue;
            }

            cell = cp->cells[lead->cells + c];
            oie_csv_write(fp, cell, strlen(cell));
            putc_unlocked(',', fp);
        }

        fputs_unlocked(cp->base, fp);
        fputs_unlocked("/r/", fp);
        fputs_unlocked(cp->secret ? lead->sid : lead->id, fp);
        putc_unlocked(',', fp);
        fputs_unlocked(cp->base, fp);
        fputs_unlocked("/o/", fp);
        /* oie_open checks signatures like oie_redirect does */
        fputs_unlocked(cp->secret ? lead->sid : lead->id, fp);
        fputs_unlocked(".gif,", fp);
        fputs_unlocked(lead->id, fp);
        fputs_unlocked("\r\n", fp);
    }

    return oie_out_commit(&out);
}


static void
oie_ndjson_field(FILE *fp, const char *name, const char *value, int trim)
{
    size_t  len;

    len = strlen(value);

    if (trim) {
        oie_trim(&value, &len);
    }

    putc_unlocked(',', fp);
    putc_unlocked('"', fp);
    fputs_unlocked(name, fp);
    fputs_unlocked("\":", fp);
    oie_json_string(fp, value, len);
}


static int
oie_campaign_write_ndjson(oie_campaign_t *cp, const char *path)
{
    int           rc, any;
    char          hex[OIE_SHA256_HEX_LEN + 1], created[32];
    size_t        i, c, j, len;
    FILE         *fp;
    oie_out_t     out;
    oie_lead_t   *lead;
    const char   *v;
    static const struct {
        int          role;
        const char  *name;
    } core[] = {
        { OIE_ROLE_FIRST, "firstName" },
        { OIE_ROLE_LAST, "lastName" },
        { OIE_ROLE_COMPANY, "company" },
        { OIE_ROLE_TITLE, "title" },
    };

    rc = oie_out_open(&out, path);
    if (rc != OIE_EXIT_OK) {
        return rc;
    }

    fp = out.fp;
    oie_rfc3339(oie_epoch(), created, sizeof(created));

    for (i = 0; i < cp->nleads; i++) {
        lead = &cp->leads[i];

        for (j = 0; j < SHA256_DIGEST_LENGTH; j++) {
            hex[2 * j] = "0123456789abcdef"[lead->hash[j] >> 4];
            hex[2 * j + 1] = "0123456789abcdef"[lead->hash[j] & 0x0f];
        }

        hex[OIE_SHA256_HEX_LEN] = '\0';

        fputs_unlocked("{\"id\":\"", fp);
        fputs_unlocked(lead->id, fp);
        putc_unlocked('"', fp);

        if (cp->secret) {
            fputs_unlocked(",\"signedId\":\"", fp);
            fputs_unlocked(lead->sid, fp);
            putc_unlocked('"', fp);
        }

        oie_ndjson_field(fp, "campaign", cp->slug, 0);
        oie_ndjson_field(fp, "campaignName", cp->name, 0);
        oie_ndjson_field(fp, "email", cp->emails + lead->email, 0);
        oie_ndjson_field(fp, "emailHash", hex, 0);

        for (j = 0; j < sizeof(core) / sizeof(core[0]); j++) {
            c = (size_t) cp->role_col[core[j].role];
            v = cp->role_col[core[j].role] == -1
                ? "" : cp->cells[lead->cells + c];
            oie_ndjson_field(fp, core[j].name, v, 1);
        }

        fputs_unlocked(",\"attributes\":{", fp);
        any = 0;

        for (c = 0; c < cp->ncols; c++) {
            if (cp->cols[c].role != OIE_ROLE_ATTR) {
                continue;
            }

            v = cp->cells[lead->cells + c];
            len = strlen(v);
            oie_trim(&v, &len);

            if (len == 0) {
                continue;
            }

            if (any) {
                putc_unlocked(',', fp);
            }

            any = 1;
            oie_json_string(fp, cp->cols[c].attr, strlen(cp->cols[c].attr));
            putc_unlocked(':', fp);
            oie_json_string(fp, v, len);
        }

        putc_unlocked('}', fp);

        oie_ndjson_field(fp, "destination", cp->destination, 0);

        fputs_unlocked(",\"trackingUrl\":", fp);
        putc_unlocked('"', fp);
        fputs_unlocked(cp->base, fp);
        fputs_unlocked("/r/", fp);
        fputs_unlocked(cp->secret ? lead->sid : lead->id, fp);
        putc_unlocked('"', fp);

        fputs_unlocked(",\"openPixelUrl\":", fp);
        putc_unlocked('"', fp);
        fputs_unlocked(cp->base, fp);
        fputs_unlocked("/o/", fp);
        fputs_unlocked(cp->secret ? lead->sid : lead->id, fp);
        fputs_unlocked(".gif\"", fp);

        fprintf(fp, ",\"createdAt\":\"%s\",\"line\":%u}\n", created,
                lead->line);
    }

    return oie_out_commit(&out);
}


static void
oie_campaign_free(oie_campaign_t *cp)
{
    size_t  i;

    for (i = 0; i < cp->ncols && cp->cols != NULL; i++) {
        free(cp->cols[i].attr);
    }

    free(cp->cols);
    free(cp->cells);
    free(cp->emails);
    free(cp->leads);
    free(cp->by_email.slots);
    free(cp->base);
    free(cp->destination);
    free(cp->secret);
    oie_file_free(&cp->file);
}
