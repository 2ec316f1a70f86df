// SPDX-License-Identifier: GPL-2.0
/*
 * kvb_stress: 16 threads mixing OFFLOAD (multi-slice, some REPLACE), LOAD,
 * QUERY, REMOVE, DELETE_BUCKET and BUCKET_SCAN on one store for a bounded
 * time, while another thread detaches and re-attaches the store and tries
 * to unload the module (delete_module with O_NONBLOCK, which must fail
 * while files are open).
 *
 *   kvb_stress [--seconds N] [DEV]      (DEV: default first disk of KVB_DISKS)
 *
 * TAP output, one test ("stress"). Every value is a header (magic, key
 * length, generation) followed by bytes derived from (key, generation,
 * length), so a loaded value is verified byte for byte whoever wrote it,
 * REPLACE included. Each thread owns its keys (only it offloads, removes,
 * replaces them and deletes the buckets holding them), so it knows their
 * exact state; other threads' keys are loaded too and must be whole values.
 * Bounded by time and by an iteration count; no sleeps: a thread whose fd
 * died waits on a condition variable for the next attachment.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <time.h>

#include "kvb_test.h"

#define NTHREADS	16
#define NKEYS		48
#define MAX_ITERS	200000
#define MAX_VLEN	(192U << 10)
#define HDR		16
#define MAGIC		0x5354524bU	/* "KRTS" */
#define MAX_FAIL_PRINT	40

struct skey {
	char key[48];
	uint32_t klen;
	bool present;
	uint64_t gen, vlen, bucket;
};

struct th {
	int t;
	uint64_t rng;
	int fd;
	unsigned int fd_gen;
	uint64_t gen;
	struct skey k[NKEYS];
	uint8_t *val, *dst, *scan;
	uint64_t ops, enodev, reopen;
};

static struct {
	const char *dev;
	int ctl;
	double seconds;
	struct timespec t0;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint32_t id;		/* current store id */
	unsigned int gen;	/* attachment number */
	bool attached;
	_Atomic int stop;
	_Atomic uint64_t failures, total_ops, reattaches, rmmod_tries,
		rmmod_ok, nop[8];
} G;

static struct th TH[NTHREADS];

static const char *const opname[8] = {
	"offload", "load", "query", "remove", "delete", "scan", "load-other",
	"info",
};

static void fail(int t, const char *fmt, ...)
{
	uint64_t n = atomic_fetch_add(&G.failures, 1);
	va_list ap;

	if (n >= MAX_FAIL_PRINT)
		return;
	flockfile(stdout);
	printf("# FAIL [thread %d] ", t);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	funlockfile(stdout);
	fflush(stdout);
}

static double elapsed(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - G.t0.tv_sec) + (t.tv_nsec - G.t0.tv_nsec) / 1e9;
}

static uint64_t rnd(struct th *th, uint64_t n)
{
	return n ? splitmix64(&th->rng) % n : 0;
}

/* ---- values ---------------------------------------------------------- */

static uint64_t vseed(const void *key, uint32_t klen, uint64_t gen,
		      uint64_t len)
{
	return key_seed(key, klen, gen * 1000003ULL + len);
}

static void make_value(uint8_t *buf, const void *key, uint32_t klen,
		       uint64_t gen, uint64_t len)
{
	uint32_t h[2] = { MAGIC, klen };

	memcpy(buf, h, 8);
	memcpy(buf + 8, &gen, 8);
	fill_value(vseed(key, klen, gen, len), buf + HDR, len - HDR);
}

/* -1 if buf is a whole value of key (any generation, in *gen), else
 * the offset of the first wrong byte */
static long check_whole(const uint8_t *buf, const void *key, uint32_t klen,
			uint64_t len, uint64_t *gen)
{
	uint32_t h[2];
	long bad;

	*gen = 0;
	if (len < HDR)
		return 0;
	memcpy(h, buf, 8);
	memcpy(gen, buf + 8, 8);
	if (h[0] != MAGIC || h[1] != klen)
		return 0;
	bad = check_value(vseed(key, klen, *gen, len), buf + HDR, len - HDR);
	return bad < 0 ? -1 : bad + HDR;
}

/* ---- the store fd of a thread ----------------------------------------- */

/* the thread's fd died: wait for an attachment newer than the fd's */
static bool reopen(struct th *th)
{
	uint32_t id;
	int fd;

	if (th->fd >= 0)
		close(th->fd);
	th->fd = -1;
	pthread_mutex_lock(&G.lock);
	while ((!G.attached || G.gen == th->fd_gen) && !atomic_load(&G.stop))
		pthread_cond_wait(&G.cond, &G.lock);
	id = G.id;
	th->fd_gen = G.gen;
	/* opened under the lock: the reattacher cannot detach meanwhile */
	fd = G.attached ? store_open(id) : -1;
	pthread_mutex_unlock(&G.lock);
	if (fd < 0) {
		if (!atomic_load(&G.stop))
			fail(th->t, "open /dev/kvbucket%u: %s", id, strerror(errno));
		return false;
	}
	th->fd = fd;
	th->reopen++;
	return true;
}

/* a call's -errno: ENODEV means reopen (and the call did nothing) */
static bool dead(struct th *th, int ret)
{
	if (ret != -ENODEV)
		return false;
	th->enodev++;
	reopen(th);
	return true;
}

/* ---- operations on own keys -------------------------------------------- */

static void op_offload(struct th *th)
{
	struct kvb_obj_desc d[8];
	struct kvb_slice s[8 * 4];
	struct kvb_batch b;
	uint64_t vlen[8], gen[8], off = 0;
	int idx[8], n = 1 + rnd(th, 6), i, j, ns = 0, ret;
	uint32_t flags = rnd(th, 3) == 0 ? KVB_OFFLOAD_REPLACE : 0;
	bool used[NKEYS] = { false };

	for (i = 0; i < n; i++) {
		struct skey *k;
		uint32_t nr;

		do
			idx[i] = rnd(th, NKEYS);
		while (used[idx[i]]);
		used[idx[i]] = true;
		k = &th->k[idx[i]];
		vlen[i] = HDR + rnd(th, rnd(th, 4) ? 8192 : MAX_VLEN - HDR);
		gen[i] = ++th->gen;
		make_value(th->val + off, k->key, k->klen, gen[i], vlen[i]);
		nr = 1 + rnd(th, 4);
		kvb_desc_init(&d[i], k->key, k->klen, &s[ns], nr);
		/* nr slices covering the value: pieces of varied length */
		for (j = 0; j < (int)nr; j++) {
			uint64_t a = vlen[i] * j / nr, z = vlen[i] * (j + 1) / nr;

			kvb_slice_init(&s[ns + j], th->val + off + a, z - a);
		}
		ns += nr;
		off += (vlen[i] + 7) & ~7ULL;
	}
	ret = st_batch(th->fd, KVB_IOC_OFFLOAD, d, n, flags, &b);
	if (dead(th, ret))
		return;
	if (ret == -ENOSPC)
		return;
	if (ret) {
		fail(th->t, "OFFLOAD of %d keys: %s", n, strerror(-ret));
		return;
	}
	for (i = 0; i < n; i++) {
		struct skey *k = &th->k[idx[i]];

		if (d[i].status == 0) {
			if (k->present && !flags)
				fail(th->t, "OFFLOAD stored %s again without REPLACE",
				     k->key);
			if (d[i].bucket_id != b.bucket_id || !b.bucket_id ||
			    d[i].value_len != vlen[i])
				fail(th->t, "OFFLOAD %s: bucket %llu/%llu len %llu/%llu",
				     k->key, (unsigned long long)d[i].bucket_id,
				     (unsigned long long)b.bucket_id,
				     (unsigned long long)d[i].value_len,
				     (unsigned long long)vlen[i]);
			k->present = true;
			k->gen = gen[i];
			k->vlen = vlen[i];
			k->bucket = d[i].bucket_id;
		} else if (d[i].status == -EEXIST && !flags && k->present) {
			if (d[i].value_len != k->vlen || d[i].bucket_id != k->bucket)
				fail(th->t, "OFFLOAD %s EEXIST: len %llu bucket %llu, expected %llu %llu",
				     k->key, (unsigned long long)d[i].value_len,
				     (unsigned long long)d[i].bucket_id,
				     (unsigned long long)k->vlen,
				     (unsigned long long)k->bucket);
		} else {
			fail(th->t, "OFFLOAD %s (%s, %s): status %d", k->key,
			     k->present ? "present" : "absent",
			     flags ? "REPLACE" : "no REPLACE", d[i].status);
		}
	}
}

/* LOAD own keys: exact state */
static void op_load(struct th *th)
{
	struct kvb_obj_desc d[4];
	struct kvb_slice s[4];
	int idx[4], n = 1 + rnd(th, 4), i, ret;
	uint64_t off = 0, len[4];

	for (i = 0; i < n; i++) {
		struct skey *k;

		idx[i] = rnd(th, NKEYS);
		k = &th->k[idx[i]];
		len[i] = k->present ? k->vlen : HDR + rnd(th, 1000);
		memset(th->dst + off, 0x5a, len[i]);
		kvb_slice_init(&s[i], th->dst + off, len[i]);
		kvb_desc_init(&d[i], k->key, k->klen, &s[i], 1);
		off += (len[i] + 7) & ~7ULL;
	}
	ret = st_batch(th->fd, KVB_IOC_LOAD, d, n, 0, NULL);
	if (dead(th, ret))
		return;
	if (ret) {
		fail(th->t, "LOAD: %s", strerror(-ret));
		return;
	}
	for (i = 0; i < n; i++) {
		struct skey *k = &th->k[idx[i]];

		if (!k->present) {
			if (d[i].status != -ENOENT)
				fail(th->t, "LOAD %s (absent): status %d", k->key,
				     d[i].status);
			continue;
		}
		if (d[i].status || d[i].value_len != k->vlen) {
			fail(th->t, "LOAD %s (present, gen %llu len %llu): status %d len %llu",
			     k->key, (unsigned long long)k->gen,
			     (unsigned long long)k->vlen, d[i].status,
			     (unsigned long long)d[i].value_len);
			continue;
		}
		{
			uint8_t *v = (uint8_t *)(uintptr_t)s[i].addr;
			uint64_t g;
			long bad = check_value(vseed(k->key, k->klen, k->gen, k->vlen),
					       v + HDR, k->vlen - HDR);

			memcpy(&g, v + 8, 8);
			if (g != k->gen || bad >= 0)
				fail(th->t, "LOAD %s: generation %llu (expected %llu), wrong byte at %ld",
				     k->key, (unsigned long long)g,
				     (unsigned long long)k->gen,
				     bad >= 0 ? bad + HDR : -1);
		}
	}
}

static void op_query(struct th *th)
{
	struct skey *k = &th->k[rnd(th, NKEYS)];
	struct kvb_obj_desc d;
	int ret = query_one(th->fd, k->key, k->klen, &d);

	if (dead(th, ret))
		return;
	if (ret) {
		fail(th->t, "QUERY: %s", strerror(-ret));
		return;
	}
	if (k->present ? (d.status || d.value_len != k->vlen ||
			  d.bucket_id != k->bucket) : d.status != -ENOENT)
		fail(th->t, "QUERY %s (%s len %llu bucket %llu): status %d len %llu bucket %llu",
		     k->key, k->present ? "present" : "absent",
		     (unsigned long long)k->vlen, (unsigned long long)k->bucket,
		     d.status, (unsigned long long)d.value_len,
		     (unsigned long long)d.bucket_id);
}

static void op_remove(struct th *th)
{
	struct kvb_obj_desc d[3];
	int idx[3], n = 1 + rnd(th, 3), i, ret;
	bool used[NKEYS] = { false };

	for (i = 0; i < n; i++) {
		do
			idx[i] = rnd(th, NKEYS);
		while (used[idx[i]]);
		used[idx[i]] = true;
		kvb_desc_init(&d[i], th->k[idx[i]].key, th->k[idx[i]].klen,
			      NULL, 0);
	}
	ret = st_batch(th->fd, KVB_IOC_REMOVE, d, n, 0, NULL);
	if (dead(th, ret))
		return;
	if (ret) {
		fail(th->t, "REMOVE: %s", strerror(-ret));
		return;
	}
	for (i = 0; i < n; i++) {
		struct skey *k = &th->k[idx[i]];

		if (k->present ? (d[i].status || d[i].value_len != k->vlen) :
				 d[i].status != -ENOENT)
			fail(th->t, "REMOVE %s (%s): status %d", k->key,
			     k->present ? "present" : "absent", d[i].status);
		k->present = false;
	}
}

/* DELETE_BUCKET of a bucket holding one of the thread's keys */
static void op_delete(struct th *th)
{
	struct skey *k = &th->k[rnd(th, NKEYS)];
	uint64_t id;
	uint32_t nr = 0, want = 0;
	int i, ret;

	if (!k->present)
		return;
	id = k->bucket;
	for (i = 0; i < NKEYS; i++)
		if (th->k[i].present && th->k[i].bucket == id)
			want++;
	ret = st_delete(th->fd, id, &nr);
	if (dead(th, ret))
		return;
	if (ret || nr != want)
		fail(th->t, "DELETE_BUCKET %llu: %d, nr_keys %u, expected %u",
		     (unsigned long long)id, ret, nr, want);
	for (i = 0; i < NKEYS; i++)
		if (th->k[i].present && th->k[i].bucket == id)
			th->k[i].present = false;
}

/* a whole value of any key, read through QUERY then LOAD */
static int load_any(struct th *th, int fd, const void *key, uint32_t klen,
		    uint64_t len, const char *what)
{
	struct kvb_obj_desc d;
	struct kvb_slice s;
	uint64_t gen;
	long bad;
	int ret;

	if (len > MAX_VLEN) {
		fail(th->t, "%s: value of %llu bytes", what,
		     (unsigned long long)len);
		return 0;
	}
	kvb_slice_init(&s, th->dst, len);
	kvb_desc_init(&d, key, klen, &s, 1);
	ret = st_batch(fd, KVB_IOC_LOAD, &d, 1, 0, NULL);
	if (ret)
		return ret;
	if (d.status)
		return d.status;	/* ENOENT, EMSGSIZE: raced */
	bad = check_whole(th->dst, key, klen, len, &gen);
	if (bad >= 0)
		fail(th->t, "%s: key '%.*s' value of %llu bytes (gen %llu) wrong at byte %ld",
		     what, (int)klen, (const char *)key,
		     (unsigned long long)len, (unsigned long long)gen, bad);
	return 0;
}

static void op_load_other(struct th *th)
{
	struct th *o = &TH[rnd(th, NTHREADS)];
	struct skey *k = &o->k[rnd(th, NKEYS)];	/* key bytes are constant */
	struct kvb_obj_desc d;
	int ret;

	ret = query_one(th->fd, k->key, k->klen, &d);
	if (dead(th, ret))
		return;
	if (ret) {
		fail(th->t, "QUERY: %s", strerror(-ret));
		return;
	}
	if (d.status == -ENOENT)
		return;
	if (d.status) {
		fail(th->t, "QUERY %s: status %d", k->key, d.status);
		return;
	}
	ret = load_any(th, th->fd, k->key, k->klen, d.value_len, "LOAD other");
	if (ret < 0 && ret != -ENOENT && ret != -EMSGSIZE && !dead(th, ret))
		fail(th->t, "LOAD %s: %d", k->key, ret);
}

static void op_scan(struct th *th)
{
	struct kvb_bucket_scan s;
	uint64_t off = 0, prev = 0;
	uint32_t i;
	int ret;

	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	s.start_id = rnd(th, 2) ? 0 : th->k[rnd(th, NKEYS)].bucket;
	s.max_buckets = 1 + rnd(th, 32);
	s.buf = (uint64_t)(uintptr_t)th->scan;
	s.buf_len = 1 << 20;
	ret = kvb_ioctl(th->fd, KVB_IOC_BUCKET_SCAN, &s);
	if (dead(th, ret))
		return;
	if (ret) {
		fail(th->t, "BUCKET_SCAN: %s", strerror(-ret));
		return;
	}
	for (i = 0; i < s.nr_buckets; i++) {
		struct kvb_bucket_rec r;

		memcpy(&r, th->scan + off, sizeof(r));
		if (r.id <= prev || r.id < s.start_id ||
		    off + r.rec_len > s.buf_len) {
			fail(th->t, "BUCKET_SCAN: record %u id %llu rec_len %llu",
			     i, (unsigned long long)r.id,
			     (unsigned long long)r.rec_len);
			return;
		}
		prev = r.id;
		off += r.rec_len;
	}
	if (off != s.buf_len || (s.next_id && s.next_id <= prev))
		fail(th->t, "BUCKET_SCAN: used %llu of %llu, next %llu",
		     (unsigned long long)off, (unsigned long long)s.buf_len,
		     (unsigned long long)s.next_id);
}

static void op_info(struct th *th)
{
	struct kvb_store_info info;
	int ret = st_info(th->fd, &info);

	if (dead(th, ret))
		return;
	if (ret || info.used_bytes + info.free_bytes != info.capacity_bytes)
		fail(th->t, "STORE_INFO: %d", ret);
}

static void *worker(void *arg)
{
	struct th *th = arg;
	uint64_t it;

	for (it = 0; it < MAX_ITERS && !atomic_load(&G.stop); it++) {
		unsigned int r = rnd(th, 100), op;

		if (elapsed() >= G.seconds)
			break;
		if (th->fd < 0 && !reopen(th))
			break;
		if (r < 25)
			op = 0, op_offload(th);
		else if (r < 45)
			op = 1, op_load(th);
		else if (r < 55)
			op = 2, op_query(th);
		else if (r < 65)
			op = 3, op_remove(th);
		else if (r < 70)
			op = 4, op_delete(th);
		else if (r < 75)
			op = 5, op_scan(th);
		else if (r < 97)
			op = 6, op_load_other(th);
		else
			op = 7, op_info(th);
		th->ops++;
		atomic_fetch_add(&G.nop[op], 1);
		atomic_fetch_add(&G.total_ops, 1);
	}
	return NULL;
}

/* ---- detach / re-attach / rmmod ----------------------------------------- */

static int attach_dev(uint32_t flags)
{
	uint32_t id;
	int ret = ctl_attach(G.ctl, G.dev, flags, 0, 0,
			     flags & KVB_ATTACH_FORMAT ? 256 << 10 : 0, &id);

	if (ret)
		return ret;
	pthread_mutex_lock(&G.lock);
	G.id = id;
	G.gen++;
	G.attached = true;
	pthread_cond_broadcast(&G.cond);
	pthread_mutex_unlock(&G.lock);
	return 0;
}

static int detach_dev(void)
{
	int ret;

	pthread_mutex_lock(&G.lock);
	G.attached = false;
	ret = ctl_detach(G.ctl, G.id);
	pthread_mutex_unlock(&G.lock);
	return ret;
}

static void try_rmmod(void)
{
	int ret = module_unload();

	atomic_fetch_add(&G.rmmod_tries, 1);
	if (ret == -EAGAIN || ret == -EBUSY)
		return;
	if (ret) {
		fail(-1, "delete_module(kvbucket, O_NONBLOCK): %s", strerror(-ret));
		return;
	}
	/* it went: every store with it. Load it again; a detach. */
	atomic_fetch_add(&G.rmmod_ok, 1);
	printf("# delete_module succeeded with files open; reloading\n");
	pthread_mutex_lock(&G.lock);
	G.attached = false;
	pthread_mutex_unlock(&G.lock);
	close(G.ctl);
	ret = module_load();
	G.ctl = ctl_open();
	if (ret || G.ctl < 0)
		fail(-1, "reloading the module: %s", strerror(-ret));
}

static void *reattacher(void *arg)
{
	uint64_t last = 0, n = 0;

	(void)arg;
	while (!atomic_load(&G.stop) && elapsed() < G.seconds &&
	       n < MAX_ITERS) {
		uint64_t ops = atomic_load(&G.total_ops);
		int ret;

		/* paced by the workers' progress: every 150 operations */
		if (ops < last + 150) {
			sched_yield();
			continue;
		}
		last = ops;
		n++;
		try_rmmod();
		ret = G.attached ? detach_dev() : 0;
		if (ret)
			fail(-1, "DETACH %u: %s", G.id, strerror(-ret));
		try_rmmod();
		ret = attach_dev(n % 3 == 0 ? KVB_ATTACH_SCAN : 0);
		if (ret) {
			fail(-1, "ATTACH %s: %s", G.dev, strerror(-ret));
			break;
		}
		atomic_fetch_add(&G.reattaches, 1);
	}
	return NULL;
}

/* ---- final checks -------------------------------------------------------- */

static int run_inspect(void)
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		if (devnull >= 0)
			dup2(devnull, 1);
		execlp("kvbucket-inspect", "kvbucket-inspect", "--check", G.dev,
		       (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void final_verify(void)
{
	struct th *th = &TH[0];
	struct kvb_bucket_scan s;
	uint64_t start = 0, nkeys = 0;
	int fd, t, i, ret, rc;

	if (G.attached && detach_dev())
		fail(-1, "final DETACH failed");
	rc = run_inspect();
	if (rc)
		fail(-1, "kvbucket-inspect --check %s exited %d", G.dev, rc);
	ret = attach_dev(0);
	if (ret) {
		fail(-1, "final ATTACH: %s", strerror(-ret));
		return;
	}
	fd = store_open(G.id);
	if (fd < 0) {
		fail(-1, "open store: %s", strerror(errno));
		return;
	}
	/* every key of every bucket: a whole value */
	do {
		uint64_t off = 0;
		uint32_t b, j;

		memset(&s, 0, sizeof(s));
		s.size = sizeof(s);
		s.start_id = start;
		s.max_buckets = 64;
		s.buf = (uint64_t)(uintptr_t)th->scan;
		s.buf_len = 1 << 20;
		ret = kvb_ioctl(fd, KVB_IOC_BUCKET_SCAN, &s);
		if (ret) {
			fail(-1, "final BUCKET_SCAN: %s", strerror(-ret));
			break;
		}
		for (b = 0; b < s.nr_buckets; b++) {
			struct kvb_bucket_rec r;
			uint64_t ko;

			memcpy(&r, th->scan + off, sizeof(r));
			ko = off + sizeof(r);
			for (j = 0; j < r.nr_keys; j++) {
				struct kvb_key_rec kr;

				memcpy(&kr, th->scan + ko, sizeof(kr));
				ret = load_any(th, fd, th->scan + ko + sizeof(kr),
					       kr.key_len, kr.value_len,
					       "final LOAD");
				if (ret)
					fail(-1, "final LOAD of a listed key: %d", ret);
				ko += KVB_KEY_REC_LEN(kr.key_len);
				nkeys++;
			}
			off += r.rec_len;
		}
		start = s.next_id;
	} while (start);

	/* each thread's keys are exactly as it knows them */
	for (t = 0; t < NTHREADS; t++) {
		struct th *o = &TH[t];

		for (i = 0; i < NKEYS; i++) {
			struct skey *k = &o->k[i];
			struct kvb_obj_desc d;

			ret = query_one(fd, k->key, k->klen, &d);
			if (ret || (k->present ? (d.status || d.value_len != k->vlen) :
				    d.status != -ENOENT)) {
				fail(t, "final: %s (%s, gen %llu len %llu): %d status %d len %llu",
				     k->key, k->present ? "present" : "absent",
				     (unsigned long long)k->gen,
				     (unsigned long long)k->vlen, ret, d.status,
				     (unsigned long long)d.value_len);
				continue;
			}
			if (k->present) {
				uint64_t g;

				ret = load_any(th, fd, k->key, k->klen, k->vlen,
					       "final LOAD");
				memcpy(&g, th->dst + 8, 8);
				if (ret || g != k->gen)
					fail(t, "final LOAD %s: %d gen %llu, expected %llu",
					     k->key, ret, (unsigned long long)g,
					     (unsigned long long)k->gen);
			}
		}
	}
	printf("# final: %llu keys verified\n", (unsigned long long)nkeys);
	close(fd);
	if (detach_dev())
		fail(-1, "last DETACH failed");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	pthread_t w[NTHREADS], r;
	struct stat sb;
	uint32_t ids[64];
	int ch, t, i, n, ret;

	G.seconds = 20;
	while ((ch = getopt_long(argc, argv, "s:h", lo, NULL)) != -1) {
		if (ch != 's') {
			fprintf(stderr, "usage: kvb_stress [--seconds N] [DEV]\n");
			return 2;
		}
		G.seconds = atof(optarg);
	}
	G.dev = optind < argc ? argv[optind] : kvb_disk(0);
	printf("1..1\n# kvb_stress: dev %s, %.0f s, %d threads\n",
	       G.dev ? G.dev : "(none)", G.seconds, NTHREADS);
	fflush(stdout);
	if (!G.dev || stat(G.dev, &sb) || !S_ISBLK(sb.st_mode)) {
		printf("ok 1 stress # SKIP no block device\n");
		return 0;
	}
	if (!module_loaded()) {
		printf("not ok 1 stress # kvbucket module not loaded\n");
		return 1;
	}
	G.ctl = ctl_open();
	/* a store left on DEV by a killed run */
	n = ctl_list(G.ctl, ids, ARRAY_LEN(ids));
	for (i = 0; i < n && i < (int)ARRAY_LEN(ids); i++) {
		struct kvb_store_info info;

		if (!ctl_info(G.ctl, ids[i], &info) &&
		    !strncmp(info.path, G.dev, sizeof(info.path)))
			ctl_detach(G.ctl, ids[i]);
	}
	pthread_mutex_init(&G.lock, NULL);
	pthread_cond_init(&G.cond, NULL);
	ret = attach_dev(KVB_ATTACH_FORMAT);
	if (ret) {
		printf("not ok 1 stress # format %s: %s\n", G.dev, strerror(-ret));
		return 1;
	}
	for (t = 0; t < NTHREADS; t++) {
		struct th *th = &TH[t];

		th->t = t;
		th->rng = 0x51ee5ULL * (t + 1);
		th->fd = -1;
		th->val = malloc(6 * MAX_VLEN + 64);
		th->dst = malloc(4 * MAX_VLEN + 64);
		th->scan = malloc(1 << 20);
		for (i = 0; i < NKEYS; i++) {
			th->k[i].klen = snprintf(th->k[i].key, sizeof(th->k[i].key),
						 "s%d:%d%s", t, i,
						 i % 5 ? "" : ":a-longer-key-name");
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &G.t0);
	for (t = 0; t < NTHREADS; t++)
		pthread_create(&w[t], NULL, worker, &TH[t]);
	pthread_create(&r, NULL, reattacher, NULL);
	for (t = 0; t < NTHREADS; t++)
		pthread_join(w[t], NULL);
	atomic_store(&G.stop, 1);
	pthread_join(r, NULL);
	for (t = 0; t < NTHREADS; t++)
		if (TH[t].fd >= 0)
			close(TH[t].fd);
	printf("# %llu operations in %.1f s, %llu re-attaches, %llu rmmod attempts (%llu succeeded)\n",
	       (unsigned long long)atomic_load(&G.total_ops), elapsed(),
	       (unsigned long long)atomic_load(&G.reattaches),
	       (unsigned long long)atomic_load(&G.rmmod_tries),
	       (unsigned long long)atomic_load(&G.rmmod_ok));
	for (i = 0; i < 8; i++)
		printf("#   %-10s %llu\n", opname[i],
		       (unsigned long long)atomic_load(&G.nop[i]));
	{
		uint64_t enodev = 0, reopens = 0;

		for (t = 0; t < NTHREADS; t++) {
			enodev += TH[t].enodev;
			reopens += TH[t].reopen;
		}
		printf("#   ENODEV %llu, reopens %llu\n",
		       (unsigned long long)enodev, (unsigned long long)reopens);
	}
	final_verify();
	if (atomic_load(&G.failures)) {
		printf("# %llu failures\nnot ok 1 stress\n",
		       (unsigned long long)atomic_load(&G.failures));
		return 1;
	}
	printf("ok 1 stress\n");
	return 0;
}
