/*
 * order_store.h — what the writes of orders share (order_store.c): the rows
 * read from a payload, the columns written, the statements, and the state
 * of each order and line while a payload is written.  Private to mirror/.
 */
#ifndef SHOPIFY_ORDER_STORE_H
#define SHOPIFY_ORDER_STORE_H

#include "postgres.h"

#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "mirror/mirror.h"
#include "mirror/order_rows.h"
#include "utils/hsearch.h"

typedef struct ORow
{
	OrderRowKind kind;
	Datum		v[OROW_NCOLS];
	bool		n[OROW_NCOLS];
	int			order;			/* line rows: index of their order's row, or -1 */
	const char *src;			/* bulk: the line it came from */
	int			srclen;
} ORow;

typedef struct ORows
{
	MemoryContext cxt;
	ORow	   *rows;
	int			n;
	int			cap;
	int			last_order;
} ORows;

/* order columns probed and compared, in this order (after order_id, shop_id),
 * and the line columns */
#define NORDERCOLS 14
#define NLINECOLS 4
extern const int order_cols[NORDERCOLS];
extern const char *const order_names[NORDERCOLS];
extern const int line_cols[NLINECOLS];
extern const char *const line_names[NLINECOLS];

typedef struct OrderState
{
	int64		order_id;		/* hash key */
	ORow	   *row;			/* the payload's (last) valid row of it, or NULL */
	bool		bad;			/* invalid, or a line of it is */
	bool		found;			/* stored */
	bool		alien;			/* stored for another store */
	bool		own;			/* the payload speaks for it */
	bool		differs;
	int			stored_count;	/* its stored line_item_count (-1: NULL) */
	int			lines;			/* its lines after the write */
	bool		complete;		/* the payload carries all its lines */
	bool		cancelled;
	bool		staged;			/* bulk: an order of an earlier batch (shopify.bulk_orders) */
	Datum		sv[NORDERCOLS];
	bool		sn[NORDERCOLS];
	bool		stored_active;
	bool		locked;			/* in the lines' lock list */
} OrderState;

typedef struct LineState
{
	int64		line_id;		/* hash key */
	int64		order_id;
	int64		shop_id;
	bool		listed;			/* the payload has it */
	Datum		sv[NLINECOLS];
	bool		sn[NLINECOLS];
} LineState;

extern SPIPlanPtr probe_orders_plan;
extern SPIPlanPtr probe_lines_plan;
extern SPIPlanPtr probe_line_ids_plan;
extern SPIPlanPtr insert_orders_plan;
extern SPIPlanPtr update_orders_plan;
extern SPIPlanPtr count_plan;
extern SPIPlanPtr insert_lines_plan;
extern SPIPlanPtr update_lines_plan;
extern SPIPlanPtr delete_lines_plan;
extern SPIPlanPtr staged_orders_plan;
extern SPIPlanPtr stage_orders_plan;
extern SPIPlanPtr seen_lines_plan;

extern bool ocol_byref(int c);
extern void orow_collect(void *arg, OrderRowKind kind, Datum *values, bool *nulls, const char *src, int srclen);
extern bool orow_ok(ORow *r);
extern int64 orow_id(ORow *r, int col);
extern Oid ocol_type(int c);
extern bool order_value_same(Oid typ, Datum a, bool an, Datum b, bool bn);
extern SPIPlanPtr order_keep_plan(const char *sql, int nargs, Oid *types);
extern void order_prepare_plans(void);
extern void order_bulk_lines_of_other_batches(ORows *r, HTAB *orders, int64 job_id, MirrorCounts *out, StringInfo errors, int *nerr);
extern void order_bulk_remember(HTAB *orders, HTAB *lines, int64 job_id, int64 shop_id);
extern void order_add_error(StringInfo errors, int *nerr, ORow *r);
extern void order_lock_rows(const char *sql, Datum ids, int expected, const char *what);

#endif
