// SPDX-License-Identifier: GPL-2.0
/*
 * OFFLOAD: a batch of keys becomes one bucket.
 *
 *  1. reserve: under index_lock, skip keys that are stored (-EEXIST, unless
 *     replacing) or being written by another call (-EBUSY), and reserve
 *     the rest (index.c). Everything that can fail in memory fails here.
 *  2. build: allocate the bucket's chunks and id, map the values (pinned
 *     user pages for their block-aligned blocks, bounce pages filled from
 *     user memory for the rest: io.c), checksum them, and lay out the
 *     metadata.
 *  3. write: metadata and values, then (unless volatile) a cache flush and
 *     the commit record with FUA, so that a bucket is durable when the call
 *     returns and a torn one has no valid commit record.
 *  4. commit: flip the bucket to live, which makes its new keys readable
 *     at once, and swap replaced keys; then persist that the replaced
 *     objects are gone from their old buckets.
 *
 * A failure before step 4 undoes step 1 and leaves the store unchanged.
 */
#include <linux/bitmap.h>
#include <linux/ktime.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/uaccess.h>

#include "kvb.h"

struct kvb_offload {
	struct kvb_store *st;
	struct kvb_req *rq;
	bool replace;
	struct kvb_bucket *b;
	struct kvb_obj **objs;		/* [count], preallocated */
	struct kvb_resv *resv;		/* [n] */
	u32 *desc_of;			/* [n]: descriptor of object j */
	unsigned long *replacing;	/* [n]: the key was stored before */
	u32 n;				/* objects reserved */
	struct kvb_map map;		/* metadata and values */
	u64 direct;			/* value bytes from user pages */
	u64 bounce;			/* value bytes copied */
	u32 meta_len;
	u64 data_len;			/* meta and values, block aligned */
};

struct kvb_key_ref {
	const u8 *key;
	u32 len;
};

static int kvb_key_ref_cmp(const void *a, const void *b)
{
	const struct kvb_key_ref *x = a, *y = b;
	int c = memcmp(x->key, y->key, min(x->len, y->len));

	if (c)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* The same key twice in one batch is an error (EINVAL). */
static int kvb_check_unique(struct kvb_req *rq)
{
	struct kvb_key_ref *refs;
	int ret = 0;
	u32 i;

	if (rq->count < 2)
		return 0;
	refs = kvmalloc_array(rq->count, sizeof(*refs), GFP_KERNEL);
	if (!refs)
		return -ENOMEM;
	for (i = 0; i < rq->count; i++) {
		refs[i].key = kvb_req_key(rq, i);
		refs[i].len = kvb_req_key_len(rq, i);
	}
	sort(refs, rq->count, sizeof(*refs), kvb_key_ref_cmp, NULL);
	for (i = 1; i < rq->count; i++)
		if (!kvb_key_ref_cmp(&refs[i - 1], &refs[i])) {
			ret = -EINVAL;
			break;
		}
	kvfree(refs);
	return ret;
}

static void kvb_desc_set(struct kvb_obj_desc *d, int status,
			 const struct kvb_obj *obj)
{
	d->status = status;
	if (obj) {
		d->bucket_id = obj->bucket->id;
		d->value_len = obj->value_len;
		d->offset = obj->bucket->start + obj->value_off;
	}
}

/* Step 1, under index_lock. */
static int kvb_reserve(struct kvb_offload *o)
{
	struct kvb_store *st = o->st;
	struct kvb_req *rq = o->rq;
	u32 i;
	int ret;

	lockdep_assert_held(&st->index_lock);
	for (i = 0; i < rq->count; i++) {
		const u8 *key = kvb_req_key(rq, i);
		u32 key_len = kvb_req_key_len(rq, i);
		struct kvb_obj *cur, *obj;
		bool replacing = false;

		if (kvb_resv_lookup(st, key, key_len)) {
			kvb_desc_set(&rq->descs[i], -EBUSY, NULL);
			continue;
		}
		cur = kvb_index_lookup(st, key, key_len);
		if (cur) {
			if (READ_ONCE(cur->bucket->state) != KVB_BUCKET_LIVE) {
				kvb_desc_set(&rq->descs[i], -EBUSY, NULL);
				continue;
			}
			if (!o->replace) {
				kvb_desc_set(&rq->descs[i], -EEXIST, cur);
				continue;
			}
			replacing = true;
		}

		obj = o->objs[i];
		obj->bucket = o->b;
		obj->idx = o->n;
		obj->value_len = rq->len[i];
		o->resv[o->n].obj = obj;
		ret = kvb_resv_insert(st, &o->resv[o->n]);
		if (ret)
			return ret;
		if (!replacing) {
			ret = kvb_index_insert(st, obj);
			if (ret) {
				kvb_resv_remove(st, &o->resv[o->n]);
				return ret;
			}
		} else {
			__set_bit(o->n, o->replacing);
		}
		o->objs[i] = NULL;	/* owned by the bucket now */
		o->b->objs[o->n] = obj;
		o->desc_of[o->n] = i;
		o->n++;
	}
	return 0;
}

/* Undo step 1 after a failure. */
static void kvb_unreserve(struct kvb_offload *o)
{
	struct kvb_store *st = o->st;
	u32 j;

	mutex_lock(&st->index_lock);
	for (j = 0; j < o->n; j++) {
		struct kvb_obj *obj = o->b->objs[j];

		kvb_resv_remove(st, &o->resv[j]);
		/* a replacing object is in the index if a removal put it there */
		if (kvb_index_lookup(st, obj->key, obj->key_len) == obj)
			kvb_index_remove(st, obj);
		o->b->objs[j] = NULL;
		kfree_rcu_mightsleep(obj);
	}
	o->n = 0;
	mutex_unlock(&st->index_lock);
}

/* Step 2: lay out the bucket and fill its pages. */
static int kvb_build(struct kvb_offload *o)
{
	struct kvb_store *st = o->st;
	struct kvb_req *rq = o->rq;
	struct kvb_bucket *b = o->b;
	struct kvb_disk_bucket *hdr;
	struct kvb_disk_obj *tab;
	u64 off, len, key_bytes = 0;
	u32 key_pos, j;
	void *meta;
	int ret;

	for (j = 0; j < o->n; j++)
		key_bytes += b->objs[j]->key_len;
	o->meta_len = sizeof(*hdr) + o->n * sizeof(*tab) + key_bytes;

	off = kvb_blocks_bytes(st, o->meta_len);
	for (j = 0; j < o->n; j++) {
		b->objs[j]->value_off = off;
		off += kvb_blocks_bytes(st, b->objs[j]->value_len);
	}
	o->data_len = off;
	len = round_up(off + 3ULL * st->block_size, st->chunk_size);
	if (len > (st->nr_chunks << st->chunk_shift)) {
		rq->batch.limit = KVB_LIMIT_CAPACITY;
		return -ENOSPC;
	}
	/* waits for eviction when the store is full */
	ret = kvb_space_alloc_wait(st, len >> st->chunk_shift, &b->start);
	if (ret)
		return ret;
	b->len = len;
	b->nr_objs = o->n;
	b->seq = kvb_store_next_seq(st);
	b->ctime_ns = ktime_get_real_ns();

	ret = kvb_map_alloc(&o->map, o->data_len, false);
	if (ret)
		return ret;

	/*
	 * Values first: their checksums go into the object table. Bounce
	 * pages are zeroed, so that the padding after a value's last byte
	 * does not write kernel memory to the device; user pages hold whole
	 * blocks of the value, no padding.
	 */
	for (j = 0; j < o->n; j++) {
		struct kvb_obj *obj = b->objs[j];
		u32 i = o->desc_of[j];
		s64 direct;

		direct = kvb_map_value(st, &o->map, obj->value_off, rq, i,
				       obj->value_len,
				       GFP_KERNEL | __GFP_ZERO);
		if (direct < 0)
			return direct;
		o->direct += direct;
		o->bounce += obj->value_len - direct;
		ret = kvb_map_value_in(&o->map, obj->value_off, rq, i,
				       &obj->value_crc);
		if (ret)
			return ret;
	}
	ret = kvb_map_bounce(&o->map, 0, kvb_blocks_bytes(st, o->meta_len),
			     GFP_KERNEL | __GFP_ZERO);
	if (ret)
		return ret;

	meta = kvzalloc(o->meta_len, GFP_KERNEL);
	if (!meta)
		return -ENOMEM;
	hdr = meta;
	tab = meta + sizeof(*hdr);
	key_pos = sizeof(*hdr) + o->n * sizeof(*tab);
	for (j = 0; j < o->n; j++) {
		struct kvb_obj *obj = b->objs[j];

		tab[j].value_off = cpu_to_le64(obj->value_off);
		tab[j].value_len = cpu_to_le64(obj->value_len);
		tab[j].key_off = cpu_to_le32(key_pos);
		tab[j].key_len = cpu_to_le16(obj->key_len);
		tab[j].value_crc = cpu_to_le32(obj->value_crc);
		memcpy(meta + key_pos, obj->key, obj->key_len);
		key_pos += obj->key_len;
	}
	hdr->magic = cpu_to_le64(KVB_BUCKET_MAGIC);
	memcpy(hdr->uuid, st->uuid, sizeof(hdr->uuid));
	hdr->id = cpu_to_le64(b->id);
	hdr->seq = cpu_to_le64(b->seq);
	hdr->start = cpu_to_le64(b->start);
	hdr->len = cpu_to_le64(b->len);
	hdr->ctime_ns = cpu_to_le64(b->ctime_ns);
	for (j = 0; j < o->n; j++)
		b->live_bytes += b->objs[j]->value_len;
	hdr->value_bytes = cpu_to_le64(b->live_bytes);
	b->live_bytes = 0;	/* counted again as the keys go live */
	hdr->meta_len = cpu_to_le32(o->meta_len);
	hdr->nr_objs = cpu_to_le32(o->n);
	hdr->block_size = cpu_to_le32(st->block_size);
	/* both checksums are taken with both checksum fields zero */
	b->hdr_crc = kvb_crc(hdr, sizeof(*hdr));
	b->meta_crc = kvb_crc(meta, o->meta_len);
	hdr->hdr_crc = cpu_to_le32(b->hdr_crc);
	hdr->meta_crc = cpu_to_le32(b->meta_crc);
	kvb_map_copy_in(&o->map, 0, meta, o->meta_len);
	kvfree(meta);
	return 0;
}

static void kvb_fill_commit(struct kvb_store *st, struct kvb_bucket *b,
			    struct kvb_disk_commit *c)
{
	c->magic = cpu_to_le64(KVB_COMMIT_MAGIC);
	c->meta_crc = cpu_to_le32(b->meta_crc);
	c->bucket_id = cpu_to_le64(b->id);
	c->bucket_seq = cpu_to_le64(b->seq);
	c->start = cpu_to_le64(b->start);
	c->len = cpu_to_le64(b->len);
	c->hdr_crc = cpu_to_le32(b->hdr_crc);
	c->nr_objs = cpu_to_le32(b->nr_objs);
	memcpy(c->uuid, st->uuid, sizeof(c->uuid));
	c->crc = cpu_to_le32(kvb_crc(c, st->block_size));
}

/* Step 3. */
static int kvb_write(struct kvb_offload *o)
{
	struct kvb_store *st = o->st;
	struct kvb_bucket *b = o->b;
	blk_opf_t opf = REQ_OP_WRITE;
	u64 commit_pos = b->start + b->len - st->block_size;
	struct blk_plug plug;
	struct kvb_io io;
	void *commit;
	int ret;

	commit = kvb_block_alloc(st);
	if (!commit)
		return -ENOMEM;
	kvb_fill_commit(st, b, commit);

	kvb_io_init(&io);
	blk_start_plug(&plug);
	/* metadata and every value: all in flight together */
	kvb_io_submit(st, &io, opf, b->start, o->map.pages, o->map.nr);
	if (st->volatile_mode) {
		/* no ordering: a torn bucket is caught by the value checksums */
		kvb_io_submit_block(st, &io, opf, commit_pos, commit);
	}
	blk_finish_plug(&plug);
	ret = kvb_io_wait(&io);
	if (!ret && !st->volatile_mode)
		ret = kvb_rw_block(st, REQ_OP_WRITE | REQ_SYNC | REQ_PREFLUSH |
				   REQ_FUA, commit_pos, commit);
	if (ret) {
		/*
		 * The commit record may have reached the device although the
		 * call fails: cover the header so that no attach finds the
		 * bucket. If even that fails the device is beyond help, and
		 * the bucket may come back whole, which is still correct.
		 */
		memset(commit, 0, st->block_size);
		if (kvb_rw_block(st, REQ_OP_WRITE | REQ_FUA, b->start, commit))
			pr_warn_ratelimited("kvbucket%u: bucket %llu: write failed, cannot cover it\n",
					    st->id, b->id);
	}
	kvb_block_free(st, commit);
	return ret;
}

/* Step 4: make the bucket live. Cannot fail. */
static void kvb_commit(struct kvb_offload *o, struct kvb_bucket **old,
		       u32 *nr_old)
{
	struct kvb_store *st = o->st;
	struct kvb_bucket *b = o->b;
	u32 j;

	*nr_old = 0;
	mutex_lock(&st->index_lock);
	kvb_bucket_born(b);
	kvb_evict_written(st, b->len);
	WRITE_ONCE(b->state, KVB_BUCKET_LIVE);
	for (j = 0; j < o->n; j++) {
		struct kvb_obj *obj = b->objs[j];

		if (test_bit(j, o->replacing)) {
			struct kvb_obj *cur;

			cur = kvb_index_lookup(st, obj->key, obj->key_len);
			if (cur && cur != obj) {
				/* swaps obj in: its reservation is still there */
				kvb_index_drop(st, cur);
				refcount_inc(&cur->bucket->ref);
				old[(*nr_old)++] = cur->bucket;
				kfree_rcu_mightsleep(cur);
			}
		}
		kvb_obj_account(st, obj);
	}
	for (j = 0; j < o->n; j++)
		kvb_resv_remove(st, &o->resv[j]);
	WRITE_ONCE(st->nr_buckets, st->nr_buckets + 1);
	mutex_unlock(&st->index_lock);
	/* a bucket that OFFLOADs waiting for space may evict now */
	if (READ_ONCE(st->need_chunks))
		kvb_reclaim_kick(st);
}

/* Persist that replaced objects left their old buckets. */
static void kvb_settle_old(struct kvb_store *st, struct kvb_bucket **old,
			   u32 nr_old)
{
	u32 k;

	for (k = 0; k < nr_old; k++) {
		struct kvb_bucket *ob = old[k];
		int ret;

		mutex_lock(&ob->lock);
		ret = kvb_bucket_settle(ob);
		mutex_unlock(&ob->lock);
		if (ret)
			pr_err_ratelimited("kvbucket%u: bucket %llu: cannot record replaced keys: %d\n",
					   st->id, ob->id, ret);
		kvb_bucket_put(ob);
	}
}

static void kvb_offload_free(struct kvb_offload *o)
{
	u32 i;

	if (o->objs) {
		for (i = 0; i < o->rq->count; i++)
			kfree(o->objs[i]);
		kvfree(o->objs);
	}
	kvfree(o->resv);
	kvfree(o->desc_of);
	bitmap_free(o->replacing);
	kvb_map_free(&o->map);
}

static int kvb_offload_alloc(struct kvb_offload *o)
{
	struct kvb_req *rq = o->rq;
	u32 i, count = rq->count;

	o->objs = kvcalloc(count, sizeof(*o->objs), GFP_KERNEL);
	o->resv = kvcalloc(count, sizeof(*o->resv), GFP_KERNEL);
	o->desc_of = kvcalloc(count, sizeof(*o->desc_of), GFP_KERNEL);
	o->replacing = bitmap_zalloc(count, GFP_KERNEL);
	if (!o->objs || !o->resv || !o->desc_of || !o->replacing)
		return -ENOMEM;
	for (i = 0; i < count; i++) {
		o->objs[i] = kvb_obj_alloc(kvb_req_key(rq, i),
					   kvb_req_key_len(rq, i));
		if (!o->objs[i])
			return -ENOMEM;
	}
	o->b = kvb_bucket_alloc(o->st, count);
	return o->b ? 0 : -ENOMEM;
}

int kvb_offload(struct kvb_store *st, struct kvb_req *rq)
{
	struct kvb_offload o = {
		.st = st,
		.rq = rq,
		.replace = rq->batch.flags & KVB_OFFLOAD_REPLACE,
	};
	struct kvb_bucket **old = NULL;
	u32 j, nr_old;
	int ret;

	ret = kvb_check_unique(rq);
	if (ret)
		return ret;
	ret = kvb_offload_alloc(&o);
	if (ret)
		goto out_free;
	ret = kvb_store_new_id(st, &o.b->id);
	if (ret)
		goto out_free;
	ret = xa_insert(&st->buckets, o.b->id, o.b, GFP_KERNEL);
	if (ret)
		goto out_free;

	mutex_lock(&st->index_lock);
	ret = kvb_reserve(&o);
	mutex_unlock(&st->index_lock);
	if (ret || !o.n)
		goto out_unreserve;

	old = kvcalloc(o.n, sizeof(*old), GFP_KERNEL);
	if (!old) {
		ret = -ENOMEM;
		goto out_unreserve;
	}
	ret = kvb_build(&o);
	if (ret)
		goto out_unreserve;
	ret = kvb_write(&o);
	/* written or not: unpin the user pages, free the bounce pages */
	kvb_map_free(&o.map);
	if (ret)
		goto out_unreserve;

	kvb_commit(&o, old, &nr_old);
	for (j = 0; j < o.n; j++)
		kvb_desc_set(&rq->descs[o.desc_of[j]], 0, o.b->objs[j]);
	rq->batch.bucket_id = o.b->id;
	rq->batch.nr_done = o.n;
	kvb_count_io(st, o.direct, o.bounce);
	kvb_settle_old(st, old, nr_old);
	kvfree(old);
	kvb_offload_free(&o);
	return 0;

out_unreserve:
	kvfree(old);
	kvb_unreserve(&o);
	xa_erase(&st->buckets, o.b->id);
	if (!ret) {
		/* every key skipped: a success without a bucket */
		rq->batch.bucket_id = 0;
		rq->batch.nr_done = 0;
	}
	/* frees it and its space once lookups are done with it */
	kvb_bucket_put(o.b);
	o.b = NULL;
out_free:
	if (o.b)
		kvb_bucket_free(o.b);
	kvb_offload_free(&o);
	return ret;
}
