// SPDX-License-Identifier: GPL-2.0
/* Probe: bdev_fput() (6.10+). */
#include <linux/blkdev.h>

void kvb_probe(struct file *file);
void kvb_probe(struct file *file)
{
	bdev_fput(file);
}
