// SPDX-License-Identifier: GPL-2.0
/*
 * Eviction (issue #4): the store as a cache.
 *
 *  pol.{fifo,lru,lfu}.turnover_5x
 *	5x the capacity written by one thread with a scripted access pattern
 *	(a hot set loaded all along, an early set loaded 16 times then never,
 *	samples); every event is checked against a model of the store (bucket
 *	id -> keys) and against the policy's rule applied to the model, every
 *	step checks a sample of the model's keys, and the end checks all of
 *	them, BUCKET_SCAN and the counters; then what each policy promises to
 *	keep.
 *  ev.fifo_order_exact, ev.lru_order_exact, ev.lfu_order_exact
 *	the victim order, exactly, when the test alone decides when eviction
 *	runs (watermarks lowered with nothing in flight): FIFO; LRU with the
 *	atime 0 of buckets found at attach; LFU with runs of keys, the count
 *	exact up to 16 and aging (halving, and -8 but not below 16).
 *  ev.loads_race_eviction
 *	loaders hammer the next buckets to go while a writer forces eviction
 *	and a reader thread publishes each event: exact bytes or -ENOENT;
 *	-ENOENT for a LOAD begun after the event was read; and a LOAD that
 *	got -ENOENT finds the event queued already.
 *  ev.policy_changes_under_load
 *	policy and watermarks changed (ioctl and sysfs) while two writers and
 *	a loader run, the model checks above still applied.
 *  ev.set_policy_args, ev.sysfs_bad_writes, ev.sysfs_overflow_einval
 *	KVB_IOC_SET_POLICY's argument checking (EINVAL, EFAULT, a read-only
 *	argument changes nothing) and sysfs writes (bad ones: EINVAL).
 *  ev.events_*
 *	the event stream's edges: fan-out to every open file, a later open,
 *	EMSGSIZE, EFAULT, EAGAIN, poll(), blocking read(), LOST, end of file
 *	after detach, and libkvbucket's kvb_events_*().
 *  ev.full_store_waits
 *	with high_watermark 100 an OFFLOAD into a full store waits for
 *	eviction and succeeds, alone and with writers that outpace reclaim.
 *
 * The store is the 256 MiB disk formatted with 4 MiB chunks (63 of them):
 * a bucket of a few small values takes one chunk, so capacity counts in
 * buckets and 5x the capacity is a few hundred OFFLOADs. ENOSPC for a
 * bucket larger than the store is kvb_buckets' business.
 *
 * Eviction is asynchronous, and nothing here sleeps to let it happen:
 * tests wait (with a deadline) for a state eviction must reach, such as
 * the used space at the target that lowered watermarks imply, or check
 * invariants that hold however the work item is scheduled.
 */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <time.h>

#include "kselftest_harness.h"
#include "kvb_test.h"

#define EV_CHUNK	(4U << 20)	/* 256 MiB disk: 63 chunks */
#define EV_MAX_KPB	128U		/* keys per bucket the model handles */
#define EV_NAME_MAX	1024U
#define NSEC		1000000000ULL
#define EV_DEADLINE	(120 * NSEC)	/* for eviction to reach a target */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);	/* the clock of ktime_get_ns() */
	return (uint64_t)ts.tv_sec * NSEC + ts.tv_nsec;
}

/*
 * Wait until CLOCK_MONOTONIC has passed t: a precondition (LRU's 1 ms
 * grain between two loads of one bucket), not a race with anything.
 */
static void wait_clock(uint64_t t)
{
	while (now_ns() < t)
		sched_yield();
}

static const char *pol_name(uint32_t p)
{
	switch (p) {
	case KVB_POLICY_FIFO: return "fifo";
	case KVB_POLICY_LRU: return "lru";
	case KVB_POLICY_LFU: return "lfu";
	}
	return "?";
}

/* ---- sysfs ------------------------------------------------------------ */

static int sys_write_u64(uint32_t id, const char *attr, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	return sysfs_write(id, attr, buf);
}

/* ---- policy ----------------------------------------------------------- */

static int set_pol(int fd, uint32_t policy, uint32_t high, uint32_t low,
		   struct kvb_policy *out)
{
	struct kvb_policy p = {
		.size = sizeof(p), .policy = policy,
		.high_watermark = high, .low_watermark = low,
	};
	int ret = kvb_ioctl(fd, KVB_IOC_SET_POLICY, &p);

	if (out)
		*out = p;
	return ret;
}

/* ---- the store -------------------------------------------------------- */

struct store {
	int ctl, fd, evfd;	/* evfd: O_NONBLOCK, opened right after attach */
	uint32_t id;
	uint64_t chunk, nchunks, cap;
};

static int store_attach(struct store *s, uint32_t flags, uint32_t policy,
			uint32_t high, uint32_t low)
{
	struct kvb_store_info info;
	struct kvb_attach a;
	char path[64];
	int ret;

	attach_init(&a, kvb_disk(2), flags);
	a.chunk_size = flags & KVB_ATTACH_FORMAT ? EV_CHUNK : 0;
	a.policy = policy;
	a.high_watermark = high;
	a.low_watermark = low;
	ret = kvb_ioctl(s->ctl, KVB_IOC_ATTACH, &a);
	if (ret)
		return ret;
	s->id = a.id;
	s->fd = store_open(s->id);
	if (s->fd < 0)
		return -errno;
	store_path(s->id, path, sizeof(path));
	s->evfd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (s->evfd < 0)
		return -errno;
	ret = st_info(s->fd, &info);
	if (ret)
		return ret;
	s->chunk = info.chunk_size;
	s->cap = info.capacity_bytes;
	s->nchunks = s->cap / s->chunk;
	return 0;
}

static void store_close_fds(struct store *s)
{
	if (s->evfd >= 0)
		close(s->evfd);
	if (s->fd >= 0)
		close(s->fd);
	s->evfd = -1;
	s->fd = -1;
}

static int store_detach(struct store *s)
{
	store_close_fds(s);
	return ctl_detach(s->ctl, s->id);
}

/*
 * Attach the 256 MiB disk; the watermark arithmetic below wants fewer than
 * 100 chunks (one percent is less than a chunk).
 */
#define ATTACH(s, flags, pol, hi, lo) do { \
	ASSERT_EQ(0, store_attach(s, flags, pol, hi, lo)); \
	ASSERT_EQ(EV_CHUNK, (s)->chunk); \
	ASSERT_LE(32, (s)->nchunks); \
	ASSERT_GT(100, (s)->nchunks); \
} while (0)

static void evs_setup(struct __test_metadata *_metadata, struct store *s)
{
	s->ctl = -1;
	s->fd = -1;
	s->evfd = -1;
	ASSERT_TRUE(module_loaded()) TH_LOG("kvbucket module not loaded");
	ASSERT_EQ(0, detach_all());
	ASSERT_NE(NULL, kvb_disk(2)) TH_LOG("KVB_DISKS needs 3 disks");
	s->ctl = ctl_open();
	ASSERT_LE(0, s->ctl);
}

static void evs_teardown(struct __test_metadata *_metadata, struct store *s)
{
	store_close_fds(s);
	EXPECT_EQ(0, detach_all());
	if (s->ctl >= 0)
		close(s->ctl);
}

/* ---- keys and values ---------------------------------------------------- */

struct mkey {
	uint32_t klen;
	uint32_t vlen;
	char name[EV_NAME_MAX + 8];
};

/* Key j of the widx-th bucket written under tag; value vmin + [0, vspan). */
static void mk(struct mkey *k, const char *tag, uint32_t widx, uint32_t j,
	       uint32_t vmin, uint32_t vspan)
{
	uint64_t s = ((uint64_t)widx << 20) ^ ((uint64_t)j << 4) ^ strlen(tag);

	k->klen = snprintf(k->name, sizeof(k->name), "%s-%05u-%02u", tag,
			   widx, j);
	k->vlen = vmin + (vspan ? (uint32_t)(splitmix64(&s) % vspan) : 0);
}

static uint64_t mkey_seed(const struct mkey *k)
{
	return key_seed(k->name, k->klen, 0);
}

/*
 * OFFLOAD k[0..n) as one bucket (values built in pool). 0 and *id, -errno,
 * or -EPROTO when the kernel's report is not a complete success. t0/t1:
 * the clock around the call.
 */
static int put_keys(int fd, const struct mkey *k, uint32_t n, uint8_t *pool,
		    uint64_t *id, uint64_t *t0, uint64_t *t1)
{
	struct kvb_obj_desc d[EV_MAX_KPB];
	struct kvb_slice sl[EV_MAX_KPB];
	struct kvb_batch b;
	size_t off = 0;
	uint32_t i;
	int ret;

	if (n > EV_MAX_KPB)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		fill_value(mkey_seed(&k[i]), pool + off, k[i].vlen);
		kvb_slice_init(&sl[i], pool + off, k[i].vlen);
		kvb_desc_init(&d[i], k[i].name, k[i].klen, &sl[i], 1);
		off += k[i].vlen;
	}
	*t0 = now_ns();
	ret = st_batch(fd, KVB_IOC_OFFLOAD, d, n, 0, &b);
	*t1 = now_ns();
	if (ret)
		return ret;
	if (b.nr_done != n || !b.bucket_id)
		return -EPROTO;
	for (i = 0; i < n; i++)
		if (d[i].status || d[i].bucket_id != b.bucket_id ||
		    d[i].value_len != k[i].vlen)
			return -EPROTO;
	*id = b.bucket_id;
	return 0;
}

/*
 * LOAD k[0..n) in one call into exactly sized buffers (in pool). st[i]: 0
 * with the bytes verified, -EILSEQ for wrong bytes or length, else the
 * kernel's status; ids[i] (may be NULL) the bucket the kernel named.
 * Returns the call's 0 or -errno; *t1 the clock after it.
 */
static int load_keys(int fd, const struct mkey *const *k, uint32_t n,
		     uint8_t *pool, int *st, uint64_t *ids, uint64_t *t1)
{
	struct kvb_obj_desc d[EV_MAX_KPB];
	struct kvb_slice sl[EV_MAX_KPB];
	size_t off = 0;
	uint32_t i;
	int ret;

	if (n > EV_MAX_KPB)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		memset(pool + off, 0xa5, k[i]->vlen);
		kvb_slice_init(&sl[i], pool + off, k[i]->vlen);
		kvb_desc_init(&d[i], k[i]->name, k[i]->klen, &sl[i], 1);
		off += k[i]->vlen;
	}
	ret = st_batch(fd, KVB_IOC_LOAD, d, n, 0, NULL);
	if (t1)
		*t1 = now_ns();
	if (ret)
		return ret;
	for (off = 0, i = 0; i < n; off += k[i]->vlen, i++) {
		st[i] = d[i].status;
		if (ids)
			ids[i] = d[i].bucket_id;
		if (!st[i] && (d[i].value_len != k[i]->vlen ||
			       check_value(mkey_seed(k[i]), pool + off,
					   k[i]->vlen) >= 0))
			st[i] = -EILSEQ;
	}
	return 0;
}

/* Does key record r name key k, with its value length, exactly? */
static bool keyrec_is(const struct kvb_key_rec *r, const struct mkey *k)
{
	return r->key_len == k->klen && r->value_len == k->vlen &&
	       !memcmp(kvb_key_rec_key(r), k->name, k->klen);
}

/* Is a key record well formed (reserved and padding zero) within end? */
static bool keyrec_ok(const struct kvb_key_rec *r, const void *end)
{
	const unsigned char *p, *pad_end;

	if ((const char *)end - (const char *)r < (long)sizeof(*r) ||
	    !r->key_len || r->key_len > KVB_MAX_KEY_LEN || r->reserved0)
		return false;
	pad_end = (const unsigned char *)kvb_key_rec_next(r);
	if ((const void *)pad_end > end)
		return false;
	for (p = (const unsigned char *)kvb_key_rec_key(r) + r->key_len;
	     p < pad_end; p++)
		if (*p)
			return false;
	return true;
}

/* ---- the model ---------------------------------------------------------- */

enum { B_NONE, B_LIVE, B_GONE };
enum { C_REG, C_HOT, C_EARLY };

struct mbkt {
	uint8_t state, cls;
	uint32_t nkeys, key0, widx;
	uint64_t off_start, off_end;	/* the clock around its OFFLOAD */
	uint64_t touch_end;		/* after its last LOAD, or off_end */
	uint64_t commit_epoch;		/* LFU epoch right after its commit */
	uint64_t lfu_w;			/* epoch of its last load or commit */
	uint32_t lfu_hi;		/* upper bound of its count at lfu_w */
	uint32_t loads;			/* LOAD runs that read it */
	uint64_t bytes;
	uint64_t evict_seq;
};

struct model {
	struct __test_metadata *md;
	int fd, evfd;
	uint32_t id;
	uint64_t chunk, nchunks;
	struct mkey *keys;
	uint32_t nkeys, kcap;
	struct mbkt *b;			/* by bucket id */
	uint64_t bcap, max_id;
	uint64_t nlive, live_keys, live_bytes;
	uint64_t next_seq;		/* of the next event */
	uint64_t nr_events, ev_keys, last_id;
	uint64_t committed;		/* buckets written since attach */
	uint64_t *order;		/* evicted ids, in event order */
	uint32_t policy;		/* events must name it (0: see plog) */
	uint32_t order_mask;		/* 1 << policy: check its rule per event */
	bool fifo_ids;			/* events in increasing bucket id */
	bool defer;			/* concurrent writers: see model_read() */
	const uint32_t *plog;		/* policies set so far, in order */
	const _Atomic uint32_t *nplog;
	uint32_t pcur;
	uint64_t t_base;
	unsigned int errs;
	char *rbuf;
	size_t rlen;
	void **pend;			/* records waiting for their bucket */
	size_t npend, phead;
	uint8_t *pool;
};

#define MFAIL(m, fmt, ...) do { \
	struct __test_metadata *_metadata = (m)->md; \
	if ((m)->errs++ < 25) \
		TH_LOG(fmt, ##__VA_ARGS__); \
	_metadata->passed = 0; \
} while (0)

#define MODEL_POOL	(EV_MAX_KPB * (64U << 10))

static void model_init(struct model *m, struct __test_metadata *md,
		       const struct store *s, uint32_t kcap, uint64_t bcap)
{
	memset(m, 0, sizeof(*m));
	m->md = md;
	m->fd = s->fd;
	m->evfd = s->evfd;
	m->id = s->id;
	m->chunk = s->chunk;
	m->nchunks = s->nchunks;
	m->kcap = kcap;
	m->keys = calloc(kcap, sizeof(*m->keys));
	m->bcap = bcap;
	m->b = calloc(bcap, sizeof(*m->b));
	m->order = calloc(bcap, sizeof(*m->order));
	m->pend = calloc(bcap, sizeof(*m->pend));
	m->next_seq = 1;
	m->rlen = 256 << 10;
	m->rbuf = malloc(m->rlen);
	m->pool = malloc(MODEL_POOL);
	m->t_base = now_ns();
}

static bool model_ok(const struct model *m)
{
	return m->keys && m->b && m->order && m->pend && m->rbuf && m->pool;
}

static void model_free(struct model *m)
{
	size_t i;

	for (i = m->phead; i < m->npend; i++)
		free(m->pend[i]);
	free(m->pend);
	free(m->keys);
	free(m->b);
	free(m->order);
	free(m->rbuf);
	free(m->pool);
}

static struct mbkt *mb(struct model *m, uint64_t id)
{
	return id && id < m->bcap ? &m->b[id] : NULL;
}

static const struct mkey *mkey_of(const struct model *m,
				  const struct mbkt *b, uint32_t j)
{
	return &m->keys[b->key0 + j];
}

static uint64_t ms_of(const struct model *m, uint64_t t)
{
	return t > m->t_base ? (t - m->t_base) / 1000000 : 0;
}

/*
 * The LFU epoch: one per half capacity of bucket lengths committed since
 * attach. Exact with one writer and one-chunk buckets.
 */
static uint64_t model_epoch(const struct model *m)
{
	return m->committed * m->chunk / (m->nchunks * m->chunk / 2);
}

/* An LFU count after age epochs: > 16 loses 8 (not below 16), else halves. */
static uint32_t lfu_age(uint32_t c, uint64_t age)
{
	while (age-- && c)
		c = c > 16 ? (c - 8 > 16 ? c - 8 : 16) : c / 2;
	return c;
}

/* A new bucket in the model (under the writers' lock). NULL: inconsistent. */
static struct mbkt *model_add(struct model *m, const struct mkey *k,
			      uint32_t n, uint64_t id, uint8_t cls,
			      uint32_t widx, uint64_t t0, uint64_t t1)
{
	struct mbkt *b = mb(m, id);
	uint32_t i;

	if (!b || b->state != B_NONE || m->nkeys + n > m->kcap)
		return NULL;
	memcpy(&m->keys[m->nkeys], k, n * sizeof(*k));
	b->key0 = m->nkeys;
	m->nkeys += n;
	b->nkeys = n;
	b->cls = cls;
	b->widx = widx;
	b->off_start = t0;
	b->off_end = t1;
	b->touch_end = t1;
	m->committed++;
	b->commit_epoch = model_epoch(m);
	b->lfu_w = b->commit_epoch;
	b->bytes = 0;
	for (i = 0; i < n; i++)
		b->bytes += k[i].vlen;
	b->state = B_LIVE;
	if (id > m->max_id)
		m->max_id = id;
	m->nlive++;
	m->live_keys += n;
	m->live_bytes += b->bytes;
	return b;
}

/* A LOAD run read b; t1: the clock after the call. */
static void model_touch(struct model *m, struct mbkt *b, uint64_t t1)
{
	uint64_t e = model_epoch(m);

	b->touch_end = t1;
	b->lfu_hi = lfu_age(b->lfu_hi, e - b->lfu_w) + 1;
	if (b->lfu_hi > 255)
		b->lfu_hi = 255;
	b->lfu_w = e;
	b->loads++;
}

/* Is y's LFU count 0 whatever happens from epoch e0 on (no later load)? */
static bool lfu_zero_from(const struct mbkt *y, uint64_t e0)
{
	if (!y->loads)
		return true;
	if (y->lfu_w >= e0)
		return false;
	return lfu_age(y->lfu_hi, e0 - y->lfu_w) == 0;
}

/*
 * The policy's rule at the eviction of x: an older bucket y that survives
 * and was surely in the round's snapshot (committed before x was even
 * written, so before any snapshot that had x) must have been preferable
 * to keep: otherwise, as the older one, it goes first on a tie.
 *  FIFO  no such y at all;
 *  LRU   y was loaded after x's OFFLOAD began (else atime(y) <= the end of
 *        its last touch < x's commit time <= atime(x) at any snapshot);
 *  LFU   y's count is not surely 0 from x's commit epoch on (x's own
 *        count can be 0 at a snapshot right after its commit).
 * Upper bounds are used for y and lower bounds for x, so that a stale
 * snapshot, the 1 ms grain or the Morris counter never make it fire.
 */
static void model_check_victim(struct model *m, uint64_t xid, uint32_t policy)
{
	struct mbkt *x = &m->b[xid], *y;
	uint64_t id;

	for (id = 1; id < xid; id++) {
		y = &m->b[id];
		if (y->state != B_LIVE || y->off_end >= x->off_start)
			continue;
		switch (policy) {
		case KVB_POLICY_FIFO:
			MFAIL(m, "fifo evicted bucket %llu while the older bucket %llu survives",
			      (unsigned long long)xid, (unsigned long long)id);
			return;
		case KVB_POLICY_LRU:
			if (y->touch_end < x->off_start) {
				MFAIL(m, "lru evicted bucket %llu (written at %llu ms) while bucket %llu, not loaded since %llu ms, survives",
				      (unsigned long long)xid,
				      (unsigned long long)ms_of(m, x->off_start),
				      (unsigned long long)id,
				      (unsigned long long)ms_of(m, y->touch_end));
				return;
			}
			break;
		case KVB_POLICY_LFU:
			if (lfu_zero_from(y, x->commit_epoch)) {
				MFAIL(m, "lfu evicted bucket %llu (epoch %llu) while the older bucket %llu (%u loads, last at epoch %llu, count <= %u then) with a count surely 0 survives",
				      (unsigned long long)xid,
				      (unsigned long long)x->commit_epoch,
				      (unsigned long long)id, y->loads,
				      (unsigned long long)y->lfu_w, y->lfu_hi);
				return;
			}
			break;
		}
	}
}

/* One EVICT record, in order, for a registered bucket. */
static void model_event(struct model *m, const struct kvb_event *e)
{
	const char *end = (const char *)e + e->rec_len;
	const struct kvb_key_rec *r;
	unsigned char used[EV_MAX_KPB];
	uint64_t bytes = 0;
	struct mbkt *b;
	uint32_t i, j;

	if (e->type == KVB_EVENT_LOST) {
		MFAIL(m, "LOST record: %llu events from seq %llu",
		      (unsigned long long)e->nr_lost,
		      (unsigned long long)e->seq);
		return;
	}
	if (e->type != KVB_EVENT_EVICT) {
		MFAIL(m, "event type %u", e->type);
		return;
	}
	if (e->nr_lost || e->reserved[0] || e->reserved[1])
		MFAIL(m, "event %llu: nr_lost/reserved not 0",
		      (unsigned long long)e->seq);
	if (m->policy && e->policy != m->policy)
		MFAIL(m, "event %llu: policy %u, %u in force",
		      (unsigned long long)e->seq, e->policy, m->policy);
	if (m->plog) {
		/* the policies of events follow the order they were set in */
		uint32_t k, n = atomic_load_explicit(m->nplog,
						     memory_order_acquire);

		for (k = m->pcur; k < n && m->plog[k] != e->policy; k++)
			;
		if (k == n)
			MFAIL(m, "event %llu: policy %u was not in force since the previous event's (%u)",
			      (unsigned long long)e->seq, e->policy,
			      m->plog[m->pcur]);
		else
			m->pcur = k;
	}
	b = mb(m, e->bucket_id);
	if (!b || b->state != B_LIVE) {
		MFAIL(m, "event %llu: bucket %llu is %s",
		      (unsigned long long)e->seq,
		      (unsigned long long)e->bucket_id,
		      !b || b->state == B_NONE ? "unknown" : "evicted already");
		return;
	}
	if (e->nr_keys != b->nkeys)
		MFAIL(m, "event %llu: bucket %llu: %u keys, the model has %u",
		      (unsigned long long)e->seq,
		      (unsigned long long)e->bucket_id, e->nr_keys, b->nkeys);
	memset(used, 0, sizeof(used));
	r = kvb_event_keys(e);
	for (i = 0; i < e->nr_keys; i++) {
		if (!keyrec_ok(r, end)) {
			MFAIL(m, "event %llu: key record %u malformed",
			      (unsigned long long)e->seq, i);
			return;
		}
		for (j = 0; j < b->nkeys; j++)
			if (!used[j] && keyrec_is(r, mkey_of(m, b, j)))
				break;
		if (j == b->nkeys) {
			MFAIL(m, "event %llu: bucket %llu: key %.*s (value_len %llu) is not one of its keys",
			      (unsigned long long)e->seq,
			      (unsigned long long)e->bucket_id,
			      (int)(r->key_len < 64 ? r->key_len : 64),
			      (const char *)kvb_key_rec_key(r),
			      (unsigned long long)r->value_len);
		} else {
			used[j] = 1;
		}
		bytes += r->value_len;
		r = kvb_key_rec_next(r);
	}
	if ((const char *)r != end)
		MFAIL(m, "event %llu: rec_len %u, its keys end at %ld",
		      (unsigned long long)e->seq, e->rec_len,
		      (long)((const char *)r - (const char *)e));
	if (e->value_bytes != b->bytes || bytes != b->bytes)
		MFAIL(m, "event %llu: value_bytes %llu, keys %llu, model %llu",
		      (unsigned long long)e->seq,
		      (unsigned long long)e->value_bytes,
		      (unsigned long long)bytes,
		      (unsigned long long)b->bytes);
	if (m->fifo_ids && e->bucket_id <= m->last_id)
		MFAIL(m, "event %llu: bucket %llu evicted after bucket %llu",
		      (unsigned long long)e->seq,
		      (unsigned long long)e->bucket_id,
		      (unsigned long long)m->last_id);
	if (e->policy < 32 && (m->order_mask & (1U << e->policy)))
		model_check_victim(m, e->bucket_id, e->policy);

	b->state = B_GONE;
	b->evict_seq = e->seq;
	m->nlive--;
	m->live_keys -= b->nkeys;
	m->live_bytes -= b->bytes;
	m->order[m->nr_events++] = e->bucket_id;
	m->ev_keys += e->nr_keys;
	m->last_id = e->bucket_id;
}

/* Records whose bucket is registered now, in order. */
static void model_pending(struct model *m)
{
	while (m->phead < m->npend) {
		const struct kvb_event *e = m->pend[m->phead];
		struct mbkt *b = mb(m, e->bucket_id);

		if (e->type == KVB_EVENT_EVICT && b && b->state == B_NONE)
			break;	/* its writer has not registered it yet */
		model_event(m, e);
		free(m->pend[m->phead]);
		m->pend[m->phead++] = NULL;
	}
}

/*
 * Read every queued event (non-blocking) and apply it to the model. With
 * concurrent writers (defer), an event can name a bucket whose OFFLOAD
 * returned but whose writer has not registered it yet: such a record and
 * those after it wait, in order, until it is.
 */
static void model_read(struct model *m)
{
	for (;;) {
		ssize_t n = read(m->evfd, m->rbuf, m->rlen);
		size_t off = 0;

		if (n < 0 && errno == EMSGSIZE && m->rlen < (64U << 20)) {
			free(m->rbuf);
			m->rlen *= 4;
			m->rbuf = malloc(m->rlen);
			if (!m->rbuf) {
				MFAIL(m, "out of memory");
				return;
			}
			continue;
		}
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			MFAIL(m, "read(events): %s", n ? strerror(errno) :
			      "end of file on an attached store");
			return;
		}
		while (off < (size_t)n) {
			const struct kvb_event *e = (void *)(m->rbuf + off);

			if (n - off < sizeof(*e) || e->rec_len < sizeof(*e) ||
			    e->rec_len > n - off || e->rec_len % 8) {
				MFAIL(m, "read(events): malformed record at %zu of %zd",
				      off, n);
				return;
			}
			if (e->seq != m->next_seq)
				MFAIL(m, "event seq %llu, expected %llu",
				      (unsigned long long)e->seq,
				      (unsigned long long)m->next_seq);
			m->next_seq = e->seq + 1;
			if (m->defer) {
				void *copy = malloc(e->rec_len);

				if (!copy || m->npend == m->bcap) {
					MFAIL(m, "too many pending events");
					free(copy);
					return;
				}
				memcpy(copy, e, e->rec_len);
				m->pend[m->npend++] = copy;
			} else {
				model_event(m, e);
			}
			off += e->rec_len;
		}
	}
	model_pending(m);
}

/* Wait up to ms for an event on the model's descriptor. */
static void model_wait(struct model *m, int ms)
{
	struct pollfd p = { .fd = m->evfd, .events = POLLIN };

	poll(&p, 1, ms);
}

/*
 * A key of model bucket id was not found. Its bucket must have been
 * evicted; after a LOAD (strict) its event must be queued already, after a
 * QUERY it must come.
 */
static void explain_enoent(struct model *m, uint64_t id, const struct mkey *k,
			   const char *what, bool strict)
{
	uint64_t deadline = now_ns() + 30 * NSEC;

	model_read(m);
	if (m->b[id].state == B_GONE)
		return;
	if (strict)
		MFAIL(m, "%s of %s: -ENOENT, but the eviction event of bucket %llu was not queued yet",
		      what, k->name, (unsigned long long)id);
	while (m->b[id].state == B_LIVE && now_ns() < deadline) {
		model_wait(m, 1000);
		model_read(m);
	}
	if (m->b[id].state != B_GONE)
		MFAIL(m, "%s of %s: -ENOENT, and bucket %llu was never reported evicted",
		      what, k->name, (unsigned long long)id);
}

static void check_query(struct model *m, uint64_t id, uint32_t j)
{
	const struct mkey *k = mkey_of(m, &m->b[id], j);
	struct kvb_obj_desc d;
	int ret = query_one(m->fd, k->name, k->klen, &d);

	if (ret)
		MFAIL(m, "QUERY %s: %d", k->name, ret);
	else if (d.status == -ENOENT)
		explain_enoent(m, id, k, "QUERY", false);
	else if (d.status || d.bucket_id != id || d.value_len != k->vlen)
		MFAIL(m, "QUERY %s: status %d bucket %llu value_len %llu, model: bucket %llu value_len %u",
		      k->name, d.status, (unsigned long long)d.bucket_id,
		      (unsigned long long)d.value_len,
		      (unsigned long long)id, k->vlen);
}

/*
 * LOAD key js[i] of bucket ids[i] for i < n, in one call, and apply the
 * touches to the model (once per run of found keys of one bucket, as the
 * kernel counts them).
 */
static void check_load(struct model *m, const uint64_t *ids,
		       const uint32_t *js, uint32_t n)
{
	const struct mkey *kp[EV_MAX_KPB] = { NULL };
	uint64_t got[EV_MAX_KPB], t1, last = 0;
	int st[EV_MAX_KPB], ret;
	uint32_t i;

	for (i = 0; i < n; i++)
		kp[i] = mkey_of(m, &m->b[ids[i]], js[i]);
	ret = load_keys(m->fd, kp, n, m->pool, st, got, &t1);
	if (ret) {
		MFAIL(m, "LOAD of %u keys: %d", n, ret);
		return;
	}
	for (i = 0; i < n; i++) {
		if (st[i] == -ENOENT)
			continue;
		if (ids[i] != last)
			model_touch(m, &m->b[ids[i]], t1);
		last = ids[i];
		if (st[i])
			MFAIL(m, "LOAD %s: status %d (-EILSEQ: wrong bytes)",
			      kp[i]->name, st[i]);
		else if (got[i] != ids[i])
			MFAIL(m, "LOAD %s: bucket %llu, model %llu", kp[i]->name,
			      (unsigned long long)got[i],
			      (unsigned long long)ids[i]);
	}
	for (i = 0; i < n; i++)
		if (st[i] == -ENOENT)
			explain_enoent(m, ids[i], kp[i], "LOAD", true);
}

/* A random live bucket of a class in cls_mask (1 << C_*), or 0. */
static uint64_t pick_live(struct model *m, uint64_t *rng, unsigned int cls_mask)
{
	uint64_t id, i;

	if (!m->max_id)
		return 0;
	for (i = 0; i < 64; i++) {
		id = 1 + splitmix64(rng) % m->max_id;
		if (m->b[id].state == B_LIVE && (cls_mask & (1U << m->b[id].cls)))
			return id;
	}
	for (id = m->max_id; id; id--)
		if (m->b[id].state == B_LIVE && (cls_mask & (1U << m->b[id].cls)))
			return id;
	return 0;
}

/*
 * The end: everything evicted was reported, and the store is the model:
 * STORE_INFO and sysfs counters, BUCKET_SCAN, every key by QUERY and LOAD.
 */
static void model_final(struct model *m)
{
	struct __test_metadata *_metadata = m->md;
	struct kvb_store_info info;
	struct kvb_bucket_scan sc;
	const struct kvb_bucket_rec *r;
	uint64_t start = 0, seen = 0, v, id;
	size_t blen = 1 << 20;
	char *buf = malloc(blen);
	uint32_t i, j;

	ASSERT_NE(NULL, buf);
	model_read(m);
	EXPECT_EQ(m->npend, m->phead) TH_LOG("events of buckets never written");

	ASSERT_EQ(0, st_info(m->fd, &info));
	/* evicted space returns when the work item drops its reference */
	for (v = now_ns() + EV_DEADLINE;
	     info.used_bytes != m->nlive * m->chunk && now_ns() < v;)
		ASSERT_EQ(0, st_info(m->fd, &info));
	EXPECT_EQ(m->nlive, info.nr_buckets);
	EXPECT_EQ(m->live_keys, info.nr_keys);
	EXPECT_EQ(m->live_bytes, info.value_bytes);
	EXPECT_EQ(m->nlive * m->chunk, info.used_bytes);
	EXPECT_EQ(m->nr_events, info.nr_evicted);
	EXPECT_EQ(m->ev_keys, info.evicted_keys);
	EXPECT_EQ(m->nr_events * m->chunk, info.reclaimed_bytes);
	EXPECT_EQ(0, info.events_lost);
	ASSERT_EQ(0, sysfs_u64(m->id, "evicted_buckets", &v));
	EXPECT_EQ(m->nr_events, v);
	ASSERT_EQ(0, sysfs_u64(m->id, "evicted_keys", &v));
	EXPECT_EQ(m->ev_keys, v);
	ASSERT_EQ(0, sysfs_u64(m->id, "reclaimed_bytes", &v));
	EXPECT_EQ(m->nr_events * m->chunk, v);
	ASSERT_EQ(0, sysfs_u64(m->id, "events_lost", &v));
	EXPECT_EQ(0, v);

	/* BUCKET_SCAN lists exactly the model's live buckets and keys */
	do {
		memset(&sc, 0, sizeof(sc));
		sc.size = sizeof(sc);
		sc.start_id = start;
		sc.max_buckets = 64;
		sc.buf = (uintptr_t)buf;
		sc.buf_len = blen;
		ASSERT_EQ(0, kvb_ioctl(m->fd, KVB_IOC_BUCKET_SCAN, &sc));
		r = (const void *)buf;
		for (i = 0; i < sc.nr_buckets; i++, r = kvb_bucket_rec_next(r)) {
			const struct kvb_key_rec *kr = kvb_bucket_rec_keys(r);
			struct mbkt *b = mb(m, r->id);

			seen++;
			if (!b || b->state != B_LIVE) {
				MFAIL(m, "BUCKET_SCAN lists bucket %llu, the model has it %s",
				      (unsigned long long)r->id,
				      !b || b->state == B_NONE ? "unknown" : "evicted");
				continue;
			}
			if (r->nr_keys != b->nkeys || r->value_bytes != b->bytes) {
				MFAIL(m, "BUCKET_SCAN: bucket %llu: %u keys %llu bytes, model %u %llu",
				      (unsigned long long)r->id, r->nr_keys,
				      (unsigned long long)r->value_bytes,
				      b->nkeys, (unsigned long long)b->bytes);
				continue;
			}
			for (j = 0; j < r->nr_keys; j++, kr = kvb_key_rec_next(kr))
				if (!keyrec_is(kr, mkey_of(m, b, j)))
					MFAIL(m, "BUCKET_SCAN: bucket %llu: key %u is not %s",
					      (unsigned long long)r->id, j,
					      mkey_of(m, b, j)->name);
		}
		start = sc.next_id;
	} while (start);
	EXPECT_EQ(m->nlive, seen);
	free(buf);

	/* every key: QUERY, then LOAD byte for byte */
	for (id = 1; id <= m->max_id; id++) {
		struct mbkt *b = &m->b[id];
		uint64_t ids[EV_MAX_KPB];
		uint32_t js[EV_MAX_KPB];

		if (b->state != B_LIVE)
			continue;
		for (j = 0; j < b->nkeys; j++) {
			check_query(m, id, j);
			ids[j] = id;
			js[j] = j;
		}
		for (j = 0; j < b->nkeys; j += 16)
			check_load(m, ids + j, js + j,
				   b->nkeys - j < 16 ? b->nkeys - j : 16);
	}
	/* nothing was evicted meanwhile: the store held still */
	ASSERT_EQ(0, st_info(m->fd, &info));
	EXPECT_EQ(m->nr_events, info.nr_evicted);
	model_read(m);
}

/* ---- driving eviction ------------------------------------------------- */

/*
 * Lower the watermarks to low = l, high = l + 1, for the largest l whose
 * target floor(l * N / 100) chunks is at most tmax (exactly tmax with
 * exact) and whose high watermark is below used_lb, a lower bound of the
 * chunks in use when the call lands: eviction starts, and the work item
 * evicts one bucket at a time until exactly the target is in use, then
 * stops. Waits (deadline) until the used space is at the target: once it
 * is, no eviction is in flight and every event is queued. Then puts the
 * watermarks back as they were, which the target is below. Reads the
 * model's events meanwhile (m may be NULL: nothing is read). Returns the
 * target, or -1 (reported).
 */
static long evict_to(struct __test_metadata *_metadata, const struct store *s,
		     uint64_t tmax, uint64_t used_lb, bool exact,
		     struct model *m)
{
	uint64_t n = s->nchunks, t = 0, deadline;
	struct kvb_store_info info;
	struct kvb_policy p, old;
	int l;

	for (l = 98; l >= 1; l--) {
		t = (uint64_t)l * n / 100;
		if (t > tmax || (exact && t != tmax))
			continue;
		if ((uint64_t)(l + 1) * n >= used_lb * 100)
			continue;
		break;
	}
	if (l < 1) {
		TH_LOG("no watermarks bring %llu chunks in use down to %llu",
		       (unsigned long long)used_lb, (unsigned long long)tmax);
		_metadata->passed = 0;
		return -1;
	}
	/* restoring them must not start eviction again */
	if (set_pol(s->fd, 0, 0, 0, &old) ||
	    t * 100 > n * old.high_watermark) {
		TH_LOG("%llu chunks are above the high watermark in force",
		       (unsigned long long)t);
		_metadata->passed = 0;
		return -1;
	}
	if (set_pol(s->fd, 0, l + 1, l, &p)) {
		TH_LOG("SET_POLICY %d/%d failed", l + 1, l);
		_metadata->passed = 0;
		return -1;
	}
	deadline = now_ns() + EV_DEADLINE;
	for (;;) {
		if (m)
			model_read(m);
		if (st_info(s->fd, &info)) {
			_metadata->passed = 0;
			return -1;
		}
		if (info.used_bytes <= t * s->chunk)
			break;
		if (now_ns() > deadline) {
			TH_LOG("eviction stuck at %llu chunks in use, target %llu",
			       (unsigned long long)(info.used_bytes / s->chunk),
			       (unsigned long long)t);
			_metadata->passed = 0;
			return -1;
		}
		if (m)
			model_wait(m, 100);
		else
			poll(NULL, 0, 2);	/* checking a condition, no race */
	}
	if (m)
		model_read(m);
	EXPECT_EQ(t * s->chunk, info.used_bytes);
	/* the watermarks as they were: nothing more is evicted */
	if (set_pol(s->fd, 0, old.high_watermark, old.low_watermark, NULL)) {
		TH_LOG("SET_POLICY %u/%u failed", old.high_watermark,
		       old.low_watermark);
		_metadata->passed = 0;
		return -1;
	}
	return (long)t;
}

/*
 * Bring eviction to rest with no writer running: lower the watermarks
 * below the used space and below the current low watermark's target, so
 * that a round in progress ends at the new target too. Returns the chunks
 * in use afterwards.
 */
static long quiesce(struct __test_metadata *_metadata, const struct store *s,
		    struct model *m)
{
	struct kvb_store_info info;
	uint64_t used, old_target;

	if (st_info(s->fd, &info))
		return -1;
	used = info.used_bytes / s->chunk;
	old_target = (uint64_t)info.low_watermark * s->nchunks / 100;
	if (old_target < used)
		used = old_target;
	/* an eviction decided before the call may still land: one less */
	if (used < 3) {
		TH_LOG("too little in use to quiesce: %llu chunks",
		       (unsigned long long)used);
		_metadata->passed = 0;
		return -1;
	}
	return evict_to(_metadata, s, used - 2, used - 1, false, m);
}

/* ==== the fixtures ======================================================= */

FIXTURE(ev) {
	struct store s;
};

FIXTURE_SETUP(ev)
{
	evs_setup(_metadata, &self->s);
}

FIXTURE_TEARDOWN(ev)
{
	evs_teardown(_metadata, &self->s);
}

FIXTURE(pol) {
	struct store s;
};

FIXTURE_VARIANT(pol) {
	uint32_t policy;
};

FIXTURE_VARIANT_ADD(pol, fifo) {
	.policy = KVB_POLICY_FIFO,
};

FIXTURE_VARIANT_ADD(pol, lru) {
	.policy = KVB_POLICY_LRU,
};

FIXTURE_VARIANT_ADD(pol, lfu) {
	.policy = KVB_POLICY_LFU,
};

FIXTURE_SETUP(pol)
{
	evs_setup(_metadata, &self->s);
}

FIXTURE_TEARDOWN(pol)
{
	evs_teardown(_metadata, &self->s);
}

/* ==== 1, 2: 5x the capacity under each policy ============================ */

#define RUN_KPB		4
#define RUN_VMIN	(16U << 10)
#define RUN_VSPAN	(16U << 10)
#define NHOT		6
#define NEARLY		6
#define EARLY_LOADS	16

/*
 * Buckets 0..5 (write order) are hot: one key of each is loaded after
 * every OFFLOAD, all along. Buckets 6..11 are early: loaded once per step
 * for the 16 steps after they are written, then never. The rest are
 * written and, now and then, sampled. Every step also QUERYs three random
 * keys of the model and LOADs one (of a plain bucket, so that the script
 * stays what it is), and reads the events before and after.
 *
 * Expectations, from the rules: FIFO keeps the newest; the hot and early
 * sets go like any other. LRU keeps the hot set and evicts the early set.
 * LFU keeps the hot set; the early set (count 16, aged 16 -> 8 -> 4 -> 2
 * -> 1 -> 0 one epoch = half the capacity at a time) outlives the plain
 * buckets written in the half capacity after it that were never loaded,
 * and is evicted in the end, once its count aged away.
 */
TEST_F_TIMEOUT(pol, turnover_5x, 900)
{
	struct store *s = &self->s;
	uint32_t policy = variant->policy;
	struct kvb_store_info info;
	struct mkey k[RUN_KPB];
	uint64_t hot[NHOT], early[NEARLY], rng = 0x1234 + policy;
	uint64_t id, t0, t1, ids[NHOT + NEARLY], nsteps, step, first_early_out;
	uint32_t js[NHOT + NEARLY], i, j, n, cls;
	struct model m;
	char name[16];
	long kept;

	ATTACH(s, KVB_ATTACH_FORMAT, policy, 0, 0);
	ASSERT_EQ(0, st_info(s->fd, &info));
	EXPECT_EQ(policy, info.policy);
	EXPECT_EQ(KVB_DEFAULT_HIGH_WATERMARK, info.high_watermark);
	EXPECT_EQ(KVB_DEFAULT_LOW_WATERMARK, info.low_watermark);
	ASSERT_EQ(0, sysfs_read(s->id, "policy", name, sizeof(name)));
	name[strcspn(name, "\n")] = 0;
	EXPECT_STREQ(pol_name(policy), name);

	nsteps = 5 * s->nchunks + NHOT + NEARLY;
	model_init(&m, _metadata, s, nsteps * RUN_KPB + 64, nsteps + 64);
	ASSERT_TRUE(model_ok(&m));
	m.policy = policy;
	m.order_mask = 1U << policy;
	m.fifo_ids = policy == KVB_POLICY_FIFO;

	for (step = 0; step < nsteps && m.errs < 25; step++) {
		cls = step < NHOT ? C_HOT : step < NHOT + NEARLY ? C_EARLY :
		      C_REG;
		for (j = 0; j < RUN_KPB; j++)
			mk(&k[j], pol_name(policy), step, j, RUN_VMIN, RUN_VSPAN);
		ASSERT_EQ(0, put_keys(s->fd, k, RUN_KPB, m.pool, &id, &t0, &t1))
			TH_LOG("OFFLOAD of bucket %llu (write order)",
			       (unsigned long long)step);
		ASSERT_NE(NULL, model_add(&m, k, RUN_KPB, id, cls, step, t0, t1))
			TH_LOG("bucket id %llu", (unsigned long long)id);
		if (cls == C_HOT)
			hot[step] = id;
		if (cls == C_EARLY)
			early[step - NHOT] = id;
		model_read(&m);

		/* the hot set, every step; the early set, 16 steps */
		n = 0;
		for (i = 0; i < NHOT && i < step + 1; i++)
			if (m.b[hot[i]].state == B_LIVE) {
				ids[n] = hot[i];
				js[n++] = step % RUN_KPB;
			}
		if (step >= NHOT + NEARLY &&
		    step < NHOT + NEARLY + EARLY_LOADS)
			for (i = 0; i < NEARLY; i++)
				if (m.b[early[i]].state == B_LIVE) {
					ids[n] = early[i];
					js[n++] = (step + i) % RUN_KPB;
				}
		if (n)
			check_load(&m, ids, js, n);

		/* samples: QUERY any three, LOAD one plain bucket's key */
		for (i = 0; i < 3; i++) {
			id = pick_live(&m, &rng, 1U << C_REG | 1U << C_HOT |
				       1U << C_EARLY);
			if (id)
				check_query(&m, id, splitmix64(&rng) % RUN_KPB);
		}
		id = pick_live(&m, &rng, 1U << C_REG);
		if (id) {
			ids[0] = id;
			js[0] = splitmix64(&rng) % RUN_KPB;
			check_load(&m, ids, js, 1);
		}
		model_read(&m);
	}
	ASSERT_EQ(0, m.errs) TH_LOG("stopped at step %llu",
				    (unsigned long long)step);

	kept = quiesce(_metadata, s, &m);
	ASSERT_LT(0, kept);
	ASSERT_EQ(0, st_info(s->fd, &info));
	EXPECT_EQ(kept, m.nlive);
	EXPECT_LE(nsteps - s->nchunks, m.nr_events) TH_LOG("5x turnover");

	/* what the policy keeps (before the final check loads everything) */
	for (i = 0; i < NHOT; i++) {
		if (policy == KVB_POLICY_FIFO) {
			EXPECT_EQ(B_GONE, m.b[hot[i]].state)
				TH_LOG("fifo kept the hot bucket %llu",
				       (unsigned long long)hot[i]);
		} else {
			EXPECT_EQ(B_LIVE, m.b[hot[i]].state)
				TH_LOG("%s evicted the hot bucket %llu (seq %llu)",
				       pol_name(policy),
				       (unsigned long long)hot[i],
				       (unsigned long long)m.b[hot[i]].evict_seq);
		}
	}
	first_early_out = ~0ULL;
	for (i = 0; i < NEARLY; i++) {
		EXPECT_EQ(B_GONE, m.b[early[i]].state)
			TH_LOG("%s kept the early bucket %llu",
			       pol_name(policy), (unsigned long long)early[i]);
		EXPECT_EQ(EARLY_LOADS, m.b[early[i]].loads);
		if (m.b[early[i]].evict_seq < first_early_out)
			first_early_out = m.b[early[i]].evict_seq;
	}
	if (policy == KVB_POLICY_LFU) {
		/*
		 * Plain buckets written in the half capacity after the early
		 * set and never loaded went before any early bucket: the
		 * early set's count needs 5 epochs to age from 16 to 0.
		 */
		for (id = 1; id <= m.max_id; id++) {
			struct mbkt *b = &m.b[id];

			if (b->cls != C_REG || b->loads ||
			    b->widx > NHOT + NEARLY + s->nchunks / 2)
				continue;
			EXPECT_EQ(B_GONE, b->state);
			EXPECT_LT(b->evict_seq, first_early_out)
				TH_LOG("lfu evicted an early bucket (seq %llu) before bucket %llu, never loaded (seq %llu)",
				       (unsigned long long)first_early_out,
				       (unsigned long long)id,
				       (unsigned long long)b->evict_seq);
		}
	}
	TH_LOG("%s: %llu buckets written, %llu evicted (%llu keys), %llu kept",
	       pol_name(policy), (unsigned long long)nsteps,
	       (unsigned long long)m.nr_events,
	       (unsigned long long)m.ev_keys, (unsigned long long)m.nlive);
	model_final(&m);
	model_free(&m);
}

/* ==== exact victim order ================================================ */

#define EX_KPB		4
#define EX_VLEN		4096U

/* Write bucket widx (tag) of EX_KPB keys into the model. */
static void ex_put(struct __test_metadata *_metadata, struct model *m,
		   const char *tag, uint32_t widx, uint64_t *id)
{
	struct mkey k[EX_KPB];
	uint64_t t0, t1;
	uint32_t j;

	for (j = 0; j < EX_KPB; j++)
		mk(&k[j], tag, widx, j, EX_VLEN, 0);
	ASSERT_EQ(0, put_keys(m->fd, k, EX_KPB, m->pool, id, &t0, &t1));
	ASSERT_NE(NULL, model_add(m, k, EX_KPB, *id, C_REG, widx, t0, t1));
}

/* LOAD keys js[0..n) of one bucket in one call (one run). */
static void ex_load(struct model *m, uint64_t id, const uint32_t *js,
		    uint32_t n)
{
	uint64_t ids[EV_MAX_KPB];
	uint32_t i;

	for (i = 0; i < n; i++)
		ids[i] = id;
	check_load(m, ids, js, n);
}

static const uint32_t key0[] = { 0 };
static const uint32_t all4[] = { 0, 1, 2, 3 };

/* The events since the model's event from are exactly want[0..n). */
static void expect_order(struct __test_metadata *_metadata, struct model *m,
			 uint64_t from, const uint64_t *want, uint32_t n)
{
	uint32_t i;

	EXPECT_EQ(from + n, m->nr_events);
	for (i = 0; i < n && from + i < m->nr_events; i++) {
		EXPECT_EQ(want[i], m->order[from + i])
			TH_LOG("eviction %u: bucket %llu, expected %llu", i,
			       (unsigned long long)m->order[from + i],
			       (unsigned long long)want[i]);
	}
}

TEST_F_TIMEOUT(ev, fifo_order_exact, 300)
{
	struct store *s = &self->s;
	uint64_t b[10], want[6];
	struct model m;
	uint32_t i;

	ATTACH(s, KVB_ATTACH_FORMAT, 0, 0, 0);
	model_init(&m, _metadata, s, 256, 256);
	ASSERT_TRUE(model_ok(&m));
	m.policy = KVB_POLICY_FIFO;
	for (i = 0; i < 10; i++)
		ex_put(_metadata, &m, "ff", i, &b[i]);
	/* loads change nothing under FIFO */
	ex_load(&m, b[0], all4, 4);
	ex_load(&m, b[1], key0, 1);
	ASSERT_EQ(4, evict_to(_metadata, s, 4, 10, true, &m));
	for (i = 0; i < 6; i++)
		want[i] = b[i];
	expect_order(_metadata, &m, 0, want, 6);
	model_final(&m);
	model_free(&m);
}

/*
 * LRU: the bucket loaded least recently goes first, a bucket never loaded
 * counting from its commit; buckets found at attach count as loaded at
 * time 0.
 */
TEST_F_TIMEOUT(ev, lru_order_exact, 300)
{
	struct store *s = &self->s;
	uint64_t b[10], c[2], want[8];
	struct model m;
	uint32_t i;
	char buf[64];

	ATTACH(s, KVB_ATTACH_FORMAT, KVB_POLICY_LRU, 0, 0);
	model_init(&m, _metadata, s, 256, 256);
	ASSERT_TRUE(model_ok(&m));
	m.policy = KVB_POLICY_LRU;
	/*
	 * b1 is loaded between the commits of b4 and b5, b3 then b7 after
	 * b9's (each load 1 ms after the bucket's last access, so that it
	 * moves its atime): b0 b2 b4, b1, b5 b6 b8 b9, b3, b7.
	 */
	for (i = 0; i < 5; i++)
		ex_put(_metadata, &m, "lr", i, &b[i]);
	wait_clock(m.b[b[4]].off_end + 2000000);
	ex_load(&m, b[1], key0, 1);
	for (i = 5; i < 10; i++)
		ex_put(_metadata, &m, "lr", i, &b[i]);
	wait_clock(m.b[b[9]].off_end + 2000000);
	ex_load(&m, b[3], all4, 4);
	ex_load(&m, b[7], all4 + 2, 2);
	ASSERT_EQ(2, evict_to(_metadata, s, 2, 10, true, &m));
	want[0] = b[0];
	want[1] = b[2];
	want[2] = b[4];
	want[3] = b[1];
	want[4] = b[5];
	want[5] = b[6];
	want[6] = b[8];
	want[7] = b[9];
	expect_order(_metadata, &m, 0, want, 8);
	model_final(&m);

	/* the old file sees end of file once the store is detached */
	{
		int old = dup(s->evfd);

		ASSERT_LE(0, old);
		ASSERT_EQ(0, store_detach(s));
		EXPECT_EQ(0, read(old, buf, sizeof(buf)));
		close(old);
	}
	/*
	 * Attach again: b3 and b7 are found, with atime 0. c0, c1 are new;
	 * b7 is loaded after them: b3, then c0 go first.
	 */
	ATTACH(s, 0, KVB_POLICY_LRU, 0, 0);
	m.fd = s->fd;
	m.evfd = s->evfd;
	m.id = s->id;
	m.next_seq = 1;		/* events are numbered per attach */
	ex_put(_metadata, &m, "lr", 10, &c[0]);
	ex_put(_metadata, &m, "lr", 11, &c[1]);
	EXPECT_LT(b[9], c[0]);
	wait_clock(m.b[c[1]].off_end + 2000000);
	ex_load(&m, b[7], key0, 1);
	ASSERT_EQ(2, evict_to(_metadata, s, 2, 4, true, &m));
	EXPECT_EQ(10, m.nr_events);
	if (m.nr_events == 10) {
		EXPECT_EQ(b[3], m.order[8]);
		EXPECT_EQ(c[0], m.order[9]);
	}
	/* the counters are per attach */
	{
		struct kvb_store_info info;

		ASSERT_EQ(0, st_info(s->fd, &info));
		EXPECT_EQ(2, info.nr_evicted);
		EXPECT_EQ(2 * EX_KPB, info.evicted_keys);
	}
	EXPECT_EQ(B_LIVE, m.b[b[7]].state);
	EXPECT_EQ(B_LIVE, m.b[c[1]].state);
	model_free(&m);
}

/*
 * LFU: fewest loads first. A LOAD counts once per run of consecutive keys
 * of one bucket; the count is exact up to 16; per epoch (half the
 * capacity written) a count <= 16 halves and a larger one loses 8 but not
 * below 16.
 */
TEST_F_TIMEOUT(ev, lfu_order_exact, 300)
{
	struct store *s = &self->s;
	uint64_t b[10], d, f[64], want[80], id, t1;
	const struct mkey *kp[4];
	struct model m;
	uint32_t i, n, half, nf;
	int st[4];

	ATTACH(s, KVB_ATTACH_FORMAT, KVB_POLICY_LFU, 0, 0);
	model_init(&m, _metadata, s, 512, 512);
	ASSERT_TRUE(model_ok(&m));
	m.policy = KVB_POLICY_LFU;
	/* commits that make the first epoch: half the capacity, rounded up */
	half = (s->nchunks * s->chunk / 2 + s->chunk - 1) / s->chunk;
	ASSERT_LT(12, half);
	nf = half - 11;

	/* epoch 0: b0..b9 and d */
	for (i = 0; i < 10; i++)
		ex_put(_metadata, &m, "lf", i, &b[i]);
	ex_put(_metadata, &m, "lf", 10, &d);
	for (i = 0; i < 3; i++)
		ex_load(&m, b[0], key0, 1);			/* 3 */
	ex_load(&m, b[1], all4, 4);				/* 1 */
	for (i = 0; i < 5; i++)
		ex_load(&m, b[2], all4 + (i % 4), 1);		/* 5 */
	ex_load(&m, b[3], all4, 2);
	ex_load(&m, b[3], all4 + 2, 2);				/* 2 */
	/* one LOAD: b4 k0 k1, b5 k0, b4 k2: b4 twice, b5 once */
	kp[0] = mkey_of(&m, &m.b[b[4]], 0);
	kp[1] = mkey_of(&m, &m.b[b[4]], 1);
	kp[2] = mkey_of(&m, &m.b[b[5]], 0);
	kp[3] = mkey_of(&m, &m.b[b[4]], 2);
	ASSERT_EQ(0, load_keys(s->fd, kp, 4, m.pool, st, NULL, &t1));
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, st[i]);
	}
	model_touch(&m, &m.b[b[4]], t1);
	model_touch(&m, &m.b[b[5]], t1);
	model_touch(&m, &m.b[b[4]], t1);
	ex_load(&m, b[6], all4, 4);				/* 1 */
	/* d: 40 loads, > 16 whatever the Morris counter drew (p 2^-24) */
	for (i = 0; i < 40; i++)
		ex_load(&m, d, key0, 1);
	/* b7, b8, b9: 0. Counts: b8 b9 b7 (0), b1 b5 b6 (1), b3 b4 (2)... */
	ASSERT_EQ(5, evict_to(_metadata, s, 5, 11, true, &m));
	want[0] = b[7];
	want[1] = b[8];
	want[2] = b[9];
	want[3] = b[1];
	want[4] = b[5];
	want[5] = b[6];
	expect_order(_metadata, &m, 0, want, 6);

	/* f0..: the last one's commit starts epoch 1 */
	for (i = 0; i < nf; i++)
		ex_put(_metadata, &m, "lf", 11 + i, &f[i]);
	ASSERT_EQ(half, m.committed);
	ASSERT_EQ(1, model_epoch(&m));
	/*
	 * Epoch 1: b0 3 -> 1, +1 = 2; b2 5 -> 2; b3 2 -> 1; b4 2 -> 1;
	 * d >= 17 -> >= 16; f1 3 loads: 3; f0 15 loads: 15. Without aging
	 * f1 would go before b0 (4) and b2 (5); if d had halved instead,
	 * d <= 15 would go before f0, as the older one.
	 */
	ex_load(&m, b[0], key0, 1);
	for (i = 0; i < 3; i++)
		ex_load(&m, f[1], all4 + i, 1);
	for (i = 0; i < 15; i++)
		ex_load(&m, f[0], key0, 1);
	ASSERT_EQ(1, evict_to(_metadata, s, 1, 5 + nf, true, &m));
	n = 0;
	for (i = 2; i < nf; i++)
		want[n++] = f[i];
	want[n++] = b[3];
	want[n++] = b[4];
	want[n++] = b[0];
	want[n++] = b[2];
	want[n++] = f[1];
	want[n++] = f[0];
	expect_order(_metadata, &m, 6, want, n);
	EXPECT_EQ(B_LIVE, m.b[d].state);
	for (id = 1; id <= m.max_id; id++)
		if (id != d) {
			EXPECT_NE(B_LIVE, m.b[id].state);
		}
	model_final(&m);
	model_free(&m);
}

/* ==== 3: loads racing the eviction of their bucket ===================== */

#define RACE_KPB	128	/* a long key loop in the eviction's critical section */
#define RACE_VMIN	512U
#define RACE_VSPAN	512U
#define RACE_LOADERS	2

struct race {
	int fd;
	uint32_t id;
	uint32_t nb;			/* buckets the writer writes */
	uint64_t bcap;
	uint64_t *ids;			/* write index -> bucket id */
	_Atomic uint32_t written;	/* ids[0..written) are published */
	_Atomic uint32_t *widx_of;	/* bucket id -> write index + 1 */
	_Atomic uint8_t *evicted;	/* bucket id -> its event was read */
	_Atomic uint64_t evicted_upto;	/* the last bucket evicted */
	_Atomic int stop_loaders, stop_reader;
	int writer_err;
	/* results */
	_Atomic unsigned long loads, found, enoent, bad, after_event;
	_Atomic unsigned long enoent_early, reader_bad, reader_events;
	_Atomic unsigned long reader_keys;
	pthread_mutex_t mu;
	char msg[4][256];		/* the first problem of each kind */
};

enum { RM_LOADER, RM_EARLY, RM_AFTER, RM_READER };

static void race_msg(struct race *r, int kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void race_msg(struct race *r, int kind, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&r->mu);
	if (!r->msg[kind][0]) {
		va_start(ap, fmt);
		vsnprintf(r->msg[kind], sizeof(r->msg[kind]), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&r->mu);
}

static void race_key(struct mkey *k, uint32_t widx, uint32_t j)
{
	mk(k, "race", widx, j, RACE_VMIN, RACE_VSPAN);
}

static void *race_writer(void *arg)
{
	struct race *r = arg;
	struct mkey *k = calloc(RACE_KPB, sizeof(*k));
	uint8_t *pool = malloc(RACE_KPB * (RACE_VMIN + RACE_VSPAN));
	uint64_t id, t0, t1;
	uint32_t i, j;
	int ret;

	if (!k || !pool) {
		r->writer_err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < r->nb; i++) {
		for (j = 0; j < RACE_KPB; j++)
			race_key(&k[j], i, j);
		ret = put_keys(r->fd, k, RACE_KPB, pool, &id, &t0, &t1);
		if (!ret && id >= r->bcap)
			ret = -ERANGE;
		if (ret) {
			r->writer_err = ret;
			break;
		}
		r->ids[i] = id;
		atomic_store_explicit(&r->widx_of[id], i + 1,
				      memory_order_release);
		atomic_store_explicit(&r->written, i + 1, memory_order_release);
	}
out:
	free(k);
	free(pool);
	return NULL;
}

/* The write index of bucket id, waiting for the writer to publish it. */
static long race_widx(struct race *r, uint64_t id)
{
	uint64_t deadline = now_ns() + 30 * NSEC;
	uint32_t w;

	if (!id || id >= r->bcap)
		return -1;
	while (!(w = atomic_load_explicit(&r->widx_of[id],
					  memory_order_acquire))) {
		if (now_ns() > deadline)
			return -1;
		sched_yield();
	}
	return w - 1;
}

/*
 * Check one EVICT record of the race (its bucket's 32 keys, exactly).
 * Returns the bucket id, or 0 (reported).
 */
static uint64_t race_check_event(struct race *r, const struct kvb_event *e,
				 uint64_t *seq, const char *who)
{
	const struct kvb_key_rec *kr = kvb_event_keys(e);
	const char *end = (const char *)e + e->rec_len;
	struct mkey k;
	uint32_t j;
	long w;

	if (e->type != KVB_EVENT_EVICT || e->seq != *seq) {
		race_msg(r, RM_READER, "%s: record type %u seq %llu, expected EVICT seq %llu",
			 who, e->type, (unsigned long long)e->seq,
			 (unsigned long long)*seq);
		return 0;
	}
	(*seq)++;
	w = race_widx(r, e->bucket_id);
	if (w < 0 || e->nr_keys != RACE_KPB ||
	    e->policy != KVB_POLICY_FIFO) {
		race_msg(r, RM_READER, "%s: event %llu: bucket %llu (write index %ld), %u keys, policy %u",
			 who, (unsigned long long)e->seq,
			 (unsigned long long)e->bucket_id, w, e->nr_keys,
			 e->policy);
		return 0;
	}
	for (j = 0; j < RACE_KPB; j++, kr = kvb_key_rec_next(kr)) {
		race_key(&k, w, j);
		if (!keyrec_ok(kr, end) || !keyrec_is(kr, &k)) {
			race_msg(r, RM_READER, "%s: event %llu: key %u is not %s",
				 who, (unsigned long long)e->seq, j, k.name);
			return 0;
		}
	}
	return e->bucket_id;
}

/*
 * The event reader: reads its own descriptor, checks each record and
 * publishes the bucket as evicted (release), so that a loader that sees
 * the flag (acquire) starts its LOAD after the event was read.
 */
static void *race_reader(void *arg)
{
	struct race *r = ((void **)arg)[0];
	int fd = (int)(intptr_t)((void **)arg)[1];
	size_t len = 1 << 20;
	char *buf = malloc(len);
	uint64_t seq = 1, id, upto = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (!buf) {
		atomic_fetch_add(&r->reader_bad, 1);
		return NULL;
	}
	for (;;) {
		ssize_t n = read(fd, buf, len), off = 0;

		if (n < 0 && errno == EAGAIN) {
			if (atomic_load(&r->stop_reader))
				break;
			poll(&p, 1, 200);
			continue;
		}
		if (n <= 0) {
			race_msg(r, RM_READER, "reader: read: %zd %s", n,
				 n ? strerror(errno) : "");
			atomic_fetch_add(&r->reader_bad, 1);
			break;
		}
		while (off < n) {
			const struct kvb_event *e = (void *)(buf + off);

			id = race_check_event(r, e, &seq, "reader");
			if (!id) {
				atomic_fetch_add(&r->reader_bad, 1);
				goto out;
			}
			if (id <= upto) {
				race_msg(r, RM_READER, "reader: fifo evicted bucket %llu after %llu",
					 (unsigned long long)id,
					 (unsigned long long)upto);
				atomic_fetch_add(&r->reader_bad, 1);
			}
			upto = id;
			atomic_store_explicit(&r->evicted[id], 1,
					      memory_order_release);
			atomic_store_explicit(&r->evicted_upto, id,
					      memory_order_release);
			atomic_fetch_add(&r->reader_events, 1);
			atomic_fetch_add(&r->reader_keys, e->nr_keys);
			off += e->rec_len;
		}
	}
out:
	free(buf);
	return NULL;
}

struct race_loader {
	struct race *r;
	int evfd;		/* its own: opened before anything was evicted */
	unsigned int t;
};

/*
 * A loader. Loader 0 chases the frontier: it loads key 0 (the first key
 * the eviction takes out of the index) of the oldest bucket it has not
 * seen gone, over and over, until it is gone, then moves to the next: it
 * is loading each bucket as it is evicted. Loader 1 loads the next bucket
 * or two after the last event the reader published, and now and then any
 * bucket. Every result is exact bytes or -ENOENT. -ENOENT means the event
 * is queued: the loader finds it on its own descriptor, without waiting.
 * A bucket whose event the reader had published before the LOAD began
 * returns -ENOENT.
 */
static void *race_loader(void *arg)
{
	struct race_loader *l = arg;
	struct race *r = l->r;
	uint8_t *seen = calloc(r->bcap, 1);
	uint8_t *pool = malloc(2 * (RACE_VMIN + RACE_VSPAN));
	size_t blen = 1 << 20;
	char *buf = malloc(blen);
	uint64_t rng = 0xfeed + l->t, seq = 1, id, upto;
	uint32_t frontier = 0;
	struct mkey k[2];
	const struct mkey *kp[2] = { &k[0], &k[1] };
	uint32_t w, widx, n, i;
	int st[2], before, ret;

	if (!seen || !pool || !buf) {
		race_msg(r, RM_LOADER, "loader: out of memory");
		atomic_fetch_add(&r->bad, 1);
		goto out;
	}
	while (!atomic_load(&r->stop_loaders)) {
		w = atomic_load_explicit(&r->written, memory_order_acquire);
		if (w < 2) {
			sched_yield();
			continue;
		}
		upto = atomic_load_explicit(&r->evicted_upto,
					    memory_order_acquire);
		widx = splitmix64(&rng) % w;
		if (!l->t) {
			if (frontier >= w) {
				sched_yield();
				continue;
			}
			widx = frontier;
		} else if (splitmix64(&rng) % 8) {
			/* the oldest live bucket, or the next one */
			id = upto + 1 + splitmix64(&rng) % 2;
			if (id < r->bcap) {
				uint32_t x = atomic_load_explicit(&r->widx_of[id],
								  memory_order_acquire);

				if (x && x - 1 < w)
					widx = x - 1;
			}
		}
		id = r->ids[widx];
		before = atomic_load_explicit(&r->evicted[id],
					      memory_order_acquire);
		race_key(&k[0], widx, 0);
		n = 1;
		if (!(splitmix64(&rng) % 4)) {
			race_key(&k[1], widx, 1 + splitmix64(&rng) %
				 (RACE_KPB - 1));
			n = 2;
		}
		ret = load_keys(r->fd, kp, n, pool, st, NULL, NULL);
		atomic_fetch_add(&r->loads, 1);
		if (ret) {
			race_msg(r, RM_LOADER, "LOAD %s: %d", k[0].name, ret);
			atomic_fetch_add(&r->bad, 1);
			continue;
		}
		for (i = 0; i < n; i++) {
			if (!st[i]) {
				atomic_fetch_add(&r->found, 1);
				if (before) {
					race_msg(r, RM_AFTER, "LOAD %s returned its bytes, started after the eviction event of bucket %llu was read",
						 k[i].name,
						 (unsigned long long)id);
					atomic_fetch_add(&r->after_event, 1);
				}
				continue;
			}
			if (st[i] != -ENOENT) {
				race_msg(r, RM_LOADER, "LOAD %s: status %d (-EILSEQ: wrong bytes)",
					 k[i].name, st[i]);
				atomic_fetch_add(&r->bad, 1);
				continue;
			}
			atomic_fetch_add(&r->enoent, 1);
			/* the event must be queued: read what is there */
			while (!seen[id]) {
				ssize_t rn = read(l->evfd, buf, blen), off = 0;

				if (rn < 0 && errno == EAGAIN)
					break;
				if (rn <= 0) {
					race_msg(r, RM_LOADER, "loader read: %zd %s",
						 rn, rn ? strerror(errno) : "");
					atomic_fetch_add(&r->bad, 1);
					goto out;
				}
				while (off < rn) {
					const struct kvb_event *e = (void *)(buf + off);
					uint64_t eid = race_check_event(r, e, &seq,
									"loader");

					if (!eid) {
						atomic_fetch_add(&r->reader_bad, 1);
						goto out;
					}
					seen[eid] = 1;
					off += e->rec_len;
				}
			}
			if (!seen[id]) {
				race_msg(r, RM_EARLY, "LOAD %s: -ENOENT while the eviction event of bucket %llu was not queued yet",
					 k[i].name, (unsigned long long)id);
				atomic_fetch_add(&r->enoent_early, 1);
			}
			if (!l->t && widx == frontier)
				frontier++;
		}
	}
out:
	free(seen);
	free(pool);
	free(buf);
	return NULL;
}

TEST_F_TIMEOUT(ev, loads_race_eviction, 900)
{
	struct store *s = &self->s;
	struct race_loader ld[RACE_LOADERS];
	pthread_t wt, rt, lt[RACE_LOADERS];
	struct kvb_store_info info;
	struct race *r;
	void *rarg[2];
	char path[64];
	int rfd, i;
	long kept;
	uint32_t w, j;

	ATTACH(s, KVB_ATTACH_FORMAT, 0, 0, 0);
	r = calloc(1, sizeof(*r));
	ASSERT_NE(NULL, r);
	r->fd = s->fd;
	r->id = s->id;
	r->nb = 6 * s->nchunks;
	r->bcap = r->nb + 16;
	r->ids = calloc(r->nb, sizeof(*r->ids));
	r->widx_of = calloc(r->bcap, sizeof(*r->widx_of));
	r->evicted = calloc(r->bcap, sizeof(*r->evicted));
	ASSERT_TRUE(r->ids && r->widx_of && r->evicted);
	pthread_mutex_init(&r->mu, NULL);

	store_path(s->id, path, sizeof(path));
	rfd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	ASSERT_LE(0, rfd);
	rarg[0] = r;
	rarg[1] = (void *)(intptr_t)rfd;
	for (i = 0; i < RACE_LOADERS; i++) {
		ld[i].r = r;
		ld[i].t = i;
		ld[i].evfd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		ASSERT_LE(0, ld[i].evfd);
	}
	ASSERT_EQ(0, pthread_create(&rt, NULL, race_reader, rarg));
	for (i = 0; i < RACE_LOADERS; i++) {
		ASSERT_EQ(0, pthread_create(&lt[i], NULL, race_loader, &ld[i]));
	}
	ASSERT_EQ(0, pthread_create(&wt, NULL, race_writer, r));
	pthread_join(wt, NULL);
	atomic_store(&r->stop_loaders, 1);
	for (i = 0; i < RACE_LOADERS; i++)
		pthread_join(lt[i], NULL);
	EXPECT_EQ(0, r->writer_err);

	kept = quiesce(_metadata, s, NULL);
	atomic_store(&r->stop_reader, 1);
	pthread_join(rt, NULL);
	for (i = 0; i < RACE_LOADERS; i++)
		close(ld[i].evfd);
	close(rfd);

	TH_LOG("%lu loads: %lu found, %lu -ENOENT; %lu evictions",
	       atomic_load(&r->loads), atomic_load(&r->found),
	       atomic_load(&r->enoent), atomic_load(&r->reader_events));
	for (i = 0; i < 4; i++)
		if (r->msg[i][0])
			TH_LOG("%s", r->msg[i]);
	EXPECT_EQ(0, atomic_load(&r->bad));
	EXPECT_EQ(0, atomic_load(&r->reader_bad));
	EXPECT_EQ(0, atomic_load(&r->after_event));
	EXPECT_EQ(0, atomic_load(&r->enoent_early))
		TH_LOG("a LOAD found a key gone before its eviction event was queued");
	EXPECT_LT(0, atomic_load(&r->loads));

	/* the reader saw every eviction; what it did not see is all there */
	ASSERT_LT(0, kept);
	ASSERT_EQ(0, st_info(s->fd, &info));
	EXPECT_EQ(atomic_load(&r->reader_events), info.nr_evicted);
	EXPECT_EQ(atomic_load(&r->reader_keys), info.evicted_keys);
	EXPECT_EQ(info.nr_evicted * RACE_KPB, info.evicted_keys);
	EXPECT_EQ(0, info.events_lost);
	EXPECT_EQ((uint64_t)kept, info.nr_buckets);
	w = atomic_load(&r->written);
	EXPECT_EQ(r->nb, w);
	EXPECT_EQ(w, info.nr_evicted + info.nr_buckets);
	{
		uint8_t *pool = malloc(RACE_KPB * (RACE_VMIN + RACE_VSPAN));
		struct mkey *k = calloc(RACE_KPB, sizeof(*k));
		const struct mkey *kp[RACE_KPB];
		int st[RACE_KPB];
		uint32_t x;

		ASSERT_TRUE(pool && k);
		for (x = 0; x < w; x++) {
			uint64_t id = r->ids[x];

			for (j = 0; j < RACE_KPB; j++) {
				race_key(&k[j], x, j);
				kp[j] = &k[j];
			}
			ASSERT_EQ(0, load_keys(s->fd, kp, RACE_KPB, pool, st,
					       NULL, NULL));
			for (j = 0; j < RACE_KPB; j++) {
				EXPECT_EQ(r->evicted[id] ? -ENOENT : 0, st[j])
					TH_LOG("%s (bucket %llu)", k[j].name,
					       (unsigned long long)id);
			}
		}
		free(pool);
		free(k);
	}
	pthread_mutex_destroy(&r->mu);
	free(r->ids);
	free(r->widx_of);
	free(r->evicted);
	free(r);
}

/* ==== concurrent writers and a loader over a shared model =============== */

#define MT_KPB		4
#define MT_VMIN		(8U << 10)
#define MT_VSPAN	(8U << 10)
#define MT_WRITERS_MAX	4

struct mt {
	struct model *m;
	pthread_mutex_t mu;		/* the model */
	int fd;
	uint32_t per_writer;
	_Atomic int stop;
	_Atomic uint32_t progress;	/* buckets written, all writers */
	_Atomic uint32_t writers_done;
	_Atomic unsigned long errors, loads, found, gone_checked;
	char msg[256];
	uint64_t *enoent_ids;		/* buckets a LOAD found gone (mu) */
	size_t nenoent, cap;
};

struct mt_writer {
	struct mt *t;
	unsigned int w;
};

static void mt_error(struct mt *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void mt_error(struct mt *t, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&t->mu);
	if (!t->msg[0]) {
		va_start(ap, fmt);
		vsnprintf(t->msg, sizeof(t->msg), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&t->mu);
	atomic_fetch_add(&t->errors, 1);
}

static void *mt_writer(void *arg)
{
	struct mt_writer *wr = arg;
	struct mt *t = wr->t;
	uint8_t *pool = malloc(MT_KPB * (MT_VMIN + MT_VSPAN));
	struct mkey k[MT_KPB];
	uint64_t id, t0, t1;
	char tag[8];
	uint32_t i, j;
	int ret;

	snprintf(tag, sizeof(tag), "w%u", wr->w);
	for (i = 0; pool && i < t->per_writer; i++) {
		for (j = 0; j < MT_KPB; j++)
			mk(&k[j], tag, i, j, MT_VMIN, MT_VSPAN);
		ret = put_keys(t->fd, k, MT_KPB, pool, &id, &t0, &t1);
		if (ret) {
			mt_error(t, "writer %u: OFFLOAD %s: %d", wr->w,
				 k[0].name, ret);
			break;
		}
		pthread_mutex_lock(&t->mu);
		if (!model_add(t->m, k, MT_KPB, id, C_REG, i, t0, t1)) {
			pthread_mutex_unlock(&t->mu);
			mt_error(t, "writer %u: bucket %llu twice", wr->w,
				 (unsigned long long)id);
			break;
		}
		pthread_mutex_unlock(&t->mu);
		atomic_fetch_add(&t->progress, 1);
	}
	if (!pool)
		mt_error(t, "writer: out of memory");
	free(pool);
	atomic_fetch_add(&t->writers_done, 1);
	return NULL;
}

/*
 * Random loads of the model's keys: a live bucket's key gives its bytes
 * or -ENOENT (then the bucket must turn out evicted); a bucket whose event
 * the consumer has applied gives -ENOENT.
 */
static void *mt_loader(void *arg)
{
	struct mt *t = arg;
	struct model *m = t->m;
	uint8_t *pool = malloc(MT_VMIN + MT_VSPAN);
	uint64_t rng = 77, id = 0, i;
	struct mkey k;
	const struct mkey *kp[1] = { &k };
	bool gone;
	int st, ret;

	while (pool && !atomic_load(&t->stop)) {
		pthread_mutex_lock(&t->mu);
		gone = !(splitmix64(&rng) % 6);
		for (i = 0; i < 64; i++) {
			id = m->max_id ? 1 + splitmix64(&rng) % m->max_id : 0;
			if (id && m->b[id].state == (gone ? B_GONE : B_LIVE))
				break;
		}
		if (i == 64) {
			pthread_mutex_unlock(&t->mu);
			sched_yield();
			continue;
		}
		k = *mkey_of(m, &m->b[id], splitmix64(&rng) % MT_KPB);
		pthread_mutex_unlock(&t->mu);

		ret = load_keys(t->fd, kp, 1, pool, &st, NULL, NULL);
		atomic_fetch_add(&t->loads, 1);
		if (ret) {
			mt_error(t, "LOAD %s: %d", k.name, ret);
		} else if (gone) {
			atomic_fetch_add(&t->gone_checked, 1);
			if (st != -ENOENT)
				mt_error(t, "LOAD %s: status %d after the eviction event of bucket %llu was read",
					 k.name, st, (unsigned long long)id);
		} else if (st == -ENOENT) {
			pthread_mutex_lock(&t->mu);
			if (t->nenoent < t->cap)
				t->enoent_ids[t->nenoent++] = id;
			pthread_mutex_unlock(&t->mu);
		} else if (st) {
			mt_error(t, "LOAD %s: status %d (-EILSEQ: wrong bytes)",
				 k.name, st);
		} else {
			atomic_fetch_add(&t->found, 1);
		}
	}
	free(pool);
	return NULL;
}

static int mt_init(struct mt *t, struct model *m, int fd, uint32_t per_writer)
{
	memset(t, 0, sizeof(*t));
	t->m = m;
	t->fd = fd;
	t->per_writer = per_writer;
	t->cap = 1 << 16;
	t->enoent_ids = calloc(t->cap, sizeof(*t->enoent_ids));
	pthread_mutex_init(&t->mu, NULL);
	return t->enoent_ids ? 0 : -ENOMEM;
}

/* After the threads: no error, and every bucket a LOAD found gone went. */
static void mt_check(struct __test_metadata *_metadata, struct mt *t)
{
	size_t i;

	EXPECT_EQ(0, atomic_load(&t->errors)) TH_LOG("%s", t->msg);
	for (i = 0; i < t->nenoent; i++) {
		EXPECT_EQ(B_GONE, t->m->b[t->enoent_ids[i]].state)
			TH_LOG("a LOAD of bucket %llu returned -ENOENT, it was never reported evicted",
			       (unsigned long long)t->enoent_ids[i]);
	}
	free(t->enoent_ids);
	pthread_mutex_destroy(&t->mu);
}

/* ==== 4: policy and watermark changes under load ======================= */

struct chg {
	bool sysfs;
	uint32_t policy, high, low;	/* 0: unchanged */
};

static const struct chg chgs[] = {
	{ false, KVB_POLICY_LRU, 0, 0 },
	{ true, KVB_POLICY_LFU, 0, 0 },
	{ false, 0, 70, 50 },
	{ true, 0, 100, 95 },		/* eviction only for waiting writers */
	{ false, KVB_POLICY_FIFO, 95, 90 },
	{ true, KVB_POLICY_LRU, 40, 30 },	/* low first, then high */
	{ false, KVB_POLICY_LFU, 85, 75 },
	{ true, KVB_POLICY_FIFO, 90, 80 },
};

struct pol_state {
	uint32_t policy, high, low;
};

static void expect_pol_state(struct __test_metadata *_metadata,
			     const struct store *s, const struct pol_state *want)
{
	struct kvb_store_info info;
	char buf[32];
	uint64_t v;

	ASSERT_EQ(0, st_info(s->fd, &info));
	EXPECT_EQ(want->policy, info.policy);
	EXPECT_EQ(want->high, info.high_watermark);
	EXPECT_EQ(want->low, info.low_watermark);
	ASSERT_EQ(0, sysfs_read(s->id, "policy", buf, sizeof(buf)));
	buf[strcspn(buf, "\n")] = 0;
	EXPECT_STREQ(pol_name(want->policy), buf);
	ASSERT_EQ(0, sysfs_u64(s->id, "high_watermark", &v));
	EXPECT_EQ(want->high, v);
	ASSERT_EQ(0, sysfs_u64(s->id, "low_watermark", &v));
	EXPECT_EQ(want->low, v);
}

/*
 * Apply change c to the store (cur: what is in force). The policy is
 * logged before it can take effect, so that the consumer can check each
 * event's policy against the order they were set in. Then three invalid
 * changes, which must change nothing.
 */
static void apply_chg(struct __test_metadata *_metadata, const struct store *s,
		      const struct chg *c, struct pol_state *cur,
		      uint32_t *plog, _Atomic uint32_t *nplog)
{
	struct pol_state next = {
		c->policy ?: cur->policy, c->high ?: cur->high, c->low ?: cur->low,
	};
	struct kvb_policy p;
	uint32_t n;

	if (c->policy) {
		n = atomic_load(nplog);
		plog[n] = c->policy;
		atomic_store_explicit(nplog, n + 1, memory_order_release);
	}
	if (!c->sysfs) {
		ASSERT_EQ(0, set_pol(s->fd, c->policy, c->high, c->low, &p));
		EXPECT_EQ(next.policy, p.policy);
		EXPECT_EQ(next.high, p.high_watermark);
		EXPECT_EQ(next.low, p.low_watermark);
	} else {
		if (c->policy) {
			ASSERT_EQ(0, sysfs_write(s->id, "policy",
					       pol_name(c->policy)));
		}
		/* one at a time, low < high all along */
		if (c->high && c->high > cur->low) {
			ASSERT_EQ(0, sys_write_u64(s->id, "high_watermark",
						   c->high));
			if (c->low) {
				ASSERT_EQ(0, sys_write_u64(s->id,
							   "low_watermark",
							   c->low));
			}
		} else if (c->high || c->low) {
			if (c->low) {
				ASSERT_EQ(0, sys_write_u64(s->id,
							   "low_watermark",
							   c->low));
			}
			if (c->high) {
				ASSERT_EQ(0, sys_write_u64(s->id,
							   "high_watermark",
							   c->high));
			}
		}
	}
	*cur = next;
	expect_pol_state(_metadata, s, cur);

	/* refused, nothing changed */
	EXPECT_EQ(-EINVAL, set_pol(s->fd, 0, 0, cur->high, NULL));
	EXPECT_EQ(-EINVAL, sys_write_u64(s->id, "low_watermark", cur->high));
	EXPECT_EQ(-EINVAL, sys_write_u64(s->id, "high_watermark", cur->low));
	EXPECT_EQ(-EINVAL, sysfs_write(s->id, "policy", "mru"));
	expect_pol_state(_metadata, s, cur);
}

#define CHG_WRITERS	2
#define CHG_ROUNDS	3

TEST_F_TIMEOUT(ev, policy_changes_under_load, 900)
{
	struct store *s = &self->s;
	uint32_t nchg = CHG_ROUNDS * ARRAY_LEN(chgs), ci = 0, total, step;
	struct pol_state cur = { KVB_POLICY_FIFO, 90, 80 };
	struct mt_writer wr[CHG_WRITERS];
	pthread_t wt[CHG_WRITERS], lt;
	static uint32_t plog[256];
	static _Atomic uint32_t nplog;
	struct model m;
	struct mt t;
	long kept;
	int i;

	ATTACH(s, KVB_ATTACH_FORMAT, 0, 0, 0);
	total = 4 * s->nchunks;
	model_init(&m, _metadata, s, total * MT_KPB + 64, total + 64);
	ASSERT_TRUE(model_ok(&m));
	plog[0] = KVB_POLICY_FIFO;
	atomic_store(&nplog, 1);
	m.plog = plog;
	m.nplog = &nplog;
	m.order_mask = 1U << KVB_POLICY_FIFO;
	m.defer = true;
	ASSERT_EQ(0, mt_init(&t, &m, s->fd, total / CHG_WRITERS));
	total = t.per_writer * CHG_WRITERS;
	step = total / (nchg + 1);

	for (i = 0; i < CHG_WRITERS; i++) {
		wr[i].t = &t;
		wr[i].w = i;
		ASSERT_EQ(0, pthread_create(&wt[i], NULL, mt_writer, &wr[i]));
	}
	ASSERT_EQ(0, pthread_create(&lt, NULL, mt_loader, &t));

	/* this thread: consumer of the events and changer of the policy */
	for (;;) {
		bool done = atomic_load(&t.writers_done) == CHG_WRITERS;

		model_wait(&m, 50);
		pthread_mutex_lock(&t.mu);
		model_read(&m);
		pthread_mutex_unlock(&t.mu);
		while (ci < nchg &&
		       atomic_load(&t.progress) >= (ci + 1) * step) {
			apply_chg(_metadata, s, &chgs[ci % ARRAY_LEN(chgs)],
				  &cur, plog, &nplog);
			ci++;
		}
		if (done || m.errs >= 25)
			break;
	}
	for (i = 0; i < CHG_WRITERS; i++)
		pthread_join(wt[i], NULL);
	atomic_store(&t.stop, 1);
	pthread_join(lt, NULL);
	EXPECT_EQ(nchg, ci);
	EXPECT_EQ(total, atomic_load(&t.progress));

	kept = quiesce(_metadata, s, &m);
	ASSERT_LT(0, kept);
	mt_check(_metadata, &t);
	EXPECT_LT(0, atomic_load(&t.gone_checked));
	TH_LOG("%u buckets, %u changes, %llu evicted; %lu loads, %lu found, %lu of evicted buckets",
	       total, ci, (unsigned long long)m.nr_events,
	       atomic_load(&t.loads), atomic_load(&t.found),
	       atomic_load(&t.gone_checked));
	model_final(&m);
	model_free(&m);
}

/* ==== 6: an OFFLOAD into a full store waits ============================= */

#define FULL_WRITERS	3
#define FULL_PER	15

TEST_F_TIMEOUT(ev, full_store_waits, 600)
{
	struct store *s = &self->s;
	struct mt_writer wr[FULL_WRITERS];
	struct kvb_store_info info;
	pthread_t wt[FULL_WRITERS];
	struct mkey k[MT_KPB];
	uint64_t id, t0, t1, v, n0;
	struct model m;
	struct mt t;
	uint32_t i, j;
	char buf[64];
	long kept;

	/* high 100: eviction starts only for an OFFLOAD that finds no room */
	ATTACH(s, KVB_ATTACH_FORMAT, KVB_POLICY_FIFO, 100, 99);
	ASSERT_EQ(0, st_info(s->fd, &info));
	EXPECT_EQ(KVB_POLICY_FIFO, info.policy);
	EXPECT_EQ(100, info.high_watermark);
	EXPECT_EQ(99, info.low_watermark);
	ASSERT_EQ(0, sysfs_u64(s->id, "high_watermark", &v));
	EXPECT_EQ(100, v);
	model_init(&m, _metadata, s, 4096, 1024);
	ASSERT_TRUE(model_ok(&m));
	m.policy = KVB_POLICY_FIFO;
	m.order_mask = 1U << KVB_POLICY_FIFO;
	m.fifo_ids = true;
	m.defer = true;

	/* exactly full, nothing evicted, nobody waited */
	for (i = 0; i < s->nchunks; i++) {
		for (j = 0; j < MT_KPB; j++)
			mk(&k[j], "full", i, j, MT_VMIN, MT_VSPAN);
		ASSERT_EQ(0, put_keys(s->fd, k, MT_KPB, m.pool, &id, &t0, &t1));
		ASSERT_NE(NULL, model_add(&m, k, MT_KPB, id, C_REG, i, t0, t1));
	}
	ASSERT_EQ(0, st_info(s->fd, &info));
	EXPECT_EQ(info.capacity_bytes, info.used_bytes);
	EXPECT_EQ(0, info.free_bytes);
	EXPECT_EQ(0, info.nr_evicted);
	EXPECT_EQ(0, info.space_waits);
	EXPECT_EQ(-1, read(s->evfd, buf, sizeof(buf)));
	EXPECT_EQ(EAGAIN, errno);

	/* one more: it waits, the oldest goes, it succeeds */
	for (j = 0; j < MT_KPB; j++)
		mk(&k[j], "full", i, j, MT_VMIN, MT_VSPAN);
	ASSERT_EQ(0, put_keys(s->fd, k, MT_KPB, m.pool, &id, &t0, &t1));
	ASSERT_NE(NULL, model_add(&m, k, MT_KPB, id, C_REG, i, t0, t1));
	ASSERT_EQ(0, st_info(s->fd, &info));
	EXPECT_EQ(1, info.space_waits);
	EXPECT_LE(1, info.nr_evicted);
	ASSERT_EQ(0, sysfs_u64(s->id, "space_waits", &v));
	EXPECT_EQ(1, v);
	model_read(&m);
	ASSERT_LE(1, m.nr_events) TH_LOG("the eviction that made room is queued");
	EXPECT_EQ(1, m.order[0]);	/* bucket 1, the oldest */
	EXPECT_EQ(B_LIVE, m.b[id].state);
	n0 = info.space_waits;

	/* writers that outpace reclaim: each OFFLOAD needs an eviction */
	ASSERT_EQ(0, mt_init(&t, &m, s->fd, FULL_PER));
	for (i = 0; i < FULL_WRITERS; i++) {
		wr[i].t = &t;
		wr[i].w = i;
		ASSERT_EQ(0, pthread_create(&wt[i], NULL, mt_writer, &wr[i]));
	}
	while (atomic_load(&t.writers_done) < FULL_WRITERS) {
		model_wait(&m, 50);
		pthread_mutex_lock(&t.mu);
		model_read(&m);
		pthread_mutex_unlock(&t.mu);
		if (m.errs >= 25)
			break;
	}
	for (i = 0; i < FULL_WRITERS; i++)
		pthread_join(wt[i], NULL);
	EXPECT_EQ(FULL_WRITERS * FULL_PER, atomic_load(&t.progress));
	ASSERT_EQ(0, st_info(s->fd, &info));
	/*
	 * Only a waiting OFFLOAD makes eviction run, and a wait frees little
	 * more than one chunk: 45 OFFLOADs into a full store cannot all have
	 * found room.
	 */
	EXPECT_LT(n0, info.space_waits);
	EXPECT_LE(info.used_bytes, info.capacity_bytes);
	EXPECT_LE(1 + FULL_WRITERS * FULL_PER, info.nr_evicted);
	TH_LOG("%llu OFFLOADs waited, %llu buckets evicted",
	       (unsigned long long)info.space_waits,
	       (unsigned long long)info.nr_evicted);
	mt_check(_metadata, &t);

	kept = quiesce(_metadata, s, &m);
	ASSERT_LT(0, kept);
	model_final(&m);
	model_free(&m);
}

/* ==== 4: SET_POLICY and sysfs argument checking ========================== */

static void expect_pol(struct __test_metadata *_metadata, const struct store *s,
		       uint32_t policy, uint32_t high, uint32_t low)
{
	struct pol_state want = { policy, high, low };

	expect_pol_state(_metadata, s, &want);
}

TEST_F(ev, set_policy_args)
{
	static const struct { uint32_t policy, high, low; } bad[] = {
		{ KVB_POLICY_LFU + 1, 0, 0 },
		{ ~0U, 0, 0 },
		{ 0, 101, 0 },
		{ 0, ~0U, 0 },
		{ 0, 0, 100 },
		{ 0, 0, ~0U },
		{ 0, 0, 90 },			/* low = high in force */
		{ 0, 80, 0 },			/* high = low in force */
		{ 0, 50, 60 },
		{ 0, 50, 50 },
		{ 0, 100, 100 },
		{ KVB_POLICY_LRU, 0, 95 },	/* the good policy is not taken */
		{ KVB_POLICY_LRU, 101, 50 },
	};
	static const struct { uint32_t policy, high, low, want_p, want_h, want_l; } good[] = {
		{ 0, 0, 0, KVB_POLICY_FIFO, 90, 80 },
		{ KVB_POLICY_LRU, 0, 0, KVB_POLICY_LRU, 90, 80 },
		{ 0, 95, 0, KVB_POLICY_LRU, 95, 80 },
		{ 0, 0, 94, KVB_POLICY_LRU, 95, 94 },
		{ KVB_POLICY_LFU, 100, 99, KVB_POLICY_LFU, 100, 99 },
		{ 0, 2, 1, KVB_POLICY_LFU, 2, 1 },
		{ KVB_POLICY_FIFO, 90, 80, KVB_POLICY_FIFO, 90, 80 },
	};
	struct store *s = &self->s;
	long pg = sysconf(_SC_PAGESIZE);
	struct kvb_policy p, *q;
	struct kvb_store *st;
	unsigned char *map;
	uint32_t i;

	ATTACH(s, KVB_ATTACH_FORMAT, 0, 0, 0);
	for (i = 0; i < ARRAY_LEN(good); i++) {
		memset(&p, 0xee, sizeof(p));
		ASSERT_EQ(0, set_pol(s->fd, good[i].policy, good[i].high,
				     good[i].low, &p)) TH_LOG("good %u", i);
		/* the values in force come back, the rest is as it was */
		EXPECT_EQ(sizeof(p), p.size);
		EXPECT_EQ(0, p.flags);
		EXPECT_EQ(good[i].want_p, p.policy);
		EXPECT_EQ(good[i].want_h, p.high_watermark);
		EXPECT_EQ(good[i].want_l, p.low_watermark);
		EXPECT_EQ(0, p.reserved0);
		EXPECT_EQ(0, p.reserved[0]);
		EXPECT_EQ(0, p.reserved[1]);
		expect_pol(_metadata, s, good[i].want_p, good[i].want_h,
			   good[i].want_l);
	}

	for (i = 0; i < ARRAY_LEN(bad); i++) {
		EXPECT_EQ(-EINVAL, set_pol(s->fd, bad[i].policy, bad[i].high,
					   bad[i].low, NULL)) TH_LOG("bad %u", i);
		expect_pol(_metadata, s, KVB_POLICY_FIFO, 90, 80);
	}

	/* size, flags, reserved: EINVAL, nothing changed */
	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.policy = KVB_POLICY_LRU;
	p.flags = 1;
	EXPECT_EQ(-EINVAL, kvb_ioctl(s->fd, KVB_IOC_SET_POLICY, &p));
	p.flags = 1U << 31;
	EXPECT_EQ(-EINVAL, kvb_ioctl(s->fd, KVB_IOC_SET_POLICY, &p));
	p.flags = 0;
	p.reserved0 = 1;
	EXPECT_EQ(-EINVAL, kvb_ioctl(s->fd, KVB_IOC_SET_POLICY, &p));
	p.reserved0 = 0;
	p.reserved[0] = 1;
	EXPECT_EQ(-EINVAL, kvb_ioctl(s->fd, KVB_IOC_SET_POLICY, &p));
	p.reserved[0] = 0;
	p.reserved[1] = 1ULL << 63;
	EXPECT_EQ(-EINVAL, kvb_ioctl(s->fd, KVB_IOC_SET_POLICY, &p));
	p.reserved[1] = 0;
	p.size = sizeof(p) - 8;
	EXPECT_EQ(-EINVAL, kvb_ioctl(s->fd, KVB_IOC_SET_POLICY, &p));
	p.size = sizeof(p) + 8;
	EXPECT_EQ(-EINVAL, kvb_ioctl(s->fd, KVB_IOC_SET_POLICY, &p));
	p.size = 0;
	EXPECT_EQ(-EINVAL, kvb_ioctl(s->fd, KVB_IOC_SET_POLICY, &p));
	expect_pol(_metadata, s, KVB_POLICY_FIFO, 90, 80);

	/* bad pointers: EFAULT */
	EXPECT_EQ(-EFAULT, kvb_ioctl(s->fd, KVB_IOC_SET_POLICY, NULL));
	EXPECT_EQ(-EFAULT, kvb_ioctl(s->fd, KVB_IOC_SET_POLICY,
				     unmapped_addr()));
	map = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, munmap(map + pg, pg));
	/* the structure runs into the unmapped page */
	q = (void *)(map + pg - 16);
	memcpy(q, &(struct kvb_policy){ .size = sizeof(p),
					.policy = KVB_POLICY_LRU }, 16);
	EXPECT_EQ(-EFAULT, kvb_ioctl(s->fd, KVB_IOC_SET_POLICY, q));
	/* read-only: the result cannot be written back, nothing changes */
	q = (void *)map;
	memset(q, 0, sizeof(*q));
	q->size = sizeof(*q);
	q->policy = KVB_POLICY_LFU;
	q->high_watermark = 95;
	q->low_watermark = 85;
	ASSERT_EQ(0, mprotect(map, pg, PROT_READ));
	EXPECT_EQ(-EFAULT, kvb_ioctl(s->fd, KVB_IOC_SET_POLICY, q));
	expect_pol(_metadata, s, KVB_POLICY_FIFO, 90, 80);
	ASSERT_EQ(0, mprotect(map, pg, PROT_READ | PROT_WRITE));
	EXPECT_EQ(0, kvb_ioctl(s->fd, KVB_IOC_SET_POLICY, q));
	EXPECT_EQ(KVB_POLICY_LFU, q->policy);
	expect_pol(_metadata, s, KVB_POLICY_LFU, 95, 85);
	munmap(map, pg);

	/* the library's view */
	ASSERT_EQ(0, kvb_open(s->id, &st));
	memset(&p, 0, sizeof(p));
	ASSERT_EQ(0, kvb_get_policy(st, &p));
	EXPECT_EQ(KVB_POLICY_LFU, p.policy);
	EXPECT_EQ(95, p.high_watermark);
	EXPECT_EQ(85, p.low_watermark);
	memset(&p, 0, sizeof(p));
	p.policy = KVB_POLICY_LRU;
	p.low_watermark = 95;
	EXPECT_EQ(-EINVAL, kvb_set_policy(st, &p));
	p.low_watermark = 70;
	ASSERT_EQ(0, kvb_set_policy(st, &p));
	EXPECT_EQ(KVB_POLICY_LRU, p.policy);
	EXPECT_EQ(95, p.high_watermark);
	EXPECT_EQ(70, p.low_watermark);
	kvb_close(st);
	expect_pol(_metadata, s, KVB_POLICY_LRU, 95, 70);
}

TEST_F(ev, sysfs_bad_writes)
{
	static const struct { const char *attr, *val; } bad[] = {
		{ "policy", "\n" },	/* "": a write of 0 bytes never reaches it */
		{ "policy", "LRU" },
		{ "policy", "lruu" },
		{ "policy", "mru" },
		{ "policy", "1" },
		{ "policy", " lru" },
		{ "high_watermark", "0" },
		{ "high_watermark", "101" },
		{ "high_watermark", "-1" },
		{ "high_watermark", "abc" },
		{ "high_watermark", "\n" },
		{ "high_watermark", "95x" },
		{ "high_watermark", "80" },	/* = low */
		{ "high_watermark", "50" },	/* < low */
		{ "low_watermark", "0" },
		{ "low_watermark", "100" },
		{ "low_watermark", "90" },	/* = high */
		{ "low_watermark", "95" },
		{ "low_watermark", "x" },
		{ "event_queue_bytes", "0" },
		{ "event_queue_bytes", "1073741825" },
		{ "event_queue_bytes", "abc" },
		{ "event_queue_bytes", "-1" },
		{ "event_queue_bytes", " " },
	};
	struct store *s = &self->s;
	uint64_t v;
	uint32_t i;

	ATTACH(s, KVB_ATTACH_FORMAT, 0, 0, 0);
	ASSERT_EQ(0, sysfs_u64(s->id, "event_queue_bytes", &v));
	EXPECT_EQ(16ULL << 20, v);
	for (i = 0; i < ARRAY_LEN(bad); i++) {
		EXPECT_EQ(-EINVAL, sysfs_write(s->id, bad[i].attr, bad[i].val))
			TH_LOG("%s <- \"%s\"", bad[i].attr, bad[i].val);
		expect_pol(_metadata, s, KVB_POLICY_FIFO, 90, 80);
		ASSERT_EQ(0, sysfs_u64(s->id, "event_queue_bytes", &v));
		EXPECT_EQ(16ULL << 20, v);
	}
	/* good writes, with and without a newline */
	EXPECT_EQ(0, sysfs_write(s->id, "policy", "lru\n"));
	expect_pol(_metadata, s, KVB_POLICY_LRU, 90, 80);
	EXPECT_EQ(0, sysfs_write(s->id, "policy", "lfu"));
	EXPECT_EQ(0, sysfs_write(s->id, "high_watermark", "100\n"));
	EXPECT_EQ(0, sysfs_write(s->id, "low_watermark", "99"));
	expect_pol(_metadata, s, KVB_POLICY_LFU, 100, 99);
	EXPECT_EQ(0, sysfs_write(s->id, "low_watermark", "1"));
	EXPECT_EQ(0, sysfs_write(s->id, "high_watermark", "2"));
	expect_pol(_metadata, s, KVB_POLICY_LFU, 2, 1);
	EXPECT_EQ(-EINVAL, sysfs_write(s->id, "low_watermark", "2"));
	EXPECT_EQ(0, sysfs_write(s->id, "high_watermark", "90"));
	EXPECT_EQ(0, sysfs_write(s->id, "low_watermark", "80"));
	EXPECT_EQ(0, sysfs_write(s->id, "policy", "fifo"));
	expect_pol(_metadata, s, KVB_POLICY_FIFO, 90, 80);
	EXPECT_EQ(0, sysfs_write(s->id, "event_queue_bytes", "1073741824"));
	ASSERT_EQ(0, sysfs_u64(s->id, "event_queue_bytes", &v));
	EXPECT_EQ(1ULL << 30, v);
	EXPECT_EQ(0, sysfs_write(s->id, "event_queue_bytes", "1\n"));
	ASSERT_EQ(0, sysfs_u64(s->id, "event_queue_bytes", &v));
	EXPECT_EQ(1, v);
}

/*
 * Numbers too large for the attribute are bad writes like any other
 * (EINVAL), not "out of range" (ERANGE, what kstrtou32() says).
 */
TEST_F(ev, sysfs_overflow_einval)
{
	static const struct { const char *attr, *val; } bad[] = {
		{ "high_watermark", "4294967296" },
		{ "low_watermark", "4294967376" },	/* 80 + 2^32 */
		{ "event_queue_bytes", "18446744073709551616" },
	};
	struct store *s = &self->s;
	uint64_t v;
	uint32_t i;

	ATTACH(s, KVB_ATTACH_FORMAT, 0, 0, 0);
	for (i = 0; i < ARRAY_LEN(bad); i++) {
		EXPECT_EQ(-EINVAL, sysfs_write(s->id, bad[i].attr, bad[i].val))
			TH_LOG("%s <- \"%s\"", bad[i].attr, bad[i].val);
		expect_pol(_metadata, s, KVB_POLICY_FIFO, 90, 80);
		ASSERT_EQ(0, sysfs_u64(s->id, "event_queue_bytes", &v));
		EXPECT_EQ(16ULL << 20, v);
	}
}

/* ==== 5: the event stream's edges ======================================= */

/* The length of the EVICT record of model bucket b. */
static uint32_t rec_len_of(const struct model *m, const struct mbkt *b)
{
	uint32_t len = sizeof(struct kvb_event), j;

	for (j = 0; j < b->nkeys; j++)
		len += KVB_KEY_REC_LEN(mkey_of(m, b, j)->klen);
	return len;
}

/*
 * The records in buf[0..n) are the EVICT records of m->order[from..),
 * numbered seq from from + 1, complete and exact. Returns their number,
 * or -1 (reported).
 */
static long check_recs(struct __test_metadata *_metadata, struct model *m,
		       const char *buf, size_t n, uint64_t from)
{
	const struct kvb_key_rec *r;
	size_t off = 0;
	long cnt = 0;
	uint32_t j;

	while (off < n) {
		const struct kvb_event *e = (const void *)(buf + off);
		struct mbkt *b;

		if (n - off < sizeof(*e) || e->rec_len > n - off ||
		    e->rec_len % 8 || e->type != KVB_EVENT_EVICT ||
		    from + cnt >= m->nr_events) {
			TH_LOG("record %ld at %zu: type %u rec_len %u", cnt, off,
			       off + sizeof(*e) <= n ? e->type : 0,
			       off + sizeof(*e) <= n ? e->rec_len : 0);
			_metadata->passed = 0;
			return -1;
		}
		EXPECT_EQ(from + cnt + 1, e->seq);
		EXPECT_EQ(m->order[from + cnt], e->bucket_id);
		b = mb(m, e->bucket_id);
		if (!b || b->state == B_NONE) {
			_metadata->passed = 0;
			return -1;
		}
		EXPECT_EQ(rec_len_of(m, b), e->rec_len);
		EXPECT_EQ(b->nkeys, e->nr_keys);
		EXPECT_EQ(b->bytes, e->value_bytes);
		r = kvb_event_keys(e);
		for (j = 0; j < b->nkeys && j < e->nr_keys; j++) {
			EXPECT_TRUE(keyrec_ok(r, buf + off + e->rec_len) &&
				    keyrec_is(r, mkey_of(m, b, j)))
				TH_LOG("event %llu key %u", (unsigned long long)e->seq, j);
			r = kvb_key_rec_next(r);
		}
		off += e->rec_len;
		cnt++;
	}
	return cnt;
}

/* Read all that fd has now (non-blocking), into buf; bytes, or -errno. */
static ssize_t read_all(int fd, char *buf, size_t len)
{
	ssize_t n, done = 0;

	for (;;) {
		n = read(fd, buf + done, len - done);
		if (n < 0)
			return errno == EAGAIN && done ? done : -errno;
		if (!n)
			return done;
		done += n;
	}
}

static int open_events(const struct store *s, int flags)
{
	char path[64];

	store_path(s->id, path, sizeof(path));
	return open(path, O_RDONLY | O_CLOEXEC | flags);
}

/* Buckets of 1 + i % 4 keys: records of different lengths. */
static void ev_fill(struct __test_metadata *_metadata, struct model *m,
		    const char *tag, uint32_t nb, uint64_t *ids)
{
	struct mkey k[EX_KPB];
	uint64_t t0, t1;
	uint32_t i, j;

	for (i = 0; i < nb; i++) {
		for (j = 0; j < 1 + i % EX_KPB; j++)
			mk(&k[j], tag, i, j, EX_VLEN, 0);
		ASSERT_EQ(0, put_keys(m->fd, k, j, m->pool, &ids[i], &t0, &t1));
		ASSERT_NE(NULL, model_add(m, k, j, ids[i], C_REG, i, t0, t1));
	}
}

/* Every open file gets every event, from the first after its open(). */
TEST_F_TIMEOUT(ev, events_fanout_late_open, 300)
{
	struct store *s = &self->s;
	size_t len = 1 << 20;
	char *buf = malloc(len);
	uint64_t ids[24];
	int fd2, fd3, fd4;
	struct model m;
	ssize_t n;

	ASSERT_NE(NULL, buf);
	ATTACH(s, KVB_ATTACH_FORMAT, 0, 0, 0);
	model_init(&m, _metadata, s, 256, 256);
	ASSERT_TRUE(model_ok(&m));
	m.policy = KVB_POLICY_FIFO;
	m.fifo_ids = true;
	fd2 = open_events(s, O_NONBLOCK);
	ASSERT_LE(0, fd2);
	ev_fill(_metadata, &m, "fan", 24, ids);

	/* the model reads s->evfd; fd2 gets the same six */
	ASSERT_EQ(18, evict_to(_metadata, s, 18, 24, true, &m));
	ASSERT_EQ(6, m.nr_events);
	n = read_all(fd2, buf, len);
	ASSERT_LT(0, n);
	EXPECT_EQ(6, check_recs(_metadata, &m, buf, n, 0));

	/* a file opened now starts with the next event */
	fd3 = open_events(s, O_NONBLOCK);
	ASSERT_LE(0, fd3);
	EXPECT_EQ(-1, read(fd3, buf, len));
	EXPECT_EQ(EAGAIN, errno);
	ASSERT_EQ(12, evict_to(_metadata, s, 12, 18, true, &m));
	ASSERT_EQ(12, m.nr_events);
	n = read_all(fd2, buf, len);
	ASSERT_LT(0, n);
	EXPECT_EQ(6, check_recs(_metadata, &m, buf, n, 6));
	n = read_all(fd3, buf, len);
	ASSERT_LT(0, n);
	EXPECT_EQ(7, ((struct kvb_event *)buf)->seq);
	EXPECT_EQ(6, check_recs(_metadata, &m, buf, n, 6));
	fd4 = open_events(s, O_NONBLOCK);
	ASSERT_LE(0, fd4);
	EXPECT_EQ(-1, read(fd4, buf, len));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(-1, read(fd2, buf, len));
	EXPECT_EQ(EAGAIN, errno);
	close(fd2);
	close(fd3);
	close(fd4);
	free(buf);
	model_final(&m);
	model_free(&m);
}

struct blocked {
	int fd;
	char buf[1 << 16];
	ssize_t n;		/* read()'s result */
	int err;
	int revents;		/* poll()'s */
};

static void *blocked_read(void *arg)
{
	struct blocked *b = arg;

	b->n = read(b->fd, b->buf, sizeof(b->buf));
	b->err = b->n < 0 ? errno : 0;
	return NULL;
}

static void *blocked_poll(void *arg)
{
	struct blocked *b = arg;
	struct pollfd p = { .fd = b->fd, .events = POLLIN };

	/* the bound is a safety net: the eviction wakes it up */
	b->n = poll(&p, 1, 120000);
	b->revents = p.revents;
	return NULL;
}

/*
 * read(): whole records, 0 for a read of 0 bytes (consuming nothing),
 * EMSGSIZE when the next one does not fit (and it stays next), EFAULT (same), EAGAIN with O_NONBLOCK, blocking without;
 * poll() readiness.
 */
TEST_F_TIMEOUT(ev, events_read_edges, 300)
{
	struct store *s = &self->s;
	struct blocked *br, *bp;
	pthread_t rt, pt;
	struct pollfd p;
	uint32_t len1, len2, len3;
	uint64_t ids[12];
	struct model m;
	char *buf;
	int fd;

	buf = malloc(1 << 16);
	br = calloc(1, sizeof(*br));
	bp = calloc(1, sizeof(*bp));
	ASSERT_TRUE(buf && br && bp);
	ATTACH(s, KVB_ATTACH_FORMAT, 0, 0, 0);
	model_init(&m, _metadata, s, 256, 256);
	ASSERT_TRUE(model_ok(&m));
	m.policy = KVB_POLICY_FIFO;
	m.fifo_ids = true;
	fd = open_events(s, O_NONBLOCK);
	ASSERT_LE(0, fd);
	br->fd = open_events(s, 0);
	bp->fd = open_events(s, 0);
	ASSERT_LE(0, br->fd);
	ASSERT_LE(0, bp->fd);
	ev_fill(_metadata, &m, "edge", 12, ids);

	/* nothing yet; a read of 0 bytes returns 0, blocking fd or not */
	EXPECT_EQ(0, read(fd, buf, 0));
	EXPECT_EQ(0, read(br->fd, buf, 0));
	EXPECT_EQ(-1, read(fd, buf, 1 << 16));
	EXPECT_EQ(EAGAIN, errno);
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	EXPECT_EQ(0, poll(&p, 1, 0));

	/* a blocked read() and a blocked poll() wake up for the events */
	ASSERT_EQ(0, pthread_create(&rt, NULL, blocked_read, br));
	ASSERT_EQ(0, pthread_create(&pt, NULL, blocked_poll, bp));
	ASSERT_EQ(9, evict_to(_metadata, s, 9, 12, true, &m));
	ASSERT_EQ(3, m.nr_events);
	pthread_join(rt, NULL);
	pthread_join(pt, NULL);
	ASSERT_LT(0, br->n) TH_LOG("blocking read: %s", strerror(br->err));
	EXPECT_LE(1, check_recs(_metadata, &m, br->buf, br->n, 0));
	EXPECT_EQ(1, bp->n);
	EXPECT_TRUE(bp->revents & POLLIN);

	len1 = rec_len_of(&m, &m.b[ids[0]]);
	len2 = rec_len_of(&m, &m.b[ids[1]]);
	len3 = rec_len_of(&m, &m.b[ids[2]]);
	ASSERT_LT(sizeof(struct kvb_event), len1);
	p.revents = 0;
	EXPECT_EQ(1, poll(&p, 1, 0));
	EXPECT_TRUE(p.revents & POLLIN);

	/* 0 bytes: 0, and the next record stays next */
	EXPECT_EQ(0, read(fd, buf, 0));
	/* too small for the next record: EMSGSIZE, it stays next */
	EXPECT_EQ(-1, read(fd, buf, len1 - 1));
	EXPECT_EQ(EMSGSIZE, errno);
	EXPECT_EQ(-1, read(fd, buf, 1));
	EXPECT_EQ(EMSGSIZE, errno);
	EXPECT_EQ(-1, read(fd, buf, sizeof(struct kvb_event)));
	EXPECT_EQ(EMSGSIZE, errno);
	/* nowhere to copy it: EFAULT, it stays next */
	EXPECT_EQ(-1, read(fd, unmapped_addr(), 1 << 12));
	EXPECT_EQ(EFAULT, errno);
	/* exactly its size */
	EXPECT_EQ(len1, read(fd, buf, len1));
	EXPECT_EQ(1, check_recs(_metadata, &m, buf, len1, 0));
	/* whole records only: one byte short of two gives one */
	EXPECT_EQ(len2, read(fd, buf, len2 + len3 - 1));
	EXPECT_EQ(1, check_recs(_metadata, &m, buf, len2, 1));
	EXPECT_EQ(len3, read(fd, buf, 1 << 16));
	EXPECT_EQ(1, check_recs(_metadata, &m, buf, len3, 2));
	/* drained */
	EXPECT_EQ(-1, read(fd, buf, 1 << 16));
	EXPECT_EQ(EAGAIN, errno);
	p.revents = 0;
	EXPECT_EQ(0, poll(&p, 1, 0));

	close(fd);
	close(br->fd);
	close(bp->fd);
	free(br);
	free(bp);
	free(buf);
	model_final(&m);
	model_free(&m);
}

/*
 * A reader that fell behind a queue bounded to one byte gets one LOST
 * record (the first missed, how many), then the newest record, which is
 * always kept; events_lost adds up what readers missed.
 */
TEST_F_TIMEOUT(ev, events_lost, 300)
{
	struct store *s = &self->s;
	size_t len = 1 << 20;
	char *buf = malloc(len);
	const struct kvb_event *e;
	struct kvb_store_info info;
	struct model m;
	uint64_t ids[20], v;
	int fda, fdb, pass;
	ssize_t n;

	ASSERT_NE(NULL, buf);
	ATTACH(s, KVB_ATTACH_FORMAT, 0, 0, 0);
	/* the model never reads: its descriptor is s->evfd, kept behind */
	model_init(&m, _metadata, s, 256, 256);
	ASSERT_TRUE(model_ok(&m));
	ev_fill(_metadata, &m, "lost", 20, ids);
	fda = open_events(s, O_NONBLOCK);
	fdb = open_events(s, O_NONBLOCK);
	ASSERT_LE(0, fda);
	ASSERT_LE(0, fdb);

	ASSERT_EQ(0, sysfs_u64(s->id, "event_queue_bytes", &v));
	EXPECT_EQ(16ULL << 20, v);
	ASSERT_EQ(0, sysfs_write(s->id, "event_queue_bytes", "1"));
	ASSERT_EQ(0, sysfs_u64(s->id, "event_queue_bytes", &v));
	EXPECT_EQ(1, v);
	/* six evictions, nobody reading */
	ASSERT_EQ(14, evict_to(_metadata, s, 14, 20, true, NULL));
	ASSERT_EQ(0, st_info(s->fd, &info));
	ASSERT_EQ(6, info.nr_evicted);
	EXPECT_EQ(0, info.events_lost);

	for (pass = 0; pass < 2; pass++) {
		n = read_all(pass ? fdb : fda, buf, len);
		ASSERT_EQ(sizeof(*e) + rec_len_of(&m, &m.b[ids[5]]), n);
		e = (const void *)buf;
		EXPECT_EQ(KVB_EVENT_LOST, e->type);
		EXPECT_EQ(sizeof(*e), e->rec_len);
		EXPECT_EQ(1, e->seq);
		EXPECT_EQ(5, e->nr_lost);
		e = kvb_event_next(e);
		EXPECT_EQ(KVB_EVENT_EVICT, e->type);
		EXPECT_EQ(6, e->seq);
		EXPECT_EQ(ids[5], e->bucket_id);
		EXPECT_EQ(m.b[ids[5]].nkeys, e->nr_keys);
		EXPECT_EQ(-1, read(pass ? fdb : fda, buf, len));
		EXPECT_EQ(EAGAIN, errno);
		/* events_lost grows by what this reader missed */
		ASSERT_EQ(0, st_info(s->fd, &info));
		EXPECT_EQ(5 * (pass + 1), info.events_lost);
		ASSERT_EQ(0, sysfs_u64(s->id, "events_lost", &v));
		EXPECT_EQ(5 * (pass + 1), v);
	}

	/* a large bound again: nothing more is lost */
	ASSERT_EQ(0, sysfs_write(s->id, "event_queue_bytes", "16777216"));
	ASSERT_EQ(10, evict_to(_metadata, s, 10, 14, true, NULL));
	for (pass = 0; pass < 2; pass++) {
		n = read_all(pass ? fdb : fda, buf, len);
		ASSERT_LT(0, n);
		for (e = (const void *)buf, v = 7; (char *)e < buf + n;
		     e = kvb_event_next(e), v++) {
			EXPECT_EQ(KVB_EVENT_EVICT, e->type);
			EXPECT_EQ(v, e->seq);
			EXPECT_EQ(ids[v - 1], e->bucket_id);
		}
		EXPECT_EQ(11, v);
	}
	ASSERT_EQ(0, st_info(s->fd, &info));
	EXPECT_EQ(10, info.events_lost);
	/* the file opened at attach missed 1..5: LOST, then 6..10 */
	n = read_all(s->evfd, buf, len);
	ASSERT_LT(0, n);
	e = (const void *)buf;
	EXPECT_EQ(KVB_EVENT_LOST, e->type);
	EXPECT_EQ(1, e->seq);
	EXPECT_EQ(5, e->nr_lost);
	for (e = kvb_event_next(e), v = 6; (char *)e < buf + n;
	     e = kvb_event_next(e), v++) {
		EXPECT_EQ(v, e->seq);
	}
	EXPECT_EQ(11, v);
	ASSERT_EQ(0, st_info(s->fd, &info));
	EXPECT_EQ(15, info.events_lost);
	close(fda);
	close(fdb);
	free(buf);
	model_free(&m);
}

/* After detach: what is queued, then end of file, for every reader. */
TEST_F_TIMEOUT(ev, events_eof_after_detach, 300)
{
	struct store *s = &self->s;
	struct kvb_store_info info;
	struct blocked *bl;
	struct pollfd p;
	uint64_t ids[10];
	struct model m;
	char *buf = malloc(1 << 16);
	int fda, fdb;
	pthread_t t;
	ssize_t n;

	bl = calloc(1, sizeof(*bl));
	ASSERT_TRUE(buf && bl);
	ATTACH(s, KVB_ATTACH_FORMAT, 0, 0, 0);
	model_init(&m, _metadata, s, 256, 256);
	ASSERT_TRUE(model_ok(&m));
	ev_fill(_metadata, &m, "eof", 10, ids);
	fda = open_events(s, 0);
	fdb = open_events(s, O_NONBLOCK);
	ASSERT_LE(0, fda);
	ASSERT_LE(0, fdb);
	ASSERT_EQ(8, evict_to(_metadata, s, 8, 10, true, NULL));
	/* a reader with nothing to read blocks until the detach */
	bl->fd = open_events(s, 0);
	ASSERT_LE(0, bl->fd);
	ASSERT_EQ(0, pthread_create(&t, NULL, blocked_read, bl));

	ASSERT_EQ(0, store_detach(s));
	pthread_join(t, NULL);
	EXPECT_EQ(0, bl->n) TH_LOG("blocked read: %s", strerror(bl->err));
	/* the blocking reader: both events, then end of file, again */
	n = read(fda, buf, 1 << 16);
	EXPECT_EQ(rec_len_of(&m, &m.b[ids[0]]) + rec_len_of(&m, &m.b[ids[1]]),
		  n);
	if (n > 0) {
		EXPECT_EQ(1, ((struct kvb_event *)buf)->seq);
		EXPECT_EQ(ids[0], ((struct kvb_event *)buf)->bucket_id);
	}
	EXPECT_EQ(0, read(fda, buf, 1 << 16));
	EXPECT_EQ(0, read(fda, buf, 1 << 16));
	p = (struct pollfd){ .fd = fda, .events = POLLIN };
	EXPECT_EQ(1, poll(&p, 1, 0));
	EXPECT_TRUE(p.revents & POLLIN);
	EXPECT_TRUE(p.revents & POLLHUP);
	/* the non-blocking one: the same, end of file rather than EAGAIN */
	n = read(fdb, buf, 1 << 16);
	EXPECT_LT(0, n);
	EXPECT_EQ(0, read(fdb, buf, 1 << 16));
	/* the files stay open, but the store is gone */
	EXPECT_EQ(-ENODEV, st_info(fda, &info));
	close(fda);
	close(fdb);
	close(bl->fd);
	free(bl);
	free(buf);
	model_free(&m);
}

/* The same stream through libkvbucket, with a record larger than its buffer. */
TEST_F_TIMEOUT(ev, events_libkvbucket, 300)
{
	struct kvb_attach_opts o = {
		.flags = KVB_ATTACH_FORMAT, .chunk_size = EV_CHUNK,
		.policy = KVB_POLICY_LRU, .high_watermark = 95,
		.low_watermark = 85,
	};
	struct store *s = &self->s, ls;
	const struct kvb_event *e;
	struct kvb_store_info info;
	struct kvb_events *ev, *ev2;
	struct kvb_store *st;
	struct kvb_policy p;
	struct mkey *k;
	uint64_t ids[12], t0, t1, deadline;
	uint32_t i, j, id;
	struct model m;
	int n, l;

	ASSERT_EQ(0, kvb_attach(kvb_disk(2), &o, &id));
	ASSERT_EQ(0, kvb_open(id, &st));
	ASSERT_EQ(0, kvb_store_info(st, &info));
	ASSERT_EQ(EV_CHUNK, info.chunk_size);
	ASSERT_GT(100, info.capacity_bytes / info.chunk_size);
	memset(&p, 0, sizeof(p));
	ASSERT_EQ(0, kvb_get_policy(st, &p));
	EXPECT_EQ(KVB_POLICY_LRU, p.policy);
	EXPECT_EQ(95, p.high_watermark);
	EXPECT_EQ(85, p.low_watermark);
	memset(&p, 0, sizeof(p));
	p.policy = KVB_POLICY_FIFO;
	ASSERT_EQ(0, kvb_set_policy(st, &p));
	EXPECT_EQ(95, p.high_watermark);

	ASSERT_EQ(-ENOENT, kvb_events_open(id + 100, &ev2));
	ASSERT_EQ(0, kvb_events_open(id, &ev));
	EXPECT_LE(0, kvb_events_fd(ev));
	EXPECT_EQ(-EAGAIN, kvb_events_read(ev, &e));
	EXPECT_EQ(0, kvb_events_wait(ev, 0));

	memset(&ls, 0, sizeof(ls));
	ls.fd = kvb_store_fd(st);
	ls.evfd = -1;
	ls.id = id;
	ls.chunk = info.chunk_size;
	ls.cap = info.capacity_bytes;
	ls.nchunks = ls.cap / ls.chunk;
	model_init(&m, _metadata, &ls, 512, 256);
	ASSERT_TRUE(model_ok(&m));
	m.policy = KVB_POLICY_FIFO;
	m.fifo_ids = true;
	/* bucket 0: 100 keys of 1000 bytes, a record of ~100 KiB */
	k = calloc(100, sizeof(*k));
	ASSERT_NE(NULL, k);
	for (j = 0; j < 100; j++) {
		k[j].klen = 1000;
		memset(k[j].name, 'k', 1000);
		snprintf(k[j].name, 16, "big-%03u-", j);
		k[j].name[strlen(k[j].name)] = 'k';
		k[j].vlen = 512;
	}
	ASSERT_EQ(0, put_keys(ls.fd, k, 100, m.pool, &ids[0], &t0, &t1));
	ASSERT_NE(NULL, model_add(&m, k, 100, ids[0], C_REG, 0, t0, t1));
	ASSERT_LT(64U << 10, rec_len_of(&m, &m.b[ids[0]]));
	free(k);
	for (i = 1; i < 12; i++)
		ex_put(_metadata, &m, "lib", i, &ids[i]);

	/* four evictions, watermarks through the library */
	for (l = 98; l >= 1 && (uint64_t)l * ls.nchunks / 100 != 8; l--)
		;
	ASSERT_LT(0, l);
	ASSERT_GT(12 * 100, (uint64_t)(l + 1) * ls.nchunks);
	memset(&p, 0, sizeof(p));
	p.high_watermark = l + 1;
	p.low_watermark = l;
	ASSERT_EQ(0, kvb_set_policy(st, &p));
	deadline = now_ns() + EV_DEADLINE;
	while (m.nr_events < 4 && now_ns() < deadline) {
		ASSERT_LE(0, kvb_events_wait(ev, 1000));
		n = kvb_events_read(ev, &e);
		if (n == -EAGAIN)
			continue;
		ASSERT_LT(0, n);
		for (; n; n--, e = kvb_event_next(e)) {
			EXPECT_EQ(m.next_seq, e->seq);
			m.next_seq = e->seq + 1;
			model_event(&m, e);
		}
	}
	ASSERT_EQ(4, m.nr_events);
	for (i = 0; i < 4; i++) {
		EXPECT_EQ(ids[i], m.order[i]);
	}
	EXPECT_EQ(-EAGAIN, kvb_events_read(ev, &e));
	ASSERT_EQ(0, kvb_store_info(st, &info));
	EXPECT_EQ(4, info.nr_evicted);
	EXPECT_EQ(m.ev_keys, info.evicted_keys);
	/*
	 * An evicted bucket's space comes back when the last reference goes,
	 * the work item's own just after the event: wait for it, bounded.
	 */
	while (info.used_bytes != 8 * info.chunk_size && now_ns() < deadline)
		ASSERT_EQ(0, kvb_store_info(st, &info));
	EXPECT_EQ(8 * info.chunk_size, info.used_bytes);

	/* detach: the stream ends */
	kvb_close(st);
	ASSERT_EQ(0, kvb_detach(id));
	EXPECT_EQ(1, kvb_events_wait(ev, 10000));
	EXPECT_EQ(0, kvb_events_read(ev, &e));
	kvb_events_close(ev);
	model_free(&m);
	(void)s;
}

TEST_HARNESS_MAIN
