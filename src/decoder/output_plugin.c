/*-------------------------------------------------------------------------
 *
 * output_plugin.c
 *	  The pg_flowview logical decoding output plugin: committed changes as
 *	  newline-delimited JSON, for CDC consumers.
 *
 * Used by pg_recvlogical -P pg_flowview and pg_logical_slot_get_changes().
 * Each change is one write (one line): an object with op (c/u/d/t/m),
 * schema, table, before, after, xid, lsn, commit_lsn and commit_time, or, with
 * format=debezium, Debezium's envelope (before/after/source/op/ts_ms).  The
 * README documents every field and option; this file is the reference for
 * what is written.
 *
 * Only committed transactions are decoded, in commit order, once complete:
 * we register no streaming callbacks (in-progress transactions that may
 * still abort are never emitted) and no two-phase callbacks (a prepared
 * transaction is emitted at COMMIT PREPARED, nothing at ROLLBACK PREPARED).
 * Aborted subtransactions are discarded by the reorder buffer.
 *
 * Per relation we cache, in a hash invalidated by relcache callbacks, what is
 * needed to write its rows: whether the table is selected, the column names
 * pre-escaped as JSON, the fixed head of its change lines ({"op":..,
 * "schema":..,"table":..,), how each column's values are written
 * (json_value.c) and which columns are masked; the entry used last is kept
 * at hand, as consecutive changes are mostly of one table.  Per transaction
 * we cache the JSON of the fields that are the same for all its changes.
 * Rows are written with one heap_deform_tuple and no per-value catalog
 * lookups, into ctx->out with inlined appends (fv_append_bytes).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/table.h"
#include "access/htup_details.h"
#include "catalog/catalog.h"
#include "catalog/dependency.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "common/base64.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "commands/dbcommands.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/bitmapset.h"
#include "port/pg_bitutils.h"
#include "replication/logical.h"
#include "replication/origin.h"
#include "replication/output_plugin.h"
#include "funcapi.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/timestamp.h"

#include "pg_flowview.h"
#include "decoder/json_value.h"
#include "worker/worker.h"

/* what an UPDATE's new tuple says for an unchanged TOASTed column we cannot read */
#define FV_UNCHANGED_TOAST_MARKER "__debezium_unavailable_value"
#define FV_VERSION "0.1"

typedef enum FvFormat
{
	FV_FORMAT_JSON,
	FV_FORMAT_DEBEZIUM
} FvFormat;

/* A "schema.table" or "schema.table.column" glob; '*' matches any run. */
typedef struct FvPattern
{
	char	   *chars;
	bool	   *literal;		/* chars[i] was escaped: never a wildcard */
	int			len;
} FvPattern;

typedef struct FvAttInfo
{
	bool		skip;			/* dropped column */
	bool		is_key;			/* part of the replica identity key */
	bool		masked;
	bool		varlena;
	char		feed;			/* a changefeed log's column: 0 bookkeeping,
								 * 'n' the view's column, 'o' an old_ value */
	char	   *name_json;		/* "name": */
	int			name_json_len;
	FvTypeOut	typeout;
	FmgrInfo	mask_out;		/* text output, for masked columns */
} FvAttInfo;

typedef struct FvRelInfo
{
	Oid			relid;			/* hash key */
	bool		valid;
	bool		selected;		/* passes tables / exclude-tables (or views) */
	bool		feed;			/* a changefeed's log, written as its view */
	char		replident;
	MemoryContext mcxt;			/* everything below */
	char	   *schema_json;	/* "schema" as a JSON string */
	char	   *qualname_json;	/* "schema.table", for transaction metadata */
	int64		txn_count;		/* its changes in the current transaction */
	char	   *table_json;
	/* json format: {"op":"X","schema":..,"table":.., for X = c, u, d, t */
	char	   *head[5];
	int			head_len[5];
	int			natts;
	FvAttInfo  *atts;
	Datum	   *values;			/* deform buffers, natts each */
	bool	   *nulls;
	Datum	   *oldvalues;
	bool	   *oldnulls;
} FvRelInfo;

typedef struct FvData
{
	/* options */
	List	   *tables;			/* FvPattern *, NIL = all */
	List	   *exclude_tables;
	List	   *views;			/* FvPattern *: live views, by their changefeeds */
	List	   *mask;
	char	   *mask_salt;
	bool		include_transaction;
	bool		include_messages;
	FvFormat	format;
	bool		collect;		/* the apply worker's slot: see FV_COLLECTING */

	MemoryContext change_ctx;	/* reset after every change */
	MemoryContext cache_ctx;	/* relation cache */
	MemoryContextCallback forget_cb;	/* clears fv_relinfo_hash */
	FvRelInfo  *last_ri;		/* the entry get_relinfo returned last */
	char	   *dbname_json;	/* for Debezium's source.db; set lazily */

	/* per transaction */
	bool		begin_written;
	int64		nwritten;
	List	   *txn_rels;		/* FvRelInfo * with changes in this transaction */
	StringInfoData xact_fields; /* json: ,"xid":..; debezium: "txId":.. */
	StringInfoData xact_tail;	/* json: ,"commit_lsn":..}; debezium: ts_ms */
} FvData;

static HTAB *fv_relinfo_hash = NULL;
static bool fv_relcache_callback_registered = false;

extern void _PG_output_plugin_init(OutputPluginCallbacks *cb);

/*
 * Collect mode: the apply worker decodes in-process and, once its decoding
 * context exists, turns it into a collecting one with
 * fv_decoding_collect_into (ctx->output_writer_private becomes its FvBatch);
 * the callbacks then hand rows to worker/batch.c instead of writing JSON.
 * No option a client sends can switch this on: a walsender's or the SQL
 * interface's private state is no FvBatch.
 */
#define FV_COLLECTING(ctx) (((FvData *) (ctx)->output_plugin_private)->collect)

static bool fv_filter_by_origin(LogicalDecodingContext *ctx, RepOriginId origin_id);


static void fv_startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt,
					   bool is_init);
static void fv_shutdown(LogicalDecodingContext *ctx);
static void fv_forget_relinfo_hash(void *arg);
static void fv_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn);
static void fv_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
					  XLogRecPtr commit_lsn);
static void fv_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
					  Relation rel, ReorderBufferChange *change);
static void fv_truncate(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
						int nrelations, Relation relations[],
						ReorderBufferChange *change);
static void fv_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
					   XLogRecPtr lsn, bool transactional, const char *prefix,
					   Size sz, const char *message);

void
_PG_output_plugin_init(OutputPluginCallbacks *cb)
{
	cb->startup_cb = fv_startup;
	cb->begin_cb = fv_begin;
	cb->change_cb = fv_change;
	cb->truncate_cb = fv_truncate;
	cb->commit_cb = fv_commit;
	cb->message_cb = fv_message;
	cb->shutdown_cb = fv_shutdown;
	cb->filter_by_origin_cb = fv_filter_by_origin;
	/* no stream_* and no *_prepare callbacks: see the file header */
}

/* ----------------------------------------------------------------
 * Options
 * ----------------------------------------------------------------
 */

#define FV_OPTION_NAMES "tables, exclude-tables, views, mask, mask-salt, include-transaction, include-messages, format"

/*
 * Parse a comma-separated list of glob patterns.  Whitespace around each
 * pattern is ignored; a backslash makes the next character literal (to match
 * a ',', '*', '\' or leading/trailing space in a name).
 */
static List *
parse_patterns(const char *option, const char *value)
{
	List	   *result = NIL;
	const char *p = value;

	if (value == NULL || *value == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" needs a value", option),
				 errhint("Give a comma-separated list of schema.table patterns, e.g. 'public.orders,sales.*'.")));

	for (;;)
	{
		FvPattern  *pat = palloc(sizeof(FvPattern));
		int			cap = strlen(p) + 1;
		int			lastsig = 0;	/* length up to last significant char */

		pat->chars = palloc(cap);
		pat->literal = palloc(cap * sizeof(bool));
		pat->len = 0;
		while (*p == ' ' || *p == '\t')
			p++;
		while (*p != '\0' && *p != ',')
		{
			bool		lit = false;

			if (*p == '\\' && p[1] != '\0')
			{
				p++;
				lit = true;
			}
			pat->chars[pat->len] = *p;
			pat->literal[pat->len] = lit;
			pat->len++;
			if (lit || (*p != ' ' && *p != '\t'))
				lastsig = pat->len;
			p++;
		}
		pat->len = lastsig;
		if (pat->len == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" contains an empty pattern", option),
					 errdetail("The value was \"%s\".", value)));
		result = lappend(result, pat);
		if (*p == '\0')
			break;
		p++;					/* skip ',' */
	}
	return result;
}

/* Does the glob pat match str[0..len)?  Iterative, with one backtrack point. */
static bool
pattern_matches(const FvPattern *pat, const char *str, int len)
{
	int			pi = 0,
				si = 0;
	int			star_pi = -1,
				star_si = 0;

	while (si < len)
	{
		if (pi < pat->len && pat->chars[pi] == '*' && !pat->literal[pi])
		{
			star_pi = pi++;
			star_si = si;
		}
		else if (pi < pat->len && pat->chars[pi] == str[si])
		{
			pi++;
			si++;
		}
		else if (star_pi >= 0)
		{
			pi = star_pi + 1;
			si = ++star_si;
		}
		else
			return false;
	}
	while (pi < pat->len && pat->chars[pi] == '*' && !pat->literal[pi])
		pi++;
	return pi == pat->len;
}

static bool
any_pattern_matches(List *patterns, const char *str)
{
	ListCell   *lc;
	int			len = strlen(str);

	foreach(lc, patterns)
	{
		if (pattern_matches(lfirst(lc), str, len))
			return true;
	}
	return false;
}

static bool
parse_bool_option(const char *option, const char *value)
{
	bool		result;

	if (value == NULL)
		return true;
	if (!parse_bool(value, &result))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"", option, value),
				 errdetail("Allowed values are true and false (also on/off, yes/no, 1/0).")));
	return result;
}

/*
 * fv_startup
 *		Parse the slot's options; set up contexts and the relation cache.
 *
 * Throws ERROR naming the option for an unknown option or a bad value.
 */
/* The plugin's options (a list of DefElem) into data. */
static void
parse_options(FvData *data, List *options)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *elem = lfirst(lc);
		const char *name = elem->defname;
		const char *value = elem->arg ? strVal(elem->arg) : NULL;

		if (strcmp(name, "tables") == 0)
			data->tables = parse_patterns(name, value);
		else if (strcmp(name, "exclude-tables") == 0)
			data->exclude_tables = parse_patterns(name, value);
		else if (strcmp(name, "views") == 0)
			data->views = parse_patterns(name, value);
		else if (strcmp(name, "mask") == 0)
			data->mask = parse_patterns(name, value);
		else if (strcmp(name, "mask-salt") == 0)
			data->mask_salt = pstrdup(value ? value : "");
		else if (strcmp(name, "include-transaction") == 0)
			data->include_transaction = parse_bool_option(name, value);
		else if (strcmp(name, "include-messages") == 0)
			data->include_messages = parse_bool_option(name, value);
		else if (strcmp(name, "format") == 0)
		{
			if (value != NULL && strcmp(value, "json") == 0)
				data->format = FV_FORMAT_JSON;
			else if (value != NULL && strcmp(value, "debezium") == 0)
				data->format = FV_FORMAT_DEBEZIUM;
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid value for option \"format\": \"%s\"",
								value ? value : ""),
						 errdetail("Allowed values are \"json\" and \"debezium\".")));
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" is not recognized by pg_flowview", name),
					 errhint("Valid options are: %s.", FV_OPTION_NAMES)));
	}
}

static void
fv_startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt, bool is_init)
{
	FvData	   *data;
	HASHCTL		hctl;
	MemoryContext old;

	data = MemoryContextAllocZero(ctx->context, sizeof(FvData));
	data->format = FV_FORMAT_JSON;
	data->change_ctx = AllocSetContextCreate(ctx->context,
											 "pg_flowview change",
											 ALLOCSET_DEFAULT_SIZES);
	data->cache_ctx = AllocSetContextCreate(ctx->context,
											"pg_flowview relation cache",
											ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(ctx->context);
	initStringInfo(&data->xact_fields);
	initStringInfo(&data->xact_tail);

	parse_options(data, ctx->output_plugin_options);
	if (data->mask_salt == NULL)
		data->mask_salt = pstrdup(fv_mask_salt ? fv_mask_salt : "");
	MemoryContextSwitchTo(old);

	ctx->output_plugin_private = data;
	opt->output_type = OUTPUT_PLUGIN_TEXTUAL_OUTPUT;
	opt->receive_rewrites = false;
	/* never emit in-progress transactions (they may abort) */
	ctx->streaming = false;

	memset(&hctl, 0, sizeof(hctl));
	hctl.keysize = sizeof(Oid);
	hctl.entrysize = sizeof(FvRelInfo);
	hctl.hcxt = data->cache_ctx;
	fv_relinfo_hash = hash_create("pg_flowview relation cache", 128, &hctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	data->forget_cb.func = fv_forget_relinfo_hash;
	data->forget_cb.arg = fv_relinfo_hash;
	MemoryContextRegisterResetCallback(data->cache_ctx, &data->forget_cb);
}

/*
 * fv_decoding_collect_into
 *		Make ctx, a decoding context of this plugin that the apply worker
 *		created for itself, hand its rows to batch (collect mode).
 *
 * Only the apply worker calls this, right after CreateDecodingContext.
 */
void
fv_decoding_collect_into(LogicalDecodingContext *ctx, FvBatch *batch)
{
	FvData	   *data = (FvData *) ctx->output_plugin_private;

	Assert(data != NULL);
	data->collect = true;
	ctx->output_writer_private = batch;
}

static bool
fv_filter_by_origin(LogicalDecodingContext *ctx, RepOriginId origin_id)
{
	/* the apply worker skips its own writes (they carry its origin) */
	return FV_COLLECTING(ctx) && origin_id != InvalidRepOriginId;
}

static void
fv_shutdown(LogicalDecodingContext *ctx)
{
	/* the hash lives in ctx->context, which the caller frees */
	fv_relinfo_hash = NULL;
}

/*
 * The relcache callback outlives any one decoding context, and an error in
 * the middle of decoding frees the context without calling fv_shutdown: so
 * the context itself forgets the hash when it goes.
 */
static void
fv_forget_relinfo_hash(void *arg)
{
	if (fv_relinfo_hash == arg)
		fv_relinfo_hash = NULL;
}

/* ----------------------------------------------------------------
 * Relation cache
 * ----------------------------------------------------------------
 */

static void
fv_relcache_invalidate(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	FvRelInfo  *ri;

	if (fv_relinfo_hash == NULL)
		return;
	if (OidIsValid(relid))
	{
		ri = hash_search(fv_relinfo_hash, &relid, HASH_FIND, NULL);
		if (ri != NULL)
			ri->valid = false;
		return;
	}
	hash_seq_init(&status, fv_relinfo_hash);
	while ((ri = hash_seq_search(&status)) != NULL)
		ri->valid = false;
}

static char *
json_string_cstr(const char *s, const char *suffix, int *lenp)
{
	StringInfoData buf;

	initStringInfo(&buf);
	fv_append_json_string(&buf, s, strlen(s));
	appendStringInfoString(&buf, suffix);
	if (lenp)
		*lenp = buf.len;
	return buf.data;
}

/*
 * get_relinfo
 *		The cached description of rel, (re)built if missing or invalidated.
 *
 * Must run inside a decoding callback (catalog access under the historic
 * snapshot that matches the tuples being decoded).
 */
/*
 * The live view whose changefeed log relation rel is (flowview.fv_store_ID_f,
 * which enable_changefeed makes depend on the view: views/feed.c), or
 * InvalidOid.  Read from pg_depend under the decoding's historic snapshot.
 */
static Oid
feed_view_of(Relation rel)
{
	const char *name = RelationGetRelationName(rel);
	int			len = strlen(name);
	char	   *nsp = get_namespace_name(RelationGetNamespace(rel));
	Relation	dep;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			view = InvalidOid;

	if (nsp == NULL || strcmp(nsp, "flowview") != 0 || strncmp(name, "fv_store_", 9) != 0 ||
		len < 12 || strcmp(name + len - 2, "_f") != 0)
		return InvalidOid;
	dep = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_classid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RelationRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_objid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RelationGetRelid(rel)));
	scan = systable_beginscan(dep, DependDependerIndexId, true, NULL, 2, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend d = (Form_pg_depend) GETSTRUCT(tup);

		if (d->refclassid == RelationRelationId && d->deptype == DEPENDENCY_AUTO &&
			get_rel_relkind(d->refobjid) == RELKIND_VIEW)
			view = d->refobjid;
	}
	systable_endscan(scan);
	table_close(dep, AccessShareLock);
	return view;
}

static FvRelInfo *
get_relinfo(FvData *data, Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	FvRelInfo  *ri;
	bool		found;
	MemoryContext old;
	TupleDesc	desc = RelationGetDescr(rel);
	char	   *nspname;
	char	   *qualname;
	Bitmapset  *keyattrs = NULL;
	int			i;

	/* consecutive changes are mostly of one table: skip the hash lookup */
	if (data->last_ri != NULL && data->last_ri->relid == relid &&
		data->last_ri->valid)
		return data->last_ri;

	if (!fv_relcache_callback_registered)
	{
		CacheRegisterRelcacheCallback(fv_relcache_invalidate, (Datum) 0);
		fv_relcache_callback_registered = true;
	}

	ri = hash_search(fv_relinfo_hash, &relid, HASH_ENTER, &found);
	if (found && ri->valid)
	{
		data->last_ri = ri;
		return ri;
	}
	if (found)
		MemoryContextDelete(ri->mcxt);

	ri->valid = false;
	ri->mcxt = AllocSetContextCreate(data->cache_ctx, "pg_flowview relation",
									 ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(ri->mcxt);

	nspname = get_namespace_name(RelationGetNamespace(rel));
	qualname = psprintf("%s.%s", nspname, RelationGetRelationName(rel));
	/* views given alone: only the views */
	ri->selected = (data->tables == NIL ? data->views == NIL : any_pattern_matches(data->tables, qualname)) &&
		!any_pattern_matches(data->exclude_tables, qualname);
	ri->feed = false;
	if (data->views != NIL)
	{
		/* a changefeed's log: written as its view, if views names it */
		Oid			view = feed_view_of(rel);

		if (OidIsValid(view))
		{
			char	   *vnsp = get_namespace_name(get_rel_namespace(view));
			char	   *vname = get_rel_name(view);

			ri->feed = any_pattern_matches(data->views, psprintf("%s.%s", vnsp, vname));
			if (ri->feed)
			{
				nspname = vnsp;
				qualname = psprintf("%s.%s", vnsp, vname);
				ri->selected = true;
			}
		}
	}
	ri->replident = rel->rd_rel->relreplident;
	ri->schema_json = json_string_cstr(nspname, "", NULL);
	ri->qualname_json = json_string_cstr(qualname, "", NULL);
	ri->table_json = json_string_cstr(ri->feed ? qualname + strlen(nspname) + 1 : RelationGetRelationName(rel),
									  "", NULL);
	for (i = 0; i < lengthof(ri->head); i++)
	{
		char	   *head = psprintf("{\"op\":\"%c\",\"schema\":%s,\"table\":%s,",
									"cudtr"[i], ri->schema_json, ri->table_json);

		ri->head[i] = head;
		ri->head_len[i] = strlen(head);
	}

	if (ri->replident != REPLICA_IDENTITY_FULL)
		keyattrs = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_IDENTITY_KEY);

	ri->natts = desc->natts;
	ri->atts = palloc0(sizeof(FvAttInfo) * Max(desc->natts, 1));
	ri->values = palloc(sizeof(Datum) * Max(desc->natts, 1));
	ri->nulls = palloc(sizeof(bool) * Max(desc->natts, 1));
	ri->oldvalues = palloc(sizeof(Datum) * Max(desc->natts, 1));
	ri->oldnulls = palloc(sizeof(bool) * Max(desc->natts, 1));
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		FvAttInfo  *ai = &ri->atts[i];

		if (att->attisdropped)
		{
			ai->skip = true;
			continue;
		}
		ai->is_key = bms_is_member(att->attnum - FirstLowInvalidHeapAttributeNumber,
								   keyattrs);
		ai->varlena = (att->attlen == -1);
		ai->name_json = json_string_cstr(NameStr(att->attname), ":",
										 &ai->name_json_len);
		if (ri->feed && i >= 4)
		{
			/* __position, __seq, __op, __at; the view's columns; old_C */
			const char *col = NameStr(att->attname);
			int			j;

			ai->feed = 'n';
			for (j = 4; j < i; j++)
				if (strcmp(NameStr(TupleDescAttr(desc, j)->attname), col + 4) == 0 &&
					strncmp(col, "old_", 4) == 0)
				{
					ai->feed = 'o';
					ai->name_json = json_string_cstr(col + 4, ":", &ai->name_json_len);
				}
		}
		fv_typeout_init(&ai->typeout, att->atttypid, ri->mcxt);
		if (data->mask != NIL)
		{
			char	   *colname = psprintf("%s.%s", qualname, NameStr(att->attname));

			ai->masked = any_pattern_matches(data->mask, colname);
			if (ai->masked)
			{
				Oid			outfunc;
				bool		isvarlena;

				getTypeOutputInfo(att->atttypid, &outfunc, &isvarlena);
				fmgr_info_cxt(outfunc, &ai->mask_out, ri->mcxt);
			}
		}
	}
	MemoryContextSwitchTo(old);
	ri->valid = true;
	data->last_ri = ri;
	return ri;
}

/* ----------------------------------------------------------------
 * Writing
 * ----------------------------------------------------------------
 */

static void
append_iso_timestamp(StringInfo buf, TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		fsec;
	char		str[MAXDATELEN + 1];

	if (TIMESTAMP_NOT_FINITE(ts) ||
		timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
	{
		appendBinaryStringInfo(buf, "null", 4);
		return;
	}
	/* ISO 8601 in UTC: 2026-11-23T21:50:00.123456Z */
	EncodeDateTime(&tm, fsec, false, 0, NULL, USE_XSD_DATES, str);
	appendStringInfoCharMacro(buf, '"');
	appendStringInfoString(buf, str);
	appendBinaryStringInfo(buf, "Z\"", 2);
}

/* write v in upper-case hex without leading zeros (as %X) at dst; the length */
static inline int
write_hex32(char *dst, uint32 v)
{
	static const char digits[] = "0123456789ABCDEF";
	int			n = v == 0 ? 1 : (pg_leftmost_one_pos32(v) >> 2) + 1;
	int			i;

	for (i = n - 1; i >= 0; i--)
	{
		dst[i] = digits[v & 0xF];
		v >>= 4;
	}
	return n;
}

/* append "hi/lo" as PostgreSQL prints an LSN (upper-case hex), quoted; no snprintf */
static void
append_lsn_string(StringInfo buf, XLogRecPtr lsn)
{
	char	   *dst;

	if (unlikely(buf->len + 20 >= buf->maxlen))
		enlargeStringInfo(buf, 20);
	dst = buf->data + buf->len;
	*dst++ = '"';
	dst += write_hex32(dst, (uint32) (lsn >> 32));
	*dst++ = '/';
	dst += write_hex32(dst, (uint32) lsn);
	*dst++ = '"';
	*dst = '\0';
	buf->len = dst - buf->data;
}

static int64
timestamptz_to_unix_ms(TimestampTz ts)
{
	return ts / 1000 + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000;
}

/* Append the salted SHA-256 of value's text output, as a hex JSON string. */
static void
append_masked(StringInfo buf, FvData *data, FvAttInfo *ai, Datum value)
{
	char	   *text = OutputFunctionCall(&ai->mask_out, value);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char		hex[PG_SHA256_DIGEST_LENGTH * 2 + 3];
	pg_cryptohash_ctx *hctx = pg_cryptohash_create(PG_SHA256);

	if (pg_cryptohash_init(hctx) < 0 ||
		pg_cryptohash_update(hctx, (const uint8 *) data->mask_salt,
							 strlen(data->mask_salt)) < 0 ||
		pg_cryptohash_update(hctx, (const uint8 *) text, strlen(text)) < 0 ||
		pg_cryptohash_final(hctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute SHA-256 digest: %s",
			 pg_cryptohash_error(hctx));
	pg_cryptohash_free(hctx);
	hex[0] = '"';
	hex_encode((const char *) digest, sizeof(digest), hex + 1);
	hex[sizeof(hex) - 2] = '"';
	appendBinaryStringInfo(buf, hex, sizeof(hex) - 1);
}

/*
 * append_row
 *		Append tuple as a JSON object of its columns.
 *
 * keys_only writes only the replica identity key columns (an old tuple of a
 * table without REPLICA IDENTITY FULL carries nothing else).  oldtuple, if
 * not NULL, is the same row's old version with every column present (FULL):
 * unchanged TOASTed values of tuple, which decoding leaves as unreadable
 * on-disk pointers, are taken from it; without it they are written as
 * FV_UNCHANGED_TOAST_MARKER.
 */
static void
append_row(StringInfo buf, FvData *data, FvRelInfo *ri, TupleDesc desc,
		   HeapTuple tuple, HeapTuple oldtuple, bool keys_only)
{
	bool		first = true;
	bool		old_deformed = false;
	int			i;

	heap_deform_tuple(tuple, desc, ri->values, ri->nulls);
	fv_append_bytes(buf, "{", 1);
	for (i = 0; i < ri->natts; i++)
	{
		FvAttInfo  *ai = &ri->atts[i];
		Datum		value = ri->values[i];

		if (ai->skip || (keys_only && !ai->is_key))
			continue;
		if (!first)
			fv_append_bytes(buf, ",", 1);
		first = false;
		fv_append_bytes(buf, ai->name_json, ai->name_json_len);

		if (ri->nulls[i])
		{
			fv_append_bytes(buf, "null", 4);
			continue;
		}
		if (ai->varlena && VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(value)))
		{
			bool		resolved = false;

			if (oldtuple != NULL)
			{
				if (!old_deformed)
				{
					heap_deform_tuple(oldtuple, desc, ri->oldvalues, ri->oldnulls);
					old_deformed = true;
				}
				if (!ri->oldnulls[i] &&
					!VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(ri->oldvalues[i])))
				{
					value = ri->oldvalues[i];
					resolved = true;
				}
			}
			if (!resolved)
			{
				appendStringInfoString(buf, "\"" FV_UNCHANGED_TOAST_MARKER "\"");
				continue;
			}
		}
		if (ai->masked)
			append_masked(buf, data, ai, value);
		else
			fv_append_json_value(buf, &ai->typeout, value);
	}
	fv_append_bytes(buf, "}", 1);
}

/*
 * A changefeed log row as a change of its view: "before" (its key columns
 * and old_ values, for an update or delete) and "after" (the view's
 * columns, for an insert or update).  Returns the op (c, u, d).
 */
static char
append_feed_row(StringInfo buf, FvData *data, FvRelInfo *ri, TupleDesc desc, HeapTuple tuple)
{
	char	   *op;
	char		c;
	int			pass;

	heap_deform_tuple(tuple, desc, ri->values, ri->nulls);
	op = ri->nulls[2] ? "" : TextDatumGetCString(ri->values[2]);
	c = strcmp(op, "insert") == 0 ? 'c' : strcmp(op, "delete") == 0 ? 'd' : 'u';
	for (pass = 0; pass < 2; pass++)
	{
		bool		first = true;
		int			i;

		fv_append_bytes(buf, pass == 0 ? "\"before\":" : ",\"after\":", pass == 0 ? 9 : 9);
		if ((pass == 0 && c == 'c') || (pass == 1 && c == 'd'))
		{
			fv_append_bytes(buf, "null", 4);
			continue;
		}
		fv_append_bytes(buf, "{", 1);
		for (i = 0; i < ri->natts; i++)
		{
			FvAttInfo  *ai = &ri->atts[i];
			int			k = i;
			int			j;

			if (ai->skip || ai->feed == 0)
				continue;
			if (pass == 0)
			{
				/* before: the keys (no old_ twin) as they are, the others' old_ values */
				if (ai->feed == 'o')
					continue;
				for (j = i + 1; j < ri->natts; j++)
					if (ri->atts[j].feed == 'o' && ri->atts[j].name_json_len == ai->name_json_len &&
						memcmp(ri->atts[j].name_json, ai->name_json, ai->name_json_len) == 0)
						k = j;
			}
			else if (ai->feed == 'o')
				continue;
			if (!first)
				fv_append_bytes(buf, ",", 1);
			first = false;
			fv_append_bytes(buf, ai->name_json, ai->name_json_len);
			if (ri->nulls[k])
				fv_append_bytes(buf, "null", 4);
			else if (ri->atts[k].masked)
				append_masked(buf, data, &ri->atts[k], ri->values[k]);
			else
				fv_append_json_value(buf, &ri->atts[k].typeout, ri->values[k]);
		}
		fv_append_bytes(buf, "}", 1);
	}
	return c;
}

/*
 * Per-transaction constant fields, computed once in fv_begin.
 *	json:     xact_fields = ,"xid":N,"lsn":       (the change's lsn follows)
 *	          xact_tail   = ,"commit_lsn":"..","commit_time":".."}
 *	debezium: xact_fields = ,"txId":N,"lsn":       (inside "source")
 *	          xact_tail   = },"op":                 is written per change
 */
static void
prepare_xact_fields(FvData *data, ReorderBufferTXN *txn)
{
	resetStringInfo(&data->xact_fields);
	resetStringInfo(&data->xact_tail);
	if (data->format == FV_FORMAT_JSON)
	{
		appendStringInfo(&data->xact_fields, ",\"xid\":%u,\"lsn\":", txn->xid);
		appendBinaryStringInfo(&data->xact_tail, ",\"commit_lsn\":", 14);
		append_lsn_string(&data->xact_tail, txn->final_lsn);
		appendBinaryStringInfo(&data->xact_tail, ",\"commit_time\":", 15);
		append_iso_timestamp(&data->xact_tail, txn->xact_time.commit_time);
		appendStringInfoCharMacro(&data->xact_tail, '}');
	}
	else
	{
		appendStringInfo(&data->xact_fields, ",\"txId\":%u,\"lsn\":", txn->xid);
		appendStringInfo(&data->xact_tail, ",\"ts_ms\":" INT64_FORMAT,
						 timestamptz_to_unix_ms(txn->xact_time.commit_time));
	}
}

static const char *
get_dbname_json(FvData *data)
{
	if (data->dbname_json == NULL)
	{
		char	   *name = get_database_name(MyDatabaseId);

		data->dbname_json = MemoryContextStrdup(data->cache_ctx,
												json_string_cstr(name ? name : "", "", NULL));
	}
	return data->dbname_json;
}

/* Debezium's "source" block for a change of (schema_json, table_json) at lsn */
static void
append_debezium_source(StringInfo out, FvData *data, ReorderBufferTXN *txn,
					   const char *schema_json, const char *table_json,
					   XLogRecPtr lsn)
{
	appendStringInfoString(out, ",\"source\":{\"version\":\"" FV_VERSION
						   "\",\"connector\":\"pg_flowview\",\"name\":\"pg_flowview\",\"db\":");
	appendStringInfoString(out, get_dbname_json(data));
	appendStringInfoString(out, ",\"schema\":");
	appendStringInfoString(out, schema_json);
	appendStringInfoString(out, ",\"table\":");
	appendStringInfoString(out, table_json);
	if (txn != NULL)
	{
		appendBinaryStringInfo(out, data->xact_fields.data, data->xact_fields.len);
		appendStringInfo(out, UINT64_FORMAT, (uint64) lsn);
		appendBinaryStringInfo(out, data->xact_tail.data, data->xact_tail.len);
	}
	else
		appendStringInfo(out, ",\"txId\":null,\"lsn\":" UINT64_FORMAT, (uint64) lsn);
	appendStringInfoCharMacro(out, '}');
}

static void
write_begin_if_needed(LogicalDecodingContext *ctx, FvData *data,
					  ReorderBufferTXN *txn)
{
	StringInfo	out = ctx->out;

	if (!data->include_transaction || data->begin_written)
		return;
	data->begin_written = true;
	OutputPluginPrepareWrite(ctx, true);
	if (data->format == FV_FORMAT_JSON)
	{
		appendStringInfo(out, "{\"op\":\"B\",\"xid\":%u,\"commit_lsn\":", txn->xid);
		append_lsn_string(out, txn->final_lsn);
		appendStringInfoString(out, ",\"commit_time\":");
		append_iso_timestamp(out, txn->xact_time.commit_time);
		appendStringInfoCharMacro(out, '}');
	}
	else
		appendStringInfo(out, "{\"status\":\"BEGIN\",\"id\":\"%u:" UINT64_FORMAT
						 "\",\"event_count\":null,\"ts_ms\":" INT64_FORMAT "}",
						 txn->xid, (uint64) txn->final_lsn,
						 timestamptz_to_unix_ms(txn->xact_time.commit_time));
	OutputPluginWrite(ctx, true);
}

/* the per-table counts start again (relation entries stay where they are in the hash) */
static void
foreach_reset_counts(FvData *data)
{
	ListCell   *lc;

	foreach(lc, data->txn_rels)
		((FvRelInfo *) lfirst(lc))->txn_count = 0;
	list_free(data->txn_rels);
	data->txn_rels = NIL;
}

/* one more change of ri written in this transaction */
static void
count_change(LogicalDecodingContext *ctx, FvData *data, FvRelInfo *ri)
{
	data->nwritten++;
	if (ri->txn_count++ == 0)
	{
		MemoryContext old = MemoryContextSwitchTo(ctx->context);

		data->txn_rels = lappend(data->txn_rels, ri);
		MemoryContextSwitchTo(old);
	}
}

static void
fv_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	FvData	   *data = ctx->output_plugin_private;

	if (FV_COLLECTING(ctx))
		return;
	data->begin_written = false;
	data->nwritten = 0;
	foreach_reset_counts(data);
	prepare_xact_fields(data, txn);
}

static void
fv_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
		  XLogRecPtr commit_lsn)
{
	FvData	   *data = ctx->output_plugin_private;
	StringInfo	out = ctx->out;

	if (FV_COLLECTING(ctx))
	{
		fv_batch_commit(ctx->output_writer_private, txn);
		return;
	}
	if (!data->begin_written)
		return;
	OutputPluginPrepareWrite(ctx, true);
	if (data->format == FV_FORMAT_JSON)
	{
		appendStringInfo(out, "{\"op\":\"C\",\"xid\":%u,\"commit_lsn\":", txn->xid);
		append_lsn_string(out, txn->final_lsn);
		appendStringInfoString(out, ",\"commit_time\":");
		append_iso_timestamp(out, txn->xact_time.commit_time);
		appendStringInfo(out, ",\"changes\":" INT64_FORMAT ",\"data_collections\":", data->nwritten);
	}
	else
		appendStringInfo(out, "{\"status\":\"END\",\"id\":\"%u:" UINT64_FORMAT
						 "\",\"event_count\":" INT64_FORMAT ",\"ts_ms\":" INT64_FORMAT ",\"data_collections\":",
						 txn->xid, (uint64) txn->final_lsn, data->nwritten,
						 timestamptz_to_unix_ms(txn->xact_time.commit_time));
	/* Debezium's per-table counts of the transaction (tables, views) */
	{
		ListCell   *lc;

		appendStringInfoCharMacro(out, '[');
		foreach(lc, data->txn_rels)
		{
			FvRelInfo  *ri = lfirst(lc);

			appendStringInfo(out, "%s{\"data_collection\":%s,\"event_count\":" INT64_FORMAT "}",
							 foreach_current_index(lc) > 0 ? "," : "", ri->qualname_json, ri->txn_count);
		}
		appendStringInfoString(out, "]}");
	}
	OutputPluginWrite(ctx, true);
}

/* Start one change line: the fields before "before". */
static void
start_change(StringInfo out, FvData *data, char op, FvRelInfo *ri)
{
	if (data->format == FV_FORMAT_JSON)
	{
		int			i = op == 'c' ? 0 : op == 'u' ? 1 : op == 'd' ? 2 : op == 't' ? 3 : 4;

		fv_append_bytes(out, ri->head[i], ri->head_len[i]);
	}
	else
		fv_append_bytes(out, "{", 1);
}

/* Finish one change line: the fields after "after". */
static void
finish_change(StringInfo out, FvData *data, ReorderBufferTXN *txn, char op,
			  FvRelInfo *ri, XLogRecPtr lsn)
{
	if (data->format == FV_FORMAT_JSON)
	{
		fv_append_bytes(out, data->xact_fields.data, data->xact_fields.len);
		append_lsn_string(out, lsn);
		fv_append_bytes(out, data->xact_tail.data, data->xact_tail.len);
	}
	else
	{
		append_debezium_source(out, data, txn, ri->schema_json, ri->table_json, lsn);
		appendStringInfo(out, ",\"op\":\"%c\",\"ts_ms\":" INT64_FORMAT "}", op,
						 timestamptz_to_unix_ms(GetCurrentTimestamp()));
	}
}

static void
fv_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
		  Relation rel, ReorderBufferChange *change)
{
	FvData	   *data = ctx->output_plugin_private;
	StringInfo	out = ctx->out;
	FvRelInfo  *ri;
	MemoryContext old;
	TupleDesc	desc = RelationGetDescr(rel);
	HeapTuple	newtuple = NULL;
	HeapTuple	oldtuple = NULL;
	char		op;

	if (FV_COLLECTING(ctx))
	{
		fv_batch_change(ctx->output_writer_private, txn, rel, change);
		return;
	}
	ri = get_relinfo(data, rel);
	if (!ri->selected)
		return;

	switch (change->action)
	{
		case REORDER_BUFFER_CHANGE_INSERT:
			op = 'c';
			break;
		case REORDER_BUFFER_CHANGE_UPDATE:
			op = 'u';
			break;
		case REORDER_BUFFER_CHANGE_DELETE:
			op = 'd';
			break;
		default:
			return;				/* not a row change we emit */
	}
	if (change->data.tp.newtuple != NULL)
		newtuple = &change->data.tp.newtuple->tuple;
	if (change->data.tp.oldtuple != NULL)
		oldtuple = &change->data.tp.oldtuple->tuple;

	old = MemoryContextSwitchTo(data->change_ctx);
	if (ri->feed)
	{
		/* a view's change: its log's inserts (its deletes are the keep's trimming) */
		StringInfoData row;

		if (op != 'c' || newtuple == NULL)
		{
			MemoryContextSwitchTo(old);
			MemoryContextReset(data->change_ctx);
			return;
		}
		write_begin_if_needed(ctx, data, txn);
		initStringInfo(&row);
		op = append_feed_row(&row, data, ri, desc, newtuple);
		OutputPluginPrepareWrite(ctx, true);
		start_change(out, data, op, ri);
		fv_append_bytes(out, row.data, row.len);
		finish_change(out, data, txn, op, ri, change->lsn);
		OutputPluginWrite(ctx, true);
		count_change(ctx, data, ri);
		MemoryContextSwitchTo(old);
		MemoryContextReset(data->change_ctx);
		return;
	}
	write_begin_if_needed(ctx, data, txn);

	OutputPluginPrepareWrite(ctx, true);
	start_change(out, data, op, ri);

	if (oldtuple != NULL)
	{
		fv_append_bytes(out, "\"before\":", 9);
		append_row(out, data, ri, desc, oldtuple, NULL,
				   ri->replident != REPLICA_IDENTITY_FULL);
		fv_append_bytes(out, ",\"after\":", 9);
	}
	else
		fv_append_bytes(out, "\"before\":null,\"after\":", 22);

	if (newtuple != NULL)
		append_row(out, data, ri, desc, newtuple,
				   ri->replident == REPLICA_IDENTITY_FULL ? oldtuple : NULL,
				   false);
	else
		fv_append_bytes(out, "null", 4);

	finish_change(out, data, txn, op, ri, change->lsn);
	OutputPluginWrite(ctx, true);
	count_change(ctx, data, ri);

	MemoryContextSwitchTo(old);
	MemoryContextReset(data->change_ctx);
}

static void
fv_truncate(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
			int nrelations, Relation relations[], ReorderBufferChange *change)
{
	FvData	   *data = ctx->output_plugin_private;
	StringInfo	out = ctx->out;
	MemoryContext old;
	int			i;

	if (FV_COLLECTING(ctx))
	{
		fv_batch_truncate(ctx->output_writer_private, txn, nrelations, relations);
		return;
	}
	old = MemoryContextSwitchTo(data->change_ctx);
	for (i = 0; i < nrelations; i++)
	{
		FvRelInfo  *ri = get_relinfo(data, relations[i]);

		if (!ri->selected)
			continue;
		write_begin_if_needed(ctx, data, txn);
		OutputPluginPrepareWrite(ctx, true);
		start_change(out, data, 't', ri);
		appendStringInfoString(out, "\"before\":null,\"after\":null");
		finish_change(out, data, txn, 't', ri, change->lsn);
		OutputPluginWrite(ctx, true);
		count_change(ctx, data, ri);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(data->change_ctx);
}

/*
 * fv_message
 *		pg_logical_emit_message() messages, when include-messages is on.
 *
 * Transactional messages arrive in their transaction, at its commit;
 * non-transactional ones arrive at once and have no commit fields (txn may
 * be NULL).  The content is written as a JSON string when it is valid text
 * in the database encoding, else as "content_base64".
 */
static void
fv_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
		   XLogRecPtr lsn, bool transactional, const char *prefix,
		   Size sz, const char *message)
{
	FvData	   *data = ctx->output_plugin_private;
	StringInfo	out = ctx->out;
	MemoryContext old;
	bool		is_text;

	if (FV_COLLECTING(ctx))
	{
		if (transactional)
			fv_batch_message(ctx->output_writer_private, txn, prefix, sz, message);
		return;
	}
	if (!data->include_messages)
		return;

	old = MemoryContextSwitchTo(data->change_ctx);
	if (transactional)
		write_begin_if_needed(ctx, data, txn);
	is_text = data->format == FV_FORMAT_JSON &&
		memchr(message, '\0', sz) == NULL &&
		pg_verify_mbstr(GetDatabaseEncoding(), message, sz, true);

	OutputPluginPrepareWrite(ctx, true);
	if (data->format == FV_FORMAT_JSON)
	{
		appendStringInfo(out, "{\"op\":\"m\",\"transactional\":%s,\"prefix\":",
						 transactional ? "true" : "false");
		fv_append_json_string(out, prefix, strlen(prefix));
	}
	else
	{
		appendStringInfo(out, "{\"op\":\"m\",\"transactional\":%s,\"message\":{\"prefix\":",
						 transactional ? "true" : "false");
		fv_append_json_string(out, prefix, strlen(prefix));
	}

	if (is_text)
	{
		appendStringInfoString(out, ",\"content\":");
		fv_append_json_string(out, message, sz);
	}
	else
	{
		int			enclen = pg_b64_enc_len(sz);
		char	   *enc = palloc(enclen + 1);
		int			n = pg_b64_encode(message, sz, enc, enclen);

		if (n < 0)
			elog(ERROR, "could not encode logical message as base64");
		appendStringInfoString(out, data->format == FV_FORMAT_JSON ?
							   ",\"content_base64\":\"" : ",\"content\":\"");
		appendBinaryStringInfo(out, enc, n);
		appendStringInfoCharMacro(out, '"');
	}

	if (data->format == FV_FORMAT_JSON)
	{
		if (transactional)
		{
			appendBinaryStringInfo(out, data->xact_fields.data, data->xact_fields.len);
			append_lsn_string(out, lsn);
			appendBinaryStringInfo(out, data->xact_tail.data, data->xact_tail.len);
		}
		else
		{
			if (txn != NULL && TransactionIdIsValid(txn->xid))
				appendStringInfo(out, ",\"xid\":%u", txn->xid);
			else
				appendStringInfoString(out, ",\"xid\":null");
			appendStringInfoString(out, ",\"lsn\":");
			append_lsn_string(out, lsn);
			appendStringInfoString(out, ",\"commit_lsn\":null,\"commit_time\":null}");
		}
	}
	else
	{
		appendStringInfoCharMacro(out, '}');
		append_debezium_source(out, data, transactional ? txn : NULL,
							   "\"\"", "\"\"", lsn);
		appendStringInfo(out, ",\"ts_ms\":" INT64_FORMAT "}",
						 timestamptz_to_unix_ms(GetCurrentTimestamp()));
	}
	OutputPluginWrite(ctx, true);
	if (transactional)
		data->nwritten++;
	MemoryContextSwitchTo(old);
	MemoryContextReset(data->change_ctx);
}

/* ----------------------------------------------------------------
 * The initial snapshot of a new CDC consumer
 * ----------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(fv_cdc_snapshot);

/*
 * flowview.cdc_snapshot(options text[] DEFAULT '{}') RETURNS SETOF text
 *
 * The rows of the tables the plugin would stream with these options (the
 * plugin's own name/value pairs: tables, exclude-tables, mask, mask-salt,
 * format), one line each with op "r", written as the plugin writes rows:
 * as of the calling transaction's snapshot, which must be REPEATABLE READ
 * (or SERIALIZABLE), typically imported with SET TRANSACTION SNAPSHOT from
 * the slot's creation (CREATE_REPLICATION_SLOT ... EXPORT_SNAPSHOT): the
 * slot then streams exactly the changes committed after these rows.  Each
 * table is read as the caller, who needs SELECT on it; one under row-level
 * security that applies to the caller is refused (its stream would not be).
 */
Datum
fv_cdc_snapshot(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;
	List	   *options = NIL;
	FvData	   *data;
	MemoryContext cxt;
	MemoryContext old;
	HASHCTL		hctl;
	Relation	pgclass;
	TableScanDesc cscan;
	HeapTuple	ctup;
	List	   *relids = NIL;
	ListCell   *lc;
	StringInfoData line;
	HTAB	   *saved_hash = fv_relinfo_hash;

	if (!IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("flowview.cdc_snapshot must run in a REPEATABLE READ or SERIALIZABLE transaction"),
				 errhint("BEGIN ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT '...' (the slot's exported snapshot); then call it.")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n % 2 != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be name/value pairs"),
				 errhint("For example ARRAY['tables', 'public.*', 'format', 'debezium'].")));
	for (i = 0; i < n; i += 2)
	{
		char	   *name;

		if (nulls[i] || nulls[i + 1])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("options must not contain NULL")));
		name = TextDatumGetCString(elems[i]);
		if (strcmp(name, "views") == 0 || strcmp(name, "include-transaction") == 0 ||
			strcmp(name, "include-messages") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" does not apply to a snapshot", name),
					 errhint("A live view's snapshot is its changefeed function with NULL: <view>_changes(NULL).")));
		options = lappend(options, makeDefElem(name, (Node *) makeString(TextDatumGetCString(elems[i + 1])), -1));
	}

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_flowview snapshot", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	data = palloc0(sizeof(FvData));
	data->format = FV_FORMAT_JSON;
	data->cache_ctx = cxt;
	parse_options(data, options);
	if (data->mask_salt == NULL)
		data->mask_salt = pstrdup(fv_mask_salt ? fv_mask_salt : "");
	memset(&hctl, 0, sizeof(hctl));
	hctl.keysize = sizeof(Oid);
	hctl.entrysize = sizeof(FvRelInfo);
	hctl.hcxt = cxt;
	fv_relinfo_hash = hash_create("pg_flowview snapshot relations", 64, &hctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	/* (the plugin's relation cache is this function's until it returns) */
	PG_TRY();
	{
	/* the tables whose changes the stream carries: permanent, not the system's */
	pgclass = table_open(RelationRelationId, AccessShareLock);
	cscan = table_beginscan_catalog(pgclass, 0, NULL);
	while ((ctup = heap_getnext(cscan, ForwardScanDirection)) != NULL)
	{
		Form_pg_class c = (Form_pg_class) GETSTRUCT(ctup);
		char	   *nsp;

		if (c->relkind != RELKIND_RELATION || c->relpersistence != RELPERSISTENCE_PERMANENT ||
			c->relnamespace == PG_CATALOG_NAMESPACE || c->relnamespace == PG_TOAST_NAMESPACE ||
			IsCatalogRelationOid(c->oid))
			continue;
		nsp = get_namespace_name(c->relnamespace);	/* NULL: dropped meanwhile */
		if (nsp != NULL && strcmp(nsp, "information_schema") != 0)
			relids = lappend_oid(relids, c->oid);
	}
	table_endscan(cscan);
	table_close(pgclass, AccessShareLock);
	list_sort(relids, list_oid_cmp);

	initStringInfo(&line);
	foreach(lc, relids)
	{
		Relation	rel = try_relation_open(lfirst_oid(lc), AccessShareLock);
		FvRelInfo  *ri;
		TableScanDesc scan;
		HeapTuple	tup;

		if (rel == NULL)
			continue;			/* dropped meanwhile */
		data->last_ri = NULL;
		ri = get_relinfo(data, rel);
		if (!ri->selected || ri->feed)
		{
			relation_close(rel, AccessShareLock);
			continue;
		}
		if (pg_class_aclcheck(RelationGetRelid(rel), GetUserId(), ACL_SELECT) != ACLCHECK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for table %s", RelationGetRelationName(rel)),
					 errhint("Grant SELECT on it, or leave it out with the tables or exclude-tables option.")));
		if (check_enable_rls(RelationGetRelid(rel), InvalidOid, false) == RLS_ENABLED)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("table %s has row-level security that applies to you: its snapshot would not match its stream",
							RelationGetRelationName(rel)),
					 errhint("Take the snapshot as a role that bypasses it (as the stream does), or leave the table out.")));
		scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
		while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
		{
			CHECK_FOR_INTERRUPTS();
			resetStringInfo(&line);
			start_change(&line, data, 'r', ri);
			fv_append_bytes(&line, "\"before\":null,\"after\":", 22);
			append_row(&line, data, ri, RelationGetDescr(rel), tup, NULL, false);
			if (data->format == FV_FORMAT_JSON)
				fv_append_bytes(&line, "}", 1);
			else
			{
				append_debezium_source(&line, data, NULL, ri->schema_json, ri->table_json, InvalidXLogRecPtr);
				line.len--;		/* the source's closing brace: one more field first */
				appendStringInfo(&line, ",\"snapshot\":\"true\"},\"op\":\"r\",\"ts_ms\":" INT64_FORMAT "}",
								 timestamptz_to_unix_ms(GetCurrentTimestamp()));
			}
			{
				Datum		values[1];
				bool		isnull[1] = {false};

				values[0] = PointerGetDatum(cstring_to_text_with_len(line.data, line.len));
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, isnull);
			}
		}
		table_endscan(scan);
		relation_close(rel, AccessShareLock);
	}
	}
	PG_FINALLY();
	{
		fv_relinfo_hash = saved_hash;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return (Datum) 0;
}
