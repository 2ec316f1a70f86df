// SPDX-License-Identifier: GPL-2.0
/*
 * Concurrency: threads offloading, querying and loading at once (each
 * other's keys too), two threads racing to offload the same key, and
 * loads racing with REPLACE. No sleeps: threads start together on a
 * barrier and run a bounded number of iterations; every loaded byte is
 * checked against the value its key (and generation) determines.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "kselftest_harness.h"
#include "kvb_test.h"

#define NR_THREADS	8
#define ITERS		24
#define PER_BATCH	4
#define MAX_VLEN	16384

FIXTURE(cc) {
	int ctl;
	int fd;
	uint32_t id;
};

FIXTURE_SETUP(cc)
{
	ASSERT_TRUE(module_loaded()) TH_LOG("kvbucket module not loaded");
	ASSERT_EQ(0, detach_all());
	ASSERT_NE(NULL, kvb_disk(0));
	self->ctl = ctl_open();
	ASSERT_LE(0, self->ctl);
	ASSERT_EQ(0, ctl_attach(self->ctl, kvb_disk(0), KVB_ATTACH_FORMAT, 0,
				0, 0, &self->id));
	self->fd = store_open(self->id);
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(cc)
{
	if (self->fd >= 0)
		close(self->fd);
	if (self->ctl >= 0)
		close(self->ctl);
	EXPECT_EQ(0, detach_all());
}

static void cc_key(char *buf, unsigned int t, unsigned int it, unsigned int j)
{
	snprintf(buf, 32, "cc-t%u-i%03u-k%u", t, it, j);
}

static struct tkey cc_tkey(char *buf, unsigned int t, unsigned int it,
			   unsigned int j)
{
	cc_key(buf, t, it, j);
	return (struct tkey){ buf, strlen(buf),
			      value_len_of(t * 100000 + it * 10 + j, MAX_VLEN),
			      0 };
}

struct mixed {
	int fd;
	unsigned int t;
	pthread_barrier_t *bar;
	_Atomic unsigned int *progress;	/* per thread: iterations published */
	/* results: counts of failures by kind */
	unsigned int offload_err, own_bad, other_bad, query_bad, early_bad;
	int first_err;
};

static void *mixed_thread(void *arg)
{
	struct mixed *m = arg;
	char kb[PER_BATCH][32], ob[32];
	struct tkey k[PER_BATCH], o;
	struct kvb_obj_desc d[PER_BATCH];
	struct kvb_batch b;
	int status[PER_BATCH], st, ret;
	unsigned int it, j, other, oit, p;
	uint64_t rnd = m->t + 1;

	pthread_barrier_wait(m->bar);
	for (it = 0; it < ITERS; it++) {
		for (j = 0; j < PER_BATCH; j++)
			k[j] = cc_tkey(kb[j], m->t, it, j);
		ret = put_batch(m->fd, k, PER_BATCH, 0, d, &b);
		if (ret || b.nr_done != PER_BATCH) {
			m->offload_err++;
			if (!m->first_err)
				m->first_err = ret ? ret : d[0].status;
			continue;
		}
		atomic_store(&m->progress[m->t], it + 1);

		/* own keys: query and load */
		ret = get_batch(m->fd, k, PER_BATCH, status);
		for (j = 0; j < PER_BATCH; j++)
			if (ret || status[j])
				m->own_bad++;
		if (query_status(m->fd, k[it % PER_BATCH].key,
				 k[it % PER_BATCH].klen))
			m->query_bad++;

		/* a published key of another thread must load exactly */
		other = (m->t + 1 + splitmix64(&rnd) % (NR_THREADS - 1)) %
			NR_THREADS;
		p = atomic_load(&m->progress[other]);
		if (p) {
			oit = splitmix64(&rnd) % p;
			o = cc_tkey(ob, other, oit, splitmix64(&rnd) % PER_BATCH);
			st = get_one(m->fd, &o);
			if (st)
				m->other_bad++;
		}
		/* a key that may be written right now: ENOENT or exact */
		o = cc_tkey(ob, other, p < ITERS ? p : ITERS - 1, 0);
		st = get_one(m->fd, &o);
		if (st && st != -ENOENT)
			m->early_bad++;
	}
	return NULL;
}

TEST_F_TIMEOUT(cc, eight_threads_offload_query_load, 300)
{
	pthread_t th[NR_THREADS];
	struct mixed m[NR_THREADS];
	_Atomic unsigned int progress[NR_THREADS];
	pthread_barrier_t bar;
	struct kvb_store_info info;
	uint64_t bytes = 0;
	unsigned int t, it, j;
	char kb[PER_BATCH][32];
	struct tkey k[PER_BATCH];
	int status[PER_BATCH];

	ASSERT_EQ(0, pthread_barrier_init(&bar, NULL, NR_THREADS));
	for (t = 0; t < NR_THREADS; t++) {
		atomic_init(&progress[t], 0);
		memset(&m[t], 0, sizeof(m[t]));
		m[t].fd = self->fd;
		m[t].t = t;
		m[t].bar = &bar;
		m[t].progress = progress;
	}
	for (t = 0; t < NR_THREADS; t++)
		ASSERT_EQ(0, pthread_create(&th[t], NULL, mixed_thread, &m[t]));
	for (t = 0; t < NR_THREADS; t++)
		ASSERT_EQ(0, pthread_join(th[t], NULL));
	for (t = 0; t < NR_THREADS; t++) {
		EXPECT_EQ(0, m[t].offload_err)
			TH_LOG("thread %u: first error %d", t, m[t].first_err);
		EXPECT_EQ(0, m[t].own_bad) TH_LOG("thread %u", t);
		EXPECT_EQ(0, m[t].query_bad) TH_LOG("thread %u", t);
		EXPECT_EQ(0, m[t].other_bad) TH_LOG("thread %u", t);
		EXPECT_EQ(0, m[t].early_bad) TH_LOG("thread %u", t);
	}

	/* afterwards, everything is there, exactly */
	for (t = 0; t < NR_THREADS; t++)
		for (it = 0; it < ITERS; it++) {
			for (j = 0; j < PER_BATCH; j++) {
				k[j] = cc_tkey(kb[j], t, it, j);
				bytes += k[j].vlen;
			}
			ASSERT_EQ(0, get_batch(self->fd, k, PER_BATCH, status));
			for (j = 0; j < PER_BATCH; j++)
				EXPECT_EQ(0, status[j])
					TH_LOG("t%u i%u k%u", t, it, j);
		}
	ASSERT_EQ(0, st_info(self->fd, &info));
	EXPECT_EQ(NR_THREADS * ITERS * PER_BATCH, info.nr_keys);
	EXPECT_EQ(NR_THREADS * ITERS, info.nr_buckets);
	EXPECT_EQ(bytes, info.value_bytes);
	pthread_barrier_destroy(&bar);
}

#define RACES 40

struct racer {
	int fd;
	unsigned int who;
	pthread_barrier_t *bar;
	int status[RACES];
	int ret[RACES];
	uint64_t vlen[RACES];	/* value_len reported with -EEXIST */
};

static struct tkey race_key(char *buf, unsigned int r, unsigned int who)
{
	snprintf(buf, 32, "race-%u", r);
	/* the two racers write values of different lengths and bytes */
	return (struct tkey){ buf, strlen(buf), 3000 + 1000 * who + r, who };
}

static void *racer_thread(void *arg)
{
	struct racer *rc = arg;
	struct kvb_obj_desc d;
	char kb[32];
	struct tkey k;
	unsigned int r;

	for (r = 0; r < RACES; r++) {
		k = race_key(kb, r, rc->who);
		memset(&d, 0, sizeof(d));
		d.status = -EPROTO;
		pthread_barrier_wait(rc->bar);
		rc->ret[r] = put_batch(rc->fd, &k, 1, 0, &d, NULL);
		rc->status[r] = d.status;
		rc->vlen[r] = d.value_len;
	}
	return NULL;
}

TEST_F_TIMEOUT(cc, same_key_from_two_threads, 300)
{
	pthread_t th[2];
	struct racer rc[2];
	pthread_barrier_t bar;
	struct kvb_store_info info;
	unsigned int r, w;
	char kb[32];

	ASSERT_EQ(0, pthread_barrier_init(&bar, NULL, 2));
	for (w = 0; w < 2; w++) {
		memset(&rc[w], 0, sizeof(rc[w]));
		rc[w].fd = self->fd;
		rc[w].who = w;
		rc[w].bar = &bar;
	}
	for (w = 0; w < 2; w++)
		ASSERT_EQ(0, pthread_create(&th[w], NULL, racer_thread, &rc[w]));
	for (w = 0; w < 2; w++)
		ASSERT_EQ(0, pthread_join(th[w], NULL));

	for (r = 0; r < RACES; r++) {
		int winner = -1, losers = 0;
		struct tkey k;

		for (w = 0; w < 2; w++) {
			EXPECT_EQ(0, rc[w].ret[r]) TH_LOG("race %u thread %u", r, w);
			if (rc[w].status[r] == 0) {
				winner = w;
			} else {
				EXPECT_TRUE(rc[w].status[r] == -EEXIST ||
					    rc[w].status[r] == -EBUSY)
					TH_LOG("race %u thread %u: status %d",
					       r, w, rc[w].status[r]);
				losers++;
			}
		}
		EXPECT_EQ(1, losers) TH_LOG("race %u: statuses %d %d", r,
					    rc[0].status[r], rc[1].status[r]);
		if (winner < 0)
			continue;
		/* the winner's value is the stored one, byte for byte */
		k = race_key(kb, r, winner);
		EXPECT_EQ(0, get_one(self->fd, &k)) TH_LOG("race %u", r);
		/* -EEXIST describes the winner's value */
		if (rc[!winner].status[r] == -EEXIST)
			EXPECT_EQ(k.vlen, rc[!winner].vlen[r]) TH_LOG("race %u", r);
	}
	ASSERT_EQ(0, st_info(self->fd, &info));
	EXPECT_EQ(RACES, info.nr_keys);
	EXPECT_EQ(RACES, info.nr_buckets);
	pthread_barrier_destroy(&bar);
}

/*
 * Loads racing with REPLACE: the value of "flip" is always 8 bytes of
 * generation followed by the generation's bytes; a reader must see one
 * whole generation, never a mix.
 */
#define FLIP_LEN	(64 << 10)
#define FLIPS		60

struct flipper {
	int fd;
	pthread_barrier_t *bar;
	_Atomic int done;
	unsigned int writes_bad;
	_Atomic unsigned int reads, reads_bad;
	int first_err;
};

static void flip_value(uint64_t gen, unsigned char *buf)
{
	memcpy(buf, &gen, 8);
	fill_value(key_seed("flip", 4, gen), buf + 8, FLIP_LEN - 8);
}

static void *flip_writer(void *arg)
{
	struct flipper *f = arg;
	static unsigned char buf[FLIP_LEN];
	struct kvb_obj_desc d;
	struct kvb_slice s;
	uint64_t gen;
	int ret;

	pthread_barrier_wait(f->bar);
	for (gen = 1; gen <= FLIPS; gen++) {
		flip_value(gen, buf);
		kvb_slice_init(&s, buf, FLIP_LEN);
		kvb_desc_init(&d, "flip", 4, &s, 1);
		ret = st_batch(f->fd, KVB_IOC_OFFLOAD, &d, 1,
			       KVB_OFFLOAD_REPLACE, NULL);
		if (ret || d.status) {
			f->writes_bad++;
			if (!f->first_err)
				f->first_err = ret ? ret : d.status;
		}
	}
	atomic_store(&f->done, 1);
	return NULL;
}

static void *flip_reader(void *arg)
{
	struct flipper *f = arg;
	unsigned char *buf = malloc(FLIP_LEN);
	struct kvb_obj_desc d;
	struct kvb_slice s;
	uint64_t gen, last = 0;
	int ret;

	if (!buf) {
		f->reads_bad++;
		return NULL;
	}
	pthread_barrier_wait(f->bar);
	/* bounded: the writer's FLIPS offloads, and at most 4x as many reads */
	while (!atomic_load(&f->done) && f->reads < 4 * FLIPS) {
		kvb_slice_init(&s, buf, FLIP_LEN);
		kvb_desc_init(&d, "flip", 4, &s, 1);
		ret = st_batch(f->fd, KVB_IOC_LOAD, &d, 1, 0, NULL);
		f->reads++;
		if (ret) {
			f->reads_bad++;
			continue;
		}
		if (d.status) {
			/* -ENOENT is impossible: gen 0 was stored first */
			f->reads_bad++;
			continue;
		}
		memcpy(&gen, buf, 8);
		if (gen > FLIPS || gen < last ||
		    check_value(key_seed("flip", 4, gen), buf + 8,
				FLIP_LEN - 8) >= 0)
			f->reads_bad++;
		last = gen;
	}
	free(buf);
	return NULL;
}

TEST_F_TIMEOUT(cc, load_during_replace_sees_whole_values, 300)
{
	static unsigned char buf[FLIP_LEN];
	struct kvb_obj_desc d;
	struct kvb_slice s;
	struct kvb_store_info info;
	pthread_barrier_t bar;
	struct flipper f;
	pthread_t w, r[3];
	int i;

	flip_value(0, buf);
	kvb_slice_init(&s, buf, FLIP_LEN);
	kvb_desc_init(&d, "flip", 4, &s, 1);
	ASSERT_EQ(0, st_batch(self->fd, KVB_IOC_OFFLOAD, &d, 1, 0, NULL));
	ASSERT_EQ(0, d.status);

	memset(&f, 0, sizeof(f));
	f.fd = self->fd;
	f.bar = &bar;
	atomic_init(&f.done, 0);
	ASSERT_EQ(0, pthread_barrier_init(&bar, NULL, 4));
	ASSERT_EQ(0, pthread_create(&w, NULL, flip_writer, &f));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, pthread_create(&r[i], NULL, flip_reader, &f));
	ASSERT_EQ(0, pthread_join(w, NULL));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, pthread_join(r[i], NULL));
	/* the counters are shared by the readers: bad is what matters */
	EXPECT_EQ(0, f.writes_bad) TH_LOG("first error %d", f.first_err);
	EXPECT_EQ(0, f.reads_bad);
	EXPECT_LT(0, f.reads);

	/* the last generation is the value; one key, one bucket */
	memset(buf, 0, FLIP_LEN);
	kvb_slice_init(&s, buf, FLIP_LEN);
	kvb_desc_init(&d, "flip", 4, &s, 1);
	ASSERT_EQ(0, st_batch(self->fd, KVB_IOC_LOAD, &d, 1, 0, NULL));
	ASSERT_EQ(0, d.status);
	{
		uint64_t gen;

		memcpy(&gen, buf, 8);
		EXPECT_EQ(FLIPS, gen);
		EXPECT_EQ(-1, check_value(key_seed("flip", 4, FLIPS), buf + 8,
					  FLIP_LEN - 8));
	}
	ASSERT_EQ(0, st_info(self->fd, &info));
	EXPECT_EQ(1, info.nr_keys);
	EXPECT_EQ(1, info.nr_buckets);
	EXPECT_EQ(FLIP_LEN, info.value_bytes);
	pthread_barrier_destroy(&bar);
}

TEST_HARNESS_MAIN
