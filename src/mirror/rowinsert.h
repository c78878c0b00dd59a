/*
 * rowinsert.h — rows into a table the way COPY puts them there.
 */
#ifndef SHOPIFY_ROWINSERT_H
#define SHOPIFY_ROWINSERT_H

#include "postgres.h"

typedef struct RowInsert RowInsert;

/* A foreign key whose check the caller vouches for (see row_insert_begin). */
typedef struct RowInsertFk
{
	const char *col;			/* the referencing column */
	const char *ref;			/* the referenced table, in the same schema */
} RowInsertFk;

/*
 * Rows of ncols columns (names, exact types) into nsp.rel.  The foreign
 * keys in fks are vouched for by the caller: it holds, until the end of the
 * transaction, a lock on every referenced row that keeps it from being
 * deleted or its key changed (or inserted it in this transaction), so their
 * per-row checks are not run.  Every other trigger fires as for an INSERT
 * statement (statement triggers with their transition tables, row triggers
 * after the row).  NULL when the table needs the executor's INSERT: a
 * BEFORE ROW trigger, rules, row security that applies, partitions,
 * generated columns, a column whose type is not the given one, no INSERT
 * privilege — the caller then runs its INSERT statement.
 */
extern RowInsert *row_insert_begin(const char *nsp, const char *rel, int ncols,
								   const char *const *cols, const Oid *types,
								   const RowInsertFk *fks, int nfks);
extern void row_insert_put(RowInsert *ri, const Datum *values, const bool *isnull);
extern int64 row_insert_end(RowInsert *ri);

#endif
