// SPDX-License-Identifier: GPL-2.0
/*
 * kvb_fuzz: drive every ioctl of /dev/kvbucket-control and /dev/kvbucketN
 * with random and mutated arguments, and check that every result is one
 * Documentation/abi.rst allows for that input.
 *
 *   kvb_fuzz [--calls N] [--seed S] [--threads T] [DEV]
 *
 * DEV (default: the second disk of KVB_DISKS) is formatted as a store.
 * Output is TAP with one test ("fuzz"); diagnostics start with "# ".
 *
 * What each call may return is computed from the input it was given: the
 * checks 1-5 of abi.rst ("Rules common to every ioctl") are strictly
 * ordered, so a call violating one of them must fail with exactly that
 * errno; the checks of the ioctl itself (6) have no order between them,
 * so a call violating several may fail with any of their errnos, but with
 * one of them, and never succeed.
 *
 * Shadow model: each fuzz thread owns the keys "m<t>:<n>..." (nobody else
 * offloads, removes or deletes them: threads only delete buckets they
 * created, and buckets only hold their creator's keys plus shared junk
 * keys), so the state of each owned key is exact: absent, or present with
 * a known length and bucket. Junk keys (shared by all threads, or written
 * from memory another thread unmaps) are not modelled, but every value in
 * the store, junk included, is value_of(key, length), so every present key
 * must load byte-exact.
 *
 * Concurrently: a thread detaches and re-attaches the store (with other
 * per-attach limits sometimes) and opens new store fds; calls on a
 * detached store's fd must give ENODEV; a thread unmaps and remaps memory
 * that calls are using. At every epoch (and at the end) all threads stop,
 * the store is detached, `kvbucket-inspect --check DEV` must pass, it is
 * re-attached and every key is verified against the model and its value.
 *
 * Eviction: KVB_IOC_SET_POLICY and the sysfs files policy, high_watermark,
 * low_watermark and event_queue_bytes are fuzzed too (serialised by a
 * lock, so that the outcome of each call, and "nothing changed" after a
 * failure, is exact), and valid calls lower the watermarks enough for the
 * store to evict. Owned keys then disappear, so the model follows the
 * eviction events: each attachment has an event fd, opened right after
 * ATTACH (at a high watermark of 100 %, so nothing is evicted before it
 * exists), read without blocking after every call under a lock, its
 * records checked (seq without gaps, structure, policy) and dispatched to
 * the threads owning the keys. As in kvb_stress, an owned key in an
 * evicted bucket must be in its event, a -ENOENT for a key the model has
 * (or an OFFLOAD without REPLACE storing it) must be explained by an event
 * read right after the call, and REPLACE may have raced with the eviction
 * of the old bucket. read() and poll() of that fd are fuzzed as well
 * (lengths 0, tiny, exact, large; unwritable, read-only and partly mapped
 * buffers; blocking after poll() said POLLIN), every record that comes
 * back is dispatched, and a second, lagging reader per attachment must
 * read the same records.
 *
 * io_uring (KVB_FEAT_URING_CMD): a quarter of the OFFLOAD, QUERY and LOAD
 * batches, mutations and all, are submitted as IORING_OP_URING_CMD on the
 * thread's SQE128 ring instead (set up on first use; 32-byte CQEs on odd
 * threads; sometimes IOSQE_ASYNC), and the completion's res goes through
 * the same checks as the ioctl's return value, ENODEV of a detach racing
 * the command included (only EINTR is never allowed: signals do not reach
 * commands). The command's own fields are fuzzed too: flags, reserved0,
 * reserved[] and IORING_URING_CMD_FIXED give EINVAL, checked before the
 * batch is read; a batch pointer that is unmapped, a kernel address or
 * partly mapped EFAULT, after it. And the checks made before the store is
 * looked at (never ENODEV): cmd_op another ioctl or a random number,
 * ENOTTY; a ring of 64-byte SQEs, EINVAL; an IOPOLL ring or the control
 * device, EOPNOTSUPP. A command refused must not have touched its batch,
 * descriptors, destinations, or the owned keys it names. And the
 * reattacher keeps commands in flight across each live detach (ub_*()).
 */
#include <liburing.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <time.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/sysmacros.h>

#include "kvb_test.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE	0x100000
#endif
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC		1U
#endif

/* store limits chosen at format time: small so that they are cheap to probe */
#define FZ_MAX_KEYS	64U
#define FZ_MAX_BYTES	(4ULL << 20)
/*
 * 256 KiB chunks: the buckets of the threads' rings then take a few
 * percent of the device, so that the lowest watermarks (2 %) evict.
 */
#define FZ_CHUNK	(256U << 10)

#define NK		48	/* model keys per thread */
#define NJ		24	/* private-ish junk keys per thread */
#define RING		48	/* buckets a thread keeps before deleting */
#define MAX_THREADS	16
#define VSLOTS		8	/* values per thread in the remapped memory */
#define VSLOT_LEN	(16U << 10)
#define MAX_FAIL_PRINT	60

enum { ABSENT, PRESENT, UNKNOWN };

enum {
	C_FEATURES, C_ATTACH, C_DETACH, C_LIST, C_INFO, C_OFFLOAD, C_QUERY,
	C_LOAD, C_REMOVE, C_DELETE, C_KEYS, C_SCAN, C_SINFO, C_POLICY,
	C_SYSFS, C_READ, C_RANDOM, C_NR
};

static const char *const cname[C_NR] = {
	"GET_FEATURES", "ATTACH", "DETACH", "LIST", "INFO", "OFFLOAD", "QUERY",
	"LOAD", "REMOVE", "DELETE_BUCKET", "BUCKET_KEYS", "BUCKET_SCAN",
	"STORE_INFO", "SET_POLICY", "sysfs-write", "read/poll",
	"random-ioctl",
};

static const char *const polname[] = { "default", "fifo", "lru", "lfu" };

/* a fuzz thread's io_uring rings */
enum { UR_MAIN, UR_SQE64, UR_IOPOLL, UR_RINGS };

static const char *const urname[UR_RINGS] = {
	"SQE128", "64-byte SQE", "IOPOLL",
};

#define UR_NRES		160	/* io_uring results counted by -res */

/* what the event fd said about one eviction, by seq */
struct evlog {
	uint64_t bucket, value_bytes;
	uint32_t nr_keys, crc;		/* crc32c of its key records */
	uint32_t rec_len;
};

/* one attachment of the store */
struct gen {
	int fd;
	uint32_t id;
	uint32_t max_keys;
	uint64_t max_bytes;
	_Atomic int detaching;	/* set before DETACH is called */
	_Atomic int dead;	/* set once DETACH returned */
	int extra_fd;
	/* eviction events (G.ev_lock): the model's reader and a lagging one */
	int ev_fd, lag_fd;
	uint64_t ev_seq, lag_seq;	/* next seq each must read */
	bool ev_eof;
	struct evlog *log;		/* [seq - 1] */
	size_t nlog, caplog;
	_Atomic unsigned int polmask;	/* policies it had */
	/* policy, watermarks, event_queue_bytes in force (G.pol_lock) */
	uint32_t pol, hi, lo;
	uint64_t evq;
};

struct mkey {
	uint8_t key[KVB_MAX_KEY_LEN];
	uint32_t klen;
	int state;
	uint64_t vlen, bucket;
	uint64_t last_call;	/* for diagnostics: last call that changed it */
	/*
	 * ghost: an eviction event of bucket ghost may still name the key
	 * (the current call replaced it, or stored it again after an
	 * eviction); ghost_need: it must. suspect: the current call got
	 * -ENOENT for it while the model has it: an event must say why.
	 */
	uint64_t ghost, ghost_vlen;
	bool ghost_need, suspect;
};

/* an eviction as the thread owning keys of it gets it */
struct inev {
	uint64_t seq, bucket;
	uint32_t n;			/* owned keys in it */
	int16_t m[NK];
	uint64_t vlen[NK];
};

struct th {
	int t;
	uint64_t rng;
	uint64_t ncalls, calls_done;
	struct mkey mk[NK];
	uint8_t jkey[NJ][40];
	uint32_t jklen[NJ];
	uint64_t ring[RING];
	unsigned int nring;
	uint64_t last_bucket;
	/* scratch */
	struct kvb_obj_desc *descs;	/* KVB_MAX_BATCH + 1 */
	struct kvb_slice *slices;	/* KVB_MAX_BATCH_SLICES + 1024 */
	uint8_t *keybuf;		/* keys of big batches */
	uint8_t *valbuf;		/* values to offload */
	uint8_t *dstbuf;		/* LOAD destinations */
	uint8_t *outbuf;		/* BUCKET_KEYS / SCAN */
	uint8_t *ro;			/* mprotect-toggled area, RO_LEN */
	uint8_t *part;			/* page 0 mapped, page 1 not */
	uint8_t *vin, *vout;		/* this thread's slots of the remapped areas */
	/* per-call diagnostics */
	char what[256];
	uint64_t badaddr;
	int kind[NK];
	/* evictions of its keys not applied yet (G.ev_lock) */
	struct inev *inbox;
	size_t nin, capin;
	uint64_t own_evicted, explained;
	/* io_uring rings, set up on first use (state 1) or never (-1) */
	struct io_uring ur[UR_RINGS];
	int ur_state[UR_RINGS];
	unsigned int ur_flags[UR_RINGS];	/* IORING_SETUP_* */
	bool ur_fixed;		/* fixbuf is registered on ur[UR_MAIN] */
	uint8_t *fixbuf;
	uint64_t ur_tag;
};

#define RO_LEN		(1U << 20)
#define VAL_LEN		(9U << 20)
#define DST_LEN		(9U << 20)
#define OUT_LEN		(256U << 10)
#define KEYBUF_LEN	(1U << 20)

static struct {
	const char *dev;
	dev_t rdev;
	uint64_t calls, seed;
	int nthreads;
	int ctl;
	long pg;
	pthread_mutex_t gen_lock;
	pthread_cond_t gen_cond;
	struct gen *cur;
	struct gen *gens[4096];
	int ngens;
	_Atomic uint64_t ncall[C_NR];
	_Atomic uint64_t failures;
	_Atomic uint64_t enospc, enodev;
	_Atomic int stop;
	_Atomic uint64_t total_calls;
	sem_t reattach_sem, remap_sem;
	pthread_barrier_t epoch_bar;
	/* remapped areas */
	uint8_t *vin_area, *vout_area;
	size_t varea_len;
	int vin_fd, vout_fd;
	pthread_mutex_t map_lock;
	_Atomic uint64_t remaps, reattaches, verifies;
	_Atomic int findings_delete_ro;
	uint8_t *unmapped;		/* a page inside no mapping */
	/* eviction events: the attachment whose event fd the model reads */
	pthread_mutex_t ev_lock;
	struct gen *ev_gen;
	uint8_t *evbuf;
	uint64_t evictions, evicted_keys, lag_records, lag_lost;
	/* SET_POLICY and sysfs writes, and re-attaches, one at a time */
	pthread_mutex_t pol_lock;
	uint64_t rng_r;
	_Atomic uint64_t eagain, eintr;
	uint64_t rd_ok, rd_eagain, rd_emsgsize, rd_efault;	/* G.ev_lock */
	/* io_uring commands: by cmd_op, by result, by ring */
	bool uring;			/* KVB_FEAT_URING_CMD */
	_Atomic uint64_t ucall[C_NR];
	_Atomic uint64_t ures[UR_NRES + 1];	/* by -res; last: the rest */
	_Atomic uint64_t ur_ring[UR_RINGS];
	_Atomic uint64_t ur_async, ur_ctl, ur_untouched, ur_enodev_race;
	uint64_t ub_before, ub_done, ub_enodev;	/* the reattacher's */
	_Atomic int ur_nosetup[UR_RINGS];
} G;

static struct th *TH[MAX_THREADS];

/* ---- helpers --------------------------------------------------------- */

static uint64_t rnd(struct th *th, uint64_t n)
{
	return n ? splitmix64(&th->rng) % n : 0;
}

static bool chance(struct th *th, unsigned int pct)
{
	return rnd(th, 100) < pct;
}

static void fail(struct th *th, const char *fmt, ...)
{
	uint64_t n = atomic_fetch_add(&G.failures, 1);
	va_list ap;

	if (n >= MAX_FAIL_PRINT)
		return;
	flockfile(stdout);
	if (th)
		printf("# FAIL [thread %d call %" PRIu64 "] ", th->t,
		       th->calls_done);
	else
		printf("# FAIL ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (th && th->what[0])
		printf("\n#   call: %s", th->what);
	printf("\n");
	funlockfile(stdout);
	fflush(stdout);
}

static void note(const char *fmt, ...)
{
	va_list ap;

	flockfile(stdout);
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	funlockfile(stdout);
	fflush(stdout);
}

static void what(struct th *th, const char *fmt, ...)
{
	size_t n = strlen(th->what);
	va_list ap;

	if (n >= sizeof(th->what) - 1)
		return;
	va_start(ap, fmt);
	vsnprintf(th->what + n, sizeof(th->what) - n, fmt, ap);
	va_end(ap);
}

/* The value of a key with a given length: it differs for every length. */
static uint64_t vseed(const void *key, uint32_t klen, uint64_t vlen)
{
	return key_seed(key, klen, vlen + 0x5eedULL);
}

static int xioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) < 0 ? -errno : 0;
}

static int cidx(unsigned long cmd)
{
	switch (cmd) {
	case KVB_IOC_GET_FEATURES: return C_FEATURES;
	case KVB_IOC_ATTACH: return C_ATTACH;
	case KVB_IOC_DETACH: return C_DETACH;
	case KVB_IOC_LIST: return C_LIST;
	case KVB_IOC_INFO: return C_INFO;
	case KVB_IOC_OFFLOAD: return C_OFFLOAD;
	case KVB_IOC_QUERY: return C_QUERY;
	case KVB_IOC_LOAD: return C_LOAD;
	case KVB_IOC_REMOVE: return C_REMOVE;
	case KVB_IOC_DELETE_BUCKET: return C_DELETE;
	case KVB_IOC_BUCKET_KEYS: return C_KEYS;
	case KVB_IOC_BUCKET_SCAN: return C_SCAN;
	case KVB_IOC_STORE_INFO: return C_SINFO;
	case KVB_IOC_SET_POLICY: return C_POLICY;
	}
	return C_RANDOM;
}

static int counted_ioctl(int fd, unsigned long cmd, void *arg)
{
	atomic_fetch_add(&G.ncall[cidx(cmd)], 1);
	return xioctl(fd, cmd, arg);
}

/* ---- expectations ------------------------------------------------------ */

/*
 * strict: errno of the lowest failed common check (3-5), which must be
 * the result. Otherwise errs: errnos of the ioctl's own checks that the
 * input violates (any one of them, never success), or, if none, ok: the
 * call may succeed, plus the runtime errnos in rt.
 */
struct exp {
	int strict;
	int errs[8], nerrs;
	uint32_t limits;	/* bit per KVB_LIMIT_* with E2BIG */
	int rt[4], nrt;
	bool ok;
	bool maybe_ok;		/* success allowed even with errs (see LOAD) */
	int level;
};

static void exp_init(struct exp *e)
{
	memset(e, 0, sizeof(*e));
}

static void exp_strict(struct exp *e, int level_err, int level)
{
	/* level: 1, 3, 4, 5: keep the lowest level */
	if (!e->strict || level < e->level) {
		e->strict = level_err;
		e->level = level;
	}
}

static void exp_err(struct exp *e, int err)
{
	int i;

	for (i = 0; i < e->nerrs; i++)
		if (e->errs[i] == err)
			return;
	if (e->nerrs < 8)
		e->errs[e->nerrs++] = err;
}

static void exp_e2big(struct exp *e, uint32_t limit)
{
	exp_err(e, E2BIG);
	e->limits |= 1U << limit;
}

static void exp_rt(struct exp *e, int err)
{
	if (e->nrt < 4)
		e->rt[e->nrt++] = err;
}

static bool in(const int *v, int n, int x)
{
	int i;

	for (i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

/*
 * Check ret against e. limit: the batch's limit field after the call, or
 * -1 when it cannot be read. Returns true when ret is allowed.
 */
static bool exp_check(struct th *th, struct exp *e, int ret, long limit)
{
	if (e->strict) {
		if (ret == -e->strict)
			return true;
		fail(th, "returned %d (%s), abi.rst requires %s", ret,
		     ret ? strerror(-ret) : "success", strerror(e->strict));
		return false;
	}
	if (e->nerrs) {
		if (ret == 0 && e->maybe_ok)
			return true;
		if (ret < 0 && in(e->errs, e->nerrs, -ret)) {
			if (ret == -E2BIG && limit >= 0 &&
			    !(e->limits & (1U << limit))) {
				fail(th, "E2BIG with limit %ld, expected mask 0x%x",
				     limit, e->limits);
				return false;
			}
			return true;
		}
		{
			char buf[128] = "";
			int i;

			for (i = 0; i < e->nerrs; i++)
				snprintf(buf + strlen(buf),
					 sizeof(buf) - strlen(buf), " %s",
					 strerror(e->errs[i]));
			fail(th, "returned %d (%s), abi.rst allows only:%s",
			     ret, ret ? strerror(-ret) : "success", buf);
		}
		return false;
	}
	if (ret == 0 && e->ok)
		return true;
	if (ret < 0 && in(e->rt, e->nrt, -ret))
		return true;
	fail(th, "valid call returned %d (%s)", ret,
	     ret ? strerror(-ret) : "success");
	return false;
}

/* ---- memory ---------------------------------------------------------- */

static void *map_rw(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return p;
}

/*
 * Memory with holes in it lives in one region at a fixed address, far
 * below where mmap() places anything by itself (top down from under the
 * stack). So a hole the fuzzer opens (its unmapped pages, the remapper's)
 * is never filled by another mapping of this process while it is open:
 * one of malloc, a thread stack or a ring there would turn an expected
 * EFAULT into a success, or make the remap fail.
 */
#define LOW_BASE	(1ULL << 44)
#define LOW_LEN		(64ULL << 20)

static uint8_t *low_next, *low_end;

/* mmap() at the next free place of the region; a guard page follows */
static void *map_low(size_t len, int prot, int flags, int fd, off_t off)
{
	void *p;

	if (!low_next) {
		p = mmap((void *)(uintptr_t)LOW_BASE, LOW_LEN, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			 MAP_FIXED_NOREPLACE, -1, 0);
		if (p != (void *)(uintptr_t)LOW_BASE) {
			perror("mmap of the low region");
			exit(1);
		}
		low_next = p;
		low_end = low_next + LOW_LEN;
	}
	len = (len + G.pg - 1) & ~(size_t)(G.pg - 1);
	if (len + G.pg > (size_t)(low_end - low_next)) {
		fprintf(stderr, "kvb_fuzz: the low region is full\n");
		exit(1);
	}
	p = mmap(low_next, len, prot, flags | MAP_FIXED, fd, off);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	low_next += len + G.pg;
	return p;
}

/* bad pointers: never mapped, kernel, non-canonical, wrapping */
static uint64_t bad_ptr(struct th *th)
{
	switch (rnd(th, 7)) {
	case 0: return 0;
	case 1: return 8;
	case 2: return (uint64_t)(uintptr_t)G.unmapped;
	case 3: return 0x7ffffffff000ULL - 64;
	case 4: return 0xffff888000000000ULL;
	case 5: return 0x8000000000000000ULL;
	default: return ~0ULL - 7;
	}
}

/* an address n bytes before the unmapped second page of th->part */
static void *straddle(struct th *th, size_t n)
{
	return th->part + G.pg - n;
}

static void ro_begin(struct th *th)
{
	mprotect(th->ro, RO_LEN, PROT_READ | PROT_WRITE);
}

static void ro_end(struct th *th)
{
	mprotect(th->ro, RO_LEN, PROT_READ);
}

/* ---- generations ------------------------------------------------------- */

static struct gen *gen_get(void)
{
	struct gen *g;

	pthread_mutex_lock(&G.gen_lock);
	g = G.cur;
	pthread_mutex_unlock(&G.gen_lock);
	return g;
}

/* a random generation's fd: mostly the current one, sometimes an old one */
static struct gen *gen_pick(struct th *th)
{
	struct gen *g = NULL;

	pthread_mutex_lock(&G.gen_lock);
	if (G.ngens > 1 && chance(th, 3))
		g = G.gens[rnd(th, G.ngens)];
	if (!g) {
		/* the current store is being detached: wait for the next one
		 * rather than spin on ENODEV (old fds still get calls above) */
		while (atomic_load(&G.cur->detaching) && !atomic_load(&G.stop))
			pthread_cond_wait(&G.gen_cond, &G.gen_lock);
		g = G.cur;
	}
	pthread_mutex_unlock(&G.gen_lock);
	return g;
}

/*
 * The common store-device part of a check: a detached store gives ENODEV
 * (before any argument check), and ENODEV only when it was detached.
 * Returns true when ret was ENODEV and handled (fully checked).
 */
static bool enodev_check(struct th *th, struct gen *g, int dead_before,
			 int ret)
{
	if (ret == -ENODEV) {
		atomic_fetch_add(&G.enodev, 1);
		if (!atomic_load(&g->detaching))
			fail(th, "ENODEV on store %u that is not detached",
			     g->id);
		return true;
	}
	if (dead_before) {
		fail(th, "store %u was detached, got %d instead of ENODEV",
		     g->id, ret);
		return true;
	}
	return false;
}

/* ---- keys ------------------------------------------------------------ */

static void mk_model_keys(struct th *th)
{
	int n, i, l;

	for (n = 0; n < NK; n++) {
		struct mkey *k = &th->mk[n];

		l = snprintf((char *)k->key, 32, "m%d:%d:", th->t, n);
		switch (n % 12) {
		case 0: k->klen = KVB_MAX_KEY_LEN; break;
		case 1: k->klen = KVB_MAX_KEY_LEN - 1; break;
		case 2: k->klen = l; break;
		default: k->klen = l + (n * 37) % 200; break;
		}
		for (i = l; i < (int)k->klen; i++)
			k->key[i] = (uint8_t)((n * 131 + i * 7) & 0xff);
		k->state = ABSENT;
	}
	for (n = 0; n < NJ; n++)
		th->jklen[n] = snprintf((char *)th->jkey[n], 40, "j%d:%d",
					th->t, n);
}

static int model_of(struct th *th, const void *key, uint32_t klen)
{
	int n;

	for (n = 0; n < NK; n++)
		if (th->mk[n].klen == klen && !memcmp(th->mk[n].key, key, klen))
			return n;
	return -1;
}

/* random shared junk key into buf; never starts with 'm' */
static uint32_t junk_key(struct th *th, uint8_t *buf)
{
	uint32_t len, i;

	switch (rnd(th, 4)) {
	case 0:	/* one byte, shared by all threads */
		buf[0] = 'A' + rnd(th, 4);
		return 1;
	case 1:
		i = rnd(th, NJ);
		memcpy(buf, th->jkey[i], th->jklen[i]);
		return th->jklen[i];
	case 2:
		len = snprintf((char *)buf, 32, "s:%u", (unsigned int)rnd(th, 64));
		return len;
	default:
		len = 1 + rnd(th, KVB_MAX_KEY_LEN);
		for (i = 0; i < len; i++)
			buf[i] = rnd(th, 256);
		if (buf[0] == 'm')
			buf[0] = 'r';
		return len;
	}
}

/* ---- eviction events ---------------------------------------------------- */

#define EVBUF		(1U << 20)	/* > KVB_EVENT_MAX_LEN(200) */
#define EOF_WAIT_MS	60000		/* bound for end of file after DETACH */

/* The model key (and *t, its thread) an evicted key is, or -1: junk. */
static int ev_owner(const uint8_t *key, uint32_t klen, int *t)
{
	char buf[32];
	uint32_t len = klen < sizeof(buf) - 1 ? klen : sizeof(buf) - 1;
	int n;

	if (!klen || key[0] != 'm')
		return -1;
	memcpy(buf, key, len);
	buf[len] = 0;
	if (sscanf(buf, "m%d:%d:", t, &n) != 2 || *t < 0 ||
	    *t >= G.nthreads || n < 0 || n >= NK)
		return -1;
	if (TH[*t]->mk[n].klen != klen || memcmp(TH[*t]->mk[n].key, key, klen))
		return -1;
	return n;
}

static void ev_push(struct th *th, const struct inev *ie)
{
	if (th->nin == th->capin) {
		th->capin = th->capin ? 2 * th->capin : 64;
		th->inbox = realloc(th->inbox, th->capin * sizeof(*th->inbox));
		if (!th->inbox) {
			perror("realloc");
			exit(1);
		}
	}
	th->inbox[th->nin++] = *ie;
}

/* One EVICT record of g's model reader (its header in *e). G.ev_lock. */
static void ev_evict_rec(struct gen *g, const uint8_t *rec,
			 const struct kvb_event *e)
{
	static struct inev ie[MAX_THREADS];
	const uint8_t *p = rec + sizeof(*e), *end = rec + e->rec_len;
	unsigned int mask = atomic_load(&g->polmask);
	uint64_t bytes = 0;
	uint32_t j;
	int t;

	if (e->seq != g->ev_seq)
		fail(NULL, "store %u: event seq %llu, expected %llu", g->id,
		     (unsigned long long)e->seq,
		     (unsigned long long)g->ev_seq);
	g->ev_seq = e->seq + 1;
	if (e->policy < KVB_POLICY_FIFO || e->policy > KVB_POLICY_LFU ||
	    !(mask & (1U << e->policy)))
		fail(NULL, "store %u: event seq %llu: policy %u, the store had %#x",
		     g->id, (unsigned long long)e->seq, e->policy, mask);
	if (!e->bucket_id || e->nr_lost || e->reserved[0] || e->reserved[1])
		fail(NULL, "store %u: event seq %llu: bucket %llu, nr_lost %llu, reserved %#llx %#llx",
		     g->id, (unsigned long long)e->seq,
		     (unsigned long long)e->bucket_id,
		     (unsigned long long)e->nr_lost,
		     (unsigned long long)e->reserved[0],
		     (unsigned long long)e->reserved[1]);
	for (t = 0; t < G.nthreads; t++) {
		ie[t].seq = e->seq;
		ie[t].bucket = e->bucket_id;
		ie[t].n = 0;
	}
	for (j = 0; j < e->nr_keys; j++) {
		struct kvb_key_rec kr;
		uint64_t rl, x;
		int m;

		if (end - p < (long)sizeof(kr)) {
			fail(NULL, "store %u: event seq %llu: key record %u beyond rec_len %u",
			     g->id, (unsigned long long)e->seq, j, e->rec_len);
			return;
		}
		memcpy(&kr, p, sizeof(kr));
		rl = KVB_KEY_REC_LEN(kr.key_len);
		if (!kr.key_len || kr.key_len > KVB_MAX_KEY_LEN ||
		    kr.reserved0 || !kr.value_len || rl > (uint64_t)(end - p)) {
			fail(NULL, "store %u: event seq %llu: bad key record %u: key_len %u reserved0 %u value_len %llu",
			     g->id, (unsigned long long)e->seq, j, kr.key_len,
			     kr.reserved0, (unsigned long long)kr.value_len);
			return;
		}
		for (x = sizeof(kr) + kr.key_len; x < rl; x++)
			if (p[x])
				fail(NULL, "store %u: event seq %llu: key record %u: padding not zero",
				     g->id, (unsigned long long)e->seq, j);
		bytes += kr.value_len;
		m = ev_owner(p + sizeof(kr), kr.key_len, &t);
		if (m >= 0 && ie[t].n < NK) {
			ie[t].m[ie[t].n] = m;
			ie[t].vlen[ie[t].n] = kr.value_len;
			ie[t].n++;
		}
		p += rl;
	}
	if (p != end || bytes != e->value_bytes)
		fail(NULL, "store %u: event seq %llu: key records end at %ld of %u, value bytes %llu/%llu",
		     g->id, (unsigned long long)e->seq, (long)(p - rec),
		     e->rec_len, (unsigned long long)bytes,
		     (unsigned long long)e->value_bytes);
	if (g->nlog == g->caplog) {
		g->caplog = g->caplog ? 2 * g->caplog : 256;
		g->log = realloc(g->log, g->caplog * sizeof(*g->log));
		if (!g->log) {
			perror("realloc");
			exit(1);
		}
	}
	if (g->nlog == e->seq - 1)
		g->log[g->nlog++] = (struct evlog){
			e->bucket_id, e->value_bytes, e->nr_keys,
			kvb_crc32c(0, rec + sizeof(*e), e->rec_len - sizeof(*e)),
			e->rec_len,
		};
	G.evictions++;
	G.evicted_keys += e->nr_keys;
	for (t = 0; t < G.nthreads; t++)
		ev_push(TH[t], &ie[t]);
}

/*
 * Check the records of n bytes at buf, read from g's model fd, and give
 * each thread its keys' evictions. G.ev_lock.
 */
static void ev_dispatch(struct gen *g, const uint8_t *buf, size_t n)
{
	size_t off = 0;

	while (off < n) {
		struct kvb_event e;

		if (n - off < sizeof(e)) {
			fail(NULL, "store %u: read() returned %zu bytes, a partial record at %zu",
			     g->id, n, off);
			return;
		}
		memcpy(&e, buf + off, sizeof(e));
		if (e.rec_len < sizeof(e) || e.rec_len % 8 ||
		    e.rec_len > n - off) {
			fail(NULL, "store %u: event record at %zu of %zu: rec_len %u",
			     g->id, off, n, e.rec_len);
			return;
		}
		if (e.type == KVB_EVENT_LOST) {
			/* a 16 MiB queue read after every call: cannot be */
			fail(NULL, "store %u: the model's event reader fell behind: %llu events lost from seq %llu (expected %llu)",
			     g->id, (unsigned long long)e.nr_lost,
			     (unsigned long long)e.seq,
			     (unsigned long long)g->ev_seq);
			g->ev_seq = e.seq + e.nr_lost;
		} else if (e.type != KVB_EVENT_EVICT) {
			fail(NULL, "store %u: event record of type %u", g->id,
			     e.type);
		} else {
			ev_evict_rec(g, buf + off, &e);
		}
		off += e.rec_len;
	}
}

/*
 * Read g's model fd: what is queued, or with to_eof up to the end of
 * file (g is detached). Returns whether the end was reached. G.ev_lock.
 */
static bool ev_read(struct gen *g, bool to_eof)
{
	for (;;) {
		ssize_t n;

		if (g->ev_eof)
			return true;
		if (to_eof) {
			struct pollfd p = { .fd = g->ev_fd, .events = POLLIN };
			int r = poll(&p, 1, EOF_WAIT_MS);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				fail(NULL, "store %u: no end of file on its events %d ms after DETACH",
				     g->id, EOF_WAIT_MS);
				return false;
			}
		}
		n = read(g->ev_fd, G.evbuf, EVBUF);
		if (n < 0) {
			if (errno == EINTR || (errno == EAGAIN && to_eof))
				continue;
			if (errno != EAGAIN)
				fail(NULL, "store %u: read() of events: %s", g->id,
				     strerror(errno));
			return false;
		}
		if (n == 0) {
			g->ev_eof = true;
			return true;
		}
		ev_dispatch(g, G.evbuf, n);
	}
}

/*
 * Records the lagging reader read (n bytes at buf): what the model's
 * reader read (a LOST record aside, which says exactly what it missed).
 * G.ev_lock.
 */
static void lag_check(struct gen *g, const uint8_t *buf, size_t n)
{
	size_t off = 0;

	ev_read(g, false);	/* the log covers all it read */
	while (off + sizeof(struct kvb_event) <= n) {
		const struct kvb_event *e = (const void *)(buf + off);

		if (e->rec_len < sizeof(*e) || e->rec_len % 8 ||
		    off + e->rec_len > n) {
			fail(NULL, "store %u: lagging reader: rec_len %u", g->id,
			     e->rec_len);
			return;
		}
		if (e->seq != g->lag_seq) {
			fail(NULL, "store %u: lagging reader: seq %llu, expected %llu",
			     g->id, (unsigned long long)e->seq,
			     (unsigned long long)g->lag_seq);
		} else if (e->type == KVB_EVENT_LOST) {
			if (!e->nr_lost || e->rec_len != sizeof(*e))
				fail(NULL, "store %u: LOST record of %llu events, %u bytes",
				     g->id, (unsigned long long)e->nr_lost,
				     e->rec_len);
			G.lag_lost += e->nr_lost;
			g->lag_seq = e->seq + e->nr_lost;
		} else if (e->seq > g->nlog) {
			fail(NULL, "store %u: the lagging reader got seq %llu, the model's reader only %zu",
			     g->id, (unsigned long long)e->seq, g->nlog);
		} else {
			const struct evlog *l = &g->log[e->seq - 1];

			if (e->type != KVB_EVENT_EVICT ||
			    e->bucket_id != l->bucket ||
			    e->nr_keys != l->nr_keys ||
			    e->value_bytes != l->value_bytes ||
			    e->rec_len != l->rec_len ||
			    kvb_crc32c(0, (const uint8_t *)e + sizeof(*e),
				       e->rec_len - sizeof(*e)) != l->crc)
				fail(NULL, "store %u: event seq %llu differs between two readers (bucket %llu/%llu, %u/%u keys)",
				     g->id, (unsigned long long)e->seq,
				     (unsigned long long)e->bucket_id,
				     (unsigned long long)l->bucket,
				     e->nr_keys, l->nr_keys);
			g->lag_seq++;
			G.lag_records++;
		}
		off += e->rec_len;
	}
	if (off != n)
		fail(NULL, "store %u: lagging reader: %zu bytes, records end at %zu",
		     g->id, n, off);
}

/* The lagging reader catches up (to the end of file). G.ev_lock. */
static void lag_read(struct gen *g, bool to_eof)
{
	static uint8_t buf[EVBUF];

	for (;;) {
		ssize_t n;

		if (to_eof) {
			struct pollfd p = { .fd = g->lag_fd, .events = POLLIN };

			if (poll(&p, 1, EOF_WAIT_MS) <= 0) {
				fail(NULL, "store %u: no end of file for the lagging reader",
				     g->id);
				return;
			}
		}
		n = read(g->lag_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno != EAGAIN)
				fail(NULL, "store %u: lagging read(): %s", g->id,
				     strerror(errno));
			return;
		}
		if (n == 0)
			return;
		lag_check(g, buf, n);
	}
}

/* Apply one eviction to th's model. */
static void apply_ev(struct th *th, const struct inev *ie)
{
	bool named[NK] = { false };
	uint64_t vlen[NK] = { 0 };
	uint32_t j;
	int m;

	for (j = 0; j < ie->n; j++) {
		named[ie->m[j]] = true;
		vlen[ie->m[j]] = ie->vlen[j];
	}
	for (m = 0; m < NK; m++) {
		struct mkey *k = &th->mk[m];
		bool in_bucket = k->state == PRESENT && k->bucket == ie->bucket;
		bool ghost = k->ghost && k->ghost == ie->bucket;

		if (named[m]) {
			uint64_t want = in_bucket ? k->vlen : k->ghost_vlen;

			if (!in_bucket && !ghost) {
				fail(th, "eviction event seq %llu of bucket %llu names m%d:%d, which the model has %s bucket %llu (call %llu)",
				     (unsigned long long)ie->seq,
				     (unsigned long long)ie->bucket, th->t, m,
				     k->state == PRESENT ? "in" : "absent, last in",
				     (unsigned long long)k->bucket,
				     (unsigned long long)k->last_call);
				continue;
			}
			if (vlen[m] != want)
				fail(th, "eviction event seq %llu: m%d:%d of %llu bytes, model %llu",
				     (unsigned long long)ie->seq, th->t, m,
				     (unsigned long long)vlen[m],
				     (unsigned long long)want);
			if (in_bucket) {
				k->state = ABSENT;
				k->last_call = th->calls_done;
				th->explained += k->suspect;
			} else {
				k->ghost = 0;
			}
			th->own_evicted++;
			continue;
		}
		if (in_bucket)
			fail(th, "eviction event seq %llu of bucket %llu lacks m%d:%d (%llu bytes in it since call %llu)",
			     (unsigned long long)ie->seq,
			     (unsigned long long)ie->bucket, th->t, m,
			     (unsigned long long)k->vlen,
			     (unsigned long long)k->last_call);
		if (ghost && k->ghost_need)
			fail(th, "eviction event seq %llu of bucket %llu lacks m%d:%d, which OFFLOAD found gone from it",
			     (unsigned long long)ie->seq,
			     (unsigned long long)ie->bucket, th->t, m);
		if (ghost)
			k->ghost = 0;
	}
}

/* th's evictions not applied yet (by th, or by main while th waits). */
static void apply_inbox(struct th *th)
{
	struct inev *in;
	size_t n, i;

	pthread_mutex_lock(&G.ev_lock);
	in = th->inbox;
	n = th->nin;
	th->inbox = NULL;
	th->nin = th->capin = 0;
	pthread_mutex_unlock(&G.ev_lock);
	for (i = 0; i < n; i++)
		apply_ev(th, &in[i]);
	free(in);
}

/* Every ghost and suspect of the call just made must be resolved. */
static void resolve(struct th *th)
{
	int m;

	for (m = 0; m < NK; m++) {
		struct mkey *k = &th->mk[m];

		if (k->suspect && k->state == PRESENT) {
			fail(th, "m%d:%d (bucket %llu): -ENOENT, but no eviction event for it was readable after the call (kvb_stress evict-order tests this)",
			     th->t, m, (unsigned long long)k->bucket);
			k->state = ABSENT;
		}
		k->suspect = false;
		if (k->ghost && k->ghost_need)
			fail(th, "OFFLOAD without REPLACE stored m%d:%d, which the model had in bucket %llu, but no event evicted that bucket",
			     th->t, m, (unsigned long long)k->ghost);
		k->ghost = 0;
	}
}

/* After every call: read the events it may have raced with, apply them. */
static void ev_sync(struct th *th)
{
	pthread_mutex_lock(&G.ev_lock);
	if (G.ev_gen)
		ev_read(G.ev_gen, false);
	pthread_mutex_unlock(&G.ev_lock);
	apply_inbox(th);
	resolve(th);
}

static void suspect(struct mkey *k)
{
	k->suspect = true;
}

/* ---- record checks (BUCKET_KEYS and BUCKET_SCAN output) ------------- */

/* Check nr key records at p (len bytes); returns bytes consumed or -1. */
static long check_key_recs(struct th *th, const uint8_t *p, uint64_t len,
			   uint32_t nr, uint64_t *vbytes, uint64_t bucket,
			   bool own)
{
	uint64_t off = 0, sum = 0;
	uint32_t i, j;

	for (i = 0; i < nr; i++) {
		struct kvb_key_rec r;
		uint64_t rl;
		int m;

		if (off + sizeof(r) > len) {
			fail(th, "key record %u beyond the bytes used", i);
			return -1;
		}
		memcpy(&r, p + off, sizeof(r));
		rl = KVB_KEY_REC_LEN(r.key_len);
		if (!r.key_len || r.key_len > KVB_MAX_KEY_LEN || r.reserved0 ||
		    !r.value_len || off + rl > len) {
			fail(th, "bad key record %u: key_len %u reserved0 %u value_len %" PRIu64,
			     i, r.key_len, r.reserved0, r.value_len);
			return -1;
		}
		for (j = sizeof(r) + r.key_len; j < rl; j++)
			if (p[off + j]) {
				fail(th, "key record %u: padding not zero", i);
				return -1;
			}
		sum += r.value_len;
		if (own) {
			m = model_of(th, p + off + sizeof(r), r.key_len);
			if (m >= 0 && th->mk[m].state == ABSENT) {
				fail(th, "bucket %" PRIu64 " lists key m%d:%d that was removed (last change: call %" PRIu64 ")",
				     bucket, th->t, m, th->mk[m].last_call);
			} else if (m >= 0 && th->mk[m].state == PRESENT &&
				   (th->mk[m].bucket != bucket ||
				    th->mk[m].vlen != r.value_len)) {
				fail(th, "bucket %" PRIu64 " lists key m%d:%d (len %" PRIu64 ") stored in bucket %" PRIu64 " len %" PRIu64,
				     bucket, th->t, m, r.value_len,
				     th->mk[m].bucket, th->mk[m].vlen);
			}
		}
		off += rl;
	}
	*vbytes = sum;
	return off;
}

/* ---- io_uring commands -------------------------------------------------- */

/*
 * Set up th's rings. Before the fuzzer makes holes in its address space:
 * the rings' mappings would fill the one-page holes behind th->part and
 * G.unmapped, or the remapper's while it is open (as memory another
 * thread maps must not, see reattach_thread()).
 */
static void ur_setup(struct th *th)
{
	static const unsigned int setup[UR_RINGS] = {
		[UR_MAIN] = IORING_SETUP_SQE128,
		[UR_SQE64] = 0,
		[UR_IOPOLL] = IORING_SETUP_IOPOLL | IORING_SETUP_SQE128,
	};
	int which, ret;

	for (which = 0; G.uring && which < UR_RINGS; which++) {
		struct io_uring *r = &th->ur[which];
		unsigned int flags = setup[which];

		/* odd threads: 32-byte CQEs, whose extra field must be 0 */
		if (which == UR_MAIN && th->t % 2)
			flags |= IORING_SETUP_CQE32;
		ret = io_uring_queue_init(4, r, flags);
		if (ret && (flags & IORING_SETUP_CQE32)) {
			flags &= ~IORING_SETUP_CQE32;
			ret = io_uring_queue_init(4, r, flags);
		}
		if (ret) {
			th->ur_state[which] = -1;
			if (!atomic_exchange(&G.ur_nosetup[which], 1))
				note("io_uring: no %s ring (%s): those commands are not fuzzed",
				     urname[which], strerror(-ret));
			continue;
		}
		th->ur_state[which] = 1;
		th->ur_flags[which] = flags;
	}
	/* for IORING_URING_CMD_FIXED, which the commands refuse */
	th->fixbuf = map_rw(G.pg);
	if (th->ur_state[UR_MAIN] > 0) {
		struct iovec iov = { th->fixbuf, G.pg };

		th->ur_fixed = !io_uring_register_buffers(&th->ur[UR_MAIN],
							  &iov, 1);
	}
}

/* th's ring which, or NULL: the kernel does not have it. */
static struct io_uring *ur_ring(struct th *th, int which)
{
	return th->ur_state[which] > 0 ? &th->ur[which] : NULL;
}

static void ur_exit(struct th *th)
{
	int i;

	for (i = 0; i < UR_RINGS; i++)
		if (th->ur_state[i] > 0)
			io_uring_queue_exit(&th->ur[i]);
}

/*
 * Submit one IORING_OP_URING_CMD on th's ring which (set up already) and
 * wait for its completion: *res, what the ioctl would return (0 or
 * -errno). c: the command bytes, of which a 64-byte SQE takes the first
 * 16. Returns false, the failure reported, when io_uring itself fails.
 */
static bool ur_run(struct th *th, int which, int fd, uint32_t op,
		   const struct kvb_uring_cmd *c, uint16_t cmd_flags, int *res)
{
	struct io_uring *r = &th->ur[which];
	unsigned int flags = th->ur_flags[which];
	struct io_uring_sqe *sqe = io_uring_get_sqe(r);
	struct io_uring_cqe *cqe;
	uint64_t tag = ++th->ur_tag;
	int ret;

	if (!sqe) {
		fail(th, "io_uring: no free SQE on the %s ring", urname[which]);
		return false;
	}
	memset(sqe, 0, flags & IORING_SETUP_SQE128 ? 2 * sizeof(*sqe) :
						      sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe->cmd_op = op;
	sqe->uring_cmd_flags = cmd_flags;	/* buf_index 0: fixbuf */
	sqe->user_data = tag;
	memcpy(sqe->cmd, c, flags & IORING_SETUP_SQE128 ? sizeof(*c) : 16);
	if (chance(th, 30)) {
		/* issued from io_uring's worker, where it may sleep */
		sqe->flags |= IOSQE_ASYNC;
		atomic_fetch_add(&G.ur_async, 1);
		what(th, " IOSQE_ASYNC");
	}
	atomic_fetch_add(&G.ucall[cidx(op)], 1);
	atomic_fetch_add(&G.ur_ring[which], 1);
	ret = io_uring_submit(r);
	if (ret != 1) {
		fail(th, "io_uring_submit() on the %s ring: %d", urname[which],
		     ret);
		return false;
	}
	do
		ret = io_uring_wait_cqe(r, &cqe);
	while (ret == -EINTR);
	if (ret) {
		fail(th, "io_uring_wait_cqe() on the %s ring: %s",
		     urname[which], strerror(-ret));
		return false;
	}
	*res = cqe->res;
	if (cqe->user_data != tag)
		fail(th, "io_uring: completion of user_data %llu, expected %llu",
		     (unsigned long long)cqe->user_data,
		     (unsigned long long)tag);
	if ((flags & IORING_SETUP_CQE32) &&
	    (cqe->big_cqe[0] || cqe->big_cqe[1]))
		fail(th, "io_uring: 32-byte CQE with extra field %#llx %#llx, abi.rst: 0",
		     (unsigned long long)cqe->big_cqe[0],
		     (unsigned long long)cqe->big_cqe[1]);
	io_uring_cqe_seen(r, cqe);
	atomic_fetch_add(&G.ures[*res <= 0 && *res > -UR_NRES ? -*res :
				 UR_NRES], 1);
	if (*res > 0) {
		fail(th, "io_uring: res %d, abi.rst: 0 or -errno", *res);
		return false;
	}
	return true;
}

/*
 * A command refused before it ran did nothing: the batch b and the nd
 * descriptors at d are as they were (bs, ds), and each owned key m[] is
 * where the model has it (one that is gone must have been evicted: an
 * event says so, see resolve()).
 */
static void ur_untouched(struct th *th, struct gen *g,
			 const struct kvb_batch *b, const struct kvb_batch *bs,
			 const struct kvb_obj_desc *d,
			 const struct kvb_obj_desc *ds, uint32_t nd,
			 const int *m, uint32_t nm)
{
	uint32_t i;

	atomic_fetch_add(&G.ur_untouched, 1);
	if (b && memcmp(b, bs, sizeof(*b)))
		fail(th, "refused command changed its batch: nr_done %u/%u bucket_id %llu/%llu limit %u/%u",
		     b->nr_done, bs->nr_done,
		     (unsigned long long)b->bucket_id,
		     (unsigned long long)bs->bucket_id, b->limit, bs->limit);
	for (i = 0; i < nd; i++)
		if (memcmp(&d[i], &ds[i], sizeof(d[i])))
			fail(th, "refused command changed descriptor %u: status %d/%d value_len %llu/%llu",
			     i, d[i].status, ds[i].status,
			     (unsigned long long)d[i].value_len,
			     (unsigned long long)ds[i].value_len);
	for (i = 0; i < nm; i++) {
		struct mkey *k = &th->mk[m[i]];
		struct kvb_obj_desc q;
		int ret;

		if (k->state == UNKNOWN)
			continue;
		kvb_desc_init(&q, k->key, k->klen, NULL, 0);
		ret = st_batch(g->fd, KVB_IOC_QUERY, &q, 1, 0, NULL);
		if (ret == -ENODEV && atomic_load(&g->detaching))
			return;
		if (ret) {
			fail(th, "QUERY after a refused command: %s",
			     strerror(-ret));
			return;
		}
		if (k->state == ABSENT && q.status != -ENOENT)
			fail(th, "refused command stored m%d:%d: status %d len %llu bucket %llu, model absent since call %llu",
			     th->t, m[i], q.status,
			     (unsigned long long)q.value_len,
			     (unsigned long long)q.bucket_id,
			     (unsigned long long)k->last_call);
		else if (k->state == PRESENT && q.status == -ENOENT)
			suspect(k);	/* removed by it, or evicted? */
		else if (k->state == PRESENT &&
			 (q.status || q.value_len != k->vlen ||
			  q.bucket_id != k->bucket))
			fail(th, "after a refused command m%d:%d: status %d len %llu bucket %llu, model len %llu bucket %llu",
			     th->t, m[i], q.status,
			     (unsigned long long)q.value_len,
			     (unsigned long long)q.bucket_id,
			     (unsigned long long)k->vlen,
			     (unsigned long long)k->bucket);
	}
}

/* ---- batch ioctls ---------------------------------------------------- */

struct dinfo {
	int model;		/* model key index or -1 */
	uint64_t vlen;		/* OFFLOAD: value length; LOAD: dest length */
	uint8_t *dst;		/* LOAD: contiguous dest to verify, or NULL */
	bool bad_dst;		/* LOAD: a slice cannot be written */
	bool volatile_mem;	/* uses remapped memory */
	bool key_bad;		/* key pointer made unreadable */
	bool mutated;
};

static struct dinfo DI[MAX_THREADS][KVB_MAX_BATCH + 1];

/* split len bytes at base into nr slices (nr <= len) */
static void split(struct th *th, struct kvb_slice *s, uint8_t *base,
		  uint64_t len, uint32_t nr)
{
	uint64_t off = 0, piece;
	uint32_t i;

	for (i = 0; i < nr; i++) {
		if (i == nr - 1)
			piece = len - off;
		else
			piece = 1 + rnd(th, (len - off) - (nr - 1 - i));
		if (i != nr - 1 && chance(th, 50))
			piece = 1;
		if (piece > len - off - (nr - 1 - i))
			piece = len - off - (nr - 1 - i);
		s[i].addr = (uint64_t)(uintptr_t)(base + off);
		s[i].len = piece;
		off += piece;
	}
}

static uint64_t pick_vlen(struct th *th, struct gen *g)
{
	switch (rnd(th, 40)) {
	case 0: return g->max_bytes;
	case 1: return g->max_bytes - 1;
	case 2: return 1;
	case 3: return 2;
	case 4: return 4096;
	case 5: return 4095 + rnd(th, 3);
	case 6: return 1 + rnd(th, 256 << 10);
	default: return 1 + rnd(th, 8192);
	}
}

static void fz_batch(struct th *th, struct gen *g, unsigned long cmd)
{
	bool offload = cmd == KVB_IOC_OFFLOAD, load = cmd == KVB_IOC_LOAD;
	bool remove = cmd == KVB_IOC_REMOVE;
	bool has_sl = offload || load;
	struct dinfo *di = DI[th->t];
	struct kvb_obj_desc *d = th->descs;
	struct kvb_batch bb, *b = &bb;
	uint32_t count, i, j, nsl = 0, flags = 0;
	uint64_t voff = 0, doff = 0, koff = 0, total = 0;
	bool mut = chance(th, 35), big = false, bro = false, dro = false;
	bool bptr_bad = false, used_model = false, l6_keylimit = false;
	bool bptr_set = false;
	uint64_t bptr = 0;
	int ret, dead_before, m, st;
	struct exp e;
	/* io_uring: the command, its SQE's uring_cmd_flags, and snapshots */
	bool ur = G.uring && !remove && chance(th, 25) &&
		  ur_ring(th, UR_MAIN);
	struct kvb_uring_cmd uc;
	uint16_t ucf = 0;
	struct kvb_batch bsnap = { 0 };
	struct kvb_obj_desc dsnap[16];
	uint32_t nsnap = 0;

	exp_init(&e);
	th->what[0] = 0;
	th->badaddr = 0;
	what(th, "%s%s fd(store %u)", cname[cidx(cmd)],
	     ur ? " via io_uring" : "", g->id);

	/* count */
	switch (mut ? rnd(th, 12) : 11) {
	case 0: count = 0; break;
	case 1: count = g->max_keys + rnd(th, 2); break;
	case 2: count = g->max_keys - 1; break;
	case 3: count = KVB_MAX_BATCH - 1 + rnd(th, 2); break;
	case 4: count = KVB_MAX_BATCH + 1; break;
	case 5: count = 0xffffffffU; break;
	case 6: count = has_sl ? 64 + rnd(th, 2) : 1 + rnd(th, 4096); break;
	default: count = 1 + rnd(th, offload ? 6 : 10); break;
	}
	if (offload && count > 16 && count <= g->max_keys && chance(th, 50))
		count = 1 + rnd(th, 6);	/* keep big offloads rare */
	big = count > 16 && count <= KVB_MAX_BATCH;
	what(th, " count %u", count);

	if (offload && chance(th, 30))
		flags |= KVB_OFFLOAD_REPLACE;

	/* descriptors */
	/* above KVB_MAX_BATCH the descriptors must not even be read */
	for (i = 0; i < count && i < (count > KVB_MAX_BATCH ? 1 : count); i++) {
		struct kvb_obj_desc *x = &d[i];
		const uint8_t *key;
		uint32_t klen;

		memset(x, 0, sizeof(*x));
		di[i].model = -1;
		di[i].dst = NULL;
		di[i].bad_dst = false;
		di[i].volatile_mem = false;
		di[i].key_bad = false;
		di[i].mutated = false;
		if (big) {
			/* a key nobody writes: x<t>:<i> */
			klen = snprintf((char *)th->keybuf + koff, 24, "x%d:%u",
					th->t, i);
			key = th->keybuf + koff;
			koff += klen;
		} else if (chance(th, 60) && !(offload && chance(th, 10))) {
			/* an owned key, at most once per batch */
			for (j = 0; j < 4; j++) {
				m = rnd(th, NK);
				if (!th->kind[m])
					break;
			}
			if (th->kind[m]) {
				klen = junk_key(th, th->keybuf + koff);
				key = th->keybuf + koff;
				koff += klen;
			} else {
				th->kind[m] = 1;
				di[i].model = m;
				key = th->mk[m].key;
				klen = th->mk[m].klen;
				used_model = true;
			}
		} else {
			klen = junk_key(th, th->keybuf + koff);
			key = th->keybuf + koff;
			koff += klen;
			/* junk keys duplicated within an OFFLOAD: EINVAL */
			for (j = 0; j < i && offload; j++)
				if (d[j].key_len == klen &&
				    !memcmp((void *)(uintptr_t)d[j].key, key, klen)) {
					exp_err(&e, EINVAL);
					what(th, " dup-junk");
				}
			if (remove) {
				/* keep REMOVE batches duplicate-free */
				for (j = 0; j < i; j++)
					if (d[j].key_len == klen &&
					    !memcmp((void *)(uintptr_t)d[j].key,
						    key, klen)) {
						key = NULL;
						break;
					}
				if (!key) {
					klen = snprintf((char *)th->keybuf + koff,
							24, "u%d:%u", th->t, i);
					key = th->keybuf + koff;
					koff += klen;
				}
			}
		}
		if (koff > KEYBUF_LEN - 2 * KVB_MAX_KEY_LEN)
			koff = 0;	/* reuse: only for big junk batches */
		x->key = (uint64_t)(uintptr_t)key;
		x->key_len = klen;

		if (!has_sl)
			continue;
		if (big && offload) {
			/* one byte, still the key's value */
			fill_value(vseed(key, klen, 1), th->valbuf + voff, 1);
			th->slices[nsl].addr = (uint64_t)(uintptr_t)(th->valbuf + voff);
			th->slices[nsl].len = 1;
			x->nr_slices = 1;
			x->slices = (uint64_t)(uintptr_t)&th->slices[nsl];
			di[i].vlen = 1;
			nsl++;
			voff += 8;
			total++;
			continue;
		}
		if (big) {
			x->nr_slices = (count >= 64 && count <= 65) ?
				       KVB_MAX_SLICES : 1;
			if (nsl + x->nr_slices > KVB_MAX_BATCH_SLICES + 1024) {
				x->nr_slices = 1;
			}
			for (j = 0; j < x->nr_slices; j++) {
				th->slices[nsl + j].addr =
					(uint64_t)(uintptr_t)(th->dstbuf + (doff % (DST_LEN - 16)));
				th->slices[nsl + j].len = 1;
				doff++;
			}
			x->slices = (uint64_t)(uintptr_t)&th->slices[nsl];
			di[i].vlen = x->nr_slices;
			nsl += x->nr_slices;
			continue;
		}
		if (offload) {
			uint64_t vlen = pick_vlen(th, g);
			uint8_t *v;
			uint32_t nr;

			if (voff + vlen > VAL_LEN || total + vlen > g->max_bytes)
				vlen = 1 + rnd(th, 4096);
			if (voff + vlen > VAL_LEN)
				voff = 0;	/* E2BIG anyway */
			v = th->valbuf + voff;
			fill_value(vseed(key, klen, vlen), v, vlen);
			nr = chance(th, 70) ? 1 + rnd(th, 4) :
			     (chance(th, 50) ? KVB_MAX_SLICES : 1 + rnd(th, 64));
			if (nr > vlen)
				nr = vlen;
			/* the whole batch must keep within the slice limit */
			if (nsl + nr > KVB_MAX_BATCH_SLICES)
				nr = 1;
			split(th, &th->slices[nsl], v, vlen, nr);
			x->nr_slices = nr;
			x->slices = (uint64_t)(uintptr_t)&th->slices[nsl];
			di[i].vlen = vlen;
			nsl += nr;
			voff += (vlen + 7) & ~7ULL;
			total += vlen;
		} else {
			uint64_t dlen;
			uint32_t nr;

			if (di[i].model >= 0 &&
			    th->mk[di[i].model].state == PRESENT && chance(th, 85))
				dlen = th->mk[di[i].model].vlen;
			else if (chance(th, 50))
				dlen = 1 + rnd(th, 8192);
			else
				dlen = pick_vlen(th, g);
			if (doff + dlen > DST_LEN)
				doff = 0;
			if (doff + dlen > DST_LEN)
				dlen = 1;
			nr = chance(th, 70) ? 1 + rnd(th, 4) : 1 + rnd(th, 64);
			if (nr > dlen)
				nr = dlen;
			if (nsl + nr > KVB_MAX_BATCH_SLICES)
				nr = 1;
			memset(th->dstbuf + doff, 0xa5, dlen);
			split(th, &th->slices[nsl], th->dstbuf + doff, dlen, nr);
			x->nr_slices = nr;
			x->slices = (uint64_t)(uintptr_t)&th->slices[nsl];
			di[i].vlen = dlen;
			di[i].dst = th->dstbuf + doff;
			nsl += nr;
			doff += (dlen + 7) & ~7ULL;
		}
	}

	/* the ioctl's own checks that the valid-looking input already trips */
	if (count == 0)
		exp_err(&e, EINVAL);
	if (count > KVB_MAX_BATCH)
		exp_e2big(&e, KVB_LIMIT_BATCH);
	if (offload && count > g->max_keys) {
		exp_e2big(&e, KVB_LIMIT_KEYS);
		l6_keylimit = true;
	}
	if (count >= 1 && count <= KVB_MAX_BATCH && nsl > KVB_MAX_BATCH_SLICES)
		exp_e2big(&e, KVB_LIMIT_SLICES);
	if (offload && total > g->max_bytes)
		exp_e2big(&e, KVB_LIMIT_BYTES);

	/* mutations of the descriptors (ioctl checks: any order) */
	if (mut && count >= 1 && count <= KVB_MAX_BATCH) {
		int nm = 1 + rnd(th, 2);

		while (nm--) {
			struct kvb_obj_desc *x = &d[rnd(th, count)];
			uint32_t xi = x - d;
			bool was = di[xi].mutated;

			di[xi].mutated = true;

			switch (rnd(th, 14)) {
			case 0:
				x->reserved0 = 1 + rnd(th, 0xffff);
				exp_err(&e, EINVAL);
				what(th, " desc%u.reserved0", xi);
				break;
			case 1:
				x->reserved[rnd(th, 2)] = 1ULL << rnd(th, 64);
				exp_err(&e, EINVAL);
				what(th, " desc%u.reserved", xi);
				break;
			case 2:
				x->key_len = chance(th, 50) ? 0 :
					     (chance(th, 50) ? KVB_MAX_KEY_LEN + 1 :
					      0x80000000U + rnd(th, 100));
				exp_err(&e, EINVAL);
				what(th, " desc%u.key_len=%u", xi, x->key_len);
				break;
			case 3:
				if (x->key_len <= KVB_MAX_KEY_LEN && x->key_len) {
					x->key = chance(th, 50) ? bad_ptr(th) :
						 (uint64_t)(uintptr_t)straddle(th,
							x->key_len > 1 ? x->key_len - 1 : 0);
					di[xi].key_bad = true;
					exp_err(&e, EFAULT);
					what(th, " desc%u.key=%#llx", xi,
					     (unsigned long long)x->key);
				}
				break;
			case 4:
				if (has_sl) {
					x->nr_slices = 0;
					exp_err(&e, EINVAL);
				} else {
					if (chance(th, 50))
						x->nr_slices = 1 + rnd(th, 3);
					else
						x->slices = (uint64_t)(uintptr_t)th->slices;
					exp_err(&e, EINVAL);
				}
				what(th, " desc%u.nr_slices=%u slices=%#llx", xi,
				     x->nr_slices, (unsigned long long)x->slices);
				break;
			case 5:
				if (has_sl) {
					x->nr_slices = chance(th, 50) ?
						KVB_MAX_SLICES + 1 : 0xffffffffU;
					exp_e2big(&e, KVB_LIMIT_SLICES);
					what(th, " desc%u.nr_slices=%u", xi,
					     x->nr_slices);
				}
				break;
			case 6:
				if (has_sl && x->nr_slices &&
				    x->nr_slices <= KVB_MAX_SLICES) {
					x->slices = chance(th, 50) ? bad_ptr(th) :
						(uint64_t)(uintptr_t)straddle(th, 8);
					exp_err(&e, EFAULT);
					what(th, " desc%u.slices=%#llx", xi,
					     (unsigned long long)x->slices);
				}
				break;
			case 7:
				if (has_sl && x->nr_slices &&
				    x->nr_slices <= KVB_MAX_SLICES &&
				    (uintptr_t)x->slices ==
				    (uintptr_t)(uint64_t)x->slices &&
				    x->slices >= (uint64_t)(uintptr_t)th->slices &&
				    x->slices < (uint64_t)(uintptr_t)(th->slices + nsl)) {
					struct kvb_slice *s = (void *)(uintptr_t)x->slices;

					s[rnd(th, x->nr_slices)].len = 0;
					exp_err(&e, EINVAL);
					what(th, " desc%u.slice.len=0", xi);
				}
				break;
			case 8: case 9:
				/* a slice's memory unreadable / unwritable */
				if (has_sl && x->nr_slices &&
				    x->nr_slices <= KVB_MAX_SLICES &&
				    x->slices >= (uint64_t)(uintptr_t)th->slices &&
				    x->slices < (uint64_t)(uintptr_t)(th->slices + nsl)) {
					struct kvb_slice *s = (void *)(uintptr_t)x->slices;
					struct kvb_slice *y = &s[rnd(th, x->nr_slices)];
					int how = rnd(th, load ? 4 : 3);

					if (how == 0)
						y->addr = bad_ptr(th);
					else if (how == 1)
						y->addr = (uint64_t)(uintptr_t)straddle(th,
							y->len > 1 ? y->len / 2 : 0);
					else if (how == 2 && y->len <= (uint64_t)G.pg) {
						/* the unmapped page itself */
						y->addr = (uint64_t)(uintptr_t)
							(th->part + G.pg);
					} else if (load) {
						/* read-only destination */
						y->addr = (uint64_t)(uintptr_t)G.unmapped - G.pg;
						if (y->len > (uint64_t)G.pg)
							y->len = G.pg;
						/* total length changes: recompute */
						di[xi].vlen = 0;
						for (j = 0; j < x->nr_slices; j++)
							di[xi].vlen += s[j].len;
					} else {
						y->addr = bad_ptr(th);
					}
					if (offload)
						exp_err(&e, EFAULT);
					th->badaddr = y->addr;
					di[xi].bad_dst = true;
					di[xi].dst = NULL;
					what(th, " desc%u.slice.addr=%#llx len %llu",
					     xi, (unsigned long long)y->addr,
					     (unsigned long long)y->len);
				}
				break;
			case 10:
				/* the same key twice in an OFFLOAD */
				if (offload && count >= 2) {
					struct kvb_obj_desc *z = &d[(xi + 1) % count];

					z->key = x->key;
					z->key_len = x->key_len;
					di[z - d].key_bad = di[xi].key_bad;
					di[z - d].mutated = true;
					if (z->key_len && z->key_len <= KVB_MAX_KEY_LEN)
						exp_err(&e, EINVAL);
					what(th, " dup-key");
				}
				break;
			case 11:
				/* one value above max_bucket_bytes */
				if (offload && x->nr_slices &&
				    x->nr_slices <= KVB_MAX_SLICES &&
				    x->slices >= (uint64_t)(uintptr_t)th->slices &&
				    x->slices < (uint64_t)(uintptr_t)(th->slices + nsl)) {
					struct kvb_slice *s = (void *)(uintptr_t)x->slices;
					uint64_t cur = 0;

					for (j = 0; j < x->nr_slices; j++)
						cur += s[j].len;
					(void)cur;
					if (chance(th, 50)) {
						s[0].addr = (uint64_t)(uintptr_t)th->valbuf;
						s[0].len = g->max_bytes + 1;
					} else {
						s[0].len = 1ULL << (62 + rnd(th, 2));
						exp_err(&e, EFAULT);
					}
					exp_e2big(&e, KVB_LIMIT_BYTES);
					di[xi].vlen = ~0ULL;
					what(th, " desc%u.value-too-big", xi);
				}
				break;
			case 12:
				/* LOAD with a wrong length: per-key EMSGSIZE */
				if (load && x->nr_slices && x->nr_slices <= KVB_MAX_SLICES &&
				    x->slices >= (uint64_t)(uintptr_t)th->slices &&
				    x->slices < (uint64_t)(uintptr_t)(th->slices + nsl) &&
				    di[xi].dst) {
					struct kvb_slice *s = (void *)(uintptr_t)x->slices;

					if (s[x->nr_slices - 1].len > 1) {
						s[x->nr_slices - 1].len--;
						di[xi].vlen--;
						what(th, " desc%u.len-1", xi);
					}
				}
				break;
			default:
				/*
				 * volatile memory: slices into the remapped
				 * areas. It rewrites the key and slices, so only
				 * in a call that is otherwise valid: an error
				 * expected so far could no longer hold.
				 */
				if (has_sl && !big && di[xi].model < 0 && !was &&
				    !e.nerrs &&
				    x->nr_slices &&
				    x->slices >= (uint64_t)(uintptr_t)th->slices &&
				    x->slices < (uint64_t)(uintptr_t)(th->slices + nsl)) {
					uint32_t slot = rnd(th, VSLOTS);
					uint8_t vk[24];
					uint32_t vkl = snprintf((char *)vk, sizeof(vk),
								"v%d:%u", th->t, slot);
					uint64_t vl = VSLOT_LEN - slot * 1000;
					struct kvb_slice *s;

					if (x->nr_slices > KVB_MAX_SLICES)
						break;
					/* the key becomes v<t>:<slot> */
					if (offload) {
						memcpy(th->keybuf + koff, vk, vkl);
						x->key = (uint64_t)(uintptr_t)(th->keybuf + koff);
						x->key_len = vkl;
						koff += vkl;
						s = (void *)(uintptr_t)x->slices;
						x->nr_slices = 1;
						s[0].addr = (uint64_t)(uintptr_t)
							(th->vin + slot * VSLOT_LEN);
						s[0].len = vl;
						di[xi].vlen = vl;
						exp_err(&e, EFAULT);
						e.maybe_ok = true;
					} else {
						s = (void *)(uintptr_t)x->slices;
						x->nr_slices = 1;
						s[0].addr = (uint64_t)(uintptr_t)
							(th->vout + slot * VSLOT_LEN);
						s[0].len = vl;
						di[xi].vlen = vl;
						di[xi].bad_dst = true;
						di[xi].dst = NULL;
					}
					di[xi].volatile_mem = true;
					what(th, " desc%u.volatile-slot%u", xi, slot);
				}
				break;
			}
		}
	}
	/* recompute the E2BIG(BYTES) condition after mutations */
	if (offload && count >= 1 && count <= KVB_MAX_BATCH) {
		uint64_t sum = 0;
		bool any = false, over = false;

		for (i = 0; i < count; i++) {
			struct kvb_slice *s = (void *)(uintptr_t)d[i].slices;
			uint64_t v = 0;

			if (!d[i].nr_slices || d[i].nr_slices > KVB_MAX_SLICES ||
			    d[i].slices < (uint64_t)(uintptr_t)th->slices ||
			    d[i].slices >= (uint64_t)(uintptr_t)(th->slices + nsl + 1))
				continue;
			for (j = 0; j < d[i].nr_slices; j++) {
				if (v + s[j].len < v)
					over = true;
				v += s[j].len;
			}
			if (v > g->max_bytes)
				over = true;
			if (sum + v < sum)
				over = true;
			sum += v;
			any = true;
		}
		if (any && (over || sum > g->max_bytes))
			exp_e2big(&e, KVB_LIMIT_BYTES);
		/* the same key twice: EINVAL */
		for (i = 0; i < count && count <= 64; i++)
			for (j = i + 1; j < count; j++)
				if (!di[i].key_bad && !di[j].key_bad &&
				    d[i].key_len == d[j].key_len &&
				    d[i].key_len && d[i].key_len <= KVB_MAX_KEY_LEN &&
				    !memcmp((void *)(uintptr_t)d[i].key,
					    (void *)(uintptr_t)d[j].key,
					    d[i].key_len))
					exp_err(&e, EINVAL);
	}
	if (has_sl && count >= 1 && count <= KVB_MAX_BATCH) {
		uint64_t n = 0;

		for (i = 0; i < count; i++)
			if (d[i].nr_slices <= KVB_MAX_SLICES)
				n += d[i].nr_slices;
		if (n > KVB_MAX_BATCH_SLICES)
			exp_e2big(&e, KVB_LIMIT_SLICES);
	}
	(void)l6_keylimit;

	/* descriptor array placement */
	if (count >= 1 && count <= KVB_MAX_BATCH && mut && chance(th, 15)) {
		switch (rnd(th, 3)) {
		case 0:
			bptr = bad_ptr(th);
			bptr_set = true;
			exp_err(&e, EFAULT);
			what(th, " descs=%#llx", (unsigned long long)bptr);
			break;
		case 1:
			/* the last descriptor crosses into the unmapped page */
			if (count <= 8) {
				void *p = straddle(th, count * sizeof(*d) - 8);

				memcpy(p, d, count * sizeof(*d) - 8);
				bptr = (uint64_t)(uintptr_t)p;
				bptr_set = true;
				exp_err(&e, EFAULT);
				what(th, " descs-straddle");
			}
			break;
		default:
			/* read-only: the results cannot be written */
			if (count * sizeof(*d) <= RO_LEN / 2) {
				ro_begin(th);
				memcpy(th->ro, d, count * sizeof(*d));
				ro_end(th);
				bptr = (uint64_t)(uintptr_t)th->ro;
				bptr_set = true;
				dro = true;
				what(th, " descs-readonly");
			}
			break;
		}
	}
	if (!bptr_set)
		bptr = (uint64_t)(uintptr_t)d;

	/* a LOAD with an unwritable destination: EFAULT, or success if that
	 * key's status says nothing was copied (checked below) */
	if (load && count <= KVB_MAX_BATCH) {
		bool any = false;

		for (i = 0; i < count; i++)
			any |= di[i].bad_dst;
		if (any) {
			e.maybe_ok = !e.nerrs;
			exp_err(&e, EFAULT);
		}
	}
	/* offloads from the remapped memory may succeed if it was mapped */
	if (e.maybe_ok && offload) {
		bool other = false;

		/* only when nothing else is wrong */
		for (i = 0; i < (uint32_t)e.nerrs; i++)
			if (e.errs[i] != EFAULT)
				other = true;
		if (other)
			e.maybe_ok = false;
	}
	if (dro) {
		/* nothing can be reported back: never success */
		exp_err(&e, EFAULT);
		e.maybe_ok = false;
	}

	/* the batch structure */
	batch_init(b, (void *)(uintptr_t)bptr, count, flags);
	b->descs = bptr;
	b->limit = 0xdead;
	if (!e.nerrs) {
		e.ok = true;
		/*
		 * A full store evicts instead of failing: ENOSPC is only for
		 * a bucket larger than the store (these are a few MiB); an
		 * OFFLOAD that waited 30 s for room gets EAGAIN, a signal
		 * EINTR. Either leaves the store unchanged.
		 */
		if (offload) {
			exp_rt(&e, EAGAIN);
			/* signals do not reach an io_uring command */
			if (!ur)
				exp_rt(&e, EINTR);
		}
	}
	if (mut && chance(th, 40)) {
		switch (rnd(th, 6)) {
		case 0:
			b->size = chance(th, 50) ? sizeof(*b) + 8 :
				  (chance(th, 50) ? 0 : sizeof(*b) - 8);
			exp_strict(&e, EINVAL, 4);
			what(th, " batch.size=%u", b->size);
			break;
		case 1:
			b->flags |= offload ? 1U << (1 + rnd(th, 31)) :
				    1U << rnd(th, 32);
			exp_strict(&e, EINVAL, 5);
			what(th, " batch.flags=%#x", b->flags);
			break;
		case 2:
			if (chance(th, 50))
				b->reserved0 = 1;
			else
				b->reserved[rnd(th, 3)] = 1ULL << rnd(th, 64);
			exp_strict(&e, EINVAL, 5);
			what(th, " batch.reserved");
			break;
		case 3:
			b = (void *)(uintptr_t)bad_ptr(th);
			bptr_bad = true;
			exp_strict(&e, EFAULT, 3);
			what(th, " batch=%p", (void *)b);
			break;
		case 4: {
			/* the structure crosses into the unmapped page */
			struct kvb_batch *p = straddle(th, sizeof(*b) - 8);

			memcpy(p, b, sizeof(*b) - 8);
			b = p;
			bptr_bad = true;
			exp_strict(&e, EFAULT, 3);
			what(th, " batch-straddle");
			break;
		}
		default:
			/* read-only batch: results cannot be written back */
			ro_begin(th);
			memcpy(th->ro + RO_LEN - 4096, b, sizeof(*b));
			ro_end(th);
			b = (void *)(th->ro + RO_LEN - 4096);
			bro = true;
			exp_err(&e, EFAULT);
			e.ok = false;
			e.maybe_ok = false;
			what(th, " batch-readonly");
			break;
		}
	}

	/*
	 * The command's own fields, checked when it is submitted (after
	 * whether the store is detached), before the batch is read; or a
	 * batch pointer that cannot be read.
	 */
	memset(&uc, 0, sizeof(uc));
	if (ur && chance(th, 15)) {
		switch (rnd(th, 6)) {
		case 0:
			uc.flags = 1U << rnd(th, 32);
			exp_strict(&e, EINVAL, 2);
			what(th, " cmd.flags=%#x", uc.flags);
			break;
		case 1:
			uc.reserved0 = 1U << rnd(th, 32);
			exp_strict(&e, EINVAL, 2);
			what(th, " cmd.reserved0=%#x", uc.reserved0);
			break;
		case 2: {
			int r = rnd(th, 2);

			uc.reserved[r] = 1ULL << rnd(th, 64);
			exp_strict(&e, EINVAL, 2);
			what(th, " cmd.reserved[%d]=%#llx", r,
			     (unsigned long long)uc.reserved[r]);
			break;
		}
		case 3:
			if (!th->ur_fixed)
				break;
			ucf = IORING_URING_CMD_FIXED;
			exp_strict(&e, EINVAL, 2);
			what(th, " IORING_URING_CMD_FIXED");
			break;
		case 4:
			b = (void *)(uintptr_t)bad_ptr(th);
			bptr_bad = true;
			exp_strict(&e, EFAULT, 3);
			what(th, " cmd.batch=%p", (void *)b);
			break;
		default: {
			/*
			 * the structure crosses into the unmapped page (b
			 * may be bad already: bb holds what it holds)
			 */
			size_t n = 1 + rnd(th, sizeof(*b) - 1);
			struct kvb_batch *p = straddle(th, n);

			memcpy(p, &bb, n);
			b = p;
			bptr_bad = true;
			exp_strict(&e, EFAULT, 3);
			what(th, " cmd.batch-straddle(%zu)", n);
			break;
		}
		}
	}
	uc.batch = (uint64_t)(uintptr_t)b;
	if (ur) {
		/* what a command refused before it ran must leave alone */
		if (!bptr_bad)
			bsnap = *b;
		if (!bptr_set && count <= KVB_MAX_BATCH) {
			nsnap = count < ARRAY_LEN(dsnap) ? count :
				ARRAY_LEN(dsnap);
			memcpy(dsnap, d, nsnap * sizeof(*d));
		}
	}

	dead_before = atomic_load(&g->dead);
	if (ur) {
		if (!ur_run(th, UR_MAIN, g->fd, cmd, &uc, ucf, &ret))
			goto out;
	} else {
		ret = counted_ioctl(g->fd, cmd, b);
	}
	if (ur && ret == -ENODEV && !dead_before)
		atomic_fetch_add(&G.ur_enodev_race, 1);
	if (ur && (ret == -ENODEV || (e.strict && ret == -e.strict))) {
		uint32_t nd = count > KVB_MAX_BATCH ? 1 : count, nm = 0;
		int mods[NK];

		/*
		 * Refused, on submission or before the descriptors were read,
		 * or it found the store detached: it did nothing.
		 */
		for (i = 0; i < nd; i++) {
			if (di[i].model >= 0 && nm < NK)
				mods[nm++] = di[i].model;
			if (load && di[i].dst && !big) {
				uint64_t x;

				for (x = 0; x < di[i].vlen; x++)
					if (di[i].dst[x] != 0xa5)
						break;
				if (x < di[i].vlen)
					fail(th, "refused LOAD wrote byte %llu of desc %u's destination",
					     (unsigned long long)x, i);
			}
		}
		ur_untouched(th, g, bptr_bad ? NULL : b, &bsnap, d, dsnap,
			     nsnap, mods, nm);
	}
	if (enodev_check(th, g, dead_before, ret))
		goto out;
	if (ret == -ENOSPC)
		atomic_fetch_add(&G.enospc, 1);
	if (ret == -EAGAIN)
		atomic_fetch_add(&G.eagain, 1);
	if (ret == -EINTR)
		atomic_fetch_add(&G.eintr, 1);
	if (!exp_check(th, &e, ret, (bptr_bad || bro) ? -1 : (long)b->limit)) {
		for (i = 0; ret == 0 && !dro && bptr_set == false &&
			    i < count && i < 8; i++)
			note("  desc %u: key_len %u%s nr_slices %u status %d value_len %llu bucket %llu",
			     i, d[i].key_len, di[i].bad_dst ? " (bad slice)" : "",
			     d[i].nr_slices, d[i].status,
			     (unsigned long long)d[i].value_len,
			     (unsigned long long)d[i].bucket_id);
		if (th->badaddr) {
			uint64_t pa = th->badaddr & ~(uint64_t)(G.pg - 1);
			int r = msync((void *)(uintptr_t)pa, G.pg, MS_ASYNC);

			note("  page %#llx of the bad slice: msync says %s",
			     (unsigned long long)pa,
			     r ? strerror(errno) : "mapped");
		}
		/*
		 * keep the model in step with what the call did (a success
		 * with a batch or descriptors that cannot be read: reported,
		 * and not knowable)
		 */
		if (ret || dro || bptr_bad || count > KVB_MAX_BATCH)
			goto out;
	}
	if (ret == -E2BIG && !bptr_bad && !bro && b->limit == 0xdead)
		fail(th, "E2BIG without limit");
	if (ret || dro)
		goto out;

	/* the call succeeded: check every status against the model */
	{
		uint32_t done = 0;

		for (i = 0; i < count; i++) {
			struct kvb_obj_desc *x = &d[i];
			struct mkey *k = di[i].model >= 0 ? &th->mk[di[i].model] : NULL;

			st = x->status;
			if (!st)
				done++;
			if (offload) {
				if (st != 0 && st != -EEXIST && st != -EBUSY) {
					fail(th, "OFFLOAD desc %u: status %d", i, st);
					continue;
				}
				if (st == -EEXIST && (flags & KVB_OFFLOAD_REPLACE))
					fail(th, "OFFLOAD REPLACE desc %u: EEXIST", i);
				if (st == 0 && (x->bucket_id != b->bucket_id ||
						x->value_len != di[i].vlen))
					fail(th, "OFFLOAD desc %u: bucket %llu/%llu value_len %llu/%llu",
					     i, (unsigned long long)x->bucket_id,
					     (unsigned long long)b->bucket_id,
					     (unsigned long long)x->value_len,
					     (unsigned long long)di[i].vlen);
				if (!k)
					continue;
				if (st == -EBUSY) {
					fail(th, "OFFLOAD: owned key m%d:%d EBUSY with no other writer",
					     th->t, di[i].model);
				} else if (st == -EEXIST) {
					if (k->state == ABSENT)
						fail(th, "OFFLOAD: EEXIST for m%d:%d, absent since call %llu",
						     th->t, di[i].model,
						     (unsigned long long)k->last_call);
					else if (k->state == PRESENT &&
						 (k->vlen != x->value_len ||
						  k->bucket != x->bucket_id))
						fail(th, "OFFLOAD: EEXIST for m%d:%d says len %llu bucket %llu, model %llu %llu",
						     th->t, di[i].model,
						     (unsigned long long)x->value_len,
						     (unsigned long long)x->bucket_id,
						     (unsigned long long)k->vlen,
						     (unsigned long long)k->bucket);
					k->state = PRESENT;
					k->vlen = x->value_len;
					k->bucket = x->bucket_id;
				} else if (st == 0) {
					/*
					 * Stored while the model has it: without
					 * REPLACE only if its bucket was evicted
					 * first (its event must say so); with
					 * REPLACE, the old bucket's eviction may
					 * have come first (then its event names it).
					 */
					if (k->state == PRESENT) {
						k->ghost = k->bucket;
						k->ghost_vlen = k->vlen;
						k->ghost_need = !(flags & KVB_OFFLOAD_REPLACE);
					}
					k->state = PRESENT;
					k->vlen = di[i].vlen;
					k->bucket = x->bucket_id;
					k->last_call = th->calls_done;
				}
			} else if (cmd == KVB_IOC_QUERY || remove) {
				if (st != 0 && st != -ENOENT) {
					fail(th, "desc %u: status %d", i, st);
					continue;
				}
				if (!k)
					continue;
				if (k->state == PRESENT && st == -ENOENT) {
					suspect(k);	/* evicted? */
					continue;
				}
				if (k->state == PRESENT &&
				    (st || k->vlen != x->value_len ||
				     k->bucket != x->bucket_id))
					fail(th, "m%d:%d: status %d len %llu bucket %llu, model: present len %llu bucket %llu (call %llu)",
					     th->t, di[i].model, st,
					     (unsigned long long)x->value_len,
					     (unsigned long long)x->bucket_id,
					     (unsigned long long)k->vlen,
					     (unsigned long long)k->bucket,
					     (unsigned long long)k->last_call);
				else if (k->state == ABSENT && st == 0)
					fail(th, "m%d:%d: found (len %llu bucket %llu), model: absent since call %llu",
					     th->t, di[i].model,
					     (unsigned long long)x->value_len,
					     (unsigned long long)x->bucket_id,
					     (unsigned long long)k->last_call);
				if (st == 0) {
					k->state = remove ? ABSENT : PRESENT;
					k->vlen = x->value_len;
					k->bucket = x->bucket_id;
				} else {
					k->state = ABSENT;
				}
				if (remove)
					k->last_call = th->calls_done;
			} else {	/* LOAD */
				if (st != 0 && st != -ENOENT && st != -EMSGSIZE) {
					fail(th, "LOAD desc %u: status %d", i, st);
					continue;
				}
				if (st == 0 && di[i].bad_dst && !di[i].volatile_mem)
					fail(th, "LOAD desc %u: success into memory that cannot be written", i);
				if (st == -EMSGSIZE && x->value_len == di[i].vlen)
					fail(th, "LOAD desc %u: EMSGSIZE with the right length %llu",
					     i, (unsigned long long)x->value_len);
				if (st == 0 && x->value_len != di[i].vlen)
					fail(th, "LOAD desc %u: value_len %llu, slices %llu",
					     i, (unsigned long long)x->value_len,
					     (unsigned long long)di[i].vlen);
				/* (a bad key: the success is reported) */
				if (st == 0 && di[i].dst && !big &&
				    !di[i].key_bad) {
					long bad = check_value(vseed((void *)(uintptr_t)x->key,
								     x->key_len, di[i].vlen),
							       di[i].dst, di[i].vlen);
					if (bad >= 0)
						fail(th, "LOAD desc %u (key len %u, value len %llu): wrong byte at %ld",
						     i, x->key_len,
						     (unsigned long long)di[i].vlen, bad);
				}
				if (!k)
					continue;
				if (k->state == PRESENT && st == -ENOENT) {
					suspect(k);	/* evicted? */
				} else if (k->state == PRESENT) {
					int want = k->vlen == di[i].vlen ? 0 : -EMSGSIZE;

					if (st != want || x->value_len != k->vlen)
						fail(th, "LOAD m%d:%d: status %d len %llu, model present len %llu",
						     th->t, di[i].model, st,
						     (unsigned long long)x->value_len,
						     (unsigned long long)k->vlen);
				} else if (k->state == ABSENT && st != -ENOENT) {
					fail(th, "LOAD m%d:%d: status %d, model absent since call %llu",
					     th->t, di[i].model, st,
					     (unsigned long long)k->last_call);
				}
				if (k->state == UNKNOWN && st != -EMSGSIZE) {
					k->state = st ? ABSENT : PRESENT;
					k->vlen = x->value_len;
					k->bucket = x->bucket_id;
				}
			}
		}
		if (done != b->nr_done)
			fail(th, "nr_done %u, statuses say %u", b->nr_done, done);
		if (offload) {
			if ((b->bucket_id != 0) != (done != 0))
				fail(th, "OFFLOAD bucket_id %llu with %u keys written",
				     (unsigned long long)b->bucket_id, done);
			if (b->bucket_id) {
				if (b->bucket_id <= th->last_bucket)
					fail(th, "bucket id %llu after %llu",
					     (unsigned long long)b->bucket_id,
					     (unsigned long long)th->last_bucket);
				th->last_bucket = b->bucket_id;
				if (th->nring < RING)
					th->ring[th->nring++] = b->bucket_id;
			}
		}
	}
out:
	(void)used_model;
	for (m = 0; m < NK; m++)
		th->kind[m] = 0;
}

/* ---- io_uring commands refused before the store is looked at ------------ */

/* A cmd_op that is not OFFLOAD, QUERY or LOAD. */
static uint32_t ur_bad_op(struct th *th)
{
	static const uint32_t other[] = {
		KVB_IOC_REMOVE, KVB_IOC_DELETE_BUCKET, KVB_IOC_BUCKET_KEYS,
		KVB_IOC_BUCKET_SCAN, KVB_IOC_STORE_INFO, KVB_IOC_SET_POLICY,
		KVB_IOC_GET_FEATURES, KVB_IOC_ATTACH, KVB_IOC_DETACH,
		KVB_IOC_LIST, KVB_IOC_INFO,
	};
	static const uint32_t ops[] = {
		KVB_IOC_OFFLOAD, KVB_IOC_QUERY, KVB_IOC_LOAD,
	};
	uint32_t op;

	do {
		switch (rnd(th, 5)) {
		case 0: case 1:	/* the other ioctls, REMOVE above all */
			op = chance(th, 30) ? KVB_IOC_REMOVE :
			     other[rnd(th, ARRAY_LEN(other))];
			break;
		case 2:	/* one of the three, wrong size or direction */
			op = ops[rnd(th, 3)] ^ (1U << (16 + rnd(th, 16)));
			break;
		case 3:	/* our magic, another number */
			op = _IOC(rnd(th, 4), KVB_IOC_MAGIC, rnd(th, 256),
				  rnd(th, 2) ? sizeof(struct kvb_batch) :
				  rnd(th, 1 << 14));
			break;
		default:
			op = (uint32_t)splitmix64(&th->rng);
			break;
		}
	} while (op == KVB_IOC_OFFLOAD || op == KVB_IOC_QUERY ||
		 op == KVB_IOC_LOAD);
	return op;
}

/*
 * Commands refused before the store's state is looked at (abi.rst, "What
 * completes how", 1-3), so with the same errno on a detached store: on an
 * IOPOLL ring, or on the control device, EOPNOTSUPP; a cmd_op other than
 * OFFLOAD, QUERY and LOAD, ENOTTY; on a ring of 64-byte SQEs, EINVAL. The
 * batch is a valid REMOVE of owned keys the model has, or OFFLOAD of ones
 * it has not: if the command ran, the store would show it.
 */
static void fz_uring_misc(struct th *th, struct gen *g)
{
	struct kvb_obj_desc *d = th->descs, dsnap[4];
	struct kvb_batch b, bsnap;
	struct kvb_uring_cmd uc;
	int which, want, fd, ret, mods[4];
	uint32_t op, n = 1 + rnd(th, 4), i, j, x, nm = 0;
	bool ctl = false, offl;
	uint64_t voff = 0;

	th->what[0] = 0;
	th->badaddr = 0;
	switch (rnd(th, 10)) {
	case 0: case 1: case 2: case 3:
		which = UR_MAIN;
		op = ur_bad_op(th);
		want = ENOTTY;
		break;
	case 4: case 5:
		which = UR_SQE64;
		if (chance(th, 60)) {
			op = chance(th, 50) ? KVB_IOC_OFFLOAD :
			     (chance(th, 50) ? KVB_IOC_QUERY : KVB_IOC_LOAD);
			want = EINVAL;
		} else {
			op = ur_bad_op(th);
			want = ENOTTY;
		}
		break;
	case 6: case 7:
		which = UR_IOPOLL;
		op = chance(th, 70) ? KVB_IOC_OFFLOAD : ur_bad_op(th);
		want = EOPNOTSUPP;
		break;
	default:
		which = UR_MAIN;
		ctl = true;
		op = chance(th, 70) ? KVB_IOC_OFFLOAD : ur_bad_op(th);
		want = EOPNOTSUPP;
		break;
	}
	if (!ur_ring(th, which))
		return;
	/* what the command would do if it ran */
	offl = op != KVB_IOC_REMOVE && chance(th, 70);
	for (i = 0; i < n; i++) {
		struct mkey *k;
		int m = -1;

		/* owned keys the model knows, absent ones for an OFFLOAD */
		for (j = 0; j < 8 && m < 0; j++) {
			m = rnd(th, NK);
			k = &th->mk[m];
			if (k->state == UNKNOWN ||
			    (k->state == PRESENT) == offl)
				m = -1;
			for (x = 0; m >= 0 && x < nm; x++)
				if (mods[x] == m)
					m = -1;
		}
		if (m < 0)
			break;
		k = &th->mk[m];
		mods[nm++] = m;
		if (offl) {
			uint64_t vlen = 1 + rnd(th, 4096);
			uint8_t *v = th->valbuf + voff;

			fill_value(vseed(k->key, k->klen, vlen), v, vlen);
			kvb_slice_init(&th->slices[i], v, vlen);
			kvb_desc_init(&d[i], k->key, k->klen, &th->slices[i],
				      1);
			voff += (vlen + 7) & ~7ULL;
		} else {
			kvb_desc_init(&d[i], k->key, k->klen, NULL, 0);
		}
	}
	n = nm;
	if (!n)
		return;
	batch_init(&b, d, n, 0);
	memset(&uc, 0, sizeof(uc));
	uc.batch = (uint64_t)(uintptr_t)&b;
	/* fields the checks after these would refuse: these come first */
	if (chance(th, 20) && which != UR_SQE64)
		uc.reserved[rnd(th, 2)] = 1;
	else if (chance(th, 10))
		uc.batch = bad_ptr(th);
	bsnap = b;
	memcpy(dsnap, d, n * sizeof(*d));
	fd = ctl ? G.ctl : g->fd;
	if (ctl)
		atomic_fetch_add(&G.ur_ctl, 1);
	what(th, "io_uring cmd_op %#x (%s) on the %s ring, %s fd (store %u), a %s batch of %u owned keys%s",
	     op, cname[cidx(op)], urname[which], ctl ? "control" : "store",
	     g->id, offl ? "OFFLOAD" : "REMOVE", n,
	     uc.reserved[0] || uc.reserved[1] ? ", cmd.reserved" :
	     uc.batch != (uint64_t)(uintptr_t)&b ? ", bad cmd.batch" : "");
	if (!ur_run(th, which, fd, op, &uc, 0, &ret))
		return;
	if (ret != -want)
		fail(th, "returned %d (%s), abi.rst requires %s%s", ret,
		     ret ? strerror(-ret) : "success", strerror(want),
		     atomic_load(&g->dead) ? " (the store is detached)" : "");
	ur_untouched(th, g, &b, &bsnap, d, dsnap, n, mods, nm);
}

/* ---- DELETE_BUCKET, BUCKET_KEYS, BUCKET_SCAN ---------------------------- */

static void model_bucket_gone(struct th *th, uint64_t id)
{
	int m;

	for (m = 0; m < NK; m++)
		if (th->mk[m].state == PRESENT && th->mk[m].bucket == id) {
			th->mk[m].state = ABSENT;
			th->mk[m].last_call = th->calls_done;
		}
}

static int model_in_bucket(struct th *th, uint64_t id)
{
	int m, n = 0;

	for (m = 0; m < NK; m++)
		if (th->mk[m].state == PRESENT && th->mk[m].bucket == id)
			n++;
	return n;
}

static void ring_drop(struct th *th, unsigned int i)
{
	memmove(&th->ring[i], &th->ring[i + 1],
		(th->nring - i - 1) * sizeof(th->ring[0]));
	th->nring--;
}

static void fz_delete(struct th *th, struct gen *g, bool evict)
{
	struct kvb_delete_bucket a, *p = &a;
	unsigned int ri = 0;
	bool own = false, ro = false;
	int ret, dead_before;
	struct exp e;

	exp_init(&e);
	th->what[0] = 0;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	if (th->nring && (evict || chance(th, 60))) {
		ri = evict ? 0 : rnd(th, th->nring);
		a.bucket_id = th->ring[ri];
		own = true;
		e.ok = true;
		exp_rt(&e, ENOENT);
	} else {
		/* ids nobody can have */
		a.bucket_id = chance(th, 30) ? 0 : (1ULL << 62) + rnd(th, 1000);
		exp_err(&e, ENOENT);
	}
	what(th, "DELETE_BUCKET store %u id %llu", g->id,
	     (unsigned long long)a.bucket_id);
	if (!evict && chance(th, 25)) {
		switch (rnd(th, 5)) {
		case 0:
			a.size += chance(th, 50) ? 8 : -8;
			exp_strict(&e, EINVAL, 4);
			what(th, " size=%u", a.size);
			break;
		case 1:
			a.flags = 1U << rnd(th, 32);
			exp_strict(&e, EINVAL, 5);
			what(th, " flags");
			break;
		case 2:
			if (chance(th, 50))
				a.reserved0 = 1;
			else
				a.reserved[rnd(th, 2)] = 1;
			exp_strict(&e, EINVAL, 5);
			what(th, " reserved");
			break;
		case 3:
			p = chance(th, 50) ? (void *)(uintptr_t)bad_ptr(th) :
			    straddle(th, sizeof(a) - 4);
			if ((void *)p == straddle(th, sizeof(a) - 4))
				memcpy(p, &a, sizeof(a) - 4);
			exp_strict(&e, EFAULT, 3);
			what(th, " arg=%p", (void *)p);
			break;
		default:
			if (!own)
				break;
			ro_begin(th);
			memcpy(th->ro, &a, sizeof(a));
			ro_end(th);
			p = (void *)th->ro;
			ro = true;
			exp_err(&e, EFAULT);
			exp_err(&e, ENOENT);
			what(th, " readonly");
			break;
		}
	}
	dead_before = atomic_load(&g->dead);
	ret = counted_ioctl(g->fd, KVB_IOC_DELETE_BUCKET, p);
	if (enodev_check(th, g, dead_before, ret))
		return;
	if (!exp_check(th, &e, ret, -1))
		return;
	if (!own)
		return;
	if (ro && ret == -EFAULT) {
		/*
		 * The results could not be written back. abi.rst does not say
		 * whether the bucket is then deleted: find out, keep the model
		 * exact, and report it once. A key can also be gone because
		 * its bucket was evicted: then an event says so.
		 */
		struct kvb_obj_desc dq;
		bool probe_gone[NK] = { false };
		int m, gone = 0, had = 0;

		for (m = 0; m < NK; m++) {
			struct mkey *k = &th->mk[m];

			if (k->state != PRESENT || k->bucket != a.bucket_id)
				continue;
			had++;
			kvb_desc_init(&dq, k->key, k->klen, NULL, 0);
			if (st_batch(g->fd, KVB_IOC_QUERY, &dq, 1, 0, NULL) == 0 &&
			    dq.status == -ENOENT)
				probe_gone[m] = true;
		}
		ev_sync(th);
		for (m = 0; m < NK; m++)
			gone += probe_gone[m] && th->mk[m].state == PRESENT;
		if (gone && !atomic_exchange(&G.findings_delete_ro, 1))
			note("finding: DELETE_BUCKET %llu with a read-only argument returned EFAULT but deleted the bucket (%d of %d keys gone)",
			     (unsigned long long)a.bucket_id, gone, had);
		if (gone) {
			model_bucket_gone(th, a.bucket_id);
			ring_drop(th, ri);
		}
		return;
	}
	if (ret == 0) {
		int n = model_in_bucket(th, a.bucket_id);

		if (a.nr_keys < (uint32_t)n)
			fail(th, "DELETE_BUCKET %llu: nr_keys %u, model has %d keys in it",
			     (unsigned long long)a.bucket_id, a.nr_keys, n);
		model_bucket_gone(th, a.bucket_id);
		ring_drop(th, ri);
	} else if (ret == -ENOENT) {
		int m;

		/* owned keys still in it: evicted, its event names them */
		for (m = 0; m < NK; m++)
			if (th->mk[m].state == PRESENT &&
			    th->mk[m].bucket == a.bucket_id)
				suspect(&th->mk[m]);
		ring_drop(th, ri);
	}
}

static void fz_keys(struct th *th, struct gen *g)
{
	struct kvb_bucket_keys a, *p = &a;
	bool own = false, bad = false;
	int ret, dead_before;
	struct exp e;

	exp_init(&e);
	th->what[0] = 0;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.buf = (uint64_t)(uintptr_t)th->outbuf;
	a.buf_len = OUT_LEN;
	if (th->nring && chance(th, 70)) {
		a.bucket_id = th->ring[rnd(th, th->nring)];
		own = true;
	} else if (chance(th, 50)) {
		a.bucket_id = 1 + rnd(th, th->last_bucket + 16);
	} else {
		a.bucket_id = chance(th, 20) ? 0 : ~0ULL - rnd(th, 100);
	}
	e.ok = true;
	exp_rt(&e, ENOENT);
	what(th, "BUCKET_KEYS store %u id %llu", g->id,
	     (unsigned long long)a.bucket_id);
	if (chance(th, 30)) {
		switch (rnd(th, 9)) {
		case 0:
			a.size = chance(th, 50) ? 0 : sizeof(a) + 8;
			exp_strict(&e, EINVAL, 4);
			break;
		case 1:
			a.flags = 1U << rnd(th, 32);
			exp_strict(&e, EINVAL, 5);
			break;
		case 2:
			if (chance(th, 50))
				a.reserved0 = 7;
			else
				a.reserved[rnd(th, 2)] = 7;
			exp_strict(&e, EINVAL, 5);
			break;
		case 3:
			p = (void *)(uintptr_t)bad_ptr(th);
			exp_strict(&e, EFAULT, 3);
			break;
		case 4:	/* ask for the length */
			a.buf = 0;
			a.buf_len = 0;
			exp_rt(&e, ERANGE);
			e.ok = false;
			bad = true;
			break;
		case 5:	/* too small */
			a.buf_len = rnd(th, 40);
			exp_rt(&e, ERANGE);
			bad = true;
			break;
		case 6:	/* unwritable buffer */
			a.buf = chance(th, 50) ? bad_ptr(th) :
				(uint64_t)(uintptr_t)(G.unmapped - G.pg);
			exp_rt(&e, EFAULT);
			e.ok = false;
			bad = true;
			break;
		case 7:	/* buffer crossing into the unmapped page */
			a.buf = (uint64_t)(uintptr_t)straddle(th, 24);
			a.buf_len = 4096;
			exp_rt(&e, EFAULT);
			exp_rt(&e, ERANGE);
			bad = true;
			break;
		default:
			ro_begin(th);
			memcpy(th->ro, &a, sizeof(a));
			ro_end(th);
			p = (void *)th->ro;
			exp_rt(&e, EFAULT);
			e.ok = false;
			bad = true;
			break;
		}
		what(th, " mutated");
	}
	dead_before = atomic_load(&g->dead);
	ret = counted_ioctl(g->fd, KVB_IOC_BUCKET_KEYS, p);
	if (enodev_check(th, g, dead_before, ret))
		return;
	if (!exp_check(th, &e, ret, -1) || p != &a)
		return;
	if (ret == -ERANGE && a.buf_len < KVB_KEY_REC_LEN(1))
		fail(th, "BUCKET_KEYS ERANGE needs %llu bytes",
		     (unsigned long long)a.buf_len);
	if (ret || bad)
		return;
	{
		uint64_t vb = 0;
		long used = check_key_recs(th, th->outbuf, a.buf_len, a.nr_keys,
					   &vb, a.bucket_id, own);

		if (used >= 0 && ((uint64_t)used != a.buf_len || vb != a.value_bytes))
			fail(th, "BUCKET_KEYS: records use %ld of buf_len %llu, value bytes %llu/%llu",
			     used, (unsigned long long)a.buf_len,
			     (unsigned long long)vb,
			     (unsigned long long)a.value_bytes);
		if (own && a.nr_keys < (uint32_t)model_in_bucket(th, a.bucket_id))
			fail(th, "BUCKET_KEYS: %u keys, model has %d owned keys in it",
			     a.nr_keys, model_in_bucket(th, a.bucket_id));
	}
}

static void fz_scan(struct th *th, struct gen *g)
{
	struct kvb_bucket_scan a, *p = &a;
	bool bad = false;
	int ret, dead_before;
	struct exp e;

	exp_init(&e);
	th->what[0] = 0;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.buf = (uint64_t)(uintptr_t)th->outbuf;
	a.buf_len = OUT_LEN;
	a.start_id = chance(th, 30) ? 0 : rnd(th, th->last_bucket + 64);
	switch (rnd(th, 8)) {
	case 0: a.max_buckets = KVB_MAX_BATCH; break;
	case 1: a.max_buckets = KVB_MAX_BATCH - 1; break;
	default: a.max_buckets = 1 + rnd(th, 16); break;
	}
	e.ok = true;
	what(th, "BUCKET_SCAN store %u start %llu max %u", g->id,
	     (unsigned long long)a.start_id, a.max_buckets);
	if (chance(th, 30)) {
		switch (rnd(th, 9)) {
		case 0:
			a.size = sizeof(a) - 8;
			exp_strict(&e, EINVAL, 4);
			break;
		case 1:
			a.flags = 1U << rnd(th, 32);
			exp_strict(&e, EINVAL, 5);
			break;
		case 2:
			a.reserved[rnd(th, 2)] = 1;
			exp_strict(&e, EINVAL, 5);
			break;
		case 3:
			p = chance(th, 50) ? (void *)(uintptr_t)bad_ptr(th) :
			    straddle(th, 16);
			exp_strict(&e, EFAULT, 3);
			break;
		case 4:
			a.max_buckets = chance(th, 50) ? 0 :
				(chance(th, 50) ? KVB_MAX_BATCH + 1 : 0xffffffffU);
			exp_err(&e, EINVAL);
			break;
		case 5:
			a.buf_len = rnd(th, 48);
			exp_rt(&e, ERANGE);
			bad = true;
			break;
		case 6:
			a.buf = chance(th, 50) ? bad_ptr(th) :
				(uint64_t)(uintptr_t)(G.unmapped - G.pg);
			exp_rt(&e, EFAULT);
			bad = true;	/* success: nothing to scan */
			break;
		case 7:
			a.buf = (uint64_t)(uintptr_t)straddle(th, 40);
			a.buf_len = 8192;
			exp_rt(&e, EFAULT);
			exp_rt(&e, ERANGE);
			bad = true;
			break;
		default:
			ro_begin(th);
			memcpy(th->ro, &a, sizeof(a));
			ro_end(th);
			p = (void *)th->ro;
			exp_rt(&e, EFAULT);
			e.ok = false;
			bad = true;
			break;
		}
		what(th, " mutated");
	}
	dead_before = atomic_load(&g->dead);
	ret = counted_ioctl(g->fd, KVB_IOC_BUCKET_SCAN, p);
	if (enodev_check(th, g, dead_before, ret))
		return;
	if (!exp_check(th, &e, ret, -1) || p != &a)
		return;
	if (ret == -ERANGE && a.buf_len < sizeof(struct kvb_bucket_rec))
		fail(th, "BUCKET_SCAN ERANGE needs %llu bytes",
		     (unsigned long long)a.buf_len);
	if (ret)
		return;
	if (bad && a.nr_buckets)
		fail(th, "BUCKET_SCAN wrote %u buckets to memory it cannot write",
		     a.nr_buckets);
	if (bad)
		return;
	{
		uint64_t off = 0, prev = 0;
		uint32_t i;

		if (a.nr_buckets > a.max_buckets)
			fail(th, "BUCKET_SCAN: %u buckets > max %u", a.nr_buckets,
			     a.max_buckets);
		for (i = 0; i < a.nr_buckets; i++) {
			struct kvb_bucket_rec r;
			uint64_t vb;
			long used;
			bool own = false;
			unsigned int x;

			if (off + sizeof(r) > a.buf_len) {
				fail(th, "BUCKET_SCAN: record %u beyond buf_len", i);
				return;
			}
			memcpy(&r, th->outbuf + off, sizeof(r));
			if (r.id < a.start_id || r.id <= prev || r.reserved0 ||
			    r.rec_len < sizeof(r) ||
			    off + r.rec_len > a.buf_len) {
				fail(th, "BUCKET_SCAN: bad record %u: id %llu (start %llu prev %llu) nr_keys %u rec_len %llu",
				     i, (unsigned long long)r.id,
				     (unsigned long long)a.start_id,
				     (unsigned long long)prev, r.nr_keys,
				     (unsigned long long)r.rec_len);
				return;
			}
			for (x = 0; x < th->nring; x++)
				if (th->ring[x] == r.id)
					own = true;
			used = check_key_recs(th, th->outbuf + off + sizeof(r),
					      r.rec_len - sizeof(r), r.nr_keys, &vb,
					      r.id, own);
			if (used < 0)
				return;
			if ((uint64_t)used + sizeof(r) != r.rec_len ||
			    vb != r.value_bytes)
				fail(th, "BUCKET_SCAN: bucket %llu: rec_len %llu, records %ld, value bytes %llu/%llu",
				     (unsigned long long)r.id,
				     (unsigned long long)r.rec_len, used,
				     (unsigned long long)vb,
				     (unsigned long long)r.value_bytes);
			prev = r.id;
			off += r.rec_len;
		}
		if (off != a.buf_len)
			fail(th, "BUCKET_SCAN: records use %llu, buf_len %llu",
			     (unsigned long long)off,
			     (unsigned long long)a.buf_len);
		if (a.next_id && a.next_id <= prev)
			fail(th, "BUCKET_SCAN: next_id %llu <= last %llu",
			     (unsigned long long)a.next_id,
			     (unsigned long long)prev);
	}
}

/* STORE_INFO, GET_FEATURES (both devices), INFO, LIST, random ioctls */
static void fz_small(struct th *th, struct gen *g)
{
	union {
		struct kvb_store_info info;
		struct kvb_features f;
		struct kvb_list l;
		uint8_t raw[1024];
	} u;
	void *p = &u;
	uint32_t ids[8];
	unsigned long cmd;
	int which = rnd(th, 6), ret, fd, dead_before = 0;
	bool store = true, ro = false;
	struct exp e;

	exp_init(&e);
	th->what[0] = 0;
	memset(&u, 0, sizeof(u));
	e.ok = true;
	switch (which) {
	case 0:
		cmd = KVB_IOC_STORE_INFO;
		u.info.size = sizeof(u.info);
		break;
	case 1:
		cmd = KVB_IOC_GET_FEATURES;
		u.f.size = sizeof(u.f);
		store = chance(th, 50);
		if (chance(th, 20))
			u.f.reserved[rnd(th, 4)] = 5;	/* only size is read */
		break;
	case 2:
		cmd = KVB_IOC_INFO;
		store = false;
		u.info.size = sizeof(u.info);
		if (chance(th, 50)) {
			u.info.id = g->id;
			exp_rt(&e, ENOENT);
		} else {
			u.info.id = 0x80000000U + rnd(th, 1000);
			e.ok = false;
			exp_err(&e, ENOENT);
		}
		break;
	case 3:
		cmd = KVB_IOC_LIST;
		store = false;
		u.l.size = sizeof(u.l);
		if (chance(th, 30)) {
			u.l.capacity = 0;
			u.l.ids = 0;
		} else {
			u.l.capacity = 1 + rnd(th, 8);
			u.l.ids = (uint64_t)(uintptr_t)ids;
		}
		if (chance(th, 15)) {
			u.l.ids = bad_ptr(th);
			u.l.capacity = 1 + rnd(th, 100);
			exp_rt(&e, EFAULT);	/* success if no store */
		}
		if (chance(th, 10)) {
			if (chance(th, 50))
				u.l.reserved0 = 1;
			else
				u.l.reserved[rnd(th, 2)] = 1;
			exp_strict(&e, EINVAL, 5);
		}
		break;
	default: {
		/* random ioctl numbers: ENOTTY */
		static const unsigned long other_dev[] = {
			KVB_IOC_ATTACH, KVB_IOC_DETACH, KVB_IOC_LIST,
			KVB_IOC_INFO, KVB_IOC_OFFLOAD, KVB_IOC_QUERY,
			KVB_IOC_LOAD, KVB_IOC_REMOVE, KVB_IOC_DELETE_BUCKET,
			KVB_IOC_BUCKET_KEYS, KVB_IOC_BUCKET_SCAN,
			KVB_IOC_STORE_INFO, KVB_IOC_SET_POLICY,
		};
		unsigned int type;

		store = chance(th, 60);
		switch (rnd(th, 4)) {
		case 0:	/* our magic, unknown numbers (0x18: SET_POLICY) */
			cmd = _IOC(rnd(th, 4), KVB_IOC_MAGIC,
				   0x19 + rnd(th, 0xe7), rnd(th, 512));
			break;
		case 1:	/* a known number with the wrong size or direction */
			cmd = other_dev[rnd(th, ARRAY_LEN(other_dev))];
			cmd ^= chance(th, 50) ? (1UL << (16 + rnd(th, 14))) :
			       (1UL << (30 + rnd(th, 2)));
			break;
		case 2:	/* the other device's ioctls */
			cmd = other_dev[rnd(th, ARRAY_LEN(other_dev))];
			if (store && cmd != KVB_IOC_ATTACH &&
			    cmd != KVB_IOC_DETACH && cmd != KVB_IOC_LIST &&
			    cmd != KVB_IOC_INFO)
				cmd = KVB_IOC_INFO;
			if (!store && (cmd == KVB_IOC_ATTACH ||
				       cmd == KVB_IOC_DETACH ||
				       cmd == KVB_IOC_LIST ||
				       cmd == KVB_IOC_INFO))
				cmd = KVB_IOC_OFFLOAD;
			break;
		default:
			/* anything but the types the VFS handles itself */
			do {
				cmd = (unsigned long)(uint32_t)splitmix64(&th->rng);
				type = (cmd >> 8) & 0xff;
			} while (type == 0 || type == 'T' || type == 'X' ||
				 type == 'f' || type == 0x94 ||
				 type == KVB_IOC_MAGIC);
			break;
		}
		exp_strict(&e, ENOTTY, 1);
		fd = store ? g->fd : G.ctl;
		th->what[0] = 0;
		what(th, "ioctl %#lx on %s", cmd, store ? "store" : "control");
		atomic_fetch_add(&G.ncall[C_RANDOM], 1);
		ret = xioctl(fd, cmd, chance(th, 50) ? (void *)&u :
			     (void *)(uintptr_t)bad_ptr(th));
		exp_check(th, &e, ret, -1);
		return;
	}
	}
	what(th, "%s on %s (store %u)", cname[cidx(cmd)],
	     store ? "store" : "control", g->id);
	if (chance(th, 25)) {
		switch (rnd(th, 4)) {
		case 0:
			u.info.size = chance(th, 50) ? 0 : u.info.size + 8;
			exp_strict(&e, EINVAL, 4);
			what(th, " size=%u", u.info.size);
			break;
		case 1:
			p = (void *)(uintptr_t)bad_ptr(th);
			exp_strict(&e, EFAULT, 3);
			what(th, " arg=%p", p);
			break;
		case 2:
			p = straddle(th, 8);
			memcpy(p, &u, 8);
			exp_strict(&e, EFAULT, 3);
			what(th, " arg-straddle");
			break;
		default:
			ro_begin(th);
			memcpy(th->ro, &u, sizeof(u));
			ro_end(th);
			p = th->ro;
			ro = true;
			exp_rt(&e, EFAULT);
			e.ok = false;
			what(th, " readonly");
			break;
		}
	}
	fd = store ? g->fd : G.ctl;
	if (store)
		dead_before = atomic_load(&g->dead);
	ret = counted_ioctl(fd, cmd, p);
	if (store && enodev_check(th, g, dead_before, ret))
		return;
	if (cmd == KVB_IOC_LIST && ro && ret == 0 && u.l.capacity) {
		/* count must be written: success into read-only memory */
		fail(th, "LIST succeeded with a read-only argument");
		return;
	}
	if (!exp_check(th, &e, ret, -1) || ret || p != &u)
		return;
	if (cmd == KVB_IOC_GET_FEATURES &&
	    (u.f.abi_version != KVB_ABI_VERSION ||
	     u.f.max_key_len != KVB_MAX_KEY_LEN ||
	     u.f.max_slices != KVB_MAX_SLICES ||
	     u.f.max_batch != KVB_MAX_BATCH ||
	     u.f.max_keys_per_bucket != KVB_MAX_KEYS_PER_BUCKET ||
	     u.f.max_bucket_bytes != KVB_MAX_BUCKET_BYTES ||
	     u.f.size != sizeof(u.f) || u.f.reserved[0] || u.f.reserved[1] ||
	     u.f.reserved[2] || u.f.reserved[3]))
		fail(th, "GET_FEATURES: wrong contents");
	if (cmd == KVB_IOC_STORE_INFO &&
	    (u.info.id != g->id || u.info.max_keys_per_bucket != g->max_keys ||
	     u.info.max_bucket_bytes != g->max_bytes ||
	     u.info.used_bytes + u.info.free_bytes != u.info.capacity_bytes))
		fail(th, "STORE_INFO: id %u keys %u bytes %llu used+free %llu capacity %llu",
		     u.info.id, u.info.max_keys_per_bucket,
		     (unsigned long long)u.info.max_bucket_bytes,
		     (unsigned long long)(u.info.used_bytes + u.info.free_bytes),
		     (unsigned long long)u.info.capacity_bytes);
	/* what is in force, read at once: a combination SET_POLICY allows */
	if ((cmd == KVB_IOC_STORE_INFO || cmd == KVB_IOC_INFO) &&
	    (u.info.policy < KVB_POLICY_FIFO ||
	     u.info.policy > KVB_POLICY_LFU || !u.info.low_watermark ||
	     u.info.low_watermark >= u.info.high_watermark ||
	     u.info.high_watermark > 100))
		fail(th, "%s: policy %u watermarks %u/%u", cname[cidx(cmd)],
		     u.info.policy, u.info.high_watermark,
		     u.info.low_watermark);
	if (cmd == KVB_IOC_LIST) {
		uint32_t i;

		for (i = 1; i < u.l.count && i < u.l.capacity && u.l.ids; i++)
			if (ids[i] <= ids[i - 1])
				fail(th, "LIST: ids not increasing");
	}
}

/* ATTACH and DETACH with arguments that must not attach or detach */
static void fz_ctl_bad(struct th *th, struct gen *g)
{
	static const char nonexist[] = "/nonexistent/kvb-fuzz-device";
	struct kvb_attach a;
	struct kvb_detach dt;
	void *p;
	int ret;
	struct exp e;

	exp_init(&e);
	th->what[0] = 0;
	if (chance(th, 50)) {
		memset(&dt, 0, sizeof(dt));
		dt.size = sizeof(dt);
		dt.id = g->id;	/* the real store: must never be detached */
		p = &dt;
		switch (rnd(th, 5)) {
		case 0:
			dt.size = chance(th, 50) ? 0 : sizeof(dt) + 8;
			exp_strict(&e, EINVAL, 4);
			break;
		case 1:
			dt.flags = 1U << rnd(th, 32);
			exp_strict(&e, EINVAL, 5);
			break;
		case 2:
			if (chance(th, 50))
				dt.reserved0 = 1;
			else
				dt.reserved[rnd(th, 2)] = 1;
			exp_strict(&e, EINVAL, 5);
			break;
		case 3:
			p = chance(th, 50) ? (void *)(uintptr_t)bad_ptr(th) :
			    straddle(th, 8);
			exp_strict(&e, EFAULT, 3);
			break;
		default:
			dt.id = 0x80000000U + rnd(th, 0x7fffffff);
			exp_err(&e, ENOENT);
			break;
		}
		what(th, "DETACH id %u (mutated)", dt.id);
		ret = counted_ioctl(G.ctl, KVB_IOC_DETACH, p);
		exp_check(th, &e, ret, -1);
		return;
	}

	attach_init(&a, nonexist, 0);
	p = &a;
	exp_err(&e, ENOENT);
	switch (rnd(th, 12)) {
	case 0:
		a.size = chance(th, 50) ? sizeof(a) - 8 : 0;
		exp_strict(&e, EINVAL, 4);
		break;
	case 1:
		a.flags = 1U << (3 + rnd(th, 29));
		exp_strict(&e, EINVAL, 5);
		break;
	case 2:
		/*
		 * Policy and watermarks are the ioctl's own checks (6), like
		 * the path's ENOENT: either errno; reserved words are 5.
		 */
		switch (rnd(th, 6)) {
		case 0:
			a.policy = KVB_POLICY_LFU + 1 + rnd(th, 100);
			exp_err(&e, EINVAL);
			break;
		case 1:
			a.high_watermark = 101 + rnd(th, 100);
			exp_err(&e, EINVAL);
			break;
		case 2:
			a.low_watermark = 100 + rnd(th, 100);
			exp_err(&e, EINVAL);
			break;
		case 3:	/* low >= high, defaults included */
			if (chance(th, 50)) {
				a.high_watermark = 1 + rnd(th, KVB_DEFAULT_LOW_WATERMARK);
			} else {
				a.high_watermark = 1 + rnd(th, 99);
				a.low_watermark = a.high_watermark +
					rnd(th, 100 - a.high_watermark);
			}
			exp_err(&e, EINVAL);
			break;
		case 4:
			a.low_watermark = KVB_DEFAULT_HIGH_WATERMARK +
					  rnd(th, 100 - KVB_DEFAULT_HIGH_WATERMARK);
			exp_err(&e, EINVAL);
			break;
		default:
			a.reserved[rnd(th, 3)] = 1;
			exp_strict(&e, EINVAL, 5);
			break;
		}
		break;
	case 3:
		p = chance(th, 50) ? (void *)(uintptr_t)bad_ptr(th) :
		    straddle(th, 24);
		exp_strict(&e, EFAULT, 3);
		break;
	case 4:
		a.path = chance(th, 50) ? bad_ptr(th) :
			 (uint64_t)(uintptr_t)straddle(th, 5);
		if (a.path == (uint64_t)(uintptr_t)straddle(th, 5))
			memcpy(straddle(th, 5), "/dev/", 5);	/* no NUL */
		e.nerrs = 0;
		exp_err(&e, EFAULT);
		break;
	case 5:
		a.path = (uint64_t)(uintptr_t)"";
		e.nerrs = 0;
		exp_err(&e, EINVAL);
		break;
	case 6:
		a.path = (uint64_t)(uintptr_t)(chance(th, 50) ? "/dev/null" : "/");
		e.nerrs = 0;
		exp_err(&e, ENOTBLK);
		break;
	case 7: {
		static char longp[8192];

		if (!longp[0]) {
			memset(longp, 'a', sizeof(longp) - 1);
			longp[0] = '/';
		}
		a.path = (uint64_t)(uintptr_t)longp;
		e.nerrs = 0;
		exp_err(&e, ENAMETOOLONG);
		break;
	}
	case 8:
		a.max_keys_per_bucket = KVB_MAX_KEYS_PER_BUCKET + 1 + rnd(th, 10);
		exp_err(&e, EINVAL);
		break;
	case 9:
		a.max_bucket_bytes = KVB_MAX_BUCKET_BYTES + 1 + rnd(th, 10);
		exp_err(&e, EINVAL);
		break;
	case 10:
		a.chunk_size = 4096;	/* without FORMAT */
		exp_err(&e, EINVAL);
		break;
	default:
		a.flags = KVB_ATTACH_FORMAT;
		a.chunk_size = chance(th, 50) ? 3000 : (128U << 20);
		exp_err(&e, EINVAL);
		break;
	}
	what(th, "ATTACH path %#llx flags %#x (must not attach)",
	     (unsigned long long)a.path, a.flags);
	ret = counted_ioctl(G.ctl, KVB_IOC_ATTACH, p);
	if (ret == 0) {
		fail(th, "ATTACH succeeded (id %u); detaching it", a.id);
		ctl_detach(G.ctl, a.id);
		return;
	}
	exp_check(th, &e, ret, -1);
}

/* ---- the remapper and the reattacher ------------------------------------ */

static void *remap_thread(void *arg)
{
	size_t half = G.varea_len;
	uint64_t n = 0;

	(void)arg;
	while (!atomic_load(&G.stop)) {
		void *p, *q;

		sem_wait(&G.remap_sem);
		pthread_mutex_lock(&G.map_lock);
		/* unmap both areas (or the second half of them), then map again */
		if (n & 1) {
			munmap(G.vin_area, half);
			munmap(G.vout_area, half);
		} else {
			munmap(G.vin_area + half / 2, half / 2);
			munmap(G.vout_area + half / 2, half / 2);
		}
		/* let the callers run into the hole */
		sched_yield();
		sched_yield();
		p = mmap(G.vin_area, half, PROT_READ,
			 MAP_SHARED | MAP_FIXED_NOREPLACE, G.vin_fd, 0);
		q = mmap(G.vout_area, half, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED_NOREPLACE, G.vout_fd, 0);
		if (p != G.vin_area || q != G.vout_area) {
			/* n & 1 == 0: the first half was still mapped */
			if (!(n & 1) && p == MAP_FAILED && q == MAP_FAILED) {
				p = mmap(G.vin_area + half / 2, half / 2, PROT_READ,
					 MAP_SHARED | MAP_FIXED_NOREPLACE,
					 G.vin_fd, half / 2);
				q = mmap(G.vout_area + half / 2, half / 2,
					 PROT_READ | PROT_WRITE,
					 MAP_SHARED | MAP_FIXED_NOREPLACE,
					 G.vout_fd, half / 2);
				if (p == G.vin_area + half / 2 &&
				    q == G.vout_area + half / 2)
					goto ok;
			}
			printf("not ok 1 fuzz # remapping the test memory failed (%p %p)\n",
			       p, q);
			fflush(stdout);
			_exit(1);
		}
ok:
		pthread_mutex_unlock(&G.map_lock);
		atomic_fetch_add(&G.remaps, 1);
		n++;
	}
	return NULL;
}

/*
 * Watermarks: the usual ones, and (the fuzzer keeps a few percent of
 * the store in use) low enough that it evicts.
 */
static void pick_wm(uint64_t *rng, uint32_t *high, uint32_t *low)
{
	static const uint32_t highs[] = { 100, 90, 80, 30, 10, 5, 3, 2, 2, 2 };
	uint32_t span;

	*high = highs[splitmix64(rng) % ARRAY_LEN(highs)];
	span = *high - 1 < 30 ? *high - 1 : 30;
	*low = *high - 1 - (span ? splitmix64(rng) % span : 0);
}

static int open_events(uint32_t id)
{
	char path[64];

	store_path(id, path, sizeof(path));
	return open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
}

/*
 * Attach with a random policy and a high watermark of 100 %, so that
 * nothing is evicted before the event fds exist; then, unless frozen (a
 * verification), set watermarks at which it evicts. G.pol_lock.
 */
static struct gen *attach_gen(uint32_t flags, uint32_t mk, uint64_t mb,
			      bool frozen)
{
	struct gen *g = calloc(1, sizeof(*g));
	struct kvb_store_info info;
	struct kvb_attach a;
	int ret;

	attach_init(&a, G.dev, flags);
	a.max_keys_per_bucket = mk;
	a.max_bucket_bytes = mb;
	a.chunk_size = flags & KVB_ATTACH_FORMAT ? FZ_CHUNK : 0;
	a.policy = splitmix64(&G.rng_r) % 4;	/* 0: FIFO */
	a.high_watermark = 100;
	a.low_watermark = 99;
	ret = counted_ioctl(G.ctl, KVB_IOC_ATTACH, &a);
	g->id = a.id;
	if (ret) {
		fail(NULL, "ATTACH %s flags %#x keys %u bytes %llu policy %u: %s",
		     G.dev, flags, mk, (unsigned long long)mb, a.policy,
		     strerror(-ret));
		free(g);
		return NULL;
	}
	g->fd = store_open(g->id);
	g->ev_fd = open_events(g->id);
	g->lag_fd = open_events(g->id);
	if (g->fd < 0 || g->ev_fd < 0 || g->lag_fd < 0) {
		fail(NULL, "open /dev/kvbucket%u: %s", g->id, strerror(errno));
		free(g);
		return NULL;
	}
	g->ev_seq = g->lag_seq = 1;
	g->pol = a.policy ? a.policy : KVB_POLICY_FIFO;
	g->hi = 100;
	g->lo = 99;
	g->evq = 16ULL << 20;
	atomic_store(&g->polmask, 1U << g->pol);
	g->max_keys = mk ? mk : FZ_MAX_KEYS;
	g->max_bytes = mb ? mb : FZ_MAX_BYTES;
	g->extra_fd = -1;
	ret = st_info(g->fd, &info);
	if (ret || info.max_keys_per_bucket != g->max_keys ||
	    info.max_bucket_bytes != g->max_bytes || info.nr_damaged ||
	    info.nr_torn || info.policy != g->pol ||
	    info.high_watermark != 100 || info.low_watermark != 99 ||
	    info.nr_evicted)
		fail(NULL, "STORE_INFO after attach: %d keys %u bytes %llu damaged %llu torn %llu policy %u %u/%u evicted %llu",
		     ret, info.max_keys_per_bucket,
		     (unsigned long long)info.max_bucket_bytes,
		     (unsigned long long)info.nr_damaged,
		     (unsigned long long)info.nr_torn, info.policy,
		     info.high_watermark, info.low_watermark,
		     (unsigned long long)info.nr_evicted);
	if (!frozen) {
		struct kvb_policy p = { .size = sizeof(p) };

		pick_wm(&G.rng_r, &p.high_watermark, &p.low_watermark);
		ret = counted_ioctl(g->fd, KVB_IOC_SET_POLICY, &p);
		if (ret || p.policy != g->pol)
			fail(NULL, "SET_POLICY %u/%u after attach: %d, policy %u",
			     p.high_watermark, p.low_watermark, ret, p.policy);
		if (!ret) {
			g->hi = p.high_watermark;
			g->lo = p.low_watermark;
		}
	}
	return g;
}

/* g was detached: its events to the end of file, both readers. */
static void ev_finish(struct gen *g)
{
	pthread_mutex_lock(&G.ev_lock);
	ev_read(g, true);
	lag_read(g, true);
	if (g->lag_seq != g->ev_seq)
		fail(NULL, "store %u: the lagging reader ended at seq %llu, the model's at %llu",
		     g->id, (unsigned long long)g->lag_seq,
		     (unsigned long long)g->ev_seq);
	close(g->ev_fd);
	close(g->lag_fd);
	g->ev_fd = g->lag_fd = -1;
	free(g->log);
	g->log = NULL;
	g->nlog = g->caplog = 0;
	if (G.ev_gen == g)
		G.ev_gen = NULL;
	pthread_mutex_unlock(&G.ev_lock);
}

static void ev_start(struct gen *g)
{
	pthread_mutex_lock(&G.ev_lock);
	G.ev_gen = g;
	pthread_mutex_unlock(&G.ev_lock);
}

static void publish(struct gen *g)
{
	pthread_mutex_lock(&G.gen_lock);
	G.cur = g;
	if (G.ngens < (int)ARRAY_LEN(G.gens))
		G.gens[G.ngens++] = g;
	pthread_cond_broadcast(&G.gen_cond);
	pthread_mutex_unlock(&G.gen_lock);
}

static int detach_gen(struct gen *g)
{
	struct kvb_store_info info;
	int ret;

	atomic_store(&g->detaching, 1);
	ret = ctl_detach(G.ctl, g->id);
	atomic_store(&g->dead, 1);
	if (ret) {
		fail(NULL, "DETACH %u: %s", g->id, strerror(-ret));
		return ret;
	}
	ret = st_info(g->fd, &info);
	if (ret != -ENODEV)
		fail(NULL, "STORE_INFO on detached store %u: %d, not ENODEV",
		     g->id, ret);
	ret = ctl_info(G.ctl, g->id, &info);
	if (ret != -ENOENT)
		fail(NULL, "INFO of detached store %u: %d, not ENOENT", g->id,
		     ret);
	return 0;
}

/*
 * io_uring commands in flight at a detach: before each live detach the
 * reattacher submits UB_CMDS commands on the store and waits for none
 * (OFFLOADs of new keys "z:<n>", QUERYs and LOADs of the previous burst's
 * keys), then detaches. Each must complete as the ioctl would have at the
 * same moment: with its real result (the detach waited for it), or with
 * ENODEV having done nothing; one submitted after the detach with ENODEV.
 */
#define UB_CMDS		8
#define UB_KEYS		2	/* keys per command */
#define UB_VMAX		8192

struct ubkey {
	uint64_t no;		/* the key is "z:<no>" */
	uint64_t len;		/* its value's length */
	bool stored;		/* its OFFLOAD succeeded */
};

struct ubcmd {
	uint32_t op, n;
	struct kvb_batch b, bsnap;
	struct kvb_obj_desc d[UB_KEYS], dsnap[UB_KEYS];
	struct kvb_slice s[UB_KEYS];
	struct ubkey *k[UB_KEYS];
	char kb[UB_KEYS][24];
	uint8_t buf[UB_KEYS][UB_VMAX];
};

static struct {
	struct io_uring ring;	/* set up before the fuzzer makes holes */
	bool ok;
	uint64_t rng, next;
	struct ubcmd c[UB_CMDS];
	/* keys of the previous burst and of this one */
	struct ubkey old[UB_CMDS * UB_KEYS], cur[UB_CMDS * UB_KEYS];
	unsigned int nold, ncur;
} UB;

static uint64_t ub_rnd(uint64_t n)
{
	return splitmix64(&UB.rng) % n;
}

static void ub_submit(struct gen *g)
{
	unsigned int i, j;
	int ret;

	if (!UB.ok)
		return;
	memcpy(UB.old, UB.cur, sizeof(UB.old));
	UB.nold = UB.ncur;
	UB.ncur = 0;
	for (i = 0; i < UB_CMDS; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&UB.ring);
		struct ubcmd *c = &UB.c[i];
		struct kvb_uring_cmd uc = { .batch = (uintptr_t)&c->b };
		unsigned int r = ub_rnd(3);

		if (!sqe) {
			fail(NULL, "io_uring: no free SQE before a detach");
			UB.ok = false;
			return;
		}
		c->op = !UB.nold || !r ? KVB_IOC_OFFLOAD :
			r == 1 ? KVB_IOC_QUERY : KVB_IOC_LOAD;
		c->n = 1 + ub_rnd(UB_KEYS);
		/* within the limits of this attachment: no E2BIG */
		if (c->op == KVB_IOC_OFFLOAD && c->n > g->max_keys)
			c->n = g->max_keys;
		for (j = 0; j < c->n; j++) {
			struct ubkey *k;
			uint32_t klen;

			if (c->op == KVB_IOC_OFFLOAD) {
				k = &UB.cur[UB.ncur++];
				k->no = UB.next++;
				k->len = g->max_bytes / c->n;
				k->len = 1 + ub_rnd(k->len < UB_VMAX ? k->len :
						    UB_VMAX);
				k->stored = false;
			} else {
				k = &UB.old[ub_rnd(UB.nold)];
				if (j && k == c->k[0]) {
					c->n = 1;
					break;
				}
			}
			c->k[j] = k;
			klen = snprintf(c->kb[j], sizeof(c->kb[j]), "z:%llu",
					(unsigned long long)k->no);
			if (c->op == KVB_IOC_QUERY) {
				kvb_desc_init(&c->d[j], c->kb[j], klen, NULL,
					      0);
				continue;
			}
			if (c->op == KVB_IOC_OFFLOAD)
				fill_value(vseed(c->kb[j], klen, k->len),
					   c->buf[j], k->len);
			else
				memset(c->buf[j], 0xa5, k->len);
			kvb_slice_init(&c->s[j], c->buf[j], k->len);
			kvb_desc_init(&c->d[j], c->kb[j], klen, &c->s[j], 1);
		}
		batch_init(&c->b, c->d, c->n, 0);
		c->bsnap = c->b;
		memcpy(c->dsnap, c->d, sizeof(c->d));
		memset(sqe, 0, 2 * sizeof(*sqe));
		sqe->opcode = IORING_OP_URING_CMD;
		sqe->fd = g->fd;
		sqe->cmd_op = c->op;
		sqe->user_data = i;
		if (!ub_rnd(3))
			sqe->flags |= IOSQE_ASYNC;
		memcpy(sqe->cmd, &uc, sizeof(uc));
		atomic_fetch_add(&G.ucall[cidx(c->op)], 1);
		atomic_fetch_add(&G.ur_ring[UR_MAIN], 1);
	}
	ret = io_uring_submit(&UB.ring);
	if (ret != UB_CMDS) {
		fail(NULL, "io_uring_submit() of %u commands before a detach: %d",
		     UB_CMDS, ret);
		UB.ok = false;	/* what is in flight is unknown */
	}
}

/*
 * The result of command c, on store g: completed before its detach
 * began (before), or with the detach racing it.
 */
static void ub_check(struct gen *g, struct ubcmd *c, int res, bool before)
{
	const char *op = cname[cidx(c->op)];
	uint32_t j, done = 0;

	atomic_fetch_add(&G.ures[res <= 0 && res > -UR_NRES ? -res : UR_NRES],
			 1);
	if (before)
		G.ub_before++;
	else if (res == -ENODEV)
		G.ub_enodev++;
	else
		G.ub_done++;
	if ((res == -ENODEV && !before) ||
	    (res == -EAGAIN && c->op == KVB_IOC_OFFLOAD)) {
		if (res == -ENODEV)
			atomic_fetch_add(&G.ur_enodev_race, 1);
		atomic_fetch_add(&G.ur_untouched, 1);
		if (memcmp(&c->b, &c->bsnap, sizeof(c->b)) ||
		    memcmp(c->d, c->dsnap, sizeof(c->d)))
			fail(NULL, "io_uring %s in flight at the detach of store %u: %s, but its batch or descriptors changed",
			     op, g->id, strerror(-res));
		return;
	}
	if (res) {
		fail(NULL, "io_uring %s %s the detach of store %u: %d (%s), the ioctl gives its result%s",
		     op, before ? "completed before" : "in flight at", g->id,
		     res, strerror(-res), before ? "" : " or ENODEV");
		return;
	}
	for (j = 0; j < c->n; j++) {
		struct kvb_obj_desc *d = &c->d[j];
		struct ubkey *k = c->k[j];
		int st = d->status;

		done += !st;
		if (c->op == KVB_IOC_OFFLOAD) {
			if (st || d->value_len != k->len ||
			    d->bucket_id != c->b.bucket_id || !d->bucket_id)
				fail(NULL, "io_uring OFFLOAD at a detach: %s status %d len %llu/%llu bucket %llu/%llu",
				     c->kb[j], st,
				     (unsigned long long)d->value_len,
				     (unsigned long long)k->len,
				     (unsigned long long)d->bucket_id,
				     (unsigned long long)c->b.bucket_id);
			k->stored = !st;
			continue;
		}
		/* gone: evicted (its OFFLOAD did succeed) */
		if (st == -ENOENT)
			continue;
		if (st || !k->stored || d->value_len != k->len) {
			fail(NULL, "io_uring %s at a detach: %s status %d len %llu, it was %s with %llu bytes",
			     op, c->kb[j], st,
			     (unsigned long long)d->value_len,
			     k->stored ? "stored" : "never stored",
			     (unsigned long long)k->len);
			continue;
		}
		if (c->op == KVB_IOC_LOAD) {
			uint64_t seed = vseed(c->kb[j], d->key_len, k->len);
			long bad = check_value(seed, c->buf[j], k->len);

			if (bad >= 0)
				fail(NULL, "io_uring LOAD at a detach: %s: wrong byte at %ld of %llu",
				     c->kb[j], bad, (unsigned long long)k->len);
		}
	}
	if (c->b.nr_done != done)
		fail(NULL, "io_uring %s at a detach: nr_done %u, statuses say %u",
		     op, c->b.nr_done, done);
}

/*
 * Reap n commands of the burst on g: before its detach (the first few,
 * so that the detach finds some running), or after it.
 */
static void ub_reap(struct gen *g, unsigned int n, bool before)
{
	struct io_uring_cqe *cqe;
	int ret;

	while (UB.ok && n--) {
		do
			ret = io_uring_wait_cqe(&UB.ring, &cqe);
		while (ret == -EINTR);
		if (ret || cqe->user_data >= UB_CMDS) {
			fail(NULL, "io_uring_wait_cqe() at a detach: %d", ret);
			UB.ok = false;
			return;
		}
		ub_check(g, &UB.c[cqe->user_data], cqe->res, before);
		io_uring_cqe_seen(&UB.ring, cqe);
	}
}

/* After the detach of g: the rest of the burst, then one more command. */
static void ub_finish(struct gen *g, unsigned int reaped)
{
	struct kvb_uring_cmd uc = { .batch = (uintptr_t)&UB.c[0].b };
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int ret;

	ub_reap(g, UB_CMDS - reaped, false);
	if (!UB.ok)
		return;
	/* the store is detached: refused on submission */
	sqe = io_uring_get_sqe(&UB.ring);
	if (!sqe) {
		fail(NULL, "io_uring: no free SQE after a detach");
		UB.ok = false;
		return;
	}
	memset(sqe, 0, 2 * sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = g->fd;
	sqe->cmd_op = KVB_IOC_QUERY;
	memcpy(sqe->cmd, &uc, sizeof(uc));
	atomic_fetch_add(&G.ucall[C_QUERY], 1);
	atomic_fetch_add(&G.ur_ring[UR_MAIN], 1);
	ret = io_uring_submit_and_wait(&UB.ring, 1);
	if (ret != 1 || io_uring_peek_cqe(&UB.ring, &cqe)) {
		fail(NULL, "io_uring_submit_and_wait() after a detach: %d", ret);
		UB.ok = false;
		return;
	}
	atomic_fetch_add(&G.ures[cqe->res <= 0 && cqe->res > -UR_NRES ?
				 -cqe->res : UR_NRES], 1);
	if (cqe->res != -ENODEV)
		fail(NULL, "io_uring QUERY on detached store %u: %d, not ENODEV",
		     g->id, cqe->res);
	io_uring_cqe_seen(&UB.ring, cqe);
}

/* the reattacher owns G.cur: a live detach and attach, with checks */
static void reattach_once(uint64_t n)
{
	static const uint32_t mks[] = { 0, 0, 1, 16, FZ_MAX_KEYS, 200 };
	static const uint64_t mbs[] = { 0, 0, 4096, 1 << 20, FZ_MAX_BYTES,
					2 << 20 };
	struct gen *old = gen_get(), *g;
	unsigned int reaped;
	struct kvb_attach a;
	uint32_t flags;
	int ret;

	/* attaching the attached device again: EBUSY, never a format */
	attach_init(&a, G.dev, n % 3 == 0 ? KVB_ATTACH_FORMAT : 0);
	ret = counted_ioctl(G.ctl, KVB_IOC_ATTACH, &a);
	if (ret != -EBUSY)
		fail(NULL, "ATTACH of attached %s (flags %#x): %d, not EBUSY",
		     G.dev, a.flags, ret);
	if (ret == 0)
		ctl_detach(G.ctl, a.id);

	atomic_fetch_add(&G.ncall[C_DETACH], 1);
	ub_submit(old);
	reaped = ub_rnd(UB_CMDS / 2 + 1);
	ub_reap(old, reaped, true);
	pthread_mutex_lock(&G.pol_lock);
	ret = detach_gen(old);
	ub_finish(old, reaped);
	if (ret) {
		pthread_mutex_unlock(&G.pol_lock);
		return;
	}
	ev_finish(old);
	flags = (n % 4 == 1 ? KVB_ATTACH_SCAN : 0) |
		(n % 5 == 2 ? KVB_ATTACH_VOLATILE : 0);
	g = attach_gen(flags, mks[n % ARRAY_LEN(mks)],
		       mbs[(n / 2) % ARRAY_LEN(mbs)], false);
	if (g)
		ev_start(g);
	pthread_mutex_unlock(&G.pol_lock);
	if (!g) {
		pthread_mutex_lock(&G.gen_lock);
		atomic_store(&G.stop, 1);
		pthread_cond_broadcast(&G.gen_cond);
		pthread_mutex_unlock(&G.gen_lock);
		return;
	}
	/* one more fd on the new store, closed at once */
	{
		int fd = store_open(g->id);

		if (fd < 0)
			fail(NULL, "second open of store %u", g->id);
		else
			close(fd);
	}
	publish(g);
	atomic_fetch_add(&G.reattaches, 1);
}

static void *reattach_thread(void *arg)
{
	uint64_t n = 0;

	(void)arg;
	for (;;) {
		sem_wait(&G.reattach_sem);
		if (atomic_load(&G.stop))
			break;
		/* map_lock: no memory hole while it allocates, and no
		 * epoch verification at the same time */
		pthread_mutex_lock(&G.map_lock);
		reattach_once(n++);
		pthread_mutex_unlock(&G.map_lock);
	}
	return NULL;
}

/* ---- SET_POLICY, the sysfs files, read() and poll() --------------------- */

/* Does what g has in force match what the fuzzer set? G.pol_lock. */
static void policy_check(struct th *th, struct gen *g, const char *after)
{
	struct kvb_store_info info;
	int ret = st_info(g->fd, &info);

	if (ret == -ENODEV && atomic_load(&g->detaching))
		return;
	if (ret || info.policy != g->pol || info.high_watermark != g->hi ||
	    info.low_watermark != g->lo)
		fail(th, "after %s: STORE_INFO %d says %u %u/%u, expected %s %u/%u",
		     after, ret, info.policy, info.high_watermark,
		     info.low_watermark, polname[g->pol], g->hi, g->lo);
}

static void fz_policy(struct th *th, struct gen *g)
{
	struct kvb_policy a, *p = &a;
	uint32_t np, nh, nl, h, l;
	bool ro = false;
	int ret, dead_before;
	struct exp e;

	exp_init(&e);
	th->what[0] = 0;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	switch (rnd(th, 10)) {
	case 0: case 1: case 2: case 3: a.policy = 0; break;
	case 8: a.policy = KVB_POLICY_LFU + 1 + rnd(th, 20); break;
	case 9: a.policy = chance(th, 50) ? 0x80000000U : ~0U; break;
	default: a.policy = KVB_POLICY_FIFO + rnd(th, 3); break;
	}
	pick_wm(&th->rng, &h, &l);
	switch (rnd(th, 8)) {
	case 0: break;				/* read what is in force */
	case 1: a.high_watermark = h; break;
	case 2: a.low_watermark = l; break;
	case 3: a.high_watermark = 101 + rnd(th, 1000); break;
	case 4: a.low_watermark = 100 + rnd(th, 2); a.high_watermark = h; break;
	case 5: /* low >= high */
		a.high_watermark = 1 + rnd(th, 99);
		a.low_watermark = a.high_watermark + rnd(th, 100 - a.high_watermark);
		break;
	default: a.high_watermark = h; a.low_watermark = l; break;
	}
	what(th, "SET_POLICY store %u policy %u high %u low %u", g->id,
	     a.policy, a.high_watermark, a.low_watermark);
	if (chance(th, 30)) {
		switch (rnd(th, 6)) {
		case 0:
			a.size = chance(th, 50) ? 0 : sizeof(a) + 8;
			exp_strict(&e, EINVAL, 4);
			what(th, " size=%u", a.size);
			break;
		case 1:
			a.flags = 1U << rnd(th, 32);
			exp_strict(&e, EINVAL, 5);
			what(th, " flags=%#x", a.flags);
			break;
		case 2:
			if (chance(th, 50))
				a.reserved0 = 1 + rnd(th, 100);
			else
				a.reserved[rnd(th, 2)] = 1ULL << rnd(th, 64);
			exp_strict(&e, EINVAL, 5);
			what(th, " reserved");
			break;
		case 3:
			p = (void *)(uintptr_t)bad_ptr(th);
			exp_strict(&e, EFAULT, 3);
			what(th, " arg=%p", (void *)p);
			break;
		case 4: {
			/* the structure runs into the unmapped page */
			size_t in = 4 + rnd(th, sizeof(a) - 4);

			p = straddle(th, in);
			memcpy(p, &a, in);
			exp_strict(&e, EFAULT, 3);
			what(th, " arg-straddle(%zu)", in);
			break;
		}
		default:
			/* the values in force cannot be written back */
			ro_begin(th);
			memcpy(th->ro, &a, sizeof(a));
			ro_end(th);
			p = (void *)th->ro;
			ro = true;
			what(th, " readonly");
			break;
		}
	}
	pthread_mutex_lock(&G.pol_lock);
	np = a.policy ? a.policy : g->pol;
	nh = a.high_watermark ? a.high_watermark : g->hi;
	nl = a.low_watermark ? a.low_watermark : g->lo;
	if (a.policy > KVB_POLICY_LFU || a.high_watermark > 100 ||
	    a.low_watermark > 99 || nl >= nh)
		exp_err(&e, EINVAL);
	if (ro)
		exp_err(&e, EFAULT);	/* never success */
	if (!e.nerrs && !e.strict) {
		e.ok = true;
		atomic_fetch_or(&g->polmask, 1U << np);	/* evicts at once */
	}
	dead_before = atomic_load(&g->dead);
	ret = counted_ioctl(g->fd, KVB_IOC_SET_POLICY, p);
	if (enodev_check(th, g, dead_before, ret))
		goto out;
	exp_check(th, &e, ret, -1);
	if (!ret) {
		if (p == &a && (a.policy != np || a.high_watermark != nh ||
				a.low_watermark != nl || a.size != sizeof(a) ||
				a.flags || a.reserved0 || a.reserved[0] ||
				a.reserved[1]))
			fail(th, "SET_POLICY wrote back %u %u/%u, expected %u %u/%u",
			     a.policy, a.high_watermark, a.low_watermark, np,
			     nh, nl);
		atomic_fetch_or(&g->polmask, 1U << np);
		g->pol = np;
		g->hi = nh;
		g->lo = nl;
	}
	/* the new values, or nothing changed */
	policy_check(th, g, ret ? "a failed SET_POLICY" : "SET_POLICY");
out:
	pthread_mutex_unlock(&G.pol_lock);
}

/* The sysfs files of the current store: exact errnos, then read back. */
static void fz_sysfs(struct th *th, struct gen *g)
{
	static const char *const files[] = {
		"policy", "high_watermark", "low_watermark", "event_queue_bytes",
	};
	static const char *const bad_pol[] = {
		"FIFO", "fifo ", " lru", "lfu\n\n", "l", "lfux", "0", "1",
		"\n", "default", "\x01\xff",
	};
	char path[96], s[64], got[4][40], want[4][40];
	int f = rnd(th, 4), fd, ret, expect = 0, i;
	uint32_t v = 0, h, l;
	uint64_t q = 0;

	pthread_mutex_lock(&G.pol_lock);
	/* only the current store: ids are reused, and so are paths */
	if (g != gen_get() || atomic_load(&g->detaching))
		goto out;
	th->what[0] = 0;
	atomic_fetch_add(&G.ncall[C_SYSFS], 1);
	pick_wm(&th->rng, &h, &l);
	switch (f) {
	case 0:
		if (chance(th, 70)) {
			v = KVB_POLICY_FIFO + rnd(th, 3);
			snprintf(s, sizeof(s), "%s%s", polname[v],
				 chance(th, 50) ? "\n" : "");
		} else {
			snprintf(s, sizeof(s), "%s",
				 bad_pol[rnd(th, ARRAY_LEN(bad_pol))]);
			expect = -EINVAL;
		}
		break;
	case 1:
	case 2:
		v = f == 1 ? h : l;
		snprintf(s, sizeof(s), "%u\n", v);
		switch (rnd(th, 12)) {
		case 0: snprintf(s, sizeof(s), "0\n"); v = 0; break;
		case 1: snprintf(s, sizeof(s), "%u", f == 1 ? 101 : 100);
			v = f == 1 ? 101 : 100; break;
		case 2: snprintf(s, sizeof(s), "+%u\n", v); break;
		case 3: snprintf(s, sizeof(s), "0%u\n", v); break;
		case 4: snprintf(s, sizeof(s), "%u%%\n", v); v = ~0U; break;
		case 5: snprintf(s, sizeof(s), "-%u\n", v); v = ~0U; break;
		case 6: snprintf(s, sizeof(s), "0x%x\n", v); v = ~0U; break;
		case 7: snprintf(s, sizeof(s), " %u\n", v); v = ~0U; break;
		case 8: snprintf(s, sizeof(s), "4294967296\n"); v = ~1U; break;
		case 9:	/* crossing the other watermark */
			v = f == 1 ? g->lo : g->hi;
			snprintf(s, sizeof(s), "%u\n", v);
			break;
		}
		if (v == ~0U || v == ~1U)
			expect = -EINVAL;	/* not a number, or too large */
		else if (!v || (f == 1 ? v > 100 || g->lo >= v :
				       v > 99 || v >= g->hi))
			expect = -EINVAL;
		break;
	default:
		/* never small enough for the model's reader to fall behind */
		switch (rnd(th, 10)) {
		case 0: q = 0; snprintf(s, sizeof(s), "0\n"); expect = -EINVAL; break;
		case 1: q = (1ULL << 30) + 1;
			snprintf(s, sizeof(s), "%llu\n", (unsigned long long)q);
			expect = -EINVAL; break;
		case 2: snprintf(s, sizeof(s), "18446744073709551616\n");
			expect = -EINVAL; break;	/* not ERANGE */
		case 3: snprintf(s, sizeof(s), "16M\n"); expect = -EINVAL; break;
		case 4: snprintf(s, sizeof(s), "-1\n"); expect = -EINVAL; break;
		case 5: q = 16ULL << 20;
			snprintf(s, sizeof(s), "0x%llx\n", (unsigned long long)q);
			break;
		case 6: q = 16ULL << 20;
			snprintf(s, sizeof(s), "0%llo", (unsigned long long)q);
			break;
		default: q = (16ULL << 20) + rnd(th, (1ULL << 30) - (16ULL << 20) + 1);
			snprintf(s, sizeof(s), "%llu\n", (unsigned long long)q);
			break;
		}
		break;
	}
	what(th, "write '%.*s' to /sys/kernel/kvbucket/%u/%s",
	     (int)strcspn(s, "\n"), s, g->id, files[f]);
	snprintf(path, sizeof(path), "/sys/kernel/kvbucket/%u/%s", g->id,
		 files[f]);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		fail(th, "open %s: %s", path, strerror(errno));
		goto out;
	}
	if (!expect && f == 0)
		atomic_fetch_or(&g->polmask, 1U << v);
	ret = write(fd, s, strlen(s)) == (ssize_t)strlen(s) ? 0 : -errno;
	close(fd);
	if (ret != expect)
		fail(th, "sysfs write returned %d, expected %d", ret, expect);
	if (!ret) {
		switch (f) {
		case 0: g->pol = v; break;
		case 1: g->hi = v; break;
		case 2: g->lo = v; break;
		default: g->evq = q; break;
		}
	}
	/* read back: what is in force, changed or not */
	snprintf(want[0], sizeof(want[0]), "%s\n", polname[g->pol]);
	snprintf(want[1], sizeof(want[1]), "%u\n", g->hi);
	snprintf(want[2], sizeof(want[2]), "%u\n", g->lo);
	snprintf(want[3], sizeof(want[3]), "%llu\n",
		 (unsigned long long)g->evq);
	for (i = 0; i < 4; i++) {
		ssize_t n;

		snprintf(path, sizeof(path), "/sys/kernel/kvbucket/%u/%s",
			 g->id, files[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		n = fd < 0 ? -1 : read(fd, got[i], sizeof(got[i]) - 1);
		if (fd >= 0)
			close(fd);
		got[i][n > 0 ? n : 0] = 0;
		if (strcmp(got[i], want[i]))
			fail(th, "%s reads '%.*s', expected '%.*s'", files[i],
			     (int)strcspn(got[i], "\n"), got[i],
			     (int)strcspn(want[i], "\n"), want[i]);
	}
	policy_check(th, g, "a sysfs write");
out:
	pthread_mutex_unlock(&G.pol_lock);
}

/*
 * read() and poll() of an attachment's event fds, under G.ev_lock: the
 * model's (whatever comes back is dispatched as usual) or the lagging one
 * (which usually has records queued; what it reads is checked against
 * what the model's read). What must not be consumed (EMSGSIZE, EFAULT)
 * would show as a gap in seq if it was.
 */
static void fz_read(struct th *th)
{
	static const size_t lens[] = { 0, 1, 7, 8, 63, 64, 65, 72, 100, 4096 };
	struct pollfd pf;
	struct gen *g;
	uint8_t *buf = th->outbuf;
	size_t len, mapped = OUT_LEN;	/* writable bytes at buf */
	int how = rnd(th, 8), err = 0, fl, fd;
	bool lag = chance(th, 70);
	uint64_t s0, lost0 = G.lag_lost;
	ssize_t n;

	th->what[0] = 0;
	pthread_mutex_lock(&G.ev_lock);
	g = G.ev_gen;
	if (!g || g->ev_eof)
		goto out;
	atomic_fetch_add(&G.ncall[C_READ], 1);
	fd = lag ? g->lag_fd : g->ev_fd;
	len = chance(th, 50) ? lens[rnd(th, ARRAY_LEN(lens))] :
			       1 + rnd(th, OUT_LEN);
	pf = (struct pollfd){ .fd = fd, .events = POLLIN };
	switch (how) {
	case 2:
		buf = (void *)(uintptr_t)bad_ptr(th);
		mapped = 0;
		break;
	case 3:	/* a read-only page */
		buf = G.unmapped - G.pg;
		if (len > (size_t)G.pg)
			len = G.pg;
		mapped = 0;
		break;
	case 4:	/* the first bytes writable, then the unmapped page */
		mapped = chance(th, 50) ? rnd(th, 200) : rnd(th, G.pg);
		buf = straddle(th, mapped);
		len = mapped + 1 + rnd(th, 4096);
		break;
	case 5:	/* blocking, when poll() says there is something */
		if (poll(&pf, 1, 0) != 1 || !(pf.revents & POLLIN))
			goto out;
		break;
	case 6:
		/* the lagging reader catches up now and then only */
		what(th, "%s read() of store %u", lag ? "lagging" : "model's",
		     g->id);
		if (lag && chance(th, 25))
			lag_read(g, false);
		else
			ev_read(g, false);
		goto out;
	case 7:
		what(th, "poll() of store %u (%s fd)", g->id,
		     lag ? "lagging" : "model's");
		if (poll(&pf, 1, 0) < 0) {
			fail(th, "poll: %s", strerror(errno));
			goto out;
		}
		if ((pf.revents & POLLHUP) && !atomic_load(&g->detaching))
			fail(th, "POLLHUP on an attached store");
		if (!(pf.revents & POLLIN))
			goto out;
		/*
		 * Something there: a non-blocking read returns it (not into
		 * G.evbuf, which lag_check() reads the model's fd into).
		 */
		n = read(fd, th->outbuf, lag ? 64 + rnd(th, 4096) : OUT_LEN);
		if (n < 0 && errno == EMSGSIZE && lag)
			n = read(fd, th->outbuf, OUT_LEN);
		if (n > 0 && lag)
			lag_check(g, th->outbuf, n);
		else if (n > 0)
			ev_dispatch(g, th->outbuf, n);
		else if (n == 0 && !lag)
			g->ev_eof = true;
		if (n < 0 || (n == 0 && !atomic_load(&g->detaching)))
			fail(th, "poll() said POLLIN, read() returned %zd (%s)",
			     n, n < 0 ? strerror(errno) : "end of file");
		goto out;
	}
	what(th, "read(store %u %s fd, %p, %zu)%s", g->id,
	     lag ? "lagging" : "model's", (void *)buf, len,
	     how == 5 ? " blocking" : "");
	s0 = lag ? g->lag_seq : g->ev_seq;
	fl = fcntl(fd, F_GETFL);
	if (how == 5)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	n = read(fd, buf, len);
	if (n < 0)
		err = errno;
	if (how == 5)
		fcntl(fd, F_SETFL, fl);
	G.rd_ok += n > 0;
	G.rd_eagain += err == EAGAIN;
	G.rd_emsgsize += err == EMSGSIZE;
	G.rd_efault += err == EFAULT;
	if (!len) {
		/*
		 * A read of nothing: 0 at once, consuming nothing (the seq
		 * check of the next records shows that); EFAULT only from
		 * vfs_read()'s access_ok() on a kernel address.
		 */
		if (n != 0 && !(err == EFAULT && how == 2))
			fail(th, "read() of 0 bytes: %zd (%s)", n,
			     n < 0 ? strerror(err) : "no error");
	} else if (n > 0) {
		if ((size_t)n > len || (size_t)n > mapped)
			fail(th, "read() returned %zd bytes into %zu (%zu writable)",
			     n, len, mapped);
		else if (lag)
			lag_check(g, buf, n);
		else
			ev_dispatch(g, buf, n);
	} else if (n == 0) {
		if (!lag)
			g->ev_eof = true;
		if (!atomic_load(&g->detaching))
			fail(th, "read() returned end of file on an attached store");
	} else if (err == EAGAIN) {
		if (how == 5)
			fail(th, "blocking read() after POLLIN: EAGAIN");
	} else if (err == EFAULT && how == 2) {
		/* also without any event: access_ok() in vfs_read() */
	} else if (err == EMSGSIZE || err == EFAULT) {
		/* nothing consumed: the record is still the next one */
		ev_read(g, false);
		if (lag)
			lag_read(g, false);
		if ((lag ? g->lag_seq : g->ev_seq) == s0 || g->nlog < s0) {
			fail(th, "read(): %s with no event queued",
			     strerror(err));
		} else if (G.lag_lost == lost0) {	/* not a LOST record */
			uint32_t rl = g->log[s0 - 1].rec_len;

			if (err == EMSGSIZE ? rl <= len :
			    rl > len || rl <= mapped)
				fail(th, "read() of %zu bytes (%zu writable): %s, the next record has %u",
				     len, mapped, strerror(err), rl);
		}
	} else {
		fail(th, "read(): %s", strerror(err));
	}
	ev_read(g, false);
out:
	pthread_mutex_unlock(&G.ev_lock);
}

/* ---- verification --------------------------------------------------------- */

static int run_inspect(void)
{
	const char *tool = getenv("KVB_INSPECT");
	pid_t pid;
	int status;

	if (!tool)
		tool = "kvbucket-inspect";
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		if (devnull >= 0)
			dup2(devnull, 1);	/* its report; damage goes to stderr */
		execlp(tool, tool, "--check", G.dev, (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", tool, strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/*
 * Everything in the store loads byte-exact (each bucket's keys through
 * BUCKET_SCAN), and every owned key is as the model says.
 */
static void verify_store(struct gen *g, const char *when)
{
	static uint8_t buf[4 << 20];
	static uint8_t val[FZ_MAX_BYTES + 8];
	struct kvb_bucket_scan s;
	uint64_t start = 0, nkeys = 0, nb = 0, bytes = 0;
	struct kvb_store_info info;
	int t, m, ret;

	do {
		uint64_t off = 0;
		uint32_t i;

		memset(&s, 0, sizeof(s));
		s.size = sizeof(s);
		s.start_id = start;
		s.max_buckets = 64;
		s.buf = (uint64_t)(uintptr_t)buf;
		s.buf_len = sizeof(buf);
		ret = xioctl(g->fd, KVB_IOC_BUCKET_SCAN, &s);
		if (ret) {
			fail(NULL, "%s: BUCKET_SCAN from %llu: %s", when,
			     (unsigned long long)start, strerror(-ret));
			return;
		}
		for (i = 0; i < s.nr_buckets; i++) {
			struct kvb_bucket_rec r;
			uint64_t ko;
			uint32_t j;

			memcpy(&r, buf + off, sizeof(r));
			ko = off + sizeof(r);
			nb++;
			for (j = 0; j < r.nr_keys; j++) {
				struct kvb_key_rec kr;
				struct kvb_obj_desc d;
				struct kvb_slice sl;
				const uint8_t *key;
				long bad;

				memcpy(&kr, buf + ko, sizeof(kr));
				key = buf + ko + sizeof(kr);
				ko += KVB_KEY_REC_LEN(kr.key_len);
				nkeys++;
				bytes += kr.value_len;
				if (kr.value_len > sizeof(val)) {
					fail(NULL, "%s: bucket %llu key of %llu bytes",
					     when, (unsigned long long)r.id,
					     (unsigned long long)kr.value_len);
					continue;
				}
				memset(val, 0xee, kr.value_len);
				kvb_slice_init(&sl, val, kr.value_len);
				kvb_desc_init(&d, key, kr.key_len, &sl, 1);
				ret = st_batch(g->fd, KVB_IOC_LOAD, &d, 1, 0, NULL);
				if (ret || d.status) {
					fail(NULL, "%s: LOAD of a listed key (bucket %llu, key len %u, value len %llu): %d status %d",
					     when, (unsigned long long)r.id,
					     kr.key_len,
					     (unsigned long long)kr.value_len,
					     ret, d.status);
					continue;
				}
				bad = check_value(vseed(key, kr.key_len, kr.value_len),
						  val, kr.value_len);
				if (bad >= 0)
					fail(NULL, "%s: bucket %llu key len %u '%.8s': value of %llu bytes wrong at byte %ld",
					     when, (unsigned long long)r.id,
					     kr.key_len, key,
					     (unsigned long long)kr.value_len, bad);
			}
			off += r.rec_len;
		}
		start = s.next_id;
	} while (start);

	ret = st_info(g->fd, &info);
	if (ret || info.nr_keys != nkeys || info.nr_buckets != nb ||
	    info.value_bytes != bytes)
		fail(NULL, "%s: STORE_INFO keys %llu buckets %llu bytes %llu, scan found %llu %llu %llu",
		     when, (unsigned long long)info.nr_keys,
		     (unsigned long long)info.nr_buckets,
		     (unsigned long long)info.value_bytes,
		     (unsigned long long)nkeys, (unsigned long long)nb,
		     (unsigned long long)bytes);

	/* the model */
	for (t = 0; t < G.nthreads; t++) {
		struct th *th = TH[t];

		for (m = 0; m < NK; m++) {
			struct mkey *k = &th->mk[m];
			struct kvb_obj_desc d;

			kvb_desc_init(&d, k->key, k->klen, NULL, 0);
			ret = st_batch(g->fd, KVB_IOC_QUERY, &d, 1, 0, NULL);
			if (ret) {
				fail(NULL, "%s: QUERY: %s", when, strerror(-ret));
				continue;
			}
			if (k->state == PRESENT && (d.status || d.value_len != k->vlen))
				fail(NULL, "%s: key m%d:%d: status %d len %llu, model present len %llu bucket %llu since call %llu of thread %d",
				     when, t, m, d.status,
				     (unsigned long long)d.value_len,
				     (unsigned long long)k->vlen,
				     (unsigned long long)k->bucket,
				     (unsigned long long)k->last_call, t);
			else if (k->state == ABSENT && d.status != -ENOENT)
				fail(NULL, "%s: key m%d:%d: status %d len %llu bucket %llu, model absent since call %llu of thread %d",
				     when, t, m, d.status,
				     (unsigned long long)d.value_len,
				     (unsigned long long)d.bucket_id,
				     (unsigned long long)k->last_call, t);
			if (d.status == 0) {
				k->state = PRESENT;
				k->vlen = d.value_len;
			} else {
				k->state = ABSENT;
			}
			k->bucket = d.status ? 0 : d.bucket_id;
		}
	}
	atomic_fetch_add(&G.verifies, 1);
}

/* all fuzz threads stopped: detach, kvbucket-inspect --check, attach, verify */
static void epoch_verify(const char *when, bool reattach)
{
	struct gen *g = gen_get();
	int rc, t;

	pthread_mutex_lock(&G.pol_lock);
	if (detach_gen(g))
		goto out;
	/* every eviction is known: the models are exact again */
	ev_finish(g);
	for (t = 0; t < G.nthreads; t++) {
		apply_inbox(TH[t]);
		resolve(TH[t]);
	}
	rc = run_inspect();
	if (rc)
		fail(NULL, "%s: kvbucket-inspect --check %s exited %d", when,
		     G.dev, rc);
	/* frozen (100 %): nothing is evicted while it is verified */
	g = attach_gen(0, 0, 0, true);
	if (!g) {
		atomic_store(&G.stop, 1);
		goto out;
	}
	ev_start(g);
	publish(g);
	verify_store(g, when);
	if (!reattach) {
		detach_gen(g);
		ev_finish(g);
		rc = run_inspect();
		if (rc)
			fail(NULL, "%s: final kvbucket-inspect --check %s exited %d",
			     when, G.dev, rc);
	} else {
		struct kvb_policy p = { .size = sizeof(p) };

		pick_wm(&G.rng_r, &p.high_watermark, &p.low_watermark);
		if (xioctl(g->fd, KVB_IOC_SET_POLICY, &p))
			fail(NULL, "%s: SET_POLICY %u/%u: %s", when,
			     p.high_watermark, p.low_watermark, strerror(errno));
		g->hi = p.high_watermark;
		g->lo = p.low_watermark;
	}
out:
	pthread_mutex_unlock(&G.pol_lock);
}

/* ---- the fuzz threads ---------------------------------------------------- */

static uint64_t reattach_every;
static int nepochs;

static void fuzz_one(struct th *th)
{
	struct gen *g = gen_pick(th);
	unsigned int r = rnd(th, 100);

	if (th->nring >= RING)
		fz_delete(th, g, true);
	else if (r < 22)
		fz_batch(th, g, KVB_IOC_OFFLOAD);
	else if (r < 36)
		fz_batch(th, g, KVB_IOC_QUERY);
	else if (r < 50)
		fz_batch(th, g, KVB_IOC_LOAD);
	else if (r < 60)
		fz_batch(th, g, KVB_IOC_REMOVE);
	else if (r < 67)
		fz_delete(th, g, false);
	else if (r < 72)
		fz_keys(th, g);
	else if (r < 77)
		fz_scan(th, g);
	else if (r < 85 || (r < 87 && !G.uring))
		fz_small(th, g);
	else if (r < 87)
		fz_uring_misc(th, g);
	else if (r < 91)
		fz_ctl_bad(th, g);
	else if (r < 94)
		fz_policy(th, g);
	else if (r < 96)
		fz_sysfs(th, g);
	else
		fz_read(th);
	/* the evictions the call may have raced with */
	ev_sync(th);
}

static void *fuzz_thread(void *arg)
{
	struct th *th = arg;
	uint64_t per_epoch = (th->ncalls + nepochs - 1) / nepochs;
	int ep;

	for (ep = 0; ep < nepochs; ep++) {
		uint64_t end = th->calls_done + per_epoch;

		if (end > th->ncalls)
			end = th->ncalls;
		while (th->calls_done < end && !atomic_load(&G.stop)) {
			uint64_t tot;

			th->calls_done++;
			fuzz_one(th);
			tot = atomic_fetch_add(&G.total_calls, 1) + 1;
			if (tot % 8 == 0)
				sem_post(&G.remap_sem);
			if (tot % reattach_every == 0)
				sem_post(&G.reattach_sem);
		}
		/* epoch end: main verifies while every fuzz thread waits */
		pthread_barrier_wait(&G.epoch_bar);
		pthread_barrier_wait(&G.epoch_bar);
	}
	ur_exit(th);
	return NULL;
}

/* ---- EPERM: a child without CAP_SYS_ADMIN ------------------------------ */

static void check_eperm(uint32_t id)
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct __user_cap_header_struct h = {
			.version = _LINUX_CAPABILITY_VERSION_3,
		};
		struct __user_cap_data_struct d[2];
		int ret, bad = 0;

		if (syscall(SYS_capget, &h, d))
			_exit(3);
		d[CAP_SYS_ADMIN / 32].effective &= ~(1U << (CAP_SYS_ADMIN % 32));
		d[CAP_SYS_ADMIN / 32].permitted &= ~(1U << (CAP_SYS_ADMIN % 32));
		if (syscall(SYS_capset, &h, d))
			_exit(3);
		ret = ctl_attach(G.ctl, "/nonexistent/kvb-fuzz", 0, 0, 0, 0, NULL);
		if (ret != -EPERM) {
			printf("# FAIL ATTACH without CAP_SYS_ADMIN: %d, not EPERM\n", ret);
			bad = 1;
		}
		ret = ctl_detach(G.ctl, id);
		if (ret != -EPERM) {
			printf("# FAIL DETACH without CAP_SYS_ADMIN: %d, not EPERM\n", ret);
			bad = 1;
		}
		fflush(stdout);
		_exit(bad);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		fail(NULL, "EPERM checks failed (child status %d)", status);
}

/* ---- setup ---------------------------------------------------------------- */

static void setup_thread(struct th *th, int t)
{
	uint8_t *part;
	uint32_t s;

	th->t = t;
	th->rng = G.seed ^ (0x9e3779b97f4a7c15ULL * (t + 1));
	th->descs = map_rw((KVB_MAX_BATCH + 2) * sizeof(struct kvb_obj_desc));
	th->slices = map_rw((KVB_MAX_BATCH_SLICES + 2048) * sizeof(struct kvb_slice));
	th->keybuf = map_rw(KEYBUF_LEN);
	th->valbuf = map_rw(VAL_LEN);
	th->dstbuf = map_rw(DST_LEN);
	th->outbuf = map_rw(OUT_LEN);
	th->ro = map_rw(RO_LEN);
	ro_end(th);
	part = map_low(2 * G.pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(part + G.pg, G.pg);
	th->part = part;
	th->vin = G.vin_area + t * VSLOTS * VSLOT_LEN;
	th->vout = G.vout_area + t * VSLOTS * VSLOT_LEN;
	mk_model_keys(th);
	/* the remapped input memory holds the values of the keys v<t>:<slot> */
	for (s = 0; s < VSLOTS; s++) {
		uint8_t vk[24];
		uint32_t vkl = snprintf((char *)vk, sizeof(vk), "v%d:%u", t, s);
		uint64_t vl = VSLOT_LEN - s * 1000;
		uint8_t *tmp = th->valbuf;

		fill_value(vseed(vk, vkl, vl), tmp, vl);
		if (pwrite(G.vin_fd, tmp, vl,
			   (off_t)(t * VSLOTS + s) * VSLOT_LEN) != (ssize_t)vl) {
			perror("pwrite");
			exit(1);
		}
	}
}

static void setup_memory(void)
{
	size_t len = (size_t)G.nthreads * VSLOTS * VSLOT_LEN;
	uint8_t *p;

	len = (len + G.pg - 1) & ~(size_t)(G.pg - 1);
	G.varea_len = len;
	G.vin_fd = memfd_create("kvb-fuzz-in", MFD_CLOEXEC);
	G.vout_fd = memfd_create("kvb-fuzz-out", MFD_CLOEXEC);
	if (G.vin_fd < 0 || G.vout_fd < 0 || ftruncate(G.vin_fd, len) ||
	    ftruncate(G.vout_fd, len)) {
		perror("memfd");
		exit(1);
	}
	G.vin_area = map_low(len, PROT_READ, MAP_SHARED, G.vin_fd, 0);
	G.vout_area = map_low(len, PROT_READ | PROT_WRITE, MAP_SHARED,
			      G.vout_fd, 0);
	/* a read-only page, then one that is never mapped */
	p = map_low(2 * G.pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(p + G.pg, G.pg);
	G.unmapped = p + G.pg;
}

/* detach the store on DEV if one is attached (a previous run killed) */
static void detach_dev(void)
{
	struct kvb_store_info info;
	uint32_t ids[64];
	int n, i;

	n = ctl_list(G.ctl, ids, ARRAY_LEN(ids));
	for (i = 0; i < n && i < (int)ARRAY_LEN(ids); i++)
		if (!ctl_info(G.ctl, ids[i], &info) &&
		    (dev_t)makedev(info.dev_major, info.dev_minor) == G.rdev)
			ctl_detach(G.ctl, ids[i]);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: kvb_fuzz [--calls N] [--seed S] [--threads T] [DEV]\n"
		"  formats DEV (default: the second disk of $KVB_DISKS)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "calls", required_argument, NULL, 'c' },
		{ "seed", required_argument, NULL, 's' },
		{ "threads", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	pthread_t ft[MAX_THREADS], rt, mt;
	struct timespec t0, t1;
	struct stat sb;
	double secs;
	struct gen *g;
	int ch, t, i, ep;

	G.calls = 200000;
	G.seed = 1;
	G.nthreads = 4;
	while ((ch = getopt_long(argc, argv, "c:s:t:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'c': G.calls = strtoull(optarg, NULL, 0); break;
		case 's': G.seed = strtoull(optarg, NULL, 0); break;
		case 't': G.nthreads = atoi(optarg); break;
		default: usage();
		}
	}
	if (optind < argc)
		G.dev = argv[optind++];
	else
		G.dev = kvb_disk(1) ? kvb_disk(1) : kvb_disk(0);
	if (optind != argc || G.nthreads < 1 || G.nthreads > MAX_THREADS ||
	    !G.calls)
		usage();

	printf("1..1\n");
	printf("# kvb_fuzz: dev %s calls %" PRIu64 " seed %" PRIu64 " threads %d\n",
	       G.dev ? G.dev : "(none)", G.calls, G.seed, G.nthreads);
	fflush(stdout);
	if (!G.dev || stat(G.dev, &sb) || !S_ISBLK(sb.st_mode)) {
		printf("ok 1 fuzz # SKIP no block device (give DEV or KVB_DISKS)\n");
		return 0;
	}
	if (!module_loaded()) {
		printf("not ok 1 fuzz # kvbucket module not loaded\n");
		return 1;
	}
	G.rdev = sb.st_rdev;
	G.pg = sysconf(_SC_PAGESIZE);
	G.ctl = ctl_open();
	if (G.ctl < 0) {
		printf("not ok 1 fuzz # open control device: %s\n", strerror(errno));
		return 1;
	}
	pthread_mutex_init(&G.gen_lock, NULL);
	pthread_cond_init(&G.gen_cond, NULL);
	pthread_mutex_init(&G.map_lock, NULL);
	pthread_mutex_init(&G.ev_lock, NULL);
	pthread_mutex_init(&G.pol_lock, NULL);
	G.evbuf = malloc(EVBUF);
	G.rng_r = G.seed ^ 0x5e7b011c7ULL;
	sem_init(&G.reattach_sem, 0, 0);
	sem_init(&G.remap_sem, 0, 0);
	{
		struct kvb_features f = { .size = sizeof(f) };

		G.uring = !xioctl(G.ctl, KVB_IOC_GET_FEATURES, &f) &&
			  (f.features & KVB_FEAT_URING_CMD);
		if (!G.uring)
			note("io_uring: the module has no KVB_FEAT_URING_CMD: commands are not fuzzed");
	}
	/* the rings first: setup_memory() and setup_thread() make holes */
	UB.rng = G.seed ^ 0xb0057ULL;
	UB.ok = G.uring && !io_uring_queue_init(2 * UB_CMDS, &UB.ring,
						IORING_SETUP_SQE128);
	for (t = 0; t < G.nthreads; t++) {
		TH[t] = calloc(1, sizeof(struct th));
		TH[t]->t = t;
		ur_setup(TH[t]);
	}
	setup_memory();
	for (t = 0; t < G.nthreads; t++) {
		setup_thread(TH[t], t);
		TH[t]->ncalls = G.calls / G.nthreads +
				((uint64_t)t < G.calls % G.nthreads);
	}
	/* epochs: a stop-the-world verification every 100000 calls, >= 2 */
	nepochs = G.calls / 100000 + 2;
	reattach_every = G.calls / 24 + 1;
	if (reattach_every < 500)
		reattach_every = 500;

	detach_dev();
	g = attach_gen(KVB_ATTACH_FORMAT, FZ_MAX_KEYS, FZ_MAX_BYTES, false);
	if (!g) {
		printf("not ok 1 fuzz # cannot format %s\n", G.dev);
		return 1;
	}
	ev_start(g);
	publish(g);
	check_eperm(g->id);

	pthread_barrier_init(&G.epoch_bar, NULL, G.nthreads + 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (t = 0; t < G.nthreads; t++)
		pthread_create(&ft[t], NULL, fuzz_thread, TH[t]);
	pthread_create(&rt, NULL, reattach_thread, NULL);
	pthread_create(&mt, NULL, remap_thread, NULL);

	for (ep = 0; ep < nepochs; ep++) {
		char when[64];

		pthread_barrier_wait(&G.epoch_bar);
		/* the reattacher may be mid-cycle: take it out by its lock */
		snprintf(when, sizeof(when), "epoch %d (%" PRIu64 " calls)", ep,
			 atomic_load(&G.total_calls));
		/* progress, for the long runs of make fuzz */
		clock_gettime(CLOCK_MONOTONIC, &t1);
		printf("# %s after %ld s\n", when,
		       (long)(t1.tv_sec - t0.tv_sec));
		fflush(stdout);
		if (ep < nepochs - 1) {
			pthread_mutex_lock(&G.map_lock);
			epoch_verify(when, true);
			pthread_mutex_unlock(&G.map_lock);
		}
		pthread_barrier_wait(&G.epoch_bar);
	}
	for (t = 0; t < G.nthreads; t++)
		pthread_join(ft[t], NULL);
	atomic_store(&G.stop, 1);
	sem_post(&G.reattach_sem);
	sem_post(&G.remap_sem);
	pthread_join(rt, NULL);
	pthread_join(mt, NULL);
	if (UB.ok)
		io_uring_queue_exit(&UB.ring);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	epoch_verify("end", false);
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;

	printf("# %" PRIu64 " calls in %.1f s: %.0f calls/s; %" PRIu64
	       " re-attaches, %" PRIu64 " verifications, %" PRIu64
	       " remaps, %" PRIu64 " ENODEV, %" PRIu64 " ENOSPC, %" PRIu64
	       " EAGAIN, %" PRIu64 " EINTR\n",
	       atomic_load(&G.total_calls), secs,
	       atomic_load(&G.total_calls) / (secs > 0 ? secs : 1),
	       atomic_load(&G.reattaches), atomic_load(&G.verifies),
	       atomic_load(&G.remaps), atomic_load(&G.enodev),
	       atomic_load(&G.enospc), atomic_load(&G.eagain),
	       atomic_load(&G.eintr));
	{
		uint64_t own = 0, explained = 0;

		for (t = 0; t < G.nthreads; t++) {
			own += TH[t]->own_evicted;
			explained += TH[t]->explained;
		}
		printf("# evicted: %" PRIu64 " buckets, %" PRIu64
		       " keys (%" PRIu64 " owned, %" PRIu64
		       " of them after a -ENOENT); the lagging readers read %"
		       PRIu64 " records, lost %" PRIu64 "\n",
		       G.evictions, G.evicted_keys, own, explained,
		       G.lag_records, G.lag_lost);
		printf("# read(): %" PRIu64 " returned records, %" PRIu64
		       " EAGAIN, %" PRIu64 " EMSGSIZE, %" PRIu64 " EFAULT\n",
		       G.rd_ok, G.rd_eagain, G.rd_emsgsize, G.rd_efault);
		if (atomic_load(&G.total_calls) >= 20000 && !G.evictions)
			fail(NULL, "nothing was evicted: eviction was not fuzzed");
	}
	printf("#   %-14s %10s %10s\n", "call", "ioctl", "io_uring");
	for (i = 0; i < C_NR; i++)
		printf("#   %-14s %10" PRIu64 " %10" PRIu64 "\n", cname[i],
		       atomic_load(&G.ncall[i]), atomic_load(&G.ucall[i]));
	if (G.uring) {
		char buf[1024] = "";
		uint64_t n = 0, v;

		for (i = 0; i <= UR_NRES; i++) {
			v = atomic_load(&G.ures[i]);
			n += v;
			if (v)
				snprintf(buf + strlen(buf),
					 sizeof(buf) - strlen(buf),
					 " %s %" PRIu64,
					 i == UR_NRES ? "other" :
					 i ? strerrorname_np(i) : "0", v);
		}
		printf("# io_uring: %" PRIu64 " commands: %" PRIu64 " on %s rings, %"
		       PRIu64 " on %s rings, %" PRIu64 " on %s rings; %" PRIu64
		       " on the control device, %" PRIu64
		       " with IOSQE_ASYNC, %" PRIu64
		       " ENODEV of a detach that began after the submission, %"
		       PRIu64 " refused ones checked for no effect\n", n,
		       atomic_load(&G.ur_ring[UR_MAIN]), urname[UR_MAIN],
		       atomic_load(&G.ur_ring[UR_SQE64]), urname[UR_SQE64],
		       atomic_load(&G.ur_ring[UR_IOPOLL]), urname[UR_IOPOLL],
		       atomic_load(&G.ur_ctl), atomic_load(&G.ur_async),
		       atomic_load(&G.ur_enodev_race),
		       atomic_load(&G.ur_untouched));
		printf("# io_uring commands of the re-attacher: %" PRIu64
		       " completed before a detach, %" PRIu64
		       " in flight at one completed with their result, %"
		       PRIu64 " with ENODEV\n", G.ub_before, G.ub_done,
		       G.ub_enodev);
		printf("# io_uring results:%s\n", buf);
		if (atomic_load(&G.total_calls) >= 20000 &&
		    !atomic_load(&G.ur_nosetup[UR_MAIN]) &&
		    !atomic_load(&G.ures[0]))
			fail(NULL, "no io_uring command succeeded: they were not fuzzed");
	}
	if (atomic_load(&G.failures)) {
		printf("# %" PRIu64 " failures\n", atomic_load(&G.failures));
		printf("not ok 1 fuzz\n");
		return 1;
	}
	printf("ok 1 fuzz\n");
	return 0;
}
