/*
 * rowinsert.h — rows into a table the way COPY puts them there.
 */
#ifndef SHOPIFY_ROWINSERT_H
#define SHOPIFY_ROWINSERT_H

#include "postgres.h"

typedef struct RowInsert RowInsert;

/*
 * Rows of ncols columns (names, exact types) into nsp.rel.  The foreign key
 * on fk_col referencing fk_rel (another table of nsp) is vouched for by the
 * caller: it holds a lock on the referenced row that keeps it from being
 * deleted or its key changed, and every row carries that key.  NULL when
 * the table needs the executor: other triggers on insert, rules, row
 * security that applies, partitioning, generated columns, a column whose
 * type is not the given one, no INSERT privilege — the caller then runs its
 * INSERT statement.
 */
extern RowInsert *row_insert_begin(const char *nsp, const char *rel, int ncols,
								   const char *const *cols, const Oid *types,
								   const char *fk_col, const char *fk_rel);
extern void row_insert_put(RowInsert *ri, const Datum *values, const bool *isnull);
extern int64 row_insert_end(RowInsert *ri);

#endif
