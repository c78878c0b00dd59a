/*
 * rows.c — typed rows from any payload, by a resource's declaration.
 *
 * The declaration (resource.h) lists each table's columns with the path of
 * their value in a GraphQL node and in a REST object and their type.  From
 * it, once per process, the paths a payload shape keeps are compiled for
 * extract.c (one streaming pass); each record it hands over becomes rows:
 *
 *   a node       a row of the resource's table (locations, collections), or
 *                for products no row of its own: its columns (COLF_PARENT_REC)
 *                are copied onto each of its children's rows;
 *   its children a row each of the child table (variants, collection
 *                memberships, inventory levels, metafields), with the
 *                node's id (COL_PARENT) and their position among its children;
 *   a bulk line  a node's or, with __parentId, a child's (positions counted
 *                per node across the batches of one result);
 *   a webhook    a REST object: a node (with its children, if it carries
 *                them), or a child table's row of its own (an inventory
 *                level names its location).
 *
 * Values are converted to the column's type without throwing (convert.c);
 * a value that does not convert makes its row fail, with a reason naming
 * the value ("price is not a decimal number"), checked in the order the
 * columns are declared; the row is counted failed and nothing of it is
 * stored, while the rest of the payload goes on.  A column a REST object
 * does not carry (rest = "") is marked absent: the stored value stays.
 * Personal columns are NULL unless the caller keeps them.
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "mirror/convert.h"
#include "mirror/rows_shape.h"

/* ----- values ----- */

static const char *
label_of(const ColumnDecl *c)
{
	return c->label ? c->label : c->name;
}

/* the reason a value of column c does not convert */
static const char *
bad_value(const ColumnDecl *c, const XValue *x)
{
	const char *l = label_of(c);

	switch (c->type)
	{
		case COL_ID:
		case COL_PARENT:
			return (c->flags & COLF_REQUIRED) ?
				psprintf("%s missing or not a positive 64-bit integer", l) :
				(c->flags & COLF_POSITIVE) ? psprintf("%s is not a positive 64-bit integer", l) :
				psprintf("%s is not a 64-bit integer", l);
		case COL_INT4:
			return psprintf("%s is not a 32-bit integer", l);
		case COL_INT8:
			return psprintf("%s is not a 64-bit integer", l);
		case COL_NUMERIC:
			return psprintf("%s is not a decimal number", l);
		case COL_TEXT:
			return psprintf("%s is not a string of at most 64 kB", l);
		case COL_ENUM:
			return psprintf("%s is not a string", l);
		case COL_BOOL:
			return psprintf("%s is not true or false", l);
		case COL_TIMESTAMPTZ:
			return (c->flags & COLF_REQUIRED) ? psprintf("%s missing or not a timestamp", l) :
				psprintf("%s is not a timestamp", l);
		case COL_TAGS:
			return x->list ? psprintf("%s are not an array of strings of at most 64 kB", l) :
				psprintf("%s are not a string of at most 64 kB", l);
		default:
			return psprintf("%s is not valid", l);
	}
}

/* Convert x into column col of row; the row's first failure is kept. */
static void
put(RowOut *row, const TableDecl *t, int col, const XValue *x, const XRecord *rec,
	const RowsOptions *opt)
{
	const ColumnDecl *c = &t->columns[col];
	Datum	   *out = &row->values[col];
	FieldStatus st = FS_NULL;
	Scalar		s = conv_scalar_of(x);
	int64		i64 = 0;
	int32		i32 = 0;

	if (c->compute && rec)
	{
		ComputeResult cr = c->compute(t, rec, col, out);

		if (cr != CR_PATH)
		{
			st = cr == CR_SET ? FS_OK : cr == CR_NULL ? FS_NULL : FS_BAD;
			goto done;
		}
	}
	switch (c->type)
	{
		case COL_ID:
		case COL_PARENT:
		case COL_INT8:
			st = conv_int64(&s, &i64);
			*out = Int64GetDatum(i64);
			if (st == FS_OK && (c->flags & COLF_POSITIVE) && i64 <= 0)
			{
				/* a required id's row fails naming the id; another is NULL */
				if (c->flags & COLF_REQUIRED)
				{
					row->nulls[col] = false;
					if (row->error == NULL)
						row->error = bad_value(c, x);
					return;
				}
				st = FS_BAD;
			}
			break;
		case COL_INT4:
			st = conv_int32(&s, &i32);
			*out = Int32GetDatum(i32);
			break;
		case COL_NUMERIC:
			st = conv_numeric(&s, out);
			break;
		case COL_TEXT:
			st = conv_text(&s, out);
			break;
		case COL_ENUM:
			st = conv_enum(&s, out);
			break;
		case COL_BOOL:
			st = conv_bool(&s, out);
			break;
		case COL_TIMESTAMPTZ:
			st = conv_timestamptz(&s, out);
			break;
		case COL_JSONB:
			st = conv_jsonb(x, out);
			break;
		case COL_TAGS:
			st = conv_tags(x, out);
			break;
		case COL_CONST:
			*out = CStringGetTextDatum(c->path);
			st = FS_OK;
			break;
		case COL_POSITION:
			st = FS_NULL;
			break;
	}
done:
	if (st == FS_NULL && (c->flags & COLF_REQUIRED))
		st = FS_BAD;
	if ((c->flags & COLF_PERSONAL) && !opt->personal)
		st = FS_NULL;
	row->nulls[col] = (st != FS_OK);
	if (st == FS_BAD && row->error == NULL)
		row->error = bad_value(c, x);
}

/* ----- rows ----- */

#define MAX_COLUMNS 64

/* the arrays of a row under construction (a node's row, and a child's) */
typedef struct RowArrays
{
	Datum		values[MAX_COLUMNS];
	bool		nulls[MAX_COLUMNS];
	bool		absent[MAX_COLUMNS];
} RowArrays;

typedef struct Builder
{
	Compiled   *c;
	const RowsOptions *opt;
	RowEmit		emit;
	void	   *arg;
	MemoryContext cxt;
	RowArrays	arrays[2];		/* [0] a node's row, [1] a child's */
} Builder;

static void
start_row(Builder *b, RowOut *row, const TableDecl *t, bool child)
{
	RowArrays  *a = &b->arrays[child ? 1 : 0];

	if (t->ncolumns > MAX_COLUMNS)
		elog(ERROR, "table %s has more than %d columns", t->name, MAX_COLUMNS);
	memset(row, 0, sizeof(*row));
	row->table = t;
	row->is_child = child;
	row->child_more = -1;
	row->values = a->values;
	row->nulls = a->nulls;
	row->absent = a->absent;
	memset(a->nulls, true, sizeof(bool) * t->ncolumns);
	memset(a->absent, false, sizeof(bool) * t->ncolumns);
	/* REST objects do not carry what has no REST path */
	if (!b->c->graphql)
		for (int i = 0; i < t->ncolumns; i++)
			if (t->columns[i].rest && t->columns[i].rest[0] == '\0' &&
				t->columns[i].type != COL_CONST)
				row->absent[i] = true;
}

static void
emit(Builder *b, RowOut *row, const XRecord *rec)
{
	row->ok = (row->error == NULL);
	if (rec && rec->src)
	{
		row->src = rec->src;
		row->srclen = rec->srclen;
	}
	b->emit(b->arg, row);
}

/* the node's own columns (its table's, or the child table's COLF_PARENT_REC) */
static void
node_columns(Builder *b, RowOut *row, const TableDecl *t, const XRecord *node, bool only_node)
{
	for (int i = 0; i < t->ncolumns; i++)
	{
		const ColumnDecl *c = &t->columns[i];

		if (only_node && !(c->flags & COLF_PARENT_REC))
			continue;
		if (c->flags & COLF_HIDDEN && !c->compute)
			continue;
		put(row, t, i, node ? &node->v[i] : &(XValue) {0}, node, b->opt);
	}
}

static int64
node_id(Builder *b, const XRecord *node)
{
	Scalar		s = conv_scalar_of(&node->v[b->c->n_id]);
	int64		id = 0;

	if (conv_int64(&s, &id) != FS_OK || id <= 0)
		return 0;
	return id;
}

/* position among the node's children in a bulk result */
static int
bulk_position(Builder *b, int64 parent)
{
	bool		found;
	struct
	{
		int64		key;
		int			n;
	}		   *e;

	if (b->opt->positions == NULL)
		return 0;
	e = hash_search(b->opt->positions, &parent, HASH_ENTER, &found);
	if (!found)
		e->n = 0;
	return ++e->n;
}

/*
 * A child's row: its own columns, its node's (products: the node's columns;
 * else the node's id), its position.  node NULL: a bulk line or a REST
 * object of its own (the parent from __parentId, or its REST path).
 */
static void
child_row(Builder *b, const XRecord *node, const RowOut *node_row, const XRecord *ch,
		  int index)
{
	const TableDecl *t = b->c->res->child_table;
	RowOut		row;
	int64		parent = 0;

	start_row(b, &row, t, true);
	if (node_row)
	{
		/* products: the node's columns, and its failure first */
		for (int i = 0; i < t->ncolumns; i++)
			if (t->columns[i].flags & COLF_PARENT_REC)
			{
				row.values[i] = node_row->values[i];
				row.nulls[i] = node_row->nulls[i];
			}
		row.error = node_row->error;
	}
	if (ch && ch->not_object && row.error == NULL)
		row.error = psprintf("%s is not an object", t->record);
	for (int i = 0; i < t->ncolumns; i++)
	{
		const ColumnDecl *c = &t->columns[i];

		if ((c->flags & COLF_PARENT_REC) && (node_row || c->type != COL_PARENT))
			continue;			/* the node's: copied above, or none (a bulk line) */
		if (c->type == COL_PARENT && b->c->graphql)
		{
			if (node)
			{
				parent = node_id(b, node);
				row.values[i] = Int64GetDatum(parent);
				row.nulls[i] = (parent == 0);
				if (parent == 0 && row.error == NULL)
					row.error = bad_value(c, &(XValue) {0});
			}
			else if (ch)
			{
				Scalar		s = conv_scalar_of(&ch->v[b->c->c_parent]);

				if (conv_int64(&s, &parent) != FS_OK || parent <= 0)
				{
					parent = 0;
					if (row.error == NULL)
						row.error = psprintf("__parentId is not a %s", label_of(c));
				}
				row.values[i] = Int64GetDatum(parent);
				row.nulls[i] = (parent == 0);
			}
			continue;
		}
		if (c->type == COL_POSITION)
		{
			int			pos = node ? index + 1 + b->opt->position_offset :
				b->c->shape == RS_BULK ? bulk_position(b, parent) : 0;

			row.values[i] = Int32GetDatum(pos);
			row.nulls[i] = (pos <= 0);
			continue;
		}
		if (c->flags & COLF_HIDDEN && !c->compute)
			continue;
		put(&row, t, i, ch && !ch->not_object ? &ch->v[i] : &(XValue) {0}, ch, b->opt);
		if (i == t->key && node_row && b->c->res->child_check && ch && !ch->not_object)
		{
			/* a child's own parent id (REST variants' product_id) must be its node's */
			Scalar		s = conv_scalar_of(&ch->v[b->c->c_check]);
			int64		own = 0;
			FieldStatus st = conv_int64(&s, &own);

			if ((st == FS_BAD || (st == FS_OK && (node_row->nulls[t->parent] ||
												  own != DatumGetInt64(node_row->values[t->parent])))) &&
				row.error == NULL)
				row.error = psprintf("%s %s does not match its %s", t->record,
									 b->c->res->child_check, b->c->res->node_record);
		}
		if (c->type == COL_PARENT)
			parent = row.nulls[i] ? 0 : DatumGetInt64(row.values[i]);
	}
	row.parent_id = parent;
	emit(b, &row, ch ? ch : node);
}

static void
node_rows(Builder *b, XRecord *rec)
{
	const ResourceDecl *r = b->c->res;
	RowOut		nrow;

	if (b->c->products_style)
	{
		/* the node's columns go onto each child's row */
		start_row(b, &nrow, r->child_table, false);
		if (rec->not_object)
			nrow.error = psprintf("%s is not an object", r->node_record);
		else
			node_columns(b, &nrow, r->child_table, rec, true);
		if (b->c->shape == RS_BULK)
		{
			nrow.node_only = true;
			emit(b, &nrow, rec);
			return;
		}
		if (rec->not_object || (r->children_required && rec->has_children == 0))
		{
			if (nrow.error == NULL)
				nrow.error = psprintf("%s has no %s array", r->node_record,
									  r->gql && r->gql->child ? r->gql->child : "children");
			nrow.is_child = true;
			emit(b, &nrow, rec);
			return;
		}
		for (int i = 0; i < rec->nchildren; i++)
			child_row(b, rec, &nrow, rec->children[i], i);
		return;
	}
	if (r->table && !b->opt->children_only)
	{
		start_row(b, &nrow, r->table, false);
		if (rec->not_object)
			nrow.error = psprintf("%s is not an object", r->table->record);
		else
			node_columns(b, &nrow, r->table, rec, false);
		if (b->c->shape == RS_GRAPHQL_PAGE && r->child_table)
		{
			const XValue *m = &rec->v[b->c->n_more];

			nrow.child_more = (m->type == XT_BOOL && m->len == 4) ? 1 : 0;
		}
		emit(b, &nrow, rec);
	}
	else if (r->table == NULL && b->c->shape == RS_GRAPHQL_PAGE && r->child_table && !rec->not_object)
	{
		/* a node without a row of its own: whether its children are all here */
		const XValue *m = &rec->v[b->c->n_more];

		memset(&nrow, 0, sizeof(nrow));
		nrow.parent_id = node_id(b, rec);
		nrow.child_more = (m->type == XT_BOOL && m->len == 4) ? 1 : 0;
		b->emit(b->arg, &nrow);
	}
	if (r->child_table && !rec->not_object)
		for (int i = 0; i < rec->nchildren; i++)
			child_row(b, rec, NULL, rec->children[i], i);
}

static void
build(void *arg, XRecord *rec)
{
	Builder    *b = (Builder *) arg;
	MemoryContext old = MemoryContextSwitchTo(b->cxt);

	if (b->c->shape == RS_BULK && rec->decl == &b->c->child)
		child_row(b, NULL, NULL, rec, 0);
	else if (b->c->standalone)
		child_row(b, NULL, NULL, rec, 0);
	else if (b->c->shape == RS_BULK && !b->c->products_style && b->c->res->table == NULL)
		;						/* a node line that only carries its children */
	else
		node_rows(b, rec);
	MemoryContextSwitchTo(old);
	MemoryContextReset(b->cxt);
}

/*
 * The rows of a payload of the resource, one emit() call each.  *saw_list:
 * the payload had the list (page shapes; a page without it is not one).
 */
void
rows_parse(const ResourceDecl *r, RowsShape shape, const char *doc, size_t len,
		   const RowsOptions *opt, RowEmit emit_fn, void *arg, bool *saw_list)
{
	RowsOptions dflt = {0};
	Builder		b;
	XResult		res;

	b.c = rows_compile(r, shape);
	b.opt = opt ? opt : &dflt;
	b.emit = emit_fn;
	b.arg = arg;
	b.cxt = AllocSetContextCreate(CurrentMemoryContext, "shopify_sync rows",
								  ALLOCSET_DEFAULT_SIZES);
	extract_run(&b.c->x, doc, len, build, &b, &res);
	MemoryContextDelete(b.cxt);
	if (saw_list)
		*saw_list = res.saw_root || b.c->x.marker == NULL;
}

/* A table of children counted per node, for the batches of one bulk result. */
HTAB *
rows_position_table(MemoryContext cxt)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(int64) * 2;
	ctl.hcxt = cxt;
	return hash_create("shopify_sync positions", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}
