/*
 * assert_on.h — the extension's own Assert()s, against any server.
 *
 * PostgreSQL compiles Assert() in only with --enable-cassert, and Debian's
 * server is built without it.  Defining USE_ASSERT_CHECKING here instead
 * would also switch the server headers to the cassert layout
 * (MEMORY_CONTEXT_CHECKING, assert-only declarations) of a server that was
 * not built that way.  This header keeps the server's headers as they are
 * and makes only Assert() active, reporting through ExceptionalCondition(),
 * which every server has: a failed assertion logs "TRAP: FailedAssertion"
 * and aborts the process, as on a cassert build.
 *
 * Not included by any source file: the test build (scripts/test.sh) puts
 * it in front of every file with -include, so that each Assert() of the
 * extension is checked by the whole suite; the packaged build has none.
 */
#ifndef SHOPIFY_SYNC_ASSERT_ON_H
#define SHOPIFY_SYNC_ASSERT_ON_H

#include "postgres.h"

#ifndef USE_ASSERT_CHECKING
#undef Assert
#define Assert(condition) \
	do { \
		if (!(condition)) \
			ExceptionalCondition(#condition, "FailedAssertion", \
								 __FILE__, __LINE__); \
	} while (0)
#endif

#endif
