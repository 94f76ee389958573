/*
 * Which process wrote or holds a file, and whether it is still there.
 *
 * Shared by the nginx module (the spool, the file sink) and the oie CLI
 * (oie spool ls|replay), so both judge a ".part" or ".claim-<pid>" file the
 * same way.  Pure C over libc; nothing here allocates.
 */

#ifndef _OIE_PROC_H_INCLUDED_
#define _OIE_PROC_H_INCLUDED_


/*
 * The pid in a "<time>-<pid>-<seq>..." name (after == NULL), or the digits
 * that follow the marker after (such as ".claim-"); 0 when there are none
 * or they do not fit a pid.
 */
long oie_name_pid(const char *name, const char *after);

/*
 * 1 while the process exists (or is not ours to ask about: EPERM), 0 when
 * it is gone or a zombie (exited, waiting to be reaped).  pid <= 0: 0.
 */
int oie_pid_alive(long pid);


#endif /* _OIE_PROC_H_INCLUDED_ */
