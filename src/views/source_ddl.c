/*-------------------------------------------------------------------------
 *
 * source_ddl.c
 *	  Changes to the shape of a live view's source: refused, or followed by
 *	  a repopulation of the source's views.
 *
 * A live view is exact only while its source stays what the apply worker
 * can follow: an ordinary (or partitioned) logged table whose every row
 * change reaches the WAL with its old values (REPLICA IDENTITY FULL), and
 * whose rows are exactly those of its partitions.  ddl.c's ProcessUtility
 * hook calls fv_source_ddl_check() before every utility statement and
 * fv_source_ddl_done() after it.  Statements on a source or on a member of
 * its partition tree are
 *
 *	refused (2BP01, naming the views) when the worker could not follow them:
 *	  SET UNLOGGED (unlogged tables are not decoded), an ON SELECT rule
 *	  (turns the table into a view), INHERIT
 *	  onto a source and CREATE TABLE ... INHERITS a source (inheritance
 *	  children are not followed), unlogged or foreign partitions (CREATE ...
 *	  PARTITION OF, ATTACH PARTITION);
 *
 *	followed by a repopulation when they change which rows the source holds
 *	  without a row change in the WAL: ATTACH PARTITION (its rows), DETACH
 *	  PARTITION (also CONCURRENTLY), DROP TABLE of a partition.  The
 *	  statement's own transaction marks the views 'backfilling' (as
 *	  refresh_view does); the apply worker then repopulates them at a batch
 *	  boundary from a snapshot that sees that transaction, and applies only
 *	  what the snapshot did not see (src/README.md, "The backfill seam").
 *	  While a view is 'backfilling' it is not fresh for wait_for_freshness.
 *
 * TRUNCATE of some partitions only is recognised by the worker when it
 * decodes it (worker/batch.c), and handled the same way.  REPLICA IDENTITY
 * other than FULL is set back to FULL at the end of the statement by the
 * event trigger flowview._on_new_partition (extension script).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "pg_flowview.h"
#include "views/ddl.h"
#include "views/security.h"
#include "worker/worker.h"

/*
 * The live views over the source that relid is (or whose partition tree it
 * belongs to), as "schema.view, schema.view"; NULL when none.  The sources
 * concerned (relid and its partition ancestors can each be one) are added
 * to *sources.  Reads flowview.view_catalog as the extension's
 * owner (the DDL's author may not read it).
 */
static char *
views_of(Oid relid, List **sources)
{
	List	   *candidates;
	StringInfoData arr;
	StringInfoData names;
	FvSavedUser saved;
	ListCell   *lc;
	uint64		i;
	MemoryContext saved_cxt;

	if (!OidIsValid(relid) || !OidIsValid(get_extension_oid("pg_flowview", true)))
		return NULL;
	candidates = list_make1_oid(relid);
	if (get_rel_relispartition(relid))
		candidates = list_concat(candidates, get_partition_ancestors(relid));
	initStringInfo(&arr);
	foreach(lc, candidates)
		appendStringInfo(&arr, "%s%u", foreach_current_index(lc) ? "," : "", lfirst_oid(lc));

	initStringInfo(&names);
	saved_cxt = CurrentMemoryContext;
	fv_become_owner(&saved);
	SPI_connect();
	/* a join view's source is its join relation J: found by its tables (0.4) */
	if (SPI_execute(psprintf("SELECT source_oid, view_oid::pg_catalog.regclass::pg_catalog.text"
							 " FROM flowview.view_catalog WHERE source_oid = ANY ('{%s}'::pg_catalog.oid[])%s"
							 " ORDER BY id", arr.data,
							 fv_catalog_has_joins() ?
							 psprintf(" OR join_sources::pg_catalog.oid[] && '{%s}'::pg_catalog.oid[]", arr.data) : ""),
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read flowview.view_catalog");
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			source = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		MemoryContext old = MemoryContextSwitchTo(saved_cxt);

		*sources = list_append_unique_oid(*sources, source);
		MemoryContextSwitchTo(old);
		appendStringInfo(&names, "%s%s", i > 0 ? ", " : "",
						 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
	}
	SPI_finish();
	fv_restore_user(&saved);
	return names.len > 0 ? names.data : NULL;
}

/*
 * Refuse: what is a format with one %s, the table's name ("set table %s
 * unlogged"); views names the live views that read it.
 */
static void
refuse(const char *what, Oid relid, const char *views, const char *detail)
{
	char	   *quoted = psprintf("\"%s\"", get_rel_name(relid));

	ereport(ERROR,
			(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
			 errmsg("cannot %s: live view %s reads it", psprintf(what, quoted), views),
			 errdetail("%s", detail),
			 errhint("Drop the live view (flowview.drop_view) first, or leave the table as it is.")));
}

/* A table that can be a partition of a source: logged, ordinary or partitioned, down its tree. */
static void
check_new_partition(Oid partid, Oid parent, const char *views)
{
	List	   *tree = find_all_inheritors(partid, NoLock, NULL);
	ListCell   *lc;

	foreach(lc, tree)
	{
		Oid			relid = lfirst_oid(lc);
		char		kind = get_rel_relkind(relid);
		HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
		char		persistence;

		if (!HeapTupleIsValid(tup))
			continue;
		persistence = ((Form_pg_class) GETSTRUCT(tup))->relpersistence;
		ReleaseSysCache(tup);
		if (kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE)
			refuse("attach a partition that is not an ordinary table to table %s", parent, views,
				   psprintf("\"%s\" is not an ordinary table: its rows are not in the WAL.", get_rel_name(relid)));
		if (persistence != RELPERSISTENCE_PERMANENT)
			refuse("attach an unlogged partition to table %s", parent, views,
				   psprintf("\"%s\" is unlogged: its changes are not in the WAL.", get_rel_name(relid)));
	}
}

/*
 * fv_source_ddl_check
 *		Before a utility statement: refuse what the worker could not follow
 *		(see the file head).  Returns the sources whose views must be
 *		repopulated once the statement is done (a List of OIDs, NIL mostly);
 *		pass it to fv_source_ddl_done.
 */
List *
fv_source_ddl_check(PlannedStmt *pstmt)
{
	Node	   *parsetree = pstmt->utilityStmt;
	List	   *repopulate = NIL;
	List	   *sources = NIL;	/* of the relation the statement is about */
	List	   *others = NIL;	/* of other relations it names */
	char	   *views;

	if (!IsTransactionState())
		return NIL;

	if (IsA(parsetree, AlterTableStmt))
	{
		AlterTableStmt *stmt = (AlterTableStmt *) parsetree;
		Oid			relid;
		ListCell   *lc;

		if (stmt->objtype != OBJECT_TABLE)
			return NIL;
		relid = RangeVarGetRelid(stmt->relation, NoLock, true);
		if (!OidIsValid(relid) || (views = views_of(relid, &sources)) == NULL)
		{
			/* INHERIT names the source as the other table */
			foreach(lc, stmt->cmds)
			{
				AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

				if (cmd->subtype == AT_AddInherit && OidIsValid(relid))
				{
					Oid			parent = RangeVarGetRelid((RangeVar *) cmd->def, NoLock, true);

					if ((views = views_of(parent, &others)) != NULL)
						refuse("make a table inherit from table %s", parent, views,
							   "Rows of inheritance children are not followed by live views.");
				}
			}
			return NIL;
		}
		foreach(lc, stmt->cmds)
		{
			AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

			switch (cmd->subtype)
			{
				case AT_SetUnLogged:
					refuse("set table %s unlogged", relid, views,
						   "Changes of unlogged tables are not in the WAL, so a live view cannot follow them.");
					break;
				case AT_AddInherit:
					{
						Oid			parent = RangeVarGetRelid((RangeVar *) cmd->def, NoLock, true);
						char	   *pviews = views_of(parent, &others);

						if (pviews != NULL)
							refuse("make a table inherit from table %s", parent, pviews,
								   "Rows of inheritance children are not followed by live views.");
					}
					break;
				case AT_AttachPartition:
					{
						PartitionCmd *pc = (PartitionCmd *) cmd->def;
						Oid			part = RangeVarGetRelid(pc->name, NoLock, true);

						if (OidIsValid(part))
							check_new_partition(part, relid, views);
						repopulate = list_concat_unique_oid(repopulate, sources);
					}
					break;
				case AT_DetachPartition:
				case AT_DetachPartitionFinalize:
					repopulate = list_concat_unique_oid(repopulate, sources);
					break;
				default:
					break;
			}
		}
	}
	else if (IsA(parsetree, CreateStmt) || IsA(parsetree, CreateForeignTableStmt))
	{
		CreateStmt *stmt = (CreateStmt *) parsetree;	/* CreateForeignTableStmt starts with one */
		bool		foreign = IsA(parsetree, CreateForeignTableStmt);
		ListCell   *lc;

		foreach(lc, stmt->inhRelations)
		{
			Oid			parent = RangeVarGetRelid(lfirst_node(RangeVar, lc), NoLock, true);

			if ((views = views_of(parent, &others)) == NULL)
				continue;
			if (stmt->partbound == NULL)
				refuse("make a table inherit from table %s", parent, views,
					   "Rows of inheritance children are not followed by live views.");
			if (foreign)
				refuse("create a foreign partition of table %s", parent, views,
					   "Rows of foreign tables are not in the WAL.");
			if (stmt->relation->relpersistence != RELPERSISTENCE_PERMANENT)
				refuse("create an unlogged partition of table %s", parent, views,
					   "Changes of unlogged tables are not in the WAL.");
		}
	}
	else if (IsA(parsetree, RuleStmt))
	{
		RuleStmt   *stmt = (RuleStmt *) parsetree;

		if (stmt->event == CMD_SELECT &&
			(views = views_of(RangeVarGetRelid(stmt->relation, NoLock, true), &others)) != NULL)
			refuse("turn table %s into a view", RangeVarGetRelid(stmt->relation, NoLock, true), views,
				   "An ON SELECT rule would make the source a view.");
	}
	else if (IsA(parsetree, DropStmt))
	{
		DropStmt   *stmt = (DropStmt *) parsetree;
		ListCell   *lc;

		if (stmt->removeType != OBJECT_TABLE)
			return NIL;
		foreach(lc, stmt->objects)
		{
			Oid			relid = RangeVarGetRelid(makeRangeVarFromNameList(lfirst(lc)), NoLock, true);

			ListCell   *ac;

			/*
			 * The sources above a dropped partition lose its rows.  (A source
			 * itself: its views depend on it, so the drop is refused, or
			 * drops them with CASCADE.)
			 */
			if (!OidIsValid(relid) || !get_rel_relispartition(relid))
				continue;
			foreach(ac, get_partition_ancestors(relid))
				(void) views_of(lfirst_oid(ac), &repopulate);
		}
	}
	return repopulate;
}

/*
 * fv_source_ddl_done
 *		After the statement succeeded: mark the live views of the sources in
 *		the list 'backfilling' in this transaction (logged), and have
 *		the apply worker started (or woken) at commit.
 */
void
fv_source_ddl_done(List *sources)
{
	ListCell   *lc;
	FvSavedUser saved;

	if (sources == NIL || !IsTransactionState() ||
		!OidIsValid(get_extension_oid("pg_flowview", true)))
		return;
	fv_become_owner(&saved);
	SPI_connect();
	foreach(lc, sources)
	{
		uint64		i;

		if (SPI_execute(psprintf("UPDATE flowview.view_catalog SET state = 'backfilling', error = NULL,"
								 " snapshot_xmin = NULL, snapshot_xmax = NULL, snapshot_xip = NULL"
								 " WHERE source_oid = %u AND state <> 'error'"
								 " RETURNING view_oid::pg_catalog.regclass::pg_catalog.text",
								 lfirst_oid(lc)), false, 0) != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "pg_flowview: could not update flowview.view_catalog");
		for (i = 0; i < SPI_processed; i++)
			ereport(LOG,
					(errmsg("live view %s will be repopulated from its source",
							SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1)),
					 errdetail("The partitions of its source table changed.")));
	}
	SPI_finish();
	fv_restore_user(&saved);
	fv_start_worker_at_commit();
}
