# SPDX-License-Identifier: GPL-2.0
# Top-level build for xdpgw: BPF objects, skeletons, gwd, gwctl, tests, demo and benchmarks.
#
# Order: clang BPF objects -> bpftool skeletons -> userspace (release and ASan+UBSan builds).
# Outputs live under $(BUILD) only. V=1 shows the commands.

BUILD ?= build
V ?= 0
ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-7s %s\n' "$(1)" "$(2)"
endif

.DELETE_ON_ERROR:
.SECONDARY:
.SUFFIXES:
.DEFAULT_GOAL := all

CC ?= gcc
CLANG ?= clang-14
BPFTOOL ?= bpftool
ARCH_INCLUDE := /usr/include/$(shell $(CC) -dumpmachine 2>/dev/null)

# Packages resolved lazily: on a fresh machine pkg-config only answers after `make deps`.
PKGS := libbpf libelf zlib libnl-3.0 libnl-route-3.0 libh2o-evloop openssl yaml-0.1 jansson \
	hiredis libcurl libcap
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS = $(shell pkg-config --libs $(PKGS)) -lcrypt -lpthread -lm

BPF_CFLAGS := -target bpf -O2 -g -mcpu=v3 -Wall -Werror -Iinclude -Ibpf -I$(ARCH_INCLUDE)
WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
XDPGW_VERSION := 0.1.0
CFLAGS_BASE = -std=gnu11 -g -D_GNU_SOURCE -DXDPGW_VERSION=\"$(XDPGW_VERSION)\" -DH2O_USE_LIBUV=0 $(WARN) -Iinclude -Iuserspace \
	-I$(BUILD)/include -MMD -MP $(PKG_CFLAGS) $(EXTRA_CFLAGS)
CFLAGS_release = -O2 $(CFLAGS_BASE)
CFLAGS_asan = -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined $(CFLAGS_BASE)
LDFLAGS_release :=
LDFLAGS_asan := -fsanitize=address,undefined

# ---- sources: adding a file to a directory is enough, no list to edit ----
BPF_SRCS := $(wildcard bpf/*.bpf.c) $(wildcard selftests/bpf/progs/*.bpf.c)
BPF_OBJS := $(patsubst %.bpf.c,$(BUILD)/bpf/%.bpf.o,$(notdir $(BPF_SRCS)))
SKELS := $(patsubst %.bpf.c,$(BUILD)/include/%.skel.h,$(notdir $(BPF_SRCS)))

LIB_SRCS := $(wildcard userspace/lib/*.c)
GWD_SRCS := $(filter-out userspace/gwd/main.c,$(wildcard userspace/gwd/*.c)) \
	$(wildcard userspace/gateway/*.c) $(wildcard userspace/gateway/policies/*.c)
CLI_SRCS := $(filter-out cli/main.c,$(wildcard cli/*.c))
TEST_SRCS := $(wildcard selftests/unit/test_*.c) $(wildcard selftests/bpf/test_*.c)
TOOL_SRCS := $(wildcard selftests/tools/*.c)

objs = $(patsubst %.c,$(BUILD)/$(1)/%.o,$(2))

GWD_release := $(BUILD)/gwd
GWCTL_release := $(BUILD)/gwctl
GWD_asan := $(BUILD)/asan/gwd
GWCTL_asan := $(BUILD)/asan/gwctl
TESTS := $(patsubst %.c,$(BUILD)/asan/tests/%,$(notdir $(TEST_SRCS)))
TOOLS := $(patsubst %.c,$(BUILD)/tools/%,$(notdir $(TOOL_SRCS)))
BENCH_SRCS := $(wildcard selftests/bench/*.c)
BENCHES := $(patsubst %.c,$(BUILD)/bench/%,$(notdir $(BENCH_SRCS)))

.PHONY: all deps build asan tests tools benches clean test test-unit test-e2e demo bench bench-xdp \
	bench-l4 bench-l7 fuzz fuzz-xdp fuzzers soak format

all: deps
	$(Q)$(MAKE) --no-print-directory build

build: $(GWD_release) $(GWCTL_release) $(BPF_OBJS) $(TOOLS)
asan: $(GWD_asan) $(GWCTL_asan)
tests: $(TESTS)
tools: $(TOOLS)

deps:
	$(Q)mk/deps.sh

# ---- BPF ----
vpath %.bpf.c bpf selftests/bpf/progs

$(BUILD)/bpf/%.bpf.o: %.bpf.c $(wildcard bpf/*.h include/xdpgw/*.h) | $(BUILD)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# The bench-xdp wrapper compiles the balancer in whole.
$(BUILD)/bpf/bench_lb.bpf.o: bpf/lb.bpf.c

$(BUILD)/include/%.skel.h: $(BUILD)/bpf/%.bpf.o | $(BUILD)/include
	$(call msg,GENSKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*) > $@

$(BUILD)/bpf $(BUILD)/include:
	$(Q)mkdir -p $@

# ---- userspace, one rule set per variant (release, asan) ----
define variant
$(BUILD)/$(1)/%.o: %.c | $(SKELS)
	$$(call msg,CC,$$@)
	$$(Q)mkdir -p $$(@D)
	$$(Q)$$(CC) $$(CFLAGS_$(1)) -c $$< -o $$@

$$(GWD_$(1)): $(call objs,$(1),userspace/gwd/main.c $(GWD_SRCS) $(LIB_SRCS))
	$$(call msg,LINK,$$@)
	$$(Q)$$(CC) $$(LDFLAGS_$(1)) $$^ $$(PKG_LIBS) -o $$@

$$(GWCTL_$(1)): $(call objs,$(1),cli/main.c $(CLI_SRCS) $(LIB_SRCS))
	$$(call msg,LINK,$$@)
	$$(Q)$$(CC) $$(LDFLAGS_$(1)) $$^ $$(PKG_LIBS) -o $$@
endef
$(eval $(call variant,release))
$(eval $(call variant,asan))

# Object directories mirror the source tree under $(BUILD)/release and $(BUILD)/asan.
$(BUILD)/asan/selftests/%.o $(BUILD)/release/selftests/%.o: EXTRA_CFLAGS += -Iselftests
TEST_LINK := $(call objs,asan,$(GWD_SRCS) $(LIB_SRCS) $(wildcard selftests/lib/*.c))

$(BUILD)/asan/tests/%: $(BUILD)/asan/selftests/unit/%.o $(TEST_LINK)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS_asan) $^ $(PKG_LIBS) -o $@

$(BUILD)/asan/tests/%: $(BUILD)/asan/selftests/bpf/%.o $(TEST_LINK)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS_asan) $^ $(PKG_LIBS) -o $@

# Small helper programs for e2e tests and benchmarks (test upstreams, clients).
$(BUILD)/tools/%: $(BUILD)/release/selftests/tools/%.o $(call objs,release,$(LIB_SRCS))
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $^ $(PKG_LIBS) -o $@

# Benchmark programs, release-built (selftests/bench/*.c -> $(BUILD)/bench/*).
$(BUILD)/bench/%: $(BUILD)/release/selftests/bench/%.o $(call objs,release,$(LIB_SRCS) selftests/lib/pkt.c)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $^ $(PKG_LIBS) -o $@

benches: $(BENCHES)

# gwgate runs the gateway library alone (L7 tests and benchmarks): it links gwd's objects too.
$(BUILD)/tools/gwgate: $(call objs,release,$(GWD_SRCS))

# ---- tests ----
test: deps
	$(Q)$(MAKE) --no-print-directory build asan tests fuzzers
	$(Q)selftests/run.sh all

test-unit: deps
	$(Q)$(MAKE) --no-print-directory build tests
	$(Q)selftests/run.sh unit

test-e2e: deps
	$(Q)$(MAKE) --no-print-directory build asan
	$(Q)selftests/run.sh e2e

# ---- fuzzing ----
# libFuzzer targets: selftests/fuzz/fuzz_*.c, with the code they reach, built by clang with
# coverage and ASan+UBSan under $(BUILD)/fuzz/ (binaries in $(BUILD)/fuzzers/).
FUZZ_SRCS := $(wildcard selftests/fuzz/fuzz_*.c)
FUZZERS := $(patsubst selftests/fuzz/%.c,$(BUILD)/fuzzers/%,$(FUZZ_SRCS))
CFLAGS_fuzz = -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=undefined $(CFLAGS_BASE) -Wno-unknown-warning-option

$(BUILD)/fuzz/%.o: %.c | $(SKELS)
	$(call msg,CLANG,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(CFLAGS_fuzz) -c $< -o $@

$(BUILD)/fuzzers/%: $(BUILD)/fuzz/selftests/fuzz/%.o $(call objs,fuzz,$(GWD_SRCS) $(LIB_SRCS))
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -fsanitize=fuzzer,address,undefined $^ $(PKG_LIBS) -o $@

fuzzers: $(FUZZERS)

# Each target for FUZZ_SECONDS (default 60) on its corpus; crashes are reported with the input.
FUZZ_SECONDS ?= 60
fuzz: deps
	$(Q)$(MAKE) --no-print-directory fuzzers
	$(Q)selftests/fuzz/run.sh long $(FUZZ_SECONDS)

# Differential fuzzing of the datapath against the reference model, more frames than the
# make-test run and a fresh seed; mismatches are written as fixtures test_lb_fixtures replays.
FUZZ_XDP_PACKETS ?= 2000000
fuzz-xdp: deps
	$(Q)$(MAKE) --no-print-directory tests
	$(Q)XG_FUZZ_PACKETS=$(FUZZ_XDP_PACKETS) XG_FUZZ_SEED=$${XG_FUZZ_SEED:-$$(date +%s)} \
		XG_FUZZ_FIXTURES=$(CURDIR)/selftests/bpf/fixtures \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $(BUILD)/asan/tests/test_lb_fuzz

# ---- soak (not in make test): 10 minutes of load and changes through the layered edge ----
soak: deps
	$(Q)$(MAKE) --no-print-directory build
	$(Q)selftests/soak.sh

# ---- demo and benchmarks ----
demo: deps
	$(Q)$(MAKE) --no-print-directory -s build
	$(Q)selftests/demo.sh

bench: deps
	$(Q)$(MAKE) --no-print-directory build tests benches
	$(Q)selftests/bench/run.sh all

bench-xdp bench-l4 bench-l7: deps
	$(Q)$(MAKE) --no-print-directory build tests benches
	$(Q)selftests/bench/run.sh $(@:bench-%=%)

format:
	$(Q)clang-format -i $(LIB_SRCS) $(GWD_SRCS) userspace/gwd/main.c cli/*.c $(wildcard userspace/*/*.h cli/*.h)

clean:
	$(call msg,CLEAN,$(BUILD))
	$(Q)rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
