// SPDX-License-Identifier: GPL-2.0
/* Probe: blkdev_get_by_path() with blk_mode_t and holder ops (6.5 - 6.8). */
#include <linux/blkdev.h>

struct block_device *kvb_probe(const char *path, void *holder);
struct block_device *kvb_probe(const char *path, void *holder)
{
	return blkdev_get_by_path(path, BLK_OPEN_READ, holder, NULL);
}
