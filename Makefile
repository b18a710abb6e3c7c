# hfhub build. `make` builds the programs into build/bin/; `make check` runs
# every test on a sanitizer build; `make demo` shows the catalog on the
# bundled Hub emulator. Both of the latter install their dependencies first.

CC       ?= cc
FUZZ_CC  ?= clang
PKGS     := libcurl jansson libxml-2.0 libcrypto ext2fs com_err
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN     := -Wall -Wextra -Wformat=2 -Wshadow -Wno-unused-parameter -Wstrict-prototypes
CFLAGS   ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(WARN) $(CFLAGS) \
              -Ilib -Isrc $(PKG_CFLAGS)
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

LIB_SRC  := $(wildcard lib/*.c)
TOOL_COMMON := src/tool_common.c
PROGRAMS := hf_catalog hfhub_monitor hfhub_downloader
UNIT_SRC := $(wildcard tests/unit/test_*.c)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)

BIN      := $(addprefix build/bin/,$(PROGRAMS))
CHECK_BIN := $(addprefix build/check/bin/,$(PROGRAMS))
UNIT_BIN := $(patsubst tests/unit/%.c,build/check/unit/%,$(UNIT_SRC))
FUZZ_BIN := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))

.PHONY: all check demo deps fuzz bench clean unit programs-check install uninstall
.SECONDARY:
all: $(BIN)

deps:
	@scripts/install-deps.sh

# ---- release build --------------------------------------------------------
build/obj/%.o: %.c $(wildcard lib/*.h src/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

build/bin/hf_catalog: build/obj/src/tool_catalog.o build/obj/src/tool_common.o $(LIB_SRC:%.c=build/obj/%.o)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ -o $@ $(PKG_LIBS)

build/bin/hfhub_downloader: build/obj/src/tool_downloader.o $(LIB_SRC:%.c=build/obj/%.o)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ -o $@ $(PKG_LIBS)

build/bin/hfhub_monitor: build/obj/src/tool_monitor.o build/obj/src/tool_common.o $(LIB_SRC:%.c=build/obj/%.o)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ -o $@ $(PKG_LIBS)

# ---- sanitizer build for tests ----------------------------------------------
CHECK_CFLAGS := $(ALL_CFLAGS) -O1 -g $(SAN)

build/check/obj/%.o: %.c $(wildcard lib/*.h src/*.h tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CHECK_CFLAGS) -Itests/unit -c $< -o $@

build/check/bin/hf_catalog: build/check/obj/src/tool_catalog.o build/check/obj/src/tool_common.o $(LIB_SRC:%.c=build/check/obj/%.o)
	@mkdir -p $(dir $@)
	$(CC) $(SAN) $^ -o $@ $(PKG_LIBS)

build/check/bin/hfhub_downloader: build/check/obj/src/tool_downloader.o $(LIB_SRC:%.c=build/check/obj/%.o)
	@mkdir -p $(dir $@)
	$(CC) $(SAN) $^ -o $@ $(PKG_LIBS)

build/check/bin/hfhub_monitor: build/check/obj/src/tool_monitor.o build/check/obj/src/tool_common.o $(LIB_SRC:%.c=build/check/obj/%.o)
	@mkdir -p $(dir $@)
	$(CC) $(SAN) $^ -o $@ $(PKG_LIBS)

build/check/unit/%: build/check/obj/tests/unit/%.o $(LIB_SRC:%.c=build/check/obj/%.o)
	@mkdir -p $(dir $@)
	$(CC) $(SAN) $^ -o $@ $(PKG_LIBS)

# ---- fuzz targets (libFuzzer) ------------------------------------------------
build/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_util.h $(LIB_SRC) $(wildcard lib/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 -Ilib -Itests/fuzz $(PKG_CFLAGS) \
	    -fsanitize=fuzzer,address,undefined $< $(LIB_SRC) -o $@ $(PKG_LIBS)

fuzz: $(FUZZ_BIN)

programs-check: $(CHECK_BIN) $(UNIT_BIN) $(FUZZ_BIN)

check: deps
	@$(MAKE) --no-print-directory programs-check
	@tests/run-tests.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

bench: all
	@python3 bench/catalog_bench.py
	@python3 bench/download_bench.py

# ---- install ------------------------------------------------------------------
# make install [DESTDIR=...] [PREFIX=/usr/local] [ONE_LOCATION=...]
# The market driver (monitor, and import/delete, which refuse: the market is
# read-only) and the datastore helper go into OpenNebula's remotes
# ($ONE_LOCATION/var/remotes for a self-contained install, else
# /var/lib/one/remotes); the programs, hfhub-setup, examples and docs under
# PREFIX. BUILD_BIN picks the binaries (the tests install the sanitizer build).
PREFIX    ?= /usr/local
BUILD_BIN ?= build/bin
ifeq ($(strip $(ONE_LOCATION)),)
REMOTES   ?= /var/lib/one/remotes
else
REMOTES   ?= $(ONE_LOCATION)/var/remotes
endif
INSTALL   ?= install

install: $(addprefix $(BUILD_BIN)/,$(PROGRAMS))
	$(INSTALL) -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/hfhub/examples \
	    $(DESTDIR)$(PREFIX)/share/doc/hfhub $(DESTDIR)$(REMOTES)/market/hfhub $(DESTDIR)$(REMOTES)/datastore
	$(INSTALL) -m 0755 $(BUILD_BIN)/hf_catalog $(BUILD_BIN)/hfhub_downloader $(DESTDIR)$(PREFIX)/bin/
	$(INSTALL) -m 0755 integration/hfhub-setup $(DESTDIR)$(PREFIX)/sbin/hfhub-setup
	$(INSTALL) -m 0644 integration/snippets/*.hfhub $(DESTDIR)$(PREFIX)/share/hfhub/
	$(INSTALL) -m 0644 integration/examples/* $(DESTDIR)$(PREFIX)/share/hfhub/examples/
	$(INSTALL) -m 0644 README.md docs/operator-guide.md $(DESTDIR)$(PREFIX)/share/doc/hfhub/
	$(INSTALL) -m 0755 $(BUILD_BIN)/hfhub_monitor $(DESTDIR)$(REMOTES)/market/hfhub/monitor
	$(INSTALL) -m 0755 $(BUILD_BIN)/hf_catalog $(DESTDIR)$(REMOTES)/market/hfhub/hf_catalog
	$(INSTALL) -m 0755 integration/market/import integration/market/delete $(DESTDIR)$(REMOTES)/market/hfhub/
	$(INSTALL) -m 0755 $(BUILD_BIN)/hfhub_downloader $(DESTDIR)$(REMOTES)/datastore/hfhub_downloader
	@echo "hfhub installed. Next: $(PREFIX)/sbin/hfhub-setup apply, then the oned.conf lines in $(PREFIX)/share/hfhub/examples/oned.conf.hfhub"

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/hf_catalog $(DESTDIR)$(PREFIX)/bin/hfhub_downloader \
	    $(DESTDIR)$(PREFIX)/sbin/hfhub-setup $(DESTDIR)$(REMOTES)/market/hfhub/monitor \
	    $(DESTDIR)$(REMOTES)/market/hfhub/hf_catalog $(DESTDIR)$(REMOTES)/market/hfhub/import \
	    $(DESTDIR)$(REMOTES)/market/hfhub/delete $(DESTDIR)$(REMOTES)/datastore/hfhub_downloader
	rm -rf $(DESTDIR)$(PREFIX)/share/hfhub $(DESTDIR)$(PREFIX)/share/doc/hfhub
	-rmdir $(DESTDIR)$(REMOTES)/market/hfhub

clean:
	rm -rf build
