// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * libkvbucket: thin verbs over the kvbucket ioctls (Documentation/abi.rst).
 *
 * Every call returns 0 or a count on success and a negative errno on
 * failure, and leaves errno alone as far as the caller can tell. Nothing
 * here prints. The control device is opened per call and a struct
 * kvb_store never changes after kvb_open(), so every call is thread-safe.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "libkvbucket.h"
#include "internal.h"

#define KVB_DEV_DIR		"/dev/"
#define KVB_CONTROL_PATH	KVB_DEV_DIR KVB_CONTROL_NAME

struct kvb_store {
	int fd;
	uint32_t id;
};

/* ioctl() as a negative errno, errno as the caller left it. */
static int kvb_ioctl(int fd, unsigned long req, void *arg)
{
	int saved = errno, ret;

	ret = ioctl(fd, req, arg);
	if (ret < 0) {
		ret = -errno;
		errno = saved;
	}
	return ret;
}

static int kvb_open_fd(const char *path)
{
	int saved = errno, fd;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fd = -errno;
		errno = saved;
	}
	return fd;
}

static void kvb_close_fd(int fd)
{
	int saved = errno;

	close(fd);
	errno = saved;
}

/* One ioctl on a freshly opened control device. */
static int kvb_control(unsigned long req, void *arg)
{
	int fd, ret;

	fd = kvb_open_fd(KVB_CONTROL_PATH);
	if (fd < 0)
		return fd;
	ret = kvb_ioctl(fd, req, arg);
	kvb_close_fd(fd);
	return ret;
}

int kvb_get_features(struct kvb_features *features)
{
	if (!features)
		return -EINVAL;
	memset(features, 0, sizeof(*features));
	features->size = sizeof(*features);
	return kvb_control(KVB_IOC_GET_FEATURES, features);
}

/*
 * kvb_attach() has two versions. kvb_attach@@LIBKVBUCKET_2, the default
 * that new binaries link, reads the whole struct kvb_attach_opts;
 * kvb_attach@LIBKVBUCKET_1 serves binaries linked before the eviction
 * fields existed and reads only the structure they know.
 */
struct kvb_attach_opts_v1 {
	unsigned int flags;
	unsigned int max_keys_per_bucket;
	uint64_t max_bucket_bytes;
	unsigned int chunk_size;
};

int kvb_attach_v2(const char *dev_path, const struct kvb_attach_opts *opts,
		  uint32_t *id);
int kvb_attach_v1(const char *dev_path,
		  const struct kvb_attach_opts_v1 *opts, uint32_t *id);
__asm__(".symver kvb_attach_v2, kvb_attach@@LIBKVBUCKET_2");
__asm__(".symver kvb_attach_v1, kvb_attach@LIBKVBUCKET_1");

int kvb_attach_v2(const char *dev_path, const struct kvb_attach_opts *opts,
		  uint32_t *id)
{
	struct kvb_attach a;
	int ret;

	if (!dev_path)
		return -EINVAL;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.path = (uint64_t)(uintptr_t)dev_path;
	if (opts) {
		a.flags = opts->flags;
		a.max_keys_per_bucket = opts->max_keys_per_bucket;
		a.max_bucket_bytes = opts->max_bucket_bytes;
		a.chunk_size = opts->chunk_size;
		a.policy = opts->policy;
		a.high_watermark = opts->high_watermark;
		a.low_watermark = opts->low_watermark;
	}
	ret = kvb_control(KVB_IOC_ATTACH, &a);
	if (ret < 0)
		return ret;
	if (id)
		*id = a.id;
	return 0;
}

int kvb_attach_v1(const char *dev_path,
		  const struct kvb_attach_opts_v1 *opts, uint32_t *id)
{
	struct kvb_attach_opts o;

	if (!opts)
		return kvb_attach_v2(dev_path, NULL, id);
	memset(&o, 0, sizeof(o));
	o.flags = opts->flags;
	o.max_keys_per_bucket = opts->max_keys_per_bucket;
	o.max_bucket_bytes = opts->max_bucket_bytes;
	o.chunk_size = opts->chunk_size;
	return kvb_attach_v2(dev_path, &o, id);
}

int kvb_detach(uint32_t id)
{
	struct kvb_detach d;

	memset(&d, 0, sizeof(d));
	d.size = sizeof(d);
	d.id = id;
	return kvb_control(KVB_IOC_DETACH, &d);
}

static int kvb_list_fd(int fd, uint32_t *ids, uint32_t capacity)
{
	struct kvb_list l;
	int ret;

	if (!ids)
		capacity = 0;
	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	l.capacity = capacity;
	l.ids = (uint64_t)(uintptr_t)ids;
	ret = kvb_ioctl(fd, KVB_IOC_LIST, &l);
	if (ret < 0)
		return ret;
	if (l.count > INT_MAX)
		return -EOVERFLOW;
	return (int)l.count;
}

int kvb_list(uint32_t *ids, uint32_t capacity)
{
	int fd, ret;

	fd = kvb_open_fd(KVB_CONTROL_PATH);
	if (fd < 0)
		return fd;
	ret = kvb_list_fd(fd, ids, capacity);
	kvb_close_fd(fd);
	return ret;
}

static int kvb_info_fd(int fd, uint32_t id, struct kvb_store_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	info->id = id;
	return kvb_ioctl(fd, KVB_IOC_INFO, info);
}

int kvb_info(uint32_t id, struct kvb_store_info *info)
{
	if (!info)
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	info->id = id;
	return kvb_control(KVB_IOC_INFO, info);
}

/* The ids of every attached store in a malloc'ed array. */
static int kvb_list_all(int fd, uint32_t **idsp)
{
	uint32_t *ids = NULL, *tmp, cap = 0;
	int n;

	for (;;) {
		n = kvb_list_fd(fd, ids, cap);
		if (n < 0 || (uint32_t)n <= cap)
			break;
		/* Stores attached meanwhile: room for a few more. */
		cap = (uint32_t)n + 8;
		tmp = realloc(ids, cap * sizeof(*ids));
		if (!tmp) {
			n = -ENOMEM;
			break;
		}
		ids = tmp;
	}
	if (n < 0) {
		free(ids);
		return n;
	}
	*idsp = ids;
	return n;
}

int kvb_find(const char *dev_path, uint32_t *id)
{
	struct kvb_store_info info;
	uint32_t *ids = NULL;
	struct stat st;
	int saved = errno, fd, n, i, ret;

	if (!dev_path)
		return -EINVAL;
	if (stat(dev_path, &st) < 0) {
		ret = -errno;
		errno = saved;
		return ret;
	}
	if (!S_ISBLK(st.st_mode))
		return -ENOTBLK;

	fd = kvb_open_fd(KVB_CONTROL_PATH);
	if (fd < 0)
		return fd;
	n = kvb_list_all(fd, &ids);
	ret = n < 0 ? n : -ENOENT;
	for (i = 0; i < n; i++) {
		int r = kvb_info_fd(fd, ids[i], &info);

		if (r == -ENOENT)	/* detached meanwhile */
			continue;
		if (r < 0) {
			ret = r;
			break;
		}
		if (info.dev_major == major(st.st_rdev) &&
		    info.dev_minor == minor(st.st_rdev)) {
			if (id)
				*id = info.id;
			ret = 0;
			break;
		}
	}
	free(ids);
	kvb_close_fd(fd);
	return ret;
}

static int kvb_store_info_fd(int fd, struct kvb_store_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	return kvb_ioctl(fd, KVB_IOC_STORE_INFO, info);
}

/* Open a store device and learn its id; want_id (>= 0) must match. */
static int kvb_open_common(const char *path, int64_t want_id,
			   struct kvb_store **storep)
{
	struct kvb_store_info info;
	struct kvb_store *s;
	int fd, ret;

	if (!path || !storep)
		return -EINVAL;
	fd = kvb_open_fd(path);
	if (fd < 0)
		return fd;
	/* Also proves that this is a kvbucket store device. */
	ret = kvb_store_info_fd(fd, &info);
	if (ret < 0)
		goto err;
	if (want_id >= 0 && info.id != (uint32_t)want_id) {
		ret = -ENODEV;
		goto err;
	}
	s = malloc(sizeof(*s));
	if (!s) {
		ret = -ENOMEM;
		goto err;
	}
	s->fd = fd;
	s->id = info.id;
	*storep = s;
	return 0;
err:
	kvb_close_fd(fd);
	return ret;
}

int kvb_open(uint32_t id, struct kvb_store **store)
{
	char path[sizeof(KVB_DEV_DIR KVB_STORE_NAME_FMT) + 10];

	snprintf(path, sizeof(path), KVB_DEV_DIR KVB_STORE_NAME_FMT, id);
	return kvb_open_common(path, id, store);
}

int kvb_open_path(const char *store_dev_path, struct kvb_store **store)
{
	return kvb_open_common(store_dev_path, -1, store);
}

void kvb_close(struct kvb_store *store)
{
	if (!store)
		return;
	kvb_close_fd(store->fd);
	free(store);
}

int kvb_store_fd(const struct kvb_store *store)
{
	return store->fd;
}

uint32_t kvb_store_id(const struct kvb_store *store)
{
	return store->id;
}

static int kvb_batch_call(struct kvb_store *store, unsigned long req,
			  struct kvb_obj_desc *descs, uint32_t count,
			  uint32_t flags, uint64_t *bucket_id,
			  uint32_t *limit)
{
	struct kvb_batch b;
	int ret;

	if (!store)
		return -EINVAL;
	memset(&b, 0, sizeof(b));
	b.size = sizeof(b);
	b.flags = flags;
	b.count = count;
	b.descs = (uint64_t)(uintptr_t)descs;
	ret = kvb_ioctl(store->fd, req, &b);
	if (limit)
		*limit = ret < 0 ? b.limit : KVB_LIMIT_NONE;
	if (ret < 0)
		return ret;
	if (bucket_id)
		*bucket_id = b.bucket_id;
	return (int)b.nr_done;
}

int kvb_offload(struct kvb_store *store, struct kvb_obj_desc *descs,
		uint32_t count, uint32_t flags, uint64_t *bucket_id,
		uint32_t *limit)
{
	return kvb_batch_call(store, KVB_IOC_OFFLOAD, descs, count, flags,
			      bucket_id, limit);
}

int kvb_query(struct kvb_store *store, struct kvb_obj_desc *descs,
	      uint32_t count)
{
	return kvb_batch_call(store, KVB_IOC_QUERY, descs, count, 0, NULL,
			      NULL);
}

int kvb_load(struct kvb_store *store, struct kvb_obj_desc *descs,
	     uint32_t count)
{
	return kvb_batch_call(store, KVB_IOC_LOAD, descs, count, 0, NULL,
			      NULL);
}

int kvb_remove(struct kvb_store *store, struct kvb_obj_desc *descs,
	       uint32_t count)
{
	return kvb_batch_call(store, KVB_IOC_REMOVE, descs, count, 0, NULL,
			      NULL);
}

int kvb_delete_bucket(struct kvb_store *store, uint64_t bucket_id,
		      uint32_t *nr_keys)
{
	struct kvb_delete_bucket d;
	int ret;

	if (!store)
		return -EINVAL;
	memset(&d, 0, sizeof(d));
	d.size = sizeof(d);
	d.bucket_id = bucket_id;
	ret = kvb_ioctl(store->fd, KVB_IOC_DELETE_BUCKET, &d);
	if (ret < 0)
		return ret;
	if (nr_keys)
		*nr_keys = d.nr_keys;
	return 0;
}

int kvb_bucket_keys(struct kvb_store *store, uint64_t bucket_id, void *buf,
		    size_t *buf_len)
{
	struct kvb_bucket_keys k;
	int ret;

	if (!store || !buf_len)
		return -EINVAL;
	memset(&k, 0, sizeof(k));
	k.size = sizeof(k);
	k.bucket_id = bucket_id;
	k.buf = (uint64_t)(uintptr_t)buf;
	k.buf_len = buf ? *buf_len : 0;
	ret = kvb_ioctl(store->fd, KVB_IOC_BUCKET_KEYS, &k);
	if (ret < 0 && ret != -ERANGE)
		return ret;
	if (k.buf_len > SIZE_MAX)
		return -EOVERFLOW;
	*buf_len = (size_t)k.buf_len;
	if (ret < 0)
		return ret;
	return (int)k.nr_keys;
}

int kvb_bucket_scan(struct kvb_store *store, uint64_t start_id,
		    uint32_t max_buckets, void *buf, size_t *buf_len,
		    uint64_t *next_id)
{
	struct kvb_bucket_scan s;
	int ret;

	if (!store || !buf_len)
		return -EINVAL;
	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	s.start_id = start_id;
	s.max_buckets = max_buckets;
	s.buf = (uint64_t)(uintptr_t)buf;
	s.buf_len = buf ? *buf_len : 0;
	ret = kvb_ioctl(store->fd, KVB_IOC_BUCKET_SCAN, &s);
	if (ret < 0 && ret != -ERANGE)
		return ret;
	if (s.buf_len > SIZE_MAX)
		return -EOVERFLOW;
	*buf_len = (size_t)s.buf_len;
	if (ret < 0)
		return ret;
	if (next_id)
		*next_id = s.next_id;
	return (int)s.nr_buckets;
}

int kvb_store_info(struct kvb_store *store, struct kvb_store_info *info)
{
	if (!store || !info)
		return -EINVAL;
	return kvb_store_info_fd(store->fd, info);
}

int kvb_set_policy(struct kvb_store *store, struct kvb_policy *pol)
{
	struct kvb_policy p;
	int ret;

	if (!store || !pol)
		return -EINVAL;
	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.policy = pol->policy;
	p.high_watermark = pol->high_watermark;
	p.low_watermark = pol->low_watermark;
	ret = kvb_ioctl(store->fd, KVB_IOC_SET_POLICY, &p);
	if (ret < 0)
		return ret;
	*pol = p;
	return 0;
}

int kvb_get_policy(struct kvb_store *store, struct kvb_policy *pol)
{
	if (!pol)
		return -EINVAL;
	memset(pol, 0, sizeof(*pol));
	return kvb_set_policy(store, pol);
}

/* Events. */

#define KVB_EVENTS_BUF_MIN	(64U << 10)
#define KVB_EVENTS_BUF_MAX	KVB_EVENT_MAX_LEN(KVB_MAX_KEYS_PER_BUCKET)

struct kvb_events {
	int fd;
	size_t cap;
	void *buf;		/* uint64_t-aligned (malloc) */
};

int kvb_events_open(uint32_t id, struct kvb_events **evp)
{
	char path[sizeof(KVB_DEV_DIR KVB_STORE_NAME_FMT) + 10];
	struct kvb_store_info info;
	struct kvb_events *ev;
	int saved = errno, fd, ret;

	if (!evp)
		return -EINVAL;
	snprintf(path, sizeof(path), KVB_DEV_DIR KVB_STORE_NAME_FMT, id);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		errno = saved;
		return ret;
	}
	/* As kvb_open(): a kvbucket store device, and store <id>. */
	ret = kvb_store_info_fd(fd, &info);
	if (!ret && info.id != id)
		ret = -ENODEV;
	if (ret)
		goto err;
	ev = malloc(sizeof(*ev));
	if (!ev) {
		ret = -ENOMEM;
		goto err;
	}
	ev->fd = fd;
	ev->cap = KVB_EVENTS_BUF_MIN;
	ev->buf = malloc(ev->cap);
	if (!ev->buf) {
		free(ev);
		ret = -ENOMEM;
		goto err;
	}
	*evp = ev;
	return 0;
err:
	kvb_close_fd(fd);
	return ret;
}

int kvb_events_fd(const struct kvb_events *ev)
{
	return ev->fd;
}

int kvb_events_wait(struct kvb_events *ev, int timeout_ms)
{
	struct pollfd p = { .fd = ev->fd, .events = POLLIN };
	int saved = errno, ret;

	ret = poll(&p, 1, timeout_ms);
	if (ret < 0) {
		ret = -errno;
		errno = saved;
		return ret;
	}
	if (ret && (p.revents & POLLNVAL))
		return -EBADF;
	return ret ? 1 : 0;
}

/* Records of len bytes at buf: their number, or -EPROTO. */
static int kvb_events_count(const void *buf, size_t len)
{
	const struct kvb_event *e;
	const struct kvb_key_rec *k;
	size_t off = 0, koff;
	uint32_t i;
	int n = 0;

	while (off < len) {
		if (len - off < sizeof(*e))
			return -EPROTO;
		e = (const struct kvb_event *)((const char *)buf + off);
		if (e->rec_len < sizeof(*e) || e->rec_len > len - off ||
		    e->rec_len % 8)
			return -EPROTO;
		/* An EVICT record's key records lie within it. */
		koff = sizeof(*e);
		for (i = 0; e->type == KVB_EVENT_EVICT && i < e->nr_keys;
		     i++) {
			if (e->rec_len - koff < sizeof(*k))
				return -EPROTO;
			k = (const void *)((const char *)e + koff);
			if (KVB_KEY_REC_LEN(k->key_len) > e->rec_len - koff)
				return -EPROTO;
			koff += KVB_KEY_REC_LEN(k->key_len);
		}
		off += e->rec_len;
		if (n == INT_MAX)
			return -EOVERFLOW;
		n++;
	}
	return n;
}

int kvb_events_read(struct kvb_events *ev, const struct kvb_event **first)
{
	int saved = errno, ret;
	size_t cap;
	ssize_t n;
	void *buf;

	if (!ev || !first)
		return -EINVAL;
	for (;;) {
		n = read(ev->fd, ev->buf, ev->cap);
		if (n >= 0)
			break;
		ret = -errno;
		errno = saved;
		if (ret == -EINTR)
			continue;
		if (ret != -EMSGSIZE || ev->cap >= KVB_EVENTS_BUF_MAX)
			return ret;
		/* The next record does not fit: a larger buffer. */
		cap = ev->cap * 2;
		if (cap > KVB_EVENTS_BUF_MAX)
			cap = KVB_EVENTS_BUF_MAX;
		buf = malloc(cap);
		if (!buf)
			return -ENOMEM;
		free(ev->buf);
		ev->buf = buf;
		ev->cap = cap;
	}
	ret = kvb_events_count(ev->buf, n);
	if (ret > 0)
		*first = ev->buf;
	return ret;
}

void kvb_events_close(struct kvb_events *ev)
{
	if (!ev)
		return;
	kvb_close_fd(ev->fd);
	free(ev->buf);
	free(ev);
}
