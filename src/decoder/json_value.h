/*-------------------------------------------------------------------------
 *
 * json_value.h
 *	  Writing column values as typed JSON, fast.
 *
 * A FvTypeOut is resolved once per column (per relation version) and then
 * used for every value of that column: it says how the value is written
 * (JSON number, boolean, embedded JSON, array, or string) and caches the
 * output function for the types that need one.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FV_JSON_VALUE_H
#define FV_JSON_VALUE_H

#include "fmgr.h"
#include "lib/stringinfo.h"

typedef enum FvValueKind
{
	FV_INT2,					/* JSON number, formatted directly */
	FV_INT4,
	FV_INT8,
	FV_BOOL,					/* true / false */
	FV_TEXTLIKE,				/* text, varchar, bpchar: escaped from bytes */
	FV_FLOAT4,					/* number; NaN/Infinity as strings */
	FV_FLOAT8,
	FV_NUMERIC,					/* number keeping every digit; NaN/Inf strings */
	FV_TIMESTAMPTZ,				/* string, as timestamptz_out writes it */
	FV_TIMESTAMP,				/* string, as timestamp_out writes it */
	FV_JSON,					/* json, jsonb: embedded as is */
	FV_ARRAY,					/* JSON array of typed elements */
	FV_OTHER					/* the type's text output, as a JSON string */
} FvValueKind;

typedef struct FvTypeOut
{
	FvValueKind kind;
	Oid			typid;			/* base type (domains resolved) */
	FmgrInfo	outfunc;		/* valid for all kinds but INT*, BOOL, TEXTLIKE
								 * and ARRAY (the rare cases of the fast
								 * paths fall back to it) */
	/* for arrays: the element type */
	int16		elmlen;
	bool		elmbyval;
	char		elmalign;
	struct FvTypeOut *elem;
} FvTypeOut;

/*
 * Append len bytes to buf: an inlined appendBinaryStringInfo for the small
 * pieces a change is made of (the capacity test is all that usually runs).
 */
static inline void
fv_append_bytes(StringInfo buf, const char *s, int len)
{
	if (unlikely(buf->len + len >= buf->maxlen))
		enlargeStringInfo(buf, len);
	memcpy(buf->data + buf->len, s, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
}

/* Resolve how values of type typid are written; allocations go to mcxt. */
extern void fv_typeout_init(FvTypeOut *out, Oid typid, MemoryContext mcxt);

/* Append one non-null value of the resolved type as JSON. */
extern void fv_append_json_value(StringInfo buf, const FvTypeOut *out, Datum value);

/* Append (s, len) as a JSON string literal, escaping as RFC 8259 requires. */
extern void fv_append_json_string(StringInfo buf, const char *s, int len);

#endif							/* FV_JSON_VALUE_H */
