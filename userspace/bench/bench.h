/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * The benchmark driver shared by kvbucket-bench and its two peers
 * (kvbucket-bench-files, kvbucket-bench-rocksdb): options, workloads,
 * threads, timing, statistics and output, in the style of LevelDB's
 * db_bench. An engine only knows how to run one batch call.
 *
 * Each thread owns qd slots; a slot is one batch call with its objects,
 * keys and value buffers (4096-aligned). The driver fills a slot, hands
 * it to the engine's submit(), and collects finished slots with reap().
 * A synchronous engine (qd 1) does the whole call in submit() and reap()
 * returns that same slot; an asynchronous one (io_uring) keeps up to qd
 * slots in flight. A batch's latency runs from submit() to the reap()
 * that returns it.
 */
#ifndef KVB_BENCH_H
#define KVB_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define BENCH_ALIGN	4096
#define BENCH_KEY_MAX	32
#define BENCH_MAX_BATCH	64
#define BENCH_MAX_QD	256

enum bench_op { BENCH_OFFLOAD, BENCH_LOAD, BENCH_QUERY };

/* One object of a batch. */
struct bench_obj {
	uint64_t id;			/* object number: the key's suffix */
	char key[BENCH_KEY_MAX];
	uint32_t key_len;
	void *buf;			/* value_size bytes, BENCH_ALIGN-aligned */
	int status;			/* out: 0 or -errno for this key */
};

/* One batch call. */
struct bench_slot {
	enum bench_op op;
	uint32_t count;
	struct bench_obj *objs;		/* count (up to --batch) objects */
	uint64_t value_size;		/* length of every value */
	uint64_t seq;			/* batch number within the workload */
	uint64_t t_submit;		/* ns, CLOCK_MONOTONIC */
	int res;			/* out: done objects, or -errno (call) */
	void *priv;			/* the engine's per-slot state */
};

struct bench_thread {
	unsigned int index;		/* 0 .. --threads - 1 */
	unsigned int qd;
	struct bench_slot *slots;	/* qd of them */
	void *priv;			/* the engine's per-thread state */
};

/* Options; the engines read those they need. */
struct bench_opts {
	const char *benchmarks;		/* "fill,readrandom,..." */
	const char *engine;
	uint64_t value_size;
	uint32_t batch;
	uint32_t threads;
	uint32_t qd;
	uint64_t num;			/* objects per workload */
	uint64_t bytes;			/* or bytes per workload */
	uint64_t queries;		/* objects looked up by query */
	uint32_t read_pct;		/* mixed: percent of batches that load */
	uint64_t seed;
	bool verify;			/* check every loaded byte */
	const char *json;		/* NULL, "-" (stdout) or a file */
	/* kvbucket */
	const char *device;		/* attach (and format) this device */
	const char *store;		/* or use this attached store (id) */
	bool use_existing;		/* attach --device without formatting */
	bool volatile_;			/* KVB_ATTACH_VOLATILE */
	uint64_t chunk_size;		/* format: 0 = the default */
	/* peers */
	const char *dir;		/* their directory on a filesystem */
};

/*
 * An engine. Every hook returns 0 or a negative errno (an error message
 * is then the hook's job); the driver exits. submit() and reap() report
 * the call's own result in slot->res and each key's in obj->status.
 */
struct bench_engine {
	const char *name;
	const char *help;		/* one line for usage() */
	bool async;			/* honours --qd */
	int (*setup)(const struct bench_opts *o);
	int (*thread_init)(struct bench_thread *t);
	int (*submit)(struct bench_thread *t, struct bench_slot *s);
	/* wait for one slot to finish; *done gets it */
	int (*reap)(struct bench_thread *t, struct bench_slot **done);
	/*
	 * Optional, at the end of each workload that wrote, inside its timed
	 * section: work the engine still owes for the values it accepted
	 * (RocksDB: flush the memtable, so that every value is in a blob
	 * file as every kvbucket value is in its bucket).
	 */
	int (*finish_writes)(void);
	void (*thread_exit)(struct bench_thread *t);
	/*
	 * Optional: facts about the engine's state after the workloads, as
	 * JSON members (each preceded by a comma) and as human lines.
	 */
	void (*report)(FILE *json, FILE *human);
	void (*teardown)(void);
};

/* Exit status when an engine cannot run here (e.g. no io_uring commands). */
#define BENCH_EXIT_SKIP	77

/*
 * Run the benchmarks with the engine named by --engine (the first of
 * engines[] if none). Returns the process exit status.
 */
int bench_main(int argc, char **argv, const char *prog,
	       const struct bench_engine *const *engines);

/* Nanoseconds, CLOCK_MONOTONIC. */
uint64_t bench_now_ns(void);

void __attribute__((format(printf, 1, 2))) bench_err(const char *fmt, ...);

#endif /* KVB_BENCH_H */
