// SPDX-License-Identifier: GPL-2.0
/*
 * Eviction: the store is a cache that never fills up.
 *
 * When an allocation takes the used space above the high watermark, or an
 * OFFLOAD waits for a run of chunks that does not exist, the store's work
 * item evicts whole buckets, in the order the policy gives, until the used
 * space (not counting deleted buckets that loads still read) is at the low
 * watermark and the waiting OFFLOADs' runs exist. Buckets whose keys are
 * all gone go first; then:
 *
 *  FIFO  the lowest bucket id, i.e. the oldest bucket;
 *  LRU   the bucket loaded least recently (never loaded: since it was
 *        written; buckets found at attach count as loaded before it);
 *  LFU   the bucket with the fewest loads, aged: the count halves each
 *        time half the capacity has been written since (an epoch).
 *
 * Ties go to the oldest bucket. Access history lives in memory only; after
 * an attach every policy starts out as FIFO.
 *
 * The load path records accesses without a lock and without a write per
 * key: once per bucket per run of keys of a LOAD, LRU writes its bucket's
 * time only when it moved by more than KVB_ATIME_GRAIN_NS, and LFU's count
 * is logarithmic (Morris): exact up to KVB_LFU_LINEAR, then incremented
 * with a probability that halves every 8 steps, so a hot bucket's count is
 * rarely written.
 *
 * Evicting a bucket is DELETE_BUCKET plus an event: its free header is
 * written (FUA), then its keys leave the index and the event (events.c)
 * is queued in the same critical section, so that events and the index
 * change in the same order. The space is reused once the last load in
 * flight on the bucket is done (bucket.c).
 */
#include <linux/bitmap.h>
#include <linux/ktime.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/sort.h>

#include "kvb.h"

#define KVB_ATIME_GRAIN_NS	NSEC_PER_MSEC
#define KVB_LFU_LINEAR		16U
#define KVB_LFU_MAX		255U

static const char * const kvb_policy_names[] = {
	[KVB_POLICY_FIFO] = "fifo",
	[KVB_POLICY_LRU] = "lru",
	[KVB_POLICY_LFU] = "lfu",
};

const char *kvb_policy_name(u32 policy)
{
	if (policy >= ARRAY_SIZE(kvb_policy_names) || !kvb_policy_names[policy])
		return "?";
	return kvb_policy_names[policy];
}

/* Values as given to ATTACH or SET_POLICY, 0 meaning "not given". */
int kvb_policy_check(u32 policy, u32 high, u32 low)
{
	if (policy > KVB_POLICY_LFU || high > 100 || low > 99)
		return -EINVAL;
	return 0;
}

static void kvb_reclaim_work(struct work_struct *work);

void kvb_evict_init(struct kvb_store *st, const struct kvb_attach *a)
{
	st->policy = a->policy ?: KVB_POLICY_FIFO;
	st->high_wm = a->high_watermark ?: KVB_DEFAULT_HIGH_WATERMARK;
	st->low_wm = a->low_watermark ?: KVB_DEFAULT_LOW_WATERMARK;
	INIT_WORK(&st->reclaim_work, kvb_reclaim_work);
}

/*
 * Change the policy and watermarks; 0 keeps a value. The watermarks in
 * force afterwards must satisfy low < high (EINVAL, nothing changed).
 */
int kvb_set_policy(struct kvb_store *st, struct kvb_policy *p)
{
	u32 high, low;
	int ret;

	ret = kvb_policy_check(p->policy, p->high_watermark, p->low_watermark);
	if (ret)
		return ret;
	spin_lock(&st->space_lock);
	high = p->high_watermark ?: st->high_wm;
	low = p->low_watermark ?: st->low_wm;
	if (low >= high) {
		spin_unlock(&st->space_lock);
		return -EINVAL;
	}
	if (p->policy)
		WRITE_ONCE(st->policy, p->policy);
	WRITE_ONCE(st->high_wm, high);
	WRITE_ONCE(st->low_wm, low);
	if (st->used_chunks * 100 > st->nr_chunks * high)
		st->reclaiming = true;
	p->policy = st->policy;
	p->high_watermark = high;
	p->low_watermark = low;
	spin_unlock(&st->space_lock);
	kvb_reclaim_kick(st);
	return 0;
}

/* The count of an LFU word after the epochs since it was written. */
static u32 kvb_lfu_count(u64 lfu, u64 epoch)
{
	u64 age = epoch - (lfu >> 8);
	u32 cnt = lfu & 0xff;

	while (age-- && cnt) {
		if (cnt > KVB_LFU_LINEAR)
			cnt = max(cnt - 8, KVB_LFU_LINEAR);
		else
			cnt /= 2;
	}
	return cnt;
}

/* A bucket becomes live: it counts as loaded now, zero times. */
void kvb_bucket_born(struct kvb_bucket *b)
{
	b->atime_ns = ktime_get_ns();
	b->lfu = READ_ONCE(b->store->lfu_epoch) << 8;
}

/* A LOAD read from b. No lock, and rarely a write: see the top. */
void kvb_bucket_touch(struct kvb_bucket *b)
{
	u64 now = ktime_get_ns(), lfu = READ_ONCE(b->lfu), next;
	u64 epoch = READ_ONCE(b->store->lfu_epoch);
	u32 cnt;

	if (now - READ_ONCE(b->atime_ns) >= KVB_ATIME_GRAIN_NS)
		WRITE_ONCE(b->atime_ns, now);

	cnt = kvb_lfu_count(lfu, epoch);
	if (cnt < KVB_LFU_LINEAR)
		cnt++;
	else if (cnt < KVB_LFU_MAX &&
		 !(get_random_u32() &
		   ((1U << ((cnt - KVB_LFU_LINEAR) / 8 + 1)) - 1)))
		cnt++;
	next = epoch << 8 | cnt;
	if (next != lfu)
		WRITE_ONCE(b->lfu, next);
}

/* OFFLOAD wrote bytes: every half capacity is an LFU epoch. index_lock. */
void kvb_evict_written(struct kvb_store *st, u64 bytes)
{
	u64 half = max_t(u64, (st->nr_chunks << st->chunk_shift) / 2, 1);

	lockdep_assert_held(&st->index_lock);
	st->epoch_bytes += bytes;
	while (st->epoch_bytes >= half) {
		st->epoch_bytes -= half;
		WRITE_ONCE(st->lfu_epoch, st->lfu_epoch + 1);
	}
}

struct kvb_victim {
	u64 empty;		/* 0: nothing readable left, goes first */
	u64 score;		/* lower goes first */
	u64 id;
};

static int kvb_victim_cmp(const void *a, const void *b)
{
	const struct kvb_victim *x = a, *y = b;

	if (x->empty != y->empty)
		return x->empty < y->empty ? -1 : 1;
	if (x->score != y->score)
		return x->score < y->score ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* The live buckets in eviction order; *nr receives how many. */
static struct kvb_victim *kvb_victims(struct kvb_store *st, u32 policy,
				      size_t *nr)
{
	u64 epoch = READ_ONCE(st->lfu_epoch);
	size_t n = 0, cap = READ_ONCE(st->nr_buckets) + 16;
	struct kvb_victim *v;
	struct kvb_bucket *b;
	unsigned long id;

	v = kvmalloc_array(cap, sizeof(*v), GFP_KERNEL);
	if (!v)
		return NULL;
	rcu_read_lock();
	xa_for_each(&st->buckets, id, b) {
		if (READ_ONCE(b->state) != KVB_BUCKET_LIVE)
			continue;
		if (n == cap)
			break;	/* the rest waits for the next round */
		v[n].empty = !!READ_ONCE(b->nr_live);
		v[n].id = id;
		switch (policy) {
		case KVB_POLICY_LRU:
			v[n].score = READ_ONCE(b->atime_ns);
			break;
		case KVB_POLICY_LFU:
			v[n].score = kvb_lfu_count(READ_ONCE(b->lfu), epoch);
			break;
		default:
			v[n].score = 0;
			break;
		}
		n++;
	}
	rcu_read_unlock();
	sort(v, n, sizeof(*v), kvb_victim_cmp, NULL);
	*nr = n;
	return v;
}

/* Is more room needed? Also ends a round that reached the low mark. */
static bool kvb_reclaim_needed(struct kvb_store *st)
{
	bool need = false;
	u64 in_use;

	spin_lock(&st->space_lock);
	in_use = st->used_chunks - st->dying_chunks;
	if (st->need_chunks && st->dying_chunks < st->need_chunks &&
	    bitmap_find_next_zero_area(st->chunk_map, st->nr_chunks, 0,
				       st->need_chunks, 0) >= st->nr_chunks)
		need = true;
	if (st->reclaiming) {
		if (in_use * 100 > st->nr_chunks * st->low_wm)
			need = true;
		else
			st->reclaiming = false;
	}
	spin_unlock(&st->space_lock);
	return need;
}

/* Evict bucket id if it is still live. 1: evicted, 0: gone, or -errno. */
static int kvb_evict_one(struct kvb_store *st, u64 id, u32 policy)
{
	struct kvb_event_buf *ev;
	struct kvb_bucket *b;
	u64 key_bytes;
	u32 nr_keys;
	int ret;

	b = kvb_bucket_get_id(st, id);
	if (!b)
		return 0;
	mutex_lock(&b->lock);
	ret = 0;
	if (b->state != KVB_BUCKET_LIVE)
		goto out;
	/* the keys can only go meanwhile: this is enough room for them */
	key_bytes = kvb_bucket_key_bytes(b, &nr_keys);
	ev = kvb_event_alloc(nr_keys, key_bytes, policy);
	if (!ev) {
		ret = -ENOMEM;
		goto out;
	}
	ret = kvb_bucket_kill(b, NULL, ev);
	if (ret) {
		kvb_event_put(ev);
		goto out;
	}
	ret = 1;
out:
	mutex_unlock(&b->lock);
	kvb_bucket_put(b);
	return ret;
}

static void kvb_reclaim_work(struct work_struct *work)
{
	struct kvb_store *st = container_of(work, struct kvb_store,
					    reclaim_work);

	while (!READ_ONCE(st->dead) && kvb_reclaim_needed(st)) {
		u32 policy = READ_ONCE(st->policy);
		struct kvb_victim *v;
		bool progress = false;
		size_t i, n;
		int ret;

		v = kvb_victims(st, policy, &n);
		if (!v) {
			WRITE_ONCE(st->reclaim_err, -ENOMEM);
			break;
		}
		for (i = 0; i < n; i++) {
			if (READ_ONCE(st->dead) || !kvb_reclaim_needed(st))
				break;
			ret = kvb_evict_one(st, v[i].id, policy);
			if (ret > 0)
				progress = true;
			if (ret < 0) {
				WRITE_ONCE(st->reclaim_err, ret);
				pr_err_ratelimited("kvbucket%u: bucket %llu: eviction failed: %d\n",
						   st->id, v[i].id, ret);
			} else {
				WRITE_ONCE(st->reclaim_err, 0);
			}
			cond_resched();
		}
		kvfree(v);
		/*
		 * Nothing evictable (only buckets being written): OFFLOADs
		 * that wait kick again when their timeout ticks.
		 */
		if (!progress)
			break;
	}
}

/* Run the work item (again). A no-op once the store is being detached. */
void kvb_reclaim_kick(struct kvb_store *st)
{
	if (READ_ONCE(st->dead))
		return;
	queue_work(system_unbound_wq, &st->reclaim_work);
}

/*
 * Detach: dead is set, so nothing queues the work item any more (sysfs is
 * gone and no call is in flight); wait for the one that may run.
 */
void kvb_evict_stop(struct kvb_store *st)
{
	cancel_work_sync(&st->reclaim_work);
	wake_up_all(&st->space_wait);
}
