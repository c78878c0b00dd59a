/*
 * variants.c — Shopify product payloads to typed variant rows: the
 * declaration of what a product and a variant keep, and the rows made of
 * them (also offered to SQL as shopify._variants(doc text, shape text)).
 *
 * Every payload (a REST page, a webhook product, a GraphQL page, a
 * product's further variants, a batch of bulk lines) is read once by
 * extract.c from the declarations below, and becomes rows of one shape:
 * one row per variant, with its product's fields copied onto it and values
 * converted to the mirror's types (bigint ids, also from GraphQL global
 * ids; exact numeric prices; timestamptz).
 *
 * Nothing here throws for bad data inside a well-formed document: a variant
 * with a value of the wrong type, an id out of range, an unparsable price or
 * timestamp, or a string longer than 64 kB comes out with ok = false and a
 * reason, so the caller counts it as failed and stores nothing of it, while
 * the rest of the page goes on.  A product without a list of variants, or
 * an element that is not an object, is one failed row.  Documents that are
 * not JSON, not valid text, or nested too deep are errors of class 22 for
 * the whole call (extract.c).
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

#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "mirror/convert.h"
#include "mirror/extract.h"
#include "mirror/variants.h"

PG_FUNCTION_INFO_V1(shopify_page_variants);

/* ----- the declarations ----- */

enum
{
	P_ID, P_TITLE, P_VENDOR, P_PRODUCT_TYPE, P_HANDLE, P_STATUS, P_TAGS, P_UPDATED_AT,
	NPFIELDS
};

static const XFieldDecl product_fields[NPFIELDS] = {
	[P_ID] = {"id"},
	[P_TITLE] = {"title"},
	[P_VENDOR] = {"vendor"},
	[P_PRODUCT_TYPE] = {"product_type|productType"},
	[P_HANDLE] = {"handle"},
	[P_STATUS] = {"status"},
	[P_TAGS] = {"tags", XF_LIST},	/* REST "a, b"; GraphQL ["a", "b"] */
	[P_UPDATED_AT] = {"updated_at|updatedAt"},
};

enum
{
	V_ID, V_PRODUCT_ID, V_SKU, V_TITLE, V_BARCODE, V_PRICE, V_COMPARE_AT, V_INVENTORY,
	V_INVENTORY_ITEM, V_POSITION, V_UPDATED_AT,
	NVFIELDS,
	V_PARENT = NVFIELDS			/* bulk lines only */
};

static const XFieldDecl variant_fields[NVFIELDS + 1] = {
	[V_ID] = {"id"},
	[V_PRODUCT_ID] = {"product_id"},
	[V_SKU] = {"sku"},
	[V_TITLE] = {"title"},
	[V_BARCODE] = {"barcode"},
	[V_PRICE] = {"price"},
	[V_COMPARE_AT] = {"compare_at_price|compareAtPrice"},
	[V_INVENTORY] = {"inventory_quantity|inventoryQuantity"},
	[V_INVENTORY_ITEM] = {"inventory_item_id|inventoryItem.id"},
	[V_POSITION] = {"position"},
	[V_UPDATED_AT] = {"updated_at|updatedAt"},
	[V_PARENT] = {"__parentId"},
};

static const XRecordDecl variant_decl = {"variant", variant_fields, NVFIELDS, NULL, 0};
static const XRecordDecl bulk_variant_decl = {"variant", variant_fields, NVFIELDS + 1, NULL, 0};

/* REST: an array; GraphQL: a connection's nodes or edges */
static const XChildDecl product_children[] = {
	{"variants.*", &variant_decl},
	{"variants.nodes.*", &variant_decl},
	{"variants.edges.*.node", &variant_decl},
};

static const XRecordDecl product_decl = {"product", product_fields, NPFIELDS,
product_children, lengthof(product_children)};

/* a bulk product line has no children: its variants are lines of their own */
static const XRecordDecl bulk_product_decl = {"product", product_fields, NPFIELDS, NULL, 0};

static const char *const rest_page_roots[] = {"products.*"};
static const char *const rest_product_roots[] = {""};
static const char *const graphql_page_roots[] = {"data.products.nodes.*", "data.products.edges.*.node"};
static const char *const graphql_product_roots[] = {"data.product"};

static const XShape shapes[] = {
	{.name = "rest_products", .roots = rest_page_roots, .nroots = 1, .marker = "products",
	.marker_array = true, .decl = &product_decl},
	{.name = "rest_product", .roots = rest_product_roots, .nroots = 1, .wrapper = "product",
	.decl = &product_decl},
	{.name = "graphql_products", .roots = graphql_page_roots, .nroots = 2,
	.marker = "data.products", .decl = &product_decl},
	{.name = "graphql_product", .roots = graphql_product_roots, .nroots = 1, .decl = &product_decl},
	{.name = "bulk_jsonl", .jsonl = true, .decl = &bulk_product_decl,
	.child_decl = &bulk_variant_decl, .parent_field = V_PARENT},
};

/* ----- rows ----- */

typedef struct Row
{
	Datum		values[VROW_NCOLS];
	bool		nulls[VROW_NCOLS];
	const char *error;
} Row;

typedef struct Builder
{
	VariantEmit emit;
	void	   *arg;
	MemoryContext cxt;			/* the rows of one record; reset after it */
} Builder;

/* an extracted value as the converters take it */
static Scalar
scalar_of(const XValue *x)
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

static void
null_row(Row *row)
{
	memset(row, 0, sizeof(*row));
	for (int i = 0; i < VROW_NCOLS; i++)
		row->nulls[i] = true;
}

static void
put(Row *row, int col, FieldStatus st, const char *what)
{
	row->nulls[col] = (st != FS_OK);
	if (st == FS_BAD && row->error == NULL)
		row->error = what;
}

static void
emit_row(Builder *b, Row *row, const char *kind, const XRecord *rec)
{
	row->values[VROW_KIND] = CStringGetTextDatum(kind);
	row->nulls[VROW_KIND] = false;
	row->values[VROW_OK] = BoolGetDatum(row->error == NULL);
	row->nulls[VROW_OK] = false;
	if (row->error)
	{
		row->values[VROW_ERROR] = CStringGetTextDatum(row->error);
		row->nulls[VROW_ERROR] = false;
	}
	else
		row->nulls[VROW_ERROR] = true;
	b->emit(b->arg, row->values, row->nulls, rec ? rec->src : NULL, rec ? rec->srclen : 0);
}

/* tags: a string, or an array of strings joined with ", " */
static FieldStatus
conv_tags(const XValue *x, Datum *out)
{
	StringInfoData b;

	if (!x->list)
	{
		Scalar		s = scalar_of(x);

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

/* The product columns, shared by all its variants' rows. */
static void
product_columns(const XRecord *p, Row *row, int64 *product_id)
{
	FieldStatus st;
	Scalar		s;

	null_row(row);
	s = scalar_of(&p->v[P_ID]);
	st = conv_int64(&s, product_id);
	if (st != FS_OK || *product_id <= 0)
		row->error = "product id missing or not a positive 64-bit integer";
	row->values[VROW_PRODUCT_ID] = Int64GetDatum(*product_id);
	row->nulls[VROW_PRODUCT_ID] = (st != FS_OK);

	s = scalar_of(&p->v[P_TITLE]);
	put(row, VROW_TITLE, conv_text(&s, &row->values[VROW_TITLE]),
		"product title is not a string of at most 64 kB");
	s = scalar_of(&p->v[P_VENDOR]);
	put(row, VROW_VENDOR, conv_text(&s, &row->values[VROW_VENDOR]),
		"vendor is not a string of at most 64 kB");
	s = scalar_of(&p->v[P_PRODUCT_TYPE]);
	put(row, VROW_PRODUCT_TYPE, conv_text(&s, &row->values[VROW_PRODUCT_TYPE]),
		"product_type is not a string of at most 64 kB");
	s = scalar_of(&p->v[P_HANDLE]);
	put(row, VROW_HANDLE, conv_text(&s, &row->values[VROW_HANDLE]),
		"handle is not a string of at most 64 kB");
	s = scalar_of(&p->v[P_STATUS]);
	put(row, VROW_STATUS, conv_status(&s, &row->values[VROW_STATUS]), "status is not a string");
	put(row, VROW_TAGS, conv_tags(&p->v[P_TAGS], &row->values[VROW_TAGS]),
		p->v[P_TAGS].list ? "tags are not an array of strings of at most 64 kB" :
		"tags are not a string of at most 64 kB");
	s = scalar_of(&p->v[P_UPDATED_AT]);
	put(row, VROW_PRODUCT_UPDATED, conv_timestamptz(&s, &row->values[VROW_PRODUCT_UPDATED]),
		"product updated_at is not a timestamp");
}

static void
variant_columns(const XRecord *v, Row *row, int64 product_id, bool check_product)
{
	int64		id = 0,
				vpid = 0,
				item = 0;
	int32		i32 = 0;
	FieldStatus st;
	Scalar		s;

	if (v->not_object && row->error == NULL)
		row->error = "variant is not an object";

	s = scalar_of(&v->v[V_ID]);
	st = conv_int64(&s, &id);
	row->values[VROW_SKU_ID] = Int64GetDatum(id);
	row->nulls[VROW_SKU_ID] = (st != FS_OK);
	if ((st != FS_OK || id <= 0) && row->error == NULL)
		row->error = "variant id missing or not a positive 64-bit integer";

	if (check_product)
	{
		s = scalar_of(&v->v[V_PRODUCT_ID]);
		st = conv_int64(&s, &vpid);
		if ((st == FS_BAD || (st == FS_OK && vpid != product_id)) && row->error == NULL)
			row->error = "variant product_id does not match its product";
	}

	s = scalar_of(&v->v[V_SKU]);
	put(row, VROW_SKU, conv_text(&s, &row->values[VROW_SKU]), "sku is not a string of at most 64 kB");
	s = scalar_of(&v->v[V_TITLE]);
	put(row, VROW_VARIANT_TITLE, conv_text(&s, &row->values[VROW_VARIANT_TITLE]),
		"variant title is not a string of at most 64 kB");
	s = scalar_of(&v->v[V_BARCODE]);
	put(row, VROW_BARCODE, conv_text(&s, &row->values[VROW_BARCODE]),
		"barcode is not a string of at most 64 kB");
	s = scalar_of(&v->v[V_PRICE]);
	put(row, VROW_PRICE, conv_numeric(&s, &row->values[VROW_PRICE]), "price is not a decimal number");
	s = scalar_of(&v->v[V_COMPARE_AT]);
	put(row, VROW_COMPARE_AT, conv_numeric(&s, &row->values[VROW_COMPARE_AT]),
		"compare_at_price is not a decimal number");

	s = scalar_of(&v->v[V_INVENTORY]);
	st = conv_int32(&s, &i32);
	row->values[VROW_INVENTORY] = Int32GetDatum(i32);
	put(row, VROW_INVENTORY, st, "inventory_quantity is not a 32-bit integer");

	s = scalar_of(&v->v[V_INVENTORY_ITEM]);
	st = conv_int64(&s, &item);
	if (st == FS_OK && item <= 0)
		st = FS_BAD;
	row->values[VROW_INVENTORY_ITEM] = Int64GetDatum(item);
	put(row, VROW_INVENTORY_ITEM, st, "inventory_item_id is not a positive 64-bit integer");

	i32 = 0;
	s = scalar_of(&v->v[V_POSITION]);
	st = conv_int32(&s, &i32);
	row->values[VROW_POSITION] = Int32GetDatum(i32);
	put(row, VROW_POSITION, st, "position is not a 32-bit integer");

	s = scalar_of(&v->v[V_UPDATED_AT]);
	put(row, VROW_VARIANT_UPDATED, conv_timestamptz(&s, &row->values[VROW_VARIANT_UPDATED]),
		"variant updated_at is not a timestamp");
}

static void build_record(Builder *b, XRecord *rec);

/* A product (with its variants) or a bulk line becomes rows. */
static void
build_rows(void *arg, XRecord *rec)
{
	Builder    *b = (Builder *) arg;
	MemoryContext old = MemoryContextSwitchTo(b->cxt);

	build_record(b, rec);
	MemoryContextSwitchTo(old);
	MemoryContextReset(b->cxt);
}

static void
build_record(Builder *b, XRecord *rec)
{
	Row			prow;
	int64		product_id = 0;

	if (rec->decl == &bulk_variant_decl)
	{
		/* a bulk variant line: its product is the one it names */
		Row			row;
		Scalar		s = scalar_of(&rec->v[V_PARENT]);
		FieldStatus st = conv_int64(&s, &product_id);

		null_row(&row);
		if (st != FS_OK || product_id <= 0)
			row.error = "__parentId is not a product id";
		row.values[VROW_PRODUCT_ID] = Int64GetDatum(product_id);
		row.nulls[VROW_PRODUCT_ID] = (st != FS_OK);
		variant_columns(rec, &row, product_id, false);
		emit_row(b, &row, "variant", rec);
		return;
	}
	if (rec->not_object)
	{
		null_row(&prow);
		prow.error = "product is not an object";
		emit_row(b, &prow, "variant", rec);
		return;
	}
	product_columns(rec, &prow, &product_id);
	if (rec->decl == &bulk_product_decl)
	{
		emit_row(b, &prow, "product", rec);
		return;
	}
	if (rec->has_children == 0)
	{
		if (prow.error == NULL)
			prow.error = "product has no variants array";
		emit_row(b, &prow, "variant", rec);
	}
	for (int i = 0; i < rec->nchildren; i++)
	{
		Row			row = prow;

		variant_columns(rec->children[i], &row, product_id, true);
		emit_row(b, &row, "variant", rec);
	}
}

static const XShape *
shape_of(const char *shape)
{
	for (int i = 0; i < (int) lengthof(shapes); i++)
		if (strcmp(shapes[i].name, shape) == 0)
			return &shapes[i];
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown payload shape \"%s\"", shape)));
	return NULL;
}

/*
 * The rows of a payload of the named shape, one emit() call each (values
 * and nulls of the VROW_* columns; by-reference values live until the
 * next call).
 */
void
variants_parse(const char *doc, size_t len, const char *shape, VariantEmit emit, void *emit_arg)
{
	const XShape *sh = shape_of(shape);
	Builder		b = {emit, emit_arg, NULL};
	XResult		res;

	b.cxt = AllocSetContextCreate(CurrentMemoryContext, "shopify_sync variant rows",
								  ALLOCSET_DEFAULT_SIZES);
	extract_run(sh, doc, len, build_rows, &b, &res);
	MemoryContextDelete(b.cxt);
	if (sh->marker && !res.saw_root)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("Shopify page has no products"),
				 errdetail("Expected %s.", strcmp(shape, "rest_products") == 0 ?
						   "a \"products\" array" : "\"data\": {\"products\": ...}")));
}

typedef struct SrfOut
{
	Tuplestorestate *ts;
	TupleDesc	desc;
} SrfOut;

static void
emit_tuple(void *arg, Datum *values, bool *nulls, const char *src, int srclen)
{
	SrfOut	   *o = (SrfOut *) arg;

	tuplestore_putvalues(o->ts, o->desc, values, nulls);
}

Datum
shopify_page_variants(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *doc = PG_GETARG_TEXT_PP(0);
	char	   *shape = text_to_cstring(PG_GETARG_TEXT_PP(1));
	SrfOut		o;

	(void) shape_of(shape);		/* an unknown shape is refused before anything else */
	InitMaterializedSRF(fcinfo, 0);
	o.ts = rsinfo->setResult;
	o.desc = rsinfo->setDesc;
	variants_parse(VARDATA_ANY(doc), VARSIZE_ANY_EXHDR(doc), shape, emit_tuple, &o);
	return (Datum) 0;
}
