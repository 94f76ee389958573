/*
 * The spool directory as oie spool ls and replay see it: which files there
 * are, in which state, and what a line holds.
 */

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "oie_proc.h"
#include "oie_spool.h"





static int oie_spool_entry_cmp(const void *a, const void *b);
static void oie_spool_add(oie_spool_list_t *list, const char *dir,
    const char *name, size_t base_len, int state, long pid);


/* ".claim-<digits>" at the end of name: the position of the dot, or NULL */
static const char *
oie_spool_claim_suffix(const char *name)
{
    const char  *p, *q;

    p = strstr(name, ".claim-");
    if (p == NULL) {
        return NULL;
    }

    q = p + sizeof(".claim-") - 1;

    if (*q == '\0') {
        return NULL;
    }

    for ( /* void */ ; *q; q++) {
        if (*q < '0' || *q > '9') {
            return NULL;
        }
    }

    return p;
}


static int
oie_spool_ends(const char *name, size_t len, const char *suffix)
{
    size_t  n;

    n = strlen(suffix);

    return len > n && memcmp(name + len - n, suffix, n) == 0;
}


static void
oie_spool_add(oie_spool_list_t *list, const char *dir, const char *name,
    size_t base_len, int state, long pid)
{
    oie_spool_entry_t  *e;

    if (list->n == list->nalloc) {
        list->nalloc = list->nalloc ? list->nalloc * 2 : 16;
        list->e = oie_xrealloc(list->e,
                               list->nalloc * sizeof(oie_spool_entry_t));
    }

    e = &list->e[list->n++];

    e->name = oie_xstrdup(name);
    e->path = oie_xasprintf("%s/%s", dir, name);
    e->base = oie_xasprintf("%.*s", (int) base_len, name);
    e->state = state;
    e->pid = pid;
    e->alive = (state == OIE_SPOOL_READY) ? 0 : oie_pid_alive(pid);
    e->table = -1;
}


static int
oie_spool_entry_cmp(const void *a, const void *b)
{
    int                       rc;
    const oie_spool_entry_t  *x = a, *y = b;

    rc = strcmp(x->base, y->base);

    return rc ? rc : strcmp(x->name, y->name);
}


int
oie_spool_scan(const char *dir, int journals, oie_spool_list_t *list)
{
    DIR            *d;
    size_t          len;
    const char     *claim;
    struct dirent  *de;

    memset(list, 0, sizeof(oie_spool_list_t));

    d = opendir(dir);
    if (d == NULL) {
        oie_error("cannot read the spool directory %s: %s", dir,
                  strerror(errno));
        return OIE_EXIT_IO;
    }

    while ((de = readdir(d)) != NULL) {
        len = strlen(de->d_name);

        if (oie_spool_ends(de->d_name, len, ".spool")) {
            oie_spool_add(list, dir, de->d_name, len, OIE_SPOOL_READY,
                          oie_name_pid(de->d_name, NULL));

        } else if (oie_spool_ends(de->d_name, len, ".spool.part")) {
            oie_spool_add(list, dir, de->d_name, len - 5, OIE_SPOOL_WRITING,
                          oie_name_pid(de->d_name, NULL));

        } else if (journals && oie_spool_ends(de->d_name, len, ".journal")) {
            oie_spool_add(list, dir, de->d_name, len - 8, OIE_SPOOL_JOURNAL,
                          oie_name_pid(de->d_name, NULL));

        } else {
            claim = oie_spool_claim_suffix(de->d_name);

            if (claim && oie_spool_ends(de->d_name, claim - de->d_name,
                                        ".spool"))
            {
                oie_spool_add(list, dir, de->d_name, claim - de->d_name,
                              OIE_SPOOL_CLAIMED,
                              oie_name_pid(claim, ".claim-"));
            }
        }
    }

    closedir(d);

    if (list->n) {
        qsort(list->e, list->n, sizeof(oie_spool_entry_t),
              oie_spool_entry_cmp);
    }

    return OIE_EXIT_OK;
}


int
oie_spool_scan_dead(const char *dir, oie_spool_list_t *list)
{
    DIR                *d;
    char               *path;
    size_t              len, base, i;
    const char         *claim;
    struct dirent      *de;
    oie_spool_entry_t  *e;

    memset(list, 0, sizeof(oie_spool_list_t));

    path = oie_xasprintf("%s/dead-letter", dir);

    d = opendir(path);
    if (d == NULL) {
        if (errno == ENOENT) {
            free(path);
            return OIE_EXIT_OK;
        }

        oie_error("cannot read %s: %s", path, strerror(errno));
        free(path);
        return OIE_EXIT_IO;
    }

    while ((de = readdir(d)) != NULL) {
        len = strlen(de->d_name);
        claim = oie_spool_claim_suffix(de->d_name);

        if (claim) {
            base = claim - de->d_name;

            if (!oie_spool_ends(de->d_name, base, ".ndjson")) {
                continue;
            }

            oie_spool_add(list, path, de->d_name, base, OIE_SPOOL_CLAIMED,
                          oie_name_pid(claim, ".claim-"));

        } else if (oie_spool_ends(de->d_name, len, ".ndjson")) {
            oie_spool_add(list, path, de->d_name, len, OIE_SPOOL_READY, 0);

        } else {
            continue;
        }

        e = &list->e[list->n - 1];
        e->table = oie_spool_table(e->base,
                                   strlen(e->base) - sizeof(".ndjson") + 1);
    }

    closedir(d);
    free(path);

    if (list->n) {
        qsort(list->e, list->n, sizeof(oie_spool_entry_t),
              oie_spool_entry_cmp);
    }

    /* ready entries carry no writer */
    for (i = 0; i < list->n; i++) {
        if (list->e[i].state == OIE_SPOOL_READY) {
            list->e[i].pid = 0;
        }
    }

    return OIE_EXIT_OK;
}


void
oie_spool_list_free(oie_spool_list_t *list)
{
    size_t  i;

    for (i = 0; i < list->n; i++) {
        free(list->e[i].name);
        free(list->e[i].path);
        free(list->e[i].base);
    }

    free(list->e);
    memset(list, 0, sizeof(oie_spool_list_t));
}


void
oie_spool_state(const oie_spool_entry_t *e, char *buf, size_t size)
{
    switch (e->state) {

    case OIE_SPOOL_WRITING:
        snprintf(buf, size, "writing (pid %ld%s)", e->pid,
                 e->alive ? "" : ", gone");
        break;

    case OIE_SPOOL_CLAIMED:
        snprintf(buf, size, "claimed (pid %ld%s)", e->pid,
                 e->alive ? "" : ", gone");
        break;

    case OIE_SPOOL_JOURNAL:
        snprintf(buf, size, "journal (pid %ld%s)", e->pid,
                 e->alive ? "" : ", gone");
        break;

    default:
        snprintf(buf, size, "ready");
    }
}
