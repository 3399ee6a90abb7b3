/*-------------------------------------------------------------------------
 *
 * apply_worker.c
 *	  The launcher and the per-database apply worker.
 *
 * The launcher runs once at server start: it starts an apply worker for every
 * database that accepts connections.  create_view also starts its database's
 * worker.  A worker whose database has no live views (or no pg_flowview)
 * drops its slot and origin, if any, and exits.
 *
 * The apply worker of database D owns the logical slot and the replication
 * origin "pg_flowview_<D's oid>".  It loops:
 *
 *	1. read the live views from flowview.view_catalog;
 *	2. backfill views in state 'backfilling' (see backfill_view: consistent
 *	   with the stream, at this batch boundary);
 *	3. decode a batch: whole transactions, up to the WAL insert position read
 *	   (and flushed) at the start, at most pg_flowview.batch_max_changes changes
 *	   (batch.c collects them);
 *	4. apply the batch in ONE transaction whose commit record also carries
 *	   the origin's progress (the batch's end LSN);
 *	5. confirm that position to the slot and publish it in shared memory.
 *
 * Exactly once: a transaction's changes reach the views only in the apply
 * transaction that also advances the origin past its commit record.  After
 * a crash the worker decodes from the origin's position; transactions whose
 * commit record lies before it are skipped by the decoder (start_lsn), later
 * ones were not applied.  The slot is never confirmed beyond the origin.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/tableam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "access/xlogrecovery.h"
#include "access/xlogutils.h"
#include "catalog/namespace.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/decode.h"
#include "access/heapam_xlog.h"
#include "access/rmgr.h"
#include "replication/logical.h"
#include "replication/origin.h"
#include "replication/slot.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "storage/sinval.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "pg_flowview.h"
#include "views/analyze.h"
#include "views/restore.h"
#include "views/runas.h"
#include "views/versions.h"
#include "worker/worker.h"

int			fv_batch_max_changes = 100000;
int			fv_naptime_ms = 20;
int			fv_naptime_under_load_ms = 50;
int			fv_recompute_backlog_mb = 64;

FvShared   *fv_shared = NULL;
static FvWorkerState *my_state = NULL;

/* ----------------------------------------------------------------
 * Shared memory
 * ----------------------------------------------------------------
 */

void
fv_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(FvShared)));
	RequestNamedLWLockTranche("pg_flowview", 1);
}

void
fv_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	fv_shared = ShmemInitStruct("pg_flowview", sizeof(FvShared), &found);
	if (!found)
	{
		memset(fv_shared, 0, sizeof(FvShared));
		fv_shared->lock = &(GetNamedLWLockTranche("pg_flowview"))->lock;
	}
	LWLockRelease(AddinShmemInitLock);
}

static FvWorkerState *
find_worker(Oid dboid)
{
	int			i;

	for (i = 0; i < FV_MAX_WORKERS; i++)
		if (fv_shared->workers[i].dboid == dboid)
			return &fv_shared->workers[i];
	return NULL;
}

/* applied position of dboid's worker; *running says whether there is one */
XLogRecPtr
fv_worker_applied_lsn(Oid dboid, bool *running)
{
	FvWorkerState *w;
	XLogRecPtr	lsn = InvalidXLogRecPtr;

	if (fv_shared == NULL)
	{
		*running = false;
		return lsn;
	}
	LWLockAcquire(fv_shared->lock, LW_SHARED);
	w = find_worker(dboid);
	*running = (w != NULL && w->pid != 0);
	if (*running)
		lsn = w->applied_lsn;
	LWLockRelease(fv_shared->lock);
	return lsn;
}

static void
register_worker(const char *function, const char *name, Oid dboid, bool dynamic)
{
	BackgroundWorker bgw;
	BackgroundWorkerHandle *handle;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "pg_flowview");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(bgw.bgw_name, BGW_MAXLEN, "%s", name);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "%s", dynamic && OidIsValid(dboid) ?
			 "pg_flowview apply" : "pg_flowview launcher");
	bgw.bgw_main_arg = ObjectIdGetDatum(dboid);
	if (dynamic)
	{
		/* the launcher restarts a worker that died while wanted */
		bgw.bgw_restart_time = BGW_NEVER_RESTART;
		if (!RegisterDynamicBackgroundWorker(&bgw, &handle))
			ereport(WARNING,
					(errmsg("pg_flowview: could not start the apply worker for database %u", dboid),
					 errhint("Raise max_worker_processes.")));
	}
	else
	{
		bgw.bgw_restart_time = 5;
		RegisterBackgroundWorker(&bgw);
	}
}

void
fv_register_launcher(void)
{
	register_worker("fv_launcher_main", "pg_flowview launcher", InvalidOid, false);
}

/* Start dboid's apply worker unless it runs; if it runs, wake it up. */
void
fv_ensure_worker(Oid dboid)
{
	bool		running = false;
	FvWorkerState *w;

	if (fv_shared == NULL)
		return;
	LWLockAcquire(fv_shared->lock, LW_SHARED);
	w = find_worker(dboid);
	if (w != NULL && w->pid != 0)
	{
		running = true;
		SetLatch(w->latch);
	}
	LWLockRelease(fv_shared->lock);
	if (!running)
		register_worker("fv_apply_worker_main",
						psprintf("pg_flowview apply worker for database %u", dboid),
						dboid, true);
}

/* ----------------------------------------------------------------
 * Launcher
 * ----------------------------------------------------------------
 */

/*
 * Databases that accept connections, as a list allocated in the caller's
 * memory context (as PostgreSQL's launcher does: the transaction's context
 * is gone once this returns).
 */
static List *
database_list(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	List	   *dbs = NIL;
	MemoryContext caller = CurrentMemoryContext;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (db->datallowconn && !db->datistemplate)
		{
			MemoryContext old = MemoryContextSwitchTo(caller);

			dbs = lappend_oid(dbs, db->oid);
			MemoryContextSwitchTo(old);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(caller);
	return dbs;
}

/*
 * fv_launcher_main
 *		At start, start a worker for every database (those without live
 *		views exit at once); then, every second, restart the workers of
 *		databases with live views that are not running (crashed workers),
 *		and forget databases that were dropped.
 */
void
fv_launcher_main(Datum arg)
{
	List	   *dbs;
	ListCell   *lc;
	MemoryContext cxt;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	cxt = AllocSetContextCreate(TopMemoryContext, "pg_flowview launcher", ALLOCSET_DEFAULT_SIZES);

	MemoryContextSwitchTo(cxt);
	foreach(lc, database_list())
		fv_ensure_worker(lfirst_oid(lc));

	for (;;)
	{
		int			i;
		List	   *restart = NIL;

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();

		MemoryContextReset(cxt);
		dbs = database_list();
		LWLockAcquire(fv_shared->lock, LW_EXCLUSIVE);
		for (i = 0; i < FV_MAX_WORKERS; i++)
		{
			FvWorkerState *w = &fv_shared->workers[i];

			if (w->dboid == InvalidOid)
				continue;
			if (!list_member_oid(dbs, w->dboid))
				w->dboid = InvalidOid;	/* database dropped */
			else if (w->pid != 0 && BackendPidGetProc(w->pid) == NULL)
				w->pid = 0;		/* died without cleaning up */
			if (w->dboid != InvalidOid && w->wanted && w->pid == 0)
				restart = lappend_oid(restart, w->dboid);
		}
		for (i = 0; i < FV_MAX_VIEW_STATS; i++)
			if (fv_shared->views[i].dboid != InvalidOid &&
				!list_member_oid(dbs, fv_shared->views[i].dboid))
				fv_shared->views[i].dboid = InvalidOid;	/* database dropped */
		LWLockRelease(fv_shared->lock);
		foreach(lc, restart)
			fv_ensure_worker(lfirst_oid(lc));
	}
}

/* ----------------------------------------------------------------
 * Apply worker: catalog
 * ----------------------------------------------------------------
 */

static MemoryContext views_cxt;

/* views being restored, left alone until their restore ends (views/restore.c) */
static bool restores_pending = false;
static bool lock_view_catalog(void);

static List *
text_array_list(Datum d)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;
	List	   *l = NIL;

	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (i = 0; i < n; i++)
		l = lappend(l, TextDatumGetCString(elems[i]));
	return l;
}

/*
 * Read the live views and their sources (in views_cxt).  Returns NIL when
 * the extension is not installed.  Runs in a transaction with SPI.
 */
static List *
load_sources(bool *extension)
{
	List	   *sources = NIL;
	MemoryContext old;
	uint64		i;

	bool		restore_aware;

	*extension = OidIsValid(get_extension_oid("pg_flowview", true));
	restores_pending = false;
	if (!*extension)
		return NIL;
	MemoryContextReset(views_cxt);
	/* restored views: repopulated once their restore is over (restore.c) */
	restore_aware = fv_sql_version() >= 3 && lock_view_catalog();
	if (restore_aware)
		restores_pending = fv_restores_pending();
	if (SPI_execute(psprintf("SELECT id, view_oid, source_oid, state, time_zone, apply_sql, storage_tables,"
							 " backfill_sql, used_columns, snapshot_xmin, snapshot_xmax, snapshot_xip,"
							 " changed_groups_sql,"
							 " EXISTS (SELECT FROM flowview.alert_catalog a WHERE a.view_oid = c.view_oid)"
							 " FROM flowview.view_catalog c WHERE state <> 'error'%s ORDER BY id",
							 restore_aware ? " AND NOT EXISTS (SELECT FROM flowview.restores r WHERE r.view_id = c.id)" : ""),
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read flowview.view_catalog");

	old = MemoryContextSwitchTo(views_cxt);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		FvLiveView *v = palloc0(sizeof(FvLiveView));
		Oid			srcoid = DatumGetObjectId(SPI_getbinval(t, d, 3, &isnull));
		FvSource   *src = NULL;
		ListCell   *lc;
		Datum		xmin;

		v->id = DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
		v->source_oid = srcoid;
		v->view_oid = DatumGetObjectId(SPI_getbinval(t, d, 2, &isnull));
		v->state = SPI_getvalue(t, d, 4);
		v->time_zone = SPI_getvalue(t, d, 5);
		v->apply_sql = text_array_list(SPI_getbinval(t, d, 6, &isnull));
		v->storage_tables = text_array_list(SPI_getbinval(t, d, 7, &isnull));
		v->backfill_sql = text_array_list(SPI_getbinval(t, d, 8, &isnull));
		v->changed_groups_sql = SPI_getvalue(t, d, 13);
		v->has_alerts = DatumGetBool(SPI_getbinval(t, d, 14, &isnull));
		xmin = SPI_getbinval(t, d, 10, &isnull);
		if (!isnull)
		{
			Datum	   *elems;
			bool	   *nulls;
			int			n,
						k;

			v->has_snapshot = true;
			v->snap_xmin = (TransactionId) DatumGetInt64(xmin);
			v->snap_xmax = (TransactionId) DatumGetInt64(SPI_getbinval(t, d, 11, &isnull));
			deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(t, d, 12, &isnull)), INT8OID, 8,
							  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &n);
			v->snap_xcnt = n;
			v->snap_xip = palloc(sizeof(TransactionId) * Max(n, 1));
			for (k = 0; k < n; k++)
				v->snap_xip[k] = (TransactionId) DatumGetInt64(elems[k]);
		}

		foreach(lc, sources)
			if (((FvSource *) lfirst(lc))->relid == srcoid)
				src = lfirst(lc);
		if (src == NULL)
		{
			src = palloc0(sizeof(FvSource));
			src->relid = srcoid;
			sources = lappend(sources, src);
		}
		src->views = lappend(src->views, v);
		/* used columns: the union over the source's views */
		foreach(lc, text_array_list(SPI_getbinval(t, d, 9, &isnull)))
		{
			int			k;
			bool		have = false;

			for (k = 0; k < src->ncols; k++)
				have |= strcmp(src->colnames[k], lfirst(lc)) == 0;
			if (!have)
			{
				src->colnames = src->ncols == 0 ? palloc(sizeof(char *) * 64) :
					repalloc(src->colnames, sizeof(char *) * (src->ncols + 64));
				src->colnames[src->ncols++] = lfirst(lc);
			}
		}
	}
	MemoryContextSwitchTo(old);
	return sources;
}

/* The source's delta row layout: used columns as now typed, __sign, __xid. */
static void
prepare_source(FvSource *src)
{
	int			i;
	MemoryContext old = MemoryContextSwitchTo(views_cxt);

	src->desc = CreateTemplateTupleDesc(src->ncols + 2);
	for (i = 0; i < src->ncols; i++)
	{
		AttrNumber	attnum = get_attnum(src->relid, src->colnames[i]);
		Oid			type;
		int32		typmod;
		Oid			coll;

		if (attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("pg_flowview: column \"%s\" of source table \"%s\" is gone",
							src->colnames[i], get_rel_name(src->relid)),
					 errhint("Drop the live views that use it (flowview.drop_view).")));
		get_atttypetypmodcoll(src->relid, attnum, &type, &typmod, &coll);
		TupleDescInitEntry(src->desc, i + 1, src->colnames[i], type, typmod, 0);
		/*
		 * The column's own collation, not its type's default: the view's
		 * expressions over the delta (min/max, comparisons in WHERE, upper()
		 * in a group key...) must compare as they do over the source.
		 */
		TupleDescInitEntryCollation(src->desc, i + 1, coll);
	}
	TupleDescInitEntry(src->desc, src->ncols + 1, "__sign", INT4OID, -1, 0);
	TupleDescInitEntry(src->desc, src->ncols + 2, "__xid", INT8OID, -1, 0);
	MemoryContextSwitchTo(old);
}

/* ----------------------------------------------------------------
 * Apply worker: slot and origin
 * ----------------------------------------------------------------
 */

static char slot_name[NAMEDATALEN];
static void set_problem(const char *problem);
static bool lock_source(Oid relid);
static bool lock_view_catalog(void);
static void record_position_if_far(XLogRecPtr end);
static TimestampTz last_catalog_lsn_update = 0;	/* flowview.views.applied_lsn: at most 1/s */
static LogicalDecodingContext *decoding = NULL;
static FvBatch batch;

/*
 * The end of the WAL inserted so far, as a position XLogFlush accepts.
 * GetXLogInsertRecPtr() points past the page header when the insert
 * position is at a page boundary; flushing up to there is "past end of
 * generated WAL", an ERROR that made the worker exit and restart.
 */
static XLogRecPtr
inserted_end(void)
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
		XLogFlush(Min(need, inserted_end()));
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

		set_problem(psprintf("waiting for %s to end: creating replication slot %s waits for every transaction running at its creation, so the live views stay backfilling. %s",
							 which, slot_name, fix));
		ereport(WARNING,
				(errmsg("pg_flowview: creating replication slot \"%s\" waits for %s to end", slot_name, which),
				 errdetail("A new slot waits for every transaction running at its creation; until then the live views of this database stay backfilling."),
				 errhint("%s", fix)));
	}
	CommitTransactionCommand();
}

/*
 * Set by recompute_live_views_without_slot: live views were marked
 * 'backfilling' in the catalog, the worker's list of views is out of date.
 */
static bool views_marked_for_recompute = false;

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
	if (!OidIsValid(get_extension_oid("pg_flowview", true)) || !lock_view_catalog())
	{
		CommitTransactionCommand();
		MemoryContextSwitchTo(caller);
		pfree(views.data);
		return;
	}
	origin = replorigin_by_name(slot_name, true);
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
	views_marked_for_recompute = true;
	ereport(LOG,
			(errmsg("pg_flowview: replication slot \"%s\" is missing while %llu live views have a recorded position: recomputing them from a snapshot: %s",
					slot_name, (unsigned long long) n, views.data),
			 errdetail("The replication origin's position is %X/%X. A new slot starts at the current WAL position and cannot give the changes after the views' position (a promoted standby, a restored cluster or pg_upgrade has no slot); the views are in state backfilling until they are repopulated.",
					   LSN_FORMAT_ARGS(progress))));
	pfree(views.data);
}

static void
create_slot_if_missing(void)
{
	LogicalDecodingContext *ctx;
	XLogRecPtr	start;

	if (SearchNamedReplicationSlot(slot_name, true) != NULL)
		return;
	recompute_live_views_without_slot();
	note_prepared_transactions();
	StartTransactionCommand();
	ReplicationSlotCreate(slot_name, true, RS_EPHEMERAL, false);
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
	set_problem(NULL);
	ereport(LOG, (errmsg("pg_flowview: created replication slot \"%s\" at %X/%X",
						 slot_name, LSN_FORMAT_ARGS(start))));
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
					 " WHERE state <> 'error'", slot_name));
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	ereport(WARNING,
			(errmsg("pg_flowview: replication slot \"%s\" was invalidated; its live views are now in state error", slot_name),
			 errhint("Run flowview.refresh_view() on each view; consider raising max_slot_wal_keep_size.")));
}

/*
 * Acquire slot and origin, create the decoding context, position it.  False
 * if the slot was invalidated (see slot_lost()).
 */
static bool
start_decoding(void)
{
	RepOriginId origin;
	XLogRecPtr	start;
	MemoryContext old;

	create_slot_if_missing();

	StartTransactionCommand();
	origin = replorigin_by_name(slot_name, true);
	if (origin == InvalidRepOriginId)
		origin = replorigin_create(slot_name);
	CommitTransactionCommand();

	StartTransactionCommand();
	replorigin_session_setup(origin);
	replorigin_session_origin = origin;
	start = replorigin_session_get_progress(false);

	old = MemoryContextSwitchTo(TopMemoryContext);
	ReplicationSlotAcquire(slot_name, true);
	if (XLogRecPtrIsInvalid(MyReplicationSlot->data.restart_lsn))
	{
		MemoryContextSwitchTo(old);
		CommitTransactionCommand();
		slot_lost();
		return false;
	}
	/* created inside a transaction: our apply transactions keep their xmin */
	decoding = CreateDecodingContext(start, NIL, false,
									 XL_ROUTINE(.page_read = read_wal_page,
												.segment_open = wal_segment_open,
												.segment_close = wal_segment_close),
									 NULL, NULL, NULL);
	fv_decoding_collect_into(decoding, &batch);
	XLogBeginRead(decoding->reader, MyReplicationSlot->data.restart_lsn);
	MemoryContextSwitchTo(old);
	CommitTransactionCommand();

	LWLockAcquire(fv_shared->lock, LW_EXCLUSIVE);
	my_state->applied_lsn = Max(start, MyReplicationSlot->data.confirmed_flush);
	LWLockRelease(fv_shared->lock);
	ereport(LOG, (errmsg("pg_flowview: applying from %X/%X", LSN_FORMAT_ARGS(my_state->applied_lsn))));
	return true;
}

/* No live views left: drop slot and origin, so no WAL is retained. */
static void
stop_and_clean_up(void)
{
	RepOriginId origin;

	if (decoding != NULL)
	{
		FreeDecodingContext(decoding);
		decoding = NULL;
	}
	if (MyReplicationSlot != NULL)
		ReplicationSlotRelease();
	if (SearchNamedReplicationSlot(slot_name, true) != NULL)
		ReplicationSlotDrop(slot_name, true);
	if (replorigin_session_origin != InvalidRepOriginId)
	{
		replorigin_session_reset();
		replorigin_session_origin = InvalidRepOriginId;
	}
	StartTransactionCommand();
	origin = replorigin_by_name(slot_name, true);
	if (origin != InvalidRepOriginId)
		replorigin_drop_by_name(slot_name, true, false);
	CommitTransactionCommand();
	ereport(LOG, (errmsg("pg_flowview: no live views in this database; apply worker exits")));
}

/* ----------------------------------------------------------------
 * Apply worker: backfill and apply
 * ----------------------------------------------------------------
 */

static void
set_time_zone(const char *tz)
{
	(void) set_config_option("TimeZone", tz, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}

/*
 * Lock flowview.view_catalog first in each transaction of the worker that
 * writes the catalog or the storage tables, and tell whether it still
 * exists.  DROP EXTENSION pg_flowview CASCADE locks the extension's tables
 * (view_catalog among the first) before the storage tables that hang off
 * them; a worker that took a storage table first and the catalog last
 * deadlocked with it (40P01, and the user's DROP failed).  Taken in the
 * same order, the worker either waits holding nothing the DROP needs, or
 * holds the catalog and the DROP waits for its commit.  False (no lock
 * kept): the extension is gone; the caller ends its transaction without
 * writing, and the next catalog read finds no views.
 */
static bool
lock_view_catalog(void)
{
	Oid			nsp = get_namespace_oid("flowview", true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid("view_catalog", nsp) : InvalidOid;

	if (!OidIsValid(relid))
		return false;
	LockRelationOid(relid, RowExclusiveLock);
	if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		return true;
	UnlockRelationOid(relid, RowExclusiveLock);
	return false;
}

/* lock_view_catalog for views/versions.c, whose swap writes like the worker */
bool
fv_worker_lock_view_catalog(void)
{
	return lock_view_catalog();
}

/*
 * Lock a source table against DROP for the rest of the transaction and tell
 * whether it still exists.  The worker reads its list of views and sources
 * at most every 250 ms: a view and its source may be dropped in between
 * (drop_view, then DROP TABLE), and nothing may then be built from the
 * source's name.  False (no lock kept): the source is gone, and so are its
 * views; the next catalog read forgets them.
 */
static bool
lock_source(Oid relid)
{
	LockRelationOid(relid, AccessShareLock);
	if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		return true;
	UnlockRelationOid(relid, AccessShareLock);
	return false;
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
	if (!lock_view_catalog())
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

	if (!lock_source(v->source_oid) ||
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
	/* from now on this batch loop skips what S saw */
	v->has_snapshot = true;
	v->snap_xmin = snap->xmin;
	v->snap_xmax = snap->xmax;
	v->snap_xcnt = snap->xcnt;
	v->snap_xip = MemoryContextAlloc(views_cxt, sizeof(TransactionId) * Max(snap->xcnt, 1));
	memcpy(v->snap_xip, snap->xip, sizeof(TransactionId) * snap->xcnt);
	PopActiveSnapshot();
	UnregisterSnapshot(snap);
	SPI_finish();
	CommitTransactionCommand();
	ereport(LOG, (errmsg("pg_flowview: live view %d populated", v->id)));
	return true;
}

/*
 * backfill_or_error
 *		backfill_view, with an error confined to the view: its transaction is
 *		rolled back and the view goes to state 'error' with the message (say,
 *		its owner lost SELECT on the source), while the worker goes on with
 *		the other views, as apply_batch does for a failing apply.  Returns the
 *		view's new state: "live", "error", or "dropped" (dropped or changed
 *		meanwhile: until the catalog is read again).
 */
static char *
backfill_or_error(FvLiveView *v)
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

/* Does the view's backfill snapshot make it skip any transaction of the batch? */
static bool
view_skips_some(FvLiveView *v)
{
	ListCell   *lc;

	if (!v->has_snapshot)
		return false;
	foreach(lc, batch.xids)
		if (fv_view_saw_xid(v, (TransactionId) lfirst_oid(lc)))
			return true;
	return false;
}

/*
 * The batch rows of src a view must apply: those of transactions its
 * backfill snapshot did not see, and of those only the rows after the last
 * TRUNCATE marker it did not see (*truncated says whether there was one:
 * the view's storage must then be emptied first).  Without markers and
 * skipped transactions that is src->rows itself; otherwise a filtered copy.
 * *action is set to FV_SIGN_REPOPULATE or FV_SIGN_NO_OLD when such a marker
 * the view did not see is among them (the latter wins): the rows must then
 * not be applied at all.
 */
static Tuplestorestate *
view_rows(FvSource *src, FvLiveView *v, bool *truncated, int *action)
{
	Tuplestorestate *out;
	TupleTableSlot *slot;

	*truncated = false;
	*action = 1;
	if (!src->truncated && !src->markers && !view_skips_some(v))
		return src->rows;

	out = tuplestore_begin_heap(false, false, work_mem);
	slot = MakeSingleTupleTableSlot(src->desc, &TTSOpsMinimalTuple);
	tuplestore_rescan(src->rows);
	while (tuplestore_gettupleslot(src->rows, true, false, slot))
	{
		bool		isnull;
		TransactionId xid = (TransactionId) DatumGetInt64(slot_getattr(slot, src->ncols + 2, &isnull));
		int			sign;

		if (fv_view_saw_xid(v, xid))
			continue;
		sign = DatumGetInt32(slot_getattr(slot, src->ncols + 1, &isnull));
		if (sign == FV_SIGN_TRUNCATE)
		{
			/* TRUNCATE: everything before it is moot */
			tuplestore_clear(out);
			*truncated = true;
			continue;
		}
		if (sign == FV_SIGN_REPOPULATE || sign == FV_SIGN_NO_OLD)
		{
			*action = Max(*action, sign);
			continue;
		}
		tuplestore_puttupleslot(out, slot);
	}
	ExecDropSingleTupleTableSlot(slot);
	return out;
}

/*
 * Kept plans of each view's apply_sql, for the small batches of a worker
 * that keeps up (parsing and planning would otherwise be most of their
 * cost).  A plan is only valid for the delta's columns it was made with
 * (the union of the used columns of the source's views), so that is part of
 * the key; so is the source's current name, which statements that read the
 * source (min/max re-reads) name: a plan made before a rename would be
 * re-analysed with the old name.  Large batches are planned afresh, with
 * their real size.
 */
#define FV_PLAN_MAX_ROWS 5000

typedef struct FvPlans
{
	int			id;
	char	   *columns;		/* plan_key(): the delta's columns, the source's name */
	List	   *plans;			/* SPIPlanPtr, one per apply_sql statement */
	bool		seen;
} FvPlans;

static List *plan_cache = NIL;	/* FvPlans *, in TopMemoryContext */

static char *
source_columns(FvSource *src)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < src->ncols; i++)
		appendStringInfo(&buf, "%s,", src->colnames[i]);
	return buf.data;
}

static char *
plan_key(FvSource *src)
{
	char	   *name = get_rel_name(src->relid);
	char	   *nsp = get_namespace_name(get_rel_namespace(src->relid));

	if (name == NULL || nsp == NULL)	/* dropped meanwhile */
		return psprintf("%s|%u", source_columns(src), src->relid);
	return psprintf("%s|%s", source_columns(src), quote_qualified_identifier(nsp, name));
}

/* v's kept plans for deltas with plan key "columns" (plan_key(v's source)) */
static FvPlans *
view_plans(const char *columns, FvLiveView *v)
{
	ListCell   *lc;
	FvPlans    *p;
	MemoryContext old;

	foreach(lc, plan_cache)
	{
		p = lfirst(lc);
		if (p->id == v->id && strcmp(p->columns, columns) == 0)
			return p;
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	p = palloc0(sizeof(FvPlans));
	p->id = v->id;
	p->columns = pstrdup(columns);
	MemoryContextSwitchTo(old);
	foreach(lc, v->apply_sql)
	{
		SPIPlanPtr	plan = SPI_prepare(fv_with_source(lfirst(lc), v->source_oid), 0, NULL);

		if (plan == NULL)
			elog(ERROR, "pg_flowview: could not prepare: %s", (char *) lfirst(lc));
		SPI_keepplan(plan);
		old = MemoryContextSwitchTo(TopMemoryContext);
		p->plans = lappend(p->plans, plan);
		MemoryContextSwitchTo(old);
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	plan_cache = lappend(plan_cache, p);
	MemoryContextSwitchTo(old);
	return p;
}

/* After a catalog reload: free the plans of views that are gone or changed. */
static void
forget_plans(List *sources)
{
	ListCell   *lc;
	List	   *keep = NIL;
	MemoryContext old;

	foreach(lc, plan_cache)
		((FvPlans *) lfirst(lc))->seen = false;
	foreach(lc, sources)
	{
		FvSource   *src = lfirst(lc);
		char	   *columns = plan_key(src);
		ListCell   *vc,
				   *pc;

		foreach(vc, src->views)
			foreach(pc, plan_cache)
			{
				FvPlans    *p = lfirst(pc);

				if (p->id == ((FvLiveView *) lfirst(vc))->id && strcmp(p->columns, columns) == 0)
					p->seen = true;
			}
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	foreach(lc, plan_cache)
	{
		FvPlans    *p = lfirst(lc);
		ListCell   *pc;

		if (p->seen)
		{
			keep = lappend(keep, p);
			continue;
		}
		foreach(pc, p->plans)
			SPI_freeplan(lfirst(pc));
		list_free(p->plans);
		pfree(p->columns);
		pfree(p);
	}
	list_free(plan_cache);
	plan_cache = keep;
	MemoryContextSwitchTo(old);
}

/* Make rows the relation FV_DELTA_NAME of this SPI connection's queries. */
static void
register_delta(FvSource *src, Tuplestorestate *rows)
{
	EphemeralNamedRelation enr = palloc0(sizeof(EphemeralNamedRelationData));

	enr->md.name = FV_DELTA_NAME;
	enr->md.reliddesc = InvalidOid;
	enr->md.tupdesc = src->desc;
	enr->md.enrtype = ENR_NAMED_TUPLESTORE;
	enr->md.enrtuples = tuplestore_tuple_count(rows);
	enr->reldata = rows;
	if (SPI_register_relation(enr) != SPI_OK_REL_REGISTER)
		elog(ERROR, "pg_flowview: could not register the batch rows");
}

/*
 * After a batch committed (and so became visible): per view, its counters,
 * the commit-to-visible latency of each source transaction it applied, and
 * trace ids; then the batch's log line.
 */
static void
publish_batch_stats(List *sources, XLogRecPtr end)
{
	TimestampTz now = GetCurrentTimestamp();
	ListCell   *lc;
	StringInfoData traces;

	LWLockAcquire(fv_shared->lock, LW_EXCLUSIVE);
	foreach(lc, sources)
	{
		FvSource   *src = lfirst(lc);
		int64		decoded = tuplestore_tuple_count(src->rows);
		ListCell   *vc;

		if (decoded == 0 && !src->truncated)
			continue;
		foreach(vc, src->views)
		{
			FvLiveView *v = lfirst(vc);
			FvViewStats *st;
			int			i;

			if (!v->attempted)
				continue;
			v->attempted = false;
			st = fv_view_stats(MyDatabaseId, v->id, true);
			if (st == NULL)
				continue;		/* more views than FV_MAX_VIEW_STATS */
			st->rows_decoded += decoded;
			if (!v->applied)
			{
				st->errors++;
				continue;
			}
			st->rows_applied += v->batch_rows;
			st->groups_touched += v->batch_groups;
			st->batches++;
			st->apply_us += v->batch_us;
			st->minmax_rereads += v->batch_rereads;
			for (i = 0; i < src->ncommits; i++)
			{
				fv_stats_add_latency(st, now, (double) (now - src->commit_times[i]) / 1000.0);
				st->applied_commit_time = Max(st->applied_commit_time, src->commit_times[i]);
			}
			if (src->last_trace)
			{
				strlcpy(st->last_trace, src->last_trace, sizeof(st->last_trace));
				st->last_trace_at = now;
			}
		}
	}
	LWLockRelease(fv_shared->lock);

	initStringInfo(&traces);
	foreach(lc, batch.traces)
		appendStringInfo(&traces, "%s%s", foreach_current_index(lc) ? "," : "", (char *) lfirst(lc));
	ereport(fv_batch_log_level,
			(errmsg("pg_flowview: applied a batch of %lld transactions, %lld row changes, up to %X/%X%s%s",
					(long long) batch.nxacts, (long long) batch.nchanges, LSN_FORMAT_ARGS(end),
					traces.len ? "; traces: " : "", traces.data)));
}

/*
 * A snapshot that sees every transaction of the batch.  A commit record can
 * be decoded a moment before its transaction becomes visible (between the
 * WAL flush and ProcArrayEndTransaction; with synchronous replication, for
 * as long as the standby takes): views with minmax 'rescan' read groups again
 * from the source, and those reads must see every transaction applied so
 * far.  Statements take newer snapshots still (read committed).
 */
static Snapshot
batch_snapshot(void)
{
	for (;;)
	{
		Snapshot	snap = GetTransactionSnapshot();
		ListCell   *lc;
		bool		all_visible = true;

		foreach(lc, batch.xids)
			if (XidInMVCCSnapshot((TransactionId) lfirst_oid(lc), snap))
			{
				all_visible = false;
				break;
			}
		if (all_visible)
			return snap;
		CHECK_FOR_INTERRUPTS();
		pg_usleep(100);
	}
}

/* Is apply statement sql to be run for the batch's rows of src? */
static bool
statement_applies(const char *sql, FvSource *src)
{
	if (strncmp(sql, FV_ONLY_WITH_REMOVALS, strlen(FV_ONLY_WITH_REMOVALS)) == 0)
		return src->nremoved > 0;
	if (strncmp(sql, FV_ONLY_WITHOUT_REMOVALS, strlen(FV_ONLY_WITHOUT_REMOVALS)) == 0)
		return src->nremoved == 0;
	return true;
}

/*
 * apply_batch
 *		Apply the collected batch in one transaction that also records the
 *		origin's progress (end).  Each view is applied in a subtransaction: a
 *		view whose apply fails goes to state 'error' and the others go on.
 */
static void
apply_batch(List *sources, XLogRecPtr end)
{
	ListCell   *lc;
	List	   *applied = NIL;
	MemoryContext batch_cxt = CurrentMemoryContext;
	ResourceOwner owner;
	TimestampTz view_started;

	StartTransactionCommand();
	if (!lock_view_catalog())
	{
		/* the extension was dropped: nothing left to apply to */
		CommitTransactionCommand();
		MemoryContextSwitchTo(batch_cxt);
		return;
	}
	SPI_connect();
	PushActiveSnapshot(batch_snapshot());
	replorigin_session_origin_lsn = end;
	replorigin_session_origin_timestamp = batch.last_commit_time;

	foreach(lc, sources)
	{
		FvSource   *src = lfirst(lc);
		ListCell   *vc;
		char	   *key;

		if (!src->truncated && tuplestore_tuple_count(src->rows) == 0)
			continue;
		/*
		 * Locked first, so that its name, part of the plan key, cannot change
		 * (ALTER TABLE ... RENAME) before the kept plans, re-analysed from
		 * their text after any DDL on it, have run.
		 */
		if (!lock_source(src->relid))
			continue;			/* dropped since the catalog was read */
		key = plan_key(src);
		foreach(vc, src->views)
		{
			FvLiveView *v = lfirst(vc);
			bool		truncated;
			int			action;
			Tuplestorestate *rows;

			if (strcmp(v->state, "live") != 0)
				continue;
			if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(v->view_oid)))
				continue;		/* dropped since the catalog was read */
			rows = view_rows(src, v, &truncated, &action);
			if (action == FV_SIGN_NO_OLD)
			{
				v->error = psprintf("an UPDATE or DELETE of table %s lacks the old row (REPLICA IDENTITY is not FULL)",
									src->no_old_rel ? src->no_old_rel : "?");
				v->state = "error";
				ereport(WARNING,
						(errmsg("pg_flowview: live view %s cannot apply a batch: %s",
								get_rel_name(v->view_oid), v->error),
						 errhint("The view is now in state error: run ALTER TABLE %s REPLICA IDENTITY FULL, then SELECT flowview.refresh_view('%s').",
								 src->no_old_rel ? src->no_old_rel : "...", get_rel_name(v->view_oid))));
			}
			else if (action == FV_SIGN_REPOPULATE)
			{
				/* repopulated at the next batch boundary, from a snapshot that sees this batch */
				fv_spi_run(psprintf("UPDATE flowview.view_catalog SET state = 'backfilling',"
								 " snapshot_xmin = NULL, snapshot_xmax = NULL, snapshot_xip = NULL"
								 " WHERE id = %d", v->id));
				v->state = "backfilling";
				ereport(LOG,
						(errmsg("pg_flowview: live view %s is repopulated: some partitions of its source were truncated",
								get_rel_name(v->view_oid))));
			}
			if (action != 1)
			{
				if (rows != src->rows)
					tuplestore_end(rows);
				continue;
			}
			register_delta(src, rows);
			v->attempted = true;
			v->applied = false;
			v->batch_rows = tuplestore_tuple_count(rows);
			v->batch_groups = 0;
			view_started = GetCurrentTimestamp();
			fv_minmax_rereads = 0;
			owner = CurrentResourceOwner;
			BeginInternalSubTransaction(NULL);
			PG_TRY();
			{
				ListCell   *sc;
				FvRunAs		ra;
				Datum		groups = (Datum) 0;
				bool		no_groups = true;

				/* as the view's owner (runas.c); the alerts as their owners */
				fv_runas_begin(&ra, fv_view_runas_role(v->id), FV_RUNAS_STORAGE, v->time_zone);
				if (truncated)
					foreach(sc, v->storage_tables)
						fv_spi_run(psprintf("DELETE FROM %s", (char *) lfirst(sc)));
				{
					List	   *plans = tuplestore_tuple_count(rows) <= FV_PLAN_MAX_ROWS ?
						view_plans(key, v)->plans : NIL;
					bool		first = true;

					foreach(sc, v->apply_sql)
					{
						if (!statement_applies(lfirst(sc), src))
							continue;
						if (plans == NIL)
							fv_spi_run(fv_with_source(lfirst(sc), v->source_oid));
						else if (SPI_execute_plan(list_nth(plans, foreach_current_index(sc)),
												  NULL, NULL, false, 0) < 0)
							elog(ERROR, "pg_flowview: apply statement failed");
						if (first)
							v->batch_groups = SPI_processed;	/* the groups' upsert */
						first = false;
					}
				}
				if (v->has_alerts && v->changed_groups_sql != NULL)
				{
					/* the view's expressions over the batch: as its owner too */
					fv_spi_run(v->changed_groups_sql);
					if (SPI_processed == 1)
					{
						groups = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &no_groups);
						if (!no_groups)
							groups = datumCopy(groups, false, -1);
					}
				}
				fv_runas_end(&ra);
				if (v->has_alerts && v->changed_groups_sql != NULL)
				{
					Oid			types[3] = {OIDOID, JSONBOID, BOOLOID};
					Datum		vals[3] = {ObjectIdGetDatum(v->view_oid), groups, BoolGetDatum(truncated)};

					set_time_zone(v->time_zone);	/* the values the events record */
					if (SPI_execute_with_args("SELECT flowview._fire_alerts($1::pg_catalog.regclass, $2, $3)",
											  3, types, vals, no_groups ? " n " : NULL, false, 0) < 0)
						elog(ERROR, "pg_flowview: could not fire the alerts of live view %d", v->id);
				}
				ReleaseCurrentSubTransaction();
				MemoryContextSwitchTo(batch_cxt);
				CurrentResourceOwner = owner;
				applied = lappend_int(applied, v->id);
				v->applied = true;
				v->batch_us = GetCurrentTimestamp() - view_started;
				v->batch_rereads = fv_minmax_rereads;
			}
			PG_CATCH();
			{
				ErrorData  *edata;

				MemoryContextSwitchTo(batch_cxt);
				edata = CopyErrorData();
				FlushErrorState();
				RollbackAndReleaseCurrentSubTransaction();
				MemoryContextSwitchTo(batch_cxt);
				CurrentResourceOwner = owner;
				v->error = edata->message;
				v->state = "error";	/* until the catalog says otherwise */
				ereport(WARNING,
						(errmsg("pg_flowview: live view %s failed to apply a batch: %s",
								get_rel_name(v->view_oid), edata->message),
						 errhint("The view is now in state error; fix the cause, then SELECT flowview.refresh_view('%s').",
								 get_rel_name(v->view_oid))));
			}
			PG_END_TRY();
			SPI_unregister_relation(FV_DELTA_NAME);
			if (rows != src->rows)
				tuplestore_end(rows);
		}
	}

	foreach(lc, sources)
	{
		ListCell   *vc;

		foreach(vc, ((FvSource *) lfirst(lc))->views)
		{
			FvLiveView *v = lfirst(vc);

			if (v->error)
			{
				Oid			types[2] = {TEXTOID, INT4OID};
				Datum		vals[2] = {CStringGetTextDatum(v->error), Int32GetDatum(v->id)};

				SPI_execute_with_args("UPDATE flowview.view_catalog SET state = 'error', error = $1 WHERE id = $2",
									  2, types, vals, NULL, false, 0);
				v->error = NULL;	/* allocated in this batch's memory */
			}
		}
	}
	if (applied != NIL && TimestampDifferenceExceeds(last_catalog_lsn_update, GetCurrentTimestamp(), 1000))
	{
		StringInfoData ids;

		last_catalog_lsn_update = GetCurrentTimestamp();
		initStringInfo(&ids);
		foreach(lc, applied)
			appendStringInfo(&ids, "%s%d", foreach_current_index(lc) ? "," : "", lfirst_int(lc));
		fv_spi_run(psprintf("UPDATE flowview.view_catalog SET applied_lsn = '%X/%X' WHERE id IN (%s)",
						 LSN_FORMAT_ARGS(end), ids.data));
	}
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	/* the commit left us in TopMemoryContext: the stats are per batch */
	MemoryContextSwitchTo(batch_cxt);
	publish_batch_stats(sources, end);
}

/* ----------------------------------------------------------------
 * Apply worker: main loop
 * ----------------------------------------------------------------
 */

/*
 * Apply transactions commit asynchronously (the writers' WAL flushes are not
 * joined by ours).  The slot may let go of decoded WAL only once the apply
 * commit that carries it is flushed: after a crash the origin's progress is
 * that of the last flushed apply commit, and decoding resumes there.  Each
 * batch leaves (local commit end, decoded end); confirm_flushed() confirms
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

static void
confirm_flushed(void)
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

static void
add_pending(XLogRecPtr local_end, XLogRecPtr decoded_end)
{
	if (npending == FV_MAX_PENDING)
	{
		XLogFlush(pending[npending - 1].local_end);
		confirm_flushed();
	}
	pending[npending].local_end = local_end;
	pending[npending].decoded_end = decoded_end;
	npending++;
	confirm_flushed();
}

static void
publish_progress(XLogRecPtr lsn)
{
	LWLockAcquire(fv_shared->lock, LW_EXCLUSIVE);
	if (lsn > my_state->applied_lsn)
		my_state->applied_lsn = lsn;
	my_state->last_batch_at = GetCurrentTimestamp();
	/* progress: whatever held the worker up is over */
	my_state->failures = 0;
	my_state->problem[0] = '\0';
	LWLockRelease(fv_shared->lock);
}

/*
 * Say in shared memory why the worker makes no progress (NULL: it does
 * again); flowview.views and flowview.freshness show it.
 */
static void
set_problem(const char *problem)
{
	LWLockAcquire(fv_shared->lock, LW_EXCLUSIVE);
	if (problem == NULL)
		my_state->problem[0] = '\0';
	else
	{
		if (my_state->problem[0] == '\0')
			my_state->problem_since = GetCurrentTimestamp();
		strlcpy(my_state->problem, problem, FV_PROBLEM_LEN);
	}
	LWLockRelease(fv_shared->lock);
}

static emit_log_hook_type prev_emit_log_hook = NULL;

/*
 * The worker exits on any error it does not catch (the launcher restarts
 * it a second later): count the failure and keep its message, with its
 * hint, as the worker's problem until it makes progress again.  A worker
 * that fails at the same place every time is in a crash loop, and the
 * views of its database silently fall behind otherwise.
 */
static void
worker_log_hook(ErrorData *edata)
{
	if (edata->elevel >= ERROR && edata->sqlerrcode != ERRCODE_ADMIN_SHUTDOWN &&
		my_state != NULL && fv_shared != NULL && !LWLockHeldByMe(fv_shared->lock))
	{
		LWLockAcquire(fv_shared->lock, LW_EXCLUSIVE);
		if (my_state->failures++ == 0 || my_state->problem[0] == '\0')
			my_state->problem_since = GetCurrentTimestamp();
		snprintf(my_state->problem, FV_PROBLEM_LEN,
				 "the apply worker failed %d time%s in a row and restarts every second: %s%s%s",
				 my_state->failures, my_state->failures == 1 ? "" : "s",
				 edata->message ? edata->message : "(no message)",
				 edata->hint ? " HINT: " : " HINT: fix the cause the error names (see the server log); the views catch up once the worker gets past it.",
				 edata->hint ? edata->hint : "");
		LWLockRelease(fv_shared->lock);
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

static void
worker_shmem_exit(int code, Datum arg)
{
	LWLockAcquire(fv_shared->lock, LW_EXCLUSIVE);
	if (my_state && my_state->pid == MyProcPid)
		my_state->pid = 0;		/* still wanted unless we cleared that */
	LWLockRelease(fv_shared->lock);
}

/* Claim the database's entry; false if another worker has it. */
static bool
claim_entry(Oid dboid)
{
	int			i;
	bool		ok = false;

	LWLockAcquire(fv_shared->lock, LW_EXCLUSIVE);
	my_state = find_worker(dboid);
	if (my_state != NULL && my_state->pid != 0 && my_state->pid != MyProcPid &&
		BackendPidGetProc(my_state->pid) != NULL)
		my_state = NULL;		/* another live worker */
	else
	{
		if (my_state == NULL)
			for (i = 0; i < FV_MAX_WORKERS; i++)
				if (fv_shared->workers[i].dboid == InvalidOid)
				{
					my_state = &fv_shared->workers[i];
					my_state->paused = false;
					my_state->failures = 0;
					my_state->problem[0] = '\0';
					break;
				}
		if (my_state != NULL)
		{
			my_state->dboid = dboid;
			my_state->pid = MyProcPid;
			my_state->wanted = true;
			my_state->latch = MyLatch;
			my_state->applied_lsn = InvalidXLogRecPtr;
			ok = true;
		}
	}
	LWLockRelease(fv_shared->lock);
	if (ok)
		before_shmem_exit(worker_shmem_exit, (Datum) 0);
	return ok;
}

/*
 * Every live view's backfill snapshot saw (or never needed) every transaction
 * older than the oldest of their xmins: their row changes can be skipped
 * while decoding, not just when applying.  InvalidTransactionId when some
 * live view has no snapshot.
 */
static TransactionId
skip_horizon(List *sources)
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
static bool
skippable(XLogReaderState *r, TransactionId horizon)
{
	TransactionId xid = XLogRecGetXid(r);
	uint8		op = XLogRecGetInfo(r) & XLOG_HEAP_OPMASK;

	if (!TransactionIdIsNormal(horizon) || !TransactionIdIsNormal(xid) ||
		!TransactionIdPrecedes(xid, horizon))
		return false;
	if (!((XLogRecGetRmid(r) == RM_HEAP_ID && op != XLOG_HEAP_INPLACE) ||
		  (XLogRecGetRmid(r) == RM_HEAP2_ID && op == XLOG_HEAP2_MULTI_INSERT)))
		return false;
	return !ReorderBufferXidHasCatalogChanges(decoding->reorder, xid);
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

static void
maybe_recompute(List *sources)
{
	uint64		backlog = GetFlushRecPtr(NULL) - decoding->reader->EndRecPtr;
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

static void
record_position_if_far(XLogRecPtr end)
{
	XLogRecPtr	recorded = replorigin_session_get_progress(false);

	if (end < recorded + FV_RECORD_POSITION_BYTES)
		return;
	StartTransactionCommand();
	if (lock_view_catalog())
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

static bool
is_paused(void)
{
	bool		paused;

	LWLockAcquire(fv_shared->lock, LW_SHARED);
	paused = my_state->paused;
	LWLockRelease(fv_shared->lock);
	return paused;
}

/*
 * Every pg_flowview.sla_sample_interval: the views' change rates, a warning
 * when the slot retains too much WAL, and a freshness sample of each view
 * with an SLA (flowview._sla_tick: history, breach/recovery notifications).
 * Runs while paused too: that is when staleness grows.
 */
static void
monitor_tick(List *sources)
{
	static TimestampTz last_warning = 0;
	TimestampTz now = GetCurrentTimestamp();
	ListCell   *lc;
	XLogRecPtr	restart;
	uint64		retained;

	LWLockAcquire(fv_shared->lock, LW_EXCLUSIVE);
	foreach(lc, sources)
	{
		ListCell   *vc;

		foreach(vc, ((FvSource *) lfirst(lc))->views)
		{
			FvViewStats *st = fv_view_stats(MyDatabaseId, ((FvLiveView *) lfirst(vc))->id, true);

			if (st)
				fv_stats_tick_rate(st, now);
		}
	}
	LWLockRelease(fv_shared->lock);

	SpinLockAcquire(&MyReplicationSlot->mutex);
	restart = MyReplicationSlot->data.restart_lsn;
	SpinLockRelease(&MyReplicationSlot->mutex);
	retained = GetXLogInsertRecPtr() - restart;
	if (retained > (uint64) fv_max_retained_wal_mb * 1024 * 1024 &&
		TimestampDifferenceExceeds(last_warning, now, 60 * 1000))
	{
		last_warning = now;
		ereport(WARNING,
				(errmsg("pg_flowview: replication slot \"%s\" retains %llu MB of WAL, more than pg_flowview.max_retained_wal (%d MB)",
						slot_name, (unsigned long long) (retained / (1024 * 1024)), fv_max_retained_wal_mb),
				 errhint("The live views lag behind (see flowview.freshness); if the slot passes max_slot_wal_keep_size it is invalidated and the views need flowview.refresh_view().")));
	}

	StartTransactionCommand();
	if (lock_view_catalog())
	{
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		fv_spi_run(psprintf("SELECT flowview._sla_tick('%d s')", fv_sla_history_retention_s));
		PopActiveSnapshot();
		SPI_finish();
	}
	CommitTransactionCommand();
}

/*
 * Decoding builds catalog cache entries under historic snapshots and the
 * apply under the current one; PostgreSQL's own SQL decoding functions
 * therefore drop every cache after decoding, which would also make the
 * apply re-plan every statement of every batch.  The two states can only
 * differ where the catalog changed, and a catalog change committed by anyone
 * reaches this process as a shared invalidation message.  So the caches are
 * dropped, before and after decoding, whenever any message arrived since
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
static uint64 last_decoded_inval = 0;
static XLogRecPtr historic_until = InvalidXLogRecPtr;

static void
invalidate_if_catalog_changed(void)
{
	AcceptInvalidationMessages();
	if (SharedInvalidMessageCounter != last_decoded_inval)
	{
		historic_until = Max(historic_until, GetXLogInsertRecPtr());
		InvalidateSystemCaches();
	}
	else if (decoding->reader->EndRecPtr < historic_until)
		InvalidateSystemCaches();
}

void
fv_apply_worker_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	List	   *sources = NIL;
	TimestampTz last_reload = 0;
	TimestampTz batch_started;
	TimestampTz last_tick = 0;
	TransactionId skip_before;
	bool		idle = false;
	bool		full;

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	/* see confirm_flushed() */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	/* a new snapshot per statement (batch_snapshot() relies on it too) */
	SetConfigOption("default_transaction_isolation", "read committed", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * No JIT: the apply statements touch few rows, but their estimated
	 * costs grow with the storage tables (the NULL-key min/max branch), and
	 * kept plans would be compiled again at every batch (measured: 20 ms
	 * per batch on a 750,000-value min/max multiset, 6 ms without).
	 */
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * Nothing the database's or a role's settings say changes what the
	 * worker's SQL means, and no trigger or rule fires on what it writes
	 * (as PostgreSQL's apply worker); statements for a view run as its
	 * owner (runas.c).  Set once: changing session_replication_role resets
	 * every kept plan.
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("session_replication_role", "replica", PGC_SUSET, PGC_S_OVERRIDE);

	if (!claim_entry(dboid))
		proc_exit(0);
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = worker_log_hook;
	{
		int			failures;
		char		problem[FV_PROBLEM_LEN];

		LWLockAcquire(fv_shared->lock, LW_SHARED);
		failures = my_state->failures;
		strlcpy(problem, my_state->problem, sizeof(problem));
		LWLockRelease(fv_shared->lock);
		/* the second failure makes it a loop; then once a minute or so */
		if (failures == 2 || (failures > 0 && failures % 60 == 0))
			ereport(WARNING,
					(errmsg("pg_flowview: the apply worker of database %u keeps failing (%d times in a row); its live views fall behind",
							dboid, failures),
					 errdetail("%s", problem),
					 errhint("Fix the cause the error names; flowview.views (column worker_problem) and flowview.freshness (column warning) show it until the worker makes progress.")));
	}
	snprintf(slot_name, sizeof(slot_name), "pg_flowview_%u", dboid);
	views_cxt = AllocSetContextCreate(TopMemoryContext, "pg_flowview views", ALLOCSET_DEFAULT_SIZES);
	batch.mcxt = AllocSetContextCreate(TopMemoryContext, "pg_flowview batch", ALLOCSET_DEFAULT_SIZES);
	batch.owner = ResourceOwnerCreate(NULL, "pg_flowview batch");
	batch.change_cxt = AllocSetContextCreate(TopMemoryContext, "pg_flowview change",
											 ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		bool		extension;
		bool		any_views;
		XLogRecPtr	end;
		ListCell   *lc;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		/*
		 * 1. the live views, reread at most every 250 ms.  Safe: a view
		 * created meanwhile is backfilled (consistently) at the boundary
		 * after it is seen; a refreshed one likewise; batches applied to a
		 * view dropped meanwhile fail in their subtransaction, harmlessly.
		 */
		if (sources == NIL ||
			TimestampDifferenceExceeds(last_reload, GetCurrentTimestamp(), 250))
		{
			/* changes of definition that have caught up swap in here (views/versions.c) */
			fv_versions_step();
			StartTransactionCommand();
			SPI_connect();
			PushActiveSnapshot(GetTransactionSnapshot());
			sources = load_sources(&extension);
			forget_plans(sources);
			foreach(lc, sources)
			{
				/* dropped since the catalog was read: its views are gone too */
				if (!lock_source(((FvSource *) lfirst(lc))->relid))
					sources = foreach_delete_current(sources, lc);
				else
					prepare_source(lfirst(lc));
			}
			PopActiveSnapshot();
			SPI_finish();
			CommitTransactionCommand();
			last_reload = GetCurrentTimestamp();
		}
		any_views = sources != NIL;
		if (!any_views && restores_pending)
		{
			/* only views being restored: wait for the restore to end */
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 fv_naptime_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			continue;
		}
		if (!any_views)
		{
			stop_and_clean_up();
			LWLockAcquire(fv_shared->lock, LW_EXCLUSIVE);
			my_state->wanted = false;
			LWLockRelease(fv_shared->lock);
			proc_exit(0);
		}
		if (decoding == NULL && !start_decoding())
		{
			sources = NIL;		/* reread: the views are in error now */
			continue;
		}
		if (views_marked_for_recompute)
		{
			views_marked_for_recompute = false;
			sources = NIL;		/* reread: the views are backfilling now */
			continue;
		}

		if (TimestampDifferenceExceeds(last_tick, GetCurrentTimestamp(), fv_sla_sample_interval_ms))
		{
			last_tick = GetCurrentTimestamp();
			monitor_tick(sources);
		}
		if (is_paused())
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 fv_naptime_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			continue;
		}

		/* far behind: recomputing may be cheaper than decoding the backlog */
		if (fv_recompute_backlog_mb > 0)
			maybe_recompute(sources);

		/* 2. backfills, at this batch boundary */
		foreach(lc, sources)
		{
			ListCell   *vc;

			foreach(vc, ((FvSource *) lfirst(lc))->views)
			{
				FvLiveView *v = lfirst(vc);

				if (strcmp(v->state, "backfilling") == 0)
					v->state = backfill_or_error(v);
			}
		}

		/* 3. decode a batch of whole transactions */
		MemoryContextReset(batch.mcxt);
		batch.relmap = NULL;
		batch.sources = sources;
		batch.nchanges = 0;
		batch.nxacts = 0;
		batch.xids = NIL;
		batch.last_xid = InvalidTransactionId;
		old = MemoryContextSwitchTo(batch.mcxt);
		foreach(lc, sources)
		{
			FvSource   *src = lfirst(lc);
			ResourceOwner save = CurrentResourceOwner;

			CurrentResourceOwner = batch.owner;
			src->rows = tuplestore_begin_heap(false, true, work_mem);
			CurrentResourceOwner = save;
			src->truncated = false;
			src->markers = false;
			src->no_old_rel = NULL;
			src->nremoved = 0;
			src->touched = false;
			src->ncommits = src->maxcommits = 0;
			src->commit_times = NULL;
			src->last_trace = NULL;
		}
		batch.trace = NULL;
		batch.traces = NIL;
		MemoryContextSwitchTo(old);

		/*
		 * Up to what is flushed: the writers' own commits flush it, so under
		 * load the worker adds no flushes of its own.  When nothing new was
		 * flushed since the last look, WAL that is only inserted (commits
		 * with synchronous_commit = off, or a page nobody completes) is
		 * flushed here, so it waits at most one naptime.
		 */
		batch_started = GetCurrentTimestamp();
		end = GetFlushRecPtr(NULL);
		if (end <= decoding->reader->EndRecPtr && idle)
		{
			XLogRecPtr	inserted = inserted_end();

			if (inserted > decoding->reader->EndRecPtr)
			{
				XLogFlush(inserted);
				end = GetFlushRecPtr(NULL);
			}
		}
		full = false;
		skip_before = skip_horizon(sources);
		if (decoding->reader->EndRecPtr < end)
		{
			invalidate_if_catalog_changed();
			while (decoding->reader->EndRecPtr < end &&
				   batch.nchanges < fv_batch_max_changes)
			{
				char	   *errm = NULL;
				XLogRecord *record = XLogReadRecord(decoding->reader, &errm);

				if (errm)
					elog(ERROR, "pg_flowview: could not read WAL for decoding: %s", errm);
				if (record != NULL)
				{
					decoding->fast_forward = skippable(decoding->reader, skip_before);
					LogicalDecodingProcessRecord(decoding, decoding->reader);
					decoding->fast_forward = false;
				}
				CHECK_FOR_INTERRUPTS();
			}
			invalidate_if_catalog_changed();
			last_decoded_inval = SharedInvalidMessageCounter;
			full = decoding->reader->EndRecPtr < end;
			end = decoding->reader->EndRecPtr;

			/* 4. apply, with the origin's progress in the same commit */
			if (batch.nchanges > 0)
			{
				old = MemoryContextSwitchTo(batch.mcxt);
				apply_batch(sources, end);
				MemoryContextSwitchTo(old);
				add_pending(XactLastCommitEnd, end);
			}
			else
			{
				add_pending(InvalidXLogRecPtr, end);
				record_position_if_far(end);
			}
			idle = false;
		}
		else
		{
			idle = true;
			confirm_flushed();	/* 5. the slot lets go of WAL applied durably */
		}
		foreach(lc, sources)
		{
			FvSource   *src = lfirst(lc);
			ResourceOwner save = CurrentResourceOwner;

			CurrentResourceOwner = batch.owner;
			tuplestore_end(src->rows);
			CurrentResourceOwner = save;
		}
		publish_progress(end);

		/*
		 * Batches at most every naptime while keeping up (fewer, larger
		 * batches cost the writers' CPUs less), every naptime_under_load
		 * after a large batch (each batch has a fixed cost: at ~5,000 row
		 * changes/s, half the worker's CPU at 20 ms); back to back while
		 * behind.  wait_for_freshness sets the latch: its caller does not
		 * wait for the pause.
		 */
		if (!full)
		{
			long		elapsed_ms = (GetCurrentTimestamp() - batch_started) / 1000;
			int			nap = fv_naptime_ms;

			if (batch.nchanges >= FV_LOAD_BATCH_CHANGES)
				nap = Max(nap, fv_naptime_under_load_ms);
			if (elapsed_ms < nap)
			{
				(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 nap - elapsed_ms, PG_WAIT_EXTENSION);
				ResetLatch(MyLatch);
			}
		}
	}
}

/* ----------------------------------------------------------------
 * SQL: flowview.wait_for_freshness(view regclass, timeout interval)
 * ----------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(fv_wait_for_freshness);

/*
 * A view created or refreshed by the caller's own transaction is populated
 * by the worker only after that transaction commits: waiting for it inside
 * the transaction could only time out.  Throws 55000 naming the view.
 */
static void
refuse_own_uncommitted_views(Oid view)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(view)};
	uint64		i;

	SPI_connect();
	SPI_execute_with_args("SELECT view_oid, xmin FROM flowview.view_catalog"
						  " WHERE state <> 'live' AND ($1 = 0 OR view_oid = $1)",
						  1, argtypes, args, NULL, true, 0);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			v = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		TransactionId xmin = DatumGetTransactionId(SPI_getbinval(SPI_tuptable->vals[i],
																  SPI_tuptable->tupdesc, 2, &isnull));

		if (TransactionIdIsCurrentTransactionId(xmin))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("live view \"%s\" is populated only after this transaction commits",
							get_rel_name(v)),
					 errdetail("It was created or refreshed in this transaction; the apply worker cannot see it yet."),
					 errhint("Commit first, then call flowview.wait_for_freshness().")));
	}
	SPI_finish();
}

/* wait_for_freshness of a relation that is not (or no longer) a live view */
static void
refuse_not_live(Oid view)
{
	ereport(ERROR,
			(errcode(ERRCODE_WRONG_OBJECT_TYPE),
			 errmsg("\"%s\" is not a live view", get_rel_name(view)),
			 errhint("SELECT view FROM flowview.views lists the live views.")));
}

/*
 * wait_for_freshness on a hot standby: there is no worker to start or
 * wake; a live view given by name must exist; then standby.c's wait
 * (replay past the WAL received at the call, views live, no commit before
 * it that the replayed views miss).  Writes nothing.
 */
static bool
standby_wait_for_freshness(Oid view, TimestampTz deadline)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(view)};
	int64		total;
	bool		isnull;

	SPI_connect();
	SPI_execute_with_args("SELECT count(*) FROM flowview.view_catalog WHERE $1 = 0 OR view_oid = $1",
						  1, argtypes, args, NULL, true, 1);
	total = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	if (total == 0 && OidIsValid(view))
		refuse_not_live(view);
	if (total == 0)
		return true;
	return fv_standby_wait(view, deadline);
}

/*
 * True once the view (or, for NULL, every live view of the database)
 * reflects every transaction committed before the call; false on timeout.
 * A view in state error never becomes fresh.  On a hot standby: see
 * standby_wait_for_freshness.
 */
Datum
fv_wait_for_freshness(PG_FUNCTION_ARGS)
{
	Oid			view = PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0);
	Interval   *timeout = PG_ARGISNULL(1) ? NULL : PG_GETARG_INTERVAL_P(1);
	XLogRecPtr	target = GetXLogInsertRecPtr();
	TimestampTz deadline;
	int64		usecs = 30 * USECS_PER_SEC;
	int			idle_polls = 0;
	bool		first = true;
	bool		versions;		/* 0.3: a pending change of definition is not fresh yet */
	char	   *name;

	fv_require_preload("flowview.wait_for_freshness()");
	if (timeout)
	{
		/* in double: a huge interval must not overflow (it waits "forever") */
		double		us = timeout->time + (double) timeout->day * USECS_PER_DAY +
			(double) timeout->month * 30 * USECS_PER_DAY;

		usecs = us >= (double) (PG_INT64_MAX / 4) ? PG_INT64_MAX / 4 : (int64) us;
	}
	deadline = GetCurrentTimestamp() + usecs;
	if (RecoveryInProgress())
		PG_RETURN_BOOL(standby_wait_for_freshness(view, deadline));
	fv_ensure_worker(MyDatabaseId);
	versions = fv_sql_version() >= 3;
	/* a change of columns replaces the view: follow its name (views/versions.c) */
	name = versions && OidIsValid(view) ? fv_versions_view_name(view) : NULL;

	for (;;)
	{
		bool		running;
		XLogRecPtr	applied = fv_worker_applied_lsn(MyDatabaseId, &running);
		int64		pending;
		int64		total;
		bool		isnull;
		Oid			argtypes[1] = {OIDOID};
		Datum		args[1] = {ObjectIdGetDatum(view)};

		/* read_only = false: a new snapshot each time, to see the worker's commits */
		SPI_connect();
		SPI_execute_with_args("SELECT count(*) FILTER (WHERE state <> 'live'), count(*)"
							  " FROM flowview.view_catalog WHERE $1 = 0 OR view_oid = $1",
							  1, argtypes, args, NULL, false, 1);
		pending = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		total = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		SPI_finish();
		if (versions && total > 0)
			pending += fv_versions_pending(view, first);

		if (total == 0 && name != NULL && !first &&
			fv_versions_follow(name, &view))
			continue;
		if (total == 0 && OidIsValid(view))
			refuse_not_live(view);
		if (total == 0)
			PG_RETURN_BOOL(true);
		if (pending > 0 && first)
			refuse_own_uncommitted_views(view);
		first = false;
		if (pending == 0 && running && applied >= target)
			PG_RETURN_BOOL(true);
		if (GetCurrentTimestamp() >= deadline)
			PG_RETURN_BOOL(false);
		/* no worker (it may have exited before a new view was visible) */
		if (!running && ++idle_polls % 200 == 0)
			fv_ensure_worker(MyDatabaseId);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 5,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}
