# ukeyd — top-level build.
#
#   make              build everything (warnings are errors)
#   make check        install what is missing, build, run every test, then the
#                     same again under AddressSanitizer + UndefinedBehaviorSanitizer
#   make check SAN=1  only the sanitizer pass
#   make demo         the whole product on this machine, with a virtual token
#   make install      the daemon, units, polkit rule, man pages, docs (PREFIX=,
#                     DESTDIR=, SYSCONFDIR=); make uninstall; the .deb: debian/
#   make bench        throughput, memory, APDUs beside nginx and OpenSC; make fuzz
#                     FUZZ_SECONDS=N; make soak (docs/performance.md)
#
# Plain and sanitizer builds live side by side in build/ and build-san/.

VERSION   := 0.1.0
SAN       ?= 0
ifeq ($(SAN),1)
BUILD     ?= build-san
OPTFLAGS  := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else
BUILD     ?= build
OPTFLAGS  := -O2 -g
endif

CC        ?= cc
PKGS      := libpcsclite libcrypto zlib libmicrohttpd jansson libsystemd libcurl inih sqlite3
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

# WERROR= (empty) keeps warnings as warnings: debian/rules does, so that a
# newer compiler's new warning cannot break a rebuild of the package.
WERROR    ?= -Werror
WARNFLAGS := -Wall -Wextra $(WERROR) -Wshadow -Wformat=2 -Wmissing-prototypes \
             -Wstrict-prototypes -Wvla -Wpointer-arith -Wundef
CFLAGS    ?=
CFLAGS    += -std=gnu11 $(OPTFLAGS) $(WARNFLAGS) -fno-common -D_GNU_SOURCE \
             -DUKEYD_VERSION='"$(VERSION)"' -I. $(PKG_CFLAGS) -MMD -MP
LDFLAGS   += $(OPTFLAGS)
LDLIBS    += $(PKG_LIBS) -lpthread

# token/ has the service at the top and a folder per provider (pcsc/, skf/).
# token/skf/host-main.c is the SKF helper's main; the rest of token/skf/ is
# the token layer's, shared by the daemon (host.c) and the helper (lib.c).
TOKEN_SRC  := $(filter-out token/skf/host-main.c,$(sort $(wildcard token/*.c token/*/*.c)))
TOKEN_OBJ  := $(TOKEN_SRC:%.c=$(BUILD)/%.o)
TOKEN_LIB  := $(BUILD)/libukeyd-token.a

# api/ has one folder per subsystem (docs/architecture.md); objects mirror it.
API_SRC    := $(sort $(wildcard api/*.c api/*/*.c))
API_OBJ    := $(API_SRC:%.c=$(BUILD)/%.o)
API_LIB    := $(BUILD)/libukeyd-api.a

DAEMON_SRC := $(wildcard daemon/*.c)
DAEMON_OBJ := $(filter-out $(BUILD)/daemon/main.o,$(DAEMON_SRC:%.c=$(BUILD)/%.o))
DAEMON_LIB := $(BUILD)/libukeyd-daemon.a
UKEYD      := $(BUILD)/ukeyd

VTOKEN_SRC := $(wildcard tests/vtoken/*.c)
VTOKEN_OBJ := $(VTOKEN_SRC:%.c=$(BUILD)/%.o)
VTOKEN     := $(BUILD)/vtoken

# The helper process that holds one vendor SKF library (docs/skf-helper.md).
SKF_HOST   := $(BUILD)/ukeyd-skf-host

# tests/skf-faulty: an SKF library that crashes, hangs or talks nonsense on
# command and otherwise forwards to the virtual SKF token; built three ways.
SKF_FAULTY_DIR := $(BUILD)/skf-faulty
SKF_FAULTY := $(SKF_FAULTY_DIR)/libskf-faulty.so $(SKF_FAULTY_DIR)/libskf-faulty-nowait.so \
              $(SKF_FAULTY_DIR)/libskf-faulty-noverify.so

# The virtual SKF token (tests/vskf/, docs/virtual-skf.md): a GM/T 0016 "SKF"
# library built once per ABI variant from one source, and its `vskf` CLI.
# Like vtoken it shares no code with token/.
VSKF_LIB_SRC := $(filter-out tests/vskf/cli.c,$(wildcard tests/vskf/*.c))
vskf_objs     = $(VSKF_LIB_SRC:tests/vskf/%.c=$(BUILD)/vskf/$(1)/%.o)
VSKF_LIBS    := $(BUILD)/vskf/libvskf.so $(BUILD)/vskf/libvskf-bool64.so \
                $(BUILD)/vskf/libvskf-nowait.so
VSKF_CLI     := $(BUILD)/vskf/vskf
VSKF_PIC     := -fPIC -fvisibility=hidden
VSKF_LDLIBS  := $(shell pkg-config --libs libcrypto zlib 2>/dev/null) -lpthread
VSKF_DEMO_STAMP := $(BUILD)/demo-skf/.stamp

# The reference CA unlock service (web-demo/ca-service): its own program, no
# code shared with ukeyd, so the protocol is read independently on each side.
CA_SRC     := $(wildcard web-demo/ca-service/*.c)
CA_OBJ     := $(filter-out $(BUILD)/web-demo/ca-service/main.o,$(CA_SRC:%.c=$(BUILD)/%.o))
CA_LIB     := $(BUILD)/libukey-ca.a
UKEY_CA    := $(BUILD)/ukey-ca

RIG_TOOLS_SRC := $(wildcard tests/rig/*.c)
RIG_TOOLS  := $(RIG_TOOLS_SRC:tests/rig/%.c=$(BUILD)/rig/%)

# Load and latency helpers of tests/test-faults.sh and make bench (tests/bench/).
BENCH_TOOLS_SRC := $(wildcard tests/bench/*.c)
BENCH_TOOLS := $(BENCH_TOOLS_SRC:tests/bench/%.c=$(BUILD)/bench/%)

# Every tests/test-<module>.c is one test program for <module>.
TEST_SRC   := $(wildcard tests/test-*.c)
TEST_BIN   := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

DEMO_DIR   := $(BUILD)/demo
DEMO_STAMP := $(DEMO_DIR)/.stamp

# Keep objects of test programs: they are not throw-away intermediates.
.SECONDARY:

.PHONY: all check check-run deps deps-test demo clean bench

all: $(TOKEN_LIB) $(API_LIB) $(if $(DAEMON_SRC),$(UKEYD)) $(SKF_HOST) $(SKF_FAULTY) $(VTOKEN) $(UKEY_CA) $(RIG_TOOLS) $(TEST_BIN) $(DEMO_STAMP) $(BENCH_TOOLS) \
     $(VSKF_LIBS) $(VSKF_CLI) $(VSKF_DEMO_STAMP)

deps:
	@build-aux/install-deps build

deps-test:
	@build-aux/install-deps test package

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(TOKEN_LIB): $(TOKEN_OBJ)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(API_LIB): $(API_OBJ)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(DAEMON_LIB): $(DAEMON_OBJ)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

# Where the daemon runs the SKF helper from unless skf-helper says otherwise:
# where `make install` puts it (LIBEXECDIR is set with the install paths below).
$(BUILD)/daemon/main.o: CFLAGS += -DUKEYD_SKF_HELPER='"$(LIBEXECDIR)/ukeyd/ukeyd-skf-host"'

$(UKEYD): $(BUILD)/daemon/main.o $(DAEMON_LIB) $(API_LIB) $(TOKEN_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Only what the helper needs: it must stay small beside the vendor's library.
$(SKF_HOST): $(BUILD)/token/skf/host-main.o $(TOKEN_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ -ldl -lpthread

$(SKF_FAULTY_DIR)/libskf-faulty.so: tests/skf-faulty/faulty.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fPIC -shared -o $@ $< $(LDFLAGS) -ldl -lpthread

$(SKF_FAULTY_DIR)/libskf-faulty-nowait.so: tests/skf-faulty/faulty.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DFAULTY_WITHOUT_EVENTS -DFAULTY_WITHOUT_REMOTE_UNBLOCK -fPIC -shared -o $@ $< \
	    $(LDFLAGS) -ldl -lpthread

$(SKF_FAULTY_DIR)/libskf-faulty-noverify.so: tests/skf-faulty/faulty.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DFAULTY_WITHOUT_VERIFY_PIN -fPIC -shared -o $@ $< $(LDFLAGS) -ldl -lpthread

# The virtual token is the other side of the wire: it shares no code with
# token/, so a misreading of the spec cannot hide on both sides at once.
$(VTOKEN): $(VTOKEN_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The SKF library variants: standard (BOOL 32 bits), BOOL 64 bits, and one
# without SKF_WaitForDevEvent/SKF_CancelWaitForDevEvent.
$(BUILD)/vskf/std/%.o: tests/vskf/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(VSKF_PIC) -c -o $@ $<

$(BUILD)/vskf/bool64/%.o: tests/vskf/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(VSKF_PIC) -DVSKF_BOOL_BITS=64 -c -o $@ $<

$(BUILD)/vskf/nowait/%.o: tests/vskf/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(VSKF_PIC) -DVSKF_NO_WAIT_EVENT -c -o $@ $<

$(BUILD)/vskf/libvskf.so: $(call vskf_objs,std)
	$(CC) $(LDFLAGS) -shared -o $@ $^ $(VSKF_LDLIBS)

$(BUILD)/vskf/libvskf-bool64.so: $(call vskf_objs,bool64)
	$(CC) $(LDFLAGS) -shared -o $@ $^ $(VSKF_LDLIBS)

$(BUILD)/vskf/libvskf-nowait.so: $(call vskf_objs,nowait)
	$(CC) $(LDFLAGS) -shared -o $@ $^ $(VSKF_LDLIBS)

$(VSKF_CLI): $(BUILD)/vskf/std/cli.o $(call vskf_objs,std)
	$(CC) $(LDFLAGS) -o $@ $^ $(VSKF_LDLIBS)

# The demo SKF token, its certificates issued by the demo SM2 CA.
$(VSKF_DEMO_STAMP): tests/vskf/make-demo-skf $(VSKF_CLI) $(DEMO_STAMP)
	tests/vskf/make-demo-skf $(VSKF_CLI) $(DEMO_DIR) $(@D)
	@touch $@

$(CA_LIB): $(CA_OBJ)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(UKEY_CA): $(BUILD)/web-demo/ca-service/main.o $(CA_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests of the CA service (tests/test-ca-*.c) link its modules only.
$(BUILD)/tests/test-ca-%: $(BUILD)/tests/test-ca-%.o $(CA_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/rig/%: $(BUILD)/tests/rig/%.o $(TOKEN_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# skf-bench drives token/skf/ (the helper's supervisor and the library in process).
$(BUILD)/bench/%: $(BUILD)/tests/bench/%.o $(TOKEN_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -ldl

# A test of a token/ module links the token layer alone, so it builds and runs
# whatever state the layers above are in; the others link every layer.
# test-piv tests token/pcsc/piv.c; test-skf_wire tests token/skf/wire.c.
.SECONDEXPANSION:
$(BUILD)/tests/test-%: $(BUILD)/tests/test-%.o \
        $$(if $$(wildcard token/$$*.c token/*/$$*.c token/$$(subst _,/,$$*).c),,$(DAEMON_LIB) $(API_LIB)) \
        $(TOKEN_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Demo and test tokens: certificates made fresh by OpenSSL, never committed.
$(DEMO_STAMP): tests/vtoken/make-demo-tokens $(VTOKEN)
	tests/vtoken/make-demo-tokens $(VTOKEN) $(DEMO_DIR)
	@touch $@

# `make check SAN=1` (or SAN=0) runs one pass; plain `make check` runs both.
ifeq ($(origin SAN),command line)
CHECK_PASSES := $(SAN)
else
CHECK_PASSES := 0 1
endif

check: deps-test
	@for s in $(CHECK_PASSES); do \
	    $(MAKE) --no-print-directory check-run SAN=$$s || exit 1; \
	done

check-run: all
	tests/run-tests $(BUILD)

# The whole product on this machine (web-demo/run-demo): installs what is
# missing, builds, then runs pcscd + virtual tokens, the reference CA service
# serving the demo portal, and ukeyd, until Ctrl-C. exec: no shell stands
# between make and run-demo for Ctrl-C to kill (make would say "Interrupt").
demo:
	@UKEYD_BUILD=$(BUILD) exec web-demo/run-demo

# --- installing ------------------------------------------------------------
#
#   make install [DESTDIR=…] [PREFIX=/usr/local] [SYSCONFDIR=/etc]
#   make uninstall (same variables)
#
# The daemon alone is built (`make daemon`); tests and the demo are not
# installed. debian/rules uses the same targets with PREFIX=/usr.

.PHONY: daemon install uninstall

daemon: $(UKEYD) $(SKF_HOST)

PREFIX         ?= /usr/local
SBINDIR        ?= $(PREFIX)/sbin
LIBEXECDIR     ?= $(PREFIX)/libexec
SYSCONFDIR     ?= /etc
DATADIR        ?= $(PREFIX)/share
MANDIR         ?= $(DATADIR)/man
DOCDIR         ?= $(DATADIR)/doc/ukeyd
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
ifeq ($(PREFIX),/usr)
SYSUSERSDIR    ?= /usr/lib/sysusers.d
TMPFILESDIR    ?= /usr/lib/tmpfiles.d
POLKITRULESDIR ?= /usr/share/polkit-1/rules.d
else
# systemd-sysusers, systemd-tmpfiles and polkitd never look under /usr/local.
SYSUSERSDIR    ?= $(SYSCONFDIR)/sysusers.d
TMPFILESDIR    ?= $(SYSCONFDIR)/tmpfiles.d
POLKITRULESDIR ?= $(SYSCONFDIR)/polkit-1/rules.d
endif
# ukeyd reads this path when started without --config (daemon/config.h).
UKEYD_CONF     := $(SYSCONFDIR)/ukeyd/ukeyd.conf
INSTALL_DOCS   := README.md docs/api.md docs/configuration.md docs/portal-guide.md \
                  docs/support.md docs/unlock-protocol.md docs/openapi.yaml \
                  docs/ukeyd.conf.example
INSTALL_EXAMPLES := web-demo/portal/ukeyd-client.js

# The unit in systemd/ names /usr/sbin/ukeyd (what the .deb installs); another
# SBINDIR is written into the installed copy.
install: $(UKEYD) $(SKF_HOST)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBEXECDIR)/ukeyd \
	    $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
	    $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(POLKITRULESDIR) $(DESTDIR)$(SYSCONFDIR)/ukeyd \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR)/examples
	install -m 0755 $(UKEYD) $(DESTDIR)$(SBINDIR)/ukeyd
	install -m 0755 $(SKF_HOST) $(DESTDIR)$(LIBEXECDIR)/ukeyd/ukeyd-skf-host
	sed 's|/usr/sbin/ukeyd|$(SBINDIR)/ukeyd|g' systemd/ukeyd.service >$(BUILD)/ukeyd.service
	install -m 0644 $(BUILD)/ukeyd.service systemd/ukeyd.socket $(DESTDIR)$(SYSTEMDUNITDIR)/
	install -m 0644 systemd/ukeyd.sysusers $(DESTDIR)$(SYSUSERSDIR)/ukeyd.conf
	install -m 0644 systemd/ukeyd.tmpfiles $(DESTDIR)$(TMPFILESDIR)/ukeyd.conf
	install -m 0644 systemd/ukeyd.polkit.rules $(DESTDIR)$(POLKITRULESDIR)/ukeyd.rules
	install -m 0644 man/ukeyd.8 $(DESTDIR)$(MANDIR)/man8/ukeyd.8
	install -m 0644 man/ukeyd.conf.5 $(DESTDIR)$(MANDIR)/man5/ukeyd.conf.5
	install -m 0644 $(INSTALL_DOCS) $(DESTDIR)$(DOCDIR)/
	install -m 0644 $(INSTALL_EXAMPLES) $(DESTDIR)$(DOCDIR)/examples/
	@# An administrator's configuration survives every later install.
	@if [ -e $(DESTDIR)$(UKEYD_CONF) ]; then \
	    echo "install: keeping $(DESTDIR)$(UKEYD_CONF) (the default is $(DOCDIR)/ukeyd.conf.example)"; \
	else \
	    echo "install -m 0644 docs/ukeyd.conf.example $(DESTDIR)$(UKEYD_CONF)"; \
	    install -m 0644 docs/ukeyd.conf.example $(DESTDIR)$(UKEYD_CONF); \
	fi
	@if [ -z "$(DESTDIR)" ]; then \
	    echo "install: next, as root: systemd-sysusers $(SYSUSERSDIR)/ukeyd.conf;" \
	         "systemd-tmpfiles --create $(TMPFILESDIR)/ukeyd.conf;" \
	         "systemctl daemon-reload; systemctl enable --now ukeyd.socket"; \
	fi

# Leaves the configuration when it differs from the default: it is the
# administrator's. The ukeyd user and /var/lib/ukeyd are left too.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/ukeyd $(DESTDIR)$(LIBEXECDIR)/ukeyd/ukeyd-skf-host \
	    $(DESTDIR)$(SYSTEMDUNITDIR)/ukeyd.service $(DESTDIR)$(SYSTEMDUNITDIR)/ukeyd.socket \
	    $(DESTDIR)$(SYSUSERSDIR)/ukeyd.conf $(DESTDIR)$(TMPFILESDIR)/ukeyd.conf \
	    $(DESTDIR)$(POLKITRULESDIR)/ukeyd.rules \
	    $(DESTDIR)$(MANDIR)/man8/ukeyd.8 $(DESTDIR)$(MANDIR)/man5/ukeyd.conf.5 \
	    $(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(INSTALL_DOCS))) \
	    $(addprefix $(DESTDIR)$(DOCDIR)/examples/,$(notdir $(INSTALL_EXAMPLES)))
	rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null || true
	rmdir $(DESTDIR)$(LIBEXECDIR)/ukeyd 2>/dev/null || true
	@if cmp -s docs/ukeyd.conf.example $(DESTDIR)$(UKEYD_CONF); then \
	    echo "rm -f $(DESTDIR)$(UKEYD_CONF)"; rm -f $(DESTDIR)$(UKEYD_CONF); \
	    rmdir $(DESTDIR)$(SYSCONFDIR)/ukeyd 2>/dev/null || true; \
	elif [ -e $(DESTDIR)$(UKEYD_CONF) ]; then \
	    echo "uninstall: keeping $(DESTDIR)$(UKEYD_CONF): it was changed"; \
	fi

# --- fuzzing, benchmarks, soak (tests/fuzz/, tests/bench/, docs/performance.md)
#
#   make fuzz [FUZZ_SECONDS=N]   each libFuzzer target for N seconds (default 60)
#   make fuzz-build              only build them (clang, ASan+UBSan, in build-fuzz/)
#   make bench                   figures beside nginx and OpenSC; never pass/fail
#   make soak [SOAK_SECONDS=N]   tests/test-faults.sh with its 256-connection run
#                                lasting N seconds (default 60; make check: 20)

.PHONY: fuzz fuzz-build deps-bench soak

FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
SOAK_SECONDS ?= 60

fuzz-build:
	@$(MAKE) --no-print-directory -f tests/fuzz/fuzz.mk FUZZ_BUILD=$(FUZZ_BUILD) \
	    VERSION=$(VERSION) PKG_CFLAGS='$(PKG_CFLAGS)' PKG_LIBS='$(PKG_LIBS)'

fuzz: deps-test fuzz-build
	tests/fuzz/run-fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS)

deps-bench:
	@build-aux/install-deps bench

bench: deps-test deps-bench all
	tests/bench/run-bench $(BUILD)

soak: deps-test all
	FAULTS_SOAK_SECONDS=$(SOAK_SECONDS) tests/run-tests $(BUILD) faults

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
