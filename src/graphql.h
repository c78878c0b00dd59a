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
	GQL_ORDERS_COUNT, GQL_ORDERS, GQL_ORDER_LINES
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

extern char *gql_path(void);
extern char *gql_shop_body(void);
extern char *gql_filter_since(bool has_since, TimestampTz since);
extern char *gql_count_body(const char *filter);
extern char *gql_products_body(int first, int variants_first, const char *after, const char *filter);
extern char *gql_variants_body(const char *product_gid, int first, const char *after);
extern char *gql_orders_count_body(const char *filter);
extern char *gql_orders_body(int first, int lines_first, const char *after, const char *filter);
extern char *gql_order_lines_body(const char *order_gid, int first, const char *after);
extern char *gql_bulk_start_body(void);
extern char *gql_bulk_status_body(const char *bulk_gid);
extern double gql_products_cost(int first, int variants_first);
extern void gql_read_answer(const char *doc, size_t len, GqlOp op, GqlAnswer *a);

#endif
