/*-------------------------------------------------------------------------
 *
 * decode.c
 *	  The apply worker's slot, origin and decoding context: creating the
 *	  slot (and what a missing or invalidated slot means for the views),
 *	  the WAL page-read callback, what may be read without decoding (the
 *	  skip horizon), and dropping catalog caches when the catalog changed.
 *
 * The apply worker of database D owns the logical slot and the replication
 * origin "pg_flowview_<D's oid>" (fv_slot_name).  Its decoding context
 * (fv_decoding) is kept across batches and collects into fv_batch
 * (batch.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam_xlog.h"
#include "access/rmgr.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "access/xlogutils.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "replication/logical.h"
#include "replication/origin.h"
#include "replication/slot.h"
#include "storage/lwlock.h"
#include "storage/sinval.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "catalog_lock.h"
#include "pg_flowview.h"
#include "worker/apply_internal.h"

char		fv_slot_name[NAMEDATALEN];
LogicalDecodingContext *fv_decoding = NULL;
FvBatch		fv_batch;

/*
 * The end of the WAL inserted so far, as a position XLogFlush accepts.
 * GetXLogInsertRecPtr() points past the page header when the insert
 * position is at a page boundary; flushing up to there is "past end of
 * generated WAL", an ERROR that made the worker exit and restart.
 */
XLogRecPtr
fv_inserted_end(void)
{
	XLogRecPtr	insert = GetXLogInsertRecPtr();
	uint32		offset = insert % XLOG_BLCKSZ;
	bool		first_page = XLogSegmentOffset(insert, wal_segment_size) < XLOG_BLCKSZ;

	if (offset == (first_page ? SizeOfXLogLongPHD : SizeOfXLogShortPHD))
		insert -= offset;
	return insert;
}

/*
 * The worker decodes up to the WAL flush position (flushing nothing itself
 * while others do).  A record that starts before it may end after it: then
 * this flushes just what the reader needs instead of waiting for someone to.
 */
static int
read_wal_page(XLogReaderState *reader, XLogRecPtr page, int len,
			  XLogRecPtr target, char *buf)
{
	XLogRecPtr	need = page + len;

	if (need > GetFlushRecPtr(NULL))
		XLogFlush(Min(need, fv_inserted_end()));
	return read_local_xlog_page(reader, page, len, target, buf);
}

/*
 * A new logical slot becomes usable only once every transaction running at
 * its creation has ended (DecodingContextFindStartpoint waits for them),
 * prepared ones included, and those may stay open for good, as may a
 * session idle in a transaction: the views then stay backfilling.  Say so
 * (worker problem, and a WARNING with the fix) before the wait starts;
 * create_slot_if_missing clears it when the slot is made.
 */
static void
note_prepared_transactions(void)
{
	char	   *which = NULL;

	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_execute("SELECT w FROM ("
					" SELECT 1, prepared, pg_catalog.format('prepared transaction %L (transaction %s, prepared at %s in database %s)',"
					"  gid, transaction, prepared, database) FROM pg_catalog.pg_prepared_xacts"
					" UNION ALL"
					" SELECT 2, xact_start, pg_catalog.format('transaction %s of process %s (%s since %s, database %s)',"
					"  backend_xid, pid, state, state_change, datname) FROM pg_catalog.pg_stat_activity"
					"  WHERE backend_xid IS NOT NULL AND pid <> pg_catalog.pg_backend_pid()"
					"  AND state IN ('idle in transaction', 'idle in transaction (aborted)')"
					") b(k, t, w) ORDER BY k, t LIMIT 1", true, 1) == SPI_OK_SELECT && SPI_processed == 1)
		which = MemoryContextStrdup(TopTransactionContext,
									SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	PopActiveSnapshot();
	SPI_finish();
	if (which != NULL)
	{
		const char *fix = strncmp(which, "prepared", 8) == 0 ?
			"COMMIT PREPARED or ROLLBACK PREPARED that transaction." :
			"End that transaction (COMMIT or ROLLBACK in its session, or pg_terminate_backend()).";

		fv_set_problem(psprintf("waiting for %s to end: creating replication slot %s waits for every transaction running at its creation, so the live views stay backfilling. %s",
							 which, fv_slot_name, fix));
		ereport(WARNING,
				(errmsg("pg_flowview: creating replication slot \"%s\" waits for %s to end", fv_slot_name, which),
				 errdetail("A new slot waits for every transaction running at its creation; until then the live views of this database stay backfilling."),
				 errhint("%s", fix)));
	}
	CommitTransactionCommand();
}

/*
 * Set by recompute_live_views_without_slot: live views were marked
 * 'backfilling' in the catalog, the worker's list of views is out of date.
 */
bool		fv_views_marked_for_recompute = false;

/*
 * The slot is missing while the catalog has live views: they reflect the
 * stream up to a recorded position (the origin's progress, the catalog's
 * applied_lsn), but a new slot starts now and can never give the changes
 * between that position and its start (CreateDecodingContext silently moves
 * an older start position up to the slot's).  That is what a promoted
 * standby sees (slots are not copied by pg_basebackup nor replicated; the
 * origin's progress is), and a restored or pg_upgrade'd cluster: resuming
 * would lose those changes while the views say 'live'.  So every live view
 * is marked 'backfilling' (its backfill snapshot forgotten) in one commit,
 * before the slot is created: a crash in between leaves them backfilling,
 * never live without a slot.  They are repopulated at the first batch
 * boundary of the new slot, from a snapshot, as refresh_view does.  Says
 * so in the log, naming the views and positions.
 */
static void
recompute_live_views_without_slot(void)
{
	RepOriginId origin;
	XLogRecPtr	progress = InvalidXLogRecPtr;
	StringInfoData views;
	uint64		n = 0;
	uint64		i;
	MemoryContext caller = CurrentMemoryContext;

	/* the list outlives the transaction: in the caller's memory */
	initStringInfo(&views);
	StartTransactionCommand();
	if (!OidIsValid(get_extension_oid("pg_flowview", true)) || !fv_lock_view_catalog())
	{
		CommitTransactionCommand();
		MemoryContextSwitchTo(caller);
		pfree(views.data);
		return;
	}
	origin = replorigin_by_name(fv_slot_name, true);
	if (origin != InvalidRepOriginId)
		progress = replorigin_get_progress(origin, false);
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_execute("UPDATE flowview.view_catalog SET state = 'backfilling',"
					" snapshot_xmin = NULL, snapshot_xmax = NULL, snapshot_xip = NULL"
					" WHERE state = 'live'"
					" RETURNING view_oid::pg_catalog.regclass::pg_catalog.text,"
					" coalesce(applied_lsn::pg_catalog.text, 'unknown')", false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "pg_flowview: could not mark the live views for recomputing");
	n = SPI_processed;
	for (i = 0; i < n; i++)
		appendStringInfo(&views, "%s%s (applied up to %s)", i > 0 ? ", " : "",
						 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1),
						 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	MemoryContextSwitchTo(caller);
	if (n == 0)
	{
		pfree(views.data);
		return;
	}
	fv_views_marked_for_recompute = true;
	ereport(LOG,
			(errmsg("pg_flowview: replication slot \"%s\" is missing while %llu live views have a recorded position: recomputing them from a snapshot: %s",
					fv_slot_name, (unsigned long long) n, views.data),
			 errdetail("The replication origin's position is %X/%X. A new slot starts at the current WAL position and cannot give the changes after the views' position (a promoted standby, a restored cluster or pg_upgrade has no slot); the views are in state backfilling until they are repopulated.",
					   LSN_FORMAT_ARGS(progress))));
	pfree(views.data);
}

static void
create_slot_if_missing(void)
{
	LogicalDecodingContext *ctx;
	XLogRecPtr	start;

	if (SearchNamedReplicationSlot(fv_slot_name, true) != NULL)
		return;
	recompute_live_views_without_slot();
	note_prepared_transactions();
	StartTransactionCommand();
	ReplicationSlotCreate(fv_slot_name, true, RS_EPHEMERAL, false);
	ctx = CreateInitDecodingContext("pg_flowview", NIL, false, InvalidXLogRecPtr,
									XL_ROUTINE(.page_read = read_local_xlog_page,
											   .segment_open = wal_segment_open,
											   .segment_close = wal_segment_close),
									NULL, NULL, NULL);
	DecodingContextFindStartpoint(ctx);
	FreeDecodingContext(ctx);
	ReplicationSlotPersist();
	start = MyReplicationSlot->data.confirmed_flush;
	ReplicationSlotRelease();
	CommitTransactionCommand();
	fv_set_problem(NULL);
	ereport(LOG, (errmsg("pg_flowview: created replication slot \"%s\" at %X/%X",
						 fv_slot_name, LSN_FORMAT_ARGS(start))));
}

/*
 * The slot was invalidated (max_slot_wal_keep_size): the WAL the views need
 * is gone, so each view goes to state error with the repair in its message;
 * with no live views left the worker then drops slot and origin and exits,
 * and refresh_view starts over with new ones.
 */
static void
slot_lost(void)
{
	ReplicationSlotRelease();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	fv_spi_run(psprintf("UPDATE flowview.view_catalog SET state = 'error', error ="
					 " 'replication slot %s was invalidated (max_slot_wal_keep_size): changes were lost;"
					 " run flowview.refresh_view() on this view'"
					 " WHERE state <> 'error'", fv_slot_name));
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	ereport(WARNING,
			(errmsg("pg_flowview: replication slot \"%s\" was invalidated; its live views are now in state error", fv_slot_name),
			 errhint("Run flowview.refresh_view() on each view; consider raising max_slot_wal_keep_size.")));
}

/*
 * Acquire slot and origin, create the decoding context, position it.  False
 * if the slot was invalidated (see slot_lost()).
 */
bool
fv_start_decoding(void)
{
	RepOriginId origin;
	XLogRecPtr	start;
	MemoryContext old;

	create_slot_if_missing();

	StartTransactionCommand();
	origin = replorigin_by_name(fv_slot_name, true);
	if (origin == InvalidRepOriginId)
		origin = replorigin_create(fv_slot_name);
	CommitTransactionCommand();

	StartTransactionCommand();
	replorigin_session_setup(origin);
	replorigin_session_origin = origin;
	start = replorigin_session_get_progress(false);

	old = MemoryContextSwitchTo(TopMemoryContext);
	ReplicationSlotAcquire(fv_slot_name, true);
	if (XLogRecPtrIsInvalid(MyReplicationSlot->data.restart_lsn))
	{
		MemoryContextSwitchTo(old);
		CommitTransactionCommand();
		slot_lost();
		return false;
	}
	/* created inside a transaction: our apply transactions keep their xmin */
	fv_decoding = CreateDecodingContext(start, NIL, false,
									 XL_ROUTINE(.page_read = read_wal_page,
												.segment_open = wal_segment_open,
												.segment_close = wal_segment_close),
									 NULL, NULL, NULL);
	fv_decoding_collect_into(fv_decoding, &fv_batch);
	XLogBeginRead(fv_decoding->reader, MyReplicationSlot->data.restart_lsn);
	MemoryContextSwitchTo(old);
	CommitTransactionCommand();

	LWLockAcquire(fv_shared->lock, LW_EXCLUSIVE);
	fv_my_state->applied_lsn = Max(start, MyReplicationSlot->data.confirmed_flush);
	LWLockRelease(fv_shared->lock);
	ereport(LOG, (errmsg("pg_flowview: applying from %X/%X", LSN_FORMAT_ARGS(fv_my_state->applied_lsn))));
	return true;
}

/* No live views left: drop slot and origin, so no WAL is retained. */
void
fv_stop_and_clean_up(void)
{
	RepOriginId origin;

	if (fv_decoding != NULL)
	{
		FreeDecodingContext(fv_decoding);
		fv_decoding = NULL;
	}
	if (MyReplicationSlot != NULL)
		ReplicationSlotRelease();
	if (SearchNamedReplicationSlot(fv_slot_name, true) != NULL)
		ReplicationSlotDrop(fv_slot_name, true);
	if (replorigin_session_origin != InvalidRepOriginId)
	{
		replorigin_session_reset();
		replorigin_session_origin = InvalidRepOriginId;
	}
	StartTransactionCommand();
	origin = replorigin_by_name(fv_slot_name, true);
	if (origin != InvalidRepOriginId)
		replorigin_drop_by_name(fv_slot_name, true, false);
	CommitTransactionCommand();
	ereport(LOG, (errmsg("pg_flowview: no live views in this database; apply worker exits")));
}

/*
 * Every live view's backfill snapshot saw (or never needed) every transaction
 * older than the oldest of their xmins: their row changes can be skipped
 * while fv_decoding, not just when applying.  InvalidTransactionId when some
 * live view has no snapshot.
 */
TransactionId
fv_skip_horizon(List *sources)
{
	TransactionId horizon = InvalidTransactionId;
	ListCell   *lc;

	foreach(lc, sources)
	{
		ListCell   *vc;

		foreach(vc, ((FvSource *) lfirst(lc))->views)
		{
			FvLiveView *v = lfirst(vc);

			if (strcmp(v->state, "live") != 0)
				continue;
			if (!v->has_snapshot)
				return InvalidTransactionId;
			if (!TransactionIdIsValid(horizon) || TransactionIdPrecedes(v->snap_xmin, horizon))
				horizon = v->snap_xmin;
		}
	}
	return horizon;
}

/*
 * May the record be read without decoding its row change ("fast forward")?
 * Only row changes (never catalog bookkeeping: in-place updates, new
 * command ids) of a transaction older than the skip horizon (it finished
 * before every view's snapshot: committed, the views have it; aborted, it
 * never counted), and not of a transaction that changed the catalog: its
 * rows must be queued so that the reorder buffer replays its cache
 * invalidations at its commit.
 */
bool
fv_skippable(XLogReaderState *r, TransactionId horizon)
{
	TransactionId xid = XLogRecGetXid(r);
	uint8		op = XLogRecGetInfo(r) & XLOG_HEAP_OPMASK;

	if (!TransactionIdIsNormal(horizon) || !TransactionIdIsNormal(xid) ||
		!TransactionIdPrecedes(xid, horizon))
		return false;
	if (!((XLogRecGetRmid(r) == RM_HEAP_ID && op != XLOG_HEAP_INPLACE) ||
		  (XLogRecGetRmid(r) == RM_HEAP2_ID && op == XLOG_HEAP2_MULTI_INSERT)))
		return false;
	return !ReorderBufferXidHasCatalogChanges(fv_decoding->reorder, xid);
}

/*
 * Decoding builds catalog cache entries under historic snapshots and the
 * apply under the current one; PostgreSQL's own SQL decoding functions
 * therefore drop every cache after fv_decoding, which would also make the
 * apply re-plan every statement of every batch.  The two states can only
 * differ where the catalog changed, and a catalog change committed by anyone
 * reaches this process as a shared invalidation message.  So the caches are
 * dropped, before and after fv_decoding, whenever any message arrived since
 * the end of the previous decoding: before, so decoding never uses entries
 * built from the current catalog for older transactions; after, so entries
 * decoding built from an older catalog (of a change whose message arrived
 * before or while we decoded) never serve the apply.  And a change's
 * message may arrive long before decoding reaches its commit (a backlog
 * decoded in many batches): every batch that ends before that commit builds
 * entries from the older catalog again.  So after decoding the caches are
 * also dropped while decoding has not yet passed the WAL insert position
 * seen when the last message arrived (the change's commit record lies
 * before it): historic_until.
 */
uint64		fv_last_decoded_inval = 0;
static XLogRecPtr historic_until = InvalidXLogRecPtr;

void
fv_invalidate_if_catalog_changed(void)
{
	AcceptInvalidationMessages();
	if (SharedInvalidMessageCounter != fv_last_decoded_inval)
	{
		historic_until = Max(historic_until, GetXLogInsertRecPtr());
		InvalidateSystemCaches();
	}
	else if (fv_decoding->reader->EndRecPtr < historic_until)
		InvalidateSystemCaches();
}
