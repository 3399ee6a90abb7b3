/*-------------------------------------------------------------------------
 *
 * runas.c
 *	  Running SQL for a live view or an alert rule as its owner.
 *
 * The apply worker connects as the bootstrap superuser, and refresh_view
 * runs as the extension's owner; nothing another role controls may run with
 * those rights.  Every statement run for a view (apply, backfill, the
 * recompute that catches up, refresh_view, create_view's first fill) and
 * every alert condition goes through fv_runas_begin/fv_runas_end, which does
 * what REFRESH MATERIALIZED VIEW does (src/backend/commands/matview.c):
 *
 *	- SetUserIdAndSecContext(owner, ... | SECURITY_RESTRICTED_OPERATION):
 *	  functions, operators, index expressions and triggers run as the owner;
 *	  SET ROLE, RESET ROLE, SET SESSION AUTHORIZATION and temporary objects
 *	  are refused however deeply they are called;
 *	- a GUC nest level with search_path = pg_catalog, pg_temp (as
 *	  PostgreSQL 17's RestrictSearchPath), so no schema an other role can
 *	  create objects in is searched; generated SQL names everything outside
 *	  pg_catalog with its schema, and operators and functions of pg_catalog
 *	  need no qualification under this path;
 *	- for writes to storage, session_replication_role = replica, as
 *	  PostgreSQL's logical replication apply worker: no ordinary trigger or
 *	  rule fires on the tables written (storage_guard.c refuses triggers and
 *	  rules on storage altogether; this covers older ones);
 *	- for alert conditions, transaction_read_only = on: a condition only
 *	  evaluates;
 *	- the settings are discarded (AtEOXact_GUC(false)), not kept, at the end.
 *
 * The owner of a view is the owner of its storage table (its creator:
 * storage_guard.c refuses OWNER TO on storage); the owner of an alert rule
 * is the role that created it (flowview.alert_catalog.owner, written only
 * by flowview._add_alert).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "views/runas.h"

/* storage_guard.c: the allowance for pg_flowview's own DDL, withdrawn here */
extern int	fv_own_ddl_suspend(void);
extern void fv_own_ddl_resume(int saved);

PG_FUNCTION_INFO_V1(fv_run_as_view_owner);
PG_FUNCTION_INFO_V1(fv_alert_eval);

static void
set_local(const char *name, const char *value)
{
	(void) set_config_option(name, value, PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

void
fv_runas_begin(FvRunAs *ra, Oid role, int flags, const char *time_zone)
{
	GetUserIdAndSecContext(&ra->saved_userid, &ra->saved_sec_context);
	ra->saved_own_ddl = fv_own_ddl_suspend();
	ra->guc_nestlevel = NewGUCNestLevel();
	set_local("search_path", "pg_catalog, pg_temp");
	if (time_zone != NULL)
		set_local("TimeZone", time_zone);
	if (flags & FV_RUNAS_STORAGE)
		set_local("session_replication_role", "replica");
	if (flags & FV_RUNAS_READ_ONLY)
		set_local("transaction_read_only", "on");
	SetUserIdAndSecContext(role, ra->saved_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

void
fv_runas_end(FvRunAs *ra)
{
	AtEOXact_GUC(false, ra->guc_nestlevel);
	SetUserIdAndSecContext(ra->saved_userid, ra->saved_sec_context);
	fv_own_ddl_resume(ra->saved_own_ddl);
}

Oid
fv_view_runas_role(int view_id)
{
	Oid			nsp = get_namespace_oid("flowview", false);
	Oid			store = get_relname_relid(psprintf("fv_store_%d", view_id), nsp);
	HeapTuple	tup;
	Oid			owner;

	/*
	 * The 0.1 SQL objects (before ALTER EXTENSION UPDATE) do not let view
	 * owners execute flowview._reread, which the apply calls: run as the
	 * caller there, as 0.1 did (still restricted, with the pinned path).
	 */
	if (!OidIsValid(LookupFuncName(list_make2(makeString("flowview"), makeString("_run_as_view_owner")),
								   -1, NULL, true)))
		return GetUserId();

	if (!OidIsValid(store) || !HeapTupleIsValid(tup = SearchSysCache1(RELOID, ObjectIdGetDatum(store))))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the storage table flowview.fv_store_%d of live view %d is missing", view_id, view_id),
				 errhint("Drop the view (flowview.drop_view) and create it again.")));
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * flowview._run_as_view_owner(view_id int, time_zone text, statements text[])
 *
 * Runs the statements (complete SQL, the source's name already in place) as
 * the owner of live view view_id, writing storage (see the file head).  For
 * refresh_view; PUBLIC may not execute it.
 */
Datum
fv_run_as_view_owner(PG_FUNCTION_ARGS)
{
	int			view_id;
	char	   *tz;
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;
	FvRunAs		ra;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("view_id, time_zone and statements must not be NULL")));
	view_id = PG_GETARG_INT32(0);
	tz = text_to_cstring(PG_GETARG_TEXT_PP(1));
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(2), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);

	SPI_connect();
	fv_runas_begin(&ra, fv_view_runas_role(view_id), FV_RUNAS_STORAGE, tz);
	for (i = 0; i < n; i++)
	{
		char	   *sql;

		if (nulls[i])
			continue;
		sql = TextDatumGetCString(elems[i]);
		if (SPI_execute(sql, false, 0) < 0)
			elog(ERROR, "pg_flowview: failed: %s", sql);
	}
	fv_runas_end(&ra);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * flowview._alert_eval(owner oid, query text, keys jsonb) RETURNS jsonb
 *
 * The first column of the first row of query (one parameter, $1 = keys),
 * evaluated as role owner, read-only (see the file head).  For
 * flowview._fire_alerts; PUBLIC may not execute it.  Error (42704) when the
 * role no longer exists.
 */
Datum
fv_alert_eval(PG_FUNCTION_ARGS)
{
	Oid			owner;
	char	   *query;
	Oid			argtypes[1] = {JSONBOID};
	Datum		args[1];
	Datum		result = (Datum) 0;
	bool		isnull = true;
	FvRunAs		ra;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("owner and query must not be NULL")));
	owner = PG_GETARG_OID(0);
	query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	args[0] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(owner)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the owner (role %u) of the alert no longer exists", owner)));

	SPI_connect();
	fv_runas_begin(&ra, owner, FV_RUNAS_READ_ONLY, NULL);
	if (SPI_execute_with_args(query, 1, argtypes, args, PG_ARGISNULL(2) ? "n" : NULL,
							  true, 1) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: alert evaluation failed");
	if (SPI_processed > 0)
	{
		result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
			result = SPI_datumTransfer(result, false, -1);
	}
	fv_runas_end(&ra);
	SPI_finish();
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}
