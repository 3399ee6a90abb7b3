/*-------------------------------------------------------------------------
 *
 * join.h
 *	  Live views over joins: the join relation J and its delta (join.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef FV_JOIN_H
#define FV_JOIN_H

#include "views/analyze.h"

/* J's defining SELECT (flowview.fv_join_ID) */
extern char *fv_join_relation_sql(FvJoin *j);

/* J's delta over flowview_delta_1..N, the tables' batch rows */
extern char *fv_join_delta_sql(FvJoin *j);

/* deparse over a query's range table, relations by their aliases */
extern List *fv_join_deparse_context(List *rtable);

/* NOTICEs for join keys without an index */
extern void fv_join_index_notices(FvJoin *j);

#endif							/* FV_JOIN_H */
