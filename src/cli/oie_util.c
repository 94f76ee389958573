/*
 * The oie tool's plumbing: messages, memory, files, text, time, progress.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "oie_cli.h"
#include "oie_id.h"


#define OIE_OUT_BUFFER  (1024 * 1024)


int  oie_quiet;


static void oie_vmsg(const char *prefix, const char *fmt, va_list args);


static void
oie_vmsg(const char *prefix, const char *fmt, va_list args)
{
    fprintf(stderr, "oie: %s", prefix);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
}


void
oie_error(const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    oie_vmsg("", fmt, args);
    va_end(args);
}


void
oie_warn(const char *fmt, ...)
{
    va_list  args;

    if (oie_quiet) {
        return;
    }

    va_start(args, fmt);
    oie_vmsg("warning: ", fmt, args);
    va_end(args);
}


void
oie_info(const char *fmt, ...)
{
    va_list  args;

    if (oie_quiet) {
        return;
    }

    va_start(args, fmt);
    oie_vmsg("", fmt, args);
    va_end(args);
}


void *
oie_xmalloc(size_t size)
{
    void  *p;

    p = malloc(size ? size : 1);
    if (p == NULL) {
        oie_error("out of memory (%zu bytes)", size);
        exit(OIE_EXIT_INTERNAL);
    }

    return p;
}


void *
oie_xrealloc(void *p, size_t size)
{
    p = realloc(p, size ? size : 1);
    if (p == NULL) {
        oie_error("out of memory (%zu bytes)", size);
        exit(OIE_EXIT_INTERNAL);
    }

    return p;
}


char *
oie_xstrdup(const char *s)
{
    size_t  len;
    char   *p;

    len = strlen(s);
    p = oie_xmalloc(len + 1);
    memcpy(p, s, len + 1);

    return p;
}


char *
oie_xasprintf(const char *fmt, ...)
{
    int       n;
    char     *p;
    va_list   args;

    va_start(args, fmt);
    n = vasprintf(&p, fmt, args);
    va_end(args);

    if (n < 0) {
        oie_error("out of memory");
        exit(OIE_EXIT_INTERNAL);
    }

    return p;
}


/* Reads a whole file ("-" is stdin) into memory, one spare byte past it. */

int
oie_file_read(oie_file_t *file, const char *name)
{
    int          fd;
    size_t       size;
    ssize_t      n;
    struct stat  st;

    file->name = name;
    file->len = 0;
    file->data = NULL;

    if (strcmp(name, "-") == 0) {
        fd = STDIN_FILENO;

    } else {
        fd = open(name, O_RDONLY);
        if (fd == -1) {
            oie_error("cannot open %s: %s", name, strerror(errno));
            return OIE_EXIT_IO;
        }
    }

    size = 64 * 1024;

    if (fstat(fd, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            oie_error("%s is a directory, not a file", name);
            if (fd != STDIN_FILENO) {
                close(fd);
            }
            return OIE_EXIT_IO;
        }

        if (S_ISREG(st.st_mode) && st.st_size > 0) {
            size = (size_t) st.st_size + 1;
        }
    }

    file->data = oie_xmalloc(size + 1);

    for ( ;; ) {
        if (file->len == size) {
            size *= 2;
            file->data = oie_xrealloc(file->data, size + 1);
        }

        n = read(fd, file->data + file->len, size - file->len);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            oie_error("cannot read %s: %s", name, strerror(errno));
            if (fd != STDIN_FILENO) {
                close(fd);
            }
            oie_file_free(file);
            return OIE_EXIT_IO;
        }

        if (n == 0) {
            break;
        }

        file->len += (size_t) n;
    }

    if (fd != STDIN_FILENO) {
        close(fd);
    }

    file->data[file->len] = '\0';

    return OIE_EXIT_OK;
}


void
oie_file_free(oie_file_t *file)
{
    free(file->data);
    file->data = NULL;
    file->len = 0;
}


int
oie_read_secret(const char *path, unsigned char **secret, size_t *len)
{
    int         rc;
    oie_file_t  file;

    rc = oie_file_read(&file, path);
    if (rc != OIE_EXIT_OK) {
        return rc;
    }

    file.len = oie_id_secret_trim(file.data, file.len);

    if (file.len < OIE_ID_SECRET_MIN_LEN) {
        oie_error("%s: the secret is %zu bytes; at least %d are needed "
                  "(for example: openssl rand -hex 32 > %s)",
                  path, file.len, OIE_ID_SECRET_MIN_LEN, path);
        oie_file_free(&file);
        return OIE_EXIT_DATA;
    }

    *secret = file.data;
    *len = file.len;

    return OIE_EXIT_OK;
}


int
oie_mkdir_p(const char *dir)
{
    char         c, *p, *s;
    struct stat  st;

    if (*dir == '\0') {
        oie_error("an empty directory name");
        return OIE_EXIT_USAGE;
    }

    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            oie_error("%s exists and is not a directory", dir);
            return OIE_EXIT_IO;
        }

        return OIE_EXIT_OK;
    }

    s = oie_xstrdup(dir);

    for (p = s + 1; ; p++) {
        if (*p != '/' && *p != '\0') {
            continue;
        }

        c = *p;
        *p = '\0';

        if (mkdir(s, 0755) == -1 && errno != EEXIST) {
            oie_error("cannot create directory %s: %s", s, strerror(errno));
            free(s);
            return OIE_EXIT_IO;
        }

        if (c == '\0') {
            break;
        }

        *p = c;
    }

    free(s);

    return OIE_EXIT_OK;
}


int
oie_out_open(oie_out_t *out, const char *path)
{
    out->path = oie_xstrdup(path);
    out->tmp = oie_xasprintf("%s.tmp.%ld", path, (long) getpid());

    out->fp = fopen(out->tmp, "w");
    if (out->fp == NULL) {
        oie_error("cannot write %s: %s", out->tmp, strerror(errno));
        free(out->path);
        free(out->tmp);
        out->path = NULL;
        out->tmp = NULL;
        return OIE_EXIT_IO;
    }

    /* glibc ignores the size unless it is given the buffer too */

    out->buf = oie_xmalloc(OIE_OUT_BUFFER);
    setvbuf(out->fp, out->buf, _IOFBF, OIE_OUT_BUFFER);

    return OIE_EXIT_OK;
}


int
oie_out_commit(oie_out_t *out)
{
    int  failed;

    failed = (fflush(out->fp) != 0 || ferror(out->fp));
    failed |= (fclose(out->fp) != 0);
    out->fp = NULL;

    if (failed) {
        oie_error("cannot write %s: %s", out->path, strerror(errno));
        unlink(out->tmp);

    } else if (rename(out->tmp, out->path) == -1) {
        oie_error("cannot rename %s to %s: %s", out->tmp, out->path,
                  strerror(errno));
        unlink(out->tmp);
        failed = 1;
    }

    free(out->path);
    free(out->tmp);
    free(out->buf);
    out->path = NULL;
    out->tmp = NULL;
    out->buf = NULL;

    return failed ? OIE_EXIT_IO : OIE_EXIT_OK;
}


void
oie_out_abort(oie_out_t *out)
{
    if (out->fp != NULL) {
        fclose(out->fp);
        out->fp = NULL;
        unlink(out->tmp);
    }

    free(out->path);
    free(out->tmp);
    free(out->buf);
    out->path = NULL;
    out->tmp = NULL;
    out->buf = NULL;
}


/* The input is valid UTF-8 already; only JSON's own escapes are needed. */

void
oie_json_string(FILE *fp, const char *s, size_t len)
{
    size_t         i, run;
    unsigned char  c;

    putc_unlocked('"', fp);

    run = 0;

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }

        fwrite_unlocked(s + run, 1, i - run, fp);
        run = i + 1;

        switch (c) {
        case '"':
            fputs_unlocked("\\\"", fp);
            break;
        case '\\':
            fputs_unlocked("\\\\", fp);
            break;
        case '\n':
            fputs_unlocked("\\n", fp);
            break;
        case '\r':
            fputs_unlocked("\\r", fp);
            break;
        case '\t':
            fputs_unlocked("\\t", fp);
            break;
        default:
            fprintf(fp, "\\u%04x", c);
        }
    }

    fwrite_unlocked(s + run, 1, len - run, fp);
    putc_unlocked('"', fp);
}


/* RFC 4180: quote when the value holds a comma, a quote or a line break. */

void
oie_csv_write(FILE *fp, const char *s, size_t len)
{
    size_t  i, run;

    if (strcspn(s, ",\"\r\n") >= len
        && (len == 0 || (s[0] != ' ' && s[len - 1] != ' ')))
    {
        fwrite_unlocked(s, 1, len, fp);
        return;
    }

    putc_unlocked('"', fp);

    run = 0;

    for (i = 0; i < len; i++) {
        if (s[i] == '"') {
            fwrite_unlocked(s + run, 1, i + 1 - run, fp);
            putc_unlocked('"', fp);
            run = i + 1;
        }
    }

    fwrite_unlocked(s + run, 1, len - run, fp);
    putc_unlocked('"', fp);
}


size_t
oie_utf8_columns(const char *s, size_t len)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        if (((unsigned char) s[i] & 0xc0) != 0x80) {
            n++;
        }
    }

    return n;
}


int
oie_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *v)
{
    uint64_t  n;

    if (*s == '\0') {
        return -1;
    }

    n = 0;

    for ( ; *s; s++) {
        if (*s < '0' || *s > '9' || n > (UINT64_MAX - 9) / 10) {
            return -1;
        }

        n = n * 10 + (uint64_t) (*s - '0');
    }

    if (n < min || n > max) {
        return -1;
    }

    *v = n;

    return 0;
}


/* "90d", "12h", "30m", "45s" or plain seconds. */

int
oie_parse_duration(const char *s, uint64_t *seconds)
{
    size_t    len;
    uint64_t  n, unit;
    char      num[32];

    len = strlen(s);

    if (len == 0 || len >= sizeof(num)) {
        return -1;
    }

    unit = 1;

    switch (s[len - 1]) {
    case 'd':
        unit = 86400;
        len--;
        break;
    case 'h':
        unit = 3600;
        len--;
        break;
    case 'm':
        unit = 60;
        len--;
        break;
    case 's':
        len--;
        break;
    }

    memcpy(num, s, len);
    num[len] = '\0';

    /* Redis keeps expiry in milliseconds in a signed 64-bit integer */

    if (oie_parse_uint(num, 0, 100ULL * 365 * 86400, &n) != 0
        || n * unit > 100ULL * 365 * 86400)
    {
        return -1;
    }

    *seconds = n * unit;

    return 0;
}


double
oie_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}


/* SOURCE_DATE_EPOCH makes the output reproducible, as in Debian builds. */

int64_t
oie_epoch(void)
{
    uint64_t     v;
    const char  *s;

    s = getenv("SOURCE_DATE_EPOCH");

    if (s != NULL && oie_parse_uint(s, 0, 253402300799ULL, &v) == 0) {
        return (int64_t) v;
    }

    return (int64_t) time(NULL);
}


void
oie_rfc3339(int64_t t, char *buf, size_t size)
{
    time_t     tt;
    struct tm  tm;

    tt = (time_t) t;
    gmtime_r(&tt, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}


void
oie_progress_init(oie_progress_t *p, const char *what, int flag)
{
    p->what = what;
    p->start = oie_now();
    p->last = p->start;
    p->tty = isatty(STDERR_FILENO);
    p->shown = 0;
    p->next = p->tty ? 16384 : OIE_PROGRESS_STEP;

    /* flag: 1 forced on, 0 automatic (on a terminal), -1 off */

    p->enabled = flag > 0 || (flag == 0 && p->tty && !oie_quiet);
}


void
oie_progress(oie_progress_t *p, size_t done, const char *unit)
{
    double  now;

    if (!p->enabled || done < p->next) {
        return;
    }

    now = oie_now();

    if (p->tty) {
        /* look at the clock every 16384 items, draw twice a second */

        p->next = done + 16384;

        if (now - p->last < 0.5) {
            return;
        }

        fprintf(stderr, "\roie: %s: %zu %s (%.1f s)\033[K", p->what, done,
                unit, now - p->start);

    } else {
        p->next = (done / OIE_PROGRESS_STEP + 1) * OIE_PROGRESS_STEP;

        fprintf(stderr, "oie: %s: %zu %s (%.1f s)\n", p->what, done, unit,
                now - p->start);
    }

    p->last = now;
    p->shown = 1;
}


void
oie_progress_done(oie_progress_t *p)
{
    if (p->enabled && p->shown && p->tty) {
        fputs("\r\033[K", stderr);
    }
}
