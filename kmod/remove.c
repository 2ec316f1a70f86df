// SPDX-License-Identifier: GPL-2.0
/*
 * REMOVE and DELETE_BUCKET. Both write the device first (a state slot, or a
 * free header) and change the index only once the write succeeded: a
 * failed call leaves every key readable, and a successful one is durable.
 */
#include <linux/bitmap.h>
#include <linux/slab.h>
#include <linux/sort.h>

#include "kvb.h"

struct kvb_rm {
	struct kvb_bucket *b;		/* referenced */
	struct kvb_obj *obj;		/* compared, never dereferenced */
	u32 idx;
	u32 desc;
};

static int kvb_rm_cmp(const void *a, const void *b)
{
	const struct kvb_rm *x = a, *y = b;

	if (x->b != y->b)
		return x->b < y->b ? -1 : 1;
	return x->desc < y->desc ? -1 : x->desc > y->desc;
}

/* Remove the keys rm[0..n), all of bucket b. */
static void kvb_remove_group(struct kvb_store *st, struct kvb_req *rq,
			     struct kvb_rm *rm, u32 n, unsigned long *extra)
{
	struct kvb_bucket *b = rm[0].b;
	int ret = -ENOENT;
	u32 k;

	mutex_lock(&b->lock);
	if (b->state != KVB_BUCKET_LIVE)
		goto out;
	bitmap_zero(extra, b->nr_objs);
	for (k = 0; k < n; k++)
		if (READ_ONCE(b->objs[rm[k].idx]) == rm[k].obj)
			__set_bit(rm[k].idx, extra);
	ret = kvb_bucket_sync_state(b, extra);
	if (ret)
		goto out;

	mutex_lock(&st->index_lock);
	for (k = 0; k < n; k++) {
		struct kvb_obj_desc *d = &rq->descs[rm[k].desc];
		struct kvb_obj *obj = rm[k].obj;

		if (b->objs[rm[k].idx] != obj) {
			d->status = -ENOENT;	/* went meanwhile */
			continue;
		}
		d->status = 0;
		d->bucket_id = b->id;
		d->value_len = obj->value_len;
		d->offset = b->start + obj->value_off;
		rq->batch.nr_done++;
		kvb_index_drop(st, obj);
		kfree_rcu_mightsleep(obj);
	}
	mutex_unlock(&st->index_lock);
	ret = kvb_bucket_settle(b);
	if (ret)
		pr_err_ratelimited("kvbucket%u: bucket %llu: cannot free empty bucket: %d\n",
				   st->id, b->id, ret);
	ret = 0;
out:
	mutex_unlock(&b->lock);
	for (k = 0; k < n; k++) {
		if (ret)
			rq->descs[rm[k].desc].status = ret;
		kvb_bucket_put(rm[k].b);
	}
}

int kvb_remove(struct kvb_store *st, struct kvb_req *rq)
{
	unsigned long *extra;
	struct kvb_rm *rm;
	u32 i, n = 0, first;

	rm = kvcalloc(rq->count, sizeof(*rm), GFP_KERNEL);
	extra = bitmap_alloc(KVB_MAX_KEYS_PER_BUCKET, GFP_KERNEL);
	if (!rm || !extra) {
		kvfree(rm);
		bitmap_free(extra);
		return -ENOMEM;
	}

	for (i = 0; i < rq->count; i++) {
		struct kvb_obj *obj;

		rq->descs[i].status = -ENOENT;
		rcu_read_lock();
		obj = kvb_index_lookup(st, kvb_req_key(rq, i),
				       kvb_req_key_len(rq, i));
		if (obj && READ_ONCE(obj->bucket->state) == KVB_BUCKET_LIVE &&
		    refcount_inc_not_zero(&obj->bucket->ref)) {
			rm[n].b = obj->bucket;
			rm[n].obj = obj;
			rm[n].idx = obj->idx;
			rm[n].desc = i;
			n++;
		}
		rcu_read_unlock();
	}

	/* one state write per bucket, keys in descriptor order */
	sort(rm, n, sizeof(*rm), kvb_rm_cmp, NULL);
	for (first = 0, i = 1; i <= n; i++) {
		if (i < n && rm[i].b == rm[first].b)
			continue;
		kvb_remove_group(st, rq, rm + first, i - first, extra);
		first = i;
	}
	bitmap_free(extra);
	kvfree(rm);
	return 0;
}

int kvb_delete_bucket(struct kvb_store *st, struct kvb_delete_bucket *arg)
{
	struct kvb_bucket *b;
	int ret;

	b = kvb_bucket_get_id(st, arg->bucket_id);
	if (!b)
		return -ENOENT;
	mutex_lock(&b->lock);
	ret = kvb_bucket_kill(b, &arg->nr_keys, NULL);
	mutex_unlock(&b->lock);
	if (!ret)
		kvb_bucket_wait_idle(b);	/* loads in flight on it */
	kvb_bucket_put(b);
	return ret;
}
