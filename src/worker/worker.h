/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The apply pipeline: launcher, per-database apply worker, batches.
 *
 * See src/README.md for the picture and the exactly-once argument.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FV_WORKER_H
#define FV_WORKER_H

#include "access/xlogdefs.h"
#include "replication/reorderbuffer.h"
#include "storage/latch.h"
#include "utils/relcache.h"
#include "utils/resowner.h"
#include "utils/tuplestore.h"

#define FV_MAX_WORKERS 64

/* Per-database apply worker, in shared memory. */
typedef struct FvWorkerState
{
	Oid			dboid;			/* InvalidOid: free entry */
	pid_t		pid;			/* 0: not running */
	bool		wanted;			/* has live views: the launcher restarts it */
	Latch	   *latch;			/* set to wake the worker (create_view, wait_for_freshness) */
	XLogRecPtr	applied_lsn;	/* every commit before this is in the views */
	TimestampTz last_batch_at;	/* for the coming freshness monitoring */
} FvWorkerState;

/* GUCs */
extern int	fv_batch_max_changes;
extern int	fv_naptime_ms;

/* shared memory (worker/apply_worker.c) */
extern void fv_shmem_request(void);
extern void fv_shmem_startup(void);
extern void fv_register_launcher(void);
extern void fv_ensure_worker(Oid dboid);
extern XLogRecPtr fv_worker_applied_lsn(Oid dboid, bool *running);

/* entry points named in bgw_function_name */
extern PGDLLEXPORT void fv_launcher_main(Datum arg);
extern PGDLLEXPORT void fv_apply_worker_main(Datum arg);

/* ---- batches (worker/batch.c) ---- */

/* A source table of live views, and the rows decoded for it in a batch. */
typedef struct FvSource
{
	Oid			relid;
	int			ncols;			/* used columns */
	char	  **colnames;
	TupleDesc	desc;			/* used columns, __sign int4, __xid int8 */
	Tuplestorestate *rows;		/* this batch's row versions; sign 0: TRUNCATE */
	bool		truncated;		/* a TRUNCATE marker is among the rows */
	List	   *views;			/* FvLiveView * */
} FvSource;

/* A live view as the worker sees it. */
typedef struct FvLiveView
{
	int			id;
	Oid			view_oid;
	Oid			source_oid;
	char	   *state;
	char	   *time_zone;
	List	   *apply_sql;		/* char * */
	List	   *storage_tables; /* char * */
	List	   *backfill_sql;
	char	   *changed_groups_sql; /* NULL: groups cannot be named */
	bool		has_alerts;
	/* the backfill snapshot: decoded transactions it saw are skipped */
	bool		has_snapshot;
	TransactionId snap_xmin;
	TransactionId snap_xmax;
	int			snap_xcnt;
	TransactionId *snap_xip;
	char	   *error;			/* set when this batch failed for the view */
} FvLiveView;

typedef struct FvBatch
{
	MemoryContext mcxt;			/* reset after each batch */
	MemoryContext change_cxt;	/* reset after each decoded change */
	ResourceOwner owner;		/* for the tuplestores' temp files */
	List	   *sources;		/* FvSource * */
	HTAB	   *relmap;			/* decoded relid -> source + column map */
	int64		nchanges;
	int64		nxacts;
	List	   *xids;			/* transactions with source rows in this batch */
	TransactionId last_xid;
	TimestampTz last_commit_time;
} FvBatch;

extern void fv_batch_change(FvBatch *batch, ReorderBufferTXN *txn,
							Relation rel, ReorderBufferChange *change);
extern void fv_batch_truncate(FvBatch *batch, ReorderBufferTXN *txn,
							  int nrelations, Relation relations[]);
extern void fv_batch_commit(FvBatch *batch, ReorderBufferTXN *txn);

extern bool fv_view_saw_xid(FvLiveView *view, TransactionId xid);

#endif							/* FV_WORKER_H */
