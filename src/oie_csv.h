/*
 * A strict CSV reader (RFC 4180 plus what real exports do) over a buffer in
 * memory.
 *
 * It parses in place: quoted fields are unescaped where they lie and every
 * field is NUL-terminated, so values stay valid as long as the buffer does
 * and nothing is copied.  The buffer must have one spare byte past len.
 *
 * Accepted: a UTF-8 byte order mark, CRLF, LF or lone CR line ends, quoted
 * fields holding commas, quotes ("") and line breaks, a last line without a
 * line end, blank lines (skipped), a '"' inside an unquoted field (taken as
 * text).  Refused with the line and column of the fault: a quoted field that
 * never closes, text after a closing quote, bytes that are not UTF-8 (over-
 * long forms and surrogates included) and NUL bytes.  Columns count
 * characters (code points) from 1.
 */

#ifndef _OIE_CSV_H_INCLUDED_
#define _OIE_CSV_H_INCLUDED_

#include <stddef.h>


#define OIE_CSV_ERR_LEN  160


typedef struct {
    char          *data;        /* NUL-terminated, in the buffer */
    size_t         len;
    size_t         line;        /* where the field starts */
    size_t         col;
} oie_csv_field_t;


typedef struct {
    unsigned char    *pos;
    unsigned char    *end;

    size_t            line;
    size_t            col;

    oie_csv_field_t  *fields;
    size_t            nfields;
    size_t            nalloc;

    size_t            record_line;  /* first line of the last record */

    size_t            err_line;
    size_t            err_col;
    char              err[OIE_CSV_ERR_LEN];
} oie_csv_t;


/* buf[len] must be writable; it receives the NUL of the last field. */
void oie_csv_init(oie_csv_t *csv, unsigned char *buf, size_t len);

/*
 * Reads the next record into csv->fields[0..nfields).  Returns 1 for a
 * record, 0 at the end of the input, -1 on a fault (csv->err, err_line and
 * err_col describe it; the reader cannot go on), -2 when out of memory.
 */
int oie_csv_next(oie_csv_t *csv);

void oie_csv_free(oie_csv_t *csv);

/*
 * Length of the UTF-8 sequence at s (at most n bytes), 0 when it is not
 * well-formed UTF-8 or is NUL.
 */
size_t oie_utf8_len(const unsigned char *s, size_t n);

#endif /* _OIE_CSV_H_INCLUDED_ */
