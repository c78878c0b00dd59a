/*
 * events.c — applying webhook events, in the worker.
 *
 * Pending events are taken in order of arrival (id), each applied in its own
 * transaction that first takes a share lock on its store row (the order
 * shopify_disconnect() uses) and then locks the event.  Topics:
 *   products/create, products/update  the product's variants go through the
 *       same upsert as a sync page (mirror.c, shape rest_product); variants
 *       of the product that the payload no longer lists (variant_gids when
 *       present, else the variants array) become inactive.  Deliveries are
 *       not ordered: a payload older than what the mirror holds (its
 *       updated_at before the stored product_updated_at, or before the
 *       product's deletion) changes nothing.  While a full sync of the store
 *       runs, the variant ids also go into its seen set, so that its sweep
 *       does not deactivate them.
 *   products/delete     the product's variants become inactive.
 *   orders/create, orders/updated, orders/cancelled  the order and its lines
 *       go through the same write as an order sync page (orders.c, shape
 *       rest_order); an older delivery than the mirror changes nothing.
 *   app/uninstalled     the store is disconnected, as by shopify_disconnect().
 *   shop/redact         the store and everything mirrored, queued or logged
 *                       for it is deleted.
 *   locations/create|update|delete, inventory_levels/update,
 *   inventory_items/update|delete, collections/create|update|delete,
 *   customers/create|update|delete  as their resources declare them
 *       (mirror/resource_store.c, tables_events.c), for stores that sync them.
 *   customers/redact    every row held about the customer is erased
 *       (mirror/customers.c); customers/data_request is kept, and answered
 *       by shopify_customer_data().
 *   bulk_operations/finish  the sync waiting for that operation polls at once.
 *   anything else       marked processed with a note.
 * The statements run for every event keep their plans (shopify_spi_run):
 * parsing and planning them again was half of an event's time.
 * A failing event is retried with backoff (2^attempts s, at most 5 min) and
 * after shopify_sync.webhook_max_attempts marked processed with its error;
 * it never blocks the events behind it.  Every outcome is logged with its
 * duration by log_webhook_processing().
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "worker/events.h"
#include "base/log.h"
#include "mirror/mirror.h"
#include "mirror/resource.h"
#include "mirror/tables.h"
#include "base/settings.h"
#include "worker/maintenance.h"
#include "base/txn.h"
#include "base/util.h"

typedef struct EventWork
{
	int64		id;
	int64		shop_id;
	char	   *topic;
	int			attempts;
	/* outcome */
	bool		done;			/* false: event vanished or store locked away */
	const char *outcome;		/* applied, stale, ignored, skipped, disconnected, redacted */
	char	   *note;
	MirrorCounts counts;
	EventsBulkFinished bulk_finished;
} EventWork;

static void
mark_processed(EventWork *w)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		vals[2] = {Int64GetDatum(w->id), CStringGetTextDatum(w->note ? w->note : w->outcome)};

	shopify_spi_run("UPDATE shopify.webhook_events SET processed = true, processed_at = now(),"
					"  attempts = attempts + 1, error = NULL, note = $2, next_attempt_at = NULL"
					" WHERE id = $1",
					2, types, vals, NULL, false);
}

/* products/create and products/update */
static void
apply_product(EventWork *w)
{
	Oid			types[3] = {INT8OID, INT8OID, INT8OID};
	Datum		vals[3];
	char	   *doc;
	int64		product_id;
	int64		seen_job;
	bool		stale;
	bool		isnull;
	Datum		ids;
	MirrorScope scope;

	vals[0] = Int64GetDatum(w->id);
	/*
	 * The product, its id, whether it is older than the mirror, the listed
	 * variant ids.  The product's rows are found through
	 * products_shop_product_idx: the id is compared as a bigint (NULL when
	 * the payload's id is not an integer in range, which matches no row),
	 * not as numeric, which would cast every row of the store and scan them
	 * all for each event.
	 */
	if (shopify_spi_run("WITH e0 AS (SELECT coalesce(payload->'product', payload) AS p, shop_id"
						"             FROM shopify.webhook_events WHERE id = $1),"
						" e AS (SELECT p, shop_id,"
						"         CASE WHEN n = trunc(n) AND n BETWEEN -9223372036854775808 AND 9223372036854775807"
						"              THEN n::bigint END AS pid"
						"         FROM (SELECT p, shop_id, CASE WHEN jsonb_typeof(p->'id') = 'number'"
						"                                      THEN (p->>'id')::numeric END AS n FROM e0) x),"
						" m AS (SELECT max(pr.product_updated_at) AS updated,"
						"              bool_and(NOT pr.is_active) AS all_gone,"
						"              max(pr.deactivated_at) AS gone_at"
						"         FROM e JOIN shopify.products pr ON pr.shop_id = e.shop_id"
						"          AND pr.product_id = e.pid)"
						"SELECT e.p::text,"
						"       CASE WHEN jsonb_typeof(e.p->'id') = 'number' THEN (e.p->>'id')::numeric::bigint END,"
						"       CASE WHEN jsonb_typeof(e.p->'updated_at') = 'string'"
						"            THEN (e.p->>'updated_at')::timestamptz"
						"                 < greatest(m.updated, CASE WHEN m.all_gone THEN m.gone_at END)"
						"            ELSE false END,"
						"       CASE WHEN jsonb_typeof(e.p->'variant_gids') = 'array'"
						"            THEN (SELECT array_agg(substring(coalesce(g->>'admin_graphql_api_id', g #>> '{}')"
						"                                             FROM '(\\d+)$')::bigint)"
						"                    FROM jsonb_array_elements(e.p->'variant_gids') g)"
						"            WHEN jsonb_typeof(e.p->'variants') = 'array'"
						"            THEN (SELECT array_agg((v->>'id')::numeric::bigint)"
						"                    FROM jsonb_array_elements(e.p->'variants') v"
						"                   WHERE jsonb_typeof(v->'id') = 'number')"
						"       END,"
						"       (SELECT id FROM shopify.sync_jobs j WHERE j.shop_id = e.shop_id"
						"           AND j.resource = 'products' AND j.status = 'running' AND j.full_sync)"
						"  FROM e, m",
						1, types, vals, NULL, false) != 1)
		elog(ERROR, "webhook event " INT64_FORMAT " vanished", w->id);

	doc = shopify_spi_text(0, 1);
	product_id = DatumGetInt64(shopify_spi_value(0, 2, &isnull));
	if (isnull || product_id <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("the payload is not a product: no numeric \"id\"")));
	stale = DatumGetBool(shopify_spi_value(0, 3, &isnull)) && !isnull;
	ids = shopify_spi_value(0, 4, &isnull);
	if (!isnull)
		ids = PointerGetDatum(DatumGetArrayTypePCopy(ids));
	else
		ids = (Datum) 0;
	seen_job = shopify_spi_int64(0, 5);

	if (stale)
	{
		w->outcome = "stale";
		w->note = psprintf("ignored: product %lld updated_at is older than the mirror", (long long) product_id);
		return;
	}

	/*
	 * The product's complete list of variants is variant_gids when present
	 * (the payload carries at most 100 variants in full), else the variants
	 * array: the variants it does not list become inactive (mirror.c).
	 */
	memset(&scope, 0, sizeof(scope));
	if (ids != (Datum) 0)
	{
		ArrayType  *arr = DatumGetArrayTypeP(ids);
		Datum	   *elems;
		bool	   *enulls;
		int			n;
		int64	   *gids;
		int			k = 0;

		deconstruct_array(arr, INT8OID, 8, true, TYPALIGN_DOUBLE, &elems, &enulls, &n);
		gids = palloc(sizeof(int64) * Max(n, 1));
		for (int i = 0; i < n; i++)
			if (!enulls[i])
				gids[k++] = DatumGetInt64(elems[i]);
		scope.extra_pid = product_id;
		scope.extra_ids = gids;
		scope.nextra = k;
	}
	else
		scope.no_deactivate = true;
	mirror_write(doc, strlen(doc), "rest_product", w->shop_id, true, seen_job, &scope, &w->counts);
	if (ids != (Datum) 0)
		w->note = psprintf("applied: product %lld, %d variants (%d created, %d updated, %d unchanged, %d failed), %d deactivated",
						   (long long) product_id, w->counts.processed, w->counts.created,
						   w->counts.updated, w->counts.unchanged, w->counts.failed,
						   w->counts.deactivated);
	else
		w->note = psprintf("applied: product %lld, %d variants (%d created, %d updated, %d unchanged, %d failed)",
						   (long long) product_id, w->counts.processed, w->counts.created,
						   w->counts.updated, w->counts.unchanged, w->counts.failed);
	w->outcome = "applied";
}

/* orders/create, orders/updated, orders/cancelled */
static void
apply_order(EventWork *w)
{
	Oid			types[1] = {INT8OID};
	Datum		vals[1] = {Int64GetDatum(w->id)};
	char	   *doc;

	if (!shopify_have_orders())
	{
		w->outcome = "ignored";
		w->note = pstrdup("ignored: the order mirror is not installed (ALTER EXTENSION shopify_sync UPDATE)");
		return;
	}
	if (shopify_spi_run("SELECT payload::text FROM shopify.webhook_events WHERE id = $1",
						1, types, vals, NULL, false) != 1)
		elog(ERROR, "webhook event " INT64_FORMAT " vanished", w->id);
	doc = shopify_spi_text(0, 1);
	mirror_write_orders(doc, strlen(doc), "rest_order", w->shop_id, 0, &w->counts);
	if (w->counts.processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("the payload is not an order")));
	if (w->counts.failed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("the order could not be stored: %s",
						w->counts.errors ? w->counts.errors : "it belongs to another store")));
	w->outcome = "applied";
	w->note = psprintf("applied: order %s", w->counts.created > 0 ? "created" :
					   w->counts.updated > 0 ? "updated" : "unchanged (or older than the mirror)");
}

/* products/delete */
static void
apply_product_delete(EventWork *w)
{
	Oid			types[1] = {INT8OID};
	Datum		vals[1] = {Int64GetDatum(w->id)};
	int			n;

	n = shopify_spi_run("WITH e AS (SELECT shop_id, coalesce(triggered_at, received_at) AS at,"
						"                  CASE WHEN jsonb_typeof(payload->'id') = 'number'"
						"                       THEN (payload->>'id')::numeric::bigint END AS pid"
						"             FROM shopify.webhook_events WHERE id = $1)"
						"UPDATE shopify.products p SET is_active = false, deactivated_at = e.at"
						"  FROM e WHERE p.shop_id = e.shop_id AND p.product_id = e.pid AND p.is_active",
						1, types, vals, NULL, false);
	w->outcome = "applied";
	w->note = psprintf("applied: %d variants deactivated", n);
}

/* bulk_operations/finish: the sync waiting for the operation polls at once. */
static void
apply_bulk_finished(EventWork *w)
{
	Oid			types[1] = {INT8OID};
	Datum		vals[1] = {Int64GetDatum(w->id)};
	char	   *gid;

	shopify_spi_exec("SELECT payload->>'admin_graphql_api_id', payload->>'status'"
					 "  FROM shopify.webhook_events WHERE id = $1",
					 1, types, vals, NULL, false);
	gid = shopify_spi_text(0, 1);
	w->outcome = "applied";
	if (gid == NULL)
	{
		w->note = pstrdup("ignored: no admin_graphql_api_id");
		return;
	}
	if (w->bulk_finished)
		w->bulk_finished(w->shop_id, gid);
	w->note = psprintf("bulk operation %s %s: its sync polls at once", gid,
					   shopify_spi_text(0, 2) ? shopify_spi_text(0, 2) : "finished");
}

/*
 * A topic of a resource declared as tables (locations, inventory,
 * collections, customers): applied as its declaration says, when the store
 * syncs that resource (a store that did not choose customers keeps none).
 */
static void
apply_table(EventWork *w, const ResourceDecl *res)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		vals[2] = {Int64GetDatum(w->id), CStringGetTextDatum(res->name)};
	const WebhookDecl *wh = mirror_table_webhook(res, w->topic);
	bool		isnull;
	char	   *payload;
	TimestampTz at;

	if (shopify_spi_exec("SELECT e.payload::text, coalesce(e.triggered_at, e.received_at),"
						 "       $2 = ANY(s.resources)"
						 "  FROM shopify.webhook_events e JOIN shopify.stores s USING (shop_id)"
						 " WHERE e.id = $1",
						 2, types, vals, NULL, false) != 1)
		elog(ERROR, "webhook event " INT64_FORMAT " vanished", w->id);
	payload = shopify_spi_text(0, 1);
	at = DatumGetTimestampTz(shopify_spi_value(0, 2, &isnull));
	if (!DatumGetBool(shopify_spi_value(0, 3, &isnull)) || wh == NULL)
	{
		w->outcome = "ignored";
		w->note = psprintf("ignored: the store does not sync %s (shopify_set_store_resources)", res->name);
		return;
	}
	w->note = mirror_apply_table_webhook(res, wh, w->shop_id, payload, at,
										 shopify_customer_personal_data, &w->counts);
	w->outcome = "applied";
}

/* customers/redact: every row held about the customer is erased. */
static void
apply_customer_redact(EventWork *w)
{
	Oid			types[1] = {INT8OID};
	Datum		vals[1] = {Int64GetDatum(w->id)};
	bool		isnull;
	Datum		d;

	shopify_spi_exec("SELECT CASE WHEN payload->'customer'->>'id' ~ '^[0-9]{1,18}$'"
					 "            THEN (payload->'customer'->>'id')::bigint END"
					 "  FROM shopify.webhook_events WHERE id = $1", 1, types, vals, NULL, false);
	d = shopify_spi_value(0, 1, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("customers/redact without a customer id")));
	w->note = mirror_customer_redact(w->shop_id, DatumGetInt64(d), w->id);
	w->outcome = "redacted";
}

/* customers/data_request: kept; shopify_customer_data() answers it. */
static void
apply_customer_data_request(EventWork *w)
{
	Oid			types[1] = {INT8OID};
	Datum		vals[1] = {Int64GetDatum(w->id)};

	shopify_spi_exec("SELECT payload->'customer'->>'id' FROM shopify.webhook_events WHERE id = $1",
					 1, types, vals, NULL, false);
	w->outcome = "kept";
	w->note = psprintf("data request kept: SELECT shopify_customer_data(" INT64_FORMAT ", %s) answers it",
					   w->shop_id, shopify_spi_text(0, 1) ? shopify_spi_text(0, 1) : "<customer id>");
}

/* shop/redact: everything of the store goes. */
static void
apply_redact(EventWork *w)
{
	Oid			types[1] = {INT8OID};
	Datum		vals[1] = {Int64GetDatum(w->shop_id)};
	int			logs;

	logs = shopify_spi_exec("DELETE FROM shopify.sync_log WHERE shop_id = $1", 1, types, vals, NULL, false);
	shopify_spi_exec("DELETE FROM shopify.sync_seen WHERE job_id IN"
					 " (SELECT id FROM shopify.sync_jobs WHERE shop_id = $1)", 1, types, vals, NULL, false);
	/* products, jobs and webhook events go with the store (ON DELETE CASCADE) */
	shopify_spi_exec("DELETE FROM shopify.stores WHERE shop_id = $1", 1, types, vals, NULL, false);
	w->outcome = "redacted";
	w->note = psprintf("store redacted (%d log rows deleted)", logs);
}

static void
event_tx(void *arg)
{
	EventWork  *w = (EventWork *) arg;
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		vals[2] = {Int64GetDatum(w->id), Int64GetDatum(w->shop_id)};
	bool		isnull;
	bool		active;
	char	   *domain;
	const ResourceDecl *res = NULL;
	instr_time	start,
				el;

	INSTR_TIME_SET_CURRENT(start);
	w->done = false;

	/*
	 * The event is durable already (its delivery's commit was): applying it
	 * need not wait for the WAL to reach the disk.  A crash that loses the
	 * last few commits leaves those events unprocessed, and they are applied
	 * again (the writes are idempotent: an unchanged row is not rewritten,
	 * nothing goes back in time).  A WAL flush per event capped the worker
	 * at about one event per fdatasync.
	 */
	(void) set_config_option("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
	/* store first (share), then the event: the order shopify_disconnect() uses */
	if (shopify_spi_run("SELECT is_active, shop_domain FROM shopify.stores WHERE shop_id = $2 FOR SHARE",
						2, types, vals, NULL, false) != 1)
		return;
	active = DatumGetBool(shopify_spi_value(0, 1, &isnull));
	domain = shopify_spi_text(0, 2);
	if (shopify_spi_run("SELECT 1 FROM shopify.webhook_events WHERE id = $1 AND NOT processed FOR UPDATE",
						1, types, vals, NULL, false) != 1)
		return;
	w->done = true;

	if (strcmp(w->topic, "shop/redact") == 0)
	{
		apply_redact(w);
		INSTR_TIME_SET_CURRENT(el);
		INSTR_TIME_SUBTRACT(el, start);
		/* the event is gone with the store; the log row names no shop */
		log_webhook_processing(0, 0, "info", w->topic, w->note, INSTR_TIME_GET_MILLISEC(el), NULL);
		return;
	}
	if (strcmp(w->topic, "app/uninstalled") == 0)
	{
		DisconnectResult r;

		shopify_disconnect_core(w->shop_id, domain, "app/uninstalled webhook", &r);
		w->outcome = "disconnected";
		w->note = psprintf("store disconnected: %d jobs cancelled, %d variants and %d orders deactivated",
						   r.jobs, r.products, r.orders);
	}
	else if (strcmp(w->topic, "customers/redact") == 0)
		apply_customer_redact(w);	/* for disconnected stores too */
	else if (strcmp(w->topic, "customers/data_request") == 0)
		apply_customer_data_request(w);
	else if (!active)
	{
		w->outcome = "skipped";
		w->note = pstrdup("store disconnected");
	}
	else if ((res = resource_for_topic(w->topic)) != NULL && res->kind == RESOURCE_PRODUCTS)
	{
		/* the topics the products declaration names */
		if (strcmp(w->topic, "products/delete") == 0)
			apply_product_delete(w);
		else
			apply_product(w);
	}
	else if (res != NULL && res->kind == RESOURCE_ORDERS)
		apply_order(w);
	else if (res != NULL && res->kind == RESOURCE_TABLES)
		apply_table(w, res);
	else if (strcmp(w->topic, "bulk_operations/finish") == 0)
		apply_bulk_finished(w);
	else
	{
		w->outcome = "ignored";
		w->note = psprintf("topic %s is not handled", w->topic);
	}
	mark_processed(w);
	INSTR_TIME_SET_CURRENT(el);
	INSTR_TIME_SUBTRACT(el, start);
	log_webhook_processing(w->shop_id, w->id, "info", w->topic, w->outcome,
						   INSTR_TIME_GET_MILLISEC(el), NULL);
}

typedef struct FailWork
{
	EventWork  *w;
	const char *error;
} FailWork;

static void
event_failed_tx(void *arg)
{
	FailWork   *f = (FailWork *) arg;
	Oid			types[4] = {INT8OID, TEXTOID, INT4OID, INT4OID};
	Datum		vals[4];

	vals[0] = Int64GetDatum(f->w->id);
	vals[1] = CStringGetTextDatum(f->error);
	vals[2] = Int32GetDatum(shopify_webhook_max_attempts);
	vals[3] = Int32GetDatum(Min(300, 1 << Min(f->w->attempts + 1, 9)));
	shopify_spi_exec("UPDATE shopify.webhook_events SET attempts = attempts + 1, error = $2,"
					 "  processed = (attempts + 1 >= $3),"
					 "  processed_at = CASE WHEN attempts + 1 >= $3 THEN now() END,"
					 "  note = CASE WHEN attempts + 1 >= $3 THEN 'failed after ' || (attempts + 1) || ' attempts' END,"
					 "  next_attempt_at = CASE WHEN attempts + 1 < $3"
					 "                         THEN now() + make_interval(secs => $4) END"
					 " WHERE id = $1 AND NOT processed",
					 4, types, vals, NULL, false);
	log_webhook_processing(f->w->shop_id, f->w->id, "error", f->w->topic,
						   f->w->attempts + 1 >= shopify_webhook_max_attempts ? "failed" : "retry",
						   0, f->error);
}

typedef struct BatchWork
{
	MemoryContext cxt;			/* where the events' strings live */
	int			limit;
	int			n;
	EventWork  *events;
	TimestampTz next_due;		/* earliest retry among those not due yet */
	int			logs;
} BatchWork;

static void
batch_tx(void *arg)
{
	BatchWork  *b = (BatchWork *) arg;
	Oid			types[1] = {INT4OID};
	Datum		vals[1] = {Int32GetDatum(b->limit)};
	int			i;

	b->logs = shopify_log_drain();
	b->n = shopify_spi_run("SELECT id, shop_id, topic, attempts FROM shopify.webhook_events"
							" WHERE NOT processed AND (next_attempt_at IS NULL OR next_attempt_at <= now())"
							" ORDER BY id LIMIT $1",
							1, types, vals, NULL, true);
	for (i = 0; i < b->n; i++)
	{
		bool		isnull;
		EventWork  *w = &b->events[i];

		w->id = shopify_spi_int64(i, 1);
		w->shop_id = shopify_spi_int64(i, 2);
		w->topic = MemoryContextStrdup(b->cxt, shopify_spi_text(i, 3));
		w->attempts = DatumGetInt32(shopify_spi_value(i, 4, &isnull));
	}
	b->next_due = DT_NOEND;
	if (shopify_spi_run("SELECT min(next_attempt_at) FROM shopify.webhook_events"
						" WHERE NOT processed AND next_attempt_at > now()",
						0, NULL, NULL, NULL, true) == 1)
	{
		bool		isnull;
		Datum		d = shopify_spi_value(0, 1, &isnull);

		if (!isnull)
			b->next_due = DatumGetTimestampTz(d);
	}
}

/*
 * Apply up to limit due events, each in its own transaction.  Returns the
 * number handled; *next_due is when a waiting retry falls due (DT_NOEND:
 * none), and *more says a full batch was taken (call again soon).
 */
int
events_process(int limit, TimestampTz *next_due, bool *more, EventsBulkFinished bulk_finished)
{
	BatchWork	b;
	char		err[512];
	int			i;

	memset(&b, 0, sizeof(b));
	b.cxt = CurrentMemoryContext;
	b.limit = limit;
	b.events = palloc0(sizeof(EventWork) * limit);
	*more = false;
	*next_due = DT_NOEND;
	if (!shopify_run_in_tx("shopify_sync: reading webhook events", batch_tx, &b, err, sizeof(err), NULL))
		return 0;
	*next_due = b.next_due;
	*more = (b.n == limit);

	for (i = 0; i < b.n; i++)
	{
		EventWork  *w = &b.events[i];
		char	   *activity;

		w->bulk_finished = bulk_finished;
		activity = psprintf("shopify_sync: applying webhook event " INT64_FORMAT " (%s)",
										w->id, w->topic);

		if (!shopify_run_in_tx(activity, event_tx, w, err, sizeof(err), NULL))
		{
			/* its own copy: the next transaction clears err first */
			FailWork	f = {w, pstrdup(err)};

			(void) shopify_run_in_tx("shopify_sync: recording a failed webhook event",
									 event_failed_tx, &f, err, sizeof(err), NULL);
		}
	}
	return b.n;
}
