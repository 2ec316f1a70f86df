#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Look for kernel splats in a log: WARN(), BUG(), oopses, GPFs, KASAN,
# UBSAN, lockdep, RCU stalls, hung tasks, kmemleak, panics.
#
#   scripts/vm/splat-check.sh [--kernel] LOGFILE...
#
# Prints the offending lines (with line numbers) and exits 1 if there are
# any, 0 if the log is clean, 2 on usage errors or an unreadable log.
#
# --kernel: only consider kernel lines, i.e. lines carrying a printk
# timestamp "[    1.234567]" (the VM boots with printk.time=1 and dumps
# dmesg with timestamps). This is what scripts/vm.sh uses on the console
# log, so that a test that merely prints "WARNING:" or "BUG " itself is not
# mistaken for a kernel splat. Without it every line counts (for plain
# dmesg files and hand-made logs).
set -eu

# Extended regexps, one per kind of splat. "BUG " and "Oops" are anchored
# on a word start so that e.g. "DEBUG " or "Whoops" do not match.
PATTERNS=(
	'WARNING:'
	'(^|[^[:alnum:]_])BUG[: ]'
	'(^|[^[:alnum:]_])Oops'
	'general protection fault'
	'KASAN'
	'UBSAN'
	'possible circular locking'
	'possible recursive locking'
	'inconsistent lock state'
	# lockdep's reports start with "WARNING:"; these are its other words
	# (a bare 'lockdep' would match the debug kernel's boot banner)
	'DEBUG_LOCKS_WARN_ON'
	'turning off the locking correctness validator'
	'RCU stall'
	'rcu_sched detected stalls'
	'rcu_preempt detected stalls'
	'rcu: INFO'
	'hung task'
	'blocked for more than'
	'unreferenced object'
	'Kernel panic'
	'soft lockup'
	'hard LOCKUP'
	'list_add corruption'
	'list_del corruption'
	'stack-protector'
	'refcount_t:'
	'kernel NULL pointer dereference'
	'unable to handle page fault'
)

kernel_only=0
if [ "${1:-}" = --kernel ]; then
	kernel_only=1
	shift
fi
if [ $# -eq 0 ]; then
	echo "usage: splat-check.sh [--kernel] LOGFILE..." >&2
	exit 2
fi

regex=$(IFS='|'; echo "${PATTERNS[*]}")
found=0
for logfile in "$@"; do
	if [ ! -r "$logfile" ]; then
		echo "splat-check: cannot read $logfile" >&2
		exit 2
	fi
	# Console logs have CRs; strip them so the output is readable.
	hits=$(tr -d '\r' <"$logfile" | grep -naE -- "$regex" |
		if [ "$kernel_only" = 1 ]; then
			grep -aE '\[ *[0-9]+\.[0-9]{6}\]' || true
		else
			cat
		fi |
		# The live console copy and the final dmesg dump repeat each
		# other: report each distinct line once.
		awk '!seen[substr($0, index($0, ":") + 1)]++') || true
	if [ -n "$hits" ]; then
		found=1
		echo "splat-check: kernel splat(s) in $logfile:"
		printf '%s\n' "$hits" | sed 's/^/  /'
	fi
done
exit "$found"
