/*-------------------------------------------------------------------------
 *
 * analyze.h
 *	  A live view's defining query, checked and taken apart.
 *
 * fv_analyze_query() accepts exactly the queries a live view can maintain
 * incrementally (one source table, WHERE, GROUP BY, count/sum/avg/min/max
 * with FILTER, HAVING; or, without GROUP BY and aggregates, a projection of
 * the rows, with or without DISTINCT) and rejects everything else with SQLSTATE 0A000 and
 * a message naming the construct.  The result says what create.c needs to
 * build the storage, the user-facing view and the backfill/apply SQL.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FV_ANALYZE_H
#define FV_ANALYZE_H

#include "nodes/parsenodes.h"

typedef enum FvAggKind
{
	FV_AGG_COUNT_STAR,
	FV_AGG_COUNT,
	FV_AGG_SUM,
	FV_AGG_AVG,
	FV_AGG_MIN,
	FV_AGG_MAX
} FvAggKind;

typedef struct FvGroupKey
{
	Node	   *expr;			/* over the source's columns */
	Oid			type;
	int32		typmod;
	Oid			collation;
	bool		image;			/* FV_VIEW_ROWS: the binary image of an output
								 * column, no output of its own (see analyze.c) */
} FvGroupKey;

/*
 * What a view's storage groups stand for:
 *	FV_VIEW_AGGREGATE  GROUP BY and/or aggregates: one row per group;
 *	FV_VIEW_ROWS       no GROUP BY, no aggregates: every output column is a
 *	                   group key, and the user-facing view shows each stored
 *	                   group __rows times (the query's rows, duplicates kept);
 *	FV_VIEW_DISTINCT   SELECT DISTINCT without GROUP BY or aggregates: the
 *	                   same storage, each group shown once.
 */
typedef enum FvViewKind
{
	FV_VIEW_AGGREGATE,
	FV_VIEW_ROWS,
	FV_VIEW_DISTINCT
} FvViewKind;

typedef struct FvAgg
{
	Aggref	   *aggref;			/* as written (for matching in HAVING) */
	FvAggKind	kind;
	Node	   *arg;			/* NULL for count(*) */
	Node	   *filter;			/* NULL without FILTER */
	Oid			argtype;
	Oid			restype;		/* the aggregate's result type */
	int32		restypmod;
	Oid			statetype;		/* sum/avg running sum; min/max value */
} FvAgg;

/* One output column of the view, in the query's order. */
typedef struct FvOutput
{
	char	   *name;
	bool		is_agg;
	int			index;			/* into groupkeys or aggs */
	Oid			type;
	int32		typmod;
} FvOutput;

/*
 * A live view over a join (views/join.c): the query's FROM items and
 * conditions become the join relation J, a PostgreSQL view
 * flowview.fv_join_ID whose columns are the base columns the rest of the
 * query reads; the rest of the query is analysed as a one-source view over J.
 */
#define FV_JOIN_MAX_RELS 8

#define FV_SEMI_EXISTS 1		/* WHERE EXISTS (SELECT FROM t WHERE ...) */
#define FV_SEMI_NOT_EXISTS 2	/* WHERE NOT EXISTS (...) */

typedef struct FvJoinRel
{
	Index		rtindex;		/* in the query as written */
	Oid			relid;
	char	   *alias;			/* its unique name in the FROM clause */
	int			table;			/* index into FvJoin.tables, -1 for a function */
	/* a function in FROM (relid invalid): immutable, constant arguments */
	Node	   *func;			/* its call */
	List	   *colnames;		/* String: its columns' names */
} FvJoinRel;

/*
 * The FROM clause of a view with an outer join or an EXISTS subquery, as a
 * tree (join.c builds J's delta along it).  RIGHT JOIN is a LEFT JOIN with
 * its sides swapped; a pulled-up subquery's WHERE over one FROM item is a
 * FILTER of it.
 */
typedef enum FvJoinNodeKind
{
	FV_JN_TABLE,
	FV_JN_INNER,
	FV_JN_LEFT,
	FV_JN_FULL,
	FV_JN_FILTER,				/* larg's rows where on */
	FV_JN_SEMI,					/* larg's rows with a row of rarg on on */
	FV_JN_ANTI					/* larg's rows without one */
} FvJoinNodeKind;

typedef struct FvJoinNode
{
	FvJoinNodeKind kind;
	int			id;				/* numbers the delta's CTEs */
	FvJoinRel  *rel;			/* FV_JN_TABLE */
	struct FvJoinNode *larg;
	struct FvJoinNode *rarg;	/* NULL for FV_JN_FILTER */
	List	   *on;				/* conjuncts of the condition */
	List	   *rels;			/* FvJoinRel * of its output, column order */
} FvJoinNode;

typedef struct FvJoinCol
{
	Index		rtindex;
	AttrNumber	attno;
	char	   *name;			/* J's column: "alias.column" */
} FvJoinCol;

typedef struct FvJoin
{
	List	   *rtable;			/* the query's range table, for deparsing */
	List	   *rels;			/* FvJoinRel *, in FROM order */
	List	   *tables;			/* distinct base tables (OIDs), in first-use order */
	List	   *table_columns;	/* per table: List of char *, every column read */
	List	   *quals;			/* conjuncts of ON and WHERE, over the rels */
	List	   *cols;			/* FvJoinCol *: J's columns, attno order */
	bool		outer;			/* an outer join or EXISTS: tree is FROM */
	bool		lateral;		/* a function of a table's columns in FROM */
	FvJoinNode *tree;			/* FROM (and EXISTS) as a tree */
	List	   *where;			/* the conjuncts of WHERE, the view's with outer */
	int			nnodes;			/* nodes of tree */
	List	   *tlist;			/* the select list over the tables (a UNION ALL branch's) */
	/* a UNION ALL: J is the sum of its branches, each a join of its own */
	List	   *branches;		/* FvJoin *, sharing tables and table_columns */
	List	   *col_types;		/* Oid: the UNION's column types */
	List	   *col_typmods;	/* int */
	List	   *union_names;	/* char *: J's columns */
} FvJoin;

/*
 * A sliding window's condition, a top-level conjunct of WHERE:
 * "expr op (now() [+-] offset)" (or the other way round), op a comparison
 * of the date/time types.  Taken out of the query's WHERE (def->where does
 * not have it); create.c evaluates it against the view's window clock.
 */
typedef struct FvTemporal
{
	Node	   *expr;			/* over the source (J for a join) */
	Oid			opno;
	bool		now_left;		/* "now() op expr" */
	char	   *offset;			/* "- 'x'::interval", "+ ...", or "" */
} FvTemporal;

typedef struct FvViewDef
{
	Query	   *query;
	Oid			source;
	FvViewKind	kind;
	bool		global;			/* aggregates without GROUP BY: one row */
	Node	   *where;			/* NULL if none */
	List	   *temporal;		/* FvTemporal *: WHERE's conditions on now() */
	Node	   *having;			/* NULL if none */
	List	   *groupkeys;		/* FvGroupKey *: GROUP BY keys, or output
								 * columns followed by image keys */
	List	   *image_keys;		/* FV_VIEW_ROWS: the image keys alone */
	List	   *aggs;			/* FvAgg *, visible and HAVING-only */
	List	   *outputs;		/* FvOutput * */
	List	   *used_columns;	/* char * names of source columns read */
	FvJoin	   *join;			/* a join view: source is J, set by create.c */
	int			upstream;		/* a rollup: the catalog id of the live view
								 * it reads (source is its user-facing view) */
	/* WHERE [NOT] EXISTS (SELECT FROM t WHERE ...), taken out of the query */
	int			semi;			/* how many, or 0 */
	List	   *semi_kinds;		/* int: FV_SEMI_* */
	List	   *semi_rtindexes;	/* int: t, appended to the query's range table */
	List	   *semi_quals;		/* List *: the subquery's conditions, at the query's level */
} FvViewDef;

extern FvViewDef *fv_analyze_query(const char *query_text);

/* create.c, for session views (session.c) too */
extern void fv_ensure_replica_identity_full(Oid source);
extern void fv_check_name_length(const char *name);
extern Datum fv_text_array(List *strings);	/* a List of char * as text[] */

/* the catalog id of the live view whose user-facing view is relid, or 0 */
extern int	fv_live_view_of(Oid relid);

/* the name of a join relation's column */
extern char *fv_join_rel_column(FvJoinRel *rel, AttrNumber attno);

/* names for the first output columns, "name(c1, c2)" of create_view */
extern List *fv_column_names;

/* WITH queries and flat subqueries in FROM pulled up into q (analyze.c) */
extern void fv_flatten_subqueries(Query *q);

/* stands for the source table in stored backfill SQL (create.c) */
#define FV_SOURCE_TOKEN "__flowview_source__"
extern char *fv_with_source(const char *sql, Oid source);
extern bool fv_is_join_relation(Oid relid);

/* for lineage: a UNION ALL and subqueries in WHERE as analysis sees them */
extern Query *fv_wrap_union(Query *uq);
extern bool fv_is_union_query(Query *q);
extern List *fv_subquery_conditions(Query *q);

/* stands for table K (from 1) of a join in its stored delta SQL (join.c) */
#define FV_TABLE_TOKEN "__flowview_table_%d__"
extern char *fv_with_tables(const char *sql, int ntables, const Oid *relids);

/*
 * create.c, for alter_view and rollback_view (views/versions.c).
 *
 * fv_build_pending_view: checks query as create_view does (same refusals,
 * the caller's privileges for a view in view's schema), builds a pending
 * definition of live view "view" (storage, flowview.fv_out_ID, a catalog row
 * in state 'backfilling' whose view_oid is fv_out_ID, populated as the
 * caller, who owns it), and returns its catalog id; *select is the SELECT
 * the user-facing view will have.  In the caller's transaction.
 *
 * fv_create_user_view: CREATE VIEW qualified_name AS select, security
 * invoker, refusing writes; returns its oid.  Needs pg_flowview's DDL
 * allowance (fv_own_ddl_begin).
 *
 * fv_record_source_dependencies: view_oid depends on source and on each of
 * its columns used_columns names (DROP COLUMN refused, DROP ... CASCADE
 * drops the view).
 */
/*
 * The output columns of live view "view" (its user-facing view) that are
 * its group keys, in their order in the view; NIL for one global group.
 */
extern List *fv_view_key_columns(Oid view);

extern int	fv_build_pending_view(Oid view, const char *query, const char *minmax,
								  const char *tz, char **select);
extern Oid	fv_create_user_view(const char *qualified_name, const char *select);
extern void fv_record_source_dependencies(Oid view_oid, Oid source, List *used_columns);

/*
 * The batch rows apply_sql reads: an ephemeral named relation (a tuplestore
 * registered with SPI) with the source's used columns, __sign and __xid.
 */
#define FV_DELTA_NAME "flowview_delta"

/*
 * apply_sql statements starting with FV_ONLY_WITH_REMOVALS are run only for a
 * batch with old row versions (sign -1) of the source, those starting with
 * FV_ONLY_WITHOUT_REMOVALS only for one without.
 */
#define FV_ONLY_WITH_REMOVALS "/* only with removed rows */ "
#define FV_ONLY_WITHOUT_REMOVALS "/* only without removed rows */ "


#endif							/* FV_ANALYZE_H */
