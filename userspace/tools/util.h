/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/* Helpers the kvbucket tools share (not part of libkvbucket). */
#ifndef KVB_TOOLS_UTIL_H
#define KVB_TOOLS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "4096", "64K", "1M", "2GiB", "1T", "512B": bytes; false if malformed. */
bool tool_parse_size(const char *s, uint64_t *v);

/* s as a JSON string, quotes included, on stdout; bytes outside printable
 * ASCII as \u00XX.
 */
void tool_json_str(const uint8_t *s, size_t len);

#endif /* KVB_TOOLS_UTIL_H */
