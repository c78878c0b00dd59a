/*
 * rowinsert.c — rows into a table the way COPY puts them there.
 *
 * An INSERT ... SELECT FROM unnest(arrays) costs, besides the heap and its
 * indexes, a table function materialised into a tuplestore, a projection
 * per row, planning, and one foreign-key check per row: a query on the
 * referenced table with a row lock, queued as an after-trigger.  Measured
 * on a first sync of 100,000 variants, the foreign-key checks alone were a
 * fifth of the worker's time.  Here the rows go in as COPY FROM writes them
 * (table_multi_insert in batches, then each row's index entries), with the
 * table's NOT NULL and CHECK constraints and the defaults of the columns not
 * given, and the one foreign key that every row shares (the store) checked
 * once by the caller's lock on the referenced row instead of once per row.
 *
 * Only when nothing else must run: a table with any other trigger on insert
 * (a user's, another foreign key), rules, row security that applies to the
 * current role, partitions, generated columns, or a column whose type is
 * not the one the caller's values have (a user who altered it) is left to
 * the caller's INSERT statement, which the executor runs with all of that.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_relation.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteHandler.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/syscache.h"

#include "rowinsert.h"

#define BATCH 1000

/*
 * The batch's slots, kept for the process: making a thousand slots per page
 * (and pinning the relation's descriptor for each) was a twentieth of a
 * first sync.  They are made on a copy of the table's descriptor (not
 * reference-counted, so not tied to a transaction) and remade when the
 * table's row type changes.
 */
static MemoryContext slot_cxt = NULL;
static Oid	slot_relid = InvalidOid;
static TupleDesc slot_desc = NULL;
static TupleTableSlot *slot_cache[BATCH];

static void
slots_for(Relation rel)
{
	if (slot_cxt == NULL)
		slot_cxt = AllocSetContextCreate(TopMemoryContext, "shopify_sync row slots",
										 ALLOCSET_DEFAULT_SIZES);
	if (slot_relid == RelationGetRelid(rel) && slot_desc != NULL &&
		equalTupleDescs(slot_desc, RelationGetDescr(rel)))
	{
		for (int i = 0; i < BATCH && slot_cache[i] != NULL; i++)
			ExecClearTuple(slot_cache[i]);
		return;
	}
	MemoryContextReset(slot_cxt);
	memset(slot_cache, 0, sizeof(slot_cache));
	slot_desc = NULL;
	slot_relid = InvalidOid;
	{
		MemoryContext old = MemoryContextSwitchTo(slot_cxt);

		slot_desc = CreateTupleDescCopy(RelationGetDescr(rel));
		MemoryContextSwitchTo(old);
	}
	slot_relid = RelationGetRelid(rel);
}

static TupleTableSlot *
slot_at(int i)
{
	if (slot_cache[i] == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(slot_cxt);

		slot_cache[i] = MakeSingleTupleTableSlot(slot_desc, &TTSOpsHeapTuple);
		MemoryContextSwitchTo(old);
	}
	return slot_cache[i];
}

struct RowInsert
{
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	CommandId	cid;
	int			natts;
	int			ncols;			/* the caller's columns */
	int		   *attof;			/* caller column -> attribute index (0-based) */
	ExprState **defaults;		/* per attribute not given: its default, or NULL */
	bool	   *given;
	TupleTableSlot **slots;		/* slot_cache */
	int			nslots;
	int64		inserted;
};

/* Is trigger t the check of the foreign key on attnum referencing fk_relid? */
static bool
vouched_fk(Trigger *t, Oid fk_relid, AttrNumber attnum)
{
	HeapTuple	tup;
	Form_pg_constraint con;
	bool		ok = false;
	bool		isnull;
	Datum		d;

	if (t->tgfoid != F_RI_FKEY_CHECK_INS || !OidIsValid(t->tgconstraint) || !OidIsValid(fk_relid))
		return false;
	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(t->tgconstraint));
	if (!HeapTupleIsValid(tup))
		return false;
	con = (Form_pg_constraint) GETSTRUCT(tup);
	d = SysCacheGetAttr(CONSTROID, tup, Anum_pg_constraint_conkey, &isnull);
	if (con->contype == CONSTRAINT_FOREIGN && con->confrelid == fk_relid && !isnull)
	{
		ArrayType  *a = DatumGetArrayTypeP(d);

		ok = ARR_NDIM(a) == 1 && ARR_DIMS(a)[0] == 1 &&
			((int16 *) ARR_DATA_PTR(a))[0] == attnum;
	}
	ReleaseSysCache(tup);
	return ok;
}

/* May rows go into rel without the executor? */
static bool
plain_table(Relation rel, Oid fk_relid, AttrNumber fk_attnum)
{
	TriggerDesc *td = rel->trigdesc;

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relhasrules)
		return false;
	if (pg_class_aclcheck(RelationGetRelid(rel), GetUserId(), ACL_INSERT) != ACLCHECK_OK)
		return false;
	if (check_enable_rls(RelationGetRelid(rel), InvalidOid, true) == RLS_ENABLED)
		return false;
	if (td != NULL)
		for (int i = 0; i < td->numtriggers; i++)
		{
			Trigger    *t = &td->triggers[i];

			if (t->tgenabled == TRIGGER_DISABLED || !TRIGGER_FOR_INSERT(t->tgtype))
				continue;
			if (!(TRIGGER_FOR_ROW(t->tgtype) && TRIGGER_FOR_AFTER(t->tgtype) &&
				  vouched_fk(t, fk_relid, fk_attnum)))
				return false;
		}
	return true;
}

RowInsert *
row_insert_begin(const char *nsp, const char *relname, int ncols, const char *const *cols,
				 const Oid *types, const char *fk_col, const char *fk_rel)
{
	Oid			nspid = get_namespace_oid(nsp, false);
	Oid			relid = get_relname_relid(relname, nspid);
	Oid			fk_relid = fk_rel ? get_relname_relid(fk_rel, nspid) : InvalidOid;
	Relation	rel;
	TupleDesc	desc;
	RowInsert  *ri;
	RangeTblEntry *rte;
	AttrNumber	fk_attnum = InvalidAttrNumber;

	if (!OidIsValid(relid))
		return NULL;
	rel = table_open(relid, RowExclusiveLock);
	desc = RelationGetDescr(rel);
	if (fk_col != NULL)
		fk_attnum = attnameAttNum(rel, fk_col, false);
	if (!plain_table(rel, fk_relid, fk_attnum))
	{
		table_close(rel, NoLock);
		return NULL;
	}

	ri = palloc0(sizeof(RowInsert));
	ri->rel = rel;
	ri->natts = desc->natts;
	ri->ncols = ncols;
	ri->attof = palloc(sizeof(int) * ncols);
	ri->given = palloc0(sizeof(bool) * desc->natts);
	ri->defaults = palloc0(sizeof(ExprState *) * desc->natts);
	for (int i = 0; i < ncols; i++)
	{
		int			a = attnameAttNum(rel, cols[i], false);
		Form_pg_attribute att;

		if (a <= 0)
			goto executor;
		att = TupleDescAttr(desc, a - 1);
		if (att->atttypid != types[i] || att->attgenerated)
			goto executor;
		ri->attof[i] = a - 1;
		ri->given[a - 1] = true;
	}
	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);
		Expr	   *def;

		if (ri->given[a] || att->attisdropped)
			continue;
		if (att->attgenerated)
			goto executor;
		def = (Expr *) build_column_default(rel, a + 1);
		if (def != NULL)
			ri->defaults[a] = ExecInitExpr(expression_planner(def), NULL);
	}

	/* an executor state with the table as its one result relation */
	ri->estate = CreateExecutorState();
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = relid;
	rte->relkind = RELKIND_RELATION;
	rte->rellockmode = RowExclusiveLock;
	ExecInitRangeTable(ri->estate, list_make1(rte));
	ri->rri = makeNode(ResultRelInfo);
	ExecInitResultRelation(ri->estate, ri->rri, 1);
	ExecOpenIndices(ri->rri, false);
	ri->cid = GetCurrentCommandId(true);
	ri->estate->es_output_cid = ri->cid;
	slots_for(rel);
	ri->slots = slot_cache;
	return ri;

executor:
	table_close(rel, NoLock);
	return NULL;
}

static void
flush(RowInsert *ri)
{
	EState	   *estate = ri->estate;

	if (ri->nslots == 0)
		return;
	table_multi_insert(ri->rel, ri->slots, ri->nslots, ri->cid, 0, NULL);
	for (int i = 0; i < ri->nslots; i++)
	{
		if (ri->rri->ri_NumIndices > 0)
		{
			List	   *recheck = ExecInsertIndexTuples(ri->rri, ri->slots[i], estate,
														false, false, NULL, NIL);

			list_free(recheck);
		}
		ExecClearTuple(ri->slots[i]);
		ResetPerTupleExprContext(estate);
	}
	ri->inserted += ri->nslots;
	ri->nslots = 0;
}

void
row_insert_put(RowInsert *ri, const Datum *values, const bool *isnull)
{
	TupleTableSlot *slot;

	slot = slot_at(ri->nslots);
	ExecClearTuple(slot);
	for (int a = 0; a < ri->natts; a++)
	{
		slot->tts_isnull[a] = true;
		slot->tts_values[a] = (Datum) 0;
		if (ri->defaults[a] != NULL)
			slot->tts_values[a] = ExecEvalExprSwitchContext(ri->defaults[a],
															GetPerTupleExprContext(ri->estate),
															&slot->tts_isnull[a]);
	}
	for (int i = 0; i < ri->ncols; i++)
	{
		slot->tts_values[ri->attof[i]] = values[i];
		slot->tts_isnull[ri->attof[i]] = isnull[i];
	}
	ExecStoreVirtualTuple(slot);
	if (ri->rel->rd_att->constr)
		ExecConstraints(ri->rri, slot, ri->estate);
	/* the slot's own copy: the values may go before the batch is written */
	ExecMaterializeSlot(slot);
	ResetPerTupleExprContext(ri->estate);
	if (++ri->nslots == BATCH)
		flush(ri);
}

int64
row_insert_end(RowInsert *ri)
{
	int64		n;

	flush(ri);
	ExecCloseResultRelations(ri->estate);
	ExecCloseRangeTableRelations(ri->estate);
	FreeExecutorState(ri->estate);
	table_close(ri->rel, NoLock);
	n = ri->inserted;
	pfree(ri->attof);
	pfree(ri->given);
	pfree(ri);
	/* the statements that follow see the rows */
	CommandCounterIncrement();
	return n;
}
