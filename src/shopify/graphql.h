/*
 * graphql.h — GraphQL Admin API operations and their answers.
 */
#ifndef SHOPIFY_GRAPHQL_H
#define SHOPIFY_GRAPHQL_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"

#include "mirror/resource.h"

typedef enum GqlOp
{
	GQL_SHOP,					/* ShopifySyncShop */
	GQL_COUNT,					/* a listing's count */
	GQL_PAGE,					/* a page of a listing */
	GQL_FOLLOW,					/* a node's further children */
	GQL_BULK_START, GQL_BULK_STATUS,
	GQL_OBJECTS					/* a page of a declared resource */
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
	char	   *node_id;		/* a node's further children: the node's id */

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

/* page sizes of a listing under the current settings, and what they cost */
typedef struct GqlPageSizes
{
	int			first;			/* nodes per page */
	int			child_first;	/* children per node on a page */
	double		cost;			/* requested cost of a page */
	int			follow_first;	/* children per follow-up page */
	double		follow_cost;
} GqlPageSizes;

extern char *gql_path(void);
extern char *gql_body(const char *query, const char *variables_json);
extern void gql_json_str_or_null(StringInfo b, const char *s);
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
extern char *gql_follow_body(const GqlListing *l, const char *gid, const char *after,
							 const char *filter, double *cost);
extern char *gql_bulk_start_body(const GqlListing *l, const char *filter);
extern char *gql_bulk_run_body(const char *inner);
extern char *gql_bulk_status_body(const char *bulk_gid);
extern void gql_read_answer(const char *doc, size_t len, GqlOp op, const GqlListing *l,
							GqlAnswer *a);
extern void gql_read_objects_answer(const char *doc, size_t len, const char *connection,
									GqlAnswer *a);

#endif
