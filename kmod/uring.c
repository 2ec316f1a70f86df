// SPDX-License-Identifier: GPL-2.0
/*
 * io_uring commands on the store device: OFFLOAD, QUERY and LOAD submitted
 * as IORING_OP_URING_CMD (Documentation/abi.rst, "io_uring commands").
 *
 * The issue path, kvb_store_uring_cmd(), never blocks and never touches
 * user memory: it checks the command bytes of the SQE, takes a reference
 * on the store and on the submitter's mm and queues a work item. The work
 * item runs the ioctl's own code (kvb_store_batch()) on the submitter's
 * address space (kthread_use_mm()), so that copy_from_user() and the rest
 * work unchanged, then io_uring_cmd_complete_in_task() has the
 * submitter's task post the result with io_uring_cmd_done().
 *
 * Ownership of a struct kvb_uring_work: the issue path creates it and
 * stores it in the command's pdu; the work item drops its references on
 * the store and the mm. It is freed by whoever completes the command:
 * kvb_uring_finish() after io_uring_cmd_done() for a command that ran, or
 * the work item for one that a cancellation completed before it started.
 * state (QUEUED -> RUNNING or QUEUED -> CANCELED, by cmpxchg) decides
 * which, so that a command is completed exactly once.
 *
 * What holds what while a command is in flight: io_uring holds the store
 * file (so the module stays loaded and the command stays valid); the work
 * item holds the store and the mm_struct (mmgrab: the structure, not the
 * address space, so a queued command does not keep a dead process's
 * memory); the address space is pinned (mmget_not_zero) only while the
 * command runs. The store's detach waits for running commands through
 * io_rwsem, as for ioctls; those that run later see it detached (ENODEV).
 * Module unload destroys the workqueue, which waits for work items whose
 * command was canceled, the only ones left then.
 */
#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/kthread.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

#include "kvb.h"

/*
 * Commands that run at the same time, over all stores (per NUMA node on
 * kernels whose unbound workqueues count max_active per node). The others
 * wait, queued, in submission order. Root can change it at run time in
 * /sys/devices/virtual/workqueue/kvbucket_uring/max_active.
 */
#define KVB_URING_MAX_ACTIVE	64

enum {
	KVB_URING_QUEUED,	/* waits for a worker */
	KVB_URING_RUNNING,	/* a worker has it: completes normally */
	KVB_URING_CANCELED,	/* completed with -ECANCELED, never runs */
};

struct kvb_uring_work {
	struct work_struct work;
	struct io_uring_cmd *cmd;
	struct kvb_store *st;		/* a reference */
	struct mm_struct *mm;		/* the submitter's, mmgrab()ed */
	u64 batch;			/* user address of the struct kvb_batch */
	unsigned int op;		/* KVB_IOC_OFFLOAD, _QUERY or _LOAD */
	atomic_t state;			/* KVB_URING_* */
	long res;			/* the ioctl's return value */
};

static struct workqueue_struct *kvb_uring_wq;

/* The command's pdu holds its work item. */
static struct kvb_uring_work **kvb_uring_pdu(struct io_uring_cmd *cmd)
{
	BUILD_BUG_ON(sizeof(struct kvb_uring_work *) > sizeof(cmd->pdu));
	return (struct kvb_uring_work **)cmd->pdu;
}

/* In the submitter's task: post the result, then the work item can go. */
void kvb_uring_finish(struct io_uring_cmd *cmd, unsigned int issue_flags)
{
	struct kvb_uring_work *w = *kvb_uring_pdu(cmd);

	kvb_uring_cmd_done(cmd, w->res, issue_flags);
	kfree(w);
}

/* Run the call as the ioctl would, on the submitter's address space. */
static long kvb_uring_run(struct kvb_uring_work *w)
{
	long ret;

	/* no users left: the submitter is gone and nobody gets the result */
	if (!mmget_not_zero(w->mm))
		return -ECANCELED;
	kthread_use_mm(w->mm);
	ret = kvb_store_batch(w->st, w->op, u64_to_user_ptr(w->batch));
	kthread_unuse_mm(w->mm);
	mmput(w->mm);
	return ret;
}

static void kvb_uring_work_fn(struct work_struct *work)
{
	struct kvb_uring_work *w = container_of(work, struct kvb_uring_work,
						work);
	bool run = atomic_cmpxchg(&w->state, KVB_URING_QUEUED,
				  KVB_URING_RUNNING) == KVB_URING_QUEUED;

	if (run)
		w->res = kvb_uring_run(w);
	kvb_store_put(w->st);
	mmdrop(w->mm);
	if (run)
		kvb_uring_complete_in_task(w->cmd);
	else
		kfree(w);	/* canceled: completed already */
}

/*
 * IO_URING_F_CANCEL: the ring or the task is going away. A command that
 * has not started completes now with -ECANCELED; a running one completes
 * normally, soon. Called under the ring's lock, as often as io_uring likes
 * until the command is completed; the work item is alive until then.
 */
static int kvb_uring_cancel(struct io_uring_cmd *cmd, unsigned int issue_flags)
{
	struct kvb_uring_work *w = *kvb_uring_pdu(cmd);

	if (atomic_cmpxchg(&w->state, KVB_URING_QUEUED,
			   KVB_URING_CANCELED) == KVB_URING_QUEUED)
		kvb_uring_cmd_done(cmd, -ECANCELED, issue_flags);
	return 0;
}

/* The SQE is shared with userspace: read every field once. */
static void kvb_uring_read_cmd(const struct io_uring_cmd *cmd,
			       struct kvb_uring_cmd *c)
{
	const struct kvb_uring_cmd *p = kvb_uring_payload(cmd);

	c->batch = READ_ONCE(p->batch);
	c->flags = READ_ONCE(p->flags);
	c->reserved0 = READ_ONCE(p->reserved0);
	c->reserved[0] = READ_ONCE(p->reserved[0]);
	c->reserved[1] = READ_ONCE(p->reserved[1]);
}

/*
 * ->uring_cmd of the store device. Returns -EIOCBQUEUED when the command
 * was queued (it completes later), or the result to post now.
 */
int kvb_store_uring_cmd(struct io_uring_cmd *cmd, unsigned int issue_flags)
{
	struct kvb_store *st = ((struct kvb_file *)cmd->file->private_data)->st;
	bool nonblock = issue_flags & IO_URING_F_NONBLOCK;
	struct kvb_uring_work *w;
	struct kvb_uring_cmd c;

	/* 80 bytes of command with IORING_SETUP_SQE128 */
	BUILD_BUG_ON(sizeof(c) > 80);

	if (issue_flags & KVB_URING_F_CANCEL)
		return kvb_uring_cancel(cmd, issue_flags);
	/* io_uring refuses IOPOLL rings itself: there is no ->uring_cmd_iopoll */
	if (issue_flags & IO_URING_F_IOPOLL)
		return -EOPNOTSUPP;
	switch (cmd->cmd_op) {
	case KVB_IOC_OFFLOAD:
	case KVB_IOC_QUERY:
	case KVB_IOC_LOAD:
		break;
	default:
		return -ENOTTY;
	}
	/* without SQE128 the driver sees only 16 bytes of sqe->cmd */
	if (!(issue_flags & IO_URING_F_SQE128))
		return -EINVAL;
	if (READ_ONCE(st->dead))
		return -ENODEV;
	kvb_uring_read_cmd(cmd, &c);
	/* registered buffers mean nothing here */
	if (c.flags || c.reserved0 || !kvb_zero(c.reserved, sizeof(c.reserved)) ||
	    cmd->flags & IORING_URING_CMD_FIXED)
		return -EINVAL;
	/* only io_uring's own threads issue, and they all have an mm */
	if (!current->mm)
		return -EFAULT;

	/*
	 * Issued from the submitting task, io_uring asks us not to block:
	 * -EAGAIN has it issue the command again from its worker thread,
	 * where a sleeping allocation is fine.
	 */
	w = kmalloc(sizeof(*w), nonblock ? GFP_NOWAIT | __GFP_NOWARN |
					   __GFP_ACCOUNT : GFP_KERNEL_ACCOUNT);
	if (!w)
		return nonblock ? -EAGAIN : -ENOMEM;
	INIT_WORK(&w->work, kvb_uring_work_fn);
	w->cmd = cmd;
	kvb_store_get(st);
	w->st = st;
	mmgrab(current->mm);
	w->mm = current->mm;
	w->batch = c.batch;
	w->op = cmd->cmd_op;
	atomic_set(&w->state, KVB_URING_QUEUED);
	w->res = 0;
	*kvb_uring_pdu(cmd) = w;
	/*
	 * From here on a cancellation may complete cmd at any time: it is not
	 * touched again here. w is freed only after its work item ran.
	 */
	kvb_uring_mark_cancelable(cmd, issue_flags);
	queue_work(kvb_uring_wq, &w->work);
	return -EIOCBQUEUED;
}

int kvb_uring_init(void)
{
	kvb_uring_wq = alloc_workqueue("kvbucket_uring", WQ_UNBOUND | WQ_SYSFS,
				       KVB_URING_MAX_ACTIVE);
	return kvb_uring_wq ? 0 : -ENOMEM;
}

void kvb_uring_exit(void)
{
	/* waits for the work items of canceled commands */
	destroy_workqueue(kvb_uring_wq);
}
