// SPDX-License-Identifier: GPL-2.0
/*
 * Bucket life cycle: references, the two state slots that record removed
 * objects on the device, and deletion.
 *
 * Every change of a bucket's on-disk state is written first and applied in
 * memory only once the write succeeded, so that a failed write leaves the
 * store as it was. The writes are FUA unless the store is volatile.
 */
#include <linux/bitmap.h>
#include <linux/slab.h>
#include <linux/wait_bit.h>

#include "kvb.h"

struct kvb_bucket *kvb_bucket_alloc(struct kvb_store *st, u32 nr_objs)
{
	struct kvb_bucket *b;

	b = kzalloc(sizeof(*b), GFP_KERNEL);
	if (!b)
		return NULL;
	b->objs = kvcalloc(nr_objs, sizeof(*b->objs), GFP_KERNEL);
	b->removed = bitmap_zalloc(nr_objs, GFP_KERNEL);
	if (!b->objs || !b->removed) {
		kvb_bucket_free(b);
		return NULL;
	}
	b->store = st;
	b->nr_objs = nr_objs;
	b->state = KVB_BUCKET_PENDING;
	b->state_slot = 1;	/* the first state write goes to slot 0 */
	refcount_set(&b->ref, 1);
	mutex_init(&b->lock);
	return b;
}

/* Free the structure; its objects must be gone already. */
void kvb_bucket_free(struct kvb_bucket *b)
{
	kvfree(b->objs);
	bitmap_free(b->removed);
	mutex_destroy(&b->lock);
	kfree(b);
}

static void kvb_bucket_free_rcu(struct rcu_head *head)
{
	kvb_bucket_free(container_of(head, struct kvb_bucket, rcu));
}

/*
 * The last reference: nobody reads the bucket's space any more, so it can
 * be reused. Lookups may still hold a pointer found under RCU.
 */
static void kvb_bucket_release(struct kvb_bucket *b)
{
	if (b->state == KVB_BUCKET_DEAD)
		kvb_space_dying(b->store, b->len, false);
	if (b->len)	/* a failed OFFLOAD may not have got space */
		kvb_space_free(b->store, b->start, b->len);
	call_rcu(&b->rcu, kvb_bucket_free_rcu);
}

void kvb_bucket_put(struct kvb_bucket *b)
{
	if (refcount_dec_and_test(&b->ref))
		kvb_bucket_release(b);
	else if (READ_ONCE(b->state) == KVB_BUCKET_DEAD)
		wake_up_var(&b->ref);	/* kvb_bucket_kill() may wait */
}

/* A reference on live bucket id, or NULL. */
struct kvb_bucket *kvb_bucket_get_id(struct kvb_store *st, u64 id)
{
	struct kvb_bucket *b;

	rcu_read_lock();
	b = xa_load(&st->buckets, id);
	if (b && (READ_ONCE(b->state) != KVB_BUCKET_LIVE ||
		  !refcount_inc_not_zero(&b->ref)))
		b = NULL;
	rcu_read_unlock();
	return b;
}

static blk_opf_t kvb_meta_write_opf(struct kvb_store *st)
{
	return REQ_OP_WRITE | REQ_SYNC | REQ_META |
	       (st->volatile_mode ? 0 : REQ_FUA);
}

/* Write removed[] to the older state slot. b->lock. */
static int kvb_bucket_write_state(struct kvb_bucket *b,
				  const unsigned long *removed)
{
	struct kvb_store *st = b->store;
	unsigned int slot = b->state_slot ^ 1, bit;
	struct kvb_disk_state *s;
	u64 pos;
	int ret;

	lockdep_assert_held(&b->lock);
	s = kvb_block_alloc(st);
	if (!s)
		return -ENOMEM;
	s->magic = cpu_to_le64(KVB_STATE_MAGIC);
	s->nr_objs = cpu_to_le32(b->nr_objs);
	s->bucket_id = cpu_to_le64(b->id);
	s->bucket_seq = cpu_to_le64(b->seq);
	s->seq = cpu_to_le64(b->state_seq + 1);
	memcpy(s->uuid, st->uuid, sizeof(s->uuid));
	for_each_set_bit(bit, removed, b->nr_objs)
		s->removed[bit / 8] |= 1U << (bit % 8);
	s->crc = cpu_to_le32(kvb_crc(s, st->block_size));

	pos = b->start + b->len - (u64)(3 - slot) * st->block_size;
	ret = kvb_rw_block(st, kvb_meta_write_opf(st), pos, s);
	kvb_block_free(st, s);
	if (ret)
		return ret;
	b->state_seq++;
	b->state_slot = slot;
	bitmap_copy(b->removed, removed, b->nr_objs);
	return 0;
}

/* Take the newer valid state slot found at attach. */
void kvb_bucket_load_state(struct kvb_bucket *b,
			   const struct kvb_disk_state *s, unsigned int slot)
{
	unsigned int i;

	for (i = 0; i < b->nr_objs; i++)
		if (s->removed[i / 8] & (1U << (i % 8)))
			__set_bit(i, b->removed);
	b->state_seq = le64_to_cpu(s->seq);
	b->state_slot = slot;
}

/*
 * Persist that the objects in extra (may be NULL), and those already
 * unlinked in memory, are removed. b->lock. Nothing is written when the
 * device already says so.
 */
int kvb_bucket_sync_state(struct kvb_bucket *b, const unsigned long *extra)
{
	unsigned long *want;
	unsigned int i;
	int ret = 0;

	lockdep_assert_held(&b->lock);
	want = bitmap_alloc(b->nr_objs, GFP_KERNEL);
	if (!want)
		return -ENOMEM;
	if (extra)
		bitmap_or(want, b->removed, extra, b->nr_objs);
	else
		bitmap_copy(want, b->removed, b->nr_objs);
	for (i = 0; i < b->nr_objs; i++)
		if (!READ_ONCE(b->objs[i]))
			__set_bit(i, want);
	if (!bitmap_equal(want, b->removed, b->nr_objs))
		ret = kvb_bucket_write_state(b, want);
	bitmap_free(want);
	return ret;
}

static int kvb_bucket_write_free(struct kvb_bucket *b)
{
	struct kvb_store *st = b->store;
	struct kvb_disk_free *f;
	int ret;

	f = kvb_block_alloc(st);
	if (!f)
		return -ENOMEM;
	f->magic = cpu_to_le64(KVB_FREE_MAGIC);
	f->bucket_id = cpu_to_le64(b->id);
	f->seq = cpu_to_le64(kvb_store_next_seq(st));
	f->crc = cpu_to_le32(kvb_crc(f, st->block_size));
	ret = kvb_rw_block(st, kvb_meta_write_opf(st), b->start, f);
	kvb_block_free(st, f);
	return ret;
}

/* Key bytes and number of the readable keys of b (index_lock inside). */
u64 kvb_bucket_key_bytes(struct kvb_bucket *b, u32 *nr_keys)
{
	struct kvb_store *st = b->store;
	u64 bytes = 0;
	u32 i, n = 0;

	mutex_lock(&st->index_lock);
	for (i = 0; i < b->nr_objs; i++) {
		if (!b->objs[i])
			continue;
		bytes += b->objs[i]->key_len;
		n++;
	}
	mutex_unlock(&st->index_lock);
	*nr_keys = n;
	return bytes;
}

/*
 * Delete a live bucket: overwrite its header on the device, then make its
 * keys unreadable and drop the xarray's reference. b->lock, and the caller
 * holds a reference of its own; the space is freed when the last load on
 * the bucket finishes. *nr_keys (may be NULL): keys that were readable.
 * With ev (an eviction), the keys go into that event record, which is
 * queued (and taken over) as they leave the index.
 */
int kvb_bucket_kill(struct kvb_bucket *b, u32 *nr_keys,
		    struct kvb_event_buf *ev)
{
	struct kvb_store *st = b->store;
	unsigned int i, n = 0;
	int ret;

	lockdep_assert_held(&b->lock);
	if (b->state != KVB_BUCKET_LIVE)
		return -ENOENT;
	ret = kvb_bucket_write_free(b);
	if (ret)
		return ret;

	mutex_lock(&st->index_lock);
	/*
	 * Lookups find a key only in a live bucket: marking it dead hides
	 * every key at once. An eviction's event is queued in the same
	 * ev_lock section, so that whoever no longer finds a key can read
	 * the event, and whoever read the event no longer finds the key.
	 */
	if (ev) {
		for (i = 0; i < b->nr_objs; i++) {
			if (!b->objs[i])
				continue;
			kvb_event_add_key(ev, b->objs[i]);
			n++;
		}
		/* counted before the event is seen (only the work item writes) */
		WRITE_ONCE(st->nr_evicted, st->nr_evicted + 1);
		WRITE_ONCE(st->evicted_keys, st->evicted_keys + n);
		WRITE_ONCE(st->reclaimed_bytes, st->reclaimed_bytes + b->len);
		kvb_event_queue(st, ev, b);
		n = 0;
	} else {
		WRITE_ONCE(b->state, KVB_BUCKET_DEAD);
	}
	for (i = 0; i < b->nr_objs; i++) {
		struct kvb_obj *obj = b->objs[i];

		if (!obj)
			continue;
		kvb_index_drop(st, obj);
		kfree_rcu_mightsleep(obj);
		n++;
	}
	xa_erase(&st->buckets, b->id);
	WRITE_ONCE(st->nr_buckets, st->nr_buckets - 1);
	mutex_unlock(&st->index_lock);
	kvb_space_dying(st, b->len, true);

	/* the xarray's reference; the caller still holds one */
	refcount_dec(&b->ref);
	if (nr_keys)
		*nr_keys = n;
	return 0;
}

/* Wait until the caller's reference is the only one left. */
void kvb_bucket_wait_idle(struct kvb_bucket *b)
{
	wait_var_event(&b->ref, refcount_read(&b->ref) == 1);
}

/*
 * After objects of b were unlinked in memory: persist it, and delete the
 * bucket once nothing readable is left in it. b->lock.
 */
int kvb_bucket_settle(struct kvb_bucket *b)
{
	lockdep_assert_held(&b->lock);
	if (b->state != KVB_BUCKET_LIVE)
		return 0;
	if (!READ_ONCE(b->nr_live))
		return kvb_bucket_kill(b, NULL, NULL);
	return kvb_bucket_sync_state(b, NULL);
}
