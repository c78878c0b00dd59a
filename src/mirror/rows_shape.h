/*
 * rows_shape.h — a resource's declaration compiled for a payload shape
 * (rows_shape.c), as rows.c reads it.  Private to mirror/.
 */
#ifndef SHOPIFY_ROWS_SHAPE_H
#define SHOPIFY_ROWS_SHAPE_H

#include "mirror/extract.h"
#include "mirror/rows.h"

#define NO_PATH "\001"

typedef struct Compiled
{
	const ResourceDecl *res;
	RowsShape	shape;
	bool		graphql;		/* GraphQL spellings (else REST) */
	bool		products_style; /* nodes have no table: their columns are the child table's */
	bool		standalone;		/* REST objects are rows of the child table */
	XRecordDecl node;			/* fields parallel to the node table's columns (or the
								 * child table's), then id, then the children's hasNextPage */
	int			n_id;
	int			n_more;
	XRecordDecl child;			/* fields parallel to the child table's columns, then
								 * __parentId, then the child's own parent id */
	int			c_parent;
	int			c_check;
	XChildDecl	kids[3];
	const char *roots[2];
	XShape		x;
	struct Compiled *next;
} Compiled;

extern Compiled *rows_compile(const ResourceDecl *r, RowsShape shape);

#endif
