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
#include <linux/bitmap.h>
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
 * Zero copy. A kvb_map holds the pages of a range of the device for one
 * I/O, page i backing bytes [i * PAGE_SIZE, (i + 1) * PAGE_SIZE) of the
 * range: user pages pinned for direct I/O where a value allows it, bounce
 * pages of ours everywhere else. Every entry is a whole page, so the map
 * goes into bios with kvb_io_submit() like any page vector.
 *
 * A block of a value (st->block_size bytes from a block boundary of the
 * value) goes direct when it lies inside one slice and its user address is
 * block aligned: then it is a run of whole user pages that map exactly the
 * block's device range. Everything else (a value's head or tail, slices at
 * other addresses) is copied through bounce pages, and so is a block whose
 * pages cannot be pinned (memory that is not ordinary RAM, or unmapped
 * meanwhile: the copy then fails with EFAULT as before).
 */
int kvb_map_alloc(struct kvb_map *m, size_t bytes, bool load)
{
	memset(m, 0, sizeof(*m));
	m->nr = DIV_ROUND_UP(bytes, PAGE_SIZE);
	m->load = load;
	m->pages = kvcalloc(m->nr, sizeof(*m->pages), GFP_KERNEL);
	m->user = bitmap_zalloc(m->nr, GFP_KERNEL);
	if (!m->pages || !m->user) {
		kvb_map_free(m);
		return -ENOMEM;
	}
	return 0;
}

/* Unpin the user pages (dirtied if a load read into them), free the rest. */
void kvb_map_free(struct kvb_map *m)
{
	unsigned int i = 0, n;

	while (m->pages && i < m->nr) {
		if (!m->pages[i]) {
			i++;
			continue;
		}
		if (!test_bit(i, m->user)) {
			__free_page(m->pages[i++]);
			continue;
		}
		for (n = 1; i + n < m->nr && m->pages[i + n] &&
		     test_bit(i + n, m->user); n++)
			;
		if (m->load)
			unpin_user_pages_dirty_lock(&m->pages[i], n, true);
		else
			unpin_user_pages(&m->pages[i], n);
		i += n;
	}
	kvfree(m->pages);
	bitmap_free(m->user);
	memset(m, 0, sizeof(*m));
}

static bool kvb_map_is_user(struct kvb_map *m, size_t off)
{
	return test_bit(off >> PAGE_SHIFT, m->user);
}

/*
 * Bytes of whole blocks that can go direct in a slice of len bytes at user
 * address addr, which holds the value's bytes from p on; *start receives
 * the value offset of the first such block.
 */
u64 kvb_slice_direct(struct kvb_store *st, u64 p, u64 addr, u64 len,
		     u64 *start)
{
	u64 bs = st->block_size, first, end;

	/* whole pages of block granularity only */
	if (!IS_ALIGNED(bs, PAGE_SIZE) || (addr - p) & (bs - 1))
		return 0;
	first = round_up(p, bs);
	end = round_down(p + len, bs);
	if (first >= end)
		return 0;
	*start = first;
	return end - first;
}

/*
 * Pin len bytes of user memory at uaddr (page aligned, whole pages) as the
 * map's pages from off; for a load, writable. All or nothing: false when
 * any page cannot be pinned, and the range stays for bounce pages.
 */
static bool kvb_map_pin(struct kvb_map *m, size_t off, unsigned long uaddr,
			size_t len)
{
	unsigned int first = off >> PAGE_SHIFT, nr = len >> PAGE_SHIFT, i;
	int ret;

	ret = pin_user_pages_fast(uaddr, nr, m->load ? FOLL_WRITE : 0,
				  &m->pages[first]);
	if (ret == (int)nr) {
		for (i = first; i < first + nr; i++)
			__set_bit(i, m->user);
		return true;
	}
	if (ret > 0)
		unpin_user_pages(&m->pages[first], ret);
	for (i = first; i < first + nr; i++)
		m->pages[i] = NULL;
	return false;
}

/* Bounce pages (gfp) for the pages of [off, off + len) not mapped yet. */
int kvb_map_bounce(struct kvb_map *m, size_t off, size_t len, gfp_t gfp)
{
	unsigned int i, end = DIV_ROUND_UP(off + len, PAGE_SIZE);

	for (i = off >> PAGE_SHIFT; i < end; i++) {
		if (m->pages[i])
			continue;
		m->pages[i] = alloc_page(gfp);
		if (!m->pages[i])
			return -ENOMEM;
	}
	return 0;
}

/*
 * Map the value of descriptor i of rq (len bytes) at map offset off, which
 * is block aligned: pin its direct blocks, then give every other page of
 * its blocks a bounce page (gfp: __GFP_ZERO unless a read overwrites it).
 * Returns the bytes that go direct, or -ENOMEM.
 */
s64 kvb_map_value(struct kvb_store *st, struct kvb_map *m, size_t off,
		  const struct kvb_req *rq, u32 i, u64 len, gfp_t gfp)
{
	u64 p = 0, direct = 0, start, n;
	u32 s;

	for (s = rq->slice_off[i]; s < rq->slice_off[i + 1]; s++) {
		const struct kvb_slice *sl = &rq->slices[s];

		n = kvb_slice_direct(st, p, sl->addr, sl->len, &start);
		if (n && kvb_map_pin(m, off + start, sl->addr + (start - p), n))
			direct += n;
		p += sl->len;
	}
	if (kvb_map_bounce(m, off, kvb_blocks_bytes(st, len), gfp))
		return -ENOMEM;
	return direct;
}

/* Kernel memory into the map's bounce pages (metadata). */
void kvb_map_copy_in(struct kvb_map *m, size_t off, const void *src,
		     size_t len)
{
	while (len) {
		size_t poff = offset_in_page(off);
		size_t n = min_t(size_t, len, PAGE_SIZE - poff);

		memcpy_to_page(m->pages[off >> PAGE_SHIFT], poff, src, n);
		src += n;
		off += n;
		len -= n;
	}
}

/*
 * Fill a value mapped at off from its slices and take its checksum, in
 * value order: bounce pages are copied into and checksummed over the copy,
 * pinned pages are only read. *crc receives the final CRC-32C.
 */
int kvb_map_value_in(struct kvb_map *m, size_t off, const struct kvb_req *rq,
		     u32 i, u32 *crc)
{
	u32 s, c = KVB_CRC_INIT;

	for (s = rq->slice_off[i]; s < rq->slice_off[i + 1]; s++) {
		const struct kvb_slice *sl = &rq->slices[s];
		const void __user *src = u64_to_user_ptr(sl->addr);
		size_t len = sl->len;

		while (len) {
			size_t poff = offset_in_page(off);
			size_t n = min_t(size_t, len, PAGE_SIZE - poff);
			void *p = kmap_local_page(m->pages[off >> PAGE_SHIFT]);
			unsigned long left = 0;

			if (!kvb_map_is_user(m, off))
				left = copy_from_user(p + poff, src, n);
			if (!left)
				c = kvb_crc_update(c, p + poff, n);
			kunmap_local(p);
			if (left)
				return -EFAULT;
			src += n;
			off += n;
			len -= n;
			cond_resched();
		}
	}
	*crc = kvb_crc_final(c);
	return 0;
}

/* The final CRC-32C of len bytes of the map from off. */
u32 kvb_map_crc(struct kvb_map *m, size_t off, size_t len)
{
	u32 c = KVB_CRC_INIT;

	while (len) {
		size_t poff = offset_in_page(off);
		size_t n = min_t(size_t, len, PAGE_SIZE - poff);
		void *p = kmap_local_page(m->pages[off >> PAGE_SHIFT]);

		c = kvb_crc_update(c, p + poff, n);
		kunmap_local(p);
		off += n;
		len -= n;
		cond_resched();
	}
	return kvb_crc_final(c);
}

/*
 * Copy a value read into the map at off out to its slices: only what was
 * read into bounce pages; the direct blocks are in place already.
 */
int kvb_map_value_out(struct kvb_map *m, size_t off, const struct kvb_req *rq,
		      u32 i)
{
	u32 s;

	for (s = rq->slice_off[i]; s < rq->slice_off[i + 1]; s++) {
		const struct kvb_slice *sl = &rq->slices[s];
		void __user *dst = u64_to_user_ptr(sl->addr);
		size_t len = sl->len;

		while (len) {
			size_t poff = offset_in_page(off);
			size_t n = min_t(size_t, len, PAGE_SIZE - poff);

			if (!kvb_map_is_user(m, off)) {
				struct page *pg = m->pages[off >> PAGE_SHIFT];
				void *p = kmap_local_page(pg);
				unsigned long left;

				left = copy_to_user(dst, p + poff, n);
				kunmap_local(p);
				if (left)
					return -EFAULT;
				cond_resched();
			}
			dst += n;
			off += n;
			len -= n;
		}
	}
	return 0;
}
