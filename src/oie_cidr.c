/*
 * The scanner networks trie: a binary trie over the address bits with
 * path compression (a node holds the whole prefix it stands for, so a
 * lookup visits only the nodes where listed networks branch or end).
 * IPv4 and IPv6 have a root each.  See oie_cidr.h for the file format.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oie_cidr.h"


#define OIE_CIDR_ROOT4          0
#define OIE_CIDR_ROOT6          1
#define OIE_CIDR_TEXT_MAX       64      /* longest address text + prefix */
#define OIE_CIDR_SHOW_MAX       60      /* bytes of a field in a message */


typedef struct {
    uint64_t            key[2];         /* the bits, left-aligned */
    uint32_t            child[2];       /* node index; 0: none */
    uint32_t            entry;          /* entry index + 1; 0: none */
    uint32_t            prefix;         /* bits of key that count */
} oie_cidr_node_t;


typedef struct {
    char               *label;
    char               *reason[2];      /* certain, probable */
} oie_cidr_label_t;


struct oie_cidr_s {
    oie_cidr_node_t    *nodes;
    uint32_t            nnodes;
    uint32_t            nodes_cap;

    oie_cidr_entry_t   *entries;
    uint32_t            nentries;
    uint32_t            entries_cap;

    oie_cidr_label_t   *labels;
    uint32_t            nlabels;
    uint32_t            labels_cap;

    char              **files;
    uint32_t            nfiles;
    uint32_t            files_cap;
};


static int oie_cidr_grow(void **p, uint32_t *cap, uint32_t n, size_t size);
static void oie_cidr_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static const char *oie_cidr_show(const char *s, size_t len, char *buf,
    size_t size);
static int oie_cidr_parse_net(const char *s, size_t len, unsigned *family,
    unsigned char addr[16], unsigned *prefix, char *err, size_t errlen);
static int oie_ip_parse_raw(const char *s, size_t len,
    unsigned char addr[16]);
static void oie_cidr_key(unsigned family, const unsigned char *addr,
    uint64_t key[2]);
static void oie_cidr_mask(uint64_t key[2], unsigned prefix);
static unsigned oie_cidr_common(const uint64_t a[2], const uint64_t b[2]);
static unsigned oie_cidr_bit(const uint64_t key[2], unsigned i);
static int oie_cidr_node(oie_cidr_t *t, uint32_t root,
    const uint64_t key[2], unsigned prefix, uint32_t entry,
    uint32_t *index);
static const char *oie_cidr_intern_file(oie_cidr_t *t, const char *file);
static int oie_cidr_intern_label(oie_cidr_t *t, const char *label,
    unsigned confidence, const char **lp, const char **rp);
static int oie_cidr_label_ok(const char *s, size_t len);
static const oie_cidr_entry_t *oie_cidr_find(const oie_cidr_t *t,
    uint32_t root, const uint64_t a[2], unsigned bits);


oie_cidr_t *
oie_cidr_create(void)
{
    oie_cidr_t  *t;

    t = calloc(1, sizeof(oie_cidr_t));
    if (t == NULL) {
        return NULL;
    }

    t->nodes_cap = 64;
    t->nodes = calloc(t->nodes_cap, sizeof(oie_cidr_node_t));
    if (t->nodes == NULL) {
        free(t);
        return NULL;
    }

    /* the two roots: 0.0.0.0/0 and ::/0, never a network themselves */
    t->nnodes = 2;

    return t;
}


void
oie_cidr_free(oie_cidr_t *t)
{
    uint32_t  i;

    if (t == NULL) {
        return;
    }

    for (i = 0; i < t->nlabels; i++) {
        free(t->labels[i].label);
        free(t->labels[i].reason[0]);
        free(t->labels[i].reason[1]);
    }

    for (i = 0; i < t->nfiles; i++) {
        free(t->files[i]);
    }

    free(t->labels);
    free(t->files);
    free(t->entries);
    free(t->nodes);
    free(t);
}


size_t
oie_cidr_count(const oie_cidr_t *t)
{
    return t ? t->nentries : 0;
}


int
oie_cidr_load_file(oie_cidr_t *t, const char *path, char *err,
    size_t errlen)
{
    int          fd, rc;
    char        *buf;
    size_t       size, got;
    ssize_t      n;
    struct stat  st;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        oie_cidr_err(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }

    if (fstat(fd, &st) == -1) {
        oie_cidr_err(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }

    if (!S_ISREG(st.st_mode)) {
        oie_cidr_err(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -1;
    }

    if (st.st_size > OIE_CIDR_FILE_MAX) {
        oie_cidr_err(err, errlen, "%s: too large (%lld bytes, at most %d)",
                     path, (long long) st.st_size, OIE_CIDR_FILE_MAX);
        close(fd);
        return -1;
    }

    size = (size_t) st.st_size;

    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        oie_cidr_err(err, errlen, "%s: out of memory", path);
        close(fd);
        return -1;
    }

    /* a file that shrinks meanwhile is read as far as it goes */
    for (got = 0; got < size; got += (size_t) n) {
        n = read(fd, buf + got, size - got);

        if (n == -1 && errno == EINTR) {
            n = 0;
            continue;
        }

        if (n == -1) {
            oie_cidr_err(err, errlen, "%s: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }

        if (n == 0) {
            break;
        }
    }

    close(fd);

    rc = oie_cidr_load_text(t, path, buf, got, err, errlen);

    free(buf);

    return rc;
}


int
oie_cidr_load_text(oie_cidr_t *t, const char *name, const char *text,
    size_t len, char *err, size_t errlen)
{
    char         msg[OIE_CIDR_ERR_MAX], show[OIE_CIDR_SHOW_MAX * 4 + 8];
    char         label[OIE_CIDR_LABEL_MAX + 1];
    size_t       nf, flen[4];
    unsigned     line, confidence;
    const char  *p, *end, *eol, *q, *f[4];

    if (t == NULL || name == NULL || (text == NULL && len)) {
        oie_cidr_err(err, errlen, "oie_cidr_load_text: bad arguments");
        return -1;
    }

    p = text;
    end = text + len;

    /* an editor's UTF-8 byte order mark is not part of the first line */
    if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
        p += 3;
    }

    for (line = 1; p < end; line++, p = eol + 1) {

        eol = memchr(p, '\n', end - p);
        if (eol == NULL) {
            eol = end;
        }

        if (memchr(p, '\0', eol - p) != NULL) {
            oie_cidr_err(err, errlen, "%s:%u: a NUL byte in the line",
                         name, line);
            return -1;
        }

        q = memchr(p, '#', eol - p);
        if (q == NULL) {
            q = eol;
        }

        if (q == eol && q > p && q[-1] == '\r') {
            q--;
        }

        /* fields */
        nf = 0;

        while (p < q) {
            while (p < q && (*p == ' ' || *p == '\t')) {
                p++;
            }

            if (p == q) {
                break;
            }

            if (nf == 4) {
                break;
            }

            f[nf] = p;

            while (p < q && *p != ' ' && *p != '\t') {
                p++;
            }

            flen[nf] = p - f[nf];
            nf++;
        }

        if (nf == 0) {
            continue;
        }

        if (nf != 3) {
            oie_cidr_err(err, errlen,
                         "%s:%u: expected \"<network> <certain|probable> "
                         "<label>\", found %s field%s", name, line,
                         nf == 4 ? "more than 3" : nf == 1 ? "1" : "2",
                         nf == 1 ? "" : "s");
            return -1;
        }

        if (flen[1] == 7 && memcmp(f[1], "certain", 7) == 0) {
            confidence = OIE_CIDR_CERTAIN;

        } else if (flen[1] == 8 && memcmp(f[1], "probable", 8) == 0) {
            confidence = OIE_CIDR_PROBABLE;

        } else {
            oie_cidr_err(err, errlen,
                         "%s:%u: unknown confidence \"%s\" (expected "
                         "\"certain\" or \"probable\")", name, line,
                         oie_cidr_show(f[1], flen[1], show, sizeof(show)));
            return -1;
        }

        if (!oie_cidr_label_ok(f[2], flen[2])) {
            oie_cidr_err(err, errlen,
                         "%s:%u: bad label \"%s\" (1 to %d characters of "
                         "a-z A-Z 0-9 . _ -)", name, line,
                         oie_cidr_show(f[2], flen[2], show, sizeof(show)),
                         OIE_CIDR_LABEL_MAX);
            return -1;
        }

        memcpy(label, f[2], flen[2]);
        label[flen[2]] = '\0';

        if (oie_cidr_add(t, f[0], flen[0], confidence, label, name, line,
                         msg, sizeof(msg))
            != 0)
        {
            oie_cidr_err(err, errlen, "%s:%u: %s", name, line, msg);
            return -1;
        }

        if (eol == end) {
            break;
        }
    }

    return 0;
}


int
oie_cidr_add(oie_cidr_t *t, const char *network, size_t len,
    unsigned confidence, const char *label, const char *file, unsigned line,
    char *err, size_t errlen)
{
    char               show[OIE_CIDR_SHOW_MAX * 4 + 8];
    char               a[INET6_ADDRSTRLEN];
    uint64_t           key[2], masked[2];
    uint32_t           index;
    unsigned           family, prefix, minimum, i;
    const char        *lp, *rp, *fp;
    unsigned char      addr[16], m[16];
    oie_cidr_entry_t  *e, *old;

    if (t == NULL || network == NULL || label == NULL) {
        oie_cidr_err(err, errlen, "oie_cidr_add: bad arguments");
        return -1;
    }

    if (confidence != OIE_CIDR_CERTAIN && confidence != OIE_CIDR_PROBABLE) {
        oie_cidr_err(err, errlen, "unknown confidence %u", confidence);
        return -1;
    }

    if (!oie_cidr_label_ok(label, strlen(label))) {
        oie_cidr_err(err, errlen,
                     "bad label \"%s\" (1 to %d characters of "
                     "a-z A-Z 0-9 . _ -)",
                     oie_cidr_show(label, strlen(label), show, sizeof(show)),
                     OIE_CIDR_LABEL_MAX);
        return -1;
    }

    if (oie_cidr_parse_net(network, len, &family, addr, &prefix, err, errlen)
        != 0)
    {
        return -1;
    }

    minimum = family == 4 ? OIE_CIDR_MIN_PREFIX4 : OIE_CIDR_MIN_PREFIX6;

    if (prefix < minimum) {
        oie_cidr_err(err, errlen,
                     "\"%s\" is too wide: IPv%u networks need a prefix of "
                     "at least /%u",
                     oie_cidr_show(network, len, show, sizeof(show)),
                     family, minimum);
        return -1;
    }

    oie_cidr_key(family, addr, key);

    masked[0] = key[0];
    masked[1] = key[1];
    oie_cidr_mask(masked, prefix);

    if (masked[0] != key[0] || masked[1] != key[1]) {
        for (i = 0; i < 8; i++) {
            m[i] = (unsigned char) (masked[0] >> (56 - 8 * i));
            m[8 + i] = (unsigned char) (masked[1] >> (56 - 8 * i));
        }

        inet_ntop(family == 4 ? AF_INET : AF_INET6, m, a, sizeof(a));

        oie_cidr_err(err, errlen,
                     "\"%s\" has bits set after the /%u prefix (the "
                     "network is %s/%u)",
                     oie_cidr_show(network, len, show, sizeof(show)),
                     prefix, a, prefix);
        return -1;
    }

    if (oie_cidr_intern_label(t, label, confidence, &lp, &rp) != 0) {
        oie_cidr_err(err, errlen, "out of memory");
        return -1;
    }

    fp = oie_cidr_intern_file(t, file ? file : "");
    if (fp == NULL) {
        oie_cidr_err(err, errlen, "out of memory");
        return -1;
    }

    if (oie_cidr_grow((void **) &t->entries, &t->entries_cap,
                      t->nentries + 1, sizeof(oie_cidr_entry_t))
        != 0)
    {
        oie_cidr_err(err, errlen, "out of memory");
        return -1;
    }

    e = &t->entries[t->nentries];
    memset(e, 0, sizeof(oie_cidr_entry_t));

    e->label = lp;
    e->reason = rp;
    e->confidence = confidence;
    e->family = family;
    e->prefix = prefix;
    memcpy(e->addr, addr, family == 4 ? 4 : 16);
    e->line = line;
    e->file = fp;

    switch (oie_cidr_node(t, family == 4 ? OIE_CIDR_ROOT4 : OIE_CIDR_ROOT6,
                          key, prefix, t->nentries + 1, &index))
    {
    case 0:
        t->nentries++;
        return 0;

    case 1:
        old = &t->entries[t->nodes[index].entry - 1];
        inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, a, sizeof(a));

        oie_cidr_err(err, errlen, "%s/%u is listed already, at %s:%u",
                     a, prefix, old->file, old->line);
        return -1;

    default:
        oie_cidr_err(err, errlen, "out of memory");
        return -1;
    }
}


const oie_cidr_entry_t *
oie_cidr_lookup4(const oie_cidr_t *t, const unsigned char addr[4])
{
    uint64_t  a[2];

    if (t == NULL || t->nentries == 0) {
        return NULL;
    }

    a[0] = (uint64_t) addr[0] << 56 | (uint64_t) addr[1] << 48
           | (uint64_t) addr[2] << 40 | (uint64_t) addr[3] << 32;
    a[1] = 0;

    return oie_cidr_find(t, OIE_CIDR_ROOT4, a, 32);
}


const oie_cidr_entry_t *
oie_cidr_lookup6(const oie_cidr_t *t, const unsigned char addr[16])
{
    uint64_t  a[2];

    static const unsigned char  mapped[12] =
        { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

    if (t == NULL || t->nentries == 0) {
        return NULL;
    }

    if (memcmp(addr, mapped, 12) == 0) {
        return oie_cidr_lookup4(t, addr + 12);
    }

    oie_cidr_key(6, addr, a);

    return oie_cidr_find(t, OIE_CIDR_ROOT6, a, 128);
}


const oie_cidr_entry_t *
oie_cidr_lookup_sockaddr(const oie_cidr_t *t, const struct sockaddr *sa)
{
    if (sa == NULL) {
        return NULL;
    }

    switch (sa->sa_family) {

    case AF_INET:
        return oie_cidr_lookup4(t, (const unsigned char *)
                                   &((const struct sockaddr_in *) sa)
                                        ->sin_addr);

    case AF_INET6:
        return oie_cidr_lookup6(t, ((const struct sockaddr_in6 *) sa)
                                       ->sin6_addr.s6_addr);

    default:
        return NULL;
    }
}


int
oie_cidr_lookup_text(const oie_cidr_t *t, const char *s, size_t len,
    const oie_cidr_entry_t **entry)
{
    int            family;
    unsigned char  addr[16];

    *entry = NULL;

    family = oie_ip_parse(s, len, addr);
    if (family == -1) {
        return -1;
    }

    *entry = family == 4 ? oie_cidr_lookup4(t, addr)
                         : oie_cidr_lookup6(t, addr);

    return 0;
}


int
oie_ip_parse(const char *s, size_t len, unsigned char addr[16])
{
    int  family;

    family = oie_ip_parse_raw(s, len, addr);

    if (family == 6 && memcmp(addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12)
                       == 0)
    {
        memmove(addr, addr + 12, 4);
        memset(addr + 4, 0, 12);
        return 4;
    }

    return family;
}


void
oie_ip_anonymize(unsigned family, unsigned char addr[16])
{
    if (family == 4) {
        addr[3] = 0;
        return;
    }

    if (memcmp(addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
        addr[15] = 0;
        return;
    }

    /* keep the first 48 bits: the site, not the subnet or the host */
    memset(addr + 6, 0, 10);
}


int
oie_ip_anonymize_text(const char *s, size_t len, char *out, size_t size)
{
    int            family;
    unsigned char  addr[16];

    family = oie_ip_parse_raw(s, len, addr);
    if (family == -1 || out == NULL) {
        return -1;
    }

    oie_ip_anonymize(family, addr);

    if (inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, out, size)
        == NULL)
    {
        return -1;
    }

    return (int) strlen(out);
}


static const oie_cidr_entry_t *
oie_cidr_find(const oie_cidr_t *t, uint32_t root, const uint64_t a[2],
    unsigned bits)
{
    uint32_t                c, best;
    const oie_cidr_node_t  *n;

    n = &t->nodes[root];
    best = n->entry;

    while (n->prefix < bits) {
        c = n->child[oie_cidr_bit(a, n->prefix)];
        if (c == 0) {
            break;
        }

        n = &t->nodes[c];

        if (oie_cidr_common(a, n->key) < n->prefix) {
            break;
        }

        if (n->entry) {
            best = n->entry;
        }
    }

    return best ? &t->entries[best - 1] : NULL;
}


/*
 * Puts entry at the node for key/prefix, making the node (and the branch
 * node above it) as needed.  Returns 0, 1 when that node has an entry
 * already (*index is the node), -1 when out of memory.
 */
static int
oie_cidr_node(oie_cidr_t *t, uint32_t root, const uint64_t key[2],
    unsigned prefix, uint32_t entry, uint32_t *index)
{
    uint32_t   n, c, x, leaf;
    unsigned   b, d, m;
    uint64_t   k[2];

    n = root;

    for ( ;; ) {
        /* the prefix of node n is a prefix of key, and at most prefix */

        if (t->nodes[n].prefix == prefix) {
            if (t->nodes[n].entry) {
                *index = n;
                return 1;
            }

            t->nodes[n].entry = entry;
            return 0;
        }

        b = oie_cidr_bit(key, t->nodes[n].prefix);
        c = t->nodes[n].child[b];

        if (c == 0) {
            if (oie_cidr_grow((void **) &t->nodes, &t->nodes_cap,
                              t->nnodes + 1, sizeof(oie_cidr_node_t))
                != 0)
            {
                return -1;
            }

            leaf = t->nnodes++;
            memset(&t->nodes[leaf], 0, sizeof(oie_cidr_node_t));
            t->nodes[leaf].key[0] = key[0];
            t->nodes[leaf].key[1] = key[1];
            t->nodes[leaf].prefix = prefix;
            t->nodes[leaf].entry = entry;
            t->nodes[n].child[b] = leaf;
            return 0;
        }

        m = prefix < t->nodes[c].prefix ? prefix : t->nodes[c].prefix;
        d = oie_cidr_common(key, t->nodes[c].key);
        if (d > m) {
            d = m;
        }

        if (d == t->nodes[c].prefix) {
            n = c;
            continue;
        }

        /* key and c part at bit d (or key ends there): a node at d */
        if (oie_cidr_grow((void **) &t->nodes, &t->nodes_cap, t->nnodes + 2,
                          sizeof(oie_cidr_node_t))
            != 0)
        {
            return -1;
        }

        k[0] = key[0];
        k[1] = key[1];
        oie_cidr_mask(k, d);

        x = t->nnodes++;
        memset(&t->nodes[x], 0, sizeof(oie_cidr_node_t));
        t->nodes[x].key[0] = k[0];
        t->nodes[x].key[1] = k[1];
        t->nodes[x].prefix = d;
        t->nodes[x].child[oie_cidr_bit(t->nodes[c].key, d)] = c;
        t->nodes[n].child[b] = x;

        if (d == prefix) {
            t->nodes[x].entry = entry;
            return 0;
        }

        leaf = t->nnodes++;
        memset(&t->nodes[leaf], 0, sizeof(oie_cidr_node_t));
        t->nodes[leaf].key[0] = key[0];
        t->nodes[leaf].key[1] = key[1];
        t->nodes[leaf].prefix = prefix;
        t->nodes[leaf].entry = entry;
        t->nodes[x].child[oie_cidr_bit(key, d)] = leaf;

        return 0;
    }
}


static void
oie_cidr_key(unsigned family, const unsigned char *addr, uint64_t key[2])
{
    unsigned  i;

    key[0] = 0;
    key[1] = 0;

    if (family == 4) {
        for (i = 0; i < 4; i++) {
            key[0] |= (uint64_t) addr[i] << (56 - 8 * i);
        }

        return;
    }

    for (i = 0; i < 8; i++) {
        key[0] |= (uint64_t) addr[i] << (56 - 8 * i);
        key[1] |= (uint64_t) addr[8 + i] << (56 - 8 * i);
    }
}


/* clears the bits from prefix on */
static void
oie_cidr_mask(uint64_t key[2], unsigned prefix)
{
    if (prefix == 0) {
        key[0] = 0;
        key[1] = 0;

    } else if (prefix <= 64) {
        key[0] &= ~(uint64_t) 0 << (64 - prefix);
        key[1] = 0;

    } else if (prefix < 128) {
        key[1] &= ~(uint64_t) 0 << (128 - prefix);
    }
}


/* how many leading bits a and b share, 0..128 */
static unsigned
oie_cidr_common(const uint64_t a[2], const uint64_t b[2])
{
    uint64_t  x;

    x = a[0] ^ b[0];
    if (x) {
        return (unsigned) __builtin_clzll(x);
    }

    x = a[1] ^ b[1];
    if (x) {
        return 64 + (unsigned) __builtin_clzll(x);
    }

    return 128;
}


static unsigned
oie_cidr_bit(const uint64_t key[2], unsigned i)
{
    if (i < 64) {
        return (unsigned) (key[0] >> (63 - i)) & 1;
    }

    return (unsigned) (key[1] >> (127 - i)) & 1;
}


/*
 * "a.b.c.d[/n]" or an IPv6 address "[/n]".  The prefix defaults to the
 * whole address.  An IPv4-mapped IPv6 network is returned as IPv4.
 */
static int
oie_cidr_parse_net(const char *s, size_t len, unsigned *family,
    unsigned char addr[16], unsigned *prefix, char *err, size_t errlen)
{
    char         show[OIE_CIDR_SHOW_MAX * 4 + 8];
    int          f;
    size_t       alen, i;
    unsigned     bits, p;
    const char  *slash;

    slash = memchr(s, '/', len);
    alen = slash ? (size_t) (slash - s) : len;

    f = oie_ip_parse_raw(s, alen, addr);
    if (f == -1) {
        oie_cidr_err(err, errlen, "\"%s\" is not an IPv4 or IPv6 address",
                     oie_cidr_show(s, alen, show, sizeof(show)));
        return -1;
    }

    bits = f == 4 ? 32 : 128;
    p = bits;

    if (slash) {
        slash++;
        i = len - (slash - s);

        if (i == 0 || i > 3) {
            oie_cidr_err(err, errlen, "bad prefix length \"/%s\" in \"%s\"",
                         oie_cidr_show(slash, i, show, sizeof(show)),
                         oie_cidr_show(s, len, show + sizeof(show) / 2,
                                       sizeof(show) / 2));
            return -1;
        }

        for (p = 0; i; i--, slash++) {
            if (*slash < '0' || *slash > '9') {
                oie_cidr_err(err, errlen, "bad prefix length in \"%s\"",
                             oie_cidr_show(s, len, show, sizeof(show)));
                return -1;
            }

            p = p * 10 + (unsigned) (*slash - '0');
        }

        if (p > bits) {
            oie_cidr_err(err, errlen,
                         "prefix length /%u is out of range for IPv%d "
                         "(0..%u) in \"%s\"", p, f, bits,
                         oie_cidr_show(s, len, show, sizeof(show)));
            return -1;
        }
    }

    if (f == 6 && memcmp(addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0
        && p >= 96)
    {
        memmove(addr, addr + 12, 4);
        memset(addr + 4, 0, 12);
        f = 4;
        p -= 96;
    }

    *family = (unsigned) f;
    *prefix = p;

    return 0;
}


/* an address as written: IPv4-mapped IPv6 stays IPv6 */
static int
oie_ip_parse_raw(const char *s, size_t len, unsigned char addr[16])
{
    char  buf[OIE_CIDR_TEXT_MAX];

    if (s == NULL || len == 0 || len >= sizeof(buf)
        || memchr(s, '\0', len) != NULL)
    {
        return -1;
    }

    memcpy(buf, s, len);
    buf[len] = '\0';

    memset(addr, 0, 16);

    if (inet_pton(AF_INET, buf, addr) == 1) {
        return 4;
    }

    if (inet_pton(AF_INET6, buf, addr) == 1) {
        return 6;
    }

    return -1;
}


static const char *
oie_cidr_intern_file(oie_cidr_t *t, const char *file)
{
    char  *p;

    /* files come one after the other: the last one is the one */
    if (t->nfiles && strcmp(t->files[t->nfiles - 1], file) == 0) {
        return t->files[t->nfiles - 1];
    }

    if (oie_cidr_grow((void **) &t->files, &t->files_cap, t->nfiles + 1,
                      sizeof(char *))
        != 0)
    {
        return NULL;
    }

    p = strdup(file);
    if (p == NULL) {
        return NULL;
    }

    t->files[t->nfiles++] = p;

    return p;
}


static int
oie_cidr_intern_label(oie_cidr_t *t, const char *label, unsigned confidence,
    const char **lp, const char **rp)
{
    size_t             n;
    uint32_t           i;
    oie_cidr_label_t  *l;

    for (i = t->nlabels; i > 0; i--) {
        if (strcmp(t->labels[i - 1].label, label) == 0) {
            break;
        }
    }

    if (i == 0) {
        if (oie_cidr_grow((void **) &t->labels, &t->labels_cap,
                          t->nlabels + 1, sizeof(oie_cidr_label_t))
            != 0)
        {
            return -1;
        }

        l = &t->labels[t->nlabels];
        memset(l, 0, sizeof(oie_cidr_label_t));

        n = strlen(label);

        l->label = strdup(label);
        l->reason[0] = malloc(n + sizeof("net::certain"));
        l->reason[1] = malloc(n + sizeof("net::probable"));

        if (l->label == NULL || l->reason[0] == NULL || l->reason[1] == NULL)
        {
            free(l->label);
            free(l->reason[0]);
            free(l->reason[1]);
            return -1;
        }

        sprintf(l->reason[0], "net:%s:certain", label);
        sprintf(l->reason[1], "net:%s:probable", label);

        i = ++t->nlabels;
    }

    l = &t->labels[i - 1];

    *lp = l->label;
    *rp = l->reason[confidence == OIE_CIDR_CERTAIN ? 0 : 1];

    return 0;
}


static int
oie_cidr_label_ok(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > OIE_CIDR_LABEL_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (s[i] >= '0' && s[i] <= '9')
              || s[i] == '.' || s[i] == '_' || s[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}


/* room for n elements of size bytes; doubles */
static int
oie_cidr_grow(void **p, uint32_t *cap, uint32_t n, size_t size)
{
    void      *np;
    uint32_t   c;

    if (n <= *cap) {
        return 0;
    }

    if (n > UINT32_MAX / 2) {
        return -1;
    }

    for (c = *cap ? *cap : 16; c < n; c *= 2) {
        /* void */
    }

    np = realloc(*p, (size_t) c * size);
    if (np == NULL) {
        return -1;
    }

    *p = np;
    *cap = c;

    return 0;
}


static void
oie_cidr_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  args;

    if (err == NULL || errlen == 0) {
        return;
    }

    va_start(args, fmt);
    vsnprintf(err, errlen, fmt, args);
    va_end(args);
}


/* a field for a message: bytes that are not printable ASCII as \xNN */
static const char *
oie_cidr_show(const char *s, size_t len, char *buf, size_t size)
{
    size_t  i, o;

    static const char  hex[] = "0123456789abcdef";

    for (i = 0, o = 0; i < len && o + 8 < size; i++) {

        if (i == OIE_CIDR_SHOW_MAX) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }

        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\') {
            buf[o++] = s[i];
            continue;
        }

        buf[o++] = '\\';
        buf[o++] = 'x';
        buf[o++] = hex[(unsigned char) s[i] >> 4];
        buf[o++] = hex[(unsigned char) s[i] & 0x0f];
    }

    buf[o] = '\0';

    return buf;
}
