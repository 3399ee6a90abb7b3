/*-------------------------------------------------------------------------
 *
 * storage_guard.c
 *	  Storage tables change only through pg_flowview.
 *
 * A live view's relations in schema flowview (fv_store_ID, its multisets
 * fv_store_ID_mK, their indexes, fv_out_ID) belong to the view's creator,
 * so that it can GRANT read access; but what is on them decides what the
 * apply worker and refresh_view run and whether the view stays right.  So
 * the ProcessUtility hook (ddl.c) refuses, for every role including
 * superusers, CREATE TRIGGER (any kind, event and timing, constraint
 * triggers too), CREATE RULE, CREATE/ALTER/DROP POLICY, DROP TRIGGER/RULE/INDEX,
 * every ALTER TABLE/INDEX/VIEW (SET SCHEMA, RENAME, OWNER TO,
 * ENABLE/DISABLE TRIGGER or RULE, [NO] FORCE/ENABLE/DISABLE ROW LEVEL
 * SECURITY, columns, constraints, ...), CREATE INDEX and CREATE OR REPLACE
 * VIEW on them.  pg_flowview's own code (create_view handing the storage to
 * its creator, enable_org_security and disable_org_security) runs such DDL
 * between fv_own_ddl_begin and fv_own_ddl_end; extension scripts
 * (ALTER EXTENSION UPDATE) may too, and so may a superuser's restore of a
 * dump while the view is not yet in the catalog or is being restored
 * (fv_restore_allows_ddl in restore.c: the ALTER ... OWNER TO, indexes,
 * policies and row-level security pg_dump wrote for it).  GRANT and REVOKE stay allowed:
 * flowview._sync_grants sets the storage's ACL after each of them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "views/restore.h"
#include "views/runas.h"
#include "views/security.h"

int			fv_own_ddl_suspend(void);
void		fv_own_ddl_resume(int saved);

static int	own_ddl = 0;
static bool xact_callback_registered = false;

static void
own_ddl_xact_callback(XactEvent event, void *arg)
{
	own_ddl = 0;
}

/*
 * An error inside pg_flowview's own DDL may be caught by a subtransaction
 * (a plpgsql EXCEPTION block around enable_org_security, say): the
 * allowance must not outlive it.  pg_flowview's own code runs no
 * subtransaction while it holds the allowance.
 */
static void
own_ddl_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		own_ddl = 0;
}

void
fv_own_ddl_begin(void)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(own_ddl_xact_callback, NULL);
		RegisterSubXactCallback(own_ddl_subxact_callback, NULL);
		xact_callback_registered = true;
	}
	own_ddl++;
}

void
fv_own_ddl_end(void)
{
	if (own_ddl > 0)
		own_ddl--;
}

/* runas.c: no allowance while another role's code may run */
int
fv_own_ddl_suspend(void)
{
	int			saved = own_ddl;

	own_ddl = 0;
	return saved;
}

void
fv_own_ddl_resume(int saved)
{
	own_ddl = saved;
}

/*
 * The live view id of relation relid if it is a live view's storage
 * (flowview.fv_store_*, flowview.fv_out_*, a join view's J flowview.fv_join_*),
 * else -1.
 */
static int
storage_view_id(Oid relid)
{
	Oid			nsp = get_namespace_oid("flowview", true);
	char	   *name;

	if (!OidIsValid(nsp) || !OidIsValid(relid) || get_rel_namespace(relid) != nsp)
		return -1;
	name = get_rel_name(relid);
	if (name == NULL)
		return -1;
	if (strncmp(name, "fv_store_", 9) == 0)
		return atoi(name + 9);
	if (strncmp(name, "fv_out_", 7) == 0)
		return atoi(name + 7);
	if (strncmp(name, "fv_join_", 8) == 0)
		return atoi(name + 8);
	return -1;
}

/* the live view's name, for messages; "ID n" when the catalog does not say */
static char *
view_name(int id)
{
	FvSavedUser saved;
	char	   *name = NULL;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(id)};
	MemoryContext caller_cxt = CurrentMemoryContext;

	fv_become_owner(&saved);
	SPI_connect();
	if (SPI_execute_with_args("SELECT c.view_oid::pg_catalog.regclass::pg_catalog.text"
							  " FROM flowview.view_catalog c WHERE c.id OPERATOR(pg_catalog.=) $1",
							  1, argtypes, args, NULL, true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
		name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (name != NULL)
		name = MemoryContextStrdup(caller_cxt, name);
	SPI_finish();
	fv_restore_user(&saved);
	return name != NULL ? name : psprintf("with id %d", id);
}

static void
check_relation(RangeVar *rv, PlannedStmt *pstmt)
{
	Oid			relid;
	int			id;
	const char *tag;

	if (rv == NULL)
		return;
	relid = RangeVarGetRelid(rv, NoLock, true);
	id = storage_view_id(relid);
	if (id < 0)
		return;
	/* a superuser's restore re-creating what pg_dump wrote (restore.c) */
	if (fv_restore_allows_ddl(id))
		return;
	tag = GetCommandTagName(CreateCommandTag(pstmt->utilityStmt));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s is not allowed on %s, the storage of live view %s",
					tag, quote_qualified_identifier("flowview", get_rel_name(relid)), view_name(id)),
			 errdetail("Only pg_flowview changes a live view's storage: it takes no triggers, rules, policies, indexes or ALTER, from any role."),
			 errhint(IsA(pstmt->utilityStmt, CreatePolicyStmt) || IsA(pstmt->utilityStmt, AlterPolicyStmt) ?
					 "Restrict the view's readers with flowview.enable_org_security() or by GRANT/REVOKE on the view." :
					 "Change the view through pg_flowview: flowview.refresh_view(), flowview.drop_view() and flowview.create_view().")));
}

/* DROP TRIGGER/RULE/POLICY name ON rel (the relation is all but the last name), DROP INDEX */
static void
check_drop(DropStmt *stmt, PlannedStmt *pstmt)
{
	ListCell   *lc;

	if (stmt->removeType != OBJECT_TRIGGER && stmt->removeType != OBJECT_RULE &&
		stmt->removeType != OBJECT_POLICY && stmt->removeType != OBJECT_INDEX)
		return;
	foreach(lc, stmt->objects)
	{
		List	   *names = list_copy(castNode(List, lfirst(lc)));

		/* an index is named itself; the others by relation + name */
		if (stmt->removeType != OBJECT_INDEX)
		{
			if (list_length(names) < 2)
				continue;
			names = list_truncate(names, list_length(names) - 1);
		}
		check_relation(makeRangeVarFromNameList(names), pstmt);
	}
}

void
fv_guard_storage_ddl(PlannedStmt *pstmt)
{
	Node	   *stmt = pstmt->utilityStmt;

	if (own_ddl > 0 || creating_extension)
		return;
	switch (nodeTag(stmt))
	{
		case T_CreateTrigStmt:
			check_relation(((CreateTrigStmt *) stmt)->relation, pstmt);
			break;
		case T_RuleStmt:
			check_relation(((RuleStmt *) stmt)->relation, pstmt);
			break;
		case T_CreatePolicyStmt:
			check_relation(((CreatePolicyStmt *) stmt)->table, pstmt);
			break;
		case T_AlterPolicyStmt:
			check_relation(((AlterPolicyStmt *) stmt)->table, pstmt);
			break;
		case T_AlterTableStmt:
			check_relation(((AlterTableStmt *) stmt)->relation, pstmt);
			break;
		case T_RenameStmt:
			check_relation(((RenameStmt *) stmt)->relation, pstmt);
			break;
		case T_AlterObjectSchemaStmt:
			check_relation(((AlterObjectSchemaStmt *) stmt)->relation, pstmt);
			break;
		case T_IndexStmt:
			check_relation(((IndexStmt *) stmt)->relation, pstmt);
			break;
		case T_ViewStmt:
			if (((ViewStmt *) stmt)->replace)
				check_relation(((ViewStmt *) stmt)->view, pstmt);
			break;
		case T_DropStmt:
			check_drop((DropStmt *) stmt, pstmt);
			break;
		default:
			break;
	}
}
