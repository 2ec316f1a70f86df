// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * The benchmark driver (see bench.h): options, workloads, threads,
 * latency statistics, the human table and the JSON report.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "util.h"

#define MIB		(1024.0 * 1024.0)
#define KEY_FMT		"kvb-bench-%014" PRIu64	/* 24 bytes */

enum workload { W_FILL, W_READRANDOM, W_READSEQ, W_QUERY, W_MIXED, W_NR };

static const char *const workload_names[W_NR] = {
	[W_FILL] = "fill",
	[W_READRANDOM] = "readrandom",
	[W_READSEQ] = "readseq",
	[W_QUERY] = "query",
	[W_MIXED] = "mixed",
};

static const char *prog;
static const struct bench_engine *const *run_engines;
static const struct bench_engine *eng;
static FILE *hout;			/* the human report: stdout or stderr */
static struct bench_opts opt = {
	.benchmarks = "fill,readrandom,readseq,query,mixed",
	.value_size = 1 << 20,
	.batch = 16,
	.threads = 1,
	.qd = 1,
	.bytes = 256ULL << 20,
	.read_pct = 50,
	.seed = 1,
};

/* Every value is this pattern, its first 8 bytes replaced by the id. */
static uint8_t *pattern;

/* The running workload, shared by its threads. */
static struct {
	enum workload w;
	uint64_t nr_objects;		/* of this workload */
	uint64_t nr_batches;
	uint64_t next_batch;		/* atomic: the next batch to start */
	uint64_t write_base;		/* mixed: first id of its new objects */
	uint64_t *lat;			/* ns per batch, indexed by seq */
	pthread_barrier_t start;
} run;

/* What one thread did in one workload. */
struct tally {
	uint64_t objects, read_bytes, write_bytes, errors, mismatches;
	int first_error;		/* the first failing key's status */
};

struct thread_ctx {
	struct bench_thread t;
	struct tally tally;
	uint64_t rng;
	unsigned int *free_slots, nr_free;
	uint64_t t_start, t_end;	/* ns: this thread's part of the run */
	pthread_t tid;
};

void bench_err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
fatal(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void *xalloc(size_t len, size_t align)
{
	void *p;

	if (posix_memalign(&p, align, len ? len : 1))
		fatal("out of memory (%zu bytes)", len);
	return p;
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void usage(FILE *f)
{
	const struct bench_engine *const *e;

	fprintf(f,
"usage: %s [--benchmarks=LIST] [--engine=NAME] [--value_size=SIZE]\n"
"       [--batch=N] [--threads=N] [--qd=N] [--num=N | --bytes=SIZE]\n"
"       [--queries=N] [--read_pct=P] [--seed=N] [--verify] [--json[=FILE]]\n"
"       [--device=DEV [--use_existing] [--volatile] [--chunk_size=SIZE]]\n"
"       [--store=ID] [--dir=DIR]\n"
"\n"
"Batched key/value workloads in the style of LevelDB's db_bench. Every\n"
"workload moves --num objects (or --bytes of values) of --value_size\n"
"bytes in calls of --batch objects, from --threads threads; keys are\n"
"\"kvb-bench-NNNNNNNNNNNNNN\" (24 bytes), values 4096-aligned buffers.\n"
"\n"
"  --benchmarks=LIST  comma-separated, run in order\n"
"                     (fill,readrandom,readseq,query,mixed):\n"
"       fill          offload objects 0..num-1, batch after batch\n"
"       readrandom    load batches of distinct random objects\n"
"       readseq       load objects 0..num-1 in order (the fill's batches)\n"
"       query         query batches of random objects (no value moves),\n"
"                     --queries objects in all\n"
"       mixed         each batch loads random objects (--read_pct %%) or\n"
"                     offloads new ones; reads need a fill first\n"
"  --value_size=SIZE  4K..4M, a multiple of 4096 (1M)\n"
"  --batch=N          objects per call, 1..%u (16)\n"
"  --threads=N        threads, each with its own calls in flight (1)\n"
"  --qd=N             calls in flight per thread, asynchronous engines (1)\n"
"  --num=N            objects per workload\n"
"  --bytes=SIZE       or value bytes per workload (256M)\n"
"  --queries=N        objects looked up by query (--num, at least 16384)\n"
"  --read_pct=P       mixed: percent of batches that load (50)\n"
"  --seed=N           random seed (1)\n"
"  --verify           check every loaded byte\n"
"  --json[=FILE]      the report as JSON: on stdout instead of the table,\n"
"                     or into FILE besides the table\n"
"  --device=DEV       kvbucket: attach DEV, FORMATTING it (erases it),\n"
"                     detach at the end\n"
"  --use_existing     kvbucket: attach --device without formatting\n"
"  --volatile         kvbucket: attach with KVB_ATTACH_VOLATILE\n"
"  --chunk_size=SIZE  kvbucket: the store's chunk size when formatting\n"
"  --store=ID         kvbucket: use the attached store ID instead\n"
"  --dir=DIR          peers: their directory, on the filesystem to test\n"
"\n"
"Engines (--engine):\n", prog, BENCH_MAX_BATCH);
	for (e = run_engines; *e; e++)
		fprintf(f, "  %-17s  %s\n", (*e)->name, (*e)->help);
	fprintf(f,
"\n"
"Reports per workload MiB/s, objects/s and the latency of a batch call\n"
"(p50, p99, p99.9). Exit status: 0, 1 on errors, 2 for usage errors, %d\n"
"when the engine cannot run here.\n", BENCH_EXIT_SKIP);
}

static uint64_t parse_num(const char *name, const char *s, uint64_t min,
			  uint64_t max)
{
	uint64_t v;

	if (!tool_parse_size(s, &v) || v < min || v > max) {
		bench_err("--%s=%s: not %" PRIu64 "..%" PRIu64, name, s, min,
			  max);
		exit(2);
	}
	return v;
}

static enum workload workloads[64];
static unsigned int nr_workloads;

static void parse_benchmarks(const char *list)
{
	char *copy = strdup(list), *tok, *save = NULL;
	unsigned int w;

	if (!copy)
		fatal("out of memory");
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		for (w = 0; w < W_NR; w++)
			if (!strcmp(tok, workload_names[w]))
				break;
		if (w == W_NR) {
			bench_err("--benchmarks: unknown workload '%s'", tok);
			exit(2);
		}
		if (nr_workloads == sizeof(workloads) / sizeof(workloads[0])) {
			bench_err("--benchmarks: too many workloads");
			exit(2);
		}
		workloads[nr_workloads++] = w;
	}
	free(copy);
	if (!nr_workloads) {
		bench_err("--benchmarks: empty list");
		exit(2);
	}
}

enum {
	O_BENCHMARKS = 256, O_ENGINE, O_VALUE_SIZE, O_BATCH, O_THREADS, O_QD,
	O_NUM, O_BYTES, O_QUERIES, O_READ_PCT, O_SEED, O_VERIFY, O_JSON, O_DEVICE,
	O_USE_EXISTING, O_VOLATILE, O_CHUNK_SIZE, O_STORE, O_DIR, O_HELP,
};

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "benchmarks", required_argument, NULL, O_BENCHMARKS },
		{ "engine", required_argument, NULL, O_ENGINE },
		{ "value_size", required_argument, NULL, O_VALUE_SIZE },
		{ "batch", required_argument, NULL, O_BATCH },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "qd", required_argument, NULL, O_QD },
		{ "num", required_argument, NULL, O_NUM },
		{ "bytes", required_argument, NULL, O_BYTES },
		{ "queries", required_argument, NULL, O_QUERIES },
		{ "read_pct", required_argument, NULL, O_READ_PCT },
		{ "seed", required_argument, NULL, O_SEED },
		{ "verify", no_argument, NULL, O_VERIFY },
		{ "json", optional_argument, NULL, O_JSON },
		{ "device", required_argument, NULL, O_DEVICE },
		{ "use_existing", no_argument, NULL, O_USE_EXISTING },
		{ "volatile", no_argument, NULL, O_VOLATILE },
		{ "chunk_size", required_argument, NULL, O_CHUNK_SIZE },
		{ "store", required_argument, NULL, O_STORE },
		{ "dir", required_argument, NULL, O_DIR },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 }
	};
	const struct bench_engine *const *e;
	int ch;

	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case O_BENCHMARKS:
			opt.benchmarks = optarg;
			break;
		case O_ENGINE:
			opt.engine = optarg;
			break;
		case O_VALUE_SIZE:
			opt.value_size = parse_num("value_size", optarg, 4096,
						   4 << 20);
			if (opt.value_size % BENCH_ALIGN) {
				bench_err("--value_size: not a multiple of %d",
					  BENCH_ALIGN);
				exit(2);
			}
			break;
		case O_BATCH:
			opt.batch = parse_num("batch", optarg, 1,
					      BENCH_MAX_BATCH);
			break;
		case O_THREADS:
			opt.threads = parse_num("threads", optarg, 1, 64);
			break;
		case O_QD:
			opt.qd = parse_num("qd", optarg, 1, BENCH_MAX_QD);
			break;
		case O_NUM:
			opt.num = parse_num("num", optarg, 1, 1ULL << 40);
			break;
		case O_BYTES:
			opt.bytes = parse_num("bytes", optarg, 1, 1ULL << 50);
			break;
		case O_QUERIES:
			opt.queries = parse_num("queries", optarg, 1,
						1ULL << 40);
			break;
		case O_READ_PCT:
			opt.read_pct = parse_num("read_pct", optarg, 0, 100);
			break;
		case O_SEED:
			opt.seed = parse_num("seed", optarg, 0, UINT64_MAX);
			break;
		case O_VERIFY:
			opt.verify = true;
			break;
		case O_JSON:
			opt.json = optarg ? optarg : "-";
			break;
		case O_DEVICE:
			opt.device = optarg;
			break;
		case O_USE_EXISTING:
			opt.use_existing = true;
			break;
		case O_VOLATILE:
			opt.volatile_ = true;
			break;
		case O_CHUNK_SIZE:
			opt.chunk_size = parse_num("chunk_size", optarg, 512,
						   64 << 20);
			break;
		case O_STORE:
			opt.store = optarg;
			break;
		case O_DIR:
			opt.dir = optarg;
			break;
		case 'h':
		case O_HELP:
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc) {
		bench_err("unexpected argument '%s'", argv[optind]);
		exit(2);
	}

	eng = run_engines[0];
	if (opt.engine) {
		for (e = run_engines; *e; e++)
			if (!strcmp((*e)->name, opt.engine))
				break;
		if (!*e) {
			bench_err("--engine=%s: not one of this program's "
				  "engines (--help)", opt.engine);
			exit(2);
		}
		eng = *e;
	}
	opt.engine = eng->name;
	if (opt.qd > 1 && !eng->async) {
		bench_err("--qd: engine %s is synchronous, use --threads",
			  eng->name);
		exit(2);
	}
	parse_benchmarks(opt.benchmarks);
	if (!opt.num)
		opt.num = opt.bytes / opt.value_size;
	if (opt.num < opt.batch) {
		bench_err("--num (or --bytes / --value_size) is below --batch");
		exit(2);
	}
	opt.bytes = opt.num * opt.value_size;
	/* a lookup is cheap: enough of them to time, whatever the values */
	if (!opt.queries)
		opt.queries = opt.num > 16384 ? opt.num : 16384;
}

/* Per-thread slots: objects, keys and value buffers. */
static void thread_alloc(struct thread_ctx *c, unsigned int index)
{
	struct bench_thread *t = &c->t;
	unsigned int i, j;

	t->index = index;
	t->qd = opt.qd;
	t->slots = calloc(opt.qd, sizeof(*t->slots));
	c->free_slots = calloc(opt.qd, sizeof(*c->free_slots));
	if (!t->slots || !c->free_slots)
		fatal("out of memory");
	for (i = 0; i < opt.qd; i++) {
		struct bench_slot *s = &t->slots[i];

		s->objs = calloc(opt.batch, sizeof(*s->objs));
		if (!s->objs)
			fatal("out of memory");
		for (j = 0; j < opt.batch; j++) {
			/* touched now, so no call pays the page faults */
			s->objs[j].buf = xalloc(opt.value_size, BENCH_ALIGN);
			memcpy(s->objs[j].buf, pattern, opt.value_size);
		}
		s->value_size = opt.value_size;
	}
}

static void thread_free(struct thread_ctx *c)
{
	unsigned int i, j;

	for (i = 0; i < opt.qd; i++) {
		for (j = 0; j < opt.batch; j++)
			free(c->t.slots[i].objs[j].buf);
		free(c->t.slots[i].objs);
	}
	free(c->t.slots);
	free(c->free_slots);
}

/* count distinct random objects of 0..num-1. */
static void pick_random(struct thread_ctx *c, struct bench_obj *objs,
			uint32_t count)
{
	uint32_t i, j;

	for (i = 0; i < count; i++) {
		do {
			objs[i].id = splitmix64(&c->rng) % opt.num;
			for (j = 0; j < i; j++)
				if (objs[j].id == objs[i].id)
					break;
		} while (j < i);
	}
}

/* Fill slot s with batch number seq of the running workload. */
static void plan_batch(struct thread_ctx *c, struct bench_slot *s,
		       uint64_t seq)
{
	uint64_t first = seq * opt.batch, base = 0;
	uint32_t i;

	s->seq = seq;
	s->count = run.nr_objects - first < opt.batch ?
		   run.nr_objects - first : opt.batch;
	s->res = 0;
	switch (run.w) {
	case W_FILL:
	case W_READSEQ:
		s->op = run.w == W_FILL ? BENCH_OFFLOAD : BENCH_LOAD;
		for (i = 0; i < s->count; i++)
			s->objs[i].id = first + i;
		break;
	case W_READRANDOM:
	case W_QUERY:
		s->op = run.w == W_QUERY ? BENCH_QUERY : BENCH_LOAD;
		pick_random(c, s->objs, s->count);
		break;
	case W_MIXED:
		if (splitmix64(&c->rng) % 100 < opt.read_pct) {
			s->op = BENCH_LOAD;
			pick_random(c, s->objs, s->count);
		} else {
			s->op = BENCH_OFFLOAD;
			base = run.write_base;
			for (i = 0; i < s->count; i++)
				s->objs[i].id = base + first + i;
		}
		break;
	case W_NR:
		break;
	}
	for (i = 0; i < s->count; i++) {
		struct bench_obj *o = &s->objs[i];
		uint64_t stamp = s->op == BENCH_OFFLOAD ? o->id : ~o->id;

		o->key_len = snprintf(o->key, sizeof(o->key), KEY_FMT, o->id);
		o->status = 0;
		/* the id in the first bytes; poisoned before a checked load */
		if (s->op == BENCH_OFFLOAD || opt.verify)
			memcpy(o->buf, &stamp, sizeof(stamp));
	}
}

static bool value_ok(const struct bench_obj *o)
{
	return !memcmp(o->buf, &o->id, sizeof(o->id)) &&
	       !memcmp((uint8_t *)o->buf + 8, pattern + 8,
		       opt.value_size - 8);
}

static void account(struct thread_ctx *c, const struct bench_slot *s)
{
	struct tally *ty = &c->tally;
	uint32_t i;

	if (s->res < 0)
		fatal("%s: %s call failed: %s", workload_names[run.w],
		      s->op == BENCH_OFFLOAD ? "offload" :
		      s->op == BENCH_LOAD ? "load" : "query",
		      strerror(-s->res));
	for (i = 0; i < s->count; i++) {
		const struct bench_obj *o = &s->objs[i];

		if (o->status) {
			if (!ty->errors++)
				ty->first_error = o->status;
			continue;
		}
		ty->objects++;
		if (s->op == BENCH_OFFLOAD)
			ty->write_bytes += opt.value_size;
		else if (s->op == BENCH_LOAD)
			ty->read_bytes += opt.value_size;
		if (s->op == BENCH_LOAD && opt.verify && !value_ok(o))
			ty->mismatches++;
	}
}

static void *thread_main(void *arg)
{
	struct thread_ctx *c = arg;
	struct bench_slot *s;
	unsigned int inflight = 0;
	bool more = true;
	uint64_t seq;
	int ret;

	pthread_barrier_wait(&run.start);
	c->t_start = bench_now_ns();
	for (;;) {
		while (more && c->nr_free) {
			seq = __atomic_fetch_add(&run.next_batch, 1,
						 __ATOMIC_RELAXED);
			if (seq >= run.nr_batches) {
				more = false;
				break;
			}
			s = &c->t.slots[c->free_slots[--c->nr_free]];
			plan_batch(c, s, seq);
			s->t_submit = bench_now_ns();
			ret = eng->submit(&c->t, s);
			if (ret < 0)
				fatal("%s: submit: %s", workload_names[run.w],
				      strerror(-ret));
			inflight++;
		}
		if (!inflight)
			break;
		ret = eng->reap(&c->t, &s);
		if (ret < 0)
			fatal("%s: reap: %s", workload_names[run.w],
			      strerror(-ret));
		run.lat[s->seq] = bench_now_ns() - s->t_submit;
		account(c, s);
		c->free_slots[c->nr_free++] = s - c->t.slots;
		inflight--;
	}
	c->t_end = bench_now_ns();
	return NULL;
}

struct result {
	enum workload w;
	double secs;
	uint64_t batches;
	struct tally sum;
	uint64_t p50, p99, p999, max;	/* ns */
	double mean;			/* ns */
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest latency with at least p of all at or below. */
static uint64_t percentile(const uint64_t *sorted, uint64_t n, double p)
{
	uint64_t rank = (uint64_t)(p * n + 0.999999);

	return sorted[rank ? rank - 1 : 0];
}

static void run_workload(enum workload w, struct thread_ctx *ctx,
			 struct result *r)
{
	static unsigned int mixed_runs;
	uint64_t t0 = UINT64_MAX, t1 = 0, i, sum = 0;
	unsigned int k;
	int ret;

	run.w = w;
	run.nr_objects = w == W_QUERY ? opt.queries : opt.num;
	run.nr_batches = (run.nr_objects + opt.batch - 1) / opt.batch;
	run.next_batch = 0;
	if (w == W_MIXED)	/* new objects above those of fill */
		run.write_base = opt.num * ++mixed_runs;
	run.lat = calloc(run.nr_batches, sizeof(*run.lat));
	if (!run.lat)
		fatal("out of memory");
	pthread_barrier_init(&run.start, NULL, opt.threads + 1);
	for (k = 0; k < opt.threads; k++) {
		struct thread_ctx *c = &ctx[k];

		memset(&c->tally, 0, sizeof(c->tally));
		c->rng = opt.seed * 0x100000001b3ULL + w * 1000 + k;
		if (pthread_create(&c->tid, NULL, thread_main, c))
			fatal("cannot create a thread");
	}
	/*
	 * The run lasts from the first thread's start to the last one's end:
	 * this thread may well be descheduled while the others work.
	 */
	pthread_barrier_wait(&run.start);
	memset(r, 0, sizeof(*r));
	for (k = 0; k < opt.threads; k++) {
		struct tally *ty = &ctx[k].tally;

		pthread_join(ctx[k].tid, NULL);
		if (ctx[k].t_start < t0)
			t0 = ctx[k].t_start;
		if (ctx[k].t_end > t1)
			t1 = ctx[k].t_end;
		r->sum.objects += ty->objects;
		r->sum.read_bytes += ty->read_bytes;
		r->sum.write_bytes += ty->write_bytes;
		r->sum.mismatches += ty->mismatches;
		if (ty->errors && !r->sum.errors)
			r->sum.first_error = ty->first_error;
		r->sum.errors += ty->errors;
	}
	if (r->sum.write_bytes && eng->finish_writes) {
		ret = eng->finish_writes();
		if (ret < 0)
			fatal("%s: finishing the writes: %s",
			      workload_names[w], strerror(-ret));
		t1 = bench_now_ns();
	}
	r->secs = (t1 - t0) / 1e9;
	pthread_barrier_destroy(&run.start);

	r->w = w;
	r->batches = run.nr_batches;
	qsort(run.lat, run.nr_batches, sizeof(*run.lat), cmp_u64);
	for (i = 0; i < run.nr_batches; i++)
		sum += run.lat[i];
	r->mean = (double)sum / run.nr_batches;
	r->p50 = percentile(run.lat, run.nr_batches, 0.50);
	r->p99 = percentile(run.lat, run.nr_batches, 0.99);
	r->p999 = percentile(run.lat, run.nr_batches, 0.999);
	r->max = run.lat[run.nr_batches - 1];
	free(run.lat);
}

static double mib_s(const struct result *r)
{
	return (r->sum.read_bytes + r->sum.write_bytes) / MIB / r->secs;
}

static void print_header(void)
{
	fprintf(hout, "%s: engine %s, %u thread%s", prog, eng->name,
		opt.threads, opt.threads > 1 ? "s" : "");
	if (eng->async)
		fprintf(hout, " x queue depth %u", opt.qd);
	fprintf(hout, ", values of %" PRIu64 " KiB, batches of %u"
		" (%.1f MiB), %" PRIu64 " objects (%.1f MiB) per workload\n",
		opt.value_size >> 10, opt.batch,
		opt.batch * opt.value_size / MIB, opt.num, opt.bytes / MIB);
	fprintf(hout, "%-11s %10s %13s %9s %9s %9s %8s\n", "workload",
		"MiB/s", "objects/s", "p50 ms", "p99 ms", "p99.9 ms",
		"errors");
}

static void print_result(const struct result *r)
{
	char mibs[32] = "-";

	if (r->sum.read_bytes + r->sum.write_bytes)
		snprintf(mibs, sizeof(mibs), "%.1f", mib_s(r));
	fprintf(hout, "%-11s %10s %13.1f %9.3f %9.3f %9.3f %8" PRIu64 "\n",
		workload_names[r->w], mibs, r->sum.objects / r->secs,
		r->p50 / 1e6, r->p99 / 1e6, r->p999 / 1e6, r->sum.errors);
	if (r->sum.errors)
		fprintf(hout, "  %" PRIu64 " keys failed, the first with: %s\n",
			r->sum.errors, strerror(-r->sum.first_error));
	if (r->sum.mismatches)
		fprintf(hout, "  %" PRIu64 " loaded values differ from what "
			"was offloaded\n", r->sum.mismatches);
}

static void print_json(FILE *f, const struct result *res, unsigned int n)
{
	unsigned int i;

	fprintf(f, "{\"program\":\"%s\",\"engine\":\"%s\",\"threads\":%u,"
		"\"qd\":%u,\"value_size\":%" PRIu64 ",\"batch\":%u,"
		"\"num\":%" PRIu64 ",\"queries\":%" PRIu64 ","
		"\"key_len\":%d,\"seed\":%" PRIu64 ","
		"\"verify\":%s,\"read_pct\":%u,\"results\":[", prog,
		eng->name, opt.threads, opt.qd, opt.value_size, opt.batch,
		opt.num, opt.queries, (int)strlen("kvb-bench-") + 14, opt.seed,
		opt.verify ? "true" : "false", opt.read_pct);
	for (i = 0; i < n; i++) {
		const struct result *r = &res[i];

		fprintf(f, "%s{\"workload\":\"%s\",\"seconds\":%.6f,"
			"\"batches\":%" PRIu64 ",\"objects\":%" PRIu64 ","
			"\"read_bytes\":%" PRIu64 ",\"write_bytes\":%" PRIu64 ","
			"\"mib_s\":%.3f,\"objects_s\":%.3f,"
			"\"lat_us\":{\"mean\":%.1f,\"p50\":%.1f,\"p99\":%.1f,"
			"\"p999\":%.1f,\"max\":%.1f},\"errors\":%" PRIu64 ","
			"\"mismatches\":%" PRIu64 "}", i ? "," : "",
			workload_names[r->w], r->secs, r->batches,
			r->sum.objects, r->sum.read_bytes, r->sum.write_bytes,
			mib_s(r), r->sum.objects / r->secs, r->mean / 1e3,
			r->p50 / 1e3, r->p99 / 1e3, r->p999 / 1e3,
			r->max / 1e3, r->sum.errors, r->sum.mismatches);
	}
	fprintf(f, "]");
	if (eng->report)
		eng->report(f, NULL);
	fprintf(f, "}\n");
}

int bench_main(int argc, char **argv, const char *name,
	       const struct bench_engine *const *engines)
{
	struct thread_ctx *ctx;
	struct result *res;
	bool failed = false;
	uint64_t seed, i;
	unsigned int k;
	FILE *jf = NULL;
	int ret;

	prog = name;
	run_engines = engines;
	parse_args(argc, argv);
	hout = opt.json && !strcmp(opt.json, "-") ? stderr : stdout;
	setvbuf(hout, NULL, _IOLBF, 0);
	if (opt.json && strcmp(opt.json, "-")) {
		jf = fopen(opt.json, "w");
		if (!jf)
			fatal("%s: %s", opt.json, strerror(errno));
	} else if (opt.json) {
		jf = stdout;
	}

	ret = eng->setup(&opt);
	if (ret == -EOPNOTSUPP)
		return BENCH_EXIT_SKIP;
	if (ret < 0)
		return 1;

	pattern = xalloc(opt.value_size, BENCH_ALIGN);
	seed = opt.seed;
	for (i = 0; i + 8 <= opt.value_size; i += 8) {
		uint64_t v = splitmix64(&seed);

		memcpy(pattern + i, &v, 8);
	}
	ctx = calloc(opt.threads, sizeof(*ctx));
	res = calloc(nr_workloads, sizeof(*res));
	if (!ctx || !res)
		fatal("out of memory");
	for (k = 0; k < opt.threads; k++) {
		thread_alloc(&ctx[k], k);
		for (i = 0; i < opt.qd; i++)
			ctx[k].free_slots[ctx[k].nr_free++] = i;
		ret = eng->thread_init(&ctx[k].t);
		if (ret < 0) {
			if (eng->teardown)
				eng->teardown();
			return ret == -EOPNOTSUPP ? BENCH_EXIT_SKIP : 1;
		}
	}

	print_header();
	for (k = 0; k < nr_workloads; k++) {
		run_workload(workloads[k], ctx, &res[k]);
		print_result(&res[k]);
		if (res[k].sum.errors || res[k].sum.mismatches)
			failed = true;
	}
	if (eng->report)
		eng->report(NULL, hout);
	if (jf) {
		print_json(jf, res, nr_workloads);
		if (jf != stdout && fclose(jf))
			fatal("%s: %s", opt.json, strerror(errno));
	}

	for (k = 0; k < opt.threads; k++) {
		if (eng->thread_exit)
			eng->thread_exit(&ctx[k].t);
		thread_free(&ctx[k]);
	}
	if (eng->teardown)
		eng->teardown();
	free(res);
	free(ctx);
	free(pattern);
	return failed ? 1 : 0;
}
