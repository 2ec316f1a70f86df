// SPDX-License-Identifier: GPL-2.0
/*
 * BUCKET_KEYS and BUCKET_SCAN: listing buckets and their keys. A bucket's
 * records are built in kernel memory under index_lock (a consistent
 * snapshot) and copied to the caller afterwards.
 */
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "kvb.h"

/*
 * The records of live bucket b: with scan, a struct kvb_bucket_rec first.
 * Returns a kvmalloc'ed buffer of *len bytes, or an ERR_PTR.
 */
static void *kvb_bucket_records(struct kvb_store *st, struct kvb_bucket *b,
				bool scan, size_t *len, u32 *nr_keys,
				u64 *bytes)
{
	size_t size = scan ? sizeof(struct kvb_bucket_rec) : 0, pos;
	struct kvb_bucket_rec *br;
	void *buf;
	u32 i, n = 0;

	mutex_lock(&st->index_lock);
	/*
	 * A bucket whose last key just went is being deleted (its free
	 * header is being written): it is not listed.
	 */
	if (b->state != KVB_BUCKET_LIVE || !b->nr_live) {
		mutex_unlock(&st->index_lock);
		return ERR_PTR(-ENOENT);
	}
	for (i = 0; i < b->nr_objs; i++)
		if (b->objs[i])
			size += KVB_KEY_REC_LEN(b->objs[i]->key_len);
	buf = kvzalloc(size, GFP_KERNEL);
	if (!buf) {
		mutex_unlock(&st->index_lock);
		return ERR_PTR(-ENOMEM);
	}
	pos = scan ? sizeof(*br) : 0;
	for (i = 0; i < b->nr_objs; i++) {
		struct kvb_obj *obj = b->objs[i];
		struct kvb_key_rec *kr = buf + pos;

		if (!obj)
			continue;
		kr->key_len = obj->key_len;
		kr->value_len = obj->value_len;
		memcpy(kr + 1, obj->key, obj->key_len);
		pos += KVB_KEY_REC_LEN(obj->key_len);
		n++;
	}
	*bytes = b->live_bytes;
	mutex_unlock(&st->index_lock);

	if (scan) {
		br = buf;
		br->id = b->id;
		br->rec_len = size;
		br->nr_keys = n;
		br->value_bytes = *bytes;
		br->ctime_ns = b->ctime_ns;
	}
	*len = size;
	*nr_keys = n;
	return buf;
}

int kvb_bucket_keys(struct kvb_store *st, struct kvb_bucket_keys *arg)
{
	struct kvb_bucket *b;
	size_t len;
	void *buf;
	int ret = 0;

	b = kvb_bucket_get_id(st, arg->bucket_id);
	if (!b)
		return -ENOENT;
	buf = kvb_bucket_records(st, b, false, &len, &arg->nr_keys,
				 &arg->value_bytes);
	kvb_bucket_put(b);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	if (len > arg->buf_len)
		ret = -ERANGE;
	else if (copy_to_user(u64_to_user_ptr(arg->buf), buf, len))
		ret = -EFAULT;
	arg->buf_len = len;
	kvfree(buf);
	return ret;
}

/* A reference on the first live bucket with id >= *id, or NULL. */
static struct kvb_bucket *kvb_bucket_next(struct kvb_store *st, u64 id)
{
	unsigned long idx = id;
	struct kvb_bucket *b;

	rcu_read_lock();
	for (b = xa_find(&st->buckets, &idx, ULONG_MAX, XA_PRESENT); b;
	     b = xa_find_after(&st->buckets, &idx, ULONG_MAX, XA_PRESENT)) {
		if (READ_ONCE(b->state) == KVB_BUCKET_LIVE &&
		    refcount_inc_not_zero(&b->ref))
			break;
	}
	rcu_read_unlock();
	return b;
}

int kvb_bucket_scan(struct kvb_store *st, struct kvb_bucket_scan *arg)
{
	void __user *ubuf = u64_to_user_ptr(arg->buf);
	u64 id = arg->start_id, used = 0;
	struct kvb_bucket *b;
	int ret = 0;

	arg->nr_buckets = 0;
	arg->next_id = 0;
	while ((b = kvb_bucket_next(st, id))) {
		size_t len;
		u32 nr_keys;
		u64 bytes;
		void *buf;

		id = b->id;
		if (arg->nr_buckets == arg->max_buckets) {
			arg->next_id = id;
			kvb_bucket_put(b);
			break;
		}
		buf = kvb_bucket_records(st, b, true, &len, &nr_keys, &bytes);
		kvb_bucket_put(b);
		if (IS_ERR(buf)) {
			if (PTR_ERR(buf) == -ENOENT) {	/* deleted meanwhile */
				id++;
				continue;
			}
			return PTR_ERR(buf);
		}
		if (used + len > arg->buf_len) {
			kvfree(buf);
			if (!arg->nr_buckets) {
				arg->buf_len = len;
				return -ERANGE;
			}
			arg->next_id = id;
			break;
		}
		if (copy_to_user(ubuf + used, buf, len))
			ret = -EFAULT;
		kvfree(buf);
		if (ret)
			return ret;
		used += len;
		arg->nr_buckets++;
		id++;
	}
	arg->buf_len = used;
	return 0;
}
