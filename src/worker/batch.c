/*-------------------------------------------------------------------------
 *
 * batch.c
 *	  Collecting a batch of decoded changes for the apply worker.
 *
 * The apply worker decodes its slot with the pg_flowview output plugin in
 * collect mode (ctx->output_writer_private points at the worker's FvBatch):
 * instead of writing JSON, the plugin's callbacks come here.  They run inside
 * the reorder buffer's own (later aborted) transaction under a historic
 * snapshot, so nothing is written to tables here: each changed row of a
 * source table becomes, per row version, the values of the columns the
 * source's views use, a sign (+1 new version, -1 old version) and the
 * transaction id, appended to the source's tuplestore (which spills to a
 * temporary file beyond work_mem, so a huge source transaction does not
 * grow the worker's memory).  apply.c applies the batch afterwards.
 *
 * Changes of partitions are attributed to the partitioned source table, by
 * column name (a partition's column numbers may differ from its parent's).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "catalog/partition.h"
#include "catalog/pg_inherits.h"
#include "catalog/namespace.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "worker/apply_internal.h"

typedef struct FvRelMap
{
	Oid			relid;			/* decoded relation (hash key) */
	FvSource   *source;			/* NULL: not a source of any live view */
	AttrNumber *attnums;		/* per used column; 0 if the column is gone */
} FvRelMap;

static FvRelMap *
get_relmap(FvBatch *batch, Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	FvRelMap   *m;
	bool		found;
	ListCell   *lc;
	List	   *ancestors = NIL;

	if (batch->relmap == NULL)
	{
		HASHCTL		hctl;

		memset(&hctl, 0, sizeof(hctl));
		hctl.keysize = sizeof(Oid);
		hctl.entrysize = sizeof(FvRelMap);
		hctl.hcxt = batch->mcxt;
		batch->relmap = hash_create("pg_flowview batch relations", 32, &hctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	m = hash_search(batch->relmap, &relid, HASH_ENTER, &found);
	if (found)
		return m;

	m->source = NULL;
	m->attnums = NULL;
	if (rel->rd_rel->relispartition)
		ancestors = get_partition_ancestors(relid);
	foreach(lc, batch->sources)
	{
		FvSource   *src = lfirst(lc);

		if (src->relid == relid || list_member_oid(ancestors, src->relid))
		{
			TupleDesc	desc = RelationGetDescr(rel);
			int			i,
						j;

			m->source = src;
			m->attnums = MemoryContextAllocZero(batch->mcxt, sizeof(AttrNumber) * Max(src->ncols, 1));
			for (i = 0; i < src->ncols; i++)
				for (j = 0; j < desc->natts; j++)
				{
					Form_pg_attribute att = TupleDescAttr(desc, j);

					if (!att->attisdropped && strcmp(NameStr(att->attname), src->colnames[i]) == 0)
						m->attnums[i] = att->attnum;
				}
			break;
		}
	}
	return m;
}

static void add_marker(FvBatch *batch, FvSource *src, int sign, TransactionId xid);

/*
 * Append one row version.  values/nulls are tuple's deformed columns; for an
 * UPDATE's new version, oldvalues/oldnulls are the old version's (REPLICA
 * IDENTITY FULL): unchanged TOASTed values come from there.
 */
static void
add_row(FvBatch *batch, FvRelMap *m, TupleDesc reldesc, Datum *values, bool *nulls,
		Datum *oldvalues, bool *oldnulls, int sign, TransactionId xid)
{
	FvSource   *src = m->source;
	Datum	   *out = palloc(sizeof(Datum) * (src->ncols + 2));
	bool	   *outnulls = palloc(sizeof(bool) * (src->ncols + 2));
	ResourceOwner saveowner = CurrentResourceOwner;
	MemoryContext old;
	int			i;

	for (i = 0; i < src->ncols; i++)
	{
		AttrNumber attnum = m->attnums[i];
		Datum		v;

		if (attnum == 0 || nulls[attnum - 1])
		{
			out[i] = (Datum) 0;
			outnulls[i] = true;
			continue;
		}
		v = values[attnum - 1];
		if (TupleDescAttr(reldesc, attnum - 1)->attlen == -1)
		{
			struct varlena *p = (struct varlena *) DatumGetPointer(v);

			if (VARATT_IS_EXTERNAL_ONDISK(p))
			{
				/* unchanged TOAST value of an UPDATE: the old version has it */
				if (oldvalues == NULL || oldnulls[attnum - 1] ||
					VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(oldvalues[attnum - 1])))
					ereport(ERROR,
							(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							 errmsg("pg_flowview: an UPDATE of a source table lacks the old row"),
							 errdetail("Column \"%s\" was not changed and is not in the WAL.", src->colnames[i]),
							 errhint("Set REPLICA IDENTITY FULL on every source table and partition, then run flowview.refresh_view().")));
				p = (struct varlena *) DatumGetPointer(oldvalues[attnum - 1]);
			}
			if (VARATT_IS_EXTERNAL(p))
				p = detoast_external_attr(p);
			v = PointerGetDatum(p);
		}
		out[i] = v;
		outnulls[i] = false;
	}
	out[src->ncols] = Int32GetDatum(sign);
	outnulls[src->ncols] = false;
	out[src->ncols + 1] = Int64GetDatum((int64) xid);
	outnulls[src->ncols + 1] = false;

	/* the tuplestore outlives the reorder buffer's transaction */
	old = MemoryContextSwitchTo(batch->mcxt);
	if (xid != batch->last_xid)
	{
		batch->xids = lappend_oid(batch->xids, (Oid) xid);
		batch->last_xid = xid;
	}
	src->touched = true;
	if (sign < 0)
		src->nremoved++;
	CurrentResourceOwner = batch->owner;
	tuplestore_putvalues(src->rows, src->desc, out, outnulls);
	CurrentResourceOwner = saveowner;
	MemoryContextSwitchTo(old);
	batch->nchanges++;
}

/*
 * fv_batch_change
 *		A decoded row change: if its table (or the partitioned table it
 *		belongs to) is a source, append the old version with sign -1 and
 *		the new one with +1.  When the old version is missing (no REPLICA
 *		IDENTITY FULL), subtracting it is impossible: a FV_SIGN_NO_OLD
 *		marker puts the views that have not seen the transaction in error.
 */
void
fv_batch_change(FvBatch *batch, ReorderBufferTXN *txn, Relation rel,
				ReorderBufferChange *change)
{
	FvRelMap   *m = get_relmap(batch, rel);
	TupleDesc	desc = RelationGetDescr(rel);
	HeapTuple	newtup = NULL;
	HeapTuple	oldtup = NULL;
	MemoryContext old;
	Datum	   *values = NULL,
			   *oldvalues = NULL;
	bool	   *nulls = NULL,
			   *oldnulls = NULL;

	if (m->source == NULL)
		return;
	/* everything below but the tuplestore's copy is per change */
	old = MemoryContextSwitchTo(batch->change_cxt);
	if (change->data.tp.newtuple)
		newtup = &change->data.tp.newtuple->tuple;
	if (change->data.tp.oldtuple)
		oldtup = &change->data.tp.oldtuple->tuple;

	if (change->action != REORDER_BUFFER_CHANGE_INSERT &&
		(oldtup == NULL || rel->rd_rel->relreplident != REPLICA_IDENTITY_FULL))
	{
		/*
		 * Nothing to subtract: the views that have not seen this transaction
		 * go to state error (apply.c: view_rows), the others ignore
		 * it.  Throwing here instead would stop the whole worker at this
		 * record for good.
		 */
		MemoryContextSwitchTo(batch->mcxt);
		m->source->no_old_rel = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
														   RelationGetRelationName(rel));
		add_marker(batch, m->source, FV_SIGN_NO_OLD, txn->xid);
		MemoryContextSwitchTo(old);
		MemoryContextReset(batch->change_cxt);
		return;
	}

	if (oldtup)
	{
		oldvalues = palloc(sizeof(Datum) * desc->natts);
		oldnulls = palloc(sizeof(bool) * desc->natts);
		heap_deform_tuple(oldtup, desc, oldvalues, oldnulls);
		add_row(batch, m, desc, oldvalues, oldnulls, NULL, NULL, -1, txn->xid);
	}
	if (newtup)
	{
		values = palloc(sizeof(Datum) * desc->natts);
		nulls = palloc(sizeof(bool) * desc->natts);
		heap_deform_tuple(newtup, desc, values, nulls);
		add_row(batch, m, desc, values, nulls, oldvalues, oldnulls, 1, txn->xid);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(batch->change_cxt);
}

/*
 * Append a marker row (FV_SIGN_*: no column values) of transaction xid to
 * src's rows.  Runs in batch->mcxt.
 */
static void
add_marker(FvBatch *batch, FvSource *src, int sign, TransactionId xid)
{
	Datum	   *out = palloc0(sizeof(Datum) * (src->ncols + 2));
	bool	   *outnulls = palloc(sizeof(bool) * (src->ncols + 2));
	ResourceOwner saveowner = CurrentResourceOwner;
	int			k;

	for (k = 0; k < src->ncols; k++)
		outnulls[k] = true;
	out[src->ncols] = Int32GetDatum(sign);
	outnulls[src->ncols] = false;
	out[src->ncols + 1] = Int64GetDatum((int64) xid);
	outnulls[src->ncols + 1] = false;
	CurrentResourceOwner = batch->owner;
	tuplestore_putvalues(src->rows, src->desc, out, outnulls);
	CurrentResourceOwner = saveowner;
	if (xid != batch->last_xid)
	{
		batch->xids = lappend_oid(batch->xids, (Oid) xid);
		batch->last_xid = xid;
	}
	if (sign == FV_SIGN_TRUNCATE)
		src->truncated = true;
	else
		src->markers = true;
	batch->nchanges++;
}

/*
 * fv_batch_truncate
 *		TRUNCATE of sources: a marker row (the transaction's xid) in commit
 *		order.  When it empties the whole source (a plain source, or every
 *		leaf partition of a partitioned one, as the catalog was then),
 *		FV_SIGN_TRUNCATE: applying it empties the view and drops the rows
 *		collected before it.  When it empties only some partitions,
 *		FV_SIGN_REPOPULATE: the view is repopulated after the batch.  A view
 *		whose backfill snapshot already saw the TRUNCATE ignores either
 *		(apply.c: view_rows).
 */
void
fv_batch_truncate(FvBatch *batch, ReorderBufferTXN *txn, int nrelations,
				  Relation relations[])
{
	ListCell   *lc;

	foreach(lc, batch->sources)
	{
		FvSource   *src = lfirst(lc);
		int			ntruncated = 0;
		int			nleaves = 0;
		int			i;
		MemoryContext old;
		ListCell   *tc;

		for (i = 0; i < nrelations; i++)
			if (get_relmap(batch, relations[i])->source == src &&
				relations[i]->rd_rel->relkind == RELKIND_RELATION)
				ntruncated++;
		if (ntruncated == 0)
			continue;
		/* the source's leaves under the historic catalog snapshot of this change */
		if (get_rel_relkind(src->relid) == RELKIND_PARTITIONED_TABLE)
			foreach(tc, find_all_inheritors(src->relid, NoLock, NULL))
				nleaves += get_rel_relkind(lfirst_oid(tc)) == RELKIND_RELATION;
		old = MemoryContextSwitchTo(batch->mcxt);
		add_marker(batch, src, ntruncated >= nleaves ? FV_SIGN_TRUNCATE : FV_SIGN_REPOPULATE, txn->xid);
		MemoryContextSwitchTo(old);
	}
}

void
fv_batch_commit(FvBatch *batch, ReorderBufferTXN *txn)
{
	ListCell   *lc;

	batch->nxacts++;
	batch->last_commit_time = txn->xact_time.commit_time;
	if (batch->last_xid == txn->xid)
	{
		/* it changed a source: its subtransactions' xids, for an exact snapshot */
		MemoryContext old = MemoryContextSwitchTo(batch->mcxt);
		dlist_iter	iter;

		dlist_foreach(iter, &txn->subtxns)
			batch->subxids = lappend_oid(batch->subxids,
										 (Oid) dlist_container(ReorderBufferTXN, node, iter.cur)->xid);
		MemoryContextSwitchTo(old);
	}
	foreach(lc, batch->sources)
	{
		FvSource   *src = lfirst(lc);

		if (!src->touched)
			continue;
		src->touched = false;
		if (src->ncommits == src->maxcommits)
		{
			src->maxcommits = Max(64, src->maxcommits * 2);
			src->commit_times = src->commit_times == NULL ?
				MemoryContextAlloc(batch->mcxt, sizeof(TimestampTz) * src->maxcommits) :
				repalloc(src->commit_times, sizeof(TimestampTz) * src->maxcommits);
		}
		src->commit_times[src->ncommits++] = txn->xact_time.commit_time;
		if (batch->trace)
			src->last_trace = batch->trace;
	}
	if (batch->trace)
	{
		MemoryContext old = MemoryContextSwitchTo(batch->mcxt);

		batch->traces = lappend(batch->traces, batch->trace);
		MemoryContextSwitchTo(old);
		batch->trace = NULL;
	}
}

/*
 * A transactional logical message: 'flowview.trace' tags its transaction
 * with a trace id (at most 63 bytes kept), recorded with the batch.  Messages
 * arrive in their transaction, before its commit.
 */
void
fv_batch_message(FvBatch *batch, ReorderBufferTXN *txn, const char *prefix,
				 Size sz, const char *message)
{
	Size		n = Min(sz, 63);

	if (strcmp(prefix, FV_TRACE_PREFIX) != 0)
		return;
	batch->trace = MemoryContextAlloc(batch->mcxt, n + 1);
	memcpy(batch->trace, message, n);
	batch->trace[n] = '\0';
	/* keep it printable: a log line and a text column show it */
	for (char *c = batch->trace; *c; c++)
		if ((unsigned char) *c < 0x20)
			*c = '?';
}

/*
 * fv_view_saw_xid
 *		Did the view's backfill snapshot already see transaction xid's
 *		changes (so applying them again would count them twice)?
 */
bool
fv_view_saw_xid(FvLiveView *view, TransactionId xid)
{
	int			i;

	if (!view->has_snapshot)
		return false;
	if (TransactionIdPrecedes(xid, view->snap_xmin))
		return true;
	if (!TransactionIdPrecedes(xid, view->snap_xmax))
		return false;
	for (i = 0; i < view->snap_xcnt; i++)
		if (TransactionIdEquals(view->snap_xip[i], xid))
			return false;
	return true;
}
