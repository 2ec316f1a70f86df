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

/*
 * Options of kvb_attach(); a zeroed structure asks for the defaults.
 * Fields are only ever added at the end (binaries built against an older
 * libkvbucket keep calling the kvb_attach() that reads their shorter
 * structure: symbol versions LIBKVBUCKET_1 and _2).
 */
struct kvb_attach_opts {
	unsigned int flags;		/* KVB_ATTACH_* */
	unsigned int max_keys_per_bucket;	/* 0: the store's */
	uint64_t max_bucket_bytes;	/* 0: the store's */
	unsigned int chunk_size;	/* 0: default; format only */
	/* since LIBKVBUCKET_2 (needs KVB_FEAT_EVICTION unless all 0) */
	unsigned int policy;		/* KVB_POLICY_*; 0: FIFO */
	unsigned int high_watermark;	/* percent of capacity; 0: 90 */
	unsigned int low_watermark;	/* percent of capacity; 0: 80 */
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

/*
 * Eviction policy (KVB_FEAT_EVICTION).
 *
 * kvb_set_policy: set the policy (KVB_POLICY_FIFO, _LRU, _LFU) and the
 * watermarks (percent of capacity_bytes, 1 <= low < high <= 100) of a
 * running store. Only pol->policy, high_watermark and low_watermark are
 * read, and 0 leaves one as it is; the library fills size, flags and the
 * reserved fields. On success all three receive the values in force.
 * Returns 0 or -EINVAL (unknown policy, watermarks out of range, or
 * low >= high once combined with the values in force), -ENOTTY (a module
 * without eviction), -ENODEV (store detached), or another errno of
 * KVB_IOC_SET_POLICY (Documentation/abi.rst).
 *
 * kvb_get_policy: the values in force (kvb_set_policy() with all three 0).
 */
int kvb_set_policy(struct kvb_store *store, struct kvb_policy *pol);
int kvb_get_policy(struct kvb_store *store, struct kvb_policy *pol);

/*
 * Eviction events: the records a store device gives to read() (struct
 * kvb_event in <linux/kvbucket.h>). A struct kvb_events is one reader with
 * its own position, independent of any struct kvb_store; use it from one
 * thread at a time.
 *
 * kvb_events_open: open /dev/kvbucket<id> for events (read-only,
 * non-blocking). The first event read is the first one queued after this
 * call: open, then resynchronise with kvb_bucket_scan(), then read.
 * Returns 0, or -ENOENT (no such store), -EACCES, -ENOMEM, -ENODEV (not
 * store <id>).
 *
 * kvb_events_fd: the file descriptor, for poll() or epoll (EPOLLIN). Do
 * not read() it directly while also calling kvb_events_read().
 *
 * kvb_events_wait: wait up to timeout_ms (-1: no limit) for an event or
 * the end of the stream. Returns 1 when kvb_events_read() has something
 * to return (records, or 0 at the end), 0 on timeout, or -EINTR (a
 * signal) and other poll() errors.
 *
 * kvb_events_read: read the queued records, never waiting. Returns their
 * number, with *first pointing to the first one; kvb_event_next() walks
 * them and kvb_event_keys() gives an EVICT record's key records. They
 * stay valid until the next kvb_events_read() or kvb_events_close().
 * Returns 0 at the end of the stream (the store was detached and every
 * event read), -EAGAIN when no event is queued, -ENOMEM, -EPROTO when a
 * record does not parse, or read()'s errno. The buffer starts at 64 KiB
 * and grows as the records need, up to
 * KVB_EVENT_MAX_LEN(KVB_MAX_KEYS_PER_BUCKET).
 *
 * A KVB_EVENT_LOST record says that nr_lost events from seq on were
 * dropped (this reader fell behind): resynchronise with kvb_bucket_scan().
 *
 * kvb_events_close: close the descriptor and free the buffer (NULL: no-op).
 */
struct kvb_events;

int kvb_events_open(uint32_t id, struct kvb_events **ev);
int kvb_events_fd(const struct kvb_events *ev);
int kvb_events_wait(struct kvb_events *ev, int timeout_ms);
int kvb_events_read(struct kvb_events *ev, const struct kvb_event **first);
void kvb_events_close(struct kvb_events *ev);

/*
 * io_uring commands (KVB_FEAT_URING_CMD): OFFLOAD, QUERY and LOAD submitted
 * on an io_uring, so that one thread keeps many batches in flight. Each
 * does what the synchronous verb of the same name does (same checks, same
 * per-descriptor results, same errnos); Documentation/abi.rst, "io_uring
 * commands", has the rules. These verbs only fill an SQE: submitting and
 * reaping are liburing's (include <liburing.h>; link with liburing, which
 * `pkg-config --libs kvbucket` names for static links).
 *
 * kvb_ring_init: io_uring_queue_init() of a ring with entries SQEs and
 * IORING_SETUP_SQE128, which the commands need (a struct kvb_uring_cmd
 * lies past the first 64 bytes of its SQE). Returns 0 or -errno (-EINVAL:
 * a kernel without SQE128, before 5.19). For other setup flags call
 * io_uring_queue_init() with IORING_SETUP_SQE128 added; IORING_SETUP_IOPOLL
 * cannot be used (the commands complete with -EOPNOTSUPP). Release the
 * ring with io_uring_queue_exit().
 *
 * kvb_prep_offload, kvb_prep_query, kvb_prep_load: fill sqe, which must
 * come from io_uring_get_sqe() on such a ring, with the command, and
 * batch with count descriptors at descs (flags: KVB_OFFLOAD_REPLACE for
 * OFFLOAD). user_data is left alone: set it after (io_uring_sqe_set_data),
 * as with liburing's io_uring_prep_*() verbs. Return 0, or -EINVAL when
 * sqe, store or batch is NULL (sqe then untouched). On a ring without
 * SQE128 they would write past the SQE: never do that.
 *
 * The batch, the descriptors, their keys, slice arrays and value memory
 * must stay valid and unchanged from the submission until the completion:
 * the kernel reads them (and writes the results) while the command runs,
 * not when it is submitted. Until the completion is reaped the results in
 * them mean nothing.
 *
 * The completion's res is what the ioctl returns: 0, or a negative errno
 * for the whole batch, such as -ENODEV (store detached), -EFAULT, -EINVAL,
 * -E2BIG (batch->limit says which limit), -ECANCELED (canceled before it
 * ran, see abi.rst), -EOPNOTSUPP (a module or ring without io_uring
 * commands). kvb_cmd_result() turns it into what the synchronous verb
 * returns: the number of descriptors with status 0, or the negative errno;
 * for OFFLOAD the new bucket is batch->bucket_id.
 */
struct io_uring;
struct io_uring_sqe;

int kvb_ring_init(struct io_uring *ring, unsigned int entries);
int kvb_prep_offload(struct io_uring_sqe *sqe, struct kvb_store *store,
		     struct kvb_batch *batch, struct kvb_obj_desc *descs,
		     uint32_t count, uint32_t flags);
int kvb_prep_query(struct io_uring_sqe *sqe, struct kvb_store *store,
		   struct kvb_batch *batch, struct kvb_obj_desc *descs,
		   uint32_t count);
int kvb_prep_load(struct io_uring_sqe *sqe, struct kvb_store *store,
		  struct kvb_batch *batch, struct kvb_obj_desc *descs,
		  uint32_t count);

static inline int kvb_cmd_result(const struct kvb_batch *batch, int res)
{
	return res < 0 ? res : (int)batch->nr_done;
}

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

/* Walking records returned by kvb_events_read(). */
static inline const struct kvb_event *
kvb_event_next(const struct kvb_event *ev)
{
	return (const struct kvb_event *)((const char *)ev + ev->rec_len);
}

/* KVB_EVENT_EVICT: the first of nr_keys records (kvb_key_rec_next()). */
static inline const struct kvb_key_rec *
kvb_event_keys(const struct kvb_event *ev)
{
	return (const struct kvb_key_rec *)(ev + 1);
}

/* CRC-32C as the on-disk format defines it (for tools and tests). */
uint32_t kvb_crc32c(uint32_t crc, const void *buf, size_t len);
/* kvb_crc32c(0, ...) is the checksum of a single buffer. */

#ifdef __cplusplus
}
#endif

#endif /* LIBKVBUCKET_H */
