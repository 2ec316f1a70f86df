/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvbucket internal definitions, shared by the files of the module.
 *
 * Objects of the module and who owns them:
 *
 *  kvb_store   one attached block device. Reference counted (kref): one
 *              reference for being attached, one per open file, one per
 *              io_uring command in flight (uring.c).
 *  kvb_bucket  one bucket on the device. Reference counted: one reference
 *              while it is in the store's bucket xarray, one per load or
 *              other call working on it. The last reference frees its space
 *              on the device and the structure (after an RCU grace period).
 *  kvb_obj     one readable key. In the store's index (rhashtable), and in
 *              its bucket's objs[] slot. Freed after an RCU grace period
 *              with kfree_rcu_mightsleep(): no rcu_head, so that an object
 *              with a key of up to 32 bytes fits in 64 bytes.
 *
 * Locks, outermost first:
 *
 *  store->io_rwsem     read by every store ioctl and io_uring command,
 *                      written by detach
 *  bucket->lock        the bucket's on-disk state: state slots and free
 *                      header writes, and the unlinking that follows them
 *  store->index_lock   every change of the index, of objs[] and of the
 *                      totals; never held across I/O
 *  store->sb_lock      superblock writes and the bucket id lease
 *  store->space_lock   the chunk bitmap, the policy and watermarks (spinlock)
 *  store->ev_lock      the eviction event ring (spinlock)
 *
 * Readers (QUERY, LOAD) take none of them: an RCU lookup in the index, then
 * a reference on the bucket. Eviction runs on a work item (evict.c) that
 * takes no lock of its own: it is the only one queueing events.
 */
#ifndef KVB_H
#define KVB_H

#include <linux/blk_types.h>
#include <linux/kref.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/rhashtable-types.h>
#include <linux/rwsem.h>
#include <linux/sizes.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/types.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <linux/kvbucket.h>
#include <linux/kvbucket_format.h>

#include "compat.h"

#define KVB_NAME_LEN	32
#define KVB_MAX_BLOCK_SIZE	65536U
#define KVB_MAX_BLOCK_PAGES	(KVB_MAX_BLOCK_SIZE / PAGE_SIZE)

struct kvb_store;

enum kvb_bucket_state {
	KVB_BUCKET_PENDING,	/* being written: its keys are reserved */
	KVB_BUCKET_LIVE,	/* committed: its keys are readable */
	KVB_BUCKET_DEAD,	/* deleted: no longer found */
};

struct kvb_bucket {
	struct kvb_store *store;
	u64 id;
	u64 seq;		/* header seq */
	u64 start;		/* byte offset on the device */
	u64 len;		/* bytes, multiple of the chunk size */
	u64 ctime_ns;		/* CLOCK_REALTIME, on the device */
	/* access history for the policy: written by loads, without a lock */
	u64 atime_ns;		/* LRU: last load (ktime_get_ns, 1 ms grain) */
	u64 lfu;		/* LFU: epoch << 8 | logarithmic load count */
	u32 nr_objs;
	u32 hdr_crc;
	u32 meta_crc;
	u32 nr_live;		/* index_lock */
	u64 live_bytes;		/* index_lock */
	int state;		/* enum kvb_bucket_state; READ_ONCE */
	refcount_t ref;
	struct mutex lock;		/* on-disk state, see the top */
	u64 state_seq;		/* seq of the newest state slot, lock */
	unsigned int state_slot; /* slot written last, lock */
	unsigned long *removed;	/* persisted removals, lock */
	struct kvb_obj **objs;	/* NULL once unlinked, index_lock */
	struct rcu_head rcu;
};

struct kvb_obj {
	struct rhash_head node;	/* in-flight table, then the index */
	struct kvb_bucket *bucket;
	u32 value_off;		/* from the bucket start */
	u32 value_len;
	u32 value_crc;
	u16 key_len;
	u16 idx;		/* slot in bucket->objs */
	u8 key[];
};

/* A key reserved by an OFFLOAD in flight (store->inflight). */
struct kvb_resv {
	struct rhash_head node;
	struct kvb_obj *obj;		/* the object being written */
};

/* A run of whole pages, the unit every bio is built from. */
struct kvb_pvec {
	struct page **pages;
	unsigned int nr;
};

struct kvb_store {
	u32 id;
	char name[KVB_NAME_LEN];
	struct miscdevice misc;
	struct kref kref;
	struct rw_semaphore io_rwsem;
	bool dead;			/* io_rwsem */

	struct kvb_bdev dev;
	struct block_device *bdev;
	char path[64];
	bool volatile_mode;
	bool formatted;
	bool sb_clean;			/* the superblock read was CLEAN */
	bool warm;			/* the index came from the checkpoint */
	u64 ckpt_start;			/* checkpoint named by the superblock */
	u64 ckpt_len;
	u32 ckpt_crc;

	/* geometry, from the superblock */
	u8 uuid[16];
	u32 block_size;
	u32 chunk_size;
	unsigned int chunk_shift;
	u64 data_start;
	u64 nr_chunks;
	u32 max_keys;
	u64 max_bytes;
	u32 sb_max_keys;
	u64 sb_max_bytes;
	u64 format_time_ns;
	u64 attach_count;

	/* superblock and ids */
	struct mutex sb_lock;
	u64 sb_generation;
	u64 id_lease;			/* sb_lock */
	u64 next_id;			/* sb_lock */
	atomic64_t next_seq;

	/* index */
	struct rhashtable index;
	struct rhashtable inflight;	/* keys being offloaded, index_lock */
	struct mutex index_lock;
	struct xarray buckets;		/* id -> bucket */
	u64 nr_keys;			/* index_lock; READ_ONCE elsewhere */
	u64 value_bytes;
	u64 nr_buckets;
	u64 index_obj_bytes;		/* index_lock; READ_ONCE elsewhere */

	/* space */
	spinlock_t space_lock;
	unsigned long *chunk_map;
	u64 used_chunks;
	u64 dying_chunks;		/* of deleted buckets still being read */
	u64 space_gen;			/* bumped by every free */
	u64 alloc_cursor;

	/* eviction (evict.c); policy and watermarks: space_lock, READ_ONCE */
	u32 policy;			/* KVB_POLICY_* */
	u32 high_wm;			/* percent of the data area */
	u32 low_wm;
	bool reclaiming;		/* above high, not yet below low; space_lock */
	u32 space_waiters;		/* OFFLOADs waiting for space; space_lock */
	u64 need_chunks;		/* largest run they need; space_lock */
	wait_queue_head_t space_wait;
	struct work_struct reclaim_work;
	int reclaim_err;		/* last eviction failure, READ_ONCE */
	u64 epoch_bytes;		/* written since the LFU epoch began; index_lock */
	u64 lfu_epoch;			/* READ_ONCE */
	u64 nr_evicted;			/* the work item, under index_lock */
	u64 evicted_keys;
	u64 reclaimed_bytes;
	atomic64_t space_waits;

	/* eviction events (events.c) */
	spinlock_t ev_lock;
	struct kvb_event_buf **ev_ring;	/* KVB_EVENT_SLOTS, by seq */
	u64 ev_first;			/* oldest seq kept */
	u64 ev_next;			/* seq of the next event */
	u64 ev_bytes;			/* bytes of the records kept */
	u64 ev_max_bytes;		/* event_queue_bytes */
	bool ev_closed;			/* detached: readers see end of file */
	atomic64_t events_lost;
	wait_queue_head_t ev_wait;

	/* last attach */
	struct kobject *sysfs;		/* /sys/kernel/kvbucket/<id> */
	u64 scan_chunks;		/* chunks the attach scan examined */
	u64 attach_ns;
	u64 attach_bytes_read;
	u64 nr_damaged;
	u64 nr_torn;

	/* value bytes OFFLOAD and LOAD moved, with and without a copy (io.c) */
	atomic64_t direct_bytes;
	atomic64_t bounce_bytes;
};

/* What an open store device file holds (file->private_data). */
struct kvb_file {
	struct kvb_store *st;
	struct mutex ev_mutex;		/* one reader of the file at a time */
	u64 ev_pos;			/* seq of the next event to read */
};

/* main.c: the control device and the store list */
void kvb_store_get(struct kvb_store *st);
void kvb_store_put(struct kvb_store *st);
int kvb_get_features(void __user *uarg);

/* target.c: one attached store */
struct kvb_store *kvb_store_attach(const struct kvb_attach *args,
				   const char *path, u32 id);
void kvb_store_detach(struct kvb_store *st);
void kvb_store_close(struct kvb_store *st);
void kvb_store_reset_index(struct kvb_store *st);
void kvb_store_fill_info(struct kvb_store *st, struct kvb_store_info *info);
int kvb_store_register(struct kvb_store *st);
u64 kvb_store_next_seq(struct kvb_store *st);
int kvb_store_new_id(struct kvb_store *st, u64 *id);

/* ioctl.c: the store device */
extern const struct file_operations kvb_store_fops;
long kvb_store_batch(struct kvb_store *st, unsigned int cmd,
		     struct kvb_batch __user *uarg);

/* uring.c: OFFLOAD, QUERY and LOAD as io_uring commands */
int kvb_uring_init(void);
void kvb_uring_exit(void);
int kvb_store_uring_cmd(struct io_uring_cmd *cmd, unsigned int issue_flags);

/* io.c: bios */
int kvb_pvec_alloc(struct kvb_pvec *pv, size_t bytes);
void kvb_pvec_free(struct kvb_pvec *pv);
int kvb_rw_pages(struct kvb_store *st, blk_opf_t opf, u64 pos,
		 struct page **pages, unsigned int nr);
int kvb_rw_block(struct kvb_store *st, blk_opf_t opf, u64 pos, void *buf);
void *kvb_block_alloc(struct kvb_store *st);
void kvb_block_free(struct kvb_store *st, void *buf);

struct kvb_io {
	atomic_t pending;
	blk_status_t status;
	struct completion done;
};

void kvb_io_init(struct kvb_io *io);
void kvb_io_submit(struct kvb_store *st, struct kvb_io *io, blk_opf_t opf,
		   u64 pos, struct page **pages, unsigned int nr);
void kvb_io_submit_block(struct kvb_store *st, struct kvb_io *io,
			 blk_opf_t opf, u64 pos, void *buf);
int kvb_io_wait(struct kvb_io *io);

/*
 * io.c, zero copy: the pages of a device range for one I/O, user pages
 * pinned for direct I/O and bounce pages for the rest.
 */
struct kvb_req;

struct kvb_map {
	struct page **pages;		/* [nr]: page i, bytes i * PAGE_SIZE on */
	unsigned long *user;		/* [nr] bits: a pinned user page */
	unsigned int nr;
	bool load;			/* pinned writable, dirtied at release */
};

int kvb_map_alloc(struct kvb_map *m, size_t bytes, bool load);
void kvb_map_free(struct kvb_map *m);
u64 kvb_slice_direct(struct kvb_store *st, u64 p, u64 addr, u64 len,
		     u64 *start);
int kvb_map_bounce(struct kvb_map *m, size_t off, size_t len, gfp_t gfp);
s64 kvb_map_value(struct kvb_store *st, struct kvb_map *m, size_t off,
		  const struct kvb_req *rq, u32 i, u64 len, gfp_t gfp);
void kvb_map_copy_in(struct kvb_map *m, size_t off, const void *src,
		     size_t len);
int kvb_map_value_in(struct kvb_map *m, size_t off, const struct kvb_req *rq,
		     u32 i, u32 *crc);
u32 kvb_map_crc(struct kvb_map *m, size_t off, size_t len);
int kvb_map_value_out(struct kvb_map *m, size_t off, const struct kvb_req *rq,
		      u32 i);

/* Count the value bytes a call moved: direct, and through bounce pages. */
static inline void kvb_count_io(struct kvb_store *st, u64 direct, u64 bounce)
{
	if (direct)
		atomic64_add(direct, &st->direct_bytes);
	if (bounce)
		atomic64_add(bounce, &st->bounce_bytes);
}

/* format.c: on-disk structures */
/*
 * CRC-32C as the format defines it: start from KVB_CRC_INIT, update,
 * finish with kvb_crc_final(); kvb_crc() does all three.
 */
#define KVB_CRC_INIT	(~0U)
u32 kvb_crc(const void *buf, size_t len);
u32 kvb_crc_update(u32 crc, const void *buf, size_t len);
u32 kvb_crc_final(u32 crc);
int kvb_sb_format(struct kvb_store *st, u32 chunk_size, u32 max_keys,
		  u64 max_bytes);
int kvb_sb_read(struct kvb_store *st);
int kvb_sb_write(struct kvb_store *st, u32 state);
int kvb_scan(struct kvb_store *st);
int kvb_index_build(struct kvb_store *st);

/* ckpt.c: the index checkpoint */
int kvb_ckpt_write(struct kvb_store *st);
int kvb_ckpt_load(struct kvb_store *st);
u64 kvb_blocks_bytes(struct kvb_store *st, u64 bytes);

/* index.c: key -> object */
int kvb_index_init(struct kvb_store *st);
void kvb_index_destroy(struct kvb_store *st);
struct kvb_obj *kvb_obj_alloc(const u8 *key, u32 key_len);
struct kvb_obj *kvb_index_lookup(struct kvb_store *st, const u8 *key,
				 u32 key_len);
struct kvb_resv *kvb_resv_lookup(struct kvb_store *st, const u8 *key,
				 u32 key_len);
int kvb_resv_insert(struct kvb_store *st, struct kvb_resv *r);
void kvb_resv_remove(struct kvb_store *st, struct kvb_resv *r);
int kvb_index_insert(struct kvb_store *st, struct kvb_obj *obj);
void kvb_index_replace(struct kvb_store *st, struct kvb_obj *old,
		       struct kvb_obj *obj);
void kvb_index_remove(struct kvb_store *st, struct kvb_obj *obj);
void kvb_obj_account(struct kvb_store *st, struct kvb_obj *obj);
void kvb_index_drop(struct kvb_store *st, struct kvb_obj *obj);
u64 kvb_index_bytes(struct kvb_store *st);

/* bucket.c: bucket life cycle */
struct kvb_bucket *kvb_bucket_alloc(struct kvb_store *st, u32 nr_objs);
void kvb_bucket_free(struct kvb_bucket *b);
struct kvb_bucket *kvb_bucket_get_id(struct kvb_store *st, u64 id);
void kvb_bucket_put(struct kvb_bucket *b);
int kvb_bucket_sync_state(struct kvb_bucket *b, const unsigned long *extra);
struct kvb_event_buf;
int kvb_bucket_kill(struct kvb_bucket *b, u32 *nr_keys,
		    struct kvb_event_buf *ev);
u64 kvb_bucket_key_bytes(struct kvb_bucket *b, u32 *nr_keys);
int kvb_bucket_settle(struct kvb_bucket *b);
void kvb_bucket_wait_idle(struct kvb_bucket *b);
void kvb_bucket_load_state(struct kvb_bucket *b,
			   const struct kvb_disk_state *s, unsigned int slot);

/*
 * A decoded batch call: kernel copies of the descriptors, the keys and the
 * slices, checked by ioctl.c. Descriptor i has the key keys[key_off[i] ..
 * key_off[i + 1]) and the slices slices[slice_off[i] .. slice_off[i + 1]),
 * whose lengths add up to len[i].
 */
struct kvb_req {
	struct kvb_batch batch;
	struct kvb_obj_desc *descs;
	u32 count;
	u8 *keys;
	u32 *key_off;
	struct kvb_slice *slices;
	u32 *slice_off;
	u64 *len;
};

static inline const u8 *kvb_req_key(const struct kvb_req *rq, u32 i)
{
	return rq->keys + rq->key_off[i];
}

static inline u32 kvb_req_key_len(const struct kvb_req *rq, u32 i)
{
	return rq->key_off[i + 1] - rq->key_off[i];
}

/* offload.c, read.c, remove.c, list.c: the store operations */
int kvb_offload(struct kvb_store *st, struct kvb_req *rq);
int kvb_query(struct kvb_store *st, struct kvb_req *rq);
int kvb_load(struct kvb_store *st, struct kvb_req *rq);
int kvb_remove(struct kvb_store *st, struct kvb_req *rq);
int kvb_delete_bucket(struct kvb_store *st, struct kvb_delete_bucket *arg);
int kvb_bucket_keys(struct kvb_store *st, struct kvb_bucket_keys *arg);
int kvb_bucket_scan(struct kvb_store *st, struct kvb_bucket_scan *arg);

/* evict.c: policies, watermarks and the reclaim work item */
int kvb_policy_check(u32 policy, u32 high, u32 low);
void kvb_evict_init(struct kvb_store *st, const struct kvb_attach *a);
void kvb_evict_stop(struct kvb_store *st);
int kvb_set_policy(struct kvb_store *st, struct kvb_policy *p);
void kvb_reclaim_kick(struct kvb_store *st);
void kvb_bucket_touch(struct kvb_bucket *b);
void kvb_bucket_born(struct kvb_bucket *b);
void kvb_evict_written(struct kvb_store *st, u64 bytes);
const char *kvb_policy_name(u32 policy);

/* events.c: the eviction event queue and read()/poll() */
#define KVB_EVENT_SLOTS		4096U
#define KVB_DEFAULT_EVENT_BYTES	(16ULL << 20)
#define KVB_MAX_EVENT_BYTES	SZ_1G
int kvb_events_init(struct kvb_store *st);
void kvb_events_destroy(struct kvb_store *st);
void kvb_events_close(struct kvb_store *st);
struct kvb_event_buf *kvb_event_alloc(u32 nr_keys, u64 key_bytes,
				      u32 policy);
void kvb_event_put(struct kvb_event_buf *buf);
void kvb_event_add_key(struct kvb_event_buf *buf, const struct kvb_obj *obj);
void kvb_event_queue(struct kvb_store *st, struct kvb_event_buf *buf,
		     struct kvb_bucket *b);
void kvb_events_open(struct kvb_file *f);
ssize_t kvb_events_read(struct kvb_file *f, char __user *ubuf, size_t len,
			bool nonblock);
__poll_t kvb_events_poll(struct kvb_file *f, struct file *file,
			 struct poll_table_struct *pt);

/* sysfs.c: /sys/kernel/kvbucket */
int kvb_sysfs_init(void);
void kvb_sysfs_exit(void);
int kvb_sysfs_add(struct kvb_store *st);
void kvb_sysfs_del(struct kvb_store *st);

/* space.c: chunk allocator */
int kvb_space_init(struct kvb_store *st);
void kvb_space_destroy(struct kvb_store *st);
int kvb_space_alloc(struct kvb_store *st, u64 nr_chunks, u64 *start);
int kvb_space_alloc_wait(struct kvb_store *st, u64 nr_chunks, u64 *start);
bool kvb_space_has_run(struct kvb_store *st, u64 nr_chunks);
void kvb_space_dying(struct kvb_store *st, u64 len, bool add);
void kvb_space_mark(struct kvb_store *st, u64 start, u64 len);
void kvb_space_free(struct kvb_store *st, u64 start, u64 len);
bool kvb_space_is_free(struct kvb_store *st, u64 start, u64 len);
void kvb_space_clear(struct kvb_store *st);

/* True when len bytes at p are all zero (reserved fields). */
static inline bool kvb_zero(const void *p, size_t len)
{
	return !memchr_inv(p, 0, len);
}

/*
 * Copy in an ioctl argument whose first member is its __u32 size, and
 * check the size (abi.rst, steps 3 and 4).
 */
static inline int kvb_copy_arg(void *karg, size_t size, void __user *uarg)
{
	if (copy_from_user(karg, uarg, size))
		return -EFAULT;
	if (*(u32 *)karg != size)
		return -EINVAL;
	return 0;
}

static inline u64 kvb_chunk_of(struct kvb_store *st, u64 pos)
{
	return (pos - st->data_start) >> st->chunk_shift;
}

static inline u64 kvb_chunk_pos(struct kvb_store *st, u64 chunk)
{
	return st->data_start + (chunk << st->chunk_shift);
}

#endif /* KVB_H */
