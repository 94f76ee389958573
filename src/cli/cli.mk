# The oie command-line tool: build/oie.  Included by the top-level Makefile,
# which defines BUILD and BUILD_TARGETS; paths are relative to the repo root.

OIE_VERSION_STR := $(shell cat VERSION 2>/dev/null || echo unknown)

CLI_SRCS  := $(wildcard src/cli/*.c)
CLI_HDRS  := $(wildcard src/cli/*.h)
CLI_PURE  := src/oie_id.c src/oie_csv.c src/oie_flatjson.c src/oie_jwt.c \
             src/oie_proc.c
CLI_CFLAGS := -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -Isrc \
              -Isrc/cli -DOIE_VERSION='"$(OIE_VERSION_STR)"'
CLI_LIBS  := -lhiredis -lcrypto -ljansson -lcurl

ifeq ($(SAN),1)
CLI_CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all \
              -fno-omit-frame-pointer -g
endif

BUILD_TARGETS += $(BUILD)/oie

$(BUILD)/oie: $(CLI_SRCS) $(CLI_HDRS) $(CLI_PURE) $(CLI_PURE:.c=.h) VERSION \
              src/cli/cli.mk
	@mkdir -p $(dir $@)
	$(CC) $(CLI_CFLAGS) -o $@ $(CLI_SRCS) $(CLI_PURE) $(CLI_LIBS)
