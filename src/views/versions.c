/*-------------------------------------------------------------------------
 *
 * versions.c
 *	  Versioned changes of a live view's definition: flowview.alter_view,
 *	  flowview.rollback_view, and the apply worker's swap.
 *
 * A change never touches the running definition until it is replaced
 * whole.  alter_view (in the caller's transaction, as the caller) checks the
 * new query exactly as create_view does and builds the new definition
 * beside the current one (fv_build_pending_view, create.c): its own storage
 * flowview.fv_store_NEW, flowview.fv_out_NEW and a catalog row in state
 * 'backfilling' whose view_oid is fv_out_NEW, plus a row in
 * flowview.view_version_catalog marked pending.  What must carry over is
 * checked first (alert conditions over the new columns, the organisation
 * security column, views of other users over the view when its columns
 * change), so a change that would lose any of it is refused before anything
 * is built for good; organisation security is put on the new storage at
 * once.
 *
 * The apply worker maintains the pending catalog row like any view: it
 * populates it at a batch boundary from a snapshot S, then applies to it
 * every decoded transaction S did not see, in the same transactions as the
 * current definition.  Once it is populated, fv_versions_step records the
 * WAL insert position as the pending version's ready_lsn: every transaction
 * S saw committed before it.  When the worker has applied everything up to
 * ready_lsn (at a batch boundary: both definitions then reflect exactly the
 * same transactions), fv_versions_step swaps, in one transaction of the
 * worker:
 *
 *	- the user-facing view: CREATE OR REPLACE VIEW over fv_out_NEW when its
 *	  columns keep their names and types (new ones may follow); otherwise
 *	  DROP VIEW and CREATE VIEW under the same name, with its owner,
 *	  GRANTs and comment, and alerts, alert events and SLA samples moved to
 *	  the new OID.  Either way a reader sees the old view or the new one:
 *	  both statements hold the view's AccessExclusiveLock until the commit,
 *	  and a reader blocked on it looks the name up again afterwards;
 *	- the catalog: the old definition's storage dropped, its row deleted,
 *	  the pending row made the view's (SLA, creation time and former OIDs
 *	  carried over, the replaced view's OID added to the latter), grants
 *	  synced to the new storage (flowview._sync_grants);
 *	- the version rows: the pending one becomes current.
 *
 * The worker runs with session_replication_role = replica, so neither the
 * foreign key of alert_catalog (ON DELETE CASCADE) nor the sql_drop event
 * triggers fire on what the swap deletes and drops: the swap moves
 * everything itself.  A swap that cannot get the view's lock within a
 * second (a reader holds it in a long transaction) is retried at the next
 * step; one that fails otherwise, or a pending definition that goes to state
 * error, is abandoned: its storage is dropped and the version row keeps the
 * reason (flowview.view_versions.error).
 *
 * rollback_view builds the latest earlier version that was current the
 * same way, and makes that version row current again.
 *
 * Former OIDs (0.4 SQL objects): a caller's regclass argument is resolved
 * to an OID when its statement is parsed, and a swap replacing the view may
 * commit before the function reads the catalog; after it the OID names
 * nothing, and the name may already be gone from the caches too.  So the
 * swap records the old OID in the view's view_catalog.former_oids, and
 * fv_versions_former maps an OID that no relation has any more to the view
 * that had it: wait_for_freshness, alter_view and rollback_view follow it.
 * (With 0.3's SQL objects wait_for_freshness follows the view by the name
 * it read first, which misses a swap committed before that read.)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "nodes/makefuncs.h"
#include "utils/regproc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "catalog_lock.h"
#include "pg_flowview.h"
#include "views/analyze.h"
#include "views/runas.h"
#include "views/security.h"
#include "views/versions.h"
#include "worker/worker.h"

PG_FUNCTION_INFO_V1(fv_alter_view);
PG_FUNCTION_INFO_V1(fv_rollback_view);

/* The current definition of a live view, as alter_view and rollback_view need it. */
typedef struct FvCurrent
{
	int			id;				/* its view_catalog row */
	int			version;		/* 1 when it has no version rows yet */
	bool		has_versions;
	int			pending;		/* version of a pending change, or 0 */
	char	   *minmax;
	char	   *time_zone;
} FvCurrent;

static char *
view_display_name(Oid view)
{
	return DatumGetCString(DirectFunctionCall1(regclassout, ObjectIdGetDatum(view)));
}

/* See versions.h: 42P01 for a relation that is gone, 42501 for a non-owner. */
void
fv_require_view_owner(Oid view, const char *what)
{
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(view)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", view)));
	if (!pg_class_ownercheck(view, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of live view %s", view_display_name(view)),
				 errdetail("Only the owner of a live view (or a member of its role) may %s.", what)));
}

/*
 * The current definition of live view "view" (as the extension's owner,
 * SPI connected).  42P01 when the relation does not exist, 42809 when it is
 * not a live view (also for a pending definition's fv_out_ID).
 */
static void
current_definition(Oid view, FvCurrent *cur, MemoryContext cxt)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(view)};
	bool		isnull;
	HeapTuple	t;
	TupleDesc	d;
	Datum		v;

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(view)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", view)));
	if (SPI_execute_with_args("SELECT c.id, c.minmax, c.time_zone,"
							  " (SELECT v.version FROM flowview.view_version_catalog v"
							  "   WHERE v.view_oid = c.view_oid AND v.current),"
							  " EXISTS (SELECT FROM flowview.view_version_catalog v WHERE v.view_oid = c.view_oid),"
							  " (SELECT v.version FROM flowview.view_version_catalog v"
							  "   WHERE v.view_oid = c.view_oid AND v.pending),"
							  " EXISTS (SELECT FROM flowview.view_version_catalog v"
							  "   WHERE v.pending AND v.catalog_id = c.id)"
							  " FROM flowview.view_catalog c WHERE c.view_oid = $1",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read the view catalog");
	if (SPI_processed == 1)
	{
		t = SPI_tuptable->vals[0];
		d = SPI_tuptable->tupdesc;
		if (!DatumGetBool(SPI_getbinval(t, d, 7, &isnull)))
		{
			cur->id = DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
			cur->minmax = MemoryContextStrdup(cxt, SPI_getvalue(t, d, 2));
			cur->time_zone = MemoryContextStrdup(cxt, SPI_getvalue(t, d, 3));
			v = SPI_getbinval(t, d, 4, &isnull);
			cur->version = isnull ? 1 : DatumGetInt32(v);
			cur->has_versions = DatumGetBool(SPI_getbinval(t, d, 5, &isnull));
			v = SPI_getbinval(t, d, 6, &isnull);
			cur->pending = isnull ? 0 : DatumGetInt32(v);
			return;
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_WRONG_OBJECT_TYPE),
			 errmsg("\"%s\" is not a live view", view_display_name(view)),
			 errhint("SELECT view FROM flowview.views lists the live views.")));
}

/*
 * Does "select" (the user-facing view's new SELECT) keep every column of
 * view with its name, type, typmod and collation, in order?  Then CREATE OR
 * REPLACE VIEW can take it (new columns may follow).
 */
static bool
select_compatible(Oid view, const char *select)
{
	Relation	rel;
	TupleDesc	old;
	TupleDesc	new;
	bool		ok = true;
	int			i;

	if (SPI_execute(psprintf("SELECT * FROM (%s) s LIMIT 0", select), false, 0) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not describe the new definition");
	new = SPI_tuptable->tupdesc;
	rel = relation_open(view, AccessShareLock);
	old = RelationGetDescr(rel);
	if (new->natts < old->natts)
		ok = false;
	for (i = 0; ok && i < old->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(old, i);
		Form_pg_attribute b = TupleDescAttr(new, i);

		ok = strcmp(NameStr(a->attname), NameStr(b->attname)) == 0 &&
			a->atttypid == b->atttypid && a->atttypmod == b->atttypmod &&
			a->attcollation == b->attcollation;
	}
	relation_close(rel, AccessShareLock);
	return ok;
}

/*
 * Run "sql" (planned, never evaluated: LIMIT 0) as role, read-only in a
 * security-restricted operation (runas.c: planning may fold a function of
 * an alert condition, which must not run with the extension owner's rights),
 * in a subtransaction; on an error return its message (the subtransaction
 * rolled back), else NULL.  *type is the first result column's type.
 */
static char *
try_query(const char *sql, Oid *type, Oid role)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	char	   *message = NULL;

	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		FvRunAs		ra;

		fv_runas_begin(&ra, role, FV_RUNAS_READ_ONLY, NULL);
		SPI_connect();
		if (SPI_execute(sql, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "pg_flowview: could not check: %s", sql);
		*type = SPI_gettypeid(SPI_tuptable->tupdesc, 1);
		SPI_finish();
		fv_runas_end(&ra);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		message = edata->message;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return message;
}

/*
 * Refuse (2BP01) a new definition (catalog row id, user-facing SELECT
 * "select", analysed as def) that what hangs off live view "view" cannot
 * follow: an alert rule whose condition does not work over the new columns
 * (or a view whose groups cannot be named), organisation security by a
 * column the new definition lacks or no longer groups by as text, views
 * over the view when its columns change.  Puts organisation security on the
 * new storage.  SPI connected, as the extension's owner; the checks that
 * plan the user's conditions run as the caller (who owns the new storage).
 */
static void
check_carry_over(Oid view, FvCurrent *cur, int id, const char *select, Oid caller)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(view)};
	SPITupleTable *alerts;
	uint64		nalerts;
	uint64		i;
	bool		isnull;
	bool		groups_named;
	char	   *org;
	char	   *viewname = view_display_name(view);

	if (SPI_execute(psprintf("SELECT changed_groups_sql IS NOT NULL FROM flowview.view_catalog WHERE id = %d", id),
					false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "pg_flowview: could not read the new definition");
	groups_named = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	if (SPI_execute_with_args("SELECT name, condition FROM flowview.alert_catalog WHERE view_oid = $1 ORDER BY id",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read the alert rules");
	alerts = SPI_tuptable;
	nalerts = SPI_processed;
	for (i = 0; i < nalerts; i++)
	{
		char	   *name = SPI_getvalue(alerts->vals[i], alerts->tupdesc, 1);
		char	   *condition = SPI_getvalue(alerts->vals[i], alerts->tupdesc, 2);
		Oid			type = InvalidOid;
		char	   *problem;

		if (!groups_named)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("alert \"%s\" on live view %s would not apply to the new definition", name, viewname),
					 errdetail("A GROUP BY key of the new query is not among its output columns, so its rows cannot name their group."),
					 errhint("Drop the alert first (flowview.drop_alert), or keep every GROUP BY key in the select list.")));
		problem = try_query(psprintf("SELECT (%s) FROM (%s) v LIMIT 0", condition, select), &type, caller);
		if (problem == NULL && type != BOOLOID)
			problem = psprintf("the condition is of type %s, not boolean", format_type_be(type));
		if (problem != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("alert \"%s\" on live view %s would not apply to the new definition", name, viewname),
					 errdetail("Its condition %s over the new columns: %s.", condition, problem),
					 errhint("Drop the alert first (flowview.drop_alert), or keep the columns it uses.")));
	}

	org = fv_org_column(view, cur->id);
	if (org != NULL)
	{
		Oid			type = InvalidOid;
		char	   *col = NULL;
		char	   *problem;

		/* the new storage column behind the same output column */
		problem = try_query(psprintf("SELECT s.%s FROM (%s) s LIMIT 0", quote_identifier(org), select), &type, caller);
		if (problem == NULL)
		{
			char	   *as = psprintf(" AS %s", quote_identifier(org));
			const char *p = strstr(select, as);
			const char *start;

			/* our own SELECT: "o.gN AS col, ..." (see user_view_select in create.c) */
			while (p != NULL && p[strlen(as)] != ',' && p[strlen(as)] != ' ' && p[strlen(as)] != '\0')
				p = strstr(p + 1, as);
			start = p;

			/* "o.gN AS org": the storage's group key column */
			while (start != NULL && start > select && start[-1] != ' ')
				start--;
			if (p != NULL && start != NULL && strncmp(start, "o.g", 3) == 0)
				col = pnstrdup(start + 2, p - start - 2);
			else
				problem = "it is not a GROUP BY key any more";
		}
		if (problem == NULL && type != TEXTOID && type != VARCHAROID)
			problem = psprintf("it is of type %s, not text", format_type_be(type));
		if (problem != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("organisation security of live view %s would not apply to the new definition", viewname),
					 errdetail("Its rows are filtered by column \"%s\": %s.", org, problem),
					 errhint("Keep \"%s\" as a text GROUP BY key in the new query, or run flowview.disable_org_security() first.", org)));
		fv_org_security_on_store(id, col);
	}

	if (!select_compatible(view, select))
	{
		if (SPI_execute_with_args("SELECT string_agg(DISTINCT r.ev_class::pg_catalog.regclass::pg_catalog.text, ', ')"
								  " FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid"
								  " WHERE d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
								  " AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass"
								  " AND d.refobjid = $1 AND r.ev_class <> $1",
								  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "pg_flowview: could not read pg_depend");
		if (SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("live view %s cannot change its columns: other views depend on it", viewname),
					 errdetail("The new definition changes the name or type of a column, so the view must be replaced, and %s read it.",
							   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
					 errhint("Keep the existing columns (new ones may be added at the end), or drop those views first.")));
	}
}

/*
 * alter_view and rollback_view: build "query" beside the current definition
 * of "view" and mark version "target" pending (0: a new version, recorded
 * here).  Returns the pending version.
 */
static int
begin_change(Oid view, const char *query, const char *minmax, const char *tz, int target,
			 FvCurrent *cur)
{
	FvSavedUser saved;
	char	   *select;
	int			id;
	int			version;
	const char *who = GetUserNameFromId(GetUserId(), false);
	Oid			argtypes[8] = {OIDOID, INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID};
	Datum		args[8];
	bool		isnull;

	/* checked and built as the caller, as create_view does */
	id = fv_build_pending_view(view, query, minmax, tz, &select);

	fv_become_owner(&saved);
	SPI_connect();
	check_carry_over(view, cur, id, select, saved.userid);

	/* the definition create_view made becomes version 1 */
	if (!cur->has_versions)
		fv_spi_run(psprintf("INSERT INTO flowview.view_version_catalog (view_oid, version, query, minmax, time_zone,"
					 " changed_by, changed_at, current, activated_at, catalog_id)"
					 " SELECT c.view_oid, 1, c.query, c.minmax, c.time_zone, pg_catalog.pg_get_userbyid(cl.relowner),"
					 " c.created_at, true, c.created_at, c.id"
					 " FROM flowview.view_catalog c JOIN pg_catalog.pg_class cl ON cl.oid = c.view_oid"
					 " WHERE c.id = %d", cur->id));
	args[0] = ObjectIdGetDatum(view);
	args[1] = Int32GetDatum(target);
	args[2] = CStringGetTextDatum(query);
	args[3] = CStringGetTextDatum(minmax);
	args[4] = CStringGetTextDatum(tz);
	args[5] = CStringGetTextDatum(select);
	args[6] = CStringGetTextDatum(who);
	args[7] = Int32GetDatum(id);
	if (target == 0)
	{
		if (SPI_execute_with_args("INSERT INTO flowview.view_version_catalog (view_oid, version, query, minmax,"
								  " time_zone, view_sql, changed_by, pending, requested_by, requested_at, catalog_id)"
								  " SELECT $1, coalesce(max(version), $2) + 1, $3, $4, $5, $6, $7, true, $7, now(), $8"
								  " FROM flowview.view_version_catalog WHERE view_oid = $1 RETURNING version",
								  8, argtypes, args, NULL, false, 1) != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "pg_flowview: could not record the new version");
	}
	else if (SPI_execute_with_args("UPDATE flowview.view_version_catalog SET pending = true, view_sql = $6,"
								   " requested_by = $7, requested_at = now(), catalog_id = $8, ready_lsn = NULL,"
								   " error = NULL"
								   " WHERE view_oid = $1 AND version = $2 AND query = $3 AND minmax = $4"
								   " AND time_zone = $5 RETURNING version",
								   8, argtypes, args, NULL, false, 1) != SPI_OK_UPDATE_RETURNING ||
			 SPI_processed != 1)
		elog(ERROR, "pg_flowview: could not mark version %d pending", target);
	version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	fv_restore_user(&saved);

	/* the worker populates the new definition, then swaps it in */
	fv_start_worker_at_commit();
	return version;
}

/*
 * The checks alter_view and rollback_view share: arguments, SQL objects,
 * a live view the caller owns (42501 otherwise) without a pending change
 * (55006).  An OID the view had before a change of columns stands for the
 * view (fv_versions_former).  Returns the view's OID, locked against other
 * changes; fills *cur (as the extension's owner).
 */
static Oid
check_changeable(FunctionCallInfo fcinfo, const char *what, FvCurrent *cur)
{
	Oid			view;
	FvSavedUser saved;
	MemoryContext cxt = CurrentMemoryContext;
	Oid			now;
	int			follows = 0;

	fv_require_preload(what);
	fv_require_sql_version(3, what);
	view = PG_GETARG_OID(0);
	for (;;)
	{
		/* a view replaced since the caller's statement named it: follow it */
		now = fv_versions_former(view);
		if (OidIsValid(now))
			view = now;
		fv_require_view_owner(view, "change its definition");

		/*
		 * One change of a view at a time: a second alter_view waits here
		 * for the first one's transaction, then sees its pending version
		 * (readers are not blocked; the worker's swap waits for us).  A
		 * swap that replaced the view while we waited dropped it: then
		 * look again (the lock read the invalidations).
		 */
		LockRelationOid(view, ShareRowExclusiveLock);
		if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(view)) || ++follows > 100)
			break;
		UnlockRelationOid(view, ShareRowExclusiveLock);
	}
	fv_become_owner(&saved);
	SPI_connect();
	current_definition(view, cur, cxt);
	/* a new definition would change the rows rollups over it read */
	if (fv_sql_version() >= 4)
	{
		Oid			stypes[1] = {OIDOID};
		Datum		sargs[1] = {ObjectIdGetDatum(view)};

		if (SPI_execute_with_args("SELECT FROM flowview.view_catalog c WHERE c.view_oid = $1 AND c.session_gap IS NOT NULL",
								  1, stypes, sargs, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "pg_flowview: could not read flowview.view_catalog");
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot change the definition of session view %s", view_display_name(view)),
					 errhint("Drop it and create it again with flowview.create_session_view.")));
	}
	if (fv_sql_version() >= 4)
	{
		Oid			argtypes[1] = {OIDOID};
		Datum		args[1] = {ObjectIdGetDatum(view)};

		if (SPI_execute_with_args("SELECT string_agg(c.view_oid::pg_catalog.regclass::text, ', ' ORDER BY c.id)"
								  " FROM flowview.view_catalog c WHERE c.source_oid = $1 AND c.upstream_keys IS NOT NULL",
								  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "pg_flowview: could not read flowview.view_catalog");
		if (SPI_processed == 1 && SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("cannot change the definition of live view %s because other live views read it", view_display_name(view)),
					 errdetail("Live views over it: %s.", SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
					 errhint("Drop them first (flowview.drop_view), change it, and create them again.")));
		if (SPI_execute_with_args("SELECT FROM flowview.feed_catalog f JOIN flowview.view_catalog c ON c.id = f.view_id"
								  " WHERE c.view_oid = $1", 1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "pg_flowview: could not read flowview.feed_catalog");
		if (SPI_processed == 1)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot change the definition of live view %s: it has a changefeed", view_display_name(view)),
					 errdetail("Its readers' cursors and change log are of the current definition."),
					 errhint("Run flowview.disable_changefeed('%s') first, and enable_changefeed again after the change.",
							 view_display_name(view))));
	}
	SPI_finish();
	fv_restore_user(&saved);
	if (cur->pending > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("live view %s already has a pending change (version %d)", view_display_name(view), cur->pending),
				 errdetail("A change is built beside the current definition and swapped in once it has caught up."),
				 errhint("Wait for it: SELECT flowview.wait_for_freshness('%s'); flowview.views shows its state.",
						 view_display_name(view))));
	return view;
}

/*
 * flowview.alter_view(name regclass, new_query text, minmax text DEFAULT NULL)
 * RETURNS int
 *
 * The new version's number.  minmax NULL keeps the current one's.
 */
Datum
fv_alter_view(PG_FUNCTION_ARGS)
{
	Oid			view;
	FvCurrent	cur;
	const char *tz = GetConfigOption("TimeZone", false, false);

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", PG_ARGISNULL(0) ? "view" : "new_query"),
				 errhint("flowview.alter_view(name, new_query) takes a live view and its new defining query.")));
	view = check_changeable(fcinfo, "flowview.alter_view()", &cur);
	PG_RETURN_INT32(begin_change(view, text_to_cstring(PG_GETARG_TEXT_PP(1)),
								 PG_ARGISNULL(2) ? cur.minmax : text_to_cstring(PG_GETARG_TEXT_PP(2)),
								 tz, 0, &cur));
}

/*
 * flowview.rollback_view(name regclass) RETURNS int
 *
 * Back to the latest version before the current one that was current
 * itself (a change abandoned before its swap never was), built and swapped
 * in as alter_view's; returns its number.  55000 when there is none.
 */
Datum
fv_rollback_view(PG_FUNCTION_ARGS)
{
	Oid			view;
	FvCurrent	cur;
	FvSavedUser saved;
	Oid			argtypes[2] = {OIDOID, INT4OID};
	Datum		args[2];
	char	   *query = NULL;
	char	   *minmax = NULL;
	char	   *tz = NULL;
	int			target = 0;
	MemoryContext cxt = CurrentMemoryContext;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("view must not be null")));
	view = check_changeable(fcinfo, "flowview.rollback_view()", &cur);
	args[0] = ObjectIdGetDatum(view);
	args[1] = Int32GetDatum(cur.version);
	fv_become_owner(&saved);
	SPI_connect();
	if (SPI_execute_with_args("SELECT version, query, minmax, time_zone FROM flowview.view_version_catalog"
							  " WHERE view_oid = $1 AND version < $2 AND activated_at IS NOT NULL"
							  " ORDER BY version DESC LIMIT 1",
							  2, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read the view's versions");
	if (SPI_processed == 1)
	{
		bool		isnull;
		MemoryContext old = MemoryContextSwitchTo(cxt);

		target = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		query = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		minmax = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
		tz = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	fv_restore_user(&saved);
	if (target == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("live view %s has no previous version to roll back to", view_display_name(view)),
				 errdetail("It runs version %d, and no earlier version was ever current.", cur.version),
				 errhint("SELECT * FROM flowview.view_versions WHERE view = '%s' lists its versions.",
						 view_display_name(view))));
	PG_RETURN_INT32(begin_change(view, query, minmax, tz, target, &cur));
}

/* ----------------------------------------------------------------
 * wait_for_freshness
 * ----------------------------------------------------------------
 */

/* See views/versions.h. */
int64
fv_versions_pending(Oid view, bool first)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(view)};
	int64		n = 0;
	uint64		i;

	SPI_connect();
	if (SPI_execute_with_args("SELECT view_oid, xmin FROM flowview.view_version_catalog"
							  " WHERE pending AND ($1 = 0 OR view_oid = $1)",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read flowview.view_version_catalog");
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		TransactionId xmin = DatumGetTransactionId(SPI_getbinval(SPI_tuptable->vals[i],
																  SPI_tuptable->tupdesc, 2, &isnull));

		if (first && TransactionIdIsCurrentTransactionId(xmin))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the change of live view \"%s\" is built only after this transaction commits",
							get_rel_name(DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																		 SPI_tuptable->tupdesc, 1, &isnull)))),
					 errdetail("alter_view or rollback_view ran in this transaction; the apply worker cannot see it yet."),
					 errhint("Commit first, then call flowview.wait_for_freshness().")));
		n++;
	}
	SPI_finish();
	return n;
}

/* See views/versions.h. */
char *
fv_versions_view_name(Oid view)
{
	char	   *rel = get_rel_name(view);

	return rel ? quote_qualified_identifier(get_namespace_name(get_rel_namespace(view)), rel) : NULL;
}

/* See views/versions.h. */
bool
fv_versions_follow(const char *name, Oid *view)
{
	Oid			now = RangeVarGetRelid(makeRangeVarFromNameList(stringToQualifiedNameList(name)),
									   NoLock, true);

	if (!OidIsValid(now) || now == *view)
		return false;
	*view = now;
	return true;
}

/* See views/versions.h. */
Oid
fv_versions_former(Oid oid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(oid)};
	Oid			view = InvalidOid;
	bool		isnull;

	if (!OidIsValid(oid) || fv_sql_version() < 4)
		return InvalidOid;
	SPI_connect();
	/* read_only = false: a new snapshot, which sees a swap committed meanwhile */
	if (SPI_execute_with_args("SELECT c.view_oid FROM flowview.view_catalog c"
							  " WHERE $1 OPERATOR(pg_catalog.=) ANY (c.former_oids)"
							  " AND NOT EXISTS (SELECT FROM pg_catalog.pg_class r WHERE r.oid OPERATOR(pg_catalog.=) $1)"
							  " ORDER BY c.id DESC LIMIT 1",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read flowview.view_catalog");
	if (SPI_processed == 1)
		view = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return view;
}

/* ----------------------------------------------------------------
 * The apply worker's swap
 * ----------------------------------------------------------------
 */

/*
 * Drop the storage of catalog row id (the worker's event triggers do not
 * fire: objects as flowview._on_drop would drop them), delete the row and
 * forget its statistics.  SPI connected, pg_flowview's DDL allowance held.
 */
static void
drop_definition(int id)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	bool		isnull;

	if (SPI_execute(psprintf("SELECT objects FROM flowview.view_catalog WHERE id = %d", id), false, 1) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read the view catalog");
	if (SPI_processed == 1)
	{
		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)),
						  TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		for (i = 0; i < n; i++)
			fv_spi_run(psprintf("DROP %s", TextDatumGetCString(elems[i])));
	}
	fv_spi_run(psprintf("DELETE FROM flowview.view_catalog WHERE id = %d", id));
	fv_spi_run(psprintf("SELECT flowview._forget_stats(%d)", id));
}

/*
 * Replace live view "view" by its pending version (see the file head).  In
 * the worker's transaction, view_catalog locked, SPI connected.  Returns
 * the view's OID afterwards.
 */
static Oid
swap(Oid view, int version)
{
	Oid			argtypes[2] = {OIDOID, INT4OID};
	Datum		args[2] = {ObjectIdGetDatum(view), Int32GetDatum(version)};
	HeapTuple	t;
	TupleDesc	d;
	bool		isnull;
	int			new_id;
	int			old_id;
	char	   *select;
	Oid			out_oid;
	Oid			source;
	List	   *used = NIL;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	Oid			newv = view;
	char	   *qualified;
	const char *former = "";

	if (SPI_execute_with_args("SELECT v.catalog_id, v.view_sql, c.view_oid, c.source_oid, c.used_columns,"
							  " (SELECT o.id FROM flowview.view_catalog o WHERE o.view_oid = v.view_oid)"
							  " FROM flowview.view_version_catalog v JOIN flowview.view_catalog c ON c.id = v.catalog_id"
							  " WHERE v.view_oid = $1 AND v.version = $2 AND v.pending AND c.state = 'live'",
							  2, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read the pending version");
	if (SPI_processed != 1)
		return InvalidOid;		/* changed meanwhile: the next step sees it */
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	new_id = DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
	select = SPI_getvalue(t, d, 2);
	out_oid = DatumGetObjectId(SPI_getbinval(t, d, 3, &isnull));
	source = DatumGetObjectId(SPI_getbinval(t, d, 4, &isnull));
	deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(t, d, 5, &isnull)), TEXTOID, -1, false,
					  TYPALIGN_INT, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
		used = lappend(used, TextDatumGetCString(elems[i]));
	old_id = DatumGetInt32(SPI_getbinval(t, d, 6, &isnull));
	if (isnull)
		return InvalidOid;

	/* readers finish their statements; a long transaction makes us retry */
	LockRelationOid(view, AccessExclusiveLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(view)))
		return InvalidOid;
	qualified = quote_qualified_identifier(get_namespace_name(get_rel_namespace(view)),
										   get_rel_name(view));

	/* the view's source dependencies are the new definition's from now on */
	deleteDependencyRecordsForClass(RelationRelationId, view, RelationRelationId, DEPENDENCY_NORMAL);
	deleteDependencyRecordsForClass(RelationRelationId, out_oid, RelationRelationId, DEPENDENCY_NORMAL);
	deleteDependencyRecordsForClass(RelationRelationId, out_oid, RelationRelationId, DEPENDENCY_AUTO);
	CommandCounterIncrement();

	if (select_compatible(view, select))
		fv_spi_run(psprintf("CREATE OR REPLACE VIEW %s WITH (security_invoker = true) AS %s", qualified, select));
	else
	{
		List	   *keep = NIL;
		ListCell   *lc;
		uint64		k;

		/* owner, GRANTs and comment, as statements for the new view */
		if (SPI_execute(psprintf("SELECT format('ALTER VIEW %%s OWNER TO %%I', $q$%s$q$, pg_catalog.pg_get_userbyid(c.relowner))"
								 " FROM pg_catalog.pg_class c WHERE c.oid = %u"
								 " UNION ALL"
								 " SELECT format('GRANT %%s ON %%s TO %%s%%s', a.privilege_type, $q$%s$q$,"
								 "   CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END,"
								 "   CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)"
								 " FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a"
								 " WHERE c.oid = %u AND a.grantee <> c.relowner"
								 " UNION ALL"
								 " SELECT format('COMMENT ON VIEW %%s IS %%L', $q$%s$q$, d.description)"
								 " FROM pg_catalog.pg_description d"
								 " WHERE d.objoid = %u AND d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objsubid = 0",
								 qualified, view, qualified, view, qualified, view), false, 0) != SPI_OK_SELECT)
			elog(ERROR, "pg_flowview: could not read the view's owner and privileges");
		for (k = 0; k < SPI_processed; k++)
			keep = lappend(keep, SPI_getvalue(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 1));
		fv_spi_run(psprintf("DROP VIEW %s", qualified));
		newv = fv_create_user_view(qualified, select);
		foreach(lc, keep)
			fv_spi_run(lfirst(lc));
		fv_spi_run(psprintf("UPDATE flowview.alert_catalog SET view_oid = %u WHERE view_oid = %u", newv, view));
		fv_spi_run(psprintf("UPDATE flowview.alert_events SET view = %u::oid::regclass WHERE view = %u::oid::regclass",
					 newv, view));
		fv_spi_run(psprintf("UPDATE flowview.sla_samples SET view_oid = %u WHERE view_oid = %u", newv, view));
		fv_spi_run(psprintf("UPDATE flowview.view_version_catalog SET view_oid = %u WHERE view_oid = %u", newv, view));
	}
	fv_record_source_dependencies(newv, source, used);

	/*
	 * The old definition goes; the new one takes its place and settings,
	 * and (0.4) the view's former OIDs, with the replaced view's if it was
	 * (a reused OID is taken from whichever view had it before).
	 */
	if (fv_sql_version() >= 4 && newv != view)
	{
		fv_spi_run(psprintf("UPDATE flowview.view_catalog SET former_oids = pg_catalog.array_remove(former_oids, %u::pg_catalog.oid)"
					 " WHERE %u::pg_catalog.oid OPERATOR(pg_catalog.=) ANY (former_oids)", view, view));
		former = psprintf(", former_oids = pg_catalog.array_append(o.former_oids, %u::pg_catalog.oid)", view);
	}
	else if (fv_sql_version() >= 4)
		former = ", former_oids = o.former_oids";
	fv_spi_run(psprintf("UPDATE flowview.view_catalog n SET freshness_sla = o.freshness_sla, sla_breached = o.sla_breached,"
				 " created_at = o.created_at%s FROM flowview.view_catalog o WHERE n.id = %d AND o.id = %d",
				 former, new_id, old_id));
	drop_definition(old_id);
	fv_spi_run(psprintf("UPDATE flowview.view_catalog SET view_oid = %u WHERE id = %d", newv, new_id));
	fv_spi_run(psprintf("UPDATE flowview.view_version_catalog SET current = false, catalog_id = NULL"
				 " WHERE view_oid = %u AND current", newv));
	fv_spi_run(psprintf("UPDATE flowview.view_version_catalog SET current = true, pending = false,"
				 " activated_at = now(), ready_lsn = NULL, error = NULL"
				 " WHERE view_oid = %u AND version = %d", newv, version));
	fv_spi_run(psprintf("SELECT flowview._sync_grants(%u)", newv));
	return newv;
}

/*
 * Abandon the pending version of "view" (its storage dropped, the reason
 * kept in its version row).  In the worker's transaction, view_catalog
 * locked, SPI connected, DDL allowance held.
 */
static void
abandon(Oid view, int version, const char *reason)
{
	Oid			argtypes[3] = {OIDOID, INT4OID, TEXTOID};
	Datum		args[3] = {ObjectIdGetDatum(view), Int32GetDatum(version), CStringGetTextDatum(reason)};
	bool		isnull;

	if (SPI_execute_with_args("UPDATE flowview.view_version_catalog SET pending = false, ready_lsn = NULL, error = $3"
							  " WHERE view_oid = $1 AND version = $2 AND pending RETURNING catalog_id",
							  3, argtypes, args, NULL, false, 1) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "pg_flowview: could not abandon version %d", version);
	if (SPI_processed == 1)
	{
		Datum		id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			drop_definition(DatumGetInt32(id));
	}
	fv_spi_run(psprintf("UPDATE flowview.view_version_catalog SET catalog_id = NULL"
				 " WHERE view_oid = %u AND version = %d", view, version));
}

/*
 * One swap or abandonment in a transaction of its own; errors are caught:
 * a lock timeout is retried at the next step, anything else abandons the
 * change.
 */
static void
swap_or_abandon(Oid view, int version, const char *reason)
{
	MemoryContext cxt = CurrentMemoryContext;
	ErrorData  *edata = NULL;
	volatile Oid newv = InvalidOid;
	char	   *volatile name = NULL;

	PG_TRY();
	{
		StartTransactionCommand();
		if (fv_lock_view_catalog())
		{
			SPI_connect();
			PushActiveSnapshot(GetTransactionSnapshot());
			(void) set_config_option("lock_timeout", "1s", PGC_SUSET, PGC_S_SESSION,
									 GUC_ACTION_LOCAL, true, 0, false);
			fv_own_ddl_begin();
			name = fv_versions_view_name(view);
			if (reason != NULL)
				abandon(view, version, reason);
			else
				newv = swap(view, version);
			fv_own_ddl_end();
			name = name ? MemoryContextStrdup(cxt, name) : psprintf("with OID %u", view);
			PopActiveSnapshot();
			SPI_finish();
		}
		CommitTransactionCommand();
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
	{
		if (reason != NULL)
			ereport(WARNING,
					(errmsg("pg_flowview: the change of live view %s to version %d was abandoned: %s",
							name, version, reason),
					 errhint("Fix the cause and call flowview.alter_view() again.")));
		else if (OidIsValid(newv))
			ereport(LOG,
					(errmsg("pg_flowview: live view %s now runs version %d", name, version)));
		return;
	}
	if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE)
	{
		ereport(LOG,
				(errmsg("pg_flowview: swapping live view %u to version %d waits for its readers: %s",
						view, version, edata->message)));
		FreeErrorData(edata);
		return;
	}
	if (reason == NULL)
	{
		char	   *msg = pstrdup(edata->message);

		FreeErrorData(edata);
		swap_or_abandon(view, version, msg);
		return;
	}
	/* could not even abandon it: say so, and try again at the next step */
	ereport(WARNING,
			(errmsg("pg_flowview: could not abandon the change of live view %u to version %d: %s",
					view, version, edata->message)));
	FreeErrorData(edata);
}

/* See views/versions.h. */
void
fv_versions_step(void)
{
	static MemoryContext cxt = NULL;
	MemoryContext old;
	bool		running;
	XLogRecPtr	applied = fv_worker_applied_lsn(MyDatabaseId, &running);
	List	   *views = NIL;
	List	   *versions = NIL;
	List	   *reasons = NIL;
	ListCell   *a;
	ListCell   *b;
	ListCell   *c;
	uint64		i;

	if (cxt == NULL)
		cxt = AllocSetContextCreate(TopMemoryContext, "pg_flowview versions", ALLOCSET_SMALL_SIZES);
	MemoryContextReset(cxt);

	StartTransactionCommand();
	if (fv_sql_version() < 3 || !fv_lock_view_catalog())
	{
		CommitTransactionCommand();
		return;
	}
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	/*
	 * A populated pending definition is ready once the worker passes what
	 * its snapshot saw; one populated again (a partition attached to its
	 * source, say) waits for its new snapshot.
	 */
	fv_spi_run("UPDATE flowview.view_version_catalog v SET ready_lsn = CASE WHEN c.state = 'live'"
		" THEN pg_catalog.pg_current_wal_insert_lsn() END"
		" FROM flowview.view_catalog c"
		" WHERE v.pending AND c.id = v.catalog_id"
		" AND (v.ready_lsn IS NULL) = (c.state = 'live')");
	{
		Oid			argtypes[1] = {LSNOID};
		Datum		args[1] = {LSNGetDatum(applied)};

		if (SPI_execute_with_args("SELECT v.view_oid, v.version, CASE WHEN c.state = 'error' THEN"
								  " coalesce(c.error, 'the new definition could not be populated') END"
								  " FROM flowview.view_version_catalog v JOIN flowview.view_catalog c ON c.id = v.catalog_id"
								  " WHERE v.pending AND (c.state = 'error' OR v.ready_lsn <= $1)",
								  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "pg_flowview: could not read flowview.view_version_catalog");
	}
	old = MemoryContextSwitchTo(cxt);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		char	   *reason = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);

		views = lappend_oid(views, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																  SPI_tuptable->tupdesc, 1, &isnull)));
		versions = lappend_int(versions, DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
																	 SPI_tuptable->tupdesc, 2, &isnull)));
		reasons = lappend(reasons, reason ? pstrdup(reason) : NULL);
	}
	MemoryContextSwitchTo(old);
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();

	/* (!running: not yet published; nothing is ready before the first batch) */
	forthree(a, views, b, versions, c, reasons)
		if (running || lfirst(c) != NULL)
			swap_or_abandon(lfirst_oid(a), lfirst_int(b), lfirst(c));
}
