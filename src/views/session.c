/*-------------------------------------------------------------------------
 *
 * session.c
 *	  Session windows: flowview.create_session_view(name, source, key,
 *	  event_time, gap, aggregates).  Per key, rows whose event times are
 *	  closer than gap (ordered by time) form one session; the view has one
 *	  row per session: the key, session_start, session_end and the
 *	  aggregates over its rows.
 *
 * The view's defining query is standard SQL (kept in the catalog, and the
 * oracle the tests compare the view with):
 *
 *	SELECT key, min(t) AS session_start, max(t) AS session_end, aggregates
 *	  FROM (SELECT *, sum(__fv_new) OVER (PARTITION BY key ORDER BY t)
 *	                  AS __fv_session
 *	          FROM (SELECT *, CASE WHEN t - lag(t) OVER (PARTITION BY key
 *	                  ORDER BY t) < gap THEN 0 ELSE 1 END AS __fv_new
 *	                  FROM source WHERE t IS NOT NULL) a) b
 *	 GROUP BY key, __fv_session
 *
 * (The running sum's frame is the default RANGE one: rows of equal time are
 * peers and get the same session whatever order the two sorts put them in.)
 *
 * A session is not a sum of its rows: a row can merge two sessions or, when
 * deleted, split one.  So a batch is applied by recomputing, per key the
 * batch touches, the range of time its rows can affect (apply_statement):
 * for the batch's event times t of a key, the sessions within gap of some t
 * (before the batch) and the t themselves span [lo, hi]; every session
 * overlapping [lo, hi] lies inside it (one reaching out of it would be
 * within gap of a t, hence counted); the rows of the source in [lo, hi]
 * make exactly the new sessions there, because the sessions just outside
 * were already separated from everything inside by at least gap before the
 * batch (a row of the batch within gap of them would have counted them), and
 * rows only ever come closer where the batch adds them.  The recomputation
 * reads the source as it is: a row of a transaction not yet applied is
 * counted early and counted again, exactly, when its own batch recomputes
 * the range around it (idempotent), so after wait_for_freshness the view
 * equals its query.  Everything else (backfill, the batch's rows, TRUNCATE,
 * the worker's loop) is the common pipeline's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/array.h"

#include "pg_flowview.h"
#include "views/analyze.h"
#include "views/runas.h"
#include "views/security.h"
#include "worker/worker.h"

PG_FUNCTION_INFO_V1(fv_create_session_view);

static const char *const session_aggregates[] = {
	"count", "sum", "avg", "min", "max", "bool_and", "bool_or", "every", NULL
};

static void
session_refuse(const char *what, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s not supported in a session view's aggregates", what),
			 hint ? errhint("%s", hint) : 0));
}

/* the one column an aggregate's argument names (checked against the source later) */
static char *
argument_column(Node *arg)
{
	ColumnRef  *cr;

	if (!IsA(arg, ColumnRef))
		session_refuse("arguments other than a column are",
					   "Write count(*), sum(amount), max(page)...: one column per aggregate.");
	cr = (ColumnRef *) arg;
	if (list_length(cr->fields) != 1 || !IsA(linitial(cr->fields), String))
		session_refuse("qualified column names are", "Name the source's column alone.");
	return strVal(linitial(cr->fields));
}

/*
 * aggregates: "count(*) AS clicks, max(page) AS last_page": a select list
 * of aggregates of one column each (or count(*)), each named.  Returns the
 * columns they read; *sql is the list as it will be written.
 */
static List *
check_aggregates(const char *aggregates, char **sql)
{
	List	   *parsed;
	SelectStmt *sel;
	ListCell   *lc;
	List	   *columns = NIL;
	StringInfoData buf;

	parsed = raw_parser(psprintf("SELECT %s", aggregates), RAW_PARSE_DEFAULT);
	if (list_length(parsed) != 1 || !IsA(((RawStmt *) linitial(parsed))->stmt, SelectStmt))
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("aggregates must be a select list of aggregates, not \"%s\"", aggregates)));
	sel = (SelectStmt *) ((RawStmt *) linitial(parsed))->stmt;
	if (sel->fromClause || sel->whereClause || sel->groupClause || sel->havingClause ||
		sel->windowClause || sel->sortClause || sel->limitCount || sel->limitOffset ||
		sel->distinctClause || sel->valuesLists || sel->op != SETOP_NONE || sel->withClause ||
		sel->intoClause || sel->lockingClause)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("aggregates must be a select list of aggregates, not \"%s\"", aggregates),
				 errhint("For example: count(*) AS clicks, sum(amount) AS spent.")));
	initStringInfo(&buf);
	foreach(lc, sel->targetList)
	{
		ResTarget  *rt = lfirst(lc);
		FuncCall   *fc = (FuncCall *) rt->val;
		char	   *fname;
		int			i;
		bool		known = false;

		if (!IsA(fc, FuncCall))
			session_refuse("expressions other than aggregates are",
						   "The key, session_start and session_end are the view's other columns.");
		if (list_length(fc->funcname) != 1)
			session_refuse("qualified aggregate names are", NULL);
		fname = strVal(linitial(fc->funcname));
		for (i = 0; session_aggregates[i]; i++)
			known |= strcmp(fname, session_aggregates[i]) == 0;
		if (!known)
			session_refuse(psprintf("aggregate %s is", fname),
						   "count, sum, avg, min, max, bool_and, bool_or and every are.");
		if (fc->agg_order || fc->agg_filter || fc->over || fc->agg_within_group || fc->agg_distinct ||
			fc->func_variadic)
			session_refuse("DISTINCT, ORDER BY, FILTER, OVER and WITHIN GROUP are", NULL);
		if (rt->name == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("each aggregate of a session view needs a name"),
					 errhint("Write %s(...) AS some_name.", fname)));
		appendStringInfo(&buf, ", pg_catalog.%s(", quote_identifier(fname));
		if (fc->agg_star)
		{
			if (strcmp(fname, "count") != 0)
				session_refuse(psprintf("%s(*) is", fname), NULL);
			appendStringInfoChar(&buf, '*');
		}
		else
		{
			char	   *col;

			if (list_length(fc->args) != 1)
				session_refuse("aggregates of other than one column are", NULL);
			col = argument_column(linitial(fc->args));
			columns = list_append_unique(columns, makeString(col));
			appendStringInfoString(&buf, quote_identifier(col));
		}
		appendStringInfo(&buf, ") AS %s", quote_identifier(rt->name));
	}
	*sql = buf.data;
	return columns;
}

/* "a.k1 = b.k1 ... ", NULL keys matching NULL (a bitmap OR of two index conditions) */
static char *
keys_match(List *keys, const char *a, const char *b)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "true");
	foreach(lc, keys)
	{
		const char *k = quote_identifier(lfirst(lc));

		appendStringInfo(&buf, " AND (%s.%s OPERATOR(pg_catalog.=) %s.%s OR (%s.%s IS NULL AND %s.%s IS NULL))",
						 a, k, b, k, a, k, b, k);
	}
	return buf.data;
}

static char *
key_list(List *keys, const char *alias, bool trailing_comma)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, keys)
		appendStringInfo(&buf, "%s%s%s%s", alias ? alias : "", alias ? "." : "",
						 quote_identifier(lfirst(lc)), trailing_comma || lnext(keys, lc) ? ", " : "");
	return buf.data;
}

/* the defining query over "from" (a relation or a subquery with its alias) */
static char *
session_query(List *keys, const char *t, const char *gap, const char *aggs, const char *from)
{
	char	   *partition = keys ? psprintf("PARTITION BY %s ", key_list(keys, NULL, false)) : "";

	return psprintf("SELECT %spg_catalog.min(%s) AS session_start, pg_catalog.max(%s) AS session_end%s"
					" FROM (SELECT *, pg_catalog.sum(__fv_new) OVER (%sORDER BY %s) AS __fv_session"
					" FROM (SELECT *, CASE WHEN (%s OPERATOR(pg_catalog.-) pg_catalog.lag(%s) OVER (%sORDER BY %s))"
					" OPERATOR(pg_catalog.<) %s THEN 0 ELSE 1 END AS __fv_new"
					" FROM %s WHERE %s IS NOT NULL) __fv_a) __fv_b GROUP BY %s__fv_session",
					key_list(keys, NULL, true), t, t, aggs, partition, t, t, t, partition, t, gap, from, t,
					key_list(keys, NULL, true));
}

/*
 * The batch: the range [lo, hi] per key its event times can change,
 * sessions overlapping it deleted, the source's rows in it made into
 * sessions again (see the file header).
 */
static char *
apply_statement(List *keys, const char *t, const char *gap, const char *aggs, const char *store)
{
	char	   *src = psprintf("(SELECT __fv_s.* FROM %s __fv_s JOIN __fv_r ON %s"
							   " WHERE __fv_s.%s BETWEEN __fv_r.__fv_lo AND __fv_r.__fv_hi) __fv_src",
							   FV_SOURCE_TOKEN, keys_match(keys, "__fv_s", "__fv_r"), t);

	return psprintf("WITH __fv_t AS (SELECT DISTINCT %s%s AS __fv_ts FROM %s WHERE %s IS NOT NULL),"
					" __fv_r AS (SELECT %sLEAST(pg_catalog.min(__fv_t.__fv_ts), pg_catalog.min(s.session_start)) AS __fv_lo,"
					" GREATEST(pg_catalog.max(__fv_t.__fv_ts), pg_catalog.max(s.session_end)) AS __fv_hi"
					" FROM __fv_t LEFT JOIN %s s ON %s AND s.session_end OPERATOR(pg_catalog.>=) (__fv_t.__fv_ts OPERATOR(pg_catalog.-) %s)"
					" AND s.session_start OPERATOR(pg_catalog.<=) (__fv_t.__fv_ts OPERATOR(pg_catalog.+) %s)"
					"%s%s),"
					" __fv_d AS (DELETE FROM %s s USING __fv_r WHERE %s AND s.session_end OPERATOR(pg_catalog.>=) __fv_r.__fv_lo"
					" AND s.session_start OPERATOR(pg_catalog.<=) __fv_r.__fv_hi)"
					" INSERT INTO %s SELECT * FROM (%s) __fv_q",
					key_list(keys, NULL, true), t, FV_DELTA_NAME, t,
					key_list(keys, "__fv_t", true), store, keys_match(keys, "s", "__fv_t"), gap, gap,
					keys ? " GROUP BY " : "", keys ? key_list(keys, "__fv_t", false) : "",
					store, keys_match(keys, "s", "__fv_r"),
					store, session_query(keys, t, gap, aggs, src));
}

/*
 * flowview.create_session_view(name text, source regclass, key text[],
 *		event_time text, gap interval, aggregates text DEFAULT 'count(*) AS n',
 *		freshness_sla interval DEFAULT NULL) RETURNS regclass
 */
Datum
fv_create_session_view(PG_FUNCTION_ARGS)
{
	const char *tz = GetConfigOption("TimeZone", false, false);
	char	   *name;
	Oid			source;
	List	   *keys = NIL;
	char	   *t;
	char	   *gap;
	char	   *aggs;
	List	   *used = NIL;
	List	   *used_names = NIL;
	RangeVar   *rv;
	Oid			nsp;
	Oid			caller = GetUserId();
	FvSavedUser saved;
	FvRunAs		ra;
	FvViewDef  *def;
	const char *qsource;
	char	   *query;
	char	   *store;
	char	   *backfill;
	char	   *apply;
	Oid			view_oid;
	Oid			ttype;
	int			id;
	bool		isnull;
	ListCell   *lc;
	int			i;

	for (i = 0; i < 6; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null",
							((const char *const[]) {"name", "source", "key", "event_time", "gap", "aggregates"})[i]),
					 errhint("flowview.create_session_view(name, source, key, event_time, gap, aggregates) takes the new view's name, its table, the key columns (an array, possibly empty), the time column, the gap and the aggregates.")));
	fv_require_preload("flowview.create_session_view()");
	fv_require_sql_version(4, "session views");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	source = PG_GETARG_OID(1);
	t = text_to_cstring(PG_GETARG_TEXT_PP(3));
	if (DatumGetInt32(DirectFunctionCall2(interval_cmp, PG_GETARG_DATUM(4),
										  DirectFunctionCall3(interval_in, CStringGetDatum("0"),
															  ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)))) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gap must be positive")));
	gap = psprintf("%s::pg_catalog.interval",
				   quote_literal_cstr(DatumGetCString(DirectFunctionCall1(interval_out, PG_GETARG_DATUM(4)))));
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(2), TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		for (i = 0; i < n; i++)
		{
			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("key must not contain NULL")));
			keys = lappend(keys, TextDatumGetCString(elems[i]));
		}
	}
	used = check_aggregates(text_to_cstring(PG_GETARG_TEXT_PP(5)), &aggs);
	if (!PG_ARGISNULL(6) &&
		DatumGetInt32(DirectFunctionCall2(interval_cmp, PG_GETARG_DATUM(6),
										  DirectFunctionCall3(interval_in, CStringGetDatum("0"),
															  ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)))) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("freshness SLA must be positive")));

	/* the source: what a live view over one table may read (analyze.c) */
	qsource = quote_qualified_identifier(get_namespace_name(get_rel_namespace(source)), get_rel_name(source));
	def = fv_analyze_query(psprintf("SELECT count(*) FROM %s", qsource));
	if (def->upstream != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("session views over another live view are not supported"),
				 errhint("Read its source table.")));
	/* key and time columns: the source's, the time a timestamp */
	foreach(lc, keys)
	{
		if (get_attnum(source, lfirst(lc)) == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of key does not exist in %s", (char *) lfirst(lc), qsource)));
		if (strcmp(lfirst(lc), "session_start") == 0 || strcmp(lfirst(lc), "session_end") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_COLUMN),
					 errmsg("a key column cannot be named %s", (char *) lfirst(lc))));
		used_names = list_append_unique(used_names, makeString(lfirst(lc)));
	}
	if (get_attnum(source, t) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of event_time does not exist in %s", t, qsource)));
	ttype = get_atttype(source, get_attnum(source, t));
	if (ttype != TIMESTAMPTZOID && ttype != TIMESTAMPOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("event_time must be a column of type timestamp or timestamp with time zone, not %s",
						format_type_be(ttype))));
	used_names = list_append_unique(used_names, makeString(t));
	used_names = list_concat_unique(used_names, used);
	foreach(lc, used_names)
		if (get_attnum(source, strVal(lfirst(lc))) == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" does not exist in %s", strVal(lfirst(lc)), qsource)));
	used = NIL;
	foreach(lc, used_names)
		used = lappend(used, strVal(lfirst(lc)));
	{
		List	   *quoted = NIL;

		foreach(lc, keys)
			quoted = lappend(quoted, pstrdup(lfirst(lc)));
		keys = quoted;
	}
	t = pstrdup(quote_identifier(t));
	query = session_query(keys, t, gap, aggs, qsource);

	fv_check_name_length(name);
	rv = makeRangeVarFromNameList(stringToQualifiedNameList(name));
	nsp = RangeVarGetCreationNamespace(rv);
	rv->schemaname = get_namespace_name(nsp);
	fv_check_create_privileges(def, nsp);

	/* the caller may read what the query reads: run it, as the caller */
	SPI_connect();
	if (SPI_execute(psprintf("SELECT * FROM (%s) q LIMIT 0", query), true, 0) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not check the session view's query");
	SPI_finish();

	fv_become_owner(&saved);
	fv_own_ddl_begin();
	SPI_connect();
	if (SPI_execute("SELECT nextval('flowview.view_catalog_id_seq')::int", false, 1) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not allocate a view id");
	id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	store = psprintf("flowview.fv_store_%d", id);
	fv_ensure_replica_identity_full(source);
	fv_spi_run(psprintf("CREATE TABLE %s AS SELECT * FROM (%s) q WITH NO DATA", store, query));
	fv_spi_run(psprintf("CREATE INDEX ON %s (%ssession_end)", store, key_list(keys, NULL, true)));
	view_oid = fv_create_user_view(quote_qualified_identifier(rv->schemaname, rv->relname),
								   psprintf("SELECT * FROM %s", store));
	fv_record_source_dependencies(view_oid, source, used);
	backfill = psprintf("INSERT INTO %s SELECT * FROM (%s) q", store,
						session_query(keys, t, gap, aggs, FV_SOURCE_TOKEN));
	apply = apply_statement(keys, t, gap, aggs, store);
	{
		Oid			argtypes[12] = {INT4OID, OIDOID, OIDOID, TEXTOID, TEXTOID, INTERVALOID,
		TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INTERVALOID};
		Datum		values[12];
		char		nulls[12];

		memset(nulls, ' ', sizeof(nulls));
		values[0] = Int32GetDatum(id);
		values[1] = ObjectIdGetDatum(view_oid);
		values[2] = ObjectIdGetDatum(source);
		values[3] = CStringGetTextDatum(query);
		values[4] = CStringGetTextDatum(tz);
		values[5] = PG_ARGISNULL(6) ? (Datum) 0 : PG_GETARG_DATUM(6);
		nulls[5] = PG_ARGISNULL(6) ? 'n' : ' ';
		values[6] = fv_text_array(list_make1(store));
		values[7] = fv_text_array(list_make1(psprintf("TABLE %s", store)));
		values[8] = fv_text_array(list_make1(backfill));
		values[9] = fv_text_array(list_make1(apply));
		values[10] = fv_text_array(used);
		values[11] = PG_GETARG_DATUM(4);
		if (SPI_execute_with_args("INSERT INTO flowview.view_catalog (id, view_oid, source_oid, query, time_zone,"
								  " freshness_sla, storage_tables, objects, backfill_sql, apply_sql, used_columns,"
								  " session_gap, minmax, state)"
								  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'rescan', 'backfilling')",
								  12, argtypes, values, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "pg_flowview: could not record the view in the catalog");
	}
	if (caller != GetUserId())
	{
		const char *role = quote_identifier(GetUserNameFromId(caller, false));

		fv_spi_run(psprintf("ALTER VIEW %s OWNER TO %s", quote_qualified_identifier(rv->schemaname, rv->relname), role));
		fv_spi_run(psprintf("ALTER TABLE %s OWNER TO %s", store, role));
	}
	fv_own_ddl_end();
	/* populated as its owner, as the worker will apply to it */
	fv_runas_begin(&ra, caller, FV_RUNAS_STORAGE, tz);
	fv_spi_run(fv_with_source(backfill, source));
	fv_runas_end(&ra);
	fv_spi_run(psprintf("SELECT flowview._sync_grants(%u)", view_oid));
	SPI_finish();
	fv_restore_user(&saved);
	fv_start_worker_at_commit();
	PG_RETURN_OID(view_oid);
}
