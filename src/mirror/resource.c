/*
 * resource.c — the built-in resources, declared.
 *
 * Each resource says what it mirrors and how: its tables, the webhook topics
 * that carry it, how deletes are seen (a full listing's sweep, or a parent
 * that carries its whole list of children), its GraphQL connection and REST
 * listing, and the search field of its incremental syncs.  The SQL surface
 * lists them (shopify_resources()), checks names against them
 * (shopify_sync(), shopify_set_store_resources()) and the worker routes
 * webhook topics by them.  The documents and paths of a listing are the
 * Shopify client's (shopify/graphql.c, shopify/rest.c), the rows read from a
 * payload the extraction's (variants.c, order_rows.c), the writes the
 * mirror's (products.c, orders.c).  Resources a user declares
 * (shopify.resource_definitions) all share resource_declared: one row per
 * node in shopify.objects.
 */
#include "postgres.h"

#include "mirror/resource.h"

static const char *const product_tables[] = {"shopify.products", NULL};
static const char *const product_topics[] = {"products/create", "products/update", "products/delete", NULL};
static const char *const order_tables[] = {"shopify.orders", "shopify.order_lines", NULL};
static const char *const order_topics[] = {"orders/create", "orders/updated", "orders/cancelled", NULL};
static const char *const object_tables[] = {"shopify.objects", NULL};
static const char *const no_topics[] = {NULL};

static const ResourceDecl products = {
	.name = "products",
	.kind = RESOURCE_PRODUCTS,
	.description = "Products and their variants: one row per variant (sku_id), with the product's fields",
	.tables = product_tables,
	.topics = product_topics,
	.deletes = DELETES_SWEEP,
	.child_deletes = DELETES_CHILD_LIST,
	.connection = "products",
	.rest_listing = "products.json",
	.incremental = "updated_at",
};

static const ResourceDecl orders = {
	.name = "orders",
	.kind = RESOURCE_ORDERS,
	.description = "Orders (any status) and their line items, with the statistics they feed (order_totals, variant_sales)",
	.tables = order_tables,
	.topics = order_topics,
	.deletes = DELETES_NONE,
	.child_deletes = DELETES_CHILD_LIST,
	.connection = "orders",
	.rest_listing = "orders.json?status=any",
	.incremental = "updated_at",
};

const ResourceDecl resource_declared = {
	.name = NULL,
	.kind = RESOURCE_OBJECTS,
	.description = NULL,
	.tables = object_tables,
	.topics = no_topics,
	.deletes = DELETES_SWEEP,
	.child_deletes = DELETES_SWEEP,
	.incremental = "updated_at",
};

const ResourceDecl *const resource_builtins[] = {&products, &orders, NULL};

const ResourceDecl *
resource_builtin(const char *name)
{
	for (int i = 0; resource_builtins[i]; i++)
		if (strcmp(resource_builtins[i]->name, name) == 0)
			return resource_builtins[i];
	return NULL;
}

/* The built-in resource a webhook topic carries, or NULL. */
const ResourceDecl *
resource_for_topic(const char *topic)
{
	for (int i = 0; resource_builtins[i]; i++)
		for (int k = 0; resource_builtins[i]->topics[k]; k++)
			if (strcmp(resource_builtins[i]->topics[k], topic) == 0)
				return resource_builtins[i];
	return NULL;
}
