/*-------------------------------------------------------------------------
 *
 * security.c
 *	  Securing live views: the privilege checks of create_view, running
 *	  pg_flowview's own work as the extension's owner, and row-level
 *	  security by organisation (flowview.enable_org_security).
 *
 * Who reads what.  A live view NAME is a security_invoker view over
 * flowview.fv_out_ID, itself a security_invoker view over the storage table
 * flowview.fv_store_ID (see create.c).  An analyst's query therefore reads
 * fv_store_ID with the analyst's own privileges and row-level security:
 * that is where enable_org_security puts its policies, and where users put
 * their own.  flowview._sync_grants (SQL) gives SELECT on fv_out_ID and
 * fv_store_ID to exactly the roles that may SELECT from NAME.
 *
 * The organisation policy is
 *
 *	gN = ANY ((SELECT flowview._visible_units())::text[])
 *
 * where gN is the storage column behind the view's org column: the units
 * the current role may see are computed once per query (an initplan) from
 * the closure table, and the comparison with an array parameter is an index
 * condition on gN.  A second policy lets members of flowview_admin see all
 * rows; superusers, BYPASSRLS roles and the table's owner are not subject
 * to row-level security at all (PostgreSQL's rules).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteHandler.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/regproc.h"
#include "utils/rls.h"
#include "utils/syscache.h"

#include "pg_flowview.h"
#include "views/runas.h"
#include "views/feed.h"
#include "views/security.h"

PG_FUNCTION_INFO_V1(fv_visible_units);
PG_FUNCTION_INFO_V1(fv_storage_table);
PG_FUNCTION_INFO_V1(fv_storage_column);
PG_FUNCTION_INFO_V1(fv_enable_org_security);
PG_FUNCTION_INFO_V1(fv_disable_org_security);

/* ----------------------------------------------------------------
 * create_view's checks
 * ----------------------------------------------------------------
 */

static bool
check_function(Oid func, void *context)
{
	Oid			caller = *(Oid *) context;
	HeapTuple	tup;
	Oid			owner;

	if (pg_proc_aclcheck(func, caller, ACL_EXECUTE) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_FUNCTION, get_func_name(func));
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(func));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", func);
	owner = ((Form_pg_proc) GETSTRUCT(tup))->proowner;
	ReleaseSysCache(tup);
	if (!superuser_arg(owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("function %s is owned by role %s, which is not a superuser",
						format_procedure(func), GetUserNameFromId(owner, false)),
				 errdetail("A live view runs its expressions at every batch, as its owner: only functions a superuser installed are trusted for that."),
				 errhint("Have a superuser own the function (ALTER FUNCTION ... OWNER TO), or use built-in functions.")));
	return false;
}

static bool
functions_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, functions_walker, context, 0);
	(void) check_functions_in_node(node, check_function, context);
	return expression_tree_walker(node, functions_walker, context);
}

/*
 * The caller may read used_columns of source (every column a live view
 * reads) and is not subject to its row-level security.
 */
static void
check_source_privileges(Oid source, List *used_columns, Oid caller)
{
	ListCell   *lc;

	if (pg_class_aclcheck(source, caller, ACL_SELECT) != ACLCHECK_OK)
	{
		/* count(*) alone: like SELECT count(*), any column will do */
		if (used_columns == NIL &&
			pg_attribute_aclcheck_all(source, caller, ACL_SELECT, ACLMASK_ANY) != ACLCHECK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for table %s", get_rel_name(source)),
					 errdetail("The query reads no column, but counting rows needs SELECT on the table or on one of its columns, as for SELECT count(*).")));
		foreach(lc, used_columns)
		{
			char	   *column = lfirst(lc);

			if (pg_attribute_aclcheck(source, get_attnum(source, column), caller, ACL_SELECT) != ACLCHECK_OK)
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("permission denied for column \"%s\" of table \"%s\"",
								column, get_rel_name(source)),
						 errdetail("The query reads this column; a live view never shows data its creator cannot read.")));
		}
	}

	if (check_enable_rls(source, InvalidOid, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("table \"%s\" has row-level security that applies to role \"%s\"",
						get_rel_name(source), GetUserNameFromId(caller, false)),
				 errdetail("A live view is maintained from every row of its source, including rows the policies hide from you."),
				 errhint("Create the view as the table's owner or as a role with BYPASSRLS.")));

}

/*
 * create_view sets REPLICA IDENTITY FULL where it is missing (as the
 * extension's owner): only the tables' owner may have that done.
 */
static void
check_replica_identity_owner(Oid source, Oid caller)
{
	ListCell   *lc;

	foreach(lc, find_all_inheritors(source, NoLock, NULL))
	{
		Oid			relid = lfirst_oid(lc);
		HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
		char		ident;

		if (!HeapTupleIsValid(tup))
			continue;
		ident = ((Form_pg_class) GETSTRUCT(tup))->relreplident;
		ReleaseSysCache(tup);
		if (ident != REPLICA_IDENTITY_FULL && !pg_class_ownercheck(relid, caller))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("table \"%s\" needs REPLICA IDENTITY FULL, and only its owner can set that",
							get_rel_name(relid)),
					 errhint("Have the owner run ALTER TABLE %s REPLICA IDENTITY FULL;",
							 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
														get_rel_name(relid)))));
	}
}

void
fv_check_create_privileges(FvViewDef *def, Oid view_namespace)
{
	Oid			caller = GetUserId();
	ListCell   *wc;

	if (pg_namespace_aclcheck(view_namespace, caller, ACL_CREATE) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_SCHEMA, get_namespace_name(view_namespace));

	/* a sliding window's conditions, taken out of the query (analyze.c) */
	foreach(wc, def->temporal)
		(void) functions_walker(((FvTemporal *) lfirst(wc))->expr, &caller);

	if (def->join)
	{
		/* every table of the join, every column read anywhere in the query */
		ListCell   *tc,
				   *cc;

		forboth(tc, def->join->tables, cc, def->join->table_columns)
			check_source_privileges(lfirst_oid(tc), lfirst(cc), caller);
		(void) functions_walker((Node *) def->join->quals, &caller);
		(void) query_tree_walker(def->query, functions_walker, &caller, 0);
		foreach(tc, def->join->rels)	/* functions in FROM */
			(void) functions_walker(((FvJoinRel *) lfirst(tc))->func, &caller);
		foreach(tc, def->join->tables)
			check_replica_identity_owner(lfirst_oid(tc), caller);
	}
	else
	{
		check_source_privileges(def->source, def->used_columns, caller);
		(void) query_tree_walker(def->query, functions_walker, &caller, 0);
		check_replica_identity_owner(def->source, caller);
	}
}

/* ----------------------------------------------------------------
 * Running as the extension's owner
 * ----------------------------------------------------------------
 */

static Oid
flowview_owner(void)
{
	Oid			nsp = get_namespace_oid("flowview", false);
	HeapTuple	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for schema %u", nsp);
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	return owner;
}

void
fv_become_owner(FvSavedUser *saved)
{
	Oid			owner = flowview_owner();

	GetUserIdAndSecContext(&saved->userid, &saved->sec_context);
	SetUserIdAndSecContext(owner, saved->sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	saved->guc_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

void
fv_restore_user(FvSavedUser *saved)
{
	AtEOXact_GUC(true, saved->guc_nestlevel);
	SetUserIdAndSecContext(saved->userid, saved->sec_context);
}

/* ----------------------------------------------------------------
 * Organisation security
 * ----------------------------------------------------------------
 */

/*
 * flowview._visible_units() RETURNS text[]
 *
 * The units assigned to the current role, or to a role whose privileges it
 * has (pg_has_role USAGE: membership with INHERIT), and their descendants.
 * Reads the hierarchy as the extension's owner.
 */
Datum
fv_visible_units(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	Oid			who = GetUserId();
	FvSavedUser saved;
	Datum		args[1] = {ObjectIdGetDatum(who)};
	Datum		result;
	bool		isnull;

	fv_become_owner(&saved);
	SPI_connect();
	if (plan == NULL)
	{
		Oid			argtypes[1] = {OIDOID};
		SPIPlanPtr	p = SPI_prepare("SELECT coalesce(array_agg(DISTINCT c.descendant), '{}')"
									" FROM flowview.org_members m"
									" JOIN pg_catalog.pg_roles r ON r.oid = m.role"
									" JOIN flowview.org_closure c ON c.ancestor = m.unit"
									" WHERE pg_catalog.pg_has_role($1, r.oid, 'USAGE')",
									1, argtypes);

		if (p == NULL)
			elog(ERROR, "pg_flowview: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		plan = p;
	}
	if (SPI_execute_plan(plan, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "pg_flowview: could not read the organisation hierarchy");
	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	result = SPI_datumTransfer(result, false, -1);
	SPI_finish();
	fv_restore_user(&saved);
	PG_RETURN_DATUM(result);
}

/* the catalog id of live view "view", or an error saying it is not one */
static int
live_view_id(Oid view)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(view)};
	bool		isnull;
	int			id;

	SPI_connect();
	if (SPI_execute_with_args("SELECT id FROM flowview.view_catalog WHERE view_oid = $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read the view catalog");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a live view", DatumGetCString(DirectFunctionCall1(regclassout, ObjectIdGetDatum(view)))),
				 errhint("SELECT view FROM flowview.views lists the live views.")));
	id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return id;
}

static Oid
store_oid(int id)
{
	return get_relname_relid(psprintf("fv_store_%d", id), get_namespace_oid("flowview", false));
}

/* the relation and column a plain Var output column "attno" of a view reads; false if not a Var */
static bool
view_column_var(Oid view, AttrNumber attno, Oid *relid, AttrNumber *relattno)
{
	Relation	rel;
	Query	   *q;
	TargetEntry *tle;
	bool		found = false;

	/* (a session view reads its storage table directly: no view below it) */
	if (get_rel_relkind(view) != RELKIND_VIEW)
		return false;
	rel = relation_open(view, AccessShareLock);
	q = get_view_query(rel);
	tle = get_tle_by_resno(q->targetList, attno);

	if (tle != NULL && IsA(tle->expr, Var) && ((Var *) tle->expr)->varlevelsup == 0)
	{
		Var		   *var = (Var *) tle->expr;
		RangeTblEntry *rte = rt_fetch(var->varno, q->rtable);

		if (rte->rtekind == RTE_RELATION)
		{
			*relid = rte->relid;
			*relattno = var->varattno;
			found = true;
		}
	}
	relation_close(rel, AccessShareLock);
	return found;
}

/*
 * The storage column of fv_store_ID behind output column "column" of the
 * live view: a group key column gN; an error for an aggregate.
 */
static char *
storage_column(Oid view, int id, const char *column)
{
	AttrNumber	attno = get_attnum(view, column);
	Oid			out;
	AttrNumber	outattno;
	Oid			store;
	AttrNumber	storeattno;

	if (attno == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of live view \"%s\" does not exist", column, get_rel_name(view))));
	if (!view_column_var(view, attno, &out, &outattno) ||
		!view_column_var(out, outattno, &store, &storeattno) ||
		store != store_oid(id))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" of live view \"%s\" is not a GROUP BY key", column, get_rel_name(view)),
				 errdetail("Rows can be filtered by organisation only on a column the view groups by.")));
	return get_attname(store, storeattno, false);
}

/*
 * Refuse (42501) to say where the data of a view is to a role that may not
 * SELECT from it.  (With the 0.1 definitions, SECURITY DEFINER, this checks
 * the extension's owner; 0.2 makes the functions SECURITY INVOKER.)
 */
static void
check_may_read(Oid view)
{
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(view)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", view)));
	if (pg_class_aclcheck(view, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for view %s", get_rel_name(view)),
				 errdetail("Where a live view keeps its data is shown only to roles that may SELECT from it.")));
}

/* flowview.storage_table(view regclass) RETURNS regclass */
Datum
fv_storage_table(PG_FUNCTION_ARGS)
{
	check_may_read(PG_GETARG_OID(0));
	PG_RETURN_OID(store_oid(live_view_id(PG_GETARG_OID(0))));
}

/*
 * The ids of the live views the current role may see in
 * flowview.view_catalog (its row-level security: the views it may SELECT
 * from; all of them for flowview_admin members and superusers).  For
 * flowview._view_stats().
 */
Bitmapset *
fv_readable_view_ids(void)
{
	Bitmapset  *ids = NULL;
	MemoryContext caller_cxt = CurrentMemoryContext;
	uint64		i;

	SPI_connect();
	if (SPI_execute("SELECT c.id FROM flowview.view_catalog c", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read the view catalog");
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull && DatumGetInt32(d) >= 0)
		{
			MemoryContext old = MemoryContextSwitchTo(caller_cxt);

			ids = bms_add_member(ids, DatumGetInt32(d));
			MemoryContextSwitchTo(old);
		}
	}
	SPI_finish();
	return ids;
}

/* flowview.storage_column(view regclass, column_name name) RETURNS name */
Datum
fv_storage_column(PG_FUNCTION_ARGS)
{
	Oid			view = PG_GETARG_OID(0);
	char	   *column = NameStr(*PG_GETARG_NAME(1));

	check_may_read(view);
	PG_RETURN_DATUM(DirectFunctionCall1(namein,
										CStringGetDatum(storage_column(view, live_view_id(view), column))));
}

/* Has the storage table an index whose first column is g1? */
static bool
has_first_key_index(Oid store)
{
	int			rc = SPI_execute(psprintf("SELECT FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a"
										  " ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
										  " WHERE i.indrelid = %u AND a.attname = 'g1'", store),
								 true, 1);

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read the storage's indexes");
	return SPI_processed > 0;
}

/* drop pg_flowview's policies and index on fv_store_ID, if there */
static void
drop_org_objects(int id)
{
	fv_spi_run(psprintf("DO $$ BEGIN"
				 " IF EXISTS (SELECT FROM pg_policy WHERE polrelid = 'flowview.fv_store_%d'::regclass"
				 "            AND polname = 'flowview_org') THEN"
				 "   DROP POLICY flowview_org ON flowview.fv_store_%d; END IF;"
				 " IF EXISTS (SELECT FROM pg_policy WHERE polrelid = 'flowview.fv_store_%d'::regclass"
				 "            AND polname = 'flowview_org_admin') THEN"
				 "   DROP POLICY flowview_org_admin ON flowview.fv_store_%d; END IF;"
				 " IF to_regclass('flowview.fv_store_%d_org') IS NOT NULL THEN"
				 "   DROP INDEX flowview.fv_store_%d_org; END IF;"
				 " IF EXISTS (SELECT FROM pg_index WHERE indexrelid = to_regclass('flowview.fv_store_%d_g1_idx')"
				 "            AND NOT indisunique) THEN"
				 "   DROP INDEX flowview.fv_store_%d_g1_idx; END IF;"
				 " END $$", id, id, id, id, id, id, id, id));
}

/*
 * flowview.enable_org_security(view regclass, org_column name)
 *
 * SECURITY DEFINER (the extension's owner), search_path pinned.
 */
Datum
fv_enable_org_security(PG_FUNCTION_ARGS)
{
	Oid			view;
	char	   *column;
	int			id;
	Oid			store;
	char	   *col;
	Oid			coltype;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("view and org_column must not be NULL")));
	view = PG_GETARG_OID(0);
	column = NameStr(*PG_GETARG_NAME(1));
	id = live_view_id(view);
	store = store_oid(id);
	col = storage_column(view, id, column);
	coltype = get_atttype(store, get_attnum(store, col));
	if (coltype != TEXTOID && coltype != VARCHAROID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of live view \"%s\" is of type %s, not text", column,
						get_rel_name(view), format_type_be(coltype)),
				 errdetail("Org units are text; the org column must be text or varchar."),
				 errhint("Group by the column cast to text, e.g. GROUP BY region_id::text AS region_id.")));
	fv_org_security_on_store(id, col);
	fv_feed_org_policies(id, column);
	PG_RETURN_VOID();
}

/*
 * See views/security.h: the policies and index of enable_org_security on
 * flowview.fv_store_ID, filtering by its text column col.
 */
void
fv_org_security_on_store(int id, const char *col)
{
	char	   *store_sql = psprintf("flowview.fv_store_%d", id);

	SPI_connect();
	fv_own_ddl_begin();
	fv_spi_run(psprintf("ALTER TABLE %s ENABLE ROW LEVEL SECURITY", store_sql));
	drop_org_objects(id);
	fv_spi_run(psprintf("CREATE POLICY flowview_org ON %s AS PERMISSIVE FOR SELECT TO PUBLIC"
				 " USING (%s = ANY ((SELECT flowview._visible_units())::text[]))",
				 store_sql, quote_identifier(col)));
	fv_spi_run(psprintf("CREATE POLICY flowview_org_admin ON %s AS PERMISSIVE FOR SELECT TO flowview_admin"
				 " USING (true)", store_sql));
	/*
	 * The unique index on the keys serves the first key; others get one, and
	 * so does the first key of a storage indexed by a hash of its keys (see
	 * FV_INDEXABLE_BYTES in create.c), under the name PostgreSQL would give
	 * it (dropped again by drop_org_objects, which leaves unique indexes).
	 */
	if (strcmp(col, "g1") != 0)
		fv_spi_run(psprintf("CREATE INDEX fv_store_%d_org ON %s (%s)", id, store_sql, quote_identifier(col)));
	else if (!has_first_key_index(store_oid(id)))
		fv_spi_run(psprintf("CREATE INDEX fv_store_%d_g1_idx ON %s (g1)", id, store_sql));
	fv_own_ddl_end();
	SPI_finish();
}

/*
 * See views/security.h: the output column of live view "view" (catalog id
 * id) that its organisation security filters by, or NULL.  The policy
 * flowview_org depends on the storage column it reads (pg_depend); the
 * output column is the one that reads that storage column.
 */
char *
fv_org_column(Oid view, int id)
{
	Oid			store = store_oid(id);
	char	   *storecol = NULL;
	int			natts;
	AttrNumber	i;
	char	   *result = NULL;
	MemoryContext caller_cxt = CurrentMemoryContext;
	Relation	rel;

	if (!OidIsValid(store))
		return NULL;
	SPI_connect();
	if (SPI_execute(psprintf("SELECT a.attname::pg_catalog.text FROM pg_catalog.pg_policy p"
							 " JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_policy'::pg_catalog.regclass"
							 " AND d.objid = p.oid AND d.refobjid = p.polrelid AND d.refobjsubid > 0"
							 " JOIN pg_catalog.pg_attribute a ON a.attrelid = p.polrelid AND a.attnum = d.refobjsubid"
							 " WHERE p.polrelid = %u AND p.polname = 'flowview_org'", store),
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read pg_policy");
	if (SPI_processed == 1)
		storecol = MemoryContextStrdup(caller_cxt,
									   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	SPI_finish();
	if (storecol == NULL)
		return NULL;
	rel = relation_open(view, AccessShareLock);
	natts = RelationGetNumberOfAttributes(rel);
	relation_close(rel, AccessShareLock);
	for (i = 1; i <= natts && result == NULL; i++)
	{
		Oid			out;
		AttrNumber	outattno;
		Oid			table;
		AttrNumber	relattno;

		if (view_column_var(view, i, &out, &outattno) &&
			view_column_var(out, outattno, &table, &relattno) &&
			table == store && strcmp(get_attname(store, relattno, false), storecol) == 0)
			result = get_attname(view, i, false);
	}
	return result;
}

/*
 * flowview.disable_org_security(view regclass)
 *
 * Drops the two policies; row-level security stays enabled while the table
 * has other (user-defined) policies.
 */
Datum
fv_disable_org_security(PG_FUNCTION_ARGS)
{
	Oid			view;
	int			id;
	char	   *store_sql;
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1];
	bool		isnull;
	int64		others;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("view must not be NULL")));
	view = PG_GETARG_OID(0);
	id = live_view_id(view);
	store_sql = psprintf("flowview.fv_store_%d", id);
	args[0] = ObjectIdGetDatum(store_oid(id));

	SPI_connect();
	fv_own_ddl_begin();
	drop_org_objects(id);
	if (SPI_execute_with_args("SELECT count(*) FROM pg_catalog.pg_policy WHERE polrelid = $1",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read pg_policy");
	others = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (others == 0)
		fv_spi_run(psprintf("ALTER TABLE %s DISABLE ROW LEVEL SECURITY", store_sql));
	else
		ereport(NOTICE,
				(errmsg("row-level security stays enabled on %s: it has %lld other policies",
						store_sql, (long long) others)));
	fv_own_ddl_end();
	SPI_finish();
	fv_feed_org_policies(id, NULL);
	PG_RETURN_VOID();
}

/* ----------------------------------------------------------------
 * Alert rules: written only through these (flowview_admin has no INSERT or
 * DELETE on flowview.alert_catalog)
 * ----------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(fv_add_alert);
PG_FUNCTION_INFO_V1(fv_drop_alert);

extern Datum fv_alert_condition(PG_FUNCTION_ARGS);

/*
 * flowview._add_alert(name text, view regclass, condition text, channel text)
 *
 * Records a rule owned by the calling role (never another), on a view whose
 * owner's privileges it has (else 42501), with the condition checked and
 * deparsed here (alert.c), not as the caller wrote it.  Called by
 * flowview.create_alert after its own checks; the row is written as the
 * extension's owner.
 */
Datum
fv_add_alert(PG_FUNCTION_ARGS)
{
	Oid			caller = GetUserId();
	Oid			view;
	Datum		cond;
	FvSavedUser saved;
	Oid			argtypes[5] = {TEXTOID, OIDOID, TEXTOID, TEXTOID, OIDOID};
	Datum		args[5];

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("an alert needs a name, a view, a condition and a channel")));
	view = PG_GETARG_OID(1);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(view)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", view)));
	/* 42501 unless the caller has the view owner's privileges */
	cond = DirectFunctionCall2(fv_alert_condition, ObjectIdGetDatum(view), PG_GETARG_DATUM(2));

	args[0] = PG_GETARG_DATUM(0);
	args[1] = ObjectIdGetDatum(view);
	args[2] = cond;
	args[3] = PG_GETARG_DATUM(3);
	args[4] = ObjectIdGetDatum(caller);
	fv_become_owner(&saved);
	SPI_connect();
	if (SPI_execute_with_args("INSERT INTO flowview.alert_catalog (name, view_oid, condition, channel, owner)"
							  " VALUES ($1, $2, $3, $4, $5)", 5, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "pg_flowview: could not record the alert");
	/* 0.4: a rule evaluated when a window of the view closes (views/create.c) */
	if (PG_NARGS() > 4 && !PG_ARGISNULL(4) && PG_GETARG_BOOL(4) &&
		SPI_execute_with_args("UPDATE flowview.alert_catalog SET on_close = true WHERE name = $1",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "pg_flowview: could not record the alert");
	SPI_finish();
	fv_restore_user(&saved);
	PG_RETURN_VOID();
}

/*
 * flowview._drop_alert(alert_id int)
 *
 * Deletes the rule if the calling role has its owner's privileges (else
 * 42501); nothing if there is no such rule.  Called by flowview.drop_alert.
 */
Datum
fv_drop_alert(PG_FUNCTION_ARGS)
{
	Oid			caller = GetUserId();
	FvSavedUser saved;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];
	bool		isnull;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("alert_id must not be NULL")));
	args[0] = PG_GETARG_DATUM(0);
	fv_become_owner(&saved);
	SPI_connect();
	if (SPI_execute_with_args("SELECT a.owner, a.name FROM flowview.alert_catalog a"
							  " WHERE a.id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read the alert catalog");
	if (SPI_processed == 1)
	{
		Oid			owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

		if (!has_privs_of_role(caller, owner))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("must be owner of alert \"%s\"",
							SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2))));
		if (SPI_execute_with_args("DELETE FROM flowview.alert_catalog a WHERE a.id OPERATOR(pg_catalog.=) $1",
								  1, argtypes, args, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "pg_flowview: could not delete the alert");
	}
	SPI_finish();
	fv_restore_user(&saved);
	PG_RETURN_VOID();
}
