/*-------------------------------------------------------------------------
 *
 * window.c
 *	  Sliding windows (WHERE ts > now() - interval '15 minutes'): the
 *	  window clock's advance, in the exact batches of the apply worker.
 *
 * A window view's storage always equals its query over the source as of
 * the batch it last applied, with now() read as the clock T stored in
 * flowview.fv_store_ID_t (views/create.c: every statement's condition
 * reads T there; every backfill sets it).  A batch's rows are applied under
 * the T they find.  Then, in the same transaction, a view whose clock is
 * due (FV_WINDOW_TICK_MS since its last advance, with or without WAL: the
 * worker starts an exact batch for it) advances to T' = the current time:
 *
 *	1. the source's rows whose membership differs at T and at T' (the
 *	   view's window_sql), read under the batch's snapshot Sp, which sees
 *	   exactly the transactions applied so far (batch_snapshot.c), with
 *	   sign +1 for rows entering and -1 for rows leaving;
 *	2. T := T';
 *	3. those rows applied with advance_sql, the view's apply statements
 *	   without the window's condition on the batch's rows (they are already
 *	   judged), under Sp: a min/max re-read of the source filters at T'.
 *
 * After step 3 the storage is the query at T' over the same source state:
 * the rows in both windows were counted before and still are, the others
 * were added or removed.  The source must be read under Sp, not a newer
 * snapshot: a row inserted after the batch's end and leaving the window
 * would be removed now and never added when its insert is applied.  That
 * is why an advance happens only in an exact batch (the worker starts one
 * when a clock is due), and why a window view that re-reads min/max from
 * the source (minmax 'rescan') makes every batch exact, its statements run
 * under Sp: a re-read under a newer snapshot could take an extreme from a
 * row not applied yet that leaves the window before it is.  Other window
 * views read only the batch's rows between advances, which needs no
 * snapshot (the default 'multiset' keeps the writers' batches cheap).
 *
 * Cost: the first condition of window_sql (each window column between its
 * bounds at T and T') is what an index on the column serves, so an advance
 * reads only the rows that cross the edges (create_view says when there is
 * no such index).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "catalog_lock.h"
#include "pg_flowview.h"
#include "views/analyze.h"
#include "views/runas.h"
#include "worker/apply_internal.h"
#include "worker/join_delta.h"

/* when each window view was last advanced (survives catalog reloads) */
#define FV_MAX_WINDOWS 1024
typedef struct FvWindowClock
{
	int			id;
	TimestampTz advanced;
} FvWindowClock;
static FvWindowClock clocks[FV_MAX_WINDOWS];
static int	nclocks = 0;

static FvWindowClock *
clock_of(int id)
{
	int			i;

	for (i = 0; i < nclocks; i++)
		if (clocks[i].id == id)
			return &clocks[i];
	if (nclocks == FV_MAX_WINDOWS)
		nclocks = 0;			/* forget them all: each is then simply due */
	clocks[nclocks].id = id;
	clocks[nclocks].advanced = 0;
	return &clocks[nclocks++];
}

static bool
is_due(FvLiveView *v, TimestampTz now)
{
	return v->window_sql != NULL && strcmp(v->state, "live") == 0 &&
		TimestampDifferenceExceeds(clock_of(v->id)->advanced, now, FV_WINDOW_TICK_MS);
}

/* Has any view a sliding window (with rescan: one that re-reads min/max)? */
bool
fv_has_windows(List *sources, bool rescan)
{
	ListCell   *lc;

	foreach(lc, sources)
	{
		ListCell   *vc;

		foreach(vc, ((FvSource *) lfirst(lc))->views)
			if (((FvLiveView *) lfirst(vc))->window_sql != NULL &&
				(!rescan || ((FvLiveView *) lfirst(vc))->rescan))
				return true;
	}
	return false;
}

bool
fv_windows_due(List *sources)
{
	TimestampTz now = GetCurrentTimestamp();
	ListCell   *lc;

	foreach(lc, sources)
	{
		ListCell   *vc;

		foreach(vc, ((FvSource *) lfirst(lc))->views)
			if (is_due(lfirst(vc), now))
				return true;
	}
	return false;
}

/* "SELECT <src's delta columns>, <window_sql>" */
static char *
crossing_statement(FvSource *src, FvLiveView *v)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT ");
	for (i = 0; i < src->ncols; i++)
		appendStringInfo(&buf, "%s, ", quote_identifier(src->colnames[i]));
	appendStringInfoString(&buf, v->window_sql);
	return buf.data;
}

/* steps 1-3 of the head comment for view v, as its owner */
static void
advance(FvSource *src, FvLiveView *v, Snapshot sp, TimestampTz to)
{
	FvRunAs		ra;
	Oid			types[1] = {TIMESTAMPTZOID};
	Datum		args[1] = {TimestampTzGetDatum(to)};
	Tuplestorestate *rows;
	int64		nremoved = 0;
	ListCell   *lc;
	List	   *plans;

	fv_runas_begin(&ra, fv_view_runas_role(v->id), FV_RUNAS_STORAGE, v->time_zone);
	rows = fv_rows_store(fv_batch.owner);
	/*
	 * the rows as flowview_delta (unregistered by the caller), then the kept
	 * plans: the crossing rows' statement and advance_sql (apply.c)
	 */
	fv_register_delta(src, rows);
	plans = fv_advance_plans(src, v, crossing_statement(src, v));
	fv_read_signed_rows(linitial(plans), NULL, 0, NULL, args, sp, fv_batch.owner, rows, &nremoved);
	if (SPI_execute_with_args(psprintf("UPDATE flowview.fv_store_%d_t SET t = $1 WHERE t OPERATOR(pg_catalog.<) $1", v->id),
							  1, types, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "pg_flowview: could not advance the window clock of live view %d", v->id);
	if (tuplestore_tuple_count(rows) > 0)
	{
		bool		kept = tuplestore_tuple_count(rows) <= FV_PLAN_MAX_ROWS;

		foreach(lc, v->advance_sql)
			if (fv_statement_applies(lfirst(lc), nremoved))
				fv_run_statement(kept ? list_nth(plans, foreach_current_index(lc) + 1) : NULL,
								 kept ? NULL : fv_with_source(lfirst(lc), v->source_oid), sp);
	}
	fv_runas_end(&ra);
	SPI_unregister_relation(FV_DELTA_NAME);
	tuplestore_end(rows);
}

/*
 * fv_advance_windows
 *		In fv_apply_batch's transaction, after the batch's rows: advance each
 *		live window view that is due, each in a subtransaction (a failure
 *		puts the view in state 'error', as a failed apply does).
 */
void
fv_advance_windows(List *sources, Snapshot sp)
{
	TimestampTz now = GetCurrentTimestamp();
	MemoryContext cxt = CurrentMemoryContext;
	ListCell   *lc;

	foreach(lc, sources)
	{
		FvSource   *src = lfirst(lc);
		ListCell   *vc;

		foreach(vc, src->views)
		{
			FvLiveView *v = lfirst(vc);
			ResourceOwner owner = CurrentResourceOwner;
			bool		gone = false;
			ListCell   *tc;

			if (!is_due(v, now))
				continue;
			/* the source (a join: J and its tables) first, as fv_apply_batch */
			gone = !fv_lock_source(src->relid);
			foreach(tc, src->tables)
				gone |= !fv_lock_source(((FvSource *) lfirst(tc))->relid);
			if (gone)
				continue;
			BeginInternalSubTransaction(NULL);
			PG_TRY();
			{
				advance(src, v, sp, now);
				fv_check_storage(src);
				ReleaseCurrentSubTransaction();
				MemoryContextSwitchTo(cxt);
				CurrentResourceOwner = owner;
				clock_of(v->id)->advanced = now;
			}
			PG_CATCH();
			{
				fv_view_failed(v, fv_subxact_failed(cxt, owner), "advance its sliding window");
			}
			PG_END_TRY();
			SPI_unregister_relation(FV_DELTA_NAME);	/* if the advance failed */
		}
	}
}
