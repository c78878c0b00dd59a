/*
 * queue.h — the worker's side of shopify.sync_jobs: claim, heartbeat,
 * progress, finish, rescue.  Every function runs inside the caller's
 * transaction with SPI connected.
 */
#ifndef SHOPIFY_QUEUE_H
#define SHOPIFY_QUEUE_H

#include "postgres.h"

#include "datatype/timestamp.h"

typedef struct ClaimedJob
{
	int64		job_id;
	int64		shop_id;
	char	   *shop_domain;
	bytea	   *token_ct;
	char	   *token_key_id;
	char	   *token_status;
	bool		store_active;
	char	   *api;			/* rest, graphql or bulk: what the job uses */
	char	   *bulk_operation_id;	/* a bulk job's operation, or NULL */
	char	   *resource;
	char	   *definition;		/* a declared resource's query (NULL: built in, or gone) */
	bool		incremental;	/* a declared resource's incremental syncs are allowed */
	bool		full_sync;
	bool		sync_inventory;
	char	   *cursor;			/* NULL: start of the listing */
	int			pages_fetched;
	int			products_fetched;
	int			total_products; /* -1: not counted yet */
	bool		has_updated_since;
	TimestampTz updated_since;
	int			attempts;
} ClaimedJob;

typedef struct PageProgress
{
	int			products;
	int			processed;
	int			created;
	int			updated;
	int			unchanged;
	int			failed;
	int			deactivated;
	int			api_calls;
	int			retries;
	int			throttled;
	const char *next_cursor;	/* NULL: listing complete */
	int			total_products; /* for the percentage; -1 unknown */
} PageProgress;

typedef struct JobTotals
{
	int			total_products;
	int			products_fetched;
	int			variants_processed;
	int			variants_created;
	int			variants_updated;
	int			variants_unchanged;
	int			variants_failed;
	int			variants_deactivated;
	int			pages_fetched;
	int			api_calls;
	double		seconds;		/* since started_at */
} JobTotals;

extern int	queue_rescue(bool all_orphans, int64 *running, int nrunning);
extern int	queue_claim(int max, int64 *running, int nrunning, ClaimedJob **jobs);
extern int	queue_heartbeat(int64 *ids, int n, int64 *alive, bool *cancel);
extern bool queue_lock_job(int64 job_id, bool *cancel_requested);
extern void queue_record_page(int64 job_id, const PageProgress *p, JobTotals *t);
extern void queue_set_total(int64 job_id, int total);
extern void queue_add_calls(int64 job_id, int calls, int retries, int throttled);
extern void queue_complete(int64 job_id, int64 shop_id, int deactivated, JobTotals *t);
extern void queue_fail(int64 job_id, int64 shop_id, const char *error_class, const char *error);
extern void queue_cancel(int64 job_id, int64 shop_id, const char *why);
extern void queue_mark_token_invalid(int64 shop_id, const char *shop_domain);
extern void queue_update_shop_info(int64 job_id, int64 shop_id, const char *shop_json, bool graphql);
extern void queue_set_bulk(int64 job_id, const char *bulk_id, int64 expected, bool reset);
extern int	queue_parse_count(const char *count_json);
extern void queue_forget_staging(int64 job_id);
extern void queue_set_path(int64 job_id, const char *api, const char *reason, const char *estimate);

#endif
