/*
 * tables.c — the write path of every resource of kind RESOURCE_TABLES,
 * from its declaration alone: locations, inventory levels, collections and
 * their products, metafields, customers (and whatever is declared next).
 *
 * A payload (a page, a node's further children, a batch of bulk lines, a
 * webhook object) becomes typed rows (rows.c), and then, per table, one
 * statement: INSERT ... SELECT FROM unnest(one array per column) ON
 * CONFLICT (shop_id, key) DO UPDATE ... WHERE the row differs — unchanged
 * rows are not rewritten — and never back in time: a row whose stored
 * updated_at is newer than the payload's is left alone (a late webhook, a
 * page fetched before a webhook was applied).  Rows repeated in a payload
 * count once (the last).  A column the payload does not carry (a REST
 * webhook without it) keeps its stored value.
 *
 * Deletes: a node that carries its complete list of children (a GraphQL
 * page whose child connection has no next page; the last of a node's
 * further pages, with the keys of the pages before) loses the children it
 * no longer lists — deleted where the table holds memberships or values
 * (collection products, metafields, inventory levels), deactivated where it
 * holds things (locations, collections, customers).  A full sync records
 * the keys it was given per table in shopify.sync_seen_keys, one row per
 * payload, and its sweep (mirror_sweep_tables) removes what it did not see
 * and was not written since the job began.
 *
 * Counts: processed = rows received = created + updated + unchanged +
 * failed.  The caller provides the transaction and the SPI connection;
 * statements are prepared once per process and table.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "base/util.h"
#include "mirror/mirror.h"
#include "mirror/rows.h"
#include "mirror/tables.h"

/* ----- the rows of a payload, per table ----- */

typedef struct TableRows
{
	const TableDecl *t;
	int			n;
	int			cap;
	Datum	  **values;			/* per column: the rows' values */
	bool	  **nulls;
	bool		absent[64];		/* columns the payload does not carry */
	HTAB	   *seen;			/* key → row index (the last of a key wins) */
} TableRows;

typedef struct Collect
{
	const ResourceDecl *r;
	MemoryContext cxt;			/* the write's (rows are handed over in the reader's) */
	TableRows	nodes;			/* rows of r->table */
	TableRows	children;		/* rows of r->child_table */
	int			failed;
	int			processed;
	int			nnodes;
	char	   *errors;			/* a few reasons */
	int			nerrors;
	/* nodes whose children are all in the payload, and those that continue */
	int64	   *complete;
	int			ncomplete;
	int64	   *incomplete;
	int			nincomplete;
	int			capnodes;
} Collect;

typedef struct RowKey
{
	int64		k1;
	int64		k2;
} RowKey;

typedef struct RowKeyEntry
{
	RowKey		key;
	int			index;
} RowKeyEntry;

static void
init_rows(TableRows *tr, const TableDecl *t)
{
	HASHCTL		ctl;

	memset(tr, 0, sizeof(*tr));
	tr->t = t;
	if (t == NULL)
		return;
	tr->cap = 64;
	tr->values = palloc(sizeof(Datum *) * t->ncolumns);
	tr->nulls = palloc(sizeof(bool *) * t->ncolumns);
	for (int c = 0; c < t->ncolumns; c++)
	{
		tr->values[c] = palloc(sizeof(Datum) * tr->cap);
		tr->nulls[c] = palloc(sizeof(bool) * tr->cap);
	}
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(RowKey);
	ctl.entrysize = sizeof(RowKeyEntry);
	ctl.hcxt = CurrentMemoryContext;
	tr->seen = hash_create("shopify_sync row keys", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static int64
key_of(const RowOut *row, int col)
{
	return col < 0 || row->nulls[col] ? 0 : DatumGetInt64(row->values[col]);
}

static void
add_row(TableRows *tr, const RowOut *row)
{
	const TableDecl *t = tr->t;
	RowKey		key;
	RowKeyEntry *e;
	bool		found;
	int			i;

	memset(&key, 0, sizeof(key));
	key.k1 = key_of(row, t->key);
	key.k2 = key_of(row, t->key2);
	e = hash_search(tr->seen, &key, HASH_ENTER, &found);
	if (found)
		i = e->index;			/* the last of a key wins */
	else
	{
		if (tr->n == tr->cap)
		{
			tr->cap *= 2;
			for (int c = 0; c < t->ncolumns; c++)
			{
				tr->values[c] = repalloc(tr->values[c], sizeof(Datum) * tr->cap);
				tr->nulls[c] = repalloc(tr->nulls[c], sizeof(bool) * tr->cap);
			}
		}
		i = e->index = tr->n++;
	}
	for (int c = 0; c < t->ncolumns; c++)
	{
		const ColumnDecl *col = &t->columns[c];

		tr->nulls[c][i] = row->nulls[c];
		tr->values[c][i] = row->nulls[c] ? (Datum) 0 :
			datumCopy(row->values[c], col_byval(col), col_typlen(col));
		tr->absent[c] = row->absent[c];
	}
}

static void
note_node(Collect *cl, int64 id, int more)
{
	if (id <= 0 || more < 0)
		return;
	if (cl->capnodes == 0)
	{
		cl->capnodes = 64;
		cl->complete = palloc(sizeof(int64) * cl->capnodes);
		cl->incomplete = palloc(sizeof(int64) * cl->capnodes);
	}
	if (cl->ncomplete == cl->capnodes || cl->nincomplete == cl->capnodes)
	{
		cl->capnodes *= 2;
		cl->complete = repalloc(cl->complete, sizeof(int64) * cl->capnodes);
		cl->incomplete = repalloc(cl->incomplete, sizeof(int64) * cl->capnodes);
	}
	if (more == 0)
		cl->complete[cl->ncomplete++] = id;
	else
		cl->incomplete[cl->nincomplete++] = id;
}

static void collect_row_in(Collect *cl, const RowOut *row);

static void
collect_row(void *arg, const RowOut *row)
{
	Collect    *cl = (Collect *) arg;
	MemoryContext old = MemoryContextSwitchTo(cl->cxt);

	collect_row_in(cl, row);
	MemoryContextSwitchTo(old);
}

static void
collect_row_in(Collect *cl, const RowOut *row)
{
	if (row->table == NULL)
	{
		/* a node without a table of its own: only whether its children are all here */
		cl->nnodes++;
		note_node(cl, row->parent_id, row->child_more);
		return;
	}
	cl->processed++;
	if (!row->is_child)
		cl->nnodes++;
	if (!row->ok)
	{
		cl->failed++;
		if (cl->nerrors < 5 && row->error)
		{
			cl->errors = cl->errors ? psprintf("%s; %s", cl->errors, row->error) : pstrdup(row->error);
			cl->nerrors++;
		}
		return;
	}
	if (row->is_child)
		add_row(&cl->children, row);
	else
	{
		add_row(&cl->nodes, row);
		note_node(cl, key_of(row, row->table->key), row->child_more);
	}
}

/* ----- the statements ----- */

typedef struct WritePlan
{
	const TableDecl *t;
	bool		rest;			/* only the columns REST objects carry */
	SPIPlanPtr	plan;
	int			nargs;
	int		   *cols;			/* the column of each array argument */
	struct WritePlan *next;
} WritePlan;

static WritePlan *plans = NULL;

/* the table's own scope: its constant columns (metafields: owner_type) */
static void
append_scope(StringInfo q, const TableDecl *t, const char *alias)
{
	for (int c = 0; c < t->ncolumns; c++)
		if (t->columns[c].type == COL_CONST)
			appendStringInfo(q, " AND %s%s = %s", alias, quote_identifier(t->columns[c].name),
							 quote_literal_cstr(t->columns[c].path));
}

static WritePlan *
write_plan(const TableDecl *t, const bool *absent)
{
	bool		rest = false;
	WritePlan  *p;
	StringInfoData q,
				cols,
				sets,
				cmp_old,
				cmp_new;
	Oid		   *types;
	MemoryContext old;

	for (int c = 0; c < t->ncolumns; c++)
		rest |= absent[c];
	for (p = plans; p; p = p->next)
		if (p->t == t && p->rest == rest)
			return p;

	old = MemoryContextSwitchTo(TopMemoryContext);
	p = palloc0(sizeof(WritePlan));
	p->t = t;
	p->rest = rest;
	p->cols = palloc(sizeof(int) * t->ncolumns);
	types = palloc(sizeof(Oid) * (t->ncolumns + 1));
	types[0] = INT8OID;
	initStringInfo(&q);
	initStringInfo(&cols);
	initStringInfo(&sets);
	initStringInfo(&cmp_old);
	initStringInfo(&cmp_new);
	for (int c = 0; c < t->ncolumns; c++)
	{
		const ColumnDecl *col = &t->columns[c];
		const char *name = quote_identifier(col->name);

		if ((col->flags & COLF_HIDDEN) || absent[c])
			continue;
		p->cols[p->nargs] = c;
		types[p->nargs + 1] = get_array_type(col_type(col));
		appendStringInfo(&cols, "%s%s", p->nargs ? ", " : "", name);
		p->nargs++;
		if (c == t->key || c == t->key2 || col->type == COL_CONST)
			continue;
		appendStringInfo(&sets, "%s = EXCLUDED.%s, ", name, name);
		appendStringInfo(&cmp_old, "%st.%s", cmp_old.len ? ", " : "", name);
		appendStringInfo(&cmp_new, "%sEXCLUDED.%s", cmp_new.len ? ", " : "", name);
	}
	appendStringInfo(&q, "WITH w AS (INSERT INTO %s AS t (shop_id, %s) SELECT $1, r.* FROM unnest(",
					 t->name, cols.data);
	for (int i = 0; i < p->nargs; i++)
		appendStringInfo(&q, "%s$%d", i ? ", " : "", i + 2);
	appendStringInfo(&q, ") AS r ON CONFLICT (shop_id, %s%s%s) DO UPDATE SET %s"
					 " is_active = true, deactivated_at = NULL, last_synced_at = now()"
					 " WHERE (ROW(%s) IS DISTINCT FROM ROW(%s) OR NOT t.is_active)",
					 quote_identifier(t->columns[t->key].name), t->key2 >= 0 ? ", " : "",
					 t->key2 >= 0 ? quote_identifier(t->columns[t->key2].name) : "",
					 sets.data, cmp_old.len ? cmp_old.data : "true",
					 cmp_new.len ? cmp_new.data : "true");
	if (t->newer >= 0 && !absent[t->newer])
		appendStringInfo(&q, " AND (t.%s IS NULL OR EXCLUDED.%s IS NULL OR EXCLUDED.%s >= t.%s)",
						 t->columns[t->newer].name, t->columns[t->newer].name,
						 t->columns[t->newer].name, t->columns[t->newer].name);
	appendStringInfoString(&q, " RETURNING (t.xmax = 0) AS created)"
						   " SELECT count(*) FILTER (WHERE created)::int, count(*) FILTER (WHERE NOT created)::int FROM w");
	p->plan = SPI_prepare(q.data, p->nargs + 1, types);
	if (p->plan == NULL)
		elog(ERROR, "SPI_prepare failed for the write of %s: %s", t->name,
			 SPI_result_code_string(SPI_result));
	SPI_keepplan(p->plan);
	p->next = plans;
	plans = p;
	MemoryContextSwitchTo(old);
	return p;
}

/* Upsert a table's rows; adds to created and updated. */
static void
write_rows(TableRows *tr, int64 shop_id, int *created, int *updated)
{
	WritePlan  *p;
	Datum	   *args;
	bool		isnull;
	int			level;

	if (tr->t == NULL || tr->n == 0)
		return;
	p = write_plan(tr->t, tr->absent);
	args = palloc(sizeof(Datum) * (p->nargs + 1));
	args[0] = Int64GetDatum(shop_id);
	for (int i = 0; i < p->nargs; i++)
	{
		int			c = p->cols[i];

		args[i + 1] = shopify_array_of(tr->values[c], tr->nulls[c], tr->n,
									   col_type(&tr->t->columns[c]));
	}
	level = shopify_index_lookups_begin();
	if (SPI_execute_plan(p->plan, args, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "the write of %s failed", tr->t->name);
	shopify_index_lookups_end(level);
	*created += DatumGetInt32(shopify_spi_value(0, 1, &isnull));
	*updated += DatumGetInt32(shopify_spi_value(0, 2, &isnull));
}

/* the keys of a table's rows (k2: NULL for a one-column key) */
static void
keys_of(TableRows *tr, Datum *k1, Datum *k2)
{
	int64	   *a = palloc(sizeof(int64) * Max(tr->n, 1));
	int64	   *b = palloc(sizeof(int64) * Max(tr->n, 1));

	for (int i = 0; i < tr->n; i++)
	{
		a[i] = DatumGetInt64(tr->values[tr->t->key][i]);
		b[i] = tr->t->key2 >= 0 ? DatumGetInt64(tr->values[tr->t->key2][i]) : 0;
	}
	*k1 = shopify_int8_array(a, tr->n);
	*k2 = shopify_int8_array(b, tr->n);
}

static void
record_seen(TableRows *tr, int64 job_id)
{
	Oid			types[4] = {INT8OID, TEXTOID, INT8ARRAYOID, INT8ARRAYOID};
	Datum		v[4];

	if (tr->t == NULL || tr->n == 0 || job_id <= 0)
		return;
	v[0] = Int64GetDatum(job_id);
	v[1] = CStringGetTextDatum(tr->t->name);
	keys_of(tr, &v[2], &v[3]);
	shopify_spi_run("INSERT INTO shopify.sync_seen_keys (job_id, tbl, k1, k2) VALUES ($1, $2, $3, $4)",
					4, types, v, NULL, false);
}

/* what removing rows of t means: DELETE, or deactivate */
static void
append_removal(StringInfo q, const TableDecl *t)
{
	if (t->remove_rows)
		appendStringInfo(&*q, "DELETE FROM %s AS t", t->name);
	else
		appendStringInfo(&*q, "UPDATE %s AS t SET is_active = false, deactivated_at = now()", t->name);
}

/*
 * The children of the complete nodes (parents) that the payload's children
 * (listed: parent, key pairs) no longer include go.  Returns how many.
 */
static int
remove_unlisted_children(const TableDecl *t, int64 shop_id, int64 *parents, int nparents,
						 int64 *lp, int64 *lk, int nlisted)
{
	StringInfoData q;
	Oid			types[4] = {INT8OID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID};
	Datum		v[4];

	if (nparents == 0)
		return 0;
	initStringInfo(&q);
	append_removal(&q, t);
	appendStringInfo(&q, " WHERE t.shop_id = $1 AND t.%s = ANY($2) AND t.is_active",
					 quote_identifier(t->columns[t->parent].name));
	append_scope(&q, t, "t.");
	appendStringInfo(&q, " AND NOT EXISTS (SELECT 1 FROM unnest($3::bigint[], $4::bigint[]) l(p, k)"
					 " WHERE l.p = t.%s AND l.k = t.%s)",
					 quote_identifier(t->columns[t->parent].name),
					 quote_identifier(t->columns[t->key].name));
	v[0] = Int64GetDatum(shop_id);
	v[1] = shopify_int8_array(parents, nparents);
	v[2] = shopify_int8_array(lp, nlisted);
	v[3] = shopify_int8_array(lk, nlisted);
	return shopify_spi_exec(q.data, 4, types, v, NULL, false);
}


/*
 * Write a payload of resource w->r (see tables.h).  Children of nodes whose
 * lists continue elsewhere are handed back in out->pending_* (their node,
 * their key), for the caller to pass with the node's last page.
 */
void
mirror_write_tables(const char *doc, size_t len, const TablesWrite *w, MirrorCounts *out)
{
	const ResourceDecl *r = w->r;
	Collect		cl;
	RowsOptions opt;
	bool		saw_list;
	int			created = 0,
				updated = 0;

	memset(out, 0, sizeof(*out));
	memset(&cl, 0, sizeof(cl));
	cl.r = r;
	cl.cxt = CurrentMemoryContext;
	init_rows(&cl.nodes, r->table);
	init_rows(&cl.children, r->child_table);
	memset(&opt, 0, sizeof(opt));
	opt.personal = w->personal;
	opt.children_only = w->children_only;
	opt.position_offset = w->position_offset;
	opt.positions = w->positions;
	rows_parse(r, w->shape, doc, len, &opt, collect_row, &cl, &saw_list);
	if (!saw_list)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("Shopify answer has no %s", r->gql && r->gql->connection ? r->gql->connection : r->name)));

	write_rows(&cl.nodes, w->shop_id, &created, &updated);
	write_rows(&cl.children, w->shop_id, &created, &updated);
	record_seen(&cl.nodes, w->seen_job_id);
	record_seen(&cl.children, w->seen_job_id);

	/* children no longer listed by a node whose list is complete here */
	if (r->child_table && r->child_deletes == DELETES_CHILD_LIST)
	{
		TableRows  *ch = &cl.children;
		int			np = cl.ncomplete + (w->complete_node > 0 ? 1 : 0);
		int64	   *parents = palloc(sizeof(int64) * Max(np, 1));
		int64	   *lp = palloc(sizeof(int64) * Max(ch->n + w->nextra, 1));
		int64	   *lk = palloc(sizeof(int64) * Max(ch->n + w->nextra, 1));
		int			nl = 0;

		memcpy(parents, cl.complete, sizeof(int64) * cl.ncomplete);
		if (w->complete_node > 0)
			parents[cl.ncomplete] = w->complete_node;
		for (int i = 0; i < ch->n; i++)
		{
			lp[nl] = DatumGetInt64(ch->values[r->child_table->parent][i]);
			lk[nl++] = DatumGetInt64(ch->values[r->child_table->key][i]);
		}
		for (int i = 0; i < w->nextra; i++)
		{
			lp[nl] = w->complete_node;
			lk[nl++] = w->extra_keys[i];
		}
		out->deactivated = remove_unlisted_children(r->child_table, w->shop_id, parents, np,
													lp, lk, nl);
		/* the listed children of nodes that continue on further pages */
		if (cl.nincomplete > 0)
		{
			out->pending_pids = palloc(sizeof(int64) * Max(ch->n, 1));
			out->pending_ids = palloc(sizeof(int64) * Max(ch->n, 1));
			for (int i = 0; i < ch->n; i++)
			{
				int64		p = DatumGetInt64(ch->values[r->child_table->parent][i]);

				if (shopify_int64_in(p, cl.incomplete, cl.nincomplete))
				{
					out->pending_pids[out->npending] = p;
					out->pending_ids[out->npending++] = DatumGetInt64(ch->values[r->child_table->key][i]);
				}
			}
		}
	}
	out->processed = cl.processed;
	out->products = cl.nnodes;
	out->created = created;
	out->updated = updated;
	out->failed = cl.failed;
	/* (a key repeated in the payload: its earlier rows count as unchanged) */
	out->unchanged = cl.processed - cl.failed - created - updated;
	out->errors = cl.errors;
	Assert(out->processed == out->created + out->updated + out->unchanged + out->failed);
}

/* ----- the end of a full sync ----- */

/*
 * The store's active rows of the resource (in its scope) that were last
 * written before the job began: *nodes of its table, *children of its
 * child table (-1 when it has no such table).  With limit 1: whether any.
 */
void
mirror_tables_count(const ResourceDecl *r, int64 shop_id, int64 job_id, bool any,
					int64 *nodes, int64 *children)
{
	const TableDecl *ts[2] = {r->table, r->child_table};
	int64	   *out[2] = {nodes, children};

	for (int i = 0; i < 2; i++)
	{
		StringInfoData q;
		Oid			types[2] = {INT8OID, INT8OID};
		Datum		v[2] = {Int64GetDatum(shop_id), Int64GetDatum(job_id)};
		bool		isnull;

		*out[i] = -1;
		if (ts[i] == NULL)
			continue;
		initStringInfo(&q);
		appendStringInfo(&q, "SELECT count(*) FROM (SELECT 1 FROM %s t WHERE t.shop_id = $1 AND t.is_active"
						 " AND t.last_synced_at < coalesce((SELECT j.started_at FROM shopify.sync_jobs j"
						 " WHERE j.id = $2), now())", ts[i]->name);
		append_scope(&q, ts[i], "t.");
		appendStringInfo(&q, "%s) x", any ? " LIMIT 1" : "");
		shopify_spi_exec(q.data, 2, types, v, NULL, true);
		*out[i] = DatumGetInt64(shopify_spi_value(0, 1, &isnull));
	}
}

/*
 * The sweep of a complete full sync: the rows of the resource's tables (in
 * its scope) it was not given, and that nothing wrote since the job began
 * (a webhook), are gone from Shopify.  Forgets the job's keys.  Returns how
 * many rows went.
 */
int
mirror_sweep_tables(const ResourceDecl *r, int64 shop_id, int64 job_id)
{
	const TableDecl *ts[2] = {r->table, r->child_table};
	int			n = 0;
	Oid			types[3] = {INT8OID, INT8OID, TEXTOID};

	for (int i = 0; i < 2; i++)
	{
		const TableDecl *t = ts[i];
		StringInfoData q;
		Datum		v[3];

		if (t == NULL)
			continue;
		initStringInfo(&q);
		append_removal(&q, t);
		appendStringInfo(&q, " WHERE t.shop_id = $1 AND t.is_active AND t.last_synced_at <"
						 " (SELECT j.started_at FROM shopify.sync_jobs j WHERE j.id = $2)");
		append_scope(&q, t, "t.");
		appendStringInfo(&q, " AND NOT EXISTS (SELECT 1 FROM shopify.sync_seen_keys s,"
						 " unnest(s.k1, s.k2) u(k1, k2)"
						 " WHERE s.job_id = $2 AND s.tbl = $3 AND u.k1 = t.%s%s%s)",
						 quote_identifier(t->columns[t->key].name),
						 t->key2 >= 0 ? " AND u.k2 = t." : "",
						 t->key2 >= 0 ? quote_identifier(t->columns[t->key2].name) : "");
		v[0] = Int64GetDatum(shop_id);
		v[1] = Int64GetDatum(job_id);
		v[2] = CStringGetTextDatum(t->name);
		n += shopify_spi_exec(q.data, 3, types, v, NULL, false);
	}
	mirror_forget_seen_keys(job_id);
	return n;
}

void
mirror_forget_seen_keys(int64 job_id)
{
	Oid			types[1] = {INT8OID};
	Datum		v[1] = {Int64GetDatum(job_id)};

	shopify_spi_run("DELETE FROM shopify.sync_seen_keys WHERE job_id = $1", 1, types, v, NULL, false);
}
