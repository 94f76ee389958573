/*
 * Unit tests of src/oie_cidr.c: the networks file (format and every error
 * with its file:line), longest-prefix lookups over IPv4 and IPv6 (nested
 * networks, boundaries, IPv4-mapped addresses), a randomized comparison
 * with a brute-force search, the shipped conf/scanner-networks.txt, and
 * address anonymization.  The lookup rate is printed as a comment, not
 * tested (timings here are noisy).
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>

#include "oie_cidr.h"
#include "tap.h"


/* the shipped list, from $OIE_ROOT (make test) or the current directory */
static const char *
shipped_networks(void)
{
    static char  path[4096];
    const char  *root;

    root = getenv("OIE_ROOT");

    snprintf(path, sizeof(path), "%s%sconf/scanner-networks.txt",
             root ? root : "", root ? "/" : "");

    return path;
}


static char  err[OIE_CIDR_ERR_MAX];


static oie_cidr_t *
load(const char *text)
{
    oie_cidr_t  *t;

    t = oie_cidr_create();
    if (t == NULL) {
        printf("# out of memory\n");
        exit(1);
    }

    err[0] = '\0';

    if (oie_cidr_load_text(t, "nets.txt", text, strlen(text), err,
                           sizeof(err))
        != 0)
    {
        oie_cidr_free(t);
        return NULL;
    }

    return t;
}


/* loading text fails with exactly this message */
static int
fails_with(const char *text, const char *expect)
{
    oie_cidr_t  *t;

    t = load(text);
    if (t) {
        oie_cidr_free(t);
        printf("# loaded, expected \"%s\"\n", expect);
        return 0;
    }

    if (strcmp(err, expect) != 0) {
        printf("# got      \"%s\"\n# expected \"%s\"\n", err, expect);
        return 0;
    }

    return 1;
}


/* the label of the network holding the address, "-" for none, "!" bad */
static const char *
label_of(oie_cidr_t *t, const char *addr)
{
    const oie_cidr_entry_t  *e;

    if (oie_cidr_lookup_text(t, addr, strlen(addr), &e) != 0) {
        return "!";
    }

    return e ? e->label : "-";
}


static int
is(oie_cidr_t *t, const char *addr, const char *label)
{
    const char  *got;

    got = label_of(t, addr);

    if (strcmp(got, label) != 0) {
        printf("# %s: got %s, expected %s\n", addr, got, label);
        return 0;
    }

    return 1;
}


/* a small deterministic generator for the randomized tests */
static uint64_t  rng = 0x9e3779b97f4a7c15ULL;

static uint64_t
next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}


typedef struct {
    unsigned        family;
    unsigned        prefix;
    unsigned char   addr[16];
    char            label[16];
} ref_net_t;


static int
ref_contains(const ref_net_t *n, unsigned family, const unsigned char *a)
{
    unsigned  full, rest;

    if (n->family != family) {
        return 0;
    }

    full = n->prefix / 8;
    rest = n->prefix % 8;

    if (memcmp(n->addr, a, full) != 0) {
        return 0;
    }

    if (rest) {
        unsigned char  mask = (unsigned char) (0xff << (8 - rest));

        if ((n->addr[full] & mask) != (a[full] & mask)) {
            return 0;
        }
    }

    return 1;
}


static void
mask_addr(unsigned char *a, unsigned bytes, unsigned prefix)
{
    unsigned  i;

    for (i = 0; i < bytes; i++) {
        if (prefix >= 8 * (i + 1)) {
            continue;
        }

        if (prefix <= 8 * i) {
            a[i] = 0;

        } else {
            a[i] &= (unsigned char) (0xff << (8 - (prefix - 8 * i)));
        }
    }
}


#define NREF    3000
#define NPROBE  200000

static int
randomized(void)
{
    char                      text[64], a[INET6_ADDRSTRLEN];
    int                       bad, best;
    unsigned                  i, j, n, bytes, fam;
    unsigned char             probe[16];
    oie_cidr_t               *t;
    ref_net_t                *ref;
    const oie_cidr_entry_t   *e;

    ref = calloc(NREF, sizeof(ref_net_t));
    t = oie_cidr_create();

    if (ref == NULL || t == NULL) {
        return 0;
    }

    /* networks clustered in a few /8s and /16s so that many nest */
    for (n = 0, i = 0; n < NREF && i < NREF * 4; i++) {
        ref_net_t  *r = &ref[n];

        r->family = (next_rand() % 3 == 0) ? 6 : 4;
        bytes = r->family == 4 ? 4 : 16;

        for (j = 0; j < bytes; j++) {
            r->addr[j] = (unsigned char) next_rand();
        }

        r->addr[0] = (unsigned char) (r->family == 4 ? 10 + next_rand() % 3
                                                     : 0x20);
        r->addr[1] = (unsigned char) (next_rand() % 4);

        r->prefix = r->family == 4 ? 8 + next_rand() % 25
                                   : 16 + next_rand() % 113;

        mask_addr(r->addr, bytes, r->prefix);

        inet_ntop(r->family == 4 ? AF_INET : AF_INET6, r->addr, a,
                  sizeof(a));
        snprintf(text, sizeof(text), "%s/%u", a, r->prefix);
        snprintf(r->label, sizeof(r->label), "n%u", n);

        if (oie_cidr_add(t, text, strlen(text),
                         (n & 1) ? OIE_CIDR_PROBABLE : OIE_CIDR_CERTAIN,
                         r->label, "random", n + 1, err, sizeof(err))
            != 0)
        {
            if (strstr(err, "listed already") == NULL) {
                printf("# %s: %s\n", text, err);
                return 0;
            }

            continue;           /* drawn twice: not a second entry */
        }

        n++;
    }

    if (oie_cidr_count(t) != n) {
        printf("# count %zu, expected %u\n", oie_cidr_count(t), n);
        return 0;
    }

    bad = 0;

    for (i = 0; i < NPROBE && bad < 5; i++) {
        /* near a listed network: its address with random low bits */
        const ref_net_t  *r = &ref[next_rand() % n];

        fam = r->family;
        bytes = fam == 4 ? 4 : 16;
        memcpy(probe, r->addr, bytes);

        for (j = next_rand() % bytes; j < bytes; j++) {
            if (next_rand() & 1) {
                probe[j] ^= (unsigned char) next_rand();
            }
        }

        best = -1;

        for (j = 0; j < n; j++) {
            if (ref_contains(&ref[j], fam, probe)
                && (best == -1 || ref[j].prefix > ref[best].prefix))
            {
                best = (int) j;
            }
        }

        e = fam == 4 ? oie_cidr_lookup4(t, probe) : oie_cidr_lookup6(t, probe);

        if ((best == -1) != (e == NULL)
            || (e && strcmp(e->label, ref[best].label) != 0))
        {
            inet_ntop(fam == 4 ? AF_INET : AF_INET6, probe, a, sizeof(a));
            printf("# %s: trie %s, brute force %s\n", a,
                   e ? e->label : "-", best == -1 ? "-" : ref[best].label);
            bad++;
        }

        if (i == 20000) {
            /* the brute force is slow: the rest only probes a subset */
            break;
        }
    }

    oie_cidr_free(t);
    free(ref);

    return bad == 0;
}


static void
bench(void)
{
    unsigned                 i, hits;
    double                   s4, s6;
    unsigned char            a[16];
    oie_cidr_t              *t;
    struct timespec          t0, t1;

    t = oie_cidr_create();

    if (t == NULL
        || oie_cidr_load_file(t, shipped_networks(), err, sizeof(err))
           != 0)
    {
        printf("# bench skipped: %s\n", err);
        oie_cidr_free(t);
        return;
    }

    hits = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    for (i = 0; i < 2000000; i++) {
        uint32_t  x = (uint32_t) next_rand();

        memcpy(a, &x, 4);
        hits += oie_cidr_lookup4(t, a) != NULL;
    }

    clock_gettime(CLOCK_MONOTONIC, &t1);
    s4 = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;

    clock_gettime(CLOCK_MONOTONIC, &t0);

    for (i = 0; i < 2000000; i++) {
        uint64_t  x = next_rand();

        a[0] = 0x2a;
        a[1] = 0x01;
        memcpy(a + 2, &x, 8);
        memset(a + 10, 0, 6);
        hits += oie_cidr_lookup6(t, a) != NULL;
    }

    clock_gettime(CLOCK_MONOTONIC, &t1);
    s6 = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;

    printf("# shipped list (%zu networks): %.1f M IPv4 lookups/s, "
           "%.1f M IPv6 lookups/s (%u hits)\n", oie_cidr_count(t),
           2.0 / s4, 2.0 / s6, hits);

    oie_cidr_free(t);
}


int
main(void)
{
    char                      out[64];
    unsigned char             addr[16];
    oie_cidr_t               *t;
    struct sockaddr_in        sin;
    struct sockaddr_in6       sin6;
    struct sockaddr_un        sun;
    const oie_cidr_entry_t   *e;

    plan(89);

    /* the format */

    t = load("# Microsoft EOP\n"
             "40.92.0.0/15     certain   microsoft-eop\n"
             "\t40.107.0.0/16\tcertain\tmicrosoft-eop   # tabs\r\n"
             "\n"
             "   \n"
             "# nested: a probable /24 inside a certain /16\n"
             "40.107.3.0/24 probable eop-lab\n"
             "52.100.0.0/14 certain microsoft-eop\n"
             "2a01:111:f400::/48 certain microsoft-eop\n"
             "2a01:111:f400:1::/64 probable eop-lab\n"
             "2001:db8::1 probable one-host\n"
             "198.51.100.7 probable one-host\n"
             "::ffff:192.0.2.0/120 certain mapped\n"
             "203.0.113.0/24 probable last-line-no-newline");

    ok(t != NULL, "a file with comments, blank lines, tabs, CRLF loads");

    if (t == NULL) {
        printf("# %s\n", err);
        return 1;
    }

    ok(oie_cidr_count(t) == 10, "10 networks");

    ok(is(t, "40.92.0.0", "microsoft-eop"), "first address of a /15");
    ok(is(t, "40.93.255.255", "microsoft-eop"), "last address of a /15");
    ok(is(t, "40.91.255.255", "-"), "one before a /15");
    ok(is(t, "40.94.0.0", "-"), "one after a /15");
    ok(is(t, "40.107.2.255", "microsoft-eop"), "beside a nested /24");
    ok(is(t, "40.107.3.0", "eop-lab"), "nested /24: its first address");
    ok(is(t, "40.107.3.255", "eop-lab"), "nested /24: its last address");
    ok(is(t, "40.107.4.0", "microsoft-eop"), "after the nested /24");
    ok(is(t, "52.103.255.1", "microsoft-eop"), "inside a /14");
    ok(is(t, "198.51.100.7", "one-host"), "a host line is a /32");
    ok(is(t, "198.51.100.8", "-"), "its neighbour is not");
    ok(is(t, "203.0.113.9", "last-line-no-newline"),
       "a last line without a newline");
    ok(is(t, "8.8.8.8", "-"), "an address in no network");

    ok(is(t, "2a01:111:f400:abcd::1", "microsoft-eop"), "inside an IPv6 /48");
    ok(is(t, "2a01:111:f400:1::99", "eop-lab"), "nested IPv6 /64");
    ok(is(t, "2a01:111:f400:2::", "microsoft-eop"), "beside the nested /64");
    ok(is(t, "2a01:111:f401::1", "-"), "after the /48");
    ok(is(t, "2a01:111:f3ff:ffff:ffff:ffff:ffff:ffff", "-"),
       "before the /48");
    ok(is(t, "2001:db8::1", "one-host"), "an IPv6 host line is a /128");
    ok(is(t, "2001:db8::2", "-"), "its neighbour is not");

    ok(is(t, "::ffff:40.107.9.9", "microsoft-eop"),
       "an IPv4-mapped address is looked up as IPv4");
    ok(is(t, "192.0.2.200", "mapped"),
       "an IPv4-mapped network is an IPv4 network");
    ok(is(t, "::ffff:192.0.2.1", "mapped"), "and mapped lookups find it");
    ok(is(t, "286b::1", "-"),
       "IPv6 with the bits of an IPv4 network is not in it");
    ok(is(t, "::40.107.1.1", "-"), "IPv4-compatible IPv6 is not IPv4");
    ok(is(t, "40.107.1", "!") && is(t, "40.107.1.1/32", "!")
       && is(t, "", "!") && is(t, "fe80::1%eth0", "!"),
       "lookups of things that are not addresses fail");

    ok(oie_cidr_lookup_text(t, "40.107.3.4", 10, &e) == 0 && e
       && strcmp(e->label, "eop-lab") == 0
       && strcmp(e->reason, "net:eop-lab:probable") == 0
       && e->confidence == OIE_CIDR_PROBABLE && e->family == 4
       && e->prefix == 24 && memcmp(e->addr, "\x28\x6b\x03\x00", 4) == 0
       && e->line == 7 && strcmp(e->file, "nets.txt") == 0,
       "the entry: label, reason, confidence, network, file and line");

    ok(oie_cidr_lookup_text(t, "40.92.1.1", 9, &e) == 0 && e
       && strcmp(e->reason, "net:microsoft-eop:certain") == 0
       && e->confidence == OIE_CIDR_CERTAIN,
       "a certain entry's reason");

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    inet_pton(AF_INET, "40.107.200.1", &sin.sin_addr);
    e = oie_cidr_lookup_sockaddr(t, (struct sockaddr *) &sin);
    ok(e && strcmp(e->label, "microsoft-eop") == 0, "sockaddr_in lookup");

    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:40.107.3.1", &sin6.sin6_addr);
    e = oie_cidr_lookup_sockaddr(t, (struct sockaddr *) &sin6);
    ok(e && strcmp(e->label, "eop-lab") == 0,
       "sockaddr_in6 with a mapped address");

    inet_pton(AF_INET6, "2a01:111:f400::7", &sin6.sin6_addr);
    e = oie_cidr_lookup_sockaddr(t, (struct sockaddr *) &sin6);
    ok(e && strcmp(e->label, "microsoft-eop") == 0, "sockaddr_in6 lookup");

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    ok(oie_cidr_lookup_sockaddr(t, (struct sockaddr *) &sun) == NULL
       && oie_cidr_lookup_sockaddr(t, NULL) == NULL,
       "a unix socket or no address is in no network");

    ok(oie_cidr_lookup4(NULL, (unsigned char *) "\x28\x6b\x00\x01") == NULL
       && oie_cidr_count(NULL) == 0, "no trie: no network");

    /* a second file adds to the same trie; a repeat names the first */
    ok(oie_cidr_load_text(t, "more.txt", "10.0.0.0/8 probable ten\n", 24,
                          err, sizeof(err)) == 0
       && is(t, "10.1.2.3", "ten") && is(t, "40.92.0.1", "microsoft-eop"),
       "a second file adds networks");

    ok(oie_cidr_load_text(t, "more.txt", "\n40.107.0.0/16 probable x\n", 26,
                          err, sizeof(err)) != 0
       && strcmp(err, "more.txt:2: 40.107.0.0/16 is listed already, "
                      "at nets.txt:3") == 0,
       "a network listed twice names both places");

    ok(oie_cidr_load_text(t, "more.txt", "::ffff:40.107.0.0/112 certain y",
                          31, err, sizeof(err)) != 0
       && strcmp(err, "more.txt:1: 40.107.0.0/16 is listed already, "
                      "at nets.txt:3") == 0,
       "the same network written as IPv4-mapped is a repeat");

    oie_cidr_free(t);

    /* every error, with its file and line */

    ok(fails_with("40.92.0.0/15 certain\n",
                  "nets.txt:1: expected \"<network> <certain|probable> "
                  "<label>\", found 2 fields"), "two fields");
    ok(fails_with("\n\n40.92.0.0/15\n",
                  "nets.txt:3: expected \"<network> <certain|probable> "
                  "<label>\", found 1 field"), "one field, line 3");
    ok(fails_with("40.92.0.0/15 certain eop extra\n",
                  "nets.txt:1: expected \"<network> <certain|probable> "
                  "<label>\", found more than 3 fields"), "four fields");
    ok(fails_with("# ok\n40.92.0.0/15 sure eop\n",
                  "nets.txt:2: unknown confidence \"sure\" (expected "
                  "\"certain\" or \"probable\")"), "unknown confidence");
    ok(fails_with("40.92.0.0/15 Certain eop\n",
                  "nets.txt:1: unknown confidence \"Certain\" (expected "
                  "\"certain\" or \"probable\")"), "confidence is lower case");
    ok(fails_with("40.92.0.0/15 certain eop/ms\n",
                  "nets.txt:1: bad label \"eop/ms\" (1 to 48 characters "
                  "of a-z A-Z 0-9 . _ -)"), "a bad character in a label");
    ok(fails_with("40.92.0.0/15 certain "
                  "a123456789b123456789c123456789d123456789e12345678\n",
                  "nets.txt:1: bad label "
                  "\"a123456789b123456789c123456789d123456789e12345678\" "
                  "(1 to 48 characters of a-z A-Z 0-9 . _ -)"),
       "a label of 49 characters");
    ok(fails_with("40.92.0.256/15 certain eop\n",
                  "nets.txt:1: \"40.92.0.256\" is not an IPv4 or IPv6 "
                  "address"), "an octet over 255");
    ok(fails_with("40.92/15 certain eop\n",
                  "nets.txt:1: \"40.92\" is not an IPv4 or IPv6 address"),
       "a short IPv4 address");
    ok(fails_with("eop.example certain eop\n",
                  "nets.txt:1: \"eop.example\" is not an IPv4 or IPv6 "
                  "address"), "a host name");
    ok(fails_with("2a01:111:f400:::/48 certain eop\n",
                  "nets.txt:1: \"2a01:111:f400:::\" is not an IPv4 or IPv6 "
                  "address"), "a bad IPv6 address");
    ok(fails_with("40.92.0.0/33 certain eop\n",
                  "nets.txt:1: prefix length /33 is out of range for IPv4 "
                  "(0..32) in \"40.92.0.0/33\""), "/33");
    ok(fails_with("2a01:111:f400::/129 certain eop\n",
                  "nets.txt:1: prefix length /129 is out of range for IPv6 "
                  "(0..128) in \"2a01:111:f400::/129\""), "/129");
    ok(fails_with("40.92.0.0/ certain eop\n",
                  "nets.txt:1: bad prefix length \"/\" in \"40.92.0.0/\""),
       "an empty prefix");
    ok(fails_with("40.92.0.0/1x certain eop\n",
                  "nets.txt:1: bad prefix length in \"40.92.0.0/1x\""),
       "a prefix that is not a number");
    ok(fails_with("40.92.0.0/-1 certain eop\n",
                  "nets.txt:1: bad prefix length in \"40.92.0.0/-1\""),
       "a negative prefix");
    ok(fails_with("40.0.0.0/7 certain eop\n",
                  "nets.txt:1: \"40.0.0.0/7\" is too wide: IPv4 networks "
                  "need a prefix of at least /8"), "an IPv4 /7");
    ok(fails_with("0.0.0.0/0 certain everything\n",
                  "nets.txt:1: \"0.0.0.0/0\" is too wide: IPv4 networks "
                  "need a prefix of at least /8"), "0.0.0.0/0");
    ok(fails_with("2a00::/15 certain eop\n",
                  "nets.txt:1: \"2a00::/15\" is too wide: IPv6 networks "
                  "need a prefix of at least /16"), "an IPv6 /15");
    ok(fails_with("40.92.1.0/15 certain eop\n",
                  "nets.txt:1: \"40.92.1.0/15\" has bits set after the /15 "
                  "prefix (the network is 40.92.0.0/15)"),
       "host bits set: the message says which network was meant");
    ok(fails_with("2a01:111:f400::1/48 certain eop\n",
                  "nets.txt:1: \"2a01:111:f400::1/48\" has bits set after "
                  "the /48 prefix (the network is 2a01:111:f400::/48)"),
       "host bits set in IPv6");
    ok(fails_with("40.92.0.0/15 certain a\n40.92.0.0/15 probable b\n",
                  "nets.txt:2: 40.92.0.0/15 is listed already, at "
                  "nets.txt:1"), "a repeat");
    t = oie_cidr_create();
    ok(t && oie_cidr_load_text(t, "nul.txt", "10.0.0.0/8 certain a\n1\0\n",
                               24, err, sizeof(err)) != 0
       && strcmp(err, "nul.txt:2: a NUL byte in the line") == 0,
       "a NUL byte is an error of its line");
    oie_cidr_free(t);

    ok(fails_with("40.92.0.0/15 certain \xff\xfe\n",
                  "nets.txt:1: bad label \"\\xff\\xfe\" (1 to 48 characters "
                  "of a-z A-Z 0-9 . _ -)"),
       "bytes that are not printable are shown escaped");

    t = load("\xef\xbb\xbf" "40.92.0.0/15 certain eop\n");
    ok(t && is(t, "40.92.0.1", "eop"), "a UTF-8 byte order mark is skipped");
    oie_cidr_free(t);

    t = load("");
    ok(t && oie_cidr_count(t) == 0 && is(t, "40.92.0.1", "-"),
       "an empty file is an empty list");
    oie_cidr_free(t);

    t = load("# only comments\n\n   # and blanks\n");
    ok(t && oie_cidr_count(t) == 0, "a file of comments is an empty list");
    oie_cidr_free(t);

    t = load("40.92.0.0/15 certain eop# no space before the comment\n");
    ok(t && is(t, "40.93.0.1", "eop"), "a comment right after the label");
    oie_cidr_free(t);

    t = load("40.92.0.0/15 certain eop\r\n\r\n");
    ok(t && oie_cidr_count(t) == 1, "CRLF blank lines");
    oie_cidr_free(t);

    /* oie_cidr_add() directly */

    t = oie_cidr_create();
    ok(t && oie_cidr_add(t, "192.0.2.0/24", 12, 3, "x", "f", 1, err,
                         sizeof(err)) != 0
       && strcmp(err, "unknown confidence 3") == 0,
       "oie_cidr_add: bad confidence");
    ok(oie_cidr_add(t, "192.0.2.0/24", 12, OIE_CIDR_CERTAIN, "", "f", 1,
                    err, sizeof(err)) != 0
       && strncmp(err, "bad label \"\"", 12) == 0, "oie_cidr_add: empty label");
    ok(oie_cidr_add(t, "192.0.2.0/24junk", 12, OIE_CIDR_CERTAIN, "x", "f", 1,
                    err, sizeof(err)) == 0 && is(t, "192.0.2.9", "x"),
       "oie_cidr_add: only len bytes of the network are read");
    ok(oie_cidr_add(NULL, "192.0.2.0/24", 12, OIE_CIDR_CERTAIN, "x", "f", 1,
                    err, sizeof(err)) != 0
       && oie_cidr_load_text(NULL, "f", "", 0, err, sizeof(err)) != 0,
       "no trie: an error, not a crash");
    oie_cidr_free(t);
    oie_cidr_free(NULL);

    /* files */

    t = oie_cidr_create();
    ok(oie_cidr_load_file(t, "/nonexistent/nets.txt", err, sizeof(err)) != 0
       && strcmp(err, "/nonexistent/nets.txt: No such file or directory")
          == 0, "a missing file");
    ok(oie_cidr_load_file(t, "/tmp", err, sizeof(err)) != 0
       && strcmp(err, "/tmp: not a regular file") == 0, "a directory");
    ok(oie_cidr_load_file(t, "/dev/zero", err, sizeof(err)) != 0
       && strcmp(err, "/dev/zero: not a regular file") == 0,
       "a device is not read forever");
    oie_cidr_free(t);

    t = oie_cidr_create();
    if (oie_cidr_load_file(t, shipped_networks(), err, sizeof(err)) != 0) {
        printf("# %s\n", err);
    }

    ok(oie_cidr_count(t) >= 20, "the shipped list loads");
    ok(is(t, "40.107.22.1", "microsoft-eop")
       && is(t, "104.47.10.20", "microsoft-eop")
       && is(t, "2a01:111:f403:c000::1", "microsoft-eop"),
       "it has the Microsoft EOP ranges, IPv4 and IPv6");
    ok(oie_cidr_lookup_text(t, "52.101.1.1", 10, &e) == 0 && e
       && e->confidence == OIE_CIDR_CERTAIN, "marked certain");
    ok(is(t, "209.222.82.5", "barracuda"), "and Barracuda's");
    ok(is(t, "205.139.110.30", "mimecast"), "and Mimecast's");
    ok(is(t, "192.168.1.1", "-") && is(t, "8.8.8.8", "-")
       && is(t, "2001:4860::1", "-"), "and not ordinary addresses");
    oie_cidr_free(t);

    /* brute force agrees */

    ok(randomized(), "random nested networks: the trie agrees with a "
       "brute-force longest-prefix search");

    /* addresses */

    ok(oie_ip_parse("::ffff:10.1.2.3", 15, addr) == 4
       && memcmp(addr, "\x0a\x01\x02\x03", 4) == 0,
       "oie_ip_parse: IPv4-mapped is IPv4");
    ok(oie_ip_parse("2001:db8::1", 11, addr) == 6 && addr[0] == 0x20
       && addr[15] == 1, "oie_ip_parse: IPv6");
    ok(oie_ip_parse("10.1.2.3 ", 9, addr) == -1
       && oie_ip_parse(NULL, 0, addr) == -1, "oie_ip_parse: not addresses");

    ok(oie_ip_anonymize_text("192.0.2.77", 10, out, sizeof(out)) == 9
       && strcmp(out, "192.0.2.0") == 0, "anonymize: the last IPv4 octet");
    ok(oie_ip_anonymize_text("2001:db8:1234:5678:9abc:def0:1234:5678", 38,
                             out, sizeof(out)) > 0
       && strcmp(out, "2001:db8:1234::") == 0,
       "anonymize: the last 80 IPv6 bits");
    ok(oie_ip_anonymize_text("::ffff:192.0.2.77", 17, out, sizeof(out)) > 0
       && strcmp(out, "::ffff:192.0.2.0") == 0,
       "anonymize: IPv4-mapped as IPv4");
    ok(oie_ip_anonymize_text("nope", 4, out, sizeof(out)) == -1
       && oie_ip_anonymize_text("192.0.2.77", 10, out, 5) == -1,
       "anonymize: not an address, or no room");

    memcpy(addr, "\xc0\x00\x02\x4d", 4);
    oie_ip_anonymize(4, addr);
    ok(memcmp(addr, "\xc0\x00\x02\x00", 4) == 0, "oie_ip_anonymize IPv4");

    bench();

    return done_testing();
}
