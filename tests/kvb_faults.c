// SPDX-License-Identifier: GPL-2.0
/*
 * Faults: what the store does when the device fails or lies.
 *
 *  - I/O errors, injected deterministically by switching the table of a
 *    device-mapper device (linear -> error / flakey error_writes ->
 *    linear) under an attached store: failed calls change nothing, reads
 *    fail per key, detach completes, and everything acknowledged before
 *    the errors is there afterwards, byte for byte.
 *  - Corruption: bytes flipped on the raw device while the store is not
 *    attached (superblock copies, bucket header, object table, key, value,
 *    commit record, index checkpoint). Attach skips what is damaged and
 *    keeps everything else; kvbucket-inspect --check names the damage.
 *
 * No timing: every fault is in place before the call that meets it.
 */
#include "kselftest_harness.h"
#include "kvb_test.h"

#include <endian.h>
#include <stddef.h>
#include <linux/fs.h>
#include <linux/kvbucket_format.h>

#define BATCH_MAX	16	/* keys per offload in these tests */

/* ---- running a tool -------------------------------------------------- */

struct run {
	int status;		/* exit status, or 128 + signal */
	char out[16384];	/* stdout, truncated */
	char err[4096];		/* stderr, truncated */
};

/* Read all of fd into buf (NUL-terminated, truncated to len - 1). */
static void drain(int fd, char *buf, size_t len)
{
	char sink[4096];
	size_t n = 0;
	ssize_t r;

	for (;;) {
		if (n < len - 1)
			r = read(fd, buf + n, len - 1 - n);
		else
			r = read(fd, sink, sizeof(sink));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (n < len - 1)
			n += r;
	}
	buf[n] = 0;
}

/*
 * Run argv (argv[0] a tool of build/bin or of PATH), stdin /dev/null.
 * Returns the exit status (r->status), or -errno if it could not run.
 * Small outputs only: stderr must fit a pipe while stdout is read.
 */
static int run_argv(struct run *r, char *const argv[])
{
	int pout[2], perr[2], st, nul;
	char path[512];
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	if (pipe2(pout, O_CLOEXEC))
		return -errno;
	if (pipe2(perr, O_CLOEXEC)) {
		close(pout[0]);
		close(pout[1]);
		return -errno;
	}
	tool_path(argv[0], path, sizeof(path));
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		nul = open("/dev/null", O_RDONLY);
		if (nul >= 0)
			dup2(nul, 0);
		dup2(pout[1], 1);
		dup2(perr[1], 2);
		execvp(path, argv);
		fprintf(stderr, "exec %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	close(pout[1]);
	close(perr[1]);
	drain(pout[0], r->out, sizeof(r->out));
	drain(perr[0], r->err, sizeof(r->err));
	close(pout[0]);
	close(perr[0]);
	if (waitpid(pid, &st, 0) != pid)
		return -errno;
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return r->status;
}

#define ARGV(...)	((char *const[]){ __VA_ARGS__, NULL })

/* kvbucket-inspect --check DEV: its exit status, output in *r. */
static int inspect_check(struct run *r, const char *dev)
{
	return run_argv(r, ARGV("kvbucket-inspect", "--check", (char *)dev));
}

/* Invert every bit of the byte at off (twice restores it). */
static int raw_flip(const char *dev, uint64_t off)
{
	unsigned char blk[RAW_BLOCK];
	uint64_t base = off - off % RAW_BLOCK;
	int ret;

	ret = raw_io(dev, base, blk, sizeof(blk), false);
	if (ret)
		return ret;
	blk[off - base] ^= 0xff;
	return raw_io(dev, base, blk, sizeof(blk), true);
}

/* Both superblock copies; index of the newest by generation. */
static int read_supers(const char *dev, struct kvb_disk_super sb[2])
{
	unsigned char blk[2 * RAW_BLOCK];
	int ret = raw_io(dev, 0, blk, sizeof(blk), false);

	if (ret)
		return ret;
	memcpy(&sb[0], blk, sizeof(sb[0]));
	memcpy(&sb[1], blk + RAW_BLOCK, sizeof(sb[1]));
	return le64toh(sb[1].generation) > le64toh(sb[0].generation);
}

/* ---- test keys ------------------------------------------------------- */

/*
 * One test key and what the store should say about it: want is the LOAD
 * status expected (0, -ENOENT, -EBADMSG); bucket and offset where OFFLOAD
 * put it, which QUERY must repeat while the key is stored.
 */
struct fkey {
	char name[32];
	uint32_t klen;
	size_t vlen;
	int want;
	uint64_t bucket;
	uint64_t offset;
};

static void fk_init(struct fkey *k, const char *prefix, unsigned int i,
		    size_t max_vlen)
{
	k->klen = mk_key(k->name, sizeof(k->name), prefix, i);
	k->vlen = value_len_of(i, max_vlen);
	k->want = -ENOENT;
	k->bucket = 0;
	k->offset = 0;
}

static struct tkey fk_tkey(const struct fkey *k)
{
	return (struct tkey){ k->name, k->klen, k->vlen, 0 };
}

/*
 * OFFLOAD keys k[0..n) as one batch. On success records where each went
 * and returns nr_done; else the ioctl's -errno, and k is untouched.
 */
static int offload_keys(int fd, struct fkey *k, unsigned int n,
			uint64_t *bucket)
{
	struct kvb_obj_desc d[BATCH_MAX];
	struct tkey t[BATCH_MAX];
	struct kvb_batch b;
	unsigned int i;
	int ret;

	if (n > BATCH_MAX)
		return -E2BIG;
	for (i = 0; i < n; i++)
		t[i] = fk_tkey(&k[i]);
	ret = put_batch(fd, t, n, 0, d, &b);
	if (ret)
		return ret;
	for (i = 0; i < n; i++) {
		if (d[i].status)
			continue;
		k[i].want = 0;
		k[i].bucket = d[i].bucket_id;
		k[i].offset = d[i].offset;
	}
	if (bucket)
		*bucket = b.bucket_id;
	return (int)b.nr_done;
}

/*
 * LOAD every key (in batches) and expect status want (or k[i].want when
 * want is 1); then QUERY every key: a stored one (want != -ENOENT) where
 * OFFLOAD put it, the others -ENOENT.
 */
static void check_keys_as(struct __test_metadata *_metadata, int fd,
			  const struct fkey *k, unsigned int n, int want)
{
	struct tkey t[BATCH_MAX];
	int status[BATCH_MAX];
	unsigned int i, j, m;

	for (i = 0; i < n; i += m) {
		m = n - i < BATCH_MAX ? n - i : BATCH_MAX;
		for (j = 0; j < m; j++)
			t[j] = fk_tkey(&k[i + j]);
		ASSERT_EQ(0, get_batch(fd, t, m, status));
		for (j = 0; j < m; j++)
			EXPECT_EQ(want == 1 ? k[i + j].want : want, status[j])
				TH_LOG("LOAD %s (-EILSEQ: wrong bytes)",
				       k[i + j].name);
	}
	for (i = 0; i < n; i++) {
		struct kvb_obj_desc d;

		ASSERT_EQ(0, query_one(fd, k[i].name, k[i].klen, &d));
		if (k[i].want == -ENOENT) {
			EXPECT_EQ(-ENOENT, d.status) TH_LOG("QUERY %s",
							    k[i].name);
			continue;
		}
		EXPECT_EQ(0, d.status) TH_LOG("QUERY %s", k[i].name);
		EXPECT_EQ(k[i].bucket, d.bucket_id) TH_LOG("QUERY %s",
							   k[i].name);
		EXPECT_EQ(k[i].offset, d.offset) TH_LOG("QUERY %s", k[i].name);
		EXPECT_EQ(k[i].vlen, d.value_len) TH_LOG("QUERY %s",
							 k[i].name);
	}
}

static void check_keys(struct __test_metadata *_metadata, int fd,
		       const struct fkey *k, unsigned int n)
{
	check_keys_as(_metadata, fd, k, n, 1);
}

/* STORE_INFO's key and byte totals match the keys that should be there. */
static void check_totals(struct __test_metadata *_metadata, int fd,
			 const struct fkey *k, unsigned int n,
			 uint64_t nr_buckets, struct kvb_store_info *out)
{
	struct kvb_store_info info;
	uint64_t keys = 0, bytes = 0;
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (k[i].want == -ENOENT)
			continue;
		keys++;
		bytes += k[i].vlen;
	}
	ASSERT_EQ(0, st_info(fd, &info));
	EXPECT_EQ(keys, info.nr_keys);
	EXPECT_EQ(bytes, info.value_bytes);
	EXPECT_EQ(nr_buckets, info.nr_buckets);
	/* buckets of one chunk each */
	EXPECT_EQ(nr_buckets * info.chunk_size, info.used_bytes);
	EXPECT_EQ(info.capacity_bytes, info.used_bytes + info.free_bytes);
	if (out)
		*out = info;
}

/* ==== I/O errors through device-mapper =============================== */

#define DM_NAME		"kvbflt"
#define DM_SECTORS	(256ULL << 11)	/* 256 MiB */
#define DM_NB		4		/* buckets made by dm_up() */
#define DM_PER		5
#define DM_NK		64
#define DM_MAXV		12000

FIXTURE(dmf) {
	int ctl, fd;
	uint32_t id;
	bool dm;		/* kvbflt exists */
	bool suspended;
	const char *disk;
	char dev[64];		/* /dev/dm-N (no udev: no /dev/mapper link) */
	char linear[160], errors[64], werrors[192];
	struct fkey keys[DM_NK];
	uint64_t bucket[DM_NB];
	uint64_t max_bucket;
};

static int dmsetup(struct run *r, char *const argv[])
{
	return run_argv(r, argv);
}

FIXTURE_SETUP(dmf)
{
	struct run r;
	unsigned int i;

	self->ctl = -1;
	self->fd = -1;
	ASSERT_TRUE(module_loaded()) TH_LOG("kvbucket module not loaded");
	ASSERT_EQ(0, detach_all());
	self->disk = kvb_disk(1);
	ASSERT_NE(NULL, self->disk) TH_LOG("KVB_DISKS needs 2 disks");
	ASSERT_EQ(0, run_argv(&r, ARGV("modprobe", "dm-mod")))
		TH_LOG("modprobe dm-mod: %s", r.err);
	ASSERT_EQ(0, run_argv(&r, ARGV("modprobe", "dm-flakey")))
		TH_LOG("modprobe dm-flakey: %s", r.err);
	/* left over by a test that was killed */
	if (dmsetup(&r, ARGV("dmsetup", "info", DM_NAME)) == 0) {
		run_argv(&r, ARGV("dmsetup", "resume", DM_NAME));
		ASSERT_EQ(0, dmsetup(&r, ARGV("dmsetup", "remove", DM_NAME)))
			TH_LOG("dmsetup remove (leftover): %s", r.err);
	}
	self->ctl = ctl_open();
	ASSERT_LE(0, self->ctl);
	snprintf(self->linear, sizeof(self->linear), "0 %llu linear %s 0",
		 DM_SECTORS, self->disk);
	snprintf(self->errors, sizeof(self->errors), "0 %llu error",
		 DM_SECTORS);
	/* always down (up 0 s, down 1 s): every write fails, reads work */
	snprintf(self->werrors, sizeof(self->werrors),
		 "0 %llu flakey %s 0 0 1 1 error_writes", DM_SECTORS,
		 self->disk);
	for (i = 0; i < DM_NK; i++)
		fk_init(&self->keys[i], "fault", i, DM_MAXV);
}

FIXTURE_TEARDOWN(dmf)
{
	struct run r;

	if (self->fd >= 0)
		close(self->fd);
	if (self->dm && self->suspended)
		EXPECT_EQ(0, dmsetup(&r, ARGV("dmsetup", "resume", DM_NAME)))
			TH_LOG("dmsetup resume: %s", r.err);
	/* detach first: the store holds the dm device open */
	EXPECT_EQ(0, detach_all());
	if (self->ctl >= 0)
		close(self->ctl);
	if (self->dm)
		EXPECT_EQ(0, dmsetup(&r, ARGV("dmsetup", "remove", DM_NAME)))
			TH_LOG("dmsetup remove: %s", r.err);
}

/*
 * Load table (a table line, or the path of a table file) into kvbflt:
 * suspend, load, resume; the live table must then name target.
 */
static void dm_switch(struct __test_metadata *_metadata,
		      FIXTURE_DATA(dmf) *self, char *table, const char *target)
{
	struct run r;

	ASSERT_EQ(0, dmsetup(&r, ARGV("dmsetup", "suspend", DM_NAME)))
		TH_LOG("dmsetup suspend: %s", r.err);
	self->suspended = true;
	if (table[0] == '/')	/* a table file */
		dmsetup(&r, ARGV("dmsetup", "load", DM_NAME, table));
	else
		dmsetup(&r, ARGV("dmsetup", "load", DM_NAME, "--table", table));
	ASSERT_EQ(0, r.status) TH_LOG("dmsetup load %s: %s", table, r.err);
	ASSERT_EQ(0, dmsetup(&r, ARGV("dmsetup", "resume", DM_NAME)))
		TH_LOG("dmsetup resume: %s", r.err);
	self->suspended = false;
	ASSERT_EQ(0, dmsetup(&r, ARGV("dmsetup", "table", DM_NAME)));
	ASSERT_NE(NULL, strstr(r.out, target)) TH_LOG("table: %s", r.out);
}

static void dm_attach(struct __test_metadata *_metadata,
		      FIXTURE_DATA(dmf) *self, uint32_t flags)
{
	ASSERT_EQ(0, ctl_attach(self->ctl, self->dev, flags, 0, 0, 0,
				&self->id));
	self->fd = store_open(self->id);
	ASSERT_LE(0, self->fd);
}

static void dm_detach(struct __test_metadata *_metadata,
		      FIXTURE_DATA(dmf) *self)
{
	close(self->fd);
	self->fd = -1;
	ASSERT_EQ(0, ctl_detach(self->ctl, self->id));
}

/*
 * Create kvbflt (linear over the first 256 MiB of the disk), format a
 * store on it and offload DM_NB buckets of DM_PER keys: keys[0..20).
 */
static void dm_up(struct __test_metadata *_metadata, FIXTURE_DATA(dmf) *self)
{
	struct run r;
	uint64_t size = 0;
	struct stat st;
	char *nl;
	int i, fd;

	ASSERT_EQ(0, dmsetup(&r, ARGV("dmsetup", "create", DM_NAME,
				     "--table", self->linear)))
		TH_LOG("dmsetup create: %s", r.err);
	self->dm = true;
	ASSERT_EQ(0, dmsetup(&r, ARGV("dmsetup", "info", "-c", "--noheadings",
				     "-o", "blkdevname", DM_NAME)))
		TH_LOG("dmsetup info: %s", r.err);
	nl = strchr(r.out, '\n');
	if (nl)
		*nl = 0;
	ASSERT_EQ(0, strncmp(r.out, "dm-", 3)) TH_LOG("blkdevname %s", r.out);
	snprintf(self->dev, sizeof(self->dev), "/dev/%.32s", r.out);
	ASSERT_EQ(0, stat(self->dev, &st)) TH_LOG("%s", self->dev);
	ASSERT_TRUE(S_ISBLK(st.st_mode));
	fd = open(self->dev, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ioctl(fd, BLKGETSIZE64, &size));
	close(fd);
	ASSERT_EQ(DM_SECTORS << 9, size);

	dm_attach(_metadata, self, KVB_ATTACH_FORMAT);
	for (i = 0; i < DM_NB; i++) {
		ASSERT_EQ(DM_PER, offload_keys(self->fd,
					       &self->keys[i * DM_PER],
					       DM_PER, &self->bucket[i]));
		ASSERT_LT(self->max_bucket, self->bucket[i]);
		self->max_bucket = self->bucket[i];
	}
	check_keys(_metadata, self->fd, self->keys, DM_NK);
	check_totals(_metadata, self->fd, self->keys, DM_NK, DM_NB, NULL);
}

static bool info_same(const struct kvb_store_info *a,
		      const struct kvb_store_info *b)
{
	return a->nr_keys == b->nr_keys && a->nr_buckets == b->nr_buckets &&
	       a->value_bytes == b->value_bytes &&
	       a->used_bytes == b->used_bytes &&
	       a->free_bytes == b->free_bytes;
}

#define EXPECT_INFO_SAME(a, b) \
	EXPECT_TRUE(info_same(&(a), &(b))) \
		TH_LOG("keys %llu/%llu buckets %llu/%llu bytes %llu/%llu used %llu/%llu", \
		       (unsigned long long)(a).nr_keys, \
		       (unsigned long long)(b).nr_keys, \
		       (unsigned long long)(a).nr_buckets, \
		       (unsigned long long)(b).nr_buckets, \
		       (unsigned long long)(a).value_bytes, \
		       (unsigned long long)(b).value_bytes, \
		       (unsigned long long)(a).used_bytes, \
		       (unsigned long long)(b).used_bytes)

/*
 * Every write fails: OFFLOAD returns EIO and indexes nothing, also when
 * the batch holds a stored key; reads go on working. Once the device is
 * healthy again OFFLOAD works, and a re-attach (warm, then a cold scan)
 * finds exactly the acknowledged keys.
 */
TEST_F_TIMEOUT(dmf, offload_write_error_indexes_nothing, 120)
{
	struct fkey *k = self->keys;
	struct kvb_store_info before, after;
	struct fkey mixed[5];
	uint64_t id;
	int i;

	dm_up(_metadata, self);
	ASSERT_EQ(0, st_info(self->fd, &before));
	dm_switch(_metadata, self, self->werrors, "flakey");

	ASSERT_EQ(-EIO, offload_keys(self->fd, &k[20], 5, NULL));
	/* a stored key in the batch: skipped, the others still fail */
	mixed[0] = k[0];
	for (i = 1; i < 5; i++)
		mixed[i] = k[24 + i];
	ASSERT_EQ(-EIO, offload_keys(self->fd, mixed, 5, NULL));
	ASSERT_EQ(0, st_info(self->fd, &after));
	EXPECT_INFO_SAME(before, after);
	/* nothing of either batch is indexed; the earlier keys still load */
	check_keys(_metadata, self->fd, k, DM_NK);

	dm_switch(_metadata, self, self->linear, "linear");
	ASSERT_EQ(0, st_info(self->fd, &after));
	EXPECT_INFO_SAME(before, after);
	ASSERT_EQ(5, offload_keys(self->fd, &k[40], 5, &id));
	EXPECT_LT(self->max_bucket, id);
	check_keys(_metadata, self->fd, k, DM_NK);
	check_totals(_metadata, self->fd, k, DM_NK, DM_NB + 1, NULL);

	dm_detach(_metadata, self);
	dm_attach(_metadata, self, 0);
	check_keys(_metadata, self->fd, k, DM_NK);
	check_totals(_metadata, self->fd, k, DM_NK, DM_NB + 1, NULL);
	dm_detach(_metadata, self);
	dm_attach(_metadata, self, KVB_ATTACH_SCAN);
	check_keys(_metadata, self->fd, k, DM_NK);
	check_totals(_metadata, self->fd, k, DM_NK, DM_NB + 1, &after);
	EXPECT_EQ(0, after.flags & KVB_INFO_WARM);
	EXPECT_EQ(0, after.nr_damaged);
	EXPECT_EQ(0, after.nr_torn);
}

/*
 * Every read and write fails: LOAD succeeds as a call with -EIO for every
 * key, QUERY and STORE_INFO still answer from memory, OFFLOAD fails.
 * Switched back, every key loads byte-exact.
 */
TEST_F_TIMEOUT(dmf, read_errors_fail_each_load, 120)
{
	struct fkey *k = self->keys;
	struct kvb_store_info before, after;
	struct kvb_obj_desc d[DM_NB * DM_PER];
	struct kvb_slice s[DM_NB * DM_PER];
	static unsigned char v[DM_NB * DM_PER][DM_MAXV];
	struct kvb_batch b;
	int i;

	dm_up(_metadata, self);
	ASSERT_EQ(0, st_info(self->fd, &before));
	dm_switch(_metadata, self, self->errors, "error");

	/* one LOAD of every stored key */
	for (i = 0; i < DM_NB * DM_PER; i++) {
		kvb_slice_init(&s[i], v[i], k[i].vlen);
		kvb_desc_init(&d[i], k[i].name, k[i].klen, &s[i], 1);
	}
	ASSERT_EQ(0, st_batch(self->fd, KVB_IOC_LOAD, d, DM_NB * DM_PER, 0,
			      &b));
	EXPECT_EQ(0, b.nr_done);
	for (i = 0; i < DM_NB * DM_PER; i++)
		EXPECT_EQ(-EIO, d[i].status) TH_LOG("LOAD %s", k[i].name);
	/* and one at a time */
	check_keys_as(_metadata, self->fd, k, DM_NB * DM_PER, -EIO);

	ASSERT_EQ(-EIO, offload_keys(self->fd, &k[20], 5, NULL));
	ASSERT_EQ(0, st_info(self->fd, &after));
	EXPECT_INFO_SAME(before, after);

	dm_switch(_metadata, self, self->linear, "linear");
	check_keys(_metadata, self->fd, k, DM_NK);
	check_totals(_metadata, self->fd, k, DM_NK, DM_NB, NULL);
}

/*
 * REMOVE and DELETE_BUCKET while writes fail: per-key -EIO, EIO, and every
 * key stays readable. Once healthy, the same calls succeed (the failed
 * state slot writes left the buckets consistent), and a cold re-attach
 * agrees.
 */
TEST_F_TIMEOUT(dmf, remove_delete_write_errors, 120)
{
	struct fkey *k = self->keys;
	struct kvb_store_info before, after;
	struct kvb_obj_desc d[8];
	struct kvb_batch b;
	uint32_t nr;
	int i;

	dm_up(_metadata, self);
	ASSERT_EQ(0, st_info(self->fd, &before));
	dm_switch(_metadata, self, self->werrors, "flakey");

	/* two keys of bucket 0, and all of bucket 1 (would delete it) */
	kvb_desc_init(&d[0], k[0].name, k[0].klen, NULL, 0);
	kvb_desc_init(&d[1], k[1].name, k[1].klen, NULL, 0);
	for (i = 0; i < DM_PER; i++)
			kvb_desc_init(&d[2 + i], k[DM_PER + i].name,
				      k[DM_PER + i].klen, NULL, 0);
	ASSERT_EQ(0, st_batch(self->fd, KVB_IOC_REMOVE, d, 2 + DM_PER, 0, &b));
	EXPECT_EQ(0, b.nr_done);
	for (i = 0; i < 2 + DM_PER; i++)
		EXPECT_EQ(-EIO, d[i].status) TH_LOG("REMOVE #%d", i);
	EXPECT_EQ(-EIO, st_delete(self->fd, self->bucket[2], NULL));
	ASSERT_EQ(0, st_info(self->fd, &after));
	EXPECT_INFO_SAME(before, after);
	check_keys(_metadata, self->fd, k, DM_NK);

	dm_switch(_metadata, self, self->linear, "linear");
	check_keys(_metadata, self->fd, k, DM_NK);
	ASSERT_EQ(0, st_info(self->fd, &after));
	EXPECT_INFO_SAME(before, after);

	/* now they work */
	ASSERT_EQ(0, st_batch(self->fd, KVB_IOC_REMOVE, d, 2 + DM_PER, 0, &b));
	EXPECT_EQ(2 + DM_PER, b.nr_done);
	for (i = 0; i < 2 + DM_PER; i++)
		EXPECT_EQ(0, d[i].status) TH_LOG("REMOVE #%d", i);
	k[0].want = k[1].want = -ENOENT;
	for (i = 0; i < DM_PER; i++)
		k[DM_PER + i].want = -ENOENT;
	nr = 0;
	ASSERT_EQ(0, st_delete(self->fd, self->bucket[2], &nr));
	EXPECT_EQ(DM_PER, nr);
	for (i = 0; i < DM_PER; i++)
		k[2 * DM_PER + i].want = -ENOENT;
	check_keys(_metadata, self->fd, k, DM_NK);
	check_totals(_metadata, self->fd, k, DM_NK, DM_NB - 2, NULL);

	dm_detach(_metadata, self);
	dm_attach(_metadata, self, KVB_ATTACH_SCAN);
	check_keys(_metadata, self->fd, k, DM_NK);
	check_totals(_metadata, self->fd, k, DM_NK, DM_NB - 2, &after);
	EXPECT_EQ(0, after.nr_damaged);
	EXPECT_EQ(0, after.nr_torn);
}

/*
 * Detach while every I/O fails completes (no checkpoint, no clean
 * superblock). Switched back, a plain attach must scan and finds every
 * acknowledged key byte-exact and nothing of the calls that failed.
 */
TEST_F_TIMEOUT(dmf, detach_under_errors_then_recover, 120)
{
	struct fkey *k = self->keys;
	struct kvb_store_info info;
	struct kvb_obj_desc d;
	struct run r;
	uint64_t id;
	int old_fd;

	dm_up(_metadata, self);
	dm_switch(_metadata, self, self->errors, "error");
	ASSERT_EQ(-EIO, offload_keys(self->fd, &k[20], 5, NULL));
	kvb_desc_init(&d, k[12].name, k[12].klen, NULL, 0);
	ASSERT_EQ(0, st_batch(self->fd, KVB_IOC_REMOVE, &d, 1, 0, NULL));
	EXPECT_EQ(-EIO, d.status);
	EXPECT_EQ(-EIO, st_delete(self->fd, self->bucket[3], NULL));

	/* keep an fd: it must see ENODEV after the detach */
	old_fd = self->fd;
	self->fd = dup(old_fd);
	ASSERT_LE(0, self->fd);
	dm_detach(_metadata, self);
	EXPECT_EQ(0, ctl_list(self->ctl, NULL, 0));
	EXPECT_EQ(-ENODEV, st_info(old_fd, &info));
	close(old_fd);

	dm_switch(_metadata, self, self->linear, "linear");
	dm_attach(_metadata, self, 0);
	check_keys(_metadata, self->fd, k, DM_NK);
	check_totals(_metadata, self->fd, k, DM_NK, DM_NB, &info);
	/* the superblock still says DIRTY: a cold start */
	EXPECT_EQ(0, info.flags & KVB_INFO_WARM);
	EXPECT_EQ(0, info.nr_damaged);
	EXPECT_EQ(0, info.nr_torn);
	EXPECT_LT(self->max_bucket, info.next_bucket_id);

	ASSERT_EQ(5, offload_keys(self->fd, &k[40], 5, &id));
	EXPECT_LT(self->max_bucket, id);
	check_keys(_metadata, self->fd, k, DM_NK);
	dm_detach(_metadata, self);
	EXPECT_EQ(0, inspect_check(&r, self->dev))
		TH_LOG("kvbucket-inspect: %s", r.err);
}

/*
 * The writes of the bucket's header, keys and values succeed, only the
 * commit record's fails (a table erroring the last block of every chunk):
 * OFFLOAD fails with EIO and, since the commit record might have reached
 * the device, the bucket's first block is covered (design.rst, "Writing a
 * bucket"), so that no attach ever finds the bucket, not even as torn.
 */
TEST_F_TIMEOUT(dmf, commit_write_error_covers_bucket, 120)
{
	struct fkey *k = self->keys;
	struct kvb_store_info before, after;
	struct kvb_disk_super sb[2];
	uint64_t ds, cs, nr, c, cur = 0, pos, bs, found = 0;
	unsigned char blk[2 * RAW_BLOCK], want[RAW_BLOCK];
	char table[] = "/tmp/kvbflt-table-XXXXXX";
	struct run r;
	size_t n;
	FILE *f;
	int newest, fd;

	dm_up(_metadata, self);
	ASSERT_EQ(0, st_info(self->fd, &before));
	newest = read_supers(self->dev, sb);
	ASSERT_LE(0, newest);
	ds = le64toh(sb[newest].data_start);
	cs = le32toh(sb[newest].chunk_size);
	bs = le32toh(sb[newest].block_size);
	nr = le64toh(sb[newest].nr_chunks);
	ASSERT_EQ(before.chunk_size, cs);
	ASSERT_EQ(RAW_BLOCK, bs);
	ASSERT_LE(ds + nr * cs, DM_SECTORS << 9);

	fd = mkstemp(table);
	ASSERT_LE(0, fd);
	f = fdopen(fd, "w");
	ASSERT_NE(NULL, f);
	for (c = 0; c < nr; c++) {
		pos = ds + (c + 1) * cs - bs;	/* commit record slot */
		fprintf(f, "%llu %llu linear %s %llu\n",
			(unsigned long long)cur >> 9,
			(unsigned long long)(pos - cur) >> 9, self->disk,
			(unsigned long long)cur >> 9);
		fprintf(f, "%llu %llu error\n", (unsigned long long)pos >> 9,
			(unsigned long long)bs >> 9);
		cur = pos + bs;
	}
	if (cur < DM_SECTORS << 9)
		fprintf(f, "%llu %llu linear %s %llu\n",
			(unsigned long long)cur >> 9,
			(unsigned long long)(DM_SECTORS - (cur >> 9)),
			self->disk, (unsigned long long)cur >> 9);
	ASSERT_EQ(0, fclose(f));
	dm_switch(_metadata, self, table, "error");
	unlink(table);

	ASSERT_EQ(-EIO, offload_keys(self->fd, &k[20], 5, NULL));
	ASSERT_EQ(0, st_info(self->fd, &after));
	EXPECT_INFO_SAME(before, after);
	check_keys(_metadata, self->fd, k, DM_NK);
	dm_switch(_metadata, self, self->linear, "linear");

	/*
	 * The failed bucket's first value (at block 1 of its chunk: the
	 * metadata fits one block) did reach the device; its first block
	 * must no longer be a bucket header.
	 */
	fill_value(tkey_seed(&(struct tkey){ k[20].name, k[20].klen,
					      k[20].vlen, 0 }),
		   want, k[20].vlen < RAW_BLOCK ? k[20].vlen : RAW_BLOCK);
	n = k[20].vlen < RAW_BLOCK ? k[20].vlen : RAW_BLOCK;
	for (c = 0; c < nr; c++) {
		ASSERT_EQ(0, raw_io(self->dev, ds + c * cs, blk, sizeof(blk),
				    false));
		if (memcmp(blk + RAW_BLOCK, want, n))
			continue;
		found++;
		EXPECT_NE(KVB_BUCKET_MAGIC,
			  le64toh(((struct kvb_disk_bucket *)blk)->magic))
			TH_LOG("failed bucket at %llu not covered",
			       (unsigned long long)(ds + c * cs));
	}
	EXPECT_EQ(1, found) TH_LOG("the failed bucket's values not found");

	/* a cold scan finds neither a torn nor a damaged bucket */
	dm_detach(_metadata, self);
	EXPECT_EQ(0, inspect_check(&r, self->dev)) TH_LOG("%s", r.err);
	EXPECT_EQ(NULL, strstr(r.out, "torn")) TH_LOG("%s", r.out);
	dm_attach(_metadata, self, KVB_ATTACH_SCAN);
	check_keys(_metadata, self->fd, k, DM_NK);
	check_totals(_metadata, self->fd, k, DM_NK, DM_NB, &after);
	EXPECT_EQ(0, after.nr_torn);
	EXPECT_EQ(0, after.nr_damaged);
}

/* ==== corruption on the raw device ==================================== */

#define CR_NB		6
#define CR_PER		6
#define CR_NK		(CR_NB * CR_PER)
#define CR_MAXV		20000

FIXTURE(cr) {
	int ctl, fd;
	uint32_t id;
	const char *disk;
	uint32_t bs, cs;
	uint64_t data_start;
	struct fkey keys[CR_NK];
	uint64_t bid[CR_NB], bstart[CR_NB], blen[CR_NB];
	struct kvb_disk_bucket hdr[CR_NB];
};

FIXTURE_SETUP(cr)
{
	unsigned int i;

	self->ctl = -1;
	self->fd = -1;
	ASSERT_TRUE(module_loaded()) TH_LOG("kvbucket module not loaded");
	ASSERT_EQ(0, detach_all());
	self->disk = kvb_disk(2);
	ASSERT_NE(NULL, self->disk) TH_LOG("KVB_DISKS needs 3 disks");
	self->ctl = ctl_open();
	ASSERT_LE(0, self->ctl);
	for (i = 0; i < CR_NK; i++)
		fk_init(&self->keys[i], "corrupt", i, CR_MAXV);
}

FIXTURE_TEARDOWN(cr)
{
	if (self->fd >= 0)
		close(self->fd);
	if (self->ctl >= 0)
		close(self->ctl);
	EXPECT_EQ(0, detach_all());
}

static int cr_attach(FIXTURE_DATA(cr) *self, uint32_t flags)
{
	int ret = ctl_attach(self->ctl, self->disk, flags, 0, 0, 0, &self->id);

	if (ret)
		return ret;
	self->fd = store_open(self->id);
	return self->fd < 0 ? -errno : 0;
}

static void cr_detach(struct __test_metadata *_metadata,
		      FIXTURE_DATA(cr) *self)
{
	close(self->fd);
	self->fd = -1;
	ASSERT_EQ(0, ctl_detach(self->ctl, self->id));
}

/* k's index in its bucket's object table (keys are offloaded in order). */
static unsigned int cr_obj(unsigned int key)
{
	return key % CR_PER;
}

/*
 * Format, offload CR_NB buckets of CR_PER keys, detach cleanly; find each
 * bucket on the device (its first value's offset, rounded down to a
 * chunk, holds a header with the bucket's id). The clean store passes
 * kvbucket-inspect --check.
 */
static void cr_populate(struct __test_metadata *_metadata,
			FIXTURE_DATA(cr) *self)
{
	struct kvb_disk_super sb[2];
	struct kvb_store_info info;
	unsigned char blk[RAW_BLOCK];
	struct run r;
	int i, newest;

	ASSERT_EQ(0, cr_attach(self, KVB_ATTACH_FORMAT));
	ASSERT_EQ(0, st_info(self->fd, &info));
	self->bs = info.block_size;
	self->cs = info.chunk_size;
	ASSERT_EQ(RAW_BLOCK, self->bs) TH_LOG("these tests assume 4 KiB blocks");
	for (i = 0; i < CR_NB; i++) {
		ASSERT_EQ(CR_PER, offload_keys(self->fd,
					       &self->keys[i * CR_PER],
					       CR_PER, &self->bid[i]));
		if (i)
			ASSERT_LT(self->bid[i - 1], self->bid[i]);
	}
	check_keys(_metadata, self->fd, self->keys, CR_NK);
	check_totals(_metadata, self->fd, self->keys, CR_NK, CR_NB, NULL);
	cr_detach(_metadata, self);

	newest = read_supers(self->disk, sb);
	ASSERT_LE(0, newest);
	ASSERT_EQ(KVB_SUPER_MAGIC, le64toh(sb[newest].magic));
	ASSERT_EQ(KVB_SB_CLEAN, le32toh(sb[newest].state));
	self->data_start = le64toh(sb[newest].data_start);
	ASSERT_EQ(self->cs, le32toh(sb[newest].chunk_size));
	for (i = 0; i < CR_NB; i++) {
		const struct fkey *k = &self->keys[i * CR_PER];
		struct kvb_disk_bucket *h = &self->hdr[i];

		ASSERT_LE(self->data_start, k->offset);
		self->bstart[i] = self->data_start +
			(k->offset - self->data_start) / self->cs * self->cs;
		ASSERT_EQ(0, raw_io(self->disk, self->bstart[i], blk,
				    sizeof(blk), false));
		memcpy(h, blk, sizeof(*h));
		ASSERT_EQ(KVB_BUCKET_MAGIC, le64toh(h->magic));
		ASSERT_EQ(self->bid[i], le64toh(h->id));
		ASSERT_EQ(self->bstart[i], le64toh(h->start));
		ASSERT_EQ(CR_PER, le32toh(h->nr_objs));
		self->blen[i] = le64toh(h->len);
		ASSERT_EQ(self->cs, self->blen[i]);
	}
	EXPECT_EQ(0, inspect_check(&r, self->disk))
		TH_LOG("clean store: %s", r.err);
	EXPECT_STREQ("", r.err);
}

/* Attach, then every key as expected, and the totals. */
static void cr_verify(struct __test_metadata *_metadata,
		      FIXTURE_DATA(cr) *self, uint32_t flags,
		      uint64_t nr_buckets, struct kvb_store_info *info)
{
	ASSERT_EQ(0, cr_attach(self, flags));
	check_keys(_metadata, self->fd, self->keys, CR_NK);
	check_totals(_metadata, self->fd, self->keys, CR_NK, nr_buckets,
		     info);
}

/* The keys of bucket b are expected gone. */
static void cr_lose_bucket(FIXTURE_DATA(cr) *self, int b)
{
	int j;

	for (j = 0; j < CR_PER; j++)
		self->keys[b * CR_PER + j].want = -ENOENT;
}

/* kvbucket-inspect --check: exit 1, and stderr names what. */
static void cr_inspect_damaged(struct __test_metadata *_metadata,
			       FIXTURE_DATA(cr) *self, const char *what)
{
	struct run r;

	EXPECT_EQ(1, inspect_check(&r, self->disk))
		TH_LOG("stdout: %s stderr: %s", r.out, r.err);
	EXPECT_NE(NULL, strstr(r.err, what))
		TH_LOG("expected \"%s\" in: %s", what, r.err);
}

/*
 * One superblock copy damaged, each in turn: first the newest (attach
 * falls back to the older, DIRTY copy and scans), then the older (the
 * newest, CLEAN one gives a warm start). Every key loads either way, and
 * the attach + detach rewrites both copies.
 */
TEST_F_TIMEOUT(cr, superblock_one_copy_damaged, 120)
{
	struct kvb_disk_super sb[2];
	struct kvb_store_info info;
	char what[64];
	struct run r;
	int round, newest, copy;

	cr_populate(_metadata, self);
	for (round = 0; round < 2; round++) {
		newest = read_supers(self->disk, sb);
		ASSERT_LE(0, newest);
		ASSERT_EQ(KVB_SB_CLEAN, le32toh(sb[newest].state));
		ASSERT_EQ(KVB_SB_DIRTY, le32toh(sb[!newest].state));
		copy = round == 0 ? newest : !newest;
		ASSERT_EQ(0, raw_flip(self->disk, (uint64_t)copy * self->bs +
				      offsetof(struct kvb_disk_super,
					       attach_count)));
		snprintf(what, sizeof(what), "superblock copy %d: checksum",
			 copy);
		cr_inspect_damaged(_metadata, self, what);

		cr_verify(_metadata, self, 0, CR_NB, &info);
		if (round == 0) {
			EXPECT_EQ(0, info.flags & KVB_INFO_WARM)
				TH_LOG("the older copy is DIRTY: must scan");
		} else {
			EXPECT_EQ(KVB_INFO_WARM, info.flags & KVB_INFO_WARM);
		}
		EXPECT_EQ(0, info.nr_damaged);
		EXPECT_EQ(0, info.nr_torn);
		cr_detach(_metadata, self);
		EXPECT_EQ(0, inspect_check(&r, self->disk))
			TH_LOG("after re-attach: %s", r.err);
	}
}

/* Both copies damaged: EUCLEAN, nothing attached, nothing written. */
TEST_F_TIMEOUT(cr, superblock_both_copies_damaged, 120)
{
	const uint64_t off = offsetof(struct kvb_disk_super, attach_count);
	struct kvb_store_info info;
	struct run r;
	uint32_t id = 0;

	cr_populate(_metadata, self);
	ASSERT_EQ(0, raw_flip(self->disk, off));
	ASSERT_EQ(0, raw_flip(self->disk, self->bs + off));
	EXPECT_EQ(-EUCLEAN, ctl_attach(self->ctl, self->disk, 0, 0, 0, 0,
				       &id));
	EXPECT_EQ(-EUCLEAN, ctl_attach(self->ctl, self->disk, KVB_ATTACH_SCAN,
				       0, 0, 0, &id));
	EXPECT_EQ(0, ctl_list(self->ctl, NULL, 0));
	cr_inspect_damaged(_metadata, self, "every superblock copy is damaged");

	/* undo: the failed attaches wrote nothing */
	ASSERT_EQ(0, raw_flip(self->disk, off));
	ASSERT_EQ(0, raw_flip(self->disk, self->bs + off));
	EXPECT_EQ(0, inspect_check(&r, self->disk)) TH_LOG("%s", r.err);
	cr_verify(_metadata, self, 0, CR_NB, &info);
	EXPECT_EQ(KVB_INFO_WARM, info.flags & KVB_INFO_WARM);
}

/*
 * A bucket damaged on the device: a cold scan skips it (nr_damaged 1),
 * its keys are gone, every other key loads, and new bucket ids stay above
 * every id handed out.
 */
static void cr_damaged_bucket(struct __test_metadata *_metadata,
			      FIXTURE_DATA(cr) *self, int b, uint64_t off,
			      const char *what)
{
	struct kvb_store_info info;
	struct fkey extra;
	uint64_t id;

	ASSERT_EQ(0, raw_flip(self->disk, off));
	cr_inspect_damaged(_metadata, self, what);
	cr_lose_bucket(self, b);
	cr_verify(_metadata, self, KVB_ATTACH_SCAN, CR_NB - 1, &info);
	EXPECT_EQ(0, info.flags & KVB_INFO_WARM);
	EXPECT_EQ(1, info.nr_damaged);
	EXPECT_EQ(0, info.nr_torn);
	EXPECT_LT(self->bid[CR_NB - 1], info.next_bucket_id);

	fk_init(&extra, "after", 0, CR_MAXV);
	ASSERT_EQ(1, offload_keys(self->fd, &extra, 1, &id));
	EXPECT_LT(self->bid[CR_NB - 1], id);
	check_keys(_metadata, self->fd, &extra, 1);
}

TEST_F_TIMEOUT(cr, bucket_header_damaged, 120)
{
	char what[64];

	cr_populate(_metadata, self);
	snprintf(what, sizeof(what), "bucket header at %llu",
		 (unsigned long long)self->bstart[2]);
	/* ctime_ns: hdr_crc fails, magic and uuid intact */
	cr_damaged_bucket(_metadata, self, 2, self->bstart[2] +
			  offsetof(struct kvb_disk_bucket, ctime_ns), what);
}

TEST_F_TIMEOUT(cr, object_table_damaged, 120)
{
	char what[96];

	cr_populate(_metadata, self);
	snprintf(what, sizeof(what), "bucket %llu at %llu: metadata checksum",
		 (unsigned long long)self->bid[3],
		 (unsigned long long)self->bstart[3]);
	/* object 1's value_crc: only meta_crc can tell */
	cr_damaged_bucket(_metadata, self, 3, self->bstart[3] +
			  sizeof(struct kvb_disk_bucket) +
			  sizeof(struct kvb_disk_obj) +
			  offsetof(struct kvb_disk_obj, value_crc), what);
}

TEST_F_TIMEOUT(cr, key_damaged, 120)
{
	unsigned char blk[RAW_BLOCK];
	struct kvb_disk_obj obj;
	char what[96];
	uint32_t koff;

	cr_populate(_metadata, self);
	/* object 2 of bucket 1: its key is in the metadata, after the table */
	ASSERT_EQ(0, raw_io(self->disk, self->bstart[1], blk, sizeof(blk),
			    false));
	memcpy(&obj, blk + sizeof(struct kvb_disk_bucket) + 2 * sizeof(obj),
	       sizeof(obj));
	koff = le32toh(obj.key_off);
	ASSERT_EQ(self->keys[CR_PER + 2].klen, le16toh(obj.key_len));
	ASSERT_LT(koff + self->keys[CR_PER + 2].klen,
		  le32toh(self->hdr[1].meta_len) + 1);
	ASSERT_EQ(0, memcmp(blk + koff, self->keys[CR_PER + 2].name,
			    self->keys[CR_PER + 2].klen));
	snprintf(what, sizeof(what), "bucket %llu at %llu: metadata checksum",
		 (unsigned long long)self->bid[1],
		 (unsigned long long)self->bstart[1]);
	/* the last key byte: the key still looks like a test key */
	cr_damaged_bucket(_metadata, self, 1, self->bstart[1] + koff +
			  self->keys[CR_PER + 2].klen - 1, what);
}

/*
 * A value byte damaged: attach does not read values, so the key is still
 * stored (QUERY finds it), but LOAD says -EBADMSG and never success; every
 * other key loads byte-exact.
 */
TEST_F_TIMEOUT(cr, value_damaged, 120)
{
	const int b = 4, bad = b * CR_PER + 3;
	struct fkey *k = &self->keys[bad];
	struct kvb_store_info info;
	struct kvb_obj_desc d[2];
	struct kvb_slice s[2];
	unsigned char *v[2];
	struct kvb_batch batch;
	char what[128];
	int i;

	cr_populate(_metadata, self);
	ASSERT_EQ(self->bid[b], k->bucket);
	snprintf(what, sizeof(what),
		 "bucket %llu: value of object %u (%zu bytes at %llu): checksum",
		 (unsigned long long)self->bid[b], cr_obj(bad), k->vlen,
		 (unsigned long long)k->offset);
	ASSERT_EQ(0, raw_flip(self->disk, k->offset + k->vlen / 2));
	cr_inspect_damaged(_metadata, self, what);

	k->want = -EBADMSG;
	cr_verify(_metadata, self, 0, CR_NB, &info);
	EXPECT_EQ(0, info.nr_damaged);
	EXPECT_EQ(0, info.nr_torn);

	/* with a good neighbour in the same call: nr_done counts only it */
	for (i = 0; i < 2; i++) {
		const struct fkey *x = &self->keys[bad + i];

		v[i] = malloc(x->vlen);
		ASSERT_NE(NULL, v[i]);
		memset(v[i], 0x5a, x->vlen);
		kvb_slice_init(&s[i], v[i], x->vlen);
		kvb_desc_init(&d[i], x->name, x->klen, &s[i], 1);
	}
	ASSERT_EQ(0, st_batch(self->fd, KVB_IOC_LOAD, d, 2, 0, &batch));
	EXPECT_EQ(1, batch.nr_done);
	EXPECT_EQ(-EBADMSG, d[0].status);
	EXPECT_EQ(0, d[1].status);
	EXPECT_EQ(-1, check_value(tkey_seed(&(struct tkey){
			self->keys[bad + 1].name, self->keys[bad + 1].klen,
			self->keys[bad + 1].vlen, 0 }), v[1],
			self->keys[bad + 1].vlen));
	free(v[0]);
	free(v[1]);

	/* a cold scan does not read values either */
	cr_detach(_metadata, self);
	cr_verify(_metadata, self, KVB_ATTACH_SCAN, CR_NB, &info);
	EXPECT_EQ(0, info.nr_damaged);
}

/*
 * The commit record damaged: the bucket looks torn (its OFFLOAD never
 * succeeded, as far as the device can tell) and is discarded, nr_torn 1.
 * kvbucket-inspect treats a torn bucket the same way: not damage (every
 * crash during an OFFLOAD leaves one), reported on stdout.
 */
TEST_F_TIMEOUT(cr, commit_record_damaged, 120)
{
	const int b = 2;
	struct kvb_store_info info;
	struct fkey extra;
	char what[96];
	struct run r;
	uint64_t id;

	cr_populate(_metadata, self);
	ASSERT_EQ(0, raw_flip(self->disk, self->bstart[b] + self->blen[b] -
			      self->bs +
			      offsetof(struct kvb_disk_commit, bucket_id)));
	snprintf(what, sizeof(what), "torn bucket %llu at %llu",
		 (unsigned long long)self->bid[b],
		 (unsigned long long)self->bstart[b]);
	inspect_check(&r, self->disk);
	EXPECT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	EXPECT_NE(NULL, strstr(r.out, what)) TH_LOG("stdout: %s", r.out);

	cr_lose_bucket(self, b);
	cr_verify(_metadata, self, KVB_ATTACH_SCAN, CR_NB - 1, &info);
	EXPECT_EQ(0, info.nr_damaged);
	EXPECT_EQ(1, info.nr_torn);
	/* a torn bucket's id is never handed out again */
	fk_init(&extra, "after", 0, CR_MAXV);
	ASSERT_EQ(1, offload_keys(self->fd, &extra, 1, &id));
	EXPECT_LT(self->bid[CR_NB - 1], id);
}

/* Damage the index checkpoint the clean detach wrote. */
static void cr_damage_ckpt(struct __test_metadata *_metadata,
			   FIXTURE_DATA(cr) *self)
{
	struct kvb_disk_super sb[2];
	uint64_t start, len;
	int newest;

	newest = read_supers(self->disk, sb);
	ASSERT_LE(0, newest);
	ASSERT_EQ(KVB_SB_CLEAN, le32toh(sb[newest].state));
	start = le64toh(sb[newest].ckpt_start);
	len = le64toh(sb[newest].ckpt_len);
	ASSERT_NE(0, start);
	ASSERT_LE(RAW_BLOCK, len);
	ASSERT_EQ(0, len % self->bs);
	/* the "start" field of the first bucket record */
	ASSERT_EQ(0, raw_flip(self->disk, start + KVB_DISK_CKPT_SIZE +
			      offsetof(struct kvb_disk_ckpt_bucket, start)));
}

/*
 * The index checkpoint damaged: a plain attach must notice (ckpt_crc) and
 * fall back to the scan: not warm, and every key loads.
 */
TEST_F_TIMEOUT(cr, checkpoint_damaged, 120)
{
	struct kvb_store_info info;

	cr_populate(_metadata, self);
	/* not vacuous: undamaged, the same attach is warm */
	cr_verify(_metadata, self, 0, CR_NB, &info);
	ASSERT_EQ(KVB_INFO_WARM, info.flags & KVB_INFO_WARM);
	cr_detach(_metadata, self);

	cr_damage_ckpt(_metadata, self);
	cr_verify(_metadata, self, 0, CR_NB, &info);
	EXPECT_EQ(0, info.flags & KVB_INFO_WARM);
	EXPECT_EQ(0, info.nr_damaged);
	EXPECT_EQ(0, info.nr_torn);
}

/*
 * kvbucket-inspect --check promises to verify every checksum: a CLEAN
 * superblock naming a checkpoint whose ckpt_crc fails is damage (a clean
 * detach flushes the checkpoint before the superblock names it, so only
 * corruption gets there).
 */
TEST_F_TIMEOUT(cr, inspect_names_damaged_checkpoint, 120)
{
	cr_populate(_metadata, self);
	cr_damage_ckpt(_metadata, self);
	cr_inspect_damaged(_metadata, self, "checkpoint");
}

TEST_HARNESS_MAIN
