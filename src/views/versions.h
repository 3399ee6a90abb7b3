/*-------------------------------------------------------------------------
 *
 * versions.h
 *	  Versioned changes of a live view's definition (versions.c): what the
 *	  apply worker and wait_for_freshness call.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FV_VERSIONS_H
#define FV_VERSIONS_H

/*
 * The apply worker's step, at a batch boundary (every transaction applied
 * so far is in every view): records when pending definitions that are
 * populated will have caught up, swaps in those that have, abandons those
 * in state error.  Each in a transaction of its own; does nothing with SQL
 * objects older than 0.3.  The catalog has changed when it swapped: the
 * worker rereads it afterwards (it calls this right before that).
 */
extern void fv_versions_step(void);

/*
 * For wait_for_freshness (0.3 SQL objects): the number of pending changes
 * of "view" (InvalidOid: of every view); with first, 55000 if one was asked
 * for in the current transaction (the worker cannot see it before commit).
 */
extern int64 fv_versions_pending(Oid view, bool first);

/*
 * A change of columns replaces the user-facing view (a new OID under the
 * same name).  fv_versions_former: the live view whose user-facing view had
 * OID "oid" before such a change, if no relation has that OID now (read
 * under a new snapshot, as the current user); InvalidOid otherwise, and
 * with SQL objects older than 0.4 (which record no former OIDs).
 */
extern Oid	fv_versions_former(Oid oid);

/*
 * For wait_for_freshness with 0.3's SQL objects: fv_versions_view_name
 * gives view's qualified name (NULL if it has none); fv_versions_follow sets
 * *view to the relation now named so and says whether that is another one.
 */
extern char *fv_versions_view_name(Oid view);
extern bool fv_versions_follow(const char *name, Oid *view);

/*
 * fv_require_view_owner: errors unless the current user owns live view
 * "view" (or is a member of its owner's role): 42P01 when no relation has
 * that OID, 42501 naming the view and saying that only its owner may "what"
 * (alter_view, rollback_view, set_retention).
 */
extern void fv_require_view_owner(Oid view, const char *what);

#endif							/* FV_VERSIONS_H */
