/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kvbucket: batched key-value offload to a raw block device.
 *
 * This is the whole userspace ABI of the kvbucket module: the control
 * device /dev/kvbucket-control and the per-store devices /dev/kvbucketN.
 * Documentation/abi.rst explains every ioctl; the rules every structure
 * follows are:
 *
 *  - every argument structure starts with __u32 size, which must equal
 *    sizeof() of the structure as defined here (EINVAL otherwise), so that
 *    the ABI can grow: a later version adds fields at the end and accepts
 *    both sizes;
 *  - user memory is passed as __u64 pointers (u64_to_user_ptr in the kernel),
 *    so the layout is the same for 32- and 64-bit callers;
 *  - padding is explicit, and every reserved field must be zero (EINVAL);
 *  - unknown flags are refused (EINVAL);
 *  - unknown ioctls return ENOTTY.
 */
#ifndef _UAPI_LINUX_KVBUCKET_H
#define _UAPI_LINUX_KVBUCKET_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#define KVB_ABI_VERSION		1

#define KVB_CONTROL_NAME	"kvbucket-control"
#define KVB_STORE_NAME_FMT	"kvbucket%u"	/* /dev/kvbucketN, N = store id */

/* Feature bits reported by KVB_IOC_GET_FEATURES. */
#define KVB_FEAT_REPLACE	_BITULL(0)	/* KVB_OFFLOAD_REPLACE */
#define KVB_FEAT_VOLATILE	_BITULL(1)	/* KVB_ATTACH_VOLATILE */
#define KVB_FEAT_BUCKET_SCAN	_BITULL(2)	/* KVB_IOC_BUCKET_SCAN */
#define KVB_FEAT_EVICTION	_BITULL(3)	/* policies, watermarks, events */
#define KVB_FEAT_URING_CMD	_BITULL(4)	/* io_uring commands, below */

/* Hard limits of this ABI version. */
#define KVB_MAX_KEY_LEN			1024U
#define KVB_MAX_SLICES			1024U	/* slices of one value */
#define KVB_MAX_BATCH			16384U	/* descriptors of one call */
#define KVB_MAX_BATCH_SLICES		65536U	/* slices of all values of one call */
#define KVB_MAX_KEYS_PER_BUCKET		16384U	/* largest keys-per-bucket limit */
#define KVB_MAX_BUCKET_BYTES		(1024ULL << 20)	/* largest bytes-per-bucket limit */
#define KVB_DEFAULT_KEYS_PER_BUCKET	500U
#define KVB_DEFAULT_BUCKET_BYTES	(256ULL << 20)
#define KVB_DEFAULT_CHUNK_SIZE		(1024U << 10)	/* allocation unit */

/*
 * Eviction. A store is a cache: when the space allocated to buckets rises
 * above the high watermark, whole buckets are evicted in the background,
 * in the order the policy gives, until it is below the low watermark; an
 * OFFLOAD that finds no space waits for eviction instead of failing.
 * Watermarks are percentages of capacity_bytes, 1 <= low < high <= 100.
 */
#define KVB_POLICY_DEFAULT	0	/* attach: FIFO; SET_POLICY: unchanged */
#define KVB_POLICY_FIFO		1	/* oldest bucket first */
#define KVB_POLICY_LRU		2	/* least recently loaded bucket first */
#define KVB_POLICY_LFU		3	/* least loaded bucket first, aged */
#define KVB_DEFAULT_HIGH_WATERMARK	90U
#define KVB_DEFAULT_LOW_WATERMARK	80U

/*
 * KVB_IOC_GET_FEATURES: on the control device and on every store device.
 * Only size is read; everything else is written.
 */
struct kvb_features {
	__u32 size;
	__u32 abi_version;		/* KVB_ABI_VERSION */
	__u64 features;			/* KVB_FEAT_* */
	__u32 max_key_len;		/* KVB_MAX_KEY_LEN */
	__u32 max_slices;		/* KVB_MAX_SLICES */
	__u32 max_batch;		/* KVB_MAX_BATCH */
	__u32 max_keys_per_bucket;	/* KVB_MAX_KEYS_PER_BUCKET */
	__u64 max_bucket_bytes;		/* KVB_MAX_BUCKET_BYTES */
	__u64 reserved[4];
};

/* KVB_IOC_ATTACH flags. */
#define KVB_ATTACH_FORMAT	_BITUL(0)	/* write a new, empty store */
#define KVB_ATTACH_VOLATILE	_BITUL(1)	/* no flush per bucket: see abi.rst */
#define KVB_ATTACH_SCAN		_BITUL(2)	/* ignore the index checkpoint */
#define KVB_ATTACH_FLAGS	(KVB_ATTACH_FORMAT | KVB_ATTACH_VOLATILE | \
				 KVB_ATTACH_SCAN)

/*
 * KVB_IOC_ATTACH (CAP_SYS_ADMIN): open a block device exclusively and make
 * it a store. Without KVB_ATTACH_FORMAT the device must hold a valid store
 * (EINVAL or EUCLEAN otherwise) and its index is rebuilt from the device.
 *
 * The limits apply to this attachment; 0 means "the value the store was
 * formatted with" (or, when formatting, the default). chunk_size is the
 * allocation unit and is only read with KVB_ATTACH_FORMAT (0: default); it
 * must be a power of two between the device block size and 64 MiB.
 * policy and the watermarks (0: default) can be changed later with
 * KVB_IOC_SET_POLICY.
 */
struct kvb_attach {
	__u32 size;
	__u32 flags;			/* KVB_ATTACH_* */
	__u64 path;			/* in: NUL-terminated device path */
	__u32 max_keys_per_bucket;	/* in: 1..KVB_MAX_KEYS_PER_BUCKET or 0 */
	__u32 chunk_size;		/* in: format only */
	__u64 max_bucket_bytes;		/* in: 1..KVB_MAX_BUCKET_BYTES or 0 */
	__u32 id;			/* out: store id, /dev/kvbucket<id> */
	__u32 policy;			/* in: KVB_POLICY_* */
	__u32 high_watermark;		/* in: percent, or 0 */
	__u32 low_watermark;		/* in: percent, or 0 */
	__u64 reserved[3];
};

/*
 * KVB_IOC_DETACH (CAP_SYS_ADMIN): wait for the store's operations in flight,
 * write a clean superblock and release the device. Open store file
 * descriptors stay valid but every call on them returns ENODEV.
 */
struct kvb_detach {
	__u32 size;
	__u32 id;
	__u32 flags;			/* none defined: must be 0 */
	__u32 reserved0;
	__u64 reserved[2];
};

/*
 * KVB_IOC_LIST: the ids of the attached stores in increasing order. At most
 * capacity ids are written to ids; count receives how many stores exist.
 */
struct kvb_list {
	__u32 size;
	__u32 capacity;			/* in: entries at ids */
	__u64 ids;			/* in: __u32 array */
	__u32 count;			/* out: number of attached stores */
	__u32 reserved0;
	__u64 reserved[2];
};

/* kvb_store_info.flags */
#define KVB_INFO_VOLATILE	_BITUL(0)
#define KVB_INFO_FORMATTED	_BITUL(1)	/* this attach formatted it */
#define KVB_INFO_WARM		_BITUL(2)	/* attach read the index checkpoint */

/*
 * KVB_IOC_INFO on the control device (id is read) and KVB_IOC_STORE_INFO on
 * a store device (id is written): totals of one store.
 */
struct kvb_store_info {
	__u32 size;
	__u32 id;
	__u32 flags;			/* KVB_INFO_* */
	__u32 block_size;		/* value alignment on the device */
	__u32 chunk_size;		/* allocation unit */
	__u32 max_keys_per_bucket;
	__u64 max_bucket_bytes;
	__u32 dev_major;		/* the backing block device */
	__u32 dev_minor;
	__u8 uuid[16];
	__u64 capacity_bytes;		/* data area of the device */
	__u64 used_bytes;		/* allocated to buckets */
	__u64 free_bytes;		/* capacity - used */
	__u64 nr_keys;			/* readable keys */
	__u64 nr_buckets;
	__u64 value_bytes;		/* sum of readable value lengths */
	__u64 next_bucket_id;		/* id the next bucket will get */
	__u64 attach_ns;		/* how long the last attach took */
	__u64 attach_bytes_read;	/* metadata read by the last attach */
	__u64 nr_damaged;		/* buckets skipped at attach (damaged) */
	__u64 nr_torn;			/* buckets discarded at attach (torn) */
	char path[64];			/* device path given to attach (truncated) */
	__u32 policy;			/* KVB_POLICY_* in force */
	__u32 high_watermark;		/* percent of capacity_bytes */
	__u32 low_watermark;
	__u32 reserved0;
	__u64 nr_evicted;		/* buckets evicted since attach */
	__u64 evicted_keys;		/* their readable keys */
	__u64 reclaimed_bytes;		/* their space */
	__u64 space_waits;		/* OFFLOADs that waited for eviction */
	__u64 events_lost;		/* events readers missed (queue full) */
	__u64 index_bytes;		/* kernel memory of the key index */
};

/* A piece of a value in the caller's memory. */
struct kvb_slice {
	__u64 addr;
	__u64 len;			/* > 0 */
};

/*
 * One object of a batch: the same descriptor serves OFFLOAD, QUERY, LOAD and
 * REMOVE. "in" fields are read, "out" fields are written for every
 * descriptor of a call that returned 0.
 *
 * status (out): 0, or a negative errno for this key alone:
 *   OFFLOAD  -EEXIST  key already stored, skipped (without KVB_OFFLOAD_REPLACE)
 *            -EBUSY   key is being written by another call in flight, skipped
 *   QUERY, LOAD, REMOVE
 *            -ENOENT  key not stored
 *   REMOVE   -EIO     the removal could not be written; the key stays
 *   LOAD     -EMSGSIZE the slices' total length differs from the stored
 *                     length, which is reported in value_len; nothing copied
 *            -EBADMSG checksum mismatch on the device: no bytes returned
 *            -EIO     read error
 */
struct kvb_obj_desc {
	__u64 key;			/* in: key bytes */
	__u32 key_len;			/* in: 1..KVB_MAX_KEY_LEN */
	__u32 nr_slices;		/* in: OFFLOAD, LOAD: 1..KVB_MAX_SLICES; else 0 */
	__u64 slices;			/* in: struct kvb_slice array; else 0 */
	__s32 status;			/* out */
	__u32 reserved0;		/* in: 0 */
	__u64 value_len;		/* out: stored value length */
	__u64 bucket_id;		/* out: bucket holding the value */
	__u64 offset;			/* out: byte offset of the value on the device */
	__u64 reserved[2];		/* in: 0 */
};

/* kvb_batch.flags */
#define KVB_OFFLOAD_REPLACE	_BITUL(0)	/* stored keys get the new value */

/* kvb_batch.limit: which limit an E2BIG refers to */
#define KVB_LIMIT_NONE		0
#define KVB_LIMIT_KEYS		1	/* more keys than max_keys_per_bucket */
#define KVB_LIMIT_BYTES		2	/* more value bytes than max_bucket_bytes */
#define KVB_LIMIT_BATCH		3	/* more descriptors than KVB_MAX_BATCH */
/* a value with more than KVB_MAX_SLICES, or a batch with more slices than
 * KVB_MAX_BATCH_SLICES
 */
#define KVB_LIMIT_SLICES	4
#define KVB_LIMIT_CAPACITY	5	/* bucket larger than the whole device */

/*
 * KVB_IOC_OFFLOAD, KVB_IOC_QUERY, KVB_IOC_LOAD, KVB_IOC_REMOVE.
 *
 * Every slice of every descriptor must be usable, also those of keys that
 * are skipped or not found: otherwise the call fails with EFAULT.
 *
 * OFFLOAD writes the keys of the batch that are not stored yet as one new
 * bucket and returns its id (0 when every key was skipped). It is atomic:
 * when it returns 0 every key with status 0 is readable, otherwise none of
 * them is and the store is unchanged. By default it returns once the bucket
 * is durable on the device (see KVB_ATTACH_VOLATILE).
 */
struct kvb_batch {
	__u32 size;
	__u32 flags;			/* in: OFFLOAD: KVB_OFFLOAD_*; else 0 */
	__u32 count;			/* in: descriptors, 1..KVB_MAX_BATCH */
	__u32 limit;			/* out: KVB_LIMIT_* with E2BIG */
	__u64 descs;			/* in: struct kvb_obj_desc array */
	__u64 bucket_id;		/* out: OFFLOAD: the new bucket or 0 */
	__u32 nr_done;			/* out: descriptors with status 0 */
	__u32 reserved0;
	__u64 reserved[3];
};

/*
 * Key records, as BUCKET_KEYS and BUCKET_SCAN write them to buf: a
 * struct kvb_key_rec, then key_len key bytes, then zero padding to the next
 * multiple of 8 bytes (KVB_KEY_REC_LEN).
 */
struct kvb_key_rec {
	__u32 key_len;
	__u32 reserved0;
	__u64 value_len;
};

#define KVB_KEY_REC_LEN(key_len) \
	((sizeof(struct kvb_key_rec) + (key_len) + 7) & ~(__u64)7)

/*
 * BUCKET_SCAN writes, per bucket, a struct kvb_bucket_rec followed by its
 * nr_keys key records; rec_len is the length of all of it.
 */
struct kvb_bucket_rec {
	__u64 id;
	__u64 rec_len;
	__u32 nr_keys;
	__u32 reserved0;
	__u64 value_bytes;
	__u64 ctime_ns;			/* creation time, CLOCK_REALTIME */
};

/*
 * KVB_IOC_BUCKET_KEYS: the readable keys of one bucket (ENOENT: no such
 * bucket). When buf_len is too small the call fails with ERANGE and writes
 * the length needed to buf_len.
 */
struct kvb_bucket_keys {
	__u32 size;
	__u32 flags;			/* 0 */
	__u64 bucket_id;		/* in */
	__u64 buf;			/* in: where the key records go */
	__u64 buf_len;			/* in: bytes at buf; out: bytes used/needed */
	__u32 nr_keys;			/* out */
	__u32 reserved0;
	__u64 value_bytes;		/* out */
	__u64 reserved[2];
};

/*
 * KVB_IOC_BUCKET_SCAN: buckets with id >= start_id in increasing id order,
 * each with its keys, at most max_buckets of them and as many as fit in
 * buf_len. next_id is where the next call starts, 0 at the end. ERANGE
 * when not even the first bucket fits; buf_len then receives the length
 * it needs.
 */
struct kvb_bucket_scan {
	__u32 size;
	__u32 flags;			/* 0 */
	__u64 start_id;			/* in: cursor, 0 = from the first */
	__u32 max_buckets;		/* in: 1..KVB_MAX_BATCH */
	__u32 nr_buckets;		/* out */
	__u64 buf;			/* in */
	__u64 buf_len;			/* in: bytes at buf; out: bytes used */
	__u64 next_id;			/* out: 0 at the end */
	__u64 reserved[2];
};

/* KVB_IOC_DELETE_BUCKET: remove a bucket and all its keys. */
struct kvb_delete_bucket {
	__u32 size;
	__u32 flags;			/* 0 */
	__u64 bucket_id;		/* in */
	__u32 nr_keys;			/* out: keys that were still readable */
	__u32 reserved0;
	__u64 reserved[2];
};

/*
 * KVB_IOC_SET_POLICY: change the eviction policy and the watermarks of a
 * running store; 0 leaves a field as it is. Every field receives the value
 * in force afterwards, so a call with all of them 0 reads them.
 */
struct kvb_policy {
	__u32 size;
	__u32 flags;			/* 0 */
	__u32 policy;			/* in/out: KVB_POLICY_* */
	__u32 high_watermark;		/* in/out: percent */
	__u32 low_watermark;		/* in/out: percent */
	__u32 reserved0;
	__u64 reserved[2];
};

/*
 * Eviction events, read() from the store device. Every eviction is one
 * KVB_EVENT_EVICT record, queued at the moment its keys leave the index
 * (a LOAD issued after it was read returns -ENOENT for them), followed by
 * one struct kvb_key_rec per key (the keys that were readable). Records
 * are numbered by seq, from 1 on each attach, with no gaps.
 *
 * Each open file has its own position, starting with the first event
 * queued after open(): open the device, then resynchronise with
 * BUCKET_SCAN, then read. read() returns whole records, as many as fit;
 * EMSGSIZE when the next one does not fit at all (KVB_EVENT_MAX_LEN
 * always does); EAGAIN with O_NONBLOCK when there is none; 0 (end of file)
 * once the store is detached and every event was read. poll() reports
 * EPOLLIN. The queue is bounded (/sys/kernel/kvbucket/<id>/
 * event_queue_bytes): a reader that falls behind gets one KVB_EVENT_LOST
 * record saying how many events it missed, and should resynchronise.
 */
#define KVB_EVENT_EVICT		1
#define KVB_EVENT_LOST		2

struct kvb_event {
	__u32 type;			/* KVB_EVENT_* */
	__u32 rec_len;			/* bytes of the record, keys included */
	__u64 seq;			/* EVICT: its number; LOST: first missed */
	__u64 bucket_id;		/* EVICT */
	__u32 nr_keys;			/* EVICT: key records that follow */
	__u32 policy;			/* EVICT: the policy that chose it */
	__u64 value_bytes;		/* EVICT: sum of the keys' value lengths */
	__u64 nr_lost;			/* LOST: events missed */
	__u64 reserved[2];
};

#define KVB_EVENT_MAX_LEN(max_keys)					\
	(sizeof(struct kvb_event) +					\
	 (__u64)(max_keys) * KVB_KEY_REC_LEN(KVB_MAX_KEY_LEN))

/*
 * io_uring: OFFLOAD, QUERY and LOAD can also be submitted as
 * IORING_OP_URING_CMD on a store device's file, on a ring set up with
 * IORING_SETUP_SQE128. sqe->cmd_op is the ioctl number (KVB_IOC_OFFLOAD,
 * KVB_IOC_QUERY, KVB_IOC_LOAD; others complete with -ENOTTY) and sqe->cmd
 * holds a struct kvb_uring_cmd. The command runs asynchronously; its
 * completion's res is what the ioctl would have returned, and by then the
 * batch and its descriptors hold the results. The batch, descriptors,
 * keys and value memory must stay valid until the completion.
 */
struct kvb_uring_cmd {
	__u64 batch;			/* struct kvb_batch in user memory */
	__u32 flags;			/* 0 */
	__u32 reserved0;
	__u64 reserved[2];
};

#define KVB_IOC_MAGIC		0xB7

/* control device */
#define KVB_IOC_GET_FEATURES	_IOWR(KVB_IOC_MAGIC, 0x00, struct kvb_features)
#define KVB_IOC_ATTACH		_IOWR(KVB_IOC_MAGIC, 0x01, struct kvb_attach)
#define KVB_IOC_DETACH		_IOW(KVB_IOC_MAGIC, 0x02, struct kvb_detach)
#define KVB_IOC_LIST		_IOWR(KVB_IOC_MAGIC, 0x03, struct kvb_list)
#define KVB_IOC_INFO		_IOWR(KVB_IOC_MAGIC, 0x04, struct kvb_store_info)

/* store devices (and KVB_IOC_GET_FEATURES) */
#define KVB_IOC_OFFLOAD		_IOWR(KVB_IOC_MAGIC, 0x10, struct kvb_batch)
#define KVB_IOC_QUERY		_IOWR(KVB_IOC_MAGIC, 0x11, struct kvb_batch)
#define KVB_IOC_LOAD		_IOWR(KVB_IOC_MAGIC, 0x12, struct kvb_batch)
#define KVB_IOC_REMOVE		_IOWR(KVB_IOC_MAGIC, 0x13, struct kvb_batch)
#define KVB_IOC_DELETE_BUCKET	_IOWR(KVB_IOC_MAGIC, 0x14, struct kvb_delete_bucket)
#define KVB_IOC_BUCKET_KEYS	_IOWR(KVB_IOC_MAGIC, 0x15, struct kvb_bucket_keys)
#define KVB_IOC_BUCKET_SCAN	_IOWR(KVB_IOC_MAGIC, 0x16, struct kvb_bucket_scan)
#define KVB_IOC_STORE_INFO	_IOWR(KVB_IOC_MAGIC, 0x17, struct kvb_store_info)
#define KVB_IOC_SET_POLICY	_IOWR(KVB_IOC_MAGIC, 0x18, struct kvb_policy)

#endif /* _UAPI_LINUX_KVBUCKET_H */
