#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Power-cut test (Documentation/testing.rst, "Power-cut test"):
#
#   scripts/crash-test.sh [--seed S] [CUTS]      (default 20 cuts)
#
# A data image and a log image are created under $KVB_CRASH_DIR (default
# build/crash). Then, CUTS times: boot the VM on those same images
# (scripts/vm.sh with KVB_VM_DISK_FILES) running
# `kvb_crash check && kvb_crash work`, wait for the workload's
# "kvb_crash: working" line on the console, let it run for a pseudo-random
# 0.5-6 s and kill -9 QEMU: a power cut. A last boot runs only the check.
# Every check verifies the previous cut against the log of acknowledged
# operations (tests/kvb_crash.c). A failed check, a workload that stopped
# by itself, or a kernel splat in any boot fails the cut; the run stops at
# the first failure (the history after it means nothing) and keeps the
# images and every boot's console log (boot-N.log) for the post-mortem.
#
# Output: one TAP line per cut, then "N passed, N failed" as the last line.
# Exit status 0 if every cut passed.
#
# The delays and the workload's seeds come from one seed (--seed, or
# KVB_CRASH_SEED, default: the time), printed first: rerunning with it gives
# the same delays and workload choices (the exact kill instant still depends
# on the host's load).
#
# Environment: KVB_CRASH_DIR (images and logs), KVB_VM_DIR (default
# $KVB_CRASH_DIR/vm), KVB_CRASH_BOOT_TIMEOUT (seconds per boot, default 300),
# KVB_CRASH_DATA_SIZE (512M), KVB_CRASH_LOG_SIZE (64M).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${KVB_CRASH_DIR:-$ROOT/build/crash}
BOOT_TIMEOUT=${KVB_CRASH_BOOT_TIMEOUT:-300}
CRASH=build/tests/kvb_crash
GUEST_ARGS="--data /dev/nvme0n1 --log /dev/nvme1n1"
MARKER='kvb_crash: working'

seed=${KVB_CRASH_SEED:-}
cuts=20
while [ $# -gt 0 ]; do
	case "$1" in
	--seed) seed=${2:?--seed needs a number}; shift ;;
	-h | --help) sed -n '5,6s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) cuts=$1 ;;
	esac
	shift
done
case "$cuts$seed" in
*[!0-9]*) echo "usage: crash-test.sh [--seed S] [CUTS]" >&2; exit 2 ;;
esac
seed=${seed:-$(( $(date +%s) % 1000000 ))}
[ "$cuts" -ge 1 ] || { echo "crash-test.sh: CUTS must be >= 1" >&2; exit 2; }

for f in "$ROOT/$CRASH" "$ROOT/kmod/kvbucket.ko" "$ROOT/build/bin/kvbucket-inspect"; do
	if [ ! -e "$f" ]; then
		echo "crash-test.sh: $f missing: make all" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
done

mkdir -p "$DIR"
DATA=$DIR/data.img
LOG=$DIR/log.img
rm -f "$DATA" "$LOG" "$DIR"/boot-*.log "$DIR"/boot-*.out
truncate -s "${KVB_CRASH_DATA_SIZE:-512M}" "$DATA" &&
	truncate -s "${KVB_CRASH_LOG_SIZE:-64M}" "$LOG" || exit 1
export KVB_VM_DIR=${KVB_VM_DIR:-$DIR/vm}
export KVB_VM_DISK_FILES="$DATA $LOG"
export KVB_VM_TIMEOUT=$BOOT_TIMEOUT

RANDOM=$seed
passed=0
failed=0
start=$(date +%s)

echo "# crash-test: $cuts cuts, seed $seed (reproduce: scripts/crash-test.sh --seed $seed $cuts)"
echo "# images: $DATA, $LOG; console logs: $DIR/boot-N.log"
echo "1..$cuts"

# The QEMU process of the vm.sh whose pid is $1 (vm.sh -> timeout -> qemu).
qemu_pid() {
	local c q

	for c in $(ps -o pid= --ppid "$1"); do
		q=$(ps -o pid=,comm= --ppid "$c" | awk '$2 ~ /^qemu-system/ { print $1 }')
		[ -n "$q" ] && { echo "$q"; return; }
	done
}

# Boot N (in the background): vm.sh running CMD, console in boot-N.log.
boot_start() { # N CMD
	CONSOLE=$DIR/boot-$1.log
	rm -f "$CONSOLE"
	"$ROOT/scripts/vm.sh" --mem 1024 --log "$CONSOLE" -- "$2" \
		>"$DIR/boot-$1.out" 2>&1 </dev/null &
	VMPID=$!
}

# Wait, following the console as it grows, until the marker shows up (0)
# or the VM ends (1). Bounded: vm.sh has KVB_VM_TIMEOUT and tail ends with
# it (--pid), the outer timeout is a last resort.
wait_marker() {
	grep -a -q -m1 -F "$MARKER" < <(exec timeout $((BOOT_TIMEOUT + 60)) \
		tail -n +1 -F --pid="$VMPID" "$CONSOLE" 2>/dev/null)
}

# The check's TAP line for cut N in console FILE, and its "#" lines.
check_line() { # FILE N
	tr -d '\r' <"$1" | grep -a -E "^(not )?ok $2 - cut $2[: ]" | tail -n 1
}
check_diag() { # FILE
	tr -d '\r' <"$1" | grep -a -E '^(# |kvb_crash: )' | grep -v -F "$MARKER" | head -n 60
}

splats() { # FILE: prints the splat lines, fails if any
	! "$ROOT/scripts/vm/splat-check.sh" --kernel "$1"
}

report() { # ok|not-ok CUT TEXT
	if [ "$1" = ok ]; then
		passed=$((passed + 1))
		echo "ok $2 - cut $2: $3"
	else
		failed=$((failed + 1))
		echo "not ok $2 - cut $2: $3"
	fi
}

finish() {
	echo "# crash-test: $((passed + failed)) of $cuts cuts checked in $(( $(date +%s) - start )) s (seed $seed)"
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

# Cut N-1's verdict from the check at the start of boot N.
verdict() { # N
	local n=$(($1 - 1)) line

	[ "$n" -ge 1 ] || return 0
	line=$(check_line "$CONSOLE" "$n")
	if [ -n "${cut_fail:-}" ]; then
		report not-ok "$n" "$cut_fail (seed $seed)"
		check_diag "$CONSOLE" | sed 's/^/#   /'
		return 1
	fi
	case "$line" in
	"ok "*)
		report ok "$n" "${line#"ok $n - cut $n: "}; killed after $cut_delay s"
		;;
	"not ok "*)
		report not-ok "$n" "${line#"not ok $n - cut $n: "} (seed $seed, killed after $cut_delay s, work seed $cut_wseed)"
		check_diag "$CONSOLE" | sed 's/^/#   /'
		echo "#   console: $CONSOLE; images kept in $DIR"
		return 1
		;;
	*)
		report not-ok "$n" "no check result after the cut (seed $seed; see $CONSOLE)"
		check_diag "$CONSOLE" | sed 's/^/#   /'
		tr -d '\r' <"$CONSOLE" | grep -a -v '^\[' | tail -n 15 | sed 's/^/#   | /'
		return 1
		;;
	esac
}

# Background jobs ignore SIGINT: on Ctrl-C or TERM, stop our VM ourselves.
interrupted() {
	local q

	if [ -n "${VMPID:-}" ]; then
		q=$(qemu_pid "$VMPID")
		[ -n "$q" ] && kill -9 "$q"
		wait "$VMPID"
	fi
	echo "# crash-test: interrupted"
	echo "$passed passed, $((failed + 1)) failed"
	exit 130
}
trap interrupted INT TERM

cut_fail=
for ((k = 1; k <= cuts + 1; k++)); do
	if [ "$k" -gt "$cuts" ]; then
		# The last boot: only the check of the last cut.
		boot_start "$k" "$CRASH check --cut $cuts $GUEST_ARGS"
		wait "$VMPID"
		rc=$?
		echo "# boot $k (final check): vm.sh exit $rc"
		if out=$(splats "$CONSOLE"); then
			cut_fail=${cut_fail:-"kernel splat in the final check: $(echo "$out" | sed -n 2p)"}
		fi
		verdict "$k"
		finish
	fi

	wseed=$((RANDOM << 15 | RANDOM))
	delay_ms=$(( 500 + (RANDOM << 15 | RANDOM) % 5501 ))
	delay=$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))
	boot_start "$k" "$CRASH check --cut $((k - 1)) $GUEST_ARGS && exec $CRASH work --seed $wseed $GUEST_ARGS"
	if wait_marker; then
		marker=1
		sleep "$delay"	# the power cut comes at a random moment
		q=$(qemu_pid "$VMPID")
		if [ -n "$q" ]; then
			kill -9 "$q"
		fi
	else
		marker=0
	fi
	wait "$VMPID"
	rc=$?

	# The previous cut's check ran first in this boot.
	verdict "$k" || finish
	# A splat in this boot (its check or its workload) fails this cut.
	cut_fail=
	if out=$(splats "$CONSOLE"); then
		cut_fail="kernel splat in boot $k: $(echo "$out" | sed -n 2p)"
	fi
	cut_delay=$delay
	cut_wseed=$wseed
	if [ "$marker" = 0 ] || [ -z "${q:-}" ]; then
		report not-ok "$k" "the workload did not run until the cut (vm.sh exit $rc, seed $seed, work seed $wseed)"
		check_diag "$CONSOLE" | sed 's/^/#   /'
		tr -d '\r' <"$CONSOLE" | grep -a -v '^\[' | tail -n 15 | sed 's/^/#   | /'
		finish
	fi
	echo "# boot $k: work seed $wseed, killed after $delay s"
done
