/*-------------------------------------------------------------------------
 *
 * sources.c
 *	  The apply worker's reading of flowview.view_catalog: the live views,
 *	  grouped by source table (FvSource, FvLiveView), and each source's
 *	  delta row layout.
 *
 * Catalog access of the loop lives here, as pg_cron's job_metadata.c, so
 * that apply_worker.c reads as a story.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "catalog_lock.h"
#include "pg_flowview.h"
#include "views/restore.h"
#include "worker/apply_internal.h"

MemoryContext fv_views_cxt;

/* views being restored, left alone until their restore ends (views/restore.c) */
bool		fv_views_being_restored = false;

/* a text[] as a List of char * (apply_internal.h) */
List *
fv_text_array_list(Datum d)
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

/* The source with OID relid in sources, added if missing. */
static FvSource *
source_of(List **sources, Oid relid)
{
	ListCell   *lc;
	FvSource   *src;

	foreach(lc, *sources)
		if (((FvSource *) lfirst(lc))->relid == relid)
			return lfirst(lc);
	src = palloc0(sizeof(FvSource));
	src->relid = relid;
	*sources = lappend(*sources, src);
	return src;
}

/* used columns of a source: the union over its views (and joins) */
static void
add_columns(FvSource *src, List *columns)
{
	ListCell   *lc;

	foreach(lc, columns)
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

/*
 * A join view's tables (catalog columns join_sources, join_source_columns):
 * each a source of its own, reading at least the columns J needs of it;
 * jsrc, the source J, lists them in the order of the delta statement's
 * flowview_delta_1..N.
 */
static void
add_join_tables(List **sources, FvSource *jsrc, Datum tables, Datum columns)
{
	Datum	   *oids;
	bool	   *nulls;
	int			n,
				k;
	List	   *cols = fv_text_array_list(columns);

	deconstruct_array(DatumGetArrayTypeP(tables), OIDOID, sizeof(Oid), true, TYPALIGN_INT,
					  &oids, &nulls, &n);
	if (jsrc->tables != NIL || n != list_length(cols))
		return;
	for (k = 0; k < n; k++)
	{
		FvSource   *t = source_of(sources, DatumGetObjectId(oids[k]));

		add_columns(t, fv_text_array_list(OidInputFunctionCall(F_ARRAY_IN, list_nth(cols, k), TEXTOID, -1)));
		jsrc->tables = lappend(jsrc->tables, t);
	}
}

/*
 * Rollups: each rollup source (a live view's user-facing view) gets the
 * live view it stands for as its upstream, and that view the source among
 * its downstream; sources are ordered so that every view is applied (and
 * backfilled) before the rollups over it: tables and join relations first,
 * then rollup sources by depth.  A rollup over a view in error (not
 * loaded) has no upstream and receives nothing: its upstream's rows do not
 * change either.
 */
static List *
link_rollups(List *sources)
{
	List	   *ordered = NIL;
	ListCell   *lc;
	bool		changed = true;
	int			depth;

	foreach(lc, sources)
	{
		FvSource   *src = lfirst(lc);
		ListCell   *sc;

		if (!src->rollup)
			continue;
		foreach(sc, sources)
		{
			ListCell   *vc;

			foreach(vc, ((FvSource *) lfirst(sc))->views)
			{
				FvLiveView *u = lfirst(vc);

				if (u->view_oid == src->relid)
				{
					src->upstream = u;
					u->downstream = lappend(u->downstream, src);
				}
			}
		}
	}
	/* depth: 1 + the depth of the upstream's source (0 for tables) */
	for (depth = 0; changed && depth < 1000; depth++)
	{
		changed = false;
		foreach(lc, sources)
		{
			FvSource   *src = lfirst(lc);
			ListCell   *sc;
			int			d = 1;

			if (!src->rollup || src->upstream == NULL)
				continue;
			foreach(sc, sources)
				if (list_member_ptr(((FvSource *) lfirst(sc))->views, src->upstream))
					d = ((FvSource *) lfirst(sc))->depth + 1;
			if (d != src->depth)
			{
				src->depth = d;
				changed = true;
			}
		}
	}
	for (depth = 0; list_length(ordered) < list_length(sources); depth++)
		foreach(lc, sources)
			if (((FvSource *) lfirst(lc))->depth == depth ||
				(depth > 1000 && !list_member_ptr(ordered, lfirst(lc))))
				ordered = lappend(ordered, lfirst(lc));
	return ordered;
}

/*
 * Read the live views and their sources (in fv_views_cxt).  Returns NIL when
 * the extension is not installed.  Runs in a transaction with SPI.
 */
/*
 * The views' changefeeds (views/feed.c).  A feed seen for the first time
 * starts here: its reset position is taken in this transaction, before any
 * batch the worker applies from now on, each of which logs its changes, so
 * a cursor handed out before cannot skip one.
 */
static void
load_feeds(List *sources)
{
	uint64		i;
	ListCell   *lc;

	fv_spi_run("UPDATE flowview.feed_catalog SET reset_position = pg_catalog.nextval('flowview.feed_positions')"
			   " WHERE reset_position = 0");
	if (SPI_execute("SELECT view_id, key_columns, keep::pg_catalog.text,"
					" (pg_catalog.date_part('epoch', keep) * 1000)::pg_catalog.int8 FROM flowview.feed_catalog",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read flowview.feed_catalog");
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		int			id = DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));

		foreach(lc, sources)
		{
			ListCell   *vc;

			foreach(vc, ((FvSource *) lfirst(lc))->views)
			{
				FvLiveView *v = lfirst(vc);
				MemoryContext old;

				if (v->id != id)
					continue;
				old = MemoryContextSwitchTo(fv_views_cxt);
				v->feed = true;
				v->feed_keys = fv_text_array_list(SPI_getbinval(t, d, 2, &isnull));
				v->feed_keep = SPI_getvalue(t, d, 3);
				v->feed_keep_ms = DatumGetInt64(SPI_getbinval(t, d, 4, &isnull));
				MemoryContextSwitchTo(old);
			}
		}
	}
}

bool		fv_catalog_in_motion = true;
bool		fv_any_sla = true;

List *
fv_load_sources(bool *extension)
{
	List	   *sources = NIL;
	MemoryContext old;
	uint64		i;

	bool		restore_aware;

	*extension = OidIsValid(get_extension_oid("pg_flowview", true));
	fv_views_being_restored = false;
	if (!*extension)
		return NIL;
	MemoryContextReset(fv_views_cxt);
	/* restored views: repopulated once their restore is over (restore.c) */
	restore_aware = fv_sql_version() >= 3 && fv_lock_view_catalog();
	if (restore_aware)
		fv_views_being_restored = fv_restores_pending();
	/*
	 * Whether the catalog is in motion (views being populated, a change of
	 * definition pending, a restore): then the worker rereads it every
	 * 250 ms; else only after a commit in this database; and whether any
	 * view has a freshness SLA to sample.
	 */
	if (SPI_execute(psprintf("SELECT EXISTS (SELECT FROM flowview.view_catalog WHERE state NOT IN ('live', 'error'))%s,"
							 " EXISTS (SELECT FROM flowview.view_catalog WHERE freshness_sla IS NOT NULL)",
							 fv_sql_version() >= 3 ? " OR EXISTS (SELECT FROM flowview.view_version_catalog WHERE pending)" : ""),
					true, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "pg_flowview: could not read flowview.view_catalog");
	{
		bool		isnull;

		fv_catalog_in_motion = fv_views_being_restored ||
			DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		fv_any_sla = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	}
	if (SPI_execute(psprintf("SELECT id, view_oid, source_oid, state, time_zone, apply_sql, storage_tables,"
							 " backfill_sql, used_columns, snapshot_xmin, snapshot_xmax, snapshot_xip,"
							 " changed_groups_sql,"
							 " EXISTS (SELECT FROM flowview.alert_catalog a WHERE a.view_oid = c.view_oid),"
							 " %s, minmax = 'rescan', %s"
							 " FROM flowview.view_catalog c WHERE state <> 'error'%s ORDER BY id",
							 fv_sql_version() >= 4 ? "join_sources::pg_catalog.oid[], join_source_columns, join_delta_sql, retain_sql,"
							 " window_sql, advance_sql"
							 : "NULL::pg_catalog.oid[], NULL::text[], NULL::text, NULL::text[], NULL::text, NULL::text[]",
							 fv_sql_version() >= 4 ? "upstream_keys, late_sql, CASE WHEN EXISTS (SELECT FROM flowview.alert_catalog a"
							 " WHERE a.view_oid = c.view_oid AND a.on_close) THEN closed_groups_sql END"
							 : "NULL::text[], NULL::text, NULL::text",
							 restore_aware ? " AND NOT EXISTS (SELECT FROM flowview.restores r WHERE r.view_id = c.id)" : ""),
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read flowview.view_catalog");

	old = MemoryContextSwitchTo(fv_views_cxt);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		FvLiveView *v = palloc0(sizeof(FvLiveView));
		Oid			srcoid = DatumGetObjectId(SPI_getbinval(t, d, 3, &isnull));
		FvSource   *src;
		Datum		xmin;

		v->id = DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
		v->source_oid = srcoid;
		v->view_oid = DatumGetObjectId(SPI_getbinval(t, d, 2, &isnull));
		v->state = SPI_getvalue(t, d, 4);
		v->time_zone = SPI_getvalue(t, d, 5);
		v->apply_sql = fv_text_array_list(SPI_getbinval(t, d, 6, &isnull));
		{
			ListCell   *sc;

			foreach(sc, v->apply_sql)
				v->apply_sql_hash = hash_combine(v->apply_sql_hash,
												 hash_bytes((const unsigned char *) lfirst(sc), strlen(lfirst(sc))));
		}
		v->storage_tables = fv_text_array_list(SPI_getbinval(t, d, 7, &isnull));
		v->backfill_sql = fv_text_array_list(SPI_getbinval(t, d, 8, &isnull));
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

		src = source_of(&sources, srcoid);
		src->views = lappend(src->views, v);
		add_columns(src, fv_text_array_list(SPI_getbinval(t, d, 9, &isnull)));
		v->join_delta_sql = SPI_getvalue(t, d, 17);
		{
			Datum		retain_sql = SPI_getbinval(t, d, 18, &isnull);

			v->retain_sql = isnull ? NIL : fv_text_array_list(retain_sql);
		}
		v->rescan = DatumGetBool(SPI_getbinval(t, d, 21, &isnull));
		v->late_sql = SPI_getvalue(t, d, 23);
		v->closed_groups_sql = SPI_getvalue(t, d, 24);
		v->window_sql = SPI_getvalue(t, d, 19);
		if (v->window_sql != NULL)
		{
			ListCell   *sc;

			v->advance_sql = fv_text_array_list(SPI_getbinval(t, d, 20, &isnull));
			v->advance_sql_hash = hash_bytes((const unsigned char *) v->window_sql, strlen(v->window_sql));
			foreach(sc, v->advance_sql)
				v->advance_sql_hash = hash_combine(v->advance_sql_hash,
												   hash_bytes((const unsigned char *) lfirst(sc), strlen(lfirst(sc))));
		}
		if (v->join_delta_sql != NULL)
			add_join_tables(&sources, src, SPI_getbinval(t, d, 15, &isnull),
							SPI_getbinval(t, d, 16, &isnull));
		{
			Datum		keys = SPI_getbinval(t, d, 22, &isnull);

			if (!isnull)
			{
				src->rollup = true;
				src->upstream_keys = fv_text_array_list(keys);
			}
		}
	}
	MemoryContextSwitchTo(old);
	if (fv_sql_version() >= 4)
		load_feeds(sources);
	old = MemoryContextSwitchTo(fv_views_cxt);
	sources = link_rollups(sources);
	MemoryContextSwitchTo(old);
	return sources;
}

/* The source's delta row layout: used columns as now typed, __sign, __xid. */
void
fv_prepare_source(FvSource *src)
{
	int			i;
	MemoryContext old = MemoryContextSwitchTo(fv_views_cxt);

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
