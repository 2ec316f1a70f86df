// SPDX-License-Identifier: GPL-2.0
/*
 * The on-disk format (uapi/linux/kvbucket_format.h): checksums, the
 * superblock, and the scan that rebuilds the index at attach from the
 * buckets' metadata, without reading any value.
 */
#include <linux/crc32c.h>
#include <linux/jiffies.h>
#include <linux/ktime.h>
#include <linux/slab.h>
#include <linux/uuid.h>
#include <linux/vmalloc.h>

#include "kvb.h"

u32 kvb_crc_update(u32 crc, const void *buf, size_t len)
{
	return crc32c(crc, buf, len);
}

u32 kvb_crc_final(u32 crc)
{
	return ~crc;
}

u32 kvb_crc(const void *buf, size_t len)
{
	return kvb_crc_final(kvb_crc_update(KVB_CRC_INIT, buf, len));
}

/* bytes rounded up to whole store blocks */
u64 kvb_blocks_bytes(struct kvb_store *st, u64 bytes)
{
	return round_up(bytes, st->block_size);
}

static blk_opf_t kvb_sb_opf(void)
{
	/* everything written before is stable before the superblock is */
	return REQ_OP_WRITE | REQ_SYNC | REQ_META | REQ_PREFLUSH | REQ_FUA;
}

/* Write the next generation of the superblock. sb_lock. */
int kvb_sb_write(struct kvb_store *st, u32 state)
{
	struct kvb_disk_super *sb;
	u64 gen = st->sb_generation + 1;
	int ret;

	lockdep_assert_held(&st->sb_lock);
	sb = kvb_block_alloc(st);
	if (!sb)
		return -ENOMEM;
	sb->magic = cpu_to_le64(KVB_SUPER_MAGIC);
	sb->version = cpu_to_le32(KVB_FORMAT_VERSION);
	sb->generation = cpu_to_le64(gen);
	memcpy(sb->uuid, st->uuid, sizeof(sb->uuid));
	sb->block_size = cpu_to_le32(st->block_size);
	sb->chunk_size = cpu_to_le32(st->chunk_size);
	sb->dev_bytes = cpu_to_le64(bdev_nr_bytes(st->bdev));
	sb->data_start = cpu_to_le64(st->data_start);
	sb->nr_chunks = cpu_to_le64(st->nr_chunks);
	sb->max_keys_per_bucket = cpu_to_le32(st->sb_max_keys);
	sb->state = cpu_to_le32(state);
	sb->max_bucket_bytes = cpu_to_le64(st->sb_max_bytes);
	sb->id_lease = cpu_to_le64(st->id_lease);
	sb->next_seq = cpu_to_le64(atomic64_read(&st->next_seq) + 1);
	sb->format_time_ns = cpu_to_le64(st->format_time_ns);
	sb->attach_count = cpu_to_le64(st->attach_count);
	if (state == KVB_SB_CLEAN && st->ckpt_start) {
		sb->ckpt_start = cpu_to_le64(st->ckpt_start);
		sb->ckpt_len = cpu_to_le64(st->ckpt_len);
		sb->ckpt_crc = cpu_to_le32(st->ckpt_crc);
	}
	sb->crc = cpu_to_le32(kvb_crc(sb, st->block_size));
	ret = kvb_rw_block(st, kvb_sb_opf(), (gen % 2) * st->block_size, sb);
	kvb_block_free(st, sb);
	if (!ret)
		st->sb_generation = gen;
	return ret;
}

static void kvb_geometry(struct kvb_store *st, u32 chunk_size)
{
	st->chunk_size = chunk_size;
	st->chunk_shift = ilog2(chunk_size);
	st->data_start = max_t(u64, chunk_size, 2ULL * st->block_size);
}

int kvb_sb_format(struct kvb_store *st, u32 chunk_size, u32 max_keys,
		  u64 max_bytes)
{
	u64 dev_bytes = bdev_nr_bytes(st->bdev);
	int ret;

	kvb_geometry(st, chunk_size);
	if (dev_bytes < st->data_start + 4ULL * chunk_size)
		return -ENOSPC;
	st->nr_chunks = (dev_bytes - st->data_start) >> st->chunk_shift;
	generate_random_uuid(st->uuid);
	st->sb_max_keys = max_keys;
	st->sb_max_bytes = max_bytes;
	st->format_time_ns = ktime_get_real_ns();
	st->next_id = 1;
	st->id_lease = 1;
	atomic64_set(&st->next_seq, 0);
	st->sb_generation = 0;
	st->attach_count = 0;

	/* both copies, so that neither holds an earlier store */
	mutex_lock(&st->sb_lock);
	ret = kvb_sb_write(st, KVB_SB_DIRTY);
	if (!ret)
		ret = kvb_sb_write(st, KVB_SB_DIRTY);
	mutex_unlock(&st->sb_lock);
	return ret;
}

/* 0: valid; -EINVAL: not a superblock; -EUCLEAN: damaged */
static int kvb_sb_check(struct kvb_disk_super *sb, u32 block_size)
{
	u32 crc = le32_to_cpu(sb->crc);

	if (le64_to_cpu(sb->magic) != KVB_SUPER_MAGIC)
		return -EINVAL;
	sb->crc = 0;
	if (kvb_crc(sb, block_size) != crc)
		return -EUCLEAN;
	sb->crc = cpu_to_le32(crc);
	return 0;
}

static int kvb_sb_apply(struct kvb_store *st, const struct kvb_disk_super *sb)
{
	u32 chunk = le32_to_cpu(sb->chunk_size);
	u64 dev_bytes = bdev_nr_bytes(st->bdev);

	if (le32_to_cpu(sb->version) != KVB_FORMAT_VERSION ||
	    le32_to_cpu(sb->incompat)) {
		pr_err("kvbucket: %s: format version %u, features %#x: not supported\n",
		       st->path, le32_to_cpu(sb->version),
		       le32_to_cpu(sb->incompat));
		return -EOPNOTSUPP;
	}
	if (le32_to_cpu(sb->block_size) != st->block_size ||
	    !is_power_of_2(chunk) || chunk < st->block_size ||
	    chunk > KVB_MAX_CHUNK_SIZE)
		goto bad;
	kvb_geometry(st, chunk);
	st->nr_chunks = le64_to_cpu(sb->nr_chunks);
	if (le64_to_cpu(sb->data_start) != st->data_start ||
	    st->nr_chunks < 4 ||
	    st->nr_chunks > (dev_bytes - st->data_start) >> st->chunk_shift)
		goto bad;
	st->sb_max_keys = le32_to_cpu(sb->max_keys_per_bucket);
	st->sb_max_bytes = le64_to_cpu(sb->max_bucket_bytes);
	if (!st->sb_max_keys || st->sb_max_keys > KVB_MAX_KEYS_PER_BUCKET ||
	    !st->sb_max_bytes || st->sb_max_bytes > KVB_MAX_BUCKET_BYTES)
		goto bad;
	memcpy(st->uuid, sb->uuid, sizeof(st->uuid));
	st->id_lease = le64_to_cpu(sb->id_lease);
	st->next_id = st->id_lease;
	atomic64_set(&st->next_seq, le64_to_cpu(sb->next_seq));
	st->sb_generation = le64_to_cpu(sb->generation);
	st->format_time_ns = le64_to_cpu(sb->format_time_ns);
	st->attach_count = le64_to_cpu(sb->attach_count);
	st->sb_clean = le32_to_cpu(sb->state) == KVB_SB_CLEAN;
	st->ckpt_start = le64_to_cpu(sb->ckpt_start);
	st->ckpt_len = le64_to_cpu(sb->ckpt_len);
	st->ckpt_crc = le32_to_cpu(sb->ckpt_crc);
	return 0;
bad:
	pr_err("kvbucket: %s: superblock geometry does not fit the device\n",
	       st->path);
	return -EUCLEAN;
}

/* Read both superblock copies and take the newest valid one. */
int kvb_sb_read(struct kvb_store *st)
{
	struct kvb_disk_super *sb[KVB_SUPER_COPIES], *best = NULL;
	int i, ret, err[KVB_SUPER_COPIES];

	for (i = 0; i < KVB_SUPER_COPIES; i++) {
		sb[i] = kvb_block_alloc(st);
		if (!sb[i]) {
			ret = -ENOMEM;
			goto out;
		}
		err[i] = kvb_rw_block(st, REQ_OP_READ | REQ_META,
				      (u64)i * st->block_size, sb[i]);
		if (err[i])
			continue;
		st->attach_bytes_read += st->block_size;
		err[i] = kvb_sb_check(sb[i], st->block_size);
		if (!err[i] && (!best || le64_to_cpu(sb[i]->generation) >
					 le64_to_cpu(best->generation)))
			best = sb[i];
	}
	if (!best) {
		/* any damaged copy means a store was there */
		ret = (err[0] == -EUCLEAN || err[1] == -EUCLEAN) ? -EUCLEAN :
		      (err[0] == -EIO || err[1] == -EIO) ? -EIO : -EINVAL;
		if (ret == -EUCLEAN)
			pr_err("kvbucket: %s: superblock checksums fail: not attaching\n",
			       st->path);
		goto out;
	}
	if (best->state != cpu_to_le32(KVB_SB_CLEAN))
		pr_info("kvbucket: %s: not detached cleanly, scanning\n",
			st->path);
	ret = kvb_sb_apply(st, best);
out:
	for (i = 0; i < KVB_SUPER_COPIES; i++)
		kvb_block_free(st, sb[i]);
	return ret;
}

/*
 * The scan reads the first block of KVB_SCAN_WINDOW chunks at a time, all
 * in flight together, rather than one synchronous read per chunk.
 */
#define KVB_SCAN_WINDOW	64

/* Scan state. */
struct kvb_scan {
	struct kvb_store *st;
	void *blk;			/* one block, for everything else */
	u64 max_id;
	u64 newest_end;			/* end of the newest bucket */
	u64 win_first;			/* first chunk of the window */
	unsigned int win_nr;		/* chunks read into the window */
	void *win[KVB_SCAN_WINDOW];	/* their first blocks */
	int win_err[KVB_SCAN_WINDOW];
	struct kvb_io win_io[KVB_SCAN_WINDOW];
};

/* Read the first blocks of the chunks from c on. */
static void kvb_scan_fill(struct kvb_scan *sc, u64 c)
{
	struct kvb_store *st = sc->st;
	struct blk_plug plug;
	unsigned int i;

	sc->win_first = c;
	sc->win_nr = min_t(u64, KVB_SCAN_WINDOW, st->nr_chunks - c);
	blk_start_plug(&plug);
	for (i = 0; i < sc->win_nr; i++) {
		kvb_io_init(&sc->win_io[i]);
		kvb_io_submit_block(st, &sc->win_io[i], REQ_OP_READ | REQ_META,
				    kvb_chunk_pos(st, c + i), sc->win[i]);
	}
	blk_finish_plug(&plug);
	for (i = 0; i < sc->win_nr; i++)
		sc->win_err[i] = kvb_io_wait(&sc->win_io[i]);
	st->attach_bytes_read += (u64)sc->win_nr * st->block_size;
}

static bool kvb_hdr_valid(struct kvb_store *st, struct kvb_disk_bucket *hdr,
			  u64 pos)
{
	struct kvb_disk_bucket tmp = *hdr;
	u64 len = le64_to_cpu(hdr->len);
	u32 nr = le32_to_cpu(hdr->nr_objs), meta_len;

	tmp.hdr_crc = 0;
	tmp.meta_crc = 0;
	if (kvb_crc(&tmp, sizeof(tmp)) != le32_to_cpu(hdr->hdr_crc))
		return false;
	meta_len = le32_to_cpu(hdr->meta_len);
	return !memcmp(hdr->uuid, st->uuid, sizeof(hdr->uuid)) &&
	       le64_to_cpu(hdr->start) == pos && le64_to_cpu(hdr->id) &&
	       le32_to_cpu(hdr->block_size) == st->block_size &&
	       len && !(len & (st->chunk_size - 1)) &&
	       len <= kvb_chunk_pos(st, st->nr_chunks) - pos &&
	       nr && nr <= KVB_MAX_KEYS_PER_BUCKET &&
	       nr <= KVB_STATE_MAX_OBJS(st->block_size) &&
	       meta_len >= sizeof(*hdr) + (u64)nr * (KVB_DISK_OBJ_SIZE + 1) &&
	       kvb_blocks_bytes(st, meta_len) + 3ULL * st->block_size <= len;
}

static bool kvb_commit_valid(struct kvb_store *st,
			     struct kvb_disk_commit *c,
			     const struct kvb_disk_bucket *hdr)
{
	u32 crc = le32_to_cpu(c->crc);
	bool ok;

	c->crc = 0;
	ok = le64_to_cpu(c->magic) == KVB_COMMIT_MAGIC &&
	     kvb_crc(c, st->block_size) == crc &&
	     c->bucket_id == hdr->id && c->bucket_seq == hdr->seq &&
	     c->start == hdr->start && c->len == hdr->len &&
	     c->hdr_crc == hdr->hdr_crc && c->meta_crc == hdr->meta_crc &&
	     c->nr_objs == hdr->nr_objs &&
	     !memcmp(c->uuid, hdr->uuid, sizeof(c->uuid));
	c->crc = cpu_to_le32(crc);
	return ok;
}

/* Free a bucket the scan built but did not publish. */
static void kvb_scan_discard(struct kvb_bucket *b)
{
	u32 j;

	for (j = 0; j < b->nr_objs; j++)
		kfree(b->objs[j]);
	kvb_bucket_free(b);
}

/* The newer valid state slot of b, if any. */
static int kvb_scan_state(struct kvb_scan *sc, struct kvb_bucket *b)
{
	struct kvb_store *st = sc->st;
	struct kvb_disk_state *s = sc->blk;
	u64 best_seq = 0;
	int slot, best = -1, ret;

	for (slot = 0; slot < 2; slot++) {
		u64 pos = b->start + b->len - (u64)(3 - slot) * st->block_size;
		u32 crc;

		ret = kvb_rw_block(st, REQ_OP_READ | REQ_META, pos, s);
		if (ret)
			return ret;
		st->attach_bytes_read += st->block_size;
		crc = le32_to_cpu(s->crc);
		s->crc = 0;
		if (le64_to_cpu(s->magic) != KVB_STATE_MAGIC ||
		    kvb_crc(s, st->block_size) != crc ||
		    le64_to_cpu(s->bucket_id) != b->id ||
		    le64_to_cpu(s->bucket_seq) != b->seq ||
		    le32_to_cpu(s->nr_objs) != b->nr_objs ||
		    memcmp(s->uuid, st->uuid, sizeof(s->uuid)))
			continue;
		if (best < 0 || le64_to_cpu(s->seq) > best_seq) {
			best = slot;
			best_seq = le64_to_cpu(s->seq);
		}
	}
	if (best < 0)
		return 0;
	if (best == 0) {
		/* the buffer holds slot 1, read last */
		ret = kvb_rw_block(st, REQ_OP_READ | REQ_META,
				   b->start + b->len - 3ULL * st->block_size, s);
		if (ret)
			return ret;
	}
	kvb_bucket_load_state(b, s, best);
	return 0;
}

/*
 * Read and check the metadata of the bucket whose header is hdr,
 * and build it in memory. Returns the bucket, NULL when it is damaged, or
 * an ERR_PTR on a failure that stops the attach.
 */
static struct kvb_bucket *kvb_scan_meta(struct kvb_scan *sc,
					struct kvb_disk_bucket *hdr)
{
	struct kvb_store *st = sc->st;
	u32 nr = le32_to_cpu(hdr->nr_objs), meta_len, crc, j;
	u64 len = le64_to_cpu(hdr->len);
	struct kvb_disk_bucket tmp;
	struct kvb_disk_obj *tab;
	struct kvb_bucket *b = NULL;
	struct kvb_pvec pv = {};
	void *meta = NULL;
	int ret;

	meta_len = le32_to_cpu(hdr->meta_len);
	ret = kvb_pvec_alloc(&pv, kvb_blocks_bytes(st, meta_len));
	if (ret)
		return ERR_PTR(ret);
	ret = kvb_rw_pages(st, REQ_OP_READ | REQ_META, le64_to_cpu(hdr->start),
			   pv.pages, pv.nr);
	if (ret)
		goto damaged;
	st->attach_bytes_read += (u64)pv.nr << PAGE_SHIFT;
	meta = vmap(pv.pages, pv.nr, VM_MAP, PAGE_KERNEL);
	if (!meta) {
		b = ERR_PTR(-ENOMEM);
		goto out;
	}
	tmp = *hdr;
	tmp.hdr_crc = 0;
	tmp.meta_crc = 0;
	crc = kvb_crc_update(KVB_CRC_INIT, &tmp, sizeof(tmp));
	crc = kvb_crc_final(kvb_crc_update(crc, meta + sizeof(tmp),
					   meta_len - sizeof(tmp)));
	if (crc != le32_to_cpu(hdr->meta_crc))
		goto damaged;

	b = kvb_bucket_alloc(st, nr);
	if (!b) {
		b = ERR_PTR(-ENOMEM);
		goto out;
	}
	b->id = le64_to_cpu(hdr->id);
	b->seq = le64_to_cpu(hdr->seq);
	b->start = le64_to_cpu(hdr->start);
	b->len = len;
	b->ctime_ns = le64_to_cpu(hdr->ctime_ns);
	b->hdr_crc = le32_to_cpu(hdr->hdr_crc);
	b->meta_crc = crc;
	tab = meta + sizeof(*hdr);
	for (j = 0; j < nr; j++) {
		u64 voff = le64_to_cpu(tab[j].value_off);
		u64 vlen = le64_to_cpu(tab[j].value_len);
		u32 koff = le32_to_cpu(tab[j].key_off);
		u16 klen = le16_to_cpu(tab[j].key_len);
		struct kvb_obj *obj;

		if (!klen || klen > KVB_MAX_KEY_LEN ||
		    koff < sizeof(*hdr) + nr * sizeof(*tab) ||
		    (u64)koff + klen > meta_len || !vlen ||
		    vlen > KVB_MAX_BUCKET_BYTES ||
		    voff & (st->block_size - 1) ||
		    voff < kvb_blocks_bytes(st, meta_len) ||
		    voff + vlen > len - 3ULL * st->block_size)
			goto damaged_bucket;
		obj = kvb_obj_alloc(meta + koff, klen);
		if (!obj) {
			kvb_scan_discard(b);
			b = ERR_PTR(-ENOMEM);
			goto out;
		}
		obj->bucket = b;
		obj->idx = j;
		obj->value_off = voff;
		obj->value_len = vlen;
		obj->value_crc = le32_to_cpu(tab[j].value_crc);
		b->objs[j] = obj;
	}
	goto out;

damaged_bucket:
	kvb_scan_discard(b);
damaged:
	b = NULL;
	st->nr_damaged++;
	pr_warn("kvbucket: %s: bucket %llu at %llu: metadata damaged, skipped\n",
		st->path, le64_to_cpu(hdr->id), le64_to_cpu(hdr->start));
out:
	if (meta)
		vunmap(meta);
	kvb_pvec_free(&pv);
	return b;
}

/*
 * Examine the chunk at pos. Returns how many chunks to advance, or a
 * negative errno that stops the attach.
 */
static s64 kvb_scan_chunk(struct kvb_scan *sc, u64 c)
{
	struct kvb_store *st = sc->st;
	u64 pos = kvb_chunk_pos(st, c);
	struct kvb_disk_bucket hdr;
	struct kvb_bucket *b;
	unsigned int i;
	int ret;
	u32 j;

	if (c < sc->win_first || c >= sc->win_first + sc->win_nr)
		kvb_scan_fill(sc, c);
	i = c - sc->win_first;
	if (sc->win_err[i]) {
		pr_warn("kvbucket: %s: read error at %llu, skipped\n",
			st->path, pos);
		return 1;
	}
	memcpy(&hdr, sc->win[i], sizeof(hdr));
	if (le64_to_cpu(hdr.magic) != KVB_BUCKET_MAGIC ||
	    memcmp(hdr.uuid, st->uuid, sizeof(hdr.uuid)))
		return 1;
	if (!kvb_hdr_valid(st, &hdr, pos)) {
		st->nr_damaged++;
		pr_warn("kvbucket: %s: bucket header at %llu damaged, skipped\n",
			st->path, pos);
		return 1;
	}
	/* a torn bucket still used its id */
	sc->max_id = max(sc->max_id, le64_to_cpu(hdr.id));

	ret = kvb_rw_block(st, REQ_OP_READ | REQ_META,
			   pos + le64_to_cpu(hdr.len) - st->block_size,
			   sc->blk);
	if (!ret)
		st->attach_bytes_read += st->block_size;
	if (ret || !kvb_commit_valid(st, sc->blk, &hdr)) {
		st->nr_torn++;
		pr_info("kvbucket: %s: bucket %llu at %llu: no commit record, discarded\n",
			st->path, le64_to_cpu(hdr.id), pos);
		return 1;
	}

	b = kvb_scan_meta(sc, &hdr);
	if (IS_ERR(b))
		return PTR_ERR(b);
	if (!b)
		return 1;
	ret = kvb_scan_state(sc, b);
	if (!ret)
		ret = xa_insert(&st->buckets, b->id, b, GFP_KERNEL);
	if (ret) {
		if (ret == -EBUSY)	/* the same id twice: keep the first */
			st->nr_damaged++;
		kvb_scan_discard(b);
		return ret == -EBUSY ? 1 : ret;
	}
	for (j = 0; j < b->nr_objs; j++)
		if (test_bit(j, b->removed)) {
			kfree(b->objs[j]);
			b->objs[j] = NULL;
		}
	b->state = KVB_BUCKET_LIVE;
	kvb_space_mark(st, b->start, b->len);
	st->nr_buckets++;
	if (b->id == sc->max_id)
		sc->newest_end = b->start + b->len;
	return b->len >> st->chunk_shift;
}

/*
 * Index the buckets' objects in id order: when a key is in two buckets
 * (a crash after a REPLACE committed but before the old copy was marked
 * removed), the newer one wins.
 */
int kvb_index_build(struct kvb_store *st)
{
	struct kvb_bucket *b;
	unsigned long id;
	int ret = 0;
	u32 j;

	mutex_lock(&st->index_lock);
	xa_for_each(&st->buckets, id, b) {
		for (j = 0; j < b->nr_objs; j++) {
			struct kvb_obj *obj = b->objs[j], *cur;

			if (!obj)
				continue;
			cur = kvb_index_lookup(st, obj->key, obj->key_len);
			if (cur) {
				kvb_index_drop(st, cur);
				kfree_rcu_mightsleep(cur);
			}
			ret = kvb_index_insert(st, obj);
			if (ret)
				goto out;
			kvb_obj_account(st, obj);
		}
	}
out:
	mutex_unlock(&st->index_lock);
	return ret;
}

/* Persist what the scan found superseded, and free emptied buckets. */
static int kvb_scan_settle(struct kvb_store *st)
{
	struct kvb_bucket *b;
	unsigned long id;
	int ret = 0;

	xa_for_each(&st->buckets, id, b) {
		refcount_inc(&b->ref);
		mutex_lock(&b->lock);
		ret = kvb_bucket_settle(b);
		mutex_unlock(&b->lock);
		kvb_bucket_put(b);
		if (ret)
			break;
	}
	return ret;
}

/* Rebuild the index of an existing store from the device. */
int kvb_scan(struct kvb_store *st)
{
	unsigned long next_log = jiffies + 5 * HZ;
	struct kvb_scan *sc;
	unsigned int i;
	u64 c = 0;
	int ret = 0;

	sc = kzalloc(sizeof(*sc), GFP_KERNEL);
	if (!sc)
		return -ENOMEM;
	sc->st = st;
	sc->blk = kvb_block_alloc(st);
	ret = sc->blk ? 0 : -ENOMEM;
	for (i = 0; i < KVB_SCAN_WINDOW && !ret; i++) {
		sc->win[i] = kvb_block_alloc(st);
		if (!sc->win[i])
			ret = -ENOMEM;
	}
	while (!ret && c < st->nr_chunks) {
		s64 adv = kvb_scan_chunk(sc, c);

		if (adv < 0) {
			ret = adv;
			break;
		}
		c += adv;
		WRITE_ONCE(st->scan_chunks, c);
		if (time_after(jiffies, next_log)) {
			pr_info("kvbucket: %s: attach scan at chunk %llu of %llu, %llu buckets\n",
				st->path, c, st->nr_chunks, st->nr_buckets);
			next_log = jiffies + 5 * HZ;
		}
		cond_resched();
	}
	for (i = 0; i < KVB_SCAN_WINDOW; i++)
		kvb_block_free(st, sc->win[i]);
	kvb_block_free(st, sc->blk);
	if (!ret)
		ret = kvb_index_build(st);
	if (!ret)
		ret = kvb_scan_settle(st);
	if (!ret) {
		if (sc->newest_end)
			st->alloc_cursor = kvb_chunk_of(st, sc->newest_end) %
					   st->nr_chunks;
		st->next_id = max(st->next_id, sc->max_id + 1);
	}
	kfree(sc);
	return ret;
}
