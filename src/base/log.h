/*
 * log.h — the operations log: one row in shopify.sync_log and one line in the
 * server log per event.
 */
#ifndef SHOPIFY_LOG_H
#define SHOPIFY_LOG_H

#include "postgres.h"

#include "lib/stringinfo.h"

/* A small builder for the flat JSON objects of the details column. */
typedef struct ShopifyJson
{
	StringInfoData buf;
	bool		empty;
} ShopifyJson;

extern void sj_init(ShopifyJson *j);
extern void sj_str(ShopifyJson *j, const char *key, const char *val);
extern void sj_int(ShopifyJson *j, const char *key, int64 val);
extern void sj_num(ShopifyJson *j, const char *key, double val);
extern void sj_bool(ShopifyJson *j, const char *key, bool val);
extern void sj_raw(ShopifyJson *j, const char *key, const char *json);
extern char *sj_finish(ShopifyJson *j);

/* One Shopify API call, as log_shopify_api_call records it. */
typedef struct ShopifyApiCallInfo
{
	const char *method;
	const char *endpoint;		/* path and query; never carries a secret */
	int			http_status;	/* 0 when no response */
	double		duration_ms;
	int			attempt;		/* 1 = first try */
	int			bucket_used;	/* -1 when unknown */
	int			bucket_size;
	double		query_cost;		/* GraphQL actual cost, -1 when n/a */
	double		cost_available; /* GraphQL points left, -1 when n/a */
	const char *request_id;		/* X-Request-Id, or NULL */
	const char *error_class;	/* NULL on success */
	const char *error;			/* NULL on success */
	double		retry_after_s;	/* wait before the next try, -1 when none */
	int64		bytes;
} ShopifyApiCallInfo;

/* Progress of a running sync, as log_product_sync_progress records it. */
typedef struct ShopifySyncProgress
{
	bool		orders;			/* an order sync: the counters count orders */
	int			total_products; /* -1 when unknown */
	int			products_fetched;
	int			variants_processed;
	int			variants_created;
	int			variants_updated;
	int			variants_unchanged;
	int			variants_failed;
	int			pages_fetched;
	double		progress_percentage;
	double		variants_per_second;
} ShopifySyncProgress;

extern void shopify_log(const char *event, const char *level, int64 shop_id, int64 job_id,
						const char *message, const char *details_json);

extern void log_sync_operation(int64 shop_id, int64 job_id, const char *level,
							   const char *operation, const char *message,
							   const char *details_json);
extern void log_shopify_api_call(int64 shop_id, int64 job_id, const ShopifyApiCallInfo *call);
extern void log_product_sync_progress(int64 shop_id, int64 job_id, const ShopifySyncProgress *p);
extern void log_store_operation(int64 shop_id, const char *level, const char *operation,
								const char *shop_domain, const char *details_json);
extern void log_webhook_processing(int64 shop_id, int64 event_id, const char *level,
								   const char *topic, const char *outcome,
								   double duration_ms, const char *error);
extern void log_security_event(int64 shop_id, const char *what, const char *details_json);

extern void shopify_log_deferred(const char *event, const char *level, int64 shop_id,
								 const char *message, const char *details_json);
extern int	shopify_log_drain(void);

#endif
