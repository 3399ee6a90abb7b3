/*-------------------------------------------------------------------------
 *
 * create.c
 *	  flowview.create_view(): storage, user-facing view, catalog entry,
 *	  initial population.
 *
 * A live view NAME over source S is made of
 *
 *	flowview.fv_store_ID      one row per group: the group keys g1..gk (or a
 *	                          constant __all for a query without GROUP BY),
 *	                          __rows (source rows in the group) and per
 *	                          aggregate i its state: aI_n (rows counted),
 *	                          aI_s (running sum, for sum/avg), aI_v (min/max);
 *	flowview.fv_store_ID_mI   per min/max aggregate: each group's values with
 *	                          their multiplicity, so a deleted minimum can be
 *	                          replaced without reading the source;
 *	                          (both indexed uniquely by their keys, or by a
 *	                          hash of them when they can be long: see
 *	                          FV_INDEXABLE_BYTES)
 *	flowview.fv_out_ID        the aggregates' values from their state, typed
 *	                          as the query types them (for a view without
 *	                          aggregates and DISTINCT, FV_VIEW_ROWS, the
 *	                          group keys and __rows);
 *	NAME                      security_invoker view: exactly the query's
 *	                          columns, in order, HAVING applied; for
 *	                          FV_VIEW_ROWS each fv_out_ID row __rows times
 *	                          (generate_series), the query's duplicates.
 *
 * A query without GROUP BY and aggregates is stored as if it grouped by its
 * output columns (see analyze.c): its storage is one row per distinct
 * output row, and everything below treats it as an aggregate view without
 * aggregates.
 *
 * Everything that changes the storage is generated here, once, as SQL kept
 * in the catalog (flowview.view_catalog):
 *
 *	backfill_sql  recomputes the storage from S (after emptying it); S is
 *	              written as FV_SOURCE_TOKEN, bound to S's OID when run
 *	              (fv_with_source: the token as a relation name becomes S's
 *	              current name), so renaming S does not break it;
 *	apply_sql     applies the delta relation flowview_delta (FV_DELTA_NAME), an
 *	              ephemeral named relation the apply worker registers over
 *	              its batch's rows for the view: S's used columns plus __sign (+1 for a new row version, -1
 *	              for an old one): upsert the groups' sums, update the
 *	              min/max multisets and recompute min/max of touched groups,
 *	              delete groups left without rows.
 *
 * The statements evaluate the query's own expressions (deparsed) with the
 * time zone pinned to the one in force at creation.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "parser/scanner.h"
#include "parser/scansup.h"
#include "parser/gram.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteHandler.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "mb/pg_wchar.h"
#include "utils/typcache.h"
#include "utils/varlena.h"
#include "parser/parse_coerce.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "pg_flowview.h"
#include "views/analyze.h"
#include "views/join.h"
#include "views/runas.h"
#include "views/security.h"
#include "views/versions.h"
#include "worker/worker.h"

PG_FUNCTION_INFO_V1(fv_create_view);
PG_FUNCTION_INFO_V1(fv_set_retention);

/*
 * fv_with_source
 *		sql with the source bound: every occurrence of FV_SOURCE_TOKEN as a
 *		relation name (an identifier token of the SQL, not followed by "(")
 *		replaced by the current qualified name of the relation with OID
 *		source.  String constants, quoted identifiers that merely contain the
 *		token and function names are left alone, so a constant of the user's
 *		query that contains the token keeps its value.  Throws 42P01 when
 *		the source is gone, 42809 when it is no longer a table (an ON SELECT
 *		rule made it a view, say) nor a live view (a rollup's): statements
 *		are never run against it then.
 */
static char *with_relation(const char *sql, const char *token, const char *name);

char *
fv_with_source(const char *sql, Oid source)
{
	char	   *relname = get_rel_name(source);
	char	   *nspname = get_namespace_name(get_rel_namespace(source));
	char		kind = get_rel_relkind(source);
	char	   *name;

	if (relname == NULL || nspname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("source table with OID %u of a live view does not exist", source)));
	if (kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE &&
		!fv_is_join_relation(source) && fv_live_view_of(source) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("source \"%s\" of a live view is no longer a table", relname),
				 errhint("Drop the live view (flowview.drop_view).")));
	if (strstr(sql, FV_SOURCE_TOKEN) == NULL)
		return pstrdup(sql);
	name = quote_qualified_identifier(nspname, relname);
	return with_relation(sql, FV_SOURCE_TOKEN, name);
}

/*
 * sql with every occurrence of token as a relation name (an identifier of
 * the SQL, not followed by "(") replaced by name.
 */
static char *
with_relation(const char *sql, const char *token, const char *name)
{
	core_yyscan_t scanner;
	core_yy_extra_type extra;
	core_YYSTYPE yylval;
	YYLTYPE		yylloc;
	StringInfoData out;
	int			copied = 0;
	int			pending = -1;	/* location of a token occurrence, if next is not "(" */
	int			pending_len = 0;

	initStringInfo(&out);
	scanner = scanner_init(sql, &extra, &ScanKeywords, ScanKeywordTokens);
	for (;;)
	{
		int			tok = core_yylex(&yylval, &yylloc, scanner);

		if (pending >= 0 && tok != '(')
		{
			appendBinaryStringInfo(&out, sql + copied, pending - copied);
			appendStringInfoString(&out, name);
			copied = pending + pending_len;
		}
		pending = -1;
		if (tok == 0)
			break;
		if (tok == IDENT && strcmp(yylval.str, token) == 0)
		{
			pending = yylloc;
			pending_len = strlen(token) + (sql[yylloc] == '"' ? 2 : 0);
		}
	}
	scanner_finish(scanner);
	appendStringInfoString(&out, sql + copied);
	return out.data;
}

/*
 * A join view's delta statement with its tables bound: FV_TABLE_TOKEN of
 * table k (from 1) replaced by the current name of relids[k - 1], so that
 * renaming a table does not break it.  42P01 when a table is gone.
 */
char *
fv_with_tables(const char *sql, int ntables, const Oid *relids)
{
	char	   *out = pstrdup(sql);
	int			k;

	for (k = 0; k < ntables; k++)
	{
		char	   *relname = get_rel_name(relids[k]);
		char	   *token = psprintf(FV_TABLE_TOKEN, k + 1);

		if (relname == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("table with OID %u of a live view's join does not exist", relids[k])));
		if (strstr(out, token) != NULL)
			out = with_relation(out, token,
								quote_qualified_identifier(get_namespace_name(get_rel_namespace(relids[k])),
														   relname));
	}
	return out;
}

/* Is relid a join view's join relation J (flowview.fv_join_ID, a view)? */
bool
fv_is_join_relation(Oid relid)
{
	char	   *name = get_rel_name(relid);

	return name != NULL && get_rel_relkind(relid) == RELKIND_VIEW &&
		strncmp(name, "fv_join_", 8) == 0 &&
		get_rel_namespace(relid) == get_namespace_oid("flowview", true);
}

PG_FUNCTION_INFO_V1(fv_with_source_sql);

/* flowview._with_source(sql text, source oid): fv_with_source for refresh_view */
Datum
fv_with_source_sql(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("sql and source must not be null")));
	PG_RETURN_TEXT_P(cstring_to_text(fv_with_source(text_to_cstring(PG_GETARG_TEXT_PP(0)),
													PG_GETARG_OID(1))));
}

typedef struct ViewSql
{
	FvViewDef  *def;
	int			id;
	char	   *store;			/* flowview.fv_store_ID */
	char	   *out;			/* flowview.fv_out_ID */
	const char *delta;			/* FV_DELTA_NAME */
	char	   *keys;			/* "g1, g2" or "__all" */
	int			nkeys;
	bool		rescan;			/* minmax => 'rescan': no multisets */
	bool		hashed;			/* keys indexed by their hash (see key_layout) */
	int			key_bytes;		/* most bytes of the keys' index entry */
	List	   *dpcontext;		/* deparse over the source */
	char	   *where;			/* the query's WHERE, the retention's and the
								 * sliding window's conditions, as SQL; NULL
								 * if none */
	char	   *delta_where;	/* the same for the batch's rows; without the
								 * window's conditions in a window's advance */
	int			retain_key;		/* retain: the group key it expires by (from 1) */
	/* allowed_lateness: the window's end and event time (over the rows) */
	char	   *window_end;		/* NULL without */
	char	   *event_time;
} ViewSql;

static char *
expr_sql(ViewSql *vs, Node *expr)
{
	return deparse_expression(expr, vs->dpcontext, false, false);
}

/* the conditions rows of "from" (the source or the batch's rows) must meet */
static const char *
where_of(ViewSql *vs, const char *from)
{
	return from == vs->delta ? vs->delta_where : vs->where;
}

static char *
type_sql(Oid type, int32 typmod, Oid collation)
{
	char	   *t = format_type_with_typemod(type, typmod);

	if (OidIsValid(collation) && collation != get_typcollation(type))
		t = psprintf("%s COLLATE %s", t, generate_collation_name(collation));
	return t;
}

static bool
is_minmax(FvAgg *agg)
{
	return agg->kind == FV_AGG_MIN || agg->kind == FV_AGG_MAX;
}

/*
 * The aggregate whose multiset min/max aggregate i uses: the first min/max
 * over the same argument with the same FILTER (min(x) and max(x) share one).
 */
static int
multiset_of(ViewSql *vs, int i)
{
	FvAgg	   *agg = list_nth(vs->def->aggs, i);
	int			j;

	for (j = 0; j < i; j++)
	{
		FvAgg	   *other = list_nth(vs->def->aggs, j);

		if (is_minmax(other) && equal(other->arg, agg->arg) && equal(other->filter, agg->filter))
			return j;
	}
	return i;
}

/* the multiset table of min/max aggregate i */
static char *
aux_name(ViewSql *vs, int i)
{
	return psprintf("flowview.fv_store_%d_m%d", vs->id, multiset_of(vs, i) + 1);
}

/* "(filter) AND " or "" */
static char *
filter_and(ViewSql *vs, FvAgg *agg)
{
	return agg->filter ? psprintf("(%s) AND ", expr_sql(vs, agg->filter)) : "";
}

/* the group key expressions, comma-separated ("true" for a global view) */
static void
append_group_exprs(StringInfo buf, ViewSql *vs)
{
	ListCell   *lc;

	if (vs->def->global)
	{
		appendStringInfoString(buf, "true");
		return;
	}
	foreach(lc, vs->def->groupkeys)
	{
		if (foreach_current_index(lc) > 0)
			appendStringInfoString(buf, ", ");
		appendStringInfoString(buf, expr_sql(vs, ((FvGroupKey *) lfirst(lc))->expr));
	}
}

static void
append_group_by(StringInfo buf, int n)
{
	int			i;

	for (i = 1; i <= n; i++)
		appendStringInfo(buf, "%s%d", i == 1 ? " GROUP BY " : ", ", i);
}

/*
 * The SELECT that aggregates rows of "from" into storage rows:
 *	FV_ROWS_ALL      the source itself (backfill): each row counts once;
 *	FV_ROWS_NEW      a batch of new row versions only (inserts): likewise,
 *	                 min/max folded in only with minmax 'rescan';
 *	FV_ROWS_SIGNED   any batch: each row counts __sign times; min/max are
 *	                 left NULL (they come from the multisets or
 *	                 rescan_statement).
 */
typedef enum FvRows
{
	FV_ROWS_ALL,
	FV_ROWS_NEW,
	FV_ROWS_SIGNED
} FvRows;

static char *
storage_select(ViewSql *vs, const char *from, FvRows rows)
{
	StringInfoData buf;
	ListCell   *lc;
	bool		signed_rows = rows == FV_ROWS_SIGNED;
	bool		minmax = rows == FV_ROWS_ALL || (rows == FV_ROWS_NEW && vs->rescan);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT ");
	append_group_exprs(&buf, vs);
	appendStringInfo(&buf, ", %s", signed_rows ? "coalesce(sum(__sign), 0)" : "count(*)");
	foreach(lc, vs->def->aggs)
	{
		FvAgg	   *agg = lfirst(lc);
		char	   *state = format_type_be(agg->statetype);
		char	   *arg = agg->arg ? expr_sql(vs, agg->arg) : NULL;
		char	   *filter = agg->filter ? psprintf(" FILTER (WHERE %s)", expr_sql(vs, agg->filter)) : "";

		if (agg->kind == FV_AGG_COUNT_STAR)
		{
			appendStringInfo(&buf, signed_rows ? ", coalesce(sum(__sign)%s, 0)" : ", count(*)%s", filter);
			continue;
		}
		/* rows with a non-null argument */
		if (signed_rows)
			appendStringInfo(&buf, ", coalesce(sum(__sign) FILTER (WHERE %s(%s) IS NOT NULL), 0)",
							 filter_and(vs, agg), arg);
		else
			appendStringInfo(&buf, ", count(%s)%s", arg, filter);
		if (agg->kind == FV_AGG_SUM || agg->kind == FV_AGG_AVG)
		{
			if (signed_rows)
				appendStringInfo(&buf, ", coalesce(sum(__sign * (%s)::%s)%s, 0)::%s", arg, state, filter, state);
			else
				appendStringInfo(&buf, ", coalesce(sum((%s)::%s)%s, 0)::%s", arg, state, filter, state);
		}
		else if (is_minmax(agg) && !minmax)
			appendStringInfo(&buf, ", NULL::%s", state);
		else if (is_minmax(agg))
			appendStringInfo(&buf, ", %s(%s)%s", agg->kind == FV_AGG_MIN ? "min" : "max", arg, filter);
	}
	appendStringInfo(&buf, " FROM %s", from);
	if (where_of(vs, from))
		appendStringInfo(&buf, " WHERE %s", where_of(vs, from));
	if (!vs->def->global)
		append_group_by(&buf, vs->nkeys);
	return buf.data;
}

/* storage column list in storage_select's order */
static char *
storage_columns(ViewSql *vs)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s, __rows", vs->keys);
	foreach(lc, vs->def->aggs)
	{
		FvAgg	   *agg = lfirst(lc);
		int			i = foreach_current_index(lc) + 1;

		appendStringInfo(&buf, ", a%d_n", i);
		if (agg->kind == FV_AGG_SUM || agg->kind == FV_AGG_AVG)
			appendStringInfo(&buf, ", a%d_s", i);
		else if (is_minmax(agg))
			appendStringInfo(&buf, ", a%d_v", i);
	}
	return buf.data;
}

/*
 * The equality of group key i, schema-qualified: a user-defined type's
 * operator is not on the statements' pinned search_path.
 */
static char *
key_eq(ViewSql *vs, int i)
{
	FvGroupKey *gk = list_nth(vs->def->groupkeys, i - 1);
	TypeCacheEntry *tce = lookup_type_cache(gk->type, TYPECACHE_EQ_OPR);

	HeapTuple	tup;
	char	   *op;

	if (!OidIsValid(tce->eq_opr))
		return "=";
	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(tce->eq_opr));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator %u", tce->eq_opr);
	op = psprintf("OPERATOR(%s.%s)",
				  quote_identifier(get_namespace_name(((Form_pg_operator) GETSTRUCT(tup))->oprnamespace)),
				  NameStr(((Form_pg_operator) GETSTRUCT(tup))->oprname));
	ReleaseSysCache(tup);
	return op;
}

/*
 * "(a.g1 = b.g1 OR (a.g1 IS NULL AND b.g1 IS NULL)) AND ...": NULL keys
 * match, as with IS NOT DISTINCT FROM, but this form can use the unique
 * indexes on the keys (IS NOT DISTINCT FROM cannot).
 */
static char *
keys_match(ViewSql *vs, const char *a, const char *b)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 1; i <= vs->nkeys; i++)
		appendStringInfo(&buf, "%s(%s.g%d %s %s.g%d OR (%s.g%d IS NULL AND %s.g%d IS NULL))",
						 i > 1 ? " AND " : "", a, i, key_eq(vs, i), b, i, a, i, b, i);
	return buf.data;
}

/* "a.g1 = b.g1 AND ...": for keys known not to be NULL */
static char *
keys_equal(ViewSql *vs, const char *a, const char *b)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 1; i <= vs->nkeys; i++)
		appendStringInfo(&buf, "%s%s.g%d %s %s.g%d", i > 1 ? " AND " : "", a, i, key_eq(vs, i), b, i);
	return buf.data;
}

/* "a.g1, a.g2, ..." */
static char *
qualified_keys(ViewSql *vs, const char *a)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 1; i <= vs->nkeys; i++)
		appendStringInfo(&buf, "%s%s.g%d", i > 1 ? ", " : "", a, i);
	return buf.data;
}

/* "(a.g1 IS NOT NULL AND ...)" */
static char *
keys_not_null(ViewSql *vs, const char *a)
{
	StringInfoData buf;
	int			i;

	/* parenthesised: callers negate it (a NOT before it bound to g1 alone) */
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '(');
	for (i = 1; i <= vs->nkeys; i++)
		appendStringInfo(&buf, "%s%s.g%d IS NOT NULL", i > 1 ? " AND " : "", a, i);
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/*
 * Long keys.  A btree index entry holds at most about 2,700 bytes
 * (BTMaxItemSize), so a unique index on group keys that may be longer (text,
 * bytea, numeric without a precision, arrays...) would fail in the middle of
 * the stream.  Such storage tables (the group rows; a multiset's rows when
 * its keys or values may be long) are indexed by a hash of those columns
 * instead, not uniquely: every lookup compares the hashes (for the index)
 * and then the values themselves, so different keys with equal hashes stay
 * apart, and the upserts are MERGE statements on that condition instead of
 * INSERT ... ON CONFLICT.  Each group row (and multiset row) is unique
 * because only those statements insert, and only for groups they did not
 * find.
 */
#define FV_INDEXABLE_BYTES 2000

/* the most bytes a value of type/typmod takes, or -1 when unbounded */
static int
value_max_bytes(Oid type, int32 typmod)
{
	int16		typlen;

	type = getBaseTypeAndTypmod(type, &typmod);
	typlen = get_typlen(type);
	if (typlen > 0)
		return typlen;
	switch (type)
	{
		case VARCHAROID:
		case BPCHAROID:
			if (typmod >= (int32) VARHDRSZ)
				return (typmod - VARHDRSZ) * pg_database_encoding_max_length() + VARHDRSZ;
			break;
		case NUMERICOID:
			if (typmod >= (int32) VARHDRSZ)
				return (((typmod - VARHDRSZ) >> 16) & 0xffff) + 16;
			break;
		case INETOID:
		case CIDROID:
			return 24;
	}
	return -1;
}

/*
 * "coalesce(F(col, 0), 0)": the value's 64-bit hash by its type's extended
 * hash function (NULL hashes as 0); 0A000 naming "what" when the type has
 * none, unless text_ok: a bag view's column, whose text is also an image key
 * of the row (analyze.c), hashed as text.
 */
static char *
hash_of(Oid type, const char *col, const char *what, bool text_ok)
{
	TypeCacheEntry *tce = lookup_type_cache(getBaseType(type), TYPECACHE_HASH_EXTENDED_PROC);
	Oid			fn = tce->hash_extended_proc;
	Oid		   *argtypes;
	int			nargs;

	/*
	 * A bag view's row of a type without one (user-defined) also has the
	 * value's text as an image key, so hashing that text is consistent
	 */
	if (!OidIsValid(fn) && text_ok)
		return psprintf("coalesce(pg_catalog.hashtextextended((%s)::pg_catalog.text, 0), 0)", col);
	if (!OidIsValid(fn))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s of type %s is not supported in a live view", what, format_type_be(type)),
				 errdetail("Its values can be longer than an index entry allows, and the type has no hash function to index them by.")));
	/*
	 * A type hashed by its binary-compatible sibling's function (timestamptz
	 * by timestamp_hash_extended) cannot be passed to it without a cast that
	 * converts; the record hash reaches the same function through the type
	 * cache.
	 */
	(void) get_func_signature(fn, &argtypes, &nargs);
	if (!IsBinaryCoercible(type, argtypes[0]))
		return psprintf("pg_catalog.hash_record_extended(ROW(%s), 0)", col);
	return psprintf("coalesce(%s(%s, 0), 0)",
					quote_qualified_identifier(get_namespace_name(get_func_namespace(fn)), get_func_name(fn)),
					col);
}

/* the group keys' hash over alias's g1..gk (alias NULL: unqualified) */
static char *
keys_hash(ViewSql *vs, const char *alias)
{
	char	   *h = NULL;
	int			k;

	for (k = vs->nkeys; k >= 1; k--)
	{
		FvGroupKey *gk = list_nth(vs->def->groupkeys, k - 1);
		char	   *hk = hash_of(gk->type, alias ? psprintf("%s.g%d", alias, k) : psprintf("g%d", k),
								 vs->def->kind == FV_VIEW_AGGREGATE ? "GROUP BY key" : "output column",
								 vs->def->kind == FV_VIEW_ROWS);

		h = h ? psprintf("pg_catalog.hashint8extended(%s, %s)", hk, h) : hk;
	}
	return h;
}

/* Decide vs->hashed and vs->key_bytes from the group keys' types. */
static void
key_layout(ViewSql *vs)
{
	ListCell   *lc;
	int			bytes = vs->def->global ? 1 : 0;

	foreach(lc, vs->def->groupkeys)
	{
		FvGroupKey *gk = lfirst(lc);
		int			b = value_max_bytes(gk->type, gk->typmod);

		bytes = (b < 0 || bytes < 0) ? -1 : bytes + MAXALIGN(b);
	}
	vs->hashed = bytes < 0 || bytes > FV_INDEXABLE_BYTES;
	vs->key_bytes = vs->hashed ? 8 : bytes;
	if (vs->hashed)
		(void) keys_hash(vs, NULL); /* refuse keys that cannot be hashed now */
}

/* Is the multiset of min/max aggregate agg indexed by a hash of its values? */
static bool
value_hashed(ViewSql *vs, FvAgg *agg)
{
	int			b = value_max_bytes(agg->argtype, exprTypmod(agg->arg));

	return b < 0 || vs->key_bytes + MAXALIGN(b) > FV_INDEXABLE_BYTES;
}

/*
 * A multiset of values that can be long but whose byte length is known
 * without reading them (text, varchar, char, bytea) keeps a second index
 * whose value column is "short_value": the value if it fits an index entry,
 * else NULL, so a group's extreme is still one index probe among its short
 * values, and a scan of its long values only (few).  Other long values
 * (arrays, numeric, jsonb...) give a group's extreme by reading its values.
 */
static bool
value_orderable(ViewSql *vs, FvAgg *agg)
{
	Oid			base = getBaseType(agg->argtype);

	return value_hashed(vs, agg) &&
		(base == TEXTOID || base == VARCHAROID || base == BPCHAROID || base == BYTEAOID);
}

static char *
short_value(ViewSql *vs, const char *col)
{
	return psprintf("CASE WHEN pg_catalog.octet_length(%s) <= %d THEN %s END",
					col, FV_INDEXABLE_BYTES - vs->key_bytes - 16, col);
}

/*
 * min or max (fn) of the multiset aux's values of the group selected by
 * cond over aux alias m.
 */
static char *
multiset_extreme(ViewSql *vs, FvAgg *agg, const char *fn, const char *aux, const char *cond)
{
	bool		min = strcmp(fn, "min") == 0;

	if (!value_orderable(vs, agg))
		return psprintf("(SELECT %s(m.v) FROM %s m%s%s)", fn, aux, cond ? " WHERE " : "", cond ? cond : "");
	return psprintf("%s((SELECT %s(%s) FROM %s m%s%s), (SELECT %s(m.v) FROM %s m WHERE %s%s(%s) IS NULL))",
					min ? "least" : "greatest", fn, short_value(vs, "m.v"), aux,
					cond ? " WHERE " : "", cond ? cond : "",
					fn, aux, cond ? cond : "", cond ? " AND " : "", short_value(vs, "m.v"));
}

/*
 * The match of group rows a and b: keys_match, behind equal hashes if
 * hashed.  The key comparison is wrapped in a CASE so that the planner does
 * not multiply its selectivity with the (equivalent) hash equality's: with
 * both, it expected about one row from joins of thousands and chose nested
 * loops that made a batch re-reading 6,400 groups take 20 s instead of 0.3.
 */
static char *
store_match(ViewSql *vs, const char *a, const char *b)
{
	if (!vs->hashed)
		return keys_match(vs, a, b);
	return psprintf("%s = %s AND (CASE WHEN %s THEN true END)", keys_hash(vs, a), keys_hash(vs, b),
					keys_match(vs, a, b));
}

/* likewise with keys_equal (keys known not to be NULL) */
static char *
store_equal(ViewSql *vs, const char *a, const char *b)
{
	if (!vs->hashed)
		return keys_equal(vs, a, b);
	return psprintf("%s = %s AND (CASE WHEN %s THEN true END)", keys_hash(vs, a), keys_hash(vs, b),
					keys_equal(vs, a, b));
}

/*
 * "MERGE INTO target alias USING (select) excluded(columns) ON match WHEN
 * MATCHED THEN UPDATE SET set WHEN NOT MATCHED THEN INSERT": the upsert of
 * a hashed table (see FV_INDEXABLE_BYTES).  set is written as for ON
 * CONFLICT: alias.col is the row's value, excluded.col the new one.
 */
static char *
merge_statement(const char *target, const char *alias, const char *columns, const char *select,
				const char *match, const char *set)
{
	StringInfoData values;
	char	   *cols = pstrdup(columns);
	char	   *tok;
	char	   *save;

	initStringInfo(&values);
	for (tok = strtok_r(cols, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
		appendStringInfo(&values, "%sexcluded.%s", values.len ? ", " : "", tok);
	return psprintf("MERGE INTO %s %s USING (%s) excluded(%s) ON %s"
					" WHEN MATCHED THEN UPDATE SET %s"
					" WHEN NOT MATCHED THEN INSERT (%s) VALUES (%s)",
					target, alias, select, columns, match, set, columns, values.data);
}

/* CREATE TABLE/INDEX statements of the storage; returns the tables created */
static List *
create_storage(ViewSql *vs)
{
	StringInfoData buf;
	ListCell   *lc;
	List	   *tables = NIL;
	char	   *keydefs;

	initStringInfo(&buf);
	if (vs->def->global)
		appendStringInfoString(&buf, "__all boolean NOT NULL");
	foreach(lc, vs->def->groupkeys)
	{
		FvGroupKey *gk = lfirst(lc);

		appendStringInfo(&buf, "%sg%d %s", foreach_current_index(lc) > 0 ? ", " : "",
						 foreach_current_index(lc) + 1,
						 type_sql(gk->type, gk->typmod, gk->collation));
	}
	keydefs = pstrdup(buf.data);
	appendStringInfoString(&buf, ", __rows bigint NOT NULL");
	foreach(lc, vs->def->aggs)
	{
		FvAgg	   *agg = lfirst(lc);
		int			i = foreach_current_index(lc) + 1;

		appendStringInfo(&buf, ", a%d_n bigint NOT NULL", i);
		if (agg->kind == FV_AGG_SUM || agg->kind == FV_AGG_AVG)
			appendStringInfo(&buf, ", a%d_s %s NOT NULL", i, format_type_be(agg->statetype));
		else if (is_minmax(agg))
			appendStringInfo(&buf, ", a%d_v %s", i,
							 type_sql(agg->argtype, exprTypmod(agg->arg), exprCollation(agg->arg)));
	}
	/*
	 * Only the keys are indexed and pages keep room, so that the worker's
	 * updates of a group (every batch, for a busy one) are HOT: no index
	 * entry per version for lookups to step over.
	 */
	fv_spi_run(psprintf("CREATE TABLE %s (%s) WITH (fillfactor = 80)", vs->store, buf.data));
	if (vs->hashed)
		fv_spi_run(psprintf("CREATE INDEX ON %s ((%s))", vs->store, keys_hash(vs, NULL)));
	else
		fv_spi_run(psprintf("CREATE UNIQUE INDEX ON %s (%s) NULLS NOT DISTINCT", vs->store, vs->keys));
	tables = lappend(tables, vs->store);

	foreach(lc, vs->def->aggs)
	{
		FvAgg	   *agg = lfirst(lc);
		int			i = foreach_current_index(lc);
		char	   *aux;

		if (!is_minmax(agg) || multiset_of(vs, i) != i || vs->rescan)
			continue;
		aux = aux_name(vs, i);
		fv_spi_run(psprintf("CREATE TABLE %s (%s%sv %s NOT NULL, n bigint NOT NULL)", aux,
					 vs->def->global ? "" : keydefs, vs->def->global ? "" : ", ",
					 type_sql(agg->argtype, exprTypmod(agg->arg), exprCollation(agg->arg))));
		if (!vs->hashed && !value_hashed(vs, agg))
			fv_spi_run(psprintf("CREATE UNIQUE INDEX ON %s (%s%sv) NULLS NOT DISTINCT", aux,
						 vs->def->global ? "" : vs->keys, vs->def->global ? "" : ", "));
		else
			fv_spi_run(psprintf("CREATE INDEX ON %s (%s%s%s)", aux,
						 vs->def->global ? "" : (vs->hashed ? psprintf("(%s)", keys_hash(vs, NULL)) : vs->keys),
						 vs->def->global ? "" : ", ",
						 value_hashed(vs, agg) ? psprintf("(%s)", hash_of(agg->argtype, "v", "min/max argument", false)) : "v"));
		if (value_orderable(vs, agg))
			fv_spi_run(psprintf("CREATE INDEX ON %s (%s%s(%s))", aux,
						 vs->def->global ? "" : (vs->hashed ? psprintf("(%s)", keys_hash(vs, NULL)) : vs->keys),
						 vs->def->global ? "" : ", ", short_value(vs, "v")));
		fv_spi_run(psprintf("CREATE INDEX ON %s (n) WHERE n = 0", aux));
		tables = lappend(tables, aux);
	}
	return tables;
}

/*
 * The min/max multiset rows of "from": per group and non-null value of the
 * aggregate's argument (rows passing WHERE and FILTER), the count expression.
 */
static char *
multiset_select(ViewSql *vs, FvAgg *agg, const char *from, const char *count)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT ");
	if (!vs->def->global)
	{
		append_group_exprs(&buf, vs);
		appendStringInfoString(&buf, ", ");
	}
	appendStringInfo(&buf, "%s, %s FROM %s WHERE %s%s(%s) IS NOT NULL",
					 expr_sql(vs, agg->arg), count, from, filter_and(vs, agg),
					 where_of(vs, from) ? psprintf("(%s) AND ", where_of(vs, from)) : "",
					 expr_sql(vs, agg->arg));
	append_group_by(&buf, vs->def->global ? 1 : vs->nkeys + 1);
	return buf.data;
}

static List *
backfill_statements(ViewSql *vs)
{
	List	   *stmts = NIL;
	ListCell   *lc;

	stmts = lappend(stmts, psprintf("INSERT INTO %s (%s) %s", vs->store, storage_columns(vs),
									storage_select(vs, FV_SOURCE_TOKEN, FV_ROWS_ALL)));
	foreach(lc, vs->def->aggs)
	{
		FvAgg	   *agg = lfirst(lc);

		if (!is_minmax(agg) || multiset_of(vs, foreach_current_index(lc)) != foreach_current_index(lc) ||
			vs->rescan)
			continue;
		stmts = lappend(stmts, psprintf("INSERT INTO %s %s", aux_name(vs, foreach_current_index(lc)),
										multiset_select(vs, agg, FV_SOURCE_TOKEN, "count(*)")));
	}
	return stmts;
}

/*
 * "(SELECT DISTINCT <group keys> FROM <batch> WHERE ...) t(g1, ...)": the
 * groups a batch touches; with only_removed, those it removed a row version
 * from (only they can be left without rows).
 */
static char *
touched_groups(ViewSql *vs, bool only_removed)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "(SELECT DISTINCT ");
	append_group_exprs(&buf, vs);
	appendStringInfo(&buf, " FROM %s", vs->delta);
	if (vs->delta_where || only_removed)
		appendStringInfo(&buf, " WHERE %s%s%s", only_removed ? "__sign < 0" : "",
						 only_removed && vs->delta_where ? " AND " : "",
						 vs->delta_where ? vs->delta_where : "");
	appendStringInfo(&buf, ") t(%s)", vs->keys);
	return buf.data;
}

/*
 * minmax => 'rescan': "read the group's extreme again from the source", for
 * min/max aggregate agg of the group row aliased __fv_s.  rescan_head is the
 * read of a global view, rescan_group_expr the read of one group.
 * flowview._reread counts the values read (flowview.stats.minmax_rereads).
 */
static char *
rescan_head(ViewSql *vs, FvAgg *agg)
{
	const char *fn = agg->kind == FV_AGG_MIN ? "min" : "max";

	return psprintf("SELECT %s(%s) FROM %s __fv_src WHERE %s%s(%s) IS NOT NULL",
					fn, expr_sql(vs, agg->arg), FV_SOURCE_TOKEN, filter_and(vs, agg),
					vs->where ? psprintf("(%s) AND ", vs->where) : "",
					expr_sql(vs, agg->arg));
}

/*
 * "(SELECT min(arg) FROM source WHERE <keys of __fv_s>)": one group's read;
 * with null_matching the form that matches NULL keys (which cannot use the
 * index order of an index on (g, arg)), else plain equality, which can.
 */
static char *
rescan_group_expr(ViewSql *vs, FvAgg *agg, bool null_matching)
{
	StringInfoData match;
	ListCell   *lc;

	initStringInfo(&match);
	foreach(lc, vs->def->groupkeys)
	{
		char	   *e = expr_sql(vs, ((FvGroupKey *) lfirst(lc))->expr);
		int			k = foreach_current_index(lc) + 1;

		if (null_matching)
			appendStringInfo(&match, " AND ((%s) = __fv_s.g%d OR ((%s) IS NULL AND __fv_s.g%d IS NULL))",
							 e, k, e, k);
		else
			appendStringInfo(&match, " AND (%s) = __fv_s.g%d", e, k);
	}
	return psprintf("(%s%s)", rescan_head(vs, agg), match.data);
}

/*
 * minmax => 'rescan': the statement that keeps the min/max aggregates over
 * the same argument and FILTER as aggregate j in the group row.  Per group,
 * the net change of each value in each source transaction (new row versions
 * minus old ones) is folded in: values that come in lower a minimum (least);
 * when a value at or below the minimum before the batch goes, the minimum is
 * read again from the source.  max likewise.  A group left without values
 * gets NULL.
 *
 * Why this is exact: the re-read sees every transaction applied so far (the
 * worker waits for them to be visible) and maybe some later ones.  Folding
 * in a value twice cannot change a minimum, and removing any value at or
 * below the minimum triggers a re-read, so once the later transactions are
 * applied too, the minimum is the source's.  Changes are netted only within
 * one transaction, which a snapshot sees entirely or not at all: netting an
 * insert in one transaction against a delete in a later one could hide the
 * delete of a value a re-read had already picked up from the future.
 *
 * Reading groups again (views created since 0.2; a view created by 0.1
 * keeps its stored statement, which reads each group alone).  The groups to
 * read are the CTE __fv_n.  When there are more than
 * FV_REREAD_PER_GROUP_MAX of them, one read of the source serves them all
 * (__fv_r: their keys are a hashable semi-join, so a source without an
 * index on the group columns is scanned once per batch, not once per
 * group); when there are few, each is read alone, which an index on
 * (group columns, argument) answers from its first entry (and without an
 * index costs at most FV_REREAD_PER_GROUP_MAX scans).  __fv_r is empty
 * when it is not used (a one-time filter: the source is not read).
 *
 * The reads are as exact as before: the CTEs and the UPDATE run under one
 * snapshot, the statement's, which is what the per-group reads always used;
 * __fv_n is chosen by the same condition (reread_condition) over the same
 * storage row and batch changes as the CASE branch that consumes the read,
 * so every group taking that branch was read; a group absent from __fv_r
 * has no value in the source and gets NULL, which is what min() over its
 * rows gives.  Groups with a NULL key (which the semi-join cannot match)
 * are read alone, with the NULL-matching form.
 */
#define FV_REREAD_PER_GROUP_MAX 4

static char *
reread_condition(const char *fn, int i)
{
	bool		min = strcmp(fn, "min") == 0;

	return psprintf("__fv_s.a%d_n <> 0 AND __fv_d.r_%s IS NOT NULL AND (__fv_s.a%d_v IS NULL OR __fv_d.r_%s %s __fv_s.a%d_v)",
					i, fn, i, fn, min ? "<=" : ">=", i);
}

static char *
rescan_statement(ViewSql *vs, int j)
{
	FvAgg	   *first = list_nth(vs->def->aggs, j);
	bool		global = vs->def->global;
	StringInfoData buf,
				set,
				changes,
				need;
	ListCell   *lc;
	char	   *arg = expr_sql(vs, first->arg);

	initStringInfo(&set);
	initStringInfo(&changes);
	initStringInfo(&need);
	foreach(lc, vs->def->aggs)
	{
		FvAgg	   *agg = lfirst(lc);
		int			i = foreach_current_index(lc) + 1;
		bool		min = agg->kind == FV_AGG_MIN;
		const char *fn = min ? "min" : "max";
		char	   *reread;

		if (!is_minmax(agg) || multiset_of(vs, i - 1) != j)
			continue;
		/* groups whose value may change (most batches change no extreme) */
		appendStringInfo(&changes, "%s__fv_s.a%d_n = 0 OR __fv_s.a%d_v IS NULL OR __fv_d.r_%s %s __fv_s.a%d_v"
						 " OR __fv_d.i_%s %s __fv_s.a%d_v",
						 changes.len ? " OR " : "", i, i, fn, min ? "<=" : ">=", i, fn, min ? "<" : ">", i);
		appendStringInfo(&need, "%s(%s)", need.len ? " OR " : "", reread_condition(fn, i));
		if (global)
			reread = psprintf("flowview._reread((%s))", rescan_head(vs, agg));
		else
			reread = psprintf("flowview._reread(CASE WHEN NOT %s THEN %s"
							  " WHEN (SELECT many FROM __fv_many) THEN __fv_r.%s ELSE %s END)",
							  keys_not_null(vs, "__fv_s"), rescan_group_expr(vs, agg, true),
							  fn, rescan_group_expr(vs, agg, false));
		appendStringInfo(&set, "%sa%d_v = CASE WHEN __fv_s.a%d_n = 0 THEN NULL"
						 " WHEN %s THEN %s"
						 " ELSE %s(__fv_s.a%d_v, __fv_d.i_%s) END",
						 set.len ? ", " : "", i, i, reread_condition(fn, i), reread,
						 min ? "least" : "greatest", i, fn);
	}
	initStringInfo(&buf);
	appendStringInfo(&buf, "WITH __fv_d AS MATERIALIZED (SELECT %s%s"
					 "min(v) FILTER (WHERE n > 0) AS i_min, max(v) FILTER (WHERE n > 0) AS i_max,"
					 " min(v) FILTER (WHERE n < 0) AS r_min, max(v) FILTER (WHERE n < 0) AS r_max"
					 " FROM (%s) m(%s%sv, n)",
					 global ? "" : vs->keys, global ? "" : ", ",
					 psprintf("%s, __xid", multiset_select(vs, first, vs->delta, "sum(__sign)")),
					 global ? "" : vs->keys, global ? "" : ", ");
	if (!global)
		append_group_by(&buf, vs->nkeys);
	appendStringInfoString(&buf, ")");
	if (!global)
	{
		/* the groups to read again; the source's extremes of them, in one read */
		appendStringInfo(&buf, ", __fv_n AS MATERIALIZED (SELECT %s FROM __fv_d JOIN %s __fv_s ON %s WHERE %s AND (%s))"
						 ", __fv_many AS (SELECT count(*) > %d AS many FROM __fv_n)",
						 qualified_keys(vs, "__fv_d"), vs->store, store_equal(vs, "__fv_s", "__fv_d"),
						 keys_not_null(vs, "__fv_d"), need.data, FV_REREAD_PER_GROUP_MAX);
		appendStringInfo(&buf, ", __fv_r(%s, min, max) AS (SELECT ", vs->keys);
		append_group_exprs(&buf, vs);
		appendStringInfo(&buf, ", min(%s), max(%s) FROM %s __fv_src WHERE %s%s(%s) IS NOT NULL"
						 " AND (SELECT many FROM __fv_many) AND (",
						 arg, arg, FV_SOURCE_TOKEN, filter_and(vs, first),
						 vs->where ? psprintf("(%s) AND ", vs->where) : "",
						 arg);
		append_group_exprs(&buf, vs);
		appendStringInfoString(&buf, ") IN (SELECT * FROM __fv_n)");
		append_group_by(&buf, vs->nkeys);
		appendStringInfoString(&buf, ")");
	}
	appendStringInfo(&buf, " UPDATE %s __fv_s SET %s FROM __fv_d", vs->store, set.data);
	if (!global)
		appendStringInfo(&buf, " LEFT JOIN __fv_r ON %s", keys_equal(vs, "__fv_r", "__fv_d"));
	appendStringInfo(&buf, " WHERE (%s)", changes.data);
	if (!global)
		appendStringInfo(&buf, " AND %s", store_match(vs, "__fv_s", "__fv_d"));
	return buf.data;
}

/*
 * The upsert of the groups' counts and sums from the batch; for a batch of
 * new rows only (new_rows) of min/max too with minmax 'rescan'
 * (least/greatest).
 */
static char *
upsert_statement(ViewSql *vs, bool new_rows)
{
	bool		fold_minmax = new_rows && vs->rescan;
	StringInfoData set;
	ListCell   *lc;
	char	   *select = storage_select(vs, vs->delta, new_rows ? FV_ROWS_NEW : FV_ROWS_SIGNED);

	initStringInfo(&set);
	appendStringInfoString(&set, "__rows = s.__rows + excluded.__rows");
	foreach(lc, vs->def->aggs)
	{
		FvAgg	   *agg = lfirst(lc);
		int			i = foreach_current_index(lc) + 1;

		appendStringInfo(&set, ", a%d_n = s.a%d_n + excluded.a%d_n", i, i, i);
		if (agg->kind == FV_AGG_SUM || agg->kind == FV_AGG_AVG)
			appendStringInfo(&set, ", a%d_s = s.a%d_s + excluded.a%d_s", i, i, i);
		else if (is_minmax(agg) && fold_minmax)
			appendStringInfo(&set, ", a%d_v = %s(s.a%d_v, excluded.a%d_v)", i,
							 agg->kind == FV_AGG_MIN ? "least" : "greatest", i, i);
	}
	if (vs->hashed)
		return merge_statement(vs->store, "s", storage_columns(vs), select,
							   store_match(vs, "s", "excluded"), set.data);
	return psprintf("INSERT INTO %s AS s (%s) %s ON CONFLICT (%s) DO UPDATE SET %s",
					vs->store, storage_columns(vs), select, vs->keys, set.data);
}

static List *
apply_statements(ViewSql *vs)
{
	List	   *stmts = NIL;
	ListCell   *lc;
	StringInfoData buf;
	StringInfoData minmax;
	bool		any_minmax = false;

	/*
	 * 1. add the deltas to the groups' sums and counts: for a batch of new
	 * rows only (inserts), without multiplying by signs, and with minmax
	 * 'rescan' folding in min/max too (all such a batch needs).
	 */
	stmts = lappend(stmts, psprintf(FV_ONLY_WITHOUT_REMOVALS "%s", upsert_statement(vs, true)));
	stmts = lappend(stmts, psprintf(FV_ONLY_WITH_REMOVALS "%s", upsert_statement(vs, false)));

	/* 2. min/max: update the multisets, then recompute the touched groups */
	initStringInfo(&minmax);
	foreach(lc, vs->def->aggs)
	{
		FvAgg	   *agg = lfirst(lc);
		int			i = foreach_current_index(lc);
		char	   *aux;

		if (!is_minmax(agg))
			continue;
		if (vs->rescan)
		{
			if (multiset_of(vs, i) == i)
				stmts = lappend(stmts, psprintf(FV_ONLY_WITH_REMOVALS "%s", rescan_statement(vs, i)));
			continue;
		}
		aux = aux_name(vs, i);
		if (multiset_of(vs, i) == i)
		{
			initStringInfo(&buf);
			if (vs->hashed || value_hashed(vs, agg))
			{
				char	   *match = vs->def->global ? "true" :
					(vs->hashed ? store_match(vs, "m", "excluded") : keys_match(vs, "m", "excluded"));

				if (value_hashed(vs, agg))
					match = psprintf("%s AND %s = %s AND m.v = excluded.v", match,
									 hash_of(agg->argtype, "m.v", "min/max argument", false),
									 hash_of(agg->argtype, "excluded.v", "min/max argument", false));
				else
					match = psprintf("%s AND m.v = excluded.v", match);
				appendStringInfoString(&buf, merge_statement(aux, "m",
															 psprintf("%s%sv, n", vs->def->global ? "" : vs->keys,
																	  vs->def->global ? "" : ", "),
															 multiset_select(vs, agg, vs->delta, "sum(__sign)"),
															 match, "n = m.n + excluded.n"));
			}
			else
			{
				appendStringInfo(&buf, "INSERT INTO %s AS m %s", aux,
								 multiset_select(vs, agg, vs->delta, "sum(__sign)"));
				appendStringInfo(&buf, " ON CONFLICT (%s%sv) DO UPDATE SET n = m.n + excluded.n",
								 vs->def->global ? "" : vs->keys, vs->def->global ? "" : ", ");
			}
			stmts = lappend(stmts, buf.data);
			stmts = lappend(stmts, psprintf("DELETE FROM %s WHERE n = 0", aux));
		}

		/*
		 * With plain equality on non-NULL keys, min/max is one probe of the
		 * multiset's (keys, v) index; the NULL-matching form cannot use the
		 * index order, so it is kept for groups with a NULL key.
		 */
		if (vs->def->global)
			appendStringInfo(&minmax, "%sa%d_v = %s",
							 any_minmax ? ", " : "", i + 1,
							 multiset_extreme(vs, agg, agg->kind == FV_AGG_MIN ? "min" : "max", aux, NULL));
		else
			appendStringInfo(&minmax, "%sa%d_v = CASE WHEN %s THEN %s ELSE %s END",
							 any_minmax ? ", " : "", i + 1, keys_not_null(vs, "s"),
							 multiset_extreme(vs, agg, agg->kind == FV_AGG_MIN ? "min" : "max", aux,
											  store_equal(vs, "m", "s")),
							 multiset_extreme(vs, agg, agg->kind == FV_AGG_MIN ? "min" : "max", aux,
											  store_match(vs, "m", "s")));
		any_minmax = true;
	}
	if (any_minmax)
	{
		initStringInfo(&buf);
		appendStringInfo(&buf, "UPDATE %s s SET %s", vs->store, minmax.data);
		if (!vs->def->global)
		{
			/* as for step 3: equality for groups without NULL keys, then the others */
			stmts = lappend(stmts, psprintf("%s FROM (SELECT * FROM %s WHERE %s) t WHERE %s", buf.data,
											touched_groups(vs, false), keys_not_null(vs, "t"),
											store_equal(vs, "s", "t")));
			appendStringInfo(&buf, " FROM (SELECT * FROM %s WHERE NOT %s) t WHERE %s",
							 touched_groups(vs, false), keys_not_null(vs, "t"), store_match(vs, "s", "t"));
		}
		stmts = lappend(stmts, buf.data);
	}

	/*
	 * 3. touched groups left without rows disappear (the global row stays):
	 * those without NULL keys joined by plain equality, which a hash join or
	 * the keys' index serves, then those with one (rare) by keys_match: one
	 * statement with keys_match's ORs would compare every removed group with
	 * every empty row (a window's expiry removes thousands at once).
	 */
	if (!vs->def->global)
	{
		stmts = lappend(stmts, psprintf(FV_ONLY_WITH_REMOVALS "DELETE FROM %s s USING (SELECT * FROM %s WHERE %s) t"
										" WHERE %s AND s.__rows = 0",
										vs->store, touched_groups(vs, true), keys_not_null(vs, "t"),
										store_equal(vs, "s", "t")));
		stmts = lappend(stmts, psprintf(FV_ONLY_WITH_REMOVALS "DELETE FROM %s s USING (SELECT * FROM %s WHERE NOT %s) t"
										" WHERE %s AND s.__rows = 0",
										vs->store, touched_groups(vs, true), keys_not_null(vs, "t"),
										store_match(vs, "s", "t")));
	}
	return stmts;
}

/*
 * changed_groups_sql: the groups a batch changed, as a jsonb array of
 * objects keyed by the view's output column names of the group keys (for
 * alert rules).  NULL when a group key is not among the output columns: the
 * view's rows then cannot name their group.
 */
static char *
changed_groups_statement(ViewSql *vs)
{
	StringInfoData buf;
	ListCell   *lc;

	if (vs->def->global)
		return pstrdup("SELECT '[{}]'::jsonb");
	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT jsonb_agg(DISTINCT jsonb_build_object(");
	foreach(lc, vs->def->groupkeys)
	{
		int			k = foreach_current_index(lc);
		ListCell   *oc;
		FvOutput   *out = NULL;

		if (((FvGroupKey *) lfirst(lc))->image)
			continue;			/* FV_VIEW_ROWS: the output column's key names it */
		foreach(oc, vs->def->outputs)
		{
			FvOutput   *o = lfirst(oc);

			if (!o->is_agg && o->index == k)
			{
				out = o;
				break;
			}
		}
		if (out == NULL)
			return NULL;
		appendStringInfo(&buf, "%s%s, %s", k > 0 ? ", " : "", quote_literal_cstr(out->name),
						 expr_sql(vs, ((FvGroupKey *) lfirst(lc))->expr));
	}
	appendStringInfo(&buf, ")) FROM %s", vs->delta);
	if (vs->delta_where)
		appendStringInfo(&buf, " WHERE %s", vs->delta_where);
	return buf.data;
}

/* HAVING over flowview.fv_out_ID's columns (see create_views) */
static Node *
having_mutator(Node *node, ViewSql *vs)
{
	ListCell   *lc;

	if (node == NULL)
		return NULL;
	foreach(lc, vs->def->groupkeys)
	{
		FvGroupKey *gk = lfirst(lc);

		if (equal(node, gk->expr))
			return (Node *) makeVar(1, foreach_current_index(lc) + 1, gk->type,
									gk->typmod, gk->collation, 0);
	}
	if (IsA(node, Aggref))
	{
		foreach(lc, vs->def->aggs)
		{
			FvAgg	   *agg = lfirst(lc);

			if (equal(node, agg->aggref))
				return (Node *) makeVar(1, vs->nkeys * !vs->def->global + foreach_current_index(lc) + 1,
										agg->restype, -1, agg->aggref->aggcollid, 0);
		}
		elog(ERROR, "pg_flowview: HAVING aggregate not found");
	}
	return expression_tree_mutator(node, having_mutator, (void *) vs);
}

/* the aggregate's value from its state, as the query types it */
static char *
agg_value_sql(FvAgg *agg, int i)
{
	char	   *restype = format_type_be(agg->restype);

	switch (agg->kind)
	{
		case FV_AGG_COUNT_STAR:
		case FV_AGG_COUNT:
			return psprintf("a%d_n", i);
		case FV_AGG_SUM:
			return psprintf("(CASE WHEN a%d_n > 0 THEN a%d_s END)::%s", i, i, restype);
		case FV_AGG_AVG:
			return psprintf("(CASE WHEN a%d_n > 0 THEN a%d_s::numeric / a%d_n END)::%s", i, i, i, restype);
		case FV_AGG_MIN:
		case FV_AGG_MAX:
			return psprintf("a%d_v::%s", i, restype);
	}
	return NULL;
}

/* flowview.fv_out_ID: the aggregates' values from the storage; returns its oid */
static Oid
create_out_view(ViewSql *vs)
{
	StringInfoData buf;
	ListCell   *lc;
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfo(&buf, "CREATE VIEW %s WITH (security_invoker = true) AS SELECT ", vs->out);
	if (!vs->def->global)
	{
		appendStringInfoString(&buf, vs->keys);
		first = false;
	}
	foreach(lc, vs->def->aggs)
	{
		int			i = foreach_current_index(lc) + 1;

		appendStringInfo(&buf, "%s%s AS a%d", first ? "" : ", ", agg_value_sql(lfirst(lc), i), i);
		first = false;
	}
	if (vs->def->kind == FV_VIEW_ROWS)
		appendStringInfoString(&buf, ", __rows");
	appendStringInfo(&buf, " FROM %s", vs->store);
	if (!vs->def->global)
		appendStringInfoString(&buf, " WHERE __rows > 0");
	fv_spi_run(buf.data);
	return RangeVarGetRelid(makeRangeVar("flowview", psprintf("fv_out_%d", vs->id), -1),
							NoLock, false);
}

/*
 * The user-facing view's SELECT over flowview.fv_out_ID (oid out_oid):
 * exactly the query's columns, in order, HAVING applied.
 */
static char *
user_view_select(ViewSql *vs, Oid out_oid)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT ");
	foreach(lc, vs->def->outputs)
	{
		FvOutput   *out = lfirst(lc);

		appendStringInfo(&buf, "%so.%s%d AS %s", foreach_current_index(lc) > 0 ? ", " : "",
						 out->is_agg ? "a" : "g", out->index + 1, quote_identifier(out->name));
	}
	appendStringInfo(&buf, " FROM %s o", vs->out);
	/* the query's rows: each distinct one as often as the source has it */
	if (vs->def->kind == FV_VIEW_ROWS)
		appendStringInfoString(&buf, " CROSS JOIN LATERAL pg_catalog.generate_series(1, o.__rows) __fv_n");
	if (vs->def->having)
	{
		Node	   *having = having_mutator(copyObject(vs->def->having), vs);

		appendStringInfo(&buf, " WHERE %s",
						 deparse_expression(having, deparse_context_for("o", out_oid), false, false));
	}
	return buf.data;
}

/* See views/analyze.h.  The caller has pg_flowview's DDL allowance. */
Oid
fv_create_user_view(const char *qualified_name, const char *select)
{
	fv_spi_run(psprintf("CREATE VIEW %s WITH (security_invoker = true) AS %s", qualified_name, select));
	fv_spi_run(psprintf("CREATE TRIGGER flowview_read_only INSTEAD OF INSERT OR UPDATE OR DELETE ON %s"
				 " FOR EACH ROW EXECUTE FUNCTION flowview._refuse_write()", qualified_name));
	return RangeVarGetRelid(makeRangeVarFromNameList(stringToQualifiedNameList(qualified_name)),
							NoLock, false);
}

/*
 * The view depends on its source table and on each source column it reads,
 * as a view on a table does: DROP TABLE or DROP COLUMN of a used column is
 * refused naming the view, and CASCADE drops the view (the sql_drop event
 * trigger flowview._on_drop then removes its storage and catalog entry).
 * See views/analyze.h.
 */
void
fv_record_source_dependencies(Oid view_oid, Oid source, List *used_columns)
{
	ObjectAddress view;
	ObjectAddress src;
	ListCell   *lc;

	ObjectAddressSet(view, RelationRelationId, view_oid);
	ObjectAddressSet(src, RelationRelationId, source);
	recordDependencyOn(&view, &src, DEPENDENCY_NORMAL);
	foreach(lc, used_columns)
	{
		ObjectAddressSubSet(src, RelationRelationId, source, get_attnum(source, lfirst(lc)));
		recordDependencyOn(&view, &src, DEPENDENCY_NORMAL);
	}
}

Datum
fv_text_array(List *strings)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(list_length(strings), 1));
	ListCell   *lc;

	foreach(lc, strings)
		elems[foreach_current_index(lc)] = CStringGetTextDatum(lfirst(lc));
	return PointerGetDatum(construct_array(elems, list_length(strings), TEXTOID, -1, false, TYPALIGN_INT));
}

/* REPLICA IDENTITY FULL on the source and, for a partitioned one, its partitions */
void
fv_ensure_replica_identity_full(Oid source)
{
	List	   *rels = find_all_inheritors(source, NoLock, NULL);
	ListCell   *lc;

	foreach(lc, rels)
	{
		Oid			relid = lfirst_oid(lc);
		Relation	rel = RelationIdGetRelation(relid);
		char		ident = rel->rd_rel->relreplident;
		char		kind = rel->rd_rel->relkind;

		RelationClose(rel);
		if (ident == REPLICA_IDENTITY_FULL)
			continue;
		ereport(NOTICE,
				(errmsg("setting REPLICA IDENTITY FULL on table %s",
						quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												   get_rel_name(relid))),
				 errdetail("A live view subtracts old row versions, so the WAL must carry them whole.")));
		if (kind == RELKIND_RELATION || kind == RELKIND_PARTITIONED_TABLE)
			fv_spi_run(psprintf("ALTER TABLE ONLY %s REPLICA IDENTITY FULL",
						 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
													get_rel_name(relid))));
	}
}

/*
 * A join view's catalog columns (0.4): its base tables, the columns read of
 * each (as text[] literals), and J's delta statement (join.c).
 */
static void
record_join(ViewSql *vs)
{
	FvJoin	   *j = vs->def->join;
	StringInfoData tables;
	List	   *columns = NIL;
	ListCell   *lc;
	Oid			types[3] = {TEXTOID, TEXTARRAYOID, TEXTOID};
	Datum		values[3];

	initStringInfo(&tables);
	appendStringInfoChar(&tables, '{');
	foreach(lc, j->tables)
		appendStringInfo(&tables, "%s%u", foreach_current_index(lc) ? "," : "", lfirst_oid(lc));
	appendStringInfoChar(&tables, '}');
	foreach(lc, j->table_columns)
	{
		StringInfoData cols;
		ListCell   *cc;

		initStringInfo(&cols);
		appendStringInfoChar(&cols, '{');
		foreach(cc, (List *) lfirst(lc))
		{
			const char *p;

			appendStringInfo(&cols, "%s\"", foreach_current_index(cc) ? "," : "");
			for (p = lfirst(cc); *p; p++)
			{
				if (*p == '"' || *p == '\\')
					appendStringInfoChar(&cols, '\\');
				appendStringInfoChar(&cols, *p);
			}
			appendStringInfoChar(&cols, '"');
		}
		appendStringInfoChar(&cols, '}');
		columns = lappend(columns, cols.data);
	}
	values[0] = CStringGetTextDatum(tables.data);
	values[1] = fv_text_array(columns);
	values[2] = CStringGetTextDatum(fv_join_delta_sql(j));
	if (SPI_execute_with_args(psprintf("UPDATE flowview.view_catalog SET join_sources = $1::pg_catalog.oid[]::pg_catalog.regclass[],"
									   " join_source_columns = $2, join_delta_sql = $3 WHERE id = %d", vs->id),
							  3, types, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "pg_flowview: could not record the join of the view in the catalog");
}

/*
 * Refuse (42622) a name part longer than NAMEDATALEN - 1 bytes, which
 * stringToQualifiedNameList would silently truncate.  Parts are separated
 * by dots outside double quotes; "" in quotes is one character.
 */
void
fv_check_name_length(const char *name)
{
	const char *p = name;
	int			len = 0;
	bool		quoted = false;

	for (;; p++)
	{
		if (*p == '\0' || (*p == '.' && !quoted))
		{
			if (len >= NAMEDATALEN)
				ereport(ERROR,
						(errcode(ERRCODE_NAME_TOO_LONG),
						 errmsg("view name \"%s\" is too long", name),
						 errdetail("Each part of a name can be at most %d bytes long.", NAMEDATALEN - 1)));
			if (*p == '\0')
				return;
			len = 0;
			continue;
		}
		if (*p == '"')
		{
			if (quoted && p[1] == '"')
				p++;
			else
			{
				quoted = !quoted;
				continue;
			}
		}
		len++;
	}
}

/*
 * retain: the group key a view's retention expires by (from 1), the first
 * of type date, timestamp or timestamptz (a date_trunc or date_bin bucket, a
 * cast to date, a time column); 0 when there is none.
 */
static int
retention_key(FvViewDef *def)
{
	ListCell   *lc;

	if (!def->global)
		foreach(lc, def->groupkeys)
		{
			FvGroupKey *gk = lfirst(lc);

			if (!gk->image &&
				(gk->type == DATEOID || gk->type == TIMESTAMPOID || gk->type == TIMESTAMPTZOID))
				return foreach_current_index(lc) + 1;
		}
	return 0;
}

/* 22023 for a retention on a query without a time group key */
static void
check_retention_key(FvViewDef *def)
{
	if (retention_key(def) > 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("retain needs a group key of type date, timestamp or timestamp with time zone"),
			 errdetail("A retention removes the groups whose time is older than the retention; this query's groups have no time."),
			 errhint("Group by a time bucket, e.g. GROUP BY date_trunc('day', ts).")));
}

static bool
interval_positive(Datum interval)
{
	return DatumGetInt32(DirectFunctionCall2(interval_cmp, interval,
											 DirectFunctionCall3(interval_in, CStringGetDatum("0"),
																 ObjectIdGetDatum(InvalidOid),
																 Int32GetDatum(-1)))) > 0;
}

static char *
interval_literal(Datum interval)
{
	return psprintf("%s::pg_catalog.interval",
					quote_literal_cstr(DatumGetCString(DirectFunctionCall1(interval_out, interval))));
}

/*
 * What the worker runs, as the view's owner, about once a second for a view
 * with a retention (flowview.view_catalog.retain_sql): the horizon moves to
 * now() - retain (never back), then the groups older than it go, from the
 * multisets first (only when there is a group to go: the storage's index on
 * the key finds out) and from the storage.  Rows of such groups are not
 * applied any more (ViewSql.where), so they never come back.
 */
static List *
retention_statements(ViewSql *vs, List *tables, Datum retain)
{
	List	   *stmts = NIL;
	char	   *horizon = psprintf("(SELECT h FROM %s_h)", vs->store);
	ListCell   *lc;

	stmts = lappend(stmts, psprintf("UPDATE %s_h SET h = pg_catalog.now() OPERATOR(pg_catalog.-) %s"
									" WHERE h OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) %s)",
									vs->store, interval_literal(retain), interval_literal(retain)));
	for_each_from(lc, tables, 1)
		stmts = lappend(stmts, psprintf("DELETE FROM %s WHERE g%d OPERATOR(pg_catalog.<) %s"
										" AND (SELECT pg_catalog.min(g%d) FROM %s) OPERATOR(pg_catalog.<) %s",
										(char *) lfirst(lc), vs->retain_key, horizon,
										vs->retain_key, vs->store, horizon));
	stmts = lappend(stmts, psprintf("DELETE FROM %s WHERE g%d OPERATOR(pg_catalog.<) %s",
									vs->store, vs->retain_key, horizon));
	return stmts;
}

/*
 * Sliding windows (analyze.c's FvTemporal): the view's rows are the
 * query's with now() read as the window clock T, the one value in
 * fv_store_ID_t.  window_sql(clock, NULL) is the conditions with now()
 * replaced by the SQL "clock", ANDed; window_sql(clock, from) is, ORed per
 * condition, its expression between its bounds at "from" and at "clock".
 */
static char *
window_sql(ViewSql *vs, const char *clock, const char *from)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, vs->def->temporal)
	{
		FvTemporal *t = lfirst(lc);
		char	   *e = expr_sql(vs, t->expr);
		char	   *n = psprintf("%s%s", clock, t->offset);

		appendStringInfoString(&buf, foreach_current_index(lc) ? (from ? " OR " : " AND ") : "");
		if (from)
			appendStringInfo(&buf, "((%s) OPERATOR(pg_catalog.>=) (%s%s) AND (%s) OPERATOR(pg_catalog.<=) (%s))",
							 e, from, t->offset, e, n);
		else
			appendStringInfo(&buf, "((%s) OPERATOR(pg_catalog.%s) (%s))",
							 t->now_left ? n : e, get_opname(t->opno), t->now_left ? e : n);
	}
	return buf.data;
}

/*
 * The window's advance from T (the clock's value) to $1 > T, the tail of
 * "SELECT <the source's delta columns>, ..." (the worker puts the columns
 * before it): the source's rows whose membership changes, +1 for those
 * that enter, -1 for those that leave, with __xid 0.  The first condition
 * (each window column between its bound at T and at $1, which contains
 * every row that changes) is the one an index on the column serves; the
 * exact test follows.  "nontemporal" is the rest of the view's conditions.
 */
static char *
window_statement(ViewSql *vs, const char *nontemporal)
{
	char	   *old = psprintf("(SELECT t FROM %s_t)", vs->store);
	char	   *now_in = window_sql(vs, "$1", NULL);

	return psprintf("CASE WHEN (%s) IS TRUE THEN 1 ELSE -1 END, 0::pg_catalog.int8 FROM %s"
					" WHERE %s(%s) AND ((%s) IS TRUE) OPERATOR(pg_catalog.<>) ((%s) IS TRUE)",
					now_in, FV_SOURCE_TOKEN, nontemporal ? psprintf("(%s) AND ", nontemporal) : "",
					window_sql(vs, "$1", old), window_sql(vs, old, NULL), now_in);
}

/*
 * A NOTICE when a window's column has no index that leads with it: each
 * advance would then scan the source (or J's tables).
 */
static void
window_index_notice(ViewSql *vs)
{
	ListCell   *lc;
	Bitmapset  *done = NULL;

	if (vs->def->join)
		return;
	foreach(lc, vs->def->temporal)
	{
		Node	   *e = ((FvTemporal *) lfirst(lc))->expr;
		Relation	rel;
		List	   *indexes;
		ListCell   *ic;
		bool		found = false;

		while (IsA(e, RelabelType))
			e = (Node *) ((RelabelType *) e)->arg;
		if (!IsA(e, Var) || bms_is_member(((Var *) e)->varattno, done))
			continue;			/* (BETWEEN: two conditions on one column) */
		done = bms_add_member(done, ((Var *) e)->varattno);
		rel = table_open(vs->def->source, AccessShareLock);
		indexes = RelationGetIndexList(rel);
		foreach(ic, indexes)
		{
			HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(ic)));

			if (!HeapTupleIsValid(tup))
				continue;
			found |= ((Form_pg_index) GETSTRUCT(tup))->indkey.values[0] == ((Var *) e)->varattno;
			ReleaseSysCache(tup);
		}
		table_close(rel, AccessShareLock);
		if (!found)
			ereport(NOTICE,
					(errmsg("column %s of %s has no index: the sliding window's expiry will scan the table",
							get_attname(vs->def->source, ((Var *) e)->varattno, false),
							get_rel_name(vs->def->source)),
					 errhint("CREATE INDEX ON %s (%s);",
							 quote_qualified_identifier(get_namespace_name(get_rel_namespace(vs->def->source)),
														get_rel_name(vs->def->source)),
							 quote_identifier(get_attname(vs->def->source, ((Var *) e)->varattno, false)))));
	}
}

static bool
has_minmax(FvViewDef *def)
{
	ListCell   *lc;

	foreach(lc, def->aggs)
		if (is_minmax(lfirst(lc)))
			return true;
	return false;
}

/*
 * Watermarks (create_view(..., allowed_lateness)): the view's window is its
 * first group key of a date/time type that is date_trunc('unit', x),
 * date_bin(stride, x, origin), a cast of x to date, or the time column x
 * itself; x is the event time, the window ends at key + its length (one
 * unit, the stride, a day, or nothing).  Sets *key, *event and *length;
 * false if the query has no such key.
 */
static bool
watermark_key(FvViewDef *def, Node **key, Node **event, char **length)
{
	ListCell   *lc;

	if (def->global)
		return false;
	foreach(lc, def->groupkeys)
	{
		FvGroupKey *gk = lfirst(lc);
		Node	   *e = gk->expr;

		if (gk->image || (gk->type != DATEOID && gk->type != TIMESTAMPOID && gk->type != TIMESTAMPTZOID))
			continue;
		*key = gk->expr;
		while (IsA(e, RelabelType))
			e = (Node *) ((RelabelType *) e)->arg;
		if (IsA(e, Var))
		{
			*event = e;
			*length = "0";
			return true;
		}
		if (IsA(e, FuncExpr))
		{
			FuncExpr   *f = (FuncExpr *) e;
			char	   *fname = get_func_name(f->funcid);
			Node	   *a0 = list_length(f->args) > 0 ? linitial(f->args) : NULL;

			if (strcmp(fname, "date_trunc") == 0 && list_length(f->args) >= 2 && IsA(a0, Const) &&
				!((Const *) a0)->constisnull)
			{
				char	   *unit = TextDatumGetCString(((Const *) a0)->constvalue);

				*event = lsecond(f->args);
				*length = pg_strcasecmp(unit, "quarter") == 0 ? "3 months" : psprintf("1 %s", unit);
				return true;
			}
			if (strcmp(fname, "date_bin") == 0 && list_length(f->args) == 3 && IsA(a0, Const) &&
				!((Const *) a0)->constisnull)
			{
				*event = lsecond(f->args);
				*length = DatumGetCString(DirectFunctionCall1(interval_out, ((Const *) a0)->constvalue));
				return true;
			}
			if (strcmp(fname, "date") == 0 && list_length(f->args) == 1)
			{
				*event = a0;
				*length = "1 day";
				return true;
			}
		}
	}
	return false;
}

/* the refusals of allowed_lateness; its window key otherwise */
static void
check_lateness(FvViewDef *def, Datum lateness, Node **key, Node **event, char **length)
{
	if (DatumGetInt32(DirectFunctionCall2(interval_cmp, lateness,
										  DirectFunctionCall3(interval_in, CStringGetDatum("0"),
															  ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)))) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("allowed_lateness must not be negative")));
	if (def->temporal || def->upstream != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("allowed_lateness is not supported for a live view %s",
						def->temporal ? "with a sliding window" : "over another live view"),
				 errhint("Give the lateness to a view over the base table without a condition on now().")));
	if (!watermark_key(def, key, event, length))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("allowed_lateness needs a window: a group key date_trunc('unit', t), date_bin(stride, t, origin), t::date or t, of a date or time type"),
				 errdetail("The watermark closes windows by their end; this query's groups have no window of event time t."),
				 errhint("Group by a time bucket, e.g. GROUP BY date_trunc('minute', ts).")));
	(void) DirectFunctionCall3(interval_in, CStringGetDatum(*length), ObjectIdGetDatum(InvalidOid),
							   Int32GetDatum(-1));
}

/*
 * late_sql: the batch's rows of closed windows (ending at or before the
 * watermark W), as the view's owner, a jsonb array of [row, sign, event
 * time, xid, W]: the worker records them in flowview.late_row_log.
 */
static char *
late_statement(ViewSql *vs, const char *base_where)
{
	return psprintf("SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array("
					"pg_catalog.to_jsonb(d) OPERATOR(pg_catalog.-) '__sign'::text OPERATOR(pg_catalog.-) '__xid'::text,"
					" d.__sign, %s, d.__xid, (SELECT w FROM %s_w)))"
					" FROM %s d WHERE %s%s%s OPERATOR(pg_catalog.<=) (SELECT w FROM %s_w)",
					vs->event_time, vs->store, vs->delta, base_where ? base_where : "",
					base_where ? " AND " : "", vs->window_end, vs->store);
}

/*
 * closed_groups_sql: the groups whose window the last batch closed (its end
 * after $1, the watermark before the batch, and at or before the watermark
 * now), as the jsonb array of their keys that flowview._fire_alerts takes,
 * for the alerts evaluated when a window closes.  Through the window key's
 * index (created with the watermark).  NULL when a key is not an output
 * column (the rows could not name their group).
 */
static char *
closed_groups_statement(ViewSql *vs, int wkey, Oid wtype, const char *length)
{
	StringInfoData buf;
	ListCell   *lc;
	const char *cast = wtype == TIMESTAMPTZOID ? "pg_catalog.timestamptz" : "pg_catalog.timestamp";

	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(");
	foreach(lc, vs->def->groupkeys)
	{
		int			k = foreach_current_index(lc);
		ListCell   *oc;
		FvOutput   *out = NULL;

		if (((FvGroupKey *) lfirst(lc))->image)
			continue;
		foreach(oc, vs->def->outputs)
			if (!((FvOutput *) lfirst(oc))->is_agg && ((FvOutput *) lfirst(oc))->index == k)
				out = lfirst(oc);
		if (out == NULL)
			return NULL;
		appendStringInfo(&buf, "%s%s, o.g%d", k > 0 ? ", " : "", quote_literal_cstr(out->name), k + 1);
	}
	appendStringInfo(&buf, ")) FROM %s o WHERE o.g%d OPERATOR(pg_catalog.>) ($1 OPERATOR(pg_catalog.-) %s::pg_catalog.interval)::%s"
					 " AND o.g%d OPERATOR(pg_catalog.<=) ((SELECT w FROM %s_w) OPERATOR(pg_catalog.-) %s::pg_catalog.interval)::%s",
					 vs->out, wkey, quote_literal_cstr(length), cast, wkey, vs->store, quote_literal_cstr(length), cast);
	return buf.data;
}

/* W moves on to the latest event time of rows arriving, less the lateness, never back */
static char *
watermark_statement(ViewSql *vs, const char *from, const char *where, Datum lateness)
{
	return psprintf("UPDATE %s_w SET w = m.x FROM (SELECT pg_catalog.max(%s) OPERATOR(pg_catalog.-) %s AS x FROM %s"
					" WHERE %s%s%s) m WHERE m.x OPERATOR(pg_catalog.>) %s_w.w",
					vs->store, vs->event_time, interval_literal(lateness), from,
					from == vs->delta ? "__sign OPERATOR(pg_catalog.=) 1" : "true",
					where ? " AND " : "", where ? where : "", vs->store);
}

/*
 * A rollup (a live view over live view U, def->upstream): U's changes reach
 * it as the rows of U's changed groups before and after each batch (worker/
 * apply.c, upstream_images), found by U's group key columns.  Returns their
 * names; refuses an upstream whose changes are not all made by its batches
 * (a sliding window's advance, a retention's expiry) or whose rows cannot
 * name their group.  Runs as the extension's owner.
 */
static List *
rollup_keys(FvViewDef *def)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(def->upstream)};
	const char *name = get_rel_name(def->source);
	bool		isnull;
	HeapTuple	t;
	TupleDesc	d;

	fv_require_sql_version(4, "a live view over another live view");
	if (SPI_execute_with_args("SELECT window_sql IS NOT NULL, retain IS NOT NULL, changed_groups_sql IS NULL,"
							  " session_gap IS NOT NULL FROM flowview.view_catalog WHERE id = $1",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "pg_flowview: could not read live view %s in the catalog", name);
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	if (DatumGetBool(SPI_getbinval(t, d, 1, &isnull)) || DatumGetBool(SPI_getbinval(t, d, 2, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("live views over a live view with a sliding window or a retention are not supported"),
				 errdetail("Live view %s changes as time passes, not only when its source does.", name),
				 errhint("Read the base table with the window's condition instead, or give the retention to the downstream view.")));
	if (DatumGetBool(SPI_getbinval(t, d, 4, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("live views over session view %s are not supported", name),
				 errdetail("A session view is recomputed where its rows change, not maintained by groups."),
				 errhint("Read the session view's source table instead.")));
	if (DatumGetBool(SPI_getbinval(t, d, 3, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("live views over live view %s are not supported: a GROUP BY key of %s is not among its columns", name, name),
				 errhint("Add every GROUP BY key of %s to its select list (flowview.alter_view).", name)));

	return fv_view_key_columns(def->source);
}

/*
 * See analyze.h: a live view's user-facing view reads flowview.fv_out_ID,
 * whose group key columns are gN.
 */
List *
fv_view_key_columns(Oid view)
{
	Relation	rel;
	Query	   *vq;
	List	   *keys = NIL;
	Bitmapset  *seen = NULL;
	ListCell   *lc;

	rel = relation_open(view, AccessShareLock);
	vq = get_view_query(rel);
	foreach(lc, vq->targetList)
	{
		TargetEntry *te = lfirst(lc);
		Var		   *var = (Var *) te->expr;
		RangeTblEntry *rte;
		char	   *col;
		int			n;

		if (!IsA(var, Var) || te->resjunk || var->varlevelsup != 0)
			continue;
		rte = rt_fetch(var->varno, vq->rtable);
		if (rte->rtekind != RTE_RELATION)
			continue;
		col = get_attname(rte->relid, var->varattno, false);
		if (sscanf(col, "g%d", &n) == 1 && n > 0 && !bms_is_member(n, seen))
		{
			seen = bms_add_member(seen, n);
			keys = lappend(keys, pstrdup(te->resname));
		}
	}
	relation_close(rel, AccessShareLock);
	return keys;
}

/*
 * build_view
 *		Create a live view's storage and flowview.fv_out_ID for query (already
 *		analysed as def and checked against the caller's privileges), record
 *		it in flowview.view_catalog in state 'backfilling', and populate it as
 *		the caller, who owns it all afterwards.
 *
 * rv != NULL: also the user-facing view rv (create_view); the catalog row
 * is that view's.  rv == NULL: a pending definition of live view "replaces"
 * (alter_view, views/versions.c): no user-facing view; the catalog row's
 * view_oid is fv_out_ID, which depends automatically on "replaces" (DROP
 * of that view drops it, and flowview._on_drop the rest), and *select is
 * set to the SELECT the user-facing view will have once it is swapped in.
 * Runs in the caller's transaction: on any error nothing is left behind.
 */
static Oid
build_view(FvViewDef *def, const char *query, const char *minmax, const char *tz,
		   Datum sla, bool sla_null, Datum retain, bool retain_null,
		   Datum lateness, bool lateness_null,
		   RangeVar *rv, Oid replaces, int *id, char **select)
{
	ViewSql		vs;
	Oid			view_oid;
	List	   *tables;
	List	   *backfill;
	List	   *apply;
	List	   *advance = NIL;
	char	   *nontemporal;
	List	   *objects = NIL;
	ListCell   *lc;
	bool		isnull;
	char	   *changed_groups;
	List	   *upstream_keys = NIL;
	Node	   *wkey = NULL;
	Node	   *event = NULL;
	char	   *length = NULL;
	char	   *late = NULL;
	char	   *base_where = NULL;
	Oid			caller;
	FvSavedUser saved;
	FvRunAs		ra;
	Datum		values[13];
	char		nulls[13];
	Oid			argtypes[13] = {INT4OID, OIDOID, OIDOID, TEXTOID, TEXTOID, INTERVALOID,
	TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTOID, TEXTOID};
	MemoryContext caller_cxt = CurrentMemoryContext;

	memset(&vs, 0, sizeof(vs));
	vs.rescan = strcmp(minmax, "rescan") == 0;
	vs.def = def;
	if (!lateness_null)
		check_lateness(def, lateness, &wkey, &event, &length);
	if (!retain_null)
	{
		check_retention_key(def);
		vs.retain_key = retention_key(def);
	}

	/*
	 * From here on, as the extension's owner with search_path pinned (so the
	 * SQL deparsed below names everything outside pg_catalog explicitly);
	 * the objects are then given to the caller.
	 */
	caller = GetUserId();
	fv_become_owner(&saved);
	fv_own_ddl_begin();			/* the storage's DDL (storage_guard.c) */
	vs.nkeys = list_length(vs.def->groupkeys);

	SPI_connect();
	if (SPI_execute("SELECT nextval('flowview.view_catalog_id_seq')::int", false, 1) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not allocate a view id");
	vs.id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (vs.def->join)
	{
		/* the join relation J: the view's source from here on (join.c) */
		fv_spi_run(psprintf("CREATE VIEW flowview.fv_join_%d AS %s", vs.id,
							fv_join_relation_sql(vs.def->join)));
		vs.def->source = RangeVarGetRelid(makeRangeVar("flowview", psprintf("fv_join_%d", vs.id), -1),
										  NoLock, false);
		fv_join_index_notices(vs.def->join);
	}
	vs.dpcontext = deparse_context_for(get_rel_name(vs.def->source), vs.def->source);
	vs.store = psprintf("flowview.fv_store_%d", vs.id);
	vs.out = psprintf("flowview.fv_out_%d", vs.id);
	vs.delta = FV_DELTA_NAME;
	if (vs.def->global)
		vs.keys = "__all";
	else
	{
		StringInfoData keys;
		int			i;

		initStringInfo(&keys);
		for (i = 1; i <= vs.nkeys; i++)
			appendStringInfo(&keys, "%sg%d", i > 1 ? ", " : "", i);
		vs.keys = keys.data;
	}

	key_layout(&vs);
	vs.where = vs.def->where ? expr_sql(&vs, vs.def->where) : NULL;
	if (vs.retain_key > 0)
	{
		/*
		 * Retention: rows of groups older than the horizon are not applied
		 * (a NULL key is never older); the horizon only moves forward
		 * (retention_statements).
		 */
		char	   *cond = psprintf("((%s) OPERATOR(pg_catalog.>=) (SELECT h FROM %s_h)) IS NOT FALSE",
									expr_sql(&vs, ((FvGroupKey *) list_nth(vs.def->groupkeys, vs.retain_key - 1))->expr),
									vs.store);

		vs.where = vs.where ? psprintf("(%s) AND %s", vs.where, cond) : cond;
	}
	nontemporal = vs.where;
	if (vs.def->temporal)
	{
		char	   *cond = window_sql(&vs, psprintf("(SELECT t FROM %s_t)", vs.store), NULL);

		vs.where = vs.where ? psprintf("(%s) AND %s", vs.where, cond) : cond;
		window_index_notice(&vs);
	}
	vs.delta_where = vs.where;
	if (!lateness_null)
	{
		/*
		 * Rows of closed windows (ending at or before the watermark W, the
		 * one value in fv_store_ID_w) are not applied: late_sql records
		 * them first; the last apply statement moves W on (late_statements)
		 */
		vs.event_time = psprintf("(%s)::pg_catalog.timestamptz", expr_sql(&vs, event));
		vs.window_end = psprintf("((%s) OPERATOR(pg_catalog.+) %s::pg_catalog.interval)",
								 expr_sql(&vs, wkey), quote_literal_cstr(length));
		base_where = vs.delta_where;
		late = late_statement(&vs, base_where);
		vs.delta_where = psprintf("%s%s(%s OPERATOR(pg_catalog.>) (SELECT w FROM %s_w)) IS NOT FALSE",
								  vs.delta_where ? vs.delta_where : "", vs.delta_where ? " AND " : "",
								  vs.window_end, vs.store);
	}
	if (vs.def->join)
		foreach(lc, vs.def->join->tables)
			fv_ensure_replica_identity_full(lfirst_oid(lc));
	else if (vs.def->upstream != 0)
		upstream_keys = rollup_keys(vs.def);	/* no WAL: the upstream's changes */
	else
		fv_ensure_replica_identity_full(vs.def->source);
	tables = create_storage(&vs);
	if (vs.retain_key > 0)
	{
		/* the horizon, and an index to find the groups it leaves behind */
		fv_spi_run(psprintf("CREATE TABLE %s_h (h timestamptz NOT NULL)", vs.store));
		fv_spi_run(psprintf("INSERT INTO %s_h VALUES (pg_catalog.now() OPERATOR(pg_catalog.-) %s::pg_catalog.interval)",
							vs.store, interval_literal(retain)));
		fv_spi_run(psprintf("CREATE INDEX ON %s (g%d)", vs.store, vs.retain_key));
	}
	if (late)
	{
		/* the watermark: no window is closed until rows arrive */
		fv_spi_run(psprintf("CREATE TABLE %s_w (w timestamptz NOT NULL)", vs.store));
		fv_spi_run(psprintf("INSERT INTO %s_w VALUES ('-infinity')", vs.store));
	}
	if (vs.def->temporal)
	{
		/* the window clock, set by every backfill */
		fv_spi_run(psprintf("CREATE TABLE %s_t (t timestamptz NOT NULL)", vs.store));
		fv_spi_run(psprintf("INSERT INTO %s_t VALUES (pg_catalog.clock_timestamp())", vs.store));
	}
	view_oid = create_out_view(&vs);
	if (rv != NULL)
		view_oid = fv_create_user_view(quote_qualified_identifier(rv->schemaname, rv->relname),
									   user_view_select(&vs, view_oid));
	else
	{
		ObjectAddress out;
		ObjectAddress current;

		*select = MemoryContextStrdup(caller_cxt, user_view_select(&vs, view_oid));
		ObjectAddressSet(out, RelationRelationId, view_oid);
		ObjectAddressSet(current, RelationRelationId, replaces);
		recordDependencyOn(&out, &current, DEPENDENCY_AUTO);
	}
	fv_record_source_dependencies(view_oid, vs.def->source, vs.def->used_columns);
	backfill = backfill_statements(&vs);
	apply = apply_statements(&vs);
	if (late)
	{
		apply = lappend(apply, watermark_statement(&vs, vs.delta, base_where, lateness));
		backfill = lappend(backfill, watermark_statement(&vs, FV_SOURCE_TOKEN, vs.where, lateness));
	}
	if (vs.def->temporal)
	{
		/*
		 * The window's advance applies rows already judged (window_statement)
		 * with the apply statements; reads of the source (min/max) still
		 * filter by the clock, by then the new one.
		 */
		vs.delta_where = nontemporal;
		advance = apply_statements(&vs);
		vs.delta_where = vs.where;
		backfill = lcons(psprintf("UPDATE %s_t SET t = pg_catalog.clock_timestamp()", vs.store), backfill);
	}

	/* drop order: user view, out view, tables */
	objects = lappend(objects, psprintf("VIEW %s", vs.out));
	foreach(lc, tables)
		objects = lappend(objects, psprintf("TABLE %s", (char *) lfirst(lc)));
	if (vs.retain_key > 0)
		objects = lappend(objects, psprintf("TABLE %s_h", vs.store));
	if (vs.def->temporal)
		objects = lappend(objects, psprintf("TABLE %s_t", vs.store));
	if (late)
		objects = lappend(objects, psprintf("TABLE %s_w", vs.store));
	if (vs.def->join)
		objects = lappend(objects, psprintf("VIEW flowview.fv_join_%d", vs.id));

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int32GetDatum(vs.id);
	values[1] = ObjectIdGetDatum(view_oid);
	values[2] = ObjectIdGetDatum(vs.def->source);
	values[3] = CStringGetTextDatum(query);
	values[4] = CStringGetTextDatum(tz);
	values[5] = sla;
	nulls[5] = sla_null ? 'n' : ' ';
	values[6] = fv_text_array(tables);
	values[7] = fv_text_array(objects);
	values[8] = fv_text_array(backfill);
	values[9] = fv_text_array(apply);
	values[10] = fv_text_array(vs.def->used_columns);
	changed_groups = changed_groups_statement(&vs);
	values[11] = changed_groups ? CStringGetTextDatum(changed_groups) : (Datum) 0;
	nulls[11] = changed_groups ? ' ' : 'n';
	values[12] = CStringGetTextDatum(minmax);
	if (SPI_execute_with_args("INSERT INTO flowview.view_catalog (id, view_oid, source_oid, query, time_zone,"
							  " freshness_sla, storage_tables, objects, backfill_sql, apply_sql, used_columns,"
							  " changed_groups_sql, minmax, state)"
							  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'backfilling')",
							  13, argtypes, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "pg_flowview: could not record the view in the catalog");
	if (vs.def->join)
		record_join(&vs);
	if (vs.def->upstream != 0)
	{
		Oid			utypes[1] = {TEXTARRAYOID};
		Datum		uvalues[1] = {fv_text_array(upstream_keys)};

		if (SPI_execute_with_args(psprintf("UPDATE flowview.view_catalog SET upstream_keys = $1 WHERE id = %d", vs.id),
								  1, utypes, uvalues, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "pg_flowview: could not record the rollup in the catalog");
	}
	if (late)
	{
		Oid			ltypes[3] = {INTERVALOID, TEXTOID, TEXTOID};
		int			k = 0;
		FvGroupKey *gk = NULL;
		char	   *closed;
		Datum		lvalues[3];

		foreach(lc, vs.def->groupkeys)
			if (((FvGroupKey *) lfirst(lc))->expr == wkey)
			{
				gk = lfirst(lc);
				k = foreach_current_index(lc) + 1;
			}
		closed = closed_groups_statement(&vs, k, gk->type, length);
		lvalues[0] = lateness;
		lvalues[1] = CStringGetTextDatum(late);
		lvalues[2] = closed ? CStringGetTextDatum(closed) : (Datum) 0;

		/* the closed windows' groups, for alerts on closing */
		if (k > 1 || vs.hashed)
			fv_spi_run(psprintf("CREATE INDEX ON %s (g%d)", vs.store, k));
		if (SPI_execute_with_args(psprintf("UPDATE flowview.view_catalog SET allowed_lateness = $1, late_sql = $2,"
										   " closed_groups_sql = $3 WHERE id = %d", vs.id),
								  3, ltypes, lvalues, closed ? NULL : "  n", false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "pg_flowview: could not record the watermark in the catalog");
	}
	if (vs.retain_key > 0)
	{
		Oid			rtypes[2] = {INTERVALOID, TEXTARRAYOID};
		Datum		rvalues[2] = {retain, fv_text_array(retention_statements(&vs, tables, retain))};

		if (SPI_execute_with_args(psprintf("UPDATE flowview.view_catalog SET retain = $1, retain_sql = $2 WHERE id = %d", vs.id),
								  2, rtypes, rvalues, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "pg_flowview: could not record the retention in the catalog");
	}
	if (vs.def->temporal)
	{
		Oid			wtypes[2] = {TEXTOID, TEXTARRAYOID};
		Datum		wvalues[2] = {CStringGetTextDatum(window_statement(&vs, nontemporal)), fv_text_array(advance)};

		if (SPI_execute_with_args(psprintf("UPDATE flowview.view_catalog SET window_sql = $1, advance_sql = $2 WHERE id = %d", vs.id),
								  2, wtypes, wvalues, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "pg_flowview: could not record the sliding window in the catalog");
	}

	/*
	 * The creator owns the view and what is behind it, so it can GRANT read
	 * access (flowview._sync_grants passes SELECT on to the storage).
	 */
	if (caller != GetUserId())
	{
		const char *role = quote_identifier(GetUserNameFromId(caller, false));

		if (rv != NULL)
			fv_spi_run(psprintf("ALTER VIEW %s OWNER TO %s", quote_qualified_identifier(rv->schemaname, rv->relname), role));
		fv_spi_run(psprintf("ALTER VIEW %s OWNER TO %s", vs.out, role));
		if (vs.def->join)
			fv_spi_run(psprintf("ALTER VIEW flowview.fv_join_%d OWNER TO %s", vs.id, role));
		foreach(lc, tables)
			fv_spi_run(psprintf("ALTER TABLE %s OWNER TO %s", (char *) lfirst(lc), role));
		if (vs.retain_key > 0)
			fv_spi_run(psprintf("ALTER TABLE %s_h OWNER TO %s", vs.store, role));
		if (vs.def->temporal)
			fv_spi_run(psprintf("ALTER TABLE %s_t OWNER TO %s", vs.store, role));
		if (late)
			fv_spi_run(psprintf("ALTER TABLE %s_w OWNER TO %s", vs.store, role));
	}
	fv_own_ddl_end();

	/*
	 * Populate as the creator, the view's owner from now on, as the worker
	 * will run every later statement for it (runas.c); the time zone is the
	 * one just recorded.
	 */
	fv_runas_begin(&ra, caller, FV_RUNAS_STORAGE, tz);
	foreach(lc, backfill)
		fv_spi_run(fv_with_source(lfirst(lc), vs.def->source));
	fv_runas_end(&ra);
	fv_spi_run(psprintf("SELECT flowview._sync_grants(%u)", view_oid));
	SPI_finish();
	fv_restore_user(&saved);
	*id = vs.id;
	return view_oid;
}

/*
 * "name(c1, c2, ...)": name cut to "name", the column names returned (as
 * CREATE VIEW name (c1, c2) would take them; unquoted ones folded to lower
 * case).  NIL without a list.  42601 for a list that does not parse.
 */
static List *
split_column_names(char *name)
{
	char	   *p;
	bool		quoted = false;
	char	   *open = NULL;
	List	   *columns = NIL;
	size_t		len = strlen(name);

	for (p = name; *p; p++)
	{
		if (*p == '"')
			quoted = !quoted;
		else if (*p == '(' && !quoted)
		{
			open = p;
			break;
		}
	}
	if (open == NULL)
		return NIL;
	while (len > 0 && scanner_isspace(name[len - 1]))
		len--;
	if (len == 0 || name[len - 1] != ')' ||
		!SplitIdentifierString(pnstrdup(open + 1, name + len - 1 - (open + 1)), ',', &columns) ||
		columns == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("invalid column list in live view name \"%s\"", name),
				 errhint("Write name(column, ...), e.g. 'sales_by_region(region, orders)'.")));
	while (open > name && scanner_isspace(open[-1]))
		open--;
	*open = '\0';
	return columns;
}

/* Refuse (22023) a minmax other than 'rescan' and 'multiset'. */
static void
check_minmax(const char *minmax)
{
	if (strcmp(minmax, "rescan") != 0 && strcmp(minmax, "multiset") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("minmax must be 'rescan' or 'multiset', not \"%s\"", minmax)));
}

/* See views/analyze.h. */
int
fv_build_pending_view(Oid view, const char *query, const char *minmax, const char *tz,
					  char **select)
{
	FvViewDef  *def;
	int			id;
	Datum		retain = (Datum) 0;
	bool		retain_null = true;

	check_minmax(minmax);
	def = fv_analyze_query(query);
	if (def->join)
		fv_require_sql_version(4, "a live view over a join");
	if (def->upstream != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("alter_view cannot make live view %s read another live view", get_rel_name(view)),
				 errhint("Create a new live view over it with flowview.create_view.")));
	fv_check_create_privileges(def, get_rel_namespace(view));

	/* the view's retention carries over (22023 if the new query cannot have it) */
	if (fv_sql_version() >= 4)
	{
		Oid			argtypes[1] = {OIDOID};
		Datum		args[1] = {ObjectIdGetDatum(view)};
		FvSavedUser saved;

		fv_become_owner(&saved);
		SPI_connect();
		if (SPI_execute_with_args("SELECT retain, allowed_lateness IS NOT NULL FROM flowview.view_catalog WHERE view_oid = $1",
								  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "pg_flowview: could not read flowview.view_catalog");
		if (SPI_processed == 1 &&
			DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &retain_null)))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot change live view %s: it has a watermark (allowed_lateness)", get_rel_name(view)),
					 errdetail("Its closed windows and late rows would not carry over to a new definition."),
					 errhint("Drop the view and create it again.")));
		if (SPI_processed == 1)
		{
			retain = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &retain_null);
			if (!retain_null)
				retain = SPI_datumTransfer(retain, false, sizeof(Interval));
		}
		SPI_finish();
		fv_restore_user(&saved);
		if (!retain_null && retention_key(def) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("cannot change live view %s: its retention would not carry over", get_rel_name(view)),
					 errdetail("The new query has no group key of type date, timestamp or timestamp with time zone for the retention to expire by."),
					 errhint("Keep a time bucket among the group keys, or drop the view and create it again without retain.")));
	}
	(void) build_view(def, query, minmax, tz, (Datum) 0, true, retain, retain_null, (Datum) 0, true,
					  NULL, view, &id, select);
	return id;
}

/*
 * flowview.create_view(name text, query text, freshness_sla interval,
 *						 minmax text) RETURNS regclass
 *
 * Checks query (fv_analyze_query), creates the storage and views, records
 * the view in flowview.view_catalog, and populates it (build_view).  Runs in
 * the caller's transaction: on any error nothing is left behind.
 */
Datum
fv_create_view(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *query;
	RangeVar   *rv;
	Oid			nsp;
	Oid			view_oid;
	FvViewDef  *def;
	int			id;
	const char *tz = GetConfigOption("TimeZone", false, false);
	/* NULL (0.4's default): 'rescan', but 'multiset' for a sliding window */
	char	   *minmax = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	/* retain: 0.4 (the SQL objects of 0.3 and before have four arguments) */
	bool		retain_null = PG_NARGS() < 5 || PG_ARGISNULL(4);
	/* allowed_lateness: 0.4 too, a sixth argument */
	bool		lateness_null = PG_NARGS() < 6 || PG_ARGISNULL(5);
	List	   *columns;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", PG_ARGISNULL(0) ? "name" : "query"),
				 errhint("flowview.create_view(name, query) takes the new view's name and its defining query.")));
	fv_require_preload("flowview.create_view()");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (!PG_ARGISNULL(2) && !interval_positive(PG_GETARG_DATUM(2)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("freshness SLA must be positive")));
	if (!retain_null && !interval_positive(PG_GETARG_DATUM(4)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retain must be positive")));
	if (minmax)
		check_minmax(minmax);
	columns = split_column_names(name);
	fv_check_name_length(name);
	rv = makeRangeVarFromNameList(stringToQualifiedNameList(name));
	nsp = RangeVarGetCreationNamespace(rv);
	rv->schemaname = get_namespace_name(nsp);

	fv_column_names = columns;
	PG_TRY();
	{
		def = fv_analyze_query(query);
	}
	PG_FINALLY();
	{
		fv_column_names = NIL;
	}
	PG_END_TRY();
	if (def->join)
		fv_require_sql_version(4, "a live view over a join");
	/*
	 * A window's rows leave all the time, taking groups' extremes with them:
	 * re-reading a group's extreme would read its whole window each time;
	 * a group of a function's rows (flowview.hop) can only be re-read by
	 * computing the function for every row.
	 */
	/*
	 * A watermark: a re-read of the source may take an extreme from a later
	 * transaction whose rows then arrive too late to be applied, and the
	 * view would keep it: its min/max come from the rows it applies only.
	 */
	if (!lateness_null && has_minmax(def))
	{
		if (minmax != NULL && strcmp(minmax, "rescan") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("minmax 'rescan' is not supported with allowed_lateness"),
					 errdetail("Re-reading a group's extreme from the table could take it from a row that later arrives too late to be applied."),
					 errhint("Leave minmax out: a view with a watermark keeps min and max as a multiset.")));
		minmax = "multiset";
	}
	if (minmax == NULL)
		minmax = def->temporal || (def->join && def->join->lateral) ? "multiset" : "rescan";
	fv_check_create_privileges(def, nsp);
	view_oid = build_view(def, query, minmax, tz, PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2),
						  PG_ARGISNULL(2), retain_null ? (Datum) 0 : PG_GETARG_DATUM(4), retain_null,
						  lateness_null ? (Datum) 0 : PG_GETARG_DATUM(5), lateness_null,
						  rv, InvalidOid, &id, NULL);

	/*
	 * The apply worker re-populates it consistently with the stream, then
	 * keeps it live.  Started (or woken) once this transaction commits: a
	 * worker started now could read the catalog before the view is in it
	 * and exit for want of views.
	 */
	fv_start_worker_at_commit();

	PG_RETURN_OID(view_oid);
}

/*
 * flowview.set_retention(view regclass, retain interval): the owner of a
 * live view created with retain (or a member of its role) sets another
 * retention, or none (NULL); the rest, in flowview._set_retention, runs as
 * the extension's owner.
 */
Datum
fv_set_retention(PG_FUNCTION_ARGS)
{
	Oid			view;
	Oid			argtypes[2] = {REGCLASSOID, INTERVALOID};
	Datum		args[2];
	char		nulls[2] = {' ', ' '};
	FvSavedUser saved;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("view must not be null"),
				 errhint("flowview.set_retention(view, retain) takes a live view and its retention (NULL: none).")));
	view = PG_GETARG_OID(0);
	fv_require_view_owner(view, "change its retention");
	args[0] = ObjectIdGetDatum(view);
	args[1] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	nulls[1] = PG_ARGISNULL(1) ? 'n' : ' ';
	fv_become_owner(&saved);
	SPI_connect();
	if (SPI_execute_with_args("SELECT flowview._set_retention($1, $2)", 2, argtypes, args, nulls, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not set the retention");
	SPI_finish();
	fv_restore_user(&saved);
	PG_RETURN_VOID();
}
