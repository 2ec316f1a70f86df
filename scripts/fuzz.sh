#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make fuzz`: boot the VM and run tests/kvb_fuzz on /dev/nvme1n1.
#
#   scripts/fuzz.sh [--stock|--debug] [CALLS [SEED]]    (default 1000000, 1)
#
# The kernel: the debug one (KASAN, lockdep, kmemleak: scripts/debug-kernel.sh)
# when it is already built on this machine, else Debian's; --debug builds it
# if needed, --stock never uses it. Exit status: vm.sh's (123: the command
# passed but the kernel log has a splat). Run directory: $KVB_VM_DIR
# (default build/fuzz/vm); console log build/fuzz/console.log.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/build/fuzz
MAKE=${MAKE:-make}
mode=auto
case ${1:-} in
--stock) mode=stock; shift ;;
--debug) mode=debug; shift ;;
esac
calls=${1:-1000000}
seed=${2:-1}

# the debug kernel's cache dir if it is built (same key as debug-kernel.sh)
debug_dir() {
	local cache key
	cache=${KVB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvbucket}
	key=$( { cat "$ROOT/scripts/debug-kernel.config"
		 dpkg-query -W -f='${Version}' linux-source-6.1; echo; } |
		sha256sum | cut -c1-16)
	[ -f "$cache/debug-kernel/$key/done" ] && echo "$cache/debug-kernel/$key"
}

mkdir -p "$OUT"
dkdir=
if [ "$mode" = debug ]; then
	dkdir=$("$ROOT/scripts/debug-kernel.sh") || exit 1
elif [ "$mode" = auto ]; then
	dkdir=$(debug_dir 2>/dev/null) || dkdir=
fi
if [ -n "$dkdir" ]; then
	rel=$(cat "$dkdir/release")
	tree=$OUT/debug-tree
	rm -rf "$tree"
	mkdir -p "$tree"
	cp -r "$ROOT/Kbuild" "$ROOT/kmod" "$ROOT/uapi" "$tree/"
	"$MAKE" --no-print-directory -s -C "$dkdir/src" M="$tree" modules || exit 1
	export KVB_VM_KERNEL=$dkdir/bzImage KVB_VM_KVER=$rel \
		KVB_VM_MODDIR=$dkdir/modules/lib/modules/$rel \
		KVB_VM_MODULE=$tree/kmod/kvbucket.ko
	echo "fuzz: debug kernel $rel"
else
	echo "fuzz: Debian's kernel"
fi
# about 750 calls/s under TCG on the stock kernel, several times fewer on
# the debug one
export KVB_VM_TIMEOUT=${KVB_VM_TIMEOUT:-14400}
export KVB_VM_DIR=${KVB_VM_DIR:-$OUT/vm}
exec "$ROOT/scripts/vm.sh" --log "$OUT/console.log" -- \
	"build/tests/kvb_fuzz --calls $calls --seed $seed /dev/nvme1n1"
