/*-------------------------------------------------------------------------
 *
 * batch_snapshot.c
 *	  A snapshot that sees exactly the transactions up to a batch's end.
 *
 * A join view's delta joins the batch's rows of one table to the other
 * tables as they were at the batch's end, while the writers have moved on.
 * The worker (in exact mode, when a database has join views) reads the
 * sources under a snapshot built for that point:
 *
 *	1. in the batch's transaction, take an ordinary snapshot S, keep it
 *	   registered (its xmin stays this backend's: nothing S may see is
 *	   pruned), and only then read the WAL insert position L and flush to
 *	   it (fv_exact_batch_begin);
 *	2. decode up to L, whole, into the batch: every transaction S sees
 *	   wrote its commit record before S was taken, so before L, so it is in
 *	   this batch or an earlier one;
 *	3. wait until the batch's transactions have left the proc array (their
 *	   commit is in the clog: apply_batch does so for every batch), then
 *	   build Sp from S (fv_exact_batch_snapshot): the batch's transactions
 *	   (and their subtransactions) that S still saw running are taken out of
 *	   xip/subxip; if some of them got their xid after S was taken, xmax is
 *	   raised past them and every other xid in between is listed as
 *	   running.
 *
 * Sp sees a transaction iff S saw it or it is in the batch: exactly the
 * transactions whose commit record precedes L (those of earlier batches
 * were visible before this batch's S was taken).  Only transactions that
 * changed a source are listed in the batch, but only sources are read
 * under Sp: whatever else S got wrong does not matter, and it got nothing
 * wrong that it did not get wrong for every statement before.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "worker/batch_snapshot.h"

static Snapshot exact_snapshot = NULL;	/* S, registered for the transaction */

/* Take S; returns L, the end of the batch to decode (flushed). */
XLogRecPtr
fv_exact_batch_begin(XLogRecPtr (*inserted_end) (void))
{
	XLogRecPtr	upto;

	Assert(IsTransactionState());
	exact_snapshot = RegisterSnapshotOnOwner(GetLatestSnapshot(), TopTransactionResourceOwner);
	upto = inserted_end();
	XLogFlush(upto);
	return upto;
}

/* Let go of S, before the batch's transaction ends. */
void
fv_exact_batch_end(void)
{
	if (exact_snapshot != NULL)
		UnregisterSnapshotFromOwner(exact_snapshot, TopTransactionResourceOwner);
	exact_snapshot = NULL;
}

bool
fv_exact_batch_active(void)
{
	return exact_snapshot != NULL;
}

static bool
in_batch(TransactionId xid, TransactionId *xids, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if (xids[i] == xid)
			return true;
	return false;
}

/*
 * Sp from S and the batch's transactions (top-level and subtransaction
 * xids), in the current transaction's memory.  The caller has waited until
 * none of them is running.
 */
Snapshot
fv_exact_batch_snapshot(List *xids)
{
	Snapshot	s = exact_snapshot;
	Snapshot	sp;
	TransactionId *batch;
	TransactionId xmax;
	int			nbatch = 0;
	uint32		i;
	int32		k;
	ListCell   *lc;

	Assert(s != NULL);
	batch = palloc(sizeof(TransactionId) * Max(list_length(xids), 1));
	xmax = s->xmax;
	foreach(lc, xids)
	{
		TransactionId xid = (TransactionId) lfirst_oid(lc);

		batch[nbatch++] = xid;
		if (TransactionIdFollowsOrEquals(xid, xmax))
		{
			xmax = xid;
			TransactionIdAdvance(xmax);
		}
	}

	sp = MemoryContextAllocZero(TopTransactionContext, sizeof(SnapshotData));
	*sp = *s;
	sp->copied = false;
	sp->regd_count = 0;
	sp->active_count = 0;
	sp->snapXactCompletionCount = 0;
	sp->xmax = xmax;
	/* xip: S's running transactions but the batch's, and the new xids not in it */
	sp->xip = MemoryContextAlloc(TopTransactionContext,
								 sizeof(TransactionId) * (s->xcnt + (xmax - s->xmax) + 1));
	sp->xcnt = 0;
	for (i = 0; i < s->xcnt; i++)
		if (!in_batch(s->xip[i], batch, nbatch))
			sp->xip[sp->xcnt++] = s->xip[i];
	i = s->xmax;
	while (TransactionIdPrecedes(i, xmax))
	{
		if (!in_batch(i, batch, nbatch))
			sp->xip[sp->xcnt++] = i;
		TransactionIdAdvance(i);
	}
	sp->subxip = MemoryContextAlloc(TopTransactionContext,
									sizeof(TransactionId) * (s->subxcnt + 1));
	sp->subxcnt = 0;
	for (k = 0; k < s->subxcnt; k++)
		if (!in_batch(s->subxip[k], batch, nbatch))
			sp->subxip[sp->subxcnt++] = s->subxip[k];
	pfree(batch);
	return sp;
}
