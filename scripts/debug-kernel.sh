#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the debug kernel of `make check-debug` from Debian's linux-source-6.1
# with the options of scripts/debug-kernel.config (KASAN, lockdep, kmemleak,
# ...), once per machine: the result is cached outside the clone, keyed by
# the config fragment and the source package version, and reused.
#
#   scripts/debug-kernel.sh         build if needed; print the cache dir
#
# The cache dir holds: src/ (the built tree, a KDIR for the module),
# bzImage, modules/lib/modules/<release>/, release (the release string).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARBALL=/usr/src/linux-source-6.1.tar.xz
FRAGMENT=$ROOT/scripts/debug-kernel.config
CACHE=${KVB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvbucket}

[ -r "$TARBALL" ] || { echo "debug-kernel: $TARBALL missing (make deps)" >&2; exit 1; }
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
key=$( { cat "$FRAGMENT"; echo "$srcver"; } | sha256sum | cut -c1-16)
dir=$CACHE/debug-kernel/$key

if [ -f "$dir/done" ]; then
	echo "$dir"
	exit 0
fi

# The build itself, in a bash of its own so that set -e holds in it.
if [ "${1:-}" = --build ]; then
	dir=$2
	if [ ! -d "$dir/src" ]; then
		rm -rf "$dir/src.tmp"
		mkdir -p "$dir/src.tmp"
		tar -xJf "$TARBALL" -C "$dir/src.tmp" --strip-components=1
		mv "$dir/src.tmp" "$dir/src"
	fi
	cd "$dir/src"
	make -s x86_64_defconfig
	scripts/kconfig/merge_config.sh -m .config "$FRAGMENT" >/dev/null
	make -s olddefconfig
	# every option the fragment sets must have survived olddefconfig
	missing=$(grep -E '^CONFIG_[A-Z0-9_]+=' "$FRAGMENT" | while read -r opt; do
		grep -qx "$opt" .config || echo "$opt"
	done)
	if [ -n "$missing" ]; then
		echo "debug-kernel: options not taken: $missing"
		exit 1
	fi
	make -s -j"$(nproc)" bzImage modules
	rm -rf "$dir/modules"
	make -s modules_install INSTALL_MOD_PATH="$dir/modules" INSTALL_MOD_STRIP=1
	make -s kernelrelease > "$dir/release"
	cp arch/x86/boot/bzImage "$dir/bzImage"
	exit 0
fi

mkdir -p "$dir"
log=$dir/build.log
echo "debug-kernel: building in $dir (about 10-20 minutes; log: $log)" >&2
if ! bash -eu "$0" --build "$dir" >"$log" 2>&1; then
	echo "debug-kernel: build failed, last lines of $log:" >&2
	tail -n 30 "$log" >&2
	exit 1
fi
touch "$dir/done"
echo "$dir"
