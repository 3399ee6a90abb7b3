/*-------------------------------------------------------------------------
 *
 * feed.h
 *	  Changefeeds of live views (feed.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef FV_FEED_H
#define FV_FEED_H

/*
 * Live view id's change log gets organisation security's policies on its
 * column org_column (NULL: none), as its storage has them; every cursor of
 * its feed resyncs.  Nothing for a view without a changefeed.
 */
extern void fv_feed_org_policies(int id, const char *org_column);

#endif							/* FV_FEED_H */
