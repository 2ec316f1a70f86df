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

main() {
	local log rc summary gp gf gs

	cd "$ROOT" || exit 1
	mkdir -p "$OUT"
	log=$OUT/console.log
	rm -f "$log"   # never count a previous run's results

	step "dependencies"
	if ! "$ROOT/scripts/install-deps.sh"; then
		record fail deps "scripts/install-deps.sh failed: nothing else can run"
		finish
	fi

	step "make lint"
	if "$MAKE" --no-print-directory lint; then
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

	step "tests/run-tests.sh in the VM"
	# A VM directory of its own, so that `make check` and someone's
	# `make vm` in the same tree never share disks or KVB_OUT.
	rc=0
	# The runner's output is also kept, clean of kernel console lines, in
	# KVB_OUT (dash: no pipefail, hence the status file).
	# shellcheck disable=SC2016 # expanded by the guest's shell
	KVB_VM_DIR=$OUT/vm "$ROOT/scripts/vm.sh" --log "$log" -- \
		'{ tests/run-tests.sh; echo $? >"$KVB_OUT/run-tests.status"; } 2>&1 |
			tee "$KVB_OUT/run-tests.log"
		 exit "$(cat "$KVB_OUT/run-tests.status" 2>/dev/null || echo 1)"' ||
		rc=$?

	summary=$(guest_summary "$log")
	if [ -z "$summary" ]; then
		record fail guest "no 'N passed, N failed' line from the guest (vm.sh exit $rc; see ${log#"$ROOT"/})"
	else
		read -r gp gf gs <<<"$summary"
		gs=${gs:-0}
		passed=$((passed + gp))
		failed=$((failed + gf))
		skipped=$((skipped + gs))
		results+=("$(printf '%-5s %-12s %s' tests guest "$gp passed, $gf failed, $gs skipped (vm.sh exit $rc)")")
		# A runner that failed without counting a failure still failed.
		if [ "$rc" != 0 ] && [ "$rc" != 123 ] && [ "$gf" -eq 0 ]; then
			record fail guest-exit "run-tests.sh/vm.sh exit status $rc with no failed test"
		fi
	fi

	step "kernel log"
	if [ ! -s "$log" ]; then
		record fail kernel-log "no console log"
	elif "$ROOT/scripts/vm/splat-check.sh" --kernel "$log"; then
		record pass kernel-log "no WARNING/BUG/Oops/lockdep/stall/hung task/panic"
	else
		record fail kernel-log "kernel splat(s) above (${log#"$ROOT"/})"
	fi
	finish
}

main "$@"
