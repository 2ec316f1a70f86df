// SPDX-License-Identifier: GPL-2.0
/* Probe: bdev_file_open_by_path() (6.9+). */
#include <linux/blkdev.h>

struct file *kvb_probe(const char *path, void *holder);
struct file *kvb_probe(const char *path, void *holder)
{
	return bdev_file_open_by_path(path, BLK_OPEN_READ, holder, NULL);
}
