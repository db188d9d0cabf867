# Forge — the only build entry point. See README.md.
#
#   make deps         install missing Debian packages (root; quiet when nothing is missing)
#   make              build every binary into build/
#   make run          forged + forge-api on build/root with development secrets (Ctrl-C stops)
#   make demo         one isolated container from a busybox rootfs and what isolates it
#   make test         deps + build + unit + integration + security + vmtest (what CI runs)
#   make unit | integration | security | vmtest | bench | clean

VERSION   := $(shell cat VERSION)
BUILD     := build
OBJ       := $(BUILD)/obj
CC        ?= gcc

# Debian packages the build and the tests need. The library list follows DESIGN §3;
# the tools are peers for benchmarks and what the tests use to observe.
DEB_BUILD := gcc make pkg-config libc6-dev \
	libsodium-dev libjansson-dev libseccomp-dev libcap-dev libcmocka-dev \
	libnl-3-dev libnl-route-3-dev libnftnl-dev libmnl-dev libyaml-dev \
	libzstd-dev libarchive-dev libmicrohttpd-dev libsqlite3-dev libselinux1-dev \
	nettle-dev liblzma-dev liblz4-dev libbz2-dev zlib1g-dev
DEB_TEST  := busybox-static iproute2 nftables runc bubblewrap procps psmisc jq xz-utils umoci zstd \
	qemu-system-x86 linux-image-amd64 cpio kmod wrk nginx-light curl
DEB_ALL   := $(DEB_BUILD) $(DEB_TEST)

# pkg-config is expanded lazily (recursive '='), so `make test` can install the
# packages first and build in a sub-make that sees them.
PKGS_COMMON  = libsodium jansson yaml-0.1 libcap
PKGS_RUNTIME = libseccomp libcap
PKGS_NETNS   = libnftnl libmnl libnl-3.0 libnl-route-3.0
PKGS_IMAGES  = libarchive libzstd
PKGS_YAML    = yaml-0.1
PKGS_ALL     = $(PKGS_NETNS) $(PKGS_IMAGES) $(PKGS_YAML) $(PKGS_RUNTIME) $(PKGS_COMMON)
pc_cflags    = $(shell pkg-config --cflags $(1))
pc_libs      = $(patsubst -larchive,$(ARCHIVE_LIBS),$(shell pkg-config --libs $(1)))
# libarchive is linked statically, so that only what Forge uses comes in (tar, ar and raw
# formats; gzip, xz and zstd filters; the ustar/pax writer): its shared library would make
# every binary load libxml2, ICU and libstdc++ at start (7 ms per forgectl run on the
# reference VM). What those objects need stays shared, and --as-needed drops the rest.
ARCHIVE_LIBS = -Wl,--gc-sections -Wl,-Bstatic -larchive -Wl,-Bdynamic -lnettle -llzma -lzstd -llz4 -lbz2 -lz

WARN     := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wno-missing-field-initializers -Wvla
HARDEN   := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fstack-clash-protection \
	-fcf-protection -fPIE
LDHARDEN := -pie -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack
CFLAGS   ?= -O2 -g
ALL_CFLAGS = -std=gnu11 $(CFLAGS) $(WARN) $(HARDEN) -I. -MMD -MP \
	-DFORGE_VERSION='"$(VERSION)"' $(EXTRA_CFLAGS) \
	$(call pc_cflags,$(PKGS_ALL) $(PKGS_API))
ALL_LDFLAGS = $(LDHARDEN) -Wl,--as-needed $(LDFLAGS)

COMMON_SRC  := $(wildcard common/*.c)
# The seccomp profile compiler runs at build time only (seccomp-gen and tests);
# the runtime embeds its output, so forged and forgectl never compile policy.
SECCOMP_SRC := runtime/seccomp.c
FORGED_MAIN := runtime/forged.c
# forge-init, the containers' PID 1: a static program of its own (libc only),
# embedded into the runtime library by runtime/init_image.S.
INIT_SRC    := runtime/init.c runtime/confine.c
FORGE_INIT  := $(BUILD)/forge-init
RUNTIME_SRC := $(filter-out $(SECCOMP_SRC) $(FORGED_MAIN) runtime/init.c,$(wildcard runtime/*.c))
NETNS_SRC   := $(wildcard netns/*.c)
CLI_SRC     := $(wildcard cli/*.c)
# One static library per module folder (DESIGN §2); binaries link them as one
# group, so the order of libraries never matters and --as-needed drops the rest.
MODULES     := images rootfs-builder policy templates scoring
# forge-api: api/*.c but its main() in a library of its own, so tests link the rest.
API_MAIN    := api/main.c
API_SRC     := $(filter-out $(API_MAIN),$(wildcard api/*.c))
PKGS_API     = libmicrohttpd sqlite3

COMMON_OBJ  := $(COMMON_SRC:%.c=$(OBJ)/%.o)
SECCOMP_OBJ := $(OBJ)/runtime/seccomp.o $(OBJ)/runtime/seccomp_profile.o
RUNTIME_OBJ := $(RUNTIME_SRC:%.c=$(OBJ)/%.o) $(OBJ)/gen/seccomp_bpf.o $(OBJ)/runtime/init_image.o
NETNS_OBJ   := $(NETNS_SRC:%.c=$(OBJ)/%.o)
CLI_OBJ     := $(CLI_SRC:%.c=$(OBJ)/%.o)

LIB_COMMON  := $(BUILD)/libforge-common.a
LIB_SECCOMP := $(BUILD)/libforge-seccomp.a
LIB_RUNTIME := $(BUILD)/libforge-runtime.a
LIB_NETNS   := $(BUILD)/libforge-netns.a
LIB_MODULES := $(MODULES:%=$(BUILD)/libforge-%.a)
module_objs  = $(patsubst %.c,$(OBJ)/%.o,$(wildcard $(1)/*.c))
LIB_API     := $(BUILD)/libforge-api.a
LIBS_ALL    := $(LIB_RUNTIME) $(LIB_MODULES) $(LIB_NETNS) $(LIB_COMMON)
LINK_ALL     = -Wl,--start-group $(LIBS_ALL) -Wl,--end-group $(call pc_libs,$(PKGS_ALL))
SECCOMP_GEN := $(BUILD)/tools/seccomp-gen

UNIT_SRC    := $(wildcard tests/unit/test_*.c)
UNIT_BIN    := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
INTEG_SRC   := $(wildcard tests/integration/test_*.c)
INTEG_BIN   := $(INTEG_SRC:tests/integration/%.c=$(BUILD)/tests/integration/%)
E2E_SRC     := $(wildcard tests/e2e/test_*.c)
E2E_BIN     := $(E2E_SRC:tests/e2e/%.c=$(BUILD)/tests/e2e/%)

BINARIES    := $(BUILD)/forgectl $(BUILD)/forged $(BUILD)/forge-api
FORGED_FI   := $(BUILD)/tests/forged-fi
BENCH_BIN   := $(patsubst bench/%.c,$(BUILD)/bench/%,$(filter-out bench/timeit.c,$(wildcard bench/*.c)))

.PHONY: all deps run demo test unit integration security e2e vmtest bench bench-container-start bench-topology bench-unpack bench-scoring bench-api bench-spawn images \
	rootfs clean check-root format tidy

.SECONDEXPANSION:
# Objects reached only through pattern rules are intermediate to make; keep them
# (deleting them made every build recompile the modules).
.SECONDARY:

all: $(BINARIES) $(FORGED_FI) $(UNIT_BIN) $(INTEG_BIN) $(E2E_BIN) $(BENCH_BIN)

# ---------------------------------------------------------------- build rules

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The seccomp profile is a data file; the assembler embeds it verbatim.
$(OBJ)/runtime/seccomp_profile.o: runtime/seccomp_profile.S runtime/seccomp.profile
	@mkdir -p $(dir $@)
	$(CC) -c -I. -o $@ $<

# static-pie: the launcher execs it from a memfd inside fresh namespaces,
# where no dynamic loader or shared library of the host may be assumed.
$(FORGE_INIT): $(INIT_SRC:%.c=$(OBJ)/%.o)
	@mkdir -p $(dir $@)
	$(CC) -static-pie -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack $(LDFLAGS) -o $@ $^

$(OBJ)/runtime/init_image.o: runtime/init_image.S $(FORGE_INIT)
	@mkdir -p $(dir $@)
	$(CC) -c -I. -DFORGE_INIT_PATH='"$(FORGE_INIT)"' -o $@ $<

$(LIB_COMMON): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIB_SECCOMP): $(SECCOMP_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(SECCOMP_GEN): runtime/gen/seccomp-gen.c $(LIB_SECCOMP) $(LIB_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIB_SECCOMP) $(LIB_COMMON) \
		$(call pc_libs,libseccomp $(PKGS_COMMON))

$(BUILD)/gen/seccomp_bpf.c: $(SECCOMP_GEN)
	@mkdir -p $(dir $@)
	$(SECCOMP_GEN) $@.tmp && mv $@.tmp $@

$(OBJ)/gen/seccomp_bpf.o: $(BUILD)/gen/seccomp_bpf.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB_RUNTIME): $(RUNTIME_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIB_NETNS): $(NETNS_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libforge-%.a: $$(call module_objs,$$*)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/forged: $(OBJ)/$(FORGED_MAIN:.c=.o) $(LIBS_ALL)
	$(CC) $(ALL_LDFLAGS) -o $@ $(OBJ)/$(FORGED_MAIN:.c=.o) $(LINK_ALL)

# forged with its crash switch compiled in (FORGED_CRASH_AT=<step>): tests only.
# The fault-injecting scenario.o comes first, so the archive's copy is not used.
$(OBJ)/fi/runtime/scenario.o: runtime/scenario.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DFORGE_FAULT_INJECTION -c -o $@ $<

$(FORGED_FI): $(OBJ)/$(FORGED_MAIN:.c=.o) $(OBJ)/fi/runtime/scenario.o $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $(OBJ)/$(FORGED_MAIN:.c=.o) $(OBJ)/fi/runtime/scenario.o \
		$(LINK_ALL)

# forgectl also links forge-api's library for dev-token and billing verify.
$(BUILD)/forgectl: $(CLI_OBJ) $(LIBS_ALL) $(LIB_API)
	$(CC) $(ALL_LDFLAGS) -o $@ $(CLI_OBJ) -Wl,--start-group $(LIBS_ALL) $(LIB_API) \
		-Wl,--end-group $(call pc_libs,$(PKGS_ALL) $(PKGS_API))

$(LIB_API): $(API_SRC:%.c=$(OBJ)/%.o)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# forge-api links common and policy only (DESIGN §2: never runtime, netns or images).
$(BUILD)/forge-api: $(OBJ)/$(API_MAIN:.c=.o) $(LIB_API) $(BUILD)/libforge-policy.a $(LIB_COMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $(OBJ)/$(API_MAIN:.c=.o) -Wl,--start-group $(LIB_API) \
		$(BUILD)/libforge-policy.a $(LIB_COMMON) -Wl,--end-group \
		$(call pc_libs,$(PKGS_API) $(PKGS_COMMON))

$(BUILD)/tests/unit/test_api_%: tests/unit/test_api_%.c $(LIB_API) $(BUILD)/libforge-policy.a $(LIB_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(call pc_cflags,cmocka $(PKGS_API)) $(ALL_LDFLAGS) -o $@ $< \
		-Wl,--start-group $(LIB_API) $(BUILD)/libforge-policy.a $(LIB_COMMON) -Wl,--end-group \
		$(call pc_libs,cmocka $(PKGS_API) $(PKGS_COMMON))

$(BUILD)/tests/e2e/%: tests/e2e/%.c $(LIB_API) $(BUILD)/libforge-policy.a $(LIB_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(call pc_cflags,cmocka $(PKGS_API)) $(ALL_LDFLAGS) -o $@ $< \
		-Wl,--start-group $(LIB_API) $(BUILD)/libforge-policy.a $(LIB_COMMON) -Wl,--end-group \
		$(call pc_libs,cmocka $(PKGS_API) $(PKGS_COMMON))

# common's own tests link common only, so they build before the runtime does.
$(BUILD)/tests/unit/test_common_%: tests/unit/test_common_%.c $(LIB_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(call pc_cflags,cmocka) $(ALL_LDFLAGS) -o $@ $< $(LIB_COMMON) \
		$(call pc_libs,cmocka $(PKGS_COMMON))

$(BUILD)/tests/unit/%: tests/unit/%.c $(LIBS_ALL) $(LIB_SECCOMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(call pc_cflags,cmocka) $(ALL_LDFLAGS) -o $@ $< \
		-Wl,--start-group $(LIBS_ALL) $(LIB_SECCOMP) -Wl,--end-group \
		$(call pc_libs,cmocka $(PKGS_ALL))

$(BUILD)/tests/integration/%: tests/integration/%.c $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(call pc_cflags,cmocka) $(ALL_LDFLAGS) -o $@ $< \
		$(LINK_ALL) $(call pc_libs,cmocka)

$(BUILD)/bench/%: bench/%.c $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LINK_ALL)

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)

# ---------------------------------------------------------------- set-up

# Idempotent: asks dpkg what is missing and installs only that.
deps:
	@missing=""; for p in $(DEB_ALL); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' \
			|| missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then \
			echo "make deps: missing Debian packages:$$missing" >&2; \
			echo "make deps: run 'sudo make deps' (installing needs root)" >&2; exit 1; \
		fi; \
		echo "make deps: installing$$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q --no-install-recommends $$missing >$(BUILD).deps.log 2>&1 || \
		{ apt-get update -q >>$(BUILD).deps.log 2>&1 && \
		  apt-get install -y -q --no-install-recommends $$missing >>$(BUILD).deps.log 2>&1; } || \
		{ echo "make deps: apt-get failed, see $(BUILD).deps.log" >&2; exit 1; }; \
		rm -f $(BUILD).deps.log; \
	fi

# ---------------------------------------------------------------- run

ROOTFS := $(BUILD)/rootfs/busybox

$(ROOTFS)/bin/busybox:
	tests/lib/mkrootfs-busybox.sh $(ROOTFS)

rootfs: $(ROOTFS)/bin/busybox

# The built-in lab images (images/specs/) in the store of a development root.
IMAGES_ROOT ?= $(BUILD)/root
images: check-root $(BUILD)/forgectl
	@FORGECTL=$(BUILD)/forgectl FORGE_DEB_CACHE=$(BUILD)/cache/debs \
		rootfs-builder/make-images.sh $(IMAGES_ROOT)

# forged and forge-api together on build/root with development secrets; Ctrl-C stops.
run: deps
	@$(MAKE) --no-print-directory all images
	@packaging/dev-run.sh $(CURDIR)/$(BUILD)

# The container runtime alone: one isolated container and what isolates it.
demo: deps
	@$(MAKE) --no-print-directory $(BUILD)/forgectl rootfs
	@tests/lib/run-demo.sh $(BUILD)/forgectl $(ROOTFS)

# ---------------------------------------------------------------- tests

check-root:
	@[ "$$(id -u)" = 0 ] || { echo "this target needs root (real namespaces, cgroups)" >&2; exit 1; }

test: deps
	@$(MAKE) --no-print-directory all rootfs images
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory security
	@$(MAKE) --no-print-directory e2e
	@$(MAKE) --no-print-directory vmtest

unit: $(UNIT_BIN) $(BUILD)/forgectl
	@tests/lib/run-suite.sh unit $(UNIT_BIN)
	@$(BUILD)/forgectl policy test policy/tests --rules policy/rules

integration: check-root all rootfs
	@tests/integration/run.sh

security: check-root all rootfs
	@tests/security/run.sh

# forge-api over HTTP: its own behaviour against a stand-in forged (test_api_e2e),
# and the whole flow with the real forged (tests/e2e/*.test.sh).
e2e: check-root all images
	@BUILD=$(BUILD) tests/e2e/run.sh $(E2E_BIN)

vmtest: check-root all rootfs
	@FORGE_TEST_ROOTFS=$(CURDIR)/$(ROOTFS) tests/vm/run.sh \
		tests/vm/ext4-rootfs.sh tests/integration/run.sh

bench: bench-container-start bench-topology bench-unpack bench-scoring bench-api bench-spawn

bench-spawn: check-root all
	@bench/spawn.sh

bench-api: check-root all images
	@BUILD=$(BUILD) bench/api.sh

bench-scoring: all
	@bench/scoring.sh

bench-unpack: check-root all
	@bench/unpack.sh

bench-container-start: check-root all rootfs
	@bench/container_start.sh

bench-topology: check-root all
	@bench/topology.sh

format:
	clang-format -i $$(find common runtime netns images rootfs-builder policy templates \
		scoring api cli tests bench -name '*.[ch]')

clean:
	rm -rf $(BUILD) $(BUILD).deps.log
