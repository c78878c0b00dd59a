/*
 * tables_events.c — webhooks of the resources declared as tables, applied
 * as their declarations say (WebhookDecl): an object upserted through the
 * same write as a sync page (tables.c, the REST shape), a node deleted (its
 * row deactivated and its children removed), children removed by a key, or
 * a topic noted.  Deliveries are not ordered: an upsert never goes back in
 * time (tables.c), and a deletion moves the node's updated_at up to the
 * moment Shopify sent it, so that an older update arriving after it does
 * not bring the node back.  The caller (worker/events.c) provides the
 * transaction, the SPI connection and the store's lock.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "base/util.h"
#include "mirror/tables.h"

const WebhookDecl *
mirror_table_webhook(const ResourceDecl *r, const char *topic)
{
	if (r == NULL || r->kind != RESOURCE_TABLES || r->webhooks == NULL)
		return NULL;
	for (const WebhookDecl *w = r->webhooks; w->topic; w++)
		if (strcmp(w->topic, topic) == 0)
			return w;
	return NULL;
}

/* the removal of t's rows that match where (DELETE, or deactivation) */
static int
remove_rows(const TableDecl *t, const char *where, int64 shop_id, int64 id, TimestampTz at)
{
	StringInfoData q;
	Oid			types[3] = {INT8OID, INT8OID, TIMESTAMPTZOID};
	Datum		v[3] = {Int64GetDatum(shop_id), Int64GetDatum(id), TimestampTzGetDatum(at)};

	initStringInfo(&q);
	if (t->remove_rows)
		appendStringInfo(&q, "DELETE FROM %s AS t", t->name);
	else
	{
		appendStringInfo(&q, "UPDATE %s AS t SET is_active = false, deactivated_at = $3", t->name);
		if (t->newer >= 0)
			appendStringInfo(&q, ", %s = greatest(t.%s, $3)", t->columns[t->newer].name,
							 t->columns[t->newer].name);
	}
	appendStringInfo(&q, " WHERE t.shop_id = $1 AND t.is_active AND %s", where);
	for (int c = 0; c < t->ncolumns; c++)
		if (t->columns[c].type == COL_CONST)
			appendStringInfo(&q, " AND t.%s = %s", quote_identifier(t->columns[c].name),
							 quote_literal_cstr(t->columns[c].path));
	return shopify_spi_exec(q.data, 3, types, v, NULL, false);
}

/* the keys of the (first) row a payload names */
typedef struct RowKeys
{
	const TableDecl *t;
	int64		k1;
	int64		k2;
} RowKeys;

static void
key_of_row(void *arg, const RowOut *row)
{
	RowKeys    *k = (RowKeys *) arg;

	if (row->table != k->t || k->k1 > 0)
		return;
	k->k1 = row->nulls[k->t->key] ? 0 : DatumGetInt64(row->values[k->t->key]);
	if (k->t->key2 >= 0)
		k->k2 = row->nulls[k->t->key2] ? 0 : DatumGetInt64(row->values[k->t->key2]);
}

/* the payload's id (a positive integer), or 0 */
static int64
payload_id(const char *payload)
{
	Oid			types[1] = {TEXTOID};
	Datum		v[1] = {CStringGetTextDatum(payload)};
	bool		isnull;
	Datum		d;

	shopify_spi_exec("SELECT CASE WHEN jsonb_typeof(p->'id') = 'number' AND (p->>'id')::numeric > 0"
					 "  AND (p->>'id')::numeric = trunc((p->>'id')::numeric)"
					 "  AND (p->>'id')::numeric <= 9223372036854775807"
					 "  THEN (p->>'id')::numeric::bigint END FROM (SELECT $1::jsonb AS p) x",
					 1, types, v, NULL, true);
	d = shopify_spi_value(0, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(d);
}

/*
 * Apply one delivery (its topic declared by r) for shop_id; at: when
 * Shopify sent it.  Returns a note for the event; *counts what the write did.
 */
char *
mirror_apply_table_webhook(const ResourceDecl *r, const WebhookDecl *wh, int64 shop_id,
						   const char *payload, TimestampTz at, bool personal, MirrorCounts *counts)
{
	int64		id;
	int			n = 0;

	memset(counts, 0, sizeof(*counts));
	switch (wh->action)
	{
		case WH_UPSERT:
			{
				TablesWrite tw;

				memset(&tw, 0, sizeof(tw));
				tw.r = r;
				tw.shape = RS_REST_ONE;
				tw.shop_id = shop_id;
				tw.personal = personal;
				mirror_write_tables(payload, strlen(payload), &tw, counts);
				if (counts->processed == 0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
							 errmsg("the payload is not a %s", r->table ? r->table->record : r->child_table->record)));
				if (counts->failed > 0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
							 errmsg("the %s could not be stored: %s",
									r->table ? r->table->record : r->child_table->record,
									counts->errors ? counts->errors : "invalid")));
				return psprintf("applied: %s %s", r->table ? r->table->record : r->child_table->record,
								counts->created > 0 ? "created" : counts->updated > 0 ? "updated" :
								"unchanged (or older than the mirror)");
			}
		case WH_DELETE_NODE:
			if ((id = payload_id(payload)) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						 errmsg("the payload has no id")));
			if (r->table)
				n = remove_rows(r->table, psprintf("t.%s = $2", quote_identifier(r->table->columns[r->table->key].name)),
								shop_id, id, at);
			if (r->child_table && r->child_table->parent >= 0)
				counts->deactivated = remove_rows(r->child_table,
												  psprintf("t.%s = $2", quote_identifier(r->child_table->columns[r->child_table->parent].name)),
												  shop_id, id, at);
			return psprintf("applied: %s " INT64_FORMAT " %s (%d of its rows removed)",
							r->node_record, id, n > 0 ? "deactivated" : "was not active", counts->deactivated);
		case WH_DELETE_CHILDREN:
			if ((id = payload_id(payload)) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						 errmsg("the payload has no id")));
			counts->deactivated = remove_rows(r->child_table,
											  psprintf("t.%s = $2", quote_identifier(wh->column)),
											  shop_id, id, at);
			return psprintf("applied: %d %s rows removed", counts->deactivated, r->child_table->record);
		case WH_DELETE_ROW:
			{
				RowKeys		k = {r->child_table, 0, 0};

				rows_parse(r, RS_REST_ONE, payload, strlen(payload), NULL, key_of_row, &k, NULL);
				if (k.k1 <= 0 || (r->child_table->key2 >= 0 && k.k2 <= 0))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
							 errmsg("the payload does not name a %s", r->child_table->record)));
				counts->deactivated = remove_rows(r->child_table,
												  psprintf("t.%s = $2%s%s%s",
														   quote_identifier(r->child_table->columns[r->child_table->key].name),
														   r->child_table->key2 >= 0 ? " AND t." : "",
														   r->child_table->key2 >= 0 ?
														   quote_identifier(r->child_table->columns[r->child_table->key2].name) : "",
														   r->child_table->key2 >= 0 ? psprintf(" = " INT64_FORMAT, k.k2) : ""),
												  shop_id, k.k1, at);
				return psprintf("applied: %d %s row removed", counts->deactivated, r->child_table->record);
			}
		case WH_NOTE:
			break;
	}
	return psprintf("noted: %s", wh->note ? wh->note : "nothing of it is mirrored");
}
