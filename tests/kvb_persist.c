// SPDX-License-Identifier: GPL-2.0
/*
 * Persistence: what a store holds survives detach + re-attach, a module
 * reload, and an rmmod with the store still attached. Keys are offloaded
 * through libkvbucket (so the library's verbs are exercised too) and
 * verified through raw ioctls, byte for byte.
 */
#include "kselftest_harness.h"
#include "kvb_test.h"

#define NR_KEYS		300
#define PER_BUCKET	10
#define NR_BUCKETS	(NR_KEYS / PER_BUCKET)
#define MAX_VLEN	8192

FIXTURE(ps) {
	int ctl;
	uint32_t id;
	const char *disk;
	char keys[NR_KEYS][32];
	bool alive[NR_KEYS];
	uint64_t bucket[NR_BUCKETS];
	uint64_t max_id;
	struct kvb_store_info info;	/* after populate */
	uint32_t attach_flags;		/* populate()'s, besides FORMAT */
	int extra;			/* keys verify() added, 100 bytes each */
	char extra_keys[4][32];
};

FIXTURE_SETUP(ps)
{
	int i;

	ASSERT_TRUE(module_loaded()) TH_LOG("kvbucket module not loaded");
	ASSERT_EQ(0, detach_all());
	self->disk = kvb_disk(1);
	ASSERT_NE(NULL, self->disk) TH_LOG("KVB_DISKS needs 2 disks");
	self->ctl = ctl_open();
	ASSERT_LE(0, self->ctl);
	for (i = 0; i < NR_KEYS; i++)
		mk_key(self->keys[i], sizeof(self->keys[i]), "persist", i);
}

FIXTURE_TEARDOWN(ps)
{
	/* a test that failed half-way through a reload */
	if (!module_loaded())
		EXPECT_EQ(0, module_load());
	if (self->ctl >= 0)
		close(self->ctl);
	EXPECT_EQ(0, detach_all());
}

static struct tkey key_of(FIXTURE_DATA(ps) *self, int i)
{
	return (struct tkey){ self->keys[i], strlen(self->keys[i]),
			      value_len_of(i, MAX_VLEN), 0 };
}

/*
 * Format, offload NR_KEYS keys in NR_BUCKETS buckets through the library,
 * remove every 7th key, delete two buckets. Leaves the store attached
 * and no fd open.
 */
static void populate(struct __test_metadata *_metadata,
		     FIXTURE_DATA(ps) *self)
{
	struct kvb_attach_opts ao = {
		.flags = KVB_ATTACH_FORMAT | self->attach_flags,
	};
	struct kvb_obj_desc d[PER_BUCKET];
	struct kvb_slice s[PER_BUCKET];
	static unsigned char v[PER_BUCKET][MAX_VLEN];
	struct kvb_store *st;
	uint32_t nr;
	int i, j;

	ASSERT_EQ(0, kvb_attach(self->disk, &ao, &self->id));
	ASSERT_EQ(0, kvb_open(self->id, &st));
	for (i = 0; i < NR_BUCKETS; i++) {
		for (j = 0; j < PER_BUCKET; j++) {
			struct tkey k = key_of(self, i * PER_BUCKET + j);

			fill_value(tkey_seed(&k), v[j], k.vlen);
			kvb_slice_init(&s[j], v[j], k.vlen);
			kvb_desc_init(&d[j], k.key, k.klen, &s[j], 1);
		}
		ASSERT_EQ(PER_BUCKET, kvb_offload(st, d, PER_BUCKET, 0,
						  &self->bucket[i], NULL));
		if (i)
			ASSERT_LT(self->bucket[i - 1], self->bucket[i]);
	}
	self->max_id = self->bucket[NR_BUCKETS - 1];
	for (i = 0; i < NR_KEYS; i++)
		self->alive[i] = true;

	/* remove every 7th key (in batches of up to 10) */
	for (i = 3, j = 0; i < NR_KEYS; i += 7) {
		kvb_desc_init(&d[j++], self->keys[i], strlen(self->keys[i]),
			      NULL, 0);
		self->alive[i] = false;
		if (j == PER_BUCKET || i + 7 >= NR_KEYS) {
			ASSERT_EQ(j, kvb_remove(st, d, j));
			j = 0;
		}
	}
	/* delete two buckets, one of them the newest */
	ASSERT_EQ(0, kvb_delete_bucket(st, self->bucket[5], &nr));
	for (j = 0; j < PER_BUCKET; j++)
		self->alive[5 * PER_BUCKET + j] = false;
	ASSERT_EQ(0, kvb_delete_bucket(st, self->bucket[NR_BUCKETS - 1], &nr));
	for (j = 0; j < PER_BUCKET; j++)
		self->alive[(NR_BUCKETS - 1) * PER_BUCKET + j] = false;
	ASSERT_EQ(0, kvb_store_info(st, &self->info));
	kvb_close(st);
}

/* Every key that should be there loads byte-exact; the others are gone. */
static void verify(struct __test_metadata *_metadata, FIXTURE_DATA(ps) *self)
{
	struct kvb_store_info info;
	struct tkey k[PER_BUCKET];
	int status[PER_BUCKET], i, j, fd, live = 0;
	uint64_t bytes = 0;

	fd = store_open(self->id);
	ASSERT_LE(0, fd);
	for (i = 0; i < NR_KEYS; i += PER_BUCKET) {
		for (j = 0; j < PER_BUCKET; j++)
			k[j] = key_of(self, i + j);
		ASSERT_EQ(0, get_batch(fd, k, PER_BUCKET, status));
		for (j = 0; j < PER_BUCKET; j++) {
			EXPECT_EQ(self->alive[i + j] ? 0 : -ENOENT, status[j])
				TH_LOG("key %d", i + j);
			if (self->alive[i + j]) {
				live++;
				bytes += k[j].vlen;
			}
		}
	}
	/* the keys earlier verify() calls added are still there */
	for (i = 0; i < self->extra; i++) {
		struct tkey n = { self->extra_keys[i],
				  strlen(self->extra_keys[i]), 100, 0 };

		EXPECT_EQ(0, get_one(fd, &n));
		live++;
		bytes += 100;
	}
	ASSERT_EQ(0, st_info(fd, &info));
	EXPECT_EQ(live, info.nr_keys);
	EXPECT_EQ(bytes, info.value_bytes);
	EXPECT_EQ(self->info.nr_keys, info.nr_keys);
	EXPECT_EQ(self->info.nr_buckets, info.nr_buckets);
	EXPECT_EQ(self->info.value_bytes, info.value_bytes);
	EXPECT_EQ(self->info.used_bytes, info.used_bytes);
	EXPECT_EQ(self->info.capacity_bytes, info.capacity_bytes);
	EXPECT_EQ(0, memcmp(self->info.uuid, info.uuid, sizeof(info.uuid)));
	EXPECT_EQ(0, info.flags & KVB_INFO_FORMATTED);
	EXPECT_EQ(0, info.nr_damaged);
	EXPECT_EQ(0, info.nr_torn);
	/* the deleted buckets stay deleted */
	EXPECT_EQ(-ENOENT, st_delete(fd, self->bucket[5], NULL));
	EXPECT_EQ(-ENOENT, st_delete(fd, self->bucket[NR_BUCKETS - 1], NULL));
	/* ids continue above everything handed out, even the deleted newest */
	EXPECT_LT(self->max_id, info.next_bucket_id);
	{
		char *name = self->extra_keys[self->extra];
		struct tkey n = { name, 0, 100, 0 };
		uint64_t id;

		ASSERT_LT(self->extra, 4);
		snprintf(name, sizeof(self->extra_keys[0]), "after-reattach-%d",
			 self->extra);
		n.klen = strlen(name);
		self->extra++;

		ASSERT_EQ(0, put_one(fd, &n, 0, NULL, &id));
		EXPECT_LT(self->max_id, id);
		EXPECT_EQ(0, get_one(fd, &n));
		self->max_id = id;
	}
	close(fd);
}

TEST_F_TIMEOUT(ps, detach_reattach_keeps_everything, 300)
{
	struct kvb_store_info info;

	populate(_metadata, self);
	ASSERT_EQ(0, ctl_detach(self->ctl, self->id));
	/* a clean detach left a checkpoint: a warm start */
	ASSERT_EQ(0, ctl_attach(self->ctl, self->disk, 0, 0, 0, 0, &self->id));
	ASSERT_EQ(0, ctl_info(self->ctl, self->id, &info));
	EXPECT_EQ(KVB_INFO_WARM, info.flags & KVB_INFO_WARM);
	verify(_metadata, self);
	/*
	 * twice, now scanning every bucket (a cold start, as after a crash):
	 * the store written by the first re-attach is fine too
	 */
	ASSERT_EQ(0, ctl_detach(self->ctl, self->id));
	ASSERT_EQ(0, ctl_attach(self->ctl, self->disk, KVB_ATTACH_SCAN, 0, 0, 0,
				&self->id));
	ASSERT_EQ(0, ctl_info(self->ctl, self->id, &info));
	EXPECT_EQ(0, info.flags & KVB_INFO_WARM);
	self->info.nr_keys++;	/* the key verify() added */
	self->info.nr_buckets++;
	self->info.value_bytes += 100;
	self->info.used_bytes += self->info.chunk_size;
	verify(_metadata, self);
}

/*
 * A volatile store skips the cache flushes, but a clean detach still leaves
 * everything on the device: the re-attach (cold, and not volatile) finds
 * every key byte-exact and nothing removed.
 */
TEST_F_TIMEOUT(ps, volatile_store_keeps_everything_after_detach, 300)
{
	self->attach_flags = KVB_ATTACH_VOLATILE;
	populate(_metadata, self);
	EXPECT_EQ(KVB_INFO_VOLATILE, self->info.flags & KVB_INFO_VOLATILE);
	ASSERT_EQ(0, ctl_detach(self->ctl, self->id));
	ASSERT_EQ(0, ctl_attach(self->ctl, self->disk, KVB_ATTACH_SCAN, 0, 0, 0,
				&self->id));
	verify(_metadata, self);
}

TEST_F_TIMEOUT(ps, module_reload_keeps_everything, 300)
{
	populate(_metadata, self);
	ASSERT_EQ(0, ctl_detach(self->ctl, self->id));
	close(self->ctl);
	self->ctl = -1;
	ASSERT_EQ(0, module_unload());
	ASSERT_FALSE(module_loaded());
	ASSERT_EQ(0, module_load());
	ASSERT_TRUE(module_loaded());
	self->ctl = ctl_open();
	ASSERT_LE(0, self->ctl);
	EXPECT_EQ(0, ctl_list(self->ctl, NULL, 0));
	/* cold: scan every bucket */
	ASSERT_EQ(0, ctl_attach(self->ctl, self->disk, KVB_ATTACH_SCAN, 0, 0, 0,
				&self->id));
	verify(_metadata, self);
}

TEST_F_TIMEOUT(ps, rmmod_with_store_attached, 300)
{
	int fd;

	populate(_metadata, self);
	close(self->ctl);
	self->ctl = -1;
	/* an open store fd pins the module */
	fd = store_open(self->id);
	ASSERT_LE(0, fd);
	EXPECT_NE(0, module_unload());
	EXPECT_TRUE(module_loaded());
	close(fd);
	/* with no fd open, rmmod detaches the store cleanly */
	ASSERT_EQ(0, module_unload());
	ASSERT_FALSE(module_loaded());
	ASSERT_EQ(0, module_load());
	self->ctl = ctl_open();
	ASSERT_LE(0, self->ctl);
	EXPECT_EQ(0, ctl_list(self->ctl, NULL, 0));
	ASSERT_EQ(0, ctl_attach(self->ctl, self->disk, 0, 0, 0, 0, &self->id));
	verify(_metadata, self);
}

TEST_HARNESS_MAIN
