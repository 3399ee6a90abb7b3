/*-------------------------------------------------------------------------
 *
 * restore.h
 *	  Live views brought back by pg_dump / pg_restore (restore.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef FV_RESTORE_H
#define FV_RESTORE_H

/*
 * storage_guard.c: may the current statement change the storage of live
 * view view_id although it is not pg_flowview's own DDL?  Only a
 * superuser's, and only while the view is being restored (no catalog row
 * yet, or a row restored by a session that has not ended).  Needs a
 * transaction; false with SQL objects older than 0.3.
 */
extern bool fv_restore_allows_ddl(int view_id);

/*
 * The apply worker, in a transaction with SPI connected, a snapshot pushed
 * and the catalog locked: forget the restores whose session has ended (or
 * has been idle for FV_RESTORE_IDLE_SECONDS), so that their views are
 * repopulated; true while restores remain.  Both the answer and the
 * worker's read of the catalog that follows (read-only SPI) see the pushed
 * snapshot, from before the forgetting: a view let go now is seen, and
 * counted as pending, until the next read of the catalog, so the worker
 * never finds itself without views in between.  Needs SQL objects 0.3.
 */
extern bool fv_restores_pending(void);

#define FV_RESTORE_IDLE_SECONDS 30

#endif							/* FV_RESTORE_H */
