// SPDX-License-Identifier: GPL-2.0
/*
 * QUERY and LOAD: the read side. A key is looked up under RCU with no lock;
 * a load then holds a reference on the bucket, so that the bucket's space
 * is not reused while it is read, even if the key is removed or the bucket
 * deleted meanwhile.
 *
 * A LOAD reads the values of its keys in windows of at most
 * KVB_LOAD_WINDOW bytes: all reads of a window are in flight together, then
 * every value is checked against its checksum before a byte of it reaches
 * the caller.
 */
#include <linux/blkdev.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>

#include "kvb.h"

#define KVB_LOAD_WINDOW	(32U << 20)

/* What a reader needs of an object, taken under RCU. */
struct kvb_found {
	struct kvb_bucket *b;		/* referenced, or NULL: not found */
	u64 pos;			/* device offset of the value */
	u32 len;
	u32 crc;
	struct kvb_pvec pv;
	struct kvb_io io;
};

/*
 * Look a key up; with ref, also take a reference on its bucket. Objects of
 * pending or deleted buckets are not found.
 */
static bool kvb_find(struct kvb_store *st, const u8 *key, u32 key_len,
		     bool ref, struct kvb_found *f, u64 *bucket_id)
{
	struct kvb_obj *obj;
	bool found = false;

	rcu_read_lock();
	obj = kvb_index_lookup(st, key, key_len);
	if (obj && READ_ONCE(obj->bucket->state) == KVB_BUCKET_LIVE &&
	    (!ref || refcount_inc_not_zero(&obj->bucket->ref))) {
		f->b = ref ? obj->bucket : NULL;
		f->pos = obj->bucket->start + obj->value_off;
		f->len = obj->value_len;
		f->crc = obj->value_crc;
		*bucket_id = obj->bucket->id;
		found = true;
	}
	rcu_read_unlock();
	return found;
}

int kvb_query(struct kvb_store *st, struct kvb_req *rq)
{
	u32 i;

	for (i = 0; i < rq->count; i++) {
		struct kvb_obj_desc *d = &rq->descs[i];
		struct kvb_found f;

		if (!kvb_find(st, kvb_req_key(rq, i), kvb_req_key_len(rq, i),
			      false, &f, &d->bucket_id)) {
			d->status = -ENOENT;
			continue;
		}
		d->status = 0;
		d->value_len = f.len;
		d->offset = f.pos;
		rq->batch.nr_done++;
	}
	return 0;
}

/* Verify and copy one value read into f->pv to the caller's slices. */
static int kvb_load_finish(struct kvb_store *st, struct kvb_req *rq, u32 i,
			   struct kvb_found *f)
{
	size_t off = 0;
	u32 s;
	int ret;

	ret = kvb_io_wait(&f->io);
	if (ret)
		return -EIO;
	if (kvb_crc_final(kvb_pvec_crc(&f->pv, 0, f->len, KVB_CRC_INIT)) !=
	    f->crc) {
		pr_err_ratelimited("kvbucket%u: value at %llu: checksum mismatch\n",
				   st->id, f->pos);
		return -EBADMSG;
	}
	for (s = rq->slice_off[i]; s < rq->slice_off[i + 1]; s++) {
		const struct kvb_slice *sl = &rq->slices[s];

		ret = kvb_pvec_copy_to_user(&f->pv, off,
					    u64_to_user_ptr(sl->addr), sl->len);
		if (ret)
			return ret;
		off += sl->len;
	}
	return 0;
}

/*
 * Read descriptors [first, end) that were found. Returns -EFAULT when a
 * destination could not be written, which fails the whole call.
 */
static int kvb_load_window(struct kvb_store *st, struct kvb_req *rq,
			   struct kvb_found *fs, u32 first, u32 end)
{
	struct blk_plug plug;
	int fault = 0;
	u32 i;

	blk_start_plug(&plug);
	for (i = first; i < end; i++) {
		struct kvb_found *f = &fs[i];

		if (!f->b)
			continue;
		if (kvb_pvec_alloc(&f->pv, kvb_blocks_bytes(st, f->len))) {
			rq->descs[i].status = -ENOMEM;
			kvb_bucket_put(f->b);
			f->b = NULL;
			continue;
		}
		kvb_io_init(&f->io);
		kvb_io_submit(st, &f->io, REQ_OP_READ, f->pos, f->pv.pages,
			      f->pv.nr);
	}
	blk_finish_plug(&plug);

	for (i = first; i < end; i++) {
		struct kvb_found *f = &fs[i];
		int ret;

		if (!f->b)
			continue;
		ret = kvb_load_finish(st, rq, i, f);
		if (ret == -EFAULT)
			fault = ret;
		rq->descs[i].status = ret;
		if (!ret)
			rq->batch.nr_done++;
		kvb_pvec_free(&f->pv);
		kvb_bucket_put(f->b);
		f->b = NULL;
	}
	return fault;
}

int kvb_load(struct kvb_store *st, struct kvb_req *rq)
{
	struct kvb_bucket *touched = NULL;
	struct kvb_found *fs;
	u32 i, first = 0;
	u64 window = 0;
	int ret = 0;

	fs = kvcalloc(rq->count, sizeof(*fs), GFP_KERNEL);
	if (!fs)
		return -ENOMEM;
	for (i = 0; i < rq->count; i++) {
		struct kvb_obj_desc *d = &rq->descs[i];
		struct kvb_found *f = &fs[i];

		if (!kvb_find(st, kvb_req_key(rq, i), kvb_req_key_len(rq, i),
			      true, f, &d->bucket_id)) {
			f->b = NULL;
			d->status = -ENOENT;
			continue;
		}
		d->value_len = f->len;
		d->offset = f->pos;
		/* for the eviction policy: once per run of keys of a bucket */
		if (f->b != touched) {
			kvb_bucket_touch(f->b);
			touched = f->b;
		}
		if (rq->len[i] != f->len) {
			d->status = -EMSGSIZE;
			kvb_bucket_put(f->b);
			f->b = NULL;
		}
	}

	for (i = 0; i < rq->count; i++) {
		if (!fs[i].b)
			continue;
		if (window && window + fs[i].len > KVB_LOAD_WINDOW) {
			ret = kvb_load_window(st, rq, fs, first, i);
			if (ret)
				goto out;
			first = i;
			window = 0;
		}
		window += fs[i].len;
	}
	ret = kvb_load_window(st, rq, fs, first, rq->count);
out:
	for (i = 0; i < rq->count; i++)
		if (fs[i].b)
			kvb_bucket_put(fs[i].b);
	kvfree(fs);
	return ret;
}
