// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * kvbucket-bench-files: the same workloads as kvbucket-bench on the
 * upstream bucket design (Mooncake's BucketStorageBackend; see
 * Documentation/benchmarks.rst), in a directory on a filesystem (--dir):
 *
 *   - each batch is one bucket: "<id>.bucket", the values back to back,
 *     written with one pwritev(), and "<id>.meta", its keys with their
 *     offsets and lengths, written with one pwrite(); both are then
 *     fdatasync()ed, so that an acknowledged batch is durable as a
 *     kvbucket OFFLOAD is (upstream does not sync at all);
 *   - an in-memory map key -> (bucket, offset, length) under a
 *     reader/writer lock is the index: a query is a lookup in it;
 *   - a load opens each bucket file it needs with O_DIRECT and reads each
 *     value with one preadv() into the caller's buffer, as upstream reads
 *     one key at a time.
 *
 * One deviation, in the peer's favour: upstream's data file interleaves
 * [key][value], so its values are not 4 KiB-aligned and O_DIRECT reads
 * are impossible; here the keys live only in the .meta file and every
 * value starts on a 4 KiB boundary.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bench.h"

/* One entry of the map: where a value is. */
struct loc {
	char *key;			/* NULL: a free entry */
	uint32_t key_len;
	uint64_t bucket, offset, len;
};

static struct {
	const char *dir;
	int dir_fd;
	uint64_t next_bucket;		/* atomic */
	pthread_rwlock_t lock;		/* the map */
	struct loc *map;
	uint64_t map_size;		/* a power of two */
	uint64_t nr_keys;
} fb;

/* FNV-1a */
static uint64_t hash(const char *key, uint32_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	uint32_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (uint8_t)key[i]) * 0x100000001b3ULL;
	return h;
}

/* The entry holding key, or the free entry where it would go. */
static struct loc *map_slot(const char *key, uint32_t len)
{
	uint64_t i = hash(key, len) & (fb.map_size - 1);

	while (fb.map[i].key && (fb.map[i].key_len != len ||
				 memcmp(fb.map[i].key, key, len)))
		i = (i + 1) & (fb.map_size - 1);
	return &fb.map[i];
}

/* Remove the buckets a previous run left in the directory. */
static int clean_dir(void)
{
	DIR *d = fdopendir(dup(fb.dir_fd));
	struct dirent *e;
	size_t len;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		len = strlen(e->d_name);
		if ((len > 7 && !strcmp(e->d_name + len - 7, ".bucket")) ||
		    (len > 5 && !strcmp(e->d_name + len - 5, ".meta")))
			unlinkat(fb.dir_fd, e->d_name, 0);
	}
	closedir(d);
	return 0;
}

static int files_setup(const struct bench_opts *o)
{
	char path[PATH_MAX];
	int ret;

	if (!o->dir) {
		bench_err("--dir=DIR is needed (a directory on the "
			  "filesystem to test)");
		return -EINVAL;
	}
	if (o->device || o->store)
		bench_err("--device and --store are for kvbucket: ignored");
	snprintf(path, sizeof(path), "%s/kvb-files-bench", o->dir);
	if (mkdir(path, 0755) && errno != EEXIST) {
		bench_err("mkdir %s: %s", path, strerror(errno));
		return -errno;
	}
	fb.dir = o->dir;
	fb.dir_fd = open(path, O_RDONLY | O_DIRECTORY);
	if (fb.dir_fd < 0) {
		bench_err("%s: %s", path, strerror(errno));
		return -errno;
	}
	ret = clean_dir();
	if (ret < 0) {
		bench_err("%s: %s", path, strerror(-ret));
		return ret;
	}
	/* room for fill and a few mixed runs at a load factor below 1/2 */
	for (fb.map_size = 1024; fb.map_size < 8 * o->num;)
		fb.map_size <<= 1;
	fb.map = calloc(fb.map_size, sizeof(*fb.map));
	if (!fb.map)
		return -ENOMEM;
	pthread_rwlock_init(&fb.lock, NULL);
	fb.next_bucket = 1;
	return 0;
}

static void files_teardown(void)
{
	uint64_t i;

	for (i = 0; i < fb.map_size; i++)
		free(fb.map[i].key);
	free(fb.map);
	close(fb.dir_fd);
}

static int files_thread_init(struct bench_thread *t)
{
	(void)t;
	return 0;
}

static int create(uint64_t bucket, const char *ext)
{
	char name[64];

	snprintf(name, sizeof(name), "%" PRIu64 ".%s", bucket, ext);
	return openat(fb.dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
}

/* All of buf with pwrite(), or -errno. */
static int write_all(int fd, const void *buf, size_t len)
{
	ssize_t n;
	size_t done = 0;

	while (done < len) {
		n = pwrite(fd, (const char *)buf + done, len - done, done);
		if (n < 0)
			return -errno;
		done += n;
	}
	return 0;
}

/*
 * The .meta file: the number of objects, then per object key length,
 * offset and length (u32, u64, u64) and the key bytes.
 */
static int write_meta(uint64_t bucket, const struct bench_slot *s)
{
	size_t len = 4 + s->count * (20 + BENCH_KEY_MAX), pos = 0;
	char *buf = malloc(len);
	uint64_t off;
	uint32_t i;
	int fd, ret;

	if (!buf)
		return -ENOMEM;
	memcpy(buf, &s->count, 4);
	pos = 4;
	for (i = 0; i < s->count; i++) {
		const struct bench_obj *o = &s->objs[i];

		off = i * s->value_size;
		memcpy(buf + pos, &o->key_len, 4);
		memcpy(buf + pos + 4, &off, 8);
		memcpy(buf + pos + 12, &s->value_size, 8);
		memcpy(buf + pos + 20, o->key, o->key_len);
		pos += 20 + o->key_len;
	}
	fd = create(bucket, "meta");
	if (fd < 0) {
		free(buf);
		return -errno;
	}
	ret = write_all(fd, buf, pos);
	if (!ret && fdatasync(fd))
		ret = -errno;
	close(fd);
	free(buf);
	return ret;
}

static int offload(struct bench_slot *s)
{
	struct iovec iov[BENCH_MAX_BATCH];
	uint64_t bucket, len = s->count * s->value_size;
	ssize_t n;
	uint32_t i;
	int fd, ret = 0;

	bucket = __atomic_fetch_add(&fb.next_bucket, 1, __ATOMIC_RELAXED);
	for (i = 0; i < s->count; i++) {
		iov[i].iov_base = s->objs[i].buf;
		iov[i].iov_len = s->value_size;
	}
	fd = create(bucket, "bucket");
	if (fd < 0)
		return -errno;
	n = pwritev(fd, iov, s->count, 0);
	if (n < 0)
		ret = -errno;
	else if ((uint64_t)n != len)
		ret = -EIO;		/* a short write of a regular file */
	else if (fdatasync(fd))
		ret = -errno;
	close(fd);
	if (!ret)
		ret = write_meta(bucket, s);
	if (ret)
		return ret;

	/* Durable: now readable. A key stored already is skipped. */
	pthread_rwlock_wrlock(&fb.lock);
	for (i = 0; i < s->count; i++) {
		struct bench_obj *o = &s->objs[i];
		struct loc *l;

		if (fb.nr_keys >= fb.map_size / 2) {
			ret = -ENOSPC;	/* the map would get slow, then full */
			break;
		}
		l = map_slot(o->key, o->key_len);
		if (l->key) {
			o->status = -EEXIST;
			continue;
		}
		l->key = malloc(o->key_len);
		if (!l->key) {
			ret = -ENOMEM;
			break;
		}
		memcpy(l->key, o->key, o->key_len);
		l->key_len = o->key_len;
		l->bucket = bucket;
		l->offset = i * s->value_size;
		l->len = s->value_size;
		fb.nr_keys++;
	}
	pthread_rwlock_unlock(&fb.lock);
	return ret;
}

/* Look every key up; *locs gets copies. */
static void lookup(struct bench_slot *s, struct loc *locs)
{
	uint32_t i;

	pthread_rwlock_rdlock(&fb.lock);
	for (i = 0; i < s->count; i++) {
		struct loc *l = map_slot(s->objs[i].key, s->objs[i].key_len);

		locs[i] = *l;
		if (!l->key)
			s->objs[i].status = -ENOENT;
	}
	pthread_rwlock_unlock(&fb.lock);
}

static int open_bucket(uint64_t bucket)
{
	char name[64];

	snprintf(name, sizeof(name), "%" PRIu64 ".bucket", bucket);
	return openat(fb.dir_fd, name, O_RDONLY | O_DIRECT);
}

static int load(struct bench_slot *s)
{
	struct loc locs[BENCH_MAX_BATCH];
	uint64_t open_bucket_id = 0;
	struct iovec iov;
	uint32_t i;
	ssize_t n;
	int fd = -1;

	lookup(s, locs);
	for (i = 0; i < s->count; i++) {
		struct bench_obj *o = &s->objs[i];

		if (o->status)
			continue;
		if (locs[i].len != s->value_size) {
			o->status = -EMSGSIZE;
			continue;
		}
		/* one open per bucket of the batch, as upstream's per call */
		if (fd < 0 || open_bucket_id != locs[i].bucket) {
			if (fd >= 0)
				close(fd);
			fd = open_bucket(locs[i].bucket);
			if (fd < 0) {
				o->status = -errno;
				continue;
			}
			open_bucket_id = locs[i].bucket;
		}
		iov.iov_base = o->buf;
		iov.iov_len = locs[i].len;
		n = preadv(fd, &iov, 1, locs[i].offset);
		if (n < 0)
			o->status = -errno;
		else if ((uint64_t)n != locs[i].len)
			o->status = -EIO;
	}
	if (fd >= 0)
		close(fd);
	return 0;
}

static int files_submit(struct bench_thread *t, struct bench_slot *s)
{
	struct loc locs[BENCH_MAX_BATCH];

	switch (s->op) {
	case BENCH_OFFLOAD:
		s->res = offload(s);
		break;
	case BENCH_LOAD:
		s->res = load(s);
		break;
	default:
		lookup(s, locs);
		s->res = 0;
		break;
	}
	t->priv = s;		/* what reap() returns */
	return 0;
}

static int files_reap(struct bench_thread *t, struct bench_slot **done)
{
	*done = t->priv;
	return 0;
}

static void files_report(FILE *json, FILE *human)
{
	if (json)
		fprintf(json, ",\"files\":{\"dir\":\"%s\",\"buckets\":%" PRIu64
			",\"nr_keys\":%" PRIu64 "}", fb.dir,
			fb.next_bucket - 1, fb.nr_keys);
	if (human)
		fprintf(human, "files in %s/kvb-files-bench: %" PRIu64
			" buckets (2 files each), %" PRIu64 " keys\n", fb.dir,
			fb.next_bucket - 1, fb.nr_keys);
}

static const struct bench_engine files_engine = {
	.name = "files",
	.help = "file-per-bucket (upstream design): pwritev + fdatasync, "
		"O_DIRECT preadv",
	.setup = files_setup,
	.thread_init = files_thread_init,
	.submit = files_submit,
	.reap = files_reap,
	.report = files_report,
	.teardown = files_teardown,
};

int main(int argc, char **argv)
{
	static const struct bench_engine *const engines[] = {
		&files_engine, NULL
	};

	return bench_main(argc, argv, "kvbucket-bench-files", engines);
}
