# SPDX-License-Identifier: GPL-2.0
#
# kvbucket top-level Makefile. See README.md.
#
#   make            module + userspace + tests (needs `make deps` once)
#   make deps       install the Debian packages everything needs
#   make lint       checkpatch --strict, sparse (C=1), W=1: zero findings
#   make vm [CMD=]  QEMU with the module loaded: a shell, or run CMD
#   make demo       offload / load a KV-cache-like workload in the VM
#   make check      deps, lint, build, the whole test suite in the VM, on
#                   Debian's kernel and on a KASAN/lockdep/kmemleak one
#   make check-debug  only the debug-kernel lane
#   make crash-test power-cut test, CUTS=100 cuts (make check runs 20)
#   make fuzz       kvb_fuzz, CALLS=1000000 calls, in the VM (debug kernel if built)
#   make bench      kvbucket-bench vs fio, RocksDB and file-per-bucket in the
#                   VM: build/bench/{table.txt,results.json,throughput.png}
#   make install    module (depmod), libkvbucket, headers, tools: real hosts

KVER	?= $(shell $(CURDIR)/scripts/kver.sh)
KDIR	?= /lib/modules/$(KVER)/build
BUILD	?= $(CURDIR)/build

export KVER KDIR BUILD

.PHONY: all module userspace tests deps lint vm demo check check-debug crash-test fuzz bench clean install

all: module userspace tests

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

userspace:
	$(MAKE) -C userspace

tests: userspace
	$(MAKE) -C tests

# The targets below are thin wrappers: the scripts are usable directly.
deps:
	$(CURDIR)/scripts/install-deps.sh

lint:
	$(CURDIR)/scripts/lint.sh

# make vm                        interactive shell in the VM (Ctrl-A x quits)
# make vm CMD='...'              run CMD in the VM (make exits 2 if it fails;
#                                scripts/vm.sh returns the exact status)
# make vm VM_ARGS='--no-module --mem 4096' ...   more scripts/vm.sh options
# CMD reaches the recipe through the environment, so any quoting survives.
vm: all
	@if [ -n "$$CMD" ]; then \
		exec $(CURDIR)/scripts/vm.sh $(VM_ARGS) -- "$$CMD"; \
	else \
		exec $(CURDIR)/scripts/vm.sh $(VM_ARGS); \
	fi

# Sequential on purpose (deps, then the build, then the VM) even under -j.
demo:
	$(MAKE) deps
	$(MAKE) all
	$(CURDIR)/scripts/vm.sh -- 'kvbucket-demo --dev /dev/nvme0n1'

check:
	$(CURDIR)/scripts/check.sh

# Only the debug-kernel lane of make check (KASAN, lockdep, kmemleak).
check-debug:
	$(CURDIR)/scripts/check.sh --debug-only

# Power cuts: QEMU killed at random moments, every cut checked
# (scripts/crash-test.sh; SEED=S reproduces a run).
CUTS	?= 100
crash-test: all
	$(CURDIR)/scripts/crash-test.sh $(if $(SEED),--seed $(SEED)) $(CUTS)

# The ioctl fuzzer on /dev/nvme1n1 (scripts/fuzz.sh): on the debug kernel
# when scripts/debug-kernel.sh has built it, else Debian's; SEED=S.
CALLS	?= 1000000
fuzz: all
	$(CURDIR)/scripts/fuzz.sh $(CALLS) $(or $(SEED),1)

# The benchmark of Documentation/benchmarks.rst, in one boot of the VM
# (scripts/bench.sh; KVB_BENCH_MB=, KVB_BENCH_QD=, KVB_BENCH_BATCHES=...).
bench: all
	$(CURDIR)/scripts/bench.sh

# On a real host: make KVER=$(uname -r) && make KVER=$(uname -r) install.
# The module goes to /lib/modules/$(KVER)/updates (then depmod), the
# library, headers, kvbucket.pc and tools under PREFIX (/usr/local).
install:
	$(MAKE) -C $(KDIR) M=$(CURDIR) INSTALL_MOD_DIR=updates modules_install
	depmod -a $(if $(INSTALL_MOD_PATH),-b $(INSTALL_MOD_PATH)) $(KVER)
	$(MAKE) -C userspace install

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean || true
	rm -rf $(BUILD)
