/*-------------------------------------------------------------------------
 *
 * pg_flowview.c
 *	  Library entry point: GUCs and the server-settings check run by
 *	  CREATE EXTENSION.
 *
 * The library is loaded in three ways, and _PG_init must be correct in each:
 *
 *	- from shared_preload_libraries in the postmaster (the supported setup):
 *	  here, and only here, shared memory and background workers can be
 *	  registered;
 *	- by a walsender or backend that decodes a slot using the pg_flowview
 *	  output plugin (pg_recvlogical, pg_logical_slot_get_changes): only the
 *	  GUCs and the output plugin are needed;
 *	- by a backend calling one of the extension's SQL functions.
 *
 * The output plugin itself lives in decoder/output_plugin.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xlog.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/varlena.h"

#include "pg_flowview.h"
#include "views/ddl.h"
#include "worker/worker.h"

PG_MODULE_MAGIC;

bool		fv_loaded_at_startup = false;
char	   *fv_mask_salt = NULL;
char	   *fv_openlineage_host = NULL;

void		_PG_init(void);

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
fv_shmem_request_hook(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	fv_shmem_request();
}

static void
fv_shmem_startup_hook(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	fv_shmem_startup();
}

PG_FUNCTION_INFO_V1(fv_check_server_settings);

static const struct config_enum_entry batch_log_levels[] = {
	{"debug2", DEBUG2, false},
	{"debug1", DEBUG1, false},
	{"log", LOG, false},
	{"info", INFO, false},
	{"notice", NOTICE, false},
	{"warning", WARNING, false},
	{NULL, 0, false}
};

/*
 * _PG_init
 *		Define the GUCs; remember whether we were preloaded.
 */
void
_PG_init(void)
{
	if (process_shared_preload_libraries_in_progress)
	{
		fv_loaded_at_startup = true;
		fv_watch_commits();		/* inherited by every backend */
	}

	DefineCustomStringVariable("pg_flowview.mask_salt",
							   "Salt mixed into the SHA-256 digests of columns masked in the CDC stream.",
							   "Used when a slot's \"mask-salt\" option is not given.",
							   &fv_mask_salt,
							   "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("pg_flowview.batch_max_changes",
							"Most row changes the apply worker decodes into one batch.",
							"A batch always holds whole transactions, so one large transaction may exceed it.",
							&fv_batch_max_changes,
							100000, 1, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_flowview.naptime",
							"Shortest time between two batches of the apply worker while it keeps up.",
							"An idle worker sleeps until a transaction that wrote in its database commits.",
							&fv_naptime_ms,
							4, 1, 10000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_flowview.naptime_under_load",
							"Pause between batches while the apply worker's batches are large.",
							"Used while row changes come at " CppAsString2(FV_LOAD_CHANGES_PER_S) " a second or more: fewer, larger batches leave the writers more CPU. At most pg_flowview.naptime has no effect.",
							&fv_naptime_under_load_ms,
							40, 1, 10000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);

	DefineCustomIntVariable("pg_flowview.join_work_mem",
							"work_mem of the apply worker's statements for a join view.",
							"A change to a dimension row can fan out to many joined rows; their delta and its aggregation stay in memory up to this much each, then spill to disk.",
							&fv_join_work_mem_kb,
							65536, 64, MAX_KILOBYTES,
							PGC_SIGHUP, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_flowview.recompute_backlog",
							"WAL backlog above which an apply worker recomputes its views instead of decoding it.",
							"Only when the backlog is also larger than the source tables; 0 never recomputes.",
							&fv_recompute_backlog_mb,
							64, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MB, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_flowview.sla_sample_interval",
							"How often the apply worker samples freshness (SLA history, alerts on breaches, change rates).",
							NULL,
							&fv_sla_sample_interval_ms,
							1000, 100, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_flowview.sla_history_retention",
							"How long freshness samples are kept in flowview.sla_samples.",
							NULL,
							&fv_sla_history_retention_s,
							7 * 24 * 3600, 60, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_flowview.max_retained_wal",
							"WAL retained by an apply worker's slot above which it warns.",
							"The warning goes to the server log and to flowview.freshness.",
							&fv_max_retained_wal_mb,
							1024, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MB, NULL, NULL, NULL);
	DefineCustomEnumVariable("pg_flowview.batch_log_level",
							 "Level of the log line of each applied batch (with its trace ids).",
							 NULL,
							 &fv_batch_log_level,
							 DEBUG1, batch_log_levels,
							 PGC_SUSET, 0, NULL, NULL, NULL);

	DefineCustomStringVariable("pg_flowview.openlineage_host",
							   "Host name in the OpenLineage namespace (postgres://host:port) of flowview.openlineage().",
							   "Empty: the first address in listen_addresses, else the address the client connected to, else localhost.",
							   &fv_openlineage_host,
							   "",
							   PGC_USERSET, 0, NULL, NULL, NULL);

	MarkGUCPrefixReserved("pg_flowview");

	if (process_shared_preload_libraries_in_progress)
	{
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = fv_shmem_request_hook;
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = fv_shmem_startup_hook;
		fv_register_launcher();
	}
	fv_install_ddl_guard();
}

/*
 * Does the list GUC value "setting" name library "name"?  Entries may be
 * written as bare names or as paths ($libdir/name); both count.
 */
static bool
setting_lists_library(const char *setting, const char *name)
{
	char	   *copy = pstrdup(setting);
	List	   *elems;
	ListCell   *lc;

	if (!SplitIdentifierString(copy, ',', &elems))
		return false;
	foreach(lc, elems)
	{
		const char *elem = lfirst(lc);
		const char *base = strrchr(elem, '/');

		base = base ? base + 1 : elem;
		if (strcmp(base, name) == 0)
			return true;
	}
	return false;
}

/*
 * flowview._check_server_settings()
 *
 * Run by the extension script, so that CREATE EXTENSION fails (and nothing is
 * created) on a server that cannot run pg_flowview.  Each error names the
 * setting to change and how.  output_plugin_libraries only exists in some
 * PostgreSQL builds; where it does not exist there is nothing to check.
 */
Datum
fv_check_server_settings(PG_FUNCTION_ARGS)
{
	const char *plugins;

	if (wal_level < WAL_LEVEL_LOGICAL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_flowview requires wal_level = logical"),
				 errdetail("The server runs with wal_level = %s.",
						   GetConfigOption("wal_level", false, false)),
				 errhint("Run ALTER SYSTEM SET wal_level = logical; and restart the server.")));

	if (!fv_loaded_at_startup)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_flowview must be loaded via shared_preload_libraries"),
				 errhint("Add pg_flowview to shared_preload_libraries in postgresql.conf, e.g. shared_preload_libraries = 'pg_flowview', and restart the server.")));

	plugins = GetConfigOption("output_plugin_libraries", true, false);
	if (plugins != NULL && !setting_lists_library(plugins, "pg_flowview"))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_flowview is not listed in output_plugin_libraries"),
				 errdetail("output_plugin_libraries is \"%s\".", plugins),
				 errhint("Run ALTER SYSTEM SET output_plugin_libraries = %s%spg_flowview; (an unquoted list) and SELECT pg_reload_conf();",
						 plugins, plugins[0] ? ", " : "")));

	PG_RETURN_VOID();
}

/*
 * See pg_flowview.h.  Needs a transaction.  Versions are "0.N".
 */
int
fv_sql_version(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	int			version = 0;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("pg_flowview"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_pg_extension_extversion,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
		{
			char	   *v = TextDatumGetCString(d);
			char	   *dot = strchr(v, '.');

			version = dot != NULL ? atoi(dot + 1) : 0;
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

void
fv_require_sql_version(int minor, const char *what)
{
	int			installed = fv_sql_version();

	if (installed >= minor)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("%s is not available until ALTER EXTENSION pg_flowview UPDATE", what),
			 errdetail("The installed SQL objects of pg_flowview are version 0.%d; this needs 0.%d.",
					   installed, minor),
			 RecoveryInProgress()
			 ? errhint("Run ALTER EXTENSION pg_flowview UPDATE on the primary.")
			 : errhint("Run ALTER EXTENSION pg_flowview UPDATE in this database.")));
}

/*
 * Has flowview.view_catalog the join columns of 0.4?  Not the same as
 * fv_sql_version() >= 4 inside CREATE/ALTER EXTENSION, whose scripts run
 * (and fire the DDL hooks) after the new version is recorded.
 */
bool
fv_catalog_has_joins(void)
{
	Oid			nsp = get_namespace_oid("flowview", true);
	Oid			catalog = OidIsValid(nsp) ? get_relname_relid("view_catalog", nsp) : InvalidOid;

	return OidIsValid(catalog) && get_attnum(catalog, "join_sources") != InvalidAttrNumber;
}

void
fv_spi_run(const char *sql)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc < 0)
		elog(ERROR, "pg_flowview: SPI_execute failed (%d) for: %s", rc, sql);
}
