/*-------------------------------------------------------------------------
 *
 * dropdb.c
 *	  DROP DATABASE of a database whose apply worker runs.
 *
 * The apply worker of database D keeps its logical slot pg_flowview_<D>
 * acquired, and PostgreSQL's dropdb refuses a database with an active slot
 * ("is used by an active logical replication slot") before WITH (FORCE)
 * terminates anyone: the worker has to let go of the slot first.  So the
 * ProcessUtility hook (views/ddl.c) calls fv_dropdb_before for every
 * DROP DATABASE, with or without FORCE, by a role that may drop D:
 *
 *	1. it takes the lock dropdb takes (AccessExclusiveLock on D): from then
 *	   on no process can connect to D (a worker being started waits in its
 *	   connection, and finds D gone), and dropdb's own lock is a no-op;
 *	2. marks D's worker not wanted (the launcher restarts only wanted ones)
 *	   and terminates it (SIGTERM, as pg_terminate_backend);
 *	3. waits until the worker is gone and the slot is inactive.
 *
 * dropdb then drops the inactive slot itself (ReplicationSlotsDropDBSlots).
 * Replication origins are not per database, so fv_dropdb_after drops
 * origin pg_flowview_<D> in the same transaction.  If the DROP fails (other
 * sessions connected to D without FORCE, say), the transaction's abort
 * marks the worker wanted again and the launcher restarts it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "replication/origin.h"
#include "replication/slot.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "storage/spin.h"
#include "utils/acl.h"
#include "utils/timestamp.h"

#include "worker/worker.h"

/* how long DROP DATABASE waits for the worker to let go of its slot */
#define FV_DROPDB_WAIT_MS 30000

/* the database whose worker this transaction stopped (to restart on abort) */
static Oid	stopped_db = InvalidOid;
static bool callback_registered = false;

static void
dropdb_xact_callback(XactEvent event, void *arg)
{
	if (!OidIsValid(stopped_db))
		return;
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		int			i;

		/* the database is still there: its worker is wanted again */
		LWLockAcquire(fv_shared->lock, LW_EXCLUSIVE);
		for (i = 0; i < FV_MAX_WORKERS; i++)
			if (fv_shared->workers[i].dboid == stopped_db)
				fv_shared->workers[i].wanted = true;
		LWLockRelease(fv_shared->lock);
		stopped_db = InvalidOid;
	}
	else if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
		stopped_db = InvalidOid;
}

/* pid of the process that has the slot acquired, 0 if none or no slot */
static pid_t
slot_active_pid(const char *name, bool *exists)
{
	ReplicationSlot *s;
	pid_t		pid = 0;

	LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
	s = SearchNamedReplicationSlot(name, false);
	*exists = s != NULL;
	if (s != NULL)
	{
		SpinLockAcquire(&s->mutex);
		pid = s->active_pid;
		SpinLockRelease(&s->mutex);
	}
	LWLockRelease(ReplicationSlotControlLock);
	return pid;
}

/*
 * Stop database dboid's apply worker (not wanted any more) and return its
 * pid, 0 when none runs.
 */
static pid_t
stop_worker(Oid dboid, bool *was_wanted)
{
	pid_t		pid = 0;
	int			i;

	LWLockAcquire(fv_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < FV_MAX_WORKERS; i++)
	{
		FvWorkerState *w = &fv_shared->workers[i];

		if (w->dboid != dboid)
			continue;
		*was_wanted |= w->wanted;
		w->wanted = false;
		if (w->pid != 0 && BackendPidGetProc(w->pid) != NULL)
			pid = w->pid;
	}
	LWLockRelease(fv_shared->lock);
	if (pid != 0)
		(void) kill(pid, SIGTERM);
	return pid;
}

/*
 * Before DROP DATABASE: see the file's comment.  Returns the database's
 * OID for fv_dropdb_after; does nothing and returns InvalidOid when the
 * database does not exist, is the current one, the caller may not drop it,
 * or pg_flowview is not preloaded (dropdb then says what it says).  Throws
 * 55006 naming the slot when it is still active after FV_DROPDB_WAIT_MS.
 */
Oid
fv_dropdb_before(DropdbStmt *stmt)
{
	Oid			dboid;
	char		name[NAMEDATALEN];
	TimestampTz deadline;
	bool		exists;
	bool		was_wanted = false;
	pid_t		holder;

	if (fv_shared == NULL)
		return InvalidOid;
	dboid = get_database_oid(stmt->dbname, true);
	if (!OidIsValid(dboid) || dboid == MyDatabaseId ||
		!pg_database_ownercheck(dboid, GetUserId()))
		return InvalidOid;
	snprintf(name, sizeof(name), "pg_flowview_%u", dboid);

	/* 1. nobody connects to the database from now on (dropdb takes it too) */
	LockSharedObject(DatabaseRelationId, dboid, 0, AccessExclusiveLock);

	if (!callback_registered)
	{
		RegisterXactCallback(dropdb_xact_callback, NULL);
		callback_registered = true;
	}

	/* 2., 3. */
	deadline = GetCurrentTimestamp() + (int64) FV_DROPDB_WAIT_MS * 1000;
	for (;;)
	{
		pid_t		worker = stop_worker(dboid, &was_wanted);

		if (was_wanted)
			stopped_db = dboid;	/* wanted again if the DROP fails */
		holder = slot_active_pid(name, &exists);
		if (worker == 0 && holder == 0)
			break;
		if (GetCurrentTimestamp() >= deadline)
			break;
		CHECK_FOR_INTERRUPTS();
		pg_usleep(10 * 1000L);
	}
	if (holder != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("database \"%s\" is used by pg_flowview's replication slot \"%s\", still active for process %d",
						stmt->dbname, name, (int) holder),
				 errdetail("pg_flowview stopped the database's apply worker, but the slot was still in use after %d seconds.",
						   FV_DROPDB_WAIT_MS / 1000),
				 errhint("Terminate the process using the slot (SELECT pg_terminate_backend(%d)), then drop the database again.",
						 (int) holder)));
	return dboid;
}

/*
 * After a successful DROP DATABASE (same transaction): drop the database's
 * replication origin, which dropdb leaves behind (origins are not per
 * database).  Its worker is gone, so nobody holds it.
 */
void
fv_dropdb_after(Oid dboid)
{
	char		name[NAMEDATALEN];

	if (fv_shared == NULL || !OidIsValid(dboid))
		return;
	snprintf(name, sizeof(name), "pg_flowview_%u", dboid);
	replorigin_drop_by_name(name, true, false);
}
