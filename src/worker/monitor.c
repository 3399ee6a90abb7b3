/*-------------------------------------------------------------------------
 *
 * monitor.c
 *	  Freshness and pipeline monitoring: per-view statistics in shared
 *	  memory, the oldest committed change a database's views do not reflect
 *	  yet, pause/resume, and the SQL functions over them (the views
 *	  flowview.freshness and flowview.stats are SQL over these, see
 *	  sql/pg_flowview--0.1.sql).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "access/xlogreader.h"
#include "access/xlogutils.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "replication/origin.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "pg_flowview.h"
#include "views/security.h"
#include "worker/worker.h"

int			fv_sla_sample_interval_ms = 1000;
int			fv_max_retained_wal_mb = 1024;
int			fv_sla_history_retention_s = 7 * 24 * 3600;
int			fv_batch_log_level = DEBUG1;

/* upper bounds of the latency histogram's buckets, in ms (the last: any) */
const double fv_latency_bounds_ms[FV_LATENCY_BUCKETS] = {
	1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700,
	1000, 1500, 2000, 3000, 5000, 10000, 30000, 60000, INFINITY
};

/* weight of the newest sample in the change rate's mean and variance */
#define FV_RATE_ALPHA 0.1

/* Most WAL read looking for the oldest commit not yet applied. */
#define FV_PENDING_SCAN_MAX (64 * 1024 * 1024)

/* The stats of a view (caller holds fv_shared->lock, exclusively to create). */
FvViewStats *
fv_view_stats(Oid dboid, int view_id, bool create)
{
	FvViewStats *free_slot = NULL;
	int			i;

	for (i = 0; i < FV_MAX_VIEW_STATS; i++)
	{
		FvViewStats *st = &fv_shared->views[i];

		if (st->dboid == dboid && st->view_id == view_id)
			return st;
		if (st->dboid == InvalidOid && free_slot == NULL)
			free_slot = st;
	}
	if (!create || free_slot == NULL)
		return NULL;
	memset(free_slot, 0, sizeof(FvViewStats));
	free_slot->dboid = dboid;
	free_slot->view_id = view_id;
	return free_slot;
}

void
fv_stats_add_latency(FvViewStats *st, TimestampTz now, double ms)
{
	int			b = 0;

	if (st->latency_since == 0)
		st->latency_since = now;
	else if (TimestampDifferenceExceeds(st->latency_since, now, FV_LATENCY_WINDOW_SECS * 1000))
	{
		/* the older window goes: percentiles cover the last 1-2 windows */
		st->latency_cur ^= 1;
		memset(st->latency[st->latency_cur], 0, sizeof(st->latency[0]));
		st->latency_since = now;
	}
	while (b < FV_LATENCY_BUCKETS - 1 && ms > fv_latency_bounds_ms[b])
		b++;
	st->latency[st->latency_cur][b]++;
}

/*
 * One monitoring tick: the change rate since the last tick, its z-score
 * against the weighted mean and variance so far, then the update of those.
 */
void
fv_stats_tick_rate(FvViewStats *st, TimestampTz now)
{
	double		secs;
	double		x;
	double		diff;
	double		sd;

	if (st->rate_at == 0)
	{
		st->rate_at = now;
		st->rate_rows = st->rows_decoded;
		return;
	}
	secs = (double) (now - st->rate_at) / USECS_PER_SEC;
	if (secs <= 0)
		return;
	x = (st->rows_decoded - st->rate_rows) / secs;
	st->rate_now = x;
	st->rate_rows = st->rows_decoded;
	st->rate_at = now;
	if (st->rate_samples == 0)
	{
		st->rate_mean = x;
		st->rate_var = 0;
	}
	else
	{
		/* a floor on the deviation, so a steady rate's jitter is no anomaly */
		sd = Max(sqrt(st->rate_var), Max(0.1 * fabs(st->rate_mean), 1.0));
		st->rate_z = (x - st->rate_mean) / sd;
		diff = x - st->rate_mean;
		st->rate_mean += FV_RATE_ALPHA * diff;
		st->rate_var = (1 - FV_RATE_ALPHA) * (st->rate_var + FV_RATE_ALPHA * diff * diff);
	}
	st->rate_samples++;
}

/*
 * The commit time of the first transaction committed after "from" (a
 * record boundary: an apply worker's decoded end) by anyone but the apply
 * worker itself, reading WAL up to what is flushed.  *found is false when
 * there is none: the views reflect every committed change.  WAL is shared by
 * the cluster, so commits in other databases count too (the worker passes
 * them within a batch).  After FV_PENDING_SCAN_MAX bytes without a commit
 * the time of the last record read is not known: returns 0 with *found.
 */
TimestampTz
fv_oldest_pending_commit(XLogRecPtr from, bool *found)
{
	XLogReaderState *reader;
	ReadLocalXLogPageNoWaitPrivate *priv;
	RepOriginId own = InvalidRepOriginId;
	XLogRecPtr	first;
	TimestampTz result = 0;
	char		name[NAMEDATALEN];

	*found = false;
	if (XLogRecPtrIsInvalid(from) || from >= GetFlushRecPtr(NULL))
		return 0;

	/*
	 * WAL at "from" may be gone (a promoted standby or a restored cluster
	 * whose worker has not started yet, with the catalog's old position):
	 * read from the oldest WAL surely kept, so the answer is the oldest
	 * commit still readable, a lower bound, rather than an error.
	 */
	if (IsTransactionState())
	{
		bool		moved;

		from = fv_readable_wal(from, &moved);
	}
	snprintf(name, sizeof(name), "pg_flowview_%u", MyDatabaseId);
	if (IsTransactionState())
		own = replorigin_by_name(name, true);

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

				if (rec == NULL || priv->end_of_wal)
					break;
				if (reader->ReadRecPtr - from > FV_PENDING_SCAN_MAX)
				{
					*found = true;
					break;
				}
				if (XLogRecGetRmid(reader) != RM_XACT_ID)
					continue;
				info = XLogRecGetInfo(reader) & XLOG_XACT_OPMASK;
				if (info != XLOG_XACT_COMMIT && info != XLOG_XACT_COMMIT_PREPARED)
					continue;
				if (own != InvalidRepOriginId && XLogRecGetOrigin(reader) == own)
					continue;
				result = ((xl_xact_commit *) XLogRecGetData(reader))->xact_time;
				*found = true;
				break;
			}
		}
	}
	PG_FINALLY();
	{
		XLogReaderFree(reader);
	}
	PG_END_TRY();
	return result;
}

/* ----------------------------------------------------------------
 * SQL functions
 *
 * The shared state exists only when pg_flowview was loaded through
 * shared_preload_libraries.  Without it, functions that only read it
 * answer as if no worker ever ran (no statistics, no applied position),
 * _forget_stats does nothing (so drop_view keeps working), and functions
 * that need a worker refuse with 55000 (fv_require_preload).
 * ----------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(fv_set_paused);

/* flowview.pause_apply() / resume_apply(): for this database's worker */
Datum
fv_set_paused(PG_FUNCTION_ARGS)
{
	bool		pause = PG_GETARG_BOOL(0);
	int			i;
	bool		done = false;

	fv_require_preload(pause ? "flowview.pause_apply()" : "flowview.resume_apply()");
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot %s the apply worker on a standby", pause ? "pause" : "resume"),
				 errdetail("A standby has no apply worker: its live views are replayed from the primary."),
				 errhint("Run flowview.%s() on the primary.", pause ? "pause_apply" : "resume_apply")));
	LWLockAcquire(fv_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < FV_MAX_WORKERS && !done; i++)
	{
		FvWorkerState *w = &fv_shared->workers[i];

		if (w->dboid == MyDatabaseId)
		{
			w->paused = pause;
			if (w->pid != 0 && w->latch)
				SetLatch(w->latch);
			done = true;
		}
	}
	/* no worker yet: the entry it will claim remembers the pause */
	for (i = 0; i < FV_MAX_WORKERS && !done; i++)
	{
		FvWorkerState *w = &fv_shared->workers[i];

		if (w->dboid == InvalidOid)
		{
			memset(w, 0, sizeof(FvWorkerState));
			w->dboid = MyDatabaseId;
			w->paused = pause;
			done = true;
		}
	}
	LWLockRelease(fv_shared->lock);
	if (!done)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many databases with live views")));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(fv_pipeline);

/*
 * flowview._pipeline(): this database's apply worker: running, paused,
 * applied_lsn, last_batch_at, and the commit time of the oldest committed
 * change it has not applied (NULL: none).  fallback_lsn stands for the
 * applied position when no worker has published one.  On a standby: not
 * running, the replayed position, and the oldest replayed commit of a
 * source the replayed views miss (standby.c).
 */
Datum
fv_pipeline(PG_FUNCTION_ARGS)
{
	XLogRecPtr	fallback = PG_ARGISNULL(0) ? InvalidXLogRecPtr : PG_GETARG_LSN(0);
	TupleDesc	desc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	bool		running = false;
	bool		paused = false;
	XLogRecPtr	applied = InvalidXLogRecPtr;
	TimestampTz last_batch = 0;
	TimestampTz pending;
	bool		found;
	int			i;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("return type must be a row type")));
	if (fv_shared != NULL)
		LWLockAcquire(fv_shared->lock, LW_SHARED);
	for (i = 0; i < FV_MAX_WORKERS && fv_shared != NULL; i++)
	{
		FvWorkerState *w = &fv_shared->workers[i];

		if (w->dboid == MyDatabaseId)
		{
			running = w->pid != 0;
			paused = w->paused;
			applied = w->applied_lsn;
			last_batch = w->last_batch_at;
		}
	}
	if (fv_shared != NULL)
		LWLockRelease(fv_shared->lock);
	if (XLogRecPtrIsInvalid(applied))
		applied = fallback;

	/*
	 * A hot standby has no apply worker: the views are what replay made of
	 * the primary's; their position and the oldest commit they miss come
	 * from the replayed origin and WAL (standby.c).
	 */
	if (RecoveryInProgress())
	{
		fv_require_sql_version(3, "flowview.freshness on a standby");
		running = paused = false;
		last_batch = 0;
		applied = fv_standby_applied_lsn(fallback);
	}

	values[0] = BoolGetDatum(running);
	values[1] = BoolGetDatum(paused);
	values[2] = LSNGetDatum(applied);
	nulls[2] = XLogRecPtrIsInvalid(applied);
	values[3] = TimestampTzGetDatum(last_batch);
	nulls[3] = last_batch == 0;
	if (RecoveryInProgress())
		pending = fv_standby_pending_commit(applied, InvalidXLogRecPtr, &found);
	else
		pending = fv_oldest_pending_commit(applied, &found);
	if (found && pending == 0)
		pending = last_batch;	/* beyond the scan limit: a lower bound */
	values[4] = TimestampTzGetDatum(pending);
	nulls[4] = !found || pending == 0;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/* value of a latency percentile (0..1) over both windows, in ms */
static double
latency_percentile(FvViewStats *st, double p, int64 *total)
{
	uint64		counts[FV_LATENCY_BUCKETS];
	uint64		n = 0;
	uint64		acc = 0;
	int			b;

	for (b = 0; b < FV_LATENCY_BUCKETS; b++)
	{
		counts[b] = (uint64) st->latency[0][b] + st->latency[1][b];
		n += counts[b];
	}
	*total = n;
	if (n == 0)
		return -1;
	for (b = 0; b < FV_LATENCY_BUCKETS; b++)
	{
		acc += counts[b];
		if (acc >= ceil(p * n))
			return fv_latency_bounds_ms[b];
	}
	return fv_latency_bounds_ms[FV_LATENCY_BUCKETS - 1];
}

PG_FUNCTION_INFO_V1(fv_view_stats_sql);

/*
 * flowview._view_stats(): one row per view of this database with stats, of
 * the views the caller may read (fv_readable_view_ids)
 */
Datum
fv_view_stats_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;
	Bitmapset  *readable = fv_readable_view_ids();	/* only views the caller may read */

	InitMaterializedSRF(fcinfo, 0);
	if (fv_shared == NULL)
		return (Datum) 0;		/* not preloaded: no statistics */
	LWLockAcquire(fv_shared->lock, LW_SHARED);
	for (i = 0; i < FV_MAX_VIEW_STATS; i++)
	{
		FvViewStats *st = &fv_shared->views[i];
		Datum		values[20];
		bool		nulls[20];
		int64		samples;
		double		p;
		int			k;

		if (st->dboid != MyDatabaseId || !bms_is_member(st->view_id, readable))
			continue;
		memset(nulls, 0, sizeof(nulls));
		values[0] = Int32GetDatum(st->view_id);
		values[1] = Int64GetDatum(st->rows_decoded);
		values[2] = Int64GetDatum(st->rows_applied);
		values[3] = Int64GetDatum(st->groups_touched);
		values[4] = Int64GetDatum(st->batches);
		values[5] = Int64GetDatum(st->errors);
		values[6] = Float8GetDatum(st->apply_us / 1000.0);
		values[7] = TimestampTzGetDatum(st->applied_commit_time);
		nulls[7] = st->applied_commit_time == 0;
		for (k = 0; k < 3; k++)
		{
			p = latency_percentile(st, k == 0 ? 0.5 : k == 1 ? 0.95 : 0.99, &samples);
			values[8 + k] = Float8GetDatum(p);
			nulls[8 + k] = p < 0 || isinf(p);
		}
		values[11] = Int64GetDatum(samples);
		values[12] = CStringGetTextDatum(st->last_trace);
		nulls[12] = st->last_trace[0] == '\0';
		values[13] = TimestampTzGetDatum(st->last_trace_at);
		nulls[13] = st->last_trace_at == 0;
		values[14] = Float8GetDatum(st->rate_now);
		values[15] = Float8GetDatum(st->rate_mean);
		values[16] = Float8GetDatum(sqrt(st->rate_var));
		values[17] = Float8GetDatum(st->rate_z);
		values[18] = Int64GetDatum(st->rate_samples);
		values[19] = Int64GetDatum(st->minmax_rereads);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(fv_shared->lock);
	return (Datum) 0;
}

int64		fv_minmax_rereads = 0;

PG_FUNCTION_INFO_V1(fv_reread);

/*
 * flowview._reread(value anyelement) RETURNS anyelement: value, counted.
 * Wraps the apply's min/max re-reads from the source (minmax 'rescan'), so
 * that flowview.stats can tell how often they happen.
 */
Datum
fv_reread(PG_FUNCTION_ARGS)
{
	fv_minmax_rereads++;
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(PG_GETARG_DATUM(0));
}

PG_FUNCTION_INFO_V1(fv_forget_stats);

/* flowview._forget_stats(view id): the view was dropped */
Datum
fv_forget_stats(PG_FUNCTION_ARGS)
{
	FvViewStats *st;

	if (fv_shared == NULL)
		PG_RETURN_VOID();		/* not preloaded: no statistics to forget */
	LWLockAcquire(fv_shared->lock, LW_EXCLUSIVE);
	st = fv_view_stats(MyDatabaseId, PG_GETARG_INT32(0), false);
	if (st)
		st->dboid = InvalidOid;
	LWLockRelease(fv_shared->lock);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(fv_worker_problem);

/*
 * flowview._worker_problem(): why this database's apply worker makes no
 * progress (a crash loop with its last error, a wait for a prepared
 * transaction), with the fix and since when; NULL while it progresses or
 * when pg_flowview is not preloaded.
 */
Datum
fv_worker_problem(PG_FUNCTION_ARGS)
{
	char		problem[FV_PROBLEM_LEN];
	TimestampTz since = 0;
	int			i;

	problem[0] = '\0';
	if (fv_shared == NULL)
		PG_RETURN_NULL();
	LWLockAcquire(fv_shared->lock, LW_SHARED);
	for (i = 0; i < FV_MAX_WORKERS; i++)
	{
		FvWorkerState *w = &fv_shared->workers[i];

		if (w->dboid == MyDatabaseId && w->problem[0] != '\0')
		{
			strlcpy(problem, w->problem, sizeof(problem));
			since = w->problem_since;
		}
	}
	LWLockRelease(fv_shared->lock);
	if (problem[0] == '\0')
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("%s (since %s)", problem, timestamptz_to_str(since))));
}

PG_FUNCTION_INFO_V1(fv_applied_lsn);

/*
 * flowview._applied_lsn(): the position this database's apply worker has
 * applied up to (every live view reflects every transaction committed
 * before it); NULL when no worker has published one.  On a standby, the
 * replayed origin's position (standby.c).
 */
Datum
fv_applied_lsn(PG_FUNCTION_ARGS)
{
	bool		running;
	XLogRecPtr	lsn = fv_worker_applied_lsn(MyDatabaseId, &running);

	/* on a standby: the position the replayed views reflect */
	if (RecoveryInProgress())
		lsn = fv_standby_applied_lsn(InvalidXLogRecPtr);
	if (XLogRecPtrIsInvalid(lsn))
		PG_RETURN_NULL();
	PG_RETURN_LSN(lsn);
}
