/*-------------------------------------------------------------------------
 *
 * runas.h
 *	  The one place that switches identity to run SQL for a live view or an
 *	  alert rule (runas.c), and the allowance for pg_flowview's own DDL on
 *	  storage tables (storage_guard.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef FV_RUNAS_H
#define FV_RUNAS_H

#include "nodes/plannodes.h"

/* What fv_runas_begin saved, for fv_runas_end. */
typedef struct FvRunAs
{
	Oid			saved_userid;
	int			saved_sec_context;
	int			guc_nestlevel;
	int			saved_own_ddl;
} FvRunAs;

/* fv_runas_begin flags */
#define FV_RUNAS_STORAGE	0x01	/* writes storage: session_replication_role = replica */
#define FV_RUNAS_READ_ONLY	0x02	/* only evaluates: transaction_read_only = on */

/*
 * Run as "role" inside a security-restricted operation (SET ROLE, SET
 * SESSION AUTHORIZATION and temporary objects are refused, as in REFRESH
 * MATERIALIZED VIEW) with search_path = pg_catalog, pg_temp, the given time
 * zone (NULL: unchanged) and per flags above, until fv_runas_end.  Must be
 * paired in the same (sub)transaction; on an error in between, the
 * (sub)transaction's abort restores user, security context and settings, as
 * it does for PostgreSQL's own SECURITY DEFINER functions.
 */
extern void fv_runas_begin(FvRunAs *ra, Oid role, int flags, const char *time_zone);
extern void fv_runas_end(FvRunAs *ra);

/*
 * The role a live view's statements run as: the owner of its storage table
 * flowview.fv_store_ID (its creator; nobody else can change that owner).
 * Error (55000) naming the view id when the table is gone.  With the 0.1
 * SQL objects (ALTER EXTENSION UPDATE not run yet): the current user.
 */
extern Oid	fv_view_runas_role(int view_id);

/*
 * pg_flowview's own DDL on storage tables (create_view, org security):
 * allowed between fv_own_ddl_begin and fv_own_ddl_end; fv_runas_begin
 * withdraws the allowance until fv_runas_end, so no user code has it.
 * Reset at the end of every transaction and subtransaction abort.
 */
extern void fv_own_ddl_begin(void);
extern void fv_own_ddl_end(void);

/*
 * Refuse (42501) DDL on a storage table, its indexes or fv_out_ID by
 * anyone but pg_flowview itself: triggers, rules, policies, ALTER TABLE of
 * any kind (SET SCHEMA, RENAME, OWNER TO, ENABLE/DISABLE TRIGGER, RULE, ROW
 * LEVEL SECURITY, ...), CREATE INDEX, CREATE OR REPLACE VIEW.  Called by
 * the ProcessUtility hook (ddl.c).
 */
extern void fv_guard_storage_ddl(PlannedStmt *pstmt);

#endif							/* FV_RUNAS_H */
