/*
 * variants.c — Shopify payloads to typed variant rows: the SQL function
 * shopify._variants(doc text, shape text).
 *
 * Every payload (a REST page, a webhook product; GraphQL pages and bulk
 * batches use the same machinery) becomes rows of one shape: one row per
 * variant, with its product's fields copied onto it and values converted to
 * the mirror's types (bigint ids, exact numeric prices, timestamptz).
 *
 * The text is parsed once, streaming, with PostgreSQL's JSON parser and a
 * small state machine (the semantic actions below) that keeps only the
 * fields the mirror stores: no jsonb tree is built.  Measured on a
 * 250-product REST page (880 kB, 1,100 variants): 14 ms here against 45 ms
 * for building jsonb and walking it (see scripts/bench.sh).  Variants are
 * held until their product object closes, because JSON key order is free
 * and product fields may come after "variants".
 *
 * Nothing here throws for bad data inside a well-formed document: a variant
 * with a value of the wrong type, an id out of range, an unparsable price or
 * timestamp, or a string longer than 64 kB comes out with ok = false and a
 * reason, so the caller counts it as failed and stores nothing of it, while
 * the rest of the page goes on.  A document that is not JSON (or holds
 * \u0000), is not valid in the database encoding (invalid UTF-8, a NUL
 * byte: the text goes into text columns as it is), or nests deeper than
 * SHOPIFY_JSON_MAX_DEPTH is an error of class 22 (data exception) for the
 * whole call.
 *
 * Shapes:
 *   rest_products     {"products": [{..., "variants": [...]}, ...]}   (REST page)
 *   rest_product      {"id": ..., "variants": [...]} or {"product": {...}}  (webhook)
 *   graphql_products  {"data": {"products": {"nodes"|"edges": [...]}}}
 *                     with each product's "variants": {"nodes"|"edges": [...]}
 *   graphql_product   {"data": {"product": {...}}}  (a product's further variants)
 *   bulk_jsonl        lines of a bulk operation's result: product lines, and
 *                     variant lines that name their product in "__parentId";
 *                     product lines come out as rows of kind 'product' (the
 *                     caller joins them to their variants), variant lines as
 *                     rows of kind 'variant' with only their product_id.
 * Rows of the other shapes have kind 'variant'.
 */
#include "postgres.h"

#include <ctype.h>

#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "jsonpick.h"

PG_FUNCTION_INFO_V1(shopify_page_variants);

#define MAX_TEXT 65535
#define MAX_DEPTH 64

/* output columns */
enum
{
	COL_OK, COL_ERROR, COL_SKU_ID, COL_PRODUCT_ID, COL_SKU, COL_TITLE,
	COL_VARIANT_TITLE, COL_VENDOR, COL_PRODUCT_TYPE, COL_HANDLE, COL_STATUS,
	COL_TAGS, COL_PRICE, COL_COMPARE_AT, COL_BARCODE, COL_INVENTORY,
	COL_INVENTORY_ITEM, COL_POSITION, COL_VARIANT_UPDATED, COL_PRODUCT_UPDATED,
	COL_KIND,
	NCOLS
};

/* fields kept from a product object */
enum
{
	P_ID, P_TITLE, P_VENDOR, P_PRODUCT_TYPE, P_HANDLE, P_STATUS, P_TAGS, P_UPDATED_AT,
	NPFIELDS
};

/* fields kept from a variant object */
enum
{
	V_ID, V_PRODUCT_ID, V_SKU, V_TITLE, V_BARCODE, V_PRICE, V_COMPARE_AT, V_INVENTORY,
	V_INVENTORY_ITEM, V_POSITION, V_UPDATED_AT,
	NVFIELDS
};

typedef struct Scalar
{
	char	   *s;				/* de-escaped token, or NULL when absent */
	int			len;
	JsonTokenType type;
	bool		container;		/* an object or array stood where a scalar belongs */
} Scalar;

typedef struct Variant
{
	Scalar		f[NVFIELDS];
	const char *error;			/* "variant is not an object" etc. */
} Variant;

typedef enum Role
{
	R_ROOT,						/* the document (rest_products, graphql_*) */
	R_WRAPPER,					/* the document (rest_product): a product, or {"product": ...} */
	R_GDATA,					/* GraphQL "data" */
	R_GCONN,					/* a GraphQL connection of products */
	R_GEDGES,					/* its "edges" */
	R_GEDGE,					/* one edge: {"node": product} */
	R_PRODUCTS,					/* array of products */
	R_PRODUCT,
	R_VCONN,					/* a GraphQL connection of variants */
	R_VEDGES,
	R_VEDGE,
	R_VARIANTS,					/* array of variants */
	R_VARIANT,
	R_INVITEM,					/* a variant's "inventoryItem": {"id": ...} */
	R_TAGS,						/* array of strings */
	R_LINE,						/* one bulk_jsonl line: a product or a variant */
	R_SKIP
} Role;

typedef enum Shape
{
	SHAPE_REST_PRODUCTS, SHAPE_REST_PRODUCT, SHAPE_GRAPHQL_PRODUCTS,
	SHAPE_GRAPHQL_PRODUCT, SHAPE_BULK_JSONL
} Shape;

typedef struct Frame
{
	Role		role;
	char	   *field;			/* current field name inside an object frame */
} Frame;

typedef struct ParseState
{
	Shape		shape;
	bool		single_product; /* shape rest_product */
	Scalar		parent;			/* bulk_jsonl: __parentId of the line */
	Frame		stack[MAX_DEPTH];
	int			depth;
	int			skip;			/* > 0 while inside an ignored value */
	int			nesting;		/* objects and arrays open */
	bool		saw_products;

	/* the product being read */
	Scalar		pf[NPFIELDS];
	StringInfoData tags;
	bool		tags_array;
	bool		tags_bad;
	bool		has_variants;
	Variant    *variants;
	int			nvariants;
	int			cap;
	bool		product_open;

	MemoryContext product_cxt;	/* reset after each product */
	Tuplestorestate *ts;
	TupleDesc	desc;
} ParseState;

/* ----- conversions that never throw ----- */

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

typedef enum
{
	FS_OK, FS_NULL, FS_BAD
} FieldStatus;

static bool
absent(const Scalar *v)
{
	return !v->container && (v->s == NULL || v->type == JSON_TOKEN_NULL);
}

static FieldStatus
conv_int64(const Scalar *v, int64 *out)
{
	const char *s;
	int			len;
	const char *slash;

	if (v->container)
		return FS_BAD;
	if (absent(v))
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

static FieldStatus
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

static FieldStatus
conv_numeric(const Scalar *v, Datum *out)
{
	if (v->container)
		return FS_BAD;
	if (absent(v))
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

static FieldStatus
conv_text(const Scalar *v, Datum *out)
{
	if (v->container)
		return FS_BAD;
	if (absent(v))
		return FS_NULL;
	if (v->type != JSON_TOKEN_STRING || v->len > MAX_TEXT)
		return FS_BAD;
	*out = PointerGetDatum(cstring_to_text_with_len(v->s, v->len));
	return FS_OK;
}

/* Product status: REST gives "active", GraphQL "ACTIVE"; stored lower case. */
static FieldStatus
conv_status(const Scalar *v, Datum *out)
{
	char		buf[32];
	int			i;

	if (v->container)
		return FS_BAD;
	if (absent(v))
		return FS_NULL;
	if (v->type != JSON_TOKEN_STRING || v->len >= (int) sizeof(buf))
		return FS_BAD;
	for (i = 0; i < v->len; i++)
		buf[i] = pg_ascii_tolower((unsigned char) v->s[i]);
	buf[i] = '\0';
	*out = CStringGetTextDatum(buf);
	return FS_OK;
}

static FieldStatus
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
	if (absent(v))
		return FS_NULL;
	if (v->type != JSON_TOKEN_STRING || v->len < 10 || v->len > MAXDATELEN)
		return FS_BAD;
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

/* ----- rows ----- */

typedef struct Row
{
	Datum		values[NCOLS];
	bool		nulls[NCOLS];
	const char *error;
} Row;

static void
put(Row *row, int col, FieldStatus st, const char *what)
{
	row->nulls[col] = (st != FS_OK);
	if (st == FS_BAD && row->error == NULL)
		row->error = what;
}

static void
emit_row(ParseState *ps, Row *row, const char *kind)
{
	row->values[COL_KIND] = CStringGetTextDatum(kind);
	row->nulls[COL_KIND] = false;
	row->values[COL_OK] = BoolGetDatum(row->error == NULL);
	row->nulls[COL_OK] = false;
	if (row->error)
	{
		row->values[COL_ERROR] = CStringGetTextDatum(row->error);
		row->nulls[COL_ERROR] = false;
	}
	else
		row->nulls[COL_ERROR] = true;
	tuplestore_putvalues(ps->ts, ps->desc, row->values, row->nulls);
}

/* The product columns, shared by all its variants' rows. */
static void
product_columns(ParseState *ps, Row *row, int64 *product_id)
{
	FieldStatus st;

	memset(row, 0, sizeof(*row));
	for (int i = 0; i < NCOLS; i++)
		row->nulls[i] = true;

	st = conv_int64(&ps->pf[P_ID], product_id);
	if (st != FS_OK || *product_id <= 0)
		row->error = "product id missing or not a positive 64-bit integer";
	row->values[COL_PRODUCT_ID] = Int64GetDatum(*product_id);
	row->nulls[COL_PRODUCT_ID] = (st != FS_OK);

	put(row, COL_TITLE, conv_text(&ps->pf[P_TITLE], &row->values[COL_TITLE]),
		"product title is not a string of at most 64 kB");
	put(row, COL_VENDOR, conv_text(&ps->pf[P_VENDOR], &row->values[COL_VENDOR]),
		"vendor is not a string of at most 64 kB");
	put(row, COL_PRODUCT_TYPE, conv_text(&ps->pf[P_PRODUCT_TYPE], &row->values[COL_PRODUCT_TYPE]),
		"product_type is not a string of at most 64 kB");
	put(row, COL_HANDLE, conv_text(&ps->pf[P_HANDLE], &row->values[COL_HANDLE]),
		"handle is not a string of at most 64 kB");
	put(row, COL_STATUS, conv_status(&ps->pf[P_STATUS], &row->values[COL_STATUS]),
		"status is not a string");
	if (ps->tags_array)
	{
		if (ps->tags_bad || ps->tags.len > MAX_TEXT)
			put(row, COL_TAGS, FS_BAD, "tags are not an array of strings of at most 64 kB");
		else
		{
			row->values[COL_TAGS] = PointerGetDatum(cstring_to_text_with_len(ps->tags.data, ps->tags.len));
			row->nulls[COL_TAGS] = false;
		}
	}
	else
		put(row, COL_TAGS, conv_text(&ps->pf[P_TAGS], &row->values[COL_TAGS]),
			"tags are not a string of at most 64 kB");
	put(row, COL_PRODUCT_UPDATED, conv_timestamptz(&ps->pf[P_UPDATED_AT], &row->values[COL_PRODUCT_UPDATED]),
		"product updated_at is not a timestamp");
}

static void
variant_columns(Variant *v, Row *row, int64 product_id)
{
	int64		id = 0,
				vpid = 0,
				item = 0;
	int32		i32 = 0;
	FieldStatus st;

	if (v->error && row->error == NULL)
		row->error = v->error;

	st = conv_int64(&v->f[V_ID], &id);
	row->values[COL_SKU_ID] = Int64GetDatum(id);
	row->nulls[COL_SKU_ID] = (st != FS_OK);
	if ((st != FS_OK || id <= 0) && row->error == NULL)
		row->error = "variant id missing or not a positive 64-bit integer";

	st = conv_int64(&v->f[V_PRODUCT_ID], &vpid);
	if ((st == FS_BAD || (st == FS_OK && vpid != product_id)) && row->error == NULL)
		row->error = "variant product_id does not match its product";

	put(row, COL_SKU, conv_text(&v->f[V_SKU], &row->values[COL_SKU]), "sku is not a string of at most 64 kB");
	put(row, COL_VARIANT_TITLE, conv_text(&v->f[V_TITLE], &row->values[COL_VARIANT_TITLE]),
		"variant title is not a string of at most 64 kB");
	put(row, COL_BARCODE, conv_text(&v->f[V_BARCODE], &row->values[COL_BARCODE]),
		"barcode is not a string of at most 64 kB");
	put(row, COL_PRICE, conv_numeric(&v->f[V_PRICE], &row->values[COL_PRICE]), "price is not a decimal number");
	put(row, COL_COMPARE_AT, conv_numeric(&v->f[V_COMPARE_AT], &row->values[COL_COMPARE_AT]),
		"compare_at_price is not a decimal number");

	st = conv_int32(&v->f[V_INVENTORY], &i32);
	row->values[COL_INVENTORY] = Int32GetDatum(i32);
	put(row, COL_INVENTORY, st, "inventory_quantity is not a 32-bit integer");

	st = conv_int64(&v->f[V_INVENTORY_ITEM], &item);
	if (st == FS_OK && item <= 0)
		st = FS_BAD;
	row->values[COL_INVENTORY_ITEM] = Int64GetDatum(item);
	put(row, COL_INVENTORY_ITEM, st, "inventory_item_id is not a positive 64-bit integer");

	i32 = 0;
	st = conv_int32(&v->f[V_POSITION], &i32);
	row->values[COL_POSITION] = Int32GetDatum(i32);
	put(row, COL_POSITION, st, "position is not a 32-bit integer");

	put(row, COL_VARIANT_UPDATED, conv_timestamptz(&v->f[V_UPDATED_AT], &row->values[COL_VARIANT_UPDATED]),
		"variant updated_at is not a timestamp");
}

/* The product object closed: its rows go out, its memory is reset. */
static void
finish_product(ParseState *ps)
{
	Row			prow;
	int64		product_id = 0;
	int			i;

	product_columns(ps, &prow, &product_id);
	if (!ps->has_variants)
	{
		if (prow.error == NULL)
			prow.error = "product has no variants array";
		emit_row(ps, &prow, "variant");
	}
	for (i = 0; i < ps->nvariants; i++)
	{
		Row			row = prow;

		variant_columns(&ps->variants[i], &row, product_id);
		emit_row(ps, &row, "variant");
	}

	MemoryContextReset(ps->product_cxt);
	memset(ps->pf, 0, sizeof(ps->pf));
	ps->variants = NULL;
	ps->nvariants = ps->cap = 0;
	ps->has_variants = ps->tags_array = ps->tags_bad = false;
	ps->product_open = false;
	ps->tags.data = NULL;
}

static void
begin_product(ParseState *ps)
{
	MemoryContext old = MemoryContextSwitchTo(ps->product_cxt);

	ps->product_open = true;
	ps->cap = 16;
	ps->variants = palloc0(sizeof(Variant) * ps->cap);
	initStringInfo(&ps->tags);
	MemoryContextSwitchTo(old);
}

static Variant *
new_variant(ParseState *ps)
{
	if (ps->nvariants == ps->cap)
	{
		MemoryContext old = MemoryContextSwitchTo(ps->product_cxt);

		ps->variants = repalloc(ps->variants, sizeof(Variant) * ps->cap * 2);
		memset(ps->variants + ps->cap, 0, sizeof(Variant) * ps->cap);
		ps->cap *= 2;
		MemoryContextSwitchTo(old);
	}
	return &ps->variants[ps->nvariants++];
}

/* A product or variant with no usable object: one failed row on its own. */
static void
emit_lone_error(ParseState *ps, const char *error)
{
	Row			row;

	memset(&row, 0, sizeof(row));
	for (int i = 0; i < NCOLS; i++)
		row.nulls[i] = true;
	row.error = error;
	emit_row(ps, &row, "variant");
}

/*
 * A bulk_jsonl line closed: a variant line (it has "__parentId") becomes a
 * variant row carrying only its product id; any other line a product row.
 */
static void
finish_line(ParseState *ps)
{
	Row			row;
	int64		product_id = 0;

	if (!absent(&ps->parent) || ps->parent.container)
	{
		FieldStatus st = conv_int64(&ps->parent, &product_id);

		memset(&row, 0, sizeof(row));
		for (int i = 0; i < NCOLS; i++)
			row.nulls[i] = true;
		if (st != FS_OK || product_id <= 0)
			row.error = "__parentId is not a product id";
		row.values[COL_PRODUCT_ID] = Int64GetDatum(product_id);
		row.nulls[COL_PRODUCT_ID] = (st != FS_OK);
		ps->variants[0].f[V_PRODUCT_ID].s = NULL;	/* the line's own id is its variant id */
		variant_columns(&ps->variants[0], &row, product_id);
		emit_row(ps, &row, "variant");
	}
	else
	{
		product_columns(ps, &row, &product_id);
		emit_row(ps, &row, "product");
	}
	MemoryContextReset(ps->product_cxt);
	memset(ps->pf, 0, sizeof(ps->pf));
	memset(&ps->parent, 0, sizeof(ps->parent));
	ps->variants = NULL;
	ps->nvariants = ps->cap = 0;
	ps->has_variants = ps->tags_array = ps->tags_bad = false;
	ps->product_open = false;
	ps->tags.data = NULL;
}

/* ----- field names ----- */

static int
product_field(const char *f)
{
	if (f == NULL)
		return -1;
	if (strcmp(f, "id") == 0)
		return P_ID;
	if (strcmp(f, "title") == 0)
		return P_TITLE;
	if (strcmp(f, "vendor") == 0)
		return P_VENDOR;
	if (strcmp(f, "product_type") == 0 || strcmp(f, "productType") == 0)
		return P_PRODUCT_TYPE;
	if (strcmp(f, "handle") == 0)
		return P_HANDLE;
	if (strcmp(f, "status") == 0)
		return P_STATUS;
	if (strcmp(f, "tags") == 0)
		return P_TAGS;
	if (strcmp(f, "updated_at") == 0 || strcmp(f, "updatedAt") == 0)
		return P_UPDATED_AT;
	return -1;
}

static int
variant_field(const char *f)
{
	if (f == NULL)
		return -1;
	switch (f[0])
	{
		case 'i':
			if (strcmp(f, "id") == 0)
				return V_ID;
			if (strcmp(f, "inventory_quantity") == 0 || strcmp(f, "inventoryQuantity") == 0)
				return V_INVENTORY;
			if (strcmp(f, "inventory_item_id") == 0)
				return V_INVENTORY_ITEM;
			break;
		case 'p':
			if (strcmp(f, "product_id") == 0)
				return V_PRODUCT_ID;
			if (strcmp(f, "price") == 0)
				return V_PRICE;
			if (strcmp(f, "position") == 0)
				return V_POSITION;
			break;
		case 's':
			if (strcmp(f, "sku") == 0)
				return V_SKU;
			break;
		case 't':
			if (strcmp(f, "title") == 0)
				return V_TITLE;
			break;
		case 'b':
			if (strcmp(f, "barcode") == 0)
				return V_BARCODE;
			break;
		case 'c':
			if (strcmp(f, "compare_at_price") == 0 || strcmp(f, "compareAtPrice") == 0)
				return V_COMPARE_AT;
			break;
		case 'u':
			if (strcmp(f, "updated_at") == 0 || strcmp(f, "updatedAt") == 0)
				return V_UPDATED_AT;
			break;
	}
	return -1;
}

/* ----- semantic actions ----- */

static Frame *
top(ParseState *ps)
{
	return ps->depth > 0 ? &ps->stack[ps->depth - 1] : NULL;
}

static void
push(ParseState *ps, Role role)
{
	if (ps->depth >= MAX_DEPTH)
	{
		ps->skip = 1;			/* deeper than anything we keep */
		return;
	}
	ps->stack[ps->depth].role = role;
	ps->stack[ps->depth].field = NULL;
	ps->depth++;
}

static bool
is_field(Frame *t, const char *name)
{
	return t->field != NULL && strcmp(t->field, name) == 0;
}

/*
 * rest_product: the product of {"product": {...}} has been emitted and its
 * memory reset; the wrapper's other fields belong to no product and are
 * ignored ({"product": {...}, "variants": [...]} must not add variants to
 * a product that is gone).
 */
static bool
wrapper_done(ParseState *ps, Frame *t)
{
	return t->role == R_WRAPPER && !ps->product_open;
}

/* Roles whose scalar fields are product fields / variant fields. */
static bool
product_role(Role r)
{
	return r == R_PRODUCT || r == R_WRAPPER || r == R_LINE;
}

static bool
variant_role(Role r)
{
	return r == R_VARIANT || r == R_LINE;
}

/* Mark a kept field of the current product/variant as the wrong type. */
static bool
mark_container(ParseState *ps, Frame *t)
{
	int			k;
	bool		kept = false;

	if (product_role(t->role) && (k = product_field(t->field)) >= 0)
	{
		ps->pf[k].container = true;
		kept = true;
	}
	if (variant_role(t->role) && ps->nvariants > 0 && (k = variant_field(t->field)) >= 0)
	{
		ps->variants[ps->nvariants - 1].f[k].container = true;
		kept = true;
	}
	if (t->role == R_LINE && is_field(t, "__parentId"))
	{
		ps->parent.container = true;
		kept = true;
	}
	return kept;
}

static void
begin_single_product(ParseState *ps)
{
	MemoryContextReset(ps->product_cxt);
	memset(ps->pf, 0, sizeof(ps->pf));
	ps->nvariants = 0;
	ps->has_variants = false;
	begin_product(ps);
}

/*
 * One more object or array open.  PostgreSQL's parser recurses once per
 * level: stop long before "stack depth limit exceeded", which is not a data
 * error (the page would be taken for a database failure).
 */
static void
nest(ParseState *ps)
{
	if (++ps->nesting > SHOPIFY_JSON_MAX_DEPTH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("Shopify payload nests deeper than %d levels", SHOPIFY_JSON_MAX_DEPTH)));
}

static void
sa_object_start(void *state)
{
	ParseState *ps = (ParseState *) state;
	Frame	   *t = top(ps);

	nest(ps);
	if (ps->skip > 0)
	{
		ps->skip++;
		return;
	}
	if (t == NULL)
	{
		switch (ps->shape)
		{
			case SHAPE_REST_PRODUCT:
				push(ps, R_WRAPPER);
				begin_product(ps);
				break;
			case SHAPE_BULK_JSONL:
				push(ps, R_LINE);
				begin_product(ps);
				(void) new_variant(ps);
				break;
			default:
				push(ps, R_ROOT);
				break;
		}
		return;
	}
	switch (t->role)
	{
		case R_ROOT:
			if (is_field(t, "data") && ps->shape != SHAPE_REST_PRODUCTS)
			{
				push(ps, R_GDATA);
				return;
			}
			break;
		case R_GDATA:
			if (is_field(t, "products") && ps->shape == SHAPE_GRAPHQL_PRODUCTS)
			{
				ps->saw_products = true;
				push(ps, R_GCONN);
				return;
			}
			if (is_field(t, "product") && ps->shape == SHAPE_GRAPHQL_PRODUCT)
			{
				begin_single_product(ps);
				push(ps, R_PRODUCT);
				return;
			}
			break;
		case R_GEDGES:
			push(ps, R_GEDGE);
			return;
		case R_GEDGE:
			if (is_field(t, "node"))
			{
				push(ps, R_PRODUCT);
				begin_product(ps);
				return;
			}
			break;
		case R_PRODUCTS:
			push(ps, R_PRODUCT);
			begin_product(ps);
			return;
		case R_PRODUCT:
		case R_WRAPPER:
			if (t->role == R_WRAPPER && is_field(t, "product"))
			{
				/* {"product": {...}}: the inner object is the product */
				begin_single_product(ps);
				push(ps, R_PRODUCT);
				return;
			}
			if (wrapper_done(ps, t))
			{
				ps->skip = 1;
				return;
			}
			if (is_field(t, "variants"))
			{
				push(ps, R_VCONN);	/* GraphQL: a connection */
				return;
			}
			break;
		case R_VEDGES:
			push(ps, R_VEDGE);
			return;
		case R_VEDGE:
			if (is_field(t, "node"))
			{
				(void) new_variant(ps);
				push(ps, R_VARIANT);
				return;
			}
			break;
		case R_VARIANTS:
			(void) new_variant(ps);
			push(ps, R_VARIANT);
			return;
		case R_VARIANT:
		case R_LINE:
			if (is_field(t, "inventoryItem"))
			{
				push(ps, R_INVITEM);
				return;
			}
			break;
		default:
			break;
	}
	(void) mark_container(ps, t);
	ps->skip = 1;
}

static void
sa_object_end(void *state)
{
	ParseState *ps = (ParseState *) state;
	Frame	   *t;

	ps->nesting--;
	if (ps->skip > 0)
	{
		ps->skip--;
		return;
	}
	t = top(ps);
	if (t == NULL)
		return;
	if (t->role == R_PRODUCT || (t->role == R_WRAPPER && ps->product_open))
		finish_product(ps);
	else if (t->role == R_LINE)
		finish_line(ps);
	ps->depth--;
}

static void
sa_array_start(void *state)
{
	ParseState *ps = (ParseState *) state;
	Frame	   *t = top(ps);

	nest(ps);
	if (ps->skip > 0)
	{
		ps->skip++;
		return;
	}
	if (t == NULL)
	{
		ps->skip = 1;			/* a bare array: nothing we know */
		return;
	}
	if (t->role == R_ROOT && is_field(t, "products") && ps->shape == SHAPE_REST_PRODUCTS)
	{
		ps->saw_products = true;
		push(ps, R_PRODUCTS);
		return;
	}
	if (t->role == R_GCONN)
	{
		if (is_field(t, "nodes"))
		{
			push(ps, R_PRODUCTS);
			return;
		}
		if (is_field(t, "edges"))
		{
			push(ps, R_GEDGES);
			return;
		}
	}
	if (t->role == R_VCONN)
	{
		if (is_field(t, "nodes") || is_field(t, "edges"))
		{
			ps->has_variants = true;
			push(ps, is_field(t, "nodes") ? R_VARIANTS : R_VEDGES);
			return;
		}
	}
	if (product_role(t->role) && t->field && !wrapper_done(ps, t))
	{
		if (strcmp(t->field, "variants") == 0 && t->role != R_LINE)
		{
			ps->has_variants = true;
			push(ps, R_VARIANTS);
			return;
		}
		if (strcmp(t->field, "tags") == 0)
		{
			ps->tags_array = true;
			push(ps, R_TAGS);
			return;
		}
	}
	(void) mark_container(ps, t);
	ps->skip = 1;
}

static void
sa_array_end(void *state)
{
	ParseState *ps = (ParseState *) state;

	ps->nesting--;
	if (ps->skip > 0)
	{
		ps->skip--;
		return;
	}
	if (ps->depth > 0)
		ps->depth--;
}

static void
sa_field_start(void *state, char *fname, bool isnull)
{
	ParseState *ps = (ParseState *) state;
	Frame	   *t;

	if (ps->skip > 0)
	{
		pfree(fname);
		return;
	}
	t = top(ps);
	if (t->field)
		pfree(t->field);
	t->field = fname;
}

static void
set_scalar(Scalar *dst, char *token, JsonTokenType type, bool copy)
{
	if (dst->s && !copy)
		pfree(dst->s);
	dst->s = copy && token ? pstrdup(token) : token;
	dst->len = token ? strlen(token) : 0;
	dst->type = type;
	dst->container = false;
}

static void
sa_scalar(void *state, char *token, JsonTokenType type)
{
	ParseState *ps = (ParseState *) state;
	Frame	   *t = top(ps);
	bool		kept = false;
	int			k;

	if (ps->skip > 0 || t == NULL || wrapper_done(ps, t))
	{
		if (token)
			pfree(token);
		return;
	}
	switch (t->role)
	{
		case R_PRODUCT:
		case R_WRAPPER:
		case R_VARIANT:
		case R_LINE:
			{
				MemoryContext old = MemoryContextSwitchTo(ps->product_cxt);

				if (product_role(t->role) && (k = product_field(t->field)) >= 0)
				{
					set_scalar(&ps->pf[k], token, type, t->role == R_LINE);
					kept = true;
				}
				if (variant_role(t->role) && ps->nvariants > 0 && (k = variant_field(t->field)) >= 0)
				{
					set_scalar(&ps->variants[ps->nvariants - 1].f[k], token, type, t->role == R_LINE);
					kept = true;
				}
				if (t->role == R_LINE && is_field(t, "__parentId"))
				{
					set_scalar(&ps->parent, token, type, true);
					kept = true;
				}
				MemoryContextSwitchTo(old);
				if (t->role == R_LINE && kept && token)
				{
					pfree(token);
					return;
				}
				break;
			}
		case R_INVITEM:
			if (is_field(t, "id") && ps->nvariants > 0)
			{
				set_scalar(&ps->variants[ps->nvariants - 1].f[V_INVENTORY_ITEM], token, type, false);
				kept = true;
			}
			break;
		case R_TAGS:
			if (type != JSON_TOKEN_STRING)
				ps->tags_bad = true;
			else
			{
				MemoryContext old = MemoryContextSwitchTo(ps->product_cxt);

				if (ps->tags.len > 0)
					appendStringInfoString(&ps->tags, ", ");
				if (ps->tags.len + strlen(token) <= MAX_TEXT + 1)
					appendStringInfoString(&ps->tags, token);
				else
					ps->tags_bad = true;
				MemoryContextSwitchTo(old);
			}
			break;
		case R_PRODUCTS:
			if (type != JSON_TOKEN_NULL)
				emit_lone_error(ps, "product is not an object");
			break;
		case R_VARIANTS:
			if (type != JSON_TOKEN_NULL)
				new_variant(ps)->error = "variant is not an object";
			break;
		default:
			break;
	}
	if (!kept && token)
		pfree(token);
}

static void
parse_one(ParseState *ps, char *doc, int len)
{
	JsonSemAction sem;
	JsonLexContext *lex;
	JsonParseErrorType rc;

	memset(&sem, 0, sizeof(sem));
	sem.semstate = ps;
	sem.object_start = sa_object_start;
	sem.object_end = sa_object_end;
	sem.array_start = sa_array_start;
	sem.array_end = sa_array_end;
	sem.object_field_start = sa_field_start;
	sem.scalar = sa_scalar;

	ps->depth = 0;
	ps->skip = 0;
	ps->nesting = 0;
	lex = makeJsonLexContextCstringLen(doc, len, GetDatabaseEncoding(), true);
	rc = pg_parse_json(lex, &sem);
	if (rc != JSON_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("Shopify payload is not valid JSON"),
				 errdetail("%s", json_errdetail(rc, lex))));
	if (lex->strval)
	{
		pfree(lex->strval->data);
		pfree(lex->strval);
	}
	pfree(lex);
}

/* Parse doc and put its rows into ts. */
static void
parse_payload(char *doc, int len, Shape shape, Tuplestorestate *ts, TupleDesc desc)
{
	ParseState *ps = palloc0(sizeof(ParseState));
	MemoryContext line_cxt = NULL;
	int			valid;

	/*
	 * The parser copies string bytes as they are into the rows' text: they
	 * must be valid in the database encoding.  (Pages are checked when they
	 * arrive; bulk batches and direct calls are not.)
	 */
	valid = pg_encoding_verifymbstr(GetDatabaseEncoding(), doc, len);
	if (valid < len)
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("Shopify payload is not valid %s", GetDatabaseEncodingName()),
				 errdetail("Invalid byte sequence or NUL byte at byte %d of %d.", valid + 1, len)));

	ps->shape = shape;
	ps->single_product = (shape == SHAPE_REST_PRODUCT);
	ps->ts = ts;
	ps->desc = desc;
	ps->product_cxt = AllocSetContextCreate(CurrentMemoryContext, "shopify_sync product",
											ALLOCSET_DEFAULT_SIZES);
	if (shape != SHAPE_BULK_JSONL)
		parse_one(ps, doc, len);
	else
	{
		/* one JSON document per line; each line's parse in a context reset after it */
		char	   *p = doc;
		char	   *end = doc + len;

		line_cxt = AllocSetContextCreate(CurrentMemoryContext, "shopify_sync bulk line",
										 ALLOCSET_DEFAULT_SIZES);
		while (p < end)
		{
			char	   *nl = memchr(p, '\n', end - p);
			char	   *stop = nl ? nl : end;
			MemoryContext old;

			if (stop > p && !(stop - p == 1 && *p == '\r'))
			{
				old = MemoryContextSwitchTo(line_cxt);
				parse_one(ps, p, (int) (stop - p));
				MemoryContextSwitchTo(old);
				MemoryContextReset(line_cxt);
			}
			p = stop + 1;
		}
	}
	if ((shape == SHAPE_REST_PRODUCTS || shape == SHAPE_GRAPHQL_PRODUCTS) && !ps->saw_products)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("Shopify page has no products"),
				 errdetail("Expected %s.", shape == SHAPE_REST_PRODUCTS ?
						   "a \"products\" array" : "\"data\": {\"products\": ...}")));
	MemoryContextDelete(ps->product_cxt);
	if (line_cxt)
		MemoryContextDelete(line_cxt);
}

Datum
shopify_page_variants(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *doc = PG_GETARG_TEXT_PP(0);
	char	   *shape = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Shape		sh;

	if (strcmp(shape, "rest_products") == 0)
		sh = SHAPE_REST_PRODUCTS;
	else if (strcmp(shape, "rest_product") == 0)
		sh = SHAPE_REST_PRODUCT;
	else if (strcmp(shape, "graphql_products") == 0)
		sh = SHAPE_GRAPHQL_PRODUCTS;
	else if (strcmp(shape, "graphql_product") == 0)
		sh = SHAPE_GRAPHQL_PRODUCT;
	else if (strcmp(shape, "bulk_jsonl") == 0)
		sh = SHAPE_BULK_JSONL;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown payload shape \"%s\"", shape)));

	InitMaterializedSRF(fcinfo, 0);
	parse_payload(VARDATA_ANY(doc), VARSIZE_ANY_EXHDR(doc), sh,
				  rsinfo->setResult, rsinfo->setDesc);
	return (Datum) 0;
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
