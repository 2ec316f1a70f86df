/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the kvbucket tests: the guest environment (KVB_DISKS,
 * KVB_MODULE), raw ioctl wrappers that return 0 or -errno (so that every
 * errno the ABI promises is checked exactly, without the library in the
 * way), and deterministic values derived from the key, so that every load
 * is verified byte for byte against what was written.
 *
 * Included once by each test program, after kselftest_harness.h.
 */
#ifndef KVB_TEST_H
#define KVB_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <linux/kvbucket.h>
#include "libkvbucket.h"

#define KVB_CONTROL_PATH	"/dev/" KVB_CONTROL_NAME
#define KVB_MIB			(1ULL << 20)
#define ARRAY_LEN(a)		(sizeof(a) / sizeof((a)[0]))

/* ---- environment --------------------------------------------------- */

/* The i-th scratch disk of KVB_DISKS (0: 2 GiB, 1: 1 GiB, 2: 256 MiB). */
static inline const char *kvb_disk(int i)
{
	static char disks[4][128];
	static int nr = -1;

	if (nr < 0) {
		const char *env = getenv("KVB_DISKS");
		char buf[512], *tok, *save = NULL;

		nr = 0;
		if (env) {
			snprintf(buf, sizeof(buf), "%s", env);
			for (tok = strtok_r(buf, " \t", &save); tok && nr < 4;
			     tok = strtok_r(NULL, " \t", &save))
				snprintf(disks[nr++], sizeof(disks[0]), "%s", tok);
		}
	}
	return i < nr ? disks[i] : NULL;
}

static inline int kvb_sys_errno(long r)
{
	return r < 0 ? -errno : (int)r;
}

static inline int kvb_ioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) < 0 ? -errno : 0;
}

static inline int ctl_open(void)
{
	return open(KVB_CONTROL_PATH, O_RDWR | O_CLOEXEC);
}

static inline void store_path(uint32_t id, char *buf, size_t len)
{
	snprintf(buf, len, "/dev/" KVB_STORE_NAME_FMT, id);
}

static inline int store_open(uint32_t id)
{
	char path[64];

	store_path(id, path, sizeof(path));
	return open(path, O_RDWR | O_CLOEXEC);
}

/* ---- control device -------------------------------------------------- */

static inline void attach_init(struct kvb_attach *a, const char *path,
			       uint32_t flags)
{
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->flags = flags;
	a->path = (uint64_t)(uintptr_t)path;
}

/* 0 and *id, or -errno. */
static inline int ctl_attach(int ctl, const char *path, uint32_t flags,
			     uint32_t max_keys, uint64_t max_bytes,
			     uint32_t chunk, uint32_t *id)
{
	struct kvb_attach a;
	int ret;

	attach_init(&a, path, flags);
	a.max_keys_per_bucket = max_keys;
	a.max_bucket_bytes = max_bytes;
	a.chunk_size = chunk;
	ret = kvb_ioctl(ctl, KVB_IOC_ATTACH, &a);
	if (!ret && id)
		*id = a.id;
	return ret;
}

static inline int ctl_detach(int ctl, uint32_t id)
{
	struct kvb_detach d = { .size = sizeof(d), .id = id };

	return kvb_ioctl(ctl, KVB_IOC_DETACH, &d);
}

static inline int ctl_info(int ctl, uint32_t id, struct kvb_store_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	info->id = id;
	return kvb_ioctl(ctl, KVB_IOC_INFO, info);
}

/* Number of attached stores (ids in ids[0..cap)), or -errno. */
static inline int ctl_list(int ctl, uint32_t *ids, uint32_t cap)
{
	struct kvb_list l = {
		.size = sizeof(l), .capacity = cap,
		.ids = (uint64_t)(uintptr_t)ids,
	};
	int ret = kvb_ioctl(ctl, KVB_IOC_LIST, &l);

	return ret ? ret : (int)l.count;
}

/*
 * Detach every attached store: a test that was killed (timeout) cannot
 * run its teardown, so every setup starts from nothing attached.
 * Returns the number of stores that could not be detached.
 */
static inline int detach_all(void)
{
	uint32_t ids[64];
	int ctl, n, i, bad = 0;

	ctl = ctl_open();
	if (ctl < 0)
		return 1;
	n = ctl_list(ctl, ids, ARRAY_LEN(ids));
	if (n < 0) {
		close(ctl);
		return 1;
	}
	for (i = 0; i < n && i < (int)ARRAY_LEN(ids); i++)
		if (ctl_detach(ctl, ids[i]))
			bad++;
	close(ctl);
	return bad;
}

/* ---- store device ---------------------------------------------------- */

static inline int st_info(int fd, struct kvb_store_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	return kvb_ioctl(fd, KVB_IOC_STORE_INFO, info);
}

static inline void batch_init(struct kvb_batch *b, struct kvb_obj_desc *d,
			      uint32_t count, uint32_t flags)
{
	memset(b, 0, sizeof(*b));
	b->size = sizeof(*b);
	b->flags = flags;
	b->count = count;
	b->descs = (uint64_t)(uintptr_t)d;
}

/* One batch ioctl; 0 or -errno; *out (if not NULL) gets the batch back. */
static inline int st_batch(int fd, unsigned long req, struct kvb_obj_desc *d,
			   uint32_t count, uint32_t flags,
			   struct kvb_batch *out)
{
	struct kvb_batch b;
	int ret;

	batch_init(&b, d, count, flags);
	ret = kvb_ioctl(fd, req, &b);
	if (out)
		*out = b;
	return ret;
}

static inline int st_delete(int fd, uint64_t bucket, uint32_t *nr_keys)
{
	struct kvb_delete_bucket d = { .size = sizeof(d), .bucket_id = bucket };
	int ret = kvb_ioctl(fd, KVB_IOC_DELETE_BUCKET, &d);

	if (!ret && nr_keys)
		*nr_keys = d.nr_keys;
	return ret;
}

/* ---- deterministic values -------------------------------------------- */

/* FNV-1a over the key, mixed with a generation number. */
static inline uint64_t key_seed(const void *key, size_t len, uint64_t gen)
{
	const unsigned char *p = key;
	uint64_t h = 0xcbf29ce484222325ULL ^ (gen * 0x9e3779b97f4a7c15ULL);
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h ^ (len << 32);
}

static inline uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Byte i of a value is byte i % 8 of the (i / 8)-th word of the stream. */
static inline void fill_value(uint64_t seed, void *buf, size_t len)
{
	unsigned char *p = buf;
	uint64_t s = seed, w;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		w = splitmix64(&s);
		memcpy(p + i, &w, 8);
	}
	if (i < len) {
		w = splitmix64(&s);
		memcpy(p + i, &w, len - i);
	}
}

/* -1 when buf holds the value of seed, else the first wrong offset. */
static inline long check_value(uint64_t seed, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t s = seed, w;
	size_t i, j;

	for (i = 0; i < len; i += 8) {
		size_t n = len - i < 8 ? len - i : 8;

		w = splitmix64(&s);
		if (memcmp(p + i, &w, n)) {
			for (j = 0; j < n; j++)
				if (p[i + j] != ((unsigned char *)&w)[j])
					return (long)(i + j);
		}
	}
	return -1;
}

/* Length of the value of test key number i: 1 byte .. max, varied. */
static inline size_t value_len_of(uint64_t i, size_t max)
{
	uint64_t s = i * 7919 + 13;

	return 1 + splitmix64(&s) % max;
}

static inline int mk_key(char *buf, size_t len, const char *prefix,
			 unsigned int i)
{
	return snprintf(buf, len, "%s-%08u", prefix, i);
}

/* Bytes that are not mapped: an address in a page that was unmapped. */
static inline void *unmapped_addr(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	munmap(p, pg);
	return p;
}

/*
 * (Re)attach path as *id and open its store device into *fd, filling info:
 * a store already open in *fd is closed and detached first. 0 or -errno.
 */
static inline int store_attach_open(int ctl, const char *path, uint32_t flags,
				    uint32_t max_keys, uint64_t max_bytes,
				    uint32_t chunk, uint32_t *id, int *fd,
				    struct kvb_store_info *info)
{
	int ret;

	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
		ret = ctl_detach(ctl, *id);
		if (ret)
			return ret;
	}
	ret = ctl_attach(ctl, path, flags, max_keys, max_bytes, chunk, id);
	if (ret)
		return ret;
	*fd = store_open(*id);
	if (*fd < 0)
		return -errno;
	return st_info(*fd, info);
}

/* The totals of STORE_INFO that a failed call must not change. */
#define EXPECT_TOTALS(_metadata, fd, before) do { \
	struct kvb_store_info __now; \
	ASSERT_EQ(0, st_info(fd, &__now)); \
	EXPECT_EQ((before)->nr_keys, __now.nr_keys); \
	EXPECT_EQ((before)->nr_buckets, __now.nr_buckets); \
	EXPECT_EQ((before)->value_bytes, __now.value_bytes); \
	EXPECT_EQ((before)->used_bytes, __now.used_bytes); \
	EXPECT_EQ((before)->free_bytes, __now.free_bytes); \
} while (0)

/* ---- the raw device (O_DIRECT: no stale page cache) ------------------- */

#define RAW_BLOCK	4096

/* Read or write (and fsync) len bytes at off, both multiples of RAW_BLOCK. */
static inline int raw_io(const char *dev, uint64_t off, void *buf, size_t len,
			 bool write)
{
	void *b = NULL;
	ssize_t n;
	int fd, ret = 0;

	if (off % RAW_BLOCK || len % RAW_BLOCK)
		return -EINVAL;
	if (posix_memalign(&b, RAW_BLOCK, len))
		return -ENOMEM;
	fd = open(dev, (write ? O_RDWR : O_RDONLY) | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	if (write) {
		memcpy(b, buf, len);
		n = pwrite(fd, b, len, off);
		if (n == (ssize_t)len && fsync(fd))
			n = -1;
	} else {
		n = pread(fd, b, len, off);
		if (n == (ssize_t)len)
			memcpy(buf, b, len);
	}
	if (n != (ssize_t)len)
		ret = n < 0 ? -errno : -EIO;
	close(fd);
out:
	free(b);
	return ret;
}

/* ---- tools ------------------------------------------------------------- */

/* The path of a tool: build/bin of this tree (KVB_ROOT) if built, else PATH */
static inline void tool_path(const char *name, char *buf, size_t len)
{
	const char *root = getenv("KVB_ROOT");
	char p[512];

	snprintf(p, sizeof(p), "%s/build/bin/%s", root ? root : ".", name);
	snprintf(buf, len, "%s", access(p, X_OK) == 0 ? p : name);
}

/* ---- sysfs: /sys/kernel/kvbucket/<id>/<attr> --------------------------- */

static inline void sysfs_path(char *buf, size_t len, uint32_t id,
			      const char *attr)
{
	snprintf(buf, len, "/sys/kernel/kvbucket/%u/%s", id, attr);
}

/* The attribute's text exactly as read, NUL-terminated: 0 or -errno. */
static inline int sysfs_read(uint32_t id, const char *attr, char *buf,
			     size_t len)
{
	char path[128];
	ssize_t n;
	int fd;

	sysfs_path(path, sizeof(path), id, attr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

/* A number attribute, which must read exactly "N\n": 0, -errno, -EPROTO. */
static inline int sysfs_u64(uint32_t id, const char *attr, uint64_t *v)
{
	char buf[64], *end;
	int ret = sysfs_read(id, attr, buf, sizeof(buf));

	if (ret)
		return ret;
	*v = strtoull(buf, &end, 10);
	return end == buf || strcmp(end, "\n") ? -EPROTO : 0;
}

/* Write val as it is: 0 or -errno (-EIO for a short write). */
static inline int sysfs_write(uint32_t id, const char *attr, const char *val)
{
	char path[128];
	ssize_t n;
	int fd, ret = 0;

	sysfs_path(path, sizeof(path), id, attr);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	if (n < 0)
		ret = -errno;
	else if ((size_t)n != strlen(val))
		ret = -EIO;
	close(fd);
	return ret;
}

/* ---- kernel module --------------------------------------------------- */

static inline int module_unload(void)
{
	return kvb_sys_errno(syscall(SYS_delete_module, "kvbucket",
				     O_NONBLOCK));
}

static inline int module_load(void)
{
	const char *path = getenv("KVB_MODULE");
	int fd, ret;

	if (!path)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = kvb_sys_errno(syscall(SYS_finit_module, fd, "", 0));
	close(fd);
	return ret;
}

/* Loaded means /dev/kvbucket-control exists. */
static inline bool module_loaded(void)
{
	return access(KVB_CONTROL_PATH, F_OK) == 0;
}

/* ---- batches of test keys -------------------------------------------- */

/* A test key and the value it should have: key_seed(key, klen, gen). */
struct tkey {
	const void *key;
	uint32_t klen;
	size_t vlen;
	uint64_t gen;
};

static inline uint64_t tkey_seed(const struct tkey *k)
{
	return key_seed(k->key, k->klen, k->gen);
}

/*
 * OFFLOAD n keys, one slice each, values derived from the keys. Returns
 * the ioctl's 0 or -errno; descs (n entries, may be NULL) and *b (may be
 * NULL) receive what the kernel wrote back.
 */
static inline int put_batch(int fd, const struct tkey *k, unsigned int n,
			    uint32_t flags, struct kvb_obj_desc *descs,
			    struct kvb_batch *b)
{
	struct kvb_obj_desc *d = calloc(n, sizeof(*d));
	struct kvb_slice *s = calloc(n, sizeof(*s));
	void **v = calloc(n, sizeof(*v));
	unsigned int i;
	int ret = -ENOMEM;

	if (b)
		memset(b, 0, sizeof(*b));
	if (!d || !s || !v)
		goto out;
	for (i = 0; i < n; i++) {
		v[i] = malloc(k[i].vlen);
		if (!v[i])
			goto out;
		fill_value(tkey_seed(&k[i]), v[i], k[i].vlen);
		kvb_slice_init(&s[i], v[i], k[i].vlen);
		kvb_desc_init(&d[i], k[i].key, k[i].klen, &s[i], 1);
	}
	ret = st_batch(fd, KVB_IOC_OFFLOAD, d, n, flags, b);
	if (descs)
		memcpy(descs, d, n * sizeof(*d));
out:
	if (v)
		for (i = 0; i < n; i++)
			free(v[i]);
	free(v);
	free(s);
	free(d);
	return ret;
}

static inline int put_one(int fd, const struct tkey *k, uint32_t flags,
			  struct kvb_obj_desc *desc, uint64_t *bucket)
{
	struct kvb_batch b;
	int ret = put_batch(fd, k, 1, flags, desc, &b);

	if (bucket)
		*bucket = ret ? 0 : b.bucket_id;
	return ret;
}

/*
 * LOAD n keys at once into exactly-sized buffers and verify them.
 * status[i]: the kernel's status, or -EILSEQ when it said 0 but the
 * bytes or value_len are wrong. Returns the ioctl's 0 or -errno.
 */
static inline int get_batch(int fd, const struct tkey *k, unsigned int n,
			    int *status)
{
	struct kvb_obj_desc *d = calloc(n, sizeof(*d));
	struct kvb_slice *s = calloc(n, sizeof(*s));
	void **v = calloc(n, sizeof(*v));
	unsigned int i;
	int ret = -ENOMEM;

	if (!d || !s || !v)
		goto out;
	for (i = 0; i < n; i++) {
		v[i] = malloc(k[i].vlen);
		if (!v[i])
			goto out;
		memset(v[i], 0x5a, k[i].vlen);
		kvb_slice_init(&s[i], v[i], k[i].vlen);
		kvb_desc_init(&d[i], k[i].key, k[i].klen, &s[i], 1);
	}
	ret = st_batch(fd, KVB_IOC_LOAD, d, n, 0, NULL);
	for (i = 0; !ret && i < n; i++) {
		status[i] = d[i].status;
		if (d[i].status == 0 &&
		    (d[i].value_len != k[i].vlen ||
		     check_value(tkey_seed(&k[i]), v[i], k[i].vlen) >= 0))
			status[i] = -EILSEQ;
	}
out:
	if (v)
		for (i = 0; i < n; i++)
			free(v[i]);
	free(v);
	free(s);
	free(d);
	return ret;
}

/* Load and verify one key: 0, its status, -EILSEQ (wrong bytes), -errno. */
static inline int get_one(int fd, const struct tkey *k)
{
	int status = -EPROTO;
	int ret = get_batch(fd, k, 1, &status);

	return ret ? ret : status;
}

/* QUERY one key; 0 or -errno of the call, *d receives the descriptor. */
static inline int query_one(int fd, const void *key, uint32_t klen,
			    struct kvb_obj_desc *d)
{
	kvb_desc_init(d, key, klen, NULL, 0);
	return st_batch(fd, KVB_IOC_QUERY, d, 1, 0, NULL);
}

/* Status of QUERY for one key (0, -ENOENT, ...) or -errno of the call. */
static inline int query_status(int fd, const void *key, uint32_t klen)
{
	struct kvb_obj_desc d;
	int ret = query_one(fd, key, klen, &d);

	return ret ? ret : d.status;
}

#endif /* KVB_TEST_H */
