/*
 * variants.h — Shopify product payloads to typed variant rows (variants.c).
 */
#ifndef SHOPIFY_SYNC_VARIANTS_H
#define SHOPIFY_SYNC_VARIANTS_H

#include "postgres.h"

/* the columns of a variant row, as shopify._variants() returns them */
enum
{
	VROW_OK, VROW_ERROR, VROW_SKU_ID, VROW_PRODUCT_ID, VROW_SKU, VROW_TITLE,
	VROW_VARIANT_TITLE, VROW_VENDOR, VROW_PRODUCT_TYPE, VROW_HANDLE, VROW_STATUS,
	VROW_TAGS, VROW_PRICE, VROW_COMPARE_AT, VROW_BARCODE, VROW_INVENTORY,
	VROW_INVENTORY_ITEM, VROW_POSITION, VROW_VARIANT_UPDATED, VROW_PRODUCT_UPDATED,
	VROW_KIND,
	VROW_NCOLS
};

/* src: the bulk line the row was read from (NULL for other shapes) */
typedef void (*VariantEmit) (void *arg, Datum *values, bool *nulls, const char *src, int srclen);

extern void variants_parse(const char *doc, size_t len, const char *shape,
						   VariantEmit emit, void *emit_arg);

#endif
