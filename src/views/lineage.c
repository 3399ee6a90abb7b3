/*-------------------------------------------------------------------------
 *
 * lineage.c
 *	  flowview.lineage(view): which source columns each output column of a
 *	  live view derives from, and how.
 *
 * Lineage is computed when it is asked for, from the defining query kept in
 * flowview.view_catalog: the query is parsed and analysed again, with the
 * view's pinned time zone, and its target list, WHERE, GROUP BY and HAVING
 * are walked.  Nothing is stored, so every live view has lineage whenever it
 * was created, and it cannot go stale.  The columns a live view reads can be
 * neither renamed nor dropped (ddl.c, pg_depend), so the stored query still
 * names them; the source table itself may have been renamed or moved since,
 * or the caller's search_path may find another table of that name: the
 * query is then analysed over the source found by its OID (under its old
 * name as an alias, so qualified column references still resolve).  Other
 * names (functions, types) resolve through the caller's search_path followed
 * by the source's schema.
 *
 * One row per output column and source column it derives from, and kind:
 *
 *	direct:   "group key"        the output is the GROUP BY source column
 *	                             (or, in a view without GROUP BY and
 *	                             aggregates, the source column itself)
 *	          "expression: F"    the output is a GROUP BY expression (or
 *	                             an output expression of a view without
 *	                             GROUP BY and aggregates) whose outermost
 *	                             function or operator is F
 *	          "aggregate: A"     the output is aggregate A over the column;
 *	                             "aggregate: count(*)" for count(*)
 *	indirect: "filter"           the column decides which rows count: in
 *	                             WHERE, the aggregate's FILTER, or HAVING
 *	          "group by"         (aggregates only) the column decides the
 *	                             groups
 *
 * A direct output that reads no source column (count(*), a constant key)
 * has one row without a source column.  These rows have depth 1.  A rollup
 * reads another live view: each row about a column of that view is followed
 * by the column's own lineage (flowview.lineage of the upstream, depth one
 * more), down to the base tables (emit_upstream_rows).
 * flowview.openlineage() (SQL) turns these rows into OpenLineage's
 * columnLineage facet.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/sysattr.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteManip.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/ruleutils.h"

#include "pg_flowview.h"
#include "views/analyze.h"
#include "views/join.h"

PG_FUNCTION_INFO_V1(fv_lineage);

/* one dependency of an output column on a source column */
typedef struct LineageRow
{
	Oid			relid;			/* the source table (a join: one of its tables) */
	AttrNumber	attnum;			/* 0: no source column */
	const char *transformation;
	bool		direct;
	char	   *expression;		/* what the output or the condition computes */
} LineageRow;

typedef struct LineageContext
{
	Oid			source;
	Index		rtindex;		/* 0: a join, its tables are rtable's relations */
	List	   *rtable;
	Oid			first_table;	/* the table of count(*): a join's first */
	List	   *dpcontext;		/* deparse over the source */
	List	   *rows;			/* LineageRow * of the output column at hand */
	/* a UNION ALL: range table entry 1, each branch's select list over rtable */
	RangeTblEntry *union_rte;
	List	   *union_tlists;
} LineageContext;

/*
 * An expression over a UNION ALL's columns as the list of the same over
 * each branch's select list (what each branch computes it from); others as
 * they are.
 */
static Node *
union_expand(LineageContext *lc, Node *expr)
{
	List	   *each = NIL;
	ListCell   *cell;

	if (lc->union_rte == NULL || !bms_is_member(1, pull_varnos(NULL, expr)))
		return expr;
	foreach(cell, lc->union_tlists)
		each = lappend(each, ReplaceVarsFromTargetList(copyObject(expr), 1, 0, lc->union_rte, lfirst(cell),
													   REPLACEVARS_REPORT_ERROR, 0, NULL));
	return (Node *) each;
}

/*
 * The source columns expr reads of the relation at rtindex, as a set of
 * attribute numbers (> 0)
 */
static Bitmapset *
source_columns(Node *expr, Index rtindex)
{
	Bitmapset  *offset = NULL;
	Bitmapset  *attnos = NULL;
	int			x = -1;

	pull_varattnos(expr, rtindex, &offset);
	while ((x = bms_next_member(offset, x)) >= 0)
		if (x + FirstLowInvalidHeapAttributeNumber > 0)
			attnos = bms_add_member(attnos, x + FirstLowInvalidHeapAttributeNumber);
	return attnos;
}

static char *
expr_sql(LineageContext *lc, Node *expr)
{
	Node	   *each = union_expand(lc, expr);
	StringInfoData buf;
	ListCell   *cell;

	/* a join: columns qualified by their table's alias */
	if (each == expr)
		return deparse_expression(expr, lc->dpcontext, lc->rtindex == 0, false);
	/* a UNION ALL's column: each branch's expression */
	initStringInfo(&buf);
	foreach(cell, (List *) each)
		appendStringInfo(&buf, "%s%s", foreach_current_index(cell) ? " UNION ALL " : "",
						 deparse_expression(lfirst(cell), lc->dpcontext, true, false));
	return buf.data;
}

/* add a row to lc->rows unless the same one is there */
static void
add_row(LineageContext *lc, Oid relid, AttrNumber attnum, const char *transformation,
		bool direct, char *expression)
{
	ListCell   *cell;
	LineageRow *row;

	foreach(cell, lc->rows)
	{
		row = lfirst(cell);
		if (row->relid == relid && row->attnum == attnum &&
			strcmp(row->transformation, transformation) == 0 &&
			strcmp(row->expression, expression) == 0)
			return;
	}
	row = palloc(sizeof(LineageRow));
	row->relid = relid;
	row->attnum = attnum;
	row->transformation = transformation;
	row->direct = direct;
	row->expression = expression;
	lc->rows = lappend(lc->rows, row);
}

/*
 * One row per source column expr reads; a direct dependency on no column at
 * all (count(*), a constant) is one row without a column.
 */
static void
add_rows(LineageContext *lc, Node *expr, const char *transformation, bool direct,
		 char *expression)
{
	bool		any = false;
	ListCell   *cell;

	expr = union_expand(lc, expr);
	foreach(cell, lc->rtable)
	{
		RangeTblEntry *rte = lfirst(cell);
		Index		rtindex = foreach_current_index(cell) + 1;
		Bitmapset  *attnos;
		int			x = -1;

		if (rte->rtekind != RTE_RELATION || (lc->rtindex != 0 && rtindex != lc->rtindex))
			continue;
		attnos = source_columns(expr, rtindex);
		while ((x = bms_next_member(attnos, x)) >= 0)
		{
			add_row(lc, rte->relid, (AttrNumber) x, transformation, direct, expression);
			any = true;
		}
	}
	if (!any && direct && OidIsValid(lc->first_table))
		add_row(lc, lc->first_table, 0, transformation, direct, expression);
}

/* the expression without implicit binary-compatible casts on top */
static Node *
strip_implicit_relabel(Node *expr)
{
	while (expr && IsA(expr, RelabelType) &&
		   ((RelabelType *) expr)->relabelformat == COERCE_IMPLICIT_CAST)
		expr = (Node *) ((RelabelType *) expr)->arg;
	return expr;
}

/* "date_trunc", "operator +", "cast to date", ...: what computes expr */
static char *
expr_kind(Node *expr)
{
	switch (nodeTag(expr))
	{
		case T_FuncExpr:
			{
				FuncExpr   *f = (FuncExpr *) expr;

				if (f->funcformat == COERCE_EXPLICIT_CAST || f->funcformat == COERCE_IMPLICIT_CAST)
					return psprintf("cast to %s", format_type_be(f->funcresulttype));
				return get_func_name(f->funcid);
			}
		case T_RelabelType:
		case T_CoerceViaIO:
		case T_ArrayCoerceExpr:
		case T_CoerceToDomain:
			return psprintf("cast to %s", format_type_be(exprType(expr)));
		case T_OpExpr:
			return psprintf("operator %s", get_opname(((OpExpr *) expr)->opno));
		case T_CaseExpr:
			return pstrdup("CASE");
		case T_CoalesceExpr:
			return pstrdup("coalesce");
		case T_MinMaxExpr:
			return pstrdup(((MinMaxExpr *) expr)->op == IS_GREATEST ? "greatest" : "least");
		case T_NullIfExpr:
			return pstrdup("nullif");
		case T_BoolExpr:
			switch (((BoolExpr *) expr)->boolop)
			{
				case AND_EXPR:
					return pstrdup("AND");
				case OR_EXPR:
					return pstrdup("OR");
				case NOT_EXPR:
					return pstrdup("NOT");
			}
			break;
		case T_NullTest:
			return pstrdup(((NullTest *) expr)->nulltesttype == IS_NULL ? "IS NULL" : "IS NOT NULL");
		case T_Const:
			return pstrdup("constant");
		default:
			break;
	}
	return pstrdup("expression");
}

typedef struct AnalyseErrorContext
{
	Oid			view;
	const char *query;
} AnalyseErrorContext;

/*
 * Error context: which view's query was being analysed; a parser error
 * position points into that query, not into the caller's statement.
 */
static void
analyse_error_callback(void *arg)
{
	AnalyseErrorContext *ctx = (AnalyseErrorContext *) arg;
	int			pos = geterrposition();

	if (pos > 0)
	{
		errposition(0);
		internalerrposition(pos);
		internalerrquery(ctx->query);
	}
	errcontext("analysing the defining query of live view %s",
			   quote_qualified_identifier(get_namespace_name(get_rel_namespace(ctx->view)),
										  get_rel_name(ctx->view)));
}

/*
 * The view's defining query, analysed over source.  When the name in its
 * FROM no longer finds source (renamed or moved, another search_path), the
 * FROM item is pointed at source's current name, under the old name as
 * alias.  Errors from parse analysis (e.g. a function the caller's
 * search_path does not find) propagate.
 */
static Query *
analyse_view_query(const char *query, Oid source)
{
	List	   *raw = raw_parser(query, RAW_PARSE_DEFAULT);
	RawStmt    *rawstmt;
	SelectStmt *select;

	if (list_length(raw) != 1)
		elog(ERROR, "pg_flowview: the defining query of a live view is not one statement");
	rawstmt = linitial_node(RawStmt, raw);
	if (!IsA(rawstmt->stmt, SelectStmt))
		elog(ERROR, "pg_flowview: the defining query of a live view is not a SELECT");
	select = (SelectStmt *) rawstmt->stmt;
	/* (a join view's source is its join relation, not a FROM item) */
	if (list_length(select->fromClause) == 1 && IsA(linitial(select->fromClause), RangeVar) &&
		!fv_is_join_relation(source))
	{
		RangeVar   *rv = linitial_node(RangeVar, select->fromClause);

		if (RangeVarGetRelid(rv, NoLock, true) != source)
		{
			if (rv->alias == NULL)
				rv->alias = makeAlias(rv->relname, NIL);
			rv->catalogname = NULL;
			rv->schemaname = get_namespace_name(get_rel_namespace(source));
			rv->relname = get_rel_name(source);
		}
	}
	return parse_analyze_fixedparams(rawstmt, query, NULL, 0, NULL);
}

/* The conjuncts of a join's ON and WHERE conditions, join aliases flattened */
static void
join_quals(Query *q, Node *node, List **conds)
{
	Node	   *quals = NULL;

	if (IsA(node, JoinExpr))
	{
		join_quals(q, ((JoinExpr *) node)->larg, conds);
		join_quals(q, ((JoinExpr *) node)->rarg, conds);
		quals = ((JoinExpr *) node)->quals;
	}
	else if (IsA(node, FromExpr))
	{
		ListCell   *lc;

		foreach(lc, ((FromExpr *) node)->fromlist)
			join_quals(q, lfirst(lc), conds);
		quals = ((FromExpr *) node)->quals;
	}
	if (quals != NULL)
		*conds = list_concat(*conds, make_ands_implicit((Expr *) flatten_join_alias_vars(q, quals)));
}

/* the leaves of a tree of UNION ALL: the branches' queries */
static List *
union_leaves(Query *uq, Node *node, List *leaves)
{
	if (IsA(node, RangeTblRef))
		return lappend(leaves, copyObject(rt_fetch(((RangeTblRef *) node)->rtindex, uq->rtable)->subquery));
	leaves = union_leaves(uq, ((SetOperationStmt *) node)->larg, leaves);
	return union_leaves(uq, ((SetOperationStmt *) node)->rarg, leaves);
}

/*
 * A query over a UNION ALL (range table entry 1): lc's range table becomes
 * that entry followed by every branch's, each branch's select list (over
 * it) goes to lc->union_tlists, and the branches' conditions to *conds.
 */
static void
union_branches_lineage(LineageContext *lc, Query *q, List **conds)
{
	RangeTblEntry *urte = rt_fetch(1, q->rtable);
	List	   *rtable = list_make1(urte);
	ListCell   *cell;

	foreach(cell, union_leaves(urte->subquery, urte->subquery->setOperations, NIL))
	{
		Query	   *bq = lfirst(cell);
		List	   *bconds;

		fv_flatten_subqueries(bq);
		bconds = fv_subquery_conditions(bq);
		join_quals(bq, (Node *) bq->jointree, &bconds);
		bq->targetList = (List *) flatten_join_alias_vars(bq, (Node *) bq->targetList);
		OffsetVarNodes((Node *) bconds, list_length(rtable), 0);
		OffsetVarNodes((Node *) bq->targetList, list_length(rtable), 0);
		rtable = list_concat(rtable, bq->rtable);
		*conds = list_concat(*conds, bconds);
		lc->union_tlists = lappend(lc->union_tlists, bq->targetList);
	}
	lc->rtable = rtable;
	lc->union_rte = urte;
}

/*
 * A rollup: the column row->attnum of live view row->relid it reads derives
 * in turn from that view's sources, one level deeper (flowview.lineage of
 * the upstream, when the caller may see its catalog row), down to the base
 * tables.  Direct only when both steps are.
 */
static void
emit_upstream_rows(ReturnSetInfo *rsinfo, int colno, const char *colname, LineageRow *row)
{
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		args[2] = {ObjectIdGetDatum(row->relid),
	CStringGetTextDatum(get_attname(row->relid, row->attnum, false))};
	uint64		i;

	SPI_connect();
	if (SPI_execute_with_args("SELECT l.source_schema, l.source_table, l.source_column, l.transformation,"
							  " l.depth + 1, l.direct, l.expression"
							  " FROM flowview.view_catalog c, flowview.lineage(c.view_oid::pg_catalog.regclass) l"
							  " WHERE c.view_oid = $1 AND l.\"column\" = $2",
							  2, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read the lineage of live view %u", row->relid);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		Datum		values[9];
		bool		nulls[9];
		int			k;

		values[0] = CStringGetTextDatum(colname);
		nulls[0] = false;
		for (k = 1; k <= 7; k++)
		{
			int			out = k <= 5 ? k : k + 1;	/* column_number is ours */

			values[out] = SPI_getbinval(t, d, k, &nulls[out]);
		}
		values[6] = Int32GetDatum(colno);
		nulls[6] = false;
		values[7] = BoolGetDatum(row->direct && !nulls[7] && DatumGetBool(values[7]));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
}

/*
 * The rows of lc->rows, for output column colno named colname, into the
 * result tuplestore.
 */
static void
emit_rows(LineageContext *lc, ReturnSetInfo *rsinfo, int colno, const char *colname)
{
	ListCell   *cell;

	foreach(cell, lc->rows)
	{
		LineageRow *row = lfirst(cell);
		Datum		values[9];
		bool		nulls[9];

		memset(nulls, 0, sizeof(nulls));
		values[0] = CStringGetTextDatum(colname);
		values[1] = CStringGetTextDatum(get_namespace_name(get_rel_namespace(row->relid)));
		values[2] = CStringGetTextDatum(get_rel_name(row->relid));
		if (row->attnum > 0)
			values[3] = CStringGetTextDatum(get_attname(row->relid, row->attnum, false));
		else
			nulls[3] = true;
		values[4] = CStringGetTextDatum(row->transformation);
		values[5] = Int32GetDatum(1);
		values[6] = Int32GetDatum(colno);
		values[7] = BoolGetDatum(row->direct);
		values[8] = CStringGetTextDatum(row->expression);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		if (row->attnum > 0 && fv_live_view_of(row->relid) != 0)
			emit_upstream_rows(rsinfo, colno, colname, row);
	}
	lc->rows = NIL;
}

/*
 * flowview.lineage(view regclass) RETURNS TABLE ("column" text,
 *		source_schema text, source_table text, source_column text,
 *		transformation text, depth int, column_number int, direct boolean,
 *		expression text)
 *
 * The lineage rows of a live view (see the file header), output columns in
 * order, for each its direct dependencies, then filters, then group keys.
 * Throws 42809 (wrong_object_type) when view is not a live view.
 */
Datum
fv_lineage(PG_FUNCTION_ARGS)
{
	Oid			view = PG_GETARG_OID(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext work;
	MemoryContext old;
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1];
	bool		isnull;
	char	   *query;
	char	   *tz;
	Query	   *q;
	RangeTblRef *rtr;
	RangeTblEntry *rte;
	LineageContext lc;
	ListCell   *cell;
	int			save_nestlevel;
	ErrorContextCallback errcallback;
	AnalyseErrorContext errctx;
	int			colno = 0;
	char	   *where_sql = NULL;
	char	   *having_sql = NULL;
	char	   *join_sql = NULL;
	char	   *join_schemas;
	Node	   *where_node = NULL;
	List	   *conds = NIL;
	List	   *join_conds = NIL;
	List	   *filters = NIL;

	InitMaterializedSRF(fcinfo, 0);
	work = AllocSetContextCreate(CurrentMemoryContext, "flowview lineage",
								 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);

	/* the catalog entry: query, pinned time zone, source */
	SPI_connect();
	args[0] = ObjectIdGetDatum(view);
	if (fv_sql_version() >= 4 &&
		SPI_execute_with_args("SELECT FROM flowview.view_catalog WHERE view_oid = $1 AND session_gap IS NOT NULL",
							  1, argtypes, args, NULL, true, 1) == SPI_OK_SELECT && SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("lineage of session view %s is not available",
						DatumGetCString(DirectFunctionCall1(regclassout, ObjectIdGetDatum(view)))),
				 errdetail("Its columns are the key columns, session_start and session_end (min and max of the event time) and the aggregates of flowview.views.query.")));
	if (SPI_execute_with_args(fv_catalog_has_joins() ?
							  "SELECT query, time_zone, source_oid,"
							  " (SELECT string_agg(pg_catalog.quote_ident(n.nspname), ', ' ORDER BY t.i)"
							  "    FROM unnest(join_sources) WITH ORDINALITY t(r, i)"
							  "    JOIN pg_catalog.pg_class k ON k.oid = t.r"
							  "    JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace),"
							  " CASE WHEN join_sources = '{}' THEN 0 ELSE join_sources[1]::pg_catalog.oid END"
							  " FROM flowview.view_catalog"
							  " WHERE view_oid = $1" :
							  "SELECT query, time_zone, source_oid, NULL::text, NULL::pg_catalog.oid FROM flowview.view_catalog"
							  " WHERE view_oid = $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read flowview.view_catalog");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a live view",
						DatumGetCString(DirectFunctionCall1(regclassout, ObjectIdGetDatum(view)))),
				 errhint("SELECT view FROM flowview.views lists the live views.")));
	query = MemoryContextStrdup(work, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	tz = MemoryContextStrdup(work, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2));
	lc.source = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	join_schemas = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4);
	if (join_schemas)
		join_schemas = MemoryContextStrdup(work, join_schemas);
	lc.first_table = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull));
	/* (0 for a join of no table: functions alone) */
	if (isnull)
		lc.first_table = lc.source;
	SPI_finish();
	MemoryContextSwitchTo(work);

	/*
	 * Analyse as at creation, in the view's pinned time zone; deparse
	 * constants the same way whatever the caller's date and interval styles.
	 */
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("TimeZone", tz, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("DateStyle", "ISO, YMD", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("IntervalStyle", "postgres", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	/*
	 * Names in the query resolve through the caller's search_path, then the
	 * source's schema (where an unqualified table was most likely found),
	 * then the view's (a view over a function of no table).
	 */
	(void) set_config_option("search_path",
							 psprintf("%s%s%s, %s", namespace_search_path,
									  namespace_search_path[0] ? ", " : "",
									  join_schemas ? join_schemas :
									  quote_identifier(get_namespace_name(get_rel_namespace(lc.source))),
									  quote_identifier(get_namespace_name(get_rel_namespace(view)))),
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);

	errctx.view = view;
	errctx.query = query;
	errcallback.callback = analyse_error_callback;
	errcallback.arg = (void *) &errctx;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	q = analyse_view_query(query, lc.source);
	error_context_stack = errcallback.previous;
	lc.rtable = q->rtable;
	lc.rows = NIL;
	lc.union_rte = NULL;
	lc.union_tlists = NIL;
	if (fv_is_join_relation(lc.source))
	{
		/*
		 * a join: its tables' columns (those of EXISTS and IN subqueries
		 * too), the conditions between them as "join"
		 */
		if (q->setOperations)
			q = fv_wrap_union(q);
		fv_flatten_subqueries(q);
		q->targetList = (List *) flatten_join_alias_vars(q, (Node *) q->targetList);
		q->havingQual = flatten_join_alias_vars(q, q->havingQual);
		lc.rtindex = 0;
		if (fv_is_union_query(q))
			union_branches_lineage(&lc, q, &conds);
		else
		{
			conds = fv_subquery_conditions(q);
			join_quals(q, (Node *) q->jointree, &conds);
			lc.rtable = q->rtable;
		}
		lc.dpcontext = fv_join_deparse_context(lc.rtable);
		foreach(cell, conds)
		{
			Node	   *cond = lfirst(cell);

			if (bms_membership(pull_varnos(NULL, cond)) == BMS_MULTIPLE)
				join_conds = lappend(join_conds, cond);
			else
				filters = lappend(filters, cond);
		}
		if (filters != NIL)
			where_sql = psprintf("WHERE %s", expr_sql(&lc, (Node *) make_ands_explicit(filters)));
		if (join_conds != NIL)
			join_sql = psprintf("ON %s", expr_sql(&lc, (Node *) make_ands_explicit(join_conds)));
		where_node = (Node *) filters;
	}
	else
	{
		if (list_length(q->jointree->fromlist) != 1 ||
			!IsA(linitial(q->jointree->fromlist), RangeTblRef))
			elog(ERROR, "pg_flowview: the defining query of live view %u does not read one table", view);
		rtr = linitial_node(RangeTblRef, q->jointree->fromlist);
		rte = rt_fetch(rtr->rtindex, q->rtable);
		if (rte->rtekind != RTE_RELATION || rte->relid != lc.source)
			elog(ERROR, "pg_flowview: the defining query of live view %u does not read its source", view);
		lc.rtindex = rtr->rtindex;
		lc.dpcontext = deparse_context_for(get_rel_name(lc.source), lc.source);
		if (q->jointree->quals)
			where_sql = psprintf("WHERE %s", expr_sql(&lc, q->jointree->quals));
		where_node = q->jointree->quals;
	}
	if (q->havingQual)
		having_sql = psprintf("HAVING %s", expr_sql(&lc, q->havingQual));

	foreach(cell, q->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, cell);
		Node	   *expr = (Node *) tle->expr;

		if (tle->resjunk)
			continue;
		colno++;

		/*
		 * direct: what the column's value is computed from; without GROUP
		 * BY and aggregates (a projection, with or without DISTINCT) every
		 * output column is a key of the view's storage (analyze.c)
		 */
		if (tle->ressortgroupref != 0 || (!q->hasAggs && q->groupClause == NIL))
		{
			Node	   *key = strip_implicit_relabel(expr);

			if (IsA(key, Var))
				add_rows(&lc, key, "group key", true, expr_sql(&lc, expr));
			else
				add_rows(&lc, key, psprintf("expression: %s", expr_kind(key)), true,
						 expr_sql(&lc, expr));
		}
		else if (IsA(expr, Aggref))
		{
			Aggref	   *agg = (Aggref *) expr;

			add_rows(&lc, (Node *) agg->args,
					 agg->aggstar ? "aggregate: count(*)" :
					 psprintf("aggregate: %s", get_func_name(agg->aggfnoid)),
					 true, expr_sql(&lc, expr));
			if (agg->aggfilter)
				add_rows(&lc, (Node *) agg->aggfilter, "filter", false,
						 psprintf("FILTER (WHERE %s)", expr_sql(&lc, (Node *) agg->aggfilter)));
		}
		else
			elog(ERROR, "pg_flowview: output column \"%s\" of live view %u is neither a group key nor an aggregate",
				 tle->resname, view);

		/* indirect: which rows count, which groups there are */
		if (where_sql)
			add_rows(&lc, where_node, "filter", false, where_sql);
		if (join_sql)
			add_rows(&lc, (Node *) join_conds, "join", false, join_sql);
		if (having_sql)
			add_rows(&lc, q->havingQual, "filter", false, having_sql);
		if (tle->ressortgroupref == 0 && q->groupClause != NIL)
		{
			ListCell   *gc;

			foreach(gc, q->groupClause)
			{
				SortGroupClause *sgc = lfirst_node(SortGroupClause, gc);
				Node	   *key = (Node *) get_sortgroupclause_expr(sgc, q->targetList);

				add_rows(&lc, key, "group by", false, expr_sql(&lc, key));
			}
		}
		{
			/* the view's own name of the column (create_view('v(a, b)', ...) renames) */
			char	   *colname = get_attname(view, colno, true);

			emit_rows(&lc, rsinfo, colno, colname ? colname : tle->resname ? tle->resname : "?column?");
		}
	}

	AtEOXact_GUC(true, save_nestlevel);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
	return (Datum) 0;
}
