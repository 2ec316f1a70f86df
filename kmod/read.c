// SPDX-License-Identifier: GPL-2.0
/*
 * QUERY and LOAD: the read side. A key is looked up under RCU with no lock;
 * a load then holds a reference on the bucket, so that the bucket's space
 * is not reused while it is read, even if the key is removed or the bucket
 * deleted meanwhile. A LOAD takes one reference per bucket, shared by all
 * its keys in that bucket, and drops it once the last of them is read: one
 * write of the bucket's reference count per bucket, not per key.
 *
 * A LOAD looks all its keys up first, sorts the values found by device
 * offset and reads them in windows: every read of a window is in flight
 * together, and values adjacent on the device (keys of one bucket) are read
 * as one chain of bios. Blocks that go direct (io.c) are read straight into
 * the caller's pinned pages; a window holds at most KVB_LOAD_WINDOW bytes of
 * bounce pages for the rest, and at most KVB_LOAD_DIRECT_WINDOW bytes of
 * pinned pages (which bounds the page arrays). Every value is checked
 * against its checksum before its status is 0 and before a byte of its
 * bounce pages reaches the caller.
 */
#include <linux/blkdev.h>
#include <linux/hash.h>
#include <linux/log2.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/sort.h>

#include "kvb.h"

#define KVB_LOAD_WINDOW		SZ_32M
#define KVB_LOAD_DIRECT_WINDOW	SZ_1G

/* Under RCU: the object of a key if it is readable, else NULL. */
static struct kvb_obj *kvb_find_rcu(struct kvb_store *st, const u8 *key,
				    u32 key_len)
{
	struct kvb_obj *obj = kvb_index_lookup(st, key, key_len);

	if (obj && READ_ONCE(obj->bucket->state) == KVB_BUCKET_LIVE)
		return obj;
	return NULL;
}

int kvb_query(struct kvb_store *st, struct kvb_req *rq)
{
	u32 i;

	for (i = 0; i < rq->count; i++) {
		struct kvb_obj_desc *d = &rq->descs[i];
		struct kvb_obj *obj;

		rcu_read_lock();
		obj = kvb_find_rcu(st, kvb_req_key(rq, i),
				   kvb_req_key_len(rq, i));
		if (obj) {
			d->bucket_id = obj->bucket->id;
			d->value_len = obj->value_len;
			d->offset = obj->bucket->start + obj->value_off;
		}
		rcu_read_unlock();
		if (!obj) {
			d->status = -ENOENT;
			continue;
		}
		d->status = 0;
		rq->batch.nr_done++;
	}
	return 0;
}

/* A bucket a LOAD reads from, referenced once for all its values. */
struct kvb_load_bucket {
	struct kvb_bucket *b;		/* NULL once put */
	u32 left;			/* its values not read yet */
};

/* A value a LOAD reads. */
struct kvb_load_val {
	u64 pos;			/* device offset */
	u64 moff;			/* offset in its window's map */
	u64 direct;			/* bytes read into user pages */
	u32 len;
	u32 crc;
	u32 desc;			/* descriptor */
	u32 bucket;			/* in kvb_load.buckets */
	int err;			/* failed before its read */
};

/* Values [first, end) of a window, adjacent on the device. */
struct kvb_load_run {
	struct kvb_io io;
	u32 first;
	u32 end;
};

struct kvb_load {
	struct kvb_store *st;
	struct kvb_req *rq;
	struct kvb_load_bucket *buckets;
	u32 nr_buckets;
	u32 last;			/* bucket of the previous key */
	u32 *slots;			/* hash: index + 1, 0 free */
	unsigned int bits;
	struct kvb_load_val *vals;
	u32 nr_vals;
	u64 direct;			/* value bytes loaded direct */
	u64 bounce;			/* value bytes copied out */
};

/*
 * Under RCU: the index of bucket b in l->buckets, taking a reference the
 * first time the call meets b; -1 if b is being freed. A bucket the call
 * holds cannot be freed, so comparing pointers is safe.
 */
static int kvb_load_hold(struct kvb_load *l, struct kvb_bucket *b)
{
	u32 mask = (1U << l->bits) - 1, h, k;

	if (l->nr_buckets && l->buckets[l->last].b == b)
		return l->last;
	h = hash_ptr(b, l->bits);
	while (l->slots[h]) {
		k = l->slots[h] - 1;
		if (l->buckets[k].b == b) {
			l->last = k;
			return k;
		}
		h = (h + 1) & mask;
	}
	if (!refcount_inc_not_zero(&b->ref))
		return -1;
	k = l->nr_buckets++;
	l->buckets[k].b = b;
	l->slots[h] = k + 1;
	l->last = k;
	return k;
}

/* Bytes of the value of descriptor i that can be read direct. */
static u64 kvb_load_direct(struct kvb_store *st, const struct kvb_req *rq,
			   u32 i)
{
	u64 p = 0, n = 0, start;
	u32 s;

	for (s = rq->slice_off[i]; s < rq->slice_off[i + 1]; s++) {
		n += kvb_slice_direct(st, p, rq->slices[s].addr,
				      rq->slices[s].len, &start);
		p += rq->slices[s].len;
	}
	return n;
}

/* Look every key up; the values to read go to l->vals. */
static void kvb_load_find(struct kvb_load *l)
{
	struct kvb_store *st = l->st;
	struct kvb_req *rq = l->rq;
	struct kvb_bucket *touched = NULL;
	u32 i;

	for (i = 0; i < rq->count; i++) {
		struct kvb_obj_desc *d = &rq->descs[i];
		struct kvb_load_val *v = &l->vals[l->nr_vals];
		struct kvb_bucket *b = NULL;
		struct kvb_obj *obj;
		int k = -1;

		rcu_read_lock();
		obj = kvb_find_rcu(st, kvb_req_key(rq, i),
				   kvb_req_key_len(rq, i));
		if (obj)
			k = kvb_load_hold(l, obj->bucket);
		if (k >= 0) {
			b = obj->bucket;
			v->pos = b->start + obj->value_off;
			v->len = obj->value_len;
			v->crc = obj->value_crc;
		}
		rcu_read_unlock();
		if (!b) {
			d->status = -ENOENT;
			continue;
		}
		d->bucket_id = b->id;
		d->value_len = v->len;
		d->offset = v->pos;
		/* for the eviction policy: once per run of keys of a bucket */
		if (b != touched) {
			kvb_bucket_touch(b);
			touched = b;
		}
		if (rq->len[i] != v->len) {
			d->status = -EMSGSIZE;
			continue;
		}
		v->desc = i;
		v->bucket = k;
		v->direct = kvb_load_direct(st, rq, i);
		v->err = 0;
		l->buckets[k].left++;
		l->nr_vals++;
	}
	/* buckets of keys with the wrong length only */
	for (i = 0; i < l->nr_buckets; i++) {
		if (!l->buckets[i].left) {
			kvb_bucket_put(l->buckets[i].b);
			l->buckets[i].b = NULL;
		}
	}
}

static int kvb_load_val_cmp(const void *a, const void *b)
{
	const struct kvb_load_val *x = a, *y = b;

	if (x->pos != y->pos)
		return x->pos < y->pos ? -1 : 1;
	return x->desc < y->desc ? -1 : x->desc > y->desc;
}

/* A value is done: its status, and its bucket's reference if it was last. */
static void kvb_load_done(struct kvb_load *l, struct kvb_load_val *v,
			  int status)
{
	struct kvb_load_bucket *lb = &l->buckets[v->bucket];

	l->rq->descs[v->desc].status = status;
	if (!status) {
		l->rq->batch.nr_done++;
		l->direct += v->direct;
		l->bounce += v->len - v->direct;
	}
	if (!--lb->left) {
		kvb_bucket_put(lb->b);
		lb->b = NULL;
	}
}

/* Verify a value read into the map and copy its bounced bytes out. */
static int kvb_load_check(struct kvb_load *l, struct kvb_map *map,
			  struct kvb_load_val *v)
{
	if (kvb_map_crc(map, v->moff, v->len) != v->crc) {
		pr_err_ratelimited("kvbucket%u: value at %llu: checksum mismatch\n",
				   l->st->id, v->pos);
		return -EBADMSG;
	}
	return kvb_map_value_out(map, v->moff, l->rq, v->desc);
}

/*
 * Read values [first, end) of l->vals. Returns -EFAULT when a destination
 * could not be written, which fails the whole call.
 */
static int kvb_load_window(struct kvb_load *l, u32 first, u32 end)
{
	struct kvb_store *st = l->st;
	struct kvb_load_run *runs;
	struct blk_plug plug;
	struct kvb_map map;
	u32 j, r, nr_runs = 0;
	u64 size = 0;
	int fault = 0;

	for (j = first; j < end; j++) {
		l->vals[j].moff = size;
		size += kvb_blocks_bytes(st, l->vals[j].len);
	}
	runs = kvmalloc_array(end - first, sizeof(*runs), GFP_KERNEL);
	if (!runs || kvb_map_alloc(&map, size, true)) {
		kvfree(runs);
		for (j = first; j < end; j++)
			kvb_load_done(l, &l->vals[j], -ENOMEM);
		return 0;
	}
	/* pin what goes direct; bounce pages that the read overwrites whole */
	for (j = first; j < end; j++) {
		struct kvb_load_val *v = &l->vals[j];
		s64 direct;

		direct = kvb_map_value(st, &map, v->moff, l->rq, v->desc,
				       v->len, GFP_KERNEL);
		if (direct < 0)
			v->err = direct;
		else
			v->direct = direct;
	}

	/* every read of the window, adjacent values in one chain */
	blk_start_plug(&plug);
	j = first;
	while (j < end) {
		struct kvb_load_val *v = &l->vals[j];
		struct kvb_load_run *run;
		u64 next;

		if (v->err) {
			j++;
			continue;
		}
		run = &runs[nr_runs++];
		run->first = j;
		next = v->pos + kvb_blocks_bytes(st, v->len);
		for (j++; j < end && !l->vals[j].err && l->vals[j].pos == next;
		     j++)
			next += kvb_blocks_bytes(st, l->vals[j].len);
		run->end = j;
		kvb_io_init(&run->io);
		kvb_io_submit(st, &run->io, REQ_OP_READ, v->pos,
			      &map.pages[v->moff >> PAGE_SHIFT],
			      (next - v->pos) >> PAGE_SHIFT);
	}
	blk_finish_plug(&plug);

	for (j = first; j < end; j++)
		if (l->vals[j].err)
			kvb_load_done(l, &l->vals[j], l->vals[j].err);
	for (r = 0; r < nr_runs; r++) {
		struct kvb_load_run *run = &runs[r];
		int io_err = kvb_io_wait(&run->io);

		for (j = run->first; j < run->end; j++) {
			struct kvb_load_val *v = &l->vals[j];
			int ret;

			/* a chain failed: find the values the error hits */
			if (io_err && run->end - run->first > 1)
				ret = kvb_rw_pages(st, REQ_OP_READ, v->pos,
						   map.pages + (v->moff >> PAGE_SHIFT),
						   kvb_blocks_bytes(st, v->len) >>
						   PAGE_SHIFT);
			else
				ret = io_err;
			ret = ret ? -EIO : kvb_load_check(l, &map, v);
			if (ret == -EFAULT)
				fault = ret;
			kvb_load_done(l, v, ret);
		}
	}
	kvb_map_free(&map);
	kvfree(runs);
	return fault;
}

int kvb_load(struct kvb_store *st, struct kvb_req *rq)
{
	struct kvb_load l = { .st = st, .rq = rq };
	u32 i, first, end;
	int ret = -ENOMEM;

	l.bits = order_base_2(2 * rq->count);
	l.vals = kvmalloc_array(rq->count, sizeof(*l.vals), GFP_KERNEL);
	l.buckets = kvcalloc(rq->count, sizeof(*l.buckets), GFP_KERNEL);
	l.slots = kvcalloc(1U << l.bits, sizeof(*l.slots), GFP_KERNEL);
	if (!l.vals || !l.buckets || !l.slots)
		goto out;

	kvb_load_find(&l);
	sort(l.vals, l.nr_vals, sizeof(*l.vals), kvb_load_val_cmp, NULL);

	ret = 0;
	for (first = 0; first < l.nr_vals && !ret; first = end) {
		u64 bounce = 0, direct = 0;

		for (end = first; end < l.nr_vals; end++) {
			struct kvb_load_val *v = &l.vals[end];
			u64 b = kvb_blocks_bytes(st, v->len) - v->direct;

			if (end > first &&
			    (bounce + b > KVB_LOAD_WINDOW ||
			     direct + v->direct > KVB_LOAD_DIRECT_WINDOW))
				break;
			bounce += b;
			direct += v->direct;
		}
		ret = kvb_load_window(&l, first, end);
	}
	kvb_count_io(st, l.direct, l.bounce);
out:
	/* after a fault: the buckets of the values not read */
	for (i = 0; i < l.nr_buckets; i++)
		if (l.buckets[i].b)
			kvb_bucket_put(l.buckets[i].b);
	kvfree(l.vals);
	kvfree(l.buckets);
	kvfree(l.slots);
	return ret;
}
