#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make check` (and CI): everything, in order, on this machine:
#   1. install the Debian packages (scripts/install-deps.sh)
#   2. make lint                      -> counted as one test
#   3. make all                       (a failure here fails the run)
#   4. one VM boot running tests/run-tests.sh -> its "N passed, N failed,
#      N skipped" line is added up (a missing summary counts as a failure)
#   5. the guest's kernel log has no splat     -> counted as one test
#   5b. power cuts: scripts/crash-test.sh 20 (KVB_CHECK_CUTS) -> one test
#      per cut (not in the debug lane)
#   6. the debug lane: steps 4 and 5 again on a KASAN + lockdep + kmemleak
#      kernel (scripts/debug-kernel.sh builds it once per machine, cached
#      outside the clone), ending with a kmemleak scan after the module is
#      unloaded; `scripts/check.sh --no-debug` skips it, `--debug-only`
#      runs only it (`make check-debug`)
#
# The last line of output is "N passed, N failed, N skipped" (the totals);
# the exit status is non-zero if anything failed.
#
# Environment: KVB_VM_TIMEOUT (default 3600 s) bounds the VM; any other
# KVB_* variable reaches the guest (e.g. KVB_TEST_TIMEOUT for run-tests.sh).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/build/check
MAKE=${MAKE:-make}

passed=0
failed=0
skipped=0
results=()

record() { # pass|fail|skip NAME DETAIL
	case "$1" in
	pass) passed=$((passed + 1)) ;;
	fail) failed=$((failed + 1)) ;;
	skip) skipped=$((skipped + 1)) ;;
	esac
	results+=("$(printf '%-5s %-12s %s' "$1" "$2" "$3")")
}

step() { echo; echo "==== check: $*"; }

# The summary table, then the totals as the very last line.
finish() {
	echo
	echo "==== check: summary"
	printf '  %s\n' "${results[@]}"
	echo "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" -eq 0 ] && exit 0
	exit 1
}

# "N passed, N failed[, N skipped]" as printed by tests/run-tests.sh; the
# console may prefix it with CRs or a "# " so be lenient about the start.
guest_summary() { # LOG
	tr -d '\r' <"$1" |
		sed -nE 's/^(# )?([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?[[:space:]]*$/\2 \3 \5/p' |
		tail -n 1
}

# Run tests/run-tests.sh in a VM and count its results (step 4), then
# check the kernel log (step 5). LANE names the results; the environment
# (KVB_VM_KERNEL, ...) chooses the kernel. AFTER runs in the guest after
# the suite.
run_lane() { # LANE LOG VMDIR AFTER
	local lane=$1 log=$2 vmdir=$3 after=$4 rc=0 summary gp gf gs

	rm -f "$log"   # never count a previous run's results
	step "tests/run-tests.sh in the VM ($lane)"
	# The runner's output is also kept, clean of kernel console lines, in
	# KVB_OUT (dash: no pipefail, hence the status file).
	# shellcheck disable=SC2016 # expanded by the guest's shell
	KVB_VM_DIR=$vmdir "$ROOT/scripts/vm.sh" --log "$log" -- \
		'{ tests/run-tests.sh; echo $? >"$KVB_OUT/run-tests.status"; } 2>&1 |
			tee "$KVB_OUT/run-tests.log"
		 '"$after"'
		 exit "$(cat "$KVB_OUT/run-tests.status" 2>/dev/null || echo 1)"' ||
		rc=$?

	summary=$(guest_summary "$log")
	if [ -z "$summary" ]; then
		record fail "$lane" "no 'N passed, N failed' line from the guest (vm.sh exit $rc; see ${log#"$ROOT"/})"
	else
		read -r gp gf gs <<<"$summary"
		gs=${gs:-0}
		passed=$((passed + gp))
		failed=$((failed + gf))
		skipped=$((skipped + gs))
		results+=("$(printf '%-5s %-12s %s' tests "$lane" "$gp passed, $gf failed, $gs skipped (vm.sh exit $rc)")")
		# A runner that failed without counting a failure still failed.
		if [ "$rc" != 0 ] && [ "$rc" != 123 ] && [ "$gf" -eq 0 ]; then
			record fail "$lane-exit" "run-tests.sh/vm.sh exit status $rc with no failed test"
		fi
	fi

	step "kernel log ($lane)"
	if [ ! -s "$log" ]; then
		record fail "$lane-log" "no console log"
	elif "$ROOT/scripts/vm/splat-check.sh" --kernel "$log"; then
		record pass "$lane-log" "no WARNING/BUG/Oops/KASAN/lockdep/stall/hung task/kmemleak"
	else
		record fail "$lane-log" "kernel splat(s) above (${log#"$ROOT"/})"
	fi
}

# After the suite on the debug kernel: unload the module, so that whatever
# it still holds is a leak, and have kmemleak report to the console log.
# shellcheck disable=SC2016 # expanded by the guest's shell
KMEMLEAK_SCAN='rmmod kvbucket 2>/dev/null
	mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
	if [ -w /sys/kernel/debug/kmemleak ]; then
		echo scan >/sys/kernel/debug/kmemleak
		echo scan >/sys/kernel/debug/kmemleak
		sed "s/^/kmemleak: /" /sys/kernel/debug/kmemleak >/dev/kmsg
		echo "kmemleak: scan done" >/dev/kmsg
	else
		echo "kmemleak: not available" >/dev/kmsg
	fi'

# Step 6: the debug lane.
debug_lane() {
	local dkdir rel tree

	step "debug kernel (scripts/debug-kernel.sh)"
	if ! dkdir=$("$ROOT/scripts/debug-kernel.sh"); then
		record fail debug-kernel "scripts/debug-kernel.sh failed"
		return
	fi
	rel=$(cat "$dkdir/release")
	step "module for the debug kernel $rel"
	tree=$OUT/debug-tree
	rm -rf "$tree"
	mkdir -p "$tree"
	cp -r "$ROOT/Kbuild" "$ROOT/kmod" "$ROOT/uapi" "$tree/"
	if ! "$MAKE" --no-print-directory -s -C "$dkdir/src" M="$tree" modules; then
		record fail debug-build "module build against $rel failed"
		return
	fi
	KVB_VM_KERNEL=$dkdir/bzImage KVB_VM_KVER=$rel \
		KVB_VM_MODDIR=$dkdir/modules/lib/modules/$rel \
		KVB_VM_MODULE=$tree/kmod/kvbucket.ko \
		run_lane debug "$OUT/console-debug.log" "$OUT/vm-debug" \
		"$KMEMLEAK_SCAN"
}

# The power-cut test (scripts/crash-test.sh, KVB_CHECK_CUTS cuts, default
# 20): its "N passed, N failed" line is added up, one test per cut; a
# missing summary counts as a failure.
crash_lane() {
	local log=$OUT/crash.log cuts=${KVB_CHECK_CUTS:-20} summary cp cf rc

	step "power cuts: scripts/crash-test.sh $cuts"
	rm -f "$log"
	KVB_CRASH_DIR=$OUT/crash KVB_VM_DIR=$OUT/crash/vm \
		"$ROOT/scripts/crash-test.sh" "$cuts" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	summary=$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$log" | tail -n 1)
	if [ -z "$summary" ]; then
		record fail crash-test "no 'N passed, N failed' line (exit $rc; see ${log#"$ROOT"/})"
		return
	fi
	read -r cp cf <<<"$summary"
	passed=$((passed + cp))
	failed=$((failed + cf))
	results+=("$(printf '%-5s %-12s %s' tests crash-test "$cp passed, $cf failed (${log#"$ROOT"/})")")
	if [ "$rc" != 0 ] && [ "$cf" -eq 0 ]; then
		record fail crash-exit "crash-test.sh exit status $rc with no failed cut"
	fi
}

main() {
	local lanes=both

	case "${1:-}" in
	--no-debug) lanes=stock ;;
	--debug-only) lanes=debug ;;
	"") ;;
	*) echo "usage: scripts/check.sh [--no-debug|--debug-only]" >&2; exit 2 ;;
	esac
	cd "$ROOT" || exit 1
	mkdir -p "$OUT"

	step "dependencies"
	if ! "$ROOT/scripts/install-deps.sh"; then
		record fail deps "scripts/install-deps.sh failed: nothing else can run"
		finish
	fi

	step "make lint"
	if [ "$lanes" = debug ]; then
		record skip lint "debug lane only"
	elif "$MAKE" --no-print-directory lint; then
		record pass lint "checkpatch --strict, sparse, W=1: clean"
	else
		record fail lint "findings above (build/lint/*.log)"
	fi

	step "make all"
	if ! "$MAKE" --no-print-directory all; then
		record fail build "make all failed: no VM run"
		record skip kernel-log "no VM run"
		finish
	fi

	# A VM directory of its own, so that `make check` and someone's
	# `make vm` in the same tree never share disks or KVB_OUT.
	if [ "$lanes" != debug ]; then
		run_lane guest "$OUT/console.log" "$OUT/vm" :
		crash_lane
	fi
	if [ "$lanes" != stock ]; then
		debug_lane
	fi
	finish
}

main "$@"
