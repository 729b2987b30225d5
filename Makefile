# cprof: make (build), make deps (install build dependencies), make run,
# make check, make bench, make install [PREFIX=/usr/local] [DESTDIR=].
# V=1 for full commands.
ARCH ?= $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
BUILD := build
CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
PROTOC_C ?= protoc-c

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# One version for everything: the top-level VERSION file (debian/changelog
# carries the same).
VERSION := $(shell cat VERSION)

# CFLAGS, CPPFLAGS and LDFLAGS are the user's (make CFLAGS=..., or
# dpkg-buildflags in a package build); what the build needs is in CPROF_CFLAGS.
CFLAGS ?= -g -O2
# daemon/'s parts, each a folder: capture (the BPF programs' user half:
# loading, drains, windows, unwind tables, targets), views (the view table),
# processes (what is known of each process), symbols (naming addresses: ELF,
# DWARF, debug files, the parser processes), profile (pprof files), serving
# (HTTP, access, parameters), history (the windows kept on the host), export
# (sending them to ClickHouse).
DAEMON_PARTS := capture views processes symbols profile serving history export
CPROF_CFLAGS := -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
	  -std=gnu11 -D_GNU_SOURCE -Iinclude -Idaemon $(addprefix -Idaemon/,$(DAEMON_PARTS)) \
	  -I$(BUILD) -I$(BUILD)/gen \
	  -DCPROF_VERSION='"$(VERSION)"'
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -D__BPF__ \
	      -Ivmlinux/$(ARCH) -Iinclude -Ibpf -Wall -Wno-unused-function

DAEMON_LIBS := -lcurl -lbpf -ldw -lelf -ldebuginfod -llzma -liberty -lzstd -lz -lprotobuf-c -lmicrohttpd -lcapstone -lpthread -lm
CLI_LIBS := -lcurl -lprotobuf-c -lz -lm

BPF_OBJS := capture
SKELS := $(patsubst %,$(BUILD)/%.skel.h,$(BPF_OBJS))
GEN := $(BUILD)/gen/profile.pb-c.c $(BUILD)/gen/profile.pb-c.h $(BUILD)/gen/syscalls.h

# Everything in daemon/ but main.c goes into a library the CLI and tests link.
LIB_SRCS := $(filter-out daemon/main.c,$(wildcard daemon/*.c $(addsuffix /*.c,$(addprefix daemon/,$(DAEMON_PARTS)))))
LIB_OBJS := $(patsubst daemon/%.c,$(BUILD)/daemon/%.o,$(LIB_SRCS)) $(BUILD)/gen/profile.pb-c.o
LIB := $(BUILD)/libcprof.a
CLI_OBJS := $(patsubst cli/%.c,$(BUILD)/cli/%.o,$(wildcard cli/*.c))
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
WORKLOADS := $(patsubst tests/workloads/%.c,$(BUILD)/workloads/%,$(wildcard tests/workloads/*.c))
WORKLOADS += $(patsubst tests/workloads/%.c,$(BUILD)/workloads/%-nofp,$(wildcard tests/workloads/*.c))
WORKLOADS += $(patsubst tests/workloads/lib/%.c,$(BUILD)/workloads/lib%.so,$(wildcard tests/workloads/lib/*.c))
# the heap workloads under other allocators, and in C++
WORKLOADS += $(BUILD)/workloads/leaks-jemalloc $(BUILD)/workloads/leaks-tcmalloc \
	$(BUILD)/workloads/newdel $(BUILD)/workloads/newdel-tcmalloc $(BUILD)/workloads/locks-cxx
TEST_TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/tests/%,$(filter-out %.bpf.c,$(wildcard tests/tools/*.c)))

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all deps deps-check run check bench soak fuzz clean install uninstall

# Builds only: installing packages is make deps (make run and make check do it).
all: $(BUILD)/cprofd $(BUILD)/cprof-ctl

deps:
	$(Q)scripts/deps.sh build

deps-check:
	$(Q)scripts/deps.sh check

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c bpf/*.h include/*.h | $(BUILD)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@
	$(Q)llvm-readelf -S $@ | awk 'function hex(s,  i, n) { n = 0; s = tolower(s); \
		for (i = 1; i <= length(s); i++) n = n * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1; return n } \
		{ sub(/^ *\[ *[0-9]+\] */, ""); $$0 = $$0 } \
		$$1 ~ /^(perf_event|uprobe|uretprobe|tp_btf|raw_tp|tracepoint)/ { \
		printf "  %-8s %s: %s %d insns\n", "INSNS", "$*", $$1, hex($$5) / 8 }'

$(BUILD)/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $* > $@

$(BUILD)/gen/profile.pb-c.c $(BUILD)/gen/profile.pb-c.h &: proto/profile.proto | $(BUILD)/gen
	$(call msg,PROTOC,$<)
	$(Q)$(PROTOC_C) --proto_path=proto --c_out=$(BUILD)/gen $<

# System call names by number, from the kernel headers the build has, for
# the offcpu view's syscall label.
$(BUILD)/gen/syscalls.h: | $(BUILD)/gen
	$(call msg,GEN,$@)
	$(Q)echo '#include <asm/unistd.h>' | $(CC) -E -dM - | \
		awk 'BEGIN { print "/* generated from <asm/unistd.h> */" } \
		$$1 == "#define" && $$2 ~ /^__NR_/ && $$3 ~ /^[0-9]+$$/ { \
		sub(/^__NR_/, "", $$2); printf "\t[%d] = \"%s\",\n", $$3, $$2 }' > $@

$(BUILD)/gen/profile.pb-c.o: $(BUILD)/gen/profile.pb-c.c
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(CPROF_CFLAGS) -c $< -o $@

$(BUILD)/daemon/%.o: daemon/%.c $(SKELS) $(GEN) | $(BUILD)/daemon
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(CPROF_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/cli/%.o: cli/%.c $(GEN) | $(BUILD)/cli
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(CPROF_CFLAGS) -MMD -MP -c $< -o $@

# the files that print the version
$(BUILD)/daemon/main.o $(BUILD)/cli/cprof-ctl.o: VERSION

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/cprofd: $(BUILD)/daemon/main.o $(LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(CPROF_CFLAGS) $(LDFLAGS) $^ $(DAEMON_LIBS) -o $@

$(BUILD)/cprof-ctl: $(CLI_OBJS) $(LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(CPROF_CFLAGS) $(LDFLAGS) $^ $(CLI_LIBS) -o $@

$(BUILD)/tests/%: tests/unit/%.c tests/unit/check.h $(LIB) | $(BUILD)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(CPROF_CFLAGS) -Itests/unit $< $(LIB) $(DAEMON_LIBS) $(CLI_LIBS) -o $@

# bpfmap__drain on real maps under ASan and UBSan: the test includes
# daemon/capture/bpfmaps.c, and wraps libbpf's map calls so that ASan sees the memory
# the kernel reads and writes, and so that it can make them fail.
BPFMAPS_WRAPPED := bpf_map_get_next_key bpf_map_lookup_elem bpf_map_delete_elem \
	bpf_map_lookup_and_delete_batch
$(BUILD)/tests/test_bpfmaps: tests/unit/test_bpfmaps.c tests/unit/check.h daemon/capture/bpfmaps.c \
		daemon/capture/bpfmaps.h include/*.h | $(BUILD)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
		-fno-sanitize-recover=all $(CPROF_CFLAGS) -Itests/unit $< \
		$(foreach f,$(BPFMAPS_WRAPPED),-Wl,--wrap=$(f)) -lbpf -o $@

$(BUILD)/tests/%: tests/tools/%.c $(LIB) | $(BUILD)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(CPROF_CFLAGS) $< $(LIB) $(CLI_LIBS) -o $@

# the offcpu benchmark's floor: empty programs on the scheduler source's hooks
$(BUILD)/tests/floor.bpf.o: tests/tools/floor.bpf.c | $(BUILD)/tests
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/tests/floor: tests/tools/floor.c $(BUILD)/tests/floor.bpf.o | $(BUILD)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(CPROF_CFLAGS) $< -lbpf -o $@

$(BUILD)/tests/craft: tests/tools/craft.c | $(BUILD)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(CPROF_CFLAGS) $< -ldw -lelf -o $@

# Test workloads, with frame pointers and (-nofp) without: how Debian builds
# its programs, so only call-frame information can unwind them.
$(BUILD)/workloads/lib%.so: tests/workloads/lib/%.c | $(BUILD)/workloads
	$(call msg,CC,$@)
	$(Q)$(CC) -g -O2 -fomit-frame-pointer -shared -fPIC $< -o $@

$(BUILD)/workloads/%-nofp: tests/workloads/%.c | $(BUILD)/workloads
	$(call msg,CC,$@)
	$(Q)$(CC) -g -O2 -fomit-frame-pointer -fno-inline -pthread $< -o $@ -ldl

$(BUILD)/workloads/%: tests/workloads/%.c | $(BUILD)/workloads
	$(call msg,CC,$@)
	$(Q)$(CC) -g -O1 -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -fno-inline -pthread $< -o $@ -ldl

# leaks with jemalloc and tcmalloc in place of glibc's malloc, and newdel
# (C++) with libstdc++'s operator new and tcmalloc's. --no-as-needed: nothing
# names tcmalloc, which only replaces symbols, and a linker that drops
# libraries not needed would drop it.
$(BUILD)/workloads/leaks-jemalloc: tests/workloads/leaks.c | $(BUILD)/workloads
	$(call msg,CC,$@)
	$(Q)$(CC) -g -O1 -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -fno-inline -pthread $< -o $@ -ldl -ljemalloc

$(BUILD)/workloads/leaks-tcmalloc: tests/workloads/leaks.c | $(BUILD)/workloads
	$(call msg,CC,$@)
	$(Q)$(CC) -g -O1 -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -fno-inline -pthread $< -o $@ -ldl \
		-Wl,--no-as-needed -ltcmalloc

$(BUILD)/workloads/newdel: tests/workloads/newdel.cc | $(BUILD)/workloads
	$(call msg,CXX,$@)
	$(Q)$(CXX) -g -O1 -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -fno-inline -pthread $< -o $@

$(BUILD)/workloads/newdel-tcmalloc: tests/workloads/newdel.cc | $(BUILD)/workloads
	$(call msg,CXX,$@)
	$(Q)$(CXX) -g -O1 -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -fno-inline -pthread $< -o $@ \
		-Wl,--no-as-needed -ltcmalloc

# the block and mutex views' workload in C++: std::mutex, std::shared_mutex
$(BUILD)/workloads/locks-cxx: tests/workloads/locks.cc | $(BUILD)/workloads
	$(call msg,CXX,$@)
	$(Q)$(CXX) -g -O1 -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -fno-inline -std=c++17 -pthread $< -o $@

$(BUILD)/bpf $(BUILD)/gen $(BUILD)/daemon $(BUILD)/cli $(BUILD)/tests $(BUILD)/workloads:
	$(Q)mkdir -p $@

# These install what is missing first, then build: the build is a second make,
# so that no compile starts before the packages are in (make -j).
run: deps
	$(Q)$(MAKE) --no-print-directory all
	./$(BUILD)/cprofd

TESTS_BUILT := $(UNIT_TESTS) $(TEST_TOOLS) $(WORKLOADS)
FUZZERS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/*.c))
check: deps-check
	$(Q)$(MAKE) --no-print-directory all $(TESTS_BUILT) $(FUZZERS)
	$(Q)tests/run.sh

bench:
	$(Q)scripts/deps.sh bench
	$(Q)$(MAKE) --no-print-directory all $(TESTS_BUILT)
	$(Q)tests/bench/run.sh
	$(Q)tests/bench/unwind.sh
	$(Q)tests/bench/symbols.sh
	$(Q)tests/bench/churn.sh
	$(Q)tests/bench/offcpu.sh
	$(Q)tests/bench/heap.sh
	$(Q)tests/bench/lock.sh
	$(Q)tests/bench/history.sh
	$(Q)tests/bench/fleet.sh

# 30 minutes of a busy host (BENCH_SOAK_MINUTES to change it): not part of bench
soak:
	$(Q)scripts/deps.sh bench
	$(Q)$(MAKE) --no-print-directory all $(TESTS_BUILT)
	$(Q)tests/bench/soak.sh

# libFuzzer harnesses for the parsers of files other programs write: make fuzz
# runs each for FUZZ_SECONDS (default 600) and writes the figures into
# docs/PERFORMANCE.md; make check replays their corpora.
fuzz: $(FUZZERS) $(BUILD)/tests/craft
	$(Q)tests/bench/fuzz.sh

# Harnesses that drive the daemon's parsers through their own interfaces,
# built together with them under the sanitizers.
FUZZ_PARSERS := $(addprefix daemon/,symbols/elfobj.c capture/unwind_table.c symbols/dwarfsrc.c \
	symbols/gopclntab.c symbols/demangle.c processes/procmaps.c symbols/debuginfo.c \
	symbols/buildid.c symbols/elfinit.c fileio.c hashmap.c symbols/hostile.c symbols/ipc.c \
	symbols/parserd.c symbols/symcache.c serving/params.c log.c)
$(BUILD)/fuzz/fuzz_elf $(BUILD)/fuzz/fuzz_text $(BUILD)/fuzz/fuzz_ipc $(BUILD)/fuzz/fuzz_debugfile: $(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_PARSERS)
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(BUILD)/fuzz
	$(Q)$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		$(CPROF_CFLAGS) $< $(FUZZ_PARSERS) $(DAEMON_LIBS) -o $@

# small read chunks make lines cross chunk boundaries with short inputs
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c daemon/symbols/%.c daemon/fileio.c
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(BUILD)/fuzz
	$(Q)$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -DPERFMAP_READ_CHUNK=64 \
		$(CPROF_CFLAGS) $< daemon/fileio.c -o $@

# make install [PREFIX=/usr/local] [DESTDIR=]: the programs, the man pages
# (VERSION put in their footer), the systemd unit (its paths rewritten for
# PREFIX) and, unless one is there already, the example config file in /etc.
# The Debian package uses PREFIX=/usr.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
# Debian 12's systemd and debhelper look for packaged units in /lib/systemd/system
UNITDIR ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
INSTALL ?= install

install: all
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/cprofd
	$(Q)$(INSTALL) -m 755 $(BUILD)/cprofd $(DESTDIR)$(SBINDIR)/cprofd
	$(Q)$(INSTALL) -m 755 $(BUILD)/cprof-ctl $(DESTDIR)$(BINDIR)/cprof-ctl
	$(Q)for m in man8/cprofd.8 man1/cprof-ctl.1; do \
		sed '/^\.TH /s/"cprof"/"cprof $(VERSION)"/' docs/man/$${m#*/} >$(DESTDIR)$(MANDIR)/$$m && \
		chmod 644 $(DESTDIR)$(MANDIR)/$$m || exit 1; \
	done
	$(Q)sed -e 's|/usr/sbin/cprofd|$(SBINDIR)/cprofd|g' -e 's|/etc/cprofd/|$(SYSCONFDIR)/cprofd/|g' \
		packaging/cprofd.service >$(DESTDIR)$(UNITDIR)/cprofd.service.tmp
	$(Q)chmod 644 $(DESTDIR)$(UNITDIR)/cprofd.service.tmp
	$(Q)mv -f $(DESTDIR)$(UNITDIR)/cprofd.service.tmp $(DESTDIR)$(UNITDIR)/cprofd.service
	$(Q)if [ -e $(DESTDIR)$(SYSCONFDIR)/cprofd/cprofd.conf ]; then \
		echo "  kept $(DESTDIR)$(SYSCONFDIR)/cprofd/cprofd.conf (packaging/cprofd.conf is the example)"; \
	else \
		$(INSTALL) -m 644 packaging/cprofd.conf $(DESTDIR)$(SYSCONFDIR)/cprofd/cprofd.conf; \
	fi

# Leaves the config file, which may hold local changes.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/cprofd $(DESTDIR)$(BINDIR)/cprof-ctl \
		$(DESTDIR)$(MANDIR)/man8/cprofd.8 $(DESTDIR)$(MANDIR)/man1/cprof-ctl.1 \
		$(DESTDIR)$(UNITDIR)/cprofd.service

clean:
	rm -rf $(BUILD)

-include $(wildcard $(BUILD)/daemon/*.d $(BUILD)/daemon/*/*.d $(BUILD)/cli/*.d)
