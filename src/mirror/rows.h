/*
 * rows.h — typed rows of a resource's tables, read from any payload by the
 * resource's declaration (rows.c).
 */
#ifndef SHOPIFY_ROWS_H
#define SHOPIFY_ROWS_H

#include "postgres.h"

#include "utils/hsearch.h"

#include "mirror/resource.h"

/* what a payload is */
typedef enum RowsShape
{
	RS_REST_PAGE,				/* {"products": [...]} */
	RS_REST_ONE,				/* a webhook: {"product": {...}} or the object itself */
	RS_GRAPHQL_PAGE,			/* {"data": {"<connection>": {"nodes"|"edges": [...]}}} */
	RS_GRAPHQL_ONE,				/* {"data": {"<single>": {...}}}: a node's further children */
	RS_BULK						/* lines of a bulk result (children name __parentId) */
} RowsShape;

/* a row, as handed to the caller (its memory lives until the call returns) */
typedef struct RowOut
{
	const TableDecl *table;		/* the table it belongs to */
	Datum	   *values;			/* one per column of table */
	bool	   *nulls;
	bool	   *absent;			/* not carried by the payload: the stored value stays */
	bool		ok;
	const char *error;			/* why not */
	bool		node_only;		/* a bulk line of a node whose children are lines of
								 * their own (products: the product's columns only) */
	bool		is_child;		/* a child row (else a node's) */
	int64		parent_id;		/* a child's node, 0 if not known */
	int			child_more;		/* a node's row: 1 its children continue on further
								 * pages, 0 they are all here, -1 not a page */
	const char *src;			/* bulk: the line it was read from */
	int			srclen;
} RowOut;

typedef void (*RowEmit) (void *arg, const RowOut *row);

typedef struct RowsOptions
{
	bool		personal;		/* keep COLF_PERSONAL columns (else NULL) */
	bool		children_only;	/* no rows of the nodes themselves */
	int			position_offset;	/* RS_GRAPHQL_ONE: children before this page */
	HTAB	   *positions;		/* RS_BULK: children counted so far per node
								 * (int64 key, int count), kept across batches */
} RowsOptions;

extern void rows_parse(const ResourceDecl *r, RowsShape shape, const char *doc, size_t len,
					   const RowsOptions *opt, RowEmit emit, void *arg, bool *saw_list);
extern HTAB *rows_position_table(MemoryContext cxt);

#endif
