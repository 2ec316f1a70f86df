#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build (or reuse) the tiny initramfs of the kvbucket test VM and print its
# path. Usage: scripts/vm/initramfs.sh KVER OUTDIR [MODDIR]
# MODDIR (default /lib/modules/KVER) must end in /lib/modules/KVER.
#
# Contents: busybox-static, scripts/vm/init as /init, and the virtio-pci and
# 9p modules of KVER (with their dependencies) taken from the host's
# /lib/modules/KVER. The image is rebuilt only when one of those inputs
# changes: a hash of all of them is kept next to it.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
kver=${1:?usage: initramfs.sh KVER OUTDIR}
outdir=${2:?usage: initramfs.sh KVER OUTDIR}
moddir=${3:-/lib/modules/$kver}
busybox=/bin/busybox
image=$outdir/initramfs-$kver.cpio.gz
stamp=$image.inputs

die() { echo "initramfs.sh: $*" >&2; exit 1; }

case "$moddir" in
*/lib/modules/"$kver") basedir=${moddir%/lib/modules/"$kver"} ;;
*) die "$moddir does not end in /lib/modules/$kver" ;;
esac

# The modules stage 1 needs to reach the 9p root, in load order, without
# duplicates (modprobe prints shared dependencies once per requested module).
# Built-in ones ("builtin 9p") need nothing.
module_paths() {
	modprobe ${basedir:+-d "$basedir"} -S "$kver" --show-depends -a \
		virtio_pci 9pnet_virtio 9p |
		awk '$1 == "insmod" && !seen[$2]++ { print $2 }'
}

if [ ! -x "$busybox" ] || ! "$busybox" --list | grep -qx switch_root; then
	die "$busybox missing or not a full busybox: apt-get install busybox-static"
fi
# A dynamic busybox would not run in the initramfs, which has no libc.
! ldd "$busybox" >/dev/null 2>&1 ||
	die "$busybox is not static: apt-get install busybox-static"
mods=$(module_paths) || die "modprobe -S $kver --show-depends: no virtio/9p for $kver in $moddir"

# Everything that goes into the image, hashed: any change rebuilds it.
# shellcheck disable=SC2086 # $mods is a newline-separated list of paths
inputs=$(
	echo "$kver $moddir"
	sha256sum "$here/init" "$busybox" "$0" $mods
)
if [ -f "$image" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ]; then
	echo "$image"
	exit 0
fi

mkdir -p "$outdir"
tmp=$(mktemp -d "$outdir/initramfs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root/bin"
cp "$busybox" "$root/bin/busybox"
install -m 0755 "$here/init" "$root/init"
touch "$root/modules.list"
for ko in $mods; do
	mkdir -p "$root$(dirname "$ko")"
	cp "$ko" "$root$ko"
	echo "$ko" >>"$root/modules.list"
done
# Reproducible archive: fixed order and timestamps, root-owned.
(cd "$root" && find . -print0 | LC_ALL=C sort -z |
	cpio --null --create --format=newc --owner=0:0 --reproducible --quiet) |
	gzip -n -1 >"$tmp/image"
# Atomic replacement: a concurrent VM never sees a half-written image.
mv "$tmp/image" "$image"
echo "$inputs" >"$tmp/stamp"
mv "$tmp/stamp" "$stamp"
echo "$image"
