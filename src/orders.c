/*
 * orders.c — the one write path into shopify.orders and shopify.order_lines.
 *
 * A payload (a page of an order sync, an orders webhook) becomes one
 * statement: shopify._orders() expands it in SQL into order and line rows
 * (orders are fewer and smaller than catalog pages, so the SQL expansion's
 * cost does not matter here), an INSERT ... ON CONFLICT writes the orders
 * whose values differ, and the lines of every order the payload may speak
 * for are upserted (and, when the payload carries all of an order's lines,
 * the lines it no longer has are deleted).  As for products: an order id that belongs to another
 * store is never taken over (counted failed), and writes never go back in
 * time — a payload whose updated_at is older than the stored one changes
 * neither the order nor its lines.  A second statement keeps
 * line_item_count equal to the lines mirrored (GraphQL may bring an order's
 * lines over several pages).  An order is stored whole or not at all: one
 * invalid line item makes its order fail (counted failed, nothing of it
 * written).  A page without its list of orders, or nested deeper than
 * SHOPIFY_JSON_MAX_DEPTH, is an error (class 22, data exception) for the
 * whole payload.  The caller provides the transaction and SPI.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "jsonpick.h"
#include "mirror.h"
#include "util.h"

static const char *orders_sql =
"WITH doc AS MATERIALIZED (SELECT $1::text::jsonb AS d),"
" src AS MATERIALIZED (SELECT s.* FROM doc, shopify._orders(doc.d, $2) s),"
/* orders with an invalid line item: stored whole or not at all */
" bad AS MATERIALIZED (SELECT DISTINCT order_id FROM src"
"                      WHERE kind = 'line' AND NOT ok AND order_id IS NOT NULL),"
" ord AS (SELECT DISTINCT ON (order_id) * FROM src"
"          WHERE kind = 'order' AND ok AND order_id NOT IN (SELECT order_id FROM bad)"
"          ORDER BY order_id),"
/* orders this payload speaks for: new, or ours and not older than the mirror */
" own AS MATERIALIZED (SELECT o.order_id FROM ord o"
"   LEFT JOIN LATERAL (SELECT x.shop_id, x.updated_at FROM shopify.orders x"
"                       WHERE x.order_id = o.order_id) x ON true"
"  WHERE x.shop_id IS NULL"
"     OR (x.shop_id = $3 AND (x.updated_at IS NULL OR o.updated_at >= x.updated_at))),"
" alien AS MATERIALIZED (SELECT o.order_id FROM ord o,"
"   LATERAL (SELECT 1 FROM shopify.orders x WHERE x.order_id = o.order_id AND x.shop_id <> $3 LIMIT 1) a),"
" up AS ("
"  INSERT INTO shopify.orders AS t"
"   (order_id, shop_id, name, created_at, processed_at, updated_at, cancelled_at,"
"    financial_status, fulfillment_status, currency, total_price, subtotal_price, total_tax,"
"    total_discounts, total_refunded, is_active, first_synced_at, last_synced_at)"
"  SELECT o.order_id, $3, o.name, o.created_at, o.processed_at, o.updated_at, o.cancelled_at,"
"         o.financial_status, o.fulfillment_status, o.currency, o.total_price, o.subtotal_price,"
"         o.total_tax, o.total_discounts, o.total_refunded, true, now(), now()"
"    FROM ord o WHERE o.order_id IN (SELECT order_id FROM own)"
"  ON CONFLICT (order_id) DO UPDATE SET"
"    name = EXCLUDED.name, created_at = EXCLUDED.created_at, processed_at = EXCLUDED.processed_at,"
"    updated_at = EXCLUDED.updated_at, cancelled_at = EXCLUDED.cancelled_at,"
"    financial_status = EXCLUDED.financial_status, fulfillment_status = EXCLUDED.fulfillment_status,"
"    currency = EXCLUDED.currency, total_price = EXCLUDED.total_price,"
"    subtotal_price = EXCLUDED.subtotal_price, total_tax = EXCLUDED.total_tax,"
"    total_discounts = EXCLUDED.total_discounts, total_refunded = EXCLUDED.total_refunded,"
"    is_active = true, last_synced_at = now()"
"  WHERE t.shop_id = EXCLUDED.shop_id"
"    AND (t.name, t.created_at, t.processed_at, t.updated_at, t.cancelled_at, t.financial_status,"
"         t.fulfillment_status, t.currency, t.total_price, t.subtotal_price, t.total_tax,"
"         t.total_discounts, t.total_refunded, t.is_active)"
"        IS DISTINCT FROM"
"        (EXCLUDED.name, EXCLUDED.created_at, EXCLUDED.processed_at, EXCLUDED.updated_at,"
"         EXCLUDED.cancelled_at, EXCLUDED.financial_status, EXCLUDED.fulfillment_status,"
"         EXCLUDED.currency, EXCLUDED.total_price, EXCLUDED.subtotal_price, EXCLUDED.total_tax,"
"         EXCLUDED.total_discounts, EXCLUDED.total_refunded, true)"
"  RETURNING (xmax = 0) AS inserted),"
/* lines an order no longer has, when the payload carries all of its lines */
" gone AS ("
"  DELETE FROM shopify.order_lines l"
"   USING ord o"
"   WHERE l.order_id = o.order_id AND o.lines_complete AND l.shop_id = $3"
"     AND o.order_id IN (SELECT order_id FROM own)"
"     AND NOT EXISTS (SELECT 1 FROM src s WHERE s.kind = 'line' AND s.line_id = l.line_id)),"
" lines AS ("
"  INSERT INTO shopify.order_lines AS l (line_id, order_id, shop_id, sku_id, product_id, quantity, price)"
"  SELECT DISTINCT ON (s.line_id) s.line_id, s.order_id, $3, s.sku_id, s.product_id, s.quantity, s.price"
"    FROM src s WHERE s.kind = 'line' AND s.ok AND s.order_id IN (SELECT order_id FROM own)"
"   ORDER BY s.line_id"
"  ON CONFLICT (line_id) DO UPDATE SET"
"    sku_id = EXCLUDED.sku_id, product_id = EXCLUDED.product_id,"
"    quantity = EXCLUDED.quantity, price = EXCLUDED.price"
"  WHERE l.shop_id = EXCLUDED.shop_id AND l.order_id = EXCLUDED.order_id"
"    AND (l.sku_id, l.product_id, l.quantity, l.price) IS DISTINCT FROM"
"        (EXCLUDED.sku_id, EXCLUDED.product_id, EXCLUDED.quantity, EXCLUDED.price)"
"  RETURNING line_id)"
"SELECT (SELECT count(*) FROM src WHERE kind = 'order')::int,"
"       (SELECT count(*) FROM src WHERE kind = 'order')::int,"
"       (SELECT count(*) FILTER (WHERE inserted) FROM up)::int,"
"       (SELECT count(*) FILTER (WHERE NOT inserted) FROM up)::int,"
"       ((SELECT count(*) FROM src WHERE kind = 'order'"
"          AND (NOT ok OR order_id IN (SELECT order_id FROM bad))) + (SELECT count(*) FROM alien))::int,"
"       (SELECT string_agg(e, '; ') FROM"
"          (SELECT kind || ' ' || coalesce(line_id, order_id, 0)::text || ': ' || error AS e"
"             FROM src WHERE NOT ok LIMIT 3) x),"
"       (SELECT array_agg(order_id) FROM own),"
/* a page must carry its list of orders (else it would pass for an empty page) */
"       (SELECT CASE $2 WHEN 'rest_orders' THEN coalesce(jsonb_typeof(d->'orders') = 'array', false)"
"                       WHEN 'graphql_orders' THEN coalesce(jsonb_typeof(d->'data'->'orders') = 'object', false)"
"                       ELSE true END FROM doc)";

static const char *count_sql =
"UPDATE shopify.orders o SET line_item_count = c.n"
"  FROM (SELECT order_id, count(*)::int AS n FROM shopify.order_lines"
"         WHERE order_id = ANY ($1) GROUP BY order_id) c"
" WHERE o.order_id = c.order_id AND o.line_item_count IS DISTINCT FROM c.n";

static SPIPlanPtr orders_plan = NULL;
static SPIPlanPtr count_plan = NULL;

void
mirror_write_orders(const char *doc, size_t len, const char *shape, int64 shop_id,
					MirrorCounts *out)
{
	Datum		vals[3];
	bool		isnull;
	Datum		own;
	int			rc;

	if (orders_plan == NULL)
	{
		Oid			types[3] = {TEXTOID, TEXTOID, INT8OID};
		Oid			t2[1] = {INT8ARRAYOID};

		orders_plan = SPI_prepare(orders_sql, 3, types);
		count_plan = SPI_prepare(count_sql, 1, t2);
		if (orders_plan == NULL || count_plan == NULL)
			elog(ERROR, "SPI_prepare failed for the order write: %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(orders_plan);
		SPI_keepplan(count_plan);
	}
	/* jsonb input recurses once per level: refuse before the stack runs out */
	if (json_depth_exceeds(doc, len, SHOPIFY_JSON_MAX_DEPTH))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("Shopify payload nests deeper than %d levels", SHOPIFY_JSON_MAX_DEPTH)));
	vals[0] = PointerGetDatum(cstring_to_text_with_len(doc, len));
	vals[1] = CStringGetTextDatum(shape);
	vals[2] = Int64GetDatum(shop_id);
	rc = SPI_execute_plan(orders_plan, vals, NULL, false, 0);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "order write failed: %s", SPI_result_code_string(rc));
	if (!DatumGetBool(shopify_spi_value(0, 8, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("Shopify page has no orders"),
				 errdetail("Expected %s.", strcmp(shape, "rest_orders") == 0 ?
						   "an \"orders\" array" : "\"data\": {\"orders\": ...}")));

	out->products = DatumGetInt32(shopify_spi_value(0, 1, &isnull));
	out->processed = DatumGetInt32(shopify_spi_value(0, 2, &isnull));
	out->created = DatumGetInt32(shopify_spi_value(0, 3, &isnull));
	out->updated = DatumGetInt32(shopify_spi_value(0, 4, &isnull));
	out->failed = DatumGetInt32(shopify_spi_value(0, 5, &isnull));
	out->errors = shopify_spi_text(0, 6);
	/* an order is created, updated or failed at most once per payload */
	Assert(out->processed >= out->created + out->updated + out->failed);
	out->unchanged = Max(0, out->processed - out->created - out->updated - out->failed);
	if (strcmp(shape, "graphql_order") == 0)
	{
		/* further line items of an order its page already counted */
		out->products = out->processed = out->created = out->updated = out->unchanged = 0;
	}
	own = shopify_spi_value(0, 7, &isnull);
	if (!isnull)
	{
		Datum		arr[1] = {PointerGetDatum(DatumGetArrayTypePCopy(own))};

		rc = SPI_execute_plan(count_plan, arr, NULL, false, 0);
		if (rc != SPI_OK_UPDATE)
			elog(ERROR, "order line count failed: %s", SPI_result_code_string(rc));
	}
	pfree(DatumGetPointer(vals[0]));
}
