/*
 * oie id: the id functions one at a time, for scripts and for checking a
 * link by hand.
 */

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "oie_cli.h"
#include "oie_id.h"


static const char  oie_id_usage[] =
    "usage: oie id make --campaign SLUG [--length N] [--attempt N] EMAIL...\n"
    "       oie id sign --secret-file FILE ID...\n"
    "       oie id verify --secret-file FILE SIGNED-ID...\n"
    "       oie id hash EMAIL...\n"
    "\n"
    "make    prints the id of each email in campaign SLUG (the slug that\n"
    "        `oie campaign create` prints); --attempt is the collision\n"
    "        counter (default 0), --length 6, 7 or 8 (default 7)\n"
    "sign    prints <id>.<tag> for each id\n"
    "verify  prints the bare id of each valid signed id; exit code 3 when\n"
    "        any is malformed or its tag is wrong\n"
    "hash    prints the SHA-256 hex of each normalized email (emailHash)\n"
    "\n"
    "The algorithm is described in src/cli/README.md.\n";


int
oie_cmd_id(int argc, char **argv)
{
    int             c, n, rc;
    char            hex[OIE_SHA256_HEX_LEN + 1];
    size_t          secret_len;
    uint64_t        length, attempt;
    const char     *sub, *campaign, *secret_path, *arg;
    unsigned char   out[OIE_ID_SIGNED_MAX_LEN], *secret;

    static const struct option  opts[] = {
        { "campaign",    required_argument, NULL, 'c' },
        { "length",      required_argument, NULL, 'l' },
        { "attempt",     required_argument, NULL, 'a' },
        { "secret-file", required_argument, NULL, 's' },
        { "help",        no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    if (argc < 2) {
        fputs(oie_id_usage, stderr);
        return OIE_EXIT_USAGE;
    }

    sub = argv[1];

    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        fputs(oie_id_usage, stdout);
        return OIE_EXIT_OK;
    }

    if (strcmp(sub, "make") != 0 && strcmp(sub, "sign") != 0
        && strcmp(sub, "verify") != 0 && strcmp(sub, "hash") != 0)
    {
        oie_error("unknown command 'id %s' (try: oie id --help)", sub);
        return OIE_EXIT_USAGE;
    }

    campaign = NULL;
    secret_path = NULL;
    length = OIE_ID_DEFAULT_LEN;
    attempt = 0;

    argc--;
    argv++;
    optind = 0;
    opterr = 0;

    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            campaign = optarg;
            break;
        case 'l':
            if (oie_parse_uint(optarg, OIE_ID_MIN_LEN, OIE_ID_MAX_LEN,
                               &length) != 0)
            {
                oie_error("--length must be 6, 7 or 8, not '%s'", optarg);
                return OIE_EXIT_USAGE;
            }
            break;
        case 'a':
            if (oie_parse_uint(optarg, 0, 1000000, &attempt) != 0) {
                oie_error("--attempt must be a number from 0 to 1000000, "
                          "not '%s'", optarg);
                return OIE_EXIT_USAGE;
            }
            break;
        case 's':
            secret_path = optarg;
            break;
        case 'h':
            fputs(oie_id_usage, stdout);
            return OIE_EXIT_OK;
        case ':':
            oie_error("option %s needs a value", argv[optind - 1]);
            return OIE_EXIT_USAGE;
        default:
            oie_error("unknown option '%s' (try: oie id --help)",
                      argv[optind - 1]);
            return OIE_EXIT_USAGE;
        }
    }

    if (optind == argc) {
        oie_error("id %s: nothing to do (try: oie id --help)", sub);
        return OIE_EXIT_USAGE;
    }

    secret = NULL;
    secret_len = 0;

    if (strcmp(sub, "make") == 0) {
        if (campaign == NULL || *campaign == '\0'
            || strlen(campaign) > OIE_CAMPAIGN_MAX_LEN)
        {
            oie_error("id make needs --campaign SLUG (1-%d bytes)",
                      OIE_CAMPAIGN_MAX_LEN);
            return OIE_EXIT_USAGE;
        }

    } else if (strcmp(sub, "sign") == 0 || strcmp(sub, "verify") == 0) {
        if (secret_path == NULL) {
            oie_error("id %s needs --secret-file FILE", sub);
            return OIE_EXIT_USAGE;
        }

        rc = oie_read_secret(secret_path, &secret, &secret_len);
        if (rc != OIE_EXIT_OK) {
            return rc;
        }
    }

    rc = OIE_EXIT_OK;

    for ( ; optind < argc; optind++) {
        arg = argv[optind];

        switch (sub[0]) {

        case 'm':
            if (oie_id_make((const unsigned char *) arg, strlen(arg),
                            (const unsigned char *) campaign,
                            strlen(campaign), (unsigned) attempt,
                            (size_t) length, out)
                != OIE_ID_OK)
            {
                oie_error("'%s': not an email (blank or over %d bytes)", arg,
                          OIE_EMAIL_MAX_LEN);
                rc = OIE_EXIT_DATA;
                continue;
            }

            printf("%.*s\n", (int) length, out);
            break;

        case 's':
            n = oie_id_sign(secret, secret_len, (const unsigned char *) arg,
                            strlen(arg), out);
            if (n < 0) {
                oie_error("'%s': not an id (6-8 of 0-9, A-Z, a-z)", arg);
                rc = OIE_EXIT_DATA;
                continue;
            }

            printf("%.*s\n", n, out);
            break;

        case 'v':
            n = oie_id_verify(secret, secret_len,
                              (const unsigned char *) arg, strlen(arg));
            if (n == OIE_ID_MALFORMED) {
                oie_error("'%s': not an id or signed id", arg);
                rc = OIE_EXIT_DATA;
                continue;
            }

            if (n < 0) {
                oie_error("'%s': %s", arg,
                          strchr(arg, '.') ? "wrong signature"
                                           : "no signature");
                rc = OIE_EXIT_DATA;
                continue;
            }

            printf("%.*s\n", n, arg);
            break;

        default:
            if (oie_email_sha256_hex((const unsigned char *) arg, strlen(arg),
                                     hex)
                != OIE_ID_OK)
            {
                oie_error("'%s': not an email (blank or over %d bytes)", arg,
                          OIE_EMAIL_MAX_LEN);
                rc = OIE_EXIT_DATA;
                continue;
            }

            printf("%s\n", hex);
        }
    }

    free(secret);

    return rc;
}
