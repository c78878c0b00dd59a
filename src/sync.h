/*
 * sync.h — one running sync job: its state machine.
 */
#ifndef SHOPIFY_SYNC_TASK_H
#define SHOPIFY_SYNC_TASK_H

#include "postgres.h"

#include "datatype/timestamp.h"

#include "queue.h"
#include "shopify.h"

typedef enum SyncStage
{
	STAGE_SHOP,					/* shop.json: name, currency, plan */
	STAGE_COUNT,				/* products/count.json: the total for progress */
	STAGE_PAGES,				/* the listing, page by page */
	STAGE_DONE
} SyncStage;

typedef struct SyncTask
{
	int64		job_id;
	int64		shop_id;
	char		shop_domain[256];
	bool		full_sync;
	bool		sync_inventory;
	bool		has_since;
	TimestampTz since;
	int			total_products; /* -1 until counted */
	int			pages_fetched;
	char	   *cursor;			/* page_info of the next page; NULL: first */
	SyncStage	stage;
	ShopClient *shop;
	ShopifyCall calls[2];		/* the current page's call and the next one's */
	ShopifyCall *cur;			/* the call whose answer is handled next */
	ShopifyCall *nxt;			/* the next page, fetched while cur is written */
	bool		nxt_used;
	MemoryContext cxt;
	int			slot;			/* index in shared memory status */
	bool		finished;
	int			db_failures;
	TimestampTz run_started;
	int			variants_this_run;
} SyncTask;

extern SyncTask *sync_task_create(const ClaimedJob *job, const char *token, int slot);
extern TimestampTz sync_task_wake_time(SyncTask *t);
extern void sync_task_pump(SyncTask *t);
extern bool sync_task_owns(SyncTask *t, HttpRequest *req);
extern void sync_task_http_done(SyncTask *t, HttpRequest *req);
extern void sync_task_stop(SyncTask *t, bool cancelled, const char *why);
extern void sync_task_free(SyncTask *t);

#endif
