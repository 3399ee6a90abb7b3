/*-------------------------------------------------------------------------
 *
 * standby.c
 *	  Freshness on a hot standby.
 *
 * Live views are ordinary tables, so a hot standby serves them as they were
 * when the primary's apply worker committed them, as far as replayed.  There
 * is no apply worker on a standby (decoding is refused in recovery), so the
 * shared memory the primary's freshness functions read is empty here.  What
 * the standby knows instead:
 *
 *	* the position the replayed views reflect: the replication origin
 *	  pg_flowview_<db>'s progress, which every apply commit carries and WAL
 *	  replay restores (the primary's worker also records it after long runs
 *	  of WAL without changes to the sources, see fv_record_position_if_far
 *	  in progress.c), else the catalog's applied_lsn;
 *	* the replayed WAL after it.
 *
 * A primary's commit is not reflected by the replayed views when it lies
 * after that position, changed a source table (or a partition) of a live
 * view, and that view's backfill snapshot did not see it.
 * fv_standby_pending_commit finds the oldest such commit by reading the
 * replayed WAL: flowview.freshness's staleness on a standby is the time
 * since it, i.e. how far behind the primary's (replayed) commits the views
 * are here.  WAL received but not replayed yet is not counted (freshness
 * says so in its warning column).  wait_for_freshness on a standby waits
 * until replay has passed the WAL received at the call and no commit before
 * that point is pending (fv_standby_wait).
 *
 * Nothing here writes: a standby cannot.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam_xlog.h"
#include "access/rmgr.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "access/xlogreader.h"
#include "access/xlogrecovery.h"
#include "access/xlogutils.h"
#include "catalog/pg_tablespace_d.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "replication/origin.h"
#include "replication/walreceiver.h"
#include "storage/latch.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/pg_lsn.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "pg_flowview.h"
#include "worker/apply_internal.h"

/* Most WAL read looking for the oldest pending commit (as monitor.c). */
#define FV_STANDBY_SCAN_MAX (64 * 1024 * 1024)

/* The live views' sources and backfill snapshots, as replayed. */
typedef struct FvStandbyViews
{
	int			nrels;
	RelFileNode *rels;			/* source tables and partitions */
	Oid		   *relids;
	Oid		   *sources;		/* the source (root) each belongs to */
	List	   *views;			/* FvLiveView * with source_oid and snapshot */
	XLogRecPtr	catalog_lsn;	/* min(applied_lsn) of the live views */
} FvStandbyViews;

/* Needs a transaction; in CurrentMemoryContext. */
static void
load_views(FvStandbyViews *sv)
{
	uint64		i;
	MemoryContext cxt = CurrentMemoryContext;

	memset(sv, 0, sizeof(*sv));
	SPI_connect();
	/* a join view's source is its join relation: its tables' changes count for it */
	if (SPI_execute(psprintf("SELECT p.relid, pg_catalog.pg_relation_filenode(p.relid), c.reltablespace, s.source_oid"
							 "  FROM (SELECT DISTINCT v.source_oid, t.root"
							 "          FROM flowview.view_catalog v,"
							 "               LATERAL unnest(%s) t(root)"
							 "         WHERE v.state = 'live') s,"
							 "       LATERAL (SELECT relid FROM pg_catalog.pg_partition_tree(s.root)"
							 "                UNION SELECT s.root) p(relid)"
							 "  JOIN pg_catalog.pg_class c ON c.oid = p.relid"
							 " WHERE c.relkind = 'r'",
							 fv_catalog_has_joins() ?
							 "COALESCE(v.join_sources::pg_catalog.oid[], ARRAY[v.source_oid])" :
							 "ARRAY[v.source_oid]"),
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read the sources of the live views");
	sv->nrels = SPI_processed;
	sv->rels = MemoryContextAlloc(cxt, sizeof(RelFileNode) * Max(sv->nrels, 1));
	sv->relids = MemoryContextAlloc(cxt, sizeof(Oid) * Max(sv->nrels, 1));
	sv->sources = MemoryContextAlloc(cxt, sizeof(Oid) * Max(sv->nrels, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		Oid			spc;

		sv->relids[i] = DatumGetObjectId(SPI_getbinval(t, d, 1, &isnull));
		sv->rels[i].relNode = DatumGetObjectId(SPI_getbinval(t, d, 2, &isnull));
		if (isnull)
			sv->rels[i].relNode = InvalidOid;
		spc = DatumGetObjectId(SPI_getbinval(t, d, 3, &isnull));
		sv->rels[i].spcNode = OidIsValid(spc) ? spc : MyDatabaseTableSpace;
		sv->rels[i].dbNode = MyDatabaseId;
		sv->sources[i] = DatumGetObjectId(SPI_getbinval(t, d, 4, &isnull));
	}

	if (SPI_execute("SELECT snapshot_xmin, snapshot_xmax, snapshot_xip, applied_lsn, source_oid"
					"  FROM flowview.view_catalog WHERE state = 'live'", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read flowview.view_catalog");
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		xmin;
		FvLiveView *v = MemoryContextAllocZero(cxt, sizeof(FvLiveView));
		Datum		lsn;

		v->source_oid = DatumGetObjectId(SPI_getbinval(t, d, 5, &isnull));
		xmin = SPI_getbinval(t, d, 1, &isnull);
		if (!isnull)
		{
			Datum	   *elems;
			bool	   *nulls;
			int			n,
						k;
			MemoryContext old = MemoryContextSwitchTo(cxt);

			v->has_snapshot = true;
			v->snap_xmin = (TransactionId) DatumGetInt64(xmin);
			v->snap_xmax = (TransactionId) DatumGetInt64(SPI_getbinval(t, d, 2, &isnull));
			deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(t, d, 3, &isnull)), INT8OID, 8,
							  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &n);
			v->snap_xcnt = n;
			v->snap_xip = palloc(sizeof(TransactionId) * Max(n, 1));
			for (k = 0; k < n; k++)
				v->snap_xip[k] = (TransactionId) DatumGetInt64(elems[k]);
			sv->views = lappend(sv->views, v);
			MemoryContextSwitchTo(old);
		}
		else
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			sv->views = lappend(sv->views, v);
			MemoryContextSwitchTo(old);
		}
		lsn = SPI_getbinval(t, d, 4, &isnull);
		if (!isnull && (XLogRecPtrIsInvalid(sv->catalog_lsn) || DatumGetLSN(lsn) < sv->catalog_lsn))
			sv->catalog_lsn = DatumGetLSN(lsn);
	}
	SPI_finish();
}

/*
 * The position the replayed live views reflect: the origin's replayed
 * progress, else fallback (the catalog's applied_lsn).  Needs a
 * transaction.
 */
XLogRecPtr
fv_standby_applied_lsn(XLogRecPtr fallback)
{
	char		name[NAMEDATALEN];
	RepOriginId origin;
	XLogRecPtr	lsn = InvalidXLogRecPtr;

	snprintf(name, sizeof(name), "pg_flowview_%u", MyDatabaseId);
	origin = replorigin_by_name(name, true);
	if (origin != InvalidRepOriginId)
		lsn = replorigin_get_progress(origin, false);
	return Max(lsn, fallback);
}

/*
 * fv_local_wal_reader
 *		A reader of this server's own WAL that stops at its end instead of
 *		waiting (*priv->end_of_wal tells), for the scans of freshness.
 */
XLogReaderState *
fv_local_wal_reader(ReadLocalXLogPageNoWaitPrivate **priv)
{
	XLogReaderState *reader;

	*priv = palloc0(sizeof(ReadLocalXLogPageNoWaitPrivate));
	reader = XLogReaderAllocate(wal_segment_size, NULL,
								XL_ROUTINE(.page_read = read_local_xlog_page_no_wait,
										   .segment_open = wal_segment_open,
										   .segment_close = wal_segment_close),
								*priv);
	if (reader == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	return reader;
}

/*
 * fv_readable_wal
 *		Where a scan of this server's WAL wanting to start at "from" can
 *		start: "from" itself if its WAL is still here, else (removed by a
 *		checkpoint or restartpoint, or never here: a standby cloned after
 *		it) the redo position of the last checkpoint or restartpoint, with
 *		*moved set.  Tries to read the page in a subtransaction, as the
 *		segment's absence is only known by opening it.  Needs a
 *		transaction.
 */
XLogRecPtr
fv_readable_wal(XLogRecPtr from, bool *moved)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ReadLocalXLogPageNoWaitPrivate *priv;
	XLogReaderState *reader = fv_local_wal_reader(&priv);
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		(void) XLogFindNextRecord(reader, from);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	XLogReaderFree(reader);
	*moved = !ok;
	return ok ? from : Max(from, GetRedoRecPtr());
}

/*
 * The transactions (and subtransactions) that changed a source's rows, with
 * the sources they changed (a few; more count as "every source").
 */
#define FV_XID_SOURCES 8

typedef struct FvXidEntry
{
	TransactionId xid;			/* hash key */
	int			nsources;		/* > FV_XID_SOURCES: every source */
	Oid			sources[FV_XID_SOURCES];
} FvXidEntry;

static void
note_xid(HTAB *xids, TransactionId xid, Oid source)
{
	bool		found;
	FvXidEntry *e;
	int			i;

	if (!TransactionIdIsValid(xid))
		return;
	e = hash_search(xids, &xid, HASH_ENTER, &found);
	if (!found)
		e->nsources = 0;
	if (e->nsources > FV_XID_SOURCES)
		return;
	for (i = 0; i < e->nsources; i++)
		if (e->sources[i] == source)
			return;
	if (e->nsources < FV_XID_SOURCES)
		e->sources[e->nsources] = source;
	e->nsources++;
}

/*
 * Does a live view miss transaction xid (top-level) that changed the
 * sources in e: is there a view on one of them whose backfill snapshot did
 * not see it?
 */
static bool
some_view_misses(FvStandbyViews *sv, FvXidEntry *e, TransactionId xid)
{
	ListCell   *lc;
	int			i;

	foreach(lc, sv->views)
	{
		FvLiveView *v = lfirst(lc);
		bool		on_source = e->nsources > FV_XID_SOURCES;

		for (i = 0; i < e->nsources && i < FV_XID_SOURCES && !on_source; i++)
			on_source = e->sources[i] == v->source_oid;
		if (on_source && !fv_view_saw_xid(v, xid))
			return true;
	}
	return false;
}

/*
 * The source whose rows the record changes (a heap insert, update, delete
 * or multi-insert into one of its tables' relfilenodes, or a TRUNCATE
 * naming one), InvalidOid if none.
 */
static Oid
changed_source(XLogReaderState *r, FvStandbyViews *sv)
{
	uint8		rmid = XLogRecGetRmid(r);
	uint8		op = XLogRecGetInfo(r) & XLOG_HEAP_OPMASK;
	RelFileNode rnode;
	int			i,
				k;

	if (rmid == RM_HEAP_ID && op == XLOG_HEAP_TRUNCATE)
	{
		xl_heap_truncate *xlrec = (xl_heap_truncate *) XLogRecGetData(r);

		if (xlrec->dbId != MyDatabaseId)
			return InvalidOid;
		for (i = 0; i < xlrec->nrelids; i++)
			for (k = 0; k < sv->nrels; k++)
				if (xlrec->relids[i] == sv->relids[k])
					return sv->sources[k];
		return InvalidOid;
	}
	if (!((rmid == RM_HEAP_ID && (op == XLOG_HEAP_INSERT || op == XLOG_HEAP_DELETE ||
								  op == XLOG_HEAP_UPDATE || op == XLOG_HEAP_HOT_UPDATE)) ||
		  (rmid == RM_HEAP2_ID && op == XLOG_HEAP2_MULTI_INSERT)))
		return InvalidOid;
	if (!XLogRecHasBlockRef(r, 0))
		return InvalidOid;
	XLogRecGetBlockTag(r, 0, &rnode, NULL, NULL);
	for (k = 0; k < sv->nrels; k++)
		if (RelFileNodeEquals(sv->rels[k], rnode))
			return sv->sources[k];
	return InvalidOid;
}

/*
 * fv_standby_pending_commit
 *		The commit time of the oldest transaction the replayed live views do
 *		not reflect (see the file's comment), reading the replayed WAL from
 *		"from" (the views' position) up to "upto" (InvalidXLogRecPtr: all
 *		that is replayed).  *found is false when there is none.  Beyond
 *		FV_STANDBY_SCAN_MAX bytes, or when WAL at "from" was removed, the
 *		answer errs on the stale side: the first commit read, of any
 *		transaction.  Needs a transaction (reads the catalog).
 */
TimestampTz
fv_standby_pending_commit(XLogRecPtr from, XLogRecPtr upto, bool *found)
{
	FvStandbyViews sv;
	XLogReaderState *reader;
	ReadLocalXLogPageNoWaitPrivate *priv;
	XLogRecPtr	replayed = GetXLogReplayRecPtr(NULL);
	XLogRecPtr	first;
	TimestampTz result = 0;
	TimestampTz first_commit = 0;
	bool		uncertain = false;
	RepOriginId own;
	char		name[NAMEDATALEN];
	HASHCTL		ctl;
	HTAB	   *xids;

	*found = false;
	if (XLogRecPtrIsInvalid(upto) || upto > replayed)
		upto = replayed;
	load_views(&sv);
	if (sv.views == NIL)
		return 0;				/* no live views: nothing pending */
	if (XLogRecPtrIsInvalid(from))
		from = sv.catalog_lsn;
	if (XLogRecPtrIsInvalid(from))
	{
		/* no recorded position: from the oldest WAL surely kept */
		from = GetRedoRecPtr();
		uncertain = true;
	}
	else
	{
		bool		moved;

		from = fv_readable_wal(from, &moved);
		uncertain |= moved;
	}
	if (from >= upto)
		return 0;
	snprintf(name, sizeof(name), "pg_flowview_%u", MyDatabaseId);
	own = replorigin_by_name(name, true);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(TransactionId);
	ctl.entrysize = sizeof(FvXidEntry);
	ctl.hcxt = CurrentMemoryContext;
	xids = hash_create("pg_flowview standby xids", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	reader = fv_local_wal_reader(&priv);
	PG_TRY();
	{
		first = XLogFindNextRecord(reader, from);
		if (!XLogRecPtrIsInvalid(first))
		{
			XLogBeginRead(reader, first);
			for (;;)
			{
				char	   *errm = NULL;
				XLogRecord *rec = XLogReadRecord(reader, &errm);
				uint8		info;
				xl_xact_parsed_commit parsed;
				TransactionId xid;
				bool		missed;
				int			i;

				if (rec == NULL || priv->end_of_wal || reader->ReadRecPtr >= upto)
					break;
				if (reader->ReadRecPtr - from > FV_STANDBY_SCAN_MAX)
				{
					uncertain = true;
					break;
				}
				if (XLogRecGetRmid(reader) != RM_XACT_ID)
				{
					Oid			source = changed_source(reader, &sv);

					if (OidIsValid(source))
						note_xid(xids, XLogRecGetXid(reader), source);
					continue;
				}
				info = XLogRecGetInfo(reader) & XLOG_XACT_OPMASK;
				if (info != XLOG_XACT_COMMIT && info != XLOG_XACT_COMMIT_PREPARED)
					continue;
				if (own != InvalidRepOriginId && XLogRecGetOrigin(reader) == own)
					continue;
				ParseCommitRecord(XLogRecGetInfo(reader), (xl_xact_commit *) XLogRecGetData(reader), &parsed);
				if (first_commit == 0)
					first_commit = parsed.xact_time;
				xid = info == XLOG_XACT_COMMIT_PREPARED ? parsed.twophase_xid : XLogRecGetXid(reader);
				missed = false;
				for (i = -1; i < parsed.nsubxacts && !missed; i++)
				{
					FvXidEntry *e = hash_search(xids, i < 0 ? &xid : &parsed.subxacts[i], HASH_FIND, NULL);

					missed = e != NULL && some_view_misses(&sv, e, xid);
				}
				if (missed)
				{
					result = parsed.xact_time;
					*found = true;
					break;
				}
			}
		}
	}
	PG_FINALLY();
	{
		XLogReaderFree(reader);
	}
	PG_END_TRY();
	hash_destroy(xids);
	if (!*found && uncertain && first_commit != 0)
	{
		/* not all of the WAL after the views' position was read */
		result = first_commit;
		*found = true;
	}
	return result;
}

/*
 * wait_for_freshness on a standby: true once replay has passed the WAL
 * this standby had received at the call (the primary's commits known here)
 * and the replayed views reflect every commit before it (see the file's
 * comment): all the views asked for (view, or every one for InvalidOid)
 * are live, and no commit before that point is pending.  False at the
 * deadline.  Reads only.
 */
bool
fv_standby_wait(Oid view, TimestampTz deadline)
{
	XLogRecPtr	target = Max(GetWalRcvFlushRecPtr(NULL, NULL), GetXLogReplayRecPtr(NULL));
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_flowview standby wait",
											  ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);
		bool		done = false;

		if (GetXLogReplayRecPtr(NULL) >= target)
		{
			int64		pending;
			bool		isnull;
			bool		found;
			Datum		lsn;
			XLogRecPtr	catalog_lsn;
			Oid			argtypes[1] = {OIDOID};
			Datum		args[1] = {ObjectIdGetDatum(view)};

			SPI_connect();
			/* read_only = false: a new snapshot each time, to see what was replayed since */
			SPI_execute_with_args("SELECT count(*) FILTER (WHERE state <> 'live'),"
								  " (SELECT min(applied_lsn) FROM flowview.view_catalog WHERE state = 'live')"
								  " FROM flowview.view_catalog WHERE $1 = 0 OR view_oid = $1",
								  1, argtypes, args, NULL, false, 1);
			pending = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
			lsn = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
			catalog_lsn = isnull ? InvalidXLogRecPtr : DatumGetLSN(lsn);
			SPI_finish();
			if (pending == 0)
			{
				(void) fv_standby_pending_commit(fv_standby_applied_lsn(catalog_lsn), target, &found);
				done = !found;
			}
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(cxt);
		if (done)
			return true;
		if (GetCurrentTimestamp() >= deadline)
			return false;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 20,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}
