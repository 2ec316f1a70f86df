// SPDX-License-Identifier: GPL-2.0
/*
 * kvb_stress: 16 threads mixing OFFLOAD (multi-slice, some REPLACE), LOAD,
 * QUERY, REMOVE, DELETE_BUCKET and BUCKET_SCAN on one store for a bounded
 * time, while another thread detaches and re-attaches the store and tries
 * to unload the module (delete_module with O_NONBLOCK, which must fail
 * while files are open), and another changes the eviction policy and the
 * watermarks at random, through KVB_IOC_SET_POLICY and through sysfs.
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
 *
 * Eviction. The store is formatted with large chunks (every bucket takes
 * at least one), so that the workload's live buckets need more than the
 * whole device: the store evicts at every watermark the policy thread
 * picks, and OFFLOADs wait for room when the high watermark is 100 %.
 * Keys can therefore disappear, and the model follows them through the
 * eviction events:
 *
 *  - every thread reads the event stream of its own store fd. The fds of
 *    an attachment are opened by the re-attacher right after ATTACH, which
 *    uses a high watermark of 100 % so that nothing can be evicted before
 *    they exist (nothing writes yet); only then are the real watermarks
 *    set and the workers let in. So each fd sees every eviction of its
 *    attachment: seq 1, 2, 3, ... and, after the detach, end of file;
 *  - after each operation the thread drains its fd (O_NONBLOCK) and
 *    applies the records: the thread's keys in an evicted bucket must be
 *    exactly those the model has in it (same value lengths); they become
 *    absent;
 *  - a call that finds one of its keys gone (-ENOENT from LOAD, QUERY,
 *    REMOVE, DELETE_BUCKET, or an OFFLOAD without REPLACE that stores a
 *    key the model has) is accepted only if the drain right after it shows
 *    that key's bucket evicted: the event is queued in the same
 *    index_lock section that takes the keys out of the index, so it is
 *    readable by the time the call returns. An OFFLOAD with REPLACE may
 *    have raced with the eviction of the old bucket: the key may be in
 *    that event or not, but only in the drain right after the call;
 *  - a thread whose fd died drains it to end of file before it takes the
 *    fd of the next attachment, so no event is missed across re-attaches.
 *    Every thread thus sees every event: their counts must agree.
 *
 * The summary line gives the evictions (buckets and keys, from the
 * events), the kernel's own counts and the OFFLOADs that waited.
 */
#include <getopt.h>
#include <poll.h>
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
/*
 * The allocation unit of the store: 16 MiB, so that a 2 GiB device holds
 * about 120 buckets, fewer than the workload keeps alive (768 keys, 1 to
 * 6 per bucket): the store evicts even at the default watermarks, and
 * OFFLOADs wait when the high watermark is 100 %.
 */
#define CHUNK		(16U << 20)
#define NPEND		8	/* attachments a thread may be behind */
#define MAX_PEND	4	/* the re-attacher waits above this */
#define EVBUF		(1U << 20)	/* >= KVB_EVENT_MAX_LEN(500) */
#define NGENS		4096	/* policy masks per attachment, a ring */
#define EOF_WAIT_MS	60000	/* bound for end of file after a detach */

struct skey {
	char key[48];
	uint32_t klen;
	bool present;
	uint64_t gen, vlen, bucket;
	/*
	 * ghost: an eviction event of bucket ghost may still name this key
	 * (it was replaced, or stored again after an eviction, by the
	 * current operation); ghost_need: it must.
	 */
	uint64_t ghost, ghost_vlen;
	bool ghost_need;
	/* the current operation got -ENOENT for it while present */
	bool suspect;
	const char *suspect_op;
};

struct th {
	int t;
	uint64_t rng;
	int fd;
	unsigned int fd_gen;
	uint64_t gen;
	struct skey k[NKEYS];
	uint8_t *val, *dst, *scan, *evbuf;
	uint64_t ops, enodev, reopen;
	/* pending fds of later attachments, oldest first (G.lock) */
	int pend_fd[NPEND];
	unsigned int pend_gen[NPEND];
	int npend;
	/* the event stream of fd */
	uint64_t ev_seq;	/* the seq the next EVICT record must have */
	uint64_t ev_gen_keys;	/* keys in this attachment's events */
	bool ev_eof;
	/* counts */
	uint64_t ev_events, ev_keys, ev_bytes, own_evicted, explained,
		 replace_races, offload_again;
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
	/* policy and watermarks in force (G.lock) */
	uint32_t policy, high, low;
	uint64_t evq_bytes;
	_Atomic uint8_t polmask[NGENS];	/* policies each attachment had */
	uint64_t rng_r, rng_p;	/* re-attacher, policy thread */
	_Atomic int stop;
	_Atomic uint64_t failures, total_ops, reattaches, rmmod_tries,
		rmmod_ok, nop[8];
	/* from STORE_INFO just before each detach */
	uint64_t k_evicted, k_evicted_keys, k_waits, k_lost, max_used_pct;
	_Atomic uint64_t gen_kev[NGENS], gen_kevk[NGENS];
	uint64_t pol_ioctl, pol_ioctl_einval, pol_sysfs, pol_sysfs_einval;
} G;

static struct th TH[NTHREADS];

static const char *const opname[8] = {
	"offload", "load", "query", "remove", "delete", "scan", "load-other",
	"info",
};

static const char *const polname[] = { "default", "fifo", "lru", "lfu" };

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

static uint64_t rnd_s(uint64_t *s, uint64_t n)
{
	return n ? splitmix64(s) % n : 0;
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

/* ---- eviction events ---------------------------------------------------- */

/* Which thread's key, and which of its keys: 0, or -1 if none. */
static int key_owner(const uint8_t *key, uint32_t klen, int *t, int *i)
{
	char buf[64];
	int n = 0;

	if (klen >= sizeof(buf))
		return -1;
	memcpy(buf, key, klen);
	buf[klen] = 0;
	if (sscanf(buf, "s%d:%d%n", t, i, &n) != 2 || *t < 0 ||
	    *t >= NTHREADS || *i < 0 || *i >= NKEYS)
		return -1;
	/* the key bytes are constant: compare the whole key */
	if (TH[*t].k[*i].klen != klen || memcmp(TH[*t].k[*i].key, key, klen))
		return -1;
	return 0;
}

/* One KVB_EVENT_EVICT record of rec_len bytes (checked) at e. */
static void ev_evict(struct th *th, const struct kvb_event *e)
{
	const uint8_t *p = (const uint8_t *)e + sizeof(*e);
	const uint8_t *end = (const uint8_t *)e + e->rec_len;
	bool named[NKEYS] = { false };
	uint64_t bytes = 0, vlen[NKEYS];
	unsigned int mask;
	uint32_t j;
	int i;

	mask = atomic_load(&G.polmask[th->fd_gen % NGENS]);
	if (e->policy < KVB_POLICY_FIFO || e->policy > KVB_POLICY_LFU ||
	    !(mask & (1U << e->policy)))
		fail(th->t, "event seq %llu: policy %u, attachment %u had policies %#x",
		     (unsigned long long)e->seq, e->policy, th->fd_gen, mask);
	if (!e->bucket_id || e->nr_lost || e->reserved[0] || e->reserved[1])
		fail(th->t, "event seq %llu: bucket %llu nr_lost %llu reserved %llx %llx",
		     (unsigned long long)e->seq,
		     (unsigned long long)e->bucket_id,
		     (unsigned long long)e->nr_lost,
		     (unsigned long long)e->reserved[0],
		     (unsigned long long)e->reserved[1]);
	for (j = 0; j < e->nr_keys; j++) {
		struct kvb_key_rec kr;
		uint64_t rl;
		int t, k;

		if (end - p < (long)sizeof(kr)) {
			fail(th->t, "event seq %llu: key record %u beyond rec_len %u",
			     (unsigned long long)e->seq, j, e->rec_len);
			return;
		}
		memcpy(&kr, p, sizeof(kr));
		rl = KVB_KEY_REC_LEN(kr.key_len);
		if (!kr.key_len || kr.key_len > KVB_MAX_KEY_LEN ||
		    kr.reserved0 || rl > (uint64_t)(end - p)) {
			fail(th->t, "event seq %llu: bad key record %u (key_len %u reserved0 %u)",
			     (unsigned long long)e->seq, j, kr.key_len,
			     kr.reserved0);
			return;
		}
		for (k = sizeof(kr) + kr.key_len; k < (int)rl; k++)
			if (p[k])
				fail(th->t, "event seq %llu: key record %u padding not zero",
				     (unsigned long long)e->seq, j);
		bytes += kr.value_len;
		if (key_owner(p + sizeof(kr), kr.key_len, &t, &k)) {
			fail(th->t, "event seq %llu bucket %llu: key '%.*s' nobody wrote",
			     (unsigned long long)e->seq,
			     (unsigned long long)e->bucket_id,
			     (int)kr.key_len, (const char *)p + sizeof(kr));
		} else if (kr.value_len < HDR || kr.value_len > MAX_VLEN) {
			fail(th->t, "event seq %llu: key %s value_len %llu",
			     (unsigned long long)e->seq, TH[t].k[k].key,
			     (unsigned long long)kr.value_len);
		} else if (t == th->t) {
			if (named[k])
				fail(th->t, "event seq %llu names %s twice",
				     (unsigned long long)e->seq, th->k[k].key);
			named[k] = true;
			vlen[k] = kr.value_len;
		}
		p += rl;
	}
	if (p != end || bytes != e->value_bytes)
		fail(th->t, "event seq %llu: key records end at %ld of %u, value bytes %llu/%llu",
		     (unsigned long long)e->seq,
		     (long)(p - (const uint8_t *)e), e->rec_len,
		     (unsigned long long)bytes,
		     (unsigned long long)e->value_bytes);
	th->ev_events++;
	th->ev_keys += e->nr_keys;
	th->ev_gen_keys += e->nr_keys;
	th->ev_bytes += e->value_bytes;

	/* the model: exactly the keys it has in that bucket */
	for (i = 0; i < NKEYS; i++) {
		struct skey *k = &th->k[i];
		bool in_bucket = k->present && k->bucket == e->bucket_id;
		bool ghost = k->ghost && k->ghost == e->bucket_id;

		if (named[i]) {
			uint64_t want = in_bucket ? k->vlen : k->ghost_vlen;

			if (!in_bucket && !ghost) {
				fail(th->t, "event seq %llu evicts bucket %llu with %s, which the model has %s %llu",
				     (unsigned long long)e->seq,
				     (unsigned long long)e->bucket_id, k->key,
				     k->present ? "in bucket" : "absent, last in",
				     (unsigned long long)k->bucket);
				continue;
			}
			if (vlen[i] != want)
				fail(th->t, "event seq %llu: %s value_len %llu, model %llu",
				     (unsigned long long)e->seq, k->key,
				     (unsigned long long)vlen[i],
				     (unsigned long long)want);
			if (in_bucket) {
				k->present = false;
				if (k->suspect)
					th->explained++;
			} else {
				th->replace_races += !k->ghost_need;
				k->ghost = 0;
			}
			th->own_evicted++;
		} else {
			if (in_bucket)
				fail(th->t, "event seq %llu evicts bucket %llu without %s (present in it, %llu bytes)",
				     (unsigned long long)e->seq,
				     (unsigned long long)e->bucket_id, k->key,
				     (unsigned long long)k->vlen);
			if (ghost && k->ghost_need)
				fail(th->t, "event seq %llu evicts bucket %llu without %s, which OFFLOAD found gone from it",
				     (unsigned long long)e->seq,
				     (unsigned long long)e->bucket_id, k->key);
			if (ghost)
				k->ghost = 0;
		}
	}
}

/* Records of n bytes at buf, as read() returned them. */
static void ev_parse(struct th *th, const uint8_t *buf, size_t n)
{
	size_t off = 0;

	while (off < n) {
		struct kvb_event e;

		if (n - off < sizeof(e)) {
			fail(th->t, "read() returned %zu bytes: a partial record at %zu",
			     n, off);
			return;
		}
		memcpy(&e, buf + off, sizeof(e));
		if (e.rec_len < sizeof(e) || e.rec_len % 8 ||
		    e.rec_len > n - off) {
			fail(th->t, "event record at %zu of %zu: rec_len %u",
			     off, n, e.rec_len);
			return;
		}
		if (e.type == KVB_EVENT_LOST) {
			/* 4096 records and 16 MiB at least: cannot happen */
			fail(th->t, "fell behind the event stream: %llu events lost from seq %llu (expected %llu)",
			     (unsigned long long)e.nr_lost,
			     (unsigned long long)e.seq,
			     (unsigned long long)th->ev_seq);
			th->ev_seq = e.seq + e.nr_lost;
		} else if (e.type != KVB_EVENT_EVICT) {
			fail(th->t, "event record of type %u", e.type);
		} else {
			if (e.seq != th->ev_seq)
				fail(th->t, "event seq %llu, expected %llu (store %u attachment %u)",
				     (unsigned long long)e.seq,
				     (unsigned long long)th->ev_seq, G.id,
				     th->fd_gen);
			th->ev_seq = e.seq + 1;
			/* aligned copy: records are 8-byte multiples of buf */
			ev_evict(th, (const struct kvb_event *)(buf + off));
		}
		off += e.rec_len;
	}
}

/*
 * Read what the fd has queued (O_NONBLOCK): until EAGAIN, or with
 * to_eof until end of file (the store was detached). Returns whether
 * end of file was reached.
 */
static bool ev_drain(struct th *th, bool to_eof)
{
	for (;;) {
		ssize_t n;

		if (th->ev_eof)
			return true;
		if (to_eof) {
			struct pollfd p = { .fd = th->fd, .events = POLLIN };
			int r = poll(&p, 1, EOF_WAIT_MS);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				fail(th->t, "no end of file on the events of detached store %u within %d ms (poll %d)",
				     G.id, EOF_WAIT_MS, r);
				return false;
			}
		}
		n = read(th->fd, th->evbuf, EVBUF);
		if (n < 0) {
			if (errno == EINTR || (errno == EAGAIN && to_eof))
				continue;
			if (errno == EAGAIN)
				return false;
			fail(th->t, "read() of events: %s", strerror(errno));
			return false;
		}
		if (n == 0) {
			th->ev_eof = true;
			return true;
		}
		ev_parse(th, th->evbuf, n);
	}
}

/*
 * After each operation: apply the events it may have raced with, then
 * every -ENOENT it got must be explained by one of them.
 */
static void post_op(struct th *th)
{
	int i;

	if (th->fd >= 0)
		ev_drain(th, false);
	for (i = 0; i < NKEYS; i++) {
		struct skey *k = &th->k[i];

		if (k->suspect && k->present && th->fd >= 0) {
			/*
			 * A failure already. Find out whether the event only
			 * comes late (the keys left the index before their
			 * event was queued) or never.
			 */
			struct pollfd p = { .fd = th->fd, .events = POLLIN };
			uint64_t bucket = k->bucket;

			if (poll(&p, 1, 2000) > 0)
				ev_drain(th, false);
			fail(th->t, "%s of %s (present in bucket %llu): -ENOENT, but no eviction event for it was readable when the call returned (%s)",
			     k->suspect_op, k->key, (unsigned long long)bucket,
			     k->present ? "nor 2 s later" :
			     "it came later: the key left the index before its event was queued");
			k->present = false;	/* it is gone: keep going */
		}
		k->suspect = false;
		if (k->ghost && k->ghost_need)
			fail(th->t, "OFFLOAD without REPLACE stored %s, which the model had in bucket %llu, but no event evicted that bucket",
			     k->key, (unsigned long long)k->ghost);
		k->ghost = 0;
	}
}

static void suspect(struct skey *k, const char *op)
{
	k->suspect = true;
	k->suspect_op = op;
}

/* ---- the store fd of a thread ----------------------------------------- */

/*
 * The thread's fd died (or it has none): read its events to the end, then
 * take the fd that the re-attacher opened for the next attachment.
 */
static bool reopen(struct th *th)
{
	if (th->fd >= 0) {
		unsigned int g = th->fd_gen % NGENS;

		/*
		 * Every eviction of the attachment was read: at least what
		 * the kernel counted just before the detach.
		 */
		if (ev_drain(th, true) &&
		    (th->ev_seq - 1 < atomic_load(&G.gen_kev[g]) ||
		     th->ev_gen_keys < atomic_load(&G.gen_kevk[g])))
			fail(th->t, "attachment %u: %llu events (%llu keys), but STORE_INFO counted %llu evictions (%llu keys) before the detach",
			     th->fd_gen, (unsigned long long)th->ev_seq - 1,
			     (unsigned long long)th->ev_gen_keys,
			     (unsigned long long)atomic_load(&G.gen_kev[g]),
			     (unsigned long long)atomic_load(&G.gen_kevk[g]));
		close(th->fd);
	}
	th->fd = -1;
	pthread_mutex_lock(&G.lock);
	while (!th->npend && !atomic_load(&G.stop))
		pthread_cond_wait(&G.cond, &G.lock);
	if (th->npend) {
		th->fd = th->pend_fd[0];
		th->fd_gen = th->pend_gen[0];
		th->npend--;
		memmove(th->pend_fd, th->pend_fd + 1, th->npend * sizeof(int));
		memmove(th->pend_gen, th->pend_gen + 1,
			th->npend * sizeof(unsigned int));
	}
	pthread_mutex_unlock(&G.lock);
	if (th->fd < 0)
		return false;
	th->ev_seq = 1;
	th->ev_gen_keys = 0;
	th->ev_eof = false;
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
	if (ret) {
		/*
		 * ENOSPC only for a bucket larger than the store (these are
		 * a few MiB); EAGAIN after 30 s without room, although
		 * nothing here holds buckets for long; no signals: no EINTR.
		 */
		fail(th->t, "OFFLOAD of %d keys: %s (limit %u)", n,
		     strerror(-ret), b.limit);
		return;
	}
	for (i = 0; i < n; i++) {
		struct skey *k = &th->k[idx[i]];

		if (d[i].status == 0) {
			if (d[i].bucket_id != b.bucket_id || !b.bucket_id ||
			    d[i].value_len != vlen[i])
				fail(th->t, "OFFLOAD %s: bucket %llu/%llu len %llu/%llu",
				     k->key, (unsigned long long)d[i].bucket_id,
				     (unsigned long long)b.bucket_id,
				     (unsigned long long)d[i].value_len,
				     (unsigned long long)vlen[i]);
			if (k->present) {
				/*
				 * Without REPLACE: only if its bucket was
				 * evicted first (the event must follow).
				 * With REPLACE: its old bucket may have been
				 * evicted meanwhile, with it in the event.
				 */
				k->ghost = k->bucket;
				k->ghost_vlen = k->vlen;
				k->ghost_need = !flags;
				th->offload_again += !flags;
			}
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
		if (d[i].status == -ENOENT) {
			suspect(k, "LOAD");	/* evicted? */
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
	if (k->present && d.status == -ENOENT) {
		suspect(k, "QUERY");
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

		if (k->present && d[i].status == -ENOENT) {
			suspect(k, "REMOVE");	/* its event makes it absent */
			continue;
		}
		if (k->present ? (d[i].status || d[i].value_len != k->vlen ||
				  d[i].bucket_id != k->bucket) :
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
	if (ret == -ENOENT) {
		/* evicted: its event names all of them */
		for (i = 0; i < NKEYS; i++)
			if (th->k[i].present && th->k[i].bucket == id)
				suspect(&th->k[i], "DELETE_BUCKET");
		return;
	}
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

/*
 * Structure, and the thread's own keys: a listed bucket was live when it
 * was listed, so it holds exactly the keys the model has in it.
 */
static void op_scan(struct th *th)
{
	struct kvb_bucket_scan s;
	uint64_t off = 0, prev = 0;
	uint32_t i, j;
	int ret, m;

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
		bool listed[NKEYS] = { false };
		uint64_t ko;

		memcpy(&r, th->scan + off, sizeof(r));
		if (r.id <= prev || r.id < s.start_id ||
		    off + r.rec_len > s.buf_len) {
			fail(th->t, "BUCKET_SCAN: record %u id %llu rec_len %llu",
			     i, (unsigned long long)r.id,
			     (unsigned long long)r.rec_len);
			return;
		}
		ko = off + sizeof(r);
		for (j = 0; j < r.nr_keys; j++) {
			struct kvb_key_rec kr;
			int t, k;

			memcpy(&kr, th->scan + ko, sizeof(kr));
			if (!key_owner(th->scan + ko + sizeof(kr), kr.key_len,
				       &t, &k) && t == th->t) {
				struct skey *x = &th->k[k];

				listed[k] = true;
				if (!x->present || x->bucket != r.id ||
				    x->vlen != kr.value_len)
					fail(th->t, "BUCKET_SCAN lists %s in bucket %llu (%llu bytes), model: %s bucket %llu, %llu bytes",
					     x->key, (unsigned long long)r.id,
					     (unsigned long long)kr.value_len,
					     x->present ? "present in" : "absent, last in",
					     (unsigned long long)x->bucket,
					     (unsigned long long)x->vlen);
			}
			ko += KVB_KEY_REC_LEN(kr.key_len);
		}
		for (m = 0; m < NKEYS; m++)
			if (th->k[m].present && th->k[m].bucket == r.id &&
			    !listed[m])
				fail(th->t, "BUCKET_SCAN lists bucket %llu without %s",
				     (unsigned long long)r.id, th->k[m].key);
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
	/* one snapshot of what is in force: a valid combination */
	if (!ret && (info.policy < KVB_POLICY_FIFO ||
		     info.policy > KVB_POLICY_LFU || !info.low_watermark ||
		     info.low_watermark >= info.high_watermark ||
		     info.high_watermark > 100))
		fail(th->t, "STORE_INFO: policy %u watermarks %u/%u",
		     info.policy, info.high_watermark, info.low_watermark);
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
		post_op(th);
		th->ops++;
		atomic_fetch_add(&G.nop[op], 1);
		atomic_fetch_add(&G.total_ops, 1);
	}
	return NULL;
}

/* ---- policy and watermarks --------------------------------------------- */

/*
 * Watermarks that keep the store evicting: from "only when full" (100,
 * OFFLOADs wait) down to a few percent (almost everything goes).
 */
static void pick_watermarks(uint64_t *rng, uint32_t *high, uint32_t *low)
{
	static const uint32_t highs[] = { 100, 100, 95, 90, 80, 60, 40, 25,
					  10, 5 };
	uint32_t span;

	*high = highs[rnd_s(rng, ARRAY_LEN(highs))];
	span = *high - 1 < 30 ? *high - 1 : 30;
	*low = *high - 1 - rnd_s(rng, span);
}

/* Does what is in force (ioctl, STORE_INFO, sysfs) match G? G.lock. */
static void policy_verify(int fd, const char *after)
{
	struct kvb_policy p = { .size = sizeof(p) };
	struct kvb_store_info info;
	char buf[3][32], want[3][32];
	int ret;

	ret = kvb_ioctl(fd, KVB_IOC_SET_POLICY, &p);
	if (ret || p.policy != G.policy || p.high_watermark != G.high ||
	    p.low_watermark != G.low)
		fail(-1, "after %s: SET_POLICY (read) %d: %u %u/%u, expected %s %u/%u",
		     after, ret, p.policy, p.high_watermark, p.low_watermark,
		     polname[G.policy], G.high, G.low);
	ret = st_info(fd, &info);
	if (ret || info.policy != G.policy || info.high_watermark != G.high ||
	    info.low_watermark != G.low)
		fail(-1, "after %s: STORE_INFO %d: %u %u/%u, expected %s %u/%u",
		     after, ret, info.policy, info.high_watermark,
		     info.low_watermark, polname[G.policy], G.high, G.low);
	snprintf(want[0], sizeof(want[0]), "%s\n", polname[G.policy]);
	snprintf(want[1], sizeof(want[1]), "%u\n", G.high);
	snprintf(want[2], sizeof(want[2]), "%u\n", G.low);
	if (sysfs_read(G.id, "policy", buf[0], sizeof(buf[0])) ||
	    sysfs_read(G.id, "high_watermark", buf[1], sizeof(buf[1])) ||
	    sysfs_read(G.id, "low_watermark", buf[2], sizeof(buf[2])) ||
	    strcmp(buf[0], want[0]) || strcmp(buf[1], want[1]) ||
	    strcmp(buf[2], want[2]))
		fail(-1, "after %s: sysfs says %.8s %.4s/%.4s, expected %s %u/%u",
		     after, buf[0], buf[1], buf[2], polname[G.policy], G.high,
		     G.low);
}

static void polmask_add(uint32_t policy)
{
	atomic_fetch_or(&G.polmask[G.gen % NGENS], 1U << policy);
}

/*
 * SET_POLICY with p (0 keeps a field): the exact outcome follows from
 * what is in force. G.lock.
 */
static void set_policy_ioctl(int fd, uint32_t policy, uint32_t high,
			     uint32_t low)
{
	struct kvb_policy p = {
		.size = sizeof(p), .policy = policy,
		.high_watermark = high, .low_watermark = low,
	};
	uint32_t nh = high ? high : G.high, nl = low ? low : G.low;
	uint32_t np = policy ? policy : G.policy;
	bool valid = policy <= KVB_POLICY_LFU && high <= 100 && low <= 99 &&
		     nl < nh;
	int ret;

	if (valid)
		polmask_add(np);
	ret = kvb_ioctl(fd, KVB_IOC_SET_POLICY, &p);
	G.pol_ioctl++;
	if (!valid) {
		G.pol_ioctl_einval++;
		if (ret != -EINVAL)
			fail(-1, "SET_POLICY %u %u/%u with %s %u/%u in force: %d, expected EINVAL",
			     policy, high, low, polname[G.policy], G.high,
			     G.low, ret);
		if (!ret) {	/* keep G what the store has */
			G.policy = p.policy;
			G.high = p.high_watermark;
			G.low = p.low_watermark;
		}
		return;
	}
	if (ret || p.policy != np || p.high_watermark != nh ||
	    p.low_watermark != nl)
		fail(-1, "SET_POLICY %u %u/%u with %s %u/%u in force: %d, got %u %u/%u",
		     policy, high, low, polname[G.policy], G.high, G.low, ret,
		     p.policy, p.high_watermark, p.low_watermark);
	if (!ret) {
		G.policy = np;
		G.high = nh;
		G.low = nl;
	}
}

/* One sysfs write, valid or not; G.lock. */
static void set_policy_sysfs(uint64_t *rng)
{
	static const char *const bad_pol[] = { "FIFO", "random", "", "lru lfu",
					       "4" };
	char s[32];
	const char *file;
	uint32_t v = 0;
	bool valid;
	int ret, what = rnd_s(rng, 7);

	if (what < 2) {
		file = "policy";
		if (rnd_s(rng, 5)) {
			v = 1 + rnd_s(rng, 3);
			snprintf(s, sizeof(s), "%s%s", polname[v],
				 rnd_s(rng, 2) ? "\n" : "");
			valid = true;
		} else {
			snprintf(s, sizeof(s), "%s\n",
				 bad_pol[rnd_s(rng, ARRAY_LEN(bad_pol))]);
			valid = false;
		}
		if (valid)
			polmask_add(v);
	} else if (what < 6) {
		uint32_t h, l;
		bool high = what < 4;

		pick_watermarks(rng, &h, &l);
		file = high ? "high_watermark" : "low_watermark";
		v = high ? h : l;
		switch (rnd_s(rng, 8)) {
		case 0:
			v = 0;
			break;
		case 1:
			v = high ? 101 : 100;
			break;
		case 2:
			v = high ? G.low : G.high;	/* low >= high */
			break;
		}
		snprintf(s, sizeof(s), "%u\n", v);
		valid = v && (high ? v <= 100 && G.low < v :
				     v <= 99 && v < G.high);
		if (rnd_s(rng, 10) == 0) {
			snprintf(s, sizeof(s), "%u%%\n", v);
			valid = false;
		}
	} else {
		/*
		 * The event queue: never small enough for a reader that
		 * drains after every call to fall behind.
		 */
		static const uint64_t ok[] = { 16ULL << 20, 64ULL << 20,
					       1ULL << 30 };
		uint64_t q = ok[rnd_s(rng, ARRAY_LEN(ok))];
		char want[32], got[32];

		file = "event_queue_bytes";
		valid = rnd_s(rng, 4) != 0;
		if (!valid)
			q = rnd_s(rng, 2) ? 0 : (1ULL << 30) + 1;
		snprintf(s, sizeof(s), "%llu\n", (unsigned long long)q);
		ret = sysfs_write(G.id, file, s);
		G.pol_sysfs++;
		G.pol_sysfs_einval += !valid;
		if (ret != (valid ? 0 : -EINVAL))
			fail(-1, "write '%llu' to %s: %d", (unsigned long long)q,
			     file, ret);
		if (valid && !ret)
			G.evq_bytes = q;
		snprintf(want, sizeof(want), "%llu\n",
			 (unsigned long long)G.evq_bytes);
		if (sysfs_read(G.id, file, got, sizeof(got)) || strcmp(got, want))
			fail(-1, "%s reads %s, expected %s", file, got, want);
		return;
	}
	ret = sysfs_write(G.id, file, s);
	G.pol_sysfs++;
	G.pol_sysfs_einval += !valid;
	if (ret != (valid ? 0 : -EINVAL))
		fail(-1, "write '%.*s' to %s with %s %u/%u in force: %d, expected %d",
		     (int)strcspn(s, "\n"), s, file, polname[G.policy], G.high,
		     G.low, ret, valid ? 0 : -EINVAL);
	if (!valid || ret)
		return;
	if (!strcmp(file, "policy"))
		G.policy = v;
	else if (!strcmp(file, "high_watermark"))
		G.high = v;
	else
		G.low = v;
}

static void *policy_thread(void *arg)
{
	uint64_t last = 0;

	(void)arg;
	while (!atomic_load(&G.stop) && elapsed() < G.seconds) {
		uint64_t ops = atomic_load(&G.total_ops);
		int fd;

		/* paced by the workers' progress: every 40 operations */
		if (ops < last + 40) {
			sched_yield();
			continue;
		}
		last = ops;
		pthread_mutex_lock(&G.lock);
		if (!G.attached) {
			pthread_mutex_unlock(&G.lock);
			continue;
		}
		fd = store_open(G.id);
		if (fd < 0) {
			fail(-1, "open store %u: %s", G.id, strerror(errno));
			pthread_mutex_unlock(&G.lock);
			break;
		}
		if (rnd_s(&G.rng_p, 2)) {
			uint32_t p = 0, h = 0, l = 0;

			switch (rnd_s(&G.rng_p, 6)) {
			case 0:		/* everything, valid */
				p = 1 + rnd_s(&G.rng_p, 3);
				pick_watermarks(&G.rng_p, &h, &l);
				break;
			case 1:		/* one of them */
				pick_watermarks(&G.rng_p, &h, &l);
				if (rnd_s(&G.rng_p, 2))
					h = 0;
				else
					l = 0;
				break;
			case 2:		/* the policy only */
				p = 1 + rnd_s(&G.rng_p, 3);
				break;
			case 3:		/* out of range */
				p = rnd_s(&G.rng_p, 2) ? 4 + rnd_s(&G.rng_p, 100) : 0;
				h = p ? 0 : 101 + rnd_s(&G.rng_p, 1000);
				break;
			case 4:		/* low >= high */
				h = 1 + rnd_s(&G.rng_p, 99);
				l = h + rnd_s(&G.rng_p, 100 - h);
				break;
			default:	/* read */
				break;
			}
			set_policy_ioctl(fd, p, h, l);
			policy_verify(fd, "SET_POLICY");
		} else {
			set_policy_sysfs(&G.rng_p);
			policy_verify(fd, "a sysfs write");
		}
		close(fd);
		pthread_mutex_unlock(&G.lock);
	}
	return NULL;
}

/* ---- detach / re-attach / rmmod ----------------------------------------- */

static int open_nb(uint32_t id)
{
	char path[64];

	store_path(id, path, sizeof(path));
	return open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
}

/*
 * Attach with a high watermark of 100 %, so that nothing is evicted
 * before every thread has its fd (nothing writes meanwhile), open them,
 * then set the watermarks the store runs with. G.lock.
 */
static int attach_locked(uint32_t flags)
{
	struct kvb_attach a;
	uint32_t h, l;
	int t, fd, ret;

	attach_init(&a, G.dev, flags);
	if (flags & KVB_ATTACH_FORMAT)
		a.chunk_size = CHUNK;
	a.policy = rnd_s(&G.rng_r, 4);	/* 0: the default, FIFO */
	a.high_watermark = 100;
	a.low_watermark = 99;
	G.gen++;
	atomic_store(&G.polmask[G.gen % NGENS],
		     1U << (a.policy ? a.policy : KVB_POLICY_FIFO));
	atomic_store(&G.gen_kev[G.gen % NGENS], 0);
	atomic_store(&G.gen_kevk[G.gen % NGENS], 0);
	ret = kvb_ioctl(G.ctl, KVB_IOC_ATTACH, &a);
	if (ret)
		return ret;
	G.id = a.id;
	G.policy = a.policy ? a.policy : KVB_POLICY_FIFO;
	G.high = 100;
	G.low = 99;
	G.evq_bytes = 16ULL << 20;
	for (t = 0; t < NTHREADS; t++) {
		struct th *th = &TH[t];

		fd = open_nb(a.id);
		if (fd < 0 || th->npend == NPEND) {
			fail(-1, "open store %u for thread %d: %s (%d pending)",
			     a.id, t, strerror(errno), th->npend);
			if (fd >= 0)
				close(fd);
			continue;
		}
		th->pend_fd[th->npend] = fd;
		th->pend_gen[th->npend] = G.gen;
		th->npend++;
	}
	fd = store_open(a.id);
	if (fd < 0) {
		fail(-1, "open store %u: %s", a.id, strerror(errno));
	} else {
		policy_verify(fd, "ATTACH");
		pick_watermarks(&G.rng_r, &h, &l);
		set_policy_ioctl(fd, 0, h, l);
		policy_verify(fd, "SET_POLICY after ATTACH");
		close(fd);
	}
	G.attached = true;
	pthread_cond_broadcast(&G.cond);
	return 0;
}

/* G.lock */
static int detach_locked(void)
{
	struct kvb_store_info info;

	G.attached = false;
	if (!ctl_info(G.ctl, G.id, &info)) {
		atomic_store(&G.gen_kev[G.gen % NGENS], info.nr_evicted);
		atomic_store(&G.gen_kevk[G.gen % NGENS], info.evicted_keys);
		if (info.used_bytes * 100 / info.capacity_bytes > G.max_used_pct)
			G.max_used_pct = info.used_bytes * 100 /
					 info.capacity_bytes;
		G.k_evicted += info.nr_evicted;
		G.k_evicted_keys += info.evicted_keys;
		G.k_waits += info.space_waits;
		G.k_lost += info.events_lost;
	}
	return ctl_detach(G.ctl, G.id);
}

/* G.lock, so that the policy thread is not between two sysfs files */
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
	printf("# delete_module succeeded with no file open; reloading\n");
	G.attached = false;
	close(G.ctl);
	ret = module_load();
	G.ctl = ctl_open();
	if (ret || G.ctl < 0)
		fail(-1, "reloading the module: %s", strerror(-ret));
}

static int max_pending(void)
{
	int t, m = 0;

	for (t = 0; t < NTHREADS; t++)
		if (TH[t].npend > m)
			m = TH[t].npend;
	return m;
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
		pthread_mutex_lock(&G.lock);
		/* a thread far behind: let it catch up first */
		if (max_pending() > MAX_PEND) {
			pthread_mutex_unlock(&G.lock);
			continue;
		}
		n++;
		try_rmmod();
		ret = G.attached ? detach_locked() : 0;
		if (ret)
			fail(-1, "DETACH %u: %s", G.id, strerror(-ret));
		try_rmmod();
		ret = attach_locked(n % 3 == 0 ? KVB_ATTACH_SCAN : 0);
		pthread_mutex_unlock(&G.lock);
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

/*
 * Everything stopped and the store detached: each thread reads its
 * attachments' events to the end, so that its model is exact.
 */
static void finish_events(void)
{
	int t, i;

	for (t = 0; t < NTHREADS; t++) {
		struct th *th = &TH[t];

		do
			reopen(th);	/* drains and closes, takes the next */
		while (th->fd >= 0);
		for (i = 0; i < NKEYS; i++)
			if (th->k[i].ghost || th->k[i].suspect)
				fail(t, "%s: unresolved at the end", th->k[i].key);
	}
	for (t = 1; t < NTHREADS; t++)
		if (TH[t].ev_events != TH[0].ev_events ||
		    TH[t].ev_keys != TH[0].ev_keys ||
		    TH[t].ev_bytes != TH[0].ev_bytes)
			fail(t, "saw %llu events (%llu keys, %llu bytes), thread 0 %llu (%llu keys, %llu bytes)",
			     (unsigned long long)TH[t].ev_events,
			     (unsigned long long)TH[t].ev_keys,
			     (unsigned long long)TH[t].ev_bytes,
			     (unsigned long long)TH[0].ev_events,
			     (unsigned long long)TH[0].ev_keys,
			     (unsigned long long)TH[0].ev_bytes);
}

static void final_verify(void)
{
	struct th *th = &TH[0];
	struct kvb_bucket_scan s;
	struct kvb_attach a;
	uint64_t start = 0, nkeys = 0;
	int fd, t, i, ret, rc;

	pthread_mutex_lock(&G.lock);
	if (G.attached && detach_locked())
		fail(-1, "final DETACH failed");
	pthread_mutex_unlock(&G.lock);
	finish_events();
	rc = run_inspect();
	if (rc)
		fail(-1, "kvbucket-inspect --check %s exited %d", G.dev, rc);
	/* high watermark 100 %: nothing goes while it is verified */
	attach_init(&a, G.dev, 0);
	a.high_watermark = 100;
	a.low_watermark = 99;
	ret = kvb_ioctl(G.ctl, KVB_IOC_ATTACH, &a);
	if (ret) {
		fail(-1, "final ATTACH: %s", strerror(-ret));
		return;
	}
	G.id = a.id;
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
			if (ret || (k->present ? (d.status || d.value_len != k->vlen ||
						  d.bucket_id != k->bucket) :
				    d.status != -ENOENT)) {
				fail(t, "final: %s (%s, gen %llu len %llu bucket %llu): %d status %d len %llu bucket %llu",
				     k->key, k->present ? "present" : "absent",
				     (unsigned long long)k->gen,
				     (unsigned long long)k->vlen,
				     (unsigned long long)k->bucket, ret,
				     d.status, (unsigned long long)d.value_len,
				     (unsigned long long)d.bucket_id);
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
	if (ctl_detach(G.ctl, G.id))
		fail(-1, "last DETACH failed");
}

/* ---- test 2: events come no later than the keys go ------------------ */

/*
 * design.rst: "an evicted key that a LOAD no longer finds has its event
 * readable already". Readers spin on QUERY of the first key of the oldest
 * bucket (FIFO evicts it next; eviction takes its keys out of the index
 * in slot order, so the first one goes first) while one writer fills the
 * store with buckets of many keys; at the first -ENOENT a reader reads its
 * fd (opened before anything was written) without blocking: the bucket's
 * event must be there. It also checks that FIFO evicts in id order.
 */
#define EO_READERS	4
/* keys per bucket: taking them out of the index one by one takes a while */
#define EO_KEYS		4000
#define EO_VLEN		64
#define EO_SECONDS	6.0	/* and until readers saw EO_SEEN keys go */
#define EO_SEEN		8
#define EO_MAX_SECONDS	120.0	/* a slow (debug) kernel */

static struct {
	uint32_t id;
	_Atomic int stop;
	_Atomic uint64_t buckets, hits, late, never, misses, bad;
	double t0;
} EO;

static void eo_key(char *buf, size_t len, uint64_t n, unsigned int j)
{
	snprintf(buf, len, "eo:%llu:%u", (unsigned long long)n, j);
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void *eo_writer(void *arg)
{
	static char keys[EO_KEYS][32];
	static uint8_t vals[EO_KEYS][EO_VLEN];
	static struct kvb_obj_desc d[EO_KEYS];
	static struct kvb_slice sl[EO_KEYS];
	int fd = *(int *)arg, ret;
	uint64_t n;
	unsigned int j;

	for (n = 0; !atomic_load(&EO.stop) && now_s() - EO.t0 < EO_MAX_SECONDS &&
	     (now_s() - EO.t0 < EO_SECONDS ||
	      atomic_load(&EO.hits) + atomic_load(&EO.late) +
	      atomic_load(&EO.never) < EO_SEEN); n++) {
		for (j = 0; j < EO_KEYS; j++) {
			eo_key(keys[j], sizeof(keys[j]), n, j);
			fill_value(key_seed(keys[j], strlen(keys[j]), 0),
				   vals[j], EO_VLEN);
			kvb_slice_init(&sl[j], vals[j], EO_VLEN);
			kvb_desc_init(&d[j], keys[j], strlen(keys[j]), &sl[j],
				      1);
		}
		ret = st_batch(fd, KVB_IOC_OFFLOAD, d, EO_KEYS, 0, NULL);
		if (ret) {
			fail(-2, "evict-order: OFFLOAD: %s", strerror(-ret));
			break;
		}
		atomic_fetch_add(&EO.buckets, 1);
	}
	atomic_store(&EO.stop, 1);
	return NULL;
}

struct eo_reader {
	int fd;
	uint8_t *buf;
	uint64_t last_bucket;	/* of the events read, FIFO: increasing */
	uint64_t *evicted;	/* bitmap of evicted bucket ids */
	uint64_t max_id;
};

/* Read what is queued; true if bucket was in it (or before). */
static bool eo_drain(struct eo_reader *r, uint64_t bucket)
{
	ssize_t n;

	while ((n = read(r->fd, r->buf, EVBUF)) > 0) {
		size_t off = 0;

		while (off + sizeof(struct kvb_event) <= (size_t)n) {
			const struct kvb_event *e = (const void *)(r->buf + off);

			if (e->rec_len < sizeof(*e) || off + e->rec_len > (size_t)n) {
				fail(-2, "evict-order: bad record");
				atomic_fetch_add(&EO.bad, 1);
				return false;
			}
			if (e->type != KVB_EVENT_EVICT) {
				fail(-2, "evict-order: event type %u (lost %llu)",
				     e->type, (unsigned long long)e->nr_lost);
				atomic_fetch_add(&EO.bad, 1);
			} else {
				if (e->bucket_id <= r->last_bucket) {
					fail(-2, "evict-order: FIFO evicted bucket %llu after %llu",
					     (unsigned long long)e->bucket_id,
					     (unsigned long long)r->last_bucket);
					atomic_fetch_add(&EO.bad, 1);
				}
				r->last_bucket = e->bucket_id;
				if (e->bucket_id < r->max_id)
					r->evicted[e->bucket_id / 64] |=
						1ULL << (e->bucket_id % 64);
			}
			off += e->rec_len;
		}
	}
	if (n < 0 && errno != EAGAIN) {
		fail(-2, "evict-order: read: %s", strerror(errno));
		atomic_fetch_add(&EO.bad, 1);
	}
	return bucket < r->max_id &&
	       (r->evicted[bucket / 64] & (1ULL << (bucket % 64)));
}

static void *eo_reader(void *arg)
{
	struct eo_reader *r = arg;
	struct kvb_bucket_scan s;
	static __thread uint8_t scan[256 << 10];

	while (!atomic_load(&EO.stop)) {
		struct kvb_bucket_rec br;
		struct kvb_key_rec kr;
		struct kvb_obj_desc d;
		char key[64];
		int ret, spins;

		/* the oldest bucket and its first key */
		memset(&s, 0, sizeof(s));
		s.size = sizeof(s);
		s.max_buckets = 1;
		s.buf = (uint64_t)(uintptr_t)scan;
		s.buf_len = sizeof(scan);
		ret = kvb_ioctl(r->fd, KVB_IOC_BUCKET_SCAN, &s);
		if (ret == -ERANGE) {
			/* 256 KiB holds a bucket of EO_KEYS keys */
			fail(-2, "evict-order: BUCKET_SCAN needs %llu bytes",
			     (unsigned long long)s.buf_len);
			break;
		}
		if (ret) {
			fail(-2, "evict-order: BUCKET_SCAN: %s", strerror(-ret));
			break;
		}
		if (!s.nr_buckets)
			continue;
		memcpy(&br, scan, sizeof(br));
		memcpy(&kr, scan + sizeof(br), sizeof(kr));
		if (kr.key_len >= sizeof(key))
			continue;
		memcpy(key, scan + sizeof(br) + sizeof(kr), kr.key_len);
		for (spins = 0; spins < 100000 && !atomic_load(&EO.stop);
		     spins++) {
			ret = query_one(r->fd, key, kr.key_len, &d);
			if (ret || d.status != -ENOENT)
				continue;
			/* gone: its event must be readable now */
			if (eo_drain(r, br.id)) {
				atomic_fetch_add(&EO.hits, 1);
			} else {
				struct pollfd p = { .fd = r->fd, .events = POLLIN };
				int late = 0;

				while (!late && poll(&p, 1, 1000) > 0)
					late = eo_drain(r, br.id);
				atomic_fetch_add(late ? &EO.late : &EO.never, 1);
				fail(-2, "evict-order: QUERY of '%.*s' (first key of bucket %llu) returned -ENOENT before the bucket's eviction event was readable (%s)",
				     (int)kr.key_len, key,
				     (unsigned long long)br.id,
				     late ? "it came right after" :
				     "none within 1 s");
			}
			break;
		}
		if (spins == 100000)
			atomic_fetch_add(&EO.misses, 1);
	}
	return NULL;
}

/* 0 when it holds */
static int evict_order(void)
{
	struct eo_reader rd[EO_READERS];
	pthread_t w, rt[EO_READERS];
	uint64_t fails = atomic_load(&G.failures);
	struct kvb_attach a;
	struct kvb_policy p = { .size = sizeof(p) };
	int wfd, i, ret;

	attach_init(&a, G.dev, KVB_ATTACH_FORMAT);
	a.max_keys_per_bucket = EO_KEYS;
	a.policy = KVB_POLICY_FIFO;
	a.high_watermark = 100;		/* nothing goes before the fds exist */
	a.low_watermark = 99;
	ret = kvb_ioctl(G.ctl, KVB_IOC_ATTACH, &a);
	if (ret) {
		fail(-2, "evict-order: format %s: %s", G.dev, strerror(-ret));
		return 1;
	}
	EO.id = a.id;
	wfd = store_open(a.id);
	for (i = 0; i < EO_READERS; i++) {
		rd[i].fd = open_nb(a.id);
		rd[i].buf = malloc(EVBUF);
		rd[i].last_bucket = 0;
		rd[i].max_id = 1 << 20;
		rd[i].evicted = calloc(rd[i].max_id / 64, sizeof(uint64_t));
		if (rd[i].fd < 0 || !rd[i].buf || !rd[i].evicted) {
			fail(-2, "evict-order: setup");
			return 1;
		}
	}
	/* buckets of 16 MiB: 3 % and 2 % keep two to four of them */
	p.high_watermark = 3;
	p.low_watermark = 2;
	if (wfd < 0 || kvb_ioctl(wfd, KVB_IOC_SET_POLICY, &p)) {
		fail(-2, "evict-order: SET_POLICY 3/2: %s", strerror(errno));
		return 1;
	}
	EO.t0 = now_s();
	for (i = 0; i < EO_READERS; i++)
		pthread_create(&rt[i], NULL, eo_reader, &rd[i]);
	pthread_create(&w, NULL, eo_writer, &wfd);
	pthread_join(w, NULL);
	for (i = 0; i < EO_READERS; i++)
		pthread_join(rt[i], NULL);
	close(wfd);
	if (ctl_detach(G.ctl, a.id))
		fail(-2, "evict-order: DETACH failed");
	for (i = 0; i < EO_READERS; i++) {
		eo_drain(&rd[i], 0);	/* the rest, to check the order */
		close(rd[i].fd);
		free(rd[i].buf);
		free(rd[i].evicted);
	}
	printf("# evict-order: %llu buckets of %u keys written; a key gone: %llu times its event was readable, %llu times it came later, %llu never; %llu spins without eviction\n",
	       (unsigned long long)atomic_load(&EO.buckets), EO_KEYS,
	       (unsigned long long)atomic_load(&EO.hits),
	       (unsigned long long)atomic_load(&EO.late),
	       (unsigned long long)atomic_load(&EO.never),
	       (unsigned long long)atomic_load(&EO.misses));
	if (!atomic_load(&EO.hits) && !atomic_load(&EO.late) &&
	    !atomic_load(&EO.never))
		fail(-2, "evict-order: no reader saw a key go: nothing tested");
	return atomic_load(&G.failures) != fails;
}

/* ---- test 3: FIFO evicts what writes need, no more ------------------- */

/*
 * design.rst: FIFO eviction "never over-evicts". At a high watermark of
 * 100 % nothing is evicted until an OFFLOAD finds no room; with 64 MiB
 * chunks every bucket takes one, so each write into the full store waits
 * for exactly one eviction, of the oldest bucket. After W such writes
 * (one at a time) and the detach, which stops eviction, the event stream
 * (opened before anything was written) must hold exactly W evictions,
 * in bucket id order.
 */
#define OE_WRITES	60

static int fifo_exact(void)
{
	uint64_t fails = atomic_load(&G.failures), prev = 0, nev = 0;
	uint64_t first_id = 0, cap;
	struct kvb_store_info info;
	struct kvb_attach a;
	uint8_t *buf = malloc(EVBUF);
	int fd, efd, ret;
	uint32_t i;
	ssize_t n;

	attach_init(&a, G.dev, KVB_ATTACH_FORMAT);
	a.chunk_size = 64U << 20;
	a.policy = KVB_POLICY_FIFO;
	a.high_watermark = 100;
	a.low_watermark = 99;
	ret = kvb_ioctl(G.ctl, KVB_IOC_ATTACH, &a);
	if (ret) {
		fail(-3, "fifo-exact: format %s: %s", G.dev, strerror(-ret));
		return 1;
	}
	efd = open_nb(a.id);
	fd = store_open(a.id);
	if (fd < 0 || efd < 0 || !buf || st_info(fd, &info)) {
		fail(-3, "fifo-exact: setup");
		return 1;
	}
	cap = info.capacity_bytes / info.chunk_size;
	for (i = 0; i < cap + OE_WRITES; i++) {
		char key[32];
		struct tkey k = { key, 0, 100, i };
		struct kvb_obj_desc d = { .status = 0 };
		uint64_t bucket;

		k.klen = snprintf(key, sizeof(key), "oe:%u", i);
		ret = put_one(fd, &k, 0, &d, &bucket);
		if (ret || d.status) {
			fail(-3, "fifo-exact: OFFLOAD %u: %d status %d", i, ret,
			     d.status);
			break;
		}
		if (!first_id)
			first_id = bucket;
	}
	if (st_info(fd, &info))
		fail(-3, "fifo-exact: STORE_INFO");
	close(fd);
	if (ctl_detach(G.ctl, a.id))
		fail(-3, "fifo-exact: DETACH failed");
	/* every eviction, then end of file */
	while ((n = read(efd, buf, EVBUF)) > 0) {
		size_t off = 0;

		while (off + sizeof(struct kvb_event) <= (size_t)n) {
			const struct kvb_event *e = (const void *)(buf + off);

			if (e->type != KVB_EVENT_EVICT ||
			    e->bucket_id != first_id + nev || e->nr_keys != 1)
				fail(-3, "fifo-exact: event %llu: type %u bucket %llu (%u keys), expected bucket %llu",
				     (unsigned long long)nev + 1, e->type,
				     (unsigned long long)e->bucket_id,
				     e->nr_keys,
				     (unsigned long long)(first_id + nev));
			prev = e->bucket_id;
			nev++;
			off += e->rec_len;
		}
	}
	if (n < 0)
		fail(-3, "fifo-exact: read events: %s", strerror(errno));
	close(efd);
	free(buf);
	printf("# fifo-exact: %llu buckets fill the store, %u more written: %llu evicted (%llu waits before the detach), the last bucket %llu\n",
	       (unsigned long long)cap, OE_WRITES, (unsigned long long)nev,
	       (unsigned long long)info.space_waits,
	       (unsigned long long)prev);
	if (nev != OE_WRITES)
		fail(-3, "fifo-exact: %llu evictions for %u writes into a full store: %s",
		     (unsigned long long)nev, OE_WRITES,
		     nev > OE_WRITES ? "eviction went on after the waiting write had its room" :
				       "writes found room without an eviction");
	return atomic_load(&G.failures) != fails;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	pthread_t w[NTHREADS], r, p;
	uint64_t own = 0, explained = 0, races = 0, again = 0;
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
	printf("1..3\n# kvb_stress: dev %s, %.0f s, %d threads\n",
	       G.dev ? G.dev : "(none)", G.seconds, NTHREADS);
	fflush(stdout);
	if (!G.dev || stat(G.dev, &sb) || !S_ISBLK(sb.st_mode)) {
		printf("ok 1 stress # SKIP no block device\n");
		printf("ok 2 evict-order # SKIP no block device\n");
		printf("ok 3 fifo-exact # SKIP no block device\n");
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
	G.rng_r = 0x7ea77ac4ULL;
	G.rng_p = 0x9011c7ULL;
	for (t = 0; t < NTHREADS; t++) {
		struct th *th = &TH[t];

		th->t = t;
		th->rng = 0x51ee5ULL * (t + 1);
		th->fd = -1;
		th->val = malloc(6 * MAX_VLEN + 64);
		th->dst = malloc(4 * MAX_VLEN + 64);
		th->scan = malloc(1 << 20);
		th->evbuf = malloc(EVBUF);
		for (i = 0; i < NKEYS; i++) {
			th->k[i].klen = snprintf(th->k[i].key, sizeof(th->k[i].key),
						 "s%d:%d%s", t, i,
						 i % 5 ? "" : ":a-longer-key-name");
		}
	}
	pthread_mutex_lock(&G.lock);
	ret = attach_locked(KVB_ATTACH_FORMAT);
	pthread_mutex_unlock(&G.lock);
	if (ret) {
		printf("not ok 1 stress # format %s: %s\n", G.dev, strerror(-ret));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &G.t0);
	for (t = 0; t < NTHREADS; t++)
		pthread_create(&w[t], NULL, worker, &TH[t]);
	pthread_create(&r, NULL, reattacher, NULL);
	pthread_create(&p, NULL, policy_thread, NULL);
	for (t = 0; t < NTHREADS; t++)
		pthread_join(w[t], NULL);
	pthread_mutex_lock(&G.lock);
	atomic_store(&G.stop, 1);
	pthread_cond_broadcast(&G.cond);
	pthread_mutex_unlock(&G.lock);
	pthread_join(r, NULL);
	pthread_join(p, NULL);
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
	printf("#   policy changes: %llu SET_POLICY (%llu EINVAL), %llu sysfs writes (%llu EINVAL)\n",
	       (unsigned long long)G.pol_ioctl,
	       (unsigned long long)G.pol_ioctl_einval,
	       (unsigned long long)G.pol_sysfs,
	       (unsigned long long)G.pol_sysfs_einval);
	final_verify();
	for (t = 0; t < NTHREADS; t++) {
		own += TH[t].own_evicted;
		explained += TH[t].explained;
		races += TH[t].replace_races;
		again += TH[t].offload_again;
	}
	/* every key belongs to one thread: their shares add up */
	if (own != TH[0].ev_keys)
		fail(-1, "the threads found %llu of their keys in events, which name %llu keys",
		     (unsigned long long)own,
		     (unsigned long long)TH[0].ev_keys);
	printf("# evicted: %llu buckets, %llu keys, %llu MiB (events, every thread saw them all); kernel counts before detach: %llu buckets, %llu keys; %llu OFFLOADs waited for room; %llu events lost; at most %llu %% used at a detach\n",
	       (unsigned long long)TH[0].ev_events,
	       (unsigned long long)TH[0].ev_keys,
	       (unsigned long long)(TH[0].ev_bytes >> 20),
	       (unsigned long long)G.k_evicted,
	       (unsigned long long)G.k_evicted_keys,
	       (unsigned long long)G.k_waits, (unsigned long long)G.k_lost,
	       (unsigned long long)G.max_used_pct);
	printf("#   -ENOENT explained by an event: %llu; OFFLOAD of an evicted key: %llu; REPLACE raced with the eviction: %llu\n",
	       (unsigned long long)explained, (unsigned long long)again,
	       (unsigned long long)races);
	/* a run long enough to write the store over must have evicted */
	if (atomic_load(&G.total_ops) >= 2000 && !TH[0].ev_events)
		fail(-1, "nothing was evicted: the run did not test eviction");
	if (atomic_load(&G.failures)) {
		printf("# %llu failures\nnot ok 1 stress\n",
		       (unsigned long long)atomic_load(&G.failures));
		ret = 1;
	} else {
		printf("ok 1 stress\n");
		ret = 0;
	}
	fflush(stdout);
	if (evict_order()) {
		printf("not ok 2 evict-order\n");
		ret = 1;
	} else {
		printf("ok 2 evict-order\n");
	}
	fflush(stdout);
	if (fifo_exact()) {
		printf("not ok 3 fifo-exact\n");
		ret = 1;
	} else {
		printf("ok 3 fifo-exact\n");
	}
	return ret;
}
