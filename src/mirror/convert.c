/*
 * convert.c — Shopify JSON scalars to PostgreSQL values, never throwing.
 *
 * A value of the wrong type, out of range or unparsable is FS_BAD, so that
 * the parser can count its variant (order) failed and go on with the page;
 * an error raised here would lose the whole page.  Ids are 64-bit integers,
 * also as GraphQL global ids (gid://shopify/ProductVariant/123); prices are
 * plain decimals (no exponent, no words) turned into exact numeric;
 * timestamps are ISO 8601 only; jsonb takes an object or array kept whole
 * (XF_RAW) or a scalar's JSON.  The same conversions are offered to SQL as
 * shopify._to_numeric, _to_timestamptz and _to_id, for orders, which are
 * expanded in SQL: there they return NULL instead of FS_BAD.
 */
#include "postgres.h"

#include <ctype.h>

#include "fmgr.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "utils/json.h"

#include "mirror/convert.h"

static bool
parse_int64(const char *s, int len, int64 *out)
{
	int64		v = 0;
	int			i = 0;
	bool		neg = false;

	if (len > 0 && (s[0] == '-' || s[0] == '+'))
	{
		neg = (s[0] == '-');
		i = 1;
	}
	if (i >= len || len - i > 19)
		return false;
	for (; i < len; i++)
	{
		int			d;

		if (s[i] < '0' || s[i] > '9')
			return false;
		d = s[i] - '0';
		if (v > (PG_INT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = neg ? -v : v;
	return true;
}

/* Absent, or a JSON null (an object or array in its place is not absent). */
bool
conv_absent(const Scalar *v)
{
	return !v->container && (v->s == NULL || v->type == JSON_TOKEN_NULL);
}

FieldStatus
conv_int64(const Scalar *v, int64 *out)
{
	const char *s;
	int			len;
	const char *slash;

	if (v->container)
		return FS_BAD;
	if (conv_absent(v))
		return FS_NULL;
	s = v->s;
	len = v->len;
	if (v->type == JSON_TOKEN_STRING)
	{
		/* GraphQL global ids: gid://shopify/ProductVariant/123 */
		if (len > 14 && strncmp(s, "gid://shopify/", 14) == 0 &&
			(slash = memrchr(s, '/', len)) != NULL)
		{
			len -= (slash + 1 - s);
			s = slash + 1;
		}
	}
	else if (v->type != JSON_TOKEN_NUMBER)
		return FS_BAD;
	return parse_int64(s, len, out) ? FS_OK : FS_BAD;
}

FieldStatus
conv_int32(const Scalar *v, int32 *out)
{
	int64		x;
	FieldStatus st = conv_int64(v, &x);

	if (st != FS_OK)
		return st;
	if (x < PG_INT32_MIN || x > PG_INT32_MAX)
		return FS_BAD;
	*out = (int32) x;
	return FS_OK;
}

/* A plain decimal: [-]digits[.digits], at most 40 characters. */
static bool
decimal_syntax_ok(const char *s, int len)
{
	int			i = 0,
				digits = 0;
	bool		dot = false;

	if (len == 0 || len > 40)
		return false;
	if (s[0] == '-' || s[0] == '+')
		i++;
	for (; i < len; i++)
	{
		if (s[i] >= '0' && s[i] <= '9')
			digits++;
		else if (s[i] == '.' && !dot)
			dot = true;
		else
			return false;
	}
	return digits > 0;
}

FieldStatus
conv_numeric(const Scalar *v, Datum *out)
{
	if (v->container)
		return FS_BAD;
	if (conv_absent(v))
		return FS_NULL;
	if (v->type != JSON_TOKEN_STRING && v->type != JSON_TOKEN_NUMBER)
		return FS_BAD;
	if (v->type == JSON_TOKEN_STRING && v->len == 0)
		return FS_NULL;			/* "" means no value (compare_at_price) */
	if (!decimal_syntax_ok(v->s, v->len))
		return FS_BAD;
	*out = DirectFunctionCall3(numeric_in, CStringGetDatum(v->s),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	return FS_OK;
}

FieldStatus
conv_text(const Scalar *v, Datum *out)
{
	if (v->container)
		return FS_BAD;
	if (conv_absent(v))
		return FS_NULL;
	if (v->type != JSON_TOKEN_STRING || v->len > MAX_TEXT)
		return FS_BAD;
	*out = PointerGetDatum(cstring_to_text_with_len(v->s, v->len));
	return FS_OK;
}

/* Product status: REST gives "active", GraphQL "ACTIVE"; stored lower case. */
FieldStatus
conv_status(const Scalar *v, Datum *out)
{
	char		buf[32];
	int			i;

	if (v->container)
		return FS_BAD;
	if (conv_absent(v))
		return FS_NULL;
	if (v->type != JSON_TOKEN_STRING || v->len >= (int) sizeof(buf))
		return FS_BAD;
	for (i = 0; i < v->len; i++)
		buf[i] = pg_ascii_tolower((unsigned char) v->s[i]);
	buf[i] = '\0';
	*out = CStringGetTextDatum(buf);
	return FS_OK;
}

static inline int
digits(const char *s, int n)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/*
 * The shape Shopify sends (2026-11-01T10:00:00Z, 2026-11-01T10:00:00-05:00,
 * with up to six digits of a second's fraction) read directly: a tenth of
 * what ParseDateTime and DecodeDateTime cost.  Anything else: false, and
 * the general parser decides.
 */
static bool
iso8601_fast(const char *s, int len, TimestampTz *out)
{
	int			y, mo, d, h, mi, sec, p, off = 0;
	int64		frac = 0;
	int			fd = 0;
	int			days;
	TimestampTz t;

	if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') ||
		s[13] != ':' || s[16] != ':')
		return false;
	y = digits(s, 4);
	mo = digits(s + 5, 2);
	d = digits(s + 8, 2);
	h = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	sec = digits(s + 17, 2);
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
		sec < 0 || sec > 59 || d > day_tab[isleap(y)][mo - 1])
		return false;
	p = 19;
	if (p < len && s[p] == '.')
	{
		p++;
		while (p < len && s[p] >= '0' && s[p] <= '9')
		{
			if (++fd > 6)
				return false;
			frac = frac * 10 + (s[p] - '0');
			p++;
		}
		if (fd == 0)
			return false;
		for (int i = fd; i < 6; i++)
			frac *= 10;
	}
	if (p == len - 1 && s[p] == 'Z')
		off = 0;
	else if (p == len - 6 && (s[p] == '+' || s[p] == '-') && s[p + 3] == ':')
	{
		int			oh = digits(s + p + 1, 2);
		int			om = digits(s + p + 4, 2);

		if (oh < 0 || oh > 15 || om < 0 || om > 59)
			return false;
		off = (s[p] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
	}
	else
		return false;
	days = date2j(y, mo, d) - POSTGRES_EPOCH_JDATE;
	t = (((int64) days * 24 + h) * 60 + mi) * 60 + sec - off;
	t = t * USECS_PER_SEC + frac;
	if (!IS_VALID_TIMESTAMP(t))
		return false;
	*out = t;
	return true;
}

FieldStatus
conv_timestamptz(const Scalar *v, Datum *out)
{
	char		workbuf[MAXDATELEN + MAXDATEFIELDS];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf,
				dtype,
				tz;
	struct pg_tm tt;
	fsec_t		fsec;
	TimestampTz result;

	if (v->container)
		return FS_BAD;
	if (conv_absent(v))
		return FS_NULL;
	if (v->type != JSON_TOKEN_STRING || v->len < 10 || v->len > MAXDATELEN)
		return FS_BAD;
	if (iso8601_fast(v->s, v->len, &result))
	{
		*out = TimestampTzGetDatum(result);
		return FS_OK;
	}
	/* ISO 8601 only: not "now", "yesterday", "epoch" or other words */
	if (!isdigit((unsigned char) v->s[0]) || !isdigit((unsigned char) v->s[1]) ||
		!isdigit((unsigned char) v->s[2]) || !isdigit((unsigned char) v->s[3]) || v->s[4] != '-')
		return FS_BAD;
	if (ParseDateTime(v->s, workbuf, sizeof(workbuf), field, ftype, MAXDATEFIELDS, &nf) != 0)
		return FS_BAD;
	/*
	 * DecodeDateTime() raises an error, instead of returning one, for a time
	 * zone name it does not know ("2024-01-01T00:00:00 Mars/Olympus"): such
	 * a field (a "date" field that starts with a letter) is checked first.
	 */
	for (int i = 0; i < nf; i++)
		if (ftype[i] == DTK_DATE && isalpha((unsigned char) field[i][0]) &&
			pg_tzset(field[i]) == NULL)
			return FS_BAD;
	if (DecodeDateTime(field, ftype, nf, &dtype, &tt, &fsec, &tz) != 0 || dtype != DTK_DATE)
		return FS_BAD;
	if (tm2timestamp(&tt, fsec, &tz, &result) != 0 || !IS_VALID_TIMESTAMP(result))
		return FS_BAD;
	*out = TimestampTzGetDatum(result);
	return FS_OK;
}

/* ----- values read by extract.c ----- */

/* an extracted value as the converters take it */
Scalar
conv_scalar_of(const XValue *x)
{
	Scalar		s;

	memset(&s, 0, sizeof(s));
	switch (x->type)
	{
		case XT_ABSENT:
			break;
		case XT_NULL:
			s.s = "null";
			s.len = 4;
			s.type = JSON_TOKEN_NULL;
			break;
		case XT_STRING:
			s.s = (char *) x->s;
			s.len = x->len;
			s.type = JSON_TOKEN_STRING;
			break;
		case XT_NUMBER:
			s.s = (char *) x->s;
			s.len = x->len;
			s.type = JSON_TOKEN_NUMBER;
			break;
		case XT_BOOL:
			s.s = (char *) x->s;
			s.len = x->len;
			s.type = x->len == 4 ? JSON_TOKEN_TRUE : JSON_TOKEN_FALSE;
			break;
		case XT_CONTAINER:
			s.container = true;
			break;
	}
	return s;
}

/* tags: a string, or an array of strings joined with ", " */
FieldStatus
conv_tags(const XValue *x, Datum *out)
{
	StringInfoData b;

	if (!x->list)
	{
		Scalar		s = conv_scalar_of(x);

		return conv_text(&s, out);
	}
	initStringInfo(&b);
	for (const XValue *e = x; e; e = e->more)
	{
		if (e->type == XT_ABSENT)
			continue;			/* an empty array */
		if (e->type != XT_STRING)
			return FS_BAD;
		if (b.len > 0)
			appendStringInfoString(&b, ", ");
		if (b.len + e->len > MAX_TEXT)
			return FS_BAD;
		appendBinaryStringInfo(&b, e->s, e->len);
	}
	*out = PointerGetDatum(cstring_to_text_with_len(b.data, b.len));
	return FS_OK;
}

FieldStatus
conv_bool(const Scalar *s, Datum *out)
{
	if (s->container)
		return FS_BAD;
	if (conv_absent(s))
		return FS_NULL;
	if (s->type == JSON_TOKEN_TRUE || s->type == JSON_TOKEN_FALSE)
	{
		*out = BoolGetDatum(s->type == JSON_TOKEN_TRUE);
		return FS_OK;
	}
	return FS_BAD;
}

/* any JSON value as jsonb: a kept container's text, a scalar's JSON */
FieldStatus
conv_jsonb(const XValue *x, Datum *out)
{
	StringInfoData b;

	switch (x->type)
	{
		case XT_ABSENT:
		case XT_NULL:
			return FS_NULL;
		case XT_CONTAINER:
			if (x->s == NULL)
				return FS_BAD;
			*out = DirectFunctionCall1(jsonb_in, CStringGetDatum(x->s));
			return FS_OK;
		case XT_STRING:
			initStringInfo(&b);
			escape_json(&b, x->s);
			*out = DirectFunctionCall1(jsonb_in, CStringGetDatum(b.data));
			return FS_OK;
		default:
			*out = DirectFunctionCall1(jsonb_in, CStringGetDatum(x->s));
			return FS_OK;
	}
}

/* GraphQL's BEST_SELLING and REST's best-selling: best_selling */
FieldStatus
conv_enum(const Scalar *s, Datum *out)
{
	FieldStatus st = conv_status(s, out);

	if (st == FS_OK && memchr(s->s, '-', s->len))
	{
		char	   *t = TextDatumGetCString(*out);

		for (char *p = t; *p; p++)
			if (*p == '-')
				*p = '_';
		*out = CStringGetTextDatum(t);
	}
	return st;
}

/* ----- the same conversions for SQL (orders are expanded in SQL) ----- */

PG_FUNCTION_INFO_V1(shopify_to_numeric);
PG_FUNCTION_INFO_V1(shopify_to_timestamptz);
PG_FUNCTION_INFO_V1(shopify_to_id);

static Scalar
text_scalar(text *t)
{
	Scalar		v;

	memset(&v, 0, sizeof(v));
	v.s = text_to_cstring(t);
	v.len = strlen(v.s);
	v.type = JSON_TOKEN_STRING;
	return v;
}

Datum
shopify_to_numeric(PG_FUNCTION_ARGS)
{
	Scalar		v = text_scalar(PG_GETARG_TEXT_PP(0));
	Datum		d;

	if (v.len == 0 || conv_numeric(&v, &d) != FS_OK)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(d);
}

Datum
shopify_to_timestamptz(PG_FUNCTION_ARGS)
{
	Scalar		v = text_scalar(PG_GETARG_TEXT_PP(0));
	Datum		d;

	if (conv_timestamptz(&v, &d) != FS_OK)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(d);
}

Datum
shopify_to_id(PG_FUNCTION_ARGS)
{
	Jsonb	   *j = PG_GETARG_JSONB_P(0);
	JsonbValue	jv;
	Scalar		v;
	int64		id;

	memset(&v, 0, sizeof(v));
	if (!JsonbExtractScalar(&j->root, &jv))
		PG_RETURN_NULL();
	if (jv.type == jbvString)
	{
		v.s = pnstrdup(jv.val.string.val, jv.val.string.len);
		v.len = jv.val.string.len;
		v.type = JSON_TOKEN_STRING;
	}
	else if (jv.type == jbvNumeric)
	{
		v.s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(jv.val.numeric)));
		v.len = strlen(v.s);
		v.type = JSON_TOKEN_NUMBER;
	}
	else
		PG_RETURN_NULL();
	if (conv_int64(&v, &id) != FS_OK || id <= 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(id);
}
