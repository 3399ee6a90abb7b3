/*-------------------------------------------------------------------------
 *
 * analyze.c
 *	  Check a live view's defining query and take it apart.
 *
 * A live view is maintained by adding and subtracting the contributions of
 * changed source rows, so only queries whose result is a function of such
 * sums can be live: one source table (plain or partitioned), a WHERE over
 * the row, GROUP BY expressions of the row, and the aggregates count, sum,
 * avg, min and max (optionally with FILTER); HAVING filters the groups users
 * see.  Everything else is rejected here, before anything is created, with
 * SQLSTATE 0A000 and a message that names the construct.
 *
 * A query without GROUP BY and aggregates (a projection of the filtered
 * rows, FV_VIEW_ROWS) is analysed as if it grouped by every output column:
 * the storage counts the source rows of each distinct output row (__rows,
 * exact under inserts, updates and deletes, NULLs included) and the
 * user-facing view repeats each stored row that many times.  Grouping
 * merges values that are equal but not identical (numeric 1.0 and 1.00,
 * float -0 and 0, jsonb numbers of different scales): a group key whose
 * type's equality does not imply identical values (its btree operator
 * class has no "equalimage" support saying so, as for B-tree
 * deduplication) gets a hidden second key, the value's binary image (its
 * send function), so the view shows each row's own value.  SELECT DISTINCT
 * (FV_VIEW_DISTINCT) is the same storage without the images, each group
 * shown once: DISTINCT shows one value per equality class, as GROUP BY does.
 *
 * Expressions must give the same result whenever they are evaluated
 * (backfill now, deltas later): volatile functions are refused, and stable
 * ones only where their one varying input is the time zone, which the view
 * pins at creation (date_trunc on timestamptz, casts to date/timestamp...).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/nbtree.h"
#include "access/relation.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_aggregate.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteManip.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"
#include "utils/rel.h"
#include "utils/typcache.h"

#include "executor/spi.h"
#include "pg_flowview.h"
#include "views/analyze.h"
#include "views/security.h"

static void
reject(const char *construct, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s not supported in a live view", construct),
			 hint ? errhint("%s", hint) : 0));
}

/* stable functions whose only varying input is the (pinned) time zone */
static const char *const tz_stable_functions[] = {
	"date_trunc", "date_part", "extract", "timezone", "date", "timestamp",
	"timestamptz", "time", "timetz", "to_char", "date_bin",
	"timestamptz_pl_interval", "timestamptz_mi_interval", NULL
};

static void reject_now(void);

static bool
check_function(Oid funcid, void *context)
{
	char		vol = func_volatile(funcid);
	char	   *name;
	int			i;

	if (vol == PROVOLATILE_IMMUTABLE)
		return false;
	if (funcid == F_NOW || funcid == F_TRANSACTION_TIMESTAMP)
		reject_now();			/* not in a sliding window's condition */
	name = get_func_name(funcid);
	if (vol == PROVOLATILE_STABLE)
	{
		for (i = 0; tz_stable_functions[i]; i++)
			if (name && strcmp(name, tz_stable_functions[i]) == 0)
				return false;
	}
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s function %s() is not supported in a live view",
					vol == PROVOLATILE_VOLATILE ? "volatile" : "stable",
					name ? name : "?"),
			 errdetail("A live view's expressions must give the same result whenever they are evaluated."),
			 errhint("Use immutable expressions; time zone dependent ones such as date_trunc() on timestamptz are fine, the view pins the time zone.")));
	return true;
}

typedef struct ExprCheckContext
{
	Index		rtindex;		/* 0: any base relation of a join (by_rt) */
	Bitmapset  *attnos;			/* columns read, offset by FirstLowInvalid... */
	Bitmapset **by_rt;			/* join: per range table index, columns read */
} ExprCheckContext;

static bool
check_expr_walker(Node *node, ExprCheckContext *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
	{
		Var		   *var = (Var *) node;

		if (var->varlevelsup != 0 ||
			(ctx->rtindex != 0 ? var->varno != ctx->rtindex : ctx->by_rt[var->varno] == NULL))
			reject("outer references are", NULL);
		if (var->varattno == 0)
			reject("whole-row references are", "Name the columns you need.");
		if (var->varattno < 0)
			reject("system columns are", NULL);
		if (ctx->rtindex != 0)
			ctx->attnos = bms_add_member(ctx->attnos,
										 var->varattno - FirstLowInvalidHeapAttributeNumber);
		else
			ctx->by_rt[var->varno] = bms_add_member(ctx->by_rt[var->varno],
													var->varattno - FirstLowInvalidHeapAttributeNumber);
		return false;
	}
	if (IsA(node, Param))
		reject("parameters are", NULL);
	if (IsA(node, SubLink))
		reject("subqueries are", NULL);
	if (IsA(node, NextValueExpr))
		reject("sequence functions are", NULL);
	if (IsA(node, SQLValueFunction) && ((SQLValueFunction *) node)->op == SVFOP_CURRENT_TIMESTAMP)
		reject_now();
	if (IsA(node, SQLValueFunction))
		reject("CURRENT_DATE, CURRENT_USER and similar values are",
			   "Their value changes while the view is live.");
	if (IsA(node, Aggref))
	{
		/* an aggregate's arguments and filter; the aggregate itself is checked elsewhere */
		Aggref	   *agg = (Aggref *) node;

		check_expr_walker((Node *) agg->args, ctx);
		check_expr_walker((Node *) agg->aggfilter, ctx);
		return false;
	}
	check_functions_in_node(node, check_function, NULL);
	return expression_tree_walker(node, check_expr_walker, (void *) ctx);
}

static bool
collect_aggrefs_walker(Node *node, List **aggs)
{
	if (node == NULL)
		return false;
	if (IsA(node, Aggref))
	{
		*aggs = lappend(*aggs, node);
		return false;
	}
	return expression_tree_walker(node, collect_aggrefs_walker, (void *) aggs);
}

/*
 * Refuse (0A000) a GROUP BY key or min/max argument under a nondeterministic
 * collation (e.g. case-insensitive ICU): values that are equal but not
 * identical ('North', 'north') would be one group or one extreme whose
 * representative PostgreSQL picks arbitrarily, so no maintained value could
 * be shown to equal the query's; and the storage's unique indexes would
 * merge them in ways the apply cannot net.
 */
static void
check_deterministic(FvViewDef *def, Node *expr, Oid collation, const char *what)
{
	if (!OidIsValid(collation) || get_collation_isdeterministic(collation))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s %s with nondeterministic collation %s is not supported in a live view",
					what, def->join ? "over the join" :
					deparse_expression(expr, deparse_context_for(get_rel_name(def->source), def->source),
									   false, false),
					generate_collation_name(collation)),
			 errdetail("Values equal under a nondeterministic collation but not identical have no single value a live view could show."),
			 errhint("Give the expression a deterministic collation, e.g. lower(x) COLLATE \"C\".")));
}

/*
 * The key of output column out (expression expr) of a view without
 * aggregates: refused (0A000) when its type has no default btree operator
 * class (json, xml, point...: the storage tells its rows apart with one);
 * for FV_VIEW_ROWS followed in def->groupkeys by the value's binary image
 * when equal values of the type may differ (see the head comment).
 */
static void
add_row_key(FvViewDef *def, FvOutput *out, Node *expr, ExprCheckContext *ctx)
{
	FvGroupKey *gk = palloc0(sizeof(FvGroupKey));
	TypeCacheEntry *tce;
	Oid			equalimage;
	bool		identical = false;

	gk->expr = expr;
	gk->type = exprType(expr);
	gk->typmod = exprTypmod(expr);
	gk->collation = exprCollation(expr);
	check_expr_walker(expr, ctx);
	check_deterministic(def, expr, gk->collation, "output column");
	tce = lookup_type_cache(gk->type, TYPECACHE_BTREE_OPFAMILY | TYPECACHE_EQ_OPR);
	if (!OidIsValid(tce->btree_opf) || !OidIsValid(tce->eq_opr))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("output column \"%s\" of type %s is not supported in a live view without aggregates",
						out->name, format_type_be(gk->type)),
				 errdetail("Such a view keeps each distinct row once with its number of source rows, and type %s has no ordering equality to tell rows apart.",
						   format_type_be(gk->type)),
				 errhint("Cast the column to a type that has one, e.g. (%s)::%s AS %s.",
						 deparse_expression(expr, deparse_context_for(get_rel_name(def->source), def->source),
											false, false),
						 gk->type == JSONOID ? "jsonb" : "text", quote_identifier(out->name))));
	out->index = list_length(def->groupkeys);
	def->groupkeys = lappend(def->groupkeys, gk);
	if (def->kind != FV_VIEW_ROWS)
		return;

	equalimage = get_opfamily_proc(tce->btree_opf, tce->btree_opintype, tce->btree_opintype,
								   BTEQUALIMAGE_PROC);
	if (OidIsValid(equalimage))
		identical = DatumGetBool(OidFunctionCall1Coll(equalimage, gk->collation,
													  ObjectIdGetDatum(tce->btree_opintype)));
	if (!identical)
	{
		FvGroupKey *image = palloc0(sizeof(FvGroupKey));
		HeapTuple	typtup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(getBaseType(gk->type)));
		Oid			send;

		if (!HeapTupleIsValid(typtup))
			elog(ERROR, "cache lookup failed for type %u", gk->type);
		send = ((Form_pg_type) GETSTRUCT(typtup))->typsend;
		ReleaseSysCache(typtup);
		image->typmod = -1;
		image->image = true;
		if (OidIsValid(send))
		{
			/* the value's binary form */
			image->expr = (Node *) makeFuncExpr(send, BYTEAOID, list_make1(copyObject(expr)),
												InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
			image->type = BYTEAOID;
			image->collation = InvalidOid;
		}
		else
		{
			/* a type without one (user-defined): its text form, compared bytewise */
			CoerceViaIO *io = makeNode(CoerceViaIO);

			io->arg = (Expr *) copyObject(expr);
			io->resulttype = TEXTOID;
			io->resultcollid = C_COLLATION_OID;
			io->coerceformat = COERCE_EXPLICIT_CAST;
			io->location = -1;
			image->expr = (Node *) io;
			image->type = TEXTOID;
			image->collation = C_COLLATION_OID;
		}
		def->image_keys = lappend(def->image_keys, image);
	}
}

/* Add aggref to def->aggs unless an equal one is there; return its index. */
static int
add_agg(FvViewDef *def, Aggref *aggref)
{
	ListCell   *lc;
	FvAgg	   *agg;
	char	   *name;
	int			i = 0;

	foreach(lc, def->aggs)
	{
		if (equal(((FvAgg *) lfirst(lc))->aggref, aggref))
			return i;
		i++;
	}

	if (aggref->aggdistinct)
		reject("DISTINCT in aggregates is", NULL);
	if (aggref->aggorder)
		reject("ORDER BY in aggregates is", NULL);
	if (aggref->aggkind != AGGKIND_NORMAL)
		reject("ordered-set and hypothetical-set aggregates are", NULL);

	agg = palloc0(sizeof(FvAgg));
	agg->aggref = aggref;
	agg->filter = (Node *) aggref->aggfilter;
	agg->restype = aggref->aggtype;
	agg->restypmod = -1;
	name = get_func_name(aggref->aggfnoid);
	if (get_func_namespace(aggref->aggfnoid) != PG_CATALOG_NAMESPACE)
		name = NULL;
	if (name == NULL || (strcmp(name, "count") != 0 && strcmp(name, "sum") != 0 &&
						 strcmp(name, "avg") != 0 && strcmp(name, "min") != 0 &&
						 strcmp(name, "max") != 0))
		reject(psprintf("aggregate %s() is", get_func_name(aggref->aggfnoid)),
			   "Live views support count, sum, avg, min and max.");
	if (aggref->aggstar)
	{
		agg->kind = FV_AGG_COUNT_STAR;
		agg->statetype = INT8OID;
	}
	else
	{
		if (list_length(aggref->args) != 1)
			reject(psprintf("aggregate %s() with %d arguments is", name,
							list_length(aggref->args)), NULL);
		agg->arg = (Node *) ((TargetEntry *) linitial(aggref->args))->expr;
		agg->argtype = exprType(agg->arg);
	}


	if (aggref->aggstar)
		;						/* count(*): set above */
	else if (strcmp(name, "count") == 0)
	{
		agg->kind = FV_AGG_COUNT;
		agg->statetype = INT8OID;
	}
	else if (strcmp(name, "sum") == 0 || strcmp(name, "avg") == 0)
	{
		agg->kind = name[0] == 's' ? FV_AGG_SUM : FV_AGG_AVG;
		switch (agg->argtype)
		{
			case INT2OID:
			case INT4OID:
				agg->statetype = agg->kind == FV_AGG_SUM ? INT8OID : NUMERICOID;
				break;
			case INT8OID:
			case NUMERICOID:
				agg->statetype = NUMERICOID;
				break;
			default:
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("%s() over type %s is not supported in a live view",
								name, format_type_be(agg->argtype)),
						 errdetail("Only integer and numeric values can be added and subtracted exactly."),
						 errhint("Cast the argument to numeric, e.g. %s(x::numeric).", name)));
		}
	}
	else
	{
		agg->kind = strcmp(name, "min") == 0 ? FV_AGG_MIN : FV_AGG_MAX;
		agg->statetype = agg->argtype;
		check_deterministic(def, agg->arg, exprCollation(agg->arg),
							psprintf("%s() argument", name));
		if (!OidIsValid(GetDefaultOpClass(agg->argtype, BTREE_AM_OID)))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s() over type %s is not supported in a live view",
							name, format_type_be(agg->argtype)),
					 errdetail("The type has no default btree operator class.")));
	}

	def->aggs = lappend(def->aggs, agg);
	return list_length(def->aggs) - 1;
}

/*
 * The catalog id of the live view whose user-facing view is relid, or 0.
 * Read as the extension's owner: readers see only some catalog rows.
 */
int
fv_live_view_of(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(relid)};
	FvSavedUser saved;
	bool		isnull;
	int			id = 0;

	if (get_rel_relkind(relid) != RELKIND_VIEW || fv_sql_version() < 1)
		return 0;
	fv_become_owner(&saved);
	SPI_connect();
	/* not read-only: a view created earlier in the caller's statement counts */
	if (SPI_execute_with_args("SELECT id FROM flowview.view_catalog WHERE view_oid = $1",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read flowview.view_catalog");
	if (SPI_processed == 1)
		id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	fv_restore_user(&saved);
	return id;
}

static void
check_source(RangeTblEntry *rte)
{
	char		relkind = get_rel_relkind(rte->relid);

	if (IsCatalogRelationOid(rte->relid))
		reject("system catalogs are", NULL);
	switch (relkind)
	{
		case RELKIND_RELATION:
		case RELKIND_PARTITIONED_TABLE:
			break;
		case RELKIND_VIEW:
			/* another live view (a rollup): the one-source path takes it */
			if (fv_live_view_of(rte->relid) != 0)
				return;
			reject("views as sources are",
				   "Define the live view over the view's underlying table, or make that view a live view (flowview.create_view) and read it.");
			break;
		case RELKIND_MATVIEW:
			reject("materialized views as sources are", NULL);
			break;
		case RELKIND_FOREIGN_TABLE:
			reject("foreign tables are", NULL);
			break;
		default:
			reject("this kind of relation is", NULL);
	}
	if (get_rel_persistence(rte->relid) == RELPERSISTENCE_TEMP)
		reject("temporary tables are", "Their changes are not decoded.");
	if (get_rel_persistence(rte->relid) == RELPERSISTENCE_UNLOGGED)
		reject("unlogged tables are", "Their changes are not written to the WAL.");
	if (relkind == RELKIND_RELATION && rte->inh && has_subclass(rte->relid))
		reject("tables with inheritance children are",
			   "Use a partitioned table, or FROM ONLY.");
	/* pg_flowview's own tables (storage of other views, catalogs): never decoded for views */
	if (get_rel_namespace(rte->relid) ==
		get_namespace_oid("flowview", true))
		reject("pg_flowview's own tables (the storage of live views, its catalogs) are",
			   "Define the live view over the source table of the other view.");
	/* generated SQL names the source FV_SOURCE_TOKEN (fv_with_source) */
	if (get_attnum(rte->relid, FV_SOURCE_TOKEN) != InvalidAttrNumber)
		reject("a source column named " FV_SOURCE_TOKEN " is", "Rename the column.");
	/* every partition must be decoded too */
	if (relkind == RELKIND_PARTITIONED_TABLE)
	{
		ListCell   *lc;

		foreach(lc, find_all_inheritors(rte->relid, AccessShareLock, NULL))
		{
			char		kind = get_rel_relkind(lfirst_oid(lc));

			if (kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE)
				reject("partitioned tables with foreign partitions are", "Their rows are not in the WAL.");
			if (get_rel_persistence(lfirst_oid(lc)) != RELPERSISTENCE_PERMANENT)
				reject("partitioned tables with unlogged partitions are",
					   "Their changes are not written to the WAL.");
		}
	}
}

/* A live view read by a join or an EXISTS: refused (its changes are not a table's) */
static void
reject_live_view_in_join(RangeTblEntry *rte)
{
	if (get_rel_relkind(rte->relid) == RELKIND_VIEW)
		reject("live views joined with other tables, or in EXISTS or IN subqueries, are",
			   "A live view may read another live view alone (a rollup); join the base tables instead.");
}

/* A FROM item that is not a table: refused, named */
static void
check_from_item(RangeTblEntry *rte)
{
	if (rte->rtekind == RTE_SUBQUERY)
		reject("subqueries in FROM that aggregate, group, sort, limit, deduplicate, use set operations or LATERAL are",
			   "Plain SELECT ... FROM ... WHERE subqueries (and WITH queries) are pulled into the live view's query.");
	if (rte->rtekind == RTE_CTE)
		reject("WITH queries that are recursive, MATERIALIZED or not a SELECT are", NULL);
	if (rte->rtekind == RTE_FUNCTION || rte->rtekind == RTE_TABLEFUNC)
		reject("functions in FROM are", NULL);
	if (rte->rtekind == RTE_VALUES)
		reject("VALUES lists are", NULL);
	if (rte->rtekind != RTE_RELATION)
		reject("this kind of FROM item is", NULL);
	if (rte->tablesample)
		reject("TABLESAMPLE is", NULL);
	check_source(rte);
}

/* ----------------------------------------------------------------
 * Subqueries in FROM and WITH, flattened
 * ----------------------------------------------------------------
 */

/*
 * Can subquery sub (a FROM item) be replaced by its own FROM items, its
 * WHERE joining the outer query's conditions and its output expressions
 * standing in for its columns?  Only a plain select-project-join of tables
 * and such subqueries: nothing that groups, orders, limits, deduplicates or
 * evaluates a row more than once.
 */
static bool
is_flat_subquery(Query *sub)
{
	ListCell   *lc;

	if (sub->commandType != CMD_SELECT || sub->hasAggs || sub->groupClause ||
		sub->havingQual || sub->groupingSets || sub->distinctClause || sub->sortClause ||
		sub->limitCount || sub->limitOffset || sub->setOperations || sub->cteList ||
		sub->hasWindowFuncs || sub->hasTargetSRFs || sub->hasSubLinks || sub->rowMarks ||
		sub->hasForUpdate || sub->hasRecursive)
		return false;
	foreach(lc, sub->targetList)
		if (contain_volatile_functions((Node *) ((TargetEntry *) lfirst(lc))->expr))
			return false;
	foreach(lc, sub->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->lateral || (rte->rtekind != RTE_RELATION && rte->rtekind != RTE_JOIN &&
							 rte->rtekind != RTE_SUBQUERY))
			return false;
	}
	return true;
}

typedef struct PulledUp
{
	int			rtindex;
	RangeTblEntry *rte;
	List	   *targetList;
} PulledUp;

static void flatten_from(Query *q, Node **node, List **pulled);

/*
 * WITH queries that are plain SELECTs become subqueries in FROM where they
 * are referenced (PostgreSQL itself inlines them so, when they are not
 * MATERIALIZED); then every flat subquery in FROM (is_flat_subquery) is
 * pulled up into the query, as the planner does: its tables join the
 * outer FROM, its WHERE joins the conditions, its output expressions stand
 * in for its columns.  What remains is refused by the checks that follow.
 */
/*
 * References to the WITH queries ctes from subqueries levelsup levels down
 * (in FROM, at any depth) become those queries, as subqueries.
 */
/*
 * A reference rte to one of the WITH queries ctes that is a plain SELECT
 * (not RECURSIVE, not MATERIALIZED) becomes that query, as a subquery.
 */
static void
inline_cte(RangeTblEntry *rte, List *ctes)
{
	ListCell   *cc;

	foreach(cc, ctes)
	{
		CommonTableExpr *cte = lfirst(cc);

		if (strcmp(cte->ctename, rte->ctename) != 0)
			continue;
		if (cte->cterecursive || cte->ctematerialized == CTEMaterializeAlways ||
			!IsA(cte->ctequery, Query) || ((Query *) cte->ctequery)->commandType != CMD_SELECT)
			return;
		rte->rtekind = RTE_SUBQUERY;
		rte->subquery = copyObject((Query *) cte->ctequery);
		rte->ctename = NULL;
		rte->ctelevelsup = 0;
		rte->coltypes = rte->coltypmods = rte->colcollations = NIL;
		return;
	}
}

/*
 * References to the WITH queries ctes from subqueries levelsup levels down
 * (in FROM, at any depth) become those queries, as subqueries.
 */
static void
inline_outer_ctes(Query *sub, List *ctes, int levelsup)
{
	ListCell   *lc;

	foreach(lc, sub->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_SUBQUERY)
			inline_outer_ctes(rte->subquery, ctes, levelsup + 1);
		else if (rte->rtekind == RTE_CTE && rte->ctelevelsup == levelsup && !rte->self_reference)
			inline_cte(rte, ctes);
	}
}

void
fv_flatten_subqueries(Query *q)
{
	ListCell   *lc;
	List	   *pulled = NIL;
	bool		all_inlined = true;

	/* WITH queries read inside subqueries of FROM */
	if (q->cteList)
		foreach(lc, q->rtable)
			if (((RangeTblEntry *) lfirst(lc))->rtekind == RTE_SUBQUERY)
				inline_outer_ctes(((RangeTblEntry *) lfirst(lc))->subquery, q->cteList, 1);

	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_CTE && rte->ctelevelsup == 0 && !rte->self_reference)
			inline_cte(rte, q->cteList);
	}
	/* every WITH query was inlined where it is used: the list is spent */
	foreach(lc, q->rtable)
		all_inlined &= ((RangeTblEntry *) lfirst(lc))->rtekind != RTE_CTE;
	if (all_inlined)
		q->cteList = NIL;

	/* the FROM items replaced in place, then the Vars of what was pulled up */
	flatten_from(q, (Node **) &q->jointree, &pulled);
	foreach(lc, pulled)
	{
		PulledUp   *p = lfirst(lc);

		q->targetList = (List *) ReplaceVarsFromTargetList((Node *) q->targetList, p->rtindex, 0, p->rte,
														   p->targetList, REPLACEVARS_REPORT_ERROR, 0, NULL);
		q->havingQual = ReplaceVarsFromTargetList(q->havingQual, p->rtindex, 0, p->rte, p->targetList,
												  REPLACEVARS_REPORT_ERROR, 0, NULL);
		q->jointree = (FromExpr *) ReplaceVarsFromTargetList((Node *) q->jointree, p->rtindex, 0, p->rte,
															 p->targetList, REPLACEVARS_REPORT_ERROR, 0, NULL);
	}
}

static void
flatten_from(Query *q, Node **node, List **pulled)
{
	if (IsA(*node, RangeTblRef))
	{
		int			rtindex = ((RangeTblRef *) *node)->rtindex;
		RangeTblEntry *rte = rt_fetch(rtindex, q->rtable);
		Query	   *sub;
		PulledUp   *p;

		if (rte->rtekind != RTE_SUBQUERY || rte->lateral)
			return;
		/* its own WITH queries and subqueries first */
		sub = copyObject(rte->subquery);
		fv_flatten_subqueries(sub);
		if (!is_flat_subquery(sub))
			return;
		/* its range table appended to ours, its Vars renumbered */
		OffsetVarNodes((Node *) sub, list_length(q->rtable), 0);
		q->rtable = list_concat(q->rtable, sub->rtable);
		/* the FROM item becomes the subquery's FROM and WHERE */
		*node = (Node *) sub->jointree;
		p = palloc(sizeof(PulledUp));
		p->rtindex = rtindex;
		p->rte = rte;
		p->targetList = sub->targetList;
		*pulled = lappend(*pulled, p);
		return;
	}
	if (IsA(*node, JoinExpr))
	{
		JoinExpr   *je = (JoinExpr *) *node;

		flatten_from(q, &je->larg, pulled);
		flatten_from(q, &je->rarg, pulled);
	}
	else if (IsA(*node, FromExpr))
	{
		ListCell   *lc;

		foreach(lc, ((FromExpr *) *node)->fromlist)
			flatten_from(q, (Node **) &lfirst(lc), pulled);
	}
}

/* x = Param (PARAM_SUBLINK k) of an IN subquery's test: x = the subquery's k-th output */
static Node *
replace_sublink_params_mutator(Node *node, List *outputs)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Param) && ((Param *) node)->paramkind == PARAM_SUBLINK)
	{
		int			k = ((Param *) node)->paramid;

		if (k < 1 || k > list_length(outputs))
			elog(ERROR, "pg_flowview: IN subquery parameter %d out of range", k);
		return copyObject(list_nth(outputs, k - 1));
	}
	return expression_tree_mutator(node, replace_sublink_params_mutator, (void *) outputs);
}

static Node *
replace_sublink_params(Node *testexpr, List *outputs)
{
	return replace_sublink_params_mutator(testexpr, outputs);
}

/*
 * The conjuncts of WHERE that are subqueries over one table t (flat,
 * is_flat_subquery; their conditions c may read the query's columns), each
 * taken out of the query as a semi-join (FV_SEMI_EXISTS) or anti-join
 * (FV_SEMI_NOT_EXISTS) with t on c and a test of x against t's output y:
 *
 *   EXISTS (SELECT ... FROM t WHERE c)       semi   c
 *   NOT EXISTS (...)                         anti   c
 *   x op ANY (SELECT y ...), x IN (...)      semi   c AND x op y
 *   NOT (x op ANY ...), x NOT IN (...)       anti   c AND (x op y) IS NOT FALSE
 *   x op ALL (SELECT y ...)                  anti   c AND (x op y) IS NOT TRUE
 *   NOT (x op ALL ...)                       semi   c AND (x op y) IS FALSE
 *
 * (NOT IN is true when no row makes x = y true or unknown: a NULL on either
 * side keeps the row out, as SQL says.)  t joins the query's range table;
 * def->semi_* keep the kind, t's range table index and the conditions at
 * the query's level.  Any other subquery is refused.
 */
static void
extract_semijoin(FvViewDef *def, Query *q)
{
	List	   *conds = make_ands_implicit((Expr *) q->jointree->quals);
	List	   *kept = NIL;
	ListCell   *lc;

	foreach(lc, conds)
	{
		Node	   *cond = lfirst(lc);
		bool		negated = false;
		bool		anti;
		SubLink    *sl;
		Query	   *sub;
		RangeTblEntry *rte;
		Node	   *quals;

		if (is_notclause(cond))
		{
			negated = true;
			cond = (Node *) get_notclausearg((Expr *) cond);
		}
		if (!IsA(cond, SubLink) ||
			(((SubLink *) cond)->subLinkType != EXISTS_SUBLINK &&
			 ((SubLink *) cond)->subLinkType != ANY_SUBLINK &&
			 ((SubLink *) cond)->subLinkType != ALL_SUBLINK))
		{
			kept = lappend(kept, lfirst(lc));
			continue;
		}
		sl = (SubLink *) cond;
		sub = copyObject((Query *) sl->subselect);
		if (!is_flat_subquery(sub) || list_length(sub->jointree->fromlist) != 1 ||
			!IsA(linitial(sub->jointree->fromlist), RangeTblRef) || list_length(sub->rtable) != 1 ||
			((RangeTblEntry *) linitial(sub->rtable))->rtekind != RTE_RELATION)
			reject("EXISTS, IN, ANY and ALL subqueries other than over one table (EXISTS (SELECT FROM t WHERE ...)) are", NULL);
		rte = linitial(sub->rtable);
		check_from_item(rte);
		reject_live_view_in_join(rte);
		/*
		 * its table joins the query's range table; its conditions (and the
		 * test of x against its output y) come up a level
		 */
		quals = sub->jointree->quals;
		if (sl->subLinkType != EXISTS_SUBLINK)
		{
			List	   *tlist = NIL;
			ListCell   *tc;

			foreach(tc, sub->targetList)
				if (!((TargetEntry *) lfirst(tc))->resjunk)
					tlist = lappend(tlist, ((TargetEntry *) lfirst(tc))->expr);
			quals = (Node *) list_make2(quals, tlist);
		}
		OffsetVarNodes(quals, list_length(q->rtable), 0);
		IncrementVarSublevelsUp(quals, -1, 1);
		anti = negated;
		if (sl->subLinkType != EXISTS_SUBLINK)
		{
			List	   *pair = (List *) quals;
			Node	   *test = replace_sublink_params(copyObject(sl->testexpr), lsecond(pair));
			BooleanTest *bt = NULL;

			if (sl->subLinkType == ANY_SUBLINK && negated)
			{
				bt = makeNode(BooleanTest);
				bt->booltesttype = IS_NOT_FALSE;
			}
			else if (sl->subLinkType == ALL_SUBLINK)
			{
				bt = makeNode(BooleanTest);
				bt->booltesttype = negated ? IS_FALSE : IS_NOT_TRUE;
				anti = !negated;
			}
			if (bt)
			{
				bt->arg = (Expr *) test;
				bt->location = -1;
				test = (Node *) bt;
			}
			quals = linitial(pair) ? (Node *) make_andclause(list_make2(linitial(pair), test)) : test;
		}
		q->rtable = lappend(q->rtable, rte);
		def->semi++;
		def->semi_kinds = lappend_int(def->semi_kinds, anti ? FV_SEMI_NOT_EXISTS : FV_SEMI_EXISTS);
		def->semi_rtindexes = lappend_int(def->semi_rtindexes, list_length(q->rtable));
		def->semi_quals = lappend(def->semi_quals, quals ? make_ands_implicit((Expr *) quals) : NIL);
	}
	if (def->semi == 0)
		return;
	q->jointree->quals = kept ? (Node *) make_ands_explicit(kept) : NULL;
	q->hasSubLinks = false;
	foreach(lc, kept)
		if (checkExprHasSubLink(lfirst(lc)))
			q->hasSubLinks = true;
	q->hasSubLinks |= checkExprHasSubLink((Node *) q->targetList) || checkExprHasSubLink(q->havingQual);
}

/*
 * For lineage: the conditions of q's EXISTS, IN, ANY and ALL subqueries as
 * analysis takes them out of WHERE (their tables appended to q's range
 * table), as a list of conjuncts.
 */
List *
fv_subquery_conditions(Query *q)
{
	FvViewDef  *def = palloc0(sizeof(FvViewDef));
	List	   *conds = NIL;
	ListCell   *lc;

	if (q->hasSubLinks && q->jointree->quals)
		extract_semijoin(def, q);
	foreach(lc, def->semi_quals)
		conds = list_concat(conds, lfirst(lc));
	return conds;
}

/* ----------------------------------------------------------------
 * Joins
 * ----------------------------------------------------------------
 */

/* The join's quals, flattened to base columns, as conjuncts. */
static void
add_quals(Query *q, FvJoin *j, Node *quals)
{
	if (quals == NULL)
		return;
	quals = flatten_join_alias_vars(q, quals);
	j->quals = list_concat(j->quals, make_ands_implicit((Expr *) quals));
}

/*
 * A name for rte among the join's relations: its own, or with a number when
 * another relation has it (the tables of two subqueries or WITH queries
 * pulled up, which may reuse names); the range table entry is renamed too,
 * for deparsing.
 */
static char *
unique_alias(FvJoin *j, RangeTblEntry *rte)
{
	char	   *alias = rte->eref->aliasname;
	int			n = 0;
	bool		clash;

	do
	{
		ListCell   *lc;

		clash = false;
		foreach(lc, j->rels)
			clash |= strcmp(((FvJoinRel *) lfirst(lc))->alias, alias) == 0;
		if (clash)
			alias = psprintf("%s_%d", rte->eref->aliasname, ++n);
	} while (clash);
	if (alias != rte->eref->aliasname)
		rte->eref = makeAlias(alias, rte->eref->colnames);
	return alias;
}

/* A node of the FROM tree over larg and rarg. */
static FvJoinNode *
join_node(FvJoin *j, FvJoinNodeKind kind, FvJoinNode *larg, FvJoinNode *rarg, List *on)
{
	FvJoinNode *n = palloc0(sizeof(FvJoinNode));

	n->kind = kind;
	n->id = ++j->nnodes;
	n->larg = larg;
	n->rarg = rarg;
	n->on = on;
	n->rels = list_copy(larg->rels);
	if (rarg && kind != FV_JN_SEMI && kind != FV_JN_ANTI)
		n->rels = list_concat(n->rels, rarg->rels);
	return n;
}

/* The relation of a table's range table entry, a leaf of the FROM tree. */
static FvJoinNode *
table_node(FvJoin *j, Index rtindex, RangeTblEntry *rte)
{
	FvJoinRel  *rel = palloc0(sizeof(FvJoinRel));
	FvJoinNode *n = palloc0(sizeof(FvJoinNode));

	rel->rtindex = rtindex;
	rel->relid = rte->relid;
	rel->alias = unique_alias(j, rte);
	rel->table = -1;			/* a function (function_node): no table */
	if (rte->rtekind == RTE_RELATION)
	{
		if (!list_member_oid(j->tables, rte->relid))
		{
			j->tables = lappend_oid(j->tables, rte->relid);
			j->table_columns = lappend(j->table_columns, NIL);
		}
		rel->table = list_length(j->tables) - 1;
		while (list_nth_oid(j->tables, rel->table) != rte->relid)
			rel->table--;
	}
	j->rels = lappend(j->rels, rel);
	n->kind = FV_JN_TABLE;
	n->id = ++j->nnodes;
	n->rel = rel;
	n->rels = list_make1(rel);
	return n;
}

/*
 * A function in FROM: one immutable function of constants
 * (generate_series(1, 10), a user's immutable function), a relation that
 * never changes, or of the columns of tables before it in FROM (LATERAL,
 * e.g. flowview.hop(o.ts, ...)): rows that depend only on each row of
 * those tables, so a join's delta joins it to the tables' changed rows as
 * to their rows as they are; not ROWS FROM, WITH ORDINALITY or a function
 * returning record.  Its arguments' columns are checked and collected with
 * the join's conditions (analyze_join).
 */
static FvJoinNode *
function_node(FvJoin *j, Index rtindex, RangeTblEntry *rte)
{
	RangeTblFunction *rtf;
	FvJoinNode *n;
	Relids		varnos;
	int			x = -1;

	if (list_length(rte->functions) != 1 || rte->funcordinality)
		reject("functions in FROM with ROWS FROM or WITH ORDINALITY are", NULL);
	rtf = linitial(rte->functions);
	if (rtf->funccolnames != NIL)
		reject("functions in FROM returning record are", NULL);
	if (contain_vars_of_level(rtf->funcexpr, 1))
		reject("functions in FROM over an outer query's columns are", NULL);
	varnos = pull_varnos(NULL, rtf->funcexpr);
	while ((x = bms_next_member(varnos, x)) >= 0)
	{
		ListCell   *lc;
		bool		table = false;

		foreach(lc, j->rels)
			table |= ((FvJoinRel *) lfirst(lc))->rtindex == x && ((FvJoinRel *) lfirst(lc))->table >= 0;
		if (!table)
			reject("functions in FROM over columns of other functions or of joins are",
				   "Name the tables' columns in the function's arguments.");
	}
	if (checkExprHasSubLink(rtf->funcexpr))
		reject("subqueries in a function's arguments in FROM are", NULL);
	check_functions_in_node(rtf->funcexpr, check_function, NULL);
	j->lateral |= !bms_is_empty(varnos);
	if (bms_is_empty(varnos))
	{
		ExprCheckContext ctx;

		memset(&ctx, 0, sizeof(ctx));
		ctx.rtindex = rtindex;
		check_expr_walker(rtf->funcexpr, &ctx);
	}
	n = table_node(j, rtindex, rte);
	n->rel->func = rtf->funcexpr;
	n->rel->colnames = rte->eref->colnames;
	return n;
}

/*
 * The base tables of FROM item node and its conditions; the node's tree.
 * top: the query's own FROM list, whose WHERE (with an outer join) is the
 * view's unless the list has several items.
 */
static FvJoinNode *
collect_from(Query *q, FvJoin *j, Node *node, bool top)
{
	if (IsA(node, RangeTblRef))
	{
		Index		rtindex = ((RangeTblRef *) node)->rtindex;
		RangeTblEntry *rte = rt_fetch(rtindex, q->rtable);

		if (rte->rtekind == RTE_FUNCTION)
			return function_node(j, rtindex, rte);
		check_from_item(rte);
		reject_live_view_in_join(rte);
		return table_node(j, rtindex, rte);
	}
	else if (IsA(node, JoinExpr))
	{
		JoinExpr   *je = (JoinExpr *) node;
		FvJoinNodeKind kind = FV_JN_INNER;
		FvJoinNode *larg;
		FvJoinNode *rarg;
		List	   *on = NIL;

		switch (je->jointype)
		{
			case JOIN_INNER:
				break;
			case JOIN_LEFT:
			case JOIN_RIGHT:
				kind = FV_JN_LEFT;
				j->outer = true;
				break;
			case JOIN_FULL:
				kind = FV_JN_FULL;
				j->outer = true;
				break;
			default:
				reject("this kind of join is", NULL);
		}
		larg = collect_from(q, j, je->larg, false);
		rarg = collect_from(q, j, je->rarg, false);
		if (je->quals)
			on = make_ands_implicit((Expr *) flatten_join_alias_vars(q, je->quals));
		add_quals(q, j, je->quals);
		/* a RIGHT JOIN b: b LEFT JOIN a (J's columns are named, not placed) */
		if (je->jointype == JOIN_RIGHT)
			return join_node(j, kind, rarg, larg, on);
		return join_node(j, kind, larg, rarg, on);
	}
	else if (IsA(node, FromExpr))
	{
		ListCell   *lc;
		Node	   *quals = ((FromExpr *) node)->quals;
		List	   *conds = NIL;
		FvJoinNode *n = NULL;
		int			items = list_length(((FromExpr *) node)->fromlist);

		foreach(lc, ((FromExpr *) node)->fromlist)
		{
			FvJoinNode *item = collect_from(q, j, lfirst(lc), false);

			n = n ? join_node(j, FV_JN_INNER, n, item, NIL) : item;
		}
		if (n == NULL)
		{
			/* no FROM: one row of nothing, "(SELECT) AS __fv_unit" */
			FvJoinRel  *rel = palloc0(sizeof(FvJoinRel));

			rel->alias = "__fv_unit";
			rel->table = -1;
			j->rels = lappend(j->rels, rel);
			n = palloc0(sizeof(FvJoinNode));
			n->kind = FV_JN_TABLE;
			n->id = ++j->nnodes;
			n->rel = rel;
			n->rels = list_make1(rel);
		}
		add_quals(q, j, quals);
		if (quals)
			conds = make_ands_implicit((Expr *) flatten_join_alias_vars(q, quals));
		if (top && items == 1)
			j->where = list_concat(j->where, conds);	/* the view's WHERE */
		else if (conds != NIL && n->kind == FV_JN_INNER && items > 1)
			n->on = list_concat(n->on, conds);	/* the last comma join's */
		else if (conds != NIL)
			n = join_node(j, FV_JN_FILTER, n, NULL, conds);
		return n;
	}
	reject("this kind of FROM item is", NULL);
	return NULL;
}

/* The name of column attno of rel: a table's, or a function's */
char *
fv_join_rel_column(FvJoinRel *rel, AttrNumber attno)
{
	if (rel->table < 0)
		return strVal(list_nth(rel->colnames, attno - 1));
	return get_attname(rel->relid, attno, false);
}

/* J's columns: the base columns the query reads outside FROM and WHERE */
static bool
collect_join_cols(Node *node, FvJoin *j)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var) && ((Var *) node)->varlevelsup == 0 && ((Var *) node)->varattno > 0)
	{
		Var		   *var = (Var *) node;
		ListCell   *lc;
		FvJoinCol  *col;

		foreach(lc, j->cols)
		{
			col = lfirst(lc);
			if (col->rtindex == var->varno && col->attno == var->varattno)
				return false;
		}
		col = palloc0(sizeof(FvJoinCol));
		col->rtindex = var->varno;
		col->attno = var->varattno;
		foreach(lc, j->rels)
			if (((FvJoinRel *) lfirst(lc))->rtindex == var->varno)
				col->name = psprintf("%s.%s", ((FvJoinRel *) lfirst(lc))->alias,
									 fv_join_rel_column(lfirst(lc), var->varattno));
		if (col->name == NULL)
			reject("outer references are", NULL);
		if (strlen(col->name) >= NAMEDATALEN)
			ereport(ERROR,
					(errcode(ERRCODE_NAME_TOO_LONG),
					 errmsg("column \"%s\" of the join is too long a name for a live view", col->name),
					 errhint("Use shorter table aliases.")));
		j->cols = lappend(j->cols, col);
		return false;
	}
	return expression_tree_walker(node, collect_join_cols, (void *) j);
}

/* The range table entry of J (its relation is bound by create.c) */
static RangeTblEntry *
join_relation_rte(List *colnames)
{
	RangeTblEntry *rte = makeNode(RangeTblEntry);

	rte->rtekind = RTE_RELATION;
	rte->relkind = RELKIND_VIEW;
	rte->eref = makeAlias("j", colnames);
	rte->inh = false;
	return rte;
}

/* Var of a base relation -> the same column of J (range table index 1) */
static Node *
to_join_relation(Node *node, FvJoin *j)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Var) && ((Var *) node)->varlevelsup == 0 && ((Var *) node)->varattno > 0)
	{
		Var		   *var = (Var *) node;
		ListCell   *lc;

		foreach(lc, j->cols)
		{
			FvJoinCol  *col = lfirst(lc);

			if (col->rtindex == var->varno && col->attno == var->varattno)
				return (Node *) makeVar(1, foreach_current_index(lc) + 1, var->vartype,
										var->vartypmod, var->varcollid, 0);
		}
		elog(ERROR, "pg_flowview: join column not collected");
	}
	return expression_tree_mutator(node, to_join_relation, (void *) j);
}

/*
 * A query over a join: check its FROM items and conditions, set def->join,
 * and rewrite q into the same query over J (its only range table entry,
 * index 1), for the one-source analysis.  Inner joins only: J applies the
 * WHERE too.  With a LEFT JOIN, WHERE stays the view's, over J's columns
 * (it filters the NULL-extended rows as well).
 */
static void
analyze_join(FvViewDef *def, Query *q, FvJoin *j)
{
	ExprCheckContext ctx;
	ListCell   *lc;
	List	   *colnames = NIL;

	q->targetList = (List *) flatten_join_alias_vars(q, (Node *) q->targetList);
	q->havingQual = flatten_join_alias_vars(q, q->havingQual);
	j->tree = collect_from(q, j, (Node *) q->jointree, true);
	j->tlist = copyObject(q->targetList);
	for (int k = 0; k < def->semi; k++)
	{
		/* a subquery's table: a semi- or anti-join over FROM */
		Index		rtindex = list_nth_int(def->semi_rtindexes, k);
		List	   *conds = list_nth(def->semi_quals, k);

		j->tree = join_node(j, list_nth_int(def->semi_kinds, k) == FV_SEMI_EXISTS ? FV_JN_SEMI : FV_JN_ANTI,
							j->tree, table_node(j, rtindex, rt_fetch(rtindex, q->rtable)), list_copy(conds));
		j->quals = list_concat(j->quals, list_copy(conds));
		j->outer = true;
	}
	if (list_length(j->rels) > FV_JOIN_MAX_RELS)
		reject(psprintf("joins of more than %d tables are", FV_JOIN_MAX_RELS), NULL);
	foreach(lc, j->rels)
		if (j->outer && ((FvJoinRel *) lfirst(lc))->table < 0)
			reject(((FvJoinRel *) lfirst(lc))->func ? "functions in FROM together with outer joins or EXISTS are" :
				   "EXISTS and IN subqueries in a query without FROM are", NULL);
	j->rtable = q->rtable;

	/* conditions: over the join's tables, expressions as anywhere else */
	memset(&ctx, 0, sizeof(ctx));
	ctx.by_rt = palloc0(sizeof(Bitmapset *) * (list_length(q->rtable) + 1));
	foreach(lc, j->rels)
		ctx.by_rt[((FvJoinRel *) lfirst(lc))->rtindex] = bms_make_singleton(0);
	foreach(lc, j->quals)
	{
		if (contain_agg_clause(lfirst(lc)))
			reject("aggregates in join conditions are", NULL);
		check_expr_walker(lfirst(lc), &ctx);
	}
	check_expr_walker((Node *) q->targetList, &ctx);
	check_expr_walker(q->havingQual, &ctx);
	foreach(lc, def->temporal)
		check_expr_walker(((FvTemporal *) lfirst(lc))->expr, &ctx);
	foreach(lc, j->rels)			/* a LATERAL function's arguments */
		if (((FvJoinRel *) lfirst(lc))->func != NULL)
			check_expr_walker(((FvJoinRel *) lfirst(lc))->func, &ctx);

	/* J's columns, and every column read per table */
	(void) collect_join_cols((Node *) q->targetList, j);
	(void) collect_join_cols(q->havingQual, j);
	foreach(lc, def->temporal)			/* a sliding window filters J's rows */
		(void) collect_join_cols(((FvTemporal *) lfirst(lc))->expr, j);
	if (j->outer)
		(void) collect_join_cols((Node *) j->where, j);	/* WHERE filters J's rows */
	foreach(lc, j->rels)
	{
		FvJoinRel  *rel = lfirst(lc);
		ListCell   *tc;
		int			x = 0;

		if (rel->table < 0)
			continue;			/* a function: J reads its columns by name */
		tc = list_nth_cell(j->table_columns, rel->table);
		while ((x = bms_next_member(ctx.by_rt[rel->rtindex], x)) >= 0)
		{
			char	   *name = get_attname(rel->relid, x + FirstLowInvalidHeapAttributeNumber, false);
			ListCell   *cc;
			bool		have = false;

			foreach(cc, lfirst(tc))
				have |= strcmp(lfirst(cc), name) == 0;
			if (!have)
				lfirst(tc) = lappend(lfirst(tc), name);
			if (strlen(rel->alias) + 1 + strlen(name) >= NAMEDATALEN)
				ereport(ERROR,
						(errcode(ERRCODE_NAME_TOO_LONG),
						 errmsg("column \"%s.%s\" of the join is too long a name for a live view",
								rel->alias, name),
						 errhint("Use shorter table aliases.")));
		}
	}

	/* the query over J */
	q->targetList = (List *) to_join_relation((Node *) q->targetList, j);
	q->havingQual = to_join_relation(q->havingQual, j);
	foreach(lc, def->temporal)
		((FvTemporal *) lfirst(lc))->expr = to_join_relation(((FvTemporal *) lfirst(lc))->expr, j);
	foreach(lc, j->cols)
		colnames = lappend(colnames, makeString(((FvJoinCol *) lfirst(lc))->name));
	q->rtable = list_make1(join_relation_rte(colnames));
	q->jointree = makeFromExpr(list_make1(makeNode(RangeTblRef)),
							   j->outer && j->where ?
							   to_join_relation((Node *) make_ands_explicit(j->where), j) : NULL);
	linitial_node(RangeTblRef, q->jointree->fromlist)->rtindex = 1;
	def->join = j;
}

/* ----------------------------------------------------------------
 * UNION ALL
 * ----------------------------------------------------------------
 */

/* the branches of a tree of UNION ALL, in order (their range table indexes) */
static List *
union_branches(Node *node, List *branches)
{
	SetOperationStmt *op;

	if (IsA(node, RangeTblRef))
		return lappend_int(branches, ((RangeTblRef *) node)->rtindex);
	op = castNode(SetOperationStmt, node);
	if (op->op != SETOP_UNION || !op->all)
		reject("UNION (without ALL), INTERSECT and EXCEPT are",
			   "UNION ALL of queries without aggregates is maintained; UNION is SELECT DISTINCT over the UNION ALL.");
	branches = union_branches(op->larg, branches);
	return union_branches(op->rarg, branches);
}

/*
 * A query over one FROM item, q's range table entry 1: a subquery that is a
 * UNION ALL of branches, each a select-project-join (joins of any shape,
 * EXISTS and the rest as in a view, no aggregates, grouping or DISTINCT).
 * J is that UNION ALL: each branch becomes a join relation of its own
 * (analyze_join, sharing the list of tables), and J's delta is the sum of
 * theirs, each projected through its branch's select list (join.c).
 */
static void
analyze_union(FvViewDef *def, Query *q)
{
	RangeTblEntry *urte = rt_fetch(1, q->rtable);
	Query	   *uq = urte->subquery;
	SetOperationStmt *op = castNode(SetOperationStmt, uq->setOperations);
	FvJoin	   *j = palloc0(sizeof(FvJoin));
	ListCell   *lc;
	List	   *colnames = NIL;

	if (uq->sortClause || uq->limitCount || uq->limitOffset || uq->rowMarks)
		reject("ORDER BY, LIMIT and FOR UPDATE of a UNION ALL are", NULL);
	foreach(lc, union_branches(uq->setOperations, NIL))
	{
		Query	   *bq = copyObject(rt_fetch(lfirst_int(lc), uq->rtable)->subquery);
		FvViewDef  *bdef = palloc0(sizeof(FvViewDef));
		FvJoin	   *b = palloc0(sizeof(FvJoin));

		fv_flatten_subqueries(bq);
		if (bq->hasAggs || bq->groupClause || bq->havingQual || bq->groupingSets ||
			bq->distinctClause || bq->sortClause || bq->limitCount || bq->limitOffset ||
			bq->hasWindowFuncs || bq->hasTargetSRFs || bq->rowMarks || bq->cteList)
			reject("branches of a UNION ALL that aggregate, group, deduplicate, sort, limit or use WITH RECURSIVE are",
				   "Aggregate over the UNION ALL instead: SELECT k, count(*) FROM (SELECT k FROM a UNION ALL SELECT k FROM b) u GROUP BY k.");
		if (bq->hasSubLinks && bq->jointree->quals)
			extract_semijoin(bdef, bq);
		if (bq->hasSubLinks)
			reject("subqueries other than [NOT] EXISTS, IN, ANY or ALL conditions ANDed in WHERE (scalar subqueries, subqueries under OR or in the select list) are",
				   NULL);
		/* the tables so far, so that every branch numbers them alike */
		b->tables = j->tables;
		b->table_columns = j->table_columns;
		analyze_join(bdef, bq, b);
		j->tables = b->tables;
		j->table_columns = b->table_columns;
		j->rels = list_concat(j->rels, b->rels);
		j->quals = list_concat(j->quals, list_copy(b->quals));
		j->quals = list_concat(j->quals, list_copy(b->tlist));	/* functions, for security.c */
		j->branches = lappend(j->branches, b);
	}
	/* every branch with the final list */
	foreach(lc, j->branches)
	{
		((FvJoin *) lfirst(lc))->tables = j->tables;
		((FvJoin *) lfirst(lc))->table_columns = j->table_columns;
	}
	if (list_length(j->rels) > FV_JOIN_MAX_RELS)
		reject(psprintf("UNION ALL branches over more than %d tables in all are", FV_JOIN_MAX_RELS), NULL);
	j->col_types = op->colTypes;
	j->col_typmods = op->colTypmods;

	/* J's columns: the UNION's, names made unique */
	foreach(lc, urte->eref->colnames)
	{
		char	   *name = strVal(lfirst(lc));
		ListCell   *other;
		bool		clash = false;

		foreach(other, urte->eref->colnames)
			clash |= other != lc && strcmp(strVal(lfirst(other)), name) == 0;
		if (clash)
			name = psprintf("%s_%d", name, foreach_current_index(lc) + 1);
		colnames = lappend(colnames, makeString(name));
		j->union_names = lappend(j->union_names, name);
	}
	q->rtable = list_make1(join_relation_rte(colnames));
	def->join = j;
}

/*
 * A top-level UNION ALL q as SELECT * FROM (q) __fv_union: its rows, a
 * view without aggregates over the UNION ALL.
 */
Query *
fv_wrap_union(Query *uq)
{
	Query	   *q = makeNode(Query);
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	RangeTblRef *rtr = makeNode(RangeTblRef);
	List	   *colnames = NIL;
	ListCell   *lc;

	foreach(lc, uq->targetList)
	{
		TargetEntry *tle = lfirst(lc);

		if (!tle->resjunk)
			colnames = lappend(colnames, makeString(tle->resname ? tle->resname : "?column?"));
	}
	rte->rtekind = RTE_SUBQUERY;
	rte->subquery = uq;
	rte->alias = NULL;
	rte->eref = makeAlias("__fv_union", colnames);
	rte->inh = false;
	rte->inFromCl = true;
	q->commandType = CMD_SELECT;
	q->querySource = QSRC_ORIGINAL;
	q->canSetTag = true;
	q->rtable = list_make1(rte);
	rtr->rtindex = 1;
	q->jointree = makeFromExpr(list_make1(rtr), NULL);
	foreach(lc, uq->targetList)
	{
		TargetEntry *tle = lfirst(lc);

		if (tle->resjunk)
			continue;
		q->targetList = lappend(q->targetList,
								makeTargetEntry((Expr *) makeVar(1, tle->resno, exprType((Node *) tle->expr),
																 exprTypmod((Node *) tle->expr),
																 exprCollation((Node *) tle->expr), 0),
												list_length(q->targetList) + 1, tle->resname, false));
	}
	return q;
}

/* Is q's FROM one item, a UNION ALL subquery? */
bool
fv_is_union_query(Query *q)
{
	RangeTblEntry *rte;

	if (list_length(q->jointree->fromlist) != 1 || !IsA(linitial(q->jointree->fromlist), RangeTblRef) ||
		list_length(q->rtable) != 1)
		return false;
	rte = rt_fetch(linitial_node(RangeTblRef, q->jointree->fromlist)->rtindex, q->rtable);
	return rte->rtekind == RTE_SUBQUERY && rte->subquery->setOperations != NULL;
}

/* ----------------------------------------------------------------
 * Sliding windows: WHERE conditions on now()
 * ----------------------------------------------------------------
 */

/* now(), transaction_timestamp() or CURRENT_TIMESTAMP (all the same value) */
static bool
is_now(Node *node)
{
	if (IsA(node, FuncExpr))
		return ((FuncExpr *) node)->funcid == F_NOW ||
			((FuncExpr *) node)->funcid == F_TRANSACTION_TIMESTAMP;
	if (IsA(node, SQLValueFunction))
		return ((SQLValueFunction *) node)->op == SVFOP_CURRENT_TIMESTAMP;
	return false;
}

static bool
contains_now(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (is_now(node))
		return true;
	return expression_tree_walker(node, contains_now, context);
}

static void
reject_now(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("now() is supported in a live view only in a sliding window's condition"),
			 errdetail("A sliding window is a condition ANDed in WHERE that compares a column (or an expression over the row) with now(), now() - interval or now() + interval, the interval a constant."),
			 errhint("For example: WHERE created_at > now() - interval '15 minutes', or created_at BETWEEN now() - interval '1 hour' AND now().")));
}

/*
 * The offset of "now()", "now() - c" or "now() + c" (c an interval
 * constant) as SQL to append to the window clock, or NULL for anything
 * else.  Printed with IntervalStyle postgres, which reads back the same
 * under any style.
 */
static char *
now_offset(Node *node)
{
	OpExpr	   *op;
	Const	   *c;
	Oid			fn;
	int			level;
	char	   *text;

	if (is_now(node))
		return "";
	if (!IsA(node, OpExpr) || list_length(((OpExpr *) node)->args) != 2)
		return NULL;
	op = (OpExpr *) node;
	fn = get_opcode(op->opno);
	if (!is_now(linitial(op->args)) || !IsA(lsecond(op->args), Const) ||
		(fn != F_TIMESTAMPTZ_MI_INTERVAL && fn != F_TIMESTAMPTZ_PL_INTERVAL))
		return NULL;
	c = lsecond_node(Const, op->args);
	if (c->consttype != INTERVALOID || c->constisnull)
		return NULL;
	level = NewGUCNestLevel();
	(void) set_config_option("intervalstyle", "postgres", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	text = DatumGetCString(DirectFunctionCall1(interval_out, c->constvalue));
	AtEOXact_GUC(true, level);
	return psprintf(" OPERATOR(pg_catalog.%s) %s::pg_catalog.interval",
					fn == F_TIMESTAMPTZ_MI_INTERVAL ? "-" : "+", quote_literal_cstr(text));
}

static Oid
op_namespace(Oid opno)
{
	HeapTuple	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opno));
	Oid			nsp;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator %u", opno);
	nsp = ((Form_pg_operator) GETSTRUCT(tup))->oprnamespace;
	ReleaseSysCache(tup);
	return nsp;
}

/* the conjuncts of an AND tree (BETWEEN is one) */
static List *
and_conjuncts(Node *node, List *conds)
{
	if (node != NULL && is_andclause(node))
	{
		ListCell   *lc;

		foreach(lc, ((BoolExpr *) node)->args)
			conds = and_conjuncts(lfirst(lc), conds);
		return conds;
	}
	return lappend(conds, node);
}

/*
 * Take WHERE's sliding-window conditions out of q into def->temporal:
 * conjuncts "expr op now-expression" (or the other way round) with op a
 * <, <=, > or >= of the date and time types (btree family datetime_ops),
 * expr free of now().  now() anywhere else is refused.
 */
static void
extract_temporal(FvViewDef *def, Query *q)
{
	List	   *keep = NIL;
	ListCell   *lc;
	Oid			datetime_ops;

	if (!contains_now(q->jointree->quals, NULL))
		return;
	datetime_ops = get_opfamily_oid(BTREE_AM_OID, list_make1(makeString("datetime_ops")), false);
	foreach(lc, and_conjuncts(q->jointree->quals, NIL))
	{
		Node	   *c = lfirst(lc);
		OpExpr	   *op;
		FvTemporal *t;
		int			strategy;
		bool		left;

		if (!contains_now(c, NULL))
		{
			keep = lappend(keep, c);
			continue;
		}
		if (!IsA(c, OpExpr) || list_length(((OpExpr *) c)->args) != 2)
			reject_now();
		op = (OpExpr *) c;
		left = contains_now(linitial(op->args), NULL);
		t = palloc0(sizeof(FvTemporal));
		t->opno = op->opno;
		t->now_left = left;
		t->expr = left ? lsecond(op->args) : linitial(op->args);
		t->offset = now_offset(left ? linitial(op->args) : lsecond(op->args));
		strategy = get_op_opfamily_strategy(op->opno, datetime_ops);
		if (t->offset == NULL || contains_now(t->expr, NULL) ||
			strategy == 0 || strategy == BTEqualStrategyNumber ||
			op_namespace(op->opno) != PG_CATALOG_NAMESPACE)
			reject_now();
		def->temporal = lappend(def->temporal, t);
	}
	q->jointree->quals = keep == NIL ? NULL : (Node *) make_ands_explicit(keep);
}

/*
 * fv_analyze_query
 *		Parse and analyse query_text; return its parts, or throw 0A000 naming
 *		the first unsupported construct (other errors as the parser raises).
 */
/* column names given with the view's name (create.c), for the next analysis */
List	   *fv_column_names = NIL;

FvViewDef *
fv_analyze_query(const char *query_text)
{
	List	   *raw;
	RawStmt    *rawstmt;
	Query	   *q;
	FvViewDef  *def = palloc0(sizeof(FvViewDef));
	RangeTblRef *rtr;
	ExprCheckContext ctx;
	ListCell   *lc;
	List	   *having_aggs = NIL;
	int			x;

	raw = raw_parser(query_text, RAW_PARSE_DEFAULT);
	if (list_length(raw) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a live view is defined by exactly one SELECT statement"),
				 errdetail("The query text contains %d statements.", list_length(raw))));
	rawstmt = linitial_node(RawStmt, raw);
	if (!IsA(rawstmt->stmt, SelectStmt))
		reject("statements other than SELECT are", NULL);

	q = parse_analyze_fixedparams(rawstmt, query_text, NULL, 0, NULL);
	if (q->setOperations)
	{
		/* Q1 UNION ALL Q2: SELECT * FROM (Q1 UNION ALL Q2) */
		(void) union_branches(q->setOperations, NIL);
		if (q->sortClause || q->limitCount || q->limitOffset)
			reject("ORDER BY and LIMIT of a UNION ALL are", "Order and limit when you query the view.");
		q = fv_wrap_union(q);
	}
	def->query = q;
	fv_flatten_subqueries(q);

	if (q->cteList)
		reject(q->hasRecursive ? "WITH RECURSIVE is" :
			   "WITH queries that are MATERIALIZED, not a SELECT, or not read in FROM are", NULL);
	if (q->hasWindowFuncs)
		reject("window functions are", NULL);
	if (q->hasSubLinks && q->jointree->quals)
		extract_semijoin(def, q);
	extract_temporal(def, q);
	if (q->hasSubLinks)
		reject("subqueries other than [NOT] EXISTS, IN, ANY or ALL conditions ANDed in WHERE (scalar subqueries, subqueries under OR or in the select list) are",
			   NULL);
	if (q->hasTargetSRFs)
		reject("set-returning functions are", NULL);
	if (q->hasDistinctOn)
		reject("DISTINCT ON is", "Use GROUP BY with min() or max() of the other columns.");
	if (q->distinctClause && (q->hasAggs || q->groupClause != NIL))
		reject("DISTINCT together with GROUP BY or aggregates is",
			   "Leave out DISTINCT: a view's groups are distinct when every GROUP BY key is in the select list.");
	if (q->sortClause)
		reject("ORDER BY is", "Order when you query the view.");
	if (q->limitCount || q->limitOffset)
		reject("LIMIT and OFFSET are", "Limit when you query the view.");
	if (q->rowMarks)
		reject("FOR UPDATE and FOR SHARE are", NULL);
	if (q->groupingSets)
		reject("GROUPING SETS, ROLLUP and CUBE are", NULL);

	if (def->semi == 0 && fv_is_union_query(q))
	{
		if (def->temporal)
			reject("sliding windows over a UNION ALL are", "Put the condition on now() in each branch's view, or window a view over one table or a join.");
		analyze_union(def, q);	/* q is now the query over J */
	}
	else if (list_length(q->jointree->fromlist) != 1 ||
		!IsA(linitial(q->jointree->fromlist), RangeTblRef) || def->semi != 0 ||
		rt_fetch(linitial_node(RangeTblRef, q->jointree->fromlist)->rtindex, q->rtable)->rtekind == RTE_FUNCTION)
		analyze_join(def, q, palloc0(sizeof(FvJoin)));	/* q is now the query over J */
	else
	{
		RangeTblEntry *rte = rt_fetch(linitial_node(RangeTblRef, q->jointree->fromlist)->rtindex,
									  q->rtable);

		check_from_item(rte);
		def->source = rte->relid;
		def->upstream = fv_live_view_of(rte->relid);
		if (def->upstream != 0 && def->temporal)
			reject("sliding windows over another live view are",
				   "Put the condition on now() in a view over the base table.");
	}
	rtr = linitial_node(RangeTblRef, q->jointree->fromlist);
	if (q->hasAggs || q->groupClause != NIL)
		def->kind = FV_VIEW_AGGREGATE;
	else if (q->distinctClause)
		def->kind = FV_VIEW_DISTINCT;
	else
		def->kind = FV_VIEW_ROWS;
	if (def->kind != FV_VIEW_AGGREGATE && q->havingQual)
		reject("HAVING without GROUP BY or aggregates is", "Put the condition in WHERE.");
	if (def->kind != FV_VIEW_AGGREGATE && list_length(q->targetList) == 0)
		reject("a select list without columns is", NULL);

	ctx.rtindex = rtr->rtindex;
	ctx.attnos = NULL;
	ctx.by_rt = NULL;

	/* WHERE */
	def->where = q->jointree->quals;
	check_expr_walker(def->where, &ctx);
	foreach(lc, def->temporal)
		check_expr_walker(((FvTemporal *) lfirst(lc))->expr, &ctx);

	/* GROUP BY keys */
	foreach(lc, q->groupClause)
	{
		SortGroupClause *sgc = lfirst_node(SortGroupClause, lc);
		TargetEntry *tle = get_sortgroupclause_tle(sgc, q->targetList);
		FvGroupKey *gk = palloc0(sizeof(FvGroupKey));

		gk->expr = (Node *) tle->expr;
		gk->type = exprType(gk->expr);
		gk->typmod = exprTypmod(gk->expr);
		gk->collation = exprCollation(gk->expr);
		check_expr_walker(gk->expr, &ctx);
		check_deterministic(def, gk->expr, gk->collation, "GROUP BY key");
		def->groupkeys = lappend(def->groupkeys, gk);
	}
	def->global = (q->groupClause == NIL && def->kind == FV_VIEW_AGGREGATE);

	/* output columns: group keys or aggregates */
	foreach(lc, q->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		FvOutput   *out;
		ListCell   *lc2;

		if (tle->resjunk)
			continue;
		out = palloc0(sizeof(FvOutput));
		/* create_view('name(c1, c2, ...)', ...) names the first columns */
		if (list_length(def->outputs) < list_length(fv_column_names))
			tle->resname = pstrdup(list_nth(fv_column_names, list_length(def->outputs)));
		out->name = pstrdup(tle->resname ? tle->resname : "?column?");
		out->type = exprType((Node *) tle->expr);
		out->typmod = exprTypmod((Node *) tle->expr);
		foreach(lc2, def->outputs)
		{
			if (strcmp(((FvOutput *) lfirst(lc2))->name, out->name) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("column name \"%s\" appears more than once in the live view", out->name),
						 errhint("Give the output columns distinct names with AS.")));
		}
		if (def->kind != FV_VIEW_AGGREGATE)
			add_row_key(def, out, (Node *) tle->expr, &ctx);
		else if (tle->ressortgroupref != 0)
		{
			int			i = 0;

			foreach(lc2, q->groupClause)
			{
				if (lfirst_node(SortGroupClause, lc2)->tleSortGroupRef == tle->ressortgroupref)
					break;
				i++;
			}
			out->index = i;
		}
		else if (IsA(tle->expr, Aggref))
		{
			out->is_agg = true;
			check_expr_walker((Node *) tle->expr, &ctx);
			out->index = add_agg(def, (Aggref *) tle->expr);
		}
		else if (contain_agg_clause((Node *) tle->expr))
			reject("expressions over aggregates are",
				   "Output the aggregates themselves and compute with them when you query the view.");
		else
			reject("output columns that are neither GROUP BY keys nor aggregates are", NULL);
		def->outputs = lappend(def->outputs, out);
	}
	if (list_length(fv_column_names) > list_length(def->outputs))
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("the live view's name gives %d column names, its query has %d columns",
						list_length(fv_column_names), list_length(def->outputs))));

	/* the images follow the output columns' keys (gN of output N) */
	def->groupkeys = list_concat(def->groupkeys, def->image_keys);

	/* HAVING: its aggregates are maintained too, out of sight */
	def->having = q->havingQual;
	check_expr_walker(def->having, &ctx);
	collect_aggrefs_walker(def->having, &having_aggs);
	foreach(lc, having_aggs)
		add_agg(def, lfirst_node(Aggref, lc));

	/* the source columns read */
	x = -1;
	while ((x = bms_next_member(ctx.attnos, x)) >= 0)
		def->used_columns = lappend(def->used_columns,
									def->join && def->join->branches ?
									list_nth(def->join->union_names, x + FirstLowInvalidHeapAttributeNumber - 1) :
									def->join ?
									((FvJoinCol *) list_nth(def->join->cols,
															x + FirstLowInvalidHeapAttributeNumber - 1))->name :
									get_attname(def->source,
												x + FirstLowInvalidHeapAttributeNumber,
												false));
	return def;
}
