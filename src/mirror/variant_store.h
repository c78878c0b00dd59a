/*
 * variant_store.h — what the writes of variants share (variant_store.c):
 * the rows read from a payload, the stored columns, the prepared statements
 * and the comparison of a row with what is stored.  Private to mirror/.
 */
#ifndef SHOPIFY_VARIANT_STORE_H
#define SHOPIFY_VARIANT_STORE_H

#include "postgres.h"

#include "executor/spi.h"
#include "mirror/mirror.h"
#include "mirror/variants.h"

/* REST serves at most this many variants of a product */
#define REST_VARIANT_CAP 100

typedef struct VRow
{
	Datum		v[VROW_NCOLS];
	bool		n[VROW_NCOLS];
	const char *src;			/* bulk: the line it came from (in the payload) */
	int			srclen;
} VRow;

typedef struct VRows
{
	MemoryContext cxt;
	VRow	   *rows;
	int			n;
	int			cap;
} VRows;

enum
{
	S_SKU_ID, S_SHOP_ID, S_PRODUCT_ID, S_SKU, S_TITLE, S_VARIANT_TITLE, S_VENDOR, S_PRODUCT_TYPE,
	S_HANDLE, S_STATUS, S_TAGS, S_PRICE, S_COMPARE_AT, S_BARCODE, S_INVENTORY,
	S_INVENTORY_ITEM, S_POSITION, S_IS_ACTIVE, S_VARIANT_UPDATED, S_PRODUCT_UPDATED,
	S_NCOLS
};

/* the columns probed, compared and written (store_cols[s]), the row column
 * of each (store_from_row[s], -1: none), and the arrays handed to the
 * insert and update statements (array_cols: the stored columns but shop_id
 * and is_active) */
#define NARRAYS 18
extern const char *const store_cols[S_NCOLS];
extern const int store_from_row[S_NCOLS];
extern const int array_cols[NARRAYS];

typedef struct Stored
{
	int64		sku_id;			/* hash key */
	Datum		v[S_NCOLS];
	bool		n[S_NCOLS];
	bool		listed;			/* the payload lists it */
} Stored;

extern SPIPlanPtr probe_product_plan;
extern SPIPlanPtr probe_sku_plan;
extern SPIPlanPtr insert_plan;
extern SPIPlanPtr update_plan;
extern SPIPlanPtr deactivate_plan;
extern SPIPlanPtr seen_plan;

extern void vrow_collect(void *arg, Datum *values, bool *nulls, const char *src, int srclen);
extern bool vrow_ok(VRow *r);
extern bool vrow_is_product_line(VRow *r);
extern SPIPlanPtr mirror_keep_plan(const char *sql, int nargs, Oid *types);
extern Oid	store_col_type(int s);
extern void variant_prepare_plans(void);
extern bool vrow_differs(VRow *r, Stored *s, bool sync_inventory);
extern bool vrow_stale(VRow *r, Stored *s);
extern void variant_write_rows(VRow *rows, int nrows, int64 shop_id, bool sync_inventory,
							   int64 seen_job_id, const MirrorScope *scope, MirrorCounts *out);

#endif
