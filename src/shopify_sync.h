/*
 * shopify_sync.h — declarations shared by every part of the extension:
 * settings, shared memory, and the small helpers each layer uses.
 *
 * Layers (arrows point down; a file never calls into a layer above it):
 *   SQL surface   store.c, jobs.c          argument checks, ownership, enqueue
 *   worker        launcher.c, worker.c     the background processes
 *   underneath    crypto.c, log.c, util.c, domain.c, shopify_sync.c
 */
#ifndef SHOPIFY_SYNC_H
#define SHOPIFY_SYNC_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/spin.h"

#ifndef EXTVERSION
#error "EXTVERSION must be defined by the Makefile"
#endif

#define SHOPIFY_SCHEMA "shopify"

/* Hard cap of max_concurrent_syncs; shared memory is sized for it. */
#define SHOPIFY_MAX_SLOTS 64

/* ----- settings (shopify_sync.c) ----- */
extern char *shopify_database_name;
extern char *shopify_api_base_url;
extern char *shopify_api_version;
extern char *shopify_webhook_secret;
extern char *shopify_token_key_file;
extern char *shopify_ca_file;
extern int	shopify_api;			/* SHOPIFY_API_* */
/* shopify_sync.bulk_threshold: a count, -1 never, 0 always, or SHOPIFY_BULK_AUTO */
#define SHOPIFY_BULK_AUTO (-2)
extern int	shopify_bulk_threshold;
extern char *shopify_bulk_threshold_setting;
extern int	shopify_max_concurrent_syncs;
extern int	shopify_http_timeout_ms;
extern int	shopify_max_retries;
extern int	shopify_lease_time_s;
extern int	shopify_max_job_attempts;
extern int	shopify_log_retention_min;
extern int	shopify_job_retention_min;
extern int	shopify_incremental_lookback_s;
extern double shopify_rest_leak_rate;
extern int	shopify_rest_page_size;
extern bool shopify_log_api_calls;
extern char *shopify_webhook_previous_secret;
extern int	shopify_webhook_rate_limit;
extern int	shopify_webhook_rate_burst;
extern int	shopify_webhook_max_attempts;
extern int	shopify_graphql_page_size;
extern int	shopify_graphql_variants_first;
extern int	shopify_graphql_lines_first;

#define SHOPIFY_API_REST	0
#define SHOPIFY_API_GRAPHQL 1

/* ----- shared memory (shopify_sync.c) ----- */

/* What one worker slot is doing, for operators (worker_status). */
typedef struct ShopifySlotStatus
{
	int64		job_id;			/* 0 = free */
	int64		shop_id;
	int			bucket_used;	/* last X-Shopify-Shop-Api-Call-Limit */
	int			bucket_size;
	double		cost_available; /* GraphQL points left, -1 when unknown */
	double		cost_maximum;
	TimestampTz next_request_at;
	TimestampTz started_at;		/* when this run of the job began here */
	char		state[32];
} ShopifySlotStatus;

/* Per-shop token bucket for incoming webhooks. */
typedef struct ShopifyWebhookRate
{
	int64		shop_id;		/* 0 = free */
	double		tokens;
	TimestampTz at;
	TimestampTz last_refusal_logged;
	int64		refused;
} ShopifyWebhookRate;

#define SHOPIFY_WEBHOOK_RATE_SLOTS 256

/*
 * Log rows that must outlive the transaction that produced them (a refused
 * webhook delivery ends in an ERROR, which would roll its log row back):
 * queued here, written to shopify.sync_log by the worker.
 */
typedef struct ShopifyDeferredLog
{
	TimestampTz at;
	int64		shop_id;
	char		event[24];
	char		level[8];
	char		message[256];
	char		details[1024];
} ShopifyDeferredLog;

#define SHOPIFY_DEFERRED_LOG_SLOTS 256

typedef struct ShopifySyncShared
{
	slock_t		mutex;			/* protects the small fields below */
	LWLock	   *lock;			/* protects rates[] and deferred[] */
	pid_t		launcher_pid;
	pid_t		worker_pid;
	Latch	   *worker_latch;	/* NULL while no worker runs */
	TimestampTz worker_started_at;
	bool		worker_stop_requested;	/* the worker got SIGTERM: its end is no
										 * crash loop (set in a signal handler) */
	char		worker_state[48];
	ShopifySlotStatus slots[SHOPIFY_MAX_SLOTS];
	ShopifyWebhookRate rates[SHOPIFY_WEBHOOK_RATE_SLOTS];
	ShopifyDeferredLog deferred[SHOPIFY_DEFERRED_LOG_SLOTS];
	uint64		deferred_head;	/* next to write */
	uint64		deferred_tail;	/* next to read */
	uint64		deferred_dropped;
} ShopifySyncShared;

extern ShopifySyncShared *shopify_shared;

extern void shopify_wake_worker_at_commit(void);
extern void shopify_wake_worker_now(void);
extern void shopify_set_worker_state(const char *state);

/* ----- background processes ----- */
extern PGDLLEXPORT void shopify_launcher_main(Datum arg);
extern PGDLLEXPORT void shopify_worker_main(Datum arg);
extern void shopify_register_launcher(void);
extern void shopify_worker_bulk_finished(int64 shop_id, const char *bulk_gid);

/* ----- store.c ----- */
typedef struct DisconnectResult
{
	int			jobs;
	int			products;
	int			orders;
	int			events;
	bool		deactivated;
	double		seconds;
} DisconnectResult;

extern void shopify_disconnect_core(int64 shop_id, const char *shop_domain, const char *by,
									DisconnectResult *r);

/* ----- jobs.c ----- */
extern void shopify_run_cleanup(int batch, int64 *logs, int64 *jobs, int64 *events);

/* ----- redact.c ----- */
extern void shopify_install_log_redaction(void);
extern void shopify_redact_activity(const char *call);
extern void shopify_scrub_secrets(char *s, bool json);
extern bool shopify_looks_like_token(const char *s);

#endif							/* SHOPIFY_SYNC_H */
