// SPDX-License-Identifier: GPL-2.0
/*
 * Power-cut workload and checker (run in the VM by scripts/crash-test.sh).
 *
 *   kvb_crash work  --data DEV --log DEV [--seed S] [--budget MIB]
 *   kvb_crash check --data DEV --log DEV [--cut K] [--rerun]
 *
 * work: attaches DEV (formats it if the log has no acknowledged FORMAT),
 * prints "kvb_crash: working" and then offloads, removes and deletes
 * forever, one call at a time. Before each call it appends an INTENT
 * record to the log device and after the call returns an ACK record (the
 * call's return value and per-key statuses), each one 4 KiB block written
 * with O_DIRECT | O_SYNC, so the log on the device is never behind what
 * the store acknowledged. The power cut (QEMU killed) comes at any moment.
 *
 * check: replays the log up to its first invalid block (a torn last
 * record is simply not there), runs `kvbucket-inspect --check DEV`,
 * attaches DEV (a cold start: the cut left the superblock dirty) and
 * verifies the durability contract (Documentation/design.rst) for every
 * key the workload can use:
 *   - every acknowledged state holds: present keys are there with the
 *     right length, bucket and bytes; removed keys, deleted buckets and
 *     never-written keys are absent;
 *   - the one call that may be in flight at the cut (INTENT, no ACK):
 *     OFFLOAD all or nothing for the keys it writes (one bucket, with a
 *     new id), REMOVE either way per key, DELETE_BUCKET all or nothing;
 *   - LOAD never fails (EBADMSG), STORE_INFO.nr_damaged is 0 and nr_keys
 *     is the number of expected keys.
 * It then appends a RESOLVE record saying how the in-flight call ended,
 * so that the next `work` continues the same history, detaches and prints
 * one TAP line: "ok K - cut K: ..." or "not ok K - cut K: <diagnostic>".
 * Exit status 0 when the contract holds, 1 when not, 2 on setup errors.
 *
 * Eviction is kept out: the log records the workload's own calls, and an
 * eviction is decided by the kernel in the background. One that happened
 * just before the cut is durable (its free header is written with FUA
 * before the keys leave the index) but in no log record, so the checker
 * would report its keys lost. So the workload keeps the used space at or
 * below its budget, and the budget at or below the high watermark (it is
 * lowered to it if the store is too small), where nothing is ever
 * evicted; any eviction is a violation. check attaches at a 100 % high
 * watermark, so that not even a store found above the watermark starts
 * evicting while it is verified.
 */
#include <getopt.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <time.h>

#include "kvb_test.h"

#define NKEYS		1024U		/* the key space of the workload */
#define MAXB		16U		/* keys per OFFLOAD */
#define MAXRM		8U		/* keys per REMOVE */
#define MAXV		(1U << 20)	/* largest value */
#define BLK		4096U
#define REC_MAGIC	0x6873617263627663ULL	/* "cvbcrash" */

enum { R_INTENT = 1, R_ACK, R_RESOLVE, R_SNAP };
enum { OP_FORMAT = 1, OP_OFFLOAD, OP_REMOVE, OP_DELETE };
static const char *const kind_name[] = { "?", "FORMAT", "OFFLOAD", "REMOVE",
					 "DELETE" };
static const char *const type_name[] = { "?", "INTENT", "ACK", "RESOLVE",
					 "SNAP" };

struct rkey {
	uint32_t id;
	int32_t status;		/* INTENT: expected; ACK/RESOLVE: actual */
	uint64_t gen;		/* OFFLOAD: value generation (= op number) */
	uint64_t vlen;
	uint32_t nslices;
	uint32_t pad;
};

/* One log block: the record, zeros, crc32c over the whole block. */
struct rec {
	uint64_t magic;
	uint64_t seq;		/* block number in the log */
	uint32_t crc;
	uint16_t type;		/* R_* */
	uint16_t kind;		/* OP_* */
	uint64_t op;		/* op number, consecutive from 0 */
	uint64_t bucket;	/* OFFLOAD ACK/RESOLVE: new bucket; DELETE */
	int32_t ret;		/* ACK: the ioctl's 0 or -errno */
	uint32_t flags;		/* OFFLOAD: KVB_OFFLOAD_* */
	uint32_t nkeys;
	uint32_t aux;		/* DELETE ACK: nr_keys; RESOLVE: applied */
	uint64_t boot;		/* work session that wrote it */
	uint64_t epoch;		/* compaction generation of the log */
	struct rkey k[MAXB];
};

/*
 * A compacted log starts with R_SNAP blocks: the whole expected state
 * (op = next op number, bucket = highest bucket id, flags = formatted,
 * aux = number of SNAP blocks, nkeys = entries in this block), the
 * entries at SNAP_OFF in the block.
 */
struct snap_ent {
	uint32_t id;
	uint32_t pad;
	uint64_t gen, vlen, bucket;
};

#define SNAP_OFF	1024U
#define SNAP_PER	((BLK - SNAP_OFF) / sizeof(struct snap_ent))
_Static_assert(sizeof(struct rec) <= SNAP_OFF, "log record too large");

struct kstate {
	bool present;
	uint64_t gen, vlen, bucket;
	int64_t seq;		/* log record that set this state, -1: none */
};

/* The store as the log says it must be. */
static struct kstate model[NKEYS];
static bool formatted;
static uint64_t next_op, max_bucket, boots;
static struct rec *recs;	/* every valid record */
static uint64_t nrec, log_cap;	/* valid records; blocks in the log */
static uint64_t epoch;		/* of the log's valid records */
static int64_t pending = -1;	/* seq of an INTENT without ACK/RESOLVE */

static const char *data_dev, *log_dev;
static int log_fd = -1;
static void *blkbuf;
static uint64_t rng;

static char keys[NKEYS][256];
static uint32_t klens[NKEYS];

static uint64_t rnd(void)
{
	return splitmix64(&rng);
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static void make_keys(void)
{
	unsigned int i;

	for (i = 0; i < NKEYS; i++) {
		int n = snprintf(keys[i], sizeof(keys[i]), "crash/%04u/", i);
		unsigned int pad = (i * 37) % 200;

		memset(keys[i] + n, 'a' + i % 26, pad);
		klens[i] = n + pad;
	}
}

static uint64_t seed_of(uint32_t id, uint64_t gen)
{
	return key_seed(keys[id], klens[id], gen);
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stdout, "kvb_crash: error: ");
	vfprintf(stdout, fmt, ap);
	fprintf(stdout, "\n");
	va_end(ap);
	fflush(stdout);
	exit(2);
}

/* ---- the log ------------------------------------------------------- */

static uint32_t rec_crc(const void *blk)
{
	struct rec r;
	uint32_t c;

	memcpy(&r, blk, sizeof(r));
	r.crc = 0;
	c = kvb_crc32c(0, &r, sizeof(r));
	return kvb_crc32c(c, (const char *)blk + sizeof(r), BLK - sizeof(r));
}

static void rec_print(const char *prefix, const struct rec *r)
{
	unsigned int i;

	if (r->type == R_SNAP) {
		printf("%slog[%" PRIu64 "] SNAP epoch %" PRIu64 " (%u of %u): next op %"
		       PRIu64 ", %u keys\n", prefix, r->seq, r->epoch,
		       (unsigned int)r->seq + 1, r->aux, r->op, r->nkeys);
		return;
	}
	printf("%slog[%" PRIu64 "] boot %" PRIu64 " op %" PRIu64 " %s %s",
	       prefix, r->seq, r->boot, r->op,
	       type_name[r->type < 5 ? r->type : 0],
	       kind_name[r->kind < 5 ? r->kind : 0]);
	if (r->flags & KVB_OFFLOAD_REPLACE)
		printf(" REPLACE");
	if (r->bucket)
		printf(" bucket %" PRIu64, r->bucket);
	if (r->type == R_ACK)
		printf(" ret %d", r->ret);
	if (r->type == R_RESOLVE || (r->type == R_ACK && r->kind == OP_DELETE))
		printf(" aux %u", r->aux);
	if (r->nkeys)
		printf(" keys:");
	for (i = 0; i < r->nkeys && i < MAXB; i++) {
		printf(" %u/%d", r->k[i].id, r->k[i].status);
		if (r->kind == OP_OFFLOAD)
			printf("/len %" PRIu64 "/%u sl", r->k[i].vlen,
			       r->k[i].nslices);
	}
	printf("\n");
}

/* The records around seq (a few before, all after up to the end). */
static void log_context(int64_t seq)
{
	int64_t i, from = seq - 6 < 0 ? 0 : seq - 6;

	printf("# log records %" PRId64 "..%" PRIu64 " (of %" PRIu64 "):\n",
	       from, nrec ? nrec - 1 : 0, nrec);
	for (i = from; i < (int64_t)nrec && i < seq + 8; i++)
		rec_print("#   ", &recs[i]);
	if (seq + 8 < (int64_t)nrec) {
		printf("#   ...\n");
		rec_print("#   ", &recs[nrec - 1]);
	}
}

static void log_open(void)
{
	uint64_t size;

	log_fd = open(log_dev, O_RDWR | O_DIRECT | O_SYNC | O_CLOEXEC);
	if (log_fd < 0)
		die("open %s: %s", log_dev, strerror(errno));
	if (ioctl(log_fd, BLKGETSIZE64, &size))
		die("BLKGETSIZE64 %s: %s", log_dev, strerror(errno));
	log_cap = size / BLK;
	if (posix_memalign(&blkbuf, BLK, 1U << 20))
		die("out of memory");
}

static void replay(const struct rec *r);

/* Read every valid record, stopping at the first invalid block. */
static void log_read(void)
{
	uint64_t pos = 0, cap = 0;
	bool end = false;

	while (!end && pos < log_cap) {
		size_t want = (log_cap - pos) * BLK;
		ssize_t n;
		size_t off;

		if (want > (1U << 20))
			want = 1U << 20;
		n = pread(log_fd, blkbuf, want, pos * BLK);
		if (n < (ssize_t)BLK)
			die("read %s at %" PRIu64 ": %s", log_dev, pos * BLK,
			    n < 0 ? strerror(errno) : "short read");
		for (off = 0; off + BLK <= (size_t)n; off += BLK, pos++) {
			const struct rec *r = (void *)((char *)blkbuf + off);

			if (pos == 0 && r->magic == REC_MAGIC)
				epoch = r->epoch;
			if (r->magic != REC_MAGIC || r->seq != pos ||
			    r->epoch != epoch || r->crc != rec_crc(r) ||
			    r->nkeys > (r->type == R_SNAP ? SNAP_PER : MAXB)) {
				end = true;
				break;
			}
			if (nrec == cap) {
				cap = cap ? 2 * cap : 1024;
				recs = realloc(recs, cap * sizeof(*recs));
				if (!recs)
					die("out of memory");
			}
			recs[nrec++] = *r;
			replay(r);
		}
	}
}

static void log_append(struct rec *r)
{
	ssize_t n;

	if (nrec >= log_cap) {
		printf("kvb_crash: the log is full (%" PRIu64 " records): idle\n",
		       nrec);
		fflush(stdout);
		for (;;)
			pause();
	}
	r->magic = REC_MAGIC;
	r->seq = nrec;
	r->boot = boots;
	r->epoch = epoch;
	memset(blkbuf, 0, BLK);
	memcpy(blkbuf, r, sizeof(*r));
	((struct rec *)blkbuf)->crc = 0;
	r->crc = rec_crc(blkbuf);
	((struct rec *)blkbuf)->crc = r->crc;
	n = pwrite(log_fd, blkbuf, BLK, nrec * BLK);
	if (n != BLK)
		die("write %s: %s", log_dev, n < 0 ? strerror(errno) : "short");
	recs = realloc(recs, (nrec + 1) * sizeof(*recs));
	if (!recs)
		die("out of memory");
	recs[nrec++] = *r;
	replay(r);
}

/* ---- the model ----------------------------------------------------- */

static void log_bad(const struct rec *r, const char *why)
{
	printf("not ok 1 - log is inconsistent: %s\n", why);
	rec_print("# ", r);
	fflush(stdout);
	exit(1);
}

static void set_key(uint32_t id, bool present, uint64_t gen, uint64_t vlen,
		    uint64_t bucket, uint64_t seq)
{
	model[id].present = present;
	model[id].gen = gen;
	model[id].vlen = vlen;
	model[id].bucket = bucket;
	model[id].seq = (int64_t)seq;
}

/* Apply an OFFLOAD (intent rec i) that wrote its keys into bucket. */
static void apply_offload(const struct rec *in, uint64_t bucket,
			  const struct rec *r)
{
	unsigned int i;

	for (i = 0; i < in->nkeys; i++)
		if (r->k[i].status == 0)
			set_key(in->k[i].id, true, in->k[i].gen, in->k[i].vlen,
				bucket, r->seq);
	if (bucket > max_bucket)
		max_bucket = bucket;
}

static void apply_delete(uint64_t bucket, uint64_t seq)
{
	unsigned int i;

	for (i = 0; i < NKEYS; i++)
		if (model[i].present && model[i].bucket == bucket)
			set_key(i, false, 0, 0, 0, seq);
}

static void replay(const struct rec *r)
{
	const struct rec *in = pending >= 0 ? &recs[pending] : NULL;
	unsigned int i;

	if (r->type == R_SNAP) {	/* r is the whole block */
		const struct snap_ent *e = (const void *)((const char *)r + SNAP_OFF);

		if (in || r->seq >= r->aux)
			log_bad(r, "SNAP record after the snapshot");
		if (r->seq == 0) {
			formatted = r->flags;
			next_op = r->op;
			max_bucket = r->bucket;
			boots = r->boot;
		}
		for (i = 0; i < r->nkeys; i++) {
			if (e[i].id >= NKEYS)
				log_bad(r, "SNAP entry out of range");
			set_key(e[i].id, true, e[i].gen, e[i].vlen,
				e[i].bucket, r->seq);
		}
		return;
	}
	if (nrec && recs[0].type == R_SNAP && r->seq < recs[0].aux)
		log_bad(r, "snapshot cut short");
	if (r->type == R_INTENT) {
		if (in)
			log_bad(r, "INTENT while an earlier op is unresolved");
		if (r->op != next_op)
			log_bad(r, "op numbers are not consecutive");
		next_op++;
		pending = (int64_t)r->seq;
		if (r->boot > boots)
			boots = r->boot;
		return;
	}
	if (!in || in->op != r->op || in->kind != r->kind ||
	    (r->type != R_ACK && r->type != R_RESOLVE))
		log_bad(r, "ACK/RESOLVE of no pending op");
	pending = -1;
	if (r->type == R_ACK && r->ret)
		return;		/* failed call: the store is unchanged */
	if (r->type == R_RESOLVE && !r->aux && r->kind != OP_REMOVE)
		return;		/* the call did not happen */
	switch (r->kind) {
	case OP_FORMAT:
		formatted = true;
		max_bucket = 0;
		for (i = 0; i < NKEYS; i++)
			set_key(i, false, 0, 0, 0, r->seq);
		break;
	case OP_OFFLOAD:
		apply_offload(in, r->bucket, r);
		break;
	case OP_REMOVE:
		for (i = 0; i < in->nkeys; i++)
			if (r->k[i].status == 0)
				set_key(in->k[i].id, false, 0, 0, 0, r->seq);
		break;
	case OP_DELETE:
		apply_delete(in->bucket, r->seq);
		break;
	}
}

static unsigned int model_count(void)
{
	unsigned int i, n = 0;

	for (i = 0; i < NKEYS; i++)
		n += model[i].present;
	return n;
}

/* ---- store access -------------------------------------------------- */

static int ctl = -1, sfd = -1;
static uint32_t store_id;

/* frozen: at a 100 % high watermark, where nothing is evicted */
static int do_attach(uint32_t flags, bool frozen)
{
	struct kvb_attach a;
	int ret;

	ctl = ctl_open();
	if (ctl < 0)
		die("open %s: %s", KVB_CONTROL_PATH, strerror(errno));
	attach_init(&a, data_dev, flags);
	if (frozen) {
		a.high_watermark = 100;
		a.low_watermark = 99;
	}
	ret = kvb_ioctl(ctl, KVB_IOC_ATTACH, &a);
	if (ret)
		return ret;
	store_id = a.id;
	sfd = store_open(store_id);
	if (sfd < 0)
		die("open store %u: %s", store_id, strerror(errno));
	return 0;
}

/* QUERY every key of the key space: st[i], d[i] for key i. */
static void query_all(struct kvb_obj_desc *d)
{
	unsigned int i;
	int ret;

	for (i = 0; i < NKEYS; i++)
		kvb_desc_init(&d[i], keys[i], klens[i], NULL, 0);
	ret = st_batch(sfd, KVB_IOC_QUERY, d, NKEYS, 0, NULL);
	if (ret)
		die("QUERY: %s", strerror(-ret));
}

/* LOAD key id (expecting gen, vlen) in up to 4 slices: 0, status, -EILSEQ. */
static int load_verify(uint32_t id, uint64_t gen, uint64_t vlen, long *bad)
{
	struct kvb_slice s[4];
	struct kvb_obj_desc d;
	unsigned int n = 1 + id % 4, i;
	uint64_t off = 0;
	char *v;
	int ret;

	*bad = -1;
	if (n > vlen)
		n = vlen;
	v = malloc(vlen);
	if (!v)
		die("out of memory");
	memset(v, 0x5a, vlen);
	for (i = 0; i < n; i++) {
		uint64_t len = i + 1 < n ? vlen / n : vlen - off;

		kvb_slice_init(&s[i], v + off, len);
		off += len;
	}
	kvb_desc_init(&d, keys[id], klens[id], s, n);
	ret = st_batch(sfd, KVB_IOC_LOAD, &d, 1, 0, NULL);
	if (!ret)
		ret = d.status;
	if (!ret && d.value_len != vlen)
		ret = -EMSGSIZE;
	if (!ret) {
		*bad = check_value(seed_of(id, gen), v, vlen);
		if (*bad >= 0)
			ret = -EILSEQ;
	}
	free(v);
	return ret;
}

/* ---- work ---------------------------------------------------------- */

static void violation(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("kvb_crash: VIOLATION: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	log_context((int64_t)nrec - 1);
	fflush(stdout);
	exit(1);
}

static uint64_t pick_present(void)
{
	unsigned int n = model_count(), k, i;

	if (!n)
		return NKEYS;
	k = rnd_below(n);
	for (i = 0; i < NKEYS; i++)
		if (model[i].present && !k--)
			return i;
	return NKEYS;
}

static void op_offload(void)
{
	static char *vals[MAXB];
	struct kvb_slice sl[MAXB * 8];
	struct kvb_obj_desc d[MAXB];
	struct kvb_batch b;
	struct rec r = { .type = R_INTENT, .kind = OP_OFFLOAD };
	unsigned int n = 1 + rnd_below(MAXB), i, j, ns = 0;
	bool chosen[NKEYS] = { false };
	int ret;

	r.op = next_op;
	r.flags = rnd_below(4) == 0 ? KVB_OFFLOAD_REPLACE : 0;
	for (i = 0; i < n; i++) {
		struct rkey *k = &r.k[i];
		uint64_t id;

		do {
			id = rnd_below(3) == 0 ? pick_present() : NKEYS;
			if (id >= NKEYS)
				id = rnd_below(NKEYS);
		} while (chosen[id]);
		chosen[id] = true;
		k->id = id;
		k->gen = r.op;
		k->vlen = 1 + rnd_below(1ULL << rnd_below(21));
		k->nslices = 1 + rnd_below(k->vlen < 8 ? k->vlen : 8);
		k->status = model[id].present && !r.flags ? -EEXIST : 0;
	}
	r.nkeys = n;
	for (i = 0; i < n; i++) {
		const struct rkey *k = &r.k[i];
		uint64_t off = 0;

		if (!vals[i])
			vals[i] = malloc(MAXV);
		if (!vals[i])
			die("out of memory");
		fill_value(seed_of(k->id, k->gen), vals[i], k->vlen);
		for (j = 0; j < k->nslices; j++) {
			uint64_t len = j + 1 < k->nslices ?
				1 + rnd_below(k->vlen - off - (k->nslices - j - 1)) :
				k->vlen - off;

			kvb_slice_init(&sl[ns + j], vals[i] + off, len);
			off += len;
		}
		kvb_desc_init(&d[i], keys[k->id], klens[k->id], &sl[ns],
			      k->nslices);
		ns += k->nslices;
	}
	log_append(&r);
	ret = st_batch(sfd, KVB_IOC_OFFLOAD, d, n, r.flags, &b);
	r.type = R_ACK;
	r.ret = ret;
	r.bucket = ret ? 0 : b.bucket_id;
	for (i = 0; i < n && !ret; i++) {
		if (d[i].status != r.k[i].status)
			violation("OFFLOAD op %" PRIu64 ": key %u status %d, expected %d",
				  r.op, r.k[i].id, d[i].status, r.k[i].status);
		if (!d[i].status && d[i].bucket_id != b.bucket_id)
			violation("OFFLOAD op %" PRIu64 ": key %u in bucket %" PRIu64
				  ", batch bucket %" PRIu64, r.op, r.k[i].id,
				  (uint64_t)d[i].bucket_id, (uint64_t)b.bucket_id);
		r.k[i].status = d[i].status;
	}
	if (!ret && b.bucket_id && b.bucket_id <= max_bucket)
		violation("OFFLOAD op %" PRIu64 ": new bucket id %" PRIu64
			  " not above %" PRIu64 " (ids handed out twice?)",
			  r.op, (uint64_t)b.bucket_id, max_bucket);
	/*
	 * A full store evicts instead of failing: ENOSPC only for a bucket
	 * larger than the whole store (a tiny data image). Below the high
	 * watermark nothing waits for room either (no EAGAIN).
	 */
	if (ret && !(ret == -ENOSPC && b.limit == KVB_LIMIT_CAPACITY))
		violation("OFFLOAD op %" PRIu64 ": %s (limit %u)", r.op,
			  strerror(-ret), b.limit);
	log_append(&r);
}

static void op_remove(void)
{
	struct kvb_obj_desc d[MAXRM];
	struct rec r = { .type = R_INTENT, .kind = OP_REMOVE };
	unsigned int n = 1 + rnd_below(MAXRM), i;
	bool chosen[NKEYS] = { false };
	int ret;

	r.op = next_op;
	for (i = 0; i < n; i++) {
		uint64_t id;

		do {
			id = rnd_below(5) ? pick_present() : NKEYS;
			if (id >= NKEYS)
				id = rnd_below(NKEYS);
		} while (chosen[id]);
		chosen[id] = true;
		r.k[i].id = id;
		r.k[i].status = model[id].present ? 0 : -ENOENT;
		kvb_desc_init(&d[i], keys[id], klens[id], NULL, 0);
	}
	r.nkeys = n;
	log_append(&r);
	ret = st_batch(sfd, KVB_IOC_REMOVE, d, n, 0, NULL);
	if (ret)
		violation("REMOVE op %" PRIu64 ": %s", r.op, strerror(-ret));
	for (i = 0; i < n; i++)
		if (d[i].status != r.k[i].status)
			violation("REMOVE op %" PRIu64 ": key %u status %d, expected %d",
				  r.op, r.k[i].id, d[i].status, r.k[i].status);
	r.type = R_ACK;
	log_append(&r);
}

static void op_delete(void)
{
	struct rec r = { .type = R_INTENT, .kind = OP_DELETE };
	uint64_t id = pick_present();
	uint32_t nr = 0, expect = 0, i;
	int ret;

	if (id >= NKEYS)
		return;
	r.op = next_op;
	r.bucket = model[id].bucket;
	for (i = 0; i < NKEYS; i++)
		expect += model[i].present && model[i].bucket == r.bucket;
	r.aux = expect;
	log_append(&r);
	ret = st_delete(sfd, r.bucket, &nr);
	if (ret)
		violation("DELETE_BUCKET op %" PRIu64 " bucket %" PRIu64 ": %s",
			  r.op, r.bucket, strerror(-ret));
	if (nr != expect)
		violation("DELETE_BUCKET op %" PRIu64 " bucket %" PRIu64
			  ": nr_keys %u, expected %u", r.op, r.bucket, nr, expect);
	r.type = R_ACK;
	r.aux = nr;
	log_append(&r);
}

static int do_work(uint64_t seed, uint64_t budget)
{
	struct kvb_store_info info;
	uint64_t ops = 0;
	int ret;

	if (pending >= 0 && recs[pending].kind != OP_FORMAT)
		die("the log ends with an unresolved op: run check first");
	boots++;
	rng = seed ^ (nrec * 0x9e3779b97f4a7c15ULL);
	if (!formatted) {
		struct rec r = { .type = R_INTENT, .kind = OP_FORMAT };

		if (pending >= 0) {	/* an interrupted FORMAT */
			r = recs[pending];
			r.type = R_RESOLVE;
			r.aux = 0;
			log_append(&r);
			r.type = R_INTENT;
		}
		r.op = next_op;
		log_append(&r);
		ret = do_attach(KVB_ATTACH_FORMAT, false);
		if (ret)
			die("attach --format %s: %s", data_dev, strerror(-ret));
		r.type = R_ACK;
		log_append(&r);
	} else {
		ret = do_attach(0, false);
		if (ret)
			die("attach %s: %s", data_dev, strerror(-ret));
	}
	if (st_info(sfd, &info))
		die("STORE_INFO: %s", strerror(errno));
	/* below the high watermark: no eviction (see the top) */
	if (budget << 20 > info.capacity_bytes / 100 * info.high_watermark) {
		uint64_t b = info.capacity_bytes / 100 * info.high_watermark >> 20;

		printf("kvb_crash: budget %" PRIu64 " MiB lowered to %" PRIu64
		       " MiB, %u %% of the store, its high watermark\n",
		       budget, b, info.high_watermark);
		if (b < 24)
			die("a data device of %" PRIu64 " MiB is too small",
			    (uint64_t)info.capacity_bytes >> 20);
		budget = b;
	}
	if (info.nr_keys != model_count())
		violation("after attach: %" PRIu64 " keys, the log says %u",
			  (uint64_t)info.nr_keys, model_count());
	printf("kvb_crash: working (boot %" PRIu64 ", log at %" PRIu64
	       ", %u keys, %" PRIu64 " MiB used)\n", boots, nrec,
	       model_count(), (uint64_t)info.used_bytes >> 20);
	fflush(stdout);
	for (;; ops++) {
		unsigned int r = rnd_below(100);

		if (st_info(sfd, &info))
			die("STORE_INFO: %s", strerror(errno));
		if (info.nr_evicted)
			violation("%" PRIu64 " buckets evicted with %" PRIu64
				  " of %" PRIu64 " bytes used (budget %" PRIu64
				  " MiB): the log cannot say which",
				  (uint64_t)info.nr_evicted,
				  (uint64_t)info.used_bytes,
				  (uint64_t)info.capacity_bytes, budget);
		if (info.used_bytes > (budget << 20) && !model_count())
			violation("%" PRIu64 " bytes used with no key stored",
				  (uint64_t)info.used_bytes);
		if (info.used_bytes + (17ULL << 20) > budget << 20 ||
		    r < 15)
			op_delete();
		else if (r < 35)
			op_remove();
		else
			op_offload();
		if (ops % 8 == 7) {	/* a read now and then */
			uint64_t id = pick_present();
			long bad;

			if (id < NKEYS) {
				ret = load_verify(id, model[id].gen,
						  model[id].vlen, &bad);
				if (ret)
					violation("LOAD of key %" PRIu64 " (log[%" PRId64
						  "]): %d, first bad byte %ld",
						  id, model[id].seq, ret, bad);
			}
		}
	}
	return 0;
}

/* ---- log compaction ------------------------------------------------ */

/*
 * Rewrite the log as a snapshot of the expected state (a new epoch), so
 * that it never fills up however long the run. Only check does it, after
 * a successful verification and before the workload (and so the next
 * cut) starts.
 */
static void compact(void)
{
	unsigned int nb = (model_count() + SNAP_PER - 1) / SNAP_PER, b, id = 0;
	uint64_t old = nrec;

	if (!nb)
		nb = 1;
	epoch++;
	for (b = 0; b < nb; b++) {
		struct rec *r = blkbuf;
		struct snap_ent *e = (void *)((char *)blkbuf + SNAP_OFF);
		unsigned int n = 0;

		memset(blkbuf, 0, BLK);
		r->magic = REC_MAGIC;
		r->seq = b;
		r->epoch = epoch;
		r->type = R_SNAP;
		r->op = next_op;
		r->bucket = max_bucket;
		r->flags = formatted;
		r->boot = boots;
		r->aux = nb;
		for (; id < NKEYS && n < SNAP_PER; id++) {
			if (!model[id].present)
				continue;
			e[n].id = id;
			e[n].gen = model[id].gen;
			e[n].vlen = model[id].vlen;
			e[n].bucket = model[id].bucket;
			model[id].seq = b;
			n++;
		}
		r->nkeys = n;
		r->crc = rec_crc(blkbuf);
		if (pwrite(log_fd, blkbuf, BLK, (uint64_t)b * BLK) != BLK)
			die("write %s: %s", log_dev, strerror(errno));
		recs[b] = *r;
	}
	for (id = 0; id < NKEYS; id++)
		if (!model[id].present)
			model[id].seq = -1;
	nrec = nb;
	printf("# log compacted: %" PRIu64 " records -> %u (epoch %" PRIu64 ")\n",
	       old, nb, epoch);
}

/* ---- check --------------------------------------------------------- */

static unsigned int cut = 1;
static bool rerun;	/* checking again after a check: the store is clean */
static char why[1024];

/* The first violation is the TAP diagnostic; the first 20 are shown. */
static void fail(int64_t seq, const char *fmt, ...)
{
	static unsigned int nr;
	char msg[sizeof(why)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (++nr > 20)
		return;
	printf("# VIOLATION: %s\n", msg);
	if (!why[0]) {
		memcpy(why, msg, sizeof(why));
		if (seq >= 0)
			log_context(seq);
	}
}

/* Run kvbucket-inspect --check DEV; its output is shown only on failure. */
static void inspect_check(void)
{
	int p[2], status;
	char buf[65536];
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	if (pipe(p))
		die("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (!pid) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		execlp("kvbucket-inspect", "kvbucket-inspect", "--check",
		       data_dev, (char *)NULL);
		fprintf(stderr, "exec kvbucket-inspect: %s\n", strerror(errno));
		_exit(127);
	}
	close(p[1]);
	/* keep the end of the output */
	while ((n = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0) {
		len += n;
		if (len > sizeof(buf) / 2) {
			memmove(buf, buf + len / 2, len - len / 2);
			len -= len / 2;
		}
	}
	close(p[0]);
	buf[len] = 0;
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		char *line, *save = NULL;

		for (line = strtok_r(buf, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save))
			if (!strstr(line, " keys live,"))
				printf("#   inspect: %s\n", line);
		fail(-1, "kvbucket-inspect --check %s failed (status 0x%x)",
		     data_dev, status);
	}
}

static const char *st_str(int st)
{
	static char b[4][32];
	static int i;

	i = (i + 1) % 4;
	if (!st)
		return "present";
	snprintf(b[i], sizeof(b[i]), "%s", strerror(-st));
	return b[i];
}

/* Does key i as found (d) match state s? */
static bool matches(const struct kvb_obj_desc *d, const struct kstate *s)
{
	if (!s->present)
		return d->status == -ENOENT;
	return d->status == 0 && d->value_len == s->vlen &&
	       d->bucket_id == s->bucket;
}

static void describe(char *b, size_t len, const struct kstate *s)
{
	if (s->present)
		snprintf(b, len, "present, %" PRIu64 " bytes gen %" PRIu64
			 " in bucket %" PRIu64, s->vlen, s->gen, s->bucket);
	else
		snprintf(b, len, "absent");
}

static void found(char *b, size_t len, const struct kvb_obj_desc *d)
{
	if (d->status)
		snprintf(b, len, "%s", st_str(d->status));
	else
		snprintf(b, len, "present, %" PRIu64 " bytes in bucket %" PRIu64,
			 (uint64_t)d->value_len, (uint64_t)d->bucket_id);
}

static int do_check(void)
{
	static struct kvb_obj_desc d[NKEYS];
	static struct kstate expect[NKEYS];
	const struct rec *in = pending >= 0 ? &recs[pending] : NULL;
	struct rec res = { 0 };
	struct kvb_store_info info;
	unsigned int i, nexp = 0, nold = 0, nnew = 0, loaded = 0;
	uint64_t new_bucket = 0, bytes = 0;
	char e[160], f[160];
	int ret;

	printf("# cut %u: %" PRIu64 " log records, %" PRIu64 " ops, %u keys expected%s%s%s\n",
	       cut, nrec, next_op, model_count(),
	       in ? ", in flight: " : "", in ? kind_name[in->kind] : "",
	       in ? (in->flags & KVB_OFFLOAD_REPLACE ? " REPLACE" : "") : "");
	if (in)
		rec_print("#   in flight: ", in);
	if (in && in->kind == OP_FORMAT) {
		res = *in;
		res.type = R_RESOLVE;
		res.aux = 0;
		log_append(&res);
		printf("ok %u - cut %u: cut during FORMAT, nothing to check\n",
		       cut, cut);
		return 0;
	}
	if (!formatted) {
		printf("ok %u - cut %u: store not formatted yet, nothing to check\n",
		       cut, cut);
		return 0;
	}

	inspect_check();
	ret = do_attach(rerun ? KVB_ATTACH_SCAN : 0, true);
	if (ret) {
		fail(nrec - 1, "attach %s: %s", data_dev, strerror(-ret));
		goto out;
	}
	if (st_info(sfd, &info))
		die("STORE_INFO: %s", strerror(errno));
	printf("# attach: %s, %" PRIu64 " ms, %" PRIu64 " keys, %" PRIu64
	       " buckets, %" PRIu64 " torn, %" PRIu64 " damaged\n",
	       info.flags & KVB_INFO_WARM ? "warm" : "cold",
	       (uint64_t)info.attach_ns / 1000000, (uint64_t)info.nr_keys,
	       (uint64_t)info.nr_buckets, (uint64_t)info.nr_torn,
	       (uint64_t)info.nr_damaged);
	if (info.nr_damaged)
		fail(nrec - 1, "attach found %" PRIu64 " damaged buckets",
		     (uint64_t)info.nr_damaged);
	if ((info.flags & KVB_INFO_WARM) && !rerun)
		fail(nrec - 1, "warm attach after a power cut (the superblock was DIRTY)");

	query_all(d);
	memcpy(expect, model, sizeof(expect));

	/* The call in flight: which outcome did the store pick? */
	if (in && in->kind == OP_OFFLOAD) {
		for (i = 0; i < in->nkeys; i++) {
			const struct rkey *k = &in->k[i];
			struct kstate ns = { true, k->gen, k->vlen, 0, in->seq };

			if (k->status)
				continue;	/* skipped: stays as it was */
			ns.bucket = d[k->id].bucket_id;
			if (matches(&d[k->id], &model[k->id])) {
				nold++;
			} else if (d[k->id].status == 0 &&
				   d[k->id].value_len == k->vlen &&
				   d[k->id].bucket_id > max_bucket &&
				   (!new_bucket || new_bucket == d[k->id].bucket_id)) {
				nnew++;
				new_bucket = d[k->id].bucket_id;
				expect[k->id] = ns;
			} else {
				describe(e, sizeof(e), &model[k->id]);
				found(f, sizeof(f), &d[k->id]);
				fail(in->seq, "key %u of the in-flight OFFLOAD op %" PRIu64
				     ": expected its old state (%s) or the new value (%" PRIu64
				     " bytes gen %" PRIu64 " in a new bucket above %" PRIu64
				     "), found %s", k->id, in->op, e, k->vlen, k->gen,
				     max_bucket, f);
			}
		}
		if (nold && nnew)
			fail(in->seq, "torn OFFLOAD op %" PRIu64 ": %u keys written to bucket %"
			     PRIu64 ", %u keys not (all or nothing)", in->op, nnew,
			     new_bucket, nold);
		res.aux = nnew > 0;
		res.bucket = new_bucket;
		for (i = 0; i < in->nkeys; i++)
			res.k[i].status = in->k[i].status ? in->k[i].status :
					  nnew ? 0 : -ENOENT;
	} else if (in && in->kind == OP_REMOVE) {
		for (i = 0; i < in->nkeys; i++) {
			uint32_t id = in->k[i].id;

			res.k[i].status = -ENOENT;
			if (!model[id].present || matches(&d[id], &model[id]))
				continue;
			if (d[id].status == -ENOENT) {
				expect[id].present = false;
				res.k[i].status = 0;
				res.aux = 1;
			}	/* else: reported by the loop below */
		}
	} else if (in && in->kind == OP_DELETE) {
		for (i = 0; i < NKEYS; i++) {
			if (!model[i].present || model[i].bucket != in->bucket)
				continue;
			if (matches(&d[i], &model[i])) {
				nold++;
			} else if (d[i].status == -ENOENT) {
				nnew++;
				expect[i].present = false;
			}
		}
		if (nold && nnew)
			fail(in->seq, "torn DELETE_BUCKET op %" PRIu64 " of bucket %" PRIu64
			     ": %u keys deleted, %u still there", in->op,
			     in->bucket, nnew, nold);
		res.aux = nnew > 0;
	}

	/* Every key of the key space against its expected state. */
	for (i = 0; i < NKEYS; i++) {
		nexp += expect[i].present;
		if (matches(&d[i], &expect[i]))
			continue;
		describe(e, sizeof(e), &expect[i]);
		found(f, sizeof(f), &d[i]);
		fail(expect[i].seq, "key %u ('%.16s...'): expected %s (log[%" PRId64
		     "]), found %s", i, keys[i], e, expect[i].seq, f);
	}
	if (info.nr_keys != nexp)
		fail(nrec - 1, "STORE_INFO.nr_keys %" PRIu64 ", expected %u",
		     (uint64_t)info.nr_keys, nexp);

	/* Every expected value, byte for byte. */
	for (i = 0; i < NKEYS; i++) {
		long bad;

		if (!expect[i].present || d[i].status)
			continue;
		ret = load_verify(i, expect[i].gen, expect[i].vlen, &bad);
		loaded++;
		bytes += expect[i].vlen;
		if (ret == -EILSEQ)
			fail(expect[i].seq, "LOAD of key %u: wrong bytes from offset %ld "
			     "(expected gen %" PRIu64 ", %" PRIu64 " bytes, log[%" PRId64 "])",
			     i, bad, expect[i].gen, expect[i].vlen, expect[i].seq);
		else if (ret)
			fail(expect[i].seq, "LOAD of key %u (%" PRIu64 " bytes, log[%" PRId64
			     "]): %s", i, expect[i].vlen, expect[i].seq, st_str(ret));
	}
	/* at 100 %: nothing may have gone while it was compared */
	if (st_info(sfd, &info))
		die("STORE_INFO: %s", strerror(errno));
	if (info.nr_evicted)
		fail(nrec - 1, "%" PRIu64 " buckets evicted during the check",
		     (uint64_t)info.nr_evicted);
	ret = ctl_detach(ctl, store_id);
	if (ret)
		fail(-1, "detach: %s", strerror(-ret));

out:
	if (why[0]) {
		printf("not ok %u - cut %u: %s\n", cut, cut, why);
		return 1;
	}
	if (in) {
		res.type = R_RESOLVE;
		res.kind = in->kind;
		res.op = in->op;
		res.nkeys = in->nkeys;
		res.flags = in->flags;
		if (in->kind == OP_DELETE)
			res.bucket = in->bucket;
		for (i = 0; i < in->nkeys; i++) {
			res.k[i].id = in->k[i].id;
			res.k[i].gen = in->k[i].gen;
			res.k[i].vlen = in->k[i].vlen;
		}
		log_append(&res);
	}
	if (nrec > log_cap / 2)
		compact();
	printf("ok %u - cut %u: %u keys (%" PRIu64 " MiB) verified after %" PRIu64
	       " ops%s%s%s\n", cut, cut, loaded, bytes >> 20, next_op,
	       in ? "; in-flight " : "", in ? kind_name[in->kind] : "",
	       in ? (res.aux ? " happened" : " did not happen") : "");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "log", required_argument, NULL, 'l' },
		{ "seed", required_argument, NULL, 's' },
		{ "budget", required_argument, NULL, 'b' },
		{ "cut", required_argument, NULL, 'c' },
		{ "rerun", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t seed = (uint64_t)time(NULL), budget = 64;
	const char *mode;
	int c, ret;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data_dev = optarg; break;
		case 'l': log_dev = optarg; break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'b': budget = strtoull(optarg, NULL, 0); break;
		case 'c': cut = strtoul(optarg, NULL, 0); break;
		case 'r': rerun = true; break;
		default: goto usage;
		}
	}
	if (optind + 1 != argc || !data_dev || !log_dev || budget < 24)
		goto usage;
	mode = argv[optind];
	setvbuf(stdout, NULL, _IOLBF, 0);
	make_keys();
	for (c = 0; c < (int)NKEYS; c++)
		model[c].seq = -1;
	log_open();
	log_read();
	if (!strcmp(mode, "work"))
		return do_work(seed, budget);
	if (!strcmp(mode, "check")) {
		ret = do_check();
		return ret;
	}
usage:
	fprintf(stderr, "usage: kvb_crash check|work --data DEV --log DEV [--seed S] [--budget MIB] [--cut K] [--rerun]\n");
	return 2;
}
