#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench: the benchmark of Documentation/benchmarks.rst, in ONE boot of
# the test VM on one emulated NVMe disk (cache=none: O_DIRECT on the host,
# so the host's page cache plays no part):
#
#   for each configuration: fio before -> kvbucket-bench (raw) -> fio after
#   then mkfs.ext4 -> RocksDB and file-per-bucket peers -> fio once more
#
# (scripts/bench-guest.sh, the part that runs in the VM, says what each
# step does), then one table of ratios, JSON and a plot in build/bench/:
#
#   table.txt       the table this script prints at the end
#   results.json    every figure, the ratios, the targets, the machine
#   throughput.png  MiB/s against batch size and against value size
#   raw/            each run's JSON, fio's JSON, slabinfo, the guest's log
#
# Environment (defaults keep a run under ~20 minutes under TCG):
#   KVB_BENCH_MB=256             MiB of values per workload
#   KVB_BENCH_QD=4               batches in flight: uring depth, threads
#   KVB_BENCH_BATCHES="8 16 32"  batch sizes with 1 MiB values
#   KVB_BENCH_VALUES="16K 256K 1M 4M"  value sizes at batch 16 (plot)
#   KVB_BENCH_PEERS="rocksdb files"        "" to skip the peers
#   KVB_BENCH_DISK=4G            size of the emulated NVMe disk
#   KVB_BENCH_PERF=1             then profile the uring engine (perf; ~2 min)
#   KVB_VM_*                     as for scripts/vm.sh (KVB_VM_ACCEL...)
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/build/bench
BIN=$ROOT/build/bin

die() { echo "bench.sh: $*" >&2; exit 1; }

export KVB_BENCH_MB=${KVB_BENCH_MB:-256}
export KVB_BENCH_QD=${KVB_BENCH_QD:-4}
export KVB_BENCH_BATCHES=${KVB_BENCH_BATCHES:-8 16 32}
export KVB_BENCH_VALUES=${KVB_BENCH_VALUES:-16K 256K 1M 4M}
export KVB_BENCH_PEERS=${KVB_BENCH_PEERS-rocksdb files}
disk=${KVB_BENCH_DISK:-4G}

read -ra peers <<<"$KVB_BENCH_PEERS"
for prog in kvbucket-bench "${peers[@]/#/kvbucket-bench-}"; do
	[ -x "$BIN/$prog" ] || die "$BIN/$prog missing: make deps && make all"
done
command -v fio >/dev/null || die "no fio: make deps"

rm -rf "$OUT"
mkdir -p "$OUT/raw"

# Facts about this machine for the report; the VM's own are in
# raw/guest.txt. One accelerator probe, passed on to vm.sh.
accel=$("$ROOT/scripts/vm.sh" --probe-accel)
export KVB_VM_ACCEL=$accel
ROOT=$ROOT python3 - "$OUT/raw/host.json" "$accel" "$disk" <<'EOF'
import json, os, subprocess, sys

def out(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout
    except OSError:
        return ""

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
            if l.startswith("model name")), "unknown")
# What was measured: make bench builds the working tree, so say whether
# the module or the library differ from the commit.
dirty = out("git", "-C", os.environ["ROOT"], "status", "--porcelain",
            "--", "kmod", "uapi", "userspace/lib").split("\n")
json.dump({
    "cpu": cpu,
    "host_cpus": os.cpu_count(),
    "host_kernel": os.uname().release,
    "qemu": out("qemu-system-x86_64", "--version").splitlines()[0],
    "accel": sys.argv[2],
    "vm": "2 vCPUs (-smp 2), 3072 MB, -cpu max (tcg) or host (kvm)",
    "disk": "QEMU nvme, raw image of %s, cache=none, aio=native" % sys.argv[3],
    "fio": out("fio", "--version").strip(),
    "commit": out("git", "-C", os.environ["ROOT"], "describe", "--always",
                  "--abbrev=12").strip(),
    "uncommitted": [l[3:] for l in dirty if l.strip()],
    "config": {
        "mb": int(os.environ["KVB_BENCH_MB"]),
        "qd": int(os.environ["KVB_BENCH_QD"]),
        "batches": [int(b) for b in os.environ["KVB_BENCH_BATCHES"].split()],
        "values": os.environ["KVB_BENCH_VALUES"].split(),
        "peers": os.environ["KVB_BENCH_PEERS"].split(),
    },
}, open(sys.argv[1], "w"), indent=1)
EOF

# One boot; the run directory is ours, so KVB_OUT is known. The disk
# image is deleted afterwards (it is as large as the disk).
echo "bench.sh: $KVB_BENCH_MB MiB per workload, depth $KVB_BENCH_QD," \
	"batches $KVB_BENCH_BATCHES, values $KVB_BENCH_VALUES," \
	"peers '${KVB_BENCH_PEERS}', $accel"
# (without pipefail the pipeline is tee's status: set -e stays quiet)
KVB_VM_DIR=$OUT/vm KVB_VM_DISKS=$disk KVB_VM_DISK_CACHE=none \
	"$ROOT/scripts/vm.sh" --log "$OUT/raw/console.log" -- \
	scripts/bench-guest.sh 2>&1 | tee "$OUT/raw/bench.log"
status=${PIPESTATUS[0]}
if [ -d "$OUT/vm/out/bench" ]; then
	cp -r "$OUT/vm/out/bench/." "$OUT/raw/"
fi
rm -rf "$OUT/vm"

python3 "$ROOT/scripts/bench-report.py" "$OUT" || status=1
exit "$status"
