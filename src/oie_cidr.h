/*
 * Networks of email scanners: a prefix trie of IPv4 and IPv6 CIDR blocks,
 * each with a label and a confidence, and the parser of the networks file
 * (oie_scanner_networks).
 *
 * The networks file (conf/scanner-networks.txt is the shipped one):
 *
 *     # a comment runs from "#" to the end of the line
 *     <network>  <confidence>  <label>     # one network a line
 *
 *     40.107.0.0/16          certain   microsoft-eop
 *     2a01:111:f403::/48     certain   microsoft-eop
 *     64.235.144.0/20        probable  barracuda
 *     198.51.100.7           probable  my-own-list     # a host: /32
 *
 *   network     an IPv4 or IPv6 address with an optional "/prefix"; without
 *               one it is a single host (/32, /128).  No bit may be set
 *               after the prefix ("40.92.1.0/15" is refused: it says
 *               40.92.0.0/15 was probably meant).  Prefixes wider than /8
 *               (IPv4) or /16 (IPv6) are refused: no scanner owns them, and
 *               a typo there would mark half the Internet.  An IPv4-mapped
 *               network ("::ffff:192.0.2.0/120") is the IPv4 network
 *               (192.0.2.0/24).
 *   confidence  "certain": the vendor documents the network as its mail
 *               scanning service; "probable": seen scanning, or the vendor's
 *               network without saying what for.
 *   label       1 to 48 characters of a-z A-Z 0-9 . _ -; it becomes the
 *               reason "net:<label>:<confidence>" on the events.
 *
 *   Fields are separated by spaces or tabs; lines end with LF or CRLF.
 *   Each network may be listed once (over all files loaded into one trie).
 *   Networks may nest: the most specific one that contains an address is
 *   the one that answers.  Every error names the file and the line:
 *   "conf/x.txt:12: ..." (the nginx directive fails "nginx -t" with it).
 *
 * The trie is built once (at configuration time) in memory of its own;
 * lookups read it only, never allocate and may run on any thread.  Nodes
 * refer to each other by index, so the whole trie is three flat arrays.
 */

#ifndef _OIE_CIDR_H_INCLUDED_
#define _OIE_CIDR_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>


#define OIE_CIDR_CERTAIN        1
#define OIE_CIDR_PROBABLE       2

#define OIE_CIDR_LABEL_MAX      48
#define OIE_CIDR_FILE_MAX       (64 * 1024 * 1024)
#define OIE_CIDR_MIN_PREFIX4    8
#define OIE_CIDR_MIN_PREFIX6    16

/* "net:" label ":" "probable" */
#define OIE_CIDR_REASON_MAX     (4 + OIE_CIDR_LABEL_MAX + 1 + 8)

/* a good size for the error buffers of the functions below */
#define OIE_CIDR_ERR_MAX        512


typedef struct oie_cidr_s  oie_cidr_t;

/* what a lookup answers: the most specific network holding the address */
typedef struct {
    const char      *label;         /* "microsoft-eop" */
    const char      *reason;        /* "net:microsoft-eop:certain" */
    unsigned         confidence;    /* OIE_CIDR_CERTAIN, OIE_CIDR_PROBABLE */
    unsigned         family;        /* 4 or 6 */
    unsigned         prefix;        /* 0..32 or 0..128 */
    unsigned char    addr[16];      /* the network, 4 or 16 bytes used */
    unsigned         line;          /* where it was listed */
    const char      *file;
} oie_cidr_entry_t;


/* An empty trie, or NULL when out of memory. */
oie_cidr_t *oie_cidr_create(void);
void oie_cidr_free(oie_cidr_t *t);

/*
 * Adds the networks of a file.  Returns 0, or -1 with a message in err
 * ("path:line: what is wrong", or "path: why it cannot be read"); on an
 * error the networks of earlier lines stay added.
 */
int oie_cidr_load_file(oie_cidr_t *t, const char *path, char *err,
    size_t errlen);

/* The same for text in memory; name stands for the file in messages. */
int oie_cidr_load_text(oie_cidr_t *t, const char *name, const char *text,
    size_t len, char *err, size_t errlen);

/*
 * Adds one network ("40.107.0.0/16", len bytes) with its confidence and
 * label, as if on line "line" of "file".  Returns 0 or -1 with a message
 * (without a file:line prefix) in err.
 */
int oie_cidr_add(oie_cidr_t *t, const char *network, size_t len,
    unsigned confidence, const char *label, const char *file, unsigned line,
    char *err, size_t errlen);

/* networks in the trie */
size_t oie_cidr_count(const oie_cidr_t *t);

/*
 * Lookups: the entry of the most specific network holding the address, or
 * NULL (none; also when t is NULL).  oie_cidr_lookup6() looks IPv4-mapped
 * addresses (::ffff:a.b.c.d) up as IPv4.
 */
const oie_cidr_entry_t *oie_cidr_lookup4(const oie_cidr_t *t,
    const unsigned char addr[4]);
const oie_cidr_entry_t *oie_cidr_lookup6(const oie_cidr_t *t,
    const unsigned char addr[16]);
const oie_cidr_entry_t *oie_cidr_lookup_sockaddr(const oie_cidr_t *t,
    const struct sockaddr *sa);

/*
 * The address in text (len bytes, "192.0.2.1" or "2001:db8::1"): 0 and
 * *entry set (NULL when no network holds it), or -1 when s is not an
 * address.
 */
int oie_cidr_lookup_text(const oie_cidr_t *t, const char *s, size_t len,
    const oie_cidr_entry_t **entry);


/*
 * Addresses.  oie_ip_parse() reads an IPv4 or IPv6 address (len bytes, no
 * prefix, no zone) into addr (16 bytes; an IPv4 address in the first 4)
 * and returns 4 or 6, or -1.  IPv4-mapped IPv6 addresses are returned as
 * IPv4.
 */
int oie_ip_parse(const char *s, size_t len, unsigned char addr[16]);

/*
 * Anonymization before storage: the last octet of an IPv4 address, the
 * last 80 bits of an IPv6 address are zeroed (an IPv4-mapped one as
 * IPv4).  family is 4 or 6.
 */
void oie_ip_anonymize(unsigned family, unsigned char addr[16]);

/*
 * The anonymized text of the address in s: writes at most size bytes with
 * the terminating NUL to out, returns the length, or -1 when s is not an
 * address or out is too small (46 bytes are always enough).
 */
int oie_ip_anonymize_text(const char *s, size_t len, char *out,
    size_t size);


#endif /* _OIE_CIDR_H_INCLUDED_ */
