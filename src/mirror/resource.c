/*
 * resource.c — the catalog's resources, declared: products (one row per
 * variant, its product's columns copied onto it) and orders (with their
 * line items), and the lookups every layer uses (by name, by webhook
 * topic).  The rest of the store is declared in resource_store.c.
 *
 * Products: the columns of shopify.products, each with where it comes
 * from in a GraphQL node and in a REST object, read by rows.c; the variant
 * rows go through the write path of products.c.  Orders: their listing and
 * tables; their rows are read by order_rows.c (REST and GraphQL give the
 * same facts in different words: refunds summed from transactions, display
 * statuses) and written by orders.c, which keeps the statistics.
 *
 * Columns are listed in the order their values are checked: the first
 * failure names the row's error.
 */
#include "postgres.h"

#include "catalog/pg_type.h"

#include "base/settings.h"
#include "mirror/resource.h"

/* ----- products ----- */

static const ColumnDecl product_columns[] = {
	/* the product's (read from the node; a bulk variant line: __parentId) */
	{"product_id", "id", NULL, COL_PARENT, COLF_REQUIRED | COLF_POSITIVE | COLF_PARENT_REC, "product id"},
	{"title", "title", NULL, COL_TEXT, COLF_PARENT_REC, "product title"},
	{"vendor", "vendor", NULL, COL_TEXT, COLF_PARENT_REC},
	{"product_type", "productType", "product_type", COL_TEXT, COLF_PARENT_REC},
	{"handle", "handle", NULL, COL_TEXT, COLF_PARENT_REC},
	{"status", "status", NULL, COL_ENUM, COLF_PARENT_REC},
	{"tags", "tags", NULL, COL_TAGS, COLF_PARENT_REC | COLF_LIST},
	{"product_updated_at", "updatedAt", "updated_at", COL_TIMESTAMPTZ, COLF_PARENT_REC, "product updated_at"},
	/* the variant's */
	{"sku_id", "id", NULL, COL_ID, COLF_KEY | COLF_REQUIRED | COLF_POSITIVE, "variant id"},
	{"sku", "sku", NULL, COL_TEXT, 0},
	{"variant_title", "title", NULL, COL_TEXT, 0, "variant title"},
	{"barcode", "barcode", NULL, COL_TEXT, 0},
	{"price", "price", NULL, COL_NUMERIC, 0},
	{"compare_at_price", "compareAtPrice", "compare_at_price", COL_NUMERIC, 0},
	{"inventory_quantity", "inventoryQuantity", "inventory_quantity", COL_INT4, 0},
	{"inventory_item_id", "inventoryItem.id", "inventory_item_id", COL_ID, COLF_POSITIVE},
	{"position", "position", NULL, COL_INT4, 0},
	{"shopify_updated_at", "updatedAt", "updated_at", COL_TIMESTAMPTZ, COLF_NEWER, "variant updated_at"},
};

static const TableDecl products_table = {
	.name = "shopify.products", .record = "variant",
	.columns = product_columns, .ncolumns = lengthof(product_columns),
	.key = 8, .key2 = -1, .parent = 0, .newer = 17,
};

const GqlListing gql_products = {
	.node_type = "Product",
	.resource = "products", .op = "Products", .count_op = "Count", .child_op = "ProductVariants",
	.connection = "products", .sort_key = "UPDATED_AT", .count_field = "productsCount",
	.single = "product",
	.fields = "id title vendor productType handle status tags updatedAt",
	.child = "variants", .child_var = "variantsFirst",
	.child_fields = "id sku title barcode price compareAtPrice inventoryQuantity position updatedAt"
	" inventoryItem { id }",
	.child_first = &shopify_graphql_variants_first, .bulk = true,
};

static const char *const product_tables[] = {"shopify.products", NULL};
static const char *const product_topics[] = {"products/create", "products/update", "products/delete", NULL};

static const ResourceDecl products = {
	.name = "products",
	.kind = RESOURCE_PRODUCTS,
	.description = "Products and their variants: one row per variant (sku_id), with the product's fields",
	.tables = product_tables,
	.topics = product_topics,
	.deletes = DELETES_SWEEP,
	.child_deletes = DELETES_CHILD_LIST,
	.gql = &gql_products,
	.connection = "products",
	.rest_listing = "products.json",
	.incremental = "updated_at",
	.child_table = &products_table,
	.node_record = "product",
	.rest_key = "products",
	.rest_wrapper = "product",
	.rest_children = "variants.*",
	.child_check = "product_id",
	.children_required = true,
};

/* ----- orders ----- */

const GqlListing gql_orders = {
	.node_type = "Order",
	.resource = "orders", .op = "Orders", .count_op = "OrdersCount", .child_op = "OrderLines",
	.connection = "orders", .sort_key = "UPDATED_AT", .count_field = "ordersCount",
	.single = "order",
	.fields = "id name createdAt processedAt updatedAt cancelledAt displayFinancialStatus"
	" displayFulfillmentStatus currencyCode totalPriceSet { shopMoney { amount currencyCode } }"
	" subtotalPriceSet { shopMoney { amount } } totalTaxSet { shopMoney { amount } }"
	" totalDiscountsSet { shopMoney { amount } } totalRefundedSet { shopMoney { amount } }"
	" customer { id }",
	.child = "lineItems", .child_var = "linesFirst",
	.child_fields = "id sku title quantity variant { id } product { id } originalUnitPriceSet { shopMoney { amount } }",
	.child_first = &shopify_graphql_lines_first, .bulk = true,
};

static const char *const order_tables[] = {"shopify.orders", "shopify.order_lines", NULL};
static const char *const order_topics[] = {"orders/create", "orders/updated", "orders/cancelled", NULL};

static const ResourceDecl orders = {
	.name = "orders",
	.kind = RESOURCE_ORDERS,
	.description = "Orders (any status) and their line items, with the statistics they feed (order_totals, variant_sales)",
	.tables = order_tables,
	.topics = order_topics,
	.deletes = DELETES_NONE,
	.child_deletes = DELETES_CHILD_LIST,
	.gql = &gql_orders,
	.connection = "orders",
	.rest_listing = "orders.json?status=any",
	.incremental = "updated_at",
	.node_record = "order",
	.rest_key = "orders",
	.rest_wrapper = "order",
	.rest_children = "line_items.*",
};

/* ----- declared by users ----- */

static const char *const object_tables[] = {"shopify.objects", NULL};
static const char *const no_topics[] = {NULL};

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

const ResourceDecl *const resource_builtins[] = {
	&products, &orders, &res_locations, &res_inventory_levels, &res_collections,
	&res_product_metafields, &res_variant_metafields, &res_order_metafields,
	&res_customer_metafields, &res_shop_metafields, &res_customers, NULL
};

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

int
table_column(const TableDecl *t, const char *name)
{
	for (int c = 0; c < t->ncolumns; c++)
		if (strcmp(t->columns[c].name, name) == 0)
			return c;
	return -1;
}

Oid
col_type(const ColumnDecl *c)
{
	switch (c->type)
	{
		case COL_ID:
		case COL_INT8:
		case COL_PARENT:
			return INT8OID;
		case COL_INT4:
		case COL_POSITION:
			return INT4OID;
		case COL_NUMERIC:
			return NUMERICOID;
		case COL_BOOL:
			return BOOLOID;
		case COL_TIMESTAMPTZ:
			return TIMESTAMPTZOID;
		case COL_JSONB:
			return JSONBOID;
		default:
			return TEXTOID;
	}
}

bool
col_byval(const ColumnDecl *c)
{
	Oid			t = col_type(c);

	return t == INT8OID || t == INT4OID || t == BOOLOID || t == TIMESTAMPTZOID;
}

int
col_typlen(const ColumnDecl *c)
{
	switch (col_type(c))
	{
		case INT8OID:
		case TIMESTAMPTZOID:
			return 8;
		case INT4OID:
			return 4;
		case BOOLOID:
			return 1;
		default:
			return -1;
	}
}
