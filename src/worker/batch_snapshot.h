/*-------------------------------------------------------------------------
 *
 * batch_snapshot.h
 *	  A snapshot that sees exactly the transactions up to a batch's end
 *	  (batch_snapshot.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef FV_BATCH_SNAPSHOT_H
#define FV_BATCH_SNAPSHOT_H

#include "access/xlogdefs.h"
#include "nodes/pg_list.h"
#include "utils/snapshot.h"

extern XLogRecPtr fv_exact_batch_begin(XLogRecPtr (*inserted_end) (void));
extern void fv_exact_batch_end(void);
extern bool fv_exact_batch_active(void);
extern Snapshot fv_exact_batch_snapshot(List *xids);

#endif							/* FV_BATCH_SNAPSHOT_H */
