#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot Debian's kernel in QEMU and run a command in it (see
# Documentation/testing.rst for the whole story).
#
#   scripts/vm.sh [--no-module] [--mem MB] [--log FILE] [--] [CMD...]
#   scripts/vm.sh --probe-accel      print "kvm" or "tcg" and exit
#
# Without CMD: an interactive shell on the console. With CMD: runs it with
# `sh -c "CMD..."` as root in the repo directory and exits with its status.
# The guest's root is the host's root filesystem (read-only, virtio-9p), so
# every host tool and /lib/modules/$KVER is there; the kvbucket module is
# loaded first unless --no-module.
#
# Exit status: CMD's; 123 if CMD succeeded but the kernel log has a splat;
# 124 if the VM hit KVB_VM_TIMEOUT; 125 if the VM failed (no exit status
# from the guest: crash, panic, setup error); 2 for usage errors.
#
# Environment:
#   KVB_VM_DISKS="2G 1G 256M"  sizes of the NVMe disks (fresh every boot)
#   KVB_VM_DISK_FILES="A B"    existing image files used as the NVMe disks
#                              instead (as they are: never truncated; for
#                              booting again on the disks of a previous boot)
#   KVB_VM_TIMEOUT=3600        seconds before QEMU is killed
#   KVB_VM_ACCEL=kvm|tcg       skip the accelerator probe (default: probe)
#   KVB_VM_DISK_CACHE=none     fail instead of falling back to cache=writeback
#                              when the images' filesystem has no O_DIRECT
#                              (benchmarks: the host's page cache would lie)
#   KVB_VM_DIR=build/vm        where images, logs and KVB_OUT live
#   KVB_VM_KERNEL, KVB_VM_KVER, KVB_VM_MODDIR, KVB_VM_MODULE: boot another
#     kernel (e.g. a debug build): its bzImage, release, the directory the
#     guest gets as /lib/modules/KVER, and the kvbucket.ko built for it
#   KVB_*                      other KVB_ variables are passed to the guest
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VMDIR_DEFAULT=$ROOT/build/vm

die() { echo "vm.sh: $*" >&2; exit "${2:-125}"; }
note() { echo "vm.sh: $*" >&2; }

usage() {
	sed -n '5,11s/^# \{0,1\}//p' "$0" >&2
	exit 2
}

# The QEMU options common to the probe and the real run.
qemu_base() { # ACCEL MEM_MB
	local cpu=max
	[ "$1" = kvm ] && cpu=host
	QEMU=(qemu-system-x86_64 -machine "pc,accel=$1" -cpu "$cpu"
		-smp 2 -m "$2" -nodefaults -nographic -no-reboot
		-bios /usr/share/qemu/qboot.rom
		-kernel "$KERNEL")
}

# Decide between KVM and TCG. KVM is present on some hosts but hangs (or
# aborts) there, so boot a trivial guest (stage 1 with kvb.probe=: it only
# prints a marker and powers off) under a short timeout and look for the
# marker. Costs ~1 s with working KVM, up to 20 s when it hangs.
probe_accel() {
	local token log initrd

	if [ -n "${KVB_VM_ACCEL:-}" ]; then
		echo "$KVB_VM_ACCEL"
		return
	fi
	if [ ! -w /dev/kvm ]; then
		echo tcg
		return
	fi
	initrd=$("$ROOT/scripts/vm/initramfs.sh" "$KVER" "$VMDIR_DEFAULT" "$MODDIR") || exit 125
	token=$RANDOM$RANDOM
	log=$(mktemp)
	qemu_base kvm 256
	# In a subshell: QEMU may abort (SIGABRT) on KVM errors, and bash
	# would report that on our stderr.
	(timeout -k 5 20 "${QEMU[@]}" -initrd "$initrd" -serial "file:$log" \
		-append "console=ttyS0 quiet panic=-1 kvb.probe=$token" \
		</dev/null >/dev/null 2>&1; exit $?) 2>/dev/null || true
	if grep -q "KVB-PROBE-OK $token" "$log"; then
		echo kvm
	else
		note "KVM does not work here (probe boot failed): using TCG"
		echo tcg
	fi
	rm -f "$log"
}

# Pick this run's directory and lock it: build/vm normally; a private
# build/vm/run.PID when another vm.sh (another engineer, another make) holds
# build/vm, so that parallel runs never share disk images or KVB_OUT.
claim_run_dir() {
	local dir=${KVB_VM_DIR:-$VMDIR_DEFAULT}

	mkdir -p "$dir"
	exec 9>"$dir/lock"
	if ! flock -n 9; then
		note "$dir is used by another VM: running in $dir/run.$$"
		dir=$dir/run.$$
		mkdir -p "$dir"
		exec 9>"$dir/lock"
		flock -n 9 || die "cannot lock $dir"
		PRIVATE_RUN_DIR=1
	fi
	RUN=$dir
}

# Fresh sparse images for the NVMe disks, and the QEMU options for them.
make_disks() {
	local i=0 size img cache=none aio=native

	# cache=none is O_DIRECT on the image: check the filesystem takes it.
	if ! dd if=/dev/zero of="$RUN/odirect-test" bs=4096 count=1 \
		oflag=direct status=none 2>/dev/null; then
		[ "${KVB_VM_DISK_CACHE:-}" = none ] &&
			die "O_DIRECT does not work in $RUN and KVB_VM_DISK_CACHE=none"
		note "O_DIRECT does not work in $RUN: disks use cache=writeback"
		cache=writeback
		aio=threads
	fi
	rm -f "$RUN/odirect-test"
	DISK_OPTS=()
	if [ -n "${KVB_VM_DISK_FILES:-}" ]; then
		for img in $KVB_VM_DISK_FILES; do
			[ -f "$img" ] && [ -w "$img" ] ||
				die "KVB_VM_DISK_FILES: $img is not a writable file"
			img=$(cd "$(dirname "$img")" && pwd)/$(basename "$img")
			DISK_OPTS+=(-drive "file=$img,if=none,id=nvme$i,format=raw,cache=$cache,aio=$aio"
				-device "nvme,serial=kvb$i,drive=nvme$i")
			i=$((i + 1))
		done
		NDISKS=$i
		return
	fi
	for size in ${KVB_VM_DISKS:-2G 1G 256M}; do
		img=$RUN/nvme$i.img
		rm -f "$img"
		truncate -s "$size" "$img" || die "bad disk size '$size'"
		DISK_OPTS+=(-drive "file=$img,if=none,id=nvme$i,format=raw,cache=$cache,aio=$aio"
			-device "nvme,serial=kvb$i,drive=nvme$i")
		i=$((i + 1))
	done
	NDISKS=$i
}

# The env file stage 2 sources: bash-quoted assignments.
write_env() {
	local var

	{
		printf '%s=%q\n' KVB_ROOT "$ROOT" KVB_MODULE "$MODULE" \
			KVB_KVER "$KVER" KVB_OUT "$RUN/out" KVB_VM_RUN "$RUN" \
			KVB_VM_TOKEN "$TOKEN" KVB_VM_NDISKS "$NDISKS" \
			KVB_VM_LOAD_MODULE "$LOAD_MODULE" KVB_VM_CMD "$CMD" \
			KVB_VM_MODDIR "$MODDIR" \
			KVB_VM_TERM "${TERM:-linux}"
		# Pass the caller's other KVB_* knobs (and CI) through.
		for var in $(compgen -e); do
			case "$var" in
			KVB_ROOT | KVB_MODULE | KVB_KVER | KVB_OUT | KVB_DISKS | KVB_VM_*) ;;
			KVB_* | CI) printf 'export %s=%q\n' "$var" "${!var}" ;;
			esac
		done
	} >"$RUN/guest.env"
}

main() {
	local log="" mem=3072 accel rc status
	LOAD_MODULE=1

	while [ $# -gt 0 ]; do
		case "$1" in
		--no-module) LOAD_MODULE=0 ;;
		--mem) mem=${2:?--mem needs a size in MB}; shift ;;
		--log) log=${2:?--log needs a file}; shift ;;
		--probe-accel) PROBE_ONLY=1 ;;
		-h | --help) usage ;;
		--) shift; break ;;
		-*) echo "vm.sh: unknown option $1" >&2; usage ;;
		*) break ;;
		esac
		shift
	done
	CMD="$*"

	KVER=${KVB_VM_KVER:-$("$ROOT/scripts/kver.sh")}
	KERNEL=${KVB_VM_KERNEL:-/boot/vmlinuz-$KVER}
	MODDIR=${KVB_VM_MODDIR:-/lib/modules/$KVER}
	[ -r "$KERNEL" ] || die "$KERNEL missing: make deps"
	[ -d "$MODDIR" ] || die "$MODDIR missing"
	command -v qemu-system-x86_64 >/dev/null || die "no QEMU: make deps"
	if [ -n "${PROBE_ONLY:-}" ]; then
		probe_accel
		return
	fi

	MODULE=${KVB_VM_MODULE:-$ROOT/kmod/kvbucket.ko}
	if [ "$LOAD_MODULE" = 1 ] && [ ! -f "$MODULE" ]; then
		die "$MODULE not built (make module), or use --no-module"
	fi
	accel=$(probe_accel)
	claim_run_dir
	log=${log:-$RUN/console.log}
	mkdir -p "$(dirname "$log")"
	log=$(cd "$(dirname "$log")" && pwd)/$(basename "$log")
	initrd=$("$ROOT/scripts/vm/initramfs.sh" "$KVER" "$VMDIR_DEFAULT" "$MODDIR") || exit 125

	rm -rf "$RUN/out" "$RUN/exit-status"
	mkdir -p "$RUN/out"
	make_disks
	TOKEN=$$-$RANDOM$RANDOM
	write_env
	: >"$log"

	qemu_base "$accel" "$mem"
	# One console for the kernel and the guest's shell, logged by QEMU
	# itself. Interactive: multiplexed with the monitor (Ctrl-A x quits) and
	# Ctrl-C goes to the guest. Batch: no stdin, Ctrl-C stops QEMU.
	local chardev="stdio,id=con,logfile=$log,logappend=on"
	if [ -z "$CMD" ]; then
		# shellcheck disable=SC2054 # QEMU option strings have commas
		QEMU+=(-chardev "$chardev,mux=on,signal=off" -serial chardev:con
			-mon chardev=con,mode=readline)
	else
		QEMU+=(-chardev "$chardev" -serial chardev:con)
	fi
	# loglevel=5: KERN_WARNING and worse reach the console live (WARN(),
	# BUG(), lockdep, hung tasks...); stage 2 dumps the rest of dmesg at
	# the end. panic=-1 with -no-reboot: a panic ends QEMU at once.
	QEMU+=(-initrd "$initrd"
		-append "console=ttyS0 quiet loglevel=5 printk.time=1 panic=-1 kvb.stage2=$ROOT/scripts/vm/guest-init.sh kvb.env=$RUN/guest.env"
		-virtfs "local,path=/,mount_tag=kvbroot,security_model=none,readonly=on,multidevs=remap"
		-virtfs "local,path=$RUN,mount_tag=kvbrun,security_model=none,multidevs=remap"
		"${DISK_OPTS[@]}")

	note "booting $KVER ($accel, ${mem} MB, disks: ${KVB_VM_DISK_FILES:-${KVB_VM_DISKS:-2G 1G 256M}}), console log $log"
	rc=0
	if [ -z "$CMD" ]; then
		# --foreground: QEMU must own the terminal to read it (else SIGTTIN).
		timeout --foreground -k 10 "${KVB_VM_TIMEOUT:-3600}" "${QEMU[@]}" || rc=$?
	else
		# The final dmesg dump is long: keep it in the log, not on stdout.
		timeout -k 10 "${KVB_VM_TIMEOUT:-3600}" "${QEMU[@]}" </dev/null |
			awk '/kvb-vm: ---- guest dmesg begin/ { skip = 1; n = 0; next }
			     /kvb-vm: ---- guest dmesg end/ {
				skip = 0
				print "kvb-vm: (" n " lines of guest dmesg: see the console log)"
				fflush(); next }
			     skip { n++; next }
			     { print; fflush() }'
		rc=${PIPESTATUS[0]}
	fi
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		note "FAIL: the VM did not finish within KVB_VM_TIMEOUT=${KVB_VM_TIMEOUT:-3600} s: killed"
		status=124
	elif [ -f "$RUN/exit-status" ]; then
		status=$(cat "$RUN/exit-status")
	else
		# The console marker, in case the 9p write did not make it.
		status=$(sed -n "s/^KVB-EXIT $TOKEN \([0-9]*\).*/\1/p" "$log" | tail -n 1)
	fi
	if [ -z "$status" ]; then
		note "FAIL: the guest reported no exit status (QEMU exit $rc: crash, panic or setup failure; see $log)"
		status=125
	fi

	if ! "$ROOT/scripts/vm/splat-check.sh" --kernel "$log"; then
		if [ "$status" = 0 ]; then
			note "FAIL: the command succeeded but the kernel log has splats (above)"
			status=123
		fi
	fi
	if [ -n "${PRIVATE_RUN_DIR:-}" ]; then
		# Disk images of a private run dir are useless afterwards.
		rm -f "$RUN"/nvme*.img
	fi
	note "exit status $status (KVB_OUT was $RUN/out)"
	return "$status"
}

main "$@"
