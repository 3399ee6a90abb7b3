/*-------------------------------------------------------------------------
 *
 * feed.c
 *	  Changefeeds of live views: flowview.enable_changefeed and
 *	  flowview.disable_changefeed.
 *
 * A live view with a changefeed has
 *
 *	flowview.fv_store_ID_f	the change log: per batch position (__position,
 *							from sequence flowview.feed_positions) and
 *							changed group (__seq), the operation (__op:
 *							insert, update, delete), when (__at), the view's
 *							columns after the change (for a delete: only
 *							the key columns), then old_C for each non-key
 *							column C (NULL for an insert)
 *	NAME_changes(after)		beside the view: after => NULL gives a row
 *							'snapshot' and the view's rows as 'insert's, all
 *							with the cursor at which they are exact; a cursor
 *							gives the changes after it in apply order, each
 *							with its own cursor, or one row 'resync'
 *	flowview.feed_catalog	its row: function, channel, keep, key columns
 *							and the positions _feed_state (SQL) reads
 *
 * The apply worker writes the log (worker/apply.c): the changed groups'
 * rows before and after a batch's statements, in the batch's transaction,
 * so a reader's snapshot sees the view and its log agree; then it sets
 * feed_position and sends NOTIFY on the channel with only the position.
 *
 * Who reads what.  The function runs as its caller (SECURITY INVOKER), so
 * the reader needs SELECT on the view and on the log, which
 * flowview._sync_grants gives to exactly the view's readers; under
 * organisation security the log carries the storage's two policies on the
 * view's org column (fv_feed_org_policies), and the cursor carries a digest
 * of the units the reader may see: when they change, its next read says
 * 'resync'.  A reader never sees a change to a group it cannot see.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "pg_flowview.h"
#include "views/analyze.h"
#include "views/feed.h"
#include "views/runas.h"
#include "views/security.h"

PG_FUNCTION_INFO_V1(fv_enable_changefeed);
PG_FUNCTION_INFO_V1(fv_disable_changefeed);

/* what enable/disable need to know of a live view */
typedef struct FeedView
{
	Oid			view;
	int			id;
	Oid			function;		/* its changes function, or InvalidOid */
} FeedView;

/*
 * Look up live view "view" for the caller, who must own it; refuse (0A000)
 * the views whose rows change other than by batches or cannot name their
 * groups.  Reads the catalog as the extension's owner.
 */
static FeedView
feed_view(Oid view, bool enabling)
{
	FeedView	fv = {view, 0, InvalidOid};
	FvSavedUser saved;
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(view)};
	HeapTuple	t;
	TupleDesc	d;
	bool		isnull;
	Datum		fn;
	const char *name;

	fv_require_sql_version(4, "changefeeds");
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(view)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", view)));
	name = get_rel_name(view);
	if (!pg_class_ownercheck(view, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_VIEW, name);
	fv_become_owner(&saved);
	SPI_connect();
	if (SPI_execute_with_args("SELECT c.id, c.window_sql IS NOT NULL, c.retain IS NOT NULL, c.session_gap IS NOT NULL,"
							  " c.changed_groups_sql IS NULL, f.changes_function,"
							  " EXISTS (SELECT FROM flowview.view_version_catalog p WHERE p.view_oid = c.view_oid AND p.pending)"
							  " FROM flowview.view_catalog c LEFT JOIN flowview.feed_catalog f ON f.view_id = c.id"
							  " WHERE c.view_oid = $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read the view catalog");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a live view", name),
				 errhint("SELECT view FROM flowview.views lists the live views.")));
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	fv.id = DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
	fn = SPI_getbinval(t, d, 6, &isnull);
	if (!isnull)
		fv.function = DatumGetObjectId(fn);
	if (enabling && OidIsValid(fv.function))
		;						/* already has one: only its keep changes */
	else if (enabling && (DatumGetBool(SPI_getbinval(t, d, 2, &isnull)) ||
						  DatumGetBool(SPI_getbinval(t, d, 3, &isnull))))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("changefeeds of live views with a sliding window or a retention are not supported"),
				 errdetail("Live view %s changes as time passes, not only in the batches a feed records.", name),
				 errhint("Give the feed to a view without the window or retention (a rollup over the same groups, say).")));
	else if (enabling && DatumGetBool(SPI_getbinval(t, d, 4, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("changefeeds of session view %s are not supported", name),
				 errdetail("A session view is recomputed where its rows change, not maintained by groups.")));
	else if (enabling && DatumGetBool(SPI_getbinval(t, d, 5, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a changefeed of live view %s is not supported: a GROUP BY key is not among its columns", name),
				 errdetail("A change must name the group it changed."),
				 errhint("Add every GROUP BY key to its select list (flowview.alter_view).")));
	else if (enabling && DatumGetBool(SPI_getbinval(t, d, 7, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("live view %s has a pending change of its definition", name),
				 errhint("Wait for it: SELECT flowview.wait_for_freshness('%s').", name)));
	SPI_finish();
	fv_restore_user(&saved);
	return fv;
}

/* the SQL type of column i of relation rel, with its typmod */
static char *
column_type(Relation rel, int i)
{
	Form_pg_attribute a = TupleDescAttr(RelationGetDescr(rel), i);

	return format_type_with_typemod(a->atttypid, a->atttypmod);
}

static bool
is_key(List *keys, const char *col)
{
	ListCell   *lc;

	foreach(lc, keys)
		if (strcmp(lfirst(lc), col) == 0)
			return true;
	return false;
}

/* "old_" || col, refusing (42701) a view that has such a column already */
static char *
old_name(Relation rel, const char *col)
{
	char	   *old = psprintf("old_%s", col);
	int			i;

	if (strlen(old) >= NAMEDATALEN)
		old[NAMEDATALEN - 1] = '\0';
	for (i = 0; i < RelationGetNumberOfAttributes(rel); i++)
		if (strcmp(NameStr(TupleDescAttr(RelationGetDescr(rel), i)->attname), old) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_COLUMN),
					 errmsg("live view %s has columns %s and %s: its changefeed could not tell the new %s from the old",
							RelationGetRelationName(rel), col, old, col),
					 errhint("Rename one of them (flowview.alter_view with AS).")));
	return old;
}

/*
 * The log table's columns after __position, __seq, __op, __at: the view's
 * columns, then old_C for its non-key columns C: names and types, or
 * select list items "prefix.name" (prefix NULL: "NULL::type AS name").
 */
static char *
log_columns(Relation rel, List *keys, bool types, const char *new_prefix, const char *old_prefix)
{
	StringInfoData buf;
	int			n = RelationGetNumberOfAttributes(rel);
	int			i;
	int			pass;

	initStringInfo(&buf);
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < n; i++)
		{
			const char *col = NameStr(TupleDescAttr(RelationGetDescr(rel), i)->attname);
			const char *prefix = pass == 0 ? new_prefix : old_prefix;

			if (pass == 1 && is_key(keys, col))
				continue;
			if (buf.len > 0)
				appendStringInfoString(&buf, ", ");
			if (types)
				appendStringInfo(&buf, "%s %s", quote_identifier(pass == 0 ? col : old_name(rel, col)),
								 column_type(rel, i));
			else if (prefix == NULL)
				appendStringInfo(&buf, "NULL::%s AS %s", column_type(rel, i),
								 quote_identifier(pass == 0 ? col : old_name(rel, col)));
			else
				appendStringInfo(&buf, "%s.%s", prefix, quote_identifier(pass == 0 ? col : old_name(rel, col)));
		}
	return buf.data;
}

/*
 * CREATE FUNCTION fname(after text) for live view rel (catalog id id):
 * rows (cursor, op, the view's columns, old_C ...) in order.
 */
static char *
changes_function_sql(Relation rel, int id, List *keys, const char *fname)
{
	const char *view = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
												  RelationGetRelationName(rel));
	int			i;

	for (i = 0; i < RelationGetNumberOfAttributes(rel); i++)
	{
		const char *col = NameStr(TupleDescAttr(RelationGetDescr(rel), i)->attname);

		if (strcmp(col, "cursor") == 0 || strcmp(col, "op") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_COLUMN),
					 errmsg("live view %s has a column named %s, which its changefeed function returns itself",
							RelationGetRelationName(rel), col),
					 errhint("Rename the column (flowview.alter_view with AS).")));
	}
	return psprintf("CREATE FUNCTION %s(after text DEFAULT NULL)"
					" RETURNS TABLE (\"cursor\" text, op text, %s)"
					" LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fv$"
					" WITH s AS MATERIALIZED (SELECT * FROM flowview._feed_state(%d, after))"
					" SELECT x.c, x.o, %s FROM ("
					"  SELECT s.token AS c, s.status AS o, 0 AS __k, 0::bigint AS __p, 0 AS __s, %s"
					"   FROM s WHERE s.status IN ('snapshot', 'resync')"
					"  UNION ALL"
					"  SELECT s.token, 'insert', 1, 0, 0, %s FROM s, %s v WHERE s.status = 'snapshot'"
					"  UNION ALL"
					"  SELECT l.__position::text || s.suffix, l.__op, 2, l.__position, l.__seq, %s"
					"   FROM s JOIN flowview.fv_store_%d_f l ON l.__position > s.pos WHERE s.status = 'changes'"
					" ) x ORDER BY x.__k, x.__p, x.__s $fv$",
					fname, log_columns(rel, keys, true, NULL, NULL), id,
					log_columns(rel, keys, false, "x", "x"),
					log_columns(rel, keys, false, NULL, NULL),
					log_columns(rel, keys, false, "v", NULL), view,
					log_columns(rel, keys, false, "l", "l"), id);
}

/*
 * flowview.enable_changefeed(view regclass, keep interval DEFAULT '1 hour')
 *		RETURNS regprocedure
 *
 * Gives live view "view" (owned by the caller) a changefeed, or sets the
 * keep of the one it has; returns its changes function.
 */
Datum
fv_enable_changefeed(PG_FUNCTION_ARGS)
{
	Oid			view;
	Interval   *keep;
	FeedView	fv;
	Relation	rel;
	List	   *keys;
	char	   *fname;
	char	   *qfname;
	char	   *schema;
	Oid			fnoid;
	FvSavedUser saved;
	ObjectAddress fnaddr;
	ObjectAddress logaddr;
	ObjectAddress viewaddr;
	Oid			argtypes[1] = {TEXTOID};
	char	   *org;
	StringInfoData keyarr;
	ListCell   *lc;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("view and keep must not be NULL")));
	view = PG_GETARG_OID(0);
	keep = PG_GETARG_INTERVAL_P(1);
	if (DatumGetBool(DirectFunctionCall2(interval_le, IntervalPGetDatum(keep),
										 DirectFunctionCall3(interval_in, CStringGetDatum("0"),
															 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("keep must be positive, not %s",
						DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(keep))))));
	fv = feed_view(view, true);
	if (OidIsValid(fv.function))
	{
		fv_become_owner(&saved);
		SPI_connect();
		fv_spi_run(psprintf("UPDATE flowview.feed_catalog SET keep = %s WHERE view_id = %d",
							quote_literal_cstr(DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(keep)))),
							fv.id));
		SPI_finish();
		fv_restore_user(&saved);
		PG_RETURN_OID(fv.function);
	}

	keys = fv_view_key_columns(view);
	rel = relation_open(view, AccessShareLock);
	schema = get_namespace_name(RelationGetNamespace(rel));
	fname = psprintf("%s_changes", RelationGetRelationName(rel));
	if (strlen(fname) >= NAMEDATALEN)
		fname[NAMEDATALEN - 1] = '\0';
	qfname = quote_qualified_identifier(schema, fname);
	if (OidIsValid(LookupFuncName(list_make2(makeString(schema), makeString(fname)), 1, argtypes, true)))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_FUNCTION),
				 errmsg("function %s(text) already exists", qfname),
				 errhint("The changefeed of live view %s needs that name: rename or drop the function.",
						 RelationGetRelationName(rel))));

	/* the log, as the extension's owner, then the view's owner's */
	fv_become_owner(&saved);
	SPI_connect();
	fv_own_ddl_begin();
	fv_spi_run(psprintf("CREATE TABLE flowview.fv_store_%d_f (__position bigint NOT NULL, __seq int NOT NULL,"
						" __op text NOT NULL, __at timestamptz NOT NULL, %s, PRIMARY KEY (__position, __seq))",
						fv.id, log_columns(rel, keys, true, NULL, NULL)));
	fv_spi_run(psprintf("CREATE INDEX fv_store_%d_f_at ON flowview.fv_store_%d_f (__at)", fv.id, fv.id));
	fv_spi_run(psprintf("ALTER TABLE flowview.fv_store_%d_f OWNER TO %s", fv.id,
						quote_identifier(GetUserNameFromId(rel->rd_rel->relowner, false))));
	fv_own_ddl_end();
	SPI_finish();
	fv_restore_user(&saved);

	/* the function, as the caller, beside the view (it reads the log) */
	SPI_connect();
	fv_spi_run(changes_function_sql(rel, fv.id, keys, qfname));
	SPI_finish();
	fnoid = LookupFuncName(list_make2(makeString(schema), makeString(fname)), 1, argtypes, false);

	fv_become_owner(&saved);
	SPI_connect();
	initStringInfo(&keyarr);
	foreach(lc, keys)
		appendStringInfo(&keyarr, "%s%s", foreach_current_index(lc) ? "," : "", quote_literal_cstr(lfirst(lc)));
	fv_spi_run(psprintf("INSERT INTO flowview.feed_catalog (view_id, changes_function, channel, keep, key_columns)"
						" VALUES (%d, %u, %s, %s, ARRAY[%s]::text[])", fv.id, fnoid,
						quote_literal_cstr(fname),
						quote_literal_cstr(DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(keep)))),
						keyarr.data));
	SPI_finish();
	fv_restore_user(&saved);
	org = fv_org_column(view, fv.id);
	if (org != NULL)
		fv_feed_org_policies(fv.id, org);

	/* both go with the view; readers of the view may read the log */
	ObjectAddressSet(viewaddr, RelationRelationId, view);
	ObjectAddressSet(fnaddr, ProcedureRelationId, fnoid);
	ObjectAddressSet(logaddr, RelationRelationId,
					 get_relname_relid(psprintf("fv_store_%d_f", fv.id), get_namespace_oid("flowview", false)));
	recordDependencyOn(&fnaddr, &viewaddr, DEPENDENCY_AUTO);
	recordDependencyOn(&logaddr, &viewaddr, DEPENDENCY_AUTO);
	relation_close(rel, AccessShareLock);
	fv_become_owner(&saved);
	SPI_connect();
	fv_spi_run(psprintf("SELECT flowview._sync_grants(%u)", view));
	SPI_finish();
	fv_restore_user(&saved);
	PG_RETURN_OID(fnoid);
}

/*
 * flowview.disable_changefeed(view regclass)
 *
 * Drops the log and the function; readers' next call fails (the function
 * is gone).  Nothing happens to a view without a changefeed.
 */
Datum
fv_disable_changefeed(PG_FUNCTION_ARGS)
{
	FeedView	fv;
	FvSavedUser saved;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("view must not be NULL")));
	fv = feed_view(PG_GETARG_OID(0), false);
	if (!OidIsValid(fv.function))
		PG_RETURN_VOID();
	SPI_connect();
	fv_spi_run(psprintf("DROP FUNCTION IF EXISTS %s", format_procedure_qualified(fv.function)));
	SPI_finish();
	fv_become_owner(&saved);
	SPI_connect();
	fv_own_ddl_begin();
	fv_spi_run(psprintf("DROP TABLE IF EXISTS flowview.fv_store_%d_f", fv.id));
	fv_own_ddl_end();
	fv_spi_run(psprintf("DELETE FROM flowview.feed_catalog WHERE view_id = %d", fv.id));
	SPI_finish();
	fv_restore_user(&saved);
	PG_RETURN_VOID();
}

/*
 * See feed.h.  Runs as the extension's owner; the log is the view's owner's.
 */
void
fv_feed_org_policies(int id, const char *org_column)
{
	char	   *log = psprintf("flowview.fv_store_%d_f", id);
	FvSavedUser saved;

	if (fv_sql_version() < 4 ||
		!OidIsValid(get_relname_relid(psprintf("fv_store_%d_f", id), get_namespace_oid("flowview", false))))
		return;
	fv_become_owner(&saved);
	SPI_connect();
	fv_own_ddl_begin();
	if (SPI_execute(psprintf("SELECT count(*) FROM pg_catalog.pg_policy WHERE polrelid = '%s'::pg_catalog.regclass"
							 " AND polname IN ('flowview_org', 'flowview_org_admin')", log), true, 1) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read pg_policy");
	if (strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "0") != 0)
	{
		fv_spi_run(psprintf("DROP POLICY flowview_org ON %s", log));
		fv_spi_run(psprintf("DROP POLICY flowview_org_admin ON %s", log));
	}
	if (org_column != NULL)
	{
		fv_spi_run(psprintf("ALTER TABLE %s ENABLE ROW LEVEL SECURITY", log));
		fv_spi_run(psprintf("CREATE POLICY flowview_org ON %s AS PERMISSIVE FOR SELECT TO PUBLIC"
							" USING (%s = ANY ((SELECT flowview._visible_units())::text[]))",
							log, quote_identifier(org_column)));
		fv_spi_run(psprintf("CREATE POLICY flowview_org_admin ON %s AS PERMISSIVE FOR SELECT TO flowview_admin"
							" USING (true)", log));
	}
	else
		fv_spi_run(psprintf("ALTER TABLE %s DISABLE ROW LEVEL SECURITY", log));
	fv_own_ddl_end();
	/*
	 * Who sees what changed: every cursor resyncs.  Not a feed the worker
	 * has yet to start (reset_position 0): it starts it in its own
	 * transaction, before the first batch it logs.
	 */
	fv_spi_run(psprintf("UPDATE flowview.feed_catalog SET reset_position = pg_catalog.nextval('flowview.feed_positions')"
						" WHERE view_id = %d AND reset_position <> 0", id));
	SPI_finish();
	fv_restore_user(&saved);
}
