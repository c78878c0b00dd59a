/*
 * extract_trie.h — a declaration compiled into a trie of keys
 * (extract_trie.c), walked by the streaming pass (extract.c).  Private to
 * mirror/.
 */
#ifndef SHOPIFY_EXTRACT_TRIE_H
#define SHOPIFY_EXTRACT_TRIE_H

#include "lib/stringinfo.h"

#include "base/jsonpick.h"
#include "mirror/extract.h"

typedef struct XNode XNode;

struct XNode
{
	int			nkids;
	int			capkids;
	const char **keys;
	int		   *klens;
	XNode	  **kids;
	XNode	   *elem;			/* "*": the elements of an array here */
	int			field[2];		/* a kept field here: index in the record (slot 1: jsonl child) */
	bool		list[2];		/* it may also be an array of scalars */
	bool		multi[2];		/* the path crosses an array: every value is kept */
	bool		raw[2];			/* a container here is kept as JSON text (XF_RAW) */
	XNode	   *as_array;		/* list fields: the node of an array given in its place */
	const XRecordDecl *record;	/* an object here is a child (or top-level) record */
	int			child_kind;		/* its index among the parent's kinds of children */
	XNode	   *record_root;	/* the trie of that record */
	int			list_of;		/* k + 1: an array here holds children of kind k */
	int			marker;			/* 1: an object here is the shape's marker, 2: an array */
};

typedef struct XCompiled
{
	const void *key;			/* the shape or record declaration */
	XNode	   *root;
	XNode	   *wrapper;		/* shapes with a wrapper key: the node of its value */
	struct XCompiled *next;
} XCompiled;

/* an XF_RAW field's container being kept as its JSON text (extract_values.c) */
typedef struct XRaw
{
	int			depth;			/* > 0: keeping; this many containers open */
	bool		first[SHOPIFY_JSON_MAX_DEPTH + 2];	/* no member yet at that depth */
	bool		after_key;
	StringInfoData buf;
	XRecord    *rec;			/* whose field it is */
	XNode	   *node;
} XRaw;

extern XNode *x_kid(XNode *n, const char *key, int len, bool create);
extern XValue *x_slot_values(XRecord *r, int slot);
extern void x_set_value(MemoryContext cxt, bool *bad_string, XRecord *rec, int slot, int f,
						XType type, const char *s, size_t len, bool append);
extern bool x_is_raw(const XNode *n);
extern void x_raw_start(XRaw *r, MemoryContext cxt, XRecord *rec, XNode *n, char open);
extern void x_raw_open(XRaw *r, char c);
extern void x_raw_close(XRaw *r, char c);
extern void x_raw_key(XRaw *r, const char *key, size_t len);
extern bool x_raw_scalar(XRaw *r, XType type, const char *s, size_t len);
extern XCompiled *x_compile_shape(const XShape *s);

#endif
