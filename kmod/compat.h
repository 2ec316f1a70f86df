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

#endif /* KVB_COMPAT_H */
