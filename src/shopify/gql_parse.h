/*
 * gql_parse.h — an executable GraphQL document read into a tree of fields
 * (gql_parse.c), for the cost and shape walk (gql_doc.c).  Private to
 * shopify/.
 */
#ifndef SHOPIFY_GQL_PARSE_H
#define SHOPIFY_GQL_PARSE_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "shopify/gql_doc.h"

#define MAX_NESTING 64

/* an argument of a field, as written */
typedef struct GArg
{
	char	   *name;
	const char *text;			/* its value's text in the document */
	int			len;
} GArg;

typedef struct GField
{
	char	   *name;
	int64		n;				/* first: or last:, -1 if absent, -2 if null */
	bool		has_sel;
	List	   *sel;			/* GField *, in order */
	char	   *on;				/* inline fragment: type condition (or "") */
	char	   *spread;			/* fragment spread: the fragment's name */
	bool		fragment;		/* an inline fragment (name NULL) */
	char	   *alias;			/* the name it answers under (the name if none) */
	List	   *args;			/* GArg *, in order */
	const char *sel_text;		/* its selection set's text, braces included */
	int			sel_len;
} GField;

typedef struct GFrag
{
	char	   *name;
	List	   *sel;
} GFrag;

typedef struct Parser
{
	const char *s;
	const char *p;
	const GqlVar *vars;
	int			nvars;
	bool		failed;
	char	   *error;
	size_t		errlen;
	int			nesting;
	List	   *frags;
} Parser;

extern void gql_fail(Parser *ps, const char *msg);
extern List *gql_parse_document(Parser *ps, GqlDocInfo *info);

#endif
