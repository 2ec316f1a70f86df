/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * libkvbucket internals: not installed, not exported (libkvbucket.map).
 */
#ifndef LIBKVBUCKET_INTERNAL_H
#define LIBKVBUCKET_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define __kvb_hidden	__attribute__((visibility("hidden")))

/*
 * The two CRC-32C implementations behind kvb_crc32c(), on the raw
 * (pre-inverted) register: crc32c_sw() always works, crc32c_hw() only when
 * crc32c_hw_supported() (SSE4.2); the test calls both.
 */
__kvb_hidden uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);
__kvb_hidden uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len);
__kvb_hidden int crc32c_hw_supported(void);

#endif /* LIBKVBUCKET_INTERNAL_H */
