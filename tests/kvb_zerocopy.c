// SPDX-License-Identifier: GPL-2.0
/*
 * Zero copy: OFFLOAD writes and LOAD reads the block-aligned blocks of a
 * value straight from and into the caller's pinned pages; the rest goes
 * through bounce pages. These tests check that both paths, and every mix
 * of them, give byte-exact round trips; that the direct path is taken
 * exactly where the rule says (the direct_bytes and bounce_bytes files in
 * sysfs against a model of the rule); that nothing outside the slices is
 * written; that padding on the device is zero; that bad or vanishing
 * memory fails the call with EFAULT and leaves the store as it was; and
 * that memory changed during an OFFLOAD gives EBADMSG, never wrong bytes.
 *
 * The rule (io.c): a block of a value (block_size bytes from a block
 * boundary of the value) goes direct when it lies inside one slice and its
 * user address is block aligned.
 */
#include <pthread.h>

#include "kselftest_harness.h"
#include "kvb_test.h"

FIXTURE(zc) {
	int ctl;
	int fd;
	uint32_t id;
	const char *disk;
	uint64_t bs;			/* the store's block size */
	struct kvb_store_info info;	/* right after attach */
};

static int zc_attach(FIXTURE_DATA(zc) *self, uint32_t flags)
{
	int ret;

	ret = store_attach_open(self->ctl, self->disk, flags, 0, 128 * KVB_MIB,
				0, &self->id, &self->fd, &self->info);
	self->bs = self->info.block_size;
	return ret;
}

static int zc_detach(FIXTURE_DATA(zc) *self)
{
	if (self->fd >= 0)
		close(self->fd);
	self->fd = -1;
	return ctl_detach(self->ctl, self->id);
}

FIXTURE_SETUP(zc)
{
	self->fd = -1;
	ASSERT_TRUE(module_loaded()) TH_LOG("kvbucket module not loaded");
	ASSERT_EQ(0, detach_all());
	self->disk = kvb_disk(0);
	ASSERT_NE(NULL, self->disk) TH_LOG("KVB_DISKS not set");
	self->ctl = ctl_open();
	ASSERT_LE(0, self->ctl);
	ASSERT_EQ(0, zc_attach(self, KVB_ATTACH_FORMAT));
	ASSERT_LE(4096, self->bs);
	ASSERT_EQ(0, self->bs % sysconf(_SC_PAGESIZE));
}

FIXTURE_TEARDOWN(zc)
{
	if (self->fd >= 0)
		close(self->fd);
	if (self->ctl >= 0)
		close(self->ctl);
	EXPECT_EQ(0, detach_all());
}

/* ---- counters and the model of the rule ------------------------------ */

struct ctr {
	uint64_t direct;
	uint64_t bounce;
};

static struct ctr ctr_get(struct __test_metadata *_metadata, uint32_t id)
{
	struct ctr c = { 0, 0 };

	EXPECT_EQ(0, sysfs_u64(id, "direct_bytes", &c.direct));
	EXPECT_EQ(0, sysfs_u64(id, "bounce_bytes", &c.bounce));
	return c;
}

/* The counters moved by exactly direct and bounce bytes since *c. */
#define EXPECT_MOVED(c, dir, bnc, what) do { \
	struct ctr __n = ctr_get(_metadata, self->id); \
	EXPECT_EQ((uint64_t)(dir), __n.direct - (c)->direct) TH_LOG("%s: direct", what); \
	EXPECT_EQ((uint64_t)(bnc), __n.bounce - (c)->bounce) TH_LOG("%s: bounce", what); \
	*(c) = __n; \
} while (0)

/* Bytes of a value given by these slices that the kernel moves direct. */
static uint64_t model_direct(const struct kvb_slice *s, unsigned int n,
			     uint64_t bs)
{
	uint64_t p = 0, direct = 0;
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint64_t first = (p + bs - 1) / bs * bs;
		uint64_t end = (p + s[i].len) / bs * bs;

		if (!((s[i].addr - p) & (bs - 1)) && first < end)
			direct += end - first;
		p += s[i].len;
	}
	return direct;
}

/* ---- memory ------------------------------------------------------------ */

/* len bytes of fresh anonymous memory at a block-aligned address. */
static unsigned char *amap(size_t len, uint64_t bs)
{
	size_t maplen = len + bs;
	unsigned char *p = mmap(NULL, maplen, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t a;

	if (p == MAP_FAILED)
		return NULL;
	a = ((uintptr_t)p + bs - 1) / bs * bs;
	return (unsigned char *)a;
}

/*
 * The shapes a value's slices take in a buffer of shape_size() bytes at a
 * block-aligned address:
 *  ALIGNED    one slice at the buffer's start;
 *  UNALIGNED  one slice at an odd address;
 *  MIXED      an aligned slice of 2 blocks; 100 bytes at an odd address;
 *             4 blocks - 100 bytes at an address that is aligned where the
 *             value's block 3 starts (so blocks 3..5 go direct, block 2
 *             does not); the rest at an aligned address;
 *  SPLIT      aligned slices of 1, 2, 3, ... blocks at scattered aligned
 *             addresses, the last one short when the length is.
 * MIXED needs a value of more than 6 blocks.
 */
enum shape { ALIGNED, UNALIGNED, MIXED, SPLIT, NR_SHAPES };

static const char *const shape_name[] = { "aligned", "unaligned", "mixed",
					  "split" };

#define MAX_SLICES	16

static size_t shape_size(size_t len, uint64_t bs)
{
	return 2 * len + 24 * bs;
}

static unsigned int shape_slices(enum shape sh, unsigned char *buf,
				 size_t len, uint64_t bs, struct kvb_slice *s)
{
	size_t p = 0, at = 0, k;
	unsigned int n = 0;

	switch (sh) {
	case ALIGNED:
		kvb_slice_init(&s[n++], buf, len);
		break;
	case UNALIGNED:
		kvb_slice_init(&s[n++], buf + 1, len);
		break;
	case MIXED:
		kvb_slice_init(&s[n++], buf, 2 * bs);
		kvb_slice_init(&s[n++], buf + 3 * bs + 3, 100);
		kvb_slice_init(&s[n++], buf + 5 * bs + 100, 4 * bs - 100);
		kvb_slice_init(&s[n++], buf + 10 * bs, len - 6 * bs);
		break;
	case SPLIT:
		for (k = 1; p < len && n < MAX_SLICES; k++) {
			size_t l = k * bs < len - p ? k * bs : len - p;

			if (n == MAX_SLICES - 1)
				l = len - p;
			kvb_slice_init(&s[n++], buf + at, l);
			p += l;
			at += (l + bs - 1) / bs * bs + bs;	/* a gap */
		}
		break;
	default:
		break;
	}
	return n;
}

/* Copy flat (the value) into the slices. */
static void scatter(const struct kvb_slice *s, unsigned int n,
		    const unsigned char *flat)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		memcpy((void *)(uintptr_t)s[i].addr, flat, s[i].len);
		flat += s[i].len;
	}
}

/*
 * -1 when the slices hold flat and every other byte of buf (size bytes) is
 * still fill; else the offset in buf of the first wrong byte.
 */
static long check_slices(const unsigned char *buf, size_t size,
			 const struct kvb_slice *s, unsigned int n,
			 const unsigned char *flat, unsigned char fill)
{
	unsigned char *in = calloc(size, 1);
	size_t i, p = 0;
	long bad = -1;
	unsigned int j;

	if (!in)
		return 0;
	for (j = 0; j < n; j++) {
		size_t o = s[j].addr - (uintptr_t)buf;

		for (i = 0; i < s[j].len; i++) {
			in[o + i] = 1;
			if (bad < 0 && buf[o + i] != flat[p + i])
				bad = (long)(o + i);
		}
		p += s[j].len;
	}
	for (i = 0; bad < 0 && i < size; i++)
		if (!in[i] && buf[i] != fill)
			bad = (long)i;
	free(in);
	return bad;
}

static int offload_slices(int fd, const char *key, struct kvb_slice *s,
			  unsigned int n, struct kvb_obj_desc *d)
{
	int ret;

	kvb_desc_init(d, key, strlen(key), s, n);
	ret = st_batch(fd, KVB_IOC_OFFLOAD, d, 1, 0, NULL);
	return ret ? ret : d->status;
}

static int load_slices(int fd, const char *key, struct kvb_slice *s,
		       unsigned int n)
{
	struct kvb_obj_desc d;
	int ret;

	kvb_desc_init(&d, key, strlen(key), s, n);
	ret = st_batch(fd, KVB_IOC_LOAD, &d, 1, 0, NULL);
	return ret ? ret : d.status;
}

/* ---- round trips ------------------------------------------------------- */

TEST_F(zc, counters_start_at_zero)
{
	struct ctr c = ctr_get(_metadata, self->id);
	struct stat sb;
	char path[128];

	EXPECT_EQ(0, c.direct);
	EXPECT_EQ(0, c.bounce);
	sysfs_path(path, sizeof(path), self->id, "direct_bytes");
	ASSERT_EQ(0, stat(path, &sb));
	EXPECT_EQ(0444, sb.st_mode & 0777);
	sysfs_path(path, sizeof(path), self->id, "bounce_bytes");
	ASSERT_EQ(0, stat(path, &sb));
	EXPECT_EQ(0444, sb.st_mode & 0777);
}

/*
 * One slice, aligned or not, for lengths around the block size: the whole
 * blocks of an aligned slice go direct, its tail and all of an unaligned
 * one are bounced; a LOAD writes nothing after the slice's end.
 */
TEST_F(zc, one_slice_lengths)
{
	const uint64_t bs = self->bs;
	const size_t lens[] = { 1, 100, bs - 1, bs, bs + 1, 3 * bs + 100,
				16 * bs, KVB_MIB, KVB_MIB + 1, 4 * KVB_MIB };
	struct ctr c = ctr_get(_metadata, self->id);
	unsigned int i, al;

	for (i = 0; i < ARRAY_LEN(lens); i++) {
		for (al = 0; al < 2; al++) {
			size_t len = lens[i], size = len + 2 * bs;
			unsigned char *w = amap(size, bs), *r = amap(size, bs);
			unsigned char *flat = malloc(len);
			size_t off = al ? 0 : 8;
			uint64_t dir = al ? len / bs * bs : 0;
			struct kvb_obj_desc d;
			struct kvb_slice s;
			char key[64], what[96];

			ASSERT_TRUE(w && r && flat);
			snprintf(key, sizeof(key), "one-%zu-%s", len,
				 al ? "aligned" : "unaligned");
			snprintf(what, sizeof(what), "%s", key);
			fill_value(key_seed(key, strlen(key), 0), flat, len);
			memcpy(w + off, flat, len);
			kvb_slice_init(&s, w + off, len);
			ASSERT_EQ(0, offload_slices(self->fd, key, &s, 1, &d));
			EXPECT_EQ(len, d.value_len);
			EXPECT_EQ(0, d.offset % bs);
			EXPECT_MOVED(&c, dir, len - dir, what);

			memset(r, 0x5a, size);
			kvb_slice_init(&s, r + off, len);
			ASSERT_EQ(0, load_slices(self->fd, key, &s, 1));
			EXPECT_EQ(-1, check_slices(r, size, &s, 1, flat, 0x5a))
				TH_LOG("%s", what);
			EXPECT_MOVED(&c, dir, len - dir, what);
			munmap(w, size);
			munmap(r, size);
			free(flat);
		}
	}
}

/*
 * Every write shape with every read shape, for a length that is a block
 * multiple and one that is not: byte-exact, nothing written outside the
 * read slices, and the counters as the model says.
 */
TEST_F_TIMEOUT(zc, every_shape_combination, 300)
{
	const uint64_t bs = self->bs;
	const size_t lens[] = { 10 * bs, 8 * bs + 777 };
	struct ctr c = ctr_get(_metadata, self->id);
	unsigned int li, ws, rs;

	for (li = 0; li < ARRAY_LEN(lens); li++) {
		size_t len = lens[li], size = shape_size(len, bs);
		unsigned char *w = amap(size, bs), *r = amap(size, bs);
		unsigned char *flat = malloc(len);

		ASSERT_TRUE(w && r && flat);
		for (ws = 0; ws < NR_SHAPES; ws++) {
			struct kvb_slice wsl[MAX_SLICES];
			unsigned int wn;
			uint64_t wd;
			struct kvb_obj_desc d;
			char key[64];

			snprintf(key, sizeof(key), "shape-%zu-%s", len,
				 shape_name[ws]);
			fill_value(key_seed(key, strlen(key), 0), flat, len);
			wn = shape_slices(ws, w, len, bs, wsl);
			wd = model_direct(wsl, wn, bs);
			if (ws == ALIGNED || ws == SPLIT)
				EXPECT_EQ(len / bs * bs, wd);
			if (ws == UNALIGNED)
				EXPECT_EQ(0, wd);
			if (ws == MIXED) {
				/* a real mix: both paths in one value */
				EXPECT_LT(0, wd);
				EXPECT_LT(wd, len);
			}
			memset(w, 0, size);
			scatter(wsl, wn, flat);
			ASSERT_EQ(0, offload_slices(self->fd, key, wsl, wn, &d))
				TH_LOG("%s", key);
			EXPECT_MOVED(&c, wd, len - wd, key);

			for (rs = 0; rs < NR_SHAPES; rs++) {
				struct kvb_slice rsl[MAX_SLICES];
				unsigned int rn = shape_slices(rs, r, len, bs,
							       rsl);
				uint64_t rd = model_direct(rsl, rn, bs);
				char what[96];

				snprintf(what, sizeof(what), "%s read %s", key,
					 shape_name[rs]);
				memset(r, 0x5a, size);
				ASSERT_EQ(0, load_slices(self->fd, key, rsl, rn))
					TH_LOG("%s", what);
				EXPECT_EQ(-1, check_slices(r, size, rsl, rn,
							   flat, 0x5a))
					TH_LOG("%s", what);
				EXPECT_MOVED(&c, rd, len - rd, what);
			}
		}
		munmap(w, size);
		munmap(r, size);
		free(flat);
	}
}

/*
 * An aligned value from read-only memory: pinned for reading only, so it
 * goes direct all the same.
 */
TEST_F(zc, offload_from_read_only_memory)
{
	const uint64_t bs = self->bs;
	size_t len = 32 * bs;
	unsigned char *w = amap(len, bs), *r = amap(len, bs);
	struct ctr c = ctr_get(_metadata, self->id);
	struct kvb_obj_desc d;
	struct kvb_slice s;
	uint64_t seed = key_seed("ro", 2, 0);

	ASSERT_TRUE(w && r);
	fill_value(seed, w, len);
	ASSERT_EQ(0, mprotect(w, len, PROT_READ));
	kvb_slice_init(&s, w, len);
	ASSERT_EQ(0, offload_slices(self->fd, "ro", &s, 1, &d));
	EXPECT_MOVED(&c, len, 0, "offload");
	kvb_slice_init(&s, r, len);
	ASSERT_EQ(0, load_slices(self->fd, "ro", &s, 1));
	EXPECT_EQ(-1, check_value(seed, r, len));
	EXPECT_MOVED(&c, len, 0, "load");
}

/* ---- many keys --------------------------------------------------------- */

#define NK	48

struct kset {
	char key[NK][32];
	size_t len[NK];
	uint64_t bucket[NK];
};

/*
 * Offload keys [first, first + n) of ks as one bucket, from aligned memory
 * for even keys and unaligned for odd ones.
 */
static void kset_offload(struct __test_metadata *_metadata, int fd,
			 struct kset *ks, unsigned int first, unsigned int n,
			 uint64_t bs)
{
	struct kvb_obj_desc d[NK];
	struct kvb_slice s[NK];
	unsigned char *buf[NK];
	struct kvb_batch b;
	unsigned int i;

	for (i = 0; i < n; i++) {
		unsigned int k = first + i;
		size_t off = k % 2 ? 3 : 0;

		buf[i] = amap(ks->len[k] + bs, bs);
		ASSERT_NE(NULL, buf[i]);
		fill_value(key_seed(ks->key[k], strlen(ks->key[k]), 0),
			   buf[i] + off, ks->len[k]);
		kvb_slice_init(&s[i], buf[i] + off, ks->len[k]);
		kvb_desc_init(&d[i], ks->key[k], strlen(ks->key[k]), &s[i], 1);
	}
	ASSERT_EQ(0, st_batch(fd, KVB_IOC_OFFLOAD, d, n, 0, &b));
	ASSERT_EQ(n, b.nr_done);
	for (i = 0; i < n; i++) {
		EXPECT_EQ(0, d[i].status);
		ks->bucket[first + i] = d[i].bucket_id;
		if (i)	/* one bucket, values in order, adjacent */
			EXPECT_EQ(d[i - 1].offset +
				  (d[i - 1].value_len + bs - 1) / bs * bs,
				  d[i].offset);
		munmap(buf[i], ks->len[first + i] + bs);
	}
}

/*
 * One LOAD of keys of two buckets, interleaved and in reverse order, with
 * a key twice, a missing key and a key whose destination has the wrong
 * length, destinations aligned and not: every status right, every byte
 * exact, and the counters as the model says for the keys loaded.
 */
static void kset_load_all(struct __test_metadata *_metadata,
			  FIXTURE_DATA(zc) *self, struct kset *ks)
{
	const uint64_t bs = self->bs;
	enum { N = NK + 3 };
	struct kvb_obj_desc d[N];
	struct kvb_slice s[N];
	unsigned char *buf[N];
	unsigned int i, k[N];
	uint64_t want_direct = 0, want_bounce = 0;
	struct ctr c = ctr_get(_metadata, self->id);
	struct kvb_batch b;

	for (i = 0; i < NK; i++)	/* 47, 23, 46, 22, ...: interleaved */
		k[i] = i % 2 ? NK / 2 - 1 - i / 2 : NK - 1 - i / 2;
	k[NK] = k[3];			/* twice */
	k[NK + 1] = NK;			/* missing */
	k[NK + 2] = 5;			/* wrong length */
	for (i = 0; i < N; i++) {
		size_t len = k[i] < NK ? ks->len[k[i]] : 100;
		size_t off = i % 3 ? 0 : 5;
		const char *key = k[i] < NK ? ks->key[k[i]] : "no-such-key";

		if (i == NK + 2)
			len += 1;
		buf[i] = amap(len + bs, bs);
		ASSERT_NE(NULL, buf[i]);
		memset(buf[i], 0x5a, len + bs);
		kvb_slice_init(&s[i], buf[i] + off, len);
		kvb_desc_init(&d[i], key, strlen(key), &s[i], 1);
		if (i < NK + 1) {
			uint64_t md = model_direct(&s[i], 1, bs);

			want_direct += md;
			want_bounce += len - md;
		}
	}
	ASSERT_EQ(0, st_batch(self->fd, KVB_IOC_LOAD, d, N, 0, &b));
	EXPECT_EQ(NK + 1, b.nr_done);
	for (i = 0; i < N; i++) {
		unsigned char *p = (unsigned char *)(uintptr_t)s[i].addr;

		if (i == NK + 1) {
			EXPECT_EQ(-ENOENT, d[i].status);
		} else if (i == NK + 2) {
			EXPECT_EQ(-EMSGSIZE, d[i].status);
			EXPECT_EQ(ks->len[5], d[i].value_len);
			EXPECT_EQ(0x5a, p[0]);
		} else {
			EXPECT_EQ(0, d[i].status) TH_LOG("key %u", k[i]);
			EXPECT_EQ(ks->bucket[k[i]], d[i].bucket_id);
			EXPECT_EQ(-1, check_value(key_seed(ks->key[k[i]],
						strlen(ks->key[k[i]]), 0), p,
						ks->len[k[i]]))
				TH_LOG("key %u", k[i]);
			EXPECT_EQ(0x5a, p[ks->len[k[i]]]);
		}
		munmap(buf[i], s[i].len + bs);
	}
	EXPECT_MOVED(&c, want_direct, want_bounce, "load");
}

TEST_F_TIMEOUT(zc, many_adjacent_keys_in_one_load, 300)
{
	struct kset *ks = calloc(1, sizeof(*ks));
	unsigned int i;

	ASSERT_NE(NULL, ks);
	for (i = 0; i < NK; i++) {
		snprintf(ks->key[i], sizeof(ks->key[i]), "adj-%02u", i);
		/* whole blocks, or not */
		ks->len[i] = i % 4 == 3 ? 5 * self->bs + 17 * i :
			     (i % 8 + 1) * self->bs;
	}
	kset_offload(_metadata, self->fd, ks, 0, NK / 2, self->bs);
	kset_offload(_metadata, self->fd, ks, NK / 2, NK / 2, self->bs);
	EXPECT_NE(ks->bucket[0], ks->bucket[NK - 1]);
	kset_load_all(_metadata, self, ks);

	/* what is on the device reads back the same after a cold attach */
	ASSERT_EQ(0, zc_detach(self));
	ASSERT_EQ(0, zc_attach(self, KVB_ATTACH_SCAN));
	EXPECT_EQ(NK, self->info.nr_keys);
	EXPECT_EQ(0, self->info.nr_damaged);
	kset_load_all(_metadata, self, ks);
	free(ks);
}

/*
 * More than the 32 MiB bounce window in one LOAD, bounced and direct:
 * several windows for the first, one for the second.
 */
TEST_F_TIMEOUT(zc, load_beyond_the_bounce_window, 300)
{
	const uint64_t bs = self->bs;
	enum { N = 40 };
	const size_t len = KVB_MIB;
	struct kvb_obj_desc d[N];
	struct kvb_slice s[N];
	unsigned char *buf = amap(N * (len + bs), bs);
	struct ctr c = ctr_get(_metadata, self->id);
	struct kvb_batch b;
	char key[N][16];
	unsigned int i, pass;

	ASSERT_NE(NULL, buf);
	for (i = 0; i < N; i++) {
		snprintf(key[i], sizeof(key[i]), "win-%02u", i);
		fill_value(key_seed(key[i], strlen(key[i]), 0),
			   buf + i * (len + bs), len);
		kvb_slice_init(&s[i], buf + i * (len + bs), len);
		kvb_desc_init(&d[i], key[i], strlen(key[i]), &s[i], 1);
	}
	ASSERT_EQ(0, st_batch(self->fd, KVB_IOC_OFFLOAD, d, N, 0, &b));
	ASSERT_EQ(N, b.nr_done);
	EXPECT_MOVED(&c, N * len, 0, "offload");

	for (pass = 0; pass < 2; pass++) {
		size_t off = pass ? 0 : 1;

		memset(buf, 0, N * (len + bs));
		for (i = 0; i < N; i++) {
			kvb_slice_init(&s[i], buf + i * (len + bs) + off, len);
			kvb_desc_init(&d[i], key[i], strlen(key[i]), &s[i], 1);
		}
		ASSERT_EQ(0, st_batch(self->fd, KVB_IOC_LOAD, d, N, 0, &b));
		EXPECT_EQ(N, b.nr_done);
		for (i = 0; i < N; i++) {
			EXPECT_EQ(0, d[i].status);
			EXPECT_EQ(-1, check_value(key_seed(key[i],
							   strlen(key[i]), 0),
						  buf + i * (len + bs) + off,
						  len))
				TH_LOG("pass %u key %u", pass, i);
		}
		EXPECT_MOVED(&c, pass ? N * len : 0, pass ? 0 : N * len,
			     pass ? "direct load" : "bounced load");
	}
}

/* ---- the device -------------------------------------------------------- */

/*
 * On a device full of 0xee, values written from aligned and unaligned
 * memory: every value byte is on the device and the padding after each
 * value up to its block boundary is zero, not stale bytes or kernel memory.
 */
TEST_F_TIMEOUT(zc, padding_on_the_device_is_zero, 120)
{
	const uint64_t bs = self->bs;
	const size_t lens[] = { 3 * bs + 100, 3 * bs + 100, 4 * bs, 1, bs - 1,
				7 * bs + 1 };
	enum { N = ARRAY_LEN(lens) };
	const size_t area = 16 * KVB_MIB;
	struct kvb_obj_desc d[N];
	struct kvb_slice s[N];
	unsigned char *buf[N], *dev = malloc(area);
	char key[N][16];
	unsigned int i;

	ASSERT_NE(NULL, dev);
	ASSERT_EQ(0, zc_detach(self));
	memset(dev, 0xee, area);
	ASSERT_EQ(0, raw_io(self->disk, 0, dev, area, true));
	ASSERT_EQ(0, zc_attach(self, KVB_ATTACH_FORMAT));

	for (i = 0; i < N; i++) {
		size_t off = i % 2 ? 9 : 0;

		snprintf(key[i], sizeof(key[i]), "pad-%u", i);
		buf[i] = amap(lens[i] + bs, bs);
		ASSERT_NE(NULL, buf[i]);
		fill_value(key_seed(key[i], strlen(key[i]), 0), buf[i] + off,
			   lens[i]);
		kvb_slice_init(&s[i], buf[i] + off, lens[i]);
		kvb_desc_init(&d[i], key[i], strlen(key[i]), &s[i], 1);
	}
	ASSERT_EQ(0, st_batch(self->fd, KVB_IOC_OFFLOAD, d, N, 0, NULL));
	ASSERT_EQ(0, zc_detach(self));
	ASSERT_EQ(0, raw_io(self->disk, 0, dev, area, false));
	for (i = 0; i < N; i++) {
		uint64_t end = (d[i].offset + lens[i] + bs - 1) / bs * bs, o;

		ASSERT_EQ(0, d[i].status);
		ASSERT_LE(end, area);
		EXPECT_EQ(-1, check_value(key_seed(key[i], strlen(key[i]), 0),
					  dev + d[i].offset, lens[i]))
			TH_LOG("value %u", i);
		for (o = d[i].offset + lens[i]; o < end; o++)
			if (dev[o] != 0)
				break;
		EXPECT_EQ(end, o) TH_LOG("value %u: padding byte %llu", i,
					 (unsigned long long)(o - d[i].offset));
		munmap(buf[i], lens[i] + bs);
	}
	free(dev);
	ASSERT_EQ(0, zc_attach(self, 0));
}

/*
 * A value damaged on the device: a direct LOAD says EBADMSG (the caller's
 * memory holds the bad bytes), a bounced one says EBADMSG without writing
 * the destination; neither counts as moved.
 */
TEST_F_TIMEOUT(zc, damaged_value_direct_and_bounced, 120)
{
	const uint64_t bs = self->bs;
	const size_t len = 16 * bs;
	unsigned char *w = amap(len + bs, bs), *r = amap(len + bs, bs);
	unsigned char blk[4096];
	struct kvb_obj_desc d;
	struct kvb_slice s;
	struct ctr c;
	uint64_t at;

	ASSERT_TRUE(w && r);
	fill_value(key_seed("bad", 3, 0), w, len);
	kvb_slice_init(&s, w, len);
	ASSERT_EQ(0, offload_slices(self->fd, "bad", &s, 1, &d));
	at = d.offset + 5 * bs;
	ASSERT_EQ(0, zc_detach(self));
	ASSERT_EQ(0, raw_io(self->disk, at, blk, sizeof(blk), false));
	blk[1000] ^= 0x01;
	ASSERT_EQ(0, raw_io(self->disk, at, blk, sizeof(blk), true));
	ASSERT_EQ(0, zc_attach(self, 0));
	c = ctr_get(_metadata, self->id);

	kvb_slice_init(&s, r, len);
	EXPECT_EQ(-EBADMSG, load_slices(self->fd, "bad", &s, 1));
	kvb_slice_init(&s, r + 1, len);
	memset(r, 0x5a, len + bs);
	EXPECT_EQ(-EBADMSG, load_slices(self->fd, "bad", &s, 1));
	EXPECT_EQ(-1, check_slices(r, len + bs, &s, 0, NULL, 0x5a));
	EXPECT_MOVED(&c, 0, 0, "bad loads");
	EXPECT_EQ(0, query_status(self->fd, "bad", 3));
}

/* ---- bad memory -------------------------------------------------------- */

/*
 * Aligned destinations that cannot be written: a page unmapped or
 * read-only in the middle of one of two values, or the whole of it
 * read-only. The call fails with EFAULT before any I/O: the other
 * destination is not written either, nothing moves, the store is the same.
 */
TEST_F(zc, load_efault_aligned_destination)
{
	const uint64_t bs = self->bs;
	const size_t len = 16 * bs, pg = sysconf(_SC_PAGESIZE);
	unsigned char *w = amap(len, bs), *r0, *r1;
	struct kvb_obj_desc d[2];
	struct kvb_slice s[2];
	struct kvb_store_info before, after;
	struct ctr c;
	unsigned int how;

	ASSERT_NE(NULL, w);
	fill_value(key_seed("ef-a", 4, 0), w, len);
	kvb_slice_init(&s[0], w, len);
	ASSERT_EQ(0, offload_slices(self->fd, "ef-a", &s[0], 1, &d[0]));
	fill_value(key_seed("ef-b", 4, 0), w, len);
	ASSERT_EQ(0, offload_slices(self->fd, "ef-b", &s[0], 1, &d[0]));
	ASSERT_EQ(0, st_info(self->fd, &before));
	c = ctr_get(_metadata, self->id);

	for (how = 0; how < 3; how++) {
		r0 = amap(len, bs);
		r1 = amap(len, bs);
		ASSERT_TRUE(r0 && r1);
		memset(r0, 0x5a, len);
		memset(r1, 0x5a, len);
		if (how == 0) {
			ASSERT_EQ(0, munmap(r1 + 7 * pg, pg));
		} else if (how == 1) {
			ASSERT_EQ(0, mprotect(r1 + 7 * pg, pg, PROT_READ));
		} else {
			ASSERT_EQ(0, mprotect(r1, len, PROT_READ));
		}
		kvb_slice_init(&s[0], r0, len);
		kvb_slice_init(&s[1], r1, len);
		kvb_desc_init(&d[0], "ef-a", 4, &s[0], 1);
		kvb_desc_init(&d[1], "ef-b", 4, &s[1], 1);
		EXPECT_EQ(-EFAULT, st_batch(self->fd, KVB_IOC_LOAD, d, 2, 0,
					    NULL)) TH_LOG("case %u", how);
		EXPECT_EQ(-1, check_slices(r0, len, s, 0, NULL, 0x5a))
			TH_LOG("case %u: first destination written", how);
		if (how == 0) {
			EXPECT_EQ(-1, check_slices(r1, 7 * pg, s, 0, NULL,
						   0x5a));
		} else {
			EXPECT_EQ(-1, check_slices(r1, len, s, 0, NULL, 0x5a))
				TH_LOG("case %u: second destination written",
				       how);
		}
		EXPECT_MOVED(&c, 0, 0, "EFAULT");
	}
	ASSERT_EQ(0, st_info(self->fd, &after));
	EXPECT_EQ(before.nr_keys, after.nr_keys);
	EXPECT_EQ(before.used_bytes, after.used_bytes);
	/* both values are intact */
	r0 = amap(len, bs);
	ASSERT_NE(NULL, r0);
	kvb_slice_init(&s[0], r0, len);
	ASSERT_EQ(0, load_slices(self->fd, "ef-b", &s[0], 1));
	EXPECT_EQ(-1, check_value(key_seed("ef-b", 4, 0), r0, len));
	ASSERT_EQ(0, load_slices(self->fd, "ef-a", &s[0], 1));
	EXPECT_EQ(-1, check_value(key_seed("ef-a", 4, 0), r0, len));
}

/* An aligned source with an unmapped or PROT_NONE page: EFAULT, no change. */
TEST_F(zc, offload_efault_aligned_source)
{
	const uint64_t bs = self->bs;
	const size_t len = 16 * bs, pg = sysconf(_SC_PAGESIZE);
	struct kvb_store_info before;
	struct kvb_obj_desc d[2];
	struct kvb_slice s[2];
	unsigned char *good = amap(len, bs), *bad;
	struct ctr c = ctr_get(_metadata, self->id);
	unsigned int how;

	ASSERT_NE(NULL, good);
	fill_value(1, good, len);
	ASSERT_EQ(0, st_info(self->fd, &before));
	for (how = 0; how < 2; how++) {
		bad = amap(len, bs);
		ASSERT_NE(NULL, bad);
		fill_value(2, bad, len);
		if (how == 0) {
			ASSERT_EQ(0, munmap(bad + 9 * pg, pg));
		} else {
			ASSERT_EQ(0, mprotect(bad + 9 * pg, pg, PROT_NONE));
		}
		kvb_slice_init(&s[0], good, len);
		kvb_slice_init(&s[1], bad, len);
		kvb_desc_init(&d[0], "src-good", 8, &s[0], 1);
		kvb_desc_init(&d[1], "src-bad", 7, &s[1], 1);
		EXPECT_EQ(-EFAULT, st_batch(self->fd, KVB_IOC_OFFLOAD, d, 2, 0,
					    NULL)) TH_LOG("case %u", how);
		EXPECT_TOTALS(_metadata, self->fd, &before);
		EXPECT_EQ(-ENOENT, query_status(self->fd, "src-good", 8));
		EXPECT_EQ(-ENOENT, query_status(self->fd, "src-bad", 7));
		EXPECT_MOVED(&c, 0, 0, "EFAULT");
	}
}

/* ---- memory that changes during the call ------------------------------- */

struct racer {
	pthread_t th;
	unsigned char *page;
	size_t pg;
	volatile int stop;
	int mode;		/* 0: unmap and map again; 1: rewrite */
	int failed;		/* errno of a failed mmap */
	unsigned long rounds;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	volatile unsigned long spin;

	while (!r->stop) {
		/*
		 * Leave the page as it is for a while every other round, so
		 * that calls see it mapped as well as vanishing.
		 */
		for (spin = 0; r->rounds % 2 && spin < 20000; spin++)
			;
		if (r->mode == 0) {
			void *p;

			if (munmap(r->page, r->pg)) {
				r->failed = errno;
				break;
			}
			/* a fresh page: reads as zeros, like the one before */
			p = mmap(r->page, r->pg, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS |
				 MAP_FIXED_NOREPLACE, -1, 0);
			if (p != r->page) {
				r->failed = p == MAP_FAILED ? errno : EEXIST;
				break;
			}
		} else {
			memset(r->page, r->rounds % 2 ? 0x55 : 0xaa, r->pg);
		}
		r->rounds++;
	}
	return NULL;
}

static int racer_start(struct racer *r, unsigned char *page, int mode)
{
	memset(r, 0, sizeof(*r));
	r->page = page;
	r->pg = sysconf(_SC_PAGESIZE);
	r->mode = mode;
	return pthread_create(&r->th, NULL, racer_main, r);
}

static void racer_stop(struct racer *r)
{
	r->stop = 1;
	pthread_join(r->th, NULL);
}

#define RACE_ROUNDS	150

/*
 * OFFLOAD of aligned values while another thread unmaps and maps again a
 * page in the middle of the source (a page never written, so it reads as
 * zeros whichever mapping the kernel sees): every call succeeds or fails
 * with EFAULT; a failed one stored nothing, a successful one stored exactly
 * the value, and the totals add up.
 */
TEST_F_TIMEOUT(zc, offload_while_source_unmapped, 300)
{
	const uint64_t bs = self->bs;
	const size_t len = 16 * bs, pg = sysconf(_SC_PAGESIZE);
	unsigned char *w = amap(len, bs), *r = amap(len, bs);
	unsigned char *want = malloc(len);
	static char key[RACE_ROUNDS][16];
	bool ok[RACE_ROUNDS];
	struct kvb_obj_desc d;
	struct kvb_slice s;
	struct kvb_store_info info;
	struct racer rc;
	unsigned int i, nok = 0, nfault = 0;

	ASSERT_TRUE(w && r && want);
	fill_value(7, w, len);
	memset(w + 8 * pg, 0, pg);
	memcpy(want, w, len);
	/* a fresh mapping: never touched */
	ASSERT_EQ(0, munmap(w + 8 * pg, pg));
	ASSERT_EQ(w + 8 * pg, mmap(w + 8 * pg, pg, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS |
				   MAP_FIXED_NOREPLACE, -1, 0));
	for (i = 0; i < RACE_ROUNDS; i++)
		snprintf(key[i], sizeof(key[i]), "race-%03u", i);
	kvb_slice_init(&s, w, len);

	ASSERT_EQ(0, racer_start(&rc, w + 8 * pg, 0));
	for (i = 0; i < RACE_ROUNDS; i++) {
		int ret;

		kvb_desc_init(&d, key[i], strlen(key[i]), &s, 1);
		ret = st_batch(self->fd, KVB_IOC_OFFLOAD, &d, 1, 0, NULL);
		ok[i] = !ret;
		if (!ret) {
			EXPECT_EQ(0, d.status);
			nok++;
		} else {
			EXPECT_EQ(-EFAULT, ret) TH_LOG("round %u", i);
			nfault++;
		}
	}
	racer_stop(&rc);
	ASSERT_EQ(0, rc.failed);
	TH_LOG("%u stored, %u EFAULT, %lu unmaps", nok, nfault, rc.rounds);

	for (i = 0; i < RACE_ROUNDS; i++) {
		if (!ok[i]) {
			EXPECT_EQ(-ENOENT, query_status(self->fd, key[i],
							strlen(key[i])));
			continue;
		}
		memset(r, 0x5a, len);
		kvb_slice_init(&s, r, len);
		ASSERT_EQ(0, load_slices(self->fd, key[i], &s, 1))
			TH_LOG("round %u", i);
		EXPECT_EQ(0, memcmp(r, want, len)) TH_LOG("round %u", i);
	}
	ASSERT_EQ(0, st_info(self->fd, &info));
	EXPECT_EQ(nok, info.nr_keys);
	EXPECT_EQ(nok, info.nr_buckets);
	EXPECT_EQ(nok * len, info.value_bytes);
}

/*
 * LOAD into aligned memory while another thread unmaps and maps again a
 * page of the destination: every call succeeds (the rest of the
 * destination then holds the value) or fails with EFAULT; the store does
 * not change.
 */
TEST_F_TIMEOUT(zc, load_while_destination_unmapped, 300)
{
	const uint64_t bs = self->bs;
	const size_t len = 16 * bs, pg = sysconf(_SC_PAGESIZE);
	unsigned char *w = amap(len, bs), *r = amap(len, bs);
	uint64_t seed = key_seed("lr", 2, 0);
	struct kvb_store_info before, after;
	struct kvb_obj_desc d;
	struct kvb_slice s;
	struct racer rc;
	unsigned int i, nok = 0, nfault = 0;

	ASSERT_TRUE(w && r);
	fill_value(seed, w, len);
	kvb_slice_init(&s, w, len);
	ASSERT_EQ(0, offload_slices(self->fd, "lr", &s, 1, &d));
	ASSERT_EQ(0, st_info(self->fd, &before));

	kvb_slice_init(&s, r, len);
	ASSERT_EQ(0, racer_start(&rc, r + 8 * pg, 0));
	for (i = 0; i < RACE_ROUNDS; i++) {
		int ret;

		kvb_desc_init(&d, "lr", 2, &s, 1);
		ret = st_batch(self->fd, KVB_IOC_LOAD, &d, 1, 0, NULL);
		if (!ret) {
			EXPECT_EQ(0, d.status) TH_LOG("round %u", i);
			/* the pages that stay mapped */
			EXPECT_EQ(-1, check_value(seed, r, 8 * pg));
			nok++;
		} else {
			EXPECT_EQ(-EFAULT, ret) TH_LOG("round %u", i);
			nfault++;
		}
	}
	racer_stop(&rc);
	ASSERT_EQ(0, rc.failed);
	TH_LOG("%u loaded, %u EFAULT, %lu unmaps", nok, nfault, rc.rounds);
	ASSERT_EQ(0, st_info(self->fd, &after));
	EXPECT_EQ(before.nr_keys, after.nr_keys);
	EXPECT_EQ(before.used_bytes, after.used_bytes);
	memset(w, 0, len);
	kvb_slice_init(&s, w, len);
	ASSERT_EQ(0, load_slices(self->fd, "lr", &s, 1));
	EXPECT_EQ(-1, check_value(seed, w, len));
}

/*
 * OFFLOAD of aligned values while another thread rewrites a page of the
 * source with 0xaa or 0x55 (breaking the rule that the caller leaves it
 * alone): a LOAD then says EBADMSG, or 0 with every byte of that page one
 * of the two and the rest exact. Never other bytes.
 */
TEST_F_TIMEOUT(zc, source_modified_during_offload, 300)
{
	const uint64_t bs = self->bs;
	const size_t len = 16 * bs, pg = sysconf(_SC_PAGESIZE);
	unsigned char *w = amap(len, bs), *r = amap(len, bs);
	unsigned char *want = malloc(len);
	static char key[RACE_ROUNDS][16];
	struct kvb_obj_desc d;
	struct kvb_slice s;
	struct racer rc;
	unsigned int i, nbad = 0;
	size_t j;

	ASSERT_TRUE(w && r && want);
	fill_value(9, w, len);
	memcpy(want, w, len);
	/* the page holds 0xaa or 0x55 all along */
	memset(w + 4 * pg, 0xaa, pg);
	for (i = 0; i < RACE_ROUNDS; i++)
		snprintf(key[i], sizeof(key[i]), "mod-%03u", i);
	kvb_slice_init(&s, w, len);
	ASSERT_EQ(0, racer_start(&rc, w + 4 * pg, 1));
	for (i = 0; i < RACE_ROUNDS; i++) {
		kvb_desc_init(&d, key[i], strlen(key[i]), &s, 1);
		ASSERT_EQ(0, st_batch(self->fd, KVB_IOC_OFFLOAD, &d, 1, 0,
				      NULL));
		EXPECT_EQ(0, d.status);
	}
	racer_stop(&rc);

	for (i = 0; i < RACE_ROUNDS; i++) {
		int ret;

		memset(r, 0, len);
		kvb_slice_init(&s, r, len);
		ret = load_slices(self->fd, key[i], &s, 1);
		if (ret == -EBADMSG) {
			nbad++;
			continue;
		}
		ASSERT_EQ(0, ret) TH_LOG("round %u", i);
		EXPECT_EQ(0, memcmp(r, want, 4 * pg)) TH_LOG("round %u", i);
		EXPECT_EQ(0, memcmp(r + 5 * pg, want + 5 * pg, len - 5 * pg))
			TH_LOG("round %u", i);
		for (j = 4 * pg; j < 5 * pg; j++)
			if (r[j] != 0xaa && r[j] != 0x55)
				break;
		EXPECT_EQ(5 * pg, j) TH_LOG("round %u: byte %zu", i, j);
	}
	TH_LOG("%u of %u values changed under the OFFLOAD (EBADMSG), %lu rewrites",
	       nbad, RACE_ROUNDS, rc.rounds);
}

TEST_HARNESS_MAIN
