/*
 * extract_trie.c — a record declaration (extract.h) compiled, once per
 * process, into a trie of keys: each container of a document is matched to
 * a node as it opens, so a key costs one lookup among a node's children and
 * a skipped subtree costs nothing but lexing (extract.c).
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "mirror/extract_trie.h"




static XCompiled *compiled = NULL;

static XNode *
new_node(void)
{
	XNode	   *n = MemoryContextAllocZero(TopMemoryContext, sizeof(XNode));

	n->field[0] = n->field[1] = -1;
	return n;
}

XNode *
x_kid(XNode *n, const char *key, int len, bool create)
{
	for (int i = 0; i < n->nkids; i++)
		if (n->klens[i] == len && memcmp(n->keys[i], key, len) == 0)
			return n->kids[i];
	if (!create)
		return NULL;
	if (n->nkids == n->capkids)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		n->capkids = n->capkids ? n->capkids * 2 : 4;
		n->keys = n->keys ? repalloc(n->keys, sizeof(char *) * n->capkids) : palloc(sizeof(char *) * n->capkids);
		n->klens = n->klens ? repalloc(n->klens, sizeof(int) * n->capkids) : palloc(sizeof(int) * n->capkids);
		n->kids = n->kids ? repalloc(n->kids, sizeof(XNode *) * n->capkids) : palloc(sizeof(XNode *) * n->capkids);
		MemoryContextSwitchTo(old);
	}
	n->keys[n->nkids] = MemoryContextAlloc(TopMemoryContext, len + 1);
	memcpy((char *) n->keys[n->nkids], key, len);
	((char *) n->keys[n->nkids])[len] = '\0';
	n->klens[n->nkids] = len;
	n->kids[n->nkids] = new_node();
	return n->kids[n->nkids++];
}

static int walk_one(XNode *n, const char *path, XNode **out, int max, bool *multi, XNode **star);

/*
 * The nodes a path leads to from n: "a|b.c" is the path "a" or the path
 * "b.c".  *multi is set when a path crosses an array, *star to the node
 * holding the first array it crosses.  Intermediate nodes are shared.
 */
static int
walk(XNode *n, const char *path, XNode **out, int max, bool *multi, XNode **star)
{
	int			nout = 0;
	const char *a = path ? path : "";

	for (;;)
	{
		const char *bar = strchr(a, '|');
		char	   *alt = bar ? pnstrdup(a, bar - a) : pstrdup(a);
		bool		m = false;

		if (nout < max)
			nout += walk_one(n, alt, out + nout, max - nout, &m, star);
		*multi |= m;
		pfree(alt);
		if (!bar)
			break;
		a = bar + 1;
	}
	return nout;
}

static int
walk_one(XNode *n, const char *path, XNode **out, int max, bool *multi, XNode **star)
{
	const char *dot;
	const char *seg_end;
	int			nout = 0;

	if (path == NULL || *path == '\0')
	{
		out[0] = n;
		return 1;
	}
	dot = strchr(path, '.');
	seg_end = dot ? dot : path + strlen(path);
	if (seg_end - path == 1 && *path == '*')
	{
		if (n->elem == NULL)
			n->elem = new_node();
		if (!*multi && star)
			*star = n;
		*multi = true;
		return walk_one(n->elem, dot ? dot + 1 : "", out, max, multi, star);
	}
	nout = walk_one(x_kid(n, path, (int) (seg_end - path), true), dot ? dot + 1 : "",
					out, max, multi, star);
	return nout;
}

static XNode *compile_record(const XRecordDecl *d);

/* Put a record's fields (into slot) and children into the trie at root. */
static void
add_record(XNode *root, const XRecordDecl *d, int slot)
{
	XNode	   *ends[8];

	for (int f = 0; f < d->nfields; f++)
	{
		bool		multi = false;
		int			n = walk(root, d->fields[f].path, ends, lengthof(ends), &multi, NULL);

		for (int i = 0; i < n; i++)
		{
			ends[i]->field[slot] = f;
			ends[i]->list[slot] = (d->fields[f].flags & XF_LIST) != 0;
			ends[i]->multi[slot] = multi;
			ends[i]->raw[slot] = (d->fields[f].flags & XF_RAW) != 0;
			if (ends[i]->list[slot] && ends[i]->as_array == NULL)
			{
				ends[i]->as_array = new_node();
				ends[i]->as_array->elem = ends[i];
			}
		}
	}
	for (int c = 0; c < d->nchildren; c++)
	{
		bool		multi = false;
		XNode	   *star = NULL;
		int			n = walk(root, d->children[c].path, ends, lengthof(ends), &multi, &star);

		if (star)
			star->list_of = c + 1;
		for (int i = 0; i < n; i++)
		{
			ends[i]->record = d->children[c].record;
			ends[i]->child_kind = c;
			ends[i]->record_root = compile_record(d->children[c].record);
		}
	}
}

static XCompiled *
lookup_compiled(const void *key)
{
	for (XCompiled *c = compiled; c; c = c->next)
		if (c->key == key)
			return c;
	return NULL;
}

static XCompiled *
remember(const void *key, XNode *root)
{
	XCompiled  *c = MemoryContextAllocZero(TopMemoryContext, sizeof(XCompiled));

	c->key = key;
	c->root = root;
	c->next = compiled;
	compiled = c;
	return c;
}

static XNode *
compile_record(const XRecordDecl *d)
{
	XCompiled  *c = lookup_compiled(d);
	XNode	   *root;

	if (c)
		return c->root;
	root = new_node();
	remember(d, root);			/* before the children: a record may nest itself */
	add_record(root, d, 0);
	return root;
}

/* The trie of a document of this shape, from its root. */
XCompiled *
x_compile_shape(const XShape *s)
{
	XCompiled  *c = lookup_compiled(s);
	XNode	   *root;
	XNode	   *ends[8];

	if (c)
		return c;
	root = new_node();
	if (s->jsonl)
	{
		/* a line: the fields of both records, told apart when it closes */
		add_record(root, s->decl, 0);
		if (s->child_decl)
			add_record(root, s->child_decl, 1);
	}
	else
		for (int r = 0; r < s->nroots; r++)
		{
			bool		multi = false;
			int			n = walk(root, s->roots[r], ends, lengthof(ends), &multi, NULL);

			for (int i = 0; i < n; i++)
			{
				ends[i]->record = s->decl;
				ends[i]->child_kind = 0;
				ends[i]->record_root = compile_record(s->decl);
			}
		}
	if (s->marker)
	{
		bool		multi = false;
		int			n = walk(root, s->marker, ends, lengthof(ends), &multi, NULL);

		for (int i = 0; i < n; i++)
			ends[i]->marker = s->marker_array ? 2 : 1;
	}
	c = remember(s, root);
	if (s->wrapper)
	{
		c->wrapper = new_node();
		c->wrapper->record = s->decl;
		c->wrapper->record_root = compile_record(s->decl);
	}
	return c;
}

