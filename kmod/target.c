// SPDX-License-Identifier: GPL-2.0
/*
 * A target: one attached block device and its store. Attach opens the
 * device exclusively, formats it or reads its superblock and rebuilds the
 * index, and registers /dev/kvbucketN. Detach waits for the calls in
 * flight, unregisters the node, writes a clean superblock and lets the
 * device go; the structure lives on until the last open file is closed.
 */
#include <linux/bitmap.h>
#include <linux/ktime.h>
#include <linux/slab.h>

#include "kvb.h"

u64 kvb_store_next_seq(struct kvb_store *st)
{
	return atomic64_inc_return(&st->next_seq);
}

/*
 * A new bucket id. Ids come from a lease recorded in the superblock, so
 * that no id is handed out twice even across a crash.
 */
int kvb_store_new_id(struct kvb_store *st, u64 *id)
{
	int ret = 0;

	mutex_lock(&st->sb_lock);
	if (st->next_id >= st->id_lease) {
		u64 old = st->id_lease;

		st->id_lease = st->next_id + KVB_ID_LEASE;
		ret = kvb_sb_write(st, KVB_SB_DIRTY);
		if (ret)
			st->id_lease = old;
	}
	if (!ret)
		*id = st->next_id++;
	mutex_unlock(&st->sb_lock);
	return ret;
}

static void kvb_store_free_buckets(struct kvb_store *st)
{
	struct kvb_bucket *b;
	unsigned long id;
	u32 j;

	/* no call is in flight: nothing else sees these any more */
	xa_for_each(&st->buckets, id, b) {
		for (j = 0; j < b->nr_objs; j++)
			kfree(b->objs[j]);
		kvb_bucket_free(b);
	}
	xa_destroy(&st->buckets);
}

/* Throw away a partly loaded index, to load it again another way. */
void kvb_store_reset_index(struct kvb_store *st)
{
	kvb_store_free_buckets(st);
	xa_init(&st->buckets);
	kvb_space_clear(st);
	st->nr_buckets = 0;
	st->nr_keys = 0;
	st->value_bytes = 0;
	st->index_obj_bytes = 0;
}

static int kvb_check_limits(const struct kvb_attach *a)
{
	if (a->max_keys_per_bucket > KVB_MAX_KEYS_PER_BUCKET ||
	    a->max_bucket_bytes > KVB_MAX_BUCKET_BYTES)
		return -EINVAL;
	if (!(a->flags & KVB_ATTACH_FORMAT) && a->chunk_size)
		return -EINVAL;
	if (a->chunk_size && (!is_power_of_2(a->chunk_size) ||
			      a->chunk_size < KVB_MIN_BLOCK_SIZE ||
			      a->chunk_size > KVB_MAX_CHUNK_SIZE))
		return -EINVAL;
	if (kvb_policy_check(a->policy, a->high_watermark, a->low_watermark))
		return -EINVAL;
	/* the watermarks in force, defaults included, must be in order */
	if ((a->low_watermark ?: KVB_DEFAULT_LOW_WATERMARK) >=
	    (a->high_watermark ?: KVB_DEFAULT_HIGH_WATERMARK))
		return -EINVAL;
	return 0;
}

/*
 * Attach the device at path as store id. Returns the store with one
 * reference (being attached), not yet registered, or an ERR_PTR.
 */
struct kvb_store *kvb_store_attach(const struct kvb_attach *a,
				   const char *path, u32 id)
{
	bool format = a->flags & KVB_ATTACH_FORMAT;
	u64 t0 = ktime_get_ns();
	struct kvb_store *st;
	int ret;

	ret = kvb_check_limits(a);
	if (ret)
		return ERR_PTR(ret);
	st = kzalloc(sizeof(*st), GFP_KERNEL);
	if (!st)
		return ERR_PTR(-ENOMEM);
	st->id = id;
	kref_init(&st->kref);
	init_rwsem(&st->io_rwsem);
	mutex_init(&st->sb_lock);
	strscpy(st->path, path, sizeof(st->path));
	st->volatile_mode = a->flags & KVB_ATTACH_VOLATILE;
	st->formatted = format;
	kvb_evict_init(st, a);
	ret = kvb_events_init(st);
	if (ret)
		goto out_free;

	ret = kvb_bdev_open(&st->dev, path, st);
	if (ret)
		goto out_free;
	st->bdev = st->dev.bdev;
	st->block_size = max_t(u32, KVB_MIN_BLOCK_SIZE,
			       bdev_logical_block_size(st->bdev));
	if (st->block_size > KVB_MAX_BLOCK_SIZE) {
		ret = -EINVAL;
		goto out_close;
	}

	if (format) {
		if (a->chunk_size && a->chunk_size < st->block_size) {
			ret = -EINVAL;
			goto out_close;
		}
		/* the limits given at format become the store's */
		ret = kvb_sb_format(st, a->chunk_size ?: KVB_DEFAULT_CHUNK_SIZE,
				    a->max_keys_per_bucket ?:
				    KVB_DEFAULT_KEYS_PER_BUCKET,
				    a->max_bucket_bytes ?:
				    KVB_DEFAULT_BUCKET_BYTES);
	} else {
		ret = kvb_sb_read(st);
	}
	if (ret)
		goto out_close;
	st->max_keys = a->max_keys_per_bucket ?: st->sb_max_keys;
	st->max_bytes = a->max_bucket_bytes ?: st->sb_max_bytes;

	ret = kvb_sysfs_add(st);
	if (ret)
		goto out_close;
	ret = kvb_index_init(st);
	if (ret)
		goto out_sysfs;
	ret = kvb_space_init(st);
	if (ret)
		goto out_index;
	if (!format) {
		ret = a->flags & KVB_ATTACH_SCAN ? -EAGAIN : kvb_ckpt_load(st);
		if (ret == -EAGAIN)
			ret = kvb_scan(st);
		if (ret)
			goto out_space;
	}

	/* the store is in use: mark it dirty, with a fresh id lease */
	mutex_lock(&st->sb_lock);
	st->attach_count++;
	st->id_lease = st->next_id + KVB_ID_LEASE;
	ret = kvb_sb_write(st, KVB_SB_DIRTY);
	mutex_unlock(&st->sb_lock);
	if (ret)
		goto out_space;

	st->attach_ns = ktime_get_ns() - t0;
	pr_info("kvbucket%u: attached %s: %llu keys in %llu buckets, %llu of %llu MiB used; %s start, %llu ms, %llu KiB read%s\n",
		st->id, st->path, st->nr_keys, st->nr_buckets,
		(st->used_chunks << st->chunk_shift) >> 20,
		(st->nr_chunks << st->chunk_shift) >> 20,
		format ? "new" : st->warm ? "warm" : "cold",
		div_u64(st->attach_ns, NSEC_PER_MSEC),
		st->attach_bytes_read >> 10,
		st->volatile_mode ? ", volatile" : "");
	/* a store found above the high watermark starts evicting */
	spin_lock(&st->space_lock);
	if (st->used_chunks * 100 > st->nr_chunks * st->high_wm)
		st->reclaiming = true;
	spin_unlock(&st->space_lock);
	if (st->reclaiming)
		kvb_reclaim_kick(st);
	return st;

out_space:
	kvb_store_free_buckets(st);
	kvb_space_destroy(st);
out_index:
	kvb_index_destroy(st);
out_sysfs:
	kvb_sysfs_del(st);
out_close:
	kvb_bdev_close(&st->dev);
out_free:
	kvb_events_destroy(st);
	kfree(st);
	return ERR_PTR(ret);
}

int kvb_store_register(struct kvb_store *st)
{
	snprintf(st->name, sizeof(st->name), KVB_STORE_NAME_FMT, st->id);
	st->misc.minor = MISC_DYNAMIC_MINOR;
	st->misc.name = st->name;
	st->misc.fops = &kvb_store_fops;
	st->misc.mode = 0600;
	return misc_register(&st->misc);
}

/*
 * Detach a registered store. The caller holds the attach reference and
 * drops it afterwards.
 */
void kvb_store_detach(struct kvb_store *st)
{
	/* waits for every call in flight; later ones see dead */
	down_write(&st->io_rwsem);
	st->dead = true;
	up_write(&st->io_rwsem);
	misc_deregister(&st->misc);
	kvb_store_close(st);
}

/*
 * Write a clean superblock and let go of everything but the structure.
 * Nothing may use the store any more.
 */
void kvb_store_close(struct kvb_store *st)
{
	int ret;

	WRITE_ONCE(st->dead, true);	/* also when attach failed to register */
	/* after sysfs, which can change the policy and kick eviction */
	kvb_sysfs_del(st);
	kvb_evict_stop(st);
	kvb_events_close(st);
	ret = kvb_ckpt_write(st);
	if (ret)
		pr_info("kvbucket%u: %s: no index checkpoint (%d): the next attach scans\n",
			st->id, st->path, ret);
	mutex_lock(&st->sb_lock);
	st->id_lease = st->next_id;
	ret = kvb_sb_write(st, KVB_SB_CLEAN);
	mutex_unlock(&st->sb_lock);
	if (ret)
		pr_err("kvbucket%u: %s: clean superblock not written: %d\n",
		       st->id, st->path, ret);

	kvb_index_destroy(st);
	/* removed objects and emptied buckets may still wait for RCU */
	rcu_barrier();
	kvb_store_free_buckets(st);
	kvb_space_destroy(st);
	kvb_bdev_close(&st->dev);
	pr_info("kvbucket%u: detached %s\n", st->id, st->path);
}

void kvb_store_fill_info(struct kvb_store *st, struct kvb_store_info *info)
{
	u64 used;

	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	info->id = st->id;
	info->flags = (st->volatile_mode ? KVB_INFO_VOLATILE : 0) |
		      (st->formatted ? KVB_INFO_FORMATTED : 0) |
		      (st->warm ? KVB_INFO_WARM : 0);
	info->block_size = st->block_size;
	info->chunk_size = st->chunk_size;
	info->max_keys_per_bucket = st->max_keys;
	info->max_bucket_bytes = st->max_bytes;
	info->dev_major = MAJOR(st->bdev->bd_dev);
	info->dev_minor = MINOR(st->bdev->bd_dev);
	memcpy(info->uuid, st->uuid, sizeof(info->uuid));
	info->capacity_bytes = st->nr_chunks << st->chunk_shift;
	used = READ_ONCE(st->used_chunks) << st->chunk_shift;
	info->used_bytes = used;
	info->free_bytes = info->capacity_bytes - used;
	info->nr_keys = READ_ONCE(st->nr_keys);
	info->nr_buckets = READ_ONCE(st->nr_buckets);
	info->value_bytes = READ_ONCE(st->value_bytes);
	mutex_lock(&st->sb_lock);
	info->next_bucket_id = st->next_id;
	mutex_unlock(&st->sb_lock);
	info->attach_ns = st->attach_ns;
	info->attach_bytes_read = st->attach_bytes_read;
	info->nr_damaged = st->nr_damaged;
	info->nr_torn = st->nr_torn;
	strscpy(info->path, st->path, sizeof(info->path));
	/* under the lock SET_POLICY holds: a pair that was in force */
	spin_lock(&st->space_lock);
	info->policy = st->policy;
	info->high_watermark = st->high_wm;
	info->low_watermark = st->low_wm;
	spin_unlock(&st->space_lock);
	info->nr_evicted = READ_ONCE(st->nr_evicted);
	info->evicted_keys = READ_ONCE(st->evicted_keys);
	info->reclaimed_bytes = READ_ONCE(st->reclaimed_bytes);
	info->space_waits = atomic64_read(&st->space_waits);
	info->events_lost = atomic64_read(&st->events_lost);
	info->index_bytes = kvb_index_bytes(st);
}
