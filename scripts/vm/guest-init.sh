#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Stage 2 of the kvbucket test VM, run as PID 1 by stage 1 (scripts/vm/init)
# after it switched to the host's root filesystem (read-only, virtio-9p).
# It runs with the host's own tools: bash, kmod's modprobe, fio, python3...
#
# It prepares a writable, test-friendly system (tmpfs, the per-run directory
# shared read-write with the host, NVMe disks in a fixed order, the kvbucket
# module), runs the command that scripts/vm.sh wrote into the run's env file,
# dumps dmesg, reports the exit status and powers off.
#
# Exit status reporting (read by scripts/vm.sh): the file $KVB_VM_RUN/exit-status
# (written through 9p, synchronous) and a console line
# "KVB-EXIT <token> <status>" as a fallback.
set -u

# The host's env for this run: KVB_* variables and the command (see vm.sh).
run_env=
for arg in $(</proc/cmdline); do
	case "$arg" in
	kvb.env=*) run_env=${arg#kvb.env=} ;;
	esac
done

log() { # with the guest's uptime, to see where boot time goes
	local up
	read -r up _ </proc/uptime
	echo "kvb-vm: [$up] $*" >/dev/console
}

# PID 1 must never exit (the kernel would panic); power off instead.
# reboot(2) through busybox is synchronous, unlike sysrq 'o'.
power_off() {
	sync
	/bin/busybox poweroff -f
	echo o >/proc/sysrq-trigger
	exec /bin/busybox sleep 3600
}

# Report STATUS to the host and power off.
finish() {
	local status=$1

	# Everything the kernel said, for the host's splat check and for
	# humans: the console only showed KERN_WARNING and above live.
	if [ -n "${KVB_OUT:-}" ] && [ -d "$KVB_OUT" ]; then
		dmesg --color=never >"$KVB_OUT/dmesg.txt" 2>&1
	fi
	{
		echo "kvb-vm: ---- guest dmesg begin ----"
		dmesg --color=never
		echo "kvb-vm: ---- guest dmesg end ----"
		echo "KVB-EXIT ${KVB_VM_TOKEN:-notoken} $status"
	} >/dev/console 2>&1
	if [ -n "${KVB_VM_RUN:-}" ]; then
		echo "$status" >"$KVB_VM_RUN/exit-status.tmp" &&
			mv "$KVB_VM_RUN/exit-status.tmp" "$KVB_VM_RUN/exit-status"
	fi
	# Wait until the serial port has sent everything: tcsetattr(TCSADRAIN)
	# with unchanged settings returns only once the output is drained.
	stty -F /dev/console "$(stty -F /dev/console -g)" 2>/dev/null
	power_off
}

# Infrastructure failure before CMD could run: status 125.
fail() {
	log "FATAL: $*"
	finish 125
}

mount_fs() { # TYPE SOURCE DIR [OPTIONS]
	[ -d "$3" ] || mkdir -p "$3" || fail "cannot create $3"
	mount -t "$1" ${4:+-o "$4"} "$2" "$3" || fail "cannot mount $1 on $3"
}

if [ -z "$run_env" ] || [ ! -f "$run_env" ]; then
	fail "no kvb.env= file ($run_env)"
fi
# shellcheck source=/dev/null
. "$run_env"

# Another kernel's modules (KVB_VM_MODDIR) become /lib/modules/$KVB_KVER.
# Before the tmpfs mounts below, which could hide where they are.
if [ "$KVB_VM_MODDIR" != "/lib/modules/$KVB_KVER" ]; then
	mount_fs tmpfs tmpfs /lib/modules mode=0755
	mkdir -p "/lib/modules/$KVB_KVER"
	mount --bind "$KVB_VM_MODDIR" "/lib/modules/$KVB_KVER" ||
		fail "cannot bind $KVB_VM_MODDIR on /lib/modules/$KVB_KVER"
fi

# The host root is read-only: give the usual writable places a tmpfs.
# (Not /root: files there, such as ~/.cache, stay visible; HOME is in /tmp.)
# The repo and the module may lie below one of them (CI may clone into
# /tmp): bind those aside on devtmpfs first and move them back on top.
TMPFS_DIRS="/tmp /run /var/tmp /var/log /var/cache"
keep=()
for path in "$KVB_ROOT" "$(dirname "$KVB_MODULE")"; do
	for dir in $TMPFS_DIRS; do
		case "$path/" in
		"$dir"/*)
			n=${#keep[@]}
			mkdir -p "/dev/.kvb-keep/$n"
			mount --bind "$path" "/dev/.kvb-keep/$n" ||
				fail "cannot keep $path visible"
			keep+=("$path")
			;;
		esac
	done
done
for dir in $TMPFS_DIRS; do
	mount_fs tmpfs tmpfs "$dir" mode=1777
done
for n in "${!keep[@]}"; do
	mkdir -p "${keep[$n]}"
	mount --move "/dev/.kvb-keep/$n" "${keep[$n]}" ||
		fail "cannot put ${keep[$n]} back"
done
mkdir -m 0700 /tmp/home
mount_fs devpts devpts /dev/pts gid=5,mode=620,ptmxmode=666
mount_fs tmpfs tmpfs /dev/shm mode=1777
mount_fs debugfs debugfs /sys/kernel/debug
mkdir -p /run/lock
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
hostname kvbvm

# The per-run directory (disk images, KVB_OUT, exit status) is the one
# read-write share, mounted at its host path so paths match on both sides.
mount_fs 9p kvbrun "$KVB_VM_RUN" trans=virtio,version=9p2000.L,msize=262144,cache=mmap
mkdir -p "$KVB_OUT" || fail "cannot create $KVB_OUT"

# configfs is a module here (null_blk, nvmet... want it mounted).
modprobe configfs && mount_fs configfs configfs /sys/kernel/config

# NVMe: the driver probes the controllers one by one in PCI order and
# modprobe returns only after the namespaces are scanned (nvme_async_probe
# is waited for by the module loader), so /dev/nvme0n1 is the first disk of
# the QEMU command line. Verify it through the serial numbers rather than
# trusting it: a wrong order would silently swap test disks.
modprobe nvme || fail "modprobe nvme failed"
KVB_DISKS=
for ((i = 0; i < KVB_VM_NDISKS; i++)); do
	serial=$(cat "/sys/class/nvme/nvme$i/serial" 2>/dev/null)
	serial=${serial%% *}
	[ "$serial" = "kvb$i" ] ||
		fail "nvme$i has serial '$serial', expected kvb$i: disk order changed"
	[ -b "/dev/nvme${i}n1" ] || fail "/dev/nvme${i}n1 missing"
	KVB_DISKS="$KVB_DISKS${KVB_DISKS:+ }/dev/nvme${i}n1"
done

if [ "$KVB_VM_LOAD_MODULE" = 1 ]; then
	# kvbucket.ko depends on libcrc32c; insmod does not resolve
	# dependencies, modprobe of the dependencies does.
	modprobe -a libcrc32c crc32c_generic || fail "modprobe libcrc32c failed"
	insmod "$KVB_MODULE" || fail "insmod $KVB_MODULE failed"
fi

export KVB_ROOT KVB_MODULE KVB_KVER KVB_OUT KVB_DISKS KVB_VM_RUN
export HOME=/tmp/home TERM=${KVB_VM_TERM:-linux} PYTHONDONTWRITEBYTECODE=1
export PATH="$KVB_ROOT/build/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export LD_LIBRARY_PATH="$KVB_ROOT/build/lib"
cd "$KVB_ROOT" || fail "cannot cd to $KVB_ROOT"

if [ "$KVB_VM_LOAD_MODULE" = 1 ]; then
	log "ready: disks $KVB_DISKS, kvbucket loaded"
else
	log "ready: disks $KVB_DISKS, kvbucket not loaded (--no-module)"
fi
if [ -n "$KVB_VM_CMD" ]; then
	# Batch: no stdin (a CMD that reads it must not wait on the console).
	sh -c "$KVB_VM_CMD" </dev/null >/dev/console 2>&1
	status=$?
else
	log "interactive shell; exit (or Ctrl-D) powers off, Ctrl-A x kills QEMU"
	# A real controlling terminal, so that job control and Ctrl-C work.
	setsid -c bash -i </dev/ttyS0 >/dev/ttyS0 2>&1
	status=$?
fi
finish "$status"
