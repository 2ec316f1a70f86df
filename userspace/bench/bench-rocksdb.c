// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * kvbucket-bench-rocksdb: the same workloads as kvbucket-bench on RocksDB
 * (its C API), in a directory on a filesystem (--dir), set up for large
 * values and for the durability kvbucket gives:
 *
 *   - BlobDB: values of 4 KiB and more go to blob files (enable_blob_files,
 *     min_blob_size 4096, blob_file_size 256 MiB), no compression;
 *   - a batch is one WriteBatch written with sync = true: the WAL is
 *     fdatasync()ed before the call returns, as a kvbucket OFFLOAD returns
 *     after its flush + FUA commit;
 *   - a workload that wrote ends, inside its timed section, with a flush
 *     of the memtable, so that every value is in a blob file at the end
 *     (the work RocksDB owes for the batches it acknowledged);
 *   - reads use O_DIRECT (use_direct_reads) and no blob cache, so that
 *     loads come from the device as kvbucket's do; a load is one
 *     MultiGet (batched, pinned values) and a copy into the caller's
 *     buffer.
 *
 * RocksDB has no lookup that reports a value's length without reading
 * the value, so "query" is a MultiGet too, without the copy.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

#include "bench.h"

#ifndef KVB_ROCKSDB_VERSION	/* from pkg-config, by the Makefile */
#define KVB_ROCKSDB_VERSION	"unknown"
#endif

static struct {
	char path[PATH_MAX];
	rocksdb_options_t *opts;
	rocksdb_t *db;
	rocksdb_column_family_handle_t *cf;
	rocksdb_writeoptions_t *wo;
	rocksdb_readoptions_t *ro;
} rk;

static int rocks_err(const char *what, char *err)
{
	bench_err("rocksdb: %s: %s", what, err);
	free(err);
	return -EIO;
}

static int rocks_setup(const struct bench_opts *o)
{
	const char *cf_names[] = { "default" };
	const rocksdb_options_t *cf_opts[1];
	char *err = NULL;

	if (!o->dir) {
		bench_err("--dir=DIR is needed (a directory on the "
			  "filesystem to test)");
		return -EINVAL;
	}
	if (o->device || o->store)
		bench_err("--device and --store are for kvbucket: ignored");
	snprintf(rk.path, sizeof(rk.path), "%s/kvb-rocksdb-bench", o->dir);

	rk.opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(rk.opts, 1);
	rocksdb_options_set_compression(rk.opts, rocksdb_no_compression);
	rocksdb_options_set_enable_blob_files(rk.opts, 1);
	rocksdb_options_set_min_blob_size(rk.opts, 4096);
	rocksdb_options_set_blob_file_size(rk.opts, 256ULL << 20);
	rocksdb_options_set_use_direct_reads(rk.opts, 1);
	rocksdb_options_set_max_background_jobs(rk.opts, 2);

	/* a fresh database every run */
	rocksdb_destroy_db(rk.opts, rk.path, &err);
	if (err)
		return rocks_err("destroying the previous database", err);
	cf_opts[0] = rk.opts;
	rk.db = rocksdb_open_column_families(rk.opts, rk.path, 1, cf_names,
					     cf_opts, &rk.cf, &err);
	if (err)
		return rocks_err(rk.path, err);

	rk.wo = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(rk.wo, 1);
	rk.ro = rocksdb_readoptions_create();
	return 0;
}

static void rocks_teardown(void)
{
	rocksdb_readoptions_destroy(rk.ro);
	rocksdb_writeoptions_destroy(rk.wo);
	rocksdb_column_family_handle_destroy(rk.cf);
	rocksdb_close(rk.db);
	rocksdb_options_destroy(rk.opts);
}

static int rocks_thread_init(struct bench_thread *t)
{
	(void)t;
	return 0;
}

static int offload(struct bench_slot *s)
{
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	char *err = NULL;
	uint32_t i;

	for (i = 0; i < s->count; i++)
		rocksdb_writebatch_put(wb, s->objs[i].key, s->objs[i].key_len,
				       s->objs[i].buf, s->value_size);
	rocksdb_write(rk.db, rk.wo, wb, &err);
	rocksdb_writebatch_destroy(wb);
	return err ? rocks_err("write", err) : 0;
}

/* One MultiGet; copy the values into the caller's buffers if copy. */
static int multi_get(struct bench_slot *s, bool copy)
{
	rocksdb_pinnableslice_t *vals[BENCH_MAX_BATCH];
	const char *keys[BENCH_MAX_BATCH];
	size_t key_lens[BENCH_MAX_BATCH], len;
	char *errs[BENCH_MAX_BATCH];
	const char *v;
	uint32_t i;

	for (i = 0; i < s->count; i++) {
		keys[i] = s->objs[i].key;
		key_lens[i] = s->objs[i].key_len;
	}
	rocksdb_batched_multi_get_cf(rk.db, rk.ro, rk.cf, s->count, keys,
				     key_lens, vals, errs, false);
	for (i = 0; i < s->count; i++) {
		struct bench_obj *o = &s->objs[i];

		if (errs[i]) {
			bench_err("rocksdb: get: %s", errs[i]);
			free(errs[i]);
			o->status = -EIO;
		} else if (!vals[i]) {
			o->status = -ENOENT;
		} else {
			v = rocksdb_pinnableslice_value(vals[i], &len);
			if (len != s->value_size)
				o->status = -EMSGSIZE;
			else if (copy)
				memcpy(o->buf, v, len);
		}
		rocksdb_pinnableslice_destroy(vals[i]);
	}
	return 0;
}

static int rocks_submit(struct bench_thread *t, struct bench_slot *s)
{
	s->res = s->op == BENCH_OFFLOAD ? offload(s) :
		 multi_get(s, s->op == BENCH_LOAD);
	t->priv = s;		/* what reap() returns */
	return 0;
}

static int rocks_reap(struct bench_thread *t, struct bench_slot **done)
{
	*done = t->priv;
	return 0;
}

static int rocks_finish_writes(void)
{
	rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
	char *err = NULL;

	rocksdb_flushoptions_set_wait(fo, 1);
	rocksdb_flush(rk.db, fo, &err);
	rocksdb_flushoptions_destroy(fo);
	return err ? rocks_err("flush", err) : 0;
}

static uint64_t property(const char *name)
{
	char *v = rocksdb_property_value(rk.db, name);
	uint64_t n = v ? strtoull(v, NULL, 10) : 0;

	free(v);
	return n;
}

static void rocks_report(FILE *json, FILE *human)
{
	uint64_t blobs = property("rocksdb.total-blob-file-size");
	uint64_t ssts = property("rocksdb.total-sst-files-size");

	if (json)
		fprintf(json, ",\"rocksdb\":{\"path\":\"%s\",\"version\":"
			"\"%s\",\"blob_file_bytes\":%" PRIu64 ","
			"\"sst_file_bytes\":%" PRIu64 "}", rk.path,
			KVB_ROCKSDB_VERSION, blobs, ssts);
	if (human)
		fprintf(human, "rocksdb %s in %s: %.1f MiB of blob files, "
			"%.1f MiB of SST files\n", KVB_ROCKSDB_VERSION,
			rk.path, blobs / 1048576.0, ssts / 1048576.0);
}

static const struct bench_engine rocks_engine = {
	.name = "rocksdb",
	.help = "RocksDB with BlobDB: one synced WriteBatch per batch, "
		"MultiGet with O_DIRECT reads",
	.setup = rocks_setup,
	.thread_init = rocks_thread_init,
	.submit = rocks_submit,
	.reap = rocks_reap,
	.finish_writes = rocks_finish_writes,
	.report = rocks_report,
	.teardown = rocks_teardown,
};

int main(int argc, char **argv)
{
	static const struct bench_engine *const engines[] = {
		&rocks_engine, NULL
	};

	return bench_main(argc, argv, "kvbucket-bench-rocksdb", engines);
}
