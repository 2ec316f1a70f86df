# SPDX-License-Identifier: GPL-2.0
#
# kvbucket top-level Makefile. See README.md.
#
#   make            module + userspace + tests (needs `make deps` once)
#   make deps       install the Debian packages everything needs
#   make lint       checkpatch --strict, sparse (C=1), W=1: zero findings
#   make vm [CMD=]  QEMU with the module loaded: a shell, or run CMD
#   make demo       offload / load a KV-cache-like workload in the VM
#   make check      deps, lint, build, the whole test suite in the VM

KVER	?= $(shell $(CURDIR)/scripts/kver.sh)
KDIR	?= /lib/modules/$(KVER)/build
BUILD	?= $(CURDIR)/build

export KVER KDIR BUILD

.PHONY: all module userspace tests deps lint vm demo check clean install

all: module userspace tests

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

userspace:
	$(MAKE) -C userspace

tests: userspace
	$(MAKE) -C tests

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean || true
	rm -rf $(BUILD)
