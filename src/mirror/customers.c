/*
 * customers.c — what is held about one customer: erased on Shopify's
 * customers/redact request, and gathered for customers/data_request
 * (shopify_customer_data()).
 *
 * A customer can be held in: shopify.customers (when the store syncs
 * customers), shopify.metafields (owner_type customer), shopify.orders
 * (customer_id), and the stored webhook deliveries that carried them
 * (the customers/... topics, and any payload naming them as its customer).
 * Erasing removes the customer's rows and metafields, clears customer_id
 * on their orders (the orders stay: they are the shop's records), and
 * replaces those deliveries' payloads by {"redacted": true}.  The caller
 * provides the transaction and the SPI connection.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

#include "base/util.h"
#include "mirror/mirror.h"

/* the payloads that name the customer (as a customer, or as the subject of a customers/... topic) */
#define NAMES_CUSTOMER \
	"((e.topic LIKE 'customers/%%' AND (e.payload->>'id' = $2::text OR e.payload->'customer'->>'id' = $2::text))" \
	" OR e.payload->'customer'->>'id' = $2::text OR e.payload->'order'->'customer'->>'id' = $2::text)"

/*
 * Erase customer_id of shop_id (but_event: the redact request itself, kept
 * as {"redacted": true, "customer_id": id}).  Returns a note of what went.
 */
char *
mirror_customer_redact(int64 shop_id, int64 customer_id, int64 but_event)
{
	Oid			types[3] = {INT8OID, INT8OID, INT8OID};
	Datum		v[3] = {Int64GetDatum(shop_id), Int64GetDatum(customer_id), Int64GetDatum(but_event)};
	int			customers,
				metafields,
				orders,
				events;

	customers = shopify_spi_exec("DELETE FROM shopify.customers WHERE shop_id = $1 AND customer_id = $2",
								 2, types, v, NULL, false);
	metafields = shopify_spi_exec("DELETE FROM shopify.metafields"
								  " WHERE shop_id = $1 AND owner_type = 'customer' AND owner_id = $2",
								  2, types, v, NULL, false);
	orders = shopify_spi_exec("UPDATE shopify.orders SET customer_id = NULL"
							  " WHERE shop_id = $1 AND customer_id = $2", 2, types, v, NULL, false);
	events = shopify_spi_exec(psprintf("UPDATE shopify.webhook_events e SET payload = '{\"redacted\": true}'"
									   " WHERE e.shop_id = $1 AND e.id <> $3 AND " NAMES_CUSTOMER),
							  3, types, v, NULL, false);
	shopify_spi_exec("UPDATE shopify.webhook_events"
					 "   SET payload = jsonb_build_object('redacted', true, 'customer_id', $2)"
					 " WHERE id = $3", 3, types, v, NULL, false);
	return psprintf("customer " INT64_FORMAT " erased: %d customer row(s), %d metafield(s), %d order(s) unlinked, %d stored deliveries redacted",
					customer_id, customers, metafields, orders, events);
}

/* Every row held about the customer, as one jsonb value (text). */
char *
mirror_customer_data(int64 shop_id, int64 customer_id)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		v[2] = {Int64GetDatum(shop_id), Int64GetDatum(customer_id)};

	shopify_spi_exec(psprintf("SELECT jsonb_build_object("
							  "  'shop_id', $1, 'customer_id', $2,"
							  "  'customer', (SELECT to_jsonb(c) FROM shopify.customers c"
							  "                WHERE c.shop_id = $1 AND c.customer_id = $2),"
							  "  'metafields', coalesce((SELECT jsonb_agg(to_jsonb(m) ORDER BY m.metafield_id)"
							  "                FROM shopify.metafields m WHERE m.shop_id = $1"
							  "                 AND m.owner_type = 'customer' AND m.owner_id = $2), '[]'),"
							  "  'orders', coalesce((SELECT jsonb_agg(to_jsonb(o) || jsonb_build_object('lines',"
							  "                (SELECT coalesce(jsonb_agg(to_jsonb(l) ORDER BY l.line_id), '[]')"
							  "                   FROM shopify.order_lines l WHERE l.order_id = o.order_id))"
							  "                ORDER BY o.order_id)"
							  "                FROM shopify.orders o WHERE o.shop_id = $1 AND o.customer_id = $2), '[]'),"
							  "  'webhook_events', coalesce((SELECT jsonb_agg(jsonb_build_object('id', e.id,"
							  "                'topic', e.topic, 'received_at', e.received_at, 'payload', e.payload)"
							  "                ORDER BY e.id)"
							  "                FROM shopify.webhook_events e WHERE e.shop_id = $1 AND " NAMES_CUSTOMER "), '[]'))::text"),
					 2, types, v, NULL, true);
	return shopify_spi_text(0, 1);
}
