# tests/fuzz/fuzz.mk — libFuzzer targets, built by clang with AddressSanitizer
# and UndefinedBehaviorSanitizer. Run from the top directory through the main
# Makefile (`make fuzz-build`, `make fuzz FUZZ_SECONDS=N`), which passes the
# pkg-config flags down so the two builds never disagree on libraries.
#
# Every tests/fuzz/fuzz-<name>.c is one target: $(FUZZ_BUILD)/fuzz-<name>.
# The project's code is compiled with -fsanitize=fuzzer-no-link (coverage
# only); each target links libFuzzer's main with -fsanitize=fuzzer.

FUZZ_BUILD ?= build-fuzz
FUZZ_CC    ?= clang
VERSION    ?= 0.0.0

SANFLAGS   := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# The project's code gets its -Werror from the gcc builds; clang warns about
# some things gcc does not (system header macros such as NLMSG_OK), which must
# not stop the fuzzers from building. The fuzz targets themselves are only
# ever built here, so for them warnings are errors.
WARNFLAGS  := -Wall -Wextra -Wshadow -Wformat=2 -Wmissing-prototypes \
              -Wstrict-prototypes -Wvla -Wpointer-arith -Wundef
FUZZ_CFLAGS := -std=gnu11 -O1 -g $(SANFLAGS) $(WARNFLAGS) -fno-common -D_GNU_SOURCE \
               -DUKEYD_VERSION='"$(VERSION)"' -I. $(PKG_CFLAGS) -MMD -MP

# FUZZ_EXCLUDE: sources to leave out, e.g. one that is half written.
LIB_SRC    := $(filter-out daemon/main.c token/skf/host-main.c $(FUZZ_EXCLUDE),\
                $(wildcard token/*.c token/*/*.c) $(wildcard api/*.c api/*/*.c) \
                $(wildcard daemon/*.c))
LIB_OBJ    := $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
LIB        := $(FUZZ_BUILD)/libukeyd-fuzz.a

# The virtual token's card code, for make-piv-seeds (it records what the
# virtual token answers, as seeds for fuzz-piv).
# Every file but the program's own: its main, the control socket, the vpcd link.
VT_SRC     := $(filter-out $(addprefix tests/vtoken/,main.c control.c provision.c run.c vpcd.c), \
                           $(wildcard tests/vtoken/*.c))
VT_OBJ     := $(VT_SRC:%.c=$(FUZZ_BUILD)/%.o)
$(FUZZ_BUILD)/tests/fuzz/%.o: FUZZ_CFLAGS += -Werror
# Its log helpers pass a va_list format on, which clang (unlike gcc) flags.
$(VT_OBJ): FUZZ_CFLAGS += -Wno-format-nonliteral

TARGET_SRC := $(wildcard tests/fuzz/fuzz-*.c)
TARGETS    := $(TARGET_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
SEED_TOOL  := $(FUZZ_BUILD)/make-piv-seeds

.PHONY: all
.SECONDARY:

all: $(TARGETS) $(SEED_TOOL)

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(LIB): $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_BUILD)/fuzz-%: $(FUZZ_BUILD)/tests/fuzz/fuzz-%.o $(LIB)
	$(FUZZ_CC) $(SANFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS) -lpthread

$(SEED_TOOL): $(FUZZ_BUILD)/tests/fuzz/make-piv-seeds.o $(VT_OBJ) $(LIB)
	$(FUZZ_CC) $(SANFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)
