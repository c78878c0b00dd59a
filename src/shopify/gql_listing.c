/*
 * gql_listing.c — the GraphQL documents of a resource's listing, built from
 * its declaration (mirror/resource.c, resource_store.c): the count, a page
 * (nodes with their first children), a node's further children, the inner
 * query of a bulk operation, and the request bodies with their variables.
 *
 * Page sizes are derived from the requested cost by Shopify's rules
 * (gql_doc.c) so that no page exceeds the 1,000-point limit whatever the
 * settings say.  The incremental filter is the root connection's query:,
 * or the child connection's for listings whose root is listed whole
 * (inventory levels: every location, its levels changed since).  The suite
 * validates every document against Shopify's published schema (053).
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/json.h"

#include "base/settings.h"
#include "shopify/gql_doc.h"
#include "shopify/graphql.h"


/* counts ask for the exact figure: the schema's default limit is 10,000 */
char *
gql_count_query(const GqlListing *l)
{
	return psprintf("query ShopifySync%s($query: String) { %s(query: $query, limit: null) { count precision } }",
					l->count_op, l->count_field);
}

/* a node's selection: its fields, and the personal ones when they are kept */
static char *
node_fields(const GqlListing *l)
{
	const char *f = l->fields;

	/* API versions compare as text; "unstable" is the newest */
	if (l->since_version && strcmp(shopify_api_version, l->since_version) >= 0)
		f = l->fields_since;
	if (l->personal_fields && shopify_customer_personal_data)
		return psprintf("%s %s", f, l->personal_fields);
	return pstrdup(f);
}

/*
 * A page of the listing: the nodes, each with its first children.  The
 * incremental filter ($query) is the root connection's, or the child
 * connection's (child_filter: the root is listed whole).
 */
char *
gql_page_query(const GqlListing *l)
{
	StringInfoData q;

	if (l->connection == NULL)
		return gql_follow_query(l);	/* one node: its children's pages */
	initStringInfo(&q);
	appendStringInfo(&q, "query ShopifySync%s($first: Int!, $after: String, $query: String", l->op);
	if (l->child)
		appendStringInfo(&q, ", $%s: Int!", l->child_var);
	appendStringInfo(&q, ") { %s(first: $first, after: $after", l->connection);
	if (!l->child_filter)
		appendStringInfoString(&q, ", query: $query");
	if (l->sort_key)
		appendStringInfo(&q, ", sortKey: %s", l->sort_key);
	if (l->args)
		appendStringInfo(&q, ", %s", l->args);
	appendStringInfo(&q, ") {  pageInfo { hasNextPage endCursor }  nodes { %s", node_fields(l));
	if (l->child)
	{
		appendStringInfo(&q, "   %s(first: $%s", l->child, l->child_var);
		if (l->child_filter)
			appendStringInfoString(&q, ", query: $query");
		if (l->child_args)
			appendStringInfo(&q, ", %s", l->child_args);
		appendStringInfo(&q, ") { pageInfo { hasNextPage endCursor } nodes { %s } }", l->child_fields);
	}
	appendStringInfoString(&q, " } } }");
	return q.data;
}

/* Further children of one node (the shop has no id: there is one). */
char *
gql_follow_query(const GqlListing *l)
{
	StringInfoData q;
	bool		shop = (l->connection == NULL);

	initStringInfo(&q);
	appendStringInfo(&q, "query ShopifySync%s(%s$first: Int!, $after: String%s) {",
					 l->child_op, shop ? "" : "$id: ID!, ", l->child_filter ? ", $query: String" : "");
	if (shop)
		appendStringInfo(&q, " %s { %s ", l->single, node_fields(l));
	else
		appendStringInfo(&q, " %s(id: $id) { %s ", l->single, node_fields(l));
	appendStringInfo(&q, " %s(first: $first, after: $after", l->child);
	if (l->child_filter)
		appendStringInfoString(&q, ", query: $query");
	if (l->child_args)
		appendStringInfo(&q, ", %s", l->child_args);
	appendStringInfo(&q, ") { pageInfo { hasNextPage endCursor } nodes { %s } } } }", l->child_fields);
	return q.data;
}

/* The inner query of a bulk operation: every node and its children. */
char *
gql_bulk_query(const GqlListing *l, const char *filter)
{
	StringInfoData q;
	bool		root_args = (filter && !l->child_filter) || l->args;

	initStringInfo(&q);
	appendStringInfo(&q, "{ %s", l->connection);
	if (root_args)
	{
		appendStringInfoChar(&q, '(');
		if (filter && !l->child_filter)
		{
			appendStringInfoString(&q, "query: ");
			escape_json(&q, filter);
		}
		if (l->args)
			appendStringInfo(&q, "%s%s", filter && !l->child_filter ? ", " : "", l->args);
		appendStringInfoChar(&q, ')');
	}
	appendStringInfo(&q, " { edges { node { %s", node_fields(l));
	if (l->child)
	{
		bool		child_args = (filter && l->child_filter) || l->child_args;

		appendStringInfo(&q, " %s", l->child);
		if (child_args)
		{
			appendStringInfoChar(&q, '(');
			if (filter && l->child_filter)
			{
				appendStringInfoString(&q, "query: ");
				escape_json(&q, filter);
			}
			if (l->child_args)
				appendStringInfo(&q, "%s%s", filter && l->child_filter ? ", " : "", l->child_args);
			appendStringInfoChar(&q, ')');
		}
		appendStringInfo(&q, " { edges { node { %s } } }", l->child_fields);
	}
	appendStringInfoString(&q, " } } } }");
	return q.data;
}

/* cost of the page document with first = n, child first = c */
static double
page_cost(const GqlListing *l, const char *q, int n, int c)
{
	GqlVar		v[2] = {{"first", n}, {l->child_var ? l->child_var : "-", c}};

	return gql_doc_cost(q, v, l->child ? 2 : 1);
}

/*
 * The page sizes of a listing under the current settings: the children per
 * node (the setting, lowered until one node fits), then the nodes per page
 * (the setting, lowered to what the cost limit allows), and the children
 * per follow-up page.  The cost is linear in each size, so two evaluations
 * give it for any size.
 */
void
gql_page_sizes(const GqlListing *l, GqlPageSizes *out)
{
	char	   *q = gql_page_query(l);
	int			want_child = l->child ? *l->child_first : 0;
	double		one0 = page_cost(l, q, 1, 0);
	double		per_child = l->child ? page_cost(l, q, 1, 1) - one0 : 0;
	double		node;
	int			child,
				first;

	child = want_child;
	if (per_child > 0 && one0 + child * per_child > GQL_MAX_QUERY_COST)
		child = (int) ((GQL_MAX_QUERY_COST - one0) / per_child);
	child = l->child ? Max(1, Min(child, GQL_MAX_PAGE)) : 0;
	node = page_cost(l, q, 1, child) - page_cost(l, q, 0, child);
	first = node > 0 ? (int) ((GQL_MAX_QUERY_COST - page_cost(l, q, 0, child)) / node) : GQL_MAX_PAGE;
	first = Max(1, Min(first, Min(shopify_graphql_page_size, GQL_MAX_PAGE)));
	out->first = first;
	out->child_first = child;
	out->cost = page_cost(l, q, first, child);
	out->follow_first = 0;
	out->follow_cost = 0;
	if (l->child)
	{
		char	   *fq = gql_follow_query(l);
		GqlVar		fv0[1] = {{"first", 0}};
		GqlVar		fv1[1] = {{"first", 1}};
		double		f0 = gql_doc_cost(fq, fv0, 1);
		double		per_follow = gql_doc_cost(fq, fv1, 1) - f0;

		out->follow_first = per_follow > 0 ?
			Max(1, Min(GQL_MAX_PAGE, (int) ((GQL_MAX_QUERY_COST - f0) / per_follow))) : GQL_MAX_PAGE;
		fv1[0].value = out->follow_first;
		out->follow_cost = gql_doc_cost(fq, fv1, 1);
		pfree(fq);
	}
	pfree(q);
}

char *
gql_count_body(const GqlListing *l, const char *filter)
{
	StringInfoData v;

	initStringInfo(&v);
	appendStringInfoString(&v, "{\"query\": ");
	gql_json_str_or_null(&v, filter);
	appendStringInfoChar(&v, '}');
	return gql_body(gql_count_query(l), v.data);
}

/* A page of the listing after the cursor after; *cost: its requested cost. */
char *
gql_page_body(const GqlListing *l, const char *after, const char *filter, double *cost)
{
	StringInfoData v;
	GqlPageSizes sz;

	gql_page_sizes(l, &sz);
	initStringInfo(&v);
	appendStringInfo(&v, "{\"first\": %d, ", sz.first);
	if (l->child)
		appendStringInfo(&v, "\"%s\": %d, ", l->child_var, sz.child_first);
	appendStringInfoString(&v, "\"after\": ");
	gql_json_str_or_null(&v, after);
	appendStringInfoString(&v, ", \"query\": ");
	gql_json_str_or_null(&v, filter);
	appendStringInfoChar(&v, '}');
	*cost = sz.cost;
	return gql_body(gql_page_query(l), v.data);
}

/*
 * Further children of one node (gid; the shop: NULL) after the cursor
 * after; filter: a child_filter listing's incremental filter.
 */
char *
gql_follow_body(const GqlListing *l, const char *gid, const char *after, const char *filter,
				double *cost)
{
	StringInfoData v;
	GqlPageSizes sz;

	gql_page_sizes(l, &sz);
	initStringInfo(&v);
	appendStringInfoChar(&v, '{');
	if (l->connection != NULL)
	{
		appendStringInfoString(&v, "\"id\": ");
		escape_json(&v, gid);
		appendStringInfoString(&v, ", ");
	}
	appendStringInfo(&v, "\"first\": %d, \"after\": ", sz.follow_first);
	gql_json_str_or_null(&v, after);
	if (l->child_filter)
	{
		appendStringInfoString(&v, ", \"query\": ");
		gql_json_str_or_null(&v, filter);
	}
	appendStringInfoChar(&v, '}');
	*cost = sz.follow_cost;
	return gql_body(gql_follow_query(l), v.data);
}

char *
gql_bulk_start_body(const GqlListing *l, const char *filter)
{
	return gql_bulk_run_body(gql_bulk_query(l, filter));
}
