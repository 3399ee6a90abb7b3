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
#include "port/atomics.h"
#include "replication/reorderbuffer.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/relcache.h"
#include "utils/resowner.h"
#include "utils/tuplestore.h"

#define FV_MAX_WORKERS 64
#define FV_PROBLEM_LEN 1024

/* Per-database apply worker, in shared memory. */
typedef struct FvWorkerState
{
	Oid			dboid;			/* InvalidOid: free entry */
	pid_t		pid;			/* 0: not running */
	bool		wanted;			/* has live views: the launcher restarts it */
	Latch	   *latch;			/* set to wake the worker (create_view, wait_for_freshness) */
	/*
	 * Waking on commits (launcher.c raise_wanted_end): the end of the newest commit
	 * record of a transaction that wrote in this database, or the position
	 * a wait_for_freshness waits for (fv_want_inserted), whichever is
	 * later: the worker flushes and decodes up to it before it sleeps; and
	 * whether it sleeps idle (only then do committers set its latch).
	 */
	pg_atomic_uint64 wanted_end;
	pg_atomic_uint32 sleeping;
	XLogRecPtr	applied_lsn;	/* every commit before this is in the views */
	TimestampTz last_batch_at;	/* last time the worker applied or found nothing to */
	bool		paused;			/* flowview.pause_apply(): hold decoding and apply */
	/*
	 * Why the worker makes no progress, with the fix, for flowview.views
	 * (worker_problem) and flowview.freshness (warning); empty while it
	 * progresses.  failures counts the worker's exits with an error since
	 * it last made progress (kept across its restarts).
	 */
	int			failures;
	TimestampTz problem_since;
	char		problem[FV_PROBLEM_LEN];
} FvWorkerState;

/*
 * Per-view pipeline statistics, in shared memory (flowview.stats,
 * flowview.anomalies()).  Written by the view's apply worker after each batch
 * and each monitoring tick, under the shared lock; lost at server restart.
 */
#define FV_MAX_VIEW_STATS 1024
#define FV_LATENCY_BUCKETS 26
#define FV_LATENCY_WINDOW_SECS 60

typedef struct FvViewStats
{
	Oid			dboid;			/* InvalidOid: free slot */
	int			view_id;
	int64		rows_decoded;	/* source row versions decoded for the view */
	int64		rows_applied;	/* of those, applied (not seen by its backfill) */
	int64		groups_touched;
	int64		batches;
	int64		errors;
	int64		apply_us;		/* time spent applying */
	int64		minmax_rereads; /* min/max values read again from the source */
	TimestampTz applied_commit_time;	/* newest applied source transaction */
	/* commit-to-visible latency: two windows of FV_LATENCY_WINDOW_SECS */
	uint32		latency[2][FV_LATENCY_BUCKETS];
	int			latency_cur;
	TimestampTz latency_since;
	char		last_trace[64];
	TimestampTz last_trace_at;
	/* change rate (rows decoded per second), exponentially weighted */
	int64		rate_rows;		/* rows_decoded at rate_at */
	TimestampTz rate_at;
	double		rate_now;
	double		rate_mean;
	double		rate_var;
	double		rate_z;			/* of rate_now, against mean and variance before it */
	int64		rate_samples;
} FvViewStats;

typedef struct FvShared
{
	LWLock	   *lock;
	FvWorkerState workers[FV_MAX_WORKERS];
	FvViewStats views[FV_MAX_VIEW_STATS];
} FvShared;

extern FvShared *fv_shared;
extern const double fv_latency_bounds_ms[FV_LATENCY_BUCKETS];

/* monitoring (worker/monitor.c) */
extern FvViewStats *fv_view_stats(Oid dboid, int view_id, bool create);
extern void fv_stats_add_latency(FvViewStats *st, TimestampTz now, double ms);
extern void fv_stats_tick_rate(FvViewStats *st, TimestampTz now);
extern TimestampTz fv_oldest_pending_commit(XLogRecPtr from, bool *found);
extern int	fv_sla_sample_interval_ms;
extern int	fv_max_retained_wal_mb;
extern int	fv_sla_history_retention_s;
extern int	fv_batch_log_level;

/* GUCs */
extern int	fv_batch_max_changes;
extern int	fv_naptime_ms;
extern int64 fv_minmax_rereads;	/* flowview._reread() calls, reset per view and batch */
extern int	fv_naptime_under_load_ms;
extern int	fv_join_work_mem_kb;	/* pg_flowview.join_work_mem */

/* row changes per second from which batches are pg_flowview.naptime_under_load apart */
#define FV_LOAD_CHANGES_PER_S 5000
extern int	fv_recompute_backlog_mb;

/*
 * Shared memory and starting workers (worker/launcher.c).  The narrow API
 * views/ may call: none of these calls back into views/.
 */
extern void fv_shmem_request(void);
extern void fv_shmem_startup(void);
extern void fv_register_launcher(void);
extern void fv_ensure_worker(Oid dboid);
extern void fv_start_worker_at_commit(void);
extern void fv_want_inserted(void);
extern void fv_watch_commits(void);
extern void fv_require_preload(const char *what);
extern XLogRecPtr fv_worker_applied_lsn(Oid dboid, bool *running);

/* freshness on a hot standby (worker/standby.c) */
extern XLogRecPtr fv_standby_applied_lsn(XLogRecPtr fallback);
struct XLogReaderState;
struct ReadLocalXLogPageNoWaitPrivate;
extern struct XLogReaderState *fv_local_wal_reader(struct ReadLocalXLogPageNoWaitPrivate **priv);
extern XLogRecPtr fv_readable_wal(XLogRecPtr from, bool *moved);
extern TimestampTz fv_standby_pending_commit(XLogRecPtr from, XLogRecPtr upto, bool *found);
extern bool fv_standby_wait(Oid view, TimestampTz deadline);

/* DROP DATABASE of a database with an apply worker (worker/dropdb.c) */
struct DropdbStmt;
extern Oid	fv_dropdb_before(struct DropdbStmt *stmt);
extern void fv_dropdb_after(Oid dboid);

/* entry points named in bgw_function_name */
extern PGDLLEXPORT void fv_launcher_main(Datum arg);
extern PGDLLEXPORT void fv_apply_worker_main(Datum arg);

/* ---- batches (worker/batch.c): called by the decoder in collect mode ---- */

/* the batch being collected; its fields are the worker's (apply_internal.h) */
typedef struct FvBatch FvBatch;

extern void fv_batch_change(FvBatch *batch, ReorderBufferTXN *txn,
							Relation rel, ReorderBufferChange *change);
extern void fv_batch_truncate(FvBatch *batch, ReorderBufferTXN *txn,
							  int nrelations, Relation relations[]);
extern void fv_batch_commit(FvBatch *batch, ReorderBufferTXN *txn);
extern void fv_batch_message(FvBatch *batch, ReorderBufferTXN *txn, const char *prefix,
							 Size sz, const char *message);

/* the logical message prefix that tags a transaction with a trace id */
#define FV_TRACE_PREFIX "flowview.trace"

/* the apply worker's decoding context collects into batch (decoder/output_plugin.c) */
struct LogicalDecodingContext;
extern void fv_decoding_collect_into(struct LogicalDecodingContext *ctx, FvBatch *batch);

#endif							/* FV_WORKER_H */
