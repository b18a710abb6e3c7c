# hfhub build. `make` builds the programs into build/bin/; `make check` runs
# every test on a sanitizer build; `make demo` shows the catalog on the
# bundled Hub emulator. Both of the latter install their dependencies first.
# `make man` writes the man pages, `make deb` and `make rpm` the packages
# (build/hfhub_<version>_<arch>.deb, build/rpm/RPMS/...), `make dist` the
# source tarball; `make version` prints the version and the commit.

CC       ?= cc
FUZZ_CC  ?= clang
PKGS     := libcurl jansson libxml-2.0 libcrypto ext2fs com_err
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN     := -Wall -Wextra -Wformat=2 -Wshadow -Wno-unused-parameter -Wstrict-prototypes
CFLAGS   ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(WARN) $(CPPFLAGS) $(CFLAGS) \
              -Ilib -Isrc -Ibuild/gen $(PKG_CFLAGS)
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

LIB_SRC  := $(wildcard lib/*.c)
TOOL_COMMON := src/tool_common.c

# The version lives in lib/hf_client.h (the User-Agent carries it); the
# packages take it from there. The commit comes from git, else from the COMMIT
# file of a tarball made by `make dist` (see scripts/commit-id.sh).
VERSION  := $(shell sed -n 's/^\#define HFHUB_VERSION "\([^"]*\)".*/\1/p' lib/hf_client.h)
COMMIT   := $(shell sh scripts/commit-id.sh)
COMMIT_TEXT := $(or $(COMMIT),unknown (built without git))
PROGRAMS := hf_catalog hfhub_monitor hfhub_downloader
UNIT_SRC := $(wildcard tests/unit/test_*.c)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)

BIN      := $(addprefix build/bin/,$(PROGRAMS))
CHECK_BIN := $(addprefix build/check/bin/,$(PROGRAMS))
UNIT_BIN := $(patsubst tests/unit/%.c,build/check/unit/%,$(UNIT_SRC))
FUZZ_BIN := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))

.PHONY: all check demo deps fuzz bench bench-all clean unit programs-check install uninstall man deb rpm dist \
        version pkg-tree FORCE
.SECONDARY:
all: $(BIN)

FORCE:

version:
	@echo "hfhub $(VERSION), commit $(COMMIT_TEXT)"

# Rewritten only when the commit changes, so that only tool_version.o follows.
build/gen/hfhub_commit.h: FORCE
	@mkdir -p $(dir $@)
	@echo '#define HFHUB_COMMIT "$(COMMIT_TEXT)"' >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv -f $@.tmp $@; fi
build/obj/src/tool_version.o build/check/obj/src/tool_version.o: build/gen/hfhub_commit.h

deps:
	@scripts/install-deps.sh

# ---- release build --------------------------------------------------------
build/obj/%.o: %.c $(wildcard lib/*.h src/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

build/bin/hf_catalog: build/obj/src/tool_catalog.o build/obj/src/tool_common.o build/obj/src/tool_version.o \
                      $(LIB_SRC:%.c=build/obj/%.o)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(PKG_LIBS)

build/bin/hfhub_downloader: build/obj/src/tool_downloader.o build/obj/src/tool_version.o $(LIB_SRC:%.c=build/obj/%.o)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(PKG_LIBS)

build/bin/hfhub_monitor: build/obj/src/tool_monitor.o build/obj/src/tool_common.o build/obj/src/tool_version.o \
                         $(LIB_SRC:%.c=build/obj/%.o)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(PKG_LIBS)

# ---- sanitizer build for tests ----------------------------------------------
CHECK_CFLAGS := $(ALL_CFLAGS) -O1 -g $(SAN)

build/check/obj/%.o: %.c $(wildcard lib/*.h src/*.h tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CHECK_CFLAGS) -Itests/unit -c $< -o $@

build/check/bin/hf_catalog: build/check/obj/src/tool_catalog.o build/check/obj/src/tool_common.o \
                            build/check/obj/src/tool_version.o $(LIB_SRC:%.c=build/check/obj/%.o)
	@mkdir -p $(dir $@)
	$(CC) $(SAN) $^ -o $@ $(PKG_LIBS)

build/check/bin/hfhub_downloader: build/check/obj/src/tool_downloader.o build/check/obj/src/tool_version.o \
                                  $(LIB_SRC:%.c=build/check/obj/%.o)
	@mkdir -p $(dir $@)
	$(CC) $(SAN) $^ -o $@ $(PKG_LIBS)

build/check/bin/hfhub_monitor: build/check/obj/src/tool_monitor.o build/check/obj/src/tool_common.o \
                               build/check/obj/src/tool_version.o $(LIB_SRC:%.c=build/check/obj/%.o)
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

# every benchmark, one after another (bench/run-all.sh; installs nginx and aria2 when root)
bench-all: all
	@bench/run-all.sh

# ---- man pages ----------------------------------------------------------------
# help2man builds each page from the program's own --help, so a page cannot
# drift from it; docs/man/<program>.h2m adds the NAME line, FILES and SEE ALSO.
# The version is given (--version-string), so the pages do not change with the
# commit. MAN_OUT and BUILD_BIN let the tests build them from the test build.
BUILD_BIN ?= build/bin
MAN_OUT   ?= build/man
MAN1      := $(MAN_OUT)/hf_catalog.1 $(MAN_OUT)/hfhub_downloader.1
MAN8      := $(MAN_OUT)/hfhub_monitor.8 $(MAN_OUT)/hfhub-setup.8
HELP2MAN  := help2man --no-info --version-string=$(VERSION)

man: $(MAN1) $(MAN8)

$(MAN_OUT)/%.1: $(BUILD_BIN)/% docs/man/%.h2m
	@mkdir -p $(dir $@)
	$(HELP2MAN) --section=1 --include=docs/man/$*.h2m --output=$@ $<

$(MAN_OUT)/hfhub_monitor.8: $(BUILD_BIN)/hfhub_monitor docs/man/hfhub_monitor.h2m
	@mkdir -p $(dir $@)
	$(HELP2MAN) --section=8 --include=docs/man/hfhub_monitor.h2m --output=$@ $<

$(MAN_OUT)/hfhub-setup.8: build/gen/hfhub-setup docs/man/hfhub-setup.h2m
	@mkdir -p $(dir $@)
	$(HELP2MAN) --section=8 --include=docs/man/hfhub-setup.h2m --output=$@ $<

# hfhub-setup with its version and commit filled in (for --version).
build/gen/hfhub-setup: integration/hfhub-setup build/gen/hfhub_commit.h
	@mkdir -p $(dir $@)
	sed -e 's|@HFHUB_VERSION@|$(VERSION)|' -e 's|@HFHUB_COMMIT@|$(COMMIT_TEXT)|' $< >$@.tmp
	chmod 0755 $@.tmp && mv -f $@.tmp $@

# ---- install ------------------------------------------------------------------
# make install [DESTDIR=...] [PREFIX=/usr/local] [ONE_LOCATION=...]
# The market driver (monitor, and import/delete, which refuse: the market is
# read-only) and the datastore helper go into OpenNebula's remotes
# ($ONE_LOCATION/var/remotes for a self-contained install, else
# /var/lib/one/remotes); the programs, hfhub-setup, examples, docs and man
# pages under PREFIX. BUILD_BIN picks the binaries (the tests install the
# sanitizer build).
PREFIX    ?= /usr/local
MANDIR    ?= $(PREFIX)/share/man
ifeq ($(strip $(ONE_LOCATION)),)
REMOTES   ?= /var/lib/one/remotes
else
REMOTES   ?= $(ONE_LOCATION)/var/remotes
endif
INSTALL   ?= install

install: $(addprefix $(BUILD_BIN)/,$(PROGRAMS)) build/gen/hfhub-setup $(MAN1) $(MAN8)
	$(INSTALL) -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/hfhub/examples \
	    $(DESTDIR)$(PREFIX)/share/doc/hfhub $(DESTDIR)$(REMOTES)/market/hfhub $(DESTDIR)$(REMOTES)/datastore \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8
	$(INSTALL) -m 0755 $(BUILD_BIN)/hf_catalog $(BUILD_BIN)/hfhub_downloader $(DESTDIR)$(PREFIX)/bin/
	$(INSTALL) -m 0755 build/gen/hfhub-setup $(DESTDIR)$(PREFIX)/sbin/hfhub-setup
	$(INSTALL) -m 0644 integration/snippets/*.hfhub $(DESTDIR)$(PREFIX)/share/hfhub/
	$(INSTALL) -m 0644 integration/examples/* $(DESTDIR)$(PREFIX)/share/hfhub/examples/
	$(INSTALL) -m 0644 README.md docs/operator-guide.md $(DESTDIR)$(PREFIX)/share/doc/hfhub/
	$(INSTALL) -m 0644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 0644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/
	$(INSTALL) -m 0755 $(BUILD_BIN)/hfhub_monitor $(DESTDIR)$(REMOTES)/market/hfhub/monitor
	$(INSTALL) -m 0755 $(BUILD_BIN)/hf_catalog $(DESTDIR)$(REMOTES)/market/hfhub/hf_catalog
	$(INSTALL) -m 0755 integration/market/import integration/market/delete $(DESTDIR)$(REMOTES)/market/hfhub/
	$(INSTALL) -m 0755 $(BUILD_BIN)/hfhub_downloader $(DESTDIR)$(REMOTES)/datastore/hfhub_downloader
	@echo "hfhub installed. Next: $(PREFIX)/sbin/hfhub-setup apply, then the oned.conf lines in $(PREFIX)/share/hfhub/examples/oned.conf.hfhub"

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/hf_catalog $(DESTDIR)$(PREFIX)/bin/hfhub_downloader \
	    $(DESTDIR)$(PREFIX)/sbin/hfhub-setup $(DESTDIR)$(REMOTES)/market/hfhub/monitor \
	    $(DESTDIR)$(REMOTES)/market/hfhub/hf_catalog $(DESTDIR)$(REMOTES)/market/hfhub/import \
	    $(DESTDIR)$(REMOTES)/market/hfhub/delete $(DESTDIR)$(REMOTES)/datastore/hfhub_downloader \
	    $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(MAN1))) \
	    $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(MAN8)))
	rm -rf $(DESTDIR)$(PREFIX)/share/hfhub $(DESTDIR)$(PREFIX)/share/doc/hfhub
	-rmdir $(DESTDIR)$(REMOTES)/market/hfhub

# ---- source tarball and packages -------------------------------------------------
# Each starts from a clean copy of the source tree (PKG_TREE: no build/, no
# .git, nothing git ignores) with the commit written into its COMMIT file.
# `make deb` builds it with dpkg-buildpackage (debian/), `make rpm` with
# rpmbuild (packaging/rpm/hfhub.spec). Both packages carry VERSION.
PKG_TREE  := build/pkg/hfhub-$(VERSION)
# rpm on Debian cannot see Debian's packages, so it does not check BuildRequires
RPMBUILD_FLAGS ?= $(if $(wildcard /var/lib/dpkg/status),--nodeps)
DEB_ARCH   = $(shell dpkg --print-architecture)
DEB        = build/hfhub_$(VERSION)_$(DEB_ARCH).deb
DIST      := build/hfhub-$(VERSION).tar.gz
TAR_SORT  := --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0

pkg-tree:
	rm -rf build/pkg && mkdir -p $(PKG_TREE)
	tar --exclude=./build --exclude=./COMMIT --exclude-vcs --exclude-vcs-ignores -cf - . | tar -xf - -C $(PKG_TREE)
	if [ -n "$(COMMIT)" ]; then echo "$(COMMIT)" >$(PKG_TREE)/COMMIT; fi

dist: pkg-tree
	tar -C build/pkg $(TAR_SORT) -czf $(DIST) hfhub-$(VERSION)
	@echo "source tarball: $(DIST) (commit $(COMMIT_TEXT))"

deb:
	@scripts/install-deps.sh package
	@v=$$(dpkg-parsechangelog -l debian/changelog -S Version); [ "$$v" = "$(VERSION)" ] || \
	    { echo "debian/changelog is at $$v but lib/hf_client.h says $(VERSION): add a changelog entry" >&2; exit 1; }
	@$(MAKE) --no-print-directory pkg-tree
	cd $(PKG_TREE) && dpkg-buildpackage --build=binary --no-sign -j2
	mv -f build/pkg/hfhub_$(VERSION)_$(DEB_ARCH).deb $(DEB)
	@echo "package: $(DEB) (commit $(COMMIT_TEXT)); debug symbols and .changes in build/pkg/"

rpm: dist
	@command -v rpmbuild >/dev/null || { echo "make rpm needs rpmbuild: apt-get install rpm (or dnf install rpm-build)" >&2; exit 1; }
	rm -rf build/rpm && mkdir -p build/rpm/SOURCES && cp $(DIST) build/rpm/SOURCES/
	rpmbuild -bb $(RPMBUILD_FLAGS) --define "_topdir $(CURDIR)/build/rpm" --define "hfhub_version $(VERSION)" \
	    packaging/rpm/hfhub.spec
	@ls build/rpm/RPMS/*/hfhub-$(VERSION)-*.rpm

clean:
	rm -rf build
