/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  Shared memory, the launcher, and starting and finding apply workers.
 *
 * The launcher runs once at server start: it starts an apply worker for every
 * database that accepts connections, and every second restarts the workers
 * of databases with live views that died.  create_view also starts its
 * database's worker (fv_start_worker_at_commit).  A worker claims its
 * database's entry in shared memory (fv_claim_entry) and publishes its
 * position there.
 *
 * This file calls nothing in views/: views/ calls it (fv_require_preload,
 * fv_start_worker_at_commit, fv_worker_applied_lsn), and the worker's stages
 * call views/, so the layers stay one way (see src/README.md, Layers).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_database.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include "pg_flowview.h"
#include "worker/apply_internal.h"
#include "worker/worker.h"

FvShared   *fv_shared = NULL;
FvWorkerState *fv_my_state = NULL;

/* ----------------------------------------------------------------
 * Shared memory
 * ----------------------------------------------------------------
 */

void
fv_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(FvShared)));
	RequestNamedLWLockTranche("pg_flowview", 1);
}

void
fv_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	fv_shared = ShmemInitStruct("pg_flowview", sizeof(FvShared), &found);
	if (!found)
	{
		int			i;

		memset(fv_shared, 0, sizeof(FvShared));
		fv_shared->lock = &(GetNamedLWLockTranche("pg_flowview"))->lock;
		for (i = 0; i < FV_MAX_WORKERS; i++)
		{
			pg_atomic_init_u64(&fv_shared->workers[i].wanted_end, 0);
			pg_atomic_init_u32(&fv_shared->workers[i].sleeping, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

static FvWorkerState *
find_worker(Oid dboid)
{
	int			i;

	for (i = 0; i < FV_MAX_WORKERS; i++)
		if (fv_shared->workers[i].dboid == dboid)
			return &fv_shared->workers[i];
	return NULL;
}

/* applied position of dboid's worker; *running says whether there is one */
XLogRecPtr
fv_worker_applied_lsn(Oid dboid, bool *running)
{
	FvWorkerState *w;
	XLogRecPtr	lsn = InvalidXLogRecPtr;

	if (fv_shared == NULL)
	{
		*running = false;
		return lsn;
	}
	LWLockAcquire(fv_shared->lock, LW_SHARED);
	w = find_worker(dboid);
	*running = (w != NULL && w->pid != 0);
	if (*running)
		lsn = w->applied_lsn;
	LWLockRelease(fv_shared->lock);
	return lsn;
}

static void
register_worker(const char *function, const char *name, Oid dboid, bool dynamic)
{
	BackgroundWorker bgw;
	BackgroundWorkerHandle *handle;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "pg_flowview");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(bgw.bgw_name, BGW_MAXLEN, "%s", name);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "%s", dynamic && OidIsValid(dboid) ?
			 "pg_flowview apply" : "pg_flowview launcher");
	bgw.bgw_main_arg = ObjectIdGetDatum(dboid);
	if (dynamic)
	{
		/* the launcher restarts a worker that died while wanted */
		bgw.bgw_restart_time = BGW_NEVER_RESTART;
		if (!RegisterDynamicBackgroundWorker(&bgw, &handle))
			ereport(WARNING,
					(errmsg("pg_flowview: could not start the apply worker for database %u", dboid),
					 errhint("Raise max_worker_processes.")));
	}
	else
	{
		bgw.bgw_restart_time = 5;
		RegisterBackgroundWorker(&bgw);
	}
}

void
fv_register_launcher(void)
{
	register_worker("fv_launcher_main", "pg_flowview launcher", InvalidOid, false);
}

/*
 * A transaction that wrote in this database has committed (its commit
 * record ends at XactLastCommitEnd), or wait_for_freshness waits for a
 * position: the database's apply worker learns where (it flushes and
 * decodes up to there before it sleeps), and is woken if it sleeps idle
 * (wait_for_freshness also wakes it from a pause: fv_ensure_worker).  Runs
 * in every committing backend, so
 * it takes no lock: the entries' addresses are fixed, a PGPROC's latch
 * never goes away, and a stale entry at worst wakes a process for nothing.
 * Paired with the worker's idle wait (apply_worker.c): the committer
 * publishes its position, then reads sleeping; the worker sets sleeping,
 * then reads the position; each with a full barrier between, so one of the
 * two sees the other's write.
 */
static void
raise_wanted_end(XLogRecPtr lsn)
{
	int			i;

	if (fv_shared == NULL || !OidIsValid(MyDatabaseId) || XLogRecPtrIsInvalid(lsn))
		return;
	for (i = 0; i < FV_MAX_WORKERS; i++)
	{
		FvWorkerState *w = &fv_shared->workers[i];
		uint64		cur;

		if (w->dboid != MyDatabaseId)
			continue;
		cur = pg_atomic_read_u64(&w->wanted_end);
		while (cur < lsn && !pg_atomic_compare_exchange_u64(&w->wanted_end, &cur, lsn))
			;
		pg_memory_barrier();
		if (pg_atomic_read_u32(&w->sleeping) != 0 && w->pid != 0)
		{
			Latch	   *latch = w->latch;

			if (latch != NULL)
				SetLatch(latch);
		}
		return;
	}
}

/* wait_for_freshness: up to what is inserted now (a record's end) */
void
fv_want_inserted(void)
{
	raise_wanted_end(fv_inserted_end());
}

/*
 * Where the backend's last commit record ended before this commit: a
 * commit that wrote WAL moves XactLastCommitEnd (a transaction with an id,
 * and COMMIT PREPARED, whose transaction has none of its own).
 */
static XLogRecPtr commit_end_before = InvalidXLogRecPtr;

static void
wake_at_commit(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_PRE_COMMIT)
		commit_end_before = XactLastCommitEnd;
	else if (event == XACT_EVENT_COMMIT && XactLastCommitEnd != commit_end_before &&
			 fv_my_state == NULL)	/* not the worker's own commits */
		raise_wanted_end(XactLastCommitEnd);
}

/* _PG_init, preloaded: every backend wakes its database's worker at commit */
void
fv_watch_commits(void)
{
	RegisterXactCallback(wake_at_commit, NULL);
}

/* Start dboid's apply worker unless it runs; if it runs, wake it up. */
void
fv_ensure_worker(Oid dboid)
{
	bool		running = false;
	FvWorkerState *w;

	if (fv_shared == NULL)
		return;
	LWLockAcquire(fv_shared->lock, LW_SHARED);
	w = find_worker(dboid);
	if (w != NULL && w->pid != 0)
	{
		running = true;
		SetLatch(w->latch);
	}
	LWLockRelease(fv_shared->lock);
	if (!running)
		register_worker("fv_apply_worker_main",
						psprintf("pg_flowview apply worker for database %u", dboid),
						dboid, true);
}

/* ----------------------------------------------------------------
 * Launcher
 * ----------------------------------------------------------------
 */

/*
 * Databases that accept connections, as a list allocated in the caller's
 * memory context (as PostgreSQL's launcher does: the transaction's context
 * is gone once this returns).
 */
static List *
database_list(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	List	   *dbs = NIL;
	MemoryContext caller = CurrentMemoryContext;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (db->datallowconn && !db->datistemplate)
		{
			MemoryContext old = MemoryContextSwitchTo(caller);

			dbs = lappend_oid(dbs, db->oid);
			MemoryContextSwitchTo(old);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(caller);
	return dbs;
}

/*
 * fv_launcher_main
 *		At start, start a worker for every database (those without live
 *		views exit at once); then, every second, restart the workers of
 *		databases with live views that are not running (crashed workers),
 *		and forget databases that were dropped.
 */
void
fv_launcher_main(Datum arg)
{
	List	   *dbs;
	ListCell   *lc;
	MemoryContext cxt;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	cxt = AllocSetContextCreate(TopMemoryContext, "pg_flowview launcher", ALLOCSET_DEFAULT_SIZES);

	MemoryContextSwitchTo(cxt);
	foreach(lc, database_list())
		fv_ensure_worker(lfirst_oid(lc));

	for (;;)
	{
		int			i;
		List	   *restart = NIL;

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();

		MemoryContextReset(cxt);
		dbs = database_list();
		LWLockAcquire(fv_shared->lock, LW_EXCLUSIVE);
		for (i = 0; i < FV_MAX_WORKERS; i++)
		{
			FvWorkerState *w = &fv_shared->workers[i];

			if (w->dboid == InvalidOid)
				continue;
			if (!list_member_oid(dbs, w->dboid))
				w->dboid = InvalidOid;	/* database dropped */
			else if (w->pid != 0 && BackendPidGetProc(w->pid) == NULL)
				w->pid = 0;		/* died without cleaning up */
			if (w->dboid != InvalidOid && w->wanted && w->pid == 0)
				restart = lappend_oid(restart, w->dboid);
		}
		for (i = 0; i < FV_MAX_VIEW_STATS; i++)
			if (fv_shared->views[i].dboid != InvalidOid &&
				!list_member_oid(dbs, fv_shared->views[i].dboid))
				fv_shared->views[i].dboid = InvalidOid;	/* database dropped */
		LWLockRelease(fv_shared->lock);
		foreach(lc, restart)
			fv_ensure_worker(lfirst_oid(lc));
	}
}

/* ----------------------------------------------------------------
 * An apply worker's entry
 * ----------------------------------------------------------------
 */

/* at the worker's exit: its entry says it no longer runs */
static void
worker_shmem_exit(int code, Datum arg)
{
	LWLockAcquire(fv_shared->lock, LW_EXCLUSIVE);
	if (fv_my_state && fv_my_state->pid == MyProcPid)
		fv_my_state->pid = 0;		/* still wanted unless we cleared that */
	LWLockRelease(fv_shared->lock);
}

/* Claim the database's entry; false if another worker has it. */
bool
fv_claim_entry(Oid dboid)
{
	int			i;
	bool		ok = false;

	LWLockAcquire(fv_shared->lock, LW_EXCLUSIVE);
	fv_my_state = find_worker(dboid);
	if (fv_my_state != NULL && fv_my_state->pid != 0 && fv_my_state->pid != MyProcPid &&
		BackendPidGetProc(fv_my_state->pid) != NULL)
		fv_my_state = NULL;		/* another live worker */
	else
	{
		if (fv_my_state == NULL)
			for (i = 0; i < FV_MAX_WORKERS; i++)
				if (fv_shared->workers[i].dboid == InvalidOid)
				{
					fv_my_state = &fv_shared->workers[i];
					fv_my_state->paused = false;
					fv_my_state->failures = 0;
					fv_my_state->problem[0] = '\0';
					break;
				}
		if (fv_my_state != NULL)
		{
			fv_my_state->dboid = dboid;
			fv_my_state->pid = MyProcPid;
			fv_my_state->wanted = true;
			fv_my_state->latch = MyLatch;
			fv_my_state->applied_lsn = InvalidXLogRecPtr;
			ok = true;
		}
	}
	LWLockRelease(fv_shared->lock);
	if (ok)
		before_shmem_exit(worker_shmem_exit, (Datum) 0);
	return ok;
}

/* ----------------------------------------------------------------
 * Starting workers from SQL (views/ calls these)
 * ----------------------------------------------------------------
 */

/*
 * ERROR 55000 unless the shared state exists; "what" names the action for
 * the message.
 */
void
fv_require_preload(const char *what)
{
	if (fv_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s requires pg_flowview to be loaded through shared_preload_libraries", what),
				 errhint("Add pg_flowview to shared_preload_libraries in postgresql.conf and restart the server.")));
}

PG_FUNCTION_INFO_V1(fv_start_worker);

static bool start_at_commit = false;

static void
start_worker_at_commit(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && start_at_commit)
		fv_ensure_worker(MyDatabaseId);
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
		start_at_commit = false;
}

/*
 * flowview._start_worker() and create_view: make sure this database's apply
 * worker runs once the calling transaction commits.  (Started earlier, a new worker could read
 * the catalog before the caller's new view is visible, find no live views
 * and exit.)
 */
void
fv_start_worker_at_commit(void)
{
	static bool registered = false;

	if (!registered)
	{
		RegisterXactCallback(start_worker_at_commit, NULL);
		registered = true;
	}
	start_at_commit = true;
}

Datum
fv_start_worker(PG_FUNCTION_ARGS)
{
	fv_start_worker_at_commit();
	PG_RETURN_VOID();
}
