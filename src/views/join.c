/*-------------------------------------------------------------------------
 *
 * join.c
 *	  Live views over joins: the join relation J and its delta.
 *
 * analyze.c takes a query over a join apart into FvJoin (the base
 * relations with their aliases, the conjuncts of ON and WHERE, and the base
 * columns the rest of the query reads) and analyses the rest as a one-source
 * query over J.  Here:
 *
 *	fv_join_relation_sql   J's SELECT: those columns, named "alias.column",
 *	                       of the FROM items under every condition; create.c
 *	                       makes it the PostgreSQL view flowview.fv_join_ID,
 *	                       which the view's backfill and min/max re-reads read
 *	                       like a source table;
 *	fv_join_delta_sql      J's delta for a batch, from the batch's rows of
 *	                       each base table (ephemeral named relations
 *	                       flowview_delta_K, K the table's number from 1, with
 *	                       __sign and __xid): with the relations R1..Rn in
 *	                       FROM order, post(R) a table as of the batch's end
 *	                       and pre(R) = post(R) minus its delta (the rows the
 *	                       batch added, with their signs turned),
 *
 *	                         delta(J) = sum over i of
 *	                           post(R1)..post(Ri-1) x delta(Ri) x pre(Ri+1)..pre(Rn)
 *
 *	                       (the telescoping sum of post - pre, a product
 *	                       being linear in each factor), the sign of a joined
 *	                       row the product of its factors' signs.  A self-join
 *	                       is two relations over one table: its delta appears
 *	                       in both places.  The apply worker evaluates it
 *	                       under a snapshot that sees exactly the
 *	                       transactions up to the batch's end (worker/
 *	                       batch_snapshot.c): see src/README.md, "Joins".
 *	fv_join_index_notices  a NOTICE with the CREATE INDEX for each join key
 *	                       without an index that leads with it: the delta of
 *	                       one table is joined to the others through them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "catalog/index.h"
#include "catalog/pg_index.h"
#include "nodes/nodeFuncs.h"
#include "nodes/plannodes.h"
#include "optimizer/optimizer.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"

#include "views/analyze.h"
#include "views/join.h"

/*
 * A deparse context over a query's range table, its relations named by their
 * aliases (Vars of other entries, join aliases, must be flattened first).
 */
List *
fv_join_deparse_context(List *rtable)
{
	PlannedStmt *pstmt = makeNode(PlannedStmt);
	List	   *names = NIL;
	ListCell   *lc;

	pstmt->rtable = rtable;
	foreach(lc, rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		names = lappend(names, rte->rtekind == RTE_RELATION ? rte->eref->aliasname : NULL);
	}
	return deparse_context_for_plan_tree(pstmt, names);
}

static List *
join_context(FvJoin *j)
{
	return fv_join_deparse_context(j->rtable);
}

static char *table_columns(FvJoin *j, int t, const char *prefix);
static char *union_delta_sql(FvJoin *j);
static char *inner_delta_sql(FvJoin *j);
static char *outer_delta_sql(FvJoin *j);

/* while the delta statement is generated: tables by token (fv_with_tables) */
static FvJoin *delta_join = NULL;

static char *
table_name(Oid relid)
{
	if (delta_join != NULL)
	{
		ListCell   *lc;

		foreach(lc, delta_join->tables)
			if (lfirst_oid(lc) == relid)
				return psprintf(FV_TABLE_TOKEN, foreach_current_index(lc) + 1);
	}
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

static FvJoinRel *
rel_of(FvJoin *j, Index rtindex)
{
	ListCell   *lc;

	foreach(lc, j->rels)
		if (((FvJoinRel *) lfirst(lc))->rtindex == rtindex)
			return lfirst(lc);
	elog(ERROR, "pg_flowview: no join relation %u", rtindex);
	return NULL;
}

/* "alias.col AS "alias.col", ..." (J's columns), with a trailing ", " */
static void
append_join_columns(StringInfo buf, FvJoin *j)
{
	ListCell   *lc;

	foreach(lc, j->cols)
	{
		FvJoinCol  *col = lfirst(lc);
		FvJoinRel  *rel = rel_of(j, col->rtindex);

		appendStringInfo(buf, "%s.%s AS %s, ", quote_identifier(rel->alias),
						 quote_identifier(fv_join_rel_column(rel, col->attno)),
						 quote_identifier(col->name));
	}
}

/* A FROM item of relation rel: "table alias", or a function's call */
static char *
rel_from(FvJoin *j, FvJoinRel *rel)
{
	StringInfoData buf;
	ListCell   *lc;

	if (rel->table >= 0)
		return psprintf("%s %s", table_name(rel->relid), quote_identifier(rel->alias));
	if (rel->func == NULL)
		return psprintf("(SELECT) AS %s", rel->alias);	/* no FROM */
	initStringInfo(&buf);
	appendStringInfo(&buf, "%s AS %s(", deparse_expression(rel->func, join_context(j), false, false),
					 quote_identifier(rel->alias));
	foreach(lc, rel->colnames)
		appendStringInfo(&buf, "%s%s", foreach_current_index(lc) ? ", " : "",
						 quote_identifier(strVal(lfirst(lc))));
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/* " WHERE q1 AND q2 ..." or "" */
static char *
where_clause(FvJoin *j)
{
	StringInfoData buf;
	List	   *dpcontext = join_context(j);
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, j->quals)
		appendStringInfo(&buf, "%s(%s)", foreach_current_index(lc) ? " AND " : " WHERE ",
						 deparse_expression(lfirst(lc), dpcontext, true, false));
	return buf.data;
}

/* "(c1) AND (c2)" of conjuncts, "true" without any */
static char *
conjuncts_sql(FvJoin *j, List *conds)
{
	StringInfoData buf;
	List	   *dpcontext = join_context(j);
	ListCell   *lc;

	if (conds == NIL)
		return "true";
	initStringInfo(&buf);
	foreach(lc, conds)
		appendStringInfo(&buf, "%s(%s)", foreach_current_index(lc) ? " AND " : "",
						 deparse_expression(lfirst(lc), dpcontext, true, false));
	return buf.data;
}

/*
 * A FROM item of node n's relation as of the batch's end (post(n)), its
 * tables under their aliases: "t a", or the joins parenthesised.  A FILTER,
 * SEMI or ANTI node is its input joined to a row of nothing on a condition.
 */
static char *
post_from(FvJoin *j, FvJoinNode *n)
{
	const char *op;

	switch (n->kind)
	{
		case FV_JN_TABLE:
			return rel_from(j, n->rel);
		case FV_JN_FILTER:
			return psprintf("(%s JOIN (SELECT) __fv_u%d ON %s)", post_from(j, n->larg), n->id,
							conjuncts_sql(j, n->on));
		case FV_JN_SEMI:
		case FV_JN_ANTI:
			return psprintf("(%s JOIN (SELECT) __fv_u%d ON %sEXISTS (SELECT FROM %s WHERE %s))",
							post_from(j, n->larg), n->id, n->kind == FV_JN_ANTI ? "NOT " : "",
							post_from(j, n->rarg), conjuncts_sql(j, n->on));
		case FV_JN_INNER:
			op = "JOIN";
			break;
		case FV_JN_LEFT:
			op = "LEFT JOIN";
			break;
		case FV_JN_FULL:
			op = "FULL JOIN";
			break;
		default:
			elog(ERROR, "pg_flowview: unknown join node %d", (int) n->kind);
	}
	return psprintf("(%s %s %s ON %s)", post_from(j, n->larg), op, post_from(j, n->rarg),
					conjuncts_sql(j, n->on));
}

/*
 * " FROM ... WHERE ..." of J.  With an outer join or EXISTS the WHERE is the
 * view's (it filters NULL-extended rows too): only with view_where.
 */
static char *
join_from_sql(FvJoin *j, bool view_where)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoString(&buf, " FROM ");
	if (j->outer)
	{
		appendStringInfoString(&buf, post_from(j, j->tree));
		if (view_where && j->where != NIL)
			appendStringInfo(&buf, " WHERE %s", conjuncts_sql(j, j->where));
		return buf.data;
	}
	foreach(lc, j->rels)
		appendStringInfo(&buf, "%s%s", foreach_current_index(lc) ? ", " : "", rel_from(j, lfirst(lc)));
	appendStringInfoString(&buf, where_clause(j));
	return buf.data;
}

/* "(e1)::t1 AS c1, ..., " of a UNION ALL branch's select list, J's types and names */
static void
append_branch_outputs(StringInfo buf, FvJoin *u, FvJoin *b)
{
	List	   *dpcontext = join_context(b);
	ListCell   *lc;
	int			k = 0;

	foreach(lc, b->tlist)
	{
		TargetEntry *tle = lfirst(lc);

		if (tle->resjunk)
			continue;
		appendStringInfo(buf, "(%s)::%s AS %s, ", deparse_expression((Node *) tle->expr, dpcontext, true, false),
						 format_type_with_typemod(list_nth_oid(u->col_types, k), list_nth_int(u->col_typmods, k)),
						 quote_identifier(list_nth(u->union_names, k)));
		k++;
	}
}

/* buf without its trailing ", " (of a select list or FROM items) */
static void
drop_trailing_comma(StringInfo buf)
{
	if (buf->len >= 2 && strcmp(buf->data + buf->len - 2, ", ") == 0)
	{
		buf->len -= 2;
		buf->data[buf->len] = '\0';
	}
}

char *
fv_join_relation_sql(FvJoin *j)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	if (j->branches != NIL)
	{
		/* a UNION ALL: each branch's select list over its join */
		foreach(lc, j->branches)
		{
			FvJoin	   *b = lfirst(lc);

			appendStringInfoString(&buf, foreach_current_index(lc) ? " UNION ALL SELECT " : "SELECT ");
			append_branch_outputs(&buf, j, b);
			drop_trailing_comma(&buf);
			appendStringInfoString(&buf, join_from_sql(b, true));
		}
		return buf.data;
	}
	appendStringInfoString(&buf, "SELECT ");
	append_join_columns(&buf, j);
	/* the trailing ", " (or a SELECT without columns) */
	drop_trailing_comma(&buf);
	appendStringInfoString(&buf, join_from_sql(j, false));
	return buf.data;
}

/*
 * The columns of rel's table read anywhere, as "alias.column":
 * FV_COLS_DIRECT   alias.column AS "alias.column"
 * FV_COLS_NULL     NULL::type AS "alias.column" (a NULL-extended row)
 * FV_COLS_EXPAND   LATERAL (SELECT row."alias.column" AS column, ...) alias:
 *                  the relation's alias again, over a row of a delta
 * each followed by ", "
 */
typedef enum FvColsMode
{
	FV_COLS_DIRECT,
	FV_COLS_NULL,
	FV_COLS_EXPAND
} FvColsMode;

static void
append_rel_columns(StringInfo buf, FvJoin *j, FvJoinRel *rel, FvColsMode mode, const char *row)
{
	List	   *cols = list_nth(j->table_columns, rel->table);
	ListCell   *lc;

	if (mode == FV_COLS_EXPAND)
	{
		if (cols == NIL)
			return;
		appendStringInfoString(buf, "LATERAL (SELECT ");
	}
	foreach(lc, cols)
	{
		char	   *col = lfirst(lc);
		const char *name = quote_identifier(psprintf("%s.%s", rel->alias, col));

		switch (mode)
		{
			case FV_COLS_DIRECT:
				appendStringInfo(buf, "%s.%s AS %s, ", quote_identifier(rel->alias),
								 quote_identifier(col), name);
				break;
			case FV_COLS_NULL:
				{
					Oid			type;
					int32		typmod;
					Oid			coll;

					get_atttypetypmodcoll(rel->relid, get_attnum(rel->relid, col), &type, &typmod, &coll);
					appendStringInfo(buf, "NULL::%s AS %s, ", format_type_with_typemod(type, typmod), name);
				}
				break;
			case FV_COLS_EXPAND:
				appendStringInfo(buf, "%s%s.%s AS %s", foreach_current_index(lc) ? ", " : "",
								 row, name, quote_identifier(col));
				break;
		}
	}
	if (mode == FV_COLS_EXPAND)
		appendStringInfo(buf, ") %s, ", quote_identifier(rel->alias));
}

/*
 * Node n's output columns: those of the relations of side (a subtree of n)
 * directly, the others as NULLs; side NULL: all directly.
 */
static void
append_node_columns(StringInfo buf, FvJoin *j, FvJoinNode *n, FvJoinNode *side)
{
	ListCell   *lc;

	foreach(lc, n->rels)
		append_rel_columns(buf, j, lfirst(lc),
						   side == NULL || list_member_ptr(side->rels, lfirst(lc)) ? FV_COLS_DIRECT : FV_COLS_NULL,
						   NULL);
}

/* the delta of node n: a table's batch rows, or the CTE __fv_dID */
static char *
delta_name(FvJoinNode *n)
{
	if (n->kind == FV_JN_TABLE)
		return psprintf("%s_%d", FV_DELTA_NAME, n->rel->table + 1);
	return psprintf("__fv_d%d", n->id);
}

/*
 * FROM items of n's delta, its tables under their aliases (a CTE's rows
 * expanded under row); *sign and *xid the expressions of a row's sign and
 * transaction.
 */
static char *
delta_from(FvJoin *j, FvJoinNode *n, const char *row, char **sign, char **xid)
{
	StringInfoData buf;
	ListCell   *lc;

	if (n->kind == FV_JN_TABLE)
	{
		const char *alias = quote_identifier(n->rel->alias);

		*sign = psprintf("%s.__sign", alias);
		*xid = psprintf("%s.__xid", alias);
		return psprintf("%s %s", delta_name(n), alias);
	}
	row = psprintf("%s%d", row, n->id);
	*sign = psprintf("%s.__sign", row);
	*xid = psprintf("%s.__xid", row);
	initStringInfo(&buf);
	appendStringInfo(&buf, "%s %s, ", delta_name(n), row);
	foreach(lc, n->rels)
		append_rel_columns(&buf, j, lfirst(lc), FV_COLS_EXPAND, row);
	drop_trailing_comma(&buf);
	return buf.data;
}

/*
 * FROM items of pre(n) = post(n) minus its delta, as signed rows: post's
 * with sign 1, the delta's with their signs turned; *sign a row's sign.
 */
static char *
pre_from(FvJoin *j, FvJoinNode *n, char **sign)
{
	StringInfoData buf;
	char	   *dsign;
	char	   *dxid;
	char	   *row;
	ListCell   *lc;

	initStringInfo(&buf);
	if (n->kind == FV_JN_TABLE)
	{
		const char *alias = quote_identifier(n->rel->alias);

		*sign = psprintf("%s.__sign", alias);
		appendStringInfo(&buf, "(SELECT %s1 AS __sign FROM %s UNION ALL SELECT %s-__sign FROM %s) %s",
						 table_columns(j, n->rel->table, ""), table_name(n->rel->relid),
						 table_columns(j, n->rel->table, ""), delta_name(n), alias);
		return buf.data;
	}
	row = psprintf("__fv_p%d", n->id);
	*sign = psprintf("%s.__sign", row);
	appendStringInfoString(&buf, "(SELECT ");
	append_node_columns(&buf, j, n, NULL);
	appendStringInfo(&buf, "1 AS __sign FROM %s UNION ALL SELECT ", post_from(j, n));
	append_node_columns(&buf, j, n, NULL);
	{
		char	   *from = delta_from(j, n, "__fv_q", &dsign, &dxid);

		appendStringInfo(&buf, "-%s FROM %s) %s, ", dsign, from, row);
	}
	foreach(lc, n->rels)
		append_rel_columns(&buf, j, lfirst(lc), FV_COLS_EXPAND, row);
	drop_trailing_comma(&buf);
	return buf.data;
}

/*
 * The change of node n's rows that come from a row x of side x (a child of
 * n) with (match) or without (!match) a row of side y on n's condition,
 * y's columns NULL (if n has them): the rows of delta(x) so after the
 * batch, with their signs; and the rows of pre(x) matching a row of
 * delta(y), with sign x ([so after] - [so before]), the matches before being
 * those after minus the matching rows of delta(y).  The change of
 * sum over x in post(x) of [so after] minus sum over pre(x) of [so before]:
 * the second part's terms vanish unless a row of delta(y) matches x.
 */
static void
append_match_change(StringInfo buf, FvJoin *j, FvJoinNode *n, FvJoinNode *x, FvJoinNode *y, bool match)
{
	char	   *cond = conjuncts_sql(j, n->on);
	char	   *ypost = post_from(j, y);
	char	   *xsign;
	char	   *xxid;
	char	   *ysign;
	char	   *yxid;
	char	   *from;
	char	   *ydelta = delta_from(j, y, "__fv_y", &ysign, &yxid);

	from = delta_from(j, x, "__fv_x", &xsign, &xxid);
	appendStringInfoString(buf, "SELECT ");
	append_node_columns(buf, j, n, x);
	appendStringInfo(buf, "%s AS __sign, %s AS __xid FROM %s WHERE %sEXISTS (SELECT FROM %s WHERE %s)",
					 xsign, xxid, from, match ? "" : "NOT ", ypost, cond);

	from = pre_from(j, x, &xsign);
	appendStringInfoString(buf, " UNION ALL SELECT * FROM (SELECT ");
	append_node_columns(buf, j, n, x);
	appendStringInfo(buf, "(%s * ((%sEXISTS (SELECT FROM %s WHERE %s))::pg_catalog.int4"
					 " - ((SELECT pg_catalog.count(*) FROM %s WHERE %s)"
					 " - (SELECT COALESCE(pg_catalog.sum(%s), 0) FROM %s WHERE %s) %s 0)::pg_catalog.int4))::pg_catalog.int4 AS __sign,"
					 " 0::pg_catalog.int8 AS __xid FROM %s WHERE EXISTS (SELECT FROM %s WHERE %s)) __fv_c%d WHERE __fv_c%d.__sign <> 0",
					 xsign, match ? "" : "NOT ", ypost, cond,
					 ypost, cond,
					 ysign, ydelta, cond, match ? ">" : "=",
					 from, ydelta, cond, n->id, n->id);
}

/*
 * Node n's delta, the CTE __fv_dID (its children's first), columns
 * "alias.column" of n's relations, __sign and __xid.  For a join of l and r
 * on c:
 *
 *   inner part   delta(l) x pre(r)  +  post(l) x delta(r)       (on c)
 *   LEFT JOIN:   + the change of l's rows without a match in r,
 *                NULL-extended (append_match_change)
 *   FULL JOIN:   + the same of r's rows without a match in l
 *
 * (post(l) x post(r) - pre(l) x pre(r), the product being linear in each
 * factor); a FILTER is its input's delta filtered; SEMI and ANTI are the
 * change of l's rows with and without a match in r.
 */
static void
append_node_delta(StringInfo buf, FvJoin *j, FvJoinNode *n)
{
	char	   *cond;
	char	   *lsign;
	char	   *lxid;
	char	   *rsign;
	char	   *rxid;
	char	   *from;

	if (n->kind == FV_JN_TABLE)
		return;
	append_node_delta(buf, j, n->larg);
	if (n->rarg)
		append_node_delta(buf, j, n->rarg);
	appendStringInfo(buf, "%s__fv_d%d AS MATERIALIZED (", buf->len == 0 ? "WITH " : ", ", n->id);
	cond = conjuncts_sql(j, n->on);
	switch (n->kind)
	{
		case FV_JN_FILTER:
			from = delta_from(j, n->larg, "__fv_l", &lsign, &lxid);
			appendStringInfoString(buf, "SELECT ");
			append_node_columns(buf, j, n, NULL);
			appendStringInfo(buf, "%s AS __sign, %s AS __xid FROM %s WHERE %s", lsign, lxid, from, cond);
			break;
		case FV_JN_SEMI:
		case FV_JN_ANTI:
			append_match_change(buf, j, n, n->larg, n->rarg, n->kind == FV_JN_SEMI);
			break;
		case FV_JN_INNER:
		case FV_JN_LEFT:
		case FV_JN_FULL:
			/* delta(l) x pre(r) */
			from = delta_from(j, n->larg, "__fv_l", &lsign, &lxid);
			appendStringInfoString(buf, "SELECT ");
			append_node_columns(buf, j, n, NULL);
			appendStringInfo(buf, "(%s * ", lsign);
			from = psprintf("%s, %s", from, pre_from(j, n->rarg, &rsign));
			appendStringInfo(buf, "%s)::pg_catalog.int4 AS __sign, %s AS __xid FROM %s WHERE %s",
							 rsign, lxid, from, cond);
			/* post(l) x delta(r) */
			from = delta_from(j, n->rarg, "__fv_r", &rsign, &rxid);
			appendStringInfoString(buf, " UNION ALL SELECT ");
			append_node_columns(buf, j, n, NULL);
			appendStringInfo(buf, "%s AS __sign, %s AS __xid FROM %s, %s WHERE %s",
							 rsign, rxid, post_from(j, n->larg), from, cond);
			if (n->kind != FV_JN_INNER)
			{
				appendStringInfoString(buf, " UNION ALL ");
				append_match_change(buf, j, n, n->larg, n->rarg, false);
			}
			if (n->kind == FV_JN_FULL)
			{
				appendStringInfoString(buf, " UNION ALL ");
				append_match_change(buf, j, n, n->rarg, n->larg, false);
			}
			break;
		default:
			elog(ERROR, "pg_flowview: unknown join node %d", (int) n->kind);
	}
	appendStringInfoChar(buf, ')');
}

/* J's delta for a view with an outer join or EXISTS: along its FROM tree */
static char *
outer_delta_sql(FvJoin *j)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	append_node_delta(&buf, j, j->tree);
	/* J's columns */
	appendStringInfoString(&buf, " SELECT ");
	foreach(lc, j->cols)
		appendStringInfo(&buf, "%s, ", quote_identifier(((FvJoinCol *) lfirst(lc))->name));
	appendStringInfo(&buf, "__sign, __xid FROM __fv_d%d", j->tree->id);
	return buf.data;
}

/* "c1, c2, " of table t's columns read, prefixed */
static char *
table_columns(FvJoin *j, int t, const char *prefix)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, (List *) list_nth(j->table_columns, t))
		appendStringInfo(&buf, "%s%s, ", prefix, quote_identifier(lfirst(lc)));
	return buf.data;
}

/*
 * The delta statement names its tables by token, bound to their current
 * names when it runs (fv_with_tables): renaming a table does not break it.
 */
char *
fv_join_delta_sql(FvJoin *j)
{
	char	   *sql;

	delta_join = j;
	PG_TRY();
	{
		sql = j->branches ? union_delta_sql(j) : j->outer ? outer_delta_sql(j) : inner_delta_sql(j);
	}
	PG_FINALLY();
	{
		delta_join = NULL;
	}
	PG_END_TRY();
	return sql;
}

static char *
inner_delta_sql(FvJoin *j)
{
	StringInfoData buf;
	char	   *where;
	int			i;

	where = where_clause(j);

	initStringInfo(&buf);
	for (i = 0; i < list_length(j->rels); i++)
	{
		FvJoinRel  *delta = list_nth(j->rels, i);
		ListCell   *lc;

		if (delta->table < 0)
			continue;			/* a function never changes */
		if (buf.len > 0)
			appendStringInfoString(&buf, " UNION ALL ");
		appendStringInfoString(&buf, "SELECT ");
		append_join_columns(&buf, j);
		appendStringInfo(&buf, "(%s.__sign", quote_identifier(delta->alias));
		foreach(lc, j->rels)
			if (foreach_current_index(lc) > i && ((FvJoinRel *) lfirst(lc))->table >= 0)
				appendStringInfo(&buf, " * %s.__sign", quote_identifier(((FvJoinRel *) lfirst(lc))->alias));
		appendStringInfo(&buf, ")::pg_catalog.int4 AS __sign, %s.__xid FROM ",
						 quote_identifier(delta->alias));
		foreach(lc, j->rels)
		{
			FvJoinRel  *rel = lfirst(lc);
			int			m = foreach_current_index(lc);

			if (m > 0)
				appendStringInfoString(&buf, ", ");
			if (m < i || rel->table < 0)
			{
				appendStringInfoString(&buf, rel_from(j, rel));
				continue;
			}
			if (m == i)
				appendStringInfo(&buf, "%s_%d", FV_DELTA_NAME, rel->table + 1);
			else
				appendStringInfo(&buf, "(SELECT %s1 AS __sign FROM %s UNION ALL SELECT %s-__sign FROM %s_%d)",
								 table_columns(j, rel->table, ""), table_name(rel->relid),
								 table_columns(j, rel->table, ""), FV_DELTA_NAME, rel->table + 1);
			appendStringInfo(&buf, " %s", quote_identifier(rel->alias));
		}
		appendStringInfoString(&buf, where);
	}
	/* only functions: J never changes */
	if (buf.len == 0)
	{
		ListCell   *lc;

		appendStringInfoString(&buf, "SELECT ");
		append_join_columns(&buf, j);
		appendStringInfoString(&buf, "0 AS __sign, 0::pg_catalog.int8 AS __xid FROM ");
		foreach(lc, j->rels)
			appendStringInfo(&buf, "%s%s", foreach_current_index(lc) ? ", " : "",
							 rel_from(j, lfirst(lc)));
		appendStringInfoString(&buf, " WHERE false");
	}
	return buf.data;
}

/*
 * A UNION ALL's delta: the sum of its branches' deltas, each a join's delta
 * (its columns "alias.column") with the branch's tables' aliases over it
 * again, projected through the branch's select list and, with an outer
 * join, filtered by the branch's WHERE.
 */
static char *
union_delta_sql(FvJoin *j)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, j->branches)
	{
		FvJoin	   *b = lfirst(lc);
		ListCell   *rc;

		appendStringInfoString(&buf, foreach_current_index(lc) ? " UNION ALL SELECT " : "SELECT ");
		append_branch_outputs(&buf, j, b);
		appendStringInfo(&buf, "__fv_b.__sign, __fv_b.__xid FROM (%s) __fv_b",
						 b->outer ? outer_delta_sql(b) : inner_delta_sql(b));
		foreach(rc, b->rels)
		{
			FvJoinRel  *rel = lfirst(rc);
			ListCell   *cc;
			bool		any = false;

			foreach(cc, b->cols)
			{
				FvJoinCol  *col = lfirst(cc);

				if (col->rtindex != rel->rtindex)
					continue;
				appendStringInfo(&buf, "%s__fv_b.%s AS %s", any ? ", " : ", LATERAL (SELECT ",
								 quote_identifier(col->name),
								 quote_identifier(fv_join_rel_column(rel, col->attno)));
				any = true;
			}
			if (any)
				appendStringInfo(&buf, ") %s", quote_identifier(rel->alias));
		}
		if (b->outer && b->where != NIL)
			appendStringInfo(&buf, " WHERE %s", conjuncts_sql(b, b->where));
	}
	return buf.data;
}

/* Has relid an index (valid, not partial, not expression-led) led by attno? */
static bool
has_leading_index(Oid relid, AttrNumber attno)
{
	Relation	rel = table_open(relid, AccessShareLock);
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	bool		found = false;

	foreach(lc, indexes)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index idx;

		if (!HeapTupleIsValid(tup))
			continue;
		idx = (Form_pg_index) GETSTRUCT(tup);
		if (idx->indisvalid && idx->indnatts > 0 && idx->indkey.values[0] == attno &&
			heap_attisnull(tup, Anum_pg_index_indpred, NULL))
			found = true;
		ReleaseSysCache(tup);
	}
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * For each equality "r.col = <expression over other relations>" among the
 * conditions: r's table needs an index that leads with col, or the delta of
 * the other side is joined to r by scanning it (a dimension update would
 * scan the fact table).  A NOTICE with the exact statement when there is
 * none; one per table and column.  A relation without any such equality is
 * joined by a scan at every batch: a NOTICE says so.
 */
void
fv_join_index_notices(FvJoin *j)
{
	ListCell   *lc;
	List	   *done = NIL;
	Bitmapset  *keyed = NULL;
	int			ntables = 0;

	if (j->branches != NIL)
	{
		foreach(lc, j->branches)
			fv_join_index_notices(lfirst(lc));
		return;
	}

	foreach(lc, j->quals)
	{
		OpExpr	   *op = lfirst(lc);
		int			side;

		if (!IsA(op, OpExpr) || list_length(op->args) != 2 || !op_mergejoinable(op->opno, exprType(linitial(op->args))))
			continue;
		for (side = 0; side < 2; side++)
		{
			Node	   *mine = strip_implicit_coercions(list_nth(op->args, side));
			Node	   *other = list_nth(op->args, 1 - side);
			Var		   *var;
			Bitmapset  *others;
			FvJoinRel  *rel;
			char	   *key;

			if (!IsA(mine, Var))
				continue;
			var = (Var *) mine;
			others = pull_varnos(NULL, other);
			if (bms_is_empty(others) || bms_is_member(var->varno, others))
				continue;
			rel = rel_of(j, var->varno);
			keyed = bms_add_member(keyed, var->varno);
			if (rel->table < 0)
				continue;		/* a function */
			key = psprintf("%u.%d", rel->relid, var->varattno);
			if (list_member(done, makeString(key)))
				continue;
			done = lappend(done, makeString(key));
			if (!has_leading_index(rel->relid, var->varattno))
				ereport(NOTICE,
						(errmsg("live view join key %s.%s has no index",
								get_rel_name(rel->relid), get_attname(rel->relid, var->varattno, false)),
						 errdetail("Each batch joins the changed rows of the other tables to this one through the key; without an index every batch that changes them scans %s.",
								   get_rel_name(rel->relid)),
						 errhint("CREATE INDEX ON %s (%s);", table_name(rel->relid),
								 quote_identifier(get_attname(rel->relid, var->varattno, false)))));
		}
	}
	foreach(lc, j->rels)
		ntables += ((FvJoinRel *) lfirst(lc))->table >= 0;
	foreach(lc, j->rels)
	{
		FvJoinRel  *rel = lfirst(lc);

		/*
		 * (one table: a subquery in FROM pulled up, or a table with
		 * functions of its rows, nothing to join)
		 */
		if (ntables > 1 && !bms_is_member(rel->rtindex, keyed) && rel->table >= 0)
			ereport(NOTICE,
					(errmsg("live view joins %s (as %s) without an equality to another table's columns",
							get_rel_name(rel->relid), rel->alias),
					 errdetail("Each batch that changes the other tables scans it.")));
	}
}
