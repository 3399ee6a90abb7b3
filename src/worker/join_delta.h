/*-------------------------------------------------------------------------
 *
 * join_delta.h
 *	  A join view's delta for one batch (join_delta.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef FV_JOIN_DELTA_H
#define FV_JOIN_DELTA_H

#include "executor/spi.h"
#include "utils/resowner.h"
#include "utils/snapshot.h"
#include "utils/tuplestore.h"

/*
 * J's delta rows for a join view: rows[k] (layout descs[k]) are the batch
 * rows of its table k+1 (relids[k]) the view has not seen; read under sp; the result's
 * temporary files belong to owner; *nremoved counts rows with sign -1.
 */
extern Tuplestorestate *fv_join_delta(const char *delta_sql, int ntables, const Oid *relids,
									  TupleDesc *descs, Tuplestorestate **rows, Snapshot sp,
									  ResourceOwner owner, int64 *nremoved);

/* a tuplestore that outlives a failed subtransaction */
extern Tuplestorestate *fv_rows_store(ResourceOwner owner);

/* rows as a named relation of this SPI connection, until unregistered */
extern void fv_register_rows(const char *name, TupleDesc desc, Tuplestorestate *rows);

/* a statement's signed rows under sp into out (also the sliding windows' advance) */
extern void fv_read_signed_rows(SPIPlanPtr kept, const char *sql, int nargs, Oid *argtypes,
								Datum *args, Snapshot sp, ResourceOwner owner,
								Tuplestorestate *out, int64 *nremoved);

#endif							/* FV_JOIN_DELTA_H */
