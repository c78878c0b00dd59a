/*
 * graphql.h — GraphQL Admin API operations and their answers.
 */
#ifndef SHOPIFY_GRAPHQL_H
#define SHOPIFY_GRAPHQL_H

#include "postgres.h"

#include "datatype/timestamp.h"

typedef enum GqlOp
{
	GQL_SHOP, GQL_COUNT, GQL_PRODUCTS, GQL_PRODUCT_VARIANTS, GQL_BULK_START, GQL_BULK_STATUS,
	GQL_ORDERS_COUNT, GQL_ORDERS, GQL_ORDER_LINES, GQL_OBJECTS
} GqlOp;

typedef struct GqlAnswer
{
	bool		json_ok;
	char	   *parse_error;
	bool		data_ok;		/* the data the operation asks for is there */

	/* errors[0] */
	bool		throttled;
	char	   *error_code;
	char	   *error_message;

	/* extensions.cost */
	bool		has_cost;
	double		requested;
	double		actual;
	double		maximum;
	double		available;
	double		restore;

	/* a products page, or a product's variants page */
	bool		has_next;
	char	   *end_cursor;
	int			nproducts;
	char	  **product_ids;
	bool	   *more_variants;
	char	  **variants_cursor;
	bool		product_null;

	int64		count;

	/* bulk operations */
	char	   *bulk_id;
	char	   *bulk_status;
	char	   *bulk_error_code;
	char	   *bulk_object_count;
	char	   *bulk_url;
	char	   *user_error_code;
	char	   *user_error_message;
} GqlAnswer;

/* Shopify's largest page */
#define GQL_MAX_PAGE 250

/* What a resource's GraphQL listing asks for (graphql.c declares them). */
typedef struct GqlListing
{
	const char *resource;		/* "products" */
	const char *op;				/* operation names: ShopifySync<op> (pages), */
	const char *count_op;		/* ShopifySync<count_op> (the count), */
	const char *child_op;		/* ShopifySync<child_op> (a node's further children) */
	const char *connection;		/* root connection: "products" */
	const char *count_field;	/* root count: "productsCount" */
	const char *single;			/* root field of one node: "product" */
	const char *fields;			/* a node's selection (without its children) */
	const char *child;			/* the child connection: "variants" */
	const char *child_var;		/* the variable of its page size: "variantsFirst" */
	const char *child_fields;	/* a child's selection */
	const int  *child_first;	/* setting: children per node on a page */
} GqlListing;

/* page sizes of a listing under the current settings, and what they cost */
typedef struct GqlPageSizes
{
	int			first;			/* nodes per page */
	int			child_first;	/* children per node on a page */
	double		cost;			/* requested cost of a page */
	int			follow_first;	/* children per follow-up page */
	double		follow_cost;
} GqlPageSizes;

extern const GqlListing gql_products;
extern const GqlListing gql_orders;

extern char *gql_path(void);
extern char *gql_filter_since(bool has_since, TimestampTz since);
extern char *gql_shop_query(void);
extern char *gql_count_query(const GqlListing *l);
extern char *gql_page_query(const GqlListing *l);
extern char *gql_follow_query(const GqlListing *l);
extern char *gql_bulk_query(const GqlListing *l, const char *filter);
extern char *gql_bulk_start_query(void);
extern char *gql_bulk_status_query(void);
extern void gql_page_sizes(const GqlListing *l, GqlPageSizes *out);

extern char *gql_shop_body(void);
extern char *gql_count_body(const GqlListing *l, const char *filter);
extern char *gql_page_body(const GqlListing *l, const char *after, const char *filter, double *cost);
extern char *gql_follow_body(const GqlListing *l, const char *gid, const char *after, double *cost);
extern char *gql_bulk_start_body(const GqlListing *l, const char *filter);
extern char *gql_bulk_run_body(const char *inner);
extern char *gql_bulk_status_body(const char *bulk_gid);
extern void gql_read_answer(const char *doc, size_t len, GqlOp op, GqlAnswer *a);
extern void gql_read_objects_answer(const char *doc, size_t len, const char *connection,
									GqlAnswer *a);

#endif
