// SPDX-License-Identifier: GPL-2.0
/*
 * The control device /dev/kvbucket-control and the life cycle of a store
 * device: features, attach (format, re-attach, every errno of the path,
 * flags and limits), detach, list, info, permissions, unknown ioctls, the
 * device node, and calls on a store fd that outlives its store.
 */
#include <linux/capability.h>
#include <sys/sysmacros.h>

#include "kselftest_harness.h"
#include "kvb_test.h"

#define ALL_FEATURES (KVB_FEAT_REPLACE | KVB_FEAT_VOLATILE | KVB_FEAT_BUCKET_SCAN | \
		      KVB_FEAT_EVICTION | KVB_FEAT_URING_CMD)

FIXTURE(ctl) {
	int ctl;
	const char *disk[3];
};

FIXTURE_SETUP(ctl)
{
	int i;

	ASSERT_TRUE(module_loaded()) TH_LOG("kvbucket module not loaded");
	ASSERT_EQ(0, detach_all());
	for (i = 0; i < 3; i++) {
		self->disk[i] = kvb_disk(i);
		ASSERT_NE(NULL, self->disk[i]) TH_LOG("KVB_DISKS needs 3 disks");
	}
	self->ctl = ctl_open();
	ASSERT_LE(0, self->ctl) TH_LOG("open %s: %s", KVB_CONTROL_PATH,
				       strerror(errno));
}

FIXTURE_TEARDOWN(ctl)
{
	if (self->ctl >= 0)
		close(self->ctl);
	EXPECT_EQ(0, detach_all());
}

static void check_features(struct __test_metadata *_metadata,
			   const struct kvb_features *f)
{
	int i;

	EXPECT_EQ(sizeof(*f), f->size);
	EXPECT_EQ(KVB_ABI_VERSION, f->abi_version);
	EXPECT_EQ(ALL_FEATURES, f->features);
	EXPECT_EQ(KVB_MAX_KEY_LEN, f->max_key_len);
	EXPECT_EQ(KVB_MAX_SLICES, f->max_slices);
	EXPECT_EQ(KVB_MAX_BATCH, f->max_batch);
	EXPECT_EQ(KVB_MAX_KEYS_PER_BUCKET, f->max_keys_per_bucket);
	EXPECT_EQ(KVB_MAX_BUCKET_BYTES, f->max_bucket_bytes);
	for (i = 0; i < 4; i++)
		EXPECT_EQ(0, f->reserved[i]) TH_LOG("reserved[%d]", i);
}

TEST_F(ctl, get_features)
{
	struct kvb_features f;
	uint32_t id;
	int fd;

	/* everything but size is written: garbage in must not come back */
	memset(&f, 0xa5, sizeof(f));
	f.size = sizeof(f);
	ASSERT_EQ(0, kvb_ioctl(self->ctl, KVB_IOC_GET_FEATURES, &f));
	check_features(_metadata, &f);

	/* the library returns the same */
	memset(&f, 0xa5, sizeof(f));
	ASSERT_EQ(0, kvb_get_features(&f));
	check_features(_metadata, &f);

	/* and so does a store device */
	ASSERT_EQ(0, ctl_attach(self->ctl, self->disk[2], KVB_ATTACH_FORMAT,
				0, 0, 0, &id));
	fd = store_open(id);
	ASSERT_LE(0, fd);
	memset(&f, 0x5a, sizeof(f));
	f.size = sizeof(f);
	EXPECT_EQ(0, kvb_ioctl(fd, KVB_IOC_GET_FEATURES, &f));
	check_features(_metadata, &f);
	close(fd);

	/* wrong size */
	memset(&f, 0, sizeof(f));
	f.size = sizeof(f) - 8;
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->ctl, KVB_IOC_GET_FEATURES, &f));
	f.size = sizeof(f) + 8;
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->ctl, KVB_IOC_GET_FEATURES, &f));
	f.size = 0;
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->ctl, KVB_IOC_GET_FEATURES, &f));
	/* unreadable argument */
	EXPECT_EQ(-EFAULT, kvb_ioctl(self->ctl, KVB_IOC_GET_FEATURES,
				     unmapped_addr()));
}

/* Offload one key with a value derived from it; 0 or -errno. */
static int put_key(int fd, const char *key, size_t vlen, uint64_t *bucket)
{
	struct kvb_obj_desc d;
	struct kvb_slice s;
	struct kvb_batch b;
	void *v = malloc(vlen);
	int ret;

	if (!v)
		return -ENOMEM;
	fill_value(key_seed(key, strlen(key), 0), v, vlen);
	kvb_slice_init(&s, v, vlen);
	kvb_desc_init(&d, key, strlen(key), &s, 1);
	ret = st_batch(fd, KVB_IOC_OFFLOAD, &d, 1, 0, &b);
	if (!ret && d.status)
		ret = 1000 + d.status;	/* distinguishable from an errno */
	if (bucket)
		*bucket = b.bucket_id;
	free(v);
	return ret;
}

/* Load one key and verify it; 0, the key's status, or -errno. */
static int get_key(int fd, const char *key, size_t vlen)
{
	struct kvb_obj_desc d;
	struct kvb_slice s;
	void *v = malloc(vlen);
	int ret;

	if (!v)
		return -ENOMEM;
	memset(v, 0, vlen);
	kvb_slice_init(&s, v, vlen);
	kvb_desc_init(&d, key, strlen(key), &s, 1);
	ret = st_batch(fd, KVB_IOC_LOAD, &d, 1, 0, NULL);
	if (!ret)
		ret = d.status;
	if (!ret && (d.value_len != vlen ||
		     check_value(key_seed(key, strlen(key), 0), v, vlen) >= 0))
		ret = -EILSEQ;	/* wrong bytes */
	free(v);
	return ret;
}

TEST_F(ctl, attach_format_then_reattach_finds_data)
{
	struct kvb_store_info i1, i2, i3;
	uint64_t bucket;
	uint32_t id;
	int fd;

	ASSERT_EQ(0, ctl_attach(self->ctl, self->disk[1], KVB_ATTACH_FORMAT,
				0, 0, 0, &id));
	ASSERT_EQ(0, ctl_info(self->ctl, id, &i1));
	EXPECT_EQ(id, i1.id);
	EXPECT_TRUE(i1.flags & KVB_INFO_FORMATTED);
	EXPECT_EQ(0, i1.flags & KVB_INFO_VOLATILE);
	EXPECT_EQ(0, i1.nr_keys);
	EXPECT_EQ(0, i1.nr_buckets);
	EXPECT_EQ(1, i1.next_bucket_id);
	EXPECT_EQ(KVB_DEFAULT_CHUNK_SIZE, i1.chunk_size);
	EXPECT_EQ(KVB_DEFAULT_KEYS_PER_BUCKET, i1.max_keys_per_bucket);
	EXPECT_EQ(KVB_DEFAULT_BUCKET_BYTES, i1.max_bucket_bytes);

	fd = store_open(id);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, put_key(fd, "persist-me", 5000, &bucket));
	EXPECT_EQ(1, bucket);
	close(fd);
	ASSERT_EQ(0, ctl_detach(self->ctl, id));

	/* no format: the data is found */
	ASSERT_EQ(0, ctl_attach(self->ctl, self->disk[1], 0, 0, 0, 0, &id));
	ASSERT_EQ(0, ctl_info(self->ctl, id, &i2));
	EXPECT_EQ(0, i2.flags & KVB_INFO_FORMATTED);
	EXPECT_EQ(0, memcmp(i1.uuid, i2.uuid, sizeof(i1.uuid)));
	EXPECT_EQ(1, i2.nr_keys);
	EXPECT_EQ(1, i2.nr_buckets);
	EXPECT_EQ(5000, i2.value_bytes);
	EXPECT_LT(1, i2.next_bucket_id);
	fd = store_open(id);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, get_key(fd, "persist-me", 5000));
	close(fd);
	ASSERT_EQ(0, ctl_detach(self->ctl, id));

	/* format again: empty, new uuid */
	ASSERT_EQ(0, ctl_attach(self->ctl, self->disk[1], KVB_ATTACH_FORMAT,
				0, 0, 0, &id));
	ASSERT_EQ(0, ctl_info(self->ctl, id, &i3));
	EXPECT_NE(0, memcmp(i1.uuid, i3.uuid, sizeof(i1.uuid)));
	EXPECT_EQ(0, i3.nr_keys);
	EXPECT_EQ(1, i3.next_bucket_id);
	fd = store_open(id);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-ENOENT, get_key(fd, "persist-me", 5000));
	close(fd);
}

/* Zero the two superblock copies (and a bit more) with O_DIRECT. */
static int zero_head(const char *dev)
{
	size_t len = 1 << 20;
	void *buf;
	int fd, ret = 0;

	if (posix_memalign(&buf, 4096, len))
		return -ENOMEM;
	memset(buf, 0, len);
	fd = open(dev, O_WRONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
	} else {
		if (pwrite(fd, buf, len, 0) != (ssize_t)len || fsync(fd))
			ret = -errno;
		close(fd);
	}
	free(buf);
	return ret;
}

TEST_F(ctl, attach_unformatted_einval)
{
	struct kvb_store_info info;
	uint32_t id;

	ASSERT_EQ(0, zero_head(self->disk[2]));
	EXPECT_EQ(-EINVAL, ctl_attach(self->ctl, self->disk[2], 0, 0, 0, 0,
				      &id));
	/* nothing attached, and attach never formatted it by itself */
	EXPECT_EQ(0, ctl_list(self->ctl, NULL, 0));
	EXPECT_EQ(-EINVAL, ctl_attach(self->ctl, self->disk[2], 0, 0, 0, 0,
				      &id));
	/* the device is not left claimed */
	ASSERT_EQ(0, ctl_attach(self->ctl, self->disk[2], KVB_ATTACH_FORMAT,
				0, 0, 0, &id));
	ASSERT_EQ(0, ctl_info(self->ctl, id, &info));
	EXPECT_EQ(0, info.nr_keys);
}

TEST_F(ctl, attach_twice_ebusy)
{
	uint32_t id, id2 = 12345;
	int fd;

	ASSERT_EQ(0, ctl_attach(self->ctl, self->disk[2], KVB_ATTACH_FORMAT,
				0, 0, 0, &id));
	EXPECT_EQ(-EBUSY, ctl_attach(self->ctl, self->disk[2], 0, 0, 0, 0,
				     &id2));
	EXPECT_EQ(-EBUSY, ctl_attach(self->ctl, self->disk[2],
				     KVB_ATTACH_FORMAT, 0, 0, 0, &id2));
	EXPECT_EQ(1, ctl_list(self->ctl, NULL, 0));
	ASSERT_EQ(0, ctl_detach(self->ctl, id));

	/* a device someone else opened exclusively */
	fd = open(self->disk[2], O_RDONLY | O_EXCL | O_CLOEXEC);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EBUSY, ctl_attach(self->ctl, self->disk[2], 0, 0, 0, 0,
				     &id2));
	EXPECT_EQ(-EBUSY, ctl_attach(self->ctl, self->disk[2],
				     KVB_ATTACH_FORMAT, 0, 0, 0, &id2));
	close(fd);
	EXPECT_EQ(0, ctl_list(self->ctl, NULL, 0));
	/* and the format refused above did not happen: the store is there */
	ASSERT_EQ(0, ctl_attach(self->ctl, self->disk[2], 0, 0, 0, 0, &id));
}

TEST_F(ctl, attach_path_errors)
{
	char file[256], *longpath;
	const char *out = getenv("KVB_OUT");
	uint32_t id;
	int fd;

	EXPECT_EQ(-ENOTBLK, ctl_attach(self->ctl, "/dev/null",
				       KVB_ATTACH_FORMAT, 0, 0, 0, &id));
	EXPECT_EQ(-ENOTBLK, ctl_attach(self->ctl, "/dev/null", 0, 0, 0, 0,
				       &id));

	snprintf(file, sizeof(file), "%s/kvb-regular-file",
		 out ? out : "/tmp");
	fd = open(file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 64 << 20));
	close(fd);
	EXPECT_EQ(-ENOTBLK, ctl_attach(self->ctl, file, KVB_ATTACH_FORMAT,
				       0, 0, 0, &id));
	unlink(file);

	EXPECT_EQ(-ENOTBLK, ctl_attach(self->ctl, "/dev", KVB_ATTACH_FORMAT,
				       0, 0, 0, &id));
	EXPECT_EQ(-ENOENT, ctl_attach(self->ctl, "/dev/kvb-does-not-exist",
				      KVB_ATTACH_FORMAT, 0, 0, 0, &id));
	EXPECT_EQ(-EINVAL, ctl_attach(self->ctl, "", KVB_ATTACH_FORMAT, 0, 0,
				      0, &id));

	longpath = malloc(8192);
	ASSERT_NE(NULL, longpath);
	memset(longpath, 'a', 8191);
	longpath[0] = '/';
	longpath[8191] = 0;
	EXPECT_EQ(-ENAMETOOLONG, ctl_attach(self->ctl, longpath,
					    KVB_ATTACH_FORMAT, 0, 0, 0, &id));
	free(longpath);

	/* unreadable path */
	EXPECT_EQ(-EFAULT, ctl_attach(self->ctl, unmapped_addr(),
				      KVB_ATTACH_FORMAT, 0, 0, 0, &id));
	EXPECT_EQ(-EFAULT, ctl_attach(self->ctl, (const char *)8,
				      KVB_ATTACH_FORMAT, 0, 0, 0, &id));
	/* unreadable argument */
	EXPECT_EQ(-EFAULT, kvb_ioctl(self->ctl, KVB_IOC_ATTACH,
				     unmapped_addr()));

	EXPECT_EQ(0, ctl_list(self->ctl, NULL, 0));
}

TEST_F(ctl, attach_bad_flags_reserved_size)
{
	/* the lowest flag bit the ABI does not define */
	const unsigned int unknown = ~KVB_ATTACH_FLAGS & (KVB_ATTACH_FLAGS + 1);
	struct kvb_attach a;
	int i;

	attach_init(&a, self->disk[2], KVB_ATTACH_FORMAT | unknown);
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->ctl, KVB_IOC_ATTACH, &a));
	attach_init(&a, self->disk[2], 1U << 31);
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->ctl, KVB_IOC_ATTACH, &a));

	/* policy and watermarks: unknown values, and low >= high in force */
	attach_init(&a, self->disk[2], KVB_ATTACH_FORMAT);
	a.policy = KVB_POLICY_LFU + 1;
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->ctl, KVB_IOC_ATTACH, &a));
	attach_init(&a, self->disk[2], KVB_ATTACH_FORMAT);
	a.high_watermark = 101;
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->ctl, KVB_IOC_ATTACH, &a));
	attach_init(&a, self->disk[2], KVB_ATTACH_FORMAT);
	a.low_watermark = 100;
	a.high_watermark = 100;
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->ctl, KVB_IOC_ATTACH, &a));
	attach_init(&a, self->disk[2], KVB_ATTACH_FORMAT);
	a.high_watermark = KVB_DEFAULT_LOW_WATERMARK;	/* default low too */
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->ctl, KVB_IOC_ATTACH, &a));
	attach_init(&a, self->disk[2], KVB_ATTACH_FORMAT);
	a.low_watermark = 60;
	a.high_watermark = 50;
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->ctl, KVB_IOC_ATTACH, &a));
	for (i = 0; i < 3; i++) {
		attach_init(&a, self->disk[2], KVB_ATTACH_FORMAT);
		a.reserved[i] = 1ULL << 40;
		EXPECT_EQ(-EINVAL, kvb_ioctl(self->ctl, KVB_IOC_ATTACH, &a))
			TH_LOG("reserved[%d]", i);
	}

	attach_init(&a, self->disk[2], KVB_ATTACH_FORMAT);
	a.size = sizeof(a) - 8;
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->ctl, KVB_IOC_ATTACH, &a));
	a.size = sizeof(a) + 8;
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->ctl, KVB_IOC_ATTACH, &a));
	a.size = 0;
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->ctl, KVB_IOC_ATTACH, &a));

	/* none of this attached anything */
	EXPECT_EQ(0, ctl_list(self->ctl, NULL, 0));
}

TEST_F(ctl, attach_limits_range)
{
	struct kvb_store_info info;
	uint32_t id;

	EXPECT_EQ(-EINVAL, ctl_attach(self->ctl, self->disk[1],
				      KVB_ATTACH_FORMAT,
				      KVB_MAX_KEYS_PER_BUCKET + 1, 0, 0, &id));
	EXPECT_EQ(-EINVAL, ctl_attach(self->ctl, self->disk[1],
				      KVB_ATTACH_FORMAT, 0xffffffffU, 0, 0,
				      &id));
	EXPECT_EQ(-EINVAL, ctl_attach(self->ctl, self->disk[1],
				      KVB_ATTACH_FORMAT, 0,
				      KVB_MAX_BUCKET_BYTES + 1, 0, &id));
	EXPECT_EQ(-EINVAL, ctl_attach(self->ctl, self->disk[1],
				      KVB_ATTACH_FORMAT, 0, ~0ULL, 0, &id));
	/* chunk size: not a power of two, below the block size, too big */
	EXPECT_EQ(-EINVAL, ctl_attach(self->ctl, self->disk[1],
				      KVB_ATTACH_FORMAT, 0, 0, 3 * 4096, &id));
	EXPECT_EQ(-EINVAL, ctl_attach(self->ctl, self->disk[1],
				      KVB_ATTACH_FORMAT, 0, 0, 2048, &id));
	EXPECT_EQ(-EINVAL, ctl_attach(self->ctl, self->disk[1],
				      KVB_ATTACH_FORMAT, 0, 0, 128 << 20, &id));
	EXPECT_EQ(0, ctl_list(self->ctl, NULL, 0));

	/* the bounds themselves are accepted and reported */
	ASSERT_EQ(0, ctl_attach(self->ctl, self->disk[1], KVB_ATTACH_FORMAT,
				KVB_MAX_KEYS_PER_BUCKET, KVB_MAX_BUCKET_BYTES,
				4096, &id));
	ASSERT_EQ(0, ctl_info(self->ctl, id, &info));
	EXPECT_EQ(KVB_MAX_KEYS_PER_BUCKET, info.max_keys_per_bucket);
	EXPECT_EQ(KVB_MAX_BUCKET_BYTES, info.max_bucket_bytes);
	EXPECT_EQ(4096, info.chunk_size);
	ASSERT_EQ(0, ctl_detach(self->ctl, id));

	ASSERT_EQ(0, ctl_attach(self->ctl, self->disk[1], KVB_ATTACH_FORMAT,
				1, 1, 64 << 20, &id));
	ASSERT_EQ(0, ctl_info(self->ctl, id, &info));
	EXPECT_EQ(1, info.max_keys_per_bucket);
	EXPECT_EQ(1, info.max_bucket_bytes);
	EXPECT_EQ(64 << 20, info.chunk_size);
	ASSERT_EQ(0, ctl_detach(self->ctl, id));

	/* 0 keeps what the store was formatted with; non-zero overrides */
	ASSERT_EQ(0, ctl_attach(self->ctl, self->disk[1], 0, 0, 0, 0, &id));
	ASSERT_EQ(0, ctl_info(self->ctl, id, &info));
	EXPECT_EQ(1, info.max_keys_per_bucket);
	EXPECT_EQ(1, info.max_bucket_bytes);
	EXPECT_EQ(64 << 20, info.chunk_size);
	ASSERT_EQ(0, ctl_detach(self->ctl, id));
	ASSERT_EQ(0, ctl_attach(self->ctl, self->disk[1], 0, 7, 12345, 0, &id));
	ASSERT_EQ(0, ctl_info(self->ctl, id, &info));
	EXPECT_EQ(7, info.max_keys_per_bucket);
	EXPECT_EQ(12345, info.max_bucket_bytes);
	ASSERT_EQ(0, ctl_detach(self->ctl, id));

	/* attach limits out of range on an existing store, too */
	EXPECT_EQ(-EINVAL, ctl_attach(self->ctl, self->disk[1], 0,
				      KVB_MAX_KEYS_PER_BUCKET + 1, 0, 0, &id));
	EXPECT_EQ(-EINVAL, ctl_attach(self->ctl, self->disk[1], 0, 0,
				      KVB_MAX_BUCKET_BYTES + 1, 0, &id));
	EXPECT_EQ(0, ctl_list(self->ctl, NULL, 0));
}

TEST_F(ctl, chunk_size_without_format_einval)
{
	uint32_t id;

	ASSERT_EQ(0, ctl_attach(self->ctl, self->disk[2], KVB_ATTACH_FORMAT,
				0, 0, 0, &id));
	ASSERT_EQ(0, ctl_detach(self->ctl, id));
	/* a valid store, a valid chunk size, but no FORMAT */
	EXPECT_EQ(-EINVAL, ctl_attach(self->ctl, self->disk[2], 0, 0, 0,
				      1 << 20, &id));
	EXPECT_EQ(0, ctl_list(self->ctl, NULL, 0));
	EXPECT_EQ(0, ctl_attach(self->ctl, self->disk[2], 0, 0, 0, 0, &id));
}

TEST_F(ctl, attach_device_too_small_enospc)
{
	uint32_t id;

	/* 256 MiB with 64 MiB chunks: data starts at 64 MiB, 3 chunks < 4 */
	EXPECT_EQ(-ENOSPC, ctl_attach(self->ctl, self->disk[2],
				      KVB_ATTACH_FORMAT, 0, 0, 64 << 20, &id));
	EXPECT_EQ(0, ctl_list(self->ctl, NULL, 0));
}

TEST_F(ctl, detach_errors)
{
	struct kvb_detach d;
	uint32_t id;
	int i;

	EXPECT_EQ(-ENOENT, ctl_detach(self->ctl, 0));
	EXPECT_EQ(-ENOENT, ctl_detach(self->ctl, 4242));
	EXPECT_EQ(-ENOENT, ctl_detach(self->ctl, 0xffffffffU));

	ASSERT_EQ(0, ctl_attach(self->ctl, self->disk[2], KVB_ATTACH_FORMAT,
				0, 0, 0, &id));
	EXPECT_EQ(-ENOENT, ctl_detach(self->ctl, id + 1));

	memset(&d, 0, sizeof(d));
	d.size = sizeof(d);
	d.id = id;
	d.flags = 1;
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->ctl, KVB_IOC_DETACH, &d));
	d.flags = 0;
	d.reserved0 = 1;
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->ctl, KVB_IOC_DETACH, &d));
	d.reserved0 = 0;
	for (i = 0; i < 2; i++) {
		d.reserved[i] = 1;
		EXPECT_EQ(-EINVAL, kvb_ioctl(self->ctl, KVB_IOC_DETACH, &d));
		d.reserved[i] = 0;
	}
	d.size = sizeof(d) + 8;
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->ctl, KVB_IOC_DETACH, &d));
	d.size = sizeof(d);
	EXPECT_EQ(-EFAULT, kvb_ioctl(self->ctl, KVB_IOC_DETACH,
				     unmapped_addr()));
	/* still attached after all that */
	EXPECT_EQ(1, ctl_list(self->ctl, NULL, 0));

	EXPECT_EQ(0, ctl_detach(self->ctl, id));
	EXPECT_EQ(-ENOENT, ctl_detach(self->ctl, id));
	EXPECT_EQ(0, ctl_list(self->ctl, NULL, 0));
}

TEST_F(ctl, list_and_info)
{
	struct kvb_store_info info, sinfo;
	uint32_t ids[3], got[8];
	struct kvb_list l;
	struct stat stb;
	char node[64];
	int i, j, fd;

	ASSERT_EQ(0, ctl_list(self->ctl, NULL, 0));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, ctl_attach(self->ctl, self->disk[i],
					KVB_ATTACH_FORMAT |
					(i == 1 ? KVB_ATTACH_VOLATILE : 0),
					0, 0, 0, &ids[i]));
	/* ids are distinct */
	EXPECT_NE(ids[0], ids[1]);
	EXPECT_NE(ids[0], ids[2]);
	EXPECT_NE(ids[1], ids[2]);

	/* count only */
	EXPECT_EQ(3, ctl_list(self->ctl, NULL, 0));
	/* a short array: 2 written, the rest untouched, count still 3 */
	memset(got, 0xee, sizeof(got));
	EXPECT_EQ(3, ctl_list(self->ctl, got, 2));
	EXPECT_EQ(0xeeeeeeeeU, got[2]);
	EXPECT_LT(got[0], got[1]);
	/* all of them, increasing, and the same set as attach returned */
	memset(got, 0xee, sizeof(got));
	ASSERT_EQ(3, ctl_list(self->ctl, got, 8));
	EXPECT_LT(got[0], got[1]);
	EXPECT_LT(got[1], got[2]);
	EXPECT_EQ(0xeeeeeeeeU, got[3]);
	for (i = 0; i < 3; i++) {
		int found = 0;

		for (j = 0; j < 3; j++)
			found += got[j] == ids[i];
		EXPECT_EQ(1, found) TH_LOG("id %u", ids[i]);
	}
	/* the library agrees */
	memset(got, 0, sizeof(got));
	EXPECT_EQ(3, kvb_list(got, 8));
	for (i = 0; i < 3; i++) {
		uint32_t fid = 9999;

		EXPECT_EQ(0, kvb_find(self->disk[i], &fid));
		EXPECT_EQ(ids[i], fid);
	}

	/* list: reserved, size, unwritable ids */
	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	l.reserved0 = 1;
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->ctl, KVB_IOC_LIST, &l));
	l.reserved0 = 0;
	l.reserved[1] = 1;
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->ctl, KVB_IOC_LIST, &l));
	l.reserved[1] = 0;
	l.size = sizeof(l) - 8;
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->ctl, KVB_IOC_LIST, &l));
	l.size = sizeof(l);
	l.capacity = 8;
	l.ids = (uint64_t)(uintptr_t)unmapped_addr();
	EXPECT_EQ(-EFAULT, kvb_ioctl(self->ctl, KVB_IOC_LIST, &l));

	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, ctl_info(self->ctl, ids[i], &info));
		EXPECT_EQ(sizeof(info), info.size);
		EXPECT_EQ(ids[i], info.id);
		EXPECT_STREQ(self->disk[i], info.path);
		ASSERT_EQ(0, stat(self->disk[i], &stb));
		EXPECT_EQ(major(stb.st_rdev), info.dev_major);
		EXPECT_EQ(minor(stb.st_rdev), info.dev_minor);
		EXPECT_EQ(i == 1, !!(info.flags & KVB_INFO_VOLATILE));
		EXPECT_TRUE(info.flags & KVB_INFO_FORMATTED);
		EXPECT_EQ(0, info.block_size % 4096);
		EXPECT_LE(4096, info.block_size);
		EXPECT_EQ(0, info.nr_keys);
		EXPECT_EQ(0, info.nr_buckets);
		EXPECT_EQ(0, info.used_bytes);
		EXPECT_EQ(info.capacity_bytes, info.free_bytes);
		EXPECT_EQ(0, info.capacity_bytes % info.chunk_size);
		EXPECT_EQ(KVB_POLICY_FIFO, info.policy);
		EXPECT_EQ(KVB_DEFAULT_HIGH_WATERMARK, info.high_watermark);
		EXPECT_EQ(KVB_DEFAULT_LOW_WATERMARK, info.low_watermark);
		EXPECT_EQ(0, info.reserved0);
		EXPECT_EQ(0, info.nr_evicted);
		EXPECT_EQ(0, info.evicted_keys);
		EXPECT_EQ(0, info.reclaimed_bytes);
		EXPECT_EQ(0, info.space_waits);
		EXPECT_EQ(0, info.events_lost);
		/* an empty index still has its hash table */
		EXPECT_LT(0, info.index_bytes);

		/* INFO on the control device == STORE_INFO on the store */
		fd = store_open(ids[i]);
		ASSERT_LE(0, fd);
		memset(&sinfo, 0xa5, sizeof(sinfo));
		sinfo.size = sizeof(sinfo);
		ASSERT_EQ(0, kvb_ioctl(fd, KVB_IOC_STORE_INFO, &sinfo));
		close(fd);
		EXPECT_EQ(ids[i], sinfo.id);
		/* attach_ns and friends are equal too: nothing happened */
		EXPECT_EQ(0, memcmp(&info, &sinfo, sizeof(info)));
	}
	/* capacities follow the disk sizes: 2 GiB > 1 GiB > 256 MiB */
	{
		struct kvb_store_info a, b, c;

		ASSERT_EQ(0, ctl_info(self->ctl, ids[0], &a));
		ASSERT_EQ(0, ctl_info(self->ctl, ids[1], &b));
		ASSERT_EQ(0, ctl_info(self->ctl, ids[2], &c));
		EXPECT_GT(a.capacity_bytes, b.capacity_bytes);
		EXPECT_GT(b.capacity_bytes, c.capacity_bytes);
		EXPECT_GE(c.capacity_bytes, 200 * KVB_MIB);
		EXPECT_LE(c.capacity_bytes, 256 * KVB_MIB);
	}

	EXPECT_EQ(-ENOENT, ctl_info(self->ctl, ids[0] + ids[1] + ids[2] + 1,
				    &info));
	memset(&info, 0, sizeof(info));
	info.size = sizeof(info) - 8;
	info.id = ids[0];
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->ctl, KVB_IOC_INFO, &info));

	/* detach the middle one: list shrinks, its node goes away */
	ASSERT_EQ(0, ctl_detach(self->ctl, ids[1]));
	memset(got, 0xee, sizeof(got));
	ASSERT_EQ(2, ctl_list(self->ctl, got, 8));
	EXPECT_EQ(ids[0] < ids[2] ? ids[0] : ids[2], got[0]);
	EXPECT_EQ(ids[0] < ids[2] ? ids[2] : ids[0], got[1]);
	EXPECT_EQ(-ENOENT, ctl_info(self->ctl, ids[1], &info));
	store_path(ids[1], node, sizeof(node));
	EXPECT_EQ(-1, stat(node, &stb));
	EXPECT_EQ(ENOENT, errno);
}

/* Drop CAP_SYS_ADMIN from the effective set of this process. */
static int drop_sys_admin(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	data[CAP_SYS_ADMIN / 32].effective &= ~(1U << (CAP_SYS_ADMIN % 32));
	if (syscall(SYS_capset, &hdr, data))
		return -errno;
	return 0;
}

TEST_F(ctl, attach_detach_need_cap_sys_admin)
{
	uint32_t id;
	pid_t pid;
	int status;

	ASSERT_EQ(0, ctl_attach(self->ctl, self->disk[2], KVB_ATTACH_FORMAT,
				0, 0, 0, &id));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct kvb_features f = { .size = sizeof(f) };
		struct kvb_store_info info;
		uint32_t nid;
		int code = 0;

		if (drop_sys_admin())
			_exit(10);
		/* the control fd opened with the capability: still checked */
		if (ctl_attach(self->ctl, self->disk[1], KVB_ATTACH_FORMAT, 0, 0,
			       0, &nid) != -EPERM)
			code |= 1;
		if (ctl_attach(self->ctl, self->disk[2], 0, 0, 0, 0, &nid) !=
		    -EPERM)
			code |= 2;
		if (ctl_detach(self->ctl, id) != -EPERM)
			code |= 4;
		/* reading does not need it */
		if (ctl_list(self->ctl, NULL, 0) != 1)
			code |= 8;
		if (ctl_info(self->ctl, id, &info) || info.id != id)
			code |= 16;
		if (kvb_ioctl(self->ctl, KVB_IOC_GET_FEATURES, &f))
			code |= 32;
		/* the library returns the same */
		if (kvb_detach(id) != -EPERM)
			code |= 64;
		_exit(code);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("bits: 10 capset failed, 1/2 attach, 4 detach not EPERM, 8 list, 16 info, 32 features, 64 kvb_detach");
	/* the store is still attached */
	EXPECT_EQ(1, ctl_list(self->ctl, NULL, 0));
	EXPECT_EQ(0, ctl_detach(self->ctl, id));
}

TEST_F(ctl, unknown_ioctl_enotty)
{
	struct kvb_batch b;
	char buf[256];
	uint32_t id;
	int fd;

	memset(buf, 0, sizeof(buf));
	EXPECT_EQ(-ENOTTY, kvb_ioctl(self->ctl, _IO(KVB_IOC_MAGIC, 0x7f), buf));
	EXPECT_EQ(-ENOTTY, kvb_ioctl(self->ctl, _IOWR(KVB_IOC_MAGIC, 0x05,
						      struct kvb_list), buf));
	EXPECT_EQ(-ENOTTY, kvb_ioctl(self->ctl, _IOWR('x', 0x01,
						      struct kvb_attach), buf));
	/* store ioctls are not control ioctls */
	batch_init(&b, NULL, 1, 0);
	EXPECT_EQ(-ENOTTY, kvb_ioctl(self->ctl, KVB_IOC_OFFLOAD, &b));
	EXPECT_EQ(-ENOTTY, kvb_ioctl(self->ctl, KVB_IOC_STORE_INFO, buf));
	/* a known number with another size is another ioctl */
	EXPECT_EQ(-ENOTTY, kvb_ioctl(self->ctl, _IOWR(KVB_IOC_MAGIC, 0x03,
						      char[16]), buf));

	ASSERT_EQ(0, ctl_attach(self->ctl, self->disk[2], KVB_ATTACH_FORMAT,
				0, 0, 0, &id));
	fd = store_open(id);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-ENOTTY, kvb_ioctl(fd, _IO(KVB_IOC_MAGIC, 0x7f), buf));
	EXPECT_EQ(-ENOTTY, kvb_ioctl(fd, _IOWR(KVB_IOC_MAGIC, 0x18,
					       struct kvb_batch), buf));
	EXPECT_EQ(-ENOTTY, kvb_ioctl(fd, _IOWR('x', 0x10, struct kvb_batch),
				     buf));
	EXPECT_EQ(-ENOTTY, kvb_ioctl(fd, _IOWR(KVB_IOC_MAGIC, 0x10, char[16]),
				     buf));
	/* control ioctls are not store ioctls */
	EXPECT_EQ(-ENOTTY, kvb_ioctl(fd, KVB_IOC_ATTACH, buf));
	EXPECT_EQ(-ENOTTY, kvb_ioctl(fd, KVB_IOC_DETACH, buf));
	EXPECT_EQ(-ENOTTY, kvb_ioctl(fd, KVB_IOC_LIST, buf));
	EXPECT_EQ(-ENOTTY, kvb_ioctl(fd, KVB_IOC_INFO, buf));
	close(fd);
	EXPECT_EQ(1, ctl_list(self->ctl, NULL, 0));
}

TEST_F(ctl, device_node_modes)
{
	struct stat stb;
	char node[64];
	uint32_t id;

	ASSERT_EQ(0, stat(KVB_CONTROL_PATH, &stb));
	EXPECT_TRUE(S_ISCHR(stb.st_mode));
	EXPECT_EQ(0600, stb.st_mode & 07777);

	ASSERT_EQ(0, ctl_attach(self->ctl, self->disk[2], KVB_ATTACH_FORMAT,
				0, 0, 0, &id));
	store_path(id, node, sizeof(node));
	ASSERT_EQ(0, stat(node, &stb)) TH_LOG("%s: %s", node, strerror(errno));
	EXPECT_TRUE(S_ISCHR(stb.st_mode));
	EXPECT_EQ(0600, stb.st_mode & 07777);
	EXPECT_EQ(0, stb.st_uid);

	ASSERT_EQ(0, ctl_detach(self->ctl, id));
	EXPECT_EQ(-1, stat(node, &stb));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(ctl, store_fd_after_detach_enodev)
{
	struct kvb_store_info info;
	struct kvb_features f;
	struct kvb_obj_desc d;
	struct kvb_slice s;
	struct kvb_bucket_keys bk;
	struct kvb_bucket_scan sc;
	char val[100], buf[4096];
	uint64_t bucket;
	uint32_t id, id2;
	int fd, fd2;

	ASSERT_EQ(0, ctl_attach(self->ctl, self->disk[2], KVB_ATTACH_FORMAT,
				0, 0, 0, &id));
	fd = store_open(id);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, put_key(fd, "k", sizeof(val), &bucket));
	ASSERT_EQ(0, ctl_detach(self->ctl, id));

	EXPECT_EQ(-ENODEV, st_info(fd, &info));
	memset(&f, 0, sizeof(f));
	f.size = sizeof(f);
	EXPECT_EQ(-ENODEV, kvb_ioctl(fd, KVB_IOC_GET_FEATURES, &f));
	kvb_slice_init(&s, val, sizeof(val));
	kvb_desc_init(&d, "k", 1, &s, 1);
	EXPECT_EQ(-ENODEV, st_batch(fd, KVB_IOC_LOAD, &d, 1, 0, NULL));
	kvb_desc_init(&d, "new", 3, &s, 1);
	EXPECT_EQ(-ENODEV, st_batch(fd, KVB_IOC_OFFLOAD, &d, 1, 0, NULL));
	kvb_desc_init(&d, "k", 1, NULL, 0);
	EXPECT_EQ(-ENODEV, st_batch(fd, KVB_IOC_QUERY, &d, 1, 0, NULL));
	EXPECT_EQ(-ENODEV, st_batch(fd, KVB_IOC_REMOVE, &d, 1, 0, NULL));
	EXPECT_EQ(-ENODEV, st_delete(fd, bucket, NULL));
	memset(&bk, 0, sizeof(bk));
	bk.size = sizeof(bk);
	bk.bucket_id = bucket;
	bk.buf = (uint64_t)(uintptr_t)buf;
	bk.buf_len = sizeof(buf);
	EXPECT_EQ(-ENODEV, kvb_ioctl(fd, KVB_IOC_BUCKET_KEYS, &bk));
	memset(&sc, 0, sizeof(sc));
	sc.size = sizeof(sc);
	sc.max_buckets = 1;
	sc.buf = (uint64_t)(uintptr_t)buf;
	sc.buf_len = sizeof(buf);
	EXPECT_EQ(-ENODEV, kvb_ioctl(fd, KVB_IOC_BUCKET_SCAN, &sc));
	/* rule 1 comes before rule 2 */
	EXPECT_EQ(-ENOTTY, kvb_ioctl(fd, _IO(KVB_IOC_MAGIC, 0x7f), buf));

	/* a new store on the same device (maybe the same id) is another one */
	ASSERT_EQ(0, ctl_attach(self->ctl, self->disk[2], 0, 0, 0, 0, &id2));
	EXPECT_EQ(-ENODEV, st_info(fd, &info));
	kvb_slice_init(&s, val, sizeof(val));
	kvb_desc_init(&d, "k", 1, &s, 1);
	EXPECT_EQ(-ENODEV, st_batch(fd, KVB_IOC_LOAD, &d, 1, 0, NULL));
	fd2 = store_open(id2);
	ASSERT_LE(0, fd2);
	EXPECT_EQ(0, get_key(fd2, "k", sizeof(val)));
	close(fd2);
	close(fd);
}

TEST_HARNESS_MAIN
