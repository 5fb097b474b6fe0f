# zstack_tfa: PGXS build.  `make && sudo make install`, tests via scripts/test.sh.
EXTENSION = zstack_tfa
MODULE_big = zstack_tfa
OBJS = src/zstack_tfa.o src/catalog.o src/parse.o src/reply.o src/session.o \
	src/query.o src/lifecycle.o src/totp.o src/http.o
DATA = zstack_tfa--1.0.sql
SHLIB_LINK = -loath

REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --inputdir=. --load-extension=zstack_tfa

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -Isrc
# CI builds with -Werror; PGXS's own flags stay as they are
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers $(ZT_WERROR)

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Unit tests of the backend-free parsers: no server needed.
UNIT_SRCS = src/parse.c src/catalog.c
test/unit/test_parse: test/unit/test_parse.c $(UNIT_SRCS) src/parse.h src/catalog.h
	$(CC) -std=gnu99 -g -O1 -Wall -Wextra -Werror -fsanitize=address,undefined -Isrc -o $@ test/unit/test_parse.c $(UNIT_SRCS)

.PHONY: unit
unit: test/unit/test_parse
	./test/unit/test_parse

EXTRA_CLEAN = test/unit/test_parse
