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
 * table's NOT NULL and CHECK constraints, the defaults of the columns not
 * given, and the table's triggers as an INSERT fires them (statement
 * triggers and their transition tables, after-row triggers) — except the
 * checks of the foreign keys the caller vouches for: it holds a lock on
 * every referenced row (the store; the orders of the lines), taken once by
 * one statement, instead of one query per row.
 *
 * A table with a BEFORE ROW trigger (which may change or drop the row),
 * rules, row security that applies to the current role, partitions,
 * generated columns, or a column whose type is not the one the caller's
 * values have (a user who altered it) is left to the caller's INSERT
 * statement, which the executor runs with all of that.
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
#include "nodes/readfuncs.h"
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
#include "utils/inval.h"
#include "utils/syscache.h"

#include "mirror/rowinsert.h"

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

/*
 * The table's CHECK constraints, planned once per process: ExecConstraints
 * would read each from its stored text and plan it again for every batch
 * (a page), a twentieth of a GraphQL sync's 500 small pages.  Kept per
 * table and used while the stored texts are the same; each batch runs a
 * copy, so forgetting the plans never pulls them from under a running one.
 */
typedef struct PlannedChecks
{
	Oid			relid;
	int			n;
	char	  **ccbin;
	Expr	  **expr;
} PlannedChecks;

#define MAX_CHECKED_TABLES 8
static MemoryContext checks_cxt = NULL;
static PlannedChecks planned_checks[MAX_CHECKED_TABLES];
static int	nplanned_checks = 0;
static bool checks_callback_registered = false;

/*
 * Planning inlines SQL functions a check calls: any change to a function
 * forgets every planned check (the texts compared below would not show it).
 */
static void
forget_planned_checks(Datum arg, int cacheid, uint32 hashvalue)
{
	nplanned_checks = 0;
}

static void
prepare_checks(Relation rel, ResultRelInfo *rri, EState *estate)
{
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	PlannedChecks *pc = NULL;
	MemoryContext old;

	if (constr == NULL || constr->num_check == 0)
		return;
	for (int i = 0; i < nplanned_checks && pc == NULL; i++)
		if (planned_checks[i].relid == RelationGetRelid(rel))
			pc = &planned_checks[i];
	if (pc != NULL && pc->n == constr->num_check)
	{
		for (int i = 0; pc != NULL && i < pc->n; i++)
			if (strcmp(pc->ccbin[i], constr->check[i].ccbin) != 0)
				pc = NULL;
	}
	else
		pc = NULL;
	if (pc == NULL)
	{
		if (checks_cxt == NULL)
			checks_cxt = AllocSetContextCreate(TopMemoryContext, "shopify_sync row checks",
											   ALLOCSET_DEFAULT_SIZES);
		if (!checks_callback_registered)
		{
			CacheRegisterSyscacheCallback(PROCOID, forget_planned_checks, (Datum) 0);
			checks_callback_registered = true;
		}
		if (nplanned_checks == 0 || nplanned_checks == MAX_CHECKED_TABLES)
		{
			MemoryContextReset(checks_cxt);
			nplanned_checks = 0;
		}
		for (int i = 0; i < nplanned_checks && pc == NULL; i++)
			if (planned_checks[i].relid == RelationGetRelid(rel))
				pc = &planned_checks[i];	/* replaced (its old plans stay until a reset) */
		if (pc == NULL)
			pc = &planned_checks[nplanned_checks++];
		old = MemoryContextSwitchTo(checks_cxt);
		pc->relid = RelationGetRelid(rel);
		pc->n = constr->num_check;
		pc->ccbin = palloc(sizeof(char *) * pc->n);
		pc->expr = palloc(sizeof(Expr *) * pc->n);
		for (int i = 0; i < pc->n; i++)
		{
			pc->ccbin[i] = pstrdup(constr->check[i].ccbin);
			pc->expr[i] = expression_planner((Expr *) stringToNode(constr->check[i].ccbin));
		}
		MemoryContextSwitchTo(old);
	}
	old = MemoryContextSwitchTo(estate->es_query_cxt);
	rri->ri_ConstraintExprs = palloc(sizeof(ExprState *) * pc->n);
	for (int i = 0; i < pc->n; i++)
		rri->ri_ConstraintExprs[i] = ExecInitExpr(copyObject(pc->expr[i]), NULL);
	MemoryContextSwitchTo(old);
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
	TransitionCaptureState *tcs;
	bool		after_row;		/* row events to queue (triggers, transition tables) */
};

/* Is trigger t the insert check of one of the foreign keys in fks? */
static bool
vouched_fk(Relation rel, Trigger *t, const RowInsertFk *fks, int nfks)
{
	HeapTuple	tup;
	Form_pg_constraint con;
	bool		ok = false;
	bool		isnull;
	Datum		d;

	if (t->tgfoid != F_RI_FKEY_CHECK_INS || !OidIsValid(t->tgconstraint) || nfks == 0)
		return false;
	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(t->tgconstraint));
	if (!HeapTupleIsValid(tup))
		return false;
	con = (Form_pg_constraint) GETSTRUCT(tup);
	d = SysCacheGetAttr(CONSTROID, tup, Anum_pg_constraint_conkey, &isnull);
	if (con->contype == CONSTRAINT_FOREIGN && !isnull)
	{
		ArrayType  *a = DatumGetArrayTypeP(d);

		for (int i = 0; i < nfks && !ok; i++)
		{
			Oid			ref = get_relname_relid(fks[i].ref, RelationGetNamespace(rel));

			ok = con->confrelid == ref && OidIsValid(ref) &&
				ARR_NDIM(a) == 1 && ARR_DIMS(a)[0] == 1 &&
				((int16 *) ARR_DATA_PTR(a))[0] == attnameAttNum(rel, fks[i].col, false);
		}
	}
	ReleaseSysCache(tup);
	return ok;
}

/* May rows go into rel without the executor's INSERT? */
static bool
plain_table(Relation rel)
{
	TriggerDesc *td = rel->trigdesc;

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relhasrules)
		return false;
	if (pg_class_aclcheck(RelationGetRelid(rel), GetUserId(), ACL_INSERT) != ACLCHECK_OK)
		return false;
	if (check_enable_rls(RelationGetRelid(rel), InvalidOid, true) == RLS_ENABLED)
		return false;
	return td == NULL || !(td->trig_insert_before_row || td->trig_insert_instead_row);
}

/*
 * The triggers the rows fire: the relation's, without the vouched
 * foreign-key checks (the flags recomputed as the trigger manager does).
 */
static TriggerDesc *
fired_triggers(Relation rel, TriggerDesc *td, const RowInsertFk *fks, int nfks)
{
	int			n = 0;

	if (td == NULL)
		return NULL;
	for (int i = 0; i < td->numtriggers; i++)
		if (!vouched_fk(rel, &td->triggers[i], fks, nfks))
			td->triggers[n++] = td->triggers[i];
	td->numtriggers = n;
	if (n == 0)
		return NULL;
	memset(&td->trig_insert_before_row, 0,
		   (char *) (&td->trig_delete_old_table + 1) - (char *) &td->trig_insert_before_row);
	for (int i = 0; i < n; i++)
	{
		Trigger    *t = &td->triggers[i];
		int16		tt = t->tgtype;

#define SETF(flag, level, timing, event) \
		td->flag |= TRIGGER_TYPE_MATCHES(tt, level, timing, event)
		SETF(trig_insert_before_row, TRIGGER_TYPE_ROW, TRIGGER_TYPE_BEFORE, TRIGGER_TYPE_INSERT);
		SETF(trig_insert_after_row, TRIGGER_TYPE_ROW, TRIGGER_TYPE_AFTER, TRIGGER_TYPE_INSERT);
		SETF(trig_insert_instead_row, TRIGGER_TYPE_ROW, TRIGGER_TYPE_INSTEAD, TRIGGER_TYPE_INSERT);
		SETF(trig_insert_before_statement, TRIGGER_TYPE_STATEMENT, TRIGGER_TYPE_BEFORE, TRIGGER_TYPE_INSERT);
		SETF(trig_insert_after_statement, TRIGGER_TYPE_STATEMENT, TRIGGER_TYPE_AFTER, TRIGGER_TYPE_INSERT);
		SETF(trig_update_before_row, TRIGGER_TYPE_ROW, TRIGGER_TYPE_BEFORE, TRIGGER_TYPE_UPDATE);
		SETF(trig_update_after_row, TRIGGER_TYPE_ROW, TRIGGER_TYPE_AFTER, TRIGGER_TYPE_UPDATE);
		SETF(trig_update_instead_row, TRIGGER_TYPE_ROW, TRIGGER_TYPE_INSTEAD, TRIGGER_TYPE_UPDATE);
		SETF(trig_update_before_statement, TRIGGER_TYPE_STATEMENT, TRIGGER_TYPE_BEFORE, TRIGGER_TYPE_UPDATE);
		SETF(trig_update_after_statement, TRIGGER_TYPE_STATEMENT, TRIGGER_TYPE_AFTER, TRIGGER_TYPE_UPDATE);
		SETF(trig_delete_before_row, TRIGGER_TYPE_ROW, TRIGGER_TYPE_BEFORE, TRIGGER_TYPE_DELETE);
		SETF(trig_delete_after_row, TRIGGER_TYPE_ROW, TRIGGER_TYPE_AFTER, TRIGGER_TYPE_DELETE);
		SETF(trig_delete_instead_row, TRIGGER_TYPE_ROW, TRIGGER_TYPE_INSTEAD, TRIGGER_TYPE_DELETE);
		SETF(trig_delete_before_statement, TRIGGER_TYPE_STATEMENT, TRIGGER_TYPE_BEFORE, TRIGGER_TYPE_DELETE);
		SETF(trig_delete_after_statement, TRIGGER_TYPE_STATEMENT, TRIGGER_TYPE_AFTER, TRIGGER_TYPE_DELETE);
		SETF(trig_truncate_before_statement, TRIGGER_TYPE_STATEMENT, TRIGGER_TYPE_BEFORE, TRIGGER_TYPE_TRUNCATE);
		SETF(trig_truncate_after_statement, TRIGGER_TYPE_STATEMENT, TRIGGER_TYPE_AFTER, TRIGGER_TYPE_TRUNCATE);
#undef SETF
		td->trig_insert_new_table |= TRIGGER_FOR_INSERT(tt) && t->tgnewtable != NULL;
		td->trig_update_old_table |= TRIGGER_FOR_UPDATE(tt) && t->tgoldtable != NULL;
		td->trig_update_new_table |= TRIGGER_FOR_UPDATE(tt) && t->tgnewtable != NULL;
		td->trig_delete_old_table |= TRIGGER_FOR_DELETE(tt) && t->tgoldtable != NULL;
	}
	return td;
}

RowInsert *
row_insert_begin(const char *nsp, const char *relname, int ncols, const char *const *cols,
				 const Oid *types, const RowInsertFk *fks, int nfks)
{
	Oid			nspid = get_namespace_oid(nsp, false);
	Oid			relid = get_relname_relid(relname, nspid);
	Relation	rel;
	TupleDesc	desc;
	RowInsert  *ri;
	RangeTblEntry *rte;
	TriggerDesc *td;

	if (!OidIsValid(relid))
		return NULL;
	rel = table_open(relid, RowExclusiveLock);
	desc = RelationGetDescr(rel);
	if (!plain_table(rel))
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
	prepare_checks(rel, ri->rri, ri->estate);
	ri->cid = GetCurrentCommandId(true);
	ri->estate->es_output_cid = ri->cid;
	slots_for(rel);
	ri->slots = slot_cache;

	/* the triggers, as an INSERT statement fires them */
	td = fired_triggers(rel, ri->rri->ri_TrigDesc, fks, nfks);
	ri->rri->ri_TrigDesc = td;
	AfterTriggerBeginQuery();
	if (td != NULL)
	{
		ExecBSInsertTriggers(ri->estate, ri->rri);
		ri->tcs = MakeTransitionCaptureState(td, relid, CMD_INSERT);
	}
	ri->after_row = td != NULL && (td->trig_insert_after_row ||
								   (ri->tcs != NULL && ri->tcs->tcs_insert_new_table));
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
		List	   *recheck = NIL;

		if (ri->rri->ri_NumIndices > 0)
			recheck = ExecInsertIndexTuples(ri->rri, ri->slots[i], estate,
											false, false, NULL, NIL);
		if (ri->after_row)
			ExecARInsertTriggers(estate, ri->rri, ri->slots[i], recheck, ri->tcs);
		list_free(recheck);
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
	if (ri->rri->ri_TrigDesc != NULL)
		ExecASInsertTriggers(ri->estate, ri->rri, ri->tcs);
	AfterTriggerEndQuery(ri->estate);
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
