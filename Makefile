# zstack_tfa: PGXS build.  `make && sudo make install`, tests via scripts/test.sh.
EXTENSION = zstack_tfa
MODULE_big = zstack_tfa
OBJS = src/zstack_tfa.o src/catalog.o src/parse.o src/reply.o src/session.o \
	src/crypto.o src/query.o src/principal.o src/failures.o src/twofactor.o \
	src/accounts.o src/logins.o src/totp.o src/qrcode.o src/enrolment.o \
	src/jsonread.o src/recovery.o src/http.o
DATA = $(wildcard zstack_tfa--*.sql)
SHLIB_LINK = -loath -lqrencode -lpng -lcrypto

REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --inputdir=. --load-extension=zstack_tfa

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -Isrc
# CI builds with -Werror; PGXS's own flags stay as they are
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers $(ZT_WERROR) $(PG_CFLAGS_EXTRA)

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Unit tests of the backend-free parsers: no server needed.
UNIT_SRCS = src/parse.c src/catalog.c
test/unit/test_parse: test/unit/test_parse.c $(UNIT_SRCS) src/parse.h src/catalog.h
	$(CC) -std=gnu99 -g -O1 -Wall -Wextra -Werror -fsanitize=address,undefined -Isrc -o $@ test/unit/test_parse.c $(UNIT_SRCS)

# The QR drawings, decoded again by independent readers (zbarimg, rsvg-convert);
# the test reads PNGs back with a small reader of its own, on zlib.
test/unit/test_qrcode: test/unit/test_qrcode.c src/qrcode.c src/qrcode.h
	$(CC) -std=gnu99 -g -O1 -Wall -Wextra -Werror -fsanitize=address,undefined -Isrc -o $@ test/unit/test_qrcode.c src/qrcode.c -lqrencode -lpng -lz

.PHONY: unit
unit: test/unit/test_parse test/unit/test_qrcode
	./test/unit/test_parse
	./test/unit/test_qrcode

EXTRA_CLEAN = test/unit/test_parse test/unit/test_qrcode fuzz/build

# libFuzzer targets for every parser that sees user input (clang).  `make
# fuzz` runs each for FUZZ_SECONDS; scripts/test.sh runs a short pass.
FUZZ_TARGETS = condition query_string params token base32 date qrcode
FUZZ_SECONDS ?= 300
FUZZ_CC ?= clang
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Isrc

fuzz/build/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_common.h $(UNIT_SRCS) src/parse.h src/catalog.h
	@mkdir -p fuzz/build
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(UNIT_SRCS) -loath

# the QR target links the drawing code and its libraries, not the parsers
fuzz/build/fuzz_qrcode: fuzz/fuzz_qrcode.c fuzz/fuzz_common.h src/qrcode.c src/qrcode.h
	@mkdir -p fuzz/build
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< src/qrcode.c -lqrencode -lpng

.PHONY: fuzz-build fuzz
fuzz-build: $(FUZZ_TARGETS:%=fuzz/build/fuzz_%)

# Each target replays its kept regressions, then fuzzes from its seed corpus
# (scripts/fuzz_one.sh), one target per core at a time.
FUZZ_JOBS ?= $(shell nproc)
fuzz: fuzz-build
	@printf '%s\n' $(FUZZ_TARGETS) | xargs -P $(FUZZ_JOBS) -I{} bash scripts/fuzz_one.sh {} $(FUZZ_SECONDS)

# Static analysis of src/: both must be silent.  What cppcheck finds in
# PostgreSQL's own headers (17's and 18's inline functions) is theirs, and
# so are the signatures of its callbacks (cppcheck 2.17's
# constParameterCallback: a void *arg that PostgreSQL's type fixes).
# cppcheck 2.17 also fails on its own note that it limited the branches it
# followed (normalCheckLevelMaxBranches), which is no finding.
PG_INCLUDEDIR_SERVER := $(shell $(PG_CONFIG) --includedir-server)
# The regression suite with the server under valgrind (scripts/valgrind.sh).
.PHONY: valgrind-check
valgrind-check:
	bash scripts/valgrind.sh

.PHONY: lint
lint:
	cppcheck --enable=warning,style,performance,portability --inline-suppr --quiet \
		--error-exitcode=1 --suppress=missingIncludeSystem --suppress='*:$(PG_INCLUDEDIR_SERVER)/*' \
		--suppress=constParameterCallback --suppress=normalCheckLevelMaxBranches \
		-D__GNUC__ --std=c99 \
		-Isrc -I$(PG_INCLUDEDIR_SERVER) src/
	clang-tidy --quiet src/*.c -- -Isrc -I$(PG_INCLUDEDIR_SERVER) -D_GNU_SOURCE
