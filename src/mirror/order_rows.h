/*
 * order_rows.h — Shopify order payloads to typed order and line rows
 * (order_rows.c).
 */
#ifndef SHOPIFY_SYNC_ORDER_ROWS_H
#define SHOPIFY_SYNC_ORDER_ROWS_H

#include "postgres.h"

/* the columns of a row, as shopify._orders() returns them */
enum
{
	OROW_KIND, OROW_OK, OROW_ERROR, OROW_ORDER_ID, OROW_NAME, OROW_CREATED, OROW_PROCESSED,
	OROW_UPDATED, OROW_CANCELLED, OROW_FINANCIAL, OROW_FULFILLMENT, OROW_CURRENCY,
	OROW_TOTAL, OROW_SUBTOTAL, OROW_TAX, OROW_DISCOUNTS, OROW_REFUNDED,
	OROW_LINE_ID, OROW_SKU_ID, OROW_PRODUCT_ID, OROW_QUANTITY, OROW_PRICE, OROW_LINES_COMPLETE,
	OROW_CUSTOMER_ID,
	OROW_NCOLS
};

/* kinds of rows (OROW_KIND is the text 'order' or 'line') */
typedef enum OrderRowKind
{
	OROW_IS_ORDER, OROW_IS_LINE
} OrderRowKind;

/*
 * Called with each row; by-reference values live until the next call.  A
 * line row follows its order's row (bulk: a line carries its order id only,
 * and src is the line it was read from).
 */
typedef void (*OrderEmit) (void *arg, OrderRowKind kind, Datum *values, bool *nulls,
						   const char *src, int srclen);

typedef struct OrderParse
{
	bool		saw_list;		/* a page had its list of orders */
} OrderParse;

extern void order_rows_parse(const char *doc, size_t len, const char *shape,
							 OrderEmit emit, void *arg, OrderParse *out);

#endif
