// SPDX-License-Identifier: GPL-2.0
/*
 * Eviction events: each eviction becomes one record, the bytes read()
 * returns (struct kvb_event, then a struct kvb_key_rec and the key for
 * each key), queued by evict.c at the moment the keys leave the index.
 *
 * The queue is a ring of KVB_EVENT_SLOTS records numbered by seq, bounded
 * also in bytes (event_queue_bytes in sysfs; the newest record is always
 * kept). Queueing drops the oldest records to make room; every open file
 * has its own position, and a reader whose next record was dropped gets a
 * KVB_EVENT_LOST record saying how many it missed instead. Records are
 * reference counted, so that a reader copies one out without a lock while
 * the queue moves on.
 */
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "kvb.h"

struct kvb_event_buf {
	refcount_t ref;
	u32 size;			/* bytes allocated for ev and the keys */
	struct list_head drop;		/* on a list of records to put */
	struct kvb_event ev;		/* the record; its keys follow */
};

int kvb_events_init(struct kvb_store *st)
{
	spin_lock_init(&st->ev_lock);
	init_waitqueue_head(&st->ev_wait);
	atomic64_set(&st->events_lost, 0);
	st->ev_first = 1;
	st->ev_next = 1;
	st->ev_max_bytes = KVB_DEFAULT_EVENT_BYTES;
	st->ev_ring = kcalloc(KVB_EVENT_SLOTS, sizeof(*st->ev_ring),
			      GFP_KERNEL);
	return st->ev_ring ? 0 : -ENOMEM;
}

static struct kvb_event_buf **kvb_ev_slot(struct kvb_store *st, u64 seq)
{
	return &st->ev_ring[seq % KVB_EVENT_SLOTS];
}

/* The last reference to the store: no reader, no writer. */
void kvb_events_destroy(struct kvb_store *st)
{
	u64 seq;

	if (!st->ev_ring)
		return;
	for (seq = st->ev_first; seq < st->ev_next; seq++)
		kvb_event_put(*kvb_ev_slot(st, seq));
	kfree(st->ev_ring);
	st->ev_ring = NULL;
}

/* Detach: readers get what is queued, then end of file. */
void kvb_events_close(struct kvb_store *st)
{
	spin_lock(&st->ev_lock);
	st->ev_closed = true;
	spin_unlock(&st->ev_lock);
	wake_up_interruptible_all(&st->ev_wait);
}

/*
 * A record with room for nr_keys keys of key_bytes bytes in all, for an
 * eviction by policy.
 */
struct kvb_event_buf *kvb_event_alloc(u32 nr_keys, u64 key_bytes,
				      u32 policy)
{
	/* a key record is its header, the key and at most 7 bytes of padding */
	u64 size = sizeof(struct kvb_event) + key_bytes +
		   (u64)nr_keys * (sizeof(struct kvb_key_rec) + 7);
	struct kvb_event_buf *buf;

	if (size > U32_MAX)
		return NULL;
	buf = kvzalloc(offsetof(struct kvb_event_buf, ev) + size, GFP_KERNEL);
	if (!buf)
		return NULL;
	refcount_set(&buf->ref, 1);
	buf->size = size;
	buf->ev.type = KVB_EVENT_EVICT;
	buf->ev.rec_len = sizeof(buf->ev);
	buf->ev.policy = policy;
	return buf;
}

void kvb_event_put(struct kvb_event_buf *buf)
{
	if (buf && refcount_dec_and_test(&buf->ref))
		kvfree(buf);
}

/* Append a key that leaves the index. index_lock. */
void kvb_event_add_key(struct kvb_event_buf *buf, const struct kvb_obj *obj)
{
	u32 len = KVB_KEY_REC_LEN(obj->key_len);
	struct kvb_key_rec *rec = (void *)&buf->ev + buf->ev.rec_len;

	if (WARN_ON_ONCE(buf->ev.rec_len + len > buf->size))
		return;
	/* the buffer is zeroed: padding and reserved0 stay 0 */
	rec->key_len = obj->key_len;
	rec->value_len = obj->value_len;
	memcpy(rec + 1, obj->key, obj->key_len);
	buf->ev.rec_len += len;
	buf->ev.nr_keys++;
	buf->ev.value_bytes += obj->value_len;
}

/* Drop the oldest record. ev_lock. */
static void kvb_ev_drop_oldest(struct kvb_store *st, struct list_head *drop)
{
	struct kvb_event_buf **slot = kvb_ev_slot(st, st->ev_first);

	st->ev_bytes -= (*slot)->ev.rec_len;
	list_add_tail(&(*slot)->drop, drop);
	*slot = NULL;
	st->ev_first++;
}

/*
 * Queue the filled record of evicting bucket b, taking over the caller's
 * reference, and mark b dead in the same ev_lock section: a reader takes
 * ev_lock to see the record, so once it does, lookups of b's keys fail;
 * and a lookup that failed because b is dead is followed by any reader's
 * seeing the record. Called with index_lock held, so events come in the
 * order of the index changes.
 */
void kvb_event_queue(struct kvb_store *st, struct kvb_event_buf *buf,
		     struct kvb_bucket *b)
{
	struct kvb_event_buf *old, *tmp;
	LIST_HEAD(drop);

	lockdep_assert_held(&st->index_lock);
	buf->ev.bucket_id = b->id;
	spin_lock(&st->ev_lock);
	WRITE_ONCE(b->state, KVB_BUCKET_DEAD);
	while (st->ev_first < st->ev_next &&
	       (st->ev_next - st->ev_first >= KVB_EVENT_SLOTS ||
		st->ev_bytes + buf->ev.rec_len > st->ev_max_bytes))
		kvb_ev_drop_oldest(st, &drop);
	buf->ev.seq = st->ev_next;
	*kvb_ev_slot(st, st->ev_next) = buf;
	st->ev_bytes += buf->ev.rec_len;
	st->ev_next++;
	spin_unlock(&st->ev_lock);
	wake_up_interruptible_poll(&st->ev_wait, EPOLLIN | EPOLLRDNORM);
	/* kvfree() may sleep: not under the spinlock */
	list_for_each_entry_safe(old, tmp, &drop, drop)
		kvb_event_put(old);
}

/* A new file starts with the next event. */
void kvb_events_open(struct kvb_file *f)
{
	struct kvb_store *st = f->st;

	spin_lock(&st->ev_lock);
	f->ev_pos = st->ev_next;
	spin_unlock(&st->ev_lock);
}

/* Is there something for f to read (a record, a loss, or the end)? */
static bool kvb_ev_ready(struct kvb_file *f)
{
	struct kvb_store *st = f->st;
	bool ready;

	spin_lock(&st->ev_lock);
	ready = f->ev_pos < st->ev_next || st->ev_closed;
	spin_unlock(&st->ev_lock);
	return ready;
}

/*
 * The next thing for f: a referenced record (*buf), or a loss (*lost
 * events from *lost_seq), or neither. Returns whether the store is closed.
 */
static bool kvb_ev_next(struct kvb_file *f, struct kvb_event_buf **buf,
			u64 *lost, u64 *lost_seq)
{
	struct kvb_store *st = f->st;
	bool closed;

	*buf = NULL;
	*lost = 0;
	spin_lock(&st->ev_lock);
	if (f->ev_pos < st->ev_first) {
		*lost_seq = f->ev_pos;
		*lost = st->ev_first - f->ev_pos;
	} else if (f->ev_pos < st->ev_next) {
		*buf = *kvb_ev_slot(st, f->ev_pos);
		refcount_inc(&(*buf)->ref);
	}
	closed = st->ev_closed;
	spin_unlock(&st->ev_lock);
	return closed;
}

ssize_t kvb_events_read(struct kvb_file *f, char __user *ubuf, size_t len,
			bool nonblock)
{
	struct kvb_store *st = f->st;
	size_t done = 0;
	ssize_t ret = 0;

	/* like a pipe: a read of nothing returns 0 at once, consuming nothing */
	if (!len)
		return 0;
	if (mutex_lock_interruptible(&f->ev_mutex))
		return -EINTR;
	for (;;) {
		struct kvb_event_buf *buf;
		struct kvb_event lost_ev;
		const void *rec;
		u64 lost, lost_seq;
		bool closed;
		u32 rec_len;

		closed = kvb_ev_next(f, &buf, &lost, &lost_seq);
		if (lost) {
			memset(&lost_ev, 0, sizeof(lost_ev));
			lost_ev.type = KVB_EVENT_LOST;
			lost_ev.rec_len = sizeof(lost_ev);
			lost_ev.seq = lost_seq;
			lost_ev.nr_lost = lost;
			rec = &lost_ev;
			rec_len = sizeof(lost_ev);
		} else if (buf) {
			rec = &buf->ev;
			rec_len = buf->ev.rec_len;
		} else {
			if (done || closed)
				break;
			if (nonblock) {
				ret = -EAGAIN;
				break;
			}
			if (wait_event_interruptible(st->ev_wait,
						     kvb_ev_ready(f))) {
				ret = -EINTR;
				break;
			}
			continue;
		}

		if (rec_len > len - done) {
			kvb_event_put(buf);
			if (!done)
				ret = -EMSGSIZE;
			break;
		}
		if (copy_to_user(ubuf + done, rec, rec_len)) {
			kvb_event_put(buf);
			if (!done)
				ret = -EFAULT;
			break;
		}
		kvb_event_put(buf);
		done += rec_len;
		if (lost) {
			f->ev_pos += lost;
			atomic64_add(lost, &st->events_lost);
		} else {
			f->ev_pos++;
		}
	}
	mutex_unlock(&f->ev_mutex);
	return done ? done : ret;
}

__poll_t kvb_events_poll(struct kvb_file *f, struct file *file,
			 struct poll_table_struct *pt)
{
	struct kvb_store *st = f->st;
	__poll_t mask = 0;

	poll_wait(file, &st->ev_wait, pt);
	spin_lock(&st->ev_lock);
	if (f->ev_pos < st->ev_next)
		mask |= EPOLLIN | EPOLLRDNORM;
	if (st->ev_closed)
		mask |= EPOLLIN | EPOLLRDNORM | EPOLLHUP;
	spin_unlock(&st->ev_lock);
	return mask;
}
