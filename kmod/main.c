// SPDX-License-Identifier: GPL-2.0
/*
 * kvbucket: batched key-value offload to raw block devices.
 *
 * This file is the module and its control device, /dev/kvbucket-control,
 * which attaches, detaches and lists stores (Documentation/abi.rst).
 */
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/xarray.h>

#include "kvb.h"

/* The stores by id. kvb_ctl_lock serialises attach, detach and listing. */
static DEFINE_XARRAY_ALLOC(kvb_stores);
static DEFINE_MUTEX(kvb_ctl_lock);

static void kvb_store_release(struct kref *kref)
{
	struct kvb_store *st = container_of(kref, struct kvb_store, kref);

	kvb_events_destroy(st);
	kfree(st);
}

void kvb_store_get(struct kvb_store *st)
{
	kref_get(&st->kref);
}

void kvb_store_put(struct kvb_store *st)
{
	kref_put(&st->kref, kvb_store_release);
}

static int kvb_ctl_features(void __user *uarg)
{
	struct kvb_features f;
	int ret;

	ret = kvb_copy_arg(&f, sizeof(f), uarg);
	if (ret)
		return ret;
	memset(&f, 0, sizeof(f));
	f.size = sizeof(f);
	f.abi_version = KVB_ABI_VERSION;
	f.features = KVB_FEAT_REPLACE | KVB_FEAT_VOLATILE |
		     KVB_FEAT_BUCKET_SCAN | KVB_FEAT_EVICTION |
		     KVB_FEAT_URING_CMD;
	f.max_key_len = KVB_MAX_KEY_LEN;
	f.max_slices = KVB_MAX_SLICES;
	f.max_batch = KVB_MAX_BATCH;
	f.max_keys_per_bucket = KVB_MAX_KEYS_PER_BUCKET;
	f.max_bucket_bytes = KVB_MAX_BUCKET_BYTES;
	return copy_to_user(uarg, &f, sizeof(f)) ? -EFAULT : 0;
}

/* Also the store devices' KVB_IOC_GET_FEATURES. */
int kvb_get_features(void __user *uarg)
{
	return kvb_ctl_features(uarg);
}

static int kvb_ctl_attach(struct kvb_attach __user *uarg)
{
	struct kvb_store *st;
	struct kvb_attach a;
	char *path;
	u32 id;
	int ret;

	ret = kvb_copy_arg(&a, sizeof(a), uarg);
	if (ret)
		return ret;
	if (a.flags & ~KVB_ATTACH_FLAGS ||
	    !kvb_zero(a.reserved, sizeof(a.reserved)))
		return -EINVAL;
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	/* the output must be writable before anything changes */
	if (copy_to_user(uarg, &a, sizeof(a)))
		return -EFAULT;

	path = strndup_user(u64_to_user_ptr(a.path), PATH_MAX);
	if (IS_ERR(path))
		return PTR_ERR(path) == -EINVAL ? -ENAMETOOLONG :
						  PTR_ERR(path);
	if (!*path) {
		ret = -EINVAL;
		goto out_path;
	}

	mutex_lock(&kvb_ctl_lock);
	/* reserve the id: NULL to lookups until the store is ready */
	ret = xa_alloc(&kvb_stores, &id, NULL, xa_limit_31b, GFP_KERNEL);
	mutex_unlock(&kvb_ctl_lock);
	if (ret)
		goto out_path;

	st = kvb_store_attach(&a, path, id);
	if (IS_ERR(st)) {
		ret = PTR_ERR(st);
		goto out_id;
	}
	ret = kvb_store_register(st);
	if (ret) {
		kvb_store_close(st);
		kvb_store_put(st);
		goto out_id;
	}

	mutex_lock(&kvb_ctl_lock);
	xa_store(&kvb_stores, id, st, GFP_KERNEL);
	mutex_unlock(&kvb_ctl_lock);

	a.id = id;
	if (copy_to_user(&uarg->id, &a.id, sizeof(a.id)))
		ret = -EFAULT;	/* attached all the same: LIST finds it */
	kfree(path);
	return ret;

out_id:
	mutex_lock(&kvb_ctl_lock);
	xa_erase(&kvb_stores, id);
	mutex_unlock(&kvb_ctl_lock);
out_path:
	kfree(path);
	return ret;
}

/* Take store id out of the list for detaching; NULL if there is none. */
static struct kvb_store *kvb_ctl_take(u32 id)
{
	struct kvb_store *st;

	mutex_lock(&kvb_ctl_lock);
	st = xa_load(&kvb_stores, id);
	if (st)
		xa_erase(&kvb_stores, id);
	mutex_unlock(&kvb_ctl_lock);
	return st;
}

static int kvb_ctl_detach(void __user *uarg)
{
	struct kvb_detach d;
	struct kvb_store *st;
	int ret;

	ret = kvb_copy_arg(&d, sizeof(d), uarg);
	if (ret)
		return ret;
	if (d.flags || d.reserved0 || !kvb_zero(d.reserved, sizeof(d.reserved)))
		return -EINVAL;
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	st = kvb_ctl_take(d.id);
	if (!st)
		return -ENOENT;
	kvb_store_detach(st);
	kvb_store_put(st);
	return 0;
}

static int kvb_ctl_list(struct kvb_list __user *uarg)
{
	struct kvb_store *st;
	struct kvb_list l;
	unsigned long id;
	u32 n = 0;
	int ret;

	ret = kvb_copy_arg(&l, sizeof(l), uarg);
	if (ret)
		return ret;
	if (l.reserved0 || !kvb_zero(l.reserved, sizeof(l.reserved)))
		return -EINVAL;

	mutex_lock(&kvb_ctl_lock);
	xa_for_each(&kvb_stores, id, st) {
		u32 id32 = id;

		if (n < l.capacity &&
		    copy_to_user(u64_to_user_ptr(l.ids) + n * sizeof(u32),
				 &id32, sizeof(id32))) {
			ret = -EFAULT;
			break;
		}
		n++;
	}
	mutex_unlock(&kvb_ctl_lock);
	if (ret)
		return ret;
	l.count = n;
	return copy_to_user(&uarg->count, &l.count, sizeof(l.count)) ?
	       -EFAULT : 0;
}

static int kvb_ctl_info(void __user *uarg)
{
	struct kvb_store_info info;
	struct kvb_store *st;
	int ret;

	ret = kvb_copy_arg(&info, sizeof(info), uarg);
	if (ret)
		return ret;
	mutex_lock(&kvb_ctl_lock);
	st = xa_load(&kvb_stores, info.id);
	if (st)
		kvb_store_fill_info(st, &info);
	mutex_unlock(&kvb_ctl_lock);
	if (!st)
		return -ENOENT;
	return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
}

static long kvb_ctl_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case KVB_IOC_GET_FEATURES:
		return kvb_ctl_features(uarg);
	case KVB_IOC_ATTACH:
		return kvb_ctl_attach(uarg);
	case KVB_IOC_DETACH:
		return kvb_ctl_detach(uarg);
	case KVB_IOC_LIST:
		return kvb_ctl_list(uarg);
	case KVB_IOC_INFO:
		return kvb_ctl_info(uarg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations kvb_ctl_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = kvb_ctl_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice kvb_ctl_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = KVB_CONTROL_NAME,
	.fops = &kvb_ctl_fops,
	.mode = 0600,
};

static int __init kvb_init(void)
{
	int ret;

	/* bucket ids index an xarray */
	BUILD_BUG_ON(sizeof(unsigned long) < sizeof(u64));
	BUILD_BUG_ON(sizeof(struct kvb_disk_super) != KVB_DISK_SUPER_SIZE);
	BUILD_BUG_ON(sizeof(struct kvb_disk_bucket) != KVB_DISK_BUCKET_SIZE);
	BUILD_BUG_ON(sizeof(struct kvb_disk_obj) != KVB_DISK_OBJ_SIZE);
	BUILD_BUG_ON(sizeof(struct kvb_disk_state) != KVB_DISK_STATE_SIZE);
	BUILD_BUG_ON(sizeof(struct kvb_disk_commit) != KVB_DISK_COMMIT_SIZE);
	BUILD_BUG_ON(sizeof(struct kvb_disk_free) != KVB_DISK_FREE_SIZE);
	BUILD_BUG_ON(KVB_MAX_KEYS_PER_BUCKET >
		     KVB_STATE_MAX_OBJS(KVB_MIN_BLOCK_SIZE));
	/* kvb_obj.idx is a u16 */
	BUILD_BUG_ON(KVB_MAX_KEYS_PER_BUCKET > (u32)U16_MAX + 1);
	BUILD_BUG_ON(KVB_MAX_KEY_LEN > U16_MAX);

	ret = kvb_sysfs_init();
	if (ret)
		return ret;
	ret = kvb_uring_init();
	if (ret)
		goto out_sysfs;
	ret = misc_register(&kvb_ctl_dev);
	if (ret)
		goto out_uring;
	return 0;

out_uring:
	kvb_uring_exit();
out_sysfs:
	kvb_sysfs_exit();
	return ret;
}

static void __exit kvb_exit(void)
{
	struct kvb_store *st;
	unsigned long id;

	misc_deregister(&kvb_ctl_dev);
	/* open store files pin the module, so nobody uses these */
	xa_for_each(&kvb_stores, id, st) {
		xa_erase(&kvb_stores, id);
		kvb_store_detach(st);
		kvb_store_put(st);
	}
	xa_destroy(&kvb_stores);
	kvb_uring_exit();
	kvb_sysfs_exit();
	rcu_barrier();
}

module_init(kvb_init);
module_exit(kvb_exit);

MODULE_DESCRIPTION("kvbucket: batched key-value offload to raw block devices");
MODULE_LICENSE("GPL");
