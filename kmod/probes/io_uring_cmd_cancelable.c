// SPDX-License-Identifier: GPL-2.0
/* Probe: cancelable commands, IO_URING_F_CANCEL (6.7+). */
#if __has_include("linux/io_uring/cmd.h")
#include <linux/io_uring/cmd.h>
#else
#include <linux/io_uring.h>
#endif

unsigned int kvb_probe(struct io_uring_cmd *cmd, unsigned int issue_flags);
unsigned int kvb_probe(struct io_uring_cmd *cmd, unsigned int issue_flags)
{
	io_uring_cmd_mark_cancelable(cmd, issue_flags);
	return IO_URING_F_CANCEL;
}
