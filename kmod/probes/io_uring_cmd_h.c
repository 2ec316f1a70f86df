// SPDX-License-Identifier: GPL-2.0
/* Probe: <linux/io_uring/cmd.h> declares struct io_uring_cmd (6.7+). */
#include <linux/io_uring/cmd.h>

u32 kvb_probe(struct io_uring_cmd *cmd);
u32 kvb_probe(struct io_uring_cmd *cmd)
{
	return cmd->cmd_op;
}
