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

#endif							/* PG_FLOWVIEW_H */
