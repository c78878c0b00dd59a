/*
 * shmem.h — the extension's shared memory and waking the worker
 * (base/shmem.c).
 */
#ifndef SHOPIFY_SHMEM_H
#define SHOPIFY_SHMEM_H

#include "postgres.h"

#include "base/settings.h"
#include "datatype/timestamp.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/spin.h"


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
	bool		database_exists;	/* the launcher found shopify_sync.database_name */
	Latch	   *listener_latch; /* the webhook listener, waiting for the database */
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

extern void shopify_shmem_install(void);

#endif
