/*-------------------------------------------------------------------------
 *
 * alert.c
 *	  Checking the condition of an alert rule (flowview.create_alert).
 *
 * An alert's condition is a boolean SQL expression over a live view's
 * output columns.  The apply worker evaluates it after each batch on the
 * groups the batch changed (flowview._fire_alerts, plpgsql), so it must be
 * exactly one expression: never a fragment that closes a parenthesis and
 * goes on with its own FROM, never a second statement.  This file parses
 * the text as the single target of a SELECT, transforms it against the view
 * and refuses what the worker must not run (subqueries, aggregates, window
 * and set-returning functions, volatile functions).  It returns the
 * expression deparsed, with every name outside pg_catalog qualified; that
 * text, not the caller's, is what the catalog keeps and the worker runs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "fmgr.h"
#include "nodes/nodeFuncs.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "parser/parse_relation.h"
#include "parser/parser.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/syscache.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"

PG_FUNCTION_INFO_V1(fv_alert_condition);

/* the SELECT the condition is parsed as: "SELECT " + condition */
#define CONDITION_PREFIX "SELECT "

/*
 * Errors inside the condition: point at the condition's own text (as an
 * internal query), not at the caller's statement.
 */
static void
condition_error_callback(void *arg)
{
	const char *condition = arg;
	int			pos = geterrposition();

	if (pos > (int) strlen(CONDITION_PREFIX))
	{
		errposition(0);
		internalerrposition(pos - (int) strlen(CONDITION_PREFIX));
		internalerrquery(condition);
	}
	errcontext("alert condition");
}

static void
refuse(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s are not allowed in an alert condition", what),
			 errhint("The condition is evaluated on each changed group's row of the view: use its columns, constants, operators and non-volatile functions.")));
}

/*
 * fv_alert_condition(view regclass, condition text) RETURNS text
 *
 * Needs a relation with a row type (the live view; the caller checked it is
 * one) owned by the current user (else 42501).  Returns the condition deparsed against the view (column names as
 * they are, functions and operators outside pg_catalog schema-qualified).
 * Throws 42601 for a syntax error or anything but one expression, 42703 for
 * an unknown column, 42804 when the condition is not boolean, 0A000 for
 * what the worker must not evaluate.
 */
Datum
fv_alert_condition(PG_FUNCTION_ARGS)
{
	Oid			viewoid = PG_GETARG_OID(0);
	char	   *condition = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *sql = psprintf("%s%s", CONDITION_PREFIX, condition);
	ErrorContextCallback errcb;
	List	   *parsed;
	SelectStmt *select = NULL;
	ResTarget  *target;
	Relation	rel;
	ParseState *pstate;
	ParseNamespaceItem *nsitem;
	Node	   *expr;
	char	   *result;

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(viewoid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", viewoid)));
	if (!pg_class_ownercheck(viewoid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_VIEW, get_rel_name(viewoid));

	errcb.callback = condition_error_callback;
	errcb.arg = condition;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	parsed = raw_parser(sql, RAW_PARSE_DEFAULT);
	if (list_length(parsed) == 1 && IsA(linitial_node(RawStmt, parsed)->stmt, SelectStmt))
		select = (SelectStmt *) linitial_node(RawStmt, parsed)->stmt;
	if (select == NULL || select->op != SETOP_NONE || list_length(select->targetList) != 1 ||
		select->distinctClause || select->intoClause || select->fromClause ||
		select->whereClause || select->groupClause || select->havingClause ||
		select->windowClause || select->valuesLists || select->sortClause ||
		select->limitOffset || select->limitCount || select->lockingClause ||
		select->withClause)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("an alert condition must be a single expression"),
				 errdetail("The condition was read as \"SELECT %s\", which is more than one expression.",
						   condition),
				 errhint("Write a boolean expression over the view's columns, e.g. orders > 100.")));
	target = linitial_node(ResTarget, select->targetList);
	if (target->name != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("an alert condition must be a single expression"),
				 errdetail("The condition has an alias (AS %s).", target->name)));

	pstate = make_parsestate(NULL);
	pstate->p_sourcetext = sql;
	rel = relation_open(viewoid, AccessShareLock);
	nsitem = addRangeTableEntryForRelation(pstate, rel, AccessShareLock,
										   makeAlias("v", NIL), false, false);
	addNSItemToQuery(pstate, nsitem, false, true, true);
	expr = transformExpr(pstate, target->val, EXPR_KIND_SELECT_TARGET);
	if (pstate->p_hasSubLinks)
		refuse("subqueries");
	if (pstate->p_hasAggs)
		refuse("aggregate functions");
	if (pstate->p_hasWindowFuncs)
		refuse("window functions");
	if (pstate->p_hasTargetSRFs || expression_returns_set(expr))
		refuse("set-returning functions");
	expr = coerce_to_boolean(pstate, expr, "an alert condition");
	assign_expr_collations(pstate, expr);
	if (contain_volatile_functions(expr))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("volatile functions are not allowed in an alert condition"),
				 errdetail("An alert fires when a group starts satisfying its condition; a volatile condition (random(), clock_timestamp(), ...) has no such start."),
				 errhint("Use immutable or stable functions (now() is stable).")));
	error_context_stack = errcb.previous;

	result = deparse_expression(expr, deparse_context_for("v", viewoid), false, false);
	relation_close(rel, AccessShareLock);
	free_parsestate(pstate);
	PG_RETURN_TEXT_P(cstring_to_text(result));
}
