/*
 * jsonpick.c — pick scalar values out of a JSON document by path.
 *
 * The worker needs a handful of values from GraphQL answers (pageInfo,
 * query cost, errors, bulk operation status) without building a jsonb tree
 * of the whole page: one pass with PostgreSQL's JSON parser keeps the path
 * of the current value ("data.products.pageInfo.endCursor", array elements
 * as "*") and records the scalars whose path matches.  Values of a
 * wildcard path come in document order, so parallel paths line up (the id
 * and the pageInfo of each product), and each value carries the index of
 * the element its first "*" stands for, so that values of a node that lacks
 * one of the paths (a product whose id is not a scalar) are not paired with
 * another node's.  Never throws for a bad document: it returns false with
 * the parser's message; a document nested deeper than
 * SHOPIFY_JSON_MAX_DEPTH is refused before it is parsed.
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/memutils.h"

#include "jsonpick.h"

#define MAX_PICK_DEPTH 32

typedef struct PickState
{
	StringInfoData path;
	int			seglen[MAX_PICK_DEPTH + 1];	/* path length before each segment */
	int			depth;
	int			overflow;		/* levels beyond MAX_PICK_DEPTH */
	int			elems[MAX_PICK_DEPTH + 1];	/* elements seen, per open array */
	int			narrays;
	int			array_overflow; /* open arrays beyond MAX_PICK_DEPTH */
	int			star_depth;		/* depth of the path's first "*", or -1 */
	int			star_index;		/* the index of that element */
	JsonPick   *picks;
	int			npicks;
} PickState;

static void
push_segment(PickState *st, const char *seg)
{
	if (st->depth >= MAX_PICK_DEPTH)
	{
		st->overflow++;
		return;
	}
	st->seglen[st->depth++] = st->path.len;
	if (st->path.len > 0)
		appendStringInfoChar(&st->path, '.');
	appendStringInfoString(&st->path, seg);
}

static void
pop_segment(PickState *st)
{
	if (st->overflow > 0)
	{
		st->overflow--;
		return;
	}
	if (st->depth == 0)
		return;
	st->depth--;
	st->path.len = st->seglen[st->depth];
	st->path.data[st->path.len] = '\0';
}

/* fname belongs to the parser until the end callback, which frees it */
static void
pk_field_start(void *state, char *fname, bool isnull)
{
	push_segment((PickState *) state, fname);
}

static void
pk_field_end(void *state, char *fname, bool isnull)
{
	pop_segment((PickState *) state);
	if (fname)
		pfree(fname);
}

static void
pk_array_start(void *state)
{
	PickState  *st = (PickState *) state;

	if (st->narrays > MAX_PICK_DEPTH)
		st->array_overflow++;
	else
		st->elems[st->narrays++] = 0;
}

static void
pk_array_end(void *state)
{
	PickState  *st = (PickState *) state;

	if (st->array_overflow > 0)
		st->array_overflow--;
	else if (st->narrays > 0)
		st->narrays--;
}

static void
pk_elem_start(void *state, bool isnull)
{
	PickState  *st = (PickState *) state;
	int			index = -1;

	if (st->array_overflow == 0 && st->narrays > 0)
		index = st->elems[st->narrays - 1]++;
	if (st->star_depth < 0 && st->overflow == 0 && st->depth < MAX_PICK_DEPTH)
	{
		st->star_depth = st->depth;
		st->star_index = index;
	}
	push_segment(st, "*");
}

static void
pk_elem_end(void *state, bool isnull)
{
	PickState  *st = (PickState *) state;

	pop_segment(st);
	if (st->overflow == 0 && st->depth == st->star_depth)
		st->star_depth = -1;
}

static void
pk_scalar(void *state, char *token, JsonTokenType type)
{
	PickState  *st = (PickState *) state;

	if (st->overflow == 0)
	{
		for (int i = 0; i < st->npicks; i++)
		{
			JsonPick   *p = &st->picks[i];

			if (strcmp(p->path, st->path.data) != 0)
				continue;
			if (p->n == p->cap)
			{
				p->cap = p->cap ? p->cap * 2 : 8;
				p->values = p->values ? repalloc(p->values, sizeof(char *) * p->cap)
					: palloc(sizeof(char *) * p->cap);
				p->index = p->index ? repalloc(p->index, sizeof(int) * p->cap)
					: palloc(sizeof(int) * p->cap);
			}
			p->index[p->n] = st->star_depth >= 0 ? st->star_index : -1;
			p->values[p->n++] = (type == JSON_TOKEN_NULL || token == NULL) ? NULL : pstrdup(token);
		}
	}
	if (token)
		pfree(token);
}

bool
json_pick(const char *doc, size_t len, JsonPick *picks, int npicks, char **error)
{
	PickState	st;
	JsonSemAction sem;
	JsonLexContext *lex;
	JsonParseErrorType rc;
	volatile bool ok = false;
	MemoryContext cxt = CurrentMemoryContext;

	memset(&st, 0, sizeof(st));
	initStringInfo(&st.path);
	st.star_depth = -1;
	st.picks = picks;
	st.npicks = npicks;
	for (int i = 0; i < npicks; i++)
		picks[i].n = 0;

	memset(&sem, 0, sizeof(sem));
	sem.semstate = &st;
	sem.object_field_start = pk_field_start;
	sem.object_field_end = pk_field_end;
	sem.array_start = pk_array_start;
	sem.array_end = pk_array_end;
	sem.array_element_start = pk_elem_start;
	sem.array_element_end = pk_elem_end;
	sem.scalar = pk_scalar;

	*error = NULL;
	if (json_depth_exceeds(doc, len, SHOPIFY_JSON_MAX_DEPTH))
	{
		*error = psprintf("the document nests deeper than %d levels", SHOPIFY_JSON_MAX_DEPTH);
		pfree(st.path.data);
		return false;
	}
	PG_TRY();
	{
		lex = makeJsonLexContextCstringLen((char *) doc, (int) len, PG_UTF8, true);
		rc = pg_parse_json(lex, &sem);
		if (rc == JSON_SUCCESS)
			ok = true;
		else
			*error = psprintf("invalid JSON: %s", json_errdetail(rc, lex));
	}
	PG_CATCH();
	{
		/* the parser's own errors (stack depth, out of memory) */
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		*error = psprintf("the document could not be parsed: %s", edata->message);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	pfree(st.path.data);
	return ok;
}

/*
 * Does doc open more than limit objects and arrays inside each other?  A
 * byte scan that skips strings (and their escapes); it does not check the
 * syntax, the parser does.  Never throws.
 */
bool
json_depth_exceeds(const char *doc, size_t len, int limit)
{
	int			depth = 0;
	bool		in_string = false;

	for (size_t i = 0; i < len; i++)
	{
		char		c = doc[i];

		if (in_string)
		{
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		}
		else if (c == '"')
			in_string = true;
		else if (c == '{' || c == '[')
		{
			if (++depth > limit)
				return true;
		}
		else if ((c == '}' || c == ']') && depth > 0)
			depth--;
	}
	return false;
}

/* The first value found, or NULL. */
const char *
json_pick_first(JsonPick *p)
{
	return p->n > 0 ? p->values[0] : NULL;
}
