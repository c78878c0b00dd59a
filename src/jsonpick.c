/*
 * jsonpick.c — pick scalar values out of a JSON document by path.
 *
 * The worker needs a handful of values from GraphQL answers (pageInfo,
 * query cost, errors, bulk operation status) without building a jsonb tree
 * of the whole page: one pass with PostgreSQL's JSON parser keeps the path
 * of the current value ("data.products.pageInfo.endCursor", array elements
 * as "*") and records the scalars whose path matches.  Values of a
 * wildcard path come in document order, so parallel paths line up (the id
 * and the pageInfo of each product).  Never throws for a bad document: it
 * returns false with the parser's message.
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
pk_elem_start(void *state, bool isnull)
{
	push_segment((PickState *) state, "*");
}

static void
pk_elem_end(void *state, bool isnull)
{
	pop_segment((PickState *) state);
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
			}
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
	st.picks = picks;
	st.npicks = npicks;
	for (int i = 0; i < npicks; i++)
		picks[i].n = 0;

	memset(&sem, 0, sizeof(sem));
	sem.semstate = &st;
	sem.object_field_start = pk_field_start;
	sem.object_field_end = pk_field_end;
	sem.array_element_start = pk_elem_start;
	sem.array_element_end = pk_elem_end;
	sem.scalar = pk_scalar;

	*error = NULL;
	PG_TRY();
	{
		lex = makeJsonLexContextCstringLen((char *) doc, (int) len, PG_UTF8, true);
		rc = pg_parse_json(lex, &sem);
		if (rc == JSON_SUCCESS)
			ok = true;
		else
			*error = pstrdup(json_errdetail(rc, lex));
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		*error = pstrdup("the document nests too deeply");
		ok = false;
	}
	PG_END_TRY();
	pfree(st.path.data);
	return ok;
}

/* The first value found, or NULL. */
const char *
json_pick_first(JsonPick *p)
{
	return p->n > 0 ? p->values[0] : NULL;
}
