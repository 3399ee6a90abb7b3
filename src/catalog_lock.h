/*-------------------------------------------------------------------------
 *
 * catalog_lock.h
 *	  The lock order of pg_flowview's writing transactions (catalog_lock.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef FV_CATALOG_LOCK_H
#define FV_CATALOG_LOCK_H

/* lock flowview.view_catalog first; false: the extension is gone */
extern bool fv_lock_view_catalog(void);

/* lock a source table against DROP; false: it is gone */
extern bool fv_lock_source(Oid relid);

#endif							/* FV_CATALOG_LOCK_H */
