/*-------------------------------------------------------------------------
 *
 * ddl.c
 *	  Guarding live views against DDL on their source tables.
 *
 * A live view depends on its source table and on the columns it reads
 * (pg_depend entries recorded by create_view), so PostgreSQL itself refuses
 * DROP TABLE and DROP COLUMN naming the view, and CASCADE drops it.  One
 * case PostgreSQL does not report well: ALTER COLUMN TYPE of a column a view
 * reads fails with an internal error ("unexpected object depending on
 * column"), and RENAME COLUMN would silently break the view's stored SQL.
 * This ProcessUtility hook refuses both first, with a message naming the
 * view.  Renaming the source table itself is fine: views find it by OID.
 * The same hook refuses DDL on live views' storage (storage_guard.c).
 * The same hook calls source_ddl.c around every statement for changes of a
 * source's shape (unlogged, replica identity, partitions, inheritance),
 * and worker/dropdb.c around DROP DATABASE (the apply worker lets go of
 * its slot, and the database's replication origin goes too).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"

#include "views/ddl.h"
#include "views/runas.h"
#include "views/security.h"
#include "views/analyze.h"
#include "worker/worker.h"

static ProcessUtility_hook_type prev_process_utility = NULL;

/* The relation whose rule ruleid is, or InvalidOid */
static Oid
rule_view(Oid ruleid)
{
	Relation	rel = table_open(RewriteRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			result = InvalidOid;

	ScanKeyInit(&key, Anum_pg_rewrite_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(ruleid));
	scan = systable_beginscan(rel, RewriteOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		result = ((Form_pg_rewrite) GETSTRUCT(tup))->ev_class;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}

/* A live view (a view depending on the column through pg_class) reading relid.attnum */
static Oid
view_reading_column(Oid relid, AttrNumber attnum)
{
	Relation	dep = table_open(DependRelationId, AccessShareLock);
	ScanKeyData key[3];
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			result = InvalidOid;

	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RelationRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	ScanKeyInit(&key[2], Anum_pg_depend_refobjsubid, BTEqualStrategyNumber, F_INT4EQ,
				Int32GetDatum(attnum));
	scan = systable_beginscan(dep, DependReferenceIndexId, true, NULL, 3, key);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		Form_pg_depend d = (Form_pg_depend) GETSTRUCT(tup);

		if (d->classid == RelationRelationId && get_rel_relkind(d->objid) == RELKIND_VIEW)
		{
			result = d->objid;
			break;
		}
		/*
		 * a join view's join relation reads the column through its rule: the
		 * delta statement names the columns, so they must keep their names
		 */
		if (d->classid == RewriteRelationId)
		{
			Oid			ev_class = rule_view(d->objid);

			if (OidIsValid(ev_class) && fv_is_join_relation(ev_class))
			{
				result = ev_class;
				break;
			}
		}
	}
	systable_endscan(scan);
	table_close(dep, AccessShareLock);
	return result;
}

/*
 * Refuse to "verb" column of relation rv if a live view reads it.  verb is
 * "alter type of" or "rename", and what the hint tells the user to do.
 */
static void
refuse_if_read(RangeVar *rv, const char *column, const char *verb, const char *todo)
{
	Oid			relid = RangeVarGetRelid(rv, NoLock, true);
	AttrNumber	attnum;
	Oid			view;

	if (!OidIsValid(relid) || column == NULL ||
		(attnum = get_attnum(relid, column)) == InvalidAttrNumber)
		return;
	view = view_reading_column(relid, attnum);
	if (OidIsValid(view) && fv_is_join_relation(view))
	{
		/* name the join view, not its join relation */
		FvSavedUser saved;
		Oid			argtypes[1] = {OIDOID};
		Datum		args[1] = {ObjectIdGetDatum(view)};
		bool		isnull;

		fv_become_owner(&saved);
		SPI_connect();
		if (SPI_execute_with_args("SELECT view_oid FROM flowview.view_catalog WHERE source_oid = $1",
								  1, argtypes, args, NULL, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
			view = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		SPI_finish();
		fv_restore_user(&saved);
	}
	if (OidIsValid(view))
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot %s column \"%s\" of table \"%s\": live view %s reads it",
						verb, column, get_rel_name(relid),
						quote_qualified_identifier(get_namespace_name(get_rel_namespace(view)),
												   get_rel_name(view))),
				 errhint("Drop the live view (flowview.drop_view), %s the column, and create the view again.",
						 todo)));
}

static void
fv_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				   ProcessUtilityContext context, ParamListInfo params,
				   QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	List	   *repopulate;
	Oid			dropped_db = InvalidOid;

	/* DROP DATABASE: its apply worker lets go of its slot first (worker/dropdb.c) */
	if (IsA(pstmt->utilityStmt, DropdbStmt))
	{
		/* dropdb's own refusal, before the worker is stopped for nothing */
		PreventInTransactionBlock(context == PROCESS_UTILITY_TOPLEVEL, "DROP DATABASE");
		dropped_db = fv_dropdb_before((DropdbStmt *) pstmt->utilityStmt);
	}

	/* live views' storage changes only through pg_flowview (storage_guard.c) */
	fv_guard_storage_ddl(pstmt);
	/* source shape changes: refused, or their views repopulated (source_ddl.c) */
	repopulate = fv_source_ddl_check(pstmt);

	if (IsA(pstmt->utilityStmt, AlterTableStmt))
	{
		AlterTableStmt *stmt = (AlterTableStmt *) pstmt->utilityStmt;
		ListCell   *lc;

		foreach(lc, stmt->cmds)
		{
			AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

			if (cmd->subtype == AT_AlterColumnType)
				refuse_if_read(stmt->relation, cmd->name, "alter type of", "change");
		}
	}
	else if (IsA(pstmt->utilityStmt, RenameStmt))
	{
		RenameStmt *stmt = (RenameStmt *) pstmt->utilityStmt;

		if (stmt->renameType == OBJECT_COLUMN && stmt->relation != NULL)
			refuse_if_read(stmt->relation, stmt->subname, "rename", "rename");
	}
	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context, params,
							 queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
	fv_source_ddl_done(repopulate);
	if (OidIsValid(dropped_db))
		fv_dropdb_after(dropped_db);
}

void
fv_install_ddl_guard(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = fv_process_utility;
}
