/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  Views with a retention (create_view(..., retain => interval)): about
 *	  once a second, their horizon moves to now() - retain and the groups
 *	  older than it are removed.
 *
 * The view's statements apply only rows of groups at or after the horizon
 * stored in flowview.fv_store_ID_h (views/create.c, ViewSql.where), and the
 * horizon never moves back; so a group, once removed, never comes back, and
 * the view always equals its query restricted to groups at or after the
 * horizon its storage holds.  Each view's expiry (view_catalog.retain_sql)
 * runs in a transaction of its own, as the view's owner, between batches
 * (flowview.views.retain_horizon reads the horizon from the storage, so the
 * catalog is not written).  A failure is logged and retried at the next
 * tick (logged once a minute): the view stays exact, only larger.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "catalog_lock.h"
#include "pg_flowview.h"
#include "views/runas.h"
#include "worker/apply_internal.h"

static void expire_view(FvLiveView *v);
static TimestampTz last_warning = 0;

void
fv_retention_tick(List *sources)
{
	ListCell   *lc;

	foreach(lc, sources)
	{
		ListCell   *vc;

		foreach(vc, ((FvSource *) lfirst(lc))->views)
		{
			FvLiveView *v = lfirst(vc);

			if (v->retain_sql != NIL)
				expire_view(v);
		}
	}
}

static void
expire_view(FvLiveView *v)
{
	MemoryContext cxt = CurrentMemoryContext;

	/* now() is the transaction's start: a worker sets it itself */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		if (fv_lock_view_catalog())
		{
			FvRunAs		ra;
			ListCell   *lc;

			SPI_connect();
			PushActiveSnapshot(GetTransactionSnapshot());
			/*
			 * The statements as the catalog has them now: the view may have
			 * been dropped or replaced, or its retention changed or removed
			 * (set_retention), since the worker read its catalog.
			 */
			if (SPI_execute(psprintf("SELECT retain_sql FROM flowview.view_catalog WHERE id = %d AND retain IS NOT NULL",
									 v->id), true, 1) != SPI_OK_SELECT)
				elog(ERROR, "pg_flowview: could not read flowview.view_catalog");
			if (SPI_processed == 1)
			{
				bool		isnull;
				List	   *stmts = fv_text_array_list(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

				fv_runas_begin(&ra, fv_view_runas_role(v->id), FV_RUNAS_STORAGE, v->time_zone);
				foreach(lc, stmts)
					fv_spi_run(lfirst(lc));
				fv_runas_end(&ra);
			}
			PopActiveSnapshot();
			SPI_finish();
		}
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		MemoryContextSwitchTo(cxt);
		if (TimestampDifferenceExceeds(last_warning, GetCurrentTimestamp(), 60 * 1000))
		{
			last_warning = GetCurrentTimestamp();
			ereport(WARNING,
					(errmsg("pg_flowview: could not expire the groups of live view %d older than its retention: %s",
							v->id, edata->message),
					 errdetail("The view stays exact; its old groups stay until an attempt succeeds (one a second, logged once a minute).")));
		}
		FreeErrorData(edata);
	}
	PG_END_TRY();
}
