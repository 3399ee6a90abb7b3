/*-------------------------------------------------------------------------
 *
 * apply.c
 *	  Applying a decoded batch: per source and view, the rows the view has
 *	  not seen as the relation flowview_delta, the view's apply SQL run as
 *	  its owner (kept plans), alerts, all in one transaction with the
 *	  origin's progress; then the per-view statistics.
 *
 * Exactly once: a transaction's changes reach the views only in the apply
 * transaction that also advances the origin past its commit record (see
 * src/README.md).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "utils/inval.h"
#include "catalog/pg_inherits.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "replication/origin.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "nodes/makefuncs.h"

#include "catalog_lock.h"
#include "pg_flowview.h"
#include "views/analyze.h"
#include "views/runas.h"
#include "worker/apply_internal.h"
#include "worker/batch_snapshot.h"
#include "worker/join_delta.h"

int			fv_join_work_mem_kb = 65536;

static TimestampTz last_catalog_lsn_update = 0;	/* flowview.views.applied_lsn: at most 1/s */

static void
set_time_zone(const char *tz)
{
	(void) set_config_option("TimeZone", tz, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}

/* Does the view's backfill snapshot make it skip any transaction of the batch? */
static bool
view_skips_some(FvLiveView *v)
{
	ListCell   *lc;

	if (!v->has_snapshot)
		return false;
	foreach(lc, fv_batch.xids)
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
	/* a rollup's rows are its upstream's changes in this very batch */
	if (src->rollup || (!src->truncated && !src->markers && !view_skips_some(v)))
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

typedef struct FvPlans
{
	int			id;
	char	   *columns;		/* plan_key(): the delta's columns, the source's name */
	List	   *plans;			/* SPIPlanPtr, one per apply_sql statement */
	uint32		sql_hash;		/* FvLiveView.apply_sql_hash they were made of */
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

/*
 * View id's kept plans of statements stmts (sql_hash: their hash) for
 * deltas with plan key "columns" (plan_key(the view's source)); with
 * window_param, the first statement has the window's parameter $1.
 */
static FvPlans *
kept_plans(const char *columns, int id, uint32 sql_hash, List *stmts, Oid source, bool window_param)
{
	ListCell   *lc;
	FvPlans    *p;
	MemoryContext old;
	Oid			types[1] = {TIMESTAMPTZOID};

	foreach(lc, plan_cache)
	{
		p = lfirst(lc);
		if (p->id == id && p->sql_hash == sql_hash && strcmp(p->columns, columns) == 0)
			return p;
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	p = palloc0(sizeof(FvPlans));
	p->id = id;
	p->sql_hash = sql_hash;
	p->columns = pstrdup(columns);
	MemoryContextSwitchTo(old);
	foreach(lc, stmts)
	{
		bool		param = window_param && foreach_current_index(lc) == 0;
		SPIPlanPtr	plan = SPI_prepare(fv_with_source(lfirst(lc), source), param ? 1 : 0, param ? types : NULL);

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

static FvPlans *
view_plans(const char *columns, FvLiveView *v)
{
	return kept_plans(columns, v->id, v->apply_sql_hash, v->apply_sql, v->source_oid, false);
}

/*
 * A sliding window's kept plans (window.c): its statement "crossing" (the
 * rows crossing the edges, parameter $1 the new clock), then advance_sql.
 */
List *
fv_advance_plans(FvSource *src, FvLiveView *v, const char *crossing)
{
	return kept_plans(plan_key(src), v->id, v->advance_sql_hash,
					  lcons((char *) crossing, list_copy(v->advance_sql)), v->source_oid, true)->plans;
}

/* After a catalog reload: free the plans of views that are gone or changed. */
void
fv_forget_plans(List *sources)
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

				if (p->id == ((FvLiveView *) lfirst(vc))->id &&
					(p->sql_hash == ((FvLiveView *) lfirst(vc))->apply_sql_hash ||
					 p->sql_hash == ((FvLiveView *) lfirst(vc))->advance_sql_hash) &&
					strcmp(p->columns, columns) == 0)
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
void
fv_register_delta(FvSource *src, Tuplestorestate *rows)
{
	fv_register_rows(FV_DELTA_NAME, src->desc, rows);
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
	foreach(lc, fv_batch.traces)
		appendStringInfo(&traces, "%s%s", foreach_current_index(lc) ? "," : "", (char *) lfirst(lc));
	ereport(fv_batch_log_level,
			(errmsg("pg_flowview: applied a batch of %lld transactions, %lld row changes, up to %X/%X%s%s",
					(long long) fv_batch.nxacts, (long long) fv_batch.nchanges, LSN_FORMAT_ARGS(end),
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

		foreach(lc, fv_batch.xids)
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

/* Is apply statement sql to be run for rows of which nremoved have sign -1? */
bool
fv_statement_applies(const char *sql, int64 nremoved)
{
	if (strncmp(sql, FV_ONLY_WITH_REMOVALS, strlen(FV_ONLY_WITH_REMOVALS)) == 0)
		return nremoved > 0;
	if (strncmp(sql, FV_ONLY_WITHOUT_REMOVALS, strlen(FV_ONLY_WITHOUT_REMOVALS)) == 0)
		return nremoved == 0;
	return true;
}

/*
 * Table rewrites under the batch's snapshot.  ALTER TABLE ... TYPE and the
 * like rewrite a table with the rewriting transaction as every row's xmin,
 * so a snapshot taken before it committed sees the table empty.  In exact
 * mode the worker reads the tables under Sp, taken at the batch's start;
 * a rewrite committing meanwhile (it holds its lock while the worker
 * decodes) would make J's delta or a window's advance miss every row.  The
 * storage (relfilenodes, with partitions) of each table read under Sp is
 * noted when S is taken and checked again after a view's statements ran,
 * before its subtransaction commits: if it changed, the view's work is
 * undone and the view repopulated at the next boundary from a snapshot
 * that sees the rewrite (as for TRUNCATE).
 */
static uint32
storage_signature(Oid relid)
{
	uint32		sig = 0;
	ListCell   *lc;

	foreach(lc, find_all_inheritors(relid, NoLock, NULL))
	{
		HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(lfirst_oid(lc)));

		if (!HeapTupleIsValid(tup))
			continue;
		sig = hash_combine(sig, hash_combine(lfirst_oid(lc), ((Form_pg_class) GETSTRUCT(tup))->relfilenode));
		ReleaseSysCache(tup);
	}
	return sig;
}

/* for the sources read under Sp: just after S was taken */
void
fv_note_storage(List *sources)
{
	ListCell   *lc;

	foreach(lc, sources)
	{
		FvSource   *src = lfirst(lc);
		ListCell   *tc;

		if (src->tables == NIL && !fv_has_windows(list_make1(src), false))
			continue;
		src->storage_at_s = storage_signature(src->relid);
		foreach(tc, src->tables)
			((FvSource *) lfirst(tc))->storage_at_s = storage_signature(((FvSource *) lfirst(tc))->relid);
	}
}

/* ERROR 40001 (caught: fv_mark_repopulate) if src's storage was rewritten since S */
void
fv_check_storage(FvSource *src)
{
	ListCell   *tc;
	bool		changed;

	AcceptInvalidationMessages();
	changed = src->tables == NIL && storage_signature(src->relid) != src->storage_at_s;
	foreach(tc, src->tables)
		changed |= storage_signature(((FvSource *) lfirst(tc))->relid) != ((FvSource *) lfirst(tc))->storage_at_s;
	if (changed)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("a table of the view was rewritten while the batch was read")));
}

/*
 * After v's subtransaction failed doing "doing" (its work rolled back):
 * repopulated if a table was rewritten under it (fv_check_storage), else
 * in state error until the catalog says otherwise (recorded after the batch).
 */
void
fv_view_failed(FvLiveView *v, ErrorData *edata, const char *doing)
{
	if (edata->sqlerrcode == ERRCODE_T_R_SERIALIZATION_FAILURE)
	{
		fv_mark_repopulate(v, edata->message);
		return;
	}
	v->error = edata->message;
	v->state = "error";
	ereport(WARNING,
			(errmsg("pg_flowview: live view %s failed to %s: %s",
					get_rel_name(v->view_oid), doing, edata->message),
			 errhint("The view is now in state error; fix the cause, then SELECT flowview.refresh_view('%s').",
					 get_rel_name(v->view_oid))));
}

/*
 * In the PG_CATCH of an internal subtransaction begun in memory context cxt
 * with resource owner owner: the error (in cxt), the subtransaction rolled
 * back, cxt and owner current again.
 */
ErrorData *
fv_subxact_failed(MemoryContext cxt, ResourceOwner owner)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return edata;
}

/* v repopulated at the next batch boundary, from a snapshot that sees this batch */
void
fv_mark_repopulate(FvLiveView *v, const char *why)
{
	fv_spi_run(psprintf("UPDATE flowview.view_catalog SET state = 'backfilling',"
						" snapshot_xmin = NULL, snapshot_xmax = NULL, snapshot_xip = NULL"
						" WHERE id = %d", v->id));
	v->state = "backfilling";
	ereport(LOG,
			(errmsg("pg_flowview: live view %s is repopulated: %s", get_rel_name(v->view_oid), why)));
}

/*
 * fv_apply_batch
 *		Apply the collected batch in one transaction that also records the
 *		origin's progress (end).  Each view is applied in a subtransaction: a
 *		view whose apply fails goes to state 'error' and the others go on.
 */
/*
 * A join view's rows of its tables (a join source's tables), each filtered
 * for the view like a one-table view's (view_rows).  Returns the action of
 * view_rows for them together: a TRUNCATE of any table the view did not see
 * is FV_SIGN_REPOPULATE (the view is populated again after the batch, from
 * a snapshot that sees it); *no_old_rel names a table whose change lacked
 * its old row.
 */
static int
join_view_rows(FvSource *jsrc, FvLiveView *v, Tuplestorestate **rows, char **no_old_rel)
{
	ListCell   *lc;
	int			action = 1;

	foreach(lc, jsrc->tables)
	{
		FvSource   *t = lfirst(lc);
		bool		truncated;
		int			a;

		rows[foreach_current_index(lc)] = view_rows(t, v, &truncated, &a);
		if (truncated)
			a = Max(a, FV_SIGN_REPOPULATE);
		if (a == FV_SIGN_NO_OLD)
			*no_old_rel = t->no_old_rel;
		action = Max(action, a);
	}
	return action;
}

/* End the filtered copies join_view_rows made (not the tables' own rows). */
static void
end_table_rows(FvSource *jsrc, Tuplestorestate **rows)
{
	ListCell   *lc;

	if (rows == NULL)
		return;
	foreach(lc, jsrc->tables)
	{
		int			k = foreach_current_index(lc);

		if (rows[k] != NULL && rows[k] != ((FvSource *) lfirst(lc))->rows)
			tuplestore_end(rows[k]);
		rows[k] = NULL;
	}
}

/* Has a join source's table anything in this batch? */
static bool
join_touched(FvSource *jsrc)
{
	ListCell   *lc;

	foreach(lc, jsrc->tables)
	{
		FvSource   *t = lfirst(lc);

		if (t->truncated || tuplestore_tuple_count(t->rows) > 0)
			return true;
	}
	return false;
}

/*
 * Rollups (views/create.c rollup_keys).  A live view U read by rollups
 * hands each of them, in U's own subtransaction, the rows of U's
 * user-facing view in the groups this batch changed: before U's statements
 * with sign -1, after them with +1 (as U's owner; its storage is written
 * only by this worker, so what is read before is exactly what the rollups
 * were made from).  Their sum is U's change, the rollup's delta: a group
 * left unchanged cancels out, a group that appears or leaves (HAVING, its
 * last row deleted) is in one image only.  The groups are found by U's key
 * columns from its changed-groups statement (changed_groups_sql, jsonb);
 * a key column that is NULL cannot match with "=", so those groups are read
 * by a second branch that runs only when some changed group has one.  With
 * all (a TRUNCATE emptying U, a view without GROUP BY) every row is read.
 */
/* each key column k as fmt (in which %s stands for k, once or twice), sep between */
static void
append_each_key(StringInfo buf, List *keys, const char *fmt, const char *sep)
{
	ListCell   *lc;

	foreach(lc, keys)
	{
		const char *k = quote_identifier(lfirst(lc));

		if (foreach_current_index(lc) > 0)
			appendStringInfoString(buf, sep);
		appendStringInfo(buf, fmt, k, k);
	}
}

/*
 * SELECT cols FROM view v, for the groups named by the jsonb array $1 of
 * objects keyed by the key columns keys (all rows: all, or no keys): the
 * groups with no NULL key by IN, those with one by IS NOT DISTINCT FROM.
 */
static char *
group_rows_sql(Oid view, const char *cols, List *keys, bool all)
{
	StringInfoData buf;
	const char *uview = quote_qualified_identifier(get_namespace_name(get_rel_namespace(view)),
												   get_rel_name(view));
	const char *rs;

	initStringInfo(&buf);
	appendStringInfo(&buf, "SELECT %s FROM %s v", cols, uview);
	if (all || keys == NIL)
		return buf.data;
	rs = psprintf("pg_catalog.jsonb_populate_recordset(NULL::%s, $1) t", uview);
	appendStringInfoString(&buf, " WHERE (");
	append_each_key(&buf, keys, "v.%s", ", ");
	appendStringInfoString(&buf, ") IN (SELECT ");
	append_each_key(&buf, keys, "t.%s", ", ");
	appendStringInfo(&buf, " FROM %s WHERE ", rs);
	append_each_key(&buf, keys, "t.%s IS NOT NULL", " AND ");
	/* groups with a NULL key: a one-time test first, then by IS NOT DISTINCT FROM */
	appendStringInfo(&buf, ") UNION ALL SELECT %s FROM %s v WHERE EXISTS (SELECT FROM %s WHERE ", cols, uview, rs);
	append_each_key(&buf, keys, "t.%s IS NULL", " OR ");
	appendStringInfoString(&buf, ") AND (");
	append_each_key(&buf, keys, "v.%s IS NULL", " OR ");
	appendStringInfo(&buf, ") AND EXISTS (SELECT FROM %s WHERE ", rs);
	append_each_key(&buf, keys, "v.%s IS NOT DISTINCT FROM t.%s", " AND ");
	appendStringInfoString(&buf, ")");
	return buf.data;
}

/* a rollup's rows of its upstream's changed groups, with their sign */
static char *
image_sql(FvSource *ds, int sign, bool all)
{
	StringInfoData cols;
	int			i;

	initStringInfo(&cols);
	for (i = 0; i < ds->ncols; i++)
		appendStringInfo(&cols, "v.%s, ", quote_identifier(ds->colnames[i]));
	appendStringInfo(&cols, "%d::pg_catalog.int4, 0::pg_catalog.int8", sign);
	return group_rows_sql(ds->relid, cols.data, ds->upstream_keys, all);
}

/* the jsonb of the last statement's one row (0: no row, or NULL), copied */
static Datum
jsonb_result(void)
{
	bool		isnull = true;
	Datum		d = (Datum) 0;

	if (SPI_processed == 1)
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? (Datum) 0 : datumCopy(d, false, -1);
}

/* U's changed groups as jsonb (NULL: none), for upstream_images */
static Datum
changed_groups(FvLiveView *v, bool *isnull)
{
	Datum		groups;

	*isnull = true;
	if (v->changed_groups_sql == NULL)
		return (Datum) 0;
	fv_spi_run(v->changed_groups_sql);
	groups = jsonb_result();
	*isnull = groups == (Datum) 0;
	return groups;
}

/*
 * Kept plans of the image statements, by their text (which names the
 * upstream view and the rollups' columns): at most a few per rollup source.
 */
typedef struct FvImagePlan
{
	char	   *sql;
	SPIPlanPtr	plan;
} FvImagePlan;

static List *image_plans = NIL;

static SPIPlanPtr
image_plan(const char *sql, int nargs, Oid *argtypes)
{
	ListCell   *lc;
	FvImagePlan *ip;
	SPIPlanPtr	plan;
	MemoryContext old;

	foreach(lc, image_plans)
		if (strcmp(((FvImagePlan *) lfirst(lc))->sql, sql) == 0)
			return ((FvImagePlan *) lfirst(lc))->plan;
	plan = SPI_prepare(sql, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "pg_flowview: could not plan %s: %s", sql, SPI_result_code_string(SPI_result));
	if (list_length(image_plans) >= 64)
	{
		/* views come and go: start afresh rather than grow */
		foreach(lc, image_plans)
		{
			SPI_freeplan(((FvImagePlan *) lfirst(lc))->plan);
			pfree(((FvImagePlan *) lfirst(lc))->sql);
		}
		list_free_deep(image_plans);
		image_plans = NIL;
	}
	SPI_keepplan(plan);
	old = MemoryContextSwitchTo(TopMemoryContext);
	ip = palloc(sizeof(FvImagePlan));
	ip->sql = pstrdup(sql);
	ip->plan = plan;
	image_plans = lappend(image_plans, ip);
	MemoryContextSwitchTo(old);
	return plan;
}

static void
upstream_images(FvLiveView *v, int sign, bool all, Datum groups, bool no_groups)
{
	ListCell   *lc;
	Oid			argtypes[1] = {JSONBOID};
	Datum		args[1] = {groups};
	bool		every = all || v->changed_groups_sql == NULL;

	if (!every && no_groups)
		return;
	CommandCounterIncrement();	/* the statements just run, for sign +1 */
	foreach(lc, v->downstream)
	{
		FvSource   *ds = lfirst(lc);
		bool		whole = every || ds->upstream_keys == NIL;

		fv_read_signed_rows(image_plan(image_sql(ds, sign, every), whole ? 0 : 1, argtypes), NULL,
							0, NULL, args, GetLatestSnapshot(), fv_batch.owner, ds->rows, &ds->nremoved);
	}
}

/* ---- changefeeds (views/feed.c) ---- */

static int64 feed_position = 0; /* this batch's, taken by the first feed view */
static TimestampTz last_feed_trim = 0;

#define FV_FEED_TRIM_MS 10000

/*
 * Lock the view's change log against disable_changefeed until the batch
 * commits; false when it is gone (disabled since the catalog was read).
 */
static bool
feed_log_locked(FvLiveView *v)
{
	return OidIsValid(RangeVarGetRelid(makeRangeVar("flowview", psprintf("fv_store_%d_f", v->id), -1),
									   RowExclusiveLock, true));
}

/*
 * Lock the view's storage for writing, before reading its rows: after a
 * refresh_view committing meanwhile (it locks the storage against this
 * transaction's writes), so the rows read are those the statements change.
 */
static void
lock_storage(FvLiveView *v)
{
	ListCell   *lc;

	foreach(lc, v->storage_tables)
		(void) RangeVarGetRelid(makeRangeVarFromNameList(stringToQualifiedNameList(lfirst(lc))),
								RowExclusiveLock, true);
}

/* is the view live in the catalog as this statement sees it (storage locked)? */
static bool
feed_view_live(FvLiveView *v)
{
	fv_spi_run(psprintf("SELECT FROM flowview.view_catalog WHERE id = %d AND state = 'live'", v->id));
	return SPI_processed == 1;
}

/* the view's rows of the changed groups, as a jsonb array (0: none) */
static Datum
feed_before(FvLiveView *v, Datum groups)
{
	Oid			argtypes[1] = {JSONBOID};
	Datum		args[1] = {groups};
	char	   *sql = psprintf("SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(r)) FROM (%s) r",
							   group_rows_sql(v->view_oid, "v.*", v->feed_keys, false));

	if (SPI_execute_plan(image_plan(sql, 1, argtypes), args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read the rows of live view %u before a batch", v->view_oid);
	return jsonb_result();
}

/*
 * The log rows of the changed groups: their rows now against before (a
 * jsonb array of the rows before the statements), one per group whose row
 * appeared, went or changed, at feed_position.  Returns how many.
 */
static uint64
feed_log(FvLiveView *v, Datum groups, Datum before)
{
	Oid			argtypes[3] = {JSONBOID, JSONBOID, INT8OID};
	Datum		args[3] = {groups, before, Int64GetDatum(feed_position)};
	char		nulls[3] = {' ', before == (Datum) 0 ? 'n' : ' ', ' '};
	const char *uview = quote_qualified_identifier(get_namespace_name(get_rel_namespace(v->view_oid)),
												   get_rel_name(v->view_oid));
	StringInfoData sql;
	StringInfoData newcols;
	StringInfoData oldcols;
	StringInfoData rowa;
	StringInfoData rowb;
	Relation	rel = relation_open(v->view_oid, AccessShareLock);
	int			natts = RelationGetNumberOfAttributes(rel);
	AttrNumber	i;
	ListCell   *lc;

	relation_close(rel, AccessShareLock);
	initStringInfo(&newcols);
	initStringInfo(&oldcols);
	initStringInfo(&rowa);
	initStringInfo(&rowb);
	for (i = 1; i <= natts; i++)
	{
		const char *col = quote_identifier(get_attname(v->view_oid, i, false));
		bool		key = false;

		foreach(lc, v->feed_keys)
			key |= strcmp(lfirst(lc), get_attname(v->view_oid, i, false)) == 0;
		if (key)
			appendStringInfo(&newcols, ", CASE WHEN a.__here THEN a.%s ELSE b.%s END", col, col);
		else
		{
			appendStringInfo(&newcols, ", a.%s", col);
			appendStringInfo(&oldcols, ", b.%s", col);
		}
		appendStringInfo(&rowa, "%sa.%s", i > 1 ? ", " : "", col);
		appendStringInfo(&rowb, "%sb.%s", i > 1 ? ", " : "", col);
	}
	initStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO flowview.fv_store_%d_f SELECT $3, (pg_catalog.row_number() OVER ())::pg_catalog.int4,"
					 " CASE WHEN b.__here IS NULL THEN 'insert' WHEN a.__here IS NULL THEN 'delete' ELSE 'update' END,"
					 " pg_catalog.now()%s%s"
					 " FROM (SELECT true AS __here, r.* FROM (%s) r) a"
					 " FULL JOIN (SELECT true AS __here, t.* FROM pg_catalog.jsonb_populate_recordset(NULL::%s, $2) t) b",
					 v->id, newcols.data, oldcols.data,
					 group_rows_sql(v->view_oid, "v.*", v->feed_keys, false), uview);
	/* the same group: keys equal or both NULL, as jsonb (hashable); one group: true */
	if (v->feed_keys == NIL)
		appendStringInfoString(&sql, " ON true");
	else
	{
		appendStringInfoString(&sql, " ON pg_catalog.jsonb_build_array(");
		append_each_key(&sql, v->feed_keys, "a.%s", ", ");
		appendStringInfoString(&sql, ") OPERATOR(pg_catalog.=) pg_catalog.jsonb_build_array(");
		append_each_key(&sql, v->feed_keys, "b.%s", ", ");
		appendStringInfoString(&sql, ")");
	}
	/* compared as text: a numeric's new scale alone (45 to 45.00) is a change a reader shows */
	appendStringInfo(&sql, " WHERE a.__here IS NULL OR b.__here IS NULL OR ROW(%s)::pg_catalog.text IS DISTINCT FROM ROW(%s)::pg_catalog.text",
					 rowa.data, rowb.data);
	if (SPI_execute_plan(image_plan(sql.data, 3, argtypes), args, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "pg_flowview: could not write the change log of live view %u", v->view_oid);
	return SPI_processed;
}

/*
 * After the batch's views: the feeds it changed move to feed_position (or
 * start afresh there, reset), and their channels are told so; every
 * FV_FEED_TRIM_MS the changes older than their keep go.  As the worker.
 */
static void
feed_publish(List *sources)
{
	ListCell   *lc;
	int64		every = FV_FEED_TRIM_MS;
	bool		trim;

	/* every FV_FEED_TRIM_MS, or as often as the shortest keep */
	foreach(lc, sources)
	{
		ListCell   *vc;

		foreach(vc, ((FvSource *) lfirst(lc))->views)
			if (((FvLiveView *) lfirst(vc))->feed)
				every = Min(every, Max(((FvLiveView *) lfirst(vc))->feed_keep_ms, 100));
	}
	trim = TimestampDifferenceExceeds(last_feed_trim, GetCurrentTimestamp(), (int) every);

	foreach(lc, sources)
	{
		ListCell   *vc;

		foreach(vc, ((FvSource *) lfirst(lc))->views)
		{
			FvLiveView *v = lfirst(vc);
			Oid			types[2] = {INT8OID, INT4OID};
			Datum		vals[2] = {Int64GetDatum(feed_position), Int32GetDatum(v->id)};

			if (!v->feed)
				continue;
			if (v->feed_logged || v->feed_reset)
				SPI_execute_with_args(psprintf("WITH f AS (UPDATE flowview.feed_catalog SET %s = $1 WHERE view_id = $2"
											   " RETURNING channel)"
											   " SELECT pg_catalog.pg_notify(f.channel, $1::pg_catalog.text) FROM f",
											   v->feed_reset ? "reset_position" : "feed_position"),
									  2, types, vals, NULL, false, 0);
			v->feed_logged = v->feed_reset = false;
			if (trim && feed_log_locked(v))
			{
				types[0] = TEXTOID;
				vals[0] = CStringGetTextDatum(v->feed_keep);
				SPI_execute_with_args(psprintf("WITH d AS (DELETE FROM flowview.fv_store_%d_f"
											   " WHERE __at < pg_catalog.now() - $1::pg_catalog.interval RETURNING __position)"
											   " UPDATE flowview.feed_catalog SET trimmed_position ="
											   " GREATEST(trimmed_position, (SELECT pg_catalog.max(__position) FROM d))"
											   " WHERE view_id = $2 AND EXISTS (SELECT FROM d)", v->id),
									  2, types, vals, NULL, false, 0);
			}
		}
	}
	if (trim)
		last_feed_trim = GetCurrentTimestamp();
	feed_position = 0;
}

/* the watermark's late rows of the batch (late_sql, as the view's owner), or 0 */
static Datum
late_rows(FvLiveView *v)
{
	fv_spi_run(v->late_sql);
	return jsonb_result();
}

/*
 * The view's alert rules (as the worker: _fire_alerts evaluates each as its
 * owner): those on changes for the groups a batch changed, or with closing
 * those on closing for the groups whose windows it closed.  The closing
 * call passes four arguments, which only 0.4's SQL objects take.
 */
static void
fire_alerts(FvLiveView *v, Datum groups, bool no_groups, bool truncated, bool closing)
{
	Oid			types[4] = {OIDOID, JSONBOID, BOOLOID, BOOLOID};
	Datum		vals[4] = {ObjectIdGetDatum(v->view_oid), groups, BoolGetDatum(truncated), BoolGetDatum(true)};

	set_time_zone(v->time_zone);	/* the values the events record */
	if (SPI_execute_with_args(closing ? "SELECT flowview._fire_alerts($1::pg_catalog.regclass, $2, $3, $4)"
							  : "SELECT flowview._fire_alerts($1::pg_catalog.regclass, $2, $3)",
							  closing ? 4 : 3, types, vals, no_groups ? " n  " : NULL, false, 0) < 0)
		elog(ERROR, "pg_flowview: could not fire the alerts of live view %d", v->id);
}

/* the watermark before the batch (as the view's owner) */
static Datum
read_watermark(FvLiveView *v)
{
	bool		isnull = true;
	Datum		w = (Datum) 0;

	fv_spi_run(psprintf("SELECT w FROM %s_w", (char *) linitial(v->storage_tables)));
	if (SPI_processed == 1)
		w = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? (Datum) 0 : w;	/* (a timestamptz: by value) */
}

/* the groups whose window closed since watermark w, as jsonb keys, or 0 */
static Datum
closed_groups(FvLiveView *v, Datum w)
{
	Oid			types[1] = {TIMESTAMPTZOID};
	Datum		vals[1] = {w};

	/* not read-only: a snapshot that sees the statements just run */
	if (SPI_execute_with_args(v->closed_groups_sql, 1, types, vals, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read the closed windows of live view %d", v->id);
	return jsonb_result();
}

/* ... recorded in the dead-letter table, by the worker, in the batch's transaction */
static void
record_late_rows(FvLiveView *v, Datum rows, XLogRecPtr end)
{
	Oid			types[3] = {INT4OID, JSONBOID, TEXTOID};
	Datum		vals[3] = {Int32GetDatum(v->id), rows,
	CStringGetTextDatum(psprintf("%X/%X", LSN_FORMAT_ARGS(end)))};

	if (SPI_execute_with_args("INSERT INTO flowview.late_row_log (view_id, row_data, sign, event_time, xid, watermark, lsn)"
							  " SELECT $1, x OPERATOR(pg_catalog.->) 0, (x OPERATOR(pg_catalog.->>) 1)::pg_catalog.int4,"
							  " (x OPERATOR(pg_catalog.->>) 2)::pg_catalog.timestamptz,"
							  " (x OPERATOR(pg_catalog.->>) 3)::pg_catalog.int8,"
							  " (x OPERATOR(pg_catalog.->>) 4)::pg_catalog.timestamptz, $3::pg_catalog.pg_lsn"
							  " FROM pg_catalog.jsonb_array_elements($2) x",
							  3, types, vals, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "pg_flowview: could not record the late rows of live view %d", v->id);
}

/* U's subtransaction failed: its rollups get none of its rows */
static void
forget_images(FvLiveView *v)
{
	ListCell   *lc;

	foreach(lc, v->downstream)
	{
		tuplestore_clear(((FvSource *) lfirst(lc))->rows);
		((FvSource *) lfirst(lc))->nremoved = 0;
	}
}

/* Run one apply statement: a kept plan or the statement's text; under snap if set. */
void
fv_run_statement(SPIPlanPtr plan, const char *sql, Snapshot snap)
{
	if (plan == NULL && snap == NULL)
	{
		fv_spi_run(sql);
		return;
	}
	if (plan == NULL)
	{
		plan = SPI_prepare(sql, 0, NULL);
		if (plan == NULL)
			elog(ERROR, "pg_flowview: could not plan an apply statement: %s",
				 SPI_result_code_string(SPI_result));
	}
	if ((snap ? SPI_execute_snapshot(plan, NULL, NULL, snap, InvalidSnapshot, false, true, 0)
		 : SPI_execute_plan(plan, NULL, NULL, false, 0)) < 0)
		elog(ERROR, "pg_flowview: apply statement failed");
}

void
fv_apply_batch(List *sources, XLogRecPtr end)
{
	ListCell   *lc;
	List	   *applied = NIL;
	MemoryContext batch_cxt = CurrentMemoryContext;
	ResourceOwner owner;
	TimestampTz view_started;
	Snapshot	exact = NULL;
	Tuplestorestate *volatile join_rows = NULL;

	feed_position = 0;			/* not one an aborted batch took */
	/* in exact mode the transaction that took the batch's snapshot S is open */
	if (!IsTransactionState())
	{
		SetCurrentStatementStartTimestamp();	/* now(): the batch's */
		StartTransactionCommand();
	}
	if (!fv_lock_view_catalog())
	{
		/* the extension was dropped: nothing left to apply to */
		fv_exact_batch_end();
		CommitTransactionCommand();
		MemoryContextSwitchTo(batch_cxt);
		return;
	}
	SPI_connect();
	PushActiveSnapshot(batch_snapshot());
	if (fv_exact_batch_active())
		exact = fv_exact_batch_snapshot(list_concat_copy(fv_batch.xids, fv_batch.subxids));
	replorigin_session_origin_lsn = end;
	replorigin_session_origin_timestamp = fv_batch.last_commit_time;

	foreach(lc, sources)
	{
		FvSource   *src = lfirst(lc);
		ListCell   *vc;
		char	   *key;

		bool		is_join = src->tables != NIL;
		Tuplestorestate **table_rows = NULL;

		if (is_join ? !join_touched(src) :
			(!src->truncated && tuplestore_tuple_count(src->rows) == 0))
			continue;
		/*
		 * Locked first, so that its name, part of the plan key, cannot change
		 * (ALTER TABLE ... RENAME) before the kept plans, re-analysed from
		 * their text after any DDL on it, have run.  A join: J and its
		 * tables.
		 */
		if (!fv_lock_source(src->relid))
			continue;			/* dropped since the catalog was read */
		if (is_join)
		{
			bool		gone = false;

			foreach(vc, src->tables)
				gone |= !fv_lock_source(((FvSource *) lfirst(vc))->relid);
			if (gone)
				continue;
			table_rows = palloc0(sizeof(Tuplestorestate *) * list_length(src->tables));
		}
		key = plan_key(src);
		foreach(vc, src->views)
		{
			FvLiveView *v = lfirst(vc);
			bool		truncated = false;
			int			action;
			Tuplestorestate *rows = NULL;
			char	   *no_old_rel = src->no_old_rel;

			if (strcmp(v->state, "live") != 0)
				continue;
			if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(v->view_oid)))
				continue;		/* dropped since the catalog was read */
			if (is_join)
				action = join_view_rows(src, v, table_rows, &no_old_rel);
			else
				rows = view_rows(src, v, &truncated, &action);
			if (action == FV_SIGN_NO_OLD)
			{
				v->error = psprintf("an UPDATE or DELETE of table %s lacks the old row (REPLICA IDENTITY is not FULL)",
									no_old_rel ? no_old_rel : "?");
				v->state = "error";
				ereport(WARNING,
						(errmsg("pg_flowview: live view %s cannot apply a batch: %s",
								get_rel_name(v->view_oid), v->error),
						 errhint("The view is now in state error: run ALTER TABLE %s REPLICA IDENTITY FULL, then SELECT flowview.refresh_view('%s').",
								 no_old_rel ? no_old_rel : "...", get_rel_name(v->view_oid))));
			}
			else if (action == FV_SIGN_REPOPULATE)
				fv_mark_repopulate(v, is_join ? "a table of its join was truncated" :
								   "some partitions of its source were truncated");
			if (action != 1)
			{
				if (rows != NULL && rows != src->rows)
					tuplestore_end(rows);
				end_table_rows(src, table_rows);
				continue;
			}
			v->attempted = true;
			v->applied = false;
			v->batch_groups = 0;
			if (!is_join)
			{
				fv_register_delta(src, rows);
				v->batch_rows = tuplestore_tuple_count(rows);
			}
			join_rows = NULL;
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
				bool		snap_used = false;

				Datum		changed = (Datum) 0;
				bool		no_changed = true;
				Datum		late = (Datum) 0;
				Datum		watermark = (Datum) 0;
				Datum		closed = (Datum) 0;
				Datum		feed_rows = (Datum) 0;
				bool		logged = false;

				/* a feed disabled meanwhile has no log: none this batch */
				if (v->feed && !feed_log_locked(v))
					v->feed = false;
				/*
				 * A refresh_view committed meanwhile (it locks the storage
				 * against this transaction's writes: locked first, as for
				 * the rollups below) left the view to be populated again:
				 * no changes are logged against its rows.
				 */
				if (v->feed)
				{
					lock_storage(v);
					if (!feed_view_live(v))
						v->feed = false;
				}
				/* the batch's feed position: sequence USAGE is the worker's */
				if (v->feed && feed_position == 0)
					feed_position = DatumGetInt64(DirectFunctionCall1(nextval_oid,
																	  ObjectIdGetDatum(get_relname_relid("feed_positions",
																										 get_namespace_oid("flowview", false)))));
				/* as the view's owner (runas.c); the alerts as their owners */
				fv_runas_begin(&ra, fv_view_runas_role(v->id), FV_RUNAS_STORAGE, v->time_zone);
				if (is_join)
				{
					/*
					 * J's delta: the tables' rows joined as of the batch's
					 * end (join_delta.c); work_mem for its fan-out, until
					 * fv_runas_end
					 */
					TupleDesc  *descs = palloc(sizeof(TupleDesc) * list_length(src->tables));
					Oid		   *relids = palloc(sizeof(Oid) * list_length(src->tables));

					(void) set_config_option("work_mem", psprintf("%d", fv_join_work_mem_kb),
											 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
					foreach(sc, src->tables)
					{
						descs[foreach_current_index(sc)] = ((FvSource *) lfirst(sc))->desc;
						relids[foreach_current_index(sc)] = ((FvSource *) lfirst(sc))->relid;
					}
					join_rows = fv_join_delta(v->join_delta_sql, list_length(src->tables), relids, descs,
											  table_rows, exact, fv_batch.owner, &src->nremoved);
					rows = join_rows;
					fv_register_delta(src, rows);
					v->batch_rows = tuplestore_tuple_count(rows);
				}
				/* a watermark: the rows of closed windows, not applied below */
				if (v->late_sql != NULL)
					late = late_rows(v);
				if (v->closed_groups_sql != NULL)
					watermark = read_watermark(v);
				/* rollups over this view, its feed: its changed groups' rows before */
				if (v->downstream != NIL || v->feed)
				{
					lock_storage(v);	/* (a feed's: already) */
					changed = changed_groups(v, &no_changed);
					if (v->downstream != NIL)
						upstream_images(v, -1, truncated, changed, no_changed);
					if (v->feed && !truncated && !no_changed)
						feed_rows = feed_before(v, changed);
				}
				if (truncated)
					foreach(sc, v->storage_tables)
						fv_spi_run(psprintf("DELETE FROM %s", (char *) lfirst(sc)));
				{
					List	   *plans = tuplestore_tuple_count(rows) <= FV_PLAN_MAX_ROWS ?
						view_plans(key, v)->plans : NIL;
					bool		first = true;
					/*
					 * J's and a sliding window's reads of the source must
					 * see it as of the batch's end (window.c)
					 */
					Snapshot	snap = is_join || v->window_sql ? exact : NULL;

					snap_used = snap != NULL;

					foreach(sc, v->apply_sql)
					{
						if (!fv_statement_applies(lfirst(sc), src->nremoved))
							continue;
						fv_run_statement(plans == NIL ? NULL : list_nth(plans, foreach_current_index(sc)),
									  plans == NIL ? fv_with_source(lfirst(sc), v->source_oid) : NULL,
									  snap);
						if (first)
							v->batch_groups = SPI_processed;	/* the groups' upsert */
						first = false;
					}
				}
				/* ... and after */
				if (v->downstream != NIL)
					upstream_images(v, 1, truncated, changed, no_changed);
				if (v->feed && !truncated && !no_changed)
					logged = feed_log(v, changed, feed_rows) > 0;
				/* the groups whose windows the watermark's move closed */
				if (watermark != (Datum) 0)
					closed = closed_groups(v, watermark);
				/* the view's expressions over the batch: as its owner too */
				if (v->has_alerts && v->changed_groups_sql != NULL)
				{
					if (v->downstream != NIL || v->feed)
					{
						groups = changed;	/* read for the rollups or feed already */
						no_groups = no_changed;
					}
					else
						groups = changed_groups(v, &no_groups);
				}
				fv_runas_end(&ra);
				if (late != (Datum) 0)
					record_late_rows(v, late, end);
				if (closed != (Datum) 0)
					fire_alerts(v, closed, false, false, true);
				if (snap_used)
					fv_check_storage(src);
				if (v->has_alerts && v->changed_groups_sql != NULL)
					fire_alerts(v, groups, no_groups, truncated, false);
				ReleaseCurrentSubTransaction();
				MemoryContextSwitchTo(batch_cxt);
				CurrentResourceOwner = owner;
				applied = lappend_int(applied, v->id);
				v->applied = true;
				v->feed_logged |= logged;
				v->feed_reset |= v->feed && truncated;
				v->batch_us = GetCurrentTimestamp() - view_started;
				v->batch_rereads = fv_minmax_rereads;
			}
			PG_CATCH();
			{
				ErrorData  *edata = fv_subxact_failed(batch_cxt, owner);

				forget_images(v);
				fv_view_failed(v, edata, "apply a batch");
			}
			PG_END_TRY();
			SPI_unregister_relation(FV_DELTA_NAME);
			if (join_rows != NULL)
				tuplestore_end(join_rows);
			else if (rows != NULL && rows != src->rows)
				tuplestore_end(rows);
			join_rows = NULL;
			end_table_rows(src, table_rows);
		}
	}

	if (feed_position != 0)
		feed_publish(sources);

	/* sliding windows whose clock is due, after the batch's rows */
	if (exact != NULL)
	{
		fv_advance_windows(sources, exact);
		MemoryContextSwitchTo(batch_cxt);
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
	fv_exact_batch_end();
	CommitTransactionCommand();
	/* the commit left us in TopMemoryContext: the stats are per batch */
	MemoryContextSwitchTo(batch_cxt);
	publish_batch_stats(sources, end);
}
