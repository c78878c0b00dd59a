/*
 * log.c — the operations log.
 *
 * Every event becomes one line in the server log (elog, LOG level; DEBUG1 for
 * level "debug") of the form
 *     shopify_sync: event=<event> level=<level> shop_id=<n> job_id=<n> message="..." details={...}
 * and one row in shopify.sync_log.  The row is written in an internal
 * subtransaction with the extension owner's rights, so that a failure to log
 * (a dropped table, a full disk, a lock timeout) is reported as a WARNING and
 * never fails the operation being logged.  Outside a transaction only the
 * server-log line is written.
 *
 * What may go into details: durations, counts, percentages, rate-limit use,
 * ids, statuses and error texts produced by this extension or by Shopify.
 * Never an access token, a webhook secret or a request body; as a last
 * line of defence, message and details are scrubbed of token-shaped strings
 * and of the configured webhook secrets (shopify_scrub_secrets, redact.c)
 * before either is written, whatever argument a token arrived in.
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "base/log.h"
#include "base/settings.h"
#include "base/shmem.h"
#include "base/redact.h"
#include "base/util.h"

#define MAX_LOG_TEXT 2000

/* ----- JSON builder ----- */

void
sj_init(ShopifyJson *j)
{
	initStringInfo(&j->buf);
	appendStringInfoChar(&j->buf, '{');
	j->empty = true;
}

static void
sj_key(ShopifyJson *j, const char *key)
{
	if (!j->empty)
		appendStringInfoString(&j->buf, ", ");
	escape_json(&j->buf, key);
	appendStringInfoString(&j->buf, ": ");
	j->empty = false;
}

void
sj_str(ShopifyJson *j, const char *key, const char *val)
{
	sj_key(j, key);
	if (val == NULL)
		appendStringInfoString(&j->buf, "null");
	else if (strlen(val) > MAX_LOG_TEXT)
	{
		/* cut at a character boundary: the details become jsonb */
		char	   *cut = pnstrdup(val, pg_mbcliplen(val, strlen(val), MAX_LOG_TEXT));

		escape_json(&j->buf, cut);
		pfree(cut);
	}
	else
		escape_json(&j->buf, val);
}

void
sj_int(ShopifyJson *j, const char *key, int64 val)
{
	sj_key(j, key);
	appendStringInfo(&j->buf, INT64_FORMAT, val);
}

void
sj_num(ShopifyJson *j, const char *key, double val)
{
	sj_key(j, key);
	if (isnan(val) || isinf(val))
		appendStringInfoString(&j->buf, "null");
	else
		appendStringInfo(&j->buf, "%.6g", val);
}

void
sj_bool(ShopifyJson *j, const char *key, bool val)
{
	sj_key(j, key);
	appendStringInfoString(&j->buf, val ? "true" : "false");
}

void
sj_raw(ShopifyJson *j, const char *key, const char *json)
{
	sj_key(j, key);
	appendStringInfoString(&j->buf, json ? json : "null");
}

char *
sj_finish(ShopifyJson *j)
{
	appendStringInfoChar(&j->buf, '}');
	return j->buf.data;
}

/* ----- writing ----- */

static void
write_server_log(const char *event, const char *level, int64 shop_id, int64 job_id,
				 const char *message, const char *details)
{
	StringInfoData line;

	initStringInfo(&line);
	appendStringInfo(&line, "shopify_sync: event=%s level=%s", event, level);
	if (shop_id > 0)
		appendStringInfo(&line, " shop_id=" INT64_FORMAT, shop_id);
	if (job_id > 0)
		appendStringInfo(&line, " job_id=" INT64_FORMAT, job_id);
	if (message)
	{
		appendStringInfoString(&line, " message=");
		escape_json(&line, message);
	}
	appendStringInfo(&line, " details=%s", details);

	ereport(strcmp(level, "debug") == 0 ? DEBUG1 : LOG,
			(errmsg_internal("%s", line.data),
			 errhidestmt(true),
			 errhidecontext(true)));
	pfree(line.data);
}

static void
write_log_row(const char *event, const char *level, int64 shop_id, int64 job_id,
			  const char *message, const char *details)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);

	PG_TRY();
	{
		ShopifyElevation elev = {0};
		Oid			types[6] = {TEXTOID, TEXTOID, INT8OID, INT8OID, TEXTOID, TEXTOID};
		Datum		vals[6];
		char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};

		vals[0] = CStringGetTextDatum(level);
		vals[1] = CStringGetTextDatum(event);
		vals[2] = Int64GetDatum(shop_id);
		vals[3] = Int64GetDatum(job_id);
		vals[4] = message ? CStringGetTextDatum(message) : (Datum) 0;
		vals[5] = CStringGetTextDatum(details);
		if (shop_id <= 0)
			nulls[2] = 'n';
		if (job_id <= 0)
			nulls[3] = 'n';
		if (message == NULL)
			nulls[4] = 'n';

		shopify_elevate(&elev);
		shopify_spi_connect();
		shopify_spi_run("INSERT INTO shopify.sync_log (level, event, shop_id, sync_job_id, message, details)"
						" VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
						6, types, vals, nulls, false);
		shopify_spi_finish();
		shopify_restore(&elev);

		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;

		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("shopify_sync: could not write to shopify.sync_log: %s", edata->message),
				 errhidestmt(true)));
		FreeErrorData(edata);
	}
	PG_END_TRY();
}

/* Copies of an event's message and details with secrets scrubbed (redact.c). */
static const char *
scrubbed_message(const char *message)
{
	char	   *m;

	if (message == NULL)
		return NULL;
	m = pstrdup(message);
	shopify_scrub_secrets(m, false);
	return m;
}

static char *
scrubbed_details(const char *details_json)
{
	char	   *d = pstrdup(details_json ? details_json : "{}");

	shopify_scrub_secrets(d, true);
	return d;
}

/*
 * Record one event.  Never throws for a failure to write the log row.
 */
void
shopify_log(const char *event, const char *level, int64 shop_id, int64 job_id,
			const char *message, const char *details_json)
{
	char	   *details = scrubbed_details(details_json);

	message = scrubbed_message(message);
	write_server_log(event, level, shop_id, job_id, message, details);
	if (IsTransactionState() && !IsAbortedTransactionBlockState())
		write_log_row(event, level, shop_id, job_id, message, details);
}

/* ----- the five event kinds (and security events) ----- */

void
log_sync_operation(int64 shop_id, int64 job_id, const char *level,
				   const char *operation, const char *message, const char *details_json)
{
	ShopifyJson j;

	sj_init(&j);
	sj_str(&j, "operation", operation);
	if (details_json && strlen(details_json) > 2)
		appendStringInfo(&j.buf, ", %s", details_json + 1);	/* merge the object */
	else
		appendStringInfoChar(&j.buf, '}');
	shopify_log("sync_operation", level, shop_id, job_id, message, j.buf.data);
	pfree(j.buf.data);
}

void
log_shopify_api_call(int64 shop_id, int64 job_id, const ShopifyApiCallInfo *c)
{
	ShopifyJson j;
	char	   *msg;

	sj_init(&j);
	sj_str(&j, "method", c->method);
	sj_str(&j, "endpoint", c->endpoint);
	sj_int(&j, "status", c->http_status);
	sj_num(&j, "duration_ms", c->duration_ms);
	sj_int(&j, "attempt", c->attempt);
	if (c->bucket_used >= 0)
	{
		sj_int(&j, "rate_limit_used", c->bucket_used);
		sj_int(&j, "rate_limit_size", c->bucket_size);
		if (c->bucket_size > 0)
			sj_num(&j, "rate_limit_percentage", 100.0 * c->bucket_used / c->bucket_size);
	}
	if (c->query_cost >= 0)
		sj_num(&j, "query_cost", c->query_cost);
	if (c->cost_available >= 0)
		sj_num(&j, "cost_available", c->cost_available);
	if (c->request_id)
		sj_str(&j, "request_id", c->request_id);
	if (c->retry_after_s >= 0)
		sj_num(&j, "retry_after_s", c->retry_after_s);
	sj_int(&j, "bytes", c->bytes);
	if (c->error_class)
	{
		sj_str(&j, "error_class", c->error_class);
		sj_str(&j, "error", c->error);
	}
	sj_finish(&j);

	msg = psprintf("%s %s -> %d", c->method, c->endpoint, c->http_status);
	shopify_log("shopify_api_call",
				c->error_class ? "warning" : "info",
				shop_id, job_id, msg, j.buf.data);
	pfree(msg);
	pfree(j.buf.data);
}

void
log_product_sync_progress(int64 shop_id, int64 job_id, const ShopifySyncProgress *p)
{
	ShopifyJson j;

	sj_init(&j);
	if (p->orders)
	{
		/* an order sync: the same event, with the keys named after orders */
		sj_str(&j, "resource", "orders");
		if (p->total_products >= 0)
			sj_int(&j, "total_orders", p->total_products);
		sj_int(&j, "orders_processed", p->variants_processed);
		sj_int(&j, "orders_created", p->variants_created);
		sj_int(&j, "orders_updated", p->variants_updated);
		sj_int(&j, "orders_unchanged", p->variants_unchanged);
		sj_int(&j, "orders_failed", p->variants_failed);
		sj_int(&j, "pages_fetched", p->pages_fetched);
		sj_num(&j, "progress_percentage", p->progress_percentage);
		sj_num(&j, "orders_per_second", p->variants_per_second);
	}
	else
	{
		if (p->total_products >= 0)
			sj_int(&j, "total_products", p->total_products);
		sj_int(&j, "products_fetched", p->products_fetched);
		sj_int(&j, "variants_processed", p->variants_processed);
		sj_int(&j, "variants_created", p->variants_created);
		sj_int(&j, "variants_updated", p->variants_updated);
		sj_int(&j, "variants_unchanged", p->variants_unchanged);
		sj_int(&j, "variants_failed", p->variants_failed);
		sj_int(&j, "pages_fetched", p->pages_fetched);
		sj_num(&j, "progress_percentage", p->progress_percentage);
		sj_num(&j, "variants_per_second", p->variants_per_second);
	}
	sj_finish(&j);
	shopify_log("product_sync_progress", "info", shop_id, job_id, NULL, j.buf.data);
	pfree(j.buf.data);
}

void
log_store_operation(int64 shop_id, const char *level, const char *operation,
					const char *shop_domain, const char *details_json)
{
	ShopifyJson j;
	char	   *msg;

	sj_init(&j);
	sj_str(&j, "operation", operation);
	sj_str(&j, "shop_domain", shop_domain);
	if (details_json && strlen(details_json) > 2)
		appendStringInfo(&j.buf, ", %s", details_json + 1);
	else
		appendStringInfoChar(&j.buf, '}');
	msg = psprintf("%s %s", operation, shop_domain);
	shopify_log("store_operation", level, shop_id, 0, msg, j.buf.data);
	pfree(msg);
	pfree(j.buf.data);
}

void
log_webhook_processing(int64 shop_id, int64 event_id, const char *level,
					   const char *topic, const char *outcome, double duration_ms,
					   const char *error)
{
	ShopifyJson j;
	char	   *msg;

	sj_init(&j);
	if (event_id > 0)
		sj_int(&j, "event_id", event_id);
	sj_str(&j, "topic", topic);
	sj_str(&j, "outcome", outcome);
	sj_num(&j, "duration_ms", duration_ms);
	if (error)
		sj_str(&j, "error", error);
	sj_finish(&j);
	msg = psprintf("%s: %s", topic, outcome);
	shopify_log("webhook_processing", level, shop_id, 0, msg, j.buf.data);
	pfree(msg);
	pfree(j.buf.data);
}

void
log_security_event(int64 shop_id, const char *what, const char *details_json)
{
	ShopifyJson j;

	sj_init(&j);
	sj_str(&j, "what", what);
	if (details_json && strlen(details_json) > 2)
		appendStringInfo(&j.buf, ", %s", details_json + 1);
	else
		appendStringInfoChar(&j.buf, '}');
	shopify_log("security", "warning", shop_id, 0, what, j.buf.data);
	pfree(j.buf.data);
}

/* ----- rows that must survive their transaction ----- */

/*
 * Record an event whose transaction is about to fail (a refused webhook
 * delivery): the server-log line is written now, the row is queued in shared
 * memory and written by the worker.  When the queue is full the row is
 * dropped and counted (the server-log line remains).
 */
void
shopify_log_deferred(const char *event, const char *level, int64 shop_id,
					 const char *message, const char *details_json)
{
	char	   *details = scrubbed_details(details_json);
	ShopifySyncShared *sh = shopify_shared;

	message = scrubbed_message(message);

	write_server_log(event, level, shop_id, 0, message, details);
	if (sh == NULL)
		return;
	LWLockAcquire(sh->lock, LW_EXCLUSIVE);
	if (sh->deferred_head - sh->deferred_tail >= SHOPIFY_DEFERRED_LOG_SLOTS ||
		strlen(details) >= sizeof(sh->deferred[0].details))
		sh->deferred_dropped++;
	else
	{
		ShopifyDeferredLog *e = &sh->deferred[sh->deferred_head % SHOPIFY_DEFERRED_LOG_SLOTS];

		e->at = GetCurrentTimestamp();
		e->shop_id = shop_id;
		strlcpy(e->event, event, sizeof(e->event));
		strlcpy(e->level, level, sizeof(e->level));
		strlcpy(e->message, message ? message : "", sizeof(e->message));
		strlcpy(e->details, details, sizeof(e->details));
		sh->deferred_head++;
	}
	LWLockRelease(sh->lock);
	shopify_wake_worker_now();
}

/*
 * Worker: write the queued rows.  Runs in the caller's transaction with SPI
 * connected.  Returns the number of rows written.
 */
int
shopify_log_drain(void)
{
	ShopifySyncShared *sh = shopify_shared;
	ShopifyDeferredLog *batch;
	int			n = 0,
				i;
	uint64		dropped;

	if (sh == NULL || sh->deferred_head == sh->deferred_tail)
		return 0;
	batch = palloc(sizeof(ShopifyDeferredLog) * SHOPIFY_DEFERRED_LOG_SLOTS);
	LWLockAcquire(sh->lock, LW_EXCLUSIVE);
	while (sh->deferred_tail < sh->deferred_head && n < SHOPIFY_DEFERRED_LOG_SLOTS)
	{
		batch[n++] = sh->deferred[sh->deferred_tail % SHOPIFY_DEFERRED_LOG_SLOTS];
		sh->deferred_tail++;
	}
	dropped = sh->deferred_dropped;
	sh->deferred_dropped = 0;
	LWLockRelease(sh->lock);

	for (i = 0; i < n; i++)
	{
		Oid			types[6] = {TIMESTAMPTZOID, TEXTOID, TEXTOID, INT8OID, TEXTOID, TEXTOID};
		Datum		vals[6];
		char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};

		vals[0] = TimestampTzGetDatum(batch[i].at);
		vals[1] = CStringGetTextDatum(batch[i].level);
		vals[2] = CStringGetTextDatum(batch[i].event);
		vals[3] = Int64GetDatum(batch[i].shop_id);
		vals[4] = CStringGetTextDatum(batch[i].message);
		vals[5] = CStringGetTextDatum(batch[i].details);
		if (batch[i].shop_id <= 0)
			nulls[3] = 'n';
		shopify_spi_exec("INSERT INTO shopify.sync_log (logged_at, level, event, shop_id, message, details)"
						 " VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
						 6, types, vals, nulls, false);
	}
	if (dropped > 0)
	{
		char	   *msg = psprintf(UINT64_FORMAT " log rows were dropped because the queue was full (see the server log)",
								   dropped);

		shopify_log("security", "warning", 0, 0, msg, NULL);
	}
	pfree(batch);
	return n;
}
