/*-------------------------------------------------------------------------
 *
 * json_value.c
 *	  Column values as typed JSON.
 *
 * This is the hot path of the CDC output plugin: every column of every
 * decoded row passes through fv_append_json_value.  The common types are
 * therefore written without calling their output functions: integers,
 * floats and numerics are formatted in place (numeric from its on-disk
 * digits), timestamps with PostgreSQL's own date/time encoder and no fmgr
 * call or palloc, and text is escaped straight from its bytes, copying
 * unescaped runs in one piece.  Each fast path writes exactly what the
 * type's output function would (test sql/cdc_fastpath.sql compares them on
 * many values); the rare cases they leave out (non-finite values, floats
 * with extra_float_digits <= 0) go through the output function.  Types
 * without a JSON counterpart are written as their text output, as a JSON
 * string.
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

#include <math.h>

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

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
			out->kind = FV_FLOAT4;
			break;
		case FLOAT8OID:
			out->kind = FV_FLOAT8;
			break;
		case NUMERICOID:
			out->kind = FV_NUMERIC;
			break;
		case TIMESTAMPTZOID:
			out->kind = FV_TIMESTAMPTZ;
			break;
		case TIMESTAMPOID:
			out->kind = FV_TIMESTAMP;
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

/* Write the escape sequence of c (a byte that needs one) at dst; its length. */
static inline int
write_json_escape(char *dst, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";

	dst[0] = '\\';
	switch (c)
	{
		case '"':
			dst[1] = '"';
			return 2;
		case '\\':
			dst[1] = '\\';
			return 2;
		case '\b':
			dst[1] = 'b';
			return 2;
		case '\f':
			dst[1] = 'f';
			return 2;
		case '\n':
			dst[1] = 'n';
			return 2;
		case '\r':
			dst[1] = 'r';
			return 2;
		case '\t':
			dst[1] = 't';
			return 2;
		default:
			/* other control characters: \u00XX, lower-case hex */
			dst[1] = 'u';
			dst[2] = '0';
			dst[3] = '0';
			dst[4] = hex[c >> 4];
			dst[5] = hex[c & 0xF];
			return 6;
	}
}

/*
 * Does any of the eight bytes of w need escaping in a JSON string: a control
 * character (< 0x20), '"' or '\\'?  Exact, with the usual word-at-a-time
 * tests: (x - 0x01..) & ~x & 0x80.. is nonzero iff some byte of x is zero,
 * and (x - 0x20..) & ~x & 0x80.. iff some byte is below 0x20.
 */
static inline bool
word_needs_escape(uint64 w)
{
	const uint64 ones = UINT64CONST(0x0101010101010101);
	const uint64 highs = UINT64CONST(0x8080808080808080);
	uint64		quote = w ^ (ones * '"');
	uint64		backslash = w ^ (ones * '\\');

	return ((((w - ones * 0x20) & ~w) |
			((quote - ones) & ~quote) |
			((backslash - ones) & ~backslash)) & highs) != 0;
}

/*
 * fv_append_json_string
 *		Append s[0..len) as a JSON string literal.
 *
 * Quotes, backslashes and control characters are escaped; everything else,
 * non-ASCII UTF-8 included, is copied through unchanged.  Room for the
 * unescaped string is reserved once; runs of bytes that need no escaping are
 * copied in one memcpy, and only an escape reserves more.
 */
void
fv_append_json_string(StringInfo buf, const char *s, int len)
{
	const char *end = s + len;
	const char *p = s;

	/* invariant below: room for end - p bytes, the closing quote and a NUL */
	if (unlikely(buf->len + len + 2 >= buf->maxlen))
		enlargeStringInfo(buf, len + 2);
	buf->data[buf->len++] = '"';
	for (;;)
	{
		const char *run = p;

		/* eight bytes at a time while none needs escaping, then bytewise */
		while (end - p >= (int) sizeof(uint64))
		{
			uint64		w;

			memcpy(&w, p, sizeof(uint64));
			if (word_needs_escape(w))
				break;
			p += sizeof(uint64);
		}
		while (p < end && likely((unsigned char) *p >= 0x20 && *p != '"' && *p != '\\'))
			p++;
		memcpy(buf->data + buf->len, run, p - run);
		buf->len += p - run;
		if (p == end)
			break;
		/* an escape is at most 6 bytes, then the rest as before */
		enlargeStringInfo(buf, 6 + (end - p));
		buf->len += write_json_escape(buf->data + buf->len, (unsigned char) *p);
		p++;
	}
	buf->data[buf->len++] = '"';
	buf->data[buf->len] = '\0';
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
 * The on-disk numeric format (PostgreSQL's numeric.c, stable since 14): after
 * the varlena header, a uint16 header word whose top two bits say
 * 00 positive / 01 negative (long header: a second int16 word is the weight,
 * the low 14 bits of the first the display scale), 10 short header (sign,
 * 6-bit display scale and 7-bit signed weight packed in the one word) or
 * 11 special (NaN, +-Infinity).  Then the digits, int16 each, base 10000,
 * the first one weighted 10000^weight; digits not stored are zero.
 */
#define FV_NUM_FLAGBITS			0xC000
#define FV_NUM_NEG				0x4000
#define FV_NUM_SHORT			0x8000
#define FV_NUM_SPECIAL			0xC000
#define FV_NUM_SHORT_NEG		0x2000
#define FV_NUM_SHORT_DSCALE		0x1F80
#define FV_NUM_SHORT_DSCALE_SHIFT 7
#define FV_NUM_SHORT_WEIGHT_NEG 0x0040
#define FV_NUM_SHORT_WEIGHT		0x003F
#define FV_NUM_DSCALE			0x3FFF
#define FV_NBASE				10000
#define FV_DEC_DIGITS			4

static inline int
numeric_digit(const char *digits, int i)
{
	int16		d;

	/* a packed (short varlena) value is not aligned */
	memcpy(&d, digits + i * sizeof(int16), sizeof(int16));
	return d;
}

/*
 * Append a numeric as numeric_out writes it, straight from its digits.
 * Returns false, writing nothing, for NaN and infinities (and anything that
 * does not look like a numeric), which the caller sends through numeric_out.
 */
static bool
append_numeric(StringInfo buf, Datum value)
{
	struct varlena *v = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(value));
	const char *p = VARDATA_ANY(v);
	int			size = VARSIZE_ANY_EXHDR(v);
	const char *digits;
	int			ndigits;
	uint16		header;
	int			weight;
	int			dscale;
	bool		neg;
	char	   *cp;
	char	   *endcp;
	int			d;

	if (size < (int) sizeof(uint16))
		return false;
	memcpy(&header, p, sizeof(uint16));
	switch (header & FV_NUM_FLAGBITS)
	{
		case FV_NUM_SPECIAL:
			return false;
		case FV_NUM_SHORT:
			neg = (header & FV_NUM_SHORT_NEG) != 0;
			dscale = (header & FV_NUM_SHORT_DSCALE) >> FV_NUM_SHORT_DSCALE_SHIFT;
			weight = (header & FV_NUM_SHORT_WEIGHT);
			if (header & FV_NUM_SHORT_WEIGHT_NEG)
				weight -= FV_NUM_SHORT_WEIGHT + 1;
			digits = p + sizeof(uint16);
			ndigits = (size - sizeof(uint16)) / sizeof(int16);
			break;
		default:
			{
				int16		w;

				if (size < (int) (sizeof(uint16) + sizeof(int16)))
					return false;
				neg = (header & FV_NUM_FLAGBITS) == FV_NUM_NEG;
				dscale = header & FV_NUM_DSCALE;
				memcpy(&w, p + sizeof(uint16), sizeof(int16));
				weight = w;
				digits = p + sizeof(uint16) + sizeof(int16);
				ndigits = (size - sizeof(uint16) - sizeof(int16)) / sizeof(int16);
			}
			break;
	}

	/* sign, integer digits, point, dscale digits, and a last group's spill */
	enlargeStringInfo(buf, 1 + (Max(weight, 0) + 1) * FV_DEC_DIGITS + 1 +
					  dscale + FV_DEC_DIGITS);
	cp = buf->data + buf->len;
	if (neg)
		*cp++ = '-';
	if (weight < 0)
		*cp++ = '0';
	else
	{
		for (d = 0; d <= weight; d++)
		{
			int			dig = d < ndigits ? numeric_digit(digits, d) : 0;

			if (d == 0)
			{
				/* the first group without leading zeros (but "0" for 0) */
				if (dig >= 1000)
					*cp++ = '0' + dig / 1000;
				if (dig >= 100)
					*cp++ = '0' + dig / 100 % 10;
				if (dig >= 10)
					*cp++ = '0' + dig / 10 % 10;
				*cp++ = '0' + dig % 10;
			}
			else
			{
				cp[0] = '0' + dig / 1000;
				cp[1] = '0' + dig / 100 % 10;
				cp[2] = '0' + dig / 10 % 10;
				cp[3] = '0' + dig % 10;
				cp += FV_DEC_DIGITS;
			}
		}
	}
	if (dscale > 0)
	{
		*cp++ = '.';
		endcp = cp + dscale;
		for (d = weight + 1; cp < endcp; d++)
		{
			int			dig = (d >= 0 && d < ndigits) ? numeric_digit(digits, d) : 0;

			cp[0] = '0' + dig / 1000;
			cp[1] = '0' + dig / 100 % 10;
			cp[2] = '0' + dig / 10 % 10;
			cp[3] = '0' + dig % 10;
			cp += FV_DEC_DIGITS;
		}
		cp = endcp;				/* the last group may have gone past dscale */
	}
	buf->len = cp - buf->data;
	buf->data[buf->len] = '\0';
	return true;
}

/*
 * Append a timestamp (with time zone if tz) as timestamp[tz]_out writes it
 * in the session's DateStyle and TimeZone, without fmgr or palloc.  Returns
 * false for infinities (and values out of range), which the caller sends
 * through the output function.
 */
static bool
append_timestamp(StringInfo buf, Timestamp ts, bool with_tz)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz = 0;
	const char *tzn = NULL;
	char		str[MAXDATELEN + 1];

	if (TIMESTAMP_NOT_FINITE(ts))
		return false;
	if (with_tz)
	{
		if (timestamp2tm(ts, &tz, &tm, &fsec, &tzn, NULL) != 0)
			return false;
	}
	else if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		return false;
	EncodeDateTime(&tm, fsec, with_tz, tz, tzn, DateStyle, str);
	fv_append_json_string(buf, str, strlen(str));
	return true;
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
			if (unlikely(buf->len + 8 >= buf->maxlen))
				enlargeStringInfo(buf, 8);
			buf->len += pg_ltoa(DatumGetInt16(value), buf->data + buf->len);
			return;
		case FV_INT4:
			if (unlikely(buf->len + 12 >= buf->maxlen))
				enlargeStringInfo(buf, 12);
			buf->len += pg_ltoa(DatumGetInt32(value), buf->data + buf->len);
			return;
		case FV_INT8:
			if (unlikely(buf->len + MAXINT8LEN + 1 >= buf->maxlen))
				enlargeStringInfo(buf, MAXINT8LEN + 1);
			buf->len += pg_lltoa(DatumGetInt64(value), buf->data + buf->len);
			return;
		case FV_BOOL:
			if (DatumGetBool(value))
				fv_append_bytes(buf, "true", 4);
			else
				fv_append_bytes(buf, "false", 5);
			return;
		case FV_TEXTLIKE:
			{
				struct varlena *v = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(value));

				fv_append_json_string(buf, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
				return;
			}
		case FV_FLOAT4:
			{
				float4		f = DatumGetFloat4(value);

				/* float4out's shortest exact form (extra_float_digits > 0) */
				if (extra_float_digits > 0 && !isnan(f) && !isinf(f))
				{
					if (unlikely(buf->len + FLOAT_SHORTEST_DECIMAL_LEN >= buf->maxlen))
						enlargeStringInfo(buf, FLOAT_SHORTEST_DECIMAL_LEN);
					buf->len += float_to_shortest_decimal_bufn(f, buf->data + buf->len);
					buf->data[buf->len] = '\0';
					return;
				}
				break;
			}
		case FV_FLOAT8:
			{
				float8		f = DatumGetFloat8(value);

				if (extra_float_digits > 0 && !isnan(f) && !isinf(f))
				{
					if (unlikely(buf->len + DOUBLE_SHORTEST_DECIMAL_LEN >= buf->maxlen))
						enlargeStringInfo(buf, DOUBLE_SHORTEST_DECIMAL_LEN);
					buf->len += double_to_shortest_decimal_bufn(f, buf->data + buf->len);
					buf->data[buf->len] = '\0';
					return;
				}
				break;
			}
		case FV_NUMERIC:
			if (append_numeric(buf, value))
				return;
			break;
		case FV_TIMESTAMPTZ:
			if (append_timestamp(buf, DatumGetTimestampTz(value), true))
				return;
			break;
		case FV_TIMESTAMP:
			if (append_timestamp(buf, DatumGetTimestamp(value), false))
				return;
			break;
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
					fv_append_bytes(buf, "[]", 2);
					return;
				}
				deconstruct_array(arr, ARR_ELEMTYPE(arr), out->elmlen,
								  out->elmbyval, out->elmalign,
								  &elems, &nulls, &nelems);
				append_array_level(buf, out->elem, ndim, ARR_DIMS(arr), 0,
								   elems, nulls, &pos);
				return;
			}
		case FV_JSON:
		case FV_OTHER:
			break;
	}

	/* through the type's output function */
	str = OutputFunctionCall((FmgrInfo *) &out->outfunc, value);
	switch (out->kind)
	{
		case FV_FLOAT4:
		case FV_FLOAT8:
		case FV_NUMERIC:
			if (is_nonfinite_text(str))
				fv_append_json_string(buf, str, strlen(str));
			else
				appendStringInfoString(buf, str);
			break;
		case FV_JSON:
			appendStringInfoString(buf, str);
			break;
		default:
			fv_append_json_string(buf, str, strlen(str));
			break;
	}
	/* str is left to the caller's per-change memory context */
}
