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
             src/ngx_http_backend_schema_zod.c src/ngx_http_backend_svix.c \
             src/ngx_http_backend_superjson.c \
             src/ngx_http_backend_adapter_policy.c
NGX_SRCS := src/core/ngx_palloc.c src/core/ngx_string.c src/http/ngx_http_parse.c \
            src/core/ngx_array.c src/core/ngx_list.c src/os/unix/ngx_alloc.c \
            src/core/ngx_parse_time.c
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


# fuzz: libFuzzer (clang, ASan, UBSan), every t/fuzz/fuzz_<name>.c for
# FUZZ_SECONDS each (60); seeds in t/fuzz/corpus/<name>, what it finds in
# .build/fuzz/corpus/<name>, crashes as .build/fuzz/crash-<name>-*.  All
# targets run; the make fails if any crashed.  FUZZ_TARGETS="jwt svix"
# runs only these.

FUZZ_SECONDS ?= 60
FUZZ_OUT := $(ROOT)/.build/fuzz
FUZZ_ALL := $(patsubst t/fuzz/fuzz_%.c,%,$(wildcard t/fuzz/fuzz_*.c))
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_BINS := $(addprefix $(FUZZ_OUT)/fuzz_,$(FUZZ_TARGETS))

.PHONY: fuzz fuzz-build

fuzz: $(FUZZ_BINS)
	@failed=""; \
	for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_OUT)/corpus/$$t; \
	    echo "# fuzz_$$t: $(FUZZ_SECONDS) s"; \
	    ( cd $(FUZZ_OUT) && \
	      ./fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	        -artifact_prefix=$(FUZZ_OUT)/crash-$$t- \
	        corpus/$$t $(ROOT)/t/fuzz/corpus/$$t ) \
	      > $(FUZZ_OUT)/fuzz_$$t.log 2>&1 \
	    || { failed="$$failed $$t"; tail -n 60 $(FUZZ_OUT)/fuzz_$$t.log; }; \
	    grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+.*DONE' \
	        $(FUZZ_OUT)/fuzz_$$t.log | sed "s/^/# fuzz_$$t: /"; \
	done; \
	if [ -n "$$failed" ]; then \
	    echo "# fuzz: FAILED:$$failed (logs: $(FUZZ_OUT)/fuzz_*.log)"; \
	    exit 1; \
	fi; \
	echo "# fuzz: no crashes"

fuzz-build: $(FUZZ_BINS)

$(FUZZ_OUT)/fuzz_%: t/fuzz/fuzz_%.c $(UNIT_SRCS) $(STUBS) \
                    $(wildcard src/*.h) \
                    $(NGX_FULL)/src/core/ngx_palloc.c \
                    $(NGX_BUILD)/ngx_auto_config.h
	@mkdir -p $(FUZZ_OUT)
	clang -g -O1 -fsanitize=fuzzer,address,undefined $(FUZZ_CFLAGS) \
	    -DFUZZ_FIXTURES='"$(ROOT)/t/unit/fixtures/"' \
	    -fno-sanitize-recover=undefined $(INCS) -o $@ $< $(UNIT_SRCS) \
	    $(STUBS) $(addprefix $(NGX_FULL)/,$(NGX_SRCS)) $(LIBS) $(FUZZ_LDFLAGS)

# fuzz_trpc compiles rpc.c in, for its static parsing functions; what of
# rpc.c needs the rest of the module is never called, and left unresolved
$(FUZZ_OUT)/fuzz_trpc: src/ngx_http_backend_rpc.c
$(FUZZ_OUT)/fuzz_trpc: FUZZ_LDFLAGS := -no-pie -Wl,--unresolved-symbols=ignore-all
