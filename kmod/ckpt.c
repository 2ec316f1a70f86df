// SPDX-License-Identifier: GPL-2.0
/*
 * The index checkpoint (Documentation/format.rst): a clean detach writes
 * the whole index into free chunks and names it in the CLEAN superblock;
 * the next attach reads it in one sequential pass instead of scanning every
 * bucket (a warm start). Anything wrong with it, and any attach after a
 * crash, falls back to the scan (a cold start).
 */
#include <linux/bitmap.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "kvb.h"

#define KVB_CKPT_OBJ_LEN(key_len) \
	round_up(sizeof(struct kvb_disk_ckpt_obj) + (key_len), 8)

static size_t kvb_ckpt_size(struct kvb_store *st)
{
	size_t size = sizeof(struct kvb_disk_ckpt);
	struct kvb_bucket *b;
	unsigned long id;
	u32 j;

	xa_for_each(&st->buckets, id, b) {
		size += sizeof(struct kvb_disk_ckpt_bucket);
		for (j = 0; j < b->nr_objs; j++)
			if (b->objs[j])
				size += KVB_CKPT_OBJ_LEN(b->objs[j]->key_len);
	}
	return size;
}

static void *kvb_ckpt_fill_bucket(struct kvb_bucket *b, void *p)
{
	struct kvb_disk_ckpt_bucket *cb = p;
	u32 j;

	cb->id = cpu_to_le64(b->id);
	cb->seq = cpu_to_le64(b->seq);
	cb->start = cpu_to_le64(b->start);
	cb->len = cpu_to_le64(b->len);
	cb->ctime_ns = cpu_to_le64(b->ctime_ns);
	cb->state_seq = cpu_to_le64(b->state_seq);
	cb->hdr_crc = cpu_to_le32(b->hdr_crc);
	cb->meta_crc = cpu_to_le32(b->meta_crc);
	cb->nr_objs = cpu_to_le32(b->nr_objs);
	cb->nr_live = cpu_to_le32(b->nr_live);
	cb->state_slot = cpu_to_le32(b->state_slot);
	p += sizeof(*cb);
	for (j = 0; j < b->nr_objs; j++) {
		struct kvb_disk_ckpt_obj *co = p;
		struct kvb_obj *obj = b->objs[j];

		if (!obj)
			continue;
		co->value_off = cpu_to_le32(obj->value_off);
		co->value_len = cpu_to_le32(obj->value_len);
		co->value_crc = cpu_to_le32(obj->value_crc);
		co->idx = cpu_to_le16(obj->idx);
		co->key_len = cpu_to_le16(obj->key_len);
		memcpy(co + 1, obj->key, obj->key_len);
		p += KVB_CKPT_OBJ_LEN(obj->key_len);
	}
	return p;
}

/*
 * At a clean detach, when no call is in flight: write the checkpoint and
 * record where it is in st, for the superblock that follows. Without room
 * for it, the next attach scans.
 */
int kvb_ckpt_write(struct kvb_store *st)
{
	size_t size = kvb_ckpt_size(st);
	u64 len = kvb_blocks_bytes(st, size), start;
	struct kvb_disk_ckpt *hdr;
	struct kvb_bucket *b;
	struct kvb_pvec pv;
	unsigned long id;
	void *buf, *p;
	int ret;

	st->ckpt_start = 0;
	ret = kvb_space_alloc(st, DIV_ROUND_UP(len, st->chunk_size), &start);
	if (ret)
		return ret;
	ret = kvb_pvec_alloc(&pv, len);
	if (ret)
		return ret;
	buf = vmap(pv.pages, pv.nr, VM_MAP, PAGE_KERNEL);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	hdr = buf;
	hdr->magic = cpu_to_le64(KVB_CKPT_MAGIC);
	memcpy(hdr->uuid, st->uuid, sizeof(hdr->uuid));
	/* the superblock written next names it */
	hdr->sb_generation = cpu_to_le64(st->sb_generation + 1);
	hdr->nr_buckets = cpu_to_le64(st->nr_buckets);
	hdr->nr_objs = cpu_to_le64(st->nr_keys);
	hdr->used_len = cpu_to_le64(size);
	p = buf + sizeof(*hdr);
	xa_for_each(&st->buckets, id, b)
		p = kvb_ckpt_fill_bucket(b, p);
	st->ckpt_crc = kvb_crc(buf, len);
	vunmap(buf);

	ret = kvb_rw_pages(st, REQ_OP_WRITE, start, pv.pages, pv.nr);
	if (!ret) {
		st->ckpt_start = start;
		st->ckpt_len = len;
	}
out:
	kvb_pvec_free(&pv);
	return ret;
}

static bool kvb_ckpt_bucket_ok(struct kvb_store *st,
			       const struct kvb_disk_ckpt_bucket *cb)
{
	u64 start = le64_to_cpu(cb->start), len = le64_to_cpu(cb->len);
	u64 end = kvb_chunk_pos(st, st->nr_chunks);
	u32 nr = le32_to_cpu(cb->nr_objs);

	return le64_to_cpu(cb->id) && start >= st->data_start &&
	       !((start - st->data_start) & (st->chunk_size - 1)) &&
	       len && !(len & (st->chunk_size - 1)) && len <= end - start &&
	       nr && nr <= KVB_MAX_KEYS_PER_BUCKET &&
	       le32_to_cpu(cb->nr_live) && le32_to_cpu(cb->nr_live) <= nr &&
	       le32_to_cpu(cb->state_slot) <= 1;
}

/*
 * Build the buckets of the checkpoint in buf (used bytes). Returns 0, or
 * -EUCLEAN when the records do not hold together, or another errno.
 */
static int kvb_ckpt_parse(struct kvb_store *st, void *buf, u64 used,
			  u64 *newest_end)
{
	const struct kvb_disk_ckpt *hdr = buf;
	u64 i, nr_buckets = le64_to_cpu(hdr->nr_buckets), newest = 0;
	void *p = buf + sizeof(*hdr), *end = buf + used;

	for (i = 0; i < nr_buckets; i++) {
		const struct kvb_disk_ckpt_bucket *cb = p;
		struct kvb_bucket *b;
		u32 j, nr_live;
		int ret;

		if (p + sizeof(*cb) > end || !kvb_ckpt_bucket_ok(st, cb))
			return -EUCLEAN;
		p += sizeof(*cb);
		b = kvb_bucket_alloc(st, le32_to_cpu(cb->nr_objs));
		if (!b)
			return -ENOMEM;
		b->id = le64_to_cpu(cb->id);
		b->seq = le64_to_cpu(cb->seq);
		b->start = le64_to_cpu(cb->start);
		b->len = le64_to_cpu(cb->len);
		b->ctime_ns = le64_to_cpu(cb->ctime_ns);
		b->state_seq = le64_to_cpu(cb->state_seq);
		b->state_slot = le32_to_cpu(cb->state_slot);
		b->hdr_crc = le32_to_cpu(cb->hdr_crc);
		b->meta_crc = le32_to_cpu(cb->meta_crc);
		bitmap_fill(b->removed, b->nr_objs);
		ret = xa_insert(&st->buckets, b->id, b, GFP_KERNEL);
		if (ret) {
			kvb_bucket_free(b);
			return ret == -EBUSY ? -EUCLEAN : ret;
		}
		/* from here on b is freed with the store's buckets */
		if (!kvb_space_is_free(st, b->start, b->len))
			return -EUCLEAN;
		kvb_space_mark(st, b->start, b->len);
		b->state = KVB_BUCKET_LIVE;
		st->nr_buckets++;
		if (b->id > newest) {
			newest = b->id;
			*newest_end = b->start + b->len;
		}

		nr_live = le32_to_cpu(cb->nr_live);
		for (j = 0; j < nr_live; j++) {
			const struct kvb_disk_ckpt_obj *co = p;
			u16 idx, key_len;
			struct kvb_obj *obj;

			if (p + sizeof(*co) > end)
				return -EUCLEAN;
			idx = le16_to_cpu(co->idx);
			key_len = le16_to_cpu(co->key_len);
			if (!key_len || key_len > KVB_MAX_KEY_LEN ||
			    p + KVB_CKPT_OBJ_LEN(key_len) > end ||
			    idx >= b->nr_objs || b->objs[idx] ||
			    !le32_to_cpu(co->value_len) ||
			    (u64)le32_to_cpu(co->value_off) +
			    le32_to_cpu(co->value_len) > b->len)
				return -EUCLEAN;
			obj = kvb_obj_alloc((const u8 *)(co + 1), key_len);
			if (!obj)
				return -ENOMEM;
			obj->bucket = b;
			obj->idx = idx;
			obj->value_off = le32_to_cpu(co->value_off);
			obj->value_len = le32_to_cpu(co->value_len);
			obj->value_crc = le32_to_cpu(co->value_crc);
			b->objs[idx] = obj;
			__clear_bit(idx, b->removed);
			p += KVB_CKPT_OBJ_LEN(key_len);
		}
	}
	return 0;
}

/*
 * Load the index from the checkpoint the CLEAN superblock names. Returns
 * 0, or -EAGAIN when there is no usable checkpoint: the caller scans.
 */
int kvb_ckpt_load(struct kvb_store *st)
{
	const struct kvb_disk_ckpt *hdr;
	struct kvb_pvec pv = {};
	u64 used, newest_end = 0;
	void *buf = NULL;
	int ret;

	if (!st->sb_clean || !st->ckpt_start)
		return -EAGAIN;
	if (st->ckpt_start < st->data_start || st->ckpt_len < sizeof(*hdr) ||
	    st->ckpt_len > kvb_chunk_pos(st, st->nr_chunks) - st->ckpt_start)
		goto bad;
	ret = kvb_pvec_alloc(&pv, st->ckpt_len);
	if (ret)
		return ret;
	ret = kvb_rw_pages(st, REQ_OP_READ | REQ_META, st->ckpt_start,
			   pv.pages, pv.nr);
	if (ret)
		goto bad;
	st->attach_bytes_read += st->ckpt_len;
	buf = vmap(pv.pages, pv.nr, VM_MAP, PAGE_KERNEL);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	hdr = buf;
	used = le64_to_cpu(hdr->used_len);
	if (kvb_crc(buf, st->ckpt_len) != st->ckpt_crc ||
	    le64_to_cpu(hdr->magic) != KVB_CKPT_MAGIC ||
	    memcmp(hdr->uuid, st->uuid, sizeof(hdr->uuid)) ||
	    le64_to_cpu(hdr->sb_generation) != st->sb_generation ||
	    used < sizeof(*hdr) || used > st->ckpt_len)
		goto bad;
	ret = kvb_ckpt_parse(st, buf, used, &newest_end);
	if (ret) {
		/* nothing is in the index yet: drop the buckets built */
		kvb_store_reset_index(st);
		if (ret == -EUCLEAN)
			goto bad;
		goto out;
	}
	/* on failure, attach fails and frees what was built */
	ret = kvb_index_build(st);
	if (!ret && newest_end)
		st->alloc_cursor = kvb_chunk_of(st, newest_end) % st->nr_chunks;
	st->warm = !ret;
	goto out;
bad:
	pr_warn("kvbucket: %s: index checkpoint unusable, scanning instead\n",
		st->path);
	ret = -EAGAIN;
out:
	if (buf)
		vunmap(buf);
	kvb_pvec_free(&pv);
	return ret;
}
