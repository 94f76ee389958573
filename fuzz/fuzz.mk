# libFuzzer harnesses (clang), the soak run.  Included by the top-level
# Makefile; also usable alone: make -f fuzz/fuzz.mk fuzz-build.
#
#   make fuzz          each harness for FUZZ_SECONDS (default 60) in turn
#   make fuzz-smoke    each over its seeds and regressions, then seconds
#   make soak          the module under steady mixed load (SOAK_SECONDS)
#
# Nothing here is added to BUILD_TARGETS: plain "make" needs no clang.

BUILD          ?= $(abspath build)
FUZZ_CC        ?= clang
FUZZ_DIR       := $(BUILD)/fuzz
FUZZ_SAN       := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
                  -fno-sanitize-recover=all
FUZZ_LIBS      := -ljansson -lcrypto -lm

# a harness for a file that has not landed yet is left out
FUZZ_SRCS      := $(wildcard fuzz/fuzz_*.c)
ifeq ($(wildcard src/oie_event.c),)
FUZZ_SRCS      := $(filter-out fuzz/fuzz_event.c,$(FUZZ_SRCS))
endif
FUZZ_BINS      := $(patsubst fuzz/%.c,$(FUZZ_DIR)/%,$(FUZZ_SRCS))
# the pure C files, and those of the CLI (what a spool line holds)
FUZZ_LIB_OBJS  := $(patsubst src/%.c,$(FUZZ_DIR)/obj/%.o,\
                    $(wildcard src/oie_*.c) src/cli/oie_spoolline.c)

.PHONY: fuzz fuzz-build fuzz-smoke soak

fuzz-build: $(FUZZ_BINS)

fuzz:
	@scripts/fuzz.sh run

fuzz-smoke:
	@scripts/fuzz.sh smoke

# the module first, when included by the top-level Makefile
soak: $(MODULE)
	@scripts/soak.sh

$(FUZZ_DIR)/obj/%.o: src/%.c $(wildcard src/oie_*.h src/cli/oie_*.h)
	@mkdir -p $(dir $@)
	@$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -Isrc -c -o $@ $<

$(FUZZ_DIR)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_util.h $(FUZZ_LIB_OBJS)
	@mkdir -p $(dir $@)
	@$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -Isrc -Isrc/cli -Ifuzz -o $@ $< \
	    $(FUZZ_LIB_OBJS) $(FUZZ_LIBS)
	@echo "built $@"
