// SPDX-License-Identifier: GPL-2.0
/*
 * Probe: the io_uring_cmd_complete_in_task() callback gets the issue flags
 * (6.3+, Debian's 6.1). -Werror turns a mismatched pointer into a failure.
 */
#if __has_include("linux/io_uring/cmd.h")
#include <linux/io_uring/cmd.h>
#else
#include <linux/io_uring.h>
#endif

static void kvb_probe_cb(struct io_uring_cmd *cmd, unsigned int issue_flags)
{
}

void kvb_probe(struct io_uring_cmd *cmd);
void kvb_probe(struct io_uring_cmd *cmd)
{
	io_uring_cmd_complete_in_task(cmd, kvb_probe_cb);
}
