// SPDX-License-Identifier: GPL-2.0
/*
 * The store device, /dev/kvbucketN: open, release and the ioctls. Every
 * argument is copied in and checked here, in the order Documentation/
 * abi.rst gives, before any operation sees it; the operations work on
 * kernel copies only (struct kvb_req) and user memory is touched again
 * only for values, keys lists and results.
 */
#include <linux/fs.h>
#include <linux/overflow.h>
#include <linux/pagemap.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "kvb.h"

static int kvb_store_open(struct inode *inode, struct file *file)
{
	/* misc_open() set private_data to our miscdevice */
	struct kvb_store *st = container_of(file->private_data,
					    struct kvb_store, misc);
	struct kvb_file *f;

	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	kvb_store_get(st);
	f->st = st;
	mutex_init(&f->ev_mutex);
	kvb_events_open(f);
	file->private_data = f;
	return 0;
}

static int kvb_store_release(struct inode *inode, struct file *file)
{
	struct kvb_file *f = file->private_data;

	kvb_store_put(f->st);
	mutex_destroy(&f->ev_mutex);
	kfree(f);
	return 0;
}

/* Eviction events (events.c). */
static ssize_t kvb_store_read(struct file *file, char __user *buf,
			      size_t len, loff_t *ppos)
{
	return kvb_events_read(file->private_data, buf, len,
			       file->f_flags & O_NONBLOCK);
}

static __poll_t kvb_store_poll(struct file *file, poll_table *pt)
{
	return kvb_events_poll(file->private_data, file, pt);
}

static void kvb_req_free(struct kvb_req *rq)
{
	kvfree(rq->descs);
	kvfree(rq->keys);
	kvfree(rq->key_off);
	kvfree(rq->slices);
	kvfree(rq->slice_off);
	kvfree(rq->len);
}

static int kvb_e2big(struct kvb_req *rq, u32 limit)
{
	rq->batch.limit = limit;
	return -E2BIG;
}

/* Check the descriptors and size the keys and slices they point to. */
static int kvb_req_check_descs(struct kvb_store *st, unsigned int cmd,
			       struct kvb_req *rq, u64 *key_bytes,
			       u64 *nr_slices)
{
	bool has_slices = cmd == KVB_IOC_OFFLOAD || cmd == KVB_IOC_LOAD;
	u32 i;

	*key_bytes = 0;
	*nr_slices = 0;
	for (i = 0; i < rq->count; i++) {
		const struct kvb_obj_desc *d = &rq->descs[i];

		if (d->reserved0 || !kvb_zero(d->reserved, sizeof(d->reserved)))
			return -EINVAL;
		if (!d->key_len || d->key_len > KVB_MAX_KEY_LEN)
			return -EINVAL;
		if (!has_slices) {
			if (d->nr_slices || d->slices)
				return -EINVAL;
		} else {
			if (!d->nr_slices)
				return -EINVAL;
			if (d->nr_slices > KVB_MAX_SLICES)
				return kvb_e2big(rq, KVB_LIMIT_SLICES);
			*nr_slices += d->nr_slices;
			if (*nr_slices > KVB_MAX_BATCH_SLICES)
				return kvb_e2big(rq, KVB_LIMIT_SLICES);
		}
		*key_bytes += d->key_len;
	}
	return 0;
}

static int kvb_req_copy_keys(struct kvb_req *rq, u64 key_bytes)
{
	u32 i, off = 0;

	rq->keys = kvmalloc(key_bytes, GFP_KERNEL);
	rq->key_off = kvmalloc_array(rq->count + 1, sizeof(u32), GFP_KERNEL);
	if (!rq->keys || !rq->key_off)
		return -ENOMEM;
	for (i = 0; i < rq->count; i++) {
		const struct kvb_obj_desc *d = &rq->descs[i];

		rq->key_off[i] = off;
		if (copy_from_user(rq->keys + off, u64_to_user_ptr(d->key),
				   d->key_len))
			return -EFAULT;
		off += d->key_len;
	}
	rq->key_off[rq->count] = off;
	return 0;
}

/*
 * Every slice must be usable, also those of keys the call will skip or not
 * find: a bad pointer anywhere fails the call before anything changes.
 * Faulting the pages in touches one byte per page (without writing, for
 * LOAD's destinations), which is cheap next to copying them.
 */
static int kvb_check_slice(unsigned int cmd, const struct kvb_slice *sl)
{
	const char __user *p = u64_to_user_ptr(sl->addr);

	if (!access_ok(p, sl->len))
		return -EFAULT;
	if (cmd == KVB_IOC_OFFLOAD && fault_in_readable(p, sl->len))
		return -EFAULT;
	if (cmd == KVB_IOC_LOAD && fault_in_safe_writeable(p, sl->len))
		return -EFAULT;
	return 0;
}

static int kvb_req_copy_slices(struct kvb_store *st, unsigned int cmd,
			       struct kvb_req *rq, u64 nr_slices)
{
	u64 total = 0;
	u32 i, s, n = 0;
	int ret;

	rq->len = kvcalloc(rq->count, sizeof(u64), GFP_KERNEL);
	rq->slice_off = kvmalloc_array(rq->count + 1, sizeof(u32),
				       GFP_KERNEL);
	if (!rq->len || !rq->slice_off)
		return -ENOMEM;
	if (nr_slices) {
		rq->slices = kvmalloc_array(nr_slices, sizeof(*rq->slices),
					    GFP_KERNEL);
		if (!rq->slices)
			return -ENOMEM;
	}
	for (i = 0; i < rq->count; i++) {
		const struct kvb_obj_desc *d = &rq->descs[i];

		rq->slice_off[i] = n;
		if (copy_from_user(rq->slices + n, u64_to_user_ptr(d->slices),
				   d->nr_slices * sizeof(*rq->slices)))
			return -EFAULT;
		for (s = n; s < n + d->nr_slices; s++) {
			const struct kvb_slice *sl = &rq->slices[s];

			if (!sl->len)
				return -EINVAL;
			ret = kvb_check_slice(cmd, sl);
			if (ret)
				return ret;
			/* a length no value can have: LOAD reports EMSGSIZE */
			if (check_add_overflow(rq->len[i], sl->len, &rq->len[i]))
				rq->len[i] = U64_MAX;
		}
		n += d->nr_slices;
		if (cmd == KVB_IOC_OFFLOAD) {
			if (rq->len[i] > st->max_bytes)
				return kvb_e2big(rq, KVB_LIMIT_BYTES);
			total += rq->len[i];
			if (total > st->max_bytes)
				return kvb_e2big(rq, KVB_LIMIT_BYTES);
		}
	}
	rq->slice_off[rq->count] = n;
	return 0;
}

/* Copy in and check a batch call (steps 3 to 6 of abi.rst). */
static int kvb_req_decode(struct kvb_store *st, unsigned int cmd,
			  void __user *uarg, struct kvb_req *rq)
{
	u32 flags = cmd == KVB_IOC_OFFLOAD ? KVB_OFFLOAD_REPLACE : 0;
	struct kvb_batch *b = &rq->batch;
	u64 key_bytes, nr_slices;
	size_t descs_size;
	int ret;

	ret = kvb_copy_arg(b, sizeof(*b), uarg);
	if (ret)
		return ret;
	b->limit = KVB_LIMIT_NONE;
	if (b->flags & ~flags || b->reserved0 ||
	    !kvb_zero(b->reserved, sizeof(b->reserved)))
		return -EINVAL;
	if (!b->count)
		return -EINVAL;
	if (b->count > KVB_MAX_BATCH)
		return kvb_e2big(rq, KVB_LIMIT_BATCH);
	if (cmd == KVB_IOC_OFFLOAD && b->count > st->max_keys)
		return kvb_e2big(rq, KVB_LIMIT_KEYS);
	rq->count = b->count;

	descs_size = array_size(rq->count, sizeof(*rq->descs));
	rq->descs = kvmalloc(descs_size, GFP_KERNEL);
	if (!rq->descs)
		return -ENOMEM;
	if (copy_from_user(rq->descs, u64_to_user_ptr(b->descs), descs_size))
		return -EFAULT;
	ret = kvb_req_check_descs(st, cmd, rq, &key_bytes, &nr_slices);
	if (ret)
		return ret;
	ret = kvb_req_copy_keys(rq, key_bytes);
	if (ret)
		return ret;
	ret = kvb_req_copy_slices(st, cmd, rq, nr_slices);
	if (ret)
		return ret;

	/*
	 * Calls that change the store must be able to report what they did:
	 * find out now that the results can be written, not after the change.
	 */
	if (cmd == KVB_IOC_OFFLOAD || cmd == KVB_IOC_REMOVE) {
		if (copy_to_user(u64_to_user_ptr(b->descs), rq->descs,
				 descs_size) ||
		    copy_to_user(uarg, b, sizeof(*b)))
			return -EFAULT;
	}
	b->bucket_id = 0;
	b->nr_done = 0;
	return 0;
}

static long kvb_ioctl_batch(struct kvb_store *st, unsigned int cmd,
			    struct kvb_batch __user *uarg)
{
	struct kvb_req rq = {};
	int ret;

	ret = kvb_req_decode(st, cmd, uarg, &rq);
	if (!ret) {
		switch (cmd) {
		case KVB_IOC_OFFLOAD:
			ret = kvb_offload(st, &rq);
			break;
		case KVB_IOC_QUERY:
			ret = kvb_query(st, &rq);
			break;
		case KVB_IOC_LOAD:
			ret = kvb_load(st, &rq);
			break;
		case KVB_IOC_REMOVE:
			ret = kvb_remove(st, &rq);
			break;
		}
	}
	if (!ret) {
		if (copy_to_user(u64_to_user_ptr(rq.batch.descs), rq.descs,
				 array_size(rq.count, sizeof(*rq.descs))) ||
		    copy_to_user(uarg, &rq.batch, sizeof(rq.batch)))
			ret = -EFAULT;
	} else if (rq.batch.limit) {
		/* which limit an E2BIG (or ENOSPC) was about */
		if (put_user(rq.batch.limit, &uarg->limit))
			ret = -EFAULT;
	}
	kvb_req_free(&rq);
	return ret;
}

/*
 * A batch call made as the ioctl makes it, from another context (uring.c):
 * under io_rwsem, ENODEV once the store is detached. uarg is a user
 * address of the calling context's mm.
 */
long kvb_store_batch(struct kvb_store *st, unsigned int cmd,
		     struct kvb_batch __user *uarg)
{
	long ret;

	down_read(&st->io_rwsem);
	ret = st->dead ? -ENODEV : kvb_ioctl_batch(st, cmd, uarg);
	up_read(&st->io_rwsem);
	return ret;
}

static long kvb_ioctl_delete_bucket(struct kvb_store *st, void __user *uarg)
{
	struct kvb_delete_bucket a;
	int ret;

	ret = kvb_copy_arg(&a, sizeof(a), uarg);
	if (ret)
		return ret;
	if (a.flags || a.reserved0 || !kvb_zero(a.reserved, sizeof(a.reserved)))
		return -EINVAL;
	/* the result must be writable before the bucket goes */
	if (copy_to_user(uarg, &a, sizeof(a)))
		return -EFAULT;
	a.nr_keys = 0;
	ret = kvb_delete_bucket(st, &a);
	if (ret)
		return ret;
	return copy_to_user(uarg, &a, sizeof(a)) ? -EFAULT : 0;
}

static long kvb_ioctl_bucket_keys(struct kvb_store *st, void __user *uarg)
{
	struct kvb_bucket_keys a;
	int ret;

	ret = kvb_copy_arg(&a, sizeof(a), uarg);
	if (ret)
		return ret;
	if (a.flags || a.reserved0 || !kvb_zero(a.reserved, sizeof(a.reserved)))
		return -EINVAL;
	ret = kvb_bucket_keys(st, &a);
	if (ret && ret != -ERANGE)
		return ret;
	return copy_to_user(uarg, &a, sizeof(a)) ? -EFAULT : ret;
}

static long kvb_ioctl_bucket_scan(struct kvb_store *st, void __user *uarg)
{
	struct kvb_bucket_scan a;
	int ret;

	ret = kvb_copy_arg(&a, sizeof(a), uarg);
	if (ret)
		return ret;
	if (a.flags || !kvb_zero(a.reserved, sizeof(a.reserved)))
		return -EINVAL;
	if (!a.max_buckets || a.max_buckets > KVB_MAX_BATCH)
		return -EINVAL;
	ret = kvb_bucket_scan(st, &a);
	if (ret && ret != -ERANGE)
		return ret;
	return copy_to_user(uarg, &a, sizeof(a)) ? -EFAULT : ret;
}

static long kvb_ioctl_store_info(struct kvb_store *st, void __user *uarg)
{
	struct kvb_store_info info;
	int ret;

	ret = kvb_copy_arg(&info, sizeof(info), uarg);
	if (ret)
		return ret;
	kvb_store_fill_info(st, &info);
	return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
}

static long kvb_ioctl_set_policy(struct kvb_store *st, void __user *uarg)
{
	struct kvb_policy p;
	int ret;

	ret = kvb_copy_arg(&p, sizeof(p), uarg);
	if (ret)
		return ret;
	if (p.flags || p.reserved0 || !kvb_zero(p.reserved, sizeof(p.reserved)))
		return -EINVAL;
	/* the result must be writable before anything changes */
	if (copy_to_user(uarg, &p, sizeof(p)))
		return -EFAULT;
	ret = kvb_set_policy(st, &p);
	if (ret)
		return ret;
	return copy_to_user(uarg, &p, sizeof(p)) ? -EFAULT : 0;
}

static long kvb_store_ioctl(struct file *file, unsigned int cmd,
			    unsigned long arg)
{
	struct kvb_store *st = ((struct kvb_file *)file->private_data)->st;
	void __user *uarg = (void __user *)arg;
	long ret;

	switch (cmd) {
	case KVB_IOC_GET_FEATURES:
	case KVB_IOC_OFFLOAD:
	case KVB_IOC_QUERY:
	case KVB_IOC_LOAD:
	case KVB_IOC_REMOVE:
	case KVB_IOC_DELETE_BUCKET:
	case KVB_IOC_BUCKET_KEYS:
	case KVB_IOC_BUCKET_SCAN:
	case KVB_IOC_STORE_INFO:
	case KVB_IOC_SET_POLICY:
		break;
	default:
		return -ENOTTY;
	}

	down_read(&st->io_rwsem);
	if (st->dead) {
		ret = -ENODEV;
		goto out;
	}
	switch (cmd) {
	case KVB_IOC_GET_FEATURES:
		ret = kvb_get_features(uarg);
		break;
	case KVB_IOC_DELETE_BUCKET:
		ret = kvb_ioctl_delete_bucket(st, uarg);
		break;
	case KVB_IOC_BUCKET_KEYS:
		ret = kvb_ioctl_bucket_keys(st, uarg);
		break;
	case KVB_IOC_BUCKET_SCAN:
		ret = kvb_ioctl_bucket_scan(st, uarg);
		break;
	case KVB_IOC_STORE_INFO:
		ret = kvb_ioctl_store_info(st, uarg);
		break;
	case KVB_IOC_SET_POLICY:
		ret = kvb_ioctl_set_policy(st, uarg);
		break;
	default:
		ret = kvb_ioctl_batch(st, cmd, uarg);
		break;
	}
out:
	up_read(&st->io_rwsem);
	return ret;
}

const struct file_operations kvb_store_fops = {
	.owner = THIS_MODULE,
	.open = kvb_store_open,
	.release = kvb_store_release,
	.read = kvb_store_read,
	.poll = kvb_store_poll,
	.unlocked_ioctl = kvb_store_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.uring_cmd = kvb_store_uring_cmd,
	.llseek = noop_llseek,
};
