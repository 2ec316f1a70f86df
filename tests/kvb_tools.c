// SPDX-License-Identifier: GPL-2.0
/*
 * The command-line tools: a kvbucketctl round trip (attach, put, get,
 * query, scan, info, stats, rm, detach) whose --json output is parsed by a
 * strict JSON parser and compared with what the ioctls say, and
 * kvbucket-demo on a scratch disk.
 */
#include "kselftest_harness.h"
#include "kvb_test.h"

/* ---- running a tool -------------------------------------------------- */

struct run {
	int status;		/* exit status, or 128 + signal */
	char *out;		/* stdout, NUL-terminated (may hold NULs) */
	size_t out_len;
	char err[4096];		/* stderr, truncated */
};

static void tool_path(const char *name, char *buf, size_t len)
{
	const char *root = getenv("KVB_ROOT");
	char p[512];

	snprintf(p, sizeof(p), "%s/build/bin/%s", root ? root : ".", name);
	/* the build tree of this repo, else PATH */
	snprintf(buf, len, "%s", access(p, X_OK) == 0 ? p : name);
}

static size_t read_fd(int fd, char **buf)
{
	size_t cap = 1 << 16, len = 0;
	ssize_t n;

	*buf = malloc(cap + 1);
	for (;;) {
		if (len == cap) {
			cap *= 2;
			*buf = realloc(*buf, cap + 1);
		}
		n = read(fd, *buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += n;
	}
	(*buf)[len] = 0;
	return len;
}

/* Run argv[0] (a tool name) with argv, stdin from in[0..in_len). */
static int run_tool(struct run *r, const void *in, size_t in_len,
		    char *const argv[])
{
	int pin[2], pout[2], perr[2], st;
	char path[512];
	pid_t pid;
	size_t n;

	memset(r, 0, sizeof(*r));
	if (pipe(pin) || pipe(pout) || pipe(perr))
		return -errno;
	tool_path(argv[0], path, sizeof(path));
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		dup2(perr[1], 2);
		close(pin[1]);
		close(pout[0]);
		close(perr[0]);
		execvp(path, argv);
		fprintf(stderr, "exec %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	/* small inputs only: a pipe buffer holds them */
	if (in_len && write(pin[1], in, in_len) != (ssize_t)in_len) {
		close(pin[1]);
		return -EPIPE;
	}
	close(pin[1]);
	r->out_len = read_fd(pout[0], &r->out);
	close(pout[0]);
	n = read(perr[0], r->err, sizeof(r->err) - 1);
	r->err[n > 0 && n < sizeof(r->err) ? n : 0] = 0;
	close(perr[0]);
	if (waitpid(pid, &st, 0) != pid)
		return -errno;
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return 0;
}

/* ---- a strict JSON parser --------------------------------------------- */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
	enum jtype t;
	bool b;
	bool is_uint;
	uint64_t u;		/* J_NUM that is a non-negative integer */
	char *s;		/* J_STR, decoded (may hold NULs) */
	size_t slen;
	size_t n;		/* J_ARR, J_OBJ */
	struct jv *v;
	char **names;		/* J_OBJ */
};

struct jp {
	const char *p, *end;
	int err;
};

static void jws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' ||
				 *j->p == '\t' || *j->p == '\r'))
		j->p++;
}

static bool jvalue(struct jp *j, struct jv *v, int depth);

static bool jstring(struct jp *j, char **out, size_t *len)
{
	size_t cap = 16, n = 0;
	char *s = malloc(cap);

	if (j->p >= j->end || *j->p != '"')
		return false;
	j->p++;
	while (j->p < j->end && *j->p != '"') {
		unsigned char c = *j->p++;

		if (n + 4 >= cap)
			s = realloc(s, cap *= 2);
		if (c < 0x20)
			return false;
		if (c != '\\') {
			s[n++] = c;
			continue;
		}
		if (j->p >= j->end)
			return false;
		c = *j->p++;
		switch (c) {
		case '"': case '\\': case '/': s[n++] = c; break;
		case 'b': s[n++] = '\b'; break;
		case 'f': s[n++] = '\f'; break;
		case 'n': s[n++] = '\n'; break;
		case 'r': s[n++] = '\r'; break;
		case 't': s[n++] = '\t'; break;
		case 'u': {
			unsigned int cp;
			char hex[5] = { 0 };

			if (j->end - j->p < 4)
				return false;
			memcpy(hex, j->p, 4);
			if (strspn(hex, "0123456789abcdefABCDEF") != 4)
				return false;
			cp = strtoul(hex, NULL, 16);
			j->p += 4;
			/* the tools escape raw key bytes as \u00NN */
			if (cp < 0x100) {
				s[n++] = (char)cp;
			} else if (cp < 0x800) {
				s[n++] = 0xc0 | (cp >> 6);
				s[n++] = 0x80 | (cp & 0x3f);
			} else {
				s[n++] = 0xe0 | (cp >> 12);
				s[n++] = 0x80 | ((cp >> 6) & 0x3f);
				s[n++] = 0x80 | (cp & 0x3f);
			}
			break;
		}
		default:
			return false;
		}
	}
	if (j->p >= j->end)
		return false;
	j->p++;
	s[n] = 0;
	*out = s;
	*len = n;
	return true;
}

static bool jnumber(struct jp *j, struct jv *v)
{
	const char *st = j->p;
	bool intg = true;

	if (j->p < j->end && *j->p == '-') {
		intg = false;
		j->p++;
	}
	if (j->p >= j->end || *j->p < '0' || *j->p > '9')
		return false;
	if (*j->p == '0' && j->p + 1 < j->end && j->p[1] >= '0' && j->p[1] <= '9')
		return false;	/* no leading zeros */
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	if (j->p < j->end && *j->p == '.') {
		intg = false;
		j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return false;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		intg = false;
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return false;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	v->t = J_NUM;
	v->is_uint = intg;
	if (intg) {
		errno = 0;
		v->u = strtoull(st, NULL, 10);
		if (errno)
			return false;
	}
	return true;
}

static bool jlit(struct jp *j, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n))
		return false;
	j->p += n;
	return true;
}

static bool jvalue(struct jp *j, struct jv *v, int depth)
{
	memset(v, 0, sizeof(*v));
	if (depth > 32)
		return false;
	jws(j);
	if (j->p >= j->end)
		return false;
	switch (*j->p) {
	case '{':
	case '[': {
		bool obj = *j->p == '{';
		char close = obj ? '}' : ']';

		v->t = obj ? J_OBJ : J_ARR;
		j->p++;
		jws(j);
		if (j->p < j->end && *j->p == close) {
			j->p++;
			return true;
		}
		for (;;) {
			v->v = realloc(v->v, (v->n + 1) * sizeof(*v->v));
			if (obj) {
				size_t l;

				v->names = realloc(v->names,
						   (v->n + 1) * sizeof(char *));
				jws(j);
				if (!jstring(j, &v->names[v->n], &l))
					return false;
				jws(j);
				if (j->p >= j->end || *j->p++ != ':')
					return false;
			}
			if (!jvalue(j, &v->v[v->n], depth + 1))
				return false;
			v->n++;
			jws(j);
			if (j->p < j->end && *j->p == ',') {
				j->p++;
				continue;
			}
			if (j->p < j->end && *j->p == close) {
				j->p++;
				return true;
			}
			return false;
		}
	}
	case '"':
		v->t = J_STR;
		return jstring(j, &v->s, &v->slen);
	case 't':
		v->t = J_BOOL;
		v->b = true;
		return jlit(j, "true");
	case 'f':
		v->t = J_BOOL;
		return jlit(j, "false");
	case 'n':
		v->t = J_NULL;
		return jlit(j, "null");
	default:
		return jnumber(j, v);
	}
}

/* Parse a whole document (trailing whitespace only). */
static bool jparse(const char *s, size_t len, struct jv *v)
{
	struct jp j = { s, s + len, 0 };

	if (!jvalue(&j, v, 0))
		return false;
	jws(&j);
	return j.p == j.end;
}

static const struct jv *jget(const struct jv *o, const char *name)
{
	size_t i;

	if (!o || o->t != J_OBJ)
		return NULL;
	for (i = 0; i < o->n; i++)
		if (!strcmp(o->names[i], name))
			return &o->v[i];
	return NULL;
}

static const struct jv *jat(const struct jv *a, size_t i)
{
	return a && a->t == J_ARR && i < a->n ? &a->v[i] : NULL;
}

/* The unsigned integer member name of o, or ~0 if missing / not one. */
static uint64_t jnum(const struct jv *o, const char *name)
{
	const struct jv *v = jget(o, name);

	return v && v->t == J_NUM && v->is_uint ? v->u : ~0ULL;
}

static int jbool(const struct jv *o, const char *name)
{
	const struct jv *v = jget(o, name);

	return v && v->t == J_BOOL ? v->b : -1;
}

static bool jstreq(const struct jv *o, const char *name, const void *s,
		   size_t len)
{
	const struct jv *v = jget(o, name);

	return v && v->t == J_STR && v->slen == len && !memcmp(v->s, s, len);
}

/* ---- tests ----------------------------------------------------------- */

FIXTURE(tools) {
	int ctl;
	const char *disk;
};

FIXTURE_SETUP(tools)
{
	ASSERT_TRUE(module_loaded()) TH_LOG("kvbucket module not loaded");
	ASSERT_EQ(0, detach_all());
	self->disk = kvb_disk(1);
	ASSERT_NE(NULL, self->disk);
	self->ctl = ctl_open();
	ASSERT_LE(0, self->ctl);
}

FIXTURE_TEARDOWN(tools)
{
	if (self->ctl >= 0)
		close(self->ctl);
	EXPECT_EQ(0, detach_all());
}

#define RUN(r, in, inlen, ...) do { \
	char *const __argv[] = { __VA_ARGS__, NULL }; \
	ASSERT_EQ(0, run_tool((r), (in), (inlen), __argv)); \
} while (0)

/* Parse r's stdout as JSON into v; log it when that fails. */
#define ASSERT_JSON(r, v) \
	ASSERT_TRUE(jparse((r)->out, (r)->out_len, (v))) \
		TH_LOG("not JSON: '%s'", (r)->out)

TEST_F_TIMEOUT(tools, kvbucketctl_round_trip, 120)
{
	static const char key[] = "tools/key-1";
	unsigned char value[10000];
	char file[256], idbuf[16];
	const char *out = getenv("KVB_OUT");
	struct kvb_obj_desc q;
	struct kvb_store_info info;
	const struct jv *e, *keys;
	struct jv v;
	struct run r;
	uint32_t id;
	int fd, sfd;

	fill_value(key_seed(key, strlen(key), 0), value, sizeof(value));
	value[0] = 0;		/* binary, with NULs and a newline */
	value[1] = '\n';
	fill_value(key_seed(key, strlen(key), 0), value + 2, sizeof(value) - 2);

	/* attach --format --json */
	RUN(&r, NULL, 0, "kvbucketctl", "attach", (char *)self->disk,
	    "--format", "--json");
	ASSERT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	ASSERT_JSON(&r, &v);
	id = jnum(&v, "id");
	EXPECT_TRUE(jstreq(&v, "device", self->disk, strlen(self->disk)));
	ASSERT_EQ(1, ctl_list(self->ctl, NULL, 0));
	ASSERT_EQ(0, ctl_info(self->ctl, id, &info));
	EXPECT_TRUE(info.flags & KVB_INFO_FORMATTED);
	snprintf(idbuf, sizeof(idbuf), "%u", id);

	/* put from stdin, get to stdout */
	RUN(&r, value, sizeof(value), "kvbucketctl", "put", (char *)key, "-");
	ASSERT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	RUN(&r, NULL, 0, "kvbucketctl", "get", (char *)key);
	ASSERT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	ASSERT_EQ(sizeof(value), r.out_len);
	EXPECT_EQ(0, memcmp(r.out, value, sizeof(value)));
	/* and to a file, with --store */
	snprintf(file, sizeof(file), "%s/kvb-tools-get", out ? out : "/tmp");
	RUN(&r, NULL, 0, "kvbucketctl", "--store", idbuf, "get", (char *)key,
	    file);
	ASSERT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	fd = open(file, O_RDONLY);
	ASSERT_LE(0, fd);
	{
		char *got;
		size_t n = read_fd(fd, &got);

		EXPECT_EQ(sizeof(value), n);
		EXPECT_EQ(0, memcmp(got, value, sizeof(value)));
		free(got);
	}
	close(fd);
	unlink(file);

	/* query --json agrees with the ioctl */
	sfd = store_open(id);
	ASSERT_LE(0, sfd);
	ASSERT_EQ(0, query_one(sfd, key, strlen(key), &q));
	ASSERT_EQ(0, q.status);
	RUN(&r, NULL, 0, "kvbucketctl", "--json", "query", (char *)key,
	    "missing-key");
	EXPECT_EQ(1, r.status);	/* a key not stored */
	ASSERT_JSON(&r, &v);
	ASSERT_EQ(J_ARR, v.t);
	ASSERT_EQ(2, v.n);
	e = jat(&v, 0);
	EXPECT_TRUE(jstreq(e, "key", key, strlen(key)));
	EXPECT_EQ(1, jbool(e, "found"));
	EXPECT_EQ(sizeof(value), jnum(e, "value_len"));
	EXPECT_EQ(q.bucket_id, jnum(e, "bucket_id"));
	EXPECT_EQ(q.offset, jnum(e, "offset"));
	e = jat(&v, 1);
	EXPECT_TRUE(jstreq(e, "key", "missing-key", 11));
	EXPECT_EQ(0, jbool(e, "found"));

	/* info / stats --json */
	ASSERT_EQ(0, st_info(sfd, &info));
	RUN(&r, NULL, 0, "kvbucketctl", "info", "--json");
	ASSERT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	ASSERT_JSON(&r, &v);
	EXPECT_EQ(id, jnum(&v, "id"));
	EXPECT_EQ(1, jnum(&v, "nr_keys"));
	EXPECT_EQ(1, jnum(&v, "nr_buckets"));
	EXPECT_EQ(sizeof(value), jnum(&v, "value_bytes"));
	EXPECT_EQ(info.capacity_bytes, jnum(&v, "capacity_bytes"));
	EXPECT_EQ(info.used_bytes, jnum(&v, "used_bytes"));
	EXPECT_EQ(info.free_bytes, jnum(&v, "free_bytes"));
	EXPECT_EQ(info.chunk_size, jnum(&v, "chunk_size"));
	EXPECT_EQ(info.next_bucket_id, jnum(&v, "next_bucket_id"));
	RUN(&r, NULL, 0, "kvbucketctl", "stats", "--json");
	ASSERT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	ASSERT_JSON(&r, &v);
	EXPECT_EQ(1, jnum(&v, "nr_keys"));
	EXPECT_EQ(info.used_bytes, jnum(&v, "used_bytes"));
	RUN(&r, NULL, 0, "kvbucketctl", "list", "--json");
	ASSERT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	ASSERT_JSON(&r, &v);
	ASSERT_EQ(J_ARR, v.t);
	ASSERT_EQ(1, v.n);
	EXPECT_EQ(id, jnum(jat(&v, 0), "id"));
	RUN(&r, NULL, 0, "kvbucketctl", "features", "--json");
	ASSERT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	ASSERT_JSON(&r, &v);
	EXPECT_EQ(KVB_ABI_VERSION, jnum(&v, "abi_version"));
	EXPECT_EQ(KVB_MAX_KEY_LEN, jnum(&v, "max_key_len"));

	/* a second key with binary bytes, through --hex */
	RUN(&r, "xyz", 3, "kvbucketctl", "--hex", "put", "00ff0a41", "-");
	ASSERT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	{
		struct tkey hk = { "\x00\xff\x0a\x41", 4, 3, 0 };
		unsigned char got[3];
		struct kvb_slice s;
		struct kvb_obj_desc d;

		kvb_slice_init(&s, got, 3);
		kvb_desc_init(&d, hk.key, 4, &s, 1);
		ASSERT_EQ(0, st_batch(sfd, KVB_IOC_LOAD, &d, 1, 0, NULL));
		EXPECT_EQ(0, d.status);
		EXPECT_EQ(0, memcmp(got, "xyz", 3));
	}

	/* scan --json: two buckets, in id order, with their keys */
	RUN(&r, NULL, 0, "kvbucketctl", "scan", "--json");
	ASSERT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	ASSERT_JSON(&r, &v);
	ASSERT_EQ(J_ARR, v.t);
	ASSERT_EQ(2, v.n);
	e = jat(&v, 0);
	EXPECT_EQ(q.bucket_id, jnum(e, "id"));
	EXPECT_EQ(1, jnum(e, "nr_keys"));
	EXPECT_EQ(sizeof(value), jnum(e, "value_bytes"));
	keys = jget(e, "keys");
	ASSERT_NE(NULL, keys);
	ASSERT_EQ(1, keys->n);
	EXPECT_TRUE(jstreq(jat(keys, 0), "key", key, strlen(key)));
	EXPECT_EQ(sizeof(value), jnum(jat(keys, 0), "value_len"));
	e = jat(&v, 1);
	EXPECT_LT(q.bucket_id, jnum(e, "id"));
	keys = jget(e, "keys");
	ASSERT_NE(NULL, keys);
	ASSERT_EQ(1, keys->n);
	/* a binary key decodes to its bytes (\u00NN) */
	EXPECT_TRUE(jstreq(jat(keys, 0), "key", "\x00\xff\x0a\x41", 4));

	/* put of a stored key fails, --replace replaces */
	RUN(&r, "new", 3, "kvbucketctl", "put", (char *)key, "-");
	EXPECT_EQ(1, r.status);
	RUN(&r, "new", 3, "kvbucketctl", "put", (char *)key, "-", "--replace");
	EXPECT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	RUN(&r, NULL, 0, "kvbucketctl", "get", (char *)key);
	EXPECT_EQ(0, r.status);
	EXPECT_EQ(3, r.out_len);
	EXPECT_EQ(0, memcmp(r.out, "new", 3));

	/* rm: then get and query fail, the ioctl agrees */
	RUN(&r, NULL, 0, "kvbucketctl", "rm", (char *)key);
	EXPECT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	EXPECT_EQ(-ENOENT, query_status(sfd, key, strlen(key)));
	RUN(&r, NULL, 0, "kvbucketctl", "get", (char *)key);
	EXPECT_EQ(1, r.status);
	EXPECT_EQ(0, r.out_len);
	RUN(&r, NULL, 0, "kvbucketctl", "rm", (char *)key);
	EXPECT_EQ(1, r.status);
	RUN(&r, NULL, 0, "kvbucketctl", "--json", "query", (char *)key);
	EXPECT_EQ(1, r.status);
	ASSERT_JSON(&r, &v);
	EXPECT_EQ(0, jbool(jat(&v, 0), "found"));
	ASSERT_EQ(0, st_info(sfd, &info));
	EXPECT_EQ(1, info.nr_keys);	/* the hex key */
	close(sfd);

	/* usage errors exit 2 */
	RUN(&r, NULL, 0, "kvbucketctl", "no-such-command");
	EXPECT_EQ(2, r.status);
	RUN(&r, NULL, 0, "kvbucketctl", "get");
	EXPECT_EQ(2, r.status);

	/* detach by device path */
	RUN(&r, NULL, 0, "kvbucketctl", "detach", (char *)self->disk);
	EXPECT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	EXPECT_EQ(0, ctl_list(self->ctl, NULL, 0));
	/* attach without --format finds the hex key again */
	RUN(&r, NULL, 0, "kvbucketctl", "attach", (char *)self->disk);
	EXPECT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	RUN(&r, NULL, 0, "kvbucketctl", "--hex", "get", "00ff0a41");
	EXPECT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	EXPECT_EQ(3, r.out_len);
	EXPECT_EQ(0, memcmp(r.out, "xyz", 3));
}

TEST_F_TIMEOUT(tools, kvbucket_demo, 400)
{
	struct run r;
	char *last;

	RUN(&r, NULL, 0, "kvbucket-demo", "--dev", (char *)self->disk);
	EXPECT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	/* the last line is "demo: OK: ..." */
	while (r.out_len && r.out[r.out_len - 1] == '\n')
		r.out[--r.out_len] = 0;
	last = strrchr(r.out, '\n');
	last = last ? last + 1 : r.out;
	EXPECT_EQ(0, strncmp(last, "demo: OK", 8)) TH_LOG("last line: %s", last);
	/* it leaves nothing attached, or we detach it in teardown */
}

TEST_HARNESS_MAIN
