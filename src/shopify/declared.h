/*
 * declared.h — the GraphQL documents of a declared resource (declared.c).
 */
#ifndef SHOPIFY_DECLARED_H
#define SHOPIFY_DECLARED_H

#include "postgres.h"

/* what a refused declaration is (an SQLSTATE) */
#define DECLARED_SYNTAX		ERRCODE_SYNTAX_ERROR
#define DECLARED_INVALID	ERRCODE_INVALID_PARAMETER_VALUE
#define DECLARED_TOO_COSTLY ERRCODE_PROGRAM_LIMIT_EXCEEDED

typedef struct DeclaredQuery
{
	bool		ok;
	int			sqlstate;		/* when refused */
	char		error[256];
	char		connection[64]; /* the root connection field */
	char	   *args;			/* its other arguments, as written ("" if none) */
	char	   *filter;			/* its query: string (as written, unquoted), or NULL */
	char	   *node_sel;		/* the node selection, with __typename */
	bool		incremental;
	bool		has_query_var;	/* the page document takes $query */
	char	   *document;		/* the page document */
	int			page_size;
	double		page_cost;		/* requested cost of a page of page_size nodes */
} DeclaredQuery;

extern void declared_read(const char *query, bool incremental, DeclaredQuery *d);
extern char *declared_page_variables(const DeclaredQuery *d, const char *after,
									 const char *since_filter);
extern char *declared_bulk_query(const DeclaredQuery *d, const char *since_filter);
extern char *declared_page_body(const DeclaredQuery *d, const char *after,
								const char *since_filter);

#endif
