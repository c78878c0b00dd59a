/*
 * resource.h — what a resource is: one declaration per Shopify object the
 * mirror keeps (resource.c: products, orders; resource_store.c: locations,
 * inventory levels, collections, metafields, customers).
 *
 * A declaration says everything the engine needs, and nothing else says it
 * again: the GraphQL listing (root connection, a node's selection, one
 * nested child connection, the root field of one node for the child's
 * further pages, the count, where the incremental filter goes), the REST
 * listing where one is kept, the tables it fills with each column's JSON
 * path (REST and GraphQL spellings) and PostgreSQL type, how deletes are
 * seen, and the webhook topics that carry it.  The documents are built
 * from it (shopify/graphql.c), rows are read from payloads by it
 * (rows.c), and resources of kind RESOURCE_TABLES are written by it
 * alone (tables.c).  Products and orders keep write paths of their own
 * (products.c, orders.c: statistics, the variant-per-row shape) but read
 * their rows (products) and build their documents the same way.
 */
#ifndef SHOPIFY_RESOURCE_H
#define SHOPIFY_RESOURCE_H

#include "postgres.h"

/* how the rows a store no longer has are found */
typedef enum ResourceDeletes
{
	DELETES_NONE,				/* never: rows are only added and updated */
	DELETES_SWEEP,				/* a full sync's listing: what it did not see is gone */
	DELETES_CHILD_LIST			/* a parent that carries its complete list of children */
} ResourceDeletes;

/* which write path a resource's rows take */
typedef enum ResourceKind
{
	RESOURCE_PRODUCTS,			/* shopify.products (variants of products) */
	RESOURCE_ORDERS,			/* shopify.orders, shopify.order_lines */
	RESOURCE_TABLES,			/* typed tables written from the declaration */
	RESOURCE_OBJECTS			/* declared by a user: shopify.objects */
} ResourceKind;

/* ----- columns and tables ----- */

/* the PostgreSQL value a column takes from its JSON value */
typedef enum ColType
{
	COL_ID,						/* bigint: a number, a digit string or a gid's number */
	COL_INT4,					/* integer: a JSON number */
	COL_INT8,					/* bigint: a JSON number or a digit string */
	COL_NUMERIC,				/* exact numeric: a decimal number or string */
	COL_TEXT,					/* text, at most 64 kB */
	COL_ENUM,					/* text, lower-cased (GraphQL's ACTIVE: REST's active) */
	COL_BOOL,					/* boolean */
	COL_TIMESTAMPTZ,			/* an ISO 8601 timestamp */
	COL_JSONB,					/* any JSON value, kept as it is */
	COL_TAGS,					/* text: a string, or strings joined with ", " */
	COL_PARENT,					/* the parent node's id (bulk lines: __parentId) */
	COL_POSITION,				/* 1-based position among the parent's children */
	COL_CONST					/* the text in path, always */
} ColType;

/* ColumnDecl.flags */
#define COLF_KEY		0x01	/* the row's id (with shop_id, and a second key) */
#define COLF_REQUIRED	0x02	/* missing or null: the row fails */
#define COLF_POSITIVE	0x04	/* ids: above zero */
#define COLF_NEWER		0x08	/* the source's updated_at: a row never goes back in time */
#define COLF_PERSONAL	0x10	/* kept only with shopify_sync.customer_personal_data */
#define COLF_PARENT_REC 0x20	/* read from the parent record (copied onto each child) */
#define COLF_LIST		0x40	/* the path may hold an array of scalars (COL_TAGS) */
#define COLF_HIDDEN		0x80	/* read (for compute()), never stored */
#define COLF_RAW		0x100	/* COL_JSONB: an object or array is kept whole */

/* what compute() made of a record */
typedef enum ComputeResult
{
	CR_PATH,					/* nothing: convert the path's value instead */
	CR_NULL,
	CR_SET,
	CR_BAD
} ComputeResult;

struct XRecord;
struct TableDecl;

typedef struct ColumnDecl
{
	const char *name;			/* the column */
	const char *path;			/* in a GraphQL node: "title", "productType",
								 * "address.city"; COL_CONST: the constant */
	const char *rest;			/* in a REST object (webhooks): NULL the same,
								 * "" not carried (the stored value stays) */
	ColType		type;
	int			flags;
	const char *label;			/* in messages ("variant id"); NULL: the name */
	/*
	 * Optional: the value from the record (whose values rec->v are parallel
	 * to the table's columns: v[col] is what stood at this column's path),
	 * of the column's type; CR_PATH: convert the path's value instead.
	 */
	ComputeResult (*compute) (const struct TableDecl *t, const struct XRecord *rec, int col,
							  Datum *out);
} ColumnDecl;

typedef struct TableDecl
{
	const char *name;			/* "shopify.locations" */
	const char *record;			/* "location", for messages */
	const ColumnDecl *columns;
	int			ncolumns;
	int			key;			/* the key column (with shop_id) */
	int			key2;			/* a second key column, or -1 */
	int			parent;			/* the column naming the parent node, or -1 */
	int			newer;			/* the COLF_NEWER column, or -1 */
	bool		remove_rows;	/* rows gone from Shopify are deleted
								 * (memberships, values), not deactivated */
} TableDecl;

/* ----- the GraphQL listing ----- */

typedef struct GqlListing
{
	const char *resource;		/* "products" */
	const char *op;				/* operation names: ShopifySync<op> (pages), */
	const char *count_op;		/* ShopifySync<count_op> (the count), */
	const char *child_op;		/* ShopifySync<child_op> (a node's further children) */
	const char *connection;		/* root connection: "products"; NULL: the root
								 * is the one node single (the shop) */
	const char *args;			/* further arguments of the root connection */
	const char *sort_key;		/* its sortKey (UPDATED_AT: changes come last) or NULL */
	const char *count_field;	/* root count: "productsCount", or NULL */
	const char *single;			/* root field of one node by id: "product" */
	const char *node_type;		/* the nodes' GraphQL type: "Product" */
	const char *fields;			/* a node's selection (without its children) */
	const char *personal_fields;	/* added with customer_personal_data */
	const char *since_version;	/* from this API version on ("2026-07"), ... */
	const char *fields_since;	/* ... fields instead (what replaced a deprecated field) */
	const char *child;			/* the child connection: "variants", or NULL */
	const char *child_args;		/* further arguments of the child connection */
	const char *child_var;		/* the variable of its page size: "variantsFirst" */
	const char *child_fields;	/* a child's selection */
	const int  *child_first;	/* setting: children per node on a page */
	bool		child_filter;	/* the incremental filter is the child connection's
								 * (the root is listed whole) */
	bool		bulk;			/* may be listed by a bulk operation */
} GqlListing;

/* ----- webhooks ----- */

/* what a webhook topic does to a resource declared as tables */
typedef enum WebhookAction
{
	WH_UPSERT,					/* the payload is a row (a node with what children it
								 * carries, or a child table's row of its own) */
	WH_DELETE_NODE,				/* payload id: the node's row goes, and its children */
	WH_DELETE_CHILDREN,			/* payload id: the child rows whose column is it go */
	WH_DELETE_ROW,				/* the payload names a child table row by its keys: it goes */
	WH_NOTE						/* nothing of it is mirrored: noted */
} WebhookAction;

typedef struct WebhookDecl
{
	const char *topic;
	WebhookAction action;
	const char *column;			/* WH_DELETE_CHILDREN: the child table's column */
	const char *note;			/* WH_NOTE: why */
} WebhookDecl;

/* ----- the resource ----- */

typedef struct ResourceDecl
{
	const char *name;			/* "products": shopify_sync()'s name of it */
	ResourceKind kind;
	const char *description;
	const char *const *tables;	/* what it fills, NULL-terminated */
	const char *const *topics;	/* the webhook topics that carry it, NULL-terminated */
	ResourceDeletes deletes;	/* of the nodes */
	ResourceDeletes child_deletes;	/* of their children */
	const GqlListing *gql;		/* its GraphQL listing */
	const char *connection;		/* GraphQL root connection (gql->connection) */
	const char *rest_listing;	/* REST listing, or NULL */
	const char *incremental;	/* the search field of incremental syncs, or NULL */
	bool		personal_data;	/* only when a store names it */
	const TableDecl *table;		/* RESOURCE_TABLES: its nodes' rows, or NULL */
	const TableDecl *child_table;	/* its nodes' children's rows, or NULL */
	const char *node_record;	/* a node, in messages: "product" */
	const char *rest_key;		/* REST page: the key of its array ("products") */
	const char *rest_wrapper;	/* REST object (webhook): {"product": {...}} */
	const char *rest_children;	/* REST: where a node's children are ("variants.*") */
	const char *child_check;	/* a child's own parent id, if it has one, must match */
	const WebhookDecl *webhooks;	/* RESOURCE_TABLES: what each topic does, {NULL} ended */
	bool		children_required;	/* a node without its children's list fails */
} ResourceDecl;

/* the built-in resources, NULL-terminated */
extern const ResourceDecl *const resource_builtins[];

extern const ResourceDecl *resource_builtin(const char *name);
extern const ResourceDecl *resource_for_topic(const char *topic);
extern const ResourceDecl resource_declared;
extern const GqlListing gql_products;
extern const GqlListing gql_orders;

/* resource_store.c */
extern const ResourceDecl res_locations;
extern const ResourceDecl res_inventory_levels;
extern const ResourceDecl res_collections;
extern const ResourceDecl res_product_metafields;
extern const ResourceDecl res_variant_metafields;
extern const ResourceDecl res_order_metafields;
extern const ResourceDecl res_customer_metafields;
extern const ResourceDecl res_shop_metafields;
extern const ResourceDecl res_customers;

/* the index of the column named name in t, or -1 */
extern int	table_column(const TableDecl *t, const char *name);
/* a column's PostgreSQL type */
extern Oid	col_type(const ColumnDecl *c);
extern bool col_byval(const ColumnDecl *c);
extern int	col_typlen(const ColumnDecl *c);

#endif
