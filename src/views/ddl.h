/* ddl.h: guarding live views against DDL on their sources (see ddl.c) */
#ifndef FV_DDL_H
#define FV_DDL_H

extern void fv_install_ddl_guard(void);

/* source shape changes (source_ddl.c), around each utility statement */
#include "nodes/plannodes.h"
extern List *fv_source_ddl_check(PlannedStmt *pstmt);
extern void fv_source_ddl_done(List *sources);

#endif							/* FV_DDL_H */
