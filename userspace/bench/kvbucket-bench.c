// SPDX-License-Identifier: GPL-2.0
/*
 * kvbucket-bench: db_bench-style workloads on a kvbucket store (see
 * bench.h and --help), with two engines:
 *
 *   ioctl  libkvbucket's synchronous calls: one batch in flight per
 *          thread (--threads for more)
 *   uring  io_uring commands on the store device, prepared with
 *          libkvbucket's kvb_ring_init() and kvb_prep_offload/query/load():
 *          --qd batches in flight per thread. Needs KVB_FEAT_URING_CMD;
 *          without it the engine is skipped (exit status 77) with a
 *          message saying why.
 *
 * The store is either attached here (--device, formatted unless
 * --use_existing, detached at the end) or an attached one (--store).
 * Value buffers are 4096-aligned and a multiple of 4096 bytes long, the
 * conditions under which the module can do I/O straight from them.
 */
#include <errno.h>
#include <inttypes.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "libkvbucket.h"

static struct {
	const struct bench_opts *o;
	struct kvb_store *st;
	uint32_t id;
	bool attached;			/* by us: detach at the end */
} kv;

/* Per slot: the kernel's view of the batch. */
struct kv_slot {
	struct kvb_batch batch;
	struct kvb_obj_desc descs[BENCH_MAX_BATCH];
	struct kvb_slice slices[BENCH_MAX_BATCH];
};

/* Per thread. */
struct kv_thread {
	struct io_uring ring;		/* uring */
	bool ring_ready;
	struct bench_slot *done;	/* ioctl: the call submit() made */
};

static int kv_attach(const struct bench_opts *o)
{
	struct kvb_attach_opts ao = { 0 };
	uint64_t bucket_bytes = (uint64_t)o->batch * o->value_size;
	int ret;

	if (!o->use_existing) {
		ao.flags |= KVB_ATTACH_FORMAT;
		ao.chunk_size = o->chunk_size;
	}
	if (o->volatile_)
		ao.flags |= KVB_ATTACH_VOLATILE;
	/* a batch must fit in one bucket */
	if (o->batch > KVB_DEFAULT_KEYS_PER_BUCKET)
		ao.max_keys_per_bucket = o->batch;
	if (bucket_bytes > KVB_DEFAULT_BUCKET_BYTES)
		ao.max_bucket_bytes = bucket_bytes;
	ret = kvb_attach(o->device, &ao, &kv.id);
	if (ret < 0) {
		bench_err("attach %s: %s%s", o->device, strerror(-ret),
			  ret == -EBUSY ? " (attached already? use --store)" :
			  "");
		return ret;
	}
	kv.attached = true;
	return 0;
}

static int kv_setup(const struct bench_opts *o)
{
	char *end;
	int ret;

	kv.o = o;
	if (!o->device == !o->store) {
		bench_err("give either --device=DEV or --store=ID");
		return -EINVAL;
	}
	if (o->dir)
		bench_err("--dir is for the peers: ignored");
	if (o->device) {
		ret = kv_attach(o);
		if (ret < 0)
			return ret;
	} else {
		kv.id = strtoul(o->store, &end, 10);
		if (*end || end == o->store) {
			bench_err("--store=%s: not a store id", o->store);
			return -EINVAL;
		}
	}
	ret = kvb_open(kv.id, &kv.st);
	if (ret < 0) {
		bench_err("open store %u: %s", kv.id, strerror(-ret));
		if (kv.attached)
			kvb_detach(kv.id);
	}
	return ret;
}

static void kv_teardown(void)
{
	int ret;

	kvb_close(kv.st);
	if (kv.attached) {
		ret = kvb_detach(kv.id);
		if (ret < 0)
			bench_err("detach store %u: %s", kv.id, strerror(-ret));
	}
}

static int kv_thread_init_common(struct bench_thread *t)
{
	struct kv_thread *kt = calloc(1, sizeof(*kt));
	unsigned int i;

	if (!kt)
		return -ENOMEM;
	t->priv = kt;
	for (i = 0; i < t->qd; i++) {
		t->slots[i].priv = calloc(1, sizeof(struct kv_slot));
		if (!t->slots[i].priv)
			return -ENOMEM;
	}
	return 0;
}

static void kv_thread_exit(struct bench_thread *t)
{
	struct kv_thread *kt = t->priv;
	unsigned int i;

	if (kt && kt->ring_ready)
		io_uring_queue_exit(&kt->ring);
	for (i = 0; i < t->qd; i++)
		free(t->slots[i].priv);
	free(kt);
}

/* Descriptors for the slot's objects. */
static struct kv_slot *kv_prep(struct bench_slot *s)
{
	struct kv_slot *ks = s->priv;
	bool data = s->op != BENCH_QUERY;
	uint32_t i;

	for (i = 0; i < s->count; i++) {
		struct bench_obj *o = &s->objs[i];

		kvb_slice_init(&ks->slices[i], o->buf, s->value_size);
		kvb_desc_init(&ks->descs[i], o->key, o->key_len,
			      data ? &ks->slices[i] : NULL, data ? 1 : 0);
	}
	return ks;
}

/* The call's result and each key's status. */
static void kv_complete(struct bench_slot *s, int res)
{
	struct kv_slot *ks = s->priv;
	uint32_t i;

	s->res = res;
	if (res < 0)
		return;
	for (i = 0; i < s->count; i++)
		s->objs[i].status = ks->descs[i].status;
}

/* ioctl: the whole call in submit(). */
static int ioctl_submit(struct bench_thread *t, struct bench_slot *s)
{
	struct kv_slot *ks = kv_prep(s);
	struct kv_thread *kt = t->priv;
	int ret;

	switch (s->op) {
	case BENCH_OFFLOAD:
		ret = kvb_offload(kv.st, ks->descs, s->count, 0, NULL, NULL);
		break;
	case BENCH_LOAD:
		ret = kvb_load(kv.st, ks->descs, s->count);
		break;
	default:
		ret = kvb_query(kv.st, ks->descs, s->count);
		break;
	}
	kv_complete(s, ret);
	kt->done = s;
	return 0;
}

static int ioctl_reap(struct bench_thread *t, struct bench_slot **done)
{
	struct kv_thread *kt = t->priv;

	*done = kt->done;
	return 0;
}

/* uring: the engine is usable only if the module takes the commands. */
static int uring_setup(const struct bench_opts *o)
{
	struct kvb_features f;
	int ret;

	ret = kvb_get_features(&f);
	if (ret < 0) {
		bench_err("GET_FEATURES: %s (module not loaded?)",
			  strerror(-ret));
		return ret;
	}
	if (!(f.features & KVB_FEAT_URING_CMD)) {
		bench_err("engine uring skipped: this kvbucket module has no "
			  "io_uring commands (KVB_FEAT_URING_CMD not in "
			  "GET_FEATURES); use --engine=ioctl");
		return -EOPNOTSUPP;
	}
	return kv_setup(o);
}

static int uring_thread_init(struct bench_thread *t)
{
	struct kv_thread *kt;
	int ret;

	ret = kv_thread_init_common(t);
	if (ret < 0)
		return ret;
	kt = t->priv;
	/* a ring of 128-byte SQEs, which the commands need */
	ret = kvb_ring_init(&kt->ring, t->qd);
	if (ret < 0) {
		bench_err("engine uring skipped: kvb_ring_init: %s",
			  strerror(-ret));
		return ret == -EINVAL || ret == -ENOSYS ? -EOPNOTSUPP : ret;
	}
	kt->ring_ready = true;
	return 0;
}

static int uring_submit(struct bench_thread *t, struct bench_slot *s)
{
	struct kv_slot *ks = kv_prep(s);
	struct kv_thread *kt = t->priv;
	struct io_uring_sqe *sqe;
	int ret;

	/* never NULL: the ring has qd entries and at most qd are in flight */
	sqe = io_uring_get_sqe(&kt->ring);
	if (!sqe)
		return -EBUSY;
	switch (s->op) {
	case BENCH_OFFLOAD:
		ret = kvb_prep_offload(sqe, kv.st, &ks->batch, ks->descs,
				       s->count, 0);
		break;
	case BENCH_LOAD:
		ret = kvb_prep_load(sqe, kv.st, &ks->batch, ks->descs,
				    s->count);
		break;
	default:
		ret = kvb_prep_query(sqe, kv.st, &ks->batch, ks->descs,
				     s->count);
		break;
	}
	if (ret < 0)
		return ret;
	io_uring_sqe_set_data(sqe, s);
	ret = io_uring_submit(&kt->ring);
	return ret < 0 ? ret : 0;
}

static int uring_reap(struct bench_thread *t, struct bench_slot **done)
{
	struct kv_thread *kt = t->priv;
	struct io_uring_cqe *cqe;
	struct bench_slot *s;
	int ret;

	do
		ret = io_uring_wait_cqe(&kt->ring, &cqe);
	while (ret == -EINTR);
	if (ret < 0)
		return ret;
	s = io_uring_cqe_get_data(cqe);
	kv_complete(s, kvb_cmd_result(&((struct kv_slot *)s->priv)->batch,
				      cqe->res));
	io_uring_cqe_seen(&kt->ring, cqe);
	*done = s;
	return 0;
}

/* The store after the workloads, index memory per key included. */
static void kv_report(FILE *json, FILE *human)
{
	struct kvb_store_info in;
	double per_key;
	int ret;

	ret = kvb_store_info(kv.st, &in);
	if (ret < 0) {
		bench_err("STORE_INFO: %s", strerror(-ret));
		return;
	}
	per_key = in.nr_keys ? (double)in.index_bytes / in.nr_keys : 0;
	if (json) {
		fprintf(json, ",\"store\":{\"id\":%u,\"path\":\"%.*s\","
			"\"volatile\":%s,\"chunk_size\":%u,"
			"\"capacity_bytes\":%" PRIu64 ",\"used_bytes\":%" PRIu64
			",\"nr_keys\":%" PRIu64 ",\"nr_buckets\":%" PRIu64
			",\"value_bytes\":%" PRIu64 ",\"index_bytes\":%" PRIu64
			",\"index_bytes_per_key\":%.1f,\"nr_evicted\":%" PRIu64
			"}", in.id, (int)strnlen(in.path, sizeof(in.path)),
			in.path, in.flags & KVB_INFO_VOLATILE ? "true" : "false",
			in.chunk_size, (uint64_t)in.capacity_bytes,
			(uint64_t)in.used_bytes, (uint64_t)in.nr_keys,
			(uint64_t)in.nr_buckets, (uint64_t)in.value_bytes,
			(uint64_t)in.index_bytes, per_key,
			(uint64_t)in.nr_evicted);
	}
	if (human) {
		fprintf(human, "store %u on %.*s: %" PRIu64 " keys in %" PRIu64
			" buckets; index %" PRIu64 " bytes, %.1f per key",
			in.id, (int)strnlen(in.path, sizeof(in.path)), in.path,
			(uint64_t)in.nr_keys, (uint64_t)in.nr_buckets,
			(uint64_t)in.index_bytes, per_key);
		if (in.nr_evicted)
			fprintf(human, "; %" PRIu64 " buckets evicted",
				(uint64_t)in.nr_evicted);
		fputc('\n', human);
	}
}

static const struct bench_engine ioctl_engine = {
	.name = "ioctl",
	.help = "synchronous ioctls (libkvbucket), one batch per thread",
	.setup = kv_setup,
	.thread_init = kv_thread_init_common,
	.submit = ioctl_submit,
	.reap = ioctl_reap,
	.thread_exit = kv_thread_exit,
	.report = kv_report,
	.teardown = kv_teardown,
};

static const struct bench_engine uring_engine = {
	.name = "uring",
	.help = "io_uring commands, --qd batches in flight per thread",
	.async = true,
	.setup = uring_setup,
	.thread_init = uring_thread_init,
	.submit = uring_submit,
	.reap = uring_reap,
	.thread_exit = kv_thread_exit,
	.report = kv_report,
	.teardown = kv_teardown,
};

int main(int argc, char **argv)
{
	static const struct bench_engine *const engines[] = {
		&ioctl_engine, &uring_engine, NULL
	};

	return bench_main(argc, argv, "kvbucket-bench", engines);
}
