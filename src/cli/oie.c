/*
 * oie: turns a lead list into tracked campaign links and loads the leads
 * into Redis and BigQuery.  Entry point and command dispatch.
 */

#include <stdlib.h>
#include <string.h>

#include "oie_cli.h"


static const char  oie_usage[] =
    "usage: oie [--version] [--help] COMMAND [ARGS]\n"
    "\n"
    "Outbound Intent Engine command-line tool " OIE_VERSION ".\n"
    "\n"
    "commands:\n"
    "  campaign create   lead CSV -> tracking links (CSV for email tools)\n"
    "                    and an identities file (NDJSON)\n"
    "  leads push        load identities into Redis (oie:lead:<id> hashes)\n"
    "  leads get         show one lead as stored in Redis\n"
    "  leads export-bq   NDJSON rows for BigQuery's identity_map and\n"
    "                    lead_imports tables (emails only as SHA-256)\n"
    "  id                compute, sign or verify a single id\n"
    "  spool ls          what the module's BigQuery spool holds\n"
    "  spool replay      send spooled rows (or dead letters) to BigQuery\n"
    "\n"
    "`oie COMMAND --help` describes each command.\n"
    "\n"
    "exit codes:\n"
    "  0  success\n"
    "  1  internal error (out of memory)\n"
    "  2  usage: unknown command, bad option or argument\n"
    "  3  bad input data: malformed CSV or NDJSON, invalid or duplicate\n"
    "     rows (each reported as FILE:LINE:COLUMN)\n"
    "  4  a file cannot be read or written\n"
    "  5  Redis unreachable or answering with errors\n"
    "  6  leads get: no such lead\n"
    "  7  leads push: an id is held by another lead (see --force)\n"
    "  8  spool replay: BigQuery or its token endpoint kept failing (the\n"
    "     rows not sent are put back)\n"
    "  130 spool replay: interrupted (the rows not sent are put back)\n";


int
main(int argc, char **argv)
{
    const char  *cmd;

    if (argc < 2) {
        fputs(oie_usage, stderr);
        return OIE_EXIT_USAGE;
    }

    cmd = argv[1];

    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0
        || strcmp(cmd, "version") == 0)
    {
        printf("oie %s\n", OIE_VERSION);
        return OIE_EXIT_OK;
    }

    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0
        || strcmp(cmd, "help") == 0)
    {
        fputs(oie_usage, stdout);
        return OIE_EXIT_OK;
    }

    if (strcmp(cmd, "campaign") == 0) {
        return oie_cmd_campaign(argc - 1, argv + 1);
    }

    if (strcmp(cmd, "leads") == 0) {
        return oie_cmd_leads(argc - 1, argv + 1);
    }

    if (strcmp(cmd, "id") == 0) {
        return oie_cmd_id(argc - 1, argv + 1);
    }

    if (strcmp(cmd, "spool") == 0) {
        return oie_cmd_spool(argc - 1, argv + 1);
    }

    oie_error("unknown command '%s' (try: oie --help)", cmd);

    return OIE_EXIT_USAGE;
}
