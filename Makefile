# ngx_backend: build, check, run and test (GNU make, Debian bookworm).
#
#   make run     deps + build, then Postgres, Redis and nginx under .run/
#   make test    deps + build, then every test suite against a throwaway
#                Postgres and Redis; last line "N passed, N failed"
#   make build   .build/nginx/ngx_http_backend_module.so
#   make check   build + lint
#   make image   the container image (docker/Dockerfile) with buildah;
#                make image-test smoke-tests it (slow, not in make test)
#
# The module is built out of tree against Debian's nginx (package
# nginx-dev, sources in /usr/share/nginx/src), the way Debian builds its own
# nginx modules (Debhelper's nginx_mod build system): nginx's configure
# with Debian's flags (conf_flags, dpkg-buildflags) and
# --add-dynamic-module, then "make modules".  So the .so loads into
# /usr/sbin/nginx of the same nginx package.
#
# make test SANITIZE=address builds with AddressSanitizer into
# .build/nginx-asan.  Debian's /usr/sbin/nginx is not built with ASan, so
# the runtime must come first in the process: tools/test.sh then runs
# nginx through a wrapper that sets
#     LD_PRELOAD=$(gcc -print-file-name=libasan.so)
#     ASAN_OPTIONS=detect_leaks=0    (nginx frees its pools at exit only
#                                     partly; leak reports would be noise)
# and hands that wrapper to Test::Nginx as TEST_NGINX_BINARY.  Do the same
# by hand to run such a module elsewhere.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build
.DELETE_ON_ERROR:

ROOT := $(CURDIR)
NGX_SRC := /usr/share/nginx/src
SRC_COPY := .build/src

SANITIZE ?=
ifeq ($(SANITIZE),)
BUILD_DIR := .build/nginx
SAN_FLAGS :=
else ifeq ($(SANITIZE),address)
BUILD_DIR := .build/nginx-asan
SAN_FLAGS := -fsanitize=address -fno-omit-frame-pointer
else
$(error SANITIZE must be empty or "address")
endif

MODULE := $(ROOT)/$(BUILD_DIR)/ngx_http_backend_module.so

# Debian's hardening flags, as Debian's own module packages get them
DPKG_CFLAGS := $(shell dpkg-buildflags --get CFLAGS 2>/dev/null)
DPKG_CPPFLAGS := $(shell dpkg-buildflags --get CPPFLAGS 2>/dev/null)
DPKG_LDFLAGS := $(shell dpkg-buildflags --get LDFLAGS 2>/dev/null)
ifneq ($(SANITIZE),)
# _FORTIFY_SOURCE's checked string functions get in ASan's way
DPKG_CPPFLAGS := $(filter-out -D_FORTIFY_SOURCE=%,$(DPKG_CPPFLAGS))
endif

CC_OPT := $(strip $(DPKG_CFLAGS) $(DPKG_CPPFLAGS) -fPIC -Werror -Wall \
          -Wextra -Wno-unused-parameter -Wpointer-arith $(SAN_FLAGS))
LD_OPT := $(strip $(DPKG_LDFLAGS) -fPIC $(SAN_FLAGS))

CONFIGURE_ARGS := --with-cc-opt='$(CC_OPT)' --with-ld-opt='$(LD_OPT)' \
                  --add-dynamic-module='$(ROOT)' \
                  --builddir='$(ROOT)/$(BUILD_DIR)'

# make bench: the OpenResty peer (../shared/bench/peer-openresty: Debian's
# nginx with lua-nginx-module; its load_module lines name the .so files, so
# the modules-enabled link the package drops reaches only configurations
# that include that directory, which ours do not) and the charts (gnuplot)
BENCH_PACKAGES := libnginx-mod-http-lua lua-resty-core lua-resty-lrucache \
    lua-cjson lua-luaossl gnuplot-nox

# what each library is for, and why not libjwt or NDK: docs/architecture.md,
# Dependencies
APT_PACKAGES := clang libclang-rt-14-dev nginx nginx-dev libnginx-mod-stream \
    libpq-dev libyajl-dev libhiredis-dev libssl-dev libpcre2-dev \
    zlib1g-dev postgresql redis-server wrk bc cppcheck \
    libtest-base-perl libtext-diff-perl libtest-longstring-perl \
    libipc-run-perl liblist-moreutils-perl libwww-perl liburi-perl \
    valgrind nodejs npm prometheus pgbouncer docker-compose libfaketime \
    $(BENCH_PACKAGES)

# make image and image-test only (not make deps): buildah builds without a
# Docker engine, debootstrap makes the base image where no registry is
# reachable (tools/image.sh), curl and python3 for the test
IMAGE_PACKAGES := buildah debootstrap curl python3
IMAGE_STAMP := .build/deps-image.stamp
IMAGE ?= localhost/ngx_backend:dev

APT_STAMP := .build/deps-apt.stamp
NPM_STAMP := node_modules/.deps.stamp

LINT_SRC := $(sort $(wildcard src/*.c src/*.h))

.PHONY: deps build check lint db-push run reload seed invalidate webhook bench-legacy bench-adapter bench-jobs-cost bench-tail test unit fuzz fuzz-zod \
        schemas client-types token clean \
        bench bench-check bench-obs soak image image-test FORCE


# deps: Debian packages (only the missing ones), then node_modules

deps: $(APT_STAMP) $(NPM_STAMP)

$(APT_STAMP): Makefile tools/deps.sh
	tools/deps.sh $(APT_PACKAGES)
	@mkdir -p $(@D) && touch $@

# npm ci when node_modules is missing or older than the lock file
$(NPM_STAMP): package.json $(wildcard package-lock.json) | $(APT_STAMP)
	@if [ -f package-lock.json ]; then \
	    echo "npm ci"; \
	    npm ci --no-audit --no-fund; \
	else \
	    npm install --no-audit --no-fund; \
	fi
	@touch $@


# build

build: $(BUILD_DIR)/Makefile
	cd $(SRC_COPY) && $(MAKE) -f $(ROOT)/$(BUILD_DIR)/Makefile modules
	@echo "built $(MODULE)"

# a private copy of nginx's sources: configure writes into its tree;
# copied again when the nginx-dev package changes
$(SRC_COPY)/.copied: $(NGX_SRC)/src/core/nginx.h | $(APT_STAMP)
	@echo "copy $(NGX_SRC) to $(SRC_COPY)"
	@rm -rf $(SRC_COPY)
	@mkdir -p $(dir $(SRC_COPY))
	@cp -a $(NGX_SRC) $(SRC_COPY)
	@touch $@

# the configure arguments, rewritten only when they change (flags, path)
$(BUILD_DIR)/configure.args: FORCE
	@mkdir -p $(@D)
	@printf '%s\n' "$(CONFIGURE_ARGS)" > $@.new
	@if cmp -s $@.new $@; then rm -f $@.new; else mv -f $@.new $@; fi

# configure again when config (the module's file list) or the flags change
$(BUILD_DIR)/Makefile: config $(BUILD_DIR)/configure.args $(SRC_COPY)/.copied \
                       $(NGX_SRC)/src/core/nginx.h
	@echo "configure nginx $$(sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' \
	    $(SRC_COPY)/src/core/nginx.h) + ngx_backend in $(BUILD_DIR)"
	@cd $(SRC_COPY) && . ./conf_flags \
	  && ASAN_OPTIONS=detect_leaks=0 ./configure "$${NGX_CONF_FLAGS[@]}" \
	     $(CONFIGURE_ARGS) > $(ROOT)/$(BUILD_DIR)/configure.log 2>&1 \
	  || { tail -n 25 $(ROOT)/$(BUILD_DIR)/configure.log >&2; \
	       echo "configure failed: $(BUILD_DIR)/configure.log," \
	            "$(BUILD_DIR)/autoconf.err" >&2; \
	       rm -f $@; exit 1; }
	@grep -E 'libpq|yajl|ngx_backend|adding module' \
	    $(BUILD_DIR)/configure.log || true
	@touch $@

$(NGX_SRC)/src/core/nginx.h: | $(APT_STAMP)


# lint: nginx's style, then cppcheck with nginx's headers, then the rules
# of migrations/ on the catalog of a scratch Postgres (tools/migrations.sh
# lint, migrations/README.md; about 3 s, most of it starting Postgres),
# then docker-compose's own check of docker/compose.yml

lint: $(BUILD_DIR)/Makefile
	@rc=0; \
	tools/lint-style.pl $(LINT_SRC) || rc=1; \
	cppcheck --error-exitcode=1 --enable=warning,portability --inline-suppr -q \
	    --suppress=missingInclude --suppress=missingIncludeSystem \
	    --std=c99 -D__GNUC__ -D__x86_64__ -D__linux__ \
	    -I$(SRC_COPY)/src/core -I$(SRC_COPY)/src/event \
	    -I$(SRC_COPY)/src/event/modules -I$(SRC_COPY)/src/os/unix \
	    -I$(SRC_COPY)/src/http -I$(SRC_COPY)/src/http/modules \
	    -I$(BUILD_DIR) -I/usr/include/postgresql -Isrc \
	    $(filter %.c,$(LINT_SRC)) || rc=1; \
	tools/migrations.sh lint migrations || rc=1; \
	docker-compose -f docker/compose.yml config -q || rc=1; \
	if [ $$rc = 0 ]; then echo "lint: ok"; else echo "lint: failed" >&2; fi; \
	exit $$rc

check: build lint


# libFuzzer (t/unit/unit.mk): every target of t/fuzz for FUZZ_SECONDS
# (60) each, or only FUZZ_TARGETS="jwt svix"; make test runs each for 5 s

fuzz: build
	$(MAKE) -f t/unit/unit.mk ROOT='$(ROOT)' NGX_BUILD='$(ROOT)/$(BUILD_DIR)' \
	    FUZZ_SECONDS='$(or $(FUZZ_SECONDS),60)' \
	    $(if $(FUZZ_TARGETS),FUZZ_TARGETS='$(FUZZ_TARGETS)') fuzz


# the differential test against zod (t/e2e/zod-parity-fuzz.test.mjs) at
# length: ZOD_FUZZ_RUNS inputs per schema (5000), a random seed printed
# with the figures ("zod-fuzz: seed S, N inputs, D disagreements");
# ZOD_FUZZ_SEED=S replays one.  make test runs it with a fixed seed, 400.

fuzz-zod: deps build
	MODULE='$(MODULE)' SANITIZE='$(SANITIZE)' MAKE='$(MAKE)' SUITES=e2e \
	    E2E_FILES=t/e2e/zod-parity-fuzz.test.mjs \
	    ZOD_FUZZ_RUNS='$(or $(ZOD_FUZZ_RUNS),5000)' \
	    ZOD_FUZZ_SEED='$(or $(ZOD_FUZZ_SEED),random)' tools/test.sh


# conf/schemas/*.mjs (Zod) exported to the JSON Schema files nginx loads;
# make test fails when the committed JSON is not what Zod exports

schemas: $(NPM_STAMP)
	node tools/schemas.mjs conf/schemas


# conf/app-router.ts: the TypeScript types of conf/procedures.conf for
# createTRPCClient<AppRouter>() (docs/clients.md), the statements described
# by a throwaway Postgres with migrations/ applied (or DATABASE_URL's);
# make test fails when the committed file is not current.
# CONF=my/procedures.conf OUT=web/src/app-router.ts for another configuration

DESCRIBE := .build/pg-describe

$(DESCRIBE): tools/pg-describe.c | $(APT_STAMP)
	@mkdir -p $(@D)
	cc -O2 -Wall -Wextra -Werror -I$$(pg_config --includedir) $< -o $@ -lpq

client-types: $(NPM_STAMP) $(DESCRIBE)
	tools/client-types.sh $(if $(OUT),--out='$(OUT)') \
	    '$(or $(CONF),conf/procedures.conf)'


# database of make run (or DATABASE_URL): apply pending migrations;
# revert with tools/db-push.sh --down N

db-push:
	tools/db-push.sh


# make run: Postgres, Redis, nginx under .run/; Ctrl-C stops them.
# env PORT (8080), PG_PORT (54329), REDIS_PORT (63799)

run: deps build
	MODULE='$(MODULE)' tools/run.sh

# make reload: conf/ changed while make run serves (tools/reload.sh)

reload: $(NPM_STAMP)
	tools/reload.sh

# make invalidate CLERK_ID=<clerk user id> (or SESSION=<id>): drop its cached
# auth contexts on every node after a change made in SQL
# (tools/invalidate.sh)

invalidate:
	@if [ -n "$(SESSION)" ]; then tools/invalidate.sh session '$(SESSION)'; \
	else tools/invalidate.sh user '$(CLERK_ID)'; fi

# make webhook EVENT=user.updated ID=3 ROLE=admin (or FILE=event.json): a
# Clerk delivery signed with the dev secret, to make run's /webhooks/clerk

webhook: $(NPM_STAMP)
	@if [ -n "$(FILE)" ]; then node tools/webhook.mjs --file '$(FILE)'; \
	else node tools/webhook.mjs '$(EVENT)' '$(ID)' $(if $(ROLE),'$(ROLE)'); fi

# make seed: the demo data of tools/seed.sql into make run's database
# again (make run loads it into a new database only)

seed:
	psql -X -q -v ON_ERROR_STOP=1 -f tools/seed.sql \
	    "$${DATABASE_URL:-postgres://postgres@127.0.0.1:$${PG_PORT:-54329}/app}"


# make bench-check: ../shared/bench/check.sh against the reference app,
# started the way the benchmark runs it (workload data and key), then
# against the OpenResty and Bun peers (PEERS="openresty bun")

bench-check: deps build
	MODULE='$(MODULE)' tools/bench-check.sh


# make bench: ngx_backend, the OpenResty peer and the Bun peer side by side
# in one run, with charts (see tools/bench.sh and docs/performance.md);
# QUICK=1 is the 1 s smoke that make test runs

bench: deps build
	MODULE='$(MODULE)' tools/bench.sh

# make bench-legacy: the fall-through to ../shared/bench/peer-bun and the
# shadow comparison: latency added at a fixed load, worker CPU per call,
# shadow calls dropped (tools/bench-legacy.sh, docs/performance.md)

bench-legacy: deps build
	MODULE='$(MODULE)' tools/bench-legacy.sh

# make bench-adapter: a procedure answered through an adapter against a
# bare proxy_pass to the same API (tools/bench-adapter.sh)

bench-adapter: deps build
	MODULE='$(MODULE)' tools/bench-adapter.sh

# make bench-jobs-cost: worker CPU per request on W1-W5 with a queue idle
# against draining (tools/bench-jobs-cost.sh)

bench-jobs-cost: deps build
	MODULE='$(MODULE)' tools/bench-jobs-cost.sh

# make bench-obs: worker CPU per request with metrics and the JSON access
# log (sampled, and every line) against off, side by side
# (tools/bench-obs.sh, docs/performance.md)
bench-obs: deps build
	MODULE='$(MODULE)' tools/bench-obs.sh

# make bench-tail: where the p99 of W1 and W5 and the tail of W2 at 1024
# connections come from, ngx_backend against the OpenResty peer in turn:
# unpaced, paced at equal throughput, wrk and the workers pinned to
# separate CPUs, and 1024 connections with the kernel's TCP counters and
# the listening sockets' queues (tools/bench-tail.sh, docs/performance.md;
# about 3 min 40 s)
bench-tail: deps build
	MODULE='$(MODULE)' tools/bench-tail.sh


# make soak: SOAK_SECONDS (600) of W1-W5 at 64 connections while Postgres
# is restarted twice and Redis once, signed webhooks throughout; asserts
# no crash, 5xx only in the outages, webhooks stored once, RSS and the
# pool stable (tools/soak.sh, docs/reliability.md); .build/soak/<date>.md

soak: deps build
	MODULE='$(MODULE)' tools/soak.sh


# make token ID=3: a session token for demo user 3 (user_3), signed with
# the dev key of make run (.run/keys, made if missing); ID=100 is an admin
ID ?= 3

token: $(NPM_STAMP)
	@node tools/dev-keys.mjs .run/keys
	@node tools/token.mjs '$(ID)'


# make image: docker/Dockerfile built with buildah (no Docker engine; the
# base image made with debootstrap if there is none), tagged IMAGE; make
# image-test runs it against a throwaway Postgres and Redis
# (tools/image-test.sh, 5-20 s after the build).  Both as root.

$(IMAGE_STAMP): Makefile tools/deps.sh
	tools/deps.sh $(IMAGE_PACKAGES)
	@mkdir -p $(@D) && touch $@

image: $(IMAGE_STAMP)
	IMAGE='$(IMAGE)' tools/image.sh

image-test: image $(APT_STAMP)
	IMAGE='$(IMAGE)' tools/image-test.sh


# make test: throwaway Postgres + Redis, then unit, Test::Nginx (t/*.t,
# t/harness) and node (t/e2e) suites

test: deps build $(DESCRIBE)
	MODULE='$(MODULE)' SANITIZE='$(SANITIZE)' MAKE='$(MAKE)' tools/test.sh

# unit tests of t/unit (t/unit/unit.mk: nginx's own pool and string code
# from Debian's nginx source package); VALGRIND=1 runs them under valgrind
unit: build
	@if [ ! -f t/unit/unit.mk ]; then \
	    echo "unit: no t/unit/unit.mk" >&2; exit 1; \
	fi
	$(MAKE) -f t/unit/unit.mk ROOT='$(ROOT)' \
	    NGX_BUILD='$(ROOT)/$(BUILD_DIR)' SANITIZE='$(SANITIZE)' \
	    VALGRIND='$(VALGRIND)'


clean:
	rm -rf .build t/servroot*

FORCE:
