/*
 * gql_doc.c — GraphQL documents read inside the server, without the schema.
 *
 * The extension sends GraphQL documents it builds (graphql.c) and, later,
 * documents users declare; before either goes out, the server must know
 * what Shopify will make of it: whether it parses, what its root is, and
 * its requested cost, because Shopify refuses any query above 1,000 points
 * (MAX_COST_EXCEEDED) and the page sizes are derived from that limit.
 *
 * A small recursive-descent parser reads an executable document (GraphQL
 * spec, October 2021: operations, variables, selection sets, aliases,
 * arguments of every value kind, directives, inline fragments, named
 * fragments) into a tree of fields, and the cost follows Shopify's
 * documented rules as far as they can be applied without the schema:
 *   - a field without a selection set (a scalar or an enum) costs 0;
 *   - a field with one is an object: 1, plus its selection;
 *   - a connection (a field with a first: or last: argument, or, in the
 *     inner query of a bulk operation, one that selects edges or nodes)
 *     costs 2 plus n times one node (1 plus the node's selection under
 *     "nodes { }" or "edges { node { } }", the dearer of the two); its
 *     pageInfo, edges and cursor cost nothing more;
 *   - inline fragments of different types (an interface or union): the
 *     dearest of them;
 *   - a mutation's root field costs 10.
 * The suite checks every document the extension sends against the real
 * schema with graphql-js (test/graphql/), including that this figure equals
 * the cost computed there with the schema's types.
 *
 * Nothing here throws: errors are reported in GqlDocInfo.  Memory is
 * palloc'd in the caller's context.
 */
#include "postgres.h"

#include <ctype.h>

#include "nodes/pg_list.h"

#include "shopify/gql_parse.h"

/* ----- cost and shape ----- */

typedef struct Walk
{
	Parser	   *ps;
	GqlDocInfo *info;
	int			spreads;		/* fragment spreads followed (a cycle guard) */
} Walk;

static List *
fragment_sel(Walk *w, const char *fname)
{
	ListCell   *lc;

	if (++w->spreads > 1000)
	{
		gql_fail(w->ps, "fragment spreads form a cycle");
		return NIL;
	}
	foreach(lc, w->ps->frags)
	{
		GFrag	   *fr = lfirst(lc);

		if (strcmp(fr->name, fname) == 0)
			return fr->sel;
	}
	gql_fail(w->ps, "a spread of an undefined fragment");
	return NIL;
}

static GField *
child_named(List *sel, const char *nm)
{
	ListCell   *lc;

	foreach(lc, sel)
	{
		GField	   *f = lfirst(lc);

		if (f->name && strcmp(f->name, nm) == 0)
			return f;
	}
	return NULL;
}

static bool
is_connection(GField *f)
{
	return f->has_sel && (f->n != -1 || child_named(f->sel, "edges") || child_named(f->sel, "nodes"));
}

static double sel_cost(Walk *w, List *sel, int depth);

/* One node of a connection: 1 plus its selection (the dearer of nodes/edges.node). */
static double
node_cost(Walk *w, GField *conn, int depth)
{
	GField	   *nodes = child_named(conn->sel, "nodes");
	GField	   *edges = child_named(conn->sel, "edges");
	GField	   *node = edges && edges->has_sel ? child_named(edges->sel, "node") : NULL;
	double		c = 0;
	bool		id = false;

	if (nodes && nodes->has_sel)
	{
		c = Max(c, sel_cost(w, nodes->sel, depth));
		id |= child_named(nodes->sel, "id") != NULL;
	}
	if (node && node->has_sel)
	{
		c = Max(c, sel_cost(w, node->sel, depth));
		id |= child_named(node->sel, "id") != NULL;
	}
	if (!id)
		w->info->nodes_have_id = false;
	return 1 + c;
}

static double
field_cost(Walk *w, GField *f, int depth)
{
	if (!f->has_sel)
		return 0;
	if (is_connection(f))
	{
		int64		n = f->n >= 0 ? f->n : 1;

		w->info->connections++;
		w->info->depth = Max(w->info->depth, depth + 1);
		return 2 + n * node_cost(w, f, depth + 1);
	}
	return 1 + sel_cost(w, f->sel, depth);
}

static double
sel_cost(Walk *w, List *sel, int depth)
{
	ListCell   *lc;
	double		sum = 0,
				frag_max = 0;

	foreach(lc, sel)
	{
		GField	   *f = lfirst(lc);

		if (w->ps->failed)
			break;
		if (f->spread)
			frag_max = Max(frag_max, sel_cost(w, fragment_sel(w, f->spread), depth));
		else if (f->fragment && f->on && f->on[0] != '\0')
			frag_max = Max(frag_max, sel_cost(w, f->sel, depth));
		else if (f->fragment)
			sum += sel_cost(w, f->sel, depth);
		else if (strcmp(f->name, "pageInfo") == 0 || strcmp(f->name, "__typename") == 0)
			;
		else
			sum += field_cost(w, f, depth);
	}
	return sum + frag_max;
}

/*
 * Read text (one executable document; its first operation counts) with
 * the variables' values.  info->ok is false, with info->error, when it does
 * not parse.
 */
void
gql_doc_read(const char *text, const GqlVar *vars, int nvars, GqlDocInfo *info)
{
	Parser		ps;
	List	   *op_sel;
	Walk		w;
	ListCell   *lc;

	memset(info, 0, sizeof(*info));
	memset(&ps, 0, sizeof(ps));
	ps.s = ps.p = text ? text : "";
	ps.vars = vars;
	ps.nvars = nvars;
	ps.error = info->error;
	ps.errlen = sizeof(info->error);

	op_sel = gql_parse_document(&ps, info);
	if (ps.failed)
		return;

	w.ps = &ps;
	w.info = info;
	w.spreads = 0;
	info->nodes_have_id = true;
	foreach(lc, op_sel)
	{
		GField	   *f = lfirst(lc);

		if (f->spread || f->fragment)
		{
			info->cost += sel_cost(&w, list_make1(f), 0);
			continue;
		}
		info->root_fields++;
		if (info->root_connection[0] == '\0' && is_connection(f))
			strlcpy(info->root_connection, f->name, sizeof(info->root_connection));
		if (info->mutation)
		{
			info->cost += 10;
			(void) sel_cost(&w, f->sel, 0);	/* shape only */
		}
		else
			info->cost += field_cost(&w, f, 0);
	}
	if (ps.failed)
		return;
	info->ok = true;
}

/* The requested cost of one of the extension's own documents. */
double
gql_doc_cost(const char *text, const GqlVar *vars, int nvars)
{
	GqlDocInfo	info;

	gql_doc_read(text, vars, nvars, &info);
	if (!info.ok)
		elog(ERROR, "shopify_sync: a GraphQL document of the extension does not parse: %s", info.error);
	return info.cost;
}
