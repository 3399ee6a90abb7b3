/*-------------------------------------------------------------------------
 *
 * apply_worker.c
 *	  The per-database apply worker's loop; its stages are files of their
 *	  own.
 *
 * The apply worker of database D owns the logical slot and the replication
 * origin "pg_flowview_<D's oid>" (decode.c).  It loops:
 *
 *	1. read the live views from flowview.view_catalog (sources.c);
 *	2. backfill views in state 'backfilling' (backfill.c: consistent with
 *	   the stream, at this batch boundary);
 *	3. decode a batch: whole transactions, up to the WAL insert position read
 *	   (and flushed) at the start, at most pg_flowview.batch_max_changes changes
 *	   (decode.c reads the WAL, batch.c collects the rows);
 *	4. apply the batch in ONE transaction whose commit record also carries
 *	   the origin's progress (the batch's end LSN) (apply.c);
 *	5. confirm that position to the slot and publish it in shared memory
 *	   (progress.c).
 *
 * A worker whose database has no live views (or no pg_flowview) drops its
 * slot and origin, if any, and exits; the launcher (launcher.c) starts it
 * again when a view is created.
 *
 * Exactly once: a transaction's changes reach the views only in the apply
 * transaction that also advances the origin past its commit record.  After
 * a crash the worker decodes from the origin's position; transactions whose
 * commit record lies before it are skipped by the decoder (start_lsn), later
 * ones were not applied.  The slot is never confirmed beyond the origin.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/decode.h"
#include "replication/logical.h"
#include "replication/slot.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/sinval.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "catalog_lock.h"
#include "pg_flowview.h"
#include "views/versions.h"
#include "worker/apply_internal.h"
#include "worker/batch_snapshot.h"

int			fv_batch_max_changes = 100000;
int			fv_naptime_ms = 4;
int			fv_naptime_under_load_ms = 40;

static emit_log_hook_type prev_emit_log_hook = NULL;

/*
 * The worker exits on any error it does not catch (the launcher restarts
 * it a second later): count the failure and keep its message, with its
 * hint, as the worker's problem until it makes progress again.  A worker
 * that fails at the same place every time is in a crash loop, and the
 * views of its database silently fall behind otherwise.
 */
static void
worker_log_hook(ErrorData *edata)
{
	if (edata->elevel >= ERROR && edata->sqlerrcode != ERRCODE_ADMIN_SHUTDOWN &&
		fv_my_state != NULL && fv_shared != NULL && !LWLockHeldByMe(fv_shared->lock))
	{
		LWLockAcquire(fv_shared->lock, LW_EXCLUSIVE);
		if (fv_my_state->failures++ == 0 || fv_my_state->problem[0] == '\0')
			fv_my_state->problem_since = GetCurrentTimestamp();
		snprintf(fv_my_state->problem, FV_PROBLEM_LEN,
				 "the apply worker failed %d time%s in a row and restarts every second: %s%s%s",
				 fv_my_state->failures, fv_my_state->failures == 1 ? "" : "s",
				 edata->message ? edata->message : "(no message)",
				 edata->hint ? " HINT: " : " HINT: fix the cause the error names (see the server log); the views catch up once the worker gets past it.",
				 edata->hint ? edata->hint : "");
		LWLockRelease(fv_shared->lock);
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/*
 * Does any view need every batch's sources read as of the batch's end
 * (joins, sliding windows whose min/max are re-read from the source)?
 * Other window views need it only for their clocks' advances (window.c).
 */
static bool
needs_exact_snapshot(List *sources)
{
	ListCell   *lc;

	foreach(lc, sources)
		if (((FvSource *) lfirst(lc))->tables != NIL)
			return true;
	return fv_has_windows(sources, true);
}

static bool
is_paused(void)
{
	bool		paused;

	LWLockAcquire(fv_shared->lock, LW_SHARED);
	paused = fv_my_state->paused;
	LWLockRelease(fv_shared->lock);
	return paused;
}

/*
 * Every pg_flowview.sla_sample_interval: the views' change rates, a warning
 * when the slot retains too much WAL, and a freshness sample of each view
 * with an SLA (flowview._sla_tick: history, breach/recovery notifications).
 * Runs while paused too: that is when staleness grows.
 */
static void
monitor_tick(List *sources)
{
	static TimestampTz last_warning = 0;
	static TimestampTz last_sla_tick = 0;
	TimestampTz now = GetCurrentTimestamp();
	ListCell   *lc;
	XLogRecPtr	restart;
	uint64		retained;

	LWLockAcquire(fv_shared->lock, LW_EXCLUSIVE);
	foreach(lc, sources)
	{
		ListCell   *vc;

		foreach(vc, ((FvSource *) lfirst(lc))->views)
		{
			FvViewStats *st = fv_view_stats(MyDatabaseId, ((FvLiveView *) lfirst(vc))->id, true);

			if (st)
				fv_stats_tick_rate(st, now);
		}
	}
	LWLockRelease(fv_shared->lock);

	SpinLockAcquire(&MyReplicationSlot->mutex);
	restart = MyReplicationSlot->data.restart_lsn;
	SpinLockRelease(&MyReplicationSlot->mutex);
	retained = GetXLogInsertRecPtr() - restart;
	if (retained > (uint64) fv_max_retained_wal_mb * 1024 * 1024 &&
		TimestampDifferenceExceeds(last_warning, now, 60 * 1000))
	{
		last_warning = now;
		ereport(WARNING,
				(errmsg("pg_flowview: replication slot \"%s\" retains %llu MB of WAL, more than pg_flowview.max_retained_wal (%d MB)",
						fv_slot_name, (unsigned long long) (retained / (1024 * 1024)), fv_max_retained_wal_mb),
				 errhint("The live views lag behind (see flowview.freshness); if the slot passes max_slot_wal_keep_size it is invalidated and the views need flowview.refresh_view().")));
	}

	/* SLA samples: only with an SLA to sample, else now and then to drop old ones */
	if (!fv_any_sla && !TimestampDifferenceExceeds(last_sla_tick, now, 60 * 1000))
		return;
	last_sla_tick = now;
	StartTransactionCommand();
	if (fv_lock_view_catalog())
	{
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		fv_spi_run(psprintf("SELECT flowview._sla_tick('%d s')", fv_sla_history_retention_s));
		PopActiveSnapshot();
		SPI_finish();
	}
	CommitTransactionCommand();
}

/*
 * Nothing to apply: sleep until a transaction that wrote in this database
 * commits (launcher.c sets the latch), or something asks (create_view,
 * wait_for_freshness, pause_apply), or a clock is due: a sliding window's
 * tick, the SLA sample, a reread of the catalog a commit may have changed
 * or that is in motion (at most every 250 ms), or at the latest FV_IDLE_WAIT_MS (or the naptime
 * when that is longer), which bounds how long other databases' WAL waits
 * to be read past (the slot's hold on it).
 */
static XLogRecPtr skipped_for = InvalidXLogRecPtr;
static XLogRecPtr skipped_at = InvalidXLogRecPtr;

static void
idle_wait(List *sources, TimestampTz last_reload, XLogRecPtr reload_wanted_end,
		  XLogRecPtr decoded_to)
{
	long		timeout = Min(FV_IDLE_WAIT_MS, fv_sla_sample_interval_ms);
	XLogRecPtr	committed;

	if (fv_has_windows(sources, false))
		timeout = Min(timeout, FV_WINDOW_TICK_MS);
	pg_atomic_exchange_u32(&fv_my_state->sleeping, 1);	/* a full barrier */
	committed = pg_atomic_read_u64(&fv_my_state->wanted_end);
	if (committed != reload_wanted_end || fv_catalog_in_motion)
	{
		long		since = (GetCurrentTimestamp() - last_reload) / 1000;

		timeout = Min(timeout, Max(250 - since, 1));
	}
	timeout = Max(timeout, fv_naptime_ms);	/* never more often than the naptime */

	/*
	 * Not yet decoded up to the newest commit: no sleep, unless the last
	 * round got no further towards it either (never spin).
	 */
	if (committed > decoded_to && (committed != skipped_for || decoded_to != skipped_at))
	{
		skipped_for = committed;
		skipped_at = decoded_to;
	}
	else
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 committed > decoded_to ? fv_naptime_ms : timeout, PG_WAIT_EXTENSION);
	pg_atomic_write_u32(&fv_my_state->sleeping, 0);
	ResetLatch(MyLatch);
}

void
fv_apply_worker_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	List	   *sources = NIL;
	TimestampTz last_reload = 0;
	TimestampTz batch_started;
	TimestampTz prev_batch_started = 0;
	TimestampTz last_tick = 0;
	TimestampTz last_expiry = 0;
	TransactionId skip_before;
	bool		idle = false;
	XLogRecPtr	reload_wanted_end = InvalidXLogRecPtr;
	XLogRecPtr	flushed_to = InvalidXLogRecPtr;
	bool		full;
	bool		exact;
	bool		windows_due;
	MemoryContext decode_cxt = TopMemoryContext;

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	/* see fv_confirm_flushed() */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	/* a new snapshot per statement (batch_snapshot() relies on it too) */
	SetConfigOption("default_transaction_isolation", "read committed", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * No JIT: the apply statements touch few rows, but their estimated
	 * costs grow with the storage tables (the NULL-key min/max branch), and
	 * kept plans would be compiled again at every batch (measured: 20 ms
	 * per batch on a 750,000-value min/max multiset, 6 ms without).
	 */
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * Nothing the database's or a role's settings say changes what the
	 * worker's SQL means, and no trigger or rule fires on what it writes
	 * (as PostgreSQL's apply worker); statements for a view run as its
	 * owner (runas.c).  Set once: changing session_replication_role resets
	 * every kept plan.
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("session_replication_role", "replica", PGC_SUSET, PGC_S_OVERRIDE);

	if (!fv_claim_entry(dboid))
		proc_exit(0);
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = worker_log_hook;
	{
		int			failures;
		char		problem[FV_PROBLEM_LEN];

		LWLockAcquire(fv_shared->lock, LW_SHARED);
		failures = fv_my_state->failures;
		strlcpy(problem, fv_my_state->problem, sizeof(problem));
		LWLockRelease(fv_shared->lock);
		/* the second failure makes it a loop; then once a minute or so */
		if (failures == 2 || (failures > 0 && failures % 60 == 0))
			ereport(WARNING,
					(errmsg("pg_flowview: the apply worker of database %u keeps failing (%d times in a row); its live views fall behind",
							dboid, failures),
					 errdetail("%s", problem),
					 errhint("Fix the cause the error names; flowview.views (column worker_problem) and flowview.freshness (column warning) show it until the worker makes progress.")));
	}
	snprintf(fv_slot_name, sizeof(fv_slot_name), "pg_flowview_%u", dboid);
	fv_views_cxt = AllocSetContextCreate(TopMemoryContext, "pg_flowview views", ALLOCSET_DEFAULT_SIZES);
	fv_batch.mcxt = AllocSetContextCreate(TopMemoryContext, "pg_flowview batch", ALLOCSET_DEFAULT_SIZES);
	fv_batch.owner = ResourceOwnerCreate(NULL, "pg_flowview batch");
	fv_batch.change_cxt = AllocSetContextCreate(TopMemoryContext, "pg_flowview change",
											 ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		bool		extension;
		bool		any_views;
		XLogRecPtr	end;
		ListCell   *lc;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		/* now() in this round's transactions (a worker has no statements to set it) */
		SetCurrentStatementStartTimestamp();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		/*
		 * 1. the live views, reread at most every 250 ms.  Safe: a view
		 * created meanwhile is backfilled (consistently) at the boundary
		 * after it is seen; a refreshed one likewise; batches applied to a
		 * view dropped meanwhile fail in their subtransaction, harmlessly.
		 */
		if (sources == NIL ||
			(TimestampDifferenceExceeds(last_reload, GetCurrentTimestamp(), 250) &&
			 (fv_catalog_in_motion ||
			  pg_atomic_read_u64(&fv_my_state->wanted_end) != reload_wanted_end ||
			  TimestampDifferenceExceeds(last_reload, GetCurrentTimestamp(), FV_RELOAD_IDLE_MS))))
		{
			/* changes of definition that have caught up swap in here (views/versions.c) */
			fv_versions_step();
			reload_wanted_end = pg_atomic_read_u64(&fv_my_state->wanted_end);
			StartTransactionCommand();
			SPI_connect();
			PushActiveSnapshot(GetTransactionSnapshot());
			sources = fv_load_sources(&extension);
			fv_forget_plans(sources);
			foreach(lc, sources)
			{
				/* dropped since the catalog was read: its views are gone too */
				if (!fv_lock_source(((FvSource *) lfirst(lc))->relid))
					sources = foreach_delete_current(sources, lc);
				else
					fv_prepare_source(lfirst(lc));
			}
			PopActiveSnapshot();
			SPI_finish();
			CommitTransactionCommand();
			last_reload = GetCurrentTimestamp();
		}
		any_views = sources != NIL;
		if (!any_views && fv_views_being_restored)
		{
			/* only views being restored: wait for the restore to end */
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 Max(fv_naptime_ms, 100), PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			continue;
		}
		if (!any_views)
		{
			fv_stop_and_clean_up();
			LWLockAcquire(fv_shared->lock, LW_EXCLUSIVE);
			fv_my_state->wanted = false;
			LWLockRelease(fv_shared->lock);
			proc_exit(0);
		}
		if (fv_decoding == NULL && !fv_start_decoding())
		{
			sources = NIL;		/* reread: the views are in error now */
			continue;
		}
		if (fv_views_marked_for_recompute)
		{
			fv_views_marked_for_recompute = false;
			sources = NIL;		/* reread: the views are backfilling now */
			continue;
		}

		if (TimestampDifferenceExceeds(last_tick, GetCurrentTimestamp(), fv_sla_sample_interval_ms))
		{
			last_tick = GetCurrentTimestamp();
			monitor_tick(sources);
		}
		if (is_paused())
		{
			/* resume_apply sets the latch */
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 Max(fv_naptime_ms, 100), PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			continue;
		}
		if (TimestampDifferenceExceeds(last_expiry, GetCurrentTimestamp(), FV_RETENTION_TICK_MS))
		{
			last_expiry = GetCurrentTimestamp();
			fv_retention_tick(sources);
		}

		/* far behind: recomputing may be cheaper than decoding the backlog */
		if (fv_recompute_backlog_mb > 0)
			fv_maybe_recompute(sources);

		/* 2. backfills, at this batch boundary */
		foreach(lc, sources)
		{
			ListCell   *vc;

			foreach(vc, ((FvSource *) lfirst(lc))->views)
			{
				FvLiveView *v = lfirst(vc);

				if (strcmp(v->state, "backfilling") == 0)
					v->state = fv_backfill_or_error(v);
			}
		}

		/* 3. decode a batch of whole transactions */
		MemoryContextReset(fv_batch.mcxt);
		fv_batch.relmap = NULL;
		fv_batch.sources = sources;
		fv_batch.nchanges = 0;
		fv_batch.nxacts = 0;
		fv_batch.xids = NIL;
		fv_batch.subxids = NIL;
		fv_batch.last_xid = InvalidTransactionId;
		old = MemoryContextSwitchTo(fv_batch.mcxt);
		foreach(lc, sources)
		{
			FvSource   *src = lfirst(lc);
			ResourceOwner save = CurrentResourceOwner;

			CurrentResourceOwner = fv_batch.owner;
			src->rows = tuplestore_begin_heap(false, true, work_mem);
			CurrentResourceOwner = save;
			src->truncated = false;
			src->markers = false;
			src->no_old_rel = NULL;
			src->nremoved = 0;
			src->touched = false;
			src->ncommits = src->maxcommits = 0;
			src->commit_times = NULL;
			src->last_trace = NULL;
		}
		fv_batch.trace = NULL;
		fv_batch.traces = NIL;
		MemoryContextSwitchTo(old);

		/*
		 * Up to what is flushed: the writers' own commits flush it, so under
		 * load the worker adds no flushes of its own.  This database's
		 * commits with synchronous_commit = off, and the position a
		 * wait_for_freshness waits for, are flushed here (launcher.c raise_wanted_end).
		 * When nothing new was flushed since the last look, other WAL that
		 * is only inserted (the worker's own asynchronous commits, a page
		 * nobody completes) is flushed too, so it waits at most one idle
		 * sleep.
		 */
		batch_started = GetCurrentTimestamp();
		end = GetFlushRecPtr(NULL);
		{
			XLogRecPtr	wanted = pg_atomic_read_u64(&fv_my_state->wanted_end);

			if (wanted > end)
			{
				XLogFlush(wanted);
				end = GetFlushRecPtr(NULL);
			}
		}
		flushed_to = end;
		windows_due = fv_windows_due(sources);
		exact = windows_due || needs_exact_snapshot(sources);
		if (exact)
		{
			/*
			 * Join views: the batch ends where its snapshot S was taken, all
			 * of it decoded in S's transaction (batch_snapshot.c).  A
			 * sliding window whose clock is due needs such a batch even
			 * without WAL (window.c).
			 */
			end = fv_decoding->reader->EndRecPtr;
			if (fv_inserted_end() > end || windows_due)
			{
				/* decoding's memory (its reader's buffers) is not the transaction's */
				decode_cxt = CurrentMemoryContext;
				SetCurrentStatementStartTimestamp();
				StartTransactionCommand();
				end = fv_exact_batch_begin(fv_inserted_end);
				fv_note_storage(sources);	/* rewrites after S (apply.c) */
				MemoryContextSwitchTo(decode_cxt);
			}
		}
		else if (end <= fv_decoding->reader->EndRecPtr && idle)
		{
			XLogRecPtr	inserted = fv_inserted_end();

			if (inserted > fv_decoding->reader->EndRecPtr)
			{
				XLogFlush(inserted);
				end = GetFlushRecPtr(NULL);
			}
		}
		full = false;
		skip_before = fv_skip_horizon(sources);
		if (fv_decoding->reader->EndRecPtr < end || windows_due)
		{
			if (fv_decoding->reader->EndRecPtr < end)
				fv_invalidate_if_catalog_changed();
			while (fv_decoding->reader->EndRecPtr < end &&
				   (exact || fv_batch.nchanges < fv_batch_max_changes))
			{
				char	   *errm = NULL;
				XLogRecord *record;

				/*
				 * In exact mode the reorder buffer replays each transaction
				 * in a subtransaction of the batch's, whose end leaves the
				 * batch transaction's context current: the reader's buffers
				 * (oversized records) and whatever outlives the batch must
				 * not go there.
				 */
				if (exact)
					MemoryContextSwitchTo(decode_cxt);
				record = XLogReadRecord(fv_decoding->reader, &errm);

				if (errm)
					elog(ERROR, "pg_flowview: could not read WAL for decoding: %s", errm);
				if (record != NULL)
				{
					fv_decoding->fast_forward = fv_skippable(fv_decoding->reader, skip_before);
					LogicalDecodingProcessRecord(fv_decoding, fv_decoding->reader);
					fv_decoding->fast_forward = false;
				}
				CHECK_FOR_INTERRUPTS();
			}
			if (exact)
				MemoryContextSwitchTo(decode_cxt);
			fv_invalidate_if_catalog_changed();
			fv_last_decoded_inval = SharedInvalidMessageCounter;
			full = fv_decoding->reader->EndRecPtr < end;
			end = fv_decoding->reader->EndRecPtr;

			/* 4. apply, with the origin's progress in the same commit */
			if (fv_batch.nchanges > 0 || windows_due)
			{
				old = MemoryContextSwitchTo(fv_batch.mcxt);
				fv_apply_batch(sources, end);
				MemoryContextSwitchTo(old);
				fv_add_pending(XactLastCommitEnd, end);
			}
			else
			{
				if (IsTransactionState())
				{
					/* exact mode: nothing to apply under S */
					fv_exact_batch_end();
					CommitTransactionCommand();
				}
				fv_add_pending(InvalidXLogRecPtr, end);
				fv_record_position_if_far(end);
			}
			idle = false;
		}
		else
		{
			idle = true;
			fv_confirm_flushed();	/* 5. the slot lets go of WAL applied durably */
		}
		foreach(lc, sources)
		{
			FvSource   *src = lfirst(lc);
			ResourceOwner save = CurrentResourceOwner;

			CurrentResourceOwner = fv_batch.owner;
			tuplestore_end(src->rows);
			CurrentResourceOwner = save;
		}
		fv_publish_progress(end);

		/*
		 * Nothing to apply: sleep until a commit wakes the worker.  After
		 * a batch, the next at most every naptime while keeping up (fewer,
		 * larger batches cost the writers' CPUs less; commits do not wake
		 * the worker meanwhile), every naptime_under_load while changes
		 * come at FV_LOAD_CHANGES_PER_S or more (each batch has a fixed
		 * cost); back to back while behind.  wait_for_freshness sets the
		 * latch: its caller does not wait for the pause.
		 */
		if (!full && fv_batch.nchanges == 0 && !windows_due)
			idle_wait(sources, last_reload, reload_wanted_end, flushed_to);
		else if (!full)
		{
			long		elapsed_ms = (GetCurrentTimestamp() - batch_started) / 1000;
			long		since_ms = (batch_started - prev_batch_started) / 1000;
			int			nap = fv_naptime_ms;

			since_ms = Min(Max(since_ms, fv_naptime_ms), 1000);
			if ((double) fv_batch.nchanges * 1000 >= (double) FV_LOAD_CHANGES_PER_S * since_ms)
				nap = Max(nap, fv_naptime_under_load_ms);
			prev_batch_started = batch_started;
			if (elapsed_ms < nap)
			{
				(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 nap - elapsed_ms, PG_WAIT_EXTENSION);
				ResetLatch(MyLatch);
			}
		}
	}
}
