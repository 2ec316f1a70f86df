// SPDX-License-Identifier: GPL-2.0
/*
 * io_uring commands (KVB_FEAT_URING_CMD): OFFLOAD, QUERY and LOAD as
 * IORING_OP_URING_CMD on a store device, through libkvbucket's
 * kvb_prep_*() verbs and as raw SQEs.
 *
 * One thread keeps 32 batches in flight and checks every value byte and
 * every descriptor against what the ioctl path gives; the errors of the
 * issue path and of the batch; a command blocked in the kernel on a page
 * fault (userfaultfd) while later ones complete; detach with commands
 * queued and running; the ring closed and the submitting process exiting
 * with commands in flight, then a module reload; cancellation. No sleeps:
 * completions are waited for, and faults are observed on the userfaultfd.
 */
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <linux/userfaultfd.h>

#include "kselftest_harness.h"
#include "kvb_test.h"

#define QD		32		/* commands in flight */
#define PER		4		/* keys per batch */
#define VMAX		(64 << 10)	/* largest value */
#define KEYLEN		32
#define CANCEL_TAG	1ULL		/* user_data of cancel SQEs */
#define CANCEL_FD_TAG	2ULL

/* One batch in flight: everything the kernel reads and writes. */
struct cmd {
	unsigned int op;		/* KVB_IOC_OFFLOAD, _QUERY or _LOAD */
	unsigned int n;
	unsigned int key[PER];		/* test key numbers */
	bool async;			/* submitted with IOSQE_ASYNC */
	int res;			/* the completion's res */
	struct kvb_batch b;
	struct kvb_obj_desc d[PER];
	struct kvb_slice s[PER];
	char kb[PER][KEYLEN];
	unsigned char *v[PER];		/* VMAX bytes each */
};

/* Where an OFFLOAD put a key. */
struct rec {
	bool stored;
	uint64_t bucket;
	uint64_t offset;
};

static struct tkey ur_key(char *buf, const char *prefix, unsigned int i)
{
	mk_key(buf, KEYLEN, prefix, i);
	return (struct tkey){ buf, strlen(buf), value_len_of(i, VMAX), 0 };
}

/*
 * Commands and their buffers live on the heap and are never freed while
 * the kernel may still use them (also when an ASSERT ends the test).
 */
static struct cmd *cmds_alloc(unsigned int n)
{
	struct cmd *c = calloc(n, sizeof(*c));
	unsigned int i, j;

	if (!c)
		return NULL;
	for (i = 0; i < n; i++)
		for (j = 0; j < PER; j++) {
			c[i].v[j] = malloc(VMAX);
			if (!c[i].v[j])
				return NULL;
		}
	return c;
}

static void cmds_free(struct cmd *c, unsigned int n)
{
	unsigned int i, j;

	for (i = 0; i < n; i++)
		for (j = 0; j < PER; j++)
			free(c[i].v[j]);
	free(c);
}

/* Descriptors for keys[0..n) of prefix: values to write, or room for them. */
static void cmd_fill(struct cmd *c, unsigned int op, const char *prefix,
		     const unsigned int *keys, unsigned int n)
{
	unsigned int j;

	c->op = op;
	c->n = n;
	c->res = -EINPROGRESS;
	for (j = 0; j < n; j++) {
		struct tkey k = ur_key(c->kb[j], prefix, keys[j]);

		c->key[j] = keys[j];
		if (op == KVB_IOC_OFFLOAD)
			fill_value(tkey_seed(&k), c->v[j], k.vlen);
		else
			memset(c->v[j], 0x5a, k.vlen);
		kvb_slice_init(&c->s[j], c->v[j], k.vlen);
		if (op == KVB_IOC_QUERY)
			kvb_desc_init(&c->d[j], k.key, k.klen, NULL, 0);
		else
			kvb_desc_init(&c->d[j], k.key, k.klen, &c->s[j], 1);
	}
}

/* keys first .. first + n - 1 */
static void cmd_fill_range(struct cmd *c, unsigned int op, const char *prefix,
			   unsigned int first, unsigned int n)
{
	unsigned int keys[PER], j;

	for (j = 0; j < n; j++)
		keys[j] = first + j;
	cmd_fill(c, op, prefix, keys, n);
}

static int cmd_prep(struct io_uring *ring, struct kvb_store *st,
		    struct cmd *c)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	int ret;

	if (!sqe)
		return -EBUSY;
	switch (c->op) {
	case KVB_IOC_OFFLOAD:
		ret = kvb_prep_offload(sqe, st, &c->b, c->d, c->n, 0);
		break;
	case KVB_IOC_QUERY:
		ret = kvb_prep_query(sqe, st, &c->b, c->d, c->n);
		break;
	default:
		ret = kvb_prep_load(sqe, st, &c->b, c->d, c->n);
		break;
	}
	io_uring_sqe_set_data(sqe, c);
	if (c->async)
		sqe->flags |= IOSQE_ASYNC;
	return ret;
}

/* What reap() returns for the completion of a cancel SQE. */
static struct cmd not_a_cmd;

/* Wait for one completion; its command gets the result. NULL: error. */
static struct cmd *reap(struct io_uring *ring, uint64_t *tag, int *res)
{
	struct io_uring_cqe *cqe;
	struct cmd *c;

	if (io_uring_wait_cqe(ring, &cqe))
		return NULL;
	*tag = cqe->user_data;
	*res = cqe->res;
	c = io_uring_cqe_get_data(cqe);
	io_uring_cqe_seen(ring, cqe);
	if (*tag == CANCEL_TAG || *tag == CANCEL_FD_TAG)
		return &not_a_cmd;
	c->res = *res;
	return c;
}

/*
 * A command that completed with 0: the batch and every descriptor as the
 * ioctl gives them, the loaded bytes exact. OFFLOAD records where its keys
 * went in rec; QUERY and LOAD must find them there. Returns the number of
 * wrong things (the first is logged).
 */
static int cmd_check(struct __test_metadata *_metadata, struct cmd *c,
		     const char *prefix, struct rec *rec)
{
	int bad = 0;
	unsigned int j;

	if (c->res) {
		TH_LOG("%s op %#x: res %d", prefix, c->op, c->res);
		return 1;
	}
	if (c->b.nr_done != c->n || c->b.limit ||
	    (c->op == KVB_IOC_OFFLOAD) != !!c->b.bucket_id) {
		TH_LOG("%s op %#x: nr_done %u of %u, bucket %llu, limit %u",
		       prefix, c->op, c->b.nr_done, c->n,
		       (unsigned long long)c->b.bucket_id, c->b.limit);
		bad++;
	}
	for (j = 0; j < c->n; j++) {
		const struct kvb_obj_desc *d = &c->d[j];
		struct tkey k = ur_key(c->kb[j], prefix, c->key[j]);
		struct rec *r = &rec[c->key[j]];
		long off = -1;

		if (c->op == KVB_IOC_OFFLOAD && !d->status &&
		    d->bucket_id == c->b.bucket_id && d->offset) {
			r->stored = true;
			r->bucket = d->bucket_id;
			r->offset = d->offset;
		}
		if (c->op == KVB_IOC_LOAD)
			off = check_value(tkey_seed(&k), c->v[j], k.vlen);
		if (d->status || d->value_len != k.vlen || !r->stored ||
		    d->bucket_id != r->bucket || d->offset != r->offset ||
		    off >= 0) {
			if (!bad)
				TH_LOG("%s key %u op %#x: status %d len %llu/%zu bucket %llu/%llu offset %llu/%llu, byte %ld wrong",
				       prefix, c->key[j], c->op, d->status,
				       (unsigned long long)d->value_len, k.vlen,
				       (unsigned long long)d->bucket_id,
				       (unsigned long long)r->bucket,
				       (unsigned long long)d->offset,
				       (unsigned long long)r->offset, off);
			bad++;
		}
	}
	return bad;
}

/*
 * Through the ioctls: key i of prefix loads byte-exact when want[i], else
 * is not stored. Returns the number of keys that differ.
 */
static int verify_keys(struct __test_metadata *_metadata, int fd,
		       const char *prefix, const bool *want, unsigned int n)
{
	unsigned int i;
	int bad = 0;

	for (i = 0; i < n; i++) {
		char kb[KEYLEN];
		struct tkey k = ur_key(kb, prefix, i);
		int ret = get_one(fd, &k);

		if (ret != (want[i] ? 0 : -ENOENT)) {
			if (!bad)
				TH_LOG("%s key %u: %d, want %s", prefix, i, ret,
				       want[i] ? "its value" : "ENOENT");
			bad++;
		}
	}
	return bad;
}

/* n keys of prefix through the ioctl, PER at a time. */
static int put_keys(int fd, const char *prefix, unsigned int n)
{
	char kb[PER][KEYLEN];
	struct tkey k[PER];
	struct kvb_batch b;
	unsigned int i, j;
	int ret;

	for (i = 0; i < n; i += PER) {
		for (j = 0; j < PER && i + j < n; j++)
			k[j] = ur_key(kb[j], prefix, i + j);
		ret = put_batch(fd, k, j, 0, NULL, &b);
		if (ret)
			return ret;
		if (b.nr_done != j)
			return -EEXIST;
	}
	return 0;
}

/* ---- raw SQEs: what the library does not let one get wrong ---------- */

/* A 128-byte SQE with command c; user_data 0. */
static void raw_prep(struct io_uring_sqe *sqe, int fd, uint32_t op,
		     const struct kvb_uring_cmd *c)
{
	memset(sqe, 0, 2 * sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe->cmd_op = op;
	memcpy(sqe->cmd, c, sizeof(*c));
}

static int wait_res(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;
	int ret;

	ret = io_uring_wait_cqe(ring, &cqe);
	if (ret)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return ret;
}

/* Submit one raw command and wait for it: its res. */
static int raw_run(struct io_uring *ring, int fd, uint32_t op,
		   const struct kvb_uring_cmd *c)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	int ret;

	if (!sqe)
		return -EBUSY;
	raw_prep(sqe, fd, op, c);
	ret = io_uring_submit(ring);
	if (ret != 1)
		return ret < 0 ? ret : -EIO;
	return wait_res(ring);
}

static int uring_batch(struct io_uring *ring, int fd, uint32_t op,
		       struct kvb_batch *b)
{
	struct kvb_uring_cmd c = { .batch = (uintptr_t)b };

	return raw_run(ring, fd, op, &c);
}

/* ---- userfaultfd: a command that blocks in the kernel until we say -- */

struct uffd_region {
	int uffd;
	void *addr;
	size_t len;
};

/* 0, or -errno when userfaultfd cannot be used here (the test skips). */
static int uffd_setup(struct uffd_region *r, size_t len)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;
	int ret;

	r->uffd = syscall(SYS_userfaultfd, O_CLOEXEC);
	if (r->uffd < 0)
		return -errno;
	if (ioctl(r->uffd, UFFDIO_API, &api))
		goto fail;
	r->len = len;
	r->addr = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->addr == MAP_FAILED)
		goto fail;
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uintptr_t)r->addr;
	reg.range.len = len;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(r->uffd, UFFDIO_REGISTER, &reg))
		goto fail;
	return 0;
fail:
	ret = -errno;
	close(r->uffd);
	return ret;
}

/* Wait for a fault in the region (taken by a kernel worker): 0 or -errno. */
static int uffd_wait_fault(struct uffd_region *r)
{
	struct pollfd p = { .fd = r->uffd, .events = POLLIN };
	struct uffd_msg msg;
	uint64_t a;

	if (poll(&p, 1, -1) != 1)
		return -errno;
	if (read(r->uffd, &msg, sizeof(msg)) != sizeof(msg))
		return -EIO;
	if (msg.event != UFFD_EVENT_PAGEFAULT)
		return -EPROTO;
	a = msg.arg.pagefault.address;
	if (a < (uintptr_t)r->addr || a >= (uintptr_t)r->addr + r->len)
		return -ERANGE;
	return 0;
}

/* Map zero pages over the region: the fault is resolved, no other comes. */
static int uffd_resolve(struct uffd_region *r)
{
	struct uffdio_zeropage z;

	memset(&z, 0, sizeof(z));
	z.range.start = (uintptr_t)r->addr;
	z.range.len = r->len;
	return ioctl(r->uffd, UFFDIO_ZEROPAGE, &z) ? -errno : 0;
}

/* ---- the fixture: a fresh store and a ring of 2 * QD SQE128 entries --- */

FIXTURE(ur) {
	int ctl;
	uint32_t id;
	struct kvb_store *st;
	int fd;
	struct io_uring ring;
	bool ring_ok;
	/* a region whose faults block commands: resolved at teardown */
	struct uffd_region *uffd;
};

FIXTURE_SETUP(ur)
{
	struct kvb_features f;

	ASSERT_TRUE(module_loaded()) TH_LOG("kvbucket module not loaded");
	ASSERT_EQ(0, detach_all());
	ASSERT_NE(NULL, kvb_disk(0));
	ASSERT_EQ(0, kvb_get_features(&f));
	ASSERT_TRUE(f.features & KVB_FEAT_URING_CMD);
	self->ctl = ctl_open();
	ASSERT_LE(0, self->ctl);
	ASSERT_EQ(0, ctl_attach(self->ctl, kvb_disk(0), KVB_ATTACH_FORMAT, 0,
				0, 0, &self->id));
	ASSERT_EQ(0, kvb_open(self->id, &self->st));
	self->fd = kvb_store_fd(self->st);
	ASSERT_EQ(0, kvb_ring_init(&self->ring, 2 * QD));
	self->ring_ok = true;
}

FIXTURE_TEARDOWN(ur)
{
	/* a failed test must not leave a command blocked on a fault */
	if (self->uffd)
		uffd_resolve(self->uffd);
	if (self->ring_ok)
		io_uring_queue_exit(&self->ring);
	kvb_close(self->st);
	if (self->ctl >= 0)
		close(self->ctl);
	/* a test that failed half-way through a reload */
	if (!module_loaded())
		EXPECT_EQ(0, module_load());
	EXPECT_EQ(0, detach_all());
}

/* The store again, from the device, after a detach. */
static void reattach(struct __test_metadata *_metadata,
		     FIXTURE_DATA(ur) *self)
{
	kvb_close(self->st);
	self->st = NULL;
	ASSERT_EQ(0, ctl_attach(self->ctl, kvb_disk(0), 0, 0, 0, 0,
				&self->id));
	ASSERT_EQ(0, kvb_open(self->id, &self->st));
	self->fd = kvb_store_fd(self->st);
}

/*
 * One thread, 32 commands in flight at every moment until the end:
 * OFFLOADs of new batches and LOADs of keys already offloaded, a third of
 * them issued from io_uring's worker threads (IOSQE_ASYNC). Every result
 * is checked as it comes, then against QUERY through the ioctl.
 */
TEST_F_TIMEOUT(ur, qd32_offload_load, 600)
{
	enum { NR_BATCHES = 96, NR_LOADS = 96, NR_KEYS = NR_BATCHES * PER };
	struct cmd *c = cmds_alloc(QD);
	struct rec *rec = calloc(NR_KEYS, sizeof(*rec));
	unsigned int *stored = calloc(NR_KEYS, sizeof(*stored));
	uint64_t *buckets = calloc(NR_BATCHES, sizeof(*buckets));
	bool *free_slot = calloc(QD, sizeof(*free_slot));
	unsigned int nr_stored = 0, next = 0, loads = 0, inflight = 0;
	unsigned int max_inflight = 0, nr_buckets = 0, sent = 0, i, j;
	struct kvb_obj_desc *q = calloc(NR_KEYS, sizeof(*q));
	char (*qk)[KEYLEN] = calloc(NR_KEYS, KEYLEN);
	uint64_t rnd = 42, tag;
	int bad = 0, res;

	ASSERT_NE(NULL, c);
	ASSERT_NE(NULL, rec);
	ASSERT_NE(NULL, stored);
	ASSERT_NE(NULL, buckets);
	ASSERT_NE(NULL, free_slot);
	ASSERT_NE(NULL, q);
	ASSERT_NE(NULL, qk);
	for (i = 0; i < QD; i++)
		free_slot[i] = true;

	while (next < NR_BATCHES || loads < NR_LOADS || inflight) {
		unsigned int n = 0;

		for (i = 0; i < QD; i++) {
			bool load;

			if (!free_slot[i])
				continue;
			load = loads < NR_LOADS && nr_stored >= PER &&
			       (next == NR_BATCHES || splitmix64(&rnd) & 1);
			if (load) {
				unsigned int keys[PER];

				for (j = 0; j < PER; j++)
					keys[j] = stored[splitmix64(&rnd) %
							 nr_stored];
				cmd_fill(&c[i], KVB_IOC_LOAD, "qd", keys, PER);
				loads++;
			} else if (next < NR_BATCHES) {
				cmd_fill_range(&c[i], KVB_IOC_OFFLOAD, "qd",
					       next * PER, PER);
				next++;
			} else {
				break;
			}
			c[i].async = sent++ % 3 == 2;
			ASSERT_EQ(0, cmd_prep(&self->ring, self->st, &c[i]));
			free_slot[i] = false;
			n++;
		}
		if (n)
			ASSERT_EQ((int)n, io_uring_submit(&self->ring));
		inflight += n;
		if (inflight > max_inflight)
			max_inflight = inflight;

		struct cmd *done = reap(&self->ring, &tag, &res);

		ASSERT_NE(NULL, done);
		bad += cmd_check(_metadata, done, "qd", rec);
		if (done->op == KVB_IOC_OFFLOAD && !done->res) {
			for (j = 0; j < nr_buckets; j++)
				if (buckets[j] == done->b.bucket_id)
					bad++;
			buckets[nr_buckets++] = done->b.bucket_id;
			for (j = 0; j < done->n; j++)
				stored[nr_stored++] = done->key[j];
		}
		free_slot[done - c] = true;
		inflight--;
		ASSERT_EQ(0, bad);
	}
	ASSERT_EQ(QD, max_inflight);
	ASSERT_EQ(NR_KEYS, nr_stored);

	/* QUERY through the ioctl says what the commands said */
	for (i = 0; i < NR_KEYS; i++) {
		struct tkey k = ur_key(qk[i], "qd", i);

		kvb_desc_init(&q[i], k.key, k.klen, NULL, 0);
	}
	ASSERT_EQ(0, st_batch(self->fd, KVB_IOC_QUERY, q, NR_KEYS, 0, NULL));
	for (i = 0; i < NR_KEYS; i++) {
		char kb[KEYLEN];
		struct tkey k = ur_key(kb, "qd", i);

		if (q[i].status || q[i].bucket_id != rec[i].bucket ||
		    q[i].offset != rec[i].offset || q[i].value_len != k.vlen) {
			if (!bad)
				TH_LOG("key %u: QUERY status %d bucket %llu offset %llu",
				       i, q[i].status,
				       (unsigned long long)q[i].bucket_id,
				       (unsigned long long)q[i].offset);
			bad++;
		}
	}
	ASSERT_EQ(0, bad);
	cmds_free(c, QD);
	free(rec);
	free(stored);
	free(buckets);
	free(free_slot);
	free(q);
	free(qk);
}

/*
 * The same batch through the ioctl and as a command: the same return, and
 * byte for byte the same batch, descriptors and loaded values.
 */
struct twin {
	struct kvb_batch b[2];
	struct kvb_obj_desc d[2][16];
	struct kvb_slice s[2][16];
	unsigned char *v[2][16];
	char kb[16][KEYLEN];
};

static void twin_fill(struct twin *t, unsigned int op, unsigned int n,
		      const unsigned int *keys, const size_t *lens,
		      uint32_t flags)
{
	unsigned int p, j;

	/* a count above 16 is refused before the descriptors are read */
	for (p = 0; p < 2; p++) {
		for (j = 0; j < n && j < 12; j++) {
			struct tkey k = ur_key(t->kb[j], "tw", keys[j]);
			size_t len = lens ? lens[j] : k.vlen;

			if (!t->v[p][j])
				t->v[p][j] = malloc(VMAX + 1);
			if (op == KVB_IOC_OFFLOAD)
				fill_value(tkey_seed(&k), t->v[p][j], len);
			else
				memset(t->v[p][j], 0x5a, VMAX + 1);
			kvb_slice_init(&t->s[p][j], t->v[p][j], len);
			if (op == KVB_IOC_QUERY)
				kvb_desc_init(&t->d[p][j], k.key, k.klen, NULL,
					      0);
			else
				kvb_desc_init(&t->d[p][j], k.key, k.klen,
					      &t->s[p][j], 1);
		}
		batch_init(&t->b[p], t->d[p], n, flags);
	}
}

/* Run t->b[0] by ioctl, t->b[1] as a command; compare. */
static int twin_run(struct __test_metadata *_metadata, FIXTURE_DATA(ur) *self,
		    struct twin *t, unsigned int op, unsigned int n, int want)
{
	int r0 = kvb_ioctl(self->fd, op, &t->b[0]);
	int r1 = uring_batch(&self->ring, self->fd, op, &t->b[1]);
	unsigned int j;

	if (r0 != want || r1 != want) {
		TH_LOG("op %#x: ioctl %d, command %d, want %d", op, r0, r1,
		       want);
		return 1;
	}
	/* the descriptor arrays differ only in their slice pointers */
	for (j = 0; j < n && n <= 16; j++)
		t->d[1][j].slices = t->d[0][j].slices;
	t->b[1].descs = t->b[0].descs;
	if (memcmp(&t->b[0], &t->b[1], sizeof(t->b[0]))) {
		TH_LOG("op %#x: batches differ (nr_done %u/%u, limit %u/%u)",
		       op, t->b[0].nr_done, t->b[1].nr_done, t->b[0].limit,
		       t->b[1].limit);
		return 1;
	}
	if (n <= 16 && memcmp(t->d[0], t->d[1], n * sizeof(t->d[0][0]))) {
		TH_LOG("op %#x: descriptors differ", op);
		return 1;
	}
	for (j = 0; j < n && n <= 16 && op == KVB_IOC_LOAD; j++)
		if (memcmp(t->v[0][j], t->v[1][j], VMAX + 1)) {
			TH_LOG("op %#x: value %u differs", op, j);
			return 1;
		}
	return 0;
}

TEST_F_TIMEOUT(ur, same_results_as_ioctl, 300)
{
	/* 0..7 stored, 8 and 9 not, 3 twice */
	static const unsigned int keys[12] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
					       3, 5 };
	static const unsigned int fresh[2] = { 100, 101 };
	struct twin *t = calloc(1, sizeof(*t));
	size_t lens[12];
	unsigned int j;
	void *bad = unmapped_addr();

	ASSERT_NE(NULL, t);
	ASSERT_NE(NULL, bad);
	ASSERT_EQ(0, put_keys(self->fd, "tw", 8));

	twin_fill(t, KVB_IOC_QUERY, 12, keys, NULL, 0);
	ASSERT_EQ(0, twin_run(_metadata, self, t, KVB_IOC_QUERY, 12, 0));
	ASSERT_EQ(10, t->b[1].nr_done);
	ASSERT_EQ(-ENOENT, t->d[1][8].status);

	/* LOAD: found, not found, the same key twice, a wrong length */
	for (j = 0; j < 12; j++) {
		char kb[KEYLEN];

		lens[j] = ur_key(kb, "tw", keys[j]).vlen;
	}
	lens[11] += 1;
	twin_fill(t, KVB_IOC_LOAD, 12, keys, lens, 0);
	ASSERT_EQ(0, twin_run(_metadata, self, t, KVB_IOC_LOAD, 12, 0));
	ASSERT_EQ(9, t->b[1].nr_done);
	ASSERT_EQ(-EMSGSIZE, t->d[1][11].status);

	/* OFFLOAD of stored keys: every one skipped with where it is */
	twin_fill(t, KVB_IOC_OFFLOAD, 8, keys, NULL, 0);
	ASSERT_EQ(0, twin_run(_metadata, self, t, KVB_IOC_OFFLOAD, 8, 0));
	ASSERT_EQ(0, t->b[1].nr_done);
	ASSERT_EQ(0, t->b[1].bucket_id);
	ASSERT_EQ(-EEXIST, t->d[1][0].status);

	/* the batch's own errors, limit written back as by the ioctl */
	twin_fill(t, KVB_IOC_QUERY, 0, keys, NULL, 0);
	ASSERT_EQ(0, twin_run(_metadata, self, t, KVB_IOC_QUERY, 0, -EINVAL));
	twin_fill(t, KVB_IOC_QUERY, 4, keys, NULL, KVB_OFFLOAD_REPLACE);
	ASSERT_EQ(0, twin_run(_metadata, self, t, KVB_IOC_QUERY, 4, -EINVAL));
	twin_fill(t, KVB_IOC_QUERY, 4, keys, NULL, 0);
	t->b[0].size = t->b[1].size = sizeof(struct kvb_batch) - 8;
	ASSERT_EQ(0, twin_run(_metadata, self, t, KVB_IOC_QUERY, 4, -EINVAL));
	twin_fill(t, KVB_IOC_QUERY, 4, keys, NULL, 0);
	t->d[0][2].reserved0 = t->d[1][2].reserved0 = 1;
	ASSERT_EQ(0, twin_run(_metadata, self, t, KVB_IOC_QUERY, 4, -EINVAL));
	twin_fill(t, KVB_IOC_QUERY, KVB_MAX_BATCH + 1, keys, NULL, 0);
	ASSERT_EQ(0, twin_run(_metadata, self, t, KVB_IOC_QUERY,
			      KVB_MAX_BATCH + 1, -E2BIG));
	ASSERT_EQ(KVB_LIMIT_BATCH, t->b[1].limit);
	twin_fill(t, KVB_IOC_OFFLOAD, KVB_DEFAULT_KEYS_PER_BUCKET + 1, keys,
		  NULL, 0);
	ASSERT_EQ(0, twin_run(_metadata, self, t, KVB_IOC_OFFLOAD,
			      KVB_DEFAULT_KEYS_PER_BUCKET + 1, -E2BIG));
	ASSERT_EQ(KVB_LIMIT_KEYS, t->b[1].limit);
	twin_fill(t, KVB_IOC_QUERY, 4, keys, NULL, 0);
	t->b[0].descs = t->b[1].descs = (uintptr_t)bad;
	ASSERT_EQ(0, twin_run(_metadata, self, t, KVB_IOC_QUERY, 4, -EFAULT));
	/* a destination that cannot be written, for a key not stored too */
	twin_fill(t, KVB_IOC_LOAD, 12, keys, NULL, 0);
	t->s[0][9].addr = t->s[1][9].addr = (uintptr_t)bad;
	ASSERT_EQ(0, twin_run(_metadata, self, t, KVB_IOC_LOAD, 12, -EFAULT));
	/* a value that cannot be read: nothing written */
	twin_fill(t, KVB_IOC_OFFLOAD, 2, fresh, NULL, 0);
	t->s[0][1].addr = t->s[1][1].addr = (uintptr_t)bad;
	ASSERT_EQ(0, twin_run(_metadata, self, t, KVB_IOC_OFFLOAD, 2,
			      -EFAULT));
	ASSERT_EQ(-ENOENT, query_status(self->fd, t->kb[0],
					strlen(t->kb[0])));
}

/* What the issue path refuses, and a batch pointer that is bad. */
TEST_F_TIMEOUT(ur, bad_commands, 120)
{
	static const uint32_t not_ops[] = {
		KVB_IOC_REMOVE, KVB_IOC_DELETE_BUCKET, KVB_IOC_STORE_INFO,
		KVB_IOC_GET_FEATURES, KVB_IOC_BUCKET_SCAN, KVB_IOC_ATTACH, 0,
		0xffffffff, _IOWR(KVB_IOC_MAGIC, 0x10, struct kvb_store_info),
	};
	char kb[KEYLEN];
	struct tkey k = ur_key(kb, "bad", 0);
	struct kvb_obj_desc d;
	struct kvb_batch b;
	struct kvb_uring_cmd c;
	struct io_uring r;
	struct io_uring_sqe *sqe;
	struct iovec iov;
	unsigned int i;
	int ret;

	ASSERT_EQ(0, put_one(self->fd, &k, 0, NULL, NULL));
	kvb_desc_init(&d, k.key, k.klen, NULL, 0);

	/* the batch cannot be read */
	memset(&c, 0, sizeof(c));
	c.batch = (uintptr_t)unmapped_addr();
	ASSERT_EQ(-EFAULT, raw_run(&self->ring, self->fd, KVB_IOC_QUERY, &c));
	c.batch = 0;
	ASSERT_EQ(-EFAULT, raw_run(&self->ring, self->fd, KVB_IOC_LOAD, &c));

	/* flags and reserved fields: refused before the batch is looked at */
	batch_init(&b, &d, 1, 0);
	b.nr_done = 77;
	for (i = 0; i < 4; i++) {
		memset(&c, 0, sizeof(c));
		c.batch = (uintptr_t)&b;
		if (i == 0)
			c.flags = 1;
		else if (i == 1)
			c.reserved0 = 1;
		else
			c.reserved[i - 2] = 1ULL << 63;
		ASSERT_EQ(-EINVAL, raw_run(&self->ring, self->fd,
					   KVB_IOC_QUERY, &c));
		ASSERT_EQ(77, b.nr_done);
	}

	/* only OFFLOAD, QUERY and LOAD: a REMOVE batch removes nothing */
	memset(&c, 0, sizeof(c));
	c.batch = (uintptr_t)&b;
	for (i = 0; i < ARRAY_LEN(not_ops); i++)
		ASSERT_EQ(-ENOTTY, raw_run(&self->ring, self->fd, not_ops[i],
					   &c)) TH_LOG("cmd_op %#x", not_ops[i]);
	ASSERT_EQ(77, b.nr_done);
	ASSERT_EQ(0, get_one(self->fd, &k));
	ASSERT_EQ(0, raw_run(&self->ring, self->fd, KVB_IOC_QUERY, &c));
	ASSERT_EQ(1, b.nr_done);

	/* registered buffers mean nothing to these commands */
	iov.iov_len = 4096;
	iov.iov_base = mmap(NULL, iov.iov_len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, iov.iov_base);
	ASSERT_EQ(0, io_uring_register_buffers(&self->ring, &iov, 1));
	sqe = io_uring_get_sqe(&self->ring);
	ASSERT_NE(NULL, sqe);
	raw_prep(sqe, self->fd, KVB_IOC_QUERY, &c);
	sqe->uring_cmd_flags = IORING_URING_CMD_FIXED;
	sqe->buf_index = 0;
	ASSERT_EQ(1, io_uring_submit(&self->ring));
	ASSERT_EQ(-EINVAL, wait_res(&self->ring));
	ASSERT_EQ(0, io_uring_unregister_buffers(&self->ring));

	/* the control device takes no commands */
	ASSERT_EQ(-EOPNOTSUPP, raw_run(&self->ring, self->ctl, KVB_IOC_QUERY,
				       &c));

	/* a ring of 64-byte SQEs: the kernel shows 16 bytes of command */
	ASSERT_EQ(0, io_uring_queue_init(8, &r, 0));
	sqe = io_uring_get_sqe(&r);
	ASSERT_NE(NULL, sqe);
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = self->fd;
	sqe->cmd_op = KVB_IOC_QUERY;
	sqe->addr3 = (uintptr_t)&b;	/* the first 16 bytes of sqe->cmd */
	ASSERT_EQ(1, io_uring_submit(&r));
	ASSERT_EQ(-EINVAL, wait_res(&r));
	io_uring_queue_exit(&r);

	/* a polled ring */
	ret = io_uring_queue_init(8, &r, IORING_SETUP_IOPOLL |
				  IORING_SETUP_SQE128);
	ASSERT_EQ(0, ret);
	ASSERT_EQ(-EOPNOTSUPP, raw_run(&r, self->fd, KVB_IOC_QUERY, &c));
	io_uring_queue_exit(&r);

	/* the library's verbs check their arguments */
	sqe = io_uring_get_sqe(&self->ring);
	ASSERT_NE(NULL, sqe);
	ASSERT_EQ(-EINVAL, kvb_prep_query(sqe, NULL, &b, &d, 1));
	ASSERT_EQ(-EINVAL, kvb_prep_load(sqe, self->st, NULL, &d, 1));
	ASSERT_EQ(-EINVAL, kvb_prep_offload(NULL, self->st, &b, &d, 1, 0));
	ASSERT_EQ(0, kvb_prep_query(sqe, self->st, &b, &d, 1));
	io_uring_sqe_set_data64(sqe, 9);
	ASSERT_EQ(1, io_uring_submit(&self->ring));
	ASSERT_EQ(0, wait_res(&self->ring));
	ASSERT_EQ(1, kvb_cmd_result(&b, 0));
	ASSERT_EQ(-EINVAL, kvb_ring_init(&r, 0));
}

/*
 * The command runs asynchronously: a LOAD whose destination faults on a
 * userfaultfd blocks in the kernel, in our address space, while a QUERY
 * submitted after it completes; resolving the fault completes the LOAD.
 */
TEST_F_TIMEOUT(ur, runs_asynchronously, 120)
{
	static struct uffd_region r;	/* the teardown may need it */
	struct cmd *c = cmds_alloc(2);
	struct io_uring_cqe *cqe;
	struct rec rec[1];
	uint64_t tag;
	int ret, res;

	ASSERT_NE(NULL, c);
	ret = uffd_setup(&r, VMAX);
	if (ret)
		SKIP(return, "userfaultfd: %s", strerror(-ret));
	self->uffd = &r;
	ASSERT_EQ(0, put_keys(self->fd, "as", 1));
	memset(rec, 0, sizeof(rec));

	cmd_fill_range(&c[0], KVB_IOC_LOAD, "as", 0, 1);
	c[0].v[0] = r.addr;
	c[0].s[0].addr = (uintptr_t)r.addr;
	cmd_fill_range(&c[1], KVB_IOC_QUERY, "as", 0, 1);
	ASSERT_EQ(0, cmd_prep(&self->ring, self->st, &c[0]));
	ASSERT_EQ(1, io_uring_submit(&self->ring));
	/* a kernel worker touches our memory */
	ASSERT_EQ(0, uffd_wait_fault(&r));

	ASSERT_EQ(0, cmd_prep(&self->ring, self->st, &c[1]));
	ASSERT_EQ(1, io_uring_submit(&self->ring));
	ASSERT_EQ(&c[1], reap(&self->ring, &tag, &res));
	ASSERT_EQ(0, res);
	ASSERT_EQ(-EAGAIN, io_uring_peek_cqe(&self->ring, &cqe));
	rec[0].stored = true;
	rec[0].bucket = c[1].d[0].bucket_id;
	rec[0].offset = c[1].d[0].offset;
	ASSERT_EQ(0, cmd_check(_metadata, &c[1], "as", rec));

	ASSERT_EQ(0, uffd_resolve(&r));
	ASSERT_EQ(&c[0], reap(&self->ring, &tag, &res));
	ASSERT_EQ(0, cmd_check(_metadata, &c[0], "as", rec));
}

/* The same through a ring with a kernel submission thread. */
TEST_F_TIMEOUT(ur, sqpoll, 120)
{
	struct cmd *c = cmds_alloc(8);
	struct rec rec[8 * PER];
	struct io_uring r;
	unsigned int i, op;
	uint64_t tag;
	int ret, res;

	ASSERT_NE(NULL, c);
	ret = io_uring_queue_init(16, &r, IORING_SETUP_SQPOLL |
				  IORING_SETUP_SQE128);
	if (ret)
		SKIP(return, "SQPOLL ring: %s", strerror(-ret));
	memset(rec, 0, sizeof(rec));
	for (op = 0; op < 2; op++) {
		for (i = 0; i < 8; i++) {
			cmd_fill_range(&c[i], op ? KVB_IOC_LOAD :
				       KVB_IOC_OFFLOAD, "sp", i * PER, PER);
			ASSERT_EQ(0, cmd_prep(&r, self->st, &c[i]));
		}
		ASSERT_EQ(8, io_uring_submit(&r));
		for (i = 0; i < 8; i++) {
			struct cmd *done = reap(&r, &tag, &res);

			ASSERT_NE(NULL, done);
			ASSERT_EQ(0, cmd_check(_metadata, done, "sp", rec));
		}
	}
	io_uring_queue_exit(&r);
}

/*
 * QD commands, OFFLOADs of new keys (prefix, keys 0 .. QD / 2 * PER) and
 * LOADs of base keys, submitted at once.
 */
static void submit_mix(struct __test_metadata *_metadata,
		       struct io_uring *ring, struct kvb_store *st,
		       struct cmd *c, const char *prefix, bool async)
{
	unsigned int i;

	for (i = 0; i < QD; i++) {
		if (i % 2)
			cmd_fill_range(&c[i], KVB_IOC_LOAD, "base",
				       (i / 2) % 16, 1);
		else
			cmd_fill_range(&c[i], KVB_IOC_OFFLOAD, prefix,
				       i / 2 * PER, PER);
		c[i].async = async && i % 4 == 0;
		ASSERT_EQ(0, cmd_prep(ring, st, &c[i]));
	}
	ASSERT_EQ(QD, io_uring_submit(ring));
}

/*
 * Check the completions of submit_mix(): each 0 (and right) or one of the
 * errnos allowed; want[] receives which new keys must be stored.
 */
static int check_mix(struct __test_metadata *_metadata, struct cmd *c,
		     const char *prefix, int allowed, bool *want,
		     struct rec *rec, struct rec *base)
{
	unsigned int i, j, nr[2] = { 0, 0 };
	int bad = 0;

	for (i = 0; i < QD; i++) {
		bool load = c[i].op == KVB_IOC_LOAD;

		if (c[i].res == allowed) {
			nr[1]++;
			continue;
		}
		nr[0]++;
		bad += cmd_check(_metadata, &c[i], load ? "base" : prefix,
				 load ? base : rec);
		for (j = 0; !load && j < c[i].n; j++)
			want[c[i].key[j]] = true;
	}
	TH_LOG("%s: %u completed with 0, %u with %d", prefix, nr[0], nr[1],
	       allowed);
	return bad;
}

/* Where the base keys are, by QUERY. */
static int base_recs(int fd, struct rec *base, unsigned int n)
{
	unsigned int i;
	int ret;

	for (i = 0; i < n; i++) {
		char kb[KEYLEN];
		struct tkey k = ur_key(kb, "base", i);
		struct kvb_obj_desc d;

		ret = query_one(fd, k.key, k.klen, &d);
		if (ret || d.status)
			return ret ?: d.status;
		base[i].stored = true;
		base[i].bucket = d.bucket_id;
		base[i].offset = d.offset;
	}
	return 0;
}

/*
 * Detach right after submitting 32 commands: each completes with its real
 * result or ENODEV, detach returns, later commands fail with ENODEV, and
 * after attaching again exactly the keys of the OFFLOADs that succeeded
 * are there.
 */
TEST_F_TIMEOUT(ur, detach_in_flight, 300)
{
	const unsigned int nr_new = QD / 2 * PER;
	struct cmd *c = cmds_alloc(QD);
	struct rec rec[QD / 2 * PER], base[16];
	bool want[QD / 2 * PER], all[16];
	struct kvb_obj_desc d;
	struct kvb_batch b;
	unsigned int i;
	uint64_t tag;
	int res;

	ASSERT_NE(NULL, c);
	memset(rec, 0, sizeof(rec));
	memset(want, 0, sizeof(want));
	ASSERT_EQ(0, put_keys(self->fd, "base", 16));
	ASSERT_EQ(0, base_recs(self->fd, base, 16));

	submit_mix(_metadata, &self->ring, self->st, c, "di", true);
	ASSERT_EQ(0, ctl_detach(self->ctl, self->id));
	for (i = 0; i < QD; i++)
		ASSERT_NE(NULL, reap(&self->ring, &tag, &res));
	ASSERT_EQ(0, check_mix(_metadata, c, "di", -ENODEV, want, rec, base));

	/* detached: refused in the issue path */
	kvb_desc_init(&d, "base-00000000", 13, NULL, 0);
	batch_init(&b, &d, 1, 0);
	ASSERT_EQ(-ENODEV, uring_batch(&self->ring, self->fd, KVB_IOC_QUERY,
				       &b));

	reattach(_metadata, self);
	for (i = 0; i < 16; i++)
		all[i] = true;
	ASSERT_EQ(0, verify_keys(_metadata, self->fd, "base", all, 16));
	ASSERT_EQ(0, verify_keys(_metadata, self->fd, "di", want, nr_new));
}

struct detacher {
	int ctl;
	uint32_t id;
	pthread_barrier_t bar;
	_Atomic pid_t tid;
	_Atomic bool done;
	int ret;
};

static void *detach_thread(void *arg)
{
	struct detacher *dt = arg;

	atomic_store(&dt->tid, (pid_t)syscall(SYS_gettid));
	pthread_barrier_wait(&dt->bar);
	dt->ret = ctl_detach(dt->ctl, dt->id);
	atomic_store(&dt->done, true);
	return NULL;
}

/* The state letter of one of our threads in /proc ('D': uninterruptible). */
static char task_state(pid_t tid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Detach while a command runs (a LOAD blocked on a userfaultfd fault,
 * holding the store like an ioctl) and 32 more are queued behind the
 * detach: detach waits for the running one, which completes with its
 * data; the queued ones complete with ENODEV (or, if they got in before
 * the detach, normally). Nothing hangs.
 */
TEST_F_TIMEOUT(ur, detach_with_running_command, 300)
{
	const unsigned int nr_new = QD / 2 * PER;
	struct cmd *c = cmds_alloc(QD + 1), *blocked = &c[QD];
	struct rec rec[QD / 2 * PER], base[16];
	bool want[QD / 2 * PER], all[16];
	static struct uffd_region r;	/* the teardown may need it */
	struct detacher dt;
	pthread_t th;
	double t0;
	char state = '?';
	unsigned int i;
	uint64_t tag;
	int ret, res;

	ASSERT_NE(NULL, c);
	ret = uffd_setup(&r, VMAX);
	if (ret)
		SKIP(return, "userfaultfd: %s", strerror(-ret));
	self->uffd = &r;
	memset(rec, 0, sizeof(rec));
	memset(want, 0, sizeof(want));
	ASSERT_EQ(0, put_keys(self->fd, "base", 16));
	ASSERT_EQ(0, base_recs(self->fd, base, 16));

	cmd_fill_range(blocked, KVB_IOC_LOAD, "base", 0, 1);
	blocked->v[0] = r.addr;
	blocked->s[0].addr = (uintptr_t)r.addr;
	ASSERT_EQ(0, cmd_prep(&self->ring, self->st, blocked));
	ASSERT_EQ(1, io_uring_submit(&self->ring));
	ASSERT_EQ(0, uffd_wait_fault(&r));

	/* detach, and see it wait for the running command */
	memset(&dt, 0, sizeof(dt));
	dt.ctl = self->ctl;
	dt.id = self->id;
	ASSERT_EQ(0, pthread_barrier_init(&dt.bar, NULL, 2));
	ASSERT_EQ(0, pthread_create(&th, NULL, detach_thread, &dt));
	pthread_barrier_wait(&dt.bar);
	t0 = now_s();
	while (!atomic_load(&dt.done) && now_s() - t0 < 30) {
		state = task_state(atomic_load(&dt.tid));
		if (state == 'D')
			break;
		sched_yield();
	}
	ASSERT_FALSE(atomic_load(&dt.done)) TH_LOG("detach did not wait");
	TH_LOG("detach thread state %c", state);

	submit_mix(_metadata, &self->ring, self->st, c, "dr", false);
	ASSERT_FALSE(atomic_load(&dt.done));
	ASSERT_EQ(0, uffd_resolve(&r));
	for (i = 0; i < QD + 1; i++)
		ASSERT_NE(NULL, reap(&self->ring, &tag, &res));
	ASSERT_EQ(0, pthread_join(th, NULL));
	ASSERT_EQ(0, dt.ret);
	ASSERT_EQ(0, cmd_check(_metadata, blocked, "base", base));
	ASSERT_EQ(0, check_mix(_metadata, c, "dr", -ENODEV, want, rec, base));

	reattach(_metadata, self);
	for (i = 0; i < 16; i++)
		all[i] = true;
	ASSERT_EQ(0, verify_keys(_metadata, self->fd, "base", all, 16));
	ASSERT_EQ(0, verify_keys(_metadata, self->fd, "dr", want, nr_new));
}

/*
 * Every key of prefix (QD batches of PER) is stored with its value or not
 * at all, the same for the whole batch (OFFLOAD is atomic); a key that is
 * not stored can be offloaded now (no reservation was left behind).
 * *nr_stored receives the batches stored.
 */
static int check_batches(struct __test_metadata *_metadata, int fd,
			 const char *prefix, unsigned int *nr_stored)
{
	unsigned int i, j;
	int bad = 0;

	*nr_stored = 0;
	for (i = 0; i < QD; i++) {
		int first = 0;

		for (j = 0; j < PER; j++) {
			char kb[KEYLEN];
			struct tkey k = ur_key(kb, prefix, i * PER + j);
			int ret = get_one(fd, &k);

			if (j == 0)
				first = ret;
			if ((ret && ret != -ENOENT) || ret != first) {
				if (!bad)
					TH_LOG("%s key %u: %d (first of batch: %d)",
					       prefix, i * PER + j, ret, first);
				bad++;
			}
			if (ret == -ENOENT && put_one(fd, &k, 0, NULL, NULL)) {
				if (!bad)
					TH_LOG("%s key %u: cannot offload it",
					       prefix, i * PER + j);
				bad++;
			}
		}
		if (!first)
			(*nr_stored)++;
	}
	return bad;
}

/*
 * The ring is closed with 32 OFFLOADs in flight: they run or fail with
 * ENODEV at the detach, which waits for the running ones; whatever they
 * did is whole and consistent.
 */
TEST_F_TIMEOUT(ur, ring_closed_in_flight, 300)
{
	struct cmd *c = cmds_alloc(QD);
	unsigned int i, nr;

	ASSERT_NE(NULL, c);
	for (i = 0; i < QD; i++) {
		cmd_fill_range(&c[i], KVB_IOC_OFFLOAD, "rc", i * PER, PER);
		c[i].async = i % 4 == 0;
		ASSERT_EQ(0, cmd_prep(&self->ring, self->st, &c[i]));
	}
	ASSERT_EQ(QD, io_uring_submit(&self->ring));
	io_uring_queue_exit(&self->ring);
	self->ring_ok = false;

	/* after this no command touches our memory any more */
	ASSERT_EQ(0, ctl_detach(self->ctl, self->id));
	reattach(_metadata, self);
	ASSERT_EQ(0, check_batches(_metadata, self->fd, "rc", &nr));
	TH_LOG("%u of %d batches stored", nr, QD);
}

/* In a child: open the store, submit 32 OFFLOADs and die at once. */
static void __attribute__((noreturn))
child_submit_and_die(uint32_t id, const char *prefix, bool kill)
{
	struct kvb_store *st;
	struct io_uring ring;
	struct cmd *c = cmds_alloc(QD);
	unsigned int i;

	if (!c || kvb_open(id, &st) || kvb_ring_init(&ring, QD))
		_exit(2);
	for (i = 0; i < QD; i++) {
		cmd_fill_range(&c[i], KVB_IOC_OFFLOAD, prefix, i * PER, PER);
		c[i].async = i % 4 == 0;
		if (cmd_prep(&ring, st, &c[i]))
			_exit(3);
	}
	if (io_uring_submit(&ring) != QD)
		_exit(4);
	if (kill)
		raise(SIGKILL);
	_exit(0);
}

/*
 * The module's reference count: each command in flight holds the store
 * file, and io_uring lets go of it some time after the completion.
 */
static int module_refcnt(void)
{
	char buf[32];
	ssize_t n;
	int fd;

	fd = open("/sys/module/kvbucket/refcnt", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = 0;
	return atoi(buf);
}

/*
 * A process exits (and another is killed) right after submitting 32
 * commands. io_uring does not wait for them: they run on, or are
 * canceled, after the process is gone. The detach waits for those
 * running; then what was stored is consistent, nothing leaks or hangs,
 * and once io_uring has let go of the store files the module unloads and
 * loads again, finding everything on the device.
 */
TEST_F_TIMEOUT(ur, process_exit_in_flight, 300)
{
	static const char *const prefix[2] = { "px", "pk" };
	unsigned int nr[2], again, k;
	int status, ret;
	double t0;
	pid_t pid;

	for (k = 0; k < 2; k++) {
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid)
			child_submit_and_die(self->id, prefix[k], k == 1);
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		if (k == 0) {
			ASSERT_TRUE(WIFEXITED(status) &&
				    WEXITSTATUS(status) == 0);
		} else {
			ASSERT_TRUE(WIFSIGNALED(status) &&
				    WTERMSIG(status) == SIGKILL);
		}
		/* no command touches the store after this */
		ASSERT_EQ(0, ctl_detach(self->ctl, self->id));
		reattach(_metadata, self);
		ASSERT_EQ(0, check_batches(_metadata, self->fd, prefix[k],
					   &nr[k]));
		TH_LOG("%s: %u of %d batches stored", prefix[k], nr[k], QD);
	}

	/* nothing holds the module: unload, load, attach, all there */
	io_uring_queue_exit(&self->ring);
	self->ring_ok = false;
	kvb_close(self->st);
	self->st = NULL;
	close(self->ctl);
	self->ctl = -1;
	ASSERT_EQ(0, detach_all());
	t0 = now_s();
	while ((ret = module_refcnt()) > 0 && now_s() - t0 < 60)
		sched_yield();
	TH_LOG("module references gone after %.3f s", now_s() - t0);
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, module_unload());
	ASSERT_EQ(0, module_load());
	self->ctl = ctl_open();
	ASSERT_LE(0, self->ctl);
	reattach(_metadata, self);
	for (k = 0; k < 2; k++) {
		ASSERT_EQ(0, check_batches(_metadata, self->fd, prefix[k],
					   &again));
		ASSERT_EQ(QD, again);
	}
}

/*
 * io_uring_prep_cancel() on each of 32 commands in flight, and a cancel of
 * everything on the store's fd. A command completes normally or with
 * ECANCELED (never run: its keys are not stored); nothing hangs.
 */
TEST_F_TIMEOUT(ur, cancel, 300)
{
	const unsigned int nr_new = QD / 2 * PER;
	struct cmd *c = cmds_alloc(QD);
	struct rec rec[QD / 2 * PER], base[16];
	bool want[QD / 2 * PER], all[16];
	struct io_uring_sqe *sqe;
	unsigned int i, canceled = 0;
	uint64_t tag;
	int res, bad = 0;

	ASSERT_NE(NULL, c);
	memset(rec, 0, sizeof(rec));
	memset(want, 0, sizeof(want));
	ASSERT_EQ(0, put_keys(self->fd, "base", 16));
	ASSERT_EQ(0, base_recs(self->fd, base, 16));

	submit_mix(_metadata, &self->ring, self->st, c, "cx", true);
	for (i = 0; i <= QD; i++) {
		sqe = io_uring_get_sqe(&self->ring);
		ASSERT_NE(NULL, sqe);
		if (i < QD) {
			io_uring_prep_cancel64(sqe, (uintptr_t)&c[i], 0);
			io_uring_sqe_set_data64(sqe, CANCEL_TAG);
		} else {
			io_uring_prep_cancel_fd(sqe, self->fd,
						IORING_ASYNC_CANCEL_ALL);
			io_uring_sqe_set_data64(sqe, CANCEL_FD_TAG);
		}
	}
	ASSERT_EQ(QD + 1, io_uring_submit(&self->ring));
	for (i = 0; i < 2 * QD + 1; i++) {
		ASSERT_NE(NULL, reap(&self->ring, &tag, &res));
		if (tag == CANCEL_TAG) {
			if (res && res != -ENOENT && res != -EALREADY)
				bad++;
			canceled += !res;
		} else if (tag == CANCEL_FD_TAG) {
			if (res < 0 && res != -ENOENT && res != -EALREADY)
				bad++;
		}
		if (bad == 1) {
			TH_LOG("cancel: %d", res);
			bad++;
		}
	}
	ASSERT_EQ(0, bad);
	TH_LOG("%u cancels found their command", canceled);
	ASSERT_EQ(0, check_mix(_metadata, c, "cx", -ECANCELED, want, rec,
			       base));
	for (i = 0; i < 16; i++)
		all[i] = true;
	ASSERT_EQ(0, verify_keys(_metadata, self->fd, "base", all, 16));
	ASSERT_EQ(0, verify_keys(_metadata, self->fd, "cx", want, nr_new));
}

TEST_HARNESS_MAIN
