// SPDX-License-Identifier: GPL-2.0
/*
 * The index: key -> struct kvb_obj, an rhashtable with variable-length
 * keys. Lookups run under RCU with no lock and always compare the whole
 * key; every change is made under store->index_lock.
 *
 * An OFFLOAD reserves its keys before it writes anything, in a second
 * table (in flight: struct kvb_resv), so that two calls never write the
 * same key at once. A key that is not stored yet also goes into the index
 * right away, pointing to the new bucket, which stays KVB_BUCKET_PENDING
 * (invisible to readers) until it commits. Everything that can fail happens
 * at reservation; committing a bucket only flips its state and swaps
 * replaced objects, which cannot fail, so a bucket that is on the device is
 * always in the index too.
 */
#include <linux/jhash.h>
#include <linux/rhashtable.h>
#include <linux/slab.h>

#include "kvb.h"

struct kvb_key {
	const u8 *data;
	u32 len;
};

static u32 kvb_key_hashfn(const void *data, u32 len, u32 seed)
{
	const struct kvb_key *k = data;

	return jhash(k->data, k->len, seed);
}

static u32 kvb_obj_hashfn(const void *data, u32 len, u32 seed)
{
	const struct kvb_obj *obj = data;

	return jhash(obj->key, obj->key_len, seed);
}

static int kvb_obj_cmpfn(struct rhashtable_compare_arg *arg, const void *ptr)
{
	const struct kvb_key *k = arg->key;
	const struct kvb_obj *obj = ptr;

	return obj->key_len != k->len || memcmp(obj->key, k->data, k->len);
}

static const struct rhashtable_params kvb_index_params = {
	.head_offset = offsetof(struct kvb_obj, node),
	.hashfn = kvb_key_hashfn,
	.obj_hashfn = kvb_obj_hashfn,
	.obj_cmpfn = kvb_obj_cmpfn,
	.automatic_shrinking = true,
};

static u32 kvb_resv_hashfn(const void *data, u32 len, u32 seed)
{
	const struct kvb_resv *r = data;

	return kvb_obj_hashfn(r->obj, len, seed);
}

static int kvb_resv_cmpfn(struct rhashtable_compare_arg *arg, const void *ptr)
{
	const struct kvb_resv *r = ptr;

	return kvb_obj_cmpfn(arg, r->obj);
}

static const struct rhashtable_params kvb_resv_params = {
	.head_offset = offsetof(struct kvb_resv, node),
	.hashfn = kvb_key_hashfn,
	.obj_hashfn = kvb_resv_hashfn,
	.obj_cmpfn = kvb_resv_cmpfn,
	.automatic_shrinking = true,
};

int kvb_index_init(struct kvb_store *st)
{
	int ret;

	mutex_init(&st->index_lock);
	xa_init(&st->buckets);
	ret = rhashtable_init(&st->index, &kvb_index_params);
	if (ret)
		return ret;
	ret = rhashtable_init(&st->inflight, &kvb_resv_params);
	if (ret)
		rhashtable_destroy(&st->index);
	return ret;
}

/*
 * Only at detach or a failed attach, when no call is in flight: the
 * objects are freed with their buckets.
 */
void kvb_index_destroy(struct kvb_store *st)
{
	rhashtable_destroy(&st->inflight);
	rhashtable_destroy(&st->index);
}

struct kvb_obj *kvb_obj_alloc(const u8 *key, u32 key_len)
{
	struct kvb_obj *obj;

	obj = kmalloc(struct_size(obj, key, key_len), GFP_KERNEL);
	if (!obj)
		return NULL;
	memset(obj, 0, sizeof(*obj));
	obj->key_len = key_len;
	memcpy(obj->key, key, key_len);
	return obj;
}

/*
 * Under rcu_read_lock() or index_lock, which keep the object alive; may
 * return a pending object. The _fast variant takes the RCU read lock that
 * rhashtable wants itself: it does not know about index_lock.
 */
struct kvb_obj *kvb_index_lookup(struct kvb_store *st, const u8 *key,
				 u32 key_len)
{
	struct kvb_key k = { .data = key, .len = key_len };

	return rhashtable_lookup_fast(&st->index, &k, kvb_index_params);
}

struct kvb_resv *kvb_resv_lookup(struct kvb_store *st, const u8 *key,
				 u32 key_len)
{
	struct kvb_key k = { .data = key, .len = key_len };

	lockdep_assert_held(&st->index_lock);
	return rhashtable_lookup_fast(&st->inflight, &k, kvb_resv_params);
}

int kvb_resv_insert(struct kvb_store *st, struct kvb_resv *r)
{
	lockdep_assert_held(&st->index_lock);
	return rhashtable_insert_fast(&st->inflight, &r->node,
				      kvb_resv_params);
}

void kvb_resv_remove(struct kvb_store *st, struct kvb_resv *r)
{
	lockdep_assert_held(&st->index_lock);
	rhashtable_remove_fast(&st->inflight, &r->node, kvb_resv_params);
}

/*
 * Kernel memory of the index: the objects with their objs[] slots, the
 * hash table's bucket array, and the bucket structures.
 */
u64 kvb_index_bytes(struct kvb_store *st)
{
	const struct bucket_table *tbl;
	u64 bytes = READ_ONCE(st->index_obj_bytes);

	rcu_read_lock();
	tbl = rht_dereference_rcu(st->index.tbl, &st->index);
	bytes += (u64)tbl->size * sizeof(tbl->buckets[0]);
	rcu_read_unlock();
	bytes += READ_ONCE(st->nr_buckets) *
		 kmalloc_size_roundup(sizeof(struct kvb_bucket));
	return bytes;
}

/* Insert a new object (of a pending bucket, or at attach). */
int kvb_index_insert(struct kvb_store *st, struct kvb_obj *obj)
{
	lockdep_assert_held(&st->index_lock);
	return rhashtable_insert_fast(&st->index, &obj->node,
				      kvb_index_params);
}

/* Put obj in the place of old, which is in the index. Cannot fail. */
void kvb_index_replace(struct kvb_store *st, struct kvb_obj *old,
		       struct kvb_obj *obj)
{
	lockdep_assert_held(&st->index_lock);
	rhashtable_replace_fast(&st->index, &old->node, &obj->node,
				kvb_index_params);
}

/* Take an object of a pending bucket out again (failed OFFLOAD). */
void kvb_index_remove(struct kvb_store *st, struct kvb_obj *obj)
{
	lockdep_assert_held(&st->index_lock);
	rhashtable_remove_fast(&st->index, &obj->node, kvb_index_params);
}

/*
 * Memory an object of the index costs: its allocation as the slab rounds
 * it up, and its slot in the bucket's objs[].
 */
static u64 kvb_obj_mem(const struct kvb_obj *obj)
{
	return kmalloc_size_roundup(struct_size(obj, key, obj->key_len)) +
	       sizeof(struct kvb_obj *);
}

/* Count a readable object in its bucket and in the store's totals. */
void kvb_obj_account(struct kvb_store *st, struct kvb_obj *obj)
{
	struct kvb_bucket *b = obj->bucket;

	lockdep_assert_held(&st->index_lock);
	WRITE_ONCE(st->index_obj_bytes, st->index_obj_bytes + kvb_obj_mem(obj));
	b->nr_live++;
	b->live_bytes += obj->value_len;
	WRITE_ONCE(st->nr_keys, st->nr_keys + 1);
	WRITE_ONCE(st->value_bytes, st->value_bytes + obj->value_len);
}

/*
 * Make a readable object unreadable: out of the index and out of its
 * bucket. When an OFFLOAD in flight is replacing the key, its pending
 * object takes the slot in the index, so that its commit finds the key
 * already there. The caller frees obj with kfree_rcu_mightsleep() afterwards.
 */
void kvb_index_drop(struct kvb_store *st, struct kvb_obj *obj)
{
	struct kvb_bucket *b = obj->bucket;
	struct kvb_resv *r;

	lockdep_assert_held(&st->index_lock);
	r = kvb_resv_lookup(st, obj->key, obj->key_len);
	if (r)
		kvb_index_replace(st, obj, r->obj);
	else
		rhashtable_remove_fast(&st->index, &obj->node,
				       kvb_index_params);
	WRITE_ONCE(b->objs[obj->idx], NULL);
	WRITE_ONCE(st->index_obj_bytes, st->index_obj_bytes - kvb_obj_mem(obj));
	b->nr_live--;
	b->live_bytes -= obj->value_len;
	WRITE_ONCE(st->nr_keys, st->nr_keys - 1);
	WRITE_ONCE(st->value_bytes, st->value_bytes - obj->value_len);
}
