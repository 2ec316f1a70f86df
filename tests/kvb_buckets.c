// SPDX-License-Identifier: GPL-2.0
/*
 * Buckets: REMOVE, DELETE_BUCKET, BUCKET_KEYS, BUCKET_SCAN pagination,
 * bucket ids, STORE_INFO totals after every step, a full store evicting,
 * and ENOSPC for a bucket larger than the store.
 */
#include "kselftest_harness.h"
#include "kvb_test.h"

FIXTURE(bk) {
	int ctl;
	int fd;
	uint32_t id;
	struct kvb_store_info info;
};

static int bk_attach(FIXTURE_DATA(bk) *self, const char *disk,
		     uint32_t flags, uint32_t chunk)
{
	return store_attach_open(self->ctl, disk, flags, 0, 0, chunk,
				 &self->id, &self->fd, &self->info);
}

FIXTURE_SETUP(bk)
{
	self->fd = -1;
	ASSERT_TRUE(module_loaded()) TH_LOG("kvbucket module not loaded");
	ASSERT_EQ(0, detach_all());
	ASSERT_NE(NULL, kvb_disk(2)) TH_LOG("KVB_DISKS needs 3 disks");
	self->ctl = ctl_open();
	ASSERT_LE(0, self->ctl);
	ASSERT_EQ(0, bk_attach(self, kvb_disk(0), KVB_ATTACH_FORMAT, 0));
}

FIXTURE_TEARDOWN(bk)
{
	if (self->fd >= 0)
		close(self->fd);
	if (self->ctl >= 0)
		close(self->ctl);
	EXPECT_EQ(0, detach_all());
}

/* Expected totals, checked exactly against STORE_INFO. */
struct totals {
	uint64_t keys, buckets, bytes;
};

#define EXPECT_INFO(t) do { \
	struct kvb_store_info __i; \
	ASSERT_EQ(0, st_info(self->fd, &__i)); \
	EXPECT_EQ((t).keys, __i.nr_keys); \
	EXPECT_EQ((t).buckets, __i.nr_buckets); \
	EXPECT_EQ((t).bytes, __i.value_bytes); \
	EXPECT_EQ(__i.capacity_bytes, __i.used_bytes + __i.free_bytes); \
	EXPECT_EQ(self->info.capacity_bytes, __i.capacity_bytes); \
	/* small buckets: one chunk each */ \
	EXPECT_EQ((t).buckets * __i.chunk_size, __i.used_bytes); \
} while (0)

static int rm_keys(int fd, const char *const *keys, unsigned int n,
		   struct kvb_obj_desc *d, struct kvb_batch *b)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		kvb_desc_init(&d[i], keys[i], strlen(keys[i]), NULL, 0);
	return st_batch(fd, KVB_IOC_REMOVE, d, n, 0, b);
}

/* Bucket keys into buf; returns 0/-errno, fills *bkv. */
static int bucket_keys(int fd, uint64_t id, void *buf, uint64_t len,
		       struct kvb_bucket_keys *bkv)
{
	memset(bkv, 0, sizeof(*bkv));
	bkv->size = sizeof(*bkv);
	bkv->bucket_id = id;
	bkv->buf = (uint64_t)(uintptr_t)buf;
	bkv->buf_len = len;
	return kvb_ioctl(fd, KVB_IOC_BUCKET_KEYS, bkv);
}

static int scan(int fd, uint64_t start, uint32_t max, void *buf,
		uint64_t len, struct kvb_bucket_scan *sc)
{
	memset(sc, 0, sizeof(*sc));
	sc->size = sizeof(*sc);
	sc->start_id = start;
	sc->max_buckets = max;
	sc->buf = (uint64_t)(uintptr_t)buf;
	sc->buf_len = len;
	return kvb_ioctl(fd, KVB_IOC_BUCKET_SCAN, sc);
}

/* Is bucket id in the scan of the whole store? */
static int scan_has(int fd, uint64_t id)
{
	static char buf[1 << 16];
	struct kvb_bucket_scan sc;
	const struct kvb_bucket_rec *r;
	uint64_t start = 0;
	uint32_t i;

	do {
		if (scan(fd, start, 64, buf, sizeof(buf), &sc))
			return -1;
		r = (const void *)buf;
		for (i = 0; i < sc.nr_buckets; i++, r = kvb_bucket_rec_next(r))
			if (r->id == id)
				return 1;
		start = sc.next_id;
	} while (start);
	return 0;
}

TEST_F(bk, remove_keys)
{
	struct tkey k[3] = { { "rm-a", 4, 1000, 0 }, { "rm-b", 4, 2000, 0 },
			     { "rm-c", 4, 3000, 0 } };
	const char *const r1[] = { "rm-a", "rm-x", "rm-a2" };
	const char *const r2[] = { "rm-b", "rm-c", "rm-a" };
	struct kvb_obj_desc d[3];
	struct kvb_batch b;
	struct totals t = { 3, 1, 6000 };
	char buf[256];
	struct kvb_bucket_keys bkv;
	int status[3];
	uint64_t b1;

	ASSERT_EQ(0, put_batch(self->fd, k, 3, 0, NULL, &b));
	b1 = b.bucket_id;
	EXPECT_INFO(t);

	ASSERT_EQ(0, rm_keys(self->fd, r1, 3, d, &b));
	EXPECT_EQ(1, b.nr_done);
	EXPECT_EQ(0, d[0].status);
	EXPECT_EQ(b1, d[0].bucket_id);
	EXPECT_EQ(1000, d[0].value_len);
	EXPECT_EQ(-ENOENT, d[1].status);
	EXPECT_EQ(-ENOENT, d[2].status);
	t = (struct totals){ 2, 1, 5000 };
	EXPECT_INFO(t);
	ASSERT_EQ(0, get_batch(self->fd, k, 3, status));
	EXPECT_EQ(-ENOENT, status[0]);
	EXPECT_EQ(0, status[1]);
	EXPECT_EQ(0, status[2]);
	EXPECT_EQ(-ENOENT, query_status(self->fd, "rm-a", 4));
	ASSERT_EQ(0, bucket_keys(self->fd, b1, buf, sizeof(buf), &bkv));
	EXPECT_EQ(2, bkv.nr_keys);
	EXPECT_EQ(5000, bkv.value_bytes);
	EXPECT_EQ(1, scan_has(self->fd, b1));

	/* removing the last two keys deletes the bucket */
	ASSERT_EQ(0, rm_keys(self->fd, r2, 3, d, &b));
	EXPECT_EQ(2, b.nr_done);
	EXPECT_EQ(0, d[0].status);
	EXPECT_EQ(0, d[1].status);
	EXPECT_EQ(-ENOENT, d[2].status);
	t = (struct totals){ 0, 0, 0 };
	EXPECT_INFO(t);
	EXPECT_EQ(-ENOENT, bucket_keys(self->fd, b1, buf, sizeof(buf), &bkv));
	EXPECT_EQ(0, scan_has(self->fd, b1));
	EXPECT_EQ(-ENOENT, st_delete(self->fd, b1, NULL));
	ASSERT_EQ(0, get_batch(self->fd, k, 3, status));
	EXPECT_EQ(-ENOENT, status[1]);
	EXPECT_EQ(-ENOENT, status[2]);

	/* a removed key can be stored again, in a new bucket */
	ASSERT_EQ(0, put_batch(self->fd, k, 1, 0, d, &b));
	EXPECT_EQ(0, d[0].status);
	EXPECT_GT(b.bucket_id, b1);
	EXPECT_EQ(0, get_one(self->fd, &k[0]));
}

TEST_F(bk, delete_bucket)
{
	struct tkey k1[3] = { { "db-a", 4, 100, 0 }, { "db-b", 4, 200, 0 },
			      { "db-c", 4, 300, 0 } };
	struct tkey k2 = { "db-other", 8, 400, 0 };
	const char *const r[] = { "db-b" };
	struct kvb_store_info before, after;
	struct kvb_obj_desc d[1];
	struct kvb_delete_bucket del;
	struct kvb_batch b;
	struct totals t = { 4, 2, 1000 };
	uint64_t b1, b2;
	uint32_t nr = 999;
	int status[3];

	EXPECT_EQ(-ENOENT, st_delete(self->fd, 1, NULL));
	EXPECT_EQ(-ENOENT, st_delete(self->fd, 0, NULL));
	ASSERT_EQ(0, put_batch(self->fd, k1, 3, 0, NULL, &b));
	b1 = b.bucket_id;
	ASSERT_EQ(0, put_one(self->fd, &k2, 0, NULL, &b2));
	EXPECT_INFO(t);
	EXPECT_EQ(-ENOENT, st_delete(self->fd, b2 + 1, NULL));
	EXPECT_EQ(-ENOENT, st_delete(self->fd, ~0ULL, NULL));

	/* flags, reserved, size */
	memset(&del, 0, sizeof(del));
	del.size = sizeof(del);
	del.bucket_id = b1;
	del.flags = 1;
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->fd, KVB_IOC_DELETE_BUCKET, &del));
	del.flags = 0;
	del.reserved0 = 1;
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->fd, KVB_IOC_DELETE_BUCKET, &del));
	del.reserved0 = 0;
	del.reserved[1] = 1;
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->fd, KVB_IOC_DELETE_BUCKET, &del));
	del.reserved[1] = 0;
	del.size = 8;
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->fd, KVB_IOC_DELETE_BUCKET, &del));
	EXPECT_INFO(t);

	ASSERT_EQ(0, rm_keys(self->fd, r, 1, d, &b));
	t = (struct totals){ 3, 2, 800 };
	EXPECT_INFO(t);
	ASSERT_EQ(0, st_info(self->fd, &before));
	ASSERT_EQ(0, st_delete(self->fd, b1, &nr));
	EXPECT_EQ(2, nr);	/* db-b was removed already */
	t = (struct totals){ 1, 1, 400 };
	EXPECT_INFO(t);
	ASSERT_EQ(0, st_info(self->fd, &after));
	EXPECT_EQ(before.used_bytes - self->info.chunk_size, after.used_bytes);
	EXPECT_EQ(before.free_bytes + self->info.chunk_size, after.free_bytes);

	ASSERT_EQ(0, get_batch(self->fd, k1, 3, status));
	EXPECT_EQ(-ENOENT, status[0]);
	EXPECT_EQ(-ENOENT, status[1]);
	EXPECT_EQ(-ENOENT, status[2]);
	EXPECT_EQ(0, get_one(self->fd, &k2));
	EXPECT_EQ(-ENOENT, st_delete(self->fd, b1, NULL));
	EXPECT_EQ(0, scan_has(self->fd, b1));
	EXPECT_EQ(1, scan_has(self->fd, b2));

	/* the keys can be stored again */
	ASSERT_EQ(0, put_batch(self->fd, k1, 3, 0, NULL, &b));
	EXPECT_EQ(3, b.nr_done);
	ASSERT_EQ(0, get_batch(self->fd, k1, 3, status));
	EXPECT_EQ(0, status[0]);
	EXPECT_EQ(0, status[1]);
	EXPECT_EQ(0, status[2]);
	nr = 0;
	ASSERT_EQ(0, st_delete(self->fd, b2, &nr));
	EXPECT_EQ(1, nr);
	t = (struct totals){ 3, 1, 600 };
	EXPECT_INFO(t);
}

TEST_F(bk, bucket_keys_in_offload_order)
{
	static const uint32_t klen[] = { 9, 1, 1024, 7, 8, 16, 300 };
	unsigned char keys[7][1024];
	struct tkey k[7];
	struct kvb_bucket_keys bkv;
	const struct kvb_key_rec *r;
	uint64_t need = 0, bytes = 0, b1;
	unsigned char *buf;
	struct kvb_batch b;
	unsigned int i, j;

	/* the keys sort in an order other than offload order */
	for (i = 0; i < 7; i++) {
		memset(keys[i], 0, sizeof(keys[i]));
		for (j = 0; j < klen[i]; j++)
			keys[i][j] = (unsigned char)(200 - 20 * i + j * 3);
		k[i] = (struct tkey){ keys[i], klen[i], 100 * (i + 1) + i, 0 };
		need += KVB_KEY_REC_LEN(klen[i]);
		bytes += k[i].vlen;
	}
	ASSERT_EQ(0, put_batch(self->fd, k, 7, 0, NULL, &b));
	b1 = b.bucket_id;

	/* size probe */
	EXPECT_EQ(-ERANGE, bucket_keys(self->fd, b1, NULL, 0, &bkv));
	EXPECT_EQ(need, bkv.buf_len);
	buf = malloc(need + 64);
	ASSERT_NE(NULL, buf);
	memset(buf, 0xee, need + 64);
	/* one byte short */
	EXPECT_EQ(-ERANGE, bucket_keys(self->fd, b1, buf, need - 1, &bkv));
	EXPECT_EQ(need, bkv.buf_len);
	/* exact */
	ASSERT_EQ(0, bucket_keys(self->fd, b1, buf, need, &bkv));
	EXPECT_EQ(need, bkv.buf_len);
	EXPECT_EQ(7, bkv.nr_keys);
	EXPECT_EQ(bytes, bkv.value_bytes);
	EXPECT_EQ(0xee, buf[need]);	/* nothing past the records */
	r = (const void *)buf;
	for (i = 0; i < 7; i++) {
		const unsigned char *pad;

		EXPECT_EQ(klen[i], r->key_len) TH_LOG("record %u", i);
		EXPECT_EQ(0, r->reserved0);
		EXPECT_EQ(k[i].vlen, r->value_len) TH_LOG("record %u", i);
		if (r->key_len != klen[i])
			break;
		EXPECT_EQ(0, memcmp(kvb_key_rec_key(r), keys[i], klen[i]))
			TH_LOG("record %u", i);
		pad = (const unsigned char *)kvb_key_rec_key(r) + klen[i];
		for (j = 0; pad + j < (const unsigned char *)kvb_key_rec_next(r);
		     j++)
			EXPECT_EQ(0, pad[j]) TH_LOG("padding of record %u", i);
		r = kvb_key_rec_next(r);
	}
	/* a bigger buffer: the same, buf_len says what was used */
	ASSERT_EQ(0, bucket_keys(self->fd, b1, buf, need + 64, &bkv));
	EXPECT_EQ(need, bkv.buf_len);

	/* the library's view */
	{
		struct kvb_store *st;
		size_t len = 0;

		ASSERT_EQ(0, kvb_open(self->id, &st));
		EXPECT_EQ(-ERANGE, kvb_bucket_keys(st, b1, NULL, &len));
		EXPECT_EQ(need, len);
		len = need;
		memset(buf, 0, need);
		EXPECT_EQ(7, kvb_bucket_keys(st, b1, buf, &len));
		EXPECT_EQ(need, len);
		EXPECT_EQ(klen[0], ((struct kvb_key_rec *)buf)->key_len);
		kvb_close(st);
	}
	EXPECT_EQ(-ENOENT, bucket_keys(self->fd, b1 + 100, buf, need, &bkv));
	bkv.flags = 1;
	bkv.bucket_id = b1;
	bkv.buf_len = need;
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->fd, KVB_IOC_BUCKET_KEYS, &bkv));
	EXPECT_EQ(-EFAULT, bucket_keys(self->fd, b1, unmapped_addr(), need,
				       &bkv));
	free(buf);
}

/* Keys of the test of 300 buckets: bucket i has 1 + i % 3 keys. */
#define NR_SCAN 300
static int scan_key(char *buf, unsigned int bucket, unsigned int j)
{
	return snprintf(buf, 32, "scan-%03u-%u%s", bucket, j,
			bucket % 5 ? "" : "-longer-key");
}

TEST_F_TIMEOUT(bk, scan_pagination_300_buckets, 300)
{
	static uint64_t ids[NR_SCAN];
	static char seen[NR_SCAN];
	char keys[3][32], *buf;
	struct tkey k[3];
	struct kvb_bucket_scan sc;
	const struct kvb_bucket_rec *r;
	const struct kvb_key_rec *kr;
	uint64_t start, last, first_len;
	unsigned int i, j, pages, pass;
	struct kvb_batch b;
	size_t bufsz = 64 << 10;

	/* volatile: this test is about scan, not durability */
	ASSERT_EQ(0, bk_attach(self, kvb_disk(0),
			       KVB_ATTACH_FORMAT | KVB_ATTACH_VOLATILE, 0));
	for (i = 0; i < NR_SCAN; i++) {
		for (j = 0; j < 1 + i % 3; j++) {
			scan_key(keys[j], i, j);
			k[j] = (struct tkey){ keys[j], strlen(keys[j]),
					      1 + (i * 7 + j) % 50, 0 };
		}
		ASSERT_EQ(0, put_batch(self->fd, k, j, 0, NULL, &b));
		ASSERT_EQ(j, b.nr_done);
		ids[i] = b.bucket_id;
		if (i)
			ASSERT_LT(ids[i - 1], ids[i]);
	}
	/* delete a few in the middle: a cursor can point at a hole */
	ASSERT_EQ(0, st_delete(self->fd, ids[100], NULL));
	ASSERT_EQ(0, st_delete(self->fd, ids[101], NULL));
	ASSERT_EQ(0, st_delete(self->fd, ids[NR_SCAN - 1], NULL));

	buf = malloc(bufsz);
	ASSERT_NE(NULL, buf);
	/* pass 0: max_buckets 7 limits; pass 1: a 300-byte buffer limits */
	for (pass = 0; pass < 2; pass++) {
		uint64_t blen = pass ? 300 : bufsz;

		memset(seen, 0, sizeof(seen));
		start = 0;
		last = 0;
		pages = 0;
		do {
			ASSERT_EQ(0, scan(self->fd, start, 7, buf, blen, &sc))
				TH_LOG("pass %u start %" PRIu64, pass, start);
			ASSERT_LT(0, sc.nr_buckets);
			ASSERT_GE(7, sc.nr_buckets);
			ASSERT_GE(blen, sc.buf_len);
			pages++;
			r = (const void *)buf;
			for (i = 0; i < sc.nr_buckets; i++) {
				uint64_t idx, bytes = 0;

				ASSERT_LT(last, r->id);	/* increasing */
				ASSERT_LE(start, r->id);
				last = r->id;
				for (idx = 0; idx < NR_SCAN; idx++)
					if (ids[idx] == r->id)
						break;
				ASSERT_GT(NR_SCAN, idx) TH_LOG("id %" PRIu64, r->id);
				ASSERT_EQ(0, seen[idx]);
				seen[idx] = 1;
				EXPECT_EQ(1 + idx % 3, r->nr_keys);
				EXPECT_EQ(0, r->reserved0);
				EXPECT_NE(0, r->ctime_ns);
				kr = kvb_bucket_rec_keys(r);
				for (j = 0; j < r->nr_keys; j++) {
					scan_key(keys[0], idx, j);
					EXPECT_EQ(strlen(keys[0]), kr->key_len);
					EXPECT_EQ(0, memcmp(kvb_key_rec_key(kr),
							    keys[0],
							    strlen(keys[0])));
					EXPECT_EQ(1 + (idx * 7 + j) % 50,
						  kr->value_len);
					bytes += kr->value_len;
					kr = kvb_key_rec_next(kr);
				}
				EXPECT_EQ(bytes, r->value_bytes);
				EXPECT_EQ((char *)kr - (char *)r, r->rec_len);
				r = kvb_bucket_rec_next(r);
			}
			EXPECT_EQ((char *)r - buf, sc.buf_len);
			if (!pass && sc.next_id)
				EXPECT_EQ(7, sc.nr_buckets);
			if (sc.next_id)
				ASSERT_LT(last, sc.next_id);
			start = sc.next_id;
			ASSERT_GT(1000, pages);
		} while (start);
		for (i = 0; i < NR_SCAN; i++) {
			int want = i != 100 && i != 101 && i != NR_SCAN - 1;

			EXPECT_EQ(want, seen[i]) TH_LOG("pass %u bucket %u", pass, i);
		}
		if (!pass) {
			EXPECT_EQ((NR_SCAN - 3 + 6) / 7, pages);
		} else {
			EXPECT_LT((NR_SCAN - 3 + 6) / 7, pages);
		}
	}

	/* a cursor at a deleted id starts at the next bucket */
	ASSERT_EQ(0, scan(self->fd, ids[100], 1, buf, bufsz, &sc));
	ASSERT_EQ(1, sc.nr_buckets);
	EXPECT_EQ(ids[102], ((struct kvb_bucket_rec *)buf)->id);
	EXPECT_EQ(ids[103], sc.next_id);
	/* past the end */
	ASSERT_EQ(0, scan(self->fd, ids[NR_SCAN - 1], 7, buf, bufsz, &sc));
	EXPECT_EQ(0, sc.nr_buckets);
	EXPECT_EQ(0, sc.next_id);

	/* ERANGE when the first bucket does not fit: its length comes back */
	ASSERT_EQ(0, scan(self->fd, ids[2], 1, buf, bufsz, &sc));
	first_len = ((struct kvb_bucket_rec *)buf)->rec_len;
	EXPECT_EQ(first_len, sc.buf_len);
	EXPECT_EQ(-ERANGE, scan(self->fd, ids[2], 7, buf, first_len - 1, &sc));
	EXPECT_EQ(first_len, sc.buf_len);
	EXPECT_EQ(-ERANGE, scan(self->fd, ids[2], 7, buf,
				sizeof(struct kvb_bucket_rec), &sc));
	EXPECT_EQ(first_len, sc.buf_len);
	ASSERT_EQ(0, scan(self->fd, ids[2], 7, buf, first_len, &sc));
	EXPECT_EQ(1, sc.nr_buckets);
	EXPECT_EQ(ids[3], sc.next_id);

	/* max_buckets out of range, flags, reserved */
	EXPECT_EQ(-EINVAL, scan(self->fd, 0, 0, buf, bufsz, &sc));
	EXPECT_EQ(-EINVAL, scan(self->fd, 0, KVB_MAX_BATCH + 1, buf, bufsz,
				&sc));
	ASSERT_EQ(0, scan(self->fd, 0, KVB_MAX_BATCH, buf, bufsz, &sc));
	memset(&sc, 0, sizeof(sc));
	sc.size = sizeof(sc);
	sc.max_buckets = 1;
	sc.buf = (uintptr_t)buf;
	sc.buf_len = bufsz;
	sc.flags = 1;
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->fd, KVB_IOC_BUCKET_SCAN, &sc));
	sc.flags = 0;
	sc.reserved[0] = 1;
	EXPECT_EQ(-EINVAL, kvb_ioctl(self->fd, KVB_IOC_BUCKET_SCAN, &sc));
	EXPECT_EQ(-EFAULT, scan(self->fd, 0, 7, unmapped_addr(), bufsz, &sc));
	free(buf);
}

TEST_F(bk, bucket_ids_increase_across_reattach)
{
	struct tkey k = { "id-key", 6, 10, 0 };
	struct kvb_store_info info;
	uint64_t id, prev = 0, newest;
	char key[32];
	int i;

	EXPECT_EQ(1, self->info.next_bucket_id);
	for (i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "id-%d", i);
		k.key = key;
		k.klen = strlen(key);
		ASSERT_EQ(0, put_one(self->fd, &k, 0, NULL, &id));
		if (!i)
			EXPECT_EQ(1, id);
		EXPECT_LT(prev, id);
		ASSERT_EQ(0, st_info(self->fd, &info));
		EXPECT_LT(id, info.next_bucket_id);
		prev = id;
	}
	/* delete the newest: its id is still never handed out again */
	newest = prev;
	ASSERT_EQ(0, st_delete(self->fd, newest, NULL));
	ASSERT_EQ(0, bk_attach(self, kvb_disk(0), 0, 0));
	EXPECT_LT(newest, self->info.next_bucket_id);
	for (i = 5; i < 8; i++) {
		snprintf(key, sizeof(key), "id-%d", i);
		k.key = key;
		k.klen = strlen(key);
		ASSERT_EQ(0, put_one(self->fd, &k, 0, NULL, &id));
		EXPECT_LT(prev, id);
		prev = id;
	}
	/* and again, with a bucket skipped by REPLACE */
	ASSERT_EQ(0, bk_attach(self, kvb_disk(0), 0, 0));
	k.gen = 1;
	ASSERT_EQ(0, put_one(self->fd, &k, KVB_OFFLOAD_REPLACE, NULL, &id));
	EXPECT_LT(prev, id);
	EXPECT_EQ(0, get_one(self->fd, &k));
}

TEST_F(bk, store_info_totals_exact)
{
	struct tkey a[2] = { { "ti-a", 4, 1111, 0 }, { "ti-b", 4, 2222, 0 } };
	struct tkey c = { "ti-c", 4, 333, 0 };
	struct tkey arep = { "ti-a", 4, 44, 1 };
	const char *const rb[] = { "ti-b" };
	struct kvb_obj_desc d[2];
	struct kvb_batch b;
	struct totals t = { 0, 0, 0 };
	uint64_t bc;

	EXPECT_INFO(t);
	EXPECT_EQ(0, self->info.used_bytes);
	ASSERT_EQ(0, put_batch(self->fd, a, 2, 0, NULL, &b));
	t = (struct totals){ 2, 1, 3333 };
	EXPECT_INFO(t);
	ASSERT_EQ(0, put_one(self->fd, &c, 0, NULL, &bc));
	t = (struct totals){ 3, 2, 3666 };
	EXPECT_INFO(t);
	/* skipped keys change nothing */
	ASSERT_EQ(0, put_batch(self->fd, a, 2, 0, NULL, &b));
	EXPECT_INFO(t);
	/* replace: a moves to a new bucket, its old bucket keeps b */
	ASSERT_EQ(0, put_one(self->fd, &arep, KVB_OFFLOAD_REPLACE, NULL, NULL));
	t = (struct totals){ 3, 3, 3666 - 1111 + 44 };
	EXPECT_INFO(t);
	/* removing b empties the first bucket */
	ASSERT_EQ(0, rm_keys(self->fd, rb, 1, d, &b));
	t = (struct totals){ 2, 2, 333 + 44 };
	EXPECT_INFO(t);
	ASSERT_EQ(0, st_delete(self->fd, bc, NULL));
	t = (struct totals){ 1, 1, 44 };
	EXPECT_INFO(t);
	/* a removed key again: nothing changes */
	ASSERT_EQ(0, rm_keys(self->fd, rb, 1, d, &b));
	EXPECT_EQ(-ENOENT, d[0].status);
	EXPECT_INFO(t);
	/* the library reports the same */
	{
		struct kvb_store *st;
		struct kvb_store_info li, ci;

		ASSERT_EQ(0, kvb_open(self->id, &st));
		ASSERT_EQ(0, kvb_store_info(st, &li));
		EXPECT_EQ(1, li.nr_keys);
		EXPECT_EQ(44, li.value_bytes);
		kvb_close(st);
		ASSERT_EQ(0, kvb_info(self->id, &ci));
		EXPECT_EQ(1, ci.nr_buckets);
	}
}

TEST_F_TIMEOUT(bk, full_store_evicts_enospc_only_too_big, 300)
{
	struct tkey k = { NULL, 0, 4096, 0 };
	struct kvb_store_info info;
	struct kvb_obj_desc d;
	struct kvb_batch b;
	unsigned int i, nchunks, gone;
	char key[32];
	unsigned char *mb;
	struct kvb_slice *s;

	/*
	 * 256 MiB, 32 MiB chunks: 7 chunks, one small bucket each. A full
	 * store evicts (FIFO by default) instead of failing: twice as many
	 * buckets as fit all go in, and what is gone is the oldest.
	 */
	ASSERT_EQ(0, bk_attach(self, kvb_disk(2), KVB_ATTACH_FORMAT,
			       32 << 20));
	ASSERT_EQ(32 << 20, self->info.chunk_size);
	nchunks = self->info.capacity_bytes / self->info.chunk_size;
	ASSERT_LE(4, nchunks);
	for (i = 0; i < 2 * nchunks; i++) {
		snprintf(key, sizeof(key), "full-%u", i);
		k.key = key;
		k.klen = strlen(key);
		k.gen = i;
		ASSERT_EQ(0, put_one(self->fd, &k, 0, &d, NULL)) TH_LOG("bucket %u", i);
		ASSERT_EQ(0, d.status);
	}
	/*
	 * The evicted ones are a prefix, in write order; the rest loads.
	 * Eviction may still be running: count again until it held still
	 * while the keys were queried (it stops at the low watermark).
	 */
	for (i = 0; i < 2 * nchunks; i++) {
		struct kvb_store_info after;

		ASSERT_EQ(0, st_info(self->fd, &info));
		for (gone = 0; gone < 2 * nchunks; gone++) {
			snprintf(key, sizeof(key), "full-%u", gone);
			if (query_status(self->fd, key, strlen(key)) == 0)
				break;
		}
		ASSERT_EQ(0, st_info(self->fd, &after));
		if (after.nr_evicted == info.nr_evicted)
			break;
	}
	EXPECT_EQ(info.nr_evicted, gone);
	EXPECT_LE(info.used_bytes, info.capacity_bytes);
	EXPECT_LE(nchunks, info.nr_evicted);
	EXPECT_EQ(info.nr_evicted, info.evicted_keys);
	EXPECT_EQ(info.nr_evicted * info.chunk_size, info.reclaimed_bytes);
	for (i = gone; i < 2 * nchunks; i++) {
		struct tkey o = { key, 0, 4096, i };

		snprintf(key, sizeof(key), "full-%u", i);
		o.klen = strlen(key);
		EXPECT_EQ(0, get_one(self->fd, &o)) TH_LOG("key %u", i);
	}

	/* a bucket larger than the whole store: ENOSPC, KVB_LIMIT_CAPACITY;
	 * one 1 MiB buffer repeated, so nothing big is allocated */
	mb = malloc(KVB_MIB);
	s = calloc(250, sizeof(*s));
	ASSERT_TRUE(mb && s);
	memset(mb, 1, KVB_MIB);
	for (i = 0; i < 250; i++)
		kvb_slice_init(&s[i], mb, KVB_MIB);
	ASSERT_LT(self->info.capacity_bytes, 250 * KVB_MIB);
	kvb_desc_init(&d, "too-big", 7, s, 250);
	EXPECT_EQ(-ENOSPC, st_batch(self->fd, KVB_IOC_OFFLOAD, &d, 1, 0, &b));
	EXPECT_EQ(KVB_LIMIT_CAPACITY, b.limit);
	EXPECT_EQ(-ENOENT, query_status(self->fd, "too-big", 7));
	free(mb);
	free(s);
}

TEST_HARNESS_MAIN
