/*
 * libFuzzer harness for oie_name_pid() of src/oie_proc.c: the pid in a
 * spool, journal or sink file name, "<UTC time>-<pid>-<seq>.spool",
 * ".spool.part", ".journal", ".ndjson.part", or after the ".claim-" of
 * "<name>.claim-<pid>".  The module and the CLI both judge from it whether
 * a file's writer or claimer is gone, so a name read wrong gives a live
 * process's file away, or keeps a dead one's for ever.
 *
 * Any bytes as a name (up to a NUL, as readdir gives them) are checked
 * against a reference parse written here from the header's words: the
 * decimal digits that follow the first '-' (or the marker), 0 when there
 * are none or they exceed Linux's pid ceiling (2^22).  Names made the way
 * the module makes them, from fuzzed fields, must give back their pid (and
 * their claimer's) exactly.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oie_proc.h"
#include "fuzz_util.h"


#define FUZZ_PID_MAX   4194304L
#define FUZZ_NAME_MAX  512


/* the digits at p: their value, or 0 if none or above the ceiling */
static long
fuzz_ref_digits(const char *p)
{
    size_t    n, i;
    uint64_t  v;

    for (n = 0; p[n] >= '0' && p[n] <= '9'; n++) {
        /* void */
    }

    v = 0;

    for (i = 0; i < n; i++) {
        if (v > (uint64_t) FUZZ_PID_MAX) {
            return 0;                   /* stays above: no need to go on */
        }

        v = v * 10 + (uint64_t) (p[i] - '0');
    }

    return v > (uint64_t) FUZZ_PID_MAX ? 0 : (long) v;
}


static long
fuzz_ref_pid(const char *name, const char *after)
{
    size_t  i, n, len;

    len = strlen(name);

    if (after == NULL) {
        for (i = 0; i < len; i++) {
            if (name[i] == '-') {
                return fuzz_ref_digits(name + i + 1);
            }
        }

        return 0;
    }

    n = strlen(after);

    for (i = 0; i + n <= len; i++) {
        if (memcmp(name + i, after, n) == 0) {
            return fuzz_ref_digits(name + i + n);
        }
    }

    return 0;
}


static const char  *fuzz_suffixes[] = {
    ".spool", ".spool.part", ".journal", ".ndjson.part", ".ndjson",
    ".spool.claim-", ".ndjson.claim-", ""
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          n, claimed;
    long         pid, claimer, want, want_claimer;
    char         name[FUZZ_NAME_MAX + 64], *claim;
    size_t       len;
    unsigned     mode, suffix;
    fuzz_in_t    in;

    static long  self;

    if (self == 0) {
        self = (long) getpid();
        FUZZ_CHECK(oie_pid_alive(self) == 1);
        FUZZ_CHECK(oie_pid_alive(0) == 0 && oie_pid_alive(-1) == 0);
        FUZZ_CHECK(oie_pid_alive(FUZZ_PID_MAX + 1) == 0);
    }

    in.p = data;
    in.left = size;
    mode = fuzz_byte(&in);

    if (mode & 1) {
        /* any bytes: the name as readdir() would give it */
        len = in.left < FUZZ_NAME_MAX ? in.left : FUZZ_NAME_MAX;
        memcpy(name, in.p, len);
        name[len] = '\0';

        FUZZ_CHECK(oie_name_pid(name, NULL) == fuzz_ref_pid(name, NULL));
        FUZZ_CHECK(oie_name_pid(name, ".claim-")
                   == fuzz_ref_pid(name, ".claim-"));

        /* as the CLI asks: from the marker on */
        claim = strstr(name, ".claim-");
        if (claim) {
            FUZZ_CHECK(oie_name_pid(claim, ".claim-")
                       == fuzz_ref_pid(name, ".claim-"));
        }

        /* an empty marker: the digits at the start */
        FUZZ_CHECK(oie_name_pid(name, "") == fuzz_ref_digits(name));

        return 0;
    }

    /* a name as the module writes it (ngx_http_oie_spool.c, sink_file.c) */
    pid = (long) (fuzz_u32(&in) % (FUZZ_PID_MAX + 2));
    if (mode & 2) {
        pid = (long) (fuzz_u32(&in) >> (fuzz_byte(&in) % 32));
    }
    claimer = (long) (fuzz_u32(&in) % (FUZZ_PID_MAX + 2));
    suffix = fuzz_byte(&in) % (sizeof(fuzz_suffixes) / sizeof(char *));

    n = snprintf(name, sizeof(name), "%4u%02u%02uT%02u%02u%02uZ-%ld-%06u%s",
                 fuzz_byte(&in) * 40u % 10000, fuzz_byte(&in) % 13,
                 fuzz_byte(&in) % 32, fuzz_byte(&in) % 24,
                 fuzz_byte(&in) % 60, fuzz_byte(&in) % 61, pid,
                 fuzz_u32(&in) % 1000000000u, fuzz_suffixes[suffix]);
    FUZZ_CHECK(n > 0 && (size_t) n < sizeof(name));

    claimed = strstr(fuzz_suffixes[suffix], ".claim-") != NULL;

    if (claimed) {
        snprintf(name + n, sizeof(name) - n, "%ld", claimer);
    }

    want = (pid >= 1 && pid <= FUZZ_PID_MAX) ? pid : 0;
    want_claimer = (claimer >= 1 && claimer <= FUZZ_PID_MAX) ? claimer : 0;

    FUZZ_CHECK(oie_name_pid(name, NULL) == want);

    if (claimed) {
        claim = strstr(name, ".claim-");
        FUZZ_CHECK(claim != NULL);
        FUZZ_CHECK(oie_name_pid(claim, ".claim-") == want_claimer);
        FUZZ_CHECK(oie_name_pid(name, ".claim-") == want_claimer);

    } else {
        FUZZ_CHECK(oie_name_pid(name, ".claim-") == 0);
    }

    /* whatever follows (a name changed by hand) leaves the pid alone */
    len = strlen(name);
    while (in.left && len < FUZZ_NAME_MAX) {
        name[len++] = (char) fuzz_byte(&in);
    }
    name[len] = '\0';

    FUZZ_CHECK(oie_name_pid(name, NULL) == fuzz_ref_pid(name, NULL));
    FUZZ_CHECK(oie_name_pid(name, NULL) == want);

    return 0;
}
