// SPDX-License-Identifier: GPL-2.0
/* Probe: io_uring_cmd_done() takes the issue flags (6.3+, Debian's 6.1). */
#if __has_include("linux/io_uring/cmd.h")
#include <linux/io_uring/cmd.h>
#else
#include <linux/io_uring.h>
#endif

void kvb_probe(struct io_uring_cmd *cmd, unsigned int issue_flags);
void kvb_probe(struct io_uring_cmd *cmd, unsigned int issue_flags)
{
	io_uring_cmd_done(cmd, 0, 0, issue_flags);
}
