/*-------------------------------------------------------------------------
 *
 * freshness.c
 *	  flowview.wait_for_freshness(): waiting until a live view (or every
 *	  live view of the database) reflects every transaction committed
 *	  before the call, on a primary (the worker's applied position in
 *	  shared memory) or a hot standby (standby.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "pg_flowview.h"
#include "views/versions.h"
#include "worker/worker.h"

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

/*
 * wait_for_freshness of a relation that is not (or no longer) a live view
 * (named by its OID when it has no name any more)
 */
static void
refuse_not_live(Oid view)
{
	char	   *name = get_rel_name(view);

	ereport(ERROR,
			(errcode(ERRCODE_WRONG_OBJECT_TYPE),
			 errmsg("\"%s\" is not a live view", name ? name : psprintf("%u", view)),
			 errhint("SELECT view FROM flowview.views lists the live views.")));
}

/*
 * wait_for_freshness on a hot standby: there is no worker to start or
 * wake; a live view given by name must exist (or have had that OID before
 * a change of its columns, replayed here); then standby.c's wait (replay
 * past the WAL received at the call, views live, no commit before it that
 * the replayed views miss).  Writes nothing.
 */
static bool
standby_wait_for_freshness(Oid view, TimestampTz deadline)
{
	int64		total;
	bool		isnull;
	Oid			now;
	int			follows = 0;

	for (;;)
	{
		Oid			argtypes[1] = {OIDOID};
		Datum		args[1] = {ObjectIdGetDatum(view)};

		SPI_connect();
		/* read_only = false: a new snapshot, which sees the view fv_versions_former found */
		SPI_execute_with_args("SELECT count(*) FROM flowview.view_catalog WHERE $1 = 0 OR view_oid = $1",
							  1, argtypes, args, NULL, false, 1);
		total = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		SPI_finish();
		if (total > 0 || !OidIsValid(view) || follows++ >= 100 ||
			!OidIsValid(now = fv_versions_former(view)))
			break;
		view = now;
	}
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
	int			follows = 0;
	bool		versions;		/* 0.3: a pending change of definition is not fresh yet */
	bool		former;			/* 0.4: the view's former OIDs are recorded */
	char	   *name;

	/*
	 * With 0.3's SQL objects, the view's name first, before anything takes a
	 * lock (and so reads the invalidations): a change of columns committed
	 * since the caller looked the name up has dropped this OID, and only the
	 * cached name can find the view that replaced it, unless the caches had
	 * already forgotten it (views/versions.c).  Not needed with 0.4's.
	 */
	name = OidIsValid(view) ? fv_versions_view_name(view) : NULL;
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
	fv_want_inserted();	/* flushed and decoded at once, not after a nap */
	fv_ensure_worker(MyDatabaseId);
	versions = fv_sql_version() >= 3;
	former = fv_sql_version() >= 4;
	/*
	 * A change of columns replaces the view: follow its former OID (0.4), or
	 * its name (0.3; views/versions.c).
	 */
	if (!versions || former)
		name = NULL;

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

		/*
		 * Also on the first pass: the swap may have committed between the
		 * caller's regclass lookup and this read (a bounded number of
		 * times, should the view keep moving).
		 */
		if (total == 0 && OidIsValid(view) && former && follows++ < 100)
		{
			Oid			now = fv_versions_former(view);

			if (OidIsValid(now))
			{
				view = now;
				continue;
			}
		}
		if (total == 0 && name != NULL && follows++ < 100 &&
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
