// SPDX-License-Identifier: GPL-2.0
/*
 * kvbucketctl: attach, detach and inspect kvbucket stores, set their
 * eviction policy and follow their eviction events, and put, get, query
 * and remove single keys from the command line. A thin front end of
 * libkvbucket; see usage() for the commands.
 *
 * Exit status: 0 success, 1 an operation failed (one line on stderr:
 * "kvbucketctl: <command>: <key or device>: <reason>"), 2 usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "libkvbucket.h"
#include "util.h"

#define PROG		"kvbucketctl"
#define CONTROL_PATH	"/dev/" KVB_CONTROL_NAME
#define EXIT_USAGE	2

/* Which options a command takes. */
#define O_JSON		(1U << 0)
#define O_HEX		(1U << 1)
#define O_STORE		(1U << 2)
#define O_FORMAT	(1U << 3)
#define O_VOLATILE	(1U << 4)
#define O_MAX_KEYS	(1U << 5)
#define O_MAX_BYTES	(1U << 6)
#define O_CHUNK_SIZE	(1U << 7)
#define O_REPLACE	(1U << 8)
#define O_START		(1U << 9)
#define O_LIMIT		(1U << 10)
#define O_SCAN		(1U << 11)
#define O_POLICY	(1U << 12)
#define O_HIGH_WM	(1U << 13)
#define O_LOW_WM	(1U << 14)
#define O_COUNT		(1U << 15)

static struct {
	unsigned int given;		/* O_* seen on the command line */
	bool json, hex, format, volatile_, replace, scan;
	const char *store;		/* --store ID|DEV */
	uint32_t max_keys;
	uint64_t max_bytes;
	uint64_t chunk_size;
	uint64_t start;
	uint64_t limit;
	uint32_t policy;		/* KVB_POLICY_* */
	uint32_t high_wm, low_wm;	/* percent */
	uint64_t count;
} opt;

static const char *cmd = "";		/* for error messages */

static void usage(FILE *f)
{
	fprintf(f,
"usage: kvbucketctl [OPTIONS] COMMAND [ARGS]\n"
"\n"
"Manage kvbucket stores (block devices holding batches of key -> value\n"
"objects) and their keys. Stores are /dev/kvbucketN; N is the store ID.\n"
"\n"
"Stores (attach and detach need CAP_SYS_ADMIN):\n"
"  attach DEV [--format] [--volatile] [--scan] [--max-keys N]\n"
"             [--max-bytes SIZE] [--chunk-size SIZE]\n"
"             [--policy fifo|lru|lfu] [--high-watermark PCT]\n"
"             [--low-watermark PCT]\n"
"                    make block device DEV a store and print its ID;\n"
"                    --format writes a new, empty store (erasing DEV),\n"
"                    without it DEV must already hold one\n"
"  detach ID|DEV     write a clean superblock and release the device\n"
"  list              attached stores, one line each\n"
"  info [ID|DEV]     everything about one store\n"
"  stats             totals of the selected store: keys, buckets, bytes,\n"
"                    used/free/capacity, eviction\n"
"  features          ABI version, feature bits and limits of the module\n"
"\n"
"Eviction (a store is a cache: above the high watermark, whole buckets\n"
"are evicted in policy order until it is below the low watermark):\n"
"  policy [fifo|lru|lfu] [--high-watermark PCT] [--low-watermark PCT]\n"
"                    set what is given, print what is in force\n"
"  events [--count N]\n"
"                    follow the eviction events of the selected store,\n"
"                    from now until it is detached (or N were printed):\n"
"                    evict seq=S bucket=B keys=K bytes=V policy=POLICY\n"
"                    then its keys indented, one per line with its value\n"
"                    length; \"lost seq=S count=N\" when events were\n"
"                    missed (resynchronise with scan); --json: one\n"
"                    object per line\n"
"\n"
"Keys (of the selected store):\n"
"  put KEY [FILE|-] [--replace]\n"
"                    store FILE (default: standard input) as KEY's value,\n"
"                    in a new bucket of its own; a stored KEY is an error\n"
"                    unless --replace\n"
"  get KEY [FILE|-]  write KEY's value to FILE (default: standard output)\n"
"  query KEY...      length, bucket and device offset of each KEY\n"
"  rm KEY...         remove each KEY\n"
"  scan [--start ID] [--limit N]\n"
"                    every bucket from ID on (at most N buckets): id, key\n"
"                    count, value bytes, creation time, keys\n"
"  delete-bucket ID  delete bucket ID with all its keys\n"
"\n"
"Options:\n"
"  -s, --store ID|DEV\n"
"                    the store to use; default: the only attached store\n"
"  --json            machine-readable output (list, info, stats, features,\n"
"                    query, scan, attach, policy, events)\n"
"  --hex             keys are given, and printed, as hex (binary keys);\n"
"                    otherwise non-printable key bytes print as \\xNN\n"
"                    (\\u00NN in JSON)\n"
"  --format          attach: write a new store\n"
"  --volatile        attach: no cache flush per bucket (faster; acknowledged\n"
"                    writes may be lost at a power cut, never corrupted)\n"
"  --scan            attach: read every bucket's metadata, even when a\n"
"                    clean detach left an index checkpoint\n"
"  --max-keys N      attach: keys per bucket, 1..%u (0: the store's)\n"
"  --max-bytes SIZE  attach: value bytes per bucket, up to 1G\n"
"                    (0: the store's)\n"
"  --chunk-size SIZE attach --format: allocation unit, a power of two from\n"
"                    the block size to 64M (default 1M)\n"
"  --policy fifo|lru|lfu\n"
"                    attach: eviction order, oldest bucket first (fifo,\n"
"                    the default), least recently loaded (lru) or least\n"
"                    often loaded (lfu)\n"
"  --high-watermark PCT, --low-watermark PCT\n"
"                    attach, policy: start evicting above PCT%% of the\n"
"                    capacity, stop below PCT%% (1 <= low < high <= 100;\n"
"                    default 90 and 80)\n"
"  --replace         put: replace a stored value\n"
"  --start ID        scan: first bucket id\n"
"  --limit N         scan: at most N buckets\n"
"  --count N         events: exit after N events (evict or lost)\n"
"  -h, --help        this text\n"
"\n"
"SIZE takes a K, M, G or T suffix (powers of 1024). Options may come\n"
"anywhere; \"--\" ends them (for keys that start with '-').\n"
"\n"
"Exit status: 0 success; 1 an operation failed, with one line on stderr\n"
"\"kvbucketctl: COMMAND: KEY-OR-DEVICE: REASON\" (query and rm: a key that\n"
"is not stored); 2 usage error.\n"
"\n"
"Examples:\n"
"  kvbucketctl attach /dev/nvme1n1 --format\n"
"  echo hello | kvbucketctl put greeting -\n"
"  kvbucketctl get greeting\n"
"  kvbucketctl --hex query 00ff10\n"
"  kvbucketctl scan --json\n"
"  kvbucketctl policy lru --high-watermark 85\n"
"  kvbucketctl events -s 0 --json | jq .keys\n"
"  kvbucketctl detach /dev/nvme1n1\n",
		KVB_MAX_KEYS_PER_BUCKET);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": %s%s", cmd, *cmd ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see " PROG " --help)\n");
	exit(EXIT_USAGE);
}

/* "kvbucketctl: CMD: SUBJECT: strerror[ (hint)]" */
static void report(const char *subject, int err, const char *hint)
{
	fprintf(stderr, PROG ": %s: %s: %s", cmd, subject, strerror(-err));
	if (hint)
		fprintf(stderr, " (%s)", hint);
	fputc('\n', stderr);
}

static void __attribute__((noreturn))
fail(const char *subject, int err, const char *hint)
{
	report(subject, err, hint);
	exit(1);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
fail_msg(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *xmalloc(size_t len)
{
	void *p = malloc(len ? len : 1);

	if (!p)
		fail("memory", -ENOMEM, NULL);
	return p;
}

/* Fail with a hint when the control device is missing. */
static void check_control(void)
{
	struct stat st;

	if (stat(CONTROL_PATH, &st) < 0)
		fail(CONTROL_PATH, -errno, errno == ENOENT ?
		     "is the kvbucket module loaded?" : NULL);
}

/* Parsing. */

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return false;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return !errno && !*end;
}

struct key {
	const char *arg;		/* as given */
	uint8_t *data;
	uint32_t len;
};

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void parse_key(const char *arg, struct key *k)
{
	size_t n = strlen(arg), i;

	k->arg = arg;
	if (opt.hex) {
		if (n >= 2 && arg[0] == '0' &&
		    (arg[1] == 'x' || arg[1] == 'X')) {
			arg += 2;
			n -= 2;
		}
		if (n % 2)
			usage_error("%s: odd number of hex digits", k->arg);
		n /= 2;
		k->data = xmalloc(n);
		for (i = 0; i < n; i++) {
			int hi = hexval(arg[2 * i]);
			int lo = hexval(arg[2 * i + 1]);

			if (hi < 0 || lo < 0)
				usage_error("%s: not a hex key", k->arg);
			k->data[i] = hi << 4 | lo;
		}
	} else {
		k->data = (uint8_t *)arg;
	}
	if (n < 1 || n > KVB_MAX_KEY_LEN)
		usage_error("%s: a key is 1 to %u bytes", k->arg,
			    KVB_MAX_KEY_LEN);
	k->len = n;
}

static struct key *parse_keys(char **args, int n)
{
	struct key *keys = xmalloc(n * sizeof(*keys));
	int i;

	for (i = 0; i < n; i++)
		parse_key(args[i], &keys[i]);
	return keys;
}

/* Printing. */

static void print_key(FILE *f, const uint8_t *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (opt.hex)
			fprintf(f, "%02x", s[i]);
		else if (s[i] == '\\')
			fputs("\\\\", f);
		else if (s[i] <= 0x20 || s[i] >= 0x7f)
			fprintf(f, "\\x%02x", s[i]);
		else
			fputc(s[i], f);
	}
}

static void json_key(const uint8_t *s, size_t len)
{
	size_t i;

	if (!opt.hex) {
		tool_json_str(s, len);
		return;
	}
	putchar('"');
	for (i = 0; i < len; i++)
		printf("%02x", s[i]);
	putchar('"');
}

static const char *human(uint64_t v, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB",
					     "PiB" };
	double d = v;
	int u = 0;

	while (d >= 1024 && u < 5) {
		d /= 1024;
		u++;
	}
	if (!u)
		snprintf(buf, len, "%" PRIu64 " B", v);
	else
		snprintf(buf, len, "%.1f %s", d, units[u]);
	return buf;
}

static const char *time_str(uint64_t ns, char *buf, size_t len)
{
	time_t t = ns / 1000000000ULL;
	struct tm tm;

	if (!ns || !localtime_r(&t, &tm) ||
	    !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, len, "-");
	return buf;
}

static const char *const policy_names[] = {
	[KVB_POLICY_FIFO] = "fifo",
	[KVB_POLICY_LRU] = "lru",
	[KVB_POLICY_LFU] = "lfu",
};

/* "lru"; "none" for 0 (a module without eviction); else the number. */
static const char *policy_str(uint32_t policy, char *buf, size_t len)
{
	if (!policy)
		return "none";
	if (policy < sizeof(policy_names) / sizeof(policy_names[0]))
		return policy_names[policy];
	snprintf(buf, len, "%u", policy);
	return buf;
}

/* name: the option that gave s, or "" */
static uint32_t parse_policy(const char *name, const char *s)
{
	uint32_t i;

	for (i = 1; i < sizeof(policy_names) / sizeof(policy_names[0]); i++)
		if (!strcmp(s, policy_names[i]))
			return i;
	usage_error("%s%s%s: not a policy (fifo, lru or lfu)", name,
		    *name ? " " : "", s);
}

static uint32_t parse_watermark(const char *name, const char *s)
{
	uint64_t v;

	if (!parse_u64(s, &v) || v < 1 || v > 100)
		usage_error("%s %s: not a percentage, 1..100", name, s);
	return v;
}

static void check_watermarks(void)
{
	if (opt.high_wm && opt.low_wm && opt.low_wm >= opt.high_wm)
		usage_error("--low-watermark must be below --high-watermark");
}

/* Stores. */

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* ID, a block device with a store on it, or a /dev/kvbucketN node. */
static uint32_t resolve_store(const char *arg)
{
	struct kvb_store *st;
	struct stat sb;
	uint64_t v;
	uint32_t id;
	int ret;

	if (all_digits(arg)) {
		if (!parse_u64(arg, &v) || v > UINT32_MAX)
			usage_error("%s: not a store id", arg);
		return v;
	}
	if (stat(arg, &sb) < 0)
		fail(arg, -errno, NULL);
	if (S_ISCHR(sb.st_mode)) {
		ret = kvb_open_path(arg, &st);
		if (ret < 0)
			fail(arg, ret, ret == -ENOTTY ?
			     "not a kvbucket store device" : NULL);
		id = kvb_store_id(st);
		kvb_close(st);
		return id;
	}
	check_control();
	ret = kvb_find(arg, &id);
	if (ret == -ENOENT)
		fail(arg, ret, "no store attached on this device");
	if (ret < 0)
		fail(arg, ret, NULL);
	return id;
}

/* All attached store ids; *n receives how many. */
static uint32_t *list_ids(int *n)
{
	uint32_t *ids = NULL, cap = 0;
	int ret;

	check_control();
	for (;;) {
		ret = kvb_list(ids, cap);
		if (ret < 0)
			fail(CONTROL_PATH, ret, NULL);
		if ((uint32_t)ret <= cap)
			break;
		cap = ret + 8;
		free(ids);
		ids = xmalloc(cap * sizeof(*ids));
	}
	*n = ret;
	return ids;
}

static uint32_t selected_store(const char *arg)
{
	uint32_t *ids, id;
	int n;

	if (arg)
		return resolve_store(arg);
	if (opt.store)
		return resolve_store(opt.store);
	ids = list_ids(&n);
	if (n == 0)
		fail_msg("no store attached (" PROG " attach DEV)");
	if (n > 1) {
		fprintf(stderr, PROG ": %s: %d stores attached: %s\n", cmd, n,
			"choose one with --store ID");
		exit(EXIT_USAGE);
	}
	id = ids[0];
	free(ids);
	return id;
}

static struct kvb_store *open_store(void)
{
	char path[32];
	struct kvb_store *st;
	uint32_t id = selected_store(NULL);
	int ret;

	ret = kvb_open(id, &st);
	if (ret < 0) {
		snprintf(path, sizeof(path), "/dev/" KVB_STORE_NAME_FMT, id);
		fail(path, ret, ret == -ENOENT ? "no such store" : NULL);
	}
	return st;
}

static const char *info_flags(uint32_t flags, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s",
		 flags & KVB_INFO_VOLATILE ? "volatile," : "",
		 flags & KVB_INFO_FORMATTED ? "formatted," : "",
		 flags & KVB_INFO_WARM ? "warm," : "");
	if (*buf)
		buf[strlen(buf) - 1] = '\0';
	else
		snprintf(buf, len, "-");
	return buf;
}

static void uuid_str(const uint8_t *u, char *buf)
{
	int i, o = 0;

	for (i = 0; i < 16; i++) {
		o += sprintf(buf + o, "%02x", u[i]);
		if (i == 3 || i == 5 || i == 7 || i == 9)
			buf[o++] = '-';
	}
	buf[o] = '\0';
}

static size_t path_len(const struct kvb_store_info *in)
{
	return strnlen(in->path, sizeof(in->path));
}

static void print_info_json(const struct kvb_store_info *in, bool full)
{
	char uuid[40], pol[16];

	printf("{\"id\":%u,\"device\":", in->id);
	tool_json_str((const uint8_t *)in->path, path_len(in));
	printf(",\"nr_keys\":%" PRIu64 ",\"nr_buckets\":%" PRIu64
	       ",\"value_bytes\":%" PRIu64 ",\"capacity_bytes\":%" PRIu64
	       ",\"used_bytes\":%" PRIu64 ",\"free_bytes\":%" PRIu64,
	       (uint64_t)in->nr_keys, (uint64_t)in->nr_buckets,
	       (uint64_t)in->value_bytes, (uint64_t)in->capacity_bytes,
	       (uint64_t)in->used_bytes, (uint64_t)in->free_bytes);
	printf(",\"policy\":\"%s\",\"high_watermark\":%u"
	       ",\"low_watermark\":%u,\"nr_evicted\":%" PRIu64
	       ",\"evicted_keys\":%" PRIu64 ",\"reclaimed_bytes\":%" PRIu64
	       ",\"space_waits\":%" PRIu64 ",\"events_lost\":%" PRIu64
	       ",\"index_bytes\":%" PRIu64,
	       policy_str(in->policy, pol, sizeof(pol)), in->high_watermark,
	       in->low_watermark, (uint64_t)in->nr_evicted,
	       (uint64_t)in->evicted_keys, (uint64_t)in->reclaimed_bytes,
	       (uint64_t)in->space_waits, (uint64_t)in->events_lost,
	       (uint64_t)in->index_bytes);
	if (full) {
		uuid_str(in->uuid, uuid);
		printf(",\"dev_major\":%u,\"dev_minor\":%u,\"uuid\":\"%s\""
		       ",\"volatile\":%s,\"formatted\":%s,\"warm\":%s"
		       ",\"block_size\":%u,\"chunk_size\":%u"
		       ",\"max_keys_per_bucket\":%u"
		       ",\"max_bucket_bytes\":%" PRIu64
		       ",\"next_bucket_id\":%" PRIu64
		       ",\"attach_ns\":%" PRIu64
		       ",\"attach_bytes_read\":%" PRIu64
		       ",\"nr_damaged\":%" PRIu64 ",\"nr_torn\":%" PRIu64,
		       in->dev_major, in->dev_minor, uuid,
		       in->flags & KVB_INFO_VOLATILE ? "true" : "false",
		       in->flags & KVB_INFO_FORMATTED ? "true" : "false",
		       in->flags & KVB_INFO_WARM ? "true" : "false",
		       in->block_size, in->chunk_size,
		       in->max_keys_per_bucket,
		       (uint64_t)in->max_bucket_bytes,
		       (uint64_t)in->next_bucket_id,
		       (uint64_t)in->attach_ns,
		       (uint64_t)in->attach_bytes_read,
		       (uint64_t)in->nr_damaged, (uint64_t)in->nr_torn);
	}
	putchar('}');
}

static void print_bytes(const char *name, uint64_t v)
{
	char h[32];

	printf("%-20s %" PRIu64 " (%s)\n", name, v, human(v, h, sizeof(h)));
}

static void print_eviction(const struct kvb_store_info *in)
{
	char buf[32];

	if (!in->policy) {
		printf("%-20s none (module without eviction)\n", "policy:");
		return;
	}
	printf("%-20s %s (evicts above %u%% of capacity, down to %u%%)\n",
	       "policy:", policy_str(in->policy, buf, sizeof(buf)),
	       in->high_watermark, in->low_watermark);
	printf("%-20s %" PRIu64 " buckets, %" PRIu64 " keys, %s reclaimed\n",
	       "evicted:", (uint64_t)in->nr_evicted,
	       (uint64_t)in->evicted_keys,
	       human(in->reclaimed_bytes, buf, sizeof(buf)));
	printf("%-20s %" PRIu64 "\n", "space waits:",
	       (uint64_t)in->space_waits);
	printf("%-20s %" PRIu64 "\n", "events lost:",
	       (uint64_t)in->events_lost);
	print_bytes("index memory:", in->index_bytes);
}

static void print_totals(const struct kvb_store_info *in)
{
	printf("%-20s %" PRIu64 "\n", "keys:", (uint64_t)in->nr_keys);
	printf("%-20s %" PRIu64 "\n", "buckets:", (uint64_t)in->nr_buckets);
	print_bytes("value bytes:", in->value_bytes);
	print_bytes("used:", in->used_bytes);
	print_bytes("free:", in->free_bytes);
	print_bytes("capacity:", in->capacity_bytes);
	if (in->capacity_bytes)
		printf("%-20s %.1f%%\n", "use:",
		       100.0 * in->used_bytes / in->capacity_bytes);
	print_eviction(in);
}

static void print_info_text(const struct kvb_store_info *in)
{
	char buf[64], uuid[40];

	uuid_str(in->uuid, uuid);
	printf("%-20s %u (/dev/" KVB_STORE_NAME_FMT ")\n", "store:", in->id,
	       in->id);
	printf("%-20s %.*s (%u:%u)\n", "device:", (int)path_len(in), in->path,
	       in->dev_major, in->dev_minor);
	printf("%-20s %s\n", "uuid:", uuid);
	printf("%-20s %s\n", "flags:", info_flags(in->flags, buf, sizeof(buf)));
	print_totals(in);
	printf("%-20s %u\n", "block size:", in->block_size);
	print_bytes("chunk size:", in->chunk_size);
	printf("%-20s %u\n", "max keys/bucket:", in->max_keys_per_bucket);
	print_bytes("max bytes/bucket:", in->max_bucket_bytes);
	printf("%-20s %" PRIu64 "\n", "next bucket id:",
	       (uint64_t)in->next_bucket_id);
	printf("%-20s %.3f s, %s read\n", "last attach:",
	       in->attach_ns / 1e9,
	       human(in->attach_bytes_read, buf, sizeof(buf)));
	printf("%-20s %" PRIu64 " damaged, %" PRIu64 " torn\n",
	       "skipped at attach:", (uint64_t)in->nr_damaged,
	       (uint64_t)in->nr_torn);
}

/* Commands. */

static const char *attach_hint(int err)
{
	switch (err) {
	case -EPERM:
		return "needs CAP_SYS_ADMIN";
	case -EINVAL:
		if (opt.given & (O_POLICY | O_HIGH_WM | O_LOW_WM))
			return "bad watermarks, or a module without eviction?";
		return opt.format ? "bad limit or chunk size?" :
			"no kvbucket store on it? --format writes a new one";
	case -EUCLEAN:
		return "both superblock copies are damaged";
	case -EBUSY:
		return "already attached, or in use";
	case -ENOSPC:
		return "device too small";
	case -EOPNOTSUPP:
		return "store written by a newer kvbucket";
	}
	return NULL;
}

static int cmd_attach(int argc, char **argv)
{
	struct kvb_attach_opts ao = { 0 };
	uint32_t id;
	int ret;

	if (argc != 1)
		usage_error("expected one DEV");
	if (opt.chunk_size && !opt.format)
		usage_error("--chunk-size needs --format");
	if (opt.chunk_size > UINT32_MAX)
		usage_error("--chunk-size too large");
	check_watermarks();
	ao.flags = (opt.format ? KVB_ATTACH_FORMAT : 0) |
		   (opt.volatile_ ? KVB_ATTACH_VOLATILE : 0) |
		   (opt.scan ? KVB_ATTACH_SCAN : 0);
	ao.max_keys_per_bucket = opt.max_keys;
	ao.max_bucket_bytes = opt.max_bytes;
	ao.chunk_size = opt.chunk_size;
	ao.policy = opt.policy;
	ao.high_watermark = opt.high_wm;
	ao.low_watermark = opt.low_wm;
	check_control();
	ret = kvb_attach(argv[0], &ao, &id);
	if (ret < 0)
		fail(argv[0], ret, attach_hint(ret));
	if (opt.json) {
		printf("{\"id\":%u,\"device\":", id);
		tool_json_str((const uint8_t *)argv[0], strlen(argv[0]));
		printf(",\"store_device\":\"/dev/" KVB_STORE_NAME_FMT "\"}\n",
		       id);
	} else {
		printf("%s: store %u, /dev/" KVB_STORE_NAME_FMT "%s\n",
		       argv[0], id, id, opt.format ? " (formatted)" : "");
	}
	return 0;
}

static int cmd_detach(int argc, char **argv)
{
	uint32_t id;
	int ret;

	if (argc != 1)
		usage_error("expected one ID or DEV");
	id = resolve_store(argv[0]);
	check_control();
	ret = kvb_detach(id);
	if (ret < 0)
		fail(argv[0], ret, ret == -ENOENT ? "no such store" :
		     ret == -EPERM ? "needs CAP_SYS_ADMIN" : NULL);
	return 0;
}

static int cmd_list(int argc, char **argv)
{
	struct kvb_store_info in;
	char used[32], cap[32], fl[64];
	uint32_t *ids;
	int n, i, shown = 0, ret;

	(void)argv;
	if (argc)
		usage_error("takes no arguments");
	ids = list_ids(&n);
	if (opt.json)
		putchar('[');
	else if (n)
		printf("%-4s %-20s %10s %8s %10s %10s %s\n", "ID", "DEVICE",
		       "KEYS", "BUCKETS", "USED", "CAPACITY", "FLAGS");
	for (i = 0; i < n; i++) {
		ret = kvb_info(ids[i], &in);
		if (ret == -ENOENT)	/* detached meanwhile */
			continue;
		if (ret < 0)
			fail(CONTROL_PATH, ret, NULL);
		if (opt.json) {
			if (shown)
				putchar(',');
			print_info_json(&in, false);
		} else {
			printf("%-4u %-20.*s %10" PRIu64 " %8" PRIu64
			       " %10s %10s %s\n", in.id, (int)path_len(&in),
			       in.path, (uint64_t)in.nr_keys,
			       (uint64_t)in.nr_buckets,
			       human(in.used_bytes, used, sizeof(used)),
			       human(in.capacity_bytes, cap, sizeof(cap)),
			       info_flags(in.flags, fl, sizeof(fl)));
		}
		shown++;
	}
	if (opt.json)
		printf("]\n");
	free(ids);
	return 0;
}

static int cmd_info(int argc, char **argv)
{
	struct kvb_store_info in;
	uint32_t id;
	int ret;

	if (argc > 1)
		usage_error("expected at most one ID or DEV");
	id = selected_store(argc ? argv[0] : NULL);
	check_control();
	ret = kvb_info(id, &in);
	if (ret < 0) {
		char s[16];

		snprintf(s, sizeof(s), "%u", id);
		fail(argc ? argv[0] : s, ret,
		     ret == -ENOENT ? "no such store" : NULL);
	}
	if (opt.json) {
		print_info_json(&in, true);
		putchar('\n');
	} else {
		print_info_text(&in);
	}
	return 0;
}

static int cmd_stats(int argc, char **argv)
{
	struct kvb_store_info in;
	struct kvb_store *st;
	char path[32];
	int ret;

	(void)argv;
	if (argc)
		usage_error("takes no arguments");
	st = open_store();
	ret = kvb_store_info(st, &in);
	if (ret < 0) {
		snprintf(path, sizeof(path), "/dev/" KVB_STORE_NAME_FMT,
			 kvb_store_id(st));
		fail(path, ret, NULL);
	}
	if (opt.json) {
		print_info_json(&in, false);
		putchar('\n');
	} else {
		printf("%-20s %u (%.*s)\n", "store:", in.id,
		       (int)path_len(&in), in.path);
		print_totals(&in);
	}
	kvb_close(st);
	return 0;
}

static int cmd_features(int argc, char **argv)
{
	struct kvb_features f;
	int ret;

	(void)argv;
	if (argc)
		usage_error("takes no arguments");
	check_control();
	ret = kvb_get_features(&f);
	if (ret < 0)
		fail(CONTROL_PATH, ret, NULL);
	if (opt.json) {
		printf("{\"abi_version\":%u,\"features\":%" PRIu64
		       ",\"replace\":%s,\"volatile\":%s,\"bucket_scan\":%s"
		       ",\"eviction\":%s,\"uring_cmd\":%s"
		       ",\"max_key_len\":%u,\"max_slices\":%u,\"max_batch\":%u"
		       ",\"max_keys_per_bucket\":%u,\"max_bucket_bytes\":%"
		       PRIu64 "}\n", f.abi_version, (uint64_t)f.features,
		       f.features & KVB_FEAT_REPLACE ? "true" : "false",
		       f.features & KVB_FEAT_VOLATILE ? "true" : "false",
		       f.features & KVB_FEAT_BUCKET_SCAN ? "true" : "false",
		       f.features & KVB_FEAT_EVICTION ? "true" : "false",
		       f.features & KVB_FEAT_URING_CMD ? "true" : "false",
		       f.max_key_len, f.max_slices, f.max_batch,
		       f.max_keys_per_bucket, (uint64_t)f.max_bucket_bytes);
		return 0;
	}
	printf("%-20s %u\n", "abi version:", f.abi_version);
	printf("%-20s 0x%" PRIx64 "%s%s%s%s%s\n", "features:",
	       (uint64_t)f.features,
	       f.features & KVB_FEAT_REPLACE ? " replace" : "",
	       f.features & KVB_FEAT_VOLATILE ? " volatile" : "",
	       f.features & KVB_FEAT_BUCKET_SCAN ? " bucket-scan" : "",
	       f.features & KVB_FEAT_EVICTION ? " eviction" : "",
	       f.features & KVB_FEAT_URING_CMD ? " uring-cmd" : "");
	printf("%-20s %u\n", "max key length:", f.max_key_len);
	printf("%-20s %u\n", "max slices:", f.max_slices);
	printf("%-20s %u\n", "max batch:", f.max_batch);
	printf("%-20s %u\n", "max keys/bucket:", f.max_keys_per_bucket);
	print_bytes("max bytes/bucket:", f.max_bucket_bytes);
	return 0;
}

static const char *limit_hint(uint32_t limit)
{
	switch (limit) {
	case KVB_LIMIT_KEYS:
		return "more keys than the store's keys-per-bucket limit";
	case KVB_LIMIT_BYTES:
		return "value larger than the store's bytes-per-bucket limit";
	case KVB_LIMIT_BATCH:
		return "batch too large";
	case KVB_LIMIT_SLICES:
		return "too many slices";
	case KVB_LIMIT_CAPACITY:
		return "larger than the whole store";
	}
	return NULL;
}

/* The whole of fd in a malloc'ed buffer. */
static uint8_t *read_all(int fd, const char *name, size_t *lenp)
{
	size_t cap = 1 << 20, len = 0;
	uint8_t *buf = xmalloc(cap), *tmp;
	struct stat sb;
	ssize_t n;

	if (!fstat(fd, &sb) && S_ISREG(sb.st_mode) &&
	    (uint64_t)sb.st_size + 1 > cap && (uint64_t)sb.st_size < SIZE_MAX) {
		cap = sb.st_size + 1;
		free(buf);
		buf = xmalloc(cap);
	}
	for (;;) {
		if (len == cap) {
			cap *= 2;
			tmp = realloc(buf, cap);
			if (!tmp)
				fail(name, -ENOMEM, NULL);
			buf = tmp;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail(name, -errno, NULL);
		}
		if (!n)
			break;
		len += n;
	}
	*lenp = len;
	return buf;
}

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= n;
	}
	return 0;
}

static bool is_stdio(const char *file)
{
	return !file || !strcmp(file, "-");
}

static int cmd_put(int argc, char **argv)
{
	const char *file = argc > 1 ? argv[1] : NULL;
	struct kvb_obj_desc d;
	struct kvb_slice sl;
	struct kvb_store *st;
	uint32_t limit;
	struct key k;
	uint8_t *val;
	size_t len;
	int fd, ret;

	if (argc < 1 || argc > 2)
		usage_error("expected KEY [FILE|-]");
	parse_key(argv[0], &k);
	if (is_stdio(file)) {
		val = read_all(STDIN_FILENO, "<stdin>", &len);
	} else {
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fail(file, -errno, NULL);
		val = read_all(fd, file, &len);
		close(fd);
	}
	if (!len)
		fail_msg("%s: empty value (a value is at least 1 byte)", k.arg);
	st = open_store();
	kvb_slice_init(&sl, val, len);
	kvb_desc_init(&d, k.data, k.len, &sl, 1);
	ret = kvb_offload(st, &d, 1, opt.replace ? KVB_OFFLOAD_REPLACE : 0,
			  NULL, &limit);
	if (ret < 0)
		fail(k.arg, ret, ret == -E2BIG ? limit_hint(limit) :
		     ret == -ENOSPC ? "store full" : NULL);
	if (d.status)
		fail(k.arg, d.status, d.status == -EEXIST ?
		     "already stored; --replace replaces it" :
		     d.status == -EBUSY ? "being written by another call" :
		     NULL);
	kvb_close(st);
	free(val);
	return 0;
}

static int cmd_get(int argc, char **argv)
{
	const char *file = argc > 1 ? argv[1] : NULL;
	struct kvb_obj_desc d;
	struct kvb_slice sl;
	struct kvb_store *st;
	uint8_t *val = NULL;
	struct key k;
	int fd, ret, tries;

	if (argc < 1 || argc > 2)
		usage_error("expected KEY [FILE|-]");
	parse_key(argv[0], &k);
	st = open_store();
	kvb_desc_init(&d, k.data, k.len, NULL, 0);
	ret = kvb_query(st, &d, 1);
	if (ret < 0)
		fail(k.arg, ret, NULL);
	/* The value may be replaced between QUERY and LOAD: retry. */
	for (tries = 0; ; tries++) {
		if (d.status)
			fail(k.arg, d.status, d.status == -ENOENT ?
			     "not stored" : NULL);
		if (d.value_len > SIZE_MAX)
			fail(k.arg, -EFBIG, NULL);
		free(val);
		val = xmalloc(d.value_len);
		kvb_slice_init(&sl, val, d.value_len);
		kvb_desc_init(&d, k.data, k.len, &sl, 1);
		ret = kvb_load(st, &d, 1);
		if (ret < 0)
			fail(k.arg, ret, NULL);
		if (d.status != -EMSGSIZE || tries == 10)
			break;
	}
	if (d.status)
		fail(k.arg, d.status, d.status == -ENOENT ? "not stored" :
		     d.status == -EBADMSG ? "checksum mismatch on the device" :
		     NULL);
	if (is_stdio(file)) {
		ret = write_all(STDOUT_FILENO, val, sl.len);
		if (ret < 0)
			fail("<stdout>", ret, NULL);
	} else {
		fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			fail(file, -errno, NULL);
		ret = write_all(fd, val, sl.len);
		if (!ret && close(fd) < 0)
			ret = -errno;
		if (ret < 0)
			fail(file, ret, NULL);
	}
	free(val);
	kvb_close(st);
	return 0;
}

/* QUERY or REMOVE of every key, in batches; returns the failure count. */
static int key_batch(bool remove, int argc, char **argv)
{
	struct key *keys;
	struct kvb_obj_desc *d;
	struct kvb_store *st;
	int i, j, n, ret, bad = 0, shown = 0;

	if (argc < 1)
		usage_error("expected KEY...");
	keys = parse_keys(argv, argc);
	d = xmalloc(argc * sizeof(*d));
	st = open_store();
	for (i = 0; i < argc; i++)
		kvb_desc_init(&d[i], keys[i].data, keys[i].len, NULL, 0);
	for (i = 0; i < argc; i += n) {
		n = argc - i;
		if (n > (int)KVB_MAX_BATCH)
			n = KVB_MAX_BATCH;
		if (remove)
			ret = kvb_remove(st, d + i, n);
		else
			ret = kvb_query(st, d + i, n);
		if (ret < 0)
			fail(n == 1 ? keys[i].arg : "batch", ret,
			     ret == -EINVAL && n > 1 ?
			     "the same key twice?" : NULL);
	}
	if (opt.json && !remove)
		putchar('[');
	for (i = 0; i < argc; i++) {
		if (d[i].status) {
			report(keys[i].arg, d[i].status,
			       d[i].status == -ENOENT ? "not stored" : NULL);
			bad++;
		}
		if (remove)
			continue;
		if (opt.json) {
			if (shown++)
				putchar(',');
			printf("{\"key\":");
			json_key(keys[i].data, keys[i].len);
			if (d[i].status)
				printf(",\"found\":false,\"error\":");
			else
				printf(",\"found\":true,\"value_len\":%" PRIu64
				       ",\"bucket_id\":%" PRIu64
				       ",\"offset\":%" PRIu64 "}",
				       (uint64_t)d[i].value_len,
				       (uint64_t)d[i].bucket_id,
				       (uint64_t)d[i].offset);
			if (d[i].status) {
				const char *e = strerror(-d[i].status);

				tool_json_str((const uint8_t *)e, strlen(e));
				putchar('}');
			}
		} else if (!d[i].status) {
			print_key(stdout, keys[i].data, keys[i].len);
			printf(": %" PRIu64 " bytes, bucket %" PRIu64
			       ", offset %" PRIu64 "\n",
			       (uint64_t)d[i].value_len,
			       (uint64_t)d[i].bucket_id,
			       (uint64_t)d[i].offset);
		}
	}
	if (opt.json && !remove)
		printf("]\n");
	kvb_close(st);
	for (j = 0; opt.hex && j < argc; j++)
		free(keys[j].data);
	free(keys);
	free(d);
	return bad ? 1 : 0;
}

static int cmd_query(int argc, char **argv)
{
	return key_batch(false, argc, argv);
}

static int cmd_rm(int argc, char **argv)
{
	return key_batch(true, argc, argv);
}

/* n key records: a JSON array, or one indented line each "  KEY  LEN". */
static void print_key_recs(const struct kvb_key_rec *k, uint32_t n)
{
	uint32_t i;

	if (opt.json)
		putchar('[');
	for (i = 0; i < n; i++, k = kvb_key_rec_next(k)) {
		if (opt.json) {
			printf("%s{\"key\":", i ? "," : "");
			json_key(kvb_key_rec_key(k), k->key_len);
			printf(",\"value_len\":%" PRIu64 "}",
			       (uint64_t)k->value_len);
		} else {
			printf("  ");
			print_key(stdout, kvb_key_rec_key(k), k->key_len);
			printf("  %" PRIu64 "\n", (uint64_t)k->value_len);
		}
	}
	if (opt.json)
		putchar(']');
}

static void print_bucket(const struct kvb_bucket_rec *b, bool first)
{
	char t[64], h[32];

	if (opt.json) {
		printf("%s{\"id\":%" PRIu64 ",\"nr_keys\":%u,\"value_bytes\":%"
		       PRIu64 ",\"ctime_ns\":%" PRIu64 ",\"keys\":",
		       first ? "" : ",", (uint64_t)b->id, b->nr_keys,
		       (uint64_t)b->value_bytes, (uint64_t)b->ctime_ns);
		print_key_recs(kvb_bucket_rec_keys(b), b->nr_keys);
		putchar('}');
		return;
	}
	printf("bucket %" PRIu64 ": %u keys, %" PRIu64 " bytes (%s), %s\n",
	       (uint64_t)b->id, b->nr_keys, (uint64_t)b->value_bytes,
	       human(b->value_bytes, h, sizeof(h)),
	       time_str(b->ctime_ns, t, sizeof(t)));
	print_key_recs(kvb_bucket_rec_keys(b), b->nr_keys);
}

static int cmd_scan(int argc, char **argv)
{
	const struct kvb_bucket_rec *b;
	size_t cap = 1 << 20, len;
	uint64_t start = opt.start, next, shown = 0;
	uint64_t limit = (opt.given & O_LIMIT) ? opt.limit : UINT64_MAX;
	struct kvb_store *st;
	char path[32];
	uint32_t max;
	void *buf;
	int n, i;

	(void)argv;
	if (argc)
		usage_error("takes no arguments");
	st = open_store();
	snprintf(path, sizeof(path), "/dev/" KVB_STORE_NAME_FMT,
		 kvb_store_id(st));
	buf = xmalloc(cap);
	if (opt.json)
		putchar('[');
	while (shown < limit) {
		max = limit - shown > 1024 ? 1024 : limit - shown;
		len = cap;
		n = kvb_bucket_scan(st, start, max, buf, &len, &next);
		if (n == -ERANGE && len > cap) {
			cap = len;
			free(buf);
			buf = xmalloc(cap);
			continue;
		}
		if (n < 0)
			fail(path, n, NULL);
		b = buf;
		for (i = 0; i < n; i++, b = kvb_bucket_rec_next(b))
			print_bucket(b, !shown++);
		if (!next || !n)
			break;
		start = next;
	}
	if (opt.json)
		printf("]\n");
	free(buf);
	kvb_close(st);
	return 0;
}

static int cmd_delete_bucket(int argc, char **argv)
{
	struct kvb_store *st;
	uint32_t nr;
	uint64_t id;
	int ret;

	if (argc != 1 || !parse_u64(argv[0], &id) || !id)
		usage_error("expected one bucket ID");
	st = open_store();
	ret = kvb_delete_bucket(st, id, &nr);
	if (ret < 0)
		fail(argv[0], ret, ret == -ENOENT ? "no such bucket" : NULL);
	printf("bucket %" PRIu64 ": deleted, %u keys\n", id, nr);
	kvb_close(st);
	return 0;
}

static const char *policy_hint(int err)
{
	switch (err) {
	case -EINVAL:
		return "needs 1 <= low watermark < high watermark <= 100";
	case -ENOTTY:
		return "module without eviction";
	case -EPERM:
		return "needs CAP_SYS_ADMIN";
	}
	return NULL;
}

static int cmd_policy(int argc, char **argv)
{
	struct kvb_policy pol = { 0 };
	struct kvb_store *st;
	char path[32], buf[16];
	int ret;

	if (argc > 1)
		usage_error("expected at most one policy (fifo, lru or lfu)");
	check_watermarks();
	if (argc)
		pol.policy = parse_policy("", argv[0]);
	pol.high_watermark = opt.high_wm;
	pol.low_watermark = opt.low_wm;
	st = open_store();
	ret = kvb_set_policy(st, &pol);
	if (ret < 0) {
		snprintf(path, sizeof(path), "/dev/" KVB_STORE_NAME_FMT,
			 kvb_store_id(st));
		fail(path, ret, policy_hint(ret));
	}
	if (opt.json) {
		printf("{\"id\":%u,\"policy\":\"%s\",\"high_watermark\":%u"
		       ",\"low_watermark\":%u}\n", kvb_store_id(st),
		       policy_str(pol.policy, buf, sizeof(buf)),
		       pol.high_watermark, pol.low_watermark);
	} else {
		printf("%-20s %s\n", "policy:",
		       policy_str(pol.policy, buf, sizeof(buf)));
		printf("%-20s %u%%\n", "high watermark:", pol.high_watermark);
		printf("%-20s %u%%\n", "low watermark:", pol.low_watermark);
	}
	kvb_close(st);
	return 0;
}

/* One line per event; an EVICT's keys follow, indented (or in "keys"). */
static void print_event(const struct kvb_event *e)
{
	char pol[16];

	switch (e->type) {
	case KVB_EVENT_EVICT:
		if (opt.json) {
			printf("{\"type\":\"evict\",\"seq\":%" PRIu64
			       ",\"bucket_id\":%" PRIu64 ",\"nr_keys\":%u"
			       ",\"value_bytes\":%" PRIu64 ",\"policy\":\"%s\""
			       ",\"keys\":", (uint64_t)e->seq,
			       (uint64_t)e->bucket_id, e->nr_keys,
			       (uint64_t)e->value_bytes,
			       policy_str(e->policy, pol, sizeof(pol)));
			print_key_recs(kvb_event_keys(e), e->nr_keys);
			printf("}\n");
		} else {
			printf("evict seq=%" PRIu64 " bucket=%" PRIu64
			       " keys=%u bytes=%" PRIu64 " policy=%s\n",
			       (uint64_t)e->seq, (uint64_t)e->bucket_id,
			       e->nr_keys, (uint64_t)e->value_bytes,
			       policy_str(e->policy, pol, sizeof(pol)));
			print_key_recs(kvb_event_keys(e), e->nr_keys);
		}
		break;
	case KVB_EVENT_LOST:
		if (opt.json)
			printf("{\"type\":\"lost\",\"seq\":%" PRIu64
			       ",\"nr_lost\":%" PRIu64 "}\n",
			       (uint64_t)e->seq, (uint64_t)e->nr_lost);
		else
			printf("lost seq=%" PRIu64 " count=%" PRIu64
			       " (resynchronise with scan)\n",
			       (uint64_t)e->seq, (uint64_t)e->nr_lost);
		break;
	default:	/* a newer module's: say it is there */
		if (opt.json)
			printf("{\"type\":\"unknown\",\"event_type\":%u"
			       ",\"seq\":%" PRIu64 "}\n", e->type,
			       (uint64_t)e->seq);
		else
			printf("unknown type=%u seq=%" PRIu64 "\n", e->type,
			       (uint64_t)e->seq);
	}
}

static int cmd_events(int argc, char **argv)
{
	uint64_t count = (opt.given & O_COUNT) ? opt.count : UINT64_MAX;
	const struct kvb_event *e;
	struct kvb_events *ev;
	uint64_t shown = 0;
	char path[32];
	uint32_t id;
	int n, i, ret;

	(void)argv;
	if (argc)
		usage_error("takes no arguments");
	id = selected_store(NULL);
	snprintf(path, sizeof(path), "/dev/" KVB_STORE_NAME_FMT, id);
	ret = kvb_events_open(id, &ev);
	if (ret < 0)
		fail(path, ret, ret == -ENOENT ? "no such store" : NULL);
	while (shown < count) {
		n = kvb_events_read(ev, &e);
		if (n == -EAGAIN) {
			ret = kvb_events_wait(ev, -1);
			if (ret < 0 && ret != -EINTR)
				fail(path, ret, NULL);
			continue;
		}
		if (n < 0)
			fail(path, n, n == -EINVAL ?
			     "module without eviction events?" : NULL);
		if (!n)
			break;		/* store detached: end of the stream */
		for (i = 0; i < n && shown < count;
		     i++, e = kvb_event_next(e), shown++) {
			print_event(e);
			/* one event at a time down a pipe */
			if (fflush(stdout))
				fail("<stdout>", -errno, NULL);
		}
	}
	kvb_events_close(ev);
	return 0;
}

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	unsigned int opts;
} commands[] = {
	{ "attach", cmd_attach, O_JSON | O_FORMAT | O_VOLATILE | O_SCAN |
				O_MAX_KEYS | O_MAX_BYTES | O_CHUNK_SIZE |
				O_POLICY | O_HIGH_WM | O_LOW_WM },
	{ "detach", cmd_detach, 0 },
	{ "list", cmd_list, O_JSON },
	{ "info", cmd_info, O_JSON | O_STORE },
	{ "stats", cmd_stats, O_JSON | O_STORE },
	{ "features", cmd_features, O_JSON },
	{ "put", cmd_put, O_STORE | O_HEX | O_REPLACE },
	{ "get", cmd_get, O_STORE | O_HEX },
	{ "query", cmd_query, O_JSON | O_STORE | O_HEX },
	{ "rm", cmd_rm, O_STORE | O_HEX },
	{ "scan", cmd_scan, O_JSON | O_STORE | O_HEX | O_START | O_LIMIT },
	{ "delete-bucket", cmd_delete_bucket, O_STORE },
	{ "policy", cmd_policy, O_JSON | O_STORE | O_HIGH_WM | O_LOW_WM },
	{ "events", cmd_events, O_JSON | O_STORE | O_HEX | O_COUNT },
};

static const struct option longopts[] = {
	{ "json",	no_argument,		NULL, 'j' },
	{ "hex",	no_argument,		NULL, 'x' },
	{ "store",	required_argument,	NULL, 's' },
	{ "format",	no_argument,		NULL, 'f' },
	{ "volatile",	no_argument,		NULL, 'V' },
	{ "scan",	no_argument,		NULL, 'a' },
	{ "max-keys",	required_argument,	NULL, 'K' },
	{ "max-bytes",	required_argument,	NULL, 'B' },
	{ "chunk-size",	required_argument,	NULL, 'C' },
	{ "replace",	no_argument,		NULL, 'r' },
	{ "start",	required_argument,	NULL, 'S' },
	{ "limit",	required_argument,	NULL, 'L' },
	{ "policy",	required_argument,	NULL, 'P' },
	{ "high-watermark", required_argument,	NULL, 'H' },
	{ "low-watermark", required_argument,	NULL, 'W' },
	{ "count",	required_argument,	NULL, 'N' },
	{ "help",	no_argument,		NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

static const char *opt_name(unsigned int bit)
{
	static const struct { unsigned int bit; const char *name; } n[] = {
		{ O_JSON, "--json" }, { O_HEX, "--hex" },
		{ O_STORE, "--store" }, { O_FORMAT, "--format" },
		{ O_VOLATILE, "--volatile" }, { O_MAX_KEYS, "--max-keys" },
		{ O_MAX_BYTES, "--max-bytes" },
		{ O_CHUNK_SIZE, "--chunk-size" }, { O_REPLACE, "--replace" },
		{ O_START, "--start" }, { O_LIMIT, "--limit" },
		{ O_SCAN, "--scan" }, { O_POLICY, "--policy" },
		{ O_HIGH_WM, "--high-watermark" },
		{ O_LOW_WM, "--low-watermark" }, { O_COUNT, "--count" },
	};
	size_t i;

	for (i = 0; i < sizeof(n) / sizeof(n[0]); i++)
		if (n[i].bit == bit)
			return n[i].name;
	return "?";
}

int main(int argc, char **argv)
{
	const struct command *c = NULL;
	unsigned int bad;
	uint64_t v;
	size_t i;
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":hs:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			opt.given |= O_JSON;
			opt.json = true;
			break;
		case 'x':
			opt.given |= O_HEX;
			opt.hex = true;
			break;
		case 's':
			opt.given |= O_STORE;
			opt.store = optarg;
			break;
		case 'f':
			opt.given |= O_FORMAT;
			opt.format = true;
			break;
		case 'V':
			opt.given |= O_VOLATILE;
			opt.volatile_ = true;
			break;
		case 'a':
			opt.given |= O_SCAN;
			opt.scan = true;
			break;
		case 'K':
			opt.given |= O_MAX_KEYS;
			if (!parse_u64(optarg, &v) ||
			    v > KVB_MAX_KEYS_PER_BUCKET)
				usage_error("--max-keys %s: not 0..%u", optarg,
					    KVB_MAX_KEYS_PER_BUCKET);
			opt.max_keys = v;
			break;
		case 'B':
			opt.given |= O_MAX_BYTES;
			if (!tool_parse_size(optarg, &opt.max_bytes))
				usage_error("--max-bytes %s: not a size",
					    optarg);
			break;
		case 'C':
			opt.given |= O_CHUNK_SIZE;
			if (!tool_parse_size(optarg, &opt.chunk_size))
				usage_error("--chunk-size %s: not a size",
					    optarg);
			break;
		case 'r':
			opt.given |= O_REPLACE;
			opt.replace = true;
			break;
		case 'S':
			opt.given |= O_START;
			if (!parse_u64(optarg, &opt.start))
				usage_error("--start %s: not a bucket id",
					    optarg);
			break;
		case 'L':
			opt.given |= O_LIMIT;
			if (!parse_u64(optarg, &opt.limit))
				usage_error("--limit %s: not a number", optarg);
			break;
		case 'P':
			opt.given |= O_POLICY;
			opt.policy = parse_policy("--policy", optarg);
			break;
		case 'H':
			opt.given |= O_HIGH_WM;
			opt.high_wm = parse_watermark("--high-watermark",
						      optarg);
			break;
		case 'W':
			opt.given |= O_LOW_WM;
			opt.low_wm = parse_watermark("--low-watermark", optarg);
			break;
		case 'N':
			opt.given |= O_COUNT;
			if (!parse_u64(optarg, &opt.count) || !opt.count)
				usage_error("--count %s: not a positive number",
					    optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case ':':
			usage_error("%s needs an argument", argv[optind - 1]);
		default:
			usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		usage_error("no command");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[optind], commands[i].name))
			c = &commands[i];
	if (!c)
		usage_error("unknown command '%s'", argv[optind]);
	cmd = c->name;
	bad = opt.given & ~c->opts;
	if (bad)
		usage_error("%s does not apply", opt_name(bad & -bad));
	return c->fn(argc - optind - 1, argv + optind + 1);
}
