// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/kvbucket/<id>/: one directory per store, from the start of
 * its attach (so that a long scan can be watched) until its detach. Every
 * file holds one value; policy, high_watermark, low_watermark and
 * event_queue_bytes can also be written (by root: the files are 0644).
 */
#include <linux/kobject.h>
#include <linux/slab.h>
#include <linux/sysfs.h>

#include "kvb.h"

static struct kobject *kvb_sysfs_root;

struct kvb_sysfs {
	struct kobject kobj;
	struct kvb_store *st;
};

static struct kvb_store *kvb_sysfs_store(struct kobject *kobj)
{
	return container_of(kobj, struct kvb_sysfs, kobj)->st;
}

#define KVB_ATTR_U64(name, expr)					\
static ssize_t name##_show(struct kobject *kobj,			\
			   struct kobj_attribute *attr, char *buf)	\
{									\
	struct kvb_store *st = kvb_sysfs_store(kobj);			\
									\
	return sysfs_emit(buf, "%llu\n", (unsigned long long)(expr));	\
}									\
static struct kobj_attribute name##_attr = __ATTR_RO(name)

KVB_ATTR_U64(keys, READ_ONCE(st->nr_keys));
KVB_ATTR_U64(buckets, READ_ONCE(st->nr_buckets));
KVB_ATTR_U64(value_bytes, READ_ONCE(st->value_bytes));
KVB_ATTR_U64(capacity_bytes, st->nr_chunks << st->chunk_shift);
KVB_ATTR_U64(used_bytes, READ_ONCE(st->used_chunks) << st->chunk_shift);
KVB_ATTR_U64(attach_ms, div_u64(READ_ONCE(st->attach_ns), NSEC_PER_MSEC));
KVB_ATTR_U64(attach_bytes_read, READ_ONCE(st->attach_bytes_read));
KVB_ATTR_U64(damaged_buckets, READ_ONCE(st->nr_damaged));
KVB_ATTR_U64(torn_buckets, READ_ONCE(st->nr_torn));
KVB_ATTR_U64(evicted_buckets, READ_ONCE(st->nr_evicted));
KVB_ATTR_U64(evicted_keys, READ_ONCE(st->evicted_keys));
KVB_ATTR_U64(reclaimed_bytes, READ_ONCE(st->reclaimed_bytes));
KVB_ATTR_U64(space_waits, atomic64_read(&st->space_waits));
KVB_ATTR_U64(events_lost, atomic64_read(&st->events_lost));
/* value bytes OFFLOAD and LOAD moved: from or into user pages, or copied */
KVB_ATTR_U64(direct_bytes, atomic64_read(&st->direct_bytes));
KVB_ATTR_U64(bounce_bytes, atomic64_read(&st->bounce_bytes));

/* "fifo", "lru" or "lfu"; writing one changes the policy at once */
static ssize_t policy_show(struct kobject *kobj, struct kobj_attribute *attr,
			   char *buf)
{
	return sysfs_emit(buf, "%s\n",
			  kvb_policy_name(READ_ONCE(kvb_sysfs_store(kobj)->policy)));
}

static ssize_t policy_store(struct kobject *kobj, struct kobj_attribute *attr,
			    const char *buf, size_t len)
{
	struct kvb_policy p = {};
	int ret;

	for (p.policy = KVB_POLICY_FIFO; p.policy <= KVB_POLICY_LFU; p.policy++)
		if (sysfs_streq(buf, kvb_policy_name(p.policy)))
			break;
	if (p.policy > KVB_POLICY_LFU)
		return -EINVAL;
	ret = kvb_set_policy(kvb_sysfs_store(kobj), &p);
	return ret ?: len;
}

static struct kobj_attribute policy_attr = __ATTR_RW(policy);

/* Watermarks in percent; low < high, as KVB_IOC_SET_POLICY checks. */
static ssize_t kvb_wm_store(struct kobject *kobj, const char *buf,
			    size_t len, bool high)
{
	struct kvb_policy p = {};
	u32 val;
	int ret;

	/* out of range (ERANGE) is as invalid as zero */
	if (kstrtou32(buf, 10, &val) || !val)
		return -EINVAL;
	if (high)
		p.high_watermark = val;
	else
		p.low_watermark = val;
	ret = kvb_set_policy(kvb_sysfs_store(kobj), &p);
	return ret ?: len;
}

static ssize_t high_watermark_show(struct kobject *kobj,
				   struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n",
			  READ_ONCE(kvb_sysfs_store(kobj)->high_wm));
}

static ssize_t low_watermark_show(struct kobject *kobj,
				  struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", READ_ONCE(kvb_sysfs_store(kobj)->low_wm));
}

static ssize_t high_watermark_store(struct kobject *kobj,
				    struct kobj_attribute *attr,
				    const char *buf, size_t len)
{
	return kvb_wm_store(kobj, buf, len, true);
}

static ssize_t low_watermark_store(struct kobject *kobj,
				   struct kobj_attribute *attr,
				   const char *buf, size_t len)
{
	return kvb_wm_store(kobj, buf, len, false);
}

static struct kobj_attribute high_watermark_attr = __ATTR_RW(high_watermark);
static struct kobj_attribute low_watermark_attr = __ATTR_RW(low_watermark);

/* Bound of the event queue in bytes (the newest record is always kept). */
static ssize_t event_queue_bytes_show(struct kobject *kobj,
				      struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n",
			  READ_ONCE(kvb_sysfs_store(kobj)->ev_max_bytes));
}

static ssize_t event_queue_bytes_store(struct kobject *kobj,
				       struct kobj_attribute *attr,
				       const char *buf, size_t len)
{
	struct kvb_store *st = kvb_sysfs_store(kobj);
	u64 val;

	if (kstrtou64(buf, 0, &val) || !val || val > KVB_MAX_EVENT_BYTES)
		return -EINVAL;
	spin_lock(&st->ev_lock);
	st->ev_max_bytes = val;		/* applies from the next event */
	spin_unlock(&st->ev_lock);
	return len;
}

static struct kobj_attribute event_queue_bytes_attr =
	__ATTR_RW(event_queue_bytes);

static ssize_t device_show(struct kobject *kobj, struct kobj_attribute *attr,
			   char *buf)
{
	return sysfs_emit(buf, "%s\n", kvb_sysfs_store(kobj)->path);
}

static struct kobj_attribute device_attr = __ATTR_RO(device);

/* "attaching", "attached" */
static ssize_t state_show(struct kobject *kobj, struct kobj_attribute *attr,
			  char *buf)
{
	struct kvb_store *st = kvb_sysfs_store(kobj);

	return sysfs_emit(buf, "%s\n", READ_ONCE(st->attach_ns) ?
			  "attached" : "attaching");
}

static struct kobj_attribute state_attr = __ATTR_RO(state);

/* "new", "warm" (from the checkpoint), "cold" (scanned) */
static ssize_t attach_mode_show(struct kobject *kobj,
				struct kobj_attribute *attr, char *buf)
{
	struct kvb_store *st = kvb_sysfs_store(kobj);

	return sysfs_emit(buf, "%s\n", st->formatted ? "new" :
			  READ_ONCE(st->warm) ? "warm" : "cold");
}

static struct kobj_attribute attach_mode_attr = __ATTR_RO(attach_mode);

/* chunks of the data area the attach scan has examined, and of all */
static ssize_t attach_progress_show(struct kobject *kobj,
				    struct kobj_attribute *attr, char *buf)
{
	struct kvb_store *st = kvb_sysfs_store(kobj);

	return sysfs_emit(buf, "%llu %llu\n", READ_ONCE(st->scan_chunks),
			  st->nr_chunks);
}

static struct kobj_attribute attach_progress_attr = __ATTR_RO(attach_progress);

static struct attribute *kvb_store_attrs[] = {
	&device_attr.attr,
	&state_attr.attr,
	&attach_mode_attr.attr,
	&attach_progress_attr.attr,
	&attach_ms_attr.attr,
	&attach_bytes_read_attr.attr,
	&damaged_buckets_attr.attr,
	&torn_buckets_attr.attr,
	&keys_attr.attr,
	&buckets_attr.attr,
	&value_bytes_attr.attr,
	&capacity_bytes_attr.attr,
	&used_bytes_attr.attr,
	&policy_attr.attr,
	&high_watermark_attr.attr,
	&low_watermark_attr.attr,
	&evicted_buckets_attr.attr,
	&evicted_keys_attr.attr,
	&reclaimed_bytes_attr.attr,
	&space_waits_attr.attr,
	&event_queue_bytes_attr.attr,
	&events_lost_attr.attr,
	&direct_bytes_attr.attr,
	&bounce_bytes_attr.attr,
	NULL,
};
ATTRIBUTE_GROUPS(kvb_store);

static void kvb_sysfs_release(struct kobject *kobj)
{
	kfree(container_of(kobj, struct kvb_sysfs, kobj));
}

static const struct kobj_type kvb_sysfs_ktype = {
	.release = kvb_sysfs_release,
	.sysfs_ops = &kobj_sysfs_ops,
	.default_groups = kvb_store_groups,
};

/* Create the store's directory; the geometry must be known. */
int kvb_sysfs_add(struct kvb_store *st)
{
	struct kvb_sysfs *s;
	int ret;

	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	s->st = st;
	ret = kobject_init_and_add(&s->kobj, &kvb_sysfs_ktype, kvb_sysfs_root,
				   "%u", st->id);
	if (ret) {
		kobject_put(&s->kobj);
		return ret;
	}
	st->sysfs = &s->kobj;
	return 0;
}

/* Remove it; waits for readers, so st may go away afterwards. */
void kvb_sysfs_del(struct kvb_store *st)
{
	if (!st->sysfs)
		return;
	kobject_del(st->sysfs);
	kobject_put(st->sysfs);
	st->sysfs = NULL;
}

int kvb_sysfs_init(void)
{
	kvb_sysfs_root = kobject_create_and_add("kvbucket", kernel_kobj);
	return kvb_sysfs_root ? 0 : -ENOMEM;
}

void kvb_sysfs_exit(void)
{
	kobject_put(kvb_sysfs_root);
}
