# shopify_sync — PGXS build.
#
# The version is set here, once: the control file is generated from
# shopify_sync.control.in and the C code gets it as EXTVERSION.

EXTENSION  = shopify_sync
EXTVERSION = 0.4.0

MODULE_big = shopify_sync
# the C code, one folder per layer (see src/shopify_sync.c).  Files are found
# under $(srcdir) (PGXS sets it: "./" here, the source tree in a VPATH build
# such as the one Debian's pg_buildext makes in build-15/); objects are made
# in the build directory's own src/ folders.
OBJS = $(patsubst $(srcdir)/%.c,%.o,$(sort $(wildcard $(srcdir)/src/*.c $(srcdir)/src/*/*.c)))

DATA = $(patsubst $(srcdir)/%,%,$(wildcard $(srcdir)/sql/$(EXTENSION)--*.sql))
EXTRA_CLEAN = $(EXTENSION).control

# pg_regress suites (inputs in sql/, outputs in expected/).  They are run by
# scripts/test.sh against a throw-away cluster, and by the Debian package's
# build (debian/rules: pg_buildext installcheck); see README.md.
REGRESS = $(patsubst $(srcdir)/sql/%.sql,%,$(filter-out $(srcdir)/sql/$(EXTENSION)--%,$(sort $(wildcard $(srcdir)/sql/*.sql))))

PG_CONFIG ?= pg_config

PG_CPPFLAGS = -I$(srcdir)/src -DEXTVERSION=\"$(EXTVERSION)\"
PG_CFLAGS   = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK  = -lcurl -lcrypto -lyajl -lmicrohttpd
# scripts/test.sh turns on the extension's Assert()s (src/assert_on.h) and
# scripts/sanitize.sh adds AddressSanitizer/UBSan, through these
PG_CPPFLAGS += $(ASSERT_CPPFLAGS)
PG_CFLAGS  += $(SANITIZE_CFLAGS)
SHLIB_LINK += $(SANITIZE_LDFLAGS)

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The control file is made from shopify_sync.control.in next to it, in the
# source tree: PGXS installs control files from $(srcdir) in VPATH builds too.
all: $(srcdir)/$(EXTENSION).control

$(srcdir)/$(EXTENSION).control: $(srcdir)/$(EXTENSION).control.in $(srcdir)/Makefile
	sed 's/@EXTVERSION@/$(EXTVERSION)/' $< > $@

# The objects' folders exist before anything is compiled (a VPATH build
# starts without them).
$(shell mkdir -p $(sort $(dir $(OBJS))))

# PGXS tracks no header dependencies: every object depends on every header.
$(OBJS): $(wildcard $(srcdir)/src/*.h $(srcdir)/src/*/*.h)

# A PGXN distribution (META.json at the top of shopify_sync-X.Y.Z/) of the
# committed tree, as pgvector and pg_cron make theirs.
DIST ?= $(EXTENSION)-$(EXTVERSION).zip
.PHONY: dist
dist:
	git archive --format zip --prefix=$(EXTENSION)-$(EXTVERSION)/ -o $(DIST) HEAD

# `make test` and `make demo` are the README's two commands, for people who
# prefer make; both need root for apt-get and for installing the extension.
.PHONY: test demo bench
test:
	./scripts/test.sh
demo:
	./scripts/demo.sh
bench:
	./scripts/bench.sh
