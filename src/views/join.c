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
						 quote_identifier(get_attname(rel->relid, col->attno, false)),
						 quote_identifier(col->name));
	}
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

/* "(c1) AND (c2)" of a relation's ON conjuncts, "true" without any */
static char *
on_clause(FvJoin *j, FvJoinRel *rel)
{
	StringInfoData buf;
	List	   *dpcontext = join_context(j);
	ListCell   *lc;

	if (rel->on == NIL)
		return "true";
	initStringInfo(&buf);
	foreach(lc, rel->on)
		appendStringInfo(&buf, "%s(%s)", foreach_current_index(lc) ? " AND " : "",
						 deparse_expression(lfirst(lc), dpcontext, true, false));
	return buf.data;
}

/* A LEFT JOIN view's chain: "t1 a1 JOIN t2 a2 ON (..) LEFT JOIN t3 a3 ON (..)", its first n relations */
static char *
chain_sql(FvJoin *j, int n)
{
	StringInfoData buf;
	int			m;

	initStringInfo(&buf);
	for (m = 0; m < n; m++)
	{
		FvJoinRel  *rel = list_nth(j->rels, m);

		if (rel->semi)
			continue;			/* an EXISTS subquery's table: a filter, not a join */
		if (m > 0)
			appendStringInfoString(&buf, rel->full ? " FULL JOIN " : rel->left ? " LEFT JOIN " : " JOIN ");
		appendStringInfo(&buf, "%s %s", table_name(rel->relid), quote_identifier(rel->alias));
		if (m > 0)
			appendStringInfo(&buf, " ON %s", on_clause(j, rel));
	}
	return buf.data;
}

char *
fv_join_relation_sql(FvJoin *j)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT ");
	append_join_columns(&buf, j);
	/* the trailing ", " (or a SELECT without columns) */
	if (j->cols != NIL)
		buf.len -= 2;
	buf.data[buf.len] = '\0';
	appendStringInfoString(&buf, " FROM ");
	if (j->outer)
	{
		/* the WHERE is the view's; an EXISTS subquery is J's */
		appendStringInfoString(&buf, chain_sql(j, list_length(j->rels)));
		if (j->semi)
			appendStringInfo(&buf, " WHERE %sEXISTS (SELECT FROM %s %s WHERE %s)",
							 j->semi->semi == FV_SEMI_NOT_EXISTS ? "NOT " : "",
							 table_name(j->semi->relid), quote_identifier(j->semi->alias),
							 on_clause(j, j->semi));
		return buf.data;
	}
	foreach(lc, j->rels)
	{
		FvJoinRel  *rel = lfirst(lc);

		appendStringInfo(&buf, "%s%s %s", foreach_current_index(lc) ? ", " : "",
						 table_name(rel->relid), quote_identifier(rel->alias));
	}
	appendStringInfoString(&buf, where_clause(j));
	return buf.data;
}

/*
 * The columns of rel's table read anywhere, as "alias.column":
 * FV_COLS_DIRECT   alias.column AS "alias.column"
 * FV_COLS_ROW      row."alias.column" (from a row of the chain's deltas)
 * FV_COLS_NULL     NULL::type AS "alias.column" (a NULL-extended row)
 * FV_COLS_EXPAND   LATERAL (SELECT row."alias.column" AS column, ...) alias:
 *                  the relation's alias again, over a row of the chain
 * each followed by ", "
 */
typedef enum FvColsMode
{
	FV_COLS_DIRECT,
	FV_COLS_ROW,
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
			case FV_COLS_ROW:
				appendStringInfo(buf, "%s.%s, ", row, name);
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

/* for the first n relations of the chain: append_rel_columns */
static void
append_chain_columns(StringInfo buf, FvJoin *j, int n, FvColsMode mode, const char *row)
{
	int			m;

	for (m = 0; m < n; m++)
		append_rel_columns(buf, j, list_nth(j->rels, m), mode, row);
}

/* "FROM <items>, " without its trailing ", " */
static void
end_from(StringInfo buf)
{
	if (buf->len >= 2 && strcmp(buf->data + buf->len - 2, ", ") == 0)
	{
		buf->len -= 2;
		buf->data[buf->len] = '\0';
	}
}

/*
 * The change of the rows of Tk-1 that have (match) or have not (!match) a
 * row of Rk on cond, with Rk's columns as NULLs (nulls) or without them:
 * the rows of dk-1 (prev) so after the batch, with their signs; and the rows
 * of pre(Tk-1) matching a row of delta(Rk), with sign x ([so after] - [so
 * before]), the matches before being those after minus the matching rows of
 * delta(Rk).
 */
static void
append_match_change(StringInfo buf, FvJoin *j, int k, FvJoinRel *rel, const char *prev,
					const char *delta, const char *cond, bool match, bool nulls)
{
	const char *alias = quote_identifier(rel->alias);
	char	   *table = table_name(rel->relid);

	appendStringInfoString(buf, "SELECT ");
	append_chain_columns(buf, j, k, FV_COLS_ROW, "__fv_t");
	if (nulls)
		append_rel_columns(buf, j, rel, FV_COLS_NULL, NULL);
	appendStringInfo(buf, "__fv_t.__sign, __fv_t.__xid FROM %s __fv_t, ", prev);
	append_chain_columns(buf, j, k, FV_COLS_EXPAND, "__fv_t");
	end_from(buf);
	appendStringInfo(buf, " WHERE %sEXISTS (SELECT FROM %s %s WHERE %s)",
					 match ? "" : "NOT ", table, alias, cond);

	appendStringInfoString(buf, " UNION ALL SELECT * FROM (SELECT ");
	append_chain_columns(buf, j, k, FV_COLS_ROW, "__fv_p");
	if (nulls)
		append_rel_columns(buf, j, rel, FV_COLS_NULL, NULL);
	appendStringInfo(buf, "(__fv_p.__sign * ((%sEXISTS (SELECT FROM %s %s WHERE %s))::pg_catalog.int4"
					 " - ((SELECT pg_catalog.count(*) FROM %s %s WHERE %s)"
					 " - (SELECT COALESCE(pg_catalog.sum(%s.__sign), 0) FROM %s %s WHERE %s) %s 0)::pg_catalog.int4))::pg_catalog.int4 AS __sign,"
					 " 0::pg_catalog.int8 AS __xid FROM (SELECT ",
					 match ? "" : "NOT ", table, alias, cond,
					 table, alias, cond,
					 alias, delta, alias, cond, match ? ">" : "=");
	append_chain_columns(buf, j, k, FV_COLS_DIRECT, NULL);
	appendStringInfo(buf, "1 AS __sign FROM %s UNION ALL SELECT ", chain_sql(j, k));
	append_chain_columns(buf, j, k, FV_COLS_ROW, "__fv_q");
	appendStringInfo(buf, "-__fv_q.__sign FROM %s __fv_q) __fv_p, ", prev);
	append_chain_columns(buf, j, k, FV_COLS_EXPAND, "__fv_p");
	end_from(buf);
	appendStringInfo(buf, " WHERE EXISTS (SELECT FROM %s %s WHERE %s)) __fv_c WHERE __fv_c.__sign <> 0",
					 delta, alias, cond);
}

/*
 * J's delta for a view with a LEFT JOIN: along the chain T1 = R1,
 * Tk = Tk-1 [LEFT] JOIN Rk ON ck, the delta dk of each prefix from the one
 * before (CTEs __fv_d1 .. __fv_dN, columns "alias.column" of every
 * relation so far, __sign, __xid):
 *
 *   inner part   dk-1 x pre(Rk)  +  post(Tk-1) x delta(Rk)      (on ck)
 *   LEFT JOIN:   + the rows of Tk-1 without a match in Rk, NULL-extended:
 *                every row t of dk-1 with no match in post(Rk), sign kept;
 *                every row t of pre(Tk-1) (post(Tk-1) minus dk-1) that
 *                matches a row of delta(Rk): sign x ([no match after] -
 *                [no match before]), the matches before being those after
 *                minus the matching rows of delta(Rk).
 *
 * The first sum is the inner join's; the second is
 * N(post) - N(pre) = sum over t in delta(Tk-1) of [no match after] plus
 * sum over t in pre(Tk-1) of ([no match after] - [no match before]),
 * whose terms vanish unless delta(Rk) has a row matching t.
 */
static char *
outer_delta_sql(FvJoin *j)
{
	StringInfoData buf;
	int			n = list_length(j->rels);
	int			k;

	initStringInfo(&buf);
	for (k = 0; k < n; k++)
	{
		FvJoinRel  *rel = list_nth(j->rels, k);
		const char *alias = quote_identifier(rel->alias);
		char	   *delta = psprintf("%s_%d", FV_DELTA_NAME, rel->table + 1);
		char	   *cond;
		char	   *prev = psprintf("__fv_d%d", k);

		appendStringInfo(&buf, "%s__fv_d%d AS MATERIALIZED (", k == 0 ? "WITH " : ", ", k + 1);
		if (k == 0)
		{
			appendStringInfoString(&buf, "SELECT ");
			append_rel_columns(&buf, j, rel, FV_COLS_DIRECT, NULL);
			appendStringInfo(&buf, "%s.__sign, %s.__xid FROM %s %s)", alias, alias, delta, alias);
			continue;
		}
		cond = on_clause(j, rel);

		if (rel->semi)
		{
			/*
			 * [NOT] EXISTS: the rows of Tk-1 with (without) a match in Rk,
			 * without Rk's columns; the change as for a LEFT JOIN's
			 * unmatched rows, with the indicator [match] for EXISTS
			 */
			append_match_change(&buf, j, k, rel, prev, delta, cond,
								rel->semi == FV_SEMI_EXISTS, false);
			appendStringInfoChar(&buf, ')');
			continue;
		}

		/* dk-1 x pre(Rk) */
		appendStringInfoString(&buf, "SELECT ");
		append_chain_columns(&buf, j, k, FV_COLS_ROW, "__fv_t");
		append_rel_columns(&buf, j, rel, FV_COLS_DIRECT, NULL);
		appendStringInfo(&buf, "(__fv_t.__sign * %s.__sign)::pg_catalog.int4 AS __sign, __fv_t.__xid AS __xid FROM %s __fv_t, ",
						 alias, prev);
		append_chain_columns(&buf, j, k, FV_COLS_EXPAND, "__fv_t");
		appendStringInfo(&buf, "(SELECT %s1 AS __sign FROM %s UNION ALL SELECT %s-__sign FROM %s) %s WHERE %s",
						 table_columns(j, rel->table, ""), table_name(rel->relid),
						 table_columns(j, rel->table, ""), delta, alias, cond);

		/* post(Tk-1) x delta(Rk) */
		appendStringInfoString(&buf, " UNION ALL SELECT ");
		append_chain_columns(&buf, j, k, FV_COLS_DIRECT, NULL);
		append_rel_columns(&buf, j, rel, FV_COLS_DIRECT, NULL);
		appendStringInfo(&buf, "%s.__sign, %s.__xid FROM %s, %s %s WHERE %s",
						 alias, alias, chain_sql(j, k), delta, alias, cond);

		if (rel->left)
		{
			/* the NULL-extended rows of Tk-1 without a match in Rk */
			appendStringInfoString(&buf, " UNION ALL ");
			append_match_change(&buf, j, k, rel, prev, delta, cond, false, true);
		}
		if (rel->full)
		{
			/*
			 * FULL JOIN: the rows of Rk without a match in Tk-1, NULL for
			 * Tk-1's columns: the same the other way round, the rows of
			 * delta(Rk) without a match in post(Tk-1), and the rows of
			 * pre(Rk) matching a row of dk-1
			 */
			char	   *chain = chain_sql(j, k);

			appendStringInfoString(&buf, " UNION ALL SELECT ");
			append_chain_columns(&buf, j, k, FV_COLS_NULL, NULL);
			append_rel_columns(&buf, j, rel, FV_COLS_DIRECT, NULL);
			appendStringInfo(&buf, "%s.__sign, %s.__xid FROM %s %s WHERE NOT EXISTS (SELECT FROM %s WHERE %s)",
							 alias, alias, delta, alias, chain, cond);
			appendStringInfoString(&buf, " UNION ALL SELECT * FROM (SELECT ");
			append_chain_columns(&buf, j, k, FV_COLS_NULL, NULL);
			append_rel_columns(&buf, j, rel, FV_COLS_DIRECT, NULL);
			appendStringInfo(&buf, "(%s.__sign * ((NOT EXISTS (SELECT FROM %s WHERE %s))::pg_catalog.int4"
							 " - ((SELECT pg_catalog.count(*) FROM %s WHERE %s)"
							 " - (SELECT COALESCE(pg_catalog.sum(__fv_t.__sign), 0) FROM %s __fv_t, ",
							 alias, chain, cond, chain, cond, prev);
			append_chain_columns(&buf, j, k, FV_COLS_EXPAND, "__fv_t");
			end_from(&buf);
			appendStringInfo(&buf, " WHERE %s) = 0)::pg_catalog.int4))::pg_catalog.int4 AS __sign, 0::pg_catalog.int8 AS __xid"
							 " FROM (SELECT %s1 AS __sign FROM %s UNION ALL SELECT %s-__sign FROM %s) %s"
							 " WHERE EXISTS (SELECT FROM %s __fv_t, ",
							 cond, table_columns(j, rel->table, ""), table_name(rel->relid),
							 table_columns(j, rel->table, ""), delta, alias, prev);
			append_chain_columns(&buf, j, k, FV_COLS_EXPAND, "__fv_t");
			end_from(&buf);
			appendStringInfo(&buf, " WHERE %s)) __fv_c WHERE __fv_c.__sign <> 0", cond);
		}
		appendStringInfoChar(&buf, ')');
	}
	/* J's columns */
	appendStringInfoString(&buf, " SELECT ");
	{
		ListCell   *lc;

		foreach(lc, j->cols)
			appendStringInfo(&buf, "%s, ", quote_identifier(((FvJoinCol *) lfirst(lc))->name));
	}
	appendStringInfo(&buf, "__sign, __xid FROM __fv_d%d", n);
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
		sql = j->outer ? outer_delta_sql(j) : inner_delta_sql(j);
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

		if (i > 0)
			appendStringInfoString(&buf, " UNION ALL ");
		appendStringInfoString(&buf, "SELECT ");
		append_join_columns(&buf, j);
		appendStringInfo(&buf, "(%s.__sign", quote_identifier(delta->alias));
		foreach(lc, j->rels)
			if (foreach_current_index(lc) > i)
				appendStringInfo(&buf, " * %s.__sign", quote_identifier(((FvJoinRel *) lfirst(lc))->alias));
		appendStringInfo(&buf, ")::pg_catalog.int4 AS __sign, %s.__xid FROM ",
						 quote_identifier(delta->alias));
		foreach(lc, j->rels)
		{
			FvJoinRel  *rel = lfirst(lc);
			int			m = foreach_current_index(lc);

			if (m > 0)
				appendStringInfoString(&buf, ", ");
			if (m < i)
				appendStringInfoString(&buf, table_name(rel->relid));
			else if (m == i)
				appendStringInfo(&buf, "%s_%d", FV_DELTA_NAME, rel->table + 1);
			else
				appendStringInfo(&buf, "(SELECT %s1 AS __sign FROM %s UNION ALL SELECT %s-__sign FROM %s_%d)",
								 table_columns(j, rel->table, ""), table_name(rel->relid),
								 table_columns(j, rel->table, ""), FV_DELTA_NAME, rel->table + 1);
			appendStringInfo(&buf, " %s", quote_identifier(rel->alias));
		}
		appendStringInfoString(&buf, where);
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
	{
		FvJoinRel  *rel = lfirst(lc);

		/* (one table: a subquery in FROM pulled up, nothing to join) */
		if (list_length(j->rels) > 1 && !bms_is_member(rel->rtindex, keyed))
			ereport(NOTICE,
					(errmsg("live view joins %s (as %s) without an equality to another table's columns",
							get_rel_name(rel->relid), rel->alias),
					 errdetail("Each batch that changes the other tables scans it.")));
	}
}
