# ngx_ds: build, run and test.
#
#   make run     install what is missing, build, start a local demo
#   make test    install what is missing, build, run every test
#
# Other targets: module, dsctl, man, unit, integration, fuzz, bench, deb,
# clean, sanitize, valgrind.

NGX_SRC  ?= /usr/share/nginx/src
BUILD    ?= $(CURDIR)/build
PYTHON   ?= /usr/bin/python3
CC       ?= cc

CFLAGS   ?= -g -O2
# CPPFLAGS and LDFLAGS carry the Debian package build's hardening flags
DS_CFLAGS = $(CPPFLAGS) $(CFLAGS) -std=gnu11 -Wall -Wextra -Werror \
            -fstack-protector-strong -D_FORTIFY_SOURCE=2 \
            -Ingx_ds_module/core -Itools
DS_LIBS   = -ljansson -lmaxminddb -lhiredis -lssl -lcrypto

CORE_SRCS := $(wildcard ngx_ds_module/core/*.c)
CORE_OBJS := $(CORE_SRCS:%.c=$(BUILD)/%.o)
CORE_HDRS := $(wildcard ngx_ds_module/core/*.h)
TOOL_SRCS := $(wildcard tools/*.c)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/unit/%)
SHELL_SRCS := config $(wildcard ngx_ds_module/*.[ch]) $(CORE_SRCS) $(CORE_HDRS)

.PHONY: all deps module dsctl man unit integration test run stop fuzz bench bench-list bench-dataplane clean

all: module dsctl

deps:
	@scripts/deps.sh test

module: $(BUILD)/ngx_http_ds_module.so

$(BUILD)/ngx_http_ds_module.so: $(SHELL_SRCS) scripts/build-module.sh
	scripts/build-module.sh $(NGX_SRC) $(BUILD)

$(BUILD)/%.o: %.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(DS_CFLAGS) -c -o $@ $<

$(BUILD)/libdscore.a: $(CORE_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

dsctl: $(BUILD)/dsctl

$(BUILD)/dsctl: $(TOOL_SRCS) tools/dsctl.h $(BUILD)/libdscore.a
	$(CC) $(DS_CFLAGS) $(LDFLAGS) -o $@ $(TOOL_SRCS) $(BUILD)/libdscore.a \
	    $(DS_LIBS)

# ngx_ds(5) and dsctl(1), rendered from README.md's reference, which the
# same run checks against the directives and commands in the sources
man: $(BUILD)/man/ngx_ds.5

$(BUILD)/man/ngx_ds.5: README.md scripts/gen-man.py $(SHELL_SRCS) $(TOOL_SRCS)
	$(PYTHON) scripts/gen-man.py $(BUILD)/man

# the unit tests hold the product's records against the jansson oracle
ORACLE_SRCS := $(wildcard tests/oracle/*.c)

$(BUILD)/unit/%: tests/unit/%.c $(wildcard tests/unit/*.h) \
                 $(ORACLE_SRCS) $(wildcard tests/oracle/*.h) \
                 $(BUILD)/libdscore.a
	@mkdir -p $(dir $@)
	$(CC) $(DS_CFLAGS) -Itests/unit -Itests/oracle -o $@ $< $(ORACLE_SRCS) \
	    $(BUILD)/libdscore.a -lcmocka $(DS_LIBS)

unit: man $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

integration: all
	cd tests/integration && DS_BUILD=$(BUILD) $(PYTHON) -m pytest -q \
	    -p no:cacheprovider $(PYTEST_ARGS)

test: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) integration

run:
	@scripts/deps.sh run
	$(MAKE) all
	scripts/run.sh

stop:
	scripts/run.sh stop

fuzz:
	@scripts/deps.sh fuzz
	tests/fuzz/run.sh $(FUZZ_SECONDS)

# hardening (docs/hardening.md): the integration suite against an
# ASan/UBSan build of the module, and under valgrind (a subset)
.PHONY: sanitize valgrind
sanitize:
	@scripts/deps.sh test
	ASAN_BUILD=$(BUILD)/asan scripts/sanitize.sh $(PYTEST_ARGS)

valgrind:
	@scripts/deps.sh fuzz
	BUILD=$(BUILD) scripts/valgrind.sh $(PYTEST_ARGS)

bench:
	@scripts/deps.sh bench
	bench/run.sh

# the list filter's worst case per call, up to ds_list_max_size and past it
$(BUILD)/list_cost: bench/list_cost.c $(CORE_HDRS) $(BUILD)/libdscore.a
	$(CC) $(DS_CFLAGS) -o $@ $< $(BUILD)/libdscore.a $(DS_LIBS)

bench-list: $(BUILD)/list_cost
	$(BUILD)/list_cost 35000 131072 1048576 8388608

# a JWT bearer's decision against a static token's (docs/oidc.md)
.PHONY: bench-jwt
$(BUILD)/jwt_cost: bench/jwt_cost.c $(CORE_HDRS) tests/unit/jwt_b64.h \
                   $(BUILD)/libdscore.a
	$(CC) $(DS_CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libdscore.a $(DS_LIBS)

bench-jwt: $(BUILD)/jwt_cost
	$(BUILD)/jwt_cost 20000

# the data plane: a 64 MB download and a 10,000-file answer (bench/README.md)
bench-dataplane: all
	@scripts/deps.sh bench
	/usr/bin/python3 bench/dataplane.py --build $(BUILD)

# libnginx-mod-http-ds and ngx-ds-tools .debs into $(DEB_OUT)
# (docs/packaging.md)
DEB_OUT ?= $(BUILD)/deb
.PHONY: deb
deb:
	DEB_OUT=$(DEB_OUT) scripts/build-deb.sh

clean:
	rm -rf $(BUILD)
