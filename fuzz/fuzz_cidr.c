/*
 * libFuzzer harness for src/oie_cidr.c, the scanner networks file and its
 * prefix trie.  Two halves:
 *
 *   - the input as a networks file: oie_cidr_load_text() either takes it or
 *     says "fuzz.txt:<line>: ..." in a printable, NUL-terminated message;
 *     lookups of addresses written in the input never fail oddly;
 *   - the input as a program: networks (either family, any prefix, host
 *     bits sometimes left set) added with oie_cidr_add(), then lookups,
 *     both checked against a brute-force list: the same networks refused
 *     and taken, the most specific one answering each address.
 *
 * Also oie_ip_anonymize_text(): the result is an address of the same
 * family with the host part zeroed.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "oie_cidr.h"
#include "fuzz_util.h"


#define FUZZ_NETS  64


typedef struct {
    unsigned        family;
    unsigned        prefix;
    unsigned char   addr[16];
    char            label[16];
} fuzz_net_t;


static void
fuzz_mask(unsigned char *a, unsigned bytes, unsigned prefix)
{
    unsigned  i;

    for (i = 0; i < bytes; i++) {
        if (prefix >= 8 * (i + 1)) {
            continue;
        }

        a[i] &= (unsigned char) (prefix <= 8 * i ? 0
                                 : 0xff << (8 - (prefix - 8 * i)));
    }
}


static int
fuzz_contains(const fuzz_net_t *n, const unsigned char *a)
{
    unsigned char  m[16];
    unsigned       bytes;

    bytes = n->family == 4 ? 4 : 16;
    memcpy(m, a, bytes);
    fuzz_mask(m, bytes, n->prefix);

    return memcmp(m, n->addr, bytes) == 0;
}


static void
fuzz_check_err(const char *err, size_t size, const char *prefix)
{
    size_t  i;

    FUZZ_CHECK(memchr(err, '\0', size) != NULL);
    FUZZ_CHECK(prefix == NULL || strncmp(err, prefix, strlen(prefix)) == 0);

    for (i = 0; err[i]; i++) {
        FUZZ_CHECK((unsigned char) err[i] >= 0x20
                   && (unsigned char) err[i] != 0x7f);
    }
}


static void
fuzz_as_file(const uint8_t *data, size_t size)
{
    int                      rc;
    char                     err[OIE_CIDR_ERR_MAX];
    size_t                   i, start;
    oie_cidr_t              *t;
    const oie_cidr_entry_t  *e;

    t = oie_cidr_create();
    FUZZ_CHECK(t != NULL);

    err[0] = '\0';
    rc = oie_cidr_load_text(t, "fuzz.txt", (const char *) data, size, err,
                            sizeof(err));

    if (rc != 0) {
        FUZZ_CHECK(rc == -1);
        fuzz_check_err(err, sizeof(err), "fuzz.txt:");
    }

    /* every word of the input, as an address to look up */
    for (i = 0; i < size; i = start + 1) {
        while (i < size && (data[i] == ' ' || data[i] == '\n')) {
            i++;
        }

        start = i;

        while (i < size && data[i] != ' ' && data[i] != '\n'
               && data[i] != '/')
        {
            i++;
        }

        if (i > start && oie_cidr_lookup_text(t, (const char *) data + start,
                                              i - start, &e) == 0
            && e != NULL)
        {
            FUZZ_CHECK(e->family == 4 || e->family == 6);
            FUZZ_CHECK(strlen(e->label) >= 1
                       && strlen(e->label) <= OIE_CIDR_LABEL_MAX);
            FUZZ_CHECK(strncmp(e->reason, "net:", 4) == 0);
        }

        start = i;
    }

    oie_cidr_free(t);
}


static void
fuzz_as_program(const uint8_t *data, size_t size)
{
    int                      rc, want;
    char                     text[INET6_ADDRSTRLEN + 8], err[OIE_CIDR_ERR_MAX];
    char                     anon[64];
    size_t                   i, j, n, len;
    unsigned                 op, bytes, family;
    fuzz_in_t                in;
    fuzz_net_t               nets[FUZZ_NETS], net, *best;
    oie_cidr_t              *t;
    unsigned char            a[16], m[16];
    const oie_cidr_entry_t  *e;

    in.p = data;
    in.left = size;
    n = 0;

    t = oie_cidr_create();
    FUZZ_CHECK(t != NULL);

    for (i = 0; i < 256 && in.left; i++) {
        op = fuzz_byte(&in);
        family = (op & 1) ? 6 : 4;
        bytes = family == 4 ? 4 : 16;

        memset(a, 0, sizeof(a));
        for (j = 0; j < bytes; j++) {
            a[j] = fuzz_byte(&in);
        }

        if (family == 6 && (op & 0x10)) {
            /* an IPv4-mapped address now and then */
            memset(a, 0, 10);
            a[10] = 0xff;
            a[11] = 0xff;
        }

        if (op & 2) {
            /* add a network */
            net.family = family;
            net.prefix = fuzz_byte(&in) % (bytes * 8 + 1);
            memcpy(net.addr, a, 16);
            snprintf(net.label, sizeof(net.label), "n%zu", i);

            if (!(op & 4)) {
                fuzz_mask(net.addr, bytes, net.prefix);
            }

            inet_ntop(family == 4 ? AF_INET : AF_INET6, net.addr, text,
                      INET6_ADDRSTRLEN);
            len = strlen(text);
            len += snprintf(text + len, sizeof(text) - len, "/%u",
                            net.prefix);

            /* what the file format says about it */
            memcpy(m, net.addr, bytes);
            fuzz_mask(m, bytes, net.prefix);
            want = memcmp(m, net.addr, bytes) == 0;

            if (family == 6 && net.prefix >= 96
                && memcmp(net.addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0)
            {
                net.family = 4;
                net.prefix -= 96;
                memmove(net.addr, net.addr + 12, 4);
                memset(net.addr + 4, 0, 12);
            }

            if (net.prefix < (net.family == 4 ? 8u : 16u)) {
                want = 0;
            }

            for (j = 0; want && j < n; j++) {
                if (nets[j].family == net.family
                    && nets[j].prefix == net.prefix
                    && memcmp(nets[j].addr, net.addr,
                              net.family == 4 ? 4 : 16) == 0)
                {
                    want = 0;
                }
            }

            err[0] = '\0';
            rc = oie_cidr_add(t, text, len, (op & 8) ? OIE_CIDR_CERTAIN
                                                     : OIE_CIDR_PROBABLE,
                              net.label, "f", (unsigned) i, err, sizeof(err));

            if (rc != (want ? 0 : -1)) {
                fprintf(stderr, "add %s: %d (%s), expected %d\n", text, rc,
                        err, want ? 0 : -1);
            }
            FUZZ_CHECK(rc == (want ? 0 : -1));

            if (rc == 0) {
                if (n < FUZZ_NETS) {
                    nets[n++] = net;
                }

            } else {
                fuzz_check_err(err, sizeof(err), NULL);
            }

            if (n == FUZZ_NETS) {
                break;
            }

            continue;
        }

        /* look an address up: the most specific network holding it */
        if (family == 6
            && memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0)
        {
            e = oie_cidr_lookup6(t, a);
            memmove(a, a + 12, 4);
            family = 4;

        } else {
            e = family == 4 ? oie_cidr_lookup4(t, a) : oie_cidr_lookup6(t, a);
        }

        best = NULL;

        for (j = 0; j < n; j++) {
            if (nets[j].family == family && fuzz_contains(&nets[j], a)
                && (best == NULL || nets[j].prefix > best->prefix))
            {
                best = &nets[j];
            }
        }

        if (best == NULL) {
            FUZZ_CHECK(e == NULL);

        } else {
            FUZZ_CHECK(e != NULL);
            FUZZ_CHECK(e->family == best->family);
            FUZZ_CHECK(e->prefix == best->prefix);
            FUZZ_CHECK(strcmp(e->label, best->label) == 0);
            FUZZ_CHECK(memcmp(e->addr, best->addr, family == 4 ? 4 : 16)
                       == 0);
        }

        /* the anonymized form: same family, host part zeroed */
        inet_ntop(family == 4 ? AF_INET : AF_INET6, a, text,
                  INET6_ADDRSTRLEN);
        rc = oie_ip_anonymize_text(text, strlen(text), anon, sizeof(anon));
        FUZZ_CHECK(rc > 0 && (size_t) rc == strlen(anon));
        FUZZ_CHECK(oie_ip_parse(anon, rc, m) == (int) family);
        FUZZ_CHECK(family == 4 ? m[3] == 0
                               : memcmp(m + 6, "\0\0\0\0\0\0\0\0\0\0", 10)
                                 == 0);
        FUZZ_CHECK(memcmp(m, a, family == 4 ? 3 : 6) == 0);
    }

    FUZZ_CHECK(oie_cidr_count(t) == n);
    oie_cidr_free(t);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_as_file(data, size);
    fuzz_as_program(data, size);

    return 0;
}
