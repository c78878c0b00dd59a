/*
 * gql_doc.h — GraphQL documents read inside the server: syntax, shape and
 * the requested cost by Shopify's documented rules, without the schema.
 */
#ifndef SHOPIFY_GQL_DOC_H
#define SHOPIFY_GQL_DOC_H

#include "postgres.h"

/* Shopify refuses a query whose requested cost is above this. */
#define GQL_MAX_QUERY_COST 1000

/* a variable's value, for the cost: only Int values matter (first/last) */
typedef struct GqlVar
{
	const char *name;			/* without the $ */
	int64		value;			/* -1: null */
} GqlVar;

typedef struct GqlDocInfo
{
	bool		ok;
	char		error[256];		/* the first syntax or shape error */
	bool		mutation;
	char		op_name[64];	/* the operation's name, or "" */
	int			root_fields;	/* fields selected at the root */
	char		root_connection[64];	/* the first root field that is a
										 * connection (has first/last), or "" */
	bool		nodes_have_id;	/* every connection's nodes select id */
	int			connections;	/* connection fields in the document */
	int			depth;			/* deepest nesting of connections */
	double		cost;			/* requested cost by Shopify's rules */
} GqlDocInfo;

extern void gql_doc_read(const char *text, const GqlVar *vars, int nvars, GqlDocInfo *info);
extern double gql_doc_cost(const char *text, const GqlVar *vars, int nvars);

#endif
