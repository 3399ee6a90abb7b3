/*-------------------------------------------------------------------------
 *
 * json_value.c
 *	  Column values as typed JSON.
 *
 * This is the hot path of the CDC output plugin: every column of every
 * decoded row passes through fv_append_json_value.  The common types are
 * therefore written without calling their output functions (integers are
 * formatted in place, text is escaped straight from its bytes) and escaping
 * copies unescaped runs in one piece.  Types without a JSON counterpart fall
 * back to their text output, as a JSON string.
 *
 * Value mapping (documented in the README):
 *	int2/int4/int8          JSON number
 *	float4/float8           JSON number; NaN, Infinity, -Infinity as strings
 *	numeric                 JSON number with every digit; NaN/Infinity strings
 *	bool                    true / false
 *	json, jsonb             embedded JSON
 *	arrays                  JSON arrays (nested for several dimensions) of
 *	                        element values mapped by these same rules
 *	everything else         the type's text output, as a JSON string
 * Domains are written as their base type.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "decoder/json_value.h"

/*
 * fv_typeout_init
 *		Decide how values of typid are written and cache what that needs.
 *
 * Allocations (the element descriptor of arrays, fmgr extra state) are made
 * in mcxt, which must live as long as *out is used.
 */
void
fv_typeout_init(FvTypeOut *out, Oid typid, MemoryContext mcxt)
{
	Oid			basetype = getBaseType(typid);
	Oid			elemtype;
	Oid			outfuncoid;
	bool		isvarlena;

	memset(out, 0, sizeof(*out));
	out->typid = basetype;

	switch (basetype)
	{
		case INT2OID:
			out->kind = FV_INT2;
			return;
		case INT4OID:
			out->kind = FV_INT4;
			return;
		case INT8OID:
			out->kind = FV_INT8;
			return;
		case BOOLOID:
			out->kind = FV_BOOL;
			return;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			out->kind = FV_TEXTLIKE;
			return;
		case FLOAT4OID:
		case FLOAT8OID:
			out->kind = FV_FLOAT;
			break;
		case NUMERICOID:
			out->kind = FV_NUMERIC;
			break;
		case JSONOID:
		case JSONBOID:
			out->kind = FV_JSON;
			break;
		default:
			elemtype = get_element_type(basetype);
			if (OidIsValid(elemtype))
			{
				out->kind = FV_ARRAY;
				get_typlenbyvalalign(elemtype, &out->elmlen, &out->elmbyval,
									 &out->elmalign);
				out->elem = MemoryContextAlloc(mcxt, sizeof(FvTypeOut));
				fv_typeout_init(out->elem, elemtype, mcxt);
				return;
			}
			out->kind = FV_OTHER;
			break;
	}

	getTypeOutputInfo(basetype, &outfuncoid, &isvarlena);
	fmgr_info_cxt(outfuncoid, &out->outfunc, mcxt);
}

/*
 * fv_append_json_string
 *		Append s[0..len) as a JSON string literal.
 *
 * Quotes, backslashes and control characters are escaped; everything else,
 * non-ASCII UTF-8 included, is copied through unchanged.
 */
void
fv_append_json_string(StringInfo buf, const char *s, int len)
{
	const char *run = s;
	const char *end = s + len;
	const char *p;

	enlargeStringInfo(buf, len + 2);
	buf->data[buf->len++] = '"';
	for (p = s; p < end; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (likely(c >= 0x20 && c != '"' && c != '\\'))
			continue;
		if (p > run)
			appendBinaryStringInfo(buf, run, p - run);
		run = p + 1;
		switch (c)
		{
			case '"':
				appendBinaryStringInfo(buf, "\\\"", 2);
				break;
			case '\\':
				appendBinaryStringInfo(buf, "\\\\", 2);
				break;
			case '\b':
				appendBinaryStringInfo(buf, "\\b", 2);
				break;
			case '\f':
				appendBinaryStringInfo(buf, "\\f", 2);
				break;
			case '\n':
				appendBinaryStringInfo(buf, "\\n", 2);
				break;
			case '\r':
				appendBinaryStringInfo(buf, "\\r", 2);
				break;
			case '\t':
				appendBinaryStringInfo(buf, "\\t", 2);
				break;
			default:
				appendStringInfo(buf, "\\u%04x", c);
				break;
		}
	}
	if (end > run)
		appendBinaryStringInfo(buf, run, end - run);
	appendStringInfoCharMacro(buf, '"');
}

/* Is this float/numeric text output one of NaN, Infinity, -Infinity? */
static inline bool
is_nonfinite_text(const char *s)
{
	return s[0] == 'N' || s[0] == 'I' || (s[0] == '-' && s[1] == 'I');
}

/* Append the elements of one array dimension (and those below it). */
static void
append_array_level(StringInfo buf, const FvTypeOut *elem, int ndim,
				   const int *dims, int level, Datum *elems, bool *nulls,
				   int *pos)
{
	int			i;

	appendStringInfoCharMacro(buf, '[');
	for (i = 0; i < dims[level]; i++)
	{
		if (i > 0)
			appendStringInfoCharMacro(buf, ',');
		if (level + 1 < ndim)
			append_array_level(buf, elem, ndim, dims, level + 1, elems, nulls,
							   pos);
		else
		{
			if (nulls[*pos])
				appendBinaryStringInfo(buf, "null", 4);
			else
				fv_append_json_value(buf, elem, elems[*pos]);
			(*pos)++;
		}
	}
	appendStringInfoCharMacro(buf, ']');
}

/*
 * fv_append_json_value
 *		Append a non-null value as typed JSON.
 *
 * The value may be compressed or stored out of line (it is detoasted here),
 * but must not be an on-disk TOAST pointer of a decoded tuple: the caller
 * resolves those (see output_plugin.c).
 */
void
fv_append_json_value(StringInfo buf, const FvTypeOut *out, Datum value)
{
	char	   *str;

	switch (out->kind)
	{
		case FV_INT2:
			enlargeStringInfo(buf, 8);
			buf->len += pg_ltoa(DatumGetInt16(value), buf->data + buf->len);
			return;
		case FV_INT4:
			enlargeStringInfo(buf, 12);
			buf->len += pg_ltoa(DatumGetInt32(value), buf->data + buf->len);
			return;
		case FV_INT8:
			enlargeStringInfo(buf, MAXINT8LEN + 1);
			buf->len += pg_lltoa(DatumGetInt64(value), buf->data + buf->len);
			return;
		case FV_BOOL:
			if (DatumGetBool(value))
				appendBinaryStringInfo(buf, "true", 4);
			else
				appendBinaryStringInfo(buf, "false", 5);
			return;
		case FV_TEXTLIKE:
			{
				struct varlena *v = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(value));

				fv_append_json_string(buf, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
				return;
			}
		case FV_FLOAT:
		case FV_NUMERIC:
			str = OutputFunctionCall((FmgrInfo *) &out->outfunc, value);
			if (is_nonfinite_text(str))
				fv_append_json_string(buf, str, strlen(str));
			else
				appendStringInfoString(buf, str);
			return;
		case FV_JSON:
			str = OutputFunctionCall((FmgrInfo *) &out->outfunc, value);
			appendStringInfoString(buf, str);
			return;
		case FV_ARRAY:
			{
				ArrayType  *arr = DatumGetArrayTypeP(value);
				int			ndim = ARR_NDIM(arr);
				Datum	   *elems;
				bool	   *nulls;
				int			nelems;
				int			pos = 0;

				if (ndim == 0)
				{
					appendBinaryStringInfo(buf, "[]", 2);
					return;
				}
				deconstruct_array(arr, ARR_ELEMTYPE(arr), out->elmlen,
								  out->elmbyval, out->elmalign,
								  &elems, &nulls, &nelems);
				append_array_level(buf, out->elem, ndim, ARR_DIMS(arr), 0,
								   elems, nulls, &pos);
				return;
			}
		case FV_OTHER:
			str = OutputFunctionCall((FmgrInfo *) &out->outfunc, value);
			fv_append_json_string(buf, str, strlen(str));
			return;
	}
}
