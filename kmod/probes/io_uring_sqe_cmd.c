// SPDX-License-Identifier: GPL-2.0
/* Probe: the SQE payload is io_uring_sqe_cmd(cmd->sqe), not cmd->cmd (6.6+). */
#if __has_include("linux/io_uring/cmd.h")
#include <linux/io_uring/cmd.h>
#else
#include <linux/io_uring.h>
#endif

const void *kvb_probe(struct io_uring_cmd *cmd);
const void *kvb_probe(struct io_uring_cmd *cmd)
{
	return io_uring_sqe_cmd(cmd->sqe);
}
