/*
 * extract_values.c — how the streaming pass (extract.c) keeps a value in
 * its record: a scalar's text (several, where a path crosses an array),
 * and a kept field's object or array as its JSON text.
 *
 * A field declared XF_RAW (a column of type jsonb: a smart collection's
 * rules) keeps whatever stands at its path: a scalar as usual, a container
 * as the JSON text of the events the streaming pass (extract.c) sees inside
 * it, written again here — keys and strings escaped, numbers as they came —
 * so that the row builder can hand it to jsonb_in.  Strings are checked as
 * the pass checks kept strings (no NUL, valid in the database encoding).
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/json.h"

#include "mirror/extract_trie.h"

/* Keep a scalar (type, s, len) as field f of rec (slot 1: a jsonl child's). */
XValue *
x_slot_values(XRecord *r, int slot)
{
	return slot == 0 ? r->v : r->v2;
}

void
x_set_value(MemoryContext cxt, bool *bad_string, XRecord *rec, int slot, int f, XType type,
			const char *s, size_t len, bool append)
{
	XValue	   *v = &x_slot_values(rec, slot)[f];
	MemoryContext old = MemoryContextSwitchTo(cxt);
	char	   *copy = NULL;

	if (type == XT_STRING || type == XT_NUMBER || type == XT_BOOL)
	{
		/* de-escaped text: \u0000, or a lone surrogate, is not text */
		if (type == XT_STRING &&
			(memchr(s, '\0', len) != NULL ||
			 pg_encoding_verifymbstr(GetDatabaseEncoding(), s, (int) len) != (int) len))
			*bad_string = true;
		copy = palloc(len + 1);
		memcpy(copy, s, len);
		copy[len] = '\0';
	}
	if (append && (v->type != XT_ABSENT || v->more))
	{
		XValue	   *last = v;

		while (last->more)
			last = last->more;
		last->more = palloc0(sizeof(XValue));
		v = last->more;
	}
	else if (!append)
	{
		v->more = NULL;
		v->list = false;
	}
	v->type = type;
	v->s = copy;
	v->len = (int) len;
	MemoryContextSwitchTo(old);
}

bool
x_is_raw(const XNode *n)
{
	return n->raw[0] || n->raw[1];
}

/* Start keeping the container that opens at node n (a field of rec). */
void
x_raw_start(XRaw *r, MemoryContext cxt, XRecord *rec, XNode *n, char open)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);

	initStringInfo(&r->buf);
	MemoryContextSwitchTo(old);
	appendStringInfoChar(&r->buf, open);
	r->depth = 1;
	r->first[1] = true;
	r->after_key = false;
	r->rec = rec;
	r->node = n;
}

/* before a value (or a key) inside the kept container */
static void
sep(XRaw *r)
{
	if (!r->after_key && !r->first[r->depth])
		appendStringInfoChar(&r->buf, ',');
	r->first[r->depth] = false;
	r->after_key = false;
}

void
x_raw_open(XRaw *r, char c)
{
	sep(r);
	appendStringInfoChar(&r->buf, c);
	r->depth++;
	r->first[r->depth] = true;
}

/* A container closes; the kept one is done when it was the outermost. */
void
x_raw_close(XRaw *r, char c)
{
	appendStringInfoChar(&r->buf, c);
	if (--r->depth > 0)
		return;
	for (int slot = 0; slot < 2; slot++)
		if (r->node->field[slot] >= 0 && r->rec && (slot == 0 || r->rec->v2))
		{
			XValue	   *v = &(slot == 0 ? r->rec->v : r->rec->v2)[r->node->field[slot]];

			v->more = NULL;
			v->list = false;
			v->type = XT_CONTAINER;
			v->s = r->buf.data;
			v->len = r->buf.len;
		}
}

void
x_raw_key(XRaw *r, const char *key, size_t len)
{
	char	   *copy = pnstrdup(key, len);

	sep(r);
	escape_json(&r->buf, copy);
	appendStringInfoChar(&r->buf, ':');
	r->after_key = true;
	pfree(copy);
}

/* A scalar inside the kept container; false if a string is not valid text. */
bool
x_raw_scalar(XRaw *r, XType type, const char *s, size_t len)
{
	bool		ok = true;

	sep(r);
	if (type == XT_NULL)
		appendStringInfoString(&r->buf, "null");
	else if (type == XT_STRING)
	{
		char	   *copy;

		if (memchr(s, '\0', len) != NULL ||
			pg_encoding_verifymbstr(GetDatabaseEncoding(), s, (int) len) != (int) len)
			ok = false;
		copy = pnstrdup(s, len);
		escape_json(&r->buf, copy);
		pfree(copy);
	}
	else
		appendBinaryStringInfo(&r->buf, s, len);
	return ok;
}
