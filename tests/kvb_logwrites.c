// SPDX-License-Identifier: GPL-2.0
/*
 * Crash ordering, exhaustively (as xfstests generic/482 does for
 * filesystems): a deterministic workload runs on a dm-log-writes device,
 * which records every write in the order it reached stable media, with a
 * MARK after each operation returned success. The log is then replayed
 * entry by entry onto a ramdisk; at every FLUSH/FUA entry, at every MARK
 * and at every STRIDE-th entry the replayed image is copied to a second
 * ramdisk, checked offline (kvbucket-inspect --check) and attached, and
 * what the store holds is checked against Documentation/design.rst,
 * "Durability contract":
 *
 *  - an operation whose MARK precedes the point is in effect;
 *  - the operation in flight (the one after the last MARK, if any of its
 *    writes are in the log) is either in effect or not: an OFFLOAD all or
 *    nothing, a REMOVE or DELETE_BUCKET key by key;
 *  - no LOAD returns wrong bytes or EBADMSG, no bucket is damaged, keys
 *    that were never offloaded are absent, bucket ids are unique.
 *
 * Devices (inside the VM): a 64 MiB dm-linear slice of KVB_DISKS[0] as
 * the data device, KVB_DISKS[2] as the log, brd ram0 (replay) and ram1
 * (the copy that is attached, since attaching writes to it).
 */
#include <linux/fs.h>
#include <time.h>
#include <dirent.h>

#include "kselftest_harness.h"
#include "kvb_test.h"

#define DATA_BYTES	(64ULL << 20)
#define DATA_SECTORS	(DATA_BYTES >> 9)
#define LW_NAME		"kvblw"
#define DATA_NAME	"kvblw-data"
#define MARK_PREFIX	"kvb-op-"
#define END_MARK	"dm-log-writes-end"

#define NR_OPS		56		/* workload operations 1..NR_OPS */
#define OP_LAST		(NR_OPS + 1)	/* the detach */
#define NR_KEYS		200		/* keys the workload may offload */
#define NR_NEVER	4		/* keys it never offloads */
#define NK		(NR_KEYS + NR_NEVER)
#define MAX_BATCH	16
#define LIVE_CAP	(6ULL << 20)	/* delete buckets above this */
#define STRIDE		7		/* also check every STRIDE-th entry */

/* dm-log-writes on-disk log (drivers/md/dm-log-writes.c) */
#define LOG_FLUSH_FLAG		(1 << 0)
#define LOG_FUA_FLAG		(1 << 1)
#define LOG_DISCARD_FLAG	(1 << 2)
#define LOG_MARK_FLAG		(1 << 3)
#define LOG_METADATA_FLAG	(1 << 4)
#define WRITE_LOG_MAGIC		0x6a736677736872ULL
#define WRITE_LOG_VERSION	1ULL

struct log_write_super {
	uint64_t magic;
	uint64_t version;
	uint64_t nr_entries;
	uint32_t sectorsize;
} __attribute__((packed));

struct log_write_entry {
	uint64_t sector;
	uint64_t nr_sectors;
	uint64_t flags;
	uint64_t data_len;
};

enum op_type { OP_ATTACH, OP_OFFLOAD, OP_REPLACE, OP_REMOVE, OP_DELETE,
	       OP_DETACH };
static const char *const op_names[] = {
	"ATTACH(FORMAT)", "OFFLOAD", "OFFLOAD(REPLACE)", "REMOVE",
	"DELETE_BUCKET", "DETACH",
};

struct op {
	enum op_type type;
	int n;				/* keys changed (status 0) */
	uint16_t keys[MAX_BATCH];
	int n_exist;			/* OFFLOAD: stored keys given, -EEXIST */
	uint16_t exist[2];
	int n_enoent;			/* REMOVE: absent keys given, -ENOENT */
	uint16_t enoent[2];
	uint64_t bucket;		/* OFFLOAD: the new one; DELETE: deleted */
	uint64_t first_off;		/* OFFLOAD: device offset of a value */
	uint64_t bytes;			/* OFFLOAD: value bytes */
};

/* what a key holds after an operation: gen = writing op, 0 = absent */
struct kstate {
	uint32_t gen;
	uint32_t vlen;
	uint64_t bucket;
};

struct lw_entry {
	uint64_t sector, nr_sectors, flags, off;
	int mark;			/* op number, -1 none, -2 end mark */
};

static struct op ops[OP_LAST + 1];
static struct kstate st[OP_LAST + 1][NK];
static char keyname[NK][48];
static uint32_t keylen[NK];
static uint64_t rng = 0x6b76626c6f67ULL;
static uint64_t last_bucket;		/* ids must increase */

static uint64_t rnd(uint64_t n)
{
	return splitmix64(&rng) % n;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

FIXTURE(lw) {
	int ctl;
	bool brd_loaded;
	bool dm_lw, dm_data;
	bool copy_attached;
	uint32_t copy_id;
	const char *disk, *logdev;
	char data_dev[64], lw_dev[64];
	struct lw_entry *ent;
	uint64_t nr_ent;
	uint32_t ss;
	int logfd, replayfd, copyfd;
	char *buf;			/* aligned, for log data and copies */
	size_t buf_len;
};

/* fork/exec; exit status, or 128 + signal; output to out (NULL: inherit) */
static int run_cmd(const char *const argv[], const char *out)
{
	int status;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (out) {
			int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);

			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) :
				   128 + WTERMSIG(status);
}

static int dmsetup_remove(const char *name)
{
	const char *argv[] = { "dmsetup", "remove", name, NULL };

	return run_cmd(argv, "/dev/null");
}

/* /dev/dm-N of a device-mapper name (there is no udev in the VM) */
static int dm_path(const char *name, char *path, size_t len)
{
	DIR *d = opendir("/sys/block");
	struct dirent *de;
	int ret = -ENOENT;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char p[300], n[128] = "";
		FILE *f;

		if (strncmp(de->d_name, "dm-", 3))
			continue;
		snprintf(p, sizeof(p), "/sys/block/%s/dm/name", de->d_name);
		f = fopen(p, "r");
		if (!f)
			continue;
		if (fgets(n, sizeof(n), f))
			n[strcspn(n, "\n")] = 0;
		fclose(f);
		if (!strcmp(n, name)) {
			snprintf(path, len, "/dev/%.32s", de->d_name);
			ret = 0;
			break;
		}
	}
	closedir(d);
	return ret;
}

static int dmsetup_create(const char *name, const char *table, char *path,
			  size_t len)
{
	const char *argv[] = { "dmsetup", "create", name, "--table", table,
			       NULL };
	int ret = run_cmd(argv, NULL);

	if (ret)
		return ret > 0 ? -EIO : ret;
	return dm_path(name, path, len);
}

static int lw_mark(int op)
{
	char mark[32];
	const char *argv[] = { "dmsetup", "message", LW_NAME, "0", "mark",
			       mark, NULL };

	snprintf(mark, sizeof(mark), MARK_PREFIX "%d", op);
	return run_cmd(argv, NULL);
}

static uint64_t dev_size(int fd)
{
	uint64_t sz = 0;

	if (ioctl(fd, BLKGETSIZE64, &sz))
		return 0;
	return sz;
}

static int zero_dev(const char *path)
{
	uint64_t range[2] = { 0, DATA_BYTES };
	int fd = open(path, O_RDWR | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = kvb_ioctl(fd, BLKZEROOUT, range);
	close(fd);
	return ret;
}

FIXTURE_SETUP(lw)
{
	const char *mp[] = { "modprobe", "dm_log_writes", NULL };
	const char *brd[] = { "modprobe", "brd", "rd_nr=2", "rd_size=65536",
			      NULL };
	char table[256];
	int fd, i;

	self->ctl = self->logfd = self->replayfd = self->copyfd = -1;
	ASSERT_TRUE(module_loaded()) TH_LOG("kvbucket module not loaded");
	ASSERT_EQ(0, detach_all());
	self->disk = kvb_disk(0);
	self->logdev = kvb_disk(2);
	ASSERT_NE(NULL, self->logdev) TH_LOG("KVB_DISKS needs 3 disks");
	self->ctl = ctl_open();
	ASSERT_LE(0, self->ctl);

	/* leftovers of a run that was killed */
	dmsetup_remove(LW_NAME);
	dmsetup_remove(DATA_NAME);

	ASSERT_EQ(0, run_cmd(mp, NULL)) TH_LOG("modprobe dm_log_writes");
	if (access("/sys/module/brd", F_OK)) {
		ASSERT_EQ(0, run_cmd(brd, NULL)) TH_LOG("modprobe brd");
		self->brd_loaded = true;
	}
	for (i = 0; i < 2; i++) {
		fd = open(i ? "/dev/ram1" : "/dev/ram0", O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, fd) TH_LOG("/dev/ram%d: %s", i, strerror(errno));
		ASSERT_LE(DATA_BYTES, dev_size(fd))
			TH_LOG("/dev/ram%d smaller than 64 MiB (brd loaded by someone else?)", i);
		close(fd);
		ASSERT_EQ(0, zero_dev(i ? "/dev/ram1" : "/dev/ram0"));
	}

	snprintf(table, sizeof(table), "0 %llu linear %s 0",
		 DATA_SECTORS, self->disk);
	ASSERT_EQ(0, dmsetup_create(DATA_NAME, table, self->data_dev,
				    sizeof(self->data_dev)));
	self->dm_data = true;
	/* the replay starts from zeros: so must the data device */
	ASSERT_EQ(0, zero_dev(self->data_dev));
	snprintf(table, sizeof(table), "0 %llu log-writes %s %s",
		 DATA_SECTORS, self->data_dev, self->logdev);
	ASSERT_EQ(0, dmsetup_create(LW_NAME, table, self->lw_dev,
				    sizeof(self->lw_dev)));
	self->dm_lw = true;

	for (i = 0; i < NK; i++) {
		int n = snprintf(keyname[i], sizeof(keyname[i]), "%s%04d-",
				 i < NR_KEYS ? "lw" : "never", i);

		/* key lengths vary from 8 to 30 bytes */
		memset(keyname[i] + n, 'a' + i % 26, (i * 7) % 23);
		keyname[i][n + (i * 7) % 23] = 0;
		keylen[i] = strlen(keyname[i]);
	}
}

FIXTURE_TEARDOWN(lw)
{
	if (self->copy_attached)
		EXPECT_EQ(0, ctl_detach(self->ctl, self->copy_id));
	EXPECT_EQ(0, detach_all());
	if (self->ctl >= 0)
		close(self->ctl);
	if (self->logfd >= 0)
		close(self->logfd);
	if (self->replayfd >= 0)
		close(self->replayfd);
	if (self->copyfd >= 0)
		close(self->copyfd);
	free(self->ent);
	free(self->buf);
	if (self->dm_lw)
		EXPECT_EQ(0, dmsetup_remove(LW_NAME));
	if (self->dm_data)
		EXPECT_EQ(0, dmsetup_remove(DATA_NAME));
	if (self->brd_loaded)
		EXPECT_EQ(0, kvb_sys_errno(syscall(SYS_delete_module, "brd",
						   O_NONBLOCK)));
}

/* ---- the workload ----------------------------------------------------- */

static size_t pick_vlen(bool big)
{
	uint64_t r = rnd(100);

	if (big)
		return 256 * 1024 + rnd(256 * 1024);
	if (r < 12)
		return 1;
	if (r < 45)
		return 1 + rnd(4096);
	if (r < 80)
		return 4097 + rnd(60 * 1024);
	return 64 * 1024 + 1 + rnd(256 * 1024);
}

/* a random key of [0, NR_KEYS) that is present (or absent) in s */
static int pick_key(const struct kstate *s, bool present, const bool *taken)
{
	int i, n = 0, pick;

	for (i = 0; i < NR_KEYS; i++)
		if (!!s[i].gen == present && !taken[i])
			n++;
	if (!n)
		return -1;
	pick = rnd(n);
	for (i = 0; i < NR_KEYS; i++)
		if (!!s[i].gen == present && !taken[i] && !pick--)
			return i;
	return -1;
}

/*
 * Run operation j (1..NR_OPS), chosen from the state before it, and
 * compute st[j]. Returns 0 or a negative errno with msg filled.
 */
static int do_op(int fd, int j, char *msg, size_t len)
{
	const struct kstate *prev = st[j - 1];
	struct kstate *cur = st[j];
	struct op *op = &ops[j];
	struct kvb_obj_desc d[MAX_BATCH + 2];
	struct kvb_slice sl[(MAX_BATCH + 2) * 4];
	void *vals[MAX_BATCH + 2] = { 0 };
	uint16_t idx[MAX_BATCH + 2];
	bool taken[NK] = { 0 };
	uint64_t live_bytes = 0, buckets[NR_KEYS];
	struct kvb_batch b;
	int i, k, n = 0, nb = 0, live = 0, ns = 0, ret = 0;
	uint64_t r;

	memcpy(cur, prev, sizeof(st[0]));
	for (i = 0; i < NR_KEYS; i++) {
		if (!prev[i].gen)
			continue;
		live++;
		live_bytes += prev[i].vlen;
		for (k = 0; k < nb && buckets[k] != prev[i].bucket; k++)
			;
		if (k == nb)
			buckets[nb++] = prev[i].bucket;
	}
	r = rnd(100);
	if (j <= 3 || live < 4)
		op->type = OP_OFFLOAD;
	else if (live_bytes > LIVE_CAP)
		op->type = OP_DELETE;
	else if (r < 40)
		op->type = OP_OFFLOAD;
	else if (r < 60)
		op->type = OP_REPLACE;
	else if (r < 80)
		op->type = OP_REMOVE;
	else
		op->type = OP_DELETE;

	switch (op->type) {
	case OP_OFFLOAD:
	case OP_REPLACE: {
		bool big = op->type == OP_OFFLOAD && rnd(3) == 0;
		int want = big ? 8 + rnd(6) : 1 + rnd(MAX_BATCH);

		if (op->type == OP_REPLACE)
			want = 1 + rnd(8);
		for (i = 0; i < want; i++) {
			/* REPLACE: the first key is stored, then either */
			bool present = op->type == OP_REPLACE &&
				       (i == 0 || rnd(2));
			k = pick_key(prev, present, taken);
			if (k < 0)
				continue;
			taken[k] = true;
			idx[n] = k;
			op->keys[op->n++] = k;
			cur[k].gen = j;
			cur[k].vlen = pick_vlen(big);
			n++;
		}
		/* sometimes a stored key without REPLACE: -EEXIST */
		if (op->type == OP_OFFLOAD && rnd(5) == 0) {
			k = pick_key(prev, true, taken);
			if (k >= 0) {
				taken[k] = true;
				op->exist[op->n_exist++] = k;
				idx[n++] = k;
			}
		}
		for (i = 0; i < n; i++) {
			size_t vlen = i < op->n ? cur[idx[i]].vlen : 100;
			int pieces = vlen > 4 && rnd(4) == 0 ? 2 + rnd(3) : 1;
			size_t off = 0, p;
			char *v;

			k = idx[i];
			/* odd user addresses: the module copies anyway */
			vals[i] = malloc(vlen + 8);
			if (!vals[i]) {
				ret = -ENOMEM;
				goto out;
			}
			v = (char *)vals[i] + (k % 8);
			fill_value(key_seed(keyname[k], keylen[k], j), v, vlen);
			kvb_desc_init(&d[i], keyname[k], keylen[k], &sl[ns],
				      pieces);
			for (p = 0; p < (size_t)pieces; p++) {
				size_t l = p == (size_t)pieces - 1 ?
					   vlen - off : 1 + rnd(vlen / pieces);

				kvb_slice_init(&sl[ns++], v + off, l);
				off += l;
			}
		}
		ret = st_batch(fd, KVB_IOC_OFFLOAD, d, n,
			       op->type == OP_REPLACE ? KVB_OFFLOAD_REPLACE : 0,
			       &b);
		if (ret) {
			snprintf(msg, len, "op %d %s of %d keys: %s", j,
				 op_names[op->type], n, strerror(-ret));
			goto out;
		}
		if (b.nr_done != (uint32_t)op->n || b.bucket_id <= last_bucket) {
			snprintf(msg, len, "op %d %s: nr_done %u (want %d), bucket %llu",
				 j, op_names[op->type], b.nr_done, op->n,
				 (unsigned long long)b.bucket_id);
			ret = -EPROTO;
			goto out;
		}
		for (i = 0; i < n; i++) {
			int want_st = i < op->n ? 0 : -EEXIST;

			if (d[i].status != want_st) {
				snprintf(msg, len, "op %d key %s: status %d, want %d",
					 j, keyname[idx[i]], d[i].status,
					 want_st);
				ret = -EPROTO;
				goto out;
			}
		}
		op->bucket = last_bucket = b.bucket_id;
		op->first_off = d[0].offset;
		for (i = 0; i < op->n; i++) {
			cur[op->keys[i]].bucket = b.bucket_id;
			op->bytes += cur[op->keys[i]].vlen;
		}
		break;
	}
	case OP_REMOVE: {
		int want = 1 + rnd(6);

		for (i = 0; i < want; i++) {
			k = pick_key(prev, true, taken);
			if (k < 0)
				break;
			taken[k] = true;
			op->keys[op->n++] = k;
			cur[k].gen = 0;
			kvb_desc_init(&d[n++], keyname[k], keylen[k], NULL, 0);
		}
		if (rnd(4) == 0) {
			k = NR_KEYS + rnd(NR_NEVER);
			op->enoent[op->n_enoent++] = k;
			kvb_desc_init(&d[n++], keyname[k], keylen[k], NULL, 0);
		}
		ret = st_batch(fd, KVB_IOC_REMOVE, d, n, 0, &b);
		if (ret) {
			snprintf(msg, len, "op %d REMOVE of %d keys: %s", j, n,
				 strerror(-ret));
			goto out;
		}
		for (i = 0; i < n; i++) {
			int want_st = i < op->n ? 0 : -ENOENT;

			if (d[i].status != want_st) {
				snprintf(msg, len, "op %d REMOVE key %s: status %d, want %d",
					 j, i < op->n ? keyname[op->keys[i]] :
					 keyname[op->enoent[0]], d[i].status,
					 want_st);
				ret = -EPROTO;
				goto out;
			}
		}
		break;
	}
	case OP_DELETE: {
		uint64_t victim = 0, most = 0;
		uint32_t nr = 0;

		if (live_bytes > LIVE_CAP) {
			/* the bucket with the most live bytes */
			for (k = 0; k < nb; k++) {
				uint64_t sum = 0;

				for (i = 0; i < NR_KEYS; i++)
					if (prev[i].gen &&
					    prev[i].bucket == buckets[k])
						sum += prev[i].vlen;
				if (sum > most) {
					most = sum;
					victim = buckets[k];
				}
			}
		} else {
			victim = buckets[rnd(nb)];
		}
		op->bucket = victim;
		for (i = 0; i < NR_KEYS; i++) {
			if (prev[i].gen && prev[i].bucket == victim) {
				cur[i].gen = 0;
				if (op->n < MAX_BATCH)
					op->keys[op->n] = i;
				op->n++;
			}
		}
		ret = st_delete(fd, victim, &nr);
		if (ret || nr != (uint32_t)op->n) {
			snprintf(msg, len, "op %d DELETE_BUCKET %llu: %s, nr_keys %u (want %d)",
				 j, (unsigned long long)victim,
				 strerror(-ret), nr, op->n);
			ret = ret ?: -EPROTO;
			goto out;
		}
		break;
	}
	default:
		ret = -EINVAL;
	}
out:
	for (i = 0; i < MAX_BATCH + 2; i++)
		free(vals[i]);
	return ret;
}

/* ---- checking a store against the model --------------------------------- */

static void describe(const struct kstate *s, char *buf, size_t len)
{
	if (!s->gen)
		snprintf(buf, len, "absent");
	else
		snprintf(buf, len, "value of op %u (%u bytes, bucket %llu)",
			 s->gen, s->vlen, (unsigned long long)s->bucket);
}

static bool same(const struct kstate *a, const struct kstate *b)
{
	return a->gen == b->gen && (!a->gen || a->vlen == b->vlen);
}

/*
 * The store open at fd must hold st[m], except that the keys changed by
 * the operation in flight (inflight >= 0) may hold st[inflight]: all of
 * them or none for an OFFLOAD, key by key for REMOVE and DELETE_BUCKET.
 * Returns 0, or -1 with msg saying what is wrong.
 */
static int check_store(int fd, int m, int inflight, char *msg, size_t len)
{
	const struct kstate *A = st[m];
	const struct kstate *B = st[inflight >= 0 ? inflight : m];
	enum op_type type = inflight >= 0 ? ops[inflight].type : OP_ATTACH;
	struct kvb_obj_desc *q = calloc(NK, sizeof(*q));
	struct kvb_obj_desc *ld = calloc(NK, sizeof(*ld));
	struct kvb_slice *sl = calloc(NK, sizeof(*sl));
	void **v = calloc(NK, sizeof(*v));
	bool seen[NK] = { 0 };
	int i, k, nl = 0, present = 0, n_old = 0, n_new = 0, ret = -1;
	int first_old = -1, first_new = -1;
	struct kvb_store_info info;
	struct kvb_bucket_scan sc;
	uint64_t start = 0, last_id = 0, scanned = 0;
	size_t sbuf_len = 1 << 20;
	char *sbuf = malloc(sbuf_len);
	char ea[96], eb[96];
	int r;

	if (!q || !ld || !sl || !v || !sbuf) {
		snprintf(msg, len, "out of memory");
		goto out;
	}
	for (k = 0; k < NK; k++)
		kvb_desc_init(&q[k], keyname[k], keylen[k], NULL, 0);
	r = st_batch(fd, KVB_IOC_QUERY, q, NK, 0, NULL);
	if (r) {
		snprintf(msg, len, "QUERY of all keys: %s", strerror(-r));
		goto out;
	}
	for (k = 0; k < NK; k++) {
		if (q[k].status == -ENOENT)
			continue;
		if (q[k].status) {
			snprintf(msg, len, "key %s: QUERY status %d", keyname[k],
				 q[k].status);
			goto out;
		}
		v[nl] = malloc(q[k].value_len);
		if (!v[nl]) {
			snprintf(msg, len, "out of memory");
			goto out;
		}
		kvb_slice_init(&sl[nl], v[nl], q[k].value_len);
		kvb_desc_init(&ld[nl], keyname[k], keylen[k], &sl[nl], 1);
		nl++;
	}
	if (nl) {
		r = st_batch(fd, KVB_IOC_LOAD, ld, nl, 0, NULL);
		if (r) {
			snprintf(msg, len, "LOAD of the %d present keys: %s",
				 nl, strerror(-r));
			goto out;
		}
	}
	for (i = 0, k = 0; k < NK; k++) {
		const struct kstate *a = &A[k], *b = &B[k];
		bool got = q[k].status == 0, is_a, is_b;
		const struct kstate *match = NULL;
		uint64_t vl = 0;

		describe(a, ea, sizeof(ea));
		describe(b, eb, sizeof(eb));
		if (got) {
			if (ld[i].status) {
				snprintf(msg, len, "key %s: LOAD status %d (%s); expected %s%s%s",
					 keyname[k], ld[i].status,
					 strerror(-ld[i].status), ea,
					 same(a, b) ? "" : " or ",
					 same(a, b) ? "" : eb);
				goto out;
			}
			vl = q[k].value_len;
			is_a = a->gen && a->vlen == vl &&
			       check_value(key_seed(keyname[k], keylen[k],
						    a->gen), v[i], vl) < 0;
			is_b = b->gen && b->vlen == vl &&
			       check_value(key_seed(keyname[k], keylen[k],
						    b->gen), v[i], vl) < 0;
			match = is_a ? a : is_b ? b : NULL;
			present++;
			i++;
		} else {
			is_a = !a->gen;
			is_b = !b->gen;
		}
		if (!is_a && !is_b) {
			if (got)
				snprintf(msg, len, "key %s: expected %s%s%s, got %llu bytes in bucket %llu that match neither",
					 keyname[k], ea,
					 same(a, b) ? "" : " or ",
					 same(a, b) ? "" : eb,
					 (unsigned long long)vl,
					 (unsigned long long)q[k].bucket_id);
			else
				snprintf(msg, len, "key %s: expected %s%s%s, got absent (ENOENT)",
					 keyname[k], ea,
					 same(a, b) ? "" : " or ",
					 same(a, b) ? "" : eb);
			goto out;
		}
		if (match && q[k].bucket_id != match->bucket) {
			snprintf(msg, len, "key %s: holds the value of op %u but in bucket %llu, expected bucket %llu",
				 keyname[k], match->gen,
				 (unsigned long long)q[k].bucket_id,
				 (unsigned long long)match->bucket);
			goto out;
		}
		if (!same(a, b)) {
			if (is_a) {
				n_old++;
				if (first_old < 0)
					first_old = k;
			} else {
				n_new++;
				if (first_new < 0)
					first_new = k;
			}
		}
	}
	if ((type == OP_OFFLOAD || type == OP_REPLACE) && n_old && n_new) {
		describe(&A[first_old], ea, sizeof(ea));
		describe(&B[first_new], eb, sizeof(eb));
		snprintf(msg, len, "op %d %s half done: %d keys as before (e.g. %s: %s), %d keys as after (e.g. %s: %s)",
			 inflight, op_names[type], n_old, keyname[first_old], ea,
			 n_new, keyname[first_new], eb);
		goto out;
	}

	r = st_info(fd, &info);
	if (r || info.nr_damaged || info.nr_keys != (uint64_t)present) {
		snprintf(msg, len, "STORE_INFO: %s, nr_damaged %llu, nr_keys %llu (%d keys readable)",
			 strerror(-r), (unsigned long long)info.nr_damaged,
			 (unsigned long long)info.nr_keys, present);
		goto out;
	}

	/* every bucket once, in increasing id order, with known keys only */
	do {
		char *p;
		uint32_t bi, ki;

		memset(&sc, 0, sizeof(sc));
		sc.size = sizeof(sc);
		sc.start_id = start;
		sc.max_buckets = 1024;
		sc.buf = (uint64_t)(uintptr_t)sbuf;
		sc.buf_len = sbuf_len;
		r = kvb_ioctl(fd, KVB_IOC_BUCKET_SCAN, &sc);
		if (r) {
			snprintf(msg, len, "BUCKET_SCAN from %llu: %s",
				 (unsigned long long)start, strerror(-r));
			goto out;
		}
		p = sbuf;
		for (bi = 0; bi < sc.nr_buckets; bi++) {
			struct kvb_bucket_rec *br = (void *)p;
			char *kp = p + sizeof(*br);

			if (br->id <= last_id) {
				snprintf(msg, len, "BUCKET_SCAN: bucket %llu after %llu",
					 (unsigned long long)br->id,
					 (unsigned long long)last_id);
				goto out;
			}
			last_id = br->id;
			for (ki = 0; ki < br->nr_keys; ki++) {
				struct kvb_key_rec *kr = (void *)kp;
				const char *key = kp + sizeof(*kr);

				for (k = 0; k < NK; k++)
					if (keylen[k] == kr->key_len &&
					    !memcmp(keyname[k], key, kr->key_len))
						break;
				if (k == NK || q[k].status || seen[k] ||
				    q[k].bucket_id != br->id ||
				    q[k].value_len != kr->value_len) {
					snprintf(msg, len, "BUCKET_SCAN: bucket %llu lists key '%.*s' (%s)",
						 (unsigned long long)br->id,
						 (int)kr->key_len, key,
						 k == NK ? "never offloaded" :
						 q[k].status ? "not readable" :
						 seen[k] ? "listed twice" :
						 "QUERY disagrees");
					goto out;
				}
				seen[k] = true;
				scanned++;
				kp += KVB_KEY_REC_LEN(kr->key_len);
			}
			p += br->rec_len;
		}
		start = sc.next_id;
	} while (start);
	if (scanned != (uint64_t)present) {
		snprintf(msg, len, "BUCKET_SCAN lists %llu keys, %d readable",
			 (unsigned long long)scanned, present);
		goto out;
	}
	ret = 0;
out:
	if (v)
		for (i = 0; i < nl; i++)
			free(v[i]);
	free(v);
	free(q);
	free(ld);
	free(sl);
	free(sbuf);
	return ret;
}

/* ---- the log -------------------------------------------------------------- */

static const char *flag_str(uint64_t f, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s%s", f & LOG_FLUSH_FLAG ? "FLUSH " : "",
		 f & LOG_FUA_FLAG ? "FUA " : "",
		 f & LOG_DISCARD_FLAG ? "DISCARD " : "",
		 f & LOG_MARK_FLAG ? "MARK " : "",
		 f & LOG_METADATA_FLAG ? "META " : "");
	return buf;
}

static void dump_entries(FIXTURE_DATA(lw) *self, uint64_t e)
{
	uint64_t i, lo = e > 8 ? e - 8 : 0;
	char f[64];

	fprintf(stderr, "# log entries around %llu:\n", (unsigned long long)e);
	for (i = lo; i < self->nr_ent && i <= e + 3; i++) {
		const struct lw_entry *x = &self->ent[i];

		if (x->mark != -1)
			fprintf(stderr, "#  %c%5llu MARK %s\n", i == e ? '>' : ' ',
				(unsigned long long)i,
				x->mark == -2 ? END_MARK : "op");
		if (x->mark >= 0)
			fprintf(stderr, "#         (op %d acknowledged: %s)\n",
				x->mark, op_names[ops[x->mark].type]);
		if (x->mark == -1)
			fprintf(stderr, "#  %c%5llu %-12s bytes [%llu, %llu)\n",
				i == e ? '>' : ' ', (unsigned long long)i,
				flag_str(x->flags, f, sizeof(f)),
				(unsigned long long)(x->sector * self->ss),
				(unsigned long long)((x->sector + x->nr_sectors) *
						     self->ss));
	}
}

static int read_log(FIXTURE_DATA(lw) *self, char *msg, size_t len)
{
	struct log_write_super sb;
	char blk[4096];
	uint64_t off, i, cap = 0;
	int want = 0;

	if (ioctl(self->logfd, BLKFLSBUF, 0))
		return snprintf(msg, len, "BLKFLSBUF on the log: %s",
				strerror(errno)), -1;
	if (pread(self->logfd, &sb, sizeof(sb), 0) != sizeof(sb))
		return snprintf(msg, len, "log super: short read"), -1;
	if (sb.magic != WRITE_LOG_MAGIC || sb.version != WRITE_LOG_VERSION ||
	    sb.sectorsize < 512 || sb.sectorsize > sizeof(blk) ||
	    sb.sectorsize & (sb.sectorsize - 1))
		return snprintf(msg, len, "log super: magic %llx version %llu sectorsize %u",
				(unsigned long long)sb.magic,
				(unsigned long long)sb.version,
				sb.sectorsize), -1;
	self->ss = sb.sectorsize;
	self->nr_ent = sb.nr_entries;
	self->ent = calloc(sb.nr_entries + 1, sizeof(*self->ent));
	if (!self->ent)
		return snprintf(msg, len, "out of memory"), -1;
	off = self->ss;
	for (i = 0; i < self->nr_ent; i++) {
		struct log_write_entry le;
		struct lw_entry *x = &self->ent[i];

		if (pread(self->logfd, blk, self->ss, off) != self->ss)
			return snprintf(msg, len, "log entry %llu: short read",
					(unsigned long long)i), -1;
		memcpy(&le, blk, sizeof(le));
		x->sector = le.sector;
		x->nr_sectors = le.nr_sectors;
		x->flags = le.flags;
		x->off = off + self->ss;
		x->mark = -1;
		off += self->ss;
		if (le.flags & LOG_MARK_FLAG) {
			char *d = blk + sizeof(le);

			if (le.data_len >= self->ss - sizeof(le))
				return snprintf(msg, len, "log entry %llu: mark of %llu bytes",
						(unsigned long long)i,
						(unsigned long long)le.data_len), -1;
			d[le.data_len] = 0;
			if (!strcmp(d, END_MARK)) {
				x->mark = -2;
			} else if (!strncmp(d, MARK_PREFIX, strlen(MARK_PREFIX))) {
				x->mark = atoi(d + strlen(MARK_PREFIX));
				if (x->mark != want++)
					return snprintf(msg, len, "log entry %llu: mark %.64s, expected op %d",
							(unsigned long long)i, d,
							want - 1), -1;
			} else {
				return snprintf(msg, len, "log entry %llu: unknown mark '%.64s'",
						(unsigned long long)i, d), -1;
			}
			continue;
		}
		if (le.flags & LOG_DISCARD_FLAG)
			continue;
		if ((x->sector + x->nr_sectors) * self->ss > DATA_BYTES)
			return snprintf(msg, len, "log entry %llu: write beyond the device",
					(unsigned long long)i), -1;
		off += x->nr_sectors * self->ss;
		if (x->nr_sectors * self->ss > cap)
			cap = x->nr_sectors * self->ss;
	}
	if (want != OP_LAST + 1 || !self->nr_ent ||
	    self->ent[self->nr_ent - 1].mark != -2)
		return snprintf(msg, len, "log incomplete: %d op marks of %d, last entry %s the end mark (log device full?)",
				want, OP_LAST + 1,
				self->nr_ent && self->ent[self->nr_ent - 1].mark == -2 ?
				"is" : "is not"), -1;
	self->buf_len = cap > (4 << 20) ? cap : (4 << 20);
	if (posix_memalign((void **)&self->buf, 4096, self->buf_len))
		return snprintf(msg, len, "out of memory"), -1;
	return 0;
}

/* apply entry e to the replay device */
static int replay_entry(FIXTURE_DATA(lw) *self, uint64_t e, char *msg,
			size_t len)
{
	const struct lw_entry *x = &self->ent[e];
	uint64_t bytes = x->nr_sectors * self->ss;
	uint64_t dst = x->sector * self->ss;

	if (x->mark != -1 || !bytes)
		return 0;
	if (x->flags & LOG_DISCARD_FLAG) {
		uint64_t range[2] = { dst, bytes };

		if (ioctl(self->replayfd, BLKZEROOUT, range))
			return snprintf(msg, len, "entry %llu: zeroing the discarded range: %s",
					(unsigned long long)e,
					strerror(errno)), -1;
		return 0;
	}
	if (pread(self->logfd, self->buf, bytes, x->off) != (ssize_t)bytes ||
	    pwrite(self->replayfd, self->buf, bytes, dst) != (ssize_t)bytes)
		return snprintf(msg, len, "entry %llu: replaying %llu bytes: %s",
				(unsigned long long)e, (unsigned long long)bytes,
				strerror(errno)), -1;
	return 0;
}

static int copy_replay(FIXTURE_DATA(lw) *self, char *msg, size_t len)
{
	uint64_t off;

	for (off = 0; off < DATA_BYTES; off += 4 << 20) {
		if (pread(self->replayfd, self->buf, 4 << 20, off) != 4 << 20 ||
		    pwrite(self->copyfd, self->buf, 4 << 20, off) != 4 << 20)
			return snprintf(msg, len, "copying ram0 to ram1: %s",
					strerror(errno)), -1;
	}
	/* inspect reads through the page cache */
	if (ioctl(self->copyfd, BLKFLSBUF, 0))
		return snprintf(msg, len, "BLKFLSBUF: %s", strerror(errno)), -1;
	return 0;
}

static const char *inspect_bin(void)
{
	static char path[512];
	const char *root = getenv("KVB_ROOT");

	snprintf(path, sizeof(path), "%s/build/bin/kvbucket-inspect",
		 root ? root : ".");
	return access(path, X_OK) ? "kvbucket-inspect" : path;
}

static void show_file(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		fprintf(stderr, "#   | %s", line);
	fclose(f);
}

/*
 * Check the replayed image: marks up to op m seen (-1:
 * none), inflight the op that may be partly on the device (-1: none),
 * sb whether anything was written to the superblock area yet.
 */
static int check_point(FIXTURE_DATA(lw) *self, int m,
		       int inflight, bool sb, char *msg, size_t len)
{
	const char *out = "/tmp/kvb_logwrites.inspect";
	const char *argv[] = { inspect_bin(), "--check", "/dev/ram1", NULL };
	char emsg[768];
	int rc, ret, fd;
	struct kvb_store_info info;

	if (copy_replay(self, msg, len))
		return -1;
	rc = run_cmd(argv, out);
	/*
	 * At a 100 % high watermark: attaching a store found above the high
	 * watermark starts evicting, which must not change what is checked
	 * (the workload stays below it, but the attach must not depend on
	 * that).
	 */
	{
		struct kvb_attach a;

		attach_init(&a, "/dev/ram1", 0);
		a.high_watermark = 100;
		a.low_watermark = 99;
		ret = kvb_ioctl(self->ctl, KVB_IOC_ATTACH, &a);
		if (!ret)
			self->copy_id = a.id;
	}
	if (!ret)
		self->copy_attached = true;
	if (!sb) {
		/* before the first superblock write: no store at all */
		if (m >= 0) {
			snprintf(msg, len, "op %d (%s) acknowledged but no superblock written",
				 m, op_names[ops[m].type]);
			return -1;
		}
		if (rc != 1 || ret != -EINVAL) {
			show_file(out);
			snprintf(msg, len, "no superblock yet: inspect exit %d (want 1), attach %d (want -EINVAL)",
				 rc, ret);
			return -1;
		}
		return 0;
	}
	if (rc != 0) {
		show_file(out);
		snprintf(msg, len, "kvbucket-inspect --check exit %d", rc);
		return -1;
	}
	if (ret) {
		snprintf(msg, len, "attach of the replayed store: %s",
			 strerror(-ret));
		return -1;
	}
	fd = store_open(self->copy_id);
	if (fd < 0) {
		snprintf(msg, len, "open store: %s", strerror(errno));
		return -1;
	}
	ret = check_store(fd, m < 0 ? 0 : m, m < 0 ? 0 : inflight, emsg,
			  sizeof(emsg));
	if (!ret && m == OP_LAST) {
		/* after the clean detach: the checkpoint must be used */
		if (st_info(fd, &info) || !(info.flags & KVB_INFO_WARM)) {
			snprintf(emsg, sizeof(emsg),
				 "attach after the clean detach was not warm (flags %#x)",
				 info.flags);
			ret = -1;
		}
	}
	close(fd);
	if (ret) {
		snprintf(msg, len, "%s", emsg);
		return -1;
	}
	ret = ctl_detach(self->ctl, self->copy_id);
	self->copy_attached = false;
	if (ret) {
		snprintf(msg, len, "detach of the replayed store: %s",
			 strerror(-ret));
		return -1;
	}
	return 0;
}

TEST_F_TIMEOUT(lw, crash_at_every_flush_fua_and_mark, 900)
{
	char msg[1024] = "";
	uint32_t id;
	int fd, j, m, last_mark_entry, ret, wraps = 0;
	uint64_t e, checks = 0, n_ff = 0, n_ff_merged = 0, n_marks = 0,
		 n_stride = 0, total = 0, prev_off = 0, max_used = 0,
		 capacity = 0;
	bool sb = false, dirty = false;
	double t0 = now_s(), t1, t2;

	/* 1. the workload, a MARK after every acknowledged operation */
	ops[0].type = OP_ATTACH;
	ASSERT_EQ(0, ctl_attach(self->ctl, self->lw_dev, KVB_ATTACH_FORMAT, 0,
				0, 0, &id));
	ASSERT_EQ(0, lw_mark(0));
	fd = store_open(id);
	ASSERT_LE(0, fd);
	for (j = 1; j <= NR_OPS; j++) {
		struct kvb_store_info info;

		ret = do_op(fd, j, msg, sizeof(msg));
		if (ret)
			close(fd);
		ASSERT_EQ(0, ret) TH_LOG("%s", msg);
		ASSERT_EQ(0, lw_mark(j));
		/*
		 * The model (and every check of the replay) knows only the
		 * workload's own calls: an eviction, which the kernel decides
		 * in the background above the high watermark, would make
		 * acknowledged keys vanish. LIVE_CAP keeps the store well
		 * below it; check that it stays there.
		 */
		ASSERT_EQ(0, st_info(fd, &info));
		if (info.used_bytes > max_used)
			max_used = info.used_bytes;
		ASSERT_EQ(0, info.nr_evicted)
			TH_LOG("op %d: the store evicted (%llu of %llu bytes used, high watermark %u %%)",
			       j, (unsigned long long)info.used_bytes,
			       (unsigned long long)info.capacity_bytes,
			       info.high_watermark);
		capacity = info.capacity_bytes;
		if (ops[j].type == OP_OFFLOAD || ops[j].type == OP_REPLACE) {
			if (ops[j].first_off < prev_off)
				wraps++;
			prev_off = ops[j].first_off;
			total += ops[j].bytes;
		}
	}
	/* the model is right about the live store */
	ret = check_store(fd, NR_OPS, -1, msg, sizeof(msg));
	close(fd);
	ASSERT_EQ(0, ret) TH_LOG("live store after the workload: %s", msg);
	ops[OP_LAST].type = OP_DETACH;
	memcpy(st[OP_LAST], st[NR_OPS], sizeof(st[0]));
	ASSERT_EQ(0, ctl_detach(self->ctl, id));
	ASSERT_EQ(0, lw_mark(OP_LAST));
	ASSERT_EQ(0, dmsetup_remove(LW_NAME));
	self->dm_lw = false;
	t1 = now_s();
	fprintf(stderr, "# workload: %d ops, %llu value bytes offloaded, allocation wrapped %d times, at most %llu of %llu MiB used, %.1f s\n",
		NR_OPS, (unsigned long long)total, wraps,
		(unsigned long long)max_used >> 20,
		(unsigned long long)capacity >> 20, t1 - t0);

	/* 2. read the log */
	self->logfd = open(self->logdev, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, self->logfd);
	ASSERT_EQ(0, read_log(self, msg, sizeof(msg))) TH_LOG("%s", msg);
	self->replayfd = open("/dev/ram0", O_RDWR | O_DIRECT | O_CLOEXEC);
	ASSERT_LE(0, self->replayfd);
	self->copyfd = open("/dev/ram1", O_RDWR | O_DIRECT | O_CLOEXEC);
	ASSERT_LE(0, self->copyfd);

	/* 3. replay, checking as we go */
	m = -1;
	last_mark_entry = -1;
	for (e = 0; e < self->nr_ent; e++) {
		const struct lw_entry *x = &self->ent[e];
		bool ff = x->flags & (LOG_FLUSH_FLAG | LOG_FUA_FLAG);
		bool cand, next_mark;
		int inflight;

		ASSERT_EQ(0, replay_entry(self, e, msg, sizeof(msg)))
			TH_LOG("%s", msg);
		if (x->mark >= 0) {
			m = x->mark;
			last_mark_entry = e;
			n_marks++;
		} else if (x->mark == -1) {
			dirty = true;
			if (x->nr_sectors && x->sector * self->ss < 8192)
				sb = true;
		}
		cand = ff || x->mark != -1 || (e + 1) % STRIDE == 0;
		if (ff)
			n_ff++;
		/*
		 * the same image with more marks seen follows: check it
		 * there, with the stronger expectation
		 */
		next_mark = e + 1 < self->nr_ent && self->ent[e + 1].mark != -1;
		if (!cand)
			continue;
		if (next_mark) {
			if (ff)
				n_ff_merged++;
			continue;
		}
		if (!ff && x->mark == -1)
			n_stride++;
		/* only the op after the last mark can have writes after it */
		inflight = (int)e > last_mark_entry && m < OP_LAST ? m + 1 : -1;
		if (!dirty && x->mark == -2)
			continue;	/* same as the last check */
		ret = check_point(self, m, inflight, sb, msg, sizeof(msg));
		if (ret)
			dump_entries(self, e);
		ASSERT_EQ(0, ret)
			TH_LOG("replay point after log entry %llu of %llu: ops 0..%d acknowledged, op %d %s%s in flight: %s",
			       (unsigned long long)e,
			       (unsigned long long)self->nr_ent, m, inflight,
			       inflight >= 0 ? op_names[ops[inflight].type] : "(none)",
			       inflight >= 0 ? "" : "", msg);
		checks++;
		dirty = false;
	}
	t2 = now_s();
	fprintf(stderr, "# replay: %llu log entries, %llu replay points checked (%llu FLUSH/FUA entries, %llu of them checked at the MARK that follows; %llu MARKs; %llu every-%dth points), %.1f s\n",
		(unsigned long long)self->nr_ent, (unsigned long long)checks,
		(unsigned long long)n_ff, (unsigned long long)n_ff_merged,
		(unsigned long long)n_marks, (unsigned long long)n_stride,
		STRIDE, t2 - t1);
	ASSERT_LT(0, checks);
}

TEST_HARNESS_MAIN
