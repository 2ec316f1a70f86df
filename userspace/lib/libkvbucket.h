/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * libkvbucket: the userspace side of kvbucket.
 *
 * Conventions (as in liburing): every call returns 0 or a positive count on
 * success and a negative errno on failure; errno is not used. Per-key
 * results of batch calls are in each descriptor's status field (see
 * <linux/kvbucket.h>). The descriptors are the kernel's own, so a batch
 * goes to the kernel without copying; kvb_desc_init() fills one.
 *
 * Thread safety: a struct kvb_store may be used by many threads at once.
 */
#ifndef LIBKVBUCKET_H
#define LIBKVBUCKET_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <linux/kvbucket.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvb_store;

/* Options of kvb_attach(); a zeroed structure asks for the defaults. */
struct kvb_attach_opts {
	unsigned int flags;		/* KVB_ATTACH_FORMAT, _VOLATILE */
	unsigned int max_keys_per_bucket;	/* 0: the store's */
	uint64_t max_bucket_bytes;	/* 0: the store's */
	unsigned int chunk_size;	/* 0: default; format only */
};

/* Control device (attach, detach, format need CAP_SYS_ADMIN). */
int kvb_get_features(struct kvb_features *features);
int kvb_attach(const char *dev_path, const struct kvb_attach_opts *opts,
	       uint32_t *id);
int kvb_detach(uint32_t id);
/* Writes up to capacity ids; returns the number of attached stores. */
int kvb_list(uint32_t *ids, uint32_t capacity);
int kvb_info(uint32_t id, struct kvb_store_info *info);
/* Store id of the store attached on dev_path (-ENOENT if none). */
int kvb_find(const char *dev_path, uint32_t *id);

/* Opening a store: by id, or by the path of its /dev/kvbucketN node. */
int kvb_open(uint32_t id, struct kvb_store **store);
int kvb_open_path(const char *store_dev_path, struct kvb_store **store);
void kvb_close(struct kvb_store *store);
int kvb_store_fd(const struct kvb_store *store);
uint32_t kvb_store_id(const struct kvb_store *store);

/* Fill a descriptor: key, and the value's slices (NULL, 0 for query/remove). */
static inline void kvb_desc_init(struct kvb_obj_desc *d, const void *key,
				 uint32_t key_len,
				 const struct kvb_slice *slices,
				 uint32_t nr_slices)
{
	memset(d, 0, sizeof(*d));
	d->key = (uint64_t)(uintptr_t)key;
	d->key_len = key_len;
	d->slices = (uint64_t)(uintptr_t)slices;
	d->nr_slices = nr_slices;
}

static inline void kvb_slice_init(struct kvb_slice *s, const void *addr,
				  uint64_t len)
{
	s->addr = (uint64_t)(uintptr_t)addr;
	s->len = len;
}

/*
 * Batches. Each returns the number of descriptors with status 0, or a
 * negative errno for the whole call (then no status is meaningful and,
 * for kvb_offload(), the store is unchanged).
 *
 * kvb_offload: one new bucket from the keys not stored yet; *bucket_id (if
 * not NULL) receives its id, 0 when every key was skipped. flags:
 * KVB_OFFLOAD_REPLACE. On -E2BIG, *limit (if not NULL) receives KVB_LIMIT_*.
 */
int kvb_offload(struct kvb_store *store, struct kvb_obj_desc *descs,
		uint32_t count, uint32_t flags, uint64_t *bucket_id,
		uint32_t *limit);
int kvb_query(struct kvb_store *store, struct kvb_obj_desc *descs,
	      uint32_t count);
int kvb_load(struct kvb_store *store, struct kvb_obj_desc *descs,
	     uint32_t count);
int kvb_remove(struct kvb_store *store, struct kvb_obj_desc *descs,
	       uint32_t count);

/* Buckets. */
int kvb_delete_bucket(struct kvb_store *store, uint64_t bucket_id,
		      uint32_t *nr_keys);

/*
 * The keys of one bucket, as records in buf (see struct kvb_key_rec);
 * returns the number of keys. -ERANGE: buf too small, *buf_len receives
 * the size needed. kvb_key_rec_next() walks the records.
 */
int kvb_bucket_keys(struct kvb_store *store, uint64_t bucket_id, void *buf,
		    size_t *buf_len);

/*
 * One page of buckets with id >= start_id: returns the number of bucket
 * records written to buf (see struct kvb_bucket_rec), *next_id receives the
 * cursor of the next page, 0 at the end.
 */
int kvb_bucket_scan(struct kvb_store *store, uint64_t start_id,
		    uint32_t max_buckets, void *buf, size_t *buf_len,
		    uint64_t *next_id);

int kvb_store_info(struct kvb_store *store, struct kvb_store_info *info);

/* Walking records written by kvb_bucket_keys() and kvb_bucket_scan(). */
static inline const struct kvb_key_rec *
kvb_key_rec_next(const struct kvb_key_rec *rec)
{
	return (const struct kvb_key_rec *)((const char *)rec +
					    KVB_KEY_REC_LEN(rec->key_len));
}

static inline const void *kvb_key_rec_key(const struct kvb_key_rec *rec)
{
	return rec + 1;
}

static inline const struct kvb_key_rec *
kvb_bucket_rec_keys(const struct kvb_bucket_rec *rec)
{
	return (const struct kvb_key_rec *)(rec + 1);
}

static inline const struct kvb_bucket_rec *
kvb_bucket_rec_next(const struct kvb_bucket_rec *rec)
{
	return (const struct kvb_bucket_rec *)((const char *)rec +
					       rec->rec_len);
}

/* CRC-32C as the on-disk format defines it (for tools and tests). */
uint32_t kvb_crc32c(uint32_t crc, const void *buf, size_t len);
/* kvb_crc32c(0, ...) is the checksum of a single buffer. */

#ifdef __cplusplus
}
#endif

#endif /* LIBKVBUCKET_H */
