/*-------------------------------------------------------------------------
 *
 * backfill.c
 *	  Populating live views from a snapshot at a batch boundary
 *	  (backfill_view), and recomputing live views that way when the WAL
 *	  backlog is larger than their sources (fv_maybe_recompute).  A missing
 *	  slot also sends them here (decode.c).
 *
 * The backfill seam is argued at backfill_view and in src/README.md.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "replication/logical.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "catalog_lock.h"
#include "pg_flowview.h"
#include "views/analyze.h"
#include "views/runas.h"
#include "worker/apply_internal.h"

int			fv_recompute_backlog_mb = 64;

/*
 * populate_rollups
 *		Populate the rollups over live view u (worker/apply.c: its rows reach
 *		them with each batch) from u's rows as this transaction has them,
 *		each in a subtransaction (one that fails goes to 'error' alone), and
 *		the rollups over them in turn.  Their catalog rows get u's snapshot:
 *		they are exact at the same boundary.
 */
static void
populate_rollups(FvLiveView *u, Snapshot snap, const char *xip)
{
	ListCell   *dc;
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	foreach(dc, u->downstream)
	{
		ListCell   *wc;

		foreach(wc, ((FvSource *) lfirst(dc))->views)
		{
			FvLiveView *w = lfirst(wc);

			if (strcmp(w->state, "live") != 0 && strcmp(w->state, "backfilling") != 0)
				continue;
			if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(w->view_oid)))
				continue;		/* dropped since the catalog was read */
			BeginInternalSubTransaction(NULL);
			PG_TRY();
			{
				FvRunAs		ra;
				ListCell   *lc;

				fv_runas_begin(&ra, fv_view_runas_role(w->id), FV_RUNAS_STORAGE, w->time_zone);
				foreach(lc, w->storage_tables)
					fv_spi_run(psprintf("DELETE FROM %s", (char *) lfirst(lc)));
				/* a new snapshot for each: it sees u's rows just written */
				foreach(lc, w->backfill_sql)
					fv_spi_run(fv_with_source(lfirst(lc), w->source_oid));
				fv_runas_end(&ra);
				fv_spi_run(psprintf("UPDATE flowview.view_catalog SET state = 'live', error = NULL,"
									" snapshot_xmin = %u, snapshot_xmax = %u, snapshot_xip = '%s'"
									" WHERE id = %d", snap->xmin, snap->xmax, xip, w->id));
				ReleaseCurrentSubTransaction();
				MemoryContextSwitchTo(cxt);
				CurrentResourceOwner = owner;
				w->state = "live";
				ereport(LOG, (errmsg("pg_flowview: live view %d populated after live view %d it reads",
									 w->id, u->id)));
			}
			PG_CATCH();
			{
				ErrorData  *edata = fv_subxact_failed(cxt, owner);
				Oid			types[2] = {TEXTOID, INT4OID};
				Datum		vals[2];

				vals[0] = CStringGetTextDatum(edata->message);
				vals[1] = Int32GetDatum(w->id);
				SPI_execute_with_args("UPDATE flowview.view_catalog SET state = 'error', error = $1 WHERE id = $2",
									  2, types, vals, NULL, false, 0);
				w->state = "error";
				ereport(WARNING,
						(errmsg("pg_flowview: live view %d could not be populated after live view %d it reads: %s",
								w->id, u->id, edata->message)));
			}
			PG_END_TRY();
			if (strcmp(w->state, "live") == 0)
				populate_rollups(w, snap, xip);
		}
	}
}

/*
 * backfill_view
 *		Populate a 'backfilling' view consistently with the stream.
 *
 * We are at a batch boundary P: every transaction whose commit record lies
 * before P has been decoded.  A snapshot S taken now sees all of them, unless
 * one has written its commit record but not yet left the proc array (it would
 * then be in S's xip although already decoded: counted by neither).  So S is
 * retaken until no xid in S.xip is known committed.  Decoded transactions
 * after P are then applied to the view iff S did not see them; S is kept in
 * the catalog for that (fv_view_saw_xid).
 *
 * Returns false, having changed nothing, when the view's catalog row was
 * changed by a transaction S does not see (a DDL on the source or a
 * refresh_view that asks for another repopulation, committed meanwhile):
 * the view stays 'backfilling' and is populated at the next boundary.
 */
static bool
backfill_view(FvLiveView *v)
{
	Snapshot	snap;
	int			i;
	ListCell   *lc;
	StringInfoData xip;
	FvRunAs		ra;
	SPIPlanPtr	rowversion;
	char	   *seen_xmin = NULL;

	StartTransactionCommand();
	if (!fv_lock_view_catalog())
	{
		CommitTransactionCommand();
		return false;
	}
	SPI_connect();
	for (;;)
	{
		bool		retake = false;

		snap = RegisterSnapshot(GetLatestSnapshot());
		for (i = 0; i < snap->xcnt; i++)
			if (TransactionIdDidCommit(snap->xip[i]))
			{
				elog(DEBUG1, "pg_flowview: backfill snapshot retaken: transaction %u committed but still running",
					 snap->xip[i]);
				retake = true;
			}
		if (!retake)
			break;
		UnregisterSnapshot(snap);
		pg_usleep(1000);
	}

	if (!fv_lock_source(v->source_oid) ||
		!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(v->view_oid)))
	{
		/* dropped since the catalog was read: nothing to populate */
		UnregisterSnapshot(snap);
		SPI_finish();
		CommitTransactionCommand();
		return false;
	}
	PushActiveSnapshot(snap);
	/* the catalog row's version S sees (compared when marking the view live) */
	rowversion = SPI_prepare(psprintf("SELECT xmin FROM flowview.view_catalog WHERE id = %d", v->id), 0, NULL);
	if (rowversion != NULL &&
		SPI_execute_snapshot(rowversion, NULL, NULL, snap, InvalidSnapshot, true, false, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
		seen_xmin = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	/* as the view's owner (runas.c) */
	fv_runas_begin(&ra, fv_view_runas_role(v->id), FV_RUNAS_STORAGE, v->time_zone);
	/* DELETE, not TRUNCATE: readers of the view are never blocked */
	foreach(lc, v->storage_tables)
		fv_spi_run(psprintf("DELETE FROM %s", (char *) lfirst(lc)));
	foreach(lc, v->backfill_sql)
	{
		SPIPlanPtr	plan = SPI_prepare(fv_with_source(lfirst(lc), v->source_oid), 0, NULL);

		if (plan == NULL || SPI_execute_snapshot(plan, NULL, NULL, snap, InvalidSnapshot,
												 false, false, 0) < 0)
			elog(ERROR, "pg_flowview: backfill failed: %s", (char *) lfirst(lc));
	}
	fv_runas_end(&ra);
	initStringInfo(&xip);
	appendStringInfoString(&xip, "{");
	for (i = 0; i < snap->xcnt; i++)
		appendStringInfo(&xip, "%s%u", i > 0 ? "," : "", snap->xip[i]);
	appendStringInfoString(&xip, "}");
	fv_spi_run(psprintf("UPDATE flowview.view_catalog SET state = 'live', error = NULL,"
					 " snapshot_xmin = %u, snapshot_xmax = %u, snapshot_xip = '%s'"
					 " WHERE id = %d AND xmin = '%s'", snap->xmin, snap->xmax, xip.data, v->id,
					 seen_xmin ? seen_xmin : "0"));
	if (SPI_processed != 1)
	{
		/* asked again (or dropped) meanwhile: undo, and retry at the next boundary */
		PopActiveSnapshot();
		UnregisterSnapshot(snap);
		SPI_finish();
		AbortCurrentTransaction();
		ereport(LOG, (errmsg("pg_flowview: live view %d changed while being populated: populating it again", v->id)));
		return false;
	}
	/* a watermark's late rows are in it now: the log lists rows it lacks */
	if (v->late_sql != NULL)
		fv_spi_run(psprintf("DELETE FROM flowview.late_row_log WHERE view_id = %d", v->id));
	/*
	 * Rollups over it were made from its former rows: populated again in
	 * this transaction, from its new ones, so that readers never see the
	 * levels disagree and no crash leaves one live over rows it was not
	 * made from.
	 */
	populate_rollups(v, snap, xip.data);
	/* from now on this batch loop skips what S saw */
	v->has_snapshot = true;
	v->snap_xmin = snap->xmin;
	v->snap_xmax = snap->xmax;
	v->snap_xcnt = snap->xcnt;
	v->snap_xip = MemoryContextAlloc(fv_views_cxt, sizeof(TransactionId) * Max(snap->xcnt, 1));
	memcpy(v->snap_xip, snap->xip, sizeof(TransactionId) * snap->xcnt);
	PopActiveSnapshot();
	UnregisterSnapshot(snap);
	SPI_finish();
	CommitTransactionCommand();
	ereport(LOG, (errmsg("pg_flowview: live view %d populated", v->id)));
	return true;
}

/*
 * fv_backfill_or_error
 *		backfill_view, with an error confined to the view: its transaction is
 *		rolled back and the view goes to state 'error' with the message (say,
 *		its owner lost SELECT on the source), while the worker goes on with
 *		the other views, as fv_apply_batch does for a failing apply.  Returns the
 *		view's new state: "live", "error", or "dropped" (dropped or changed
 *		meanwhile: until the catalog is read again).
 */
char *
fv_backfill_or_error(FvLiveView *v)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool populated = false;
	ErrorData  *edata = NULL;

	PG_TRY();
	{
		populated = backfill_view(v);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	if (edata == NULL)
		return populated ? (char *) "live" : (char *) "dropped";

	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	{
		Oid			types[2] = {TEXTOID, INT4OID};
		Datum		vals[2] = {CStringGetTextDatum(edata->message), Int32GetDatum(v->id)};

		SPI_execute_with_args("UPDATE flowview.view_catalog SET state = 'error', error = $1"
							  " WHERE id = $2 AND state = 'backfilling'",
							  2, types, vals, NULL, false, 0);
	}
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
	ereport(WARNING,
			(errmsg("pg_flowview: live view %d could not be populated: %s", v->id, edata->message),
			 errhint("The view is now in state error; fix the cause, then SELECT flowview.refresh_view(...) on it.")));
	FreeErrorData(edata);
	return (char *) "error";
}

/*
 * When more WAL than pg_flowview.recompute_backlog waits to be decoded, and
 * more than the sources' tables hold, recompute every live view from a new
 * snapshot (the backfill, consistent at this batch boundary) and let the
 * decoder skip the transactions the snapshots saw.  Views jump from their
 * old state to the new one in one commit each.
 */
/* how many times the source tables' size the backlog must be to recompute */
#define FV_RECOMPUTE_FACTOR 4

void
fv_maybe_recompute(List *sources)
{
	uint64		backlog = GetFlushRecPtr(NULL) - fv_decoding->reader->EndRecPtr;
	int64		size = 0;
	ListCell   *lc;
	int			n = 0;

	if (backlog <= (uint64) fv_recompute_backlog_mb * 1024 * 1024)
		return;
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	foreach(lc, sources)
	{
		bool		isnull;

		Oid			relid = ((FvSource *) lfirst(lc))->relid;

		/* pg_partition_tree: the partitioned table and its partitions; nothing for a plain table */
		if (SPI_execute(psprintf("SELECT (pg_relation_size(%u) + coalesce((SELECT sum(pg_relation_size(relid))"
								 " FROM pg_partition_tree(%u) WHERE relid <> %u), 0))::int8", relid, relid, relid),
						true, 1) == SPI_OK_SELECT && SPI_processed == 1)
			size += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	/*
	 * Measured (test/bench/views, a min/max view among three): decoding and
	 * applying runs at about 40 MB of WAL per second, recomputing at about
	 * 25 MB of source table per second; recompute only with a clear margin.
	 */
	if (backlog <= (uint64) size * FV_RECOMPUTE_FACTOR)
		return;

	foreach(lc, sources)
	{
		ListCell   *vc;

		foreach(vc, ((FvSource *) lfirst(lc))->views)
		{
			FvLiveView *v = lfirst(vc);

			if (strcmp(v->state, "live") == 0)
			{
				v->state = "backfilling";
				n++;
			}
		}
	}
	if (n > 0)
		ereport(LOG,
				(errmsg("pg_flowview: %llu MB of WAL to catch up on, more than %d times the %lld MB of the source tables: recomputing %d live views instead",
						(unsigned long long) (backlog / (1024 * 1024)), FV_RECOMPUTE_FACTOR,
						(long long) (size / (1024 * 1024)), n)));
}
