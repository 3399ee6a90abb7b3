/*-------------------------------------------------------------------------
 *
 * restore.c
 *	  Live views brought back by pg_dump / pg_restore.
 *
 * pg_dump writes a live view's objects as ordinary ones: the storage tables
 * flowview.fv_store_ID (with their rows, indexes and org policies), the
 * view flowview.fv_out_ID, the user-facing view with its trigger and
 * grants.  The extension's configuration tables (view_catalog,
 * alert_catalog, the org hierarchy; pg_extension_config_dump in the 0.3
 * update script) follow as data.  A restore runs, in one session:
 *
 *	pre-data   CREATE EXTENSION; CREATE TABLE/VIEW, ALTER ... OWNER TO
 *	data	   COPY of every table: storage rows (thrown away later),
 *			   view_catalog rows (trigger flowview._catalog_row: rebind),
 *			   alert rules, org units (their closure rebuilt by trigger)
 *	post-data  CREATE INDEX, CREATE TRIGGER, CREATE POLICY, ENABLE ROW
 *			   LEVEL SECURITY on storage and views; then GRANTs
 *
 * The catalog's OIDs are stale in the new database.  Each has a regclass or
 * regrole twin (view_rel, source_rel; alert_catalog.view_rel, owner_role)
 * that pg_dump writes as the object's name and the restore reads back as
 * the new OID; the trigger copies the twins over the OIDs and
 * fv_restore_bind checks that the objects fit together, records the view's
 * dependencies on its source (which pg_dump does not write) and registers
 * the restore in flowview.restores.
 *
 * The restored views must not be repopulated before the restore's post-data
 * part has given the storage its indexes (the apply's ON CONFLICT needs
 * them), nor while source rows are still being copied.  So the apply
 * worker (started at the commit of the catalog's COPY) leaves a view alone
 * while its restoring session lives, and repopulates it from the restored
 * source rows once that session has ended or has been idle for
 * FV_RESTORE_IDLE_SECONDS (fv_restores_pending): from then on it is an
 * ordinary 'backfilling' view.
 *
 * Who may do what.  Only the table's owner (the superuser who created the
 * extension) may INSERT into view_catalog, and fv_restore_bind refuses any
 * role but a superuser, so no other role can forge a catalog row through
 * this path.  The storage guard lets DDL on a view's storage through
 * (fv_restore_allows_ddl) only for a superuser and only while the view is
 * unknown to the catalog or being restored; a view runs as the owner of its
 * storage, and fv_restore_bind requires the user-facing view, fv_out_ID and
 * fv_store_ID to have one owner, as create_view leaves them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "pg_flowview.h"
#include "views/analyze.h"
#include "views/restore.h"
#include "views/security.h"
#include "worker/worker.h"

PG_FUNCTION_INFO_V1(fv_restore_bind);

static Oid
rel_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		return InvalidOid;
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/* does view's rule read relation rel?  (SPI connected) */
static bool
view_reads(Oid view, Oid rel)
{
	Oid			argtypes[2] = {OIDOID, OIDOID};
	Datum		args[2] = {ObjectIdGetDatum(view), ObjectIdGetDatum(rel)};

	if (SPI_execute_with_args("SELECT FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_depend d"
							  " ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
							  " AND d.objid OPERATOR(pg_catalog.=) r.oid"
							  " WHERE r.ev_class OPERATOR(pg_catalog.=) $1"
							  " AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
							  " AND d.refobjid OPERATOR(pg_catalog.=) $2",
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read pg_depend");
	return SPI_processed > 0;
}

/* does view's rule read a live view's flowview.fv_out_ID (is it a live view)? */
static bool
reads_live_output(Oid view)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(view)};
	bool		found;

	SPI_connect();
	if (SPI_execute_with_args("SELECT FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_depend d"
							  " ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
							  " AND d.objid OPERATOR(pg_catalog.=) r.oid"
							  " JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.refobjid"
							  " WHERE r.ev_class OPERATOR(pg_catalog.=) $1"
							  " AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
							  " AND c.relnamespace OPERATOR(pg_catalog.=) 'flowview'::pg_catalog.regnamespace"
							  " AND c.relkind OPERATOR(pg_catalog.=) 'v'"
							  " AND c.relname OPERATOR(pg_catalog.~) '^fv_out_[0-9]+$'",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read pg_depend");
	found = SPI_processed > 0;
	SPI_finish();
	return found;
}

/*
 * flowview._restore_bind(view_id int, view_rel regclass, source_rel regclass,
 *						  used_columns text[]) RETURNS void
 *
 * Called by the trigger on flowview.view_catalog for a row read back by a
 * restore.  Checks that view_rel reads flowview.fv_out_ID, which reads
 * flowview.fv_store_ID, all three with one owner, and that source_rel is a
 * table with the used columns; records the view's dependencies on the
 * source and its columns (as create_view does: DROP TABLE is refused or
 * cascades to the view); registers the restore for the apply worker and
 * starts it at commit.  Superusers only (42501); errors name what is
 * missing.
 */
Datum
fv_restore_bind(PG_FUNCTION_ARGS)
{
	int			id;
	Oid			view;
	Oid			source;
	Oid			nsp;
	Oid			store;
	Oid			out;
	Datum	   *cols;
	bool	   *colnulls;
	int			ncols;
	int			i;
	char		kind;
	ObjectAddress view_addr;
	ObjectAddress src_addr;
	FvSavedUser saved;
	Oid			argtypes[3] = {INT4OID, INT4OID, TIMESTAMPTZOID};
	Datum		args[3];

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("view_id, view_rel, source_rel and used_columns must not be null")));
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only a superuser can restore live views"),
				 errhint("Restore the dump as a superuser (CREATE EXTENSION pg_flowview needs one too).")));
	fv_require_sql_version(3, "restoring live views");
	id = PG_GETARG_INT32(0);
	view = PG_GETARG_OID(1);
	source = PG_GETARG_OID(2);

	nsp = get_namespace_oid("flowview", false);
	store = get_relname_relid(psprintf("fv_store_%d", id), nsp);
	out = get_relname_relid(psprintf("fv_out_%d", id), nsp);
	kind = get_rel_relkind(view);
	if (kind != RELKIND_VIEW)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot restore live view %d: relation %u is not a view", id, view)));
	if (!OidIsValid(store) || get_rel_relkind(store) != RELKIND_RELATION ||
		!OidIsValid(out) || get_rel_relkind(out) != RELKIND_VIEW)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot restore live view %s: its storage flowview.fv_store_%d or flowview.fv_out_%d is missing",
						get_rel_name(view), id, id),
				 errhint("Restore the whole database from one pg_dump: it writes the storage with the views.")));
	kind = get_rel_relkind(source);
	/*
	 * (a join view's source is its join relation flowview.fv_join_ID,
	 * restored with it; a rollup's the live view it reads, whose catalog row
	 * may come after its own)
	 */
	if (kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE && !fv_is_join_relation(source) &&
		!(kind == RELKIND_VIEW && reads_live_output(source)))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot restore live view %s: its source (relation %u) is not a table",
						get_rel_name(view), source)));
	if (rel_owner(view) != rel_owner(out) || rel_owner(view) != rel_owner(store))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot restore live view %s: it and its storage flowview.fv_store_%d have different owners",
						get_rel_name(view), id),
				 errdetail("A live view runs as the owner of its storage, which create_view gives the view's owner.")));

	fv_become_owner(&saved);
	SPI_connect();
	if (!view_reads(view, out) || !view_reads(out, store))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot restore live view %s: it does not read flowview.fv_out_%d, or that does not read flowview.fv_store_%d",
						get_rel_name(view), id, id)));

	/* the dependencies create_view records (pg_dump does not write them) */
	ObjectAddressSet(view_addr, RelationRelationId, view);
	ObjectAddressSet(src_addr, RelationRelationId, source);
	recordDependencyOn(&view_addr, &src_addr, DEPENDENCY_NORMAL);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(3), TEXTOID, -1, false, TYPALIGN_INT,
					  &cols, &colnulls, &ncols);
	for (i = 0; i < ncols; i++)
	{
		char	   *col = colnulls[i] ? NULL : TextDatumGetCString(cols[i]);
		AttrNumber	attnum = col ? get_attnum(source, col) : InvalidAttrNumber;

		if (attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("cannot restore live view %s: column \"%s\" of its source %s is missing",
							get_rel_name(view), col ? col : "NULL", get_rel_name(source))));
		ObjectAddressSubSet(src_addr, RelationRelationId, source, attnum);
		recordDependencyOn(&view_addr, &src_addr, DEPENDENCY_NORMAL);
	}

	args[0] = Int32GetDatum(id);
	args[1] = Int32GetDatum(MyProcPid);
	args[2] = TimestampTzGetDatum(MyStartTimestamp);
	if (SPI_execute_with_args("INSERT INTO flowview.restores (view_id, pid, backend_start) VALUES ($1, $2, $3)"
							  " ON CONFLICT (view_id) DO UPDATE SET pid = excluded.pid,"
							  " backend_start = excluded.backend_start",
							  3, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "pg_flowview: could not record the restore of live view %d", id);
	SPI_finish();
	fv_restore_user(&saved);

	/* the worker waits for this session to end, then repopulates the view */
	fv_start_worker_at_commit();
	PG_RETURN_VOID();
}

bool
fv_restore_allows_ddl(int view_id)
{
	FvSavedUser saved;
	bool		allowed = false;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(view_id)};

	if (!superuser() || fv_sql_version() < 3)
		return false;
	fv_become_owner(&saved);
	SPI_connect();
	if (SPI_execute_with_args("SELECT FROM flowview.view_catalog c WHERE c.id OPERATOR(pg_catalog.=) $1"
							  " AND NOT EXISTS (SELECT FROM flowview.restores r"
							  " WHERE r.view_id OPERATOR(pg_catalog.=) c.id)",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "pg_flowview: could not read flowview.view_catalog");
	allowed = SPI_processed == 0;
	SPI_finish();
	fv_restore_user(&saved);
	return allowed;
}

bool
fv_restores_pending(void)
{
	uint64		i;
	bool		isnull;

	if (SPI_execute(psprintf("DELETE FROM flowview.restores r WHERE NOT EXISTS ("
							 " SELECT FROM pg_catalog.pg_stat_get_activity(r.pid) a"
							 " WHERE a.backend_start = r.backend_start"
							 " AND (a.state IS DISTINCT FROM 'idle'"
							 " OR a.state_change > pg_catalog.now() - interval '%d s'))"
							 " RETURNING (SELECT c.view_oid::pg_catalog.regclass::pg_catalog.text"
							 " FROM flowview.view_catalog c WHERE c.id = r.view_id)",
							 FV_RESTORE_IDLE_SECONDS),
					false, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "pg_flowview: could not read flowview.restores");
	for (i = 0; i < SPI_processed; i++)
		ereport(LOG,
				(errmsg("pg_flowview: live view %s was restored; repopulating it from its source",
						SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1))));
	if (SPI_execute("SELECT EXISTS (SELECT FROM flowview.restores)", true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "pg_flowview: could not read flowview.restores");
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}
