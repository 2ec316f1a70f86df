// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * libkvbucket: OFFLOAD, QUERY and LOAD as io_uring commands
 * (IORING_OP_URING_CMD, Documentation/abi.rst). liburing 2.3 has no
 * helper for them, so these fill the SQE themselves.
 *
 * In a file of its own: a program linking libkvbucket.a needs liburing
 * only when it calls one of these.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <liburing.h>

#include "libkvbucket.h"

/* The command is in the second half of a 128-byte SQE, past sqe->cmd. */
_Static_assert(offsetof(struct io_uring_sqe, cmd) +
	       sizeof(struct kvb_uring_cmd) <= 2 * sizeof(struct io_uring_sqe),
	       "struct kvb_uring_cmd does not fit in an IORING_SETUP_SQE128 SQE");

int kvb_ring_init(struct io_uring *ring, unsigned int entries)
{
	int saved = errno, ret;

	if (!ring || !entries)
		return -EINVAL;
	ret = io_uring_queue_init(entries, ring, IORING_SETUP_SQE128);
	errno = saved;
	return ret;
}

static int kvb_prep(struct io_uring_sqe *sqe, struct kvb_store *store,
		    uint32_t op, struct kvb_batch *batch,
		    struct kvb_obj_desc *descs, uint32_t count, uint32_t flags)
{
	struct kvb_uring_cmd cmd;
	uint64_t user_data;

	if (!sqe || !store || !batch)
		return -EINVAL;
	memset(batch, 0, sizeof(*batch));
	batch->size = sizeof(*batch);
	batch->flags = flags;
	batch->count = count;
	batch->descs = (uint64_t)(uintptr_t)descs;

	memset(&cmd, 0, sizeof(cmd));
	cmd.batch = (uint64_t)(uintptr_t)batch;

	/*
	 * Like liburing's io_uring_prep_*(): everything but user_data. The
	 * bytes past the command are neither written nor read.
	 */
	user_data = sqe->user_data;
	memset(sqe, 0, offsetof(struct io_uring_sqe, cmd));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = kvb_store_fd(store);
	sqe->cmd_op = op;
	sqe->user_data = user_data;
	memcpy(sqe->cmd, &cmd, sizeof(cmd));
	return 0;
}

int kvb_prep_offload(struct io_uring_sqe *sqe, struct kvb_store *store,
		     struct kvb_batch *batch, struct kvb_obj_desc *descs,
		     uint32_t count, uint32_t flags)
{
	return kvb_prep(sqe, store, KVB_IOC_OFFLOAD, batch, descs, count,
			flags);
}

int kvb_prep_query(struct io_uring_sqe *sqe, struct kvb_store *store,
		   struct kvb_batch *batch, struct kvb_obj_desc *descs,
		   uint32_t count)
{
	return kvb_prep(sqe, store, KVB_IOC_QUERY, batch, descs, count, 0);
}

int kvb_prep_load(struct io_uring_sqe *sqe, struct kvb_store *store,
		  struct kvb_batch *batch, struct kvb_obj_desc *descs,
		  uint32_t count)
{
	return kvb_prep(sqe, store, KVB_IOC_LOAD, batch, descs, count, 0);
}
