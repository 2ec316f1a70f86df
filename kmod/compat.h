/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel API differences between the kernels kvbucket supports (Debian's
 * 6.1 and 6.12, and what lies between). Every difference lives here, keyed
 * by KVB_HAVE_* macros that kmod/Kbuild sets from compile probes
 * (the files in kmod/probes/), never by version numbers: distributions
 * backport APIs.
 */
#ifndef KVB_COMPAT_H
#define KVB_COMPAT_H

#include <linux/blkdev.h>
#include <linux/fs.h>
#ifdef KVB_HAVE_IO_URING_CMD_H
#include <linux/io_uring/cmd.h>
#else
#include <linux/io_uring.h>
#endif

/* An exclusively opened block device. */
struct kvb_bdev {
#ifdef KVB_HAVE_BDEV_FILE_OPEN
	struct file *file;
#endif
	struct block_device *bdev;
	void *holder;
};

#if defined(KVB_HAVE_BDEV_FILE_OPEN)
/* 6.9 and later: a block device is opened as a struct file. */
static inline int kvb_bdev_open(struct kvb_bdev *kb, const char *path,
				void *holder)
{
	struct file *file;

	file = bdev_file_open_by_path(path, BLK_OPEN_READ | BLK_OPEN_WRITE,
				      holder, NULL);
	if (IS_ERR(file))
		return PTR_ERR(file);
	kb->file = file;
	kb->bdev = file_bdev(file);
	kb->holder = holder;
	return 0;
}

static inline void kvb_bdev_close(struct kvb_bdev *kb)
{
#ifdef KVB_HAVE_BDEV_FPUT
	/* gives up the exclusive claim before returning */
	bdev_fput(kb->file);
#else
	fput(kb->file);
#endif
}
#elif defined(KVB_HAVE_BLKDEV_GET_HOLDER_OPS)
/* 6.5 to 6.8: blk_mode_t, holder ops, blkdev_put() takes the holder. */
static inline int kvb_bdev_open(struct kvb_bdev *kb, const char *path,
				void *holder)
{
	struct block_device *bdev;

	bdev = blkdev_get_by_path(path, BLK_OPEN_READ | BLK_OPEN_WRITE,
				  holder, NULL);
	if (IS_ERR(bdev))
		return PTR_ERR(bdev);
	kb->bdev = bdev;
	kb->holder = holder;
	return 0;
}

static inline void kvb_bdev_close(struct kvb_bdev *kb)
{
	blkdev_put(kb->bdev, kb->holder);
}
#else
/* 6.1: fmode_t with FMODE_EXCL. */
#define KVB_BDEV_MODE	(FMODE_READ | FMODE_WRITE | FMODE_EXCL)

static inline int kvb_bdev_open(struct kvb_bdev *kb, const char *path,
				void *holder)
{
	struct block_device *bdev;

	bdev = blkdev_get_by_path(path, KVB_BDEV_MODE, holder);
	if (IS_ERR(bdev))
		return PTR_ERR(bdev);
	kb->bdev = bdev;
	kb->holder = holder;
	return 0;
}

static inline void kvb_bdev_close(struct kvb_bdev *kb)
{
	blkdev_put(kb->bdev, KVB_BDEV_MODE);
}
#endif

/*
 * io_uring commands (uring.c). What differs: where the SQE's command bytes
 * are, whether io_uring_cmd_done() and the task-work callback get the
 * issue flags (6.3, and Debian's 6.1), and cancelable commands (6.7).
 */

/* The command bytes of the SQE (sqe->cmd): 80 with IORING_SETUP_SQE128. */
static inline const void *kvb_uring_payload(const struct io_uring_cmd *cmd)
{
#ifdef KVB_HAVE_IO_URING_SQE_CMD
	return io_uring_sqe_cmd(cmd->sqe);
#else
	return cmd->cmd;
#endif
}

static inline void kvb_uring_cmd_done(struct io_uring_cmd *cmd, long ret,
				      unsigned int issue_flags)
{
#ifdef KVB_HAVE_IO_URING_CMD_DONE_FLAGS
	io_uring_cmd_done(cmd, ret, 0, issue_flags);
#else
	io_uring_cmd_done(cmd, ret, 0);
#endif
}

/* Posts the completion from the submitter's task (uring.c). */
void kvb_uring_finish(struct io_uring_cmd *cmd, unsigned int issue_flags);

#ifdef KVB_HAVE_IO_URING_CMD_TW_FLAGS
static inline void kvb_uring_tw(struct io_uring_cmd *cmd,
				unsigned int issue_flags)
{
	kvb_uring_finish(cmd, issue_flags);
}
#else
static inline void kvb_uring_tw(struct io_uring_cmd *cmd)
{
	kvb_uring_finish(cmd, 0);
}
#endif

/* Have kvb_uring_finish() run in the task that submitted cmd. */
static inline void kvb_uring_complete_in_task(struct io_uring_cmd *cmd)
{
	io_uring_cmd_complete_in_task(cmd, kvb_uring_tw);
}

#ifdef KVB_HAVE_IO_URING_CMD_CANCELABLE
/*
 * A cancelable command is passed to ->uring_cmd() again with
 * IO_URING_F_CANCEL when its ring or task goes away before it completed.
 */
#define KVB_URING_F_CANCEL	IO_URING_F_CANCEL

static inline void kvb_uring_mark_cancelable(struct io_uring_cmd *cmd,
					     unsigned int issue_flags)
{
	io_uring_cmd_mark_cancelable(cmd, issue_flags);
}
#else
/* Before 6.7 io_uring waits for every command it cannot cancel. */
#define KVB_URING_F_CANCEL	0

static inline void kvb_uring_mark_cancelable(struct io_uring_cmd *cmd,
					     unsigned int issue_flags)
{
}
#endif

#endif /* KVB_COMPAT_H */
