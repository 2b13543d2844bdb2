# C unit tests: every t/unit/test_*.c is a program printing TAP, linked
# with the project's units (UNIT_SRCS) and nginx's own pool, string and
# array code from nginx's upstream sources (tools/nginx-source.sh: nginx-dev
# has headers only).  Run from the repository root:
#
#   make -f t/unit/unit.mk [NGX_BUILD=.build/nginx] [SANITIZE=address]
#                          [VALGRIND=1]
#
# Targets: test (the default: build and run them all), build, clean.

ROOT ?= $(CURDIR)
NGX_BUILD ?= $(ROOT)/.build/nginx
NGX_FULL ?= $(ROOT)/.build/nginx-source
OUT := $(ROOT)/.build/unit$(if $(SANITIZE),-$(SANITIZE))

UNIT_SRCS := src/ngx_http_backend_json.c src/ngx_http_backend_pg_types.c \
             src/ngx_http_backend_jwt.c \
             src/ngx_http_backend_schema.c \
             src/ngx_http_backend_schema_check.c \
             src/ngx_http_backend_schema_zod.c
NGX_SRCS := src/core/ngx_palloc.c src/core/ngx_string.c \
            src/core/ngx_array.c src/core/ngx_list.c src/os/unix/ngx_alloc.c
STUBS := t/unit/ngx_unit_stubs.c

TESTS := $(patsubst t/unit/%.c,$(OUT)/%,$(wildcard t/unit/test_*.c))

CFLAGS := -g -O1 -Wall -Wextra -Wno-unused-parameter -Werror \
          $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer)
INCS := -I$(NGX_FULL)/src/core -I$(NGX_FULL)/src/event \
        -I$(NGX_FULL)/src/event/modules -I$(NGX_FULL)/src/os/unix \
        -I$(NGX_FULL)/src/http -I$(NGX_FULL)/src/http/modules \
        -I$(NGX_FULL)/src/http/v2 -I$(NGX_BUILD) \
        -I/usr/include/postgresql -I$(ROOT)/src
LIBS := -lpq -lyajl -lpcre2-8 -lcrypto -lm

RUN := $(if $(VALGRIND),valgrind -q --error-exitcode=99 --leak-check=full)

.PHONY: test build clean

test: build
	@failed=0; \
	for t in $(TESTS); do \
	    echo "# $$(basename $$t)"; \
	    $(RUN) $$t || { echo "# $$(basename $$t): FAILED"; failed=1; }; \
	done; \
	if [ $$failed = 0 ]; then echo "# unit: all passed"; fi; \
	exit $$failed

build: $(TESTS)

$(NGX_FULL)/src/core/ngx_palloc.c:
	$(ROOT)/tools/nginx-source.sh $(NGX_FULL)

$(NGX_BUILD)/ngx_auto_config.h:
	@echo "unit: no $@: run make build first" >&2; exit 1

$(OUT)/%: t/unit/%.c $(UNIT_SRCS) $(STUBS) $(wildcard src/*.h) \
          $(NGX_FULL)/src/core/ngx_palloc.c $(NGX_BUILD)/ngx_auto_config.h
	@mkdir -p $(OUT)
	$(CC) $(CFLAGS) $(INCS) -o $@ $< $(UNIT_SRCS) $(STUBS) \
	    $(addprefix $(NGX_FULL)/,$(NGX_SRCS)) $(LIBS)

clean:
	rm -rf $(OUT)


# fuzz: libFuzzer (clang, ASan, UBSan) over the JSON parser, the schema
# compiler and the validator, for FUZZ_SECONDS; seeds in t/fuzz/corpus,
# what it finds in .build/fuzz/corpus, crashes in .build/fuzz/

FUZZ_SECONDS ?= 60
FUZZ_OUT := $(ROOT)/.build/fuzz

.PHONY: fuzz

fuzz: $(FUZZ_OUT)/fuzz_schema
	@mkdir -p $(FUZZ_OUT)/corpus
	cd $(FUZZ_OUT) && ./fuzz_schema -max_total_time=$(FUZZ_SECONDS) \
	    -max_len=4096 -timeout=10 -print_final_stats=1 \
	    corpus $(ROOT)/t/fuzz/corpus

$(FUZZ_OUT)/fuzz_schema: t/fuzz/fuzz_schema.c $(UNIT_SRCS) $(STUBS) \
                         $(wildcard src/*.h) \
                         $(NGX_FULL)/src/core/ngx_palloc.c \
                         $(NGX_BUILD)/ngx_auto_config.h
	@mkdir -p $(FUZZ_OUT)
	clang -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined $(INCS) -o $@ $< $(UNIT_SRCS) \
	    $(STUBS) $(addprefix $(NGX_FULL)/,$(NGX_SRCS)) $(LIBS)
