/*
 * gql_parse.c — a small recursive-descent parser of executable GraphQL
 * documents (GraphQL spec, October 2021: operations, variables, selection
 * sets, aliases, arguments of every value kind, directives, inline
 * fragments, named fragments) into a tree of fields.  What the tree costs
 * and what shape it has is gql_doc.c's business.  Nothing here throws:
 * errors are recorded in the Parser.
 */
#include "postgres.h"

#include <ctype.h>

#include "shopify/gql_parse.h"




void
gql_fail(Parser *ps, const char *msg)
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
	gql_fail(ps, msg);
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
		gql_fail(ps, "expected a name");
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
			gql_fail(ps, "unterminated block string");
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
		gql_fail(ps, "unterminated string");
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
		gql_fail(ps, "value nested too deep");
		return r;
	}
	if (*ps->p == '$')
	{
		char	   *v;

		ps->p++;
		if (is_const)
			gql_fail(ps, "a variable in a constant value");
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
			gql_fail(ps, "bad number");
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
				gql_fail(ps, "unterminated list");
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
		gql_fail(ps, "expected a value");
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
	f->alias = first;
	if (accept(ps, ':'))		/* an alias */
		f->name = name(ps);
	else
		f->name = first;
	if (accept(ps, '('))
		while (!ps->failed && !accept(ps, ')'))
		{
			char	   *arg = name(ps);
			int64		v;
			GArg	   *ga = palloc0(sizeof(GArg));

			expect(ps, ':');
			skip(ps);
			ga->name = arg;
			ga->text = ps->p;
			v = value(ps, false);
			ga->len = (int) (ps->p - ga->text);
			f->args = lappend(f->args, ga);
			if (arg && (strcmp(arg, "first") == 0 || strcmp(arg, "last") == 0))
				f->n = v == -3 ? -2 : v;
			if (!*ps->p)
				gql_fail(ps, "unterminated arguments");
		}
	directives(ps);
	if (peek(ps, '{'))
	{
		f->has_sel = true;
		f->sel_text = ps->p;
		f->sel = selection_set(ps);
		f->sel_len = (int) (ps->p - f->sel_text);
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
		gql_fail(ps, "selections nested too deep");
		return NIL;
	}
	if (peek(ps, '}'))
		gql_fail(ps, "an empty selection set");
	while (!ps->failed && !accept(ps, '}'))
	{
		skip(ps);
		if (!*ps->p)
		{
			gql_fail(ps, "unterminated selection set");
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
			gql_fail(ps, "unterminated variable definitions");
	}
}


/*
 * The document in ps (set up by the caller): its fragments into ps->frags,
 * and the selection of its first operation (whose name and kind go into
 * info).  On an error, ps->failed is set and the result means nothing.
 */
List *
gql_parse_document(Parser *ps, GqlDocInfo *info)
{
	List	   *op_sel = NIL;
	bool		have_op = false;

	skip(ps);
	if (!*ps->p)
		gql_fail(ps, "an empty document");
	while (!ps->failed && (skip(ps), *ps->p))
	{
		if (peek(ps, '{'))
		{
			List	   *s = selection_set(ps);

			if (!have_op)
				op_sel = s;
			have_op = true;
		}
		else if (keyword(ps, "fragment"))
		{
			GFrag	   *fr = palloc0(sizeof(GFrag));

			fr->name = name(ps);
			if (!keyword(ps, "on"))
				gql_fail(ps, "expected \"on\"");
			(void) name(ps);
			directives(ps);
			fr->sel = selection_set(ps);
			ps->frags = lappend(ps->frags, fr);
		}
		else
		{
			bool		mutation = false;

			if (keyword(ps, "mutation"))
				mutation = true;
			else if (keyword(ps, "subscription"))
				gql_fail(ps, "subscriptions are not supported");
			else if (!keyword(ps, "query"))
			{
				gql_fail(ps, "expected an operation or a fragment");
				break;
			}
			skip(ps);
			if (name_start(*ps->p))
			{
				char	   *nm = name(ps);

				if (!have_op && nm)
					strlcpy(info->op_name, nm, sizeof(info->op_name));
			}
			variable_definitions(ps);
			directives(ps);
			{
				List	   *s = selection_set(ps);

				if (!have_op)
				{
					op_sel = s;
					info->mutation = mutation;
				}
			}
			have_op = true;
		}
	}
	if (!ps->failed && !have_op)
		gql_fail(ps, "no operation");
	return op_sel;
}
