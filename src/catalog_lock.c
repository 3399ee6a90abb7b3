/*-------------------------------------------------------------------------
 *
 * catalog_lock.c
 *	  The lock order of pg_flowview's writing transactions: the view
 *	  catalog first, then each source before its views.
 *
 * Neutral ground between views/ and worker/: the apply worker takes these
 * locks in every transaction that writes, and so does views/versions.c,
 * whose swap of a view's definition writes like the worker.  Calls nothing
 * of pg_flowview.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "storage/lmgr.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "catalog_lock.h"

/*
 * Lock flowview.view_catalog first in each transaction of the worker that
 * writes the catalog or the storage tables, and tell whether it still
 * exists.  DROP EXTENSION pg_flowview CASCADE locks the extension's tables
 * (view_catalog among the first) before the storage tables that hang off
 * them; a worker that took a storage table first and the catalog last
 * deadlocked with it (40P01, and the user's DROP failed).  Taken in the
 * same order, the worker either waits holding nothing the DROP needs, or
 * holds the catalog and the DROP waits for its commit.  False (no lock
 * kept): the extension is gone; the caller ends its transaction without
 * writing, and the next catalog read finds no views.
 */
bool
fv_lock_view_catalog(void)
{
	Oid			nsp = get_namespace_oid("flowview", true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid("view_catalog", nsp) : InvalidOid;

	if (!OidIsValid(relid))
		return false;
	LockRelationOid(relid, RowExclusiveLock);
	if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		return true;
	UnlockRelationOid(relid, RowExclusiveLock);
	return false;
}

/*
 * Lock a source table against DROP for the rest of the transaction and tell
 * whether it still exists.  The worker reads its list of views and sources
 * at most every 250 ms: a view and its source may be dropped in between
 * (drop_view, then DROP TABLE), and nothing may then be built from the
 * source's name.  False (no lock kept): the source is gone, and so are its
 * views; the next catalog read forgets them.
 */
bool
fv_lock_source(Oid relid)
{
	LockRelationOid(relid, AccessShareLock);
	if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		return true;
	UnlockRelationOid(relid, AccessShareLock);
	return false;
}
