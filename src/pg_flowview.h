/*-------------------------------------------------------------------------
 *
 * pg_flowview.h
 *	  Declarations shared by the subsystems of pg_flowview.
 *
 * pg_flowview.so is at once a preloaded library (GUCs, and later shared
 * memory and background workers, registered from _PG_init) and a logical
 * decoding output plugin (_PG_output_plugin_init).  This header carries what
 * crosses subsystem boundaries: the GUC variables and the entry points.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_FLOWVIEW_H
#define PG_FLOWVIEW_H

/* true when _PG_init ran from shared_preload_libraries */
extern bool fv_loaded_at_startup;

/* GUC pg_flowview.mask_salt: default salt of the CDC "mask" option */
extern char *fv_mask_salt;

/* GUC pg_flowview.openlineage_host: host of flowview.openlineage()'s namespace */
extern char *fv_openlineage_host;

/*
 * The installed SQL objects' version as its minor number ("0.3" -> 3), read
 * from pg_extension in the current transaction; 0 when the extension is not
 * installed in this database.  Between a server restart on a new library and
 * ALTER EXTENSION pg_flowview UPDATE, the library runs with an older version's
 * SQL objects: code that needs an object added by version N checks
 * fv_sql_version() >= N first (and otherwise keeps the old behaviour or
 * raises a clear error naming the update to run).
 */
extern int	fv_sql_version(void);
/* 55000 "WHAT is not available until ALTER EXTENSION pg_flowview UPDATE" below 0.MINOR */
extern void fv_require_sql_version(int minor, const char *what);
extern bool fv_catalog_has_joins(void);
/* run one SQL statement through SPI (connected), any error raised */
extern void fv_spi_run(const char *sql);

#endif							/* PG_FLOWVIEW_H */
