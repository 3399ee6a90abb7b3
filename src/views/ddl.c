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
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"

#include "views/ddl.h"

static ProcessUtility_hook_type prev_process_utility = NULL;

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
	}
	systable_endscan(scan);
	table_close(dep, AccessShareLock);
	return result;
}

static void
check_alter_table(AlterTableStmt *stmt)
{
	Oid			relid;
	ListCell   *lc;

	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid))
		return;
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
		AttrNumber	attnum;
		Oid			view;

		if (cmd->subtype != AT_AlterColumnType || cmd->name == NULL)
			continue;
		attnum = get_attnum(relid, cmd->name);
		if (attnum == InvalidAttrNumber)
			continue;
		view = view_reading_column(relid, attnum);
		if (OidIsValid(view))
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("cannot alter type of column \"%s\" of table \"%s\": live view %s reads it",
							cmd->name, get_rel_name(relid),
							quote_qualified_identifier(get_namespace_name(get_rel_namespace(view)),
													   get_rel_name(view))),
					 errhint("Drop the live view (flowview.drop_view), change the column, and create the view again.")));
	}
}

/* RENAME COLUMN of a column a live view reads */
static void
check_rename(RenameStmt *stmt)
{
	Oid			relid;
	AttrNumber	attnum;
	Oid			view;

	if (stmt->renameType != OBJECT_COLUMN || stmt->relation == NULL || stmt->subname == NULL)
		return;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid) || (attnum = get_attnum(relid, stmt->subname)) == InvalidAttrNumber)
		return;
	view = view_reading_column(relid, attnum);
	if (OidIsValid(view))
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot rename column \"%s\" of table \"%s\": live view %s reads it",
						stmt->subname, get_rel_name(relid),
						quote_qualified_identifier(get_namespace_name(get_rel_namespace(view)),
												   get_rel_name(view))),
				 errhint("Drop the live view (flowview.drop_view), rename the column, and create the view again.")));
}

static void
fv_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				   ProcessUtilityContext context, ParamListInfo params,
				   QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	if (IsA(pstmt->utilityStmt, AlterTableStmt))
		check_alter_table((AlterTableStmt *) pstmt->utilityStmt);
	else if (IsA(pstmt->utilityStmt, RenameStmt))
		check_rename((RenameStmt *) pstmt->utilityStmt);
	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context, params,
							 queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
}

void
fv_install_ddl_guard(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = fv_process_utility;
}
