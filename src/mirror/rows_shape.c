/*
 * rows_shape.c — a resource's declaration compiled, once per process and
 * payload shape, into the records extract.c keeps (rows.c builds rows of
 * them).
 *
 * A node's record has one field per column of its table (for products,
 * whose nodes have no table, one per column of the variants' table, only
 * the node's own ones read), then its id and its children's hasNextPage; a
 * child's has one per column of the child table, then __parentId (bulk
 * lines) and its own parent id (REST variants' product_id, checked).  One
 * path keeps one field: a column that reads the node's "id" is its id.
 * GraphQL shapes read the GraphQL paths, REST ones the REST paths (a
 * column a REST object does not carry reads nothing).
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "mirror/rows_shape.h"



static Compiled *compiled = NULL;

static const char *
col_path(const ColumnDecl *c, bool graphql)
{
	switch (c->type)
	{
		case COL_POSITION:
		case COL_CONST:
			return NO_PATH;
		default:
			break;
	}
	if (!graphql && c->rest != NULL)
		return c->rest[0] ? c->rest : NO_PATH;
	return c->path ? c->path : NO_PATH;
}

static int
xflags(const ColumnDecl *c)
{
	return ((c->flags & COLF_LIST) ? XF_LIST : 0) | ((c->flags & COLF_RAW) ? XF_RAW : 0);
}

/* fields parallel to t's columns; of_node: only the node's (COLF_PARENT_REC) */
static XFieldDecl *
table_fields(const TableDecl *t, bool graphql, int which, int extra)
{
	XFieldDecl *f = palloc0(sizeof(XFieldDecl) * (t->ncolumns + extra));

	for (int i = 0; i < t->ncolumns; i++)
	{
		const ColumnDecl *c = &t->columns[i];
		bool		node_col = (c->flags & COLF_PARENT_REC) != 0;

		f[i].path = NO_PATH;
		if (which == 0 || (which == 1 && node_col) || (which == 2 && !node_col))
		{
			f[i].path = col_path(c, graphql);
			f[i].flags = xflags(c);
		}
		/* a child's COL_PARENT comes from its node, or __parentId */
		if (which == 2 && c->type == COL_PARENT && graphql)
			f[i].path = NO_PATH;
	}
	return f;
}

Compiled *
rows_compile(const ResourceDecl *r, RowsShape shape)
{
	MemoryContext old;
	Compiled   *c;
	const TableDecl *ct = r->child_table;
	const GqlListing *g = r->gql;
	XFieldDecl *nf;
	int			nbase;
	int			k = 0;

	for (c = compiled; c; c = c->next)
		if (c->res == r && c->shape == shape)
			return c;
	old = MemoryContextSwitchTo(TopMemoryContext);
	c = palloc0(sizeof(Compiled));
	c->res = r;
	c->shape = shape;
	c->graphql = (shape == RS_GRAPHQL_PAGE || shape == RS_GRAPHQL_ONE || shape == RS_BULK);
	c->products_style = (r->table == NULL && ct != NULL && ct->parent >= 0 &&
						 (ct->columns[ct->parent].flags & COLF_PARENT_REC));
	c->standalone = !c->graphql && r->table == NULL && !c->products_style;

	/* the node: its table's columns (or the child table's node columns) + id + more */
	if (r->table)
	{
		nbase = r->table->ncolumns;
		nf = table_fields(r->table, c->graphql, 0, 2);
	}
	else if (c->products_style)
	{
		nbase = ct->ncolumns;
		nf = table_fields(ct, c->graphql, 1, 2);
	}
	else
	{
		nbase = 0;
		nf = palloc0(sizeof(XFieldDecl) * 2);
	}
	/* (one path keeps one field: a column of the node's id is its id) */
	c->n_id = nbase;
	c->n_more = nbase + 1;
	nf[nbase].path = "id";
	for (int i = 0; i < nbase; i++)
		if (strcmp(nf[i].path, "id") == 0)
		{
			c->n_id = i;
			nf[nbase].path = NO_PATH;
		}
	nf[c->n_more].path = (shape == RS_GRAPHQL_PAGE && g && g->child) ?
		psprintf("%s.pageInfo.hasNextPage", g->child) : NO_PATH;
	c->node.name = r->node_record ? r->node_record : "node";
	c->node.fields = nf;
	c->node.nfields = nbase + 2;

	/* the children */
	if (ct)
	{
		XFieldDecl *cf = table_fields(ct, c->graphql, c->products_style ? 2 : 0, 2);

		c->c_parent = ct->ncolumns;
		c->c_check = ct->ncolumns + 1;
		cf[c->c_parent].path = shape == RS_BULK ? "__parentId" : NO_PATH;
		cf[c->c_check].path = r->child_check && shape != RS_BULK ? r->child_check : NO_PATH;
		c->child.name = ct->record;
		c->child.fields = cf;
		c->child.nfields = ct->ncolumns + 2;
		if (shape != RS_BULK)
		{
			if (c->graphql && g && g->child)
			{
				c->kids[k].path = psprintf("%s.nodes.*", g->child);
				c->kids[k++].record = &c->child;
				c->kids[k].path = psprintf("%s.edges.*.node", g->child);
				c->kids[k++].record = &c->child;
			}
			else if (!c->graphql && r->rest_children)
			{
				c->kids[k].path = r->rest_children;
				c->kids[k++].record = &c->child;
			}
			c->node.children = c->kids;
			c->node.nchildren = k;
		}
	}

	/* where the records are */
	c->x.name = r->name;
	c->x.roots = c->roots;
	switch (shape)
	{
		case RS_REST_PAGE:
			c->roots[0] = psprintf("%s.*", r->rest_key);
			c->x.nroots = 1;
			c->x.marker = r->rest_key;
			c->x.marker_array = true;
			c->x.decl = c->standalone ? &c->child : &c->node;
			break;
		case RS_REST_ONE:
			c->roots[0] = "";
			c->x.nroots = 1;
			c->x.wrapper = r->rest_wrapper;
			c->x.decl = c->standalone ? &c->child : &c->node;
			break;
		case RS_GRAPHQL_PAGE:
			c->roots[0] = psprintf("data.%s.nodes.*", g->connection ? g->connection : g->single);
			c->roots[1] = psprintf("data.%s.edges.*.node", g->connection ? g->connection : g->single);
			c->x.nroots = 2;
			c->x.marker = psprintf("data.%s", g->connection ? g->connection : g->single);
			if (g->connection == NULL)
			{
				c->roots[0] = c->x.marker;
				c->x.nroots = 1;
			}
			c->x.decl = &c->node;
			break;
		case RS_GRAPHQL_ONE:
			c->roots[0] = psprintf("data.%s", g->single);
			c->x.nroots = 1;
			c->x.decl = &c->node;
			break;
		case RS_BULK:
			c->x.jsonl = true;
			c->x.decl = &c->node;
			c->x.child_decl = ct ? &c->child : NULL;
			c->x.parent_field = c->c_parent;
			break;
	}
	c->next = compiled;
	compiled = c;
	MemoryContextSwitchTo(old);
	return c;
}

