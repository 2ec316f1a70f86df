// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * CRC-32C (Castagnoli), as uapi/linux/kvbucket_format.h defines it:
 * reflected polynomial 0x82f63b78, initial value and final xor 0xffffffff.
 *
 * kvb_crc32c() chains like zlib's crc32(): it takes and returns the final
 * (xored) value, so kvb_crc32c(0, buf, len) is the checksum of buf and
 * kvb_crc32c(kvb_crc32c(0, a, la), b, lb) the checksum of a || b.
 *
 * The SSE4.2 crc32 instruction computes exactly this CRC; without it a
 * slice-by-8 table does, 8 bytes per step.
 */
#include <stdint.h>
#include <string.h>

#include "libkvbucket.h"
#include "internal.h"

#define CRC32C_POLY	0x82f63b78U

static uint32_t crc32c_table[8][256];

/*
 * Built before anything in the program (or the dlopen() caller) can call
 * kvb_crc32c(), so no locking is needed afterwards.
 */
__attribute__((constructor))
static void crc32c_init_table(void)
{
	uint32_t c;
	int i, j;

	for (i = 0; i < 256; i++) {
		c = i;
		for (j = 0; j < 8; j++)
			c = (c >> 1) ^ (CRC32C_POLY & (0U - (c & 1)));
		crc32c_table[0][i] = c;
	}
	for (i = 0; i < 256; i++) {
		c = crc32c_table[0][i];
		for (j = 1; j < 8; j++) {
			c = crc32c_table[0][c & 0xff] ^ (c >> 8);
			crc32c_table[j][i] = c;
		}
	}
}

static inline uint64_t load_le64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t v;

	while (len && ((uintptr_t)p & 7)) {
		crc = crc32c_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
		len--;
	}
	while (len >= 8) {
		v = load_le64(p) ^ crc;
		crc = crc32c_table[7][v & 0xff] ^
		      crc32c_table[6][(v >> 8) & 0xff] ^
		      crc32c_table[5][(v >> 16) & 0xff] ^
		      crc32c_table[4][(v >> 24) & 0xff] ^
		      crc32c_table[3][(v >> 32) & 0xff] ^
		      crc32c_table[2][(v >> 40) & 0xff] ^
		      crc32c_table[1][(v >> 48) & 0xff] ^
		      crc32c_table[0][v >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = crc32c_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>

__attribute__((target("sse4.2")))
uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len && ((uintptr_t)p & 7)) {
		crc = _mm_crc32_u8(crc, *p++);
		len--;
	}
#ifdef __x86_64__
	{
		uint64_t c = crc, v;

		while (len >= 8) {
			memcpy(&v, p, sizeof(v));
			c = _mm_crc32_u64(c, v);
			p += 8;
			len -= 8;
		}
		crc = (uint32_t)c;
	}
#endif
	while (len >= 4) {
		uint32_t v;

		memcpy(&v, p, sizeof(v));
		crc = _mm_crc32_u32(crc, v);
		p += 4;
		len -= 4;
	}
	while (len--)
		crc = _mm_crc32_u8(crc, *p++);
	return crc;
}

int crc32c_hw_supported(void)
{
	/* 0: not known yet, 1: no, 2: yes; benign race, same answer. */
	static int state;
	int s = __atomic_load_n(&state, __ATOMIC_RELAXED);

	if (!s) {
		__builtin_cpu_init();
		s = __builtin_cpu_supports("sse4.2") ? 2 : 1;
		__atomic_store_n(&state, s, __ATOMIC_RELAXED);
	}
	return s == 2;
}
#else
uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	return crc32c_sw(crc, buf, len);
}

int crc32c_hw_supported(void)
{
	return 0;
}
#endif

uint32_t kvb_crc32c(uint32_t crc, const void *buf, size_t len)
{
	crc = ~crc;
	if (crc32c_hw_supported())
		crc = crc32c_hw(crc, buf, len);
	else
		crc = crc32c_sw(crc, buf, len);
	return ~crc;
}
