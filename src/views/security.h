/*-------------------------------------------------------------------------
 *
 * security.h
 *	  Privilege checks of create_view, running as the extension's owner,
 *	  row-level security by organisation (security.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef FV_SECURITY_H
#define FV_SECURITY_H

#include "nodes/bitmapset.h"
#include "views/analyze.h"

/* What fv_become_owner saved, for fv_restore_user. */
typedef struct FvSavedUser
{
	Oid			userid;
	int			sec_context;
	int			guc_nestlevel;
} FvSavedUser;

/*
 * Refuse (42501) a view that would let the calling role see or run what it
 * cannot: every source column read needs SELECT, the target schema CREATE,
 * the query's functions EXECUTE (and a superuser owner: the view runs them
 * at every batch, as its owner); a source under row-level security that
 * applies to the caller is refused.
 */
extern void fv_check_create_privileges(FvViewDef *def, Oid view_namespace);

/*
 * Run as the owner of schema flowview (the extension's owner) with
 * search_path pinned to pg_catalog, pg_temp until fv_restore_user.
 */
extern void fv_become_owner(FvSavedUser *saved);
extern void fv_restore_user(FvSavedUser *saved);

/*
 * The ids of the live views whose catalog rows the current role may see
 * (the views it may SELECT from; all for flowview_admin and superusers).
 */
extern Bitmapset *fv_readable_view_ids(void);

/*
 * Organisation security (enable_org_security) as alter_view carries it to a
 * new definition (views/versions.c): fv_org_column gives the output column
 * of live view "view" (catalog id id) it filters by, or NULL when the view
 * has none; fv_org_security_on_store puts its policies and index on
 * flowview.fv_store_ID's column col (a text group key gN).
 */
extern char *fv_org_column(Oid view, int id);
extern void fv_org_security_on_store(int id, const char *col);

#endif							/* FV_SECURITY_H */
