/* A minimal TAP producer for the C unit tests (read by prove). */

#ifndef _OIE_TAP_H_INCLUDED_
#define _OIE_TAP_H_INCLUDED_

#include <stdio.h>

static int  tap_run, tap_failed, tap_planned;

static void
plan(int n)
{
    tap_planned = n;
    printf("1..%d\n", n);
}

#define ok(cond, ...)                                                        \
    tap_ok((cond) != 0, __FILE__, __LINE__, __VA_ARGS__)

static int
tap_ok(int pass, const char *file, int line, const char *name, ...)
{
    tap_run++;
    printf("%sok %d - %s\n", pass ? "" : "not ", tap_run, name);
    if (!pass) {
        tap_failed++;
        printf("#   failed at %s line %d\n", file, line);
    }
    fflush(stdout);
    return pass;
}

static int
done_testing(void)
{
    if (tap_run != tap_planned) {
        printf("# planned %d tests but ran %d\n", tap_planned, tap_run);
        return 1;
    }
    return tap_failed ? 1 : 0;
}

#endif /* _OIE_TAP_H_INCLUDED_ */
