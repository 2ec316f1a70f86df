// SPDX-License-Identifier: GPL-2.0
/*
 * OFFLOAD, QUERY and LOAD on a store device: round trips of every size and
 * shape of key and value, skip and REPLACE semantics, batch atomicity, the
 * limits, and every EINVAL / EFAULT / E2BIG of a batch (each of which must
 * leave the store unchanged).
 */
#include "kselftest_harness.h"
#include "kvb_test.h"

FIXTURE(st) {
	int ctl;
	int fd;
	uint32_t id;
	const char *disk;
	struct kvb_store_info info;	/* right after attach */
};

static int st_attach(FIXTURE_DATA(st) *self, uint32_t flags,
		     uint32_t max_keys, uint64_t max_bytes)
{
	return store_attach_open(self->ctl, self->disk, flags, max_keys,
				 max_bytes, 0, &self->id, &self->fd,
				 &self->info);
}

FIXTURE_SETUP(st)
{
	self->fd = -1;
	ASSERT_TRUE(module_loaded()) TH_LOG("kvbucket module not loaded");
	ASSERT_EQ(0, detach_all());
	self->disk = kvb_disk(0);
	ASSERT_NE(NULL, self->disk) TH_LOG("KVB_DISKS not set");
	self->ctl = ctl_open();
	ASSERT_LE(0, self->ctl);
	/* big enough for the 64 MiB value */
	ASSERT_EQ(0, st_attach(self, KVB_ATTACH_FORMAT, 0, 128 * KVB_MIB));
	ASSERT_EQ(128 * KVB_MIB, self->info.max_bucket_bytes);
}

FIXTURE_TEARDOWN(st)
{
	if (self->fd >= 0)
		close(self->fd);
	if (self->ctl >= 0)
		close(self->ctl);
	EXPECT_EQ(0, detach_all());
}

#define TK(s, vlen) { (s), sizeof(s) - 1, (vlen), 0 }

TEST_F(st, single_key)
{
	struct tkey k = TK("hello", 1000);
	struct kvb_obj_desc d, q;
	struct kvb_store_info info;
	struct kvb_batch b;

	memset(&d, 0xff, sizeof(d));
	ASSERT_EQ(0, put_batch(self->fd, &k, 1, 0, &d, &b));
	EXPECT_EQ(1, b.nr_done);
	EXPECT_EQ(1, b.bucket_id);	/* a fresh store starts at 1 */
	EXPECT_EQ(0, d.status);
	EXPECT_EQ(b.bucket_id, d.bucket_id);
	EXPECT_EQ(1000, d.value_len);
	EXPECT_EQ(0, d.offset % self->info.block_size);
	EXPECT_LE(self->info.chunk_size, d.offset);

	ASSERT_EQ(0, query_one(self->fd, "hello", 5, &q));
	EXPECT_EQ(0, q.status);
	EXPECT_EQ(d.bucket_id, q.bucket_id);
	EXPECT_EQ(1000, q.value_len);
	EXPECT_EQ(d.offset, q.offset);

	EXPECT_EQ(0, get_one(self->fd, &k));
	ASSERT_EQ(0, st_info(self->fd, &info));
	EXPECT_EQ(1, info.nr_keys);
	EXPECT_EQ(1, info.nr_buckets);
	EXPECT_EQ(1000, info.value_bytes);
	EXPECT_EQ(info.capacity_bytes, info.used_bytes + info.free_bytes);
	EXPECT_EQ(2, info.next_bucket_id);
	/* the key is compared in full: neither a prefix nor an extension */
	EXPECT_EQ(-ENOENT, query_status(self->fd, "hell", 4));
	EXPECT_EQ(-ENOENT, query_status(self->fd, "hello!", 6));
	EXPECT_EQ(-ENOENT, query_status(self->fd, "HELLO", 5));
}

TEST_F(st, multi_slice_unequal_unaligned)
{
	static const size_t wlen[] = { 1, 5003, 777, 65536 + 13 };
	static const size_t rlen[] = { 2000, 1, 3004, 4096, 62229 };
	const char *key = "multi/slice";
	size_t total = 0, off, i;
	struct kvb_slice ws[4], rs[5], one;
	struct kvb_obj_desc d;
	unsigned char *wbuf, *rbuf, *flat;
	uint64_t seed = key_seed(key, strlen(key), 0);

	for (i = 0; i < ARRAY_LEN(wlen); i++)
		total += wlen[i];
	for (off = 0, i = 0; i < ARRAY_LEN(rlen); i++)
		off += rlen[i];
	ASSERT_EQ(total, off);

	flat = malloc(total);
	wbuf = malloc(total + 64 * ARRAY_LEN(wlen));
	rbuf = malloc(total + 64 * ARRAY_LEN(rlen));
	ASSERT_TRUE(flat && wbuf && rbuf);
	fill_value(seed, flat, total);

	/* odd addresses, gaps between slices, out of memory order */
	for (off = 0, i = 0; i < ARRAY_LEN(wlen); i++) {
		size_t at = total + 64 * ARRAY_LEN(wlen) - (off + wlen[i]) -
			    (2 * i + 1) * 3;

		memcpy(wbuf + at, flat + off, wlen[i]);
		kvb_slice_init(&ws[i], wbuf + at, wlen[i]);
		off += wlen[i];
	}
	kvb_desc_init(&d, key, strlen(key), ws, ARRAY_LEN(ws));
	ASSERT_EQ(0, st_batch(self->fd, KVB_IOC_OFFLOAD, &d, 1, 0, NULL));
	ASSERT_EQ(0, d.status);
	EXPECT_EQ(total, d.value_len);

	/* read back through a different slicing */
	memset(rbuf, 0, total + 64 * ARRAY_LEN(rlen));
	for (off = 0, i = 0; i < ARRAY_LEN(rlen); i++) {
		kvb_slice_init(&rs[i], rbuf + off + 7 * i + 1, rlen[i]);
		off += rlen[i];
	}
	kvb_desc_init(&d, key, strlen(key), rs, ARRAY_LEN(rs));
	ASSERT_EQ(0, st_batch(self->fd, KVB_IOC_LOAD, &d, 1, 0, NULL));
	ASSERT_EQ(0, d.status);
	EXPECT_EQ(total, d.value_len);
	for (off = 0, i = 0; i < ARRAY_LEN(rlen); i++) {
		EXPECT_EQ(0, memcmp((void *)(uintptr_t)rs[i].addr, flat + off,
				    rlen[i])) TH_LOG("read slice %zu", i);
		off += rlen[i];
	}
	/* the gaps between the read slices were not written */
	for (i = 1; i < ARRAY_LEN(rlen); i++)
		EXPECT_EQ(0, rbuf[rs[i].addr - (uintptr_t)rbuf - 1]);

	/* and through one slice at an odd address */
	memset(rbuf, 0, total + 1);
	kvb_slice_init(&one, rbuf + 1, total);
	kvb_desc_init(&d, key, strlen(key), &one, 1);
	ASSERT_EQ(0, st_batch(self->fd, KVB_IOC_LOAD, &d, 1, 0, NULL));
	ASSERT_EQ(0, d.status);
	EXPECT_EQ(-1, check_value(seed, rbuf + 1, total));
	free(flat);
	free(wbuf);
	free(rbuf);
}

/* Offload one value of len bytes, query it, load it back byte-exact. */
static void roundtrip(struct __test_metadata *_metadata,
		      FIXTURE_DATA(st) *self, size_t len)
{
	char key[32];
	struct tkey k;
	struct kvb_obj_desc d;
	struct kvb_store_info info;

	snprintf(key, sizeof(key), "value-of-%zu-bytes", len);
	k = (struct tkey){ key, strlen(key), len, 0 };
	ASSERT_EQ(0, put_batch(self->fd, &k, 1, 0, &d, NULL));
	ASSERT_EQ(0, d.status);
	EXPECT_EQ(len, d.value_len);
	ASSERT_EQ(0, query_one(self->fd, key, strlen(key), &d));
	EXPECT_EQ(0, d.status);
	EXPECT_EQ(len, d.value_len);
	EXPECT_EQ(0, get_one(self->fd, &k));
	ASSERT_EQ(0, st_info(self->fd, &info));
	EXPECT_EQ(len, info.value_bytes);
	/* a bucket takes whole chunks, enough for the value */
	EXPECT_EQ(0, info.used_bytes % info.chunk_size);
	EXPECT_LT(len, info.used_bytes);
}

TEST_F(st, value_1_byte)	{ roundtrip(_metadata, self, 1); }
TEST_F(st, value_4095_bytes)	{ roundtrip(_metadata, self, 4095); }
TEST_F(st, value_4096_bytes)	{ roundtrip(_metadata, self, 4096); }
TEST_F(st, value_4097_bytes)	{ roundtrip(_metadata, self, 4097); }
TEST_F(st, value_1_mib)		{ roundtrip(_metadata, self, KVB_MIB); }
TEST_F_TIMEOUT(st, value_64_mib, 300) { roundtrip(_metadata, self, 64 * KVB_MIB); }

TEST_F(st, keys_1_byte_and_1024_binary)
{
	unsigned char k1024a[1024], k1024b[1024], knul[3] = { 0, 0, 0 };
	unsigned char one = 0, k1 = 'x';
	struct tkey k[6];
	int status[6], i;
	struct kvb_obj_desc d[6];
	struct kvb_batch b;

	for (i = 0; i < 1024; i++)
		k1024a[i] = (unsigned char)(i * 37);	/* includes NULs */
	memcpy(k1024b, k1024a, sizeof(k1024b));
	k1024b[1023] ^= 1;	/* differs in the last byte only */

	k[0] = (struct tkey){ &k1, 1, 100, 0 };
	k[1] = (struct tkey){ &one, 1, 200, 0 };	/* the key "\0" */
	k[2] = (struct tkey){ knul, 3, 300, 0 };	/* "\0\0\0" */
	k[3] = (struct tkey){ k1024a, 1024, 5000, 0 };
	k[4] = (struct tkey){ k1024b, 1024, 6000, 0 };
	k[5] = (struct tkey){ knul, 2, 400, 0 };	/* "\0\0" */
	ASSERT_EQ(0, put_batch(self->fd, k, 6, 0, d, &b));
	EXPECT_EQ(6, b.nr_done);
	for (i = 0; i < 6; i++)
		EXPECT_EQ(0, d[i].status) TH_LOG("key %d", i);
	ASSERT_EQ(0, get_batch(self->fd, k, 6, status));
	for (i = 0; i < 6; i++) {
		EXPECT_EQ(0, status[i]) TH_LOG("key %d", i);
		EXPECT_EQ(0, get_one(self->fd, &k[i])) TH_LOG("key %d", i);
	}
	/* a 1024-byte key that differs only in byte 0, and prefixes */
	k1024a[0] ^= 0x80;
	EXPECT_EQ(-ENOENT, query_status(self->fd, k1024a, 1024));
	k1024a[0] ^= 0x80;
	EXPECT_EQ(-ENOENT, query_status(self->fd, k1024a, 1023));
	/* "\0" and "\0\0" are stored, "\0\0\0\0" is not */
	EXPECT_EQ(0, query_status(self->fd, knul, 1));
	EXPECT_EQ(0, query_status(self->fd, knul, 2));
	EXPECT_EQ(-ENOENT, query_status(self->fd, "\0\0\0\0", 4));
}

TEST_F(st, keys_that_are_prefixes_of_each_other)
{
	char base[300];
	struct tkey k[5];
	int status[5], i;
	size_t lens[5] = { 1, 2, 64, 65, 300 };

	for (i = 0; i < 300; i++)
		base[i] = (char)('a' + i % 26);
	base[10] = 0;	/* a NUL inside: must not end the key */
	for (i = 0; i < 5; i++)
		k[i] = (struct tkey){ base, lens[i], 100 + 50 * i, 0 };
	/* each key's value depends on its length: all values differ */
	ASSERT_EQ(0, put_batch(self->fd, k, 5, 0, NULL, NULL));
	ASSERT_EQ(0, get_batch(self->fd, k, 5, status));
	for (i = 0; i < 5; i++)
		EXPECT_EQ(0, status[i]) TH_LOG("key %d", i);
	/* lengths in between were never stored */
	EXPECT_EQ(-ENOENT, query_status(self->fd, base, 3));
	EXPECT_EQ(-ENOENT, query_status(self->fd, base, 11));
	EXPECT_EQ(-ENOENT, query_status(self->fd, base, 299));
	/* removing one leaves its prefixes and extensions alone */
	{
		struct kvb_obj_desc d;

		kvb_desc_init(&d, base, 64, NULL, 0);
		ASSERT_EQ(0, st_batch(self->fd, KVB_IOC_REMOVE, &d, 1, 0, NULL));
		EXPECT_EQ(0, d.status);
	}
	ASSERT_EQ(0, get_batch(self->fd, k, 5, status));
	for (i = 0; i < 5; i++)
		EXPECT_EQ(i == 2 ? -ENOENT : 0, status[i])
			TH_LOG("key %d", i);
}

TEST_F(st, query_missing_key_per_key_enoent)
{
	struct tkey k[2] = { TK("present-a", 3000), TK("present-b", 10) };
	struct kvb_obj_desc put[2], d[4];
	struct kvb_batch b;

	ASSERT_EQ(0, put_batch(self->fd, k, 2, 0, put, NULL));
	kvb_desc_init(&d[0], "present-a", 9, NULL, 0);
	kvb_desc_init(&d[1], "absent", 6, NULL, 0);
	kvb_desc_init(&d[2], "present-b", 9, NULL, 0);
	kvb_desc_init(&d[3], "present-", 8, NULL, 0);
	ASSERT_EQ(0, st_batch(self->fd, KVB_IOC_QUERY, d, 4, 0, &b));
	EXPECT_EQ(2, b.nr_done);
	EXPECT_EQ(0, d[0].status);
	EXPECT_EQ(-ENOENT, d[1].status);
	EXPECT_EQ(0, d[2].status);
	EXPECT_EQ(-ENOENT, d[3].status);
	EXPECT_EQ(3000, d[0].value_len);
	EXPECT_EQ(10, d[2].value_len);
	EXPECT_EQ(put[0].bucket_id, d[0].bucket_id);
	EXPECT_EQ(put[1].bucket_id, d[2].bucket_id);
	EXPECT_EQ(put[0].offset, d[0].offset);
	EXPECT_EQ(put[1].offset, d[2].offset);
	/* two values of one bucket do not overlap */
	EXPECT_NE(d[0].offset, d[2].offset);

	/* LOAD: the same per-key result */
	{
		struct tkey l[3] = { TK("present-a", 3000), TK("absent", 5),
				     TK("present-b", 10) };
		int status[3];

		ASSERT_EQ(0, get_batch(self->fd, l, 3, status));
		EXPECT_EQ(0, status[0]);
		EXPECT_EQ(-ENOENT, status[1]);
		EXPECT_EQ(0, status[2]);
	}
}

TEST_F(st, load_wrong_length_emsgsize)
{
	struct tkey k[2] = { TK("sized", 4097), TK("other", 333) };
	unsigned char *buf = malloc(8192), *ok = malloc(333);
	struct kvb_slice s[3];
	struct kvb_obj_desc d[2];
	struct kvb_batch b;
	size_t len[] = { 4096, 4098, 1, 8192 };
	size_t i, j;

	ASSERT_TRUE(buf && ok);
	ASSERT_EQ(0, put_batch(self->fd, k, 2, 0, NULL, NULL));
	for (i = 0; i < ARRAY_LEN(len); i++) {
		memset(buf, 0xa5, 8192);
		memset(ok, 0, 333);
		kvb_slice_init(&s[0], buf, len[i]);
		kvb_slice_init(&s[1], ok, 333);
		kvb_desc_init(&d[0], "sized", 5, &s[0], 1);
		kvb_desc_init(&d[1], "other", 5, &s[1], 1);
		ASSERT_EQ(0, st_batch(self->fd, KVB_IOC_LOAD, d, 2, 0, &b));
		EXPECT_EQ(-EMSGSIZE, d[0].status) TH_LOG("len %zu", len[i]);
		EXPECT_EQ(4097, d[0].value_len) TH_LOG("len %zu", len[i]);
		EXPECT_EQ(1, b.nr_done);
		/* nothing copied */
		for (j = 0; j < 8192; j++)
			if (buf[j] != 0xa5)
				break;
		EXPECT_EQ(8192, j) TH_LOG("byte %zu written (len %zu)", j,
					  len[i]);
		/* the other key of the batch loaded */
		EXPECT_EQ(0, d[1].status);
		EXPECT_EQ(-1, check_value(tkey_seed(&k[1]), ok, 333));
	}
	/* two slices summing to one byte too many */
	memset(buf, 0xa5, 8192);
	kvb_slice_init(&s[0], buf, 4000);
	kvb_slice_init(&s[2], buf + 4000, 98);
	s[1] = s[2];
	kvb_desc_init(&d[0], "sized", 5, s, 2);
	ASSERT_EQ(0, st_batch(self->fd, KVB_IOC_LOAD, d, 1, 0, NULL));
	EXPECT_EQ(-EMSGSIZE, d[0].status);
	EXPECT_EQ(4097, d[0].value_len);
	for (j = 0; j < 8192; j++)
		if (buf[j] != 0xa5)
			break;
	EXPECT_EQ(8192, j);
	free(buf);
	free(ok);
}

TEST_F(st, load_same_key_twice_in_batch)
{
	struct tkey k[2] = { TK("twice", 9000), TK("twice", 9000) };
	int status[2];

	ASSERT_EQ(0, put_batch(self->fd, k, 1, 0, NULL, NULL));
	ASSERT_EQ(0, get_batch(self->fd, k, 2, status));
	EXPECT_EQ(0, status[0]);
	EXPECT_EQ(0, status[1]);
}

TEST_F(st, duplicate_key_in_offload_einval)
{
	struct tkey k[3] = { TK("dup", 10), TK("unique", 20), TK("dup", 30) };

	EXPECT_EQ(-EINVAL, put_batch(self->fd, k, 3, 0, NULL, NULL));
	EXPECT_EQ(-EINVAL, put_batch(self->fd, k, 3, KVB_OFFLOAD_REPLACE,
				     NULL, NULL));
	EXPECT_EQ(-ENOENT, query_status(self->fd, "dup", 3));
	EXPECT_EQ(-ENOENT, query_status(self->fd, "unique", 6));
	EXPECT_TOTALS(_metadata, self->fd, &self->info);
}

TEST_F(st, skip_existing_keys_eexist)
{
	struct tkey a = TK("a-key", 1500);
	struct tkey k[3] = { TK("b-key", 10), { "a-key", 5, 99, 7 },
			     TK("c-key", 20) };
	struct kvb_obj_desc first, d[3];
	struct kvb_store_info info;
	struct kvb_batch b;
	uint64_t b1;

	ASSERT_EQ(0, put_one(self->fd, &a, 0, &first, &b1));
	ASSERT_EQ(0, put_batch(self->fd, k, 3, 0, d, &b));
	EXPECT_EQ(2, b.nr_done);
	EXPECT_GT(b.bucket_id, b1);
	EXPECT_EQ(0, d[0].status);
	EXPECT_EQ(-EEXIST, d[1].status);
	EXPECT_EQ(0, d[2].status);
	EXPECT_EQ(b.bucket_id, d[0].bucket_id);
	EXPECT_EQ(b.bucket_id, d[2].bucket_id);
	/* the skipped key's fields describe the stored value */
	EXPECT_EQ(b1, d[1].bucket_id);
	EXPECT_EQ(1500, d[1].value_len);
	EXPECT_EQ(first.offset, d[1].offset);
	/* and the stored value is still the old one */
	EXPECT_EQ(0, get_one(self->fd, &a));
	EXPECT_EQ(0, get_one(self->fd, &k[0]));
	EXPECT_EQ(0, get_one(self->fd, &k[2]));
	ASSERT_EQ(0, st_info(self->fd, &info));
	EXPECT_EQ(3, info.nr_keys);
	EXPECT_EQ(2, info.nr_buckets);
	EXPECT_EQ(1530, info.value_bytes);
}

TEST_F(st, all_duplicate_batch_returns_zero_bucket_0)
{
	struct tkey k[2] = { TK("x1", 100), TK("x2", 200) };
	struct tkey again[2] = { { "x1", 2, 5, 3 }, { "x2", 2, 6, 3 } };
	struct kvb_obj_desc d[2];
	struct kvb_store_info before;
	struct kvb_batch b;

	ASSERT_EQ(0, put_batch(self->fd, k, 2, 0, NULL, &b));
	ASSERT_EQ(0, st_info(self->fd, &before));
	memset(&b, 0xff, sizeof(b));
	ASSERT_EQ(0, put_batch(self->fd, again, 2, 0, d, &b));
	EXPECT_EQ(0, b.bucket_id);
	EXPECT_EQ(0, b.nr_done);
	EXPECT_EQ(-EEXIST, d[0].status);
	EXPECT_EQ(-EEXIST, d[1].status);
	EXPECT_EQ(100, d[0].value_len);
	EXPECT_EQ(200, d[1].value_len);
	EXPECT_TOTALS(_metadata, self->fd, &before);
	EXPECT_EQ(0, get_one(self->fd, &k[0]));
	EXPECT_EQ(0, get_one(self->fd, &k[1]));
}

TEST_F(st, replace_new_value_wins)
{
	struct tkey k[2] = { TK("r-key", 3000), TK("r-other", 100) };
	struct tkey nv = { "r-key", 5, 7000, 1 };	/* other length and bytes */
	struct tkey fresh = TK("r-new", 50);
	struct tkey both[2] = { { "r-key", 5, 11, 2 }, TK("r-new", 50) };
	struct kvb_bucket_keys bk;
	struct kvb_store_info info;
	struct kvb_obj_desc d[2];
	struct kvb_batch b;
	char buf[256];
	uint64_t b1, b2;

	ASSERT_EQ(0, put_batch(self->fd, k, 2, 0, NULL, &b));
	b1 = b.bucket_id;
	ASSERT_EQ(0, put_batch(self->fd, &nv, 1, KVB_OFFLOAD_REPLACE, d, &b));
	b2 = b.bucket_id;
	EXPECT_EQ(0, d[0].status);
	EXPECT_EQ(1, b.nr_done);
	EXPECT_GT(b2, b1);
	EXPECT_EQ(b2, d[0].bucket_id);
	EXPECT_EQ(7000, d[0].value_len);
	EXPECT_EQ(0, get_one(self->fd, &nv));
	EXPECT_EQ(-EMSGSIZE, get_one(self->fd, &k[0]));
	EXPECT_EQ(0, get_one(self->fd, &k[1]));
	ASSERT_EQ(0, query_one(self->fd, "r-key", 5, &d[0]));
	EXPECT_EQ(b2, d[0].bucket_id);

	/* the old bucket lost the key */
	memset(&bk, 0, sizeof(bk));
	bk.size = sizeof(bk);
	bk.bucket_id = b1;
	bk.buf = (uint64_t)(uintptr_t)buf;
	bk.buf_len = sizeof(buf);
	ASSERT_EQ(0, kvb_ioctl(self->fd, KVB_IOC_BUCKET_KEYS, &bk));
	EXPECT_EQ(1, bk.nr_keys);
	EXPECT_EQ(100, bk.value_bytes);
	EXPECT_EQ(KVB_KEY_REC_LEN(7), bk.buf_len);
	EXPECT_EQ(7, ((struct kvb_key_rec *)buf)->key_len);
	EXPECT_EQ(0, memcmp(buf + sizeof(struct kvb_key_rec), "r-other", 7));

	ASSERT_EQ(0, st_info(self->fd, &info));
	EXPECT_EQ(2, info.nr_keys);
	EXPECT_EQ(2, info.nr_buckets);
	EXPECT_EQ(7100, info.value_bytes);

	/* REPLACE with a key that is not stored just stores it */
	ASSERT_EQ(0, put_batch(self->fd, &fresh, 1, KVB_OFFLOAD_REPLACE, d,
			       &b));
	EXPECT_EQ(0, d[0].status);
	EXPECT_EQ(0, get_one(self->fd, &fresh));
	/* replacing the only key of b2 makes b2 go away */
	ASSERT_EQ(0, put_batch(self->fd, both, 2, KVB_OFFLOAD_REPLACE, d, &b));
	EXPECT_EQ(2, b.nr_done);
	EXPECT_EQ(0, get_one(self->fd, &both[0]));
	EXPECT_EQ(0, get_one(self->fd, &both[1]));
	bk.bucket_id = b2;
	bk.buf_len = sizeof(buf);
	EXPECT_EQ(-ENOENT, kvb_ioctl(self->fd, KVB_IOC_BUCKET_KEYS, &bk));
	ASSERT_EQ(0, st_info(self->fd, &info));
	EXPECT_EQ(3, info.nr_keys);
	EXPECT_EQ(2, info.nr_buckets);	/* b1 (r-other) and the last one */
	EXPECT_EQ(100 + 11 + 50, info.value_bytes);
}

/* A batch of n keys "atom-<i>", one of them with an unreadable value. */
TEST_F(st, atomic_efault_unmapped_slice)
{
	struct tkey k[4] = { TK("atom-0", 5000), TK("atom-1", 6000),
			     TK("atom-2", 7000), TK("atom-3", 8000) };
	struct kvb_obj_desc d[4];
	struct kvb_slice s[4];
	void *v[4];
	int i, status[4];

	for (i = 0; i < 4; i++) {
		v[i] = malloc(k[i].vlen);
		ASSERT_NE(NULL, v[i]);
		fill_value(tkey_seed(&k[i]), v[i], k[i].vlen);
		kvb_slice_init(&s[i], i == 2 ? unmapped_addr() : v[i],
			       k[i].vlen);
		kvb_desc_init(&d[i], k[i].key, k[i].klen, &s[i], 1);
	}
	EXPECT_EQ(-EFAULT, st_batch(self->fd, KVB_IOC_OFFLOAD, d, 4, 0, NULL));
	EXPECT_TOTALS(_metadata, self->fd, &self->info);
	ASSERT_EQ(0, get_batch(self->fd, k, 4, status));
	for (i = 0; i < 4; i++) {
		EXPECT_EQ(-ENOENT, status[i]) TH_LOG("key %d", i);
		EXPECT_EQ(-ENOENT, query_status(self->fd, k[i].key, k[i].klen));
	}
	/* the same batch with the value mapped then works */
	kvb_slice_init(&s[2], v[2], k[2].vlen);
	ASSERT_EQ(0, st_batch(self->fd, KVB_IOC_OFFLOAD, d, 4, 0, NULL));
	ASSERT_EQ(0, get_batch(self->fd, k, 4, status));
	for (i = 0; i < 4; i++) {
		EXPECT_EQ(0, status[i]) TH_LOG("key %d", i);
		free(v[i]);
	}
}

TEST_F(st, atomic_efault_with_replace_keeps_old_values)
{
	struct tkey old[2] = { TK("keep-0", 100), TK("keep-1", 200) };
	struct tkey nv = { "keep-0", 6, 300, 1 };
	struct kvb_obj_desc d[2];
	struct kvb_slice s[2];
	struct kvb_store_info before;
	void *v = malloc(300);

	ASSERT_NE(NULL, v);
	ASSERT_EQ(0, put_batch(self->fd, old, 2, 0, NULL, NULL));
	ASSERT_EQ(0, st_info(self->fd, &before));
	fill_value(tkey_seed(&nv), v, 300);
	kvb_slice_init(&s[0], v, 300);
	kvb_slice_init(&s[1], unmapped_addr(), 10);
	kvb_desc_init(&d[0], "keep-0", 6, &s[0], 1);
	kvb_desc_init(&d[1], "keep-new", 8, &s[1], 1);
	EXPECT_EQ(-EFAULT, st_batch(self->fd, KVB_IOC_OFFLOAD, d, 2,
				    KVB_OFFLOAD_REPLACE, NULL));
	EXPECT_TOTALS(_metadata, self->fd, &before);
	EXPECT_EQ(0, get_one(self->fd, &old[0]));
	EXPECT_EQ(0, get_one(self->fd, &old[1]));
	EXPECT_EQ(-ENOENT, query_status(self->fd, "keep-new", 8));
	free(v);
}

TEST_F(st, limit_keys_e2big)
{
	struct tkey k[5] = { TK("lk-0", 10), TK("lk-1", 10), TK("lk-2", 10),
			     TK("lk-3", 10), TK("lk-4", 10) };
	struct kvb_batch b;
	int i;

	ASSERT_EQ(0, st_attach(self, 0, 4, 0));
	ASSERT_EQ(4, self->info.max_keys_per_bucket);
	EXPECT_EQ(-E2BIG, put_batch(self->fd, k, 5, 0, NULL, &b));
	EXPECT_EQ(KVB_LIMIT_KEYS, b.limit);
	EXPECT_TOTALS(_metadata, self->fd, &self->info);
	for (i = 0; i < 5; i++)
		EXPECT_EQ(-ENOENT, query_status(self->fd, k[i].key, k[i].klen));
	/* exactly the limit is fine */
	ASSERT_EQ(0, put_batch(self->fd, k, 4, 0, NULL, &b));
	EXPECT_EQ(4, b.nr_done);
}

TEST_F(st, limit_bytes_e2big)
{
	struct tkey k[2] = { TK("lb-0", 40000), TK("lb-1", 25537) };
	struct tkey fit[2] = { TK("lb-0", 40000), TK("lb-1", 25536) };
	struct tkey big = TK("lb-big", 65537);
	struct kvb_batch b;
	int status[2];

	ASSERT_EQ(0, st_attach(self, 0, 0, 65536));
	ASSERT_EQ(65536, self->info.max_bucket_bytes);
	EXPECT_EQ(-E2BIG, put_batch(self->fd, k, 2, 0, NULL, &b));
	EXPECT_EQ(KVB_LIMIT_BYTES, b.limit);
	EXPECT_EQ(-E2BIG, put_batch(self->fd, &big, 1, 0, NULL, &b));
	EXPECT_EQ(KVB_LIMIT_BYTES, b.limit);
	EXPECT_TOTALS(_metadata, self->fd, &self->info);
	EXPECT_EQ(-ENOENT, query_status(self->fd, "lb-0", 4));
	EXPECT_EQ(-ENOENT, query_status(self->fd, "lb-1", 4));
	/* exactly the limit is fine */
	ASSERT_EQ(0, put_batch(self->fd, fit, 2, 0, NULL, &b));
	EXPECT_EQ(2, b.nr_done);
	ASSERT_EQ(0, get_batch(self->fd, fit, 2, status));
	EXPECT_EQ(0, status[0]);
	EXPECT_EQ(0, status[1]);
}

TEST_F(st, limit_slices_e2big)
{
	unsigned int n = KVB_MAX_SLICES + 1, i;
	struct kvb_slice *s = calloc(n, sizeof(*s));
	struct kvb_obj_desc d[65];
	unsigned char *v = malloc(n);
	char keys[65][16];
	struct kvb_batch b;

	ASSERT_TRUE(s && v);
	fill_value(key_seed("slices", 6, 0), v, n);
	for (i = 0; i < n; i++)
		kvb_slice_init(&s[i], v + i, 1);
	/* one value of 1025 slices */
	kvb_desc_init(&d[0], "slices", 6, s, n);
	EXPECT_EQ(-E2BIG, st_batch(self->fd, KVB_IOC_OFFLOAD, d, 1, 0, &b));
	EXPECT_EQ(KVB_LIMIT_SLICES, b.limit);
	/* LOAD checks the same */
	EXPECT_EQ(-E2BIG, st_batch(self->fd, KVB_IOC_LOAD, d, 1, 0, &b));
	EXPECT_EQ(KVB_LIMIT_SLICES, b.limit);
	/* 65 values of 1024 slices: 66560 > KVB_MAX_BATCH_SLICES */
	for (i = 0; i < 65; i++) {
		snprintf(keys[i], sizeof(keys[i]), "sl-%u", i);
		kvb_desc_init(&d[i], keys[i], strlen(keys[i]), s,
			      KVB_MAX_SLICES);
	}
	EXPECT_EQ(-E2BIG, st_batch(self->fd, KVB_IOC_OFFLOAD, d, 65, 0, &b));
	EXPECT_EQ(KVB_LIMIT_SLICES, b.limit);
	EXPECT_TOTALS(_metadata, self->fd, &self->info);

	/* 1024 slices of 1 byte each is a valid value */
	kvb_desc_init(&d[0], "slices", 6, s, KVB_MAX_SLICES);
	ASSERT_EQ(0, st_batch(self->fd, KVB_IOC_OFFLOAD, d, 1, 0, &b));
	EXPECT_EQ(0, d[0].status);
	EXPECT_EQ(KVB_MAX_SLICES, d[0].value_len);
	{
		struct tkey k = { "slices", 6, KVB_MAX_SLICES, 0 };

		EXPECT_EQ(0, get_one(self->fd, &k));
	}
	free(s);
	free(v);
}

TEST_F(st, limit_batch_e2big)
{
	unsigned int n = KVB_MAX_BATCH + 1, i;
	struct kvb_obj_desc *d = calloc(n, sizeof(*d));
	char (*keys)[16] = calloc(n, 16);
	unsigned char v = 42;
	struct kvb_slice s;
	struct kvb_batch b;

	ASSERT_TRUE(d && keys);
	kvb_slice_init(&s, &v, 1);
	for (i = 0; i < n; i++) {
		snprintf(keys[i], 16, "bt-%u", i);
		kvb_desc_init(&d[i], keys[i], strlen(keys[i]), &s, 1);
	}
	EXPECT_EQ(-E2BIG, st_batch(self->fd, KVB_IOC_OFFLOAD, d, n, 0, &b));
	EXPECT_EQ(KVB_LIMIT_BATCH, b.limit);
	EXPECT_EQ(-E2BIG, st_batch(self->fd, KVB_IOC_LOAD, d, n, 0, &b));
	EXPECT_EQ(KVB_LIMIT_BATCH, b.limit);
	for (i = 0; i < n; i++)
		kvb_desc_init(&d[i], keys[i], strlen(keys[i]), NULL, 0);
	EXPECT_EQ(-E2BIG, st_batch(self->fd, KVB_IOC_QUERY, d, n, 0, &b));
	EXPECT_EQ(KVB_LIMIT_BATCH, b.limit);
	EXPECT_EQ(-E2BIG, st_batch(self->fd, KVB_IOC_REMOVE, d, n, 0, &b));
	EXPECT_EQ(KVB_LIMIT_BATCH, b.limit);
	/* the largest batch is accepted (QUERY: all ENOENT) */
	ASSERT_EQ(0, st_batch(self->fd, KVB_IOC_QUERY, d, KVB_MAX_BATCH, 0,
			      &b));
	EXPECT_EQ(0, b.nr_done);
	EXPECT_EQ(-ENOENT, d[0].status);
	EXPECT_EQ(-ENOENT, d[KVB_MAX_BATCH - 1].status);
	EXPECT_TOTALS(_metadata, self->fd, &self->info);
	free(d);
	free(keys);
}

static const unsigned long batch_cmds[] = {
	KVB_IOC_OFFLOAD, KVB_IOC_QUERY, KVB_IOC_LOAD, KVB_IOC_REMOVE,
};

static const char *cmd_name(unsigned long cmd)
{
	return cmd == KVB_IOC_OFFLOAD ? "OFFLOAD" : cmd == KVB_IOC_QUERY ?
		"QUERY" : cmd == KVB_IOC_LOAD ? "LOAD" : "REMOVE";
}

/* A valid descriptor for cmd (the key "inv" is stored, value 8 bytes). */
static void good_desc(unsigned long cmd, struct kvb_obj_desc *d,
		      struct kvb_slice *s, void *v)
{
	bool sl = cmd == KVB_IOC_OFFLOAD || cmd == KVB_IOC_LOAD;

	kvb_slice_init(s, v, 8);
	kvb_desc_init(d, cmd == KVB_IOC_OFFLOAD ? "inv-new" : "inv",
		      cmd == KVB_IOC_OFFLOAD ? 7 : 3, sl ? s : NULL, sl);
}

TEST_F(st, batch_einval)
{
	struct tkey stored = TK("inv", 8);
	struct kvb_store_info before;
	struct kvb_obj_desc d[2];
	struct kvb_slice s[2];
	struct kvb_batch b;
	char v[8], key[KVB_MAX_KEY_LEN + 1];
	size_t c;
	int i;

	memset(key, 'k', sizeof(key));
	ASSERT_EQ(0, put_one(self->fd, &stored, 0, NULL, NULL));
	ASSERT_EQ(0, st_info(self->fd, &before));
	for (c = 0; c < ARRAY_LEN(batch_cmds); c++) {
		unsigned long cmd = batch_cmds[c];

		/* a valid call of each kind first: the inputs below differ
		 * from it in one field only */
		good_desc(cmd, &d[0], &s[0], v);
		batch_init(&b, d, 1, 0);
		b.size = sizeof(b) - 8;
		EXPECT_EQ(-EINVAL, kvb_ioctl(self->fd, cmd, &b))
			TH_LOG("%s size", cmd_name(cmd));
		b.size = sizeof(b) + 8;
		EXPECT_EQ(-EINVAL, kvb_ioctl(self->fd, cmd, &b))
			TH_LOG("%s size", cmd_name(cmd));

		batch_init(&b, d, 0, 0);
		EXPECT_EQ(-EINVAL, kvb_ioctl(self->fd, cmd, &b))
			TH_LOG("%s count 0", cmd_name(cmd));

		batch_init(&b, d, 1, 0);
		b.reserved0 = 1;
		EXPECT_EQ(-EINVAL, kvb_ioctl(self->fd, cmd, &b))
			TH_LOG("%s batch reserved0", cmd_name(cmd));
		for (i = 0; i < 3; i++) {
			batch_init(&b, d, 1, 0);
			b.reserved[i] = 1ULL << 63;
			EXPECT_EQ(-EINVAL, kvb_ioctl(self->fd, cmd, &b))
				TH_LOG("%s batch reserved[%d]", cmd_name(cmd), i);
		}
		/* unknown flags; REPLACE only means something to OFFLOAD */
		batch_init(&b, d, 1, 1U << 1);
		EXPECT_EQ(-EINVAL, kvb_ioctl(self->fd, cmd, &b))
			TH_LOG("%s flags", cmd_name(cmd));
		batch_init(&b, d, 1, 1U << 31);
		EXPECT_EQ(-EINVAL, kvb_ioctl(self->fd, cmd, &b))
			TH_LOG("%s flags", cmd_name(cmd));
		if (cmd != KVB_IOC_OFFLOAD) {
			batch_init(&b, d, 1, KVB_OFFLOAD_REPLACE);
			EXPECT_EQ(-EINVAL, kvb_ioctl(self->fd, cmd, &b))
				TH_LOG("%s REPLACE", cmd_name(cmd));
		}

		/* descriptors: reserved fields, in the second of two */
		good_desc(cmd, &d[1], &s[1], v);
		d[1].key = (uintptr_t)"inv2";
		d[1].key_len = 4;
		d[1].reserved0 = 1;
		EXPECT_EQ(-EINVAL, st_batch(self->fd, cmd, d, 2, 0, NULL))
			TH_LOG("%s desc reserved0", cmd_name(cmd));
		d[1].reserved0 = 0;
		for (i = 0; i < 2; i++) {
			d[1].reserved[i] = 2;
			EXPECT_EQ(-EINVAL, st_batch(self->fd, cmd, d, 2, 0,
						    NULL))
				TH_LOG("%s desc reserved[%d]", cmd_name(cmd), i);
			d[1].reserved[i] = 0;
		}
		/* key_len 0 and KVB_MAX_KEY_LEN + 1 */
		d[1].key_len = 0;
		EXPECT_EQ(-EINVAL, st_batch(self->fd, cmd, d, 2, 0, NULL))
			TH_LOG("%s key_len 0", cmd_name(cmd));
		d[1].key = (uintptr_t)key;
		d[1].key_len = KVB_MAX_KEY_LEN + 1;
		EXPECT_EQ(-EINVAL, st_batch(self->fd, cmd, d, 2, 0, NULL))
			TH_LOG("%s key_len 1025", cmd_name(cmd));
		d[1].key_len = 0xffffffffU;
		EXPECT_EQ(-EINVAL, st_batch(self->fd, cmd, d, 2, 0, NULL))
			TH_LOG("%s key_len ~0", cmd_name(cmd));
		good_desc(cmd, &d[1], &s[1], v);
		d[1].key = (uintptr_t)"inv2";
		d[1].key_len = 4;

		if (cmd == KVB_IOC_OFFLOAD || cmd == KVB_IOC_LOAD) {
			/* nr_slices 0, a slice of length 0 */
			d[1].nr_slices = 0;
			EXPECT_EQ(-EINVAL, st_batch(self->fd, cmd, d, 2, 0,
						    NULL))
				TH_LOG("%s nr_slices 0", cmd_name(cmd));
			d[1].nr_slices = 1;
			s[1].len = 0;
			EXPECT_EQ(-EINVAL, st_batch(self->fd, cmd, d, 2, 0,
						    NULL))
				TH_LOG("%s slice len 0", cmd_name(cmd));
			s[1].len = 8;
		} else {
			/* QUERY, REMOVE: no slices */
			d[1].nr_slices = 1;
			d[1].slices = (uintptr_t)s;
			EXPECT_EQ(-EINVAL, st_batch(self->fd, cmd, d, 2, 0,
						    NULL))
				TH_LOG("%s nr_slices 1", cmd_name(cmd));
			d[1].nr_slices = 0;
			EXPECT_EQ(-EINVAL, st_batch(self->fd, cmd, d, 2, 0,
						    NULL))
				TH_LOG("%s slices set", cmd_name(cmd));
			d[1].slices = 0;
		}
		EXPECT_TOTALS(_metadata, self->fd, &before);
	}
	/* a zero-length slice between two good ones */
	{
		struct kvb_slice three[3];

		kvb_slice_init(&three[0], v, 4);
		kvb_slice_init(&three[1], v + 4, 0);
		kvb_slice_init(&three[2], v + 4, 4);
		kvb_desc_init(&d[0], "zero-slice", 10, three, 3);
		EXPECT_EQ(-EINVAL, st_batch(self->fd, KVB_IOC_OFFLOAD, d, 1, 0,
					    NULL));
	}
	EXPECT_TOTALS(_metadata, self->fd, &before);
	EXPECT_EQ(-ENOENT, query_status(self->fd, "inv-new", 7));
	EXPECT_EQ(-ENOENT, query_status(self->fd, "inv2", 4));
	EXPECT_EQ(-ENOENT, query_status(self->fd, "zero-slice", 10));
	EXPECT_EQ(0, get_one(self->fd, &stored));
}

TEST_F(st, offload_efault_pointers)
{
	struct kvb_obj_desc d[2];
	struct kvb_slice s[2];
	unsigned char v[2][64];
	long pg = sysconf(_SC_PAGESIZE);
	unsigned char *two;
	int i;

	for (i = 0; i < 2; i++) {
		fill_value(i, v[i], 64);
		kvb_slice_init(&s[i], v[i], 64);
	}
	kvb_desc_init(&d[0], "ef-0", 4, &s[0], 1);
	kvb_desc_init(&d[1], "ef-1", 4, &s[1], 1);

	/* the batch itself */
	EXPECT_EQ(-EFAULT, kvb_ioctl(self->fd, KVB_IOC_OFFLOAD,
				     unmapped_addr()));
	/* descs */
	EXPECT_EQ(-EFAULT, st_batch(self->fd, KVB_IOC_OFFLOAD, unmapped_addr(),
				    2, 0, NULL));
	EXPECT_EQ(-EFAULT, st_batch(self->fd, KVB_IOC_OFFLOAD,
				    (void *)(uintptr_t)16, 2, 0, NULL));
	/* a key */
	d[1].key = (uintptr_t)unmapped_addr();
	EXPECT_EQ(-EFAULT, st_batch(self->fd, KVB_IOC_OFFLOAD, d, 2, 0, NULL));
	d[1].key = (uintptr_t)"ef-1";
	/* a slice array */
	d[1].slices = (uintptr_t)unmapped_addr();
	EXPECT_EQ(-EFAULT, st_batch(self->fd, KVB_IOC_OFFLOAD, d, 2, 0, NULL));
	d[1].slices = (uintptr_t)&s[1];
	/* a kernel address as value */
	s[1].addr = 0xffff888000000000ULL;
	EXPECT_EQ(-EFAULT, st_batch(self->fd, KVB_IOC_OFFLOAD, d, 2, 0, NULL));
	/* a value that runs from a mapped page into an unmapped one */
	two = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, two);
	memset(two, 7, pg);
	ASSERT_EQ(0, munmap(two + pg, pg));
	kvb_slice_init(&s[1], two + pg - 100, 200);
	EXPECT_EQ(-EFAULT, st_batch(self->fd, KVB_IOC_OFFLOAD, d, 2, 0, NULL));
	/* the same with a big value whose last byte is the unmapped one */
	kvb_slice_init(&s[1], two, pg + 1);
	EXPECT_EQ(-EFAULT, st_batch(self->fd, KVB_IOC_OFFLOAD, d, 2, 0, NULL));

	EXPECT_TOTALS(_metadata, self->fd, &self->info);
	EXPECT_EQ(-ENOENT, query_status(self->fd, "ef-0", 4));
	EXPECT_EQ(-ENOENT, query_status(self->fd, "ef-1", 4));

	/* the mapped part alone is fine */
	kvb_slice_init(&s[1], two, pg);
	ASSERT_EQ(0, st_batch(self->fd, KVB_IOC_OFFLOAD, d, 2, 0, NULL));
	EXPECT_EQ(0, d[0].status);
	EXPECT_EQ(0, d[1].status);
	munmap(two, pg);
}

TEST_F(st, query_load_efault_pointers)
{
	struct tkey k = TK("qe", 5000);
	struct kvb_obj_desc d;
	struct kvb_slice s;
	long pg = sysconf(_SC_PAGESIZE);
	unsigned char *two;

	ASSERT_EQ(0, put_one(self->fd, &k, 0, NULL, NULL));
	kvb_desc_init(&d, unmapped_addr(), 2, NULL, 0);
	EXPECT_EQ(-EFAULT, st_batch(self->fd, KVB_IOC_QUERY, &d, 1, 0, NULL));
	EXPECT_EQ(-EFAULT, st_batch(self->fd, KVB_IOC_QUERY, unmapped_addr(), 1,
				    0, NULL));
	/* a destination that cannot be written fails the whole call */
	kvb_slice_init(&s, unmapped_addr(), 5000);
	kvb_desc_init(&d, "qe", 2, &s, 1);
	EXPECT_EQ(-EFAULT, st_batch(self->fd, KVB_IOC_LOAD, &d, 1, 0, NULL));
	two = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, two);
	ASSERT_EQ(0, munmap(two + pg, pg));
	kvb_slice_init(&s, two + pg - 1000, 5000);
	EXPECT_EQ(-EFAULT, st_batch(self->fd, KVB_IOC_LOAD, &d, 1, 0, NULL));
	/* read-only memory cannot be written either */
	ASSERT_EQ(0, mprotect(two, pg, PROT_READ));
	kvb_slice_init(&s, two, 4096 <= pg ? 4096 : pg);
	{
		struct tkey small = TK("qe-small", 4096);

		ASSERT_EQ(0, put_one(self->fd, &small, 0, NULL, NULL));
		kvb_desc_init(&d, "qe-small", 8, &s, 1);
		EXPECT_EQ(-EFAULT, st_batch(self->fd, KVB_IOC_LOAD, &d, 1, 0,
					    NULL));
	}
	munmap(two, pg);
	/* the stored value is intact */
	EXPECT_EQ(0, get_one(self->fd, &k));
}

TEST_HARNESS_MAIN
