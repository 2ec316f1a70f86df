// SPDX-License-Identifier: GPL-2.0
/*
 * kvbucket-demo: a KV-cache-like workload on one device, end to end.
 *
 * Attaches DEV (formatting it unless --no-format), offloads --keys values
 * named "demo/layer-%04d" in batches of --batch, each value --value-size
 * bytes from a PRNG seeded by its key and scattered over --slices
 * separately allocated, 4096-aligned slices of unequal sizes; queries every
 * key, loads everything back into fresh buffers, verifies every byte,
 * prints the throughput of each phase and the store totals, and detaches.
 *
 * The last line is "demo: OK: ..." (exit 0) or "demo: FAILED: ..." (exit 1).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libkvbucket.h"
#include "util.h"

#define KEY_FMT		"demo/layer-%04u"
#define KEY_MAX		32
#define ALIGN		4096
#define POISON		0xa5
#define MAX_REPORTS	5
#define MIB		(1024.0 * 1024.0)

static struct {
	const char *dev;
	uint32_t keys, batch, slices;
	uint64_t value_size;
	bool format;
} opt = {
	.keys = 256,
	.value_size = 1 << 20,
	.batch = 16,
	.slices = 4,
	.format = true,
};

static unsigned int failures;
static char first_failure[256];

static void __attribute__((format(printf, 1, 2))) failure(const char *fmt, ...)
{
	va_list ap;

	if (!failures) {
		va_start(ap, fmt);
		vsnprintf(first_failure, sizeof(first_failure), fmt, ap);
		va_end(ap);
	}
	if (failures++ < MAX_REPORTS) {
		fprintf(stderr, "demo: ");
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
}

static void __attribute__((noreturn, format(printf, 1, 2)))
fatal(const char *fmt, ...)
{
	va_list ap;

	printf("demo: FAILED: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *alloc_aligned(size_t len)
{
	void *p;

	if (posix_memalign(&p, ALIGN, len))
		fatal("out of memory (%zu bytes)", len);
	return p;
}

/* Key i, and the value that belongs to it. */
static uint32_t key_of(uint32_t i, char *buf)
{
	return snprintf(buf, KEY_MAX, KEY_FMT, i);
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void make_value(const char *key, uint32_t key_len, uint8_t *buf,
		       uint64_t len)
{
	uint64_t seed = 0xcbf29ce484222325ULL, v;	/* FNV-1a of the key */
	uint64_t i;
	uint32_t k;

	for (k = 0; k < key_len; k++)
		seed = (seed ^ (uint8_t)key[k]) * 0x100000001b3ULL;
	for (i = 0; i + 8 <= len; i += 8) {
		v = splitmix64(&seed);
		memcpy(buf + i, &v, 8);
	}
	if (i < len) {
		v = splitmix64(&seed);
		memcpy(buf + i, &v, len - i);
	}
}

/*
 * Slice sizes: slice i gets a share proportional to i + 1, so that no two
 * are equal (and few are block multiples), at least one byte each.
 */
static uint64_t *slice_sizes;

static void plan_slices(void)
{
	uint64_t total = (uint64_t)opt.slices * (opt.slices + 1) / 2;
	uint64_t spare = opt.value_size - opt.slices, used = 0;
	uint32_t i;

	slice_sizes = calloc(opt.slices, sizeof(*slice_sizes));
	if (!slice_sizes)
		fatal("out of memory");
	for (i = 0; i < opt.slices; i++) {
		slice_sizes[i] = 1 + spare / total * (i + 1);
		used += slice_sizes[i];
	}
	slice_sizes[opt.slices - 1] += opt.value_size - used;
}

/* A batch: its descriptors, keys, slices and their memory. */
struct batch {
	uint32_t n;
	char (*keys)[KEY_MAX];
	struct kvb_obj_desc *descs;
	struct kvb_slice *slices;	/* n * opt.slices */
};

static void batch_alloc(struct batch *b, uint32_t first, uint32_t n,
			bool with_slices)
{
	uint32_t i, j, len;
	struct kvb_slice *sl = NULL;

	b->n = n;
	b->keys = calloc(n, KEY_MAX);
	b->descs = calloc(n, sizeof(*b->descs));
	b->slices = with_slices ?
		calloc((size_t)n * opt.slices, sizeof(*b->slices)) : NULL;
	if (!b->keys || !b->descs || (with_slices && !b->slices))
		fatal("out of memory");
	for (i = 0; i < n; i++) {
		len = key_of(first + i, b->keys[i]);
		if (with_slices) {
			sl = b->slices + (size_t)i * opt.slices;
			for (j = 0; j < opt.slices; j++)
				kvb_slice_init(&sl[j],
					       alloc_aligned(slice_sizes[j]),
					       slice_sizes[j]);
		}
		kvb_desc_init(&b->descs[i], b->keys[i], len, sl,
			      with_slices ? opt.slices : 0);
	}
}

static void batch_free(struct batch *b)
{
	size_t i;

	for (i = 0; b->slices && i < (size_t)b->n * opt.slices; i++)
		free((void *)(uintptr_t)b->slices[i].addr);
	free(b->slices);
	free(b->descs);
	free(b->keys);
}

/* Copy or compare the value of descriptor i to or from its slices. */
static bool scatter(struct batch *b, uint32_t i, uint8_t *val, bool verify)
{
	const struct kvb_slice *sl = b->slices + (size_t)i * opt.slices;
	uint64_t off = 0, k;
	uint32_t j;

	for (j = 0; j < opt.slices; off += sl[j].len, j++) {
		void *p = (void *)(uintptr_t)sl[j].addr;

		if (!verify) {
			memcpy(p, val + off, sl[j].len);
			continue;
		}
		if (!memcmp(p, val + off, sl[j].len))
			continue;
		for (k = 0; k < sl[j].len; k++)
			if (((uint8_t *)p)[k] != val[off + k])
				break;
		failure("%s: byte %" PRIu64 " differs (slice %u)",
			b->keys[i], off + k, j);
		return false;
	}
	return true;
}

struct phase {
	const char *name;
	double secs;
	uint64_t objs, bytes;
};

static void phase_print(const struct phase *p)
{
	double s = p->secs > 0 ? p->secs : 1e-9;

	if (!p->bytes) {		/* query: no data moves */
		printf("%-8s %6" PRIu64 " objects in %7.3f s: %10.1f %s\n",
		       p->name, p->objs, p->secs, p->objs / s, "objects/s");
		return;
	}
	printf("%-8s %6" PRIu64 " objects, %9.1f MiB in %7.3f s: ", p->name,
	       p->objs, p->bytes / MIB, p->secs);
	printf("%9.1f MiB/s, %10.1f objects/s\n", p->bytes / MIB / s,
	       p->objs / s);
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: kvbucket-demo --dev DEV [--keys N] [--value-size SIZE] [--batch N]\n"
"                     [--slices N] [--no-format]\n"
"\n"
"Offload, query, load back and verify a KV-cache-like set of values on the\n"
"block device DEV through kvbucket (needs the module and CAP_SYS_ADMIN).\n"
"\n"
"  --dev DEV          block device to attach; ERASED unless --no-format\n"
"  --keys N           number of values (up to 1000000), keys\n"
"                     \"demo/layer-NNNN\" (256)\n"
"  --value-size SIZE  bytes per value, K/M/G suffixes (1M)\n"
"  --batch N          values per offload and load call (16)\n"
"  --slices N         slices per value, unequal and separately allocated,\n"
"                     4096-aligned (4)\n"
"  --no-format        attach the store on DEV as it is (or use it if it is\n"
"                     already attached) and replace the demo keys\n"
"  -h, --help         this text\n"
"\n"
"Prints the throughput of each phase and the store totals; the last line\n"
"is \"demo: OK: ...\" with exit status 0, or \"demo: FAILED: ...\" with 1.\n");
}

static uint32_t parse_count(const char *name, const char *s, uint32_t max)
{
	uint64_t v;

	if (!tool_parse_size(s, &v) || !v || v > max) {
		fprintf(stderr, "kvbucket-demo: %s %s: not 1..%u\n", name, s,
			max);
		exit(2);
	}
	return v;
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dev", required_argument, NULL, 'd' },
		{ "keys", required_argument, NULL, 'k' },
		{ "value-size", required_argument, NULL, 'v' },
		{ "batch", required_argument, NULL, 'b' },
		{ "slices", required_argument, NULL, 's' },
		{ "no-format", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "d:k:v:b:s:nh", lo, NULL)) != -1) {
		switch (ch) {
		case 'd':
			opt.dev = optarg;
			break;
		case 'k':
			opt.keys = parse_count("--keys", optarg, 1000000);
			break;
		case 'v':
			if (!tool_parse_size(optarg, &opt.value_size) ||
			    !opt.value_size ||
			    opt.value_size > KVB_MAX_BUCKET_BYTES) {
				fprintf(stderr, "kvbucket-demo: %s %s: %s\n",
					"--value-size", optarg, "not 1..1G");
				exit(2);
			}
			break;
		case 'b':
			opt.batch = parse_count("--batch", optarg,
						KVB_MAX_KEYS_PER_BUCKET);
			break;
		case 's':
			opt.slices = parse_count("--slices", optarg,
						 KVB_MAX_SLICES);
			break;
		case 'n':
			opt.format = false;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (!opt.dev || optind != argc) {
		usage(stderr);
		exit(2);
	}
	if (opt.slices > opt.value_size)
		opt.slices = opt.value_size;
	if ((uint64_t)opt.batch * opt.slices > KVB_MAX_BATCH_SLICES) {
		fprintf(stderr, "kvbucket-demo: --batch x --slices above %u\n",
			KVB_MAX_BATCH_SLICES);
		exit(2);
	}
	if (opt.value_size * opt.batch > KVB_MAX_BUCKET_BYTES) {
		fprintf(stderr, "kvbucket-demo: %s\n",
			"--batch x --value-size above 1 GiB (one bucket)");
		exit(2);
	}
}

static void print_store(const struct kvb_store_info *in)
{
	printf("store %u on %.*s: %" PRIu64 " keys, %" PRIu64 " buckets, "
	       "%.1f MiB of values; used %.1f MiB, free %.1f MiB, "
	       "capacity %.1f MiB\n",
	       in->id, (int)strnlen(in->path, sizeof(in->path)), in->path,
	       (uint64_t)in->nr_keys, (uint64_t)in->nr_buckets,
	       in->value_bytes / MIB, in->used_bytes / MIB,
	       in->free_bytes / MIB, in->capacity_bytes / MIB);
}

int main(int argc, char **argv)
{
	struct phase off = { .name = "offload" }, qry = { .name = "query" };
	struct phase load = { .name = "load" };
	struct kvb_attach_opts ao = { 0 };
	struct kvb_store_info info;
	struct kvb_store *st = NULL;
	bool attached = false;
	uint64_t bucket, verified = 0;
	uint8_t *val;
	uint32_t id, first, n, i, limit;
	double t;
	int ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	parse_args(argc, argv);
	plan_slices();
	val = alloc_aligned(opt.value_size);

	printf("demo: %s: %u keys x %" PRIu64 " bytes, ", opt.dev, opt.keys,
	       opt.value_size);
	printf("batches of %u, %u slices per value\n", opt.batch, opt.slices);

	/* Attach, with limits large enough for one batch per bucket. */
	if (opt.format) {
		ao.flags = KVB_ATTACH_FORMAT;
		if (opt.batch > KVB_DEFAULT_KEYS_PER_BUCKET)
			ao.max_keys_per_bucket = opt.batch;
		if (opt.batch * opt.value_size > KVB_DEFAULT_BUCKET_BYTES)
			ao.max_bucket_bytes = opt.batch * opt.value_size;
	}
	t = now();
	ret = kvb_attach(opt.dev, &ao, &id);
	if (ret == -EBUSY && !opt.format && !kvb_find(opt.dev, &id)) {
		printf("attach: %s is already store %u: using it\n", opt.dev,
		       id);
	} else if (ret < 0) {
		fatal("attach %s: %s", opt.dev, strerror(-ret));
	} else {
		attached = true;
		printf("attach: %s is store %u (%s) in %.3f s\n", opt.dev, id,
		       opt.format ? "formatted" : "existing", now() - t);
	}
	ret = kvb_open(id, &st);
	if (ret < 0) {
		failure("open store %u: %s", id, strerror(-ret));
		goto out;
	}

	/* Offload. */
	for (first = 0; first < opt.keys; first += n) {
		struct batch b;

		n = opt.keys - first < opt.batch ? opt.keys - first : opt.batch;
		batch_alloc(&b, first, n, true);
		for (i = 0; i < n; i++) {
			make_value(b.keys[i], b.descs[i].key_len, val,
				   opt.value_size);
			scatter(&b, i, val, false);
		}
		t = now();
		ret = kvb_offload(st, b.descs, n,
				  opt.format ? 0 : KVB_OFFLOAD_REPLACE,
				  &bucket, &limit);
		off.secs += now() - t;
		if (ret < 0) {
			failure("offload %s..: %s (limit %u)", b.keys[0],
				strerror(-ret), limit);
			batch_free(&b);
			goto out;
		}
		for (i = 0; i < n; i++) {
			if (b.descs[i].status)
				failure("offload %s: %s", b.keys[i],
					strerror(-b.descs[i].status));
		}
		off.objs += ret;
		off.bytes += ret * opt.value_size;
		batch_free(&b);
	}
	phase_print(&off);
	if (failures)
		goto out;

	/* Query, as few calls as possible. */
	for (first = 0; first < opt.keys; first += n) {
		struct batch b;

		n = opt.keys - first < KVB_MAX_BATCH ?
			opt.keys - first : KVB_MAX_BATCH;
		batch_alloc(&b, first, n, false);
		t = now();
		ret = kvb_query(st, b.descs, n);
		qry.secs += now() - t;
		if (ret < 0) {
			failure("query: %s", strerror(-ret));
			batch_free(&b);
			goto out;
		}
		for (i = 0; i < n; i++) {
			if (b.descs[i].status)
				failure("query %s: %s", b.keys[i],
					strerror(-b.descs[i].status));
			else if (b.descs[i].value_len != opt.value_size)
				failure("query %s: value_len %" PRIu64
					", want %" PRIu64, b.keys[i],
					(uint64_t)b.descs[i].value_len,
					opt.value_size);
			else
				qry.objs++;
		}
		batch_free(&b);
	}
	qry.bytes = 0;
	phase_print(&qry);

	/* Load into fresh, poisoned buffers and verify. */
	for (first = 0; first < opt.keys; first += n) {
		struct batch b;
		size_t j;

		n = opt.keys - first < opt.batch ? opt.keys - first : opt.batch;
		batch_alloc(&b, first, n, true);
		for (j = 0; j < (size_t)n * opt.slices; j++)
			memset((void *)(uintptr_t)b.slices[j].addr, POISON,
			       b.slices[j].len);
		t = now();
		ret = kvb_load(st, b.descs, n);
		load.secs += now() - t;
		if (ret < 0) {
			failure("load %s..: %s", b.keys[0], strerror(-ret));
			batch_free(&b);
			goto out;
		}
		load.objs += ret;
		load.bytes += ret * opt.value_size;
		for (i = 0; i < n; i++) {
			if (b.descs[i].status) {
				failure("load %s: %s", b.keys[i],
					strerror(-b.descs[i].status));
				continue;
			}
			make_value(b.keys[i], b.descs[i].key_len, val,
				   opt.value_size);
			if (scatter(&b, i, val, true))
				verified++;
		}
		batch_free(&b);
	}
	phase_print(&load);

out:
	if (st) {
		ret = kvb_store_info(st, &info);
		if (ret < 0)
			failure("store info: %s", strerror(-ret));
		else
			print_store(&info);
		kvb_close(st);
	}
	if (attached) {
		t = now();
		ret = kvb_detach(id);
		if (ret < 0)
			failure("detach %u: %s", id, strerror(-ret));
		else
			printf("detach: store %u in %.3f s\n", id, now() - t);
	}
	free(val);
	free(slice_sizes);
	if (failures || verified != opt.keys) {
		if (!failures)
			snprintf(first_failure, sizeof(first_failure),
				 "%" PRIu64 " of %u keys verified", verified,
				 opt.keys);
		printf("demo: FAILED: %s%s\n", first_failure,
		       failures > 1 ? " (and more errors)" : "");
		return 1;
	}
	printf("demo: OK: %u keys, %.1f MiB verified\n", opt.keys,
	       verified * opt.value_size / MIB);
	return 0;
}
