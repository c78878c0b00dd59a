/*
 * resource_store.c — the rest of the store, declared: locations, inventory
 * levels, collections (with their products), metafields of five kinds of
 * owner, and customers.  Each is only data: the engine lists, reads and
 * writes them from what is here (rows.c, tables.c, shopify/graphql.c).
 *
 * Every table is keyed by (shop_id, Shopify id[, second id]); a row never
 * goes back in time where the object has an updatedAt (COLF_NEWER).  What a
 * REST webhook object does not carry (rest = "") keeps its stored value.
 * Selections are validated against Shopify's published schema by the test
 * suite (053), like every document the extension sends.
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "mirror/extract.h"
#include "mirror/resource.h"

/* children of a node on a page (each page's size is then fitted to 1,000 points) */
static const int levels_first = 250;
static const int collection_products_first = 250;
static const int metafields_first = 25;

static const char *const no_topics[] = {NULL};

/* ----- locations ----- */

static const ColumnDecl location_columns[] = {
	{"location_id", "id", NULL, COL_ID, COLF_KEY | COLF_REQUIRED | COLF_POSITIVE, "location id"},
	{"name", "name", NULL, COL_TEXT, 0},
	{"active", "isActive", "active", COL_BOOL, 0},
	{"fulfills_online_orders", "fulfillsOnlineOrders", "", COL_BOOL, 0},
	{"address1", "address.address1", "address1", COL_TEXT, 0},
	{"address2", "address.address2", "address2", COL_TEXT, 0},
	{"city", "address.city", "city", COL_TEXT, 0},
	{"province", "address.province", "province", COL_TEXT, 0},
	{"province_code", "address.provinceCode", "province_code", COL_TEXT, 0},
	{"country", "address.country", "country_name", COL_TEXT, 0},
	{"country_code", "address.countryCode", "country_code", COL_TEXT, 0},
	{"zip", "address.zip", "zip", COL_TEXT, 0},
	{"created_at", "createdAt", "created_at", COL_TIMESTAMPTZ, 0},
	{"updated_at", "updatedAt", "updated_at", COL_TIMESTAMPTZ, COLF_NEWER | COLF_REQUIRED},
};

static const TableDecl locations_table = {
	.name = "shopify.locations", .record = "location",
	.columns = location_columns, .ncolumns = lengthof(location_columns),
	.key = 0, .key2 = -1, .parent = -1, .newer = 13,
};

static const GqlListing gql_locations = {
	.node_type = "Location",
	.resource = "locations", .op = "Locations", .count_op = "LocationsCount",
	.connection = "locations", .args = "includeInactive: true, includeLegacy: true",
	.count_field = "locationsCount", .single = "location",
	.fields = "id name isActive fulfillsOnlineOrders createdAt updatedAt"
	" address { address1 address2 city province provinceCode country countryCode zip }",
	.bulk = false,
};

static const char *const location_tables[] = {"shopify.locations", NULL};
static const char *const location_topics[] = {"locations/create", "locations/update", "locations/delete", NULL};
static const WebhookDecl location_webhooks[] = {
	{"locations/create", WH_UPSERT}, {"locations/update", WH_UPSERT},
	{"locations/delete", WH_DELETE_NODE}, {NULL}
};

const ResourceDecl res_locations = {
	.name = "locations", .kind = RESOURCE_TABLES,
	.description = "Locations (warehouses, shops, fulfilment services): name, business address, active, fulfils online orders",
	.tables = location_tables, .topics = location_topics,
	.deletes = DELETES_SWEEP, .child_deletes = DELETES_NONE,
	.gql = &gql_locations, .connection = "locations",
	.table = &locations_table, .webhooks = location_webhooks,
	.node_record = "location", .rest_key = "locations", .rest_wrapper = "location",
};

/* ----- inventory levels: the named quantities of an item at a location ----- */

/* The quantity named by the column's path, from quantities { name quantity }. */
static ComputeResult
quantity_named(const TableDecl *t, const XRecord *rec, int col, Datum *out)
{
	const XValue *names = &rec->v[table_column(t, "quantity_names")];
	const XValue *qty = &rec->v[table_column(t, "quantity_values")];
	const char *want = t->columns[col].label;

	if (names->type == XT_ABSENT)
		return CR_PATH;			/* a REST object: "available" itself */
	for (; names && qty; names = names->more, qty = qty->more)
		if (names->type == XT_STRING && strcmp(names->s, want) == 0)
		{
			char	   *end;
			long		v;

			if (qty->type != XT_NUMBER)
				return CR_BAD;
			v = strtol(qty->s, &end, 10);
			if (*end != '\0' || v < PG_INT32_MIN || v > PG_INT32_MAX)
				return CR_BAD;
			*out = Int32GetDatum((int32) v);
			return CR_SET;
		}
	return CR_NULL;
}

static const ColumnDecl level_columns[] = {
	{"location_id", NULL, "location_id", COL_PARENT, COLF_REQUIRED | COLF_POSITIVE, "location id"},
	{"inventory_item_id", "item.id", "inventory_item_id", COL_ID, COLF_KEY | COLF_REQUIRED | COLF_POSITIVE, "inventory item id"},
	{"available", NULL, "available", COL_INT4, 0, "available", quantity_named},
	{"on_hand", NULL, "", COL_INT4, 0, "on_hand", quantity_named},
	{"committed", NULL, "", COL_INT4, 0, "committed", quantity_named},
	{"incoming", NULL, "", COL_INT4, 0, "incoming", quantity_named},
	{"reserved", NULL, "", COL_INT4, 0, "reserved", quantity_named},
	{"updated_at", "updatedAt", "updated_at", COL_TIMESTAMPTZ, COLF_NEWER | COLF_REQUIRED},
	{"quantity_names", "quantities.*.name", "", COL_TEXT, COLF_HIDDEN},
	{"quantity_values", "quantities.*.quantity", "", COL_TEXT, COLF_HIDDEN},
};

static const TableDecl levels_table = {
	.name = "shopify.inventory_levels", .record = "inventory level",
	.columns = level_columns, .ncolumns = lengthof(level_columns),
	.key = 1, .key2 = 0, .parent = 0, .newer = 7, .remove_rows = true,
};

static const GqlListing gql_inventory_levels = {
	.node_type = "Location",
	.resource = "inventory_levels", .op = "InventoryLevels", .child_op = "LocationInventoryLevels",
	.connection = "locations", .args = "includeInactive: true, includeLegacy: true",
	.single = "location", .fields = "id",
	.child = "inventoryLevels", .child_var = "levelsFirst",
	.child_fields = "id updatedAt item { id }"
	" quantities(names: [\"available\", \"on_hand\", \"committed\", \"incoming\", \"reserved\"]) { name quantity }",
	.child_first = &levels_first, .child_filter = true, .bulk = true,
};

static const char *const level_tables[] = {"shopify.inventory_levels", NULL};
static const char *const level_topics[] = {"inventory_levels/connect", "inventory_levels/update",
"inventory_levels/disconnect", "inventory_items/update", "inventory_items/delete", NULL};
static const WebhookDecl level_webhooks[] = {
	{"inventory_levels/connect", WH_UPSERT},
	{"inventory_levels/update", WH_UPSERT},
	{"inventory_levels/disconnect", WH_DELETE_ROW},
	{"inventory_items/update", WH_NOTE, NULL, "an inventory item's own fields are not mirrored (its levels are)"},
	{"inventory_items/delete", WH_DELETE_CHILDREN, "inventory_item_id"}, {NULL}
};

const ResourceDecl res_inventory_levels = {
	.name = "inventory_levels", .kind = RESOURCE_TABLES,
	.description = "Stock of each inventory item at each location: available, on_hand, committed, incoming, reserved (join shopify.products on inventory_item_id)",
	.tables = level_tables, .topics = level_topics,
	.deletes = DELETES_NONE, .child_deletes = DELETES_SWEEP,
	.gql = &gql_inventory_levels, .connection = "locations",
	.incremental = "updated_at",
	.child_table = &levels_table, .webhooks = level_webhooks,
	.node_record = "location", .rest_key = "inventory_levels", .rest_wrapper = "inventory_level",
};

/* ----- collections and the products in them ----- */

/*
 * custom or smart: a smart collection has rules — a ruleSet (before API
 * version 2026-07), a source of conditions among its sources (from then on)
 */
static ComputeResult
collection_kind(const TableDecl *t, const XRecord *rec, int col, Datum *out)
{
	const XValue *v = &rec->v[table_column(t, "rules")];
	bool		smart;

	if (v->type == XT_ABSENT)
		return CR_PATH;
	smart = v->type == XT_CONTAINER && v->s != NULL &&
		(v->s[0] == '{' || strstr(v->s, "\"CollectionConditionsSource\"") != NULL);
	*out = CStringGetTextDatum(smart ? "smart" : "custom");
	return CR_SET;
}

static const ColumnDecl collection_columns[] = {
	{"collection_id", "id", NULL, COL_ID, COLF_KEY | COLF_REQUIRED | COLF_POSITIVE, "collection id"},
	{"title", "title", NULL, COL_TEXT, 0},
	{"handle", "handle", NULL, COL_TEXT, 0},
	{"kind", NULL, "", COL_TEXT, 0, "kind", collection_kind},
	{"sort_order", "sortOrder", "sort_order", COL_ENUM, 0},
	{"rules", "ruleSet|sources", "", COL_JSONB, COLF_RAW},
	{"updated_at", "updatedAt", "updated_at", COL_TIMESTAMPTZ, COLF_NEWER | COLF_REQUIRED},
};

static const TableDecl collections_table = {
	.name = "shopify.collections", .record = "collection",
	.columns = collection_columns, .ncolumns = lengthof(collection_columns),
	.key = 0, .key2 = -1, .parent = -1, .newer = 6,
};

static const ColumnDecl membership_columns[] = {
	{"collection_id", NULL, "", COL_PARENT, COLF_REQUIRED | COLF_POSITIVE, "collection id"},
	{"product_id", "id", NULL, COL_ID, COLF_KEY | COLF_REQUIRED | COLF_POSITIVE, "product id"},
	{"position", NULL, "", COL_POSITION, 0},
};

static const TableDecl memberships_table = {
	.name = "shopify.collection_products", .record = "collection product",
	.columns = membership_columns, .ncolumns = lengthof(membership_columns),
	.key = 1, .key2 = 0, .parent = 0, .newer = -1, .remove_rows = true,
};

static const GqlListing gql_collections = {
	.node_type = "Collection",
	.resource = "collections", .op = "Collections", .count_op = "CollectionsCount",
	.child_op = "CollectionProducts",
	.connection = "collections", .sort_key = "UPDATED_AT", .count_field = "collectionsCount",
	.single = "collection",
	.fields = "id title handle sortOrder updatedAt"
	" ruleSet { appliedDisjunctively rules { column relation condition } }",
	/* ruleSet is deprecated from 2026-07: its conditions are sources' now */
	.since_version = "2026-07",
	.fields_since = "id title handle sortOrder updatedAt"
	" sources { __typename ... on CollectionConditionsSource { inclusion { matchType conditions { __typename"
	" ... on CollectionSourceInclusionConditionProductTag { tagRelation: relation tags: values }"
	" ... on CollectionSourceInclusionConditionProductTitle { titleRelation: relation titles: values }"
	" ... on CollectionSourceInclusionConditionProductType { typeRelation: relation types: values }"
	" ... on CollectionSourceInclusionConditionProductVendor { vendorRelation: relation vendors: values }"
	" ... on CollectionSourceInclusionConditionVariantPrice { priceRelation: relation price: value { amount } }"
	" ... on CollectionSourceInclusionConditionVariantInventory { inventoryRelation: relation inventory: value }"
	" } } } }",
	.child = "products", .child_args = "sortKey: COLLECTION_DEFAULT", .child_var = "productsFirst",
	.child_fields = "id", .child_first = &collection_products_first, .bulk = true,
};

static const char *const collection_tables[] = {"shopify.collections", "shopify.collection_products", NULL};
static const char *const collection_topics[] = {"collections/create", "collections/update",
"collections/delete", NULL};
static const WebhookDecl collection_webhooks[] = {
	{"collections/create", WH_UPSERT}, {"collections/update", WH_UPSERT},
	{"collections/delete", WH_DELETE_NODE}, {NULL}
};

const ResourceDecl res_collections = {
	.name = "collections", .kind = RESOURCE_TABLES,
	.description = "Collections (custom and smart, with their rules) and the products in each, in the collection's order",
	.tables = collection_tables, .topics = collection_topics,
	.deletes = DELETES_SWEEP, .child_deletes = DELETES_CHILD_LIST,
	.gql = &gql_collections, .connection = "collections",
	.incremental = "updated_at",
	.table = &collections_table, .child_table = &memberships_table, .webhooks = collection_webhooks,
	.node_record = "collection", .rest_key = "collections", .rest_wrapper = "collection",
};

/* ----- metafields: of products, variants, orders, customers and the shop ----- */

/* value as jsonb where the type says the value is JSON (json, list.*, measurements, ...) */
static ComputeResult
metafield_json(const TableDecl *t, const XRecord *rec, int col, Datum *out)
{
	static const char *const json_types[] = {
		"json", "money", "dimension", "volume", "weight", "rating", "link", "rich_text_field",
		"antenna_gain", "area", "battery_charge_capacity", "battery_energy_capacity",
		"capacitance", "concentration", "data_storage_capacity", "data_transfer_rate",
		"distance", "display_density", "electric_current", "energy", "frequency",
		"illuminance", "inductance", "luminous_flux", "mass_flow_rate", "power", "pressure",
		"resistance", "sound_level", "speed", "temperature", "thermal_power", "voltage",
		"volumetric_flow_rate", NULL
	};
	const XValue *type = &rec->v[table_column(t, "type")];
	const XValue *value = &rec->v[table_column(t, "value")];
	bool		json = false;
	JsonLexContext *lex;
	JsonSemAction sem;

	if (type->type != XT_STRING || value->type != XT_STRING)
		return CR_NULL;
	if (strncmp(type->s, "list.", 5) == 0)
		json = true;
	for (int i = 0; !json && json_types[i]; i++)
		json = strcmp(type->s, json_types[i]) == 0;
	if (!json)
		return CR_NULL;
	/* a value that is not JSON after all stays text only */
	lex = makeJsonLexContextCstringLen((char *) value->s, value->len, GetDatabaseEncoding(), true);
	memset(&sem, 0, sizeof(sem));
	if (pg_parse_json(lex, &sem) != JSON_SUCCESS)
		return CR_NULL;
	*out = DirectFunctionCall1(jsonb_in, CStringGetDatum(value->s));
	return CR_SET;
}

#define METAFIELD_COLUMNS(owner) { \
	{"metafield_id", "id", NULL, COL_ID, COLF_KEY | COLF_REQUIRED | COLF_POSITIVE, "metafield id"}, \
	{"owner_type", owner, NULL, COL_CONST, 0}, \
	{"owner_id", NULL, "owner_id", COL_PARENT, COLF_REQUIRED | COLF_POSITIVE, "owner id"}, \
	{"namespace", "namespace", NULL, COL_TEXT, COLF_REQUIRED}, \
	{"key", "key", NULL, COL_TEXT, COLF_REQUIRED}, \
	{"type", "type", NULL, COL_TEXT, 0}, \
	{"value", "value", NULL, COL_TEXT, 0}, \
	{"value_json", NULL, "", COL_JSONB, 0, "value_json", metafield_json}, \
	{"updated_at", "updatedAt", "updated_at", COL_TIMESTAMPTZ, COLF_NEWER | COLF_REQUIRED}, \
}

#define METAFIELDS_TABLE(cols) { \
	.name = "shopify.metafields", .record = "metafield", \
	.columns = cols, .ncolumns = lengthof(cols), \
	.key = 0, .key2 = -1, .parent = 2, .newer = 8, .remove_rows = true, \
}

#define METAFIELD_SELECTION "id namespace key type value updatedAt"

static const char *const metafield_tables[] = {"shopify.metafields", NULL};

static const ColumnDecl product_mf_columns[] = METAFIELD_COLUMNS("product");
static const TableDecl product_mf_table = METAFIELDS_TABLE(product_mf_columns);
static const GqlListing gql_product_mf = {
	.node_type = "Product",
	.resource = "product_metafields", .op = "ProductMetafields", .count_op = "Count",
	.child_op = "ProductMetafieldsMore", .connection = "products", .sort_key = "UPDATED_AT",
	.count_field = "productsCount", .single = "product", .fields = "id",
	.child = "metafields", .child_var = "metafieldsFirst", .child_fields = METAFIELD_SELECTION,
	.child_first = &metafields_first, .bulk = true,
};

const ResourceDecl res_product_metafields = {
	.name = "product_metafields", .kind = RESOURCE_TABLES,
	.description = "Metafields of products (shopify.metafields, owner_type product)",
	.tables = metafield_tables, .topics = no_topics,
	.deletes = DELETES_NONE, .child_deletes = DELETES_CHILD_LIST,
	.gql = &gql_product_mf, .connection = "products", .incremental = "updated_at",
	.child_table = &product_mf_table, .node_record = "product",
};

static const ColumnDecl variant_mf_columns[] = METAFIELD_COLUMNS("variant");
static const TableDecl variant_mf_table = METAFIELDS_TABLE(variant_mf_columns);
static const GqlListing gql_variant_mf = {
	.node_type = "ProductVariant",
	.resource = "variant_metafields", .op = "VariantMetafields", .count_op = "VariantsCount",
	.child_op = "VariantMetafieldsMore", .connection = "productVariants",
	.count_field = "productVariantsCount", .single = "productVariant", .fields = "id",
	.child = "metafields", .child_var = "metafieldsFirst", .child_fields = METAFIELD_SELECTION,
	.child_first = &metafields_first, .bulk = true,
};

const ResourceDecl res_variant_metafields = {
	.name = "variant_metafields", .kind = RESOURCE_TABLES,
	.description = "Metafields of product variants (shopify.metafields, owner_type variant)",
	.tables = metafield_tables, .topics = no_topics,
	.deletes = DELETES_NONE, .child_deletes = DELETES_CHILD_LIST,
	.gql = &gql_variant_mf, .connection = "productVariants", .incremental = "updated_at",
	.child_table = &variant_mf_table, .node_record = "variant",
};

static const ColumnDecl order_mf_columns[] = METAFIELD_COLUMNS("order");
static const TableDecl order_mf_table = METAFIELDS_TABLE(order_mf_columns);
static const GqlListing gql_order_mf = {
	.node_type = "Order",
	.resource = "order_metafields", .op = "OrderMetafields", .count_op = "OrdersCount",
	.child_op = "OrderMetafieldsMore", .connection = "orders", .sort_key = "UPDATED_AT",
	.count_field = "ordersCount", .single = "order", .fields = "id",
	.child = "metafields", .child_var = "metafieldsFirst", .child_fields = METAFIELD_SELECTION,
	.child_first = &metafields_first, .bulk = true,
};

const ResourceDecl res_order_metafields = {
	.name = "order_metafields", .kind = RESOURCE_TABLES,
	.description = "Metafields of orders (shopify.metafields, owner_type order)",
	.tables = metafield_tables, .topics = no_topics,
	.deletes = DELETES_NONE, .child_deletes = DELETES_CHILD_LIST,
	.gql = &gql_order_mf, .connection = "orders", .incremental = "updated_at",
	.child_table = &order_mf_table, .node_record = "order",
};

static const ColumnDecl customer_mf_columns[] = METAFIELD_COLUMNS("customer");
static const TableDecl customer_mf_table = METAFIELDS_TABLE(customer_mf_columns);
static const GqlListing gql_customer_mf = {
	.node_type = "Customer",
	.resource = "customer_metafields", .op = "CustomerMetafields", .count_op = "CustomersCount",
	.child_op = "CustomerMetafieldsMore", .connection = "customers", .sort_key = "UPDATED_AT",
	.count_field = "customersCount", .single = "customer", .fields = "id",
	.child = "metafields", .child_var = "metafieldsFirst", .child_fields = METAFIELD_SELECTION,
	.child_first = &metafields_first, .bulk = true,
};

const ResourceDecl res_customer_metafields = {
	.name = "customer_metafields", .kind = RESOURCE_TABLES,
	.description = "Metafields of customers (shopify.metafields, owner_type customer); opt-in, like customers",
	.tables = metafield_tables, .topics = no_topics,
	.deletes = DELETES_NONE, .child_deletes = DELETES_CHILD_LIST,
	.gql = &gql_customer_mf, .connection = "customers", .incremental = "updated_at",
	.personal_data = true,
	.child_table = &customer_mf_table, .node_record = "customer",
};

static const ColumnDecl shop_mf_columns[] = METAFIELD_COLUMNS("shop");
static const TableDecl shop_mf_table = METAFIELDS_TABLE(shop_mf_columns);
static const GqlListing gql_shop_mf = {
	.node_type = "Shop",
	.resource = "shop_metafields", .op = "ShopMetafields", .child_op = "ShopMetafieldsMore",
	.connection = NULL, .single = "shop", .fields = "id",
	.child = "metafields", .child_var = "metafieldsFirst", .child_fields = METAFIELD_SELECTION,
	.child_first = &metafields_first, .bulk = false,
};

const ResourceDecl res_shop_metafields = {
	.name = "shop_metafields", .kind = RESOURCE_TABLES,
	.description = "Metafields of the shop itself (shopify.metafields, owner_type shop)",
	.tables = metafield_tables, .topics = no_topics,
	.deletes = DELETES_NONE, .child_deletes = DELETES_CHILD_LIST,
	.gql = &gql_shop_mf, .connection = NULL,
	.child_table = &shop_mf_table, .node_record = "shop",
};

/* ----- customers (opt-in; personal data only with customer_personal_data) ----- */

static const ColumnDecl customer_columns[] = {
	{"customer_id", "id", NULL, COL_ID, COLF_KEY | COLF_REQUIRED | COLF_POSITIVE, "customer id"},
	{"state", "state", NULL, COL_ENUM, 0},
	{"created_at", "createdAt", "created_at", COL_TIMESTAMPTZ, 0},
	{"updated_at", "updatedAt", "updated_at", COL_TIMESTAMPTZ, COLF_NEWER | COLF_REQUIRED},
	{"number_of_orders", "numberOfOrders", "orders_count", COL_INT8, 0, "number_of_orders"},
	{"amount_spent", "amountSpent.amount", "total_spent", COL_NUMERIC, 0},
	{"currency", "amountSpent.currencyCode", "currency", COL_TEXT, 0},
	{"tags", "tags", NULL, COL_TAGS, COLF_LIST},
	{"email", "defaultEmailAddress.emailAddress", "email", COL_TEXT, COLF_PERSONAL},
	{"first_name", "firstName", "first_name", COL_TEXT, COLF_PERSONAL},
	{"last_name", "lastName", "last_name", COL_TEXT, COLF_PERSONAL},
};

static const TableDecl customers_table = {
	.name = "shopify.customers", .record = "customer",
	.columns = customer_columns, .ncolumns = lengthof(customer_columns),
	.key = 0, .key2 = -1, .parent = -1, .newer = 3,
};

static const GqlListing gql_customers = {
	.node_type = "Customer",
	.resource = "customers", .op = "Customers", .count_op = "CustomersCount",
	.connection = "customers", .sort_key = "UPDATED_AT", .count_field = "customersCount",
	.single = "customer",
	.fields = "id state createdAt updatedAt numberOfOrders amountSpent { amount currencyCode } tags",
	.personal_fields = "firstName lastName defaultEmailAddress { emailAddress }",
	.bulk = true,
};

static const char *const customer_tables[] = {"shopify.customers", NULL};
static const char *const customer_topics[] = {"customers/create", "customers/update", "customers/delete", NULL};
static const WebhookDecl customer_webhooks[] = {
	{"customers/create", WH_UPSERT}, {"customers/update", WH_UPSERT},
	{"customers/delete", WH_DELETE_NODE}, {NULL}
};

const ResourceDecl res_customers = {
	.name = "customers", .kind = RESOURCE_TABLES,
	.description = "Customers (opt-in): state, orders, amount spent, tags; email and names only with shopify_sync.customer_personal_data",
	.tables = customer_tables, .topics = customer_topics,
	.deletes = DELETES_SWEEP, .child_deletes = DELETES_NONE,
	.gql = &gql_customers, .connection = "customers", .incremental = "updated_at",
	.personal_data = true,
	.table = &customers_table, .webhooks = customer_webhooks,
	.node_record = "customer", .rest_key = "customers", .rest_wrapper = "customer",
};
