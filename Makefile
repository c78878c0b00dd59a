# shopify_sync — PGXS build.
#
# The version is set here, once: the control file is generated from
# shopify_sync.control.in and the C code gets it as EXTVERSION.

EXTENSION  = shopify_sync
EXTVERSION = 0.4.0

MODULE_big = shopify_sync
# the C code, one folder per layer (see src/shopify_sync.c)
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c src/*/*.c)))

DATA = $(wildcard sql/$(EXTENSION)--*.sql)
EXTRA_CLEAN = $(EXTENSION).control

# pg_regress suites (inputs in sql/, outputs in expected/).  They are run by
# scripts/test.sh against a throw-away cluster; see README.md.
REGRESS = $(patsubst sql/%.sql,%,$(filter-out sql/$(EXTENSION)--%,$(sort $(wildcard sql/*.sql))))

PG_CONFIG ?= pg_config

PG_CPPFLAGS = -I$(srcdir)/src -DEXTVERSION=\"$(EXTVERSION)\"
PG_CFLAGS   = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK  = -lcurl -lcrypto -lyajl -lmicrohttpd
# scripts/test.sh turns on the extension's Assert()s (src/assert_on.h) and
# scripts/sanitize.sh adds AddressSanitizer/UBSan, through these
PG_CPPFLAGS += $(ASSERT_CPPFLAGS)
PG_CFLAGS  += $(SANITIZE_CFLAGS)
SHLIB_LINK += $(SANITIZE_LDFLAGS)

all: $(EXTENSION).control

$(EXTENSION).control: $(EXTENSION).control.in Makefile
	sed 's/@EXTVERSION@/$(EXTVERSION)/' $< > $@

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: every object depends on every header.
$(OBJS): $(wildcard $(srcdir)/src/*.h $(srcdir)/src/*/*.h)

# `make test` and `make demo` are the README's two commands, for people who
# prefer make; both need root for apt-get and for installing the extension.
.PHONY: test demo bench
test:
	./scripts/test.sh
demo:
	./scripts/demo.sh
bench:
	./scripts/bench.sh
