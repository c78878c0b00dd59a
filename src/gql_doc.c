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

#include "gql_doc.h"

#define MAX_NESTING 64

typedef struct GField
{
	char	   *name;
	int64		n;				/* first: or last:, -1 if absent, -2 if null */
	bool		has_sel;
	List	   *sel;			/* GField *, in order */
	char	   *on;				/* inline fragment: type condition (or "") */
	char	   *spread;			/* fragment spread: the fragment's name */
	bool		fragment;		/* an inline fragment (name NULL) */
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

static void
fail(Parser *ps, const char *msg)
{
	if (ps->failed)
		return;
	ps->failed = true;
	snprintf(ps->error, ps->errlen, "%s at offset %d", msg, (int) (ps->p - ps->s));
}

/* skip white space, commas (insignificant in GraphQL), comments, a BOM */
static void
skip(Parser *ps)
{
	for (;;)
	{
		unsigned char c = (unsigned char) *ps->p;

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',')
			ps->p++;
		else if (c == 0xEF && (unsigned char) ps->p[1] == 0xBB && (unsigned char) ps->p[2] == 0xBF)
			ps->p += 3;
		else if (c == '#')
		{
			while (*ps->p && *ps->p != '\n' && *ps->p != '\r')
				ps->p++;
		}
		else
			return;
	}
}

static bool
peek(Parser *ps, char c)
{
	skip(ps);
	return *ps->p == c;
}

static bool
accept(Parser *ps, char c)
{
	if (!peek(ps, c))
		return false;
	ps->p++;
	return true;
}

static void
expect(Parser *ps, char c)
{
	char		msg[64];

	if (accept(ps, c))
		return;
	snprintf(msg, sizeof(msg), "expected \"%c\"", c);
	fail(ps, msg);
}

static bool
name_start(char c)
{
	return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static char *
name(Parser *ps)
{
	const char *a;

	skip(ps);
	if (!name_start(*ps->p))
	{
		fail(ps, "expected a name");
		return NULL;
	}
	a = ps->p;
	while (name_start(*ps->p) || (*ps->p >= '0' && *ps->p <= '9'))
		ps->p++;
	return pnstrdup(a, ps->p - a);
}

static bool
keyword(Parser *ps, const char *kw)
{
	size_t		n = strlen(kw);

	skip(ps);
	if (strncmp(ps->p, kw, n) != 0 || name_start(ps->p[n]) || (ps->p[n] >= '0' && ps->p[n] <= '9'))
		return false;
	ps->p += n;
	return true;
}

/* a string or block string; the text is not needed */
static void
string_value(Parser *ps)
{
	if (strncmp(ps->p, "\"\"\"", 3) == 0)
	{
		ps->p += 3;
		while (*ps->p && strncmp(ps->p, "\"\"\"", 3) != 0)
			ps->p += (ps->p[0] == '\\' && strncmp(ps->p + 1, "\"\"\"", 3) == 0) ? 4 : 1;
		if (!*ps->p)
			fail(ps, "unterminated block string");
		else
			ps->p += 3;
		return;
	}
	ps->p++;
	while (*ps->p && *ps->p != '"' && *ps->p != '\n' && *ps->p != '\r')
	{
		if (*ps->p == '\\')
		{
			ps->p++;
			if (!*ps->p)
				break;
		}
		ps->p++;
	}
	if (*ps->p != '"')
		fail(ps, "unterminated string");
	else
		ps->p++;
}

static int64
var_value(Parser *ps, const char *var)
{
	for (int i = 0; i < ps->nvars; i++)
		if (strcmp(ps->vars[i].name, var) == 0)
			return ps->vars[i].value < 0 ? -2 : ps->vars[i].value;
	return -2;					/* not given: null */
}

/*
 * A value; returns its integer value when it is an Int (or a variable
 * whose value is given), -2 for null, -3 for anything else.
 */
static int64
value(Parser *ps, bool is_const)
{
	int64		r = -3;

	skip(ps);
	if (ps->failed)
		return r;
	if (++ps->nesting > MAX_NESTING)
	{
		fail(ps, "value nested too deep");
		return r;
	}
	if (*ps->p == '$')
	{
		char	   *v;

		ps->p++;
		if (is_const)
			fail(ps, "a variable in a constant value");
		v = name(ps);
		if (v)
			r = var_value(ps, v);
	}
	else if (*ps->p == '-' || isdigit((unsigned char) *ps->p))
	{
		const char *a = ps->p;
		bool		integer = true;

		if (*ps->p == '-')
			ps->p++;
		if (!isdigit((unsigned char) *ps->p))
			fail(ps, "bad number");
		while (isdigit((unsigned char) *ps->p))
			ps->p++;
		if (*ps->p == '.' || *ps->p == 'e' || *ps->p == 'E')
		{
			integer = false;
			if (*ps->p == '.')
			{
				ps->p++;
				while (isdigit((unsigned char) *ps->p))
					ps->p++;
			}
			if (*ps->p == 'e' || *ps->p == 'E')
			{
				ps->p++;
				if (*ps->p == '+' || *ps->p == '-')
					ps->p++;
				while (isdigit((unsigned char) *ps->p))
					ps->p++;
			}
		}
		if (integer && ps->p - a < 12)
			r = strtoll(a, NULL, 10);
	}
	else if (*ps->p == '"')
		string_value(ps);
	else if (*ps->p == '[')
	{
		ps->p++;
		while (!ps->failed && !accept(ps, ']'))
		{
			if (!*ps->p)
				fail(ps, "unterminated list");
			(void) value(ps, is_const);
		}
	}
	else if (*ps->p == '{')
	{
		ps->p++;
		while (!ps->failed && !accept(ps, '}'))
		{
			(void) name(ps);
			expect(ps, ':');
			(void) value(ps, is_const);
		}
	}
	else if (keyword(ps, "null"))
		r = -2;
	else if (name_start(*ps->p))
		(void) name(ps);		/* true, false, an enum */
	else
		fail(ps, "expected a value");
	ps->nesting--;
	return r;
}

static void
directives(Parser *ps)
{
	while (!ps->failed && accept(ps, '@'))
	{
		(void) name(ps);
		if (accept(ps, '('))
			while (!ps->failed && !accept(ps, ')'))
			{
				(void) name(ps);
				expect(ps, ':');
				(void) value(ps, false);
			}
	}
}

static List *selection_set(Parser *ps);

static GField *
field(Parser *ps)
{
	GField	   *f = palloc0(sizeof(GField));
	char	   *first = name(ps);

	f->n = -1;
	if (accept(ps, ':'))		/* an alias */
		f->name = name(ps);
	else
		f->name = first;
	if (accept(ps, '('))
		while (!ps->failed && !accept(ps, ')'))
		{
			char	   *arg = name(ps);
			int64		v;

			expect(ps, ':');
			v = value(ps, false);
			if (arg && (strcmp(arg, "first") == 0 || strcmp(arg, "last") == 0))
				f->n = v == -3 ? -2 : v;
			if (!*ps->p)
				fail(ps, "unterminated arguments");
		}
	directives(ps);
	if (peek(ps, '{'))
	{
		f->has_sel = true;
		f->sel = selection_set(ps);
	}
	return f;
}

static List *
selection_set(Parser *ps)
{
	List	   *sel = NIL;

	expect(ps, '{');
	if (ps->failed)
		return NIL;
	if (++ps->nesting > MAX_NESTING)
	{
		fail(ps, "selections nested too deep");
		return NIL;
	}
	if (peek(ps, '}'))
		fail(ps, "an empty selection set");
	while (!ps->failed && !accept(ps, '}'))
	{
		skip(ps);
		if (!*ps->p)
		{
			fail(ps, "unterminated selection set");
			break;
		}
		if (strncmp(ps->p, "...", 3) == 0)
		{
			GField	   *f = palloc0(sizeof(GField));

			ps->p += 3;
			f->n = -1;
			if (keyword(ps, "on"))
			{
				f->fragment = true;
				f->on = name(ps);
				directives(ps);
				f->has_sel = true;
				f->sel = selection_set(ps);
			}
			else if (peek(ps, '{') || peek(ps, '@'))
			{
				f->fragment = true;
				f->on = "";
				directives(ps);
				f->has_sel = true;
				f->sel = selection_set(ps);
			}
			else
			{
				f->spread = name(ps);
				directives(ps);
			}
			sel = lappend(sel, f);
		}
		else
			sel = lappend(sel, field(ps));
	}
	ps->nesting--;
	return sel;
}

static void
type_ref(Parser *ps)
{
	if (accept(ps, '['))
	{
		type_ref(ps);
		expect(ps, ']');
	}
	else
		(void) name(ps);
	(void) accept(ps, '!');
}

static void
variable_definitions(Parser *ps)
{
	if (!accept(ps, '('))
		return;
	while (!ps->failed && !accept(ps, ')'))
	{
		expect(ps, '$');
		(void) name(ps);
		expect(ps, ':');
		type_ref(ps);
		if (accept(ps, '='))
			(void) value(ps, true);
		directives(ps);
		if (!*ps->p)
			fail(ps, "unterminated variable definitions");
	}
}

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
		fail(w->ps, "fragment spreads form a cycle");
		return NIL;
	}
	foreach(lc, w->ps->frags)
	{
		GFrag	   *fr = lfirst(lc);

		if (strcmp(fr->name, fname) == 0)
			return fr->sel;
	}
	fail(w->ps, "a spread of an undefined fragment");
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
	List	   *op_sel = NIL;
	bool		have_op = false;
	Walk		w;
	ListCell   *lc;

	memset(info, 0, sizeof(*info));
	memset(&ps, 0, sizeof(ps));
	ps.s = ps.p = text ? text : "";
	ps.vars = vars;
	ps.nvars = nvars;
	ps.error = info->error;
	ps.errlen = sizeof(info->error);

	skip(&ps);
	if (!*ps.p)
		fail(&ps, "an empty document");
	while (!ps.failed && (skip(&ps), *ps.p))
	{
		if (peek(&ps, '{'))
		{
			List	   *s = selection_set(&ps);

			if (!have_op)
				op_sel = s;
			have_op = true;
		}
		else if (keyword(&ps, "fragment"))
		{
			GFrag	   *fr = palloc0(sizeof(GFrag));

			fr->name = name(&ps);
			if (!keyword(&ps, "on"))
				fail(&ps, "expected \"on\"");
			(void) name(&ps);
			directives(&ps);
			fr->sel = selection_set(&ps);
			ps.frags = lappend(ps.frags, fr);
		}
		else
		{
			bool		mutation = false;

			if (keyword(&ps, "mutation"))
				mutation = true;
			else if (keyword(&ps, "subscription"))
				fail(&ps, "subscriptions are not supported");
			else if (!keyword(&ps, "query"))
			{
				fail(&ps, "expected an operation or a fragment");
				break;
			}
			skip(&ps);
			if (name_start(*ps.p))
			{
				char	   *nm = name(&ps);

				if (!have_op && nm)
					strlcpy(info->op_name, nm, sizeof(info->op_name));
			}
			variable_definitions(&ps);
			directives(&ps);
			{
				List	   *s = selection_set(&ps);

				if (!have_op)
				{
					op_sel = s;
					info->mutation = mutation;
				}
			}
			have_op = true;
		}
	}
	if (!ps.failed && !have_op)
		fail(&ps, "no operation");
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
