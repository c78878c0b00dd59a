/*
 * asan_start.c — lets the ASan runtime, preloaded into Debian's
 * uninstrumented PostgreSQL programs, start without deadlocking.  Test use
 * only (scripts/sanitize.sh, preloaded right after the runtime); never
 * installed.
 *
 * A preloaded runtime initialises lazily, at the first malloc(), wherever
 * that is: in postgres inside glibc's bindtextdomain() (libgpg-error's
 * constructor), in initdb inside newlocale() (p11-kit's), each with one of
 * glibc's locale locks held.  Its initialisation looks up
 * "swift_demangle" with dlsym() and clears the error with dlerror(); the
 * failed lookup's message is translated under those same locks, which
 * leaves them broken, and the program's next bindtextdomain() or
 * setlocale() waits for ever.  When the lookup succeeds there is no
 * message to translate.  This one declines every name, so symbolised
 * reports are unchanged (C and C++ names are demangled as before).
 */
#include <stddef.h>
#include <stdint.h>

char	   *swift_demangle(const char *mangled, size_t len, char *out, size_t *outlen,
						   uint32_t flags);

char *
swift_demangle(const char *mangled, size_t len, char *out, size_t *outlen, uint32_t flags)
{
	(void) mangled;
	(void) len;
	(void) out;
	(void) outlen;
	(void) flags;
	return NULL;				/* not a Swift name */
}
