/*
 * variants_rows.c — a product read by the parser (variants.c) becomes rows.
 *
 * Every variant row carries its product's columns; each value is converted
 * by convert.c, and the first field that does not convert makes the row
 * fail (ok = false, with the reason), never the call.  A product without a
 * variants array, or an element that is not an object, is one failed row.
 * Rows go into the caller's tuplestore; the product's memory is reset after
 * each product (bulk: after each line), so a page costs the memory of its
 * largest product, not of the page.
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "convert.h"
#include "variants_int.h"

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
	ps->emit(ps->emit_arg, row->values, row->nulls);
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

/* Forget the product (or bulk line) just emitted: its memory and fields. */
static void
reset_product(ParseState *ps)
{
	MemoryContextReset(ps->product_cxt);
	memset(ps->pf, 0, sizeof(ps->pf));
	ps->variants = NULL;
	ps->nvariants = ps->cap = 0;
	ps->has_variants = ps->tags_array = ps->tags_bad = false;
	ps->product_open = false;
	ps->tags.data = NULL;
}

/* A row of NULLs, to be given an error or a few columns. */
static void
null_row(Row *row)
{
	memset(row, 0, sizeof(*row));
	for (int i = 0; i < NCOLS; i++)
		row->nulls[i] = true;
}

/* The product object closed: its rows go out, its memory is reset. */
void
row_finish_product(ParseState *ps)
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

	reset_product(ps);
}

/* A product object opened: room for its variants and tags. */
void
row_begin_product(ParseState *ps)
{
	MemoryContext old = MemoryContextSwitchTo(ps->product_cxt);

	ps->product_open = true;
	ps->cap = 16;
	ps->variants = palloc0(sizeof(Variant) * ps->cap);
	initStringInfo(&ps->tags);
	MemoryContextSwitchTo(old);
}

/* The next variant of the open product. */
Variant *
row_new_variant(ParseState *ps)
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
void
row_lone_error(ParseState *ps, const char *error)
{
	Row			row;

	null_row(&row);
	row.error = error;
	emit_row(ps, &row, "variant");
}

/*
 * A bulk_jsonl line closed: a variant line (it has "__parentId") becomes a
 * variant row carrying only its product id; any other line a product row.
 */
void
row_finish_line(ParseState *ps)
{
	Row			row;
	int64		product_id = 0;

	if (!conv_absent(&ps->parent) || ps->parent.container)
	{
		FieldStatus st = conv_int64(&ps->parent, &product_id);

		null_row(&row);
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
	memset(&ps->parent, 0, sizeof(ps->parent));
	reset_product(ps);
}

/* ----- field names ----- */

int
row_product_field(const char *f)
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

/* Which kept variant field a key names (REST or GraphQL spelling), or -1. */
int
row_variant_field(const char *f)
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
