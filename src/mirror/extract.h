/*
 * extract.h — Shopify JSON payloads to records, in one streaming pass,
 * from a declaration of the paths kept (extract.c).
 */
#ifndef SHOPIFY_EXTRACT_H
#define SHOPIFY_EXTRACT_H

#include "postgres.h"

/* what stood at a kept path */
typedef enum XType
{
	XT_ABSENT = 0, XT_NULL, XT_STRING, XT_NUMBER, XT_BOOL, XT_CONTAINER
} XType;

typedef struct XValue
{
	XType		type;
	const char *s;				/* the scalar's text (de-escaped, NUL-terminated);
								 * XF_RAW containers: their JSON text */
	int			len;
	bool		list;			/* an XF_LIST field given as an array (maybe empty) */
	struct XValue *more;		/* further values (of a list, or of a path that crosses an array) */
} XValue;

/*
 * A record declaration: the paths kept from one kind of object, relative to
 * it.  A path is keys joined by '.', "*" for the elements of an array, and
 * alternatives of a key by '|' (REST and GraphQL spellings):
 * "product_type|productType", "inventoryItem.id",
 * "totalPriceSet.shopMoney.amount", "refunds.*.transactions.*.amount".  A
 * path that crosses an array keeps every value (XValue.more).  A field
 * declared XF_LIST also takes an array of scalars in place of one scalar
 * (GraphQL tags).  Child records are nested lists: a path to the child
 * objects ("variants.*", "variants.nodes.*", "variants.edges.*.node").
 */
#define XF_LIST 0x01
#define XF_RAW	0x02			/* an object or array here is kept as its JSON
								 * text (XT_CONTAINER with s set) */

typedef struct XFieldDecl
{
	const char *path;
	int			flags;
} XFieldDecl;

typedef struct XRecordDecl XRecordDecl;

typedef struct XChildDecl
{
	const char *path;			/* to each child object */
	const XRecordDecl *record;
} XChildDecl;

struct XRecordDecl
{
	const char *name;			/* "product", for messages */
	const XFieldDecl *fields;
	int			nfields;
	const XChildDecl *children; /* kinds of child records */
	int			nchildren;
};

/* A record read from a payload. */
typedef struct XRecord
{
	const XRecordDecl *decl;
	XValue	   *v;				/* one per declared field */
	bool		not_object;		/* an element that should be this record is a scalar */
	uint32		has_children;	/* bit k: a list of children of kind k was present */
	struct XRecord **children;	/* of every kind, in document order (see decl) */
	int			nchildren;
	int			capchildren;
	struct XRecord *parent;		/* the record it is a child of, or NULL */
	XValue	   *v2;				/* jsonl: the values read as child_decl's fields */
	const char *src;			/* jsonl: the line it was read from (in the document) */
	int			srclen;
} XRecord;

/*
 * Where the top-level records of a document are: paths from the root
 * ("products.*", "data.products.nodes.*", "data.products.edges.*.node",
 * "data.product"; "" for the root object itself).  wrapper: the root
 * object is the record unless it has this key holding an object, which is
 * then the record instead (webhooks send {"product": {...}} or the product
 * itself).  jsonl: the text is lines of one object each, each line a record
 * of decl, or of child_decl when it has the field parent_field (bulk
 * operation results: "__parentId").
 */
typedef struct XShape
{
	const char *name;
	const char *const *roots;
	int			nroots;
	const char *marker;			/* a container here means the list is present */
	bool		marker_array;	/* ... if it is an array (else an object) */
	const char *wrapper;
	bool		jsonl;
	const XRecordDecl *decl;
	const XRecordDecl *child_decl;	/* jsonl: the record of a line with a parent */
	int			parent_field;	/* jsonl: index in child_decl of the parent id */
} XShape;

/* called with each top-level record (its memory lives until the call returns) */
typedef void (*XEmit) (void *arg, XRecord *rec);

typedef struct XResult
{
	bool		saw_root;		/* the marker's container (or a record) was present */
} XResult;

extern void extract_run(const XShape *shape, const char *doc, size_t len,
						XEmit emit, void *arg, XResult *result);

#endif
