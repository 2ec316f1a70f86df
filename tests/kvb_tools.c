// SPDX-License-Identifier: GPL-2.0
/*
 * The command-line tools: a kvbucketctl round trip (attach, put, get,
 * query, scan, info, stats, rm, detach) whose --json output is parsed by a
 * strict JSON parser and compared with what the ioctls say; eviction
 * (attach --policy and watermarks, policy, info/stats --json fields, and
 * `events` following the evictions that writes cause, checked against the
 * keys written); and kvbucket-demo on a scratch disk.
 */
#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>

#include "kselftest_harness.h"
#include "kvb_test.h"

/* ---- running a tool -------------------------------------------------- */

struct run {
	int status;		/* exit status, or 128 + signal */
	char *out;		/* stdout, NUL-terminated (may hold NULs) */
	size_t out_len;
	char err[4096];		/* stderr, truncated */
};

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

/*
 * Start argv[0] (a tool name) with stdin from /dev/null and stdout to a
 * pipe, whose read end goes to *out; stderr is inherited. The pid or -1.
 */
static pid_t spawn_tool(char *const argv[], int *out)
{
	char path[512];
	int p[2];
	pid_t pid;

	if (pipe(p))
		return -1;
	tool_path(argv[0], path, sizeof(path));
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		/* not left behind by a test that fails half-way */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(devnull, 0);
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execvp(path, argv);
		_exit(127);
	}
	close(p[1]);
	*out = p[0];
	return pid;
}

/* Still running (not a zombie)? Does not reap it. */
static bool running(pid_t pid)
{
	siginfo_t si = { 0 };

	return !waitid(P_PID, pid, &si, WEXITED | WNOHANG | WNOWAIT) &&
	       si.si_pid != pid;
}

/*
 * Wait until pid, a tool, has /dev/kvbucket<id> open, so that it reads
 * every event from then on: true, or false if it exited or 30 s went by.
 * Until it has exec'ed the tool, the fds it shows are the test's (even
 * O_CLOEXEC ones): they do not count.
 */
static bool wait_open(pid_t pid, uint32_t id)
{
	char dir[64], want[64], lnk[256], path[384];
	int i;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	store_path(id, want, sizeof(want));
	for (i = 0; i < 30000 && running(pid); i++) {
		struct dirent *de;
		ssize_t n;
		DIR *d;

		snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
		n = readlink(path, lnk, sizeof(lnk) - 1);
		lnk[n > 0 ? n : 0] = 0;
		if (!strstr(lnk, "kvbucketctl")) {
			usleep(1000);
			continue;
		}
		d = opendir(dir);
		if (!d)
			return false;
		while ((de = readdir(d))) {
			ssize_t n;

			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			n = readlink(path, lnk, sizeof(lnk) - 1);
			if (n > 0) {
				lnk[n] = 0;
				if (!strcmp(lnk, want)) {
					closedir(d);
					return true;
				}
			}
		}
		closedir(d);
		usleep(1000);	/* polling for a condition, not a delay */
	}
	return false;
}

/* Read fd to the end and reap pid: its output in r (out, status). */
static void finish_tool(struct run *r, pid_t pid, int fd)
{
	int st;

	memset(r, 0, sizeof(*r));
	r->out_len = read_fd(fd, &r->out);
	close(fd);
	r->status = waitpid(pid, &st, 0) == pid ?
		    (WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st)) : -1;
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

/* The eviction fields of info/stats/list --json against STORE_INFO. */
#define EXPECT_EVICTION_JSON(v, info, pol) do { \
	EXPECT_TRUE(jstreq((v), "policy", (pol), strlen(pol))); \
	EXPECT_EQ((info)->high_watermark, jnum((v), "high_watermark")); \
	EXPECT_EQ((info)->low_watermark, jnum((v), "low_watermark")); \
	EXPECT_EQ((info)->nr_evicted, jnum((v), "nr_evicted")); \
	EXPECT_EQ((info)->evicted_keys, jnum((v), "evicted_keys")); \
	EXPECT_EQ((info)->reclaimed_bytes, jnum((v), "reclaimed_bytes")); \
	EXPECT_EQ((info)->space_waits, jnum((v), "space_waits")); \
	EXPECT_EQ((info)->events_lost, jnum((v), "events_lost")); \
} while (0)

#define EV_KEYS		3	/* keys per bucket */
#define EV_MAX		64	/* buckets written at most */

struct ev_bucket {
	uint64_t id;
	char key[EV_KEYS][32];
	struct tkey k[EV_KEYS];
};

/* Bucket i: EV_KEYS keys, the first of bucket 0 binary (JSON \u00NN). */
static int ev_put(int fd, struct ev_bucket *b, unsigned int i)
{
	struct kvb_batch bt;
	unsigned int j;
	int ret;

	for (j = 0; j < EV_KEYS; j++) {
		int n = snprintf(b->key[j], sizeof(b->key[j]), "ev/%u/%c", i,
				 'a' + j);

		if (i == 0 && j == 0) {
			memcpy(b->key[j], "\x00\xff\"ev\\0", 7);
			n = 7;
		}
		b->k[j] = (struct tkey){ b->key[j], n, 100 + 37 * i + j, i };
	}
	ret = put_batch(fd, b->k, EV_KEYS, 0, NULL, &bt);
	b->id = ret ? 0 : bt.bucket_id;
	return ret ? ret : (int)bt.nr_done;
}

/* An "evict" object of `events --json` is bucket b's eviction, seq seq. */
static bool ev_json_is(const struct jv *e, const struct ev_bucket *b,
		       uint64_t seq)
{
	const struct jv *keys = jget(e, "keys");
	uint64_t bytes = 0;
	unsigned int j;

	if (!jstreq(e, "type", "evict", 5) || jnum(e, "seq") != seq ||
	    jnum(e, "bucket_id") != b->id || jnum(e, "nr_keys") != EV_KEYS ||
	    !jstreq(e, "policy", "fifo", 4) || !keys || keys->t != J_ARR ||
	    keys->n != EV_KEYS)
		return false;
	/* exactly the keys written, in the order they were offloaded */
	for (j = 0; j < EV_KEYS; j++) {
		const struct jv *k = jat(keys, j);

		if (!jstreq(k, "key", b->k[j].key, b->k[j].klen) ||
		    jnum(k, "value_len") != b->k[j].vlen)
			return false;
		bytes += b->k[j].vlen;
	}
	return jnum(e, "value_bytes") == bytes;
}

/* Check JSON Lines of `events --json` against buckets b[0..n): exactly. */
static int ev_lines_check(struct __test_metadata *_metadata, char *out,
			  const struct ev_bucket *b, unsigned int n,
			  uint64_t seq, const char *who)
{
	char *line, *save = NULL;
	unsigned int nev = 0;
	struct jv v;

	for (line = strtok_r(out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save), nev++) {
		if (!jparse(line, strlen(line), &v)) {
			TH_LOG("%s: not JSON: '%s'", who, line);
			return -1;
		}
		if (nev >= n) {
			/* FIFO, equal buckets, one waiting write at a time */
			TH_LOG("%s: eviction %u that no write needed: '%s'",
			       who, nev + 1, line);
			continue;
		}
		if (!ev_json_is(&v, &b[nev], seq + nev))
			TH_LOG("%s: event %u: '%s', expected bucket %llu", who,
			       nev + 1, line, (unsigned long long)b[nev].id);
		else
			continue;
		return -1;
	}
	return nev;
}

TEST_F_TIMEOUT(tools, kvbucketctl_eviction, 300)
{
	static struct ev_bucket bk[EV_MAX];
	struct kvb_store_info info;
	char buf[64], idbuf[16];
	unsigned int i, nchunks;
	const unsigned int K = 3;	/* evictions the follower waits for */
	struct jv v;
	struct run r, all;
	uint32_t id;
	pid_t pid, pid_all;
	int sfd, out, out_all;

	/* attach: watermarks the kernel refuses (1), usage errors (2) */
	RUN(&r, NULL, 0, "kvbucketctl", "attach", (char *)self->disk,
	    "--format", "--high-watermark", "50");	/* default low: 80 */
	EXPECT_EQ(1, r.status) TH_LOG("stderr: %s", r.err);
	EXPECT_NE(NULL, strstr(r.err, "watermark")) TH_LOG("stderr: %s", r.err);
	RUN(&r, NULL, 0, "kvbucketctl", "attach", (char *)self->disk,
	    "--format", "--low-watermark", "100");	/* low <= 99 */
	EXPECT_EQ(1, r.status) TH_LOG("stderr: %s", r.err);
	RUN(&r, NULL, 0, "kvbucketctl", "attach", (char *)self->disk,
	    "--format", "--high-watermark", "101");
	EXPECT_EQ(2, r.status);
	RUN(&r, NULL, 0, "kvbucketctl", "attach", (char *)self->disk,
	    "--format", "--low-watermark", "0");
	EXPECT_EQ(2, r.status);
	RUN(&r, NULL, 0, "kvbucketctl", "attach", (char *)self->disk,
	    "--format", "--high-watermark", "40", "--low-watermark", "40");
	EXPECT_EQ(2, r.status);
	RUN(&r, NULL, 0, "kvbucketctl", "attach", (char *)self->disk,
	    "--format", "--policy", "mru");
	EXPECT_EQ(2, r.status);
	ASSERT_EQ(0, ctl_list(self->ctl, NULL, 0));

	/*
	 * 64 MiB chunks, every bucket takes one: the store holds nchunks
	 * buckets. At a high watermark of 100 % nothing is evicted until an
	 * OFFLOAD finds no room; then it waits while FIFO evicts the oldest
	 * bucket: one eviction per bucket written beyond nchunks, no more
	 * (design.rst: FIFO never over-evicts).
	 */
	RUN(&r, NULL, 0, "kvbucketctl", "attach", (char *)self->disk,
	    "--format", "--chunk-size", "64M", "--policy", "lru",
	    "--high-watermark", "100", "--low-watermark", "99", "--json");
	ASSERT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	ASSERT_JSON(&r, &v);
	id = jnum(&v, "id");
	snprintf(idbuf, sizeof(idbuf), "%u", id);
	ASSERT_EQ(0, ctl_info(self->ctl, id, &info));
	EXPECT_EQ(KVB_POLICY_LRU, info.policy);
	EXPECT_EQ(100, info.high_watermark);
	EXPECT_EQ(99, info.low_watermark);
	ASSERT_EQ(64 * KVB_MIB, info.chunk_size);
	nchunks = info.capacity_bytes / info.chunk_size;
	ASSERT_LT(nchunks + K + 1, EV_MAX);

	/* policy: read, refused (nothing changes), changed */
	RUN(&r, NULL, 0, "kvbucketctl", "policy", "--json");
	ASSERT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	ASSERT_JSON(&r, &v);
	EXPECT_EQ(id, jnum(&v, "id"));
	EXPECT_TRUE(jstreq(&v, "policy", "lru", 3));
	EXPECT_EQ(100, jnum(&v, "high_watermark"));
	EXPECT_EQ(99, jnum(&v, "low_watermark"));
	RUN(&r, NULL, 0, "kvbucketctl", "policy", "lfu", "--high-watermark",
	    "50");			/* low 99 stays: low >= high */
	EXPECT_EQ(1, r.status);
	EXPECT_NE(NULL, strstr(r.err, "watermark")) TH_LOG("stderr: %s", r.err);
	ASSERT_EQ(0, ctl_info(self->ctl, id, &info));
	EXPECT_EQ(KVB_POLICY_LRU, info.policy);
	EXPECT_EQ(100, info.high_watermark);
	EXPECT_EQ(99, info.low_watermark);
	RUN(&r, NULL, 0, "kvbucketctl", "policy", "lfu", "--high-watermark",
	    "90", "--low-watermark", "80", "--json");
	ASSERT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	ASSERT_JSON(&r, &v);
	EXPECT_TRUE(jstreq(&v, "policy", "lfu", 3));
	EXPECT_EQ(90, jnum(&v, "high_watermark"));
	EXPECT_EQ(80, jnum(&v, "low_watermark"));
	ASSERT_EQ(0, sysfs_read(id, "policy", buf, sizeof(buf)));
	EXPECT_STREQ("lfu\n", buf);
	ASSERT_EQ(0, sysfs_read(id, "high_watermark", buf, sizeof(buf)));
	EXPECT_STREQ("90\n", buf);
	RUN(&r, NULL, 0, "kvbucketctl", "--store", idbuf, "policy", "fifo",
	    "--high-watermark", "100", "--low-watermark", "99");
	ASSERT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	EXPECT_NE(NULL, strstr(r.out, "fifo")) TH_LOG("stdout: %s", r.out);
	ASSERT_EQ(0, ctl_info(self->ctl, id, &info));
	EXPECT_EQ(KVB_POLICY_FIFO, info.policy);
	EXPECT_EQ(100, info.high_watermark);
	EXPECT_EQ(99, info.low_watermark);
	RUN(&r, NULL, 0, "kvbucketctl", "policy", "random");
	EXPECT_EQ(2, r.status);

	/*
	 * Two followers, open before anything is written: one for K events,
	 * one until the store is detached (it sees every eviction).
	 */
	snprintf(buf, sizeof(buf), "%u", K);
	{
		char *const argv[] = { "kvbucketctl", "events", "--count", buf,
				       "--json", NULL };
		char *const argv_all[] = { "kvbucketctl", "events", "--json",
					   NULL };

		pid = spawn_tool(argv, &out);
		pid_all = spawn_tool(argv_all, &out_all);
	}
	ASSERT_LT(0, pid);
	ASSERT_LT(0, pid_all);
	ASSERT_TRUE(wait_open(pid, id)) TH_LOG("kvbucketctl events did not open the store");
	ASSERT_TRUE(wait_open(pid_all, id)) TH_LOG("kvbucketctl events did not open the store");

	sfd = store_open(id);
	ASSERT_LE(0, sfd);
	for (i = 0; i < nchunks + K; i++)
		ASSERT_EQ(EV_KEYS, ev_put(sfd, &bk[i], i)) TH_LOG("bucket %u", i);
	/* exactly the K oldest buckets, in order, with their keys */
	finish_tool(&r, pid, out);
	EXPECT_EQ(0, r.status);
	EXPECT_EQ(K, ev_lines_check(_metadata, r.out, bk, K, 1,
				    "events --count"));

	/* the counters, through STORE_INFO and the tools */
	ASSERT_EQ(0, st_info(sfd, &info));
	EXPECT_EQ(K, info.nr_evicted) TH_LOG("FIFO evicted more than the writes needed");
	EXPECT_EQ(K * EV_KEYS, info.evicted_keys);
	EXPECT_EQ(K * info.chunk_size, info.reclaimed_bytes);
	EXPECT_EQ(K, info.space_waits);
	EXPECT_EQ(0, info.events_lost);
	EXPECT_EQ(nchunks, info.nr_buckets);
	EXPECT_EQ(nchunks * EV_KEYS, info.nr_keys);
	for (i = 0; i < K; i++)		/* evicted: gone */
		EXPECT_EQ(-ENOENT, query_status(sfd, bk[i].k[1].key,
						bk[i].k[1].klen));
	for (; i < nchunks + K; i++)	/* the rest: there */
		EXPECT_EQ(0, get_one(sfd, &bk[i].k[0])) TH_LOG("bucket %u", i);
	RUN(&r, NULL, 0, "kvbucketctl", "info", "--json");
	ASSERT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	ASSERT_JSON(&r, &v);
	EXPECT_EVICTION_JSON(&v, &info, "fifo");
	EXPECT_EQ(info.nr_keys, jnum(&v, "nr_keys"));
	RUN(&r, NULL, 0, "kvbucketctl", "stats", "--json");
	ASSERT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	ASSERT_JSON(&r, &v);
	EXPECT_EVICTION_JSON(&v, &info, "fifo");
	RUN(&r, NULL, 0, "kvbucketctl", "list", "--json");
	ASSERT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	ASSERT_JSON(&r, &v);
	ASSERT_EQ(1, v.n);
	EXPECT_EVICTION_JSON(jat(&v, 0), &info, "fifo");
	RUN(&r, NULL, 0, "kvbucketctl", "info");
	ASSERT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	EXPECT_NE(NULL, strstr(r.out, "fifo (evicts above 100% of capacity, down to 99%)"))
		TH_LOG("stdout: %s", r.out);

	/*
	 * Detach: that stops eviction, and the follower without --count
	 * gets what is queued, then end of file (exit 0). Exactly the K
	 * evictions the writes needed: design.rst says FIFO never
	 * over-evicts.
	 */
	close(sfd);
	ASSERT_EQ(0, ctl_detach(self->ctl, id));
	finish_tool(&all, pid_all, out_all);
	EXPECT_EQ(0, all.status);
	EXPECT_EQ(K, ev_lines_check(_metadata, all.out, bk, K, 1,
				    "events until detach"));

	/*
	 * Attach it again with the watermarks given to attach, and follow it
	 * in text form: one more bucket, which must wait for one eviction,
	 * the first of this attachment (seq 1).
	 */
	RUN(&r, NULL, 0, "kvbucketctl", "attach", (char *)self->disk,
	    "--policy", "fifo", "--high-watermark", "100", "--low-watermark",
	    "99", "--json");
	ASSERT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	ASSERT_JSON(&r, &v);
	id = jnum(&v, "id");
	snprintf(idbuf, sizeof(idbuf), "%u", id);
	ASSERT_EQ(0, ctl_info(self->ctl, id, &info));
	EXPECT_EQ(KVB_POLICY_FIFO, info.policy);
	EXPECT_EQ(100, info.high_watermark);
	EXPECT_EQ(99, info.low_watermark);
	EXPECT_EQ(0, info.nr_evicted);
	EXPECT_EQ(nchunks, info.nr_buckets);
	EXPECT_EQ(info.capacity_bytes, info.used_bytes);
	{
		char *const argv[] = { "kvbucketctl", "-s", idbuf, "events",
				       "--count", "1", NULL };
		char *const argv_all[] = { "kvbucketctl", "events", "--json",
					   NULL };
		char want[160];

		pid = spawn_tool(argv, &out);
		pid_all = spawn_tool(argv_all, &out_all);
		ASSERT_LT(0, pid);
		ASSERT_LT(0, pid_all);
		ASSERT_TRUE(wait_open(pid, id));
		ASSERT_TRUE(wait_open(pid_all, id));
		sfd = store_open(id);
		ASSERT_LE(0, sfd);
		i = nchunks + K;
		ASSERT_EQ(EV_KEYS, ev_put(sfd, &bk[i], i));
		ASSERT_EQ(0, st_info(sfd, &info));
		if (info.space_waits != 1 || !info.nr_evicted) {
			/* it found room: no event for the follower */
			kill(pid, SIGKILL);
			finish_tool(&r, pid, out);
			EXPECT_EQ(1, info.space_waits)
				TH_LOG("the write found room in a full store");
		} else {
			finish_tool(&r, pid, out);
			EXPECT_EQ(0, r.status);
			snprintf(want, sizeof(want),
				 "evict seq=1 bucket=%llu keys=%u bytes=%llu policy=fifo\n"
				 "  %.*s  %llu\n  %.*s  %llu\n  %.*s  %llu\n",
				 (unsigned long long)bk[K].id, EV_KEYS,
				 (unsigned long long)(bk[K].k[0].vlen +
						      bk[K].k[1].vlen +
						      bk[K].k[2].vlen),
				 (int)bk[K].k[0].klen, bk[K].key[0],
				 (unsigned long long)bk[K].k[0].vlen,
				 (int)bk[K].k[1].klen, bk[K].key[1],
				 (unsigned long long)bk[K].k[1].vlen,
				 (int)bk[K].k[2].klen, bk[K].key[2],
				 (unsigned long long)bk[K].k[2].vlen);
			EXPECT_STREQ(want, r.out);
		}
		close(sfd);
		ASSERT_EQ(0, ctl_detach(self->ctl, id));
		finish_tool(&all, pid_all, out_all);
		EXPECT_EQ(0, all.status);
		EXPECT_EQ(1, ev_lines_check(_metadata, all.out, bk + K, 1, 1,
					    "events until the second detach"));
	}
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
