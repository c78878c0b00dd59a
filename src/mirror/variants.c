/*
 * variants.c — Shopify product payloads to typed variant rows, as the
 * products write path takes them (also offered to SQL as
 * shopify._variants(doc text, shape text)).
 *
 * Every payload (a REST page, a webhook product, a GraphQL page, a
 * product's further variants, a batch of bulk lines) is read once, by the
 * products declaration (resource.c, rows.c), and becomes rows of one shape:
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


#include "mirror/resource.h"
#include "mirror/rows.h"
#include "mirror/variants.h"

PG_FUNCTION_INFO_V1(shopify_page_variants);

/* ----- the rows ----- */

/* the shapes' names (shopify._variants(doc, shape)) */
static const struct
{
	const char *name;
	RowsShape	shape;
}			shapes[] = {
	{"rest_products", RS_REST_PAGE},
	{"rest_product", RS_REST_ONE},
	{"graphql_products", RS_GRAPHQL_PAGE},
	{"graphql_product", RS_GRAPHQL_ONE},
	{"bulk_jsonl", RS_BULK},
};

typedef struct Builder
{
	VariantEmit emit;
	void	   *arg;
	const int  *vrow_of;		/* the VROW_* index of each column of shopify.products */
} Builder;

/* the VROW_* index of each column of the products declaration */
static const int *
vrow_map(const TableDecl *t)
{
	static int *map = NULL;
	static const struct
	{
		const char *name;
		int			vrow;
	}			cols[] = {
		{"sku_id", VROW_SKU_ID}, {"product_id", VROW_PRODUCT_ID}, {"sku", VROW_SKU},
		{"title", VROW_TITLE}, {"variant_title", VROW_VARIANT_TITLE}, {"vendor", VROW_VENDOR},
		{"product_type", VROW_PRODUCT_TYPE}, {"handle", VROW_HANDLE}, {"status", VROW_STATUS},
		{"tags", VROW_TAGS}, {"price", VROW_PRICE}, {"compare_at_price", VROW_COMPARE_AT},
		{"barcode", VROW_BARCODE}, {"inventory_quantity", VROW_INVENTORY},
		{"inventory_item_id", VROW_INVENTORY_ITEM}, {"position", VROW_POSITION},
		{"shopify_updated_at", VROW_VARIANT_UPDATED}, {"product_updated_at", VROW_PRODUCT_UPDATED},
	};

	if (map == NULL)
	{
		int		   *m = MemoryContextAlloc(TopMemoryContext, sizeof(int) * t->ncolumns);

		for (int c = 0; c < t->ncolumns; c++)
		{
			m[c] = -1;
			for (int k = 0; k < (int) lengthof(cols); k++)
				if (strcmp(cols[k].name, t->columns[c].name) == 0)
					m[c] = cols[k].vrow;
			if (m[c] < 0)
				elog(ERROR, "shopify.products column %s has no variant row column", t->columns[c].name);
		}
		map = m;
	}
	return map;
}

/* A row of the declaration as a variant row (VROW_* columns). */
static void
put_row(void *arg, const RowOut *r)
{
	Builder    *b = (Builder *) arg;
	Datum		values[VROW_NCOLS];
	bool		nulls[VROW_NCOLS];

	for (int i = 0; i < VROW_NCOLS; i++)
		nulls[i] = true;
	for (int c = 0; c < r->table->ncolumns; c++)
	{
		values[b->vrow_of[c]] = r->values[c];
		nulls[b->vrow_of[c]] = r->nulls[c];
	}
	values[VROW_OK] = BoolGetDatum(r->ok);
	nulls[VROW_OK] = false;
	if (r->error)
	{
		values[VROW_ERROR] = CStringGetTextDatum(r->error);
		nulls[VROW_ERROR] = false;
	}
	values[VROW_KIND] = CStringGetTextDatum(r->node_only ? "product" : "variant");
	nulls[VROW_KIND] = false;
	b->emit(b->arg, values, nulls, r->src, r->srclen);
}

static RowsShape
shape_of(const char *shape)
{
	for (int i = 0; i < (int) lengthof(shapes); i++)
		if (strcmp(shapes[i].name, shape) == 0)
			return shapes[i].shape;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown payload shape \"%s\"", shape)));
	return RS_REST_PAGE;
}

/*
 * The rows of a payload of the named shape, one emit() call each (values
 * and nulls of the VROW_* columns; by-reference values live until the
 * next call).
 */
void
variants_parse(const char *doc, size_t len, const char *shape, VariantEmit emit, void *emit_arg)
{
	const ResourceDecl *r = resource_builtin("products");
	RowsShape	rs = shape_of(shape);
	Builder		b = {emit, emit_arg, vrow_map(r->child_table)};
	bool		saw_list;

	rows_parse(r, rs, doc, len, NULL, put_row, &b, &saw_list);
	if (!saw_list)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("Shopify page has no products"),
				 errdetail("Expected %s.", rs == RS_REST_PAGE ?
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
