/*
 * extract.c — Shopify JSON payloads to records, in one streaming pass.
 *
 * A payload is read once with yajl (Debian's libyajl: an event parser that
 * hands over keys and strings without building a tree) and only the paths
 * a declaration keeps (extract.h) are collected; everything else is lexed
 * and dropped.  Declarations compile, once per process, into a trie of
 * keys: each container of the document is matched to a node as it opens,
 * so a key costs one lookup among a node's children and a skipped subtree
 * costs nothing but lexing.  Records (a product, a variant, an order, a
 * line) are collected with their values and children and handed to the
 * caller when a top-level record closes; its memory is then reset, so a
 * page costs the memory of its largest record, not of the page.
 *
 * What this file guarantees, whatever the payload:
 *   - a document that is not JSON is an error of class 22 (data exception)
 *     with PostgreSQL's own description of the fault (the text is checked
 *     again with PostgreSQL's parser to say what is wrong, as the json
 *     type would);
 *   - text that is not valid in the database encoding, or that holds a NUL
 *     (also as \u0000), is an error of class 22: kept strings go into text
 *     columns;
 *   - nesting deeper than SHOPIFY_JSON_MAX_DEPTH is an error of class 22;
 *   - a kept path holding an object or array where a scalar belongs is
 *     marked XT_CONTAINER (the row builder makes its record fail); a
 *     duplicate key: the last value counts.
 * yajl allocates through palloc in a context of this call, so an error
 * raised from a callback leaks nothing.
 */
#include "postgres.h"

#include <yajl/yajl_parse.h>

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/memutils.h"

#include "mirror/extract_trie.h"
#include "base/jsonpick.h"

/* ----- the pass ----- */

typedef struct XFrame
{
	XNode	   *node;			/* this container's node; NULL: nothing kept below */
	bool		array;
	XRecord    *rec;			/* the record its values belong to, or NULL */
	bool		rec_root;		/* the container is that record's object */
	bool		emit;			/* rec_root: hand the record over when it closes */
	bool		multi;			/* inside an array within the record */
	XNode	   *next;			/* object: the node of the current key's value */
} XFrame;

typedef struct XState
{
	const XShape *shape;
	XCompiled  *c;
	XEmit		emit;
	void	   *arg;
	XResult    *result;
	MemoryContext rec_cxt;		/* the open top-level record; reset after it */
	XFrame	   *stack;
	int			depth;
	int			cap;
	int			skip;			/* > 0: inside a subtree that is not kept */
	int			nesting;		/* objects and arrays open, kept or not */
	const char *line;			/* jsonl: the line being read */
	int			linelen;
	bool		bad_string;		/* a kept string held \u0000 or invalid text */
	XRaw		raw;			/* an XF_RAW field's container being kept */
} XState;

static XRecord *
new_record(XState *st, const XRecordDecl *d, XRecord *parent)
{
	MemoryContext old = MemoryContextSwitchTo(st->rec_cxt);
	XRecord    *r = palloc0(sizeof(XRecord));

	r->decl = d;
	r->v = palloc0(sizeof(XValue) * Max(d->nfields, 1));
	if (st->shape->jsonl && st->shape->child_decl && parent == NULL)
		r->v2 = palloc0(sizeof(XValue) * Max(st->shape->child_decl->nfields, 1));
	r->parent = parent;
	if (st->shape->jsonl && parent == NULL)
	{
		r->src = st->line;
		r->srclen = st->linelen;
	}
	MemoryContextSwitchTo(old);
	return r;
}

static void
add_child(XState *st, XRecord *parent, XRecord *child)
{
	MemoryContext old = MemoryContextSwitchTo(st->rec_cxt);

	if (parent->nchildren == parent->capchildren)
	{
		parent->capchildren = parent->capchildren ? parent->capchildren * 2 : 8;
		parent->children = parent->children ?
			repalloc(parent->children, sizeof(XRecord *) * parent->capchildren) :
			palloc(sizeof(XRecord *) * parent->capchildren);
	}
	parent->children[parent->nchildren++] = child;
	MemoryContextSwitchTo(old);
}

static XFrame *
top(XState *st)
{
	return st->depth > 0 ? &st->stack[st->depth - 1] : NULL;
}

/*
 * One more object or array open.  yajl does not recurse, but PostgreSQL's
 * parser, which describes a fault, does: refuse long before "stack depth
 * limit exceeded", which is not a data error.
 */
static void
nest(XState *st)
{
	if (++st->nesting > SHOPIFY_JSON_MAX_DEPTH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("Shopify payload nests deeper than %d levels", SHOPIFY_JSON_MAX_DEPTH)));
}

static XFrame *
push(XState *st, XNode *node, bool array, XRecord *rec, bool rec_root, bool multi)
{
	XFrame	   *f;

	if (st->depth == st->cap)
	{
		st->cap = st->cap ? st->cap * 2 : 32;
		st->stack = st->stack ? repalloc(st->stack, sizeof(XFrame) * st->cap) :
			palloc(sizeof(XFrame) * st->cap);
	}
	f = &st->stack[st->depth++];
	f->node = node;
	f->array = array;
	f->rec = rec;
	f->rec_root = rec_root;
	f->emit = rec_root;
	f->multi = multi;
	f->next = NULL;
	return f;
}

/* the node of the value about to start in the current container */
static XNode *
target(XFrame *f)
{
	if (f->node == NULL)
		return NULL;
	return f->array ? f->node->elem : f->next;
}

/* A scalar: kept when its node is a field of the open record. */
static int
scalar(XState *st, XType type, const char *s, size_t len)
{
	XFrame	   *f = top(st);
	XNode	   *n;

	if (st->raw.depth > 0)
	{
		if (!x_raw_scalar(&st->raw, type, s, len))
			st->bad_string = true;
		return 1;
	}
	if (st->skip > 0 || f == NULL)
		return 1;
	n = target(f);
	if (n == NULL)
		return 1;
	if (n->record && f->array)
	{
		/* an element that should be a record */
		if (type != XT_NULL)
		{
			XRecord    *r = new_record(st, n->record, f->rec);

			r->not_object = true;
			if (f->rec)
				add_child(st, f->rec, r);
			else
			{
				st->emit(st->arg, r);
				MemoryContextReset(st->rec_cxt);
			}
		}
		return 1;
	}
	if (f->rec == NULL)
		return 1;
	for (int slot = 0; slot < 2; slot++)
		if (n->field[slot] >= 0 && (slot == 0 || f->rec->v2))
			x_set_value(st->rec_cxt, &st->bad_string, f->rec, slot, n->field[slot], type, s, len,
					  n->multi[slot] || f->array);
	return 1;
}

static int
cb_null(void *ctx)
{
	return scalar((XState *) ctx, XT_NULL, NULL, 0);
}

static int
cb_bool(void *ctx, int b)
{
	return scalar((XState *) ctx, XT_BOOL, b ? "true" : "false", b ? 4 : 5);
}

static int
cb_number(void *ctx, const char *s, size_t len)
{
	return scalar((XState *) ctx, XT_NUMBER, s, len);
}

static int
cb_string(void *ctx, const unsigned char *s, size_t len)
{
	return scalar((XState *) ctx, XT_STRING, (const char *) s, len);
}

/* An object or array where a kept scalar belongs: the field is marked. */
static void
mark_container(XState *st, XFrame *f, XNode *n)
{
	for (int slot = 0; slot < 2; slot++)
		if (n->field[slot] >= 0 && f->rec && (slot == 0 || f->rec->v2))
			x_set_value(st->rec_cxt, &st->bad_string, f->rec, slot, n->field[slot], XT_CONTAINER, NULL, 0, false);
}

static bool
is_leaf(XNode *n)
{
	return n->nkids == 0 && n->elem == NULL && n->record == NULL;
}

/* A record object opens at node n (in frame f, or at the root). */
static void
open_record(XState *st, XFrame *f, XNode *n)
{
	XRecord    *parent = f ? f->rec : NULL;
	XRecord    *r;

	if (f && n == st->c->wrapper)
	{
		/* {"product": {...}}: the inner object is the record, the wrapper none */
		parent = NULL;
		f->emit = false;
	}
	r = new_record(st, n->record, parent);
	if (parent == NULL && st->shape->marker == NULL)
		st->result->saw_root = true;
	push(st, n->record_root, false, r, true, false);
}

static int
cb_start_map(void *ctx)
{
	XState	   *st = (XState *) ctx;
	XFrame	   *f = top(st);
	XNode	   *n;

	nest(st);
	if (st->raw.depth > 0)
	{
		x_raw_open(&st->raw, '{');
		return 1;
	}
	if (st->skip > 0)
	{
		st->skip++;
		return 1;
	}
	if (f == NULL)
	{
		/* the document (or a jsonl line) */
		if (st->shape->jsonl)
			push(st, st->c->root, false, new_record(st, st->shape->decl, NULL), true, false);
		else if (st->c->root->record)
			open_record(st, NULL, st->c->root);
		else
			push(st, st->c->root, false, NULL, false, false);
		return 1;
	}
	n = target(f);
	if (n == NULL)
	{
		st->skip = 1;
		return 1;
	}
	if (n->record)
	{
		open_record(st, f, n);
		return 1;
	}
	if (n->marker == 1)
		st->result->saw_root = true;
	if (is_leaf(n) && x_is_raw(n) && f->rec)
	{
		x_raw_start(&st->raw, st->rec_cxt, f->rec, n, '{');
		return 1;
	}
	if (is_leaf(n))
	{
		mark_container(st, f, n);
		st->skip = 1;
		return 1;
	}
	push(st, n, false, f->rec, false, f->multi || f->array);
	return 1;
}

static int
cb_end_map(void *ctx)
{
	XState	   *st = (XState *) ctx;
	XFrame	   *f;
	XRecord    *r;

	st->nesting--;
	if (st->raw.depth > 0)
	{
		x_raw_close(&st->raw, '}');
		return 1;
	}
	if (st->skip > 0)
	{
		st->skip--;
		return 1;
	}
	f = top(st);
	if (f == NULL)
		return 1;
	st->depth--;
	if (!f->rec_root || !f->emit)
		return 1;
	r = f->rec;
	if (r->parent != NULL)
	{
		add_child(st, r->parent, r);
		return 1;
	}
	if (r->v2 && st->shape->child_decl &&
		r->v2[st->shape->parent_field].type != XT_ABSENT &&
		r->v2[st->shape->parent_field].type != XT_NULL)
	{
		/* a jsonl line with a parent: a child record */
		r->decl = st->shape->child_decl;
		r->v = r->v2;
	}
	st->emit(st->arg, r);
	MemoryContextReset(st->rec_cxt);
	/* a wrapper whose record is done: the rest of it belongs to nothing */
	if (st->depth > 0 && st->stack[st->depth - 1].rec_root && !st->stack[st->depth - 1].emit)
	{
		st->stack[st->depth - 1].node = NULL;
		st->stack[st->depth - 1].rec = NULL;
	}
	return 1;
}

static int
cb_start_array(void *ctx)
{
	XState	   *st = (XState *) ctx;
	XFrame	   *f = top(st);
	XNode	   *n;

	nest(st);
	if (st->raw.depth > 0)
	{
		x_raw_open(&st->raw, '[');
		return 1;
	}
	if (st->skip > 0)
	{
		st->skip++;
		return 1;
	}
	if (f == NULL)
	{
		st->skip = 1;			/* a bare array: nothing we know */
		return 1;
	}
	n = target(f);
	if (n == NULL || (f->array && n->as_array == NULL))
	{
		st->skip = 1;			/* not kept, or an array in an array */
		return 1;
	}
	if (n->marker == 2)
		st->result->saw_root = true;
	if (is_leaf(n) && x_is_raw(n) && f->rec && !f->array)
	{
		x_raw_start(&st->raw, st->rec_cxt, f->rec, n, '[');
		return 1;
	}
	if (is_leaf(n))
	{
		if (n->as_array == NULL || f->rec == NULL || f->array)
		{
			mark_container(st, f, n);
			st->skip = 1;
			return 1;
		}
		/* a list field given as an array of scalars: start it empty */
		for (int slot = 0; slot < 2; slot++)
			if (n->field[slot] >= 0 && (slot == 0 || f->rec->v2))
			{
				XValue	   *v = &x_slot_values(f->rec, slot)[n->field[slot]];

				memset(v, 0, sizeof(*v));
				v->list = true;
			}
		push(st, n->as_array, true, f->rec, false, f->multi);
		return 1;
	}
	if (n->list_of > 0)
	{
		if (f->rec)
			f->rec->has_children |= (1u << (n->list_of - 1));
	}
	if (n->elem == NULL)
	{
		mark_container(st, f, n);
		st->skip = 1;
		return 1;
	}
	push(st, n, true, f->rec, false, true);
	return 1;
}

static int
cb_end_array(void *ctx)
{
	XState	   *st = (XState *) ctx;

	st->nesting--;
	if (st->raw.depth > 0)
	{
		x_raw_close(&st->raw, ']');
		return 1;
	}
	if (st->skip > 0)
	{
		st->skip--;
		return 1;
	}
	if (st->depth > 0)
		st->depth--;
	return 1;
}

static int
cb_map_key(void *ctx, const unsigned char *key, size_t len)
{
	XState	   *st = (XState *) ctx;
	XFrame	   *f = top(st);

	if (st->raw.depth > 0)
	{
		x_raw_key(&st->raw, (const char *) key, len);
		return 1;
	}
	if (st->skip > 0 || f == NULL)
		return 1;
	if (f->node == NULL)
	{
		f->next = NULL;
		return 1;
	}
	/* webhooks: {"product": {...}} — the inner object is the record */
	if (st->c->wrapper && st->depth == 1 && f->rec_root && f->emit &&
		len == strlen(st->shape->wrapper) && memcmp(key, st->shape->wrapper, len) == 0)
	{
		f->next = st->c->wrapper;
		return 1;
	}
	f->next = x_kid(f->node, (const char *) key, (int) len, false);
	return 1;
}

static void *
x_malloc(void *ctx, size_t sz)
{
	return MemoryContextAlloc((MemoryContext) ctx, Max(sz, 1));
}

static void *
x_realloc(void *ctx, void *p, size_t sz)
{
	if (p == NULL)
		return MemoryContextAlloc((MemoryContext) ctx, Max(sz, 1));
	return repalloc(p, Max(sz, 1));
}

static void
x_free(void *ctx, void *p)
{
	if (p)
		pfree(p);
}

static const yajl_callbacks callbacks = {
	cb_null, cb_bool, NULL, NULL, cb_number, cb_string,
	cb_start_map, cb_map_key, cb_end_map, cb_start_array, cb_end_array
};

/* One JSON text (a document, or one jsonl line). */
static void
parse_text(XState *st, MemoryContext ycxt, const char *doc, size_t len)
{
	yajl_alloc_funcs afs = {x_malloc, x_realloc, x_free, ycxt};
	yajl_handle h = yajl_alloc(&callbacks, &afs, st);
	yajl_status rc;

	if (json_escapes_surrogate(doc, len))
	{
		JsonLexContext *lex = makeJsonLexContextCstringLen((char *) doc, (int) len,
														   GetDatabaseEncoding(), true);
		JsonSemAction sem;

		memset(&sem, 0, sizeof(sem));
		if (json_depth_exceeds(doc, len, SHOPIFY_JSON_MAX_DEPTH))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("Shopify payload nests deeper than %d levels", SHOPIFY_JSON_MAX_DEPTH)));
		if (pg_parse_json(lex, &sem) != JSON_SUCCESS)
			json_report_invalid(doc, len);
	}
	st->depth = 0;
	st->skip = 0;
	st->nesting = 0;
	st->raw.depth = 0;
	st->line = doc;
	st->linelen = (int) len;
	rc = yajl_parse(h, (const unsigned char *) doc, len);
	if (rc == yajl_status_ok)
		rc = yajl_complete_parse(h);
	yajl_free(h);
	if (rc != yajl_status_ok || st->bad_string)
		json_report_invalid(doc, len);
}

/*
 * Read doc (len bytes; for a jsonl shape, lines of one object each) and
 * hand each top-level record to emit.
 */
void
extract_run(const XShape *shape, const char *doc, size_t len, XEmit emit, void *arg,
			XResult *result)
{
	XState		st;
	MemoryContext ycxt;
	int			valid;

	if (len > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("Shopify payload is too large (%zu bytes)", len)));
	/*
	 * Kept strings go into text columns as they are: the text must be valid
	 * in the database encoding.  (Pages are checked when they arrive; bulk
	 * batches and direct calls are not.)
	 */
	valid = pg_encoding_verifymbstr(GetDatabaseEncoding(), doc, (int) len);
	if (valid < (int) len)
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("Shopify payload is not valid %s", GetDatabaseEncodingName()),
				 errdetail("Invalid byte sequence or NUL byte at byte %d of %d.", valid + 1, (int) len)));

	memset(&st, 0, sizeof(st));
	memset(result, 0, sizeof(*result));
	st.shape = shape;
	st.c = x_compile_shape(shape);
	st.emit = emit;
	st.arg = arg;
	st.result = result;
	st.rec_cxt = AllocSetContextCreate(CurrentMemoryContext, "shopify_sync record",
									   ALLOCSET_DEFAULT_SIZES);
	ycxt = AllocSetContextCreate(CurrentMemoryContext, "shopify_sync yajl",
								 ALLOCSET_DEFAULT_SIZES);
	if (!shape->jsonl)
		parse_text(&st, ycxt, doc, len);
	else
	{
		const char *p = doc;
		const char *end = doc + len;

		while (p < end)
		{
			const char *nl = memchr(p, '\n', end - p);
			const char *stop = nl ? nl : end;

			if (stop > p && !(stop - p == 1 && *p == '\r'))
			{
				parse_text(&st, ycxt, p, stop - p);
				MemoryContextReset(ycxt);
			}
			p = stop + 1;
		}
	}
	MemoryContextDelete(ycxt);
	MemoryContextDelete(st.rec_cxt);
	if (st.stack)
		pfree(st.stack);
}
