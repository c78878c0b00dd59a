/*
 * variants_int.h — between the parser (variants.c) and the rows it makes
 * (variants_rows.c).  Not for other files: mirror.c and bulk.c call the
 * SQL function shopify._variants().
 */
#ifndef SHOPIFY_SYNC_VARIANTS_INT_H
#define SHOPIFY_SYNC_VARIANTS_INT_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "lib/stringinfo.h"
#include "utils/tuplestore.h"

#include "convert.h"
#include "variants.h"

#define MAX_DEPTH 64

/* output columns: variants.h */
#define COL_OK VROW_OK
#define COL_ERROR VROW_ERROR
#define COL_SKU_ID VROW_SKU_ID
#define COL_PRODUCT_ID VROW_PRODUCT_ID
#define COL_SKU VROW_SKU
#define COL_TITLE VROW_TITLE
#define COL_VARIANT_TITLE VROW_VARIANT_TITLE
#define COL_VENDOR VROW_VENDOR
#define COL_PRODUCT_TYPE VROW_PRODUCT_TYPE
#define COL_HANDLE VROW_HANDLE
#define COL_STATUS VROW_STATUS
#define COL_TAGS VROW_TAGS
#define COL_PRICE VROW_PRICE
#define COL_COMPARE_AT VROW_COMPARE_AT
#define COL_BARCODE VROW_BARCODE
#define COL_INVENTORY VROW_INVENTORY
#define COL_INVENTORY_ITEM VROW_INVENTORY_ITEM
#define COL_POSITION VROW_POSITION
#define COL_VARIANT_UPDATED VROW_VARIANT_UPDATED
#define COL_PRODUCT_UPDATED VROW_PRODUCT_UPDATED
#define COL_KIND VROW_KIND
#define NCOLS VROW_NCOLS

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
	VariantEmit emit;			/* where rows go */
	void	   *emit_arg;
} ParseState;

extern void row_begin_product(ParseState *ps);
extern Variant *row_new_variant(ParseState *ps);
extern void row_finish_product(ParseState *ps);
extern void row_finish_line(ParseState *ps);
extern void row_lone_error(ParseState *ps, const char *error);
extern int	row_product_field(const char *f);
extern int	row_variant_field(const char *f);

#endif
