/*
 * variants.c — Shopify payloads to typed variant rows: the SQL function
 * shopify._variants(doc jsonb, shape text).
 *
 * This is where every payload (a REST page, a webhook product, later a
 * GraphQL page or a bulk batch) becomes rows of one shape: one row per
 * variant, the product's fields copied onto it, values converted to the
 * mirror's types (bigint ids, exact numeric prices, timestamptz).  Nothing
 * here throws for bad data: a variant with a value of the wrong type, an id
 * out of range, an unparsable price or timestamp, or a string longer than
 * 64 kB comes out with ok = false and a reason, so the caller counts it as
 * failed and stores nothing of it, while the rest of the page goes on.
 *
 * Shapes:
 *   rest_products   {"products": [{..., "variants": [...]}, ...]}   (REST page)
 *   rest_product    {"id": ..., "variants": [...]} or {"product": {...}}  (webhook)
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(shopify_page_variants);

#define MAX_TEXT 65535

enum
{
	COL_OK, COL_ERROR, COL_SKU_ID, COL_PRODUCT_ID, COL_SKU, COL_TITLE,
	COL_VARIANT_TITLE, COL_VENDOR, COL_PRODUCT_TYPE, COL_HANDLE, COL_STATUS,
	COL_TAGS, COL_PRICE, COL_COMPARE_AT, COL_BARCODE, COL_INVENTORY,
	COL_INVENTORY_ITEM, COL_POSITION, COL_VARIANT_UPDATED, COL_PRODUCT_UPDATED,
	NCOLS
};

typedef enum
{
	FS_OK, FS_NULL, FS_BAD
} FieldStatus;

typedef struct Row
{
	Datum		values[NCOLS];
	bool		nulls[NCOLS];
	const char *error;			/* first problem found, or NULL */
} Row;

/* ----- value conversions that never throw ----- */

static bool
find_key(JsonbContainer *c, const char *key, JsonbValue *out)
{
	JsonbValue *v;

	if (c == NULL || !JsonContainerIsObject(c))
		return false;
	v = getKeyJsonValueFromContainer(c, key, strlen(key), out);
	return v != NULL;
}

/* Parse a decimal integer string strictly; false on junk or overflow. */
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
	if (i >= len)
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

static FieldStatus
value_int64(JsonbValue *v, int64 *out)
{
	if (v->type == jbvNull)
		return FS_NULL;
	if (v->type == jbvNumeric)
	{
		char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
		bool		ok = parse_int64(s, strlen(s), out);

		pfree(s);
		return ok ? FS_OK : FS_BAD;
	}
	if (v->type == jbvString)
	{
		const char *s = v->val.string.val;
		int			len = v->val.string.len;
		const char *slash;

		/* GraphQL global ids: gid://shopify/ProductVariant/123 */
		if (len > 14 && strncmp(s, "gid://shopify/", 14) == 0 &&
			(slash = memrchr(s, '/', len)) != NULL)
		{
			len -= (slash + 1 - s);
			s = slash + 1;
		}
		return parse_int64(s, len, out) ? FS_OK : FS_BAD;
	}
	return FS_BAD;
}

static FieldStatus
get_int64(JsonbContainer *c, const char *key, int64 *out)
{
	JsonbValue	v;

	if (!find_key(c, key, &v))
		return FS_NULL;
	return value_int64(&v, out);
}

static FieldStatus
get_int32(JsonbContainer *c, const char *key, int32 *out)
{
	int64		v;
	FieldStatus st = get_int64(c, key, &v);

	if (st != FS_OK)
		return st;
	if (v < PG_INT32_MIN || v > PG_INT32_MAX)
		return FS_BAD;
	*out = (int32) v;
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

static FieldStatus
get_numeric(JsonbContainer *c, const char *key, Datum *out)
{
	JsonbValue	v;

	if (!find_key(c, key, &v) || v.type == jbvNull)
		return FS_NULL;
	if (v.type == jbvNumeric)
	{
		if (numeric_is_nan(v.val.numeric) || numeric_is_inf(v.val.numeric))
			return FS_BAD;
		*out = NumericGetDatum(v.val.numeric);
		return FS_OK;
	}
	if (v.type == jbvString)
	{
		char	   *s;

		if (v.val.string.len == 0)
			return FS_NULL;		/* "" means no value (compare_at_price) */
		if (!decimal_syntax_ok(v.val.string.val, v.val.string.len))
			return FS_BAD;
		s = pnstrdup(v.val.string.val, v.val.string.len);
		*out = DirectFunctionCall3(numeric_in, CStringGetDatum(s),
								   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		pfree(s);
		return FS_OK;
	}
	return FS_BAD;
}

static FieldStatus
get_text(JsonbContainer *c, const char *key, Datum *out)
{
	JsonbValue	v;

	if (!find_key(c, key, &v) || v.type == jbvNull)
		return FS_NULL;
	if (v.type != jbvString || v.val.string.len > MAX_TEXT)
		return FS_BAD;
	*out = PointerGetDatum(cstring_to_text_with_len(v.val.string.val, v.val.string.len));
	return FS_OK;
}

/* Product status: REST gives "active", GraphQL "ACTIVE"; stored lower case. */
static FieldStatus
get_status(JsonbContainer *c, const char *key, Datum *out)
{
	JsonbValue	v;
	char		buf[32];
	int			i;

	if (!find_key(c, key, &v) || v.type == jbvNull)
		return FS_NULL;
	if (v.type != jbvString || v.val.string.len >= (int) sizeof(buf))
		return FS_BAD;
	for (i = 0; i < v.val.string.len; i++)
		buf[i] = pg_ascii_tolower((unsigned char) v.val.string.val[i]);
	buf[i] = '\0';
	*out = CStringGetTextDatum(buf);
	return FS_OK;
}

/* Tags: a comma-separated string (REST) or an array of strings (GraphQL). */
static FieldStatus
get_tags(JsonbContainer *c, const char *key, Datum *out)
{
	JsonbValue	v;

	if (!find_key(c, key, &v) || v.type == jbvNull)
		return FS_NULL;
	if (v.type == jbvString)
		return get_text(c, key, out);
	if (v.type == jbvBinary && JsonContainerIsArray(v.val.binary.data))
	{
		JsonbContainer *arr = v.val.binary.data;
		int			n = JsonContainerSize(arr);
		int			i;
		StringInfoData buf;

		initStringInfo(&buf);
		for (i = 0; i < n; i++)
		{
			JsonbValue *e = getIthJsonbValueFromContainer(arr, i);

			if (e == NULL || e->type != jbvString)
				return FS_BAD;
			if (i > 0)
				appendStringInfoString(&buf, ", ");
			appendBinaryStringInfo(&buf, e->val.string.val, e->val.string.len);
			if (buf.len > MAX_TEXT)
				return FS_BAD;
		}
		*out = PointerGetDatum(cstring_to_text_with_len(buf.data, buf.len));
		return FS_OK;
	}
	return FS_BAD;
}

static FieldStatus
get_timestamptz(JsonbContainer *c, const char *key, Datum *out)
{
	JsonbValue	v;
	char		str[MAXDATELEN + 1];
	char		workbuf[MAXDATELEN + MAXDATEFIELDS];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf,
				dtype,
				tz;
	struct pg_tm tt;
	fsec_t		fsec;
	TimestampTz result;

	if (!find_key(c, key, &v) || v.type == jbvNull)
		return FS_NULL;
	if (v.type != jbvString || v.val.string.len == 0 || v.val.string.len > MAXDATELEN)
		return FS_BAD;
	memcpy(str, v.val.string.val, v.val.string.len);
	str[v.val.string.len] = '\0';
	if (ParseDateTime(str, workbuf, sizeof(workbuf), field, ftype, MAXDATEFIELDS, &nf) != 0)
		return FS_BAD;
	if (DecodeDateTime(field, ftype, nf, &dtype, &tt, &fsec, &tz) != 0 || dtype != DTK_DATE)
		return FS_BAD;
	if (tm2timestamp(&tt, fsec, &tz, &result) != 0 || !IS_VALID_TIMESTAMP(result))
		return FS_BAD;
	*out = TimestampTzGetDatum(result);
	return FS_OK;
}

/* ----- rows ----- */

static void
set_field(Row *row, int col, FieldStatus st, const char *what)
{
	row->nulls[col] = (st != FS_OK);
	if (st == FS_BAD && row->error == NULL)
		row->error = what;
}

static void
emit(Tuplestorestate *ts, TupleDesc desc, Row *row)
{
	row->values[COL_OK] = BoolGetDatum(row->error == NULL);
	row->nulls[COL_OK] = false;
	if (row->error)
	{
		row->values[COL_ERROR] = CStringGetTextDatum(row->error);
		row->nulls[COL_ERROR] = false;
	}
	else
		row->nulls[COL_ERROR] = true;
	tuplestore_putvalues(ts, desc, row->values, row->nulls);
}

/* Fill the product columns of a row from a product object. */
static void
product_fields(JsonbContainer *p, Row *row, int64 *product_id)
{
	int64		pid = 0;
	FieldStatus st;

	st = get_int64(p, "id", &pid);
	if (st != FS_OK || pid <= 0)
		row->error = "product id missing or not a positive 64-bit integer";
	*product_id = pid;
	row->values[COL_PRODUCT_ID] = Int64GetDatum(pid);
	row->nulls[COL_PRODUCT_ID] = (st != FS_OK);

	set_field(row, COL_TITLE, get_text(p, "title", &row->values[COL_TITLE]), "product title is not a string of at most 64 kB");
	set_field(row, COL_VENDOR, get_text(p, "vendor", &row->values[COL_VENDOR]), "vendor is not a string of at most 64 kB");
	set_field(row, COL_PRODUCT_TYPE, get_text(p, "product_type", &row->values[COL_PRODUCT_TYPE]), "product_type is not a string of at most 64 kB");
	if (find_key(p, "productType", &(JsonbValue) {0}))
		set_field(row, COL_PRODUCT_TYPE, get_text(p, "productType", &row->values[COL_PRODUCT_TYPE]), "productType is not a string of at most 64 kB");
	set_field(row, COL_HANDLE, get_text(p, "handle", &row->values[COL_HANDLE]), "handle is not a string of at most 64 kB");
	set_field(row, COL_STATUS, get_status(p, "status", &row->values[COL_STATUS]), "status is not a string of at most 64 kB");
	set_field(row, COL_TAGS, get_tags(p, "tags", &row->values[COL_TAGS]), "tags are neither a string nor an array of strings");
	st = get_timestamptz(p, "updated_at", &row->values[COL_PRODUCT_UPDATED]);
	if (st == FS_NULL && find_key(p, "updatedAt", &(JsonbValue) {0}))
		st = get_timestamptz(p, "updatedAt", &row->values[COL_PRODUCT_UPDATED]);
	set_field(row, COL_PRODUCT_UPDATED, st, "product updated_at is not a timestamp");
}

/* Fill the variant columns of a row from a variant object. */
static void
variant_fields(JsonbContainer *v, Row *row, int64 product_id)
{
	int64		id = 0;
	int64		vpid = 0;
	int64		item = 0;
	int32		i32 = 0;
	FieldStatus st;

	if (v == NULL || !JsonContainerIsObject(v))
	{
		if (row->error == NULL)
			row->error = "variant is not an object";
		row->nulls[COL_SKU_ID] = true;
		return;
	}
	st = get_int64(v, "id", &id);
	row->values[COL_SKU_ID] = Int64GetDatum(id);
	row->nulls[COL_SKU_ID] = (st != FS_OK);
	if ((st != FS_OK || id <= 0) && row->error == NULL)
		row->error = "variant id missing or not a positive 64-bit integer";

	st = get_int64(v, "product_id", &vpid);
	if (st == FS_BAD || (st == FS_OK && vpid != product_id))
		if (row->error == NULL)
			row->error = "variant product_id does not match its product";

	set_field(row, COL_SKU, get_text(v, "sku", &row->values[COL_SKU]), "sku is not a string of at most 64 kB");
	set_field(row, COL_VARIANT_TITLE, get_text(v, "title", &row->values[COL_VARIANT_TITLE]), "variant title is not a string of at most 64 kB");
	set_field(row, COL_BARCODE, get_text(v, "barcode", &row->values[COL_BARCODE]), "barcode is not a string of at most 64 kB");
	set_field(row, COL_PRICE, get_numeric(v, "price", &row->values[COL_PRICE]), "price is not a decimal number");
	st = get_numeric(v, "compare_at_price", &row->values[COL_COMPARE_AT]);
	if (st == FS_NULL && find_key(v, "compareAtPrice", &(JsonbValue) {0}))
		st = get_numeric(v, "compareAtPrice", &row->values[COL_COMPARE_AT]);
	set_field(row, COL_COMPARE_AT, st, "compare_at_price is not a decimal number");

	st = get_int32(v, "inventory_quantity", &i32);
	if (st == FS_NULL && find_key(v, "inventoryQuantity", &(JsonbValue) {0}))
		st = get_int32(v, "inventoryQuantity", &i32);
	row->values[COL_INVENTORY] = Int32GetDatum(i32);
	set_field(row, COL_INVENTORY, st, "inventory_quantity is not a 32-bit integer");

	st = get_int64(v, "inventory_item_id", &item);
	if (st == FS_OK && item <= 0)
		st = FS_BAD;
	row->values[COL_INVENTORY_ITEM] = Int64GetDatum(item);
	set_field(row, COL_INVENTORY_ITEM, st, "inventory_item_id is not a positive 64-bit integer");

	i32 = 0;
	st = get_int32(v, "position", &i32);
	row->values[COL_POSITION] = Int32GetDatum(i32);
	set_field(row, COL_POSITION, st, "position is not a 32-bit integer");

	st = get_timestamptz(v, "updated_at", &row->values[COL_VARIANT_UPDATED]);
	if (st == FS_NULL && find_key(v, "updatedAt", &(JsonbValue) {0}))
		st = get_timestamptz(v, "updatedAt", &row->values[COL_VARIANT_UPDATED]);
	set_field(row, COL_VARIANT_UPDATED, st, "variant updated_at is not a timestamp");
}

/* Rows of one REST-shaped product object. */
static void
emit_rest_product(Tuplestorestate *ts, TupleDesc desc, JsonbContainer *p)
{
	Row			prod;
	int64		product_id = 0;
	JsonbValue	vs;
	int			i,
				n;

	memset(&prod, 0, sizeof(prod));
	for (i = 0; i < NCOLS; i++)
		prod.nulls[i] = true;
	if (p == NULL || !JsonContainerIsObject(p))
	{
		prod.error = "product is not an object";
		emit(ts, desc, &prod);
		return;
	}
	product_fields(p, &prod, &product_id);

	if (!find_key(p, "variants", &vs) || vs.type != jbvBinary ||
		!JsonContainerIsArray(vs.val.binary.data))
	{
		if (prod.error == NULL)
			prod.error = "product has no variants array";
		emit(ts, desc, &prod);
		return;
	}
	n = JsonContainerSize(vs.val.binary.data);
	for (i = 0; i < n; i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(vs.val.binary.data, i);
		Row			row = prod;

		variant_fields(v && v->type == jbvBinary ? v->val.binary.data : NULL,
					   &row, product_id);
		emit(ts, desc, &row);
	}
}

Datum
shopify_page_variants(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Jsonb	   *doc = PG_GETARG_JSONB_P(0);
	char	   *shape = text_to_cstring(PG_GETARG_TEXT_PP(1));
	JsonbContainer *root = &doc->root;
	JsonbValue	v;

	InitMaterializedSRF(fcinfo, 0);

	if (strcmp(shape, "rest_products") == 0)
	{
		int			i,
					n;

		if (!find_key(root, "products", &v) || v.type != jbvBinary ||
			!JsonContainerIsArray(v.val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("Shopify page has no \"products\" array")));
		n = JsonContainerSize(v.val.binary.data);
		for (i = 0; i < n; i++)
		{
			JsonbValue *p = getIthJsonbValueFromContainer(v.val.binary.data, i);

			emit_rest_product(rsinfo->setResult, rsinfo->setDesc,
							  p && p->type == jbvBinary ? p->val.binary.data : NULL);
		}
	}
	else if (strcmp(shape, "rest_product") == 0)
	{
		if (find_key(root, "product", &v) && v.type == jbvBinary)
			root = v.val.binary.data;
		emit_rest_product(rsinfo->setResult, rsinfo->setDesc, root);
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown payload shape \"%s\"", shape)));
	return (Datum) 0;
}
