/*-------------------------------------------------------------------------
 *
 * apply_internal.h
 *	  What the stages of the apply worker share among themselves: the live
 *	  views and sources as the worker sees them, the batch, the worker's
 *	  own state, and each stage's entry points.  Only worker/ includes it;
 *	  worker.h is the face the rest of the extension sees.
 *
 * The stages, in the order the loop (apply_worker.c) runs them:
 *	launcher.c	the worker's entry in shared memory (fv_claim_entry)
 *	sources.c	the live views and their sources, from the catalog
 *	decode.c	slot, origin, decoding context, skip horizon, invalidation
 *	backfill.c	populating views from a snapshot; deciding to recompute
 *	batch.c		the decoded rows, collected per source (decoder callbacks)
 *	apply.c		applying a batch in one transaction
 *	progress.c	confirming, publishing the position, the worker's problem
 *
 *-------------------------------------------------------------------------
 */
#ifndef FV_APPLY_INTERNAL_H
#define FV_APPLY_INTERNAL_H

#include "access/xlogreader.h"
#include "executor/spi.h"
#include "utils/snapshot.h"
#include "nodes/pg_list.h"
#include "replication/logical.h"
#include "worker/worker.h"

/* ---- batches (batch.c) ---- */

/* A source table of live views, and the rows decoded for it in a batch. */
typedef struct FvSource
{
	Oid			relid;
	int			ncols;			/* used columns */
	char	  **colnames;
	TupleDesc	desc;			/* used columns, __sign int4, __xid int8 */
	Tuplestorestate *rows;		/* this batch's row versions; markers: FV_SIGN_* */
	bool		truncated;		/* a TRUNCATE marker is among the rows */
	bool		markers;		/* a FV_SIGN_REPOPULATE or FV_SIGN_NO_OLD marker is */
	char	   *no_old_rel;		/* the table of the last FV_SIGN_NO_OLD marker */
	int64		nremoved;		/* rows with sign -1 (old versions) */
	List	   *views;			/* FvLiveView * */
	List	   *tables;			/* J of a join view: its tables' FvSource *, in order */
	/*
	 * A live view's user-facing view read by rollups (relid): its rows are
	 * the upstream's changed rows of this batch, made by apply.c as it
	 * applies the upstream (upstream_images), not decoded.
	 */
	bool		rollup;
	List	   *upstream_keys;	/* char *: the upstream's group key columns */
	struct FvLiveView *upstream;	/* NULL when not loaded (in error) */
	int			depth;			/* 1 over a view of tables, 2 over a rollup... */
	uint32		storage_at_s;	/* exact mode: its storage when S was taken
								 * (fv_note_storage) */
	/* this batch's transactions with rows for it (monitoring) */
	bool		touched;		/* by the transaction being decoded */
	int			ncommits;
	int			maxcommits;
	TimestampTz *commit_times;	/* in batch->mcxt */
	char	   *last_trace;		/* trace id of the last traced one, or NULL */
} FvSource;

/*
 * Marker rows among a source's rows (__sign other than +1/-1), each with the
 * xid of its transaction: a view whose backfill snapshot saw that
 * transaction ignores it.
 */
#define FV_SIGN_TRUNCATE	0	/* TRUNCATE of the source: empties its views */
#define FV_SIGN_REPOPULATE	2	/* TRUNCATE of some of its partitions: repopulate */
#define FV_SIGN_NO_OLD		3	/* an UPDATE/DELETE without the old row: views to error */

/* A live view as the worker sees it. */
typedef struct FvLiveView
{
	int			id;
	List	   *downstream;		/* FvSource *: rollups' sources over this view */
	Oid			view_oid;
	Oid			source_oid;
	char	   *state;
	char	   *time_zone;
	List	   *apply_sql;		/* char * */
	uint32		apply_sql_hash; /* of apply_sql: kept plans of other text are
								 * dropped (an update script may rewrite it) */
	List	   *storage_tables; /* char * */
	List	   *backfill_sql;
	char	   *changed_groups_sql; /* NULL: groups cannot be named */
	char	   *join_delta_sql;	/* a join view: J's delta (views/join.c) */
	List	   *retain_sql;		/* a view with a retention: its expiry
								 * (retention.c), else NIL */
	char	   *window_sql;		/* a sliding window: the rows its advance
								 * changes (views/create.c), else NULL */
	List	   *advance_sql;	/* and the statements that apply them */
	char	   *late_sql;		/* a watermark: the batch's rows of closed
								 * windows (views/create.c), else NULL */
	char	   *closed_groups_sql;	/* and the groups whose windows a batch
									 * closed, when alerts are evaluated then */
	bool		rescan;			/* minmax 'rescan': min/max re-read from the source */
	uint32		advance_sql_hash;	/* of both (kept plans, as apply_sql_hash) */
	bool		has_alerts;
	/* a changefeed (views/feed.c): its key columns (NIL: one group) */
	bool		feed;
	List	   *feed_keys;
	char	   *feed_keep;		/* interval, as text */
	int64		feed_keep_ms;
	bool		feed_logged;	/* this batch wrote its log */
	bool		feed_reset;		/* this batch's cursors must resync */
	/* the backfill snapshot: decoded transactions it saw are skipped */
	bool		has_snapshot;
	TransactionId snap_xmin;
	TransactionId snap_xmax;
	int			snap_xcnt;
	TransactionId *snap_xip;
	char	   *error;			/* set when this batch failed for the view */
	/* this batch, for the statistics */
	bool		attempted;
	bool		applied;
	int64		batch_rows;
	int64		batch_groups;
	int64		batch_us;
	int64		batch_rereads;
} FvLiveView;

/* the batch being collected (typedef in worker.h) */
struct FvBatch
{
	MemoryContext mcxt;			/* reset after each batch */
	MemoryContext change_cxt;	/* reset after each decoded change */
	ResourceOwner owner;		/* for the tuplestores' temp files */
	List	   *sources;		/* FvSource * */
	HTAB	   *relmap;			/* decoded relid -> source + column map */
	int64		nchanges;
	int64		nxacts;
	List	   *xids;			/* transactions with source rows in this batch */
	List	   *subxids;		/* their subtransactions (batch_snapshot.c) */
	TransactionId last_xid;
	TimestampTz last_commit_time;
	char	   *trace;			/* 'flowview.trace' message of the transaction being decoded */
	List	   *traces;			/* char *: trace ids of this batch */
};

/* did the view's backfill snapshot see xid? (batch.c) */
extern bool fv_view_saw_xid(FvLiveView *view, TransactionId xid);

/* ---- launcher.c ---- */
extern FvWorkerState *fv_my_state;	/* this worker's entry, once claimed */
extern bool fv_claim_entry(Oid dboid);

/* ---- sources.c ---- */
extern MemoryContext fv_views_cxt;	/* the views and sources, reset at each read */
extern bool fv_views_being_restored;
extern bool fv_catalog_in_motion;	/* fv_load_sources: views populating, versions pending */
extern bool fv_any_sla;	/* fv_load_sources: a view has a freshness SLA */
extern List *fv_load_sources(bool *extension);
extern List *fv_text_array_list(Datum d);
extern void fv_prepare_source(FvSource *src);

/* ---- decode.c ---- */
extern char fv_slot_name[NAMEDATALEN];	/* also the origin's name */
extern LogicalDecodingContext *fv_decoding;	/* NULL until fv_start_decoding */
extern FvBatch fv_batch;		/* what fv_decoding collects into */
extern uint64 fv_last_decoded_inval;
extern XLogRecPtr fv_inserted_end(void);
extern bool fv_start_decoding(void);
extern void fv_stop_and_clean_up(void);
extern TransactionId fv_skip_horizon(List *sources);
extern bool fv_skippable(XLogReaderState *r, TransactionId horizon);
extern void fv_invalidate_if_catalog_changed(void);
extern bool fv_views_marked_for_recompute;

/* ---- backfill.c ---- */
extern char *fv_backfill_or_error(FvLiveView *v);
extern void fv_maybe_recompute(List *sources);

/* ---- apply.c ---- */
extern void fv_forget_plans(List *sources);
extern void fv_apply_batch(List *sources, XLogRecPtr end);
extern void fv_register_delta(FvSource *src, Tuplestorestate *rows);
extern bool fv_statement_applies(const char *sql, int64 nremoved);
extern void fv_run_statement(SPIPlanPtr plan, const char *sql, Snapshot snap);
extern List *fv_advance_plans(FvSource *src, FvLiveView *v, const char *crossing);
extern void fv_note_storage(List *sources);
extern void fv_check_storage(FvSource *src);
extern void fv_mark_repopulate(FvLiveView *v, const char *why);
extern void fv_view_failed(FvLiveView *v, ErrorData *edata, const char *doing);
extern ErrorData *fv_subxact_failed(MemoryContext cxt, ResourceOwner owner);
#define FV_PLAN_MAX_ROWS 5000	/* larger deltas are planned afresh */

/*
 * Sliding windows: a window's clock is advanced in the first exact batch
 * at least FV_WINDOW_TICK_MS after its last advance, with or without WAL
 * (window.c).
 */
#define FV_WINDOW_TICK_MS 250
/* the longest an idle apply worker sleeps (apply_worker.c idle_wait) */
#define FV_IDLE_WAIT_MS 1000
/* the longest the worker goes without rereading the catalog when nothing commits */
#define FV_RELOAD_IDLE_MS 10000
extern bool fv_has_windows(List *sources, bool rescan);
extern bool fv_windows_due(List *sources);
extern void fv_advance_windows(List *sources, Snapshot sp);

/* retention.c: views with a retention, about once a second */
#define FV_RETENTION_TICK_MS 1000
extern void fv_retention_tick(List *sources);

/* ---- progress.c ---- */
extern void fv_confirm_flushed(void);
extern void fv_add_pending(XLogRecPtr local_end, XLogRecPtr decoded_end);
extern void fv_publish_progress(XLogRecPtr lsn);
extern void fv_set_problem(const char *problem);
extern void fv_record_position_if_far(XLogRecPtr end);

#endif							/* FV_APPLY_INTERNAL_H */
