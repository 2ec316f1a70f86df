#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The in-VM half of `make bench` (scripts/bench.sh boots the VM and runs
# it; Documentation/benchmarks.rst explains the figures). On one device,
# in this order:
#
#   1. one fio pass over the whole device, so that no run writes to space
#      the host has not allocated yet;
#   2. for each configuration (1 MiB values in batches of each size, then
#      16 KiB values in batches of 64, i.e. 1 MiB buckets): fio sequential
#      O_DIRECT write and read with io_uring, block size = the bytes of one
#      batch, iodepth = QD ("before"); kvbucket-bench on the raw device,
#      formatted for each run, with the uring engine from one thread at
#      queue depth QD and the ioctl engine from QD threads; the same fio
#      jobs again ("after"). The host's I/O speed drifts (other VMs share
#      it), so each figure gets its reference from minutes around it;
#      index memory from STORE_INFO and /proc/slabinfo on the 16 KiB run;
#   3. the value-size sweep at batch 16 (uring engine), for the plot;
#   4. mkfs.ext4 on the same device, and the two peers with QD threads:
#      kvbucket-bench-rocksdb and kvbucket-bench-files (the upstream
#      file-per-bucket design), for the same configurations;
#   5. a last fio write and read at 16 MiB ("end"): host drift over 4.
#
# Every run writes one JSON file into $KVB_OUT/bench; a run that fails is
# listed in failed.txt, one skipped (exit 77: e.g. no io_uring commands)
# in skipped.txt, and the rest goes on. Exit status: 0, or 1 if any run
# failed.
#
# Environment (scripts/bench.sh passes its own through):
#   KVB_BENCH_DEV=/dev/nvme0n1  the device (ERASED)
#   KVB_BENCH_MB=256            MiB of values per workload
#   KVB_BENCH_QD=4              batches in flight (uring depth, threads)
#   KVB_BENCH_BATCHES="8 16 32" batch sizes with 1 MiB values
#   KVB_BENCH_VALUES="16K 256K 1M 4M"  value sizes at batch 16 (plot)
#   KVB_BENCH_PEERS="rocksdb files"        peers to run ("" for none)
#   KVB_BENCH_PERF=0            1: afterwards, perf profiles of the uring
#                               engine (1 MiB values, batch 16) on a fresh
#                               store, not part of the figures
set -u

dev=${KVB_BENCH_DEV:-/dev/nvme0n1}
mb=${KVB_BENCH_MB:-256}
qd=${KVB_BENCH_QD:-4}
batches=${KVB_BENCH_BATCHES:-8 16 32}
values=${KVB_BENCH_VALUES:-16K 256K 1M 4M}
peers=${KVB_BENCH_PEERS-rocksdb files}
out=${KVB_OUT:?run me in the VM: scripts/bench.sh}/bench
mnt=/tmp/bench-ext4
ALL=fill,readseq,readrandom,query,mixed
SWEEP=fill,readseq

mkdir -p "$out"
: >"$out/failed.txt"
: >"$out/skipped.txt"
start=$SECONDS

log() { echo "bench: [$((SECONDS - start)) s] $*"; }

# run NAME CMD...: run one benchmark, record its fate.
run() {
	local name=$1 rc
	shift
	log "$name: $*"
	"$@"
	rc=$?
	if [ "$rc" = 77 ]; then
		echo "$name" >>"$out/skipped.txt"
	elif [ "$rc" != 0 ]; then
		log "$name: FAILED (exit $rc)"
		echo "$name exit $rc" >>"$out/failed.txt"
	fi
	return 0
}

# fio_run NAME RW BS [SIZE]: one sequential O_DIRECT io_uring job.
fio_run() {
	run "$1" fio --name="$1" --filename="$dev" --direct=1 \
		--ioengine=io_uring --rw="$2" --bs="$3" --iodepth="$qd" \
		--size="${4:-${mb}M}" --output-format=json --eta=never \
		--output="$out/$1.json"
	if [ -f "$out/$1.json" ]; then
		python3 -c 'import json,sys
j = json.load(open(sys.argv[1]))["jobs"][0]
d = j["write" if j["job options"]["rw"] == "write" else "read"]
print("bench: %s: %.1f MiB/s" % (sys.argv[2], d["bw_bytes"] / 1048576))' \
			"$out/$1.json" "$1"
	fi
}

# fio_pair before|after MIB: the reference of a configuration whose
# batches hold MIB MiB.
fio_pair() {
	fio_run "fio-$1-write-b$2" write "${2}M"
	fio_run "fio-$1-read-b$2" read "${2}M"
}

# kvb NAME ENGINE VALUE BATCH WORKLOADS [ARGS...]: a fresh store each time.
kvb() {
	local name=$1 engine=$2 value=$3 batch=$4 work=$5 depth
	shift 5
	depth=(--threads="$qd")
	[ "$engine" = uring ] && depth=(--qd="$qd")
	run "$name" kvbucket-bench --engine="$engine" "${depth[@]}" \
		--value_size="$value" --batch="$batch" --bytes="${mb}M" \
		--benchmarks="$work" --json="$out/$name.json" "$@"
}

# peer NAME PROGRAM VALUE BATCH WORKLOADS: a fresh directory each time.
peer() {
	local name=$1 prog=$2 value=$3 batch=$4 work=$5

	rm -rf "$mnt"/kvb-*	# the other peer's data
	run "$name" "$prog" --dir="$mnt" --threads="$qd" --value_size="$value" \
		--batch="$batch" --bytes="${mb}M" --benchmarks="$work" \
		--json="$out/$name.json"
}

log "device $dev: $(($(blockdev --getsize64 "$dev") >> 20)) MiB;" \
	"$mb MiB per workload, depth $qd, batches $batches, values $values"
{
	uname -r
	nproc
	grep -m1 'model name' /proc/cpuinfo
	cat "/sys/block/${dev#/dev/}/queue/max_hw_sectors_kb"
} >"$out/guest.txt"

# 1. allocate the whole image on the host
run precondition fio --name=precondition --filename="$dev" --direct=1 \
	--ioengine=io_uring --rw=write --bs=4M --iodepth="$qd" --eta=never \
	--output-format=terse >/dev/null

# 2. kvbucket, each configuration between two fio pairs
for b in $batches; do
	fio_pair before "$b"
	kvb "kvb-uring-v1M-b$b" uring 1M "$b" "$ALL" --device="$dev"
	kvb "kvb-ioctl-v1M-b$b" ioctl 1M "$b" "$ALL" --device="$dev"
	fio_pair after "$b"
done
fio_pair before 1
kvb kvb-ioctl-v16K-b64 ioctl 16K 64 "$ALL" --device="$dev"

# Index memory: the 16 KiB run attaches through kvbucketctl, so that the
# store is still attached when the slab caches are read. kvbucket has no
# slab cache of its own (its objects are kmalloc()ed): the growth of the
# kmalloc caches, per key, is a cross-check of STORE_INFO.index_bytes.
cat /proc/slabinfo >"$out/slabinfo-before.txt"
ls /sys/kernel/slab >"$out/slab-caches.txt" 2>/dev/null
if id=$(kvbucketctl attach "$dev" --format --json |
	sed -n 's/^{"id":\([0-9]*\),.*/\1/p') && [ -n "$id" ]; then
	kvb kvb-uring-v16K-b64 uring 16K 64 "$ALL" --store="$id"
	cat /proc/slabinfo >"$out/slabinfo-after.txt"
	kvbucketctl detach "$dev"
else
	echo "kvb-uring-v16K-b64 attach" >>"$out/failed.txt"
fi
fio_pair after 1

# 3. the value-size sweep, for the plot
for v in $values; do
	[ "$v" = 1M ] && [[ " $batches " == *" 16 "* ]] && continue
	kvb "kvb-uring-v$v-b16" uring "$v" 16 "$SWEEP" --device="$dev"
done

# 4. the peers on ext4 (no lazy initialisation writing behind the runs)
if [ -n "$peers" ]; then
	log "mkfs.ext4 $dev"
	if ! mkfs.ext4 -F -q -E lazy_itable_init=0,lazy_journal_init=0 "$dev" ||
		! mkdir -p "$mnt" || ! mount -t ext4 "$dev" "$mnt"; then
		echo "mkfs.ext4/mount" >>"$out/failed.txt"
		peers=
	fi
fi
for p in $peers; do
	prog=kvbucket-bench-$p
	for b in $batches; do
		peer "$p-v1M-b$b" "$prog" 1M "$b" "$ALL"
	done
	peer "$p-v16K-b64" "$prog" 16K 64 "$ALL"
	for v in $values; do
		[ "$v" = 1M ] && [[ " $batches " == *" 16 "* ]] && continue
		peer "$p-v$v-b16" "$prog" "$v" 16 "$SWEEP"
	done
done
[ -n "$peers" ] && umount "$mnt"

# 5. one more fio pair: did the host drift while the peers ran?
fio_run fio-end-write-b16 write 16M
fio_run fio-end-read-b16 read 16M

# Profiles, apart from the figures: perf's sampling slows everything.
if [ "${KVB_BENCH_PERF:-0}" = 1 ]; then
	for w in fill readseq; do
		use=()	# readseq reads what fill wrote
		[ "$w" = readseq ] && use=(--use_existing)
		run "perf-$w" perf record -a -g -o "/tmp/perf-$w.data" -- \
			kvbucket-bench --engine=uring --qd="$qd" --value_size=1M \
			--batch=16 --bytes="${mb}M" --benchmarks="$w" \
			--device="$dev" "${use[@]}"
		perf report -i "/tmp/perf-$w.data" --stdio --no-children \
			--sort=sym --percent-limit=1 -g none \
			>"$out/perf-$w.txt" 2>/dev/null
		perf report -i "/tmp/perf-$w.data" --stdio --no-children \
			--sort=sym --percent-limit=5 -G \
			>"$out/perf-$w-callers.txt" 2>/dev/null
	done
fi

log "done: $(wc -l <"$out/failed.txt") failed," \
	"$(wc -l <"$out/skipped.txt") skipped"
[ ! -s "$out/failed.txt" ]
