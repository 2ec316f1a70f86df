#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Measure attach of a store holding many objects: warm (from the index
# checkpoint a clean detach writes) against cold (scanning every bucket's
# metadata, as after a crash; forced here with --scan). Runs inside the VM:
#
#   scripts/vm.sh -- scripts/attach-bench.sh [KEYS] [BATCH] [VALUE] [CHUNK]
#
# Defaults: 100000 keys of 4 KiB in batches of 16 on /dev/nvme0n1 with
# 64 KiB chunks (6250 buckets). Prints one line per attach.
set -eu

keys=${1:-100000}
batch=${2:-16}
value=${3:-4K}
chunk=${4:-64K}
dev=${KVB_BENCH_DEV:-/dev/nvme0n1}

json_field() { # FIELD: from the JSON of `kvbucketctl info --json` on stdin
	python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

report() { # LABEL
	local info
	info=$(kvbucketctl info --json)
	printf '%-5s attach: %8.1f ms, %10s bytes read, %s keys, %s buckets, warm=%s\n' \
		"$1" "$(echo "$info" | json_field attach_ns | awk '{ print $1 / 1e6 }')" \
		"$(echo "$info" | json_field attach_bytes_read)" \
		"$(echo "$info" | json_field nr_keys)" \
		"$(echo "$info" | json_field nr_buckets)" \
		"$(echo "$info" | json_field warm)"
}

kvbucketctl attach "$dev" --format --chunk-size "$chunk" --max-keys "$batch" >/dev/null
kvbucket-demo --dev "$dev" --no-format --keys "$keys" --batch "$batch" \
	--value-size "$value" --slices 1 | tail -n 1
kvbucketctl detach "$dev"

kvbucketctl attach "$dev" >/dev/null
report warm
kvbucketctl detach "$dev"
kvbucketctl attach "$dev" --scan >/dev/null
report cold
kvbucketctl detach "$dev"
