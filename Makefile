# Outbound Intent Engine: build, run, test, bench.
#
#   make        the module (build/ngx_http_oie_module.so), the CLI, the pixel
#   make run    demo on 127.0.0.1:8080 (embedded default: NDJSON files)
#   make test   every suite; ends with "N passed, N failed"
#   make test SAN=1
#               the same with ASan+UBSan: module, CLI and unit tests built
#               into build-san/ (its own nginx tree), any report fails
#   make bench  wrk against /t and a plain "return 204" in the same nginx

SHELL       := /bin/bash
ROOT        := $(abspath .)
# SAN=1 builds apart, so that the two builds never replace (or load) each
# other's outputs: make test and make test SAN=1 can alternate
ifeq ($(SAN),1)
BUILD       := $(ROOT)/build-san
else
BUILD       := $(ROOT)/build
endif
NGX_SRC     ?= /usr/share/nginx/src
NGX_BUILD   := $(BUILD)/nginx
NDK_SO      ?= /usr/lib/nginx/modules/ndk_http_module.so
MODULE      := $(BUILD)/ngx_http_oie_module.so
DEPS_STAMP  := $(BUILD)/.deps-installed
CFLAGS_OIE  := -O2 -fno-semantic-interposition -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
               -Wno-sign-compare
# a UBSan report stops the process, as an ASan one does
SANITIZE    := -fsanitize=address,undefined -fno-sanitize-recover=all \
               -fno-omit-frame-pointer
ifeq ($(SAN),1)
CFLAGS_OIE  += $(SANITIZE)
LDFLAGS_OIE := $(SANITIZE)
UNIT_SAN    := $(SANITIZE)
endif

MODULE_SRCS := $(wildcard src/*.c src/*.h) config
PURE_SRCS   := $(wildcard src/oie_*.c)
UNIT_SRCS   := $(wildcard t/unit/test_*.c)
UNIT_BINS   := $(patsubst t/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRCS))

BUILD_TARGETS := $(MODULE)

# the fragments below define targets of their own: plain make is make all
.DEFAULT_GOAL := all

-include src/cli/cli.mk
-include pixel/pixel.mk
-include sql/sql.mk
-include t/bqstub/bqstub.mk
-include fuzz/fuzz.mk

.PHONY: all deps module unit run test bench clean
all: deps
	@$(MAKE) --no-print-directory build-all

build-all: $(BUILD_TARGETS)

deps: $(DEPS_STAMP)

$(DEPS_STAMP): scripts/install-deps.sh
	@scripts/install-deps.sh
	@mkdir -p $(BUILD) && touch $@

module: $(MODULE)

# nginx's configure runs once (it is slow); a changed addon script or a new
# or removed source file reruns it.
MODULE_FILES := $(sort $(wildcard src/ngx_http_oie_*.c src/oie_*.c))
SRC_LIST     := $(BUILD)/.module-files

$(SRC_LIST): FORCE
	@mkdir -p $(BUILD)
	@echo "$(MODULE_FILES)" | cmp -s - $@ || echo "$(MODULE_FILES)" > $@

# so do changed compiler flags (the unit tests are rebuilt)
FLAGS_LIST   := $(BUILD)/.flags
FLAGS        := $(CFLAGS_OIE) | $(LDFLAGS_OIE) | $(UNIT_SAN)

$(FLAGS_LIST): FORCE
	@mkdir -p $(BUILD)
	@echo "$(FLAGS)" | cmp -s - $@ || echo "$(FLAGS)" > $@

FORCE:

$(NGX_BUILD)/objs/Makefile: config $(SRC_LIST) $(FLAGS_LIST)
	@rm -rf $(NGX_BUILD) && mkdir -p $(BUILD)
	@cp -r $(NGX_SRC) $(NGX_BUILD)
	@cd $(NGX_BUILD) && source ./conf_flags && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --with-cc-opt="$(CFLAGS_OIE)" --with-ld-opt="$(LDFLAGS_OIE)" \
	        --add-dynamic-module=$(ROOT) > $(BUILD)/configure.log 2>&1 || \
	    { tail -20 $(BUILD)/configure.log; exit 1; }

$(MODULE): $(NGX_BUILD)/objs/Makefile $(MODULE_SRCS)
	@$(MAKE) --no-print-directory -C $(NGX_BUILD) -f objs/Makefile modules \
	    > $(BUILD)/module.log 2>&1 || { cat $(BUILD)/module.log; exit 1; }
	@# a new file, renamed over the old: a running nginx keeps its mapping
	@# (cp would rewrite the loaded file in place and crash its workers)
	@cp $(NGX_BUILD)/objs/ngx_http_oie_module.so $@.tmp && mv -f $@.tmp $@
	@echo "built $@"

# C unit tests for the pure parts: each prints TAP.
unit: $(UNIT_BINS)

$(BUILD)/unit/%: t/unit/%.c $(PURE_SRCS) $(wildcard src/oie_*.h) $(FLAGS_LIST)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -g -O1 -Wall -Wextra -Werror -Isrc -It/unit \
	    $(UNIT_SAN) \
	    -o $@ $< $(PURE_SRCS) -lcrypto -ljansson -lm -lpthread

run: all
	@OIE_BUILD_DIR=$(BUILD) scripts/run-demo.sh

test: all unit
	@OIE_BUILD_DIR=$(BUILD) SAN=$(SAN) scripts/run-tests.sh

bench: all
	@scripts/bench.sh

clean:
	rm -rf $(ROOT)/build $(ROOT)/build-san t/servroot*
