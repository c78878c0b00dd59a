/*
 * objects.c — the write path of declared resources: shopify.objects.
 *
 * A page of a declared connection becomes one row per node, and one per
 * node of each connection nested in it (its parent_id the node's id), by
 * shopify._object_rows(), written with one upsert: a node that is new is
 * inserted; one whose data, parent or activity changed is updated; the same
 * is left alone (no new tuple).  Full syncs record the ids they were given
 * (shopify.sync_seen_objects); at the end of the listing the resource's
 * other active rows of the store are marked inactive, deleted in Shopify.
 * The caller provides the transaction and SPI; the statement is prepared
 * once per process.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "base/util.h"
#include "mirror/mirror.h"

static SPIPlanPtr write_plan = NULL;
static SPIPlanPtr bulk_write_plan = NULL;

/* The upsert of the rows that source ($3, $4) gives, with its counts. */
static SPIPlanPtr
prepare_write(const char *source)
{
	Oid			types[5] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, INT8OID};
	SPIPlanPtr	p;

	p = SPI_prepare(psprintf(
		"WITH r AS (SELECT * FROM %s),"
		" u AS (SELECT DISTINCT ON (id) * FROM r WHERE id IS NOT NULL ORDER BY id),"
		" w AS (INSERT INTO shopify.objects AS o"
		"         (shop_id, resource, id, parent_id, type, data, updated_at)"
		"       SELECT $1, $2, u.id, u.parent_id, u.type, u.data, u.updated_at FROM u"
		"       ON CONFLICT (shop_id, resource, id) DO UPDATE SET"
		"         parent_id = EXCLUDED.parent_id, type = EXCLUDED.type, data = EXCLUDED.data,"
		"         updated_at = EXCLUDED.updated_at, is_active = true, deactivated_at = NULL,"
		"         last_synced_at = now()"
		"       WHERE o.data IS DISTINCT FROM EXCLUDED.data OR NOT o.is_active"
		"          OR o.parent_id IS DISTINCT FROM EXCLUDED.parent_id"
		"       RETURNING (o.xmax = 0) AS created),"
		" s AS (INSERT INTO shopify.sync_seen_objects (job_id, ids)"
		"       SELECT $5, array_agg(u.id) FROM u WHERE $5 > 0 HAVING count(*) > 0)"
		"SELECT (SELECT count(*) FROM r)::int, (SELECT count(*) FROM r WHERE parent_id IS NULL)::int,"
		"       (SELECT count(*) FILTER (WHERE created) FROM w)::int,"
		"       (SELECT count(*) FILTER (WHERE NOT created) FROM w)::int,"
		"       (SELECT count(*) FROM r)::int - (SELECT count(*) FROM u)::int", source),
		5, types);
	if (p == NULL)
		elog(ERROR, "SPI_prepare failed for the objects write: %s",
			 SPI_result_code_string(SPI_result));
	SPI_keepplan(p);
	return p;
}

/*
 * Write a page (bulk: a batch of a bulk result's lines, each a node or a
 * nested node naming its parent in __parentId) of a declared resource.
 */
void
mirror_write_objects(const char *doc, size_t len, bool bulk, int64 shop_id, const char *resource,
					 const char *connection, int64 seen_job_id, MirrorCounts *out)
{
	Datum		args[5];
	bool		isnull;

	memset(out, 0, sizeof(*out));
	if (write_plan == NULL)
	{
		write_plan = prepare_write("shopify._object_rows($3::jsonb, $4)");
		bulk_write_plan = prepare_write("shopify._object_lines($3, $4)");
	}
	args[0] = Int64GetDatum(shop_id);
	args[1] = CStringGetTextDatum(resource);
	args[2] = PointerGetDatum(cstring_to_text_with_len(doc, (int) len));
	args[3] = CStringGetTextDatum(connection);
	args[4] = Int64GetDatum(seen_job_id);
	if (SPI_execute_plan(bulk ? bulk_write_plan : write_plan, args, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "the objects write failed");
	out->processed = DatumGetInt32(shopify_spi_value(0, 1, &isnull));
	out->products = DatumGetInt32(shopify_spi_value(0, 2, &isnull));
	out->created = DatumGetInt32(shopify_spi_value(0, 3, &isnull));
	out->updated = DatumGetInt32(shopify_spi_value(0, 4, &isnull));
	/* the rows without an id, and the repeats of an id, are failed */
	out->failed = DatumGetInt32(shopify_spi_value(0, 5, &isnull));
	out->unchanged = out->processed - out->created - out->updated - out->failed;
	if (out->failed > 0)
		out->errors = pstrdup("a node without an id, or an id given twice");
}

/*
 * The end of a full sync of a declared resource: the store's active rows of
 * it that the job did not see are gone (only rows last synced before the
 * job started can be).  Returns how many were deactivated.
 */
int
mirror_sweep_objects(int64 shop_id, const char *resource, int64 job_id)
{
	Oid			types[3] = {INT8OID, TEXTOID, INT8OID};
	Datum		vals[3] = {Int64GetDatum(shop_id), CStringGetTextDatum(resource), Int64GetDatum(job_id)};
	int			n;

	n = shopify_spi_exec("UPDATE shopify.objects o SET is_active = false, deactivated_at = now()"
						 "  FROM (SELECT id FROM shopify.objects WHERE shop_id = $1 AND resource = $2"
						 "          AND is_active"
						 "          AND last_synced_at < (SELECT started_at FROM shopify.sync_jobs WHERE id = $3)"
						 "        EXCEPT"
						 "        SELECT unnest(ids) FROM shopify.sync_seen_objects WHERE job_id = $3) g"
						 " WHERE o.shop_id = $1 AND o.resource = $2 AND o.id = g.id AND o.is_active",
						 3, types, vals, NULL, false);
	shopify_spi_exec("DELETE FROM shopify.sync_seen_objects WHERE job_id = $3",
					 3, types, vals, NULL, false);
	return n;
}
