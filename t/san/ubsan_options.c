/*
 * Preloaded into nginx for make test SAN=1 (scripts/run-tests.sh builds
 * it): gives UBSan its options.  UBSan reads UBSAN_OPTIONS lazily, at its
 * first report, from /proc/self/environ, which nginx has overwritten with
 * its process title by then; so its reports would neither stop the worker
 * nor say where they came from.  This library keeps the variable when the
 * process starts and hands it to UBSan through the hook UBSan looks for.
 */

#include <stdio.h>
#include <stdlib.h>


static char  oie_ubsan_options[1024];


__attribute__((constructor)) static void
oie_ubsan_options_keep(void)
{
    const char  *o;

    o = getenv("UBSAN_OPTIONS");

    if (o != NULL) {
        snprintf(oie_ubsan_options, sizeof(oie_ubsan_options), "%s", o);
    }
}


const char *
__ubsan_default_options(void)
{
    return oie_ubsan_options;
}
