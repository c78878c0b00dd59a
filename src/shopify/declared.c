/*
 * declared.c — the GraphQL documents of a resource a user declared
 * (shopify_define_resource()): the declaration checked, and the page
 * document made from it.
 *
 * A declaration is a connection query of the Admin API, e.g.
 *     draftOrders { nodes { id name lineItems(first: 10) { nodes { id quantity } } } }
 * or with edges { node { ... } }, with any arguments of the root connection
 * but first/last/after/before, which the extension sets.  It is checked
 * inside the server (gql_doc.c's parser and Shopify's cost rules): it parses,
 * takes no variables, is a query of one root field that is a connection,
 * each connection's nodes select id, nested connections say first: or last:,
 * and a page of at least one node costs at most 1,000 points.  The page size
 * is the largest (up to 250) whose page stays within that.
 *
 * The page document asks for the nodes as written, with __typename added to
 * each node selection (the rows say what each object is):
 *     query ShopifySyncObjects($first: Int!, $after: String[, $query: String]) {
 *       <connection>(first: $first, after: $after[, query: $query][, <args>]) {
 *         pageInfo { hasNextPage endCursor } nodes { __typename ... } } }
 * $query carries the declaration's own query: filter and, on incremental
 * syncs, "updated_at:>='<since>'".
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/json.h"

#include "shopify/declared.h"
#include "shopify/gql_parse.h"

static void
refuse(DeclaredQuery *d, int sqlstate, const char *fmt, const char *arg)
{
	if (d->error[0])
		return;
	d->sqlstate = sqlstate;
	snprintf(d->error, sizeof(d->error), fmt, arg ? arg : "");
}

static GField *
child(GField *f, const char *name)
{
	ListCell   *lc;

	if (f == NULL)
		return NULL;
	foreach(lc, f->sel)
	{
		GField	   *c = lfirst(lc);

		if (c->name && !c->spread && !c->fragment && strcmp(c->name, name) == 0)
			return c;
	}
	return NULL;
}

/* the node selection of a connection field: nodes { } or edges { node { } } */
static GField *
node_of(GField *conn)
{
	GField	   *n = child(conn, "nodes");

	if (n == NULL)
		n = child(child(conn, "edges"), "node");
	return (n && n->has_sel) ? n : NULL;
}

typedef struct Insert
{
	const char *at;				/* just after a node selection's '{' */
} Insert;

/*
 * Walk a selection: every field that selects nodes (or edges.node) is a
 * connection; it needs first: or last: (a page's cost depends on it), and
 * its node gets __typename (collected in ins).
 */
static void
walk(DeclaredQuery *d, List *sel, Insert **ins, int *nins, int *cap, int depth)
{
	ListCell   *lc;

	foreach(lc, sel)
	{
		GField	   *f = lfirst(lc);
		GField	   *node;

		if (f->spread)
		{
			refuse(d, DECLARED_SYNTAX, "fragment spreads are not accepted in a declaration (write the fields out)", NULL);
			return;
		}
		if (!f->has_sel)
			continue;
		node = f->fragment ? NULL : node_of(f);
		if (node && depth > 0)
		{
			if (f->n < 0)
				refuse(d, DECLARED_INVALID, "the nested connection %s needs first: or last: (the cost of a page depends on it)", f->name);
			if (*nins == *cap)
			{
				*cap *= 2;
				*ins = repalloc(*ins, sizeof(Insert) * *cap);
			}
			(*ins)[(*nins)++].at = node->sel_text + 1;
			walk(d, node->sel, ins, nins, cap, depth + 1);
		}
		else
			walk(d, f->sel, ins, nins, cap, depth + (f->fragment ? 0 : 1));
	}
}

static int
cmp_insert(const void *a, const void *b)
{
	const char *x = ((const Insert *) a)->at;
	const char *y = ((const Insert *) b)->at;

	return x < y ? -1 : x > y;
}

/* A page document for n nodes per page (n < 0: the $first variable). */
static char *
page_document(const DeclaredQuery *d)
{
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfo(&b, "query ShopifySyncObjects($first: Int!, $after: String%s) { %s(first: $first, after: $after%s%s%s) { pageInfo { hasNextPage endCursor } nodes %s } }",
					 d->has_query_var ? ", $query: String" : "",
					 d->connection,
					 d->has_query_var ? ", query: $query" : "",
					 d->args[0] ? ", " : "", d->args, d->node_sel);
	return b.data;
}

static double
page_cost(const char *doc, int first)
{
	GqlVar		v = {"first", first};
	GqlDocInfo	info;

	gql_doc_read(doc, &v, 1, &info);
	return info.ok ? info.cost : -1;
}

void
declared_read(const char *query, bool incremental, DeclaredQuery *d)
{
	Parser		ps;
	GqlDocInfo	info;
	List	   *op_sel;
	GField	   *root = NULL;
	GField	   *node;
	StringInfoData args;
	StringInfoData sel;
	Insert	   *ins;
	int			nins = 0;
	int			cap = 8;
	const char *p;
	ListCell   *lc;
	int			lo,
				hi;

	memset(d, 0, sizeof(*d));
	memset(&info, 0, sizeof(info));
	if (query == NULL || strspn(query, " \t\r\n,") == strlen(query))
	{
		refuse(d, DECLARED_INVALID, "the query is empty: give a connection, e.g. draftOrders { nodes { id } }", NULL);
		return;
	}
	if (strchr(query, '$') != NULL)
	{
		/* (a $ inside a string literal is refused too: rare, and safe) */
		refuse(d, DECLARED_INVALID, "a declaration takes no variables: write the values into the query", NULL);
		return;
	}
	/* the selection of the root, as written, is a document: { ... } */
	if (query)
	{
		const char *q = query;

		while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r' || *q == ',')
			q++;
		if (*q != '{' && strncmp(q, "query", 5) != 0 && strncmp(q, "mutation", 8) != 0 &&
			strncmp(q, "subscription", 12) != 0 && strncmp(q, "fragment", 8) != 0)
			query = psprintf("{ %s\n}", query);
	}
	memset(&ps, 0, sizeof(ps));
	ps.s = ps.p = query ? query : "";
	ps.error = d->error;
	ps.errlen = sizeof(d->error);
	op_sel = gql_parse_document(&ps, &info);
	if (ps.failed)
	{
		d->sqlstate = DECLARED_SYNTAX;
		return;
	}
	if (info.mutation)
	{
		refuse(d, DECLARED_INVALID, "a declaration is a query, not a mutation", NULL);
		return;
	}
	foreach(lc, op_sel)
	{
		GField	   *f = lfirst(lc);

		if (f->spread || f->fragment || (f->name && strcmp(f->name, "fragment") == 0))
			refuse(d, DECLARED_INVALID, "fragments are not accepted in a declaration (write the fields out)", NULL);
		else if (root != NULL)
			refuse(d, DECLARED_INVALID, "a declaration selects one root connection (found a second root field, %s)", f->name);
		root = f;
	}
	if (d->error[0])
		return;
	node = node_of(root);
	if (root == NULL || node == NULL)
	{
		refuse(d, DECLARED_INVALID, "the root field %s is not a connection: select nodes { ... } or edges { node { ... } } of it",
			   root ? root->name : "");
		return;
	}
	if (child(node, "id") == NULL)
	{
		refuse(d, DECLARED_INVALID, "the nodes of %s must select id (each object is kept by its id)", root->name);
		return;
	}
	strlcpy(d->connection, root->name, sizeof(d->connection));

	/* the root's arguments but the paging ones; its query: filter apart */
	initStringInfo(&args);
	foreach(lc, root->args)
	{
		GArg	   *a = lfirst(lc);

		if (strcmp(a->name, "first") == 0 || strcmp(a->name, "last") == 0 ||
			strcmp(a->name, "after") == 0 || strcmp(a->name, "before") == 0)
			continue;
		if (strcmp(a->name, "query") == 0)
		{
			if (a->len < 2 || a->text[0] != '"' || a->text[1] == '"')
			{
				refuse(d, DECLARED_INVALID, "the query: argument of a declaration is a non-empty string", NULL);
				return;
			}
			d->filter = pnstrdup(a->text + 1, a->len - 2);
			continue;
		}
		appendStringInfo(&args, "%s%s: %.*s", args.len ? ", " : "", a->name, a->len, a->text);
	}
	d->args = args.data;
	d->incremental = incremental;
	d->has_query_var = incremental || d->filter != NULL;

	/* each node selection with __typename first */
	ins = palloc(sizeof(Insert) * cap);
	ins[nins++].at = node->sel_text + 1;
	walk(d, node->sel, &ins, &nins, &cap, 1);
	if (d->error[0])
		return;
	qsort(ins, nins, sizeof(Insert), cmp_insert);
	initStringInfo(&sel);
	p = node->sel_text;
	for (int i = 0; i < nins; i++)
	{
		appendBinaryStringInfo(&sel, p, ins[i].at - p);
		appendStringInfoString(&sel, " __typename");
		p = ins[i].at;
	}
	appendBinaryStringInfo(&sel, p, node->sel_text + node->sel_len - p);
	d->node_sel = sel.data;

	/* the largest page within Shopify's limit */
	d->document = page_document(d);
	if (page_cost(d->document, 1) < 0)
	{
		refuse(d, DECLARED_SYNTAX, "the page document made from the declaration does not parse", NULL);
		return;
	}
	if (page_cost(d->document, 1) > GQL_MAX_QUERY_COST)
	{
		d->page_cost = page_cost(d->document, 1);
		snprintf(d->error, sizeof(d->error),
				 "a page of one node of %s costs %.0f points, above Shopify's limit of %d",
				 d->connection, d->page_cost, GQL_MAX_QUERY_COST);
		d->sqlstate = DECLARED_TOO_COSTLY;
		return;
	}
	{
		GqlVar		v = {"first", 1};
		GqlDocInfo	di;

		gql_doc_read(d->document, &v, 1, &di);
		if (di.ok && !di.nodes_have_id)
		{
			refuse(d, DECLARED_INVALID, "the nodes of every connection in a declaration must select id (each object is kept by its id)", NULL);
			return;
		}
	}
	lo = 1;
	hi = 250;
	while (lo < hi)
	{
		int			mid = (lo + hi + 1) / 2;

		if (page_cost(d->document, mid) <= GQL_MAX_QUERY_COST)
			lo = mid;
		else
			hi = mid - 1;
	}
	d->page_size = lo;
	d->page_cost = page_cost(d->document, lo);
	d->ok = true;
}

/* the search term of a request: the declaration's own, and since_filter */
static char *
search_term(const DeclaredQuery *d, const char *since_filter)
{
	StringInfoData q;

	initStringInfo(&q);
	if (d->filter)
		appendStringInfo(&q, "(%s)", d->filter);
	if (since_filter && d->incremental)
		appendStringInfo(&q, "%s%s", q.len ? " AND " : "", since_filter);
	return q.len ? q.data : NULL;
}

/*
 * The inner query of a bulk operation over the declared connection: every
 * node (edges { node }), nested connections as the declaration wrote them
 * (a bulk result gives each of their nodes as a line of its own, with
 * __parentId), since_filter as for pages.
 */
char *
declared_bulk_query(const DeclaredQuery *d, const char *since_filter)
{
	StringInfoData b;
	char	   *q = search_term(d, since_filter);

	initStringInfo(&b);
	appendStringInfo(&b, "{ %s", d->connection);
	if (q || d->args[0])
	{
		appendStringInfoChar(&b, '(');
		if (q)
		{
			appendStringInfoString(&b, "query: ");
			escape_json(&b, q);
		}
		appendStringInfo(&b, "%s%s)", q && d->args[0] ? ", " : "", d->args);
	}
	appendStringInfo(&b, " { edges { node %s } } }", d->node_sel);
	return b.data;
}

/*
 * The variables of a page request: after (NULL: the first page),
 * since_filter (NULL: a full sync; else the search term of an incremental
 * one, gql_filter_since()).
 */
char *
declared_page_variables(const DeclaredQuery *d, const char *after, const char *since_filter)
{
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfo(&b, "{\"first\":%d,\"after\":", d->page_size);
	if (after)
		escape_json(&b, after);
	else
		appendStringInfoString(&b, "null");
	if (d->has_query_var)
	{
		char	   *q = search_term(d, since_filter);

		appendStringInfoString(&b, ",\"query\":");
		if (q)
			escape_json(&b, q);
		else
			appendStringInfoString(&b, "null");
	}
	appendStringInfoChar(&b, '}');
	return b.data;
}

/* The body of a page request (declared_page_variables()). */
char *
declared_page_body(const DeclaredQuery *d, const char *after, const char *since_filter)
{
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfoString(&b, "{\"query\":");
	escape_json(&b, d->document);
	appendStringInfo(&b, ",\"variables\":%s}", declared_page_variables(d, after, since_filter));
	return b.data;
}
