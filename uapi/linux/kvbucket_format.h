/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kvbucket on-disk format, version 1.
 *
 * The one definition of the format: the module and the userspace tools
 * (kvbucket-inspect, the tests) include this header. It only defines
 * layouts and constants; Documentation/format.rst describes every field.
 *
 * All integers are little-endian. Every checksum is CRC-32C (Castagnoli,
 * reflected, initial value 0xffffffff, final xor 0xffffffff; the check
 * value of "123456789" is 0xe3069283) computed with the checksum field
 * itself set to zero.
 *
 * Device layout, in units of the store block size B (4096, or the device's
 * logical block size if larger) and of the chunk size C (a power of two,
 * multiple of B, 1 MiB by default):
 *
 *   [0, B)          superblock copy 0
 *   [B, 2B)         superblock copy 1
 *   [2B, data_start) reserved (zero), data_start = max(C, 2B)
 *   [data_start, data_start + nr_chunks * C)   data area, in chunks
 *
 * A bucket occupies whole consecutive chunks starting at a chunk boundary:
 *
 *   [0, meta_len)             bucket header, object table, keys (meta)
 *   values, each starting at a multiple of B, in object table order
 *   ...                       unused up to len - 3B
 *   [len - 3B, len - 2B)      state slot 0 (removed objects, ping-pong)
 *   [len - 2B, len - B)       state slot 1
 *   [len - B, len)            commit record
 *
 * A bucket is valid when its header checksum, its metadata checksum and its
 * commit record all verify and agree. The commit record is written only
 * after everything else of the bucket is on stable media, so a torn bucket
 * has no valid commit record. Deleting a bucket overwrites its first block
 * with a free header (KVB_FREE_MAGIC): a freed bucket never comes back.
 */
#ifndef _UAPI_LINUX_KVBUCKET_FORMAT_H
#define _UAPI_LINUX_KVBUCKET_FORMAT_H

#include <linux/types.h>

#define KVB_FORMAT_VERSION	1

#define KVB_SUPER_MAGIC		0x315250555342564bULL	/* "KVBSUPR1" */
#define KVB_BUCKET_MAGIC	0x3154454b43554256ULL	/* "VBUCKET1" */
#define KVB_COMMIT_MAGIC	0x31544d4d4f434256ULL	/* "VBCOMMT1" */
#define KVB_STATE_MAGIC		0x3145544154534256ULL	/* "VBSTATE1" */
#define KVB_FREE_MAGIC		0x3145455246424256ULL	/* "VBBFREE1" */

#define KVB_MIN_BLOCK_SIZE	4096U
#define KVB_MAX_CHUNK_SIZE	(64U << 20)
#define KVB_SUPER_COPIES	2

/* kvb_disk_super.state */
#define KVB_SB_DIRTY		0	/* attached, or not detached cleanly */
#define KVB_SB_CLEAN		1	/* written by a clean detach */

/*
 * Bucket ids are handed out from a lease: the superblock records an id that
 * no bucket has reached yet, and is rewritten before the lease runs out, so
 * that ids never repeat across crashes even when the newest buckets were
 * deleted.
 */
#define KVB_ID_LEASE		65536ULL

/*
 * Superblock, written as one block (the rest of the block is zero). The
 * copy with the highest generation whose checksum verifies is current;
 * writes alternate between the two copies.
 */
struct kvb_disk_super {
	__le64 magic;			/* KVB_SUPER_MAGIC */
	__le32 version;			/* KVB_FORMAT_VERSION */
	__le32 crc;			/* over the whole block */
	__le32 incompat;		/* feature bits a reader must know: 0 */
	__le32 compat;			/* feature bits a reader may ignore: 0 */
	__le64 generation;		/* incremented on every write */
	__u8 uuid[16];			/* chosen at format */
	__le32 block_size;		/* B */
	__le32 chunk_size;		/* C */
	__le64 dev_bytes;		/* device size at format */
	__le64 data_start;		/* byte offset of the data area */
	__le64 nr_chunks;		/* chunks in the data area */
	__le32 max_keys_per_bucket;	/* limits chosen at format */
	__le32 state;			/* KVB_SB_* */
	__le64 max_bucket_bytes;
	__le64 id_lease;		/* every bucket id is below this */
	__le64 next_seq;		/* every sequence number is below this */
	__le64 format_time_ns;		/* CLOCK_REALTIME */
	__le64 attach_count;		/* attaches since format */
	/* index checkpoint, written by a clean detach (state CLEAN only) */
	__le64 ckpt_start;		/* byte offset, 0: none */
	__le64 ckpt_len;		/* bytes, a multiple of B */
	__le32 ckpt_crc;		/* of the ckpt_len bytes */
	__le32 reserved0;
	__le64 reserved[13];		/* zero */
};

/*
 * Bucket header, at the start of the first block of a bucket; hdr_crc
 * covers this structure only, meta_crc the whole metadata region
 * [0, meta_len) with both checksum fields zero.
 */
struct kvb_disk_bucket {
	__le64 magic;			/* KVB_BUCKET_MAGIC */
	__le32 hdr_crc;
	__le32 meta_crc;
	__u8 uuid[16];			/* the store's */
	__le64 id;			/* bucket id, > 0 */
	__le64 seq;			/* store-wide write sequence */
	__le64 start;			/* byte offset of the bucket on the device */
	__le64 len;			/* bytes, a multiple of the chunk size */
	__le64 ctime_ns;		/* CLOCK_REALTIME */
	__le64 value_bytes;		/* sum of value_len */
	__le32 meta_len;		/* header + object table + keys, bytes */
	__le32 nr_objs;
	__le32 block_size;		/* B when written */
	__le32 flags;			/* 0 */
	__le64 reserved[4];		/* zero */
	/* struct kvb_disk_obj table[nr_objs] follows, then the keys */
};

/* One object of the table that follows the bucket header. */
struct kvb_disk_obj {
	__le64 value_off;		/* from the bucket start, multiple of B */
	__le64 value_len;		/* > 0 */
	__le32 key_off;			/* from the bucket start, inside meta */
	__le16 key_len;			/* 1..KVB_MAX_KEY_LEN */
	__le16 flags;			/* 0 */
	__le32 value_crc;		/* of the value_len value bytes */
	__le32 reserved;		/* zero */
};

/*
 * State slot: which objects of the bucket were removed. Slots are written
 * alternately with an increasing seq; the valid slot (magic, checksum,
 * bucket id and seq all match) with the highest seq is current; no valid
 * slot means nothing was removed. The uuid and bucket id keep a slot left
 * on the device by an earlier bucket, or an earlier store, from counting.
 * removed[] is a bitmap, bit i (byte i / 8, bit i % 8) set when object i
 * was removed; it fills the rest of the block.
 */
struct kvb_disk_state {
	__le64 magic;			/* KVB_STATE_MAGIC */
	__le32 crc;			/* over the whole block */
	__le32 nr_objs;			/* the bucket's */
	__le64 bucket_id;
	__le64 bucket_seq;		/* the bucket header's seq */
	__le64 seq;			/* increases with every write of the slots */
	__u8 uuid[16];			/* the store's */
	__le64 reserved[1];		/* zero */
	__u8 removed[];
};

/* Commit record: the last block of a bucket, written last. */
struct kvb_disk_commit {
	__le64 magic;			/* KVB_COMMIT_MAGIC */
	__le32 crc;			/* over the whole block */
	__le32 meta_crc;		/* equal to the header's */
	__le64 bucket_id;
	__le64 bucket_seq;
	__le64 start;
	__le64 len;
	__le32 hdr_crc;			/* equal to the header's */
	__le32 nr_objs;
	__u8 uuid[16];			/* the store's */
	__le64 reserved[1];		/* zero */
};

/*
 * Free header: overwrites the first block of a deleted or evicted bucket
 * (the rest of the block is zero), so that no later scan finds it.
 */
struct kvb_disk_free {
	__le64 magic;			/* KVB_FREE_MAGIC */
	__le32 crc;			/* over the whole block */
	__le32 reserved0;
	__le64 bucket_id;		/* the bucket that was freed */
	__le64 seq;			/* store-wide write sequence */
	__le64 reserved[4];
};

/*
 * Index checkpoint: the whole index, written by a clean detach into free
 * chunks and named by the superblock, so that the next attach reads it
 * sequentially instead of scanning every bucket (a warm start). It is
 * trusted only while the superblock that names it is CLEAN; attach marks
 * the superblock DIRTY before the chunks can be reused.
 *
 * Layout: a struct kvb_disk_ckpt, then per bucket a struct
 * kvb_disk_ckpt_bucket followed by nr_live struct kvb_disk_ckpt_obj, each
 * followed by its key and zero padding to 8 bytes; zero up to ckpt_len.
 */
struct kvb_disk_ckpt {
	__le64 magic;			/* KVB_CKPT_MAGIC */
	__le32 crc;			/* unused: ckpt_crc covers it all */
	__le32 reserved0;
	__u8 uuid[16];			/* the store's */
	__le64 sb_generation;		/* of the superblock that names it */
	__le64 nr_buckets;
	__le64 nr_objs;
	__le64 used_len;		/* bytes of records, from the start */
	__le64 reserved[2];
};

struct kvb_disk_ckpt_bucket {
	__le64 id;
	__le64 seq;
	__le64 start;
	__le64 len;
	__le64 ctime_ns;
	__le64 state_seq;		/* seq of the current state slot */
	__le32 hdr_crc;
	__le32 meta_crc;
	__le32 nr_objs;			/* in the object table */
	__le32 nr_live;			/* records that follow */
	__le32 state_slot;		/* slot written last */
	__le32 reserved0;
};

struct kvb_disk_ckpt_obj {
	__le32 value_off;
	__le32 value_len;
	__le32 value_crc;
	__le16 idx;			/* in the bucket's object table */
	__le16 key_len;
	/* key_len bytes of key, then zero padding to 8 bytes */
};

#define KVB_CKPT_MAGIC		0x31544e504b434256ULL	/* "VBCKPNT1" */

/* Sizes a reader can rely on. */
#define KVB_DISK_SUPER_SIZE	256
#define KVB_DISK_BUCKET_SIZE	128
#define KVB_DISK_OBJ_SIZE	32
#define KVB_DISK_STATE_SIZE	64
#define KVB_DISK_COMMIT_SIZE	80
#define KVB_DISK_FREE_SIZE	64
#define KVB_DISK_CKPT_SIZE	80
#define KVB_DISK_CKPT_BUCKET_SIZE	72
#define KVB_DISK_CKPT_OBJ_SIZE	16

/* Largest object count one state slot of block size bs can describe. */
#define KVB_STATE_MAX_OBJS(bs)	(((bs) - KVB_DISK_STATE_SIZE) * 8)

#endif /* _UAPI_LINUX_KVBUCKET_FORMAT_H */
