// SPDX-License-Identifier: GPL-2.0
/*
 * Space: the data area is an array of chunks (the allocation unit, 1 MiB by
 * default) and a bucket takes a run of consecutive chunks. A bitmap in
 * memory says which chunks are in use; it is rebuilt from the buckets found
 * at attach, so it is never written to the device.
 *
 * Allocation is next fit: the search starts where the previous bucket
 * ended and wraps around, so a new store is written sequentially and freed
 * runs are reused in device order. See Documentation/design.rst.
 */
#include <linux/bitmap.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include "kvb.h"

int kvb_space_init(struct kvb_store *st)
{
	spin_lock_init(&st->space_lock);
	st->chunk_map = bitmap_zalloc(st->nr_chunks, GFP_KERNEL);
	if (!st->chunk_map)
		return -ENOMEM;
	st->used_chunks = 0;
	st->alloc_cursor = 0;
	return 0;
}

void kvb_space_destroy(struct kvb_store *st)
{
	bitmap_free(st->chunk_map);
	st->chunk_map = NULL;
}

/* Find nr free consecutive chunks; *start receives the device offset. */
int kvb_space_alloc(struct kvb_store *st, u64 nr, u64 *start)
{
	unsigned long size = st->nr_chunks, found;

	if (nr > size)
		return -ENOSPC;
	spin_lock(&st->space_lock);
	found = bitmap_find_next_zero_area(st->chunk_map, size,
					   st->alloc_cursor, nr, 0);
	if (found >= size)
		found = bitmap_find_next_zero_area(st->chunk_map, size, 0,
						   nr, 0);
	if (found >= size) {
		spin_unlock(&st->space_lock);
		return -ENOSPC;
	}
	bitmap_set(st->chunk_map, found, nr);
	st->used_chunks += nr;
	st->alloc_cursor = found + nr;
	spin_unlock(&st->space_lock);
	*start = kvb_chunk_pos(st, found);
	return 0;
}

/* Mark the chunks of a bucket found on the device as used (attach). */
void kvb_space_mark(struct kvb_store *st, u64 start, u64 len)
{
	u64 first = kvb_chunk_of(st, start), nr = len >> st->chunk_shift;

	spin_lock(&st->space_lock);
	bitmap_set(st->chunk_map, first, nr);
	st->used_chunks += nr;
	spin_unlock(&st->space_lock);
}

void kvb_space_free(struct kvb_store *st, u64 start, u64 len)
{
	u64 first = kvb_chunk_of(st, start), nr = len >> st->chunk_shift;

	spin_lock(&st->space_lock);
	bitmap_clear(st->chunk_map, first, nr);
	st->used_chunks -= nr;
	spin_unlock(&st->space_lock);
}

bool kvb_space_is_free(struct kvb_store *st, u64 start, u64 len)
{
	u64 first = kvb_chunk_of(st, start), nr = len >> st->chunk_shift;
	bool ret;

	spin_lock(&st->space_lock);
	ret = find_next_bit(st->chunk_map, first + nr, first) >= first + nr;
	spin_unlock(&st->space_lock);
	return ret;
}

/* Forget every allocation (a discarded attempt to load the index). */
void kvb_space_clear(struct kvb_store *st)
{
	spin_lock(&st->space_lock);
	bitmap_zero(st->chunk_map, st->nr_chunks);
	st->used_chunks = 0;
	st->alloc_cursor = 0;
	spin_unlock(&st->space_lock);
}
