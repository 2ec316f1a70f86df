#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install the Debian 12 packages that building, linting and testing kvbucket
# need (`make deps`). Idempotent and fast when everything is there: a single
# dpkg-query, and apt-get (update + install) only for what is missing.
set -eu

PACKAGES=(
	# the kernel the module is built for and tested on, and its headers
	linux-image-amd64 linux-headers-amd64
	# checkpatch.pl and its data files come from the kernel source
	linux-source-6.1 xz-utils perl
	# module and userspace builds
	gcc make libc6-dev pkg-config liburing-dev sparse
	# the test VM: QEMU (with qboot), the busybox initramfs, modprobe
	qemu-system-x86 busybox-static cpio gzip kmod
	# used by the tests inside the VM (which run the host's binaries)
	fio python3 dmsetup util-linux
	# building the debug kernel of `make check-debug` from linux-source-6.1
	flex bison bc libelf-dev libssl-dev
	# `make bench`: the RocksDB peer (C API), ext4 for the peers, the plot
	librocksdb-dev e2fsprogs gnuplot-nox
)

# Debian 12 also ships 6.12 kernels (linux-headers-6.12.N+deb12-amd64,
# no metapackage): `make lint` builds against the newest one too. Echo its
# package name if none is installed.
missing_612() {
	if compgen -G '/usr/src/linux-headers-6.12*-amd64' >/dev/null; then
		return
	fi
	apt-cache search --names-only '^linux-headers-6\.12\.[0-9]+\+deb12-amd64$' |
		awk '{ print $1 }' | sort -V | tail -n 1
}

# One dpkg-query for all: it lists the installed ones; packages it has
# never heard of are simply absent from its output.
# shellcheck disable=SC2016 # ${...} is dpkg-query's format, not bash's
installed=" $(dpkg-query -W -f='${db:Status-Status} ${Package}\n' "${PACKAGES[@]}" 2>/dev/null |
	awk '$1 == "installed" { printf "%s ", $2 }')"
missing=()
for pkg in "${PACKAGES[@]}"; do
	case "$installed" in
	*" $pkg "*) ;;
	*) missing+=("$pkg") ;;
	esac
done

if [ ${#missing[@]} -eq 0 ] && compgen -G '/usr/src/linux-headers-6.12*-amd64' >/dev/null; then
	echo "install-deps: all ${#PACKAGES[@]} packages and 6.12 headers present"
	exit 0
fi

echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: need root: apt-get install ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
h612=$(missing_612)
[ -n "$h612" ] && missing+=("$h612")
apt-get install -y --no-install-recommends "${missing[@]}"
echo "install-deps: done"
