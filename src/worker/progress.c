/*-------------------------------------------------------------------------
 *
 * progress.c
 *	  What the apply worker tells others about its progress: the slot's
 *	  confirmed position (only up to apply commits that are flushed), the
 *	  applied position in shared memory, the origin's position after empty
 *	  batches, and the worker's problem when it makes none.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "executor/spi.h"
#include "replication/logical.h"
#include "replication/origin.h"
#include "storage/lwlock.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "catalog_lock.h"
#include "pg_flowview.h"
#include "worker/apply_internal.h"

/*
 * Apply transactions commit asynchronously (the writers' WAL flushes are not
 * joined by ours).  The slot may let go of decoded WAL only once the apply
 * commit that carries it is flushed: after a crash the origin's progress is
 * that of the last flushed apply commit, and decoding resumes there.  Each
 * batch leaves (local commit end, decoded end); fv_confirm_flushed() confirms
 * the decoded end of the longest flushed prefix.
 */
typedef struct FvPending
{
	XLogRecPtr	local_end;		/* InvalidXLogRecPtr: nothing committed */
	XLogRecPtr	decoded_end;
} FvPending;

#define FV_MAX_PENDING 1024
static FvPending pending[FV_MAX_PENDING];
static int	npending = 0;

void
fv_confirm_flushed(void)
{
	XLogRecPtr	flushed = GetFlushRecPtr(NULL);
	XLogRecPtr	confirm = InvalidXLogRecPtr;
	int			i = 0;

	while (i < npending && pending[i].local_end <= flushed)
		confirm = pending[i++].decoded_end;
	if (i == 0)
		return;
	memmove(pending, pending + i, sizeof(FvPending) * (npending - i));
	npending -= i;
	LogicalConfirmReceivedLocation(confirm);
}

void
fv_add_pending(XLogRecPtr local_end, XLogRecPtr decoded_end)
{
	if (npending == FV_MAX_PENDING)
	{
		XLogFlush(pending[npending - 1].local_end);
		fv_confirm_flushed();
	}
	pending[npending].local_end = local_end;
	pending[npending].decoded_end = decoded_end;
	npending++;
	fv_confirm_flushed();
}

void
fv_publish_progress(XLogRecPtr lsn)
{
	LWLockAcquire(fv_shared->lock, LW_EXCLUSIVE);
	if (lsn > fv_my_state->applied_lsn)
		fv_my_state->applied_lsn = lsn;
	fv_my_state->last_batch_at = GetCurrentTimestamp();
	/* progress: whatever held the worker up is over */
	fv_my_state->failures = 0;
	fv_my_state->problem[0] = '\0';
	LWLockRelease(fv_shared->lock);
}

/*
 * Say in shared memory why the worker makes no progress (NULL: it does
 * again); flowview.views and flowview.freshness show it.
 */
void
fv_set_problem(const char *problem)
{
	LWLockAcquire(fv_shared->lock, LW_EXCLUSIVE);
	if (problem == NULL)
		fv_my_state->problem[0] = '\0';
	else
	{
		if (fv_my_state->problem[0] == '\0')
			fv_my_state->problem_since = GetCurrentTimestamp();
		strlcpy(fv_my_state->problem, problem, FV_PROBLEM_LEN);
	}
	LWLockRelease(fv_shared->lock);
}

/*
 * Batches without changes to the sources commit nothing, so the origin's
 * progress (and the catalog's applied_lsn) stays at the last batch that
 * had some, however far decoding has gone since.  A hot standby reads the
 * WAL after that position to tell which commits its replayed views miss
 * (standby.c), and a restarted worker decodes it again: once decoding is
 * FV_RECORD_POSITION_BYTES past it, record the decoded end (every commit
 * before it is applied or changed no source) in a commit of its own.  Our
 * own commit is smaller than that, so an idle server writes nothing.
 */
#define FV_RECORD_POSITION_BYTES (16 * 1024 * 1024)

void
fv_record_position_if_far(XLogRecPtr end)
{
	XLogRecPtr	recorded = replorigin_session_get_progress(false);

	if (end < recorded + FV_RECORD_POSITION_BYTES)
		return;
	StartTransactionCommand();
	if (fv_lock_view_catalog())
	{
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		replorigin_session_origin_lsn = end;
		fv_spi_run(psprintf("UPDATE flowview.view_catalog SET applied_lsn = '%X/%X' WHERE state = 'live'",
						 LSN_FORMAT_ARGS(end)));
		PopActiveSnapshot();
		SPI_finish();
	}
	CommitTransactionCommand();
}
