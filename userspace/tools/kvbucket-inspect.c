// SPDX-License-Identifier: GPL-2.0
/*
 * kvbucket-inspect: read a kvbucket store offline (a block device that is
 * not attached, or an image file) and print its superblock, buckets, keys
 * and space use. With --check, verify every checksum, values included, and
 * exit 1 naming what is damaged.
 *
 * It walks the device exactly as the module's attach scan does
 * (Documentation/format.rst, "Finding the buckets at attach"), using the
 * same format header, uapi/linux/kvbucket_format.h.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/kvbucket.h>
#include <linux/kvbucket_format.h>

#include "libkvbucket.h"
#include "util.h"

static struct {
	bool check, json, keys;
} opt;

struct dev {
	int fd;
	const char *path;
	uint64_t size;
	struct kvb_disk_super sb;
	uint32_t bs, cs;
	uint64_t data_start, nr_chunks;
	void *blk;
	unsigned int damaged;		/* findings of --check */
	bool first_bucket;
};

static uint32_t crc_of(const void *buf, size_t len)
{
	return kvb_crc32c(0, buf, len);
}

static void finding(struct dev *d, const char *fmt, ...)
{
	va_list ap;

	d->damaged++;
	va_start(ap, fmt);
	fprintf(stderr, "kvbucket-inspect: %s: damaged: ", d->path);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int read_at(struct dev *d, void *buf, size_t len, uint64_t pos)
{
	ssize_t n = pread(d->fd, buf, len, pos);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

/* A block whose crc field (32 bits at crc_off) covers the whole block. */
static bool block_crc_ok(struct dev *d, void *blk, size_t crc_off)
{
	uint32_t stored, *p = (uint32_t *)((char *)blk + crc_off);
	bool ok;

	stored = le32toh(*p);
	*p = 0;
	ok = crc_of(blk, d->bs) == stored;
	*p = htole32(stored);
	return ok;
}

static void text_key(const uint8_t *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] == '\\')
			fputs("\\\\", stdout);
		else if (s[i] < 0x20 || s[i] >= 0x7f)
			printf("\\x%02x", s[i]);
		else
			putchar(s[i]);
	}
}

static int load_super(struct dev *d)
{
	struct kvb_disk_super *best = NULL;
	static uint8_t copies[KVB_SUPER_COPIES][KVB_MIN_BLOCK_SIZE];
	int i, found = 0;

	for (i = 0; i < KVB_SUPER_COPIES; i++) {
		struct kvb_disk_super *sb = (void *)copies[i];

		if (read_at(d, sb, KVB_MIN_BLOCK_SIZE,
			    (uint64_t)i * KVB_MIN_BLOCK_SIZE))
			continue;
		if (le64toh(sb->magic) != KVB_SUPER_MAGIC)
			continue;
		found++;
		d->bs = KVB_MIN_BLOCK_SIZE;
		if (!block_crc_ok(d, sb, offsetof(struct kvb_disk_super, crc))) {
			finding(d, "superblock copy %d: checksum", i);
			continue;
		}
		if (!best || le64toh(sb->generation) > le64toh(best->generation))
			best = sb;
	}
	if (!best) {
		fprintf(stderr, "kvbucket-inspect: %s: %s\n", d->path,
			found ? "every superblock copy is damaged" :
				"not a kvbucket store");
		return found ? -EUCLEAN : -EINVAL;
	}
	d->sb = *best;
	d->bs = le32toh(best->block_size);
	d->cs = le32toh(best->chunk_size);
	d->data_start = le64toh(best->data_start);
	d->nr_chunks = le64toh(best->nr_chunks);
	if (le32toh(best->version) != KVB_FORMAT_VERSION ||
	    d->bs != KVB_MIN_BLOCK_SIZE || !d->cs || d->cs & (d->cs - 1) ||
	    d->data_start + d->nr_chunks * d->cs > d->size) {
		fprintf(stderr, "kvbucket-inspect: %s: superblock geometry not supported or beyond the device\n",
			d->path);
		return -EUCLEAN;
	}
	return 0;
}

static void print_super(struct dev *d, uint64_t used, uint64_t buckets,
			uint64_t keys, uint64_t bytes)
{
	const struct kvb_disk_super *sb = &d->sb;
	char uuid[40];
	int i;

	for (i = 0; i < 16; i++)
		sprintf(uuid + 2 * i, "%02x", sb->uuid[i]);
	if (opt.json) {
		printf("],\"superblock\":{\"version\":%u,\"uuid\":\"%s\",\"generation\":%" PRIu64
		       ",\"state\":\"%s\",\"block_size\":%u,\"chunk_size\":%u,\"data_start\":%" PRIu64
		       ",\"nr_chunks\":%" PRIu64 ",\"max_keys_per_bucket\":%u,\"max_bucket_bytes\":%" PRIu64
		       ",\"id_lease\":%" PRIu64 ",\"attach_count\":%" PRIu64 "},",
		       le32toh(sb->version), uuid, le64toh(sb->generation),
		       le32toh(sb->state) == KVB_SB_CLEAN ? "clean" : "dirty",
		       d->bs, d->cs, d->data_start, d->nr_chunks,
		       le32toh(sb->max_keys_per_bucket),
		       le64toh(sb->max_bucket_bytes), le64toh(sb->id_lease),
		       le64toh(sb->attach_count));
		printf("\"space\":{\"capacity_bytes\":%" PRIu64 ",\"used_bytes\":%" PRIu64
		       ",\"buckets\":%" PRIu64 ",\"keys\":%" PRIu64 ",\"value_bytes\":%" PRIu64
		       "},\"damaged\":%u}\n",
		       d->nr_chunks * d->cs, used, buckets, keys, bytes,
		       d->damaged);
		return;
	}
	printf("store %s: format %u, uuid %s, %s, generation %" PRIu64 "\n",
	       d->path, le32toh(sb->version), uuid,
	       le32toh(sb->state) == KVB_SB_CLEAN ? "clean" : "dirty",
	       le64toh(sb->generation));
	printf("  block %u, chunk %u, %" PRIu64 " chunks from %" PRIu64
	       ", limits %u keys / %" PRIu64 " bytes per bucket, id lease %" PRIu64 "\n",
	       d->bs, d->cs, d->nr_chunks, d->data_start,
	       le32toh(sb->max_keys_per_bucket), le64toh(sb->max_bucket_bytes),
	       le64toh(sb->id_lease));
	printf("  %" PRIu64 " buckets, %" PRIu64 " keys, %" PRIu64
	       " value bytes; %" PRIu64 " of %" PRIu64 " bytes used\n",
	       buckets, keys, bytes, used, d->nr_chunks * d->cs);
}

/* The newer valid state slot's bitmap into removed, if any. */
static void read_state(struct dev *d, const struct kvb_disk_bucket *h,
		       uint8_t *removed)
{
	uint64_t start = le64toh(h->start), len = le64toh(h->len), best = 0;
	struct kvb_disk_state *s = d->blk;
	int slot;

	for (slot = 0; slot < 2; slot++) {
		if (read_at(d, s, d->bs, start + len - (3 - slot) * d->bs))
			continue;
		if (le64toh(s->magic) != KVB_STATE_MAGIC ||
		    s->bucket_id != h->id || s->bucket_seq != h->seq ||
		    s->nr_objs != h->nr_objs ||
		    memcmp(s->uuid, d->sb.uuid, sizeof(s->uuid)) ||
		    !block_crc_ok(d, s, offsetof(struct kvb_disk_state, crc)))
			continue;
		if (le64toh(s->seq) > best) {
			best = le64toh(s->seq);
			memcpy(removed, s->removed, d->bs - sizeof(*s));
		}
	}
}

/* Verify one value's checksum. */
static bool value_ok(struct dev *d, uint64_t pos, uint64_t len, uint32_t crc)
{
	static uint8_t buf[1 << 20];
	uint32_t c = 0;

	while (len) {
		size_t n = len < sizeof(buf) ? len : sizeof(buf);

		if (read_at(d, buf, n, pos))
			return false;
		c = kvb_crc32c(c, buf, n);
		pos += n;
		len -= n;
	}
	return c == crc;
}

/*
 * Examine the chunk at pos like the module's attach scan. Returns the
 * number of chunks to advance.
 */
static uint64_t inspect_chunk(struct dev *d, uint64_t pos, uint64_t *used,
			      uint64_t *buckets, uint64_t *keys,
			      uint64_t *bytes)
{
	struct kvb_disk_bucket h, tmp;
	struct kvb_disk_commit *c;
	uint32_t nr, meta_len, j, live = 0, listed = 0;
	uint64_t len, id, live_bytes = 0;
	uint8_t *meta, *removed;
	struct kvb_disk_obj *tab;

	if (read_at(d, d->blk, d->bs, pos))
		return 1;
	memcpy(&h, d->blk, sizeof(h));
	if (le64toh(h.magic) != KVB_BUCKET_MAGIC ||
	    memcmp(h.uuid, d->sb.uuid, sizeof(h.uuid)))
		return 1;
	tmp = h;
	tmp.hdr_crc = 0;
	tmp.meta_crc = 0;
	id = le64toh(h.id);
	len = le64toh(h.len);
	nr = le32toh(h.nr_objs);
	meta_len = le32toh(h.meta_len);
	if (crc_of(&tmp, sizeof(tmp)) != le32toh(h.hdr_crc) ||
	    le64toh(h.start) != pos || !len || len % d->cs ||
	    len > d->data_start + d->nr_chunks * d->cs - pos || !nr ||
	    nr > KVB_MAX_KEYS_PER_BUCKET ||
	    meta_len < sizeof(h) + (uint64_t)nr * (sizeof(*tab) + 1) ||
	    meta_len + 3ULL * d->bs > len) {
		finding(d, "bucket header at %" PRIu64, pos);
		return 1;
	}
	c = d->blk;
	if (read_at(d, c, d->bs, pos + len - d->bs) ||
	    le64toh(c->magic) != KVB_COMMIT_MAGIC ||
	    !block_crc_ok(d, c, offsetof(struct kvb_disk_commit, crc)) ||
	    c->bucket_id != h.id || c->bucket_seq != h.seq ||
	    c->start != h.start || c->len != h.len ||
	    c->hdr_crc != h.hdr_crc || c->meta_crc != h.meta_crc ||
	    c->nr_objs != h.nr_objs) {
		/* a torn bucket: its OFFLOAD never succeeded */
		if (!opt.json)
			printf("torn bucket %" PRIu64 " at %" PRIu64 " (no commit record)\n",
			       id, pos);
		return 1;
	}
	meta = malloc(meta_len);
	removed = calloc(1, d->bs);
	if (!meta || !removed || read_at(d, meta, meta_len, pos)) {
		free(meta);
		free(removed);
		finding(d, "bucket %" PRIu64 ": metadata unreadable", id);
		return 1;
	}
	memcpy(meta, &tmp, sizeof(tmp));
	if (crc_of(meta, meta_len) != le32toh(h.meta_crc)) {
		finding(d, "bucket %" PRIu64 " at %" PRIu64 ": metadata checksum",
			id, pos);
		free(meta);
		free(removed);
		return 1;
	}
	read_state(d, &h, removed);
	tab = (struct kvb_disk_obj *)(meta + sizeof(h));
	for (j = 0; j < nr; j++)
		if (!(removed[j / 8] & (1 << (j % 8)))) {
			live++;
			live_bytes += le64toh(tab[j].value_len);
		}

	if (opt.json) {
		printf("%s{\"id\":%" PRIu64 ",\"start\":%" PRIu64 ",\"len\":%" PRIu64
		       ",\"objects\":%u,\"live_keys\":%u,\"live_bytes\":%" PRIu64
		       ",\"ctime_ns\":%" PRIu64,
		       d->first_bucket ? "" : ",", id, pos, len, nr, live,
		       live_bytes, le64toh(h.ctime_ns));
		d->first_bucket = false;
		if (opt.keys)
			printf(",\"keys\":[");
	} else {
		printf("bucket %" PRIu64 " at %" PRIu64 ", %" PRIu64 " bytes: %u of %u keys live, %" PRIu64 " value bytes\n",
		       id, pos, len, live, nr, live_bytes);
	}
	for (j = 0; j < nr; j++) {
		uint64_t voff = le64toh(tab[j].value_off);
		uint64_t vlen = le64toh(tab[j].value_len);
		uint32_t koff = le32toh(tab[j].key_off);
		uint16_t klen = le16toh(tab[j].key_len);
		bool gone = removed[j / 8] & (1 << (j % 8));

		if (!klen || klen > KVB_MAX_KEY_LEN ||
		    (uint64_t)koff + klen > meta_len || voff % d->bs ||
		    voff + vlen > len - 3ULL * d->bs) {
			finding(d, "bucket %" PRIu64 ": object %u out of bounds",
				id, j);
			break;
		}
		if (opt.check && !gone &&
		    !value_ok(d, pos + voff, vlen, le32toh(tab[j].value_crc)))
			finding(d, "bucket %" PRIu64 ": value of object %u (%" PRIu64
				" bytes at %" PRIu64 "): checksum", id, j, vlen,
				pos + voff);
		if (!opt.keys || gone)
			continue;
		if (opt.json) {
			printf("%s{\"key\":", listed++ ? "," : "");
			tool_json_str(meta + koff, klen);
			printf(",\"value_len\":%" PRIu64 ",\"offset\":%" PRIu64 "}",
			       vlen, pos + voff);
		} else {
			printf("  ");
			text_key(meta + koff, klen);
			printf("  %" PRIu64 " bytes at %" PRIu64 "\n", vlen,
			       pos + voff);
		}
	}
	if (opt.json)
		printf("%s}", opt.keys ? "]" : "");
	*used += len;
	*buckets += 1;
	*keys += live;
	*bytes += live_bytes;
	free(meta);
	free(removed);
	return len / d->cs;
}

/*
 * The index checkpoint a CLEAN superblock names (format.rst): its checksum,
 * magic, uuid and generation. Only --check reads it all.
 */
static void check_ckpt(struct dev *d)
{
	const struct kvb_disk_super *sb = &d->sb;
	uint64_t start = le64toh(sb->ckpt_start), len = le64toh(sb->ckpt_len);
	struct kvb_disk_ckpt *hdr;
	uint8_t *buf;

	if (le32toh(sb->state) != KVB_SB_CLEAN || !start)
		return;
	if (!opt.json)
		printf("index checkpoint at %" PRIu64 ", %" PRIu64 " bytes\n",
		       start, len);
	if (!opt.check)
		return;
	if (start < d->data_start || len < sizeof(*hdr) ||
	    len > d->data_start + d->nr_chunks * d->cs - start) {
		finding(d, "index checkpoint at %" PRIu64 ": outside the data area",
			start);
		return;
	}
	buf = malloc(len);
	if (!buf || read_at(d, buf, len, start)) {
		finding(d, "index checkpoint at %" PRIu64 ": unreadable", start);
		free(buf);
		return;
	}
	hdr = (struct kvb_disk_ckpt *)buf;
	if (crc_of(buf, len) != le32toh(sb->ckpt_crc))
		finding(d, "index checkpoint at %" PRIu64 ": checksum", start);
	else if (le64toh(hdr->magic) != KVB_CKPT_MAGIC ||
		 memcmp(hdr->uuid, sb->uuid, sizeof(hdr->uuid)) ||
		 hdr->sb_generation != sb->generation)
		finding(d, "index checkpoint at %" PRIu64 ": not this superblock's",
			start);
	free(buf);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kvbucket-inspect [--check] [--keys] [--json] DEVICE-OR-IMAGE\n"
		"\n"
		"Print the superblock, buckets and space use of a kvbucket store that\n"
		"is not attached.\n"
		"  --check   verify every checksum, values included; exit 1 on damage\n"
		"  --keys    list every live key\n"
		"  --json    one JSON object on stdout\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, 'c' },
		{ "keys", no_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t c, used = 0, buckets = 0, keys = 0, bytes = 0;
	struct dev d = { .first_bucket = true };
	struct stat st;
	int ch, ret;

	while ((ch = getopt_long(argc, argv, "ckjh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			opt.check = true;
			break;
		case 'k':
			opt.keys = true;
			break;
		case 'j':
			opt.json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	d.path = argv[optind];
	d.fd = open(d.path, O_RDONLY);
	if (d.fd < 0 || fstat(d.fd, &st)) {
		fprintf(stderr, "kvbucket-inspect: %s: %s\n", d.path,
			strerror(errno));
		return 1;
	}
	d.size = st.st_size;
	if (S_ISBLK(st.st_mode) && ioctl(d.fd, BLKGETSIZE64, &d.size)) {
		fprintf(stderr, "kvbucket-inspect: %s: %s\n", d.path,
			strerror(errno));
		return 1;
	}
	ret = load_super(&d);
	if (ret)
		return 1;
	d.blk = aligned_alloc(4096, d.bs);
	if (!d.blk)
		return 1;
	if (opt.json) {
		printf("{\"device\":");
		tool_json_str((const uint8_t *)d.path, strlen(d.path));
		printf(",\"buckets\":[");
	}
	for (c = 0; c < d.nr_chunks;)
		c += inspect_chunk(&d, d.data_start + c * d.cs, &used,
				   &buckets, &keys, &bytes);
	check_ckpt(&d);
	print_super(&d, used, buckets, keys, bytes);
	if (d.damaged) {
		fprintf(stderr, "kvbucket-inspect: %s: %u damaged\n", d.path,
			d.damaged);
		return 1;
	}
	return 0;
}
