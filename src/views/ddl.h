/* ddl.h: guarding live views against DDL on their sources (see ddl.c) */
#ifndef FV_DDL_H
#define FV_DDL_H

extern void fv_install_ddl_guard(void);

#endif							/* FV_DDL_H */
