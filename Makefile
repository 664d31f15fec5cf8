# ukeyd — top-level build.
#
#   make              build everything (warnings are errors)
#   make check        install what is missing, build, run every test, then the
#                     same again under AddressSanitizer + UndefinedBehaviorSanitizer
#   make check SAN=1  only the sanitizer pass
#   make demo         the whole product on this machine, with a virtual token
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

WARNFLAGS := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wmissing-prototypes \
             -Wstrict-prototypes -Wvla -Wpointer-arith -Wundef
CFLAGS    ?=
CFLAGS    += -std=gnu11 $(OPTFLAGS) $(WARNFLAGS) -fno-common -D_GNU_SOURCE \
             -DUKEYD_VERSION='"$(VERSION)"' -I. $(PKG_CFLAGS) -MMD -MP
LDFLAGS   += $(OPTFLAGS)
LDLIBS    += $(PKG_LIBS) -lpthread

TOKEN_SRC  := $(wildcard token/*.c)
TOKEN_OBJ  := $(TOKEN_SRC:%.c=$(BUILD)/%.o)
TOKEN_LIB  := $(BUILD)/libukeyd-token.a

API_SRC    := $(wildcard api/*.c)
API_OBJ    := $(API_SRC:%.c=$(BUILD)/%.o)
API_LIB    := $(BUILD)/libukeyd-api.a

DAEMON_SRC := $(wildcard daemon/*.c)
DAEMON_OBJ := $(filter-out $(BUILD)/daemon/main.o,$(DAEMON_SRC:%.c=$(BUILD)/%.o))
DAEMON_LIB := $(BUILD)/libukeyd-daemon.a
UKEYD      := $(BUILD)/ukeyd

VTOKEN_SRC := $(wildcard tests/vtoken/*.c)
VTOKEN_OBJ := $(VTOKEN_SRC:%.c=$(BUILD)/%.o)
VTOKEN     := $(BUILD)/vtoken

# The reference CA unlock service (web-demo/ca-service): its own program, no
# code shared with ukeyd, so the protocol is read independently on each side.
CA_SRC     := $(wildcard web-demo/ca-service/*.c)
CA_OBJ     := $(filter-out $(BUILD)/web-demo/ca-service/main.o,$(CA_SRC:%.c=$(BUILD)/%.o))
CA_LIB     := $(BUILD)/libukey-ca.a
UKEY_CA    := $(BUILD)/ukey-ca

RIG_TOOLS_SRC := $(wildcard tests/rig/*.c)
RIG_TOOLS  := $(RIG_TOOLS_SRC:tests/rig/%.c=$(BUILD)/rig/%)

# Every tests/test-<module>.c is one test program for <module>.
TEST_SRC   := $(wildcard tests/test-*.c)
TEST_BIN   := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

DEMO_DIR   := $(BUILD)/demo
DEMO_STAMP := $(DEMO_DIR)/.stamp

# Keep objects of test programs: they are not throw-away intermediates.
.SECONDARY:

.PHONY: all check check-run deps deps-test demo clean bench

all: $(TOKEN_LIB) $(API_LIB) $(if $(DAEMON_SRC),$(UKEYD)) $(VTOKEN) $(UKEY_CA) $(RIG_TOOLS) $(TEST_BIN) $(DEMO_STAMP)

deps:
	@build-aux/install-deps build

deps-test:
	@build-aux/install-deps test

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

$(UKEYD): $(BUILD)/daemon/main.o $(DAEMON_LIB) $(API_LIB) $(TOKEN_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The virtual token is the other side of the wire: it shares no code with
# token/, so a misreading of the spec cannot hide on both sides at once.
$(VTOKEN): $(VTOKEN_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

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

# A test of a token/ module links the token layer alone, so it builds and runs
# whatever state the layers above are in; the others link every layer.
.SECONDEXPANSION:
$(BUILD)/tests/test-%: $(BUILD)/tests/test-%.o \
        $$(if $$(wildcard token/$$*.c),,$(DAEMON_LIB) $(API_LIB)) $(TOKEN_LIB)
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

clean:
	rm -rf build build-san

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
