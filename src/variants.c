/*
 * variants.c — Shopify payloads to typed variant rows: the SQL function
 * shopify._variants(doc text, shape text).
 *
 * Every payload (a REST page, a webhook product; GraphQL pages and bulk
 * batches use the same machinery) becomes rows of one shape: one row per
 * variant, with its product's fields copied onto it and values converted to
 * the mirror's types (bigint ids, exact numeric prices, timestamptz).
 *
 * The text is parsed once, streaming, with PostgreSQL's JSON parser and a
 * small state machine (the semantic actions below) that keeps only the
 * fields the mirror stores: no jsonb tree is built.  Measured on a
 * 250-product REST page (880 kB, 1,100 variants): 14 ms here against 45 ms
 * for building jsonb and walking it (see scripts/bench.sh).  Variants are
 * held until their product object closes, because JSON key order is free
 * and product fields may come after "variants".
 *
 * Nothing here throws for bad data inside a well-formed document: a variant
 * with a value of the wrong type, an id out of range, an unparsable price or
 * timestamp, or a string longer than 64 kB comes out with ok = false and a
 * reason, so the caller counts it as failed and stores nothing of it, while
 * the rest of the page goes on.  A document that is not JSON (or holds
 * \u0000), is not valid in the database encoding (invalid UTF-8, a NUL
 * byte: the text goes into text columns as it is), or nests deeper than
 * SHOPIFY_JSON_MAX_DEPTH is an error of class 22 (data exception) for the
 * whole call.
 *
 * Shapes:
 *   rest_products     {"products": [{..., "variants": [...]}, ...]}   (REST page)
 *   rest_product      {"id": ..., "variants": [...]} or {"product": {...}}  (webhook)
 *   graphql_products  {"data": {"products": {"nodes"|"edges": [...]}}}
 *                     with each product's "variants": {"nodes"|"edges": [...]}
 *   graphql_product   {"data": {"product": {...}}}  (a product's further variants)
 *   bulk_jsonl        lines of a bulk operation's result: product lines, and
 *                     variant lines that name their product in "__parentId";
 *                     product lines come out as rows of kind 'product' (the
 *                     caller joins them to their variants), variant lines as
 *                     rows of kind 'variant' with only their product_id.
 * Rows of the other shapes have kind 'variant'.
 *
 * This file holds the parser (the semantic actions) and the SQL entry
 * point; a finished product becomes rows in variants_rows.c, and values
 * are converted by convert.c.
 */#include "postgres.h"

#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "convert.h"
#include "jsonpick.h"
#include "variants_int.h"

PG_FUNCTION_INFO_V1(shopify_page_variants);

/* ----- semantic actions ----- */

static Frame *
top(ParseState *ps)
{
	return ps->depth > 0 ? &ps->stack[ps->depth - 1] : NULL;
}

static void
push(ParseState *ps, Role role)
{
	if (ps->depth >= MAX_DEPTH)
	{
		ps->skip = 1;			/* deeper than anything we keep */
		return;
	}
	ps->stack[ps->depth].role = role;
	ps->stack[ps->depth].field = NULL;
	ps->depth++;
}

static bool
is_field(Frame *t, const char *name)
{
	return t->field != NULL && strcmp(t->field, name) == 0;
}

/*
 * rest_product: the product of {"product": {...}} has been emitted and its
 * memory reset; the wrapper's other fields belong to no product and are
 * ignored ({"product": {...}, "variants": [...]} must not add variants to
 * a product that is gone).
 */
static bool
wrapper_done(ParseState *ps, Frame *t)
{
	return t->role == R_WRAPPER && !ps->product_open;
}

/* Roles whose scalar fields are product fields / variant fields. */
static bool
product_role(Role r)
{
	return r == R_PRODUCT || r == R_WRAPPER || r == R_LINE;
}

static bool
variant_role(Role r)
{
	return r == R_VARIANT || r == R_LINE;
}

/* Mark a kept field of the current product/variant as the wrong type. */
static bool
mark_container(ParseState *ps, Frame *t)
{
	int			k;
	bool		kept = false;

	if (product_role(t->role) && (k = row_product_field(t->field)) >= 0)
	{
		ps->pf[k].container = true;
		kept = true;
	}
	if (variant_role(t->role) && ps->nvariants > 0 && (k = row_variant_field(t->field)) >= 0)
	{
		ps->variants[ps->nvariants - 1].f[k].container = true;
		kept = true;
	}
	if (t->role == R_LINE && is_field(t, "__parentId"))
	{
		ps->parent.container = true;
		kept = true;
	}
	return kept;
}

static void
begin_single_product(ParseState *ps)
{
	MemoryContextReset(ps->product_cxt);
	memset(ps->pf, 0, sizeof(ps->pf));
	ps->nvariants = 0;
	ps->has_variants = false;
	row_begin_product(ps);
}

/*
 * One more object or array open.  PostgreSQL's parser recurses once per
 * level: stop long before "stack depth limit exceeded", which is not a data
 * error (the page would be taken for a database failure).
 */
static void
nest(ParseState *ps)
{
	if (++ps->nesting > SHOPIFY_JSON_MAX_DEPTH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("Shopify payload nests deeper than %d levels", SHOPIFY_JSON_MAX_DEPTH)));
}

static void
sa_object_start(void *state)
{
	ParseState *ps = (ParseState *) state;
	Frame	   *t = top(ps);

	nest(ps);
	if (ps->skip > 0)
	{
		ps->skip++;
		return;
	}
	if (t == NULL)
	{
		switch (ps->shape)
		{
			case SHAPE_REST_PRODUCT:
				push(ps, R_WRAPPER);
				row_begin_product(ps);
				break;
			case SHAPE_BULK_JSONL:
				push(ps, R_LINE);
				row_begin_product(ps);
				(void) row_new_variant(ps);
				break;
			default:
				push(ps, R_ROOT);
				break;
		}
		return;
	}
	switch (t->role)
	{
		case R_ROOT:
			if (is_field(t, "data") && ps->shape != SHAPE_REST_PRODUCTS)
			{
				push(ps, R_GDATA);
				return;
			}
			break;
		case R_GDATA:
			if (is_field(t, "products") && ps->shape == SHAPE_GRAPHQL_PRODUCTS)
			{
				ps->saw_products = true;
				push(ps, R_GCONN);
				return;
			}
			if (is_field(t, "product") && ps->shape == SHAPE_GRAPHQL_PRODUCT)
			{
				begin_single_product(ps);
				push(ps, R_PRODUCT);
				return;
			}
			break;
		case R_GEDGES:
			push(ps, R_GEDGE);
			return;
		case R_GEDGE:
			if (is_field(t, "node"))
			{
				push(ps, R_PRODUCT);
				row_begin_product(ps);
				return;
			}
			break;
		case R_PRODUCTS:
			push(ps, R_PRODUCT);
			row_begin_product(ps);
			return;
		case R_PRODUCT:
		case R_WRAPPER:
			if (t->role == R_WRAPPER && is_field(t, "product"))
			{
				/* {"product": {...}}: the inner object is the product */
				begin_single_product(ps);
				push(ps, R_PRODUCT);
				return;
			}
			if (wrapper_done(ps, t))
			{
				ps->skip = 1;
				return;
			}
			if (is_field(t, "variants"))
			{
				push(ps, R_VCONN);	/* GraphQL: a connection */
				return;
			}
			break;
		case R_VEDGES:
			push(ps, R_VEDGE);
			return;
		case R_VEDGE:
			if (is_field(t, "node"))
			{
				(void) row_new_variant(ps);
				push(ps, R_VARIANT);
				return;
			}
			break;
		case R_VARIANTS:
			(void) row_new_variant(ps);
			push(ps, R_VARIANT);
			return;
		case R_VARIANT:
		case R_LINE:
			if (is_field(t, "inventoryItem"))
			{
				push(ps, R_INVITEM);
				return;
			}
			break;
		default:
			break;
	}
	(void) mark_container(ps, t);
	ps->skip = 1;
}

static void
sa_object_end(void *state)
{
	ParseState *ps = (ParseState *) state;
	Frame	   *t;

	ps->nesting--;
	if (ps->skip > 0)
	{
		ps->skip--;
		return;
	}
	t = top(ps);
	if (t == NULL)
		return;
	if (t->role == R_PRODUCT || (t->role == R_WRAPPER && ps->product_open))
		row_finish_product(ps);
	else if (t->role == R_LINE)
		row_finish_line(ps);
	ps->depth--;
}

static void
sa_array_start(void *state)
{
	ParseState *ps = (ParseState *) state;
	Frame	   *t = top(ps);

	nest(ps);
	if (ps->skip > 0)
	{
		ps->skip++;
		return;
	}
	if (t == NULL)
	{
		ps->skip = 1;			/* a bare array: nothing we know */
		return;
	}
	if (t->role == R_ROOT && is_field(t, "products") && ps->shape == SHAPE_REST_PRODUCTS)
	{
		ps->saw_products = true;
		push(ps, R_PRODUCTS);
		return;
	}
	if (t->role == R_GCONN)
	{
		if (is_field(t, "nodes"))
		{
			push(ps, R_PRODUCTS);
			return;
		}
		if (is_field(t, "edges"))
		{
			push(ps, R_GEDGES);
			return;
		}
	}
	if (t->role == R_VCONN)
	{
		if (is_field(t, "nodes") || is_field(t, "edges"))
		{
			ps->has_variants = true;
			push(ps, is_field(t, "nodes") ? R_VARIANTS : R_VEDGES);
			return;
		}
	}
	if (product_role(t->role) && t->field && !wrapper_done(ps, t))
	{
		if (strcmp(t->field, "variants") == 0 && t->role != R_LINE)
		{
			ps->has_variants = true;
			push(ps, R_VARIANTS);
			return;
		}
		if (strcmp(t->field, "tags") == 0)
		{
			ps->tags_array = true;
			push(ps, R_TAGS);
			return;
		}
	}
	(void) mark_container(ps, t);
	ps->skip = 1;
}

static void
sa_array_end(void *state)
{
	ParseState *ps = (ParseState *) state;

	ps->nesting--;
	if (ps->skip > 0)
	{
		ps->skip--;
		return;
	}
	if (ps->depth > 0)
		ps->depth--;
}

static void
sa_field_start(void *state, char *fname, bool isnull)
{
	ParseState *ps = (ParseState *) state;
	Frame	   *t;

	if (ps->skip > 0)
	{
		pfree(fname);
		return;
	}
	t = top(ps);
	if (t->field)
		pfree(t->field);
	t->field = fname;
}

static void
set_scalar(Scalar *dst, char *token, JsonTokenType type, bool copy)
{
	if (dst->s && !copy)
		pfree(dst->s);
	dst->s = copy && token ? pstrdup(token) : token;
	dst->len = token ? strlen(token) : 0;
	dst->type = type;
	dst->container = false;
}

static void
sa_scalar(void *state, char *token, JsonTokenType type)
{
	ParseState *ps = (ParseState *) state;
	Frame	   *t = top(ps);
	bool		kept = false;
	int			k;

	if (ps->skip > 0 || t == NULL || wrapper_done(ps, t))
	{
		if (token)
			pfree(token);
		return;
	}
	switch (t->role)
	{
		case R_PRODUCT:
		case R_WRAPPER:
		case R_VARIANT:
		case R_LINE:
			{
				MemoryContext old = MemoryContextSwitchTo(ps->product_cxt);

				if (product_role(t->role) && (k = row_product_field(t->field)) >= 0)
				{
					set_scalar(&ps->pf[k], token, type, t->role == R_LINE);
					kept = true;
				}
				if (variant_role(t->role) && ps->nvariants > 0 && (k = row_variant_field(t->field)) >= 0)
				{
					set_scalar(&ps->variants[ps->nvariants - 1].f[k], token, type, t->role == R_LINE);
					kept = true;
				}
				if (t->role == R_LINE && is_field(t, "__parentId"))
				{
					set_scalar(&ps->parent, token, type, true);
					kept = true;
				}
				MemoryContextSwitchTo(old);
				if (t->role == R_LINE && kept && token)
				{
					pfree(token);
					return;
				}
				break;
			}
		case R_INVITEM:
			if (is_field(t, "id") && ps->nvariants > 0)
			{
				set_scalar(&ps->variants[ps->nvariants - 1].f[V_INVENTORY_ITEM], token, type, false);
				kept = true;
			}
			break;
		case R_TAGS:
			if (type != JSON_TOKEN_STRING)
				ps->tags_bad = true;
			else
			{
				MemoryContext old = MemoryContextSwitchTo(ps->product_cxt);

				if (ps->tags.len > 0)
					appendStringInfoString(&ps->tags, ", ");
				if (ps->tags.len + strlen(token) <= MAX_TEXT + 1)
					appendStringInfoString(&ps->tags, token);
				else
					ps->tags_bad = true;
				MemoryContextSwitchTo(old);
			}
			break;
		case R_PRODUCTS:
			if (type != JSON_TOKEN_NULL)
				row_lone_error(ps, "product is not an object");
			break;
		case R_VARIANTS:
			if (type != JSON_TOKEN_NULL)
				row_new_variant(ps)->error = "variant is not an object";
			break;
		default:
			break;
	}
	if (!kept && token)
		pfree(token);
}

static void
parse_one(ParseState *ps, char *doc, int len)
{
	JsonSemAction sem;
	JsonLexContext *lex;
	JsonParseErrorType rc;

	memset(&sem, 0, sizeof(sem));
	sem.semstate = ps;
	sem.object_start = sa_object_start;
	sem.object_end = sa_object_end;
	sem.array_start = sa_array_start;
	sem.array_end = sa_array_end;
	sem.object_field_start = sa_field_start;
	sem.scalar = sa_scalar;

	ps->depth = 0;
	ps->skip = 0;
	ps->nesting = 0;
	lex = makeJsonLexContextCstringLen(doc, len, GetDatabaseEncoding(), true);
	rc = pg_parse_json(lex, &sem);
	if (rc != JSON_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("Shopify payload is not valid JSON"),
				 errdetail("%s", json_errdetail(rc, lex))));
	if (lex->strval)
	{
		pfree(lex->strval->data);
		pfree(lex->strval);
	}
	pfree(lex);
}

/* Parse doc and hand its rows to emit. */
static void
parse_payload(char *doc, int len, Shape shape, VariantEmit emit, void *emit_arg)
{
	ParseState *ps = palloc0(sizeof(ParseState));
	MemoryContext line_cxt = NULL;
	int			valid;

	/*
	 * The parser copies string bytes as they are into the rows' text: they
	 * must be valid in the database encoding.  (Pages are checked when they
	 * arrive; bulk batches and direct calls are not.)
	 */
	valid = pg_encoding_verifymbstr(GetDatabaseEncoding(), doc, len);
	if (valid < len)
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("Shopify payload is not valid %s", GetDatabaseEncodingName()),
				 errdetail("Invalid byte sequence or NUL byte at byte %d of %d.", valid + 1, len)));

	ps->shape = shape;
	ps->single_product = (shape == SHAPE_REST_PRODUCT);
	ps->emit = emit;
	ps->emit_arg = emit_arg;
	ps->product_cxt = AllocSetContextCreate(CurrentMemoryContext, "shopify_sync product",
											ALLOCSET_DEFAULT_SIZES);
	if (shape != SHAPE_BULK_JSONL)
		parse_one(ps, doc, len);
	else
	{
		/* one JSON document per line; each line's parse in a context reset after it */
		char	   *p = doc;
		char	   *end = doc + len;

		line_cxt = AllocSetContextCreate(CurrentMemoryContext, "shopify_sync bulk line",
										 ALLOCSET_DEFAULT_SIZES);
		while (p < end)
		{
			char	   *nl = memchr(p, '\n', end - p);
			char	   *stop = nl ? nl : end;
			MemoryContext old;

			if (stop > p && !(stop - p == 1 && *p == '\r'))
			{
				old = MemoryContextSwitchTo(line_cxt);
				parse_one(ps, p, (int) (stop - p));
				MemoryContextSwitchTo(old);
				MemoryContextReset(line_cxt);
			}
			p = stop + 1;
		}
	}
	if ((shape == SHAPE_REST_PRODUCTS || shape == SHAPE_GRAPHQL_PRODUCTS) && !ps->saw_products)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("Shopify page has no products"),
				 errdetail("Expected %s.", shape == SHAPE_REST_PRODUCTS ?
						   "a \"products\" array" : "\"data\": {\"products\": ...}")));
	MemoryContextDelete(ps->product_cxt);
	if (line_cxt)
		MemoryContextDelete(line_cxt);
}

static Shape
shape_of(const char *shape)
{
	Shape		sh = SHAPE_REST_PRODUCTS;

	if (strcmp(shape, "rest_products") == 0)
		sh = SHAPE_REST_PRODUCTS;
	else if (strcmp(shape, "rest_product") == 0)
		sh = SHAPE_REST_PRODUCT;
	else if (strcmp(shape, "graphql_products") == 0)
		sh = SHAPE_GRAPHQL_PRODUCTS;
	else if (strcmp(shape, "graphql_product") == 0)
		sh = SHAPE_GRAPHQL_PRODUCT;
	else if (strcmp(shape, "bulk_jsonl") == 0)
		sh = SHAPE_BULK_JSONL;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown payload shape \"%s\"", shape)));
	return sh;
}

/*
 * The rows of a payload of the named shape, one emit() call each (values
 * and nulls of the VROW_* columns; by-reference values live until the
 * next call).
 */
void
variants_parse(const char *doc, size_t len, const char *shape, VariantEmit emit, void *emit_arg)
{
	if (len > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("Shopify payload is too large (%zu bytes)", len)));
	parse_payload((char *) doc, (int) len, shape_of(shape), emit, emit_arg);
}

typedef struct SrfOut
{
	Tuplestorestate *ts;
	TupleDesc	desc;
} SrfOut;

static void
emit_tuple(void *arg, Datum *values, bool *nulls)
{
	SrfOut	   *o = (SrfOut *) arg;

	tuplestore_putvalues(o->ts, o->desc, values, nulls);
}

Datum
shopify_page_variants(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *doc = PG_GETARG_TEXT_PP(0);
	char	   *shape = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Shape		sh = shape_of(shape);
	SrfOut		o;

	InitMaterializedSRF(fcinfo, 0);
	o.ts = rsinfo->setResult;
	o.desc = rsinfo->setDesc;
	parse_payload(VARDATA_ANY(doc), VARSIZE_ANY_EXHDR(doc), sh, emit_tuple, &o);
	return (Datum) 0;
}
