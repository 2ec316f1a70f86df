// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Host-side test of kvb_crc32c(): the check value, chaining, and both
 * implementations (slice-by-8 and SSE4.2) against a bitwise reference on
 * every length and alignment up to a few blocks. Needs no kernel.
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "libkvbucket.h"
#include "internal.h"

#define CHECK_VALUE	0xe3069283U

static int failures;

#define expect(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			failures++;					\
			fprintf(stderr, "FAIL %s:%d: ", __FILE__,	\
				__LINE__);				\
			fprintf(stderr, __VA_ARGS__);			\
			fputc('\n', stderr);				\
		}							\
	} while (0)

static uint32_t crc32c_bitwise(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	int k;

	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78U & (0U - (crc & 1)));
	}
	return ~crc;
}

typedef uint32_t (*raw_fn)(uint32_t, const void *, size_t);

static uint32_t wrap(raw_fn fn, uint32_t crc, const void *buf, size_t len)
{
	return ~fn(~crc, buf, len);
}

static void test_impl(const char *name, raw_fn fn)
{
	static unsigned char buf[3 * 4096 + 16];
	size_t off, len, cut;
	uint32_t want, got, a;
	unsigned int seed = 1;
	size_t i;

	for (i = 0; i < sizeof(buf); i++) {
		seed = seed * 1103515245 + 12345;
		buf[i] = seed >> 16;
	}

	got = wrap(fn, 0, "123456789", 9);
	expect(got == CHECK_VALUE, "%s: check value %08x, want %08x",
	       name, got, CHECK_VALUE);
	got = wrap(fn, 0, "", 0);
	expect(got == 0, "%s: empty buffer gives %08x", name, got);

	for (off = 0; off < 8; off++) {
		for (len = 0; len + off <= sizeof(buf);
		     len += len < 80 ? 1 : 509) {
			want = crc32c_bitwise(0, buf + off, len);
			got = wrap(fn, 0, buf + off, len);
			expect(got == want, "%s: off %zu len %zu: %08x != %08x",
			       name, off, len, got, want);
			cut = len / 3;
			a = wrap(fn, 0, buf + off, cut);
			got = wrap(fn, a, buf + off + cut, len - cut);
			expect(got == want, "%s: chained off %zu len %zu",
			       name, off, len);
		}
	}
}

int main(void)
{
	uint32_t a;

	test_impl("slice-by-8", crc32c_sw);
	if (crc32c_hw_supported())
		test_impl("sse4.2", crc32c_hw);
	else
		printf("SKIP sse4.2: not supported by this CPU\n");

	/* The exported entry point. */
	expect(kvb_crc32c(0, "123456789", 9) == CHECK_VALUE,
	       "kvb_crc32c check value");
	a = kvb_crc32c(0, "1234", 4);
	expect(kvb_crc32c(a, "56789", 5) == CHECK_VALUE,
	       "kvb_crc32c chaining");

	if (failures) {
		printf("crc32c-test: %d failures\n", failures);
		return 1;
	}
	printf("crc32c-test: OK (slice-by-8%s)\n",
	       crc32c_hw_supported() ? ", sse4.2" : "");
	return 0;
}
