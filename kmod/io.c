// SPDX-License-Identifier: GPL-2.0
/*
 * Block I/O: every read and write of the store is built here from whole
 * pages into bios on the backing device. No page cache, no filesystem.
 *
 * A struct kvb_io counts the bios of one batch of I/O in flight: callers
 * submit any number of runs of pages with kvb_io_submit() (under a plug,
 * so the block layer sees them together) and then wait once.
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "kvb.h"

int kvb_pvec_alloc(struct kvb_pvec *pv, size_t bytes)
{
	unsigned int i, nr = DIV_ROUND_UP(bytes, PAGE_SIZE);

	pv->nr = 0;
	pv->pages = kvmalloc_array(nr, sizeof(*pv->pages), GFP_KERNEL);
	if (!pv->pages)
		return -ENOMEM;
	for (i = 0; i < nr; i++) {
		pv->pages[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!pv->pages[i]) {
			kvb_pvec_free(pv);
			return -ENOMEM;
		}
		pv->nr++;
	}
	return 0;
}

void kvb_pvec_free(struct kvb_pvec *pv)
{
	unsigned int i;

	for (i = 0; i < pv->nr; i++)
		__free_page(pv->pages[i]);
	kvfree(pv->pages);
	pv->pages = NULL;
	pv->nr = 0;
}

void kvb_io_init(struct kvb_io *io)
{
	/* one count for the submitter, dropped by kvb_io_wait() */
	atomic_set(&io->pending, 1);
	io->status = BLK_STS_OK;
	init_completion(&io->done);
}

static void kvb_io_put(struct kvb_io *io)
{
	if (atomic_dec_and_test(&io->pending))
		complete(&io->done);
}

static void kvb_bio_end_io(struct bio *bio)
{
	struct kvb_io *io = bio->bi_private;

	if (bio->bi_status)
		cmpxchg(&io->status, BLK_STS_OK, bio->bi_status);
	bio_put(bio);
	kvb_io_put(io);
}

/*
 * Queue nr pages at device byte offset pos, as few bios as the block layer
 * allows. Never fails: bio_alloc() with GFP_NOIO waits for the mempool.
 */
void kvb_io_submit(struct kvb_store *st, struct kvb_io *io, blk_opf_t opf,
		   u64 pos, struct page **pages, unsigned int nr)
{
	while (nr) {
		unsigned int n = min_t(unsigned int, nr, BIO_MAX_VECS);
		struct bio *bio;
		unsigned int i;

		bio = bio_alloc(st->bdev, n, opf, GFP_NOIO);
		bio->bi_iter.bi_sector = pos >> SECTOR_SHIFT;
		bio->bi_end_io = kvb_bio_end_io;
		bio->bi_private = io;
		for (i = 0; i < n; i++)
			__bio_add_page(bio, pages[i], PAGE_SIZE, 0);
		atomic_inc(&io->pending);
		submit_bio(bio);
		pages += n;
		nr -= n;
		pos += (u64)n << PAGE_SHIFT;
	}
}

/* Wait for everything submitted on io; 0 or the first error as -errno. */
int kvb_io_wait(struct kvb_io *io)
{
	kvb_io_put(io);
	wait_for_completion_io(&io->done);
	return blk_status_to_errno(READ_ONCE(io->status));
}

int kvb_rw_pages(struct kvb_store *st, blk_opf_t opf, u64 pos,
		 struct page **pages, unsigned int nr)
{
	struct blk_plug plug;
	struct kvb_io io;

	kvb_io_init(&io);
	blk_start_plug(&plug);
	kvb_io_submit(st, &io, opf, pos, pages, nr);
	blk_finish_plug(&plug);
	return kvb_io_wait(&io);
}

/*
 * Read or write one store block at pos from or to buf, which holds
 * st->block_size bytes in pages of its own (kvb_block_alloc()).
 */
void kvb_io_submit_block(struct kvb_store *st, struct kvb_io *io,
			 blk_opf_t opf, u64 pos, void *buf)
{
	unsigned int i, nr = st->block_size >> PAGE_SHIFT;
	struct page *pages[KVB_MAX_BLOCK_PAGES];

	for (i = 0; i < nr; i++)
		pages[i] = virt_to_page(buf + (i << PAGE_SHIFT));
	kvb_io_submit(st, io, opf, pos, pages, nr);
}

int kvb_rw_block(struct kvb_store *st, blk_opf_t opf, u64 pos, void *buf)
{
	struct kvb_io io;

	kvb_io_init(&io);
	kvb_io_submit_block(st, &io, opf, pos, buf);
	return kvb_io_wait(&io);
}

/* A zeroed buffer of one store block, page aligned, for kvb_rw_block(). */
void *kvb_block_alloc(struct kvb_store *st)
{
	return (void *)__get_free_pages(GFP_KERNEL | __GFP_ZERO,
					get_order(st->block_size));
}

void kvb_block_free(struct kvb_store *st, void *buf)
{
	if (buf)
		free_pages((unsigned long)buf, get_order(st->block_size));
}

/*
 * Copies between page vectors and other memory. off and len are bytes
 * from the start of the vector; the caller keeps them inside it.
 */
void kvb_pvec_copy_in(struct kvb_pvec *pv, size_t off, const void *src,
		      size_t len)
{
	while (len) {
		size_t poff = offset_in_page(off);
		size_t n = min_t(size_t, len, PAGE_SIZE - poff);

		memcpy_to_page(pv->pages[off >> PAGE_SHIFT], poff, src, n);
		src += n;
		off += n;
		len -= n;
	}
}

/* From user memory, updating *crc over the bytes as copied. */
int kvb_pvec_copy_from_user(struct kvb_pvec *pv, size_t off,
			    const void __user *src, size_t len, u32 *crc)
{
	while (len) {
		size_t poff = offset_in_page(off);
		size_t n = min_t(size_t, len, PAGE_SIZE - poff);
		void *p = kmap_local_page(pv->pages[off >> PAGE_SHIFT]);
		unsigned long left;

		left = copy_from_user(p + poff, src, n);
		if (!left)
			*crc = kvb_crc_update(*crc, p + poff, n);
		kunmap_local(p);
		if (left)
			return -EFAULT;
		src += n;
		off += n;
		len -= n;
		cond_resched();
	}
	return 0;
}

int kvb_pvec_copy_to_user(struct kvb_pvec *pv, size_t off, void __user *dst,
			  size_t len)
{
	while (len) {
		size_t poff = offset_in_page(off);
		size_t n = min_t(size_t, len, PAGE_SIZE - poff);
		void *p = kmap_local_page(pv->pages[off >> PAGE_SHIFT]);
		unsigned long left;

		left = copy_to_user(dst, p + poff, n);
		kunmap_local(p);
		if (left)
			return -EFAULT;
		dst += n;
		off += n;
		len -= n;
		cond_resched();
	}
	return 0;
}

/* CRC-32C state over len bytes of the vector from off. */
u32 kvb_pvec_crc(struct kvb_pvec *pv, size_t off, size_t len, u32 crc)
{
	while (len) {
		size_t poff = offset_in_page(off);
		size_t n = min_t(size_t, len, PAGE_SIZE - poff);
		void *p = kmap_local_page(pv->pages[off >> PAGE_SHIFT]);

		crc = kvb_crc_update(crc, p + poff, n);
		kunmap_local(p);
		off += n;
		len -= n;
	}
	return crc;
}
