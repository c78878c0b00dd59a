/*
 * order_rows.c — Shopify order payloads to typed rows: the declaration of
 * what an order and its line items keep, and the rows made of them (also
 * offered to SQL as shopify._orders(doc jsonb, shape text)).
 *
 * A payload is read once by extract.c and becomes rows of kind 'order'
 * (one per order) and 'line' (one per line item, after its order's row).
 * Values are converted to the mirror's types; GraphQL's display statuses
 * come out in REST's words (one mirror whichever API wrote it); a REST
 * order's total_refunded is the sum of its successful refund transactions.
 * An order or a line with a value that does not convert comes out with ok
 * = false and the reason (the order's id, its updated_at, cancelled_at and
 * amounts must be valid; created_at and processed_at that are not
 * timestamps are left NULL), never an error: the caller counts it failed
 * and stores nothing of the order.  Documents that are not JSON, not valid
 * text, or nested too deep are errors of class 22 (extract.c).
 *
 * Shapes:
 *   rest_orders     {"orders": [...]}                      (REST page)
 *   rest_order      {"order": {...}} or the order itself   (webhook)
 *   graphql_orders  {"data": {"orders": {"nodes"|"edges": [...]}}}
 *   graphql_order   {"data": {"order": {...}}}             (an order's further lines)
 *   bulk_orders     lines of a bulk operation's result: order lines, and
 *                   line item lines that name their order in "__parentId"
 * lines_complete says whether the payload carries all of an order's lines:
 * REST always; a GraphQL page when the order's first page of lines is its
 * last; never for graphql_order and bulk_orders.
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "mirror/convert.h"
#include "mirror/extract.h"
#include "mirror/order_rows.h"

PG_FUNCTION_INFO_V1(shopify_order_rows);

/* ----- the declarations ----- */

enum
{
	O_ID, O_NAME, O_CREATED, O_PROCESSED, O_UPDATED, O_CANCELLED, O_FINANCIAL,
	O_FULFILLMENT, O_DISPLAY_FULFILLMENT, O_CURRENCY, O_TOTAL, O_SUBTOTAL, O_TAX,
	O_DISCOUNTS, O_REFUNDED_SET, O_LINES_MORE, O_CUSTOMER,
	NOFIELDS
};

static const XFieldDecl order_fields[NOFIELDS] = {
	[O_ID] = {"id"},
	[O_NAME] = {"name"},
	[O_CREATED] = {"created_at|createdAt"},
	[O_PROCESSED] = {"processed_at|processedAt"},
	[O_UPDATED] = {"updated_at|updatedAt"},
	[O_CANCELLED] = {"cancelled_at|cancelledAt"},
	[O_FINANCIAL] = {"financial_status|displayFinancialStatus"},
	[O_FULFILLMENT] = {"fulfillment_status"},
	[O_DISPLAY_FULFILLMENT] = {"displayFulfillmentStatus"},
	[O_CURRENCY] = {"currency|currencyCode"},
	[O_TOTAL] = {"total_price|totalPriceSet.shopMoney.amount"},
	[O_SUBTOTAL] = {"subtotal_price|subtotalPriceSet.shopMoney.amount"},
	[O_TAX] = {"total_tax|totalTaxSet.shopMoney.amount"},
	[O_DISCOUNTS] = {"total_discounts|totalDiscountsSet.shopMoney.amount"},
	[O_REFUNDED_SET] = {"totalRefundedSet.shopMoney.amount"},
	[O_LINES_MORE] = {"lineItems.pageInfo.hasNextPage"},
	[O_CUSTOMER] = {"customer.id"},
};

enum
{
	L_ID, L_VARIANT, L_PRODUCT, L_QUANTITY, L_PRICE,
	NLFIELDS,
	L_PARENT = NLFIELDS			/* bulk lines only */
};

static const XFieldDecl line_fields[NLFIELDS + 1] = {
	[L_ID] = {"id"},
	[L_VARIANT] = {"variant_id|variant.id"},
	[L_PRODUCT] = {"product_id|product.id"},
	[L_QUANTITY] = {"quantity"},
	[L_PRICE] = {"price|originalUnitPriceSet.shopMoney.amount"},
	[L_PARENT] = {"__parentId"},
};

enum
{
	T_KIND, T_STATUS, T_AMOUNT,
	NTFIELDS
};

static const XFieldDecl transaction_fields[NTFIELDS] = {
	[T_KIND] = {"kind"},
	[T_STATUS] = {"status"},
	[T_AMOUNT] = {"amount"},
};

static const XRecordDecl line_decl = {"line item", line_fields, NLFIELDS, NULL, 0};
static const XRecordDecl bulk_line_decl = {"line item", line_fields, NLFIELDS + 1, NULL, 0};
static const XRecordDecl transaction_decl = {"transaction", transaction_fields, NTFIELDS, NULL, 0};

/* the kinds of an order's children */
enum
{
	C_LINES_REST, C_LINES_NODES, C_LINES_EDGES, C_TRANSACTIONS
};

static const XChildDecl order_children[] = {
	[C_LINES_REST] = {"line_items.*", &line_decl},
	[C_LINES_NODES] = {"lineItems.nodes.*", &line_decl},
	[C_LINES_EDGES] = {"lineItems.edges.*.node", &line_decl},
	[C_TRANSACTIONS] = {"refunds.*.transactions.*", &transaction_decl},
};

static const XRecordDecl order_decl = {"order", order_fields, NOFIELDS,
order_children, lengthof(order_children)};
static const XRecordDecl bulk_order_decl = {"order", order_fields, NOFIELDS, NULL, 0};

static const char *const rest_page_roots[] = {"orders.*"};
static const char *const rest_order_roots[] = {""};
static const char *const graphql_page_roots[] = {"data.orders.nodes.*", "data.orders.edges.*.node"};
static const char *const graphql_order_roots[] = {"data.order"};

typedef struct OrderShape
{
	XShape		x;
	bool		graphql;		/* GraphQL field meanings (refunds, fulfilment) */
	bool		page;			/* a page: its lines of an order are complete */
} OrderShape;

static const OrderShape shapes[] = {
	{{.name = "rest_orders", .roots = rest_page_roots, .nroots = 1, .marker = "orders",
	.marker_array = true, .decl = &order_decl}, false, true},
	{{.name = "rest_order", .roots = rest_order_roots, .nroots = 1, .wrapper = "order",
	.decl = &order_decl}, false, true},
	{{.name = "graphql_orders", .roots = graphql_page_roots, .nroots = 2,
	.marker = "data.orders", .decl = &order_decl}, true, true},
	{{.name = "graphql_order", .roots = graphql_order_roots, .nroots = 1, .decl = &order_decl},
	true, false},
	{{.name = "bulk_orders", .jsonl = true, .decl = &bulk_order_decl,
	.child_decl = &bulk_line_decl, .parent_field = L_PARENT}, true, false},
};

/* ----- values, with the SQL expansion's meanings ----- */

/*
 * A value as text, as jsonb's ->> gives it: scalars their text, JSON null
 * and absent NULL; an object or array stands in as "not a scalar".
 */
static const char *
text_of(const XValue *x)
{
	switch (x->type)
	{
		case XT_ABSENT:
		case XT_NULL:
			return NULL;
		case XT_CONTAINER:
			return "[container]";
		default:
			return x->s;
	}
}

static Scalar
text_scalar(const char *s)
{
	Scalar		v;

	memset(&v, 0, sizeof(v));
	v.s = (char *) s;
	v.len = strlen(s);
	v.type = JSON_TOKEN_STRING;
	return v;
}

/* a timestamp, or NULL (*bad when there was a value that is not one) */
static bool
timestamp_of(const XValue *x, Datum *out, bool *bad)
{
	const char *t = text_of(x);
	Scalar		s;

	*bad = false;
	if (t == NULL)
		return false;
	s = text_scalar(t);
	if (conv_timestamptz(&s, out) == FS_OK)
		return true;
	*bad = true;
	return false;
}

static bool
numeric_of_text(const char *t, Datum *out, bool *bad)
{
	Scalar		s;

	*bad = false;
	if (t == NULL)
		return false;
	s = text_scalar(t);
	if (s.len > 0 && conv_numeric(&s, out) == FS_OK)
		return true;
	*bad = true;
	return false;
}

/* an id: a number, a digit string or a gid, positive; else NULL */
static bool
id_of(const XValue *x, int64 *out)
{
	Scalar		s;

	if (x->type != XT_STRING && x->type != XT_NUMBER)
		return false;
	memset(&s, 0, sizeof(s));
	s.s = (char *) x->s;
	s.len = x->len;
	s.type = x->type == XT_STRING ? JSON_TOKEN_STRING : JSON_TOKEN_NUMBER;
	return conv_int64(&s, out) == FS_OK && *out > 0;
}

/* left(text, n) in characters */
static Datum
clipped(const char *s, int chars)
{
	int			len = strlen(s);
	int			bytes = pg_mbcharcliplen(s, len, chars);

	return PointerGetDatum(cstring_to_text_with_len(s, bytes));
}

static Datum
lower_text(const char *s, int chars)
{
	char	   *l = str_tolower(s, strlen(s), DEFAULT_COLLATION_OID);

	return clipped(l, chars);
}

/* ----- rows ----- */

typedef struct Builder
{
	const OrderShape *shape;
	OrderEmit	emit;
	void	   *arg;
	MemoryContext cxt;
} Builder;

static void
start_row(Datum *v, bool *n, OrderRowKind kind)
{
	for (int i = 0; i < OROW_NCOLS; i++)
	{
		v[i] = (Datum) 0;
		n[i] = true;
	}
	v[OROW_KIND] = CStringGetTextDatum(kind == OROW_IS_ORDER ? "order" : "line");
	n[OROW_KIND] = false;
}

static void
finish_row(Datum *v, bool *n, bool ok, const char *error)
{
	v[OROW_OK] = BoolGetDatum(ok);
	n[OROW_OK] = false;
	if (error)
	{
		v[OROW_ERROR] = CStringGetTextDatum(error);
		n[OROW_ERROR] = false;
	}
}

/* REST: the sum of the successful refund transactions, NULL if one is not a number */
static bool
refunded_of_transactions(const XRecord *o, Datum *out)
{
	Datum		sum = DirectFunctionCall3(numeric_in, CStringGetDatum("0"),
										  ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));

	for (int i = 0; i < o->nchildren; i++)
	{
		const XRecord *t = o->children[i];
		const char *kind;
		const char *status;
		Datum		amount;
		bool		bad;

		if (t->decl != &transaction_decl || t->not_object)
			continue;
		kind = text_of(&t->v[T_KIND]);
		status = text_of(&t->v[T_STATUS]);
		if (kind == NULL || status == NULL || strcmp(kind, "refund") != 0 || strcmp(status, "success") != 0)
			continue;
		if (!numeric_of_text(text_of(&t->v[T_AMOUNT]), &amount, &bad))
			return false;
		sum = DirectFunctionCall2(numeric_add, sum, amount);
	}
	*out = sum;
	return true;
}

/* The order's row; *order_id is 0 when it has none. */
static void
order_row(Builder *b, const XRecord *o, int64 *order_id)
{
	Datum		v[OROW_NCOLS];
	bool		n[OROW_NCOLS];
	const char *error;
	bool		bad;
	const char *t;
	bool		graphql = b->shape->graphql;
	static const int amount_field[4] = {O_TOTAL, O_SUBTOTAL, O_TAX, O_DISCOUNTS};
	static const int amount_col[4] = {OROW_TOTAL, OROW_SUBTOTAL, OROW_TAX, OROW_DISCOUNTS};
	bool		amounts_ok = true;

	start_row(v, n, OROW_IS_ORDER);
	*order_id = 0;
	if (!o->not_object && id_of(&o->v[O_ID], order_id))
	{
		v[OROW_ORDER_ID] = Int64GetDatum(*order_id);
		n[OROW_ORDER_ID] = false;
	}
	else
		*order_id = 0;
	if (o->v[O_NAME].type == XT_STRING)
	{
		v[OROW_NAME] = clipped(o->v[O_NAME].s, 255);
		n[OROW_NAME] = false;
	}
	n[OROW_CREATED] = !timestamp_of(&o->v[O_CREATED], &v[OROW_CREATED], &bad);
	n[OROW_PROCESSED] = !timestamp_of(&o->v[O_PROCESSED], &v[OROW_PROCESSED], &bad);
	n[OROW_UPDATED] = !timestamp_of(&o->v[O_UPDATED], &v[OROW_UPDATED], &bad);
	n[OROW_CANCELLED] = !timestamp_of(&o->v[O_CANCELLED], &v[OROW_CANCELLED], &bad);
	if ((t = text_of(&o->v[O_FINANCIAL])) != NULL)
	{
		v[OROW_FINANCIAL] = lower_text(t, 64);
		n[OROW_FINANCIAL] = false;
	}
	if (!graphql && (t = text_of(&o->v[O_FULFILLMENT])) != NULL)
	{
		v[OROW_FULFILLMENT] = lower_text(t, 64);
		n[OROW_FULFILLMENT] = false;
	}
	else if (graphql && (t = text_of(&o->v[O_DISPLAY_FULFILLMENT])) != NULL)
	{
		char	   *u = str_toupper(t, strlen(t), DEFAULT_COLLATION_OID);

		/* GraphQL's display status in REST's words */
		if (strcmp(u, "UNFULFILLED") != 0)
		{
			v[OROW_FULFILLMENT] = strcmp(u, "PARTIALLY_FULFILLED") == 0 ?
				CStringGetTextDatum("partial") : lower_text(t, 64);
			n[OROW_FULFILLMENT] = false;
		}
	}
	if ((t = text_of(&o->v[O_CURRENCY])) != NULL)
	{
		v[OROW_CURRENCY] = clipped(t, 8);
		n[OROW_CURRENCY] = false;
	}
	for (int i = 0; i < 4; i++)
	{
		n[amount_col[i]] = !numeric_of_text(text_of(&o->v[amount_field[i]]), &v[amount_col[i]], &bad);
		if (bad)
			amounts_ok = false;
	}
	if (graphql)
		n[OROW_REFUNDED] = !numeric_of_text(text_of(&o->v[O_REFUNDED_SET]), &v[OROW_REFUNDED], &bad);
	else
		n[OROW_REFUNDED] = !refunded_of_transactions(o, &v[OROW_REFUNDED]);
	if (n[OROW_REFUNDED])
		amounts_ok = false;

	/* lines_complete */
	v[OROW_LINES_COMPLETE] = BoolGetDatum(!graphql ||
										  (b->shape->page && o->v[O_LINES_MORE].type == XT_BOOL &&
										   strcmp(o->v[O_LINES_MORE].s, "false") == 0));
	n[OROW_LINES_COMPLETE] = false;
	if (b->shape->x.jsonl)
		v[OROW_LINES_COMPLETE] = BoolGetDatum(false);
	/* the customer (null: a guest checkout, or none any more) */
	{
		int64		cid;

		if (!o->not_object && id_of(&o->v[O_CUSTOMER], &cid))
		{
			v[OROW_CUSTOMER_ID] = Int64GetDatum(cid);
			n[OROW_CUSTOMER_ID] = false;
		}
	}

	/* the first reason, in the order the checks are made */
	if (*order_id <= 0)
		error = "order id missing or not a positive 64-bit integer";
	else if (n[OROW_UPDATED])
		error = "order updated_at missing or not a timestamp";
	else if (text_of(&o->v[O_CANCELLED]) != NULL && n[OROW_CANCELLED])
		error = "cancelled_at is not a timestamp";
	else if (!amounts_ok)
		error = "an amount is not a decimal number";
	else
		error = NULL;
	finish_row(v, n, error == NULL, error);
	b->emit(b->arg, OROW_IS_ORDER, v, n, o->src, o->srclen);
}

static void
line_row(Builder *b, const XRecord *l, int64 order_id)
{
	Datum		v[OROW_NCOLS];
	bool		n[OROW_NCOLS];
	const char *error = NULL;
	int64		id;
	bool		bad;
	bool		qty_ok = false;
	const XValue *q = &l->v[L_QUANTITY];

	start_row(v, n, OROW_IS_LINE);
	if (order_id > 0)
	{
		v[OROW_ORDER_ID] = Int64GetDatum(order_id);
		n[OROW_ORDER_ID] = false;
	}
	if (!l->not_object && id_of(&l->v[L_ID], &id))
	{
		v[OROW_LINE_ID] = Int64GetDatum(id);
		n[OROW_LINE_ID] = false;
	}
	if (!l->not_object && id_of(&l->v[L_VARIANT], &id))
	{
		v[OROW_SKU_ID] = Int64GetDatum(id);
		n[OROW_SKU_ID] = false;
	}
	if (!l->not_object && id_of(&l->v[L_PRODUCT], &id))
	{
		v[OROW_PRODUCT_ID] = Int64GetDatum(id);
		n[OROW_PRODUCT_ID] = false;
	}
	/* a JSON number of at most nine digits */
	if (q->type == XT_NUMBER)
	{
		const char *s = q->s;
		int			digits = 0;

		if (*s == '-')
			s++;
		while (isdigit((unsigned char) s[digits]))
			digits++;
		if (digits >= 1 && digits <= 9 && s[digits] == '\0')
		{
			v[OROW_QUANTITY] = Int32GetDatum(atoi(q->s));
			n[OROW_QUANTITY] = false;
			qty_ok = true;
		}
	}
	n[OROW_PRICE] = !numeric_of_text(text_of(&l->v[L_PRICE]), &v[OROW_PRICE], &bad);

	if (n[OROW_LINE_ID])
		error = "line id missing or not a positive 64-bit integer";
	else if (!qty_ok)
		error = "quantity is not an integer";
	else if (bad)
		error = "line price is not a decimal number";
	finish_row(v, n, order_id > 0 && !n[OROW_LINE_ID] && qty_ok && !bad, error);
	b->emit(b->arg, OROW_IS_LINE, v, n, l->src, l->srclen);
}

static void
build(void *arg, XRecord *rec)
{
	Builder    *b = (Builder *) arg;
	MemoryContext old = MemoryContextSwitchTo(b->cxt);
	int64		order_id;

	if (rec->decl == &bulk_line_decl)
	{
		/* a bulk line item line: its order is the one it names */
		if (!id_of(&rec->v[L_PARENT], &order_id))
			order_id = 0;
		line_row(b, rec, order_id);
	}
	else
	{
		order_row(b, rec, &order_id);
		for (int i = 0; i < rec->nchildren; i++)
			if (rec->children[i]->decl == &line_decl)
				line_row(b, rec->children[i], order_id);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(b->cxt);
}

static const OrderShape *
shape_of(const char *shape)
{
	for (int i = 0; i < (int) lengthof(shapes); i++)
		if (strcmp(shapes[i].x.name, shape) == 0)
			return &shapes[i];
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown payload shape \"%s\"", shape)));
	return NULL;
}

/* The rows of a payload of the named shape, one emit() call each. */
void
order_rows_parse(const char *doc, size_t len, const char *shape, OrderEmit emit, void *arg,
				 OrderParse *out)
{
	Builder		b;
	XResult		res;

	b.shape = shape_of(shape);
	b.emit = emit;
	b.arg = arg;
	b.cxt = AllocSetContextCreate(CurrentMemoryContext, "shopify_sync order rows",
								  ALLOCSET_DEFAULT_SIZES);
	extract_run(&b.shape->x, doc, len, build, &b, &res);
	MemoryContextDelete(b.cxt);
	out->saw_list = res.saw_root || b.shape->x.marker == NULL;
}

/* ----- SQL ----- */

typedef struct SrfOut
{
	Tuplestorestate *ts;
	TupleDesc	desc;
} SrfOut;

static void
emit_tuple(void *arg, OrderRowKind kind, Datum *values, bool *nulls, const char *src, int srclen)
{
	SrfOut	   *o = (SrfOut *) arg;

	tuplestore_putvalues(o->ts, o->desc, values, nulls);
}

Datum
shopify_order_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Jsonb	   *doc = PG_GETARG_JSONB_P(0);
	char	   *shape = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *text;
	SrfOut		o;
	OrderParse	p;

	(void) shape_of(shape);
	InitMaterializedSRF(fcinfo, 0);
	o.ts = rsinfo->setResult;
	o.desc = rsinfo->setDesc;
	text = JsonbToCString(NULL, &doc->root, VARSIZE(doc));
	order_rows_parse(text, strlen(text), shape, emit_tuple, &o, &p);
	return (Datum) 0;
}
