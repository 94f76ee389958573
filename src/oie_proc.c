/*
 * Which process wrote or holds a file, and whether it is still there.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "oie_proc.h"


#define OIE_PID_MAX  4194304L       /* Linux's pid_max ceiling (2^22) */


long
oie_name_pid(const char *name, const char *after)
{
    long         pid;
    const char  *p;

    if (after != NULL) {
        p = strstr(name, after);
        if (p == NULL) {
            return 0;
        }
        p += strlen(after);

    } else {
        p = strchr(name, '-');
        if (p == NULL) {
            return 0;
        }
        p++;
    }

    pid = 0;

    for ( /* void */ ; *p >= '0' && *p <= '9'; p++) {
        pid = pid * 10 + (*p - '0');

        if (pid > OIE_PID_MAX) {
            return 0;
        }
    }

    return pid;
}


int
oie_pid_alive(long pid)
{
    int      fd;
    char     buf[256], path[64], *p, *q;
    ssize_t  n;

    if (pid <= 0 || pid > OIE_PID_MAX
        || (kill((pid_t) pid, 0) == -1 && errno == ESRCH))
    {
        return 0;
    }

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);

    fd = open(path, O_RDONLY);
    if (fd == -1) {
        return 1;
    }

    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);

    if (n <= 0) {
        return 1;
    }

    buf[n] = '\0';

    /* "pid (comm) S ...": comm may hold spaces and parentheses */
    p = NULL;

    for (q = buf; q < buf + n; q++) {
        if (*q == ')') {
            p = q;
        }
    }

    return !(p != NULL && p + 2 < buf + n && p[2] == 'Z');
}
