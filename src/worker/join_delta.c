/*-------------------------------------------------------------------------
 *
 * join_delta.c
 *	  A join view's delta for one batch: its tables' batch rows joined to
 *	  the tables as of the batch's end.
 *
 * The statement is J's delta SQL (views/join.c, kept in the catalog as
 * join_delta_sql); the tables' rows the view has not seen are registered as
 * flowview_delta_1..N, and the statement runs, as the view's owner (the
 * caller's fv_runas), under the exact snapshot of the batch
 * (batch_snapshot.c).  Its rows go through a cursor, a thousand at a time,
 * into a tuplestore that spills beyond work_mem: a dimension update that
 * fans out to many facts stays in bounded memory.  The result has J's
 * columns, __sign and __xid, as the view's apply_sql expects of
 * flowview_delta.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "views/analyze.h"
#include "worker/join_delta.h"

#define FV_JOIN_FETCH 1000

/*
 * Make rows the relation "name" of this SPI connection's queries.  The
 * registration (the ENR and the connection's list of them) is made in the
 * transaction's top context: an apply runs in a subtransaction, whose
 * memory is freed if it fails, and the caller unregisters the rows after
 * that (a list left pointing into freed memory crashed the worker).
 */
void
fv_register_rows(const char *name, TupleDesc desc, Tuplestorestate *rows)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	EphemeralNamedRelation enr = palloc0(sizeof(EphemeralNamedRelationData));

	enr->md.name = pstrdup(name);
	enr->md.reliddesc = InvalidOid;
	enr->md.tupdesc = desc;
	enr->md.enrtype = ENR_NAMED_TUPLESTORE;
	enr->md.enrtuples = tuplestore_tuple_count(rows);
	enr->reldata = rows;
	if (SPI_register_relation(enr) != SPI_OK_REL_REGISTER)
		elog(ERROR, "pg_flowview: could not register the batch rows of %s", name);
	MemoryContextSwitchTo(old);
}

/*
 * A tuplestore for rows computed in a subtransaction that must outlive it
 * if it fails (its caller ends it then): in the transaction's top context,
 * its temporary files owner's.
 */
Tuplestorestate *
fv_rows_store(ResourceOwner owner)
{
	ResourceOwner save = CurrentResourceOwner;
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	Tuplestorestate *out;

	CurrentResourceOwner = owner;
	out = tuplestore_begin_heap(false, false, work_mem);
	CurrentResourceOwner = save;
	MemoryContextSwitchTo(old);
	return out;
}

/*
 * The rows of a statement ending in columns __sign and __xid (a kept plan,
 * or else sql planned here) with parameters args, read under sp through a
 * cursor into out (its temporary files owner's); *nremoved counts those
 * with sign -1.
 */
void
fv_read_signed_rows(SPIPlanPtr kept, const char *sql, int nargs, Oid *argtypes,
					Datum *args, Snapshot sp, ResourceOwner owner,
					Tuplestorestate *out, int64 *nremoved)
{
	ResourceOwner save = CurrentResourceOwner;
	SPIPlanPtr	plan = kept;
	Portal		portal;

	PushActiveSnapshot(sp);
	if (plan == NULL)
		plan = SPI_prepare(sql, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "pg_flowview: could not plan %s: %s", sql, SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, args, NULL, true);
	for (;;)
	{
		uint64		i;
		int			signcol;

		SPI_cursor_fetch(portal, true, FV_JOIN_FETCH);
		if (SPI_processed == 0)
			break;
		signcol = SPI_tuptable->tupdesc->natts - 1;	/* __sign, then __xid */
		CurrentResourceOwner = owner;
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			HeapTuple	t = SPI_tuptable->vals[i];

			if (DatumGetInt32(SPI_getbinval(t, SPI_tuptable->tupdesc, signcol, &isnull)) < 0)
				(*nremoved)++;
			tuplestore_puttuple(out, t);
		}
		CurrentResourceOwner = save;
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	if (kept == NULL)
		SPI_freeplan(plan);
	PopActiveSnapshot();
}

Tuplestorestate *
fv_join_delta(const char *delta_sql, int ntables, const Oid *relids, TupleDesc *descs,
			  Tuplestorestate **rows, Snapshot sp, ResourceOwner owner, int64 *nremoved)
{
	Tuplestorestate *out;
	ResourceOwner save = CurrentResourceOwner;
	int			k;

	*nremoved = 0;
	for (k = 0; k < ntables; k++)
		fv_register_rows(psprintf("%s_%d", FV_DELTA_NAME, k + 1), descs[k], rows[k]);

	out = fv_rows_store(owner);

	/* the tables' rows are this view's: gone whatever happens */
	PG_TRY();
	{
		fv_read_signed_rows(NULL, fv_with_tables(delta_sql, ntables, relids), 0, NULL, NULL,
							sp, owner, out, nremoved);
	}
	PG_FINALLY();
	{
		CurrentResourceOwner = save;
		for (k = 0; k < ntables; k++)
			SPI_unregister_relation(psprintf("%s_%d", FV_DELTA_NAME, k + 1));
	}
	PG_END_TRY();
	return out;
}

