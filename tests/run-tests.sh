#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run the kvbucket test suite inside the VM (as root, module loaded):
#
#   tests/run-tests.sh                 every test program, in a fixed order
#   tests/run-tests.sh kvb_data ...    only these
#
# Each program runs under `timeout`; its TAP output is streamed. The
# kselftest results of all programs are counted ("ok N", "not ok N",
# "# SKIP"); a program that crashes, times out or stops before its plan
# counts its missing tests (at least one) as failed. The last line is
# "N passed, N failed, N skipped"; the exit status is non-zero if anything
# failed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=${KVB_ROOT:-$(dirname "$here")}
bindir=${KVB_TEST_BIN:-$root/build/tests}
per_test_timeout=${KVB_TEST_TIMEOUT:-600}

# the order of tests/Makefile: cheap and basic first
order=(kvb_control kvb_data kvb_zerocopy kvb_buckets kvb_evict kvb_persist kvb_logwrites kvb_faults kvb_concurrency kvb_uring kvb_tools
	"kvb_fuzz --calls 20000" "kvb_stress --seconds 20")

if [ $# -gt 0 ]; then
	order=("$@")
fi

passed=0
failed=0
skipped=0
failed_names=()

for name in "${order[@]}"; do
	# an entry may carry arguments: "kvb_fuzz --calls 20000"
	read -r name args <<<"$name"
	name=${name##*/}
	bin=$bindir/$name
	echo "# ==== $name"
	if [ ! -x "$bin" ]; then
		echo "not ok - $name: $bin missing (make tests)"
		failed=$((failed + 1))
		failed_names+=("$name")
		continue
	fi
	out=$(mktemp)
	# stream and keep a copy for counting; the harness forks per test
	# shellcheck disable=SC2086 # args: words on purpose
	timeout --kill-after=10 "$per_test_timeout" "$bin" $args 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}

	plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\).*/\1/p' "$out" | head -n 1)
	p=0 f=0 s=0
	while IFS= read -r line; do
		case $line in
		"not ok "[0-9]*)
			f=$((f + 1))
			failed_names+=("$name: ${line#not ok }")
			;;
		"ok "[0-9]*"# SKIP"*)
			s=$((s + 1))
			;;
		"ok "[0-9]*)
			p=$((p + 1))
			;;
		esac
	done < "$out"
	rm -f "$out"

	missing=0
	if [ -n "$plan" ] && [ $((p + f + s)) -lt "$plan" ]; then
		missing=$((plan - p - f - s))
	fi
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 4 ] && [ "$f" -eq 0 ] &&
	   [ "$missing" -eq 0 ]; then
		missing=1	# crashed or timed out without reporting why
	fi
	if [ "$missing" -gt 0 ]; then
		case $rc in
		124|137) why="timed out after ${per_test_timeout}s" ;;
		*) why="exit status $rc" ;;
		esac
		echo "not ok - $name: $why, $missing test(s) without a result"
		failed_names+=("$name: $why")
		f=$((f + missing))
	fi
	echo "# $name: $p passed, $f failed, $s skipped (exit $rc)"
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
done

if [ ${#failed_names[@]} -gt 0 ]; then
	echo "# failed:"
	for n in "${failed_names[@]}"; do
		echo "#   $n"
	done
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
