/*
 * jsonpick.c — pick scalar values out of a JSON document by path.
 *
 * The worker needs a handful of values from GraphQL answers (pageInfo,
 * query cost, errors, bulk operation status) without building a jsonb tree
 * of the whole page: one pass with yajl keeps the path
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

#include <yajl/yajl_parse.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/memutils.h"

#include "base/jsonpick.h"

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

/* what the open containers are */
typedef struct PickFrame
{
	bool		array;
	bool		has_key;		/* map: a key segment is on the path */
	int			elems;			/* array: elements so far */
} PickFrame;

typedef struct PickParse
{
	PickState  *st;
	PickFrame	frames[SHOPIFY_JSON_MAX_DEPTH + 1];
	int			nframes;
} PickParse;

/* a value starts: in an array, it is the next element */
static void
value_start(PickParse *pp)
{
	PickState  *st = pp->st;
	PickFrame  *f = pp->nframes > 0 ? &pp->frames[pp->nframes - 1] : NULL;
	int			index;

	if (f == NULL || !f->array)
		return;
	index = f->elems++;
	if (pp->nframes > MAX_PICK_DEPTH + 1)
		index = -1;
	if (st->star_depth < 0 && st->overflow == 0 && st->depth < MAX_PICK_DEPTH)
	{
		st->star_depth = st->depth;
		st->star_index = index;
	}
	push_segment(st, "*");
}

static void
value_end(PickParse *pp)
{
	PickState  *st = pp->st;
	PickFrame  *f = pp->nframes > 0 ? &pp->frames[pp->nframes - 1] : NULL;

	if (f == NULL || !f->array)
		return;
	pop_segment(st);
	if (st->overflow == 0 && st->depth == st->star_depth)
		st->star_depth = -1;
}

static void
record(PickState *st, const char *s, size_t len, bool null)
{
	if (st->overflow > 0)
		return;
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
		p->values[p->n++] = null ? NULL : pnstrdup(s, len);
	}
}

static int
pk_scalar(PickParse *pp, const char *s, size_t len, bool null)
{
	value_start(pp);
	record(pp->st, s, len, null);
	value_end(pp);
	return 1;
}

static int
pk_null(void *ctx)
{
	return pk_scalar((PickParse *) ctx, NULL, 0, true);
}

static int
pk_bool(void *ctx, int b)
{
	return pk_scalar((PickParse *) ctx, b ? "true" : "false", b ? 4 : 5, false);
}

static int
pk_number(void *ctx, const char *s, size_t len)
{
	return pk_scalar((PickParse *) ctx, s, len, false);
}

static int
pk_string(void *ctx, const unsigned char *s, size_t len)
{
	/* a NUL (from \u0000) would cut the value short: keep it as it reads */
	return pk_scalar((PickParse *) ctx, (const char *) s, strnlen((const char *) s, len), false);
}

static int
pk_open(PickParse *pp, bool array)
{
	PickFrame  *f;

	value_start(pp);
	if (pp->nframes > SHOPIFY_JSON_MAX_DEPTH)
		return 0;				/* cannot happen: the depth was checked */
	f = &pp->frames[pp->nframes++];
	f->array = array;
	f->has_key = false;
	f->elems = 0;
	if (array)
	{
		if (pp->st->narrays > MAX_PICK_DEPTH)
			pp->st->array_overflow++;
		else
			pp->st->elems[pp->st->narrays++] = 0;
	}
	return 1;
}

static int
pk_close(PickParse *pp)
{
	PickFrame  *f = &pp->frames[pp->nframes - 1];

	if (!f->array && f->has_key)
		pop_segment(pp->st);
	if (f->array)
	{
		if (pp->st->array_overflow > 0)
			pp->st->array_overflow--;
		else if (pp->st->narrays > 0)
			pp->st->narrays--;
	}
	pp->nframes--;
	value_end(pp);
	return 1;
}

static int
pk_start_map(void *ctx)
{
	return pk_open((PickParse *) ctx, false);
}

static int
pk_start_array(void *ctx)
{
	return pk_open((PickParse *) ctx, true);
}

static int
pk_end(void *ctx)
{
	return pk_close((PickParse *) ctx);
}

static int
pk_key(void *ctx, const unsigned char *key, size_t len)
{
	PickParse  *pp = (PickParse *) ctx;
	PickFrame  *f = &pp->frames[pp->nframes - 1];
	char	   *k = pnstrdup((const char *) key, len);

	if (f->has_key)
		pop_segment(pp->st);
	push_segment(pp->st, k);
	f->has_key = true;
	pfree(k);
	return 1;
}

static void *
pk_malloc(void *ctx, size_t sz)
{
	return MemoryContextAlloc((MemoryContext) ctx, Max(sz, 1));
}

static void *
pk_realloc(void *ctx, void *p, size_t sz)
{
	return p ? repalloc(p, Max(sz, 1)) : MemoryContextAlloc((MemoryContext) ctx, Max(sz, 1));
}

static void
pk_free(void *ctx, void *p)
{
	if (p)
		pfree(p);
}

static const yajl_callbacks pick_callbacks = {
	pk_null, pk_bool, NULL, NULL, pk_number, pk_string,
	pk_start_map, pk_key, pk_end, pk_start_array, pk_end
};

/*
 * Pick the values of picks' paths from doc, in one pass with yajl (as the
 * rows are read, extract.c).  Never throws for a bad document: returns
 * false with yajl's words in *error.
 */
bool
json_pick(const char *doc, size_t len, JsonPick *picks, int npicks, char **error)
{
	PickState	st;
	PickParse  *pp;
	MemoryContext ycxt;
	yajl_alloc_funcs afs;
	yajl_handle h;
	yajl_status rc;
	bool		ok;

	memset(&st, 0, sizeof(st));
	initStringInfo(&st.path);
	st.star_depth = -1;
	st.picks = picks;
	st.npicks = npicks;
	for (int i = 0; i < npicks; i++)
		picks[i].n = 0;

	*error = NULL;
	if (json_depth_exceeds(doc, len, SHOPIFY_JSON_MAX_DEPTH))
	{
		*error = psprintf("the document nests deeper than %d levels", SHOPIFY_JSON_MAX_DEPTH);
		pfree(st.path.data);
		return false;
	}
	pp = palloc0(sizeof(PickParse));
	pp->st = &st;
	ycxt = AllocSetContextCreate(CurrentMemoryContext, "shopify_sync json_pick", ALLOCSET_SMALL_SIZES);
	afs.malloc = pk_malloc;
	afs.realloc = pk_realloc;
	afs.free = pk_free;
	afs.ctx = ycxt;
	h = yajl_alloc(&pick_callbacks, &afs, pp);
	rc = yajl_parse(h, (const unsigned char *) doc, len);
	if (rc == yajl_status_ok)
		rc = yajl_complete_parse(h);
	ok = (rc == yajl_status_ok);
	if (!ok)
	{
		unsigned char *msg = yajl_get_error(h, 0, (const unsigned char *) doc, len);

		*error = psprintf("invalid JSON: %s", (char *) msg);
		yajl_free_error(h, msg);
	}
	yajl_free(h);
	MemoryContextDelete(ycxt);
	pfree(pp);
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

/* PostgreSQL's own words for what is wrong with a text that is not JSON. */
void
json_report_invalid(const char *doc, size_t len)
{
	JsonLexContext *lex = makeJsonLexContextCstringLen((char *) doc, (int) len,
													   GetDatabaseEncoding(), true);
	JsonSemAction sem;
	JsonParseErrorType rc;

	memset(&sem, 0, sizeof(sem));
	if (json_depth_exceeds(doc, len, SHOPIFY_JSON_MAX_DEPTH))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("Shopify payload nests deeper than %d levels", SHOPIFY_JSON_MAX_DEPTH)));
	rc = pg_parse_json(lex, &sem);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("Shopify payload is not valid JSON"),
			 rc != JSON_SUCCESS ? errdetail("%s", json_errdetail(rc, lex)) : 0));
}

/*
 * Does the text escape a UTF-16 surrogate (\uD800-\uDFFF)?  yajl replaces a
 * lone one with '?', where PostgreSQL refuses the text: such a text is
 * checked by PostgreSQL's parser too (pairs, for characters beyond the BMP,
 * pass).
 */
bool
json_escapes_surrogate(const char *doc, size_t len)
{
	const char *p = doc;
	const char *end = doc + len;

	while (p < end && (p = memchr(p, '\\', end - p)) != NULL)
	{
		if (end - p >= 6 && p[1] == 'u' && (p[2] == 'd' || p[2] == 'D') &&
			strchr("89abcdefABCDEF", p[3]) != NULL && p[3] != '\0')
			return true;
		p += 2;					/* an escape is two characters at least */
	}
	return false;
}
