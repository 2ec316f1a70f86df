// SPDX-License-Identifier: GPL-2.0
/*
 * Space: the data area is an array of chunks (the allocation unit, 1 MiB by
 * default) and a bucket takes a run of consecutive chunks. A bitmap in
 * memory says which chunks are in use; it is rebuilt from the buckets found
 * at attach, so it is never written to the device.
 *
 * Allocation is next fit: the search starts where the previous bucket
 * ended and wraps around, so a new store is written sequentially and freed
 * runs are reused in device order. See Documentation/design.rst.
 *
 * The store is a cache: an allocation that takes the used space above the
 * high watermark starts eviction (evict.c), and an OFFLOAD that finds no
 * run long enough waits for it (kvb_space_alloc_wait()).
 */
#include <linux/bitmap.h>
#include <linux/jiffies.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include "kvb.h"

int kvb_space_init(struct kvb_store *st)
{
	spin_lock_init(&st->space_lock);
	init_waitqueue_head(&st->space_wait);
	st->chunk_map = bitmap_zalloc(st->nr_chunks, GFP_KERNEL);
	if (!st->chunk_map)
		return -ENOMEM;
	st->used_chunks = 0;
	st->alloc_cursor = 0;
	return 0;
}

void kvb_space_destroy(struct kvb_store *st)
{
	bitmap_free(st->chunk_map);
	st->chunk_map = NULL;
}

/*
 * Find nr free consecutive chunks and take them; space_lock. *found is the
 * first chunk; *kick is set when the used space just crossed the high
 * watermark and reclaim must be started (after dropping the lock).
 */
static int __kvb_space_alloc(struct kvb_store *st, u64 nr,
			     unsigned long *found, bool *kick)
{
	unsigned long size = st->nr_chunks, at;

	lockdep_assert_held(&st->space_lock);
	at = bitmap_find_next_zero_area(st->chunk_map, size, st->alloc_cursor,
					nr, 0);
	if (at >= size)
		at = bitmap_find_next_zero_area(st->chunk_map, size, 0, nr, 0);
	if (at >= size)
		return -ENOSPC;
	bitmap_set(st->chunk_map, at, nr);
	st->used_chunks += nr;
	st->alloc_cursor = at + nr;
	if (!st->reclaiming &&
	    st->used_chunks * 100 > st->nr_chunks * st->high_wm) {
		st->reclaiming = true;
		*kick = true;
	}
	*found = at;
	return 0;
}

/* Find nr free consecutive chunks; *start receives the device offset. */
int kvb_space_alloc(struct kvb_store *st, u64 nr, u64 *start)
{
	unsigned long found;
	bool kick = false;
	int ret;

	if (nr > st->nr_chunks)
		return -ENOSPC;
	spin_lock(&st->space_lock);
	ret = __kvb_space_alloc(st, nr, &found, &kick);
	spin_unlock(&st->space_lock);
	if (!ret)
		*start = kvb_chunk_pos(st, found);
	if (kick)
		kvb_reclaim_kick(st);
	return ret;
}

/* Is there a free run of nr chunks? space_lock. */
static bool __kvb_space_has_run(struct kvb_store *st, u64 nr)
{
	return bitmap_find_next_zero_area(st->chunk_map, st->nr_chunks, 0, nr,
					  0) < st->nr_chunks;
}

bool kvb_space_has_run(struct kvb_store *st, u64 nr)
{
	bool ret;

	spin_lock(&st->space_lock);
	ret = __kvb_space_has_run(st, nr);
	spin_unlock(&st->space_lock);
	return ret;
}

/*
 * Allocate like kvb_space_alloc(), waiting for eviction to make room when
 * there is none. The wait is bounded: -EAGAIN when nothing could be freed
 * within KVB_SPACE_WAIT_MS (every bucket was held by calls in flight), the
 * eviction's error when it failed, -EINTR on a signal.
 */
#define KVB_SPACE_WAIT_MS	30000

static bool kvb_space_freed(struct kvb_store *st, u64 gen)
{
	return READ_ONCE(st->space_gen) != gen || READ_ONCE(st->dead);
}

/* A waiter leaves; the last one takes its request back. space_lock. */
static void kvb_space_unwait(struct kvb_store *st)
{
	lockdep_assert_held(&st->space_lock);
	if (!--st->space_waiters)
		st->need_chunks = 0;
}

int kvb_space_alloc_wait(struct kvb_store *st, u64 nr, u64 *start)
{
	unsigned long deadline = jiffies + msecs_to_jiffies(KVB_SPACE_WAIT_MS);
	unsigned long found;
	u64 gen;
	int ret;

	ret = kvb_space_alloc(st, nr, start);
	if (ret != -ENOSPC || nr > st->nr_chunks)
		return ret;

	atomic64_inc(&st->space_waits);
	spin_lock(&st->space_lock);
	st->space_waiters++;
	st->need_chunks = max(st->need_chunks, nr);
	spin_unlock(&st->space_lock);
	for (;;) {
		long left = (long)(deadline - jiffies);
		bool kick = false;

		gen = READ_ONCE(st->space_gen);
		/*
		 * Taking the run and withdrawing the request in one section:
		 * the work item never sees a request already satisfied, so
		 * it does not evict a bucket more than the writers need.
		 */
		spin_lock(&st->space_lock);
		ret = __kvb_space_alloc(st, nr, &found, &kick);
		if (!ret)
			kvb_space_unwait(st);
		spin_unlock(&st->space_lock);
		if (kick)
			kvb_reclaim_kick(st);
		if (!ret) {
			*start = kvb_chunk_pos(st, found);
			return 0;
		}
		if (left <= 0) {
			ret = READ_ONCE(st->reclaim_err) ?: -EAGAIN;
			break;
		}
		kvb_reclaim_kick(st);
		/* woken by every free; the timeout re-kicks the work item */
		left = wait_event_interruptible_timeout(st->space_wait,
							kvb_space_freed(st, gen),
							min_t(long, left, HZ));
		if (left < 0) {
			ret = -EINTR;
			break;
		}
	}
	spin_lock(&st->space_lock);
	kvb_space_unwait(st);
	spin_unlock(&st->space_lock);
	return ret;
}

/*
 * Chunks of deleted buckets that loads in flight still read: counted as
 * free by the eviction's target, so that it does not evict more for them.
 */
void kvb_space_dying(struct kvb_store *st, u64 len, bool add)
{
	u64 nr = len >> st->chunk_shift;

	spin_lock(&st->space_lock);
	if (add)
		st->dying_chunks += nr;
	else
		st->dying_chunks -= nr;
	spin_unlock(&st->space_lock);
}

/* Mark the chunks of a bucket found on the device as used (attach). */
void kvb_space_mark(struct kvb_store *st, u64 start, u64 len)
{
	u64 first = kvb_chunk_of(st, start), nr = len >> st->chunk_shift;

	spin_lock(&st->space_lock);
	bitmap_set(st->chunk_map, first, nr);
	st->used_chunks += nr;
	spin_unlock(&st->space_lock);
}

void kvb_space_free(struct kvb_store *st, u64 start, u64 len)
{
	u64 first = kvb_chunk_of(st, start), nr = len >> st->chunk_shift;

	spin_lock(&st->space_lock);
	bitmap_clear(st->chunk_map, first, nr);
	st->used_chunks -= nr;
	WRITE_ONCE(st->space_gen, st->space_gen + 1);
	spin_unlock(&st->space_lock);
	wake_up_all(&st->space_wait);
}

bool kvb_space_is_free(struct kvb_store *st, u64 start, u64 len)
{
	u64 first = kvb_chunk_of(st, start), nr = len >> st->chunk_shift;
	bool ret;

	spin_lock(&st->space_lock);
	ret = find_next_bit(st->chunk_map, first + nr, first) >= first + nr;
	spin_unlock(&st->space_lock);
	return ret;
}

/* Forget every allocation (a discarded attempt to load the index). */
void kvb_space_clear(struct kvb_store *st)
{
	spin_lock(&st->space_lock);
	bitmap_zero(st->chunk_map, st->nr_chunks);
	st->used_chunks = 0;
	st->dying_chunks = 0;
	st->alloc_cursor = 0;
	spin_unlock(&st->space_lock);
}
